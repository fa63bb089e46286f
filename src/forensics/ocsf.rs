//! `export --format ocsf`: journal records as OCSF events, one JSON object per line.
//!
//! Each finding of a record is a Detection Finding (class 2004). A tool call is one activity
//! event, written from the record that ends it (PostToolUse, PostToolUseFailure) or from the
//! PreToolUse that enforce mode denied (no other record follows it): File System Activity (1001)
//! for the file tools, Process Activity (1007) for shell commands, API Activity (6003) with the
//! `ai_operation` profile for every other tool. The mapping, attribute by attribute, is in
//! docs/export.md; the OCSF version followed is [`OCSF_VERSION`].
//!
//! Only what the record holds is written: the record is already redacted, and content the hook
//! did not keep is not here either. Fields with no OCSF place go to `unmapped`.

use crate::record::{Finding, JournalRecord, Severity};
use serde_json::{json, Map, Value};

/// The OCSF schema version the events follow (`metadata.version`).
pub(crate) const OCSF_VERSION: &str = "1.8.0";

const PRODUCT: &str = "agent-telemetry";

/// The OCSF events of one journal record, in order: its findings, then its activity (if any).
pub(crate) fn events(r: &JournalRecord) -> Vec<Value> {
    let mut out: Vec<Value> = r.security.findings.iter().enumerate().map(|(i, f)| finding(r, i, f)).collect();
    if let Some(a) = activity(r) {
        out.push(a);
    }
    out
}

fn ms(nanos: u64) -> u64 {
    nanos / 1_000_000
}

/// OCSF `severity_id` and its caption for our severity.
fn severity(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

fn denied(r: &JournalRecord) -> bool {
    r.security.decision.as_deref() == Some("deny")
}

/// Inserts `v` under `k` unless it is null.
fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    if !v.is_null() {
        m.insert(k.to_string(), v);
    }
}

fn opt(s: &Option<String>) -> Value {
    s.as_deref().map(Value::from).unwrap_or(Value::Null)
}

/// `metadata`: the product, the OCSF version, the record's place in the chain.
fn metadata(r: &JournalRecord, uid: String, profiles: &[&str]) -> Value {
    let mut m = Map::new();
    m.insert("product".into(), json!({"name": PRODUCT, "vendor_name": PRODUCT, "version": env!("CARGO_PKG_VERSION")}));
    m.insert("version".into(), json!(OCSF_VERSION));
    m.insert("uid".into(), json!(uid));
    put(&mut m, "correlation_uid", opt(&r.session_id));
    m.insert("sequence".into(), json!(r.seq));
    m.insert("event_code".into(), json!(r.hook_event));
    m.insert("log_name".into(), json!("journal"));
    m.insert("original_time".into(), json!(r.timestamp));
    m.insert("logged_time".into(), json!(ms(r.time_unix_nano)));
    if !profiles.is_empty() {
        m.insert("profiles".into(), json!(profiles));
    }
    Value::Object(m)
}

/// The Claude Code process the event came from, when the record knows its pid.
fn agent_process(r: &JournalRecord) -> Value {
    match &r.resource_usage {
        Some(u) if u.claude_pid > 0 => json!({"pid": u.claude_pid, "name": "claude"}),
        _ => Value::Null,
    }
}

/// `actor`: the agent (application), its session, its user and process.
fn actor(r: &JournalRecord) -> Value {
    let a = &r.agent_context;
    let mut m = Map::new();
    let app = a.agent_type.clone().or_else(|| a.fleet_agent_type.clone()).unwrap_or_else(|| "claude-code".into());
    m.insert("app_name".into(), json!(app));
    put(&mut m, "app_uid", opt(&a.agent_id.clone().or_else(|| a.fleet_agent_id.clone())));
    if let Some(sid) = &r.session_id {
        m.insert("session".into(), json!({"uid": sid}));
    }
    if let Some(u) = &r.metadata.user_id {
        m.insert("user".into(), json!({"name": u}));
    }
    put(&mut m, "process", agent_process(r));
    Value::Object(m)
}

/// `device`: the host the hook ran on.
fn device(r: &JournalRecord) -> Value {
    let mut m = Map::new();
    m.insert("type_id".into(), json!(0));
    m.insert("type".into(), json!("Unknown"));
    put(&mut m, "hostname", opt(&r.metadata.host_name));
    put(&mut m, "uid", opt(&r.agent_context.instance_id));
    if !m.contains_key("hostname") && !m.contains_key("uid") {
        m.insert("name".into(), json!("unknown"));
    }
    Value::Object(m)
}

/// What has no OCSF attribute: the chain, the project, the hook event, the agent's identity.
fn unmapped(r: &JournalRecord, extra: Map<String, Value>) -> Value {
    let a = &r.agent_context;
    let mut m = Map::new();
    m.insert("seq".into(), json!(r.seq));
    m.insert("hash".into(), json!(r.hash));
    m.insert("prev_hash".into(), json!(r.prev_hash));
    m.insert("hook_event".into(), json!(r.hook_event));
    m.insert("event_type".into(), json!(r.event_type));
    put(&mut m, "tool_name", opt(&r.tool_name));
    put(&mut m, "tool_use_id", opt(&r.tool_context.as_ref().and_then(|t| t.tool_use_id.clone())));
    put(&mut m, "project_path", opt(&r.project_path));
    put(&mut m, "project_name", opt(&r.project_name));
    put(&mut m, "cwd", opt(&r.cwd));
    put(&mut m, "prompt_id", opt(&r.session_context.prompt_id));
    put(&mut m, "workflow_id", opt(&r.session_context.workflow_id));
    put(&mut m, "parent_session", opt(&r.session_context.parent_session));
    put(&mut m, "agent_id", opt(&a.agent_id));
    put(&mut m, "fleet_agent_id", opt(&a.fleet_agent_id));
    put(&mut m, "agent_group", opt(&a.agent_group));
    put(&mut m, "agent_role", opt(&a.agent_role));
    if r.action_details.outside_project_scope {
        m.insert("outside_project".into(), json!(true));
    }
    m.extend(extra);
    Value::Object(m)
}

/// A file as OCSF describes one (`type_id` 1 regular file, 2 folder).
fn file(path: &str, folder: bool, r: &JournalRecord) -> Value {
    let trimmed = path.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(path);
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("path".into(), json!(path));
    m.insert("type_id".into(), json!(if folder { 2 } else { 1 }));
    m.insert("type".into(), json!(if folder { "Folder" } else { "Regular File" }));
    if !folder {
        if let Some(n) = r.action_details.size_bytes {
            m.insert("size".into(), json!(n));
        }
        if let Some(h) = &r.action_details.content_sha256 {
            m.insert("hashes".into(), json!([{"algorithm_id": 3, "algorithm": "SHA-256", "value": h}]));
        }
    }
    Value::Object(m)
}

/// The record's file path: resolved when the hook could, as given otherwise.
fn record_path(r: &JournalRecord) -> Option<&str> {
    r.action_details.resolved_path.as_deref().or(r.action_details.file_path.as_deref())
}

fn tool_use_id(r: &JournalRecord) -> Option<&str> {
    r.tool_context.as_ref().and_then(|t| t.tool_use_id.as_deref())
}

/// What a finding points at, when the record names a file or a command.
fn evidences(r: &JournalRecord) -> Value {
    let mut e = Map::new();
    if let Some(p) = record_path(r) {
        e.insert("file".into(), file(p, false, r));
    }
    if let (Some(cmd), Some(id)) = (&r.action_details.command, tool_use_id(r)) {
        e.insert("process".into(), json!({"uid": id, "cmd_line": cmd}));
    }
    if e.is_empty() {
        Value::Null
    } else {
        json!([e])
    }
}

/// One finding as a Detection Finding (2004), activity Create.
fn finding(r: &JournalRecord, i: usize, f: &Finding) -> Value {
    let (sev_id, sev) = severity(f.severity);
    let time = ms(r.time_unix_nano);
    let uid = format!("{}-{i}", r.hash);
    let mut info = Map::new();
    info.insert("uid".into(), json!(uid));
    info.insert("title".into(), json!(f.rule));
    info.insert("types".into(), json!([f.category]));
    if !f.description.is_empty() {
        info.insert("desc".into(), json!(f.description));
    }
    info.insert("created_time".into(), json!(time));
    info.insert(
        "analytic".into(),
        json!({"uid": f.rule, "name": f.rule, "category": f.category, "type_id": 1, "type": "Rule"}),
    );
    let mut ev = Map::new();
    ev.insert("class_uid".into(), json!(2004));
    ev.insert("class_name".into(), json!("Detection Finding"));
    ev.insert("category_uid".into(), json!(2));
    ev.insert("category_name".into(), json!("Findings"));
    ev.insert("activity_id".into(), json!(1));
    ev.insert("activity_name".into(), json!("Create"));
    ev.insert("type_uid".into(), json!(2004 * 100 + 1));
    ev.insert("type_name".into(), json!("Detection Finding: Create"));
    ev.insert("time".into(), json!(time));
    ev.insert("severity_id".into(), json!(sev_id));
    ev.insert("severity".into(), json!(sev));
    ev.insert("status_id".into(), json!(1));
    ev.insert("status".into(), json!("New"));
    ev.insert("is_alert".into(), json!(f.severity >= Severity::High));
    let (action_id, action, disp_id, disp) =
        if denied(r) { (2, "Denied", 2, "Blocked") } else { (3, "Observed", 15, "Detected") };
    ev.insert("action_id".into(), json!(action_id));
    ev.insert("action".into(), json!(action));
    ev.insert("disposition_id".into(), json!(disp_id));
    ev.insert("disposition".into(), json!(disp));
    let message = if f.description.is_empty() { f.rule.clone() } else { format!("{}: {}", f.rule, f.description) };
    ev.insert("message".into(), json!(message));
    ev.insert("finding_info".into(), Value::Object(info));
    ev.insert("metadata".into(), metadata(r, uid, &["host", "security_control"]));
    ev.insert("actor".into(), actor(r));
    ev.insert("device".into(), device(r));
    put(&mut ev, "evidences", evidences(r));
    let mut extra = Map::new();
    if !f.action.is_empty() {
        extra.insert("rule_action".into(), json!(f.action));
    }
    if !f.matched.is_empty() {
        extra.insert("matched".into(), json!(f.matched));
    }
    ev.insert("unmapped".into(), unmapped(r, extra));
    Value::Object(ev)
}

/// Which activity class a tool's call is.
enum Kind {
    /// File System Activity: activity id and name, the path, whether it is a folder.
    File(u8, &'static str, String, bool),
    /// Process Activity: activity id and name.
    Process(u8, &'static str),
    /// API Activity: activity id and name.
    Api(u8, &'static str),
}

fn kind(r: &JournalRecord, tool: &str) -> Kind {
    let path = record_path(r).map(str::to_string);
    let search = r.action_details.search_path.clone().or_else(|| r.cwd.clone());
    match (tool, path, search) {
        ("Read" | "NotebookRead", Some(p), _) => Kind::File(2, "Read", p, false),
        ("Write", Some(p), _) => {
            let created = r.change.as_ref().and_then(|c| c.kind.as_deref()) == Some("create");
            if created {
                Kind::File(1, "Create", p, false)
            } else {
                Kind::File(3, "Update", p, false)
            }
        }
        ("Edit" | "MultiEdit" | "NotebookEdit", Some(p), _) => Kind::File(3, "Update", p, false),
        ("Grep" | "Glob" | "LS", _, Some(dir)) => Kind::File(99, "Search", dir, true),
        ("Bash" | "PowerShell", _, _) => Kind::Process(1, "Launch"),
        ("KillShell" | "KillBash", _, _) => Kind::Process(2, "Terminate"),
        (
            "WebFetch"
            | "WebSearch"
            | "BashOutput"
            | "TaskGet"
            | "TaskList"
            | "TaskOutput"
            | "TodoRead"
            | "ToolSearch"
            | "ListMcpResourcesTool"
            | "ReadMcpResourceTool",
            _,
            _,
        ) => Kind::Api(2, "Read"),
        ("Agent" | "Task" | "TaskCreate" | "TeamCreate", _, _) => Kind::Api(1, "Create"),
        ("TaskUpdate" | "TodoWrite", _, _) => Kind::Api(3, "Update"),
        ("TaskStop" | "TeamDelete", _, _) => Kind::Api(4, "Delete"),
        _ => Kind::Api(99, "Invoke"),
    }
}

/// The activity event of a tool call, from the record that ends it (or a denied PreToolUse).
fn activity(r: &JournalRecord) -> Option<Value> {
    use crate::event::HookEvent;
    let tool = r.tool_name.as_deref()?;
    let ev = r.event();
    if !(ev.ends_tool_call() || ev == HookEvent::PreToolUse && denied(r)) {
        return None;
    }
    let tc = r.tool_context.as_ref();
    let failed = ev == HookEvent::PostToolUseFailure || denied(r);
    let call_uid = tool_use_id(r).map(str::to_string).unwrap_or_else(|| format!("seq-{}", r.seq));
    let time = ms(r.time_unix_nano);
    let mut e = Map::new();
    let (class_uid, class_name, category_uid, category_name, activity_id, activity_name, profiles): (
        u32,
        &str,
        u32,
        &str,
        u8,
        &str,
        &[&str],
    ) = match kind(r, tool) {
        Kind::File(id, name, path, folder) => {
            e.insert("file".into(), file(&path, folder, r));
            (1001, "File System Activity", 1, "System Activity", id, name, &["security_control"])
        }
        Kind::Process(id, name) => {
            let mut p = Map::new();
            p.insert("uid".into(), json!(call_uid));
            put(&mut p, "cmd_line", opt(&r.action_details.command));
            put(&mut p, "working_directory", opt(&r.cwd));
            put(&mut p, "parent_process", agent_process(r));
            e.insert("process".into(), Value::Object(p));
            (1007, "Process Activity", 1, "System Activity", id, name, &["security_control"])
        }
        Kind::Api(id, name) => {
            let service = r.action_details.mcp_server.clone().unwrap_or_else(|| "claude-code".into());
            let mut api = Map::new();
            api.insert("operation".into(), json!(tool));
            api.insert("service".into(), json!({"name": service}));
            api.insert("request".into(), json!({"uid": call_uid}));
            if let Some(err) = tc.and_then(|t| t.error.as_deref()) {
                api.insert("response".into(), json!({"error": err}));
            }
            e.insert("api".into(), Value::Object(api));
            let mut src = Map::new();
            put(&mut src, "hostname", opt(&r.metadata.host_name));
            if src.is_empty() {
                src.insert("name".into(), json!("claude-code"));
            }
            e.insert("src_endpoint".into(), Value::Object(src));
            if let Some(s) = &r.action_details.mcp_server {
                e.insert("dst_endpoint".into(), json!({"svc_name": s}));
            }
            let role = if r.agent_context.agent_id.is_some() { (4, "Agent") } else { (2, "Assistant") };
            let mut app = Map::new();
            app.insert("name".into(), json!("Claude Code"));
            put(&mut app, "version", opt(&r.metadata.claude_version));
            let mut mc = Map::new();
            mc.insert("application".into(), Value::Object(app));
            put(&mut mc, "uid", opt(&r.session_context.prompt_id));
            mc.insert("ai_role_id".into(), json!(role.0));
            mc.insert("ai_role".into(), json!(role.1));
            e.insert("message_context".into(), Value::Object(mc));
            let model = r.token_usage.as_ref().and_then(|t| t.model.clone());
            if let Some(m) = model {
                e.insert("ai_model".into(), json!({"name": m, "ai_provider": "Anthropic"}));
            }
            (6003, "API Activity", 6, "Application Activity", id, name, &["ai_operation", "host", "security_control"])
        }
    };
    let type_activity = if activity_id == 99 { "Other" } else { activity_name };
    e.insert("class_uid".into(), json!(class_uid));
    e.insert("class_name".into(), json!(class_name));
    e.insert("category_uid".into(), json!(category_uid));
    e.insert("category_name".into(), json!(category_name));
    e.insert("activity_id".into(), json!(activity_id));
    e.insert("activity_name".into(), json!(activity_name));
    e.insert("type_uid".into(), json!(class_uid as u64 * 100 + activity_id as u64));
    e.insert("type_name".into(), json!(format!("{class_name}: {type_activity}")));
    e.insert("time".into(), json!(time));
    let (sev_id, sev) = match r.security.risk {
        Some(s) => severity(s),
        None => (1, "Informational"),
    };
    e.insert("severity_id".into(), json!(sev_id));
    e.insert("severity".into(), json!(sev));
    e.insert("status_id".into(), json!(if failed { 2 } else { 1 }));
    e.insert("status".into(), json!(if failed { "Failure" } else { "Success" }));
    let detail =
        if denied(r) { Some("denied by policy (enforce mode)".to_string()) } else { tc.and_then(|t| t.error.clone()) };
    put(&mut e, "status_detail", opt(&detail));
    let (action_id, action) = if denied(r) { (2, "Denied") } else { (3, "Observed") };
    e.insert("action_id".into(), json!(action_id));
    e.insert("action".into(), json!(action));
    if let Some(d) = tc.and_then(|t| t.duration_ms) {
        e.insert("duration".into(), json!(d));
        e.insert("start_time".into(), json!(time.saturating_sub(d)));
        e.insert("end_time".into(), json!(time));
    }
    let what = r
        .action_details
        .command
        .as_deref()
        .or(record_path(r))
        .or(r.action_details.url.as_deref())
        .map(|s| format!("{tool} {s}"))
        .unwrap_or_else(|| tool.to_string());
    e.insert("message".into(), json!(what));
    e.insert("metadata".into(), metadata(r, r.hash.clone(), profiles));
    e.insert("actor".into(), actor(r));
    e.insert("device".into(), device(r));
    e.insert("unmapped".into(), unmapped(r, Map::new()));
    Some(Value::Object(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ActionDetails, Security, ToolContext};

    fn post(tool: &str, details: ActionDetails) -> JournalRecord {
        JournalRecord {
            seq: 7,
            hash: "ab".repeat(32),
            time_unix_nano: 1_800_000_000_123_456_789,
            hook_event: "PostToolUse".into(),
            tool_name: Some(tool.into()),
            session_id: Some("s1".into()),
            action_details: details,
            tool_context: Some(ToolContext {
                tool_use_id: Some("toolu_1".into()),
                duration_ms: Some(40),
                success: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn tools_map_to_their_classes_and_type_uid_follows_the_rule() {
        let read = ActionDetails { file_path: Some("/p/a.txt".into()), ..Default::default() };
        let bash = ActionDetails { command: Some("ls -la".into()), ..Default::default() };
        for (tool, d, class, act) in [
            ("Read", read.clone(), 1001, 2),
            ("Edit", read, 1001, 3),
            ("Bash", bash, 1007, 1),
            ("WebFetch", ActionDetails::default(), 6003, 2),
            ("mcp__s__t", ActionDetails::default(), 6003, 99),
        ] {
            let ev = activity(&post(tool, d)).unwrap();
            assert_eq!(ev["class_uid"], class, "{tool}");
            assert_eq!(ev["activity_id"], act, "{tool}");
            assert_eq!(ev["type_uid"], class as u64 * 100 + act as u64, "{tool}");
            assert_eq!(ev["time"], 1_800_000_000_123u64);
        }
    }

    #[test]
    fn a_finding_keeps_rule_category_and_severity() {
        let mut r = post("Bash", ActionDetails { command: Some("chmod 777 x".into()), ..Default::default() });
        r.security = Security {
            findings: vec![Finding {
                rule: "risky_command.chmod_world_writable".into(),
                category: "risky_command".into(),
                severity: Severity::Medium,
                action: String::new(),
                matched: "chmod 777".into(),
                description: String::new(),
            }],
            risk: Some(Severity::Medium),
            ..Default::default()
        };
        let evs = events(&r);
        assert_eq!(evs.len(), 2);
        let f = &evs[0];
        assert_eq!(f["type_uid"], 200401);
        assert_eq!(f["severity_id"], 3);
        assert_eq!(f["finding_info"]["title"], "risky_command.chmod_world_writable");
        assert_eq!(f["finding_info"]["types"], json!(["risky_command"]));
        assert_eq!(evs[1]["severity_id"], 3, "the activity carries the record's risk");
    }

    #[test]
    fn a_plain_pre_tool_use_is_no_activity_but_a_denied_one_is() {
        let mut r = post("Bash", ActionDetails { command: Some("rm -rf /".into()), ..Default::default() });
        r.hook_event = "PreToolUse".into();
        assert!(activity(&r).is_none());
        r.security.decision = Some("deny".into());
        let ev = activity(&r).unwrap();
        assert_eq!(ev["status_id"], 2);
        assert_eq!(ev["action_id"], 2);
    }
}
