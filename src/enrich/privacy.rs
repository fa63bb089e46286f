//! Privacy: the seed promises metadata, not content. Before anything is stored, the payload is
//! walked once: file contents, tool outputs and model messages become a size and a SHA-256 (or,
//! with content capture on, are kept redacted and capped), every other string is redacted and
//! capped, and the count of redactions is kept for the record.
//!
//! Which strings are content is decided by where they sit: under `tool_response` (and the model's
//! text: `last_assistant_message`, MessageDisplay's `delta`) everything but short, known metadata
//! fields; under `tool_input` the fields that carry file text (`content`, `old_string`,
//! `new_string`, `new_source`, ...).

use super::redact::Redactor;
use crate::config::CaptureConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `tool_input` fields that carry file text.
const INPUT_CONTENT_KEYS: &[&str] = &["content", "old_string", "new_string", "new_source", "source", "text"];

/// `tool_response` fields that are metadata, kept (redacted) when short.
const OUTPUT_METADATA_KEYS: &[&str] = &[
    "type", "filePath", "file_path", "status", "agentId", "agent_id", "description", "resolvedModel",
    "kind", "interrupted", "isImage", "returnCodeInterpretation", "exitCode", "code", "url", "query",
    "subagent_type", "model", "outputFile", "name", "mode", "operation", "backgroundTaskId",
    "shellId", "totalDurationMs", "totalTokens", "totalToolUseCount", "durationMs", "noOutputExpected",
    "isAsync", "canReadOutputFile", "canContinueAgent", "userModified", "replaceAll", "numFiles",
    "numLines", "startLine", "totalLines", "truncated", "bytes", "codeText", "agentType", "toolsUsed",
    "service_tier", "speed",
];

/// Payload nesting kept; deeper values become a digest.
const MAX_DEPTH: usize = 64;

/// Strings longer than this under an output's metadata key are treated as content anyway.
const METADATA_MAX: usize = 512;

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Normal,
    ToolInput,
    Output,
    Prompt,
}

/// Walks payload values, applying the privacy rules and redaction.
pub struct Sanitizer<'c> {
    capture: &'c CaptureConfig,
    pub redactor: Redactor,
    /// Strings replaced by a digest.
    pub omitted: u32,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::ids::hex(&Sha256::digest(bytes))
}

impl<'c> Sanitizer<'c> {
    pub fn new(capture: &'c CaptureConfig) -> Self {
        Sanitizer { capture, redactor: Redactor::new(), omitted: 0 }
    }

    /// Sanitizes a whole payload in place.
    pub fn payload(&mut self, v: &mut Value) {
        self.walk(v, Ctx::Normal, 0);
    }

    /// Redacts and caps one free-standing string (e.g. an excerpt of bad input).
    pub fn text(&mut self, s: &str, cap: usize) -> String {
        let capped = cap_str(s, cap);
        let mut out = self.redactor.redact(capped).unwrap_or_else(|| capped.to_string());
        if capped.len() < s.len() {
            out.push_str(&format!("…[truncated: {} bytes]", s.len()));
        }
        out
    }

    fn walk(&mut self, v: &mut Value, ctx: Ctx, depth: usize) {
        if depth >= MAX_DEPTH && (v.is_array() || v.is_object()) {
            // Readers (the relay, serde_json's default limit of 128) must be able to read the
            // record back, which nests the payload a few levels deeper still.
            let text = v.to_string();
            *v = Value::String(format!("[nesting deeper than {MAX_DEPTH} levels omitted: {} bytes sha256={}]", text.len(), sha256_hex(text.as_bytes())));
            self.omitted += 1;
            return;
        }
        match v {
            Value::String(s) => self.string(s, ctx),
            Value::Array(items) => {
                for item in items {
                    self.walk(item, ctx, depth + 1);
                }
            }
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    let child_ctx = match (ctx, key.as_str()) {
                        (_, "tool_input") => Ctx::ToolInput,
                        (_, "tool_response") | (_, "last_assistant_message") | (Ctx::Normal, "delta") => Ctx::Output,
                        (Ctx::Normal | Ctx::ToolInput, "prompt") => Ctx::Prompt,
                        (Ctx::ToolInput, k) if INPUT_CONTENT_KEYS.contains(&k) => Ctx::Output,
                        (Ctx::Output, "structuredPatch") => {
                            let text = child.to_string();
                            if !self.capture.content {
                                *child = Value::String(self.digest(text.as_bytes()));
                                continue;
                            }
                            Ctx::Output
                        }
                        (Ctx::Output, k)
                            if OUTPUT_METADATA_KEYS.contains(&k)
                                && child.as_str().is_some_and(|s| s.len() <= METADATA_MAX) =>
                        {
                            Ctx::Normal
                        }
                        (c, _) => c,
                    };
                    self.walk(child, child_ctx, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, s: &mut String, ctx: Ctx) {
        let omit = match ctx {
            Ctx::Output => !self.capture.content,
            Ctx::Prompt => !self.capture.prompts,
            Ctx::Normal | Ctx::ToolInput => false,
        };
        if omit {
            *s = self.digest(s.as_bytes());
            return;
        }
        let cap = self.capture.max_bytes;
        if s.len() > cap {
            let full = std::mem::take(s);
            let mut kept = cap_str(&full, cap).to_string();
            self.redactor.redact_in_place(&mut kept);
            kept.push_str(&format!("…[truncated: {} bytes sha256={}]", full.len(), sha256_hex(full.as_bytes())));
            *s = kept;
        } else {
            self.redactor.redact_in_place(s);
        }
    }

    fn digest(&mut self, bytes: &[u8]) -> String {
        self.omitted += 1;
        format!("[content omitted: {} bytes sha256={}]", bytes.len(), sha256_hex(bytes))
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub fn cap_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(capture: CaptureConfig, mut v: Value) -> (Value, u32, u32) {
        let mut s = Sanitizer::new(&capture);
        s.payload(&mut v);
        (v, s.redactor.count, s.omitted)
    }

    #[test]
    fn content_becomes_a_digest_by_default() {
        let (v, red, omitted) = run(
            CaptureConfig::default(),
            json!({
                "tool_input": {"file_path": "a.txt", "content": "hello AKIAIOSFODNN7EXAMPLE", "command": "echo AKIAIOSFODNN7EXAMPLE"},
                "tool_response": {"type": "create", "filePath": "a.txt", "stdout": "secret output",
                                  "structuredPatch": [{"lines": ["+x"]}]},
                "last_assistant_message": "done",
                "prompt": "please"
            }),
        );
        let text = v.to_string();
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
        assert!(!text.contains("secret output"));
        assert_eq!(v["tool_input"]["file_path"], "a.txt");
        assert_eq!(v["tool_response"]["type"], "create");
        assert!(v["tool_input"]["content"].as_str().unwrap().starts_with("[content omitted: 26 bytes sha256="));
        assert_eq!(v["prompt"], "please");
        assert_eq!(red, 1, "only the command is kept and redacted");
        assert_eq!(omitted, 4);
    }

    #[test]
    fn capture_keeps_content_redacted_and_capped() {
        let capture = CaptureConfig { content: true, max_bytes: 40, prompts: false };
        let long = "x".repeat(100);
        let (v, red, _) = run(
            capture,
            json!({"tool_input": {"content": "key AKIAIOSFODNN7EXAMPLE"}, "tool_response": long, "prompt": "p"}),
        );
        assert_eq!(v["tool_input"]["content"], "key [REDACTED:aws_access_key_id]");
        assert!(v["tool_response"].as_str().unwrap().contains("[truncated: 100 bytes"));
        assert!(v["prompt"].as_str().unwrap().starts_with("[content omitted"));
        assert_eq!(red, 1);
    }

    #[test]
    fn cap_respects_char_boundaries() {
        assert_eq!(cap_str("héllo", 2), "h");
    }
}
