//! `sessions`: one line per session from the index's summary table — when, where, who, how much
//! it did, what it was flagged for, what it cost: tokens and estimated USD, summed over the
//! `model_call` records the relay journals (one per model request, main agent and subagents);
//! a session the relay has not read yet shows the hooks' token readings and no cost.

use super::index::Index;
use super::query::RULE_MATCH;
use super::Style;
use crate::text::escape_terminal;
use rusqlite::types::Value as SqlValue;

#[derive(Debug, Default, Clone)]
pub(crate) struct SessionFilters {
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub project: Option<String>,
    pub agent: Option<String>,
    pub flag: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Findings {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct SessionRow {
    pub session_id: String,
    pub start: String,
    /// The SessionEnd's time when the session ended, else its last record's.
    pub end: String,
    /// `ended`, `open` (a record within the span timeout) or `incomplete` (silent since).
    pub status: &'static str,
    pub project: Option<String>,
    pub project_name: Option<String>,
    pub agent: Option<String>,
    pub agent_group: Option<String>,
    pub parent_session: Option<String>,
    pub worktree: Option<String>,
    pub records: u64,
    pub turns: u64,
    pub tool_calls: u64,
    pub errors: u64,
    pub subagents: u64,
    pub child_sessions: u64,
    pub findings: Findings,
    /// 0–100 from the session's findings (`enrich::risk`, docs/security.md "Risk score").
    pub risk: u8,
    /// Absent when no record of the session carries token usage.
    pub tokens: Option<Tokens>,
    /// Model requests journaled by the relay (`model_call` records).
    pub model_calls: u64,
    /// Estimated USD of the priced ones; absent when none was priced.
    pub cost_usd: Option<f64>,
    /// Requests of models the price table does not know (tokens counted, no cost).
    pub unpriced_calls: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// The sessions matching `f`, oldest first. `now` and `open_for` decide open vs incomplete.
pub(crate) fn list(index: &Index, f: &SessionFilters, now: u64, open_for: u64) -> super::Result<Vec<SessionRow>> {
    list_with(index, f, now, open_for, true)
}

/// As [`list`]; without `risk` every row's risk is 0 (not computed: it reads every finding).
pub(crate) fn list_with(
    index: &Index,
    f: &SessionFilters,
    now: u64,
    open_for: u64,
    risk: bool,
) -> super::Result<Vec<SessionRow>> {
    let mut conds = vec!["s.records > 0".to_string()];
    let mut params: Vec<SqlValue> = Vec::new();
    let p = |v: SqlValue, params: &mut Vec<SqlValue>| {
        params.push(v);
        format!("?{}", params.len())
    };
    if let Some(s) = f.since {
        conds.push(format!("s.last >= {}", p(SqlValue::Integer(s as i64), &mut params)));
    }
    if let Some(u) = f.until {
        conds.push(format!("s.start <= {}", p(SqlValue::Integer(u as i64), &mut params)));
    }
    if let Some(pr) = &f.project {
        let ph = p(SqlValue::Text(pr.clone()), &mut params);
        conds.push(format!("(s.project = {ph} OR s.project_name = {ph} OR s.project GLOB {ph})"));
    }
    if let Some(a) = &f.agent {
        let ph = p(SqlValue::Text(a.clone()), &mut params);
        conds.push(format!("(s.agent = {ph} OR s.agent_group = {ph})"));
    }
    if let Some(flag) = &f.flag {
        let ph = p(SqlValue::Text(super::query::rule_family(flag).to_string()), &mut params);
        conds.push(format!(
            "s.sess IN (SELECT f.sess FROM findings f JOIN rules r ON r.id = f.rule WHERE {})",
            RULE_MATCH.replace("?F", &ph)
        ));
    }
    let q = format!(
        "SELECT s.sid, s.start, s.last, s.end_time, s.ended, s.project, s.project_name, s.agent, s.agent_group, s.parent_sid, s.worktree,
           s.records, s.turns, s.tools, s.errors, s.subagents, (SELECT COUNT(*) FROM sessions c WHERE c.parent_sid = s.sid),
           s.f_critical, s.f_high, s.f_medium, s.f_low, s.in_tok, s.out_tok, s.cache_read, s.cache_create, s.first_seq, s.last_seq,
           s.model_calls, s.cost, s.unpriced_calls
         FROM sessions s WHERE {} ORDER BY s.start, s.first_seq",
        conds.join(" AND ")
    );
    let mut st = index.conn.prepare(&q)?;
    let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0) as u64) };
        let start = n(1)?;
        let last = n(2)?;
        let end_time: Option<i64> = r.get(3)?;
        let ended: bool = r.get(4)?;
        let in_tok: Option<i64> = r.get(21)?;
        let out_tok: Option<i64> = r.get(22)?;
        Ok(SessionRow {
            session_id: r.get(0)?,
            start: crate::timefmt::rfc3339_nanos(start),
            end: crate::timefmt::rfc3339_nanos(if ended { end_time.map(|t| t as u64).unwrap_or(last) } else { last }),
            status: if ended {
                "ended"
            } else if now.saturating_sub(last) < open_for {
                "open"
            } else {
                "incomplete"
            },
            project: r.get(5)?,
            project_name: r.get(6)?,
            agent: r.get(7)?,
            agent_group: r.get(8)?,
            parent_session: r.get(9)?,
            worktree: r.get(10)?,
            records: n(11)?,
            turns: n(12)?,
            tool_calls: n(13)?,
            errors: n(14)?,
            subagents: n(15)?,
            child_sessions: n(16)?,
            findings: Findings { critical: n(17)?, high: n(18)?, medium: n(19)?, low: n(20)? },
            risk: 0,
            tokens: (in_tok.is_some() || out_tok.is_some()).then(|| Tokens {
                input: in_tok.unwrap_or(0) as u64,
                output: out_tok.unwrap_or(0) as u64,
                cache_read: n(23).unwrap_or(0),
                cache_creation: n(24).unwrap_or(0),
            }),
            first_seq: n(25)?,
            last_seq: n(26)?,
            model_calls: n(27)?,
            cost_usd: r.get(28)?,
            unpriced_calls: n(29)?,
        })
    })?;
    let mut rows: Vec<SessionRow> = rows.collect::<Result<_, _>>()?;
    if risk && rows.iter().any(|r| r.findings.critical + r.findings.high + r.findings.medium + r.findings.low > 0) {
        let tallies = risk_tallies(
            index,
            "SELECT s.sid, r.rule, f.severity, COUNT(*) FROM findings f JOIN rules r ON r.id = f.rule JOIN sessions s ON s.sess = f.sess GROUP BY f.sess, f.rule, f.severity",
        )?;
        for row in &mut rows {
            row.risk = tallies.get(&Some(row.session_id.clone())).map(|t| t.score()).unwrap_or(0);
        }
    }
    Ok(rows)
}

/// Findings counted by (rule, severity) per key, from a query returning key, rule, severity
/// rank and count: the input of the risk score (`enrich::risk`).
pub(crate) fn risk_tallies(
    index: &Index,
    sql: &str,
) -> super::Result<std::collections::HashMap<Option<String>, crate::enrich::risk::Tally>> {
    let mut out: std::collections::HashMap<Option<String>, crate::enrich::risk::Tally> = Default::default();
    let mut st = index.conn.prepare(sql)?;
    let mut q = st.query([])?;
    while let Some(r) = q.next()? {
        let sev = severity_of(r.get::<_, i64>(2)?);
        let rule: String = r.get(1)?;
        out.entry(r.get(0)?).or_default().add(&rule, sev, r.get::<_, i64>(3)?.max(0) as u64);
    }
    Ok(out)
}

/// A finding's severity as the index numbers it.
pub(crate) fn severity_of(n: i64) -> crate::record::Severity {
    use crate::record::Severity;
    match n {
        1 => Severity::Low,
        2 => Severity::Medium,
        3 => Severity::High,
        _ => Severity::Critical,
    }
}

/// `12.3k`, `4.5M`.
pub(crate) fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// The human table.
pub(crate) fn render(rows: &[SessionRow], style: Style) -> String {
    let mut out = String::new();
    out.push_str(&style.dim(&format!(
        "{:<19}  {:<19}  {:<10}  {:<36}  {:<16}  {:<14}  {:>5}  {:>5}  {:>4}  {:<15}  {:>4}  {:>9}  {:>8}  {:>4}  {:>5}\n",
        "START (UTC)",
        "END",
        "STATUS",
        "SESSION",
        "PROJECT",
        "AGENT",
        "TURNS",
        "TOOLS",
        "ERR",
        "FINDINGS c/h/m/l",
        "RISK",
        "TOKENS",
        "COST $",
        "SUB",
        "CHILD"
    )));
    for r in rows {
        let end = super::time::short_rfc(&r.end);
        let f = &r.findings;
        let findings = format!("{}/{}/{}/{}", f.critical, f.high, f.medium, f.low);
        let findings = if f.critical + f.high > 0 {
            style.red(&format!("{findings:<15}"))
        } else if f.medium + f.low > 0 {
            style.yellow(&format!("{findings:<15}"))
        } else {
            format!("{findings:<15}")
        };
        let status = match r.status {
            "ended" => format!("{:<10}", "ended"),
            s => style.yellow(&format!("{s:<10}")),
        };
        let project = r.project_name.clone().or_else(|| r.project.clone()).unwrap_or_else(|| "-".into());
        let agent = r.agent.clone().unwrap_or_else(|| "-".into());
        let tokens = r.tokens.as_ref().map(|t| count(t.input + t.output)).unwrap_or_else(|| "-".into());
        // `*`: some requests were of a model with no price (their tokens are counted).
        let cost = match (r.cost_usd, r.unpriced_calls) {
            (Some(c), 0) => format!("{c:.4}"),
            (Some(c), _) => format!("{c:.4}*"),
            (None, 0) => "-".into(),
            (None, _) => "*".into(),
        };
        let sid = match &r.parent_session {
            Some(_) => format!("{} ↖", r.session_id),
            None => r.session_id.clone(),
        };
        out.push_str(&format!(
            "{:<19}  {:<19}  {}  {:<36}  {:<16}  {:<14}  {:>5}  {:>5}  {:>4}  {}  {}  {:>9}  {:>8}  {:>4}  {:>5}\n",
            super::time::short_rfc(&r.start),
            end,
            status,
            escape_terminal(&sid),
            escape_terminal(&clip(&project, 16)),
            escape_terminal(&clip(&agent, 14)),
            r.turns,
            r.tool_calls,
            if r.errors > 0 { style.red(&format!("{:>4}", r.errors)) } else { format!("{:>4}", r.errors) },
            findings,
            risk_cell(r.risk, style),
            tokens,
            cost,
            r.subagents,
            r.child_sessions
        ));
    }
    out.push_str(&style.dim(&format!("{} session(s)\n", rows.len())));
    out
}

/// The risk, 4 wide: red from 50, yellow above 0.
pub(crate) fn risk_cell(risk: u8, style: Style) -> String {
    let text = format!("{risk:>4}");
    match risk {
        0 => text,
        1..=49 => style.yellow(&text),
        _ => style.red(&text),
    }
}

/// At most `n` characters, `…` marking a cut.
pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}
