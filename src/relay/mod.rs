//! The relay: one long-lived process per user (data dir) that tails the journal, assembles spans
//! and log records, exports them, and checkpoints how far it got.
//!
//! Delivery is at-least-once: the checkpoint (journal position + the assembler's open spans)
//! moves only after an export succeeded; after a crash the relay resumes from it and rebuilds
//! every open span whole. Deterministic ids and timestamps make a re-sent span identical to the
//! first. While the collector is down the relay retries with back-off, holding only the batch it
//! is trying to send — everything else stays in the journal.

pub(crate) mod behaviour;
pub mod checkpoint;
/// Starting, finding and stopping the relay process (the hook starts it, so it sits below the hook).
pub use crate::relay_control as control;
pub(crate) mod gaps;
mod identity;
pub(crate) mod listen;
mod observe;
mod run;

pub use run::{run, run_with, RunOptions};
