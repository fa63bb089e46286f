//! Tenants per agent group, with what the collector build has: `fleet collector-config` turns
//! the registry's groups into an OpenTelemetry Collector config *fragment*, merged over
//! `otel-collector.yaml` (a second `--config`). For each group it adds a logs and a traces
//! pipeline whose filter processor drops every resource whose `agent.group` is not the group,
//! and exporters that carry the group's tenant (VictoriaLogs `AccountID`/`ProjectID`, Loki and
//! Tempo `X-Scope-OrgID`). It also replaces the processors of the main `logs` and `traces`
//! pipelines, adding a filter that drops the registered groups: the default tenant keeps what
//! has no group (or a group the registry does not know).
//!
//! Why this and not routing: the routing connector and headers_setter are not served by the Go
//! module proxy at the collector's version (docs/stack.md), the filter processor is. Why in the
//! collector and not per-group exporters in the relay: the relay stays one OTLP stream with one
//! checkpoint, and a tenant is a storage decision made where the backends' credentials live.
//! Every group pipeline gets a copy of every record and keeps its own (a fan-out of N+1 for N
//! groups: fine for tens of groups; the filter is one attribute comparison per resource).
//!
//! Jaeger has no tenants: group trace pipelines send to the shared `otlp_grpc/jaeger`.

use super::registry::Registry;
use crate::config::Config;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The main config's pipeline processors (otel-collector.yaml); a fragment's list replaces the
/// main one on merge, so it repeats them (a test checks they agree).
pub const BASE_PROCESSORS: [&str; 4] = ["memory_limiter", "resource", "attributes/scrub", "transform/defaults"];

#[derive(clap::Args, Debug, Clone)]
pub struct CollectorConfigArgs {
    /// The registry to read (default: the configured one, `fleet.toml` beside the config file).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Backends the group pipelines send to (victorialogs, loki, jaeger, tempo, file); default
    /// `$AGENT_TELEMETRY_BACKENDS`, else victorialogs,jaeger — as `just stack-up`.
    #[arg(long, value_name = "LIST")]
    pub backends: Option<String>,
    /// Write here instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(config: &Config, a: &CollectorConfigArgs) -> super::Result<i32> {
    let (path, registry) = super::registry_for_command(config, a.registry.as_ref())?;
    let Some(registry) = registry else {
        return Err(super::Error::NoRegistry { path });
    };
    if registry.groups.is_empty() {
        return Err(super::Error::NoGroups { path });
    }
    let backends = a
        .backends
        .clone()
        .or_else(|| std::env::var("AGENT_TELEMETRY_BACKENDS").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "victorialogs,jaeger".into());
    let backends = Backends::parse(&backends).map_err(super::Error::Backends)?;
    let text = fragment(&registry, &backends, &path.display().to_string());
    match &a.output {
        Some(out) => {
            std::fs::write(out, &text).map_err(|error| super::Error::Write { path: out.clone(), error })?;
            eprintln!("wrote {} ({} group pipeline(s) for logs and traces; default tenant for records of no registered group)", out.display(), registry.groups.len());
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// Which backends the group pipelines export to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backends {
    pub victorialogs: bool,
    pub loki: bool,
    pub jaeger: bool,
    pub tempo: bool,
    pub file: bool,
}

/// A backend name [`Backends::parse`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend `{name}` (victorialogs, loki, jaeger, tempo, file)")]
pub struct UnknownBackend {
    pub name: String,
}

impl Backends {
    pub fn parse(list: &str) -> Result<Backends, UnknownBackend> {
        let mut b = Backends::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "victorialogs" => b.victorialogs = true,
                "loki" => b.loki = true,
                "jaeger" => b.jaeger = true,
                "tempo" => b.tempo = true,
                "file" => b.file = true,
                other => return Err(UnknownBackend { name: other.to_string() }),
            }
        }
        Ok(b)
    }
}

/// A YAML scalar: JSON's double-quoted string is valid YAML and escapes everything.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

const GROUP_ATTR: &str = "resource.attributes[\"agent.group\"]";

/// The collector config fragment for `registry`'s groups (at least one: [`run`] refuses none).
pub fn fragment(registry: &Registry, b: &Backends, source: &str) -> String {
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(w, "# Tenants per agent group: generated by `agent-telemetry fleet collector-config` from");
    let _ = writeln!(w, "# {source}. Merge it over otel-collector.yaml (a second --config; `just stack-up` takes it");
    let _ =
        writeln!(w, "# from AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG). Regenerate when the registry's groups change.");
    let _ = writeln!(w, "# One logs and one traces pipeline per group: a filter keeps only the group's resources");
    let _ =
        writeln!(w, "# (agent.group), exporters carry its tenant. The main pipelines keep the rest (default tenant).");
    let _ = writeln!(w, "processors:");
    let _ = writeln!(w, "  filter/fleet_default:");
    let _ = writeln!(w, "    error_mode: ignore");
    for signal in ["log_conditions", "trace_conditions"] {
        let _ = writeln!(w, "    {signal}:");
        for g in registry.groups.keys() {
            let _ = writeln!(w, "      - {}", q(&format!("{GROUP_ATTR} == {}", q(g))));
        }
    }
    for g in registry.groups.keys() {
        let _ = writeln!(w, "  filter/fleet_{g}:");
        let _ = writeln!(w, "    error_mode: ignore");
        for signal in ["log_conditions", "trace_conditions"] {
            let _ = writeln!(w, "    {signal}:");
            let _ = writeln!(w, "      - {}", q(&format!("{GROUP_ATTR} == nil or {GROUP_ATTR} != {}", q(g))));
        }
    }
    let _ = writeln!(w, "exporters:");
    for (g, group) in &registry.groups {
        let _ = writeln!(w, "  otlp_http/victorialogs_{g}:");
        let _ = writeln!(
            w,
            "    endpoint: ${{env:AGENT_TELEMETRY_VICTORIALOGS_ENDPOINT:-http://127.0.0.1:9428/insert/opentelemetry}}"
        );
        let _ = writeln!(w, "    compression: gzip");
        let _ = writeln!(w, "    timeout: 10s");
        let _ = writeln!(w, "    headers:");
        let _ = writeln!(w, "      AccountID: {}", q(&group.victorialogs_account_id.to_string()));
        let _ = writeln!(w, "      ProjectID: {}", q(&group.victorialogs_project_id.to_string()));
        let _ = writeln!(w, "      VL-Stream-Fields: ${{env:AGENT_TELEMETRY_VICTORIALOGS_STREAM_FIELDS:-service.name,project.name,agent.group,agent.id}}");
        queue(w, "items", 1000, 5000);
        let _ = writeln!(w, "  otlp_http/loki_{g}:");
        let _ = writeln!(w, "    endpoint: ${{env:AGENT_TELEMETRY_LOKI_ENDPOINT:-http://127.0.0.1:3100/otlp}}");
        let _ = writeln!(w, "    compression: gzip");
        let _ = writeln!(w, "    timeout: 10s");
        let _ = writeln!(w, "    headers:");
        let _ = writeln!(w, "      X-Scope-OrgID: {}", q(&group.tenant));
        queue(w, "bytes", 1048576, 4194304);
        let _ = writeln!(w, "  otlp_grpc/tempo_{g}:");
        let _ = writeln!(w, "    endpoint: ${{env:AGENT_TELEMETRY_TEMPO_OTLP_ENDPOINT:-127.0.0.1:4417}}");
        let _ = writeln!(w, "    tls:");
        let _ = writeln!(w, "      insecure: ${{env:AGENT_TELEMETRY_TEMPO_OTLP_INSECURE:-true}}");
        let _ = writeln!(w, "    headers:");
        let _ = writeln!(w, "      X-Scope-OrgID: {}", q(&group.tenant));
        let _ = writeln!(w, "    compression: gzip");
        let _ = writeln!(w, "    timeout: 10s");
        queue(w, "bytes", 1048576, 4194304);
    }
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let mut processors: Vec<String> = BASE_PROCESSORS.iter().map(|p| p.to_string()).collect();
    processors.push("filter/fleet_default".into());
    let _ = writeln!(w, "service:");
    let _ = writeln!(w, "  pipelines:");
    let _ = writeln!(w, "    logs:");
    let _ = writeln!(w, "      processors: {}", list(processors.clone()));
    let _ = writeln!(w, "    traces:");
    let _ = writeln!(w, "      processors: {}", list(processors));
    for g in registry.groups.keys() {
        let mut processors: Vec<String> = BASE_PROCESSORS.iter().map(|p| p.to_string()).collect();
        processors.push(format!("filter/fleet_{g}"));
        let mut logs = Vec::new();
        let mut traces = Vec::new();
        if b.victorialogs {
            logs.push(format!("otlp_http/victorialogs_{g}"));
        }
        if b.loki {
            logs.push(format!("otlp_http/loki_{g}"));
        }
        if b.jaeger {
            traces.push("otlp_grpc/jaeger".to_string());
        }
        if b.tempo {
            traces.push(format!("otlp_grpc/tempo_{g}"));
        }
        if b.file {
            logs.push("file/archive".into());
            traces.push("file/archive".into());
        }
        if logs.is_empty() {
            logs.push("debug".into());
        }
        if traces.is_empty() {
            traces.push("debug".into());
        }
        for (signal, exporters) in [("logs", logs), ("traces", traces)] {
            let _ = writeln!(w, "    {signal}/fleet_{g}:");
            let _ = writeln!(w, "      receivers: [otlp]");
            let _ = writeln!(w, "      processors: {}", list(processors.clone()));
            let _ = writeln!(w, "      exporters: {}", list(exporters));
        }
    }
    y
}

/// The zero-loss settings every backend exporter has in otel-collector.yaml: a persistent
/// queue, retries that never give up, batching after the queue.
fn queue(w: &mut String, sizer: &str, min: u64, max: u64) {
    let _ = writeln!(w, "    retry_on_failure:");
    let _ = writeln!(w, "      enabled: true");
    let _ = writeln!(w, "      initial_interval: ${{env:AGENT_TELEMETRY_RETRY_INITIAL_INTERVAL:-1s}}");
    let _ = writeln!(w, "      max_interval: ${{env:AGENT_TELEMETRY_RETRY_MAX_INTERVAL:-30s}}");
    let _ = writeln!(w, "      max_elapsed_time: 0");
    let _ = writeln!(w, "    sending_queue:");
    let _ = writeln!(w, "      enabled: true");
    let _ = writeln!(w, "      storage: file_storage/queue");
    let _ = writeln!(w, "      sizer: requests");
    let _ = writeln!(w, "      queue_size: 100000");
    let _ = writeln!(w, "      num_consumers: 2");
    let _ = writeln!(w, "      block_on_overflow: false");
    let _ = writeln!(w, "      batch:");
    let _ = writeln!(w, "        sizer: {sizer}");
    let _ = writeln!(w, "        flush_timeout: 200ms");
    let _ = writeln!(w, "        min_size: {min}");
    let _ = writeln!(w, "        max_size: {max}");
}
