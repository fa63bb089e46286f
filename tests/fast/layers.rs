//! The library's modules in layers that depend one way. [`LAYERS`] is the one place the order is
//! written: a module may use modules of its own layer and of the layers below, never one above,
//! and no set of modules may use each other in a circle. The test reads every file under `src/`
//! (the binaries, `src/main.rs` and `src/bin/`, sit on top and may use anything), finds the
//! `crate::…` paths (and `super::…` paths that climb to the crate root) outside comments and
//! string literals, and fails on an import from a lower layer to a higher one, on a cycle, on a
//! module missing from [`LAYERS`] (or listed there but gone), and when the picture between the
//! markers in `docs/architecture.md` is not the one generated here.
//!
//! `AT_UPDATE_DOCS=1 cargo test --test fast layers::` rewrites that picture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top: (modules, what the layer is).
const LAYERS: &[(&[&str], &str)] = &[
    (
        &["timefmt", "ids", "event", "text", "worktree", "safe_fs", "progress"],
        "time, ids, event names, text, safe file access, progress",
    ),
    (
        &["config", "record", "payload", "transcript", "rate"],
        "settings, the journal record, a hook payload, a transcript, a session's rate",
    ),
    (&["cost", "enrich"], "prices; a payload's meaning, findings, redaction, privacy"),
    (
        &["journal", "assemble", "claude_settings", "relay_control"],
        "the journal; spans; settings.json; the relay process",
    ),
    (&["hook", "export"], "the hook pipeline; OTLP and file export"),
    (&["relay", "forensics"], "the relay; forensics over the SQLite index"),
    (&["fleet", "live"], "questions across agents; the live views"),
    (&["cli"], "the command line as clap types"),
    (&["commands"], "the commands: flags into queries, answers printed"),
];

const BEGIN: &str = "<!-- layers:begin -->";
const END: &str = "<!-- layers:end -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments, string and char literals (a path in a doc comment or a message
/// is not an import).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < b.len() {
                if src[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(src, i) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes;
            i = src[body..].find(&close).map_or(b.len(), |j| body + j + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{202e}', '"'), or a lifetime ('a), kept.
            match char_literal_len(rest) {
                Some(n) => i += n,
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"…"`, `r#"…"#`, `br"…"` starting at `i`: the number of `#`s.
fn raw_string_start(src: &str, i: usize) -> Option<usize> {
    let b = src.as_bytes();
    if b[i] != b'r' {
        return None;
    }
    let ident = |k: usize| b[k].is_ascii_alphanumeric() || b[k] == b'_';
    let start = if i > 0 && b[i - 1] == b'b' { i - 1 } else { i };
    if start > 0 && ident(start - 1) {
        return None;
    }
    let hashes = src[i + 1..].bytes().take_while(|&c| c == b'#').count();
    (b.get(i + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of the char literal `rest` starts with ('x', '\n', '\'', '\u{202e}'); `None` for a
/// lifetime.
fn char_literal_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    let (_, c) = chars.next()?;
    if c == '\\' {
        // The escaped character is skipped: `'\''` closes at its fourth byte.
        let close = rest.get(3..)?.find('\'')?;
        return (close <= 8).then_some(close + 4);
    }
    let (j, next) = chars.next()?;
    (next == '\'').then_some(j + 1)
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `code` (a file of module path `path`) refers to.
fn targets(code: &str, path: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let word_start =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'$');
        let rest = &code[i..];
        let after = if word_start && rest.starts_with("crate::") {
            Some(i + "crate::".len())
        } else if word_start && rest.starts_with("super::") {
            // `super::` from a file `a/b.rs` (path a::b) is `a`; one more climbs to the crate.
            let mut j = i;
            let mut depth = path.len();
            while code[j..].starts_with("super::") {
                j += "super::".len();
                depth = depth.saturating_sub(1);
            }
            i = j;
            if depth == 0 {
                Some(j)
            } else {
                continue;
            }
        } else {
            None
        };
        match after {
            Some(j) => {
                let tail = code[j..].trim_start();
                if let Some(group) = tail.strip_prefix('{') {
                    // `crate::{a, b::c}`: the first name of each item at the top of the group.
                    let mut depth = 0;
                    let mut item_start = true;
                    for (k, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => item_start = true,
                            c if item_start && depth == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                                out.insert(ident_at(&group[k..]).to_string());
                                item_start = false;
                            }
                            _ => {}
                        }
                    }
                } else {
                    let name = ident_at(tail);
                    if !name.is_empty() {
                        out.insert(name.to_string());
                    }
                }
                i = j;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    out
}

/// Module → the other top-level modules it uses, from the library's files.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules = declared();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let mut path: Vec<String> =
            rel.iter().map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
        if path == ["main"] || path == ["lib"] || path[0] == "bin" {
            continue;
        }
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        let module = path[0].clone();
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        let uses = g.entry(module.clone()).or_default();
        // Names that are not modules (`super::*` or an item from an inline `mod tests`) are no edge.
        uses.extend(targets(&code, &path).into_iter().filter(|t| *t != module && modules.contains(t)));
    }
    g
}

fn layer_of() -> BTreeMap<&'static str, usize> {
    let mut at = BTreeMap::new();
    for (n, (modules, _)) in LAYERS.iter().enumerate() {
        for m in *modules {
            assert!(at.insert(*m, n).is_none(), "{m} is in two layers");
        }
    }
    at
}

/// The modules `lib.rs` declares.
fn declared() -> BTreeSet<String> {
    let lib = code_only(&std::fs::read_to_string(root().join("src/lib.rs")).unwrap());
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").or_else(|| l.strip_prefix("pub(crate) ")).unwrap_or(l);
            l.strip_prefix("mod ").map(|m| m.trim_end_matches(';').trim().to_string())
        })
        .collect()
}

/// The picture for docs/architecture.md (between the markers): the layers, top first, one line
/// each; then what each module uses, as found in the code.
fn picture(g: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut s = String::from(
        "Layers, top to bottom: a module uses modules of its own layer and of the layers below it, never\n\
         one above, and no modules use each other in a circle. The binaries (`src/main.rs`, `src/bin/`)\n\
         sit on top. Generated from `tests/fast/layers.rs`, which checks it (`AT_UPDATE_DOCS=1 cargo test\n\
         --test fast layers::` rewrites this section).\n\n```text\n",
    );
    let width = LAYERS.iter().map(|(m, _)| m.join(", ").len()).max().unwrap_or(0);
    for (n, (modules, what)) in LAYERS.iter().enumerate().rev() {
        let below = match n {
            0 => "nothing below".to_string(),
            1 => "may use 0".to_string(),
            _ => format!("may use 0–{}", n - 1),
        };
        s.push_str(&format!("{n}  {:<width$}  {below:<13}  {what}\n", modules.join(", ")));
    }
    s.push_str("```\n\nWhat each module uses (other than itself):\n\n");
    for (modules, _) in LAYERS.iter().rev() {
        for m in *modules {
            let uses: Vec<String> = g.get(*m).into_iter().flatten().map(|u| format!("`{u}`")).collect();
            let uses = if uses.is_empty() { "nothing".to_string() } else { uses.join(", ") };
            s.push_str(&format!("- `{m}`: {uses}\n"));
        }
    }
    s
}

/// A cycle in `g`, if any: the modules on it, first repeated at the end.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[from..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if !state.contains_key(n.as_str()) {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn every_module_has_a_layer() {
    let at = layer_of();
    let declared = declared();
    let listed: BTreeSet<String> = at.keys().map(|m| m.to_string()).collect();
    assert_eq!(declared, listed, "src/lib.rs's modules and LAYERS in tests/fast/layers.rs differ");
    for m in graph().keys() {
        assert!(at.contains_key(m.as_str()), "src/{m} is in no layer (LAYERS in tests/fast/layers.rs)");
    }
}

#[test]
fn no_module_uses_one_above_it_nor_a_circle() {
    let at = layer_of();
    let g = graph();
    let mut upward = Vec::new();
    for (m, uses) in &g {
        for u in uses {
            let (Some(&lm), Some(&lu)) = (at.get(m.as_str()), at.get(u.as_str())) else {
                panic!("{m} → {u}: a module in no layer (LAYERS in tests/fast/layers.rs)");
            };
            if lu > lm {
                upward.push(format!("{m} (layer {lm}) uses {u} (layer {lu})"));
            }
        }
    }
    assert!(upward.is_empty(), "imports from a lower layer to a higher one:\n{}", upward.join("\n"));
    if let Some(c) = cycle(&g) {
        panic!("modules use each other in a circle: {}", c.join(" → "));
    }
}

#[test]
fn the_checker_sees_what_it_must() {
    let code = code_only(
        "use crate::a::X; // crate::b\n/* crate::c /* nested */ crate::d */ let s = \"crate::e\";\n\
         let r = r#\"crate::f\"#; let c = '\"'; fn g<'a>(x: &'a crate::h::Y) {} use crate::{i, j::K};\n\
         use super::super::k; super::l::M;",
    );
    let t = targets(&code, &["m".into(), "n".into()]);
    let want: BTreeSet<String> = ["a", "h", "i", "j", "k"].iter().map(|s| s.to_string()).collect();
    assert_eq!(t, want, "{code}");
    let mut g = BTreeMap::new();
    g.insert("x".to_string(), BTreeSet::from(["y".to_string()]));
    g.insert("y".to_string(), BTreeSet::from(["x".to_string()]));
    assert!(cycle(&g).is_some());
    g.remove("y");
    assert!(cycle(&g).is_none());
}

#[test]
fn architecture_doc_shows_the_layers() {
    let path = root().join("docs/architecture.md");
    let doc = std::fs::read_to_string(&path).expect("docs/architecture.md");
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/architecture.md lacks the markers {BEGIN} … {END}");
    };
    assert!(b < e, "docs/architecture.md: {END} before {BEGIN}");
    let want = format!("{BEGIN}\n{}{END}", picture(&graph()));
    let have = &doc[b..e + END.len()];
    if have == want {
        return;
    }
    if std::env::var_os("AT_UPDATE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, format!("{}{want}{}", &doc[..b], &doc[e + END.len()..])).unwrap();
        return;
    }
    panic!(
        "docs/architecture.md's layers differ from the code's; run `AT_UPDATE_DOCS=1 cargo test --test fast layers::`\n--- generated:\n{want}\n--- in the doc:\n{have}"
    );
}
