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
