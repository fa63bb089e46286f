//! Replaying the recorded real Claude Code sessions of tests/data/recordings (made with
//! scripts/claude/record-session.sh: every hook payload and the transcripts the CLI wrote, the
//! temporary root written as `@ROOT@`) through the built binary as a user would have it (HOME
//! only, a config file), exporting with `relay --once` to OTLP files, and reading the spans back.
//!
//! Use with `use crate::harness::recording;` (the OTLP reader is the relay tests', [`super::relay`]).
#![allow(dead_code)]

use super::relay;
pub use super::relay::{read_otlp, Log, Span};
use super::stack;
use serde_json::Value;
use stack::{wait_for, Stack};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

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
pub struct Request {
    pub agent: Option<String>,
    pub prompt: Option<String>,
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

impl Request {
    pub fn tokens(&self) -> [u64; 4] {
        [self.input, self.output, self.cache_read, self.cache_creation]
    }
}

/// Every request in the session's transcripts (main and subagents), by request id.
pub fn requests_in(root: &Path) -> BTreeMap<String, Request> {
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
                    out.insert(
                        id,
                        Request {
                            agent: agent.clone(),
                            prompt: prompt.clone(),
                            input: n("input_tokens"),
                            output: n("output_tokens"),
                            cache_read: n("cache_read_input_tokens"),
                            cache_creation: n("cache_creation_input_tokens"),
                        },
                    );
                }
                _ => {}
            }
        }
    }
    out
}

pub struct Replay {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// Span id → the span ids it links to.
    links: BTreeMap<String, Vec<String>>,
    pub spans: Vec<Span>,
    pub logs: Vec<Log>,
    pub requests: BTreeMap<String, Request>,
    pub meta: Value,
    /// The journal's records, in order.
    pub journal: Vec<Value>,
}

impl Replay {
    /// The replay's root: `home/` (transcripts under `.claude/projects`) and `project/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Span links: span id → the span ids it links to.
    pub fn links(&self) -> BTreeMap<String, Vec<String>> {
        self.links.clone()
    }
}

/// Span links in OTLP JSON files.
fn otlp_links(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("traces-"))
    {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            for rs in v["resourceSpans"].as_array().unwrap() {
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    for sp in ss["spans"].as_array().unwrap() {
                        for l in sp["links"].as_array().into_iter().flatten() {
                            out.entry(sp["spanId"].as_str().unwrap().to_string())
                                .or_default()
                                .push(l["spanId"].as_str().unwrap().to_string());
                        }
                    }
                }
            }
        }
    }
    out
}

/// Where a replay exports.
pub enum Dest<'a> {
    /// OTLP JSON files (the default file exporter).
    Files,
    /// The collector of a running stack, read back from Jaeger and VictoriaLogs.
    Stack(&'a Stack),
}

pub fn replay(name: &str) -> Replay {
    replay_to(name, Dest::Files)
}

/// Replays a recording and exports it to `dest`; with a stack, waits until Jaeger holds every
/// span the same replay gives in files, and reads spans, links and logs back from the backends.
pub fn replay_to(name: &str, dest: Dest) -> Replay {
    let p = Prepared::new(name, &dest);
    let n = p.lines.len();
    p.hooks(0..n);
    p.relay_once();
    p.finish(dest)
}

/// A recording made ready to replay step by step: its files under a fresh root (paths
/// rewritten), the project enabled, a config file; the hook payloads not run yet.
pub struct Prepared {
    name: String,
    tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    project: PathBuf,
    /// The hook payloads, in order.
    pub lines: Vec<Value>,
}

impl Prepared {
    pub fn new(name: &str, dest: &Dest) -> Prepared {
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
        let r = root.to_str().unwrap().to_string();
        rewrite(&root, &r);
        let project = root.join("project");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(home.join(".config/agent-telemetry")).unwrap();
        let endpoint = match dest {
            Dest::Files => String::new(),
            Dest::Stack(stack) => format!("endpoint = \"{}\"\n", stack.otlp_grpc_endpoint()),
        };
        std::fs::write(
            home.join(".config/agent-telemetry/config.toml"),
            format!("[export]\nautostart = false\n{endpoint}"),
        )
        .unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(&l.replace("@ROOT@", &r)).unwrap()["payload"].clone())
            .collect();
        assert!(lines.len() > 5, "{name}: only {} hook calls", lines.len());
        Prepared { name: name.to_string(), tmp, root, home, project, lines }
    }

    /// The replay's root: `home/` (transcripts under `.claude/projects`) and `project/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs the built binary's `hook` on payloads `range`, as Claude Code would.
    pub fn hooks(&self, range: std::ops::Range<usize>) {
        for v in &self.lines[range] {
            let payload = serde_json::to_vec(v).unwrap();
            let mut child = super::command(&self.home, &["hook"])
                .env("CLAUDE_PROJECT_DIR", &self.project)
                .current_dir(&self.project)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(&payload).unwrap();
            assert_eq!(child.wait().unwrap().code(), Some(0));
        }
    }

    /// `relay --once`, as a user (HOME only).
    pub fn relay_once(&self) {
        let out = super::command(&self.home, &["relay", "--once", "--timeout", "30"]).output().unwrap();
        assert!(out.status.success(), "relay --once: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// What reached `dest`, with the journal and the transcripts' requests.
    pub fn finish(self, dest: Dest) -> Replay {
        let Prepared { name, tmp, root, home, .. } = self;
        let rec = recordings().join(&name);
        let data = home.join(".local/share/agent-telemetry");
        let (spans, logs, links) = match dest {
            Dest::Files => {
                let (spans, logs) = read_otlp(&data, (0, 0));
                (spans, logs, otlp_links(&data.join("otlp")))
            }
            Dest::Stack(stack) => from_backends(stack, &name),
        };
        let mut journal = Vec::new();
        let mut segs: Vec<PathBuf> = std::fs::read_dir(data.join("journal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        segs.sort();
        for f in segs {
            journal
                .extend(std::fs::read_to_string(f).unwrap().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
        }
        let requests = requests_in(&root);
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(rec.join("meta.json")).unwrap()).unwrap();
        Replay { _tmp: tmp, root, links, spans, logs, requests, meta, journal }
    }
}

/// The recording's spans (with their links) from Jaeger and its log records from VictoriaLogs,
/// once Jaeger holds as many spans as the same replay exports to files.
fn from_backends(stack: &Stack, name: &str) -> (Vec<Span>, Vec<Log>, BTreeMap<String, Vec<String>>) {
    let want = replay_to(name, Dest::Files);
    let sessions: std::collections::BTreeSet<String> =
        want.journal.iter().filter_map(|j| j["session_id"].as_str().map(String::from)).collect();
    let traces: std::collections::BTreeSet<String> = want.spans.iter().map(|s| s.trace_id.clone()).collect();
    assert!(!sessions.is_empty() && !traces.is_empty());
    let fetch = || -> Option<(Vec<Span>, Vec<Value>)> {
        let mut spans = Vec::new();
        let mut raw = Vec::new();
        for t in &traces {
            let trace = stack.jaeger_trace(t)?;
            spans.extend(relay::spans_from_jaeger(&trace));
            raw.extend(trace["spans"].as_array().cloned().unwrap_or_default());
        }
        (spans.len() >= want.spans.len()).then_some((spans, raw))
    };
    let (spans, raw) = wait_for(Duration::from_secs(60), fetch)
        .unwrap_or_else(|| panic!("{name}: Jaeger never held the {} spans of the replay", want.spans.len()));
    let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &raw {
        for r in s["references"].as_array().into_iter().flatten().filter(|r| r["refType"] != "CHILD_OF") {
            links
                .entry(s["spanID"].as_str().unwrap().to_string())
                .or_default()
                .push(r["spanID"].as_str().unwrap().to_string());
        }
    }
    let want_logs = want.logs.len();
    let logs = wait_for(Duration::from_secs(60), || {
        let rows: Vec<Value> =
            traces.iter().flat_map(|t| stack.victorialogs_query(&format!("trace_id:=\"{t}\""))).collect();
        (rows.len() >= want_logs).then(|| relay::logs_from_victorialogs(&rows))
    })
    .unwrap_or_else(|| panic!("{name}: VictoriaLogs never held the {want_logs} log records of the replay"));
    (spans, logs, links)
}
