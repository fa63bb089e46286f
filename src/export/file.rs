//! The embedded default: OTLP JSON lines, one `ExportTraceServiceRequest` or
//! `ExportLogsServiceRequest` per line — the collector's file exporter format — in
//! `traces-YYYYMMDD.jsonl` and `logs-YYYYMMDD.jsonl`. The pipeline is whole with no servers, and
//! any collector can ingest these files later (`otlpjsonfile` receiver).

use super::convert::scope;
use super::ExportError;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

pub(crate) struct FileExporter {
    dir: PathBuf,
    dir_ready: bool,
}

/// The spans and log records of one resource, ready for an exporter.
pub(crate) struct ResourceBatch {
    pub resource: Resource,
    pub spans: Vec<SpanData>,
    pub logs: Vec<SdkLogRecord>,
}

impl ResourceBatch {
    /// The OTLP requests for this batch: one for its spans, one for its log records (none for
    /// an empty signal). The same messages go into files and over gRPC or HTTP.
    pub(crate) fn into_requests(self) -> (Option<ExportTraceServiceRequest>, Option<ExportLogsServiceRequest>) {
        let res = ResourceAttributesWithSchema::from(&self.resource);
        let spans = (!self.spans.is_empty()).then(|| ExportTraceServiceRequest {
            resource_spans: opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(
                self.spans, &res,
            ),
        });
        let logs = (!self.logs.is_empty()).then(|| {
            let s = scope();
            let pairs: Vec<(&SdkLogRecord, &opentelemetry::InstrumentationScope)> =
                self.logs.iter().map(|l| (l, &s)).collect();
            ExportLogsServiceRequest {
                resource_logs: opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope(
                    &LogBatch::new(&pairs),
                    &res,
                ),
            }
        });
        (spans, logs)
    }
}

impl FileExporter {
    pub(crate) fn new(dir: PathBuf) -> Self {
        FileExporter { dir, dir_ready: false }
    }

    /// One line per resource and signal, all of a batch in one write (and one sync) per file.
    pub(crate) fn export(&mut self, batches: Vec<ResourceBatch>) -> Result<(), ExportError> {
        let day = crate::timefmt::yyyymmdd(crate::timefmt::now_unix_nanos());
        let (mut traces, mut logs) = (Vec::new(), Vec::new());
        for b in batches {
            let (spans, records) = b.into_requests();
            if let Some(req) = spans {
                serde_json::to_writer(&mut traces, &req).map_err(|e| ExportError::Io(e.to_string()))?;
                traces.push(b'\n');
            }
            if let Some(req) = records {
                serde_json::to_writer(&mut logs, &req).map_err(|e| ExportError::Io(e.to_string()))?;
                logs.push(b'\n');
            }
        }
        self.append(&format!("traces-{day}.jsonl"), &traces)?;
        self.append(&format!("logs-{day}.jsonl"), &logs)
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), ExportError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !self.dir_ready {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| ExportError::Io(format!("cannot create {}: {e}", self.dir.display())))?;
            self.dir_ready = true;
        }
        let path = self.dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ExportError::Io(format!("cannot open {}: {e}", path.display())))?;
        f.write_all(bytes).map_err(|e| ExportError::Io(format!("cannot write {}: {e}", path.display())))?;
        f.sync_data().map_err(|e| ExportError::Io(format!("cannot sync {}: {e}", path.display())))
    }
}
