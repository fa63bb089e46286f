//! Test harness for running the real Claude Code CLI offline against the scripted model.
//!
//! Self-contained (std, serde_json, tempfile): `use crate::harness::claude::*;` (the benches:
//! `harness::claude`).
//!
//! - [`ClaudeCli::require`] installs the pinned CLI with `scripts/claude/install-cli.sh` (or takes
//!   `AGENT_TELEMETRY_CLAUDE_BIN`); when it cannot, the test fails saying what is missing and
//!   how to install it. Tests that run the CLI are slow-stage tests (`#[ignore = "slow stage: …"]`):
//!   nothing here skips.
//! - [`ScriptedModel::start`] runs `tests/scripted_model/server.py` on a free port (killed on drop).
//! - [`claude_code_events`]: every hook event Claude Code has, from `tests/data/claude-code-events.txt`
//!   (written from the hooks reference, not from the library's own list).
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

/// Every hook event Claude Code has (2.1.x), read from `tests/data/claude-code-events.txt`: the
/// project's own list of what Claude Code has, independent of the library's own
/// event list, so that the recording hook hears everything Claude Code sends whether or not the
/// library knows of it. Registering an event an older CLI does not know is harmless.
pub fn claude_code_events() -> Vec<String> {
    let path = repo_root().join("tests/data/claude-code-events.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let events: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    assert!(!events.is_empty(), "{} lists no events", path.display());
    events
}

/// The fake API key handed to the CLI; the scripted model accepts anything.
pub const FAKE_API_KEY: &str = "sk-ant-scripted-test-0000000000000000";

/// What is missing for the CLI to run here, and the command that installs it.
#[derive(Debug, Clone)]
pub struct Missing(pub String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes a line to the real stderr, which `cargo test` does not capture: the CLI version and
/// timings show up in the test output even for passing tests.
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

/// `tests/scripted_model/FILE`: our scripted model and recording hook. They are the project's own:
/// the server has what our scenarios need (`--port 0` with a
/// port file, streaming answers, `repeat` turns, API errors, per-turn usage and model, a request
/// log with the kind of each request), and the hook records into a file named by its argument
/// under a lock (parallel tool calls) with every variable name it received.
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

/// Fails the test unless `python3` runs.
pub fn require_python3() {
    assert!(
        python3_available(),
        "python3 is missing: the scripted model and the recording hook need it (install it: apt-get install python3)"
    );
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
    /// The CLI, or the test fails saying what is missing and how to install it.
    pub fn require() -> ClaudeCli {
        let cli = Self::find_or_install().unwrap_or_else(|missing| panic!("{missing}"));
        static VERSION: std::sync::Once = std::sync::Once::new();
        VERSION.call_once(|| note(format!("Claude Code version {} ({})", cli.version(), cli.path.display())));
        cli
    }

    /// The CLI named by `AGENT_TELEMETRY_CLAUDE_BIN`, or the one `scripts/claude/install-cli.sh`
    /// installs (pinned version, or `CLAUDE_CODE_VERSION`) into the cache. Runs the installer once
    /// per test process. `Err(Missing)` when python3 is missing or the installer fails (the
    /// message names what is missing and the command that installs it).
    pub fn find_or_install() -> Result<ClaudeCli, Missing> {
        static CLI: OnceLock<Result<ClaudeCli, Missing>> = OnceLock::new();
        CLI.get_or_init(Self::locate).clone()
    }

    fn locate() -> Result<ClaudeCli, Missing> {
        if !python3_available() {
            return Err(Missing(
                "python3 is missing: the scripted model and the recording hook need it (install it: apt-get install python3)".into(),
            ));
        }
        let path = match std::env::var_os("AGENT_TELEMETRY_CLAUDE_BIN") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                let script = repo_root().join("scripts/claude/install-cli.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| Missing(format!("cannot run {}: {e}", script.display())))?;
                let stderr = String::from_utf8_lossy(&out.stderr);
                if !out.status.success() {
                    let why = if out.status.code() == Some(3) {
                        "the npm registry refused the package"
                    } else {
                        "the installer failed"
                    };
                    return Err(Missing(format!(
                        "the Claude Code CLI is missing and could not be installed ({why}, {}): it comes from npm, \
                         so it needs node and npm (apt-get install nodejs npm); install it with \
                         scripts/claude/install-cli.sh (or set AGENT_TELEMETRY_CLAUDE_BIN to a claude executable)\n{stderr}",
                        out.status
                    )));
                }
                let stdout = String::from_utf8_lossy(&out.stdout);
                let last = stdout
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_else(|| panic!("install-cli.sh printed no path; stderr:\n{stderr}"));
                PathBuf::from(last.trim())
            }
        };
        let out = Command::new(&path).arg("--version").stdin(Stdio::null()).output().map_err(|e| {
            Missing(format!(
                "cannot run the Claude Code CLI {}: {e} (scripts/claude/install-cli.sh installs it)",
                path.display()
            ))
        })?;
        if !out.status.success() {
            return Err(Missing(format!(
                "{} --version failed: {:?} (scripts/claude/install-cli.sh reinstalls it)",
                path.display(),
                out
            )));
        }
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
        require_python3();
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
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
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

    /// Registers `command` as a command hook for every event in [`claude_code_events`].
    pub fn register_hook_for_all_events(&self, command: &str) {
        let mut hooks = serde_json::Map::new();
        for event in claude_code_events() {
            hooks.insert(event, json!([{ "hooks": [{ "type": "command", "command": command, "timeout": 60 }] }]));
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

/// Reads a JSON-lines file (missing file: empty, for callers that count; a line that is not JSON
/// fails the test, since every writer here writes whole lines).
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{} line {}: not JSON ({e}): {l}", path.display(), i + 1))
        })
        .collect()
}

/// The `TRACEPARENT` our hook handed to session `session`'s later commands, read from the files
/// Claude Code gave its SessionStart hooks as `CLAUDE_ENV_FILE`
/// (`<HOME>/.claude/session-env/<session>/sessionstart-hook-<n>.sh`, kept after the session):
/// `(trace id, span id)` in hex. An expected value from outside the code under test: Claude Code
/// exports exactly these lines to the session's Bash commands. Panics unless the files hold one
/// well-formed value (every SessionStart of the session, resumes included, writes the same).
pub fn handed_traceparent(home: &Path, session: &str) -> (String, String) {
    let dir = home.join(".claude/session-env").join(session);
    let mut values = BTreeSet::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("no CLAUDE_ENV_FILE folder {}: {e}", dir.display())) {
        let path = entry.expect("read_dir entry").path();
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        values.extend(text.lines().filter_map(|l| l.strip_prefix("export TRACEPARENT=")).map(|v| v.trim().to_string()));
    }
    assert_eq!(values.len(), 1, "TRACEPARENT values handed to session {session} in {}: {values:?}", dir.display());
    let tp = values.into_iter().next().unwrap();
    let parts: Vec<&str> = tp.split('-').collect();
    let hex =
        |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0');
    assert!(
        parts.len() == 4 && parts[0] == "00" && hex(parts[1], 32) && hex(parts[2], 16),
        "malformed TRACEPARENT {tp:?} handed to session {session}"
    );
    (parts[1].to_string(), parts[2].to_string())
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
    let secs = std::env::var("AGENT_TELEMETRY_CLAUDE_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    Duration::from_secs(secs)
}

/// Runs `claude -p PROMPT --output-format json --dangerously-skip-permissions EXTRA_ARGS...` in
/// the project against the scripted model, as a user would: inherited `CLAUDE*` and `ANTHROPIC*`
/// variables are removed (so a test started inside a Claude Code session does not look nested),
/// and so are `AGENT_TELEMETRY_*`, `XDG_*`, `OTEL_*`, `TRACEPARENT` and `AGENT_PARENT_SESSION`
/// (a developer's own settings never reach the hook); then HOME = the project's temporary home,
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
        if n.starts_with("CLAUDE")
            || n.starts_with("ANTHROPIC")
            || n.starts_with("AGENT_TELEMETRY_")
            || n.starts_with("XDG_")
            || n.starts_with("OTEL_")
            || n == "TRACEPARENT"
            || n == "TRACESTATE"
            || n == "AGENT_PARENT_SESSION"
        {
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
    let session_id = json.as_ref().and_then(|j| j["session_id"].as_str()).map(String::from);
    ClaudeRun { status, stdout, stderr, json, session_id, duration }
}

/// The lines of a session transcript (`transcript_path` from any hook payload).
pub fn read_transcript(path: &Path) -> Vec<Value> {
    read_jsonl(path)
}
