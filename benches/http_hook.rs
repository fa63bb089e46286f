//! The two hook transports on the recorded payloads, as Claude Code pays for them: a POST to the
//! relay's http hook endpoint over a kept-alive connection (`install --transport http`) against
//! the command hook's whole process (`agent-telemetry hook`) and a do-nothing process, runs
//! interleaved (ABC, CBA) so drift hits all alike. Each http request is answered after its
//! record is in the journal, as Claude Code waits for it.
//!
//! Run with `just bench-http-hook [N]` (builds the release binaries first). Settings:
//! `AT_BENCH_N` (1000), `AT_BENCH_WARMUP` (50), `AT_BENCH_HOOK_BIN`, `AT_BENCH_NOOP_BIN`,
//! `AT_BENCH_FIXTURES` (as for `bench-hook`).

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{env_or, Bench, Stats};

/// One request on a kept-alive connection; panics unless the answer is 200.
fn post(r: &mut BufReader<TcpStream>, body: &[u8]) {
    let head = format!("POST /agent-telemetry/hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    r.get_mut().write_all(head.as_bytes()).unwrap();
    r.get_mut().write_all(body).unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut b = vec![0; len];
    r.read_exact(&mut b).unwrap();
}

fn main() {
    let n: usize = env_or("AT_BENCH_N", "1000").parse().expect("AT_BENCH_N");
    let warmup: usize = env_or("AT_BENCH_WARMUP", "50").parse().expect("AT_BENCH_WARMUP");
    let hook_bin = PathBuf::from(env_or("AT_BENCH_HOOK_BIN", env!("CARGO_BIN_EXE_agent-telemetry")));
    let noop_bin = std::env::var_os("AT_BENCH_NOOP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| hook_bin.parent().unwrap().join("examples/noop"));
    for b in [&hook_bin, &noop_bin] {
        if !b.exists() {
            eprintln!("missing {}: run `just bench-http-hook`", b.display());
            std::process::exit(2);
        }
    }
    let b = Bench::new();
    let (root, home, project, fixtures, payloads) = (&b.root, &b.home, b.project.clone(), &b.fixtures, &b.payloads);
    let bodies: Vec<Vec<u8>> = payloads.iter().map(|p| std::fs::read(&p.file).unwrap()).collect();

    // Two data dirs, so each transport's journal verifies on its own.
    let env = |data: &str| -> Vec<(String, String)> {
        vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), home.display().to_string()),
            ("AGENT_TELEMETRY_HOME".into(), root.join(data).display().to_string()),
            ("AGENT_TELEMETRY_RELAY".into(), "off".into()),
        ]
    };
    let (cmd_env, http_env) = (env("data-command"), env("data-http"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut relay = Command::new(&hook_bin)
        .args(["relay", "--foreground"])
        .env_clear()
        .envs(http_env.iter().map(|(k, v)| (k, v)))
        .env("AGENT_TELEMETRY_HOOK_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        assert!(Instant::now() < deadline, "the relay did not listen");
        std::thread::sleep(Duration::from_millis(20));
    };
    stream.set_nodelay(true).unwrap();
    let mut conn = BufReader::new(stream);

    let run = |bin: &Path, i: usize| -> Duration {
        let p = &payloads[i % payloads.len()];
        let mut c = Command::new(bin);
        c.arg("hook")
            .env_clear()
            .envs(cmd_env.iter().map(|(k, v)| (k, v)))
            .envs(p.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&project)
            .stdin(File::open(&p.file).unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let t = Instant::now();
        assert!(c.spawn().unwrap().wait().unwrap().success());
        t.elapsed()
    };
    let mut http_one = |i: usize| -> Duration {
        let t = Instant::now();
        post(&mut conn, &bodies[i % bodies.len()]);
        t.elapsed()
    };
    println!(
        "http_hook: {} payloads from {}, {n} timed runs each (+{warmup} warm-up)",
        payloads.len(),
        fixtures.display()
    );
    for i in 0..warmup {
        http_one(i);
        run(&hook_bin, i);
        run(&noop_bin, i);
    }
    let (mut http, mut cmd, mut noop) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        if i % 2 == 0 {
            http.push(http_one(i));
            cmd.push(run(&hook_bin, i));
            noop.push(run(&noop_bin, i));
        } else {
            noop.push(run(&noop_bin, i));
            cmd.push(run(&hook_bin, i));
            http.push(http_one(i));
        }
    }
    let _ = relay.kill();
    let _ = relay.wait();
    for (name, e) in [("command", &cmd_env), ("http", &http_env)] {
        let out =
            Command::new(&hook_bin).arg("verify").env_clear().envs(e.iter().map(|(k, v)| (k, v))).output().unwrap();
        assert!(out.status.success(), "verify ({name}): {}", String::from_utf8_lossy(&out.stdout));
        println!("journal ({name}): {}", String::from_utf8_lossy(&out.stdout).trim());
    }
    let (h, c, z) = (Stats::of(&mut http), Stats::of(&mut cmd), Stats::of(&mut noop));
    println!("{:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}", "", "min", "median", "mean", "p95", "p99", "max");
    h.print("http hook");
    c.print("command hook");
    z.print("noop process");
    println!(
        "median: http {:.0} µs = {:.2}x a do-nothing process ({:.2}x faster than the command hook); p99: http {:.0} µs, command {:.0} µs",
        h.median * 1e6,
        h.median / z.median,
        c.median / h.median,
        h.p99 * 1e6,
        c.p99 * 1e6
    );
}
