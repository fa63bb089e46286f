//! Deterministic trace and span ids, so that separate hook processes and the relay agree on the
//! ids of one session's spans with no shared state (architecture.md, "Ids and hierarchy").
//!
//! An id is the SHA-256 of a versioned, domain-separated, length-prefixed input; the first 16
//! bytes make a trace id, the first 8 a span id, and an all-zero result (invalid in W3C trace
//! context) is nudged to a fixed non-zero value.

use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"agent-telemetry/ids/v1";

/// What a span stands for; part of the hash input so ids of different kinds never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Session,
    Turn,
    Tool,
    Subagent,
    /// One model request (natural id: the API request id).
    Chat,
    /// A compaction (natural id: session id and its PreCompact's seq).
    Compact,
}

impl SpanKind {
    fn label(self) -> &'static [u8] {
        match self {
            SpanKind::Session => b"session",
            SpanKind::Turn => b"turn",
            SpanKind::Tool => b"tool",
            SpanKind::Subagent => b"subagent",
            SpanKind::Chat => b"chat",
            SpanKind::Compact => b"compact",
        }
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
    h.finalize().into()
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

/// The span id of one span: a hash of its kind and natural id (session id, prompt id, ...).
pub fn span_id(kind: SpanKind, natural_id: &str) -> [u8; 8] {
    let d = digest(&[b"span", kind.label(), natural_id.as_bytes()]);
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
        pub struct $name(pub [u8; $n]);

        impl $name {
            pub fn parse_hex(s: &str) -> Option<$name> {
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
    /// The deterministic id of a span of this kind and natural id.
    pub fn of(kind: SpanKind, natural_id: &str) -> SpanId {
        SpanId(span_id(kind, natural_id))
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

/// A parsed W3C `traceparent` (version 00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; anything else (or all-zero ids) is `None`.
    pub fn parse(s: &str) -> Option<TraceParent> {
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

    pub fn render(&self) -> String {
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
pub fn session_traceparent(session_id: &str, parent: Option<&TraceParent>) -> TraceParent {
    TraceParent {
        trace_id: parent.map(|p| p.trace_id).unwrap_or_else(|| trace_id_for_session(session_id)),
        span_id: span_id(SpanKind::Session, session_id),
        flags: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct_by_kind() {
        assert_eq!(span_id(SpanKind::Tool, "x"), span_id(SpanKind::Tool, "x"));
        assert_ne!(span_id(SpanKind::Tool, "x"), span_id(SpanKind::Turn, "x"));
        assert_ne!(trace_id_for_session("a"), trace_id_for_session("b"));
    }

    #[test]
    fn typed_ids_are_hex_in_json_and_refuse_garbage() {
        let id = SpanId::of(SpanKind::Tool, "x");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", hex(&span_id(SpanKind::Tool, "x"))));
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
