//! The soak: a million hook-format records through the whole pipeline — journal → relay →
//! collector (gRPC) → Jaeger + VictoriaLogs — with the relay's memory sampled every second.
//! Run by `just soak` (a benchmark target, not part of `just test-slow`: it takes well over five
//! minutes on 2 cores).
//!
//! The records are written by a generator thread through the library's real append path
//! (`Enricher::record` + `Journal::append`: what the hook runs, lock, chain and rotation
//! included) from the recorded fixtures with distinct ids per copy — a million hook process
//! starts would take 15+ minutes by themselves on this machine. The relay tails the journal while
//! it grows. At the end:
//!
//! - VictoriaLogs holds every record: distinct `agent_telemetry.seq` = records journaled; rows
//!   beyond that (duplicates) are counted and must be zero (no process died);
//! - Jaeger holds every span of a sample of sessions spread over the run (span ids per trace
//!   equal to a reference export of the same fixtures to OTLP files);
//! - `verify` holds locally and `verify --remote` against VictoriaLogs;
//! - the relay's RSS (VmRSS from /proc/PID/status, every second) is printed as a table and an
//!   ASCII plot, with start / peak / end, and written to `$AT_SOAK_OUT` (default
//!   `target/soak-rss.csv`). Flat means: the last quarter's mean is within 1.5× of the second
//!   quarter's (after warm-up) and never above 512 MiB.
//!
//! What it guards against: an assembler that keeps every session it ever saw grows the relay
//! without bound and slows every checkpoint (ended sessions are forgotten an hour after their end
//! and beyond the most recent 1,024). Figures: docs/benchmarks.md ("Soak").
//!
//!     AT_SOAK_EVENTS=1000000 cargo bench --bench soak

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{relay, stack};

use relay::*;
use stack::{sentinel_payloads, sentinel_session_id, wait_for, Stack};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn trace_hex(session: &str) -> String {
    agent_telemetry::ids::hex(&agent_telemetry::ids::trace_id_for_session(session))
}

/// Fixture cycles per generator call (one tag per call).
const CHUNK_CYCLES: usize = 100;

#[derive(Clone, Copy)]
struct Sample {
    secs: f64,
    rss_kib: u64,
    exported: u64,
    journaled: u64,
}

/// A benchmark target, not a test: `just soak` runs it (a failed check panics: non-zero exit).
fn main() {
    let n: usize = std::env::var("AT_SOAK_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let stack = Stack::start();
    let env = Install::new("soak-");
    let dest = Dest::Grpc(stack.otlp_grpc_endpoint());
    let cycle: usize = FIXTURES.iter().map(|f| load_fixture(f).len()).sum();

    // The reference: one copy of each fixture exported to OTLP files; span count per (session
    // without its copy suffix, fixture index).
    let reference = Install::new("soak-reference-");
    let ref_sessions = synth_journal(&reference.data, &reference.project, cycle, "x", now_ns());
    relay_once(&reference, &Dest::File, &[], Duration::from_secs(120));
    let (ref_spans, _) = read_otlp(&reference.data, (0, 0));
    let mut spans_per_trace: BTreeMap<String, usize> = BTreeMap::new();
    for s in &ref_spans {
        *spans_per_trace.entry(s.trace_id.clone()).or_default() += 1;
    }
    // (natural session id, copy index within a cycle) → spans in its trace.
    let mut expected: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for s in &ref_sessions {
        let (natural, copy) = s.rsplit_once("-x").expect("a reference session id ends with -x<copy>");
        if let Some(k) = spans_per_trace.get(&trace_hex(s)) {
            expected.insert((natural.to_string(), copy.parse().unwrap()), *k);
        }
    }
    assert!(expected.len() >= FIXTURES.len(), "reference traces: {expected:?}");

    // The generator: n records, in chunks of one cycle, while the relay runs.
    let journaled = Arc::new(AtomicU64::new(0));
    let data = env.data.clone();
    let project = env.project.clone();
    let gen_count = journaled.clone();
    let t0 = Instant::now();
    let generator = std::thread::spawn(move || {
        let mut sessions = BTreeSet::new();
        let mut written = 0usize;
        let mut chunk = 0usize;
        while written < n {
            let k = (n - written).min(CHUNK_CYCLES * cycle);
            // Ids per copy: `<natural id>-s<chunk>-<copy>`, copy 0..400 within the chunk.
            sessions.extend(synth_journal(&data, &project, k, &format!("s{chunk}-"), now_ns()));
            written += k;
            chunk += 1;
            gen_count.store(written as u64, Ordering::Relaxed);
        }
        sessions
    });
    let relay = RelayProc::start(&env, &dest, &[("AGENT_TELEMETRY_POLL_MS", "50")]);
    let pid = relay.child.id();
    let data_dir = env.data.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let journaled = journaled.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let Some(rss) = rss_kib(pid) else { break };
                let exported = relay_status(&data_dir)["exported_records"].as_u64().unwrap_or(0);
                out.push(Sample {
                    secs: start.elapsed().as_secs_f64(),
                    rss_kib: rss,
                    exported,
                    journaled: journaled.load(Ordering::Relaxed),
                });
                std::thread::sleep(Duration::from_secs(1));
            }
            out
        })
    };
    let sessions = generator.join().expect("generator");
    let generated_in = t0.elapsed();
    println!("generated {n} records in {generated_in:?} ({:.0}/s)", n as f64 / generated_in.as_secs_f64());
    let journal_n = env.journal_records() as u64;
    assert_eq!(journal_n, n as u64, "records journaled");

    // Everything at VictoriaLogs (by distinct seq), then a sentinel: after it, nothing more.
    let got = wait_for(Duration::from_secs(3600), || {
        let c = stack.vl_count("*")?;
        (c.1 >= journal_n).then_some(c)
    });
    let delivered_in = t0.elapsed();
    assert!(
        got.is_some(),
        "{journal_n} distinct seq expected at VictoriaLogs, have {:?}\n{}",
        stack.vl_count("*"),
        stack.logs()
    );
    let sid = sentinel_session_id();
    hook_lines(&env, &sentinel_payloads(&sid, &env.project));
    stack.wait_for_sentinel(&sid);
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let end_rss = rss_kib(pid);
    let (rows, uniq) = stack.vl_count("*").expect("VictoriaLogs counts");
    let total = env.journal_records() as u64;
    println!(
        "SOAK: {n} events journaled in {:.1} s; all at VictoriaLogs after {:.1} s ({:.0} events/s end to end); VictoriaLogs rows {rows}, distinct seq {uniq} (journal {total} with the sentinel), duplicates {}",
        generated_in.as_secs_f64(),
        delivered_in.as_secs_f64(),
        n as f64 / delivered_in.as_secs_f64(),
        rows - uniq
    );
    assert_eq!(uniq, total, "every record at VictoriaLogs");
    assert_eq!(rows, uniq, "no duplicates: no process died");

    // Jaeger: a sample of sessions spread over the run, each trace whole.
    let chunks = n / (CHUNK_CYCLES * cycle);
    let mut checked = 0usize;
    let mut spans_checked = 0usize;
    for chunk in (0..chunks).step_by((chunks / 12).max(1)) {
        for ((natural, copy), want) in &expected {
            // A copy of the same fixture somewhere in the chunk.
            let copy = copy + FIXTURES.len() * ((chunk * 7) % CHUNK_CYCLES);
            let session = format!("{natural}-s{chunk}-{copy}");
            if !sessions.contains(&session) {
                continue;
            }
            let trace = trace_hex(&session);
            let have = wait_for(Duration::from_secs(60), || {
                let t = stack.jaeger_trace(&trace)?;
                let ids: BTreeSet<String> = spans_from_jaeger(&t).into_iter().map(|s| s.span_id).collect();
                (ids.len() >= *want).then_some(ids.len())
            });
            assert_eq!(have, Some(*want), "session {session}: trace {trace} at Jaeger, {want} spans expected");
            checked += 1;
            spans_checked += want;
        }
    }
    println!("Jaeger: {checked} sampled traces whole ({spans_checked} spans)");
    assert!(checked >= chunks.clamp(1, 12) * FIXTURES.len(), "sampled traces: {checked}");

    // verify, local and remote.
    let t = Instant::now();
    let out = env.command(&["verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    println!("verify ({:.1} s): {}", t.elapsed().as_secs_f64(), text.trim());
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("journal OK: {total} record(s)")), "{text}");
    let t = Instant::now();
    let out = env.command(&["verify", "--remote", &stack.victorialogs_url(), "--remote-filter", "*"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    println!("verify --remote ({:.1} s): {}", t.elapsed().as_secs_f64(), text.trim());
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("{total} record(s) match, 0 not exported yet")), "{text}");

    // Memory: table, plot, flatness.
    assert!(samples.len() >= 8, "too few RSS samples: {}", samples.len());
    let mib = |k: u64| k as f64 / 1024.0;
    // (The very first sample can be the process before its binary is loaded: a few KiB.)
    let start = samples.iter().map(|s| s.rss_kib).find(|k| *k > 1024).unwrap_or(samples[0].rss_kib);
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap();
    let end = end_rss.unwrap_or(samples.last().unwrap().rss_kib);
    let out_path =
        std::env::var("AT_SOAK_OUT").unwrap_or_else(|_| format!("{}/target/soak-rss.csv", env!("CARGO_MANIFEST_DIR")));
    let mut csv = String::from("secs,rss_kib,exported,journaled\n");
    for s in &samples {
        csv.push_str(&format!("{:.1},{},{},{}\n", s.secs, s.rss_kib, s.exported, s.journaled));
    }
    let _ = std::fs::write(&out_path, csv);
    println!(
        "relay RSS: start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB ({} samples, {out_path})",
        mib(start),
        mib(peak),
        mib(end),
        samples.len()
    );
    let rows_out = 16usize;
    let step = (samples.len() / rows_out).max(1);
    println!(
        "{:>7} {:>9} {:>9} {:>10}  RSS (each # = {:.1} MiB)",
        "t (s)",
        "journaled",
        "exported",
        "RSS (MiB)",
        mib(peak) / 50.0
    );
    for s in samples.iter().step_by(step).chain(std::iter::once(samples.last().unwrap())) {
        let bar = "#".repeat(((s.rss_kib as f64 / peak as f64) * 50.0).round() as usize);
        println!("{:>7.0} {:>9} {:>9} {:>10.1}  {bar}", s.secs, s.journaled, s.exported, mib(s.rss_kib));
    }
    let q = samples.len() / 4;
    let mean = |v: &[Sample]| v.iter().map(|s| s.rss_kib as f64).sum::<f64>() / v.len() as f64;
    let (second, last) = (mean(&samples[q..2 * q]), mean(&samples[3 * q..]));
    println!("relay RSS mean: second quarter {:.1} MiB, last quarter {:.1} MiB", second / 1024.0, last / 1024.0);
    assert!(last <= second * 1.5, "relay memory grows: {:.1} → {:.1} MiB", second / 1024.0, last / 1024.0);
    assert!(peak <= 512 * 1024, "relay peak RSS {:.1} MiB", mib(peak));
    assert_eq!(relay.stop(Duration::from_secs(60)), Some(0));
}
