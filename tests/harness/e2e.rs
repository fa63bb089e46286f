//! Support for tests/slow/e2e_claude.rs: one shared local stack per test binary, a scenario runner
//! (fresh project + data dir, `agent-telemetry install`, the real `claude -p`, relay flush), and
//! readers for what arrived: Jaeger's trace JSON, VictoriaLogs' rows and our own journal.
//!
//! As a user: the project's temporary HOME is the only setting; `agent-telemetry install
//! --project P --endpoint <collector> [--protocol http/protobuf]` writes the endpoint to
//! `~/.config/agent-telemetry/config.toml` there, the data dir is the default
//! `~/.local/share/agent-telemetry`, and no `AGENT_TELEMETRY_*`, `XDG_*` or `OTEL_*` variable of
//! the developer reaches our binary or Claude. The hook autostarts the relay (the real path).
//! After the run the test stops that relay (`relay --stop`: it finishes the batch it holds) and
//! drains whatever the journal got after its last poll with `relay --once`.
//!
//! Expected ids come from outside our code: the trace and the session span are the ones named in
//! the `TRACEPARENT` the hook handed to the session (the CLAUDE_ENV_FILE Claude Code gave it), and
//! "nothing more arrived" is proved by a sentinel session hooked after everything else.
#![allow(dead_code)]

use super::claude::{
    handed_traceparent, note, run_claude, scenario_path, ClaudeCli, ClaudeRun, Project, ScriptedModel,
};
use super::stack::{sentinel_payloads, sentinel_session_id, Stack};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Our binary, built by cargo for this test.
pub use super::BIN;

// ------------------------------------------------------------------------------- shared stack

static STACK: Mutex<Option<Arc<Stack>>> = Mutex::new(None);
static SERIAL: Mutex<()> = Mutex::new(());

extern "C" fn stop_shared_stack() {
    let _ = std::panic::catch_unwind(|| {
        let stack = STACK.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(stack) = stack {
            note("e2e: stopping the shared stack");
            drop(stack);
        }
    });
}

/// The stack all tests of this binary share: started on first use, stopped at process exit
/// (atexit), since a `static` is never dropped.
fn shared_stack() -> Arc<Stack> {
    let mut guard = STACK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = guard.as_ref() {
        return s.clone();
    }
    let started = Instant::now();
    let stack = Arc::new(Stack::start());
    // SAFETY: registering a plain extern "C" function with no arguments.
    unsafe {
        libc::atexit(stop_shared_stack);
    }
    note(format!(
        "e2e: stack up in {:.1} s (collector OTLP gRPC {}, Jaeger {}, VictoriaLogs {})",
        started.elapsed().as_secs_f64(),
        stack.otlp_grpc_endpoint(),
        stack.jaeger_query_url(),
        stack.victorialogs_url()
    ));
    *guard = Some(stack.clone());
    stack
}

/// Everything a scenario test needs: the CLI and the shared stack. A missing prerequisite (the
/// CLI, python3, the stack) fails the test with what to install; nothing skips.
pub struct ClaudeStack {
    pub cli: ClaudeCli,
    pub stack: Arc<Stack>,
    _serial: MutexGuard<'static, ()>,
}

impl ClaudeStack {
    pub fn get() -> ClaudeStack {
        let cli = ClaudeCli::require();
        // One scenario at a time: timings stay meaningful and 2 cores are not swamped.
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let stack = shared_stack();
        ClaudeStack { cli, stack, _serial: serial }
    }
}

// ---------------------------------------------------------------------------------- scenario

/// One scenario: a scripted model, a fresh project with our hook installed, and a data dir.
pub struct Scenario {
    pub name: &'static str,
    pub cli: ClaudeCli,
    pub stack: Arc<Stack>,
    pub model: ScriptedModel,
    pub project: Project,
    pub data_dir: PathBuf,
    started: Instant,
    pub claude_time: Duration,
    pub timings: Vec<(String, Duration)>,
    /// Export over OTLP HTTP/protobuf instead of gRPC.
    pub http: bool,
    relay_note: String,
}

impl Scenario {
    /// A scenario exporting over OTLP gRPC.
    pub fn new(env: &ClaudeStack, name: &'static str, scenario_file: &str) -> Scenario {
        Self::with_protocol(env, name, scenario_file, false)
    }

    /// A scenario exporting over OTLP HTTP/protobuf.
    pub fn new_http(env: &ClaudeStack, name: &'static str, scenario_file: &str) -> Scenario {
        Self::with_protocol(env, name, scenario_file, true)
    }

    fn with_protocol(env: &ClaudeStack, name: &'static str, scenario_file: &str, http: bool) -> Scenario {
        let model = ScriptedModel::start(scenario_path(scenario_file));
        let project = Project::new().git_init();
        // The README's default data dir under the temporary HOME.
        let data_dir = project.home().join(".local/share/agent-telemetry");
        let s = Scenario {
            name,
            cli: env.cli.clone(),
            stack: env.stack.clone(),
            model,
            project,
            data_dir,
            started: Instant::now(),
            claude_time: Duration::ZERO,
            timings: Vec::new(),
            http,
            relay_note: String::new(),
        };
        let project_dir = s.project.path().display().to_string();
        let out = if http {
            s.ours(&[
                "install",
                "--project",
                &project_dir,
                "--endpoint",
                &s.stack.otlp_http_endpoint(),
                "--protocol",
                "http/protobuf",
            ])
        } else {
            s.ours(&["install", "--project", &project_dir, "--endpoint", &s.stack.otlp_grpc_endpoint()])
        };
        assert!(out.0, "agent-telemetry install failed:\n{}", out.1);
        let config = s.project.home().join(".config/agent-telemetry/config.toml");
        let text =
            std::fs::read_to_string(&config).unwrap_or_else(|e| panic!("install wrote no {}: {e}", config.display()));
        let endpoint = if http { s.stack.otlp_http_endpoint() } else { s.stack.otlp_grpc_endpoint() };
        assert!(text.contains(&endpoint), "{} does not name {endpoint}:\n{text}", config.display());
        let settings: Value = serde_json::from_str(
            &std::fs::read_to_string(s.project.path().join(".claude/settings.json")).expect("settings.json written"),
        )
        .expect("settings.json is JSON");
        let hooks = settings["hooks"].as_object().expect("hooks object");
        // All but WorktreeCreate (a hook there replaces Claude Code's own worktree creation).
        let missing: Vec<String> =
            super::claude::claude_code_events().into_iter().filter(|e| !hooks.contains_key(e)).collect();
        assert_eq!(missing, ["WorktreeCreate"], "events install registered no hook for");
        assert!(s.project.path().join(".telemetry-enabled").is_file(), "install made the marker");
        s
    }

    /// `agent-telemetry ARGS` as the user runs it: the temporary HOME, nothing of the developer's
    /// own settings or session.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = super::command(self.project.home(), args);
        cmd.current_dir(self.project.path()).stdin(Stdio::null());
        cmd
    }

    /// Runs `agent-telemetry ARGS` as the user: (success, stdout + stderr).
    pub fn ours(&self, args: &[&str]) -> (bool, String) {
        let out = self.command(args).output().unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// `claude -p PROMPT ...` in the project, as the user (HOME only): the hook reads the config
    /// `install` wrote and autostarts the relay.
    pub fn run(&mut self, prompt: &str, extra_args: &[&str]) -> ClaudeRun {
        let run = run_claude(&self.cli, &self.model, &self.project, prompt, extra_args, &[]);
        self.claude_time += run.duration;
        note(format!(
            "e2e {:<14} claude {} -p took {:>6.1} s (exit {}, {} model requests)",
            self.name,
            self.cli.version(),
            run.duration.as_secs_f64(),
            run.status.code().unwrap_or(-1),
            self.model.requests().len()
        ));
        run.assert_success();
        run
    }

    /// Stops the autostarted relay and exports what is left with `relay --once`. Returns how
    /// many records the autostarted relay had exported by itself.
    pub fn flush(&mut self) -> u64 {
        let t = Instant::now();
        let relay_dir = self.data_dir.join("relay");
        assert!(
            relay_dir.join("relay.pid").is_file(),
            "the hook did not autostart a relay (no {}/relay.pid)",
            relay_dir.display()
        );
        // Give the running relay a moment to pick up the last records (it polls every 50 ms).
        let total = self.journal().len() as u64;
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut by_relay = 0;
        while Instant::now() < deadline {
            by_relay = relay_exported(&relay_dir);
            if by_relay >= total {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(by_relay > 0, "the autostarted relay exported nothing by itself ({})", relay_dir.display());
        let (ok, out) = self.ours(&["relay", "--stop"]);
        assert!(ok, "relay --stop failed: {out}");
        let (ok, out) = self.ours(&["relay", "--once"]);
        assert!(ok, "relay --once failed: {out}");
        let after = relay_exported(&relay_dir);
        // Counted again: the relay journals the model calls it reads (`model_call` records).
        let total = self.journal().len() as u64;
        assert_eq!(after, total, "the relay exported {after} of {total} journal records");
        self.timings.push(("flush".into(), t.elapsed()));
        self.relay_note = format!(
            "autostarted relay ({}) exported {by_relay} of {total} records",
            if self.http { "http/protobuf" } else { "grpc" }
        );
        by_relay
    }

    /// `agent-telemetry verify` on the data dir must pass.
    pub fn verify(&self) {
        let (ok, out) = self.ours(&["verify"]);
        assert!(ok && out.contains("journal OK"), "agent-telemetry verify failed:\n{out}");
    }

    /// Every journal record, in order, as JSON.
    pub fn journal(&self) -> Vec<Value> {
        super::journal_records(&self.data_dir)
    }

    /// Waits until Jaeger's trace satisfies `done` (all expected spans arrived), returns it.
    pub fn wait_trace(&mut self, trace_id: &str, what: &str, done: impl Fn(&Trace) -> bool) -> Trace {
        let t = Instant::now();
        let mut last = None;
        let got = super::stack::wait_for(Duration::from_secs(60), || {
            let raw = self.stack.jaeger_trace(trace_id)?;
            let trace = Trace::parse(raw);
            if done(&trace) {
                Some(trace)
            } else {
                last = Some(trace.summary());
                None
            }
        });
        let trace = got.unwrap_or_else(|| {
            panic!(
                "Jaeger: trace {trace_id} never had {what} within 60 s; last seen: {}\n{}",
                last.unwrap_or_else(|| "no trace".into()),
                self.stack.logs()
            )
        });
        self.timings.push((format!("jaeger({what})"), t.elapsed()));
        trace
    }

    /// Waits until VictoriaLogs has at least `n` rows for the trace, returns them.
    pub fn wait_logs(&mut self, trace_id: &str, n: usize) -> Vec<Value> {
        let t = Instant::now();
        let q = format!("trace_id:={trace_id}");
        let mut seen = 0;
        let got = super::stack::wait_for(Duration::from_secs(60), || {
            let rows = self.stack.victorialogs_query(&q);
            seen = rows.len();
            (rows.len() >= n).then_some(rows)
        });
        let rows = got.unwrap_or_else(|| {
            panic!("VictoriaLogs: {seen} of {n} log rows for trace {trace_id} after 60 s\n{}", self.stack.logs())
        });
        self.timings.push(("victorialogs".into(), t.elapsed()));
        rows
    }

    /// Every file under the data dir (journal, checkpoint, status, relay log, ...).
    pub fn data_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.data_dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Prints the scenario's timings.
    pub fn report(&self, extra: &str) {
        let parts: Vec<String> = self.timings.iter().map(|(k, d)| format!("{k} {:.1} s", d.as_secs_f64())).collect();
        note(format!(
            "e2e {:<14} total {:>6.1} s (claude {:.1} s; {}); {} {extra}",
            self.name,
            self.started.elapsed().as_secs_f64(),
            self.claude_time.as_secs_f64(),
            parts.join(", "),
            self.relay_note
        ));
    }
}

fn relay_exported(relay_dir: &Path) -> u64 {
    std::fs::read(relay_dir.join("checkpoint.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["exported_records"].as_u64())
        .unwrap_or(0)
}

impl Drop for Scenario {
    /// A failed test leaves no autostarted relay behind.
    fn drop(&mut self) {
        let _ = self.command(&["relay", "--stop"]).output();
    }
}

// ------------------------------------------------------------------------------------ Jaeger

/// One span of Jaeger's trace JSON (`/api/traces/{id}`).
#[derive(Debug, Clone)]
pub struct Span {
    pub id: String,
    pub trace_id: String,
    pub parent: Option<String>,
    pub name: String,
    pub tags: BTreeMap<String, Value>,
    pub service: String,
    pub process_tags: BTreeMap<String, Value>,
    pub start_us: u64,
    pub duration_us: u64,
}

impl Span {
    /// A tag's value as a string (bools and numbers rendered).
    pub fn tag(&self, k: &str) -> Option<String> {
        self.tags.get(k).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
    pub fn is_error(&self) -> bool {
        self.tag("otel.status_code").as_deref() == Some("ERROR") || self.tag("error").as_deref() == Some("true")
    }
    pub fn call_id(&self) -> Option<String> {
        self.tag("gen_ai.tool.call.id")
    }
    pub fn short(&self) -> String {
        format!("{} [{}] parent {:?}", self.name, self.id, self.parent)
    }
}

pub struct Trace {
    pub raw: Value,
    pub spans: Vec<Span>,
}

impl Trace {
    pub fn parse(raw: Value) -> Trace {
        let processes = raw["processes"].as_object().cloned().unwrap_or_default();
        let tags = |v: &Value| -> BTreeMap<String, Value> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| Some((t["key"].as_str()?.to_string(), t["value"].clone())))
                .collect()
        };
        let spans = raw["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let process = processes.get(s["processID"].as_str().unwrap_or("")).cloned().unwrap_or(Value::Null);
                Span {
                    id: s["spanID"].as_str().unwrap_or("").to_string(),
                    trace_id: s["traceID"].as_str().unwrap_or("").to_string(),
                    parent: s["references"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|r| r["refType"] == "CHILD_OF")
                        .and_then(|r| r["spanID"].as_str().map(String::from)),
                    name: s["operationName"].as_str().unwrap_or("").to_string(),
                    tags: tags(&s["tags"]),
                    service: process["serviceName"].as_str().unwrap_or("").to_string(),
                    process_tags: tags(&process["tags"]),
                    start_us: s["startTime"].as_u64().unwrap_or(0),
                    duration_us: s["duration"].as_u64().unwrap_or(0),
                }
            })
            .collect();
        Trace { raw, spans }
    }

    pub fn json_len(&self) -> usize {
        self.raw.to_string().len()
    }

    pub fn span(&self, id: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.id == id)
    }

    pub fn named(&self, name: &str) -> Vec<&Span> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    pub fn tools(&self) -> Vec<&Span> {
        self.spans.iter().filter(|s| s.name.starts_with("execute_tool ")).collect()
    }

    /// Execute-tool spans of one tool call id.
    pub fn tool(&self, call_id: &str) -> Vec<&Span> {
        self.tools().into_iter().filter(|s| s.call_id().as_deref() == Some(call_id)).collect()
    }

    /// The single span of a tool call (panics unless exactly one).
    pub fn one_tool(&self, call_id: &str) -> &Span {
        let v = self.tool(call_id);
        assert_eq!(
            v.len(),
            1,
            "execute_tool spans with gen_ai.tool.call.id={call_id}: {:?}",
            v.iter().map(|s| s.short()).collect::<Vec<_>>()
        );
        v[0]
    }

    pub fn turns(&self) -> Vec<&Span> {
        self.named("turn")
    }

    pub fn turn(&self, prompt_id: &str) -> Option<&Span> {
        self.turns().into_iter().find(|s| s.tag("prompt.id").as_deref() == Some(prompt_id))
    }

    /// `invoke_agent claude-code` spans (session runs).
    pub fn runs(&self) -> Vec<&Span> {
        self.named("invoke_agent claude-code")
    }

    /// The `invoke_agent {type}` span of a subagent.
    pub fn subagent(&self, agent_id: &str) -> Option<&Span> {
        self.spans.iter().find(|s| {
            s.name.starts_with("invoke_agent ")
                && s.name != "invoke_agent claude-code"
                && s.tag("agent_telemetry.subagent.id").as_deref() == Some(agent_id)
        })
    }

    pub fn parent_of(&self, s: &Span) -> Option<&Span> {
        s.parent.as_deref().and_then(|p| self.span(p))
    }

    /// Counts by span name, for messages.
    pub fn summary(&self) -> String {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for s in &self.spans {
            let k = if s.name.starts_with("execute_tool ") { "execute_tool *".to_string() } else { s.name.clone() };
            *by.entry(k).or_default() += 1;
        }
        format!("{} spans {by:?}", self.spans.len())
    }
}

// ----------------------------------------------------------------------------------- journal

/// Accessors for a journal record (JSON).
pub trait Rec {
    fn event(&self) -> &str;
    fn session(&self) -> &str;
    fn call_id(&self) -> Option<&str>;
    fn tool(&self) -> Option<&str>;
    fn agent(&self) -> Option<&str>;
    fn prompt(&self) -> Option<&str>;
}

impl Rec for Value {
    fn event(&self) -> &str {
        self["hook_event"].as_str().unwrap_or("")
    }
    fn session(&self) -> &str {
        self["session_id"].as_str().unwrap_or("")
    }
    fn call_id(&self) -> Option<&str> {
        self["tool_context"]["tool_use_id"].as_str()
    }
    fn tool(&self) -> Option<&str> {
        self["tool_context"]["tool_name"].as_str().or(self["tool_name"].as_str())
    }
    fn agent(&self) -> Option<&str> {
        self["agent_context"]["agent_id"].as_str()
    }
    fn prompt(&self) -> Option<&str> {
        self["session_context"]["prompt_id"].as_str()
    }
}

pub fn events_summary(journal: &[Value]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for r in journal {
        let k = match r.tool() {
            Some(t) => format!("{}:{t}", r.event()),
            None => r.event().to_string(),
        };
        *by.entry(k).or_default() += 1;
    }
    format!("{by:?}")
}

/// The spans the journal implies for `sessions`: session runs + turns + tool calls + subagents
/// (the model calls' `chat` spans come from the scripted model's request log).
pub fn expected_span_count(journal: &[Value], sessions: &[&str]) -> usize {
    let recs: Vec<&Value> = journal.iter().filter(|r| sessions.contains(&r.session())).collect();
    let runs = recs.iter().filter(|r| r.event() == "SessionStart").count();
    let turns: BTreeSet<&str> = recs.iter().filter_map(|r| r.prompt()).collect();
    let mut tools: BTreeSet<&str> = recs.iter().filter_map(|r| r.call_id()).collect();
    tools.extend(batch_only_calls(journal, sessions));
    let agents: BTreeSet<&str> = recs.iter().filter_map(|r| r.agent()).collect();
    runs + turns.len() + tools.len() + agents.len()
}

/// Tool calls Claude Code reported only in a PostToolBatch (`tool_calls` of the payload it sent,
/// kept in `raw_input`), with no PreToolUse/PostToolUse: calls it refused to run (unknown tool,
/// MCP server missing, invalid input).
pub fn batch_only_calls<'a>(journal: &'a [Value], sessions: &[&str]) -> BTreeSet<&'a str> {
    let recs: Vec<&Value> = journal.iter().filter(|r| sessions.contains(&r.session())).collect();
    let hooked: BTreeSet<&str> = recs.iter().filter_map(|r| r.call_id()).collect();
    recs.iter()
        .filter(|r| r.event() == "PostToolBatch")
        .flat_map(|r| r["raw_input"]["tool_calls"].as_array().into_iter().flatten())
        .filter_map(|c| c["tool_use_id"].as_str())
        .filter(|id| !hooked.contains(id))
        .collect()
}

// ------------------------------------------------------------------------------- assertions

/// Checks the shape every trace must have:
/// - no span id twice (nothing sent twice), every parent reference resolves inside the trace and
///   every root is a session run;
/// - every span has service.name=claude-code and gen_ai.conversation.id (one of `sessions`);
/// - each tool call of the journal (PostToolUse / PostToolUseFailure) has exactly one
///   `execute_tool {tool}` span with gen_ai.tool.name, whose parent is the turn of its prompt id
///   (or the subagent span of its agent id), with error status exactly for PostToolUseFailure;
/// - each turn's parent is a session run of the same session.
pub fn assert_trace_shape(trace: &Trace, journal: &[Value], sessions: &[&str]) {
    let ids: BTreeSet<&str> = trace.spans.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), trace.spans.len(), "duplicate span ids in Jaeger: {}", trace.summary());
    for s in &trace.spans {
        assert_eq!(s.service, "claude-code", "service.name of {}", s.short());
        let conv =
            s.tag("gen_ai.conversation.id").unwrap_or_else(|| panic!("no gen_ai.conversation.id on {}", s.short()));
        assert!(
            sessions.contains(&conv.as_str()),
            "gen_ai.conversation.id {conv} of {} is not one of {sessions:?}",
            s.short()
        );
        match &s.parent {
            Some(p) => assert!(ids.contains(p.as_str()), "{} has a parent not in the trace", s.short()),
            None => {
                assert_eq!(s.name, "invoke_agent claude-code", "a root span that is not a session run: {}", s.short())
            }
        }
    }
    // Every session here ends normally: nothing may be closed by the relay as incomplete.
    for s in &trace.spans {
        assert_eq!(
            s.tag("agent_telemetry.span.incomplete"),
            None,
            "{} was closed as incomplete: {:?}",
            s.short(),
            s.tags
        );
    }
    // Times: a span starts no earlier than its parent (1 ms slack for rounding to microseconds);
    // turns end within their run, the main agent's tool calls within their turn (a background
    // subagent may outlive its Agent call and the turn, so nothing below one is checked).
    let end = |s: &Span| s.start_us + s.duration_us;
    for s in &trace.spans {
        if let Some(p) = trace.parent_of(s) {
            assert!(s.start_us + 1_000 >= p.start_us, "{} starts before its parent {}", s.short(), p.short());
            if (s.name == "turn" || (p.name == "turn" && s.name.starts_with("execute_tool ")))
                && end(s) > end(p) + 1_000
            {
                panic!("{} ends {} us after its parent {}", s.short(), end(s) - end(p), p.short());
            }
        }
    }
    for c in trace.spans.iter().filter(|s| s.name.starts_with("chat ")) {
        let parent = trace.parent_of(c).unwrap_or_else(|| panic!("chat span without parent: {}", c.short()));
        assert!(
            parent.name == "turn"
                || (parent.name.starts_with("invoke_agent ") && parent.name != "invoke_agent claude-code"),
            "{} is under {}, not a turn or a subagent",
            c.short(),
            parent.short()
        );
    }
    for t in trace.turns() {
        let parent = trace.parent_of(t).unwrap_or_else(|| panic!("turn without parent: {}", t.short()));
        assert_eq!(parent.name, "invoke_agent claude-code", "parent of {}", t.short());
        assert_eq!(
            parent.tag("gen_ai.conversation.id"),
            t.tag("gen_ai.conversation.id"),
            "turn and run of one session"
        );
        assert!(t.tag("prompt.id").is_some(), "turn without prompt.id: {}", t.short());
    }
    assert!(!trace.turns().is_empty(), "no turn spans: {}", trace.summary());
    let ends: Vec<&Value> = journal
        .iter()
        .filter(|r| sessions.contains(&r.session()) && matches!(r.event(), "PostToolUse" | "PostToolUseFailure"))
        .collect();
    assert!(!ends.is_empty(), "no tool calls in the journal: {}", events_summary(journal));
    for r in ends {
        let id = r.call_id().unwrap_or_else(|| panic!("{} without tool_use_id: {r}", r.event()));
        let tool = r.tool().unwrap_or("?");
        let span = trace.one_tool(id);
        assert_eq!(span.name, format!("execute_tool {tool}"), "span name of {id}");
        assert_eq!(span.tag("gen_ai.tool.name").as_deref(), Some(tool), "gen_ai.tool.name of {id}");
        assert_eq!(span.tag("gen_ai.conversation.id").as_deref(), Some(r.session()), "conversation of {id}");
        let parent = trace.parent_of(span).unwrap_or_else(|| panic!("{} has no parent span", span.short()));
        match r.agent() {
            Some(agent) => {
                assert!(
                    parent.name.starts_with("invoke_agent ") && parent.name != "invoke_agent claude-code",
                    "{id} (agent {agent}) is under {}",
                    parent.short()
                );
                assert_eq!(
                    parent.tag("agent_telemetry.subagent.id").as_deref(),
                    Some(agent),
                    "{id} is under another subagent"
                );
            }
            None => {
                assert_eq!(parent.name, "turn", "{id} is not under a turn but under {}", parent.short());
                let p = r.prompt().unwrap_or_else(|| panic!("{id}: a main-agent tool call without prompt_id: {r}"));
                assert_eq!(parent.tag("prompt.id").as_deref(), Some(p), "{id} is under the wrong turn");
            }
        }
        let failed = r.event() == "PostToolUseFailure";
        assert_eq!(span.is_error(), failed, "error status of {id} ({}): tags {:?}", r.event(), span.tags);
    }
    // Calls Claude Code refused to run: one error span each, flagged not run, under a turn.
    for id in batch_only_calls(journal, sessions) {
        let span = trace.one_tool(id);
        assert!(span.is_error(), "{id} was not run but has no error status: {:?}", span.tags);
        assert_eq!(span.tag("agent_telemetry.tool.not_run").as_deref(), Some("true"), "{id}: {:?}", span.tags);
        assert!(
            trace.parent_of(span).is_some_and(|p| p.name == "turn" || p.name.starts_with("invoke_agent ")),
            "{} has no turn or agent parent",
            span.short()
        );
    }
}

/// Log rows: one per journal record of `sessions`, each with the trace id, a span id that is in
/// the trace, and gen_ai.conversation.id.
pub fn assert_logs_shape(rows: &[Value], trace: &Trace, journal: &[Value], sessions: &[&str]) {
    let n = journal.iter().filter(|r| sessions.contains(&r.session())).count();
    assert!(n > 0, "no journal records of {sessions:?}");
    let seqs: BTreeSet<String> = rows.iter().filter_map(|r| row_field(r, "agent_telemetry.seq")).collect();
    assert_eq!(seqs.len(), n, "distinct agent_telemetry.seq in VictoriaLogs vs journal records");
    assert_eq!(rows.len(), n, "VictoriaLogs rows vs journal records (duplicates?)");
    for row in rows {
        let span = row_field(row, "span_id").unwrap_or_else(|| panic!("log row without span_id: {row}"));
        assert!(trace.span(&span).is_some(), "log row's span_id {span} is not in the trace: {row}");
        let conv = row_field(row, "gen_ai.conversation.id").unwrap_or_default();
        assert!(sessions.contains(&conv.as_str()), "log row conversation {conv:?}");
    }
}

/// A field of a VictoriaLogs row as a string.
pub fn row_field(row: &Value, k: &str) -> Option<String> {
    row.get(k).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Log rows of one tool call.
pub fn rows_of_call<'a>(rows: &'a [Value], call_id: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| row_field(r, "gen_ai.tool.call.id").as_deref() == Some(call_id)).collect()
}

/// With AGENT_TELEMETRY_E2E_DUMP=DIR, writes what the backends returned there (for debugging).
pub fn dump(name: &str, trace: &Trace, rows: &[Value], journal: &[Value]) {
    let Ok(dir) = std::env::var("AGENT_TELEMETRY_E2E_DUMP") else { return };
    let dir = PathBuf::from(dir).join(name);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("jaeger.json"), serde_json::to_string_pretty(&trace.raw).unwrap_or_default());
    let lines = |v: &[Value]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n");
    let _ = std::fs::write(dir.join("victorialogs.jsonl"), lines(rows));
    let _ = std::fs::write(dir.join("journal.jsonl"), lines(journal));
    note(format!("e2e {name}: dumped to {}", dir.display()));
}

impl Scenario {
    /// The answers in the project's transcripts: request id → (file name, stop reason, time).
    fn transcript_answers(&self) -> BTreeMap<String, (String, String, String)> {
        let mut files = Vec::new();
        let mut dirs = vec![self.project.home().join(".claude/projects")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "jsonl") {
                    files.push(p);
                }
            }
        }
        let mut out = BTreeMap::new();
        for f in files {
            for line in super::claude::read_jsonl(&f) {
                if line["type"] != "assistant" {
                    continue;
                }
                let Some(id) = line["requestId"].as_str().or(line["message"]["id"].as_str()) else { continue };
                let file = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let stop = line["message"]["stop_reason"].as_str().unwrap_or("-").to_string();
                let at = line["timestamp"].as_str().unwrap_or("?").to_string();
                out.entry(id.to_string()).or_insert((file, stop, at));
            }
        }
        out
    }

    /// Which transcript answers have a chat span at Jaeger; the relay's log tail.
    fn chat_diagnosis(&self, trace_id: &str) -> String {
        let spans: BTreeSet<String> = self
            .stack
            .jaeger_trace(trace_id)
            .map(Trace::parse)
            .map(|t| t.spans.iter().filter_map(|s| s.tag("agent_telemetry.request_id")).collect())
            .unwrap_or_default();
        let mut out = String::from("transcript answers (request id, file, stop reason, time, at Jaeger):\n");
        for (id, (file, stop, at)) in self.transcript_answers() {
            out += &format!("  {id} {file} {stop} {at} {}\n", spans.contains(&id));
        }
        let log = std::fs::read_to_string(self.data_dir.join("relay/relay.log")).unwrap_or_default();
        out += "relay.log (last lines):\n";
        for l in log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev() {
            out += &format!("  {l}\n");
        }
        out
    }
}

/// What a scenario's run left at the backends, after the flush, with the common checks done.
pub struct Collected {
    pub journal: Vec<Value>,
    pub trace: Trace,
    pub rows: Vec<Value>,
    pub trace_id: String,
    /// Records the autostarted relay exported before the test stopped it.
    pub by_relay: u64,
}

impl Scenario {
    /// The trace id and session span id the hook handed to `session` (TRACEPARENT in the
    /// CLAUDE_ENV_FILE Claude Code gave its SessionStart hook).
    pub fn handed(&self, session: &str) -> (String, String) {
        handed_traceparent(self.project.home(), session)
    }

    /// A sentinel session hooked after everything else (the hook autostarts a relay for it, as
    /// for any session); returns once Jaeger and VictoriaLogs show it, then stops that relay.
    pub fn sentinel(&mut self) {
        let t = Instant::now();
        let sid = sentinel_session_id();
        for line in sentinel_payloads(&sid, self.project.path()) {
            let mut cmd = self.command(&["hook"]);
            cmd.env("CLAUDE_PROJECT_DIR", self.project.path()).stdin(Stdio::piped()).stdout(Stdio::null());
            let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {BIN} hook: {e}"));
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), line.as_bytes()).expect("hook stdin");
            assert!(child.wait().expect("hook").success(), "hook on the sentinel payload failed");
        }
        self.stack.wait_for_sentinel(&sid);
        let (ok, out) = self.ours(&["relay", "--stop"]);
        assert!(ok, "relay --stop failed: {out}");
        self.timings.push(("sentinel".into(), t.elapsed()));
    }

    /// Flushes the relay, waits for every span the journal implies for `sessions` in the trace of
    /// root session `root` and every log row, then for a sentinel behind them, runs the common
    /// shape checks on the final picture and `verify`.
    pub fn collect(&mut self, root: &str, sessions: &[&str]) -> Collected {
        let by_relay = self.flush();
        // The hooks' records, and the `model_call` records the relay wrote from the transcripts.
        let (calls, journal): (Vec<Value>, Vec<Value>) =
            self.journal().into_iter().partition(|r| r.event() == "ModelCall");
        let (trace_id, root_span) = self.handed(root);
        // One `chat {model}` span per model request of the sessions' conversations, as the
        // scripted model logged them (side requests, e.g. titles, are in no transcript) — less
        // any answer Claude Code did not keep (no transcript names its request id: a request it
        // retried on a busy machine), which no reader of the transcripts can see.
        let kept = self.transcript_answers();
        let mut chats: Vec<String> = Vec::new();
        let mut chat_ids: BTreeSet<String> = BTreeSet::new();
        for r in self.model.requests().iter().filter(|r| matches!(r["kind"].as_str(), Some("turn" | "past-end"))) {
            let id = r["request_id"].as_str().unwrap_or_default();
            if !kept.contains_key(id) {
                note(format!(
                    "e2e {}: answer {id} ({}) is in no transcript: Claude Code dropped it",
                    self.name, r["answer"]
                ));
                continue;
            }
            chat_ids.insert(id.to_string());
            chats.push(format!("chat {}", r["model"].as_str().unwrap_or("?")));
        }
        chats.sort();
        assert!(!chats.is_empty(), "the scripted model logged no request");
        let expected = expected_span_count(&journal, sessions) + chats.len();
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.wait_trace(&trace_id, &format!("{expected} spans"), |t| t.spans.len() >= expected)
        }));
        if let Err(e) = got {
            // Say which model calls are missing: the transcripts' answers vs the chat spans.
            eprintln!("{}", self.chat_diagnosis(&trace_id));
            std::panic::resume_unwind(e);
        }
        let n_logs = journal.iter().chain(&calls).filter(|r| sessions.contains(&r.session())).count();
        assert!(n_logs > 0, "no journal records of {sessions:?}");
        self.wait_logs(&trace_id, n_logs);
        // Anything sent twice or late would be at the backends before the sentinel.
        self.sentinel();
        let raw = self
            .stack
            .jaeger_trace_checked(&trace_id)
            .unwrap_or_else(|e| panic!("Jaeger: {e}"))
            .unwrap_or_else(|| panic!("trace {trace_id} gone from Jaeger"));
        let trace = Trace::parse(raw);
        let all_rows = self
            .stack
            .victorialogs_rows(&format!("trace_id:={trace_id}"))
            .unwrap_or_else(|e| panic!("VictoriaLogs: {e}"));
        dump(self.name, &trace, &all_rows, &journal);
        let (call_rows, rows): (Vec<Value>, Vec<Value>) =
            all_rows.into_iter().partition(|r| r["agent_telemetry.hook_event"] == "ModelCall");
        let mut runs = trace.runs();
        runs.sort_by_key(|r| r.start_us);
        let root_run = runs
            .iter()
            .find(|r| r.tag("gen_ai.conversation.id").as_deref() == Some(root))
            .unwrap_or_else(|| panic!("no session span of {root}: {}", trace.summary()));
        assert_eq!(
            root_run.id, root_span,
            "the session's (first) run span is the one in the TRACEPARENT handed to the session"
        );
        let mut chat_spans: Vec<String> =
            trace.spans.iter().filter(|s| s.name.starts_with("chat ")).map(|s| s.name.clone()).collect();
        chat_spans.sort();
        assert_eq!(chat_spans, chats, "chat spans vs the model requests the scripted model answered");
        let span_ids: BTreeSet<String> = trace
            .spans
            .iter()
            .filter(|s| s.name.starts_with("chat "))
            .filter_map(|s| s.tag("agent_telemetry.request_id"))
            .collect();
        assert_eq!(
            span_ids, chat_ids,
            "chat spans' request ids vs the requests the model answered and Claude Code kept"
        );
        // Each request is in the journal once (a `model_call` record) and at VictoriaLogs once,
        // linked to its chat span.
        let journaled: Vec<&str> = calls
            .iter()
            .filter(|r| sessions.contains(&r.session()))
            .filter_map(|r| r["model_call"]["request_id"].as_str())
            .collect();
        assert_eq!(journaled.len(), chat_ids.len(), "model_call records: {journaled:?}");
        assert_eq!(
            journaled.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            chat_ids,
            "model_call records vs the requests"
        );
        let chat_span_of: BTreeMap<String, String> = trace
            .spans
            .iter()
            .filter(|s| s.name.starts_with("chat "))
            .filter_map(|s| Some((s.tag("agent_telemetry.request_id")?, s.id.clone())))
            .collect();
        assert_eq!(call_rows.len(), chat_ids.len(), "model_call rows at VictoriaLogs");
        for row in &call_rows {
            let id = row["agent_telemetry.request_id"].as_str().unwrap_or_default();
            assert_eq!(
                row["span_id"].as_str(),
                chat_span_of.get(id).map(String::as_str),
                "the model_call row of {id} links to its chat span: {row}"
            );
            assert!(
                row["agent_telemetry.cost.usd"].as_str().is_some_and(|c| c.parse::<f64>().is_ok()),
                "cost on {row}"
            );
        }
        assert_eq!(
            trace.spans.len(),
            expected,
            "spans in Jaeger vs implied by the journal: {}; journal {}",
            trace.summary(),
            events_summary(&journal)
        );
        assert_trace_shape(&trace, &journal, sessions);
        assert_logs_shape(&rows, &trace, &journal, sessions);
        self.verify();
        Collected { journal, trace, rows, trace_id, by_relay }
    }

    /// Fails if any of `secrets` appears in Jaeger's trace JSON, the VictoriaLogs rows, or any
    /// file under the data dir (journal, checkpoint, status, relay log).
    pub fn assert_secrets_nowhere(&self, c: &Collected, secrets: &[&str]) {
        let jaeger = c.trace.raw.to_string();
        let logs: String = c.rows.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n");
        let files: Vec<(PathBuf, String)> = self
            .data_files()
            .into_iter()
            .map(|p| {
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                (p, text)
            })
            .collect();
        assert!(files.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "jsonl")), "no journal files found");
        for secret in secrets {
            assert!(!jaeger.contains(secret), "secret {secret:?} reached Jaeger");
            assert!(!logs.contains(secret), "secret {secret:?} reached VictoriaLogs");
            for (p, text) in &files {
                assert!(!text.contains(secret), "secret {secret:?} is in {}", p.display());
            }
        }
    }
}

/// Subagent id → the `Agent` tool call that spawned it: from Claude Code's own subagent
/// `meta.json` (`toolUseId`) when present, else from the Agent call's PostToolUse in the journal
/// (`tool_context.spawned_agent_id`).
pub fn agent_spawners(journal: &[Value]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in journal.iter().filter(|r| r.event() == "PostToolUse" && r.tool() == Some("Agent")) {
        if let (Some(a), Some(id)) = (r["tool_context"]["spawned_agent_id"].as_str(), r.call_id()) {
            out.insert(a.to_string(), id.to_string());
        }
    }
    let agents: BTreeSet<&str> = journal.iter().filter_map(|r| r.agent()).collect();
    for a in agents {
        let meta = journal
            .iter()
            .filter_map(|r| r["session_context"]["transcript_path"].as_str())
            .map(|t| PathBuf::from(t.trim_end_matches(".jsonl")).join("subagents").join(format!("agent-{a}.meta.json")))
            .find(|p| p.is_file());
        if let Some(meta) = meta {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(&meta).unwrap_or_default()).unwrap_or(Value::Null);
            if let Some(id) = v["toolUseId"].as_str() {
                if let Some(prev) = out.get(a) {
                    assert_eq!(prev, id, "journal and {} disagree on the Agent call of {a}", meta.display());
                }
                out.insert(a.to_string(), id.to_string());
            }
        }
    }
    out
}

/// Every subagent of the journal has one `invoke_agent {type}` span whose parent is the
/// `execute_tool Agent` span of the call that spawned it. Returns agent id → its span.
pub fn assert_subagents_under_agent_spans<'t>(trace: &'t Trace, journal: &[Value]) -> BTreeMap<String, &'t Span> {
    let spawners = agent_spawners(journal);
    let agents: BTreeSet<&str> = journal.iter().filter_map(|r| r.agent()).collect();
    let mut out = BTreeMap::new();
    for a in agents {
        let span =
            trace.subagent(a).unwrap_or_else(|| panic!("no invoke_agent span for subagent {a}: {}", trace.summary()));
        let n = trace
            .spans
            .iter()
            .filter(|s| {
                s.tag("agent_telemetry.subagent.id").as_deref() == Some(a) && s.name.starts_with("invoke_agent ")
            })
            .count();
        assert_eq!(n, 1, "invoke_agent spans of {a}");
        let typ = journal
            .iter()
            .find(|r| r.agent() == Some(a))
            .and_then(|r| r["agent_context"]["agent_type"].as_str())
            .unwrap_or("");
        assert_eq!(span.name, format!("invoke_agent {typ}"), "span name of subagent {a}");
        let call = spawners.get(a).unwrap_or_else(|| panic!("no Agent call known for subagent {a}"));
        let parent = trace.parent_of(span).unwrap_or_else(|| panic!("subagent {a} has no parent span"));
        assert_eq!(parent.name, "execute_tool Agent", "subagent {a} is under {}", parent.short());
        assert_eq!(parent.call_id().as_deref(), Some(call.as_str()), "subagent {a} is under the wrong Agent call");
        out.insert(a.to_string(), span);
    }
    out
}

impl Scenario {
    /// Registers tests/scripted_model/record_hook.py beside our hook on every event ours is
    /// registered for, so the test can compare what Claude Code sent with what we journaled.
    pub fn add_recording_hook(&self) -> super::claude::HookLog {
        let log = self.project.scratch().join("hooks.jsonl");
        let cmd = format!(
            "python3 {} {}",
            super::claude::shell_quote(&super::claude::scripted_model_file("record_hook.py").to_string_lossy()),
            super::claude::shell_quote(&log.to_string_lossy())
        );
        let path = self.project.path().join(".claude/settings.json");
        let mut settings: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (_, groups) in settings["hooks"].as_object_mut().expect("hooks").iter_mut() {
            groups.as_array_mut().expect("hook groups").push(serde_json::json!(
                {"hooks": [{"type": "command", "command": cmd, "timeout": 60}]}
            ));
        }
        std::fs::write(&path, serde_json::to_string_pretty(&settings).unwrap()).unwrap();
        super::claude::HookLog { path: log }
    }
}

/// Every hook call Claude Code made is in the journal (same count per event, whatever the event,
/// known or not), and every top-level payload field survives in `raw_input`.
pub fn assert_payloads_kept(payloads: &[super::claude::HookRecord], journal: &[Value]) -> String {
    assert!(!payloads.is_empty(), "the recording hook heard nothing");
    let mut sent: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    for p in payloads {
        let e = sent.entry(p.event().to_string()).or_default();
        e.0 += 1;
        e.1.extend(p.payload.as_object().into_iter().flatten().map(|(k, _)| k.clone()));
    }
    let mut kept: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    for r in journal {
        let e = kept.entry(r["raw_input"]["hook_event_name"].as_str().unwrap_or(r.event()).to_string()).or_default();
        e.0 += 1;
        e.1.extend(r["raw_input"].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
    }
    for (event, (n, keys)) in &sent {
        let (m, kept_keys) = kept.get(event).cloned().unwrap_or_default();
        assert_eq!(m, *n, "{event}: {n} hook calls, {m} journal records");
        let lost: Vec<&String> = keys.difference(&kept_keys).collect();
        assert!(lost.is_empty(), "{event}: payload fields missing from raw_input: {lost:?}");
    }
    sent.iter().map(|(e, (n, _))| format!("{e}:{n}")).collect::<Vec<_>>().join(" ")
}
