//! Export outcomes against a real collector that refuses (slow stage: `#[ignore]`d in the fast
//! stage, run by `just test-slow`). The collector (the stack's build, tests/harness/stack.rs) runs
//! a config of its own on free ports: an OTLP receiver that requires a bearer token
//! (`bearertokenauth`) and file exporters that count what arrives. A `relay --foreground` over
//! gRPC, then over HTTP/protobuf, is configured with:
//!
//! 1. the wrong token: the collector answers Unauthenticated (gRPC) / 401 (HTTP); the relay
//!    classifies that by the status as a refusal — state `failing`, `agent-telemetry status`
//!    says the destination refuses the data — retries at the refused back-off (30 s, not the
//!    fast one), and exports nothing: the whole journal is its backlog;
//! 2. a closed port: nothing answers; state `retrying`, attempts at the fast back-off, still
//!    nothing exported;
//! 3. the right token (the config file changes; the relay takes it between attempts): every
//!    record arrives, counted by distinct `agent_telemetry.seq` at the collector's file exporter.
//!
//!     cargo test --test slow export_refusal:: -- --include-ignored --test-threads=1 --nocapture

use crate::harness::relay;
use crate::harness::stack;
use relay::*;
use serde_json::Value;
use stack::wait_for;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "right-token-7f3a";
const RECORDS: usize = 300;

/// The collector with a token-guarded OTLP receiver; killed on drop.
struct Guarded {
    child: Child,
    dir: tempfile::TempDir,
    grpc: u16,
    http: u16,
}

fn free_ports<const N: usize>() -> [u16; N] {
    let l: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| l[i].local_addr().unwrap().port())
}

impl Guarded {
    fn start() -> Guarded {
        let bin = stack::collector_bin(Path::new(env!("CARGO_MANIFEST_DIR")));
        let dir = tempfile::Builder::new().prefix("export-refusal-collector-").tempdir().unwrap();
        let [grpc, http, health] = free_ports::<3>();
        let out = dir.path().display();
        let config = format!(
            r#"extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  bearertokenauth:
    token: "{TOKEN}"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        auth:
          authenticator: bearertokenauth
      http:
        endpoint: 127.0.0.1:{http}
        auth:
          authenticator: bearertokenauth
exporters:
  file/logs:
    path: {out}/logs.jsonl
    flush_interval: 100ms
  file/traces:
    path: {out}/traces.jsonl
    flush_interval: 100ms
service:
  extensions: [health_check, bearertokenauth]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file/logs]
    traces:
      receivers: [otlp]
      exporters: [file/traces]
"#
        );
        let cfg = dir.path().join("collector.yaml");
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(dir.path().join("collector.log")).unwrap();
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let g = Guarded { child, dir, grpc, http };
        let url = format!("http://127.0.0.1:{health}/");
        let up = wait_for(Duration::from_secs(60), || {
            stack::http_get(&url, &[]).ok().filter(|(status, _)| *status == 200).map(|_| ())
        });
        assert!(up.is_some(), "the collector did not become healthy:\n{}", g.log());
        g
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("collector.log")).unwrap_or_default()
    }

    /// Distinct `agent_telemetry.seq` of the log records in the file exporter's output.
    fn seqs(&self) -> BTreeSet<u64> {
        let text = std::fs::read_to_string(self.dir.path().join("logs.jsonl")).unwrap_or_default();
        let mut out = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            for rl in v["resourceLogs"].as_array().into_iter().flatten() {
                for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                    for r in sl["logRecords"].as_array().into_iter().flatten() {
                        for a in r["attributes"].as_array().into_iter().flatten() {
                            if a["key"] == "agent_telemetry.seq" {
                                let v = &a["value"]["intValue"];
                                if let Some(n) = v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()) {
                                    out.insert(n);
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(path: &Path, endpoint: &str, protocol: &str, token: &str) {
    // Written whole to a temp file and renamed: the relay never reads half a config.
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        format!(
            "[export]\nendpoint = \"{endpoint}\"\nprotocol = \"{protocol}\"\nheaders = {{ authorization = \"Bearer {token}\" }}\nautostart = false\npoll_ms = 50\nbatch_size = 100\nconnect_timeout_ms = 500\ntimeout_ms = 3000\n"
        ),
    )
    .unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn start_relay(env: &Install, config: &PathBuf) -> RelayProc {
    let stderr_path = env.dir.path().join("relay.stderr");
    let f = std::fs::File::create(&stderr_path).unwrap();
    let child = env
        .command(&["relay", "--foreground"])
        .env("AGENT_TELEMETRY_CONFIG", config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(f)
        .spawn()
        .expect("spawn relay --foreground");
    RelayProc { child, stderr_path }
}

fn status_text(env: &Install, config: &PathBuf) -> String {
    let o = env.command(&["status"]).env("AGENT_TELEMETRY_CONFIG", config).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn backlog(env: &Install, config: &PathBuf) -> u64 {
    let o = env.command(&["status", "--json"]).env("AGENT_TELEMETRY_CONFIG", config).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("status --json: {e}"));
    v["relay"]["backlog"].as_u64().unwrap_or_else(|| panic!("no relay.backlog in {v:#}"))
}

fn wait_state(env: &Install, state: &str, timeout: Duration) -> Option<Value> {
    wait_for(timeout, || Some(relay_status(&env.data)).filter(|s| s["state"] == state))
}

/// Export attempts that failed in `window`, from the relay's counter.
fn failures_during(env: &Install, window: Duration) -> u64 {
    let n = |s: Value| s["failed_exports"].as_u64().unwrap_or(0);
    let before = n(relay_status(&env.data));
    std::thread::sleep(window);
    n(relay_status(&env.data)) - before
}

fn refused_then_unreachable_then_delivered(protocol: &str) {
    let _s = serial();
    let c = Guarded::start();
    let env = Install::new(&format!("export-refusal-{}-", protocol.replace('/', "-")));
    synth_journal(&env.data, &env.project, RECORDS, "r", now_ns());
    let journal = env.journal_records() as u64;
    let want: BTreeSet<u64> = (0..journal).collect();
    let endpoint = match protocol {
        "grpc" => format!("http://127.0.0.1:{}", c.grpc),
        _ => format!("http://127.0.0.1:{}", c.http),
    };
    let config = env.dir.path().join("config.toml");

    // 1. The wrong token: refused, by status.
    write_config(&config, &endpoint, protocol, "wrong-token");
    let relay = start_relay(&env, &config);
    let st = wait_state(&env, "failing", Duration::from_secs(30)).unwrap_or_else(|| {
        panic!("not failing with a wrong token: {}\nrelay: {}", relay_status(&env.data), relay.stderr())
    });
    let error = st["last_error"].as_str().unwrap_or_default().to_string();
    let said = if protocol == "grpc" { "gRPC Unauthenticated" } else { "HTTP 401" };
    assert!(error.contains(said), "the refusal's text names the status ({said}): {error}");
    assert!(!error.contains("wrong-token"), "the token is not repeated: {error}");
    let text = status_text(&env, &config);
    assert!(text.contains("the destination refuses the data"), "agent-telemetry status:\n{text}");
    // The refused back-off: 30 s between attempts (the fast one would make 4 or 5 in 12 s).
    let refused_attempts = failures_during(&env, Duration::from_secs(12));
    assert!(refused_attempts <= 1, "{refused_attempts} attempts in 12 s while refused: not the refused back-off");
    assert_eq!(relay_status(&env.data)["state"], "failing");
    assert_eq!(backlog(&env, &config), journal, "nothing counted exported while refused");
    assert!(c.seqs().is_empty(), "the collector took records with a wrong token");
    println!("{protocol}: refused: {error}; {refused_attempts} attempt(s) in 12 s; backlog {journal}");

    // 2. A closed port: unreachable, retried with the fast back-off.
    let [closed] = free_ports::<1>();
    write_config(&config, &format!("http://127.0.0.1:{closed}"), protocol, TOKEN);
    let st = wait_state(&env, "retrying", Duration::from_secs(40)).unwrap_or_else(|| {
        panic!("not retrying towards a closed port: {}\nrelay: {}", relay_status(&env.data), relay.stderr())
    });
    let unreachable = st["last_error"].as_str().unwrap_or_default().to_string();
    let retry_attempts = failures_during(&env, Duration::from_secs(12));
    assert!(retry_attempts >= 3, "only {retry_attempts} attempts in 12 s towards a closed port: not the fast back-off");
    assert_eq!(relay_status(&env.data)["state"], "retrying");
    let text = status_text(&env, &config);
    assert!(!text.contains("the destination refuses the data"), "an outage is not a refusal:\n{text}");
    assert_eq!(backlog(&env, &config), journal, "nothing counted exported while unreachable");
    println!("{protocol}: unreachable: {unreachable}; {retry_attempts} attempt(s) in 12 s");

    // 3. The right token at the collector: everything arrives.
    let fixed = Instant::now();
    write_config(&config, &endpoint, protocol, TOKEN);
    let all = wait_for(Duration::from_secs(90), || Some(c.seqs()).filter(|s| s.len() as u64 >= journal));
    assert!(
        all.is_some(),
        "{} of {journal} records at the collector after the token was fixed; relay status {}\nrelay: {}\ncollector: {}",
        c.seqs().len(),
        relay_status(&env.data),
        relay.stderr(),
        c.log()
    );
    assert_eq!(c.seqs(), want, "every journaled record at the collector, and only those");
    let st = wait_state(&env, "running", Duration::from_secs(10)).expect("running again");
    assert!(st["last_error"].is_null(), "{st}");
    let drained = wait_for(Duration::from_secs(10), || (backlog(&env, &config) == 0).then_some(()));
    assert!(drained.is_some(), "backlog after delivery: {}", backlog(&env, &config));
    println!("{protocol}: after the fix, all {journal} records at the collector in {:?}", fixed.elapsed());
    assert_eq!(relay.stop(Duration::from_secs(30)), Some(0), "relay exits 0 on SIGTERM");
}

#[test]
#[ignore = "slow stage: the real collector"]
fn grpc_refusal_outage_and_recovery() {
    refused_then_unreachable_then_delivered("grpc");
}

#[test]
#[ignore = "slow stage: the real collector"]
fn http_refusal_outage_and_recovery() {
    refused_then_unreachable_then_delivered("http/protobuf");
}
