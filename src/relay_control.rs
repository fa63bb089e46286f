//! Starting, finding and stopping the relay. One relay per data dir, made single by an exclusive
//! lock on `relay/relay.lock` held for its whole life; its pid is in `relay/relay.pid`.
//!
//! The hook calls [`ensure_running`] after every append: when a relay holds the lock this costs a
//! failed non-blocking lock attempt (microseconds); otherwise it spawns a detached
//! `agent-telemetry relay --foreground` in its own process group with stdio to null.
//!
//! Below the hook, apart from the relay's machinery (`crate::relay`, reachable there as
//! `relay::control`): the hook starts the relay, and the relay runs the hook's pipeline.

use crate::config::Config;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The relay's own files in a data dir: lock, pid, log, autostart hold-off, status, checkpoint.
pub fn relay_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("relay")
}

pub(crate) fn lock_path(data_dir: &Path) -> PathBuf {
    relay_dir(data_dir).join("relay.lock")
}

pub(crate) fn pid_path(data_dir: &Path) -> PathBuf {
    relay_dir(data_dir).join("relay.pid")
}

fn open_lock(data_dir: &Path) -> std::io::Result<File> {
    let dir = relay_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(lock_path(data_dir))
}

/// Takes the single-instance lock, or `None` if another relay holds it.
pub(crate) fn acquire(data_dir: &Path) -> std::io::Result<Option<File>> {
    let f = open_lock(data_dir)?;
    match f.try_lock() {
        Ok(()) => {
            // Never through a link an agent may have planted: O_NOFOLLOW, and a fresh file.
            let _ = std::fs::remove_file(pid_path(data_dir));
            let mut pid = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(pid_path(data_dir))?;
            std::io::Write::write_all(&mut pid, format!("{}\n", std::process::id()).as_bytes())?;
            Ok(Some(f))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Whether a relay holds the lock for this data dir (on the hook's path: one open, one failed
/// non-blocking lock, nothing created).
pub(crate) fn is_running(data_dir: &Path) -> bool {
    match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(lock_path(data_dir)) {
        Ok(f) => f.try_lock().is_err(), // a successful lock is released when `f` drops
        Err(_) => false,
    }
}

pub fn running_pid(data_dir: &Path) -> Option<i32> {
    if !is_running(data_dir) {
        return None;
    }
    std::fs::read_to_string(pid_path(data_dir)).ok()?.trim().parse().ok()
}

/// Where the hook's start attempts are held off: the file's modification time is the earliest
/// moment the next attempt may be made (one `stat` on the hook's path decides).
pub(crate) fn backoff_path(data_dir: &Path) -> PathBuf {
    relay_dir(data_dir).join("autostart.next")
}

/// A start attempt holds further attempts off this long (a relay takes the lock in milliseconds;
/// this only stops a burst of hooks from each spawning one).
const START_GRACE: Duration = Duration::from_secs(5);

/// Called by the hook after every append: start a detached relay unless one runs, autostart is
/// off (`export.autostart = false`, `AGENT_TELEMETRY_RELAY=off`), or the last attempt is too
/// recent — a relay that keeps failing to start is retried once per back-off window, not on
/// every event.
pub(crate) fn ensure_running(config: &Config) {
    let data_dir = &config.data_dir;
    if !config.export.autostart || is_running(data_dir) || held_off(data_dir) {
        return;
    }
    hold_off(data_dir, START_GRACE);
    let _ = spawn(config);
}

/// Whether the back-off window of the last start attempt is still open.
fn held_off(data_dir: &Path) -> bool {
    std::fs::symlink_metadata(backoff_path(data_dir))
        .and_then(|m| m.modified())
        .is_ok_and(|until| until > SystemTime::now())
}

/// Holds start attempts off for `d` from now (the relay sets longer windows after failures).
pub(crate) fn hold_off(data_dir: &Path, d: Duration) {
    let path = backoff_path(data_dir);
    let _ = std::fs::create_dir_all(relay_dir(data_dir));
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path);
    if let Ok(f) = f {
        let _ = f.set_modified(SystemTime::now() + d);
    }
}

/// Clears the back-off (a relay started fine).
pub(crate) fn clear_hold_off(data_dir: &Path) {
    let _ = std::fs::remove_file(backoff_path(data_dir));
}

/// Starts a detached `relay --foreground --autostarted` for this config, handing it the resolved
/// data dir and config file explicitly, stdio to null and stderr to `relay/relay.log`.
#[inline(never)]
pub fn spawn(config: &Config) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("relay")
        .arg("--foreground")
        .arg("--autostarted")
        .envs(config.handoff_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .process_group(0);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(relay_dir(&config.data_dir).join("relay.log"));
    if let Ok(log) = log {
        cmd.stderr(log);
    }
    // Not waited for: it outlives the hook. A second relay racing this one loses the lock and exits.
    cmd.spawn().map(drop)
}

/// Why `relay --stop` did not stop the relay.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("cannot signal relay pid {pid}: {error}")]
    Signal { pid: i32, error: std::io::Error },
    /// Still running after `timeout_secs` (it keeps exporting and keeps its checkpoint).
    #[error("relay {pid} did not stop within {timeout_secs}s (it may be retrying an export; it keeps its checkpoint)")]
    StillRunning { pid: i32, timeout_secs: u64 },
}

/// `relay --stop`: SIGTERM, then wait for the relay to export what it holds and release its lock.
pub fn stop(data_dir: &Path, timeout: Duration) -> Result<String, StopError> {
    let Some(pid) = running_pid(data_dir) else {
        return Ok("no relay running".into());
    };
    // SAFETY: plain kill(2) on a pid read from our own pid file (the lock says it is alive).
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(StopError::Signal { pid, error: std::io::Error::last_os_error() });
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_running(data_dir) {
            return Ok(format!("relay {pid} stopped"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(StopError::StillRunning { pid, timeout_secs: timeout.as_secs() })
}

/// A systemd user unit for `relay --foreground` that resolves exactly this config: the data dir
/// and config file, and the `AGENT_TELEMETRY_*` variables this process resolved settings from —
/// except credentials, which belong in the config file (a unit file is world-readable).
pub fn unit(exe: &Path, config: &Config) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%"));
    let mut env_lines = String::new();
    for (k, v) in config.handoff_env() {
        env_lines.push_str(&format!("Environment={}\n", q(&format!("{k}={}", v.display()))));
    }
    let mut seen = std::collections::BTreeSet::new();
    for source in config.sources.values() {
        let crate::config::Source::Env(var) = source else { continue };
        if matches!(*var, "AGENT_TELEMETRY_HOME" | "AGENT_TELEMETRY_CONFIG") || !seen.insert(*var) {
            continue;
        }
        if matches!(*var, "AGENT_TELEMETRY_OTLP_HEADERS" | "AGENT_TELEMETRY_OTLP_ENDPOINT") {
            env_lines.push_str(&format!(
                "# {var} is set where this unit was printed but not copied (it may hold a credential): put it in {}\n",
                config.config_path.display()
            ));
            continue;
        }
        if let Ok(v) = std::env::var(var) {
            env_lines.push_str(&format!("Environment={}\n", q(&format!("{var}={v}"))));
        }
    }
    format!(
        "# ~/.config/systemd/user/agent-telemetry-relay.service\n\
         # systemctl --user daemon-reload && systemctl --user enable --now agent-telemetry-relay\n\
         # With the relay under systemd, set export.autostart = false in the config file so that\n\
         # hooks never start one of their own while this one restarts.\n\
         [Unit]\n\
         Description=agent-telemetry relay: Claude Code hook journal to OpenTelemetry\n\
         After=network-online.target\n\n\
         [Service]\n\
         Type=simple\n\
         {env_lines}\
         ExecStart={exe} relay --foreground\n\
         ExecStop={exe} relay --stop\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         TimeoutStopSec=60\n\n\
         [Install]\n\
         WantedBy=default.target\n",
        exe = q(&exe.display().to_string()),
    )
}
