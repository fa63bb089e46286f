//! `agent-telemetry install` / `uninstall` / `status --json` on temp projects and a temp HOME:
//! our hook on every event but WorktreeCreate, idempotent, other settings and hooks kept, a backup
//! of the old file, uninstall removes only ours, a broken settings.json is left alone.

use crate::harness::sandbox::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The 31 events of Claude Code 2.1.x less WorktreeCreate (a hook there replaces Claude's own
/// worktree creation), written out independently of src/payload.rs.
const EVENTS: [&str; 30] = [
    "SessionStart",
    "SessionEnd",
    "Setup",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "PermissionRequest",
    "PermissionDenied",
    "Notification",
    "MessageDisplay",
    "Stop",
    "StopFailure",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PostCompact",
    "TaskCreated",
    "TaskCompleted",
    "TeammateIdle",
    "CwdChanged",
    "FileChanged",
    "DirectoryAdded",
    "InstructionsLoaded",
    "ConfigChange",
    "WorktreeRemove",
    "Elicitation",
    "ElicitationResult",
];

fn settings_path(project: &Path) -> PathBuf {
    project.join(".claude/settings.json")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("settings.json.bak"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The commands of every hook entry for `event`.
fn commands(settings: &Value, event: &str) -> Vec<String> {
    settings["hooks"][event]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
                .filter_map(|h| h["command"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn ours(cmd: &str) -> bool {
    cmd == format!("{BIN} hook")
}

fn assert_installed(settings: &Value) {
    let hooks = settings["hooks"].as_object().expect("hooks object");
    assert!(!commands(settings, "WorktreeCreate").iter().any(|c| ours(c)), "WorktreeCreate must not be hooked by us");
    let _ = hooks;
    let ours_on: Vec<&str> =
        EVENTS.iter().copied().filter(|e| commands(settings, e).iter().filter(|c| ours(c)).count() == 1).collect();
    assert_eq!(ours_on.len(), 30, "our hook exactly once on each of 30 events; on: {ours_on:?}\n{settings:#}");
    // Tool events take a matcher for every tool; the hook entry is a command with a timeout.
    for ev in ["PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "PermissionDenied"] {
        let group = settings["hooks"][ev]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["hooks"].as_array().unwrap().iter().any(|h| h["command"].as_str().is_some_and(ours)))
            .unwrap();
        assert_eq!(group["matcher"], json!("*"), "{ev}");
    }
    let entry = settings["hooks"]["Stop"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["hooks"].as_array().unwrap().iter())
        .find(|h| h["command"].as_str().is_some_and(ours))
        .unwrap();
    assert_eq!(entry["type"], json!("command"));
    assert!(entry["timeout"].as_u64().is_some_and(|t| (1..=60).contains(&t)), "{entry}");
}

#[test]
fn install_into_a_fresh_project_is_idempotent() {
    let sb = Sandbox::bare();
    let p = sb.project.to_str().unwrap();
    let out = sb.run(&["install", "--project", p], &[], b"");
    out.ok();
    let path = settings_path(&sb.project);
    let first = std::fs::read(&path).unwrap();
    assert_installed(&read_json(&path));
    assert!(sb.project.join(".telemetry-enabled").exists(), "install creates the marker");
    assert!(backups(&sb.project.join(".claude")).is_empty(), "no backup of a file that did not exist");
    // Second install: the same bytes, no backup.
    let out2 = sb.run(&["install", "--project", p], &[], b"");
    out2.ok();
    assert_eq!(std::fs::read(&path).unwrap(), first, "a second install changes nothing");
    assert!(
        backups(&sb.project.join(".claude")).is_empty(),
        "a second install makes no backup: {:?}",
        backups(&sb.project.join(".claude"))
    );
    // From inside the project (no --project) it is the same file.
    sb.run(&["install"], &[], b"").ok();
    assert_eq!(std::fs::read(&path).unwrap(), first);
}

#[test]
fn install_keeps_other_settings_and_hooks_and_uninstall_removes_only_ours() {
    let sb = Sandbox::bare();
    let dir = sb.project.join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    let original = json!({
        "model": "opus",
        "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
        "env": {"FOO": "bar"},
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/guard.sh", "timeout": 5}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
            "WorktreeCreate": [{"hooks": [{"type": "command", "command": "make-worktree.sh"}]}],
            "FutureEvent": [{"hooks": [{"type": "command", "command": "future.sh"}]}]
        },
        "statusLine": {"type": "command", "command": "echo hi"}
    });
    let original_text = serde_json::to_string_pretty(&original).unwrap();
    let path = settings_path(&sb.project);
    std::fs::write(&path, &original_text).unwrap();

    sb.run(&["install", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    let s = read_json(&path);
    assert_installed(&s);
    for key in ["model", "permissions", "env", "statusLine"] {
        assert_eq!(s[key], original[key], "{key} kept");
    }
    assert!(commands(&s, "PreToolUse").contains(&"/usr/local/bin/guard.sh".to_string()));
    assert_eq!(s["hooks"]["PreToolUse"][0], original["hooks"]["PreToolUse"][0], "the other hook's group is untouched");
    assert!(commands(&s, "Stop").contains(&"notify-send done".to_string()));
    assert_eq!(s["hooks"]["WorktreeCreate"], original["hooks"]["WorktreeCreate"]);
    assert_eq!(s["hooks"]["FutureEvent"], original["hooks"]["FutureEvent"]);
    let b = backups(&dir);
    assert_eq!(b.len(), 1, "one backup: {b:?}");
    assert_eq!(std::fs::read_to_string(&b[0]).unwrap(), original_text, "the backup is the old file, byte for byte");

    // Idempotent: no change, no new backup.
    let installed = std::fs::read(&path).unwrap();
    sb.run(&["install", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    assert_eq!(std::fs::read(&path).unwrap(), installed);
    assert_eq!(backups(&dir).len(), 1);

    // Uninstall: exactly the original settings again (as JSON), with a backup of the installed file.
    std::thread::sleep(std::time::Duration::from_millis(5)); // backup names carry the time
    sb.run(&["uninstall", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    assert_eq!(read_json(&path), original, "uninstall removes only our entries");
    let b = backups(&dir);
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(b.iter().any(|p| std::fs::read(p).unwrap() == installed), "uninstall saved the installed file");
    // Uninstall again: nothing to do, nothing written.
    let after = std::fs::read(&path).unwrap();
    sb.run(&["uninstall", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    assert_eq!(std::fs::read(&path).unwrap(), after);
    assert_eq!(backups(&dir).len(), 2);
}

#[test]
fn install_replaces_a_moved_binary_and_uninstall_removes_empty_events() {
    // An entry from an older location of agent-telemetry is replaced, not duplicated.
    let sb = Sandbox::bare();
    let dir = sb.project.join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    let path = settings_path(&sb.project);
    std::fs::write(
        &path,
        json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "/old/place/agent-telemetry hook"}]}]}})
            .to_string(),
    )
    .unwrap();
    sb.run(&["install", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    let s = read_json(&path);
    assert_installed(&s);
    assert!(!s.to_string().contains("/old/place"), "{s}");
    sb.run(&["uninstall", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    assert_eq!(read_json(&path), json!({}), "nothing of ours is left");
}

#[test]
fn invalid_settings_are_left_untouched() {
    for (bad, why) in [
        ("{\"model\": \"opus\", \"hooks\": {", "not valid JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        ("{\"hooks\": [\"x\"]}", "not an object"),
        ("{\"hooks\": {\"Stop\": \"nope\"}}", "not an array"),
    ] {
        let sb = Sandbox::bare();
        std::fs::create_dir_all(sb.project.join(".claude")).unwrap();
        let path = settings_path(&sb.project);
        std::fs::write(&path, bad).unwrap();
        for cmd in ["install", "uninstall"] {
            let out = sb.run(&[cmd, "--project", sb.project.to_str().unwrap()], &[], b"");
            out.no_panic();
            if cmd == "uninstall" && why.starts_with("not an") {
                // uninstall of a file with no hook of ours may legitimately do nothing
                assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
                continue;
            }
            assert_ne!(out.code, 0, "{cmd} on {bad:?} must fail");
            assert!(
                out.stderr.contains(why) && out.stderr.contains("settings.json"),
                "{cmd}: a clear message naming the file: {}",
                out.stderr
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad, "{cmd} left the file as it was");
            assert!(backups(&sb.project.join(".claude")).is_empty());
        }
    }
}

#[test]
fn install_user_writes_home_settings() {
    let sb = Sandbox::bare();
    // HOME is the sandbox's home (see support); the project is not touched.
    let out = sb.run(&["install", "--user"], &[], b"");
    out.ok();
    let path = sb.home.join(".claude/settings.json");
    assert_installed(&read_json(&path));
    assert!(!settings_path(&sb.project).exists());
    assert!(!sb.project.join(".telemetry-enabled").exists(), "--user creates no project marker");
    let first = std::fs::read(&path).unwrap();
    sb.run(&["install", "--user"], &[], b"").ok();
    assert_eq!(std::fs::read(&path).unwrap(), first);
    assert!(backups(&sb.home.join(".claude")).is_empty());
    sb.run(&["uninstall", "--user"], &[], b"").ok();
    assert_eq!(read_json(&path), json!({}));
}

#[test]
fn install_no_marker() {
    let sb = Sandbox::bare();
    sb.run(&["install", "--project", sb.project.to_str().unwrap(), "--no-marker"], &[], b"").ok();
    assert!(!sb.project.join(".telemetry-enabled").exists());
    assert_installed(&read_json(&settings_path(&sb.project)));
}

#[test]
fn uninstall_without_settings_is_a_no_op() {
    let sb = Sandbox::bare();
    let out = sb.run(&["uninstall", "--project", sb.project.to_str().unwrap()], &[], b"");
    out.ok();
    assert!(!settings_path(&sb.project).exists());
}

#[test]
fn status_json_reports_enabled_and_records() {
    let sb = Sandbox::bare();
    let p = sb.project.to_str().unwrap();
    let status = |sb: &Sandbox| -> Value {
        let out = sb.run(&["status", "--project", p, "--json"], &[], b"");
        out.ok();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", out.stdout))
    };
    let s = status(&sb);
    assert_eq!(s["enabled"], json!(false), "{s:#}");
    assert_eq!(s["journal"]["records"], json!(0));
    sb.run(&["install", "--project", p], &[], b"").ok();
    let s = status(&sb);
    assert_eq!(s["enabled"], json!(true), "{s:#}");
    assert!(s["reason"].as_str().unwrap().contains(".telemetry-enabled"));
    assert_eq!(s["data_dir"].as_str(), sb.data.to_str());
    for i in 0..3 {
        sb.hook(&sb.payload("Notification", "status", json!({"message": format!("m{i}")}))).ok();
    }
    let s = status(&sb);
    assert_eq!(s["journal"]["records"], json!(3), "{s:#}");
    assert_eq!(s["journal"]["last_seq"], json!(2));
    assert_eq!(s["journal"]["last_event"], json!("Notification"));
    assert_eq!(s["journal"]["last_session"], json!("status"));
    // A subdirectory of the project is enabled through the marker above it.
    let sub = sb.project.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let out = sb.run(&["status", "--project", sub.to_str().unwrap(), "--json"], &[], b"");
    assert_eq!(serde_json::from_str::<Value>(&out.stdout).unwrap()["enabled"], json!(true));
    // Scope all: enabled anywhere; scope off: nowhere.
    let elsewhere = sb.home.to_str().unwrap();
    let out = sb.run(&["status", "--project", elsewhere, "--json"], &[("AGENT_TELEMETRY_SCOPE", "all")], b"");
    assert_eq!(serde_json::from_str::<Value>(&out.stdout).unwrap()["enabled"], json!(true));
    let out = sb.run(&["status", "--project", p, "--json"], &[("AGENT_TELEMETRY_SCOPE", "off")], b"");
    assert_eq!(serde_json::from_str::<Value>(&out.stdout).unwrap()["enabled"], json!(false));
}
