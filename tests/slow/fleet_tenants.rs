//! Tenants per agent group, against the real collector and VictoriaLogs (slow stage): the
//! registry's two groups (tests/data/fleet/tenants.toml) get the collector fragment that
//! `fleet collector-config` writes, the built collector validates it (with every backend on
//! too), and then agents of group alpha, group beta and no group send sessions through
//! hook → journal → relay (one OTLP stream) → collector → VictoriaLogs. Each tenant holds
//! exactly its group's records (by `agent_telemetry.seq`, against the journal): alpha's
//! AccountID sees no beta record and no ungrouped one, and so on. The cross-tenant view:
//! this VictoriaLogs has no multi-tenant query (a query names one AccountID/ProjectID), so it
//! is `/select/tenant_ids` (asked with no tenant header, the operator's endpoint) and one query
//! per tenant it lists, unioned — which must be every record of the journal, each once.

use crate::harness::fleet;
use crate::harness::relay;
use crate::harness::stack;

use fleet::*;
use relay::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

type Tenant = (u32, u32);

fn fragment(f: &FleetInstall, backends: &str, out: &Path) {
    let o = f
        .command(&["fleet", "collector-config", "--backends", backends, "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "fleet collector-config: {}", String::from_utf8_lossy(&o.stderr));
}

fn validate(bin: &Path, fragment: &Path, env: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(bin);
    cmd.arg("validate").arg("--config").arg(root.join("otel-collector.yaml")).arg("--config").arg(fragment);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AGENT_TELEMETRY_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "otelcol validate {} failed:\n{}{}",
        fragment.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every row of one tenant: `agent_telemetry.seq` → `agent.group` ("" when none).
fn tenant_rows(s: &stack::Stack, t: Tenant) -> BTreeMap<u64, String> {
    let url = format!(
        "{}/select/logsql/query?query={}",
        s.victorialogs_url(),
        stack::percent_encode("* | fields agent_telemetry.seq, agent.group")
    );
    let (a, p) = (t.0.to_string(), t.1.to_string());
    let (status, body) =
        stack::http_get(&url, &[("AccountID", &a), ("ProjectID", &p)]).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(&body).lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let seq: u64 = v["agent_telemetry.seq"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a row without seq in {t:?}: {line}"));
        let group = v["agent.group"].as_str().unwrap_or("").to_string();
        assert!(out.insert(seq, group).is_none(), "seq {seq} twice in tenant {t:?}");
    }
    out
}

#[test]
#[ignore = "slow stage: builds/starts the collector and VictoriaLogs (just test-slow)"]
fn each_group_lands_in_its_own_tenant_and_a_cross_tenant_view_sees_all() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = FleetInstall::new("fleet-tenants-");
    let bin = stack::collector_bin(root);

    // The fragment is valid for the built collector: as the test runs it, and with every backend on.
    let all = f.env.dir.path().join("fleet-all.yaml");
    fragment(&f, "victorialogs,loki,jaeger,tempo,file", &all);
    validate(
        &bin,
        &all,
        &[
            ("AGENT_TELEMETRY_LOGS_EXPORTERS", "[otlp_http/victorialogs, otlp_http/loki, file/archive, debug]"),
            ("AGENT_TELEMETRY_TRACES_EXPORTERS", "[otlp_grpc/jaeger, otlp_grpc/tempo, file/archive, debug]"),
        ],
    );
    let frag = f.env.dir.path().join("fleet-collector.yaml");
    fragment(&f, "victorialogs", &frag);
    validate(&bin, &frag, &[("AGENT_TELEMETRY_TRACES_EXPORTERS", "[debug]")]);
    // And a fragment that is wrong is refused: the check can fail.
    let broken = f.env.dir.path().join("fleet-broken.yaml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&frag).unwrap().replace("filter/fleet_alpha]", "filter/fleet_gamma]"),
    )
    .unwrap();
    let o = Command::new(&bin)
        .arg("validate")
        .arg("--config")
        .arg(root.join("otel-collector.yaml"))
        .arg("--config")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!o.status.success(), "a pipeline naming an undefined filter must not validate");

    let frag_s = frag.display().to_string();
    let s = stack::Stack::start_with(&[
        ("AGENT_TELEMETRY_BACKENDS", "victorialogs"),
        ("AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG", &frag_s),
    ]);

    f.run_all("tn");
    relay_once(&f.env, &Dest::Grpc(s.otlp_grpc_endpoint()), &[], Duration::from_secs(120));

    // What each tenant must hold, from the journal.
    let tenants: BTreeMap<&str, Tenant> = [("alpha", (21, 0)), ("beta", (22, 3)), ("", (0, 0))].into_iter().collect();
    let mut want: BTreeMap<Tenant, BTreeMap<u64, String>> = BTreeMap::new();
    let journal = journal_records(&f.env.data);
    for r in &journal {
        let g = r["agent_context"]["agent_group"].as_str().unwrap_or("");
        want.entry(tenants[g]).or_default().insert(r["seq"].as_u64().unwrap(), g.to_string());
    }
    assert_eq!(want.len(), 3, "records of alpha, beta and no group");
    for (t, rows) in &want {
        assert!(rows.len() >= 12, "tenant {t:?}: two sessions of six events, got {}", rows.len());
    }

    // Wait until every tenant has as many rows as it should, then once more after a pause:
    // a record sent to a wrong tenant would show as an extra row or a missing one.
    let settled = stack::wait_for(Duration::from_secs(90), || {
        want.iter().all(|(t, rows)| tenant_rows(&s, *t).len() >= rows.len()).then_some(())
    });
    assert!(
        settled.is_some(),
        "not every tenant got its records: {:?}\n{}",
        want.keys().map(|t| (t, tenant_rows(&s, *t).len())).collect::<Vec<_>>(),
        s.logs()
    );
    std::thread::sleep(Duration::from_secs(3));
    for (t, rows) in &want {
        let got = tenant_rows(&s, *t);
        assert_eq!(&got, rows, "tenant {t:?} holds exactly its group's records");
    }
    let alpha = tenant_rows(&s, (21, 0));
    assert!(alpha.values().all(|g| g == "alpha") && !alpha.is_empty(), "group alpha's tenant: alpha only");
    let beta = tenant_rows(&s, (22, 3));
    assert!(beta.values().all(|g| g == "beta") && !beta.is_empty(), "group beta's tenant: beta only");
    assert!(tenant_rows(&s, (22, 0)).is_empty(), "ProjectID is part of the tenant: 22:0 is not beta's 22:3");
    assert!(tenant_rows(&s, (0, 0)).values().all(String::is_empty), "the default tenant: no grouped record");

    // The cross-tenant view: the tenants that hold data, one query each, unioned.
    let ids = s.vl_tenant_ids().unwrap();
    assert_eq!(ids, want.keys().copied().collect::<BTreeSet<_>>(), "tenant_ids");
    let mut union: BTreeMap<u64, String> = BTreeMap::new();
    for t in &ids {
        for (seq, g) in tenant_rows(&s, *t) {
            assert!(union.insert(seq, g).is_none(), "seq {seq} in two tenants");
        }
    }
    let all_seqs: BTreeSet<u64> = journal.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        union.keys().copied().collect::<BTreeSet<_>>(),
        all_seqs,
        "the union of the tenants is the whole journal"
    );
    eprintln!(
        "tenants: alpha 21:0 {} rows, beta 22:3 {} rows, default 0:0 {} rows; union {} = journal {}",
        alpha.len(),
        beta.len(),
        want[&(0, 0)].len(),
        union.len(),
        all_seqs.len()
    );
}
