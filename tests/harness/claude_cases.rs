//! Claude Code as people run it, on real recorded sessions of the newest CLI
//! (tests/data/recordings/*-2.1.332, made with scripts/claude/record-session.sh), replayed
//! through the hook and the relay: each case's trace, span by span — from the OTLP files (fast
//! stage), and at Jaeger and VictoriaLogs through the real collector (slow stage).

//! The checks live here, shared by the fast replays (tests/fast/claude_cases.rs) and the slow
//! stage's run through the real collector (tests/slow/claude_cases.rs).

use super::recording::{Replay, Span};

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// `/compact` on a resumed session: SessionStart(resume) → PreCompact → two summariser forks
/// (SubagentStop, empty agent_type, no SubagentStart) → SessionStart(compact) → PostCompact →
/// SessionEnd. One `compact` span in the resumed run, the forks under it, no third run, no
/// turn for `/compact`, no unnamed agent.
pub fn check_compaction(r: &Replay) {
    let by_id = |id: &str| r.spans.iter().find(|s| s.span_id == id);
    let runs = named(&r.spans, "invoke_agent claude-code");
    assert_eq!(
        runs.len(),
        2,
        "two runs (startup, resume), no run for SessionStart(compact): {:?}",
        runs.iter().map(|s| s.attr("agent_telemetry.session.source")).collect::<Vec<_>>()
    );
    assert!(
        r.spans.iter().filter(|s| s.parent.is_none()).all(|s| s.name == "invoke_agent claude-code"),
        "a root that is not a run"
    );
    let resumed =
        runs.iter().find(|s| s.attr("agent_telemetry.session.source") == Some("resume")).expect("the resumed run");
    let compact = named(&r.spans, "compact");
    assert_eq!(compact.len(), 1, "one compaction span");
    let c = compact[0];
    assert_eq!(c.parent.as_deref(), Some(resumed.span_id.as_str()), "the compaction belongs to the resumed run");
    assert_eq!(c.attr("agent_telemetry.compact.trigger"), Some("manual"));
    // Tokens before and after, from the transcript's compact_boundary (read here independently).
    let boundary = std::fs::read_dir(r.root().join("home/.claude/projects"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(String::from).collect::<Vec<_>>())
        .find(|l| l.contains("\"compact_boundary\""))
        .expect("a compact_boundary line");
    let meta: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&boundary).unwrap()["compactMetadata"].clone();
    assert_eq!(
        c.attr("agent_telemetry.compact.pre_tokens").map(String::from),
        meta["preTokens"].as_u64().map(|n| n.to_string())
    );
    assert_eq!(
        c.attr("agent_telemetry.compact.post_tokens").map(String::from),
        meta["postTokens"].as_u64().map(|n| n.to_string())
    );
    assert!(c.events.iter().any(|e| e.contains("session_start.compact")), "{:?}", c.events);
    let forks: Vec<&Span> = r.spans.iter().filter(|s| s.parent.as_deref() == Some(c.span_id.as_str())).collect();
    let journal_forks = r.journal.iter().filter(|j| j["hook_event"] == "SubagentStop").count();
    assert_eq!(journal_forks, 2, "the recording has two forks");
    assert_eq!(forks.len(), 2, "the forks under the compaction");
    assert!(forks.iter().all(|f| f.name == "invoke_agent compaction-summarizer" && f.end >= f.start));
    assert!(!r.spans.iter().any(|s| s.name.trim_end() == "invoke_agent"), "an agent span without a name");
    // No turn for /compact: every turn has a UserPromptSubmit in the journal.
    for t in named(&r.spans, "turn") {
        let p = t.attr("prompt.id").unwrap();
        assert!(
            r.journal.iter().any(|j| j["hook_event"] == "UserPromptSubmit" && j["session_context"]["prompt_id"] == p),
            "a turn for a prompt nobody typed: {p}"
        );
        assert!(by_id(t.parent.as_deref().unwrap()).is_some_and(|p| p.name == "invoke_agent claude-code"));
    }
    // The compaction's records are logged against its span.
    let pre = r.logs.iter().find(|l| l.event_name.ends_with("PreCompact")).expect("PreCompact log");
    assert_eq!(pre.span_id, c.span_id);
    // Token totals are not counted twice: the runs add up to the transcript's requests.
    let total: u64 =
        runs.iter().map(|s| s.attr("gen_ai.usage.input_tokens").unwrap_or("0").parse::<u64>().unwrap()).sum();
    assert_eq!(total, r.requests.values().map(|q| q.input).sum::<u64>());
}

/// `SendMessage` to a finished agent revives it (agent teams, CLI 2.1.332): a second
/// SubagentStart/SubagentStop with the same agent id. Each run is its own span — the first under
/// the `Agent` call, the second under the `SendMessage` call — with its own tools and model calls.
pub fn check_revived(r: &Replay) {
    let starts: Vec<&serde_json::Value> = r.journal.iter().filter(|j| j["hook_event"] == "SubagentStart").collect();
    assert_eq!(starts.len(), 2, "the recording revives one agent");
    let agent = starts[0]["agent_context"]["agent_id"].as_str().unwrap();
    assert_eq!(starts[1]["agent_context"]["agent_id"].as_str(), Some(agent));
    let runs: Vec<&Span> = r
        .spans
        .iter()
        .filter(|s| s.name.starts_with("invoke_agent ") && s.attr("agent_telemetry.subagent.id") == Some(agent))
        .collect();
    assert_eq!(runs.len(), 2, "one span per run of the agent");
    assert_ne!(runs[0].span_id, runs[1].span_id);
    let tool = |call: &str| {
        r.spans
            .iter()
            .find(|s| s.attr("gen_ai.tool.call.id") == Some(call))
            .unwrap_or_else(|| panic!("no span for {call}"))
    };
    let first = runs.iter().find(|s| s.attr("agent_telemetry.subagent.run").is_none()).expect("the first run");
    let second = runs.iter().find(|s| s.attr("agent_telemetry.subagent.run") == Some("2")).expect("the second run");
    assert_eq!(
        first.parent.as_deref(),
        Some(tool("toolu_revive_agent").span_id.as_str()),
        "first run under the Agent call"
    );
    assert_eq!(
        second.parent.as_deref(),
        Some(tool("toolu_revive_send").span_id.as_str()),
        "second run under the SendMessage call"
    );
    assert_eq!(tool("toolu_revive_read").parent.as_deref(), Some(first.span_id.as_str()), "the first run's tool");
    assert_eq!(
        tool("toolu_revive_wc").parent.as_deref(),
        Some(second.span_id.as_str()),
        "the revived run's tool under it"
    );
    assert!(second.start >= first.end, "the second run starts after the first ended");
    // Model calls: the agent's transcript, split here at each new message to it (a user line
    // whose content is text, not tool results), gives each run its requests.
    let transcript = std::fs::read_dir(r.root().join("home/.claude/projects"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|d| d.join(format!("subagents/agent-{agent}.jsonl")))
        .find(|p| p.exists())
        .expect("the agent's transcript");
    let mut per_run: Vec<Vec<String>> = Vec::new();
    for line in std::fs::read_to_string(transcript).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "user" && v["message"]["content"].is_string() {
            per_run.push(Vec::new());
        }
        if v["type"] == "assistant" {
            let id = v["requestId"].as_str().unwrap().to_string();
            let run = per_run.last_mut().unwrap();
            if !run.contains(&id) {
                run.push(id);
            }
        }
    }
    assert_eq!(per_run.len(), 2);
    for (run, want) in [first, second].iter().zip(&per_run) {
        let mut got: Vec<String> = r
            .spans
            .iter()
            .filter(|s| s.name.starts_with("chat ") && s.parent.as_deref() == Some(run.span_id.as_str()))
            .map(|s| s.attr("agent_telemetry.request_id").unwrap().to_string())
            .collect();
        got.sort();
        let mut want = want.clone();
        want.sort();
        assert!(!want.is_empty());
        assert_eq!(got, want, "model calls of {}", run.name);
        let input: u64 = r.requests.iter().filter(|(k, _)| want.contains(k)).map(|(_, q)| q.input).sum();
        assert_eq!(
            run.attr("gen_ai.usage.input_tokens").map(|v| v.parse::<u64>().unwrap()),
            Some(input),
            "totals of run {:?}",
            run.attr("agent_telemetry.subagent.run")
        );
    }
}

/// Tasks (CLI 2.1.332): TaskCreated between TaskCreate's Pre and Post, TaskCompleted on a
/// TaskUpdate to completed. The creating and the completing calls carry the task, a span event
/// each, and the completing call links to the creating one.
pub fn check_tasks(r: &Replay) {
    let created = r.journal.iter().find(|j| j["hook_event"] == "TaskCreated").expect("TaskCreated recorded");
    let task_id = created["raw_input"]["task_id"].as_str().unwrap();
    let subject = created["raw_input"]["task_subject"].as_str().unwrap();
    let call = |id: &str| {
        r.spans.iter().find(|s| s.attr("gen_ai.tool.call.id") == Some(id)).unwrap_or_else(|| panic!("no span for {id}"))
    };
    let create = call("toolu_tasks_create");
    let done = call("toolu_tasks_done");
    for (span, event) in [(create, "task.created"), (done, "task.completed")] {
        assert_eq!(span.attr("agent_telemetry.task.id"), Some(task_id), "{}", span.name);
        assert_eq!(span.attr("agent_telemetry.task.subject"), Some(subject));
        assert!(span.events.iter().any(|e| e.contains(event)), "{} has no {event}: {:?}", span.name, span.events);
    }
    assert_eq!(
        r.links().get(&done.span_id).cloned().unwrap_or_default(),
        vec![create.span_id.clone()],
        "the completion links to the creation"
    );
    assert_eq!(done.attr("agent_telemetry.task.created_by_agent"), Some("main"));
    let log = r.logs.iter().find(|l| l.event_name.ends_with("TaskCompleted")).expect("TaskCompleted log");
    assert_eq!(log.span_id, done.span_id, "the TaskCompleted record is logged on the completing call");
}

/// Calls Claude Code never runs (an unknown tool, an MCP tool of a missing server, invalid input:
/// CLI 2.1.332 fires only PostToolBatch for them) still get a span each, marked not run, as an
/// error; the calls that ran keep exactly one span.
pub fn check_not_run(r: &Replay) {
    let mut batch_ids = Vec::new();
    let mut announced = std::collections::BTreeSet::new();
    for j in &r.journal {
        match j["hook_event"].as_str() {
            Some("PostToolBatch") => {
                batch_ids.extend(j["raw_input"]["tool_calls"].as_array().unwrap().iter().map(|c| {
                    (c["tool_use_id"].as_str().unwrap().to_string(), c["tool_name"].as_str().unwrap().to_string())
                }))
            }
            Some("PreToolUse" | "PostToolUse" | "PostToolUseFailure") => {
                announced.insert(j["tool_context"]["tool_use_id"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    let not_run: Vec<&(String, String)> = batch_ids.iter().filter(|(id, _)| !announced.contains(id)).collect();
    assert!(not_run.len() >= 2, "the recording has calls that never ran: {batch_ids:?}");
    for (id, tool) in &batch_ids {
        let spans: Vec<&Span> = r.spans.iter().filter(|s| s.attr("gen_ai.tool.call.id") == Some(id.as_str())).collect();
        assert_eq!(spans.len(), 1, "{id}: one span");
        assert_eq!(spans[0].name, format!("execute_tool {tool}"));
        let never = !announced.contains(id);
        assert_eq!(spans[0].attr("agent_telemetry.tool.not_run") == Some("true"), never, "{id}");
        if never {
            assert_eq!(spans[0].status_code, 2, "{id} is an error");
            let parent = r
                .spans
                .iter()
                .find(|s| Some(s.span_id.as_str()) == spans[0].parent.as_deref())
                .expect("parent exported");
            assert_eq!(parent.name, "turn");
        }
    }
}
