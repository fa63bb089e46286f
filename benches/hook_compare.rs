//! The hook against what it replaces and under load, on the recorded payloads:
//!
//! 1. one event at a time: our hook, a do-nothing process and the seed's bash + jq + curl hook
//!    (`bench/seed-hook.sh`, written from the seed's description), runs interleaved;
//! 2. 16 sessions at once (16 threads, each its own session's payloads in order, all appending
//!    to one journal as parallel Claude sessions do): our hook and the do-nothing process, per
//!    event latency and events/s.
//!
//! Run with `just bench-compare [N]`. Settings: `AT_BENCH_N` (500 single runs of ours and the
//! noop; the seed hook gets a fifth, it is slow), `AT_BENCH_CONCURRENCY` (16), `AT_BENCH_PER_SESSION`
//! (100), `AT_BENCH_HOOK_BIN`, `AT_BENCH_NOOP_BIN`, `AT_BENCH_FIXTURES`.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{env_or, Bench, Payload, Stats};

struct Setup {
    project: PathBuf,
    env: Vec<(String, String)>,
}

fn run(s: &Setup, bin: &Path, arg: Option<&str>, p: &Payload) -> Duration {
    let mut c = Command::new(bin);
    if let Some(a) = arg {
        c.arg(a);
    }
    c.env_clear()
        .envs(s.env.iter().map(|(k, v)| (k, v)))
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&s.project)
        .stdin(File::open(&p.file).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t = Instant::now();
    let st = c.spawn().unwrap().wait().unwrap();
    let d = t.elapsed();
    assert!(st.success(), "{} exited {st}", bin.display());
    d
}

fn main() {
    let n: usize = env_or("AT_BENCH_N", "500").parse().unwrap();
    let conc: usize = env_or("AT_BENCH_CONCURRENCY", "16").parse().unwrap();
    let per: usize = env_or("AT_BENCH_PER_SESSION", "100").parse().unwrap();
    let hook = PathBuf::from(env_or("AT_BENCH_HOOK_BIN", env!("CARGO_BIN_EXE_agent-telemetry")));
    let noop = std::env::var_os("AT_BENCH_NOOP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| hook.parent().unwrap().join("examples/noop"));
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/seed-hook.sh");
    for b in [&hook, &noop, &seed] {
        assert!(b.exists(), "missing {}: run `just bench-compare`", b.display());
    }
    for tool in ["bash", "jq", "curl"] {
        assert!(
            Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok(),
            "the seed hook needs {tool}"
        );
    }
    let b = Bench::new();
    let (root, home, project, payloads) = (&b.root, &b.home, b.project.clone(), &b.payloads);
    let setup = Setup {
        project: project.clone(),
        env: vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), home.display().to_string()),
            ("AGENT_TELEMETRY_HOME".into(), root.join("data").display().to_string()),
            ("AGENT_TELEMETRY_RELAY".into(), "off".into()),
            ("SEED_LOG_DIR".into(), root.join("seed-log").display().to_string()),
            // A closed port: the seed's fire-and-forget push fails at once.
            ("SEED_LOKI_URL".into(), "http://127.0.0.1:9".into()),
        ],
    };

    // 1. One at a time.
    let n_seed = (n / 5).max(20);
    println!(
        "hook_compare: {} payloads; single: {n} runs of ours and the noop, {n_seed} of the seed hook",
        payloads.len()
    );
    let (mut ours, mut zero, mut bash) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let p = &payloads[i % payloads.len()];
        if i % 2 == 0 {
            ours.push(run(&setup, &hook, Some("hook"), p));
            zero.push(run(&setup, &noop, Some("hook"), p));
        } else {
            zero.push(run(&setup, &noop, Some("hook"), p));
            ours.push(run(&setup, &hook, Some("hook"), p));
        }
        if i % (n / n_seed).max(1) == 0 && bash.len() < n_seed {
            bash.push(run(&setup, &seed, None, p));
        }
    }
    let (o, z, b) = (Stats::of(&mut ours), Stats::of(&mut zero), Stats::of(&mut bash));
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "one at a time", "min", "median", "mean", "p95", "p99", "max"
    );
    o.print("agent-telemetry hook");
    z.print("do-nothing process");
    b.print("seed bash+jq+curl");
    println!(
        "median: ours {:.2}x a do-nothing process; the seed's hook {:.1}x ours",
        o.median / z.median,
        b.median / o.median
    );

    // 2. Sessions at once.
    let concurrent = |bin: &Path| -> (Vec<Duration>, Duration) {
        let t = Instant::now();
        let all: Vec<Duration> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..conc)
                .map(|k| {
                    let (setup, payloads) = (&setup, &payloads);
                    sc.spawn(move || {
                        (0..per)
                            .map(|i| run(setup, bin, Some("hook"), &payloads[(k * 7 + i) % payloads.len()]))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        (all, t.elapsed())
    };
    let (mut co, to) = concurrent(&hook);
    let (mut cz, tz) = concurrent(&noop);
    let events = (conc * per) as f64;
    let (co_s, cz_s) = (Stats::of(&mut co), Stats::of(&mut cz));
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        format!("{conc} sessions at once"),
        "min",
        "median",
        "mean",
        "p95",
        "p99",
        "max"
    );
    co_s.print("agent-telemetry hook");
    cz_s.print("do-nothing process");
    println!(
        "{conc} sessions: ours {:.0} events/s ({:.2}x the do-nothing process's median latency), do-nothing {:.0} events/s",
        events / to.as_secs_f64(),
        co_s.median / cz_s.median,
        events / tz.as_secs_f64()
    );
    let out =
        Command::new(&hook).arg("verify").env_clear().envs(setup.env.iter().map(|(k, v)| (k, v))).output().unwrap();
    assert!(out.status.success(), "verify after {conc} concurrent sessions: {}", String::from_utf8_lossy(&out.stdout));
    println!("journal: {}", String::from_utf8_lossy(&out.stdout).trim());
}
