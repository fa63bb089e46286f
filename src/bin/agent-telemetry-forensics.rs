//! `agent-telemetry-forensics`: the commands answered from the SQLite index beside the journal
//! (`sessions`, `search`, `export`, `timeline`, `tree`, `report`; see
//! `agent_telemetry::cli::index::IndexCommand`).
//!
//! `agent-telemetry` runs this binary for those commands (it execs it, from its own directory,
//! with the same arguments), so SQLite — and libm, which SQLite links — stay out of the binary
//! Claude Code starts for every hook event. The command line is the same `Cli` as
//! `agent-telemetry`'s, so names, flags, help and errors do not depend on which binary answers.

use agent_telemetry::cli::{Cli, Command};
use agent_telemetry::commands::forensics;
use agent_telemetry::config::Config;
use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    // `--version` names this binary; everything else reads as `agent-telemetry`'s.
    let matches = Cli::command().display_name(forensics::BINARY).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let code = match cli.command {
        Command::Index(command) => forensics::run(&Config::load(), &command).unwrap_or_else(|e| {
            eprintln!("agent-telemetry: error: {e:#}");
            2
        }),
        _ => {
            eprintln!("agent-telemetry-forensics runs only the commands answered from the index (sessions, search, export, timeline, tree, report, fleet, watch, top); run the others with agent-telemetry");
            2
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
