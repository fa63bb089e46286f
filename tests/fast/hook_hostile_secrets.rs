//! The secret corpus (`tests/data/hostile/secrets.jsonl`): for every kind, a positive example
//! whose `secret` must not survive redaction (and whose kind is named), and a near miss that must
//! be left exactly as it is. Also: the keyword prefilter is a superset of every rule's matches
//! on these examples, and a secret straddling the cap is removed whole.

use agent_telemetry::enrich::redact::{self, Redactor, RULES};
use serde_json::Value;

fn corpus() -> Vec<Value> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hostile/secrets.jsonl")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_kind_positive_and_near_miss() {
    let rows = corpus();
    let (mut held, mut quiet) = (0, 0);
    let mut failures = Vec::new();
    for row in &rows {
        let (kind, pos, secret, neg) = (
            row["kind"].as_str().unwrap(),
            row["positive"].as_str().unwrap(),
            row["secret"].as_str().unwrap(),
            row["negative"].as_str().unwrap(),
        );
        let mut r = Redactor::new();
        let out = r.redact(pos).unwrap_or_else(|| pos.to_string());
        if out.contains(secret) || !r.kinds.contains(&kind) {
            failures.push(format!("{kind}: {pos:?} -> {out:?} (kinds {:?})", r.kinds));
        } else {
            held += 1;
        }
        let mut r = Redactor::new();
        match r.redact(neg) {
            None => quiet += 1,
            Some(o) => failures.push(format!("{kind} near miss redacted: {neg:?} -> {o:?}")),
        }
    }
    let kinds: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r["kind"].as_str()).collect();
    println!(
        "secrets: {held}/{} positives redacted, {quiet}/{} near misses left alone, {} kinds",
        rows.len(),
        rows.len(),
        kinds.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(kinds.len() >= 40, "{} kinds", kinds.len());
    // Every rule has a positive example.
    for rule in RULES {
        assert!(kinds.contains(rule.kind), "no example for {}", rule.kind);
    }
}

#[test]
fn prefilter_is_a_superset_on_every_example() {
    for row in corpus() {
        for field in ["positive", "negative"] {
            let text = row[field].as_str().unwrap();
            let cands = redact::candidates(text);
            for (i, rule) in RULES.iter().enumerate() {
                if redact::matches_unfiltered(i, text) {
                    assert!(cands[i], "the prefilter of {} hides a match in {text:?}", rule.kind);
                }
            }
        }
    }
}

#[test]
fn secrets_straddling_the_cap_never_survive() {
    // Every positive, placed so that the cap cuts through the secret at each offset.
    let mut tried = 0;
    for row in corpus() {
        let (pos, secret) = (row["positive"].as_str().unwrap(), row["secret"].as_str().unwrap());
        let at = pos.find(secret).unwrap();
        for cut in [at + 1, at + secret.len() / 2, at + secret.len() - 1] {
            let mut r = Redactor::new();
            let (out, _) = r.redact_capped(pos, cut);
            let out = out.unwrap_or_else(|| pos[..cut.min(pos.len())].to_string());
            // The markers name kinds (`[REDACTED:rubygems_token]`): not the secret.
            let out = strip_markers(&out);
            // No run of 8 bytes of the secret may be stored.
            for w in secret.as_bytes().windows(8.min(secret.len())) {
                assert!(
                    !out.as_bytes().windows(w.len()).any(|x| x == w),
                    "cap {cut} of {pos:?} kept {:?} in {out:?}",
                    String::from_utf8_lossy(w)
                );
            }
            tried += 1;
        }
    }
    println!("cap straddling: {tried} cuts, none kept a secret");
}

fn strip_markers(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("[REDACTED:") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find(']').map(|e| &rest[i + e + 1..]).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Secrets where no rule looks (a key that names a secret, the event and tool names, an unknown
/// top-level key, an MCP tool's input) and secrets a cap cuts (the prompt, a captured output,
/// the excerpt of a payload that is not JSON): none may reach the stored line. Each case has a
/// near miss that must be stored unchanged.
#[test]
fn secrets_in_unexpected_places_and_across_caps_are_not_stored() {
    use crate::harness::sandbox::Sandbox;
    use serde_json::json;
    let gh = format!("ghp_{}", "Zy8Xw7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf9EdCbA");
    let opaque = "q8XzR2mN5vB1tY7uK3pL9wQ4sD6fG0hJ"; // a secret of no known shape
    let mut sb = Sandbox::new();
    sb.set("AGENT_TELEMETRY_CAPTURE_MAX_BYTES", "64");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("an unknown top-level key naming a secret", sb.payload("Notification", "s1", json!({"api_key": opaque})), opaque),
        ("a nested MCP input key", sb.payload("PreToolUse", "s1", json!({"tool_name": "mcp__crm__login", "tool_use_id": "t1", "tool_input": {"auth": {"client_secret": opaque}}})), opaque),
        ("the tool name", sb.payload("PreToolUse", "s1", json!({"tool_name": format!("mcp__x__{gh}"), "tool_use_id": "t2", "tool_input": {}})), &gh),
        ("the event name", sb.payload(&gh, "s1", json!({})), &gh),
        ("an unknown key's value", sb.payload("Stop", "s1", json!({"x_debug": format!("env GH={gh}")})), &gh),
        // Caps at 64 bytes: the secret starts before the cap and runs past it.
        ("the prompt across the cap", sb.payload("UserPromptSubmit", "s1", json!({"prompt": format!("{} {gh} tail", "w".repeat(50))})), &gh),
        ("an unknown token across the cap", sb.payload("UserPromptSubmit", "s1", json!({"prompt": format!("{} {opaque}", "w ".repeat(25))})), &opaque[..12]),
        ("a non-JSON payload's excerpt", format!("{{\"hook_event_name\": \"Stop\", {} {gh}", "x".repeat(1000)).into_bytes(), &gh),
    ];
    let mut failures = Vec::new();
    for (what, payload, secret) in &cases {
        sb.hook(payload).ok();
        let line = sb.records().last().unwrap().to_string();
        // Any 12 bytes of the secret is a usable piece.
        let s = secret.as_bytes();
        if s.windows(12.min(s.len())).any(|w| line.contains(std::str::from_utf8(w).unwrap())) {
            failures.push(format!("{what}: {line}"));
        }
    }
    // Near misses: stored as they are.
    let near: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            sb.payload("Notification", "s1", json!({"token_type": "bearer-ish-kind"})),
            "/raw_input/token_type",
            "bearer-ish-kind",
        ),
        (
            sb.payload("Notification", "s1", json!({"password_file": "/run/secrets/db"})),
            "/raw_input/password_file",
            "/run/secrets/db",
        ),
        (
            sb.payload(
                "PreToolUse",
                "s1",
                json!({"tool_name": "mcp__github__get_issue", "tool_use_id": "t3", "tool_input": {"issue": "42"}}),
            ),
            "/tool_name",
            "mcp__github__get_issue",
        ),
        (
            sb.payload("UserPromptSubmit", "s1", json!({"prompt": "short prompt, nothing to cut"})),
            "/raw_input/prompt",
            "short prompt, nothing to cut",
        ),
    ];
    for (payload, pointer, want) in &near {
        sb.hook(payload).ok();
        let r = sb.records().last().unwrap().clone();
        if r.pointer(pointer).and_then(|v| v.as_str()) != Some(*want) {
            failures.push(format!("near miss changed at {pointer}: {}", r));
        }
    }
    println!("unexpected places and caps: {} cases, {} near misses", cases.len(), near.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_cap_never_keeps_a_prefix_of_a_token_like_run() {
    // No rule knows this token; the cap at 20 bytes would keep 12 bytes of it.
    let text = format!("id: {}", "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9");
    let mut r = Redactor::new();
    let (out, cut) = r.redact_capped(&text, 20);
    assert!(cut);
    assert_eq!(out.unwrap(), "id: ", "cut back to before the run");
    // Near miss: a cut between words keeps what it can.
    let (out, _) = Redactor::new().redact_capped("a few short words here", 12);
    assert_eq!(out.unwrap(), "a few short ");
}
