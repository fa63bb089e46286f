//! The `agent-telemetry` command line: a thin layer over the library. `hook` is dispatched
//! before any argument parsing, since it runs for every Claude Code event. The commands
//! answered from the SQLite index are handed to `agent-telemetry-forensics` (see
//! `exec_index_binary`), so this binary links no SQLite.
//!
//! `no_main`: the C `main` below skips the Rust runtime's start-up (which reads
//! `/proc/self/maps` to set up a stack guard) — work every hook run would pay for nothing.
//! Arguments still come from `std::env::args_os` (glibc hands them to std at load time).
#![no_main]

use agent_telemetry::cli::{Cli, Command};
use agent_telemetry::commands::{forensics, install, progress, show, status, verify};
use agent_telemetry::config::Config;
use agent_telemetry::relay;
use clap::Parser;
use std::path::PathBuf;

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
            let local = verify::run(&config, remote.is_some())?;
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
                    let addr: std::net::SocketAddr =
                        listen.parse().map_err(|_| anyhow::anyhow!("--listen {listen}: not an ip:port"))?;
                    anyhow::ensure!(
                        addr.ip().is_loopback(),
                        "--listen {listen}: not a loopback address (the endpoint takes events from this machine only)"
                    );
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
                    eprintln!(
                        "agent-telemetry: warning: the configuration has errors (the relay will refuse to start): {e}"
                    );
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
                let opts = relay::RunOptions { autostarted, once, once_timeout };
                if once {
                    let bar = progress::Bar::new("exporting", progress::Unit::Records);
                    return Ok(relay::run_with(&config, opts, &bar)?);
                }
                return Ok(relay::run(&config, opts)?);
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
                .filter(|s| s.state == relay::checkpoint::RelayState::Failed)
                .and_then(|s| s.last_error)
                .unwrap_or_else(|| {
                    format!("see {}", relay::checkpoint::relay_dir(&config.data_dir).join("relay.log").display())
                });
            anyhow::bail!("the relay did not start: {why}")
        }
        Command::Uninstall { user, project } => {
            let target = if user { install::Target::User } else { install::Target::Project(project_dir(project)?) };
            print!("{}", install::uninstall(&target)?);
            Ok(0)
        }
        Command::Show { journal, session } => show::run(&Config::load(), journal, session.as_deref()),
        Command::Index(_) => exec_index_binary(),
        Command::Generate { what } => {
            use std::io::Write;
            std::io::stdout().lock().write_all(&agent_telemetry::cli::generate(what))?;
            Ok(0)
        }
        Command::Status { project, json } => status::run(&Config::load(), &project_dir(project)?, json),
    }
}

/// Runs a command answered from the index in `agent-telemetry-forensics`, the binary beside this
/// one, with the same arguments: this process is replaced (same stdin, stdout, exit code). SQLite
/// lives only there, so the binary Claude Code starts for every event does not carry it or libm.
fn exec_index_binary() -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name(forensics::BINARY);
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "agent-telemetry".into());
    let command = std::env::args().nth(1).unwrap_or_default();
    let err = std::process::Command::new(&sibling).arg0(arg0).args(args).exec();
    if err.kind() == std::io::ErrorKind::NotFound {
        anyhow::bail!(
            "`{command}` is run by {}, which is not installed beside {}: install both binaries (`cargo install --path .` does), or copy {} next to it from the same build (target/<host tuple>/release)",
            forensics::BINARY,
            exe.display(),
            forensics::BINARY
        );
    }
    anyhow::bail!("could not run {}: {err}", sibling.display())
}

/// libm's `pow`, loaded on first use. tokio's multi-thread scheduler (the relay) is the only
/// caller in this binary; defining it here keeps libm out of the link (`--as-needed`), so a hook
/// process does not load it: that load (its ifunc relocations, mappings) cost ~40–80 µs per run.
/// A static build (`.cargo/config.toml`) links libm's `pow` itself: nothing is loaded at run time.
#[cfg(not(target_feature = "crt-static"))]
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
