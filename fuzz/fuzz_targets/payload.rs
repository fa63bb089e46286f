//! Arbitrary bytes as a hook's stdin → `Enricher::record` (the whole payload → record path:
//! parsing, classification, scope, policy, privacy, redaction) → `journal::chain::encode`, with
//! the invariants in `common`. Run with `scripts/bench/fuzz.sh`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::record_and_check(data));
