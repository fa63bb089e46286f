//! Claude Code as people run it, on real recorded sessions of the newest CLI
//! (tests/data/recordings/*-2.1.332, made with scripts/claude/record-session.sh), replayed
//! through the hook and the relay: each case's trace, span by span.

#[path = "recording_support/mod.rs"]
mod recording_support;

use recording_support::{replay, Span};

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// `/compact` on a resumed session: SessionStart(resume) → PreCompact → two summariser forks
/// (SubagentStop, empty agent_type, no SubagentStart) → SessionStart(compact) → PostCompact →
/// SessionEnd. One `compact` span in the resumed run, the forks under it, no third run, no
/// turn for `/compact`, no unnamed agent.
#[test]
fn compaction_is_an_event_within_the_run() {
    let r = replay("compact-2.1.332");
    let by_id = |id: &str| r.spans.iter().find(|s| s.span_id == id);
    let runs = named(&r.spans, "invoke_agent claude-code");
    assert_eq!(runs.len(), 2, "two runs (startup, resume), no run for SessionStart(compact): {:?}", runs.iter().map(|s| s.attr("agent_telemetry.session.source")).collect::<Vec<_>>());
    assert!(r.spans.iter().filter(|s| s.parent.is_none()).all(|s| s.name == "invoke_agent claude-code"), "a root that is not a run");
    let resumed = runs.iter().find(|s| s.attr("agent_telemetry.session.source") == Some("resume")).expect("the resumed run");
    let compact = named(&r.spans, "compact");
    assert_eq!(compact.len(), 1, "one compaction span");
    let c = compact[0];
    assert_eq!(c.parent.as_deref(), Some(resumed.span_id.as_str()), "the compaction belongs to the resumed run");
    assert_eq!(c.attr("agent_telemetry.compact.trigger"), Some("manual"));
    // Tokens before and after, from the transcript's compact_boundary (read here independently).
    let boundary = std::fs::read_dir(r.root().join("home/.claude/projects")).unwrap().flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap()).map(|f| f.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(String::from).collect::<Vec<_>>()).find(|l| l.contains("\"compact_boundary\"")).expect("a compact_boundary line");
    let meta: serde_json::Value = serde_json::from_str::<serde_json::Value>(&boundary).unwrap()["compactMetadata"].clone();
    assert_eq!(c.attr("agent_telemetry.compact.pre_tokens").map(String::from), meta["preTokens"].as_u64().map(|n| n.to_string()));
    assert_eq!(c.attr("agent_telemetry.compact.post_tokens").map(String::from), meta["postTokens"].as_u64().map(|n| n.to_string()));
    assert!(c.events.iter().any(|e| e == "session_start.compact"), "{:?}", c.events);
    let forks: Vec<&Span> = r.spans.iter().filter(|s| s.parent.as_deref() == Some(c.span_id.as_str())).collect();
    let journal_forks = r.journal.iter().filter(|j| j["hook_event"] == "SubagentStop").count();
    assert_eq!(journal_forks, 2, "the recording has two forks");
    assert_eq!(forks.len(), 2, "the forks under the compaction");
    assert!(forks.iter().all(|f| f.name == "invoke_agent compaction-summarizer" && f.end >= f.start));
    assert!(!r.spans.iter().any(|s| s.name.trim_end() == "invoke_agent"), "an agent span without a name");
    // No turn for /compact: every turn has a UserPromptSubmit in the journal.
    for t in named(&r.spans, "turn") {
        let p = t.attr("prompt.id").unwrap();
        assert!(r.journal.iter().any(|j| j["hook_event"] == "UserPromptSubmit" && j["session_context"]["prompt_id"] == p), "a turn for a prompt nobody typed: {p}");
        assert!(by_id(t.parent.as_deref().unwrap()).is_some_and(|p| p.name == "invoke_agent claude-code"));
    }
    // The compaction's records are logged against its span.
    let pre = r.logs.iter().find(|l| l.event_name.ends_with("PreCompact")).expect("PreCompact log");
    assert_eq!(pre.span_id, c.span_id);
    // Token totals are not counted twice: the runs add up to the transcript's requests.
    let total: u64 = runs.iter().map(|s| s.attr("gen_ai.usage.input_tokens").unwrap_or("0").parse::<u64>().unwrap()).sum();
    assert_eq!(total, r.requests.values().map(|q| q.input).sum::<u64>());
}
