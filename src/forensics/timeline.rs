//! `timeline` and `tree` of one session: its records (and those of its child sessions, started
//! from its Bash calls) read from the journal at the places the index names, in journal order.
//! The tree is the relay's own assembly (`assemble::tree::SpanAssembly`), not a second one.

use super::export::LineReader;
use super::index::Index;
use super::query::{for_each_event, resolve_session, Filters};
use super::{Result, Style};
use crate::record::JournalRecord;
use crate::text::escape_terminal;

/// A session and every session started under it, depth first (ids as stored).
pub(crate) fn family(index: &Index, sid: &str) -> Result<Vec<String>> {
    let mut out = vec![sid.to_string()];
    let mut i = 0;
    let mut st = index.conn.prepare("SELECT sid FROM sessions WHERE parent_sid = ?1 ORDER BY start")?;
    while i < out.len() {
        let kids: Vec<String> = st.query_map([&out[i]], |r| r.get(0))?.collect::<Result<_, _>>()?;
        for k in kids {
            if !out.contains(&k) {
                out.push(k);
            }
        }
        i += 1;
    }
    Ok(out)
}

/// The records of `given` (a session id or a unique prefix) and its child sessions, in journal
/// order; the resolved id first.
pub(crate) fn records(index: &Index, given: &str) -> Result<(String, Vec<JournalRecord>)> {
    let sid = resolve_session(index, given)?;
    let mut lines = LineReader::new(index);
    let mut all: Vec<JournalRecord> = Vec::new();
    for s in family(index, &sid)? {
        let f = Filters { session: Some(s), ..Default::default() };
        for_each_event(index, &f, |row| {
            let line = lines.line(&row)?;
            all.push(serde_json::from_slice(&line)?);
            Ok(())
        })?;
    }
    all.sort_by_key(|r| r.seq);
    Ok((sid, all))
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FindingRef {
    pub rule: String,
    pub severity: &'static str,
}

/// One line of the timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Entry {
    pub seq: u64,
    pub time: String,
    /// Since the session's first record.
    pub offset_ms: u64,
    pub session_id: Option<String>,
    /// Set on records of a child session (not `session_id` itself).
    pub child_session: bool,
    /// Set on a subagent's records.
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub event: String,
    pub tool: Option<String>,
    pub tool_use_id: Option<String>,
    /// A command, a path, a URL, a prompt, a slash command: what the record is about.
    pub detail: Option<String>,
    pub duration_ms: Option<u64>,
    pub success: Option<bool>,
    pub error: Option<String>,
    pub outside_project: bool,
    pub findings: Vec<FindingRef>,
}

pub(crate) fn entries(sid: &str, records: &[JournalRecord]) -> Vec<Entry> {
    let t0 =
        records.iter().filter(|r| r.session_id.as_deref() == Some(sid)).map(|r| r.time_unix_nano).min().unwrap_or(0);
    records
        .iter()
        .map(|r| {
            let d = &r.action_details;
            let prompt = r.raw_input.get("prompt").and_then(|p| p.as_str()).map(String::from);
            let detail = d
                .command
                .clone()
                .or_else(|| d.file_path.clone())
                .or_else(|| d.url.clone())
                .or_else(|| d.search_pattern.clone())
                .or_else(|| {
                    r.command_context
                        .as_ref()
                        .map(|c| format!("{} {}", c.slash_command, c.arguments).trim().to_string())
                })
                .or(prompt)
                .or_else(|| d.description.clone());
            let tc = r.tool_context.as_ref();
            Entry {
                seq: r.seq,
                time: r.timestamp.clone(),
                offset_ms: r.time_unix_nano.saturating_sub(t0) / 1_000_000,
                session_id: r.session_id.clone(),
                child_session: r.session_id.as_deref() != Some(sid),
                agent_id: r.agent_context.agent_id.clone(),
                agent_type: r.agent_context.agent_id.as_ref().and(r.agent_context.agent_type.clone()),
                event: r.hook_event.clone(),
                tool: r.tool_name.clone(),
                tool_use_id: tc.and_then(|t| t.tool_use_id.clone()),
                detail,
                duration_ms: tc.and_then(|t| t.duration_ms),
                success: tc.and_then(|t| t.success),
                error: tc.and_then(|t| t.error.clone()),
                outside_project: d.outside_project_scope || r.security.outside_project_scope,
                findings: r
                    .security
                    .findings
                    .iter()
                    .map(|f| FindingRef { rule: f.rule.clone(), severity: f.severity.as_str() })
                    .collect(),
            }
        })
        .collect()
}

/// The human timeline: offset, who (main, `sub <type>`, `child <id>`), event, tool, detail,
/// duration, flags.
pub(crate) fn render(sid: &str, entries: &[Entry], style: Style) -> String {
    let mut out = format!("session {}  {} record(s)\n", escape_terminal(sid), entries.len());
    for e in entries {
        let who = match (&e.agent_id, e.child_session) {
            (_, true) => {
                format!("child {}", e.session_id.as_deref().unwrap_or("?").chars().take(8).collect::<String>())
            }
            (Some(a), false) => format!("sub {}", e.agent_type.clone().unwrap_or_else(|| a.chars().take(8).collect())),
            (None, false) => "main".to_string(),
        };
        out.push_str(&line(&style.dim(&super::time::offset(e.offset_ms * 1_000_000)), &who, e, style));
    }
    out
}

/// One line of the timeline (with its newline) after its first column, `first` (an offset here,
/// a time of day in `watch`): seq, who, event, tool, detail, duration, flags.
pub(crate) fn line(first: &str, who: &str, e: &Entry, style: Style) -> String {
    let mut flags = Vec::new();
    if let Some(ms) = e.duration_ms {
        flags.push(super::time::duration(ms * 1_000_000));
    }
    if e.success == Some(false) {
        let why = e.error.as_deref().and_then(|x| x.lines().next()).unwrap_or("failed");
        flags.push(style.red(&format!("✗ {}", escape_terminal(&super::sessions::clip(why, 60)))));
    }
    if e.outside_project {
        flags.push(style.yellow("↗ outside project"));
    }
    for f in e.findings.iter().filter(|f| !f.rule.starts_with("outside_project")) {
        let t = format!("⚠ {} ({})", escape_terminal(&f.rule), f.severity);
        flags.push(if matches!(f.severity, "high" | "critical") { style.red(&t) } else { style.yellow(&t) });
    }
    let detail = e.detail.as_deref().map(|d| escape_terminal(&super::sessions::clip(d, 90))).unwrap_or_default();
    let mut out = format!(
        "{:>12}  {:>7}  {:<16}  {:<18}  {:<10}  {}  {}\n",
        first,
        e.seq,
        escape_terminal(&super::sessions::clip(who, 16)),
        escape_terminal(&e.event),
        escape_terminal(e.tool.as_deref().unwrap_or("")),
        detail,
        flags.join("  ")
    )
    .replace("  \n", "\n")
    .trim_end_matches(' ')
    .to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The session's span tree, as the relay assembles it: model calls from the transcripts where
/// they are readable, else from the relay's `model_call` records (a copied data dir).
pub(crate) fn tree(records: &[JournalRecord]) -> Vec<crate::assemble::tree::TreeSpan> {
    let mut asm = crate::assemble::tree::SpanAssembly::default();
    for r in records {
        asm.feed(r);
    }
    let mut spans = asm.finish();
    super::calls::add_recorded(&mut spans, records);
    spans
}
