//! Integration tests of the local stack: slow stage (`#[ignore]`d in the fast stage; `just
//! test-slow` runs them with `--include-ignored`). They build or find the cached servers and
//! start them; a missing prerequisite fails the test with what to install.
//!
//!     cargo test --test slow stack:: -- --include-ignored --test-threads=1 --skip relay_stack
//!
//! A tiny OTLP client (opentelemetry-otlp over gRPC/tonic) sends real spans and log records to
//! the collector, which forwards them to Jaeger and VictoriaLogs; the tests read them back from
//! the backends' query APIs. Outage tests stop a backend or the collector and check that every
//! record arrives exactly once.

use crate::harness::stack;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use stack::{wait_for, Stack};

/// One stack at a time: three sets of servers at once would be heavy on 2 cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn unique_run_id(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn resource(run: &str) -> Resource {
    Resource::builder()
        .with_service_name("agent-telemetry-stack-test")
        .with_attributes([
            KeyValue::new("project.name", "agent-telemetry"),
            KeyValue::new("agent.id", "stack-test"),
            KeyValue::new("agent.group", "tests"),
            KeyValue::new("test.run", run.to_string()),
        ])
        .build()
}

/// A logger provider exporting over OTLP/gRPC to the collector (call inside the runtime).
fn logger_provider(endpoint: &str, run: &str) -> SdkLoggerProvider {
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("log exporter");
    SdkLoggerProvider::builder().with_resource(resource(run)).with_batch_exporter(exporter).build()
}

fn tracer_provider(endpoint: &str, run: &str) -> SdkTracerProvider {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("span exporter");
    SdkTracerProvider::builder().with_resource(resource(run)).with_batch_exporter(exporter).build()
}

/// Send `n` log records, each with a unique `test.seq`, and flush them to the collector in
/// several OTLP requests (one per 50 records), so the collector queues several entries.
fn send_logs(stack: &Stack, run: &str, n: usize) {
    let rt = runtime();
    let _guard = rt.enter();
    let provider = logger_provider(&stack.otlp_grpc_endpoint(), run);
    let logger = provider.logger("agent-telemetry-stack-test");
    for i in 0..n {
        let mut rec = logger.create_log_record();
        rec.set_severity_number(Severity::Info);
        rec.set_severity_text("INFO");
        rec.set_body(AnyValue::from(format!("outage test record {i} of {run}")));
        rec.add_attribute("test.run", run.to_string());
        rec.add_attribute("test.seq", i as i64);
        logger.emit(rec);
        if (i + 1) % 50 == 0 {
            provider.force_flush().expect("flush logs to the collector");
        }
    }
    provider.force_flush().expect("flush logs to the collector");
    provider.shutdown().expect("shutdown logger provider");
}

/// After the run's records: one more log record (`test.run` = `<run>-sentinel`) through the same
/// path, and a wait until VictoriaLogs has it. Then nothing of the run is still on its way (it
/// was sent, and queued by the collector, before the sentinel), and the counts are final.
fn send_sentinel_and_wait(stack: &Stack, run: &str) {
    let sentinel = format!("{run}-sentinel");
    let rt = runtime();
    let _guard = rt.enter();
    let provider = logger_provider(&stack.otlp_grpc_endpoint(), &sentinel);
    let logger = provider.logger("agent-telemetry-stack-test");
    let mut rec = logger.create_log_record();
    rec.set_severity_number(Severity::Info);
    rec.set_body(AnyValue::from(format!("sentinel after {run}")));
    rec.add_attribute("test.run", sentinel.clone());
    logger.emit(rec);
    provider.force_flush().expect("flush the sentinel to the collector");
    provider.shutdown().expect("shutdown logger provider");
    wait_for(Duration::from_secs(90), || {
        (stack.victorialogs_query(&format!("\"test.run\":=\"{sentinel}\"")).len() == 1).then_some(())
    })
    .unwrap_or_else(|| panic!("the sentinel record {sentinel} never reached VictoriaLogs\n{}", stack.logs()));
}

/// (total rows, distinct test.seq values) in VictoriaLogs for this run.
fn count_run(stack: &Stack, run: &str) -> Option<(u64, u64)> {
    stack.vl_count_by(&format!("\"test.run\":=\"{run}\""), "test.seq")
}

/// Wait until VictoriaLogs has `n` rows for the run, then (after a sentinel record sent behind
/// them has arrived) check that it has exactly `n` rows with `n` distinct sequence numbers (no
/// loss, no duplicates).
fn assert_exactly_once(stack: &Stack, run: &str, n: u64, within: Duration) {
    let got = wait_for(within, || match count_run(stack, run) {
        Some((total, _)) if total >= n => Some(()),
        _ => None,
    });
    if got.is_none() {
        panic!(
            "VictoriaLogs has {:?} (total, distinct) of {n} records for run {run} after {within:?}\n{}",
            count_run(stack, run),
            stack.logs()
        );
    }
    // Retries in flight would show up as duplicates behind the first copies: a sentinel sent
    // now arrives after them.
    send_sentinel_and_wait(stack, run);
    let (total, uniq) = count_run(stack, run).expect("VictoriaLogs answers the count");
    assert_eq!((total, uniq), (n, n), "run {run}: total and distinct must both be {n}");
    // And the sequence numbers are exactly 0..n.
    let rows = stack
        .victorialogs_rows(&format!("\"test.run\":=\"{run}\" | fields \"test.seq\""))
        .expect("VictoriaLogs answers");
    assert_eq!(rows.len() as u64, n, "rows of run {run}");
    let seqs: HashSet<u64> = rows
        .iter()
        .map(|r| {
            r.get("test.seq")
                .and_then(|v| v.as_str())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("row without a numeric test.seq: {r}"))
        })
        .collect();
    assert_eq!(seqs, (0..n).collect::<HashSet<u64>>(), "sequence numbers of run {run}");
}

#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn stack_status_reports_all_healthy() {
    let _s = serial();
    let stack = Stack::start();
    let (ok, out) = stack.status();
    println!("{out}");
    assert!(ok, "status.sh must exit 0 with everything up:\n{out}");
    for svc in ["collector", "jaeger", "victorialogs"] {
        assert!(out.contains(svc), "status names {svc}:\n{out}");
    }
    assert!(out.contains("queued:"), "status shows the collector's queue:\n{out}");
    stack.stop("victorialogs");
    let (ok, out) = stack.status();
    assert!(!ok, "status.sh must fail with VictoriaLogs down:\n{out}");
    assert!(out.contains("STOPPED"), "{out}");
}

#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn spans_and_logs_reach_jaeger_and_victorialogs() {
    let _s = serial();
    let stack = Stack::start();
    let run = unique_run_id("e2e");
    let rt = runtime();
    let _guard = rt.enter();

    let tracers = tracer_provider(&stack.otlp_grpc_endpoint(), &run);
    let loggers = logger_provider(&stack.otlp_grpc_endpoint(), &run);
    let tracer = tracers.tracer("agent-telemetry-stack-test");
    let logger = loggers.logger("agent-telemetry-stack-test");

    // parent: the session; child: a tool call inside it. Log records inside the child.
    let mut parent = tracer.start("invoke_agent claude-code");
    let parent_sc = parent.span_context().clone();
    let parent_cx = Context::current().with_remote_span_context(parent_sc.clone());
    let mut child = tracer.start_with_context("execute_tool Bash", &parent_cx);
    child.set_attribute(KeyValue::new("gen_ai.tool.name", "Bash"));
    let child_sc = child.span_context().clone();
    {
        let cx = Context::current().with_remote_span_context(child_sc.clone());
        let _attached = cx.attach();
        for i in 0..3i64 {
            let mut rec = logger.create_log_record();
            rec.set_severity_number(Severity::Info);
            rec.set_body(AnyValue::from(format!("PreToolUse {i}")));
            rec.add_attribute("test.run", run.clone());
            rec.add_attribute("test.seq", i);
            logger.emit(rec);
        }
    }
    child.end();
    parent.end();
    tracers.force_flush().expect("flush spans");
    loggers.force_flush().expect("flush logs");
    tracers.shutdown().expect("shutdown tracer provider");
    loggers.shutdown().expect("shutdown logger provider");

    let trace_id = parent_sc.trace_id().to_string();
    let parent_id = parent_sc.span_id().to_string();
    let child_id = child_sc.span_id().to_string();
    assert_eq!(child_sc.trace_id(), parent_sc.trace_id());

    // Jaeger: the whole trace, with the parent/child relation.
    let trace = wait_for(Duration::from_secs(60), || {
        let t = stack.jaeger_trace(&trace_id)?;
        (t["spans"].as_array()?.len() >= 2).then_some(t)
    })
    .unwrap_or_else(|| panic!("trace {trace_id} not in Jaeger within 60s\n{}", stack.logs()));
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{trace}");
    let find = |id: &str| spans.iter().find(|s| s["spanID"] == id).unwrap_or_else(|| panic!("span {id} in {trace}"));
    let p = find(&parent_id);
    let c = find(&child_id);
    assert_eq!(p["operationName"], "invoke_agent claude-code");
    assert_eq!(c["operationName"], "execute_tool Bash");
    let refs = c["references"].as_array().expect("references");
    assert!(
        refs.iter().any(|r| r["refType"] == "CHILD_OF" && r["spanID"] == parent_id.as_str()),
        "child references its parent: {refs:?}"
    );
    assert!(p["references"].as_array().map(|r| r.is_empty()).unwrap_or(true), "parent is the root");
    let process = &trace["processes"][c["processID"].as_str().unwrap()];
    assert_eq!(process["serviceName"], "agent-telemetry-stack-test");

    // VictoriaLogs: the log records by trace id, carrying the child's span id.
    let rows = wait_for(Duration::from_secs(60), || {
        let rows = stack.victorialogs_query(&format!("trace_id:\"{trace_id}\""));
        (rows.len() >= 3).then_some(rows)
    })
    .unwrap_or_else(|| panic!("logs of trace {trace_id} not in VictoriaLogs within 60s\n{}", stack.logs()));
    assert_eq!(rows.len(), 3, "{rows:?}");
    for r in &rows {
        assert_eq!(r["trace_id"], trace_id.as_str(), "{r}");
        assert_eq!(r["span_id"], child_id.as_str(), "{r}");
        assert_eq!(r["test.run"], run.as_str(), "{r}");
        assert!(r["_msg"].as_str().unwrap_or("").starts_with("PreToolUse"), "{r}");
    }
}

#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn log_backend_outage_loses_nothing() {
    let _s = serial();
    let stack = Stack::start();
    let n = 200;
    let run = unique_run_id("vl-outage");
    stack.stop("victorialogs");
    send_logs(&stack, &run, n);
    // The collector holds them in its persistent queue while VictoriaLogs is down.
    let queued = wait_for(Duration::from_secs(10), || stack.collector_queue_size().filter(|q| *q > 0.0));
    assert!(
        queued.is_some(),
        "the collector should hold the records in its queue while VictoriaLogs is down\n{}",
        stack.logs()
    );
    println!("queued while VictoriaLogs was down: {queued:?}");
    stack.start_service("victorialogs");
    assert_exactly_once(&stack, &run, n as u64, Duration::from_secs(90));
}

#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (built by just stack-build)"]
fn collector_restart_with_queued_data_loses_nothing() {
    let _s = serial();
    let stack = Stack::start();
    let n = 200;
    let run = unique_run_id("collector-restart");
    stack.stop("victorialogs");
    send_logs(&stack, &run, n);
    let queued = wait_for(Duration::from_secs(10), || stack.collector_queue_size().filter(|q| *q > 0.0));
    println!("queued before the collector restart: {queued:?}");
    assert!(queued.is_some(), "the collector should hold data in its queue\n{}", stack.logs());
    // Graceful stop with data in the persistent queue, then start again: the queue is on disk.
    stack.stop("collector");
    let queue_dir = stack.state_dir().join("data/collector/queue");
    let files = std::fs::read_dir(&queue_dir).map(|d| d.count()).unwrap_or(0);
    assert!(files > 0, "persistent queue files in {}", queue_dir.display());
    stack.start_service("collector");
    stack.start_service("victorialogs");
    assert_exactly_once(&stack, &run, n as u64, Duration::from_secs(90));
}

/// The collector's own `validate` of the shipped otel-collector.yaml: the defaults, every backend
/// switched on, and an unknown exporter rejected. Slow stage, since it needs the collector built
/// (it builds it when missing); never skipped.
#[test]
#[ignore = "slow stage: the OpenTelemetry Collector (built by just stack-build collector)"]
fn collector_validates_the_shipped_config() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = stack::collector_bin(&root);
    let validate = |logs: Option<&str>, traces: Option<&str>| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("validate").arg("--config").arg(root.join("otel-collector.yaml"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AGENT_TELEMETRY_") || k.starts_with("OTEL_")) {
            cmd.env_remove(k);
        }
        if let Some(l) = logs {
            cmd.env("AGENT_TELEMETRY_LOGS_EXPORTERS", l);
        }
        if let Some(t) = traces {
            cmd.env("AGENT_TELEMETRY_TRACES_EXPORTERS", t);
        }
        let out = cmd.output().expect("run collector validate");
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, err) = validate(None, None);
    assert!(ok, "defaults: {err}");
    let (ok, err) = validate(
        Some("[otlp_http/victorialogs, otlp_http/loki, file/archive, debug]"),
        Some("[otlp_grpc/jaeger, otlp_grpc/tempo, file/archive, debug]"),
    );
    assert!(ok, "every backend on: {err}");
    let (ok, out) = validate(Some("[no_such_exporter]"), None);
    assert!(!ok, "validate rejects an unknown exporter in the switch");
    assert!(out.contains("no_such_exporter"), "the rejection names the exporter: {out}");
}
