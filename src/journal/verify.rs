//! `verify`: walks every segment in order and checks the chain — each line's hash, the `seq`
//! sequence (gap-free from 0) and each `prev_hash` link — and names the first broken record.
//!
//! What each tamper looks like: an edited record fails its own hash; a deleted record leaves a
//! `seq` gap; reordered records go backwards in `seq`; a record edited *and* re-hashed breaks the
//! next record's `prev_hash`; a cut-off last line has no newline or no valid hash. Whole records
//! removed from the very end leave no trace in the chain itself: the journal's head (`.lock`, see
//! `head`) and the relay's checkpoint (which remembers the last exported `seq`) catch that. Every
//! entry of the directory is listed: one that is not a segment or a journal file is refused.

use super::chain::{self, GENESIS};
use super::segment;
use crate::progress::{Progress, EVERY};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BreakKind {
    /// The line's hash does not match its content.
    Edited,
    /// `seq` jumped forward: records are missing.
    Deleted,
    /// `seq` went backwards or repeated.
    Reordered,
    /// `prev_hash` does not link to the previous record.
    Unlinked,
    /// The last line is incomplete.
    Truncated,
    /// The line is not a record at all.
    Garbage,
    /// An entry of the journal directory that is neither a segment nor one of the journal's own
    /// files (a segment renamed out of the chain, a hidden copy, a planted file).
    Unexpected,
}

#[derive(Debug, Clone)]
pub(crate) struct Break {
    pub kind: BreakKind,
    pub segment: PathBuf,
    /// 1-based line number within the segment.
    pub line: u64,
    pub seq: Option<u64>,
    pub detail: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.segment.display(), self.line)?;
        if let Some(s) = self.seq {
            write!(f, " (seq {s})")?;
        }
        write!(f, ": {:?}: {}", self.kind, self.detail)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Report {
    pub segments: usize,
    pub records: u64,
    pub last_seq: Option<u64>,
    pub last_hash: Option<String>,
    /// `seq` of `journal_repair` records (torn writes that were cut and kept).
    pub repairs: Vec<u64>,
    pub first_break: Option<Break>,
    /// The head (`.lock`) the journal's end was checked against; `None`: no head was written.
    pub head: Option<(u64, String)>,
    /// Entries of the journal directory that are not journal files (each also fails `verify`).
    pub unexpected: Vec<Break>,
}

/// Whether a record with `seq` stands after line `after_line` of `segment` (or in a later segment).
fn seq_appears_later(
    segments: &[(segment::SegmentName, PathBuf)],
    segment: &Path,
    after_line: u64,
    seq: u64,
) -> std::io::Result<bool> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    let start = segments.iter().position(|(_, p)| p == segment).unwrap_or(0);
    for (i, (_, path)) in segments.iter().enumerate().skip(start) {
        let reader = BufReader::new(std::fs::File::open(path)?);
        for (n, line) in reader.split(b'\n').enumerate() {
            let line = line?;
            if i == start && (n as u64) < after_line {
                continue;
            }
            if serde_json::from_slice::<Seq>(&line).is_ok_and(|s| s.seq == seq) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Every entry of the journal directory that is neither named like a segment nor one of the
/// journal's own files: a segment renamed to a hidden or other name is refused, not skipped.
fn unexpected_entries(dir: &Path) -> std::io::Result<Vec<Break>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let known = name
            .to_str()
            .is_some_and(|n| segment::SegmentName::parse(n).is_some() || super::head::AUX_FILES.contains(&n));
        if known {
            continue;
        }
        // Regular files only (never a FIFO, never through a link).
        let looks_like_records = Some(())
            .filter(|_| entry.file_type().is_ok_and(|t| t.is_file()))
            .and_then(|_| std::fs::File::open(entry.path()).ok())
            .and_then(|f| {
                let mut first = Vec::new();
                BufReader::new(f).take(64 * 1024).read_until(b'\n', &mut first).ok()?;
                Some(first.starts_with(br#"{"seq":"#))
            })
            .unwrap_or(false);
        out.push(Break {
            kind: BreakKind::Unexpected,
            segment: entry.path(),
            line: 0,
            seq: None,
            detail: if looks_like_records {
                "holds journal records but is not named as a segment (a segment renamed or hidden out of the chain)"
                    .into()
            } else {
                "not a journal file: nothing but segments and the journal's own files belongs here".into()
            },
        });
    }
    out.sort_by(|a, b| a.segment.cmp(&b.segment));
    Ok(out)
}

/// Verifies the whole journal in `dir`. I/O errors are returned; chain problems are in the report.
/// `anchor` is a `(seq, hash)` known from outside (the relay's last exported record): the
/// journal must still hold that exact record, which catches records cut from the end.
#[cfg(test)]
pub(crate) fn verify(dir: &Path, anchor: Option<(u64, &str)>) -> std::io::Result<Report> {
    verify_with(dir, anchor, &crate::progress::Silent)
}

/// Verifies the whole journal in `dir` (see `verify`), reporting the journal bytes checked to
/// `progress`.
pub(crate) fn verify_with(dir: &Path, anchor: Option<(u64, &str)>, progress: &dyn Progress) -> std::io::Result<Report> {
    let mut report = Report::default();
    let segments = segment::list(dir)?;
    report.segments = segments.len();
    report.unexpected = unexpected_entries(dir)?;
    let head = match super::head::load(dir) {
        Ok(h) => h,
        Err(why) => {
            report.first_break = Some(Break {
                kind: BreakKind::Truncated,
                segment: dir.join(".lock"),
                line: 0,
                seq: None,
                detail: format!("{why}: whether records were removed from the end cannot be told"),
            });
            return Ok(report);
        }
    };
    report.head = head.clone();
    if progress.enabled() {
        progress.total(segments.iter().filter_map(|(_, p)| std::fs::metadata(p).ok()).map(|m| m.len()).sum());
    }
    let mut bytes = 0u64;
    let mut expected_seq = 0u64;
    let mut prev_hash = GENESIS.to_string();
    for (_, path) in &segments {
        let mut reader = BufReader::new(std::fs::File::open(path)?);
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            n += 1;
            bytes += line.len() as u64;
            let brk = |kind, seq, detail: String| Break { kind, segment: path.clone(), line: n, seq, detail };
            if line.last() != Some(&b'\n') {
                report.first_break = Some(brk(
                    BreakKind::Truncated,
                    None,
                    format!("incomplete last line ({} bytes, no newline): the journal was cut", line.len()),
                ));
                return Ok(report);
            }
            let body = &line[..line.len() - 1];
            #[derive(serde::Deserialize)]
            struct Link {
                seq: u64,
                prev_hash: String,
                #[serde(default)]
                event_type: String,
            }
            let link: Link = match serde_json::from_slice(body) {
                Ok(l) => l,
                Err(e) => {
                    let kind = if chain::check_line(body).is_err()
                        && serde_json::from_slice::<serde_json::Value>(body).is_err()
                    {
                        BreakKind::Garbage
                    } else {
                        BreakKind::Edited
                    };
                    report.first_break = Some(brk(kind, None, format!("not a journal record: {e}")));
                    return Ok(report);
                }
            };
            let hash = match chain::check_line(body) {
                Ok(h) => h,
                Err(why) => {
                    report.first_break = Some(brk(BreakKind::Edited, Some(link.seq), why.to_string()));
                    return Ok(report);
                }
            };
            if link.seq > expected_seq {
                // Missing here: deleted, or moved further down (reordered)?
                report.first_break = Some(if seq_appears_later(&segments, path, n, expected_seq)? {
                    brk(BreakKind::Reordered, Some(link.seq), format!("expected seq {expected_seq}, found {}: seq {expected_seq} comes later, records are out of order", link.seq))
                } else {
                    brk(
                        BreakKind::Deleted,
                        Some(link.seq),
                        format!(
                            "expected seq {expected_seq}, found {}: {} record(s) missing",
                            link.seq,
                            link.seq - expected_seq
                        ),
                    )
                });
                return Ok(report);
            }
            if link.seq < expected_seq {
                report.first_break = Some(brk(
                    BreakKind::Reordered,
                    Some(link.seq),
                    format!("expected seq {expected_seq}, found {}: records out of order or repeated", link.seq),
                ));
                return Ok(report);
            }
            if link.prev_hash != prev_hash {
                report.first_break = Some(brk(
                    BreakKind::Unlinked,
                    Some(link.seq),
                    "prev_hash does not match the previous record's hash: the record before it was changed or replaced"
                        .into(),
                ));
                return Ok(report);
            }
            if let Some((aseq, ahash)) = anchor {
                if aseq == link.seq && ahash != hash {
                    report.first_break = Some(brk(
                        BreakKind::Edited,
                        Some(link.seq),
                        "this is not the record the relay exported with this seq: the journal was rewritten".into(),
                    ));
                    return Ok(report);
                }
            }
            if let Some((hseq, hhash)) = &head {
                if *hseq == link.seq && *hhash != hash {
                    report.first_break = Some(brk(
                        BreakKind::Edited,
                        Some(link.seq),
                        "this is not the record the journal's head (.lock) names at this seq: the end of the journal was rewritten".into(),
                    ));
                    return Ok(report);
                }
            }
            if link.event_type == super::head::TAIL_REMOVED {
                #[derive(serde::Deserialize)]
                struct Note {
                    raw_input: Reason,
                }
                #[derive(serde::Deserialize)]
                struct Reason {
                    #[serde(default)]
                    reason: String,
                }
                let reason = serde_json::from_slice::<Note>(body).map(|n| n.raw_input.reason).unwrap_or_default();
                report.first_break = Some(brk(
                    BreakKind::Deleted,
                    Some(link.seq),
                    format!("an append found records removed from the end of the journal: {reason}"),
                ));
                return Ok(report);
            }
            if link.event_type == "journal_repair" {
                report.repairs.push(link.seq);
            }
            report.records += 1;
            if report.records.is_multiple_of(EVERY) {
                progress.done(bytes);
            }
            report.last_seq = Some(link.seq);
            expected_seq = link.seq + 1;
            prev_hash = hash;
        }
    }
    report.last_hash = report.last_seq.map(|_| prev_hash);
    if let Some((hseq, _)) = &head {
        // A head lagging behind the journal is allowed (a crash between the line and the head).
        if report.last_seq.is_none_or(|last| last < *hseq) {
            let segment = segments.last().map(|(_, p)| p.clone()).unwrap_or_else(|| dir.to_path_buf());
            report.first_break = Some(Break {
                kind: BreakKind::Truncated,
                segment,
                line: 0,
                seq: report.last_seq,
                detail: format!(
                    "the journal's head (.lock) says records up to seq {hseq} were written, but the journal ends at {}: records were removed from the end",
                    report.last_seq.map(|s| s.to_string()).unwrap_or_else(|| "nothing".into())
                ),
            });
            return Ok(report);
        }
    }
    if let Some((aseq, _)) = anchor {
        if report.last_seq.is_none_or(|last| last < aseq) {
            let (segment, line) = segments.last().map(|(_, p)| (p.clone(), 0)).unwrap_or((dir.to_path_buf(), 0));
            report.first_break = Some(Break {
                kind: BreakKind::Truncated,
                segment,
                line,
                seq: report.last_seq,
                detail: format!(
                    "the relay exported records up to seq {aseq}, but the journal ends at {}: records were removed from the end",
                    report.last_seq.map(|s| s.to_string()).unwrap_or_else(|| "nothing".into())
                ),
            });
        }
    }
    Ok(report)
}
