//! Model calls as spans: each request read from a transcript becomes a finished
//! `chat {model}` span (CLIENT kind, GenAI conventions) under its turn — or under its subagent —
//! and its tokens and estimated cost are added to the spans that total them: the turn or
//! subagent, and the session run (whose totals are then the whole session's, subagents
//! included).
//!
//! The relay may read a transcript ahead of the journal (a backlog, a replay): a call whose turn
//! has not begun yet is emitted at once (its parent's id is known) and its tally waits in the
//! session until the turn's span opens.

use super::model::{self, AttrValue, Attrs, Output, SpanItem, SpanRole};
use super::{attrs, key, Assembler};
use crate::cost::PriceTable;
use crate::event::HookEvent;
use crate::ids::{SpanId, TraceId};
use crate::record::{JournalRecord, ModelCallInfo};
use crate::transcript::{ModelCall, Usage};
use serde::{Deserialize, Serialize};

/// The `model_call` journal record of one call: what identifies the session and the call; the
/// relay fills in the rest (project, host, agent identity) from the record that read it.
fn call_record(
    sid: &str,
    agent_id: Option<&str>,
    call: &ModelCall,
    model_name: &str,
    t: &Tally,
    trace_id: TraceId,
    span_id: SpanId,
) -> JournalRecord {
    let mut r = JournalRecord {
        timestamp: crate::timefmt::rfc3339_nanos(call.end),
        time_unix_nano: call.end,
        event_type: HookEvent::ModelCall.base_event_type().into(),
        hook_event: HookEvent::ModelCall.as_str().into(),
        session_id: Some(sid.to_string()),
        telemetry_enabled: true,
        model_call: Some(ModelCallInfo {
            request_id: call.request_id.clone(),
            message_id: call.message_id.clone(),
            model: model_name.to_string(),
            response_model: call.response_model.clone(),
            stop_reason: call.stop_reason.clone(),
            start_unix_nano: call.start.min(call.end),
            end_unix_nano: call.end,
            input_tokens: t.usage.input_tokens,
            output_tokens: t.usage.output_tokens,
            cache_read_input_tokens: t.usage.cache_read_input_tokens,
            cache_creation_input_tokens: t.usage.cache_creation_input_tokens,
            cost_usd: (t.unpriced == 0).then_some(t.cost_usd),
            price_table: t.price_table.clone(),
            trace_id: trace_id.to_string(),
            span_id: span_id.to_string(),
            source: "transcript".into(),
        }),
        ..JournalRecord::default()
    };
    r.agent_context.agent_id = agent_id.map(str::to_string);
    r.session_context.prompt_id = call.prompt_id.clone();
    r
}

/// A `model_call` record's log attributes: the request's, as on its `chat` span.
pub(super) fn call_log_attrs(a: &mut Attrs, m: &ModelCallInfo) {
    model::push_str(a, attrs::GEN_AI_OPERATION, Some("chat"));
    model::push_str(a, attrs::GEN_AI_PROVIDER, Some("anthropic"));
    model::push_str(a, attrs::GEN_AI_REQUEST_MODEL, Some(&m.model));
    model::push_str(a, attrs::GEN_AI_RESPONSE_MODEL, m.response_model.as_deref());
    model::push_str(a, attrs::GEN_AI_RESPONSE_ID, m.message_id.as_deref());
    model::push_str(a, attrs::REQUEST_ID, Some(&m.request_id));
    let n = |v: u64| AttrValue::Int(v as i64);
    model::set(a, attrs::GEN_AI_INPUT_TOKENS, n(m.input_tokens));
    model::set(a, attrs::GEN_AI_OUTPUT_TOKENS, n(m.output_tokens));
    model::set(a, attrs::GEN_AI_CACHE_READ_TOKENS, n(m.cache_read_input_tokens));
    model::set(a, attrs::GEN_AI_CACHE_WRITE_TOKENS, n(m.cache_creation_input_tokens));
    match m.cost_usd {
        Some(c) => model::set(a, attrs::COST_USD, AttrValue::Float(c)),
        None => model::set(a, attrs::COST_UNPRICED_REQUESTS, n(1)),
    }
    model::push_str(a, attrs::COST_PRICE_TABLE, Some(&m.price_table));
}

/// Tokens, requests and cost summed over model calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Tally {
    pub usage: Usage,
    pub requests: u64,
    pub cost_usd: f64,
    /// Requests whose model the price table does not know (not in `cost_usd`).
    pub unpriced: u64,
    pub price_table: String,
}

impl Tally {
    fn of(call: &ModelCall, cost: Option<f64>, prices: &PriceTable) -> Tally {
        Tally {
            usage: call.usage,
            requests: 1,
            cost_usd: cost.unwrap_or(0.0),
            unpriced: u64::from(cost.is_none()),
            price_table: prices.version.clone(),
        }
    }

    fn add(&mut self, o: &Tally) {
        self.usage.add(&o.usage);
        self.requests += o.requests;
        self.cost_usd += o.cost_usd;
        self.unpriced += o.unpriced;
        self.price_table.clone_from(&o.price_table);
    }
}

impl Assembler {
    /// One model request of session `sid` (of subagent `agent_id`, if given).
    pub(crate) fn process_model_call(
        &mut self,
        sid: &str,
        agent_id: Option<&str>,
        call: &ModelCall,
        prices: &PriceTable,
        out: &mut Output,
    ) {
        let Some(session) = self.sessions.get(sid) else { return };
        let (trace_id, resource) = (session.trace_id, session.resource.clone().unwrap_or_default());
        let run = session.run_key.clone();
        let model_name = call.requested_model.as_deref().or(call.response_model.as_deref()).unwrap_or("unknown");
        // Priced by the model asked for, as Claude Code's own cost accounting does (the answer
        // may name a dated variant of it).
        let tally = Tally::of(call, prices.cost(model_name, &call.usage), prices);

        let agent_run = agent_id.map(|a| super::agent_run_key(a, call.agent_run));
        let parent = match (agent_run.as_deref(), call.prompt_id.as_deref(), &run) {
            (Some(a), _, _) => Some(SpanId::of(SpanRole::Subagent, a)),
            (None, Some(p), _) => Some(SpanId::of(SpanRole::Turn, p)),
            (None, None, Some(r)) => Some(SpanId::of(SpanRole::Session, r)),
            _ => None,
        };
        match (agent_id, agent_run.as_deref(), call.prompt_id.as_deref()) {
            (Some(a), Some(ar), _) if self.agent_runs.get(a).is_none_or(|n| *n < call.agent_run) => {
                // A run of the agent that has not begun (read ahead): its span takes it later.
                if let Some(s) = self.sessions.get_mut(sid) {
                    s.pending_calls.entry(key(SpanRole::Subagent, ar)).or_default().add(&tally);
                }
            }
            (Some(_), Some(ar), _) => {
                let span = match self.open.get_mut(&key(SpanRole::Subagent, ar)) {
                    Some(s) => Some(s),
                    None => self.waiting_for_parent.get_mut(ar),
                };
                if let Some(span) = span {
                    accumulate(span, &tally);
                    span.end = span.end.max(call.end);
                }
                self.add_to_run(sid, &tally);
            }
            (None, _, Some(p)) if !self.turn_known(sid, p) => {
                // Read ahead of the journal: the turn's span opens later and takes it then.
                if let Some(s) = self.sessions.get_mut(sid) {
                    s.pending_calls.entry(key(SpanRole::Turn, p)).or_default().add(&tally);
                }
            }
            (None, _, Some(p)) => {
                if let Some(span) = self.open.get_mut(&key(SpanRole::Turn, p)) {
                    accumulate(span, &tally);
                    span.end = span.end.max(call.end);
                }
                self.add_to_run(sid, &tally);
            }
            _ => self.add_to_run(sid, &tally),
        }

        let mut a: Attrs = vec![(attrs::GEN_AI_CONVERSATION.to_string(), AttrValue::Str(sid.to_string()))];
        model::push_str(&mut a, attrs::GEN_AI_OPERATION, Some("chat"));
        model::push_str(&mut a, attrs::GEN_AI_PROVIDER, Some("anthropic"));
        model::push_str(&mut a, attrs::GEN_AI_REQUEST_MODEL, Some(model_name));
        model::push_str(&mut a, attrs::GEN_AI_RESPONSE_MODEL, call.response_model.as_deref());
        model::push_str(&mut a, attrs::GEN_AI_RESPONSE_ID, call.message_id.as_deref());
        model::push_str(&mut a, attrs::REQUEST_ID, Some(&call.request_id));
        if let Some(r) = &call.stop_reason {
            model::set(&mut a, attrs::GEN_AI_FINISH_REASONS, AttrValue::StrArray(vec![r.clone()]));
        }
        model::push_str(&mut a, attrs::PROMPT_ID, call.prompt_id.as_deref());
        model::push_str(&mut a, attrs::SUBAGENT_ID, agent_id);
        let mut span = SpanItem {
            role: SpanRole::Chat,
            name: format!("chat {model_name}"),
            trace_id,
            span_id: SpanId::of(SpanRole::Chat, &call.request_id),
            parent_span_id: parent,
            parent_remote: false,
            start: call.start.min(call.end),
            end: call.end,
            attrs: a,
            events: Vec::new(),
            error: None,
            links: Vec::new(),
            resource,
            last_activity: call.end,
        };
        accumulate(&mut span, &tally);
        out.calls.push(call_record(sid, agent_id, call, model_name, &tally, trace_id, span.span_id));
        out.spans.push(span);
    }

    /// The transcript behind a span was read: its totals are the calls' (zero if it had none),
    /// never the hook's reading — which for a session covers every earlier run too. `prompt`
    /// names a turn, `agent` a subagent, neither the session run.
    pub(crate) fn totals_read(&mut self, sid: &str, prompt: Option<&str>, agent: Option<&str>) {
        let k = match (agent, prompt) {
            (Some(a), _) => {
                key(SpanRole::Subagent, &super::agent_run_key(a, self.agent_runs.get(a).copied().unwrap_or(0)))
            }
            (None, Some(p)) => key(SpanRole::Turn, p),
            (None, None) => match self.sessions.get(sid).and_then(|s| s.run_key.clone()) {
                Some(r) => key(SpanRole::Session, &r),
                None => return,
            },
        };
        if let Some(span) = self.open.get_mut(&k) {
            if !totals_from_transcript(span) {
                accumulate(span, &Tally::default());
                span.attrs.retain(|(k, _)| k != attrs::COST_PRICE_TABLE);
            }
        }
    }

    /// A turn's span opened: it takes the calls read for it before.
    pub(super) fn turn_opened(&mut self, sid: &str, prompt: &str) {
        let k = key(SpanRole::Turn, prompt);
        let Some(t) = self.sessions.get_mut(sid).and_then(|s| s.pending_calls.remove(&k)) else { return };
        if let Some(span) = self.open.get_mut(&k) {
            accumulate(span, &t);
        }
        self.add_to_run(sid, &t);
    }

    /// A subagent run's span opened: it takes the calls read for it before.
    pub(super) fn subagent_opened(&mut self, sid: &str, run: &str) {
        let k = key(SpanRole::Subagent, run);
        let Some(t) = self.sessions.get_mut(sid).and_then(|s| s.pending_calls.remove(&k)) else { return };
        if let Some(span) = self.open.get_mut(&k) {
            accumulate(span, &t);
        }
        self.add_to_run(sid, &t);
    }

    fn turn_known(&self, sid: &str, prompt: &str) -> bool {
        self.open.contains_key(&key(SpanRole::Turn, prompt))
            || self.sessions.get(sid).is_some_and(|s| s.closed_turns.contains(prompt))
    }

    /// The session run's totals (the whole session's: main agent and subagents).
    fn add_to_run(&mut self, sid: &str, t: &Tally) {
        let Some(run) = self.sessions.get(sid).and_then(|s| s.run_key.clone()) else { return };
        if let Some(span) = self.open.get_mut(&key(SpanRole::Session, &run)) {
            accumulate(span, t);
        }
    }
}

/// Whether `span`'s totals are sums of model calls (so the hook's reading must not replace them).
pub(super) fn totals_from_transcript(span: &SpanItem) -> bool {
    span.attrs.iter().any(|(k, v)| k == attrs::USAGE_SOURCE && *v == AttrValue::Str("transcript".into()))
}

/// Adds a tally to a span's totals.
fn accumulate(span: &mut SpanItem, t: &Tally) {
    let [cache_read, cache_write] = attrs::cache_token_keys(span.role == SpanRole::Chat);
    if !totals_from_transcript(span) {
        // The first call: totals start from zero, whatever the hook read before.
        let hooks = [
            attrs::GEN_AI_INPUT_TOKENS,
            attrs::GEN_AI_OUTPUT_TOKENS,
            cache_read,
            cache_write,
            "agent_telemetry.usage.messages",
        ];
        span.attrs.retain(|(k, _)| !hooks.contains(&k.as_str()));
        model::set(&mut span.attrs, attrs::USAGE_SOURCE, AttrValue::Str("transcript".into()));
    }
    let a = &mut span.attrs;
    let add = |a: &mut Attrs, k: &str, n: u64| {
        let old = a
            .iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| if let AttrValue::Int(i) = v { Some(*i) } else { None })
            .unwrap_or(0);
        model::set(a, k, AttrValue::Int(old + n as i64));
    };
    add(a, attrs::GEN_AI_INPUT_TOKENS, t.usage.input_tokens);
    add(a, attrs::GEN_AI_OUTPUT_TOKENS, t.usage.output_tokens);
    add(a, cache_read, t.usage.cache_read_input_tokens);
    add(a, cache_write, t.usage.cache_creation_input_tokens);
    add(a, attrs::USAGE_REQUESTS, t.requests);
    if t.unpriced > 0 {
        add(a, attrs::COST_UNPRICED_REQUESTS, t.unpriced);
    }
    let old = a
        .iter()
        .find(|(key, _)| key == attrs::COST_USD)
        .and_then(|(_, v)| if let AttrValue::Float(f) = v { Some(*f) } else { None })
        .unwrap_or(0.0);
    model::set(a, attrs::COST_USD, AttrValue::Float(old + t.cost_usd));
    model::set(a, attrs::COST_PRICE_TABLE, AttrValue::Str(t.price_table.clone()));
}
