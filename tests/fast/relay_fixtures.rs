//! The relay end to end with no servers: every recorded fixture goes through the built binary's
//! `hook` into a temporary data dir, `relay --once` exports it with the default file exporter
//! (OTLP JSON lines under `<data>/otlp/`), and the spans and log records are checked one by one
//! against what the fixture says (tests/harness/relay.rs: names, parents, kinds, status, timing,
//! attributes, one log per journal record pointing at a span of its trace).
//!
//! Then: a second `relay --once` exports nothing new; with the checkpoint deleted, a replay of
//! the same journal gives exactly the same spans and log records (deterministic ids and times).

use crate::harness::relay;

use relay::*;
use std::collections::BTreeSet;
use std::time::Duration;

const RELAY_TIMEOUT: Duration = Duration::from_secs(60);

/// Replays one fixture, exports it to files, checks it; returns what it exported.
fn replay_and_check(fixture: &str) -> (Install, Replayed, Vec<Span>, Vec<Log>) {
    let env = Install::new(&format!("relay-fixture-{fixture}-"));
    let r = replay(&env, fixture, "");
    assert_eq!(env.journal_records(), r.calls.len(), "{fixture}: one journal record per hook call");
    relay_once(&env, &Dest::File, &[], RELAY_TIMEOUT);
    let (spans, logs) = read_otlp(&env.data, (0, 0));
    check_fixture_spans(&r, &spans, Source::File);
    check_fixture_logs(&r, &spans, &logs);
    for l in &logs {
        assert_eq!(
            l.resource.get("service.name").map(String::as_str),
            Some("claude-code"),
            "{fixture}: log resource service.name"
        );
        assert!(l.body.contains("\"hook_event\""), "{fixture}: log body is the journal record");
        assert!(
            l.event_name.starts_with("claude_code.hook.") || l.event_name.starts_with("agent_telemetry."),
            "{fixture}: event name {}",
            l.event_name
        );
    }
    (env, r, spans, logs)
}

fn by_call_id<'a>(spans: &'a [Span], id: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.attr("gen_ai.tool.call.id") == Some(id))
        .unwrap_or_else(|| panic!("no span for tool call {id}"))
}

fn call_id(r: &Replayed, pred: impl Fn(&serde_json::Value) -> bool) -> String {
    r.calls
        .iter()
        .find(|c| pred(&c.payload))
        .and_then(|c| c.payload["tool_use_id"].as_str())
        .expect("a matching tool call")
        .to_string()
}

#[test]
fn tools_fixture_spans_and_logs() {
    let (env, r, spans, logs) = replay_and_check("tools");
    // The failing Bash call.
    let failed = call_id(&r, |p| p["hook_event_name"] == "PostToolUseFailure");
    let sp = by_call_id(&spans, &failed);
    assert_eq!(sp.name, "execute_tool Bash");
    assert_eq!((sp.status_code, sp.status_message.as_str()), (2, "Exit code 3"));
    // The read outside the project (/etc/hostname) is flagged, with its rule.
    let outside = call_id(&r, |p| p["tool_name"] == "Read" && p["tool_input"]["file_path"] == "/etc/hostname");
    let sp = by_call_id(&spans, &outside);
    assert_eq!(sp.attr("agent_telemetry.outside_project_scope"), Some("true"), "{sp:?}");
    assert!(sp.attr("agent_telemetry.security.rules").unwrap_or("").contains("outside_project"), "{sp:?}");
    // The in-project read is not flagged.
    let inside = call_id(&r, |p| p["tool_name"] == "Read" && p["tool_input"]["file_path"] != "/etc/hostname");
    assert_eq!(by_call_id(&spans, &inside).attr("agent_telemetry.outside_project_scope"), None);
    // The Bash command with a fake AWS key: redacted, counted, ruled; the key reaches no output.
    let secret =
        call_id(&r, |p| p["tool_name"] == "Bash" && p["tool_input"]["command"].as_str().unwrap_or("").contains("AKIA"));
    let sp = by_call_id(&spans, &secret);
    assert!(sp.attr("agent_telemetry.redactions").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) >= 1, "{sp:?}");
    assert!(sp.attr("agent_telemetry.security.rules").unwrap_or("").contains("secret"), "{sp:?}");
    assert!(sp.attr("agent_telemetry.command").unwrap_or("").contains("REDACTED"), "{sp:?}");
    let mut files = 0;
    for f in std::fs::read_dir(env.data.join("otlp")).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "the fake AWS key reached the OTLP output");
        files += 1;
    }
    assert!(files >= 2, "OTLP trace and log files under {}: {files}", env.data.join("otlp").display());
    // Logs of the outside read are flagged too.
    assert!(logs.iter().any(|l| l.attr("gen_ai.tool.call.id") == Some(outside.as_str())
        && l.attr("agent_telemetry.outside_project_scope") == Some("true")));
    // Write and Edit carry the file path inside the project.
    for tool in ["Write", "Edit"] {
        let id = call_id(&r, |p| p["tool_name"] == tool);
        let path = by_call_id(&spans, &id).attr("agent_telemetry.file_path").unwrap_or("").to_string();
        assert!(path.starts_with(&env.project.display().to_string()), "{tool} path {path}");
    }
}

#[test]
fn subagents_fixture_foreground_background_nested() {
    let (_env, r, spans, _logs) = replay_and_check("subagents");
    // Spelled out (check_fixture_spans derives the same from tool_response.agentId):
    let agent = |a: &str| {
        spans
            .iter()
            .find(|s| s.attr("agent_telemetry.subagent.id") == Some(a) && s.name == "invoke_agent general-purpose")
            .unwrap()
    };
    let fg = agent("afa2f023a1e29b438");
    let bg = agent("a3ce21d7ce40e735d");
    let nested = agent("a70c289becd5bd04f");
    assert_eq!(
        fg.parent.as_deref(),
        Some(by_call_id(&spans, "toolu_352bc64f38b14ed59b37e06c").span_id.as_str()),
        "foreground agent under its Agent call"
    );
    assert_eq!(
        bg.parent.as_deref(),
        Some(by_call_id(&spans, "toolu_56f6df41ad4f4a09a2b5834c").span_id.as_str()),
        "background agent under its Agent call"
    );
    let nested_call = by_call_id(&spans, "toolu_5d8b533b24c6418cb2e1168c");
    assert_eq!(
        nested.parent.as_deref(),
        Some(nested_call.span_id.as_str()),
        "nested agent under the Agent call made inside the foreground agent"
    );
    assert_eq!(
        nested_call.parent.as_deref(),
        Some(fg.span_id.as_str()),
        "the nested Agent call is inside the foreground agent"
    );
    // Tool calls inside subagents hang under the subagent (the fixture has some in each).
    let mut inside: Vec<(&str, &str)> = Vec::new();
    for c in &r.calls {
        if let (Some(id), Some(a)) = (c.payload["tool_use_id"].as_str(), c.payload["agent_id"].as_str()) {
            assert_eq!(
                by_call_id(&spans, id).parent.as_deref(),
                Some(agent(a).span_id.as_str()),
                "tool {id} under agent {a}"
            );
            assert_eq!(by_call_id(&spans, id).attr("agent_telemetry.subagent.id"), Some(a));
            inside.push((a, id));
        }
    }
    let agents_with_tools: BTreeSet<&str> = inside.iter().map(|(a, _)| *a).collect();
    assert_eq!(agents_with_tools.len(), 3, "tool calls inside each of the three subagents: {inside:?}");
}

#[test]
fn child_process_fixture_two_sessions_one_trace() {
    let (_env, r, spans, logs) = replay_and_check("child-process");
    let sessions: Vec<&Span> = spans.iter().filter(|s| s.name == "invoke_agent claude-code").collect();
    assert_eq!(sessions.len(), 2);
    let parent = sessions.iter().find(|s| s.parent.is_none()).expect("the parent session is the root");
    let child = sessions.iter().find(|s| s.parent.is_some()).expect("the child session has a parent");
    assert_eq!(child.parent.as_deref(), Some(parent.span_id.as_str()));
    assert!(
        child.parent_remote(),
        "the child's parent came from TRACEPARENT: flagged remote (flags {:?})",
        child.flags
    );
    assert!(!parent.parent_remote());
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(child.attr("agent_telemetry.parent_session"), parent.attr("gen_ai.conversation.id"));
    // Each session's spans and logs carry their own conversation id, all in the one trace.
    let child_sid = child.attr("gen_ai.conversation.id").unwrap();
    let child_logs = logs.iter().filter(|l| l.attr("gen_ai.conversation.id") == Some(child_sid)).count();
    let child_calls = r.calls.iter().filter(|c| c.payload["session_id"] == child_sid).count();
    assert_eq!(child_logs, child_calls);
    assert!(logs.iter().all(|l| l.trace_id == parent.trace_id));
}

/// Observed (and documented in src/assemble/mod.rs): a `--resume`d session is two runs, two
/// root spans `invoke_agent claude-code` in the same trace, the first with the span id the hook
/// handed to the session's commands in TRACEPARENT (read from CLAUDE_ENV_FILE), the second its
/// own; run numbers 1 and 2; the second's `agent_telemetry.session.source` is `resume`; each run
/// has its own turn.
#[test]
fn multi_turn_fixture_two_runs_of_one_session() {
    let (_env, r, spans, _logs) = replay_and_check("multi-turn");
    let mut runs: Vec<&Span> = spans.iter().filter(|s| s.name == "invoke_agent claude-code").collect();
    runs.sort_by_key(|s| s.start);
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|s| s.parent.is_none()), "both runs are roots");
    assert_eq!(runs[0].trace_id, runs[1].trace_id, "one trace for the session");
    assert_eq!(runs[0].attr("gen_ai.conversation.id"), runs[1].attr("gen_ai.conversation.id"));
    let sid = runs[0].attr("gen_ai.conversation.id").unwrap();
    let handed = r.handed_traceparent.get(sid).expect("the hook handed a TRACEPARENT at SessionStart");
    assert_eq!(
        handed,
        &format!("00-{}-{}-01", runs[0].trace_id, runs[0].span_id),
        "first run is the span named in the TRACEPARENT handed to the session"
    );
    assert_ne!(runs[1].span_id, runs[0].span_id, "the resumed run is a span of its own");
    assert_eq!(runs[1].attr("agent_telemetry.session.source"), Some("resume"));
    assert_eq!(runs[0].attr("agent_telemetry.session.source"), Some("startup"));
    assert!(runs[0].end <= runs[1].start);
    for run in &runs {
        let turns: Vec<&Span> =
            spans.iter().filter(|s| s.name == "turn" && s.parent.as_deref() == Some(run.span_id.as_str())).collect();
        assert_eq!(turns.len(), 1, "one turn per run");
    }
}

/// All fixtures into one data dir: separate traces, no span id shared between them; a second
/// `relay --once` adds nothing; with the checkpoint deleted the replay is identical.
#[test]
fn all_fixtures_once_then_nothing_new_then_identical_replay() {
    let env = Install::new("relay-fixtures-all-");
    let replays: Vec<Replayed> = FIXTURES.iter().map(|f| replay(&env, f, "")).collect();
    let total_calls: usize = replays.iter().map(|r| r.calls.len()).sum();
    assert_eq!(env.journal_records(), total_calls);
    relay_once(&env, &Dest::File, &[], RELAY_TIMEOUT);
    let (spans, logs) = read_otlp(&env.data, (0, 0));
    assert_eq!(logs.len(), total_calls, "one log record per journal record");
    let mut traces = BTreeSet::new();
    for r in &replays {
        let sids: BTreeSet<&str> = r.calls.iter().filter_map(|c| c.payload["session_id"].as_str()).collect();
        let mine: Vec<Span> =
            spans.iter().filter(|s| sids.contains(s.attr("gen_ai.conversation.id").unwrap_or(""))).cloned().collect();
        let my_logs: Vec<Log> =
            logs.iter().filter(|l| sids.contains(l.attr("gen_ai.conversation.id").unwrap_or(""))).cloned().collect();
        let c = check_fixture_spans(r, &mine, Source::File);
        check_fixture_logs(r, &mine, &my_logs);
        traces.extend(c.trace_ids);
    }
    assert_eq!(traces.len(), FIXTURES.len(), "one trace per fixture");
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(ids.len(), spans.len(), "no span id twice across fixtures");

    // Second run: nothing new.
    let before = otlp_line_counts(&env.data);
    relay_once(&env, &Dest::File, &[], RELAY_TIMEOUT);
    assert_eq!(otlp_line_counts(&env.data), before, "a second relay --once must export nothing");

    // Replay from scratch: the same spans and logs, to the byte (as sets; batching may differ).
    std::fs::remove_file(env.data.join("relay/checkpoint.json")).expect("checkpoint exists");
    relay_once(&env, &Dest::File, &[], RELAY_TIMEOUT);
    let (again_spans, again_logs) = read_otlp(&env.data, before);
    let a: BTreeSet<Span> = spans.into_iter().collect();
    let b: BTreeSet<Span> = again_spans.into_iter().collect();
    assert_eq!(a.len(), b.len(), "same number of spans on replay");
    let diff: Vec<_> = a.symmetric_difference(&b).map(|s| format!("{} {} {}", s.span_id, s.name, s.start)).collect();
    assert!(diff.is_empty(), "replayed spans differ: {diff:#?}");
    let a: BTreeSet<Log> = logs.into_iter().collect();
    let b: BTreeSet<Log> = again_logs.into_iter().collect();
    assert_eq!(a, b, "replayed log records differ");
}

/// The relay's own bookkeeping after a full replay: status says what was exported; no span left
/// open for finished sessions.
#[test]
fn status_after_once_counts_everything() {
    let env = Install::new("relay-fixtures-status-");
    let r = replay(&env, "tools", "");
    relay_once(&env, &Dest::File, &[], RELAY_TIMEOUT);
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.data.join("relay/status.json")).unwrap()).unwrap();
    assert_eq!(status["exported_records"], r.calls.len() as u64, "{status}");
    assert_eq!(status["open_spans"], 0, "{status}");
    assert_eq!(status["state"], "stopped", "{status}");
    let (spans, _) = read_otlp(&env.data, (0, 0));
    assert_eq!(status["exported_spans"], spans.len() as u64, "{status}");
}

/// The crash window (a power loss after an export, before the page cache reached the disk): the
/// journal's last line, already exported, is cut in the middle, and the next append keeps the
/// torn bytes in a `journal_repair` record that takes the lost record's seq. The relay's
/// checkpoint points past the end of the lost line — now inside the repair record's line. The
/// relay must notice that its checkpoint no longer ends at the record it exported, go back to a
/// recent checkpoint that still matches, and export the repair record (and everything after it)
/// instead of skipping a line it reads from the middle.
#[test]
fn an_exported_line_lost_in_a_crash_its_repair_record_is_exported() {
    let env = Install::new("relay-crash-window-");
    let n = 200;
    synth_journal(&env.data, &env.project, n, "a", now_ns());
    // Small batches: the relay has checkpointed several times before the end.
    let small = [("AGENT_TELEMETRY_BATCH_SIZE", "30")];
    relay_once(&env, &Dest::File, &small, RELAY_TIMEOUT);
    let (_, before) = otlp_line_counts(&env.data);
    let seg = {
        let mut s: Vec<_> = std::fs::read_dir(env.data.join("journal"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        s.sort();
        s.pop().unwrap()
    };
    let text = std::fs::read(&seg).unwrap();
    let last_start = text[..text.len() - 1].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len((last_start + (text.len() - last_start) / 2) as u64)
        .unwrap();
    synth_journal(&env.data, &env.project, 8, "b", now_ns());
    let records = journal_records(&env.data);
    let repair = records.iter().find(|r| r["event_type"] == "journal_repair").expect("a journal_repair record");
    assert_eq!(repair["seq"].as_u64(), Some(n as u64 - 1), "the repair record takes the lost record's seq");
    let err = relay_once(&env, &Dest::File, &small, RELAY_TIMEOUT);
    assert!(!err.contains("skipping unreadable journal line"), "the relay read a line from its middle: {err}");
    assert!(err.contains("does not end at the record it last exported"), "the relay says why it goes back: {err}");
    let (_, logs) = read_otlp(&env.data, (0, before));
    let seqs: BTreeSet<u64> = logs.iter().filter_map(|l| l.attr("agent_telemetry.seq")?.parse().ok()).collect();
    let want: BTreeSet<u64> = (n as u64 - 1..records.len() as u64).collect();
    assert!(want.is_subset(&seqs), "the repair record and everything after it exported: {want:?} not all in {seqs:?}");
    let exported_repair = logs
        .iter()
        .find(|l| l.attr("agent_telemetry.seq") == Some(&(n - 1).to_string()) && l.body.contains("journal_repair"));
    assert!(exported_repair.is_some(), "the repair record itself is exported");
    // Going back is bounded by one of the relay's recent checkpoints (a batch here).
    assert!(seqs.len() <= want.len() + 30, "re-sent at most a batch: {} exported for {} new", seqs.len(), want.len());
    // And the local anchor holds again.
    let out = env.command(&["verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}
