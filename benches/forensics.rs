//! `just bench-forensics [RECORDS]` / `cargo bench --bench forensics -- [RECORDS]`: writes a
//! realistic journal of RECORDS records (default 1,000,000; a fleet's weeks are 10,000,000)
//! with `forensics::synth`, then times the release binary as a user runs it: the first
//! `sessions` (which builds the index), the index's size, and `sessions`, `search`, `timeline`
//! `tree`, `export` and `report`, and `fleet conflicts [--by-file]|compare|overlaps|tree|agents`, on the built index (best of 3 runs each; export once). Set FORENSICS_BENCH_DIR to keep the data.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The binary under test: cargo's, or FORENSICS_BENCH_BIN (a copy, so a long run is not
/// changed under it by a rebuild).
fn bin() -> String {
    std::env::var("FORENSICS_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_agent-telemetry").to_string())
}

fn time(data: &Path, args: &[&str]) -> (Duration, usize) {
    let t = Instant::now();
    let out = Command::new(bin()).args(args).arg("--data").arg(data).env_clear().env("HOME", data).output().unwrap();
    let d = t.elapsed();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (d, out.stdout.iter().filter(|b| **b == b'\n').count())
}

/// CPU seconds (user + system) used by finished children so far.
fn children_cpu() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn best(data: &Path, args: &[&str]) -> (Duration, usize) {
    (0..3).map(|_| time(data, args)).min_by_key(|(d, _)| *d).unwrap()
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

fn main() {
    let records: u64 = std::env::args().skip(1).find_map(|a| a.replace('_', "").parse().ok()).unwrap_or(1_000_000);
    let keep = std::env::var_os("FORENSICS_BENCH_DIR");
    let tmp = tempfile::tempdir().unwrap();
    let data = keep.as_ref().map(|d| Path::new(d).to_path_buf()).unwrap_or_else(|| tmp.path().to_path_buf());
    let journal = data.join("journal");
    let _ = std::fs::remove_dir_all(&journal);
    let _ = std::fs::remove_dir_all(data.join("index"));
    let start = 1_796_000_000u64 * 1_000_000_000;
    let t = Instant::now();
    let sum = agent_telemetry::forensics::synth::generate(&journal, records, start, 42).unwrap();
    let gen = t.elapsed();
    let jbytes = dir_size(&journal);
    println!(
        "generated {} records, {} sessions ({} child), {} subagents, {:.0} MB journal in {:.1}s",
        sum.records,
        sum.sessions,
        sum.child_sessions,
        sum.subagents,
        jbytes as f64 / 1e6,
        gen.as_secs_f64()
    );
    let m = sum.records as f64 / 1e6;

    let cpu0 = children_cpu();
    let (build, n) = time(&data, &["sessions"]);
    let cpu = children_cpu() - cpu0;
    let ibytes = dir_size(&data.join("index"));
    println!(
        "| index build (first `sessions`) | {:.1} s wall, {:.1} s CPU | {:.0} records/s wall, {:.0} per CPU second |",
        build.as_secs_f64(),
        cpu,
        sum.records as f64 / build.as_secs_f64(),
        sum.records as f64 / cpu
    );
    println!(
        "| index size | {:.0} MB | {:.0} MB per million records (journal: {:.0} MB per million) |",
        ibytes as f64 / 1e6,
        ibytes as f64 / 1e6 / m,
        jbytes as f64 / 1e6 / m
    );
    println!("| sessions rows | {n} | |");

    // A session in the middle, and one of its ids' prefix.
    let sessions = Command::new(bin())
        .args(["sessions", "--json", "--data"])
        .arg(&data)
        .env_clear()
        .env("HOME", &data)
        .output()
        .unwrap();
    let lines: Vec<&str> = std::str::from_utf8(&sessions.stdout).unwrap().lines().collect();
    let mid: serde_json::Value = serde_json::from_str(lines[lines.len() / 2]).unwrap();
    let sid = mid["session_id"].as_str().unwrap().to_string();
    let until = agent_telemetry::timefmt::rfc3339_nanos(start + 3600 * 1_000_000_000);
    let queries: Vec<(&str, Vec<&str>)> = vec![
        ("sessions (all)", vec!["sessions"]),
        ("sessions --flag sensitive_file.ssh_key", vec!["sessions", "--flag", "sensitive_file.ssh_key"]),
        (
            "sessions --project billing --agent reviewer",
            vec!["sessions", "--project", "billing", "--agent", "reviewer"],
        ),
        (
            "search --flag risky_command.curl_pipe_shell --limit 1000",
            vec!["search", "--flag", "risky_command.curl_pipe_shell", "--limit", "1000"],
        ),
        ("search --outside --until +1h", vec!["search", "--outside", "--until", &until]),
        (
            "search --tool Write,Edit --event PostToolUse --until +1h",
            vec!["search", "--tool", "Write,Edit", "--event", "PostToolUse", "--until", &until],
        ),
        (
            "search --command 'push --force' --limit 1000",
            vec!["search", "--command", "push --force", "--limit", "1000"],
        ),
        ("search --path '*/.ssh/*' --limit 1000", vec!["search", "--path", "*/.ssh/*", "--limit", "1000"]),
        ("search --session S", vec!["search", "--session", &sid]),
        ("search --path '*/src/m7/*' --tool Read", vec!["search", "--path", "*/src/m7/*", "--tool", "Read"]),
        ("timeline S", vec!["timeline", &sid]),
        ("tree S", vec!["tree", &sid]),
        ("fleet conflicts (10m window)", vec!["fleet", "conflicts"]),
        ("fleet conflicts --window 1h", vec!["fleet", "conflicts", "--window", "1h"]),
        ("fleet conflicts --by-file", vec!["fleet", "conflicts", "--by-file"]),
        ("fleet compare", vec!["fleet", "compare"]),
        ("fleet compare --project billing", vec!["fleet", "compare", "--project", "billing"]),
        ("fleet agents", vec!["fleet", "agents"]),
        ("fleet overlaps", vec!["fleet", "overlaps"]),
        ("fleet tree S", vec!["fleet", "tree", &sid]),
        ("fleet tree (all)", vec!["fleet", "tree"]),
    ];
    for (name, args) in queries {
        let (d, n) = best(&data, &args);
        println!("| {name} | {:.0} ms | {n} lines |", d.as_secs_f64() * 1000.0);
    }
    let out = data.join("export.jsonl");
    let t = Instant::now();
    let o = Command::new(bin())
        .args(["export", "--format", "jsonl", "--flag", "risky_command", "-o"])
        .arg(&out)
        .arg("--data")
        .arg(&data)
        .env_clear()
        .env("HOME", &data)
        .output()
        .unwrap();
    assert!(o.status.success());
    let d = t.elapsed().as_secs_f64();
    let ebytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!(
        "| export --format jsonl --flag risky_command | {:.0} ms | {} records, {:.0} records/s, {:.1} MB/s |",
        d * 1000.0,
        sum.risky_records,
        sum.risky_records as f64 / d,
        ebytes as f64 / 1e6 / d
    );
    let _ = std::fs::remove_file(out);
    let html = data.join("report.html");
    let (d, _) = best(&data, &["report", &sid, "-o", html.to_str().unwrap()]);
    println!(
        "| report S -o FILE | {:.0} ms | {:.0} KB of HTML |",
        d.as_secs_f64() * 1000.0,
        std::fs::metadata(&html).map(|m| m.len()).unwrap_or(0) as f64 / 1e3
    );
    let _ = std::fs::remove_file(html);
}
