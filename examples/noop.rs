//! A do-nothing binary, built with the same profile as `agent-telemetry`: the baseline of
//! `benches/hook_process.rs` (process start and exit, nothing else).
fn main() {}
