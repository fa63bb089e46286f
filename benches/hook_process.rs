//! Times the whole `agent-telemetry hook` process on the recorded fixture payloads against a
//! do-nothing binary (`examples/noop.rs`, same release profile) started the same way: same
//! environment, same stdin file, same arguments, spawn → wait.
//!
//! Run with `just bench-hook` (or `scripts/bench/hook.sh`), which builds both release binaries
//! first; `cargo bench --bench hook_process` works too once `cargo build --release --example noop`
//! has run. Settings (environment):
//!
//! - `AT_BENCH_N` (2000): timed runs of each binary; `AT_BENCH_WARMUP` (100).
//! - `AT_BENCH_HOOK_BIN`, `AT_BENCH_NOOP_BIN`: the binaries (default: this build's
//!   `agent-telemetry` and `examples/noop` beside it).
//! - `AT_BENCH_FIXTURES`: the recordings (default `tests/data/fixtures/claude-code-2.1.328`).
//! - `AT_BENCH_FSYNC` (`never`): the journal's fsync setting; `AT_BENCH_RELAY` (`off`): `on`
//!   lets the hook autostart a relay (it then checks the relay's lock on every event).
//! - `AT_BENCH_JSON`: also write the numbers as JSON to this file.
//!
//! Runs of the two binaries alternate (ABBA order), so drift (CPU frequency, other load) hits
//! both alike.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{env_or, Bench, Payload, Stats};

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let n: usize = env_or("AT_BENCH_N", "2000").parse().expect("AT_BENCH_N");
    let warmup: usize = env_or("AT_BENCH_WARMUP", "100").parse().expect("AT_BENCH_WARMUP");
    let hook_bin = PathBuf::from(env_or("AT_BENCH_HOOK_BIN", env!("CARGO_BIN_EXE_agent-telemetry")));
    let noop_bin = std::env::var_os("AT_BENCH_NOOP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| hook_bin.parent().unwrap().join("examples/noop"));
    for b in [&hook_bin, &noop_bin] {
        if !b.exists() {
            eprintln!(
                "missing {}: run scripts/bench/hook.sh (or cargo build --release --bin agent-telemetry --example noop)",
                b.display()
            );
            std::process::exit(2);
        }
    }
    let b = Bench::new();
    let (home, project, fixtures, payloads) = (&b.home, &b.project, &b.fixtures, &b.payloads);
    let data = b.root.join("data");

    let fsync = env_or("AT_BENCH_FSYNC", "never");
    let relay = env_or("AT_BENCH_RELAY", "off");
    let base_env: Vec<(String, String)> = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), home.display().to_string()),
        ("AGENT_TELEMETRY_HOME".into(), data.display().to_string()),
        ("AGENT_TELEMETRY_FSYNC".into(), fsync.clone()),
        ("AGENT_TELEMETRY_RELAY".into(), relay.clone()),
    ];
    let run = |bin: &Path, p: &Payload| -> Duration {
        let stdin = File::open(&p.file).unwrap();
        let mut c = Command::new(bin);
        c.arg("hook")
            .env_clear()
            .envs(base_env.iter().map(|(k, v)| (k, v)))
            .envs(p.env.iter().map(|(k, v)| (k, v)))
            .current_dir(project)
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let t = Instant::now();
        let status = c.spawn().expect("spawn").wait().expect("wait");
        let d = t.elapsed();
        assert!(status.success(), "{} exited {status}", bin.display());
        d
    };

    println!(
        "hook_process: {} payloads from {}, {n} timed runs each (+{warmup} warm-up), fsync={fsync}, relay={relay}",
        payloads.len(),
        fixtures.display()
    );
    for i in 0..warmup {
        let p = &payloads[i % payloads.len()];
        run(&hook_bin, p);
        run(&noop_bin, p);
    }
    let mut hook = Vec::with_capacity(n);
    let mut noop = Vec::with_capacity(n);
    for i in 0..n {
        let p = &payloads[i % payloads.len()];
        if i % 2 == 0 {
            hook.push(run(&hook_bin, p));
            noop.push(run(&noop_bin, p));
        } else {
            noop.push(run(&noop_bin, p));
            hook.push(run(&hook_bin, p));
        }
    }

    // The journal holds every hook run and still verifies.
    let out =
        Command::new(&hook_bin).arg("verify").env_clear().envs(base_env.iter().map(|(k, v)| (k, v))).output().unwrap();
    let verify = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "verify after the benchmark: {verify}");

    let h = Stats::of(&mut hook);
    let z = Stats::of(&mut noop);
    println!("{:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}", "", "min", "median", "mean", "p95", "p99", "max");
    h.print("agent-telemetry");
    z.print("noop");
    let ratio = h.median / z.median;
    println!(
        "median ratio hook/noop: {ratio:.2}x (target <= 1.2x): {}; median overhead over process start: {:.0} µs",
        if ratio <= 1.2 { "OK" } else { "ABOVE TARGET" },
        (h.median - z.median) * 1e6
    );
    println!("p95 ratio {:.2}x, p99 ratio {:.2}x", h.p95 / z.p95, h.p99 / z.p99);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary size: agent-telemetry {} bytes ({:.1} MiB, {}), noop {} bytes ({})",
        size(&hook_bin),
        size(&hook_bin) as f64 / 1048576.0,
        support::linkage(&hook_bin),
        size(&noop_bin),
        support::linkage(&noop_bin)
    );
    println!("journal: {verify}");
    if let Ok(path) = std::env::var("AT_BENCH_JSON") {
        let json = format!(
            "{{\"n\":{n},\"payloads\":{},\"fsync\":\"{fsync}\",\"relay\":\"{relay}\",\"hook\":{},\"noop\":{},\"median_ratio\":{ratio:.4},\"hook_binary_bytes\":{},\"noop_binary_bytes\":{}}}\n",
            payloads.len(),
            h.json(),
            z.json(),
            size(&hook_bin),
            size(&noop_bin)
        );
        std::fs::write(&path, json).unwrap();
        println!("wrote {path}");
    }
}
