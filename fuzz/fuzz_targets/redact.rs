//! Any text → `enrich::redact`: never panics; redacting is idempotent (a redacted text has
//! nothing left to redact); a capped redaction is a prefix of the full one (a secret straddling
//! the cap is never cut into a piece that survives).
#![no_main]

use agent_telemetry::enrich::redact::{spans, Redactor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut r = Redactor::new();
    let once = r.redact(&text).unwrap_or_else(|| text.to_string());
    let mut r2 = Redactor::new();
    if let Some(twice) = r2.redact(&once) {
        // Only markers may be touched again (a marker is never a secret).
        assert_eq!(r2.count, 0, "redacting twice changed {once:?} into {twice:?}");
    }
    let cap = data.len() / 2;
    let mut r3 = Redactor::new();
    let (capped, _) = r3.redact_capped(&text, cap);
    let capped = capped.unwrap_or_else(|| text.to_string());
    // Capping keeps a prefix of the full redaction: no secret can come back through the cut.
    assert!(once.starts_with(&capped), "capped {capped:?} is not a prefix of {once:?}");
    let _ = spans(&text);
});
