//! `agent-telemetry verify`: exit 0 if the chain holds, 1 (naming the first broken record) if not.
//!
//! What each layer proves (see the README's security section): the chain proves that records
//! were not edited, removed or reordered *by someone who did not recompute the hashes after
//! them*; the relay's checkpoint (the last exported `seq` and `hash`) proves the journal still
//! holds what was exported — so a missing or unreadable checkpoint, after a relay has exported,
//! is itself reported. Neither survives an attacker with our uid who rewrites the journal, the
//! checkpoint and the relay's status together before anything is exported: that needs the copy
//! the backends hold.

use crate::config::Config;
use crate::journal::verify::verify;
use crate::relay::checkpoint;

pub fn run(config: &Config) -> anyhow::Result<i32> {
    let dir = config.journal_dir();
    let relay_dir = checkpoint::relay_dir(&config.data_dir);
    // The relay's checkpoint remembers the last record it exported: an anchor outside the chain.
    let mut problems = Vec::new();
    let cp = match checkpoint::load(&relay_dir) {
        Ok(cp) => Some(cp),
        Err(e) => {
            problems.push(format!("the relay's checkpoint cannot be read ({e}): it was edited or damaged; the journal's end is not anchored"));
            None
        }
    };
    let anchor = cp.as_ref().and_then(|c| Some((c.last_seq?, c.last_hash.as_deref()?)));
    if cp.is_some() && anchor.is_none() {
        if let Some(status) = checkpoint::load_status(&relay_dir).filter(|s| s.exported_records > 0) {
            problems.push(format!(
                "the relay's checkpoint is missing, but the relay reports {} exported record(s) (relay/status.json): it was deleted; the journal's end is not anchored",
                status.exported_records
            ));
        }
    }
    let report = verify(&dir, anchor).map_err(|e| anyhow::anyhow!("cannot read the journal at {}: {e}", dir.display()))?;
    match &report.first_break {
        Some(b) => {
            println!("journal BROKEN after {} good record(s): {b}", report.records);
            for p in &problems {
                println!("checkpoint: {p}");
            }
            Ok(1)
        }
        None => {
            println!(
                "journal {}: {} record(s) in {} segment(s) at {}{}",
                if problems.is_empty() { "OK" } else { "chain intact, anchor MISSING" },
                report.records,
                report.segments,
                dir.display(),
                report.last_seq.map(|s| format!(", last seq {s}")).unwrap_or_default()
            );
            if !report.repairs.is_empty() {
                println!("note: {} torn write(s) were cut and kept in repair records (seq {:?})", report.repairs.len(), report.repairs);
            }
            for p in &problems {
                println!("checkpoint: {p}");
            }
            Ok(if problems.is_empty() { 0 } else { 1 })
        }
    }
}
