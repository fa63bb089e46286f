//! The `agent-telemetry` command line as clap types, shared by the two binaries: `agent-telemetry`
//! (the hook, the relay and every other command) and `agent-telemetry-forensics` (the commands
//! answered from the SQLite index, [`IndexCommand`]). Both parse the same definition, so a
//! command's name, flags, help and errors are the same whichever binary runs it.
//!
//! [`generate`] writes shell completions and the man page from these same definitions, so they
//! cover every command, those `agent-telemetry-forensics` answers included.
//!
//! Not for: running anything (the binaries' `main`s dispatch), nor the `hook` fast path, which
//! `main.rs` recognises before any parsing.

pub(crate) mod fleet;
pub(crate) mod index;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
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
    /// Print a shell completion script or the man page (generated from this command line).
    Generate {
        /// What to print.
        #[arg(value_name = "WHAT")]
        what: Generate,
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

/// What `agent-telemetry generate` prints.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generate {
    /// Completions for bash.
    CompleteBash,
    /// Completions for zsh.
    CompleteZsh,
    /// Completions for fish.
    CompleteFish,
    /// The man page (roff), every command with its options.
    Man,
}

/// The completion script or man page `what`, for the whole command line.
pub fn generate(what: Generate) -> Vec<u8> {
    use clap_complete::Shell;
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    let shell = match what {
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::Man => {
            man(cmd, &mut out);
            return out;
        }
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}

/// One page: the top command's synopsis, description and options, then a COMMANDS section with
/// each command (and nested command) in full — clap_mangen's own page would only point to one
/// page per command.
fn man(cmd: clap::Command, out: &mut Vec<u8>) {
    // `-h` is said once, at the top, not under every command.
    fn without_help(cmd: clap::Command) -> clap::Command {
        cmd.disable_help_flag(true).mut_subcommands(without_help)
    }
    let mut cmd = cmd.disable_help_subcommand(true).mut_subcommands(without_help);
    cmd.build();
    let top = clap_mangen::Man::new(cmd.clone());
    // Writing to a Vec cannot fail.
    let _ = top.render_title(out);
    let sections: [Section; 4] = [
        &|m, w| m.render_name_section(w),
        &|m, w| m.render_synopsis_section(w),
        &|m, w| m.render_description_section(w),
        &|m, w| m.render_options_section(w),
    ];
    for render in sections {
        out.extend_from_slice(&man_section(&top, render, true));
    }
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_command(sub, out);
    }
    out.extend_from_slice(&man_section(&top, &|m, w| m.render_version_section(w), true));
}

type Section<'a> = &'a dyn Fn(&clap_mangen::Man, &mut Vec<u8>) -> std::io::Result<()>;

/// A section clap_mangen renders, without the string definitions it repeats before each one,
/// and without its `.SH` heading unless `heading`.
fn man_section(man: &clap_mangen::Man, render: Section, heading: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = render(man, &mut buf);
    let text = String::from_utf8_lossy(&buf);
    let mut kept = String::new();
    for line in text.lines().filter(|l| !l.starts_with(".ie \\n(.g .ds Aq") && !l.starts_with(".el .ds Aq")) {
        if heading || !line.starts_with(".SH ") {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept.into_bytes()
}

fn man_command(cmd: &clap::Command, out: &mut Vec<u8>) {
    let man = clap_mangen::Man::new(cmd.clone());
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    out.extend_from_slice(format!(".SS \"{name}\"\n").as_bytes());
    out.extend_from_slice(&man_section(&man, &|m, w| m.render_description_section(w), false));
    out.extend_from_slice(b".PP\n");
    out.extend_from_slice(&man_section(&man, &|m, w| m.render_synopsis_section(w), false));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        out.extend_from_slice(&man_section(&man, &|m, w| m.render_options_section(w), false));
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_command(sub, out);
    }
}
