//! `agent-telemetry status`: is telemetry on here, where the data is, how much the journal holds
//! and when it last heard from Claude Code.

use crate::config::{Config, Scope};
use crate::hook::MARKER;
use crate::journal::read::{count_after, summary};
use crate::relay::{checkpoint, control};
use serde_json::json;
use std::path::Path;

pub fn run(config: &Config, dir: &Path, as_json: bool) -> anyhow::Result<i32> {
    let marker = dir.ancestors().map(|d| d.join(MARKER)).find(|m| m.exists());
    let (enabled, why) = match (config.scope.enabled, &marker) {
        (Scope::Off, _) => (false, "scope is off".to_string()),
        (Scope::All, _) => (true, "scope is all (every project)".to_string()),
        (Scope::Project, Some(m)) => (true, format!("marker {}", m.display())),
        (Scope::Project, None) => (false, format!("no {MARKER} marker at or above {}", dir.display())),
    };
    let journal_dir = config.journal_dir();
    let s = summary(&journal_dir).map_err(|e| anyhow::anyhow!("cannot read the journal at {}: {e}", journal_dir.display()))?;
    let last = s.last.as_ref();
    let relay_dir = checkpoint::relay_dir(&config.data_dir);
    let cp = checkpoint::load(&relay_dir).ok();
    let backlog = count_after(&journal_dir, cp.as_ref().and_then(|c| c.position.as_ref())).unwrap_or(0);
    let relay_pid = control::running_pid(&config.data_dir);
    let rs = checkpoint::load_status(&relay_dir);
    let destination = crate::export::ExportConfig::from_config(config).map(|e| e.describe()).unwrap_or_else(|e| format!("invalid: {e}"));
    if as_json {
        let v = json!({
            "enabled": enabled,
            "reason": why,
            "directory": dir,
            "config_path": config.config_path,
            "config_error": config.error,
            "data_dir": config.data_dir,
            "journal": {
                "dir": journal_dir,
                "segments": s.segments,
                "bytes": s.bytes,
                "records": s.records,
                "last_seq": last.map(|r| r.seq),
                "last_event_time": last.map(|r| r.timestamp.clone()),
                "last_event": last.map(|r| r.hook_event.clone()),
                "last_session": last.and_then(|r| r.session_id.clone()),
            },
            "relay": {
                "running": relay_pid.is_some(),
                "pid": relay_pid,
                "destination": destination,
                "state": rs.as_ref().map(|r| r.state.clone()),
                "backlog": backlog,
                "exported_records": cp.as_ref().map(|c| c.exported_records),
                "exported_spans": cp.as_ref().map(|c| c.exported_spans),
                "last_exported_seq": cp.as_ref().and_then(|c| c.last_seq),
                "open_spans": cp.as_ref().map(|c| c.assembler.open_count()),
                "last_export_at": rs.as_ref().and_then(|r| r.last_export_at.clone()),
                "last_error": rs.as_ref().and_then(|r| r.last_error.clone()),
                "last_error_at": rs.as_ref().and_then(|r| r.last_error_at.clone()),
            }
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("telemetry:   {} in {} ({why})", if enabled { "ENABLED" } else { "disabled" }, dir.display());
    println!(
        "config:      {}{}",
        config.config_path.display(),
        if config.config_path.exists() { "" } else { " (not present: defaults)" }
    );
    if let Some(e) = &config.error {
        println!("config error: {e}");
    }
    println!("data dir:    {}", config.data_dir.display());
    println!("journal:     {} record(s), {} segment(s), {}", s.records, s.segments, human_bytes(s.bytes));
    match last {
        Some(r) => println!(
            "last event:  {} {} (seq {}, session {})",
            r.timestamp,
            r.hook_event,
            r.seq,
            r.session_id.as_deref().unwrap_or("-")
        ),
        None => println!("last event:  none yet"),
    }
    match relay_pid {
        Some(pid) => println!("relay:       running (pid {pid}) → {destination}{}", rs.as_ref().map(|r| format!(", {}", r.state)).unwrap_or_default()),
        None => println!("relay:       not running (the next hook starts one) → {destination}"),
    }
    println!(
        "backlog:     {backlog} record(s) not yet exported{}",
        cp.as_ref().map(|c| format!("; {} exported, {} span(s), {} open", c.exported_records, c.exported_spans, c.assembler.open_count())).unwrap_or_default()
    );
    if let Some(r) = &rs {
        if let Some(t) = &r.last_export_at {
            println!("last export: {t}");
        }
        if let Some(e) = &r.last_error {
            println!("last error:  {} ({})", e, r.last_error_at.as_deref().unwrap_or("?"));
        }
    }
    Ok(0)
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
