//! The journal's record: one normalised line per hook event, in the seed's log schema extended
//! with the multi-agent fields (`agent_context`, `session_context`, `tool_context`,
//! `resource_usage`) and the chain fields (`seq`, `prev_hash`, `hash`).
//!
//! The same type is written by the hook and read by `verify`, `status` and the relay. Fields are
//! optional where an event may not carry them; unknown payload fields survive in `raw_input`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bump when the meaning of a field changes; readers may branch on it.
pub(crate) const TELEMETRY_VERSION: &str = concat!("agent-telemetry/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    #[default]
    Info,
    Warn,
    Error,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The record level a finding of this severity raises the record to.
    pub(crate) fn level(self) -> Level {
        match self {
            Severity::Low | Severity::Medium => Level::Warn,
            Severity::High | Severity::Critical => Level::Error,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JournalRecord {
    /// Position in the chain, from 0, gap-free across segments.
    pub seq: u64,
    /// `hash` of the previous record (64 zeros for the first).
    pub prev_hash: String,
    /// RFC 3339, UTC, nanoseconds: the hook's own clock (payloads carry no time).
    pub timestamp: String,
    pub time_unix_nano: u64,
    pub level: Level,
    pub event_type: String,
    pub hook_event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    pub telemetry_enabled: bool,
    #[serde(default)]
    pub action_details: ActionDetails,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub agent_context: AgentContext,
    #[serde(default)]
    pub session_context: SessionContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_context: Option<ToolContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_context: Option<CommandContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_usage: Option<ResourceUsage>,
    /// Tokens of the turn (Stop) or subagent (SubagentStop) that just ended, from the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    /// What the hook could not read as a normal payload, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_error: Option<InputError>,
    /// A `model_call` record's request, read by the relay from the transcript (metadata only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_call: Option<ModelCallInfo>,
    /// On a `telemetry_gap` / `telemetry_restored` record: what went dark or came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
    /// On a `behaviour` record: the sequence of a session's records that completed a pattern
    /// (see `relay::behaviour`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behaviour: Option<Behaviour>,
    /// The payload as received, less content (privacy) and secrets (redaction).
    #[serde(default)]
    pub raw_input: Value,
    /// Chain hash of this record; written last on the line (see `journal::chain`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    /// When the hook (or the relay's http endpoint) started on this event: the journal turns it
    /// into `metadata.hook_us` as it writes the line. Not serialised.
    #[serde(skip)]
    pub started: Option<std::time::Instant>,
}

impl JournalRecord {
    /// The record's hook event, typed.
    pub(crate) fn event(&self) -> crate::event::HookEvent {
        crate::event::HookEvent::parse(&self.hook_event)
    }
}

/// What the action touched, in the seed's names; empty strings are left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ActionDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// `file_path` made absolute, `..` resolved and symlinks followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub outside_project_scope: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outside_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_tool: Option<String>,
    /// SHA-256 of the content the tool read or wrote, when content is not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
}

/// Security signals computed by the hook (see `enrich::policy`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Security {
    #[serde(default)]
    pub outside_project_scope: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub sensitive_access: bool,
    /// The highest severity among `findings`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Severity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Secrets replaced by `[REDACTED:<kind>]` anywhere in this record.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redactions: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redaction_kinds: Vec<String>,
    /// Set when enforce mode denied the tool call (PreToolUse, exit code 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
}

/// One policy rule that fired.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub rule: String,
    pub category: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// What matched (a path or an excerpt of a command), redacted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub matched: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    pub telemetry_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// `project` (enabled by a marker) or `user` (enabled for every project by config).
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// Content capture was on for this record (the default is metadata only).
    #[serde(default, skip_serializing_if = "is_false")]
    pub content_captured: bool,
    /// A problem with the hook's own configuration (the defaults were used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    /// Events the hook could not journal since the last record (disk full, I/O errors): the
    /// first record written afterwards says how many were lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_lost: Option<u64>,
    /// `http` when the event came as a POST to the relay (`type: "http"` hooks); absent for the
    /// command hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// The hook's own time on this event, in µs: from the hook process's start (for the http
    /// transport: the request's arrival) to the moment this line was encoded under the journal
    /// lock — reading stdin, the configuration, the analysis and the wait for the lock. Not in
    /// it: the process start before `main` (exec, loading; ~0.9 ms for a do-nothing binary) and
    /// the write itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_us: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentContext {
    /// Subagent id from the payload (`agent_id`), absent for the main agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Subagent type from the payload, `claude-code` for the main agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// This agent's identity in a fleet, from config or `AGENT_TELEMETRY_AGENT_*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_agent_id: Option<String>,
    /// The fleet agent's type (`agent.type`): config/env, else the registry entry's, else `claude-code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_agent_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_role: Option<String>,
    /// The instance: the Claude Code process (host + pid) this event came from. One agent id
    /// may run as several instances at once; a resumed session is a new instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The fleet registry entry this agent matched (`fleet.toml`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_entry: Option<String>,
    /// How: `agent_id` (the configured id is an entry), `project` (an entry lists the project),
    /// or `none` (no registry, or no entry matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_match: Option<String>,
    /// For a subagent: the `Agent` tool call that spawned it (from the subagent's `meta.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_tool_use_id: Option<String>,
    /// For a nested subagent: the subagent that spawned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_depth: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The session that started this one (`AGENT_PARENT_SESSION`, written by our SessionStart hook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_session: Option<String>,
    /// W3C trace context inherited from the environment (a parent agent's session span).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<String>,
    /// The Claude worktree the session runs in (`claude --worktree NAME`), and its branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The workflow the session belongs to (`AGENT_TELEMETRY_WORKFLOW_ID`, set by whatever
    /// started the agents; handed on to the sessions this one starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// SessionStart `source` (startup, resume, clear, compact) or SessionEnd `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ToolContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `true` on PostToolUse, `false` on PostToolUseFailure, absent before the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_interrupt: Option<bool>,
    /// For an `Agent` call: the subagent it started (`tool_response.agentId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned_agent_id: Option<String>,
    /// For an `Agent` call: `async_launched`, `completed`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Lines a Write/Edit/NotebookEdit changed (from `structuredPatch`), and the diff with capture on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChangeSummary {
    pub lines_added: u64,
    pub lines_removed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hunks: Option<u64>,
    /// `create` or `update` where the tool says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// A slash command (`/name args`, e.g. SuperClaude's `/sc:*`) or a prompt expansion.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CommandContext {
    pub slash_command: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arguments: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ResourceUsage {
    pub claude_pid: u32,
    /// Average CPU of the Claude process since it started, in percent of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    /// Distinct API messages counted.
    pub messages: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputError {
    /// empty, invalid_json, invalid_utf8, not_an_object, unexpected_types, repaired (lone
    /// surrogates, deep nesting, duplicate keys: see `payload::lenient`), too_large, read_error, internal
    pub kind: String,
    pub reason: String,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The start of the input (redacted), to help diagnose what was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Earlier values of duplicated keys (sanitised like the payload): the payload keeps the
    /// last; each of these was analysed too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<DuplicateValue>,
}

/// Why telemetry went dark (or came back) for a project or a session; the record's
/// `project_path` and `session_id` say where (see `relay::gaps`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// `settings_entry_removed`, `hooks_disabled`, `marker_removed` or `session_silent`.
    pub reason: String,
    /// `relay` (it checks) or `hook` (the next hook run in a project whose marker is gone).
    pub detected_by: String,
    /// The last record seen from the project or session before the gap (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// What exactly: the settings file and the events no longer recorded, the marker's path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Hook events whose registration of our hook is gone (`settings_entry_removed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// `session_silent`: seconds without a record; on `telemetry_restored`: how long it lasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_secs: Option<u64>,
    /// `session_silent`: the session's last record left it waiting for the user (a Stop, a
    /// permission prompt), so silence there is expected for a while.
    #[serde(default, skip_serializing_if = "is_false")]
    pub waiting_for_user: bool,
}

/// A pattern found across a session's records (its subagents included) by the relay: what it
/// was, which records made it, and the threshold it crossed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    /// `retry_loop`, `exfiltration`, `mass_change`, `runaway` or `stalled` (the finding's rule
    /// is `behaviour.<pattern>`).
    pub pattern: String,
    /// Names this finding once: `<session>:<pattern>:<seq of the record that completed it>`.
    /// The relay never writes two records with one key.
    pub key: String,
    /// The journal records that make the pattern (their `seq`, the last completed it; at most
    /// the last 32).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seqs: Vec<u64>,
    /// How many: failures in a row, changes in the window, reads without a write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The threshold crossed (`[behaviour]` settings), as a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// What, in words (redacted).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One earlier value of a duplicated key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DuplicateValue {
    /// JSON pointer of the key (`/tool_input/command`).
    pub pointer: String,
    pub value: Value,
}

/// One model request as the transcript records it, with its estimated cost. Written by the
/// relay into the journal, so the audit trail (and `sessions`, the dashboards, an exported copy)
/// holds model usage without the transcripts. The transcript is the agent's own file: these
/// figures are what it says, no more (`source`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelCallInfo {
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The model asked for (what the cost is priced by).
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    /// Estimated USD; absent when the price table does not know the model (never guessed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub price_table: String,
    /// The `chat` span of this request (hex), so its log record links to it.
    pub trace_id: String,
    pub span_id: String,
    pub source: String,
}
