//! The hook on bad input: every file of `tests/data/bad-inputs/` (and a few 20 MB inputs made at
//! test time) goes through the built binary. Each must exit 0, print nothing on stdout, never
//! panic, append exactly one record (with `input_error.kind` where the input is not a normal
//! payload), and leave a journal that verifies.
//!
//! `EXPECT` says what each corpus file should produce; a corpus file not listed there gets the
//! generic checks only.

use crate::harness::sandbox::*;
use agent_telemetry::record::JournalRecord;
use serde_json::{json, Value};
use std::path::Path;

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// `input_error.kind` is this.
    Kind(&'static str),
    /// A normal record: no `input_error`.
    Clean,
    /// Either (only the generic checks).
    Any,
}
use Expect::*;

/// (file, expected input_error, expected hook_event (salvaged or parsed), fields that must be
/// named in `input_error.fields`).
const EXPECT: &[(&str, Expect, Option<&str>, &[&str])] = &[
    ("empty.bin", Kind("empty"), Some("unknown"), &[]),
    ("whitespace.txt", Kind("empty"), Some("unknown"), &[]),
    ("null.json", Kind("not_an_object"), None, &[]),
    ("empty-array.json", Kind("not_an_object"), None, &[]),
    ("string.json", Kind("not_an_object"), None, &[]),
    ("number.json", Kind("not_an_object"), None, &[]),
    ("bool.json", Kind("not_an_object"), None, &[]),
    ("array-of-payloads.json", Kind("not_an_object"), None, &[]),
    ("truncated.json", Kind("invalid_json"), Some("PreToolUse"), &[]),
    ("truncated-in-value.json", Kind("invalid_json"), None, &[]),
    // Found by fuzzing: a salvaged field whose byte 256 falls inside a multi-byte character.
    ("salvage-multibyte-at-256.json", Kind("invalid_json"), None, &[]),
    ("truncated-mid-escape.json", Kind("invalid_json"), Some("Stop"), &[]),
    ("trailing-garbage.json", Kind("invalid_json"), Some("Stop"), &[]),
    ("two-objects.json", Kind("invalid_json"), Some("Stop"), &[]),
    ("single-brace.json", Kind("invalid_json"), None, &[]),
    ("invalid-utf8-in-string.json", Kind("invalid_utf8"), Some("PreToolUse"), &[]),
    ("invalid-utf8-outside-json.bin", Kind("invalid_utf8"), None, &[]),
    ("latin1.json", Kind("invalid_utf8"), Some("UserPromptSubmit"), &[]),
    ("utf16.json", Kind("invalid_utf8"), None, &[]),
    ("session-id-number.json", Kind("unexpected_types"), Some("Stop"), &["session_id"]),
    ("tool-input-string.json", Kind("unexpected_types"), Some("PreToolUse"), &["tool_input"]),
    ("event-missing.json", Kind("unexpected_types"), Some("unknown"), &["hook_event_name"]),
    ("event-number.json", Kind("unexpected_types"), Some("unknown"), &["hook_event_name"]),
    ("event-null.json", Kind("unexpected_types"), Some("unknown"), &["hook_event_name"]),
    (
        "wrong-types-everywhere.json",
        Kind("unexpected_types"),
        Some("PostToolUse"),
        &[
            "session_id",
            "cwd",
            "tool_name",
            "transcript_path",
            "duration_ms",
            "is_interrupt",
            "permission_mode",
            "prompt_id",
            "agent_id",
            "agent_type",
            "tool_use_id",
        ],
    ),
    ("duration-negative-huge.json", Any, Some("PostToolUse"), &[]),
    ("number-out-of-range.json", Kind("repaired"), Some("PostToolUse"), &[]),
    ("huge-integer.json", Clean, Some("PostToolUse"), &[]),
    ("lone-surrogate.json", Kind("repaired"), Some("UserPromptSubmit"), &[]),
    ("escaped-nul.json", Clean, Some("Notification"), &[]),
    ("raw-nul-in-string.json", Kind("repaired"), Some("Notification"), &[]),
    ("nul-bytes-only.bin", Kind("invalid_json"), None, &[]),
    ("bom.json", Any, Some("Stop"), &[]),
    ("unknown-event.json", Clean, Some("QuantumEntanglement"), &[]),
    ("unknown-fields-known-event.json", Clean, Some("PreToolUse"), &[]),
    ("deep-nesting-100k.json", Kind("invalid_json"), None, &[]),
    ("deep-nesting-closed-in-payload.json", Kind("repaired"), Some("PreToolUse"), &[]),
    ("nesting-at-parser-limit.json", Kind("repaired"), Some("Notification"), &[]),
    ("path-traversal.json", Clean, Some("PreToolUse"), &[]),
    ("control-chars-in-path.json", Clean, Some("PreToolUse"), &[]),
    ("relative-cwd.json", Clean, Some("PreToolUse"), &[]),
    ("structured-patch-wrong.json", Clean, Some("PostToolUse"), &[]),
    ("tool-response-string.json", Clean, Some("PostToolUse"), &[]),
    ("agent-id-traversal.json", Clean, Some("SubagentStop"), &[]),
    ("huge-key-count.json", Clean, Some("Notification"), &[]),
    ("empty-object.json", Kind("unexpected_types"), Some("unknown"), &["hook_event_name"]),
    ("only-whitespace-in-object.json", Kind("unexpected_types"), Some("unknown"), &["hook_event_name"]),
    ("crlf-pretty.json", Clean, Some("Stop"), &[]),
];

const KINDS: &[&str] = &[
    "empty",
    "invalid_json",
    "invalid_utf8",
    "not_an_object",
    "unexpected_types",
    "repaired",
    "too_large",
    "read_error",
    "internal",
];

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad-inputs")
}

/// Runs one input through the hook in `sb`; returns the new record, or every problem found.
fn check(
    sb: &Sandbox,
    name: &str,
    input: &[u8],
    expect: Expect,
    event: Option<&str>,
    fields: &[&str],
) -> Result<Value, Vec<String>> {
    let mut errs = Vec::new();
    let before = journal_lines(&sb.journal_dir()).len();
    let out = sb.hook(input);
    if out.code != 0 {
        errs.push(format!("exit code {} (stderr: {})", out.code, out.stderr));
    }
    if out.stderr.contains("panicked") {
        errs.push(format!("panicked: {}", out.stderr));
    } else if !out.stderr.is_empty() {
        errs.push(format!("stderr: {}", out.stderr));
    }
    if !out.stdout.is_empty() {
        errs.push(format!("stdout: {}", out.stdout));
    }
    let lines = journal_lines(&sb.journal_dir());
    if lines.len() != before + 1 {
        errs.push(format!("{} record(s) appended, want 1", lines.len() - before));
        return Err(errs);
    }
    let v = sb.verify();
    if v.code != 0 {
        errs.push(format!("verify failed: {}", v.stdout));
    }
    // Read back the way the relay and `status` read it (src/journal/read.rs).
    let last = &lines.last().unwrap().2;
    if let Err(e) = serde_json::from_slice::<JournalRecord>(last) {
        errs.push(format!("the record does not read back as a JournalRecord (the relay would skip it): {e}"));
    }
    let r: Value = match serde_json::from_slice(last) {
        Ok(r) => r,
        Err(e) => {
            errs.push(format!("the record does not read back as JSON: {e}"));
            return Err(errs);
        }
    };
    if r["telemetry_enabled"] != json!(true)
        || str_at(&r, "event_type").is_none_or(str::is_empty)
        || str_at(&r, "hook_event").is_none_or(str::is_empty)
    {
        errs.push(format!("record lacks its basic fields: {r}"));
    }
    let kind = str_at(&r, "input_error/kind");
    if let Some(k) = kind {
        if !KINDS.contains(&k) {
            errs.push(format!("unknown input_error.kind {k}"));
        }
        if str_at(&r, "input_error/reason").is_none_or(str::is_empty) {
            errs.push("input_error without a reason".into());
        }
        if str_at(&r, "level") == Some("INFO") {
            errs.push("an input error is not INFO".into());
        }
    }
    match expect {
        Kind(want) if kind != Some(want) => {
            errs.push(format!("input_error.kind = {kind:?}, want {want:?} (input_error: {})", r["input_error"]))
        }
        Clean if kind.is_some() => errs.push(format!("unexpected input_error: {}", r["input_error"])),
        _ => {}
    }
    // Error records (input that is not a payload object) carry the size and hash of the input.
    if matches!(kind, Some("empty" | "invalid_json" | "invalid_utf8" | "not_an_object")) {
        if r["input_error"]["bytes"] != json!(input.len()) {
            errs.push(format!("input_error.bytes = {}, want {}", r["input_error"]["bytes"], input.len()));
        }
        if !input.is_empty() && kind != Some("invalid_utf8") {
            let want = agent_telemetry::enrich::privacy::sha256_hex(input);
            if str_at(&r, "input_error/sha256") != Some(want.as_str()) {
                errs.push(format!("input_error.sha256 = {}, want {want}", r["input_error"]["sha256"]));
            }
        }
    }
    if let Some(e) = event {
        if str_at(&r, "hook_event") != Some(e) {
            errs.push(format!("hook_event = {:?}, want {e:?}", r["hook_event"]));
        }
    }
    let got_fields: Vec<&str> =
        r["input_error"]["fields"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    for f in fields {
        if !got_fields.contains(f) {
            errs.push(format!("input_error.fields {got_fields:?} lacks {f:?}"));
        }
    }
    let mut dedup = got_fields.clone();
    dedup.sort();
    dedup.dedup();
    if dedup.len() != got_fields.len() {
        errs.push(format!("input_error.fields names a field twice: {got_fields:?}"));
    }
    // The stored line is one line of valid JSON whatever the input held (NULs, newlines, escapes).
    let line_len = journal_lines(&sb.journal_dir()).last().map(|(_, _, l)| l.len()).unwrap_or(0);
    if line_len > 1024 * 1024 {
        errs.push(format!("record line is {line_len} bytes"));
    }
    let _ = name; // for debugging: the caller prefixes errors with it
    if errs.is_empty() {
        Ok(r)
    } else {
        Err(errs)
    }
}

#[test]
fn corpus() {
    let sb = Sandbox::new();
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 30, "corpus too small: {}", files.len());
    for (name, ..) in EXPECT {
        assert!(corpus_dir().join(name).exists(), "EXPECT names a missing corpus file {name}");
    }
    let mut failures = Vec::new();
    let mut records = std::collections::BTreeMap::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(path).unwrap();
        let (expect, event, fields) =
            EXPECT.iter().find(|(n, ..)| *n == name).map(|(_, e, ev, f)| (*e, *ev, *f)).unwrap_or((Any, None, &[][..]));
        match check(&sb, &name, &input, expect, event, fields) {
            Ok(r) => {
                records.insert(name, r);
            }
            Err(errs) => failures.push(format!("{name}:\n    {}", errs.join("\n    "))),
        }
    }

    // What specific files must keep.
    if let Some(r) = records.get("unknown-event.json") {
        let raw = &r["raw_input"];
        let mut problems = Vec::new();
        if raw["brand_new_field"] != json!({"nested": [1, {"deep": true}], "n": 3.25}) {
            problems.push(format!("brand_new_field not kept: {}", raw["brand_new_field"]));
        }
        if raw["another_field"] != json!("kept") {
            problems.push("another_field not kept".into());
        }
        if str_at(r, "event_type") != Some("hook_event") || str_at(r, "tool_name") != Some("FutureTool") {
            problems.push(format!("event_type {} tool_name {}", r["event_type"], r["tool_name"]));
        }
        if !problems.is_empty() {
            failures.push(format!("unknown-event.json:\n    {}", problems.join("\n    ")));
        }
    }
    if let Some(r) = records.get("unknown-fields-known-event.json") {
        if r["raw_input"]["x_new_top"] != json!([null, true])
            || r["raw_input"]["tool_input"]["future_option"] != json!({"a": 1})
        {
            failures.push(format!("unknown-fields-known-event.json: unknown fields not kept: {}", r["raw_input"]));
        }
    }
    if let Some(r) = records.get("escaped-nul.json") {
        if str_at(r, "session_id") != Some("nul\u{0}id") {
            failures.push(format!("escaped-nul.json: session_id {}", r["session_id"]));
        }
    }
    if let Some(r) = records.get("invalid-utf8-in-string.json") {
        let cmd = str_at(r, "action_details/command").unwrap_or("");
        if !cmd.contains('\u{FFFD}') || str_at(r, "event_type") != Some("command_execution") {
            failures.push(format!(
                "invalid-utf8-in-string.json: the payload was not read with replacement characters: {r}"
            ));
        }
    }
    if let Some(r) = records.get("path-traversal.json") {
        if r["action_details"]["outside_project_scope"] != json!(true)
            || str_at(r, "action_details/resolved_path") != Some("/etc/shadow")
        {
            failures.push(format!("path-traversal.json: ../ escape not seen: {}", r["action_details"]));
        }
    }
    for name in ["empty-array.json", "string.json", "number.json"] {
        if let Some(r) = records.get(name) {
            let input: Value = serde_json::from_slice(&std::fs::read(corpus_dir().join(name)).unwrap()).unwrap();
            if r["raw_input"] != input {
                failures.push(format!("{name}: raw_input {} (want the input, {input})", r["raw_input"]));
            }
        }
    }
    let excerpt = records.get("truncated.json").and_then(|r| str_at(r, "input_error/excerpt").map(str::to_string));
    if excerpt.as_deref().is_none_or(|e| !e.contains("\"hook_event_name\"")) {
        failures.push(format!("truncated.json: the excerpt should show the start of the input: {excerpt:?}"));
    }
    sb.assert_verified();
    assert!(
        failures.is_empty(),
        "{} of {} corpus file(s) failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

const MB20: usize = 20 * 1024 * 1024;

#[test]
fn huge_inputs() {
    let sb = Sandbox::new();
    let failures = std::cell::RefCell::new(Vec::new());
    let run = |name: &str, input: Vec<u8>, expect: Expect, event: Option<&str>| -> Option<Value> {
        let t = std::time::Instant::now();
        let res = check(&sb, name, &input, expect, event, &[]);
        let took = t.elapsed();
        match res {
            Ok(r) => {
                if took > std::time::Duration::from_secs(20) {
                    failures.borrow_mut().push(format!("{name}: took {took:?}"));
                }
                Some(r)
            }
            Err(errs) => {
                failures.borrow_mut().push(format!("{name}:\n    {}", errs.join("\n    ")));
                None
            }
        }
    };
    let big = "A".repeat(MB20);

    // A 20 MB command: kept redacted and capped (64 KiB by default), with the original size.
    let p = serde_json::to_vec(&json!({"session_id": "huge", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": format!("echo {big}")}, "tool_use_id": "t1"})).unwrap();
    if let Some(r) = run("20MB command", p, Clean, Some("PreToolUse")) {
        let cmd = str_at(&r, "action_details/command").unwrap_or("");
        if cmd.len() > 128 * 1024 || !cmd.contains(&format!("[truncated: {} bytes", MB20 + 5)) {
            failures.borrow_mut().push(format!(
                "20MB command: stored {} bytes: {}",
                cmd.len(),
                &cmd[cmd.len().saturating_sub(120)..]
            ));
        }
    }
    // 20 MB of tool output: size + hash only.
    let p = serde_json::to_vec(&json!({"session_id": "huge", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "cat big"}, "tool_response": {"stdout": big, "stderr": ""}, "tool_use_id": "t2"})).unwrap();
    if let Some(r) = run("20MB stdout", p, Clean, Some("PostToolUse")) {
        let s = str_at(&r, "raw_input/tool_response/stdout").unwrap_or("");
        if !s.starts_with(&format!("[content omitted: {MB20} bytes sha256=")) {
            failures.borrow_mut().push(format!("20MB stdout: {s}"));
        }
    }
    // A 20 MB prompt (prompts are kept by default, capped).
    let p = serde_json::to_vec(&json!({"session_id": "huge", "hook_event_name": "UserPromptSubmit", "prompt": big}))
        .unwrap();
    run("20MB prompt", p, Clean, Some("UserPromptSubmit"));
    // 20 MB that is not JSON, and 20 MB that is not UTF-8.
    let mut junk = b"{\"hook_event_name\":\"Stop\",".to_vec();
    junk.extend(std::iter::repeat_n(b'x', MB20));
    run("20MB not JSON", junk, Kind("invalid_json"), Some("Stop"));
    let bad: Vec<u8> = (0..MB20).map(|i| [0xff, 0xfe, b'a', 0xc3][i % 4]).collect();
    run("20MB invalid UTF-8", bad, Kind("invalid_utf8"), None);
    // 20 MB of nesting.
    run("20MB of [", vec![b'['; MB20], Kind("invalid_json"), None);
    sb.assert_verified();
    let failures = failures.into_inner();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Telemetry off: bad input is not even read as JSON, and nothing is written.
#[test]
fn bad_input_without_marker_writes_nothing() {
    let sb = Sandbox::bare();
    for input in [&b""[..], b"{", b"\xff\xfe", b"null"] {
        sb.hook(input).ok();
    }
    assert!(!sb.data.exists());
}

/// A payload whose `cwd` is the only way to find the project, garbled: exits 0, writes nothing
/// (no marker can be found), never panics.
#[test]
fn garbled_cwd_without_project_dir() {
    let sb = Sandbox::new();
    for input in
        [&br#"{"cwd": 5}"#[..], br#"{"cwd": "relative/path"}"#, br#"{"cwd": "/\u0000/x"}"#, b"{\"cwd\": \"/\xff\"}"]
    {
        let out = sb.hook_env(input, &[("CLAUDE_PROJECT_DIR", "")]);
        out.ok();
    }
}
