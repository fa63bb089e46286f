//! Appending: lock, find the chain's tail, repair a torn tail, rotate, write one line, unlock.

use super::chain::{self, GENESIS};
use super::segment::{self, SegmentName};
use super::JournalError;
use crate::config::{Config, Fsync};
use crate::record::{JournalRecord, Level};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A handle on a journal directory (cheap: nothing is opened until [`Journal::append`]).
#[derive(Debug, Clone)]
pub struct Journal {
    pub dir: PathBuf,
    pub fsync: Fsync,
    pub segment_max_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct AppendOutcome {
    pub seq: u64,
    pub hash: String,
    pub segment: PathBuf,
    /// A torn last line (from a crash mid-write) was cut and kept in a repair record first.
    pub repaired_bytes: Option<u64>,
}

/// The end of the chain: the last complete record before the append.
#[derive(Debug, Default)]
struct Tail {
    last: Option<(u64, String)>,
    /// Bytes after the last newline of the current segment (a torn write).
    torn: Option<(u64, Vec<u8>)>,
    current_len: u64,
}

impl Journal {
    pub fn from_config(cfg: &Config) -> Journal {
        Journal { dir: cfg.journal_dir(), fsync: cfg.journal.fsync, segment_max_bytes: cfg.journal.segment_max_bytes }
    }

    /// Appends one record: sets its `seq`, `prev_hash` and `hash` and writes its line.
    pub fn append(&self, record: &mut JournalRecord) -> Result<AppendOutcome, JournalError> {
        let io = |e| JournalError::io(&self.dir, e);
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(io)?;
        let lock_path = self.dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| JournalError::io(&lock_path, e))?;
        lock.lock().map_err(|e| JournalError::io(&lock_path, e))?;

        let segments = segment::list(&self.dir).map_err(io)?;
        let mut tail = read_chain_tail(&segments).map_err(io)?;
        let today = crate::timefmt::yyyymmdd(record.time_unix_nano.max(1));
        let current = segments.last();
        let mut repaired_bytes = None;

        if let (Some((_, path)), Some((good_len, bytes))) = (current, tail.torn.take()) {
            // Cut the torn bytes and keep them in a repair record, so nothing is lost and the
            // chain goes on from the last complete record.
            let f = OpenOptions::new().write(true).open(path).map_err(|e| JournalError::io(path, e))?;
            f.set_len(good_len).map_err(|e| JournalError::io(path, e))?;
            tail.current_len = good_len;
            let mut repair = repair_record(record, &bytes);
            let out = self.write(path, &mut repair, &tail)?;
            tail.last = Some((out.0, out.1));
            tail.current_len += out.2;
            repaired_bytes = Some(bytes.len() as u64);
        }

        let path = match current {
            Some((name, path)) if name.day == today && tail.current_len < self.segment_max_bytes => path.clone(),
            Some((name, _)) => self.dir.join(name.next(&today).file_name()),
            None => self.dir.join(SegmentName { day: today, index: 0 }.file_name()),
        };
        let (seq, hash, _) = self.write(&path, record, &tail)?;
        drop(lock);
        Ok(AppendOutcome { seq, hash, segment: path, repaired_bytes })
    }

    /// Writes `record` as the successor of `tail.last`; returns (seq, hash, bytes written).
    fn write(&self, path: &Path, record: &mut JournalRecord, tail: &Tail) -> Result<(u64, String, u64), JournalError> {
        let (seq, prev) = match &tail.last {
            Some((s, h)) => (s + 1, h.clone()),
            None => (0, GENESIS.to_string()),
        };
        record.seq = seq;
        record.prev_hash = prev;
        record.hash.clear();
        let (line, hash) = chain::encode(record)?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| JournalError::io(path, e))?;
        // One write call for the whole line: with O_APPEND under the lock, lines never interleave.
        f.write_all(&line).map_err(|e| JournalError::io(path, e))?;
        if self.fsync == Fsync::Always {
            f.sync_data().map_err(|e| JournalError::io(path, e))?;
        }
        record.hash = hash.clone();
        Ok((seq, hash, line.len() as u64))
    }
}

/// The record that keeps a torn tail's bytes (already redacted when they were first written).
fn repair_record(like: &JournalRecord, torn: &[u8]) -> JournalRecord {
    let text = String::from_utf8_lossy(torn);
    JournalRecord {
        timestamp: like.timestamp.clone(),
        time_unix_nano: like.time_unix_nano,
        level: Level::Warn,
        event_type: "journal_repair".into(),
        hook_event: "JournalRepair".into(),
        telemetry_enabled: true,
        metadata: like.metadata.clone(),
        raw_input: serde_json::json!({
            "reason": "the last line was incomplete (a write was interrupted); its bytes were cut from the segment and are kept here",
            "discarded_bytes": torn.len(),
            "sha256": crate::enrich::privacy::sha256_hex(torn),
            "text": crate::enrich::privacy::cap_str(&text, 256 * 1024),
        }),
        ..JournalRecord::default()
    }
}

/// Finds the last complete record, looking back through segments if the newest is empty.
fn read_chain_tail(segments: &[(SegmentName, PathBuf)]) -> std::io::Result<Tail> {
    let mut tail = Tail::default();
    for (i, (_, path)) in segments.iter().enumerate().rev() {
        let newest = i + 1 == segments.len();
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        if newest {
            tail.current_len = len;
        }
        let (last, torn) = last_record_in(&mut f, len)?;
        if newest {
            tail.torn = torn;
        }
        if last.is_some() {
            tail.last = last;
            break;
        }
    }
    Ok(tail)
}

/// Reads backwards from the end of a segment: the last line that carries a `seq` and a `hash`,
/// and the torn bytes after the last newline (with the length to cut back to).
#[allow(clippy::type_complexity)]
fn last_record_in(f: &mut File, len: u64) -> std::io::Result<(Option<(u64, String)>, Option<(u64, Vec<u8>)>)> {
    let mut window = 16 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        f.take(len - start).read_to_end(&mut buf)?;
        let complete_end = buf.iter().rposition(|b| *b == b'\n').map(|i| i + 1);
        let torn = match complete_end {
            Some(e) if e < buf.len() => Some((start + e as u64, buf[e..].to_vec())),
            None if start == 0 && !buf.is_empty() => Some((0, buf.clone())),
            _ => None,
        };
        let lines_end = complete_end.unwrap_or(0);
        // Complete lines in the window; the first may be partial unless the window starts at 0.
        let mut lines: Vec<&[u8]> = buf[..lines_end].split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let first_partial = start > 0;
        if first_partial && !lines.is_empty() {
            lines.remove(0);
        }
        for line in lines.iter().rev() {
            if let Some(found) = seq_and_hash(line) {
                return Ok((Some(found), torn));
            }
        }
        if start == 0 {
            return Ok((None, torn));
        }
        window *= 4;
    }
}

fn seq_and_hash(line: &[u8]) -> Option<(u64, String)> {
    // Fast path: our lines start with `{"seq":N,` (the record's first field) and end with the
    // spliced hash (see chain.rs), so no JSON parse is needed.
    if let (Some(rest), Ok((_, hash))) = (line.strip_prefix(br#"{"seq":"#), chain::split_line(line)) {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let (Some(b','), Ok(seq)) = (rest.get(digits), std::str::from_utf8(&rest[..digits]).unwrap_or("").parse::<u64>()) {
            return Some((seq, hash.to_string()));
        }
    }
    #[derive(serde::Deserialize)]
    struct SeqHash {
        seq: u64,
        hash: String,
    }
    let s: SeqHash = serde_json::from_slice(line).ok()?;
    (s.hash.len() == 64).then_some((s.seq, s.hash))
}
