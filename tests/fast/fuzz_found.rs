//! Inputs the fuzzers found (`tests/data/hostile/fuzz-found/`), kept as regressions: each goes
//! through the lenient reader, the command normaliser with the built-in rules, and the redactor
//! with the fuzz targets' invariants (no panic; redacting twice changes nothing; capping keeps a
//! prefix of the full redaction).

use agent_telemetry::enrich::{command::normalise, policy::Policy, redact::Redactor};
use std::path::Path;

#[test]
fn fuzz_found_inputs_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile/fuzz-found");
    let policy = Policy::builtin();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&data);
        let _ = agent_telemetry::payload::lenient::parse(&text);
        let norm = normalise(&text, Path::new("/p"), Some(Path::new("/home/u")));
        let mut f = Vec::new();
        policy.check_command_units(&norm.units, &mut f);
        let once = Redactor::new().redact(&text).unwrap_or_else(|| text.to_string());
        let mut again = Redactor::new();
        assert!(again.redact(&once).is_none() || again.count == 0, "redacting twice changed {once:?}");
        let (capped, _) = Redactor::new().redact_capped(&text, data.len() / 2);
        assert!(once.starts_with(&capped.unwrap_or_else(|| text.to_string())));
        n += 1;
    }
    assert!(n >= 3);
}
