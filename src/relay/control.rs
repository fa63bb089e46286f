//! Starting, finding and stopping the relay. One relay per data dir, made single by an exclusive
//! lock on `relay/relay.lock` held for its whole life; its pid is in `relay/relay.pid`.
//!
//! The hook calls [`ensure_running`] after every append: when a relay holds the lock this costs a
//! failed non-blocking lock attempt (microseconds); otherwise it spawns a detached
//! `agent-telemetry relay --foreground` in its own process group with stdio to null.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn lock_path(data_dir: &Path) -> PathBuf {
    super::checkpoint::relay_dir(data_dir).join("relay.lock")
}

pub fn pid_path(data_dir: &Path) -> PathBuf {
    super::checkpoint::relay_dir(data_dir).join("relay.pid")
}

fn open_lock(data_dir: &Path) -> std::io::Result<File> {
    let dir = super::checkpoint::relay_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    OpenOptions::new().create(true).truncate(false).read(true).write(true).mode(0o600).open(lock_path(data_dir))
}

/// Takes the single-instance lock, or `None` if another relay holds it.
pub fn acquire(data_dir: &Path) -> std::io::Result<Option<File>> {
    let f = open_lock(data_dir)?;
    match f.try_lock() {
        Ok(()) => {
            std::fs::write(pid_path(data_dir), format!("{}\n", std::process::id()))?;
            Ok(Some(f))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Whether a relay holds the lock for this data dir (on the hook's path: one open, one failed
/// non-blocking lock, nothing created).
pub fn is_running(data_dir: &Path) -> bool {
    match OpenOptions::new().read(true).open(lock_path(data_dir)) {
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

/// Called by the hook: start a detached relay unless one runs or autostart is off
/// (`AGENT_TELEMETRY_RELAY=off`, or `export.autostart = false`).
pub fn ensure_running(data_dir: &Path, autostart: bool) {
    if !autostart || is_running(data_dir) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut cmd = Command::new(exe);
    cmd.arg("relay")
        .arg("--foreground")
        .arg("--autostarted")
        .env("AGENT_TELEMETRY_HOME", data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .process_group(0);
    if let Ok(log) = OpenOptions::new().create(true).append(true).mode(0o600).open(super::checkpoint::relay_dir(data_dir).join("relay.log")) {
        cmd.stderr(log);
    }
    // Not waited for: it outlives the hook. A second relay racing this one loses the lock and exits.
    let _ = cmd.spawn();
}

/// `relay --stop`: SIGTERM, then wait for the relay to export what it holds and release its lock.
pub fn stop(data_dir: &Path, timeout: Duration) -> Result<String, String> {
    let Some(pid) = running_pid(data_dir) else {
        return Ok("no relay running".into());
    };
    // SAFETY: plain kill(2) on a pid read from our own pid file (the lock says it is alive).
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(format!("cannot signal relay pid {pid}: {}", std::io::Error::last_os_error()));
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_running(data_dir) {
            return Ok(format!("relay {pid} stopped"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("relay {pid} did not stop within {}s (it may be retrying an export; it keeps its checkpoint)", timeout.as_secs()))
}

/// A systemd user unit for `relay --foreground`.
pub fn unit(exe: &Path, data_dir: &Path) -> String {
    format!(
        "# ~/.config/systemd/user/agent-telemetry-relay.service\n\
         # systemctl --user daemon-reload && systemctl --user enable --now agent-telemetry-relay\n\
         [Unit]\n\
         Description=agent-telemetry relay: Claude Code hook journal to OpenTelemetry\n\
         After=network-online.target\n\n\
         [Service]\n\
         Type=simple\n\
         Environment=AGENT_TELEMETRY_HOME={data}\n\
         ExecStart={exe} relay --foreground\n\
         ExecStop={exe} relay --stop\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         TimeoutStopSec=60\n\n\
         [Install]\n\
         WantedBy=default.target\n",
        exe = exe.display(),
        data = data_dir.display()
    )
}
