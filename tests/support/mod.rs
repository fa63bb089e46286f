//! Shared helpers for the hook/journal/install tests (`hook_replay`, `journal_concurrency`,
//! `journal_tamper`, `hook_bad_input`, `install_cmd`). Include with `mod support;`.
//!
//! Every run of the built binary starts from a cleared environment (only `PATH` is kept), so the
//! developer's own `CLAUDE_*`, `TRACEPARENT` or `AGENT_TELEMETRY_*` variables never leak into a
//! test; `HOME` points into the test's temp dir and the relay is never autostarted.
#![allow(dead_code)]

use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary under test, as cargo built it for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_agent-telemetry");

/// Where the recorded Claude Code payloads live (`tests/data/fixtures`, see tests/data/README.md),
/// the one way every test finds them.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures/claude-code-2.1.328")
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

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
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
        let mut c = Command::new(BIN);
        c.args(args).env_clear();
        if let Some(p) = std::env::var_os("PATH") {
            c.env("PATH", p);
        }
        c.env("HOME", &self.home)
            .env("AGENT_TELEMETRY_HOME", &self.data)
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
        run_with_stdin(self.command(args, extra), stdin)
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
        journal_lines(&self.journal_dir())
            .into_iter()
            .map(|(path, n, line)| {
                serde_json::from_slice(&line).unwrap_or_else(|e| {
                    panic!("{}:{n} is not JSON ({e}): {}", path.display(), String::from_utf8_lossy(&line))
                })
            })
            .collect()
    }

    pub fn segments(&self) -> Vec<PathBuf> {
        segments(&self.journal_dir())
    }
}

/// Journal segment files (`YYYYMMDD-NNNNNN.jsonl`), oldest first: regular files only, as the
/// journal itself reads them (a planted symlink, directory or FIFO is not a segment).
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

/// (segment, 1-based line number, line without newline) for every complete line.
pub fn journal_lines(dir: &Path) -> Vec<(PathBuf, usize, Vec<u8>)> {
    let mut out = Vec::new();
    for seg in segments(dir) {
        let bytes = std::fs::read(&seg).unwrap();
        for (i, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
            if line.last() == Some(&b'\n') {
                out.push((seg.clone(), i + 1, line[..line.len() - 1].to_vec()));
            }
        }
    }
    out
}

/// Writes `stdin` from a thread (large inputs would otherwise dead-lock against a full pipe).
pub fn run_with_stdin(mut c: Command, stdin: &[u8]) -> Run {
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child: Child = c.spawn().expect("spawn agent-telemetry");
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The hook may exit before reading everything (e.g. telemetry off): ignore EPIPE.
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run::from(out)
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
