//! The journal: the local, durable, hash-chained source of truth between the hook and the relay.
//!
//! - Segments are `<data dir>/journal/YYYYMMDD-NNNNNN.jsonl`, one record per line, a new one each
//!   UTC day or past `segment_max_bytes`. Files are created 0600 in a 0700 directory.
//! - Appends happen under an exclusive lock on `journal/.lock`, with one `write` per record, so
//!   concurrent hooks never interleave or lose a line.
//! - The directory is not trusted (the agent is the same user): it must be ours and not writable
//!   by others, and files are opened through it with `O_NOFOLLOW` ([`crate::safe_fs`]); an entry named
//!   like a segment that is not a regular file is skipped with a `journal_recovery` record.
//! - Each record carries `seq`, `prev_hash` and `hash` (see [`chain`]); [`verify`] walks them.
//!   `.lock` also holds the head (the last record's `seq` and `hash`, see [`head`]), which shows
//!   records removed from the end.

pub(crate) mod append;
pub mod chain;
pub(crate) mod head;
pub(crate) mod projects;
pub(crate) mod read;
pub(crate) mod remote;
pub(crate) mod segment;
pub(crate) mod verify;

pub use append::{AppendOutcome, Journal};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal I/O on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode record: {0}")]
    Encode(#[from] serde_json::Error),
}

impl JournalError {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        JournalError::Io { path: path.into(), source }
    }
}
