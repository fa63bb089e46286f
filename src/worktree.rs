//! Worktrees (`claude --worktree NAME`, observed with CLI 2.1.332): Claude Code runs the session
//! in `<project>/.claude/worktrees/NAME` on branch `worktree-NAME`, a checkout that holds only
//! tracked files. A project's `.claude/settings.json` that git does not track is not there, so no
//! project hook fires in that session — unless the hook is also registered in the user's
//! settings (`install --user`: it records only where a `.telemetry-enabled` marker is at or
//! above the session's directory, and the worktree lies inside the project). `install` and
//! `status` say so; they never change the user's git index or settings on their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The worktree a directory is in, as Claude Code lays them out: (project root, worktree name).
pub(crate) fn split(dir: &Path) -> Option<(PathBuf, String)> {
    let s = dir.to_str()?;
    let i = s.find("/.claude/worktrees/")?;
    let name = s[i + "/.claude/worktrees/".len()..].split('/').next()?.to_string();
    (!name.is_empty()).then(|| (PathBuf::from(&s[..i]), name))
}

/// The worktree's own directory: `<project>/.claude/worktrees/<name>`.
pub(crate) fn dir(project: &Path, name: &str) -> PathBuf {
    project.join(".claude/worktrees").join(name)
}

/// The branch checked out in a worktree (its `.git` file points at the gitdir whose `HEAD` names
/// it); `None` when it cannot be read.
pub(crate) fn branch(worktree: &Path) -> Option<String> {
    let dotgit = small_file(&worktree.join(".git"))?;
    let gitdir = PathBuf::from(dotgit.trim().strip_prefix("gitdir:")?.trim());
    let head = small_file(&gitdir.join("HEAD"))?;
    Some(head.trim().strip_prefix("ref: refs/heads/").unwrap_or(head.trim()).to_string())
}

/// A small regular file's text (the hook reads these: never a FIFO, a device or a link, never
/// more than 4 KiB).
fn small_file(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(4096).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Why worktree sessions of `project` would go unrecorded, if they would: a git work tree whose
/// `.claude/settings.json` is not tracked, with no hook of ours in the user's settings.
pub(crate) fn uncovered(project: &Path, user_settings: Option<&Path>) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(project)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // Only a project that is its repository's top level has worktrees of its own.
    let top = Command::new("git")
        .arg("-C")
        .arg(project)
        .args(["rev-parse", "--show-toplevel"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success());
    let is_top = top.is_some_and(|o| {
        std::fs::canonicalize(String::from_utf8_lossy(&o.stdout).trim()).ok() == std::fs::canonicalize(project).ok()
    });
    if !is_top || git(&["ls-files", "--error-unmatch", ".claude/settings.json"]) {
        return None;
    }
    let user_has_hook = user_settings
        .and_then(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|t| t.contains("agent-telemetry") && t.contains(" hook"));
    if user_has_hook {
        return None;
    }
    Some(format!(
        "{}/.claude/settings.json is not tracked by git, so sessions in its worktrees (claude --worktree) will NOT be recorded: \
         commit it, or also run `agent-telemetry install --user` (records only where a .telemetry-enabled marker is)",
        project.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_are_read_from_regular_files_only() {
        let d = tempfile::tempdir().unwrap();
        let wt = d.path().join("p/.claude/worktrees/wt1");
        let gitdir = d.path().join("p/.git/worktrees/wt1");
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::create_dir_all(&gitdir).unwrap();
        std::fs::write(wt.join(".git"), format!("gitdir: {}\n", gitdir.display())).unwrap();
        std::fs::write(gitdir.join("HEAD"), "ref: refs/heads/worktree-wt1\n").unwrap();
        assert_eq!(branch(&wt).as_deref(), Some("worktree-wt1"));
        // A FIFO where HEAD should be: no answer, no hang.
        std::fs::remove_file(gitdir.join("HEAD")).unwrap();
        let c = std::ffi::CString::new(gitdir.join("HEAD").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo in our temp dir.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(branch(&wt), None);
    }

    #[test]
    fn worktree_paths() {
        assert_eq!(split(Path::new("/p/.claude/worktrees/wt1")), Some((PathBuf::from("/p"), "wt1".into())));
        assert_eq!(split(Path::new("/p/.claude/worktrees/wt1/src")), Some((PathBuf::from("/p"), "wt1".into())));
        assert_eq!(split(Path::new("/p/src")), None);
        assert_eq!(split(Path::new("/p/.claude/worktrees/")), None);
    }
}
