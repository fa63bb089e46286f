//! How fast an agent works, measured from the transcripts Claude Code writes
//! (`~/.claude/projects/<project>/<session>.jsonl`, its subagents' transcripts beside it): per
//! session the prompts, turns, tool calls, subagents, model calls, tokens, active time, and the
//! hook events the CLI fires for that work, derived entry by entry. `just bench-rate [DIR]`
//! prints them with a fleet summary; `docs/deployment.md` sizes a deployment from it.
//!
//! The relay's incremental reader ([`crate::transcript::Tail`]) keeps model calls only; this one
//! reads whole files and counts what the hook events depend on (tool calls and their results,
//! prompts, turns, subagents), with the same time parser. Like it, only metadata is read: message content is skipped unread, except
//! the first characters of a text or a tool result, looked at to classify it (a prompt, an
//! interruption, a local command, a call refused before it ran) and never kept.
//!
//! The mapping from transcript entries to hook events (checked against the real CLI's hook calls
//! of `tests/data/recordings`, which hold both, in `tests/fast/agent_rate.rs`):
//! - `UserPromptSubmit`: a user entry of the main agent with text that is not meta, not a
//!   compaction summary, not a local slash command (`<command-name>…`, `<local-command-…>`) nor
//!   an interruption notice; and a prompt queued while the agent worked (a `queued_command`
//!   attachment: typed ahead, or a background task's notification).
//! - `Stop`: a turn of the main agent that ended with an answer (the last assistant message
//!   before the next prompt, or the end, has no tool call). An interrupted turn has none.
//! - `PreToolUse` per tool call that ran; then `PostToolUse`, or `PostToolUseFailure` when its
//!   result is an error. A call refused before it ran (unknown tool, invalid input: the result
//!   is a `<tool_use_error>`) fires neither; a call with no result (interrupted) fires only Pre.
//! - `PostToolBatch` per assistant message with tool calls (main agent and subagents).
//! - `MessageDisplay` per assistant message of the main agent with text.
//! - `SubagentStart` + `SubagentStop` per run of a subagent (a revived agent runs again in the
//!   same transcript); a `Warmup` sidechain (some 2.0 versions) is no subagent.
//! - `TaskCreated` per `TaskCreate` call, `TaskCompleted` per `TaskUpdate` to `completed`.
//! - Per compaction: `PreCompact`, `PostCompact`, a `SessionStart` (source `compact`) and two
//!   `SubagentStop` (the summariser's forks, which have no start).
//! - `SessionStart` + `SessionEnd` per run of the CLI: a run ends with a `cost-state` entry
//!   (versions that write one); entries after the last one are a run still open (Start only).
//!
//! Not derivable, so not counted: `Notification`, `PermissionRequest`, `PermissionDenied` (an
//! interactive permission prompt leaves no trace in the transcript), `InstructionsLoaded`,
//! `FileChanged`, `CwdChanged`, `ConfigChange`, the worktree and elicitation events. For an
//! interactive session the figures are a floor.
//!
//! Active time: the session's entries (every agent's) in time order, with every gap longer than
//! the idle threshold (default 5 minutes) removed: the hours the agent (or its user) was at work,
//! not the hours a terminal stayed open. Entries seen before (same `uuid`: a resumed session
//! that copied its history into a new file) are counted once.

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// What one hook event becomes downstream, measured by `just bench-sizing` on the recorded real
/// sessions (the figures of `docs/deployment.md`, "What one agent sends").
pub mod per_event {
    /// Log records per hook event (the event, plus model calls and transcript records).
    pub const LOG_RECORDS: f64 = 1.32;
    /// OTLP protobuf bytes of log records per hook event, raw and gzip.
    pub const LOG_BYTES: f64 = 3590.0;
    pub const LOG_BYTES_GZIP: f64 = 363.0;
    /// Spans per hook event.
    pub const SPANS: f64 = 0.67;
    /// OTLP protobuf bytes of spans per hook event, raw and gzip.
    pub const SPAN_BYTES: f64 = 530.0;
    pub const SPAN_BYTES_GZIP: f64 = 73.0;
    /// Journal bytes on the host per hook event.
    pub const JOURNAL_BYTES: f64 = 2580.0;
}

/// How a directory of transcripts is measured.
#[derive(Debug, Clone)]
pub struct Options {
    /// Gaps between entries longer than this are idle time (not counted as active).
    pub idle_secs: u64,
    /// Sessions with less active time than this are listed but left out of the distribution
    /// (a rate over a few seconds says little).
    pub min_active_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { idle_secs: 300, min_active_secs: 300 }
    }
}

/// Token counts summed over a session's model calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

/// One session as its transcripts tell it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionRate {
    pub session_id: String,
    /// The transcript of the main agent (else the first file read).
    pub transcript: String,
    /// The CLI versions that wrote it (usually one).
    pub versions: Vec<String>,
    /// First and last entry, RFC 3339.
    pub first: String,
    pub last: String,
    pub wall_secs: f64,
    pub active_secs: f64,
    pub prompts: u64,
    pub turns: u64,
    pub tool_calls: u64,
    /// Calls refused before they ran (no hook fired).
    pub tool_calls_refused: u64,
    pub tool_failures: u64,
    /// Assistant messages with tool calls (PostToolBatch).
    pub tool_batches: u64,
    pub subagents: u64,
    pub subagent_runs: u64,
    pub model_calls: u64,
    pub tokens: Tokens,
    pub compactions: u64,
    pub runs: u64,
    /// The hook events derived, by event name.
    pub hook_events: BTreeMap<String, u64>,
    pub hook_events_total: u64,
    /// Hook events and tool calls per active hour (0 when there is no active time).
    pub events_per_hour: f64,
    pub tool_calls_per_hour: f64,
}

/// A percentile summary.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        if v.is_empty() {
            return Spread::default();
        }
        v.sort_by(|a, b| a.total_cmp(b));
        // Nearest rank.
        let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Spread { median: at(0.5), p90: at(0.9), max: v[v.len() - 1] }
    }
}

/// What an agent sends per hour at a rate of hook events, with the [`per_event`] figures.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PerHour {
    pub hook_events: f64,
    pub log_records: f64,
    pub log_mb: f64,
    pub log_mb_gzip: f64,
    pub spans: f64,
    pub span_mb: f64,
    pub span_mb_gzip: f64,
    pub journal_mb: f64,
}

impl PerHour {
    pub fn at(events: f64) -> PerHour {
        use per_event::*;
        PerHour {
            hook_events: events,
            log_records: events * LOG_RECORDS,
            log_mb: events * LOG_BYTES / 1e6,
            log_mb_gzip: events * LOG_BYTES_GZIP / 1e6,
            spans: events * SPANS,
            span_mb: events * SPAN_BYTES / 1e6,
            span_mb_gzip: events * SPAN_BYTES_GZIP / 1e6,
            journal_mb: events * JOURNAL_BYTES / 1e6,
        }
    }
}

/// The fleet: the sessions with enough active time, taken together.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub sessions: usize,
    /// Sessions measured but left out (less active time than `min_active_secs`).
    pub sessions_short: usize,
    pub versions: Vec<String>,
    pub idle_secs: u64,
    pub min_active_secs: u64,
    pub active_hours: f64,
    pub hook_events: u64,
    pub tool_calls: u64,
    /// Hook events per active agent-hour, session by session.
    pub events_per_hour: Spread,
    pub tool_calls_per_hour: Spread,
    /// All the sessions' events over all their active hours.
    pub events_per_hour_pooled: f64,
    pub events_per_tool_call: f64,
    /// What one agent sends per hour at the median and at the p90 rate.
    pub at_median: PerHour,
    pub at_p90: PerHour,
}

/// Sessions and their summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub sessions: Vec<SessionRate>,
    pub summary: Summary,
}

/// Every transcript (`*.jsonl`) under `dir` (or `dir` itself, a file), read and grouped by
/// session.
pub fn measure(dir: &Path, opts: &Options) -> std::io::Result<Report> {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
    } else {
        walk(dir, &mut files)?;
    }
    files.sort();
    let mut acc = Acc::default();
    for f in &files {
        acc.file(f)?;
    }
    Ok(acc.report(opts))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        let p = e.path();
        if t.is_dir() {
            walk(&p, out)?;
        } else if t.is_file() && p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
    Ok(())
}

// ---- reading ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    timestamp: Option<String>,
    uuid: Option<String>,
    #[serde(rename = "parentUuid")]
    parent_uuid: Option<String>,
    #[serde(rename = "isSidechain")]
    is_sidechain: Option<bool>,
    #[serde(rename = "isMeta")]
    is_meta: Option<bool>,
    #[serde(rename = "isCompactSummary")]
    is_compact_summary: Option<bool>,
    #[serde(rename = "agentId")]
    agent_id: Option<String>,
    version: Option<String>,
    subtype: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    message: Option<Message>,
    attachment: Option<Attachment>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    content: Content,
    usage: Option<LenientUsage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LenientUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

/// How a text starts, for what it tells (the text itself is not kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Lead {
    #[default]
    Other,
    /// `<tool_use_error>`: a call refused before it ran.
    ToolUseError,
    /// `[Request interrupted by user…]`.
    Interrupt,
    /// A local slash command and its output (`<command-name>`, `<local-command-stdout>`, …).
    Command,
    /// `Warmup`: the cache warm-up sidechain of some versions.
    Warmup,
}

impl Lead {
    fn of(s: &str) -> Lead {
        let s = s.trim_start();
        if s.starts_with("<tool_use_error>") {
            Lead::ToolUseError
        } else if s.starts_with("[Request interrupted") {
            Lead::Interrupt
        } else if s.starts_with("<command-name>")
            || s.starts_with("<command-message>")
            || s.starts_with("<local-command-")
        {
            Lead::Command
        } else if s == "Warmup" {
            Lead::Warmup
        } else {
            Lead::Other
        }
    }
}

impl<'de> Deserialize<'de> for Lead {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lead;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E>(self, s: &str) -> Result<Lead, E> {
                Ok(Lead::of(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lead, A::Error> {
                // Blocks ({"type":"text","text":…}): the first text tells.
                #[derive(Deserialize)]
                struct B {
                    text: Option<Lead>,
                }
                let mut first = None;
                while let Some(b) = seq.next_element::<B>()? {
                    if first.is_none() {
                        first = b.text;
                    }
                }
                Ok(first.unwrap_or_default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lead, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lead::Other)
            }
            fn visit_unit<E>(self) -> Result<Lead, E> {
                Ok(Lead::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Lead, E> {
                Ok(Lead::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lead, E> {
                Ok(Lead::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lead, E> {
                Ok(Lead::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lead, E> {
                Ok(Lead::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    name: Option<String>,
    tool_use_id: Option<String>,
    is_error: Option<bool>,
    text: Option<Lead>,
    content: Option<Lead>,
    input: Option<ToolInput>,
}

/// Of a tool's input only `status` is read (a `TaskUpdate` to `completed`).
#[derive(Deserialize)]
struct ToolInput {
    status: Option<serde_json::Value>,
}

/// A message's content, reduced to what the hook events depend on.
#[derive(Default)]
struct Content {
    /// Text (a string, or a text block), and how the first text starts.
    text: Option<Lead>,
    tool_uses: Vec<ToolUse>,
    results: Vec<ToolResult>,
}

struct ToolUse {
    id: String,
    name: String,
    completes_task: bool,
}

struct ToolResult {
    id: String,
    is_error: bool,
    refused: bool,
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("message content")
            }
            fn visit_str<E>(self, s: &str) -> Result<Content, E> {
                Ok(Content { text: Some(Lead::of(s)), ..Content::default() })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut c = Content::default();
                while let Some(b) = seq.next_element::<Block>()? {
                    match b.kind.as_deref() {
                        Some("text") if c.text.is_none() => c.text = Some(b.text.unwrap_or_default()),
                        Some("tool_use") => c.tool_uses.push(ToolUse {
                            id: b.id.unwrap_or_default(),
                            completes_task: b.name.as_deref() == Some("TaskUpdate")
                                && b.input.and_then(|i| i.status).is_some_and(|s| s == "completed"),
                            name: b.name.unwrap_or_default(),
                        }),
                        Some("tool_result") => {
                            let is_error = b.is_error.unwrap_or(false);
                            c.results.push(ToolResult {
                                id: b.tool_use_id.unwrap_or_default(),
                                is_error,
                                refused: is_error && b.content == Some(Lead::ToolUseError),
                            })
                        }
                        _ => {}
                    }
                }
                Ok(c)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Content::default())
            }
            fn visit_unit<E>(self) -> Result<Content, E> {
                Ok(Content::default())
            }
        }
        d.deserialize_any(V)
    }
}

// ---- accumulating ------------------------------------------------------------------------

/// One agent's entries in a session: the main agent (key "") or a subagent.
#[derive(Default)]
struct Stream {
    /// The main agent's last answer had no tool call (a turn that ends here ends with Stop).
    pending_final: bool,
    runs: u64,
    warmup: bool,
    messages_with_tools: HashSet<String>,
    messages_with_text: HashSet<String>,
}

#[derive(Default)]
struct Sess {
    transcript: Option<String>,
    versions: Vec<String>,
    times: Vec<u64>,
    prompts: u64,
    turns: u64,
    streams: BTreeMap<String, Stream>,
    tool_uses: HashMap<String, (String, bool)>,
    results: HashMap<String, (bool, bool)>,
    model_calls: HashMap<String, Tokens>,
    compactions: u64,
    cost_states: u64,
    open_run: bool,
}

#[derive(Default)]
struct Acc {
    seen: HashSet<String>,
    sessions: BTreeMap<String, Sess>,
}

impl Acc {
    fn file(&mut self, path: &Path) -> std::io::Result<()> {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        // A subagent's own transcript: `agent-<id>.jsonl` (under `<session>/subagents/`, or in
        // the project directory in some 2.0 versions).
        let file_agent = name.strip_prefix("agent-").map(str::to_string);
        let reader = std::io::BufReader::new(std::fs::File::open(path)?);
        for line in reader.split(b'\n') {
            let line = line?;
            let Ok(l) = serde_json::from_slice::<Line>(&line) else { continue };
            let key = l.session_id.clone().unwrap_or_else(|| name.clone());
            let agent = match (&file_agent, l.is_sidechain.unwrap_or(false)) {
                (Some(a), _) => a.clone(),
                (None, true) => l.agent_id.clone().unwrap_or_else(|| "sidechain".into()),
                (None, false) => String::new(),
            };
            if let Some(u) = &l.uuid {
                if !self.seen.insert(u.clone()) {
                    continue;
                }
            }
            let s = self.sessions.entry(key).or_default();
            if agent.is_empty() && s.transcript.is_none() && matches!(l.kind.as_deref(), Some("user" | "assistant")) {
                s.transcript = Some(path.display().to_string());
            }
            s.line(l, &agent);
        }
        Ok(())
    }

    fn report(self, opts: &Options) -> Report {
        let mut sessions: Vec<SessionRate> =
            self.sessions.into_iter().filter_map(|(id, s)| s.finish(id, opts)).collect();
        sessions.sort_by(|a, b| a.first.cmp(&b.first).then(a.session_id.cmp(&b.session_id)));
        let kept: Vec<&SessionRate> =
            sessions.iter().filter(|s| s.active_secs >= opts.min_active_secs as f64 && s.active_secs > 0.0).collect();
        // (+ 0.0: an empty sum is -0.0)
        let active_hours: f64 = kept.iter().map(|s| s.active_secs / 3600.0).sum::<f64>() + 0.0;
        let hook_events: u64 = kept.iter().map(|s| s.hook_events_total).sum();
        let tool_calls: u64 = kept.iter().map(|s| s.tool_calls).sum();
        let mut versions: Vec<String> = kept.iter().flat_map(|s| s.versions.iter().cloned()).collect();
        versions.sort_by_key(|v| version_key(v));
        versions.dedup();
        let events_per_hour = Spread::of(kept.iter().map(|s| s.events_per_hour).collect());
        let summary = Summary {
            sessions: kept.len(),
            sessions_short: sessions.len() - kept.len(),
            versions,
            idle_secs: opts.idle_secs,
            min_active_secs: opts.min_active_secs,
            active_hours,
            hook_events,
            tool_calls,
            events_per_hour,
            tool_calls_per_hour: Spread::of(kept.iter().map(|s| s.tool_calls_per_hour).collect()),
            events_per_hour_pooled: if active_hours > 0.0 { hook_events as f64 / active_hours } else { 0.0 },
            events_per_tool_call: if tool_calls > 0 { hook_events as f64 / tool_calls as f64 } else { 0.0 },
            at_median: PerHour::at(events_per_hour.median),
            at_p90: PerHour::at(events_per_hour.p90),
        };
        Report { sessions, summary }
    }
}

fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse().ok()).collect()
}

impl Sess {
    fn line(&mut self, l: Line, agent: &str) {
        let time = l.timestamp.as_deref().and_then(crate::transcript::parse_time);
        let kind = l.kind.as_deref().unwrap_or_default();
        let main = agent.is_empty();
        if let Some(v) = &l.version {
            if !self.versions.contains(v) {
                self.versions.push(v.clone());
            }
        }
        match kind {
            "cost-state" => {
                self.cost_states += 1;
                self.open_run = false;
                return;
            }
            "system" if l.subtype.as_deref() == Some("compact_boundary") => {
                self.compactions += 1;
            }
            "attachment" if main && l.attachment.as_ref().and_then(|a| a.kind.as_deref()) == Some("queued_command") => {
                // A prompt queued while the agent worked: submitted (UserPromptSubmit) when
                // taken, inside the turn under way.
                self.prompts += 1;
            }
            "user" | "assistant" => {}
            _ => {
                if let Some(t) = time {
                    self.times.push(t);
                }
                return;
            }
        }
        if let Some(t) = time {
            self.times.push(t);
        }
        let Some(msg) = l.message else { return };
        let stream = self.streams.entry(agent.to_string()).or_default();
        if main {
            self.open_run = true;
        }
        if kind == "user" {
            for r in &msg.content.results {
                self.results.insert(r.id.clone(), (r.is_error, r.refused));
            }
            let Some(lead) = msg.content.text else { return };
            if !msg.content.results.is_empty() {
                return;
            }
            if main {
                let prompt = !l.is_meta.unwrap_or(false)
                    && !l.is_compact_summary.unwrap_or(false)
                    && matches!(lead, Lead::Other | Lead::Warmup);
                if prompt {
                    self.prompts += 1;
                    if stream.pending_final {
                        self.turns += 1;
                    }
                    stream.pending_final = false;
                } else if lead == Lead::Interrupt {
                    stream.pending_final = false;
                }
            } else if lead == Lead::Warmup && stream.runs == 0 {
                stream.warmup = true;
            } else if lead != Lead::Interrupt
                && (l.agent_id.is_some() || l.parent_uuid.is_none() || agent != "sidechain")
            {
                // A run of the subagent: its first message, or a message reviving it.
                stream.runs += 1;
            }
            return;
        }
        // An assistant entry: one content block (or all of them) of one message.
        if msg.model.as_deref() == Some("<synthetic>") {
            return;
        }
        let id = l.request_id.or(msg.id).unwrap_or_else(|| l.uuid.unwrap_or_default());
        let tokens = msg.usage.map(|u| Tokens {
            input: u.input_tokens.unwrap_or(0),
            output: u.output_tokens.unwrap_or(0),
            cache_read: u.cache_read_input_tokens.unwrap_or(0),
            cache_creation: u.cache_creation_input_tokens.unwrap_or(0),
        });
        let entry = self.model_calls.entry(id.clone()).or_default();
        if let Some(t) = tokens {
            *entry = t; // each entry of a message repeats its usage: the last one counts
        }
        if !msg.content.tool_uses.is_empty() {
            stream.messages_with_tools.insert(id.clone());
            stream.pending_final = false;
            for u in msg.content.tool_uses {
                self.tool_uses.insert(u.id, (u.name, u.completes_task));
            }
        } else if msg.content.text.is_some() && !stream.messages_with_tools.contains(&id) {
            stream.pending_final = true;
        }
        if msg.content.text.is_some() {
            stream.messages_with_text.insert(id);
        }
    }

    fn finish(mut self, id: String, opts: &Options) -> Option<SessionRate> {
        if self.model_calls.is_empty() && self.prompts == 0 {
            return None; // no conversation (a file of summaries, an empty start)
        }
        self.times.sort_unstable();
        let (first, last) = (*self.times.first()?, *self.times.last()?);
        let idle = opts.idle_secs * 1_000_000_000;
        let active: u64 = self.times.windows(2).map(|w| w[1] - w[0]).filter(|g| *g <= idle).sum();
        let mut ev: BTreeMap<String, u64> = BTreeMap::new();
        let mut add = |name: &str, n: u64| {
            if n > 0 {
                *ev.entry(name.to_string()).or_default() += n;
            }
        };
        let main = self.streams.remove("").unwrap_or_default();
        let subagents: Vec<&Stream> = self.streams.values().filter(|s| !s.warmup).collect();
        let runs = self.cost_states + u64::from(self.open_run);
        let stops = self.turns + u64::from(main.pending_final);
        let mut pre = 0;
        let (mut post, mut failures, mut refused, mut created, mut completed) = (0, 0, 0, 0, 0);
        for (tid, (name, completes)) in &self.tool_uses {
            match self.results.get(tid) {
                Some((_, true)) => {
                    refused += 1;
                    continue;
                }
                Some((true, false)) => failures += 1,
                Some((false, false)) => post += 1,
                None => {}
            }
            pre += 1;
            created += u64::from(name == "TaskCreate");
            completed += u64::from(*completes);
        }
        let batches = main.messages_with_tools.len() as u64
            + subagents.iter().map(|s| s.messages_with_tools.len() as u64).sum::<u64>();
        let subagent_runs: u64 = subagents.iter().map(|s| s.runs.max(1)).sum();
        add("SessionStart", runs.max(1) + self.compactions);
        add("UserPromptSubmit", self.prompts);
        add("PreToolUse", pre);
        add("PostToolUse", post);
        add("PostToolUseFailure", failures);
        add("PostToolBatch", batches);
        add("MessageDisplay", main.messages_with_text.len() as u64);
        add("SubagentStart", subagent_runs);
        add("SubagentStop", subagent_runs + 2 * self.compactions);
        add("TaskCreated", created);
        add("TaskCompleted", completed);
        add("PreCompact", self.compactions);
        add("PostCompact", self.compactions);
        add("Stop", stops);
        // Versions that write no `cost-state` entry: the session is taken as ended once.
        add("SessionEnd", if self.cost_states > 0 { self.cost_states } else { 1 });
        let total: u64 = ev.values().sum();
        let hours = active as f64 / 3.6e12;
        let mut tokens = Tokens::default();
        for t in self.model_calls.values() {
            tokens.input += t.input;
            tokens.output += t.output;
            tokens.cache_read += t.cache_read;
            tokens.cache_creation += t.cache_creation;
        }
        let tool_calls = self.tool_uses.len() as u64;
        Some(SessionRate {
            session_id: id,
            transcript: self.transcript.unwrap_or_default(),
            versions: self.versions,
            first: crate::timefmt::rfc3339_nanos(first),
            last: crate::timefmt::rfc3339_nanos(last),
            wall_secs: (last - first) as f64 / 1e9,
            active_secs: active as f64 / 1e9,
            prompts: self.prompts,
            turns: stops,
            tool_calls,
            tool_calls_refused: refused,
            tool_failures: failures,
            tool_batches: batches,
            subagents: subagents.len() as u64,
            subagent_runs,
            model_calls: self.model_calls.len() as u64,
            tokens,
            compactions: self.compactions,
            runs: runs.max(1),
            hook_events: ev,
            hook_events_total: total,
            events_per_hour: if hours > 0.0 { total as f64 / hours } else { 0.0 },
            tool_calls_per_hour: if hours > 0.0 { tool_calls as f64 / hours } else { 0.0 },
        })
    }
}

// ---- printing ---------------------------------------------------------------------------

/// The report as a plain text table: one row per session, then the fleet summary.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<10} {:<10} {:<10} {:>8} {:>8} {:>6} {:>6} {:>6} {:>5} {:>6} {:>9} {:>7} {:>9} {:>8}",
        "session",
        "version",
        "date",
        "wall min",
        "act min",
        "prmpt",
        "turns",
        "tools",
        "subag",
        "calls",
        "tokens",
        "events",
        "events/h",
        "tools/h"
    );
    for s in &r.sessions {
        let t = s.tokens;
        let _ = writeln!(
            o,
            "{:<10} {:<10} {:<10} {:>8.1} {:>8.1} {:>6} {:>6} {:>6} {:>5} {:>6} {:>9} {:>7} {:>9.0} {:>8.0}{}",
            s.session_id.chars().take(8).collect::<String>(),
            s.versions.last().map(String::as_str).unwrap_or("?"),
            s.first.get(..10).unwrap_or(""),
            s.wall_secs / 60.0,
            s.active_secs / 60.0,
            s.prompts,
            s.turns,
            s.tool_calls,
            s.subagents,
            s.model_calls,
            t.input + t.output + t.cache_read + t.cache_creation,
            s.hook_events_total,
            s.events_per_hour,
            s.tool_calls_per_hour,
            if s.active_secs < r.summary.min_active_secs as f64 { "  (short)" } else { "" }
        );
    }
    let m = &r.summary;
    let _ = writeln!(
        o,
        "\n{} sessions with ≥ {} min active ({} shorter left out), Claude Code {}; idle gaps > {} min removed",
        m.sessions,
        m.min_active_secs / 60,
        m.sessions_short,
        if m.versions.is_empty() { "?".to_string() } else { m.versions.join(", ") },
        m.idle_secs / 60
    );
    let _ = writeln!(
        o,
        "active hours {:.1}, hook events {}, tool calls {} ({:.2} events per tool call)",
        m.active_hours, m.hook_events, m.tool_calls, m.events_per_tool_call
    );
    let _ = writeln!(
        o,
        "hook events per active agent-hour: median {:.0}, p90 {:.0}, max {:.0} (all sessions pooled: {:.0})",
        m.events_per_hour.median, m.events_per_hour.p90, m.events_per_hour.max, m.events_per_hour_pooled
    );
    let _ = writeln!(
        o,
        "tool calls per active agent-hour: median {:.0}, p90 {:.0}, max {:.0}",
        m.tool_calls_per_hour.median, m.tool_calls_per_hour.p90, m.tool_calls_per_hour.max
    );
    let _ = writeln!(o, "\nper agent-hour (per-event figures of docs/deployment.md):");
    let _ = writeln!(
        o,
        "{:<8} {:>8} {:>11} {:>12} {:>9} {:>9} {:>10} {:>8} {:>10}",
        "rate", "events", "log records", "log MB", "(gzip)", "spans", "span MB", "(gzip)", "journal MB"
    );
    for (name, p) in [("median", m.at_median), ("p90", m.at_p90)] {
        let _ = writeln!(
            o,
            "{:<8} {:>8.0} {:>11.0} {:>12.2} {:>9.2} {:>9.0} {:>10.2} {:>8.3} {:>10.2}",
            name,
            p.hook_events,
            p.log_records,
            p.log_mb,
            p.log_mb_gzip,
            p.spans,
            p.span_mb,
            p.span_mb_gzip,
            p.journal_mb
        );
    }
    o
}
