//! Where an action happens relative to the project: paths are made absolute against the
//! payload's `cwd`, `..` is resolved, and symlinks are followed as far as the path exists, so
//! `../../etc/passwd`, `~/.ssh/id_rsa` or a symlink out of the project are all seen for what they
//! are.

use std::path::{Component, Path, PathBuf};

/// The project boundary and the extra places that do not count as leaving it.
pub struct ProjectScope {
    /// Canonical project root.
    pub root: Option<PathBuf>,
    pub allow: Vec<PathBuf>,
    pub home: Option<PathBuf>,
}

impl ProjectScope {
    pub fn new(root: Option<&Path>, allow: &[PathBuf], home: Option<PathBuf>) -> Self {
        ProjectScope {
            root: root.map(|r| resolve(r, Path::new("/"), None)),
            allow: allow.iter().map(|a| resolve(a, Path::new("/"), None)).collect(),
            home,
        }
    }

    /// Resolves `path` (as the agent wrote it) against `cwd`.
    pub fn resolve(&self, path: &str, cwd: &Path) -> PathBuf {
        resolve(Path::new(path), cwd, self.home.as_deref())
    }

    /// Whether a resolved path lies outside the project (and outside every allowed place).
    /// Without a known project root nothing is outside.
    pub fn is_outside(&self, resolved: &Path) -> bool {
        match &self.root {
            None => false,
            Some(root) => !resolved.starts_with(root) && !self.allow.iter().any(|a| resolved.starts_with(a)),
        }
    }
}

/// Absolute, lexically normalised, then canonicalised through the longest existing prefix.
pub fn resolve(path: &Path, cwd: &Path, home: Option<&Path>) -> PathBuf {
    let expanded: PathBuf = match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(h)) => h.join(rest),
        _ => path.to_path_buf(),
    };
    let absolute = if expanded.is_absolute() { expanded } else { cwd.join(expanded) };
    let normal = normalise(&absolute);
    canonicalise_existing_prefix(&normal)
}

fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Follows symlinks in the part of the path that exists; the rest (a file about to be written)
/// is appended as is.
fn canonicalise_existing_prefix(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = std::fs::canonicalize(&existing) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (existing.file_name().map(|f| f.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Words of a shell command that look like paths: absolute, home-relative, or climbing out with
/// `..`. The program word of each simple command is skipped (running `/usr/bin/env` is not
/// touching a file), as are the device files every shell uses (`/dev/null`, ...). Redirection
/// and `--opt=` prefixes are stripped. Not a shell parser: a heuristic that errs towards reporting.
pub fn command_paths(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (word, program) in shell_words(command) {
        if program {
            continue;
        }
        let w = word.trim_start_matches(|c: char| c.is_ascii_digit() || c == '<' || c == '>' || c == '&');
        let w = match w.split_once('=') {
            Some((k, v)) if k.starts_with('-') || k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => v,
            _ => w,
        };
        let w = w.trim_end_matches([')', '(']);
        let looks_like_path = (w.starts_with('/') && w.len() > 1)
            || w.starts_with("~/")
            || w == "~"
            || w.starts_with("../")
            || w == ".."
            || w.contains("/../");
        if looks_like_path && !is_shell_device(w) {
            out.push(w.to_string());
        }
    }
    out
}

fn is_shell_device(w: &str) -> bool {
    matches!(w, "/dev/null" | "/dev/stdin" | "/dev/stdout" | "/dev/stderr" | "/dev/tty" | "/dev/zero" | "/dev/urandom" | "/dev/random")
        || w.starts_with("/dev/fd/")
}

/// Splits on unquoted whitespace and shell operators, removing quotes; each word comes with
/// whether it stands where a program name goes (first word, or first after `;`, `|`, `&`).
fn shell_words(s: &str) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut at_program = true;
    let mut chars = s.chars();
    let flush = |cur: &mut String, at_program: &mut bool, words: &mut Vec<(String, bool)>| {
        if !cur.is_empty() {
            let w = std::mem::take(cur);
            // `VAR=value cmd`: the assignment does not take the program's place.
            let assignment = *at_program && w.split_once('=').is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            words.push((w, *at_program && !assignment));
            if !assignment {
                *at_program = false;
            }
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n)
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n)
                }
            }
            (None, ';' | '|' | '&' | '(' | '`') => {
                flush(&mut cur, &mut at_program, &mut words);
                at_program = true;
            }
            (None, c) if c.is_whitespace() => flush(&mut cur, &mut at_program, &mut words),
            (None, c) => cur.push(c),
        }
    }
    flush(&mut cur, &mut at_program, &mut words);
    words
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
    fn finds_paths_in_commands() {
        assert_eq!(command_paths("cat /etc/hostname"), vec!["/etc/hostname"]);
        assert_eq!(command_paths("ls -la && echo hi > ../out.txt"), vec!["../out.txt"]);
        assert_eq!(command_paths("cp a ~/.ssh/x; grep -r foo --file=/etc/passwd"), vec!["~/.ssh/x", "/etc/passwd"]);
        assert_eq!(command_paths("echo 'a b' src/x.rs"), Vec::<String>::new());
        assert_eq!(command_paths("cmd 2>/dev/null"), Vec::<String>::new());
        assert_eq!(command_paths("/usr/bin/env python3 x.py | FOO=1 /bin/cat /etc/shadow"), vec!["/etc/shadow"]);
        assert_eq!(command_paths("cat <../secret"), vec!["../secret"]);
    }
}
