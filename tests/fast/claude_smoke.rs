//! The fast half of the Claude Code smoke tests (the scenarios against the real CLI are
//! tests/slow/claude_smoke.rs): the event list is the reference's, the library and `install`
//! cover every event in it, and the scripted model speaks the Messages API.

use crate::harness::claude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The event list the recording hook registers (`tests/data/claude-code-events.txt`, the
/// project's own list of what Claude Code has) names each event once, says how many it names, and
/// the library knows exactly those events: a new Claude Code event added to the list fails here
/// until the library knows it, and an event the library invents fails too.
#[test]
fn event_list_is_the_projects_and_the_library_knows_it() {
    let events = claude_code_events();
    let list_path = repo_root().join("tests/data/claude-code-events.txt");
    let list = std::fs::read_to_string(&list_path).unwrap_or_else(|e| panic!("{}: {e}", list_path.display()));
    let distinct: BTreeSet<&str> = events.iter().map(String::as_str).collect();
    assert_eq!(distinct.len(), events.len(), "tests/data/claude-code-events.txt names an event twice");
    assert!(
        list.lines().take_while(|l| l.starts_with('#')).any(|l| l.contains(&format!("{} events", events.len()))),
        "the header of {} does not say it lists {} events",
        list_path.display(),
        events.len()
    );
    let library: BTreeSet<&str> = agent_telemetry::event::CLAUDE_CODE_EVENTS.iter().copied().collect();
    let unknown: Vec<&str> = distinct.difference(&library).copied().collect();
    assert!(unknown.is_empty(), "events Claude Code has that the library does not know: {unknown:?}");
    let invented: Vec<&str> = library.difference(&distinct).copied().collect();
    assert!(invented.is_empty(), "events the library knows that the project's list does not name: {invented:?}");
}

/// Events `install` leaves out on purpose: a command hook on `WorktreeCreate` replaces Claude
/// Code's own worktree creation (src/commands/install.rs).
const NOT_INSTALLED: &[&str] = &["WorktreeCreate"];

/// `agent-telemetry install --project P` (as a user: a temporary HOME, nothing else set)
/// registers our hook for every event Claude Code has, but those it must leave alone.
#[test]
fn install_registers_every_claude_code_event() {
    let project = Project::new();
    let out = crate::harness::command(project.home(), &["install", "--project"])
        .arg(project.path())
        .output()
        .expect("run agent-telemetry install");
    assert!(out.status.success(), "install failed: {}", String::from_utf8_lossy(&out.stderr));
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join(".claude/settings.json")).expect("settings.json written"),
    )
    .expect("settings.json is JSON");
    let hooks = settings["hooks"].as_object().expect("a hooks object");
    let events = claude_code_events();
    let missing: Vec<&str> = events.iter().map(String::as_str).filter(|e| !hooks.contains_key(*e)).collect();
    assert_eq!(missing, NOT_INSTALLED, "events install registered no hook for");
    for e in events.iter().filter(|e| !NOT_INSTALLED.contains(&e.as_str())) {
        let text = hooks[e.as_str()].to_string();
        assert!(text.contains("agent-telemetry") && text.contains("hook"), "{e}: {text}");
    }
}

#[test]
fn scripted_model_protocol() {
    require_python3();
    let model = ScriptedModel::start(scenario_path("long"));
    let user = |text: &str| json!({"role": "user", "content": [{"type": "text", "text": text}]});
    let assistant = json!({"role": "assistant", "content": [{"type": "text", "text": "x"}]});
    let tools = json!([{"name": "Bash", "input_schema": {"type": "object"}}]);

    // Non-streaming, first turn: text + 6 tool calls with the expanded {i}.
    let (status, body) = model.post(
        "/v1/messages",
        &json!({"model": "m", "max_tokens": 10, "tools": tools,
                "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>context</system-reminder>"},
                    {"type": "text", "text": "LONG-SCENARIO: go"}]}]}),
    );
    assert_eq!(status, 200, "{body}");
    let msg: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(msg["content"][0]["text"], "Batch 1.");
    assert_eq!(msg["content"][1]["id"], "toolu_long_1_a");
    assert_eq!(msg["content"][1]["input"]["command"], "echo 1-a");
    assert_eq!(msg["usage"]["cache_read_input_tokens"], 5000);

    // The third assistant turn is chosen by the two assistant messages already in the history.
    let history = json!([user("LONG-SCENARIO: go"), assistant, user("r"), assistant, user("r")]);
    let (_, body) = model.post("/v1/messages", &json!({"model": "m", "tools": tools, "messages": history}));
    let msg: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(msg["content"][6]["input"]["command"], "echo 3-f", "{msg}");

    // Streaming: server-sent events in the Messages API order.
    let (status, body) = model.post(
        "/v1/messages",
        &json!({"model": "m", "stream": true, "tools": tools, "messages": [user("LONG-SCENARIO: go")]}),
    );
    assert_eq!(status, 200);
    let events: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(events.first(), Some(&"message_start"), "{body}");
    assert_eq!(events.last(), Some(&"message_stop"));
    assert!(events.contains(&"content_block_delta") && events.contains(&"message_delta"));
    let deltas: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|d| d["type"] == "content_block_delta" && d["index"] == 1)
        .map(|d| d["delta"]["partial_json"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&deltas).unwrap()["command"], "echo 1-a");

    // Side requests (no marker; or a marker but no tools offered) get short text.
    let (_, body) = model.post("/v1/messages", &json!({"model": "m", "messages": [user("Write a title")]}));
    let msg: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(msg["stop_reason"], "end_turn");
    assert_eq!(msg["content"][0]["type"], "text");
    let (_, body) = model.post("/v1/messages", &json!({"model": "m", "messages": [user("LONG-SCENARIO: go")]}));
    let msg: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(msg["stop_reason"], "end_turn", "{msg}");

    // count_tokens and anything else.
    let (status, body) = model.post("/v1/messages/count_tokens", &json!({"messages": [user("hi")]}));
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(model.get("/v1/models").0, 200);
    assert_eq!(model.post("/api/whatever", &json!({})).0, 200);

    let kinds: Vec<String> = model.requests().iter().filter_map(|r| r["kind"].as_str().map(String::from)).collect();
    assert_eq!(kinds, ["turn", "turn", "turn", "side", "side-with-marker"]);
}
