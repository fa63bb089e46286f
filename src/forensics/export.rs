//! `export`: the selected records streamed as JSON lines (each line exactly as the journal holds
//! it, so its `hash` still verifies), CSV (the chain fields as columns) or OCSF events (see
//! [`super::ocsf`]), and `verify --file`: the check an auditor runs on what they were given.
//!
//! A filtered export is a subsequence of the chain. What it can prove: each record is unchanged
//! (its own hash), and where two exported records are neighbours in the chain (`seq` n and n+1)
//! the link between them holds. What it cannot prove: that nothing between two non-neighbours
//! was left out — those gaps are reported, never hidden.

use super::index::Index;
use super::query::{for_each_event, EventRow, Filters};
use super::{Error, Result};
use crate::journal::chain;
use crate::progress::{Progress, EVERY};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    /// OCSF events, one per line: findings and tool calls (see [`super::ocsf`]).
    Ocsf,
}

/// `--format` names neither export format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {given:?}: jsonl, csv or ocsf")]
pub struct UnknownFormat {
    pub given: String,
}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "ocsf" => Ok(Format::Ocsf),
            other => Err(UnknownFormat { given: other.to_string() }),
        }
    }
}

/// Journal lines by (segment, offset), with one open file per segment.
pub(crate) struct LineReader<'a> {
    index: &'a Index,
    files: HashMap<String, File>,
}

impl<'a> LineReader<'a> {
    pub(crate) fn new(index: &'a Index) -> Self {
        LineReader { index, files: HashMap::new() }
    }

    /// The line of `row`, checked to be the record with its `seq` (the index may lag a rewrite).
    pub(crate) fn line(&mut self, row: &EventRow) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        if !self.files.contains_key(&row.segment) {
            let f = super::index::open_segment(&self.index.journal_dir, &row.segment)
                .map_err(|error| Error::Segment { segment: row.segment.clone(), error })?;
            self.files.insert(row.segment.clone(), f);
        }
        let f = &self.files[&row.segment];
        let mut buf = vec![0u8; row.len as usize];
        f.read_exact_at(&mut buf, row.offset)?;
        let want = format!("{{\"seq\":{},", row.seq);
        if !buf.starts_with(want.as_bytes()) {
            return Err(Error::JournalChanged { segment: row.segment.clone(), offset: row.offset, seq: row.seq });
        }
        Ok(buf)
    }
}

/// What an export wrote.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub records: u64,
    /// OCSF events written (`--format ocsf`: a record gives none, one or several).
    pub events: u64,
    /// Records whose own hash does not hold in the journal (exported as they are).
    pub broken: Vec<u64>,
}

const CSV_HEADER: &str = "seq,timestamp,session_id,agent_id,event,tool,tool_use_id,path,command,outside_project,risk,rules,success,duration_ms,prev_hash,hash\n";

/// Streams the records matching `f` to `out`, reporting the records written so far to `progress`
/// (their number is not known ahead).
pub(crate) fn export_with(
    index: &Index,
    f: &Filters,
    format: Format,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<Written> {
    let mut lines = LineReader::new(index);
    let mut w = Written::default();
    if format == Format::Csv {
        out.write_all(CSV_HEADER.as_bytes())?;
    }
    for_each_event(index, f, |row| {
        let line = lines.line(&row)?;
        if chain::check_line(&line).is_err() {
            w.broken.push(row.seq);
        }
        match format {
            Format::Jsonl => {
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
            Format::Csv => {
                #[derive(serde::Deserialize)]
                struct Chain {
                    prev_hash: String,
                    hash: String,
                }
                let c: Chain = serde_json::from_slice(&line)?;
                let opt = |s: &Option<String>| s.clone().unwrap_or_default();
                let fields = [
                    row.seq.to_string(),
                    row.time.clone(),
                    opt(&row.session_id),
                    opt(&row.agent_id),
                    row.event.clone(),
                    opt(&row.tool),
                    opt(&row.tool_use_id),
                    opt(&row.path),
                    opt(&row.command),
                    row.outside_project.to_string(),
                    row.risk.unwrap_or("").to_string(),
                    row.rules.join(" "),
                    row.success.map(|b| b.to_string()).unwrap_or_default(),
                    row.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
                    c.prev_hash,
                    c.hash,
                ];
                let csv: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.write_all(csv.join(",").as_bytes())?;
                out.write_all(b"\n")?;
            }
            Format::Ocsf => {
                let record: crate::record::JournalRecord = serde_json::from_slice(&line)
                    .map_err(|error| Error::BadLine { segment: row.segment.clone(), offset: row.offset, error })?;
                for ev in super::ocsf::events(&record) {
                    serde_json::to_writer(&mut *out, &ev)?;
                    out.write_all(b"\n")?;
                    w.events += 1;
                }
            }
        }
        w.records += 1;
        if w.records.is_multiple_of(EVERY) {
            progress.done(w.records);
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(w)
}

/// RFC 4180 quoting; a cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is
/// prefixed with `'` — the agent wrote these strings.
fn csv_field(s: &str) -> String {
    let s =
        if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The result of checking an exported JSONL file.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct FileReport {
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Links checked between chain neighbours (seq n, n+1) that both were exported.
    pub links_checked: u64,
    /// Ranges of seq absent between exported records (filtered out — or removed).
    pub gaps: Vec<(u64, u64)>,
    /// The first problem: a changed record, a broken link, records out of order, not a record.
    pub problem: Option<String>,
}

/// Checks every line of an exported JSONL file: its own hash, increasing `seq`, and `prev_hash`
/// wherever the previous exported record is its chain neighbour.
pub(crate) fn verify_file(path: &Path) -> Result<FileReport> {
    use std::io::BufRead;
    let f = File::open(path).map_err(|error| Error::File { path: path.to_path_buf(), error })?;
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, f);
    let mut rep = FileReport::default();
    let mut prev: Option<(u64, String)> = None;
    let mut buf = Vec::new();
    let mut n = 0u64;
    #[derive(serde::Deserialize)]
    struct Link {
        seq: u64,
        prev_hash: String,
    }
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.is_empty() {
            continue;
        }
        let fail = |why: String| -> String { format!("line {n}: {why}") };
        let link: Link = match serde_json::from_slice(line) {
            Ok(l) => l,
            Err(e) => {
                rep.problem = Some(fail(format!("not a journal record: {e}")));
                return Ok(rep);
            }
        };
        let hash = match chain::check_line(line) {
            Ok(h) => h,
            Err(why) => {
                rep.problem = Some(fail(format!("seq {}: {why}", link.seq)));
                return Ok(rep);
            }
        };
        if let Some((pseq, phash)) = &prev {
            if link.seq <= *pseq {
                rep.problem =
                    Some(fail(format!("seq {} after seq {pseq}: records out of order or repeated", link.seq)));
                return Ok(rep);
            }
            if link.seq == pseq + 1 {
                if &link.prev_hash != phash {
                    rep.problem = Some(fail(format!("seq {}: prev_hash does not match seq {pseq}'s hash: a record was changed and re-hashed, or replaced", link.seq)));
                    return Ok(rep);
                }
                rep.links_checked += 1;
            } else {
                rep.gaps.push((pseq + 1, link.seq - 1));
            }
        } else if link.seq == 0 && link.prev_hash != chain::GENESIS {
            rep.problem = Some(fail("seq 0 does not start from the genesis hash".into()));
            return Ok(rep);
        }
        rep.first_seq.get_or_insert(link.seq);
        rep.last_seq = Some(link.seq);
        rep.records += 1;
        prev = Some((link.seq, hash));
    }
    Ok(rep)
}
