//! Fleet tests' setup: one data dir, three enabled projects, the registry of
//! `tests/data/fleet/tenants.toml`, and sessions of `tests/data/fleet/session.jsonl` run through
//! the real hook. `proj-a` is agent-a's by the registry's project list (group alpha), `proj-b`
//! runs with `AGENT_TELEMETRY_AGENT_ID=agent-b` (group beta), `proj-c` matches nothing.
#![allow(dead_code)]

use super::relay::{run_with_stdin, Install, Run};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const PROJECTS: [(&str, Option<&str>); 3] = [("proj-a", None), ("proj-b", Some("agent-b")), ("proj-c", None)];

pub fn data_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fleet").join(name)
}

pub struct FleetInstall {
    pub env: Install,
    pub registry: PathBuf,
}

impl FleetInstall {
    pub fn new(prefix: &str) -> FleetInstall {
        let env = Install::new(prefix);
        for (p, _) in PROJECTS {
            let dir = env.dir.path().join("projects").join(p);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(".telemetry-enabled"), "").unwrap();
        }
        let registry = env.dir.path().join("fleet.toml");
        std::fs::copy(data_file("tenants.toml"), &registry).unwrap();
        FleetInstall { env, registry }
    }

    pub fn project(&self, name: &str) -> PathBuf {
        self.env.dir.path().join("projects").join(name)
    }

    /// A command of ours with the registry named by `AGENT_TELEMETRY_FLEET`.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = self.env.command(args);
        cmd.env("AGENT_TELEMETRY_FLEET", &self.registry);
        cmd
    }

    /// Runs one session (the fixture's six events) in `project` through the hook.
    pub fn session(&self, project: &str, agent_id: Option<&str>, session: &str) {
        let dir = self.project(project);
        for line in session_payloads(session, &dir) {
            let mut cmd = self.command(&["hook"]);
            cmd.env("CLAUDE_PROJECT_DIR", &dir);
            if let Some(id) = agent_id {
                cmd.env("AGENT_TELEMETRY_AGENT_ID", id);
            }
            let Run { code, stderr: err, .. } = run_with_stdin(cmd, line.as_bytes(), Duration::from_secs(20));
            assert_eq!(code, 0, "hook exited {code:?}: {err}");
        }
    }

    /// Runs the payloads of `file` (tests/data/fleet) in `project` through the hook.
    pub fn payloads(&self, file: &str, project: &str, session: &str) {
        let dir = self.project(project);
        let text = std::fs::read_to_string(data_file(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line = line.replace("@SESSION@", session).replace("@PROJECT@", &dir.display().to_string());
            let mut cmd = self.command(&["hook"]);
            cmd.env("CLAUDE_PROJECT_DIR", &dir);
            let Run { code, stderr: err, .. } = run_with_stdin(cmd, line.as_bytes(), Duration::from_secs(20));
            assert_eq!(code, 0, "hook exited {code:?}: {err}");
        }
    }

    /// Two sessions in each project.
    pub fn run_all(&self, tag: &str) {
        for (p, id) in PROJECTS {
            for n in 0..2 {
                self.session(p, id, &format!("{tag}-{p}-{n}"));
            }
        }
    }
}

pub fn session_payloads(session: &str, project: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(data_file("session.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace("@SESSION@", session).replace("@PROJECT@", &project.display().to_string()))
        .collect()
}
