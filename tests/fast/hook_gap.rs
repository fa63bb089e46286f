//! Going dark is an event: when the agent removes the project's `.telemetry-enabled` marker, the
//! next hook that runs there writes one `telemetry_gap` record (and the removal itself, done
//! through a tool, is flagged at PreToolUse: see the hostile corpora).

use crate::harness::sandbox::*;
use serde_json::json;

#[test]
fn a_removed_marker_leaves_one_gap_record() {
    let sb = Sandbox::new();
    let ev = |cmd: &str| {
        json!({"session_id": "s-gap", "cwd": sb.project, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t", "tool_input": {"command": cmd}}).to_string().into_bytes()
    };
    let prompt = |p: &str| {
        json!({"session_id": "s-gap", "cwd": sb.project, "hook_event_name": "UserPromptSubmit", "prompt": p})
            .to_string()
            .into_bytes()
    };
    // Projects are remembered where a session or a prompt starts.
    sb.hook(&prompt("tidy up")).ok();
    sb.hook(&ev("rm .telemetry-enabled")).ok();
    let first = sb.records().pop().unwrap();
    assert!(
        first["security"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "telemetry_tampering.config_write"),
        "{first}"
    );
    std::fs::remove_file(sb.project.join(".telemetry-enabled")).unwrap();
    sb.hook(&ev("ls")).ok();
    sb.hook(&ev("ls again")).ok();
    let records = sb.records();
    assert_eq!(records.len(), 3, "one gap record, then silence");
    let gap = &records[2];
    assert_eq!(gap["event_type"], "telemetry_gap");
    assert_eq!(gap["level"], "ERROR");
    assert_eq!(gap["action_details"]["command"], "ls");
    assert!(
        gap["security"]["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "telemetry_tampering.gap"),
        "{gap}"
    );
    // The marker back: recording resumes, and a later removal is reported again.
    std::fs::write(sb.project.join(".telemetry-enabled"), "").unwrap();
    sb.hook(&prompt("back")).ok();
    std::fs::remove_file(sb.project.join(".telemetry-enabled")).unwrap();
    sb.hook(&ev("gone again")).ok();
    let records = sb.records();
    assert_eq!(records.len(), 5);
    assert_eq!(records[4]["event_type"], "telemetry_gap");
    sb.assert_verified();
}

#[test]
fn a_project_never_enabled_writes_nothing() {
    let sb = Sandbox::bare();
    let ev = json!({"session_id": "s", "cwd": sb.project, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t", "tool_input": {"command": "ls"}}).to_string();
    sb.hook(ev.as_bytes()).ok();
    assert!(!sb.data.exists());
}
