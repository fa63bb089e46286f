//! Shell commands, normalised before any rule looks at them.
//!
//! A regex over the raw text of a command is both too easy to evade (`/bin/rm`, `\rm`, a tab,
//! `|&`, `eval "$(curl …)"`, `cd /etc && cat shadow`) and too eager (`git commit -m 'never rm
//! -rf / here'` is not a delete). So the command is parsed the way a shell reads it — words,
//! quotes, escapes, pipelines, lists, redirections, `$(…)`, backticks, heredocs — and walked with
//! the state a shell keeps (the working directory through `cd`, variables, `$HOME`, `~user`).
//! What comes out is what the rules match:
//!
//! - [`Normalised::units`]: one line per simple command (program as its basename, wrappers such
//!   as `sudo`, `env`, `xargs` also stripped), one per pipeline (` | `-joined), and synthetic
//!   `… | sh` lines for downloaded code run by `eval`, `sh -c "$(…)"`, `bash <(…)`. Words with
//!   spaces are single-quoted, so text inside an argument never stands at a program's place;
//!   `$HOME` is written `~`. Code handed to `sh -c`, `eval`, a shell's heredoc or an
//!   interpreter's `system(…)` is parsed as commands in turn; quoted arguments of other programs
//!   are data.
//! - [`Normalised::paths`]: every argument that may name a file, with the working directory it
//!   is relative to and whether the program writes it. Pattern arguments (`grep`, `sed`, `awk`
//!   scripts) and message texts are not paths; unquoted globs are expanded against the
//!   filesystem, as the shell would; string literals in interpreter code (`python -c
//!   "open('/etc/shadow')"`) that look like paths are paths.
//!
//! Not a full shell: arithmetic, functions, aliases and loops are read as words. Parsing is
//! bounded (nesting of `sh -c`/`eval`/`$(…)` to [`MAX_NESTING`] levels, [`MAX_UNITS`] lines).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_NESTING: usize = 8;
const MAX_UNITS: usize = 512;
const MAX_GLOB_MATCHES: usize = 64;

/// A command as the rules see it.
#[derive(Debug, Default, Clone)]
pub struct Normalised {
    pub units: Vec<String>,
    pub paths: Vec<PathArg>,
    /// Files a download writes (`curl -o F`, `wget URL`, `curl … > F`), absolute.
    pub downloads: Vec<String>,
    /// Files run as programs or scripts (`./F`, `bash F`, `. F`, `python3 F`), absolute.
    pub executed: Vec<String>,
    /// Texts a destructive primitive may build a file name from at run time (interpreter code,
    /// command substitutions and piped text given to a deleting program): see `enrich::dark`.
    pub dynamic: Vec<String>,
    /// A destructive primitive acts on a name the text does not show (the environment, a
    /// directory listing, a decoder's output).
    pub dynamic_unresolved: bool,
}

/// What a program does to everything under a path it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// Deleted (`rm -r`, `find -delete`).
    Delete,
    /// Moved away (`mv`).
    Move,
    /// Made unreadable or unwritable (`chmod 000`, `chmod -R a-rwx`, `setfacl`, `chattr -R`).
    Perms,
}

/// A word of a command that may name a file.
#[derive(Debug, Clone, PartialEq)]
pub struct PathArg {
    /// As the shell would pass it (variables and `~` expanded; relative to `cwd`).
    pub path: String,
    pub cwd: PathBuf,
    /// The program writes (or deletes) it.
    pub write: bool,
    /// Absolute, `~`, `..`, a `cd` target or a redirection: worth an outside-the-project check.
    /// Other words (`cat shadow` after `cd /etc`) are checked against sensitive names only.
    pub explicit: bool,
    /// The effect covers everything under the path.
    pub tree: Option<Tree>,
    /// A `find` name pattern (`-name`/`-iname`): the effect is on anything so named below
    /// `path` (the start point).
    pub find_name: Option<String>,
}

/// Parses and walks `command` run in `cwd` with `$HOME` = `home`.
pub fn normalise(command: &str, cwd: &Path, home: Option<&Path>) -> Normalised {
    let mut w = Walker {
        out: Normalised::default(),
        decoded: Vec::new(),
        home: home.map(Path::to_path_buf),
        vars: BTreeMap::new(),
        sub_vars: BTreeMap::new(),
    };
    let mut cwd = cwd.to_path_buf();
    w.script(command, &mut cwd, 0);
    w.out
}

// ---- tokens ----------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String, bool),
    Var(String),
    /// `~` or `~user` at the start of a word.
    Tilde(String),
}

#[derive(Debug, Clone, Default)]
struct Word {
    parts: Vec<Part>,
    /// `$(…)` and backtick bodies.
    subs: Vec<String>,
    /// `<(…)` / `>(…)` bodies.
    procs: Vec<String>,
    /// Which of `procs` are `>(…)`: they read what the command writes.
    out_procs: Vec<usize>,
}

impl Word {
    fn quoted(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Lit(_, true)))
    }
    fn has_glob(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Lit(s, false) if s.contains(['*', '?', '['])))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sep {
    Pipe,
    And,
    Or,
    Seq,
    Background,
}

#[derive(Debug, Clone)]
enum Tok {
    Word(Word),
    Redir(String, Option<Word>),
    Heredoc { strip_tabs: bool, delim: String },
    Sep(Sep),
}

struct Lexer<'a> {
    s: &'a [u8],
    t: &'a str,
    i: usize,
}

fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Lexer<'a> {
    fn peek(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    /// The body of `$(…)`, `<(…)` (after the opening paren), up to the matching `)`.
    fn balanced(&mut self) -> String {
        let start = self.i;
        let mut depth = 1;
        let mut quote: Option<u8> = None;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(b'"'), b'\\') => self.i += 1,
                (Some(_), _) => {}
                (None, b'\\') => self.i += 1,
                (None, b'\'' | b'"') => quote = Some(c),
                (None, b'(') => depth += 1,
                (None, b')') => {
                    depth -= 1;
                    if depth == 0 {
                        let body = self.t.get(start..self.i).unwrap_or("").to_string();
                        self.i += 1;
                        return body;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        self.i = self.s.len();
        self.t.get(start..).unwrap_or("").to_string()
    }

    fn backtick(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b'`' {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        let body = self.t.get(start..self.i.min(self.s.len())).unwrap_or("").to_string();
        self.i = (self.i + 1).min(self.s.len());
        body
    }

    /// `$NAME`, `${NAME…}`, `$(…)`, `$'…'`; the `$` is at `self.i`.
    fn dollar(&mut self, w: &mut Word, lit: &mut String, quoted: bool) {
        match self.peek(1) {
            Some(b'(') => {
                self.i += 2;
                let body = self.balanced();
                if body.starts_with('(') {
                    lit.push_str("$((…))"); // arithmetic
                } else {
                    w.subs.push(body);
                }
            }
            Some(b'{') => {
                self.i += 2;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != b'}' {
                    self.i += 1;
                }
                let inner = self.t.get(start..self.i).unwrap_or("");
                self.i = (self.i + 1).min(self.s.len());
                let name: String = inner.bytes().take_while(|b| is_name(*b)).map(char::from).collect();
                flush_lit(w, lit, quoted);
                w.parts.push(Part::Var(name));
            }
            Some(b'\'') if !quoted => {
                // ANSI-C quoting: `$'\x72m'` is `rm`.
                self.i += 2;
                let mut s = String::new();
                while self.i < self.s.len() && self.s[self.i] != b'\'' {
                    if self.s[self.i] == b'\\' && self.i + 1 < self.s.len() {
                        self.i += 1;
                        let (c, used) = ansi_escape(&self.s[self.i..]);
                        s.push(c);
                        self.i += used;
                    } else {
                        let ch = self.t.get(self.i..).and_then(|r| r.chars().next()).unwrap_or('\u{FFFD}');
                        s.push(ch);
                        self.i += ch.len_utf8();
                    }
                }
                self.i = (self.i + 1).min(self.s.len());
                flush_lit(w, lit, quoted);
                w.parts.push(Part::Lit(s, true));
            }
            Some(b) if is_name(b) || matches!(b, b'@' | b'*' | b'#' | b'?' | b'$' | b'!' | b'-') => {
                self.i += 1;
                let start = self.i;
                if is_name(b) {
                    while self.i < self.s.len() && is_name(self.s[self.i]) {
                        self.i += 1;
                    }
                } else {
                    self.i += 1;
                }
                let name = self.t.get(start..self.i).unwrap_or("").to_string();
                flush_lit(w, lit, quoted);
                w.parts.push(Part::Var(name));
            }
            _ => {
                lit.push('$');
                self.i += 1;
            }
        }
    }

    fn tokens(&mut self) -> Vec<Tok> {
        let mut toks = Vec::new();
        let mut pending_heredocs: Vec<usize> = Vec::new();
        loop {
            // Blanks (any whitespace but newline) and line continuations.
            while self.i < self.s.len() {
                match self.s[self.i] {
                    b'\\' if self.peek(1) == Some(b'\n') => self.i += 2,
                    b'\n' => break,
                    c if c.is_ascii_whitespace() => self.i += 1,
                    _ => break,
                }
            }
            let Some(c) = self.peek(0) else { break };
            match c {
                b'\n' => {
                    self.i += 1;
                    // Heredoc bodies start on the next line.
                    for idx in pending_heredocs.drain(..) {
                        if let Tok::Heredoc { strip_tabs, delim } = &toks[idx] {
                            let (strip, delim) = (*strip_tabs, delim.clone());
                            let body = self.heredoc_body(&delim, strip);
                            toks.push(Tok::Redir(
                                "<<body".into(),
                                Some(Word { parts: vec![Part::Lit(body, true)], ..Word::default() }),
                            ));
                        }
                    }
                    toks.push(Tok::Sep(Sep::Seq));
                }
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b';' => {
                    self.i += if self.peek(1) == Some(b';') { 2 } else { 1 };
                    toks.push(Tok::Sep(Sep::Seq));
                }
                b'|' => {
                    let (n, sep) = match self.peek(1) {
                        Some(b'|') => (2, Sep::Or),
                        Some(b'&') => (2, Sep::Pipe), // `|&`: stderr too
                        _ => (1, Sep::Pipe),
                    };
                    self.i += n;
                    toks.push(Tok::Sep(sep));
                }
                b'&' => match self.peek(1) {
                    Some(b'&') => {
                        self.i += 2;
                        toks.push(Tok::Sep(Sep::And));
                    }
                    Some(b'>') => {
                        self.i += if self.peek(2) == Some(b'>') { 3 } else { 2 };
                        let target = self.word();
                        toks.push(Tok::Redir(">".into(), target));
                    }
                    _ => {
                        self.i += 1;
                        toks.push(Tok::Sep(Sep::Background));
                    }
                },
                b'(' | b')' | b'{' | b'}' if self.word_boundary_char(c) => {
                    self.i += 1;
                    toks.push(Tok::Sep(Sep::Seq));
                }
                b'<' | b'>' if self.peek(1) != Some(b'(') => {
                    let start = self.i;
                    while self.i < self.s.len()
                        && matches!(self.s[self.i], b'<' | b'>' | b'&' | b'|' | b'-')
                        && self.i - start < 3
                    {
                        self.i += 1;
                    }
                    let op = self.t.get(start..self.i).unwrap_or("").to_string();
                    if op.starts_with("<<") && !op.starts_with("<<<") {
                        let strip = op.ends_with('-');
                        let delim = self.word().map(|w| plain_text(&w)).unwrap_or_default();
                        toks.push(Tok::Heredoc { strip_tabs: strip, delim });
                        pending_heredocs.push(toks.len() - 1);
                    } else {
                        let target = self.word();
                        let op = if op.contains('>') {
                            ">"
                        } else if op.starts_with("<<<") {
                            "<<<"
                        } else {
                            "<"
                        };
                        toks.push(Tok::Redir(op.into(), target));
                    }
                }
                _ => match self.word() {
                    Some(w) => toks.push(Tok::Word(w)),
                    None => self.i += 1,
                },
            }
        }
        toks
    }

    fn word_boundary_char(&self, c: u8) -> bool {
        // `{`/`}` only group when they stand alone; `(`/`)` always split.
        match c {
            b'{' | b'}' => self.peek(1).is_none_or(|n| n.is_ascii_whitespace() || n == b';'),
            _ => true,
        }
    }

    fn heredoc_body(&mut self, delim: &str, strip_tabs: bool) -> String {
        let mut body = String::new();
        while self.i < self.s.len() {
            let end = self.s[self.i..].iter().position(|b| *b == b'\n').map(|p| self.i + p).unwrap_or(self.s.len());
            let line = self.t.get(self.i..end).unwrap_or("");
            self.i = (end + 1).min(self.s.len());
            let l = if strip_tabs { line.trim_start_matches('\t') } else { line };
            if l == delim {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        body
    }

    /// One word (quotes, escapes, substitutions); `None` at an operator.
    fn word(&mut self) -> Option<Word> {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
        let mut w = Word::default();
        let mut lit = String::new();
        let start = self.i;
        if self.peek(0) == Some(b'~') {
            self.i += 1;
            let us = self.i;
            while self.i < self.s.len() && (is_name(self.s[self.i]) || self.s[self.i] == b'-' || self.s[self.i] == b'.')
            {
                self.i += 1;
            }
            if self.peek(0).is_none_or(|b| b == b'/' || b.is_ascii_whitespace() || b";|&)".contains(&b)) {
                w.parts.push(Part::Tilde(self.t.get(us..self.i).unwrap_or("").to_string()));
            } else {
                self.i = start;
            }
        }
        while let Some(c) = self.peek(0) {
            match c {
                b'\'' => {
                    flush_lit(&mut w, &mut lit, false);
                    self.i += 1;
                    let s = self.i;
                    while self.i < self.s.len() && self.s[self.i] != b'\'' {
                        self.i += 1;
                    }
                    w.parts.push(Part::Lit(self.t.get(s..self.i).unwrap_or("").to_string(), true));
                    self.i = (self.i + 1).min(self.s.len());
                }
                b'"' => {
                    flush_lit(&mut w, &mut lit, false);
                    self.i += 1;
                    while let Some(c) = self.peek(0) {
                        match c {
                            b'"' => break,
                            b'\\' if self.peek(1).is_some_and(|n| b"\"\\$`\n".contains(&n)) => {
                                self.i += 1;
                                let ch = self.t.get(self.i..).and_then(|r| r.chars().next()).unwrap_or('\u{FFFD}');
                                if ch != '\n' {
                                    lit.push(ch);
                                }
                                self.i += ch.len_utf8();
                            }
                            b'$' => self.dollar(&mut w, &mut lit, true),
                            b'`' => {
                                self.i += 1;
                                let b = self.backtick();
                                w.subs.push(b);
                            }
                            _ => {
                                let ch = self.t.get(self.i..).and_then(|r| r.chars().next()).unwrap_or('\u{FFFD}');
                                lit.push(ch);
                                self.i += ch.len_utf8();
                            }
                        }
                    }
                    flush_lit(&mut w, &mut lit, true);
                    self.i = (self.i + 1).min(self.s.len());
                }
                b'\\' => {
                    self.i += 1;
                    if let Some(ch) = self.t.get(self.i..).and_then(|r| r.chars().next()) {
                        if ch != '\n' {
                            // An escaped character is quoted (no glob, no operator).
                            flush_lit(&mut w, &mut lit, false);
                            w.parts.push(Part::Lit(ch.to_string(), true));
                        }
                        self.i += ch.len_utf8();
                    }
                }
                b'$' => self.dollar(&mut w, &mut lit, false),
                b'`' => {
                    self.i += 1;
                    let b = self.backtick();
                    w.subs.push(b);
                }
                b'<' | b'>' if self.peek(1) == Some(b'(') => {
                    if c == b'>' {
                        w.out_procs.push(w.procs.len());
                    }
                    self.i += 2;
                    let b = self.balanced();
                    w.procs.push(b);
                    lit.push_str("/dev/fd/63");
                }
                c if c.is_ascii_whitespace() || b";|&<>()".contains(&c) => break,
                _ => {
                    let ch = self.t.get(self.i..).and_then(|r| r.chars().next()).unwrap_or('\u{FFFD}');
                    lit.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
        flush_lit(&mut w, &mut lit, false);
        (self.i > start).then_some(w)
    }
}

fn flush_lit(w: &mut Word, lit: &mut String, quoted: bool) {
    if !lit.is_empty() {
        w.parts.push(Part::Lit(std::mem::take(lit), quoted));
    }
}

fn plain_text(w: &Word) -> String {
    w.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s, _) => s.clone(),
            Part::Var(n) => format!("${n}"),
            Part::Tilde(u) => format!("~{u}"),
        })
        .collect()
}

fn ansi_escape(s: &[u8]) -> (char, usize) {
    let hex =
        |d: &[u8]| std::str::from_utf8(d).ok().and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32);
    let oct =
        |d: &[u8]| std::str::from_utf8(d).ok().and_then(|h| u32::from_str_radix(h, 8).ok()).and_then(char::from_u32);
    match s[0] {
        b'n' => ('\n', 1),
        b't' => ('\t', 1),
        b'r' => ('\r', 1),
        b'x' => {
            let n = s[1..].iter().take(2).take_while(|b| b.is_ascii_hexdigit()).count();
            (hex(&s[1..1 + n]).unwrap_or('\u{FFFD}'), 1 + n)
        }
        b'u' => {
            let n = s[1..].iter().take(4).take_while(|b| b.is_ascii_hexdigit()).count();
            (hex(&s[1..1 + n]).unwrap_or('\u{FFFD}'), 1 + n)
        }
        b'0'..=b'7' => {
            let n = s.iter().take(3).take_while(|b| (b'0'..=b'7').contains(b)).count();
            (oct(&s[..n]).unwrap_or('\u{FFFD}'), n)
        }
        // Any other escaped character stands for itself (a whole UTF-8 character).
        _ => {
            let len = match s[0] {
                0xF0..=0xF7 => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            let ch =
                std::str::from_utf8(&s[..len.min(s.len())]).ok().and_then(|t| t.chars().next()).unwrap_or('\u{FFFD}');
            (ch, len.min(s.len()))
        }
    }
}

// ---- walking ---------------------------------------------------------------------------------

struct Walker {
    out: Normalised,
    /// Files a decoder wrote in this command (`base64 -d p > x.sh`).
    decoded: Vec<String>,
    home: Option<PathBuf>,
    vars: BTreeMap<String, String>,
    /// Variables assigned from a command substitution: the substitution's body.
    sub_vars: BTreeMap<String, String>,
}

/// One simple command, expanded.
struct Simple {
    words: Vec<Word>,
    texts: Vec<String>,
    redirs: Vec<(String, Word)>,
}

const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish"];
const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "php",
    "deno",
    "bun",
    "osascript",
    "pwsh",
    "powershell",
    "lua",
    "luajit",
];
/// Programs whose first operand is a pattern or script, not a file.
const PATTERN_FIRST: &[&str] =
    &["grep", "egrep", "fgrep", "rg", "ag", "ack", "sed", "awk", "gawk", "mawk", "jq", "yq", "git-grep"];
/// Programs whose operands are text, not files.
const TEXT_ONLY: &[&str] = &[
    "echo",
    "printf",
    "print",
    "say",
    "notify-send",
    "logger",
    "true",
    "false",
    ":",
    "test",
    "[",
    "export",
    "alias",
    "read",
    "set",
    "unset",
    "type",
    "which",
    "command",
];
/// Programs that write or delete their file operands.
const WRITERS: &[&str] = &[
    "rm", "mv", "cp", "tee", "truncate", "touch", "shred", "unlink", "rmdir", "ln", "install", "chmod", "chown",
    "chgrp", "chattr", "dd", "rsync", "mkdir", "setfacl", "sponge", "mount", "ed", "vi", "vim", "nvim", "nano",
    "xattr",
];
/// Wrappers that run the rest of their words as a command.
const WRAPPERS: &[&str] = &[
    "sudo",
    "doas",
    "env",
    "command",
    "builtin",
    "exec",
    "nice",
    "nohup",
    "time",
    "timeout",
    "stdbuf",
    "xargs",
    "ionice",
    "setsid",
    "torsocks",
    "proxychains",
    "unbuffer",
    "caffeinate",
    "run0",
    "pkexec",
    "busybox",
    "toybox",
    "flock",
    "chronic",
    "watch",
];

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// What a writing program does to everything under its operands, from its options.
fn tree_effect(p: &str, args: &[String]) -> Option<Tree> {
    let short = |c: char| args.iter().any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c));
    let long = |l: &str| args.iter().any(|a| a == l);
    match p {
        "rm" if short('r') || short('R') || long("--recursive") => Some(Tree::Delete),
        "mv" => Some(Tree::Move),
        "rsync" if args.iter().any(|a| a.starts_with("--delete")) => Some(Tree::Delete),
        "setfacl" => Some(Tree::Perms),
        "chattr" if short('R') => Some(Tree::Perms),
        "chmod" => {
            // A mode that takes a permission away (`a-r`, `000`, `u=`): a directory so changed
            // hides everything under it.
            let mode =
                args.iter().find(|a| !a.starts_with('-') || a.len() > 1 && a[1..].starts_with(['r', 'w', 'x']))?;
            let takes = if mode.bytes().all(|b| b.is_ascii_digit()) {
                let owner = mode.len().checked_sub(3).and_then(|i| mode.as_bytes().get(i)).copied().unwrap_or(b'0');
                !matches!(owner, b'6' | b'7')
            } else {
                // Only a clause that reaches the owner (`u`, `a`, or no one named) hides a file
                // from us: `go-rwx` does not.
                mode.split(',').any(|clause| {
                    let who: String = clause.chars().take_while(|c| "ugoa".contains(*c)).collect();
                    let op = clause[who.len()..].chars().next();
                    matches!(op, Some('-' | '=')) && (who.is_empty() || who.contains(['u', 'a']))
                })
            };
            takes.then_some(Tree::Perms)
        }
        _ => None,
    }
}

fn is_shell(p: &str) -> bool {
    SHELLS.contains(&p)
}

fn is_interpreter(p: &str) -> bool {
    INTERPRETERS
        .iter()
        .any(|i| p == *i || (p.starts_with(i) && p[i.len()..].bytes().all(|b| b.is_ascii_digit() || b == b'.')))
}

impl Walker {
    fn push_unit(&mut self, u: String) {
        if self.out.units.len() < MAX_UNITS && !self.out.units.contains(&u) {
            self.out.units.push(u);
        }
    }

    fn script(&mut self, text: &str, cwd: &mut PathBuf, depth: usize) {
        if depth > MAX_NESTING {
            return;
        }
        let toks = Lexer { s: text.as_bytes(), t: text, i: 0 }.tokens();
        // Split into pipelines of simple commands.
        let mut pipeline: Vec<Vec<Tok>> = vec![Vec::new()];
        let flush = |w: &mut Walker, pipeline: &mut Vec<Vec<Tok>>, cwd: &mut PathBuf| {
            let cmds: Vec<Vec<Tok>> = std::mem::take(pipeline).into_iter().filter(|c| !c.is_empty()).collect();
            *pipeline = vec![Vec::new()];
            if cmds.is_empty() {
                return;
            }
            let n = cmds.len();
            if n > 1 {
                w.decoded_payloads(&cmds, cwd, depth);
                w.pipeline_downloads(&cmds, cwd);
                w.pipeline_xargs(&cmds, cwd);
            }
            let mut rendered = Vec::new();
            for c in cmds {
                if let Some(r) = w.simple(c, cwd, depth, n > 1) {
                    rendered.push(r);
                }
            }
            if rendered.len() > 1 {
                w.push_unit(rendered.join(" | "));
            }
        };
        for t in toks {
            match t {
                Tok::Sep(Sep::Pipe) => pipeline.push(Vec::new()),
                Tok::Sep(_) => flush(self, &mut pipeline, cwd),
                other => pipeline.last_mut().expect("never empty").push(other),
            }
        }
        flush(self, &mut pipeline, cwd);
    }

    /// `echo <base64> | base64 -d | sh`, `xxd -r -p <<< <hex> | bash`: a literal payload decoded
    /// into a shell or interpreter is read as the code it hides.
    fn decoded_payloads(&mut self, cmds: &[Vec<Tok>], cwd: &Path, depth: usize) {
        let texts: Vec<Vec<String>> = cmds
            .iter()
            .map(|c| {
                c.iter().filter_map(|t| if let Tok::Word(w) = t { Some(self.expand(w, cwd)) } else { None }).collect()
            })
            .collect();
        let prog = |k: usize| texts[k].first().map(|p| basename(p).to_string()).unwrap_or_default();
        // The stage that runs code read on stdin: a shell or interpreter with no script operand
        // and no `-c`/`-e` (`sh`, `bash -s`, `python3 -`).
        let reads_stdin = |k: usize| {
            let p = prog(k);
            (is_shell(&p) || is_interpreter(&p))
                && texts[k][1..].iter().all(|a| {
                    a == "-"
                        || (a.starts_with('-') && !matches!(a.as_str(), "-c" | "-e" | "-E" | "-r" | "--eval" | "-p"))
                })
        };
        let Some(sink) = (0..texts.len()).rev().find(|&k| reads_stdin(k)) else { return };
        for k in 0..sink {
            let p = prog(k);
            if p == "cat" {
                // `cat F | sh`: the file is run.
                for f in texts[k][1..].iter().filter(|a| !a.starts_with('-')) {
                    self.ran(f, cwd);
                }
            }
            if !super::indirect::is_decoder(&p, texts[k].get(1..).unwrap_or(&[])) {
                continue;
            }
            let here = cmds[k].iter().find_map(|t| match t {
                Tok::Redir(op, Some(w)) if op == "<<<" => Some(self.expand(w, cwd)),
                _ => None,
            });
            let fed = (k > 0 && matches!(prog(k - 1).as_str(), "echo" | "printf"))
                .then(|| texts[k - 1].iter().skip(1).rfind(|a| !a.starts_with('-')).cloned())
                .flatten();
            if let Some(code) = here.or(fed).and_then(|lit| super::indirect::decode_literal(&p, &lit)) {
                if is_interpreter(&prog(sink)) {
                    self.interpreter_code(&code, &mut cwd.to_path_buf(), depth + 1);
                } else {
                    self.script(&code, &mut cwd.to_path_buf(), depth + 1);
                }
            }
        }
    }

    /// `curl URL | tee x.sh`, `curl URL | gunzip > x.sh`: what the stages after a download write
    /// is the download.
    fn pipeline_downloads(&mut self, cmds: &[Vec<Tok>], cwd: &Path) {
        let mut after_download = false;
        let mut files = Vec::new();
        for c in cmds {
            let texts: Vec<String> =
                c.iter().filter_map(|t| if let Tok::Word(w) = t { Some(self.expand(w, cwd)) } else { None }).collect();
            let prog = texts.first().map(|p| basename(p).to_string()).unwrap_or_default();
            if after_download {
                if prog == "tee" {
                    files.extend(texts[1..].iter().filter(|a| !a.starts_with('-')).cloned());
                }
                files.extend(c.iter().filter_map(|t| match t {
                    Tok::Redir(op, Some(w)) if op == ">" || op == ">>" => Some(self.expand(w, cwd)),
                    _ => None,
                }));
            }
            after_download |= matches!(prog.as_str(), "curl" | "wget");
        }
        self.downloaded(&files, cwd);
    }

    /// `echo .telemetry-enabled | xargs rm`: the words piped into `xargs` are the deleting
    /// program's operands; from another program (`ls -a | grep tele | xargs rm`) a name made at
    /// run time.
    fn pipeline_xargs(&mut self, cmds: &[Vec<Tok>], cwd: &Path) {
        let texts: Vec<Vec<String>> = cmds
            .iter()
            .map(|c| {
                c.iter().filter_map(|t| if let Tok::Word(w) = t { Some(self.expand(w, cwd)) } else { None }).collect()
            })
            .collect();
        for k in 1..texts.len() {
            let t = &texts[k];
            if t.first().map(|p| basename(p).to_ascii_lowercase()).as_deref() != Some("xargs") {
                continue;
            }
            let Some(at) = t[1..].iter().position(|a| !a.starts_with('-')).map(|i| i + 1) else { continue };
            let prog = basename(&t[at]).to_ascii_lowercase();
            let prev_prog = texts[k - 1].first().map(|p| basename(p).to_ascii_lowercase()).unwrap_or_default();
            if matches!(prev_prog.as_str(), "echo" | "printf") {
                // `echo uninstall | xargs agent-telemetry`: the line xargs runs.
                let mut line: Vec<String> = std::iter::once(prog.clone()).chain(t[at + 1..].iter().cloned()).collect();
                line.extend(
                    texts[k - 1][1..]
                        .iter()
                        .filter(|a| !a.starts_with('-'))
                        .flat_map(|a| a.split_whitespace().map(str::to_string).collect::<Vec<_>>()),
                );
                let rendered: Vec<String> = line.iter().map(|w| self.render(w)).collect();
                self.push_unit(rendered.join(" "));
            }
            if !WRITERS.contains(&prog.as_str()) && !is_shell(&prog) {
                continue;
            }
            let tree = tree_effect(&prog, &t[at + 1..]);
            let prev = &texts[k - 1];
            let pp = prev.first().map(|p| basename(p).to_ascii_lowercase()).unwrap_or_default();
            if pp == "find" {
                // `find S -name N -print0 | xargs -0 rm`: what find names, the program deletes.
                let args = &prev[1..];
                let starts: Vec<&String> =
                    args.iter().take_while(|a| !a.starts_with('-') && *a != "(" && *a != "!").collect();
                let starts = if starts.is_empty() { vec![&prev[0]] } else { starts };
                for w in args.windows(2).filter(|w| matches!(w[0].as_str(), "-name" | "-iname")) {
                    for s in &starts {
                        let s = if *s == &prev[0] { "." } else { s.as_str() };
                        if self.out.paths.len() < MAX_UNITS {
                            self.out.paths.push(PathArg {
                                path: s.to_string(),
                                cwd: cwd.to_path_buf(),
                                write: true,
                                explicit: false,
                                tree: None,
                                find_name: Some(w[1].clone()),
                            });
                        }
                    }
                }
            }
            if matches!(pp.as_str(), "echo" | "printf") {
                for a in prev[1..].iter().filter(|a| !a.starts_with('-')) {
                    for name in a.split_whitespace() {
                        let before = self.out.paths.len();
                        let w = Word { parts: vec![Part::Lit(name.to_string(), false)], ..Word::default() };
                        self.add_path(name, cwd, true, false, &w);
                        if let Some(t) = tree {
                            self.mark_tree(before, t);
                        }
                    }
                }
            }
            if self.out.dynamic.len() < MAX_UNITS {
                self.out.dynamic.push(prev.join(" "));
                self.out.dynamic_unresolved = true;
            }
        }
    }

    fn expand(&self, w: &Word, cwd: &Path) -> String {
        let mut s = String::new();
        for p in &w.parts {
            match p {
                Part::Lit(t, _) => s.push_str(t),
                Part::Var(n) => match n.as_str() {
                    "HOME" => s.push_str(
                        &self.home.as_deref().map(|h| h.display().to_string()).unwrap_or_else(|| "$HOME".into()),
                    ),
                    "PWD" => s.push_str(&cwd.display().to_string()),
                    _ => match self.vars.get(n) {
                        Some(v) => s.push_str(v),
                        None => {
                            s.push('$');
                            s.push_str(n);
                        }
                    },
                },
                Part::Tilde(user) if user.is_empty() => {
                    s.push_str(&self.home.as_deref().map(|h| h.display().to_string()).unwrap_or_else(|| "~".into()))
                }
                Part::Tilde(user) => s.push_str(&home_of(user).unwrap_or_else(|| format!("~{user}"))),
            }
        }
        s
    }

    /// How a word is shown in a unit: `$HOME` as `~`, spaces quoted.
    fn render(&self, text: &str) -> String {
        let mut t = text.to_string();
        if let Some(h) = self.home.as_deref().map(|h| h.display().to_string()).filter(|h| h.len() > 1) {
            if t == h {
                t = "~".into();
            } else if let Some(rest) = t.strip_prefix(&format!("{h}/")) {
                t = format!("~/{rest}");
            }
        }
        if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c == '|' || c == ';' || c == '&') {
            format!("'{}'", t.replace('\'', "'\\''"))
        } else {
            t
        }
    }

    /// Walks one simple command; returns its rendering (for the pipeline line).
    fn simple(&mut self, toks: Vec<Tok>, cwd: &mut PathBuf, depth: usize, in_pipeline: bool) -> Option<String> {
        let mut words = Vec::new();
        let mut redirs = Vec::new();
        for t in toks {
            match t {
                Tok::Word(w) => words.push(w),
                Tok::Redir(op, Some(w)) => redirs.push((op, w)),
                _ => {}
            }
        }
        // Substitutions run first, in the same directory.
        for w in words.iter().chain(redirs.iter().map(|(_, w)| w)) {
            for body in w.subs.iter().chain(w.procs.iter()) {
                let mut sub_cwd = cwd.clone();
                self.script(body, &mut sub_cwd, depth + 1);
            }
        }
        // Leading assignments.
        let mut first = 0;
        while first < words.len() {
            let t = self.expand(&words[first], cwd);
            match t.split_once('=') {
                Some((k, v)) if !k.is_empty() && k.bytes().all(is_name) && !k.as_bytes()[0].is_ascii_digit() => {
                    if let Some(body) = words[first].subs.first() {
                        self.sub_vars.insert(k.to_string(), body.clone());
                    }
                    self.vars.insert(k.to_string(), v.to_string());
                    first += 1;
                }
                _ => break,
            }
        }
        let texts: Vec<String> = words.iter().map(|w| self.expand(w, cwd)).collect();
        let simple = Simple { words, texts, redirs };
        let mut rendered = self.command(&simple, first, cwd, depth, in_pipeline);
        // `curl … > >(sh)`, `… | tee >(bash)`: a `>(…)` reads what the command writes, as a
        // pipe would.
        let readers: Vec<String> = simple
            .words
            .iter()
            .chain(simple.redirs.iter().map(|(_, w)| w))
            .flat_map(|w| w.out_procs.iter().filter_map(|&k| w.procs.get(k)))
            .filter_map(|body| {
                normalise(body, Path::new("/"), self.home.as_deref()).units.into_iter().find(|u| !u.contains(" | "))
            })
            .collect();
        for r in readers {
            rendered = format!("{rendered} | {r}");
            self.push_unit(rendered.clone());
        }
        Some(rendered)
    }

    /// Handles the command starting at word `from`; returns its rendering.
    fn command(&mut self, c: &Simple, from: usize, cwd: &mut PathBuf, depth: usize, in_pipeline: bool) -> String {
        let assigns: Vec<String> = c.texts[..from].iter().map(|t| self.render(t)).collect();
        let redir_text: Vec<String> = c
            .redirs
            .iter()
            .filter(|(op, _)| op != "<<body")
            .map(|(op, w)| format!("{op} {}", self.render(&self.expand(w, cwd))))
            .collect();
        for (op, w) in &c.redirs {
            if op == "<<body" || op == "<<<" {
                continue;
            }
            let t = self.expand(w, cwd);
            self.add_path(&t, cwd, op == ">", true, w);
        }
        if from >= c.texts.len() {
            let line = assigns.join(" ");
            if !line.is_empty() {
                self.push_unit(line.clone());
            }
            return line;
        }
        // Lowercase: on a case-insensitive filesystem `RM` runs `rm`.
        let mut program = basename(&c.texts[from]).to_ascii_lowercase();
        if program.is_empty() {
            // `$(which rm) -rf /`, `` `command -v agent-telemetry` uninstall ``: the program looked up.
            if let [body] = c.words[from].subs.as_slice() {
                let w: Vec<&str> = body.split_whitespace().collect();
                if matches!(
                    w.as_slice(),
                    ["which" | "whence", ..] | ["command", "-v" | "-V", ..] | ["type", "-p" | "-P", ..]
                ) {
                    program = w.last().map(|p| basename(p).to_ascii_lowercase()).unwrap_or_default();
                }
            }
        }
        let args = &c.texts[from + 1..];
        let arg_words = &c.words[from + 1..];
        let written = || {
            c.redirs
                .iter()
                .filter(|(op, _)| op == ">" || op == ">>")
                .map(|(_, w)| self.expand(w, cwd))
                .collect::<Vec<_>>()
        };
        if matches!(program.as_str(), "curl" | "wget") {
            let mut files = super::indirect::download_outputs(&program, args);
            files.extend(written());
            self.downloaded(&files, cwd);
        } else if super::indirect::is_decoder(&program, args) {
            // `base64 -d p > x.sh; sh x.sh`: a decoded file run is obfuscated execution.
            let mut files = written();
            files.extend(
                args.windows(2).filter(|w| matches!(w[0].as_str(), "-o" | "--output" | "-out")).map(|w| w[1].clone()),
            );
            for f in files {
                let abs = super::indirect::absolute(cwd, &f).display().to_string();
                if !self.decoded.contains(&abs) {
                    self.decoded.push(abs);
                }
            }
        } else if matches!(program.as_str(), "mv" | "cp" | "install" | "ln") {
            // A downloaded file moved or copied is still the downloaded file.
            let ops: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            if let Some((dest, srcs)) = ops.split_last().filter(|(_, s)| !s.is_empty()) {
                let dest_abs = super::indirect::absolute(cwd, dest);
                let mut moved = Vec::new();
                for src in srcs {
                    let abs = super::indirect::absolute(cwd, src).display().to_string();
                    if self.out.downloads.contains(&abs) {
                        let into_dir = dest.ends_with('/') || dest_abs.is_dir();
                        let target = if into_dir { dest_abs.join(basename(src)) } else { dest_abs.clone() };
                        moved.push(target.display().to_string());
                    }
                }
                self.downloaded(&moved, cwd);
            }
        }
        let mut line: Vec<String> = assigns;
        line.push(self.render(&program));
        line.extend(args.iter().map(|a| self.render(a)));
        line.extend(redir_text);
        let rendered = line.join(" ");
        self.push_unit(rendered.clone());
        if from > 0 {
            // `X=1 rm -rf /`: the program's line without its assignments too.
            let bare = rendered.splitn(from + 1, ' ').last().unwrap_or("").to_string();
            self.push_unit(bare);
        }

        // The program itself, as a path: running `./x` or `/etc/x` is touching it.
        match program.as_str() {
            "cd" | "pushd" => {
                let target = args.iter().find(|a| !a.starts_with('-') || a.as_str() == "-").cloned();
                let new = match target.as_deref() {
                    None | Some("~") => self.home.clone(),
                    Some("-") => None,
                    Some(t) => {
                        self.add_path(t, cwd, false, true, &Word::default());
                        Some(join(cwd, t))
                    }
                };
                if let Some(n) = new {
                    *cwd = n;
                }
            }
            "kill" => {
                // `kill $(pgrep -f agent-telemetry)`: what it kills is the substitution's output.
                for w in arg_words {
                    for body in &w.subs {
                        self.push_unit(format!("kill {body}"));
                    }
                }
            }
            "eval" => {
                let code = args.join(" ");
                self.exec_substitutions(arg_words);
                self.script(&code, cwd, depth + 1);
            }
            "source" | "." => {
                self.exec_substitutions(arg_words);
                self.operands(args, arg_words, cwd, false);
                if let Some(script) = args.first() {
                    self.ran(script, cwd);
                }
            }
            p if is_shell(p) => {
                let mut i = 0;
                let mut code = None;
                while i < args.len() {
                    let a = &args[i];
                    if a == "-c" || (a.starts_with('-') && !a.starts_with("--") && a.contains('c')) {
                        code = args.get(i + 1).cloned();
                        if let Some(w) = arg_words.get(i + 1) {
                            // `bash -c "rm .$(echo … | base64 -d)"`: the outer shell expands the
                            // substitution into the code; what it makes is not in the text.
                            if !w.subs.is_empty() && self.out.dynamic.len() < MAX_UNITS {
                                self.out.dynamic.extend(w.subs.iter().cloned());
                                self.out.dynamic_unresolved = true;
                            }
                            self.exec_substitutions(std::slice::from_ref(w));
                        }
                        break;
                    }
                    if !a.starts_with('-') && !a.starts_with('+') {
                        // `bash script.sh` / `bash <(curl …)`
                        self.exec_substitutions(&arg_words[i..i + 1]);
                        self.add_path(a, cwd, false, false, &arg_words[i]);
                        if arg_words[i].procs.is_empty() {
                            self.ran(a, cwd);
                        }
                        break;
                    }
                    i += 1;
                }
                match code {
                    Some(code) => self.script(&code, cwd, depth + 1),
                    None => {
                        // Code on stdin: a heredoc, `bash <<< 'code'`, `bash < <(curl …)`.
                        self.stdin_substitutions(c, cwd);
                        for (op, w) in &c.redirs {
                            if op == "<<body" || op == "<<<" {
                                let body = self.expand(w, cwd);
                                self.script(&body, &mut cwd.clone(), depth + 1);
                            }
                        }
                    }
                }
            }
            p if is_interpreter(p) => {
                let mut i = 0;
                let mut script = false;
                // `perl -pi -e … F`, `ruby -i -pe … F`: the operands are edited in place.
                let mut in_place = (p.starts_with("perl") || p.starts_with("ruby"))
                    && args.iter().any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('i'));
                while i < args.len() {
                    let a = &args[i];
                    if matches!(a.as_str(), "-c" | "-e" | "-E" | "-r" | "--eval" | "-p" | "-command" | "-Command") {
                        if let Some(code) = args.get(i + 1) {
                            self.interpreter_code(code, cwd, depth);
                            // `perl -e 'unlink $ARGV[0]' F`: destructive code's arguments are
                            // what it acts on.
                            in_place |= super::dark::code_effect(code).destructive;
                        }
                        script = true;
                        i += 2;
                        continue;
                    }
                    if !a.starts_with('-') {
                        self.add_path(a, cwd, in_place, false, &arg_words[i]);
                        if !script {
                            // The script it runs: `python3 x.py`, `python3 <(curl …)`.
                            script = true;
                            self.exec_substitutions(&arg_words[i..i + 1]);
                            if arg_words[i].procs.is_empty() {
                                self.ran(a, cwd);
                            }
                        }
                    }
                    i += 1;
                }
                if !script {
                    self.stdin_substitutions(c, cwd);
                    // `python3 - <<'EOF' … EOF`, `node <<< '…'`: code on stdin.
                    for (op, w) in &c.redirs {
                        if op == "<<body" || op == "<<<" {
                            let body = self.expand(w, cwd);
                            self.interpreter_code(&body, cwd, depth + 1);
                        }
                    }
                }
            }
            p if WRAPPERS.contains(&p) => {
                let mut i = 0;
                let takes_value: &[&str] = match p {
                    "sudo" | "doas" => &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"],
                    "nice" | "ionice" => &["-n", "-c"],
                    "timeout" => &["-s", "-k", "--signal", "--kill-after"],
                    "xargs" => &["-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a"],
                    "env" => &["-u", "-C", "-S"],
                    _ => &[],
                };
                while i < args.len() {
                    let a = &args[i];
                    if a.starts_with('-') {
                        i += if takes_value.contains(&a.as_str()) { 2 } else { 1 };
                        continue;
                    }
                    if p == "env" && a.contains('=') {
                        i += 1;
                        continue;
                    }
                    break;
                }
                if p == "timeout" && i < args.len() {
                    i += 1; // the duration
                }
                if p == "xargs" && i < args.len() {
                    // `xargs prog <<< 'words'`: the line xargs runs.
                    let fed: Vec<String> = c
                        .redirs
                        .iter()
                        .filter(|(op, _)| op == "<<<")
                        .flat_map(|(_, w)| {
                            self.expand(w, cwd).split_whitespace().map(str::to_string).collect::<Vec<_>>()
                        })
                        .collect();
                    if !fed.is_empty() {
                        let mut line = vec![basename(&args[i]).to_ascii_lowercase()];
                        line.extend(args[i + 1..].iter().cloned());
                        line.extend(fed);
                        let rendered: Vec<String> = line.iter().map(|w| self.render(w)).collect();
                        self.push_unit(rendered.join(" "));
                    }
                }
                if i < args.len() {
                    let inner =
                        Simple { words: arg_words[i..].to_vec(), texts: args[i..].to_vec(), redirs: c.redirs.clone() };
                    let r = self.command(&inner, 0, cwd, depth + 1, in_pipeline);
                    if in_pipeline {
                        self.push_unit(r);
                    }
                }
            }
            "find" => {
                // Start points are paths; `-exec … ;` runs a command.
                let mut i = 0;
                let deletes = args.iter().any(|a| a == "-delete")
                    || args.windows(2).any(|w| {
                        let p = basename(&w[1]).to_ascii_lowercase();
                        (w[0].starts_with("-exec") || w[0].starts_with("-ok"))
                            && (matches!(
                                p.as_str(),
                                "rm" | "shred"
                                    | "unlink"
                                    | "truncate"
                                    | "mv"
                                    | "sed"
                                    | "chmod"
                                    | "chattr"
                                    | "setfacl"
                                    | "cp"
                                    | "dd"
                                    | "tee"
                                    | "rmdir"
                                    | "xargs"
                            ) || is_shell(&p)
                                || is_interpreter(&p))
                    });
                // Deletes what it finds (not merely changes it: `-exec chmod 644`).
                let really_deletes = args.iter().any(|a| a == "-delete")
                    || args.windows(2).any(|w| {
                        (w[0].starts_with("-exec") || w[0].starts_with("-ok"))
                            && matches!(
                                basename(&w[1]).to_ascii_lowercase().as_str(),
                                "rm" | "shred" | "unlink" | "truncate" | "rmdir"
                            )
                    });
                let filtered = args.iter().any(|a| {
                    matches!(a.as_str(), "-name" | "-iname" | "-path" | "-ipath" | "-wholename" | "-regex" | "-iregex")
                });
                let mut starts = Vec::new();
                while i < args.len() && !args[i].starts_with('-') && args[i] != "(" && args[i] != "!" {
                    let before = self.out.paths.len();
                    self.add_path(&args[i], cwd, deletes, true, &arg_words[i]);
                    if really_deletes && !filtered {
                        self.mark_tree(before, Tree::Delete);
                    }
                    starts.push(args[i].clone());
                    i += 1;
                }
                if starts.is_empty() {
                    starts.push(".".into());
                }
                // `find . -name .telemetry-enabled -delete`: the names it looks for, under each start.
                for w in args.windows(2).filter(|w| matches!(w[0].as_str(), "-name" | "-iname" | "-path" | "-ipath")) {
                    if deletes && w[0].ends_with("name") {
                        for s in &starts {
                            if self.out.paths.len() < MAX_UNITS {
                                self.out.paths.push(PathArg {
                                    path: s.clone(),
                                    cwd: cwd.clone(),
                                    write: true,
                                    explicit: false,
                                    tree: None,
                                    find_name: Some(w[1].clone()),
                                });
                            }
                        }
                    }
                    for s in &starts {
                        let name = w[1].trim_start_matches("*/");
                        let p = if w[0].ends_with("path") {
                            name.to_string()
                        } else {
                            format!("{}/{name}", s.trim_end_matches('/'))
                        };
                        self.add_path(
                            &p,
                            cwd,
                            deletes,
                            false,
                            &Word { parts: vec![Part::Lit(p.clone(), true)], ..Word::default() },
                        );
                    }
                }
                while i < args.len() {
                    if matches!(args[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                        let end = args[i + 1..]
                            .iter()
                            .position(|a| a == ";" || a == "+")
                            .map(|e| i + 1 + e)
                            .unwrap_or(args.len());
                        if i + 1 < end {
                            let inner = Simple {
                                words: arg_words[i + 1..end].to_vec(),
                                texts: args[i + 1..end].to_vec(),
                                redirs: Vec::new(),
                            };
                            self.command(&inner, 0, &mut cwd.clone(), depth + 1, false);
                        }
                        i = end;
                    }
                    i += 1;
                }
            }
            p if PATTERN_FIRST.contains(&p) => {
                let has_script_opt = args.iter().any(|a| {
                    matches!(a.as_str(), "-e" | "-f" | "--regexp" | "--file" | "--expression")
                        || a.starts_with("--regexp=")
                        || a.starts_with("--expression=")
                });
                let mut skipped = has_script_opt;
                let mut i = 0;
                while i < args.len() {
                    let a = &args[i];
                    if matches!(
                        a.as_str(),
                        "-e" | "-f"
                            | "--regexp"
                            | "--file"
                            | "--expression"
                            | "-v"
                            | "--arg"
                            | "--argjson"
                            | "-m"
                            | "-A"
                            | "-B"
                            | "-C"
                            | "-g"
                            | "--glob"
                            | "-t"
                            | "--type"
                    ) && !(p == "awk" && a == "-v")
                    {
                        i += 2;
                        continue;
                    }
                    if a.starts_with('-') && a.len() > 1 {
                        i += 1;
                        continue;
                    }
                    if !skipped {
                        skipped = true;
                    } else {
                        let write = p == "sed" && args.iter().any(|x| x.starts_with("-i") || x == "--in-place");
                        self.add_path(a, cwd, write, false, &arg_words[i]);
                    }
                    i += 1;
                }
            }
            p if TEXT_ONLY.contains(&p) => {}
            "git" => {
                // Messages are text; other operands may be paths, written by the subcommands
                // that delete, move or overwrite files in the work tree.
                let sub = args.iter().find(|a| !a.starts_with('-')).map(String::as_str);
                let write = matches!(sub, Some("rm" | "mv" | "checkout" | "restore"));
                let mut i = 0;
                while i < args.len() {
                    let a = &args[i];
                    if matches!(a.as_str(), "-m" | "--message" | "-c" | "--author" | "-F") {
                        i += 2;
                        continue;
                    }
                    if !a.starts_with('-') && Some(a.as_str()) != sub {
                        self.add_path(a, cwd, write, false, &arg_words[i]);
                    }
                    i += 1;
                }
            }
            p => {
                let write = WRITERS.contains(&p);
                let before = self.out.paths.len();
                self.operands(args, arg_words, cwd, write);
                match tree_effect(p, args) {
                    // `rsync --delete SRC DEST`: what DEST holds and SRC does not is deleted.
                    Some(Tree::Delete) if p == "rsync" => {
                        if let Some(last) = self.out.paths.len().checked_sub(1).filter(|l| *l >= before) {
                            self.out.paths[last].tree = Some(Tree::Delete);
                        }
                    }
                    // `mv SRC… DEST`: the sources move, not the destination.
                    Some(Tree::Move) => {
                        let end = self.out.paths.len().saturating_sub(1).max(before);
                        for x in &mut self.out.paths[before..end] {
                            x.tree = Some(Tree::Move);
                        }
                    }
                    Some(t) => self.mark_tree(before, t),
                    None => {}
                }
                if write {
                    // `rm "$(echo LnRl… | base64 -d)"`, `rm $(ls -a | grep tele)`: a name made by
                    // a substitution.
                    for w in arg_words {
                        for body in w.subs.iter().chain(w.parts.iter().filter_map(|p| match p {
                            Part::Var(n) => self.sub_vars.get(n),
                            _ => None,
                        })) {
                            self.out.dynamic.push(body.clone());
                            self.out.dynamic_unresolved = true;
                        }
                    }
                }
                if p == "dd" {
                    for a in args {
                        if let Some(v) = a.strip_prefix("of=") {
                            self.add_path(v, cwd, true, true, &Word::default());
                        } else if let Some(v) = a.strip_prefix("if=") {
                            self.add_path(v, cwd, false, true, &Word::default());
                        }
                    }
                }
            }
        }
        // The program path itself (`/etc/x`, `~/.ssh/x`) is touched too.
        let prog_text = &c.texts[from];
        if prog_text.contains('/') {
            self.add_path(prog_text, cwd, false, true, &c.words[from]);
            self.ran(prog_text, cwd);
        }
        rendered
    }

    fn downloaded(&mut self, files: &[String], cwd: &Path) {
        for f in files {
            let abs = super::indirect::absolute(cwd, f).display().to_string();
            if self.out.downloads.len() < MAX_UNITS && !self.out.downloads.contains(&abs) {
                self.out.downloads.push(abs);
            }
        }
    }

    /// A file run as a program or script: remembered, and "downloaded code run" when this
    /// command downloaded it first (`curl -o x.sh URL && bash x.sh`).
    fn ran(&mut self, path: &str, cwd: &Path) {
        let abs = super::indirect::absolute(cwd, path).display().to_string();
        if self.out.downloads.contains(&abs) {
            self.push_unit(downloaded_run_unit(&abs));
        }
        if self.decoded.contains(&abs) {
            self.push_unit(format!("base64 -d {} | sh", self.render(&abs)));
        }
        if self.out.executed.len() < MAX_UNITS && !self.out.executed.contains(&abs) {
            self.out.executed.push(abs);
        }
    }

    /// `sh < <(curl …)`, `python3 < <(wget -O- …)`: a process substitution read as code on
    /// stdin; `sh < F`: the file `F` is run.
    fn stdin_substitutions(&mut self, c: &Simple, cwd: &Path) {
        let words: Vec<Word> = c.redirs.iter().filter(|(op, _)| op == "<").map(|(_, w)| w.clone()).collect();
        self.exec_substitutions(&words);
        for w in words.iter().filter(|w| w.procs.is_empty()) {
            let f = self.expand(w, cwd);
            self.ran(&f, cwd);
        }
    }

    /// Operands of an ordinary program: every non-option word, and `--opt=value` values.
    fn operands(&mut self, args: &[String], words: &[Word], cwd: &Path, write: bool) {
        let mut end_of_opts = false;
        for (a, w) in args.iter().zip(words) {
            if !end_of_opts && a == "--" {
                end_of_opts = true;
                continue;
            }
            if !end_of_opts && a.starts_with('-') && a.len() > 1 {
                if let Some((_, v)) = a.split_once('=') {
                    self.add_path(v, cwd, write, false, w);
                }
                continue;
            }
            self.add_path(a, cwd, write, false, w);
        }
    }

    /// `eval "$(curl …)"`, `sh -c "$(curl …)"`, `bash <(curl …)`, `source <(curl …)`: the output
    /// of the inner command is run as code — the same as piping it into a shell.
    fn exec_substitutions(&mut self, words: &[Word]) {
        for w in words {
            for body in w.subs.iter().chain(w.procs.iter()) {
                let inner = normalise(body, Path::new("/"), self.home.as_deref());
                for u in inner.units.iter().filter(|u| !u.contains(" | ")) {
                    self.push_unit(format!("{u} | sh"));
                }
            }
        }
    }

    /// Interpreter code (`python -c`, `perl -e`, `node -e`): string literals that look like
    /// paths are paths; literals handed to `system`/`popen`/`exec`/… are shell commands.
    fn interpreter_code(&mut self, code: &str, cwd: &mut PathBuf, depth: usize) {
        const RUNNERS: &[&str] = &[
            "system",
            "popen",
            "exec",
            "execSync",
            "spawn",
            "spawnSync",
            "check_output",
            "check_call",
            "call",
            "run",
            "Popen",
            "getoutput",
            "getstatusoutput",
            "shell_exec",
            "passthru",
            "execv",
            "execvp",
        ];
        let writes = code.contains("write")
            || [
                "'w'", "\"w\"", "'a'", "\"a\"", "'w+'", "unlink", "remove", "rename", "rmtree", "move(", "chmod",
                "truncate", "rmSync", "rm_rf", "copy",
            ]
            .iter()
            .any(|m| code.contains(m));
        // Calls that act on a whole tree (a directory moved, deleted or locked).
        let tree = ["rmtree", "move(", "rename", "rmSync", "rm_rf", "rm_r(", "removedirs", "chmod"]
            .iter()
            .any(|m| code.contains(m));
        for (i, q, lit) in code_literals(code) {
            let before = code[..i].trim_end_matches(|c: char| c.is_whitespace() || c == '(' || c == '[' || c == ',');
            let runner = q == b'`' || RUNNERS.iter().any(|r| before.ends_with(r));
            if runner {
                self.script(lit, cwd, depth + 1);
            }
            let explicit = lit.starts_with('/') || lit.starts_with("~/") || lit.starts_with("../");
            if !lit.is_empty()
                && lit.len() < 4096
                && (explicit || lit.contains('/') || lit.starts_with('.'))
                && !lit.contains(char::is_whitespace)
            {
                let w = Word { parts: vec![Part::Lit(lit.to_string(), true)], ..Word::default() };
                let t = self.expand(&w, cwd);
                let before = self.out.paths.len();
                self.add_path(&t, cwd, writes, explicit, &w);
                if writes && tree {
                    self.mark_tree(before, Tree::Move);
                }
            }
        }
        // Argument lists run as commands, recursive-delete APIs as `rm -rf TARGET`; base64
        // payloads decoded and read as code too (and decoded code that is run is obfuscated).
        if depth <= MAX_NESTING {
            for line in super::indirect::interpreter_commands(code) {
                self.script(&line, cwd, depth + 1);
            }
            let (payloads, runs) = super::indirect::interpreter_payloads(code);
            for p in payloads {
                self.interpreter_code(&p, cwd, depth + 1);
            }
            if runs {
                self.push_unit("base64 -d | sh".into());
            }
        }
        let effect = super::dark::code_effect(code);
        if effect.destructive && self.out.dynamic.len() < MAX_UNITS {
            self.out.dynamic.extend(effect.hints);
            self.out.dynamic_unresolved |= effect.unresolved;
        }
        self.push_unit(format!("interpreter-code {}", self.render(code)));
    }

    /// Marks the paths added since `before` as covering everything under them.
    fn mark_tree(&mut self, before: usize, t: Tree) {
        for x in &mut self.out.paths[before..] {
            x.tree = Some(t);
        }
    }

    fn add_path(&mut self, text: &str, cwd: &Path, write: bool, explicit: bool, w: &Word) {
        if text.is_empty() || self.out.paths.len() >= MAX_UNITS || text.contains("://") || text.starts_with('$') {
            return;
        }
        // Brace expansion (one level): `.claude/settings.json{,.bak}`, `/{usr,etc}`.
        if let Some((pre, rest)) = text.split_once('{') {
            if let Some((alts, post)) = rest.split_once('}') {
                if alts.contains(',') && !w.quoted() {
                    for alt in alts.split(',').take(16) {
                        let t = format!("{pre}{alt}{post}");
                        let lit = Word { parts: vec![Part::Lit(t.clone(), false)], ..Word::default() };
                        self.add_path(&t, cwd, write, explicit, &lit);
                    }
                    return;
                }
            }
        }
        let looks = text.starts_with('/')
            || text.starts_with('~')
            || text == ".."
            || text.starts_with("../")
            || text.contains("/../")
            || text.ends_with("/..");
        let expanded = if w.has_glob() && !w.quoted() || (w.parts.is_empty() && text.contains(['*', '?'])) {
            glob(text, cwd)
        } else {
            Vec::new()
        };
        if expanded.is_empty() {
            let p = PathArg {
                path: text.to_string(),
                cwd: cwd.to_path_buf(),
                write,
                explicit: explicit || looks,
                tree: None,
                find_name: None,
            };
            if !self.out.paths.contains(&p) {
                self.out.paths.push(p);
            }
        }
        for e in expanded {
            let p = PathArg {
                path: e,
                cwd: cwd.to_path_buf(),
                write,
                explicit: explicit || looks,
                tree: None,
                find_name: None,
            };
            if !self.out.paths.contains(&p) {
                self.out.paths.push(p);
            }
        }
    }
}

/// The unit that says "a downloaded file was run": matched by `risky_command.download_pipe_shell`
/// like `curl URL | sh` (the same act, split over two commands or tool calls).
/// The string literals of interpreter code (`'…'`, `"…"`, `` `…` ``), escapes kept as written:
/// (where its opening quote is, the quote, the text between). An unclosed one runs to the end.
pub(super) fn code_literals(code: &str) -> impl Iterator<Item = (usize, u8, &str)> {
    let b = code.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            let q = b[i];
            if q == b'\'' || q == b'"' || q == b'`' {
                let at = i;
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != q {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                i = j + 1;
                return Some((at, q, code.get(start..j.min(b.len())).unwrap_or("")));
            }
            i += 1;
        }
        None
    })
}

pub(crate) fn downloaded_run_unit(path: &str) -> String {
    format!("curl {path} | sh")
}

fn join(cwd: &Path, t: &str) -> PathBuf {
    if t.starts_with('/') {
        PathBuf::from(t)
    } else {
        cwd.join(t)
    }
}

/// `~user`'s home from `/etc/passwd` (bounded read), else `/home/user`.
fn home_of(user: &str) -> Option<String> {
    let text = super::files::read_bounded(Path::new("/etc/passwd"), 1 << 20).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[0] == user).then(|| f[5].to_string())
        })
        .or_else(|| Some(format!("/home/{user}")))
}

/// Expands an unquoted glob against the filesystem, as the shell would (component by component,
/// bounded). Nothing matching: empty (the shell would pass the word as it is).
fn glob(pattern: &str, cwd: &Path) -> Vec<String> {
    let absolute = pattern.starts_with('/');
    let mut current: Vec<PathBuf> = vec![if absolute { PathBuf::from("/") } else { cwd.to_path_buf() }];
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for comp in comps {
        let mut next = Vec::new();
        for dir in &current {
            if !comp.contains(['*', '?', '[']) {
                next.push(dir.join(comp));
                continue;
            }
            let Ok(rd) = std::fs::read_dir(dir) else { continue };
            for e in rd.flatten().take(4096) {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if (name.starts_with('.') && !comp.starts_with('.')) || !glob_match(comp.as_bytes(), name.as_bytes()) {
                    continue;
                }
                next.push(dir.join(&*name));
                if next.len() >= MAX_GLOB_MATCHES {
                    break;
                }
            }
        }
        current = next;
        if current.is_empty() {
            return Vec::new();
        }
    }
    current.into_iter().filter(|p| p.symlink_metadata().is_ok()).map(|p| p.display().to_string()).collect()
}

/// Shell glob matching of one name: `*`, `?`, `[…]` (with `!`/`^` negation and ranges).
pub(crate) fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some(pi);
                    mark = si;
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, len)) = class(&p[pi..], s[si]) {
                        if ok {
                            pi += len;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == b'[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some(sp) => {
                pi = sp + 1;
                mark += 1;
                si = mark;
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let neg = matches!(p.get(1), Some(b'!' | b'^'));
    if neg {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((matched != neg, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            if (p[i]..=p[i + 2]).contains(&c) {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(c: &str) -> Vec<String> {
        normalise(c, Path::new("/p"), Some(Path::new("/home/u"))).units
    }

    #[test]
    fn programs_are_basenamed_and_unescaped() {
        assert!(units("/bin/rm -rf /").contains(&"rm -rf /".to_string()));
        assert!(units("\\rm -rf /").contains(&"rm -rf /".to_string()));
        assert!(units("rm\t-rf   /").contains(&"rm -rf /".to_string()));
        assert!(units("$'\\x72m' -rf /").contains(&"rm -rf /".to_string()));
        assert!(units("sudo -u root /bin/rm -rf $HOME").contains(&"rm -rf ~".to_string()));
        assert!(units("curl x |& /bin/bash").contains(&"curl x | bash".to_string()));
        assert!(units("eval \"$(curl -s x)\"").contains(&"curl -s x | sh".to_string()));
        assert!(units("bash -c 'rm -rf ~'").contains(&"rm -rf ~".to_string()));
    }

    #[test]
    fn quoted_data_is_data() {
        let u = units("git commit -m 'never rm -rf / here'");
        assert!(!u.iter().any(|u| u.starts_with("rm")), "{u:?}");
        let n = normalise("grep -rn '/api/users' src", Path::new("/p"), None);
        assert!(!n.paths.iter().any(|p| p.path == "/api/users"), "{:?}", n.paths);
        let n = normalise("awk '/^fn /' x.rs", Path::new("/p"), None);
        assert!(!n.paths.iter().any(|p| p.path.starts_with("/^")), "{:?}", n.paths);
    }

    #[test]
    fn cd_and_variables_carry_forward() {
        let n = normalise("cd /etc && cat shadow", Path::new("/p"), None);
        assert!(n.paths.iter().any(|p| p.cwd == Path::new("/etc") && p.path == "shadow"), "{:?}", n.paths);
        let n = normalise("cd; cat .ssh/id_rsa", Path::new("/p"), Some(Path::new("/home/u")));
        assert!(n.paths.iter().any(|p| p.cwd == Path::new("/home/u") && p.path == ".ssh/id_rsa"), "{:?}", n.paths);
        let n = normalise("D=/etc; cat ${D}/shadow", Path::new("/p"), None);
        assert!(n.paths.iter().any(|p| p.path == "/etc/shadow"), "{:?}", n.paths);
        let n = normalise("python3 -c \"open('/etc/shadow').read()\"", Path::new("/p"), None);
        assert!(n.paths.iter().any(|p| p.path == "/etc/shadow"), "{:?}", n.paths);
    }

    #[test]
    fn globs_match_names() {
        assert!(glob_match(b"shado?", b"shadow"));
        assert!(glob_match(b"*.env", b"prod.env"));
        assert!(glob_match(b"[st]hadow", b"shadow"));
        assert!(!glob_match(b"[!s]hadow", b"shadow"));
        assert!(!glob_match(b"shad", b"shadow"));
    }
}
