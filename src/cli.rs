//! The `agent-telemetry` command line as clap types, shared by the two binaries: `agent-telemetry`
//! (the hook, the relay and every other command) and `agent-telemetry-forensics` (the commands
//! answered from the SQLite index, [`IndexCommand`]). Both parse the same definition, so a
//! command's name, flags, help and errors are the same whichever binary runs it.
//!
//! Not for: running anything (the binaries' `main`s dispatch), nor the `hook` fast path, which
//! `main.rs` recognises before any parsing.

pub mod fleet;
pub mod index;

use clap::{Parser, Subcommand};
use index::IndexCommand;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "agent-telemetry",
    version,
    about = "Security audit and monitoring for AI coding agents (Claude Code hooks → journal → OpenTelemetry)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Record one Claude Code hook event read from stdin (Claude Code runs this; always exits 0).
    Hook,
    /// Check the journal's hash chain; exits 1 and names the first broken record if it does not hold.
    Verify {
        /// Check an exported JSONL file (`export --format jsonl`) instead of the journal.
        #[arg(long, value_name = "FILE", conflicts_with = "remote")]
        file: Option<PathBuf>,
        /// Also compare with the records a VictoriaLogs at this URL holds (e.g. http://127.0.0.1:9428).
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
        /// LogsQL filter selecting this journal's records at the backend (default: this agent's agent.id).
        #[arg(long, value_name = "LOGSQL", requires = "remote")]
        remote_filter: Option<String>,
    },
    /// Register the hook for every event in Claude Code's settings.json.
    Install {
        /// ~/.claude/settings.json instead of the project's .claude/settings.json.
        #[arg(long, conflicts_with = "project")]
        user: bool,
        /// The project directory (default: the current directory).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Do not create the project's .telemetry-enabled marker.
        #[arg(long)]
        no_marker: bool,
        /// Point the relay at this OTLP endpoint (e.g. http://127.0.0.1:4317, or "file").
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// OTLP protocol for --endpoint: grpc or http/protobuf.
        #[arg(long, value_name = "PROTOCOL")]
        protocol: Option<String>,
        /// How Claude Code hands us events: `command` (a process per event, never loses one) or
        /// `http` (a POST to the relay on --listen; no process start).
        #[arg(long, value_name = "TRANSPORT", default_value = "command", value_parser = ["command", "http"])]
        transport: String,
        /// The relay's loopback address for --transport http.
        #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:4319")]
        listen: String,
    },
    /// Remove our hook (only ours) from settings.json.
    Uninstall {
        #[arg(long, conflicts_with = "project")]
        user: bool,
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
    /// Tail the journal and export spans and logs over OTLP (one relay per data dir).
    Relay {
        /// Run in this process (for a service manager); without it, start a detached relay.
        #[arg(long)]
        foreground: bool,
        /// Stop the running relay gracefully (it exports what it holds first).
        #[arg(long, conflicts_with_all = ["foreground", "print_unit", "once"])]
        stop: bool,
        /// Print a systemd user unit that runs the relay.
        #[arg(long)]
        print_unit: bool,
        /// Export everything in the journal, then exit (1 if it could not within --timeout).
        #[arg(long)]
        once: bool,
        /// With --once: give up after this many seconds without a successful export.
        #[arg(long, value_name = "SECS", default_value_t = 60, requires = "once")]
        timeout: u64,
        /// Set by the hook when it starts a relay on demand.
        #[arg(long, hide = true)]
        autostarted: bool,
    },
    /// Print sessions as trace trees: tools, subagents, durations, errors, security flags.
    Show {
        /// Assemble the spans from the journal instead of reading the relay's OTLP files.
        #[arg(long)]
        journal: bool,
        /// Only the trace(s) of this session id.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
    },
    // The commands answered from the index (sessions, search, export, timeline, tree, report),
    // listed here in their place: `agent-telemetry` hands them to `agent-telemetry-forensics`.
    #[command(flatten)]
    Index(IndexCommand),
    /// Whether telemetry is on here, the data dir, the journal's size and last event.
    Status {
        /// The directory to judge (default: the current directory).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}
