//! The slow stage: every test that needs a server or a tool beyond cargo (the real collector,
//! Jaeger, VictoriaLogs, the Claude Code CLI, node, go, chromium), one module per area, in one
//! test binary. Each is `#[ignore = "slow stage: …"]`: `cargo test` lists them as ignored and
//! `just test-slow` runs them (`cargo test --test slow -- --include-ignored`); a missing
//! prerequisite fails a test, never skips it.

#[path = "../harness/mod.rs"]
mod harness;

mod claude_cases;
mod claude_smoke;
mod e2e_claude;
mod export_refusal;
mod faults;
mod fleet_scale;
mod fleet_tenants;
mod forensics_report;
mod grafana_offline;
mod http_hook_claude;
mod live_top;
mod readme_path;
mod relay_stack;
mod stack;
mod tier;
mod worktree;
