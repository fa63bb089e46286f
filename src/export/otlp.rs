//! OTLP over gRPC (tonic, our own channel with a connect timeout) or HTTP/protobuf (reqwest),
//! sent by us with the generated OTLP clients and messages, so that each outcome is known by the
//! transport's status — the gRPC code, the HTTP status — and classified by it (error.rs). The
//! relay owns retries and back-off. The relay's own spans still go through opentelemetry-otlp's
//! span exporter ([`OtlpExporters::span_exporter`]).
//!
//! Our resource names the session, project and agent: each resource's data goes in its own
//! requests, several resources at once over the shared transport.

use super::file::ResourceBatch;
use super::ExportError;
use crate::config::{Destination, ExportConfig, Protocol};
use futures_util::StreamExt;
use opentelemetry_otlp::{RetryPolicy, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::trace::SpanExporter as _;
use opentelemetry_sdk::Resource;
use prost::Message as _;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub(crate) struct OtlpExporters {
    endpoint: String,
    protocol: Protocol,
    channel: Option<tonic::transport::Channel>,
    /// One HTTP client (one connection pool) for every request.
    http: Option<reqwest::Client>,
    headers: BTreeMap<String, String>,
    /// The headers as gRPC metadata or HTTP headers; a bad one fails each export as a setup
    /// error (the relay reports it and takes a fixed config), not the relay's start.
    grpc_metadata: Result<tonic::metadata::MetadataMap, ExportError>,
    http_headers: Result<reqwest::header::HeaderMap, ExportError>,
    timeout: Duration,
    /// The settings, to mask credentials in what is logged here.
    scrub: ExportConfig,
}

/// Requests in flight at once (gRPC multiplexes them over one connection).
const CONCURRENCY: usize = 32;

/// The start of an HTTP error body kept in the error text.
const MAX_BODY_TEXT: usize = 300;

/// One signal of one batch: what it is called in texts, and its request.
enum Request {
    Spans(opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest),
    Logs(opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest),
}

impl Request {
    fn what(&self) -> &'static str {
        match self {
            Request::Spans(_) => "spans",
            Request::Logs(_) => "logs",
        }
    }
}

impl OtlpExporters {
    pub(crate) fn new(cfg: &ExportConfig) -> Result<Self, ExportError> {
        let Destination::Otlp { endpoint, protocol } = &cfg.destination else { unreachable!() };
        let channel = match protocol {
            Protocol::Grpc => {
                let mut ep = tonic::transport::Endpoint::from_shared(endpoint.clone())
                    .map_err(|e| ExportError::Setup(format!("invalid endpoint {endpoint}: {e}")))?
                    .connect_timeout(cfg.connect_timeout)
                    .timeout(cfg.timeout)
                    .tcp_nodelay(true);
                if endpoint.starts_with("https://") {
                    let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
                    if let Some(ca) = &cfg.ca_file {
                        let pem = std::fs::read(ca)
                            .map_err(|e| ExportError::Setup(format!("cannot read CA file {}: {e}", ca.display())))?;
                        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                    }
                    ep = ep.tls_config(tls).map_err(|e| ExportError::Setup(format!("TLS setup: {e}")))?;
                }
                Some(ep.connect_lazy())
            }
            Protocol::HttpProtobuf => None,
        };
        let http = match protocol {
            Protocol::HttpProtobuf => {
                let mut b = http_client().timeout(cfg.timeout).connect_timeout(cfg.connect_timeout);
                if let Some(ca) = cfg.ca_file.as_ref().filter(|_| endpoint.starts_with("https://")) {
                    let pem = std::fs::read(ca)
                        .map_err(|e| ExportError::Setup(format!("cannot read CA file {}: {e}", ca.display())))?;
                    let cert = reqwest::Certificate::from_pem(&pem)
                        .map_err(|e| ExportError::Setup(format!("CA file {}: {e}", ca.display())))?;
                    b = b.tls_certs_merge([cert]);
                }
                Some(b.build().map_err(|e| ExportError::Setup(format!("HTTP client: {e}")))?)
            }
            Protocol::Grpc => None,
        };
        Ok(OtlpExporters {
            endpoint: endpoint.clone(),
            protocol: *protocol,
            channel,
            http,
            headers: cfg.headers.clone(),
            grpc_metadata: grpc_metadata(&cfg.headers),
            http_headers: http_headers(&cfg.headers),
            timeout: cfg.timeout,
            scrub: cfg.clone(),
        })
    }

    /// A span exporter for `resource` over this transport (the relay's own spans).
    pub(crate) fn span_exporter(&self, resource: &Resource) -> Result<SpanExporter, ExportError> {
        let mut spans = match self.protocol {
            Protocol::Grpc => SpanExporter::builder()
                .with_tonic()
                .with_channel(self.channel.clone().expect("grpc channel"))
                .with_metadata(self.grpc_metadata.clone()?)
                .with_timeout(self.timeout)
                .with_retry_policy(RetryPolicy::disabled())
                .build()
                .map_err(|e| ExportError::Setup(e.to_string()))?,
            Protocol::HttpProtobuf => SpanExporter::builder()
                .with_http()
                .with_http_client(self.http.clone().expect("http client"))
                .with_endpoint(format!("{}/v1/traces", self.endpoint))
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_headers(self.headers.clone().into_iter().collect::<HashMap<_, _>>())
                .with_timeout(self.timeout)
                .with_retry_policy(RetryPolicy::disabled())
                .build()
                .map_err(|e| ExportError::Setup(e.to_string()))?,
        };
        spans.set_resource(resource);
        Ok(spans)
    }

    pub(crate) async fn export(&mut self, batches: Vec<ResourceBatch>) -> Result<(), ExportError> {
        match self.protocol {
            Protocol::Grpc => drop(self.grpc_metadata.clone()?),
            Protocol::HttpProtobuf => drop(self.http_headers.clone()?),
        }
        let mut requests = Vec::new();
        for b in batches {
            let (spans, logs) = b.into_requests();
            requests.extend(spans.map(Request::Spans));
            requests.extend(logs.map(Request::Logs));
        }
        let this = &*self;
        let results: Vec<Result<(), ExportError>> =
            futures_util::stream::iter(requests.into_iter().map(|r| this.send(r)))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        results.into_iter().collect()
    }

    async fn send(&self, req: Request) -> Result<(), ExportError> {
        let what = req.what();
        let rejected = match self.protocol {
            Protocol::Grpc => self.send_grpc(req).await,
            Protocol::HttpProtobuf => self.send_http(req).await,
        }?;
        if let Some((count, message)) = rejected {
            // Partial success: the destination kept the rest and says sending these again will
            // not help (OTLP: do not retry). The relay goes on; the log says what was lost there.
            let text = format!("{} accepted the {what} request but rejected {count} item(s): {message}", self.endpoint);
            eprintln!("agent-telemetry relay: {}", self.scrub.scrub(&text));
        }
        Ok(())
    }

    /// Sends over gRPC; `Ok(Some((rejected, message)))` on a partial success.
    async fn send_grpc(&self, req: Request) -> Result<Option<(i64, String)>, ExportError> {
        let what = req.what();
        let channel = self.channel.clone().expect("grpc channel");
        let metadata = self.grpc_metadata.clone()?;
        fn request<T>(metadata: tonic::metadata::MetadataMap, msg: T, timeout: Duration) -> tonic::Request<T> {
            let mut r = tonic::Request::from_parts(metadata, tonic::Extensions::default(), msg);
            // Sent as grpc-timeout: the server gives up when the relay does.
            r.set_timeout(timeout);
            r
        }
        let partial = match req {
            Request::Spans(msg) => TraceServiceClient::new(channel)
                .export(request(metadata, msg, self.timeout))
                .await
                .map(|r| r.into_inner().partial_success.map(|p| (p.rejected_spans, p.error_message))),
            Request::Logs(msg) => LogsServiceClient::new(channel)
                .export(request(metadata, msg, self.timeout))
                .await
                .map(|r| r.into_inner().partial_success.map(|p| (p.rejected_log_records, p.error_message))),
        };
        match partial {
            Ok(p) => Ok(p.filter(|(n, m)| *n > 0 || !m.is_empty())),
            Err(status) => {
                use tonic_types::StatusExt as _;
                let mut text = format!("exporting {what} to {}: gRPC {:?}", self.endpoint, status.code());
                if !status.message().is_empty() {
                    text.push_str(&format!(": {}", status.message()));
                }
                if let Some(source) = std::error::Error::source(&status) {
                    text.push_str(&format!(" ({})", error_chain(source)));
                }
                Err(ExportError::from_grpc(status.code(), status.get_details_retry_info().is_some(), text))
            }
        }
    }

    /// Sends over HTTP/protobuf; `Ok(Some((rejected, message)))` on a partial success.
    async fn send_http(&self, req: Request) -> Result<Option<(i64, String)>, ExportError> {
        let what = req.what();
        let (path, body) = match &req {
            Request::Spans(m) => ("v1/traces", m.encode_to_vec()),
            Request::Logs(m) => ("v1/logs", m.encode_to_vec()),
        };
        let url = format!("{}/{path}", self.endpoint);
        let headers = self.http_headers.clone()?;
        let client = self.http.as_ref().expect("http client");
        let response = client
            .post(&url)
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .send()
            .await
            // No answer at all (connect, timeout, a cut connection): an outage.
            .map_err(|e| ExportError::Unavailable(format!("exporting {what} to {url}: {}", error_chain(&e))))?;
        let status = response.status();
        let protobuf = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
        // A body that cannot be read after a status is only missing detail; the status decides.
        let body = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let partial = match req {
                Request::Spans(_) => ExportTraceServiceResponse::decode(body.as_ref())
                    .ok()
                    .and_then(|r| r.partial_success.map(|p| (p.rejected_spans, p.error_message))),
                Request::Logs(_) => ExportLogsServiceResponse::decode(body.as_ref())
                    .ok()
                    .and_then(|r| r.partial_success.map(|p| (p.rejected_log_records, p.error_message))),
            };
            return Ok(partial.filter(|(n, m)| *n > 0 || !m.is_empty()));
        }
        let mut text = format!("exporting {what} to {url}: HTTP {status}");
        let detail = http_error_detail(&body, protobuf);
        if !detail.is_empty() {
            text.push_str(&format!(": {detail}"));
        }
        Err(ExportError::from_http(status.as_u16(), text))
    }
}

fn grpc_metadata(headers: &BTreeMap<String, String>) -> Result<tonic::metadata::MetadataMap, ExportError> {
    let mut md = tonic::metadata::MetadataMap::new();
    for (k, v) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes())
            .map_err(|e| ExportError::Setup(format!("header {k}: {e}")))?;
        md.insert(key, v.parse().map_err(|e| ExportError::Setup(format!("header {k}: {e}")))?);
    }
    Ok(md)
}

fn http_headers(headers: &BTreeMap<String, String>) -> Result<reqwest::header::HeaderMap, ExportError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| ExportError::Setup(format!("header {k}: {e}")))?;
        let value =
            reqwest::header::HeaderValue::from_str(v).map_err(|e| ExportError::Setup(format!("header {k}: {e}")))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// An error and its causes, one after the other (a transport error's own text is often only
/// "error sending request"; the cause says connection refused, timed out, bad certificate).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(&format!(": {more}"));
        }
        source = s.source();
    }
    text
}

/// What an HTTP error body says, for the error text: OTLP servers answer with a protobuf
/// `google.rpc.Status` (its message is taken), others with text (its start is taken).
fn http_error_detail(body: &[u8], protobuf: bool) -> String {
    if protobuf {
        if let Ok(s) = tonic_types::pb::Status::decode(body) {
            return crate::enrich::privacy::cap_str(&s.message, MAX_BODY_TEXT).to_string();
        }
    }
    let text = String::from_utf8_lossy(body);
    let printable: String = text.chars().filter(|c| !c.is_control() || *c == ' ').collect();
    crate::enrich::privacy::cap_str(printable.trim(), MAX_BODY_TEXT).to_string()
}

/// A reqwest client builder with TLS on ring. reqwest is built without a crypto provider (its
/// default, aws-lc, would run its cpuid constructor in every process of this binary, the hook's
/// included), so the process-wide default is installed here, once, before any client is built.
pub(crate) fn http_client() -> reqwest::ClientBuilder {
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

/// Real answers from in-process servers — a tonic OTLP trace service and a plain HTTP server —
/// reach the classification as their status: the kind follows the code, whatever the text says.
#[cfg(test)]
mod status_tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceRequest};
    use tonic::codegen::async_trait;

    /// Answers every export with `code` (Ok: a partial success) and a message that reads like
    /// the opposite kind.
    struct Answer(tonic::Code);

    #[async_trait]
    impl TraceService for Answer {
        async fn export(
            &self,
            _: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            match self.0 {
                tonic::Code::Ok => Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success: Some(ExportTracePartialSuccess {
                        rejected_spans: 1,
                        error_message: "one span too old".into(),
                    }),
                })),
                tonic::Code::Unauthenticated => Err(tonic::Status::new(self.0, "service unavailable, try again")),
                code => Err(tonic::Status::new(code, "Unauthenticated: status: 401")),
            }
        }
    }

    fn free_addr() -> std::net::SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    fn config(endpoint: String, protocol: Protocol) -> ExportConfig {
        let mut cfg = ExportConfig::defaults(std::path::Path::new("/nonexistent"));
        cfg.destination = Destination::Otlp { endpoint, protocol };
        cfg.timeout = Duration::from_secs(5);
        cfg.connect_timeout = Duration::from_secs(2);
        cfg
    }

    fn one_span() -> Vec<ResourceBatch> {
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
        let ctx = SpanContext::new(
            TraceId::from_bytes([1; 16]),
            SpanId::from_bytes([2; 8]),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let span = opentelemetry_sdk::trace::SpanData {
            span_context: ctx,
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "s".into(),
            start_time: t,
            end_time: t,
            attributes: vec![],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: super::super::convert::scope(),
        };
        vec![ResourceBatch { resource: Resource::builder_empty().build(), spans: vec![span], logs: vec![] }]
    }

    async fn grpc_outcome(code: tonic::Code) -> Result<(), ExportError> {
        let addr = free_addr();
        let server =
            tokio::spawn(tonic::transport::Server::builder().serve(addr, TraceServiceServer::new(Answer(code))));
        let mut x = OtlpExporters::new(&config(format!("http://{addr}"), Protocol::Grpc)).unwrap();
        let mut out = x.export(one_span()).await;
        // The server may not listen yet on the first attempt.
        for _ in 0..50 {
            if !matches!(&out, Err(ExportError::Unavailable(t)) if t.contains("connect")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            out = x.export(one_span()).await;
        }
        server.abort();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_answers_are_classified_by_code() {
        let e = grpc_outcome(tonic::Code::Unauthenticated).await.unwrap_err();
        assert!(matches!(&e, ExportError::Rejected(t) if t.contains("gRPC Unauthenticated")), "{e:?}");
        for code in [tonic::Code::PermissionDenied, tonic::Code::InvalidArgument] {
            let e = grpc_outcome(code).await.unwrap_err();
            assert!(!e.is_retryable(), "{code:?}: {e:?}");
        }
        for code in [tonic::Code::Unavailable, tonic::Code::ResourceExhausted] {
            let e = grpc_outcome(code).await.unwrap_err();
            // RESOURCE_EXHAUSTED without RetryInfo is a refusal (the request is too much).
            assert_eq!(e.is_retryable(), code == tonic::Code::Unavailable, "{code:?}: {e:?}");
        }
        // A partial success is a success: the rest was taken, and the rejected part would be again.
        grpc_outcome(tonic::Code::Ok).await.unwrap();
        // Nothing listening: an outage.
        let mut x = OtlpExporters::new(&config(format!("http://{}", free_addr()), Protocol::Grpc)).unwrap();
        let e = x.export(one_span()).await.unwrap_err();
        assert!(matches!(&e, ExportError::Unavailable(_)), "{e:?}");
    }

    /// A one-connection-at-a-time HTTP/1.1 server answering every request with `status` and a
    /// text body; returns its address.
    fn http_server(status: u16) -> std::net::SocketAddr {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then the body by its Content-Length.
                let body_start = loop {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                };
                let Some(body_start) = body_start else { continue };
                let head = String::from_utf8_lossy(&buf[..body_start]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < body_start + len {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = "Unauthenticated: status: 401";
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_answers_are_classified_by_status() {
        for (status, retryable) in [(401, false), (403, false), (400, false), (500, false), (503, true), (429, true)] {
            let addr = http_server(status);
            let mut x = OtlpExporters::new(&config(format!("http://{addr}"), Protocol::HttpProtobuf)).unwrap();
            let e = x.export(one_span()).await.unwrap_err();
            assert_eq!(e.is_retryable(), retryable, "{status}: {e:?}");
            assert!(e.to_string().contains(&format!("HTTP {status}")), "{e}");
        }
        let e = {
            let mut x = OtlpExporters::new(&config(format!("http://{}", free_addr()), Protocol::HttpProtobuf)).unwrap();
            x.export(one_span()).await.unwrap_err()
        };
        assert!(matches!(&e, ExportError::Unavailable(_)), "{e:?}");
    }
}
