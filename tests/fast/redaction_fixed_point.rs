//! The oracle for the hook's redaction: every record the hook builds, from every hostile corpus
//! (`tests/data/hostile/*.jsonl`, the fuzzer's finds), the secret examples placed in a command,
//! a prompt, a key and an unknown field, and the recorded sessions, is a fixed point of the full
//! redaction: a fresh [`Redactor`] (no memory of what it searched before) finds nothing left to
//! redact in any string or key of it. The hook searches each string once and remembers the ones
//! it found clean (see `enrich::redact`); this proves the record is what searching everything
//! again would give.

use agent_telemetry::config::Config;
use agent_telemetry::enrich::policy::Policy;
use agent_telemetry::enrich::redact::Redactor;
use agent_telemetry::enrich::{Enricher, HookEnv};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn hostile(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn tool_payload(project: &Path, tool: &str, input: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "session_id": "s-oracle", "transcript_path": "/nonexistent.jsonl", "cwd": project,
        "hook_event_name": "PreToolUse", "tool_name": tool, "tool_use_id": "toolu_oracle", "tool_input": input,
    }))
    .unwrap()
}

/// Every input: (what it is, the stdin bytes).
fn inputs(project: &Path, home: &Path, data: &Path) -> Vec<(String, Vec<u8>)> {
    let fill = |s: &str| {
        s.replace("$P", &project.display().to_string())
            .replace("$H", &home.display().to_string())
            .replace("$DATA", &data.display().to_string())
    };
    let mut out = Vec::new();
    for f in ["commands.jsonl", "dark.jsonl", "detect-heldout.jsonl", "heldout.jsonl", "risky.jsonl"] {
        for row in hostile(f) {
            // A command, or a payload's `tool_input` as it is.
            let input = match &row["cmd"] {
                Value::String(cmd) => json!({ "command": cmd }),
                other => other.clone(),
            };
            out.push((format!("{f}: {}", row["cmd"]), tool_payload(project, "Bash", input)));
        }
    }
    for row in hostile("sequences.jsonl") {
        for cmd in row["cmds"].as_array().unwrap() {
            out.push((format!("sequences.jsonl: {cmd}"), tool_payload(project, "Bash", json!({ "command": cmd }))));
        }
    }
    for row in hostile("sensitive.jsonl") {
        // A tool's input, or a command.
        let (tool, input) = match (row["tool"].as_str(), row["cmd"].as_str()) {
            (Some(tool), _) => (tool, row["input"].clone()),
            (None, cmd) => ("Bash", json!({ "command": cmd })),
        };
        out.push((format!("sensitive.jsonl: {tool} {input}"), tool_payload(project, tool, input)));
    }
    for row in hostile("payloads.jsonl") {
        out.push((format!("payloads.jsonl: {}", row["name"]), fill(row["raw"].as_str().unwrap()).into_bytes()));
    }
    for row in hostile("secrets.jsonl") {
        let kind = row["kind"].as_str().unwrap();
        for field in ["positive", "negative"] {
            let text = row[field].as_str().unwrap();
            let what = format!("secrets.jsonl: {kind} {field}");
            out.push((format!("{what} as a command"), tool_payload(project, "Bash", json!({ "command": text }))));
            out.push((
                format!("{what} as a key"),
                tool_payload(project, "Bash", json!({ "command": "ls", text: "x" })),
            ));
            out.push((
                format!("{what} as a prompt and an unknown field"),
                serde_json::to_vec(&json!({
                    "session_id": text, "cwd": project, "hook_event_name": "UserPromptSubmit", "prompt": text,
                    "unknown": {"nested": [text]},
                }))
                .unwrap(),
            ));
        }
    }
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile/fuzz-found");
    for e in std::fs::read_dir(&fuzz).unwrap() {
        let p = e.unwrap().path();
        out.push((format!("fuzz-found: {}", p.display()), std::fs::read(&p).unwrap()));
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures");
    for dir in std::fs::read_dir(&fixtures).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
                let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
                let text = v["payload"]
                    .to_string()
                    .replace("/home/user/projects/demo", &project.display().to_string())
                    .replace("/home/user", &home.display().to_string());
                out.push((format!("{}:{}", f.display(), i + 1), text.into_bytes()));
            }
        }
    }
    out
}

/// Every string and key of `v` that a fresh redactor would still change.
fn left_to_redact(v: &Value, at: &str, out: &mut Vec<String>) {
    fn check(s: &str, what: &str, out: &mut Vec<String>) {
        if let Some(r) = Redactor::new().redact(s) {
            out.push(format!("{what}: {s:?} -> {r:?}"));
        }
    }
    match v {
        Value::String(s) => check(s, at, out),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, x)| left_to_redact(x, &format!("{at}/{i}"), out)),
        Value::Object(map) => {
            for (k, x) in map {
                check(k, &format!("{at} (key)"), out);
                left_to_redact(x, &format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_stored_string_is_a_fixed_point_of_the_full_redaction() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let (home, data) = (root.join("home"), root.join("data"));
    let project: PathBuf = home.join("projects/demo");
    std::fs::create_dir_all(&project).unwrap();
    let cfg = Config { data_dir: data.clone(), config_path: data.join("config.toml"), ..Config::default() };
    let policy = Policy::builtin();
    let env = HookEnv {
        project_dir: Some(project.clone()),
        home: Some(home.clone()),
        entrypoint: Some("cli".into()),
        ..HookEnv::default()
    };
    let enricher =
        Enricher { config: &cfg, policy: &policy, policy_error: None, env: &env, project_root: Some(project.clone()) };
    let inputs = inputs(&project, &home, &data);
    let (mut failures, mut strings, mut redacted) = (Vec::new(), 0usize, 0u32);
    for (what, input) in &inputs {
        let rec = enricher.record(input, 1_800_000_000_000_000_000);
        redacted += rec.security.redactions;
        let v = serde_json::to_value(&rec).unwrap();
        let mut left = Vec::new();
        left_to_redact(&v, "", &mut left);
        strings += count_strings(&v);
        failures.extend(left.into_iter().map(|l| format!("{what}: {l}")));
    }
    println!(
        "redaction fixed point: {} records, {strings} strings and keys, {redacted} redactions, {} left to redact",
        inputs.len(),
        failures.len()
    );
    assert!(inputs.len() > 1000, "{} inputs", inputs.len());
    assert!(redacted > 100, "the corpora hold secrets: {redacted} redactions");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn count_strings(v: &Value) -> usize {
    match v {
        Value::String(_) => 1,
        Value::Array(items) => items.iter().map(count_strings).sum(),
        Value::Object(map) => map.len() + map.values().map(count_strings).sum::<usize>(),
        _ => 0,
    }
}
