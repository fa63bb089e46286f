//! The relay's lifecycle as a user meets it, with no servers: every run has only the variables a
//! user has (HOME, PATH; the config file in `~/.config/agent-telemetry/`), and OTLP "servers" are
//! file destinations or a closed port.
//!
//! - a config with errors: the relay refuses to start and says why where `status` shows it;
//!   `status` exits 1; the hook still records (on defaults, saying so);
//! - a relay that keeps failing is started at most once per back-off window, not per event;
//! - `relay --once` gives up with exit 1 and a clear message when it cannot export in time;
//! - `install --endpoint` reaches a running relay (it reloads), and `install` says so;
//! - `status` says when the running relay uses other settings than the config resolves to;
//! - credentials in the endpoint or headers never appear in clear in status, logs or records.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct User {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl User {
    fn new() -> User {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        let project = home.join("code/demo");
        std::fs::create_dir_all(&project).unwrap();
        User { _tmp: tmp, home, project }
    }

    fn config_file(&self) -> PathBuf {
        self.home.join(".config/agent-telemetry/config.toml")
    }

    fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_file().parent().unwrap()).unwrap();
        std::fs::write(self.config_file(), text).unwrap();
    }

    fn data_dir(&self) -> PathBuf {
        self.home.join(".local/share/agent-telemetry")
    }

    fn relay_status(&self) -> serde_json::Value {
        let p = self.data_dir().join("relay/status.json");
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = crate::harness::command(&self.home, args);
        c.current_dir(&self.project);
        c.envs(env.iter().copied());
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out: Output = self.command(args, env).stdin(Stdio::null()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Runs the hook as Claude Code does (in the project, CLAUDE_PROJECT_DIR set) with one event.
    fn hook(&self, event: &str, n: usize) {
        let payload = format!(
            r#"{{"session_id":"life-{n}","transcript_path":"/nonexistent","cwd":"{}","hook_event_name":"{event}","tool_name":"Bash","tool_use_id":"toolu_{n}","tool_input":{{"command":"ls"}}}}"#,
            self.project.display()
        );
        let mut child = self
            .command(&["hook"], &[("CLAUDE_PROJECT_DIR", self.project.to_str().unwrap())])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(payload.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "hook: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn enable(&self) {
        std::fs::write(self.project.join(".telemetry-enabled"), "").unwrap();
    }

    fn journal_text(&self) -> String {
        let dir = self.data_dir().join("journal");
        let mut s = String::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "jsonl") {
                s.push_str(&std::fs::read_to_string(p).unwrap_or_default());
            }
        }
        s
    }

    /// Every file under the data dir, concatenated (for "never in clear" checks).
    fn everything_written(&self) -> String {
        fn walk(d: &Path, out: &mut String) {
            for e in std::fs::read_dir(d).into_iter().flatten() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
        let mut s = String::new();
        walk(&self.data_dir(), &mut s);
        s
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A foreground relay, stopped (SIGTERM) and reaped on drop.
struct RelayProcess(Child);

impl Drop for RelayProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn start_relay(u: &User, env: &[(&str, &str)]) -> RelayProcess {
    let child = u
        .command(&["relay", "--foreground"], env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let relay = RelayProcess(child);
    wait_until("the relay's status", Duration::from_secs(10), || {
        std::fs::read(u.data_dir().join("relay/status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|s| s["state"] == "running")
    });
    relay
}

/// A loopback port with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_config_with_errors_is_a_failed_start_that_status_shows() {
    let u = User::new();
    u.enable();
    u.write_config("[export]\nendpont = \"http://127.0.0.1:4317\"\n");
    let (code, _, err) = u.run(&["relay", "--foreground"], &[]);
    assert_ne!(code, 0, "a relay started on a config with errors");
    assert!(err.contains("endpont"), "the error does not name the key: {err}");
    let s = u.relay_status();
    assert_eq!(s["state"], "failed");
    assert!(s["last_error"].as_str().unwrap().contains("endpont"), "{s}");
    let (code, out, _) = u.run(&["status"], &[]);
    assert_eq!(code, 1, "status exits 0 on a broken config:\n{out}");
    assert!(out.contains("PROBLEM: config error") && out.contains("endpont"), "{out}");
    assert!(out.contains("PROBLEM: the relay could not start"), "{out}");
    // The hook still records, on defaults, and says so on the record.
    u.hook("PreToolUse", 1);
    let j = u.journal_text();
    assert!(j.contains("endpont") && j.contains("config_error"), "the record does not carry the config error: {j}");
}

#[test]
fn policy_and_config_choices_are_enums() {
    let u = User::new();
    for (text, key) in [
        ("[export]\ntimeout_ms = 1.5\n", "line 2"),
        ("[export]\nautostart = \"false\"\n", "line 2"),
        ("[export]\nprotocol = \"GRPC\"\n", "GRPC"),
    ] {
        u.write_config(text);
        let (code, out, _) = u.run(&["status"], &[]);
        assert_eq!(code, 1, "{text}: {out}");
        assert!(out.contains(key), "{text}: {out}");
    }
}

#[test]
fn a_failing_relay_is_started_once_per_back_off_window_not_per_event() {
    let u = User::new();
    u.enable();
    u.write_config("[export]\nendpoint = \"ftp://nowhere\"\n");
    for n in 0..15 {
        u.hook("PreToolUse", n);
    }
    wait_until("the relay's failed start", Duration::from_secs(10), || u.data_dir().join("relay/status.json").exists());
    std::thread::sleep(Duration::from_millis(300));
    for n in 15..30 {
        u.hook("PostToolUse", n);
    }
    std::thread::sleep(Duration::from_millis(300));
    let s = u.relay_status();
    assert_eq!(s["state"], "failed");
    assert_eq!(s["start_failures"], 1, "30 events started more than one relay: {s}");
    let next = std::fs::metadata(u.data_dir().join("relay/autostart.next")).unwrap().modified().unwrap();
    assert!(next > std::time::SystemTime::now(), "no back-off window is open");
    assert_eq!(u.journal_text().lines().count(), 30, "events were lost");
}

#[test]
fn relay_once_gives_up_with_a_clear_message_when_it_cannot_export() {
    let u = User::new();
    u.enable();
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    u.write_config(&format!("[export]\nendpoint = \"{endpoint}\"\nautostart = false\nconnect_timeout_ms = 200\n"));
    u.hook("PreToolUse", 1);
    let started = Instant::now();
    let (code, _, err) = u.run(&["relay", "--once", "--timeout", "2"], &[]);
    assert_eq!(code, 1, "relay --once did not fail: {err}");
    assert!(started.elapsed() < Duration::from_secs(20), "relay --once took {:?}", started.elapsed());
    assert!(
        err.contains(&format!("could not export to {endpoint} (grpc) within 2s"))
            && err.contains("stay in the journal"),
        "{err}"
    );
    let (_, out, _) = u.run(&["status", "--json"], &[]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["relay"]["backlog"], 1, "the record was counted as exported: {st:#}");
}

#[test]
fn a_running_relay_takes_a_changed_endpoint_and_install_confirms_it() {
    let u = User::new();
    u.enable();
    let a = u.home.join("otlp-a");
    let b = u.home.join("otlp-b");
    u.write_config(&format!("[export]\nendpoint = \"file://{}\"\nautostart = false\npoll_ms = 20\n", a.display()));
    let _relay = start_relay(&u, &[]);
    u.hook("PreToolUse", 1);
    wait_until("records in a", Duration::from_secs(10), || std::fs::read_dir(&a).is_ok_and(|mut d| d.next().is_some()));
    let (code, out, err) = u.run(
        &["install", "--project", u.project.to_str().unwrap(), "--endpoint", &format!("file://{}", b.display())],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("now exports to file {}", b.display())),
        "install did not confirm the switch:\n{out}"
    );
    u.hook("PostToolUse", 2);
    wait_until("records in b", Duration::from_secs(10), || std::fs::read_dir(&b).is_ok_and(|mut d| d.next().is_some()));
    let (code, out, _) = u.run(&["status"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("→ file {}", b.display())), "{out}");
    // The install kept the other settings.
    let text = std::fs::read_to_string(u.config_file()).unwrap();
    assert!(text.contains("autostart = false") && text.contains("poll_ms = 20"), "{text}");
}

#[test]
fn status_says_when_the_relay_uses_other_settings() {
    let u = User::new();
    u.write_config("[export]\nautostart = false\n");
    let elsewhere = u.home.join("elsewhere");
    let _relay = start_relay(&u, &[("AGENT_TELEMETRY_OTLP_ENDPOINT", &format!("file://{}", elsewhere.display()))]);
    let (code, out, _) = u.run(&["status"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the running relay uses other settings") && out.contains(elsewhere.to_str().unwrap()),
        "{out}"
    );
    let (code, out, _) =
        u.run(&["status"], &[("AGENT_TELEMETRY_OTLP_ENDPOINT", &format!("file://{}", elsewhere.display()))]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("export.endpoint") && out.contains("[env AGENT_TELEMETRY_OTLP_ENDPOINT]"), "{out}");
}

#[test]
fn credentials_never_appear_in_clear() {
    let u = User::new();
    u.enable();
    let port = closed_port();
    u.write_config(&format!(
        "[export]\nendpoint = \"https://bob:hunter2secret@127.0.0.1:{port}/otlp?api_key=qwertyuiop\"\nheaders = {{ authorization = \"Bearer tok-abcdef123\", \"x-scope-orgid\" = \"team-a\" }}\nautostart = false\nconnect_timeout_ms = 200\n"
    ));
    u.hook("PreToolUse", 1);
    let (code, out, err) = u.run(&["relay", "--once", "--timeout", "1"], &[]);
    assert_eq!(code, 1);
    let (_, st, st_err) = u.run(&["status", "--json"], &[]);
    let (_, st_text, _) = u.run(&["status"], &[]);
    let (_, unit, _) = u.run(&["relay", "--print-unit"], &[]);
    let everything = format!("{out}{err}{st}{st_err}{st_text}{unit}{}", u.everything_written());
    for secret in ["hunter2secret", "tok-abcdef123", "qwertyuiop"] {
        assert!(!everything.contains(secret), "{secret} appears in clear:\n{everything}");
    }
    assert!(st_text.contains("https://bob:***@127.0.0.1") && st_text.contains("team-a"), "{st_text}");
    // A malformed endpoint's error (on every record, in status) does not repeat the password.
    u.write_config("[export]\nendpoint = \"htps://bob:hunter2secret@h\"\n");
    u.hook("PreToolUse", 2);
    let (code, st_text, _) = u.run(&["status"], &[]);
    assert_eq!(code, 1);
    assert!(!u.journal_text().contains("hunter2secret") && !st_text.contains("hunter2secret"), "{st_text}");
}
