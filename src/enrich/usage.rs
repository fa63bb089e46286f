//! Token usage from Claude Code's transcript (`message.usage` and `message.model` on assistant
//! lines), read by the hook at the end of a turn (Stop) or a subagent (SubagentStop), so the
//! numbers land in the journal with the event and the relay needs no file access.
//!
//! Facts the reading relies on (observed with CLI 2.1.328): one API message is written as one
//! line per content block, each repeating the full `usage` — so messages are counted once by
//! `message.id`; user lines carry the turn's `promptId`, assistant lines do not — an assistant
//! message belongs to the turn of the last user line before it.
//!
//! A limit we live with: Claude Code writes a turn's (or subagent's) *final* assistant message to
//! the transcript after the Stop (SubagentStop) hooks have run, so those numbers miss that last
//! message. SessionEnd reads the whole transcript and is complete: the session span carries those
//! totals.

use crate::record::TokenUsage;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};

/// The hook reads a transcript only up to this size: it starts from the beginning at every turn's
/// end, so a long session would make every Stop slower. Beyond it the record carries no usage
/// and the relay's totals (read incrementally, `assemble/transcripts.rs`) are the only ones.
const MAX_TRANSCRIPT_BYTES: u64 = 8 * 1024 * 1024;

/// Sums usage in a transcript: of the turn `prompt_id`, or of every message when `None`
/// (a subagent's own transcript). `None` when the file cannot be read or holds no usage.
pub(crate) fn from_transcript(path: &str, prompt_id: Option<&str>) -> Option<TokenUsage> {
    // A path from the payload: a regular file, opened without blocking, read up to a bound.
    let file = super::files::open_regular(std::path::Path::new(path)).ok()?;
    if file.metadata().ok()?.len() > MAX_TRANSCRIPT_BYTES {
        return None; // a partial sum would be wrong: leave it to the relay
    }
    let file = std::io::Read::take(file, MAX_TRANSCRIPT_BYTES);
    let mut seen = BTreeSet::new();
    let mut usage = TokenUsage::default();
    let mut in_turn = prompt_id.is_none();
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        // Cheap filter before parsing: only user and assistant lines matter.
        if !(line.contains("\"type\":\"assistant\"") || line.contains("\"type\":\"user\"")) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        match v.get("type").and_then(Value::as_str) {
            Some("user") => {
                if let (Some(want), Some(p)) = (prompt_id, v.get("promptId").and_then(Value::as_str)) {
                    in_turn = p == want;
                }
            }
            Some("assistant") if in_turn => {
                let Some(msg) = v.get("message") else { continue };
                let id = msg.get("id").and_then(Value::as_str).or_else(|| v.get("requestId").and_then(Value::as_str));
                if let Some(id) = id {
                    if !seen.insert(id.to_string()) {
                        continue;
                    }
                }
                let Some(u) = msg.get("usage") else { continue };
                let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                usage.input_tokens += n("input_tokens");
                usage.output_tokens += n("output_tokens");
                usage.cache_read_input_tokens += n("cache_read_input_tokens");
                usage.cache_creation_input_tokens += n("cache_creation_input_tokens");
                usage.messages += 1;
                if let Some(m) = msg.get("model").and_then(Value::as_str) {
                    usage.model = Some(m.to_string());
                }
            }
            _ => {}
        }
    }
    (usage.messages > 0).then_some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sums_a_turn_counting_each_message_once() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let lines = [
            r#"{"type":"user","promptId":"p1","message":{"content":"hi"}}"#,
            r#"{"type":"assistant","message":{"id":"m1","model":"claude-x","usage":{"input_tokens":100,"output_tokens":10}}}"#,
            r#"{"type":"assistant","message":{"id":"m1","model":"claude-x","usage":{"input_tokens":100,"output_tokens":10}}}"#,
            r#"{"type":"attachment"}"#,
            r#"{"type":"user","promptId":"p1","message":{"content":[{"type":"tool_result"}]}}"#,
            r#"{"type":"assistant","message":{"id":"m2","model":"claude-x","usage":{"input_tokens":50,"output_tokens":5,"cache_read_input_tokens":7}}}"#,
            r#"{"type":"user","promptId":"p2","message":{"content":"next"}}"#,
            r#"{"type":"assistant","message":{"id":"m3","usage":{"input_tokens":1,"output_tokens":1}}}"#,
        ];
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        let p = f.path().to_str().unwrap();
        let u = from_transcript(p, Some("p1")).unwrap();
        assert_eq!((u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.messages), (150, 15, 7, 2));
        assert_eq!(u.model.as_deref(), Some("claude-x"));
        assert_eq!(from_transcript(p, None).unwrap().messages, 3);
        assert!(from_transcript("/nonexistent", None).is_none());
    }
}
