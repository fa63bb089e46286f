//! The relay's checkpoint and status files, under `<data dir>/relay/`.
//!
//! - `checkpoint.json`: a versioned format of its own (`"version": 3`): the journal position after
//!   the last acknowledged export, the last exported record's `seq` and `hash` (an outside anchor
//!   for `verify`), counters, and the assembler's state (open spans), written atomically (a new
//!   file with an unpredictable name, then rename). Older versions load: version 1 (before the
//!   version field) and version 2 wrote open-span keys and span roles as Rust's `Debug` output
//!   (`Tool:toolu_…`, `"role": "Tool"`), version 3 as the role's word (`tool:toolu_…`, `"role":
//!   "tool"`, see `assemble::model::OpenSpanKey`); `migrate_assembler_v2` rewrites the older
//!   spelling on load. A newer version than this relay knows is refused by name, never read as
//!   garbage; an assembler state that cannot be read keeps the position (the journal is not
//!   exported again from the start) and says so.
//! - `status.json`: what `agent-telemetry status` shows: state, settings in use, last export, last
//!   error. Never holds a credential (endpoint and headers are shown masked).

use crate::assemble::Assembler;
use crate::journal::read::Position;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The checkpoint format this relay writes; it reads this one and every older one.
pub(crate) const VERSION: u32 = 3;

#[derive(Debug, Default)]
pub(crate) struct Checkpoint {
    pub position: Option<Position>,
    pub last_seq: Option<u64>,
    pub last_hash: Option<String>,
    pub exported_records: u64,
    pub exported_spans: u64,
    pub assembler: Assembler,
    /// How far each open transcript was read (model calls).
    pub transcripts: crate::assemble::transcripts::Tails,
    /// What the relay watches to notice telemetry going dark (`relay::gaps`).
    pub gaps: super::gaps::GapWatch,
    /// What the relay watches for findings from sequences (`relay::behaviour`).
    pub behaviour: super::behaviour::BehaviourWatch,
    /// Set when the assembler's state could not be read: open spans were lost (they end when
    /// their end events arrive, without their start), the position was kept.
    pub state_lost: Option<String>,
    /// The positions of the last few checkpoints with the record each ended at (oldest first):
    /// where to go back to when the journal no longer ends a line at `position` with the record
    /// last exported (see [`realign`]).
    pub recent: Vec<Anchor>,
}

/// A checkpointed position and the record whose line ends there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Anchor {
    pub position: Position,
    pub seq: u64,
    pub hash: String,
}

/// How many past checkpoints are kept to go back to (a batch apart each, at most).
pub(crate) const RECENT: usize = 32;

impl Checkpoint {
    /// Notes the current position as an anchor (after it moved past at least one record).
    pub(crate) fn remember_position(&mut self) {
        if let (Some(position), Some(seq), Some(hash)) = (&self.position, self.last_seq, &self.last_hash) {
            if self.recent.last().is_some_and(|a| a.seq == seq && &a.hash == hash) {
                return;
            }
            self.recent.push(Anchor { position: position.clone(), seq, hash: hash.clone() });
            if self.recent.len() > RECENT {
                let extra = self.recent.len() - RECENT;
                self.recent.drain(..extra);
            }
        }
    }
}

/// Checks, before the relay reads on, that the journal still ends a line at the checkpoint's
/// position with the record last exported. A crash can cut lines that were exported (a power
/// loss before the page cache reached the disk); the next append then keeps the torn bytes in a
/// `journal_repair` record at the cut and goes on from there, so the old byte offset falls
/// inside a new line — read from there, the repair record (a new record with the lost one's seq)
/// would be skipped as unreadable and never reach the backend. When it does not hold, the relay
/// goes back to the newest of its recent checkpoints that still holds (records after it are sent
/// again: at least once), or to the start of the checkpoint's segment. Returns what it did, to
/// be said; `None` when the checkpoint holds, has no anchor, or its segment is gone (a journal
/// pruned behind the relay is read on from the next segment, as before).
pub(crate) fn realign(journal_dir: &Path, cp: &mut Checkpoint) -> Option<String> {
    use crate::journal::read::{record_ending_at, segment_exists};
    let (Some(position), Some(seq), Some(hash)) = (cp.position.clone(), cp.last_seq, cp.last_hash.clone()) else {
        return None;
    };
    if !segment_exists(journal_dir, &position) {
        return None;
    }
    let holds = |a: &Position, seq: u64, hash: &str| {
        record_ending_at(journal_dir, a).is_some_and(|(s, h)| s == seq && h == hash)
    };
    if holds(&position, seq, &hash) {
        return None;
    }
    let lost = format!("the journal at the checkpoint ({}:{}) does not end at the record it last exported (seq {seq}): lines were cut after they were exported (a crash)", position.segment, position.offset);
    while let Some(a) = cp.recent.pop() {
        if holds(&a.position, a.seq, &a.hash) {
            let msg = format!(
                "{lost}; going back to an earlier checkpoint that holds ({}:{}, seq {}) and sending on from there",
                a.position.segment, a.position.offset, a.seq
            );
            (cp.position, cp.last_seq, cp.last_hash) = (Some(a.position.clone()), Some(a.seq), Some(a.hash.clone()));
            cp.recent.push(a);
            return Some(msg);
        }
    }
    let msg = format!("{lost}; no earlier checkpoint holds: sending {} again from its start", position.segment);
    (cp.position, cp.last_seq, cp.last_hash) = (Some(Position { segment: position.segment, offset: 0 }), None, None);
    Some(msg)
}

/// The file's layout. Unknown fields are kept out of the way (`serde` ignores them) so that a
/// later version that only adds fields stays readable here too.
#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    #[serde(default = "v1")]
    version: u32,
    #[serde(default)]
    position: Option<Position>,
    #[serde(default)]
    last_seq: Option<u64>,
    #[serde(default)]
    last_hash: Option<String>,
    #[serde(default)]
    exported_records: u64,
    #[serde(default)]
    exported_spans: u64,
    #[serde(default)]
    assembler: serde_json::Value,
    #[serde(default)]
    transcripts: serde_json::Value,
    #[serde(default)]
    gaps: serde_json::Value,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    behaviour: serde_json::Value,
    #[serde(default)]
    recent: Vec<Anchor>,
}

fn v1() -> u32 {
    1
}

/// What the relay is doing, as `status.json` says it (`"state"`). The lowercase words are the
/// file's format: `status`, the hook's start of a relay and scripts read them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayState {
    /// Reading its checkpoint and settings, before its exporter is up.
    Starting,
    /// Exporting, or caught up and waiting for records.
    Running,
    /// The destination cannot be reached or answers "later": the batch is sent again.
    Retrying,
    /// The destination refuses the data (it will not take it as it is): sent again, said loudly.
    Failing,
    /// Could not start (the reason is `last_error`).
    Failed,
    /// Ended (stopped, or `--once` done).
    Stopped,
    /// No state, or one this release does not know (a file written by another version): read as
    /// such rather than losing the rest of the status.
    #[default]
    #[serde(other)]
    Unknown,
}

impl RelayState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RelayState::Starting => "starting",
            RelayState::Running => "running",
            RelayState::Retrying => "retrying",
            RelayState::Failing => "failing",
            RelayState::Failed => "failed",
            RelayState::Stopped => "stopped",
            RelayState::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for RelayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayStatus {
    pub pid: u32,
    pub state: RelayState,
    /// Where the data goes, credentials masked.
    pub destination: String,
    /// Header names and values, masked unless a tenant name.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Digest of the export settings in use (compared by `status` with what the config resolves to).
    pub export_fingerprint: String,
    pub config_path: String,
    pub data_dir: String,
    pub autostarted: bool,
    pub started_at: String,
    pub reloaded_at: Option<String>,
    /// The last config change the relay could not take (it kept its previous settings).
    pub config_error: Option<String>,
    /// Start attempts that failed in a row (the hook's back-off grows with it).
    pub start_failures: u32,
    pub last_export_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub exported_records: u64,
    pub exported_spans: u64,
    pub open_spans: usize,
    /// The loopback address taking `type: "http"` hook events, when configured and bound.
    pub hook_listen: Option<String>,
    /// Why the configured address could not be bound (http hook events are then lost).
    pub hook_listen_error: Option<String>,
    /// Events taken over HTTP since the relay started.
    pub hook_events: u64,
    /// Batches exported since the relay started (each is a `relay.batch` span of its own
    /// telemetry, service `agent-telemetry-relay`).
    pub batches: u64,
    /// Export attempts that failed (each retried) since the relay started.
    pub failed_exports: u64,
    /// Age of the last record of the last batch when it was read (how far behind the relay is).
    pub last_lag_ms: Option<u64>,
    /// The relay's own spans it could not send (diagnostics are never retried).
    pub self_spans_dropped: u64,
    /// Milliseconds spent per stage since the relay started (read + parse, assemble, checkpoint
    /// encode, export until acknowledged), written when it stops.
    pub stages: std::collections::BTreeMap<String, u64>,
    /// Why the last checkpoint write failed (a full disk), until one succeeds: the relay exports
    /// on; a restart meanwhile sends again what was exported since the last checkpoint written.
    pub checkpoint_error: Option<String>,
    pub updated_at: String,
}

pub use crate::relay_control::relay_dir;

/// Why a checkpoint could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a checkpoint: {why}")]
    Corrupt { path: PathBuf, why: String },
    /// Written by a newer relay: not read (it would be read wrong), not moved aside.
    #[error("{path}: checkpoint version {version} is newer than this relay reads (up to {VERSION}); run the newer agent-telemetry, or move the file aside to export the journal again")]
    Newer { path: PathBuf, version: u32 },
}

pub(crate) fn load(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let path = dir.join("checkpoint.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Checkpoint::default()),
        Err(source) => return Err(CheckpointError::Unreadable { path, source }),
    };
    let f: CheckpointFile = serde_json::from_slice(&bytes)
        .map_err(|e| CheckpointError::Corrupt { path: path.clone(), why: e.to_string() })?;
    if f.version > VERSION {
        return Err(CheckpointError::Newer { path, version: f.version });
    }
    let mut assembler_state = f.assembler;
    if f.version < 3 {
        migrate_assembler_v2(&mut assembler_state);
    }
    rename_retired_attributes(&mut assembler_state);
    let (assembler, state_lost) = if assembler_state.is_null() {
        (Assembler::default(), None)
    } else {
        match serde_json::from_value::<Assembler>(assembler_state) {
            Ok(a) => (a, None),
            Err(e) => (
                Assembler::default(),
                Some(format!(
                    "the open spans in {} could not be read ({e}); continuing from the saved position",
                    path.display()
                )),
            ),
        }
    };
    // Read positions that cannot be read are dropped: the transcripts are read again from the
    // start at the next turn's end (their calls re-exported with the same ids).
    let transcripts = serde_json::from_value(f.transcripts).unwrap_or_default();
    // Unreadable: start watching afresh (baselines are taken again at the next check).
    let gaps = serde_json::from_value(f.gaps).unwrap_or_default();
    // Unreadable: patterns under way are started again.
    let behaviour = serde_json::from_value(f.behaviour).unwrap_or_default();
    Ok(Checkpoint {
        transcripts,
        gaps,
        behaviour,
        position: f.position,
        last_seq: f.last_seq,
        last_hash: f.last_hash,
        exported_records: f.exported_records,
        exported_spans: f.exported_spans,
        assembler,
        state_lost,
        recent: f.recent,
    })
}

/// A span role as versions 1 and 2 wrote it: the name of the Rust enum variant. Spelled out here,
/// not derived, so that renaming a variant cannot break reading those files.
fn v2_role(word: &str) -> Option<crate::assemble::model::SpanRole> {
    use crate::assemble::model::SpanRole;
    Some(match word {
        "Session" => SpanRole::Session,
        "Turn" => SpanRole::Turn,
        "Tool" => SpanRole::Tool,
        "Subagent" => SpanRole::Subagent,
        "Chat" => SpanRole::Chat,
        "Compact" => SpanRole::Compact,
        _ => return None,
    })
}

/// Rewrites an assembler state written by version 1 or 2 into version 3's spelling (nothing but
/// the spelling changed):
///
/// - `open`: keys `Tool:toolu_…` become `tool:toolu_…`, and each span's `"role": "Tool"` becomes
///   `"role": "tool"`; the same roles in `waiting_for_parent`;
/// - each session's `pending_calls`: a subagent run's key `Subagent:<run>` becomes
///   `subagent:<run>`, a turn's bare prompt id `turn:<prompt id>`.
///
/// What it does not recognise it leaves as it is: the state then fails to read and is reported
/// lost, with the position kept (see [`load`]).
fn migrate_assembler_v2(state: &mut serde_json::Value) {
    use crate::assemble::model::{OpenSpanKey, SpanRole};
    use serde_json::Value;
    let role = |span: &mut Value| {
        if let Some(r) = span.get_mut("role") {
            if let Some(new) = r.as_str().and_then(v2_role) {
                *r = Value::from(new.as_str());
            }
        }
    };
    let open_key = |k: &str| -> Option<String> {
        let (word, id) = k.split_once(':')?;
        Some(OpenSpanKey::new(v2_role(word)?, id).to_string())
    };
    if let Some(Value::Object(open)) = state.get_mut("open") {
        *open = std::mem::take(open)
            .into_iter()
            .map(|(k, mut span)| {
                role(&mut span);
                (open_key(&k).unwrap_or(k), span)
            })
            .collect();
    }
    if let Some(Value::Object(waiting)) = state.get_mut("waiting_for_parent") {
        waiting.values_mut().for_each(role);
    }
    if let Some(Value::Object(sessions)) = state.get_mut("sessions") {
        for session in sessions.values_mut() {
            if let Some(Value::Object(pending)) = session.get_mut("pending_calls") {
                *pending = std::mem::take(pending)
                    .into_iter()
                    .map(|(k, tally)| {
                        let key = match k.strip_prefix("Subagent:") {
                            Some(run) => OpenSpanKey::new(SpanRole::Subagent, run),
                            None => OpenSpanKey::new(SpanRole::Turn, &k),
                        };
                        (key.to_string(), tally)
                    })
                    .collect();
            }
        }
    }
}

/// Gives the open spans of a state written before the GenAI conventions' renames (docs/export.md)
/// today's attribute names, so a span that was open across an upgrade is sent as one started
/// after it: `gen_ai.agent.id` becomes `agent_telemetry.subagent.id` (dropped from a session
/// span, where it was the session id), and the cache-token totals of turn, subagent and session
/// spans move to `agent_telemetry.usage.*`, a `chat` span's cache writes to `cache_write`. A
/// state with the current names is left as it is.
fn rename_retired_attributes(state: &mut serde_json::Value) {
    use crate::assemble::attrs;
    use crate::assemble::model::SpanRole;
    use serde_json::Value;
    const OLD_READ: &str = "gen_ai.usage.cache_read.input_tokens";
    const OLD_WRITE: &str = "gen_ai.usage.cache_creation.input_tokens";
    let span = |span: &mut Value| {
        let role = span.get("role").and_then(Value::as_str).and_then(SpanRole::from_word);
        let Some(Value::Array(list)) = span.get_mut("attrs") else { return };
        let chat = role == Some(SpanRole::Chat);
        let [read, write] = attrs::cache_token_keys(chat);
        list.retain(|kv| !(role == Some(SpanRole::Session) && kv[0] == attrs::GEN_AI_AGENT_ID));
        for kv in list.iter_mut() {
            let new = match kv[0].as_str() {
                Some(attrs::GEN_AI_AGENT_ID) => attrs::SUBAGENT_ID,
                Some(OLD_READ) => read,
                Some(OLD_WRITE) => write,
                _ => continue,
            };
            kv[0] = Value::from(new);
        }
    };
    for field in ["open", "waiting_for_parent"] {
        if let Some(Value::Object(spans)) = state.get_mut(field) {
            spans.values_mut().for_each(span);
        }
    }
}

/// Writes `bytes` to `path` through a new file with an unpredictable name in the same directory
/// (created exclusively, never through a link), synced, then renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let nonce = crate::enrich::privacy::sha256_hex(
        format!("{}-{}-{:?}", std::process::id(), crate::timefmt::now_unix_nanos(), std::thread::current().id())
            .as_bytes(),
    );
    let tmp = dir.join(format!(".{name}.{}.tmp", &nonce[..16]));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Why a checkpoint could not be saved: its state would not encode, or the file could not be
/// written (a full disk: the relay exports on and tries again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SaveError {
    #[error("{error}")]
    Encode { error: serde_json::Error },
    #[error("writing checkpoint: {error}")]
    Write { error: std::io::Error },
}

/// [`encode`] and [`write`] in one step, for tests (the relay does the two apart).
#[cfg(test)]
pub(crate) fn save(dir: &Path, cp: &Checkpoint) -> Result<(), SaveError> {
    write(dir, &encode(cp)?)
}

/// Writes a checkpoint [`encode`]d earlier (the relay encodes a batch's checkpoint when it
/// assembles it, and writes it once the batch's export is acknowledged).
pub(crate) fn write(dir: &Path, bytes: &[u8]) -> Result<(), SaveError> {
    std::fs::create_dir_all(dir).map_err(|error| SaveError::Write { error })?;
    write_atomic(&dir.join("checkpoint.json"), bytes).map_err(|error| SaveError::Write { error })
}

/// The checkpoint file's bytes.
pub(crate) fn encode(cp: &Checkpoint) -> Result<Vec<u8>, SaveError> {
    let json = |error| SaveError::Encode { error };
    let file = CheckpointFile {
        version: VERSION,
        position: cp.position.clone(),
        last_seq: cp.last_seq,
        last_hash: cp.last_hash.clone(),
        exported_records: cp.exported_records,
        exported_spans: cp.exported_spans,
        assembler: serde_json::to_value(&cp.assembler).map_err(json)?,
        transcripts: serde_json::to_value(&cp.transcripts).map_err(json)?,
        gaps: serde_json::to_value(&cp.gaps).map_err(json)?,
        behaviour: serde_json::to_value(&cp.behaviour).map_err(json)?,
        recent: cp.recent.clone(),
    };
    serde_json::to_vec(&file).map_err(json)
}

pub(crate) fn save_status(dir: &Path, s: &RelayStatus) {
    // Errors echo settings (an endpoint with a token in it, a bad header): every string of the
    // status is redacted before it is written.
    let Ok(mut v) = serde_json::to_value(s) else { return };
    crate::enrich::redact::Redactor::new().redact_value(&mut v);
    if let Ok(bytes) = serde_json::to_vec_pretty(&v) {
        let _ = std::fs::create_dir_all(dir);
        let _ = write_atomic(&dir.join("status.json"), &bytes);
    }
}

pub fn load_status(dir: &Path) -> Option<RelayStatus> {
    let f = std::fs::File::open(dir.join("status.json")).ok()?;
    let mut bytes = Vec::new();
    use std::io::Read;
    f.take(1 << 20).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_echoing_a_bad_setting_is_redacted() {
        let d = tempfile::tempdir().unwrap();
        let token = format!("glpat-{}", "Ab1Cd2Ef3Gh4Ij5Kl6Mn7");
        let s = RelayStatus {
            config_error: Some(format!("invalid header \"Authorization=Bearer {token}\"")),
            last_error: Some("https://u:Pa55w0rdX@collector:4318 refused".into()),
            destination: "http://collector:4318".into(),
            ..RelayStatus::default()
        };
        save_status(d.path(), &s);
        let text = std::fs::read_to_string(d.path().join("status.json")).unwrap();
        assert!(!text.contains(&token) && !text.contains("Pa55w0rdX"), "{text}");
        assert!(text.contains("http://collector:4318"), "the near miss is kept: {text}");
        assert!(load_status(d.path()).is_some());
    }
    use crate::assemble::model::AttrValue;

    #[test]
    fn versions_old_new_and_unreadable_state() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("checkpoint.json");
        // Version 1: no version field, the assembler's fields inline as they were.
        std::fs::write(&p, r#"{"position":{"segment":"20260101-000001.jsonl","offset":42},"last_seq":7,"last_hash":"ab","exported_records":7,"exported_spans":3,"assembler":{"sessions":{},"open":{},"waiting_for_parent":{},"agent_parents":{}}}"#).unwrap();
        let cp = load(d.path()).unwrap();
        assert_eq!(cp.last_seq, Some(7));
        assert_eq!(cp.position.as_ref().unwrap().offset, 42);
        assert!(cp.state_lost.is_none());
        // Round trip writes the current version.
        save(d.path(), &cp).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["version"], VERSION);
        assert_eq!(load(d.path()).unwrap().exported_spans, 3);
        // A newer version is refused by name.
        std::fs::write(&p, r#"{"version":9,"last_seq":1}"#).unwrap();
        let e = load(d.path()).unwrap_err();
        assert!(
            matches!(e, CheckpointError::Newer { version: 9, .. }) && e.to_string().contains("version 9 is newer"),
            "{e}"
        );
        // An unreadable assembler state keeps the position.
        std::fs::write(
            &p,
            r#"{"version":2,"position":{"segment":"s","offset":5},"last_seq":4,"assembler":{"open":7}}"#,
        )
        .unwrap();
        let cp = load(d.path()).unwrap();
        assert_eq!(cp.position.unwrap().offset, 5);
        assert!(cp.state_lost.unwrap().contains("could not be read"));
        // No temp files left behind.
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    /// A version-2 checkpoint as the relay wrote it (tests/data/checkpoints): its Debug-made keys
    /// and roles load into the typed keys, and save again in version 3's spelling.
    #[test]
    fn version_2_open_spans_load_and_save_as_version_3() {
        let v2 = include_str!("../../tests/data/checkpoints/v2-subagents-midway.json");
        let old: serde_json::Value = serde_json::from_str(v2).unwrap();
        assert_eq!(old["version"], 2);
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("checkpoint.json"), v2).unwrap();
        let cp = load(d.path()).unwrap();
        assert!(cp.state_lost.is_none(), "{:?}", cp.state_lost);
        assert_eq!((cp.last_seq, cp.exported_spans), (Some(18), 5));
        assert_eq!(cp.assembler.open_count(), 6, "five open spans and a subagent waiting for its parent");
        save(d.path(), &cp).unwrap();
        let new: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.path().join("checkpoint.json")).unwrap()).unwrap();
        assert_eq!(new["version"], 3);
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v["assembler"]["open"].as_object().unwrap().keys().cloned().collect()
        };
        let lowered: Vec<String> = keys(&old)
            .iter()
            .map(|k| {
                let (role, id) = k.split_once(':').unwrap();
                format!("{}:{id}", role.to_lowercase())
            })
            .collect();
        assert_eq!(keys(&new), lowered);
        assert!(keys(&new).iter().any(|k| k.starts_with("tool:toolu_")), "{:?}", keys(&new));
        for (k, span) in new["assembler"]["open"].as_object().unwrap() {
            assert_eq!(Some(span["role"].as_str().unwrap()), k.split(':').next(), "{k}");
            // Everything else about the span is as the version-2 relay left it.
            let was = &old["assembler"]["open"][format!("{}{}", &k[..1].to_uppercase(), &k[1..])];
            for f in ["span_id", "parent_span_id", "start", "end", "name", "trace_id"] {
                assert_eq!(span[f], was[f], "{k}: {f}");
            }
            // Its attributes too, under today's names: a subagent's id as
            // `agent_telemetry.subagent.id`, none on the session span.
            let renamed: Vec<serde_json::Value> = was["attrs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|kv| !(k.starts_with("session:") && kv[0] == "gen_ai.agent.id"))
                .map(|kv| match kv[0].as_str() {
                    Some("gen_ai.agent.id") => serde_json::json!(["agent_telemetry.subagent.id", kv[1]]),
                    _ => kv.clone(),
                })
                .collect();
            assert_eq!(span["attrs"], serde_json::Value::Array(renamed), "{k}: attrs");
            assert!(!span["attrs"].to_string().contains("gen_ai.agent.id"), "{k}");
        }
        for span in new["assembler"]["waiting_for_parent"].as_object().unwrap().values() {
            assert_eq!(span["role"], "subagent");
        }
    }

    /// Cache-token totals of a span open across the renames move to our names; a `chat` span's
    /// cache writes take the conventions' new name; a state already renamed stays as it is.
    #[test]
    fn retired_cache_token_names_are_renamed_on_load() {
        let attrs = serde_json::json!([
            ["gen_ai.usage.cache_read.input_tokens", 5],
            ["gen_ai.usage.cache_creation.input_tokens", 7],
            ["gen_ai.agent.id", "a1"]
        ]);
        let mut state = serde_json::json!({
            "open": {"turn:p": {"role": "turn", "attrs": attrs}, "chat:r": {"role": "chat", "attrs": attrs}},
            "waiting_for_parent": {"a1": {"role": "subagent", "attrs": attrs}}
        });
        rename_retired_attributes(&mut state);
        let names = |v: &serde_json::Value| -> Vec<String> {
            v["attrs"].as_array().unwrap().iter().map(|kv| kv[0].as_str().unwrap().to_string()).collect()
        };
        let totals = [
            "agent_telemetry.usage.cache_read.input_tokens",
            "agent_telemetry.usage.cache_write.input_tokens",
            "agent_telemetry.subagent.id",
        ];
        assert_eq!(names(&state["open"]["turn:p"]), totals);
        assert_eq!(names(&state["waiting_for_parent"]["a1"]), totals);
        assert_eq!(
            names(&state["open"]["chat:r"]),
            [
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_write.input_tokens",
                "agent_telemetry.subagent.id"
            ]
        );
        let once = state.clone();
        rename_retired_attributes(&mut state);
        assert_eq!(state, once);
    }

    /// Model calls read ahead of their span (version 2: a turn's keyed by its bare prompt id, a
    /// subagent run's by `Subagent:<run>`) are still taken by that span when it opens.
    #[test]
    fn version_2_pending_model_calls_reach_their_spans() {
        use crate::assemble::model::Output;
        let sid = "748070c0-4933-40e0-933a-ec05bf43c481";
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/checkpoints/v2-subagents-midway.json")).unwrap();
        v["assembler"]["sessions"][sid]["pending_calls"] = serde_json::json!({
            "next-prompt": {"requests": 2},
            "Subagent:next-agent": {"requests": 3},
        });
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("checkpoint.json"), v.to_string()).unwrap();
        let mut cp = load(d.path()).unwrap();
        assert!(cp.state_lost.is_none(), "{:?}", cp.state_lost);
        let rec = |ev: &str, agent: Option<&str>| {
            let mut r = crate::record::JournalRecord {
                session_id: Some(sid.into()),
                hook_event: ev.into(),
                time_unix_nano: 1_796_617_950_000_000_000,
                ..Default::default()
            };
            r.session_context.prompt_id = Some("next-prompt".into());
            r.agent_context.agent_id = agent.map(str::to_string);
            r
        };
        let mut out = Output::default();
        for (ev, agent) in
            [("UserPromptSubmit", None), ("SubagentStart", Some("next-agent")), ("SubagentStop", Some("next-agent"))]
        {
            cp.assembler.process(&rec(ev, agent), &mut out);
        }
        // The subagent waits for the call that spawned it (none here) until its session ends.
        cp.assembler.process(&rec("Stop", None), &mut out);
        cp.assembler.process(&rec("SessionEnd", None), &mut out);
        let requests = |name: &str, id: &str| {
            let s = out
                .spans
                .iter()
                .find(|s| s.name == name && s.attrs.iter().any(|(_, v)| v == &AttrValue::Str(id.into())))
                .unwrap_or_else(|| panic!("no {name} span for {id}"));
            s.attrs.iter().find(|(k, _)| k == crate::assemble::attrs::USAGE_REQUESTS).map(|(_, v)| v.clone())
        };
        assert_eq!(requests("turn", "next-prompt"), Some(AttrValue::Int(2)));
        assert_eq!(requests("invoke_agent subagent", "next-agent"), Some(AttrValue::Int(3)));
    }

    /// `status.json` keeps its words: each state is written as the lowercase word readers compare
    /// with, read back as the same state; a state this release does not know keeps the rest.
    #[test]
    fn relay_state_is_a_lowercase_word_in_status_json() {
        use RelayState::*;
        for (state, word) in [
            (Starting, "starting"),
            (Running, "running"),
            (Retrying, "retrying"),
            (Failing, "failing"),
            (Failed, "failed"),
            (Stopped, "stopped"),
        ] {
            let v = serde_json::to_value(RelayStatus { state, ..Default::default() }).unwrap();
            assert_eq!(v["state"], word);
            assert_eq!(state.to_string(), word);
            let back: RelayStatus = serde_json::from_value(v).unwrap();
            assert_eq!(back.state, state);
        }
        let other: RelayStatus = serde_json::from_str(r#"{"state":"paused","pid":7}"#).unwrap();
        assert_eq!((other.state, other.pid), (Unknown, 7));
        let none: RelayStatus = serde_json::from_str(r#"{"pid":7}"#).unwrap();
        assert_eq!(none.state, Unknown);
    }

    /// The checkpoint's position is checked against the journal: held → unchanged; lines cut
    /// after export and a repair appended → back to the newest recent anchor that holds, or to
    /// the segment's start when none does.
    #[test]
    fn realign_goes_back_to_an_anchor_that_holds() {
        use crate::journal::read::read_from;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("journal");
        std::fs::create_dir(&dir).unwrap();
        let j = crate::journal::Journal {
            dir: dir.clone(),
            fsync: crate::config::Fsync::Never,
            segment_max_bytes: 1 << 30,
        };
        let now = crate::timefmt::now_unix_nanos();
        for i in 0..6 {
            let mut r = crate::record::JournalRecord {
                time_unix_nano: now + i,
                event_type: "tool_call".into(),
                ..Default::default()
            };
            j.append(&mut r).unwrap();
        }
        let mut cp = Checkpoint::default();
        for e in read_from(&dir, None, 100).unwrap() {
            let r = e.record.unwrap();
            (cp.position, cp.last_seq, cp.last_hash) = (Some(e.next.clone()), Some(r.seq), Some(r.hash.clone()));
            if r.seq % 2 == 1 {
                cp.remember_position(); // anchors at seq 1, 3, 5
            }
        }
        assert_eq!(cp.recent.len(), 3);
        assert_eq!(realign(&dir, &mut cp), None, "an intact journal: nothing to do");
        // Cut the last line (seq 5) in its middle, then append: the repair record takes seq 5.
        let seg = dir.join(&cp.position.as_ref().unwrap().segment);
        let len = std::fs::metadata(&seg).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 40).unwrap();
        let mut r = crate::record::JournalRecord {
            time_unix_nano: now + 9,
            event_type: "tool_call".into(),
            ..Default::default()
        };
        j.append(&mut r).unwrap();
        let mut back = Checkpoint {
            position: cp.position.clone(),
            last_seq: cp.last_seq,
            last_hash: cp.last_hash.clone(),
            recent: cp.recent.clone(),
            ..Default::default()
        };
        let said = realign(&dir, &mut back).expect("the checkpoint no longer holds");
        assert!(said.contains("seq 5") && said.contains("seq 3"), "{said}");
        assert_eq!(back.last_seq, Some(3));
        let next: Vec<_> =
            read_from(&dir, back.position.as_ref(), 100).unwrap().into_iter().map(|e| e.record.unwrap()).collect();
        assert_eq!(
            next.iter().map(|r| (r.seq, r.event_type.as_str())).collect::<Vec<_>>(),
            vec![(4, "tool_call"), (5, "journal_repair"), (6, "tool_call")]
        );
        // No anchor that holds: the segment's start.
        let mut none = Checkpoint {
            position: cp.position.clone(),
            last_seq: cp.last_seq,
            last_hash: cp.last_hash.clone(),
            ..Default::default()
        };
        assert!(realign(&dir, &mut none).unwrap().contains("from its start"));
        assert_eq!(none.position.unwrap().offset, 0);
        // An old checkpoint without an anchor, or a segment gone: left alone.
        let mut gone = Checkpoint {
            position: Some(Position { segment: "20200101-000000.jsonl".into(), offset: 9 }),
            last_seq: Some(1),
            last_hash: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(realign(&dir, &mut gone), None);
    }
}
