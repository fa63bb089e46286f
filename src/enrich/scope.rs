//! Where an action happens relative to the project: paths are made absolute against the
//! payload's `cwd` and resolved as the kernel does (symlinks before `..`), so
//! `../../etc/passwd`, `~/.ssh/id_rsa` or a symlink out of the project are all seen for what they
//! are.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// The project boundary and the extra places that do not count as leaving it.
pub(crate) struct ProjectScope {
    root_given: Option<PathBuf>,
    allow_given: Vec<PathBuf>,
    /// Canonical root and allowed places, resolved at the first boundary check (events without
    /// a path never pay for it).
    resolved: OnceCell<(Option<PathBuf>, Vec<PathBuf>)>,
    pub home: Option<PathBuf>,
    /// What every resolution so far learned about path prefixes: each is looked at once.
    known: Lstats,
}

impl ProjectScope {
    pub(crate) fn new(root: Option<&Path>, allow: &[PathBuf], home: Option<PathBuf>) -> Self {
        ProjectScope {
            root_given: root.map(Path::to_path_buf),
            allow_given: allow.to_vec(),
            resolved: OnceCell::new(),
            home,
            known: Lstats::from_cwd(),
        }
    }

    fn boundary(&self) -> &(Option<PathBuf>, Vec<PathBuf>) {
        self.resolved.get_or_init(|| {
            let canon = |p: &Path| resolve_with(p, Path::new("/"), None, &self.known);
            (self.root_given.as_deref().map(canon), self.allow_given.iter().map(|a| canon(a)).collect())
        })
    }

    /// The project root, resolved (none when unknown).
    pub(crate) fn root(&self) -> Option<&Path> {
        self.boundary().0.as_deref()
    }

    /// Resolves `path` (as the agent wrote it) against `cwd`.
    pub(crate) fn resolve(&self, path: &str, cwd: &Path) -> PathBuf {
        resolve_with(Path::new(path), cwd, self.home.as_deref(), &self.known)
    }

    /// Resolves an absolute path of ours (no `~`), sharing what this scope already learned.
    pub(crate) fn resolve_own(&self, path: &Path) -> PathBuf {
        resolve_with(path, Path::new("/"), None, &self.known)
    }

    /// Whether a resolved path lies outside the project (and outside every allowed place).
    /// Without a known project root nothing is outside.
    pub(crate) fn is_outside(&self, resolved: &Path) -> bool {
        let (root, allow) = self.boundary();
        match root {
            None => false,
            Some(root) => !resolved.starts_with(root) && !allow.iter().any(|a| resolved.starts_with(a)),
        }
    }
}

/// Path prefixes already looked at (`lstat`), so that resolving many paths under the same
/// directories costs one syscall per new component, not one per component per path. Lives as
/// long as one event's analysis: the answers are as fresh as a fresh `lstat` would be then.
#[derive(Default)]
pub(crate) struct Lstats(RefCell<HashMap<PathBuf, Known>>);

#[derive(Clone)]
enum Known {
    /// Exists and is not a symlink.
    Real,
    Link(Option<PathBuf>),
    /// Absent or not readable: the rest is taken lexically.
    Missing,
}

impl Lstats {
    /// Seeded with our working directory: `getcwd` is the kernel's own resolution of it, so every
    /// prefix of its answer is a real directory, not a symlink — one syscall for what would be
    /// an `lstat` per component (Claude Code runs hooks in the project).
    pub(crate) fn from_cwd() -> Lstats {
        let known = Lstats::default();
        if let Ok(cwd) = std::env::current_dir() {
            if cwd.is_absolute() && cwd.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_))) {
                let mut map = known.0.borrow_mut();
                for a in cwd.ancestors().filter(|a| a.parent().is_some()) {
                    map.insert(a.to_path_buf(), Known::Real);
                }
            }
        }
        known
    }

    fn lstat(&self, p: &Path) -> Known {
        if let Some(k) = self.0.borrow().get(p) {
            return k.clone();
        }
        let k = match std::fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_symlink() => Known::Link(std::fs::read_link(p).ok()),
            Ok(_) => Known::Real,
            Err(_) => Known::Missing,
        };
        self.0.borrow_mut().insert(p.to_path_buf(), k.clone());
        k
    }
}

/// Absolute, then resolved as the kernel resolves it: component by component, a symlink is
/// replaced by its target *before* a following `..` applies (so `P/link-to-etc-ssh/../shadow` is
/// `/etc/shadow`, not `P/shadow`). The part that does not exist (a file about to be written) is
/// taken lexically.
pub fn resolve(path: &Path, cwd: &Path, home: Option<&Path>) -> PathBuf {
    resolve_with(path, cwd, home, &Lstats::default())
}

fn resolve_with(path: &Path, cwd: &Path, home: Option<&Path>, known: &Lstats) -> PathBuf {
    let expanded: PathBuf = match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(h)) => h.join(rest),
        _ => path.to_path_buf(),
    };
    let absolute = if expanded.is_absolute() { expanded } else { cwd.join(expanded) };
    resolve_kernel(&absolute, known)
}

fn resolve_kernel(p: &Path, known: &Lstats) -> PathBuf {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    let mut pending: VecDeque<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut out = PathBuf::from("/");
    let mut exists = true;
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            out.pop();
            continue;
        }
        out.push(&c);
        if !exists {
            continue;
        }
        match known.lstat(&out) {
            Known::Link(target) => {
                links += 1;
                let Some(target) = target else { continue };
                if links > 40 {
                    // A loop: the kernel says ELOOP; keep the text.
                    exists = false;
                    continue;
                }
                out.pop();
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                for t in target.components().rev().filter_map(|c| match c {
                    Component::Normal(n) => Some(n.to_os_string()),
                    Component::ParentDir => Some(OsString::from("..")),
                    _ => None,
                }) {
                    pending.push_front(t);
                }
            }
            Known::Real => {}
            Known::Missing => exists = false,
        }
    }
    out
}

/// Device files every shell uses (`2>/dev/null`): not worth a finding.
pub(crate) fn is_shell_device(w: &str) -> bool {
    matches!(
        w,
        "/dev/null"
            | "/dev/stdin"
            | "/dev/stdout"
            | "/dev/stderr"
            | "/dev/tty"
            | "/dev/zero"
            | "/dev/urandom"
            | "/dev/random"
    ) || w.starts_with("/dev/fd/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_dotdot_home_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let scope = ProjectScope::new(Some(&root), &[], Some(PathBuf::from("/home/u")));
        let cwd = root.join("src");
        assert!(!scope.is_outside(&scope.resolve("main.rs", &cwd)));
        assert!(!scope.is_outside(&scope.resolve("../new/file.txt", &cwd)));
        assert!(scope.is_outside(&scope.resolve("../../x", &cwd)));
        assert!(scope.is_outside(&scope.resolve("/etc/hostname", &cwd)));
        assert!(scope.is_outside(&scope.resolve("~/.ssh/id_rsa", &cwd)));
        assert_eq!(scope.resolve("~/.ssh/id_rsa", &cwd), PathBuf::from("/home/u/.ssh/id_rsa"));
        assert!(scope.is_outside(&scope.resolve("../link/hostname", &cwd)), "symlink leaves the project");
        let allowed = ProjectScope::new(Some(&root), &[PathBuf::from("/etc")], None);
        assert!(!allowed.is_outside(&allowed.resolve("/etc/hostname", &cwd)));
    }

    #[test]
    fn symlinks_resolve_before_dotdot() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("proj");
        std::fs::create_dir_all(root.join("real/ssh")).unwrap();
        std::fs::create_dir_all(root.join("p")).unwrap();
        std::os::unix::fs::symlink(root.join("real/ssh"), root.join("p/link")).unwrap();
        // The kernel: p/link → real/ssh, then `..` → real.
        assert_eq!(resolve(Path::new("link/../x"), &root.join("p"), None), root.join("real/x"));
        std::os::unix::fs::symlink("/etc/ssh", root.join("p/etc-ssh")).unwrap();
        assert_eq!(resolve(Path::new("etc-ssh/../shadow"), &root.join("p"), None), PathBuf::from("/etc/shadow"));
        std::os::unix::fs::symlink("loop", root.join("p/loop")).unwrap();
        let _ = resolve(Path::new("loop/x"), &root.join("p"), None); // terminates
    }
}
