//! What both fuzz targets share: a fixed enricher over a temp project, and the invariants of
//! the payload → record → journal line path.

use agent_telemetry::config::Config;
use agent_telemetry::enrich::policy::Policy;
use agent_telemetry::enrich::{Enricher, HookEnv};
use agent_telemetry::journal::chain;
use agent_telemetry::record::JournalRecord;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Fixture {
    config: Config,
    policy: Policy,
    env: HookEnv,
    project: PathBuf,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("demo");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("README.md"), "# demo\n").unwrap();
        let env = HookEnv { home: Some(dir.path().to_path_buf()), ..HookEnv::default() };
        Fixture { config: Config::default(), policy: Policy::builtin(), env, project, _dir: dir }
    })
}

/// Runs `data` through `Enricher::record` and `chain::encode`, and checks that the record
/// encodes, is one line that `chain::check_line` accepts with the returned hash, and reads back
/// as a `JournalRecord` (what `verify` and the relay do).
pub fn record_and_check(data: &[u8]) {
    let f = fixture();
    let enricher = Enricher {
        config: &f.config,
        policy: &f.policy,
        policy_error: None,
        env: &f.env,
        project_root: Some(f.project.clone()),
    };
    let record = enricher.record(data, 1_795_465_581_075_328_400);
    assert!(record.hash.is_empty());
    let (line, hash) = chain::encode(&record).expect("a record always encodes");
    assert_eq!(line.last(), Some(&b'\n'));
    let body = &line[..line.len() - 1];
    assert!(!body.contains(&b'\n'), "a record is one line");
    assert_eq!(chain::check_line(body).expect("the encoded line checks"), hash);
    let back: JournalRecord =
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("the record does not read back: {e}"));
    assert_eq!(back.hash, hash);
}
