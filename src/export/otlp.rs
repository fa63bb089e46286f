//! OTLP over gRPC (tonic, our own channel with a connect timeout: the exporter has none) or
//! HTTP/protobuf (reqwest), through opentelemetry-otlp's exporters with their retries off — the
//! relay owns retries and back-off.
//!
//! An exporter carries one resource, and our resource names the session, project and agent; so
//! there is one exporter pair per resource, created on demand and sharing the transport.

use super::convert::scope;
use super::file::ResourceBatch;
use super::ExportError;
use crate::assemble::model::ResourceKey;
use crate::config::{Destination, ExportConfig, Protocol};
use futures_util::StreamExt;
use opentelemetry_otlp::{LogExporter, RetryPolicy, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord};
use opentelemetry_sdk::trace::SpanExporter as _;
use opentelemetry_sdk::Resource;
use std::collections::{BTreeMap, HashMap};

pub struct OtlpExporters {
    endpoint: String,
    protocol: Protocol,
    channel: Option<tonic::transport::Channel>,
    /// One HTTP client (one connection pool) for every exporter.
    http: Option<reqwest::Client>,
    headers: BTreeMap<String, String>,
    timeout: std::time::Duration,
    by_resource: HashMap<ResourceKey, (SpanExporter, LogExporter)>,
}

/// Resource groups exported at once (gRPC multiplexes them over one connection).
const CONCURRENCY: usize = 32;

/// Exporter pairs kept at most; beyond, all are dropped (they are cheap to make again).
const MAX_CACHED: usize = 1024;

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
                        let pem =
                            std::fs::read(ca).map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?;
                        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                    }
                    ep = ep.tls_config(tls).map_err(|e| format!("TLS setup: {e}"))?;
                }
                Some(ep.connect_lazy())
            }
            Protocol::HttpProtobuf => None,
        };
        let http = match protocol {
            Protocol::HttpProtobuf => Some(
                http_client()
                    .timeout(cfg.timeout)
                    .connect_timeout(cfg.connect_timeout)
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?,
            ),
            Protocol::Grpc => None,
        };
        Ok(OtlpExporters {
            endpoint: endpoint.clone(),
            protocol: *protocol,
            channel,
            http,
            headers: cfg.headers.clone(),
            timeout: cfg.timeout,
            by_resource: HashMap::new(),
        })
    }

    /// A span exporter for `resource` over this transport (the relay's own spans).
    pub fn span_exporter(&self, resource: &Resource) -> Result<SpanExporter, String> {
        self.build(resource).map(|(s, _)| s)
    }

    fn build(&self, resource: &Resource) -> Result<(SpanExporter, LogExporter), String> {
        let (mut spans, mut logs) = match self.protocol {
            Protocol::Grpc => {
                let mut md = tonic::metadata::MetadataMap::new();
                for (k, v) in &self.headers {
                    let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes())
                        .map_err(|e| format!("header {k}: {e}"))?;
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
                let client = self.http.clone().expect("http client");
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

    pub async fn export(&mut self, batches: Vec<ResourceBatch>) -> Result<(), ExportError> {
        if self.by_resource.len() + batches.len() > MAX_CACHED {
            self.by_resource.clear();
        }
        for b in &batches {
            if !self.by_resource.contains_key(&b.key) {
                let pair = self.build(&b.resource).map_err(ExportError::Setup)?;
                self.by_resource.insert(b.key.clone(), pair);
            }
        }
        let this = &*self;
        let results: Vec<Result<(), ExportError>> =
            futures_util::stream::iter(batches.into_iter().map(|b| this.export_one(b)))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        results.into_iter().collect()
    }

    async fn export_one(&self, b: ResourceBatch) -> Result<(), ExportError> {
        let (span_exporter, log_exporter) = &self.by_resource[&b.key];
        if !b.spans.is_empty() {
            span_exporter
                .export(b.spans)
                .await
                .map_err(|e| ExportError::from_export_text(format!("exporting spans to {}: {e}", self.endpoint)))?;
        }
        if !b.logs.is_empty() {
            let s = scope();
            let pairs: Vec<(&SdkLogRecord, &opentelemetry::InstrumentationScope)> =
                b.logs.iter().map(|l| (l, &s)).collect();
            log_exporter
                .export(LogBatch::new(&pairs))
                .await
                .map_err(|e| ExportError::from_export_text(format!("exporting logs to {}: {e}", self.endpoint)))?;
        }
        Ok(())
    }
}

/// A reqwest client builder with TLS on ring. reqwest is built without a crypto provider (its
/// default, aws-lc, would run its cpuid constructor in every process of this binary, the hook's
/// included), so the process-wide default is installed here, once, before any client is built.
pub fn http_client() -> reqwest::ClientBuilder {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means a provider is already installed: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

#[cfg(test)]
mod tls_tests {
    /// Without a provider reqwest panics when a client is built; this proves ring is installed.
    #[test]
    fn http_client_builds_with_the_ring_provider() {
        let client = super::http_client().https_only(true).build();
        assert!(client.is_ok(), "{client:?}");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
