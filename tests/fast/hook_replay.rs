//! Replays every recorded Claude Code 2.1.328 hook call (`tests/data/fixtures/claude-code-2.1.328`)
//! through the built binary, one process per line, with the recorded environment, and checks the
//! journal records: event types, scope flags, the failing Bash call, redaction of the fake AWS
//! key, content omission, subagent and child-process fields, the CLAUDE_ENV_FILE hand-over,
//! `verify`, file modes. Also: when telemetry is off nothing at all is written.
//!
//! The recorded project `/home/user/projects/demo` becomes a temp project (with the marker) and
//! `/home/user` a temp home, in payloads and env alike.
//!
//! Snapshots (`tests/snapshots/hook_replay__*.snap`, insta) hold one normalised record per kind of
//! event, with volatile fields (times, hashes, user, host) and temp paths replaced. Review changes
//! with `cargo insta review` (or `INSTA_UPDATE=always cargo test --test fast hook_replay` + `git diff`).

use crate::harness::sandbox::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const RECORDED_PROJECT: &str = "/home/user/projects/demo";
const RECORDED_HOME: &str = "/home/user";

/// One fixture line after path rewriting.
struct Line {
    payload: Value,
    env: BTreeMap<String, String>,
}

impl Line {
    fn event(&self) -> &str {
        self.payload["hook_event_name"].as_str().unwrap()
    }
    fn tool(&self) -> Option<&str> {
        self.payload["tool_name"].as_str()
    }
    fn p(&self, key: &str) -> Option<&str> {
        self.payload[key].as_str()
    }
}

struct Replay {
    name: &'static str,
    sb: Sandbox,
    lines: Vec<Line>,
    records: Vec<Value>,
}

fn load(sb: &Sandbox, name: &str) -> Vec<Line> {
    let path = fixtures_dir().join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let project = sb.project.display().to_string();
    let home = sb.home.display().to_string();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.replace(RECORDED_PROJECT, &project).replace(RECORDED_HOME, &home);
            let v: Value = serde_json::from_str(&l).unwrap();
            let env = v["env"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            Line { payload: v["payload"].clone(), env }
        })
        .collect()
}

/// Replays a fixture; `before_line(i, line, sandbox)` runs before line `i` is handed to the hook.
fn replay_with(name: &'static str, mut before_line: impl FnMut(usize, &Line, &Sandbox)) -> Replay {
    let sb = Sandbox::new();
    std::fs::write(sb.project.join("README.md"), "# demo project\n").unwrap();
    let lines = load(&sb, name);
    assert!(!lines.is_empty(), "{name}: empty fixture");
    for (i, line) in lines.iter().enumerate() {
        if let Some(f) = line.env.get("CLAUDE_ENV_FILE") {
            // Claude Code creates the session-env directory; the hook only appends to the file.
            std::fs::create_dir_all(PathBuf::from(f).parent().unwrap()).unwrap();
        }
        before_line(i, line, &sb);
        let env: Vec<(&str, &str)> = line.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = sb.hook_env(&serde_json::to_vec(&line.payload).unwrap(), &env);
        out.ok();
        assert_eq!(out.stdout, "", "{name} line {}: the hook must print nothing on stdout (Claude reads it)", i + 1);
        assert_eq!(out.stderr, "", "{name} line {}: unexpected stderr", i + 1);
        assert_eq!(sb.records().len(), i + 1, "{name} line {}: one record per hook call", i + 1);
    }
    sb.assert_verified();
    let records = sb.records();
    Replay { name, sb, lines, records }
}

fn replay(name: &'static str) -> Replay {
    replay_with(name, |_, _, _| {})
}

/// The seed's event types, written out independently of `src/enrich/classify.rs`.
fn expected_event_type(event: &str, tool: Option<&str>) -> &'static str {
    match (event, tool) {
        ("PreToolUse" | "PostToolUse" | "PostToolUseFailure", Some(t)) => match t {
            "Read" => "file_read",
            "Write" => "file_write",
            "Edit" => "file_edit",
            "Bash" => "command_execution",
            "Agent" => "agent_delegation",
            other => panic!("no expectation for tool {other}"),
        },
        ("SessionStart", _) => "session_start",
        ("SessionEnd", _) => "session_end",
        ("UserPromptSubmit", _) => "prompt",
        ("Stop", _) => "agent_stop",
        ("SubagentStart", _) => "subagent_start",
        ("SubagentStop", _) => "subagent_stop",
        ("PostToolBatch", _) => "tool_batch",
        (other, _) => panic!("no expectation for event {other}"),
    }
}

impl Replay {
    /// Checks that hold for every record of every fixture.
    fn common_checks(&self) {
        let name = self.name;
        assert_eq!(self.records.len(), self.lines.len());
        for (i, (line, r)) in self.lines.iter().zip(&self.records).enumerate() {
            let at_line = format!("{name} line {}", i + 1);
            assert_eq!(r["seq"], json!(i), "{at_line}: records are in hook order");
            assert_eq!(str_at(r, "hook_event"), Some(line.event()), "{at_line}");
            assert_eq!(str_at(r, "event_type"), Some(expected_event_type(line.event(), line.tool())), "{at_line}");
            assert_eq!(r["session_id"], line.payload["session_id"], "{at_line}");
            assert_eq!(r["session_context"]["session_id"], line.payload["session_id"], "{at_line}");
            assert_eq!(r["cwd"].as_str(), line.p("cwd"), "{at_line}");
            assert_eq!(str_at(r, "project_path"), Some(self.sb.project.to_str().unwrap()), "{at_line}");
            assert_eq!(str_at(r, "project_name"), Some("demo"), "{at_line}");
            assert_eq!(r["telemetry_enabled"], json!(true), "{at_line}");
            assert_eq!(str_at(r, "metadata/scope"), Some("project"), "{at_line}");
            assert_eq!(
                str_at(r, "metadata/entrypoint"),
                line.env.get("CLAUDE_CODE_ENTRYPOINT").map(String::as_str),
                "{at_line}"
            );
            assert_eq!(str_at(r, "metadata/permission_mode"), line.p("permission_mode"), "{at_line}");
            assert_eq!(str_at(r, "session_context/prompt_id"), line.p("prompt_id"), "{at_line}");
            assert_eq!(str_at(r, "session_context/transcript_path"), line.p("transcript_path"), "{at_line}");
            assert!(
                r.get("input_error").is_none(),
                "{at_line}: a recorded payload is not an input error: {}",
                r["input_error"]
            );
            assert_eq!(r["raw_input"]["hook_event_name"], line.payload["hook_event_name"], "{at_line}");
            assert_eq!(r["hash"].as_str().map(str::len), Some(64), "{at_line}");
            // Timestamps are the hook's own clock, RFC 3339 UTC.
            let ts = str_at(r, "timestamp").unwrap();
            assert!(ts.ends_with('Z') && ts.len() >= 20, "{at_line}: {ts}");
            assert!(r["time_unix_nano"].as_u64().unwrap() > 1_700_000_000_000_000_000, "{at_line}");

            let tool_event = matches!(line.event(), "PreToolUse" | "PostToolUse" | "PostToolUseFailure");
            if tool_event {
                let tc = &r["tool_context"];
                assert_eq!(tc["tool_name"].as_str(), line.tool(), "{at_line}");
                assert_eq!(tc["tool_use_id"].as_str(), line.p("tool_use_id"), "{at_line}");
                assert_eq!(tc["duration_ms"], line.payload["duration_ms"].clone(), "{at_line}");
                let success = match line.event() {
                    "PostToolUse" => json!(true),
                    "PostToolUseFailure" => json!(false),
                    _ => Value::Null,
                };
                assert_eq!(tc["success"], success, "{at_line}");
                assert_eq!(r["tool_name"].as_str(), line.tool(), "{at_line}");
            }
            // Subagent fields on every event a subagent made, and only there.
            assert_eq!(r["agent_context"]["agent_id"].as_str(), line.p("agent_id"), "{at_line}");
            if line.p("agent_id").is_some() {
                assert_eq!(r["agent_context"]["agent_type"].as_str(), line.p("agent_type"), "{at_line}");
                assert_eq!(str_at(r, "agent_context/agent_role"), Some("subagent"), "{at_line}");
            }
            // Tool output and file text are never stored (metadata only by default).
            for path in [
                "raw_input/tool_response/stdout",
                "raw_input/tool_response/file/content",
                "raw_input/tool_input/content",
                "raw_input/tool_input/old_string",
                "raw_input/tool_input/new_string",
                "raw_input/last_assistant_message",
            ] {
                if let Some(s) = str_at(r, path) {
                    assert!(
                        s.starts_with("[content omitted: ") && s.contains(" bytes sha256="),
                        "{at_line}: {path} = {s:?}"
                    );
                }
            }
        }
        self.assert_private_files();
    }

    /// Every file the hook created under the data dir is 0600 and the journal dir 0700.
    fn assert_private_files(&self) {
        assert_eq!(mode(&self.sb.journal_dir()), 0o700, "journal dir mode");
        let files = all_files(&self.sb.data);
        assert!(!files.is_empty());
        for f in files {
            assert_eq!(mode(&f), 0o600, "{} mode", f.display());
        }
    }

    fn find(&self, pred: impl Fn(&Line) -> bool) -> Vec<(usize, &Line, &Value)> {
        self.lines
            .iter()
            .zip(&self.records)
            .enumerate()
            .filter(|(_, (l, _))| pred(l))
            .map(|(i, (l, r))| (i, l, r))
            .collect()
    }

    /// The records the predicate selects; panics if there are none.
    fn select(&self, what: &str, pred: impl Fn(&Line) -> bool) -> Vec<(usize, &Line, &Value)> {
        let v = self.find(pred);
        assert!(!v.is_empty(), "{}: no line is {what}", self.name);
        v
    }

    fn env_file_of(&self, session: &str) -> String {
        let (_, line, _) = self
            .select("the SessionStart", |l| l.event() == "SessionStart" && l.p("session_id") == Some(session))
            .into_iter()
            .next()
            .unwrap();
        let path = line.env.get("CLAUDE_ENV_FILE").expect("SessionStart has CLAUDE_ENV_FILE");
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("CLAUDE_ENV_FILE {path}: {e}"))
    }

    /// One normalised record, as stored in the snapshots.
    fn normalised(&self, index: usize) -> Value {
        let text = serde_json::to_string(&self.records[index]).unwrap();
        let text = text
            .replace(self.sb.project.to_str().unwrap(), "[PROJECT]")
            .replace(self.sb.home.to_str().unwrap(), "[HOME]")
            .replace(self.sb.data.to_str().unwrap(), "[DATA]");
        let mut v: Value = serde_json::from_str(&text).unwrap();
        for path in [
            "timestamp",
            "time_unix_nano",
            "prev_hash",
            "hash",
            "metadata/user_id",
            "metadata/host_name",
            "metadata/telemetry_version",
            "metadata/hook_us",
            "agent_context/fleet_agent_id",
            "agent_context/instance_id",
            "resource_usage",
        ] {
            let (parent, key) = path.rsplit_once('/').map(|(p, k)| (Some(p), k)).unwrap_or((None, path));
            let obj = match parent {
                Some(p) => v.pointer_mut(&format!("/{p}")),
                None => Some(&mut v),
            };
            // User and host may be unknown on some machines: present or not, they read the same.
            let always = matches!(path, "metadata/user_id" | "metadata/host_name" | "agent_context/fleet_agent_id");
            if let Some(Value::Object(m)) = obj {
                if always || m.contains_key(key) {
                    m.insert(key.to_string(), json!("[redacted]"));
                }
            }
        }
        v
    }

    fn snapshot(&self, label: &str, pred: impl Fn(&Line) -> bool) {
        let (i, _, _) = self.select(label, pred)[0];
        // The snapshots keep the names they had as their own test binary (tests/snapshots/hook_replay__*).
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_json_snapshot!(format!("hook_replay__{}__{label}", self.name), self.normalised(i));
        });
    }
}

#[test]
fn tools() {
    let rp = replay("tools");
    rp.common_checks();

    // The read outside the project: both the PreToolUse and the PostToolUse are flagged.
    for (i, _, r) in rp.select("the /etc/hostname read", |l| {
        l.tool() == Some("Read") && l.payload["tool_input"]["file_path"] == "/etc/hostname"
    }) {
        assert_eq!(r["action_details"]["outside_project_scope"], json!(true), "line {}", i + 1);
        assert_eq!(r["security"]["outside_project_scope"], json!(true), "line {}", i + 1);
        assert_eq!(str_at(r, "level"), Some("WARN"), "line {}", i + 1);
        assert_eq!(r["action_details"]["outside_paths"], json!(["/etc/hostname"]), "line {}", i + 1);
        let rules: Vec<&str> =
            r["security"]["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
        assert!(rules.contains(&"outside_project.read"), "line {}: {rules:?}", i + 1);
        assert_eq!(str_at(r, "security/risk"), Some("medium"));
    }
    // The README read is inside.
    let readme = rp.sb.project.join("README.md");
    for (i, _, r) in rp.select("the README read", |l| {
        l.tool() == Some("Read")
            && l.payload["tool_input"]["file_path"].as_str().is_some_and(|p| p.ends_with("README.md"))
    }) {
        assert_eq!(r["action_details"]["outside_project_scope"], json!(false), "line {}", i + 1);
        assert_eq!(str_at(r, "action_details/resolved_path"), readme.to_str(), "line {}", i + 1);
        assert_eq!(r["action_details"]["size_bytes"], json!(15), "line {}", i + 1);
        assert_eq!(str_at(r, "level"), Some("INFO"), "line {}", i + 1);
        assert!(r["security"].get("findings").is_none(), "line {}: {}", i + 1, r["security"]);
    }

    // The failing Bash call.
    let failures = rp.select("PostToolUseFailure", |l| l.event() == "PostToolUseFailure");
    assert_eq!(failures.len(), 1);
    let (_, _, r) = failures[0];
    assert_eq!(r["tool_context"]["success"], json!(false));
    assert_eq!(str_at(r, "tool_context/error"), Some("Exit code 3"));
    assert_eq!(r["tool_context"]["is_interrupt"], json!(false));
    assert_eq!(r["tool_context"]["duration_ms"], json!(89));
    assert_eq!(str_at(r, "event_type"), Some("command_execution"));
    assert_eq!(str_at(r, "action_details/command"), Some("exit 3"));
    assert_ne!(str_at(r, "level"), Some("INFO"));

    // The fake AWS key: redacted on both Bash records, and nowhere in any file under the data dir.
    for (i, _, r) in rp.select("the Bash call with the key", |l| {
        l.tool() == Some("Bash") && l.payload["tool_input"]["command"].as_str().is_some_and(|c| c.contains(AWS_KEY))
    }) {
        assert!(r["security"]["redactions"].as_u64().unwrap_or(0) >= 1, "line {}: {}", i + 1, r["security"]);
        assert!(
            r["security"]["redaction_kinds"].as_array().unwrap().iter().any(|k| k == "aws_access_key_id"),
            "line {}",
            i + 1
        );
        let cmd = str_at(r, "action_details/command").unwrap();
        assert!(cmd.contains("[REDACTED:aws_access_key_id]"), "line {}: {cmd}", i + 1);
        assert!(str_at(r, "raw_input/tool_input/command").unwrap().contains("[REDACTED:aws_access_key_id]"));
        let rules: Vec<&str> =
            r["security"]["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
        assert!(rules.contains(&"secret_exposure.redacted"), "{rules:?}");
    }
    for f in all_files(&rp.sb.data) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains_bytes(&bytes, AWS_KEY.as_bytes()), "the AWS key is stored in {}", f.display());
    }

    // Write and Edit: line counts, content as size + hash only.
    let (_, _, w) = rp.select("PostToolUse Write", |l| l.event() == "PostToolUse" && l.tool() == Some("Write"))[0];
    assert_eq!(w["change"]["lines_added"], json!(1));
    assert_eq!(w["change"]["lines_removed"], json!(0));
    assert_eq!(str_at(w, "change/kind"), Some("create"));
    assert_eq!(w["action_details"]["size_bytes"], json!(6));
    // sha256("hello\n")
    assert_eq!(
        str_at(w, "action_details/content_sha256"),
        Some("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
    );
    assert!(str_at(w, "raw_input/tool_input/content")
        .unwrap()
        .starts_with("[content omitted: 6 bytes sha256=5891b5b5"));
    assert!(str_at(w, "raw_input/tool_response/content").unwrap().starts_with("[content omitted: 6 bytes"));
    assert!(w["change"].get("diff").is_none(), "no diff without content capture");
    let (_, _, e) = rp.select("PostToolUse Edit", |l| l.event() == "PostToolUse" && l.tool() == Some("Edit"))[0];
    assert_eq!(e["change"]["lines_added"], json!(1));
    assert_eq!(e["change"]["lines_removed"], json!(1));
    assert_eq!(e["change"]["hunks"], json!(1));
    for path in [
        "raw_input/tool_input/old_string",
        "raw_input/tool_input/new_string",
        "raw_input/tool_response/originalFile",
        "raw_input/tool_response/oldString",
        "raw_input/tool_response/newString",
        "raw_input/tool_response/structuredPatch",
    ] {
        let s = str_at(e, path).unwrap_or_else(|| panic!("{path} missing: {}", e["raw_input"]));
        assert!(s.starts_with("[content omitted: "), "{path} = {s}");
    }
    // The file path stays (it is metadata).
    assert_eq!(str_at(e, "action_details/file_path"), rp.sb.project.join("notes.txt").to_str());
    // Tool output: Bash stdout and the Read file content.
    for (_, _, r) in rp.select("a PostToolUse Bash", |l| l.event() == "PostToolUse" && l.tool() == Some("Bash")) {
        assert!(str_at(r, "raw_input/tool_response/stdout").unwrap().starts_with("[content omitted: "));
    }
    for (_, _, r) in rp.select("a PostToolUse Read", |l| l.event() == "PostToolUse" && l.tool() == Some("Read")) {
        assert!(str_at(r, "raw_input/tool_response/file/content").unwrap().starts_with("[content omitted: "));
    }
    // Prompts are kept (redacted) by default.
    let (_, l, p) = rp.select("the prompt", |l| l.event() == "UserPromptSubmit")[0];
    assert_eq!(p["raw_input"]["prompt"], l.payload["prompt"]);

    // SessionStart handed the session's trace context to later Bash commands.
    let session = rp.lines[0].p("session_id").unwrap().to_string();
    assert_env_file(&rp.env_file_of(&session), &session, None);

    // Snapshots: one normalised record per kind of event.
    rp.snapshot("session_start", |l| l.event() == "SessionStart");
    rp.snapshot("prompt", |l| l.event() == "UserPromptSubmit");
    rp.snapshot("pre_bash_secret", |l| l.event() == "PreToolUse" && l.tool() == Some("Bash"));
    rp.snapshot("post_bash_secret", |l| l.event() == "PostToolUse" && l.tool() == Some("Bash"));
    rp.snapshot("post_read_readme", |l| l.event() == "PostToolUse" && l.tool() == Some("Read"));
    rp.snapshot("post_read_outside", |l| {
        l.event() == "PostToolUse" && l.payload["tool_input"]["file_path"] == "/etc/hostname"
    });
    rp.snapshot("pre_write", |l| l.event() == "PreToolUse" && l.tool() == Some("Write"));
    rp.snapshot("post_write", |l| l.event() == "PostToolUse" && l.tool() == Some("Write"));
    rp.snapshot("post_edit", |l| l.event() == "PostToolUse" && l.tool() == Some("Edit"));
    rp.snapshot("post_failure", |l| l.event() == "PostToolUseFailure");
    rp.snapshot("tool_batch", |l| l.event() == "PostToolBatch");
    rp.snapshot("stop", |l| l.event() == "Stop");
    rp.snapshot("session_end", |l| l.event() == "SessionEnd");
}

/// `export TRACEPARENT=00-<trace>-<span>-01` and `export AGENT_PARENT_SESSION=<session>`; with
/// `trace` the trace id must be that one (inherited).
fn assert_env_file(text: &str, session: &str, trace: Option<&str>) {
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "CLAUDE_ENV_FILE: {text:?}");
    let tp = lines[0].strip_prefix("export TRACEPARENT=").unwrap_or_else(|| panic!("CLAUDE_ENV_FILE: {text:?}"));
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[0], "00");
    assert!(parts[1].len() == 32 && parts[1].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{tp}");
    assert!(parts[2].len() == 16 && parts[2].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{tp}");
    assert_eq!(parts[3], "01", "sampled");
    if let Some(t) = trace {
        assert_eq!(parts[1], t, "the child session stays in the inherited trace");
    }
    assert_eq!(lines[1], format!("export AGENT_PARENT_SESSION={session}"));
}

#[test]
fn subagents() {
    // Claude Code writes `<transcript>/subagents/agent-<id>.meta.json` by SubagentStop: do the
    // same, so the records can name the Agent call that spawned each subagent.
    let rp = replay_with("subagents", |_, line, _| {
        if line.event() == "SubagentStop" {
            let id = line.p("agent_id").unwrap();
            let transcript = line.p("transcript_path").unwrap();
            let dir = PathBuf::from(transcript.strip_suffix(".jsonl").unwrap()).join("subagents");
            std::fs::create_dir_all(&dir).unwrap();
            let (tool_use, parent) = meta_for(id);
            let mut meta = json!({"agentType": "general-purpose", "toolUseId": tool_use, "spawnDepth": if parent.is_some() { 2 } else { 1 }});
            if let Some(p) = parent {
                meta["parentAgentId"] = json!(p);
            }
            std::fs::write(dir.join(format!("agent-{id}.meta.json")), meta.to_string()).unwrap();
        }
    });
    rp.common_checks();

    let started: BTreeSet<&str> = rp
        .select("SubagentStart", |l| l.event() == "SubagentStart")
        .iter()
        .map(|(_, l, _)| l.p("agent_id").unwrap())
        .collect();
    assert_eq!(started.len(), 3, "foreground, nested and background subagents");
    // Every Agent PostToolUse names the subagent it started; together they cover all three.
    let mut spawned = BTreeSet::new();
    for (i, l, r) in rp.select("PostToolUse Agent", |l| l.event() == "PostToolUse" && l.tool() == Some("Agent")) {
        let want = l.payload["tool_response"]["agentId"].as_str().unwrap();
        assert_eq!(str_at(r, "tool_context/spawned_agent_id"), Some(want), "line {}", i + 1);
        assert_eq!(r["tool_context"]["status"], l.payload["tool_response"]["status"], "line {}", i + 1);
        assert_eq!(str_at(r, "action_details/subagent_type"), Some("general-purpose"));
        spawned.insert(want);
    }
    assert_eq!(spawned, started);
    let (_, _, bg) =
        rp.select("the background launch", |l| l.payload["tool_response"]["status"] == "async_launched")[0];
    assert_eq!(str_at(bg, "tool_context/status"), Some("async_launched"));
    // The Agent tool's prompt (under tool_input) is a prompt: kept; the subagent's report (tool_response) is content.
    for (_, _, r) in rp.select("PostToolUse Agent", |l| l.event() == "PostToolUse" && l.tool() == Some("Agent")) {
        if let Some(content) = r["raw_input"]["tool_response"].get("content") {
            assert!(!content.to_string().contains("<tools-used-before-summary>"), "subagent output stored: {content}");
        }
    }
    // Tool calls inside a subagent carry its agent id (checked per line by common_checks); the
    // nested subagent's SubagentStop names its parent from the meta file.
    for (i, l, r) in rp.select("SubagentStop", |l| l.event() == "SubagentStop") {
        let id = l.p("agent_id").unwrap();
        let (tool_use, parent) = meta_for(id);
        assert_eq!(str_at(r, "agent_context/parent_tool_use_id"), Some(tool_use.as_str()), "line {}", i + 1);
        assert_eq!(str_at(r, "agent_context/parent_agent_id"), parent.as_deref(), "line {}", i + 1);
        assert_eq!(str_at(r, "session_context/source"), None);
        assert!(str_at(r, "raw_input/last_assistant_message").unwrap().starts_with("[content omitted"));
    }

    rp.snapshot("subagent_start", |l| l.event() == "SubagentStart");
    rp.snapshot("pre_agent", |l| l.event() == "PreToolUse" && l.tool() == Some("Agent") && l.p("agent_id").is_none());
    rp.snapshot("post_agent_background", |l| l.payload["tool_response"]["status"] == "async_launched");
    rp.snapshot("post_agent_foreground", |l| {
        l.event() == "PostToolUse"
            && l.tool() == Some("Agent")
            && l.p("agent_id").is_none()
            && l.payload["tool_response"]["status"] == "completed"
    });
    rp.snapshot("subagent_bash", |l| {
        l.event() == "PostToolUse" && l.tool() == Some("Bash") && l.p("agent_id").is_some()
    });
    rp.snapshot("subagent_stop_nested", |l| {
        l.event() == "SubagentStop" && l.p("agent_id") == Some("a70c289becd5bd04f")
    });
}

/// Which Agent call spawned each subagent of the `subagents` recording (from its tool_use ids).
fn meta_for(agent_id: &str) -> (String, Option<String>) {
    match agent_id {
        "afa2f023a1e29b438" => ("toolu_352bc64f38b14ed59b37e06c".into(), None),
        "a3ce21d7ce40e735d" => ("toolu_56f6df41ad4f4a09a2b5834c".into(), None),
        "a70c289becd5bd04f" => ("toolu_5d8b533b24c6418cb2e1168c".into(), Some("afa2f023a1e29b438".into())),
        other => panic!("unknown subagent {other}"),
    }
}

#[test]
fn child_process() {
    let rp = replay("child-process");
    rp.common_checks();
    let parent = rp.lines[0].p("session_id").unwrap().to_string();
    let children: BTreeSet<String> =
        rp.lines.iter().filter_map(|l| l.p("session_id")).filter(|s| *s != parent).map(str::to_string).collect();
    assert_eq!(children.len(), 1, "one child session");
    let child = children.into_iter().next().unwrap();
    let mut n_child = 0;
    for (i, l, r) in rp.find(|_| true) {
        let recorded_tp = l.env.get("TRACEPARENT");
        if l.p("session_id") == Some(child.as_str()) {
            n_child += 1;
            let tp = recorded_tp.expect("the child's hooks see TRACEPARENT");
            assert_eq!(str_at(r, "session_context/traceparent"), Some(tp.as_str()), "line {}", i + 1);
            assert_eq!(str_at(r, "session_context/parent_session"), Some(parent.as_str()), "line {}", i + 1);
            assert_eq!(str_at(r, "agent_context/agent_role"), Some("delegate"), "line {}", i + 1);
        } else {
            assert!(recorded_tp.is_none());
            assert_eq!(r["session_context"].get("traceparent"), None, "line {}", i + 1);
            assert_eq!(r["session_context"].get("parent_session"), None, "line {}", i + 1);
            assert_eq!(str_at(r, "agent_context/agent_role"), Some("primary"), "line {}", i + 1);
        }
    }
    assert!(n_child >= 5);
    // The parent's SessionStart wrote its trace context; the child's SessionStart stayed in the
    // inherited trace (the recorder's trace id) with a span of its own.
    assert_env_file(&rp.env_file_of(&parent), &parent, None);
    let inherited = rp.lines.iter().find_map(|l| l.env.get("TRACEPARENT")).unwrap();
    let inherited_trace = inherited.split('-').nth(1).unwrap();
    let child_env = rp.env_file_of(&child);
    assert_env_file(&child_env, &child, Some(inherited_trace));
    assert!(!child_env.contains(inherited.split('-').nth(2).unwrap()), "the child's span id is its own: {child_env}");

    rp.snapshot("child_session_start", |l| l.event() == "SessionStart" && l.env.contains_key("TRACEPARENT"));
    rp.snapshot("child_bash", |l| l.event() == "PostToolUse" && l.env.contains_key("TRACEPARENT"));
}

#[test]
fn multi_turn() {
    let rp = replay("multi-turn");
    rp.common_checks();
    let starts = rp.select("SessionStart", |l| l.event() == "SessionStart");
    let sources: Vec<&str> = starts.iter().map(|(_, _, r)| str_at(r, "session_context/source").unwrap()).collect();
    assert_eq!(sources, ["startup", "resume"]);
    let sessions: BTreeSet<&str> = starts.iter().map(|(_, _, r)| str_at(r, "session_id").unwrap()).collect();
    assert_eq!(sessions.len(), 1, "one session, two runs");
    let ends = rp.select("SessionEnd", |l| l.event() == "SessionEnd");
    assert_eq!(ends.len(), 2);
    let prompts: BTreeSet<&str> = rp
        .select("prompt", |l| l.event() == "UserPromptSubmit")
        .iter()
        .map(|(_, _, r)| str_at(r, "session_context/prompt_id").unwrap())
        .collect();
    assert_eq!(prompts.len(), 2, "two prompt ids");
    // Both SessionStarts append the same trace context (same session, same span).
    let session = *sessions.iter().next().unwrap();
    let text = rp.env_file_of(session);
    let tps: BTreeSet<&str> = text.lines().filter(|l| l.starts_with("export TRACEPARENT=")).collect();
    assert_eq!(text.lines().filter(|l| l.starts_with("export TRACEPARENT=")).count(), 2, "{text}");
    assert_eq!(tps.len(), 1, "{text}");

    rp.snapshot("session_start_resume", |l| l.event() == "SessionStart" && l.p("source") == Some("resume"));
}

/// Sends the first lines of `tools` (with their env) and returns the outputs.
fn send_some(sb: &Sandbox, extra: &[(&str, &str)]) {
    for line in load(sb, "tools").iter().take(6) {
        if let Some(f) = line.env.get("CLAUDE_ENV_FILE") {
            std::fs::create_dir_all(PathBuf::from(f).parent().unwrap()).unwrap();
        }
        let mut env: Vec<(&str, &str)> = line.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.extend_from_slice(extra);
        let out = sb.hook_env(&serde_json::to_vec(&line.payload).unwrap(), &env);
        out.ok();
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn no_marker_writes_nothing() {
    let sb = Sandbox::bare();
    send_some(&sb, &[]);
    assert!(all_files(&sb.data).is_empty(), "files written with telemetry off: {:?}", all_files(&sb.data));
    assert!(!sb.data.exists(), "the data dir was created with telemetry off");
    let session_env = sb.home.join(".claude/session-env");
    assert!(all_files(&session_env).is_empty(), "CLAUDE_ENV_FILE written with telemetry off");
    // Without CLAUDE_PROJECT_DIR the payload's cwd decides: still no marker, still nothing.
    send_some(&sb, &[("CLAUDE_PROJECT_DIR", "")]);
    assert!(!sb.data.exists());
}

#[test]
fn scope_off_writes_nothing_even_with_marker() {
    let sb = Sandbox::new();
    send_some(&sb, &[("AGENT_TELEMETRY_SCOPE", "off")]);
    assert!(!sb.data.exists());
}

#[test]
fn scope_all_records_without_marker() {
    let sb = Sandbox::bare();
    send_some(&sb, &[("AGENT_TELEMETRY_SCOPE", "all")]);
    let records = sb.records();
    assert_eq!(records.len(), 6);
    for r in &records {
        assert_eq!(str_at(r, "metadata/scope"), Some("user"));
        assert_eq!(str_at(r, "project_path"), sb.project.to_str());
    }
    sb.assert_verified();
}

#[test]
fn marker_above_the_project_and_cwd_fallback() {
    // The marker one level up enables the project below it.
    let sb = Sandbox::bare();
    std::fs::write(sb.project.parent().unwrap().join(".telemetry-enabled"), "").unwrap();
    send_some(&sb, &[]);
    assert_eq!(sb.records().len(), 6);
    // Without CLAUDE_PROJECT_DIR, the payload's cwd finds the marker (and the marker's dir is the root).
    let sb = Sandbox::new();
    send_some(&sb, &[("CLAUDE_PROJECT_DIR", "")]);
    let records = sb.records();
    assert_eq!(records.len(), 6);
    assert_eq!(str_at(&records[0], "project_path"), sb.project.to_str());
}
