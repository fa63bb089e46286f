//! Segment files: names, listing, and the choice of the segment to append to.

use std::path::{Path, PathBuf};

/// A segment's name is `YYYYMMDD-NNNNNN.jsonl`: the UTC day it was started and a counter, so
/// that names sort in write order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SegmentName {
    pub day: String,
    pub index: u32,
}

impl SegmentName {
    pub(crate) fn parse(file_name: &str) -> Option<SegmentName> {
        let stem = file_name.strip_suffix(".jsonl")?;
        let (day, index) = stem.split_once('-')?;
        if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) || index.len() != 6 {
            return None;
        }
        Some(SegmentName { day: day.to_string(), index: index.parse().ok()? })
    }

    pub(crate) fn file_name(&self) -> String {
        format!("{}-{:06}.jsonl", self.day, self.index)
    }

    /// The segment after this one, on `day` (a day before this one's keeps this one's day: names
    /// must sort in write order whatever the clock says).
    pub(crate) fn next(&self, day: &str) -> SegmentName {
        if day > self.day.as_str() {
            SegmentName { day: day.to_string(), index: 0 }
        } else {
            SegmentName { day: self.day.clone(), index: self.index + 1 }
        }
    }
}

/// Opens segment `name` of a journal directory for reading: a segment name, a regular file,
/// never through a link (an entry swapped for a link or a FIFO after it was listed is refused).
pub(crate) fn open(dir: &Path, name: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if SegmentName::parse(name).is_none() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{name:?} is not a segment name")));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(dir.join(name))?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{name} is not a regular file")));
    }
    Ok(f)
}

/// All segments of a journal directory, oldest first: regular files only (an entry named like a
/// segment that is a symlink, a directory or a FIFO is never read; see [`list_all`]).
pub(crate) fn list(dir: &Path) -> std::io::Result<Vec<(SegmentName, PathBuf)>> {
    Ok(list_all(dir)?.into_iter().filter(|(_, _, regular)| *regular).map(|(n, p, _)| (n, p)).collect())
}

/// Every entry named like a segment, with whether it is a regular file (not followed).
pub(crate) fn list_all(dir: &Path) -> std::io::Result<Vec<(SegmentName, PathBuf, bool)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str().and_then(SegmentName::parse) {
            let regular = entry.file_type().is_ok_and(|t| t.is_file());
            out.push((name, entry.path(), regular));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_and_roll() {
        let a = SegmentName::parse("20261123-000009.jsonl").unwrap();
        assert_eq!(a.next("20261123").file_name(), "20261123-000010.jsonl");
        assert_eq!(a.next("20261124").file_name(), "20261124-000000.jsonl");
        assert!(SegmentName::parse("x.jsonl").is_none());
        assert!(a < a.next("20261123"));
        assert_eq!(a.next("20261120").file_name(), "20261123-000010.jsonl", "a clock set back never sorts before");
    }
}
