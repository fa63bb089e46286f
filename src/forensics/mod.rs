//! Forensics with nothing but the binary and a data dir: `sessions`, `search`, `export`,
//! `verify --file`, `timeline` and `tree`, answered from an index beside the journal.
//!
//! - [`index`]: the SQLite index (a cache of the journal, rebuilt when in doubt).
//! - [`query`]: the filters `search` and `export` share, as one SQL query.
//! - [`sessions`]: the per-session summary.
//! - [`search`]: matching records, for people or as JSON lines.
//! - [`export`]: streaming JSONL / CSV with the chain fields, and the check of an exported file.
//! - [`timeline`]: one session's records in order, and its span tree (the relay's assembler).
//! - [`calls`]: the tree's model calls from `model_call` records when transcripts are absent.
//! - [`report`]: one session as a self-contained HTML page.
//! - [`time`]: `--since`/`--until` parsing and the formats printed.
//!
//! Not for: anything the hook does. The hook never opens the index.

pub mod calls;
pub mod export;
pub mod index;
pub mod query;
pub mod report;
pub mod search;
pub mod sessions;
pub mod synth;
pub mod time;
pub mod timeline;

use std::path::{Path, PathBuf};

/// Where the evidence is: a data dir (this machine's, or one copied from another) and where its
/// index lives.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub journal: PathBuf,
    pub index: PathBuf,
}

impl DataDir {
    /// `data` (default: the configured data dir) and `index` (default: `<data>/index`).
    pub fn new(data: &Path, index: Option<&Path>) -> anyhow::Result<DataDir> {
        let journal = data.join("journal");
        if !journal.is_dir() {
            anyhow::bail!(
                "no journal at {} (is {} an agent-telemetry data dir? --data DIR names one)",
                journal.display(),
                data.display()
            );
        }
        Ok(DataDir { journal, index: index.map(Path::to_path_buf).unwrap_or_else(|| data.join("index")) })
    }

    pub fn open(&self) -> anyhow::Result<index::Index> {
        Ok(index::Index::open(&self.journal, &self.index)?)
    }
}

/// Colour for people at a terminal; plain text everywhere else (pipes, files, `NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    pub fn for_stdout() -> Style {
        use std::io::IsTerminal;
        Style { colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }

    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }

    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}
