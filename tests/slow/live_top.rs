//! `top` in a real terminal (slow stage: needs `tmux`; a missing tmux fails the test): started
//! in a detached tmux session of a fixed size on a data dir, hooks run into that data dir while
//! it runs, and the screen is read back with `capture-pane` — the sessions, the running tool,
//! the finding in the feed — and driven with `send-keys`: Down and Enter open a session's
//! timeline, Esc comes back, `/` filters, `s` sorts, `q` quits and the process exits 0.
//! The tmux server has its own socket (`-L`), killed when the test ends.

use crate::harness::sandbox::Sandbox;
use crate::harness::BIN;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long to wait for the screen to show something (a loaded machine, not a speed check).
const PATIENCE: Duration = Duration::from_secs(30);

/// A tmux server of our own with one session running a command.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(found.is_ok_and(|o| o.status.success()), "slow stage: tmux is not installed (apt-get install -y tmux)");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let socket = format!("at-live-top-{}-{nanos}", std::process::id());
        let t = Tmux { socket };
        t.run(&["-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", "160", "-y", "40", command]);
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap();
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The screen once `ok` holds for it; fails with the last screen after [`PATIENCE`].
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + PATIENCE;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < until, "the screen never showed {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

fn sh_quote(p: &Path) -> String {
    crate::harness::claude::shell_quote(p.to_str().unwrap())
}

fn hook(s: &Sandbox, event: &str, session: &str, extra: serde_json::Value) {
    s.hook(&s.payload(event, session, extra)).ok();
}

#[test]
#[ignore = "slow stage: tmux"]
fn top_shows_sessions_tools_and_findings_and_answers_its_keys() {
    let s = Sandbox::new();
    hook(&s, "SessionStart", "aaaa1111-top", json!({"source": "startup"}));
    let exit_file: PathBuf = s.tmp.path().join("top-exit");
    // A clean environment for `top`, as for every run of the binary in the tests.
    let command = format!(
        "env -i PATH=\"$PATH\" HOME={} TERM=xterm-256color {} top --data {}; echo $? > {}",
        sh_quote(&s.home),
        sh_quote(Path::new(BIN)),
        sh_quote(&s.data),
        sh_quote(&exit_file)
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the session read from the journal's tail", |x| x.contains("aaaa1111") && x.contains("q quit"));
    // While it runs: a long tool call, a finding, then another session.
    hook(
        &s,
        "PreToolUse",
        "aaaa1111-top",
        json!({"tool_name": "Bash", "tool_input": {"command": "sleep 30"}, "tool_use_id": "toolu_sleep"}),
    );
    hook(
        &s,
        "PreToolUse",
        "aaaa1111-top",
        json!({"tool_name": "Bash", "tool_input": {"command": "chmod 777 NOTES.md"}, "tool_use_id": "toolu_chmod"}),
    );
    hook(
        &s,
        "PostToolUse",
        "aaaa1111-top",
        json!({"tool_name": "Bash", "tool_input": {"command": "chmod 777 NOTES.md"}, "tool_use_id": "toolu_chmod", "tool_response": {"stdout": "", "stderr": "", "interrupted": false}}),
    );
    hook(&s, "SessionStart", "bbbb2222-top", json!({"source": "startup"}));
    hook(&s, "UserPromptSubmit", "bbbb2222-top", json!({"prompt": "hello"}));
    let screen = tmux.wait_for("both sessions, the running tool and the finding", |x| {
        x.contains("bbbb2222")
            && x.lines().any(|l| l.contains("aaaa1111") && l.contains("Bash ") && !l.contains("0/0/0/0"))
            && x.contains("risky_command.chmod_world_writable")
    });
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains("aaaa1111") || l.contains("bbbb2222")).collect();
    assert!(rows[0].contains("bbbb2222"), "the most recent first:\n{screen}");
    assert!(screen.contains("2 active / 2 sessions"), "{screen}");
    assert!(screen.contains("findings") && screen.contains("chmod 777 NOTES.md"), "{screen}");

    // Down selects the second session (aaaa), Enter opens its live timeline.
    tmux.keys(&["Down"]);
    tmux.keys(&["Enter"]);
    let timeline = tmux.wait_for("aaaa's timeline", |x| x.contains("session aaaa1111-top"));
    assert!(
        timeline.lines().any(|l| l.contains("PreToolUse") && l.contains("sleep 30")),
        "the records of the session:\n{timeline}"
    );
    // It is live: a record written now shows up.
    hook(
        &s,
        "PostToolUse",
        "aaaa1111-top",
        json!({"tool_name": "Bash", "tool_input": {"command": "sleep 30"}, "tool_use_id": "toolu_sleep", "tool_response": {"stdout": "", "stderr": "", "interrupted": false}}),
    );
    tmux.wait_for("the new record in the open timeline", |x| {
        x.lines().any(|l| l.contains("PostToolUse") && l.contains("sleep 30"))
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the sessions again", |x| x.contains("sessions (2)"));

    // `/` filters (typed text, Enter keeps it).
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "bbbb"]);
    tmux.wait_for("the filter being typed", |x| x.contains("filter: bbbb"));
    tmux.keys(&["Enter"]);
    let filtered = tmux.wait_for("one session listed", |x| x.contains("sessions (1)"));
    assert!(filtered.lines().any(|l| l.contains("│●") && l.contains("bbbb2222")), "{filtered}");
    assert!(!filtered.lines().any(|l| l.contains("│●") && l.contains("aaaa1111")), "{filtered}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", |x| x.contains("sessions (2)"));

    // `s` sorts by risk: aaaa (a finding) comes first.
    tmux.keys(&["s"]);
    let sorted = tmux.wait_for("the sort by risk", |x| x.contains("sort: risk"));
    let rows: Vec<&str> = sorted.lines().filter(|l| l.starts_with("│●")).collect();
    assert!(rows.len() == 2 && rows[0].contains("aaaa1111"), "{sorted}");

    tmux.keys(&["q"]);
    let until = Instant::now() + PATIENCE;
    while !exit_file.exists() {
        assert!(Instant::now() < until, "top did not exit on q:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "0", "top's exit code");
    assert!(s.data.join("index").symlink_metadata().is_err(), "top reads the journal, never builds the index");
}
