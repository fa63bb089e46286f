//! The embedded default: OTLP JSON lines, one `ExportTraceServiceRequest` or
//! `ExportLogsServiceRequest` per line — the collector's file exporter format — in
//! `traces-YYYYMMDD.jsonl` and `logs-YYYYMMDD.jsonl`. The pipeline is whole with no servers, and
//! any collector can ingest these files later (`otlpjsonfile` receiver).

use crate::assemble::convert::scope;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

pub struct FileExporter {
    dir: PathBuf,
}

impl FileExporter {
    pub fn new(dir: PathBuf) -> Self {
        FileExporter { dir }
    }

    pub fn export(&mut self, resource: &Resource, spans: Vec<SpanData>, logs: &[SdkLogRecord]) -> Result<(), String> {
        let res = ResourceAttributesWithSchema::from(resource);
        let day = crate::timefmt::yyyymmdd(crate::timefmt::now_unix_nanos());
        if !spans.is_empty() {
            let req = ExportTraceServiceRequest {
                resource_spans: opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(spans, &res),
            };
            self.append(&format!("traces-{day}.jsonl"), &req)?;
        }
        if !logs.is_empty() {
            let s = scope();
            let pairs: Vec<(&SdkLogRecord, &opentelemetry::InstrumentationScope)> = logs.iter().map(|l| (l, &s)).collect();
            let batch = LogBatch::new(&pairs);
            let req = ExportLogsServiceRequest {
                resource_logs: opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope(&batch, &res),
            };
            self.append(&format!("logs-{day}.jsonl"), &req)?;
        }
        Ok(())
    }

    fn append<T: serde::Serialize>(&self, name: &str, req: &T) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let path = self.dir.join(name);
        let mut line = serde_json::to_vec(req).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        f.write_all(&line).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        f.sync_data().map_err(|e| format!("cannot sync {}: {e}", path.display()))
    }
}
