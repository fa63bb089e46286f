//! From the assembler's items to the OpenTelemetry SDK's types (`SpanData`, `SdkLogRecord`,
//! `Resource`), which the OTLP exporters take. Pure functions.

use crate::assemble::attrs;
use crate::assemble::model::{AttrValue, Attrs, LogItem, ResourceKey, SpanItem, SpanRole};
use crate::record::Level;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A log body beyond this is cut in the exported copy (a record this large has captured content).
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("agent-telemetry").with_version(env!("CARGO_PKG_VERSION")).build()
}

fn time(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

fn value(v: &AttrValue) -> Value {
    match v {
        AttrValue::Bool(b) => Value::Bool(*b),
        AttrValue::Int(i) => Value::I64(*i),
        AttrValue::Float(f) => Value::F64(*f),
        AttrValue::Str(s) => Value::String(s.clone().into()),
        AttrValue::StrArray(a) => {
            Value::Array(opentelemetry::Array::String(a.iter().map(|s| StringValue::from(s.clone())).collect()))
        }
    }
}

fn key_values(a: &Attrs) -> Vec<KeyValue> {
    a.iter().map(|(k, v)| KeyValue::new(k.clone(), value(v))).collect()
}

fn trace_id(id: &crate::ids::TraceId) -> TraceId {
    TraceId::from_bytes(id.0)
}

fn span_id(id: &crate::ids::SpanId) -> SpanId {
    SpanId::from_bytes(id.0)
}

pub(crate) fn resource(k: &ResourceKey) -> Resource {
    let mut a = vec![
        KeyValue::new(attrs::SERVICE_NAME, attrs::SERVICE_VALUE),
        KeyValue::new(attrs::SERVICE_VERSION, env!("CARGO_PKG_VERSION")),
        KeyValue::new(attrs::SESSION_ID, k.session_id.clone()),
        KeyValue::new(attrs::GEN_AI_CONVERSATION, k.session_id.clone()),
    ];
    let mut opt = |name: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            a.push(KeyValue::new(name, v.clone()));
        }
    };
    opt(attrs::SERVICE_INSTANCE_ID, &k.agent_id);
    opt(attrs::HOST_NAME, &k.host_name);
    opt(attrs::PROJECT_NAME, &k.project_name);
    opt(attrs::PROJECT_PATH, &k.project_path);
    opt(attrs::AGENT_ID, &k.agent_id);
    opt(attrs::AGENT_GROUP, &k.agent_group);
    opt(attrs::AGENT_ROLE, &k.agent_role);
    opt(attrs::AGENT_TYPE, &k.agent_type);
    opt(attrs::AGENT_INSTANCE_ID, &k.instance_id);
    opt(attrs::REGISTRY_ENTRY, &k.registry_entry);
    opt(attrs::USER_ID, &k.user_id);
    Resource::builder_empty().with_attributes(a).build()
}

pub(crate) fn span_data(s: &SpanItem) -> SpanData {
    let ctx =
        SpanContext::new(trace_id(&s.trace_id), span_id(&s.span_id), TraceFlags::SAMPLED, false, TraceState::default());
    let mut events = SpanEvents::default();
    for e in &s.events {
        events.events.push(opentelemetry::trace::Event::new(e.name.clone(), time(e.time), key_values(&e.attrs), 0));
    }
    SpanData {
        span_context: ctx,
        parent_span_id: s.parent_span_id.as_ref().map(span_id).unwrap_or(SpanId::INVALID),
        parent_span_is_remote: s.parent_remote,
        span_kind: if s.role == SpanRole::Chat { SpanKind::Client } else { SpanKind::Internal },
        name: Cow::Owned(s.name.clone()),
        start_time: time(s.start),
        end_time: time(s.end.max(s.start)),
        attributes: key_values(&s.attrs),
        dropped_attributes_count: 0,
        events,
        links: {
            let mut links = SpanLinks::default();
            for l in &s.links {
                let ctx = SpanContext::new(
                    trace_id(&l.trace_id),
                    span_id(&l.span_id),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                );
                links.links.push(opentelemetry::trace::Link::new(ctx, key_values(&l.attrs), 0));
            }
            links
        },
        status: match &s.error {
            Some(m) => Status::error(m.clone()),
            None => Status::Unset,
        },
        instrumentation_scope: scope(),
    }
}

/// Creates SDK log records (they can only be made through a logger).
pub(crate) struct LogFactory {
    logger: SdkLogger,
    _provider: SdkLoggerProvider,
}

impl Default for LogFactory {
    fn default() -> Self {
        let provider = SdkLoggerProvider::builder().build();
        LogFactory { logger: provider.logger("agent-telemetry"), _provider: provider }
    }
}

impl LogFactory {
    pub(crate) fn record(&self, l: &LogItem) -> SdkLogRecord {
        let mut r = self.logger.create_log_record();
        r.set_timestamp(time(l.time));
        // The observed time is the event's too: a re-sent record is then identical to the first.
        r.set_observed_timestamp(time(l.time));
        let (num, text) = match l.severity {
            Level::Info => (Severity::Info, "INFO"),
            Level::Warn => (Severity::Warn, "WARN"),
            Level::Error => (Severity::Error, "ERROR"),
        };
        r.set_severity_number(num);
        r.set_severity_text(text);
        r.set_event_name(l.event_name);
        let body = if l.body.len() > MAX_BODY_BYTES {
            // The journal keeps the whole record; the exported copy says where to find it.
            format!(
                "{}…[cut for export: {} bytes; the whole record is in the journal]",
                crate::enrich::privacy::cap_str(&l.body, MAX_BODY_BYTES),
                l.body.len()
            )
        } else {
            l.body.clone()
        };
        r.set_body(AnyValue::String(body.into()));
        for (k, v) in &l.attrs {
            let any = match v {
                AttrValue::Bool(b) => AnyValue::Boolean(*b),
                AttrValue::Int(i) => AnyValue::Int(*i),
                AttrValue::Float(f) => AnyValue::Double(*f),
                AttrValue::Str(s) => AnyValue::String(s.clone().into()),
                AttrValue::StrArray(a) => {
                    AnyValue::ListAny(Box::new(a.iter().map(|s| AnyValue::String(s.clone().into())).collect()))
                }
            };
            r.add_attribute(k.clone(), any);
        }
        r.set_trace_context(trace_id(&l.trace_id), span_id(&l.span_id), Some(TraceFlags::SAMPLED));
        r
    }
}
