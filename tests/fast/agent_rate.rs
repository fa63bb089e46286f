//! `agent_telemetry::rate`: the hook events derived from a session's transcripts are the ones the
//! real CLI fired (the recordings of `tests/data/recordings` hold both), and the small
//! transcripts of `tests/data/rate` give the counts, active time and summary worked out by hand.

use agent_telemetry::rate::{measure, table, Options};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(p)
}

fn all() -> Options {
    Options { min_active_secs: 0, ..Options::default() }
}

/// Every recording: the hook calls the CLI made, by event, against the ones derived from the
/// transcripts it wrote.
#[test]
fn the_derived_hook_events_are_the_real_clis() {
    let mut recordings: Vec<PathBuf> =
        std::fs::read_dir(data("recordings")).unwrap().map(|e| e.unwrap().path()).collect();
    recordings.sort();
    assert_eq!(recordings.len(), 8);
    let (mut real_total, mut derived_total) = (0, 0);
    for rec in recordings {
        let mut real: BTreeMap<String, u64> = BTreeMap::new();
        for line in std::fs::read_to_string(rec.join("hooks.jsonl")).unwrap().lines().filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            *real.entry(v["payload"]["hook_event_name"].as_str().unwrap().to_string()).or_default() += 1;
        }
        let report = measure(&rec.join("root"), &all()).unwrap();
        assert_eq!(report.sessions.len(), 1, "{}", rec.display());
        let mut derived = report.sessions[0].hook_events.clone();
        // The 2.1.328 recordings were made with a recorder that did not register MessageDisplay
        // (those of 2.1.332 did, and it fires there as derived).
        if !real.contains_key("MessageDisplay") {
            assert!(!rec.to_str().unwrap().contains("2.1.332"), "{}", rec.display());
            derived.remove("MessageDisplay");
        }
        assert_eq!(derived, real, "{}", rec.display());
        real_total += real.values().sum::<u64>();
        derived_total += derived.values().sum::<u64>();
    }
    assert_eq!((real_total, derived_total), (177, 177));
}

#[test]
fn counts_active_time_and_subagents_from_small_transcripts() {
    let r = measure(&data("rate"), &all()).unwrap();
    let ids: Vec<&str> = r.sessions.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(ids, ["s1", "s2"]);
    let s1 = &r.sessions[0];
    let ev = |s: &agent_telemetry::rate::SessionRate, n: &str| s.hook_events.get(n).copied().unwrap_or(0);
    // Three prompts (the interruption notice is none); the interrupted turn has no Stop.
    assert_eq!((s1.prompts, s1.turns, ev(s1, "UserPromptSubmit"), ev(s1, "Stop")), (3, 2, 3, 2));
    // Five calls: one refused before it ran (no hooks), one rejected (Pre + Failure).
    assert_eq!((s1.tool_calls, s1.tool_calls_refused, s1.tool_failures), (5, 1, 1));
    assert_eq!((ev(s1, "PreToolUse"), ev(s1, "PostToolUse"), ev(s1, "PostToolUseFailure")), (4, 3, 1));
    // Batches: three messages of the main agent with calls, one of the subagent.
    assert_eq!(ev(s1, "PostToolBatch"), 4);
    // The subagent written into the main transcript counts; the warm-up sidechain does not.
    assert_eq!((s1.subagents, ev(s1, "SubagentStart"), ev(s1, "SubagentStop")), (1, 1, 1));
    assert_eq!(ev(s1, "MessageDisplay"), 3);
    assert_eq!((ev(s1, "SessionStart"), ev(s1, "SessionEnd")), (1, 1));
    assert_eq!(s1.hook_events_total, 24);
    // The hour between the turns is idle: 30 s + 50 s of work.
    assert_eq!(s1.active_secs, 80.0);
    assert!(s1.wall_secs > 3600.0);
    assert_eq!(s1.events_per_hour, 24.0 * 3600.0 / 80.0);
    // A usage of null counts as 0; the warm-up's call is a model call.
    assert_eq!((s1.model_calls, s1.tokens.input, s1.tokens.cache_creation), (8, 80, 0));
    // s2 copied two of s1's entries (same uuids): counted once, in s1.
    let s2 = &r.sessions[1];
    assert_eq!((s2.prompts, s2.model_calls, s2.hook_events_total, s2.active_secs), (1, 1, 5, 30.0));
    // The fleet: both sessions, the median by nearest rank.
    let m = &r.summary;
    assert_eq!((m.sessions, m.hook_events, m.tool_calls), (2, 29, 5));
    assert_eq!((m.events_per_hour.median, m.events_per_hour.p90), (600.0, 1080.0));
    assert_eq!(m.at_median.log_records, 600.0 * 1.32);
    // Sessions shorter than the minimum are listed, not summarised.
    let r = measure(&data("rate"), &Options { min_active_secs: 60, ..Options::default() }).unwrap();
    assert_eq!((r.sessions.len(), r.summary.sessions, r.summary.sessions_short), (2, 1, 1));
    assert_eq!(r.summary.events_per_hour.median, 1080.0);
    // A longer idle threshold keeps the hour.
    let r = measure(&data("rate"), &Options { idle_secs: 7200, min_active_secs: 0 }).unwrap();
    assert!(r.sessions[0].active_secs > 3600.0);
}

#[test]
fn prints_no_content() {
    let r = measure(&data("rate"), &all()).unwrap();
    let out = format!("{}{}", table(&r), serde_json::to_string(&r).unwrap());
    assert!(out.contains("hook events per active agent-hour: median 600, p90 1080"), "{out}");
    for secret in ["secret", "rm -rf", "third prompt", "sub task"] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
}

#[test]
fn a_missing_directory_is_an_error() {
    assert!(measure(Path::new("/nonexistent/rate"), &all()).is_err());
}

/// The sizing model quotes the distribution of `tests/data/rate/public-sessions.csv`: the count,
/// median and p90 in `docs/deployment.md` are the ones its rows give (nearest rank, as
/// `bench-rate` takes them).
#[test]
fn the_sizing_model_quotes_the_measured_sessions() {
    let csv = std::fs::read_to_string(data("rate/public-sessions.csv")).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (rate, kept, repo, commit) =
        (col("events_per_active_hour"), col("in_summary"), col("repository"), col("commit"));
    let mut rates = Vec::new();
    let mut repos = std::collections::BTreeSet::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), head.len(), "{line}");
        assert!(f[repo].contains('/') && f[commit].len() == 40, "every row names its source: {line}");
        if f[kept] == "yes" {
            rates.push(f[rate].parse::<u64>().unwrap());
            repos.insert(f[repo]);
        }
    }
    rates.sort_unstable();
    let at = |p: f64| rates[((p * rates.len() as f64).ceil() as usize).clamp(1, rates.len()) - 1];
    let (n, median, p90) = (rates.len(), at(0.5), at(0.9));
    assert!(n >= 20 && repos.len() >= 10, "{n} sessions from {} repositories", repos.len());
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deployment.md")).unwrap();
    let thousands = |v: u64| if v >= 1000 { format!("{},{:03}", v / 1000, v % 1000) } else { v.to_string() };
    for needle in [
        format!("Over **{n} real sessions**"),
        format!("{} public repositories", repos.len()),
        format!("| hook events | **{}** | **{}** |", thousands(median), thousands(p90)),
        format!("the **p90, {} events per agent-hour**", thousands(p90)),
    ] {
        assert!(doc.contains(&needle), "docs/deployment.md does not say {needle:?}");
    }
}
