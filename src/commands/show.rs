//! `agent-telemetry show`: sessions as trace trees in the terminal — tools, subagents, durations,
//! errors and security flags. It reads what the relay wrote (OTLP JSON files, the embedded
//! default) or, with `--journal`, assembles the spans from the journal itself (useful when the
//! relay exports to a collector).

use crate::assemble::tree::{SpanAssembly, TreeSpan};
use crate::config::Config;
use crate::journal::read::read_from;
use crate::text::escape_terminal;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Spans assembled from the journal (finished ones and, marked open, those still running).
pub(crate) fn spans_from_journal(dir: &Path) -> std::io::Result<Vec<TreeSpan>> {
    let mut asm = SpanAssembly::default();
    let mut pos = None;
    loop {
        let entries = read_from(dir, pos.as_ref(), 4096)?;
        if entries.is_empty() {
            break;
        }
        for e in entries {
            if let Ok(r) = &e.record {
                asm.feed(r);
            }
            pos = Some(e.next);
        }
    }
    Ok(asm.finish())
}

/// Spans from OTLP JSON lines files (`ExportTraceServiceRequest` per line).
pub(crate) fn spans_from_otlp_files(dir: &Path) -> std::io::Result<Vec<TreeSpan>> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("traces-") && n.ends_with(".jsonl"))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    files.sort();
    let mut spans = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f)?.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            for rs in v["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for s in ss["spans"].as_array().into_iter().flatten() {
                        spans.push(otlp_span(s));
                    }
                }
            }
        }
    }
    Ok(spans)
}

fn otlp_span(s: &Value) -> TreeSpan {
    let num = |k: &str| s[k].as_str().and_then(|v| v.parse().ok()).or_else(|| s[k].as_u64()).unwrap_or(0);
    let mut attrs = BTreeMap::new();
    for a in s["attributes"].as_array().into_iter().flatten() {
        let v = &a["value"];
        let text = if let Some(x) = v.get("stringValue").and_then(Value::as_str) {
            x.to_string()
        } else if let Some(arr) = v.get("arrayValue") {
            arr["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["stringValue"].as_str())
                .collect::<Vec<_>>()
                .join(",")
        } else if let Some(b) = v.get("boolValue") {
            b.to_string()
        } else if let Some(i) = v.get("intValue") {
            i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string())
        } else {
            v.to_string()
        };
        if let Some(k) = a["key"].as_str() {
            attrs.insert(k.to_string(), text);
        }
    }
    let error = (s["status"]["code"].as_u64() == Some(2) || s["status"]["code"].as_str() == Some("STATUS_CODE_ERROR"))
        .then(|| s["status"]["message"].as_str().unwrap_or("error").to_string());
    TreeSpan {
        trace_id: s["traceId"].as_str().unwrap_or_default().to_string(),
        span_id: s["spanId"].as_str().unwrap_or_default().to_string(),
        parent: s["parentSpanId"].as_str().filter(|p| !p.is_empty()).map(str::to_string),
        name: s["name"].as_str().unwrap_or_default().to_string(),
        start: num("startTimeUnixNano"),
        end: num("endTimeUnixNano"),
        error,
        attrs,
    }
}

fn duration(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        format!("{ms:.0}ms")
    }
}

fn flags(s: &TreeSpan) -> String {
    let mut f = Vec::new();
    let a = &s.attrs;
    if let Some(e) = &s.error {
        f.push(format!("✗ {}", e.lines().next().unwrap_or("error")));
    }
    if a.get("agent_telemetry.outside_project_scope").is_some_and(|v| v == "true") {
        f.push("↗ outside project".into());
    }
    if let Some(rules) = a.get("agent_telemetry.security.rules") {
        let rules: Vec<&str> = rules.split(',').filter(|r| !r.starts_with("outside_project")).collect();
        if !rules.is_empty() {
            f.push(format!("⚠ {}", rules.join(", ")));
        }
    }
    if let Some(n) = a.get("agent_telemetry.redactions") {
        f.push(format!("🔒 {n} secret(s) redacted"));
    }
    if a.get("agent_telemetry.subagent.background").is_some_and(|v| v == "true") {
        f.push("background".into());
    }
    if a.get("agent_telemetry.span.incomplete").is_some_and(|v| v == "true") {
        f.push("incomplete".into());
    }
    if a.get("agent_telemetry.span.open").is_some_and(|v| v == "true") {
        f.push("still open".into());
    }
    for k in ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"] {
        if let Some(v) = a.get(k) {
            f.push(format!("{}={v}", k.trim_start_matches("gen_ai.usage.")));
        }
    }
    if let Some(id) = a.get("agent_telemetry.task.id") {
        let subject = a.get("agent_telemetry.task.subject").map(|s| format!(" {s:?}")).unwrap_or_default();
        match a.get("agent_telemetry.task.created_by_agent") {
            Some(by) => f.push(format!("task {id}{subject} completed (created by {by})")),
            None => f.push(format!("task {id}{subject}")),
        }
    }
    if let Some(usd) = a.get("agent_telemetry.cost.usd").and_then(|v| v.parse::<f64>().ok()) {
        let unpriced =
            a.get("agent_telemetry.cost.unpriced_requests").map(|n| format!(" + {n} unpriced")).unwrap_or_default();
        f.push(format!("${usd:.4}{unpriced}"));
    }
    f.join("  ")
}

fn detail(s: &TreeSpan) -> String {
    let a = &s.attrs;
    let d = a
        .get("agent_telemetry.command")
        .or_else(|| a.get("agent_telemetry.file_path"))
        .or_else(|| a.get("agent_telemetry.url"))
        .or_else(|| a.get("agent_telemetry.slash_command"))
        .or_else(|| a.get("agent_telemetry.prompt"))
        .cloned()
        .unwrap_or_default();
    let d: String = d.chars().take(70).collect();
    if d.is_empty() {
        String::new()
    } else {
        format!("  {d}")
    }
}

/// Renders every trace (or those of `session`) as trees.
pub(crate) fn render(spans: &[TreeSpan], session: Option<&str>) -> String {
    let mut seen = HashSet::new();
    let spans: Vec<&TreeSpan> = spans.iter().filter(|s| seen.insert((s.trace_id.clone(), s.span_id.clone()))).collect();
    let mut by_trace: BTreeMap<&str, Vec<&TreeSpan>> = BTreeMap::new();
    for s in &spans {
        by_trace.entry(s.trace_id.as_str()).or_default().push(s);
    }
    let mut traces: Vec<(&str, Vec<&TreeSpan>)> = by_trace.into_iter().collect();
    traces.sort_by_key(|(_, v)| v.iter().map(|s| s.start).min().unwrap_or(0));
    let mut out = String::new();
    for (trace, spans) in traces {
        if let Some(sid) = session {
            if !spans.iter().any(|s| s.attrs.get("gen_ai.conversation.id").is_some_and(|c| c == sid)) {
                continue;
            }
        }
        let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
        let mut children: BTreeMap<&str, Vec<&TreeSpan>> = BTreeMap::new();
        let mut roots = Vec::new();
        for s in &spans {
            match s.parent.as_deref().filter(|p| ids.contains(p)) {
                Some(p) => children.entry(p).or_default().push(s),
                None => roots.push(*s),
            }
        }
        for v in children.values_mut() {
            v.sort_by_key(|s| (s.start, s.span_id.clone()));
        }
        roots.sort_by_key(|s| s.start);
        let sessions: Vec<&str> = {
            let mut v: Vec<&str> =
                spans.iter().filter_map(|s| s.attrs.get("gen_ai.conversation.id").map(String::as_str)).collect();
            v.sort();
            v.dedup();
            v
        };
        out.push_str(&format!(
            "trace {}  session(s) {}  {} span(s)\n",
            escape_terminal(trace),
            escape_terminal(&sessions.join(", ")),
            spans.len()
        ));
        for (i, r) in roots.iter().enumerate() {
            let remote = if r.parent.is_some() { "  (child of a span in another process)" } else { "" };
            walk(r, &children, "", i + 1 == roots.len(), &mut out, remote);
        }
        out.push('\n');
    }
    out
}

fn walk(
    s: &TreeSpan,
    children: &BTreeMap<&str, Vec<&TreeSpan>>,
    prefix: &str,
    last: bool,
    out: &mut String,
    note: &str,
) {
    let branch = if last { "└─ " } else { "├─ " };
    let line = format!("{}  {}{}  {}", s.name, duration(s.end.saturating_sub(s.start)), detail(s), flags(s));
    out.push_str(&format!("{prefix}{branch}{}{note}\n", escape_terminal(&line)).replace("   \n", "\n"));
    let next = format!("{prefix}{}", if last { "   " } else { "│  " });
    if let Some(kids) = children.get(s.span_id.as_str()) {
        for (i, k) in kids.iter().enumerate() {
            walk(k, children, &next, i + 1 == kids.len(), out, "");
        }
    }
}

pub fn run(config: &Config, from_journal: bool, session: Option<&str>) -> anyhow::Result<i32> {
    let otlp = config.data_dir.join("otlp");
    let spans = if from_journal { spans_from_journal(&config.journal_dir())? } else { spans_from_otlp_files(&otlp)? };
    if spans.is_empty() {
        println!(
            "no spans yet in {} (is the relay exporting to files? `agent-telemetry show --journal` assembles them from the journal)",
            if from_journal { config.journal_dir() } else { otlp }.display()
        );
        return Ok(0);
    }
    print!("{}", render(&spans, session));
    Ok(0)
}
