//! Compaction (`/compact`, auto-compaction) as an event within a run, not a new run
//! (observed with CLI 2.1.332: PreCompact → the summariser's forks, each a SubagentStop with an
//! empty `agent_type` and no SubagentStart → SessionStart(source `compact`) → PostCompact):
//! a `compact` span under the run from PreCompact to PostCompact, with the trigger and the context
//! tokens before and after (from the transcript's `compact_boundary`), the forks as its children
//! (`invoke_agent compaction-summarizer`), and no turn for the `/compact` prompt.

use super::model::{self, AttrValue, Attrs, Output, ResourceKey, SpanItem, SpanRole};
use super::{attrs, key, Assembler};
use crate::event::HookEvent;
use crate::ids::SpanId;
use crate::record::JournalRecord;
use crate::transcript::CompactInfo;

/// The fork's span name (Claude Code gives it no agent type).
pub(crate) const SUMMARIZER: &str = "invoke_agent compaction-summarizer";

impl Assembler {
    /// Whether `r` is part of a compaction (and so opens no turn and no run).
    pub(super) fn is_compaction(&self, sid: &str, r: &JournalRecord) -> bool {
        match r.event() {
            HookEvent::PreCompact | HookEvent::PostCompact => true,
            HookEvent::SessionStart => {
                r.session_context.source.as_deref() == Some("compact") && self.compacting(sid).is_some()
            }
            HookEvent::SubagentStop | HookEvent::SubagentStart => {
                self.compacting(sid).is_some() && r.agent_context.agent_type.as_deref().unwrap_or("").is_empty()
            }
            _ => false,
        }
    }

    fn compacting(&self, sid: &str) -> Option<String> {
        self.sessions.get(sid)?.compaction.clone()
    }

    /// Handles a compaction record; returns the span its log record belongs to.
    pub(super) fn process_compaction(
        &mut self,
        sid: &str,
        r: &JournalRecord,
        run: SpanId,
        resource: &ResourceKey,
        out: &mut Output,
    ) -> SpanId {
        let t = r.time_unix_nano;
        let trigger = r.raw_input.get("trigger").and_then(|v| v.as_str()).map(str::to_string);
        match r.event() {
            HookEvent::PreCompact => {
                let natural = format!("{sid}#{}", r.seq);
                let mut a: Attrs = vec![(attrs::GEN_AI_CONVERSATION.to_string(), AttrValue::Str(sid.to_string()))];
                model::push_str(&mut a, attrs::COMPACT_TRIGGER, trigger.as_deref());
                self.open_span(SpanRole::Compact, &natural, "compact".into(), sid, Some(run), t, resource, a, false);
                if let Some(s) = self.sessions.get_mut(sid) {
                    s.compaction = Some(natural.clone());
                }
                SpanId::of(SpanRole::Compact, &natural)
            }
            _ => {
                let Some(natural) = self.compacting(sid) else { return run };
                let compact = SpanId::of(SpanRole::Compact, &natural);
                let k = key(SpanRole::Compact, &natural);
                match r.event() {
                    HookEvent::SubagentStop => {
                        // A summariser fork: it ran within the compaction, up to its stop.
                        let a = r.agent_context.agent_id.clone().unwrap_or_default();
                        let start = self.open.get(&k).map(|s| s.start).unwrap_or(t);
                        let mut attrs_: Attrs =
                            vec![(attrs::GEN_AI_CONVERSATION.to_string(), AttrValue::Str(sid.to_string()))];
                        model::push_str(&mut attrs_, attrs::GEN_AI_OPERATION, Some("invoke_agent"));
                        model::push_str(&mut attrs_, attrs::GEN_AI_AGENT_NAME, Some("compaction-summarizer"));
                        model::push_str(&mut attrs_, attrs::SUBAGENT_ID, Some(&a));
                        let span = SpanItem {
                            role: SpanRole::Subagent,
                            name: SUMMARIZER.into(),
                            trace_id: self.sessions.get(sid).map(|s| s.trace_id).unwrap_or_default(),
                            span_id: SpanId::of(SpanRole::Subagent, &a),
                            parent_span_id: Some(compact),
                            parent_remote: false,
                            start: start.min(t),
                            end: t,
                            attrs: attrs_,
                            events: Vec::new(),
                            error: None,
                            links: Vec::new(),
                            resource: resource.clone(),
                            last_activity: t,
                        };
                        let id = span.span_id;
                        out.spans.push(span);
                        id
                    }
                    HookEvent::SessionStart => {
                        if let Some(span) = self.open.get_mut(&k) {
                            span.events.push(model::SpanEventItem {
                                name: "session_start.compact".into(),
                                time: t,
                                attrs: Vec::new(),
                            });
                        }
                        compact
                    }
                    HookEvent::PostCompact => {
                        if let Some(mut span) = self.open.remove(&k) {
                            span.end = t.max(span.start);
                            model::push_str(&mut span.attrs, attrs::COMPACT_TRIGGER, trigger.as_deref());
                            out.spans.push(span);
                        }
                        if let Some(s) = self.sessions.get_mut(sid) {
                            s.compaction = None;
                        }
                        compact
                    }
                    _ => compact,
                }
            }
        }
    }

    /// The transcript's account of a compaction (tokens before and after, its duration), for
    /// the compaction span still open in `sid`.
    pub(crate) fn process_compact_info(&mut self, sid: &str, info: &CompactInfo) {
        let Some(natural) = self.compacting(sid) else { return };
        if let Some(span) = self.open.get_mut(&key(SpanRole::Compact, &natural)) {
            let a = &mut span.attrs;
            for (k, v) in [
                (attrs::COMPACT_PRE_TOKENS, info.pre_tokens),
                (attrs::COMPACT_POST_TOKENS, info.post_tokens),
                (attrs::COMPACT_DURATION_MS, info.duration_ms),
            ] {
                if let Some(v) = v {
                    model::set(a, k, AttrValue::Int(v as i64));
                }
            }
            model::push_str(a, attrs::COMPACT_TRIGGER, info.trigger.as_deref());
        }
    }
}
