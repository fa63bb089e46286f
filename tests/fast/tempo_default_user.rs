//! The dashboards' TraceQL panels select the spans of a default user — one agent, no fleet
//! settings, so no `agent.group` on its spans (its `agent.id` defaults to user@host) — when their variables are at "All".
//!
//! In Tempo a condition on an attribute a span does not have is false, whatever the operator:
//! `resource.agent.group =~ ".*"` matches nothing for that user. So each condition on a variable
//! is written `(resource.agent.group =~ "$group" || "$group" = ".*")`: at "All" (the variables'
//! `allValue` is `.*`) the static comparison is true and the attribute is not needed; with a
//! value chosen it is false and the attribute must match. Proved offline: a journal recorded
//! without any fleet settings goes through the built binary's hook and `relay --once` (OTLP
//! files), and every shipped TraceQL query, its variables substituted as Grafana does, is
//! evaluated over the exported spans with Tempo's rules (below: `&&`, `||`, parentheses, `=`,
//! `!=`, `=~`/`!~` fully anchored, static values; a missing attribute makes its comparison
//! false). tests/slow/grafana_offline.rs parses the same queries with Grafana's own TraceQL
//! grammar.

use crate::harness::relay::{read_otlp, Span};
use crate::harness::sandbox::*;
use serde_json::{json, Value};
use std::path::Path;

// ---- a TraceQL spanset filter, as Tempo evaluates it -----------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    LParen,
    RParen,
    And,
    Or,
    Op(&'static str),
    Str(String),
    Word(String),
}

fn lex(q: &str) -> Vec<Tok> {
    let b = q.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        let two = q.get(i..i + 2).unwrap_or("");
        match c {
            ' ' | '\n' | '\t' => i += 1,
            '{' => (out.push(Tok::Open), i += 1).1,
            '}' => {
                out.push(Tok::Close);
                break; // a pipeline after the filter (`| select(...)`) selects no fewer spans
            }
            '(' => (out.push(Tok::LParen), i += 1).1,
            ')' => (out.push(Tok::RParen), i += 1).1,
            '"' => {
                let mut s = String::new();
                i += 1;
                while b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    s.push(b[i] as char);
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            _ if two == "&&" => (out.push(Tok::And), i += 2).1,
            _ if two == "||" => (out.push(Tok::Or), i += 2).1,
            _ => {
                if let Some(op) =
                    ["=~", "!~", "!=", ">=", "<=", "=", ">", "<"].into_iter().find(|o| q[i..].starts_with(o))
                {
                    out.push(Tok::Op(op));
                    i += op.len();
                    continue;
                }
                let start = i;
                while i < b.len() && !(b" (){}\"=!<>&|".contains(&b[i])) {
                    i += 1;
                }
                assert!(i > start, "cannot read {q} at {start}");
                out.push(Tok::Word(q[start..i].to_string()));
            }
        }
    }
    out
}

/// One span's view: a value for a TraceQL operand, `None` when the span has no such attribute.
fn operand(t: &Tok, s: &Span) -> Option<String> {
    match t {
        Tok::Str(v) => Some(v.clone()),
        Tok::Word(w) if w == "true" || w == "false" || w.parse::<f64>().is_ok() => Some(w.clone()),
        Tok::Word(w) if w == "name" => Some(s.name.clone()),
        Tok::Word(w) => {
            if let Some(k) = w.strip_prefix("resource.") {
                s.resource.get(k).cloned()
            } else if let Some(k) = w.strip_prefix("span.") {
                s.attrs.get(k).cloned()
            } else if let Some(k) = w.strip_prefix('.') {
                s.attrs.get(k).or(s.resource.get(k)).cloned()
            } else {
                panic!("operand {w} not modelled")
            }
        }
        other => panic!("operand {other:?}"),
    }
}

struct Eval<'a> {
    toks: &'a [Tok],
    i: usize,
    span: &'a Span,
}

impl Eval<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }
    fn next(&mut self) -> Tok {
        self.i += 1;
        self.toks[self.i - 1].clone()
    }
    fn or(&mut self) -> bool {
        let mut v = self.and();
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            v |= self.and();
        }
        v
    }
    fn and(&mut self) -> bool {
        let mut v = self.unary();
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            v &= self.unary();
        }
        v
    }
    fn unary(&mut self) -> bool {
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let v = self.or();
            assert_eq!(self.next(), Tok::RParen);
            return v;
        }
        let left = self.next();
        match self.peek() {
            Some(Tok::Op(_)) => {}
            _ => return operand(&left, self.span).as_deref() == Some("true"),
        }
        let Tok::Op(op) = self.next() else { unreachable!() };
        let right = self.next();
        // Tempo: a comparison with an attribute the span does not have is false.
        let (Some(l), Some(r)) = (operand(&left, self.span), operand(&right, self.span)) else { return false };
        match op {
            "=" => l == r,
            "!=" => l != r,
            "=~" | "!~" => {
                let re = regex_lite::Regex::new(&format!("^(?:{r})$")).unwrap();
                re.is_match(&l) == (op == "=~")
            }
            other => panic!("operator {other} not modelled"),
        }
    }
}

fn selects(query: &str, span: &Span) -> bool {
    let toks = lex(query);
    assert_eq!(toks.first(), Some(&Tok::Open), "{query}");
    let mut e = Eval { toks: &toks[1..], i: 0, span };
    let v = e.or();
    assert_eq!(e.peek(), Some(&Tok::Close), "{query}: read to the end of the filter");
    v
}

// ---- the shipped queries ---------------------------------------------------------------------

/// Every TraceQL panel query of the dashboards: (dashboard / panel, query).
fn traceql_panels() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if t["datasource"]["type"] == "tempo" {
                    let id = format!("{} / {}", d["uid"].as_str().unwrap(), p["title"].as_str().unwrap());
                    out.push((id, t["query"].as_str().unwrap().to_string()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Grafana's substitution: "All" is each variable's `allValue` (`.*`); a chosen value stands
/// for itself.
fn substitute(q: &str, project: &str, group: &str, agent: &str, session: &str) -> String {
    q.replace("$project", project).replace("$group", group).replace("$agent", agent).replace("$session", session)
}

/// A default user's session: no config, no fleet variables; a tool call, a subagent and a failed call.
fn recorded_without_fleet_settings() -> (Sandbox, Vec<Span>) {
    let sb = Sandbox::new();
    let sid = "d3fa017e-0000-4000-8000-000000000001";
    let p = |ev: &str, extra: Value| sb.payload(ev, sid, extra);
    let calls = [
        p("SessionStart", json!({"source": "startup"})),
        p("UserPromptSubmit", json!({"prompt": "hello", "prompt_id": "p1"})),
        p(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "t1", "prompt_id": "p1"}),
        ),
        p(
            "PostToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "t1", "prompt_id": "p1", "tool_response": {"stdout": ""}}),
        ),
        p("SubagentStart", json!({"agent_id": "ag1", "agent_type": "general-purpose", "prompt_id": "p1"})),
        p("SubagentStop", json!({"agent_id": "ag1", "agent_type": "general-purpose", "prompt_id": "p1"})),
        p("Stop", json!({"prompt_id": "p1"})),
        p("SessionEnd", json!({"reason": "other"})),
    ];
    for c in &calls {
        sb.hook(c).ok();
    }
    let r = sb.run(&["relay", "--once", "--timeout", "30"], &[], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (spans, _) = read_otlp(&sb.data, (0, 0));
    (sb, spans)
}

#[test]
fn every_tempo_panel_selects_a_default_users_spans_at_all() {
    let (_sb, spans) = recorded_without_fleet_settings();
    assert!(!spans.is_empty());
    for s in &spans {
        assert!(!s.resource.contains_key("agent.group"), "a default user's spans carry no group: {:?}", s.resource);
    }
    let panels = traceql_panels();
    assert!(panels.len() >= 4, "{panels:?}");
    let session = spans.iter().find(|s| s.name == "invoke_agent claude-code").expect("the session span");
    let sid = session.resource["session.id"].clone();
    for (id, q) in &panels {
        let all = substitute(q, ".*", ".*", ".*", ".*");
        // The identity part (every condition on a variable) holds on every span of the user...
        let identity: String = format!(
            "{{ {} }}",
            all.trim_start_matches('{').split("&&").filter(|c| c.contains("resource.")).collect::<Vec<_>>().join("&&")
        );
        for s in &spans {
            assert!(selects(&identity, s), "{id}: `{identity}` does not select span {}", s.name);
        }
        // ... and the whole query selects the spans it is about.
        let chosen = substitute(q, ".*", ".*", ".*", &sid);
        let got: Vec<&str> = spans.iter().filter(|s| selects(&all, s)).map(|s| s.name.as_str()).collect();
        let got_one = spans.iter().filter(|s| selects(&chosen, s)).count();
        match id.as_str() {
            i if q.contains("name = \"invoke_agent claude-code\"") => {
                assert_eq!(got, ["invoke_agent claude-code"], "{i}");
                assert_eq!(got_one, 1, "{i}: with the session chosen");
            }
            i if q.contains("name != \"invoke_agent claude-code\"") => {
                assert_eq!(got, ["invoke_agent general-purpose"], "{i}");
            }
            // Spans closed incomplete: this session ended whole, so none; its identity part was
            // checked above.
            i => assert!(q.contains("span.incomplete") && got.is_empty(), "{i}: {got:?}"),
        }
        // A group chosen: a user with no group is not in it.
        let team = substitute(q, ".*", "team-a", ".*", ".*");
        assert!(spans.iter().all(|s| !selects(&team, s)), "{id}: group team-a selects a span without a group");
    }
    // The form the panels had selects nothing for this user (the bug this guards against).
    let old = "{ resource.service.name = \"claude-code\" && resource.agent.group =~ \".*\" && name = \"invoke_agent claude-code\" }";
    assert!(spans.iter().all(|s| !selects(old, s)));
}

#[test]
fn the_evaluator_follows_tempos_rules() {
    let mut s = Span {
        trace_id: String::new(),
        span_id: String::new(),
        parent: None,
        name: "x".into(),
        kind: None,
        flags: None,
        start: 0,
        end: 0,
        status_code: 0,
        status_message: String::new(),
        attrs: Default::default(),
        resource: Default::default(),
        events: Vec::new(),
    };
    s.resource.insert("agent.group".into(), "team-a".into());
    assert!(selects("{ resource.agent.group =~ \"team-.*\" }", &s));
    assert!(!selects("{ resource.agent.group =~ \"team\" }", &s), "anchored");
    assert!(!selects("{ resource.agent.id != \"x\" }", &s), "missing attribute: false");
    assert!(selects("{ (resource.agent.id =~ \"x\" || \".*\" = \".*\") && name = \"x\" }", &s));
    assert!(!selects("{ (resource.agent.id =~ \"x\" || \"x\" = \".*\") && name = \"x\" }", &s));
    assert!(selects("{ true }", &s));
}
