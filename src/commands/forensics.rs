//! The forensics commands' flags and their printing: `sessions`, `search`, `export`,
//! `verify --file`, `timeline`, `tree`, `report`. The work is in `crate::forensics`.
//!
//! The commands answered from the SQLite index are [`IndexCommand`]; they run in their own
//! binary, [`BINARY`] (`src/bin/agent-telemetry-forensics.rs`), which `agent-telemetry` execs
//! for them, so the hook's binary links no SQLite. `verify --file` reads a file, not the index,
//! and stays in `agent-telemetry`.

use crate::cli::index::{
    ExportArgs, IndexCommand, RecordFilters, ReportArgs, SearchArgs, SessionArgs, SessionsArgs, Source, Window,
};
use crate::config::Config;
use crate::forensics::{self, export, query::Filters, sessions, DataDir, Style};
use std::io::Write;
use std::path::Path;

impl Source {
    pub(crate) fn open(&self, config: &Config) -> forensics::Result<forensics::index::Index> {
        let data = self.data.clone().unwrap_or_else(|| config.data_dir.clone());
        let dir = DataDir::new(&data, self.index.as_deref())?;
        let bar = super::progress::Bar::new("indexing", super::progress::Unit::Bytes);
        Ok(forensics::index::Index::open_with(&dir.journal, &dir.index, &bar)?)
    }
}

impl Window {
    pub(crate) fn resolve(&self, now: u64) -> forensics::Result<(Option<u64>, Option<u64>)> {
        forensics::time::window(self.since.as_deref(), self.until.as_deref(), now)
    }
}

impl RecordFilters {
    pub(crate) fn resolve(&self, now: u64) -> anyhow::Result<Filters> {
        let (since, until) = self.window.resolve(now)?;
        Ok(Filters {
            since,
            until,
            session: self.session.clone(),
            tools: self.tool.clone(),
            events: self.event.clone(),
            path: self.path.clone(),
            command: self.command.clone(),
            flag: self.flag.clone(),
            outside: self.outside,
            limit: self.limit,
        })
    }
}

/// The binary that runs [`IndexCommand`]s, installed beside `agent-telemetry`.
pub const BINARY: &str = "agent-telemetry-forensics";

/// Runs an index command (in [`BINARY`]); the exit code, or an error for the command edge.
pub fn run(config: &Config, command: &IndexCommand) -> anyhow::Result<i32> {
    match command {
        IndexCommand::Sessions(a) => sessions(config, a),
        IndexCommand::Search(a) => search(config, a),
        IndexCommand::Export(a) => export(config, a),
        IndexCommand::Timeline(a) => timeline(config, a),
        IndexCommand::Tree(a) => tree(config, a),
        IndexCommand::Report(a) => report(config, a),
        IndexCommand::Watch(a) => super::live::watch(config, a),
        IndexCommand::Top(a) => super::live::top(config, a),
        IndexCommand::Fleet { command } => super::fleet::run(config, command),
    }
}

fn now() -> u64 {
    crate::timefmt::now_unix_nanos()
}

pub(crate) fn sessions(config: &Config, a: &SessionsArgs) -> anyhow::Result<i32> {
    let (since, until) = a.window.resolve(now())?;
    let index = a.source.open(config)?;
    let f = sessions::SessionFilters {
        since,
        until,
        project: a.project.clone(),
        agent: a.agent.clone(),
        flag: a.flag.clone(),
    };
    let rows = sessions::list(&index, &f, now(), config.export.span_timeout.as_nanos() as u64)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        for r in &rows {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(sessions::render(&rows, Style::for_stdout()).as_bytes())?;
    }
    Ok(0)
}

pub(crate) fn search(config: &Config, a: &SearchArgs) -> anyhow::Result<i32> {
    let f = a.filters.resolve(now())?;
    let index = a.source.open(config)?;
    let style = Style::for_stdout();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let n = forensics::query::for_each_event(&index, &f, |row| {
        if a.json {
            serde_json::to_writer(&mut out, &row)?;
            out.write_all(b"\n")?;
        } else {
            out.write_all(forensics::search::line(&row, style).as_bytes())?;
        }
        Ok(())
    })?;
    if !a.json {
        writeln!(out, "{}", style.dim(&format!("{n} record(s)")))?;
    }
    out.flush()?;
    Ok(0)
}

pub(crate) fn export(config: &Config, a: &ExportArgs) -> anyhow::Result<i32> {
    let f = a.filters.resolve(now())?;
    let index = a.source.open(config)?;
    let bar = super::progress::Bar::new("exporting", super::progress::Unit::Records);
    let written = match &a.output {
        Some(p) => {
            let file = std::fs::File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            export::export_with(&index, &f, a.format, &mut std::io::BufWriter::new(file), &bar)?
        }
        None => {
            export::export_with(&index, &f, a.format, &mut std::io::BufWriter::new(std::io::stdout().lock()), &bar)?
        }
    };
    drop(bar);
    if a.format == export::Format::Ocsf {
        eprintln!("exported {} OCSF event(s) from {} record(s)", written.events, written.records);
    } else {
        eprintln!("exported {} record(s)", written.records);
    }
    if !written.broken.is_empty() {
        eprintln!(
            "agent-telemetry: {} exported record(s) do not hold their own hash in the journal (changed after they were written): seq {}",
            written.broken.len(),
            written.broken.iter().take(20).map(u64::to_string).collect::<Vec<_>>().join(", ")
        );
        return Ok(1);
    }
    Ok(0)
}

/// `verify --file`: 0 when every record holds, 1 naming the first that does not.
pub fn verify_file(path: &Path) -> anyhow::Result<i32> {
    let rep = export::verify_file(path)?;
    let range = match (rep.first_seq, rep.last_seq) {
        (Some(a), Some(b)) => format!(" (seq {a}..{b})"),
        _ => String::new(),
    };
    if let Some(p) = &rep.problem {
        println!("{}: BROKEN after {} good record(s): {p}", path.display(), rep.records);
        return Ok(1);
    }
    if rep.records == 0 {
        println!("{}: no records", path.display());
        return Ok(1);
    }
    println!(
        "{}: {} record(s){range}: every record's hash holds; {} link(s) between neighbours hold",
        path.display(),
        rep.records,
        rep.links_checked
    );
    if rep.gaps.is_empty() {
        println!("contiguous: no seq is missing between the first and the last record");
    } else {
        let missing: u64 = rep.gaps.iter().map(|(a, b)| b - a + 1).sum();
        let shown: Vec<String> =
            rep.gaps.iter().take(10).map(|(a, b)| if a == b { a.to_string() } else { format!("{a}..{b}") }).collect();
        println!(
            "{} gap(s), {missing} seq(s) not in the file: {}{} — a filtered export leaves these out; this file cannot show whether they existed unchanged",
            rep.gaps.len(),
            shown.join(", "),
            if rep.gaps.len() > 10 { ", …" } else { "" }
        );
    }
    Ok(0)
}

pub(crate) fn timeline(config: &Config, a: &SessionArgs) -> anyhow::Result<i32> {
    let index = a.source.open(config)?;
    let (sid, records) = forensics::timeline::records(&index, &a.session)?;
    let entries = forensics::timeline::entries(&sid, &records);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        for e in &entries {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(forensics::timeline::render(&sid, &entries, Style::for_stdout()).as_bytes())?;
    }
    out.flush()?;
    Ok(0)
}

pub(crate) fn tree(config: &Config, a: &SessionArgs) -> anyhow::Result<i32> {
    let index = a.source.open(config)?;
    let (sid, records) = forensics::timeline::records(&index, &a.session)?;
    let spans = forensics::timeline::tree(&records);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        for s in &spans {
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({
                    "trace_id": s.trace_id, "span_id": s.span_id, "parent_span_id": s.parent, "name": s.name,
                    "start_unix_nano": s.start, "end_unix_nano": s.end, "error": s.error, "attributes": s.attrs,
                }),
            )?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(super::show::render(&spans, Some(&sid)).as_bytes())?;
    }
    out.flush()?;
    Ok(0)
}

pub(crate) fn report(config: &Config, a: &ReportArgs) -> anyhow::Result<i32> {
    let index = a.source.open(config)?;
    let (sid, records) = forensics::timeline::records(&index, &a.session)?;
    let spans = forensics::timeline::tree(&records);
    let summary = sessions::list(
        &index,
        &sessions::SessionFilters::default(),
        now(),
        config.export.span_timeout.as_nanos() as u64,
    )?
    .into_iter()
    .find(|s| s.session_id == sid);
    let html = forensics::report::render(&sid, summary.as_ref(), &records, &spans);
    std::fs::write(&a.output, html).map_err(|e| anyhow::anyhow!("{}: {e}", a.output.display()))?;
    println!("wrote {} ({} span(s), {} record(s))", a.output.display(), spans.len(), records.len());
    Ok(0)
}
