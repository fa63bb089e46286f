//! The data dir is hostile territory (the agent runs as the same user): planted symlinks,
//! directories and FIFOs named like segments, a data dir that others can write, a torn tail the
//! agent wrote, a disk that refuses writes. Each case runs the built hook and checks that
//! nothing is followed, journaling goes on (or is refused, loudly), and the journal verifies.

use crate::harness::sandbox::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

fn pre_bash(sb: &Sandbox, cmd: &str) -> Vec<u8> {
    json!({"session_id": "s-dir", "cwd": sb.project, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t", "tool_input": {"command": cmd}}).to_string().into_bytes()
}

fn newest_segment(sb: &Sandbox) -> (String, String) {
    let seg = sb.segments().pop().expect("a segment");
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    let (day, rest) = name.split_once('-').unwrap();
    (day.to_string(), rest[..6].to_string())
}

fn next_name(sb: &Sandbox, plus: u32) -> String {
    let (day, idx) = newest_segment(sb);
    format!("{day}-{:06}.jsonl", idx.parse::<u32>().unwrap() + plus)
}

#[test]
fn a_symlinked_segment_is_never_followed() {
    let sb = Sandbox::new();
    sb.hook(&pre_bash(&sb, "ls")).ok();
    let vault = sb.home.join(".vault-token");
    std::fs::write(&vault, "hvs.SECRETVAULTTOKENVALUE0123456789abcdef").unwrap();
    let planted = sb.journal_dir().join(next_name(&sb, 1));
    std::os::unix::fs::symlink(&vault, &planted).unwrap();
    sb.hook(&pre_bash(&sb, "ls -la")).ok();
    assert_eq!(
        std::fs::read_to_string(&vault).unwrap(),
        "hvs.SECRETVAULTTOKENVALUE0123456789abcdef",
        "the symlink target was written"
    );
    let records = sb.records();
    let recovery = records.iter().find(|r| r["event_type"] == "journal_recovery").expect("a journal_recovery record");
    assert!(recovery["raw_input"]["reason"].as_str().unwrap().contains("a symlink"), "{recovery}");
    assert_eq!(records.last().unwrap()["action_details"]["command"], "ls -la");
    for (_, _, line) in journal_lines(&sb.journal_dir()) {
        assert!(!contains_bytes(&line, b"SECRETVAULT"));
    }
    sb.assert_verified();
}

#[test]
fn a_directory_or_fifo_named_like_the_next_segment_does_not_stop_journaling() {
    let sb = Sandbox::new();
    sb.hook(&pre_bash(&sb, "ls")).ok();
    std::fs::create_dir(sb.journal_dir().join(next_name(&sb, 1))).unwrap();
    let fifo = std::ffi::CString::new(sb.journal_dir().join(next_name(&sb, 2)).to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    for i in 0..3 {
        let out = sb.hook(&pre_bash(&sb, &format!("echo {i}")));
        out.ok();
    }
    let records = sb.records();
    let commands: Vec<&str> = records.iter().filter_map(|r| r["action_details"]["command"].as_str()).collect();
    assert_eq!(commands, vec!["ls", "echo 0", "echo 1", "echo 2"]);
    assert_eq!(
        records.iter().filter(|r| r["event_type"] == "journal_recovery").count(),
        1,
        "one recovery record, then the new segment is used"
    );
    sb.assert_verified();
}

#[test]
fn a_data_dir_others_can_write_or_that_is_not_ours_is_refused() {
    let sb = Sandbox::new();
    sb.hook(&pre_bash(&sb, "ls")).ok();
    std::fs::set_permissions(&sb.data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = sb.hook(&pre_bash(&sb, "echo refused"));
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("writable by others"), "{}", out.stderr);
    std::fs::set_permissions(&sb.data, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Not ours (we run the tests as root here or as a user; chown works only as root).
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let c = std::ffi::CString::new(sb.journal_dir().to_str().unwrap()).unwrap();
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        let out = sb.hook(&pre_bash(&sb, "echo refused too"));
        assert!(out.stderr.contains("not by us"), "{}", out.stderr);
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 0, 0) }, 0);
    }
    // The journal dir itself is checked too, on the descriptor the hook opened.
    std::fs::set_permissions(sb.journal_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = sb.hook(&pre_bash(&sb, "echo refused three"));
    assert!(out.stderr.contains("writable by others"), "{}", out.stderr);
    std::fs::set_permissions(sb.journal_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // A symlinked journal dir is refused as well.
    let elsewhere = sb.tmp.path().join("elsewhere");
    std::fs::rename(sb.journal_dir(), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, sb.journal_dir()).unwrap();
    let out = sb.hook(&pre_bash(&sb, "echo via link"));
    assert!(out.stderr.contains("not a directory"), "{}", out.stderr);
    let commands: Vec<String> =
        journal_lines(&elsewhere).iter().map(|(_, _, l)| String::from_utf8_lossy(l).into_owned()).collect();
    assert_eq!(commands.len(), 1);
}

#[test]
fn a_torn_tail_written_by_the_agent_is_kept_redacted() {
    let sb = Sandbox::new();
    sb.hook(&pre_bash(&sb, "ls")).ok();
    let seg = sb.segments().pop().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, b"{\"partial\": \"export GH=ghp_AAAAAAAAbcdefghijklmnopqrstuvwx1234").unwrap();
    drop(f);
    sb.hook(&pre_bash(&sb, "pwd")).ok();
    let records = sb.records();
    let repair = records.iter().find(|r| r["event_type"] == "journal_repair").expect("a repair record");
    assert!(repair["raw_input"]["text"].as_str().unwrap().contains("[REDACTED:github_token]"), "{repair}");
    for (_, _, line) in journal_lines(&sb.journal_dir()) {
        assert!(!contains_bytes(&line, b"ghp_AAAAAAAA"));
    }
    sb.assert_verified();
}

#[test]
fn events_lost_to_a_full_disk_are_reported_by_the_next_record() {
    let sb = Sandbox::new();
    sb.hook(&pre_bash(&sb, "ls")).ok();
    let size = std::fs::metadata(sb.segments().pop().unwrap()).unwrap().len();
    // A file-size limit at the segment's size: every append fails as on a full disk.
    for _ in 0..2 {
        let mut c = sb.command(&["hook"], &[]);
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            c.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: size, rlim_max: size };
                libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
                Ok(())
            });
        }
        let out = run_with_stdin(c, &pre_bash(&sb, "lost"), RUN_TIMEOUT);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
        assert!(out.stderr.contains("could not write the journal"), "{}", out.stderr);
    }
    assert_eq!(sb.records().len(), 1);
    sb.hook(&pre_bash(&sb, "after")).ok();
    let last = sb.records().pop().unwrap();
    assert_eq!(last["metadata"]["events_lost"], 2, "{last}");
    sb.hook(&pre_bash(&sb, "after again")).ok();
    assert!(sb.records().pop().unwrap()["metadata"].get("events_lost").is_none(), "reported once");
    sb.assert_verified();
}
