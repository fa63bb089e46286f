//! Fast static checks of the stack configuration we ship: otel-collector.yaml,
//! builder-config.yaml, stack/jaeger.yaml, loki/loki.yaml, tempo/tempo.yaml, grafana/ and the
//! justfile. Loki, Tempo and Grafana are never run here (AGPL), so these checks are what keeps
//! their files honest. The collector's own `validate` runs too when the binary is cached.

#[path = "common/stack.rs"]
mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A shipped file without its whole-line `#` comments (they quote `${env:...}` examples).
fn read(rel: &str) -> String {
    let text = std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"));
    if rel.ends_with(".yaml") {
        text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n")
    } else {
        text
    }
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("parse {rel}: {e}"))
}

/// `v[a][b]...`, panicking with the path when missing.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        cur = cur.get(*k).unwrap_or_else(|| panic!("missing key {}", path[..=i].join(".")));
    }
    cur
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Replace every `${env:NAME:-default}` (collector) or `${NAME:-default}` (Loki/Tempo
/// -config.expand-env, Grafana) with its default: what the file means with nothing set.
fn with_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').expect("unclosed ${");
        let inner = &after[..end];
        let inner = inner.strip_prefix("env:").unwrap_or(inner);
        match inner.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => panic!("${{{inner}}} has no default"),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn env_refs(text: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after.find('}').unwrap();
        let inner = after[..end].strip_prefix("env:").unwrap_or(&after[..end]);
        set.insert(inner.split(":-").next().unwrap().to_string());
        rest = &after[end + 1..];
    }
    set
}

/// The port at the end of "host:port", "http://host:port/path" or "[scheme://]host:port".
fn port_of(endpoint: &str) -> u16 {
    let no_scheme = endpoint.split("://").last().unwrap();
    let hostport = no_scheme.split('/').next().unwrap();
    hostport.rsplit(':').next().unwrap().parse().unwrap_or_else(|_| panic!("no port in {endpoint}"))
}

fn collector() -> Value {
    serde_yaml::from_str(&with_defaults(&read("otel-collector.yaml"))).expect("otel-collector.yaml with defaults")
}

fn lib_default(var: &str) -> String {
    let lib = read("scripts/stack/lib.sh");
    let needle = format!("{var}=\"${{{var}:-");
    let i = lib.find(&needle).unwrap_or_else(|| panic!("{var} default in lib.sh"));
    let rest = &lib[i + needle.len()..];
    rest[..rest.find('}').unwrap()].to_string()
}

fn lib_const(var: &str) -> String {
    let lib = read("scripts/stack/lib.sh");
    let needle = format!("\n{var}=\"");
    let i = lib.find(&needle).unwrap_or_else(|| panic!("{var} in lib.sh"));
    let rest = &lib[i + needle.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

// ---------------------------------------------------------------------------------------
// otel-collector.yaml

#[test]
fn collector_config_every_env_var_has_a_default() {
    let text = read("otel-collector.yaml");
    let raw: Value = serde_yaml::from_str(&text).expect("otel-collector.yaml parses as YAML");
    assert!(raw.get("service").is_some());
    // with_defaults panics on a ${env:X} without default
    let _ = with_defaults(&text);
    let refs = env_refs(&text);
    for r in &refs {
        assert!(r.starts_with("AGENT_TELEMETRY_"), "environment variable {r} must be namespaced");
    }
    for must in [
        "AGENT_TELEMETRY_OTLP_GRPC_PORT",
        "AGENT_TELEMETRY_OTLP_HTTP_PORT",
        "AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT",
        "AGENT_TELEMETRY_LOGS_EXPORTERS",
        "AGENT_TELEMETRY_TRACES_EXPORTERS",
        "AGENT_TELEMETRY_VICTORIALOGS_ENDPOINT",
        "AGENT_TELEMETRY_LOKI_ENDPOINT",
        "AGENT_TELEMETRY_JAEGER_OTLP_ENDPOINT",
        "AGENT_TELEMETRY_TEMPO_OTLP_ENDPOINT",
        "AGENT_TELEMETRY_COLLECTOR_QUEUE_DIR",
    ] {
        assert!(refs.contains(must), "otel-collector.yaml reads {must}");
    }
    // every variable is documented
    let doc = read("docs/stack.md");
    for r in &refs {
        assert!(doc.contains(r.as_str()), "docs/stack.md documents {r}");
    }
}

#[test]
fn collector_receives_otlp_on_loopback_default_ports() {
    let c = collector();
    let grpc = s(at(&c, &["receivers", "otlp", "protocols", "grpc", "endpoint"]));
    let http = s(at(&c, &["receivers", "otlp", "protocols", "http", "endpoint"]));
    assert_eq!(grpc, "127.0.0.1:4317");
    assert_eq!(http, "127.0.0.1:4318");
    assert_eq!(s(at(&c, &["extensions", "health_check", "endpoint"])), "127.0.0.1:13133");
    let prom = &at(&c, &["service", "telemetry", "metrics", "readers"])[0]["pull"]["exporter"]["prometheus"];
    assert_eq!(s(&prom["host"]), "127.0.0.1");
    assert_eq!(s(&prom["port"]), "8888");
    assert_eq!(lib_default("AGENT_TELEMETRY_OTLP_GRPC_PORT"), "4317");
    assert_eq!(lib_default("AGENT_TELEMETRY_OTLP_HTTP_PORT"), "4318");
    assert_eq!(lib_default("AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT"), "13133");
    assert_eq!(lib_default("AGENT_TELEMETRY_BIND"), "127.0.0.1");
}

#[test]
fn every_backend_exporter_has_a_persistent_queue_and_never_gives_up() {
    let c = collector();
    let exporters = at(&c, &["exporters"]).as_mapping().unwrap();
    let extensions = at(&c, &["extensions"]).as_mapping().unwrap();
    let enabled_ext: Vec<String> =
        at(&c, &["service", "extensions"]).as_sequence().unwrap().iter().map(s).collect();
    let mut network = 0;
    for (name, cfg) in exporters {
        let name = s(name);
        let ty = name.split('/').next().unwrap();
        assert!(
            !matches!(ty, "otlp" | "otlphttp"),
            "{name}: use the current type names otlp_grpc / otlp_http"
        );
        if !matches!(ty, "otlp_grpc" | "otlp_http") {
            continue; // debug, file: local sinks, nothing to queue
        }
        network += 1;
        let q = at(cfg, &["sending_queue"]);
        assert_eq!(q["enabled"], Value::Bool(true), "{name}: sending_queue.enabled");
        let storage = s(&q["storage"]);
        assert!(storage.starts_with("file_storage"), "{name}: persistent queue, got storage {storage}");
        assert!(extensions.contains_key(Value::from(storage.clone())), "{name}: {storage} is defined");
        assert!(enabled_ext.contains(&storage), "{name}: {storage} is enabled in service.extensions");
        assert!(q.get("batch").is_some(), "{name}: exporter-side batching (sending_queue.batch)");
        assert_ne!(q["wait_for_result"], Value::Bool(true), "{name}: not allowed with storage");
        let r = at(cfg, &["retry_on_failure"]);
        assert_eq!(r["enabled"], Value::Bool(true), "{name}: retry_on_failure.enabled");
        let max = s(&r["max_elapsed_time"]);
        assert!(matches!(max.as_str(), "0" | "0s"), "{name}: max_elapsed_time must be 0 (never give up), got {max}");
    }
    assert!(network >= 4, "VictoriaLogs, Loki, Jaeger and Tempo exporters");
    for p in at(&c, &["service", "pipelines"]).as_mapping().unwrap().values() {
        for proc_ in p["processors"].as_sequence().unwrap() {
            assert!(!s(proc_).starts_with("batch"), "no batch processor: its memory is lost on a crash");
        }
    }
    // The queue directory is created and persistent.
    let fs = at(&c, &["extensions", "file_storage/queue"]);
    assert_eq!(fs["create_directory"], Value::Bool(true));
    assert!(!s(&fs["directory"]).is_empty());
}

#[test]
fn pipelines_route_logs_and_traces_to_switchable_backends() {
    let c = collector();
    let exporters = at(&c, &["exporters"]).as_mapping().unwrap();
    for id in ["otlp_http/victorialogs", "otlp_http/loki", "otlp_grpc/jaeger", "otlp_grpc/tempo", "debug", "file/archive"] {
        assert!(exporters.contains_key(Value::from(id)), "exporter {id} defined");
    }
    let pipes = at(&c, &["service", "pipelines"]);
    for (pipe, default) in [("logs", vec!["otlp_http/victorialogs"]), ("traces", vec!["otlp_grpc/jaeger"])] {
        let p = at(pipes, &[pipe]);
        let recv: Vec<String> = p["receivers"].as_sequence().unwrap().iter().map(s).collect();
        assert_eq!(recv, ["otlp"]);
        let procs: Vec<String> = p["processors"].as_sequence().unwrap().iter().map(s).collect();
        assert_eq!(procs.first().map(String::as_str), Some("memory_limiter"), "memory_limiter first");
        for pr in &procs {
            assert!(at(&c, &["processors"]).get(pr.as_str()).is_some(), "processor {pr} defined");
        }
        let ex: Vec<String> = p["exporters"].as_sequence().expect("exporters default is a list").iter().map(s).collect();
        assert_eq!(ex, default, "{pipe} default exporters (the local stack)");
    }
    // The switches: the raw file takes the exporter lists from the environment.
    let raw: Value = serde_yaml::from_str(&read("otel-collector.yaml")).unwrap();
    assert!(s(at(&raw, &["service", "pipelines", "logs", "exporters"])).contains("AGENT_TELEMETRY_LOGS_EXPORTERS"));
    assert!(s(at(&raw, &["service", "pipelines", "traces", "exporters"])).contains("AGENT_TELEMETRY_TRACES_EXPORTERS"));
    for p in ["memory_limiter", "resource", "attributes/scrub", "transform/defaults"] {
        assert!(at(&c, &["processors"]).get(p).is_some(), "processor {p}");
    }
}

#[test]
fn collector_ports_match_the_backends_configs() {
    let c = collector();
    let ex = at(&c, &["exporters"]);
    // VictoriaLogs: native OTLP path, port of the stack's VictoriaLogs.
    let vl = s(at(ex, &["otlp_http/victorialogs", "endpoint"]));
    assert!(vl.ends_with("/insert/opentelemetry"), "{vl}");
    assert_eq!(port_of(&vl).to_string(), lib_default("AGENT_TELEMETRY_VICTORIALOGS_PORT"));
    assert_eq!(port_of(&vl), 9428);
    let vlh = at(ex, &["otlp_http/victorialogs", "headers"]);
    assert!(vlh.get("AccountID").is_some() && vlh.get("ProjectID").is_some(), "VictoriaLogs tenant headers");
    // Loki: native OTLP at /otlp on loki.yaml's HTTP port, with a tenant.
    let loki = yaml("loki/loki.yaml");
    let lk = s(at(ex, &["otlp_http/loki", "endpoint"]));
    assert!(lk.ends_with("/otlp"), "Loki OTLP endpoint ends with /otlp: {lk}");
    assert_eq!(port_of(&lk).to_string(), s(at(&loki, &["server", "http_listen_port"])));
    assert!(at(ex, &["otlp_http/loki", "headers"]).get("X-Scope-OrgID").is_some(), "Loki tenant header");
    // Tempo: its distributor's OTLP gRPC receiver.
    let tempo = serde_yaml::from_str::<Value>(&with_defaults(&read("tempo/tempo.yaml"))).unwrap();
    let tp = s(at(ex, &["otlp_grpc/tempo", "endpoint"]));
    let tempo_grpc = s(at(&tempo, &["distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"]));
    assert_eq!(port_of(&tp), port_of(&tempo_grpc));
    // Jaeger: its own OTLP receiver (stack/jaeger.yaml), off the collector's 4317.
    let jaeger: Value = serde_yaml::from_str(&with_defaults(&read("stack/jaeger.yaml"))).unwrap();
    let jp = s(at(ex, &["otlp_grpc/jaeger", "endpoint"]));
    let jaeger_grpc = s(at(&jaeger, &["receivers", "otlp", "protocols", "grpc", "endpoint"]));
    assert_eq!(port_of(&jp), port_of(&jaeger_grpc));
    assert_eq!(port_of(&jaeger_grpc).to_string(), lib_default("AGENT_TELEMETRY_JAEGER_OTLP_GRPC_PORT"));
}

#[test]
fn default_ports_do_not_clash() {
    let c = collector();
    let jaeger: Value = serde_yaml::from_str(&with_defaults(&read("stack/jaeger.yaml"))).unwrap();
    let loki: Value = serde_yaml::from_str(&with_defaults(&read("loki/loki.yaml"))).unwrap();
    let tempo: Value = serde_yaml::from_str(&with_defaults(&read("tempo/tempo.yaml"))).unwrap();
    let mut ports: BTreeMap<u16, String> = BTreeMap::new();
    let mut add = |who: &str, p: u16| {
        if let Some(prev) = ports.insert(p, who.to_string()) {
            panic!("port {p} used by both {prev} and {who}");
        }
    };
    add("collector otlp grpc", port_of(&s(at(&c, &["receivers", "otlp", "protocols", "grpc", "endpoint"]))));
    add("collector otlp http", port_of(&s(at(&c, &["receivers", "otlp", "protocols", "http", "endpoint"]))));
    add("collector health", port_of(&s(at(&c, &["extensions", "health_check", "endpoint"]))));
    add("collector metrics", 8888);
    add("jaeger otlp grpc", port_of(&s(at(&jaeger, &["receivers", "otlp", "protocols", "grpc", "endpoint"]))));
    add("jaeger otlp http", port_of(&s(at(&jaeger, &["receivers", "otlp", "protocols", "http", "endpoint"]))));
    add("jaeger query http", port_of(&s(at(&jaeger, &["extensions", "jaeger_query", "http", "endpoint"]))));
    add("jaeger query grpc", port_of(&s(at(&jaeger, &["extensions", "jaeger_query", "grpc", "endpoint"]))));
    add("jaeger health", port_of(&s(at(&jaeger, &["extensions", "healthcheckv2", "http", "endpoint"]))));
    let jm = &at(&jaeger, &["service", "telemetry", "metrics", "readers"])[0]["pull"]["exporter"]["prometheus"]["port"];
    add("jaeger metrics", s(jm).parse().unwrap());
    add("victorialogs", lib_default("AGENT_TELEMETRY_VICTORIALOGS_PORT").parse().unwrap());
    add("loki http", s(at(&loki, &["server", "http_listen_port"])).parse().unwrap());
    add("loki grpc", s(at(&loki, &["server", "grpc_listen_port"])).parse().unwrap());
    add("tempo http", s(at(&tempo, &["server", "http_listen_port"])).parse().unwrap());
    add("tempo grpc", s(at(&tempo, &["server", "grpc_listen_port"])).parse().unwrap());
    add("tempo otlp grpc", port_of(&s(at(&tempo, &["distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"]))));
    add("tempo otlp http", port_of(&s(at(&tempo, &["distributor", "receivers", "otlp", "protocols", "http", "endpoint"]))));
    assert_eq!(ports.get(&16686).map(String::as_str), Some("jaeger query http"));
    assert_eq!(ports.get(&9428).map(String::as_str), Some("victorialogs"));
    // and every listener is loopback by default
    for f in ["stack/jaeger.yaml", "loki/loki.yaml", "tempo/tempo.yaml", "otel-collector.yaml"] {
        let t = with_defaults(&read(f));
        assert!(!t.contains("0.0.0.0"), "{f} binds loopback only by default");
    }
}

#[test]
fn builder_config_is_one_consistent_version_set() {
    let b = yaml("builder-config.yaml");
    let version = s(at(&b, &["dist", "version"]));
    assert_eq!(version, lib_const("OTELCOL_VERSION"), "dist.version matches scripts/stack/lib.sh");
    assert_eq!(format!("v{version}"), lib_const("OCB_VERSION"), "builder version = component version");
    let beta = format!("v{version}");
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    // the stable modules are paired: v0.N.0 <-> v1.(N-94).0
    let stable = format!("v1.{}.0", minor - 94);
    let mut names = BTreeSet::new();
    for kind in ["receivers", "processors", "exporters", "extensions", "providers"] {
        for m in at(&b, &[kind]).as_sequence().unwrap() {
            let gomod = s(&m["gomod"]);
            let (path, v) = gomod.split_once(' ').unwrap();
            let expected = if kind == "providers" { &stable } else { &beta };
            assert_eq!(v, expected, "{path}: one version set ({beta} / {stable})");
            names.insert(path.rsplit('/').next().unwrap().to_string());
        }
    }
    for want in [
        "otlpreceiver",
        "memorylimiterprocessor",
        "resourceprocessor",
        "attributesprocessor",
        "transformprocessor",
        "otlpexporter",
        "otlphttpexporter",
        "debugexporter",
        "fileexporter",
        "filestorage",
        "healthcheckextension",
        "envprovider",
        "fileprovider",
    ] {
        assert!(names.contains(want), "builder-config.yaml builds {want}");
    }
}

#[test]
fn collector_validates_the_shipped_config() {
    // Needs the built collector: run when cached (or build it when slow tests are on).
    let cache = std::env::var("AGENT_TELEMETRY_CACHE").map(PathBuf::from).unwrap_or_else(|_| {
        std::env::var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"))
            .join("agent-telemetry")
    });
    let v = lib_const("OTELCOL_VERSION");
    let bin = cache.join(format!("bin/otelcol-agent-telemetry-{v}/otelcol-agent-telemetry"));
    if !bin.exists() {
        if std::env::var(stack::SLOW_TESTS_ENV).as_deref() == Ok("1") {
            stack::ensure_built(&root());
        } else {
            println!("SKIPPED collector_validates_the_shipped_config: {} not built (just stack-build)", bin.display());
            return;
        }
    }
    let validate = |logs: Option<&str>, traces: Option<&str>| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("validate").arg("--config").arg(root().join("otel-collector.yaml"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AGENT_TELEMETRY_")) {
            cmd.env_remove(k);
        }
        if let Some(l) = logs {
            cmd.env("AGENT_TELEMETRY_LOGS_EXPORTERS", l);
        }
        if let Some(t) = traces {
            cmd.env("AGENT_TELEMETRY_TRACES_EXPORTERS", t);
        }
        let out = cmd.output().expect("run collector validate");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (ok, err) = validate(None, None);
    assert!(ok, "defaults: {err}");
    let (ok, err) = validate(
        Some("[otlp_http/victorialogs, otlp_http/loki, file/archive, debug]"),
        Some("[otlp_grpc/jaeger, otlp_grpc/tempo, file/archive, debug]"),
    );
    assert!(ok, "every backend on: {err}");
    let (ok, _) = validate(Some("[no_such_exporter]"), None);
    assert!(!ok, "validate rejects an unknown exporter in the switch");
}

// ---------------------------------------------------------------------------------------
// Jaeger (stack/jaeger.yaml)

#[test]
fn jaeger_config_keeps_off_the_collectors_ports() {
    let j: Value = serde_yaml::from_str(&with_defaults(&read("stack/jaeger.yaml"))).unwrap();
    assert_eq!(port_of(&s(at(&j, &["extensions", "jaeger_query", "http", "endpoint"]))), 16686);
    let grpc = port_of(&s(at(&j, &["receivers", "otlp", "protocols", "grpc", "endpoint"])));
    let http = port_of(&s(at(&j, &["receivers", "otlp", "protocols", "http", "endpoint"])));
    assert!(grpc != 4317 && http != 4318, "Jaeger's OTLP receiver is off 4317/4318");
    let m = &at(&j, &["service", "telemetry", "metrics", "readers"])[0]["pull"]["exporter"]["prometheus"]["port"];
    assert_ne!(s(m), "8888", "Jaeger's metrics are off 8888");
    let store = s(at(&j, &["extensions", "jaeger_query", "storage", "traces"]));
    assert!(at(&j, &["extensions", "jaeger_storage", "backends"]).get(store.as_str()).is_some());
    assert_eq!(s(at(&j, &["exporters", "jaeger_storage_exporter", "trace_storage"])), store);
}

// ---------------------------------------------------------------------------------------
// Loki

#[test]
fn loki_config_matches_the_facts() {
    let l = yaml("loki/loki.yaml");
    assert_eq!(at(&l, &["auth_enabled"]), &Value::Bool(true), "multi-tenancy on");
    let schemas = at(&l, &["schema_config", "configs"]).as_sequence().unwrap();
    let last = schemas.last().expect("a schema");
    assert_eq!(s(&last["store"]), "tsdb");
    assert_eq!(s(&last["schema"]), "v13");
    assert_eq!(s(&last["object_store"]), "filesystem");
    assert_eq!(s(&last["index"]["period"]), "24h", "tsdb needs a 24h index period");
    assert!(at(&l, &["common", "storage", "filesystem"]).get("chunks_directory").is_some());
    assert!(at(&l, &["storage_config", "tsdb_shipper"]).get("active_index_directory").is_some());
    // retention through the compactor
    let comp = at(&l, &["compactor"]);
    assert_eq!(comp["retention_enabled"], Value::Bool(true));
    assert_eq!(s(&comp["delete_request_store"]), "filesystem", "retention needs a delete request store");
    let lim = at(&l, &["limits_config"]);
    let retention = with_defaults(&s(&lim["retention_period"]));
    assert!(retention.ends_with('d') || retention.ends_with('h'), "retention_period {retention}");
    assert_ne!(retention, "0s");
    assert_eq!(lim["allow_structured_metadata"], Value::Bool(true));
    // OTLP: the attributes we care about are index labels
    let cfgs = at(lim, &["otlp_config", "resource_attributes", "attributes_config"]).as_sequence().unwrap();
    let labels: BTreeSet<String> = cfgs
        .iter()
        .filter(|c| s(&c["action"]) == "index_label")
        .flat_map(|c| c["attributes"].as_sequence().cloned().unwrap_or_default())
        .map(|v| s(&v))
        .collect();
    for a in ["service.name", "project.name", "session.id", "agent.id", "agent.group"] {
        assert!(labels.contains(a), "{a} is an index label");
    }
    for c in cfgs {
        let action = s(&c["action"]);
        assert!(matches!(action.as_str(), "index_label" | "structured_metadata" | "drop"), "{action}");
    }
    assert_eq!(at(&l, &["querier", "multi_tenant_queries_enabled"]), &Value::Bool(true));
    assert_eq!(s(at(&l, &["server", "http_listen_port"])), "3100");
    assert_eq!(s(at(&l, &["server", "http_listen_address"])), "127.0.0.1");
}

// ---------------------------------------------------------------------------------------
// Tempo

#[test]
fn tempo_config_is_sane() {
    let t: Value = serde_yaml::from_str(&with_defaults(&read("tempo/tempo.yaml"))).unwrap();
    assert_eq!(at(&t, &["multitenancy_enabled"]), &Value::Bool(true));
    assert_eq!(s(at(&t, &["server", "http_listen_port"])), "3200");
    let otlp = at(&t, &["distributor", "receivers", "otlp", "protocols"]);
    assert!(otlp.get("grpc").is_some() && otlp.get("http").is_some());
    assert_eq!(s(at(&t, &["storage", "trace", "backend"])), "local");
    assert!(!s(at(&t, &["storage", "trace", "wal", "path"])).is_empty());
    assert!(!s(at(&t, &["storage", "trace", "local", "path"])).is_empty());
    let ret = s(at(&t, &["compactor", "compaction", "block_retention"]));
    assert!(ret.ends_with('h'), "block_retention {ret}");
    let max = at(&t, &["overrides", "defaults", "global", "max_bytes_per_trace"]).as_u64().unwrap();
    assert!(max >= 5_000_000, "long sessions need a larger trace limit");
}

// ---------------------------------------------------------------------------------------
// Grafana

fn datasources() -> Vec<Value> {
    let d = yaml("grafana/provisioning/datasources/agent-telemetry.yaml");
    at(&d, &["datasources"]).as_sequence().unwrap().clone()
}

fn collect_uids(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(ds) = m.get("datasource") {
                if let Some(uid) = ds.get("uid").and_then(|u| u.as_str()) {
                    out.push(uid.to_string());
                }
            }
            m.values().for_each(|x| collect_uids(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_uids(x, out)),
        _ => {}
    }
}

#[test]
fn grafana_datasources_link_traces_and_logs() {
    let ds = datasources();
    let mut by_uid: BTreeMap<String, Value> = BTreeMap::new();
    for d in &ds {
        let uid = s(&d["uid"]);
        assert!(by_uid.insert(uid.clone(), d.clone()).is_none(), "duplicate uid {uid}");
    }
    let types: BTreeSet<String> = ds.iter().map(|d| s(&d["type"])).collect();
    for t in ["loki", "tempo", "jaeger", "victoriametrics-logs-datasource"] {
        assert!(types.contains(t), "a {t} datasource");
    }
    for d in &ds {
        let ty = s(&d["type"]);
        let jd = &d["jsonData"];
        if ty == "tempo" || ty == "jaeger" {
            let t2l = jd.get("tracesToLogsV2").unwrap_or_else(|| panic!("{ty}: tracesToLogsV2"));
            let target = s(&t2l["datasourceUid"]);
            assert!(by_uid.contains_key(&target), "{ty}: tracesToLogsV2 target {target} exists");
            let q = s(&t2l["query"]);
            assert!(q.contains("$${__span.traceId}"), "{ty}: query by trace id, `$$` escaped: {q}");
            assert!(q.contains("trace_id="), "{q}");
        }
        if let Some(fields) = jd.get("derivedFields").and_then(|f| f.as_sequence()) {
            for f in fields {
                assert!(f.get("regex").is_none(), "{ty}: a `regex` key is silently ignored; use matcherRegex");
                assert_eq!(s(&f["matcherType"]), "label", "{ty}: trace_id is structured metadata / a field");
                assert_eq!(s(&f["matcherRegex"]), "trace_id");
                let target = s(&f["datasourceUid"]);
                assert!(by_uid.contains_key(&target), "{ty}: derived field target {target} exists");
                let target_ty = s(&by_uid[&target]["type"]);
                assert!(matches!(target_ty.as_str(), "tempo" | "jaeger"), "logs link to a trace datasource");
            }
        }
    }
    let loki = ds.iter().find(|d| s(&d["type"]) == "loki").unwrap();
    assert!(loki["jsonData"].get("derivedFields").is_some(), "Loki: logs -> trace link");
    assert_eq!(s(&loki["jsonData"]["httpHeaderName1"]), "X-Scope-OrgID", "Loki runs with auth_enabled");
}

#[test]
fn grafana_dashboards_reference_existing_datasources() {
    let uids: BTreeSet<String> = datasources().iter().map(|d| s(&d["uid"])).collect();
    let dir = root().join("grafana/dashboards");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        n += 1;
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(v["uid"].is_string() && v["title"].is_string(), "{}: uid and title", p.display());
        assert!(v["panels"].as_array().map(|a| !a.is_empty()).unwrap_or(false));
        let mut refs = Vec::new();
        collect_uids(&v, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            assert!(uids.contains(&r), "{}: datasource uid {r} is provisioned", p.display());
        }
        // panel ids unique
        let ids: Vec<i64> = v["panels"].as_array().unwrap().iter().filter_map(|p| p["id"].as_i64()).collect();
        let set: BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(ids.len(), set.len(), "unique panel ids");
    }
    assert!(n >= 1, "one dashboard at least");
    let prov = yaml("grafana/provisioning/dashboards/agent-telemetry.yaml");
    assert_eq!(s(&at(&prov, &["providers"])[0]["type"]), "file");
}

// ---------------------------------------------------------------------------------------
// justfile and scripts

#[test]
fn justfile_has_the_stack_recipes() {
    let j = read("justfile");
    for r in ["stack-build", "stack-up", "stack-down", "stack-status", "stack-logs"] {
        assert!(j.lines().any(|l| l.starts_with(r)), "justfile recipe {r}");
        let script = r.trim_start_matches("stack-");
        let script = if script == "build" || script == "up" || script == "down" || script == "status" || script == "logs" {
            format!("scripts/stack/{script}.sh")
        } else {
            unreachable!()
        };
        assert!(j.contains(&script), "{r} runs {script}");
        assert!(Path::new(&root().join(&script)).exists(), "{script} exists");
    }
}

#[test]
fn stack_scripts_parse() {
    for f in ["lib.sh", "build.sh", "up.sh", "down.sh", "status.sh", "logs.sh"] {
        let p = root().join("scripts/stack").join(f);
        let out = std::process::Command::new("bash").arg("-n").arg(&p).output().expect("bash -n");
        assert!(out.status.success(), "{f}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
