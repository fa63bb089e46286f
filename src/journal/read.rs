//! Reading the journal back: records in order from a position, the last record, and counts.

use super::segment::{self, SegmentName};
use crate::record::JournalRecord;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A position in the journal: a segment and a byte offset within it (the start of a line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub(crate) struct Position {
    pub segment: String,
    pub offset: u64,
}

/// Why a journal line could not be read back as a record (the message says what is wrong with
/// the JSON, and where in the line).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadLine {
    #[error(transparent)]
    NotARecord(#[from] serde_json::Error),
}

/// One line read back: the record (or why it could not be read) and where the next line starts.
pub(crate) struct Entry {
    pub record: Result<JournalRecord, BadLine>,
    /// The line as written (without its newline): the record's canonical JSON.
    pub raw: String,
    pub next: Position,
}

/// The segments at or after `from`, each with the offset to start reading at.
fn segments_from(dir: &Path, from: Option<&Position>) -> std::io::Result<Vec<(String, PathBuf, u64)>> {
    let mut out = Vec::new();
    for (name, path) in segment::list(dir)? {
        let file_name = name.file_name();
        let offset = match from {
            Some(p) if file_name.as_str() < p.segment.as_str() => continue,
            Some(p) if file_name == p.segment => p.offset,
            _ => 0,
        };
        out.push((file_name, path, offset));
    }
    Ok(out)
}

/// The journal's complete lines from a position on, unparsed, each with its segment and offset:
/// the one reader of the journal (the relay's and `show`'s [`read_from`], `verify`'s, the
/// forensics index's). An incomplete last line is left for later: a hook may be writing it.
/// Segments are opened as [`segment::open`] does (a regular file, never through a link).
pub(crate) struct Lines {
    segments: std::vec::IntoIter<(String, PathBuf, u64)>,
    current: Option<(String, BufReader<File>, u64)>,
    position: Position,
}

impl Lines {
    /// Lines after `from` (from the start when `None`).
    pub(crate) fn new(dir: &Path, from: Option<&Position>) -> std::io::Result<Lines> {
        Ok(Lines {
            segments: segments_from(dir, from)?.into_iter(),
            current: None,
            position: from.cloned().unwrap_or_default(),
        })
    }

    /// Where the next line starts (after the last one read).
    pub(crate) fn position(&self) -> &Position {
        &self.position
    }

    /// The next complete line, without its newline, into `line` (cleared first), and its offset
    /// in its segment (whose file name is then `position().segment`); `None` at the end.
    pub(crate) fn next_into(&mut self, line: &mut Vec<u8>) -> std::io::Result<Option<u64>> {
        loop {
            let (name, reader, pos) = match &mut self.current {
                Some(c) => c,
                None => {
                    let Some((name, path, offset)) = self.segments.next() else { return Ok(None) };
                    let mut f = segment::open(path.parent().unwrap_or(Path::new(".")), &name)?;
                    f.seek(SeekFrom::Start(offset))?;
                    self.current.insert((name, BufReader::with_capacity(READ_BUFFER, f), offset))
                }
            };
            line.clear();
            let n = reader.read_until(b'\n', line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                self.current = None;
                continue;
            }
            line.pop();
            let at = *pos;
            *pos += n as u64;
            if self.position.segment != *name {
                self.position.segment.clone_from(name);
            }
            self.position.offset = *pos;
            return Ok(Some(at));
        }
    }
}

/// Bytes read from a segment at a time.
const READ_BUFFER: usize = 1 << 20;

/// Reads up to `max` complete lines after `from` (from the start when `None`). An incomplete
/// last line is left for later: a hook may be writing it.
pub(crate) fn read_from(dir: &Path, from: Option<&Position>, max: usize) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut lines = Lines::new(dir, from)?;
    let mut line = Vec::new();
    while out.len() < max && lines.next_into(&mut line)?.is_some() {
        out.push(Entry {
            record: serde_json::from_slice(&line).map_err(BadLine::from),
            raw: String::from_utf8_lossy(&line).into_owned(),
            next: lines.position().clone(),
        });
    }
    Ok(out)
}

/// The `(seq, hash)` of the record whose line ends (newline included) exactly at `at`: `None`
/// when the segment is gone, `at` is not the end of a line, or that line is not a record. The
/// relay checks its checkpoint with it (a crash can cut exported lines; see `relay::checkpoint`).
pub(crate) fn record_ending_at(dir: &Path, at: &Position) -> Option<(u64, String)> {
    if at.offset == 0 || SegmentName::parse(&at.segment).is_none() {
        return None;
    }
    let f = File::open(dir.join(&at.segment)).ok()?;
    if f.metadata().ok()?.len() < at.offset {
        return None;
    }
    match super::append::last_record_in(&f, at.offset) {
        Ok((Some(found), None)) => Some(found),
        _ => None,
    }
}

/// Whether the segment a position names exists (a regular file).
pub(crate) fn segment_exists(dir: &Path, at: &Position) -> bool {
    SegmentName::parse(&at.segment).is_some()
        && std::fs::symlink_metadata(dir.join(&at.segment)).is_ok_and(|m| m.is_file())
}

/// Newlines (complete records) from `offset` to the end of a file.
fn count_lines(path: &Path, offset: u64) -> std::io::Result<u64> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::with_capacity(256 * 1024, f);
    let mut n = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(n);
        }
        n += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let len = buf.len();
        reader.consume(len);
    }
}

/// Complete records after `from` (all of them when `None`): the relay's backlog.
pub(crate) fn count_after(dir: &Path, from: Option<&Position>) -> std::io::Result<u64> {
    let mut n = 0;
    for (_, path, offset) in segments_from(dir, from)? {
        n += count_lines(&path, offset)?;
    }
    Ok(n)
}

/// Summary numbers for `status`.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub segments: usize,
    pub bytes: u64,
    pub records: u64,
    pub last: Option<JournalRecord>,
    pub newest_segment: Option<PathBuf>,
}

pub(crate) fn summary(dir: &Path) -> std::io::Result<Summary> {
    let mut s = Summary::default();
    let segments = segment::list(dir)?;
    s.segments = segments.len();
    for (_, path) in &segments {
        s.bytes += std::fs::metadata(path)?.len();
        s.records += count_lines(path, 0)?;
    }
    s.newest_segment = segments.last().map(|(_, p)| p.clone());
    s.last = last_record(&segments);
    Ok(s)
}

fn last_record(segments: &[(SegmentName, PathBuf)]) -> Option<JournalRecord> {
    for (_, path) in segments.iter().rev() {
        let text = std::fs::read(path).ok()?;
        if let Some(line) = text.split(|b| *b == b'\n').rev().find(|l| !l.is_empty()) {
            if let Ok(r) = serde_json::from_slice(line) {
                return Some(r);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cross_segments_leave_a_partial_line_and_resume_from_a_position() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("20261130-000000.jsonl"), "a\nbb\n").unwrap();
        std::fs::write(d.path().join("20261130-000001.jsonl"), "ccc\npartial").unwrap();
        std::fs::write(d.path().join("notes.txt"), "x\n").unwrap();
        let mut lines = Lines::new(d.path(), None).unwrap();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(off) = lines.next_into(&mut buf).unwrap() {
            got.push((lines.position().segment.clone(), off, String::from_utf8(buf.clone()).unwrap()));
        }
        assert_eq!(
            got,
            [
                ("20261130-000000.jsonl".into(), 0, "a".into()),
                ("20261130-000000.jsonl".into(), 2, "bb".into()),
                ("20261130-000001.jsonl".into(), 0, "ccc".into())
            ] as [(String, u64, String); 3]
        );
        assert_eq!(
            lines.position(),
            &Position { segment: "20261130-000001.jsonl".into(), offset: 4 },
            "the partial line is left for later"
        );
        let from = Position { segment: "20261130-000000.jsonl".into(), offset: 2 };
        let rest: Vec<String> = read_from(d.path(), Some(&from), 10).unwrap().into_iter().map(|e| e.raw).collect();
        assert_eq!(rest, ["bb", "ccc"]);
        assert_eq!(read_from(d.path(), None, 2).unwrap().len(), 2, "max");
    }

    #[test]
    fn a_segment_that_is_a_link_is_not_read() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside.jsonl");
        std::fs::write(&outside, "secret\n").unwrap();
        std::os::unix::fs::symlink(&outside, d.path().join("20261130-000000.jsonl")).unwrap();
        assert!(read_from(d.path(), None, 10).unwrap().is_empty());
        assert!(segment::open(d.path(), "20261130-000000.jsonl").is_err());
    }
}
