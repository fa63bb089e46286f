//! `watch` and `top`: the terminal side of `crate::live` — where the data dir is, the loop that
//! reads the journal again every [`POLL`] / [`REFRESH`], stdout, keys, signals. Both only read:
//! the journal's segments, opened read-only; nothing is created, locked or written under the
//! data dir (the index is not used).

use crate::cli::index::{TopArgs, WatchArgs};
use crate::config::Config;
use crate::forensics::{DataDir, Style};
use crate::live::filter::{event_row, Matcher};
use crate::live::follow::Follower;
use crate::live::view::{Action, App, Key};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often `watch` looks for new records.
const POLL: Duration = Duration::from_millis(200);
/// How often `top` reads new records and redraws (keys redraw at once).
const REFRESH: Duration = Duration::from_millis(500);
/// Records read at a time (then the next read follows without waiting).
const BATCH: usize = 10_000;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM end `watch` at its next look (exit 0), not the process mid-line, and
/// `top` as `q` does (the terminal restored).
fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether whoever reads our stdout has gone (a pipe whose reader closed): checked while there
/// is nothing to write, so `watch | head -1` ends without waiting for the next record.
fn stdout_closed() -> bool {
    let mut fd = libc::pollfd { fd: 1, events: 0, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

fn now() -> u64 {
    crate::timefmt::now_unix_nanos()
}

fn journal(config: &Config, data: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    let data = data.map(|d| d.to_path_buf()).unwrap_or_else(|| config.data_dir.clone());
    Ok(DataDir::new(&data, None)?.journal)
}

/// A closed stdout ends the watch normally; any other write error is one.
fn written(r: std::io::Result<()>) -> anyhow::Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn watch(config: &Config, a: &WatchArgs) -> anyhow::Result<i32> {
    let dir = journal(config, a.data.as_deref())?;
    let f = a.filters.resolve(now())?;
    let (since, until, limit) = (f.since, f.until, f.limit);
    let matcher = Matcher::new(f)?;
    let mut follower = match since {
        Some(t) => Follower::since(&dir, t)?,
        None => Follower::at_end(&dir)?,
    };
    catch_interrupts();
    let style = Style::for_stdout();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut printed = 0u64;
    loop {
        let batch = follower.read(BATCH)?;
        let full = batch.len() == BATCH;
        for r in &batch {
            let row = event_row(&r.record, &r.segment, r.offset, r.len);
            if !matcher.matches(&row) {
                continue;
            }
            let text = if a.json {
                let mut t = serde_json::to_string(&row)?;
                t.push('\n');
                t
            } else {
                crate::live::watch::line(&r.record, style)
            };
            if !written(out.write_all(text.as_bytes()))? {
                return Ok(0);
            }
            printed += 1;
            if limit.is_some_and(|l| printed >= l) {
                written(out.flush())?;
                return Ok(0);
            }
        }
        if !written(out.flush())? {
            return Ok(0);
        }
        if full {
            continue;
        }
        if until.is_some_and(|u| now() > u) {
            return Ok(0);
        }
        let started = Instant::now();
        while started.elapsed() < POLL {
            if INTERRUPTED.load(Ordering::SeqCst) || stdout_closed() {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn top(config: &Config, a: &TopArgs) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let dir = journal(config, a.data.as_deref())?;
    anyhow::ensure!(
        std::io::stdout().is_terminal(),
        "top draws a full-screen view and needs a terminal; for a pipe or a file, use `agent-telemetry watch` (or `watch --json`)"
    );
    let mut follower = Follower::tail(&dir, a.history.saturating_mul(1 << 20))?;
    let mut app = App::new(config.export.span_timeout.as_nanos() as u64);
    read_all(&mut follower, &mut app)?;
    // SIGTERM (and SIGINT from outside: at the keyboard Ctrl-C is a key) quit as `q` does, so the
    // terminal is restored.
    catch_interrupts();
    let mut terminal = ratatui::try_init()?;
    let result = run_top(&mut terminal, &mut follower, &mut app);
    ratatui::try_restore()?;
    result
}

fn read_all(follower: &mut Follower, app: &mut App) -> anyhow::Result<()> {
    loop {
        let batch = follower.read(BATCH)?;
        for r in &batch {
            app.top.ingest(&r.record);
        }
        if batch.len() < BATCH {
            return Ok(());
        }
    }
}

fn run_top(terminal: &mut ratatui::DefaultTerminal, follower: &mut Follower, app: &mut App) -> anyhow::Result<i32> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let mut last_read = Instant::now();
    loop {
        terminal.draw(|f| app.draw(f, now()))?;
        if event::poll(REFRESH.saturating_sub(last_read.elapsed()))? {
            if let Event::Key(k) = event::read()? {
                let key = match k.code {
                    _ if k.kind == KeyEventKind::Release => None,
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Some(Key::Interrupt),
                    KeyCode::Char(c) => Some(Key::Char(c)),
                    KeyCode::Up => Some(Key::Up),
                    KeyCode::Down => Some(Key::Down),
                    KeyCode::Enter => Some(Key::Enter),
                    KeyCode::Esc => Some(Key::Esc),
                    KeyCode::Backspace => Some(Key::Backspace),
                    _ => None,
                };
                if key.is_some_and(|key| app.key(key, now()) == Action::Quit) {
                    return Ok(0);
                }
            }
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(0);
        }
        if last_read.elapsed() >= REFRESH {
            read_all(follower, app)?;
            last_read = Instant::now();
        }
    }
}
