//! Runs the real Claude Code CLI offline against the scripted model (tests/scripted_model) for each
//! scenario in tests/scenarios, with a recording hook registered for every hook event Claude Code
//! has (tests/data/claude-code-events.txt, from the hooks reference), and checks which hook
//! events arrive.
//!
//! The scenario tests are the slow stage (`#[ignore]`d in the fast stage, run by `just
//! test-slow`); a missing CLI or python3 fails them with what to install. The fast tests here:
//! the scripted model's own protocol (python3), and that the event list is the reference's and
//! that the library and `install` cover every event in it.
//!
//!     cargo test --test slow claude_smoke:: -- --include-ignored --nocapture
//!
//! The assertions rely on facts that should hold for newer CLI versions too (event names, payload
//! fields the hooks reference documents); the exact set and order of extra events is not asserted.

use crate::harness::claude;

use std::collections::BTreeSet;

use claude::*;
use serde_json::Value;

/// Runs one prompt of a scenario in a fresh project with the recording hook.
struct SmokeScenario {
    name: &'static str,
    cli: ClaudeCli,
    model: ScriptedModel,
    project: Project,
    hooks: HookLog,
}

impl SmokeScenario {
    fn new(name: &'static str, cli: ClaudeCli) -> SmokeScenario {
        let model = ScriptedModel::start(scenario_path(name));
        let project = Project::new().git_init();
        let hooks = project.install_recording_hook();
        SmokeScenario { name, cli, model, project, hooks }
    }

    fn run(&self, prompt: &str, extra_args: &[&str]) -> ClaudeRun {
        let run = run_claude(&self.cli, &self.model, &self.project, prompt, extra_args, &[]);
        note(format!(
            "scenario {:<14} claude {} took {:>6.1} s (exit {}, {} hook calls so far, {} model requests)",
            self.name,
            self.cli.version(),
            run.duration.as_secs_f64(),
            run.status.code().unwrap_or(-1),
            self.hooks.records().len(),
            self.model.requests().len(),
        ));
        run.assert_success();
        run
    }

    fn records(&self) -> Vec<HookRecord> {
        self.hooks.records()
    }

    fn ctx(&self) -> String {
        format!("hook calls: {}", self.hooks.summary())
    }
}

fn tool_events<'a>(records: &'a [HookRecord], event: &str, tool: &str) -> Vec<&'a HookRecord> {
    records.iter().filter(|r| r.event() == event && r.tool_name() == Some(tool)).collect()
}

fn count(records: &[HookRecord], event: &str) -> usize {
    records.iter().filter(|r| r.event() == event).count()
}

/// Checks the session basics every scenario shares.
fn assert_session_shape(s: &SmokeScenario, records: &[HookRecord]) {
    let ctx = s.ctx();
    assert!(count(records, "SessionStart") >= 1, "no SessionStart; {ctx}");
    assert!(count(records, "UserPromptSubmit") >= 1, "no UserPromptSubmit; {ctx}");
    assert!(count(records, "Stop") >= 1, "no Stop; {ctx}");
    assert!(count(records, "SessionEnd") >= 1, "no SessionEnd; {ctx}");
    for r in records {
        assert!(!r.session_id().is_empty(), "hook payload without session_id: {}", r.payload);
        assert!(r.payload["transcript_path"].is_string(), "no transcript_path: {}", r.payload);
        assert_eq!(
            r.env_var("CLAUDE_PROJECT_DIR").map(std::path::Path::new),
            Some(s.project.path()),
            "CLAUDE_PROJECT_DIR of {}",
            r.event()
        );
    }
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_tools() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("tools", cli);
    let run = s.run("TOOLS-SCENARIO: look at the project and make notes", &[]);
    assert_eq!(run.result(), "All done: notes.txt says hello world.");
    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();

    let pre_tools: BTreeSet<&str> =
        records.iter().filter(|r| r.event() == "PreToolUse").filter_map(|r| r.tool_name()).collect();
    for tool in ["Read", "Bash", "Write", "Edit"] {
        assert!(pre_tools.contains(tool), "no PreToolUse for {tool}; {ctx}");
    }
    let secret = tool_events(&records, "PreToolUse", "Bash")
        .into_iter()
        .find(|r| r.command().is_some_and(|c| c.contains("AWS_SECRET_ACCESS_KEY")))
        .unwrap_or_else(|| panic!("no Bash call with the fake AWS secret; {ctx}"));
    assert!(secret.command().unwrap().contains("AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(secret.tool_use_id(), Some("toolu_tools_bash_secret"));

    let failures = tool_events(&records, "PostToolUseFailure", "Bash");
    assert_eq!(failures.len(), 1, "{ctx}");
    assert_eq!(failures[0].tool_use_id(), Some("toolu_tools_bash_fail"));
    assert!(failures[0].payload["error"].as_str().unwrap_or("").contains("Exit code 3"), "{}", failures[0].payload);
    assert!(
        !records.iter().any(|r| r.event() == "PostToolUse" && r.tool_use_id() == Some("toolu_tools_bash_fail")),
        "the failing call also got a PostToolUse"
    );
    assert!(
        tool_events(&records, "PostToolUse", "Read")
            .iter()
            .any(|r| r.payload["tool_input"]["file_path"] == "/etc/hostname"),
        "no Read of /etc/hostname; {ctx}"
    );
    assert_eq!(std::fs::read_to_string(s.project.path().join("notes.txt")).unwrap(), "hello world\n");

    // The transcript carries the CLI version and each assistant message's model and usage.
    let transcript = records[0].payload["transcript_path"].as_str().unwrap().to_string();
    let lines = read_transcript(std::path::Path::new(&transcript));
    let assistant: Vec<&Value> = lines.iter().filter(|l| l["type"] == "assistant").collect();
    assert!(!assistant.is_empty(), "no assistant lines in {transcript}");
    assert!(assistant.iter().all(|l| l["version"].is_string()), "assistant line without version");
    let first = assistant[0];
    assert_eq!(first["message"]["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(first["message"]["usage"]["input_tokens"], 2100);
    assert_eq!(first["message"]["usage"]["cache_creation_input_tokens"], 1800);
    assert_eq!(first["message"]["usage"]["output_tokens"], 45);
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_parallel() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("parallel", cli);
    let run = s.run("PARALLEL-SCENARIO: inspect the project in parallel", &[]);
    assert_eq!(run.result(), "Parallel work done.");
    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();
    let ids = [
        "toolu_par_read",
        "toolu_par_bash_a",
        "toolu_par_bash_b",
        "toolu_par_bash_c",
        "toolu_par_write_1",
        "toolu_par_write_2",
    ];
    for event in ["PreToolUse", "PostToolUse"] {
        for id in ids {
            assert_eq!(
                records.iter().filter(|r| r.event() == event && r.tool_use_id() == Some(id)).count(),
                1,
                "{event} {id}; {ctx}"
            );
        }
    }
    // The first batch (one assistant message, four calls) starts before the second one.
    let pos = |id: &str| records.iter().position(|r| r.event() == "PreToolUse" && r.tool_use_id() == Some(id));
    let first_write = pos("toolu_par_write_1").unwrap();
    for id in &ids[..4] {
        assert!(pos(id).unwrap() < first_write, "{id} started after the second batch");
    }
    for name in ["one.txt", "two.txt"] {
        assert!(s.project.path().join(name).is_file(), "{name} not written");
    }
    // Each batch of parallel calls is reported once, with its calls (PostToolBatch, 2.1.x).
    let batches: Vec<Vec<String>> = records
        .iter()
        .filter(|r| r.event() == "PostToolBatch")
        .map(|r| {
            r.payload["tool_calls"]
                .as_array()
                .unwrap_or_else(|| panic!("PostToolBatch without tool_calls: {}", r.payload))
                .iter()
                .map(|c| c["tool_use_id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    assert_eq!(batches.len(), 2, "two PostToolBatch calls; {ctx}");
    assert_eq!(
        batches[0].iter().map(String::as_str).collect::<BTreeSet<_>>(),
        ids[..4].iter().copied().collect(),
        "first batch"
    );
    assert_eq!(
        batches[1].iter().map(String::as_str).collect::<BTreeSet<_>>(),
        ids[4..].iter().copied().collect(),
        "second batch"
    );
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_subagents() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("subagents", cli);
    let run = s.run("SUBAGENTS-SCENARIO: delegate some work", &[]);
    // The background agent's completion notice arrives as another prompt; when it comes after the
    // main turn's Stop it gets its own turn, whose answer ("Done.") is then the run's result.
    assert!(matches!(run.result(), "Main agent done." | "Done."), "unexpected result {:?}", run.result());
    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();

    let started: BTreeSet<&str> =
        records.iter().filter(|r| r.event() == "SubagentStart").filter_map(|r| r.agent_id()).collect();
    assert_eq!(started.len(), 3, "three subagents (foreground, nested, background); {ctx}");
    let stopped: BTreeSet<&str> =
        records.iter().filter(|r| r.event() == "SubagentStop").filter_map(|r| r.agent_id()).collect();
    assert_eq!(stopped, started, "every subagent stops; {ctx}");
    let main_session = records[0].session_id();
    assert!(records.iter().all(|r| r.session_id() == main_session), "subagents carry the parent session id");

    let agent_of = |command: &str| {
        tool_events(&records, "PreToolUse", "Bash")
            .into_iter()
            .find(|r| r.command().is_some_and(|c| c.contains(command)))
            .and_then(|r| r.agent_id().map(String::from))
            .unwrap_or_else(|| panic!("no Bash {command:?} inside a subagent; {ctx}"))
    };
    let nested = agent_of("echo nested");
    let background = agent_of("echo background");
    let foreground = tool_events(&records, "PreToolUse", "Read")
        .first()
        .and_then(|r| r.agent_id().map(String::from))
        .unwrap_or_else(|| panic!("no Read inside the foreground subagent; {ctx}"));
    let distinct: BTreeSet<&str> = [nested.as_str(), background.as_str(), foreground.as_str()].into();
    assert_eq!(distinct.len(), 3, "nested, background and foreground agents differ");
    assert!(started.contains(nested.as_str()) && started.contains(background.as_str()));

    // The nested Agent call is made inside the foreground subagent.
    let nested_call = tool_events(&records, "PreToolUse", "Agent")
        .into_iter()
        .find(|r| r.payload["tool_input"]["prompt"].as_str().unwrap_or("").contains("SUBAGENT-NESTED"))
        .unwrap_or_else(|| panic!("no nested Agent call; {ctx}"));
    assert_eq!(nested_call.agent_id(), Some(foreground.as_str()));

    // PostToolUse of each Agent call names the subagent it ran (tool_response.agentId).
    let joined: BTreeSet<String> = tool_events(&records, "PostToolUse", "Agent")
        .iter()
        .filter_map(|r| r.payload["tool_response"]["agentId"].as_str().map(String::from))
        .collect();
    for id in [&nested, &background, &foreground] {
        assert!(joined.contains(id), "no Agent PostToolUse with agentId {id}; {ctx}");
    }
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_child_process() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("child-process", cli);
    let run = s.run("CHILD-PROCESS-SCENARIO: ask another agent", &[]);
    assert_eq!(run.result(), "Parent done.");
    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();
    let parent = run.session_id.clone().expect("parent session id");
    let sessions = s.hooks.session_ids();
    assert_eq!(sessions.len(), 2, "parent and child sessions; {ctx}");
    assert_eq!(sessions[0], parent);
    let child = &sessions[1];
    assert_ne!(child, &parent);

    let starts: Vec<&str> = records.iter().filter(|r| r.event() == "SessionStart").map(|r| r.session_id()).collect();
    assert_eq!(starts, [parent.as_str(), child.as_str()], "{ctx}");
    let child_echo = tool_events(&records, "PostToolUse", "Bash")
        .into_iter()
        .find(|r| r.command() == Some("echo hello from the child"))
        .unwrap_or_else(|| panic!("no Bash call in the child session; {ctx}"));
    assert_eq!(child_echo.session_id(), child);
    let spawn = tool_events(&records, "PostToolUse", "Bash")
        .into_iter()
        .find(|r| r.tool_use_id() == Some("toolu_child_spawn"))
        .unwrap_or_else(|| panic!("no PostToolUse for the spawning Bash call; {ctx}"));
    assert_eq!(spawn.session_id(), parent);
    assert!(spawn.payload["tool_response"]["stdout"].as_str().unwrap_or("").contains("child-ok"));
    // The child session runs inside the parent's Bash call.
    let at = |f: &dyn Fn(&HookRecord) -> bool| records.iter().position(f).unwrap();
    let child_start = at(&|r| r.event() == "SessionStart" && r.session_id() == child);
    let child_end = at(&|r| r.event() == "SessionEnd" && r.session_id() == child);
    let spawn_pre = at(&|r| r.event() == "PreToolUse" && r.tool_use_id() == Some("toolu_child_spawn"));
    let spawn_post = at(&|r| r.event() == "PostToolUse" && r.tool_use_id() == Some("toolu_child_spawn"));
    assert!(spawn_pre < child_start && child_end < spawn_post, "{ctx}");
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_multi_turn() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("multi-turn", cli);
    let first = s.run("MULTI-TURN-SCENARIO: first question", &[]);
    assert_eq!(first.result(), "First answer.");
    let session = first.session_id.clone().expect("session id");
    let second = s.run("and now the second question", &["--resume", &session]);
    assert_eq!(second.result(), "Second answer.");
    assert_eq!(second.session_id.as_deref(), Some(session.as_str()), "--resume keeps the session id");

    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();
    assert!(records.iter().all(|r| r.session_id() == session), "one session id; {ctx}");
    let sources: Vec<&str> = records
        .iter()
        .filter(|r| r.event() == "SessionStart")
        .map(|r| r.payload["source"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(sources, ["startup", "resume"], "{ctx}");
    assert_eq!(count(&records, "SessionEnd"), 2, "{ctx}");
    let prompts: Vec<&HookRecord> = records.iter().filter(|r| r.event() == "UserPromptSubmit").collect();
    assert_eq!(prompts.len(), 2, "{ctx}");
    assert_eq!(prompts[1].payload["prompt"], "and now the second question");
    let prompt_ids: BTreeSet<&str> = prompts
        .iter()
        .map(|r| {
            r.payload["prompt_id"]
                .as_str()
                .unwrap_or_else(|| panic!("UserPromptSubmit without prompt_id: {}", r.payload))
        })
        .collect();
    assert_eq!(prompt_ids.len(), 2, "a new prompt_id per prompt");
    assert_eq!(tool_events(&records, "PostToolUse", "Read").len(), 1, "{ctx}");
    assert!(tool_events(&records, "PostToolUse", "Bash").iter().any(|r| r.command() == Some("echo second")), "{ctx}");
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_long() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("long", cli);
    let run = s.run("LONG-SCENARIO: run many small commands", &[]);
    assert_eq!(run.result(), "216 commands later: done.");
    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();
    let post = tool_events(&records, "PostToolUse", "Bash");
    assert!(post.len() >= 200, "{} PostToolUse; {ctx}", post.len());
    assert_eq!(post.len(), 216, "{ctx}");
    assert_eq!(tool_events(&records, "PreToolUse", "Bash").len(), 216, "{ctx}");
    let ids: BTreeSet<&str> = post.iter().filter_map(|r| r.tool_use_id()).collect();
    assert_eq!(ids.len(), 216, "distinct tool_use ids");
    assert!(ids.contains("toolu_long_36_f"));
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_secrets() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("secrets", cli);
    let run = s.run("SECRETS-SCENARIO: set up deployment credentials", &[]);
    assert_eq!(run.result(), "Credentials are in place.");
    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();
    let bash = tool_events(&records, "PreToolUse", "Bash");
    let command = bash.iter().filter_map(|r| r.command()).collect::<Vec<_>>().join("\n");
    for needle in ["ghp_1234567890", "eyJhbGciOiJIUzI1NiIs", "admin:hunter2-Secret@"] {
        assert!(command.contains(needle), "Bash commands lack {needle}; {ctx}");
    }
    let writes = tool_events(&records, "PreToolUse", "Write");
    assert_eq!(writes.len(), 2, "{ctx}");
    assert!(writes[0].payload["tool_input"]["content"]
        .as_str()
        .unwrap_or("")
        .contains("-----BEGIN RSA PRIVATE KEY-----"));
    let cat = tool_events(&records, "PostToolUse", "Bash")
        .into_iter()
        .find(|r| r.tool_use_id() == Some("toolu_secrets_cat"))
        .unwrap_or_else(|| panic!("no cat .env; {ctx}"));
    assert!(cat.payload["tool_response"].to_string().contains("xoxb-123456789012"), "secret in tool output");
    assert!(s.project.path().join("deploy/id_rsa").is_file());
}

#[test]
#[ignore = "slow stage: the real Claude Code CLI (scripts/claude/install-cli.sh) and python3"]
fn scenario_unknown_tool() {
    let cli = ClaudeCli::require();
    let s = SmokeScenario::new("unknown-tool", cli);
    let run = s.run("UNKNOWN-TOOL-SCENARIO: try odd tools", &[]);
    assert_eq!(run.result(), "Odd tools done.");
    let records = s.records();
    assert_session_shape(&s, &records);
    let ctx = s.ctx();
    // A Read of a missing file is a failed tool call ...
    let failed = tool_events(&records, "PostToolUseFailure", "Read");
    assert!(
        failed.iter().any(|r| r.tool_use_id() == Some("toolu_unknown_missing")),
        "missing-file Read is a PostToolUseFailure; {ctx}"
    );
    // ... and the session goes on after every odd call.
    assert!(
        tool_events(&records, "PostToolUse", "Bash").iter().any(|r| r.command() == Some("echo still-here")),
        "{ctx}"
    );
    // Observed in 2.1.328: unknown tools, MCP tools without a server and invalid inputs are
    // refused before any Pre/PostToolUse hook; they show up only in PostToolBatch.tool_calls.
    let unknown_hooks =
        records.iter().filter(|r| matches!(r.tool_name(), Some("NoSuchTool" | "mcp__ghost__lookup"))).count();
    let in_batches = records
        .iter()
        .filter(|r| r.event() == "PostToolBatch")
        .flat_map(|r| r.payload["tool_calls"].as_array().cloned().unwrap_or_default())
        .filter(|c| matches!(c["tool_name"].as_str(), Some("NoSuchTool" | "mcp__ghost__lookup")))
        .count();
    note(format!(
        "scenario unknown-tool: {unknown_hooks} Pre/Post hook calls and {in_batches} PostToolBatch entries for unknown tools"
    ));
    assert_eq!(unknown_hooks, 0, "unknown tools got Pre/Post hooks (new CLI behaviour?); {ctx}");
    assert_eq!(in_batches, 2, "NoSuchTool and mcp__ghost__lookup in PostToolBatch.tool_calls; {ctx}");
}
