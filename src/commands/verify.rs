//! `agent-telemetry verify`: exit 0 if the chain holds, 1 (naming the first broken record) if not.
//!
//! What each layer proves (docs/security.md, "Tamper evidence"): the chain proves that records
//! were not edited, removed or reordered *by someone who did not recompute the hashes after
//! them*; the relay's checkpoint (the last exported `seq` and `hash`) proves the journal still
//! holds what was exported — so a missing or unreadable checkpoint, after a relay has exported,
//! is itself reported. Neither survives an attacker with our uid who rewrites the journal, the
//! checkpoint and the relay's status together before anything is exported: that needs the copy
//! the backends hold.

use crate::config::Config;
use crate::journal::verify::verify_with;
use crate::relay::checkpoint;

/// `verify --remote URL`: the journal against what a VictoriaLogs at `URL` holds (its LogsQL
/// query API), by `agent_telemetry.seq` / `agent_telemetry.hash`. `filter` selects this
/// journal's records (default: this agent's `agent.id`).
pub fn run_remote(config: &Config, url: &str, filter: Option<&str>) -> anyhow::Result<i32> {
    use crate::journal::remote::compare;
    let dir = config.journal_dir();
    let mut repairs = std::collections::BTreeSet::new();
    let local: Vec<(u64, String)> = crate::journal::read::read_from(&dir, None, usize::MAX)
        .map_err(|e| anyhow::anyhow!("cannot read the journal at {}: {e}", dir.display()))?
        .into_iter()
        .filter_map(|e| e.record.ok())
        .map(|r| {
            if r.event_type == "journal_repair" {
                repairs.insert(r.seq);
            }
            (r.seq, r.hash)
        })
        .collect();
    let agent = crate::enrich::HookEnv::from_process();
    let default_filter = config
        .agent
        .id
        .clone()
        .or_else(|| Some(format!("{}@{}", agent.user.as_deref()?, agent.host.as_deref()?)))
        .map(|id| format!("agent.id:={}", serde_json::Value::String(id)));
    let filter = filter.map(str::to_string).or(default_filter).unwrap_or_else(|| "*".into());
    let query = format!("{filter} agent_telemetry.hash:* | fields agent_telemetry.seq, agent_telemetry.hash");
    let remote = fetch_victorialogs(url, &query)?;
    let exported = checkpoint::load(&checkpoint::relay_dir(&config.data_dir)).ok().and_then(|c| c.last_seq);
    let d = compare(&local, &remote, exported);
    println!(
        "remote {url} ({filter}): {} record(s) match, {} not exported yet, {} at the backend",
        d.matching,
        d.not_yet_exported,
        remote.len()
    );
    let show = |v: &[u64]| v.iter().take(20).map(u64::to_string).collect::<Vec<_>>().join(", ");
    if !d.missing_remote.is_empty() {
        println!(
            "missing at the backend (exported, then removed there, or never delivered): seq {}",
            show(&d.missing_remote)
        );
    }
    if !d.missing_local.is_empty() {
        println!("missing from the journal (removed locally after export): seq {}", show(&d.missing_local));
    }
    for (seq, l, r) in d.altered.iter().take(20) {
        if repairs.contains(seq) {
            // A crash cut an exported line; the repair record that took its seq keeps the torn bytes.
            println!("altered: seq {seq} is {l} in the journal, {r} at the backend (lost locally after it was exported: the journal's record at this seq is a journal_repair keeping its torn bytes; the backend keeps the record)");
        } else {
            println!("altered: seq {seq} is {l} in the journal, {r} at the backend (one side was rewritten)");
        }
    }
    for (l, r) in d.reordered.iter().take(20) {
        println!("reordered: the record at seq {l} in the journal is at seq {r} at the backend");
    }
    Ok(if d.holds() {
        println!("remote OK");
        0
    } else {
        1
    })
}

/// `GET {base}/select/logsql/query?query=…`: JSON lines with the two fields.
fn fetch_victorialogs(base: &str, query: &str) -> anyhow::Result<Vec<(u64, String)>> {
    let url = format!("{}/select/logsql/query?query={}", base.trim_end_matches('/'), percent_encode(query));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let body = rt.block_on(async {
        let resp = crate::export::otlp::http_client()
            .timeout(std::time::Duration::from_secs(60))
            .build()?
            .get(&url)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "{base} answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
        Ok::<_, anyhow::Error>(text)
    })?;
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("not a LogsQL result line ({e}): {line}"))?;
        let seq = match &v["agent_telemetry.seq"] {
            serde_json::Value::String(s) => s.parse().ok(),
            n => n.as_u64(),
        };
        if let (Some(seq), Some(hash)) = (seq, v["agent_telemetry.hash"].as_str()) {
            out.push((seq, hash.to_string()));
        }
    }
    Ok(out)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `remote`: whether `--remote` compares with a backend too (else `verify` says what the local
/// checks cannot prove).
pub fn run(config: &Config, remote: bool) -> anyhow::Result<i32> {
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
    let bar = super::progress::Bar::new("verifying", super::progress::Unit::Bytes);
    let report = verify_with(&dir, anchor, &bar)
        .map_err(|e| anyhow::anyhow!("cannot read the journal at {}: {e}", dir.display()))?;
    drop(bar);
    let unproven = |report: &crate::journal::verify::Report| {
        if remote {
            return;
        }
        println!("cannot prove without a remote anchor (verify --remote URL):");
        println!("  - a journal rewritten and re-hashed as a whole (a forged chain) looks intact here: only the copy a backend holds shows it");
        if report.head.is_none() && report.records > 0 {
            println!("  - the journal has no head (.lock) yet: records removed from its end are not detectable locally until the next append writes one");
        } else {
            println!("  - records removed from the end together with a rewritten head (.lock) look intact here");
        }
        if anchor.is_none() {
            println!("  - nothing has been exported (no relay checkpoint): no record is anchored outside this machine");
        }
    };
    let unexpected = || {
        for u in &report.unexpected {
            println!("unexpected entry {u}");
        }
    };
    match &report.first_break {
        Some(b) => {
            println!("journal BROKEN after {} good record(s): {b}", report.records);
            for p in &problems {
                println!("checkpoint: {p}");
            }
            unexpected();
            unproven(&report);
            Ok(1)
        }
        None => {
            println!(
                "journal {}: {} record(s) in {} segment(s) at {}{}",
                match (problems.is_empty(), report.unexpected.is_empty()) {
                    (true, true) => "OK",
                    (false, _) => "chain intact, anchor MISSING",
                    (true, false) => "chain intact, UNEXPECTED ENTRIES",
                },
                report.records,
                report.segments,
                dir.display(),
                report.last_seq.map(|s| format!(", last seq {s}")).unwrap_or_default()
            );
            if !report.repairs.is_empty() {
                println!(
                    "note: {} torn write(s) were cut and kept in repair records (seq {:?})",
                    report.repairs.len(),
                    report.repairs
                );
            }
            for p in &problems {
                println!("checkpoint: {p}");
            }
            unexpected();
            unproven(&report);
            Ok(if problems.is_empty() && report.unexpected.is_empty() { 0 } else { 1 })
        }
    }
}
