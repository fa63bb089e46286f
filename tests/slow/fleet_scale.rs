//! The fleet at scale (slow stage: `#[ignore]`d in the fast stage, run by `just test-slow`):
//! 20 agents record into one data dir at once — 3 real Claude Code CLI sessions (scripted model,
//! each process with its own `AGENT_TELEMETRY_AGENT_ID`) and 17 synthetic agents, each a thread
//! running the real `agent-telemetry hook` binary once per event with its own sessions —
//! 10,000 synthetic events by default in the slow stage (`AT_FLEET_EVENTS=N` for another size; the
//! full-size run, 100,000, is `just bench-fleet`) through one
//! relay (`relay --foreground`, OTLP gRPC) → the project's collector → Jaeger + VictoriaLogs.
//!
//! Asserted: nothing lost (the journal's seq count = distinct `agent_telemetry.seq` at
//! VictoriaLogs once a sentinel session hooked after everything has arrived; duplicates
//! reported, none expected without a crash), per synthetic agent the same count by `agent.id`;
//! every session's trace complete at Jaeger (its span count = the session runs, turns, tool
//! calls, subagents and model calls the journal implies); `fleet conflicts` finds exactly the planted
//! conflicts (write/write and read/write between synthetic agents, and one between a synthetic
//! agent and a real Claude Code session) and none of the planted non-conflicts (two reads, one
//! agent in two sessions, a failed write, every agent's private files); `fleet compare` counts
//! each synthetic agent's sessions and tool calls as planned, and the hook's own time per event
//! (`metadata.hook_us`) for each; `fleet overlaps` finds the agents together in the shared
//! project. Tenants at scale: the agents are in two groups of the registry
//! (tests/data/fleet/tenants.toml: alpha → VictoriaLogs tenant 21:0, beta → 22:3; even synthetic
//! agents and claude-1 alpha, odd ones and claude-2 beta, claude-3 and the sentinel no group →
//! 0:0), the collector runs with the fragment `fleet collector-config` writes for it, and each
//! tenant must hold exactly its group's records, per agent, by seq — none in another tenant, the
//! union of the tenants (`/select/tenant_ids`) the whole journal. Printed: hook latency under this
//! load (median, p99), the relay's throughput (events/s, and per CPU second) and memory (VmRSS
//! sampled from /proc every 250 ms).
//!
//! Time: ~400 s for 100,000 events on 2 cores (the per-event hook processes are the limit, the
//! relay keeps up); figures in docs/benchmarks.md ("fleet scale").
//!
//!     cargo test --test slow fleet_scale:: -- --include-ignored --nocapture

use crate::harness::claude;
use crate::harness::relay;
use crate::harness::stack;

use claude::{run_claude, scenario_path, ClaudeCli, Project, ScriptedModel};
use relay::{Dest, Install, RelayProc};
use serde_json::{json, Value};
use stack::{sentinel_payloads, sentinel_session_id, Stack};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SYNTHETIC_AGENTS: usize = 17;
/// Real Claude Code sessions: (agent id, group, scenario file, prompt).
const CLAUDE_AGENTS: [(&str, Option<&str>, &str, &str); 3] = [
    ("claude-1", Some("alpha"), "tools", "TOOLS-SCENARIO: look at the project and make notes"),
    ("claude-2", Some("beta"), "subagents", "SUBAGENTS-SCENARIO: delegate some work"),
    ("claude-3", None, "parallel", "PARALLEL-SCENARIO: inspect the project in parallel"),
];
/// Tool calls per turn and turns per session of a synthetic agent: 2 + 2×(2 + 2×12) + ... ≈ 80 events.
const CALLS_PER_TURN: usize = 12;
const TURNS: usize = 3;

fn synth_agent(i: usize) -> String {
    format!("synth-{i:02}")
}

/// The registry group of a synthetic agent: two groups, half each.
fn synth_group(i: usize) -> Option<&'static str> {
    Some(if i.is_multiple_of(2) { "alpha" } else { "beta" })
}

/// VictoriaLogs tenant (AccountID, ProjectID) of each group in tests/data/fleet/tenants.toml;
/// "" = no group (the default tenant).
const TENANTS: [(&str, (u32, u32)); 3] = [("alpha", (21, 0)), ("beta", (22, 3)), ("", (0, 0))];

/// (rows, distinct seq) per (tenant, group, agent id).
type TenantCounts = BTreeMap<((u32, u32), String, String), (u64, u64)>;

fn tenant_of(group: &str) -> (u32, u32) {
    TENANTS
        .iter()
        .find(|(g, _)| *g == group)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("group {group:?} is not in the registry"))
}

/// One planned file-tool call: (path, tool, succeeds).
type Touch = (String, &'static str, bool);

/// What the scenario plants, per synthetic agent: extra touches in its first session (and, for
/// `same_agent`, in its second too); and the conflicts `fleet conflicts` must find.
struct Plan {
    first_session: BTreeMap<usize, Vec<Touch>>,
    second_session: BTreeMap<usize, Vec<Touch>>,
    /// (path, kind, agents)
    conflicts: BTreeSet<(String, String, Vec<String>)>,
}

fn plan(project: &Path, claude_1_project: &Path) -> Plan {
    let p = |rel: &str| project.join(rel).display().to_string();
    let mut first: BTreeMap<usize, Vec<Touch>> = BTreeMap::new();
    let mut second: BTreeMap<usize, Vec<Touch>> = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    let set = |a: &[usize]| a.iter().map(|i| synth_agent(*i)).collect::<Vec<_>>();
    // write/write: agents 0+1, 2+3, 4+5 write the same file.
    for k in 0..3 {
        let f = p(&format!("planted/ww-{k}.rs"));
        first.entry(2 * k).or_default().push((f.clone(), "Write", true));
        first.entry(2 * k + 1).or_default().push((f.clone(), "Edit", true));
        conflicts.insert((f, "write/write".to_string(), set(&[2 * k, 2 * k + 1])));
    }
    // read/write: 6 writes, 7 and 8 read.
    let f = p("planted/rw.rs");
    first.entry(6).or_default().push((f.clone(), "Write", true));
    first.entry(7).or_default().push((f.clone(), "Read", true));
    first.entry(8).or_default().push((f.clone(), "Read", true));
    conflicts.insert((f, "read/write".to_string(), set(&[6, 7, 8])));
    // A synthetic agent and a real Claude Code session write the same file (the tools scenario
    // writes and edits notes.txt in its project).
    let notes = claude_1_project.join("notes.txt").display().to_string();
    first.entry(9).or_default().push((notes.clone(), "Edit", true));
    conflicts.insert((notes, "write/write".to_string(), vec!["claude-1".to_string(), synth_agent(9)]));
    // Not conflicts: every agent reads one file; agent 10 writes a file in two sessions; 11
    // writes a file that 12 fails to write.
    for i in 0..SYNTHETIC_AGENTS {
        first.entry(i).or_default().push((p("planted/shared-readme.md"), "Read", true));
    }
    first.entry(10).or_default().push((p("planted/own.rs"), "Write", true));
    second.entry(10).or_default().push((p("planted/own.rs"), "Edit", true));
    first.entry(11).or_default().push((p("planted/failed.rs"), "Write", true));
    first.entry(12).or_default().push((p("planted/failed.rs"), "Write", false));
    Plan { first_session: first, second_session: second, conflicts }
}

/// What one synthetic agent did.
#[derive(Default)]
struct Stream {
    events: usize,
    sessions: BTreeSet<String>,
    tool_calls: usize,
    latencies_us: Vec<u64>,
}

/// One `agent-telemetry hook` process: the payload on stdin; its wall time in µs.
fn hook(env: &Install, agent: &str, group: Option<&str>, payload: &Value) -> u64 {
    let bytes = serde_json::to_vec(payload).unwrap();
    let mut cmd = env.command(&["hook"]);
    cmd.env("CLAUDE_PROJECT_DIR", &env.project)
        .env("AGENT_TELEMETRY_AGENT_ID", agent)
        .current_dir(&env.project)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(g) = group {
        cmd.env("AGENT_TELEMETRY_AGENT_GROUP", g);
    }
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn hook");
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let st = child.wait().unwrap();
    let us = t.elapsed().as_micros() as u64;
    assert_eq!(st.code(), Some(0), "hook exited {st}");
    us
}

/// A synthetic agent: sessions of SessionStart, turns of tool calls on its own files (the
/// planted touches mixed into its first two sessions), Stop, SessionEnd, until `quota` events.
fn stream(env: &Install, i: usize, quota: usize, plan: &Plan) -> Stream {
    let agent = synth_agent(i);
    let mut s = Stream::default();
    let own = |n: usize| env.project.join(format!("agents/{agent}/f{}.rs", n % 40)).display().to_string();
    let mut session_no = 0;
    while s.events < quota {
        let sid = format!("{:08x}-5ca1-4000-8000-{:012x}", i, session_no);
        let cwd = env.project.display().to_string();
        let send = |s: &mut Stream, mut p: Value| {
            p["session_id"] = json!(sid);
            p["cwd"] = json!(cwd);
            s.latencies_us.push(hook(env, &agent, synth_group(i), &p));
            s.events += 1;
        };
        s.sessions.insert(sid.clone());
        send(&mut s, json!({"hook_event_name": "SessionStart", "source": "startup"}));
        let mut planted: Vec<Touch> = match session_no {
            0 => plan.first_session.get(&i).cloned().unwrap_or_default(),
            1 => plan.second_session.get(&i).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        for turn in 0..TURNS {
            let prompt = format!("{sid}-p{turn}");
            send(
                &mut s,
                json!({"hook_event_name": "UserPromptSubmit", "prompt": format!("task {turn}"), "prompt_id": prompt}),
            );
            for c in 0..CALLS_PER_TURN {
                let id = format!("toolu_{sid}_{turn}_{c}");
                let (tool, input, ok) = if let Some((path, tool, ok)) = planted.pop() {
                    let input = match tool {
                        "Read" => json!({"file_path": path}),
                        "Write" => json!({"file_path": path, "content": "planted\n"}),
                        _ => json!({"file_path": path, "old_string": "a", "new_string": "b"}),
                    };
                    (tool, input, ok)
                } else {
                    match (session_no * 7 + turn * 3 + c) % 5 {
                        0 => ("Read", json!({"file_path": own(c)}), true),
                        1 => ("Edit", json!({"file_path": own(c + 1), "old_string": "a", "new_string": "b"}), true),
                        2 => ("Write", json!({"file_path": own(c + 2), "content": "x\n"}), true),
                        3 => ("Grep", json!({"pattern": "TODO", "path": cwd}), true),
                        _ => (
                            "Bash",
                            json!({"command": format!("cargo test -p m{c}"), "description": "test"}),
                            c % 3 != 0,
                        ),
                    }
                };
                let base = json!({"tool_name": tool, "tool_input": input, "tool_use_id": id, "prompt_id": prompt});
                let mut pre = base.clone();
                pre["hook_event_name"] = json!("PreToolUse");
                send(&mut s, pre);
                let mut post = base;
                if ok {
                    post["hook_event_name"] = json!("PostToolUse");
                    post["tool_response"] = json!({"stdout": "ok"});
                } else {
                    post["hook_event_name"] = json!("PostToolUseFailure");
                    post["error"] = json!("Exit code 1");
                }
                send(&mut s, post);
                s.tool_calls += 1;
            }
            send(&mut s, json!({"hook_event_name": "Stop", "prompt_id": prompt, "stop_hook_active": false}));
        }
        assert!(planted.is_empty(), "{agent}: more planted touches than calls in a session");
        send(&mut s, json!({"hook_event_name": "SessionEnd", "reason": "other"}));
        session_no += 1;
    }
    s
}

/// A real Claude Code session in its own project, recording into the shared data dir as `agent`.
fn claude_session(
    cli: &ClaudeCli,
    env: &Install,
    project: &Project,
    agent: &str,
    group: Option<&str>,
    scenario: &str,
    prompt: &str,
) -> Option<String> {
    let model = ScriptedModel::start(scenario_path(scenario));
    let data = env.data.display().to_string();
    let mut vars = vec![
        ("AGENT_TELEMETRY_HOME", data.as_str()),
        ("AGENT_TELEMETRY_RELAY", "off"),
        ("AGENT_TELEMETRY_AGENT_ID", agent),
    ];
    if let Some(g) = group {
        vars.push(("AGENT_TELEMETRY_AGENT_GROUP", g));
    }
    let run = run_claude(cli, &model, project, prompt, &[], &vars);
    run.assert_success();
    run.session_id.clone()
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}

fn exported(data: &Path) -> u64 {
    std::fs::read(data.join("relay/checkpoint.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["exported_records"].as_u64())
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

#[test]
#[ignore = "slow stage: the real collector, Jaeger, VictoriaLogs and Claude Code CLI; 10,000 hook events (AT_FLEET_EVENTS; full size: just bench-fleet)"]
fn twenty_agents_one_hundred_thousand_events() {
    let total: usize = std::env::var("AT_FLEET_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let cli = ClaudeCli::require();
    let env = Install::new("fleet-scale-");
    // Tenants per group: the collector gets the fragment `fleet collector-config` writes from the
    // registry (one pipeline per group, filtered by agent.group, with the group's tenant).
    let registry = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fleet/tenants.toml");
    let fragment = env.dir.path().join("fleet-collector.yaml");
    let o = env
        .command(&[
            "fleet",
            "collector-config",
            "--registry",
            registry.to_str().unwrap(),
            "--backends",
            "victorialogs,jaeger",
            "-o",
            fragment.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "fleet collector-config: {}", String::from_utf8_lossy(&o.stderr));
    let stack = Stack::start_with(&[("AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG", fragment.to_str().unwrap())]);
    let dest = Dest::Grpc(stack.otlp_grpc_endpoint());
    let relay = RelayProc::start(&env, &dest, &[]);
    let relay_pid = relay.child.id();
    let projects: Vec<Project> = CLAUDE_AGENTS.iter().map(|_| Project::new().git_init()).collect();
    for p in &projects {
        std::fs::write(p.path().join(".telemetry-enabled"), "").unwrap();
        p.register_hook_for_all_events(&format!("{} hook", claude::shell_quote(relay::bin().to_str().unwrap())));
    }
    let plan = Arc::new(plan(&env.project, projects[0].path()));

    // Sample the relay's memory while everything runs.
    let done = Arc::new(AtomicBool::new(false));
    let rss: Arc<Mutex<Vec<(f64, u64, u64)>>> = Arc::default();
    let t0 = Instant::now();
    let sampler = {
        let (done, rss, data) = (done.clone(), rss.clone(), env.data.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = vm_rss_kib(relay_pid) {
                    rss.lock().unwrap().push((t0.elapsed().as_secs_f64(), kib, exported(&data)));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let cpu0 = cpu_secs(relay_pid).unwrap_or(0.0);

    let quota = total.div_ceil(SYNTHETIC_AGENTS);
    let (streams, claude_sessions) = std::thread::scope(|scope| {
        let env = &env;
        let handles: Vec<_> = (0..SYNTHETIC_AGENTS)
            .map(|i| {
                let plan = plan.clone();
                scope.spawn(move || stream(env, i, quota, &plan))
            })
            .collect();
        let claude_handles: Vec<_> = CLAUDE_AGENTS
            .iter()
            .zip(&projects)
            .map(|((agent, group, scenario, prompt), project)| {
                let cli = cli.clone();
                scope.spawn(move || {
                    (agent.to_string(), claude_session(&cli, env, project, agent, *group, scenario, prompt))
                })
            })
            .collect();
        let streams: Vec<Stream> = handles.into_iter().map(|h| h.join().expect("a synthetic agent failed")).collect();
        let claude: Vec<(String, Option<String>)> =
            claude_handles.into_iter().map(|h| h.join().expect("a Claude Code session failed")).collect();
        (streams, claude)
    });
    let hooked_at = t0.elapsed();
    let synthetic: usize = streams.iter().map(|s| s.events).sum();
    // After everything: a sentinel session; once the backends show it, the counts are final.
    let sentinel = sentinel_session_id();
    for line in sentinel_payloads(&sentinel, &env.project) {
        hook(&env, "sentinel", None, &serde_json::from_str(&line).unwrap());
    }
    let n_hooked = relay::journal_records(&env.data).len() as u64;
    let drain = stack::wait_for(Duration::from_secs(600), || (exported(&env.data) >= n_hooked).then(|| t0.elapsed()));
    let drained_at = drain.unwrap_or_else(|| {
        panic!(
            "the relay exported {} of {n_hooked} records within 10 min after the last hook\n{}",
            exported(&env.data),
            relay.stderr()
        )
    });
    let cpu = cpu_secs(relay_pid).unwrap_or(0.0) - cpu0;
    stack.wait_for_sentinel(&sentinel);
    // The relay may still append records of its own (model calls read late): the journal as it
    // stands once the relay has exported all of it.
    let journal = stack::wait_for(Duration::from_secs(120), || {
        let j = relay::journal_records(&env.data);
        std::thread::sleep(Duration::from_millis(500));
        (exported(&env.data) >= j.len() as u64 && relay::journal_records(&env.data).len() == j.len()).then_some(j)
    })
    .expect("the relay exports the whole journal");
    let n = journal.len() as u64;
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    // ---- numbers
    let mut lat: Vec<u64> = streams.iter().flat_map(|s| s.latencies_us.iter().copied()).collect();
    lat.sort_unstable();
    let rss = rss.lock().unwrap().clone();
    let peak = rss.iter().map(|r| r.1).max().unwrap_or(0);
    println!(
        "fleet scale: {} agents ({SYNTHETIC_AGENTS} synthetic, {} real Claude Code sessions), {synthetic} synthetic hook events, {n} journal records",
        SYNTHETIC_AGENTS + CLAUDE_AGENTS.len(),
        CLAUDE_AGENTS.len()
    );
    println!(
        "hooks: all done after {:.1} s ({:.0} events/s); hook latency (process start to exit) median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        hooked_at.as_secs_f64(),
        synthetic as f64 / hooked_at.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
    println!(
        "relay: {n} records exported after {:.1} s ({:.0} events/s end to end, {:.1} s behind the last hook); relay CPU {cpu:.1} s ({:.0} events per CPU second); VmRSS start {} KiB, peak {peak} KiB, end {} KiB",
        drained_at.as_secs_f64(),
        n as f64 / drained_at.as_secs_f64(),
        (drained_at - hooked_at).as_secs_f64(),
        n as f64 / cpu.max(1e-9),
        rss.first().map(|r| r.1).unwrap_or(0),
        rss.last().map(|r| r.1).unwrap_or(0)
    );
    let step = (rss.len() / 12).max(1);
    for r in rss.iter().step_by(step) {
        println!("  t {:>7.1} s  exported {:>7}  VmRSS {:>7} KiB", r.0, r.2, r.1);
    }

    // ---- nothing lost, and each group in its own tenant: every journal record at VictoriaLogs,
    // by seq, in its group's tenant and no other; the tenants VictoriaLogs holds are exactly ours.
    let per_tenant = || -> TenantCounts {
        let mut m = BTreeMap::new();
        for (_, t) in TENANTS {
            let rows = stack.victorialogs_rows_in(t, "service.name:=\"claude-code\" | stats by (agent.group, agent.id) count() as total, count_uniq(agent_telemetry.seq) as uniq").expect("VictoriaLogs answers");
            for r in rows {
                let key = (
                    t,
                    r["agent.group"].as_str().unwrap_or("").to_string(),
                    r["agent.id"].as_str().unwrap_or("").to_string(),
                );
                m.insert(key, (num(&r["total"]), num(&r["uniq"])));
            }
        }
        m
    };
    let mut want_rows: TenantCounts = BTreeMap::new();
    for r in &journal {
        let g = r["agent_context"]["agent_group"].as_str().unwrap_or("").to_string();
        let e = want_rows
            .entry((tenant_of(&g), g, r["agent_context"]["fleet_agent_id"].as_str().unwrap_or("").to_string()))
            .or_default();
        e.0 += 1;
        e.1 += 1;
    }
    let sum = |m: &TenantCounts| m.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    // Each group's pipeline has its own queue: wait until every tenant has caught up.
    let got_rows = stack::wait_for(Duration::from_secs(90), || Some(per_tenant()).filter(|m| sum(m).1 >= n))
        .unwrap_or_else(per_tenant);
    let (total_rows, uniq) = sum(&got_rows);
    println!("VictoriaLogs: {total_rows} rows, {uniq} distinct seq over the tenants; journal {n} records (seq 0..{}): {} lost, {} duplicate(s)", n - 1, n.saturating_sub(uniq), total_rows - uniq);
    for (_, t) in TENANTS {
        let (rows, agents) = got_rows.iter().filter(|(k, _)| k.0 == t).fold((0, 0), |a, (_, v)| (a.0 + v.1, a.1 + 1));
        println!("  tenant {}:{}  {rows} records of {agents} agent(s)", t.0, t.1);
    }
    assert_eq!(got_rows, want_rows, "per tenant, group and agent: (rows, distinct seq) at VictoriaLogs vs the journal — a record in a wrong tenant, a lost one or a duplicate shows here");
    assert_eq!(uniq, n, "distinct seq at VictoriaLogs vs the journal's records");
    let tenant_ids = stack.vl_tenant_ids().expect("/select/tenant_ids");
    assert_eq!(
        tenant_ids,
        TENANTS.iter().map(|(_, t)| *t).collect::<BTreeSet<_>>(),
        "the tenants VictoriaLogs holds data for"
    );
    for (i, s) in streams.iter().enumerate() {
        let a = synth_agent(i);
        let in_journal = journal.iter().filter(|r| r["agent_context"]["fleet_agent_id"] == a.as_str()).count();
        assert_eq!(in_journal, s.events, "{a}: journal records vs events sent");
    }

    // ---- every session's trace complete at Jaeger (no tenants: one store for every group)
    let mut trace_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, t) in TENANTS {
        let traces = stack
            .victorialogs_rows_in(
                t,
                "service.name:=\"claude-code\" | stats by (gen_ai.conversation.id, trace_id) count() as n",
            )
            .expect("VictoriaLogs answers");
        for r in &traces {
            if let (Some(s), Some(t)) = (r["gen_ai.conversation.id"].as_str(), r["trace_id"].as_str()) {
                trace_of.entry(s.to_string()).or_default().insert(t.to_string());
            }
        }
    }
    let mut want_spans: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_session: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in &journal {
        if let Some(s) = r["session_id"].as_str() {
            by_session.entry(s).or_default().push(r);
        }
    }
    for (sid, recs) in &by_session {
        let runs = recs.iter().filter(|r| r["hook_event"] == "SessionStart").count();
        let turns: BTreeSet<&str> = recs.iter().filter_map(|r| r["session_context"]["prompt_id"].as_str()).collect();
        let tools: BTreeSet<&str> = recs.iter().filter_map(|r| r["tool_context"]["tool_use_id"].as_str()).collect();
        let agents: BTreeSet<&str> = recs
            .iter()
            .filter(|r| r["hook_event"] == "SubagentStart")
            .filter_map(|r| r["agent_context"]["agent_id"].as_str())
            .collect();
        // The relay journals each model request at least once: distinct request ids.
        let calls: BTreeSet<&str> = recs
            .iter()
            .filter(|r| r["hook_event"] == "ModelCall")
            .filter_map(|r| r["model_call"]["request_id"].as_str())
            .collect();
        want_spans.insert(sid.to_string(), runs + turns.len() + tools.len() + agents.len() + calls.len());
    }
    let claude_sids: BTreeSet<String> = claude_sessions.iter().filter_map(|(_, s)| s.clone()).collect();
    assert_eq!(
        claude_sids.len(),
        CLAUDE_AGENTS.len(),
        "each Claude Code run reported its session id: {claude_sessions:?}"
    );
    let checked_at = Instant::now();
    let mut incomplete = Vec::new();
    let mut spans_seen = 0;
    for (sid, want) in &want_spans {
        let Some(tids) = trace_of.get(sid) else {
            incomplete.push(format!("{sid}: no log row names its trace"));
            continue;
        };
        assert_eq!(tids.len(), 1, "{sid}: one trace per session, got {tids:?}");
        let tid = tids.iter().next().unwrap();
        let got = stack::wait_for(Duration::from_secs(30), || {
            let t = stack.jaeger_trace(tid)?;
            let ids: BTreeSet<String> = t["spans"]
                .as_array()?
                .iter()
                .filter(|s| s["processID"].as_str().is_some())
                .filter_map(|s| s["spanID"].as_str().map(String::from))
                .collect();
            // A trace holds its own session's spans (and a child session's, none here).
            (ids.len() >= *want).then_some(ids.len())
        });
        match got {
            Some(g) if g == *want => spans_seen += g,
            other => incomplete.push(format!("{sid}: {other:?} span(s) at Jaeger, the journal implies {want}")),
        }
    }
    println!(
        "Jaeger: {} session traces complete ({spans_seen} spans, {} of them real Claude Code sessions) in {:.1} s",
        want_spans.len() - incomplete.len(),
        claude_sids.len(),
        checked_at.elapsed().as_secs_f64()
    );
    assert!(
        incomplete.is_empty(),
        "{} incomplete trace(s):\n{}",
        incomplete.len(),
        incomplete.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );

    // ---- fleet conflicts: exactly the planted ones (the whole run is well inside an hour)
    let out = env.command(&["fleet", "conflicts", "--json", "--window", "1h"]).output().unwrap();
    assert!(out.status.success(), "fleet conflicts: {}", String::from_utf8_lossy(&out.stderr));
    let found: BTreeSet<(String, String, Vec<String>)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
                c["agents"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect();
    println!("fleet conflicts: {} found, {} planted", found.len(), plan.conflicts.len());
    assert_eq!(found, plan.conflicts, "fleet conflicts vs the planted conflicts");
    let text = env.command(&["fleet", "conflicts", "--window", "1h"]).output().unwrap();
    println!("{}", String::from_utf8_lossy(&text.stdout));

    // ---- fleet compare: each synthetic agent's sessions and tool calls as sent
    let out = env.command(&["fleet", "compare", "--json"]).output().unwrap();
    assert!(out.status.success(), "fleet compare: {}", String::from_utf8_lossy(&out.stderr));
    let rows: BTreeMap<String, Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| (r["agent"].as_str().unwrap_or("").to_string(), r))
        .collect();
    for (i, s) in streams.iter().enumerate() {
        let r = &rows[&synth_agent(i)];
        assert_eq!(r["sessions"].as_u64(), Some(s.sessions.len() as u64), "{}: sessions", synth_agent(i));
        assert_eq!(r["tool_calls"].as_u64(), Some(s.tool_calls as u64), "{}: tool calls", synth_agent(i));
        assert_eq!(r["records"].as_u64(), Some(s.events as u64), "{}: records", synth_agent(i));
    }
    for (agent, _, _, _) in CLAUDE_AGENTS {
        assert_eq!(rows[agent]["sessions"].as_u64(), Some(1), "{agent}: one Claude Code session");
    }
    // The hook's own time per event, as each record carries it: every synthetic agent has it on
    // every record it sent.
    for (i, s) in streams.iter().enumerate() {
        let h = &rows[&synth_agent(i)]["hook"];
        assert_eq!(h["events"].as_u64(), Some(s.events as u64), "{}: hook timing on every record", synth_agent(i));
        assert!(h["median_us"].as_u64().unwrap() <= h["p99_us"].as_u64().unwrap(), "{}: {h}", synth_agent(i));
    }
    let mut own: Vec<u64> = journal.iter().filter_map(|r| r["metadata"]["hook_us"].as_u64()).collect();
    own.sort_unstable();
    println!(
        "hook's own time (metadata.hook_us, start to journal write, {} records): median {:.2} ms, p99 {:.2} ms",
        own.len(),
        percentile(&own, 0.5),
        percentile(&own, 0.99)
    );

    // ---- fleet overlaps: the synthetic agents share one project, all at once
    let out = env.command(&["fleet", "overlaps", "--json"]).output().unwrap();
    assert!(out.status.success(), "fleet overlaps: {}", String::from_utf8_lossy(&out.stderr));
    let overlaps: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let together: BTreeSet<String> = overlaps
        .iter()
        .flat_map(|o| o["agents"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect();
    for i in 0..SYNTHETIC_AGENTS {
        assert!(together.contains(&synth_agent(i)), "{}: in no overlap ({} found)", synth_agent(i), overlaps.len());
    }
    let most = overlaps.iter().filter_map(|o| o["max_agents"].as_u64()).max().unwrap_or(0);
    assert!(most as usize > SYNTHETIC_AGENTS / 2, "the synthetic agents run at once: at most {most} seen together");
    println!("fleet overlaps: {} stretch(es), at most {most} agents at once", overlaps.len());
    let text = env.command(&["fleet", "compare"]).output().unwrap();
    println!("{}", String::from_utf8_lossy(&text.stdout));
    let _ = relay.stop(Duration::from_secs(20));
}
