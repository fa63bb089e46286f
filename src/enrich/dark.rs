//! Going dark, judged by effect: which of this tool's own places (the project's marker, Claude
//! Code's settings with our hook entries, the managed settings, the data dir and its journal,
//! our config and policy) a command can delete, move, truncate, make unreadable or write —
//! through any program, a glob, a `find` filter, or a name built at run time by an interpreter
//! one-liner or a command substitution (concatenated, reversed, base64 / hex / char codes /
//! escapes / rot13, taken from the environment or a directory listing).
//!
//! `enrich::command` collects the raw material ([`Normalised::dynamic`]: texts a destructive
//! primitive may have built a name from); `enrich::analyse` decides with the places resolved.
//!
//! [`Normalised::dynamic`]: super::command::Normalised::dynamic

use super::command::glob_match;
use std::path::{Component, Path};

/// Calls and words of interpreter code that delete, move, truncate, chmod or open for writing.
const DESTRUCTIVE: &[&str] = &[
    "remove",
    "unlink",
    "rmtree",
    "rmdir",
    "rename",
    "replace(",
    "chmod",
    "chown",
    "truncate",
    "'w'",
    "\"w\"",
    "'w+'",
    "'wb'",
    "\"wb\"",
    "'a'",
    "\"a\"",
    "write",
    "rm_rf",
    "rm_r",
    "rmsync",
    "fileutils",
    "file.delete",
    "delete(",
    "\">",
    "'>",
    "move(",
    "shutil",
    "system(",
    "os.system",
    "popen",
    "spawn",
    "exec",
    "file_put_contents",
];

/// Interpreter constructs that make a name at run time (the literal text does not show it).
const DYNAMIC: &[&str] = &[
    "environ",
    "getenv",
    "env[",
    "process.env",
    "argv",
    "glob",
    "listdir",
    "scandir",
    "readdir",
    "walk(",
    "dir[",
    "dir.entries",
    "chr(",
    "fromcharcode",
    "pack(",
    "atob",
    "b64decode",
    "decode(",
    "fromhex",
    "buffer.from",
    "[::-1]",
    "reverse",
    "join(",
    "format(",
    "rot13",
    "codecs",
    "startswith",
    "endswith",
    "expanduser",
    "homedir",
    "input(",
    "stdin",
];

/// What interpreter code can do to files, and the texts its names may come from.
pub(crate) struct CodeEffect {
    pub destructive: bool,
    /// The code with every string literal joined (`'.tele' + 'metry'` is `.telemetry`), and each
    /// literal on its own.
    pub hints: Vec<String>,
    /// A name is built by a construct whose result the text does not show.
    pub unresolved: bool,
}

/// Reads interpreter code (`python -c`, `perl -e`, `node -e`, `ruby -e`, `php -r`).
pub(crate) fn code_effect(code: &str) -> CodeEffect {
    let lower = code.to_ascii_lowercase();
    let destructive = DESTRUCTIVE.iter().any(|d| lower.contains(d));
    let mut hints = Vec::new();
    if destructive {
        let lits = literals(code);
        hints.push(lits.concat());
        hints.extend(lits.into_iter().filter(|l| l.len() >= 4));
        hints.push(code.to_string());
    }
    let unresolved = destructive && DYNAMIC.iter().any(|d| lower.contains(d));
    CodeEffect { destructive, hints, unresolved }
}

/// String literals of code (at most 256), escapes kept as written.
fn literals(code: &str) -> Vec<String> {
    super::command::code_literals(code).take(256).map(|(_, _, lit)| lit.to_string()).collect()
}

/// A hint and what it may stand for: escapes undone, base64 / hex decoded, char-code lists
/// read, reversed, rot13.
pub(crate) fn readings(hint: &str) -> Vec<String> {
    let mut end = hint.len().min(16 * 1024);
    while !hint.is_char_boundary(end) {
        end -= 1;
    }
    let hint = &hint[..end];
    let mut out = vec![hint.to_string()];
    let un = unescape(hint);
    if un != hint {
        out.push(un.clone());
    }
    // Base64 and hex runs.
    for tok in un.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'))) {
        if tok.len() < 8 {
            continue;
        }
        if let Some(d) = base64(tok) {
            out.push(d);
        }
        if tok.len() % 2 == 0 && tok.bytes().all(|b| b.is_ascii_hexdigit()) {
            let bytes: Vec<u8> =
                (0..tok.len()).step_by(2).filter_map(|i| u8::from_str_radix(&tok[i..i + 2], 16).ok()).collect();
            if let Ok(s) = String::from_utf8(bytes) {
                out.push(s);
            }
        }
    }
    // Lists of char codes: `[46, 116, 101, …]`, `chr(46)+chr(116)`.
    let codes: String = un
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|n| (32..127).contains(n))
        .filter_map(char::from_u32)
        .collect();
    if codes.len() >= 4 {
        out.push(codes);
    }
    out.push(un.chars().rev().collect());
    out.push(un.chars().map(rot13).collect());
    out
}

fn rot13(c: char) -> char {
    match c {
        'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
        'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
        _ => c,
    }
}

/// `\xHH`, `\uHHHH`, `\NNN` (octal) undone.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let digits = |from: usize, max: usize, radix: u32| {
                let n = b[from..].iter().take(max).take_while(|c| (**c as char).is_digit(radix)).count();
                (n, std::str::from_utf8(&b[from..from + n]).ok().and_then(|t| u32::from_str_radix(t, radix).ok()))
            };
            let (used, v) = match b[i + 1] {
                b'x' => {
                    let (n, v) = digits(i + 2, 2, 16);
                    (2 + n, v)
                }
                b'u' => {
                    let (n, v) = digits(i + 2, 4, 16);
                    (2 + n, v)
                }
                b'0'..=b'7' => {
                    let (n, v) = digits(i + 1, 3, 8);
                    (1 + n, v)
                }
                _ => (0, None),
            };
            if let Some(c) = v.and_then(char::from_u32) {
                out.push(c);
                i += used;
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn base64(tok: &str) -> Option<String> {
    let t = tok.trim_end_matches('=');
    if t.len() < 8 {
        return None;
    }
    let out = crate::text::base64_decode(t.as_bytes())?;
    let s = String::from_utf8(out).ok()?;
    s.chars().all(|c| !c.is_control() || c == '\n').then_some(s)
}

/// Lowercase letters and digits only: `'.tele' + "metry-enabled"` and `.telemetry-enabled`
/// read the same.
pub(crate) fn squash(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// Fragments (squashed) of the names of the marker and Claude Code's settings.
pub(crate) const CONFIG_FRAGMENTS: &[&str] = &[
    "telemetryenabled",
    "claudesettings",
    "settingsjson",
    "settingslocaljson",
    "managedsettings",
    "etcclaudecode",
    "supportclaudecode",
];

/// Fragments (squashed) of our own directory names.
pub(crate) const OWN_FRAGMENTS: &[&str] = &["agenttelemetry"];

/// Raw-text fragments that say a command is about our places (for names built at run time).
pub(crate) const MENTIONS: &[&str] =
    &[".claude", "telemetry", "tele", "claude-code", "claudecode", "managed-settings", "settings.json"];

/// Whether glob `pattern` (absolute, resolved lexically) can name `target` or, when `tree`
/// (the effect covers everything under what it names), one of its ancestors. Component by
/// component, as the shell matches (a leading dot only by a pattern with one), ignoring case.
pub(crate) fn glob_reaches(pattern: &Path, target: &Path, tree: bool) -> bool {
    let norm = |p: &Path| -> Vec<String> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    };
    let (p, t) = (norm(pattern), norm(target));
    if p.len() > t.len() || (p.len() < t.len() && !tree) {
        return false;
    }
    p.iter().zip(&t).all(|(pc, tc)| {
        (!tc.starts_with('.') || pc.starts_with('.') || pc == tc) && glob_match(pc.as_bytes(), tc.as_bytes())
    })
}

/// Whether a `find` name pattern (`-name`/`-iname`) matches a component of `target` below
/// `start`.
pub(crate) fn find_name_reaches(start: &Path, name: &str, target: &Path) -> bool {
    let Ok(rest) = target.strip_prefix(start) else { return false };
    let name = name.to_ascii_lowercase();
    rest.components().any(|c| match c {
        Component::Normal(n) => glob_match(name.as_bytes(), n.to_string_lossy().to_ascii_lowercase().as_bytes()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(h: &str) -> Vec<String> {
        readings(h).iter().map(|r| squash(r)).collect()
    }

    #[test]
    fn names_built_at_run_time_are_read() {
        let hit = |h: &str| reads(h).iter().any(|r| r.contains("telemetryenabled"));
        assert!(hit(&code_effect("import os; os.remove('.tele' + 'metry-enabled')").hints[0]));
        assert!(hit("LnRlbGVtZXRyeS1lbmFibGVk"));
        assert!(hit("'delbane-yrtemelet.'[::-1]"));
        assert!(hit("[46,116,101,108,101,109,101,116,114,121,45,101,110,97,98,108,101,100]"));
        assert!(hit("\\x2e\\x74\\x65\\x6c\\x65\\x6d\\x65\\x74\\x72\\x79-enabled"));
        assert!(hit("2e74656c656d657472792d656e61626c6564"));
        assert!(hit(".gryrzrgel-ranoyrq"));
        assert!(!hit("print(1)"));
    }

    #[test]
    fn effects_of_code() {
        assert!(code_effect("import os; os.unlink(x)").destructive);
        assert!(!code_effect("print(open('x').read())").destructive);
        assert!(code_effect("import os; os.remove(os.environ['M'])").unresolved);
    }

    #[test]
    fn globs_reach_names() {
        let t = Path::new("/p/.telemetry-enabled");
        assert!(glob_reaches(Path::new("/p/.tele*"), t, false));
        assert!(glob_reaches(Path::new("/p/.TELEMETRY-ENABLE?"), t, false));
        assert!(!glob_reaches(Path::new("/p/*"), t, false), "`*` does not match a dot file");
        assert!(!glob_reaches(Path::new("/p/*.o"), t, false));
        assert!(glob_reaches(Path::new("/h/.loc*"), Path::new("/h/.local/share/agent-telemetry"), true));
        assert!(!glob_reaches(Path::new("/h/.loc*"), Path::new("/h/.local/share/agent-telemetry"), false));
        assert!(find_name_reaches(Path::new("/h"), ".tele*", Path::new("/h/p/.telemetry-enabled")));
        assert!(!find_name_reaches(Path::new("/h"), "*.o", Path::new("/h/p/.telemetry-enabled")));
    }
}
