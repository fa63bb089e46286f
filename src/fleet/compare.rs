//! `fleet compare`: the agents of a fleet side by side — how much each did (sessions, records,
//! turns, tool calls, subagents, active from/to), how often its tools failed, which tools it
//! used most, what it was flagged for, and what it cost (tokens, model calls, estimated USD) —
//! from the forensics index. An agent is a fleet agent id (`agent_context.fleet_agent_id`);
//! sessions without one are one row, `agent: null`.
//!
//! Counted over whole sessions that overlap the time window (as `sessions --since/--until`
//! selects them), so the rows add up to what `sessions` lists.
//!
//! Hook overhead: every record the hook writes carries its own time on the event
//! (`metadata.hook_us`: from the hook's start to the line's encoding under the journal lock;
//! not the process start before `main` nor the write), summarised per agent as median, p99
//! and max over its records. `just bench-hook` measures the whole process from outside.

use super::conflicts::project_condition;
use crate::forensics::index::Index;
use crate::forensics::sessions::{clip, count, Findings, Tokens};
use crate::forensics::summary;
use crate::forensics::Style;
use crate::text::escape_terminal;
use rusqlite::types::Value as SqlValue;
use std::collections::{BTreeMap, HashMap};

/// Tool calls of one tool.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ToolCount {
    pub tool: String,
    pub calls: u64,
    pub failures: u64,
}

/// One agent's row.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct AgentRow {
    /// The fleet agent id; null for sessions without one.
    pub agent: Option<String>,
    pub agent_groups: Vec<String>,
    pub projects: Vec<String>,
    pub sessions: u64,
    pub first: String,
    pub last: String,
    pub records: u64,
    pub turns: u64,
    pub tool_calls: u64,
    /// Calls that ended in PostToolUseFailure.
    pub tool_failures: u64,
    /// `tool_failures / tool_calls`; null without tool calls.
    pub error_rate: Option<f64>,
    /// PostToolUseFailure and StopFailure records (as `sessions` counts errors).
    pub errors: u64,
    pub subagents: u64,
    /// Every tool, most calls first.
    pub tools: Vec<ToolCount>,
    pub findings: Findings,
    /// 0–100: the risk score's formula (`enrich::risk`) over the findings of all its sessions.
    pub risk: u8,
    /// Null when no session of the agent carries token usage.
    pub tokens: Option<Tokens>,
    pub model_calls: u64,
    pub cost_usd: Option<f64>,
    pub unpriced_calls: u64,
    /// The hook's own time on the agent's events; null when no record carries it (records the
    /// relay wrote, or journals from before it was recorded).
    pub hook: Option<HookTiming>,
}

/// The hook's time on an agent's events (`metadata.hook_us`), in µs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct HookTiming {
    /// Records that carry the timing.
    pub events: u64,
    pub median_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl HookTiming {
    /// Nearest-rank percentiles of the timings (sorted here); `None` for none.
    #[cfg(test)]
    pub(crate) fn of(mut us: Vec<u64>) -> Option<HookTiming> {
        if us.is_empty() {
            return None;
        }
        us.sort_unstable();
        let rank = |p: f64| us[((p * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1];
        Some(HookTiming { events: us.len() as u64, median_us: rank(0.5), p99_us: rank(0.99), max_us: us[us.len() - 1] })
    }

    /// Nearest-rank percentiles from (value, count) pairs sorted by value (counts above zero).
    pub(crate) fn of_counts(counts: &[(u64, u64)]) -> Option<HookTiming> {
        let n: u64 = counts.iter().map(|(_, c)| c).sum();
        if n == 0 {
            return None;
        }
        let rank = |p: f64| {
            let k = ((p * n as f64).ceil() as u64).clamp(1, n);
            let mut seen = 0;
            for &(v, c) in counts {
                seen += c;
                if seen >= k {
                    return v;
                }
            }
            counts[counts.len() - 1].0
        };
        Some(HookTiming { events: n, median_us: rank(0.5), p99_us: rank(0.99), max_us: counts[counts.len() - 1].0 })
    }
}

/// Counts per value: an array for the usual values (under 65.536 ms), a map for the rest.
#[derive(Default)]
struct Counts {
    small: Vec<u64>,
    large: HashMap<u64, u64>,
}

impl Counts {
    const SMALL: u64 = 1 << 16;

    fn add(&mut self, v: u64, n: u64) {
        if v < Self::SMALL {
            if self.small.is_empty() {
                self.small = vec![0; Self::SMALL as usize];
            }
            self.small[v as usize] += n;
        } else {
            *self.large.entry(v).or_default() += n;
        }
    }

    /// (value, count) pairs with a count, by value.
    fn sorted(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> =
            self.small.iter().enumerate().filter(|(_, n)| **n > 0).map(|(v, n)| (v as u64, *n)).collect();
        let mut large: Vec<(u64, u64)> = self.large.iter().map(|(v, n)| (*v, *n)).collect();
        large.sort_unstable();
        out.extend(large);
        out
    }
}

/// One row per agent, most tool calls first.
pub(crate) fn compare(index: &Index, f: &super::SessionFilters) -> super::Result<Vec<AgentRow>> {
    let mut conds = vec!["s.records > 0".to_string()];
    let mut params: Vec<SqlValue> = Vec::new();
    super::window_conditions(f.since, f.until, "s.start", "s.last", &mut params, &mut conds);
    if let Some(p) = &f.project {
        let c = project_condition(p, &mut params);
        conds.push(c);
    }
    let tx = index.conn.unchecked_transaction()?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS fleet_selected (sess INTEGER PRIMARY KEY); DELETE FROM fleet_selected;",
    )?;
    tx.execute(
        &format!("INSERT INTO fleet_selected SELECT s.sess FROM sessions s WHERE {}", conds.join(" AND ")),
        rusqlite::params_from_iter(params),
    )?;
    let mut rows: BTreeMap<Option<String>, AgentRow> = BTreeMap::new();
    {
        let mut st = tx.prepare(
            "SELECT s.agent, NULL, NULL, COUNT(*), MIN(s.start), MAX(s.last),
               SUM(s.records), SUM(s.turns), SUM(s.tools), SUM(s.errors), SUM(s.subagents),
               SUM(s.f_critical), SUM(s.f_high), SUM(s.f_medium), SUM(s.f_low),
               SUM(s.in_tok), SUM(s.out_tok), SUM(s.cache_read), SUM(s.cache_create), COUNT(s.in_tok) + COUNT(s.out_tok),
               SUM(s.model_calls), SUM(s.cost), SUM(s.unpriced_calls)
             FROM sessions s JOIN fleet_selected x ON x.sess = s.sess GROUP BY s.agent",
        )?;
        let mut q = st.query([])?;
        while let Some(r) = q.next()? {
            let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0) as u64) };
            let agent: Option<String> = r.get(0)?;
            let has_tokens = n(19)? > 0;
            rows.insert(
                agent.clone(),
                AgentRow {
                    agent,
                    agent_groups: Vec::new(),
                    projects: Vec::new(),
                    sessions: n(3)?,
                    first: crate::timefmt::rfc3339_nanos(n(4)?),
                    last: crate::timefmt::rfc3339_nanos(n(5)?),
                    records: n(6)?,
                    turns: n(7)?,
                    tool_calls: n(8)?,
                    tool_failures: 0,
                    error_rate: None,
                    errors: n(9)?,
                    subagents: n(10)?,
                    tools: Vec::new(),
                    findings: Findings { critical: n(11)?, high: n(12)?, medium: n(13)?, low: n(14)? },
                    risk: 0,
                    tokens: has_tokens.then(|| Tokens {
                        input: n(15).unwrap_or(0),
                        output: n(16).unwrap_or(0),
                        cache_read: n(17).unwrap_or(0),
                        cache_creation: n(18).unwrap_or(0),
                    }),
                    model_calls: n(20)?,
                    cost_usd: r.get(21)?,
                    unpriced_calls: n(22)?,
                    hook: None,
                },
            );
        }
    }
    {
        // Groups and projects, each once (names may hold any character: not concatenated).
        let mut st = tx.prepare("SELECT DISTINCT s.agent, s.agent_group, COALESCE(s.project_name, s.project) FROM sessions s JOIN fleet_selected x ON x.sess = s.sess")?;
        let mut q = st.query([])?;
        while let Some(r) = q.next()? {
            let agent: Option<String> = r.get(0)?;
            let Some(row) = rows.get_mut(&agent) else { continue };
            for (list, v) in [
                (&mut row.agent_groups, r.get::<_, Option<String>>(1)?),
                (&mut row.projects, r.get::<_, Option<String>>(2)?),
            ] {
                if let Some(v) = v.filter(|v| !list.contains(v)) {
                    list.push(v);
                }
            }
        }
    }
    // The selected sessions' agents, numbered (summed here: SQL's GROUP BY over the per-session
    // rows sorts hundreds of thousands of texts at fleet scale).
    let agents: Vec<Option<String>> = rows.keys().cloned().collect();
    let agent_of: HashMap<i64, usize> = {
        let number: HashMap<&Option<String>, usize> = agents.iter().enumerate().map(|(i, a)| (a, i)).collect();
        let mut st = tx.prepare("SELECT x.sess, s.agent FROM fleet_selected x JOIN sessions s ON s.sess = x.sess")?;
        let mut q = st.query([])?;
        let mut out = HashMap::new();
        while let Some(r) = q.next()? {
            if let Some(&i) = number.get(&r.get::<_, Option<String>>(1)?) {
                out.insert(r.get::<_, i64>(0)?, i);
            }
        }
        out
    };
    {
        // Tool calls per agent and tool: distinct tool_use ids per session (as `sessions`
        // counts them), and those that failed, from the per-session summary.
        let mut tools: Vec<HashMap<Option<String>, (u64, u64)>> = vec![HashMap::new(); agents.len()];
        let mut st = tx.prepare("SELECT t.sess, t.tool, t.calls, t.failures FROM session_tools t")?;
        let mut q = st.query([])?;
        while let Some(r) = q.next()? {
            let Some(&a) = agent_of.get(&r.get::<_, i64>(0)?) else { continue };
            let tool = r.get_ref(1)?.as_str_or_null().map_err(rusqlite::Error::from)?;
            let (calls, failures) = (r.get::<_, i64>(2)?.max(0) as u64, r.get::<_, i64>(3)?.max(0) as u64);
            let slot = tools[a].entry(tool.map(str::to_string)).or_default();
            slot.0 += calls;
            slot.1 += failures;
        }
        for (agent, tools) in agents.iter().zip(tools) {
            let Some(row) = rows.get_mut(agent) else { continue };
            for (tool, (calls, failures)) in tools {
                row.tools.push(ToolCount { tool: tool.unwrap_or_else(|| "-".into()), calls, failures });
                row.tool_failures += failures;
            }
        }
    }
    {
        // The hook's timings per agent: the sessions' histograms merged (a record's value is one
        // count: millions of them at fleet scale, merged into a table of their few values).
        let mut hist: BTreeMap<Option<String>, Counts> = BTreeMap::new();
        let mut st = tx.prepare(
            "SELECT s.agent, h.hist FROM fleet_selected x JOIN sessions s ON s.sess = x.sess JOIN session_hook h ON h.sess = x.sess",
        )?;
        let mut q = st.query([])?;
        while let Some(r) = q.next()? {
            let agent: Option<String> = r.get(0)?;
            if !rows.contains_key(&agent) {
                continue;
            }
            let counts = hist.entry(agent).or_default();
            summary::decode_hist(r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?, |v, n| counts.add(v, n));
        }
        for (agent, counts) in hist {
            if let Some(row) = rows.get_mut(&agent) {
                row.hook = HookTiming::of_counts(&counts.sorted());
            }
        }
    }
    {
        // Findings per agent, rule and severity, for the risk score.
        let mut counts: HashMap<(usize, i64, i64), u64> = HashMap::new();
        let mut st = tx.prepare("SELECT f.sess, f.rule, f.severity FROM findings f WHERE f.sess IS NOT NULL")?;
        let mut q = st.query([])?;
        while let Some(r) = q.next()? {
            let Some(&a) = agent_of.get(&r.get::<_, i64>(0)?) else { continue };
            *counts.entry((a, r.get(1)?, r.get(2)?)).or_default() += 1;
        }
        let rule_names: HashMap<i64, String> = tx
            .prepare("SELECT id, rule FROM rules")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut tallies: Vec<crate::enrich::risk::Tally> = vec![Default::default(); agents.len()];
        for ((a, rule, sev), n) in counts {
            let Some(name) = rule_names.get(&rule) else { continue };
            tallies[a].add(name, crate::forensics::sessions::severity_of(sev), n);
        }
        for (agent, tally) in agents.iter().zip(&tallies) {
            if let Some(row) = rows.get_mut(agent) {
                row.risk = tally.score();
            }
        }
    }
    tx.execute_batch("DROP TABLE fleet_selected;")?;
    tx.finish()?;
    let mut out: Vec<AgentRow> = rows.into_values().collect();
    for r in &mut out {
        r.agent_groups.sort();
        r.projects.sort();
        r.tools.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
        r.error_rate = (r.tool_calls > 0).then(|| r.tool_failures as f64 / r.tool_calls as f64);
    }
    out.sort_by(|a, b| b.tool_calls.cmp(&a.tool_calls).then_with(|| a.agent.cmp(&b.agent)));
    Ok(out)
}

/// The human table; the tool mix shows the three most used tools.
pub(crate) fn render(rows: &[AgentRow], style: Style) -> String {
    let mut out = style.dim(&format!(
        "{:<18}  {:>4}  {:>7}  {:>5}  {:>6}  {:>6}  {:>4}  {:<36}  {:<15}  {:>4}  {:>9}  {:>8}  {:>13}  {:<16}  {:<16}\n",
        "AGENT",
        "SESS",
        "RECORDS",
        "TURNS",
        "TOOLS",
        "ERR %",
        "SUB",
        "TOP TOOLS",
        "FINDINGS c/h/m/l",
        "RISK",
        "TOKENS",
        "COST $",
        "HOOK ms p50/99",
        "FIRST (UTC)",
        "LAST"
    ));
    for r in rows {
        let agent = r.agent.clone().unwrap_or_else(|| "(no fleet id)".into());
        let rate = r.error_rate.map(|e| format!("{:.1}", e * 100.0)).unwrap_or_else(|| "-".into());
        let rate = if r.tool_failures > 0 { style.red(&format!("{rate:>6}")) } else { format!("{rate:>6}") };
        let top: Vec<String> = r.tools.iter().take(3).map(|t| format!("{} {}", t.tool, t.calls)).collect();
        let f = &r.findings;
        let findings = format!("{}/{}/{}/{}", f.critical, f.high, f.medium, f.low);
        let findings =
            if f.critical + f.high > 0 { style.red(&format!("{findings:<15}")) } else { format!("{findings:<15}") };
        let tokens = r.tokens.as_ref().map(|t| count(t.input + t.output)).unwrap_or_else(|| "-".into());
        let cost = match (r.cost_usd, r.unpriced_calls) {
            (Some(c), 0) => format!("{c:.4}"),
            (Some(c), _) => format!("{c:.4}*"),
            (None, 0) => "-".into(),
            (None, _) => "*".into(),
        };
        let hook = r
            .hook
            .as_ref()
            .map(|h| format!("{:.2}/{:.2}", h.median_us as f64 / 1000.0, h.p99_us as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<18}  {:>4}  {:>7}  {:>5}  {:>6}  {}  {:>4}  {:<36}  {}  {}  {:>9}  {:>8}  {:>13}  {:<16}  {:<16}\n",
            escape_terminal(&clip(&agent, 18)),
            r.sessions,
            r.records,
            r.turns,
            r.tool_calls,
            rate,
            r.subagents,
            escape_terminal(&clip(&top.join(", "), 36)),
            findings,
            crate::forensics::sessions::risk_cell(r.risk, style),
            tokens,
            cost,
            hook,
            super::short_time(&r.first),
            super::short_time(&r.last)
        ));
    }
    out.push_str(&style.dim(&format!(
        "{} agent(s); ERR % = failed tool calls / tool calls; HOOK = the hook's own time per event (start to journal write; process start not included)\n",
        rows.len()
    )));
    out
}

#[cfg(test)]
mod tests {
    use super::HookTiming;

    #[test]
    fn hook_timing_is_nearest_rank() {
        assert_eq!(HookTiming::of(Vec::new()), None);
        let t = HookTiming::of((1..=100).rev().collect()).unwrap();
        assert_eq!((t.events, t.median_us, t.p99_us, t.max_us), (100, 50, 99, 100));
        let one = HookTiming::of(vec![7]).unwrap();
        assert_eq!((one.median_us, one.p99_us, one.max_us), (7, 7, 7));
        // p99 of 1,000: the 990th value, not the largest.
        let t = HookTiming::of((1..=1000).collect()).unwrap();
        assert_eq!((t.median_us, t.p99_us), (500, 990));
        // From counts: the same as from the values.
        for values in [vec![7u64], (1..=1000).collect(), vec![5, 5, 5, 9, 1, 1, 300, 5, 9, 9, 9]] {
            let mut counts = std::collections::BTreeMap::new();
            for v in &values {
                *counts.entry(*v).or_insert(0u64) += 1;
            }
            let pairs: Vec<(u64, u64)> = counts.into_iter().collect();
            assert_eq!(HookTiming::of_counts(&pairs), HookTiming::of(values));
        }
    }
}
