//! A reusable test harness for the local stack: the agent-telemetry OpenTelemetry Collector,
//! Jaeger v2 and VictoriaLogs, as real processes on free loopback ports.
//!
//! `Stack::start()` finds the binaries in the per-machine cache (building them with
//! `scripts/stack/build.sh` when missing), picks free 127.0.0.1 ports, and starts all three with
//! `scripts/stack/up.sh` in a temporary state dir. The collector runs the shipped
//! `otel-collector.yaml` unchanged: the test settings (ports, queue dir, retry interval) are its
//! environment variables. `stop`/`start` drive single services for outage tests; `Drop` stops
//! everything (graceful, then SIGKILL) and removes the temporary dir.
//!
//! Use from a test module with `use crate::harness::stack;`. Every test that starts the
//! stack belongs to the slow stage: mark it `#[ignore = "slow stage: …"]` (`just test-slow` runs
//! them with `--include-ignored`). A missing prerequisite (Go to build the servers, a failed
//! build, a service that does not come up) fails the test with what is missing and how to get it;
//! nothing here skips.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const SERVICES: [&str; 3] = ["victorialogs", "jaeger", "collector"];

#[derive(Debug, Clone)]
pub struct Ports {
    pub otlp_grpc: u16,
    pub otlp_http: u16,
    pub collector_health: u16,
    pub collector_metrics: u16,
    pub jaeger_query: u16,
    pub jaeger_query_grpc: u16,
    pub jaeger_otlp_grpc: u16,
    pub jaeger_otlp_http: u16,
    pub jaeger_health: u16,
    pub jaeger_metrics: u16,
    pub victorialogs: u16,
}

impl Ports {
    /// Free loopback ports, all distinct (held open together while picking).
    pub fn pick() -> Ports {
        let listeners: Vec<TcpListener> =
            (0..11).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")).collect();
        let p: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(listeners);
        Ports {
            otlp_grpc: p[0],
            otlp_http: p[1],
            collector_health: p[2],
            collector_metrics: p[3],
            jaeger_query: p[4],
            jaeger_query_grpc: p[5],
            jaeger_otlp_grpc: p[6],
            jaeger_otlp_http: p[7],
            jaeger_health: p[8],
            jaeger_metrics: p[9],
            victorialogs: p[10],
        }
    }
}

pub struct Stack {
    pub root: PathBuf,
    pub ports: Ports,
    dir: Option<tempfile::TempDir>,
    env: BTreeMap<String, String>,
}

/// How long a script may take (start waits for health itself, with its own timeout).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// A cold build of the three servers takes minutes on 2 cores.
const BUILD_TIMEOUT: Duration = Duration::from_secs(45 * 60);

impl Stack {
    /// Build (if not cached) and start collector + Jaeger + VictoriaLogs; panics with the
    /// services' logs if they do not come up.
    pub fn start() -> Stack {
        Stack::start_with(&[])
    }

    /// `start` with more settings for the scripts (they win over the defaults above), e.g.
    /// `AGENT_TELEMETRY_BACKENDS` or `AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG`.
    pub fn start_with(extra: &[(&str, &str)]) -> Stack {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        ensure_built(&root);
        let dir = tempfile::Builder::new().prefix("agent-telemetry-stack-").tempdir().expect("tempdir");
        let ports = Ports::pick();
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        set("AGENT_TELEMETRY_STACK_DIR", dir.path().display().to_string());
        set("AGENT_TELEMETRY_BIND", "127.0.0.1".into());
        set("AGENT_TELEMETRY_BACKENDS", "victorialogs,jaeger".into());
        set("AGENT_TELEMETRY_OTLP_GRPC_PORT", ports.otlp_grpc.to_string());
        set("AGENT_TELEMETRY_OTLP_HTTP_PORT", ports.otlp_http.to_string());
        set("AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT", ports.collector_health.to_string());
        set("AGENT_TELEMETRY_COLLECTOR_METRICS_PORT", ports.collector_metrics.to_string());
        set("AGENT_TELEMETRY_JAEGER_QUERY_PORT", ports.jaeger_query.to_string());
        set("AGENT_TELEMETRY_JAEGER_QUERY_GRPC_PORT", ports.jaeger_query_grpc.to_string());
        set("AGENT_TELEMETRY_JAEGER_OTLP_GRPC_PORT", ports.jaeger_otlp_grpc.to_string());
        set("AGENT_TELEMETRY_JAEGER_OTLP_HTTP_PORT", ports.jaeger_otlp_http.to_string());
        set("AGENT_TELEMETRY_JAEGER_HEALTH_PORT", ports.jaeger_health.to_string());
        set("AGENT_TELEMETRY_JAEGER_METRICS_PORT", ports.jaeger_metrics.to_string());
        set("AGENT_TELEMETRY_VICTORIALOGS_PORT", ports.victorialogs.to_string());
        // Tests wait for a restarted backend: retry every second, not every 30.
        set("AGENT_TELEMETRY_RETRY_MAX_INTERVAL", "1s".into());
        set("AGENT_TELEMETRY_START_TIMEOUT", "60".into());
        set("AGENT_TELEMETRY_STOP_TIMEOUT", "20".into());
        for (k, v) in extra {
            set(k, v.to_string());
        }
        let stack = Stack { root, ports, dir: Some(dir), env };
        if let Err(e) = stack.script("up.sh", &[]) {
            let logs = stack.logs();
            drop(stack);
            panic!("stack did not start: {e}\n{logs}");
        }
        stack
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// `http://127.0.0.1:<port>` of the collector's OTLP gRPC receiver.
    pub fn otlp_grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.otlp_grpc)
    }
    pub fn otlp_http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.otlp_http)
    }
    pub fn jaeger_query_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.jaeger_query)
    }
    pub fn victorialogs_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.victorialogs)
    }

    /// The running pid of a service (`collector`, `jaeger`, `victorialogs`).
    pub fn pid(&self, service: &str) -> Option<i32> {
        std::fs::read_to_string(self.state_dir().join("run").join(format!("{service}.pid"))).ok()?.trim().parse().ok()
    }

    /// Stop one service (graceful, then SIGKILL after the stop timeout).
    pub fn stop(&self, service: &str) {
        self.script("down.sh", &[service]).unwrap_or_else(|e| panic!("stop {service}: {e}"));
    }

    /// Start one service and wait until it is healthy.
    pub fn start_service(&self, service: &str) {
        if let Err(e) = self.script("up.sh", &[service]) {
            panic!("start {service}: {e}\n{}", self.logs());
        }
    }

    /// `scripts/stack/status.sh`: (exit status 0?, output).
    pub fn status(&self) -> (bool, String) {
        match self.script_output("status.sh", &[]) {
            Ok((ok, out)) => (ok, out),
            Err(e) => (false, e),
        }
    }

    /// The last lines of every service's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for svc in SERVICES {
            let p = self.state_dir().join("logs").join(format!("{svc}.log"));
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            s.push_str(&format!("----- {svc} ({}) -----\n{}\n", p.display(), tail.join("\n")));
        }
        s
    }

    /// The trace from Jaeger's query API (`GET /api/traces/{id}`): the first element of `data`,
    /// or None while Jaeger does not have it (or does not answer: for polling).
    pub fn jaeger_trace(&self, trace_id_hex: &str) -> Option<serde_json::Value> {
        self.jaeger_trace_checked(trace_id_hex).ok().flatten()
    }

    /// Jaeger's answer for a trace: `Ok(None)` only when Jaeger answered that it has no such
    /// trace (404, or an empty `data`); any other failure is an `Err`, so that "this trace does
    /// not exist" is never concluded from Jaeger being down.
    pub fn jaeger_trace_checked(&self, trace_id_hex: &str) -> Result<Option<serde_json::Value>, String> {
        let url = format!("{}/api/traces/{}", self.jaeger_query_url(), trace_id_hex);
        let (status, body) = http_get(&url, &[])?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(format!("GET {url}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))?;
        let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| format!("GET {url}: no data array: {v}"))?;
        Ok(data.first().cloned())
    }

    /// Rows of a LogsQL query (`GET /select/logsql/query`, tenant 0:0), one JSON object each;
    /// empty while VictoriaLogs does not answer (for polling; counts use `victorialogs_rows`).
    pub fn victorialogs_query(&self, logsql: &str) -> Vec<serde_json::Value> {
        self.victorialogs_rows(logsql).unwrap_or_default()
    }

    /// (rows, distinct `agent_telemetry.seq`) at VictoriaLogs for a LogsQL `filter` (`*`: all);
    /// `None` while VictoriaLogs does not answer.
    pub fn vl_count(&self, filter: &str) -> Option<(u64, u64)> {
        self.vl_count_by(filter, "agent_telemetry.seq")
    }

    /// (rows, distinct values of the `seq` field) at VictoriaLogs for a LogsQL `filter`; `None`
    /// while VictoriaLogs does not answer.
    pub fn vl_count_by(&self, filter: &str, seq: &str) -> Option<(u64, u64)> {
        let rows = self
            .victorialogs_rows(&format!("{filter} | stats count() as total, count_uniq(\"{seq}\") as uniq"))
            .ok()?;
        let row = rows.first()?;
        let num = |k: &str| -> Option<u64> {
            match row.get(k)? {
                serde_json::Value::String(s) => s.parse().ok(),
                serde_json::Value::Number(n) => n.as_u64(),
                _ => None,
            }
        };
        Some((num("total")?, num("uniq")?))
    }

    /// Rows of a LogsQL query (tenant 0:0), or why VictoriaLogs did not answer it.
    pub fn victorialogs_rows(&self, logsql: &str) -> Result<Vec<serde_json::Value>, String> {
        self.victorialogs_rows_in((0, 0), logsql)
    }

    /// Rows of a LogsQL query in one tenant (AccountID, ProjectID), or why VictoriaLogs did not
    /// answer it.
    pub fn victorialogs_rows_in(&self, tenant: (u32, u32), logsql: &str) -> Result<Vec<serde_json::Value>, String> {
        let url =
            format!("{}/select/logsql/query?query={}&limit=100000", self.victorialogs_url(), percent_encode(logsql));
        let (account, project) = (tenant.0.to_string(), tenant.1.to_string());
        let (status, body) = http_get(&url, &[("AccountID", &account), ("ProjectID", &project)])?;
        if status != 200 {
            return Err(format!("LogsQL {logsql:?}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| format!("LogsQL {logsql:?}: bad row {l:?}: {e}")))
            .collect()
    }

    /// The tenants (AccountID, ProjectID) VictoriaLogs holds data for: `/select/tenant_ids`,
    /// asked with no tenant header (the operator's cross-tenant endpoint).
    pub fn vl_tenant_ids(&self) -> Result<std::collections::BTreeSet<(u32, u32)>, String> {
        let url = format!("{}/select/tenant_ids", self.victorialogs_url());
        let (status, body) = http_get(&url, &[])?;
        if status != 200 {
            return Err(format!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
        let ids = v.as_array().ok_or_else(|| format!("{url}: not an array: {v}"))?;
        ids.iter()
            .map(|t| {
                Ok((
                    t["account_id"].as_u64().ok_or("no account_id")? as u32,
                    t["project_id"].as_u64().ok_or("no project_id")? as u32,
                ))
            })
            .collect()
    }

    /// Sum of the collector's `otelcol_exporter_queue_size` over its exporters, if readable.
    pub fn collector_queue_size(&self) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/metrics", self.ports.collector_metrics);
        let (status, body) = http_get(&url, &[]).ok()?;
        if status != 200 {
            return None;
        }
        let text = String::from_utf8_lossy(&body);
        let mut sum = None;
        for line in text.lines().filter(|l| l.starts_with("otelcol_exporter_queue_size{")) {
            let v: f64 = line.rsplit(' ').next()?.parse().ok()?;
            sum = Some(sum.unwrap_or(0.0) + v);
        }
        sum
    }

    fn command(&self, script: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(self.root.join("scripts/stack").join(script)).args(args);
        // The test's settings only: nothing from a developer's own stack leaks in.
        for (k, _) in std::env::vars() {
            if k.starts_with("AGENT_TELEMETRY_") && k != "AGENT_TELEMETRY_CACHE" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(&self.env).stdin(Stdio::null());
        cmd
    }

    fn script(&self, script: &str, args: &[&str]) -> Result<(), String> {
        let (ok, out) = self.script_output(script, args)?;
        if ok {
            Ok(())
        } else {
            Err(format!("{script} {args:?} failed:\n{out}"))
        }
    }

    fn script_output(&self, script: &str, args: &[&str]) -> Result<(bool, String), String> {
        run_with_timeout(self.command(script, args), SCRIPT_TIMEOUT)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.script("down.sh", &[]);
        // Whatever is still there (a hung script): SIGKILL by recorded pid.
        for svc in SERVICES {
            let pid_file = self.state_dir().join("run").join(format!("{svc}.pid"));
            if let Ok(pid) = std::fs::read_to_string(&pid_file) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    if pid > 1 {
                        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                    }
                }
            }
        }
        if std::env::var("AGENT_TELEMETRY_KEEP_STACK_DIR").is_ok() {
            let dir = self.dir.take().unwrap();
            eprintln!("keeping stack dir {}", dir.keep().display());
        }
    }
}

/// The hook payloads of a sentinel session (`tests/data/sentinel-session.jsonl`: a SessionStart
/// and a SessionEnd), for session id `session` in `project`. "Nothing more arrived" is proved
/// with it, never with a sleep: the sentinel goes through the same hook → journal → relay →
/// collector path after everything else, and once it is visible at the backend, what was sent
/// before it has been delivered too; then the test counts.
pub fn sentinel_payloads(session: &str, project: &Path) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sentinel-session.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace("@SESSION@", session).replace("@PROJECT@", &project.display().to_string()))
        .collect();
    assert_eq!(lines.len(), 2, "{}: a SessionStart and a SessionEnd", path.display());
    lines
}

/// A session id for a sentinel, unique per call.
pub fn sentinel_session_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("sentinel-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

impl Stack {
    /// Waits until the sentinel session's log rows (2) are at VictoriaLogs and its session span
    /// at Jaeger (found by its conversation id), or panics.
    pub fn wait_for_sentinel(&self, session: &str) {
        let q = format!("\"gen_ai.conversation.id\":=\"{session}\"");
        wait_for(Duration::from_secs(90), || (self.victorialogs_query(&q).len() >= 2).then_some(()))
            .unwrap_or_else(|| panic!("the sentinel session {session} never reached VictoriaLogs\n{}", self.logs()));
        wait_for(Duration::from_secs(90), || {
            let found = self.jaeger_find_traces("claude-code", &[("gen_ai.conversation.id", session)]).ok()?;
            (!found.is_empty()).then_some(())
        })
        .unwrap_or_else(|| panic!("the sentinel session {session} never reached Jaeger\n{}", self.logs()));
    }

    /// Traces of `service` that have a span with all of `tags` (Jaeger's search API), or why
    /// Jaeger did not answer.
    pub fn jaeger_find_traces(&self, service: &str, tags: &[(&str, &str)]) -> Result<Vec<serde_json::Value>, String> {
        let tags: serde_json::Map<String, serde_json::Value> =
            tags.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
        let url = format!(
            "{}/api/traces?service={}&tags={}&lookback=2h&limit=100",
            self.jaeger_query_url(),
            percent_encode(service),
            percent_encode(&serde_json::Value::Object(tags).to_string())
        );
        let (status, body) = http_get(&url, &[])?;
        if status != 200 {
            return Err(format!("GET {url}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }
}

/// Build the binaries unless cached (build.sh is a no-op then).
pub fn ensure_built(root: &Path) {
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/stack/build.sh")).stdin(Stdio::null());
    let started = Instant::now();
    match run_with_timeout(cmd, BUILD_TIMEOUT) {
        Ok((true, out)) => {
            if started.elapsed() > Duration::from_secs(5) {
                eprintln!("stack build took {:?}:\n{out}", started.elapsed());
            }
        }
        Ok((false, out)) => panic!(
            "the stack (collector, Jaeger, VictoriaLogs) is missing and could not be built: \
             scripts/stack/build.sh failed. It needs Go >= 1.26 on PATH and the Go module proxy; \
             install Go, then run `just stack-build`.\n{out}"
        ),
        Err(e) => panic!("scripts/stack/build.sh (builds the collector, Jaeger, VictoriaLogs; needs Go): {e}"),
    }
}

/// The collector binary the stack scripts use (`$OTELCOL_BIN` of scripts/stack/lib.sh), built
/// with `scripts/stack/build.sh collector` when it is not cached yet.
pub fn collector_bin(root: &Path) -> PathBuf {
    let mut build = Command::new("bash");
    build.arg(root.join("scripts/stack/build.sh")).arg("collector").stdin(Stdio::null());
    match run_with_timeout(build, BUILD_TIMEOUT) {
        Ok((true, _)) => {}
        Ok((false, out)) => panic!(
            "the OpenTelemetry Collector is missing and could not be built: `scripts/stack/build.sh \
             collector` failed (it needs Go >= 1.26 and the Go module proxy; install Go, then run \
             `just stack-build collector`):\n{out}"
        ),
        Err(e) => panic!("scripts/stack/build.sh collector: {e}"),
    }
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg("source scripts/stack/lib.sh && printf '%s' \"$OTELCOL_BIN\"")
        .current_dir(root)
        .stdin(Stdio::null());
    let out = cmd.output().expect("bash -c 'source scripts/stack/lib.sh'");
    assert!(out.status.success(), "scripts/stack/lib.sh: {}", String::from_utf8_lossy(&out.stderr));
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(bin.is_file(), "build.sh collector succeeded but {} is not there", bin.display());
    bin
}

/// Run a command with stdout+stderr captured (through a temp file, so a full pipe never
/// blocks it); kill it after `timeout`.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<(bool, String), String> {
    let out = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let f = out.reopen().map_err(|e| e.to_string())?;
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd.stdout(f).stderr(f2).spawn().map_err(|e| format!("spawn: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(out.path()).unwrap_or_default();
                return Err(format!("timed out after {timeout:?}:\n{text}"));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    Ok((status.success(), text))
}

/// Poll `f` every 250 ms until it returns Some, or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A minimal HTTP/1.0 GET (loopback only, no TLS): (status, body). HTTP/1.0 keeps the
/// response free of chunked encoding; the server closes the connection at the end.
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> Result<(u16, Vec<u8>), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nAccept: */*\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no header end")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    Ok((status, buf[split + 4..].to_vec()))
}

/// Percent-encode a query parameter value (RFC 3986 unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
