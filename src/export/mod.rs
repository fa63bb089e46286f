//! Export: hands assembled spans and log records to an OTLP destination — the collector over
//! gRPC (tonic) or HTTP/protobuf through opentelemetry-otlp, or OTLP JSON files when no endpoint
//! is configured. The relay calls [`Exporter::export`] itself and looks at the result: the SDK's
//! batch processors would swallow errors, and the checkpoint may only move on success.

pub mod config;
mod file;
mod otlp;

use crate::assemble::convert::{self, LogFactory};
use crate::assemble::model::{Output, ResourceKey};
pub use config::{Destination, ExportConfig, Protocol};
use std::collections::BTreeMap;

pub struct Exporter {
    inner: Inner,
    logs: LogFactory,
}

enum Inner {
    File(file::FileExporter),
    Otlp(otlp::OtlpExporters),
}

impl Exporter {
    /// Must be called inside a tokio runtime (the tonic channel needs one).
    pub fn new(cfg: &ExportConfig) -> Result<Exporter, String> {
        let inner = match &cfg.destination {
            Destination::File(dir) => Inner::File(file::FileExporter::new(dir.clone())),
            Destination::Otlp { .. } => Inner::Otlp(otlp::OtlpExporters::new(cfg)?),
        };
        Ok(Exporter { inner, logs: LogFactory::default() })
    }

    /// Exports everything in `out`, grouped by resource. `Err` means nothing may be assumed
    /// delivered (some groups may have been: at-least-once, made harmless by deterministic ids).
    pub async fn export(&mut self, out: &Output) -> Result<(), String> {
        let mut groups: BTreeMap<&ResourceKey, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (i, s) in out.spans.iter().enumerate() {
            groups.entry(&s.resource).or_default().0.push(i);
        }
        for (i, l) in out.logs.iter().enumerate() {
            groups.entry(&l.resource).or_default().1.push(i);
        }
        let batches: Vec<file::ResourceBatch> = groups
            .into_iter()
            .map(|(key, (spans, logs))| file::ResourceBatch {
                key: key.clone(),
                resource: convert::resource(key),
                spans: spans.iter().map(|&i| convert::span_data(&out.spans[i])).collect(),
                logs: logs.iter().map(|&i| self.logs.record(&out.logs[i])).collect(),
            })
            .collect();
        match &mut self.inner {
            Inner::File(f) => f.export(batches),
            Inner::Otlp(o) => o.export(batches).await,
        }
    }
}
