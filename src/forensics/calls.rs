//! Model calls from the journal's `model_call` records, for `tree` and `report` on a data dir
//! without the transcripts (a copy): the relay appends one record per model request it read
//! (tokens, estimated cost, the `chat` span's trace and span id, the turn or agent), so the
//! `chat` spans it exported can be drawn again from the journal alone.
//!
//! Each call the transcripts did not give (its span id is not in the tree already) becomes a
//! `chat {model}` span with the relay's attributes, under its subagent's run, else its turn,
//! else its session run — where the relay put it — and its tokens and cost are added to that
//! parent's totals and to the session run's, as the relay does (`assemble::calls`): the totals
//! then are the calls' sums (`agent_telemetry.usage.source = transcript`), not the hooks'
//! readings (which miss each turn's last message).

use crate::assemble::attrs;
use crate::assemble::tree::TreeSpan;
use crate::ids::{SpanId, SpanRole};
use crate::record::{JournalRecord, ModelCallInfo};
use std::collections::{BTreeMap, HashMap};

/// The session run span's name.
const SESSION_SPAN: &str = "invoke_agent claude-code";

/// Adds the `chat` spans of `records`' model calls that `spans` lacks, and their totals.
/// Returns how many were added.
pub(crate) fn add_recorded(spans: &mut Vec<TreeSpan>, records: &[JournalRecord]) -> usize {
    let mut at: HashMap<String, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id.clone(), i)).collect();
    let mut added = 0;
    for r in records {
        let (Some(m), Some(sid)) = (r.model_call.as_ref(), r.session_id.as_deref()) else { continue };
        if r.hook_event != "ModelCall" {
            continue;
        }
        let span_id = if m.span_id.is_empty() {
            SpanId::of(SpanRole::Chat, &m.request_id).to_string()
        } else {
            m.span_id.clone()
        };
        if at.contains_key(&span_id) {
            // The transcripts were readable: the assembly made this call's span already.
            continue;
        }
        let agent = r.agent_context.agent_id.as_deref();
        let prompt = r.session_context.prompt_id.as_deref();
        let start = m.start_unix_nano.min(m.end_unix_nano);
        let by_time = session_run(spans, sid, start);
        let parent = match (agent, prompt) {
            (Some(a), _) => Some(agent_run(spans, &at, a, start)),
            (None, Some(p)) => Some(SpanId::of(SpanRole::Turn, p).to_string()),
            (None, None) => by_time.map(|i| spans[i].span_id.clone()),
        };
        // The session run the parent is in (the one current when the relay read the call);
        // by time only when the parent is not in the tree.
        let run = parent.as_deref().and_then(|p| run_above(spans, &at, p, sid)).or(by_time);
        let trace_id = match (m.trace_id.is_empty(), run) {
            (false, _) => m.trace_id.clone(),
            (true, Some(i)) => spans[i].trace_id.clone(),
            (true, None) => String::new(),
        };
        let mut span = TreeSpan {
            trace_id,
            span_id: span_id.clone(),
            parent: parent.clone(),
            name: format!("chat {}", m.model),
            start,
            end: m.end_unix_nano,
            error: None,
            attrs: call_attrs(sid, agent, prompt, m),
        };
        accumulate(&mut span.attrs, m);
        // The parent's totals (a subagent's or a turn's), then the session run's.
        if let Some(i) = parent.as_deref().and_then(|p| at.get(p)).copied() {
            if Some(i) != run {
                accumulate(&mut spans[i].attrs, m);
            }
        }
        if let Some(i) = run {
            accumulate(&mut spans[i].attrs, m);
        }
        at.insert(span_id, spans.len());
        spans.push(span);
        added += 1;
    }
    added
}

/// The run of session `sid` a call at `t` belongs to: the last one started by then (else the
/// first).
fn session_run(spans: &[TreeSpan], sid: &str, t: u64) -> Option<usize> {
    let runs: Vec<usize> = (0..spans.len())
        .filter(|&i| {
            spans[i].name == SESSION_SPAN && spans[i].attrs.get(attrs::GEN_AI_CONVERSATION).is_some_and(|c| c == sid)
        })
        .collect();
    runs.iter()
        .copied()
        .filter(|&i| spans[i].start <= t)
        .max_by_key(|&i| spans[i].start)
        .or_else(|| runs.iter().copied().min_by_key(|&i| spans[i].start))
}

/// The session run span of `sid` at or above span `id`.
fn run_above(spans: &[TreeSpan], at: &HashMap<String, usize>, id: &str, sid: &str) -> Option<usize> {
    let mut i = *at.get(id)?;
    for _ in 0..spans.len() {
        let s = &spans[i];
        if s.name == SESSION_SPAN && s.attrs.get(attrs::GEN_AI_CONVERSATION).is_some_and(|c| c == sid) {
            return Some(i);
        }
        i = *at.get(s.parent.as_deref()?)?;
    }
    None
}

/// The span id of agent `a`'s run a call at `t` belongs to: the last run started by then (the
/// first run's when none is in the tree). Times compare the transcript's clock with the hooks':
/// the same machine's clock when recorded (a replay with shifted hook times puts a revived
/// agent's calls under its first run).
fn agent_run(spans: &[TreeSpan], at: &HashMap<String, usize>, a: &str, t: u64) -> String {
    let mut best: Option<(u64, String)> = None;
    let mut first = None;
    for n in 0u32.. {
        let id = SpanId::of(SpanRole::Subagent, &crate::assemble::agent_run_key(a, n)).to_string();
        let Some(&i) = at.get(&id) else { break };
        first.get_or_insert_with(|| id.clone());
        if spans[i].start <= t && best.as_ref().is_none_or(|(s, _)| spans[i].start >= *s) {
            best = Some((spans[i].start, id));
        }
    }
    best.map(|(_, id)| id).or(first).unwrap_or_else(|| SpanId::of(SpanRole::Subagent, a).to_string())
}

/// A `chat` span's own attributes, as `Assembler::process_model_call` sets them.
fn call_attrs(sid: &str, agent: Option<&str>, prompt: Option<&str>, m: &ModelCallInfo) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.to_string(), v.to_string());
        }
    };
    put(attrs::GEN_AI_CONVERSATION, Some(sid));
    put(attrs::GEN_AI_OPERATION, Some("chat"));
    put(attrs::GEN_AI_PROVIDER, Some("anthropic"));
    put(attrs::GEN_AI_REQUEST_MODEL, Some(&m.model));
    put(attrs::GEN_AI_RESPONSE_MODEL, m.response_model.as_deref());
    put(attrs::GEN_AI_RESPONSE_ID, m.message_id.as_deref());
    put(attrs::REQUEST_ID, Some(&m.request_id));
    put(attrs::GEN_AI_FINISH_REASONS, m.stop_reason.as_deref());
    put(attrs::PROMPT_ID, prompt);
    put(attrs::SUBAGENT_ID, agent);
    a
}

/// Adds one call to a span's totals, as `assemble::calls::accumulate` does: the first call
/// replaces the hooks' token readings; cost is the recorded estimate (unpriced calls counted).
fn accumulate(a: &mut BTreeMap<String, String>, m: &ModelCallInfo) {
    let from_calls = a.get(attrs::USAGE_SOURCE).is_some_and(|v| v == "transcript");
    let [cache_read, cache_write] =
        attrs::cache_token_keys(a.get(attrs::GEN_AI_OPERATION).is_some_and(|o| o == "chat"));
    if !from_calls {
        for k in [
            attrs::GEN_AI_INPUT_TOKENS,
            attrs::GEN_AI_OUTPUT_TOKENS,
            cache_read,
            cache_write,
            "agent_telemetry.usage.messages",
        ] {
            a.remove(k);
        }
        a.insert(attrs::USAGE_SOURCE.into(), "transcript".into());
    }
    let mut add = |k: &str, n: u64| {
        let old = a.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        a.insert(k.to_string(), (old + n as i64).to_string());
    };
    add(attrs::GEN_AI_INPUT_TOKENS, m.input_tokens);
    add(attrs::GEN_AI_OUTPUT_TOKENS, m.output_tokens);
    add(cache_read, m.cache_read_input_tokens);
    add(cache_write, m.cache_creation_input_tokens);
    add(attrs::USAGE_REQUESTS, 1);
    if m.cost_usd.is_none() {
        add(attrs::COST_UNPRICED_REQUESTS, 1);
    }
    let old = a.get(attrs::COST_USD).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    a.insert(attrs::COST_USD.into(), (old + m.cost_usd.unwrap_or(0.0)).to_string());
    a.insert(attrs::COST_PRICE_TABLE.into(), m.price_table.clone());
}
