//! `just bench-live [RECORDS]` / `cargo bench --bench live -- [RECORDS]`: what `watch` and `top`
//! cost on a large journal (default 1,000,000 records, written with `forensics::synth`), through
//! the release binary:
//! - `watch` started at the end and stopped (`--until 0s`): its start, which must not depend on
//!   the journal's size;
//! - `watch --since` over the whole journal to /dev/null (JSON and text): records per second
//!   when it catches up;
//! - `top` in a tmux session (160×40; needs tmux): the time to its first full screen (the last
//!   16 MiB read and summed) and its peak RSS after a few refreshes.
//!
//! Best of 3 for the short runs. Set LIVE_BENCH_DIR to keep the data.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> String {
    std::env::var("LIVE_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_agent-telemetry").to_string())
}

fn watch(data: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(bin())
        .arg("watch")
        .args(args)
        .arg("--data")
        .arg(data)
        .env_clear()
        .env("HOME", data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let d = t.elapsed();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    d
}

fn best(data: &Path, args: &[&str]) -> Duration {
    (0..3).map(|_| watch(data, args)).min().unwrap()
}

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux").arg("-L").arg(socket).args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Seconds to the first screen with the records counted, and the peak RSS (MiB) after 3 s.
fn top(data: &Path) -> (f64, f64) {
    let socket = format!("at-bench-live-{}", std::process::id());
    let cmd = format!("exec env -i HOME={0} TERM=xterm-256color {1} top --data {0}", data.display(), bin());
    let t = Instant::now();
    tmux(&socket, &["-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", "160", "-y", "40", &cmd]);
    let first = loop {
        let s = tmux(&socket, &["capture-pane", "-p", "-t", "b"]);
        if s.contains(" records") && s.contains("q quit") {
            break t.elapsed().as_secs_f64();
        }
        assert!(t.elapsed() < Duration::from_secs(120), "top never drew:\n{s}");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_secs(3));
    let pid = tmux(&socket, &["list-panes", "-t", "b", "-F", "#{pane_pid}"]).trim().to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    tmux(&socket, &["send-keys", "-t", "b", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(&socket, &["kill-server"]);
    (first, hwm_kb / 1024.0)
}

fn main() {
    let records: u64 = std::env::args().skip(1).find_map(|a| a.replace('_', "").parse().ok()).unwrap_or(1_000_000);
    let keep = std::env::var_os("LIVE_BENCH_DIR");
    let tmp = tempfile::tempdir().unwrap();
    let data = keep.as_ref().map(|d| Path::new(d).to_path_buf()).unwrap_or_else(|| tmp.path().to_path_buf());
    let journal = data.join("journal");
    let _ = std::fs::remove_dir_all(&journal);
    let start = 1_796_000_000u64 * 1_000_000_000;
    let sum = agent_telemetry::forensics::synth::generate(&journal, records, start, 42).unwrap();
    let bytes: u64 = std::fs::read_dir(&journal).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    println!("journal: {} records, {:.0} MB", sum.records, bytes as f64 / 1e6);
    let n = sum.records as f64;

    let d = best(&data, &["--until", "0s"]);
    println!("| `watch` start at the end, then stop (`--until 0s`) | {:.0} ms |", d.as_secs_f64() * 1e3);
    let d = watch(&data, &["--since", "2020-01-01", "--until", "0s", "--json"]);
    println!(
        "| `watch --since` the whole journal, `--json` to /dev/null | {:.1} s, {:.0} records/s |",
        d.as_secs_f64(),
        n / d.as_secs_f64()
    );
    let d = watch(&data, &["--since", "2020-01-01", "--until", "0s"]);
    println!(
        "| `watch --since` the whole journal, text to /dev/null | {:.1} s, {:.0} records/s |",
        d.as_secs_f64(),
        n / d.as_secs_f64()
    );
    let (first, rss) = top(&data);
    println!("| `top`: first full screen (last 16 MiB read) | {:.2} s; peak RSS {:.0} MiB after 3 s |", first, rss);
}
