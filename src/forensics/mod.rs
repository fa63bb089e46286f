//! Forensics with nothing but the binary and a data dir: `sessions`, `search`, `export`,
//! `verify --file`, `timeline` and `tree`, answered from an index beside the journal.
//!
//! - [`index`]: the SQLite index (a cache of the journal, rebuilt when in doubt).
//! - [`query`]: the filters `search` and `export` share, as one SQL query.
//! - [`sessions`]: the per-session summary.
//! - [`search`]: matching records, for people or as JSON lines.
//! - [`export`]: streaming JSONL / CSV with the chain fields, and the check of an exported file.
//! - [`ocsf`]: records as OCSF events (`export --format ocsf`).
//! - [`timeline`]: one session's records in order, and its span tree (the relay's assembler).
//! - [`calls`]: the tree's model calls from `model_call` records when transcripts are absent.
//! - [`report`]: one session as a self-contained HTML page.
//! - [`summary`]: the fleet summaries kept in the index as it grows.
//! - [`time`]: `--since`/`--until` parsing and the formats printed.
//!
//! Not for: anything the hook does. The hook never opens the index.

pub(crate) mod calls;
pub(crate) mod export;
pub(crate) mod index;
pub(crate) mod ocsf;
pub(crate) mod query;
pub(crate) mod report;
pub(crate) mod search;
pub(crate) mod sessions;
pub(crate) mod summary;
pub mod synth;
pub(crate) mod time;
pub(crate) mod timeline;

use crate::text::escape_terminal;
use std::path::{Path, PathBuf};

/// Why a forensics question could not be answered: the data dir, the index, the journal behind
/// it, or what was asked (a session, a rule, a time, a pattern).
///
/// A message carries its cause's text (the command line prints `{:#}`); causes given with a
/// place (`segment {name}: …`) are kept as fields, not as `source()`, so the text is not printed
/// twice. Plain SQLite, I/O and JSON failures pass through unchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("no journal at {} (is {} an agent-telemetry data dir? --data DIR names one)", .journal.display(), .data.display())]
    NoJournal { journal: PathBuf, data: PathBuf },
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// No session has this id or prefix.
    #[error("no session {} in the journal at {} (`agent-telemetry sessions` lists them)", escape_terminal(.given), .journal.display())]
    UnknownSession { given: String, journal: PathBuf },
    /// More than one session starts with this prefix (`matches`: the first few).
    #[error("session {} is ambiguous: {}, … (give more of the id)", escape_terminal(.given), .matches.iter().map(|s| escape_terminal(s)).collect::<Vec<_>>().join(", "))]
    AmbiguousSession { given: String, matches: Vec<String> },
    /// `--flag` names a rule (or category) with no finding; `fired` lists those with one.
    #[error("no finding of rule {} in the journal (rules that fired: {})", escape_terminal(.flag), if .fired.is_empty() { "none".to_string() } else { .fired.join(", ") })]
    UnknownRule { flag: String, fired: Vec<String> },
    #[error("bad --command regex {}: {error}", escape_terminal(.regex))]
    BadRegex { regex: String, error: regex_lite::Error },
    /// `--since`/`--until` (`flag`, with its dashes) is not a time.
    #[error("{flag}: {error}")]
    BadTime { flag: &'static str, error: time::BadTime },
    #[error("--since is after --until: nothing can match")]
    EmptyWindow,
    /// A journal segment the index names cannot be opened or read.
    #[error("segment {segment}: {error}")]
    Segment { segment: String, error: std::io::Error },
    /// The line the index names is not the record it expects: the journal was rewritten.
    #[error("the journal changed under the index at {segment}:{offset} (seq {seq}); run the command again to rebuild the index")]
    JournalChanged { segment: String, offset: u64, seq: u64 },
    /// The line the index names is not a record.
    #[error("{segment}:{offset}: {error}")]
    BadLine { segment: String, offset: u64, error: serde_json::Error },
    /// A file given on the command line cannot be opened.
    #[error("{}: {error}", .path.display())]
    File { path: PathBuf, error: std::io::Error },
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the evidence is: a data dir (this machine's, or one copied from another) and where its
/// index lives.
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    pub journal: PathBuf,
    pub index: PathBuf,
}

impl DataDir {
    /// `data` (default: the configured data dir) and `index` (default: `<data>/index`).
    pub(crate) fn new(data: &Path, index: Option<&Path>) -> Result<DataDir> {
        let journal = data.join("journal");
        if !journal.is_dir() {
            return Err(Error::NoJournal { journal, data: data.to_path_buf() });
        }
        Ok(DataDir { journal, index: index.map(Path::to_path_buf).unwrap_or_else(|| data.join("index")) })
    }
}

/// Colour for people at a terminal; plain text everywhere else (pipes, files, `NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub colour: bool,
}

impl Style {
    pub(crate) fn for_stdout() -> Style {
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

    pub(crate) fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }

    pub(crate) fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }

    pub(crate) fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }

    pub(crate) fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}
