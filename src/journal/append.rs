//! Appending: lock, find the chain's tail, repair a torn tail, rotate, write one line, unlock.

use super::chain::{self, GENESIS};
use super::segment::SegmentName;
use super::JournalError;
use crate::config::{Config, Fsync};
use crate::record::{JournalRecord, Level};
use crate::safe_fs::{self, DirFd, EntryKind};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

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

    /// Appends one record: sets its `seq`, `prev_hash` and `hash` and writes its line. A failure
    /// is counted (`.lost`), and the next record that is written reports the count.
    pub fn append(&self, record: &mut JournalRecord) -> Result<AppendOutcome, JournalError> {
        self.append_then(record, |_| ())
    }

    /// [`Journal::append`], then `after` with the journal directory, still under the lock (the
    /// hook keeps its list of projects there without opening and checking the directory again).
    pub(crate) fn append_then(
        &self,
        record: &mut JournalRecord,
        after: impl FnOnce(&DirFd),
    ) -> Result<AppendOutcome, JournalError> {
        let result = self.try_append_then(record, after);
        if result.is_err() {
            self.count_lost();
        }
        result
    }

    fn try_append_then(
        &self,
        record: &mut JournalRecord,
        after: impl FnOnce(&DirFd),
    ) -> Result<AppendOutcome, JournalError> {
        let io = |e| JournalError::io(&self.dir, e);
        // The data dir and the journal dir must be ours; every file is opened through the
        // checked directory, never through a symlink (see `safe_fs`).
        if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            safe_fs::check_dir(parent).map_err(|e| JournalError::io(parent, e))?;
        }
        let dir = DirFd::open_checked(&self.dir).map_err(io)?;
        let lock_path = self.dir.join(".lock");
        let lock =
            dir.open_file(".lock", libc::O_RDWR | libc::O_CREAT, 0o600).map_err(|e| JournalError::io(&lock_path, e))?;
        lock.lock().map_err(|e| JournalError::io(&lock_path, e))?;
        let head = super::head::read(&lock);

        // One listing answers every "is it there, what is it" below (no stat or failed open per
        // name); the opens themselves still refuse symlinks and non-regular files.
        let entries = dir.entries().map_err(io)?;
        let kind_of = |name: &str| -> std::io::Result<Option<EntryKind>> {
            match entries.iter().find(|(n, _)| n == name) {
                None => Ok(None),
                Some((_, Some(k))) => Ok(Some(*k)),
                Some((_, None)) => dir.entry_kind(name),
            }
        };
        let mut all: Vec<(SegmentName, bool)> = Vec::new();
        for (n, k) in &entries {
            if let Some(name) = SegmentName::parse(n) {
                let regular = match k {
                    Some(k) => *k == EntryKind::File,
                    None => dir.entry_kind(n).ok().flatten() == Some(EntryKind::File),
                };
                all.push((name, regular));
            }
        }
        all.sort();
        let segments: Vec<SegmentName> = all.iter().filter(|(_, regular)| *regular).map(|(n, _)| n.clone()).collect();
        let (mut tail, mut open_newest) = read_chain_tail(&dir, &segments).map_err(io)?;
        // Records cut from the end leave a shorter, valid chain: the head says how far it went.
        // A torn last line one record behind the head is a crash cutting the record the head
        // names (the repair record below keeps its bytes), not a removal.
        let torn_head = |h: &(u64, String)| tail.torn.is_some() && tail.last.as_ref().map_or(0, |t| t.0 + 1) == h.0;
        let removed = match &head {
            Ok(Some(h)) if torn_head(h) => None,
            Ok(Some(h)) => super::head::tail_removed(h, tail.last.as_ref()),
            Ok(None) => None,
            Err(why) => {
                Some(format!("the journal's head was damaged ({why}): records may have been removed from the end"))
            }
        };
        let today = crate::timefmt::yyyymmdd(record.time_unix_nano.max(1));
        let current = segments.last();
        let newest_name = all.last().map(|(n, _)| n.clone());
        let mut repaired_bytes = None;
        let lost = if entries.iter().any(|(n, _)| n == LOST) { read_lost(&dir) } else { 0 };
        if lost > 0 {
            record.metadata.events_lost = Some(lost);
        }

        if let (Some(name), Some((good_len, bytes))) = (current, tail.torn.take()) {
            // Cut the torn bytes and keep them (redacted) in a repair record, so nothing is lost
            // and the chain goes on from the last complete record.
            let path = self.dir.join(name.file_name());
            let f = open_newest.as_ref().ok_or_else(|| {
                JournalError::io(&path, std::io::Error::other("the segment could not be opened for writing"))
            })?;
            f.set_len(good_len).map_err(|e| JournalError::io(&path, e))?;
            tail.current_len = good_len;
            let mut repair = repair_record(record, &bytes);
            let out = self.write(&dir, &name.file_name(), &mut repair, &tail, open_newest.as_mut())?;
            tail.last = Some((out.0, out.1));
            tail.current_len += out.2;
            repaired_bytes = Some(bytes.len() as u64);
        }

        // The segment to write: the newest if it is a regular file with room (and the clock is
        // not past its day), else the next. A clock behind the newest segment's day keeps
        // appending to it: seq and the chain order records, not wall time (a new segment per
        // record while the clock was a day behind, before).
        let mut name = match (current, &newest_name) {
            (Some(cur), Some(newest))
                if cur == newest && today <= cur.day && tail.current_len < self.segment_max_bytes =>
            {
                cur.clone()
            }
            (_, Some(newest)) => newest.next(&today),
            (None, None) => SegmentName { day: today.clone(), index: 0 },
            (Some(cur), None) => cur.next(&today),
        };
        // A bad entry where the newest segment should be (a symlink, a directory, a FIFO): not
        // followed, not used; the journal moves on to a new segment with a record that says why.
        let mut bad: Vec<String> = all
            .iter()
            .filter(|(n, regular)| !regular && Some(n) == newest_name.as_ref())
            .map(|(n, _)| {
                format!(
                    "{} is {}",
                    n.file_name(),
                    kind_of(&n.file_name()).ok().flatten().map(|k| k.describe()).unwrap_or("not a regular file")
                )
            })
            .collect();
        for _ in 0..16 {
            match kind_of(&name.file_name()).map_err(io)? {
                None | Some(EntryKind::File) => break,
                Some(kind) => {
                    bad.push(format!("{} is {}", name.file_name(), kind.describe()));
                    name = name.next(&today);
                }
            }
        }
        // The descriptor read for the tail is written through only if it is the segment chosen.
        let mut reuse = open_newest.as_mut().filter(|_| current == Some(&name));
        if !bad.is_empty() {
            let mut note = recovery_record(record, &bad, &name.file_name());
            let out = self.write(&dir, &name.file_name(), &mut note, &tail, reuse.as_deref_mut())?;
            tail.last = Some((out.0, out.1));
        }
        if let Some(reason) = removed {
            let mut note = tail_removed_record(record, &reason, head.ok().flatten());
            let out = self.write(&dir, &name.file_name(), &mut note, &tail, reuse.as_deref_mut())?;
            tail.last = Some((out.0, out.1));
        }
        let file_name = name.file_name();
        let (seq, hash, _) = self.write(&dir, &file_name, record, &tail, reuse)?;
        super::head::write(&lock, seq, &hash);
        if lost > 0 {
            write_lost(&dir, 0);
        }
        after(&dir);
        drop(lock);
        Ok(AppendOutcome { seq, hash, segment: self.dir.join(file_name), repaired_bytes })
    }

    /// Counts one event that could not be journaled (best effort: the disk may be full; the
    /// counter file is rewritten in place, which needs no new blocks once it exists).
    fn count_lost(&self) {
        let Ok(dir) = DirFd::open_checked(&self.dir) else { return };
        let Ok(lock) = dir.open_file(".lock", libc::O_RDWR | libc::O_CREAT, 0o600) else { return };
        if lock.lock().is_err() {
            return;
        }
        let n = read_lost(&dir);
        write_lost(&dir, n + 1);
    }

    /// Writes `record` as the successor of `tail.last`; returns (seq, hash, bytes written).
    /// `open`: the segment `name`, already open for appending (else it is opened here).
    fn write(
        &self,
        dir: &DirFd,
        name: &str,
        record: &mut JournalRecord,
        tail: &Tail,
        open: Option<&mut File>,
    ) -> Result<(u64, String, u64), JournalError> {
        let path = self.dir.join(name);
        let (seq, prev) = match &tail.last {
            Some((s, h)) => (s + 1, h.clone()),
            None => (0, GENESIS.to_string()),
        };
        record.seq = seq;
        record.prev_hash = prev;
        record.hash.clear();
        if let Some(t) = record.started {
            record.metadata.hook_us = Some(t.elapsed().as_micros() as u64);
        }
        let (line, hash) = chain::encode(record)?;
        let mut opened;
        let f = match open {
            Some(f) => f,
            None => {
                opened = dir
                    .open_file(name, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, 0o600)
                    .map_err(|e| JournalError::io(&path, e))?;
                &mut opened
            }
        };
        // One write call for the whole line: with O_APPEND under the lock, lines never interleave.
        f.write_all(&line).map_err(|e| JournalError::io(&path, e))?;
        if self.fsync == Fsync::Always {
            f.sync_data().map_err(|e| JournalError::io(&path, e))?;
        }
        record.hash = hash.clone();
        Ok((seq, hash, line.len() as u64))
    }
}

const LOST: &str = ".lost";

fn read_lost(dir: &DirFd) -> u64 {
    let Ok(mut f) = dir.open_file(LOST, libc::O_RDONLY, 0) else { return 0 };
    let mut s = String::new();
    let _ = (&mut f).take(64).read_to_string(&mut s);
    s.trim().parse().unwrap_or(0)
}

fn write_lost(dir: &DirFd, n: u64) {
    if let Ok(mut f) = dir.open_file(LOST, libc::O_WRONLY | libc::O_CREAT, 0o600) {
        // Fixed width: rewriting in place never grows the file.
        let _ = f.write_all(format!("{n:>20}\n").as_bytes());
    }
}

/// The record that keeps a torn tail's bytes. They were redacted when first written — unless
/// the agent wrote them — so they are redacted again.
fn repair_record(like: &JournalRecord, torn: &[u8]) -> JournalRecord {
    let text = String::from_utf8_lossy(torn);
    let mut redactor = crate::enrich::redact::Redactor::new();
    // Redacted before the cap: a secret the cap cuts is removed whole.
    let kept = match redactor.redact_capped(&text, 256 * 1024) {
        (Some(out), _) => out,
        (None, _) => text.to_string(),
    };
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
            "text": kept,
            "redactions": redactor.count,
        }),
        ..JournalRecord::default()
    }
}

/// The record written when the journal moves past entries it will not use.
fn recovery_record(like: &JournalRecord, bad: &[String], next: &str) -> JournalRecord {
    JournalRecord {
        timestamp: like.timestamp.clone(),
        time_unix_nano: like.time_unix_nano,
        level: Level::Error,
        event_type: "journal_recovery".into(),
        hook_event: "JournalRecovery".into(),
        telemetry_enabled: true,
        metadata: like.metadata.clone(),
        raw_input: serde_json::json!({
            "reason": format!("entries named like journal segments are not regular files and were not followed or used ({}); the journal goes on in {next}", bad.join("; ")),
            "bad_entries": bad,
            "next_segment": next,
        }),
        ..JournalRecord::default()
    }
}

/// The record written when the journal is shorter than its head says (see `head`).
fn tail_removed_record(like: &JournalRecord, reason: &str, head: Option<(u64, String)>) -> JournalRecord {
    JournalRecord {
        timestamp: like.timestamp.clone(),
        time_unix_nano: like.time_unix_nano,
        level: Level::Error,
        event_type: super::head::TAIL_REMOVED.into(),
        hook_event: "JournalTailRemoved".into(),
        telemetry_enabled: true,
        metadata: like.metadata.clone(),
        security: crate::record::Security {
            risk: Some(crate::record::Severity::High),
            findings: vec![crate::record::Finding {
                rule: "telemetry_tampering.journal_tail_removed".into(),
                category: "telemetry_tampering".into(),
                severity: crate::record::Severity::High,
                action: "alert".into(),
                matched: String::new(),
                description: "records were removed from the end of the journal before this append".into(),
            }],
            ..Default::default()
        },
        raw_input: serde_json::json!({
            "reason": reason,
            "head_seq": head.as_ref().map(|h| h.0),
            "head_hash": head.map(|h| h.1),
        }),
        ..JournalRecord::default()
    }
}

/// Finds the last complete record, looking back through segments if the newest is empty. The
/// newest segment is opened for reading *and* appending, and returned open, so the record can be
/// written through the same descriptor (one open instead of two).
fn read_chain_tail(dir: &DirFd, segments: &[SegmentName]) -> std::io::Result<(Tail, Option<File>)> {
    let mut tail = Tail::default();
    let mut newest_file = None;
    for (i, name) in segments.iter().enumerate().rev() {
        let newest = i + 1 == segments.len();
        let file_name = name.file_name();
        let (f, len) =
            match dir.open_file_len(&file_name, if newest { libc::O_RDWR | libc::O_APPEND } else { libc::O_RDONLY }, 0)
            {
                // A read-only segment can still be read (the record then goes to the next one or
                // fails to open there, as before).
                Err(e) if newest && matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS)) => {
                    dir.open_file_len(&file_name, libc::O_RDONLY, 0)?
                }
                r => r?,
            };
        let (last, torn) = last_record_in(&f, len)?;
        if newest {
            tail.current_len = len;
            tail.torn = torn;
            newest_file = Some(f);
        }
        if last.is_some() {
            tail.last = last;
            break;
        }
    }
    Ok((tail, newest_file))
}

/// Reads backwards from the end of a segment: the last line that carries a `seq` and a `hash`,
/// and the torn bytes after the last newline (with the length to cut back to).
#[allow(clippy::type_complexity)]
pub(crate) fn last_record_in(f: &File, len: u64) -> std::io::Result<(Option<(u64, String)>, Option<(u64, Vec<u8>)>)> {
    // One page first: a record is usually much shorter (the window grows when it is not).
    let mut window = 4 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        // One pread per window (no seek); a file shorter than its fstat said reads short.
        let mut buf = vec![0u8; (len - start) as usize];
        let mut got = 0;
        while got < buf.len() {
            match f.read_at(&mut buf[got..], start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        let complete_end = buf.iter().rposition(|b| *b == b'\n').map(|i| i + 1);
        let torn = match complete_end {
            Some(e) if e < buf.len() => Some((start + e as u64, buf[e..].to_vec())),
            None if start == 0 && !buf.is_empty() => Some((0, buf.clone())),
            _ => None,
        };
        // Complete lines in the window, newest first (found from the end: the newest is nearly
        // always the one); the first may be partial unless the window starts at 0.
        let mut stop = complete_end.unwrap_or(0);
        while stop > 0 {
            let newline = stop - 1;
            let line_start = buf[..newline].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            if line_start == 0 && start > 0 {
                break;
            }
            if line_start < newline {
                if let Some(found) = seq_and_hash(&buf[line_start..newline]) {
                    return Ok((Some(found), torn));
                }
            }
            stop = line_start;
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
        if let (Some(b','), Ok(seq)) =
            (rest.get(digits), std::str::from_utf8(&rest[..digits]).unwrap_or("").parse::<u64>())
        {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(dir: &std::path::Path) -> Journal {
        Journal { dir: dir.join("journal"), fsync: Fsync::Never, segment_max_bytes: 64 * 1024 * 1024 }
    }

    fn record_at(t: u64) -> JournalRecord {
        JournalRecord {
            time_unix_nano: t,
            event_type: "tool_call".into(),
            hook_event: "PreToolUse".into(),
            ..JournalRecord::default()
        }
    }

    fn segments(j: &Journal) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&j.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
        v.sort();
        v
    }

    /// A clock set back behind the newest segment's day keeps appending to that segment (the
    /// chain's seq orders records, not wall time); a day ahead starts that day's segment, and a
    /// full segment still rolls over on the newest segment's day.
    #[test]
    fn a_clock_behind_the_newest_segment_keeps_its_segment() {
        const DAY: u64 = 86_400_000_000_000;
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("journal")).unwrap();
        let mut j = journal(d.path());
        let now = 1_796_000_000 * 1_000_000_000; // 2026-11-29
        for t in [now, now - 2 * DAY, now - 2 * DAY + 1, now - 3 * DAY, now] {
            j.append(&mut record_at(t)).unwrap();
        }
        assert_eq!(
            segments(&j),
            vec![format!("{}-000000.jsonl", crate::timefmt::yyyymmdd(now))],
            "one segment for the day, whatever the clock said"
        );
        j.append(&mut record_at(now + DAY)).unwrap();
        j.append(&mut record_at(now)).unwrap();
        let ahead = format!("{}-000000.jsonl", crate::timefmt::yyyymmdd(now + DAY));
        assert_eq!(segments(&j).last(), Some(&ahead), "a day ahead starts its segment, and the clock back keeps it");
        assert_eq!(segments(&j).len(), 2);
        // A full segment rolls over on the newest segment's day, never back to the clock's day.
        j.segment_max_bytes = 1;
        j.append(&mut record_at(now - DAY)).unwrap();
        assert_eq!(segments(&j).last(), Some(&format!("{}-000001.jsonl", crate::timefmt::yyyymmdd(now + DAY))));
        assert_eq!(segments(&j).len(), 3);
        let v = super::super::verify::verify(&j.dir, None).unwrap();
        assert!(v.first_break.is_none() && v.records == 8, "{v:?}");
    }
}
