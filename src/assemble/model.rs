//! The assembler's own data: spans being built, finished spans, log items and the resource they
//! belong to. Plain serialisable types, so the relay can persist open spans with its checkpoint
//! and a restart rebuilds every span whole.

pub(crate) use crate::ids::{SpanId, SpanRole, TraceId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum AttrValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    StrArray(Vec<String>),
}

pub(crate) type Attrs = Vec<(String, AttrValue)>;

pub(crate) fn push_str(attrs: &mut Attrs, key: &str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        set(attrs, key, AttrValue::Str(v.to_string()));
    }
}

/// Sets (or replaces) an attribute.
pub(crate) fn set(attrs: &mut Attrs, key: &str, v: AttrValue) {
    match attrs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = v,
        None => attrs.push((key.to_string(), v)),
    }
}

/// The resource a span or log record is exported under: who produced it, where.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub(crate) struct ResourceKey {
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

/// The key of an open span in the assembler: its role and its natural id (a session run's key, a
/// prompt id, a tool use id, an agent run's key, a compaction's id). Kept in the relay's
/// checkpoint, so its written form is a format of its own: `<role word>:<natural id>`, the role's
/// word as [`SpanRole::as_str`] gives it (`tool:toolu_01…`, `session:4150885a-…`). Read back by
/// splitting at the first `:` (a natural id may hold `:`, a role word never does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OpenSpanKey {
    pub role: SpanRole,
    pub id: String,
}

impl OpenSpanKey {
    pub(crate) fn new(role: SpanRole, id: &str) -> OpenSpanKey {
        OpenSpanKey { role, id: id.to_string() }
    }
}

/// Ordered as the written form: by role word, then natural id. The order open spans are closed in
/// when their session ends (and written in the checkpoint), the same as when the keys were text.
impl Ord for OpenSpanKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.role.as_str(), &self.id).cmp(&(other.role.as_str(), &other.id))
    }
}

impl PartialOrd for OpenSpanKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for OpenSpanKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.role.as_str(), self.id)
    }
}

/// A written open-span key that is not `<role word>:<natural id>`.
#[derive(Debug, thiserror::Error)]
#[error("not an open-span key (want <role>:<id>, role one of session, turn, tool, subagent, chat, compact): {0:?}")]
pub(crate) struct BadOpenSpanKey(pub String);

impl std::str::FromStr for OpenSpanKey {
    type Err = BadOpenSpanKey;
    fn from_str(s: &str) -> Result<OpenSpanKey, BadOpenSpanKey> {
        let (word, id) = s.split_once(':').ok_or_else(|| BadOpenSpanKey(s.to_string()))?;
        let role = SpanRole::from_word(word).ok_or_else(|| BadOpenSpanKey(s.to_string()))?;
        Ok(OpenSpanKey::new(role, id))
    }
}

impl Serialize for OpenSpanKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OpenSpanKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SpanEventItem {
    pub name: String,
    pub time: u64,
    pub attrs: Attrs,
}

/// A link from a span to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SpanLinkItem {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub attrs: Attrs,
}

/// A span, open or finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SpanItem {
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
pub(crate) struct LogItem {
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
pub(crate) struct Output {
    pub spans: Vec<SpanItem>,
    pub logs: Vec<LogItem>,
    /// `model_call` records for the journal (the relay appends them; not exported as such:
    /// their log records come when the relay reads them back, like every record's).
    pub calls: Vec<crate::record::JournalRecord>,
}

impl Output {
    pub(crate) fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The written form is `<role word>:<natural id>` (a natural id may hold `:`), read back as
    /// the same key; anything else is refused; keys order as their written form.
    #[test]
    fn open_span_keys_are_role_word_and_id() {
        for role in SpanRole::ALL {
            let k = OpenSpanKey::new(role, "a:b#1");
            let text = k.to_string();
            assert_eq!(text, format!("{}:a:b#1", role.as_str()));
            assert_eq!(text.parse::<OpenSpanKey>().unwrap(), k);
            assert_eq!(serde_json::to_value(&k).unwrap(), text.as_str());
            let map: std::collections::BTreeMap<OpenSpanKey, u8> = [(k.clone(), 1)].into();
            let json = serde_json::to_string(&map).unwrap();
            assert_eq!(json, format!("{{\"{text}\":1}}"));
            assert_eq!(serde_json::from_str::<std::collections::BTreeMap<OpenSpanKey, u8>>(&json).unwrap(), map);
        }
        for bad in ["Tool:toolu_1", "toolu_1", "span:x", ""] {
            assert!(bad.parse::<OpenSpanKey>().is_err(), "{bad}");
        }
        let mut keys: Vec<OpenSpanKey> =
            SpanRole::ALL.into_iter().flat_map(|r| ["b", "a", "a#1"].map(|id| OpenSpanKey::new(r, id))).collect();
        keys.sort();
        let texts: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
    }
}
