//! The fast stage: every integration test that needs no server (`cargo test`, `just test`), one
//! module per area, in one test binary (the library is linked once). The slow-stage tests are
//! tests/slow; the shared harness is tests/harness.

#[path = "../harness/mod.rs"]
mod harness;

mod agent_rate;
mod checkpoint_migration;
mod claude_cases;
mod claude_smoke;
mod cli_generate;
mod config_reference;
mod deploy;
mod fleet;
mod fleet_questions;
mod forensics;
mod fuzz_found;
mod genai_conventions;
mod grafana_alerting;
mod hook_bad_input;
mod hook_enforce;
mod hook_gap;
mod hook_hostile_commands;
mod hook_hostile_detect;
mod hook_hostile_payloads;
mod hook_hostile_secrets;
mod hook_replay;
mod hook_static;
mod http_hook;
mod install_cmd;
mod journal_checkpoint_anchor;
mod journal_concurrency;
mod journal_hostile_dir;
mod journal_tamper;
mod journal_verify_remote;
mod layers;
mod live_watch;
mod model_calls;
mod ocsf_export;
mod privacy_fields;
mod redaction_fixed_point;
mod relay_behaviour;
mod relay_fixtures;
mod relay_gaps;
mod relay_lifecycle;
mod stack_config;
mod tempo_default_user;
mod workflow;
