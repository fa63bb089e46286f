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
    let s = summary(&journal_dir)
        .map_err(|e| anyhow::anyhow!("cannot read the journal at {}: {e}", journal_dir.display()))?;
    let last = s.last.as_ref();
    let relay_dir = checkpoint::relay_dir(&config.data_dir);
    let cp = checkpoint::load(&relay_dir);
    let cp_error = cp.as_ref().err().map(ToString::to_string);
    let cp = cp.ok();
    let backlog = count_after(&journal_dir, cp.as_ref().and_then(|c| c.position.as_ref())).unwrap_or(0);
    let relay_pid = control::running_pid(&config.data_dir);
    let rs = checkpoint::load_status(&relay_dir);
    let destination = config.export.describe();

    // Everything that is wrong, in plain words; any of them makes the exit code 1.
    let mut problems: Vec<String> = Vec::new();
    if let Some(e) = &config.error {
        problems.push(format!("config error: {e}"));
    }
    if let Some(e) = &config.fleet.error {
        problems.push(e.clone());
    }
    if let Some(e) = writable(&config.data_dir) {
        problems.push(format!(
            "data dir {} is not writable ({e}): the hook cannot record anything",
            config.data_dir.display()
        ));
    }
    if let Some(e) = &cp_error {
        problems.push(format!("relay checkpoint: {e}"));
    }
    let mismatch = match (&relay_pid, &rs) {
        (Some(_), Some(r)) if r.export_fingerprint != config.export.fingerprint() || r.config_path != config.config_path.display().to_string() => Some(format!(
            "the running relay uses other settings than this config resolves to: it exports to {} (config {}), this config says {} (config {}){}",
            r.destination,
            r.config_path,
            destination,
            config.config_path.display(),
            r.config_error.as_ref().map(|e| format!("; the relay could not take the last change: {e}")).unwrap_or_default()
        )),
        (Some(_), None) => Some("a relay runs but reports no status".to_string()),
        _ => None,
    };
    problems.extend(mismatch.clone());
    let start_failed = relay_pid.is_none() && rs.as_ref().is_some_and(|r| r.state == checkpoint::RelayState::Failed);
    if start_failed {
        let r = rs.as_ref().expect("checked");
        problems.push(format!(
            "the relay could not start ({} time(s) in a row, last at {}): {}",
            r.start_failures,
            r.last_error_at.as_deref().unwrap_or("?"),
            r.last_error.as_deref().unwrap_or("?")
        ));
    }
    if relay_pid.is_some() && rs.as_ref().is_some_and(|r| r.state == checkpoint::RelayState::Failing) {
        problems.push(format!(
            "the destination refuses the data: {}",
            rs.as_ref().and_then(|r| r.last_error.clone()).unwrap_or_default()
        ));
    }
    if let (Some(_), Some(e)) = (relay_pid, rs.as_ref().and_then(|r| r.checkpoint_error.as_deref())) {
        problems.push(format!("the relay cannot write its checkpoint (it exports on; a restart would send again what it exported since): {e}"));
    }
    // http hooks: Claude Code drops their events when nothing listens.
    if let (Some(want), Some(_)) = (config.hook.listen, relay_pid) {
        match rs.as_ref() {
            Some(r) if r.hook_listen.as_deref() == Some(want.to_string().as_str()) => {}
            Some(r) => problems.push(format!(
                "the running relay does not listen for http hooks on {want}{}: their events are lost (agent-telemetry relay --stop; the next command hook starts one that does)",
                r.hook_listen_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
            )),
            None => {}
        }
    }
    // Worktrees: sessions there see only tracked files (and so maybe none of our hooks).
    let user_settings = crate::claude_settings::Target::User.settings_path().ok();
    let worktree = crate::worktree::split(dir).map(|(project, name)| {
        let branch = crate::worktree::branch(&crate::worktree::dir(&project, &name));
        (project, name, branch)
    });
    let project = worktree
        .as_ref()
        .map(|w| w.0.clone())
        .or_else(|| marker.as_ref().and_then(|m| m.parent().map(Path::to_path_buf)));
    // A gap only for people who use worktrees: a warning, not a failure.
    let warnings: Vec<String> = project
        .as_deref()
        .filter(|_| enabled)
        .and_then(|p| crate::worktree::uncovered(p, user_settings.as_deref()))
        .into_iter()
        .collect();
    let settings = config.settings();

    if as_json {
        let v = json!({
            "ok": problems.is_empty(),
            "problems": problems,
            "warnings": warnings,
            "enabled": enabled,
            "reason": why,
            "directory": dir,
            "config_path": config.config_path,
            "config_error": config.error,
            "worktree": worktree.as_ref().map(|(p, n, b)| json!({"project": p, "name": n, "branch": b})),
            "data_dir": config.data_dir,
            "settings": settings.iter().map(|(k, v, src)| json!({"key": k, "value": v, "source": src.to_string()})).collect::<Vec<_>>(),
            "export_fingerprint": config.export.fingerprint(),
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
                "in_use": rs.as_ref().map(|r| json!({
                    "destination": r.destination,
                    "headers": r.headers,
                    "config_path": r.config_path,
                    "export_fingerprint": r.export_fingerprint,
                    "autostarted": r.autostarted,
                    "started_at": r.started_at,
                    "reloaded_at": r.reloaded_at,
                    "config_error": r.config_error,
                    "start_failures": r.start_failures,
                })),
                "matches_config": mismatch.is_none(),
                "state": rs.as_ref().map(|r| r.state),
                "backlog": backlog,
                "exported_records": cp.as_ref().map(|c| c.exported_records),
                "exported_spans": cp.as_ref().map(|c| c.exported_spans),
                "last_exported_seq": cp.as_ref().and_then(|c| c.last_seq),
                "open_spans": cp.as_ref().map(|c| c.assembler.open_count()),
                "last_export_at": rs.as_ref().and_then(|r| r.last_export_at.clone()),
                "last_error": rs.as_ref().and_then(|r| r.last_error.clone()),
                "last_error_at": rs.as_ref().and_then(|r| r.last_error_at.clone()),
                // The relay's own figures (also its spans, service agent-telemetry-relay).
                "batches": rs.as_ref().map(|r| r.batches),
                "failed_exports": rs.as_ref().map(|r| r.failed_exports),
                "last_lag_ms": rs.as_ref().and_then(|r| r.last_lag_ms),
                "self_spans_dropped": rs.as_ref().map(|r| r.self_spans_dropped),
                "checkpoint_error": rs.as_ref().and_then(|r| r.checkpoint_error.clone()),
                "hook_listen": rs.as_ref().and_then(|r| r.hook_listen.clone()),
                "hook_listen_error": rs.as_ref().and_then(|r| r.hook_listen_error.clone()),
                "hook_events": rs.as_ref().map(|r| r.hook_events),
            }
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(if problems.is_empty() { 0 } else { 1 });
    }
    println!("telemetry:   {} in {} ({why})", if enabled { "ENABLED" } else { "disabled" }, dir.display());
    println!(
        "config:      {}{}",
        config.config_path.display(),
        if config.config_path.exists() { "" } else { " (not present: defaults)" }
    );
    if let Some((p, n, b)) = &worktree {
        println!("worktree:    {n} of {} (branch {})", p.display(), b.as_deref().unwrap_or("?"));
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
    match (relay_pid, &rs) {
        (Some(pid), Some(r)) => println!("relay:       running (pid {pid}, {}) → {}", r.state, r.destination),
        (Some(pid), None) => println!("relay:       running (pid {pid}) → unknown"),
        (None, _) if start_failed => println!("relay:       NOT RUNNING: its last start failed (see below) → {destination}"),
        (None, _) if !config.export.autostart => println!("relay:       not running (autostart is off: start it with `agent-telemetry relay` or a service) → {destination}"),
        (None, _) => println!("relay:       not running (the next hook starts one) → {destination}"),
    }
    if let Some(r) = rs.as_ref().filter(|_| relay_pid.is_some()) {
        if let Some(l) = &r.hook_listen {
            println!(
                "http hooks:  {} ({} event(s) taken)",
                crate::claude_settings::hook_url(l.parse().unwrap_or(([127, 0, 0, 1], 0).into())),
                r.hook_events
            );
        }
    }
    println!(
        "backlog:     {backlog} record(s) not yet exported{}",
        cp.as_ref()
            .map(|c| format!(
                "; {} exported, {} span(s), {} open",
                c.exported_records,
                c.exported_spans,
                c.assembler.open_count()
            ))
            .unwrap_or_default()
    );
    if let Some(r) = &rs {
        if let Some(t) = &r.last_export_at {
            println!(
                "last export: {t} ({} batch(es), {} failed attempt(s), last lag {} ms)",
                r.batches,
                r.failed_exports,
                r.last_lag_ms.map(|l| l.to_string()).unwrap_or_else(|| "-".into())
            );
        }
        if let Some(e) =
            r.last_error.as_ref().filter(|_| r.state != checkpoint::RelayState::Running || relay_pid.is_none())
        {
            println!("last error:  {} ({})", e, r.last_error_at.as_deref().unwrap_or("?"));
        }
    }
    println!("settings:");
    // Keys in one column, however long the table's longest.
    let width = settings.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (k, v, src) in &settings {
        println!("  {k:<width$} {v}  [{src}]");
    }
    for w in &warnings {
        println!("WARNING: {w}");
    }
    if problems.is_empty() {
        println!("ok");
        Ok(0)
    } else {
        for p in &problems {
            println!("PROBLEM: {p}");
        }
        Ok(1)
    }
}

/// `None` if this process can create files in `dir` (or, when it does not exist yet, in the
/// nearest existing directory above it); else why not.
fn writable(dir: &Path) -> Option<String> {
    let existing = dir.ancestors().find(|d| d.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: access(2) on a NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0 {
        None
    } else {
        Some(format!("{}: {}", existing.display(), std::io::Error::last_os_error()))
    }
}

pub(crate) fn human_bytes(n: u64) -> String {
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
