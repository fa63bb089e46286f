//! How far long work has come (an index build, `verify`, `export`, `relay --once`), for whoever
//! wants to show it. The library reports here; the command line draws a bar on stderr when it is
//! a terminal (`commands::progress`), and nothing otherwise. Nothing here knows of terminals.
//!
//! Callers report rarely — every few thousand records or once per batch — so a report may cost
//! a little, and a run with nobody watching ([`Silent`]) pays one branch per record at most.

/// Receives the progress of one long task, in the unit its caller documents (journal bytes,
/// records).
pub trait Progress {
    /// Whether anyone watches: work done only to report (such as counting a backlog first) is
    /// skipped when not.
    fn enabled(&self) -> bool {
        true
    }
    /// The size of the whole task, when it is known.
    fn total(&self, _total: u64) {}
    /// How much is done so far.
    fn done(&self, done: u64);
    /// The task moved to a step that does not count in units (e.g. "creating indexes").
    fn phase(&self, _what: &str) {}
    /// The task ends (or gives up): what is shown goes away, before the caller says why.
    fn finish(&self) {}
}

/// Reports to nobody.
pub(crate) struct Silent;

impl Progress for Silent {
    fn enabled(&self) -> bool {
        false
    }
    fn done(&self, _done: u64) {}
}

/// How many records pass between two reports from a per-record loop.
pub(crate) const EVERY: u64 = 4096;
