//! `agent-telemetry hook`: Claude Code runs it for every hook event with one JSON object on
//! stdin. It must never slow or break Claude: it reads stdin, decides whether telemetry is on
//! here, builds the record, appends it to the journal and exits 0 — whatever it was given. No
//! network on this path.
//!
//! The only other exit code is 2, and only from enforce mode (opt-in): a PreToolUse that breaks a
//! rule whose action is `deny` is refused, with the reason on stderr for Claude to read.

use crate::config::{Config, Scope};
use crate::enrich::policy::Policy;
use crate::enrich::{Enricher, HookEnv};
use crate::ids::{session_traceparent, TraceParent};
use crate::journal::Journal;
use crate::record::JournalRecord;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Marker file that switches telemetry on for a project (the seed's rule).
pub(crate) const MARKER: &str = ".telemetry-enabled";

/// Input larger than this is cut (and the record says so); Claude never sends this much.
const MAX_INPUT: u64 = 256 * 1024 * 1024;

/// Runs the hook; returns the process exit code. Never panics outward.
pub fn run() -> i32 {
    // A file-size limit (or a full quota) must fail the write, not kill the hook: the failure
    // is counted and reported by the next record (see `journal::append`).
    // SAFETY: setting a signal to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let started = std::time::Instant::now();
    let now = crate::timefmt::now_unix_nanos();
    let (input, read_error) = read_stdin();
    match std::panic::catch_unwind(|| run_with(&input, read_error.as_deref(), now, started)) {
        Ok(code) => code,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            // Last resort: a bare error record, itself guarded.
            let _ = std::panic::catch_unwind(|| record_internal_error(&input, now, &msg));
            0
        }
    }
}

fn read_stdin() -> (Vec<u8>, Option<String>) {
    use std::os::fd::FromRawFd;
    // Room for a usual payload in one read (an empty vector starts with a 32-byte read and
    // doubles: seven reads for 2 KiB); pages of it that are not written are never touched.
    let mut input = Vec::with_capacity(16 * 1024);
    // Descriptor 0 read directly: `std::io::stdin()` would allocate its own 8 KiB buffer too (a
    // page more to fault in, in a process that lives a millisecond). Not closed after.
    // SAFETY: fd 0 is open for the whole process (or reading fails, which is reported); the
    // ManuallyDrop keeps this File from closing it.
    let stdin = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut handle = (&*stdin).take(MAX_INPUT + 1);
    match handle.read_to_end(&mut input) {
        Ok(_) if input.len() as u64 > MAX_INPUT => {
            input.truncate(MAX_INPUT as usize);
            (input, Some(format!("input larger than {MAX_INPUT} bytes was cut")))
        }
        Ok(_) => (input, None),
        Err(e) => (input, Some(format!("reading stdin failed: {e}"))),
    }
}

/// The hook for given input; separated from `run` so tests and the panic path share it.
pub(crate) fn run_with(input: &[u8], read_error: Option<&str>, now: u64, started: std::time::Instant) -> i32 {
    let env = crate::config::environ::Environ::capture();
    let config = Config::load_from(&env);
    match handle(&config, &HookEnv::from_environ(&env), input, read_error, now, started, Transport::Command) {
        Some(reason) => {
            let _ = writeln!(std::io::stderr(), "{reason}");
            2
        }
        None => 0,
    }
}

/// How the event reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A process Claude Code started (`agent-telemetry hook`).
    Command,
    /// A POST to the relay's loopback endpoint (`type: "http"` hooks): no process environment,
    /// and the relay itself is what runs (nothing to start).
    Http,
}

/// One event, whatever its transport: the record is built and journaled; returns the reason to
/// refuse the tool call (enforce mode), if any. `started`: when the hook began on this event
/// (the record's `metadata.hook_us` is measured from it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn handle(
    config: &Config,
    env: &HookEnv,
    input: &[u8],
    read_error: Option<&str>,
    now: u64,
    started: std::time::Instant,
    transport: Transport,
) -> Option<String> {
    if config.scope.enabled == Scope::Off {
        return None;
    }
    let project_root = match enabled_root(config, env, input) {
        Some(root) => root,
        // Over http nothing but the payload says where the event happened: one that cannot say
        // (not JSON, no cwd) came to our own endpoint all the same — recorded, with no project.
        None if transport == Transport::Http && cwd_from_input(input).is_none() => None,
        None => {
            record_gap(config, env, input, now, started);
            return None;
        }
    };
    let (policy, policy_error) = Policy::load(&config.policy_path());
    let enricher_root = project_root.clone();
    let enricher = Enricher { config, policy: &policy, policy_error, env, project_root };
    let mut record = enricher.record(input, now);
    if let Some(why) = read_error {
        let kind = if why.starts_with("input larger") { "too_large" } else { "read_error" };
        let err = record.input_error.get_or_insert_with(Default::default);
        err.kind = kind.into();
        err.reason = why.to_string();
        err.bytes = input.len() as u64;
        record.level = record.level.max(crate::record::Level::Warn);
    }

    if record.event() == crate::event::HookEvent::SessionStart {
        hand_trace_context_to_children(&record, env);
    }
    let deny = deny_reason(config, &record);
    if deny.is_some() {
        record.security.decision = Some("deny".into());
    }
    if transport == Transport::Http {
        record.metadata.transport = Some("http".into());
    }
    record.started = Some(started);
    // Remembered where a session or a prompt starts (not on every tool call: cost), in the
    // journal directory the append has open and checked.
    let starts = matches!(record.hook_event.as_str(), "SessionStart" | "UserPromptSubmit");
    let remember = match (config.scope.enabled, record.project_path.as_deref().and(enricher_root.as_deref()), starts) {
        (Scope::Project, Some(root), true) => Some(root.to_path_buf()),
        _ => None,
    };
    match append(config, &mut record, remember.as_deref()) {
        Ok(_) if transport == Transport::Command => crate::relay_control::ensure_running(config),
        Ok(_) => {}
        // Nothing else can be done without risking Claude: say it where a person looks.
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "agent-telemetry: could not write the journal: {e}");
        }
    }
    if transport == Transport::Command {
        // The process exits next: freeing the rules one by one was ~5 % of a hook run's instructions.
        std::mem::forget(policy);
    }
    deny
}

/// Appends the record; `remember`: the project to add to the journal's list of projects. Out of
/// line: the append's stack frame and the analysis's are entered one after the other, not
/// stacked (each page of a frame is touched on entry: a page fault each, in every hook).
#[inline(never)]
fn append(
    config: &Config,
    record: &mut JournalRecord,
    remember: Option<&Path>,
) -> Result<crate::journal::AppendOutcome, crate::journal::JournalError> {
    Journal::from_config(config).append_then(record, |dir| {
        if let Some(root) = remember {
            crate::journal::projects::remember(dir, root);
        }
    })
}

/// Telemetry is off here: if this is a project whose marker was there before (it is gone now),
/// say so once with a `telemetry_gap` record — the agent may have removed it to go dark.
// Out of line: the hook's common path keeps its stack frame small (each page of a frame is
// touched on entry, a page fault per process).
#[inline(never)]
fn record_gap(config: &Config, env: &HookEnv, input: &[u8], now: u64, started: std::time::Instant) {
    if config.scope.enabled != Scope::Project {
        return;
    }
    let Some(start) =
        config.scope.project_root.clone().or_else(|| env.project_dir.clone()).or_else(|| cwd_from_input(input))
    else {
        return;
    };
    let Some(root) = crate::journal::projects::take_gone(&config.journal_dir(), &start, MARKER) else { return };
    let (policy, policy_error) = Policy::load(&config.policy_path());
    let enricher = Enricher { config, policy: &policy, policy_error, env, project_root: Some(root.clone()) };
    let mut record = enricher.record(input, now);
    record.event_type = "telemetry_gap".into();
    record.level = crate::record::Level::Error;
    record.started = Some(started);
    let mut s = crate::enrich::redact::Redactor::new();
    let root_text = root.display().to_string();
    let root_text = s.redact(&root_text).unwrap_or(root_text);
    record.security.findings.push(crate::record::Finding {
        rule: "telemetry_tampering.gap".into(),
        category: "telemetry_tampering".into(),
        severity: crate::record::Severity::High,
        action: "alert".into(),
        matched: format!("{root_text}/{MARKER}"),
        description: "the project's .telemetry-enabled marker is gone: nothing more is recorded here until it is back"
            .into(),
    });
    record.security.risk = record.security.findings.iter().map(|f| f.severity).max();
    record.gap = Some(crate::record::Gap {
        reason: "marker_removed".into(),
        detected_by: "hook".into(),
        detail: format!("no {MARKER} at or above {root_text}: the hook records nothing here"),
        ..Default::default()
    });
    let _ = Journal::from_config(config).append(&mut record);
}

/// Where telemetry is on for this event, and the project root to judge paths against; `None`
/// means off (exit at once). With scope `project`, a `.telemetry-enabled` marker must sit at the
/// project root or above it.
pub(crate) fn enabled_root(config: &Config, env: &HookEnv, input: &[u8]) -> Option<Option<PathBuf>> {
    let configured = config.scope.project_root.clone().or_else(|| env.project_dir.clone());
    let start = configured.clone().or_else(|| cwd_from_input(input));
    match config.scope.enabled {
        Scope::Off => None,
        Scope::All => Some(start),
        Scope::Project => {
            let marker_dir = start.as_deref().and_then(find_marker)?;
            // A Claude worktree (`<project>/.claude/worktrees/NAME`) is inside its project.
            let configured = configured.map(|c| crate::worktree::split(&c).map(|(project, _)| project).unwrap_or(c));
            Some(Some(configured.unwrap_or(marker_dir)))
        }
    }
}

/// The nearest directory at or above `dir` that holds the marker.
fn find_marker(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(MARKER).exists()).map(Path::to_path_buf)
}

/// The payload's `cwd`, found without a full parse (this runs before telemetry is known to be on).
fn cwd_from_input(input: &[u8]) -> Option<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Cwd {
        cwd: Option<String>,
    }
    serde_json::from_slice::<Cwd>(input).ok().and_then(|c| c.cwd).filter(|c| c.starts_with('/')).map(PathBuf::from)
}

/// At SessionStart, Claude Code hands hooks `CLAUDE_ENV_FILE`; lines written there are exported to
/// every later Bash command of the session. We put the session span's `traceparent` there, so a
/// `claude -p` (or any OTel-instrumented program) started from the session joins its trace.
#[inline(never)]
fn hand_trace_context_to_children(record: &JournalRecord, env: &HookEnv) {
    let (Some(path), Some(session)) = (&env.env_file, &record.session_id) else { return };
    if !session.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return;
    }
    let parent = record.session_context.traceparent.as_deref().and_then(TraceParent::parse);
    let tp = session_traceparent(session, parent.as_ref());
    let mut lines = format!("export TRACEPARENT={}\nexport AGENT_PARENT_SESSION={session}\n", tp.render());
    // The workflow goes on to the sessions this one starts (a shell-safe id only: the line is
    // sourced by Claude Code's shell).
    if let Some(w) = record.session_context.workflow_id.as_deref().filter(|w| {
        !w.is_empty() && w.len() <= 128 && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    }) {
        lines.push_str(&format!("export AGENT_TELEMETRY_WORKFLOW_ID={w}\n"));
    }
    // The path comes from the environment: never block on a FIFO, never write through to a device.
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .and_then(|f| if f.metadata()?.is_file() { Ok(f) } else { Err(std::io::Error::other("not a regular file")) })
        .and_then(|mut f| f.write_all(lines.as_bytes()));
}

/// Enforce mode: the reason to refuse a PreToolUse, if a `deny` rule fired.
fn deny_reason(config: &Config, record: &JournalRecord) -> Option<String> {
    if !config.policy.enforce || record.event() != crate::event::HookEvent::PreToolUse {
        return None;
    }
    let denied: Vec<String> = record
        .security
        .findings
        .iter()
        .filter(|f| f.action == "deny")
        .map(|f| format!("{} ({}): {}", f.rule, f.severity.as_str(), f.description))
        .collect();
    (!denied.is_empty()).then(|| format!("agent-telemetry policy denied this tool call: {}", denied.join("; ")))
}

/// After a panic: a minimal record that says so, with the input's size and hash.
#[inline(never)]
fn record_internal_error(input: &[u8], now: u64, msg: &str) {
    let config = Config::load();
    let env = HookEnv::default();
    let policy = Policy::builtin();
    let enricher = Enricher { config: &config, policy: &policy, policy_error: None, env: &env, project_root: None };
    // Nothing is read from the input here (reading it is what may have panicked): only its size
    // and hash are kept.
    let mut r = enricher.error_record(&[], now, "internal", format!("the hook panicked: {msg}"));
    if let Some(e) = r.input_error.as_mut() {
        e.bytes = input.len() as u64;
        e.sha256 = Some(crate::enrich::privacy::sha256_hex(input));
    }
    let _ = Journal::from_config(&config).append(&mut r);
}
