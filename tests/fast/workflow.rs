//! A workflow across processes (delegation): a coordinator that starts agents sets
//! `AGENT_TELEMETRY_WORKFLOW_ID`; every record and the session span carry it
//! (`agent_telemetry.workflow.id`), and a session hands it, with its trace context, to the
//! sessions it starts from its commands (CLAUDE_ENV_FILE) — so a child `claude -p` joins the
//! parent's trace under the same workflow. Driven through the real binary as Claude Code would.

use crate::harness::relay;

use relay::{journal_records, read_otlp, relay_once, run_with_stdin, Dest, Install, Run};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn hook(env: &Install, vars: &BTreeMap<String, String>, payload: serde_json::Value) {
    let mut cmd = env.command(&["hook"]);
    cmd.env("CLAUDE_PROJECT_DIR", &env.project).envs(vars);
    let Run { code, stderr: err, .. } = run_with_stdin(cmd, payload.to_string().as_bytes(), Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
}

/// The `export K=V` lines a SessionStart hook wrote for the session's commands.
fn exported(path: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn session(env: &Install, vars: &BTreeMap<String, String>, sid: &str) -> BTreeMap<String, String> {
    let cwd = env.project.display().to_string();
    let env_file = env.dir.path().join(format!("env-{sid}.sh"));
    let mut with_file = vars.clone();
    with_file.insert("CLAUDE_ENV_FILE".into(), env_file.display().to_string());
    hook(
        env,
        &with_file,
        json!({"session_id": sid, "hook_event_name": "SessionStart", "source": "startup", "cwd": cwd}),
    );
    hook(
        env,
        vars,
        json!({"session_id": sid, "hook_event_name": "UserPromptSubmit", "prompt": "go", "prompt_id": format!("{sid}-p"), "cwd": cwd}),
    );
    hook(env, vars, json!({"session_id": sid, "hook_event_name": "Stop", "prompt_id": format!("{sid}-p"), "cwd": cwd}));
    hook(env, vars, json!({"session_id": sid, "hook_event_name": "SessionEnd", "reason": "other", "cwd": cwd}));
    exported(&env_file)
}

#[test]
fn a_workflow_id_reaches_every_record_and_the_sessions_a_session_starts() {
    let env = Install::new("workflow-");
    let coordinator = BTreeMap::from([("AGENT_TELEMETRY_WORKFLOW_ID".to_string(), "release-42".to_string())]);
    let handed = session(&env, &coordinator, "wf-parent");
    assert_eq!(handed.get("AGENT_TELEMETRY_WORKFLOW_ID").map(String::as_str), Some("release-42"), "{handed:?}");
    assert!(handed.contains_key("TRACEPARENT") && handed.contains_key("AGENT_PARENT_SESSION"));
    // A child session started from the parent's Bash: the environment Claude Code gives it.
    session(&env, &handed, "wf-child");
    // A session of no workflow.
    session(&env, &BTreeMap::new(), "wf-none");

    for r in journal_records(&env.data) {
        let want = if r["session_id"] == "wf-none" { None } else { Some("release-42") };
        assert_eq!(r["session_context"]["workflow_id"].as_str(), want, "{r}");
    }
    relay_once(&env, &Dest::File, &[], Duration::from_secs(60));
    let (spans, logs) = read_otlp(&env.data, (0, 0));
    let runs: BTreeMap<&str, &relay::Span> = spans
        .iter()
        .filter(|s| s.name == "invoke_agent claude-code")
        .map(|s| (s.attr("gen_ai.conversation.id").unwrap(), s))
        .collect();
    assert_eq!(runs["wf-parent"].attr("agent_telemetry.workflow.id"), Some("release-42"));
    assert_eq!(runs["wf-child"].attr("agent_telemetry.workflow.id"), Some("release-42"));
    assert_eq!(runs["wf-none"].attr("agent_telemetry.workflow.id"), None);
    assert_eq!(runs["wf-child"].trace_id, runs["wf-parent"].trace_id, "the child joins the parent's trace");
    assert!(logs
        .iter()
        .filter(|l| l.attr("gen_ai.conversation.id") == Some("wf-child"))
        .all(|l| l.attr("agent_telemetry.workflow.id") == Some("release-42")));
}

#[test]
fn a_workflow_id_that_is_not_a_plain_id_is_recorded_but_never_handed_to_a_shell() {
    let env = Install::new("workflow-bad-");
    let evil = BTreeMap::from([(
        "AGENT_TELEMETRY_WORKFLOW_ID".to_string(),
        "x; touch /tmp/pwned-by-workflow $(id)".to_string(),
    )]);
    let handed = session(&env, &evil, "wf-evil");
    assert!(!handed.contains_key("AGENT_TELEMETRY_WORKFLOW_ID"), "{handed:?}");
    assert!(handed.contains_key("TRACEPARENT"), "the trace context is still handed on");
    let j = journal_records(&env.data);
    assert!(
        j.iter().all(|r| r["session_context"]["workflow_id"] == "x; touch /tmp/pwned-by-workflow $(id)"),
        "recorded as it came"
    );
}
