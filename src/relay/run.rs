//! The relay's loop: read a batch → assemble → export (retrying with back-off) → checkpoint.
//!
//! Start-up failures (a config with errors, an exporter that cannot be built, an unreadable
//! checkpoint of a newer version) are written to `status.json` before the relay exits, and hold
//! the hook's next start attempt off for a growing window. A changed config file is picked up
//! while running (checked at every poll and between retries): new export settings take effect at
//! once, on the batch being retried too.

use super::checkpoint::{self, Checkpoint, RelayStatus};
use super::control;
use super::listen;
use super::observe::{self, Stage};
use crate::assemble::model::Output;
use crate::assemble::transcripts::{self, Step};
use crate::config::Config;
use crate::export::{ExportConfig, ExportError, Exporter};
use crate::journal::read::read_from;
use crate::progress::Progress;
use crate::timefmt::{now_unix_nanos, rfc3339_nanos};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// `eprintln!` that never panics: the relay's stderr is `relay.log`, and on a full disk
/// `eprintln!` panics ("failed printing to stderr"), which would stop the relay.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Started by a hook: exit quietly if another relay runs, and exit when idle for long.
    pub autostarted: bool,
    /// Exit once everything in the journal is exported (for replays, tests and cron-style use).
    pub once: bool,
    /// With `once`: give up (exit 1) when the export has not succeeded within this time.
    pub once_timeout: Option<Duration>,
}

/// Why the relay did not run. A failure once the lock is held is also written to `status.json`
/// (its text, as `last_error`), which holds the hook's next start attempt off.
///
/// Causes are fields, not `source()`: the message carries their text once (the command line
/// prints `{:#}`), as `status.json` does.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Another relay holds the lock (`pid`: as its pid file says, `?` when unreadable).
    #[error("a relay is already running for {} (pid {pid})", .data_dir.display())]
    AlreadyRunning { data_dir: PathBuf, pid: String },
    /// Nowhere in the data dir to record this: the hook's own stderr and `status` say it.
    #[error("cannot take the relay lock in {}: {error} (is the data dir writable?)", .data_dir.display())]
    Lock { data_dir: PathBuf, error: std::io::Error },
    /// The configuration's own message.
    #[error("the configuration has errors, not starting: {message}")]
    Config { message: String },
    /// Written by a newer relay.
    #[error("{error}")]
    Checkpoint { error: checkpoint::CheckpointError },
    #[error("the price table cannot be read: {error}")]
    Prices { error: crate::cost::LoadError },
    #[error("cannot start the async runtime: {error}")]
    Runtime { error: std::io::Error },
    #[error("{error}")]
    Exporter { error: ExportError },
    /// SIGTERM/SIGINT handlers could not be installed.
    #[error(transparent)]
    Signals(#[from] std::io::Error),
}

pub fn run(config: &Config, opts: RunOptions) -> Result<i32, RunError> {
    run_with(config, opts, &crate::progress::Silent)
}

/// [`run`], reporting to `progress` — with `once` only — the records exported of the backlog
/// found at the start.
pub fn run_with(config: &Config, opts: RunOptions, progress: &dyn Progress) -> Result<i32, RunError> {
    // A file-size limit (RLIMIT_FSIZE) fails the write with EFBIG instead of killing the relay,
    // as a full disk fails it with ENOSPC: both are handled where the write is.
    // SAFETY: setting a signal's disposition to SIG_IGN has no other effect.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let data_dir = config.data_dir.clone();
    let lock = match control::acquire(&data_dir) {
        Ok(Some(lock)) => lock,
        Ok(None) if opts.autostarted => return Ok(0),
        Ok(None) => {
            return Err(RunError::AlreadyRunning {
                pid: control::running_pid(&data_dir).map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                data_dir,
            })
        }
        // Nowhere in the data dir to record this: the hook's own stderr and `status` say it.
        Err(error) => return Err(RunError::Lock { data_dir, error }),
    };
    let mut status = RelayStatus {
        pid: std::process::id(),
        state: checkpoint::RelayState::Starting,
        config_path: config.config_path.display().to_string(),
        data_dir: data_dir.display().to_string(),
        autostarted: opts.autostarted,
        started_at: rfc3339_nanos(now_unix_nanos()),
        ..describe(&config.export)
    };
    let relay_dir = checkpoint::relay_dir(&data_dir);
    let previous_failures = checkpoint::load_status(&relay_dir).map(|s| s.start_failures).unwrap_or(0);
    let fail = |status: &mut RelayStatus, error: RunError| -> RunError {
        record_start_failure(&data_dir, status, previous_failures, &error.to_string());
        error
    };
    if let Some(e) = &config.error {
        return Err(fail(&mut status, RunError::Config { message: e.to_string() }));
    }
    let cp = match checkpoint::load(&relay_dir) {
        Ok(cp) => cp,
        Err(error @ checkpoint::CheckpointError::Newer { .. }) => {
            return Err(fail(&mut status, RunError::Checkpoint { error }))
        }
        Err(e) => {
            // Keep the bad file for inspection and start over: at-least-once, never silently skip.
            let aside = relay_dir.join(format!("checkpoint.corrupt-{}", now_unix_nanos()));
            let _ = std::fs::rename(relay_dir.join("checkpoint.json"), &aside);
            let msg = format!(
                "unreadable checkpoint ({e}); moved to {} and exporting the journal from the beginning",
                aside.display()
            );
            say!("agent-telemetry relay: {msg}");
            status.last_error = Some(msg);
            Checkpoint::default()
        }
    };
    let mut cp = cp;
    if let Some(moved) = checkpoint::realign(&config.journal_dir(), &mut cp) {
        say!("agent-telemetry relay: {moved}");
        status.last_error = Some(moved);
    }
    // Behaviour records written after the checkpoint (a stop before it moved): not written twice.
    cp.behaviour.load_written(&config.journal_dir(), cp.position.as_ref());
    if let Some(why) = &cp.state_lost {
        say!("agent-telemetry relay: {why}");
        status.last_error = Some(why.clone());
    }
    let prices = match crate::cost::PriceTable::load(config.cost.prices.as_deref()) {
        Ok(p) => p,
        Err(error) => return Err(fail(&mut status, RunError::Prices { error })),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(error) => return Err(fail(&mut status, RunError::Runtime { error })),
    };
    let code = runtime.block_on(async {
        let exporter = match Exporter::new(&config.export) {
            Ok(x) => x,
            Err(error) => return Err(fail(&mut status, RunError::Exporter { error })),
        };
        control::clear_hold_off(&data_dir);
        status.state = checkpoint::RelayState::Running;
        status.exported_records = cp.exported_records;
        status.exported_spans = cp.exported_spans;
        checkpoint::save_status(&relay_dir, &status);
        let hooks = if opts.once {
            None
        } else {
            config.hook.listen.and_then(|addr| listen_for_hooks(addr, config, &mut status))
        };
        let observer = Some(observe::Observer::install(&config.export, &data_dir));
        let mut relay = Relay {
            config: config.clone(),
            prices: Arc::new(prices),
            stages: Default::default(),
            exporter,
            status,
            relay_dir,
            watch: ConfigWatch::new(&config.config_path),
            stop: Arc::new(AtomicBool::new(false)),
            opts,
            hooks,
            observer,
        };
        relay.save_status();
        relay.run_loop(cp, progress).await
    });
    drop(lock);
    code
}

/// Binds `[hook] listen` and serves `type: "http"` hook events there; a failure is said (status
/// and log) and the relay goes on without it.
fn listen_for_hooks(
    addr: std::net::SocketAddr,
    config: &Config,
    status: &mut RelayStatus,
) -> Option<Arc<listen::Shared>> {
    let bound = std::net::TcpListener::bind(addr).and_then(|l| {
        l.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(l)
    });
    match bound {
        Ok(l) => {
            let shared = Arc::new(listen::Shared {
                config: std::sync::RwLock::new(Arc::new(config.clone())),
                events: Default::default(),
            });
            tokio::spawn(listen::serve(l, shared.clone()));
            status.hook_listen = Some(addr.to_string());
            Some(shared)
        }
        Err(e) => {
            let msg = format!("cannot listen for http hooks on {addr}: {e}; their events are lost until this is fixed");
            say!("agent-telemetry relay: {msg}");
            status.hook_listen_error = Some(msg);
            None
        }
    }
}

/// The export settings as `status.json` shows them.
fn describe(export: &ExportConfig) -> RelayStatus {
    RelayStatus {
        destination: export.describe(),
        headers: export.display_headers(),
        export_fingerprint: export.fingerprint(),
        ..RelayStatus::default()
    }
}

/// Writes the failure where `status` shows it and holds the hook's next attempt off: 5 s after
/// the first failure, doubling up to 5 minutes.
fn record_start_failure(data_dir: &Path, status: &mut RelayStatus, previous_failures: u32, reason: &str) {
    status.state = checkpoint::RelayState::Failed;
    status.start_failures = previous_failures.saturating_add(1);
    status.last_error = Some(reason.to_string());
    status.last_error_at = Some(rfc3339_nanos(now_unix_nanos()));
    status.updated_at = rfc3339_nanos(now_unix_nanos());
    checkpoint::save_status(&checkpoint::relay_dir(data_dir), status);
    let window = Duration::from_secs(5u64.saturating_mul(1 << previous_failures.min(6)).min(300));
    control::hold_off(data_dir, window);
    say!("agent-telemetry relay: {reason}");
}

/// Notices a changed config file with one `stat` (modification time, size, inode).
struct ConfigWatch {
    path: PathBuf,
    seen: Option<(std::time::SystemTime, u64, u64)>,
}

impl ConfigWatch {
    fn new(path: &Path) -> ConfigWatch {
        let mut w = ConfigWatch { path: path.to_path_buf(), seen: None };
        w.seen = w.look();
        w
    }

    fn look(&self) -> Option<(std::time::SystemTime, u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len(), m.ino()))
    }

    fn changed(&mut self) -> bool {
        let now = self.look();
        if now != self.seen {
            self.seen = now;
            true
        } else {
            false
        }
    }
}

struct Relay {
    config: Config,
    prices: Arc<crate::cost::PriceTable>,
    /// Time spent per stage (read, assemble, checkpoint encode, export), for `status` and the bench.
    stages: Arc<observe::Stages>,
    exporter: Exporter,
    status: RelayStatus,
    relay_dir: PathBuf,
    watch: ConfigWatch,
    stop: Arc<AtomicBool>,
    opts: RunOptions,
    /// The http hook endpoint's shared state, when it listens.
    hooks: Option<Arc<listen::Shared>>,
    /// The relay's own telemetry.
    observer: Option<observe::Observer>,
}

/// How an export attempt ended.
enum Sent {
    Done,
    /// A stop was requested while the destination was down: the journal keeps the data.
    Stopped,
    /// `--once` ran out of time, or the settings cannot work.
    GaveUp(ExportError),
}

/// One batch read from the journal and assembled: what to export, and the checkpoint to write
/// once the export is acknowledged.
struct Batch {
    /// As many lines as a batch takes were read: more may wait (a backlog).
    full: bool,
    records: u64,
    /// Stopped at a record whose model calls are not written yet: that record again later.
    held: bool,
    out: Output,
    gap_records: Vec<crate::record::JournalRecord>,
    /// `behaviour` records the batch's records completed: written before its checkpoint.
    behaviour_records: Vec<crate::record::JournalRecord>,
    lag_ms: Option<u64>,
    /// The checkpoint as of this batch's end, encoded (when it moved): the assembler moves on
    /// with the next batch while this one is exported, so its state is taken here.
    snapshot: Option<Result<Vec<u8>, checkpoint::SaveError>>,
    position: Option<crate::journal::read::Position>,
    exported_records: u64,
    exported_spans: u64,
    open_spans: usize,
}

/// Reads the next batch after `cp.position`, assembles it and moves `cp` past it (in memory;
/// the batch carries the checkpoint to write after its export).
fn assemble(
    journal_dir: &Path,
    cp: &mut Checkpoint,
    config: &Config,
    prices: &crate::cost::PriceTable,
    stages: &observe::Stages,
) -> Batch {
    let batch_size = config.export.batch_size;
    let t = Instant::now();
    let entries = read_from(journal_dir, cp.position.as_ref(), batch_size).unwrap_or_default();
    stages.add(Stage::Read, t.elapsed());
    let t = Instant::now();
    let mut out = Output::default();
    let mut position = cp.position.clone();
    let (mut last_seq, mut last_hash) = (cp.last_seq, cp.last_hash.clone());
    let mut records = 0u64;
    let mut held = false;
    let mut gap_records = Vec::new();
    let mut behaviour_records = Vec::new();
    for e in &entries {
        match &e.record {
            Ok(r) => {
                if transcripts::before_record(
                    r,
                    &mut cp.transcripts,
                    &mut cp.assembler,
                    prices,
                    now_unix_nanos(),
                    &mut out,
                ) == Step::Hold
                {
                    held = true; // its final message is not written yet: this record again at the next poll
                    break;
                }
                cp.assembler.process_line(r, Some(&e.raw), &mut out);
                gap_records.extend(cp.gaps.observe(r, config));
                for b in cp.behaviour.observe(r, &config.behaviour) {
                    // Counted in the session's risk now, while its span is open (not when read back).
                    cp.assembler.count_findings(&b);
                    if cp.behaviour.still_to_write(&b) {
                        behaviour_records.push(b);
                    }
                }
                last_seq = Some(r.seq);
                last_hash = Some(r.hash.clone());
                records += 1;
            }
            Err(why) => say!(
                "agent-telemetry relay: skipping unreadable journal line at {}:{}: {why}",
                e.next.segment,
                e.next.offset
            ),
        }
        position = Some(e.next.clone());
    }
    cp.assembler.sweep(now_unix_nanos(), config.export.span_timeout.as_nanos() as u64, &mut out);
    if records > 0 {
        transcripts::prune(&mut cp.transcripts, now_unix_nanos());
    }
    let lag_ms = entries
        .iter()
        .rev()
        .find_map(|e| e.record.as_ref().ok())
        .map(|r| now_unix_nanos().saturating_sub(r.time_unix_nano) / 1_000_000);
    let moved = position != cp.position || !out.is_empty();
    if moved {
        cp.position = position;
        cp.last_seq = last_seq;
        cp.last_hash = last_hash;
        cp.exported_records += records;
        cp.exported_spans += out.spans.len() as u64;
        if records > 0 {
            cp.remember_position();
        }
    }
    stages.add(Stage::Assemble, t.elapsed());
    let t = Instant::now();
    let snapshot = moved.then(|| checkpoint::encode(cp));
    stages.add(Stage::Checkpoint, t.elapsed());
    Batch {
        full: entries.len() >= batch_size,
        records,
        held,
        out,
        gap_records,
        behaviour_records,
        lag_ms,
        snapshot,
        position: cp.position.clone(),
        exported_records: cp.exported_records,
        exported_spans: cp.exported_spans,
        open_spans: cp.assembler.open_count(),
    }
}

impl Relay {
    async fn run_loop(&mut self, mut cp: Checkpoint, progress: &dyn Progress) -> Result<i32, RunError> {
        for kind in [tokio::signal::unix::SignalKind::terminate(), tokio::signal::unix::SignalKind::interrupt()] {
            let mut sig = tokio::signal::unix::signal(kind)?;
            let stop = self.stop.clone();
            tokio::spawn(async move {
                sig.recv().await;
                stop.store(true, Ordering::SeqCst);
            });
        }
        let journal_dir = self.config.journal_dir();
        let progress = if self.opts.once { progress } else { &crate::progress::Silent };
        if progress.enabled() {
            progress.total(crate::journal::read::count_after(&journal_dir, cp.position.as_ref()).unwrap_or(0));
        }
        let exported_before = cp.exported_records;
        let deadline = self.opts.once_timeout.map(|t| Instant::now() + t);
        let mut last_work = Instant::now();
        let mut missing_polls = 0u32;
        let mut next_gap_check = Instant::now();
        let mut code = 0;
        // The position of the last checkpoint written after an acknowledged export.
        let mut acked = cp.position.clone();
        // A batch assembled while the one before it was being exported (a backlog).
        let mut next: Option<Batch> = None;
        while !self.stop.load(Ordering::SeqCst) {
            self.reload_if_changed();
            if !journal_dir.exists() {
                missing_polls += 1;
                // The data dir was removed (a finished test, an uninstall): nothing left to relay.
                if missing_polls > 20 && (self.opts.autostarted || self.opts.once) {
                    break;
                }
            } else {
                missing_polls = 0;
            }
            let mut b = match next.take() {
                Some(b) => b,
                None => assemble(&journal_dir, &mut cp, &self.config, &self.prices, &self.stages),
            };
            let mut prefetched = None;
            if !b.out.is_empty() {
                // One span per batch of work (not per idle poll): what it held, how far behind
                // the journal the relay is (the last record's age).
                // (i64: tracing-opentelemetry writes u64 and usize values as strings)
                let n = |x: usize| x as i64;
                let span = tracing::info_span!(
                    "relay.batch",
                    records = b.records as i64,
                    spans = n(b.out.spans.len()),
                    logs = n(b.out.logs.len()),
                    calls = n(b.out.calls.len()),
                    held = b.held,
                    more = b.full,
                    lag_ms = b.lag_ms.unwrap_or(0) as i64
                );
                self.status.batches += 1;
                self.status.last_lag_ms = b.lag_ms;
                // A backlog: the next batch is read and assembled (on a blocking thread) while
                // this one is exported. Its checkpoint is written only after this one's.
                let ahead = (b.full && !b.held).then(|| {
                    let (dir, config, prices, stages) =
                        (journal_dir.clone(), self.config.clone(), self.prices.clone(), self.stages.clone());
                    let mut state = std::mem::take(&mut cp);
                    tokio::task::spawn_blocking(move || {
                        let nb = assemble(&dir, &mut state, &config, &prices, &stages);
                        (state, nb)
                    })
                });
                let t = Instant::now();
                let sent = self.export_with_retry(&b.out, deadline).instrument(span).await;
                let convert = self.exporter.take_convert_time();
                self.stages.add(Stage::Convert, convert);
                self.stages.add(Stage::Export, t.elapsed().saturating_sub(convert));
                if let Some(h) = ahead {
                    match h.await {
                        Ok((state, nb)) => {
                            cp = state;
                            prefetched = Some(nb);
                        }
                        Err(e) => std::panic::resume_unwind(e.into_panic()),
                    }
                }
                match sent {
                    Sent::Done => self.status.last_export_at = Some(rfc3339_nanos(now_unix_nanos())),
                    Sent::Stopped => break,
                    Sent::GaveUp(e) => {
                        let remaining = crate::journal::read::count_after(&journal_dir, acked.as_ref()).unwrap_or(0);
                        progress.finish();
                        say!(
                            "agent-telemetry relay: could not export to {}{}: {e}; {remaining} record(s) stay in the journal for the next run",
                            self.config.export.describe(),
                            self.opts.once_timeout.map(|t| format!(" within {}s", t.as_secs())).unwrap_or_default(),
                        );
                        code = 1;
                        break;
                    }
                }
            }
            // The calls read go into the journal before the checkpoint moves past their reading
            // (a crash in between reads them again: at least once, same request ids).
            // So do the behaviour records of the batch (a restart finds them: see
            // `BehaviourWatch::load_written`).
            let appended = self.append_records(std::mem::take(&mut b.out.calls))
                + self.append_records(std::mem::take(&mut b.behaviour_records));
            if let Some(snapshot) = b.snapshot.take() {
                self.store_checkpoint(snapshot);
                acked = b.position.clone();
                self.status.exported_records = b.exported_records;
                self.status.exported_spans = b.exported_spans;
                self.status.open_spans = b.open_spans;
                self.save_status();
                progress.done(b.exported_records.saturating_sub(exported_before));
                last_work = Instant::now();
            }
            // The relay's own spans of this round (after the audit data, never ahead of it).
            if let Some(o) = self.observer.as_mut() {
                o.send().await;
                self.status.self_spans_dropped = o.dropped();
            }
            next = prefetched;
            if b.held {
                self.append_records(b.gap_records);
                self.sleep(self.config.export.poll).await;
                continue;
            }
            let caught_up = !b.full && appended == 0;
            let mut gap_records = b.gap_records;
            // Silence is judged only on a journal read to its end: a backlog is not silence.
            // (Caught up: nothing was assembled ahead, so `cp` is this batch's state.)
            if caught_up && next.is_none() && Instant::now() >= next_gap_check {
                gap_records.extend(cp.gaps.check(&self.config, &journal_dir, now_unix_nanos()));
                next_gap_check = Instant::now() + self.config.export.gap_check;
                self.store_checkpoint(checkpoint::encode(&cp));
            }
            if self.append_records(gap_records) > 0 {
                continue; // export them now (with `--once` too)
            }
            if caught_up {
                if self.opts.once {
                    break;
                }
                if self.opts.autostarted
                    && last_work.elapsed() > self.config.export.idle_exit
                    && cp.assembler.open_count() == 0
                {
                    break;
                }
                self.sleep(self.config.export.poll).await;
            }
        }
        if let Some(o) = self.observer.as_mut() {
            o.send().await;
        }
        self.status.state = checkpoint::RelayState::Stopped;
        self.save_status();
        Ok(code)
    }

    /// Appends records the relay made (`model_call`, `behaviour`, `telemetry_gap`, `telemetry_restored`) to
    /// the journal, hash chained like every record; they are read back and exported at the next
    /// poll. How many were written. A failure is said and the relay goes on (a model call's span
    /// is exported all the same).
    fn append_records(&self, records: impl IntoIterator<Item = crate::record::JournalRecord>) -> usize {
        let journal = crate::journal::Journal::from_config(&self.config);
        let mut n = 0;
        for mut r in records {
            match journal.append(&mut r) {
                Ok(_) => n += 1,
                Err(e) => {
                    let what =
                        r.model_call.as_ref().map(|m| format!(" (request {})", m.request_id)).unwrap_or_default();
                    say!("agent-telemetry relay: could not write a {} record{what}: {e}", r.event_type);
                }
            }
        }
        n
    }

    /// Writes an encoded checkpoint. A failure (a full disk) does not stop the relay: it goes on
    /// exporting, the checkpoint on disk stays the last one written (a restart sends again what
    /// was exported since: at least once), each later round tries again, and `status` shows the
    /// error until a write succeeds.
    fn store_checkpoint(&mut self, encoded: Result<Vec<u8>, checkpoint::SaveError>) {
        match encoded.and_then(|bytes| checkpoint::write(&self.relay_dir, &bytes)) {
            Ok(()) => {
                if self.status.checkpoint_error.take().is_some() {
                    say!("agent-telemetry relay: the checkpoint is written again");
                }
            }
            Err(e) => {
                if self.status.checkpoint_error.is_none() {
                    say!("agent-telemetry relay: could not write the checkpoint ({e}); exporting on, trying again every round (a restart meanwhile sends again what was exported since the last checkpoint written)");
                }
                self.status.checkpoint_error = Some(e.to_string());
            }
        }
    }

    fn save_status(&mut self) {
        if let Some(h) = &self.hooks {
            self.status.hook_events = h.events.load(Ordering::Relaxed);
        }
        self.status.stages = self.stages.report();
        self.status.updated_at = rfc3339_nanos(now_unix_nanos());
        checkpoint::save_status(&self.relay_dir, &self.status);
    }

    /// Takes a changed config file: new export settings replace the exporter at once; a config
    /// with errors is not taken (the relay keeps what it has, and says so in its status).
    fn reload_if_changed(&mut self) {
        if !self.watch.changed() {
            return;
        }
        let fresh = Config::load();
        if let Some(e) = fresh.error {
            say!("agent-telemetry relay: the changed config has errors; keeping the previous settings: {e}");
            self.status.config_error = Some(e);
            self.save_status();
            return;
        }
        self.status.config_error = None;
        if fresh.export.fingerprint() != self.config.export.fingerprint() {
            match Exporter::new(&fresh.export) {
                Ok(x) => {
                    say!("agent-telemetry relay: config changed; now exporting to {}", fresh.export.describe());
                    self.exporter = x;
                    if let Some(o) = self.observer.as_mut() {
                        o.retarget(&fresh.export);
                    }
                }
                Err(e) => {
                    say!("agent-telemetry relay: the changed export settings cannot work; keeping the previous ones: {e}");
                    self.status.config_error = Some(e.to_string());
                    self.save_status();
                    return;
                }
            }
        }
        let RelayStatus { destination, headers, export_fingerprint, .. } = describe(&fresh.export);
        (self.status.destination, self.status.headers, self.status.export_fingerprint) =
            (destination, headers, export_fingerprint);
        self.status.reloaded_at = Some(rfc3339_nanos(now_unix_nanos()));
        if let Some(h) = &self.hooks {
            if let Ok(mut c) = h.config.write() {
                *c = Arc::new(fresh.clone());
            }
        }
        if fresh.hook.listen != self.config.hook.listen {
            self.status.config_error = Some(
                "hook.listen changed: it takes effect when the relay restarts (relay --stop; the next hook starts it)"
                    .into(),
            );
        }
        self.config = fresh;
        self.save_status();
    }

    /// Retries with exponential back-off (0.5 s doubling to 30 s; a refusal waits 30 s at once)
    /// until the export succeeds, a stop is requested, or — with `--once` — the deadline passes
    /// or the settings cannot work. A config change is taken between attempts.
    async fn export_with_retry(&mut self, out: &Output, deadline: Option<Instant>) -> Sent {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let span = tracing::info_span!("relay.export", attempt = attempt as i64, destination = %self.status.destination, spans = out.spans.len() as i64, logs = out.logs.len() as i64, error = tracing::field::Empty, otel.status_code = tracing::field::Empty);
            let result = self.exporter.export(out).instrument(span.clone()).await;
            if let Err(e) = &result {
                span.record("error", tracing::field::display(e));
                span.record("otel.status_code", "ERROR");
                self.status.failed_exports += 1;
            }
            drop(span);
            let err = match result {
                Ok(()) => {
                    if self.status.state != checkpoint::RelayState::Running {
                        self.status.state = checkpoint::RelayState::Running;
                        self.status.last_error = None;
                    }
                    return Sent::Done;
                }
                Err(e) => e,
            };
            let retryable = err.is_retryable();
            self.status.state =
                if retryable { checkpoint::RelayState::Retrying } else { checkpoint::RelayState::Failing };
            self.status.last_error = Some(err.to_string());
            self.status.last_error_at = Some(rfc3339_nanos(now_unix_nanos()));
            self.save_status();
            if self.opts.once && (!retryable || deadline.is_some_and(|d| Instant::now() + delay > d)) {
                return Sent::GaveUp(err);
            }
            if !retryable {
                delay = Duration::from_secs(30);
            }
            say!("agent-telemetry relay: export failed, retrying in {delay:?}: {err}");
            if self.stop.load(Ordering::SeqCst) {
                return Sent::Stopped;
            }
            let before = self.status.export_fingerprint.clone();
            self.sleep(delay).await;
            if self.stop.load(Ordering::SeqCst) {
                return Sent::Stopped;
            }
            if self.status.export_fingerprint != before {
                delay = Duration::from_millis(500); // new settings: try them now
            } else {
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }

    /// Sleeps `d`, waking early for a stop request or a config change (then taken at once).
    async fn sleep(&mut self, d: Duration) {
        let until = Instant::now() + d;
        let mut next_look = Instant::now();
        while Instant::now() < until && !self.stop.load(Ordering::SeqCst) {
            if Instant::now() >= next_look {
                let before = self.status.export_fingerprint.clone();
                self.reload_if_changed();
                if self.status.export_fingerprint != before {
                    return;
                }
                next_look = Instant::now() + Duration::from_millis(250);
            }
            tokio::time::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now()))).await;
        }
    }
}
