//! The hostile payload corpus (`tests/data/hostile/payloads.jsonl`): whole hook payloads, as raw
//! text (lone surrogates, duplicate keys and deep nesting cannot be written any other way), each
//! run through the built hook in enforce mode. Classes: analysis on the raw payload
//! (`analyse-raw`), lenient parsing (`lenient`), tools with paths (`tools`), going dark
//! (`tampering`), every field redacted before capping (`fields`), no tool output with content
//! capture off (`privacy`), files named by the payload (`files`).
//!
//! Each probe must: exit with `exit` within 10 s, never panic, append records that verify, raise
//! every rule in `expect`, store none of the `absent` strings anywhere in the journal, and hold
//! each `present` [pointer, substring]. Counts per class are printed and asserted.
//! Placeholders: `$P` the project, `$H` the home dir, `$DATA` the data dir.

use crate::harness::sandbox::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn corpus() -> Vec<Value> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hostile/payloads.jsonl")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn fill(sb: &Sandbox, s: &str) -> String {
    s.replace("$P", &sb.project.display().to_string())
        .replace("$H", &sb.home.display().to_string())
        .replace("$DATA", &sb.data.display().to_string())
}

/// Runs the hook with a deadline: a hook that blocks is a failure, not a hung test.
fn hook_with_deadline(sb: &Sandbox, input: &[u8], env: &[(String, String)]) -> Result<(i32, String), String> {
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut child = sb
        .command(&["hook"], &extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return Ok((status.code().unwrap_or(-1), err));
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the hook did not finish within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn hostile_payloads() {
    let mut sb = Sandbox::new();
    let (p, h) = (sb.project.clone(), sb.home.clone());
    std::fs::create_dir_all(p.join(".claude")).unwrap();
    std::fs::create_dir_all(h.join(".config/agent-telemetry")).unwrap();
    std::fs::create_dir_all(h.join(".ssh")).unwrap();
    std::fs::write(p.join(".claude/settings.json"), "{}").unwrap();
    std::fs::write(p.join("README.md"), "readme\n").unwrap();
    std::os::unix::fs::symlink("/etc/ssh", p.join("link-to-etc-ssh")).unwrap();
    let fifo = std::ffi::CString::new(p.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let gh = "ghp_QQQQQQQQabcdefghijklmnopqrstuvwx12";
    std::fs::write(h.join("bad-config.toml"), format!("[export]\nendpont = \"{gh}\"\n")).unwrap();
    std::fs::write(
        h.join("bad-policy.toml"),
        format!(
            "[[rules]]\nid = \"{gh}\"\ntarget = \"command\"\npattern = \"x\"\nseverity = \"low\"\naction = \"Deny\"\n"
        ),
    )
    .unwrap();
    sb.set("AGENT_TELEMETRY_ENFORCE", "1");

    let mut per_class: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in corpus() {
        let name = row["name"].as_str().unwrap();
        let class = row["class"].as_str().unwrap().to_string();
        let raw = fill(&sb, row["raw"].as_str().unwrap());
        let env: Vec<(String, String)> = row["env"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), fill(&sb, v.as_str().unwrap()))).collect())
            .unwrap_or_default();
        let before = sb.records().len();
        let mut errs = Vec::new();
        match hook_with_deadline(&sb, raw.as_bytes(), &env) {
            Err(e) => errs.push(e),
            Ok((code, stderr)) => {
                if stderr.contains("panicked") {
                    errs.push(format!("panicked: {stderr}"));
                }
                let want = row["exit"].as_i64().unwrap() as i32;
                if code != want {
                    errs.push(format!("exit {code}, want {want} ({stderr})"));
                }
            }
        }
        let records = sb.records();
        match records.get(before..).filter(|r| !r.is_empty()) {
            None => errs.push("no record appended".into()),
            Some(new) => {
                let r = new.last().unwrap();
                let rules: Vec<&str> = r["security"]["findings"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f["rule"].as_str()).collect())
                    .unwrap_or_default();
                for e in row["expect"].as_array().unwrap().iter().filter_map(Value::as_str) {
                    if !rules.contains(&e) {
                        errs.push(format!("missed {e} (got {rules:?})"));
                    }
                }
                for pr in row["present"].as_array().unwrap() {
                    let (ptr, want) = (pr[0].as_str().unwrap(), fill(&sb, pr[1].as_str().unwrap()));
                    let got = r.pointer(ptr).and_then(Value::as_str).unwrap_or("");
                    if !got.contains(&want) {
                        errs.push(format!("{ptr} = {got:?}, want it to contain {want:?}"));
                    }
                }
            }
        }
        // Nothing stored anywhere in the journal may hold an absent string.
        for a in row["absent"].as_array().unwrap().iter().filter_map(Value::as_str) {
            for (path, n, line) in journal_lines(&sb.journal_dir()) {
                if contains_bytes(&line, a.as_bytes()) {
                    errs.push(format!("{a:?} stored in {}:{n}", path.display()));
                }
            }
        }
        let e = per_class.entry(class).or_default();
        e.0 += 1;
        if errs.is_empty() {
            e.1 += 1;
        } else {
            failures.push(format!("{name}: {}", errs.join("; ")));
        }
    }
    for (class, (tried, held)) in &per_class {
        println!("hostile payloads [{class}]: held {held}/{tried}");
    }
    let (tried, held) = per_class.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("hostile payloads: held {held}/{tried}");
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
    assert_eq!(held, tried);
    assert!(tried >= 45);
    sb.assert_verified();
}
