//! Download-then-run across tool calls: `curl -o /tmp/x.sh URL` in one Bash call, `bash
//! /tmp/x.sh` in a later one. The hook is a fresh process per event, so the files a session
//! downloaded are kept in `journal/.downloads` (one `session<TAB>path` line each): appended only
//! by a PreToolUse whose command downloads to a file, read only by a PreToolUse whose command
//! runs a file — every other event never opens it. Bounded (the newest lines are kept), opened
//! through the checked journal directory with `O_NOFOLLOW` like every file there; the agent
//! could edit it, but writing to our data dir is itself a `telemetry_tampering` finding.
//!
//! Kept in the hook rather than derived in the relay because enforce mode must refuse the run
//! at PreToolUse, before it happens.

use crate::safe_fs::{self, DirFd};
use std::io::{Read, Write};
use std::path::Path;

const FILE: &str = ".downloads";
const MAX: usize = 64 * 1024;

fn open(journal_dir: &Path) -> Option<DirFd> {
    safe_fs::check_dir(journal_dir.parent()?).ok()?;
    safe_fs::check_dir(journal_dir).ok()?;
    DirFd::open(journal_dir).ok()
}

fn line_ok(s: &str) -> bool {
    !s.is_empty() && s.len() < 4096 && !s.contains(['\n', '\t'])
}

/// Remembers the files `session` downloaded.
pub(crate) fn remember(journal_dir: &Path, session: &str, files: &[String]) {
    if !line_ok(session) {
        return;
    }
    let Some(dir) = open(journal_dir) else { return };
    let add: String = files.iter().filter(|f| line_ok(f)).map(|f| format!("{session}\t{f}\n")).collect();
    if add.is_empty() {
        return;
    }
    let Ok(mut f) = dir.open_file(FILE, libc::O_RDWR | libc::O_APPEND | libc::O_CREAT, 0o600) else { return };
    let len = f.metadata().map(|m| m.len() as usize).unwrap_or(0);
    if len + add.len() > MAX {
        // Keep the newest half: rewrite in place (the lock-free append of another hook may be
        // lost in this rare moment; a lost entry is a missed link, never a false one).
        let mut old = String::new();
        let _ = (&mut f).take(MAX as u64).read_to_string(&mut old);
        let cut = old.len().saturating_sub(MAX / 2);
        // From the first whole line after the cut (a byte search: the cut may split a character).
        let keep = old.as_bytes()[cut..].iter().position(|b| *b == b'\n').map(|n| &old[cut + n + 1..]).unwrap_or("");
        let text = format!("{keep}{add}");
        if let Ok(mut w) = dir.open_file(FILE, libc::O_WRONLY | libc::O_TRUNC, 0o600) {
            let _ = w.write_all(text.as_bytes());
        }
        return;
    }
    let _ = f.write_all(add.as_bytes());
}

/// The files among `executed` that `session` downloaded in an earlier call.
pub(crate) fn downloaded(journal_dir: &Path, session: &str, executed: &[String]) -> Vec<String> {
    if std::fs::symlink_metadata(journal_dir.join(FILE)).is_err() {
        return Vec::new();
    }
    let Some(dir) = open(journal_dir) else { return Vec::new() };
    let Ok(f) = dir.open_file(FILE, libc::O_RDONLY, 0) else { return Vec::new() };
    let mut text = String::new();
    let _ = f.take(MAX as u64 * 2).read_to_string(&mut text);
    executed
        .iter()
        .filter(|e| text.lines().any(|l| l.split_once('\t') == Some((session, e.as_str()))))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn per_session_and_bounded() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("journal");
        std::fs::create_dir(&j).unwrap();
        for p in [d.path(), j.as_path()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        remember(&j, "s1", &["/tmp/x.sh".into()]);
        assert_eq!(downloaded(&j, "s1", &["/tmp/x.sh".into(), "/tmp/y".into()]), ["/tmp/x.sh"]);
        assert!(downloaded(&j, "s2", &["/tmp/x.sh".into()]).is_empty());
        for i in 0..5000 {
            remember(&j, "s3", &[format!("/tmp/file-{i}")]);
        }
        assert!(std::fs::metadata(j.join(FILE)).unwrap().len() as usize <= MAX);
        assert_eq!(downloaded(&j, "s3", &["/tmp/file-4999".into()]).len(), 1);
    }
}
