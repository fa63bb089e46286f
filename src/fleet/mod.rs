//! Fleet mode: many agents, one view.
//!
//! - Who an agent is ([`crate::config::registry`]: `fleet.toml`, the environment, defaults) and which agents
//!   were seen ([`agents`], from the forensics index); a tenant per agent group in the backends
//!   ([`collector`]: a collector config fragment with one pipeline per group).
//! - Questions across agents, answered from the forensics index of a data dir that many agents
//!   record into (`AGENT_TELEMETRY_AGENT_ID` names each): [`conflicts`] (files touched by more
//!   than one agent within a window: write/write, read/write, with the agents, sessions, times
//!   and tools), [`overlaps`] (agents active in the same project at once), [`tree`] (delegation
//!   across processes — child sessions, subagents — by workflow or session), [`compare`] (per
//!   agent: activity, tool failures, tool mix, findings, tokens, cost, the hook's own time).
//!
//! `agent-telemetry fleet <sub>` (`cli::fleet::FleetCommand`, run by `commands::fleet`) asks these
//! with plain query types; it runs in `agent-telemetry-forensics`: most of it reads the index.

pub(crate) mod agents;
pub(crate) mod collector;
pub(crate) mod compare;
pub(crate) mod conflicts;
pub(crate) mod overlaps;
pub(crate) mod tree;

use crate::text::escape_terminal;
use std::path::PathBuf;

/// Why a fleet question could not be answered: bad input (a window, a workflow) or the forensics
/// index behind the answer.
///
/// As in [`crate::forensics::Error`], a message carries its cause's text and the cause is a field,
/// not `source()` (the command line prints `{:#}`: the text once); plain SQLite, I/O, JSON and
/// forensics failures pass through unchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Forensics(#[from] crate::forensics::Error),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// `--window` is not a duration.
    #[error("--window {}: want a duration (90s, 10m, 2h, 1d)", escape_terminal(.given))]
    BadWindow { given: String },
    #[error("--window {}: must be longer than nothing", escape_terminal(.given))]
    ZeroWindow { given: String },
    /// `--workflow` names no recorded workflow (`known`: the first few that are).
    #[error("no session of workflow {} in the journal at {} (workflows: {})", escape_terminal(.workflow), .journal.display(), if .known.is_empty() { "none recorded".to_string() } else { .known.iter().map(|k| escape_terminal(k)).collect::<Vec<_>>().join(", ") })]
    UnknownWorkflow { workflow: String, journal: PathBuf, known: Vec<String> },
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Which sessions: active within since..until (Unix nanoseconds), of a project (path, name or
/// glob of the path).
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionFilters {
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub project: Option<String>,
}

/// `since`/`until` as SQL conditions on an interval from `start` to `end` (SQL expressions): it
/// meets the window — a session active at some moment of it (start and end of the session), a
/// record inside it (its time for both).
pub(crate) fn window_conditions(
    since: Option<u64>,
    until: Option<u64>,
    start: &str,
    end: &str,
    params: &mut Vec<rusqlite::types::Value>,
    conds: &mut Vec<String>,
) {
    if let Some(s) = since {
        params.push(rusqlite::types::Value::Integer(s as i64));
        conds.push(format!("{end} >= ?{}", params.len()));
    }
    if let Some(u) = until {
        params.push(rusqlite::types::Value::Integer(u as i64));
        conds.push(format!("{start} <= ?{}", params.len()));
    }
}

/// `2026-11-30 12:00:01` from an RFC 3339 time.
fn short_time(rfc: &str) -> String {
    crate::forensics::time::short_rfc(rfc)
}

/// `10m`, `90s`, `2h30m`.
fn human_duration(nanos: u64) -> String {
    let s = nanos / 1_000_000_000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}
