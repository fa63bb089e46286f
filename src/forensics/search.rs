//! `search`: the records matching the filters, one line each (or one JSON object per line).

use super::query::EventRow;
use super::Style;
use crate::text::escape_terminal;

/// One human line: time, seq, session, agent, event, tool, what it touched, flags.
pub(crate) fn line(r: &EventRow, style: Style) -> String {
    let sid = r.session_id.as_deref().map(|s| s.chars().take(8).collect::<String>()).unwrap_or_else(|| "-".into());
    let agent =
        r.agent_id.as_deref().map(|a| format!(" [sub {}]", a.chars().take(8).collect::<String>())).unwrap_or_default();
    let what = r.command.as_deref().or(r.path.as_deref()).unwrap_or("");
    let what: String = what.chars().take(100).collect();
    let mut flags = Vec::new();
    if r.success == Some(false) {
        flags.push(style.red("✗ failed"));
    }
    if r.outside_project {
        let extra = if r.outside_paths.is_empty() || r.path.as_deref() == r.outside_paths.first().map(String::as_str) {
            String::new()
        } else {
            format!(" {}", escape_terminal(&r.outside_paths.join(" ")))
        };
        flags.push(style.yellow(&format!("↗ outside{extra}")));
    }
    let rules: Vec<&String> = r.rules.iter().filter(|x| !x.starts_with("outside_project")).collect();
    if !rules.is_empty() {
        let text = format!(
            "⚠ {} ({})",
            rules.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", "),
            r.risk.unwrap_or("-")
        );
        flags.push(if matches!(r.risk, Some("high" | "critical")) { style.red(&text) } else { style.yellow(&text) });
    }
    format!(
        "{}  {:>8}  {}{}  {:<18}  {:<10}  {}  {}\n",
        style.dim(&super::time::short_rfc(&r.time)),
        r.seq,
        escape_terminal(&sid),
        escape_terminal(&agent),
        escape_terminal(&r.event),
        escape_terminal(r.tool.as_deref().unwrap_or("-")),
        escape_terminal(&what),
        flags.join("  ")
    )
    .replace("  \n", "\n")
}
