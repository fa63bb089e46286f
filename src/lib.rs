//! agent-telemetry: security audit and monitoring for AI coding agents.
//!
//! The modules follow the data path (see `docs/architecture.md`):
//!
//! ```text
//! payload ─▶ enrich (classify, scope, policy, redact, privacy) ─▶ record ─▶ journal ─▶ (relay)
//! ```
//!
//! - [`payload`]: what Claude Code hands a hook, read leniently.
//! - [`enrich`]: turns a payload into a [`record::JournalRecord`]: event type, security signals,
//!   privacy (content → size + hash) and secret redaction.
//! - [`journal`]: the append-only, hash-chained, rotating local store; `verify` walks it.
//! - [`hook`]: the `agent-telemetry hook` pipeline, which never fails and never panics outward.
//! - [`live`]: `watch` and `top`, the journal followed as it is written.
//! - [`cli`]: the command line as clap types, shared by `agent-telemetry` and
//!   `agent-telemetry-forensics` (the commands answered from the SQLite index).
//! - [`commands`]: the thin CLI commands on top (install, status, verify, forensics, fleet).
//!
//! The modules sit in layers that depend one way, `commands` and `cli` on top: the order is in
//! `tests/fast/layers.rs`, which checks it, and drawn in `docs/architecture.md`.

// Items are crate-private unless a binary, bench or test needs them; their docs still link to
// each other, and are read with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod assemble;
pub(crate) mod claude_settings;
pub mod cli;
pub mod commands;
pub mod config;
pub(crate) mod cost;
pub mod enrich;
pub mod event;
pub(crate) mod export;
pub(crate) mod fleet;
pub mod forensics;
pub mod hook;
pub mod ids;
pub mod journal;
pub(crate) mod live;
pub mod payload;
pub(crate) mod progress;
pub mod rate;
pub mod record;
pub mod relay;
pub mod relay_control;
pub(crate) mod safe_fs;
pub(crate) mod text;
pub mod timefmt;
pub(crate) mod transcript;
pub(crate) mod worktree;
