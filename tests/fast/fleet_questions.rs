//! `fleet conflicts|tree|compare` through the real binary: several agents (each hook process
//! with its own `AGENT_TELEMETRY_AGENT_ID`) recording into one data dir with planted conflicts,
//! and a generated fleet journal; every answer is checked against what the journal holds,
//! counted here independently (conflicts by brute force over every pair of touches).

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::harness::command;

use crate::harness::index_cli;
use crate::harness::journal_records as journal;
use index_cli::{json_lines, ok, run};

struct FleetSandbox {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl FleetSandbox {
    fn new() -> FleetSandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let project = root.join("project");
        let home = root.join("home");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
        std::fs::create_dir_all(home.join(".config/agent-telemetry")).unwrap();
        std::fs::write(home.join(".config/agent-telemetry/config.toml"), "[export]\nautostart = false\n").unwrap();
        FleetSandbox { _tmp: tmp, home, project }
    }

    fn data(&self) -> PathBuf {
        self.home.join(".local/share/agent-telemetry")
    }

    /// One hook run as `agent` (its fleet id) with extra environment.
    fn hook(&self, agent: &str, env: &[(&str, &str)], payload: Value) {
        let mut cmd = command(&self.home, &["hook"]);
        cmd.env("CLAUDE_PROJECT_DIR", &self.project)
            .env("AGENT_TELEMETRY_AGENT_ID", agent)
            .env("AGENT_TELEMETRY_AGENT_GROUP", "team-fleet")
            .current_dir(&self.project)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }

    fn start(&self, agent: &str, sid: &str, env: &[(&str, &str)]) {
        self.hook(
            agent,
            env,
            json!({"session_id": sid, "hook_event_name": "SessionStart", "source": "startup", "cwd": self.project}),
        );
    }

    /// A tool call (Pre, then Post or PostToolUseFailure) on `file` (relative to the project, or absolute).
    fn call(&self, agent: &str, sid: &str, subagent: Option<&str>, tool: &str, file: &str, ok: bool) {
        let id = format!("toolu_{sid}_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let path = if file.starts_with('/') { file.to_string() } else { self.project.join(file).display().to_string() };
        let input = match tool {
            "Read" => json!({"file_path": path}),
            "Write" => json!({"file_path": path, "content": "x\n"}),
            _ => json!({"file_path": path, "old_string": "x", "new_string": "y"}),
        };
        let mut base =
            json!({"session_id": sid, "cwd": self.project, "tool_name": tool, "tool_input": input, "tool_use_id": id});
        if let Some(a) = subagent {
            base["agent_id"] = json!(a);
            base["agent_type"] = json!("general-purpose");
        }
        let mut pre = base.clone();
        pre["hook_event_name"] = json!("PreToolUse");
        self.hook(agent, &[], pre);
        let mut post = base;
        if ok {
            post["hook_event_name"] = json!("PostToolUse");
            post["tool_response"] = json!({"filePath": path});
        } else {
            post["hook_event_name"] = json!("PostToolUseFailure");
            post["error"] = json!("Exit code 1");
        }
        self.hook(agent, &[], post);
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn fail(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert_eq!(out.status.code(), Some(2), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

/// (path, kind, agents) of each conflict `fleet conflicts --json` printed.
fn found(lines: &[Value]) -> BTreeSet<(String, String, Vec<String>)> {
    lines
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
                c["agents"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect()
}

/// `fleet conflicts --json …`: the conflicts (or files) listed on stdout — nothing else there —
/// and the totals (one JSON line on stderr).
fn conflicts_json(data: &Path, args: &[&str]) -> (Vec<Value>, Value) {
    let mut all: Vec<&str> = vec!["fleet", "conflicts", "--json"];
    all.extend_from_slice(args);
    let out = run(data, &all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(std::str::from_utf8(&out.stdout).unwrap());
    assert!(lines.iter().all(|l| l.get("totals").is_none()), "{args:?}: no totals line on stdout");
    let err = json_lines(std::str::from_utf8(&out.stderr).unwrap());
    assert_eq!(err.len(), 1, "{args:?}: one totals line on stderr: {err:?}");
    (lines, err[0]["totals"].clone())
}

#[test]
fn planted_conflicts_are_found_and_nothing_else() {
    let f = FleetSandbox::new();
    let p = |rel: &str| f.project.join(rel).display().to_string();
    let wf = [("AGENT_TELEMETRY_WORKFLOW_ID", "wf-release")];
    f.start("builder-1", "s-a1", &wf);
    f.start("builder-2", "s-b1", &wf);
    f.start("reviewer", "s-r1", &[]);
    // write/write: two agents, one of them through a path with `..` in it.
    f.call("builder-1", "s-a1", None, "Write", "src/shared.rs", true);
    f.call("builder-2", "s-b1", None, "Edit", "src/../src/shared.rs", true);
    // read/write: a write and another agent's read.
    f.call("builder-1", "s-a1", None, "Write", "notes.md", true);
    f.call("reviewer", "s-r1", None, "Read", "notes.md", true);
    // Not conflicts: two reads; the same agent in two sessions; an agent and its own subagent;
    // a failed write (it wrote nothing).
    f.call("builder-2", "s-b1", None, "Read", "README.md", true);
    f.call("reviewer", "s-r1", None, "Read", "README.md", true);
    f.start("builder-1", "s-a2", &[("AGENT_PARENT_SESSION", "s-a1"), wf[0]]);
    f.call("builder-1", "s-a1", None, "Write", "src/own.rs", true);
    f.call("builder-1", "s-a2", None, "Edit", "src/own.rs", true);
    f.hook("builder-1", &[], json!({"session_id": "s-a1", "hook_event_name": "SubagentStart", "agent_id": "sub-1", "agent_type": "Explore", "cwd": f.project}));
    f.call("builder-1", "s-a1", Some("sub-1"), "Write", "src/sub.rs", true);
    f.call("builder-1", "s-a1", None, "Read", "src/sub.rs", true);
    f.call("builder-1", "s-a1", None, "Write", "src/failed.rs", true);
    f.call("builder-2", "s-b1", None, "Write", "src/failed.rs", false);
    // Outside a 2 s window (inside the default 10 minutes).
    f.call("builder-1", "s-a1", None, "Write", "late.rs", true);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    f.call("builder-2", "s-b1", None, "Write", "late.rs", true);

    let data = f.data();
    let (within_2s, totals) = conflicts_json(&data, &["--window", "2s"]);
    assert_eq!(
        (&totals["conflicts"], &totals["write_write"], &totals["read_write"], &totals["files"], &totals["touches"]),
        (&json!(2), &json!(1), &json!(1), &json!(2), &json!(4)),
        "{totals}"
    );
    assert_eq!((&totals["shown"], &totals["not_shown"], &totals["limit"]), (&json!(2), &json!(0), &json!(100)));
    let want: BTreeSet<(String, String, Vec<String>)> = [
        (p("src/shared.rs"), "write/write", vec!["builder-1", "builder-2"]),
        (p("notes.md"), "read/write", vec!["builder-1", "reviewer"]),
    ]
    .into_iter()
    .map(|(a, b, c)| (a, b.to_string(), c.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(found(&within_2s), want, "{within_2s:#?}");
    let ww = within_2s.iter().find(|c| c["kind"] == "write/write").unwrap();
    assert_eq!(ww["pairs"], 1);
    let touches = ww["touches"].as_array().unwrap();
    assert_eq!(
        touches
            .iter()
            .map(|t| (t["session_id"].as_str().unwrap(), t["tool"].as_str().unwrap(), t["access"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![("s-a1", "Write", "write"), ("s-b1", "Edit", "write")]
    );
    // Each touch is the PostToolUse record at that seq in the journal.
    let records = journal(&data);
    for t in touches {
        let r = records.iter().find(|r| r["seq"] == t["seq"]).unwrap();
        assert_eq!(r["hook_event"], "PostToolUse");
        assert_eq!(r["session_id"], t["session_id"]);
        assert_eq!(r["agent_context"]["fleet_agent_id"], t["agent"]);
        assert_eq!(r["time_unix_nano"], t["time_unix_nano"]);
    }
    // The default window (10 minutes) also finds the late pair.
    let (default, _) = conflicts_json(&data, &[]);
    let mut want10 = want.clone();
    want10.insert((p("late.rs"), "write/write".into(), vec!["builder-1".into(), "builder-2".into()]));
    assert_eq!(found(&default), want10);
    // Newest first (by the first touch): late.rs began last.
    assert_eq!(default[0]["path"], p("late.rs"));
    // --limit 1: the newest; the totals still count all three.
    let (one, totals) = conflicts_json(&data, &["--limit", "1"]);
    assert_eq!((one.len(), &one[0]["path"]), (1, &json!(p("late.rs"))));
    assert_eq!((&totals["conflicts"], &totals["shown"], &totals["not_shown"]), (&json!(3), &json!(1), &json!(2)));
    // --since after everything: none; --project of another project: none.
    for args in [["--since", "2099-01-01"], ["--project", "no-such-project"]] {
        let (none, totals) = conflicts_json(&data, &args);
        assert!(none.is_empty() && totals["conflicts"] == 0 && totals["files"] == 0, "{args:?}: {totals}");
    }
    assert_eq!(conflicts_json(&data, &["--project", "project"]).0.len(), 3);
    // One line per file: the three files, each one conflict.
    let (files, totals) = conflicts_json(&data, &["--by-file"]);
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|f| f["conflicts"] == 1 && f["agents"].as_array().unwrap().len() == 2), "{files:?}");
    assert_eq!((&totals["files"], &totals["shown"]), (&json!(3), &json!(3)));
    // Human output: one header per conflict, a line per touch, the count.
    let text = ok(&data, &["fleet", "conflicts", "--window", "2s"]);
    assert!(text.ends_with("2 conflict(s) in 2 file(s): 1 write/write, 1 read/write, within a 2s window\n"), "{text}");
    let text = ok(&data, &["fleet", "conflicts", "--limit", "2"]);
    assert!(
        text.ends_with("3 conflict(s) in 3 file(s): 2 write/write, 1 read/write, within a 10m window; the 2 newest conflict(s) shown, 1 not (--limit 0 lists all, --by-file one line per file)\n"),
        "{text}"
    );
    let text = ok(&data, &["fleet", "conflicts", "--by-file"]);
    assert!(text.contains("late.rs") && text.contains("notes.md") && text.contains("shared.rs"), "{text}");
    assert!(text.contains("src/shared.rs") && !text.contains("own.rs") && !text.contains("README.md"), "{text}");

    // tree: the workflow's sessions; s-a2 under s-a1, sub-1 under s-a1.
    let tree = json_lines(&ok(&data, &["fleet", "tree", "--workflow", "wf-release", "--json"]));
    let ids: Vec<&str> = tree.iter().map(|n| n["session_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["s-a1", "s-a2", "s-b1"]);
    assert_eq!(tree[1]["parent_session"], "s-a1");
    assert_eq!(
        (tree[0]["depth"].as_u64(), tree[1]["depth"].as_u64(), tree[2]["depth"].as_u64()),
        (Some(0), Some(1), Some(0))
    );
    assert_eq!(tree[0]["subagents"][0]["agent_id"], "sub-1");
    assert_eq!(tree[0]["subagents"][0]["agent_type"], "Explore");
    assert_eq!(tree[0]["subagents"][0]["tool_calls"], 1);
    // The tree a child session belongs to starts at its parent.
    let of_child = json_lines(&ok(&data, &["fleet", "tree", "s-a2", "--json"]));
    assert_eq!(of_child.iter().map(|n| n["session_id"].as_str().unwrap()).collect::<Vec<_>>(), ["s-a1", "s-a2"]);
    let text = ok(&data, &["fleet", "tree"]);
    assert!(
        text.contains("subagent Explore sub-1") && text.ends_with("3 tree(s), 4 session(s), 1 subagent(s)\n"),
        "{text}"
    );
    assert!(fail(&data, &["fleet", "tree", "--workflow", "nope"]).contains("no session of workflow nope"));
    assert!(fail(&data, &["fleet", "tree", "s-zz"]).contains("no session s-zz"));

    // overlaps: the three agents were in the project at once from builder-2's first record (the
    // second agent to arrive) until builder-1's sessions went quiet (reviewer was done before);
    // builder-2's late write after that is alone.
    let overlaps = json_lines(&ok(&data, &["fleet", "overlaps", "--json"]));
    assert_eq!(overlaps_of(&overlaps), brute_overlaps(&records), "fleet overlaps vs brute force");
    assert_eq!(overlaps.len(), 1, "{overlaps:#?}");
    let o = &overlaps[0];
    let time_of = |sid: &str, last: bool| {
        let t = records.iter().filter(|r| r["session_id"] == sid).map(|r| r["time_unix_nano"].as_u64().unwrap());
        if last { t.max() } else { t.min() }.unwrap()
    };
    assert_eq!(o["agents"], json!(["builder-1", "builder-2", "reviewer"]));
    assert_eq!(o["max_agents"], 3);
    assert_eq!(o["project"], json!(f.project.display().to_string()));
    assert_eq!(o["from_unix_nano"].as_u64().unwrap(), time_of("s-b1", false));
    assert_eq!(o["to_unix_nano"].as_u64().unwrap(), time_of("s-a1", true).max(time_of("s-a2", true)));
    assert!(o["to_unix_nano"].as_u64().unwrap() < time_of("s-b1", true), "builder-2's late write is after the overlap");
    assert_eq!(
        o["sessions"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap()).collect::<Vec<_>>(),
        ["s-a1", "s-b1", "s-r1", "s-a2"]
    );
    assert!(o["sessions"].as_array().unwrap().iter().all(|s| s["status"] == "open"));
    assert!(ok(&data, &["fleet", "overlaps", "--json", "--project", "no-such-project"]).is_empty());
    assert!(ok(&data, &["fleet", "overlaps", "--json", "--since", "2099-01-01"]).is_empty());
    let text = ok(&data, &["fleet", "overlaps"]);
    assert!(
        text.contains("3 agents, at most 3 at once: builder-1, builder-2, reviewer")
            && text.ends_with("1 overlap(s) in 1 project(s): two or more agents active in the same project at once\n"),
        "{text}"
    );
    check_schema("fleet_overlap", &overlaps);
    // Every record the hook wrote carries the hook's own time on it.
    assert!(
        records.iter().all(|r| r["metadata"]["hook_us"].as_u64().is_some_and(|us| us > 0 && us < 60_000_000)),
        "metadata.hook_us on every hook record"
    );

    // compare: every number against the journal.
    check_compare(&data, &records);
    // --json is what docs/forensics-schema.json documents.
    check_schema("fleet_conflict", &default);
    let (files, totals) = conflicts_json(&data, &["--by-file"]);
    check_schema("fleet_conflict_file", &files);
    check_schema("fleet_conflict_totals", &[totals]);
    check_schema("fleet_tree_node", &tree);
    check_schema("fleet_agent", &json_lines(&ok(&data, &["fleet", "compare", "--json"])));
    // Bad input: clear errors, exit 2.
    assert!(fail(&data, &["fleet", "conflicts", "--window", "10"]).contains("--window 10: want a duration"));
    assert!(fail(&data, &["fleet", "conflicts", "--since", "yesterday"]).contains("--since"));
    assert!(fail(&data, &["fleet", "compare", "--since", "2h", "--until", "3h"]).contains("--since is after --until"));
    let empty = tempfile::tempdir().unwrap();
    assert!(fail(empty.path(), &["fleet", "compare"]).contains("no journal at"));
}

/// Every field of `lines` (and of their arrays' objects) is documented in the schema's `def`,
/// and every required one is there.
fn check_schema(def: &str, lines: &[Value]) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/forensics-schema.json")).unwrap(),
    )
    .unwrap();
    fn walk(path: &str, d: &Value, v: &Value) {
        let props = d["properties"].as_object().unwrap_or_else(|| panic!("{path}: no properties"));
        let o = v.as_object().unwrap_or_else(|| panic!("{path}: not an object: {v}"));
        for k in o.keys() {
            assert!(props.contains_key(k), "{path}: field {k} is not documented in docs/forensics-schema.json");
        }
        for k in d["required"].as_array().into_iter().flatten() {
            assert!(o.contains_key(k.as_str().unwrap()), "{path}: required field {k} missing");
        }
        for (k, pd) in props {
            if let (Some(items), Some(arr)) =
                (pd.get("items").filter(|i| i.get("properties").is_some()), o.get(k).and_then(Value::as_array))
            {
                for x in arr {
                    walk(&format!("{path}.{k}[]"), items, x);
                }
            }
        }
    }
    assert!(!lines.is_empty(), "{def}: nothing to check");
    for l in lines {
        walk(def, &schema["$defs"][def], l);
    }
}

/// `fleet compare --json` against counts made here from the journal's records.
fn check_compare(data: &Path, records: &[Value]) {
    let rows = json_lines(&ok(data, &["fleet", "compare", "--json"]));
    let mut by_agent: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in records.iter().filter(|r| r["session_id"].is_string()) {
        by_agent.entry(r["agent_context"]["fleet_agent_id"].as_str().unwrap_or("").to_string()).or_default().push(r);
    }
    assert_eq!(rows.len(), by_agent.len());
    for row in &rows {
        let agent = row["agent"].as_str().unwrap_or("");
        let recs = &by_agent[agent];
        let ev = |r: &&&Value| r["hook_event"].as_str().unwrap().to_string();
        let sessions: BTreeSet<&str> = recs.iter().map(|r| r["session_id"].as_str().unwrap()).collect();
        let mut calls: BTreeMap<(String, String), (String, bool)> = BTreeMap::new();
        for r in recs.iter().filter(|r| ["PreToolUse", "PostToolUse", "PostToolUseFailure"].contains(&ev(r).as_str())) {
            let Some(id) = r["tool_context"]["tool_use_id"].as_str() else { continue };
            let e = calls
                .entry((r["session_id"].as_str().unwrap().into(), id.into()))
                .or_insert((r["tool_name"].as_str().unwrap_or("-").into(), false));
            e.1 |= ev(&r) == "PostToolUseFailure";
        }
        let failures = calls.values().filter(|c| c.1).count() as u64;
        let mut mix: BTreeMap<String, u64> = BTreeMap::new();
        for (tool, _) in calls.values() {
            *mix.entry(tool.clone()).or_default() += 1;
        }
        let sev = |s: &str| {
            recs.iter()
                .flat_map(|r| r["security"]["findings"].as_array().cloned().unwrap_or_default())
                .filter(|f| f["severity"] == s)
                .count() as u64
        };
        let tokens = |k: &str| -> u64 {
            recs.iter()
                .filter(|r| (ev(r) == "Stop" && r["agent_context"]["agent_id"].is_null()) || ev(r) == "SubagentStop")
                .filter_map(|r| r["token_usage"][k].as_u64())
                .sum()
        };
        assert_eq!(row["sessions"].as_u64().unwrap(), sessions.len() as u64, "{agent}: sessions");
        assert_eq!(row["records"].as_u64().unwrap(), recs.len() as u64, "{agent}: records");
        assert_eq!(
            row["turns"].as_u64().unwrap(),
            recs.iter().filter(|r| ev(r) == "UserPromptSubmit" && r["agent_context"]["agent_id"].is_null()).count()
                as u64,
            "{agent}: turns"
        );
        assert_eq!(row["tool_calls"].as_u64().unwrap(), calls.len() as u64, "{agent}: tool calls");
        assert_eq!(row["tool_failures"].as_u64().unwrap(), failures, "{agent}: failures");
        if calls.is_empty() {
            assert!(row["error_rate"].is_null());
        } else {
            assert!(
                (row["error_rate"].as_f64().unwrap() - failures as f64 / calls.len() as f64).abs() < 1e-12,
                "{agent}: error rate"
            );
        }
        let got_mix: BTreeMap<String, u64> = row["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["tool"].as_str().unwrap().to_string(), t["calls"].as_u64().unwrap()))
            .collect();
        assert_eq!(got_mix, mix, "{agent}: tool mix");
        let counts: Vec<u64> = row["tools"].as_array().unwrap().iter().map(|t| t["calls"].as_u64().unwrap()).collect();
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{agent}: most used first");
        for s in ["critical", "high", "medium", "low"] {
            assert_eq!(row["findings"][s].as_u64().unwrap(), sev(s), "{agent}: {s} findings");
        }
        // The hook's own time, nearest-rank over the records that carry it.
        let mut us: Vec<u64> = recs.iter().filter_map(|r| r["metadata"]["hook_us"].as_u64()).collect();
        us.sort_unstable();
        if us.is_empty() {
            assert!(row["hook"].is_null(), "{agent}: no hook timing recorded, none reported");
        } else {
            let rank = |p: f64| us[((p * us.len() as f64).ceil() as usize).max(1) - 1];
            let want =
                json!({"events": us.len(), "median_us": rank(0.5), "p99_us": rank(0.99), "max_us": us[us.len() - 1]});
            assert_eq!(row["hook"], want, "{agent}: hook timing");
        }
        if row["tokens"].is_object() {
            assert_eq!(row["tokens"]["input"].as_u64().unwrap(), tokens("input_tokens"), "{agent}: input tokens");
            assert_eq!(row["tokens"]["output"].as_u64().unwrap(), tokens("output_tokens"), "{agent}: output tokens");
        } else {
            assert_eq!(tokens("input_tokens"), 0);
        }
    }
    // Most tool calls first.
    let order: Vec<u64> = rows.iter().map(|r| r["tool_calls"].as_u64().unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]));
    let text = ok(data, &["fleet", "compare"]);
    assert_eq!(text.lines().count(), rows.len() + 2, "{text}");
    assert!(text.contains("HOOK = the hook's own time per event"), "{text}");
}

/// An overlap as compared: (project, from, to, agents, max agents, sorted session ids).
type Overlap = (String, u64, u64, Vec<String>, u64, Vec<String>);

/// Every overlap (agents in one project at once), by brute force: each session active from its
/// first record to its SessionEnd (when that is what it did last) or its last record; the
/// closed intersections of every two sessions of different agents in a project, merged where
/// they meet; the sessions active within each; the most agents active at one of its instants.
fn brute_overlaps(records: &[Value]) -> Vec<Overlap> {
    struct S {
        project: String,
        agent: String,
        start: u64,
        last: u64,
        end: Option<u64>,
        ended: bool,
    }
    let mut sessions: BTreeMap<String, S> = BTreeMap::new();
    for r in records {
        let (Some(sid), Some(project)) = (r["session_id"].as_str(), r["project_path"].as_str()) else { continue };
        let t = r["time_unix_nano"].as_u64().unwrap();
        let ev = r["hook_event"].as_str().unwrap();
        let agent =
            r["agent_context"]["fleet_agent_id"].as_str().map(String::from).unwrap_or_else(|| format!("session:{sid}"));
        let s = sessions.entry(sid.to_string()).or_insert(S {
            project: project.into(),
            agent,
            start: t,
            last: t,
            end: None,
            ended: false,
        });
        s.start = s.start.min(t);
        s.last = s.last.max(t);
        if ev == "SessionEnd" {
            s.end = Some(s.end.unwrap_or(0).max(t));
        }
        if !["ModelCall", "TelemetryGap", "TelemetryRestored"].contains(&ev) {
            s.ended = ev == "SessionEnd";
        }
    }
    let span = |s: &S| (s.start, if s.ended { s.end.unwrap() } else { s.last });
    let mut out = Vec::new();
    let projects: BTreeSet<&str> = sessions.values().map(|s| s.project.as_str()).collect();
    for p in projects {
        let here: Vec<(&String, &S)> = sessions.iter().filter(|(_, s)| s.project == p).collect();
        let mut cuts: Vec<(u64, u64)> = Vec::new();
        for (i, (_, a)) in here.iter().enumerate() {
            for (_, b) in &here[i + 1..] {
                let ((a0, a1), (b0, b1)) = (span(a), span(b));
                if a.agent != b.agent && a0.max(b0) <= a1.min(b1) {
                    cuts.push((a0.max(b0), a1.min(b1)));
                }
            }
        }
        cuts.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (x, y) in cuts {
            match merged.last_mut() {
                Some(m) if x <= m.1 => m.1 = m.1.max(y),
                _ => merged.push((x, y)),
            }
        }
        for (from, to) in merged {
            let members: Vec<(&String, &S)> =
                here.iter().filter(|(_, s)| span(s).0 <= to && span(s).1 >= from).copied().collect();
            let agents: BTreeSet<String> = members.iter().map(|(_, s)| s.agent.clone()).collect();
            let mut instants: Vec<u64> =
                members.iter().flat_map(|(_, s)| [span(s).0, span(s).1]).filter(|t| (from..=to).contains(t)).collect();
            instants.push(from);
            let max = instants
                .iter()
                .map(|t| {
                    members
                        .iter()
                        .filter(|(_, s)| span(s).0 <= *t && *t <= span(s).1)
                        .map(|(_, s)| s.agent.as_str())
                        .collect::<BTreeSet<_>>()
                        .len() as u64
                })
                .max()
                .unwrap();
            let mut sids: Vec<String> = members.iter().map(|(id, _)| id.to_string()).collect();
            sids.sort();
            out.push((p.to_string(), from, to, agents.into_iter().collect(), max, sids));
        }
    }
    out
}

/// `fleet overlaps --json` as (project, from, to, agents, max agents, sorted session ids).
fn overlaps_of(lines: &[Value]) -> Vec<Overlap> {
    lines
        .iter()
        .map(|o| {
            let mut sids: Vec<String> = o["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["session_id"].as_str().unwrap().to_string())
                .collect();
            sids.sort();
            let agents = o["agents"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            (
                o["project"].as_str().unwrap().to_string(),
                o["from_unix_nano"].as_u64().unwrap(),
                o["to_unix_nano"].as_u64().unwrap(),
                agents,
                o["max_agents"].as_u64().unwrap(),
                sids,
            )
        })
        .collect()
}

/// Every conflict, by brute force: all pairs of touches (completed Read/Write/Edit/… calls),
/// linked when two agents, one a write, at most `window` apart; as (path, kind, pairs, touches).
fn brute_force(records: &[Value], window: u64) -> BTreeSet<(String, String, u64, Vec<u64>)> {
    let mut by_path: BTreeMap<String, Vec<(u64, String, bool, u64)>> = BTreeMap::new();
    for r in records {
        let tool = r["tool_name"].as_str().unwrap_or("");
        let write = ["Write", "Edit", "MultiEdit", "NotebookEdit"].contains(&tool);
        if r["hook_event"] != "PostToolUse" || !(write || ["Read", "NotebookRead"].contains(&tool)) {
            continue;
        }
        let d = &r["action_details"];
        let Some(path) = d["resolved_path"].as_str().or(d["file_path"].as_str()) else { continue };
        let agent = r["agent_context"]["fleet_agent_id"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("session:{}", r["session_id"].as_str().unwrap()));
        by_path.entry(path.to_string()).or_default().push((
            r["time_unix_nano"].as_u64().unwrap(),
            agent,
            write,
            r["seq"].as_u64().unwrap(),
        ));
    }
    let mut out = BTreeSet::new();
    for (path, ts) in by_path {
        let n = ts.len();
        let mut comp: Vec<usize> = (0..n).collect();
        let mut pairs = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                if ts[i].1 != ts[j].1 && (ts[i].2 || ts[j].2) && ts[i].0.abs_diff(ts[j].0) <= window {
                    pairs.push((i, j, ts[i].2 && ts[j].2));
                    let (a, b) = (comp[i], comp[j]);
                    for c in comp.iter_mut() {
                        if *c == a {
                            *c = b;
                        }
                    }
                }
            }
        }
        let mut groups: BTreeMap<usize, (BTreeSet<u64>, u64, bool)> = BTreeMap::new();
        for (i, j, ww) in pairs {
            let g = groups.entry(comp[i]).or_default();
            g.0.insert(ts[i].3);
            g.0.insert(ts[j].3);
            g.1 += 1;
            g.2 |= ww;
        }
        for (_, (seqs, pairs, ww)) in groups {
            out.insert((
                path.clone(),
                if ww { "write/write" } else { "read/write" }.to_string(),
                pairs,
                seqs.into_iter().collect(),
            ));
        }
    }
    out
}

/// (path, kind, pairs, touches' seqs) of each conflict printed.
type Listed = (String, String, u64, Vec<u64>);

fn listed(lines: &[Value]) -> Vec<Listed> {
    lines
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
                c["pairs"].as_u64().unwrap(),
                c["touches"].as_array().unwrap().iter().map(|t| t["seq"].as_u64().unwrap()).collect(),
            )
        })
        .collect()
}

/// One `--by-file` row: conflicts, write/write, touches, agents, first and last touch.
type FileRow = (u64, u64, u64, BTreeSet<String>, u64, u64);

/// The totals `fleet conflicts` should print for the conflicts `want` (brute force).
fn want_totals(want: &BTreeSet<Listed>) -> Value {
    let ww = want.iter().filter(|c| c.1 == "write/write").count();
    json!({
        "conflicts": want.len(),
        "write_write": ww,
        "read_write": want.len() - ww,
        "files": want.iter().map(|c| &c.0).collect::<BTreeSet<_>>().len(),
        "touches": want.iter().map(|c| c.3.len()).sum::<usize>(),
    })
}

fn counts_of(totals: &Value) -> Value {
    let keys = ["conflicts", "write_write", "read_write", "files", "touches"];
    Value::Object(keys.iter().map(|k| (k.to_string(), totals[*k].clone())).collect())
}

/// The whole answer (`--limit 0`) is the brute force's, newest first; a bounded one (the
/// default, `--limit N`) is exactly its first N conflicts; the totals of each count the brute
/// force's conflicts; `--by-file` sums them per file. Also within a time range.
#[test]
fn generated_fleet_journal_conflicts_and_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    agent_telemetry::forensics::synth::generate(&data.join("journal"), 6_000, 1_796_000_000_000_000_000, 11).unwrap();
    let records = journal(&data);
    // seq → (agent, time) of every record, for the per-file view.
    let who: BTreeMap<u64, (String, u64)> = records
        .iter()
        .map(|r| {
            let agent = r["agent_context"]["fleet_agent_id"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("session:{}", r["session_id"].as_str().unwrap_or("")));
            (r["seq"].as_u64().unwrap(), (agent, r["time_unix_nano"].as_u64().unwrap()))
        })
        .collect();
    let t0 = records.iter().map(|r| r["time_unix_nano"].as_u64().unwrap()).min().unwrap();
    let t1 = records.iter().map(|r| r["time_unix_nano"].as_u64().unwrap()).max().unwrap();
    let (since, until) = (t0 + (t1 - t0) / 4, t0 + (t1 - t0) / 2);
    let (since_text, until_text) =
        (agent_telemetry::timefmt::rfc3339_nanos(since), agent_telemetry::timefmt::rfc3339_nanos(until));
    for (flag, nanos, range) in [
        ("30s", 30_000_000_000u64, false),
        ("10m", 600_000_000_000, false),
        ("1h", 3_600_000_000_000, false),
        ("10m", 600_000_000_000, true),
    ] {
        let mut args = vec!["--window", flag];
        let want = if range {
            args.extend(["--since", &since_text, "--until", &until_text]);
            let inside: Vec<Value> = records
                .iter()
                .filter(|r| (since..=until).contains(&r["time_unix_nano"].as_u64().unwrap()))
                .cloned()
                .collect();
            brute_force(&inside, nanos)
        } else {
            brute_force(&records, nanos)
        };
        let what = format!("{args:?}");
        assert!(want.len() > 8, "{what}: the generated fleet has conflicts ({})", want.len());
        let all_args: Vec<&str> = args.iter().copied().chain(["--limit", "0"]).collect();
        let (all, totals) = conflicts_json(&data, &all_args);
        let got = listed(&all);
        assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want, "{what}");
        assert_eq!(got.len(), want.len(), "{what}: each conflict once");
        // Newest first: by the first touch's time, then its seq.
        let key = |c: &Value| (c["touches"][0]["time_unix_nano"].as_u64(), c["touches"][0]["seq"].as_u64());
        assert!(all.windows(2).all(|w| key(&w[0]) > key(&w[1])), "{what}: newest first");
        assert_eq!(counts_of(&totals), want_totals(&want), "{what}");
        assert_eq!((&totals["shown"], &totals["not_shown"]), (&json!(want.len()), &json!(0)), "{what}");
        // Bounded: exactly the first N of the whole answer, the same totals.
        for limit in [None, Some(1), Some(7)] {
            let mut a = args.clone();
            let n = limit.map(|n| n.to_string());
            if let Some(n) = &n {
                a.extend(["--limit", n]);
            }
            let (some, t) = conflicts_json(&data, &a);
            let n = limit.unwrap_or(100).min(want.len());
            assert_eq!(some, all[..n], "{what} --limit {limit:?}: the newest of the whole answer");
            assert_eq!(counts_of(&t), counts_of(&totals), "{what} --limit {limit:?}");
            assert_eq!((&t["shown"], &t["not_shown"]), (&json!(n), &json!(want.len() - n)));
        }
        // One row per file: the brute force's conflicts summed per file.
        let (files, t) =
            conflicts_json(&data, &args.iter().copied().chain(["--by-file", "--limit", "0"]).collect::<Vec<_>>());
        assert_eq!(counts_of(&t), counts_of(&totals), "{what} --by-file");
        let mut want_files: BTreeMap<String, FileRow> = BTreeMap::new();
        for (path, kind, _, seqs) in &want {
            let f = want_files.entry(path.clone()).or_insert((0, 0, 0, BTreeSet::new(), u64::MAX, 0));
            f.0 += 1;
            f.1 += u64::from(kind == "write/write");
            f.2 += seqs.len() as u64;
            for s in seqs {
                f.3.insert(who[s].0.clone());
                f.4 = f.4.min(who[s].1);
                f.5 = f.5.max(who[s].1);
            }
        }
        let got_files: BTreeMap<String, FileRow> = files
            .iter()
            .map(|f| {
                assert_eq!(
                    f["conflicts"].as_u64().unwrap(),
                    f["write_write"].as_u64().unwrap() + f["read_write"].as_u64().unwrap()
                );
                (
                    f["path"].as_str().unwrap().to_string(),
                    (
                        f["conflicts"].as_u64().unwrap(),
                        f["write_write"].as_u64().unwrap(),
                        f["touches"].as_u64().unwrap(),
                        f["agents"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect(),
                        f["first_unix_nano"].as_u64().unwrap(),
                        f["last_unix_nano"].as_u64().unwrap(),
                    ),
                )
            })
            .collect();
        assert_eq!(got_files, want_files, "{what} --by-file");
        assert!(files.windows(2).all(|w| w[0]["conflicts"].as_u64() >= w[1]["conflicts"].as_u64()), "most first");
        let (top, t) =
            conflicts_json(&data, &args.iter().copied().chain(["--by-file", "--limit", "3"]).collect::<Vec<_>>());
        assert_eq!(top, files[..3], "{what} --by-file --limit 3");
        assert_eq!((&t["shown"], &t["not_shown"]), (&json!(3), &json!(want_files.len() - 3)));
    }
    check_compare(&data, &records);
}

/// The same answers when the index grew with the journal (its fleet summaries kept batch by
/// batch) as a brute force over every record: the journal written in three pieces, a question
/// asked after each.
#[test]
fn conflicts_and_compare_stay_right_as_the_index_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    agent_telemetry::forensics::synth::generate(&src.join("journal"), 5_000, 1_796_000_000_000_000_000, 23).unwrap();
    let data = tmp.path().join("data");
    let jdir = data.join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(src.join("journal")).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    let mut lines: Vec<(std::ffi::OsString, Vec<u8>)> = Vec::new();
    for n in &names {
        for l in std::fs::read(src.join("journal").join(n)).unwrap().split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines.push((n.clone(), l.to_vec()));
        }
    }
    // Cut after a main agent's Stop: a session cut between a subagent's stop and its turn's Stop
    // has no main-agent tokens yet, and `sessions` then shows none (the brute force would sum).
    let after_stop = |near: usize| {
        (near..lines.len())
            .find(|&i| serde_json::from_slice::<Value>(&lines[i].1).unwrap()["hook_event"] == "Stop")
            .unwrap()
            + 1
    };
    let mut at = 0;
    for cut in [after_stop(lines.len() / 3), after_stop(2 * lines.len() / 3), lines.len()] {
        for (n, l) in &lines[at..cut] {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(jdir.join(n)).unwrap();
            f.write_all(l).unwrap();
            f.write_all(b"\n").unwrap();
        }
        at = cut;
        let records = journal(&data);
        let (all, totals) = conflicts_json(&data, &["--window", "10m", "--limit", "0"]);
        let got: BTreeSet<Listed> = listed(&all).into_iter().collect();
        let want = brute_force(&records, 600_000_000_000);
        assert_eq!(got, want, "after {cut} of {} lines", lines.len());
        assert_eq!(counts_of(&totals), want_totals(&want), "after {cut} lines");
        assert_eq!(conflicts_json(&data, &["--window", "10m", "--limit", "5"]).0, all[..5.min(all.len())]);
        check_compare(&data, &records);
    }
}

/// A journal of `n` sessions spread over a day in three projects (six agents, some sessions
/// with no fleet id): each a SessionStart, a tool call, then a SessionEnd (ended), nothing more
/// (open), or a SessionEnd and a later prompt (resumed); plus two sessions of different agents
/// where one starts the instant the other ends. Chained as the hook chains.
fn overlapping_fleet(journal_dir: &Path, n: u64) {
    use agent_telemetry::journal::chain;
    use agent_telemetry::record::{AgentContext, JournalRecord};
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let base = 1_796_000_000_000_000_000u64;
    let s = 1_000_000_000u64;
    let mut recs: Vec<JournalRecord> = Vec::new();
    let mut session = |sid: String, agent: Option<String>, project: &str, start: u64, end: u64, shape: u64| {
        let mk = |ev: &str, t: u64| JournalRecord {
            time_unix_nano: t,
            hook_event: ev.into(),
            event_type: "session".into(),
            session_id: Some(sid.clone()),
            project_path: Some(format!("/srv/{project}")),
            project_name: Some(project.into()),
            agent_context: AgentContext { fleet_agent_id: agent.clone(), ..Default::default() },
            ..Default::default()
        };
        recs.push(mk("SessionStart", start));
        recs.push(mk("PreToolUse", start + (end - start) / 2));
        match shape {
            0 => {}
            1 => {
                recs.push(mk("SessionEnd", end));
                recs.push(mk("UserPromptSubmit", end + 90 * s));
            }
            _ => recs.push(mk("SessionEnd", end)),
        }
    };
    for i in 0..n {
        let start = base + rnd(86_400) * s;
        let end = start + (1 + rnd(1200)) * s;
        let agent = (rnd(8) < 7).then(|| format!("agent-{}", rnd(6)));
        session(format!("gen-{i:04}"), agent, ["api", "web", "infra"][rnd(3) as usize], start, end, rnd(4));
    }
    session("touch-a".into(), Some("toucher-1".into()), "lonely", base + 90_000 * s, base + 90_100 * s, 2);
    session("touch-b".into(), Some("toucher-2".into()), "lonely", base + 90_100 * s, base + 90_200 * s, 2);
    recs.sort_by_key(|r| r.time_unix_nano);
    std::fs::create_dir_all(journal_dir).unwrap();
    let mut out = Vec::new();
    let mut prev = chain::GENESIS.to_string();
    for (seq, mut r) in recs.into_iter().enumerate() {
        r.seq = seq as u64;
        r.prev_hash = std::mem::take(&mut prev);
        r.timestamp = agent_telemetry::timefmt::rfc3339_nanos(r.time_unix_nano);
        r.metadata.telemetry_version = "test".into();
        r.metadata.scope = "project".into();
        r.telemetry_enabled = true;
        let (line, hash) = chain::encode(&r).unwrap();
        out.extend_from_slice(&line);
        prev = hash;
    }
    std::fs::write(journal_dir.join("20261201-000000.jsonl"), out).unwrap();
}

#[test]
fn overlaps_against_a_brute_force_over_every_pair_of_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    overlapping_fleet(&data.join("journal"), 240);
    let records = journal(&data);
    let got = json_lines(&ok(&data, &["fleet", "overlaps", "--json"]));
    let want = brute_overlaps(&records);
    assert!(want.len() > 10, "the generated fleet's agents overlap: {}", want.len());
    assert_eq!(overlaps_of(&got), want, "fleet overlaps vs brute force");
    // The two sessions that touch (one starts as the other ends) are one overlap of an instant.
    let lonely: Vec<&Value> = got.iter().filter(|o| o["project"] == "/srv/lonely").collect();
    assert_eq!(lonely.len(), 1);
    assert_eq!(lonely[0]["from_unix_nano"], lonely[0]["to_unix_nano"]);
    assert_eq!(lonely[0]["agents"], json!(["toucher-1", "toucher-2"]));
    // Sessions without a fleet id are agents of their own; resumed ones are open.
    assert!(got.iter().any(|o| o["agents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a.as_str().unwrap().starts_with("session:gen-"))));
    assert!(got.iter().flat_map(|o| o["sessions"].as_array().unwrap()).any(|s| s["status"] == "open"));
    check_schema("fleet_overlap", &got);
    // --project and --since/--until select sessions; every overlap found then is one of these.
    let api = json_lines(&ok(&data, &["fleet", "overlaps", "--json", "--project", "api"]));
    assert!(!api.is_empty() && api.iter().all(|o| o["project"] == "/srv/api"));
    assert_eq!(overlaps_of(&api), want.iter().filter(|o| o.0 == "/srv/api").cloned().collect::<Vec<_>>());
    assert!(ok(&data, &["fleet", "overlaps", "--json", "--until", "2020-01-01"]).is_empty());
}

#[test]
fn control_characters_from_records_are_escaped() {
    let f = FleetSandbox::new();
    let evil = "\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\nforged line";
    let agent = format!("agent{evil}");
    let file = format!("src/{evil}.rs");
    f.start(&agent, "s-evil-1", &[("AGENT_TELEMETRY_WORKFLOW_ID", "wf-evil")]);
    f.start("plain", "s-evil-2", &[("AGENT_TELEMETRY_WORKFLOW_ID", "wf-evil")]);
    f.hook(&agent, &[], json!({"session_id": "s-evil-1", "hook_event_name": "SubagentStart", "agent_id": format!("sub{evil}"), "agent_type": format!("type{evil}"), "cwd": f.project}));
    f.call(&agent, "s-evil-1", None, "Write", &file, true);
    f.call("plain", "s-evil-2", None, "Edit", &file, true);
    let data = f.data();
    assert_eq!(conflicts_json(&data, &[]).0.len(), 1, "the conflict is found");
    for args in [
        vec!["fleet", "conflicts"],
        vec!["fleet", "overlaps"],
        vec!["fleet", "tree"],
        vec!["fleet", "tree", "--workflow", "wf-evil"],
        vec!["fleet", "compare"],
    ] {
        let text = ok(&data, &args);
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{args:?}: {text:?}");
        assert!(!text.lines().any(|l| l.starts_with("forged line")), "{args:?}: {text}");
    }
    assert!(ok(&data, &["fleet", "conflicts"]).contains("\\u{1b}[2J\\nforged line.rs"));
}
