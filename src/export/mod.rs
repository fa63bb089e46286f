//! Export: hands assembled spans and log records to an OTLP destination — the collector over
//! gRPC (tonic) or HTTP/protobuf, sent with the generated OTLP clients and classified by the
//! transport's status — or OTLP JSON files when no endpoint is configured. The relay calls [`Exporter::export`] itself and looks at the result: the SDK's
//! batch processors would swallow errors, and the checkpoint may only move on success.

mod convert;
mod error;
mod file;
pub(crate) mod otlp;

use crate::assemble::model::{Output, ResourceKey};
pub(crate) use crate::config::{Destination, ExportConfig};
use convert::LogFactory;
pub(crate) use error::ExportError;
use std::collections::BTreeMap;

pub(crate) struct Exporter {
    inner: Inner,
    logs: LogFactory,
    /// The settings, to mask credentials in error texts (a transport error may quote the URL).
    scrub: ExportConfig,
    /// Time spent converting our items to the SDK's data, not yet taken by [`Exporter::take_convert_time`].
    convert_time: std::time::Duration,
}

enum Inner {
    File(file::FileExporter),
    Otlp(Box<otlp::OtlpExporters>),
}

impl Exporter {
    /// Must be called inside a tokio runtime (the tonic channel needs one).
    pub(crate) fn new(cfg: &ExportConfig) -> Result<Exporter, ExportError> {
        // The token of `export.token_file` as a header: sent, and masked by `scrub` like any other.
        let cfg = &match &cfg.destination {
            Destination::File(_) => cfg.clone(),
            Destination::Otlp { .. } => cfg.with_token().map_err(|e| ExportError::Setup(e.to_string()))?,
        };
        let inner = match &cfg.destination {
            Destination::File(dir) => Inner::File(file::FileExporter::new(dir.clone())),
            Destination::Otlp { .. } => {
                Inner::Otlp(Box::new(otlp::OtlpExporters::new(cfg).map_err(|e| e.map_text(|t| cfg.scrub(t)))?))
            }
        };
        Ok(Exporter { inner, logs: LogFactory::default(), scrub: cfg.clone(), convert_time: Default::default() })
    }

    /// Exports everything in `out`, grouped by resource. `Err` means nothing may be assumed
    /// delivered (some groups may have been: at-least-once, made harmless by deterministic ids).
    /// Converting time since the last call (the relay's stage timings).
    pub(crate) fn take_convert_time(&mut self) -> std::time::Duration {
        std::mem::take(&mut self.convert_time)
    }

    pub(crate) async fn export(&mut self, out: &Output) -> Result<(), ExportError> {
        let t = std::time::Instant::now();
        let mut groups: BTreeMap<&ResourceKey, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (i, s) in out.spans.iter().enumerate() {
            groups.entry(&s.resource).or_default().0.push(i);
        }
        for (i, l) in out.logs.iter().enumerate() {
            groups.entry(&l.resource).or_default().1.push(i);
        }
        let mut batches = Vec::new();
        for (key, (spans, logs)) in groups {
            // Cut each resource's data into requests well under the 4 MiB a gRPC server takes by
            // default: a too-large request is refused every time, and would stall the relay.
            let span_chunks = chunks(&spans, |i| span_size(&out.spans[i]));
            let log_chunks = chunks(&logs, |i| log_size(&out.logs[i]));
            for n in 0..span_chunks.len().max(log_chunks.len()) {
                batches.push(file::ResourceBatch {
                    resource: convert::resource(key),
                    spans: span_chunks
                        .get(n)
                        .into_iter()
                        .flatten()
                        .map(|&i| convert::span_data(&out.spans[i]))
                        .collect(),
                    logs: log_chunks.get(n).into_iter().flatten().map(|&i| self.logs.record(&out.logs[i])).collect(),
                });
            }
        }
        self.convert_time += t.elapsed();
        let result = match &mut self.inner {
            Inner::File(f) => f.export(batches),
            Inner::Otlp(o) => o.export(batches).await,
        };
        result.map_err(|e| e.map_text(|t| self.scrub.scrub(t)))
    }
}

/// Requests are cut at this estimated size (a gRPC server's default limit is 4 MiB).
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

fn chunks(items: &[usize], size: impl Fn(usize) -> usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current = 0usize;
    for &i in items {
        let s = size(i);
        if out.is_empty() || (current + s > MAX_REQUEST_BYTES && !out.last().is_some_and(Vec::is_empty)) {
            out.push(Vec::new());
            current = 0;
        }
        current += s;
        out.last_mut().expect("pushed").push(i);
    }
    out
}

fn attrs_size(a: &crate::assemble::model::Attrs) -> usize {
    use crate::assemble::model::AttrValue;
    a.iter()
        .map(|(k, v)| {
            k.len()
                + 8
                + match v {
                    AttrValue::Str(s) => s.len(),
                    AttrValue::StrArray(v) => v.iter().map(|s| s.len() + 4).sum(),
                    _ => 8,
                }
        })
        .sum()
}

fn log_size(l: &crate::assemble::model::LogItem) -> usize {
    l.body.len().min(convert::MAX_BODY_BYTES) + attrs_size(&l.attrs) + 128
}

fn span_size(s: &crate::assemble::model::SpanItem) -> usize {
    s.name.len()
        + attrs_size(&s.attrs)
        + s.events.iter().map(|e| e.name.len() + attrs_size(&e.attrs) + 32).sum::<usize>()
        + 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_cut_below_the_limit() {
        let items: Vec<usize> = (0..10).collect();
        let c = chunks(&items, |_| MAX_REQUEST_BYTES / 3);
        assert_eq!(c, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]);
        // An item larger than the limit still goes, alone.
        let c = chunks(&items[..3], |i| if i == 1 { MAX_REQUEST_BYTES * 2 } else { 10 });
        assert_eq!(c, vec![vec![0], vec![1], vec![2]]);
        assert!(chunks(&[], |_| 1).is_empty());
    }
}
