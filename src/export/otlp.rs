//! OTLP over gRPC (tonic, our own channel with a connect timeout: the exporter has none) or
//! HTTP/protobuf (reqwest), through opentelemetry-otlp's exporters with their retries off — the
//! relay owns retries and back-off.
//!
//! An exporter carries one resource, and our resource names the session, project and agent; so
//! there is one exporter pair per resource, created on demand and sharing the transport.

use super::config::{Destination, ExportConfig, Protocol};
use crate::assemble::convert::scope;
use crate::assemble::model::ResourceKey;
use opentelemetry_otlp::{LogExporter, RetryPolicy, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;
use std::collections::{BTreeMap, HashMap};

pub struct OtlpExporters {
    endpoint: String,
    protocol: Protocol,
    channel: Option<tonic::transport::Channel>,
    headers: BTreeMap<String, String>,
    timeout: std::time::Duration,
    by_resource: HashMap<ResourceKey, (SpanExporter, LogExporter)>,
}

/// Exporter pairs kept at most; older ones are dropped (they are cheap to make again).
const MAX_CACHED: usize = 256;

impl OtlpExporters {
    pub fn new(cfg: &ExportConfig) -> Result<Self, String> {
        let Destination::Otlp { endpoint, protocol } = &cfg.destination else { unreachable!() };
        let channel = match protocol {
            Protocol::Grpc => {
                let mut ep = tonic::transport::Endpoint::from_shared(endpoint.clone())
                    .map_err(|e| format!("invalid endpoint {endpoint}: {e}"))?
                    .connect_timeout(cfg.connect_timeout)
                    .timeout(cfg.timeout)
                    .tcp_nodelay(true);
                if endpoint.starts_with("https://") {
                    let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
                    if let Some(ca) = &cfg.ca_file {
                        let pem = std::fs::read(ca).map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?;
                        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                    }
                    ep = ep.tls_config(tls).map_err(|e| format!("TLS setup: {e}"))?;
                }
                Some(ep.connect_lazy())
            }
            Protocol::HttpProtobuf => None,
        };
        Ok(OtlpExporters {
            endpoint: endpoint.clone(),
            protocol: protocol.clone(),
            channel,
            headers: cfg.headers.clone(),
            timeout: cfg.timeout,
            by_resource: HashMap::new(),
        })
    }

    fn build(&self, resource: &Resource) -> Result<(SpanExporter, LogExporter), String> {
        let (mut spans, mut logs) = match self.protocol {
            Protocol::Grpc => {
                let mut md = tonic::metadata::MetadataMap::new();
                for (k, v) in &self.headers {
                    let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
                    md.insert(key, v.parse().map_err(|e| format!("header {k}: {e}"))?);
                }
                let channel = self.channel.clone().expect("grpc channel");
                let spans = SpanExporter::builder()
                    .with_tonic()
                    .with_channel(channel.clone())
                    .with_metadata(md.clone())
                    .with_timeout(self.timeout)
                    .with_retry_policy(RetryPolicy::disabled())
                    .build()
                    .map_err(|e| e.to_string())?;
                let logs = LogExporter::builder()
                    .with_tonic()
                    .with_channel(channel)
                    .with_metadata(md)
                    .with_timeout(self.timeout)
                    .with_retry_policy(RetryPolicy::disabled())
                    .build()
                    .map_err(|e| e.to_string())?;
                (spans, logs)
            }
            Protocol::HttpProtobuf => {
                let headers: HashMap<String, String> = self.headers.clone().into_iter().collect();
                let client = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?;
                let spans = SpanExporter::builder()
                    .with_http()
                    .with_http_client(client.clone())
                    .with_endpoint(format!("{}/v1/traces", self.endpoint))
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_headers(headers.clone())
                    .with_timeout(self.timeout)
                    .with_retry_policy(RetryPolicy::disabled())
                    .build()
                    .map_err(|e| e.to_string())?;
                let logs = LogExporter::builder()
                    .with_http()
                    .with_http_client(client)
                    .with_endpoint(format!("{}/v1/logs", self.endpoint))
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_headers(headers)
                    .with_timeout(self.timeout)
                    .with_retry_policy(RetryPolicy::disabled())
                    .build()
                    .map_err(|e| e.to_string())?;
                (spans, logs)
            }
        };
        spans.set_resource(resource);
        logs.set_resource(resource);
        Ok((spans, logs))
    }

    pub async fn export(&mut self, key: &ResourceKey, resource: &Resource, spans: Vec<SpanData>, logs: &[SdkLogRecord]) -> Result<(), String> {
        if !self.by_resource.contains_key(key) {
            if self.by_resource.len() >= MAX_CACHED {
                self.by_resource.clear();
            }
            let pair = self.build(resource)?;
            self.by_resource.insert(key.clone(), pair);
        }
        let (span_exporter, log_exporter) = &self.by_resource[key];
        if !spans.is_empty() {
            span_exporter.export(spans).await.map_err(|e| format!("exporting spans to {}: {e}", self.endpoint))?;
        }
        if !logs.is_empty() {
            let s = scope();
            let pairs: Vec<(&SdkLogRecord, &opentelemetry::InstrumentationScope)> = logs.iter().map(|l| (l, &s)).collect();
            log_exporter
                .export(LogBatch::new(&pairs))
                .await
                .map_err(|e| format!("exporting logs to {}: {e}", self.endpoint))?;
        }
        Ok(())
    }
}
