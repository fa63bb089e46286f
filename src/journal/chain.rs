//! The hash chain. A record's line is its compact JSON without `hash`, with `,"hash":"<hex>"`
//! spliced in before the closing brace; `hash` is the SHA-256 of exactly those bytes without the
//! splice (which include `seq` and `prev_hash`). Verification therefore needs no
//! re-serialisation: it strips the suffix and hashes what is left.

use crate::ids::sha256::Sha256;
use crate::record::JournalRecord;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const SUFFIX_LEN: usize = r#","hash":""}"#.len() + 64;

/// Encodes a record (whose `hash` is empty) into its line, newline included, and returns the hash.
pub fn encode(record: &JournalRecord) -> Result<(Vec<u8>, String), serde_json::Error> {
    debug_assert!(record.hash.is_empty());
    // A record's line is a few KiB: sized once, not grown by doubling from 128 bytes.
    let mut body = Vec::with_capacity(4096);
    serde_json::to_writer(&mut body, record)?;
    let hash = crate::ids::hex(&Sha256::digest(&body));
    body.pop(); // the closing brace
    body.extend_from_slice(br#","hash":""#);
    body.extend_from_slice(hash.as_bytes());
    body.extend_from_slice(b"\"}\n");
    Ok((body, hash))
}

/// Splits a line (without its newline) into the hashed part (less its closing brace) and the
/// stored hash, without checking the hash. `Err` says what is wrong with the line's shape.
pub(crate) fn split_line(line: &[u8]) -> Result<(&[u8], &str), &'static str> {
    if line.len() < SUFFIX_LEN + 2 {
        return Err("line too short to be a record");
    }
    let (head, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let hash = suffix
        .strip_prefix(br#","hash":""#)
        .and_then(|s| s.strip_suffix(br#""}"#))
        .ok_or("line does not end with its hash")?;
    let hash = std::str::from_utf8(hash).map_err(|_| "hash is not hex")?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("hash is not hex");
    }
    Ok((head, hash))
}

/// Checks that a line's stored hash is the hash of its body; returns the hash. `Err` says what
/// is wrong.
pub(crate) fn check_line(line: &[u8]) -> Result<String, &'static str> {
    let (head, hash) = split_line(line)?;
    let mut h = Sha256::new();
    h.update(head);
    h.update(b"}");
    if crate::ids::hex(&h.finalize()) != hash {
        return Err("hash does not match the record (the record was changed)");
    }
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_check() {
        let r = JournalRecord { seq: 3, prev_hash: GENESIS.into(), hook_event: "Stop".into(), ..Default::default() };
        let (line, hash) = encode(&r).unwrap();
        let line = &line[..line.len() - 1];
        assert_eq!(check_line(line).unwrap(), hash);
        let back: JournalRecord = serde_json::from_slice(line).unwrap();
        assert_eq!(back.hash, hash);
        assert_eq!(back.seq, 3);
        let tampered = String::from_utf8(line.to_vec()).unwrap().replace("Stop", "Stap");
        assert!(check_line(tampered.as_bytes()).is_err());
    }
}
