//! End to end: the real Claude Code CLI (offline, against the scripted model) with our hook
//! installed by `agent-telemetry install`, the relay the hook autostarts, the real OpenTelemetry
//! Collector, Jaeger and VictoriaLogs. The assertions read what arrived at the backends (Jaeger's
//! trace JSON, VictoriaLogs' rows), and the journal and data dir where a user would look.
//!
//!     cargo test --test slow e2e_claude:: -- --include-ignored --nocapture --test-threads=1
//!
//! Slow stage: every test is `#[ignore]`d in the fast stage and run by `just test-slow`; a
//! missing prerequisite (the CLI, python3, the stack) fails the test with what to install. The
//! project is set up as the README says (`agent-telemetry install --project P --endpoint …` under
//! a temporary HOME, nothing else set). One stack serves every test of this binary; scenarios run one at a time (tests/harness/e2e.rs). The Claude Code version and each
//! scenario's timings are printed. AGENT_TELEMETRY_E2E_DUMP=DIR keeps the backends' answers;
//! AGENT_TELEMETRY_KEEP_TMP=1 keeps the projects and data dirs; AGENT_TELEMETRY_CLAUDE_BIN or
//! CLAUDE_CODE_VERSION picks another CLI.
//!
//! Every scenario checks, besides its own points (`Scenario::collect`):
//! - Jaeger holds exactly the spans the journal implies (runs + turns + tool calls + subagents),
//!   no span id twice, no dangling parent, only session runs as roots, service.name=claude-code
//!   and gen_ai.conversation.id on each;
//! - each PostToolUse / PostToolUseFailure of the journal has exactly one `execute_tool {tool}`
//!   span (gen_ai.tool.name, gen_ai.tool.call.id) under the turn of its prompt.id, or under its
//!   subagent's span; error status exactly for PostToolUseFailure;
//! - VictoriaLogs holds one row per journal record, each with the trace id and a span id of the
//!   trace; `agent-telemetry verify` passes on the data dir;
//! - the trace and the session span are the ones named in the TRACEPARENT the hook handed to the
//!   session (CLAUDE_ENV_FILE), and the counts are taken after a sentinel session arrived.

use crate::harness::claude;
use crate::harness::e2e;

use claude::note;
use e2e::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// The run's final answer. With a background subagent, Claude Code may hand the model the task's
/// completion notification as one more prompt after the main answer; the scripted model answers
/// that with "Done.", which `claude -p` then reports as its result (observed with 2.1.328).
fn assert_result(run: &claude::ClaudeRun, main_answer: &str) {
    let got = run.result();
    assert!(
        got == main_answer || got == "Done.",
        "result {got:?}, want {main_answer:?} (or \"Done.\" after a notification)"
    );
}

fn rows_flag(rows: &[&Value], field: &str) -> BTreeSet<String> {
    rows.iter().map(|r| row_field(r, field).unwrap_or_else(|| "<absent>".into())).collect()
}

/// Plain tools: Read, Bash with AWS keys, Write, Edit, a failing Bash, a Read of /etc/hostname.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_tools() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "tools", "tools");
    let run = s.run("TOOLS-SCENARIO: look at the project and make notes", &[]);
    assert_eq!(run.result(), "All done: notes.txt says hello world.");
    let sid = run.session_id.clone().expect("session id");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    assert_eq!(t.runs().len(), 1, "{}", t.summary());
    assert_eq!(t.turns().len(), 1, "{}", t.summary());
    assert_eq!(t.tools().len(), 6, "{}", t.summary());

    // The failing Bash: error status with Claude's error text.
    let fail = t.one_tool("toolu_tools_bash_fail");
    assert!(fail.is_error());
    assert!(fail.tag("otel.status_description").unwrap_or_default().contains("Exit code 3"), "{:?}", fail.tags);
    let fail_rows = rows_of_call(&c.rows, "toolu_tools_bash_fail");
    assert_eq!(fail_rows.len(), 2, "PreToolUse + PostToolUseFailure rows: {fail_rows:?}");
    assert!(rows_flag(&fail_rows, "agent_telemetry.tool.success").contains("false"), "{fail_rows:?}");

    // The outside-project read: flagged on its span and its log rows; the README read is not.
    let host = t.one_tool("toolu_tools_read_hostname");
    assert_eq!(host.tag("agent_telemetry.outside_project_scope").as_deref(), Some("true"), "{:?}", host.tags);
    assert_eq!(host.tag("agent_telemetry.file_path").as_deref(), Some("/etc/hostname"));
    assert!(
        host.tag("agent_telemetry.security.rules").unwrap_or_default().contains("outside_project"),
        "{:?}",
        host.tags
    );
    let host_rows = rows_of_call(&c.rows, "toolu_tools_read_hostname");
    assert_eq!(host_rows.len(), 2, "PreToolUse + PostToolUse rows");
    assert_eq!(rows_flag(&host_rows, "agent_telemetry.outside_project_scope"), BTreeSet::from(["true".to_string()]));
    assert!(
        host_rows.iter().all(|r| row_field(r, "severity_text").as_deref() != Some("INFO")),
        "outside reads are not INFO: {host_rows:?}"
    );
    let readme = t.one_tool("toolu_tools_read_readme");
    assert_eq!(readme.tag("agent_telemetry.outside_project_scope"), None);
    let readme_rows = rows_of_call(&c.rows, "toolu_tools_read_readme");
    assert_eq!(rows_flag(&readme_rows, "agent_telemetry.outside_project_scope"), BTreeSet::from(["false".to_string()]));

    // The AWS keys in the command: redacted everywhere, counted on span and log rows.
    let bash = t.one_tool("toolu_tools_bash_secret");
    assert!(bash.tag("agent_telemetry.command").unwrap_or_default().contains("[REDACTED:"), "{:?}", bash.tags);
    assert!(
        bash.tag("agent_telemetry.redactions").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) >= 2,
        "{:?}",
        bash.tags
    );
    let bash_rows = rows_of_call(&c.rows, "toolu_tools_bash_secret");
    assert_eq!(bash_rows.len(), 2, "PreToolUse + PostToolUse rows of the secret Bash");
    assert!(bash_rows.iter().all(|r| row_field(r, "agent_telemetry.redactions").is_some()), "{bash_rows:?}");
    s.assert_secrets_nowhere(&c, &["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]);
    s.report(&format!("({} spans, {} log rows)", t.spans.len(), c.rows.len()));
}

/// Parallel tool calls: two assistant messages with 4 and 2 calls.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_parallel() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "parallel", "parallel");
    let run = s.run("PARALLEL-SCENARIO: inspect the project in parallel", &[]);
    assert_eq!(run.result(), "Parallel work done.");
    let sid = run.session_id.clone().expect("session id");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    let first = ["toolu_par_read", "toolu_par_bash_a", "toolu_par_bash_b", "toolu_par_bash_c"];
    let second = ["toolu_par_write_1", "toolu_par_write_2"];
    let spans: Vec<&Span> = first.iter().chain(&second).map(|id| t.one_tool(id)).collect();
    let parents: BTreeSet<Option<&str>> = spans.iter().map(|s| s.parent.as_deref()).collect();
    assert_eq!(parents.len(), 1, "parallel calls are siblings: {parents:?}");
    assert_eq!(t.parent_of(spans[0]).map(|p| p.name.as_str()), Some("turn"));
    assert!(spans.iter().all(|s| !s.is_error()));
    // The second batch starts after every call of the first ended.
    let first_end = spans[..4].iter().map(|s| s.start_us + s.duration_us).max().unwrap();
    let second_start = spans[4..].iter().map(|s| s.start_us).min().unwrap();
    assert!(first_end <= second_start, "batch 1 ends at {first_end} us, batch 2 starts at {second_start} us");
    let overlap = spans[..4].iter().map(|s| s.start_us).max().unwrap()
        < spans[..4].iter().map(|s| s.start_us + s.duration_us).min().unwrap();
    // PostToolBatch log rows sit on the turn span.
    let batches: Vec<&Value> = c
        .rows
        .iter()
        .filter(|r| row_field(r, "agent_telemetry.hook_event").as_deref() == Some("PostToolBatch"))
        .collect();
    assert_eq!(batches.len(), 2, "one PostToolBatch row per batch of parallel calls");
    for b in &batches {
        assert_eq!(row_field(b, "span_id"), spans[0].parent.clone(), "PostToolBatch row's span");
    }
    s.report(&format!(
        "({} spans, first batch overlapping in time: {overlap}, {} PostToolBatch rows)",
        t.spans.len(),
        batches.len()
    ));
}

/// Foreground (with a nested one inside) and background subagents, launched in one message.
/// Also compares what Claude Code handed the hooks (a recording hook beside ours) with the journal.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_subagents() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "subagents", "subagents");
    let hooks = s.add_recording_hook();
    let run = s.run("SUBAGENTS-SCENARIO: delegate some work", &[]);
    assert_result(&run, "Main agent done.");
    let sid = run.session_id.clone().expect("session id");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    let agents = assert_subagents_under_agent_spans(t, &c.journal);
    assert_eq!(agents.len(), 3, "foreground, nested, background: {}", t.summary());
    let spawners = agent_spawners(&c.journal);
    let agent_of = |call: &str| {
        spawners
            .iter()
            .find(|(_, v)| v.as_str() == call)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| panic!("no subagent of {call}"))
    };
    let fg = agent_of("toolu_sub_fg");
    let bg = agent_of("toolu_sub_bg");
    let nested = spawners.keys().find(|k| **k != fg && **k != bg).cloned().expect("nested agent");

    // The main agent's two Agent calls are under the turn; the nested Agent call is inside the
    // foreground subagent, so the nested subagent is two levels down.
    for call in ["toolu_sub_fg", "toolu_sub_bg"] {
        let span = t.one_tool(call);
        assert_eq!(t.parent_of(span).map(|p| p.name.as_str()), Some("turn"), "{call}");
    }
    let nested_call = t.one_tool(&spawners[&nested]);
    assert_eq!(
        nested_call.parent.as_deref(),
        Some(agents[&fg].id.as_str()),
        "the nested Agent call is inside the foreground subagent"
    );
    let bg_call = t.one_tool("toolu_sub_bg");
    assert_eq!(bg_call.tag("agent_telemetry.subagent.background").as_deref(), Some("true"), "{:?}", bg_call.tags);
    assert_ne!(t.one_tool("toolu_sub_fg").tag("agent_telemetry.subagent.background").as_deref(), Some("true"));

    // Tool calls inside each subagent are under that subagent (checked for all in collect); name them.
    let under = |agent: &str| -> Vec<String> {
        t.tools()
            .into_iter()
            .filter(|s| s.parent.as_deref() == Some(agents[agent].id.as_str()))
            .map(|s| s.name.clone())
            .collect()
    };
    assert!(under(&fg).contains(&"execute_tool Read".to_string()), "{:?}", under(&fg));
    assert!(under(&fg).contains(&"execute_tool Agent".to_string()), "{:?}", under(&fg));
    assert_eq!(under(&nested), ["execute_tool Bash"]);
    assert_eq!(under(&bg), ["execute_tool Bash"]);

    // SubagentStart / SubagentStop log rows carry their subagent's span id.
    for (a, span) in &agents {
        let rows: Vec<&Value> = c
            .rows
            .iter()
            .filter(|r| {
                matches!(row_field(r, "agent_telemetry.hook_event").as_deref(), Some("SubagentStart" | "SubagentStop"))
                    && row_field(r, "gen_ai.agent.id").as_deref() == Some(a.as_str())
            })
            .collect();
        assert_eq!(rows.len(), 2, "SubagentStart + SubagentStop rows of {a}");
        assert!(rows.iter().all(|r| row_field(r, "span_id").as_deref() == Some(span.id.as_str())), "{rows:?}");
    }
    // What Claude Code sent (a recording hook beside ours) is all in the journal: every event,
    // known or not, and every field (newer CLIs add both).
    let events = assert_payloads_kept(&hooks.records(), &c.journal);
    s.report(&format!("({} spans: fg {fg}, nested {nested}, bg {bg}; hook calls {events})", t.spans.len()));
}

/// A second agent started from the session's Bash (`claude -p` in a Bash command) joins the
/// parent's trace through TRACEPARENT, which our SessionStart hook wrote to CLAUDE_ENV_FILE.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_child_process() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "child-process", "child-process");
    let run = s.run("CHILD-PROCESS-SCENARIO: ask another agent", &[]);
    assert_eq!(run.result(), "Parent done.");
    let parent = run.session_id.clone().expect("session id");
    let journal = s.journal();
    let sessions: Vec<String> = journal
        .iter()
        .map(|r| r.session().to_string())
        .filter(|x| !x.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(sessions.len(), 2, "parent and child sessions: {}", events_summary(&journal));
    let child = sessions.iter().find(|x| **x != parent).cloned().expect("child session");
    let c = s.collect(&parent, &[&parent, &child]);
    let t = &c.trace;
    let runs_of = |sid: &str| -> Vec<&Span> {
        t.runs().into_iter().filter(|r| r.tag("gen_ai.conversation.id").as_deref() == Some(sid)).collect()
    };
    let (p_runs, c_runs) = (runs_of(&parent), runs_of(&child));
    assert_eq!((p_runs.len(), c_runs.len()), (1, 1), "{}", t.summary());
    assert_eq!(p_runs[0].parent, None, "the parent session is the root");
    assert_eq!(
        c_runs[0].parent.as_deref(),
        Some(p_runs[0].id.as_str()),
        "the child session's span is under the parent's session span"
    );
    assert_eq!(
        c_runs[0].tag("agent_telemetry.parent_session").as_deref(),
        Some(parent.as_str()),
        "{:?}",
        c_runs[0].tags
    );
    assert_eq!(c_runs[0].process_tags.get("agent.role").and_then(|v| v.as_str()), Some("delegate"));
    // The child ran inside the parent's Bash call (5 ms slack for clock rounding).
    let spawn = t.one_tool("toolu_child_spawn");
    let child_end = c_runs[0].start_us + c_runs[0].duration_us;
    assert!(
        spawn.start_us <= c_runs[0].start_us + 5_000 && child_end <= spawn.start_us + spawn.duration_us + 5_000,
        "child run not within the Bash call"
    );
    // The child's own tool call, under the child's turn, in the parent's trace.
    let echo = t
        .tools()
        .into_iter()
        .find(|x| x.tag("agent_telemetry.command").as_deref() == Some("echo hello from the child"))
        .expect("child's Bash span");
    assert_eq!(echo.tag("gen_ai.conversation.id").as_deref(), Some(child.as_str()));
    assert_eq!(t.parent_of(t.parent_of(echo).unwrap()).map(|r| r.id.as_str()), Some(c_runs[0].id.as_str()));
    // The child's span is the one named in the TRACEPARENT the child's own SessionStart handed on,
    // in the parent's trace (the one the parent handed to its Bash commands).
    let (child_trace, child_span) = s.handed(&child);
    assert_eq!(child_trace, c.trace_id, "the child's TRACEPARENT is in the parent's trace");
    assert_eq!(c_runs[0].id, child_span, "the child's session span is the one its TRACEPARENT names");
    // Nothing of the child went to a trace of its own: every trace Jaeger has with the child's
    // conversation id is the parent's (counted after the sentinel, so nothing is still coming).
    let found = s
        .stack
        .jaeger_find_traces("claude-code", &[("gen_ai.conversation.id", &child)])
        .unwrap_or_else(|e| panic!("Jaeger search: {e}"));
    let ids: BTreeSet<String> = found.iter().map(|t| t["traceID"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(ids, BTreeSet::from([c.trace_id.clone()]), "traces holding the child's spans");
    let child_rows =
        c.rows.iter().filter(|r| row_field(r, "gen_ai.conversation.id").as_deref() == Some(child.as_str())).count();
    assert!(child_rows > 0);
    s.report(&format!("({} spans, {child_rows} of {} log rows from the child)", t.spans.len(), c.rows.len()));
}

/// One session, two runs (`--resume`): two session-run spans, two turns, tools in each.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_multi_turn() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "multi-turn", "multi-turn");
    let first = s.run("MULTI-TURN-SCENARIO: first question", &[]);
    assert_eq!(first.result(), "First answer.");
    let sid = first.session_id.clone().expect("session id");
    let second = s.run("and now the second question", &["--resume", &sid]);
    assert_eq!(second.result(), "Second answer.");
    assert_eq!(second.session_id.as_deref(), Some(sid.as_str()));
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    let mut runs = t.runs();
    runs.sort_by_key(|r| r.start_us);
    assert_eq!(runs.len(), 2, "{}", t.summary());
    let tag = |r: &Span, k: &str| r.tag(k).unwrap_or_default();
    assert_eq!(
        [tag(runs[0], "agent_telemetry.session.source"), tag(runs[1], "agent_telemetry.session.source")],
        ["startup", "resume"]
    );
    assert_eq!([tag(runs[0], "agent_telemetry.session.run"), tag(runs[1], "agent_telemetry.session.run")], ["1", "2"]);
    assert!(runs[0].start_us + runs[0].duration_us <= runs[1].start_us, "run 1 ends before run 2 starts");
    let turns = t.turns();
    assert_eq!(turns.len(), 2, "{}", t.summary());
    let run_of = |call: &str| t.parent_of(t.parent_of(t.one_tool(call)).expect("turn")).expect("run").id.clone();
    assert_eq!(run_of("toolu_multi_read"), runs[0].id, "the first turn's Read is in run 1");
    assert_eq!(run_of("toolu_multi_bash"), runs[1].id, "the second turn's Bash is in run 2");
    let prompts: Vec<&Value> = c.journal.iter().filter(|r| r.event() == "UserPromptSubmit").collect();
    assert_eq!(prompts.len(), 2);
    for p in prompts {
        assert!(t.turn(p.prompt().expect("prompt_id")).is_some(), "no turn span for prompt {:?}", p.prompt());
    }
    s.report(&format!("({} spans, {} log rows)", t.spans.len(), c.rows.len()));
}

/// A long session: 36 messages of 6 parallel Bash calls = 216 tool calls in one turn.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_long_session() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "long", "long");
    let run = s.run("LONG-SCENARIO: run many small commands", &[]);
    assert_eq!(run.result(), "216 commands later: done.");
    let sid = run.session_id.clone().expect("session id");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    let tools = t.tools();
    assert!(tools.len() >= 200, "{} execute_tool spans", tools.len());
    assert_eq!(tools.len(), 216, "every tool call came back from Jaeger: {}", t.summary());
    let parents: BTreeSet<Option<&str>> = tools.iter().map(|s| s.parent.as_deref()).collect();
    assert_eq!(parents.len(), 1, "all under the one turn");
    for i in [1, 18, 36] {
        for x in ["a", "f"] {
            t.one_tool(&format!("toolu_long_{i}_{x}"));
        }
    }
    let warnings = t.raw["warnings"].clone();
    assert!(
        warnings.is_null() || warnings.as_array().is_some_and(|w| w.is_empty()),
        "Jaeger's warnings on the trace: {warnings}"
    );
    s.report(&format!(
        "({} spans, {} KiB of trace JSON from Jaeger, warnings {warnings}; {} log rows, {} journal records)",
        t.spans.len(),
        t.json_len() / 1024,
        c.rows.len(),
        c.journal.len()
    ));
}

/// Secrets the model put into commands and files: a GitHub token, a JWT, a password in a URL, a
/// private key, a Slack token (also in a tool's output). None may reach a backend or the disk.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_secrets() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "secrets", "secrets");
    let run = s.run("SECRETS-SCENARIO: set up deployment credentials", &[]);
    assert_eq!(run.result(), "Credentials are in place.");
    let sid = run.session_id.clone().expect("session id");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    let bash = t.one_tool("toolu_secrets_bash");
    let cmd = bash.tag("agent_telemetry.command").unwrap_or_default();
    assert!(cmd.contains("[REDACTED:"), "{cmd}");
    assert!(cmd.contains("export GITHUB_TOKEN="), "the command is kept, less its secrets: {cmd}");
    let n: u64 = bash.tag("agent_telemetry.redactions").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(n >= 3, "redactions on the Bash span: {n}");
    let rows = rows_of_call(&c.rows, "toolu_secrets_bash");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| row_field(r, "agent_telemetry.redactions").is_some()), "{rows:?}");
    for call in ["toolu_secrets_bash", "toolu_secrets_write", "toolu_secrets_env", "toolu_secrets_cat"] {
        assert!(!t.one_tool(call).is_error(), "{call}");
    }
    s.assert_secrets_nowhere(
        &c,
        &[
            "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "hunter2",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        ],
    );
    let rules: BTreeSet<String> = t.tools().iter().filter_map(|s| s.tag("agent_telemetry.security.rules")).collect();
    assert!(
        bash.tag("agent_telemetry.security.rules").unwrap_or_default().contains("secret"),
        "rules on the secret Bash span: {:?}",
        bash.tags
    );
    s.report(&format!("({} spans; rules on tool spans: {rules:?})", t.spans.len()));
}

/// Odd tool calls (unknown tool, MCP tool with no server, bad input, missing file): the session
/// goes on and the trace stays whole; the failed Read has error status.
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_unknown_tool() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "unknown-tool", "unknown-tool");
    let run = s.run("UNKNOWN-TOOL-SCENARIO: try odd tools", &[]);
    assert_eq!(run.result(), "Odd tools done.");
    let sid = run.session_id.clone().expect("session id");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    assert!(t.one_tool("toolu_unknown_missing").is_error());
    assert!(!t.one_tool("toolu_unknown_ok").is_error());
    // The calls Claude Code refused (no Pre/PostToolUse, only in PostToolBatch) are spans too.
    let refused = batch_only_calls(&c.journal, &[&sid]);
    assert_eq!(
        refused,
        BTreeSet::from(["toolu_unknown_plain", "toolu_unknown_mcp", "toolu_unknown_badinput"]),
        "calls only in PostToolBatch"
    );
    let names: BTreeSet<&str> = t.tools().iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains("execute_tool Read") && names.contains("execute_tool Bash"), "tool spans {names:?}");
    s.report(&format!("({} spans; tool spans {names:?})", t.spans.len()));
}

/// Own scenario (tests/scenarios/e2e-mixed.json): five parallel calls (inside, outside via `..`,
/// outside via a symlink, a failing Read, a Bash with a GitHub token), then a foreground subagent
/// running two parallel calls (a password in a URL, a Read of /etc/hostname).
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_mixed_parallel_outside_secrets() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new(&env, "e2e-mixed", "e2e-mixed");
    let outside = s.project.scratch().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("notes.txt"), "notes outside the project\n").unwrap();
    std::os::unix::fs::symlink("../outside", s.project.path().join("link-out")).unwrap();
    let run = s.run("E2E-MIXED-SCENARIO: check things in parallel and delegate", &[]);
    assert_eq!(run.result(), "Mixed work done.");
    let sid = run.session_id.clone().expect("session id");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    let batch = [
        "toolu_mixed_read_readme",
        "toolu_mixed_read_dotdot",
        "toolu_mixed_read_symlink",
        "toolu_mixed_read_missing",
        "toolu_mixed_bash_token",
    ];
    let spans: Vec<&Span> = batch.iter().map(|id| t.one_tool(id)).collect();
    let parents: BTreeSet<Option<&str>> = spans.iter().map(|s| s.parent.as_deref()).collect();
    assert_eq!(parents.len(), 1, "the five parallel calls are siblings: {parents:?}");
    let errors: Vec<bool> = spans.iter().map(|s| s.is_error()).collect();
    assert_eq!(errors, [false, false, false, true, false], "only the missing-file Read failed");
    let outside_notes = outside.join("notes.txt").display().to_string();
    for id in ["toolu_mixed_read_dotdot", "toolu_mixed_read_symlink"] {
        let sp = t.one_tool(id);
        assert_eq!(sp.tag("agent_telemetry.outside_project_scope").as_deref(), Some("true"), "{id}: {:?}", sp.tags);
        assert_eq!(sp.tag("agent_telemetry.file_path").as_deref(), Some(outside_notes.as_str()), "{id}: path resolved");
        assert_eq!(
            rows_flag(&rows_of_call(&c.rows, id), "agent_telemetry.outside_project_scope"),
            BTreeSet::from(["true".to_string()]),
            "{id}"
        );
    }
    assert_eq!(t.one_tool("toolu_mixed_read_readme").tag("agent_telemetry.outside_project_scope"), None);
    assert!(t
        .one_tool("toolu_mixed_bash_token")
        .tag("agent_telemetry.command")
        .unwrap_or_default()
        .contains("[REDACTED:"));

    // The subagent: under its Agent call, its two parallel calls siblings under it.
    let agents = assert_subagents_under_agent_spans(t, &c.journal);
    assert_eq!(agents.len(), 1);
    let helper = agents.values().next().unwrap();
    assert_eq!(t.parent_of(helper).and_then(|p| p.call_id()).as_deref(), Some("toolu_mixed_agent"));
    let inner: Vec<&Span> = t.tools().into_iter().filter(|x| x.parent.as_deref() == Some(helper.id.as_str())).collect();
    assert_eq!(inner.len(), 2, "the helper's two calls: {:?}", inner.iter().map(|x| x.short()).collect::<Vec<_>>());
    let host = inner.iter().find(|x| x.name == "execute_tool Read").expect("helper's Read");
    assert_eq!(host.tag("agent_telemetry.outside_project_scope").as_deref(), Some("true"));
    assert_eq!(host.tag("agent_telemetry.subagent.id"), helper.tag("agent_telemetry.subagent.id"));
    let echo = inner.iter().find(|x| x.name == "execute_tool Bash").expect("helper's Bash");
    assert!(echo.tag("agent_telemetry.command").unwrap_or_default().contains("[REDACTED:"), "{:?}", echo.tags);
    s.assert_secrets_nowhere(
        &c,
        &["ghp_e2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2e9", "e2eE2eE2eE2eE2eE2e", "Pa55-e2e-Hidden-77"],
    );
    s.report(&format!("({} spans, {} log rows)", t.spans.len(), c.rows.len()));
}

/// Own scenario (tests/scenarios/e2e-resume-agents.json): run 1 delegates to a foreground
/// subagent; run 2 (`--resume`) runs a Bash call and a background subagent. Each subagent is in
/// its own run's turn, under its Agent call. This scenario exports over OTLP HTTP/protobuf (the
/// others over gRPC).
#[test]
#[ignore = "slow stage: the real Claude Code CLI, the collector, Jaeger and VictoriaLogs"]
fn e2e_resume_with_subagents() {
    let env = ClaudeStack::get();
    let mut s = Scenario::new_http(&env, "e2e-resume", "e2e-resume-agents");
    let first = s.run("E2E-RESUME-SCENARIO: first run with a helper", &[]);
    assert_eq!(first.result(), "First run done.");
    let sid = first.session_id.clone().expect("session id");
    let second = s.run("second run: more work in the background", &["--resume", &sid]);
    assert_result(&second, "Second run done.");
    let c = s.collect(&sid, &[&sid]);
    let t = &c.trace;
    let mut runs = t.runs();
    runs.sort_by_key(|r| r.start_us);
    assert_eq!(runs.len(), 2, "{}", t.summary());
    let agents = assert_subagents_under_agent_spans(t, &c.journal);
    assert_eq!(agents.len(), 2, "{}", t.summary());
    let run_of = |call: &str| {
        let turn = t.parent_of(t.one_tool(call)).expect("parent");
        assert_eq!(turn.name, "turn", "{call} is not directly under a turn");
        t.parent_of(turn).expect("run").id.clone()
    };
    assert_eq!(run_of("toolu_resume_fg"), runs[0].id);
    assert_eq!(run_of("toolu_resume_bash"), runs[1].id);
    assert_eq!(run_of("toolu_resume_bg"), runs[1].id);
    assert_eq!(t.one_tool("toolu_resume_bash").parent, t.one_tool("toolu_resume_bg").parent, "siblings");
    assert_eq!(t.one_tool("toolu_resume_bg").tag("agent_telemetry.subagent.background").as_deref(), Some("true"));
    let turns = t.turns().len();
    if turns > 2 {
        note(format!("e2e e2e-resume: {turns} turns (a background task notification opened another)"));
    }
    s.report(&format!("({} spans, {turns} turns, {} log rows)", t.spans.len(), c.rows.len()));
}
