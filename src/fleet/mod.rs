//! Fleet mode: many agents, one view.
//!
//! - Who an agent is ([`registry`]: `fleet.toml`, the environment, defaults) and which agents
//!   were seen ([`agents`], from the forensics index); a tenant per agent group in the backends
//!   ([`collector`]: a collector config fragment with one pipeline per group).
//! - Questions across agents, answered from the forensics index of a data dir that many agents
//!   record into (`AGENT_TELEMETRY_AGENT_ID` names each): [`conflicts`] (files touched by more
//!   than one agent within a window: write/write, read/write, with the agents, sessions, times
//!   and tools), [`overlaps`] (agents active in the same project at once), [`tree`] (delegation
//!   across processes — child sessions, subagents — by workflow or session), [`compare`] (per
//!   agent: activity, tool failures, tool mix, findings, tokens, cost, the hook's own time).
//!
//! `agent-telemetry fleet <sub>`: [`FleetCommand`] holds the subcommands, [`run`] dispatches. It
//! runs in `agent-telemetry-forensics` (a variant of `IndexCommand`): most of it reads the index.

pub mod agents;
pub mod collector;
pub mod compare;
pub mod conflicts;
pub mod overlaps;
pub mod registry;
pub mod tree;

use crate::commands::forensics::{Source, Window};
use crate::commands::show::escape_terminal;
use crate::config::Config;
use crate::forensics::Style;
use std::io::Write;
use std::path::PathBuf;

/// Why a fleet question could not be answered: bad input (a window, a workflow, backends), the
/// registry, or the forensics index behind the answer.
///
/// As in [`crate::forensics::Error`], a message carries its cause's text and the cause is a field,
/// not `source()` (the command line prints `{:#}`: the text once); plain SQLite, I/O, JSON and
/// forensics failures pass through unchanged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// The registry file given, or the configured one, cannot be read or is wrong.
    #[error(transparent)]
    Registry(#[from] registry::LoadError),
    #[error("--registry {}: no such file", .path.display())]
    NoRegistryFile { path: PathBuf },
    /// The configured registry is broken (the configuration's own message).
    #[error("{message}")]
    BrokenRegistry { message: String },
    #[error("no fleet registry at {} (write one, or name it with --registry FILE)", .path.display())]
    NoRegistry { path: PathBuf },
    #[error("{} defines no [groups.NAME]: every record goes to the default tenant, no fragment is needed", .path.display())]
    NoGroups { path: PathBuf },
    #[error("--backends: {0}")]
    Backends(collector::UnknownBackend),
    /// An output file given on the command line cannot be written.
    #[error("{}: {error}", .path.display())]
    Write { path: PathBuf, error: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum FleetCommand {
    /// Every agent seen: where (hosts, projects, worktrees), when, how active, and the registry
    /// entry it matched; also registry agents never seen.
    Agents(agents::AgentsArgs),
    /// Writes an OpenTelemetry Collector config fragment from the registry: one pipeline per
    /// agent group, each keeping only its group's data and sending it with the group's tenant
    /// headers (use with otel-collector.yaml: a second --config, or
    /// AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG for `just stack-up`).
    CollectorConfig(collector::CollectorConfigArgs),
    /// Files touched by more than one agent within a window: write/write and read/write.
    Conflicts(ConflictsArgs),
    /// Agents working in the same project at once: each stretch of time with two or more
    /// agents' sessions active in one project (worktrees count as their project).
    Overlaps(SessionsArgs),
    /// Delegation trees across processes: child sessions and subagents, by workflow or session.
    Tree(TreeArgs),
    /// The agents side by side: activity, error rate, tool mix, findings, tokens, cost and the
    /// hook's own time per event.
    Compare(SessionsArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConflictsArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub window: Window,
    /// Two agents' touches of a file conflict when at most this far apart (90s, 10m, 2h, 1d).
    #[arg(long = "window", value_name = "DURATION", default_value = "10m")]
    pub within: String,
    /// Only sessions of this project (its path, its name, or a glob of the path).
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// One JSON object per conflict per line (docs/forensics-schema.json).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TreeArgs {
    #[command(flatten)]
    pub source: Source,
    /// Only the sessions of this workflow (AGENT_TELEMETRY_WORKFLOW_ID) and the sessions they started.
    #[arg(long, value_name = "W")]
    pub workflow: Option<String>,
    /// The tree this session (an id or a unique prefix) belongs to.
    #[arg(conflicts_with = "workflow")]
    pub session: Option<String>,
    /// One JSON object per session per line, depth first (docs/forensics-schema.json).
    #[arg(long)]
    pub json: bool,
}

/// The sessions `overlaps` and `compare` look at.
#[derive(clap::Args, Debug, Clone)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub window: Window,
    /// Only sessions of this project (its path, its name, or a glob of the path).
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// One JSON object per line: an overlap, an agent (docs/forensics-schema.json).
    #[arg(long)]
    pub json: bool,
}

/// Which sessions: active within since..until (Unix nanoseconds), of a project (path, name or
/// glob of the path).
#[derive(Debug, Default, Clone)]
pub struct SessionFilters {
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

/// `agent-telemetry fleet …`: the exit code (0 ok; errors — bad input, an unreadable registry or
/// index — are returned, printed by `main`, exit 2).
pub fn run(config: &Config, command: &FleetCommand) -> Result<i32> {
    let now = crate::timefmt::now_unix_nanos();
    let style = Style::for_stdout();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match command {
        FleetCommand::Agents(a) => return agents::run(config, a),
        FleetCommand::CollectorConfig(a) => return collector::run(config, a),
        FleetCommand::Conflicts(a) => {
            let window = conflicts::parse_window(&a.within)?;
            let (since, until) = a.window.resolve(now)?;
            let index = a.source.open(config)?;
            let found = conflicts::find(
                &index,
                &conflicts::ConflictFilters { since, until, project: a.project.clone(), window },
            )?;
            emit(&mut out, a.json, &found, || conflicts::render(&found, window, style))?;
        }
        FleetCommand::Overlaps(a) => {
            let (since, until) = a.window.resolve(now)?;
            let index = a.source.open(config)?;
            let found = overlaps::find(&index, &SessionFilters { since, until, project: a.project.clone() })?;
            emit(&mut out, a.json, &found, || overlaps::render(&found, style))?;
        }
        FleetCommand::Tree(a) => {
            let index = a.source.open(config)?;
            let sel = tree::TreeSelect { workflow: a.workflow.clone(), session: a.session.clone() };
            let nodes = tree::trees(&index, &sel, now, config.export.span_timeout.as_nanos() as u64)?;
            emit(&mut out, a.json, &nodes, || tree::render(&nodes, style))?;
        }
        FleetCommand::Compare(a) => {
            let (since, until) = a.window.resolve(now)?;
            let index = a.source.open(config)?;
            let rows = compare::compare(&index, &SessionFilters { since, until, project: a.project.clone() })?;
            emit(&mut out, a.json, &rows, || compare::render(&rows, style))?;
        }
    }
    out.flush()?;
    Ok(0)
}

/// The answer as JSON lines (`--json`) or as the human text `render` makes.
fn emit<T: serde::Serialize>(
    out: &mut impl Write,
    json: bool,
    items: &[T],
    render: impl FnOnce() -> String,
) -> Result<()> {
    if json {
        json_lines(out, items)
    } else {
        Ok(out.write_all(render().as_bytes())?)
    }
}

fn json_lines<T: serde::Serialize>(out: &mut impl Write, items: &[T]) -> Result<()> {
    for i in items {
        serde_json::to_writer(&mut *out, i)?;
        out.write_all(b"\n")?;
    }
    Ok(())
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

/// The registry a command uses: `--registry FILE` (must exist), else the configured one (absent
/// is fine: no registry). A broken registry is an error here, not a warning.
pub fn registry_for_command(config: &Config, given: Option<&PathBuf>) -> Result<(PathBuf, Option<registry::Registry>)> {
    match given {
        Some(p) => match registry::Registry::load(p)? {
            Some(r) => Ok((p.clone(), Some(r))),
            None => Err(Error::NoRegistryFile { path: p.clone() }),
        },
        None => {
            if let Some(e) = &config.fleet.error {
                return Err(Error::BrokenRegistry { message: e.to_string() });
            }
            Ok((config.fleet.registry_path.clone(), config.fleet.registry.as_deref().cloned()))
        }
    }
}
