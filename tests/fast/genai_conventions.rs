//! The spans follow the current GenAI semantic conventions (the version and every rename:
//! docs/export.md): recorded sessions (a subagent tree; tool calls with findings) go through the
//! hook and `relay --once` to OTLP JSON files, and the exported spans are read as they are.
//!
//! - `invoke_agent` spans (internal) carry no `gen_ai.agent.id` and no cache-token breakdown; a
//!   subagent's id is `agent_telemetry.subagent.id`, on its spans and its tool calls.
//! - No span carries a retired name (`gen_ai.usage.cache_creation.input_tokens`).
//! - Each finding on a tool call is a `gen_ai.guardrail.security.finding` event on its span, with
//!   the attributes the conventions require (policy id, risk category, target type) and the rule;
//!   a finding on a prompt is one on its turn's span.
//! - Log records keep `gen_ai.agent.id` for subagent records: the dashboards group by it.

use crate::harness::relay::{self, Dest, Install};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn kv(v: &Value) -> BTreeMap<String, Value> {
    v.as_array()
        .map(|a| a.iter().map(|kv| (kv["key"].as_str().unwrap().to_string(), kv["value"].clone())).collect())
        .unwrap_or_default()
}

/// The attributes of a span's `gen_ai.guardrail.security.finding` events.
fn finding_events(span: &Value) -> Vec<BTreeMap<String, Value>> {
    span["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["name"] == "gen_ai.guardrail.security.finding")
        .map(|e| kv(&e["attributes"]))
        .collect()
}

fn s(v: &Value) -> Option<&str> {
    v["stringValue"].as_str()
}

/// The exported spans and log records of a fixture, as raw OTLP JSON objects.
fn export(fixture: &str) -> (Vec<Value>, Vec<Value>) {
    let env = Install::new(&format!("genai-{fixture}-"));
    relay::replay(&env, fixture, "");
    read(&env)
}

fn read(env: &Install) -> (Vec<Value>, Vec<Value>) {
    relay::relay_once(env, &Dest::File, &[], Duration::from_secs(60));
    let (t, l) = relay::otlp_lines(&env.data);
    let spans = t
        .iter()
        .flat_map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            v["resourceSpans"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|rs| {
                    rs["scopeSpans"].as_array().unwrap().iter().flat_map(|ss| ss["spans"].as_array().unwrap().clone())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let logs = l
        .iter()
        .flat_map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            v["resourceLogs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|rl| {
                    rl["scopeLogs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|sl| sl["logRecords"].as_array().unwrap().clone())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    (spans, logs)
}

#[test]
fn agent_spans_follow_the_current_conventions() {
    let (spans, logs) = export("subagents");
    let mut subagents = 0;
    for sp in &spans {
        let a = kv(&sp["attributes"]);
        let name = sp["name"].as_str().unwrap();
        assert!(!a.contains_key("gen_ai.usage.cache_creation.input_tokens"), "{name}: retired name");
        if name.starts_with("invoke_agent ") {
            assert_eq!(a.get("gen_ai.operation.name").and_then(s), Some("invoke_agent"));
            assert!(a.contains_key("gen_ai.agent.name"), "{name}");
            for k in
                ["gen_ai.agent.id", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_write.input_tokens"]
            {
                assert!(!a.contains_key(k), "{name}: {k} is not for internal agent spans");
            }
            if name != "invoke_agent claude-code" {
                assert!(
                    a.get("agent_telemetry.subagent.id").and_then(s).is_some_and(|id| !id.is_empty()),
                    "{name}: {a:?}"
                );
                subagents += 1;
            }
        }
        if name.starts_with("execute_tool ") {
            assert!(!a.contains_key("gen_ai.agent.id"), "{name}");
        }
    }
    assert!(subagents >= 2, "the fixture's subagents: {subagents}");
    // Each subagent's tool calls name it.
    let ids: Vec<String> = spans
        .iter()
        .filter_map(|sp| {
            kv(&sp["attributes"]).get("agent_telemetry.subagent.id").and_then(|v| s(v).map(str::to_string))
        })
        .collect();
    assert!(ids.len() > subagents, "tool spans inside subagents carry the subagent id too: {ids:?}");
    // The dashboards' log queries still find subagent records by gen_ai.agent.id.
    let starts = logs
        .iter()
        .filter(|l| kv(&l["attributes"]).get("agent_telemetry.hook_event").and_then(s) == Some("SubagentStart"))
        .filter(|l| kv(&l["attributes"]).get("gen_ai.agent.id").and_then(s).is_some())
        .count();
    assert!(starts >= 2, "SubagentStart logs with gen_ai.agent.id: {starts}");
}

#[test]
fn findings_are_guardrail_finding_events_on_their_tool_span() {
    let (spans, _) = export("tools");
    let mut events = 0;
    for sp in &spans {
        let a = kv(&sp["attributes"]);
        let name = sp["name"].as_str().unwrap();
        let rules: Vec<String> = a
            .get("agent_telemetry.security.rules")
            .and_then(|v| v["arrayValue"]["values"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|v| s(v).unwrap().to_string())
            .collect();
        let finds = finding_events(sp);
        let mut fired: Vec<String> =
            finds.iter().map(|f| s(&f["gen_ai.guardrail.security.policy.rule.id"]).unwrap().to_string()).collect();
        fired.sort();
        fired.dedup();
        let mut want = rules.clone();
        want.sort();
        assert_eq!(fired, want, "{name}: one finding event per rule that fired");
        for f in &finds {
            assert_eq!(f.get("gen_ai.guardrail.security.policy.id").and_then(s), Some("agent-telemetry"));
            assert!(f.get("gen_ai.guardrail.security.risk.category").and_then(s).is_some_and(|c| !c.is_empty()));
            assert!(matches!(f.get("gen_ai.guardrail.target.type").and_then(s), Some("input" | "output")));
            assert_eq!(f.get("gen_ai.guardrail.target.subtype").and_then(s), Some("tool_call"));
            assert_eq!(f.get("gen_ai.guardrail.target.id").and_then(s), a.get("gen_ai.tool.call.id").and_then(s));
            assert!(matches!(f.get("gen_ai.guardrail.verdict.type").and_then(s), Some("warn" | "deny")));
            assert!(matches!(f.get("gen_ai.guardrail.action.type").and_then(s), Some("audit" | "block")));
            assert!(f.get("agent_telemetry.security.severity").and_then(s).is_some());
            events += 1;
        }
    }
    assert!(events >= 2, "the fixture's secret and outside-project findings: {events}");
}

#[test]
fn a_finding_on_a_prompt_is_a_guardrail_finding_event_on_its_turn() {
    let env = Install::new("genai-prompt-");
    let p = env.project.to_str().unwrap();
    let base = |extra: &str| {
        format!(r#"{{"session_id": "s-genai", "transcript_path": "/nonexistent.jsonl", "cwd": "{p}", {extra}}}"#)
    };
    relay::hook_lines(
        &env,
        &[
            base(r#""hook_event_name": "SessionStart", "source": "startup""#),
            base(
                r#""hook_event_name": "UserPromptSubmit", "prompt_id": "p-genai", "prompt": "deploy with AKIAIOSFODNN7EXAMPLE please""#,
            ),
            base(r#""hook_event_name": "Stop", "prompt_id": "p-genai""#),
        ],
    );
    let (spans, _) = read(&env);
    let turn = spans.iter().find(|sp| sp["name"] == "turn").expect("the turn span");
    let finds = finding_events(turn);
    assert!(!finds.is_empty(), "the prompt's secret is a finding on the turn: {turn:#}");
    let prompt_id = kv(&turn["attributes"]).get("prompt.id").and_then(|v| s(v).map(str::to_string));
    for f in &finds {
        assert_eq!(f.get("gen_ai.guardrail.target.type").and_then(s), Some("input"));
        assert_eq!(f.get("gen_ai.guardrail.target.subtype").and_then(s), Some("message"));
        assert_eq!(f.get("gen_ai.guardrail.target.id").and_then(s).map(str::to_string), prompt_id);
        assert_eq!(f.get("gen_ai.guardrail.security.risk.category").and_then(s), Some("sensitive_info_disclosure"));
    }
}
