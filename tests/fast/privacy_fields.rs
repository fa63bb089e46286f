//! The privacy table (`enrich::privacy::FIELDS`), field by field: each row's event is fed to the
//! hook with a marker in that field, and the stored record must do what the row says (kept,
//! size + hash, heredoc bodies digested, prompts per `capture.prompts`). The table in
//! docs/security.md is the one in the code (`AT_UPDATE_DOCS=1 cargo test --test fast
//! privacy_fields::` rewrites it).

use crate::harness::sandbox::*;
use agent_telemetry::enrich::privacy::{markdown_table, Treatment, FIELDS};
use serde_json::{json, Map, Value};

const BEGIN: &str = "<!-- privacy-fields:begin -->\n";
const END: &str = "<!-- privacy-fields:end -->";

/// `value` placed at `path` (`a.b`, `a[].b`: an array of one element).
fn build(path: &str, value: Value) -> Value {
    let Some((head, rest)) = path.split_once('.') else {
        return match path.strip_suffix("[]") {
            Some(k) => json!({ k: [value] }),
            None => json!({ path: value }),
        };
    };
    let inner = build(rest, value);
    match head.strip_suffix("[]") {
        Some(k) => json!({ k: [inner] }),
        None => json!({ head: inner }),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.strip_suffix("[]") {
            Some(k) => cur.get(k)?.get(0)?,
            None => cur.get(part)?,
        };
    }
    Some(cur)
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (a, b) => *a = b,
    }
}

/// The payload for a row: its event, its tool, the marker at its field.
fn payload(event: &str, field: &str, marker: &str, heredoc: bool) -> (String, Value) {
    let (hook, tool) = match event.split_once('(') {
        Some((h, t)) => (h, Some(t.trim_end_matches(')').replace("mcp__*", "mcp__notes__search"))),
        None => (event, None),
    };
    let text = if heredoc {
        format!("cat > notes.md <<'EOF'\n{marker}-body of the file\nEOF\necho {marker}-line")
    } else {
        format!("{marker} some words")
    };
    let mut extra = Map::new();
    if let Some(t) = &tool {
        extra.insert("tool_name".into(), json!(t));
        extra.insert("tool_use_id".into(), json!("toolu_privacy"));
        extra.insert("tool_input".into(), json!({}));
    }
    let mut v = Value::Object(extra);
    merge(&mut v, build(field, json!(text)));
    (hook.to_string(), v)
}

fn stored(sb: &Sandbox, hook: &str, extra: Value) -> (Value, String) {
    let before = sb.records().len();
    sb.hook(&sb.payload(hook, "privacy", extra)).ok();
    let records = sb.records();
    assert_eq!(records.len(), before + 1, "one record for {hook}");
    let r = records.last().unwrap().clone();
    let line = r.to_string();
    (r, line)
}

#[test]
fn every_field_is_stored_as_the_table_says() {
    let sb = Sandbox::new();
    let mut prompts_off = Sandbox::new();
    prompts_off.set("AGENT_TELEMETRY_CAPTURE_PROMPTS", "false");
    let mut failures = Vec::new();
    let (mut kept, mut digested) = (0, 0);
    for (n, row) in FIELDS.iter().enumerate() {
        let marker = format!("PRIVMARK{n:03}");
        let heredoc = row.treatment == Treatment::KeptHeredocsDigested;
        let (hook, extra) = payload(row.event, row.field, &marker, heredoc);
        let (r, line) = stored(&sb, &hook, extra.clone());
        let got = at(&r["raw_input"], row.field).and_then(Value::as_str).unwrap_or("<absent>").to_string();
        let what = format!("{} {}", row.event, row.field);
        match row.treatment {
            Treatment::Kept | Treatment::Prompt => {
                if got != format!("{marker} some words") {
                    failures.push(format!("{what}: should be kept, stored {got:?}"));
                }
                kept += 1;
            }
            Treatment::Digest => {
                if !got.starts_with("[content omitted: ") || line.contains(&marker) {
                    failures.push(format!(
                        "{what}: should be size + hash, stored {got:?} (marker in record: {})",
                        line.contains(&marker)
                    ));
                }
                digested += 1;
            }
            Treatment::KeptHeredocsDigested => {
                let body = format!("{marker}-body");
                if !got.contains(&format!("{marker}-line"))
                    || !got.contains("[content omitted: ")
                    || line.contains(&body)
                {
                    failures.push(format!("{what}: heredoc body should be size + hash, the rest kept: {got:?}"));
                }
                kept += 1;
            }
        }
        if row.treatment == Treatment::Prompt {
            let (r, line) = stored(&prompts_off, &hook, extra);
            let got = at(&r["raw_input"], row.field).and_then(Value::as_str).unwrap_or("<absent>");
            if !got.starts_with("[content omitted: ") || line.contains(&marker) {
                failures.push(format!("{what}: with capture.prompts off should be size + hash, stored {got:?}"));
            }
        }
    }
    println!("privacy fields: {} rows, {kept} kept, {digested} size + hash", FIELDS.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn heredoc_near_misses_are_kept() {
    // A here-string and a shift are not heredocs: nothing is digested.
    let sb = Sandbox::new();
    for cmd in ["grep x <<< \"$line\"\necho done", "echo $((1<<3))\necho done"] {
        let (r, _) =
            stored(&sb, "PreToolUse", json!({"tool_name": "Bash", "tool_use_id": "t", "tool_input": {"command": cmd}}));
        assert_eq!(r["raw_input"]["tool_input"]["command"], cmd);
    }
}

#[test]
fn the_table_in_the_docs_is_the_table_in_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/security.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let want = markdown_table();
    let start = text.find(BEGIN).expect("docs/security.md has the privacy-fields markers") + BEGIN.len();
    let e = start + text[start..].find(END).expect("end marker");
    if text[start..e] == want {
        return;
    }
    if std::env::var_os("AT_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[e..])).unwrap();
        eprintln!("rewrote the privacy table in {}", path.display());
        return;
    }
    panic!(
        "the privacy table in docs/security.md differs from the code; regenerate it with\n  \
         AT_UPDATE_DOCS=1 cargo test --test fast privacy_fields::\n--- docs\n{}--- code\n{want}",
        &text[start..e]
    );
}
