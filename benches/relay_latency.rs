//! End-to-end latency: from a hook's exit to its span being queryable in Jaeger and its log
//! record in VictoriaLogs; and the relay's memory (RSS, peak) over the run.
//!
//! Starts the local stack (tests/harness/stack.rs) and `agent-telemetry relay --foreground`
//! (OTLP gRPC, the default poll interval), opens one session through the hook, then for each
//! of K tool calls runs the PreToolUse and PostToolUse hooks (the tool span ends, and is
//! exported, at PostToolUse) and polls Jaeger's `/api/traces/{id}` and VictoriaLogs' query API
//! every 10 ms until the tool span and the PostToolUse row are there. Reports median, p95, max.
//!
//! `cargo bench --bench relay_latency` (K: RELAY_BENCH_LATENCY_EVENTS, default 50).

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{relay, stack};

use agent_telemetry::ids::{hex, span_id, trace_id_for_session, SpanRole};
use relay::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn hook(env: &Install, payload: serde_json::Value) {
    let mut cmd = env.command(&["hook"]);
    cmd.env("CLAUDE_PROJECT_DIR", &env.project);
    let Run { code, stderr: err, .. } = run_with_stdin(cmd, payload.to_string().as_bytes(), Duration::from_secs(10));
    assert_eq!(code, 0, "hook: {err}");
}

fn main() {
    let k: usize = std::env::var("RELAY_BENCH_LATENCY_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let stack = stack::Stack::start();
    let env = Install::new("relay-bench-latency-");
    let relay = RelayProc::start(&env, &Dest::Grpc(stack.otlp_grpc_endpoint()), &[]);
    let sid = format!("latency-{}", now_ns());
    let prompt = format!("{sid}-prompt");
    let cwd = env.project.display().to_string();
    let base = |ev: &str| json!({"session_id": sid, "transcript_path": "/nonexistent.jsonl", "cwd": cwd, "hook_event_name": ev, "prompt_id": prompt, "permission_mode": "default"});
    let mut start = base("SessionStart");
    start["source"] = json!("startup");
    start.as_object_mut().unwrap().remove("prompt_id");
    hook(&env, start);
    let mut p = base("UserPromptSubmit");
    p["prompt"] = json!("latency benchmark");
    hook(&env, p);
    let trace = hex(&trace_id_for_session(&sid));
    let mut lat = Vec::with_capacity(k);
    let mut lat_logs = Vec::with_capacity(k);
    let rss = |field: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", relay.child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let rss_start = rss("VmRSS:");
    for i in 0..k {
        let id = format!("toolu_latency_{i}");
        let mut pre = base("PreToolUse");
        pre["tool_name"] = json!("Read");
        pre["tool_use_id"] = json!(id);
        pre["tool_input"] = json!({"file_path": format!("{cwd}/README.md")});
        hook(&env, pre.clone());
        let mut post = pre;
        post["hook_event_name"] = json!("PostToolUse");
        post["tool_response"] = json!({"type": "text"});
        post["duration_ms"] = json!(3);
        hook(&env, post);
        let exited = Instant::now();
        let want = hex(&span_id(SpanRole::Tool, &id));
        let deadline = exited + Duration::from_secs(30);
        let (mut span_at, mut row_at) = (None, None);
        let row_query = format!("agent_telemetry.hook_event:=PostToolUse gen_ai.tool.call.id:=\"{id}\"");
        loop {
            if span_at.is_none()
                && stack
                    .jaeger_trace(&trace)
                    .map(|t| {
                        t["spans"].as_array().map(|s| s.iter().any(|s| s["spanID"] == want.as_str())).unwrap_or(false)
                    })
                    .unwrap_or(false)
            {
                span_at = Some(exited.elapsed());
            }
            if row_at.is_none() && !stack.victorialogs_query(&row_query).is_empty() {
                row_at = Some(exited.elapsed());
            }
            if let (Some(a), Some(b)) = (span_at, row_at) {
                lat.push(a);
                lat_logs.push(b);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "span {i} not in Jaeger within 30 s\n{}\n{}",
                relay.stderr(),
                stack.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let (rss_end, rss_peak) = (rss("VmRSS:"), rss("VmHWM:"));
    relay.stop(Duration::from_secs(20));
    lat.sort();
    lat_logs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    println!(
        "hook exit → span in Jaeger over {k} tool calls (relay --foreground, gRPC, default poll): median {:.0} ms, p95 {:.0} ms, min {:.0} ms, max {:.0} ms",
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(lat[0]),
        ms(*lat.last().unwrap())
    );
    let pl = |p: f64| lat_logs[((lat_logs.len() as f64 * p).ceil() as usize).clamp(1, lat_logs.len()) - 1];
    println!(
        "hook exit → log row in VictoriaLogs: median {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        ms(pl(0.5)),
        ms(pl(0.95)),
        ms(*lat_logs.last().unwrap())
    );
    println!("relay memory: RSS {} KiB at the start, {} KiB at the end, peak {} KiB", rss_start, rss_end, rss_peak);
}
