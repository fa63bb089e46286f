//! Fast static checks of deploy/: the collector tier's configs (collector-agent.yaml, its DNS
//! overlay, collector-gateway.yaml), the Kubernetes manifests of the gateway tier and the Helm
//! values for Loki and Tempo. The collector's own `validate` of the tier's configs, the tier run
//! for real and the manifests against the Kubernetes schemas are slow-stage tests
//! (tests/slow/tier.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Every `${env:NAME:-default}` replaced by its default (what the file means with nothing set);
/// a reference without a default fails: `otelcol validate` would need the variable.
fn with_defaults(rel: &str) -> String {
    let text: String = read(rel).lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').expect("unclosed ${");
        let inner = after[..end].strip_prefix("env:").unwrap_or_else(|| panic!("{rel}: ${{{}}}", &after[..end]));
        let (_, default) = inner.split_once(":-").unwrap_or_else(|| panic!("{rel}: ${{env:{inner}}} has no default"));
        out.push_str(default);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&with_defaults(rel)).unwrap_or_else(|e| panic!("parse {rel}: {e}"))
}

/// The names of every `${env:NAME...}` in a file.
fn env_names(rel: &str) -> BTreeSet<String> {
    read(rel).split("${env:").skip(1).map(|r| r.split([':', '}']).next().unwrap().to_string()).collect()
}

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        cur = cur.get(*k).unwrap_or_else(|| panic!("missing key {}", path[..=i].join(".")));
    }
    cur
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn list(v: &Value) -> Vec<String> {
    v.as_sequence().unwrap_or_else(|| panic!("not a list: {v:?}")).iter().map(text).collect()
}

/// Every exporter that sends to a backend or a gateway keeps a persistent queue and never gives up.
fn assert_zero_loss_exporters(rel: &str, cfg: &Value) {
    for (name, e) in at(cfg, &["exporters"]).as_mapping().unwrap() {
        let name = text(name);
        assert_eq!(text(at(e, &["sending_queue", "storage"])), "file_storage/queue", "{rel}: {name}");
        assert_eq!(text(at(e, &["sending_queue", "enabled"])), "true", "{rel}: {name}");
        assert_eq!(text(at(e, &["retry_on_failure", "max_elapsed_time"])), "0", "{rel}: {name}");
    }
}

#[test]
fn the_agent_routes_by_trace_id_to_the_gateways_with_a_persistent_queue() {
    let rel = "deploy/collector-agent.yaml";
    let cfg = yaml(rel);
    let lb = at(&cfg, &["exporters", "loadbalancing"]);
    assert_eq!(text(at(lb, &["routing_key"])), "traceID");
    assert_eq!(list(at(lb, &["resolver", "static", "hostnames"])), ["agent-telemetry-gateway:4317"]);
    assert_eq!(text(at(lb, &["protocol", "otlp", "auth", "authenticator"])), "bearertokenauth/gateway");
    assert_eq!(text(at(lb, &["protocol", "otlp", "tls", "insecure"])), "false", "TLS to the gateways by default");
    assert_zero_loss_exporters(rel, &cfg);
    // OTLP in on loopback by default.
    for p in ["grpc", "http"] {
        let ep = text(at(&cfg, &["receivers", "otlp", "protocols", p, "endpoint"]));
        assert!(ep.starts_with("127.0.0.1:"), "{p}: {ep}");
    }
    for p in ["logs", "traces"] {
        assert_eq!(list(at(&cfg, &["service", "pipelines", p, "exporters"])), ["loadbalancing"]);
    }
    let ext = list(at(&cfg, &["service", "extensions"]));
    assert!(ext.contains(&"file_storage/queue".into()) && ext.contains(&"bearertokenauth/gateway".into()));
    // The DNS overlay replaces the static resolver (both at once is an error of the exporter).
    let dns = yaml("deploy/collector-agent.dns.yaml");
    let r = at(&dns, &["exporters", "loadbalancing", "resolver"]);
    assert!(at(r, &["static"]).is_null(), "the overlay must clear the static list");
    assert_eq!(text(at(r, &["dns", "port"])), "4317");
}

#[test]
fn the_gateway_authenticates_samples_by_findings_and_keeps_every_log() {
    let rel = "deploy/collector-gateway.yaml";
    let cfg = yaml(rel);
    for p in ["grpc", "http"] {
        let proto = at(&cfg, &["receivers", "otlp", "protocols", p]);
        assert_eq!(text(at(proto, &["auth", "authenticator"])), "bearertokenauth/clients", "{p}");
        assert!(
            !text(at(proto, &["tls", "cert_file"])).is_empty() && !text(at(proto, &["tls", "key_file"])).is_empty()
        );
    }
    assert!(at(&cfg, &["extensions", "bearertokenauth/clients", "filename"]).is_string());
    assert_zero_loss_exporters(rel, &cfg);

    let logs = list(at(&cfg, &["service", "pipelines", "logs", "processors"]));
    let traces = list(at(&cfg, &["service", "pipelines", "traces", "processors"]));
    assert_eq!(logs.first().map(String::as_str), Some("memory_limiter"));
    assert_eq!(traces.first().map(String::as_str), Some("memory_limiter"));
    assert!(!logs.iter().any(|p| p.starts_with("tail_sampling")), "log records are the audit trail: never sampled");
    assert_eq!(traces.last().map(String::as_str), Some("tail_sampling"));
    assert_eq!(list(at(&cfg, &["service", "pipelines", "logs", "exporters"])), ["otlp_http/loki"]);
    assert_eq!(list(at(&cfg, &["service", "pipelines", "traces", "exporters"])), ["otlp_grpc/tempo"]);

    // The policies name the attributes the relay really sets (src/assemble/attrs.rs).
    let attrs = read("src/assemble/attrs.rs");
    let policies = at(&cfg, &["processors", "tail_sampling", "policies"]).as_sequence().unwrap();
    let by_type: BTreeMap<String, &Value> = policies.iter().map(|p| (text(at(p, &["type"])), p)).collect();
    let risk = text(at(by_type["string_attribute"], &["string_attribute", "key"]));
    let incomplete = text(at(by_type["boolean_attribute"], &["boolean_attribute", "key"]));
    for key in [&risk, &incomplete] {
        assert!(attrs.contains(&format!("\"{key}\"")), "{key} is not an attribute the relay sets");
    }
    assert_eq!(risk, "agent_telemetry.security.risk");
    assert_eq!(list(at(by_type["status_code"], &["status_code", "status_codes"])), ["ERROR"]);
    assert_eq!(text(at(by_type["probabilistic"], &["probabilistic", "sampling_percentage"])), "10");
    assert_eq!(policies.len(), 4, "any other policy would widen or narrow what is kept");
}

#[test]
fn the_collector_build_has_what_the_tier_needs() {
    let b = read("builder-config.yaml");
    for m in [
        "exporter/loadbalancingexporter v0.161.0",
        "processor/tailsamplingprocessor v0.161.0",
        "extension/bearertokenauthextension v0.161.0",
        "extension/storage/filestorage v0.161.0",
    ] {
        assert!(b.contains(m), "builder-config.yaml lacks {m}");
    }
    assert!(b.contains("github.com/aws/aws-sdk-go-v2/service/servicediscovery => "));
}

#[derive(Deserialize)]
struct Doc {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    metadata: Value,
    #[serde(default)]
    spec: Value,
    #[serde(default)]
    data: Value,
}

fn k8s_docs() -> Vec<(String, Doc)> {
    let files = crate::harness::k8s_manifests();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let t = std::fs::read_to_string(&f).unwrap();
        for d in serde_yaml::Deserializer::from_str(&t) {
            let v = Value::deserialize(d).unwrap_or_else(|e| panic!("{name}: {e}"));
            if v.is_null() {
                continue;
            }
            let doc: Doc = serde_yaml::from_value(v).unwrap_or_else(|e| panic!("{name}: {e}"));
            out.push((name.clone(), doc));
        }
    }
    out
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector.as_mapping().is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

#[test]
fn the_gateway_manifests_hold_together() {
    let known: BTreeMap<&str, &str> = [
        ("Deployment", "apps/v1"),
        ("Service", "v1"),
        ("ConfigMap", "v1"),
        ("HorizontalPodAutoscaler", "autoscaling/v2"),
        ("PodDisruptionBudget", "policy/v1"),
    ]
    .into();
    let docs = k8s_docs();
    for (f, d) in &docs {
        assert_eq!(known.get(d.kind.as_str()), Some(&d.api_version.as_str()), "{f}: {} {}", d.api_version, d.kind);
        assert!(at(&d.metadata, &["name"]).is_string() && at(&d.metadata, &["namespace"]).is_string(), "{f}");
    }
    let one = |kind: &str| -> Vec<&Doc> { docs.iter().filter(|(_, d)| d.kind == kind).map(|(_, d)| d).collect() };
    let [deploy] = one("Deployment")[..] else { panic!("one Deployment") };
    let deploy_name = text(at(&deploy.metadata, &["name"]));
    let pod_labels = at(&deploy.spec, &["template", "metadata", "labels"]);
    assert!(labels_match(at(&deploy.spec, &["selector", "matchLabels"]), pod_labels));
    let pod = at(&deploy.spec, &["template", "spec"]);
    let [c] = &at(pod, &["containers"]).as_sequence().unwrap()[..] else { panic!("one container") };
    assert!(text(at(c, &["image"])).contains(':'), "a pinned image");
    let ports: BTreeSet<String> =
        at(c, &["ports"]).as_sequence().unwrap().iter().map(|p| text(at(p, &["name"]))).collect();
    for probe in ["readinessProbe", "livenessProbe"] {
        assert!(ports.contains(&text(at(c, &[probe, "httpGet", "port"]))), "{probe}");
    }
    // Every variable it sets is one the gateway's config reads.
    let read_vars = env_names("deploy/collector-gateway.yaml");
    for e in at(c, &["env"]).as_sequence().unwrap() {
        let n = text(at(e, &["name"]));
        if n.starts_with("AGENT_TELEMETRY_") {
            assert!(read_vars.contains(&n), "{n} is set but deploy/collector-gateway.yaml does not read it");
        }
    }
    // Mounts name volumes; the config volume is the shipped ConfigMap.
    let volumes: BTreeMap<String, &Value> =
        at(pod, &["volumes"]).as_sequence().unwrap().iter().map(|v| (text(at(v, &["name"])), v)).collect();
    for m in at(c, &["volumeMounts"]).as_sequence().unwrap() {
        assert!(volumes.contains_key(&text(at(m, &["name"]))), "mount {m:?}");
    }
    let [cm] = one("ConfigMap")[..] else { panic!("one ConfigMap") };
    assert_eq!(text(at(volumes["config"], &["configMap", "name"])), text(at(&cm.metadata, &["name"])));
    assert!(
        text(at(&cm.data, &["collector-gateway.yaml"])) == read("deploy/collector-gateway.yaml"),
        "deploy/k8s/gateway-configmap.yaml must hold deploy/collector-gateway.yaml verbatim"
    );
    // The container's args name the mounted file.
    let args = list(at(c, &["args"])).join(" ");
    assert!(args.contains("/etc/agent-telemetry/collector-gateway.yaml"), "{args}");

    let services = one("Service");
    assert_eq!(services.len(), 2, "a ClusterIP Service and a headless one");
    assert!(services.iter().any(|s| s.spec.get("clusterIP").map(text).as_deref() == Some("None")));
    for s in services {
        assert!(labels_match(at(&s.spec, &["selector"]), pod_labels), "Service selects the gateway pods");
        for p in at(&s.spec, &["ports"]).as_sequence().unwrap() {
            assert!(ports.contains(&text(at(p, &["targetPort"]))), "targetPort {p:?}");
        }
    }
    let [hpa] = one("HorizontalPodAutoscaler")[..] else { panic!("one HPA") };
    assert_eq!(text(at(&hpa.spec, &["scaleTargetRef", "kind"])), "Deployment");
    assert_eq!(text(at(&hpa.spec, &["scaleTargetRef", "name"])), deploy_name);
    let (min, max) =
        (at(&hpa.spec, &["minReplicas"]).as_u64().unwrap(), at(&hpa.spec, &["maxReplicas"]).as_u64().unwrap());
    assert!(2 <= min && min <= max, "at least two gateways: {min}..{max}");
    let [pdb] = one("PodDisruptionBudget")[..] else { panic!("one PDB") };
    assert!(labels_match(at(&pdb.spec, &["selector", "matchLabels"]), pod_labels));
}

#[test]
fn the_helm_values_agree_with_the_shipped_loki_and_tempo_configs() {
    let loki = yaml("deploy/helm/loki-distributed.values.yaml");
    let tempo = yaml("deploy/helm/tempo-distributed.values.yaml");
    let loki_cfg: Value =
        serde_yaml::from_str(&read("loki/loki.yaml").replace("${AGENT_TELEMETRY_LOKI_RETENTION:-400d}", "400d"))
            .unwrap();
    let sc = at(&loki, &["loki", "structuredConfig"]);
    assert_eq!(text(at(sc, &["auth_enabled"])), "true", "every push names its tenant");
    for k in [
        "retention_period",
        "max_line_size",
        "ingestion_burst_size_mb",
        "per_stream_rate_limit_burst",
        "max_structured_metadata_size",
    ] {
        assert_eq!(at(sc, &["limits_config", k]), at(&loki_cfg, &["limits_config", k]), "limits_config.{k}");
    }
    assert_eq!(
        at(sc, &["limits_config", "otlp_config"])
            .get("resource_attributes")
            .map(|r| r["attributes_config"][0]["attributes"].clone()),
        Some(
            at(&loki_cfg, &["limits_config", "otlp_config", "resource_attributes", "attributes_config"])[0]
                ["attributes"]
                .clone()
        ),
        "the same index labels"
    );
    let tempo_text = read("tempo/tempo.yaml");
    assert!(tempo_text.contains(&format!(
        "${{AGENT_TELEMETRY_TEMPO_RETENTION:-{}}}",
        text(at(&tempo, &["compactor", "config", "compaction", "block_retention"]))
    )));
    assert_eq!(text(at(&tempo, &["multitenancyEnabled"])), "true");
    assert_eq!(text(at(&tempo, &["traces", "otlp", "grpc", "receiverConfig", "max_recv_msg_size_mib"])), "16");
    // The gateway Deployment's endpoints are the charts' Services (fullnameOverride).
    let d = read("deploy/k8s/gateway-deployment.yaml");
    assert!(d.contains(&format!("{}-distributor.", text(at(&loki, &["fullnameOverride"])))));
    assert!(d.contains(&format!("{}-distributor.", text(at(&tempo, &["fullnameOverride"])))));
}
