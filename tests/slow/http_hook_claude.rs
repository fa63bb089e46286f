//! `install --transport http` on the real Claude Code CLI (slow stage), as a new user: the same
//! session (a foreground subagent with a nested one, a background one) recorded once through
//! the command hook and once through http hooks records the same events; the http session's
//! trace and logs arrive at Jaeger and VictoriaLogs. Prints both sessions' wall time as Claude
//! saw it.
//!
//!     cargo test --test slow http_hook_claude:: -- --include-ignored --nocapture

use crate::harness::claude;
use crate::harness::stack;

use claude::{note, run_claude, ClaudeCli, Project, ScriptedModel};
use serde_json::Value;
use stack::{wait_for, Stack};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

fn ours(home: &Path, args: &[&str]) -> (i32, String) {
    let out = crate::harness::command(home, args).output().expect("run agent-telemetry");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn journal(home: &Path) -> Vec<Value> {
    crate::harness::journal_records(&home.join(".local/share/agent-telemetry"))
}

/// One session of the subagents scenario in a fresh project installed with `args`; its records
/// (hooks' only) and Claude's wall time.
fn session(cli: &ClaudeCli, model: &ScriptedModel, install: &[&str]) -> (Project, String, Vec<Value>, Duration) {
    let project = Project::new().git_init();
    std::fs::write(project.path().join("README.md"), "# demo\n").unwrap();
    let mut args = vec!["install", "--project", project.path().to_str().unwrap()];
    args.extend_from_slice(install);
    let (code, out) = ours(project.home(), &args);
    assert_eq!(code, 0, "install {install:?}: {out}");
    let t = Instant::now();
    let run = run_claude(cli, model, &project, "SUBAGENTS-SCENARIO: delegate some work", &[], &[]);
    let took = t.elapsed();
    assert!(run.status.success(), "claude failed: {}", run.stderr);
    let sid = run.session_id.clone().expect("session id");
    // The http hooks answered before Claude went on: their records are in the journal now.
    let records: Vec<Value> = journal(project.home())
        .into_iter()
        .filter(|r| r["session_id"] == sid.as_str() && r["hook_event"] != "ModelCall")
        .collect();
    (project, sid, records, took)
}

/// (hook event, tool) → how many, without the events whose number depends on timing (a
/// background agent's batch and display events).
fn shape(records: &[Value]) -> BTreeSet<(String, String)> {
    records
        .iter()
        .map(|r| {
            (r["hook_event"].as_str().unwrap_or("").to_string(), r["tool_name"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

#[test]
#[ignore = "slow stage: the collector, Jaeger, VictoriaLogs and the real Claude Code CLI (just test-slow)"]
fn http_hooks_on_the_real_cli_record_what_the_command_hook_does() {
    let _new_user = crate::harness::as_a_new_user();
    let cli = ClaudeCli::find_or_install()
        .unwrap_or_else(|why| panic!("the Claude Code CLI is needed (scripts/claude/install-cli.sh): {why}"));
    let stack = Stack::start();
    let model = ScriptedModel::start(claude::scenario_path("subagents"));
    let endpoint = stack.otlp_grpc_endpoint();
    let (pa, _, a, took_a) = session(&cli, &model, &["--endpoint", &endpoint]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let (pb, sid, b, took_b) =
        session(&cli, &model, &["--endpoint", &endpoint, "--transport", "http", "--listen", &listen]);

    // Every event but the two that stay commands came over http; none is missing.
    for r in &b {
        let via_http = r["metadata"]["transport"] == "http";
        let command_event = matches!(r["hook_event"].as_str(), Some("SessionStart" | "UserPromptSubmit"));
        assert_eq!(
            via_http, !command_event,
            "{} (seq {}): transport {:?}",
            r["hook_event"], r["seq"], r["metadata"]["transport"]
        );
    }
    assert_eq!(shape(&a), shape(&b), "the events (hook event, tool) of the same session: command hook vs http hooks");
    let count = |rs: &[Value], ev: &str| rs.iter().filter(|r| r["hook_event"] == ev).count();
    for ev in ["PreToolUse", "PostToolUse", "SubagentStart", "SubagentStop", "Stop", "SessionEnd"] {
        assert_eq!(count(&a, ev), count(&b, ev), "{ev}: command vs http");
    }
    let ids = |rs: &[Value]| -> BTreeSet<String> {
        rs.iter()
            .filter_map(|r| r["tool_context"]["tool_use_id"].as_str())
            .filter(|i| i.starts_with("toolu_sub"))
            .map(String::from)
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    assert!(ids(&b).contains("toolu_sub_bg"), "{:?}", ids(&b));

    // The http session at the backends: its trace whole (subagents under their Agent calls),
    // one log row per record.
    let rows = wait_for(Duration::from_secs(60), || {
        let rows = stack
            .victorialogs_query(&format!("gen_ai.conversation.id:\"{sid}\" agent_telemetry.hook_event:!ModelCall"));
        (rows.len() >= b.len()).then_some(rows)
    })
    .unwrap_or_else(|| panic!("VictoriaLogs never held the {} rows of {sid}", b.len()));
    let trace_id = rows[0]["trace_id"].as_str().unwrap().to_string();
    let trace = wait_for(Duration::from_secs(60), || {
        stack.jaeger_trace(&trace_id).filter(|t| {
            t["spans"].as_array().is_some_and(|s| s.iter().any(|s| s["operationName"] == "invoke_agent claude-code"))
        })
    })
    .unwrap_or_else(|| panic!("Jaeger never held the session span of {trace_id}"));
    let names: BTreeMap<String, usize> = trace["spans"].as_array().unwrap().iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s["operationName"].as_str().unwrap().to_string()).or_default() += 1;
        m
    });
    assert_eq!(names.get("invoke_agent general-purpose"), Some(&3), "{names:?}");
    assert!(names.get("execute_tool Agent").is_some_and(|n| *n >= 3), "{names:?}");
    let (_, st) = ours(pb.home(), &["status", "--project", pb.path().to_str().unwrap()]);
    assert!(st.contains(&format!("http hooks:  http://{listen}/agent-telemetry/hook")), "{st}");
    note(format!(
        "http_hook_claude: Claude Code {} — the same session took {:.2} s with the command hook ({} records), {:.2} s with http hooks ({} records)",
        cli.version(),
        took_a.as_secs_f64(),
        a.len(),
        took_b.as_secs_f64(),
        b.len()
    ));
    for p in [&pa, &pb] {
        let _ = ours(p.home(), &["relay", "--stop"]);
    }
}
