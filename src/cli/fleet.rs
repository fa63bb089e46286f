//! The flags of `agent-telemetry fleet …`; `commands::fleet` runs them through `crate::fleet`.

use super::index::{Source, Window};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum FleetCommand {
    /// Every agent seen: where (hosts, projects, worktrees), when, how active, and the registry
    /// entry it matched; also registry agents never seen.
    Agents(AgentsArgs),
    /// Writes an OpenTelemetry Collector config fragment from the registry: one pipeline per
    /// agent group, each keeping only its group's data and sending it with the group's tenant
    /// headers (use with otel-collector.yaml: a second --config, or
    /// AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG for `just stack-up`).
    CollectorConfig(CollectorConfigArgs),
    /// Files touched by more than one agent within a window: write/write and read/write.
    Conflicts(ConflictsArgs),
    /// Agents working in the same project at once: each stretch of time with two or more
    /// agents' sessions active in one project (worktrees count as their project).
    Overlaps(FleetSessionsArgs),
    /// Delegation trees across processes: child sessions and subagents, by workflow or session.
    Tree(TreeArgs),
    /// The agents side by side: activity, error rate, tool mix, findings, tokens, cost and the
    /// hook's own time per event.
    Compare(FleetSessionsArgs),
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
    /// List at most N conflicts, the newest first (or N files with --by-file); 0: all. The
    /// totals are always over all of them.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// One line per file: its conflicts (write/write, read/write), touches, agents, first and
    /// last; the files with the most conflicts first.
    #[arg(long)]
    pub by_file: bool,
    /// One JSON object per conflict (or file) per line on stdout; the totals as one JSON line
    /// on stderr (docs/forensics-schema.json).
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
pub struct FleetSessionsArgs {
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

#[derive(clap::Args, Debug, Clone)]
pub struct AgentsArgs {
    /// Only agents active since: a duration back from now (90s, 30m, 2h, 7d) or a UTC time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// JSON lines, one per agent.
    #[arg(long)]
    pub json: bool,
    /// The registry to compare with (default: the configured one).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    #[command(flatten)]
    pub source: Source,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CollectorConfigArgs {
    /// The registry to read (default: the configured one, `fleet.toml` beside the config file).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Backends the group pipelines send to (victorialogs, loki, jaeger, tempo, file); default
    /// `$AGENT_TELEMETRY_BACKENDS`, else victorialogs,jaeger — as `just stack-up`.
    #[arg(long, value_name = "LIST")]
    pub backends: Option<String>,
    /// Write here instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}
