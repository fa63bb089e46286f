//! Fleet identity and `fleet agents` / `fleet collector-config`, fast (no servers): the real
//! hook with the registry of tests/data/fleet/tenants.toml, the records it writes, the resource
//! attributes the relay exports (file exporter), and the collector fragment's shape. That the
//! fragment is valid for the real collector and isolates tenants: tests/slow/fleet_tenants.rs (slow).

use crate::harness::fleet;
use crate::harness::relay;

use fleet::*;
use relay::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn by_project(env: &Install) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in journal_records(&env.data) {
        let p = r["project_name"].as_str().unwrap_or("").to_string();
        m.entry(p).or_default().push(r);
    }
    m
}

#[test]
fn identity_comes_from_the_registry_the_environment_and_defaults() {
    let f = FleetInstall::new("fleet-identity-");
    f.run_all("id");
    let m = by_project(&f.env);
    let want = [
        ("proj-a", Some("agent-a"), "primary", Some("alpha"), "coordinator", Some("agent-a"), "project"),
        ("proj-b", Some("agent-b"), "secondary", Some("beta"), "participant", Some("agent-b"), "agent_id"),
        ("proj-c", None, "claude-code", None, "primary", None, "none"),
    ];
    for (p, id, kind, group, role, entry, how) in want {
        let recs = &m[p];
        assert_eq!(recs.len(), 12, "{p}: two sessions of six events");
        for r in recs {
            let a = &r["agent_context"];
            match id {
                Some(id) => assert_eq!(a["fleet_agent_id"], id, "{p}"),
                // The lone-agent default: user@host.
                None => assert!(a["fleet_agent_id"].as_str().is_some_and(|s| s.contains('@')), "{p}: {a}"),
            }
            assert_eq!(a["fleet_agent_type"], kind, "{p}");
            assert_eq!(a["agent_group"].as_str(), group, "{p}");
            assert_eq!(a["agent_role"], role, "{p}");
            assert_eq!(a["registry_entry"].as_str(), entry, "{p}");
            assert_eq!(a["registry_match"], how, "{p}");
            assert!(r["metadata"]["config_error"].is_null(), "{p}: {}", r["metadata"]["config_error"]);
        }
    }
    // The relay exports the identity as resource attributes.
    relay_once(&f.env, &Dest::File, &[], Duration::from_secs(60));
    let (spans, logs) = read_otlp(&f.env.data, (0, 0));
    assert_eq!(logs.len(), 36);
    // A subagent's records: the entry's role (as a configured role would be), else `subagent`.
    f.payloads("subagent.jsonl", "proj-a", "id-proj-a-0");
    f.payloads("subagent.jsonl", "proj-c", "id-proj-c-0");
    let subs: Vec<Value> =
        journal_records(&f.env.data).into_iter().filter(|r| r["hook_event"] == "SubagentStart").collect();
    assert_eq!(subs.len(), 2);
    for r in &subs {
        let want = if r["project_name"] == "proj-a" { "coordinator" } else { "subagent" };
        assert_eq!(r["agent_context"]["agent_role"], want, "{}", r["project_name"]);
    }
    for l in &logs {
        let res = &l.resource;
        match res.get("project.name").map(String::as_str) {
            Some("proj-a") => {
                assert_eq!(res.get("agent.id").map(String::as_str), Some("agent-a"));
                assert_eq!(res.get("agent.group").map(String::as_str), Some("alpha"));
                assert_eq!(res.get("agent.type").map(String::as_str), Some("primary"));
                assert_eq!(res.get("agent.role").map(String::as_str), Some("coordinator"));
                assert_eq!(res.get("agent_telemetry.registry.entry").map(String::as_str), Some("agent-a"));
            }
            Some("proj-b") => {
                assert_eq!(res.get("agent.group").map(String::as_str), Some("beta"));
                assert_eq!(res.get("agent.type").map(String::as_str), Some("secondary"));
            }
            Some("proj-c") => {
                assert_eq!(res.get("agent.group"), None);
                assert_eq!(res.get("agent_telemetry.registry.entry"), None);
                assert_eq!(res.get("agent.type").map(String::as_str), Some("claude-code"));
            }
            other => panic!("a log of project {other:?}"),
        }
    }
    assert!(spans.iter().any(|s| s.resource.get("agent.group").map(String::as_str) == Some("beta")));
}

#[test]
fn a_broken_registry_never_stops_the_hook_and_says_why_on_every_record() {
    let f = FleetInstall::new("fleet-broken-");
    std::fs::write(&f.registry, "[agents.agent-a]\ngroup = \"alpha\"\nprojects = [\"proj-a\"]\ncolour = \"red\"\n")
        .unwrap();
    f.session("proj-a", None, "broken-1");
    let recs = journal_records(&f.env.data);
    assert_eq!(recs.len(), 6);
    for r in &recs {
        let e = r["metadata"]["config_error"].as_str().unwrap_or_default();
        assert!(e.contains("fleet registry") && e.contains("colour"), "{e}");
        assert!(r["agent_context"]["agent_group"].is_null());
        assert_eq!(r["agent_context"]["registry_match"], "none");
    }
    // `status` names it (exit 1), `fleet agents` refuses it (exit 2).
    let out = f.command(&["status", "--project", f.project("proj-a").to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("fleet registry") && text.contains("colour"), "{text}");
    let out = f.command(&["fleet", "agents"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));
}

#[test]
fn status_reports_where_the_registry_comes_from() {
    let f = FleetInstall::new("fleet-status-");
    let out = f.command(&["status", "--json", "--project", f.project("proj-a").to_str().unwrap()]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = v["settings"].as_array().unwrap().iter().find(|s| s["key"] == "fleet.registry").cloned().unwrap();
    assert_eq!(s["source"], "env AGENT_TELEMETRY_FLEET");
    assert!(s["value"].as_str().unwrap().contains("3 agent(s), 2 group(s)"), "{s}");
    // Without the variable: fleet.toml beside the config file, absent.
    let out =
        f.env.command(&["status", "--json", "--project", f.project("proj-a").to_str().unwrap()]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = v["settings"].as_array().unwrap().iter().find(|s| s["key"] == "fleet.registry").cloned().unwrap();
    assert_eq!(s["source"], "default");
    assert!(s["value"].as_str().unwrap().ends_with(".config/agent-telemetry/fleet.toml (none)"), "{s}");
}

#[test]
fn fleet_agents_lists_every_agent_seen_and_the_registry_s_unseen() {
    let f = FleetInstall::new("fleet-agents-");
    f.run_all("ag");
    let out = f.command(&["fleet", "agents", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let row = |id: &str| rows.iter().find(|r| r["agent"] == id).unwrap_or_else(|| panic!("{id} in {rows:#?}"));
    let a = row("agent-a");
    assert_eq!((a["seen"].as_bool(), a["sessions"].as_u64(), a["events"].as_u64()), (Some(true), Some(2), Some(12)));
    assert_eq!(a["registry_entry"], "agent-a");
    assert_eq!(a["registry_match"], "project");
    assert_eq!(a["groups"], serde_json::json!(["alpha"]));
    assert_eq!(a["type"], "primary");
    assert_eq!(a["open_sessions"], 0, "both sessions ended");
    assert!(a["projects"][0].as_str().unwrap().ends_with("/projects/proj-a"), "{a}");
    assert_eq!(a["hosts"].as_array().unwrap().len(), 1, "{a}");
    assert!(a["first_seen"].as_str().unwrap() <= a["last_seen"].as_str().unwrap());
    let b = row("agent-b");
    assert_eq!(b["registry_match"], "agent_id");
    assert_eq!(b["groups"], serde_json::json!(["beta"]));
    let lone =
        rows.iter().find(|r| r["agent"].as_str().is_some_and(|s| s.contains('@'))).expect("the default-id agent");
    assert_eq!(lone["registry_entry"], Value::Null);
    assert_eq!(lone["registry_match"], "none");
    assert_eq!(lone["events"], 12);
    let idle = row("agent-idle");
    assert_eq!((idle["seen"].as_bool(), idle["sessions"].as_u64()), (Some(false), Some(0)));
    assert_eq!(idle["registry_match"], "never_seen");
    // Seen agents first, then the unseen.
    assert_eq!(rows.last().unwrap()["agent"], "agent-idle");
    // --json is what docs/forensics-schema.json documents (fleet_registry_agent).
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/forensics-schema.json"))
            .unwrap(),
    )
    .unwrap();
    let def = &schema["$defs"]["fleet_registry_agent"];
    let props = def["properties"].as_object().expect("fleet_registry_agent documented");
    let matches: Vec<&str> =
        def["properties"]["registry_match"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for r in &rows {
        for k in r.as_object().unwrap().keys() {
            assert!(
                props.contains_key(k),
                "fleet agents --json: field {k} is not documented in docs/forensics-schema.json"
            );
        }
        for k in def["required"].as_array().unwrap() {
            assert!(r.get(k.as_str().unwrap()).is_some(), "fleet agents --json: required {k} missing in {r}");
        }
        assert!(matches.contains(&r["registry_match"].as_str().unwrap()), "{r}");
    }

    // The text table has a line per agent and the header.
    let out = f.command(&["fleet", "agents"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.contains("agent-a (project)") && text.contains("agent-idle (never_seen)"), "{text}");

    // A window after everything: only the registry's agents, none seen.
    let out = f.command(&["fleet", "agents", "--json", "--since", "2999-01-01T00:00:00Z"]).output().unwrap();
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.iter().all(|r| r["seen"] == false), "{rows:#?}");
    // Bad input: a clear error, exit 2.
    let out = f.command(&["fleet", "agents", "--since", "yesterdayish"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
    let out = f.command(&["fleet", "agents", "--registry", "/nonexistent/fleet.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn strings(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_collector_fragment_has_a_filtered_pipeline_per_group() {
    let f = FleetInstall::new("fleet-collector-");
    let out =
        f.command(&["fleet", "collector-config", "--backends", "victorialogs,loki,jaeger,tempo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let y = yaml(&text);
    let base = yaml(
        &std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("otel-collector.yaml")).unwrap(),
    );
    // The fragment's processor lists replace the main config's on merge: they must repeat them.
    let base_procs = strings(&base["service"]["pipelines"]["logs"]["processors"]);
    assert_eq!(base_procs, strings(&base["service"]["pipelines"]["traces"]["processors"]));
    let pipes = &y["service"]["pipelines"];
    for main in ["logs", "traces"] {
        let mut want = base_procs.clone();
        want.push("filter/fleet_default".into());
        assert_eq!(strings(&pipes[main]["processors"]), want, "{main}");
        assert!(pipes[main].get("exporters").is_none(), "{main}: the main exporters stay those of the environment");
    }
    let dflt = &y["processors"]["filter/fleet_default"];
    assert_eq!(
        strings(&dflt["log_conditions"]),
        vec![r#"resource.attributes["agent.group"] == "alpha""#, r#"resource.attributes["agent.group"] == "beta""#]
    );
    assert_eq!(strings(&dflt["trace_conditions"]), strings(&dflt["log_conditions"]));
    for (g, account, project, tenant) in [("alpha", "21", "0", "team-alpha"), ("beta", "22", "3", "team-beta")] {
        let filt = &y["processors"][format!("filter/fleet_{g}").as_str()];
        assert_eq!(
            strings(&filt["log_conditions"]),
            vec![format!(
                r#"resource.attributes["agent.group"] == nil or resource.attributes["agent.group"] != "{g}""#
            )]
        );
        let vl = &y["exporters"][format!("otlp_http/victorialogs_{g}").as_str()];
        assert_eq!(vl["headers"]["AccountID"].as_str(), Some(account), "{g}");
        assert_eq!(vl["headers"]["ProjectID"].as_str(), Some(project), "{g}");
        assert_eq!(vl["sending_queue"]["storage"].as_str(), Some("file_storage/queue"));
        assert_eq!(vl["retry_on_failure"]["max_elapsed_time"].as_i64(), Some(0));
        assert_eq!(
            y["exporters"][format!("otlp_http/loki_{g}").as_str()]["headers"]["X-Scope-OrgID"].as_str(),
            Some(tenant)
        );
        assert_eq!(
            y["exporters"][format!("otlp_grpc/tempo_{g}").as_str()]["headers"]["X-Scope-OrgID"].as_str(),
            Some(tenant)
        );
        let logs = &pipes[format!("logs/fleet_{g}").as_str()];
        assert_eq!(strings(&logs["receivers"]), vec!["otlp"]);
        let mut want = base_procs.clone();
        want.push(format!("filter/fleet_{g}"));
        assert_eq!(strings(&logs["processors"]), want);
        assert_eq!(
            strings(&logs["exporters"]),
            vec![format!("otlp_http/victorialogs_{g}"), format!("otlp_http/loki_{g}")]
        );
        let traces = &pipes[format!("traces/fleet_{g}").as_str()];
        assert_eq!(strings(&traces["exporters"]), vec!["otlp_grpc/jaeger".to_string(), format!("otlp_grpc/tempo_{g}")]);
    }
    // Bad input: an unknown backend, no registry.
    let out = f.command(&["fleet", "collector-config", "--backends", "victorialogs,splunk"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("splunk"));
    let out = f.env.command(&["fleet", "collector-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no fleet registry"));
    let groupless = f.env.dir.path().join("groupless.toml");
    std::fs::write(&groupless, "[agents.solo]\nprojects = [\"p\"]\n").unwrap();
    let out =
        f.env.command(&["fleet", "collector-config", "--registry", groupless.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("defines no [groups.NAME]"));
    // -o writes the same text.
    let file = f.env.dir.path().join("fleet-collector.yaml");
    let out = f
        .command(&[
            "fleet",
            "collector-config",
            "--backends",
            "victorialogs,loki,jaeger,tempo",
            "-o",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}
