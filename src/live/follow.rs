//! Following the journal: the complete records appended after a position, read again and again
//! (each read lists the segments, so a segment started since — a rotation — is picked up).
//! Opens segments read-only through [`crate::journal::read::Lines`]; never creates, locks or
//! writes anything.

use crate::journal::read::{Lines, Position};
use crate::journal::segment;
use crate::record::JournalRecord;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One record read back, with where its line is.
pub(crate) struct Followed {
    pub record: JournalRecord,
    pub segment: String,
    pub offset: u64,
    /// The line's length, without its newline.
    pub len: u64,
}

/// A reader of the journal at `dir` that remembers where it is.
pub(crate) struct Follower {
    dir: PathBuf,
    position: Position,
}

impl Follower {
    /// From the journal's current end: only records appended from now on.
    pub(crate) fn at_end(dir: &Path) -> std::io::Result<Follower> {
        let segments = segment::list(dir)?;
        let position = match segments.last() {
            Some((name, path)) => Position { segment: name.file_name(), offset: last_line_end(path)? },
            None => Position::default(),
        };
        Ok(Follower { dir: dir.to_path_buf(), position })
    }

    /// From the first segment that can hold a record at or after `since` (Unix ns): segments
    /// are named by the UTC day they were started, so those of the day before and earlier are
    /// skipped (one day of slack for a clock near midnight). The caller still filters by time.
    pub(crate) fn since(dir: &Path, since: u64) -> std::io::Result<Follower> {
        let day_before = crate::timefmt::yyyymmdd(since.saturating_sub(86_400 * 1_000_000_000));
        let position = segment::list(dir)?
            .into_iter()
            .find(|(name, _)| name.day >= day_before)
            .map(|(name, _)| Position { segment: name.file_name(), offset: 0 });
        // No segment that recent: from the end (nothing older can match).
        match position {
            Some(position) => Ok(Follower { dir: dir.to_path_buf(), position }),
            None => Follower::at_end(dir),
        }
    }

    /// From about `bytes` before the journal's end (at a line start), across segments: what
    /// `top` starts from, so that its start costs the same on a journal of any size.
    pub(crate) fn tail(dir: &Path, bytes: u64) -> std::io::Result<Follower> {
        let segments = segment::list(dir)?;
        let mut left = bytes;
        let mut position = Position::default();
        for (name, path) in segments.iter().rev() {
            let len = std::fs::metadata(path)?.len();
            if len >= left {
                position = Position { segment: name.file_name(), offset: next_line_start(path, len - left)? };
                break;
            }
            left -= len;
            position = Position { segment: name.file_name(), offset: 0 };
        }
        Ok(Follower { dir: dir.to_path_buf(), position })
    }

    /// Where the next read starts.
    #[cfg(test)]
    pub(crate) fn position(&self) -> &Position {
        &self.position
    }

    /// Up to `max` complete records appended since the last read (lines that are not records
    /// are skipped; a line being written is left for the next read).
    pub(crate) fn read(&mut self, max: usize) -> std::io::Result<Vec<Followed>> {
        let mut lines = Lines::new(&self.dir, Some(&self.position))?;
        let mut out = Vec::new();
        let mut line = Vec::new();
        while out.len() < max {
            let Some(offset) = lines.next_into(&mut line)? else { break };
            if let Ok(record) = serde_json::from_slice::<JournalRecord>(&line) {
                out.push(Followed {
                    record,
                    segment: lines.position().segment.clone(),
                    offset,
                    len: line.len() as u64,
                });
            }
        }
        self.position = lines.position().clone();
        Ok(out)
    }
}

/// The offset just after the last newline of a segment (0 when it has none).
fn last_line_end(path: &Path) -> std::io::Result<u64> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The first line start at or after `at` (the segment's length when no line starts there).
fn next_line_start(path: &Path, at: u64) -> std::io::Result<u64> {
    if at == 0 {
        return Ok(0);
    }
    let mut f = std::fs::File::open(path)?;
    // A line starts at `at` when the byte before it is a newline.
    f.seek(SeekFrom::Start(at - 1))?;
    let mut pos = at - 1;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(pos);
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64) -> String {
        let r = JournalRecord { seq, hook_event: "PreToolUse".into(), time_unix_nano: seq, ..Default::default() };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    fn seqs(f: &mut Follower) -> Vec<u64> {
        f.read(usize::MAX).unwrap().into_iter().map(|r| r.record.seq).collect()
    }

    #[test]
    fn follows_appends_and_rotation_from_the_end() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("20261130-000000.jsonl");
        std::fs::write(&a, rec(1) + &rec(2)).unwrap();
        let mut f = Follower::at_end(d.path()).unwrap();
        assert!(seqs(&mut f).is_empty(), "nothing before the start");
        let mut partial = rec(3);
        let tail = partial.split_off(10);
        std::fs::write(&a, rec(1) + &rec(2) + &partial).unwrap();
        assert!(seqs(&mut f).is_empty(), "a line being written waits");
        std::fs::write(&a, rec(1) + &rec(2) + &partial + &tail).unwrap();
        assert_eq!(seqs(&mut f), [3]);
        std::fs::write(d.path().join("20261130-000001.jsonl"), rec(4) + &rec(5)).unwrap();
        assert_eq!(seqs(&mut f), [4, 5], "a new segment");
        assert_eq!(f.position().segment, "20261130-000001.jsonl");
        assert!(seqs(&mut f).is_empty());
    }

    #[test]
    fn tail_starts_at_a_line_within_the_last_bytes_across_segments() {
        let d = tempfile::tempdir().unwrap();
        let line = rec(1).len() as u64;
        std::fs::write(d.path().join("20261130-000000.jsonl"), rec(1) + &rec(2) + &rec(3)).unwrap();
        std::fs::write(d.path().join("20261130-000001.jsonl"), rec(4)).unwrap();
        // The last record and a half: the half line is skipped.
        assert_eq!(seqs(&mut Follower::tail(d.path(), line + line / 2).unwrap()), [4]);
        // Exactly two lines: starts at a line boundary.
        assert_eq!(seqs(&mut Follower::tail(d.path(), 2 * line).unwrap()), [3, 4]);
        assert_eq!(seqs(&mut Follower::tail(d.path(), 1 << 30).unwrap()), [1, 2, 3, 4]);
        assert!(seqs(&mut Follower::tail(d.path(), 0).unwrap()).is_empty());
    }

    #[test]
    fn since_skips_segments_of_older_days_and_an_empty_journal_waits() {
        let d = tempfile::tempdir().unwrap();
        let mut f = Follower::at_end(d.path()).unwrap();
        assert!(seqs(&mut f).is_empty());
        std::fs::write(d.path().join("20261120-000000.jsonl"), rec(1)).unwrap();
        std::fs::write(d.path().join("20261129-000000.jsonl"), rec(2)).unwrap();
        std::fs::write(d.path().join("20261130-000000.jsonl"), rec(3)).unwrap();
        assert_eq!(seqs(&mut f), [1, 2, 3], "from an empty journal: everything written since");
        let t = crate::forensics::time::parse_point("2026-11-30T12:00:00Z", 0).unwrap();
        assert_eq!(seqs(&mut Follower::since(d.path(), t).unwrap()), [2, 3]);
        let later = crate::forensics::time::parse_point("2026-12-30T12:00:00Z", 0).unwrap();
        assert!(seqs(&mut Follower::since(d.path(), later).unwrap()).is_empty());
    }
}
