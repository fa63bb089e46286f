//! One test per kind of tamper: `verify` exits 1 and names the first broken record
//! (`<segment>:<line>`) and the kind of break; the untampered journal verifies. Also the file
//! modes of the journal.

use crate::harness::sandbox::*;
use agent_telemetry::journal::chain;
use agent_telemetry::record::JournalRecord;
use serde_json::json;
use std::path::PathBuf;

/// A journal of `n` records in one segment.
fn journal(n: usize) -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    for i in 0..n {
        let p = sb.payload("PreToolUse", "tamper", json!({"tool_name": "Read", "tool_use_id": format!("toolu_{i}"), "tool_input": {"file_path": format!("f{i}.txt")}}));
        sb.hook(&p).ok();
    }
    sb.assert_verified();
    let segs = sb.segments();
    assert_eq!(segs.len(), 1);
    (sb, segs[0].clone())
}

fn lines_of(seg: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(seg).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(seg: &PathBuf, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(seg, text).unwrap();
}

/// verify must fail, naming `seg:line` and `kind`.
fn assert_broken(sb: &Sandbox, seg: &std::path::Path, line: usize, kind: &str) {
    let v = sb.verify();
    v.no_panic();
    assert_eq!(v.code, 1, "verify should fail:\n{}{}", v.stdout, v.stderr);
    let at = format!("{}:{line}", seg.display());
    assert!(v.stdout.contains(&at), "verify should name {at}:\n{}", v.stdout);
    assert!(v.stdout.contains(kind), "verify should say {kind}:\n{}", v.stdout);
}

#[test]
fn edited_field_in_a_middle_record() {
    let (sb, seg) = journal(6);
    let mut lines = lines_of(&seg);
    assert!(lines[2].contains("f2.txt"));
    lines[2] = lines[2].replace("f2.txt", "f9.txt");
    write_lines(&seg, &lines);
    assert_broken(&sb, &seg, 3, "Edited");
}

#[test]
fn edited_by_one_byte_level() {
    // The smallest edit: one character of a field that nothing else depends on.
    let (sb, seg) = journal(4);
    let mut lines = lines_of(&seg);
    lines[1] = lines[1].replacen("\"level\":\"INFO\"", "\"level\":\"WARN\"", 1);
    write_lines(&seg, &lines);
    assert_broken(&sb, &seg, 2, "Edited");
}

#[test]
fn deleted_middle_line() {
    let (sb, seg) = journal(6);
    let mut lines = lines_of(&seg);
    lines.remove(2);
    write_lines(&seg, &lines);
    // Line 3 now holds seq 3 where seq 2 was expected.
    assert_broken(&sb, &seg, 3, "Deleted");
}

#[test]
fn swapped_lines_are_reported_as_reordered() {
    let (sb, seg) = journal(6);
    let mut lines = lines_of(&seg);
    lines.swap(2, 3);
    write_lines(&seg, &lines);
    // Every line is intact and every record is still there, only out of order: that is a
    // reordering, not a deletion.
    assert_broken(&sb, &seg, 3, "Reordered");
}

#[test]
fn repeated_line_is_reordered() {
    let (sb, seg) = journal(5);
    let mut lines = lines_of(&seg);
    let dup = lines[1].clone();
    lines.insert(2, dup);
    write_lines(&seg, &lines);
    assert_broken(&sb, &seg, 3, "Reordered");
}

#[test]
fn edited_and_rehashed_breaks_the_next_link() {
    let (sb, seg) = journal(6);
    let mut lines = lines_of(&seg);
    // Edit record 2 and give it a valid hash of its new content (what a careful forger does).
    let mut r: JournalRecord = serde_json::from_str(&lines[2]).unwrap();
    r.action_details.file_path = Some("innocent.txt".into());
    r.hash.clear();
    let (line, _) = chain::encode(&r).unwrap();
    lines[2] = String::from_utf8(line).unwrap().trim_end().to_string();
    write_lines(&seg, &lines);
    // The record itself now checks out; the next one no longer links to it.
    assert_broken(&sb, &seg, 4, "Unlinked");
}

#[test]
fn truncated_mid_line_at_the_end() {
    let (sb, seg) = journal(5);
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 40).unwrap();
    assert_broken(&sb, &seg, 5, "Truncated");
}

#[test]
fn garbage_line_in_the_middle() {
    let (sb, seg) = journal(4);
    let mut lines = lines_of(&seg);
    lines.insert(2, "this is not a record".into());
    write_lines(&seg, &lines);
    assert_broken(&sb, &seg, 3, "Garbage");
}

#[test]
fn deleted_middle_segment() {
    let mut sb = Sandbox::new();
    sb.set("AGENT_TELEMETRY_SEGMENT_MAX_BYTES", "2500");
    for i in 0..9 {
        sb.hook(&sb.payload("Notification", "segments", json!({"message": format!("m{i}")}))).ok();
    }
    sb.assert_verified();
    let segs = sb.segments();
    assert!(segs.len() >= 3, "{segs:?}");
    let middle = segs.len() / 2;
    std::fs::remove_file(&segs[middle]).unwrap();
    // The first line of the segment after the removed one has a seq gap.
    assert_broken(&sb, &segs[middle + 1], 1, "Deleted");
}

#[test]
fn replaced_record_with_a_forged_chain_tail() {
    // Rewriting the last record and rehashing it leaves a valid chain: the chain alone cannot
    // catch it (documented in src/journal/verify.rs); this test pins that the *middle* rewrite
    // is caught at the next record even when the forger also rehashes that next record's line
    // but not its prev_hash.
    let (sb, seg) = journal(5);
    let mut lines = lines_of(&seg);
    let mut r: JournalRecord = serde_json::from_str(&lines[1]).unwrap();
    r.level = agent_telemetry::record::Level::Error;
    r.hash.clear();
    lines[1] = String::from_utf8(chain::encode(&r).unwrap().0).unwrap().trim_end().to_string();
    let mut next: JournalRecord = serde_json::from_str(&lines[2]).unwrap();
    next.hash.clear();
    lines[2] = String::from_utf8(chain::encode(&next).unwrap().0).unwrap().trim_end().to_string();
    write_lines(&seg, &lines);
    assert_broken(&sb, &seg, 3, "Unlinked");
}

#[test]
fn journal_files_are_private() {
    let mut sb = Sandbox::new();
    sb.set("AGENT_TELEMETRY_SEGMENT_MAX_BYTES", "2500");
    for i in 0..4 {
        sb.hook(&sb.payload("Notification", "modes", json!({"message": format!("m{i}")}))).ok();
    }
    let dir = sb.journal_dir();
    assert_eq!(mode(&dir), 0o700, "journal dir");
    let segs = sb.segments();
    assert!(segs.len() >= 2);
    for s in &segs {
        assert_eq!(mode(s), 0o600, "{}", s.display());
    }
    assert_eq!(mode(&dir.join(".lock")), 0o600, ".lock");
    // Nothing under the data dir is readable by others.
    for f in all_files(&sb.data) {
        assert_eq!(mode(&f) & 0o077, 0, "{}", f.display());
    }
}

#[test]
fn private_even_with_a_permissive_umask() {
    // The modes are set at creation, whatever the umask of the process that runs the hook.
    let sb = Sandbox::new();
    let mut c = sb.command(&["hook"], &[]);
    let payload = sb.payload("Stop", "umask", json!({}));
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(|| {
            libc::umask(0o000);
            Ok(())
        });
    }
    run_with_stdin(c, &payload, RUN_TIMEOUT).ok();
    assert_eq!(mode(&sb.journal_dir()), 0o700);
    for s in sb.segments() {
        assert_eq!(mode(&s), 0o600);
    }
}

#[test]
fn last_records_removed_before_export_are_caught_by_the_head() {
    // Nothing was exported (no relay): the checkpoint anchors nothing; the head still does.
    let (sb, seg) = journal(6);
    let mut lines = lines_of(&seg);
    lines.truncate(3);
    write_lines(&seg, &lines);
    assert_broken(&sb, &seg, 0, "Truncated");
    let v = sb.verify();
    assert!(v.stdout.contains("records up to seq 5") && v.stdout.contains("ends at 2"), "{}", v.stdout);
}

#[test]
fn every_record_removed_is_caught_by_the_head() {
    let (sb, seg) = journal(3);
    std::fs::write(&seg, "").unwrap();
    assert_broken(&sb, &seg, 0, "Truncated");
}

#[test]
fn records_removed_then_appended_over_stay_evident() {
    // The next event moves the head on: the append itself writes what it found into the chain.
    let (sb, seg) = journal(6);
    let mut lines = lines_of(&seg);
    lines.truncate(4);
    write_lines(&seg, &lines);
    sb.hook(&sb.payload("Stop", "tamper", json!({}))).ok();
    let records = sb.records();
    let note =
        records.iter().find(|r| r["event_type"] == "journal_tail_removed").expect("a journal_tail_removed record");
    assert!(note["raw_input"]["reason"].as_str().unwrap().contains("2 record(s) were removed"), "{note}");
    assert_eq!(note["seq"], 4, "the chain goes on from what is left");
    assert_eq!(note["security"]["findings"][0]["rule"], "telemetry_tampering.journal_tail_removed");
    assert_broken(&sb, &seg, 5, "Deleted");
}

#[test]
fn last_segment_renamed_to_a_hidden_name_is_refused() {
    let mut sb = Sandbox::new();
    sb.set("AGENT_TELEMETRY_SEGMENT_MAX_BYTES", "2500");
    for i in 0..9 {
        sb.hook(&sb.payload("Notification", "hidden", json!({"message": format!("m{i}")}))).ok();
    }
    sb.assert_verified();
    let segs = sb.segments();
    assert!(segs.len() >= 3, "{segs:?}");
    let last = segs.last().unwrap();
    let hidden = last.with_file_name(format!(".{}", last.file_name().unwrap().to_str().unwrap()));
    std::fs::rename(last, &hidden).unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains(&format!("unexpected entry {}:0: Unexpected", hidden.display())), "{}", v.stdout);
    assert!(v.stdout.contains("renamed or hidden"), "{}", v.stdout);
    // The head also shows the chain's end is gone.
    assert!(v.stdout.contains("Truncated"), "{}", v.stdout);
}

#[test]
fn middle_segment_renamed_out_of_the_pattern_is_refused() {
    let mut sb = Sandbox::new();
    sb.set("AGENT_TELEMETRY_SEGMENT_MAX_BYTES", "2500");
    for i in 0..9 {
        sb.hook(&sb.payload("Notification", "renamed", json!({"message": format!("m{i}")}))).ok();
    }
    let segs = sb.segments();
    let middle = &segs[segs.len() / 2];
    let renamed = middle.with_extension("jsonl.bak");
    std::fs::rename(middle, &renamed).unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains(&format!("unexpected entry {}:0: Unexpected", renamed.display())), "{}", v.stdout);
}

#[test]
fn a_planted_file_is_refused_and_the_journal_files_are_not() {
    let (sb, _) = journal(2);
    // The journal's own files (lock/head, project list) are expected.
    assert!(sb.journal_dir().join(".lock").exists());
    sb.assert_verified();
    std::fs::write(sb.journal_dir().join("notes.txt"), "hello").unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("notes.txt:0: Unexpected: not a journal file"), "{}", v.stdout);
}

#[test]
fn a_damaged_head_fails_verify() {
    let (sb, _) = journal(3);
    std::fs::write(sb.journal_dir().join(".lock"), "head garbage\n").unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("head (.lock) is damaged"), "{}", v.stdout);
}

#[test]
fn without_a_remote_verify_says_what_it_cannot_prove() {
    // A forger who truncates *and* rewrites the head leaves a consistent journal: locally this
    // passes, and verify says that this (and a re-hashed chain) needs the backend's copy.
    let (sb, seg) = journal(5);
    let mut lines = lines_of(&seg);
    lines.truncate(3);
    write_lines(&seg, &lines);
    let last: JournalRecord = serde_json::from_str(&lines[2]).unwrap();
    std::fs::write(sb.journal_dir().join(".lock"), format!("head {:>20} {}\n", last.seq, last.hash)).unwrap();
    let v = sb.verify();
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(v.stdout.contains("cannot prove without a remote anchor"), "{}", v.stdout);
    assert!(v.stdout.contains("re-hashed"), "{}", v.stdout);
    assert!(v.stdout.contains("rewritten head"), "{}", v.stdout);
}
