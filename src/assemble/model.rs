//! The assembler's own data: spans being built, finished spans, log items and the resource they
//! belong to. Plain serialisable types, so the relay can persist open spans with its checkpoint
//! and a restart rebuilds every span whole.

pub use crate::ids::{SpanId, TraceId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    StrArray(Vec<String>),
}

pub type Attrs = Vec<(String, AttrValue)>;

pub fn push_str(attrs: &mut Attrs, key: &str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        set(attrs, key, AttrValue::Str(v.to_string()));
    }
}

/// Sets (or replaces) an attribute.
pub fn set(attrs: &mut Attrs, key: &str, v: AttrValue) {
    match attrs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = v,
        None => attrs.push((key.to_string(), v)),
    }
}

/// The resource a span or log record is exported under: who produced it, where.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct ResourceKey {
    pub session_id: String,
    pub project_path: Option<String>,
    pub project_name: Option<String>,
    pub agent_id: Option<String>,
    pub agent_group: Option<String>,
    pub agent_role: Option<String>,
    pub host_name: Option<String>,
    pub user_id: Option<String>,
    /// Fleet identity beyond id/group/role (absent in checkpoints written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_entry: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpanRole {
    Session,
    Turn,
    Tool,
    Subagent,
    /// A model request (`chat {model}`, CLIENT kind).
    Chat,
    /// A compaction within a run.
    Compact,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEventItem {
    pub name: String,
    pub time: u64,
    pub attrs: Attrs,
}

/// A link from a span to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanLinkItem {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub attrs: Attrs,
}

/// A span, open or finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanItem {
    pub role: SpanRole,
    pub name: String,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    /// The parent is in another process (a parent agent's session, via TRACEPARENT).
    pub parent_remote: bool,
    pub start: u64,
    pub end: u64,
    pub attrs: Attrs,
    pub events: Vec<SpanEventItem>,
    /// `Some(message)` for an error status.
    pub error: Option<String>,
    /// Links to other spans (a completed task to the call that created it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<SpanLinkItem>,
    pub resource: ResourceKey,
    /// Time of the last record that touched this span (for the inactivity timeout).
    pub last_activity: u64,
}

/// One log record per journal record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogItem {
    pub time: u64,
    pub severity: crate::record::Level,
    pub event_name: &'static str,
    pub body: String,
    pub attrs: Attrs,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub resource: ResourceKey,
}

/// What processing records produced: ready to export.
#[derive(Debug, Default)]
pub struct Output {
    pub spans: Vec<SpanItem>,
    pub logs: Vec<LogItem>,
    /// `model_call` records for the journal (the relay appends them; not exported as such:
    /// their log records come when the relay reads them back, like every record's).
    pub calls: Vec<crate::record::JournalRecord>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty()
    }
    pub fn append(&mut self, other: Output) {
        self.spans.extend(other.spans);
        self.logs.extend(other.logs);
        self.calls.extend(other.calls);
    }
}
