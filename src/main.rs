//! The `agent-telemetry` command line: a thin layer over the library. `hook` is dispatched
//! before any argument parsing, since it runs for every Claude Code event.

use agent_telemetry::commands::{install, status, verify};
use agent_telemetry::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "agent-telemetry", version, about = "Security audit and monitoring for AI coding agents (Claude Code hooks → journal → OpenTelemetry)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record one Claude Code hook event read from stdin (Claude Code runs this; always exits 0).
    Hook,
    /// Check the journal's hash chain; exits 1 and names the first broken record if it does not hold.
    Verify,
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
    },
    /// Remove our hook (only ours) from settings.json.
    Uninstall {
        #[arg(long, conflicts_with = "project")]
        user: bool,
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
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

fn main() {
    // The hot path: no argument parsing, no config beyond what the hook itself reads.
    if std::env::args_os().nth(1).is_some_and(|a| a == "hook") {
        std::process::exit(agent_telemetry::hook::run());
    }
    let cli = Cli::parse();
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("agent-telemetry: error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn project_dir(project: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match project {
        Some(p) => p,
        None => std::env::current_dir()?,
    };
    std::fs::canonicalize(&dir).map_err(|e| anyhow::anyhow!("project directory {}: {e}", dir.display()))
}

fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Hook => Ok(agent_telemetry::hook::run()),
        Command::Verify => verify::run(&Config::load()),
        Command::Install { user, project, no_marker } => {
            let target = if user { install::Target::User } else { install::Target::Project(project_dir(project)?) };
            let exe = std::env::current_exe()?;
            print!("{}", install::install(&target, &exe, !no_marker)?);
            Ok(0)
        }
        Command::Uninstall { user, project } => {
            let target = if user { install::Target::User } else { install::Target::Project(project_dir(project)?) };
            print!("{}", install::uninstall(&target)?);
            Ok(0)
        }
        Command::Status { project, json } => status::run(&Config::load(), &project_dir(project)?, json),
    }
}
