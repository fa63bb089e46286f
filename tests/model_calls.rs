//! Model calls as spans, on real recorded sessions (tests/data/recordings, made with
//! scripts/claude/record-session.sh: the real CLI, the scripted model, every hook payload and the
//! transcripts it wrote). Each recording is replayed through the built binary's `hook` as a user
//! would have it (HOME only, a config file), exported by `relay --once` to OTLP files, and the
//! spans are checked against an independent reading of the transcripts done here (plain JSON,
//! not the library's reader):
//! - exactly one `chat {model}` span per model request, CLIENT kind, under the turn of its prompt
//!   (main agent) or under its subagent's span, with the GenAI attributes;
//! - turn, subagent and session totals equal the transcript's sums, last message included;
//! - the session's estimated cost equals what Claude Code itself reported (`total_cost_usd`).

#[path = "relay_support/mod.rs"]
mod relay_support;

use relay_support::{read_otlp, Span};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_agent-telemetry");

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/recordings")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            let text = std::fs::read_to_string(e.path()).unwrap();
            std::fs::write(&dest, text).unwrap();
        }
    }
}

/// One request of the transcripts, as read here: request id → (agent, prompt, message ids, usage).
#[derive(Debug, Default, Clone)]
struct Request {
    agent: Option<String>,
    prompt: Option<String>,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl Request {
    fn tokens(&self) -> [u64; 4] {
        [self.input, self.output, self.cache_read, self.cache_creation]
    }
}

/// Every request in the session's transcripts (main and subagents), by request id.
fn requests_in(root: &Path) -> BTreeMap<String, Request> {
    let mut out = BTreeMap::new();
    let mut files = Vec::new();
    fn walk(d: &Path, files: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, files);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                files.push(p);
            }
        }
    }
    walk(&root.join("home/.claude/projects"), &mut files);
    assert!(!files.is_empty(), "no transcripts under {}", root.display());
    for f in files {
        let agent = f.file_stem().unwrap().to_str().unwrap().strip_prefix("agent-").map(String::from);
        let mut prompt = None;
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            match v["type"].as_str() {
                Some("user") => {
                    if let Some(p) = v["promptId"].as_str() {
                        prompt = Some(p.to_string());
                    }
                }
                Some("assistant") => {
                    let id = v["requestId"].as_str().or(v["message"]["id"].as_str()).unwrap().to_string();
                    let u = &v["message"]["usage"];
                    let n = |k: &str| u[k].as_u64().unwrap_or(0);
                    out.insert(id, Request { agent: agent.clone(), prompt: prompt.clone(), input: n("input_tokens"), output: n("output_tokens"), cache_read: n("cache_read_input_tokens"), cache_creation: n("cache_creation_input_tokens") });
                }
                _ => {}
            }
        }
    }
    out
}

struct Replay {
    _tmp: tempfile::TempDir,
    spans: Vec<Span>,
    requests: BTreeMap<String, Request>,
    meta: Value,
}

fn replay(name: &str) -> Replay {
    let rec = recordings().join(name);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&rec.join("root"), &root);
    let text = std::fs::read_to_string(rec.join("hooks.jsonl")).unwrap();
    // Paths in the recording say @ROOT@: rewrite them here, transcripts included.
    fn rewrite(d: &Path, root: &str) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rewrite(&p, root);
            } else {
                let t = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, t.replace("@ROOT@", root)).unwrap();
            }
        }
    }
    let r = root.to_str().unwrap();
    rewrite(&root, r);
    let project = root.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
    let home = root.join("home");
    std::fs::create_dir_all(home.join(".config/agent-telemetry")).unwrap();
    std::fs::write(home.join(".config/agent-telemetry/config.toml"), "[export]\nautostart = false\n").unwrap();
    let mut calls = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(&line.replace("@ROOT@", r)).unwrap();
        let payload = serde_json::to_vec(&v["payload"]).unwrap();
        let mut child = Command::new(BIN)
            .arg("hook")
            .env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CLAUDE_PROJECT_DIR", &project)
            .current_dir(&project)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&payload).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
        calls += 1;
    }
    assert!(calls > 5, "{name}: only {calls} hook calls");
    let out = Command::new(BIN).args(["relay", "--once", "--timeout", "30"]).env_clear().env("HOME", &home).output().unwrap();
    assert!(out.status.success(), "relay --once: {}", String::from_utf8_lossy(&out.stderr));
    let (spans, _) = read_otlp(&home.join(".local/share/agent-telemetry"), (0, 0));
    let requests = requests_in(&root);
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(rec.join("meta.json")).unwrap()).unwrap();
    Replay { _tmp: tmp, spans, requests, meta }
}

fn int(s: &Span, k: &str) -> u64 {
    s.attr(k).unwrap_or_else(|| panic!("{} has no {k}: {:?}", s.name, s.attrs)).parse().unwrap()
}

fn check(name: &str) -> Replay {
    let r = replay(name);
    assert!(!r.requests.is_empty(), "{name}: no requests in the transcripts");
    let chats: Vec<&Span> = r.spans.iter().filter(|s| s.name.starts_with("chat ")).collect();
    let ids: BTreeSet<&str> = chats.iter().map(|s| s.attr("agent_telemetry.request_id").expect("request id")).collect();
    assert_eq!(ids.len(), chats.len(), "{name}: a request has more than one span");
    assert_eq!(ids, r.requests.keys().map(String::as_str).collect(), "{name}: chat spans ≠ the transcripts' requests");
    let by_id: BTreeMap<&str, &Span> = r.spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    for c in &chats {
        let req = &r.requests[c.attr("agent_telemetry.request_id").unwrap()];
        assert_eq!(c.kind.as_deref(), Some("3"), "{name}: {} is not CLIENT", c.name); // OTLP SPAN_KIND_CLIENT
        assert_eq!(c.attr("gen_ai.operation.name"), Some("chat"));
        assert_eq!(c.attr("gen_ai.provider.name"), Some("anthropic"));
        assert!(c.attr("gen_ai.response.id").is_some_and(|m| m.starts_with("msg_")), "{c:?}");
        assert!(c.attr("gen_ai.response.finish_reasons").is_some(), "{c:?}");
        assert_eq!(c.name, format!("chat {}", c.attr("gen_ai.request.model").unwrap()));
        let got: Vec<u64> = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens"].iter().map(|k| int(c, k)).collect();
        assert_eq!(got, req.tokens(), "{name}: tokens of {}", c.name);
        assert!(c.start <= c.end && c.start > 0, "{c:?}");
        let parent = by_id.get(c.parent.as_deref().expect("a chat span has a parent")).unwrap_or_else(|| panic!("{name}: parent of {} not exported", c.name));
        match &req.agent {
            Some(a) => {
                assert!(parent.name.starts_with("invoke_agent "), "{name}: subagent call under {}", parent.name);
                assert_eq!(parent.attr("gen_ai.agent.id"), Some(a.as_str()));
            }
            None => {
                assert_eq!(parent.name, "turn", "{name}: main call under {}", parent.name);
                assert_eq!(parent.attr("prompt.id"), req.prompt.as_deref(), "{name}: call under the wrong turn");
            }
        }
    }
    // Totals, last message included: every turn and subagent sums its calls.
    for s in r.spans.iter().filter(|s| s.name == "turn" || s.name.starts_with("invoke_agent ") && s.attr("gen_ai.agent.id").is_some()) {
        let mine: Vec<&Request> = match s.attr("gen_ai.agent.id") {
            Some(a) => r.requests.values().filter(|q| q.agent.as_deref() == Some(a)).collect(),
            None => r.requests.values().filter(|q| q.agent.is_none() && q.prompt.as_deref() == s.attr("prompt.id")).collect(),
        };
        if mine.is_empty() {
            continue;
        }
        assert_eq!(int(s, "gen_ai.usage.input_tokens"), mine.iter().map(|q| q.input).sum::<u64>(), "{name}: {} {:?}", s.name, s.attrs);
        assert_eq!(int(s, "gen_ai.usage.output_tokens"), mine.iter().map(|q| q.output).sum::<u64>(), "{name}: {}", s.name);
        assert_eq!(s.attr("agent_telemetry.usage.source"), Some("transcript"), "{name}: {} {:?}", s.name, s.attrs);
    }
    // The session: every request of the main agent and of every subagent.
    let runs: Vec<&Span> = r.spans.iter().filter(|s| s.name == "invoke_agent claude-code").collect();
    assert!(!runs.is_empty());
    let keys = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens"];
    for (i, k) in keys.iter().enumerate() {
        let ours: u64 = runs.iter().map(|s| int(s, k)).sum();
        let theirs: u64 = r.requests.values().map(|q| q.tokens()[i]).sum();
        assert_eq!(ours, theirs, "{name}: session {k}");
    }
    // The cost Claude Code itself computed for the session: its `total_cost_usd`, which a
    // resumed run reports for the whole session so far (so: the last run's).
    let claude_cost: f64 = r.meta["total_cost_usd"].as_array().unwrap().last().unwrap().as_f64().unwrap();
    let ours: f64 = runs.iter().map(|s| s.attr("agent_telemetry.cost.usd").unwrap().parse::<f64>().unwrap()).sum();
    assert!((ours - claude_cost).abs() < 1e-6, "{name}: our cost {ours} ≠ Claude Code's {claude_cost}");
    assert!(runs.iter().all(|s| s.attr("agent_telemetry.cost.price_table").is_some()));
    r
}

#[test]
fn tools_one_chat_span_per_request_and_complete_totals() {
    check("tools");
}

#[test]
fn parallel_tool_calls() {
    check("parallel");
}

#[test]
fn subagents_foreground_nested_and_background() {
    let r = check("subagents");
    assert!(r.requests.values().filter(|q| q.agent.is_some()).count() >= 3, "the recording has subagent calls");
}

#[test]
fn resumed_session_two_runs() {
    let r = check("multi-turn");
    assert_eq!(r.spans.iter().filter(|s| s.name == "invoke_agent claude-code").count(), 2);
}
