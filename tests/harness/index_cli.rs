//! Running the index commands (`sessions` … `fleet`) through the real binary on a data dir, and
//! the journal to check their answers against ([`super::journal_records`]). Shared by
//! tests/fast/forensics.rs and tests/fast/fleet_questions.rs.

use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Runs the binary on `data` with `args`; a clean environment (no AGENT_TELEMETRY_*).
pub fn run(data: &Path, args: &[&str]) -> Output {
    super::command(data.join("no-home"), args).arg("--data").arg(data).output().unwrap()
}

/// stdout of a run that must succeed.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "{args:?}: exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}
