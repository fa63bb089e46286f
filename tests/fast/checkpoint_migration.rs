//! A relay resumes from a checkpoint the previous format wrote (tests/data/checkpoints, see
//! tests/data/README.md): version 2, taken midway through the subagents fixture with the
//! session, its turn, two `Agent` calls and a subagent open and a finished subagent waiting for
//! the call that spawned it.
//!
//! The relay of this release loads it, exports the rest of the journal and ends every span that
//! was open whole (started before the checkpoint, ended after): each span it sends is the very
//! span a relay exporting the same journal from scratch sends, with the ids the version-2 relay
//! derived; nothing exported before the checkpoint is sent again (its position still holds, so
//! the at-least-once window is empty) and nothing is missing.

use crate::harness::relay;
use relay::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const RELAY_TIMEOUT: Duration = Duration::from_secs(60);
/// The segment the checkpoint points into.
const SEGMENT: &str = "20261207-000000.jsonl";
/// The fixture's records: seq 0..=26 (the relay may append records of its own after them).
const RECORDS: u64 = 27;

fn data_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/checkpoints").join(name)
}

/// A data dir holding the stored journal, and the stored version-2 checkpoint if `resume`.
fn setup(prefix: &str, resume: bool) -> Install {
    let env = Install::new(prefix);
    std::fs::create_dir_all(env.data.join("journal")).unwrap();
    std::fs::copy(data_file("v2-subagents-midway.journal.jsonl"), env.data.join("journal").join(SEGMENT)).unwrap();
    if resume {
        std::fs::create_dir_all(env.data.join("relay")).unwrap();
        std::fs::copy(data_file("v2-subagents-midway.json"), env.data.join("relay/checkpoint.json")).unwrap();
    }
    env
}

/// `relay --once` with the stored records' times far in the past: no span is closed, and no
/// session reported silent, for the time that passed since they were recorded.
fn relay(env: &Install) -> String {
    let never = ("AGENT_TELEMETRY_SPAN_TIMEOUT_SECS", "3153600000");
    let quiet = ("AGENT_TELEMETRY_SESSION_SILENCE_SECS", "3153600000");
    relay_once(env, &Dest::File, &[never, quiet], RELAY_TIMEOUT)
}

fn seq(l: &Log) -> u64 {
    l.attr("agent_telemetry.seq").and_then(|s| s.parse().ok()).expect("a log record names its seq")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn a_relay_resumes_from_a_version_2_checkpoint_with_every_span_whole() {
    let v2 = read_json(&data_file("v2-subagents-midway.json"));
    assert_eq!(v2["version"], 2, "the stored checkpoint is of the previous format");
    let last_seq = v2["last_seq"].as_u64().unwrap();
    let exported_spans = v2["exported_spans"].as_u64().unwrap() as usize;

    let resumed = setup("checkpoint-v2-resume-", true);
    let said = relay(&resumed);
    assert!(!said.contains("could not be read"), "the open spans were lost: {said}");
    assert!(!said.contains("does not end at the record"), "the checkpoint's position did not hold: {said}");
    assert!(!said.contains("unreadable checkpoint"), "{said}");
    let (spans, logs) = read_otlp(&resumed.data, (0, 0));

    let scratch = setup("checkpoint-v2-scratch-", false);
    relay(&scratch);
    let (all_spans, all_logs) = read_otlp(&scratch.data, (0, 0));
    assert_eq!(
        all_spans.len(),
        exported_spans + spans.len(),
        "what the version-2 relay exported and what the resumed relay exported are all the spans, none twice"
    );

    // Each span sent after the resume is the span a relay sends from scratch, to the byte: start,
    // end, parent, attributes, events, status.
    let all: BTreeSet<&Span> = all_spans.iter().collect();
    for s in &spans {
        assert!(all.contains(s), "resumed span differs from the one exported from scratch: {s:#?}");
    }
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(ids.len(), spans.len(), "no span sent twice");

    // The spans open at the checkpoint ended whole, with the ids the version-2 relay derived.
    let asm = &v2["assembler"];
    let mut was_open: Vec<&Value> = asm["open"].as_object().unwrap().values().collect();
    was_open.extend(asm["waiting_for_parent"].as_object().unwrap().values());
    assert_eq!(was_open.len(), 6);
    for old in was_open {
        let id = old["span_id"].as_str().unwrap();
        let s = spans
            .iter()
            .find(|s| s.span_id == id)
            .unwrap_or_else(|| panic!("span {id} ({}) open at the checkpoint was not exported", old["name"]));
        assert_eq!(s.start, old["start"].as_u64().unwrap(), "{}: its start from before the checkpoint", s.name);
        assert_eq!(s.trace_id, old["trace_id"].as_str().unwrap(), "{}", s.name);
        assert!(s.end >= s.start);
        assert!(s.attr("agent_telemetry.span.incomplete").is_none(), "{}: ended by its own end event", s.name);
    }
    // The subagent that was waiting: under the `Agent` call that spawned it.
    let waiting = asm["waiting_for_parent"].as_object().unwrap().values().next().unwrap();
    let spawned_by = spans
        .iter()
        .find(|s| {
            s.name == "execute_tool Agent" && s.attr("agent_telemetry.spawned_agent_id") == Some("a70c289becd5bd04f")
        })
        .expect("the Agent call that spawned the waiting subagent");
    let sub = spans.iter().find(|s| s.span_id == waiting["span_id"].as_str().unwrap()).unwrap();
    assert_eq!(sub.parent.as_deref(), Some(spawned_by.span_id.as_str()));

    // Log records: exactly the records after the checkpoint, as a relay from scratch sends them.
    let fixture = |l: &&Log| seq(l) < RECORDS;
    let sent: Vec<u64> = logs.iter().filter(fixture).map(seq).collect();
    assert_eq!(sent, (last_seq + 1..RECORDS).collect::<Vec<_>>(), "each record after the checkpoint once, none before");
    let want: BTreeSet<&Log> = all_logs.iter().filter(fixture).filter(|l| seq(l) > last_seq).collect();
    let got: BTreeSet<&Log> = logs.iter().filter(fixture).collect();
    assert_eq!(got, want, "resumed log records differ from the ones exported from scratch");

    // The checkpoint is now of this release's format, in its spelling.
    let v3 = read_json(&resumed.data.join("relay/checkpoint.json"));
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["exported_spans"].as_u64().unwrap() as usize, exported_spans + spans.len());
    let text = v3.to_string();
    for old in ["\"Session:", "\"Tool:", "\"Turn:", "\"Subagent:", "\"role\":\"Tool\""] {
        assert!(!text.contains(old), "{old} left in the version-3 checkpoint");
    }
}
