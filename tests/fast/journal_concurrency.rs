//! The journal under concurrent hooks, segment rotation and a torn last line.

use crate::harness::sandbox::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

/// 100 hook processes at once (all spawned, each blocked on its stdin, then all released) give
/// 100 records with seqs 0..99, every line whole, and a chain that verifies.
#[test]
fn hundred_hooks_at_once() {
    const N: usize = 100;
    let sb = Sandbox::new();
    let mut children = Vec::with_capacity(N);
    for i in 0..N {
        let mut c = sb.command(&["hook"], &[]);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        children.push((i, c.spawn().expect("spawn hook")));
    }
    // Every process exists now; release them all as fast as possible.
    for (i, child) in children.iter_mut() {
        let payload = sb.payload(
            "PreToolUse",
            "concurrent-session",
            json!({"tool_name": "Bash", "tool_use_id": format!("toolu_{i:03}"), "tool_input": {"command": format!("echo {i}")}}),
        );
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&payload).unwrap();
        // dropped: EOF
    }
    for (i, child) in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "hook {i}: {stderr}");
        assert!(stderr.is_empty(), "hook {i}: {stderr}");
    }
    // Every line is a complete JSON record (records() panics otherwise).
    let records = sb.records();
    assert_eq!(records.len(), N);
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..N as u64).collect::<Vec<_>>(), "seqs in file order are 0..{N}");
    let ids: BTreeSet<&str> = records.iter().map(|r| str_at(r, "tool_context/tool_use_id").unwrap()).collect();
    assert_eq!(ids.len(), N, "every hook's record is there exactly once");
    for w in records.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"]);
    }
    sb.assert_verified();
    let v = sb.verify();
    assert!(v.stdout.contains(&format!("{N} record(s)")), "{}", v.stdout);
}

/// A small `segment_max_bytes` rolls the journal over to new segments; the chain continues
/// across them (each segment's first `prev_hash` is the previous segment's last `hash`).
#[test]
fn segments_rotate_and_the_chain_continues() {
    let mut sb = Sandbox::new();
    sb.set("AGENT_TELEMETRY_SEGMENT_MAX_BYTES", "3000");
    for i in 0..12 {
        let p = sb.payload(
            "UserPromptSubmit",
            "rotate",
            json!({"prompt": format!("prompt number {i}"), "prompt_id": format!("p{i}")}),
        );
        sb.hook(&p).ok();
    }
    let segs = sb.segments();
    assert!(segs.len() >= 3, "expected several segments, got {segs:?}");
    let mut last_hash: Option<String> = None;
    let mut next_seq = 0u64;
    for seg in &segs {
        let text = std::fs::read_to_string(seg).unwrap();
        assert!(text.ends_with('\n'));
        for (n, line) in text.lines().enumerate() {
            let r: Value = serde_json::from_str(line).unwrap();
            assert_eq!(r["seq"].as_u64(), Some(next_seq), "{}:{}", seg.display(), n + 1);
            if let Some(h) = &last_hash {
                assert_eq!(r["prev_hash"].as_str(), Some(h.as_str()), "{}:{}", seg.display(), n + 1);
            } else {
                assert_eq!(r["prev_hash"].as_str(), Some("0".repeat(64).as_str()), "genesis");
            }
            last_hash = Some(r["hash"].as_str().unwrap().to_string());
            next_seq += 1;
        }
        assert_eq!(mode(seg), 0o600);
    }
    assert_eq!(next_seq, 12);
    // Names sort in write order: same day, counter up by one.
    let names: Vec<String> = segs.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for w in names.windows(2) {
        assert!(w[0] < w[1]);
    }
    sb.assert_verified();
    let v = sb.verify();
    assert!(v.stdout.contains(&format!("in {} segment(s)", segs.len())), "{}", v.stdout);
}

/// A write cut short (no newline at the end of the newest segment): verify reports it; the next
/// hook cuts the torn bytes, keeps them in a `journal_repair` record, and the chain verifies.
#[test]
fn torn_tail_is_repaired_and_kept() {
    let sb = Sandbox::new();
    for i in 0..3 {
        sb.hook(&sb.payload("Notification", "torn", json!({"message": format!("n{i}")}))).ok();
    }
    let seg = sb.segments().pop().unwrap();
    let garbage = br#"{"seq":3,"prev_hash":"abc","timestamp":"2026-01-01T00:00:00Z","level":"INFO","event_ty"#;
    std::fs::OpenOptions::new().append(true).open(&seg).unwrap().write_all(garbage).unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("Truncated"), "{}", v.stdout);
    assert!(v.stdout.contains(&format!("{}:4", seg.display())), "{}", v.stdout);

    sb.hook(&sb.payload("Stop", "torn", json!({}))).ok();
    let records = sb.records();
    assert_eq!(records.len(), 5, "3 records, the repair, the new one");
    let repair = &records[3];
    assert_eq!(str_at(repair, "event_type"), Some("journal_repair"));
    assert_eq!(repair["seq"], json!(3));
    assert_eq!(repair["prev_hash"], records[2]["hash"]);
    assert_eq!(repair["raw_input"]["discarded_bytes"], json!(garbage.len()));
    assert_eq!(str_at(repair, "raw_input/text"), Some(std::str::from_utf8(garbage).unwrap()));
    assert_eq!(str_at(&records[4], "hook_event"), Some("Stop"));
    assert_eq!(records[4]["seq"], json!(4));
    sb.assert_verified();
    let v = sb.verify();
    assert!(v.stdout.contains("repair"), "verify mentions the repair: {}", v.stdout);
    // No byte of the file is lost or left torn.
    let bytes = std::fs::read(&seg).unwrap();
    assert!(bytes.ends_with(b"\n"));
}
