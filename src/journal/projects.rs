//! The projects whose telemetry is on (`journal/.projects`, one root per line), so that silence
//! is an event: when a hook runs in a project whose `.telemetry-enabled` marker has gone (the
//! agent removed it, or a command did), the hook writes one `telemetry_gap` record before going
//! quiet there, instead of nothing at all.

use crate::safe_fs::{self, DirFd};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const FILE: &str = ".projects";
const MAX: u64 = 1024 * 1024;

fn read(dir: &DirFd) -> Vec<PathBuf> {
    let Ok(f) = dir.open_file(FILE, libc::O_RDONLY, 0) else { return Vec::new() };
    let mut s = String::new();
    let _ = f.take(MAX).read_to_string(&mut s);
    s.lines().filter(|l| l.starts_with('/')).map(PathBuf::from).collect()
}

fn open(journal_dir: &Path) -> Option<DirFd> {
    safe_fs::check_dir(journal_dir.parent()?).ok()?;
    if std::fs::symlink_metadata(journal_dir).is_err() {
        return None;
    }
    DirFd::open_checked(journal_dir).ok()
}

/// Remembers `root` as a project with telemetry on (no-op when already known), in the journal
/// directory already open and checked (the hook does it right after its append, under the
/// journal's lock).
pub(crate) fn remember(dir: &DirFd, root: &Path) {
    if read(dir).iter().any(|r| r == root) {
        return;
    }
    if let Ok(mut f) = dir.open_file(FILE, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, 0o600) {
        let _ = f.write_all(format!("{}\n", root.display()).as_bytes());
    }
}

/// The known project at or above `start` whose marker `marker` is gone, forgotten as it is
/// returned (the gap is reported once). Reads nothing when the journal does not exist.
pub(crate) fn take_gone(journal_dir: &Path, start: &Path, marker: &str) -> Option<PathBuf> {
    if std::fs::symlink_metadata(journal_dir.join(FILE)).is_err() {
        return None;
    }
    let dir = open(journal_dir)?;
    let known = read(&dir);
    let gone =
        known.iter().find(|r| start.starts_with(r) && std::fs::symlink_metadata(r.join(marker)).is_err())?.clone();
    let rest: String = known.iter().filter(|r| **r != gone).map(|r| format!("{}\n", r.display())).collect();
    if let Ok(mut f) = dir.open_file(FILE, libc::O_WRONLY | libc::O_TRUNC, 0o600) {
        let _ = f.write_all(rest.as_bytes());
    }
    Some(gone)
}

/// Forgets `root` (the relay reported its marker gone: the hook need not say it again).
pub(crate) fn forget(journal_dir: &Path, root: &Path) {
    if std::fs::symlink_metadata(journal_dir.join(FILE)).is_err() {
        return;
    }
    let Some(dir) = open(journal_dir) else { return };
    let known = read(&dir);
    if !known.iter().any(|r| r == root) {
        return;
    }
    let rest: String = known.iter().filter(|r| *r != root).map(|r| format!("{}\n", r.display())).collect();
    if let Ok(mut f) = dir.open_file(FILE, libc::O_WRONLY | libc::O_TRUNC, 0o600) {
        let _ = f.write_all(rest.as_bytes());
    }
}
