//! Shared helpers for the relay tests and benchmarks (tests/fast/relay_fixtures.rs,
//! tests/slow/relay_stack.rs, benches/relay_*.rs):
//!
//! - replaying the recorded Claude Code fixtures through the built binary's `hook` into a temp
//!   data dir (with the child-process TRACEPARENT hand-over done for real, through
//!   `CLAUDE_ENV_FILE`), optionally with every natural id suffixed so runs never collide;
//! - synthesising many real `JournalRecord`s quickly through the library (`Enricher` +
//!   `Journal::append`), from the fixture payloads with distinct ids;
//! - running `relay --once` / `relay --foreground` with bounded waits;
//! - reading spans and logs back, from OTLP JSON files or Jaeger's API, into one normalised
//!   form, and the span-by-span checks of a fixture's trace that both test files share.
//!
//! Use with `use crate::harness::relay::*;` (benches: `use harness::relay::*;`).
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use super::{journal_records, run_with_stdin, Run};
use std::time::{Duration, Instant};

pub const FIXTURES: [&str; 4] = ["tools", "subagents", "child-process", "multi-turn"];
const RECORDED_PROJECT: &str = "/home/user/projects/demo";

pub fn bin() -> PathBuf {
    PathBuf::from(super::BIN)
}

/// The recorded hook calls (`tests/data/fixtures`, see tests/data/README.md), found one way.
pub fn fixture_dir() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures/claude-code-2.1.328");
    assert!(p.is_dir(), "no recorded fixtures at {} (tests/data/fixtures)", p.display());
    p
}

/// One recorded hook call.
#[derive(Debug, Clone)]
pub struct Call {
    pub payload: Value,
    pub env: BTreeMap<String, String>,
}

pub fn load_fixture(name: &str) -> Vec<Call> {
    let path = fixture_dir().join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("fixture line");
            let env = v["env"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                .unwrap_or_default();
            Call { payload: v["payload"].clone(), env }
        })
        .collect()
}

/// Every natural id in a fixture (sessions, prompts, tool calls, agents), longest first so a
/// textual replace never hits a prefix of a longer id.
pub fn natural_ids(calls: &[Call]) -> Vec<String> {
    let mut ids = BTreeSet::new();
    for c in calls {
        for k in ["session_id", "prompt_id", "tool_use_id", "agent_id"] {
            if let Some(s) = c.payload[k].as_str() {
                ids.insert(s.to_string());
            }
        }
        if let Some(s) = c.env.get("AGENT_PARENT_SESSION") {
            ids.insert(s.clone());
        }
    }
    let mut v: Vec<String> = ids.into_iter().collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

/// The payload as text for `project`, with every natural id suffixed by `tag` (if any).
pub fn payload_text(payload: &Value, project: &Path, ids: &[String], tag: &str) -> String {
    let mut s = serde_json::to_string(payload).unwrap().replace(RECORDED_PROJECT, &project.display().to_string());
    if !tag.is_empty() {
        for id in ids {
            s = s.replace(id.as_str(), &format!("{id}{tag}"));
        }
    }
    s
}

/// A temporary installation: data dir, HOME and an enabled project.
pub struct Install {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub project: PathBuf,
    pub home: PathBuf,
}

impl Install {
    pub fn new(prefix: &str) -> Install {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let project = dir.path().join("projects/demo");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
        Install { dir, data, project, home }
    }

    /// A command for the binary as a user runs it, in the harness's clean environment with the
    /// temporary HOME ([`super::command`]); then the data dir (`AGENT_TELEMETRY_HOME`, the point
    /// of these tests is an isolated one) and no relay autostart (the tests run it themselves).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = super::command(&self.home, args);
        cmd.env("AGENT_TELEMETRY_HOME", &self.data).env("AGENT_TELEMETRY_RELAY", "off");
        cmd
    }

    pub fn journal_records(&self) -> usize {
        journal_records(&self.data).len()
    }
}

/// What a replay produced: the fixture's calls (as replayed, ids suffixed) and the traceparent
/// our hook handed to children at each SessionStart.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub name: String,
    pub calls: Vec<Call>,
    /// session id → the `TRACEPARENT` our hook wrote into CLAUDE_ENV_FILE.
    pub handed_traceparent: BTreeMap<String, String>,
    /// session id → parent session id (child-process fixture).
    pub parent_session: BTreeMap<String, String>,
}

/// Replays fixture `name` through `agent-telemetry hook`, one process per call, in order.
/// Every natural id gets `tag` appended (empty: the recorded ids). For sessions started by
/// another session (the recording's `TRACEPARENT`), the traceparent OUR hook wrote at the
/// parent's SessionStart is used instead of the recorder's.
pub fn replay(env: &Install, name: &str, tag: &str) -> Replayed {
    let calls = load_fixture(name);
    let ids = natural_ids(&calls);
    let mut handed: BTreeMap<String, String> = BTreeMap::new();
    let mut parents = BTreeMap::new();
    let mut replayed = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let text = payload_text(&c.payload, &env.project, &ids, tag);
        let payload: Value = serde_json::from_str(&text).unwrap();
        let sid = payload["session_id"].as_str().unwrap_or_default().to_string();
        let mut cmd = env.command(&["hook"]);
        cmd.env("CLAUDE_PROJECT_DIR", &env.project).env("CLAUDE_CODE_ENTRYPOINT", "sdk-cli");
        let env_file = env.dir.path().join(format!("session-env-{sid}-{i}.sh"));
        if payload["hook_event_name"] == "SessionStart" {
            cmd.env("CLAUDE_ENV_FILE", &env_file);
        }
        let mut call_env = c.env.clone();
        if let Some(parent) = c.env.get("AGENT_PARENT_SESSION") {
            let parent = format!("{parent}{tag}");
            let tp = handed
                .get(&parent)
                .unwrap_or_else(|| panic!("{name}: child call before the parent's SessionStart handed a TRACEPARENT"));
            cmd.env("TRACEPARENT", tp).env("AGENT_PARENT_SESSION", &parent);
            call_env.insert("TRACEPARENT".into(), tp.clone());
            call_env.insert("AGENT_PARENT_SESSION".into(), parent.clone());
            parents.insert(sid.clone(), parent);
        }
        let out = run_with_stdin(cmd, text.as_bytes(), Duration::from_secs(20));
        assert!(out.code == 0, "{name} line {}: hook exited {:?}: {}", i + 1, out.code, out.stderr);
        if payload["hook_event_name"] == "SessionStart" {
            // Every SessionStart hands the session's trace context on: the file Claude Code would
            // source for the session's commands must say TRACEPARENT, the same on every run.
            let written = std::fs::read_to_string(&env_file).unwrap_or_default();
            let tp = written
                .lines()
                .find_map(|l| l.strip_prefix("export TRACEPARENT="))
                .map(|tp| tp.trim().to_string())
                .unwrap_or_else(|| {
                    panic!("{name} line {}: the hook wrote no TRACEPARENT to CLAUDE_ENV_FILE: {written:?}", i + 1)
                });
            let first = handed.entry(sid.clone()).or_insert_with(|| tp.clone());
            assert_eq!(*first, tp, "{name} line {}: session {sid} handed another TRACEPARENT on a later run", i + 1);
        }
        replayed.push(Call { payload, env: call_env });
    }
    Replayed { name: name.to_string(), calls: replayed, handed_traceparent: handed, parent_session: parents }
}

/// Runs `agent-telemetry hook` once per payload line, with the project as `CLAUDE_PROJECT_DIR`
/// (e.g. the sentinel session of tests/harness/stack.rs, after a test's own records).
pub fn hook_lines(env: &Install, lines: &[String]) {
    assert!(!lines.is_empty(), "no payloads to hook");
    for (i, line) in lines.iter().enumerate() {
        let mut cmd = env.command(&["hook"]);
        cmd.env("CLAUDE_PROJECT_DIR", &env.project);
        let Run { code, stderr: err, .. } = run_with_stdin(cmd, line.as_bytes(), Duration::from_secs(20));
        assert_eq!(code, 0, "hook on payload {} exited {code:?}: {err}", i + 1);
    }
}

fn wait_child(child: &mut Child, timeout: Duration) -> (Option<i32>, String) {
    use std::io::Read;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (st.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, format!("killed after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One stack (or one heavy test) at a time in a test binary (2 cores): hold the guard for the
/// test's length. A panicking test does not poison it for the next.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The relay's `status.json` in the data dir `data` (`Null` while absent or being replaced).
pub fn relay_status(data: &Path) -> Value {
    std::fs::read_to_string(data.join("relay/status.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// Relay destination settings for `relay` commands.
#[derive(Debug, Clone)]
pub enum Dest {
    File,
    Grpc(String),
    Http(String),
}

pub fn relay_command(env: &Install, dest: &Dest, args: &[&str], extra: &[(&str, &str)]) -> Command {
    let mut cmd = env.command(args);
    match dest {
        Dest::File => {
            cmd.env("AGENT_TELEMETRY_OTLP_ENDPOINT", "file");
        }
        Dest::Grpc(e) => {
            cmd.env("AGENT_TELEMETRY_OTLP_ENDPOINT", e).env("AGENT_TELEMETRY_OTLP_PROTOCOL", "grpc");
        }
        Dest::Http(e) => {
            cmd.env("AGENT_TELEMETRY_OTLP_ENDPOINT", e).env("AGENT_TELEMETRY_OTLP_PROTOCOL", "http/protobuf");
        }
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// `relay --once`; panics unless it exits 0 within `timeout`. Returns its stderr.
pub fn relay_once(env: &Install, dest: &Dest, extra: &[(&str, &str)], timeout: Duration) -> String {
    let mut cmd = relay_command(env, dest, &["relay", "--once"], extra);
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn relay");
    let (code, err) = wait_child(&mut child, timeout);
    assert_eq!(code, Some(0), "relay --once exited {code:?}: {err}");
    err
}

/// A `relay --foreground` process; stderr goes to `<tmp>/relay-<n>.stderr`.
pub struct RelayProc {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl RelayProc {
    pub fn start(env: &Install, dest: &Dest, extra: &[(&str, &str)]) -> RelayProc {
        Self::start_limited(env, dest, extra, None)
    }

    /// [`RelayProc::start`] with a file-size limit (RLIMIT_FSIZE, bytes) on the relay: every
    /// write that would make one of its files larger fails (EFBIG), as on a full disk.
    pub fn start_limited(
        env: &Install,
        dest: &Dest,
        extra: &[(&str, &str)],
        file_size_limit: Option<u64>,
    ) -> RelayProc {
        use std::os::unix::process::CommandExt;
        let n = std::fs::read_dir(env.dir.path()).map(|d| d.count()).unwrap_or(0);
        let stderr_path = env.dir.path().join(format!("relay-{n}.stderr"));
        let f = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = relay_command(env, dest, &["relay", "--foreground"], extra);
        if let Some(size) = file_size_limit {
            // SAFETY: setrlimit is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit { rlim_cur: size, rlim_max: size };
                    libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
                    Ok(())
                });
            }
        }
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(f).spawn().expect("spawn relay --foreground");
        RelayProc { child, stderr_path }
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// SIGTERM and wait (bounded); SIGKILL if it does not exit.
    pub fn stop(mut self, timeout: Duration) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Normalised spans and logs (from OTLP JSON or from Jaeger / VictoriaLogs).

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent: Option<String>,
    pub name: String,
    /// OTLP span kind number (file) or Jaeger's `span.kind` tag.
    pub kind: Option<String>,
    /// OTLP flags (file only): bit 0x100 = "is_remote known", 0x200 = parent is remote.
    pub flags: Option<u64>,
    pub start: u64,
    pub end: u64,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: u8,
    pub status_message: String,
    pub attrs: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
    pub events: Vec<String>,
}

impl Span {
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(|s| s.as_str())
    }
    pub fn parent_remote(&self) -> bool {
        self.flags.is_some_and(|f| f & 0x200 != 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Log {
    pub trace_id: String,
    pub span_id: String,
    pub time: u64,
    pub severity: String,
    pub event_name: String,
    pub body: String,
    pub attrs: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
}

impl Log {
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(|s| s.as_str())
    }
}

/// An OTLP JSON `AnyValue` as text (arrays and maps as compact JSON of their texts).
fn any_value(v: &Value) -> String {
    if let Some(s) = v.get("stringValue").and_then(|s| s.as_str()) {
        return s.to_string();
    }
    if let Some(b) = v.get("boolValue").and_then(|b| b.as_bool()) {
        return b.to_string();
    }
    if let Some(i) = v.get("intValue") {
        return i.as_str().map(String::from).unwrap_or_else(|| i.to_string());
    }
    if let Some(d) = v.get("doubleValue") {
        return d.to_string();
    }
    if let Some(a) = v.get("arrayValue") {
        let items: Vec<String> = a["values"].as_array().map(|x| x.iter().map(any_value).collect()).unwrap_or_default();
        return serde_json::to_string(&items).unwrap();
    }
    v.to_string()
}

fn kv_map(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .map(|a| a.iter().map(|kv| (kv["key"].as_str().unwrap_or("").to_string(), any_value(&kv["value"]))).collect())
        .unwrap_or_default()
}

fn num(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64()).unwrap_or(0)
}

/// Line counts of the OTLP files (traces, logs) under `<data>/otlp`.
pub fn otlp_line_counts(data: &Path) -> (usize, usize) {
    let (t, l) = otlp_lines(data);
    (t.len(), l.len())
}

pub fn otlp_lines(data: &Path) -> (Vec<String>, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("otlp"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let (mut t, mut l) = (Vec::new(), Vec::new());
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let lines: Vec<String> = std::fs::read_to_string(&f).unwrap_or_default().lines().map(String::from).collect();
        if name.starts_with("traces-") {
            t.extend(lines);
        } else if name.starts_with("logs-") {
            l.extend(lines);
        }
    }
    (t, l)
}

/// Spans and logs in the OTLP JSON files, skipping the first `skip` (traces, logs) lines.
pub fn read_otlp(data: &Path, skip: (usize, usize)) -> (Vec<Span>, Vec<Log>) {
    let (t, l) = otlp_lines(data);
    let mut spans = Vec::new();
    for line in t.iter().skip(skip.0) {
        let v: Value = serde_json::from_str(line).expect("OTLP trace line is JSON");
        for rs in v["resourceSpans"].as_array().unwrap() {
            let resource = kv_map(&rs["resource"]["attributes"]);
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let parent = s["parentSpanId"].as_str().filter(|p| !p.is_empty()).map(String::from);
                    spans.push(Span {
                        trace_id: s["traceId"].as_str().unwrap().to_string(),
                        span_id: s["spanId"].as_str().unwrap().to_string(),
                        parent,
                        name: s["name"].as_str().unwrap().to_string(),
                        kind: Some(s["kind"].to_string()),
                        flags: s["flags"].as_u64(),
                        start: num(&s["startTimeUnixNano"]),
                        end: num(&s["endTimeUnixNano"]),
                        status_code: s["status"]["code"].as_u64().unwrap_or(0) as u8,
                        status_message: s["status"]["message"].as_str().unwrap_or("").to_string(),
                        attrs: kv_map(&s["attributes"]),
                        resource: resource.clone(),
                        events: s["events"]
                            .as_array()
                            .map(|e| e.iter().map(|e| e["name"].as_str().unwrap_or("").to_string()).collect())
                            .unwrap_or_default(),
                    });
                }
            }
        }
    }
    let mut logs = Vec::new();
    for line in l.iter().skip(skip.1) {
        let v: Value = serde_json::from_str(line).expect("OTLP logs line is JSON");
        for rl in v["resourceLogs"].as_array().unwrap() {
            let resource = kv_map(&rl["resource"]["attributes"]);
            for sl in rl["scopeLogs"].as_array().unwrap() {
                for r in sl["logRecords"].as_array().unwrap() {
                    logs.push(Log {
                        trace_id: r["traceId"].as_str().unwrap_or("").to_string(),
                        span_id: r["spanId"].as_str().unwrap_or("").to_string(),
                        time: num(&r["timeUnixNano"]),
                        severity: r["severityText"].as_str().unwrap_or("").to_string(),
                        event_name: r["eventName"].as_str().unwrap_or("").to_string(),
                        body: any_value(&r["body"]),
                        attrs: kv_map(&r["attributes"]),
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    (spans, logs)
}

/// A trace from Jaeger's `/api/traces/{id}` (the `data[0]` object) in the same form.
/// Times are microseconds there: converted to ns (start = startTime·1000, end = start + duration·1000).
pub fn spans_from_jaeger(trace: &Value) -> Vec<Span> {
    let tag_map = |tags: &Value| -> BTreeMap<String, String> {
        tags.as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        let v = match &t["value"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (t["key"].as_str().unwrap_or("").to_string(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for s in trace["spans"].as_array().cloned().unwrap_or_default() {
        let mut attrs = tag_map(&s["tags"]);
        let pid = s["processID"].as_str().unwrap_or("");
        let process = &trace["processes"][pid];
        let mut resource = tag_map(&process["tags"]);
        if let Some(sn) = process["serviceName"].as_str() {
            resource.insert("service.name".into(), sn.to_string());
        }
        let parent = s["references"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["refType"] == "CHILD_OF"))
            .and_then(|r| r["spanID"].as_str())
            .map(String::from);
        let status_message = attrs.remove("otel.status_description").unwrap_or_default();
        let status_code = match attrs.remove("otel.status_code").as_deref() {
            Some("ERROR") => 2,
            Some("OK") => 1,
            _ => {
                if attrs.get("error").map(|e| e == "true").unwrap_or(false) {
                    2
                } else {
                    0
                }
            }
        };
        let start = s["startTime"].as_u64().unwrap_or(0) * 1000;
        out.push(Span {
            trace_id: s["traceID"].as_str().unwrap_or("").to_string(),
            span_id: s["spanID"].as_str().unwrap_or("").to_string(),
            parent,
            name: s["operationName"].as_str().unwrap_or("").to_string(),
            kind: attrs.remove("span.kind"),
            flags: None,
            start,
            end: start + s["duration"].as_u64().unwrap_or(0) * 1000,
            status_code,
            status_message,
            attrs,
            resource,
            events: s["logs"]
                .as_array()
                .map(|l| l.iter().map(|e| e["fields"].to_string()).collect())
                .unwrap_or_default(),
        });
    }
    out
}

/// VictoriaLogs rows (flat JSON objects) in the normalised form. `trace_id`, `span_id`,
/// `_time`, `_msg`, `severity` are VictoriaLogs' own fields; everything else goes into `attrs`
/// (VictoriaLogs flattens resource and record attributes into one namespace).
pub fn logs_from_victorialogs(rows: &[Value]) -> Vec<Log> {
    rows.iter()
        .map(|r| {
            let mut attrs: BTreeMap<String, String> = r
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let mut take = |k: &str| attrs.remove(k).unwrap_or_default();
            let trace_id = take("trace_id");
            let span_id = take("span_id");
            let body = take("_msg");
            let severity = take("severity");
            let event_name = take("event_name");
            let _ = take("_time");
            Log { trace_id, span_id, time: 0, severity, event_name, body, attrs, resource: BTreeMap::new() }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The span-by-span checks of one replayed fixture.

/// Which representation the spans came from: Jaeger loses the OTLP flags and rounds to µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    File,
    Jaeger,
}

pub struct Checked {
    pub sessions: Vec<String>,
    pub trace_ids: BTreeSet<String>,
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

/// Checks `spans` (all spans of the replayed fixture's traces, nothing else) against what the
/// fixture says must be there. Returns a summary; panics with a precise message on the first
/// violation.
pub fn check_fixture_spans(r: &Replayed, spans: &[Span], source: Source) -> Checked {
    let name = &r.name;
    let slack = if source == Source::Jaeger { 1_000 } else { 0 };
    let dump = || {
        spans
            .iter()
            .map(|s| {
                format!(
                    "  {} {} parent={:?} {:?}",
                    s.span_id,
                    s.name,
                    s.parent,
                    s.attr("gen_ai.tool.call.id").or(s.attr("agent_telemetry.subagent.id")).or(s.attr("prompt.id"))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    assert_eq!(by_id.len(), spans.len(), "{name}: duplicate span ids\n{}", dump());
    let within = |child: &Span, parent: &Span, what: &str| {
        assert!(
            child.start + slack >= parent.start && child.end <= parent.end + slack,
            "{name}: {what}: child {} [{}, {}] not within parent {} [{}, {}]",
            child.name,
            child.start,
            child.end,
            parent.name,
            parent.start,
            parent.end
        );
    };

    // Generic: every span.
    for sp in spans {
        assert!(sp.start <= sp.end, "{name}: span {} starts after it ends", sp.name);
        assert_eq!(
            sp.resource.get("service.name").map(String::as_str),
            Some("claude-code"),
            "{name}: resource service.name of {}",
            sp.name
        );
        let conv = sp
            .attr("gen_ai.conversation.id")
            .unwrap_or_else(|| panic!("{name}: span {} has no gen_ai.conversation.id", sp.name));
        assert!(
            r.calls.iter().any(|c| c.payload["session_id"] == conv),
            "{name}: span {} has conversation id {conv}, not a session of the fixture",
            sp.name
        );
        match source {
            Source::File => assert_eq!(sp.kind.as_deref(), Some("1"), "{name}: span {} kind (1 = INTERNAL)", sp.name),
            Source::Jaeger => assert!(
                matches!(sp.kind.as_deref(), None | Some("internal")),
                "{name}: span {} kind {:?}",
                sp.name,
                sp.kind
            ),
        }
        if let Some(p) = &sp.parent {
            let is_session = sp.name == "invoke_agent claude-code";
            if !is_session || by_id.contains_key(p.as_str()) {
                assert!(
                    by_id.contains_key(p.as_str()),
                    "{name}: parent {p} of {} is not a span of the trace\n{}",
                    sp.name,
                    dump()
                );
            }
            if source == Source::File {
                assert_eq!(
                    sp.parent_remote(),
                    is_session && sp.attr("agent_telemetry.parent_session").is_some(),
                    "{name}: parent-remote flag of {} (flags {:?})",
                    sp.name,
                    sp.flags
                );
            }
        }
    }

    // Sessions: one span per run (SessionStart), root unless the session was started by another.
    let mut sessions: Vec<String> = Vec::new();
    for c in &r.calls {
        let sid = c.payload["session_id"].as_str().unwrap().to_string();
        if !sessions.contains(&sid) {
            sessions.push(sid);
        }
    }
    let session_spans = |sid: &str| -> Vec<&Span> {
        let mut v: Vec<&Span> = spans
            .iter()
            .filter(|s| s.name == "invoke_agent claude-code" && s.attr("gen_ai.conversation.id") == Some(sid))
            .collect();
        v.sort_by_key(|s| s.start);
        v
    };
    assert!(!sessions.is_empty(), "{name}: no sessions in the fixture");
    for sid in &sessions {
        let runs = r
            .calls
            .iter()
            .filter(|c| c.payload["session_id"] == sid.as_str() && c.payload["hook_event_name"] == "SessionStart")
            .count();
        let ss = session_spans(sid);
        assert!(runs >= 1 && !ss.is_empty(), "{name}: session {sid}: {runs} SessionStart, {} session spans", ss.len());
        // The first run's span is the one the hook named in the TRACEPARENT it handed to the
        // session's commands (read from CLAUDE_ENV_FILE, not recomputed here).
        let tp =
            r.handed_traceparent.get(sid).unwrap_or_else(|| panic!("{name}: no TRACEPARENT handed to session {sid}"));
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{name}: TRACEPARENT {tp}");
        assert_eq!(
            (ss[0].trace_id.as_str(), ss[0].span_id.as_str()),
            (parts[1], parts[2]),
            "{name}: session {sid}'s first run is the span its TRACEPARENT names"
        );
        assert_eq!(
            ss.len(),
            runs,
            "{name}: session {sid}: {runs} runs (SessionStart) but {} session spans\n{}",
            ss.len(),
            dump()
        );
        for (i, sp) in ss.iter().enumerate() {
            assert_eq!(sp.attr("gen_ai.agent.id"), None, "{name}: no gen_ai.agent.id on an internal agent span");
            assert_eq!(sp.attr("gen_ai.operation.name"), Some("invoke_agent"));
            assert_eq!(
                sp.attr("agent_telemetry.session.run"),
                Some((i + 1).to_string().as_str()),
                "{name}: run number of session span {i}"
            );
            assert_eq!(sp.status_code, 0, "{name}: session span status");
            match r.parent_session.get(sid) {
                None => assert!(
                    sp.parent.is_none(),
                    "{name}: session {sid} must be a root span, has parent {:?}",
                    sp.parent
                ),
                Some(parent_sid) => {
                    let tp = &r.handed_traceparent[parent_sid];
                    let parts: Vec<&str> = tp.split('-').collect();
                    let parent_span = session_spans(parent_sid)[0];
                    assert_eq!(
                        parts[2], parent_span.span_id,
                        "{name}: the TRACEPARENT handed to children names the parent's session span"
                    );
                    assert_eq!(
                        sp.parent.as_deref(),
                        Some(parent_span.span_id.as_str()),
                        "{name}: child session's parent = parent's session span"
                    );
                    assert_eq!(sp.trace_id, parent_span.trace_id, "{name}: child session in the parent's trace");
                    assert_eq!(sp.attr("agent_telemetry.parent_session"), Some(parent_sid.as_str()));
                    within(sp, parent_span, "child session within parent session");
                }
            }
        }
        for w in ss.windows(2) {
            assert!(w[0].end <= w[1].start + slack, "{name}: runs of session {sid} overlap");
            assert_ne!(w[0].span_id, w[1].span_id);
        }
    }

    // Turns: one span per prompt id, child of the session run that was open at its prompt.
    let mut prompts: Vec<(String, String)> = Vec::new();
    for c in &r.calls {
        if let Some(p) = s(&c.payload["prompt_id"]) {
            let sid = c.payload["session_id"].as_str().unwrap().to_string();
            if !prompts.iter().any(|(_, q)| q == p) {
                prompts.push((sid, p.to_string()));
            }
        }
    }
    let turn = |p: &str| -> &Span {
        let v: Vec<&Span> = spans.iter().filter(|s| s.name == "turn" && s.attr("prompt.id") == Some(p)).collect();
        assert_eq!(v.len(), 1, "{name}: exactly one turn span for prompt {p}\n{}", dump());
        v[0]
    };
    for (sid, p) in &prompts {
        let t = turn(p);
        assert_eq!(
            t.attr("agent_telemetry.prompt_id"),
            Some(p.as_str()),
            "{name}: turn carries agent_telemetry.prompt_id"
        );
        let parent = by_id
            .get(t.parent.as_deref().unwrap_or(""))
            .unwrap_or_else(|| panic!("{name}: turn {p} has no parent span"));
        assert_eq!(parent.name, "invoke_agent claude-code", "{name}: turn's parent is a session span");
        assert_eq!(parent.attr("gen_ai.conversation.id"), Some(sid.as_str()));
        within(t, parent, "turn within session");
        assert_eq!(t.status_code, 0);
    }
    let turn_count = spans.iter().filter(|s| s.name == "turn").count();
    assert_eq!(turn_count, prompts.len(), "{name}: turn spans vs prompt ids");

    // Subagents: parent = the Agent tool call whose PostToolUse named it (tool_response.agentId).
    let mut spawned_by: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for c in &r.calls {
        let p = &c.payload;
        if p["hook_event_name"] == "PostToolUse" && p["tool_name"] == "Agent" {
            let resp = match &p["tool_response"] {
                Value::String(t) => serde_json::from_str(t).unwrap_or(Value::Null),
                v => v.clone(),
            };
            if let Some(a) = resp["agentId"].as_str() {
                spawned_by.insert(
                    a.to_string(),
                    (p["tool_use_id"].as_str().unwrap().to_string(), resp["status"] == "async_launched"),
                );
            }
        }
    }
    let tool_span = |id: &str| -> &Span {
        let v: Vec<&Span> = spans.iter().filter(|s| s.attr("gen_ai.tool.call.id") == Some(id)).collect();
        assert_eq!(v.len(), 1, "{name}: exactly one span for tool call {id}\n{}", dump());
        v[0]
    };
    let agent_span = |a: &str| -> &Span {
        let v: Vec<&Span> = spans
            .iter()
            .filter(|s| {
                s.name.starts_with("invoke_agent ")
                    && s.name != "invoke_agent claude-code"
                    && s.attr("agent_telemetry.subagent.id") == Some(a)
            })
            .collect();
        assert_eq!(v.len(), 1, "{name}: exactly one subagent span for agent {a}\n{}", dump());
        v[0]
    };
    let mut agents = BTreeSet::new();
    for c in &r.calls {
        let p = &c.payload;
        if p["hook_event_name"] == "SubagentStart" {
            let a = p["agent_id"].as_str().unwrap();
            agents.insert(a.to_string());
            let sp = agent_span(a);
            assert_eq!(sp.name, format!("invoke_agent {}", p["agent_type"].as_str().unwrap()));
            assert_eq!(sp.attr("gen_ai.agent.name"), p["agent_type"].as_str());
            let (tool_id, background) =
                spawned_by.get(a).unwrap_or_else(|| panic!("{name}: no Agent PostToolUse names agent {a}"));
            let parent = tool_span(tool_id);
            assert_eq!(
                sp.parent.as_deref(),
                Some(parent.span_id.as_str()),
                "{name}: subagent {a} parent = Agent call {tool_id}\n{}",
                dump()
            );
            assert_eq!(parent.name, "execute_tool Agent");
            if *background {
                // A background agent outlives the Agent call that launched it.
                assert!(sp.start + slack >= parent.start, "{name}: background agent starts after its launch");
                assert_eq!(
                    parent.attr("agent_telemetry.subagent.background"),
                    Some("true"),
                    "{name}: background launch flagged"
                );
            } else {
                within(sp, parent, "foreground subagent within its Agent call");
            }
            assert_eq!(sp.status_code, 0);
        }
    }
    let agent_count =
        spans.iter().filter(|s| s.name.starts_with("invoke_agent ") && s.name != "invoke_agent claude-code").count();
    assert_eq!(agent_count, agents.len(), "{name}: subagent spans vs SubagentStart events");

    // Tools: one span per tool_use_id, parent = subagent span or turn.
    let mut tools: Vec<String> = Vec::new();
    for c in &r.calls {
        let p = &c.payload;
        let Some(id) = s(&p["tool_use_id"]) else { continue };
        if tools.iter().any(|t| t == id) {
            continue;
        }
        tools.push(id.to_string());
        let tool = p["tool_name"].as_str().unwrap();
        let sp = tool_span(id);
        assert_eq!(sp.name, format!("execute_tool {tool}"), "{name}: tool span name");
        assert_eq!(sp.attr("gen_ai.tool.name"), Some(tool));
        assert_eq!(sp.attr("gen_ai.operation.name"), Some("execute_tool"));
        let parent = match s(&p["agent_id"]) {
            Some(a) => agent_span(a),
            None => turn(p["prompt_id"].as_str().unwrap()),
        };
        assert_eq!(
            sp.parent.as_deref(),
            Some(parent.span_id.as_str()),
            "{name}: parent of tool {tool} {id} must be {} {}\n{}",
            parent.name,
            parent.span_id,
            dump()
        );
        within(sp, parent, "tool within its turn / subagent");
        let failure = r
            .calls
            .iter()
            .find(|c| c.payload["tool_use_id"] == id && c.payload["hook_event_name"] == "PostToolUseFailure");
        match failure {
            Some(f) => {
                let err = f.payload["error"].as_str().unwrap_or("");
                assert_eq!(sp.status_code, 2, "{name}: failed tool {id} must have error status");
                assert!(
                    sp.status_message.contains(err),
                    "{name}: status message {:?} carries the error {err:?}",
                    sp.status_message
                );
                assert_eq!(sp.attr("error.type"), Some("tool_error"));
            }
            None => {
                assert_eq!(sp.status_code, 0, "{name}: tool {id} status {} {:?}", sp.status_code, sp.status_message)
            }
        }
        if !r.calls.iter().any(|c| c.payload["tool_use_id"] == id && c.payload["hook_event_name"] == "PreToolUse") {
            panic!("{name}: fixture has a tool call without PreToolUse: {id}");
        }
        assert!(sp.attr("agent_telemetry.span.incomplete").is_none(), "{name}: tool {id} marked incomplete");
    }
    // Calls Claude Code named only in a PostToolBatch (it refused to run them: no such tool in
    // this build, invalid input): one error span each, flagged not run, under the batch's turn
    // or subagent.
    for c in r.calls.iter().filter(|c| c.payload["hook_event_name"] == "PostToolBatch") {
        let p = &c.payload;
        for call in p["tool_calls"].as_array().unwrap_or_else(|| panic!("{name}: PostToolBatch without tool_calls")) {
            let id = call["tool_use_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: a batch call without tool_use_id: {call}"));
            if tools.iter().any(|t| t == id) {
                continue;
            }
            tools.push(id.to_string());
            let tool = call["tool_name"].as_str().unwrap();
            let sp = tool_span(id);
            assert_eq!(sp.name, format!("execute_tool {tool}"), "{name}: not-run tool span name");
            assert_eq!(sp.status_code, 2, "{name}: not-run call {id} has error status");
            assert_eq!(sp.attr("agent_telemetry.tool.not_run"), Some("true"), "{name}: not-run call {id} flagged");
            let parent = match s(&p["agent_id"]) {
                Some(a) => agent_span(a),
                None => turn(p["prompt_id"].as_str().unwrap()),
            };
            assert_eq!(sp.parent.as_deref(), Some(parent.span_id.as_str()), "{name}: parent of not-run call {id}");
        }
    }
    let tool_count = spans.iter().filter(|s| s.name.starts_with("execute_tool ")).count();
    assert_eq!(tool_count, tools.len(), "{name}: tool spans vs tool_use_ids (hooked, and not run)");
    assert_eq!(
        spans.len(),
        sessions_runs(r) + prompts.len() + agents.len() + tools.len(),
        "{name}: no other spans\n{}",
        dump()
    );
    assert!(
        spans.iter().all(|s| s.attr("agent_telemetry.span.incomplete").is_none()),
        "{name}: nothing incomplete\n{}",
        dump()
    );

    let trace_ids: BTreeSet<String> = spans.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(trace_ids.len(), 1, "{name}: one trace for the whole fixture, got {trace_ids:?}");
    Checked { sessions, trace_ids }
}

fn sessions_runs(r: &Replayed) -> usize {
    r.calls.iter().filter(|c| c.payload["hook_event_name"] == "SessionStart").count()
}

/// Checks the log records of a replayed fixture: one per journal record (per call), each in
/// a span of the trace, carrying the session id; seq values distinct.
pub fn check_fixture_logs(r: &Replayed, spans: &[Span], logs: &[Log]) {
    let name = &r.name;
    assert_eq!(logs.len(), r.calls.len(), "{name}: one log record per hook call");
    let ids: BTreeSet<(&str, &str)> = spans.iter().map(|s| (s.trace_id.as_str(), s.span_id.as_str())).collect();
    let mut seqs = BTreeSet::new();
    for l in logs {
        assert!(
            ids.contains(&(l.trace_id.as_str(), l.span_id.as_str())),
            "{name}: log {:?} ({}) points at {}/{}, not a span of the trace",
            l.attr("agent_telemetry.hook_event"),
            l.attr("agent_telemetry.seq").unwrap_or("?"),
            l.trace_id,
            l.span_id
        );
        let conv = l
            .attr("gen_ai.conversation.id")
            .unwrap_or_else(|| panic!("{name}: log without gen_ai.conversation.id: {l:?}"));
        assert!(r.calls.iter().any(|c| c.payload["session_id"] == conv), "{name}: log conversation id {conv}");
        seqs.insert(l.attr("agent_telemetry.seq").expect("seq").to_string());
    }
    assert_eq!(seqs.len(), logs.len(), "{name}: agent_telemetry.seq distinct");
    // Each call's event appears once, in order of the fixture.
    let mut events: Vec<(u64, String)> = logs
        .iter()
        .map(|l| {
            (
                l.attr("agent_telemetry.seq").unwrap().parse().unwrap(),
                l.attr("agent_telemetry.hook_event").unwrap_or("").to_string(),
            )
        })
        .collect();
    events.sort();
    let want: Vec<String> =
        r.calls.iter().map(|c| c.payload["hook_event_name"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        events.into_iter().map(|e| e.1).collect::<Vec<_>>(),
        want,
        "{name}: log records' hook events in journal order"
    );
    // Tool events' logs point at their tool span: one log per tool hook call of the fixture.
    let tool_calls = r.calls.iter().filter(|c| c.payload["tool_use_id"].is_string()).count();
    let tool_logs: Vec<&Log> = logs.iter().filter(|l| l.attr("gen_ai.tool.call.id").is_some()).collect();
    assert_eq!(tool_logs.len(), tool_calls, "{name}: log records with gen_ai.tool.call.id vs tool hook calls");
    for l in tool_logs {
        let id = l.attr("gen_ai.tool.call.id").unwrap();
        let sp = spans
            .iter()
            .find(|s| s.attr("gen_ai.tool.call.id") == Some(id))
            .unwrap_or_else(|| panic!("{name}: no span for the log of tool {id}"));
        assert_eq!(l.span_id, sp.span_id, "{name}: log of tool {id} points at the tool span");
    }
}

// ---------------------------------------------------------------------------------------------
// Synthesising many journal records (through the library: real records, real chain).

/// Appends `n` records to `<data>/journal`, made from the fixtures' payloads (cycled) with
/// distinct ids per copy (`-<tag><copy>`), timestamps from `start_ns` 1 µs apart. Sessions that
/// a copy leaves unfinished (the last, cut short) stay open. Returns the records' session ids.
pub fn synth_journal(data: &Path, project: &Path, n: usize, tag: &str, start_ns: u64) -> BTreeSet<String> {
    synth_journal_as(data, project, n, tag, start_ns, None)
}

/// [`synth_journal`] with the records stamped as agent `agent_id` (`[agent] id`).
pub fn synth_journal_as(
    data: &Path,
    project: &Path,
    n: usize,
    tag: &str,
    start_ns: u64,
    agent_id: Option<&str>,
) -> BTreeSet<String> {
    use agent_telemetry::config::Config;
    use agent_telemetry::enrich::policy::Policy;
    use agent_telemetry::enrich::{Enricher, HookEnv};
    use agent_telemetry::journal::Journal;
    let mut cfg = Config { data_dir: data.to_path_buf(), config_path: data.join("config.toml"), ..Config::default() };
    cfg.agent.id = agent_id.map(str::to_string);
    let policy = Policy::builtin();
    let env =
        HookEnv { project_dir: Some(project.to_path_buf()), entrypoint: Some("sdk-cli".into()), ..HookEnv::default() };
    let enricher = Enricher {
        config: &cfg,
        policy: &policy,
        policy_error: None,
        env: &env,
        project_root: Some(project.to_path_buf()),
    };
    let journal = Journal::from_config(&cfg);
    let fixtures: Vec<(Vec<Call>, Vec<String>)> = FIXTURES
        .iter()
        .map(|f| {
            let c = load_fixture(f);
            let ids = natural_ids(&c);
            (c, ids)
        })
        .collect();
    let mut sessions = BTreeSet::new();
    let mut written = 0usize;
    let mut copy = 0usize;
    'outer: loop {
        let (calls, ids) = &fixtures[copy % fixtures.len()];
        let t = format!("-{tag}{copy}");
        for c in calls {
            if written == n {
                break 'outer;
            }
            let text = payload_text(&c.payload, project, ids, &t);
            let mut rec = enricher.record(text.as_bytes(), start_ns + written as u64 * 1_000);
            if let Some(s) = &rec.session_id {
                sessions.insert(s.clone());
            }
            journal.append(&mut rec).expect("journal append");
            written += 1;
        }
        copy += 1;
    }
    sessions
}

pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// How many spans a replayed fixture must give: a span per session run, prompt id, subagent and
/// tool call.
pub fn expected_span_count(r: &Replayed) -> usize {
    let mut prompts = BTreeSet::new();
    let mut tools = BTreeSet::new();
    let mut agents = BTreeSet::new();
    for c in &r.calls {
        let p = &c.payload;
        if let Some(x) = p["prompt_id"].as_str() {
            prompts.insert(x.to_string());
        }
        if let Some(x) = p["tool_use_id"].as_str() {
            tools.insert(x.to_string());
        }
        // Calls named only by a PostToolBatch are spans too (not run).
        for call in p["tool_calls"].as_array().into_iter().flatten() {
            if let Some(x) = call["tool_use_id"].as_str() {
                tools.insert(x.to_string());
            }
        }
        if p["hook_event_name"] == "SubagentStart" {
            agents.insert(p["agent_id"].as_str().unwrap_or("").to_string());
        }
    }
    sessions_runs(r) + prompts.len() + tools.len() + agents.len()
}

/// The trace id of a replayed fixture: the one in the TRACEPARENT our hook handed to its first
/// session (read from CLAUDE_ENV_FILE during the replay, not recomputed).
pub fn fixture_trace_id(r: &Replayed) -> String {
    let sid = r.calls[0].payload["session_id"].as_str().expect("session_id");
    let tp = r
        .handed_traceparent
        .get(sid)
        .unwrap_or_else(|| panic!("{}: no TRACEPARENT handed to its first session {sid}", r.name));
    tp.split('-').nth(1).unwrap_or_else(|| panic!("{}: malformed TRACEPARENT {tp}", r.name)).to_string()
}
