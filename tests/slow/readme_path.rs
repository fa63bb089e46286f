//! The README's path, as a new user takes it (slow stage): a fresh HOME, no `AGENT_TELEMETRY_*`
//! (nor `XDG_*`, `OTEL_*`) variables at all, only the commands the README gives.
//!
//! 1. `install --project P --endpoint <collector gRPC>`; a real Claude Code session in P; its
//!    trace arrives at Jaeger and its log rows at VictoriaLogs, one per journal record.
//! 2. `install --endpoint <collector HTTP> --protocol http/protobuf`; a second session arrives,
//!    over HTTP (the collector's own receiver counters say so), with no manual relay restart.
//! 3. `relay --print-unit`: the unit's command line and environment resolve to the same config.
//! 4. `uninstall`: the next session leaves nothing in the journal.
//!
//!     cargo test --test slow readme_path:: -- --include-ignored --nocapture

use crate::harness::claude;
use crate::harness::stack;

use claude::{note, run_claude, ClaudeCli, Project, ScriptedModel};
use serde_json::Value;
use stack::{http_get, wait_for, Stack};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs `agent-telemetry ARGS` as the user: their HOME, nothing else set.
fn ours(home: &Path, args: &[&str]) -> (i32, String) {
    let out = crate::harness::command(home, args).output().expect("run agent-telemetry");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn status_json(home: &Path, project: &Path) -> (i32, Value) {
    let (code, text) = ours(home, &["status", "--json", "--project", project.to_str().unwrap()]);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{text}"));
    (code, v)
}

/// The journal's records (every segment, in order).
fn journal(data_dir: &Path) -> Vec<Value> {
    crate::harness::journal_records(data_dir)
}

/// The session's log rows at VictoriaLogs once there are `n` distinct journal seqs of it.
fn wait_rows(stack: &Stack, session: &str, n: usize) -> Vec<Value> {
    let q = format!("gen_ai.conversation.id:\"{session}\"");
    wait_for(Duration::from_secs(60), || {
        let rows = stack.victorialogs_query(&q);
        let seqs: std::collections::BTreeSet<String> =
            rows.iter().filter_map(|r| r["agent_telemetry.seq"].as_str().map(String::from)).collect();
        (seqs.len() >= n).then_some(rows)
    })
    .unwrap_or_else(|| {
        panic!("VictoriaLogs never held {n} rows of session {session}: {:?}", stack.victorialogs_query(&q).len())
    })
}

/// A session's trace at Jaeger with at least `min_spans` spans, all carrying the session id.
fn wait_trace(stack: &Stack, trace_id: &str, session: &str, min_spans: usize) -> Value {
    // The session span ends last (SessionEnd): once it is there, the trace is whole.
    let whole = |t: &Value| {
        t["spans"]
            .as_array()
            .is_some_and(|s| s.len() >= min_spans && s.iter().any(|s| s["operationName"] == "invoke_agent claude-code"))
    };
    let t = wait_for(Duration::from_secs(60), || stack.jaeger_trace(trace_id).filter(whole))
        .unwrap_or_else(|| panic!("Jaeger never held {min_spans} spans of trace {trace_id}"));
    let spans = t["spans"].as_array().unwrap();
    for s in spans {
        let conv = s["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "gen_ai.conversation.id")
            .map(|t| t["value"].clone());
        assert_eq!(conv, Some(Value::String(session.into())), "span without the session id: {s}");
    }
    let names: Vec<&str> = spans.iter().filter_map(|s| s["operationName"].as_str()).collect();
    assert!(
        names.contains(&"execute_tool Bash") && names.contains(&"turn") && names.contains(&"invoke_agent claude-code"),
        "{names:?}"
    );
    t
}

/// The model requests in a session's transcripts (main and subagents), read here as plain JSON:
/// request id → (input, output tokens).
fn transcript_requests(home: &Path, session: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let projects = home.join(".claude/projects");
    let mut files = Vec::new();
    for p in std::fs::read_dir(&projects).unwrap().flatten() {
        let main = p.path().join(format!("{session}.jsonl"));
        if main.exists() {
            files.push(main);
            let subs = p.path().join(session).join("subagents");
            files.extend(
                std::fs::read_dir(subs)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|f| f.extension().is_some_and(|x| x == "jsonl")),
            );
        }
    }
    assert!(!files.is_empty(), "no transcript of session {session} under {}", projects.display());
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["type"] == "assistant" {
                let u = &v["message"]["usage"];
                out.insert(
                    v["requestId"].as_str().unwrap().to_string(),
                    (u["input_tokens"].as_u64().unwrap(), u["output_tokens"].as_u64().unwrap()),
                );
            }
        }
    }
    out
}

/// One `chat` span per model request at Jaeger, with the transcript's tokens; the session span
/// totals them.
fn check_model_calls(trace: &Value, home: &Path, session: &str) {
    let want = transcript_requests(home, session);
    let spans = trace["spans"].as_array().unwrap();
    let tag =
        |s: &Value, k: &str| s["tags"].as_array().unwrap().iter().find(|t| t["key"] == k).map(|t| t["value"].clone());
    let chats: Vec<&Value> =
        spans.iter().filter(|s| s["operationName"].as_str().is_some_and(|n| n.starts_with("chat "))).collect();
    let got: std::collections::BTreeMap<String, (u64, u64)> = chats
        .iter()
        .map(|s| {
            (
                tag(s, "agent_telemetry.request_id").unwrap().as_str().unwrap().to_string(),
                (
                    tag(s, "gen_ai.usage.input_tokens").unwrap().as_u64().unwrap(),
                    tag(s, "gen_ai.usage.output_tokens").unwrap().as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(chats.len(), want.len(), "one chat span per request");
    assert_eq!(got, want, "chat spans at Jaeger ≠ the transcript's requests");
    let run = spans.iter().find(|s| s["operationName"] == "invoke_agent claude-code").unwrap();
    assert_eq!(
        tag(run, "gen_ai.usage.input_tokens").and_then(|v| v.as_u64()),
        Some(want.values().map(|w| w.0).sum::<u64>()),
        "session total"
    );
}

/// The collector's count of log records it accepted over OTLP/HTTP (its own metrics).
fn collector_http_log_records(stack: &Stack) -> f64 {
    let url = format!("http://127.0.0.1:{}/metrics", stack.ports.collector_metrics);
    let (status, body) = http_get(&url, &[]).expect("collector metrics");
    assert_eq!(status, 200);
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with("otelcol_receiver_accepted_log_records") && l.contains("transport=\"http\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `Environment="K=V"` lines and the `ExecStart=` command of a systemd unit.
fn parse_unit(unit: &str) -> (Vec<(String, String)>, Vec<String>) {
    let unquote = |s: &str| {
        s.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(s)
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
            .replace("%%", "%")
    };
    let mut env = Vec::new();
    let mut exec = Vec::new();
    for line in unit.lines() {
        if let Some(v) = line.strip_prefix("Environment=") {
            let (k, v) = unquote(v).split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).expect("K=V");
            env.push((k, v));
        } else if let Some(cmd) = line.strip_prefix("ExecStart=") {
            let (exe, rest) = match cmd.strip_prefix('"') {
                Some(q) => q.split_once('"').map(|(e, r)| (e.to_string(), r.to_string())).expect("quoted exe"),
                None => cmd.split_once(' ').map(|(e, r)| (e.to_string(), r.to_string())).expect("exe args"),
            };
            exec.push(exe);
            exec.extend(rest.split_whitespace().map(String::from));
        }
    }
    (env, exec)
}

#[test]
#[ignore = "slow stage: the collector, Jaeger, VictoriaLogs and the real Claude Code CLI (just test-slow)"]
fn a_new_user_following_the_readme() {
    let _new_user = crate::harness::as_a_new_user();
    let cli = ClaudeCli::find_or_install()
        .unwrap_or_else(|why| panic!("the Claude Code CLI is needed (scripts/claude/install-cli.sh): {why}"));
    note(format!("readme_path: Claude Code {}", cli.version()));
    let stack = Stack::start();
    let model = ScriptedModel::start(claude::scenario_path("readme-path"));
    let project = Project::new().git_init();
    let (p, home) = (project.path(), project.home());
    let data_dir = home.join(".local/share/agent-telemetry");

    // 1. install with the collector's gRPC endpoint; one session.
    let (code, out) =
        ours(home, &["install", "--project", p.to_str().unwrap(), "--endpoint", &stack.otlp_grpc_endpoint()]);
    assert_eq!(code, 0, "install: {out}");
    let config_file = home.join(".config/agent-telemetry/config.toml");
    assert!(
        std::fs::read_to_string(&config_file).unwrap().contains(&stack.otlp_grpc_endpoint()),
        "install wrote no endpoint to {}",
        config_file.display()
    );
    let run = run_claude(&cli, &model, &project, "README-PATH-GRPC: list the files", &[], &[]);
    assert!(run.status.success(), "claude failed: {}", run.stderr);
    let s1 = run.session_id.clone().expect("claude printed a session id");
    let j1: Vec<Value> = journal(&data_dir).into_iter().filter(|r| r["session_id"] == s1.as_str()).collect();
    assert!(j1.len() >= 6, "the hook recorded too little of session 1: {} record(s)", j1.len());
    let rows = wait_rows(&stack, &s1, j1.len());
    let trace_id = rows[0]["trace_id"].as_str().expect("trace_id on the log row").to_string();
    assert!(rows.iter().all(|r| r["trace_id"] == trace_id.as_str()), "one trace per session");
    let trace = wait_trace(&stack, &trace_id, &s1, 3);
    check_model_calls(&trace, home, &s1);
    let (code, st) = status_json(home, p);
    assert_eq!(code, 0, "status after session 1: {st:#}");
    assert_eq!(st["relay"]["running"], true, "{st:#}");
    assert_eq!(st["relay"]["matches_config"], true, "{st:#}");
    assert_eq!(st["relay"]["in_use"]["destination"], format!("{} (grpc)", stack.otlp_grpc_endpoint()), "{st:#}");
    assert_eq!(st["config_path"], config_file.to_str().unwrap());
    let http_before = collector_http_log_records(&stack);

    // 2. switch to HTTP/protobuf: the running relay takes it, no restart by hand.
    let (code, out) = ours(
        home,
        &[
            "install",
            "--project",
            p.to_str().unwrap(),
            "--endpoint",
            &stack.otlp_http_endpoint(),
            "--protocol",
            "http/protobuf",
        ],
    );
    assert_eq!(code, 0, "install --protocol: {out}");
    assert!(
        out.contains(&format!("now exports to {} (http/protobuf)", stack.otlp_http_endpoint())),
        "install did not confirm the running relay's switch:\n{out}"
    );
    let run = run_claude(&cli, &model, &project, "README-PATH-HTTP: list the files again", &[], &[]);
    assert!(run.status.success(), "claude failed: {}", run.stderr);
    let s2 = run.session_id.clone().expect("session id");
    assert_ne!(s1, s2);
    let j2: Vec<Value> = journal(&data_dir).into_iter().filter(|r| r["session_id"] == s2.as_str()).collect();
    assert!(j2.len() >= 6, "session 2: {} record(s)", j2.len());
    let rows = wait_rows(&stack, &s2, j2.len());
    wait_trace(&stack, rows[0]["trace_id"].as_str().unwrap(), &s2, 3);
    let http_after = wait_for(Duration::from_secs(30), || Some(collector_http_log_records(&stack)).filter(|n| *n >= http_before + j2.len() as f64)).unwrap_or_else(|| {
        panic!("the collector counted {} log records over HTTP before and {} after session 2 ({} records): not sent over HTTP", http_before, collector_http_log_records(&stack), j2.len())
    });
    note(format!("readme_path: collector OTLP/HTTP log records {http_before} → {http_after}"));
    let (code, st) = status_json(home, p);
    assert_eq!(code, 0, "status after the switch: {st:#}");
    assert_eq!(
        st["relay"]["in_use"]["destination"],
        format!("{} (http/protobuf)", stack.otlp_http_endpoint()),
        "{st:#}"
    );

    // 3. the systemd unit resolves to the same config as the user's shell.
    let (code, unit) = ours(home, &["relay", "--print-unit"]);
    assert_eq!(code, 0, "{unit}");
    let (env, exec) = parse_unit(&unit);
    assert_eq!(exec[1..], ["relay", "--foreground"], "{unit}");
    assert!(Path::new(&exec[0]).is_absolute(), "{unit}");
    let unit_status = Command::new(&exec[0])
        .args(["status", "--json", "--project", p.to_str().unwrap()])
        .env_clear()
        .env("HOME", home) // systemd gives a user unit its HOME, nothing of the login shell
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let unit_view: Value =
        serde_json::from_slice(&unit_status.stdout).expect("status --json under the unit's environment");
    for key in ["config_path", "data_dir", "export_fingerprint"] {
        assert_eq!(unit_view[key], st[key], "the unit resolves {key} differently:\n{unit}");
    }
    // Every setting the same, from the same source — except the data dir and config file, which
    // the unit names by variable where the user's shell takes the defaults.
    let settings = |v: &Value| -> Vec<(String, String, String)> {
        v["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .map(|s| {
                let key = s["key"].as_str().unwrap().to_string();
                let source = if key == "data_dir" || key == "config_path" {
                    String::new()
                } else {
                    s["source"].as_str().unwrap().to_string()
                };
                (key, s["value"].as_str().unwrap().to_string(), source)
            })
            .collect()
    };
    assert_eq!(settings(&unit_view), settings(&st), "the unit's environment resolves other settings:\n{unit}");

    // 4. uninstall: the next session leaves nothing in the journal.
    let before = journal(&data_dir).len();
    let (code, out) = ours(home, &["uninstall", "--project", p.to_str().unwrap()]);
    assert_eq!(code, 0, "uninstall: {out}");
    let run = run_claude(&cli, &model, &project, "README-PATH-UNINSTALLED: one more time", &[], &[]);
    assert!(run.status.success(), "claude failed: {}", run.stderr);
    let s3 = run.session_id.clone().expect("session id");
    let after = journal(&data_dir);
    assert_eq!(after.len(), before, "records were added after uninstall");
    assert!(!after.iter().any(|r| r["session_id"] == s3.as_str()));
    let (code, out) = ours(home, &["relay", "--stop"]);
    assert_eq!(code, 0, "{out}");
}
