//! The relay observes itself: its loop is instrumented with `tracing` (a `relay.batch` span per
//! batch of records, a `relay.export` span per attempt to send it, with its error), turned into
//! OpenTelemetry spans by `tracing-opentelemetry` and exported as their own service
//! (`service.name = agent-telemetry-relay`) to the destination the relay exports to — so the
//! pipeline's health is in the same backends as what it carries. The same figures are in
//! `status.json` (`status --json`).
//!
//! The SDK's batch processors swallow export errors and want a runtime of their own; here the
//! finished spans are only collected, and the relay's loop sends them itself, after each batch
//! of records, through an exporter it builds like its own. They are diagnostics: a failed send is
//! kept for the next round (the newest 4096; older ones are counted in
//! `self_spans_dropped`), never sent ahead of the audit data.

use crate::config::{Destination, ExportConfig};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanExporter as _, SpanProcessor};
use opentelemetry_sdk::Resource;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};

/// The service name of the relay's own spans.
pub(crate) const SERVICE: &str = "agent-telemetry-relay";

/// Finished spans kept for the next send at most (the oldest go first).
const MAX_KEPT: usize = 4096;

/// Finished spans not sent yet, and how many were given up (the oldest, beyond [`MAX_KEPT`]).
#[derive(Debug, Default, Clone)]
struct Collected(Arc<Mutex<(Vec<SpanData>, u64)>>);

impl Collected {
    /// Adds spans (oldest first), keeping the newest [`MAX_KEPT`].
    fn keep(&self, spans: Vec<SpanData>) {
        if let Ok(mut g) = self.0.lock() {
            let (v, dropped) = &mut *g;
            v.extend(spans);
            if v.len() > MAX_KEPT {
                let over = v.len() - MAX_KEPT;
                v.drain(..over);
                *dropped += over as u64;
            }
        }
    }
}

impl SpanProcessor for Collected {
    fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        self.keep(vec![span]);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The relay's own telemetry: installed once per process.
pub(crate) struct Observer {
    collected: Collected,
    _provider: SdkTracerProvider,
    exporter: Option<opentelemetry_otlp::SpanExporter>,
}

impl Observer {
    /// Installs the tracing subscriber (a no-op if this process has one already, as in tests
    /// that run the relay in-process) and, for an OTLP destination, the exporter of own spans.
    pub(crate) fn install(export: &ExportConfig, data_dir: &std::path::Path) -> Observer {
        let resource = Resource::builder()
            .with_service_name(SERVICE)
            .with_attributes([
                KeyValue::new("service.instance.id", format!("{}:{}", host(), std::process::id())),
                KeyValue::new("host.name", host()),
                KeyValue::new("agent_telemetry.data_dir", data_dir.display().to_string()),
            ])
            .build();
        let collected = Collected::default();
        let provider =
            SdkTracerProvider::builder().with_span_processor(collected.clone()).with_resource(resource.clone()).build();
        // Our own spans only: the transport crates (h2, tonic, hyper) are instrumented too, and
        // their spans would bury ours (and cost on every frame).
        let ours = tracing_subscriber::filter::Targets::new().with_target("agent_telemetry", tracing::Level::TRACE);
        let layer =
            tracing_opentelemetry::layer().with_tracer(provider.tracer("agent-telemetry-relay")).with_filter(ours);
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
        Observer { collected, _provider: provider, exporter: self_exporter(export, &resource) }
    }

    /// A new export destination (config change).
    pub(crate) fn retarget(&mut self, export: &ExportConfig) {
        let resource = Resource::builder()
            .with_service_name(SERVICE)
            .with_attributes([KeyValue::new("host.name", host())])
            .build();
        self.exporter = self_exporter(export, &resource);
    }

    /// Sends the spans finished since the last call (nothing for a file destination); what
    /// could not be sent is kept for the next call (the newest [`MAX_KEPT`]), so an outage's
    /// failed exports are seen once the destination is back.
    pub(crate) async fn send(&mut self) {
        let Some(exporter) = &self.exporter else {
            self.collected.0.lock().map(|mut g| g.0.clear()).ok();
            return;
        };
        let spans: Vec<SpanData> = self.collected.0.lock().map(|mut g| std::mem::take(&mut g.0)).unwrap_or_default();
        if spans.is_empty() {
            return;
        }
        if exporter.export(spans.clone()).await.is_err() {
            let newer = self.collected.0.lock().map(|mut g| std::mem::take(&mut g.0)).unwrap_or_default();
            self.collected.keep(spans);
            self.collected.keep(newer);
        }
    }

    /// Own spans given up so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.collected.0.lock().map(|g| g.1).unwrap_or(0)
    }
}

fn self_exporter(export: &ExportConfig, resource: &Resource) -> Option<opentelemetry_otlp::SpanExporter> {
    match &export.destination {
        Destination::Otlp { .. } => {
            let export = export.with_token().ok()?;
            crate::export::otlp::OtlpExporters::new(&export).and_then(|x| x.span_exporter(resource)).ok()
        }
        _ => None,
    }
}

fn host() -> String {
    crate::enrich::HookEnv::from_process().host.unwrap_or_else(|| "unknown".into())
}

/// The relay's stages, timed (wall time; the first three are CPU-bound on one thread).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stage {
    /// Reading journal lines and parsing them (`journal::read::read_from`).
    Read,
    /// Model calls from transcripts, spans and log records from records, gap watch, sweep.
    Assemble,
    /// Encoding the checkpoint (written after the export's acknowledgement).
    Checkpoint,
    /// Our records → the SDK's span and log data (`export::convert`).
    Convert,
    /// The exporters' call until acknowledged: OTLP protobuf encode, send, the collector's
    /// answer (retries included).
    Export,
}

const STAGES: [(Stage, &str); 5] = [
    (Stage::Read, "read_parse"),
    (Stage::Assemble, "assemble"),
    (Stage::Checkpoint, "checkpoint_encode"),
    (Stage::Convert, "convert"),
    (Stage::Export, "export_until_ack"),
];

/// Nanoseconds per [`Stage`], shared by the loop and the thread that assembles ahead.
#[derive(Debug, Default)]
pub(crate) struct Stages([std::sync::atomic::AtomicU64; 5]);

impl Stages {
    pub(crate) fn add(&self, stage: Stage, d: Duration) {
        self.0[stage as usize].fetch_add(d.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Milliseconds per stage, by name.
    pub(crate) fn report(&self) -> std::collections::BTreeMap<String, u64> {
        STAGES
            .iter()
            .map(|(s, name)| {
                (name.to_string(), self.0[*s as usize].load(std::sync::atomic::Ordering::Relaxed) / 1_000_000)
            })
            .collect()
    }
}
