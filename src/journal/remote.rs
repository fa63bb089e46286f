//! The journal against the copy a backend holds: every exported log record carries the journal's
//! `seq` and `hash` (`agent_telemetry.seq`, `agent_telemetry.hash`), so a backend is an anchor
//! off the machine. An agent with our uid can rewrite the local chain and re-hash it; it cannot
//! (without the backend's credentials) rewrite what was exported.
//!
//! This module compares the two lists; `commands::verify` fetches the backend's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What differs between the journal and the backend.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RemoteDiff {
    /// Exported (seq at or below the checkpoint, or the backend's last) but absent at the backend.
    pub missing_remote: Vec<u64>,
    /// At the backend but no longer in the journal (removed locally).
    pub missing_local: Vec<u64>,
    /// Same seq, another hash: one side was rewritten. (local, remote hashes)
    pub altered: Vec<(u64, String, String)>,
    /// A record the backend holds at another seq than the journal: (local seq, remote seq).
    pub reordered: Vec<(u64, u64)>,
    /// Journal records after the last exported one (not a problem: not exported yet).
    pub not_yet_exported: u64,
    /// Records both sides agree on.
    pub matching: u64,
}

impl RemoteDiff {
    pub(crate) fn holds(&self) -> bool {
        self.missing_remote.is_empty()
            && self.missing_local.is_empty()
            && self.altered.is_empty()
            && self.reordered.is_empty()
    }
}

/// Compares `(seq, hash)` of the journal with the backend's (duplicates allowed: at-least-once
/// delivery re-sends identical copies). `exported_up_to` is the last seq the relay says it
/// exported (the checkpoint); without it, the backend's highest seq is taken.
pub(crate) fn compare(local: &[(u64, String)], remote: &[(u64, String)], exported_up_to: Option<u64>) -> RemoteDiff {
    let mut d = RemoteDiff::default();
    let local_by_seq: BTreeMap<u64, &str> = local.iter().map(|(s, h)| (*s, h.as_str())).collect();
    let mut remote_by_seq: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for (s, h) in remote {
        remote_by_seq.entry(*s).or_default().insert(h.as_str());
    }
    let local_seq_of: HashMap<&str, u64> = local.iter().map(|(s, h)| (h.as_str(), *s)).collect();
    let remote_seq_of: HashMap<&str, u64> = remote.iter().map(|(s, h)| (h.as_str(), *s)).collect();
    let exported = exported_up_to.or_else(|| remote_by_seq.keys().next_back().copied());
    for (&seq, &hash) in &local_by_seq {
        match remote_by_seq.get(&seq) {
            Some(hashes) if hashes.contains(hash) && hashes.len() == 1 => d.matching += 1,
            Some(hashes) => {
                for h in hashes.iter().filter(|h| **h != hash) {
                    match local_seq_of.get(h) {
                        Some(&other) => d.reordered.push((other, seq)),
                        None => d.altered.push((seq, hash.to_string(), h.to_string())),
                    }
                }
                if hashes.contains(hash) {
                    d.matching += 1;
                }
            }
            None if exported.is_some_and(|e| seq <= e) => match remote_seq_of.get(hash) {
                Some(&other) => d.reordered.push((seq, other)),
                None => d.missing_remote.push(seq),
            },
            None => d.not_yet_exported += 1,
        }
    }
    for (&seq, hashes) in &remote_by_seq {
        if !local_by_seq.contains_key(&seq) && !hashes.iter().any(|h| local_seq_of.contains_key(h)) {
            d.missing_local.push(seq);
        }
    }
    d.reordered.sort_unstable();
    d.reordered.dedup();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[(u64, &str)]) -> Vec<(u64, String)> {
        v.iter().map(|(s, h)| (*s, h.to_string())).collect()
    }

    #[test]
    fn names_every_kind_of_difference() {
        let local = l(&[(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")]);
        let same = compare(&local, &l(&[(0, "a"), (1, "b"), (1, "b"), (2, "c")]), Some(2));
        assert!(same.holds());
        assert_eq!((same.matching, same.not_yet_exported), (3, 2));
        let d = compare(&local, &l(&[(0, "a"), (1, "X"), (3, "d"), (5, "f")]), Some(3));
        assert_eq!(d.altered, vec![(1, "b".into(), "X".into())]);
        assert_eq!(d.missing_remote, vec![2]);
        assert_eq!(d.missing_local, vec![5]);
        let swapped = compare(&l(&[(0, "a"), (1, "c"), (2, "b")]), &l(&[(0, "a"), (1, "b"), (2, "c")]), Some(2));
        assert_eq!(swapped.reordered, vec![(1, 2), (2, 1)]);
        assert!(!swapped.holds());
    }
}
