//! Relay throughput: events/s from the journal to the destination, on this machine.
//!
//! Pre-fills a journal with N realistic records (the four fixtures' events, cycled, with
//! distinct session/prompt/tool/agent ids per copy; real `JournalRecord`s through the library's
//! enrich + `Journal::append`), then times `agent-telemetry relay --once` until it exits:
//! 1. the file exporter (OTLP JSON lines), no servers;
//! 2. OTLP gRPC to the local stack's collector (started with tests/common/stack.rs), and the time
//!    until VictoriaLogs holds all N log records;
//! 3. OTLP HTTP/protobuf to the same collector.
//!
//! `cargo bench --bench relay_throughput` (N: RELAY_BENCH_EVENTS, default 50000;
//! RELAY_BENCH_NO_STACK=1 runs only the file exporter; RELAY_BENCH_KEEP_SEED=<dir> keeps a copy of
//! the journal there, for profiling `relay --once` by hand). Also `just bench-relay`.

#[path = "../tests/common/stack.rs"]
mod stack;

#[path = "../tests/relay_support/mod.rs"]
mod relay_support;

use relay_support::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn copy_journal(from: &Env, to: &Env) {
    let src = from.data.join("journal");
    let dst = to.data.join("journal");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
    }
}

fn journal_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join("journal")).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

fn timed_once(env: &Env, dest: &Dest, n: usize, label: &str) -> f64 {
    let t = Instant::now();
    relay_once(env, dest, &[], Duration::from_secs(900));
    let secs = t.elapsed().as_secs_f64();
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(env.data.join("relay/status.json")).unwrap()).unwrap();
    assert_eq!(st["exported_records"].as_u64(), Some(n as u64), "{label}: status {st}");
    println!("{label:<28} {n} events in {secs:.2} s = {:>8.0} events/s ({} spans)", n as f64 / secs, st["exported_spans"]);
    secs
}

fn main() {
    let n: usize = std::env::var("RELAY_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let seed = Env::new("relay-bench-seed-");
    let t = Instant::now();
    let sessions = synth_journal(&seed.data, &seed.project, n, "b", now_ns() - n as u64 * 1_000);
    println!(
        "journal: {n} records, {} sessions, {:.1} MB, written in {:.2} s (library append: {:.0}/s)",
        sessions.len(),
        journal_bytes(&seed.data) as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64()
    );

    // For profiling: keep a copy of the seed journal (AGENT_TELEMETRY_HOME=<dir> relay --once).
    if let Ok(dir) = std::env::var("RELAY_BENCH_KEEP_SEED") {
        let keep = Env { dir: tempfile::TempDir::new().unwrap(), data: Path::new(&dir).to_path_buf(), project: seed.project.clone(), home: seed.home.clone() };
        copy_journal(&seed, &keep);
        println!("seed journal copied to {dir}/journal");
    }
    let file = Env::new("relay-bench-file-");
    copy_journal(&seed, &file);
    timed_once(&file, &Dest::File, n, "relay --once (file)");

    if std::env::var("RELAY_BENCH_NO_STACK").is_ok() {
        return;
    }
    let stack = stack::Stack::start();
    let grpc = Env::new("relay-bench-grpc-");
    copy_journal(&seed, &grpc);
    let t0 = Instant::now();
    timed_once(&grpc, &Dest::Grpc(stack.otlp_grpc_endpoint()), n, "relay --once (gRPC)");
    let all = stack::wait_for(Duration::from_secs(300), || {
        let rows = stack.victorialogs_query("* | stats count() as total");
        let total: u64 = rows.first()?.get("total")?.as_str()?.parse().ok()?;
        (total >= n as u64).then_some(total)
    });
    match all {
        Some(total) => println!("{:<28} {total} log records in VictoriaLogs {:.2} s after the relay started", "  end to end (VictoriaLogs)", t0.elapsed().as_secs_f64()),
        None => println!("  VictoriaLogs did not reach {n} records within 300 s"),
    }
    let http = Env::new("relay-bench-http-");
    copy_journal(&seed, &http);
    timed_once(&http, &Dest::Http(stack.otlp_http_endpoint()), n, "relay --once (http/protobuf)");
}
