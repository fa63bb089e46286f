//! Worktree sessions on the real Claude Code CLI (slow stage; the newest CLI this was observed
//! with, 2.1.332, unless CLAUDE_CODE_VERSION says otherwise): `claude --worktree NAME` runs in
//! `<project>/.claude/worktrees/NAME`, a checkout of tracked files only.
//!
//! - Settings not tracked: `install --project` warns that worktree sessions would go unrecorded
//!   and `status` warns too; after `install --user` (the remedy it names) a worktree
//!   session is recorded, says its worktree and branch, and counts as inside the project.
//! - Settings tracked (committed): no warning, and the worktree session is recorded through the
//!   project's own settings.

use crate::harness::claude;

use claude::{run_claude, ClaudeCli, Project, ScriptedModel};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn ours(home: &Path, dir: &Path, args: &[&str]) -> (i32, String) {
    let out = crate::harness::command(home, args).current_dir(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

fn journal(home: &Path) -> Vec<Value> {
    crate::harness::journal_records(&home.join(".local/share/agent-telemetry"))
}

fn cli() -> ClaudeCli {
    if std::env::var_os("CLAUDE_CODE_VERSION").is_none() && std::env::var_os("AGENT_TELEMETRY_CLAUDE_BIN").is_none() {
        std::env::set_var("CLAUDE_CODE_VERSION", "2.1.332");
    }
    ClaudeCli::require()
}

/// A git project with a committed README and our install; returns the project.
fn project(track_settings: bool) -> Project {
    let p = Project::new();
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["add", "README.md"]);
    git(p.path(), &["commit", "-qm", "readme"]);
    let (code, out) = ours(p.home(), p.path(), &["install", "--project", p.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    if track_settings {
        assert!(out.contains("WARNING"), "install does not warn while the settings are untracked:\n{out}");
        git(p.path(), &["add", ".claude/settings.json"]);
        git(p.path(), &["commit", "-qm", "settings"]);
        let (_, again) = ours(p.home(), p.path(), &["install", "--project", p.path().to_str().unwrap()]);
        assert!(!again.contains("WARNING"), "{again}");
    } else {
        assert!(out.contains("WARNING") && out.contains("worktree"), "install does not warn about worktrees:\n{out}");
    }
    // The worktree's git checkout must not carry our marker or data: keep them out of git.
    std::fs::write(p.path().join(".git/info/exclude"), ".telemetry-enabled\n").unwrap();
    p
}

fn worktree_session(p: &Project, cli: &ClaudeCli, model: &ScriptedModel, name: &str) -> Vec<Value> {
    let run = run_claude(
        cli,
        model,
        p,
        "WORKTREE-SCENARIO: look around",
        &["--worktree", name],
        &[("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")],
    );
    assert!(run.status.success(), "claude --worktree failed: {}\n{}", run.stderr, run.stdout);
    let session = run.session_id.clone().expect("session id");
    journal(p.home()).into_iter().filter(|r| r["session_id"] == session.as_str()).collect()
}

fn check_recorded(p: &Project, records: &[Value], name: &str) {
    assert!(
        records.iter().any(|r| r["hook_event"] == "SessionStart"),
        "the worktree session's start is not recorded: {records:?}"
    );
    assert!(records.iter().any(|r| r["hook_event"] == "PostToolUse"), "its tool calls are not recorded");
    for r in records {
        assert_eq!(r["session_context"]["worktree"], name, "{r}");
        assert_eq!(r["session_context"]["branch"], format!("worktree-{name}"), "{r}");
        assert_ne!(r["security"]["outside_project_scope"], true, "the worktree counts as outside the project: {r}");
    }
    let root = p.path().join(".claude/worktrees").join(name);
    assert!(root.exists(), "Claude did not create the worktree at {}", root.display());
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and git"]
fn untracked_settings_warned_then_covered_by_the_user_hook() {
    let cli = cli();
    let model = ScriptedModel::start(claude::scenario_path("worktree"));
    let p = project(false);
    let (_, out) = ours(p.home(), p.path(), &["status"]);
    assert!(
        out.contains("WARNING") && out.contains("will NOT be recorded"),
        "status does not report the worktree gap:\n{out}"
    );
    let (code, out) = ours(p.home(), p.path(), &["install", "--user"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ours(p.home(), p.path(), &["status"]);
    assert!(!out.contains("will NOT be recorded"), "{out}");
    assert_eq!(code, 0, "{out}");
    let records = worktree_session(&p, &cli, &model, "wt1");
    check_recorded(&p, &records, "wt1");
    // status run inside the worktree names it and its branch.
    let (_, out) = ours(p.home(), &p.path().join(".claude/worktrees/wt1"), &["status"]);
    assert!(out.contains("worktree:    wt1") && out.contains("worktree-wt1"), "{out}");
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and git"]
fn tracked_settings_record_the_worktree_through_the_project() {
    let cli = cli();
    let model = ScriptedModel::start(claude::scenario_path("worktree"));
    let p = project(true);
    let user = p.home().join(".claude/settings.json");
    assert!(
        !std::fs::read_to_string(&user).unwrap_or_default().contains("agent-telemetry"),
        "no user-level hook in this case"
    );
    let records = worktree_session(&p, &cli, &model, "wt2");
    check_recorded(&p, &records, "wt2");
}
