//! Fast static checks of the stack configuration we ship: otel-collector.yaml,
//! builder-config.yaml, stack/jaeger.yaml, loki/loki.yaml, tempo/tempo.yaml, grafana/ and the
//! justfile. Loki, Tempo and Grafana are never run here (AGPL), so these checks are what keeps
//! their files honest. The collector's own `validate` of otel-collector.yaml needs the built
//! collector: it is a slow-stage test in tests/slow/stack.rs.

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
/// `-config.expand-env`) with its default: what the file means with nothing set. Not for
/// Grafana's files: Grafana has no defaults, see `grafana_expand`.
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

// ---------------------------------------------------------------------------------------
// Grafana's provisioning expansion (pkg/services/provisioning/values: interpolateValue):
// the string is split at `$$`, each part goes through `$__env{NAME}` (setting.ExpandVar) and
// then Go's os.ExpandEnv, and the parts are joined with a literal `$`. os.ExpandEnv knows
// `$NAME` and `${NAME}` only: `${NAME:-default}` looks up a variable literally named
// "NAME:-default" and yields the empty string.

/// Go's `os.Expand` with `lookup` (a faithful port: special one-character names, `${}` and an
/// unclosed `${` are eaten, a `$` not followed by a name is kept).
fn go_os_expand(s: &str, lookup: &dyn Fn(&str) -> String) -> String {
    fn special(c: u8) -> bool {
        matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9')
    }
    fn alnum(c: u8) -> bool {
        c == b'_' || c.is_ascii_alphanumeric()
    }
    // (name, width) as Go's getShellName
    fn shell_name(s: &[u8]) -> (String, usize) {
        if s[0] == b'{' {
            if s.len() > 2 && special(s[1]) && s[2] == b'}' {
                return (String::from_utf8_lossy(&s[1..2]).into(), 3);
            }
            for i in 1..s.len() {
                if s[i] == b'}' {
                    if i == 1 {
                        return (String::new(), 2);
                    }
                    return (String::from_utf8_lossy(&s[1..i]).into(), i + 1);
                }
            }
            return (String::new(), 1);
        }
        if special(s[0]) {
            return (String::from_utf8_lossy(&s[0..1]).into(), 1);
        }
        let mut i = 0;
        while i < s.len() && alnum(s[i]) {
            i += 1;
        }
        (String::from_utf8_lossy(&s[..i]).into(), i)
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            out.extend_from_slice(&b[i..j]);
            let (name, w) = shell_name(&b[j + 1..]);
            if name.is_empty() && w > 0 {
                // invalid syntax: eaten
            } else if name.is_empty() {
                out.push(b'$');
            } else {
                out.extend_from_slice(lookup(&name).as_bytes());
            }
            j += w;
            i = j + 1;
        }
        j += 1;
    }
    out.extend_from_slice(&b[i.min(b.len())..]);
    String::from_utf8(out).expect("utf-8")
}

/// One provisioning string value as Grafana expands it with environment `env`.
fn grafana_expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let get = |n: &str| env.get(n).cloned().unwrap_or_default();
    value
        .split("$$")
        .map(|part| {
            // setting.ExpandVar: $__env{NAME} ($__file / $__vault are not used here)
            let mut p = part.to_string();
            while let Some(i) = p.find("$__env{") {
                let end = p[i..].find('}').map(|e| i + e).expect("unclosed $__env{");
                let name = p[i + 7..end].to_string();
                p.replace_range(i..=end, &get(&name));
            }
            assert!(!p.contains("$__file{") && !p.contains("$__vault{"), "unexpected expander in {value}");
            go_os_expand(&p, &get)
        })
        .collect::<Vec<_>>()
        .join("$")
}

/// Every string in a provisioning file, expanded, with its path.
fn grafana_expanded_strings(
    v: &Value,
    env: &BTreeMap<String, String>,
    path: String,
    out: &mut Vec<(String, String, String)>,
) {
    match v {
        Value::String(raw) => out.push((path, raw.clone(), grafana_expand(raw, env))),
        Value::Mapping(m) => {
            for (k, x) in m {
                grafana_expanded_strings(x, env, format!("{path}.{}", s(k)), out);
            }
        }
        Value::Sequence(a) => {
            for (i, x) in a.iter().enumerate() {
                grafana_expanded_strings(x, env, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// grafana/agent-telemetry.env: the environment Grafana is given (KEY=VALUE lines).
fn grafana_env() -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for line in read("grafana/agent-telemetry.env").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("not KEY=VALUE: {line}"));
        env.insert(k.to_string(), v.to_string());
    }
    env
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
    let enabled_ext: Vec<String> = at(&c, &["service", "extensions"]).as_sequence().unwrap().iter().map(s).collect();
    let mut network = 0;
    for (name, cfg) in exporters {
        let name = s(name);
        let ty = name.split('/').next().unwrap();
        assert!(!matches!(ty, "otlp" | "otlphttp"), "{name}: use the current type names otlp_grpc / otlp_http");
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
    for id in
        ["otlp_http/victorialogs", "otlp_http/loki", "otlp_grpc/jaeger", "otlp_grpc/tempo", "debug", "file/archive"]
    {
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
        let ex: Vec<String> =
            p["exporters"].as_sequence().expect("exporters default is a list").iter().map(s).collect();
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
    add(
        "tempo otlp grpc",
        port_of(&s(at(&tempo, &["distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"]))),
    );
    add(
        "tempo otlp http",
        port_of(&s(at(&tempo, &["distributor", "receivers", "otlp", "protocols", "http", "endpoint"]))),
    );
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
        "filterprocessor",
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
    // The build cache is keyed by the component list: the collector's directory name carries
    // a digest of the gomod and replace lines (scripts/stack/lib.sh), so CI rebuilds when they change.
    let lib = read("scripts/stack/lib.sh");
    assert!(
        lib.contains(
            "OTELCOL_COMPONENTS_DIGEST=\"$(grep -E '^[[:space:]]*-[[:space:]]*(gomod:|[^#]*=>)' \"$AT_ROOT/builder-config.yaml\""
        ),
        "lib.sh digests the gomod and replace lines"
    );
    assert!(
        lib.contains("otelcol-agent-telemetry-$OTELCOL_VERSION-$OTELCOL_COMPONENTS_DIGEST/"),
        "the cache key holds the digest"
    );
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

/// Loki/dskit byte sizes: `humanize.ParseBytes` (KB = 1000, KiB = 1024, MB = 1e6, MiB = 2^20).
fn loki_bytes(v: &str) -> u64 {
    let v = v.trim();
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().unwrap_or_else(|_| panic!("size {v}"));
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "kib" | "ki" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" | "mi" => 1048576.0,
        "gb" | "g" => 1e9,
        "gib" | "gi" => 1073741824.0,
        other => panic!("unit {other} in {v}"),
    };
    (num * mult) as u64
}

/// The relay's log body cap (`const MAX_BODY_BYTES` in src/, a product of integers), read
/// from the source wherever it lives.
fn relay_body_cap() -> u64 {
    fn find(dir: &Path) -> Option<String> {
        for e in std::fs::read_dir(dir).ok()? {
            let p = e.ok()?.path();
            if p.is_dir() {
                if let Some(l) = find(&p) {
                    return Some(l);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).ok()?;
                if let Some(l) = text.lines().find(|l| l.contains("const MAX_BODY_BYTES")) {
                    return Some(l.to_string());
                }
            }
        }
        None
    }
    let line = find(&root().join("src")).expect("const MAX_BODY_BYTES in src/");
    let expr = line.split('=').nth(1).unwrap().trim().trim_end_matches(';');
    expr.split('*').map(|f| f.trim().replace('_', "").parse::<u64>().expect("a product of integers")).product()
}

/// The largest batch (bytes, before compression) the collector sends to `exporter`.
fn collector_batch_bytes(exporter: &str) -> u64 {
    let c = collector();
    let b = at(&c, &["exporters", exporter, "sending_queue", "batch"]);
    assert_eq!(
        s(&b["sizer"]),
        "bytes",
        "{exporter}: batches cut by bytes, so they can be held to the backend's limits"
    );
    s(&b["max_size"]).parse().unwrap()
}

#[test]
fn loki_config_matches_the_facts() {
    let text = std::fs::read_to_string(root().join("loki/loki.yaml")).unwrap();
    assert!(text.contains("Loki 3.5"), "loki.yaml states the Loki version it is written for");
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
    assert_eq!(at(&l, &["querier", "multi_tenant_queries_enabled"]), &Value::Bool(true));
    assert_eq!(s(at(&l, &["server", "http_listen_port"])), "3100");
    assert_eq!(s(at(&l, &["server", "http_listen_address"])), "127.0.0.1");
}

#[test]
fn loki_label_set_is_low_cardinality() {
    let l = yaml("loki/loki.yaml");
    let otlp = at(&l, &["limits_config", "otlp_config"]);
    // Loki's default list (service.instance.id = our agent id again, service.namespace, k8s/cloud
    // names) is prepended unless ignore_defaults: the label set would not be the one below.
    assert_eq!(
        at(otlp, &["resource_attributes", "ignore_defaults"]),
        &Value::Bool(true),
        "ignore Loki's default index labels"
    );
    let cfgs = at(otlp, &["resource_attributes", "attributes_config"]).as_sequence().unwrap();
    let labels: BTreeSet<String> = cfgs
        .iter()
        .filter(|c| s(&c["action"]) == "index_label")
        .flat_map(|c| {
            assert!(c.get("regex").is_none(), "index labels are listed by name, never by regex");
            c["attributes"].as_sequence().cloned().unwrap_or_default()
        })
        .map(|v| s(&v))
        .collect();
    let want: BTreeSet<String> =
        ["service.name", "project.name", "agent.group", "agent.id"].iter().map(|x| x.to_string()).collect();
    assert_eq!(labels, want, "index labels: service, project, agent group, agent id");
    for per_record in [
        "session.id",
        "gen_ai.conversation.id",
        "service.instance.id",
        "host.name",
        "project.path",
        "agent.role",
        "user.id",
    ] {
        assert!(!labels.contains(per_record), "{per_record} must not be an index label");
    }
    // everything else becomes structured metadata, never dropped
    let last = cfgs.last().unwrap();
    assert_eq!(s(&last["action"]), "structured_metadata");
    assert_eq!(s(&last["regex"]), ".*");
    for c in cfgs.iter().chain(at(otlp, &["log_attributes"]).as_sequence().unwrap()) {
        let action = s(&c["action"]);
        assert!(matches!(action.as_str(), "index_label" | "structured_metadata"), "no attribute is dropped: {action}");
    }
    let max_labels: u64 = s(at(&l, &["limits_config", "max_label_names_per_series"])).parse().unwrap();
    assert!(max_labels as usize > labels.len(), "room for the labels");
}

#[test]
fn loki_limits_take_everything_the_pipeline_sends() {
    let l = yaml("loki/loki.yaml");
    let lim = at(&l, &["limits_config"]);
    // no loss: a backlog of any age is accepted (retention removes it later)
    assert_eq!(lim["reject_old_samples"], Value::Bool(false), "reject_old_samples would drop a week-old backlog");
    // a log line is the relay's body: at most the cap plus its ~100-byte note
    let cap = relay_body_cap();
    assert_eq!(cap, 1024 * 1024);
    let line = loki_bytes(&s(&lim["max_line_size"]));
    assert!(line >= cap + 1024, "max_line_size {line} < relay body cap {cap} + note");
    assert_eq!(lim["max_line_size_truncate"], Value::Bool(false), "never cut a journal record silently");
    // command/path/prompt attributes are capped at capture.max_bytes (64 KiB) each
    assert!(loki_bytes(&s(&lim["max_structured_metadata_size"])) >= 4 * 65536, "structured metadata size");
    assert!(s(&lim["max_structured_metadata_entries_count"]).parse::<u64>().unwrap() >= 64);
    // a whole collector batch fits the burst, the per-stream burst and the body limit
    let batch = collector_batch_bytes("otlp_http/loki");
    let mib = 1048576.0;
    let rate: f64 = s(&lim["ingestion_rate_mb"]).parse().unwrap();
    let burst: f64 = s(&lim["ingestion_burst_size_mb"]).parse().unwrap();
    assert!(burst * mib >= batch as f64, "ingestion_burst_size_mb {burst} MiB < collector batch {batch} B");
    assert!(rate * mib >= batch as f64, "ingestion rate below one batch per second");
    assert!(loki_bytes(&s(&lim["per_stream_rate_limit_burst"])) >= batch, "per-stream burst < batch");
    assert!(loki_bytes(&s(&lim["per_stream_rate_limit"])) >= batch, "per-stream rate < batch per second");
    let recv: u64 = s(at(&l, &["server", "grpc_server_max_recv_msg_size"])).parse().unwrap();
    assert!(recv >= batch, "server.grpc_server_max_recv_msg_size {recv} (the OTLP body limit) < batch {batch}");
    // a single record can be bigger than the batch target: it must still fit
    assert!(recv as f64 >= (cap + 2 * 65536) as f64, "one maximal record fits the body limit");
}

#[test]
fn loki_rules_are_prometheus_rule_files() {
    let r = yaml("loki/rules/agent-telemetry.yaml");
    let groups = at(&r, &["groups"]).as_sequence().unwrap();
    let mut names = BTreeSet::new();
    for g in groups {
        assert!(!s(&g["name"]).is_empty());
        for rule in g["rules"].as_sequence().unwrap() {
            let name = s(&rule["alert"]);
            assert!(names.insert(name.clone()), "duplicate alert {name}");
            let expr = s(&rule["expr"]);
            assert!(expr.contains("{service_name=\"claude-code\"}"), "{name}: selects the relay's service: {expr}");
            assert!(rule["labels"].get("severity").is_some(), "{name}: severity label");
            assert!(
                rule["annotations"].get("summary").is_some() && rule["annotations"].get("description").is_some(),
                "{name}: annotations"
            );
        }
    }
    for must in [
        "AgentHighRiskFinding",
        "AgentOutsideProject",
        "AgentSensitiveFile",
        "AgentRiskyCommand",
        "AgentSecretRedacted",
        "AgentTelemetryTampering",
        "AgentJournalRepaired",
        "AgentConfigError",
    ] {
        assert!(names.contains(must), "alert rule {must}");
    }
}

// ---------------------------------------------------------------------------------------
// Tempo

/// Top-level blocks of Tempo 2.x's configuration that this file may use (2.8), and the ones
/// Tempo 3 removed.
const TEMPO2_BLOCKS: [&str; 14] = [
    "stream_over_http_enabled",
    "multitenancy_enabled",
    "server",
    "distributor",
    "ingester",
    "compactor",
    "storage",
    "overrides",
    "usage_report",
    "querier",
    "query_frontend",
    "metrics_generator",
    "memberlist",
    "target",
];

#[test]
fn tempo_config_is_for_one_stated_version() {
    let text = read("tempo/tempo.yaml");
    let commented = std::fs::read_to_string(root().join("tempo/tempo.yaml")).unwrap();
    assert!(commented.contains("Tempo 2.8"), "tempo.yaml states the Tempo version it is written for");
    let t: Value = serde_yaml::from_str(&with_defaults(&text)).unwrap();
    for (k, _) in t.as_mapping().unwrap() {
        let k = s(k);
        assert!(TEMPO2_BLOCKS.contains(&k.as_str()), "{k} is not a Tempo 2.8 top-level block");
    }
    // Tempo 3 blocks (the Kafka-based architecture) must not be mixed in
    for three in ["ingest", "block_builder", "live_store", "backend_scheduler", "backend_worker"] {
        assert!(t.get(three).is_none(), "{three} is a Tempo 3 block in a Tempo 2.8 file");
    }
    // 2.3+ overrides layout only (the legacy flat `overrides:` keys are gone in 3)
    let ov = at(&t, &["overrides"]).as_mapping().unwrap();
    assert_eq!(ov.len(), 1, "overrides.defaults only");
    assert!(ov.contains_key(Value::from("defaults")));
}

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
    // a whole collector batch fits the receiver and the burst
    let batch = collector_batch_bytes("otlp_grpc/tempo");
    let recv_mib =
        at(&t, &["distributor", "receivers", "otlp", "protocols", "grpc", "max_recv_msg_size_mib"]).as_u64().unwrap();
    assert!(recv_mib * 1048576 > batch, "Tempo's OTLP gRPC receive limit {recv_mib} MiB <= batch {batch} B");
    let burst = at(&t, &["overrides", "defaults", "ingestion", "burst_size_bytes"]).as_u64().unwrap();
    assert!(burst >= batch, "Tempo ingestion burst {burst} < batch {batch}");
    let rate = at(&t, &["overrides", "defaults", "ingestion", "rate_limit_bytes"]).as_u64().unwrap();
    assert!(rate >= batch, "Tempo ingestion rate below one batch per second");
}

// ---------------------------------------------------------------------------------------
// Grafana

const GRAFANA_PROVISIONING: [&str; 2] =
    ["grafana/provisioning/datasources/agent-telemetry.yaml", "grafana/provisioning/dashboards/agent-telemetry.yaml"];

fn datasources() -> Vec<Value> {
    let d = yaml("grafana/provisioning/datasources/agent-telemetry.yaml");
    at(&d, &["datasources"]).as_sequence().unwrap().clone()
}

/// The datasources as Grafana provisions them with grafana/agent-telemetry.env.
fn datasources_expanded() -> Vec<serde_json::Value> {
    let env = grafana_env();
    datasources()
        .iter()
        .map(|d| {
            let mut j: serde_json::Value = serde_json::to_value(d).unwrap();
            expand_json(&mut j, &env);
            j
        })
        .collect()
}

fn expand_json(v: &mut serde_json::Value, env: &BTreeMap<String, String>) {
    match v {
        serde_json::Value::String(x) => *x = grafana_expand(x, env),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| expand_json(x, env)),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| expand_json(x, env)),
        _ => {}
    }
}

#[test]
fn grafana_expansion_follows_grafanas_rules() {
    let env: BTreeMap<String, String> =
        [("A", "x"), ("B_1", "y")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(grafana_expand("$A ${B_1}", &env), "x y");
    assert_eq!(grafana_expand("${A:-default}", &env), "", "no defaults: the name `A:-default` is unset");
    assert_eq!(grafana_expand("${MISSING}", &env), "");
    assert_eq!(grafana_expand("$${__span.traceId}", &env), "${__span.traceId}", "$$ is a literal $");
    assert_eq!(grafana_expand("a$$b", &env), "a$b");
    assert_eq!(grafana_expand("$__env{A}", &env), "x");
    assert_eq!(grafana_expand("cost $5", &env), "cost ", "Go's os.Expand: $5 is a (special) variable");
    assert_eq!(grafana_expand("${}", &env), "", "`${{}}` is eaten");
    assert_eq!(grafana_expand("end$", &env), "end$");
    assert_eq!(grafana_expand("$A.b", &env), "x.b");
}

#[test]
fn grafana_provisioning_expands_to_non_empty_values() {
    let env = grafana_env();
    for (k, v) in &env {
        assert!(k.starts_with("AGENT_TELEMETRY_"), "{k}: namespaced");
        assert!(!v.is_empty(), "{k} has a value in agent-telemetry.env");
    }
    for f in GRAFANA_PROVISIONING {
        let raw_text = read(f);
        assert!(!raw_text.contains(":-"), "{f}: Grafana has no ${{VAR:-default}}");
        let v = yaml(f);
        let mut strings = Vec::new();
        grafana_expanded_strings(&v, &env, String::new(), &mut strings);
        let mut vars_used = 0;
        for (path, raw, expanded) in &strings {
            if raw.contains('$') && !raw.contains("$$") {
                vars_used += 1;
            }
            assert!(!expanded.trim().is_empty(), "{f}{path}: {raw:?} expands to the empty string");
            // what is left of `$` after expansion must be one of Grafana's own link variables
            let leftover =
                expanded.replace("${__span.traceId}", "").replace("${__span.spanId}", "").replace("${__value.raw}", "");
            assert!(!leftover.contains('$'), "{f}{path}: {raw:?} -> {expanded:?} keeps a `$`");
            // and with an empty environment the variables really are needed (no hidden default)
            if raw.contains("${AGENT_TELEMETRY_") {
                let bare = grafana_expand(raw, &BTreeMap::new());
                assert_ne!(&bare, expanded, "{f}{path}: the environment changes the value");
            }
        }
        assert!(vars_used > 0, "{f}: reads the environment");
    }
    // the dashboards path is absolute
    let prov = yaml("grafana/provisioning/dashboards/agent-telemetry.yaml");
    let path = grafana_expand(&s(&at(&prov, &["providers"])[0]["options"]["path"]), &env);
    assert!(path.starts_with('/'), "dashboards path {path} is absolute");
    assert_eq!(s(&at(&prov, &["providers"])[0]["type"]), "file");
}

#[test]
fn grafana_tenants_are_the_collectors() {
    // The collector's defaults (nothing set) and Grafana's environment name the same tenants.
    let c = collector();
    let env = grafana_env();
    let ds = datasources_expanded();
    let by_type = |t: &str| ds.iter().find(|d| d["type"] == t).unwrap_or_else(|| panic!("a {t} datasource")).clone();
    let header = |d: &serde_json::Value, name: &str| -> String {
        let jd = &d["jsonData"];
        for i in 1..=9 {
            if jd[format!("httpHeaderName{i}")] == name {
                return d["secureJsonData"][format!("httpHeaderValue{i}")].as_str().unwrap_or_default().to_string();
            }
        }
        panic!("{}: no {name} header", d["name"]);
    };
    let loki_tenant = s(at(&c, &["exporters", "otlp_http/loki", "headers", "X-Scope-OrgID"]));
    let tempo_tenant = s(at(&c, &["exporters", "otlp_grpc/tempo", "headers", "X-Scope-OrgID"]));
    assert_eq!(header(&by_type("loki"), "X-Scope-OrgID"), loki_tenant, "Loki tenant");
    assert_eq!(header(&by_type("tempo"), "X-Scope-OrgID"), tempo_tenant, "Tempo tenant");
    let vl = by_type("victoriametrics-logs-datasource");
    assert_eq!(header(&vl, "AccountID"), s(at(&c, &["exporters", "otlp_http/victorialogs", "headers", "AccountID"])));
    assert_eq!(header(&vl, "ProjectID"), s(at(&c, &["exporters", "otlp_http/victorialogs", "headers", "ProjectID"])));
    // and the same variable names: setting one variable moves both sides
    let raw = read("otel-collector.yaml");
    for var in [
        "AGENT_TELEMETRY_LOKI_TENANT",
        "AGENT_TELEMETRY_TEMPO_TENANT",
        "AGENT_TELEMETRY_VICTORIALOGS_ACCOUNT_ID",
        "AGENT_TELEMETRY_VICTORIALOGS_PROJECT_ID",
    ] {
        assert!(raw.contains(&format!("${{env:{var}:-")), "collector reads {var}");
        assert!(env.contains_key(var), "agent-telemetry.env sets {var}");
        assert!(read(GRAFANA_PROVISIONING[0]).contains(&format!("${{{var}}}")), "datasources read {var}");
    }
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
    let ds = datasources_expanded();
    let mut by_uid: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for d in &ds {
        let uid = d["uid"].as_str().unwrap().to_string();
        assert!(by_uid.insert(uid.clone(), d.clone()).is_none(), "duplicate uid {uid}");
    }
    for uid in
        ["agent-telemetry-loki", "agent-telemetry-tempo", "agent-telemetry-jaeger", "agent-telemetry-victorialogs"]
    {
        assert!(by_uid.contains_key(uid), "datasource uid {uid}");
    }
    let mut trace_to_logs = 0;
    let mut logs_to = BTreeSet::new();
    for d in &ds {
        let ty = d["type"].as_str().unwrap();
        let jd = &d["jsonData"];
        if ty == "tempo" || ty == "jaeger" {
            let t2l = &jd["tracesToLogsV2"];
            let target = t2l["datasourceUid"].as_str().unwrap_or_else(|| panic!("{ty}: tracesToLogsV2"));
            assert!(by_uid.contains_key(target), "{ty}: tracesToLogsV2 target {target} exists");
            assert_eq!(t2l["customQuery"], true);
            let q = t2l["query"].as_str().unwrap();
            assert!(
                q.contains("${__span.traceId}") && q.contains("${__span.spanId}"),
                "{ty}: by trace and span id: {q}"
            );
            assert!(!q.contains("__span.tags"), "{ty}: a span tag the span may not carry hides the link: {q}");
            assert!(q.starts_with("{service_name=\"claude-code\"}"), "{ty}: the relay's service.name: {q}");
            trace_to_logs += 1;
        }
        if let Some(fields) = jd["derivedFields"].as_array() {
            for f in fields {
                assert!(f.get("regex").is_none(), "{ty}: a `regex` key is silently ignored; use matcherRegex");
                assert_eq!(f["matcherType"], "label", "{ty}: trace_id is structured metadata / a field");
                assert_eq!(f["matcherRegex"], "trace_id");
                assert_eq!(f["url"], "${__value.raw}");
                let target = f["datasourceUid"].as_str().unwrap();
                let target_ty =
                    by_uid.get(target).unwrap_or_else(|| panic!("{ty}: derived field target {target} exists"))["type"]
                        .as_str()
                        .unwrap();
                assert!(matches!(target_ty, "tempo" | "jaeger"), "logs link to a trace datasource");
                logs_to.insert(format!("{ty}->{target_ty}"));
            }
        }
    }
    assert_eq!(trace_to_logs, 2, "Tempo and Jaeger link to logs");
    for l in ["loki->tempo", "loki->jaeger", "victoriametrics-logs-datasource->jaeger"] {
        assert!(logs_to.contains(l), "logs -> trace link {l}");
    }
}

fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = root().join("grafana/dashboards");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        out.push((p.file_name().unwrap().to_string_lossy().to_string(), v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn grafana_dashboards_are_complete() {
    let uids: BTreeSet<String> = datasources().iter().map(|d| s(&d["uid"])).collect();
    let ds = dashboards();
    let titles: BTreeSet<String> = ds.iter().map(|(_, v)| v["uid"].as_str().unwrap().to_string()).collect();
    for want in
        ["agent-telemetry-activity", "agent-telemetry-security", "agent-telemetry-session", "agent-telemetry-fleet"]
    {
        assert!(titles.contains(want), "dashboard {want}");
    }
    for (f, v) in &ds {
        assert!(
            v["title"].is_string() && v["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{f}: title and description"
        );
        let from = v["time"]["from"].as_str().unwrap_or_else(|| panic!("{f}: a default time range"));
        assert!(from.starts_with("now-"), "{f}: relative default time range, got {from}");
        let vars: BTreeSet<String> = v["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect();
        for want in ["project", "agent", "group", "session"] {
            assert!(vars.contains(want), "{f}: template variable {want}");
        }
        let panels = v["panels"].as_array().unwrap();
        assert!(!panels.is_empty());
        let mut ids = BTreeSet::new();
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(ids.insert(p["id"].as_i64().unwrap()), "{f}: unique panel ids");
            assert!(p["description"].as_str().is_some_and(|d| d.len() > 20), "{f}: panel {title:?} has a description");
            for t in p["targets"].as_array().unwrap() {
                let q = t["expr"].as_str().or(t["query"].as_str()).unwrap_or_default();
                for var in ["$project", "$agent", "$group", "$session"] {
                    assert!(q.contains(var), "{f}: panel {title:?} honours {var}: {q}");
                }
                assert!(!q.contains("agent-telemetry\""), "{f}: panel {title:?} selects the wrong service: {q}");
            }
        }
        let mut refs = Vec::new();
        collect_uids(v, &mut refs);
        for r in refs {
            assert!(uids.contains(&r), "{f}: datasource uid {r} is provisioned");
        }
    }
}

// ---------------------------------------------------------------------------------------
// justfile and scripts

#[test]
fn justfile_has_the_stack_recipes() {
    let j = read("justfile");
    for r in ["stack-build", "stack-up", "stack-down", "stack-status", "stack-logs"] {
        assert!(j.lines().any(|l| l.starts_with(r)), "justfile recipe {r}");
        let script = r.trim_start_matches("stack-");
        let script =
            if script == "build" || script == "up" || script == "down" || script == "status" || script == "logs" {
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
