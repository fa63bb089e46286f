//! The span tree that `show`, `tree` and the HTML report draw: spans as plain strings, and the
//! relay's own assembly (transcripts included) run over records in journal order, so a tree
//! shows what the relay would export — not a second assembly.

use super::model::{AttrValue, Output, SpanItem};
use super::Assembler;
use std::collections::BTreeMap;

/// A span as the tree needs it.
#[derive(Debug, Clone)]
pub(crate) struct TreeSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent: Option<String>,
    pub name: String,
    pub start: u64,
    pub end: u64,
    pub error: Option<String>,
    pub attrs: BTreeMap<String, String>,
}

fn from_item(s: &SpanItem) -> TreeSpan {
    TreeSpan {
        trace_id: s.trace_id.to_string(),
        span_id: s.span_id.to_string(),
        parent: s.parent_span_id.map(|p| p.to_string()),
        name: s.name.clone(),
        start: s.start,
        end: s.end,
        error: s.error.clone(),
        attrs: s
            .attrs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    AttrValue::Str(s) => s.clone(),
                    AttrValue::Bool(b) => b.to_string(),
                    AttrValue::Int(i) => i.to_string(),
                    AttrValue::Float(f) => f.to_string(),
                    AttrValue::StrArray(a) => a.join(","),
                };
                (k.clone(), v)
            })
            .collect(),
    }
}

/// The relay's assembly of records into spans, for a tree: records in, in journal order.
pub(crate) struct SpanAssembly {
    asm: Assembler,
    out: Output,
    tails: super::transcripts::Tails,
    prices: crate::cost::PriceTable,
}

impl Default for SpanAssembly {
    fn default() -> Self {
        SpanAssembly {
            asm: Assembler::default(),
            out: Output::default(),
            tails: Default::default(),
            prices: crate::cost::PriceTable::shipped(),
        }
    }
}

impl SpanAssembly {
    pub(crate) fn feed(&mut self, r: &crate::record::JournalRecord) {
        // The relay's reading of transcripts (model calls, totals), never waiting.
        super::transcripts::before_record(r, &mut self.tails, &mut self.asm, &self.prices, u64::MAX, &mut self.out);
        if r.event() == crate::event::HookEvent::Behaviour {
            // The relay counts these as it makes them; read from the journal, as they come.
            self.asm.count_findings(r);
        }
        self.asm.process(r, &mut self.out);
        // Log items are not shown; drop them as they come (a long session has many).
        self.out.logs.clear();
    }

    /// The finished spans and, marked open, those still running.
    pub(crate) fn finish(self) -> Vec<TreeSpan> {
        let mut spans: Vec<TreeSpan> = self.out.spans.iter().map(from_item).collect();
        for s in self.asm.unfinished() {
            let mut t = from_item(s);
            t.attrs.insert("agent_telemetry.span.open".into(), "true".into());
            spans.push(t);
        }
        spans
    }
}
