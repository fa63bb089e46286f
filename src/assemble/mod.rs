//! Assemble: journal records in, OpenTelemetry spans and log records out (architecture.md, "Ids
//! and hierarchy"). Pure and deterministic: the same records give the same spans, ids and
//! timestamps, so a re-sent span is identical to the first and separate processes agree.
//!
//! | span | key | parent | start → end |
//! |---|---|---|---|
//! | `invoke_agent claude-code` | session id (a resumed run: `<id>#<seq>`) | TRACEPARENT's span, else root | SessionStart → SessionEnd |
//! | `turn` | prompt_id | session run | UserPromptSubmit → Stop / StopFailure |
//! | `execute_tool {tool}` | tool_use_id | subagent if `agent_id`, else turn | PreToolUse → PostToolUse(Failure) |
//! | `invoke_agent {agent_type}` | agent_id | the `Agent` tool span that spawned it | SubagentStart → SubagentStop |
//!
//! Runs of one session (`--resume`): one span per run. The first run's span has the id derived
//! from the session id (the one SessionStart hands to child processes in TRACEPARENT); a resumed
//! run gets its own id, derived from the session id and the seq of its SessionStart.

pub(crate) mod attrs;
mod calls;
mod compact;
pub(crate) mod logs;
pub(crate) mod model;
mod tasks;
pub(crate) mod transcripts;
pub(crate) mod tree;

use crate::event::HookEvent;
use crate::ids::{self, SpanId, TraceId, TraceParent};
use crate::record::JournalRecord;
use model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per-session bookkeeping.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct SessionState {
    trace_id: TraceId,
    parent_span_id: Option<SpanId>,
    /// Key of the run span currently open (if any) and how many runs were seen.
    run_key: Option<String>,
    runs: u64,
    last_time: u64,
    ended: bool,
    /// Turns already ended: later records of the turn (SessionEnd, a late batch) point at the
    /// ended span instead of opening a second one with the same id.
    closed_turns: std::collections::BTreeSet<String>,
    /// Model calls read before the span that takes them opened (a turn's, a subagent run's),
    /// by that span's key.
    pending_calls: BTreeMap<OpenSpanKey, calls::Tally>,
    /// The latest tool calls that had a span (a batch's other calls were never run); the last
    /// [`RECENT_TOOLS`] only, so the checkpoint stays small.
    recent_tools: std::collections::VecDeque<String>,
    /// Tasks created and not yet completed, by task id.
    tasks: BTreeMap<String, tasks::TaskInfo>,
    /// The compaction in progress (its natural id), if any.
    compaction: Option<String>,
    /// The resource of the session's spans (model calls, read from transcripts, carry it too).
    resource: Option<ResourceKey>,
    /// The session's findings so far (its own records' and the relay's `behaviour` records'),
    /// for the run span's `agent_telemetry.risk.score`.
    #[serde(skip_serializing_if = "crate::enrich::risk::Tally::is_empty")]
    findings: crate::enrich::risk::Tally,
}

/// Everything the assembler remembers between records; persisted with the relay's checkpoint
/// (see `relay::checkpoint`: a versioned format; every field here defaults, so a state written
/// by an older relay, without a newer field, still loads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Assembler {
    sessions: BTreeMap<String, SessionState>,
    /// Open spans by role and natural id.
    open: BTreeMap<OpenSpanKey, SpanItem>,
    /// Subagents that ended before the `Agent` call that spawned them was known.
    waiting_for_parent: BTreeMap<String, SpanItem>,
    /// agent_id → the ordinal of its current run (0 the first; more after a revival).
    agent_runs: BTreeMap<String, u32>,
    /// agent_id → span id of the `Agent` tool call that spawned it.
    agent_parents: BTreeMap<String, SpanId>,
    /// agent_id → its session, so an agent's state goes when its session's does.
    agent_sessions: BTreeMap<String, String>,
}

/// Ended sessions remembered at most (the most recent); beyond, the oldest are forgotten first.
const MAX_ENDED_SESSIONS: usize = 1024;

/// Tool call ids remembered per session (a batch names calls of the last moments only).
const RECENT_TOOLS: usize = 256;

impl SessionState {
    fn saw_tool(&mut self, id: &str) {
        if !self.recent_tools.iter().any(|t| t == id) {
            if self.recent_tools.len() == RECENT_TOOLS {
                self.recent_tools.pop_front();
            }
            self.recent_tools.push_back(id.to_string());
        }
    }
}

fn key(role: SpanRole, k: &str) -> OpenSpanKey {
    OpenSpanKey::new(role, k)
}

const UNKNOWN_SESSION: &str = "unknown-session";

impl Assembler {
    /// Processes one record; finished spans and the record's log item go to `out`.
    pub(crate) fn process(&mut self, r: &JournalRecord, out: &mut Output) {
        self.process_line(r, None, out)
    }

    /// Like [`Assembler::process`], with the record's journal line (its canonical JSON) as the
    /// log body, which spares serialising the record again.
    pub(crate) fn process_line(&mut self, r: &JournalRecord, line: Option<&str>, out: &mut Output) {
        let sid = r.session_id.clone().unwrap_or_else(|| UNKNOWN_SESSION.to_string());
        let t = r.time_unix_nano;
        let resource = resource_of(r, &sid);
        let ev = r.event();
        if !ev.is_gap_record() {
            self.session(&sid, r);
        }
        // A `behaviour` record's findings were counted as the relay made it (`count_findings`).
        if !r.security.findings.is_empty() && ev != HookEvent::Behaviour {
            self.add_findings(&sid, r);
        }
        if ev == HookEvent::ModelCall {
            // Written by the relay after it made the call's span: a log record linked to that
            // span, nothing else (it opens no session: it may come after the SessionEnd).
            let m = r.model_call.clone().unwrap_or_default();
            let (trace_id, span_id) = (
                TraceId::parse_hex(&m.trace_id).unwrap_or_default(),
                SpanId::parse_hex(&m.span_id).unwrap_or_default(),
            );
            let mut item = logs::log_item(r, line, trace_id, span_id, resource);
            calls::call_log_attrs(&mut item.attrs, &m);
            out.logs.push(item);
            return;
        }
        if ev.is_gap_record() {
            return self.gap_record(r, line, &sid, resource, out);
        }
        self.session(&sid, r);

        // Compaction: an event within the run (no new run, no turn, forks under it).
        if self.is_compaction(&sid, r) {
            let run_span = self.ensure_run(&sid, r, &resource);
            let own = self.process_compaction(&sid, r, run_span, &resource, out);
            let trace_id = self.sessions.get(&sid).map(|s| s.trace_id).unwrap_or_default();
            out.logs.push(logs::log_item(r, line, trace_id, own, resource));
            return;
        }

        // Session runs.
        if ev == HookEvent::SessionStart {
            self.close_run(&sid, t, None, None, out);
            self.open_run(&sid, r, &resource, false);
        }
        let run_span = self.ensure_run(&sid, r, &resource);

        // Turns.
        let prompt = r.session_context.prompt_id.clone();
        // A session's start and end are not within a turn: they open none (SessionEnd names the
        // last prompt, which may be a `/compact` no turn was opened for).
        let opens_no_turn = matches!(ev, HookEvent::SessionStart | HookEvent::SessionEnd);
        let turn_span = prompt.as_deref().and_then(|p| {
            if self.sessions.get(&sid).is_some_and(|s| s.closed_turns.contains(p)) {
                return Some(SpanId::of(SpanRole::Turn, p));
            }
            if opens_no_turn && !self.open.contains_key(&key(SpanRole::Turn, p)) {
                return None;
            }
            let opened = !self.open.contains_key(&key(SpanRole::Turn, p));
            if ev == HookEvent::UserPromptSubmit && r.agent_context.agent_id.is_none() {
                self.open_span(
                    SpanRole::Turn,
                    p,
                    "turn".into(),
                    &sid,
                    Some(run_span),
                    t,
                    &resource,
                    turn_attrs(r, p),
                    false,
                );
            }
            let id = self.ensure(SpanRole::Turn, p, "turn", &sid, Some(run_span), t, &resource, || turn_attrs(r, p));
            if ev == HookEvent::UserPromptSubmit {
                if let Some(span) = self.open.get_mut(&key(SpanRole::Turn, p)) {
                    for f in &r.security.findings {
                        span.events.push(guardrail_finding(r, f, "message", Some(p)));
                    }
                }
            }
            if opened {
                self.turn_opened(&sid, p);
            }
            Some(id)
        });

        // Subagents: each run of an agent is its own span (a finished agent revived by
        // `SendMessage` starts a second run with the same agent id).
        let agent_id = r.agent_context.agent_id.clone();
        let agent_run = agent_id.as_deref().map(|a| self.agent_run(&sid, a, ev == HookEvent::SubagentStart));
        let agent_span = agent_run.as_deref().map(|ar| SpanId::of(SpanRole::Subagent, ar));
        if let (Some(a), Some(parent_tool)) = (agent_id.as_deref(), r.agent_context.parent_tool_use_id.as_deref()) {
            self.agent_parents.entry(a.to_string()).or_insert_with(|| SpanId::of(SpanRole::Tool, parent_tool));
        }
        if let (Some(a), Some(ar)) = (agent_id.as_deref(), agent_run.as_deref()) {
            let name = format!(
                "invoke_agent {}",
                r.agent_context.agent_type.as_deref().filter(|t| !t.is_empty()).unwrap_or("subagent")
            );
            let parent = self.agent_parents.get(ar).cloned();
            let fallback_parent = turn_span.unwrap_or(run_span);
            let opened = !self.open.contains_key(&key(SpanRole::Subagent, ar));
            self.ensure(SpanRole::Subagent, ar, &name, &sid, parent.or(Some(fallback_parent)), t, &resource, || {
                subagent_attrs(r, a, ar)
            });
            if opened {
                self.subagent_opened(&sid, ar);
            }
            if let Some(span) = self.open.get_mut(&key(SpanRole::Subagent, ar)) {
                if let Some(p) = self.agent_parents.get(ar) {
                    span.parent_span_id = Some(*p);
                    model::set(&mut span.attrs, "agent_telemetry.subagent.parent_known", AttrValue::Bool(true));
                }
                if let Some(d) = r.agent_context.spawn_depth {
                    model::set(&mut span.attrs, attrs::SPAWN_DEPTH, AttrValue::Int(d as i64));
                }
                model::push_str(&mut span.attrs, attrs::PARENT_AGENT_ID, r.agent_context.parent_agent_id.as_deref());
            }
            if ev == HookEvent::SubagentStop {
                if let (Some(u), Some(span)) = (&r.token_usage, self.open.get_mut(&key(SpanRole::Subagent, ar))) {
                    add_usage(span, u);
                }
                self.end_subagent(ar, ar == a, t, out);
            }
        }

        // Tools.
        let tool_parent = agent_span.or(turn_span).unwrap_or(run_span);
        let tool_span = r.tool_context.as_ref().and_then(|tc| {
            let id = tc.tool_use_id.as_deref()?;
            let tool = tc.tool_name.as_deref().or(r.tool_name.as_deref()).unwrap_or("unknown");
            let name = format!("execute_tool {tool}");
            let start = match tc.duration_ms {
                Some(ms) if ev.ends_tool_call() => t.saturating_sub(ms * 1_000_000),
                _ => t,
            };
            let sp = self.ensure(SpanRole::Tool, id, &name, &sid, Some(tool_parent), start, &resource, || {
                tool_attrs(r, tool, id)
            });
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.saw_tool(id);
            }
            let k = key(SpanRole::Tool, id);
            if let Some(span) = self.open.get_mut(&k) {
                add_tool_details(span, r);
                if matches!(ev, HookEvent::PermissionRequest | HookEvent::PermissionDenied) {
                    span.events.push(SpanEventItem { name: ev.to_string(), time: t, attrs: Vec::new() });
                }
            }
            if ev.ends_tool_call() {
                if let Some(mut span) = self.open.remove(&k) {
                    span.end = t.max(span.start);
                    if ev == HookEvent::PostToolUseFailure {
                        let msg = tc.error.clone().unwrap_or_else(|| "tool call failed".into());
                        model::set(
                            &mut span.attrs,
                            attrs::ERROR_TYPE,
                            AttrValue::Str(if tc.is_interrupt == Some(true) {
                                "interrupted".into()
                            } else {
                                "tool_error".into()
                            }),
                        );
                        span.error = Some(msg);
                    }
                    out.spans.push(span);
                }
                if let Some(spawned) = tc.spawned_agent_id.as_deref() {
                    self.agent_parents.insert(spawned.to_string(), sp);
                    self.adopt(spawned, sp, out);
                }
            }
            Some(sp)
        });

        // Turn and session ends.
        if matches!(ev, HookEvent::Stop | HookEvent::StopFailure) && agent_id.is_none() {
            if let Some(p) = prompt.as_deref() {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.closed_turns.insert(p.to_string());
                }
                if let Some(mut span) = self.open.remove(&key(SpanRole::Turn, p)) {
                    // Its model calls may end after the Stop hook (the final message is written
                    // after it): the turn covers them.
                    span.end = t.max(span.start).max(span.end);
                    if let Some(u) = &r.token_usage {
                        add_usage(&mut span, u);
                    }
                    if ev == HookEvent::StopFailure {
                        span.error = Some(
                            r.tool_context
                                .as_ref()
                                .and_then(|c| c.error.clone())
                                .unwrap_or_else(|| "the turn ended with an error".into()),
                        );
                    }
                    out.spans.push(span);
                }
            }
        }
        if ev == HookEvent::SessionEnd {
            self.close_run(&sid, t, r.session_context.source.as_deref(), r.token_usage.as_ref(), out);
        }
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.last_time = s.last_time.max(t);
        }

        // A batch's calls that fired no PreToolUse/PostToolUse were never run (an unknown or
        // unavailable tool): each still gets its span, as an error.
        if ev == HookEvent::PostToolBatch {
            self.unrun_calls(&sid, r, tool_parent_of(&agent_span, &turn_span, &run_span), &resource, out);
        }

        // Tasks: the creating and completing calls, linked.
        let task_span = if matches!(ev, HookEvent::TaskCreated | HookEvent::TaskCompleted) {
            self.process_task(&sid, r)
        } else {
            None
        };

        // The record's log item belongs to the most specific span it touches.
        let own_span = match ev {
            HookEvent::SubagentStart | HookEvent::SubagentStop => agent_span,
            _ => task_span,
        }
        .or(tool_span)
        .or(agent_span)
        .or(turn_span)
        .unwrap_or(run_span);
        let trace_id = self.sessions.get(&sid).map(|s| s.trace_id).unwrap_or_default();
        out.logs.push(logs::log_item(r, line, trace_id, own_span, resource));
    }

    /// A `telemetry_gap` / `telemetry_restored` record: a log record in its session's trace (on
    /// the run span, which may have ended or been forgotten long ago), never a span of its own and
    /// no session state: a silent or ended session is not reopened by the record about it.
    fn gap_record(
        &mut self,
        r: &JournalRecord,
        line: Option<&str>,
        sid: &str,
        resource: ResourceKey,
        out: &mut Output,
    ) {
        let (trace_id, span) = match self.sessions.get(sid) {
            Some(s) => (s.trace_id, SpanId::of(SpanRole::Session, s.run_key.as_deref().unwrap_or(sid))),
            None => (TraceId(ids::trace_id_for_session(sid)), SpanId::of(SpanRole::Session, sid)),
        };
        out.logs.push(logs::log_item(r, line, trace_id, span, resource));
    }

    /// Counts the findings of a record the relay made (a `behaviour` record) in its session's
    /// risk score at once, before the record is read back.
    pub(crate) fn count_findings(&mut self, r: &JournalRecord) {
        if let Some(sid) = r.session_id.as_deref() {
            self.add_findings(sid, r);
        }
    }

    /// Counts a record's findings in its session and updates its open run span's risk score (a
    /// finding read after the run ended counts in the next run's, if any).
    fn add_findings(&mut self, sid: &str, r: &JournalRecord) {
        let Some(s) = self.sessions.get_mut(sid) else { return };
        for f in &r.security.findings {
            s.findings.add(&f.rule, f.severity, 1);
        }
        let score = s.findings.score();
        if let Some(k) = s.run_key.clone() {
            if let Some(span) = self.open.get_mut(&key(SpanRole::Session, &k)) {
                model::set(&mut span.attrs, attrs::RISK_SCORE, AttrValue::Int(score as i64));
            }
        }
    }

    /// Creates the session's bookkeeping on first sight.
    fn session(&mut self, sid: &str, r: &JournalRecord) {
        let parent = r.session_context.traceparent.as_deref().and_then(TraceParent::parse);
        self.sessions.entry(sid.to_string()).or_insert_with(|| SessionState {
            trace_id: TraceId(parent.as_ref().map(|p| p.trace_id).unwrap_or_else(|| ids::trace_id_for_session(sid))),
            parent_span_id: parent.map(|p| SpanId(p.span_id)),
            resource: Some(resource_of(r, sid)),
            ..SessionState::default()
        });
    }

    fn open_run(&mut self, sid: &str, r: &JournalRecord, resource: &ResourceKey, implicit: bool) -> SpanId {
        let s = self.sessions.get_mut(sid).expect("session created first");
        s.runs += 1;
        s.ended = false;
        // The first run keeps the session's own id (the span TRACEPARENT names); a resumed or
        // compacted run is keyed by its SessionStart's seq, so it never collides with the first,
        // even if this relay has forgotten the session in between.
        let continued = r.event() == HookEvent::SessionStart
            && matches!(r.session_context.source.as_deref(), Some("resume" | "compact"));
        let run_key = if s.runs == 1 && !continued { sid.to_string() } else { format!("{sid}#{}", r.seq) };
        s.run_key = Some(run_key.clone());
        let parent = s.parent_span_id;
        let runs = s.runs;
        let mut a = session_attrs(r, sid);
        model::set(&mut a, attrs::RUN, AttrValue::Int(runs as i64));
        model::set(&mut a, attrs::RISK_SCORE, AttrValue::Int(s.findings.score() as i64));
        if implicit {
            model::set(&mut a, "agent_telemetry.span.start_inferred", AttrValue::Bool(true));
        }
        let remote = parent.is_some();
        self.open_span(
            SpanRole::Session,
            &run_key,
            "invoke_agent claude-code".into(),
            sid,
            parent,
            r.time_unix_nano,
            resource,
            a,
            remote,
        );
        SpanId::of(SpanRole::Session, &run_key)
    }

    /// The open run's span id, opening an inferred run if the session's start was not seen.
    fn ensure_run(&mut self, sid: &str, r: &JournalRecord, resource: &ResourceKey) -> SpanId {
        match self.sessions.get(sid).and_then(|s| s.run_key.clone()) {
            Some(k) if self.open.contains_key(&key(SpanRole::Session, &k)) => SpanId::of(SpanRole::Session, &k),
            // After SessionEnd, stragglers (a background agent finishing) attach to the last run.
            Some(k) if self.sessions.get(sid).is_some_and(|s| s.ended) => SpanId::of(SpanRole::Session, &k),
            _ => self.open_run(sid, r, resource, true),
        }
    }

    fn close_run(
        &mut self,
        sid: &str,
        t: u64,
        reason: Option<&str>,
        usage: Option<&crate::record::TokenUsage>,
        out: &mut Output,
    ) {
        let Some(run_key) = self.sessions.get(sid).and_then(|s| s.run_key.clone()) else { return };
        // Whatever is still open in this session ends with it, marked incomplete.
        let children: Vec<OpenSpanKey> = self
            .open
            .iter()
            .filter(|(_, s)| s.resource.session_id == sid && s.role != SpanRole::Session)
            .map(|(k, _)| k.clone())
            .collect();
        for k in children {
            if let Some(mut span) = self.open.remove(&k) {
                if k.role == SpanRole::Turn {
                    if let Some(s) = self.sessions.get_mut(sid) {
                        s.closed_turns.insert(k.id.clone());
                    }
                }
                span.end = t.max(span.start);
                if span.role != SpanRole::Turn {
                    mark_incomplete(&mut span, "session ended first");
                }
                out.spans.push(span);
            }
        }
        let waiting: Vec<String> = self
            .waiting_for_parent
            .iter()
            .filter(|(_, s)| s.resource.session_id == sid)
            .map(|(k, _)| k.clone())
            .collect();
        for k in waiting {
            if let Some(span) = self.waiting_for_parent.remove(&k) {
                out.spans.push(span);
            }
        }
        if let Some(mut span) = self.open.remove(&key(SpanRole::Session, &run_key)) {
            span.end = t.max(span.start);
            let score = self.sessions.get(sid).map(|s| s.findings.score()).unwrap_or(0);
            model::set(&mut span.attrs, attrs::RISK_SCORE, AttrValue::Int(score as i64));
            if let Some(u) = usage {
                add_usage(&mut span, u);
            }
            model::push_str(&mut span.attrs, attrs::END_REASON, reason);
            out.spans.push(span);
        }
        if let Some(s) = self.sessions.get_mut(sid) {
            s.ended = true;
            s.compaction = None;
            // Records after SessionEnd attach to the run, not to turns: keep the checkpoint small.
            s.closed_turns.clear();
        }
    }

    /// The natural key of agent `a`'s current run. A SubagentStart for an agent whose run has
    /// ended begins its next run, parented under the `SendMessage` call that revived it (the
    /// session's latest open one) when there is one.
    fn agent_run(&mut self, sid: &str, a: &str, starting: bool) -> String {
        let n = match self.agent_runs.get(a).copied() {
            None => 0,
            Some(n) => {
                let k = agent_run_key(a, n);
                let running =
                    self.open.contains_key(&key(SpanRole::Subagent, &k)) || self.waiting_for_parent.contains_key(&k);
                if starting && !running {
                    n + 1
                } else {
                    n
                }
            }
        };
        self.agent_runs.insert(a.to_string(), n);
        self.agent_sessions.insert(a.to_string(), sid.to_string());
        let k = agent_run_key(a, n);
        if n > 0 && !self.agent_parents.contains_key(&k) {
            let reviver = self
                .open
                .values()
                .filter(|s| {
                    s.role == SpanRole::Tool && s.name == "execute_tool SendMessage" && s.resource.session_id == sid
                })
                .max_by_key(|s| s.start)
                .map(|s| s.span_id);
            if let Some(p) = reviver {
                self.agent_parents.insert(k.clone(), p);
            }
        }
        k
    }

    /// Spans for the calls of a PostToolBatch that no PreToolUse/PostToolUse announced.
    fn unrun_calls(&mut self, sid: &str, r: &JournalRecord, parent: SpanId, resource: &ResourceKey, out: &mut Output) {
        let Some(calls) = r.raw_input.get("tool_calls").and_then(|c| c.as_array()) else { return };
        let trace_id = self.sessions.get(sid).map(|s| s.trace_id).unwrap_or_default();
        for c in calls {
            let (Some(id), Some(tool)) =
                (c.get("tool_use_id").and_then(|v| v.as_str()), c.get("tool_name").and_then(|v| v.as_str()))
            else {
                continue;
            };
            if self.open.contains_key(&key(SpanRole::Tool, id))
                || self.sessions.get(sid).is_none_or(|s| s.recent_tools.iter().any(|t| t == id))
            {
                continue;
            }
            if let Some(s) = self.sessions.get_mut(sid) {
                s.saw_tool(id);
            }
            let mut a = tool_attrs(r, tool, id);
            model::set(&mut a, attrs::TOOL_NOT_RUN, AttrValue::Bool(true));
            model::set(&mut a, attrs::ERROR_TYPE, AttrValue::Str("not_run".into()));
            out.spans.push(SpanItem {
                role: SpanRole::Tool,
                name: format!("execute_tool {tool}"),
                trace_id,
                span_id: SpanId::of(SpanRole::Tool, id),
                parent_span_id: Some(parent),
                parent_remote: false,
                start: r.time_unix_nano,
                end: r.time_unix_nano,
                attrs: a,
                events: Vec::new(),
                error: Some(
                    "not run: no PreToolUse/PostToolUse fired for this call (an unknown or unavailable tool)".into(),
                ),
                links: Vec::new(),
                resource: resource.clone(),
                last_activity: r.time_unix_nano,
            });
        }
    }

    /// Ends the span of an agent's run (`run`: its natural key); `first_run`: only an agent's
    /// first run may wait for the `Agent` call that spawned it.
    fn end_subagent(&mut self, run: &str, first_run: bool, t: u64, out: &mut Output) {
        let Some(mut span) = self.open.remove(&key(SpanRole::Subagent, run)) else { return };
        span.end = t.max(span.start).max(span.end);
        if self.agent_parents.contains_key(run) || !first_run {
            out.spans.push(span);
        } else {
            // Foreground agents: the Agent call's PostToolUse (with agentId) comes after SubagentStop.
            self.waiting_for_parent.insert(run.to_string(), span);
        }
    }

    /// The `Agent` call that spawned `agent_id` is now known: re-parent and release its span.
    fn adopt(&mut self, agent_id: &str, parent: SpanId, out: &mut Output) {
        if let Some(span) = self.open.get_mut(&key(SpanRole::Subagent, agent_id)) {
            span.parent_span_id = Some(parent);
        }
        if let Some(mut span) = self.waiting_for_parent.remove(agent_id) {
            span.parent_span_id = Some(parent);
            out.spans.push(span);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn open_span(
        &mut self,
        role: SpanRole,
        k: &str,
        name: String,
        sid: &str,
        parent: Option<SpanId>,
        t: u64,
        resource: &ResourceKey,
        a: Attrs,
        remote: bool,
    ) {
        let trace_id = self.sessions.get(sid).map(|s| s.trace_id).unwrap_or_default();
        self.open.entry(key(role, k)).or_insert_with(|| SpanItem {
            role,
            name,
            trace_id,
            span_id: SpanId::of(role, k),
            parent_span_id: parent,
            parent_remote: remote,
            start: t,
            end: t,
            attrs: a,
            events: Vec::new(),
            error: None,
            links: Vec::new(),
            resource: resource.clone(),
            last_activity: t,
        });
    }

    /// The span id of an open span, opening it (start inferred) if its start was not seen.
    #[allow(clippy::too_many_arguments)]
    fn ensure(
        &mut self,
        role: SpanRole,
        k: &str,
        name: &str,
        sid: &str,
        parent: Option<SpanId>,
        t: u64,
        resource: &ResourceKey,
        a: impl FnOnce() -> Attrs,
    ) -> SpanId {
        let full = key(role, k);
        if !self.open.contains_key(&full) {
            self.open_span(role, k, name.to_string(), sid, parent, t, resource, a(), false);
        }
        let span = self.open.get_mut(&full).expect("just opened");
        span.last_activity = span.last_activity.max(t);
        span.span_id
    }

    /// Closes the spans of sessions with no record for `timeout_ns`, at their last activity,
    /// marked incomplete. `now` is the relay's clock; the span times stay the records' times.
    pub(crate) fn sweep(&mut self, now: u64, timeout_ns: u64, out: &mut Output) {
        let idle: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.ended && s.last_time + timeout_ns < now)
            .map(|(k, _)| k.clone())
            .collect();
        for sid in idle {
            let last = self.sessions[&sid].last_time;
            let before = out.spans.len();
            self.close_run(&sid, last, Some("timeout"), None, out);
            for span in &mut out.spans[before..] {
                mark_incomplete(span, "no end event before the inactivity timeout");
            }
            // Closed for good: forgotten like an ended one (a later record starts it afresh).
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.ended = true;
            }
        }
        // Forget sessions an hour after they ended — and beyond the most recent
        // [`MAX_ENDED_SESSIONS`] at once: their ids are derived, and a later resume is keyed by
        // its own SessionStart, so nothing needs them. Memory and the checkpoint hold what is
        // open, not the relay's whole history.
        let mut ended: Vec<(u64, String)> =
            self.sessions.iter().filter(|(_, s)| s.ended).map(|(k, s)| (s.last_time, k.clone())).collect();
        ended.sort();
        let over = ended.len().saturating_sub(MAX_ENDED_SESSIONS);
        let forget: std::collections::BTreeSet<String> = ended
            .iter()
            .enumerate()
            .filter(|(i, (t, _))| *i < over || t + 3600 * 1_000_000_000 <= now)
            .map(|(_, (_, k))| k.clone())
            .collect();
        if forget.is_empty() {
            return;
        }
        self.sessions.retain(|k, _| !forget.contains(k));
        let agents: Vec<String> =
            self.agent_sessions.iter().filter(|(_, s)| forget.contains(*s)).map(|(a, _)| a.clone()).collect();
        for a in agents {
            self.agent_sessions.remove(&a);
            self.agent_runs.remove(&a);
            let prefix = format!("{a}#");
            self.agent_parents.retain(|k, _| k != &a && !k.starts_with(&prefix));
        }
    }

    /// Spans still open or waiting for their parent (what `show` draws as unfinished).
    pub(crate) fn unfinished(&self) -> impl Iterator<Item = &SpanItem> {
        self.open.values().chain(self.waiting_for_parent.values())
    }

    /// Whether a record named subagent `agent` (its transcript may then be read).
    pub(crate) fn knows_agent(&self, agent: &str) -> bool {
        self.agent_runs.contains_key(agent) || self.agent_parents.contains_key(agent)
    }

    pub(crate) fn open_count(&self) -> usize {
        self.open.len() + self.waiting_for_parent.len()
    }
}

/// The hook's reading of a turn's, subagent's or session's tokens (which misses a turn's final
/// message); not used when the span totals the model calls read from the transcript.
fn add_usage(span: &mut SpanItem, u: &crate::record::TokenUsage) {
    if calls::totals_from_transcript(span) {
        return;
    }
    let a = &mut span.attrs;
    model::set(a, attrs::USAGE_SOURCE, AttrValue::Str("hook".into()));
    model::set(a, attrs::GEN_AI_INPUT_TOKENS, AttrValue::Int(u.input_tokens as i64));
    model::set(a, attrs::GEN_AI_OUTPUT_TOKENS, AttrValue::Int(u.output_tokens as i64));
    model::set(a, attrs::TOTAL_CACHE_READ_TOKENS, AttrValue::Int(u.cache_read_input_tokens as i64));
    model::set(a, attrs::TOTAL_CACHE_WRITE_TOKENS, AttrValue::Int(u.cache_creation_input_tokens as i64));
    model::set(a, "agent_telemetry.usage.messages", AttrValue::Int(u.messages as i64));
    model::push_str(a, attrs::GEN_AI_REQUEST_MODEL, u.model.as_deref());
}

fn tool_parent_of(agent: &Option<SpanId>, turn: &Option<SpanId>, run: &SpanId) -> SpanId {
    agent.or(*turn).unwrap_or(*run)
}

fn mark_incomplete(span: &mut SpanItem, why: &str) {
    model::set(&mut span.attrs, attrs::INCOMPLETE, AttrValue::Bool(true));
    model::set(&mut span.attrs, attrs::INCOMPLETE_REASON, AttrValue::Str(why.into()));
}

fn resource_of(r: &JournalRecord, sid: &str) -> ResourceKey {
    ResourceKey {
        session_id: sid.to_string(),
        project_path: r.project_path.clone(),
        project_name: r.project_name.clone(),
        agent_id: r.agent_context.fleet_agent_id.clone(),
        agent_group: r.agent_context.agent_group.clone(),
        agent_role: r.agent_context.agent_role.clone().filter(|role| role != "subagent"),
        host_name: r.metadata.host_name.clone(),
        user_id: r.metadata.user_id.clone(),
        agent_type: r.agent_context.fleet_agent_type.clone(),
        instance_id: r.agent_context.instance_id.clone(),
        registry_entry: r.agent_context.registry_entry.clone(),
    }
}

fn common(r: &JournalRecord, sid: &str) -> Attrs {
    let mut a = vec![(attrs::GEN_AI_CONVERSATION.to_string(), AttrValue::Str(sid.to_string()))];
    model::push_str(&mut a, attrs::GEN_AI_PROVIDER, Some("anthropic"));
    model::push_str(&mut a, attrs::PROMPT_ID, r.session_context.prompt_id.as_deref());
    a
}

fn session_attrs(r: &JournalRecord, sid: &str) -> Attrs {
    let mut a = common(r, sid);
    a.retain(|(k, _)| k != attrs::PROMPT_ID);
    model::push_str(&mut a, attrs::GEN_AI_OPERATION, Some("invoke_agent"));
    model::push_str(&mut a, attrs::GEN_AI_AGENT_NAME, Some("claude-code"));
    model::push_str(
        &mut a,
        attrs::SOURCE,
        r.session_context.source.as_deref().filter(|_| r.event() == HookEvent::SessionStart),
    );
    model::push_str(&mut a, attrs::PARENT_SESSION, r.session_context.parent_session.as_deref());
    model::push_str(&mut a, attrs::WORKFLOW, r.session_context.workflow_id.as_deref());
    model::push_str(&mut a, attrs::WORKTREE, r.session_context.worktree.as_deref());
    model::push_str(&mut a, attrs::GIT_BRANCH, r.session_context.branch.as_deref());
    model::push_str(&mut a, attrs::PERMISSION_MODE, r.metadata.permission_mode.as_deref());
    model::push_str(&mut a, "agent_telemetry.entrypoint", r.metadata.entrypoint.as_deref());
    a
}

fn turn_attrs(r: &JournalRecord, prompt_id: &str) -> Attrs {
    let mut a = common(r, r.session_id.as_deref().unwrap_or(UNKNOWN_SESSION));
    model::push_str(&mut a, attrs::PROMPT_ID, Some(prompt_id));
    model::push_str(&mut a, attrs::TURN_PROMPT_ID, Some(prompt_id));
    if let Some(c) = &r.command_context {
        model::push_str(&mut a, attrs::SLASH_COMMAND, Some(&c.slash_command));
    }
    // The prompt as the journal kept it (redacted; a digest when prompt capture is off).
    if let Some(p) = r.raw_input.get("prompt").and_then(|p| p.as_str()) {
        model::push_str(&mut a, attrs::PROMPT, Some(crate::enrich::privacy::cap_str(p, 256)));
    }
    if r.event() != HookEvent::UserPromptSubmit {
        model::set(&mut a, "agent_telemetry.span.start_inferred", AttrValue::Bool(true));
    }
    a
}

fn subagent_attrs(r: &JournalRecord, agent_id: &str, run: &str) -> Attrs {
    let mut a = common(r, r.session_id.as_deref().unwrap_or(UNKNOWN_SESSION));
    model::push_str(&mut a, attrs::GEN_AI_OPERATION, Some("invoke_agent"));
    model::push_str(&mut a, attrs::SUBAGENT_ID, Some(agent_id));
    model::push_str(&mut a, attrs::GEN_AI_AGENT_NAME, r.agent_context.agent_type.as_deref());
    if r.event() != HookEvent::SubagentStart {
        model::set(&mut a, "agent_telemetry.span.start_inferred", AttrValue::Bool(true));
    }
    if let Some((_, n)) = run.split_once('#') {
        model::set(&mut a, attrs::SUBAGENT_RUN, AttrValue::Int(n.parse::<i64>().unwrap_or(0) + 1));
    }
    a
}

/// The natural key of run `n` of agent `a`: the agent id for its first run, `<id>#<n>` after.
pub(crate) fn agent_run_key(a: &str, n: u32) -> String {
    if n == 0 {
        a.to_string()
    } else {
        format!("{a}#{n}")
    }
}

fn tool_attrs(r: &JournalRecord, tool: &str, id: &str) -> Attrs {
    let mut a = common(r, r.session_id.as_deref().unwrap_or(UNKNOWN_SESSION));
    model::push_str(&mut a, attrs::GEN_AI_OPERATION, Some("execute_tool"));
    model::push_str(&mut a, attrs::GEN_AI_TOOL_NAME, Some(tool));
    model::push_str(&mut a, attrs::GEN_AI_TOOL_CALL_ID, Some(id));
    model::push_str(
        &mut a,
        attrs::GEN_AI_TOOL_TYPE,
        Some(if tool.starts_with("mcp__") { "extension" } else { "function" }),
    );
    model::push_str(&mut a, attrs::SUBAGENT_ID, r.agent_context.agent_id.as_deref());
    model::push_str(&mut a, attrs::EVENT_TYPE, Some(&r.event_type));
    if r.event() != HookEvent::PreToolUse {
        model::set(&mut a, "agent_telemetry.span.start_inferred", AttrValue::Bool(true));
    }
    a
}

/// A finding as the GenAI guardrail conventions' `gen_ai.guardrail.security.finding` event on the
/// tool call's span (`subtype` `tool_call`) or on the turn's for its prompt (`message`): our
/// policy is the guardrail (`agent-telemetry`), the rule its policy rule, the call's input
/// (PreToolUse, PermissionRequest, a prompt) or output (after the call) its target.
fn guardrail_finding(
    r: &JournalRecord,
    f: &crate::record::Finding,
    subtype: &str,
    target_id: Option<&str>,
) -> SpanEventItem {
    let denied = r.security.decision.as_deref() == Some("deny");
    let target = if r.event().ends_tool_call() { "output" } else { "input" };
    // The conventions suggest OWASP LLM Top 10 names; a category with none keeps ours as `custom:`.
    let risk = match f.category.as_str() {
        "secret_exposure" | "sensitive_file" => "sensitive_info_disclosure".to_string(),
        "risky_command" | "outside_project" => "excessive_agency".to_string(),
        other => format!("custom:{other}"),
    };
    let mut a: Attrs = Vec::new();
    model::push_str(&mut a, attrs::GUARDRAIL_POLICY_ID, Some("agent-telemetry"));
    model::push_str(&mut a, attrs::GUARDRAIL_RULE_ID, Some(&f.rule));
    model::push_str(&mut a, attrs::GUARDRAIL_RISK_CATEGORY, Some(&risk));
    model::push_str(&mut a, attrs::GUARDRAIL_TARGET_TYPE, Some(target));
    model::push_str(&mut a, attrs::GUARDRAIL_TARGET_SUBTYPE, Some(subtype));
    model::push_str(&mut a, attrs::GUARDRAIL_TARGET_ID, target_id);
    model::push_str(&mut a, attrs::GUARDRAIL_VERDICT, Some(if f.action == "deny" { "deny" } else { "warn" }));
    model::push_str(&mut a, attrs::GUARDRAIL_ACTION, Some(if denied { "block" } else { "audit" }));
    model::push_str(&mut a, attrs::GUARDRAIL_VERDICT_REASON, Some(f.description.as_str()));
    model::push_str(&mut a, attrs::GUARDRAIL_COMPONENT, Some("agent-telemetry"));
    model::push_str(&mut a, "agent_telemetry.security.category", Some(&f.category));
    model::push_str(&mut a, "agent_telemetry.security.severity", Some(f.severity.as_str()));
    SpanEventItem { name: attrs::GUARDRAIL_FINDING.to_string(), time: r.time_unix_nano, attrs: a }
}

/// Facts about a tool call, merged from its Pre and Post records.
fn add_tool_details(span: &mut SpanItem, r: &JournalRecord) {
    let a = &mut span.attrs;
    let d = &r.action_details;
    model::push_str(a, attrs::FILE_PATH, d.resolved_path.as_deref().or(d.file_path.as_deref()));
    model::push_str(a, attrs::COMMAND, d.command.as_deref());
    model::push_str(a, attrs::URL, d.url.as_deref());
    model::push_str(a, attrs::SEARCH_PATTERN, d.search_pattern.as_deref());
    model::push_str(a, "agent_telemetry.subagent_type", d.subagent_type.as_deref());
    if d.outside_project_scope {
        model::set(a, attrs::OUTSIDE_PROJECT, AttrValue::Bool(true));
    }
    if r.security.sensitive_access {
        model::set(a, attrs::SENSITIVE, AttrValue::Bool(true));
    }
    if !r.security.findings.is_empty() {
        let mut rules: Vec<String> = match a.iter().find(|(k, _)| k == attrs::RULES) {
            Some((_, AttrValue::StrArray(v))) => v.clone(),
            _ => Vec::new(),
        };
        for f in &r.security.findings {
            if !rules.contains(&f.rule) {
                rules.push(f.rule.clone());
            }
        }
        model::set(a, attrs::RULES, AttrValue::StrArray(rules));
    }
    let call_id = r.tool_context.as_ref().and_then(|t| t.tool_use_id.as_deref());
    for f in &r.security.findings {
        span.events.push(guardrail_finding(r, f, "tool_call", call_id));
    }
    let a = &mut span.attrs;
    if let Some(risk) = r.security.risk {
        let prev = a.iter().find(|(k, _)| k == attrs::RISK).and_then(|(_, v)| match v {
            AttrValue::Str(s) => Some(s.clone()),
            _ => None,
        });
        let rank = |s: &str| ["low", "medium", "high", "critical"].iter().position(|x| *x == s).unwrap_or(0);
        if prev.as_deref().is_none_or(|p| rank(risk.as_str()) > rank(p)) {
            model::set(a, attrs::RISK, AttrValue::Str(risk.as_str().into()));
        }
    }
    if r.security.redactions > 0 {
        model::set(a, attrs::REDACTIONS, AttrValue::Int(r.security.redactions as i64));
    }
    if let Some(ms) = r.tool_context.as_ref().and_then(|t| t.duration_ms) {
        model::set(a, attrs::DURATION_MS, AttrValue::Int(ms as i64));
    }
    if let Some(c) = &r.change {
        model::set(a, attrs::LINES_ADDED, AttrValue::Int(c.lines_added as i64));
        model::set(a, attrs::LINES_REMOVED, AttrValue::Int(c.lines_removed as i64));
    }
    if let Some(status) = r.tool_context.as_ref().and_then(|t| t.status.as_deref()) {
        model::push_str(a, "agent_telemetry.agent.status", Some(status));
        if status == "async_launched" {
            model::set(a, attrs::BACKGROUND, AttrValue::Bool(true));
        }
    }
    if let Some(spawned) = r.tool_context.as_ref().and_then(|t| t.spawned_agent_id.as_deref()) {
        model::push_str(a, "agent_telemetry.spawned_agent_id", Some(spawned));
    }
    if r.security.decision.as_deref() == Some("deny") {
        model::push_str(a, "agent_telemetry.security.decision", Some("deny"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sid: &str, ev: &str, t: u64, agent: Option<&str>) -> JournalRecord {
        let mut r = JournalRecord {
            session_id: Some(sid.into()),
            hook_event: ev.into(),
            time_unix_nano: t,
            ..JournalRecord::default()
        };
        r.agent_context.agent_id = agent.map(str::to_string);
        r
    }

    /// A long-lived relay remembers what is open, not its whole history: ended sessions (and
    /// their subagents) beyond the most recent ones, and sessions closed by the inactivity
    /// timeout, are forgotten (the soak's relay grew to 485 MiB without this).
    #[test]
    fn state_stays_bounded_over_many_sessions() {
        let mut a = Assembler::default();
        let mut out = Output::default();
        let t0 = 1_700_000_000_000_000_000u64;
        let n = 3 * MAX_ENDED_SESSIONS;
        for i in 0..n {
            let sid = format!("s{i}");
            let t = t0 + i as u64 * 1_000_000;
            a.process(&rec(&sid, "SessionStart", t, None), &mut out);
            a.process(&rec(&sid, "SubagentStart", t + 1, Some(&format!("ag{i}"))), &mut out);
            a.process(&rec(&sid, "SubagentStop", t + 2, Some(&format!("ag{i}"))), &mut out);
            // Every third session never ends: the timeout closes it.
            if i % 3 != 0 {
                a.process(&rec(&sid, "SessionEnd", t + 3, None), &mut out);
            }
        }
        let now = t0 + n as u64 * 1_000_000 + 10 * 1_000_000_000;
        a.sweep(now, 5 * 1_000_000_000, &mut out);
        assert!(a.sessions.len() <= MAX_ENDED_SESSIONS, "{} sessions kept", a.sessions.len());
        assert!(
            a.agent_runs.len() <= MAX_ENDED_SESSIONS && a.agent_sessions.len() <= MAX_ENDED_SESSIONS,
            "{} agents kept",
            a.agent_runs.len()
        );
        assert_eq!(a.open_count(), 0, "everything closed");
        // The most recent are the ones kept.
        assert!(a.sessions.contains_key(&format!("s{}", n - 1)));
        assert!(!a.sessions.contains_key("s1"));
        // An hour later, none.
        a.sweep(now + 3601 * 1_000_000_000, 5 * 1_000_000_000, &mut out);
        assert!(a.sessions.is_empty() && a.agent_runs.is_empty() && a.agent_parents.is_empty());
    }
}
