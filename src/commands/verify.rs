//! `agent-telemetry verify`: exit 0 if the chain holds, 1 (naming the first broken record) if not.

use crate::config::Config;
use crate::journal::verify::verify;

pub fn run(config: &Config) -> anyhow::Result<i32> {
    let dir = config.journal_dir();
    // The relay's checkpoint remembers the last record it exported: an anchor outside the chain.
    let cp = crate::relay::checkpoint::load(&crate::relay::checkpoint::relay_dir(&config.data_dir)).ok();
    let anchor = cp.as_ref().and_then(|c| Some((c.last_seq?, c.last_hash.as_deref()?)));
    let report = verify(&dir, anchor).map_err(|e| anyhow::anyhow!("cannot read the journal at {}: {e}", dir.display()))?;
    match &report.first_break {
        Some(b) => {
            println!("journal BROKEN after {} good record(s): {b}", report.records);
            Ok(1)
        }
        None => {
            println!(
                "journal OK: {} record(s) in {} segment(s) at {}{}",
                report.records,
                report.segments,
                dir.display(),
                report.last_seq.map(|s| format!(", last seq {s}")).unwrap_or_default()
            );
            if !report.repairs.is_empty() {
                println!("note: {} torn write(s) were cut and kept in repair records (seq {:?})", report.repairs.len(), report.repairs);
            }
            Ok(0)
        }
    }
}
