//! What Claude Code writes in a session's transcript, read for its metadata only: the model
//! requests (request id, model, start and end, stop reason, token usage) and which turn they
//! belong to. Message content, tool inputs and tool outputs are never kept: the line types below
//! have no field for them, so serde skips them without copying.
//!
//! Facts relied on (observed with CLI 2.1.328 and 2.1.332):
//! - one `api-request` line (`id`, `timestamp`) when a request is sent; each assistant line of
//!   the answer names it (`requestRef`) and its own `requestId`; one answer is written as one
//!   line per content block, each repeating the message's `id`, `model`, `stop_reason`, `usage`;
//! - user lines carry the turn's `promptId`; assistant lines do not (they belong to the turn of
//!   the last user line before them);
//! - a subagent has its own transcript, `<transcript without .jsonl>/subagents/agent-<id>.jsonl`;
//! - the final message of a turn is written *after* the Stop hook ran.
//!
//! A [`Tail`] reads a transcript incrementally from the last offset (files of hundreds of MB are
//! never read twice), a bounded amount per call, regular files only.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Token counts of one request (or a sum of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

impl Usage {
    pub(crate) fn add(&mut self, o: &Usage) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_read_input_tokens += o.cache_read_input_tokens;
        self.cache_creation_input_tokens += o.cache_creation_input_tokens;
    }
}

/// One model request and its answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ModelCall {
    /// The API's request id (`requestId`), else the message id: the span's natural id.
    pub request_id: String,
    pub message_id: Option<String>,
    pub requested_model: Option<String>,
    pub response_model: Option<String>,
    /// When the request was sent (its `api-request` line, else the line before the answer).
    pub start: u64,
    /// When the last line of the answer was written.
    pub end: u64,
    pub stop_reason: Option<String>,
    pub usage: Usage,
    /// The turn (main agent: the last `promptId` before the answer).
    pub prompt_id: Option<String>,
    /// In a subagent's transcript: which run of the agent (0 the first; a revived agent —
    /// `SendMessage` to a finished one — continues the same transcript with a new message).
    pub agent_run: u32,
}

/// A compaction as the transcript records it (its `compact_boundary` line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct CompactInfo {
    pub trigger: Option<String>,
    #[serde(rename = "preTokens")]
    pub pre_tokens: Option<u64>,
    #[serde(rename = "postTokens")]
    pub post_tokens: Option<u64>,
    #[serde(rename = "durationMs")]
    pub duration_ms: Option<u64>,
}

/// Where a transcript was read to, and what is carried from one read to the next. Persisted
/// with the relay's checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Tail {
    pub offset: u64,
    /// The file's inode: a replaced file is read again from the start.
    inode: u64,
    prompt_id: Option<String>,
    last_time: u64,
    /// `api-request` id → when it was sent (the few not yet answered).
    sent: BTreeMap<String, u64>,
    /// The answer being read (complete once a line of something else follows).
    open: Option<ModelCall>,
    /// The turn of the last answer that ended a turn (`end_turn`, ...), for settling a Stop.
    pub last_final_prompt: Option<String>,
    /// Set when the last answer read ended its turn (no tool call follows).
    pub at_final: bool,
    /// Messages that start a run (a user line with text, not a tool result) read so far.
    runs: u32,
    /// The last compaction read and not yet taken.
    pub compact: Option<CompactInfo>,
    /// After the file was replaced (a rewrite, a compaction): answers written up to this time
    /// were read from the old file already and are not read again.
    skip_until: u64,
    /// When this reader last read the file (the reader's clock, Unix nanoseconds; 0 before).
    read_at: u64,
}

/// Lines longer than this are skipped unread (a huge tool result): they hold no metadata we use.
const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "promptId")]
    prompt_id: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    #[serde(rename = "requestRef")]
    request_ref: Option<String>,
    #[serde(rename = "requestedModel")]
    requested_model: Option<String>,
    /// The `api-request` line's own id.
    id: Option<String>,
    message: Option<Message>,
    subtype: Option<String>,
    #[serde(rename = "compactMetadata")]
    compact_metadata: Option<CompactInfo>,
}

#[derive(Deserialize)]
struct Message {
    /// Only its shape is read (text or tool results), never its text.
    content: Option<ContentShape>,
    id: Option<String>,
    model: Option<String>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
}

/// Whether a message's content is a new message (text) rather than tool results: decided while
/// the content is skipped, so none of it is kept.
#[derive(Default)]
struct ContentShape {
    text: bool,
}

impl<'de> Deserialize<'de> for ContentShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ContentShape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("message content")
            }
            fn visit_str<E>(self, _: &str) -> Result<ContentShape, E> {
                Ok(ContentShape { text: true })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ContentShape, A::Error> {
                #[derive(Deserialize)]
                struct Block {
                    #[serde(rename = "type")]
                    kind: Option<String>,
                }
                let (mut text, mut result) = (false, false);
                while let Some(b) = seq.next_element::<Block>()? {
                    match b.kind.as_deref() {
                        Some("text") => text = true,
                        Some("tool_result") => result = true,
                        _ => {}
                    }
                }
                Ok(ContentShape { text: text && !result })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ContentShape, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(ContentShape::default())
            }
            fn visit_unit<E>(self) -> Result<ContentShape, E> {
                Ok(ContentShape::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl Tail {
    /// Reads what was appended since the last call (at most `max_bytes`), returning the requests
    /// that are complete. An incomplete last line is left for the next call.
    pub(crate) fn read(&mut self, path: &Path, max_bytes: u64) -> std::io::Result<Vec<ModelCall>> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let file =
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
        }
        if meta.ino() != self.inode || meta.len() < self.offset {
            let seen = if self.inode == 0 { 0 } else { self.last_time };
            *self = Tail { inode: meta.ino(), skip_until: seen, last_time: seen, ..Tail::default() };
        }
        self.read_at = crate::timefmt::now_unix_nanos();
        let mut reader = BufReader::new(file);
        reader.seek(SeekFrom::Start(self.offset))?;
        let mut reader = reader.take(max_bytes);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 || buf.last() != Some(&b'\n') {
                break; // the end, or a line still being written
            }
            self.offset += n as u64;
            if buf.len() <= MAX_LINE {
                self.line(&buf, &mut out);
            }
        }
        Ok(out)
    }

    /// The time of the last line read (0 before any).
    #[cfg(test)]
    pub(crate) fn last_time(&self) -> u64 {
        self.last_time
    }

    /// The later of the last line's time and when the file was last read: how recently this
    /// transcript was of use. A session's old transcript read now (a backlog, a replay) is in use
    /// now, whatever its lines' times say.
    pub(crate) fn last_used(&self) -> u64 {
        self.last_time.max(self.read_at)
    }

    /// The answer still open, as complete (at a turn's end, or when the file will not grow).
    pub(crate) fn flush(&mut self) -> Option<ModelCall> {
        self.open.take()
    }

    fn line(&mut self, bytes: &[u8], out: &mut Vec<ModelCall>) {
        // Cheap filter: only these line types matter.
        let interesting = |t: &[u8]| bytes.windows(t.len()).any(|w| w == t);
        if !(interesting(b"\"type\":\"assistant\"")
            || interesting(b"\"type\":\"user\"")
            || interesting(b"\"type\":\"api-request\"")
            || interesting(b"\"compact_boundary\""))
        {
            return;
        }
        let Ok(line) = serde_json::from_slice::<Line>(bytes) else { return };
        let time = line.timestamp.as_deref().and_then(parse_time);
        match line.kind.as_deref() {
            Some("api-request") => {
                if let (Some(id), Some(t)) = (line.id, time) {
                    if self.sent.len() > 64 {
                        self.sent.pop_first();
                    }
                    self.sent.insert(id, t);
                }
            }
            Some("system") if line.subtype.as_deref() == Some("compact_boundary") => {
                self.compact = Some(line.compact_metadata.unwrap_or_default());
            }
            Some("user") => {
                if let Some(c) = self.open.take() {
                    out.push(c);
                }
                if line.message.as_ref().and_then(|m| m.content.as_ref()).is_some_and(|c| c.text) {
                    self.runs += 1;
                }
                if line.prompt_id.is_some() {
                    self.prompt_id = line.prompt_id;
                }
            }
            Some("assistant") => {
                let Some(msg) = line.message else { return };
                if time.is_some_and(|t| t <= self.skip_until) {
                    return;
                }
                let Some(request_id) = line.request_id.clone().or_else(|| msg.id.clone()) else { return };
                if self.open.as_ref().is_some_and(|c| c.request_id != request_id) {
                    out.extend(self.open.take());
                }
                let start = line.request_ref.as_ref().and_then(|r| self.sent.remove(r));
                let t = time.unwrap_or(self.last_time);
                let call = self.open.get_or_insert_with(|| ModelCall {
                    request_id,
                    start: start.unwrap_or(if self.last_time > 0 { self.last_time } else { t }),
                    prompt_id: self.prompt_id.clone(),
                    agent_run: self.runs.saturating_sub(1),
                    ..ModelCall::default()
                });
                call.end = call.end.max(t);
                call.message_id = msg.id.or(call.message_id.take());
                call.response_model = msg.model.or(call.response_model.take());
                call.requested_model = line.requested_model.or(call.requested_model.take());
                if let Some(u) = msg.usage {
                    call.usage = u; // each line repeats the message's usage: the last one counts
                }
                if msg.stop_reason.is_some() {
                    call.stop_reason = msg.stop_reason;
                }
                self.at_final = call.stop_reason.as_deref().is_some_and(|r| r != "tool_use");
                if self.at_final {
                    self.last_final_prompt = call.prompt_id.clone();
                }
            }
            _ => {}
        }
        if let Some(t) = time {
            self.last_time = self.last_time.max(t);
        }
    }
}

/// Where the subagents' transcripts of the session whose transcript is `main` are.
pub(crate) fn subagents_dir(main: &str) -> Option<String> {
    Some(format!("{}/subagents", main.strip_suffix(".jsonl")?))
}

/// The transcript of subagent `agent_id` of the session whose transcript is `main`.
pub(crate) fn subagent_path(main: &str, agent_id: &str) -> Option<PathBuf> {
    if agent_id.is_empty() || !agent_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    Some(PathBuf::from(format!("{}/agent-{agent_id}.jsonl", subagents_dir(main)?)))
}

/// `2026-11-30T18:13:45.063Z` (UTC, any fraction) → Unix nanoseconds.
pub(crate) fn parse_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &s[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            (&r[..digits], &r[digits..])
        }
        None => ("", rest),
    };
    if zone != "Z" {
        return None;
    }
    let mut nanos: u64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        nanos += (c - b'0') as u64 * 10u64.pow(8 - i as u32);
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + sec;
    (secs >= 0).then(|| secs as u64 * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(parse_time("2026-11-30T18:13:45.063Z"), Some(1_796_062_425_063_000_000));
        assert_eq!(
            crate::timefmt::rfc3339_nanos(parse_time("2024-02-29T23:59:59.123456789Z").unwrap()),
            "2024-02-29T23:59:59.123456789Z"
        );
        assert_eq!(parse_time("2026-11-30 18:13:45Z"), None);
        assert_eq!(parse_time("2026-11-30T18:13:45+01:00"), None);
    }

    #[test]
    fn a_replaced_transcript_is_not_counted_twice() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        let ask = |id: &str, t: &str| {
            format!("{{\"type\":\"assistant\",\"timestamp\":\"{t}\",\"requestId\":\"{id}\",\"message\":{{\"id\":\"m{id}\",\"model\":\"x\",\"stop_reason\":\"end_turn\",\"usage\":{{\"input_tokens\":1,\"output_tokens\":2}}}}}}\n")
        };
        let user = |t: &str| {
            format!("{{\"type\":\"user\",\"timestamp\":\"{t}\",\"promptId\":\"p\",\"message\":{{\"content\":\"secret words\"}}}}\n")
        };
        std::fs::write(&p, [user("2026-01-01T00:00:00Z"), ask("r1", "2026-01-01T00:00:01Z")].concat()).unwrap();
        let mut tail = Tail::default();
        let mut calls = tail.read(&p, 1 << 20).unwrap();
        calls.extend(tail.flush());
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].usage.output_tokens, 2);
        assert_eq!(calls[0].prompt_id.as_deref(), Some("p"));
        assert!(tail.at_final);
        // The file is replaced by one holding the old answer again and a new one.
        let q = d.path().join("t2.jsonl");
        std::fs::write(
            &q,
            [
                user("2026-01-01T00:00:00Z"),
                ask("r1", "2026-01-01T00:00:01Z"),
                user("2026-01-01T00:00:02Z"),
                ask("r2", "2026-01-01T00:00:03Z"),
            ]
            .concat(),
        )
        .unwrap();
        std::fs::rename(&q, &p).unwrap();
        let mut calls = tail.read(&p, 1 << 20).unwrap();
        calls.extend(tail.flush());
        assert_eq!(calls.iter().map(|c| c.request_id.as_str()).collect::<Vec<_>>(), ["r2"]);
        // Nothing of the content is kept.
        assert!(!format!("{tail:?}{calls:?}").contains("secret words"));
    }

    #[test]
    fn subagent_paths_stay_inside_the_session() {
        assert_eq!(subagent_path("/h/p/s.jsonl", "a1b").unwrap(), PathBuf::from("/h/p/s/subagents/agent-a1b.jsonl"));
        assert!(subagent_path("/h/p/s.jsonl", "../x").is_none());
        assert!(subagent_path("/h/p/s", "a").is_none());
    }
}
