//! The forensics commands (`sessions`, `search`, `export`, `verify --file`, `timeline`, `tree`)
//! driven through the real binary, on data dirs made by replaying the recorded real sessions
//! (tests/data/recordings) and on generated journals; each output is checked against what the
//! journal holds (counts, order, flags). No timing here: speed is `just bench-forensics`.

use crate::harness::recording;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::command;

use crate::harness::index_cli;
use crate::harness::journal_records as journal;
use index_cli::{json_lines, ok, run};

/// A recording's hooks run through the binary, the relay never started: the journal only.
struct HooksOnly {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl HooksOnly {
    fn data(&self) -> PathBuf {
        self.root.join("home/.local/share/agent-telemetry")
    }
}

fn hooks_only(name: &str) -> HooksOnly {
    let rec = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/recordings").join(name);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let r = root.to_str().unwrap();
    let project = root.join("project");
    let home = root.join("home");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
    std::fs::create_dir_all(home.join(".config/agent-telemetry")).unwrap();
    std::fs::write(home.join(".config/agent-telemetry/config.toml"), "[export]\nautostart = false\n").unwrap();
    for line in std::fs::read_to_string(rec.join("hooks.jsonl")).unwrap().lines() {
        let v: Value = serde_json::from_str(&line.replace("@ROOT@", r)).unwrap();
        let mut child = command(&home, &["hook"])
            .env("CLAUDE_PROJECT_DIR", &project)
            .current_dir(&project)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&serde_json::to_vec(&v["payload"]).unwrap()).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
    HooksOnly { _tmp: tmp, root }
}

/// `verify --file`: no data dir.
fn verify_file(file: &Path) -> Output {
    command(file.with_file_name("no-home"), &["verify", "--file"]).arg(file).output().unwrap()
}

fn fail(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(!out.status.success(), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stderr).is_empty());
    String::from_utf8(out.stderr).unwrap()
}

/// What `sessions` should say of a session, counted from its journal records.
fn expected_session(records: &[&Value]) -> Value {
    let ev = |r: &&Value| r["hook_event"].as_str().unwrap().to_string();
    let main = |r: &&Value| r["agent_context"]["agent_id"].is_null();
    let turns = records.iter().filter(|r| ev(r) == "UserPromptSubmit" && main(r)).count();
    let tools: BTreeSet<&str> = records
        .iter()
        .filter(|r| ["PreToolUse", "PostToolUse", "PostToolUseFailure"].contains(&ev(r).as_str()))
        .filter_map(|r| r["tool_context"]["tool_use_id"].as_str())
        .collect();
    let errors = records.iter().filter(|r| ["PostToolUseFailure", "StopFailure"].contains(&ev(r).as_str())).count();
    let subagents: BTreeSet<&str> = records
        .iter()
        .filter(|r| ev(r).starts_with("Subagent"))
        .filter_map(|r| r["agent_context"]["agent_id"].as_str())
        .collect();
    let mut findings = BTreeMap::new();
    for r in records {
        for f in r["security"]["findings"].as_array().into_iter().flatten() {
            *findings.entry(f["severity"].as_str().unwrap().to_string()).or_insert(0u64) += 1;
        }
    }
    let n = |k: &str| findings.get(k).copied().unwrap_or(0);
    serde_json::json!({
        "records": records.len(),
        "turns": turns,
        "tool_calls": tools.len(),
        "errors": errors,
        "subagents": subagents.len(),
        "findings": {"critical": n("critical"), "high": n("high"), "medium": n("medium"), "low": n("low")},
        // The relay's model_call records may follow the SessionEnd (a late read): not an event.
        "status": if records.iter().rev().find(|r| !["ModelCall", "TelemetryGap", "TelemetryRestored"].contains(&ev(r).as_str())).is_some_and(|r| ev(r) == "SessionEnd") { "ended" } else { "incomplete" },
        "first_seq": records[0]["seq"],
        "last_seq": records.last().unwrap()["seq"],
    })
}

/// Checks every session `sessions --json` lists against the journal of `data`.
fn check_sessions(data: &Path, name: &str) -> Vec<Value> {
    let journal = journal(data);
    let listed = json_lines(&ok(data, &["sessions", "--json"]));
    let mut by_session: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in &journal {
        if let Some(s) = r["session_id"].as_str() {
            by_session.entry(s).or_default().push(r);
        }
    }
    assert_eq!(listed.len(), by_session.len(), "{name}: one line per session");
    for s in &listed {
        let sid = s["session_id"].as_str().unwrap();
        let want = expected_session(&by_session[sid]);
        for (k, v) in want.as_object().unwrap() {
            if k == "status" && s[k] == "open" {
                continue; // recent records: open, not incomplete
            }
            assert_eq!(&s[k], v, "{name}: session {sid}: {k}");
        }
        let has_tokens = by_session[sid].iter().any(|r| !r["token_usage"].is_null());
        assert_eq!(s["tokens"].is_object(), has_tokens, "{name}: tokens shown iff records carry them");
        // With the relay's model_call records: tokens and cost are their sums (every request once).
        let calls: Vec<&&Value> = by_session[sid].iter().filter(|r| r["hook_event"] == "ModelCall").collect();
        assert_eq!(s["model_calls"].as_u64(), Some(calls.len() as u64), "{name}: session {sid}: model calls");
        if !calls.is_empty() {
            let sum = |k: &str| calls.iter().map(|c| c["model_call"][k].as_u64().unwrap()).sum::<u64>();
            assert_eq!(
                s["tokens"]["input"].as_u64(),
                Some(sum("input_tokens")),
                "{name}: {sid}: input tokens of the model calls"
            );
            assert_eq!(
                s["tokens"]["output"].as_u64(),
                Some(sum("output_tokens")),
                "{name}: {sid}: output tokens of the model calls"
            );
            let cost: f64 = calls.iter().filter_map(|c| c["model_call"]["cost_usd"].as_f64()).sum();
            assert!(
                (s["cost_usd"].as_f64().unwrap_or(0.0) - cost).abs() < 1e-9,
                "{name}: {sid}: cost {} vs {cost}",
                s["cost_usd"]
            );
            assert_eq!(
                s["unpriced_calls"].as_u64(),
                Some(calls.iter().filter(|c| c["model_call"]["cost_usd"].is_null()).count() as u64)
            );
            continue;
        }
        if let Some(end) =
            by_session[sid].iter().rev().find(|r| r["hook_event"] == "SessionEnd" && !r["token_usage"].is_null())
        {
            let subs: u64 = by_session[sid]
                .iter()
                .filter(|r| r["hook_event"] == "SubagentStop")
                .filter_map(|r| r["token_usage"]["input_tokens"].as_u64())
                .sum();
            assert_eq!(
                s["tokens"]["input"].as_u64().unwrap(),
                end["token_usage"]["input_tokens"].as_u64().unwrap() + subs,
                "{name}: input tokens: the session's end plus its subagents'"
            );
        }
    }
    // Oldest first.
    let starts: Vec<&str> = listed.iter().map(|s| s["start"].as_str().unwrap()).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    listed
}

#[test]
fn sessions_on_every_recording_match_their_journals() {
    for name in [
        "tools",
        "subagents",
        "parallel",
        "multi-turn",
        "compact-2.1.332",
        "revive-2.1.332",
        "tasks-2.1.332",
        "unknown-tool-2.1.332",
    ] {
        let rep = recording::replay(name);
        let data = rep.root().join("home/.local/share/agent-telemetry");
        let listed = check_sessions(&data, name);
        let want: BTreeSet<&str> =
            rep.meta["sessions"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        let got: BTreeSet<&str> = listed.iter().map(|s| s["session_id"].as_str().unwrap()).collect();
        assert_eq!(got, want, "{name}: the recorded sessions");
        // What the sessions cost, summed, is what Claude Code itself reported for the recording
        // (its `total_cost_usd`; a resumed run reports the whole session so far: the last).
        let claude: f64 =
            rep.meta["total_cost_usd"].as_array().and_then(|a| a.last()).and_then(|c| c.as_f64()).unwrap_or(0.0);
        let ours: f64 = listed.iter().filter_map(|s| s["cost_usd"].as_f64()).sum();
        if name.starts_with("compact") {
            // The compaction's summary request is in no transcript (only its compact_boundary
            // line, with no usage): the one cost no reader of the transcripts can see.
            assert!(
                ours > 0.0 && ours < claude,
                "{name}: sessions' cost {ours} vs Claude Code's {claude} (with a compaction)"
            );
        } else {
            assert!((ours - claude).abs() < 1e-6, "{name}: sessions' cost {ours} vs Claude Code's {claude}");
        }
        // The human table: one line per session, plus header and count.
        let text = ok(&data, &["sessions"]);
        assert_eq!(text.lines().count(), listed.len() + 2, "{text}");
        assert!(text.ends_with(&format!("{} session(s)\n", listed.len())));
        assert!(!text.contains('\u{1b}'), "no colour when not on a terminal");
    }
}

#[test]
fn a_session_whose_relay_never_ran() {
    let h = hooks_only("subagents");
    let data = h.data();
    assert!(!data.join("relay").join("checkpoint.json").exists() && !data.join("otlp").exists(), "the relay never ran");
    let listed = check_sessions(&data, "subagents (hooks only)");
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["subagents"].as_u64().unwrap() >= 1);
    let sid = listed[0]["session_id"].as_str().unwrap();
    let journal = journal(&data);
    // The timeline: every record once, in order, subagent records marked.
    let tl = json_lines(&ok(&data, &["timeline", sid, "--json"]));
    assert_eq!(tl.len(), journal.len());
    let seqs: Vec<u64> = tl.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..journal.len() as u64).collect::<Vec<_>>());
    for (e, r) in tl.iter().zip(&journal) {
        assert_eq!(e["event"], r["hook_event"]);
        assert_eq!(e["agent_id"], r["agent_context"]["agent_id"]);
    }
    let offsets: Vec<u64> = tl.iter().map(|e| e["offset_ms"].as_u64().unwrap()).collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]) && offsets[0] == 0);
    let text = ok(&data, &["timeline", &sid[..8]]);
    let sub_lines = text.lines().filter(|l| l.contains(" sub ")).count();
    assert_eq!(sub_lines, journal.iter().filter(|r| !r["agent_context"]["agent_id"].is_null()).count(), "{text}");
    // The tree from the journal: the subagent's span sits under its Agent call.
    let spans = json_lines(&ok(&data, &["tree", sid, "--json"]));
    let by_id: BTreeMap<&str, &Value> = spans.iter().map(|s| (s["span_id"].as_str().unwrap(), s)).collect();
    let sub = spans
        .iter()
        .find(|s| s["name"].as_str().unwrap().starts_with("invoke_agent") && s["name"] != "invoke_agent claude-code")
        .expect("a subagent span");
    let parent = by_id[sub["parent_span_id"].as_str().unwrap()];
    assert_eq!(parent["name"], "execute_tool Agent");
    let tree = ok(&data, &["tree", sid]);
    assert!(tree.contains("└─ invoke_agent claude-code"), "{tree}");
}

#[test]
fn tree_is_the_relays_tree() {
    let rep = recording::replay("subagents");
    let data = rep.root().join("home/.local/share/agent-telemetry");
    let sid = rep.meta["sessions"][0].as_str().unwrap();
    let spans = json_lines(&ok(&data, &["tree", sid, "--json"]));
    let mine: BTreeSet<(String, String, Option<String>)> = spans
        .iter()
        .map(|s| {
            (
                s["span_id"].as_str().unwrap().into(),
                s["name"].as_str().unwrap().into(),
                s["parent_span_id"].as_str().map(String::from),
            )
        })
        .collect();
    let relay: BTreeSet<(String, String, Option<String>)> =
        rep.spans.iter().map(|s| (s.span_id.clone(), s.name.clone(), s.parent.clone())).collect();
    assert_eq!(mine, relay, "the same spans, names and parents as the relay exported");
}

/// A data dir copied without the transcripts (the usual case): `tree` draws each model call
/// from the relay's `model_call` records — the same spans, names and parents as the relay
/// exported, each `chat` span with its tokens and cost, and the turn, subagent and session
/// totals summed from the calls as the relay sums them; `report` shows them too.
#[test]
fn model_calls_come_from_the_journal_when_transcripts_are_gone() {
    // Not revive-2.1.332: a revived agent's calls are put in its run by time, and the replay
    // shifts the hooks' clock away from the transcripts'.
    for name in ["subagents", "multi-turn", "parallel"] {
        let rep = recording::replay(name);
        let data = rep.root().join("home/.local/share/agent-telemetry");
        let calls = rep.journal.iter().filter(|r| r["hook_event"] == "ModelCall").count();
        assert!(calls > 0, "{name}: the relay journaled its model calls");
        let transcripts = rep.root().join("home/.claude");
        assert!(transcripts.is_dir());
        // With the transcripts (the machine that recorded): the assembly reads them.
        let sid0 = rep.meta["sessions"][0].as_str().unwrap();
        let with = json_lines(&ok(&data, &["tree", sid0, "--json"]));
        std::fs::remove_dir_all(&transcripts).unwrap();
        let mut chats = 0;
        for sid in rep.meta["sessions"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()) {
            let spans = json_lines(&ok(&data, &["tree", sid, "--json"]));
            if sid == sid0 {
                // With the transcripts, a call's record adds nothing: no span twice.
                assert_eq!(with.len(), spans.len(), "{name}: as many spans without the transcripts as with them");
            }
            let traces: BTreeSet<&str> = spans.iter().map(|s| s["trace_id"].as_str().unwrap()).collect();
            let relay: Vec<&recording::Span> =
                rep.spans.iter().filter(|s| traces.contains(s.trace_id.as_str())).collect();
            let mine: BTreeSet<(String, String, Option<String>)> = spans
                .iter()
                .map(|s| {
                    (
                        s["span_id"].as_str().unwrap().into(),
                        s["name"].as_str().unwrap().into(),
                        s["parent_span_id"].as_str().map(String::from),
                    )
                })
                .collect();
            let theirs: BTreeSet<(String, String, Option<String>)> =
                relay.iter().map(|s| (s.span_id.clone(), s.name.clone(), s.parent.clone())).collect();
            assert_eq!(
                mine, theirs,
                "{name} {sid}: the relay's spans, names and parents, chat spans included, without a transcript"
            );
            let by_id: BTreeMap<&str, &Value> = spans.iter().map(|s| (s["span_id"].as_str().unwrap(), s)).collect();
            for r in relay {
                let s = by_id[r.span_id.as_str()];
                let attr = |k: &str| s["attributes"][k].as_str().map(String::from);
                let is_chat = r.name.starts_with("chat ");
                chats += usize::from(is_chat);
                // Tokens and cost: the chat spans' own, and the totals of what holds calls.
                let totals = [
                    "gen_ai.usage.input_tokens",
                    "gen_ai.usage.output_tokens",
                    "gen_ai.usage.cache_read.input_tokens",
                    "gen_ai.usage.cache_write.input_tokens",
                    "agent_telemetry.usage.cache_read.input_tokens",
                    "agent_telemetry.usage.cache_write.input_tokens",
                    "agent_telemetry.usage.requests",
                    "agent_telemetry.usage.source",
                ];
                let own = [
                    "gen_ai.request.model",
                    "gen_ai.response.model",
                    "gen_ai.response.id",
                    "agent_telemetry.request_id",
                    "agent_telemetry.subagent.id",
                    "prompt.id",
                    "agent_telemetry.cost.price_table",
                ];
                for k in totals.iter().chain(if is_chat { own.iter() } else { [].iter() }) {
                    if is_chat || r.attr("agent_telemetry.usage.source") == Some("transcript") {
                        assert_eq!(attr(k).as_deref(), r.attr(k), "{name}: {} {k}", r.name);
                    }
                }
                if let Some(usd) = r.attr("agent_telemetry.cost.usd").and_then(|v| v.parse::<f64>().ok()) {
                    let mine: f64 = attr("agent_telemetry.cost.usd").and_then(|v| v.parse().ok()).unwrap_or(-1.0);
                    assert!((mine - usd).abs() < 1e-9, "{name}: {} cost {mine} vs the relay's {usd}", r.name);
                }
            }
            // The text tree shows each call, with its tokens and cost, under its turn or agent.
            let text = ok(&data, &["tree", sid]);
            let chat_lines: Vec<&str> = text.lines().filter(|l| l.contains("chat claude")).collect();
            assert_eq!(
                chat_lines.len(),
                spans.iter().filter(|s| s["name"].as_str().unwrap().starts_with("chat ")).count(),
                "{text}"
            );
            assert!(
                chat_lines.iter().all(|l| l.contains("input_tokens=")
                    && l.contains('$')
                    && (l.starts_with("   ") || l.starts_with("│  "))),
                "{text}"
            );
            // The report: one bar per span (chat bars included), each call's tokens and cost.
            let dir = tempfile::tempdir().unwrap();
            let (html, n) = report_of(&data, sid, &dir.path().join("r.html"));
            assert_eq!(html.matches("<div class=\"bar ").count(), n);
            let chat_bars = html.matches("<div class=\"bar chat").count();
            assert_eq!(chat_bars, chat_lines.len(), "{name}: a bar per model call");
            let tree_part = html.split("id=\"tree\"").nth(1).unwrap().split("<h2>").next().unwrap();
            assert_eq!(tree_part.matches("<b>chat claude").count(), chat_bars);
            assert!(tree_part.contains("<span class=\"usage\">in "), "{name}: tokens in the report's tree");
            assert!(!html.contains("model calls / cost</td><td>none recorded"), "{name}: the summary counts the calls");
        }
        assert!(chats > 0, "{name}: chat spans drawn");
    }
}

#[test]
fn search_answers_the_audit_questions() {
    let rep = recording::replay("tools");
    let data = rep.root().join("home/.local/share/agent-telemetry");
    let journal = journal(&data);
    let seqs = |args: &[&str]| -> Vec<u64> {
        let mut a = vec!["search", "--json"];
        a.extend_from_slice(args);
        json_lines(&ok(&data, &a)).iter().map(|r| r["seq"].as_u64().unwrap()).collect()
    };
    let want = |pred: &dyn Fn(&Value) -> bool| -> Vec<u64> {
        journal.iter().filter(|r| pred(r)).map(|r| r["seq"].as_u64().unwrap()).collect()
    };
    let ev = |r: &Value, e: &str| r["hook_event"] == e;
    // File access outside the project.
    let outside = seqs(&["--outside"]);
    assert_eq!(
        outside,
        want(
            &|r| r["action_details"]["outside_project_scope"] == true || r["security"]["outside_project_scope"] == true
        )
    );
    assert!(!outside.is_empty());
    assert!(json_lines(&ok(&data, &["search", "--json", "--outside"])).iter().all(|r| r["path"] == "/etc/hostname"));
    // Every modification.
    let mods = seqs(&["--tool", "Write,Edit", "--event", "PostToolUse"]);
    assert_eq!(mods, want(&|r| ev(r, "PostToolUse") && (r["tool_name"] == "Write" || r["tool_name"] == "Edit")));
    assert_eq!(mods.len(), 2);
    // Commands matching a pattern.
    let exits = seqs(&["--command", r"exit [0-9]+$"]);
    assert_eq!(exits, want(&|r| r["action_details"]["command"].as_str().is_some_and(|c| c.ends_with("exit 3"))));
    assert_eq!(exits.len(), 2);
    // Findings of a rule, and of its category.
    let rule = seqs(&["--flag", "secret_exposure.redacted"]);
    assert_eq!(
        rule,
        want(&|r| r["security"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["rule"] == "secret_exposure.redacted"))
    );
    assert!(!rule.is_empty());
    assert_eq!(seqs(&["--flag", "secret_exposure"]), rule);
    // Paths by glob; a time window; a session prefix; a limit.
    assert_eq!(
        seqs(&["--path", "*/notes.txt"]),
        want(&|r| r["action_details"]["file_path"].as_str().is_some_and(|p| p.ends_with("/notes.txt")))
    );
    assert!(seqs(&["--since", "2099-01-01"]).is_empty());
    assert_eq!(seqs(&["--until", "2099-01-01"]).len(), journal.len());
    // The relay's model_call records carry the request's time from the transcript (the
    // recording's, hours ago); the hooks' records are this replay's.
    let hour_ago = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        - 3_600_000_000_000;
    assert_eq!(seqs(&["--since", "1h"]), want(&|r| r["time_unix_nano"].as_u64().unwrap() >= hour_ago));
    let sid = rep.meta["sessions"][0].as_str().unwrap();
    assert_eq!(seqs(&["--session", &sid[..6]]).len(), journal.len());
    assert_eq!(seqs(&["--limit", "3"]), vec![0, 1, 2]);
    // Human lines: one per record and a count.
    let text = ok(&data, &["search", "--outside"]);
    assert_eq!(text.lines().count(), outside.len() + 1);
    assert!(text.contains("↗ outside") && text.contains("/etc/hostname"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let h = hooks_only("tools");
    let data = h.data();
    let e = fail(&data, &["timeline", "no-such-session"]);
    assert!(e.contains("no session no-such-session"), "{e}");
    assert!(fail(&data, &["tree", "zzz"]).contains("no session"));
    assert!(fail(&data, &["search", "--session", "zzz"]).contains("no session"));
    let e = fail(&data, &["sessions", "--since", "yesterday"]);
    assert!(e.contains("--since") && e.contains("bad time"), "{e}");
    assert!(fail(&data, &["search", "--until", "2026-13-40"]).contains("--until"));
    assert!(fail(&data, &["search", "--since", "1h", "--until", "2h"]).contains("after --until"));
    assert!(fail(&data, &["search", "--command", "(unclosed"]).contains("bad --command regex"));
    let e = fail(&data, &["search", "--flag", "no_such.rule"]);
    assert!(e.contains("no finding of rule no_such.rule") && e.contains("secret_exposure.redacted"), "{e}");
    assert!(fail(&data, &["export", "--format", "xml"]).contains("jsonl, csv or ocsf"));
    let nowhere = data.join("nowhere");
    assert!(fail(&nowhere, &["sessions"]).contains("no journal at"));
    // An escape sequence in a session id given on the command line is not echoed raw.
    let e = fail(&data, &["timeline", "x\u{1b}]52;c;aGk=\u{7}"]);
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn export_is_verifiable_and_gaps_are_reported() {
    let rep = recording::replay("tools");
    let data = rep.root().join("home/.local/share/agent-telemetry");
    let journal = journal(&data);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.jsonl");
    ok(&data, &["export", "--format", "jsonl", "-o", all.to_str().unwrap()]);
    // Byte for byte the journal's lines.
    let mut raw = String::new();
    let mut segs: Vec<PathBuf> = std::fs::read_dir(data.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    segs.sort();
    for s in segs {
        raw.push_str(&std::fs::read_to_string(s).unwrap());
    }
    assert_eq!(std::fs::read_to_string(&all).unwrap(), raw);
    let v = String::from_utf8(verify_file(&all).stdout).unwrap();
    assert!(v.contains(&format!("{} record(s)", journal.len())) && v.contains("contiguous"), "{v}");
    assert!(v.contains(&format!("{} link(s)", journal.len() - 1)), "{v}");

    // A filtered export: a subsequence; each hash holds, the gaps are named.
    let some = dir.path().join("outside.jsonl");
    ok(&data, &["export", "--format", "jsonl", "--outside", "-o", some.to_str().unwrap()]);
    let lines: Vec<Value> = json_lines(&std::fs::read_to_string(&some).unwrap());
    let out = verify_file(&some);
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    let first = lines[0]["seq"].as_u64().unwrap();
    assert!(first > 0);
    assert!(v.contains(&format!("{} record(s)", lines.len())), "{v}");
    let contiguous = lines.windows(2).all(|w| w[1]["seq"].as_u64().unwrap() == w[0]["seq"].as_u64().unwrap() + 1);
    assert_eq!(v.contains("gap(s)"), !contiguous, "{v}");

    // Tampering with an exported record, or reordering, fails.
    let text = std::fs::read_to_string(&all).unwrap();
    let edited = dir.path().join("edited.jsonl");
    std::fs::write(&edited, text.replacen("/etc/hostname", "/etc/hostnamf", 1)).unwrap();
    let out = verify_file(&edited);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN"));
    let mut ls: Vec<&str> = text.lines().collect();
    ls.swap(3, 4);
    let swapped = dir.path().join("swapped.jsonl");
    std::fs::write(&swapped, ls.join("\n") + "\n").unwrap();
    assert_eq!(verify_file(&swapped).status.code(), Some(1));
    // A record dropped from a full export is a gap, not a silent pass.
    let mut ls: Vec<&str> = text.lines().collect();
    ls.remove(5);
    let dropped = dir.path().join("dropped.jsonl");
    std::fs::write(&dropped, ls.join("\n") + "\n").unwrap();
    let out = verify_file(&dropped);
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    assert!(v.contains("1 gap(s), 1 seq(s) not in the file: 5"), "{v}");

    // CSV: a header, one row per record, the chain fields.
    let csv = ok(&data, &["export", "--format", "csv", "--tool", "Bash"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("seq,timestamp,") && rows[0].ends_with(",prev_hash,hash"));
    let bash: Vec<&Value> = journal.iter().filter(|r| r["tool_name"] == "Bash").collect();
    assert_eq!(rows.len(), bash.len() + 1);
    for (row, r) in rows[1..].iter().zip(&bash) {
        assert!(row.starts_with(&format!("{},", r["seq"])));
        assert!(
            row.ends_with(&format!(",{},{}", r["prev_hash"].as_str().unwrap(), r["hash"].as_str().unwrap())),
            "{row}"
        );
    }
}

#[test]
fn a_data_dir_copied_elsewhere_works() {
    let rep = recording::replay("subagents");
    let data = rep.root().join("home/.local/share/agent-telemetry");
    let before = ok(&data, &["sessions", "--json"]);
    let timeline = ok(&data, &["timeline", rep.meta["sessions"][0].as_str().unwrap(), "--json"]);
    // Copied, index included, to another path; the original is gone (the recorded paths name
    // a machine this is not).
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("evidence/agent-telemetry");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    assert!(Command::new("cp").arg("-a").arg(&data).arg(&copy).status().unwrap().success());
    drop(rep);
    assert_eq!(ok(&copy, &["sessions", "--json"]), before);
    let sid = json_lines(&before)[0]["session_id"].as_str().unwrap().to_string();
    assert_eq!(ok(&copy, &["timeline", &sid, "--json"]), timeline);
    assert!(!ok(&copy, &["tree", &sid]).is_empty());
    // Without the index, read-only: the index goes elsewhere.
    std::fs::remove_dir_all(copy.join("index")).unwrap();
    let idx = other.path().join("idx");
    let out = command(other.path().join("no-home"), &["sessions", "--json", "--data"])
        .arg(&copy)
        .arg("--index")
        .arg(&idx)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), before);
    assert!(idx.join("forensics.sqlite").exists() && !copy.join("index").exists());
}

#[test]
fn the_index_follows_the_journal_and_is_rebuilt_when_stale() {
    let h = hooks_only("tools");
    let data = h.data();
    let first = json_lines(&ok(&data, &["sessions", "--json"]));
    assert_eq!(first[0]["records"], 22);
    // More records: the index catches up.
    let g = tempfile::tempdir().unwrap();
    let extra =
        agent_telemetry::forensics::synth::generate(&g.path().join("journal"), 500, 1_700_000_000_000_000_000, 7)
            .unwrap();
    // Another journal in its place (its chain starts at 0 too): the indexed head is gone, so
    // the index is rebuilt rather than extended with records that do not follow.
    std::fs::remove_dir_all(data.join("journal")).unwrap();
    std::fs::rename(g.path().join("journal"), data.join("journal")).unwrap();
    let listed = json_lines(&ok(&data, &["sessions", "--json"]));
    assert_eq!(listed.len() as u64, extra.sessions);
    assert_eq!(listed.iter().map(|s| s["records"].as_u64().unwrap()).sum::<u64>(), extra.records);
    // Appending by the hook: one more session, indexed incrementally.
    let before = listed.len();
    let home = h.root.join("home");
    let mut child = command(&home, &["hook"])
        .env("CLAUDE_PROJECT_DIR", h.root.join("project"))
        .current_dir(h.root.join("project"))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"session_id":"late-one","hook_event_name":"UserPromptSubmit","prompt":"hi","cwd":"/"}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let listed = json_lines(&ok(&data, &["sessions", "--json"]));
    assert_eq!(listed.len(), before + 1);
    assert!(
        listed.iter().all(|s| s["session_id"] != "ec1a998a-c3ea-4455-83dd-aecdf62b70ce"),
        "nothing of the replaced journal is left"
    );
    assert_eq!(listed.last().unwrap()["session_id"], "late-one");
    assert_eq!(listed.last().unwrap()["turns"], 1);
    assert_eq!(listed.last().unwrap()["status"], "open");
}

#[test]
fn generated_fleet_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let sum = agent_telemetry::forensics::synth::generate(&data.join("journal"), 20_000, 1_796_000_000_000_000_000, 3)
        .unwrap();
    // The generator writes the real format: the journal's own verify holds.
    let v = command(tmp.path(), &["verify"]).env("AGENT_TELEMETRY_HOME", &data).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let listed = check_sessions(&data, "generated");
    assert_eq!(listed.len() as u64, sum.sessions);
    assert_eq!(listed.iter().filter(|s| s["status"] == "ended").count() as u64, sum.ended_sessions);
    assert_eq!(listed.iter().map(|s| s["subagents"].as_u64().unwrap()).sum::<u64>(), sum.subagents);
    let children: u64 = listed.iter().map(|s| s["child_sessions"].as_u64().unwrap()).sum();
    assert_eq!(children, sum.child_sessions);
    assert_eq!(listed.iter().filter(|s| !s["parent_session"].is_null()).count() as u64, sum.child_sessions);
    let outside = json_lines(&ok(&data, &["search", "--json", "--outside"]));
    assert_eq!(outside.len() as u64, sum.outside_records);
    let risky = json_lines(&ok(&data, &["search", "--json", "--flag", "risky_command"]));
    assert_eq!(risky.len() as u64, sum.risky_records);
    assert!(risky.iter().all(|r| r["rules"][0].as_str().unwrap().starts_with("risky_command.")));
    let failures = json_lines(&ok(&data, &["search", "--json", "--event", "PostToolUseFailure"]));
    assert_eq!(failures.len() as u64, sum.failures);
    // Sessions with a critical finding are exactly those --flag finds.
    let ssh = json_lines(&ok(&data, &["sessions", "--json", "--flag", "sensitive_file.ssh_key"]));
    assert_eq!(ssh.len(), listed.iter().filter(|s| s["findings"]["critical"].as_u64().unwrap() > 0).count());
    // --project and --agent select exactly their sessions.
    let billing = json_lines(&ok(&data, &["sessions", "--json", "--project", "billing"]));
    assert_eq!(billing.len(), listed.iter().filter(|s| s["project_name"] == "billing").count());
    assert!(!billing.is_empty());
    let reviewer = json_lines(&ok(&data, &["sessions", "--json", "--agent", "reviewer"]));
    assert_eq!(reviewer.len(), listed.iter().filter(|s| s["agent"] == "reviewer").count());
    // A parent's timeline interleaves its child sessions' records, marked.
    let parent = listed.iter().find(|s| s["child_sessions"].as_u64().unwrap() > 0).unwrap();
    let sid = parent["session_id"].as_str().unwrap();
    let tl = json_lines(&ok(&data, &["timeline", sid, "--json"]));
    let own = tl.iter().filter(|e| e["child_session"] == false).count() as u64;
    assert_eq!(own, parent["records"].as_u64().unwrap());
    assert!(tl.iter().any(|e| e["child_session"] == true));
    let seqs: Vec<u64> = tl.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn control_characters_from_records_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
    let evil = "\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\nforged line";
    for payload in [
        serde_json::json!({"session_id": "s-evil", "hook_event_name": "UserPromptSubmit", "prompt": evil, "prompt_id": "p1", "cwd": project}),
        serde_json::json!({"session_id": "s-evil", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t1", "tool_input": {"command": format!("echo {evil}")}, "cwd": project}),
    ] {
        let mut child = command(&home, &["hook"])
            .env("CLAUDE_PROJECT_DIR", &project)
            .current_dir(&project)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let data = home.join(".local/share/agent-telemetry");
    for args in [
        vec!["sessions"],
        vec!["search"],
        vec!["search", "--command", "echo"],
        vec!["timeline", "s-evil"],
        vec!["tree", "s-evil"],
    ] {
        let text = ok(&data, &args);
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{args:?}: {text:?}");
        assert!(!text.lines().any(|l| l.starts_with("forged line")), "{args:?}: {text}");
    }
    assert!(ok(&data, &["timeline", "s-evil"]).contains("\\u{1b}]52"));
}

#[test]
fn json_output_is_what_the_schema_documents() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/forensics-schema.json")).unwrap(),
    )
    .unwrap();
    let h = hooks_only("subagents");
    let data = h.data();
    let sessions = json_lines(&ok(&data, &["sessions", "--json"]));
    let sid = sessions[0]["session_id"].as_str().unwrap().to_string();
    for (def, lines) in [
        ("session", sessions.clone()),
        ("event", json_lines(&ok(&data, &["search", "--json"]))),
        ("timeline_entry", json_lines(&ok(&data, &["timeline", &sid, "--json"]))),
        ("span", json_lines(&ok(&data, &["tree", &sid, "--json"]))),
    ] {
        let d = &schema["$defs"][def];
        let props = d["properties"].as_object().unwrap();
        let required: Vec<&str> = d["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(!lines.is_empty(), "{def}");
        for l in &lines {
            let o = l.as_object().unwrap();
            for k in o.keys() {
                assert!(props.contains_key(k), "{def}: field {k} is not documented in docs/forensics-schema.json");
            }
            for k in &required {
                assert!(o.contains_key(*k), "{def}: required field {k} missing");
            }
        }
    }
}

/// The report's HTML for a replayed session: self-contained, one waterfall bar per span of the
/// tree, the findings, files and commands of the journal, nothing from a record unescaped.
pub fn report_of(data: &Path, sid: &str, out: &Path) -> (String, usize) {
    let text = ok(data, &["report", sid, "-o", out.to_str().unwrap()]);
    assert!(text.starts_with("wrote "), "{text}");
    let spans = json_lines(&ok(data, &["tree", sid, "--json"])).len();
    (std::fs::read_to_string(out).unwrap(), spans)
}

#[test]
fn report_is_self_contained_and_complete() {
    let rep = recording::replay("tools");
    let data = rep.root().join("home/.local/share/agent-telemetry");
    let sid = rep.meta["sessions"][0].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (html, spans) = report_of(&data, sid, &dir.path().join("r.html"));
    assert_eq!(html.matches("<div class=\"bar ").count(), spans, "one bar per span");
    for external in ["src=", "href=", "@import", "url(", "<script", "http://", "https://"] {
        assert!(!html.contains(external), "nothing external or scripted: {external}");
    }
    assert!(html.contains("default-src 'none'"));
    let journal = journal(&data);
    let findings: usize = journal.iter().map(|r| r["security"]["findings"].as_array().map_or(0, Vec::len)).sum();
    let section =
        |id: &str| html.split(&format!("id=\"{id}\"")).nth(1).unwrap().split("</table>").next().unwrap().to_string();
    assert_eq!(section("findings").matches("<tr><td>").count(), findings);
    let commands = journal
        .iter()
        .filter(|r| {
            r["hook_event"].as_str().unwrap().starts_with("PostToolUse") && !r["action_details"]["command"].is_null()
        })
        .count();
    assert_eq!(section("commands").matches("<tr><td>").count(), commands);
    assert!(section("commands").contains("✗ Exit code 3"));
    let files = section("files");
    assert!(files.contains("/etc/hostname") && files.contains("notes.txt"));
    assert!(html.contains("secret_exposure.redacted"));
    assert!(
        fail(&data, &["report", "nope", "-o", dir.path().join("x.html").to_str().unwrap()]).contains("no session nope")
    );
}

#[test]
fn report_escapes_what_records_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    for payload in [
        serde_json::json!({"session_id": "s-html", "hook_event_name": "UserPromptSubmit", "prompt": evil, "prompt_id": "p1", "cwd": project}),
        serde_json::json!({"session_id": "s-html", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t1", "tool_input": {"command": format!("echo '{evil}'")}, "cwd": project, "prompt_id": "p1"}),
        serde_json::json!({"session_id": "s-html", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "t1", "tool_input": {"command": format!("echo '{evil}'")}, "tool_response": {"stdout": ""}, "cwd": project, "prompt_id": "p1"}),
    ] {
        let mut child = command(&home, &["hook"])
            .env("CLAUDE_PROJECT_DIR", &project)
            .current_dir(&project)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let data = home.join(".local/share/agent-telemetry");
    let (html, _) = report_of(&data, "s-html", &tmp.path().join("r.html"));
    assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
