//! Any text → `payload::lenient::parse`: never panics, never recurses past its depth cap, and
//! whatever it returns serialises and reads back with serde_json (so a record can hold it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((v, repairs)) = agent_telemetry::payload::lenient::parse(&text) {
        let s = serde_json::to_string(&v).expect("a parsed value serialises");
        let back: serde_json::Value = serde_json::from_str(&s).expect("and reads back");
        assert_eq!(back, v);
        // Well-formed JSON that serde reads the same way needs no repair (except duplicates,
        // which serde silently collapses).
        if let Ok(strict) = serde_json::from_str::<serde_json::Value>(&text) {
            if repairs.duplicates.is_empty() && repairs.big_numbers == 0 && repairs.deep_values == 0 {
                assert_eq!(strict, v, "lenient and strict disagree on valid JSON");
            }
        }
    }
});
