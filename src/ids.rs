//! Deterministic trace and span ids, so that separate hook processes and the relay agree on the
//! ids of one session's spans with no shared state (architecture.md, "Ids and hierarchy").
//!
//! An id is the SHA-256 of a versioned, domain-separated, length-prefixed input; the first 16
//! bytes make a trace id, the first 8 a span id, and an all-zero result (invalid in W3C trace
//! context) is nudged to a fixed non-zero value.

pub mod sha256;

use sha256::Sha256;

const DOMAIN: &[u8] = b"agent-telemetry/ids/v1";

/// What a span stands for in an agent's work: the one list of span roles, shared by the ids here
/// and the assembler above.
///
/// Its word ([`SpanRole::as_str`]) is part of a span id's hash input, so spans of different roles
/// never share an id — and changing a word would change every id of that role (ids are compared
/// across processes, releases and re-sent spans). The same words are how the relay's checkpoint
/// writes a role (serde, lowercase).
///
/// Not OpenTelemetry's span kind (`CLIENT`, `INTERNAL`, …): the exporter derives that from the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanRole {
    /// One run of a session (`invoke_agent claude-code`; natural id: the session id, or
    /// `<session id>#<seq>` for a resumed run).
    Session,
    /// One prompt's turn (natural id: the prompt id).
    Turn,
    /// One tool call (natural id: the tool use id).
    Tool,
    /// One run of a subagent (natural id: the agent id, `<agent id>#<n>` for a later run).
    Subagent,
    /// One model request (natural id: the API request id).
    Chat,
    /// A compaction (natural id: session id and its PreCompact's seq).
    Compact,
}

impl SpanRole {
    pub(crate) const ALL: [SpanRole; 6] =
        [SpanRole::Session, SpanRole::Turn, SpanRole::Tool, SpanRole::Subagent, SpanRole::Chat, SpanRole::Compact];

    /// The role's word: hashed into its spans' ids, written in checkpoints. Never changes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SpanRole::Session => "session",
            SpanRole::Turn => "turn",
            SpanRole::Tool => "tool",
            SpanRole::Subagent => "subagent",
            SpanRole::Chat => "chat",
            SpanRole::Compact => "compact",
        }
    }

    /// The role of a word [`SpanRole::as_str`] gives.
    pub(crate) fn from_word(word: &str) -> Option<SpanRole> {
        SpanRole::ALL.into_iter().find(|r| r.as_str() == word)
    }
}

impl std::fmt::Display for SpanRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((DOMAIN.len() as u64).to_be_bytes());
    h.update(DOMAIN);
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize()
}

/// The trace id of a root session (one not started by another agent).
pub fn trace_id_for_session(session_id: &str) -> [u8; 16] {
    let d = digest(&[b"trace", session_id.as_bytes()]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    if id == [0; 16] {
        id[15] = 1;
    }
    id
}

/// The span id of one span: a hash of its role and natural id (session id, prompt id, ...).
pub fn span_id(role: SpanRole, natural_id: &str) -> [u8; 8] {
    let d = digest(&[b"span", role.as_str().as_bytes(), natural_id.as_bytes()]);
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

macro_rules! typed_id {
    ($name:ident, $n:literal, $what:literal) => {
        #[doc = concat!("A ", $what, " id as the assembler keeps it: ", stringify!($n), " bytes, written (checkpoint, OTLP JSON, `Display`) as lower-case hex.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub(crate) struct $name(pub [u8; $n]);

        impl $name {
            pub(crate) fn parse_hex(s: &str) -> Option<$name> {
                Some($name(unhex(s)?.try_into().ok()?))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex(&self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex(&self.0))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex(&self.0))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse_hex(&s).ok_or_else(|| serde::de::Error::custom(concat!("not a ", $what, " id: want ", stringify!($n), " bytes of hex")))
            }
        }
    };
}

typed_id!(SpanId, 8, "span");
typed_id!(TraceId, 16, "trace");

impl SpanId {
    /// The deterministic id of a span of this role and natural id.
    pub(crate) fn of(role: SpanRole, natural_id: &str) -> SpanId {
        SpanId(span_id(role, natural_id))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// FNV-1a, 64 bits: the hash of the small lookup tables (the known-clean names, made at compile
/// time; the environment). Those compare the key itself: a collision costs a comparison, never
/// a wrong answer.
pub(crate) const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// A parsed W3C `traceparent` (version 00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; anything else (or all-zero ids) is `None`.
    pub(crate) fn parse(s: &str) -> Option<TraceParent> {
        let s = s.trim();
        let mut parts = s.split('-');
        let (v, t, p, f) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || v.len() != 2 || v == "ff" {
            return None;
        }
        let trace_id: [u8; 16] = unhex(t)?.try_into().ok()?;
        let span_id: [u8; 8] = unhex(p)?.try_into().ok()?;
        let flags = *unhex(f)?.first()?;
        if f.len() != 2 || trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceParent { trace_id, span_id, flags })
    }

    pub(crate) fn render(&self) -> String {
        format!("00-{}-{}-{:02x}", hex(&self.trace_id), hex(&self.span_id), self.flags)
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The `traceparent` of a session's span: in the inherited trace when the session was started by
/// another agent (`parent` from its environment), else in the session's own trace. Always sampled,
/// or an SDK would drop the children.
pub(crate) fn session_traceparent(session_id: &str, parent: Option<&TraceParent>) -> TraceParent {
    TraceParent {
        trace_id: parent.map(|p| p.trace_id).unwrap_or_else(|| trace_id_for_session(session_id)),
        span_id: span_id(SpanRole::Session, session_id),
        flags: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids are a contract (other processes, earlier releases, re-sent spans): pinned to the
    /// bytes the releases before the role enum was shared derived, for every role.
    #[test]
    fn ids_are_the_ones_earlier_releases_derived() {
        let want = [
            (SpanRole::Session, "b5b0178d0c242fe8"),
            (SpanRole::Turn, "1b204c6cdd4bcc9e"),
            (SpanRole::Tool, "21398b23d75acc83"),
            (SpanRole::Subagent, "956199b1ba7eef9f"),
            (SpanRole::Chat, "142ac755e774cde3"),
            (SpanRole::Compact, "be88ffc6b67217ff"),
        ];
        assert_eq!(want.len(), SpanRole::ALL.len());
        for (role, id) in want {
            assert_eq!(hex(&span_id(role, "natural-id")), id, "{role}");
            assert_eq!(SpanRole::from_word(role.as_str()), Some(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(hex(&trace_id_for_session("natural-id")), "2da378696363c8ff8b9358fa88537e5e");
    }

    #[test]
    fn ids_are_stable_and_distinct_by_role() {
        assert_eq!(span_id(SpanRole::Tool, "x"), span_id(SpanRole::Tool, "x"));
        assert_ne!(span_id(SpanRole::Tool, "x"), span_id(SpanRole::Turn, "x"));
        assert_ne!(trace_id_for_session("a"), trace_id_for_session("b"));
    }

    #[test]
    fn typed_ids_are_hex_in_json_and_refuse_garbage() {
        let id = SpanId::of(SpanRole::Tool, "x");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", hex(&span_id(SpanRole::Tool, "x"))));
        assert_eq!(serde_json::from_str::<SpanId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SpanId>("\"abc\"").is_err());
        assert!(serde_json::from_str::<TraceId>(&json).is_err(), "a span id is not a trace id");
    }

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let tp = session_traceparent("s1", None);
        assert_eq!(TraceParent::parse(&tp.render()), Some(tp.clone()));
        for bad in [
            "",
            "00-0000",
            "00-00000000000000000000000000000000-0000000000000001-01",
            "00-zz000000000000000000000000000001-0000000000000001-01",
            "ff-00000000000000000000000000000001-0000000000000001-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        let child = session_traceparent("child", Some(&tp));
        assert_eq!(child.trace_id, tp.trace_id);
        assert_ne!(child.span_id, tp.span_id);
    }
}
