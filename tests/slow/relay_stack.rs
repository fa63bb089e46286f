//! The relay against the real stack (slow stage: `#[ignore]`d in the fast stage, run by `just
//! test-slow` with `--include-ignored`): recorded fixtures through `hook` → `relay` (OTLP gRPC, and once
//! HTTP/protobuf) → the project's collector → Jaeger (traces) and VictoriaLogs (logs), read back
//! from the backends' query APIs and checked span by span and log by log with the same checks as
//! tests/fast/relay_fixtures.rs. Also: restarting the relay duplicates nothing at the backends; 10,000
//! events survive a collector outage and a SIGKILLed relay with none lost. "Nothing more
//! arrived" is proved by a sentinel session hooked into the same journal after everything else
//! (tests/harness/stack.rs): once the backends show it, the counts are final.
//!
//!     cargo test --test slow relay_stack:: -- --include-ignored --test-threads=1

use crate::harness::stack;

use crate::harness::relay;

use relay::*;
use serde_json::Value;
use stack::{sentinel_payloads, sentinel_session_id, wait_for, Stack};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const RELAY_TIMEOUT: Duration = Duration::from_secs(120);
const BACKEND_WAIT: Duration = Duration::from_secs(60);

/// The spans of `trace` in Jaeger once it has at least `n` (None after BACKEND_WAIT).
fn jaeger_spans(stack: &Stack, trace: &str, n: usize) -> Option<Vec<Span>> {
    wait_for(BACKEND_WAIT, || {
        let t = stack.jaeger_trace(trace)?;
        let spans = spans_from_jaeger(&t);
        (spans.len() >= n).then_some(spans)
    })
}

fn vl_logs(stack: &Stack, trace: &str, n: usize) -> Option<Vec<Value>> {
    wait_for(BACKEND_WAIT, || {
        let rows = stack.victorialogs_query(&format!("trace_id:\"{trace}\""));
        (rows.len() >= n).then_some(rows)
    })
}

/// Hooks a sentinel session into `env`'s journal after everything else, has it exported (by a
/// running relay when `running`, else by `relay --once`), and waits until Jaeger and VictoriaLogs
/// show it. Returns its session id.
fn sentinel(stack: &Stack, env: &Install, dest: &Dest, running: bool) -> String {
    let sid = sentinel_session_id();
    hook_lines(env, &sentinel_payloads(&sid, &env.project));
    if !running {
        relay_once(env, dest, &[], RELAY_TIMEOUT);
    }
    stack.wait_for_sentinel(&sid);
    sid
}

/// Replays every fixture (ids suffixed with `tag`), exports with `dest`, and checks each
/// fixture's trace in Jaeger and its logs in VictoriaLogs. Returns (replays, trace ids).
fn fixtures_through_stack(stack: &Stack, env: &Install, dest: &Dest, tag: &str) -> Vec<(Replayed, String)> {
    let replays: Vec<Replayed> = FIXTURES.iter().map(|f| replay(env, f, tag)).collect();
    let t0 = Instant::now();
    relay_once(env, dest, &[], RELAY_TIMEOUT);
    println!("relay --once ({dest:?}) exported {} records in {:?}", env.journal_records(), t0.elapsed());
    let mut out = Vec::new();
    let mut printed = false;
    let mut waited = Vec::new();
    for r in &replays {
        let trace = fixture_trace_id(r);
        let want = expected_span_count(r);
        jaeger_spans(stack, &trace, want).unwrap_or_else(|| {
            panic!(
                "{}: trace {trace} with {want} spans not in Jaeger within {BACKEND_WAIT:?}: {:?}\n{}",
                r.name,
                stack.jaeger_trace(&trace).map(|t| spans_from_jaeger(&t).len()),
                stack.logs()
            )
        });
        waited.push(trace);
    }
    // Late or repeated spans would land before the sentinel: then the final picture.
    sentinel(stack, env, dest, false);
    assert_eq!(waited.len(), FIXTURES.len());
    for r in replays {
        let trace = fixture_trace_id(&r);
        let spans = spans_from_jaeger(
            &stack.jaeger_trace_checked(&trace).expect("Jaeger answers").expect("the trace is at Jaeger"),
        );
        check_fixture_spans(&r, &spans, Source::Jaeger);
        vl_logs(stack, &trace, r.calls.len()).unwrap_or_else(|| {
            panic!(
                "{}: {} log records of trace {trace} not in VictoriaLogs within {BACKEND_WAIT:?}\n{}",
                r.name,
                r.calls.len(),
                stack.logs()
            )
        });
        let rows = stack.victorialogs_rows(&format!("trace_id:\"{trace}\"")).expect("VictoriaLogs answers");
        if !printed {
            printed = true;
            println!("a VictoriaLogs row: {}", serde_json::to_string(&rows[0]).unwrap());
            println!(
                "a Jaeger span: {}",
                serde_json::to_string(&stack.jaeger_trace(&trace).unwrap()["spans"][0]).unwrap()
            );
        }
        let logs = logs_from_victorialogs(&rows);
        check_fixture_logs(&r, &spans, &logs);
        for l in &logs {
            // VictoriaLogs flattens resource attributes into the row.
            assert_eq!(l.attr("service.name"), Some("claude-code"), "{}: service.name on the VictoriaLogs row", r.name);
            assert!(l.body.contains("\"hook_event\""), "{}: the body is the journal record", r.name);
        }
        // The failing tool's error status made it through as Jaeger's error tag.
        if r.name == "tools" {
            // (The fixture's Glob and Grep calls were never run: error spans of their own.)
            let failed: Vec<&Span> = spans
                .iter()
                .filter(|s| s.status_code == 2 && s.attr("agent_telemetry.tool.not_run").is_none())
                .collect();
            assert_eq!(failed.len(), 1, "tools: one error span of a call that ran (the failing Bash)");
            let not_run: BTreeSet<&str> = spans
                .iter()
                .filter(|s| s.status_code == 2 && s.attr("agent_telemetry.tool.not_run") == Some("true"))
                .map(|s| s.name.as_str())
                .collect();
            assert_eq!(
                not_run,
                BTreeSet::from(["execute_tool Glob", "execute_tool Grep"]),
                "tools: the calls never run"
            );
            let failed = failed[0];
            assert_eq!(failed.status_message, "Exit code 3");
            assert_eq!(
                failed.attrs.get("error").map(String::as_str),
                Some("true"),
                "Jaeger marks the span with error=true"
            );
        }
        out.push((r, trace));
    }
    out
}

/// Spans per trace in Jaeger (all spans returned, counting repeats) and log rows per trace.
/// Every trace must be there and both backends must answer (no count from a failed query).
fn backend_counts(stack: &Stack, traces: &[(Replayed, String)]) -> (usize, usize, usize) {
    assert!(!traces.is_empty(), "no traces to count");
    let mut spans = 0;
    let mut distinct = 0;
    let mut logs = 0;
    for (r, t) in traces {
        let trace = stack
            .jaeger_trace_checked(t)
            .unwrap_or_else(|e| panic!("Jaeger: {e}"))
            .unwrap_or_else(|| panic!("{}: trace {t} not at Jaeger", r.name));
        let s = spans_from_jaeger(&trace);
        spans += s.len();
        distinct += s.iter().map(|s| s.span_id.clone()).collect::<BTreeSet<_>>().len();
        logs +=
            stack.victorialogs_rows(&format!("trace_id:\"{t}\"")).unwrap_or_else(|e| panic!("VictoriaLogs: {e}")).len();
    }
    (spans, distinct, logs)
}

#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn fixtures_through_grpc_to_jaeger_and_victorialogs_and_no_duplicates_on_restart() {
    let _s = serial();
    let stack = Stack::start();
    let env = Install::new("relay-stack-grpc-");
    let dest = Dest::Grpc(stack.otlp_grpc_endpoint());
    let traces = fixtures_through_stack(&stack, &env, &dest, "-g");
    let want_spans: usize = traces.iter().map(|(r, _)| expected_span_count(r)).sum();
    let want_logs: usize = traces.iter().map(|(r, _)| r.calls.len()).sum();
    let before = backend_counts(&stack, &traces);
    assert_eq!(before, (want_spans, want_spans, want_logs), "(spans, distinct spans, log rows) at the backends");

    // A relay restarted on the same data dir resumes after its checkpoint: nothing re-sent.
    relay_once(&env, &dest, &[], RELAY_TIMEOUT);
    let relay = RelayProc::start(&env, &dest, &[]);
    // The running relay exports the sentinel hooked after everything: it is past the old
    // records, and whatever it re-sent would be at the backends before the sentinel.
    sentinel(&stack, &env, &dest, true);
    let mut relay = relay;
    assert_eq!(relay.child.try_wait().unwrap(), None, "relay --foreground runs: {}", relay.stderr());
    assert_eq!(relay.stop(Duration::from_secs(20)), Some(0));
    let after = backend_counts(&stack, &traces);
    assert_eq!(after, before, "restarting the relay must not duplicate spans or log records");

    // The at-least-once case: the same journal sent again from scratch (checkpoint lost). The
    // Duplicates (docs/architecture.md, design decisions): identical copies; Jaeger's query API returns one span,
    // VictoriaLogs keeps both rows.
    std::fs::remove_file(env.data.join("relay/checkpoint.json")).unwrap();
    relay_once(&env, &dest, &[], RELAY_TIMEOUT);
    sentinel(&stack, &env, &dest, false);
    let resent = backend_counts(&stack, &traces);
    println!("after re-sending the whole journal: (spans returned by Jaeger, distinct span ids, VictoriaLogs rows) = {resent:?}, before {before:?}");
    assert_eq!(resent.1, want_spans, "re-sent spans keep their ids: no new span ids in Jaeger");
    assert_eq!(
        resent,
        (want_spans, want_spans, 2 * want_logs),
        "(spans returned by Jaeger, distinct span ids, VictoriaLogs rows) after re-sending the journal"
    );
}

#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn fixtures_through_http_protobuf() {
    let _s = serial();
    let stack = Stack::start();
    let env = Install::new("relay-stack-http-");
    let traces = fixtures_through_stack(&stack, &env, &Dest::Http(stack.otlp_http_endpoint()), "-h");
    let want_spans: usize = traces.iter().map(|(r, _)| expected_span_count(r)).sum();
    let want_logs: usize = traces.iter().map(|(r, _)| r.calls.len()).sum();
    assert_eq!(
        backend_counts(&stack, &traces),
        (want_spans, want_spans, want_logs),
        "(spans, distinct spans, log rows) at the backends"
    );
}

/// 10,000 events; the collector stopped in the middle and restarted: all arrive, distinct
/// `agent_telemetry.seq` = 10,000. Then 10,000 more; the relay SIGKILLed in the middle and a new
/// one started: 20,000 distinct. Duplicates (re-sent batches) are counted and bounded.
#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn ten_thousand_events_survive_collector_outage_and_relay_kill() {
    let _s = serial();
    let stack = Stack::start();
    let env = Install::new("relay-stack-fault-");
    let dest = Dest::Grpc(stack.otlp_grpc_endpoint());
    let batch = 250usize;
    let settings = [
        ("AGENT_TELEMETRY_BATCH_SIZE", "250"),
        ("AGENT_TELEMETRY_POLL_MS", "50"),
        ("AGENT_TELEMETRY_OTLP_TIMEOUT_MS", "3000"),
    ];
    // Every row but the sentinels' (two rows each, counted apart).
    let count_all = || {
        let (t, u) = stack.vl_count("*")?;
        let (st, su) = stack.vl_count("\"gen_ai.conversation.id\":=\"sentinel-\"*")?;
        Some((t - st, u - su))
    };

    // Phase 1: half the events, relay running, some delivered; collector down; the other half
    // written while it is down; collector back.
    synth_journal(&env.data, &env.project, 5_000, "f", now_ns());
    let relay = RelayProc::start(&env, &dest, &settings);
    wait_for(Duration::from_secs(60), || count_all().filter(|c| c.0 > 0))
        .unwrap_or_else(|| panic!("nothing reached VictoriaLogs: {}\n{}", relay.stderr(), stack.logs()));
    stack.stop("collector");
    let t0 = now_ns();
    let delivered_before_outage = count_all();
    synth_journal(&env.data, &env.project, 5_000, "g", t0);
    let retrying = wait_for(Duration::from_secs(30), || (relay_status(&env.data)["state"] == "retrying").then_some(()));
    assert!(retrying.is_some(), "relay status while the collector is down: {}", relay_status(&env.data));
    std::thread::sleep(Duration::from_secs(2));
    stack.start_service("collector");
    let got = wait_for(Duration::from_secs(120), || count_all().filter(|c| c.1 >= 10_000));
    sentinel(&stack, &env, &dest, true);
    let (total, uniq) = count_all().expect("VictoriaLogs answers the count");
    println!("collector outage: delivered before the outage {delivered_before_outage:?}; after: total {total}, distinct seq {uniq}; relay stderr tail: {}", relay.stderr().lines().rev().take(3).collect::<Vec<_>>().join(" | "));
    assert!(
        got.is_some(),
        "10,000 distinct records expected after the collector came back, got total {total} distinct {uniq}\n{}",
        stack.logs()
    );
    assert_eq!(uniq, 10_000);
    assert!(total <= 10_000 + 2 * batch as u64, "re-sent records bounded by a batch or two: total {total}");
    assert_eq!(relay.stop(Duration::from_secs(30)), Some(0));

    // Phase 2: 10,000 more; a relay SIGKILLed part-way; a new one finishes.
    synth_journal(&env.data, &env.project, 10_000, "h", now_ns());
    let exported_at_start = relay_status(&env.data)["exported_records"].as_u64().unwrap_or(0);
    let relay =
        RelayProc::start(&env, &dest, &[("AGENT_TELEMETRY_BATCH_SIZE", "100"), ("AGENT_TELEMETRY_POLL_MS", "50")]);
    let progressed = wait_for(Duration::from_secs(60), || {
        let n = relay_status(&env.data)["exported_records"].as_u64().unwrap_or(0);
        (n >= exported_at_start + 2_000).then_some(n)
    });
    relay.kill9();
    let killed_at = relay_status(&env.data)["exported_records"].as_u64().unwrap_or(0);
    println!("relay SIGKILLed at exported_records {killed_at} (of {}; progressed {progressed:?})", 20_000);
    assert!(killed_at < 20_000, "the kill came too late to be in the middle ({killed_at})");
    let relay =
        RelayProc::start(&env, &dest, &[("AGENT_TELEMETRY_BATCH_SIZE", "100"), ("AGENT_TELEMETRY_POLL_MS", "50")]);
    let got = wait_for(Duration::from_secs(120), || count_all().filter(|c| c.1 >= 20_000));
    // Re-sent batches still on their way land before a sentinel hooked after everything; its
    // own two rows are not counted.
    let sid = sentinel(&stack, &env, &dest, true);
    let (s_total, s_uniq) =
        stack.vl_count(&format!("\"gen_ai.conversation.id\":=\"{sid}\"")).expect("VictoriaLogs counts the sentinel");
    assert_eq!((s_total, s_uniq), (2, 2), "the sentinel's rows");
    let (total, uniq) = count_all().expect("VictoriaLogs answers the count");
    println!("relay kill: total {total}, distinct seq {uniq} (duplicates {})", total.saturating_sub(uniq));
    assert!(got.is_some(), "20,000 distinct records expected, got total {total} distinct {uniq}\n{}", relay.stderr());
    assert_eq!(uniq, 20_000);
    assert!(total <= 20_000 + 2 * batch as u64 + 100, "re-sent records bounded: total {total}");
    assert_eq!(relay.stop(Duration::from_secs(30)), Some(0));
}

/// The relay observes itself (service `agent-telemetry-relay` at Jaeger): a `relay.batch` span
/// per batch it exported, with a `relay.export` child per attempt — the attempts that failed
/// while the collector was down carry their error and arrive once it is back; `status.json`
/// counts the same batches and failures.
#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn the_relay_reports_its_own_batches_and_failures_as_its_own_service() {
    let _s = serial();
    let stack = Stack::start();
    let env = Install::new("relay-self-");
    let dest = Dest::Grpc(stack.otlp_grpc_endpoint());
    let settings = [
        ("AGENT_TELEMETRY_BATCH_SIZE", "100"),
        ("AGENT_TELEMETRY_POLL_MS", "50"),
        ("AGENT_TELEMETRY_OTLP_TIMEOUT_MS", "2000"),
        ("AGENT_TELEMETRY_OTLP_CONNECT_TIMEOUT_MS", "1000"),
    ];
    stack.stop("collector");
    synth_journal(&env.data, &env.project, 300, "self", now_ns());
    let relay = RelayProc::start(&env, &dest, &settings);
    wait_for(Duration::from_secs(30), || {
        (relay_status(&env.data)["failed_exports"].as_u64().unwrap_or(0) >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("no failed export counted while the collector is down: {}", relay_status(&env.data)));
    stack.start_service("collector");
    wait_for(Duration::from_secs(60), || {
        (relay_status(&env.data)["exported_records"].as_u64() == Some(300)).then_some(())
    })
    .unwrap_or_else(|| panic!("300 records not exported after the collector came back: {}", relay_status(&env.data)));
    // One more batch after everything: its round sends the spans of the last ones.
    sentinel(&stack, &env, &dest, true);
    let st = relay_status(&env.data);
    let (batches, failed) = (st["batches"].as_u64().unwrap(), st["failed_exports"].as_u64().unwrap());
    assert!(batches >= 3, "{st}");
    let pid = relay.child.id().to_string();
    let last = std::cell::RefCell::new(String::new());
    let spans = wait_for(Duration::from_secs(60), || {
        let traces = match stack.jaeger_find_traces("agent-telemetry-relay", &[]) {
            Ok(t) => t,
            Err(e) => {
                *last.borrow_mut() = e;
                return None;
            }
        };
        *last.borrow_mut() = format!("{} trace(s): {}", traces.len(), traces.iter().take(3).map(|t| t.to_string().chars().take(600).collect::<String>()).collect::<Vec<_>>().join("\n"));
        let spans: Vec<Value> = traces.iter().flat_map(|t| t["spans"].as_array().cloned().unwrap_or_default()).collect();
        let mine = |s: &&Value| {
            let tr = traces.iter().find(|t| t["traceID"] == s["traceID"]).unwrap();
            let proc = &tr["processes"][s["processID"].as_str().unwrap()];
            proc["tags"].as_array().is_some_and(|tags| tags.iter().any(|t| t["key"] == "service.instance.id" && t["value"].as_str().is_some_and(|v| v.ends_with(&format!(":{pid}")))))
        };
        let spans: Vec<Value> = spans.iter().filter(mine).cloned().collect();
        let errors = spans.iter().filter(|s| s["operationName"] == "relay.export" && s["tags"].as_array().unwrap().iter().any(|t| t["key"] == "error" && t["value"] != false)).count();
        (errors as u64 >= 2 && spans.iter().filter(|s| s["operationName"] == "relay.batch").count() as u64 >= 3).then_some(spans)
    })
    .unwrap_or_else(|| panic!("Jaeger has no relay.batch spans with failed relay.export attempts of relay {pid}; status {st}; Jaeger: {}; relay stderr: {}", last.borrow(), relay.stderr()));
    let tag =
        |s: &Value, k: &str| s["tags"].as_array().unwrap().iter().find(|t| t["key"] == k).map(|t| t["value"].clone());
    let batch_records: u64 =
        spans.iter().filter(|s| s["operationName"] == "relay.batch").filter_map(|s| tag(s, "records")?.as_u64()).sum();
    assert!(batch_records >= 300, "the batches' records sum to what was exported: {batch_records}");
    for s in spans.iter().filter(|s| s["operationName"] == "relay.export") {
        let parent = s["references"].as_array().and_then(|r| r.first()).map(|r| r["spanID"].clone());
        let p = spans
            .iter()
            .find(|b| Some(&b["spanID"]) == parent.as_ref())
            .unwrap_or_else(|| panic!("relay.export without its batch: {s}"));
        assert_eq!(p["operationName"], "relay.batch");
    }
    // `status --json` shows the same figures.
    let out = env.command(&["status", "--json", "--project", env.project.to_str().unwrap()]).output().unwrap();
    let sj: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(sj["relay"]["batches"].as_u64().is_some_and(|b| b >= batches), "{sj:#}");
    assert!(sj["relay"]["failed_exports"].as_u64().is_some_and(|f| f >= 2), "{sj:#}");
    println!("relay self-observation: {} own spans at Jaeger; status: {batches} batches, {failed} failed exports, last lag {} ms", spans.len(), st["last_lag_ms"]);
    assert_eq!(relay.stop(Duration::from_secs(20)), Some(0));
}

/// Silence is an event at the backends: a removed settings entry becomes one `telemetry_gap`
/// log record in VictoriaLogs (in the session's trace, on its run span) and its return one
/// `telemetry_restored`; Jaeger's trace gains no span from them.
#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn gap_records_reach_victorialogs_and_open_no_span() {
    let _s = serial();
    let stack = Stack::start();
    let env = Install::new("relay-stack-gap-");
    let dest = Dest::Grpc(stack.otlp_grpc_endpoint());
    let project = env.project.to_str().unwrap().to_string();
    let run = |args: &[&str]| assert!(env.command(args).output().unwrap().status.success(), "{args:?}");
    run(&["install", "--project", &project]);
    let sid = format!("s-gap-{}", now_ns());
    let ev = |name: &str, extra: &str| {
        format!(r#"{{"session_id":"{sid}","cwd":"{project}","hook_event_name":"{name}"{extra}}}"#)
    };
    hook_lines(
        &env,
        &[
            ev("SessionStart", r#","source":"startup""#),
            ev("UserPromptSubmit", r#","prompt":"hi","prompt_id":"p-gap""#),
            ev("Stop", r#","prompt_id":"p-gap""#),
        ],
    );
    relay_once(&env, &dest, &[], RELAY_TIMEOUT);
    run(&["uninstall", "--project", &project]);
    relay_once(&env, &dest, &[], RELAY_TIMEOUT);
    run(&["install", "--project", &project]);
    relay_once(&env, &dest, &[], RELAY_TIMEOUT);
    hook_lines(&env, &[ev("SessionEnd", r#","reason":"exit""#)]);
    sentinel(&stack, &env, &dest, false);
    let q = |kind: &str| {
        format!("gen_ai.conversation.id:=\"{sid}\" agent_telemetry.event_type:={kind} agent_telemetry.gap.reason:=settings_entry_removed")
    };
    assert_eq!(stack.vl_count(&q("telemetry_gap")).map(|c| c.0), Some(1), "one gap record at VictoriaLogs");
    assert_eq!(stack.vl_count(&q("telemetry_restored")).map(|c| c.0), Some(1), "one restored record at VictoriaLogs");
    // The gap record sits in the session's trace; the trace has only the session's own spans
    // (the session run and its turn).
    let rows = stack.victorialogs_query(&q("telemetry_gap"));
    let trace = rows[0]["trace_id"].as_str().unwrap().to_string();
    let spans = jaeger_spans(&stack, &trace, 2).expect("the session's trace in Jaeger");
    assert_eq!(spans.len(), 2, "{:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
}
