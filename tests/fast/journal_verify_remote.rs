//! `verify --remote`: the journal against a backend's copy (VictoriaLogs' LogsQL query API,
//! served here by a minimal stand-in that answers the way VictoriaLogs does: one JSON object per
//! line with the requested fields). The real VictoriaLogs is the slow stage's business.

use crate::harness::sandbox::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Serves `body` to every request; returns the URL and the request lines seen.
fn fake_victorialogs(body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut s = stream.unwrap();
            let mut first = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            r.read_line(&mut first).unwrap();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap() == 0 || l == "\r\n" {
                    break;
                }
            }
            seen2.lock().unwrap().push(first.trim().to_string());
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/stream+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (url, seen)
}

fn journal(sb: &Sandbox) -> Vec<(u64, String)> {
    for i in 0..4 {
        let p = json!({"session_id": "s", "cwd": sb.project, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": format!("t{i}"), "tool_input": {"command": "ls"}});
        sb.hook(p.to_string().as_bytes()).ok();
    }
    let recs: Vec<(u64, String)> =
        sb.records().iter().map(|r| (r["seq"].as_u64().unwrap(), r["hash"].as_str().unwrap().to_string())).collect();
    let relay = sb.data.join("relay");
    std::fs::create_dir_all(&relay).unwrap();
    std::fs::write(
        relay.join("checkpoint.json"),
        json!({"version": 2, "last_seq": 2, "last_hash": recs[2].1}).to_string(),
    )
    .unwrap();
    recs
}

fn lines(v: &[(u64, &str)]) -> String {
    v.iter()
        .map(|(s, h)| format!("{}\n", json!({"agent_telemetry.seq": s.to_string(), "agent_telemetry.hash": h})))
        .collect()
}

#[test]
fn the_backend_agrees() {
    let sb = Sandbox::new();
    let r = journal(&sb);
    let (url, seen) = fake_victorialogs(lines(&[(0, &r[0].1), (1, &r[1].1), (1, &r[1].1), (2, &r[2].1)]));
    let out = sb.run(&["verify", "--remote", &url, "--remote-filter", "agent.id:=x"], &[], b"");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("3 record(s) match, 1 not exported yet") && out.stdout.contains("remote OK"),
        "{}",
        out.stdout
    );
    let req = seen.lock().unwrap()[0].clone();
    assert!(req.starts_with("GET /select/logsql/query?query=agent.id%3A%3Dx%20agent_telemetry.hash%3A%2A"), "{req}");
}

#[test]
fn missing_altered_and_removed_records_are_named() {
    let sb = Sandbox::new();
    let r = journal(&sb);
    let forged = "f".repeat(64);
    // seq 1 altered at the backend (or in the journal), seq 2 never arrived, seq 9 only remote.
    let (url, _) = fake_victorialogs(lines(&[(0, &r[0].1), (1, &forged), (9, &forged.replace('f', "e"))]));
    let out = sb.run(&["verify", "--remote", &url], &[], b"");
    assert_eq!(out.code, 1, "{}", out.stdout);
    for want in [
        "altered: seq 1",
        "missing at the backend (exported, then removed there, or never delivered): seq 2",
        "missing from the journal (removed locally after export): seq 9",
    ] {
        assert!(out.stdout.contains(want), "{want:?} not in:\n{}", out.stdout);
    }
}

#[test]
fn a_journal_rewritten_and_rehashed_is_caught_by_the_backend() {
    // The attack the local chain cannot see: every record re-hashed after an edit.
    let sb = Sandbox::new();
    let r = journal(&sb);
    let (url, _) = fake_victorialogs(lines(&[(0, &r[0].1), (1, &r[1].1), (2, &r[2].1)]));
    // Rewrite the journal from seq 1 on with recomputed hashes (what an agent with our uid can do).
    let seg = sb.segments().pop().unwrap();
    let text = std::fs::read_to_string(&seg).unwrap();
    let mut prev = String::new();
    let mut out_lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rec: agent_telemetry::record::JournalRecord = serde_json::from_str(line).unwrap();
        if i == 0 {
            prev = rec.hash.clone();
            out_lines.push(format!("{line}\n").into_bytes());
            continue;
        }
        rec.action_details.command = Some("echo innocent".into());
        rec.prev_hash = prev.clone();
        rec.hash.clear();
        let (bytes, hash) = agent_telemetry::journal::chain::encode(&rec).unwrap();
        prev = hash;
        out_lines.push(bytes);
    }
    std::fs::write(&seg, out_lines.concat()).unwrap();
    // Local checks pass if the checkpoint is rewritten too.
    std::fs::write(
        sb.data.join("relay/checkpoint.json"),
        json!({"version": 2, "last_seq": 2, "last_hash": sb.records()[2]["hash"]}).to_string(),
    )
    .unwrap();
    // And the journal's head (`.lock`: the last record's seq and hash).
    std::fs::write(
        sb.journal_dir().join(".lock"),
        format!("head {:>20} {}\n", 2, sb.records()[2]["hash"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(sb.verify().code, 0, "the local chain alone cannot see a consistent rewrite");
    let out = sb.run(&["verify", "--remote", &url], &[], b"");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("altered: seq 1") && out.stdout.contains("altered: seq 2"), "{}", out.stdout);
}
