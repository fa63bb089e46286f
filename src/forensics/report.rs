//! `report SESSION -o report.html`: one self-contained HTML file for a session — a waterfall
//! (one bar per span), the span tree (collapsible, `<details>`: no script), findings with their
//! rule descriptions, files touched (read / written / outside), commands run, tokens; each model
//! call (`chat` span) with its tokens and cost, from the transcripts or the `model_call` records.
//!
//! No network, no script, no external font: a Content-Security-Policy of `default-src 'none'`
//! with inline styles only, so the page cannot load or send anything even if a record's text
//! tried. Every string from a record is HTML-escaped.

use super::sessions::SessionRow;
use crate::assemble::tree::TreeSpan;
use crate::record::JournalRecord;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

/// HTML text and attribute escaping (control characters shown as `\u{..}` like the terminal).
pub(crate) fn esc(s: &str) -> String {
    let s = crate::text::escape_terminal(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
code,.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.summary td:first-child{color:#666}
.wf{position:relative;width:100%}
.wf .row{display:flex;align-items:center;height:18px;font-size:12px}
.wf .label{width:32%;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;font-family:ui-monospace,monospace}
.wf .track{position:relative;flex:1;height:12px;background:#f4f4f6}
.wf .bar{position:absolute;top:0;height:12px;min-width:2px;background:#4a7bd0}
.bar.turn{background:#8a63d2}.bar.agent{background:#2a9d8f}.bar.chat{background:#b0b0b8}.bar.session{background:#264653}
.bar.error{background:#d62828}.bar.open{opacity:.5}
details{margin-left:1.1em}summary{cursor:pointer}.leaf{margin-left:2.2em}
.sev-critical,.sev-high{color:#b00020;font-weight:600}.sev-medium,.sev-low{color:#9a6700}
.err{color:#b00020}.out{color:#9a6700}.dim{color:#777}.usage{color:#555;font-size:12px}
";

fn children_of(spans: &[TreeSpan]) -> (Vec<&TreeSpan>, BTreeMap<&str, Vec<&TreeSpan>>) {
    let mut seen = HashSet::new();
    let spans: Vec<&TreeSpan> = spans.iter().filter(|s| seen.insert(s.span_id.as_str())).collect();
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut kids: BTreeMap<&str, Vec<&TreeSpan>> = BTreeMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s.parent.as_deref().filter(|p| ids.contains(p)) {
            Some(p) => kids.entry(p).or_default().push(s),
            None => roots.push(s),
        }
    }
    for v in kids.values_mut() {
        v.sort_by_key(|s| (s.start, s.span_id.clone()));
    }
    roots.sort_by_key(|s| (s.start, s.span_id.clone()));
    (roots, kids)
}

fn kind(s: &TreeSpan) -> &'static str {
    if s.name == "invoke_agent claude-code" {
        "session"
    } else if s.name.starts_with("invoke_agent") {
        "agent"
    } else if s.name == "turn" {
        "turn"
    } else if s.name.starts_with("chat") {
        "chat"
    } else {
        "tool"
    }
}

/// A span's tokens and cost (a model call's own; a turn's, agent's or session's totals).
fn usage(s: &TreeSpan) -> String {
    let a = &s.attrs;
    let mut parts = Vec::new();
    for (k, label) in [
        ("gen_ai.usage.input_tokens", "in"),
        ("gen_ai.usage.output_tokens", "out"),
        ("gen_ai.usage.cache_read.input_tokens", "cache read"),
        ("gen_ai.usage.cache_write.input_tokens", "cache write"),
        ("agent_telemetry.usage.cache_read.input_tokens", "cache read"),
        ("agent_telemetry.usage.cache_write.input_tokens", "cache write"),
    ] {
        if let Some(v) = a.get(k) {
            parts.push(format!("{label} {v}"));
        }
    }
    if let Some(n) = a.get("agent_telemetry.usage.requests").filter(|_| kind(s) != "chat") {
        parts.push(format!("{n} call(s)"));
    }
    if let Some(usd) = a.get("agent_telemetry.cost.usd").and_then(|v| v.parse::<f64>().ok()) {
        let unpriced =
            a.get("agent_telemetry.cost.unpriced_requests").map(|n| format!(" + {n} unpriced")).unwrap_or_default();
        parts.push(format!("${usd:.4}{unpriced}"));
    }
    parts.join(" · ")
}

fn detail(s: &TreeSpan) -> String {
    let a = &s.attrs;
    a.get("agent_telemetry.command")
        .or_else(|| a.get("agent_telemetry.file_path"))
        .or_else(|| a.get("agent_telemetry.url"))
        .or_else(|| a.get("agent_telemetry.prompt"))
        .map(|d| super::sessions::clip(d, 120))
        .unwrap_or_default()
}

/// The whole page.
pub(crate) fn render(sid: &str, summary: Option<&SessionRow>, records: &[JournalRecord], spans: &[TreeSpan]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n<title>agent-telemetry session {}</title>\n<style>{STYLE}</style></head><body>\n<h1>Session <span class=\"mono\">{}</span></h1>\n",
        esc(sid),
        esc(sid)
    );
    // Summary.
    h.push_str("<table class=\"summary\">");
    if let Some(s) = summary {
        let row = |h: &mut String, k: &str, v: String| {
            let _ = write!(h, "<tr><td>{k}</td><td>{v}</td></tr>");
        };
        row(&mut h, "start", esc(&s.start));
        row(&mut h, "end", format!("{} ({})", esc(&s.end), s.status));
        row(&mut h, "project", esc(s.project.as_deref().unwrap_or("-")));
        row(&mut h, "agent", esc(s.agent.as_deref().unwrap_or("-")));
        if let Some(p) = &s.parent_session {
            row(&mut h, "started by session", format!("<span class=\"mono\">{}</span>", esc(p)));
        }
        row(&mut h, "records", s.records.to_string());
        row(&mut h, "turns / tool calls / errors", format!("{} / {} / {}", s.turns, s.tool_calls, s.errors));
        row(&mut h, "subagents / child sessions", format!("{} / {}", s.subagents, s.child_sessions));
        let f = &s.findings;
        row(
            &mut h,
            "findings (critical / high / medium / low)",
            format!("{} / {} / {} / {}", f.critical, f.high, f.medium, f.low),
        );
        row(&mut h, "risk (0–100)", format!("<span id=\"risk\">{}</span>", s.risk));
        row(
            &mut h,
            "model calls / cost",
            match (s.model_calls, s.cost_usd) {
                (0, _) => "none recorded".into(),
                (n, Some(c)) => format!(
                    "{n} / ${c:.4}{}",
                    if s.unpriced_calls > 0 { format!(" (+ {} unpriced)", s.unpriced_calls) } else { String::new() }
                ),
                (n, None) => format!("{n} / not priced"),
            },
        );
        row(
            &mut h,
            "tokens",
            match &s.tokens {
                Some(t) => format!(
                    "input {} · output {} · cache read {} · cache creation {}",
                    t.input, t.output, t.cache_read, t.cache_creation
                ),
                None => "not recorded".into(),
            },
        );
    }
    h.push_str("</table>\n");

    // Waterfall: one bar per span, in tree order.
    let (roots, kids) = children_of(spans);
    // The scale is the session's own (its root spans): model-call spans carry the transcript's
    // clock, which may differ from the hook's; a bar outside is clamped to the edge.
    let t0 = roots.iter().map(|s| s.start).min().unwrap_or(0);
    let t1 = roots.iter().map(|s| s.end.max(s.start)).max().unwrap_or(t0).max(t0 + 1);
    let total = (t1 - t0) as f64;
    let _ = write!(
        h,
        "<h2>Waterfall</h2>\n<p class=\"dim\">{} span(s) over {}</p>\n<div class=\"wf\" id=\"waterfall\">\n",
        kids.values().map(Vec::len).sum::<usize>() + roots.len(),
        super::time::duration(t1 - t0)
    );
    fn bars(s: &TreeSpan, depth: usize, kids: &BTreeMap<&str, Vec<&TreeSpan>>, t0: u64, total: f64, h: &mut String) {
        let left = ((s.start.saturating_sub(t0)) as f64 / total * 100.0).min(100.0);
        let width = ((s.end.saturating_sub(s.start)) as f64 / total * 100.0).min(100.0 - left);
        let mut class = format!("bar {}", kind(s));
        if s.error.is_some() {
            class.push_str(" error");
        }
        if s.attrs.get("agent_telemetry.span.open").is_some_and(|v| v == "true") {
            class.push_str(" open");
        }
        let _ = writeln!(
            h,
            "<div class=\"row\"><div class=\"label\" style=\"padding-left:{}em\" title=\"{}\">{}</div><div class=\"track\"><div class=\"{class}\" data-span=\"{}\" style=\"left:{left:.3}%;width:{width:.3}%\" title=\"{} {}\"></div></div></div>",
            depth,
            esc(&detail(s)),
            esc(&s.name),
            esc(&s.span_id),
            esc(&s.name),
            super::time::duration(s.end.saturating_sub(s.start))
        );
        for k in kids.get(s.span_id.as_str()).into_iter().flatten() {
            bars(k, depth + 1, kids, t0, total, h);
        }
    }
    for r in &roots {
        bars(r, 0, &kids, t0, total, &mut h);
    }
    h.push_str("</div>\n");

    // The tree.
    h.push_str("<h2>Tree</h2>\n<div id=\"tree\">\n");
    fn node(s: &TreeSpan, kids: &BTreeMap<&str, Vec<&TreeSpan>>, h: &mut String) {
        let mut line = format!(
            "<b>{}</b> <span class=\"dim\">{}</span> <code>{}</code>",
            esc(&s.name),
            super::time::duration(s.end.saturating_sub(s.start)),
            esc(&detail(s))
        );
        if let Some(e) = &s.error {
            let _ = write!(line, " <span class=\"err\">✗ {}</span>", esc(e.lines().next().unwrap_or("error")));
        }
        if s.attrs.get("agent_telemetry.outside_project_scope").is_some_and(|v| v == "true") {
            line.push_str(" <span class=\"out\">↗ outside project</span>");
        }
        if let Some(rules) = s.attrs.get("agent_telemetry.security.rules") {
            let _ = write!(line, " <span class=\"sev-medium\">⚠ {}</span>", esc(rules));
        }
        let usage = usage(s);
        if !usage.is_empty() {
            let _ = write!(line, " <span class=\"usage\">{}</span>", esc(&usage));
        }
        match kids.get(s.span_id.as_str()) {
            Some(k) => {
                let _ = writeln!(h, "<details open><summary>{line}</summary>");
                for c in k {
                    node(c, kids, h);
                }
                h.push_str("</details>\n");
            }
            None => {
                let _ = writeln!(h, "<div class=\"leaf\">{line}</div>");
            }
        }
    }
    for r in &roots {
        node(r, &kids, &mut h);
    }
    h.push_str("</div>\n");

    // Findings.
    h.push_str("<h2>Findings</h2>\n<table id=\"findings\"><tr><th>seq</th><th>time</th><th>rule</th><th>severity</th><th>what matched</th><th>rule description</th></tr>\n");
    for r in records {
        for f in &r.security.findings {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"sev-{}\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                r.seq,
                esc(&super::time::short_rfc(&r.timestamp)),
                esc(&f.rule),
                f.severity.as_str(),
                f.severity.as_str(),
                esc(&super::sessions::clip(&f.matched, 200)),
                esc(&f.description)
            );
        }
    }
    h.push_str("</table>\n");

    // Files: one row per path, how it was touched.
    let mut files: BTreeMap<String, (bool, bool, bool)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.hook_event == "PreToolUse" || (r.hook_event.starts_with("PostToolUse"))) {
        let Some(p) = r.action_details.resolved_path.clone().or_else(|| r.action_details.file_path.clone()) else {
            continue;
        };
        let e = files.entry(p).or_default();
        match r.tool_name.as_deref() {
            Some("Write" | "Edit" | "MultiEdit" | "NotebookEdit") => e.1 = true,
            _ => e.0 = true,
        }
        e.2 |= r.action_details.outside_project_scope;
    }
    h.push_str("<h2>Files touched</h2>\n<table id=\"files\"><tr><th>path</th><th>read</th><th>written</th><th>outside project</th></tr>\n");
    for (p, (read, written, outside)) in &files {
        let mark = |b: bool| if b { "✓" } else { "" };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"out\">{}</td></tr>",
            esc(p),
            mark(*read),
            mark(*written),
            mark(*outside)
        );
    }
    h.push_str("</table>\n");

    // Commands: each Bash call once, with its outcome.
    h.push_str("<h2>Commands run</h2>\n<table id=\"commands\"><tr><th>seq</th><th>time</th><th>command</th><th>result</th></tr>\n");
    for r in records.iter().filter(|r| r.hook_event.starts_with("PostToolUse") && r.action_details.command.is_some()) {
        let tc = r.tool_context.as_ref();
        let result = match tc.and_then(|t| t.success) {
            Some(false) => format!(
                "<span class=\"err\">✗ {}</span>",
                esc(tc.and_then(|t| t.error.as_deref()).and_then(|e| e.lines().next()).unwrap_or("failed"))
            ),
            _ => "ok".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{result}</td></tr>",
            r.seq,
            esc(&super::time::short_rfc(&r.timestamp)),
            esc(r.action_details.command.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</table>\n");
    let _ = write!(h, "<p class=\"dim\">agent-telemetry {} · generated from the journal; records by seq are the evidence (`agent-telemetry export --session {} --format jsonl`).</p>\n</body></html>\n", env!("CARGO_PKG_VERSION"), esc(sid));
    h
}
