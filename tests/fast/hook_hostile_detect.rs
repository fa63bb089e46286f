//! Detection by effect and by kind, over three probe corpora with benign near misses:
//! `dark.jsonl` (going dark: the marker, Claude Code's settings, the managed settings, the data
//! dir and our own commands, reached through any program, glob, `find` filter, substitution or
//! interpreter one-liner that builds the name at run time), `sensitive.jsonl` (the catalogue of
//! sensitive files by kind, through `Read`, commands, case variants, unnormalised paths, and key
//! material recognised in what a `Read` or a command returned) and `risky.jsonl` (recursive
//! deletes of system directories, program names in other spellings, symbolic chmod modes,
//! destructive git, history switched off through variables, reverse shells in other shapes).
//!
//! Each row runs through the built hook in enforce mode: `cmd` as a Bash call, or `tool` with
//! `input`; with `response` it is a PostToolUse carrying that `tool_response`, else a
//! PreToolUse. A row with `expect` rules must raise all of them (exit 2 when one is a deny rule,
//! at PreToolUse); a row without must raise no finding. Rates per family are printed
//! (docs/security.md quotes them) and must stay at 100% caught, 0 false alarms.
//!
//! Placeholders: `$P/` the project, `$H/` the home dir, `$DATA` the data dir.

use crate::hook_hostile_commands::{fill, hostile_sandbox};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn load(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{}/tests/data/hostile/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn fill_value(sb: &crate::harness::sandbox::Sandbox, v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(fill(sb, s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_value(sb, x)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), fill_value(sb, x))).collect()),
        other => other.clone(),
    }
}

#[derive(Default, Debug)]
struct Rates {
    caught: u32,
    tried: u32,
    false_alarms: u32,
    benign: u32,
}

fn run(file: &str) -> (BTreeMap<String, Rates>, Vec<String>) {
    let sb = hostile_sandbox();
    let mut rates: BTreeMap<String, Rates> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, row) in load(file).iter().enumerate() {
        let family = row["family"].as_str().unwrap_or(file).to_string();
        let (tool, input) = match row.get("cmd").and_then(Value::as_str) {
            Some(cmd) => ("Bash".to_string(), json!({"command": fill(&sb, cmd)})),
            None => (row["tool"].as_str().unwrap().to_string(), fill_value(&sb, &row["input"])),
        };
        let response = row.get("response").map(|r| fill_value(&sb, r));
        let event = if response.is_some() { "PostToolUse" } else { "PreToolUse" };
        let mut payload = json!({
            "session_id": "s-detect", "transcript_path": "/nonexistent.jsonl", "cwd": sb.project,
            "hook_event_name": event, "tool_name": tool, "tool_use_id": format!("toolu_{i}"),
            "tool_input": input
        });
        if let Some(r) = response {
            payload["tool_response"] = r;
        }
        let out = sb.hook(payload.to_string().as_bytes());
        out.no_panic();
        let r = sb.records().pop().unwrap();
        let findings = r["security"]["findings"].as_array().cloned().unwrap_or_default();
        let rules: Vec<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
        let denies = event == "PreToolUse" && findings.iter().any(|f| f["action"] == "deny");
        let want_exit = if denies { 2 } else { 0 };
        let what = row.get("cmd").cloned().unwrap_or_else(|| row["input"].clone());
        if out.code != want_exit {
            failures.push(format!("{what}: exit {} (want {want_exit}), findings {rules:?}", out.code));
        }
        let expect: Vec<&str> = row["expect"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let e = rates.entry(family).or_default();
        if expect.is_empty() {
            e.benign += 1;
            if !rules.is_empty() {
                e.false_alarms += 1;
                failures.push(format!("benign {what}: flagged {rules:?}"));
            }
        } else {
            e.tried += 1;
            let missing: Vec<&&str> = expect.iter().filter(|x| !rules.contains(x)).collect();
            if missing.is_empty() {
                e.caught += 1;
            } else {
                failures.push(format!("hostile {what}: missed {missing:?} (got {rules:?})"));
            }
        }
    }
    sb.assert_verified();
    (rates, failures)
}

fn check(file: &str, min_tried: u32, min_benign: u32) {
    let (rates, failures) = run(file);
    for (family, r) in &rates {
        println!(
            "{file} {family}: caught {}/{}; false alarms {}/{} benign",
            r.caught, r.tried, r.false_alarms, r.benign
        );
    }
    let tried: u32 = rates.values().map(|r| r.tried).sum();
    let benign: u32 = rates.values().map(|r| r.benign).sum();
    assert!(tried >= min_tried && benign >= min_benign, "corpus too small: {tried} hostile, {benign} benign");
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn going_dark_by_effect() {
    check("dark.jsonl", 70, 25);
}

#[test]
fn sensitive_files_by_kind() {
    check("sensitive.jsonl", 85, 35);
}

#[test]
fn risky_commands_in_other_spellings() {
    check("risky.jsonl", 110, 45);
}

/// A held-out set, written after the three corpora above passed and run once before any fix:
/// its first-run rates are the honest measure (docs/security.md). Misses are printed, not
/// hidden; the assertion is that no result gets worse than the recorded one.
#[test]
fn held_out_detection() {
    let (rates, failures) = run("detect-heldout.jsonl");
    for (family, r) in &rates {
        println!(
            "detect-heldout {family}: caught {}/{}; false alarms {}/{} benign",
            r.caught, r.tried, r.false_alarms, r.benign
        );
    }
    for f in &failures {
        println!("  known: {f}");
    }
    let caught: u32 = rates.values().map(|r| r.caught).sum();
    let false_alarms: u32 = rates.values().map(|r| r.false_alarms).sum();
    assert!(
        caught >= HELD_OUT_CAUGHT && false_alarms == HELD_OUT_FALSE_ALARMS,
        "worse than recorded: {}",
        failures.join("\n")
    );
}

/// First run (before any fix): going dark 18/22, risky 33/34, sensitive 25/25 caught (76/81);
/// false alarms 0/8, 1/11, 1/12 (2/31). After the misses' classes were closed (`find … | xargs
/// rm`, a tree moved by an interpreter, a substitution expanded into `sh -c` code, `xargs` fed a
/// here-string, `require("net")`, dry-run pushes, documents named like credentials): 81/81, 0/31.
const HELD_OUT_CAUGHT: u32 = 81;
const HELD_OUT_FALSE_ALARMS: u32 = 0;
