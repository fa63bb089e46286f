//! Reading the journal back: records in order from a position, the last record, and counts.

use super::segment::{self, SegmentName};
use crate::record::JournalRecord;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A position in the journal: a segment and a byte offset within it (the start of a line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub struct Position {
    pub segment: String,
    pub offset: u64,
}

/// One line read back: the record (or why it could not be read) and where the next line starts.
pub struct Entry {
    pub record: Result<JournalRecord, String>,
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

/// Reads up to `max` complete lines after `from` (from the start when `None`). An incomplete
/// last line is left for later: a hook may be writing it.
pub fn read_from(dir: &Path, from: Option<&Position>, max: usize) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (file_name, path, offset) in segments_from(dir, from)? {
        let mut f = File::open(&path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::with_capacity(256 * 1024, f);
        let mut pos = offset;
        let mut line = Vec::new();
        loop {
            if out.len() >= max {
                return Ok(out);
            }
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            pos += n as u64;
            let body = &line[..line.len() - 1];
            out.push(Entry {
                record: serde_json::from_slice(body).map_err(|e| e.to_string()),
                raw: String::from_utf8_lossy(body).into_owned(),
                next: Position { segment: file_name.clone(), offset: pos },
            });
        }
    }
    Ok(out)
}

/// The `(seq, hash)` of the record whose line ends (newline included) exactly at `at`: `None`
/// when the segment is gone, `at` is not the end of a line, or that line is not a record. The
/// relay checks its checkpoint with it (a crash can cut exported lines; see `relay::checkpoint`).
pub fn record_ending_at(dir: &Path, at: &Position) -> Option<(u64, String)> {
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
pub fn segment_exists(dir: &Path, at: &Position) -> bool {
    SegmentName::parse(&at.segment).is_some() && std::fs::symlink_metadata(dir.join(&at.segment)).is_ok_and(|m| m.is_file())
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
pub fn count_after(dir: &Path, from: Option<&Position>) -> std::io::Result<u64> {
    let mut n = 0;
    for (_, path, offset) in segments_from(dir, from)? {
        n += count_lines(&path, offset)?;
    }
    Ok(n)
}

/// Summary numbers for `status`.
#[derive(Debug, Default)]
pub struct Summary {
    pub segments: usize,
    pub bytes: u64,
    pub records: u64,
    pub last: Option<JournalRecord>,
    pub newest_segment: Option<PathBuf>,
}

pub fn summary(dir: &Path) -> std::io::Result<Summary> {
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
