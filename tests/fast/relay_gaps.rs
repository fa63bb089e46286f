//! Silence is an event: the relay writes one `telemetry_gap` record when our
//! settings entry goes (removed, its command or matcher changed, all hooks disabled), the marker
//! goes, or a session stops mid-turn without SessionEnd — and one `telemetry_restored` when it
//! comes back. Driven through the built binary the way a user runs it: `install`, the hook,
//! `relay --once` (its check runs at start), settings and thresholds a user can set.

use crate::harness::sandbox::*;
use serde_json::{json, Value};

fn gaps(sb: &Sandbox) -> Vec<Value> {
    sb.records().into_iter().filter(|r| r["gap"].is_object()).collect()
}

fn relay_once(sb: &Sandbox) {
    sb.run(&["relay", "--once", "--timeout", "20"], &[], b"").ok();
}

fn installed() -> Sandbox {
    let sb = Sandbox::new();
    sb.run(&["install", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    sb.hook(&sb.payload("SessionStart", "s-1", json!({"source": "startup"}))).ok();
    sb.hook(&sb.payload("UserPromptSubmit", "s-1", json!({"prompt": "tidy", "prompt_id": "p1"}))).ok();
    sb.hook(&sb.payload("Stop", "s-1", json!({"prompt_id": "p1"}))).ok();
    relay_once(&sb);
    assert!(gaps(&sb).is_empty(), "no gap while everything is in place: {:?}", gaps(&sb));
    sb
}

fn settings_path(sb: &Sandbox) -> std::path::PathBuf {
    sb.project.join(".claude/settings.json")
}

/// The gap records' (event_type, reason), in order.
fn kinds(sb: &Sandbox) -> Vec<(String, String)> {
    gaps(sb)
        .iter()
        .map(|g| (g["event_type"].as_str().unwrap().to_string(), g["gap"]["reason"].as_str().unwrap().to_string()))
        .collect()
}

fn pair(t: &str, r: &str) -> (String, String) {
    (t.to_string(), r.to_string())
}

#[test]
fn a_removed_settings_entry_is_one_gap_and_its_return_one_restored() {
    let sb = installed();
    sb.run(&["uninstall", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    relay_once(&sb);
    relay_once(&sb);
    assert_eq!(
        kinds(&sb),
        vec![pair("telemetry_gap", "settings_entry_removed")],
        "one record per transition, not per check"
    );
    let g = &gaps(&sb)[0];
    assert_eq!(g["hook_event"], "TelemetryGap");
    assert_eq!(g["level"], "ERROR");
    assert_eq!(g["gap"]["detected_by"], "relay");
    assert_eq!(g["project_path"], sb.project.to_str().unwrap());
    assert_eq!(g["session_id"], "s-1", "the project's last session");
    assert!(g["gap"]["last_seen"].is_string());
    assert_eq!(g["gap"]["events"].as_array().unwrap().len(), 30, "{g}");
    assert!(g["security"]["findings"][0]["rule"] == "telemetry_tampering.gap", "{g}");

    sb.run(&["install", "--project", sb.project.to_str().unwrap()], &[], b"").ok();
    relay_once(&sb);
    relay_once(&sb);
    assert_eq!(
        kinds(&sb),
        vec![pair("telemetry_gap", "settings_entry_removed"), pair("telemetry_restored", "settings_entry_removed")]
    );

    // A `sed` over settings.json: our command replaced on one event only; then a matcher narrowed.
    let text = std::fs::read_to_string(settings_path(&sb)).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["hooks"]["PreToolUse"][0]["hooks"][0]["command"] = json!("true");
    v["hooks"]["PostToolUse"][0]["matcher"] = json!("NoSuchTool");
    std::fs::write(settings_path(&sb), serde_json::to_string(&v).unwrap()).unwrap();
    relay_once(&sb);
    let all = gaps(&sb);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2]["gap"]["events"], json!(["PostToolUse", "PreToolUse"]));
    // `echo agent-telemetry hook` is not the recorder either.
    v["hooks"]["PreToolUse"][0]["hooks"][0]["command"] = json!(format!("echo {BIN} hook"));
    std::fs::write(settings_path(&sb), serde_json::to_string(&v).unwrap()).unwrap();
    relay_once(&sb);
    assert_eq!(gaps(&sb).len(), 3, "the same gap: no new record");
    sb.assert_verified();
    // The records reached the exporter like every record (the file exporter's OTLP logs).
    let logs = crate::harness::relay::otlp_lines(&sb.data).1.join("\n");
    assert!(
        logs.contains("agent_telemetry.telemetry_gap") && logs.contains("agent_telemetry.telemetry_restored"),
        "gap records not exported"
    );
}

#[test]
fn all_hooks_disabled_is_a_gap() {
    let sb = installed();
    let local = sb.project.join(".claude/settings.local.json");
    std::fs::write(&local, r#"{"disableAllHooks": true}"#).unwrap();
    relay_once(&sb);
    relay_once(&sb);
    std::fs::remove_file(&local).unwrap();
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "hooks_disabled"), pair("telemetry_restored", "hooks_disabled")]);
    assert!(gaps(&sb)[0]["gap"]["detail"].as_str().unwrap().contains("settings.local.json"));
}

#[test]
fn a_removed_marker_is_one_gap_whoever_notices_first() {
    // The relay first: the next hook run there says nothing more.
    let sb = installed();
    std::fs::remove_file(sb.project.join(".telemetry-enabled")).unwrap();
    relay_once(&sb);
    sb.hook(&sb.payload("UserPromptSubmit", "s-1", json!({"prompt": "again", "prompt_id": "p2"}))).ok();
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "marker_removed")]);
    std::fs::write(sb.project.join(".telemetry-enabled"), "").unwrap();
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "marker_removed"), pair("telemetry_restored", "marker_removed")]);

    // The hook first: the relay takes its record as the gap and does not write a second.
    let sb = installed();
    std::fs::remove_file(sb.project.join(".telemetry-enabled")).unwrap();
    sb.hook(&sb.payload("UserPromptSubmit", "s-1", json!({"prompt": "again", "prompt_id": "p2"}))).ok();
    relay_once(&sb);
    relay_once(&sb);
    let g = gaps(&sb);
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(g[0]["gap"]["detected_by"], "hook");
    std::fs::write(sb.project.join(".telemetry-enabled"), "").unwrap();
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "marker_removed"), pair("telemetry_restored", "marker_removed")]);
    sb.assert_verified();
}

#[test]
fn a_session_silent_mid_turn_is_one_gap_and_restored_when_it_speaks() {
    let mut sb = installed();
    sb.set("AGENT_TELEMETRY_SESSION_SILENCE_SECS", "1");
    let pre = |id: &str| {
        sb.payload(
            "PreToolUse",
            "s-busy",
            json!({"prompt_id": "b1", "tool_name": "Bash", "tool_use_id": id, "tool_input": {"command": "ls"}}),
        )
    };
    sb.hook(&sb.payload("UserPromptSubmit", "s-busy", json!({"prompt": "work", "prompt_id": "b1"}))).ok();
    sb.hook(&pre("t1")).ok();
    // s-1 waits for the user (its last record is a Stop): silence there is not a gap yet.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    relay_once(&sb);
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "session_silent")]);
    let g = &gaps(&sb)[0];
    assert_eq!(g["session_id"], "s-busy");
    assert_eq!(g["gap"]["waiting_for_user"], Value::Null, "mid-turn: {g}");
    assert!(g["gap"]["silent_secs"].as_u64().unwrap() >= 1);
    sb.hook(&sb.payload("PostToolUse", "s-busy", json!({"prompt_id": "b1", "tool_name": "Bash", "tool_use_id": "t1", "tool_input": {"command": "ls"}, "tool_response": {}}))).ok();
    sb.hook(&sb.payload("Stop", "s-busy", json!({"prompt_id": "b1"}))).ok();
    relay_once(&sb);
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "session_silent"), pair("telemetry_restored", "session_silent")]);
    sb.assert_verified();
}

#[test]
fn a_silence_while_no_relay_ran_is_noticed_from_the_records() {
    let mut sb = installed();
    sb.set("AGENT_TELEMETRY_SESSION_SILENCE_SECS", "1");
    sb.hook(&sb.payload("UserPromptSubmit", "s-late", json!({"prompt": "work", "prompt_id": "l1"}))).ok();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    sb.hook(&sb.payload("Stop", "s-late", json!({"prompt_id": "l1"}))).ok();
    relay_once(&sb);
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "session_silent"), pair("telemetry_restored", "session_silent")]);
    // A session that ended properly leaves nothing to report.
    sb.hook(&sb.payload("SessionEnd", "s-late", json!({"reason": "exit"}))).ok();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    relay_once(&sb);
    assert_eq!(gaps(&sb).len(), 2);
}

/// Http hooks (`install --transport http`) posting to the relay's configured endpoint are our
/// hook: switching transports is no gap. One redirected elsewhere (another port: a listener the
/// agent runs) is not ours: a gap naming the event.
#[test]
fn http_hooks_to_our_endpoint_are_ours_and_a_redirect_is_a_gap() {
    let sb = installed();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    sb.run(
        &["install", "--project", sb.project.to_str().unwrap(), "--transport", "http", "--listen", &listen],
        &[],
        b"",
    )
    .ok();
    relay_once(&sb);
    relay_once(&sb);
    assert!(gaps(&sb).is_empty(), "switching to http hooks is no gap: {:?}", gaps(&sb));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(settings_path(&sb)).unwrap()).unwrap();
    assert_eq!(v["hooks"]["PreToolUse"][0]["hooks"][0]["type"], "http");
    v["hooks"]["PreToolUse"][0]["hooks"][0]["url"] = json!("http://127.0.0.1:9/agent-telemetry/hook");
    std::fs::write(settings_path(&sb), serde_json::to_string(&v).unwrap()).unwrap();
    relay_once(&sb);
    assert_eq!(kinds(&sb), vec![pair("telemetry_gap", "settings_entry_removed")]);
    assert_eq!(gaps(&sb)[0]["gap"]["events"], json!(["PreToolUse"]));
}
