//! The `agent-telemetry` command line: a thin layer over the library. `hook` is dispatched
//! before any argument parsing, since it runs for every Claude Code event.
//!
//! `no_main`: the C `main` below skips the Rust runtime's start-up (which reads
//! `/proc/self/maps` to set up a stack guard) — work every hook run would pay for nothing.
//! Arguments still come from `std::env::args_os` (glibc hands them to std at load time).
#![no_main]

use agent_telemetry::commands::{forensics, install, show, status, verify};
use agent_telemetry::config::Config;
use agent_telemetry::relay;
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
    /// One line per session: start, end, project, agent, turns, tools, errors, findings, tokens.
    Sessions(forensics::SessionsArgs),
    /// Records matching filters (tool, event, path glob, command regex, rule, outside, time).
    Search(forensics::SearchArgs),
    /// Stream matching records as JSONL (verifiable with `verify --file`) or CSV.
    Export(forensics::ExportArgs),
    /// One session's records in order, with offsets, durations and findings.
    Timeline(forensics::SessionArgs),
    /// One session's trace tree, assembled from the journal as the relay does.
    Tree(forensics::SessionArgs),
    /// One session as a self-contained HTML report (waterfall, tree, findings, files, commands, tokens).
    Report(forensics::ReportArgs),
    /// Questions across agents: conflicts (files touched by several agents), tree (delegation), compare.
    Fleet {
        #[command(subcommand)]
        command: agent_telemetry::fleet::FleetCommand,
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

#[no_mangle]
pub extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    // The hot path: no argument parsing, no config beyond what the hook itself reads.
    if std::env::args_os().nth(1).is_some_and(|a| a == "hook") {
        return agent_telemetry::hook::run();
    }
    let code = match std::panic::catch_unwind(|| run(Cli::parse().command)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("agent-telemetry: error: {e:#}");
            2
        }
        Err(_) => 101,
    };
    // Without the runtime's exit path, flush what is still buffered.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    code
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
        Command::Verify { file: Some(file), .. } => forensics::verify_file(&file),
        Command::Verify { file: None, remote, remote_filter } => {
            let config = Config::load();
            let local = verify::run(&config)?;
            match remote {
                Some(url) => Ok(local.max(verify::run_remote(&config, &url, remote_filter.as_deref())?)),
                None => Ok(local),
            }
        }
        Command::Install { user, project, no_marker, endpoint, protocol, transport, listen } => {
            let target = if user { install::Target::User } else { install::Target::Project(project_dir(project)?) };
            let exe = std::env::current_exe()?;
            let transport = match transport.as_str() {
                "http" => {
                    let addr: std::net::SocketAddr = listen.parse().map_err(|_| anyhow::anyhow!("--listen {listen}: not an ip:port"))?;
                    anyhow::ensure!(addr.ip().is_loopback(), "--listen {listen}: not a loopback address (the endpoint takes events from this machine only)");
                    install::Transport::Http(addr)
                }
                _ => install::Transport::Command,
            };
            print!("{}", install::install_with(&target, &exe, !no_marker, transport)?);
            if endpoint.is_some() || protocol.is_some() {
                print!("{}", install::set_endpoint(&Config::load(), endpoint.as_deref(), protocol.as_deref())?);
            }
            if let install::Transport::Http(addr) = transport {
                print!("{}", install::set_hook_listen(&Config::load(), addr)?);
            }
            Ok(0)
        }
        Command::Relay { foreground, stop, print_unit, once, timeout, autostarted } => {
            let config = Config::load();
            if print_unit {
                if let Some(e) = &config.error {
                    eprintln!("agent-telemetry: warning: the configuration has errors (the relay will refuse to start): {e}");
                }
                print!("{}", relay::control::unit(&std::env::current_exe()?, &config));
                return Ok(0);
            }
            if stop {
                return match relay::control::stop(&config.data_dir, std::time::Duration::from_secs(60)) {
                    Ok(msg) => {
                        println!("{msg}");
                        Ok(0)
                    }
                    Err(msg) => {
                        eprintln!("agent-telemetry: {msg}");
                        Ok(1)
                    }
                };
            }
            if foreground || once {
                let once_timeout = once.then(|| std::time::Duration::from_secs(timeout));
                return relay::run(&config, relay::RunOptions { autostarted, once, once_timeout });
            }
            if let Some(pid) = relay::control::running_pid(&config.data_dir) {
                println!("relay already running (pid {pid})");
                return Ok(0);
            }
            relay::control::spawn(&config)?;
            for _ in 0..100 {
                if let Some(pid) = relay::control::running_pid(&config.data_dir) {
                    println!("relay started (pid {pid}) → {}", config.export.describe());
                    return Ok(0);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let why = relay::checkpoint::load_status(&relay::checkpoint::relay_dir(&config.data_dir))
                .filter(|s| s.state == "failed")
                .and_then(|s| s.last_error)
                .unwrap_or_else(|| format!("see {}", relay::checkpoint::relay_dir(&config.data_dir).join("relay.log").display()));
            anyhow::bail!("the relay did not start: {why}")
        }
        Command::Uninstall { user, project } => {
            let target = if user { install::Target::User } else { install::Target::Project(project_dir(project)?) };
            print!("{}", install::uninstall(&target)?);
            Ok(0)
        }
        Command::Show { journal, session } => show::run(&Config::load(), journal, session.as_deref()),
        Command::Sessions(a) => forensics::sessions(&Config::load(), &a),
        Command::Search(a) => forensics::search(&Config::load(), &a),
        Command::Export(a) => forensics::export(&Config::load(), &a),
        Command::Timeline(a) => forensics::timeline(&Config::load(), &a),
        Command::Tree(a) => forensics::tree(&Config::load(), &a),
        Command::Report(a) => forensics::report(&Config::load(), &a),
        Command::Fleet { command } => agent_telemetry::fleet::run(&Config::load(), command),
        Command::Status { project, json } => status::run(&Config::load(), &project_dir(project)?, json),
    }
}

/// libm's `pow`, loaded on first use. tokio's multi-thread scheduler (the relay) is the only
/// caller in this binary; defining it here keeps libm out of the link (`--as-needed`), so a hook
/// process does not load it: that load (its ifunc relocations, mappings) cost ~40–80 µs per run.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    type Pow = extern "C" fn(f64, f64) -> f64;
    static REAL: std::sync::OnceLock<Option<Pow>> = std::sync::OnceLock::new();
    let real = REAL.get_or_init(|| {
        // SAFETY: NUL-terminated names; a non-null `pow` from libm has this signature.
        unsafe {
            let lib = libc::dlopen(c"libm.so.6".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            let sym = if lib.is_null() { std::ptr::null_mut() } else { libc::dlsym(lib, c"pow".as_ptr()) };
            (!sym.is_null()).then(|| std::mem::transmute::<*mut libc::c_void, Pow>(sym))
        }
    });
    match real {
        Some(f) => f(x, y),
        // No libm (never seen): tokio's exponents are poll counts, whole numbers.
        None if y.fract() == 0.0 && y.abs() <= i32::MAX as f64 => x.powi(y as i32),
        None => f64::NAN,
    }
}
