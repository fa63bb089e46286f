//! Any text as a Bash command → `enrich::command::normalise` and the built-in command rules:
//! never panics, stays bounded (lines and paths), and is deterministic.
#![no_main]

use agent_telemetry::enrich::command::normalise;
use agent_telemetry::enrich::policy::Policy;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    let text = String::from_utf8_lossy(data);
    let a = normalise(&text, Path::new("/p"), Some(Path::new("/home/u")));
    assert!(a.units.len() <= 512 && a.paths.len() <= 512 + 64);
    let b = normalise(&text, Path::new("/p"), Some(Path::new("/home/u")));
    assert_eq!(a.units, b.units);
    let mut findings = Vec::new();
    POLICY.get_or_init(Policy::builtin).check_command_units(&a.units, &mut findings);
});
