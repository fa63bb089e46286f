//! `verify` never silently accepts a missing or edited relay checkpoint (the outside anchor for
//! the journal's end): deleted after a relay exported, unreadable, or naming another record.

use crate::harness::sandbox::*;
use serde_json::json;

fn setup() -> Sandbox {
    let sb = Sandbox::new();
    for i in 0..3 {
        let p = json!({"session_id": "s", "cwd": sb.project, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": format!("t{i}"), "tool_input": {"command": "ls"}});
        sb.hook(p.to_string().as_bytes()).ok();
    }
    let last = sb.records().pop().unwrap();
    let relay = sb.data.join("relay");
    std::fs::create_dir_all(&relay).unwrap();
    std::fs::write(
        relay.join("checkpoint.json"),
        json!({"version": 2, "last_seq": last["seq"], "last_hash": last["hash"]}).to_string(),
    )
    .unwrap();
    std::fs::write(relay.join("status.json"), json!({"exported_records": 3, "exported_spans": 1}).to_string()).unwrap();
    sb
}

#[test]
fn an_intact_anchor_verifies() {
    setup().assert_verified();
}

#[test]
fn a_deleted_checkpoint_is_reported() {
    let sb = setup();
    std::fs::remove_file(sb.data.join("relay/checkpoint.json")).unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("checkpoint is missing") && v.stdout.contains("3 exported"), "{}", v.stdout);
}

#[test]
fn an_edited_checkpoint_is_reported() {
    let sb = setup();
    std::fs::write(sb.data.join("relay/checkpoint.json"), "{\"version\": 2, \"last_seq\": \"x\"").unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("cannot be read"), "{}", v.stdout);
    // A well-formed checkpoint naming another record for its seq: the journal was rewritten.
    std::fs::write(
        sb.data.join("relay/checkpoint.json"),
        json!({"version": 2, "last_seq": 2, "last_hash": "0".repeat(64)}).to_string(),
    )
    .unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("not the record the relay exported"), "{}", v.stdout);
}
