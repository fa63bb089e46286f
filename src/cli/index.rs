//! The flags of the commands answered from the forensics index (`sessions`, `search`, `export`,
//! `timeline`, `tree`, `report`, `fleet`). `commands::forensics` turns them into the plain
//! query types of `crate::forensics` (a `DataDir`, `Filters`, since/until in Unix nanoseconds).

use std::path::PathBuf;

/// Where the evidence is.
#[derive(clap::Args, Debug, Clone)]
pub struct Source {
    /// A data dir (e.g. one copied from another machine); default: the configured one.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Keep the index here instead of <data>/index (for a read-only copy).
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
}

/// The time window.
#[derive(clap::Args, Debug, Clone)]
pub struct Window {
    /// From this time: a duration back from now (90s, 30m, 2h, 7d) or a UTC time (2026-11-30T12:00:00Z).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Up to this time (same forms).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub window: Window,
    /// Only sessions of this project (its path, its name, or a glob of the path).
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// Only sessions of this fleet agent id or group.
    #[arg(long, value_name = "A")]
    pub agent: Option<String>,
    /// Only sessions with a finding of this rule (or of this category).
    #[arg(long, value_name = "RULE")]
    pub flag: Option<String>,
    /// One JSON object per session per line (docs/forensics-schema.json).
    #[arg(long)]
    pub json: bool,
}

/// The record filters `search` and `export` share.
#[derive(clap::Args, Debug, Clone)]
pub struct RecordFilters {
    #[command(flatten)]
    pub window: Window,
    /// Tool name(s), comma-separated (Bash, Read, Write, Edit, …).
    #[arg(long, value_name = "T", value_delimiter = ',')]
    pub tool: Vec<String>,
    /// Hook event(s), comma-separated (PreToolUse, PostToolUse, UserPromptSubmit, …).
    #[arg(long, value_name = "E", value_delimiter = ',')]
    pub event: Vec<String>,
    /// Path glob (*, ?, [..]) matched against the whole recorded path.
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// Regex searched in the recorded command (as recorded: secrets redacted).
    #[arg(long, value_name = "REGEX")]
    pub command: Option<String>,
    /// Records with a finding of this rule (or category).
    #[arg(long, value_name = "RULE")]
    pub flag: Option<String>,
    /// Records that touched something outside the project.
    #[arg(long)]
    pub outside: bool,
    /// Records of this session (an id or a unique prefix).
    #[arg(long, value_name = "S")]
    pub session: Option<String>,
    /// At most N records.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub filters: RecordFilters,
    /// One JSON object per record per line (docs/forensics-schema.json).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub filters: RecordFilters,
    /// jsonl (the journal's lines, verifiable with `verify --file`), csv, or ocsf (OCSF 1.8
    /// events: findings and tool calls, docs/export.md).
    #[arg(long, value_name = "FORMAT")]
    pub format: crate::forensics::export::Format,
    /// Write here instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SessionArgs {
    #[command(flatten)]
    pub source: Source,
    /// The session id (or a unique prefix of it).
    pub session: String,
    /// JSON instead of text (docs/forensics-schema.json).
    #[arg(long)]
    pub json: bool,
}

/// The commands answered from the index, in `agent-telemetry`'s command line (flattened into
/// `cli::Command`, so `agent-telemetry sessions …`). A new index-backed command is a variant
/// here and its arm in `commands::forensics::run`: `agent-telemetry` hands every variant to
/// `agent-telemetry-forensics` unchanged. `watch` and `top` are here too, though they read the
/// journal itself and never the index: so the terminal UI they link stays out of the hook's binary.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum IndexCommand {
    /// One line per session: start, end, project, agent, turns, tools, errors, findings, tokens.
    Sessions(SessionsArgs),
    /// Records matching filters (tool, event, path glob, command regex, rule, outside, time).
    Search(SearchArgs),
    /// Stream matching records as JSONL (verifiable with `verify --file`), CSV or OCSF events.
    Export(ExportArgs),
    /// One session's records in order, with offsets, durations and findings.
    Timeline(SessionArgs),
    /// One session's trace tree, assembled from the journal as the relay does.
    Tree(SessionArgs),
    /// One session as a self-contained HTML report (waterfall, tree, findings, files, commands, tokens).
    Report(ReportArgs),
    /// Follow the journal like `tail -f`: one line (or one JSON object) per record as it is written.
    Watch(WatchArgs),
    /// A full-screen live view of the sessions running now: tools, findings, tokens, cost, risk.
    Top(TopArgs),
    /// Fleet mode: agents seen and their registry entries, the collector config for tenants per group.
    Fleet {
        #[command(subcommand)]
        command: super::fleet::FleetCommand,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: Source,
    /// The session id (or a unique prefix of it).
    pub session: String,
    /// The HTML file to write.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    /// A data dir (e.g. one copied from another machine); default: the configured one. Read only.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// `search`'s filters; `--since` starts that far back (default: from now), `--until` ends the
    /// watch once the journal is read past it, `--limit` after that many records.
    #[command(flatten)]
    pub filters: RecordFilters,
    /// One JSON object per record per line, as `search --json` prints them.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TopArgs {
    /// A data dir (e.g. one copied from another machine); default: the configured one. Read only.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Start from the journal's last MiB (at most): the sessions and findings they hold, then
    /// every record as it is written.
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    pub history: u64,
}
