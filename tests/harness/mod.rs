//! The one test harness of the integration tests (`tests/fast`, `tests/slow`) and the benchmarks
//! (`benches/*.rs` include it with `#[path = "../tests/harness/mod.rs"] mod harness;`).
//!
//! - [`BIN`]: the binary under test; [`command`]: every run of it (or of another program, with
//!   [`clean_command`]) starts from a clean environment, built one way: the environment cleared,
//!   `PATH` kept, `HOME` set to the test's own; then only what the test sets. No `CLAUDE_*`,
//!   `TRACEPARENT`, `OTEL_*`, `XDG_*` or `AGENT_TELEMETRY_*` of the developer reaches a test.
//! - [`run_with_stdin`], [`journal_lines`], [`journal_records`]: one way to feed a process and
//!   one way to read a journal.
//! - Sandboxes: [`sandbox::Sandbox`] (data dir, HOME and an enabled project, for the hook and
//!   journal tests), [`relay::Install`] (the same for the relay tests, with fixture replays),
//!   [`fleet::FleetInstall`] (three projects and a fleet registry).
//! - The local stack ([`stack::Stack`]), the real Claude Code CLI against the scripted model
//!   ([`claude`]), the end-to-end scenarios ([`e2e`]), the recorded sessions ([`recording`]),
//!   the index commands ([`index_cli`]).
#![allow(dead_code)]

pub mod claude;
pub mod claude_cases;
pub mod e2e;
pub mod fleet;
pub mod index_cli;
pub mod recording;
pub mod relay;
pub mod sandbox;
pub mod stack;

use serde_json::Value;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test, as cargo built it for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_agent-telemetry");

/// `program` in a clean environment: cleared, then `PATH` (to find `sh`, `git`, `node`) and
/// `HOME`. Whatever else a test needs it sets on the returned command.
pub fn clean_command(program: impl AsRef<OsStr>, home: impl AsRef<Path>) -> Command {
    let mut c = Command::new(program);
    c.env_clear();
    if let Some(p) = std::env::var_os("PATH") {
        c.env("PATH", p);
    }
    c.env("HOME", home.as_ref());
    c
}

/// `agent-telemetry ARGS` in a clean environment with `HOME` = `home` (see [`clean_command`]).
pub fn command(home: impl AsRef<Path>, args: &[&str]) -> Command {
    let mut c = clean_command(BIN, home);
    c.args(args);
    c
}

/// What a finished process left: its exit code (-1 when killed by a signal or the timeout), its
/// stdout and stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the process exited 0 and printed no panic.
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "exit code {}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr);
        self.no_panic()
    }

    pub fn no_panic(&self) -> &Run {
        assert!(!self.stderr.contains("panicked"), "the process panicked: {}", self.stderr);
        self
    }
}

/// How long [`run_with_stdin`] lets a process run before it kills it (a hook that hangs fails
/// its test instead of hanging the run).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` with `stdin` written from a thread (large inputs would otherwise dead-lock against
/// a full pipe; a process that exits before reading it all is fine); stdout and stderr captured.
/// Killed after `timeout`: then the code is -1 and stderr ends with `killed after …`.
pub fn run_with_stdin(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Run {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The hook may exit before reading everything (e.g. telemetry off): ignore EPIPE.
        let _ = pipe.write_all(&data);
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let mut killed = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            killed = true;
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    writer.join().unwrap();
    let stdout = out.join().unwrap();
    let mut stderr = err.join().unwrap();
    if killed {
        stderr.push_str(&format!("\nkilled after {timeout:?}"));
    }
    Run { code: if killed { -1 } else { status.code().unwrap_or(-1) }, stdout, stderr }
}

/// The repository's `deploy/k8s/*.yaml` manifests, sorted.
pub fn k8s_manifests() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Journal segment files (`YYYYMMDD-NNNNNN.jsonl`) in the journal dir `dir`, oldest first:
/// regular files only, as the journal itself reads them (a planted symlink, directory or FIFO is
/// not a segment).
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.len() == 21
                    && n.ends_with(".jsonl")
                    && n.as_bytes()[8] == b'-'
                    && p.symlink_metadata().is_ok_and(|m| m.is_file())
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// (segment, 1-based line number, line without newline) for every complete line of the journal
/// dir `dir` (a line still being written is left out).
pub fn journal_lines(dir: &Path) -> Vec<(PathBuf, usize, Vec<u8>)> {
    let mut out = Vec::new();
    for seg in segments(dir) {
        let bytes = std::fs::read(&seg).unwrap_or_default();
        for (i, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
            if line.last() == Some(&b'\n') {
                out.push((seg.clone(), i + 1, line[..line.len() - 1].to_vec()));
            }
        }
    }
    out
}

/// Every record of the data dir `data` (its `journal/`), in order; panics on a line that is not
/// JSON.
pub fn journal_records(data: &Path) -> Vec<Value> {
    journal_lines(&data.join("journal"))
        .into_iter()
        .map(|(path, n, line)| {
            serde_json::from_slice(&line).unwrap_or_else(|e| {
                panic!("{}:{n} is not a JSON record ({e}): {}", path.display(), String::from_utf8_lossy(&line))
            })
        })
        .collect()
}

/// The developer's own settings (`AGENT_TELEMETRY_*`, `XDG_*`, `OTEL_*`) taken out of this
/// process's environment, for a test whose children inherit it (the stack's scripts, the Claude
/// Code CLI) and must see what a new user has; put back when the guard drops, so the next test of
/// the binary still finds the developer's settings (e.g. `AGENT_TELEMETRY_CACHE`). Slow-stage
/// tests only: they run one at a time (`--test-threads=1`).
pub fn as_a_new_user() -> SettingsGuard {
    let mut removed = Vec::new();
    for (k, v) in std::env::vars_os() {
        let n = k.to_string_lossy();
        if n.starts_with("AGENT_TELEMETRY_") || n.starts_with("XDG_") || n.starts_with("OTEL_") {
            std::env::remove_var(&k);
            removed.push((k, v));
        }
    }
    SettingsGuard { removed }
}

/// Puts back what [`as_a_new_user`] took out.
pub struct SettingsGuard {
    removed: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

impl Drop for SettingsGuard {
    fn drop(&mut self) {
        for (k, v) in self.removed.drain(..) {
            std::env::set_var(k, v);
        }
    }
}
