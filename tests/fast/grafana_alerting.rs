//! The Grafana-managed alert rules (grafana/provisioning/alerting/agent-telemetry.yaml), checked
//! as Grafana's file provisioning reads them: the four questions asked (critical findings,
//! behaviour findings, telemetry gaps, a relay that stopped exporting), every query on a data
//! source the provisioning defines, every condition and expression naming a query of its rule,
//! Grafana's `$` expansion left nothing to eat (alert templates write `$$labels`), unique uids
//! within Grafana's 40 characters, the dashboards' folder. tests/slow/grafana_offline.rs parses
//! the expressions with Grafana's LogQL parser, checks their names against the pipeline's real
//! output and runs the counting rules' LogsQL twins on VictoriaLogs.

use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join(rel)).unwrap()).unwrap()
}

fn rules() -> Vec<Value> {
    let f = yaml("grafana/provisioning/alerting/agent-telemetry.yaml");
    assert_eq!(f["apiVersion"], Value::from(1));
    f["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap().clone()).collect()
}

fn expr(rule: &Value) -> String {
    let a = rule["data"].as_sequence().unwrap().iter().find(|d| d["datasourceUid"] != "__expr__").unwrap();
    a["model"]["expr"].as_str().unwrap().to_string()
}

#[test]
fn the_four_alerts_are_provisioned() {
    let rules = rules();
    let by_title = |t: &str| rules.iter().find(|r| r["title"] == t).unwrap_or_else(|| panic!("no rule {t}")).clone();
    assert_eq!(rules.len(), 4);
    assert!(expr(&by_title("AgentCriticalFinding")).contains(r#"agent_telemetry_security_risk="critical""#));
    assert!(expr(&by_title("AgentBehaviourFinding")).contains(r#"agent_telemetry_hook_event="Behaviour""#));
    assert!(expr(&by_title("AgentTelemetryGap")).contains(r#"agent_telemetry_hook_event="TelemetryGap""#));
    let stopped = expr(&by_title("AgentRelayStopped"));
    assert!(stopped.contains(" unless ") && stopped.contains("SessionStart") && stopped.contains("SessionEnd"));
    for r in &rules {
        assert!(expr(r).contains(r#"{service_name="claude-code"}"#), "{:?}", r["title"]);
    }
}

#[test]
fn every_rule_is_well_formed_for_grafanas_provisioning() {
    let text = std::fs::read_to_string(root().join("grafana/provisioning/alerting/agent-telemetry.yaml")).unwrap();
    // Grafana expands $NAME / ${NAME} in provisioning files: every `$` outside comments is `$$`.
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let stripped = line.replace("$$", "");
        assert!(!stripped.contains('$'), "an unescaped $ Grafana would expand: {line}");
    }
    let datasources: BTreeSet<String> = yaml("grafana/provisioning/datasources/agent-telemetry.yaml")["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap().to_string())
        .collect();
    let folder = yaml("grafana/provisioning/dashboards/agent-telemetry.yaml")["providers"][0]["folder"].clone();
    let f = yaml("grafana/provisioning/alerting/agent-telemetry.yaml");
    for g in f["groups"].as_sequence().unwrap() {
        assert_eq!(g["folder"], folder, "alerts live next to the dashboards");
        assert!(g["interval"].as_str().is_some() && g["orgId"].as_u64().is_some());
    }
    let mut uids = BTreeSet::new();
    for r in rules() {
        let title = r["title"].as_str().unwrap();
        let uid = r["uid"].as_str().unwrap();
        assert!(uid.len() <= 40 && uids.insert(uid.to_string()), "{title}: uid {uid}");
        let data = r["data"].as_sequence().unwrap();
        let refs: BTreeSet<&str> = data.iter().map(|d| d["refId"].as_str().unwrap()).collect();
        assert!(refs.contains(r["condition"].as_str().unwrap()), "{title}: condition names no query");
        for d in data {
            assert_eq!(d["model"]["refId"], d["refId"], "{title}");
            match d["datasourceUid"].as_str().unwrap() {
                "__expr__" => {
                    let on = d["model"]["expression"].as_str().unwrap();
                    assert!(refs.contains(on), "{title}: expression on {on}");
                    assert!(matches!(d["model"]["type"].as_str(), Some("reduce" | "threshold" | "math")));
                }
                ds => {
                    assert!(datasources.contains(ds), "{title}: data source {ds} is not provisioned");
                    assert!(d["relativeTimeRange"]["from"].as_u64().unwrap() > 0, "{title}");
                    assert_eq!(d["model"]["queryType"], "instant", "{title}");
                }
            }
        }
        assert!(matches!(r["labels"]["severity"].as_str(), Some("critical" | "warning")), "{title}");
        assert_eq!(r["labels"]["source"], "agent-telemetry");
        assert!(r["annotations"]["summary"].as_str().is_some_and(|s| s.contains("$$labels")), "{title}");
        assert_eq!(r["noDataState"], "OK", "{title}: no data is no alert");
    }
}
