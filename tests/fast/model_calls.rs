//! Model calls as spans, on real recorded sessions (tests/data/recordings, made with
//! scripts/claude/record-session.sh: the real CLI, the scripted model, every hook payload and the
//! transcripts it wrote). Each recording is replayed through the built binary's `hook` as a user
//! would have it (HOME only, a config file), exported by `relay --once` to OTLP files, and the
//! spans are checked against an independent reading of the transcripts done here (plain JSON,
//! not the library's reader):
//! - exactly one `chat {model}` span per model request, CLIENT kind, under the turn of its prompt
//!   (main agent) or under its subagent's span, with the GenAI attributes;
//! - turn, subagent and session totals equal the transcript's sums, last message included;
//! - the session's estimated cost equals what Claude Code itself reported (`total_cost_usd`).

use crate::harness::recording;

use recording::{replay, Dest, Prepared, Replay, Request, Span};
use std::collections::{BTreeMap, BTreeSet};

fn int(s: &Span, k: &str) -> u64 {
    s.attr(k).unwrap_or_else(|| panic!("{} has no {k}: {:?}", s.name, s.attrs)).parse().unwrap()
}

fn check(name: &str) -> Replay {
    check_replay(name, replay(name), None)
}

/// `late`: a subagent whose transcript was read only after its span closed (its calls still
/// count in the session's totals; its own span has none).
fn check_replay(name: &str, r: Replay, late: Option<&str>) -> Replay {
    assert!(!r.requests.is_empty(), "{name}: no requests in the transcripts");
    let chats: Vec<&Span> = r.spans.iter().filter(|s| s.name.starts_with("chat ")).collect();
    let ids: BTreeSet<&str> = chats.iter().map(|s| s.attr("agent_telemetry.request_id").expect("request id")).collect();
    assert_eq!(ids.len(), chats.len(), "{name}: a request has more than one span");
    assert_eq!(ids, r.requests.keys().map(String::as_str).collect(), "{name}: chat spans ≠ the transcripts' requests");
    let by_id: BTreeMap<&str, &Span> = r.spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    for c in &chats {
        let req = &r.requests[c.attr("agent_telemetry.request_id").unwrap()];
        assert_eq!(c.kind.as_deref(), Some("3"), "{name}: {} is not CLIENT", c.name); // OTLP SPAN_KIND_CLIENT
        assert_eq!(c.attr("gen_ai.operation.name"), Some("chat"));
        assert_eq!(c.attr("gen_ai.provider.name"), Some("anthropic"));
        assert!(c.attr("gen_ai.response.id").is_some_and(|m| m.starts_with("msg_")), "{c:?}");
        assert!(c.attr("gen_ai.response.finish_reasons").is_some(), "{c:?}");
        assert_eq!(c.name, format!("chat {}", c.attr("gen_ai.request.model").unwrap()));
        let got: Vec<u64> = [
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_write.input_tokens",
        ]
        .iter()
        .map(|k| int(c, k))
        .collect();
        assert_eq!(got, req.tokens(), "{name}: tokens of {}", c.name);
        assert!(c.start <= c.end && c.start > 0, "{c:?}");
        let parent = by_id
            .get(c.parent.as_deref().expect("a chat span has a parent"))
            .unwrap_or_else(|| panic!("{name}: parent of {} not exported", c.name));
        match &req.agent {
            Some(a) => {
                assert!(parent.name.starts_with("invoke_agent "), "{name}: subagent call under {}", parent.name);
                assert_eq!(parent.attr("agent_telemetry.subagent.id"), Some(a.as_str()));
            }
            None => {
                assert_eq!(parent.name, "turn", "{name}: main call under {}", parent.name);
                assert_eq!(parent.attr("prompt.id"), req.prompt.as_deref(), "{name}: call under the wrong turn");
            }
        }
    }
    // Totals, last message included: every turn and subagent sums its calls.
    for s in r.spans.iter().filter(|s| {
        s.name == "turn" || s.name.starts_with("invoke_agent ") && s.attr("agent_telemetry.subagent.id").is_some()
    }) {
        let mine: Vec<&Request> = match s.attr("agent_telemetry.subagent.id") {
            Some(a) => r.requests.values().filter(|q| q.agent.as_deref() == Some(a)).collect(),
            None => r
                .requests
                .values()
                .filter(|q| q.agent.is_none() && q.prompt.as_deref() == s.attr("prompt.id"))
                .collect(),
        };
        if mine.is_empty() {
            continue;
        }
        if late.is_some() && s.attr("agent_telemetry.subagent.id") == late {
            assert_eq!(
                s.attr("agent_telemetry.usage.source"),
                None,
                "{name}: totals on a span closed before its transcript was read"
            );
            continue;
        }
        assert_eq!(
            int(s, "gen_ai.usage.input_tokens"),
            mine.iter().map(|q| q.input).sum::<u64>(),
            "{name}: {} {:?}",
            s.name,
            s.attrs
        );
        assert_eq!(
            int(s, "gen_ai.usage.output_tokens"),
            mine.iter().map(|q| q.output).sum::<u64>(),
            "{name}: {}",
            s.name
        );
        assert_eq!(s.attr("agent_telemetry.usage.source"), Some("transcript"), "{name}: {} {:?}", s.name, s.attrs);
    }
    // The session: every request of the main agent and of every subagent.
    let runs: Vec<&Span> = r.spans.iter().filter(|s| s.name == "invoke_agent claude-code").collect();
    assert!(!runs.is_empty());
    // Totals: the conventions keep the cache breakdown off agent spans, so ours carry it.
    let keys = [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "agent_telemetry.usage.cache_read.input_tokens",
        "agent_telemetry.usage.cache_write.input_tokens",
    ];
    for s in &runs {
        for k in ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_write.input_tokens", "gen_ai.agent.id"] {
            assert_eq!(s.attr(k), None, "{name}: {k} on {}", s.name);
        }
    }
    for (i, k) in keys.iter().enumerate() {
        let ours: u64 = runs.iter().map(|s| int(s, k)).sum();
        let theirs: u64 = r.requests.values().map(|q| q.tokens()[i]).sum();
        assert_eq!(ours, theirs, "{name}: session {k}");
    }
    // The cost Claude Code itself computed for the session: its `total_cost_usd`, which a
    // resumed run reports for the whole session so far (so: the last run's).
    let claude_cost: f64 = r.meta["total_cost_usd"].as_array().unwrap().last().unwrap().as_f64().unwrap();
    let ours: f64 = runs.iter().map(|s| s.attr("agent_telemetry.cost.usd").unwrap().parse::<f64>().unwrap()).sum();
    assert!((ours - claude_cost).abs() < 1e-6, "{name}: our cost {ours} ≠ Claude Code's {claude_cost}");
    assert!(runs.iter().all(|s| s.attr("agent_telemetry.cost.price_table").is_some()));
    journal_calls(name, &r, claude_cost);
    r
}

/// The journal holds one `model_call` record per request (the audit trail needs no transcript),
/// chained like every record, with the request's tokens and cost; each has a log record that
/// links to the request's `chat` span; their costs sum to what Claude Code reported.
fn journal_calls(name: &str, r: &Replay, claude_cost: f64) {
    let calls: Vec<&serde_json::Value> = r.journal.iter().filter(|j| j["hook_event"] == "ModelCall").collect();
    let ids: Vec<&str> = calls.iter().map(|c| c["model_call"]["request_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "{name}: a request journaled twice: {ids:?}"
    );
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>(),
        r.requests.keys().map(String::as_str).collect(),
        "{name}: model_call records ≠ the transcripts' requests"
    );
    let chat_of: BTreeMap<&str, &Span> = r
        .spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .map(|s| (s.attr("agent_telemetry.request_id").unwrap(), s))
        .collect();
    let mut cost = 0.0;
    for c in &calls {
        let m = &c["model_call"];
        let id = m["request_id"].as_str().unwrap();
        let req = &r.requests[id];
        let tokens: Vec<u64> =
            ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]
                .iter()
                .map(|k| m[k].as_u64().unwrap())
                .collect();
        assert_eq!(tokens, req.tokens(), "{name}: tokens of {id}");
        assert_eq!(c["agent_context"]["agent_id"].as_str(), req.agent.as_deref(), "{name}: agent of {id}");
        assert_eq!(c["event_type"], "model_call");
        assert!(c["project_path"].is_string() && c["session_id"].is_string(), "{name}: {c}");
        cost += m["cost_usd"].as_f64().unwrap_or_else(|| panic!("{name}: {id} unpriced"));
        let span = chat_of[id];
        let logs: Vec<_> = r.logs.iter().filter(|l| l.attr("agent_telemetry.request_id") == Some(id)).collect();
        assert_eq!(logs.len(), 1, "{name}: log records of {id}");
        assert_eq!(
            (logs[0].trace_id.as_str(), logs[0].span_id.as_str()),
            (span.trace_id.as_str(), span.span_id.as_str()),
            "{name}: {id}'s log links to its chat span"
        );
        assert_eq!(logs[0].attr("agent_telemetry.seq"), c["seq"].as_u64().map(|s| s.to_string()).as_deref());
    }
    assert!((cost - claude_cost).abs() < 1e-6, "{name}: journaled cost {cost} ≠ Claude Code's {claude_cost}");
    let v = crate::harness::command(r.root().join("home"), &["verify"]).output().unwrap();
    assert!(
        v.status.success(),
        "{name}: verify after the relay journaled calls: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

#[test]
fn tools_one_chat_span_per_request_and_complete_totals() {
    check("tools");
}

#[test]
fn parallel_tool_calls() {
    check("parallel");
}

#[test]
fn subagents_foreground_nested_and_background() {
    let r = check("subagents");
    assert!(r.requests.values().filter(|q| q.agent.is_some()).count() >= 3, "the recording has subagent calls");
}

#[test]
fn resumed_session_two_runs() {
    let r = check("multi-turn");
    assert_eq!(r.spans.iter().filter(|s| s.name == "invoke_agent claude-code").count(), 2);
}

/// Claude Code writes transcripts behind its hooks: on a busy machine a subagent's transcript
/// may not be on disk yet when the relay reads its SubagentStop. Its calls are read all the same
/// (at the session's end, when the relay sweeps the session's subagent transcripts).
#[test]
fn a_subagent_transcript_written_after_its_stop_is_read() {
    let name = "subagents";
    let p = Prepared::new(name, &Dest::Files);
    let stop = p.lines.iter().position(|v| v["hook_event_name"] == "SubagentStop").expect("a SubagentStop");
    let agent = p.lines[stop]["agent_id"].as_str().unwrap().to_string();
    let main = p.lines[stop]["transcript_path"].as_str().unwrap().to_string();
    let file = std::path::PathBuf::from(format!("{}/subagents/agent-{agent}.jsonl", main.trim_end_matches(".jsonl")));
    let hidden = file.with_extension("later");
    std::fs::rename(&file, &hidden).unwrap();
    p.hooks(0..stop + 1);
    p.relay_once();
    std::fs::rename(&hidden, &file).unwrap();
    p.hooks(stop + 1..p.lines.len());
    p.relay_once();
    let r = check_replay(name, p.finish(Dest::Files), Some(&agent));
    assert!(
        r.requests.values().any(|q| q.agent.as_deref() == Some(agent.as_str())),
        "the hidden transcript had requests"
    );
}
