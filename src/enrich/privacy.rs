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

/// How a free-text field is stored with content capture off (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Stored, redacted and capped at `capture.max_bytes`.
    Kept,
    /// Stored redacted and capped, but each heredoc body in it becomes a size and a SHA-256.
    KeptHeredocsDigested,
    /// Size and SHA-256 only (`[content omitted: N bytes sha256=…]`).
    Digest,
    /// Kept (redacted, capped) when `capture.prompts` is on (the default), else a digest.
    Prompt,
}

impl Treatment {
    pub fn describe(self) -> &'static str {
        match self {
            Treatment::Kept => "kept (redacted, capped)",
            Treatment::KeptHeredocsDigested => "kept (redacted, capped); heredoc bodies: size + hash",
            Treatment::Digest => "size + hash",
            Treatment::Prompt => "kept (redacted, capped) while `capture.prompts` is on, else size + hash",
        }
    }
}

/// One free-text field of a hook event and how it is stored with content capture off.
/// `event`: the hook event, with the tool in brackets for tool fields (`*`: any). `field`: its
/// place in the payload (`a.b`, `[]` for every element of an array).
pub struct FieldRule {
    pub event: &'static str,
    pub field: &'static str,
    pub treatment: Treatment,
}

const fn f(event: &'static str, field: &'static str, treatment: Treatment) -> FieldRule {
    FieldRule { event, field, treatment }
}

use Treatment::*;

/// The privacy table: every free-text field of every hook event (ids, enums, paths, numbers and
/// booleans are kept, redacted). The sanitiser reads its decisions from here (top-level fields
/// by event, `tool_input` fields by name for every tool); docs/security.md shows it, and a test
/// feeds each row to the hook and checks the stored record.
pub const FIELDS: &[FieldRule] = &[
    f("UserPromptSubmit", "prompt", Prompt),
    f("UserPromptExpansion", "prompt", Prompt),
    f("PreToolUse(Bash)", "tool_input.command", KeptHeredocsDigested),
    f("PreToolUse(Bash)", "tool_input.description", Kept),
    f("PreToolUse(Write)", "tool_input.content", Digest),
    f("PreToolUse(Edit)", "tool_input.old_string", Digest),
    f("PreToolUse(Edit)", "tool_input.new_string", Digest),
    f("PreToolUse(MultiEdit)", "tool_input.edits[].new_string", Digest),
    f("PreToolUse(NotebookEdit)", "tool_input.new_source", Digest),
    f("PreToolUse(ExitPlanMode)", "tool_input.plan", Digest),
    f("PreToolUse(TodoWrite)", "tool_input.todos[].content", Digest),
    f("PreToolUse(TodoWrite)", "tool_input.todos[].activeForm", Digest),
    f("PreToolUse(TaskCreate)", "tool_input.subject", Kept),
    f("PreToolUse(TaskCreate)", "tool_input.activeForm", Digest),
    f("PreToolUse(Agent)", "tool_input.prompt", Prompt),
    f("PreToolUse(Agent)", "tool_input.description", Kept),
    f("PreToolUse(SendMessage)", "tool_input.message", Digest),
    f("PreToolUse(WebFetch)", "tool_input.prompt", Prompt),
    f("PreToolUse(WebFetch)", "tool_input.url", Kept),
    f("PreToolUse(WebSearch)", "tool_input.query", Kept),
    f("PreToolUse(Grep)", "tool_input.pattern", Kept),
    f("PreToolUse(mcp__*)", "tool_input.text", Digest),
    f("PreToolUse(mcp__*)", "tool_input.body", Digest),
    f("PreToolUse(mcp__*)", "tool_input.source", Digest),
    f("PreToolUse(mcp__*)", "tool_input.query", Kept),
    f("PostToolUse(Bash)", "tool_response.stdout", Digest),
    f("PostToolUse(Read)", "tool_response.file.content", Digest),
    f("PostToolUse(Agent)", "tool_response.content[].text", Digest),
    f("PostToolUse(mcp__*)", "tool_response.content[].text", Digest),
    f("PostToolUse(mcp__*)", "tool_response.name", Digest),
    f("PostToolUse(mcp__*)", "tool_response.status", Digest),
    f("PostToolUseFailure(Bash)", "error", Digest),
    f("Stop", "last_assistant_message", Digest),
    f("SubagentStop", "last_assistant_message", Digest),
    f("Stop", "background_tasks[].description", Digest),
    f("StopFailure", "error", Kept),
    f("Notification", "message", Digest),
    f("Notification", "title", Digest),
    f("MessageDisplay", "delta", Digest),
    f("PreCompact", "custom_instructions", Digest),
    f("PostCompact", "custom_instructions", Digest),
    f("PostCompact", "compact_summary", Digest),
    f("Elicitation", "message", Digest),
    f("Elicitation", "requested_schema.properties.x.description", Digest),
    f("ElicitationResult", "content.answer", Digest),
    f("TaskCreated", "task_subject", Kept),
    f("TaskCreated", "task_description", Digest),
    f("TaskCompleted", "task_subject", Kept),
    f("TaskCompleted", "task_description", Digest),
    f("SessionEnd", "reason", Kept),
];

/// A top-level field of `event` whose whole value is content (any depth below it).
fn top_level_content(event: &str, key: &str) -> bool {
    // Only rules for the field itself or below it, not `tool_input`/`tool_response`.
    if matches!(key, "tool_input" | "tool_response" | "error") || key.contains(['.', '[']) {
        return false;
    }
    // Compared by prefix (this runs for every top-level key of every payload): the rule's
    // event up to `(` is `event`, its field up to `.` or `[` is `key`.
    FIELDS.iter().any(|r| {
        r.treatment == Digest
            && r.event.strip_prefix(event).is_some_and(|rest| rest.is_empty() || rest.starts_with('('))
            && r.field.strip_prefix(key).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

/// A `tool_input` key (at any depth, for every tool) whose value is content.
fn input_content_key(key: &str) -> bool {
    if matches!(key, "content" | "old_string" | "new_string") {
        return true;
    }
    // The field's last name (after its last `.` or `]`) is `key`.
    !key.contains(['.', ']'])
        && FIELDS.iter().any(|r| {
            r.treatment == Digest
                && r.field.starts_with("tool_input.")
                && r.field.strip_suffix(key).is_some_and(|head| head.ends_with(['.', ']']))
        })
}

/// The table as markdown (docs/security.md, "Privacy: field by field").
pub fn markdown_table() -> String {
    let mut out = String::from("| event (tool) | field | with content capture off |\n|---|---|---|\n");
    for r in FIELDS {
        out.push_str(&format!("| {} | `{}` | {} |\n", r.event, r.field, r.treatment.describe()));
    }
    out
}

/// `tool_response` fields that are metadata, kept (redacted) when short.
const OUTPUT_METADATA_KEYS: &[&str] = &[
    "type",
    "filePath",
    "file_path",
    "status",
    "agentId",
    "agent_id",
    "description",
    "resolvedModel",
    "kind",
    "interrupted",
    "isImage",
    "returnCodeInterpretation",
    "exitCode",
    "code",
    "url",
    "query",
    "subagent_type",
    "model",
    "outputFile",
    "name",
    "mode",
    "operation",
    "backgroundTaskId",
    "shellId",
    "totalDurationMs",
    "totalTokens",
    "totalToolUseCount",
    "durationMs",
    "noOutputExpected",
    "isAsync",
    "canReadOutputFile",
    "canContinueAgent",
    "userModified",
    "replaceAll",
    "numFiles",
    "numLines",
    "startLine",
    "totalLines",
    "truncated",
    "bytes",
    "codeText",
    "agentType",
    "toolsUsed",
    "service_tier",
    "speed",
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
    /// A failed tool's error text: output, but its `Exit code N` line is metadata.
    Error,
    /// Content all the way down: no field under it is metadata (a top-level content field of
    /// the privacy table, an MCP tool's response).
    Content,
}

/// Walks payload values, applying the privacy rules and redaction.
pub(crate) struct Sanitizer<'c> {
    capture: &'c CaptureConfig,
    pub redactor: Redactor,
    /// Strings replaced by a digest.
    pub omitted: u32,
    /// The payload is a PostToolUseFailure (its `error` is tool output).
    pub failure: bool,
    /// The payload's hook event.
    event: String,
    /// The tool is an MCP server's: its response is content through and through (no metadata
    /// fields kept).
    mcp: bool,
}

/// Content this module replaces is named by its digest (see [`crate::text::sha256_hex`]).
pub use crate::text::sha256_hex;

impl<'c> Sanitizer<'c> {
    pub(crate) fn new(capture: &'c CaptureConfig) -> Self {
        Sanitizer { capture, redactor: Redactor::new(), omitted: 0, failure: false, event: String::new(), mcp: false }
    }

    /// Sanitizes a whole payload in place.
    pub(crate) fn payload(&mut self, v: &mut Value) {
        self.event = v.get("hook_event_name").and_then(Value::as_str).unwrap_or("").to_string();
        self.failure = self.event == "PostToolUseFailure";
        self.mcp = v.get("tool_name").and_then(Value::as_str).is_some_and(|t| t.starts_with("mcp__"));
        self.walk(v, Ctx::Normal, 0);
    }

    /// Redacts and caps one free-standing string (e.g. an excerpt of bad input): redaction
    /// first, so a secret straddling the cap is removed whole.
    pub(crate) fn text(&mut self, s: &str, cap: usize) -> String {
        let (out, cut) = self.redactor.redact_capped(s, cap);
        let mut out = out.unwrap_or_else(|| s.to_string());
        if cut {
            out.push_str(&format!("…[truncated: {} bytes]", s.len()));
        }
        out
    }

    fn walk(&mut self, v: &mut Value, ctx: Ctx, depth: usize) {
        if depth >= MAX_DEPTH && (v.is_array() || v.is_object()) {
            // Readers (the relay, serde_json's default limit of 128) must be able to read the
            // record back, which nests the payload a few levels deeper still.
            let text = v.to_string();
            *v = Value::String(format!(
                "[nesting deeper than {MAX_DEPTH} levels omitted: {} bytes sha256={}]",
                text.len(),
                sha256_hex(text.as_bytes())
            ));
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
                self.redact_keys(map);
                for (key, child) in map.iter_mut() {
                    // A value whose key names a secret is one, whatever its shape, wherever it
                    // is (an unknown key, an MCP tool's input, the output): removed whole, not
                    // digested (a digest of a short password can be guessed back).
                    if let Value::String(s) = child {
                        if super::redact::secret_key(key) && !super::redact::not_a_secret_value(s) {
                            *s = format!("[REDACTED:{}]", super::redact::SECRET_FIELD_KIND);
                            self.redactor.note(super::redact::SECRET_FIELD_KIND);
                            continue;
                        }
                    }
                    let child_ctx = match (ctx, key.as_str()) {
                        (Ctx::Content, _) => Ctx::Content,
                        (_, "tool_response") if self.mcp => Ctx::Content,
                        (Ctx::Normal, k) if depth == 0 && top_level_content(&self.event, k) => Ctx::Content,
                        (_, "tool_input") => Ctx::ToolInput,
                        (_, "tool_response") | (_, "last_assistant_message") | (Ctx::Normal, "delta") => Ctx::Output,
                        (Ctx::Normal | Ctx::ToolInput, "prompt") => Ctx::Prompt,
                        // PostToolUseFailure's error carries the command's stderr: tool output.
                        (Ctx::Normal, "error") if depth == 0 && self.failure => Ctx::Error,
                        (Ctx::ToolInput, k) if input_content_key(k) => Ctx::Output,
                        (Ctx::ToolInput, "command") if depth == 1 && !self.capture.content => {
                            if let Value::String(s) = child {
                                self.omit_heredoc_bodies(s);
                            }
                            Ctx::ToolInput
                        }
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
            Ctx::Output | Ctx::Error | Ctx::Content => !self.capture.content,
            Ctx::Prompt => !self.capture.prompts,
            Ctx::Normal | Ctx::ToolInput => false,
        };
        if omit && ctx == Ctx::Error && exit_code_line(s) == Some(s.as_str()) {
            return; // just `Exit code N`: no output in it
        }
        if omit {
            let exit_line = (ctx == Ctx::Error).then(|| exit_code_line(s)).flatten();
            let digest = self.digest(s.as_bytes());
            *s = match exit_line {
                Some(line) => format!("{line} {digest}"),
                None => digest,
            };
            return;
        }
        if ctx == Ctx::Prompt && !self.capture.content {
            self.omit_background_results(s);
        }
        // Redact the whole string, then cap: a secret straddling the cap is removed whole.
        let cap = self.capture.max_bytes;
        let (out, cut) = self.redactor.redact_capped(s, cap);
        if let Some(mut kept) = out {
            if cut {
                kept.push_str(&format!("…[truncated: {} bytes sha256={}]", s.len(), sha256_hex(s.as_bytes())));
            }
            *s = kept;
        }
    }

    /// JSON keys are stored too: a key that holds a secret is redacted like a value.
    fn redact_keys(&mut self, map: &mut serde_json::Map<String, Value>) {
        if !map.keys().any(|k| !self.redactor.is_clean(k)) {
            return;
        }
        let old = std::mem::take(map);
        for (mut k, v) in old {
            self.redactor.redact_in_place(&mut k);
            // Two keys redacted to the same text keep both values.
            while map.contains_key(&k) {
                k.push('\'');
            }
            map.insert(k, v);
        }
    }

    /// Heredoc bodies in a command (`cat > f <<'EOF'` … `EOF`) are file content: each becomes
    /// a size and a SHA-256; the command line and the delimiter lines stay.
    fn omit_heredoc_bodies(&mut self, s: &mut String) {
        if !s.contains("<<") || !s.contains('\n') {
            return;
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        let mut changed = false;
        while let Some(at) = rest.find("<<") {
            let after = &rest[at + 2..];
            // `<<<` is a here-string (one word on the line), not a heredoc.
            if let Some(past) = after.strip_prefix('<') {
                out.push_str(&rest[..at + 3]);
                rest = past;
                continue;
            }
            let spec = after.trim_start_matches(['-', '~']).trim_start();
            let word: String = spec
                .trim_start_matches(['\'', '"', '\\'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
                .collect();
            let Some(nl) = after.find('\n') else { break };
            // A delimiter is a name (`1<<3` is arithmetic); a quoted one may be anything.
            let quoted = spec.starts_with(['\'', '"', '\\']);
            if word.is_empty() || !(quoted || word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')) {
                out.push_str(&rest[..at + 2]);
                rest = after;
                continue;
            }
            let body_start = at + 2 + nl + 1;
            let body = &rest[body_start..];
            // The body ends at the first line that is the word (leading tabs allowed for `<<-`).
            let mut end = body.len();
            let mut close = body.len();
            let mut pos = 0;
            for line in body.split_inclusive('\n') {
                if line.trim_end_matches(['\n', '\r']).trim_start_matches('\t') == word {
                    end = pos;
                    close = pos;
                    break;
                }
                pos += line.len();
            }
            out.push_str(&rest[..body_start]);
            let text = body[..end].to_string();
            out.push_str(&self.digest(text.as_bytes()));
            out.push('\n');
            changed = true;
            rest = &body[close..];
        }
        if changed {
            out.push_str(rest);
            *s = out;
        }
    }

    /// A background agent's result arrives as a user prompt (`<task-notification>` … `<result>`
    /// … `</result>`): with content capture off, that result is tool output, kept as a digest.
    fn omit_background_results(&mut self, s: &mut String) {
        if !s.contains("<task-notification>") {
            return;
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(open) = rest.find("<result>") {
            let body_start = open + "<result>".len();
            let body_end = rest[body_start..].find("</result>").map(|e| body_start + e).unwrap_or(rest.len());
            out.push_str(&rest[..body_start]);
            let body = rest[body_start..body_end].to_string();
            out.push_str(&self.digest(body.as_bytes()));
            rest = &rest[body_end..];
        }
        out.push_str(rest);
        *s = out;
    }

    fn digest(&mut self, bytes: &[u8]) -> String {
        self.omitted += 1;
        format!("[content omitted: {} bytes sha256={}]", bytes.len(), sha256_hex(bytes))
    }
}

/// `Exit code N` when it is the error text's first line (a fact about the run, not output).
fn exit_code_line(s: &str) -> Option<&str> {
    let first = s.lines().next()?;
    let n = first.strip_prefix("Exit code ")?;
    (!n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit())).then_some(first)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
/// Never ends inside a long token-like run (see [`super::redact::safe_cut`]).
pub(crate) fn cap_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    &s[..super::redact::safe_cut(s, max)]
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
