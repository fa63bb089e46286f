//! Code that a command runs indirectly — the helpers [`super::command`] uses to see through it:
//!
//! - files a download writes (`curl -o F`, `curl -O`, `wget URL`, `wget -O F`, `curl … > F`), so
//!   that running `F` later (`bash F`, `./F`, `. F`, `python3 F`) — in the same command or a later
//!   tool call of the session (see [`super::downloads`]) — is "downloaded code run";
//! - literal payloads fed to a decoder (`echo <base64> | base64 -d | sh`, `xxd -r -p <<< <hex>`),
//!   decoded so that what they run is analysed as commands;
//! - interpreter one-liners: argument lists handed to `subprocess.run([...])`, `system("rm",
//!   "-rf", "/")`, `execFileSync("rm", [...])` become one command; recursive-delete APIs
//!   (`shutil.rmtree`, `FileUtils.rm_rf`, `fs.rmSync(…, {recursive})`, `File::Path` `rmtree`)
//!   become `rm -rf TARGET`, with the home directory's spellings (`expanduser("~")`, `Dir.home`,
//!   `os.homedir()`, `Path.home()`, `$ENV{HOME}`) as `~`.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute against `cwd` with `.` and `..` removed as text (the same file for
/// the download and the run: both are spelt by the same agent in the same directory).
pub(crate) fn absolute(cwd: &Path, path: &str) -> PathBuf {
    let joined = if path.starts_with('/') { PathBuf::from(path) } else { cwd.join(path) };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

fn url_basename(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let rest = path.split_once("://").map(|(_, r)| r)?;
    let (_, p) = rest.split_once('/')?;
    p.rsplit('/').next().filter(|n| !n.is_empty())
}

/// The files `curl`/`wget` (given as `program` and its expanded arguments) write; `-` (stdout)
/// is not a file.
pub(crate) fn download_outputs(program: &str, args: &[String]) -> Vec<String> {
    let url = args.iter().find(|a| a.contains("://")).map(String::as_str);
    let mut out = Vec::new();
    let mut remote_name = false;
    let mut dir: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let next = args.get(i + 1).cloned();
        match (program, a) {
            ("curl", "-o" | "--output") | ("wget", "-O" | "--output-document") => {
                out.extend(next);
                i += 2;
                continue;
            }
            ("curl", "-O" | "--remote-name" | "--remote-name-all") => remote_name = true,
            ("curl", "--output-dir") | ("wget", "-P" | "--directory-prefix") => {
                dir = next;
                i += 2;
                continue;
            }
            _ => {}
        }
        if let Some(v) = a
            .strip_prefix("--output=")
            .filter(|_| program == "curl")
            .or_else(|| a.strip_prefix("--output-document=").filter(|_| program == "wget"))
        {
            out.push(v.to_string());
        } else if let Some(v) = a.strip_prefix("--directory-prefix=").or_else(|| a.strip_prefix("--output-dir=")) {
            dir = Some(v.to_string());
        } else if a.len() > 1 && a.starts_with('-') && !a.starts_with("--") {
            // Bundled short options: `-sSLo FILE`, `-ofile`, `-qO-`, `-sO`.
            let letter = if program == "curl" { 'o' } else { 'O' };
            if let Some(k) = a[1..].find(letter) {
                let rest = &a[1 + k + 1..];
                if rest.is_empty() {
                    out.extend(next);
                    i += 2;
                    continue;
                }
                out.push(rest.to_string());
            } else if program == "curl" && a[1..].contains('O') {
                remote_name = true;
            }
        }
        i += 1;
    }
    let implicit = program == "wget" && out.is_empty();
    if remote_name || implicit {
        out.extend(url.and_then(url_basename).map(str::to_string));
    }
    out.retain(|f| f != "-" && !f.is_empty() && !f.starts_with("/dev/"));
    if let Some(d) = dir {
        for f in out.iter_mut().filter(|f| !f.starts_with('/')) {
            *f = format!("{}/{f}", d.trim_end_matches('/'));
        }
    }
    out
}

/// Programs that turn encoded or compressed text back into what it hides, when given these
/// arguments.
pub(crate) fn is_decoder(program: &str, args: &[String]) -> bool {
    let has = |flags: &[&str]| {
        args.iter().any(|a| {
            flags.contains(&a.as_str())
                || (a.starts_with('-')
                    && !a.starts_with("--")
                    && flags.iter().any(|f| f.len() == 2 && a[1..].contains(&f[1..])))
        })
    };
    match program {
        "base64" | "base32" | "basenc" => has(&["-d", "--decode", "-D"]),
        "xxd" => has(&["-r", "--revert"]),
        "openssl" => {
            args.first().is_some_and(|s| {
                s == "base64" || s == "enc" || s.starts_with("aes") || s.starts_with("des") || s.starts_with("chacha")
            }) && args.iter().any(|a| a == "-d")
        }
        "uudecode" | "gunzip" | "zcat" | "bzcat" | "xzcat" | "unxz" | "bunzip2" | "zstdcat" | "unzstd" => true,
        "gzip" | "bzip2" | "xz" | "zstd" => has(&["-d", "--decompress"]),
        "gpg" => has(&["-d", "--decrypt"]),
        _ => false,
    }
}

/// Decodes a literal payload the way `program` would (base64, base32 is not attempted; hex for
/// `xxd -r -p`); text only, bounded.
pub(crate) fn decode_literal(program: &str, text: &str) -> Option<String> {
    if text.len() > 64 * 1024 {
        return None;
    }
    let bytes = match program {
        "base64" => base64(text)?,
        "xxd" => hex(text)?,
        "openssl" => base64(text)?,
        _ => return None,
    };
    let s = String::from_utf8(bytes).ok()?;
    s.chars().all(|c| !c.is_control() || c.is_whitespace()).then_some(s)
}

fn base64(text: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=').collect();
    crate::text::base64_decode(&clean)
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !clean.len().is_multiple_of(2) {
        return None;
    }
    clean.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()).collect()
}

/// Functions that run their arguments as a program and its arguments.
const ARGV_RUNNERS: &[&str] = &[
    "subprocess.run",
    "subprocess.call",
    "subprocess.Popen",
    "subprocess.check_call",
    "subprocess.check_output",
    "run",
    "call",
    "Popen",
    "check_call",
    "check_output",
    "os.execvp",
    "os.execv",
    "os.execlp",
    "os.spawnvp",
    "os.spawnlp",
    "execvp",
    "execlp",
    "spawnSync",
    "spawn",
    "execFileSync",
    "execFile",
    "system",
    "exec",
    "Open3.capture2",
    "Open3.popen3",
    "IO.popen",
    "Process.spawn",
];

/// Recursive-delete functions (their first argument is the target).
const TREE_DELETERS: &[&str] = &[
    "rmtree",
    "rm_rf",
    "rm_r",
    "remove_dir",
    "remove_entry",
    "remove_entry_secure",
    "remove_tree",
    "rmSync",
    "rmdirSync",
    "rimraf",
    "removedirs",
    "fs.rm",
    "promises.rm",
    "deleteRecursively",
    "RemoveAll",
    "remove_dir_all",
];

/// The home directory's spellings in interpreter code.
const HOME_EXPRS: &[&str] = &[
    "expanduser(\"~\")",
    "expanduser('~')",
    "expanduser(\"~/\")",
    "expanduser('~/')",
    "Path.home()",
    "Dir.home",
    "os.homedir()",
    "homedir()",
    "$ENV{HOME}",
    "$ENV{'HOME'}",
    "$ENV{\"HOME\"}",
    "ENV[\"HOME\"]",
    "ENV['HOME']",
    "os.environ[\"HOME\"]",
    "os.environ['HOME']",
    "getenv(\"HOME\")",
    "getenv('HOME')",
    "process.env.HOME",
    "File.expand_path(\"~\")",
    "File.expand_path('~')",
];

/// String literals in `s` (single, double or backtick quoted), with their byte ranges.
fn literals(s: &str) -> Vec<(usize, usize, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let q = b[i];
        if q == b'\'' || q == b'"' || q == b'`' {
            let mut j = i + 1;
            while j < b.len() && b[j] != q {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            out.push((i, j.min(b.len()), s.get(i + 1..j.min(b.len())).unwrap_or("").to_string()));
            i = j + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// The text of the call's arguments after `name(` at `open` (the index of `(`), to the matching
/// `)` (quotes respected); bounded.
fn call_args(code: &str, open: usize) -> &str {
    let b = code.as_bytes();
    let (mut depth, mut i, mut quote) = (0usize, open, None::<u8>);
    while i < b.len() && i < open + 16 * 1024 {
        let c = b[i];
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), b'\\') => i += 1,
            (Some(_), _) => {}
            (None, b'\'' | b'"' | b'`') => quote = Some(c),
            (None, b'(' | b'[' | b'{') => depth += 1,
            (None, b')' | b']' | b'}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return code.get(open + 1..i).unwrap_or("");
                }
            }
            _ => {}
        }
        i += 1;
    }
    code.get(open + 1..i.min(b.len())).unwrap_or("")
}

/// Calls of `names` in `code`: the argument text of each (`name(` or `name ` for Ruby/Perl
/// calls without parentheses are both read).
fn calls<'a>(code: &'a str, names: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for name in names {
        for from in name_ends(code, name) {
            let rest = &code[from..];
            let skip = rest.len() - rest.trim_start().len();
            match rest.trim_start().as_bytes().first() {
                Some(b'(') => out.push(call_args(code, from + skip)),
                Some(b'"' | b'\'' | b'[') => out.push(
                    &code[from + skip
                        ..code[from + skip..].find([';', '\n']).map(|e| from + skip + e).unwrap_or(code.len())],
                ),
                _ => {}
            }
        }
    }
    out
}

/// Where each whole occurrence of `name` in `code` ends (not the tail of a longer identifier).
fn name_ends<'a>(code: &'a str, name: &'a str) -> impl Iterator<Item = usize> + 'a {
    code.match_indices(name)
        .filter(|(at, _)| !code[..*at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_'))
        .map(|(at, _)| at + name.len())
}

fn quote(w: &str) -> String {
    if !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-~+=:@,".contains(&b)) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// What a bare variable name in a call stands for: the right-hand side of its assignment in the
/// same code (`p = "/"; shutil.rmtree(p)`, `cmd = ["rm", "-rf", "/"]; run(cmd)`, `my $d = "/"`,
/// `const d = "/"`). Anything else comes back as it is.
fn resolve<'a>(code: &'a str, expr: &'a str) -> &'a str {
    let name = expr.trim().trim_start_matches(['$', '@']);
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return expr;
    }
    for from in name_ends(code, name) {
        let rest = code[from..].trim_start();
        let Some(rhs) = rest.strip_prefix('=').filter(|r| !r.starts_with('=')) else { continue };
        let start = code.len() - rhs.len();
        // To the end of the statement, brackets and quotes respected.
        let b = code.as_bytes();
        let (mut depth, mut i, mut quote) = (0i32, start, None::<u8>);
        while i < b.len() {
            let c = b[i];
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), b'\\') => i += 1,
                (Some(_), _) => {}
                (None, b'\'' | b'"' | b'`') => quote = Some(c),
                (None, b'(' | b'[' | b'{') => depth += 1,
                (None, b')' | b']' | b'}') => depth -= 1,
                (None, b';' | b'\n') if depth <= 0 => break,
                _ => {}
            }
            i += 1;
        }
        return code.get(start..i.min(b.len())).unwrap_or(expr);
    }
    expr
}

/// Functions that decode base64 inside interpreter code.
const B64_DECODERS: &[&str] = &[
    "b64decode",
    "decodebytes",
    "standard_b64decode",
    "urlsafe_b64decode",
    "atob",
    "decode64",
    "decode_base64",
    "strict_decode64",
];

/// Base64 literals interpreter code decodes (`exec(base64.b64decode("…"))`, `eval(atob("…"))`,
/// `Buffer.from("…", "base64")`), decoded; and whether the code also runs code it holds
/// (`exec`/`eval`/`system`/…), which makes it obfuscated execution.
pub(crate) fn interpreter_payloads(code: &str) -> (Vec<String>, bool) {
    let mut args = calls(code, B64_DECODERS);
    args.extend(calls(code, &["Buffer.from"]).into_iter().filter(|a| a.contains("base64")));
    let mut out = Vec::new();
    for a in args {
        let first = resolve(code, a.split(',').next().unwrap_or(""));
        for (_, _, lit) in literals(first) {
            if let Some(text) = decode_literal("base64", &lit).filter(|t| !t.trim().is_empty()) {
                out.push(text);
            }
        }
    }
    let runs = !out.is_empty()
        && ["exec", "eval", "system", "popen", "execSync", "Function", "compile", "spawn", "run"]
            .iter()
            .any(|r| !calls(code, &[r]).is_empty());
    (out, runs)
}

/// Shell commands an interpreter one-liner runs as an argument list, and `rm -rf TARGET` for
/// each recursive delete it makes.
pub(crate) fn interpreter_commands(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for args in calls(code, ARGV_RUNNERS) {
        let args = if literals(args).is_empty() { resolve(code, args.split(',').next().unwrap_or("")) } else { args };
        let mut words: Vec<String> = literals(args).into_iter().map(|(_, _, l)| l).collect();
        // `execvp("rm", ["rm", …])`: the program, then its argv (which repeats it).
        if words.len() > 2 && words[0] == words[1] {
            words.remove(0);
        }
        let line = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
        if words.len() > 1 && !out.contains(&line) {
            out.push(line);
        }
    }
    for args in calls(code, TREE_DELETERS) {
        let first = resolve(code, args.split(',').next().unwrap_or("").trim());
        let target = if HOME_EXPRS.iter().any(|h| first.contains(h)) {
            Some("~".to_string())
        } else {
            literals(first).into_iter().next().map(|(_, _, l)| l)
        };
        if let Some(t) = target {
            out.push(format!("rm -rf {}", quote(&t)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn outputs_of_downloads() {
        assert_eq!(download_outputs("curl", &s(&["-sSLo", "x.sh", "https://h/i.sh"])), ["x.sh"]);
        assert_eq!(download_outputs("curl", &s(&["-O", "https://h/a/i.sh?x=1"])), ["i.sh"]);
        assert_eq!(download_outputs("curl", &s(&["--output=/tmp/a", "https://h/i"])), ["/tmp/a"]);
        assert_eq!(download_outputs("wget", &s(&["https://h/i.sh"])), ["i.sh"]);
        assert_eq!(download_outputs("wget", &s(&["-qO-", "https://h/i.sh"])), Vec::<String>::new());
        assert_eq!(download_outputs("wget", &s(&["-P", "/tmp", "https://h/i.sh"])), ["/tmp/i.sh"]);
        assert_eq!(download_outputs("curl", &s(&["-s", "https://h/i.sh"])), Vec::<String>::new());
    }

    #[test]
    fn payloads_and_interpreters() {
        assert_eq!(decode_literal("base64", "Y3VybCB4IHwgc2g=").as_deref(), Some("curl x | sh"));
        assert_eq!(decode_literal("xxd", "6c73").as_deref(), Some("ls"));
        assert!(
            is_decoder("base64", &s(&["--decode"]))
                && is_decoder("base64", &s(&["-di"]))
                && !is_decoder("base64", &s(&["file"]))
        );
        assert!(
            is_decoder("openssl", &s(&["enc", "-d", "-aes256"])) && !is_decoder("openssl", &s(&["rand", "-hex", "8"]))
        );
        assert_eq!(interpreter_commands(r#"import subprocess; subprocess.run(["rm","-rf","/"])"#), ["rm -rf /"]);
        assert_eq!(interpreter_commands(r#"system("rm", "-rf", "/")"#), ["rm -rf /"]);
        assert_eq!(interpreter_commands(r#"import shutil; shutil.rmtree("/")"#), ["rm -rf /"]);
        assert_eq!(interpreter_commands(r#"shutil.rmtree(os.path.expanduser("~"))"#), ["rm -rf ~"]);
        assert_eq!(interpreter_commands(r#"require "fileutils"; FileUtils.rm_r(Dir.home)"#), ["rm -rf ~"]);
        assert_eq!(interpreter_commands(r#"require("fs").rmSync("/", {recursive: true})"#), ["rm -rf /"]);
        assert_eq!(interpreter_commands("print(1)"), Vec::<String>::new());
        assert_eq!(interpreter_commands(r#"import shutil; p = "/"; shutil.rmtree(p)"#), ["rm -rf /"]);
        assert_eq!(interpreter_commands(r#"import subprocess as s; c=["rm","-rf","/"]; s.call(c)"#), ["rm -rf /"]);
        assert_eq!(interpreter_commands(r#"my $d = $ENV{HOME}; rmtree($d)"#), ["rm -rf ~"]);
        let (texts, runs) = interpreter_payloads(
            r#"import base64; exec(base64.b64decode("aW1wb3J0IG9zOyBvcy5zeXN0ZW0oInJtIC1yZiAvIik="))"#,
        );
        assert_eq!(texts, [r#"import os; os.system("rm -rf /")"#]);
        assert!(runs);
        assert!(!interpreter_payloads(r#"print(base64.b64decode("aGk="))"#).1);
        assert_eq!(absolute(Path::new("/p"), "./x/../x.sh"), PathBuf::from("/p/x.sh"));
    }
}
