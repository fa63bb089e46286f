//! One OTel log record per journal record: the record itself (JSON) as the body, the fields people
//! filter on as attributes, and the trace and span ids of the span the event belongs to.

use super::attrs;
use super::model::{push_str, set, AttrValue, Attrs, LogItem, ResourceKey, SpanId, TraceId};
use crate::record::JournalRecord;

/// `line` is the record's journal line, used as the body when given (else the record is
/// serialised: the same JSON).
pub(crate) fn log_item(
    r: &JournalRecord,
    line: Option<&str>,
    trace_id: TraceId,
    span_id: SpanId,
    resource: ResourceKey,
) -> LogItem {
    let mut a: Attrs = Vec::with_capacity(24);
    let sid = r.session_id.as_deref().unwrap_or("unknown-session");
    push_str(&mut a, attrs::GEN_AI_CONVERSATION, Some(sid));
    push_str(&mut a, attrs::EVENT_TYPE, Some(&r.event_type));
    push_str(&mut a, attrs::HOOK_EVENT, Some(&r.hook_event));
    push_str(&mut a, attrs::LEVEL, Some(r.level.as_str()));
    set(&mut a, attrs::SEQ, AttrValue::Int(r.seq as i64));
    push_str(&mut a, attrs::HASH, Some(&r.hash));
    push_str(&mut a, attrs::PROMPT_ID, r.session_context.prompt_id.as_deref());
    push_str(&mut a, attrs::GEN_AI_TOOL_NAME, r.tool_name.as_deref());
    if let Some(tc) = &r.tool_context {
        push_str(&mut a, attrs::GEN_AI_TOOL_CALL_ID, tc.tool_use_id.as_deref());
        if let Some(ok) = tc.success {
            set(&mut a, "agent_telemetry.tool.success", AttrValue::Bool(ok));
        }
    }
    push_str(&mut a, attrs::GEN_AI_AGENT_ID, r.agent_context.agent_id.as_deref());
    push_str(&mut a, attrs::GEN_AI_AGENT_NAME, r.agent_context.agent_type.as_deref());
    push_str(&mut a, attrs::PARENT_SESSION, r.session_context.parent_session.as_deref());
    push_str(&mut a, attrs::WORKFLOW, r.session_context.workflow_id.as_deref());
    if let Some(g) = &r.gap {
        push_str(&mut a, "agent_telemetry.gap.reason", Some(&g.reason));
        push_str(&mut a, "agent_telemetry.gap.detected_by", Some(&g.detected_by));
    }
    let d = &r.action_details;
    push_str(&mut a, attrs::FILE_PATH, d.resolved_path.as_deref().or(d.file_path.as_deref()));
    push_str(&mut a, attrs::COMMAND, d.command.as_deref());
    set(&mut a, attrs::OUTSIDE_PROJECT, AttrValue::Bool(d.outside_project_scope));
    if r.security.sensitive_access {
        set(&mut a, attrs::SENSITIVE, AttrValue::Bool(true));
    }
    if !r.security.findings.is_empty() {
        set(&mut a, attrs::RULES, AttrValue::StrArray(r.security.findings.iter().map(|f| f.rule.clone()).collect()));
    }
    if let Some(risk) = r.security.risk {
        push_str(&mut a, attrs::RISK, Some(risk.as_str()));
    }
    if r.security.redactions > 0 {
        set(&mut a, attrs::REDACTIONS, AttrValue::Int(r.security.redactions as i64));
    }
    if let Some(c) = &r.command_context {
        push_str(&mut a, attrs::SLASH_COMMAND, Some(&c.slash_command));
    }
    if let Some(us) = r.metadata.hook_us {
        set(&mut a, attrs::HOOK_DURATION_US, AttrValue::Int(us as i64));
    }
    let body = match line {
        Some(l) => l.to_string(),
        None => serde_json::to_string(r).unwrap_or_default(),
    };
    LogItem {
        time: r.time_unix_nano,
        severity: r.level,
        event_name: r.event().log_name(),
        body,
        attrs: a,
        trace_id,
        span_id,
        resource,
    }
}
