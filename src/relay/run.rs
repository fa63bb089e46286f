//! The relay's loop: read a batch → assemble → export (retrying with back-off) → checkpoint.

use super::checkpoint::{self, Checkpoint, RelayStatus};
use super::control;
use crate::assemble::model::Output;
use crate::config::Config;
use crate::export::{ExportConfig, Exporter};
use crate::journal::read::read_from;
use crate::timefmt::{now_unix_nanos, rfc3339_nanos};
use anyhow::{bail, Context};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Started by a hook: exit quietly if another relay runs, and exit when idle for long.
    pub autostarted: bool,
    /// Exit once everything in the journal is exported (for replays, tests and cron-style use).
    pub once: bool,
}

pub fn run(config: &Config, opts: RunOptions) -> anyhow::Result<i32> {
    let export = ExportConfig::from_config(config).map_err(|e| anyhow::anyhow!(e))?;
    let data_dir = config.data_dir.clone();
    let Some(_lock) = control::acquire(&data_dir).with_context(|| format!("cannot take the relay lock in {}", data_dir.display()))? else {
        if opts.autostarted {
            return Ok(0);
        }
        bail!("a relay is already running for {} (pid {})", data_dir.display(), control::running_pid(&data_dir).map(|p| p.to_string()).unwrap_or_else(|| "?".into()));
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run_loop(config, export, opts))
}

async fn run_loop(config: &Config, export: ExportConfig, opts: RunOptions) -> anyhow::Result<i32> {
    let journal_dir = config.journal_dir();
    let relay_dir = checkpoint::relay_dir(&config.data_dir);
    let stop = Arc::new(AtomicBool::new(false));
    for kind in [tokio::signal::unix::SignalKind::terminate(), tokio::signal::unix::SignalKind::interrupt()] {
        let mut sig = tokio::signal::unix::signal(kind)?;
        let stop = stop.clone();
        tokio::spawn(async move {
            sig.recv().await;
            stop.store(true, Ordering::SeqCst);
        });
    }
    let mut cp = match checkpoint::load(&relay_dir) {
        Ok(cp) => cp,
        Err(e) => {
            // Keep the bad file for inspection and start over: at-least-once, never silently skip.
            let aside = relay_dir.join(format!("checkpoint.corrupt-{}", now_unix_nanos()));
            let _ = std::fs::rename(relay_dir.join("checkpoint.json"), &aside);
            eprintln!("agent-telemetry relay: unreadable checkpoint ({e}); moved to {} and starting from the beginning", aside.display());
            Checkpoint::default()
        }
    };
    let mut exporter = Exporter::new(&export).map_err(|e| anyhow::anyhow!(e))?;
    let mut status = RelayStatus {
        pid: std::process::id(),
        state: "running".into(),
        destination: export.describe(),
        started_at: rfc3339_nanos(now_unix_nanos()),
        exported_records: cp.exported_records,
        exported_spans: cp.exported_spans,
        ..RelayStatus::default()
    };
    let mut last_work = Instant::now();
    let mut missing_polls = 0u32;
    while !stop.load(Ordering::SeqCst) {
        if !journal_dir.exists() {
            missing_polls += 1;
            // The data dir was removed (a finished test, an uninstall): nothing left to relay.
            if missing_polls > 20 && (opts.autostarted || opts.once) {
                break;
            }
        } else {
            missing_polls = 0;
        }
        let entries = read_from(&journal_dir, cp.position.as_ref(), export.batch_size).unwrap_or_default();
        let mut out = Output::default();
        let mut position = cp.position.clone();
        let (mut last_seq, mut last_hash) = (cp.last_seq, cp.last_hash.clone());
        let mut records = 0u64;
        for e in &entries {
            match &e.record {
                Ok(r) => {
                    cp.assembler.process_line(r, Some(&e.raw), &mut out);
                    last_seq = Some(r.seq);
                    last_hash = Some(r.hash.clone());
                    records += 1;
                }
                Err(why) => eprintln!("agent-telemetry relay: skipping unreadable journal line at {}:{}: {why}", e.next.segment, e.next.offset),
            }
            position = Some(e.next.clone());
        }
        cp.assembler.sweep(now_unix_nanos(), export.span_timeout.as_nanos() as u64, &mut out);
        if !out.is_empty() {
            if !export_with_retry(&mut exporter, &out, &stop, &relay_dir, &mut status).await {
                break; // asked to stop while the destination was down: the journal keeps the data
            }
            status.last_export_at = Some(rfc3339_nanos(now_unix_nanos()));
        }
        if position != cp.position || !out.is_empty() {
            cp.position = position;
            cp.last_seq = last_seq;
            cp.last_hash = last_hash;
            cp.exported_records += records;
            cp.exported_spans += out.spans.len() as u64;
            checkpoint::save(&relay_dir, &cp).map_err(|e| anyhow::anyhow!(e))?;
            status.exported_records = cp.exported_records;
            status.exported_spans = cp.exported_spans;
            status.open_spans = cp.assembler.open_count();
            status.updated_at = rfc3339_nanos(now_unix_nanos());
            checkpoint::save_status(&relay_dir, &status);
            last_work = Instant::now();
        }
        if entries.len() < export.batch_size {
            if opts.once {
                break;
            }
            if opts.autostarted && last_work.elapsed() > export.idle_exit && cp.assembler.open_count() == 0 {
                break;
            }
            sleep_unless_stopped(export.poll, &stop).await;
        }
    }
    status.state = "stopped".into();
    status.updated_at = rfc3339_nanos(now_unix_nanos());
    checkpoint::save_status(&relay_dir, &status);
    Ok(0)
}

/// Retries with exponential back-off (0.5 s doubling to 30 s) until the export succeeds; `false`
/// if a stop was requested first.
async fn export_with_retry(exporter: &mut Exporter, out: &Output, stop: &AtomicBool, relay_dir: &std::path::Path, status: &mut RelayStatus) -> bool {
    let mut delay = Duration::from_millis(500);
    loop {
        match exporter.export(out).await {
            Ok(()) => {
                if status.state != "running" {
                    status.state = "running".into();
                }
                return true;
            }
            Err(e) => {
                status.state = "retrying".into();
                status.last_error = Some(e.clone());
                status.last_error_at = Some(rfc3339_nanos(now_unix_nanos()));
                status.updated_at = rfc3339_nanos(now_unix_nanos());
                checkpoint::save_status(relay_dir, status);
                eprintln!("agent-telemetry relay: export failed, retrying in {:?}: {e}", delay);
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                sleep_unless_stopped(delay, stop).await;
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now()))).await;
    }
}
