//! Like `payload`, but only for inputs that parse as a JSON object of modest depth: the fuzzer's
//! effort goes to the normal path (classification, scope, policy, privacy, redaction, change
//! counting) instead of the error-record path, which `payload` covers.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
    if v.is_object() && depth(&v) <= 100 {
        common::record_and_check(data);
    }
});
