//! The sandbox of the hook/journal/install tests (`hook_replay`, `journal_concurrency`,
//! `journal_tamper`, `hook_bad_input`, `install_cmd`, …): `use crate::harness::sandbox::*;`.
//!
//! Every run of the built binary starts from the harness's clean environment
//! ([`super::command`]): `HOME` points into the test's temp dir and the relay is never autostarted.
#![allow(dead_code)]

use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test, as cargo built it for this test run.
// Re-exported for the tests that glob-import the sandbox.
#[allow(unused_imports)]
pub use super::{journal_lines, run_with_stdin, segments, Run, BIN, RUN_TIMEOUT};

/// Where the recorded Claude Code payloads live (`tests/data/fixtures`, see tests/data/README.md),
/// the one way every test finds them.
pub fn fixtures_dir() -> PathBuf {
    super::relay::fixture_dir()
}

/// A sandbox: a temp dir holding a data dir (`AGENT_TELEMETRY_HOME`), a home dir and a project
/// with the `.telemetry-enabled` marker.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub home: PathBuf,
    pub project: PathBuf,
    /// Extra variables for every run (set after the defaults, so they override them).
    pub env: Vec<(String, OsString)>,
}

impl Sandbox {
    /// A sandbox whose project carries the marker.
    pub fn new() -> Sandbox {
        let s = Sandbox::bare();
        std::fs::write(s.project.join(".telemetry-enabled"), "").unwrap();
        s
    }

    /// A sandbox without the marker.
    pub fn bare() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        // Canonical paths, so that records (which canonicalise) compare equal.
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let data = root.join("data");
        let home = root.join("home");
        let project = home.join("projects/demo");
        std::fs::create_dir_all(&project).unwrap();
        Sandbox { tmp, data, home, project, env: Vec::new() }
    }

    pub fn set(&mut self, k: &str, v: impl Into<OsString>) -> &mut Self {
        self.env.push((k.to_string(), v.into()));
        self
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.data.join("journal")
    }

    /// The command with the sandbox environment: cleared env, PATH, HOME, data dir, relay off,
    /// CLAUDE_PROJECT_DIR = the project; then `self.env`, then `extra`.
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut c = super::command(&self.home, args);
        c.env("AGENT_TELEMETRY_HOME", &self.data)
            .env("AGENT_TELEMETRY_RELAY", "off")
            .env("CLAUDE_PROJECT_DIR", &self.project)
            .current_dir(&self.project);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    }

    /// Runs `agent-telemetry ARGS` with `stdin` and waits for it.
    pub fn run(&self, args: &[&str], extra: &[(&str, &str)], stdin: &[u8]) -> Run {
        run_with_stdin(self.command(args, extra), stdin, RUN_TIMEOUT)
    }

    /// `agent-telemetry hook` with `payload` on stdin.
    pub fn hook(&self, payload: &[u8]) -> Run {
        self.run(&["hook"], &[], payload)
    }

    pub fn hook_env(&self, payload: &[u8], extra: &[(&str, &str)]) -> Run {
        self.run(&["hook"], extra, payload)
    }

    pub fn verify(&self) -> Run {
        self.run(&["verify"], &[], b"")
    }

    /// Asserts that `verify` passes.
    pub fn assert_verified(&self) {
        let v = self.verify();
        assert_eq!(v.code, 0, "verify failed:\n{}\n{}", v.stdout, v.stderr);
        assert!(v.stdout.contains("journal OK"), "{}", v.stdout);
    }

    /// Every record in the journal, in order (segments by name, then lines); panics on a line
    /// that is not JSON.
    pub fn records(&self) -> Vec<Value> {
        super::journal_records(&self.data)
    }

    pub fn segments(&self) -> Vec<PathBuf> {
        segments(&self.journal_dir())
    }
}

/// Every regular file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `v` at a `/`-separated path (object keys or array indexes), or `Null`.
pub fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    let mut cur = v;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(part).unwrap_or(&NULL),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)).unwrap_or(&NULL),
            _ => &NULL,
        };
    }
    cur
}

pub fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    at(v, path).as_str()
}

/// File mode bits (permissions only).
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

impl Sandbox {
    /// A minimal valid payload for `event` in the sandbox project, with `extra` fields merged in.
    pub fn payload(&self, event: &str, session: &str, extra: Value) -> Vec<u8> {
        let mut v = serde_json::json!({
            "session_id": session,
            "transcript_path": self.home.join(".claude/projects/x/t.jsonl"),
            "cwd": self.project,
            "hook_event_name": event,
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        serde_json::to_vec(&v).unwrap()
    }
}
