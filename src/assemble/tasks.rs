//! Tasks of a team (CLI 2.1.332: `TaskCreated` fires between TaskCreate's Pre and Post,
//! `TaskCompleted` on a TaskUpdate to `completed`): the tool call that created a task and the one
//! that completed it carry the task's id and subject and a span event each, and the completing
//! call links to the creating one — the hand-off from one agent (or turn) to another.

use super::model::{self, AttrValue, SpanEventItem, SpanItem, SpanLinkItem, SpanRole};
use super::{attrs, Assembler};
use crate::event::HookEvent;
use crate::ids::SpanId;
use crate::record::JournalRecord;
use serde::{Deserialize, Serialize};

/// What is remembered of a created task until it completes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TaskInfo {
    pub subject: Option<String>,
    /// The span of the call that created it, and the agent that made it (none: the main agent).
    pub created_by: Option<SpanId>,
    pub creator_agent: Option<String>,
}

impl Assembler {
    /// A TaskCreated or TaskCompleted record; returns the span it belongs to (the TaskCreate or
    /// TaskUpdate call in progress, if any).
    pub(super) fn process_task(&mut self, sid: &str, r: &JournalRecord) -> Option<SpanId> {
        let ev = r.event();
        let task_id = r.raw_input.get("task_id").and_then(|v| v.as_str())?.to_string();
        let subject = r.raw_input.get("task_subject").and_then(|v| v.as_str()).map(str::to_string);
        let agent = r.agent_context.agent_id.clone();
        let tool = if ev == HookEvent::TaskCreated { "execute_tool TaskCreate" } else { "execute_tool TaskUpdate" };
        let trace_id = self.sessions.get(sid)?.trace_id;
        let call = self
            .open
            .values_mut()
            .filter(|s| s.role == SpanRole::Tool && s.name == tool && s.resource.session_id == sid)
            .filter(|s| {
                agent.as_deref().is_none_or(|a| {
                    s.attrs.iter().any(|(k, v)| k == attrs::SUBAGENT_ID && *v == AttrValue::Str(a.to_string()))
                })
            })
            .max_by_key(|s| s.start);
        let session = self.sessions.get_mut(sid)?;
        match ev {
            HookEvent::TaskCreated => {
                let span_id = call.as_ref().map(|s| s.span_id);
                if let Some(span) = call {
                    mark(span, "task.created", r.time_unix_nano, &task_id, subject.as_deref());
                }
                session.tasks.insert(task_id, TaskInfo { subject, created_by: span_id, creator_agent: agent });
                span_id
            }
            _ => {
                let created = session.tasks.remove(&task_id);
                let span = call?;
                let subject = subject.or(created.as_ref().and_then(|c| c.subject.clone()));
                mark(span, "task.completed", r.time_unix_nano, &task_id, subject.as_deref());
                if let Some(c) = created {
                    model::push_str(
                        &mut span.attrs,
                        attrs::TASK_CREATED_BY_AGENT,
                        Some(c.creator_agent.as_deref().unwrap_or("main")),
                    );
                    if let Some(from) = c.created_by {
                        span.links.push(SpanLinkItem {
                            trace_id,
                            span_id: from,
                            attrs: vec![
                                (attrs::TASK_ID.to_string(), AttrValue::Str(task_id.clone())),
                                ("agent_telemetry.link".to_string(), AttrValue::Str("task.created".into())),
                            ],
                        });
                    }
                }
                Some(span.span_id)
            }
        }
    }
}

fn mark(span: &mut SpanItem, event: &str, t: u64, task_id: &str, subject: Option<&str>) {
    model::push_str(&mut span.attrs, attrs::TASK_ID, Some(task_id));
    model::push_str(&mut span.attrs, attrs::TASK_SUBJECT, subject);
    let mut a = vec![(attrs::TASK_ID.to_string(), AttrValue::Str(task_id.to_string()))];
    model::push_str(&mut a, attrs::TASK_SUBJECT, subject);
    span.events.push(SpanEventItem { name: event.to_string(), time: t, attrs: a });
}
