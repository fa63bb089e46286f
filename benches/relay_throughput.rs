//! Relay throughput: events/s from the journal to the destination, on this machine.
//!
//! Pre-fills a journal with N realistic records (the four fixtures' events, cycled, with
//! distinct session/prompt/tool/agent ids per copy; real `JournalRecord`s through the library's
//! enrich + `Journal::append`), then times `agent-telemetry relay --once` until it exits:
//! 1. the file exporter (OTLP JSON lines), no servers;
//! 2. OTLP gRPC to the local stack's collector (started with tests/harness/stack.rs), and the time
//!    until VictoriaLogs holds all N log records; then a table per stage: the relay's own stages
//!    (from `status.json`'s `stages`: journal read + parse, assembly, checkpoint encode, SDK
//!    convert, export until the collector acknowledges), and the CPU (user + system, from
//!    `wait4` for the relay and `/proc/PID/stat` for the collector, Jaeger and VictoriaLogs,
//!    until they are idle again) of each process, as events/s per core;
//! 3. OTLP HTTP/protobuf to the same collector.
//!
//! `cargo bench --bench relay_throughput` (N: RELAY_BENCH_EVENTS, default 50000;
//! RELAY_BENCH_NO_STACK=1 runs only the file exporter; RELAY_BENCH_KEEP_SEED=<dir> keeps a copy of
//! the journal there, for profiling `relay --once` by hand; RELAY_BENCH_BASELINE_BIN=<binary>
//! runs every measurement with that binary first, on the same journal, for a before/after;
//! RELAY_BENCH_BIN=<binary> measures that binary as "this build" — e.g. a release binary from a
//! harness built in the dev profile: `cargo build --release && RELAY_BENCH_BIN=target/<host tuple>/
//! release/agent-telemetry cargo test --bench relay_throughput`). Also `just bench-relay`.

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{relay, stack};

use relay::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn copy_journal(from: &Install, to: &Install) {
    let src = from.data.join("journal");
    let dst = to.data.join("journal");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
    }
}

fn journal_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join("journal"))
        .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// One `relay --once` run: wall seconds, CPU seconds (user + system), its status.json.
struct Run {
    wall: f64,
    cpu: f64,
    status: serde_json::Value,
}

/// `relay --once` with `bin` (ours when `None`: the bench's own build, or RELAY_BENCH_BIN),
/// waited for with `wait4` to get its CPU time (which clippy cannot see).
#[allow(clippy::zombie_processes)]
fn timed_once(env: &Install, dest: &Dest, n: usize, label: &str, bin: Option<&Path>) -> Run {
    let mut cmd = relay_command(env, dest, &["relay", "--once"], &[]);
    let ours = std::env::var_os("RELAY_BENCH_BIN").map(PathBuf::from);
    if let Some(b) = bin.or(ours.as_deref()) {
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut other = std::process::Command::new(b);
        other.args(args);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => other.env(k, v),
                None => other.env_remove(k),
            };
        }
        if let Some(d) = cmd.get_current_dir() {
            other.current_dir(d);
        }
        cmd = other;
    }
    let t = Instant::now();
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn relay");
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `status` and `ru` are valid for the call.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall = t.elapsed().as_secs_f64();
    assert!(
        r > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{label}: relay --once failed ({status})"
    );
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.data.join("relay/status.json")).unwrap()).unwrap();
    assert_eq!(st["exported_records"].as_u64(), Some(n as u64), "{label}: status {st}");
    println!("{label:<40} {n} events in {wall:.2} s = {:>8.0} events/s ({} spans; relay CPU {cpu:.2} s = {:.0} events/s per core)", n as f64 / wall, st["exported_spans"], n as f64 / cpu);
    Run { wall, cpu, status: st }
}

/// utime + stime of a process, in seconds.
fn proc_cpu(pid: i32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from the state (field 3) here.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}

const SERVICES: [&str; 3] = ["collector", "jaeger", "victorialogs"];

fn services_cpu(stack: &stack::Stack) -> Vec<f64> {
    SERVICES.iter().map(|s| stack.pid(s).and_then(proc_cpu).unwrap_or(f64::NAN)).collect()
}

fn vl_total(stack: &stack::Stack) -> u64 {
    stack.vl_count("*").map(|c| c.0).unwrap_or(0)
}

/// gRPC through the stack, per stage: the relay's stages and each process's CPU.
fn grpc_stages(seed: &Install, stack: &stack::Stack, n: usize, label: &str, bin: Option<&Path>) {
    let env = Install::new("relay-bench-grpc-");
    copy_journal(seed, &env);
    let before_total = vl_total(stack);
    // The services' idle CPU rate, to take out of what they used.
    let idle0 = services_cpu(stack);
    std::thread::sleep(Duration::from_secs(2));
    let idle1 = services_cpu(stack);
    let idle_rate: Vec<f64> = idle0.iter().zip(&idle1).map(|(a, b)| (b - a) / 2.0).collect();
    let cpu0 = services_cpu(stack);
    let t0 = Instant::now();
    let run =
        timed_once(&env, &Dest::Grpc(stack.otlp_grpc_endpoint()), n, &format!("relay --once (gRPC) {label}"), bin);
    let all = stack::wait_for(Duration::from_secs(600), || (vl_total(stack) >= before_total + n as u64).then_some(()));
    let e2e = t0.elapsed().as_secs_f64();
    if all.is_none() {
        println!("  VictoriaLogs did not reach {n} more records within 600 s");
        return;
    }
    // Until every service is idle again (Jaeger may still be writing): CPU over 1 s below 2× idle.
    let mut last = services_cpu(stack);
    let quiet_from = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = services_cpu(stack);
        let busy = now.iter().zip(&last).zip(&idle_rate).any(|((a, b), idle)| a - b > 2.0 * idle + 0.02);
        last = now;
        if !busy || quiet_from.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    let span = t0.elapsed().as_secs_f64();
    let used: Vec<f64> =
        last.iter().zip(&cpu0).zip(&idle_rate).map(|((b, a), idle)| (b - a - idle * span).max(0.0)).collect();
    let ms = |k: &str| run.status["stages"][k].as_u64().unwrap_or(0) as f64 / 1000.0;
    let per = |secs: f64| if secs > 0.0 { format!("{:>9.0}", n as f64 / secs) } else { "        -".into() };
    println!("  stages, {n} events ({label}): time, events/s (per core where the stage is CPU)");
    println!("    {:<52} {:>8.2} s {}", "relay: journal read + parse", ms("read_parse"), per(ms("read_parse")));
    println!(
        "    {:<52} {:>8.2} s {}",
        "relay: assembly (spans, logs, transcripts, gaps)",
        ms("assemble"),
        per(ms("assemble"))
    );
    println!(
        "    {:<52} {:>8.2} s {}",
        "relay: checkpoint encode",
        ms("checkpoint_encode"),
        per(ms("checkpoint_encode"))
    );
    println!("    {:<52} {:>8.2} s {}", "relay: SDK convert", ms("convert"), per(ms("convert")));
    println!(
        "    {:<52} {:>8.2} s {}",
        "relay: OTLP encode + send until the collector acks (wall)",
        ms("export_until_ack"),
        per(ms("export_until_ack"))
    );
    println!("    {:<52} {:>8.2} s {}", "relay process CPU (user + sys)", run.cpu, per(run.cpu));
    for (s, c) in SERVICES.iter().zip(&used) {
        println!("    {:<52} {:>8.2} s {}", format!("{s} CPU (user + sys, idle taken out)"), c, per(*c));
    }
    println!("    {:<52} {:>8.2} s {}", "relay wall (journal → collector ack)", run.wall, per(run.wall));
    println!("    {:<52} {:>8.2} s {}", "end to end wall (until VictoriaLogs holds all)", e2e, per(e2e));
    let total: f64 = run.cpu + used.iter().sum::<f64>();
    println!("    {:<52} {:>8.2} s {}", "all four processes' CPU", total, per(total));
}

fn main() {
    let n: usize = std::env::var("RELAY_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let baseline: Option<PathBuf> = std::env::var_os("RELAY_BENCH_BASELINE_BIN").map(PathBuf::from);
    let bins: Vec<(String, Option<&Path>)> = match &baseline {
        Some(b) => vec![("[baseline]".into(), Some(b.as_path())), ("[this build]".into(), None)],
        None => vec![(String::new(), None)],
    };
    let seed = Install::new("relay-bench-seed-");
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
        let keep = Install {
            dir: tempfile::TempDir::new().unwrap(),
            data: Path::new(&dir).to_path_buf(),
            project: seed.project.clone(),
            home: seed.home.clone(),
        };
        copy_journal(&seed, &keep);
        println!("seed journal copied to {dir}/journal");
    }
    for (label, bin) in &bins {
        let file = Install::new("relay-bench-file-");
        copy_journal(&seed, &file);
        timed_once(&file, &Dest::File, n, &format!("relay --once (file) {label}"), *bin);
    }

    if std::env::var("RELAY_BENCH_NO_STACK").is_ok() {
        return;
    }
    let stack = stack::Stack::start();
    for (label, bin) in &bins {
        grpc_stages(&seed, &stack, n, label, *bin);
    }
    for (label, bin) in &bins {
        let http = Install::new("relay-bench-http-");
        copy_journal(&seed, &http);
        timed_once(
            &http,
            &Dest::Http(stack.otlp_http_endpoint()),
            n,
            &format!("relay --once (http/protobuf) {label}"),
            *bin,
        );
    }
}
