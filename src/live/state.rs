//! What `top` shows, built from journal records as they are read: the sessions (who, where, the
//! tool running now, counts, tokens, cost, risk), a feed of findings, fleet totals. Pure: records
//! go in through [`Top::ingest`], the clock is an argument, rows come out; nothing here reads a
//! file or a terminal.
//!
//! Memory is bounded whatever the journal's size: each session keeps its last
//! [`TIMELINE_KEPT`] timeline entries, the feed its last [`FEED_KEPT`] findings, the totals the
//! last [`HOOK_SAMPLES`] hook times; past [`SESSIONS_KEPT`] sessions the ended (then the
//! quietest) are dropped.

use super::risk::{session_risk, FindingCounts};
use crate::forensics::timeline::{self, Entry};
use crate::record::{JournalRecord, Severity};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

pub(crate) const TIMELINE_KEPT: usize = 500;
pub(crate) const FEED_KEPT: usize = 200;
pub(crate) const HOOK_SAMPLES: usize = 2000;
pub(crate) const SESSIONS_KEPT: usize = 1000;
/// Events per second are counted over this window (ns).
pub(crate) const RATE_WINDOW: u64 = 10_000_000_000;
/// An ended session stays in the list this long after its last record (ns).
pub(crate) const ENDED_SHOWN: u64 = 300_000_000_000;

/// Records that are not the session's own steps (the relay's model calls and behaviour findings,
/// gap markers): they do not decide whether it ended (as the index's `ended`).
const NOT_STEPS: [&str; 4] = ["ModelCall", "TelemetryGap", "TelemetryRestored", "Behaviour"];

/// A tool call started (PreToolUse) and not finished yet.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub tool: String,
    pub since: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    pub id: String,
    pub agent: Option<String>,
    pub project: Option<String>,
    pub worktree: Option<String>,
    pub first: u64,
    pub last: u64,
    /// Its SessionStart was read: the counts cover the whole session (else from where `top`
    /// started reading).
    pub whole: bool,
    pub ended: bool,
    /// By tool_use_id.
    pub running: BTreeMap<String, Running>,
    tool_ids: HashSet<String>,
    pub errors: u64,
    pub findings: FindingCounts,
    model_calls: u64,
    model_tokens: u64,
    end_tokens: Option<u64>,
    stop_tokens: u64,
    sub_tokens: u64,
    pub cost: Option<f64>,
    pub timeline: VecDeque<Entry>,
}

impl Session {
    pub(crate) fn tool_calls(&self) -> u64 {
        self.tool_ids.len() as u64
    }

    /// Input + output tokens: the relay's model calls when it journaled them, else the hooks'
    /// readings (the last SessionEnd's, else the turns' sum, plus the subagents'), as `sessions`.
    pub(crate) fn tokens(&self) -> Option<u64> {
        if self.model_calls > 0 {
            return Some(self.model_tokens);
        }
        let main = self.end_tokens.unwrap_or(self.stop_tokens);
        (self.end_tokens.is_some() || self.stop_tokens + self.sub_tokens > 0).then_some(main + self.sub_tokens)
    }

    pub(crate) fn status(&self, now: u64, open_for: u64) -> Status {
        if self.ended {
            Status::Ended
        } else if now.saturating_sub(self.last) < open_for {
            Status::Active
        } else {
            Status::Idle
        }
    }

    /// The tool started last among those running, for how long, and how many others run.
    pub(crate) fn now_running(&self, now: u64) -> Option<(&str, u64, usize)> {
        let r = self.running.values().max_by_key(|r| r.since)?;
        Some((r.tool.as_str(), now.saturating_sub(r.since), self.running.len() - 1))
    }

    pub(crate) fn risk(&self) -> u8 {
        session_risk(&self.findings)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// A record within the span timeout, no SessionEnd.
    Active,
    /// Silent for longer than the span timeout.
    Idle,
    Ended,
}

/// One finding as it happened.
#[derive(Debug, Clone)]
pub(crate) struct FeedItem {
    pub time: u64,
    pub session: Option<String>,
    pub rule: String,
    pub severity: Severity,
    pub tool: Option<String>,
    pub detail: Option<String>,
}

/// The order of the session list; `s` moves to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Sort {
    /// Most recent record first.
    #[default]
    Activity,
    Risk,
    Cost,
    Errors,
    ToolCalls,
}

impl Sort {
    pub(crate) fn next(self) -> Sort {
        match self {
            Sort::Activity => Sort::Risk,
            Sort::Risk => Sort::Cost,
            Sort::Cost => Sort::Errors,
            Sort::Errors => Sort::ToolCalls,
            Sort::ToolCalls => Sort::Activity,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Sort::Activity => "activity",
            Sort::Risk => "risk",
            Sort::Cost => "cost",
            Sort::Errors => "errors",
            Sort::ToolCalls => "tool calls",
        }
    }
}

/// The fleet's numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Totals {
    pub active: usize,
    pub sessions: usize,
    /// Records per second over the last [`RATE_WINDOW`].
    pub events_per_s: f64,
    /// The hook's own time (`metadata.hook_us`) over its last [`HOOK_SAMPLES`] records, µs.
    pub hook_p50_us: Option<u64>,
    pub hook_p99_us: Option<u64>,
    pub findings: u64,
    pub cost: f64,
    pub records: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Top {
    sessions: HashMap<String, Session>,
    feed: VecDeque<FeedItem>,
    /// Times of the records of the last [`RATE_WINDOW`] or so.
    recent: VecDeque<u64>,
    hook_us: VecDeque<u64>,
    records: u64,
}

impl Top {
    pub(crate) fn ingest(&mut self, r: &JournalRecord) {
        self.records += 1;
        self.recent.push_back(r.time_unix_nano);
        if let Some(us) = r.metadata.hook_us {
            if self.hook_us.len() == HOOK_SAMPLES {
                self.hook_us.pop_front();
            }
            self.hook_us.push_back(us);
        }
        for f in &r.security.findings {
            if self.feed.len() == FEED_KEPT {
                self.feed.pop_back();
            }
            let d = &r.action_details;
            self.feed.push_front(FeedItem {
                time: r.time_unix_nano,
                session: r.session_id.clone(),
                rule: f.rule.clone(),
                severity: f.severity,
                tool: r.tool_name.clone(),
                detail: d.command.clone().or_else(|| d.file_path.clone()).or_else(|| d.url.clone()),
            });
        }
        let Some(sid) = r.session_id.clone() else { return };
        if !self.sessions.contains_key(&sid) && self.sessions.len() >= SESSIONS_KEPT {
            self.prune();
        }
        let s = self.sessions.entry(sid.clone()).or_insert_with(|| Session {
            id: sid.clone(),
            first: r.time_unix_nano,
            ..Default::default()
        });
        s.first = s.first.min(r.time_unix_nano);
        s.last = s.last.max(r.time_unix_nano);
        let a = &r.agent_context;
        if let Some(agent) = a.fleet_agent_id.clone().or_else(|| a.agent_group.clone()) {
            s.agent = Some(agent);
        }
        if let Some(p) = r.project_name.clone().or_else(|| r.project_path.clone()) {
            s.project = Some(p);
        }
        if let Some(w) = r.session_context.worktree.clone() {
            s.worktree = Some(w);
        }
        let event = r.hook_event.as_str();
        if event == "SessionStart" {
            s.whole = true;
        }
        if !NOT_STEPS.contains(&event) {
            s.ended = event == "SessionEnd";
        }
        let tc = r.tool_context.as_ref();
        let tool_use = tc.and_then(|t| t.tool_use_id.clone());
        match event {
            "PreToolUse" | "PostToolUse" | "PostToolUseFailure" => {
                if let Some(id) = &tool_use {
                    s.tool_ids.insert(id.clone());
                    if event == "PreToolUse" {
                        let tool = r.tool_name.clone().unwrap_or_else(|| "?".into());
                        s.running.insert(id.clone(), Running { tool, since: r.time_unix_nano });
                    } else {
                        s.running.remove(id);
                    }
                }
            }
            // A turn or a session that ends leaves nothing running (an interrupted call has no Post).
            "Stop" | "StopFailure" | "SessionEnd" if r.agent_context.agent_id.is_none() => s.running.clear(),
            _ => {}
        }
        if matches!(event, "PostToolUseFailure" | "StopFailure") {
            s.errors += 1;
        }
        for f in &r.security.findings {
            s.findings.add(f);
        }
        if let Some(c) = &r.model_call {
            s.model_calls += 1;
            s.model_tokens += c.input_tokens + c.output_tokens;
            if let Some(usd) = c.cost_usd {
                *s.cost.get_or_insert(0.0) += usd;
            }
        } else if let Some(t) = &r.token_usage {
            let n = t.input_tokens + t.output_tokens;
            match (event, r.agent_context.agent_id.is_some()) {
                ("SessionEnd", _) => s.end_tokens = Some(n),
                ("Stop" | "StopFailure", false) => s.stop_tokens += n,
                ("SubagentStop", _) => s.sub_tokens += n,
                _ => {}
            }
        }
        if let Some(mut e) = timeline::entries(&sid, std::slice::from_ref(r)).into_iter().next() {
            e.offset_ms = r.time_unix_nano.saturating_sub(s.first) / 1_000_000;
            if s.timeline.len() == TIMELINE_KEPT {
                s.timeline.pop_front();
            }
            s.timeline.push_back(e);
        }
    }

    /// Drops a tenth of the sessions: the ended first, then the longest silent.
    fn prune(&mut self) {
        let mut by_age: Vec<(bool, u64, String)> =
            self.sessions.values().map(|s| (!s.ended, s.last, s.id.clone())).collect();
        by_age.sort();
        for (_, _, id) in by_age.into_iter().take(SESSIONS_KEPT / 10 + 1) {
            self.sessions.remove(&id);
        }
    }

    pub(crate) fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Newest first.
    pub(crate) fn feed(&self) -> impl Iterator<Item = &FeedItem> {
        self.feed.iter()
    }

    /// The sessions to list at `now`: every one not ended, and those ended less than
    /// [`ENDED_SHOWN`] ago; those whose id, agent, project, worktree or running tool contains
    /// `filter` (any case); in `sort` order (then the most recent first).
    pub(crate) fn rows(&self, now: u64, filter: &str, sort: Sort) -> Vec<&Session> {
        let needle = filter.to_lowercase();
        let mut rows: Vec<&Session> = self
            .sessions
            .values()
            .filter(|s| !s.ended || now.saturating_sub(s.last) < ENDED_SHOWN)
            .filter(|s| {
                needle.is_empty()
                    || [Some(&s.id), s.agent.as_ref(), s.project.as_ref(), s.worktree.as_ref()]
                        .into_iter()
                        .flatten()
                        .chain(s.running.values().map(|r| &r.tool))
                        .any(|t| t.to_lowercase().contains(&needle))
            })
            .collect();
        rows.sort_by(|a, b| {
            let key = match sort {
                Sort::Activity => std::cmp::Ordering::Equal,
                Sort::Risk => b.risk().cmp(&a.risk()),
                Sort::Cost => b.cost.unwrap_or(0.0).total_cmp(&a.cost.unwrap_or(0.0)),
                Sort::Errors => b.errors.cmp(&a.errors),
                Sort::ToolCalls => b.tool_calls().cmp(&a.tool_calls()),
            };
            key.then(b.last.cmp(&a.last)).then(a.id.cmp(&b.id))
        });
        rows
    }

    /// The fleet's numbers at `now` (`open_for`: the span timeout, which tells active from idle).
    pub(crate) fn totals(&mut self, now: u64, open_for: u64) -> Totals {
        let from = now.saturating_sub(RATE_WINDOW);
        while self.recent.front().is_some_and(|t| *t < from) {
            self.recent.pop_front();
        }
        // Records arrive nearly in time order; one late by more than the window stays a while.
        let in_window = self.recent.iter().filter(|t| **t >= from && **t <= now).count();
        let mut hook: Vec<u64> = self.hook_us.iter().copied().collect();
        hook.sort_unstable();
        Totals {
            active: self.sessions.values().filter(|s| s.status(now, open_for) == Status::Active).count(),
            sessions: self.sessions.len(),
            events_per_s: in_window as f64 / (RATE_WINDOW as f64 / 1e9),
            hook_p50_us: percentile(&hook, 50),
            hook_p99_us: percentile(&hook, 99),
            findings: self.sessions.values().map(|s| s.findings.total()).sum(),
            cost: self.sessions.values().filter_map(|s| s.cost).fold(0.0, |a, b| a + b),
            records: self.records,
        }
    }
}

/// The nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{Finding, ModelCallInfo, TokenUsage, ToolContext};

    pub(crate) const S: u64 = 1_000_000_000;

    /// A record of `event` in session `sid` at second `t`.
    pub(crate) fn rec(seq: u64, sid: &str, event: &str, t: u64) -> JournalRecord {
        JournalRecord {
            seq,
            hook_event: event.into(),
            session_id: Some(sid.into()),
            time_unix_nano: t * S,
            timestamp: crate::timefmt::rfc3339_nanos(t * S),
            project_name: Some("demo".into()),
            ..Default::default()
        }
    }

    pub(crate) fn tool(mut r: JournalRecord, name: &str, id: &str) -> JournalRecord {
        r.tool_name = Some(name.into());
        r.tool_context = Some(ToolContext { tool_use_id: Some(id.into()), ..Default::default() });
        r
    }

    pub(crate) fn finding(mut r: JournalRecord, rule: &str, severity: Severity) -> JournalRecord {
        r.security.findings.push(Finding {
            rule: rule.into(),
            category: rule.split('.').next().unwrap_or("").into(),
            severity,
            action: "alert".into(),
            matched: String::new(),
            description: String::new(),
        });
        r
    }

    #[test]
    fn a_session_its_running_tool_counts_findings_and_end() {
        let mut top = Top::default();
        top.ingest(&rec(1, "s1", "SessionStart", 100));
        let mut pre = tool(rec(2, "s1", "PreToolUse", 101), "Bash", "t1");
        pre.action_details.command = Some("chmod 777 x".into());
        let pre = finding(pre, "risky_command.chmod_world_writable", Severity::High);
        top.ingest(&pre);
        let s = top.session("s1").unwrap();
        assert!(s.whole);
        assert_eq!(s.now_running(104 * S), Some(("Bash", 3 * S, 0)));
        assert_eq!((s.tool_calls(), s.findings.high, s.risk()), (1, 1, 39));
        top.ingest(&tool(rec(3, "s1", "PostToolUseFailure", 102), "Bash", "t1"));
        let s = top.session("s1").unwrap();
        assert_eq!((s.now_running(104 * S), s.tool_calls(), s.errors), (None, 1, 1), "Pre and Post are one call");
        assert_eq!(s.status(103 * S, 60 * S), Status::Active);
        assert_eq!(s.status(200 * S, 60 * S), Status::Idle);
        let feed: Vec<_> = top.feed().map(|f| (f.rule.as_str(), f.detail.as_deref())).collect();
        assert_eq!(feed, [("risky_command.chmod_world_writable", Some("chmod 777 x"))]);
        // A tool left running by an interrupted turn is not running after the Stop.
        top.ingest(&tool(rec(4, "s1", "PreToolUse", 103), "Read", "t2"));
        top.ingest(&rec(5, "s1", "Stop", 104));
        assert!(top.session("s1").unwrap().running.is_empty());
        top.ingest(&rec(6, "s1", "SessionEnd", 105));
        let mut gap = rec(7, "s1", "TelemetryGap", 106);
        gap.hook_event = "TelemetryGap".into();
        top.ingest(&gap);
        let behaviour = finding(rec(8, "s1", "Behaviour", 107), "behaviour.mass_change", Severity::High);
        top.ingest(&behaviour);
        let s = top.session("s1").unwrap();
        assert_eq!(s.status(107 * S, 60 * S), Status::Ended, "a gap marker or a behaviour finding is no step");
        assert_eq!(s.findings.high, 2, "the behaviour finding counts");
        assert_eq!(top.rows(107 * S, "", Sort::Activity).len(), 1);
        assert!(top.rows(107 * S + ENDED_SHOWN, "", Sort::Activity).is_empty(), "ended long ago: off the list");
    }

    #[test]
    fn tokens_and_cost_as_sessions_counts_them() {
        let mut top = Top::default();
        let mut stop = rec(1, "s", "Stop", 1);
        stop.token_usage = Some(TokenUsage { input_tokens: 100, output_tokens: 10, ..Default::default() });
        top.ingest(&stop);
        top.ingest(&stop);
        assert_eq!(top.session("s").unwrap().tokens(), Some(220), "turns add up");
        let mut end = rec(2, "s", "SessionEnd", 2);
        end.token_usage = Some(TokenUsage { input_tokens: 300, output_tokens: 30, ..Default::default() });
        top.ingest(&end);
        assert_eq!(top.session("s").unwrap().tokens(), Some(330), "the SessionEnd reads the whole transcript");
        let mut call = rec(3, "s", "ModelCall", 3);
        call.model_call =
            Some(ModelCallInfo { input_tokens: 1000, output_tokens: 50, cost_usd: Some(0.25), ..Default::default() });
        top.ingest(&call);
        top.ingest(&call);
        let s = top.session("s").unwrap();
        assert_eq!((s.tokens(), s.cost), (Some(2100), Some(0.5)), "model calls win when the relay journaled them");
        assert_eq!(s.status(3 * S, 60 * S), Status::Ended, "a model call after the end is no step");
        assert_eq!(top.totals(3 * S, 60 * S).cost, 0.5);
    }

    #[test]
    fn filter_sort_and_fleet_totals() {
        let mut top = Top::default();
        for (i, sid) in ["aaa", "bbb", "ccc"].iter().enumerate() {
            let mut r = tool(rec(i as u64, sid, "PreToolUse", 10 + i as u64), "Bash", &format!("t{i}"));
            r.metadata.hook_us = Some(100 * (i as u64 + 1));
            top.ingest(&r);
        }
        top.ingest(&finding(rec(9, "aaa", "PostToolUse", 5), "secret_exposure.redacted", Severity::Critical));
        let ids = |rows: Vec<&Session>| rows.into_iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(top.rows(20 * S, "", Sort::Activity)), ["ccc", "bbb", "aaa"]);
        assert_eq!(ids(top.rows(20 * S, "", Sort::Risk)), ["aaa", "ccc", "bbb"]);
        assert_eq!(ids(top.rows(20 * S, "BB", Sort::Activity)), ["bbb"], "any case");
        assert_eq!(ids(top.rows(20 * S, "bash", Sort::Activity)).len(), 3, "the running tool");
        assert!(top.rows(20 * S, "zzz", Sort::Activity).is_empty());
        let t = top.totals(14 * S, 60 * S);
        assert_eq!((t.active, t.sessions, t.records, t.findings), (3, 3, 4, 1));
        assert_eq!(t.events_per_s, 0.4, "4 records in the last 10 s");
        assert_eq!((t.hook_p50_us, t.hook_p99_us), (Some(200), Some(300)));
        assert_eq!(top.totals(100 * S, 60 * S).events_per_s, 0.0);
        let mut sort = Sort::default();
        let names: Vec<_> = (0..5)
            .map(|_| {
                let n = sort.name();
                sort = sort.next();
                n
            })
            .collect();
        assert_eq!(names, ["activity", "risk", "cost", "errors", "tool calls"]);
        assert_eq!(sort, Sort::Activity);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut top = Top::default();
        for i in 0..(SESSIONS_KEPT as u64 + 50) {
            top.ingest(&rec(i, &format!("s{i}"), "SessionStart", i));
        }
        assert!(top.sessions.len() <= SESSIONS_KEPT);
        assert!(top.session(&format!("s{}", SESSIONS_KEPT + 49)).is_some(), "the newest are kept");
        for i in 0..(TIMELINE_KEPT as u64 + 10) {
            top.ingest(&finding(rec(i, "busy", "PreToolUse", i), "x.y", Severity::Low));
        }
        assert_eq!(top.session("busy").unwrap().timeline.len(), TIMELINE_KEPT);
        assert_eq!(top.feed().count(), FEED_KEPT);
        assert_eq!(top.feed().next().unwrap().time, (TIMELINE_KEPT as u64 + 9) * S, "newest first");
    }

    #[test]
    fn percentiles_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 99), Some(7));
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!((percentile(&v, 50), percentile(&v, 99)), (Some(50), Some(99)));
    }
}
