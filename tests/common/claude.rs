//! Test harness for running the real Claude Code CLI offline against the scripted model.
//!
//! Self-contained (std, serde_json, tempfile). Include it from an integration test with
//! `#[path = "common/claude.rs"] mod claude;` or from `tests/common/mod.rs` with `pub mod claude;`.
//!
//! - [`ClaudeCli::find_or_install`] installs the pinned CLI with `scripts/claude/install-cli.sh`
//!   (or takes `AGENT_TELEMETRY_CLAUDE_BIN`), and returns [`Skip`] when the registry refuses it.
//! - [`ScriptedModel::start`] runs `tests/scripted_model/server.py` on a free port (killed on drop).
//! - [`Project::new`] makes a temporary project folder and a temporary `HOME` beside it, so the
//!   user's real `~/.claude` is never read or written.
//! - [`run_claude`] runs `claude -p PROMPT --output-format json --dangerously-skip-permissions` in
//!   the project, against the model, with a timeout.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Every hook event name known in 2026 (Claude Code 2.1.x): the library's list. Registering a
/// hook for an event an older CLI does not know is harmless; newer events simply go unrecorded.
pub const HOOK_EVENTS: &[&str] = &agent_telemetry::payload::KNOWN_EVENTS;

/// The fake API key handed to the CLI; the scripted model accepts anything.
pub const FAKE_API_KEY: &str = "sk-ant-scripted-test-0000000000000000";

/// Why a test cannot run here (printed, then the test passes).
#[derive(Debug, Clone)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes a line to the real stderr, which `cargo test` does not capture: skip notices, the CLI
/// version and timings show up in the test output even for passing tests.
pub fn note(msg: impl AsRef<str>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", msg.as_ref());
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/scenarios/NAME.json`.
pub fn scenario_path(name: &str) -> PathBuf {
    repo_root().join("tests/scenarios").join(format!("{name}.json"))
}

/// `tests/scripted_model/FILE`.
pub fn scripted_model_file(file: &str) -> PathBuf {
    repo_root().join("tests/scripted_model").join(file)
}

/// Whether `python3` runs (the scripted model and the recording hook need it).
pub fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

// ------------------------------------------------------------------------------------------ CLI

/// An installed Claude Code CLI.
#[derive(Debug, Clone)]
pub struct ClaudeCli {
    /// Absolute path of the `claude` executable.
    pub path: PathBuf,
    version: String,
}

impl ClaudeCli {
    /// The CLI named by `AGENT_TELEMETRY_CLAUDE_BIN`, or the one `scripts/claude/install-cli.sh`
    /// installs (pinned version, or `CLAUDE_CODE_VERSION`) into the cache. Runs the installer once
    /// per test process. `Err(Skip)` when the registry refused the package (installer exit 3) or
    /// python3 is missing; panics on any other failure, which is a real one.
    pub fn find_or_install() -> Result<ClaudeCli, Skip> {
        static CLI: OnceLock<Result<ClaudeCli, Skip>> = OnceLock::new();
        CLI.get_or_init(Self::locate).clone()
    }

    fn locate() -> Result<ClaudeCli, Skip> {
        if !python3_available() {
            return Err(Skip("python3 not found: the scripted model needs it".into()));
        }
        let path = match std::env::var_os("AGENT_TELEMETRY_CLAUDE_BIN") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                let script = repo_root().join("scripts/claude/install-cli.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
                let stderr = String::from_utf8_lossy(&out.stderr);
                match out.status.code() {
                    Some(0) => {}
                    Some(3) => {
                        let why = stderr.lines().last().unwrap_or("npm registry refused the package");
                        return Err(Skip(format!("Claude Code CLI not installable: {why}")));
                    }
                    _ => panic!("{} failed ({}):\n{stderr}", script.display(), out.status),
                }
                let stdout = String::from_utf8_lossy(&out.stdout);
                let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_else(|| {
                    panic!("install-cli.sh printed no path; stderr:\n{stderr}")
                });
                PathBuf::from(last.trim())
            }
        };
        let out = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        assert!(out.status.success(), "{} --version failed: {:?}", path.display(), out);
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.split_whitespace().next().unwrap_or("unknown").to_string();
        Ok(ClaudeCli { path, version })
    }

    /// The version `claude --version` reports, e.g. `2.1.328`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The folder holding the `claude` executable (put first on PATH, so that an agent's Bash
    /// tool can start a child `claude`).
    pub fn bin_dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

// ------------------------------------------------------------------------------ scripted model

/// A running `tests/scripted_model/server.py`; killed when dropped.
pub struct ScriptedModel {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl ScriptedModel {
    /// Starts the scripted model on a free port of 127.0.0.1 with the given scenario file, and
    /// waits until it accepts connections.
    pub fn start(scenario: impl AsRef<Path>) -> ScriptedModel {
        let scenario = scenario.as_ref();
        assert!(scenario.is_file(), "no scenario file {}", scenario.display());
        let dir = tempfile::Builder::new().prefix("scripted-model-").tempdir().expect("tempdir");
        let port_file = dir.path().join("port");
        let mut child = Command::new("python3")
            .arg(scripted_model_file("server.py"))
            .arg("--scenario")
            .arg(scenario)
            .arg("--port")
            .arg("0")
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(dir.path().join("requests.jsonl"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 tests/scripted_model/server.py");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("scripted model exited early: {status}");
            }
            if let Ok(text) = fs::read_to_string(&port_file) {
                if let Ok(port) = text.trim().parse::<u16>() {
                    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                        break port;
                    }
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("scripted model did not start listening within 20 s");
            }
            thread::sleep(Duration::from_millis(25));
        };
        ScriptedModel { child, port, dir }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, the value for ANTHROPIC_BASE_URL.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request log (one JSON line per request the model answered).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("requests.jsonl")
    }

    /// The requests answered so far: path, marker, kind (turn | side | past-end | ...), turn, ...
    pub fn requests(&self) -> Vec<Value> {
        read_jsonl(&self.log_path())
    }

    /// Sends one HTTP/1.1 request with a JSON body and returns (status, body). For tests of the
    /// model itself; enough HTTP for this server only.
    pub fn post(&self, path: &str, body: &Value) -> (u16, String) {
        http_request(self.port, "POST", path, Some(body))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_request(self.port, "GET", path, None)
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_request(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to scripted model");
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

// ------------------------------------------------------------------------------------ project

/// A temporary project folder (`<tmp>/project`, with a README.md) and a temporary home
/// (`<tmp>/home`) for the CLI, removed on drop unless `AGENT_TELEMETRY_KEEP_TMP=1`.
pub struct Project {
    tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    dir: PathBuf,
    home: PathBuf,
}

impl Project {
    pub fn new() -> Project {
        let tmp = tempfile::Builder::new().prefix("claude-project-").tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonicalize tempdir");
        let dir = root.join("project");
        let home = root.join("home");
        fs::create_dir_all(dir.join(".claude")).expect("mkdir project/.claude");
        fs::create_dir_all(&home).expect("mkdir home");
        fs::write(dir.join("README.md"), "# demo project\n\nA project for scripted Claude Code runs.\n")
            .expect("write README.md");
        Project { tmp: Some(tmp), root, dir, home }
    }

    /// `git init` in the project (quietly; a missing git is not an error).
    pub fn git_init(self) -> Project {
        let _ = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        self
    }

    /// The project folder: the CLI's working directory and `CLAUDE_PROJECT_DIR`.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The CLI's HOME: `~/.claude.json`, `~/.claude/projects/...` transcripts land here.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// A scratch folder beside project and home (for journals, hook records, ...).
    pub fn scratch(&self) -> &Path {
        &self.root
    }

    /// Writes `.claude/settings.json`.
    pub fn write_settings(&self, settings: &Value) {
        let text = serde_json::to_string_pretty(settings).expect("settings json");
        fs::write(self.dir.join(".claude/settings.json"), text).expect("write settings.json");
    }

    /// Registers `command` as a command hook for every event in [`HOOK_EVENTS`].
    pub fn register_hook_for_all_events(&self, command: &str) {
        let mut hooks = serde_json::Map::new();
        for event in HOOK_EVENTS {
            hooks.insert(
                event.to_string(),
                json!([{ "hooks": [{ "type": "command", "command": command, "timeout": 60 }] }]),
            );
        }
        self.write_settings(&json!({ "hooks": hooks }));
    }

    /// Registers `tests/scripted_model/record_hook.py` for every hook event, recording into
    /// `<scratch>/hooks.jsonl`; returns a [`HookLog`] to read it.
    pub fn install_recording_hook(&self) -> HookLog {
        let log = self.root.join("hooks.jsonl");
        let command = format!(
            "python3 {} {}",
            shell_quote(&scripted_model_file("record_hook.py").to_string_lossy()),
            shell_quote(&log.to_string_lossy())
        );
        self.register_hook_for_all_events(&command);
        HookLog { path: log }
    }
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::env::var("AGENT_TELEMETRY_KEEP_TMP").as_deref() == Ok("1") {
            if let Some(tmp) = self.tmp.take() {
                note(format!("kept {}", tmp.keep().display()));
            }
        }
    }
}

/// Single-quotes `s` for sh.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------------------- hook records

/// The file the recording hook appends to.
pub struct HookLog {
    pub path: PathBuf,
}

/// One hook call, as `record_hook.py` wrote it.
#[derive(Debug, Clone)]
pub struct HookRecord {
    pub at: f64,
    pub payload: Value,
    pub env_names: Vec<String>,
    pub env: Value,
}

impl HookRecord {
    pub fn event(&self) -> &str {
        self.payload["hook_event_name"].as_str().unwrap_or("")
    }
    pub fn session_id(&self) -> &str {
        self.payload["session_id"].as_str().unwrap_or("")
    }
    pub fn tool_name(&self) -> Option<&str> {
        self.payload["tool_name"].as_str()
    }
    pub fn tool_use_id(&self) -> Option<&str> {
        self.payload["tool_use_id"].as_str()
    }
    pub fn agent_id(&self) -> Option<&str> {
        self.payload["agent_id"].as_str()
    }
    /// `tool_input.command` of a Bash call.
    pub fn command(&self) -> Option<&str> {
        self.payload["tool_input"]["command"].as_str()
    }
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env[name].as_str()
    }
}

impl HookLog {
    /// Every recorded call, in the order they were appended.
    pub fn records(&self) -> Vec<HookRecord> {
        read_jsonl(&self.path)
            .into_iter()
            .map(|v| HookRecord {
                at: v["at"].as_f64().unwrap_or(0.0),
                env_names: v["env_names"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                    .unwrap_or_default(),
                env: v["env"].clone(),
                payload: v["payload"].clone(),
            })
            .collect()
    }

    /// The records of one event.
    pub fn of(&self, event: &str) -> Vec<HookRecord> {
        self.records().into_iter().filter(|r| r.event() == event).collect()
    }

    /// Distinct session ids, in order of first appearance.
    pub fn session_ids(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for r in self.records() {
            let id = r.session_id().to_string();
            if !id.is_empty() && !seen.contains(&id) {
                seen.push(id);
            }
        }
        seen
    }

    /// `EVENT:tool` counts, e.g. for failure messages.
    pub fn summary(&self) -> String {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for r in self.records() {
            let key = match r.tool_name() {
                Some(t) => format!("{}:{t}", r.event()),
                None => r.event().to_string(),
            };
            *counts.entry(key).or_default() += 1;
        }
        format!("{counts:?}")
    }

    /// Union of the environment variable names every hook process received.
    pub fn env_names(&self) -> BTreeSet<String> {
        self.records().into_iter().flat_map(|r| r.env_names).collect()
    }
}

/// Reads a JSON-lines file (missing file: empty; bad lines skipped).
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

// ------------------------------------------------------------------------------------ running

/// What one `claude -p` run produced.
#[derive(Debug)]
pub struct ClaudeRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// stdout parsed as JSON (`--output-format json`), if it parses.
    pub json: Option<Value>,
    pub session_id: Option<String>,
    pub duration: Duration,
}

impl ClaudeRun {
    /// The final answer text (`result`).
    pub fn result(&self) -> &str {
        self.json.as_ref().and_then(|j| j["result"].as_str()).unwrap_or("")
    }

    /// Panics with stdout and stderr unless the CLI exited 0 with a non-error JSON result.
    pub fn assert_success(&self) -> &Self {
        let is_error = self.json.as_ref().map(|j| j["is_error"] == json!(true)).unwrap_or(true);
        assert!(
            self.status.success() && !is_error,
            "claude failed ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// The run timeout: `AGENT_TELEMETRY_CLAUDE_TIMEOUT` seconds, default 300.
pub fn claude_timeout() -> Duration {
    let secs = std::env::var("AGENT_TELEMETRY_CLAUDE_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Runs `claude -p PROMPT --output-format json --dangerously-skip-permissions EXTRA_ARGS...` in
/// the project against the scripted model. The CLI gets a clean environment for its own
/// settings: inherited `CLAUDE*` and `ANTHROPIC*` variables are removed (so a test started
/// inside a Claude Code session does not look nested), then HOME = the project's temporary home,
/// IS_SANDBOX=1 (skip-permissions as root), ANTHROPIC_BASE_URL, a fake ANTHROPIC_API_KEY, no
/// nonessential traffic, no autoupdater, no telemetry, and the CLI's folder first on PATH.
/// `extra_env` is applied last. Panics on timeout.
pub fn run_claude(
    cli: &ClaudeCli,
    model: &ScriptedModel,
    project: &Project,
    prompt: &str,
    extra_args: &[&str],
    extra_env: &[(&str, &str)],
) -> ClaudeRun {
    let mut cmd = Command::new(&cli.path);
    cmd.arg("-p")
        .arg(prompt)
        .args(["--output-format", "json", "--dangerously-skip-permissions"])
        .args(extra_args)
        .current_dir(project.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("CLAUDE") || n.starts_with("ANTHROPIC") {
            cmd.env_remove(&name);
        }
    }
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut dirs = vec![cli.bin_dir()];
            dirs.extend(std::env::split_paths(&p));
            std::env::join_paths(dirs).expect("join PATH")
        }
        None => cli.bin_dir().into_os_string(),
    };
    cmd.env("PATH", path)
        .env("HOME", project.home())
        .env("IS_SANDBOX", "1")
        .env("ANTHROPIC_BASE_URL", model.base_url())
        .env("ANTHROPIC_API_KEY", FAKE_API_KEY)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }

    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", cli.path.display()));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let timeout = claude_timeout();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_reader.join().unwrap_or_default();
            panic!("claude -p {prompt:?} timed out after {timeout:?}; stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let duration = started.elapsed();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let json: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    let session_id = json
        .as_ref()
        .and_then(|j| j["session_id"].as_str())
        .map(String::from);
    ClaudeRun { status, stdout, stderr, json, session_id, duration }
}

/// The lines of a session transcript (`transcript_path` from any hook payload).
pub fn read_transcript(path: &Path) -> Vec<Value> {
    read_jsonl(path)
}
