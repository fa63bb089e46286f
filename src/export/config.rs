//! Where and how the relay exports: the `[export]` table of the config file, overridden by
//! `AGENT_TELEMETRY_OTLP_*` variables (Claude Code strips `OTEL_*` from hooks, and the relay is
//! started by a hook, so those cannot be relied on).
//!
//! ```toml
//! [export]
//! endpoint = "http://127.0.0.1:4317"   # or "file" (the default): OTLP JSON lines under the data dir
//! protocol = "grpc"                    # or "http/protobuf"
//! headers = { "x-scope-orgid" = "team-a" }
//! ca_file = "/etc/ssl/my-ca.pem"       # extra CA for https endpoints
//! timeout_ms = 10000                   # per export request
//! connect_timeout_ms = 3000
//! batch_size = 2048                    # journal records per export
//! poll_ms = 100                        # how often the journal is checked for new records
//! span_timeout_secs = 7200             # a session silent this long has its open spans closed as incomplete
//! idle_exit_secs = 1800                # a relay started by a hook exits after this long with nothing to do
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    /// OTLP JSON lines in `<dir>/traces-*.jsonl` and `<dir>/logs-*.jsonl` (the collector's file
    /// exporter format, readable by its `otlpjsonfile` receiver).
    File(PathBuf),
    Otlp { endpoint: String, protocol: Protocol },
}

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub destination: Destination,
    pub headers: BTreeMap<String, String>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub batch_size: usize,
    pub poll: Duration,
    pub span_timeout: Duration,
    pub idle_exit: Duration,
}

impl ExportConfig {
    /// Reads the `[export]` table and the environment; `Err` names the bad setting.
    pub fn from_config(cfg: &crate::config::Config) -> Result<ExportConfig, String> {
        let t = &cfg.export;
        let get = |k: &str, env: &str| -> Option<String> {
            std::env::var(env).ok().filter(|v| !v.is_empty()).or_else(|| match t.get(k) {
                Some(toml::Value::String(s)) => Some(s.clone()),
                Some(toml::Value::Integer(i)) => Some(i.to_string()),
                _ => None,
            })
        };
        let num = |k: &str, env: &str, default: u64| -> Result<u64, String> {
            match get(k, env) {
                Some(v) => v.parse().map_err(|_| format!("export.{k} / {env}: not a number: {v}")),
                None => Ok(default),
            }
        };
        let endpoint = get("endpoint", "AGENT_TELEMETRY_OTLP_ENDPOINT").unwrap_or_else(|| "file".into());
        let protocol = match get("protocol", "AGENT_TELEMETRY_OTLP_PROTOCOL").as_deref() {
            None | Some("grpc") => Protocol::Grpc,
            Some("http/protobuf") | Some("http") => Protocol::HttpProtobuf,
            Some(other) => return Err(format!("export.protocol / AGENT_TELEMETRY_OTLP_PROTOCOL: unknown protocol {other:?} (want grpc or http/protobuf)")),
        };
        let destination = if endpoint == "file" {
            Destination::File(cfg.data_dir.join("otlp"))
        } else if let Some(path) = endpoint.strip_prefix("file://") {
            Destination::File(PathBuf::from(path))
        } else if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            Destination::Otlp { endpoint: endpoint.trim_end_matches('/').to_string(), protocol }
        } else {
            return Err(format!("export.endpoint / AGENT_TELEMETRY_OTLP_ENDPOINT: {endpoint:?} is neither \"file\" nor an http(s):// URL"));
        };
        let mut headers = BTreeMap::new();
        if let Some(toml::Value::Table(h)) = t.get("headers") {
            for (k, v) in h {
                if let Some(v) = v.as_str() {
                    headers.insert(k.to_ascii_lowercase(), v.to_string());
                }
            }
        }
        if let Ok(h) = std::env::var("AGENT_TELEMETRY_OTLP_HEADERS") {
            for pair in h.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| format!("AGENT_TELEMETRY_OTLP_HEADERS: {pair:?} is not key=value"))?;
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        Ok(ExportConfig {
            destination,
            headers,
            ca_file: get("ca_file", "AGENT_TELEMETRY_OTLP_CA_FILE").map(PathBuf::from),
            timeout: Duration::from_millis(num("timeout_ms", "AGENT_TELEMETRY_OTLP_TIMEOUT_MS", 10_000)?),
            connect_timeout: Duration::from_millis(num("connect_timeout_ms", "AGENT_TELEMETRY_OTLP_CONNECT_TIMEOUT_MS", 3_000)?),
            batch_size: num("batch_size", "AGENT_TELEMETRY_BATCH_SIZE", 2048)?.max(1) as usize,
            poll: Duration::from_millis(num("poll_ms", "AGENT_TELEMETRY_POLL_MS", 100)?.max(5)),
            span_timeout: Duration::from_secs(num("span_timeout_secs", "AGENT_TELEMETRY_SPAN_TIMEOUT_SECS", 7200)?),
            idle_exit: Duration::from_secs(num("idle_exit_secs", "AGENT_TELEMETRY_RELAY_IDLE_EXIT_SECS", 1800)?),
        })
    }

    pub fn describe(&self) -> String {
        match &self.destination {
            Destination::File(d) => format!("file {}", d.display()),
            Destination::Otlp { endpoint, protocol } => format!("{endpoint} ({})", if *protocol == Protocol::Grpc { "grpc" } else { "http/protobuf" }),
        }
    }
}
