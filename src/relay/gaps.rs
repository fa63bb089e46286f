//! Silence is an event: the relay notices when telemetry goes dark and writes it down.
//!
//! The hook cannot report its own absence: once our entry is gone from `settings.json`, the
//! marker is removed or Claude Code stops running hooks, nothing runs to say so. The relay runs
//! while sessions are open (their spans keep it alive), reads every record, and checks at start
//! and every `export.gap_check_secs`, for each project it has seen records from:
//!
//! - `settings_entry_removed`: an event on which our hook ran (in the user's, the project's or
//!   the project's local settings, or the managed settings) no longer runs it — the entry was
//!   deleted, its command changed (`sed 's/agent-telemetry hook/true/'`) or its matcher narrowed.
//!   The events first seen registered are the baseline (a configuration we cannot read, e.g. a
//!   plugin's hooks, is never reported as removed).
//! - `hooks_disabled`: a settings file sets `disableAllHooks`.
//! - `marker_removed` (scope `project`): no `.telemetry-enabled` at or above the project root.
//!   The next hook run there reports the same (`detected_by: hook`); whichever comes first is
//!   the one record.
//! - `session_silent`: a session with no SessionEnd and no record for `export.session_silence_secs`
//!   while it was working on a turn (the agent's silence is evidence), or for
//!   `export.span_timeout_secs` while it waited for the user (a Stop, a permission prompt: silence
//!   is expected there for a while). Also noticed late, from the records themselves, when the relay
//!   was not running during the silence. A silence older than a week when first seen is
//!   history (a journal read for the first time), not reported.
//!
//! Each is one `telemetry_gap` record per transition (not one per check), appended through the
//! journal like every record (hash-chained, exported); when it ends — the entry or marker is
//! back, the session speaks again — one `telemetry_restored` record with the same reason. The
//! state lives in the relay's checkpoint; the relay's own records update it when read back, so a
//! relay that restarts before its checkpoint moved does not report a transition twice.

use super::identity::Identity;
use crate::config::{Config, Scope};
use crate::event::HookEvent;
use crate::record::{Finding, Gap, JournalRecord, Level, Severity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SETTINGS_REMOVED: &str = "settings_entry_removed";
const HOOKS_DISABLED: &str = "hooks_disabled";
const MARKER_REMOVED: &str = "marker_removed";
const SESSION_SILENT: &str = "session_silent";

/// Bounds on what is remembered (the checkpoint stays small).
const MAX_PROJECTS: usize = 1024;
const MAX_SESSIONS: usize = 4096;
/// A silent session is remembered this long after its gap, to notice when it speaks again.
const FORGET_SILENT_NS: u64 = 7 * 24 * 3600 * 1_000_000_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct GapWatch {
    projects: BTreeMap<String, ProjectWatch>,
    sessions: BTreeMap<String, SessionWatch>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct ProjectWatch {
    last_seen: u64,
    last_session: Option<String>,
    identity: Identity,
    /// Events seen registered (grows; `None` before the first check).
    baseline: Option<BTreeSet<String>>,
    marker_seen: bool,
    /// Open gaps by reason: what was reported (for settings, the events missing).
    open: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct SessionWatch {
    project: Option<String>,
    last_time: u64,
    waiting: bool,
    /// A `session_silent` gap was reported (at this session's `last_time`).
    silent: bool,
}

/// Where Claude Code reads settings for a project (user, project, local, managed).
pub(crate) fn settings_files(project: &Path) -> Vec<PathBuf> {
    let user = std::env::var_os("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude")));
    let mut out: Vec<PathBuf> = user.into_iter().map(|d| d.join("settings.json")).collect();
    out.push(project.join(".claude/settings.json"));
    out.push(project.join(".claude/settings.local.json"));
    out.push(PathBuf::from("/etc/claude-code/managed-settings.json"));
    out
}

/// What the settings files register for a project: the union of events our hook runs on, or
/// the file that disables all hooks.
enum Coverage {
    Events(BTreeSet<String>),
    Disabled(PathBuf),
}

fn coverage(project: &Path, listen: Option<std::net::SocketAddr>) -> Coverage {
    let mut events = BTreeSet::new();
    for f in settings_files(project) {
        // The project's files are the agent's to write: bounded, regular files only, no wait.
        let Ok(bytes) = crate::enrich::files::read_bounded(&f, 4 << 20) else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
        match crate::claude_settings::registered_events_with(&v, listen) {
            None => return Coverage::Disabled(f),
            Some(e) => events.extend(e),
        }
    }
    Coverage::Events(events)
}

fn has_marker(project: &Path) -> bool {
    project.ancestors().any(|d| std::fs::symlink_metadata(d.join(crate::hook::MARKER)).is_ok())
}

/// Main-agent events after which Claude waits for the user (silence is expected).
fn leaves_waiting(ev: &HookEvent) -> Option<bool> {
    match ev {
        HookEvent::SessionStart
        | HookEvent::Stop
        | HookEvent::StopFailure
        | HookEvent::Notification
        | HookEvent::PermissionRequest
        | HookEvent::Elicitation => Some(true),
        HookEvent::UserPromptSubmit
        | HookEvent::UserPromptExpansion
        | HookEvent::PreToolUse
        | HookEvent::PostToolUse
        | HookEvent::PostToolUseFailure
        | HookEvent::PostToolBatch
        | HookEvent::PermissionDenied
        | HookEvent::ElicitationResult => Some(false),
        _ => None,
    }
}

impl GapWatch {
    /// Takes one record read from the journal; returns the records to append because of it (a
    /// silent session speaks again; a silence noticed only now).
    pub(crate) fn observe(&mut self, r: &JournalRecord, config: &Config) -> Vec<JournalRecord> {
        let ev = r.event();
        if let Some(g) = &r.gap {
            self.take_own(r, g, &ev);
            return Vec::new();
        }
        if matches!(ev, HookEvent::ModelCall | HookEvent::Behaviour) {
            // Written by the relay, often after the session ended: not the session speaking (a
            // session seen again here would be reported silent once its silence passed).
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(p) = r.project_path.as_deref() {
            let w = self.projects.entry(p.to_string()).or_default();
            w.last_seen = w.last_seen.max(r.time_unix_nano);
            w.last_session = r.session_id.clone().or(w.last_session.take());
            w.identity = Identity::of(r);
        }
        let Some(sid) = r.session_id.clone() else { return out };
        let project = r.project_path.clone();
        let identity = self.identity_of(project.as_deref()).clone();
        let s = self.sessions.entry(sid.clone()).or_insert_with(|| SessionWatch {
            project: project.clone(),
            last_time: r.time_unix_nano,
            ..Default::default()
        });
        let silence = r.time_unix_nano.saturating_sub(s.last_time);
        let threshold =
            if s.waiting { config.export.span_timeout } else { config.export.session_silence }.as_nanos() as u64;
        if !s.silent && silence > threshold {
            // Silent while no relay watched: said now, from the records' own times.
            out.push(session_gap_record(
                &sid,
                project.as_deref(),
                s.last_time,
                silence,
                s.waiting,
                r.time_unix_nano,
                &identity,
            ));
        }
        if s.silent || !out.is_empty() {
            s.silent = false;
            out.push(restored(
                r.time_unix_nano,
                SESSION_SILENT,
                project.as_deref(),
                Some(&sid),
                &identity,
                Gap { silent_secs: Some(silence / 1_000_000_000), ..gap_of(SESSION_SILENT) },
            ));
        }
        let s = self.sessions.get_mut(&sid).expect("just inserted");
        s.last_time = s.last_time.max(r.time_unix_nano);
        s.project = project.or(s.project.take());
        if r.agent_context.agent_id.is_none() {
            if let Some(w) = leaves_waiting(&ev) {
                s.waiting = w;
            }
        }
        if ev == HookEvent::SessionEnd {
            // Ended (after its silence, if any, was closed above): nothing more to watch.
            self.sessions.remove(&sid);
        }
        // (Bounded at each check, not per record: the relay's loop is hot.)
        out
    }

    /// A gap record read back (ours, or the hook's `marker_removed`): the transition is known.
    fn take_own(&mut self, r: &JournalRecord, g: &Gap, ev: &HookEvent) {
        let gap_open = *ev != HookEvent::TelemetryRestored;
        if g.reason == SESSION_SILENT {
            if let Some(s) = r.session_id.as_ref().and_then(|sid| self.sessions.get_mut(sid)) {
                s.silent = gap_open;
            }
            return;
        }
        let Some(p) = r.project_path.as_deref() else { return };
        let w = self.projects.entry(p.to_string()).or_default();
        if gap_open {
            w.open.insert(g.reason.clone(), g.events.clone());
            if g.reason == MARKER_REMOVED {
                w.marker_seen = true;
            }
        } else {
            w.open.remove(&g.reason);
        }
    }

    /// The periodic check (at start, then every `gap_check_secs`, only when the relay has read
    /// the whole journal: a backlog is not silence). Returns the records to append.
    pub(crate) fn check(&mut self, config: &Config, journal_dir: &Path, now: u64) -> Vec<JournalRecord> {
        let mut out = Vec::new();
        let names: Vec<String> = self.projects.keys().cloned().collect();
        for p in names {
            let path = PathBuf::from(&p);
            if std::fs::symlink_metadata(&path).is_err() {
                // The project itself is gone (a deleted checkout): nothing to watch any more.
                self.projects.remove(&p);
                continue;
            }
            let identity = self.projects[&p].identity.clone();
            let w = self.projects.get_mut(&p).expect("listed");
            let last = (w.last_seen, w.last_session.clone());
            // Settings: the events of the baseline that no longer run our hook.
            let (disabled, missing) = match coverage(&path, config.hook.listen) {
                Coverage::Disabled(f) => (Some(f), Vec::new()),
                Coverage::Events(now_registered) => {
                    let base = w.baseline.get_or_insert_with(BTreeSet::new);
                    base.extend(now_registered.iter().cloned());
                    (None, base.difference(&now_registered).cloned().collect::<Vec<_>>())
                }
            };
            let watched = w.baseline.as_ref().is_some_and(|b| !b.is_empty());
            let mut transition =
                |w: &mut ProjectWatch, reason: &str, now_open: Option<Vec<String>>, detail: String| match (
                    w.open.get(reason),
                    now_open,
                ) {
                    (None, None) => {}
                    (Some(before), Some(events)) if *before == events => {}
                    (_, Some(events)) => {
                        w.open.insert(reason.to_string(), events.clone());
                        let g = Gap {
                            events,
                            detail,
                            last_seen: Some(crate::timefmt::rfc3339_nanos(last.0)),
                            ..gap_of(reason)
                        };
                        out.push(gap_record(now, reason, Some(&p), last.1.as_deref(), &identity, g, Severity::High));
                    }
                    (Some(_), None) => {
                        w.open.remove(reason);
                        out.push(restored(now, reason, Some(&p), last.1.as_deref(), &identity, gap_of(reason)));
                    }
                };
            let disabled_now = disabled.as_ref().filter(|_| watched).map(|_| Vec::new());
            let disabled_detail = disabled
                .map(|f| format!("{} sets disableAllHooks: Claude Code runs no hook, ours included", f.display()))
                .unwrap_or_default();
            transition(w, HOOKS_DISABLED, disabled_now, disabled_detail);
            let missing_now = (!missing.is_empty() && watched).then(|| missing.clone());
            let detail = format!(
                "our hook no longer runs on {} (checked: {})",
                missing.join(", "),
                settings_files(&path).iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
            );
            // While all hooks are disabled the settings are not read: their state stays as it was.
            if !w.open.contains_key(HOOKS_DISABLED) {
                transition(w, SETTINGS_REMOVED, missing_now, detail);
            }
            if config.scope.enabled == Scope::Project {
                let present = has_marker(&path);
                w.marker_seen |= present;
                let gone = (!present && w.marker_seen).then(Vec::new);
                let reported_now = gone.is_some() && !w.open.contains_key(MARKER_REMOVED);
                transition(
                    w,
                    MARKER_REMOVED,
                    gone,
                    format!("no {} at or above {p}: the hook records nothing here", crate::hook::MARKER),
                );
                if reported_now {
                    // The hook would say the same at its next run there: once is enough.
                    crate::journal::projects::forget(journal_dir, &path);
                }
            }
        }
        // Sessions that stopped speaking. A silence that began more than a week ago is history
        // (a journal read for the first time, a relay down for long), not reported.
        self.sessions.retain(|_, s| s.silent || now.saturating_sub(s.last_time) < FORGET_SILENT_NS);
        for (sid, s) in self.sessions.iter_mut() {
            let threshold =
                if s.waiting { config.export.span_timeout } else { config.export.session_silence }.as_nanos() as u64;
            let silence = now.saturating_sub(s.last_time);
            if s.silent || silence <= threshold {
                continue;
            }
            s.silent = true;
            let identity =
                s.project.as_deref().and_then(|p| self.projects.get(p)).map(|w| w.identity.clone()).unwrap_or_default();
            out.push(session_gap_record(sid, s.project.as_deref(), s.last_time, silence, s.waiting, now, &identity));
        }
        self.bound(now);
        out
    }

    fn identity_of(&self, project: Option<&str>) -> &Identity {
        static NONE: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
        project
            .and_then(|p| self.projects.get(p))
            .map(|w| &w.identity)
            .unwrap_or_else(|| NONE.get_or_init(Identity::default))
    }

    /// Keeps the state small: the most recently seen projects and sessions only; silent sessions
    /// are forgotten a week after they went quiet.
    fn bound(&mut self, now: u64) {
        self.sessions.retain(|_, s| !s.silent || s.last_time + FORGET_SILENT_NS > now);
        trim(&mut self.sessions, MAX_SESSIONS, |s| s.last_time);
        trim(&mut self.projects, MAX_PROJECTS, |w| w.last_seen);
    }
}

fn trim<V>(map: &mut BTreeMap<String, V>, max: usize, time: impl Fn(&V) -> u64) {
    if map.len() <= max {
        return;
    }
    let mut times: Vec<u64> = map.values().map(&time).collect();
    times.sort_unstable();
    let cut = times[map.len() - max];
    map.retain(|_, v| time(v) >= cut);
}

fn gap_of(reason: &str) -> Gap {
    Gap { reason: reason.to_string(), detected_by: "relay".into(), ..Gap::default() }
}

fn session_gap_record(
    sid: &str,
    project: Option<&str>,
    last: u64,
    silence: u64,
    waiting: bool,
    now: u64,
    identity: &Identity,
) -> JournalRecord {
    let secs = silence / 1_000_000_000;
    let g = Gap {
        last_seen: Some(crate::timefmt::rfc3339_nanos(last)),
        silent_secs: Some(secs),
        waiting_for_user: waiting,
        detail: if waiting {
            format!("no record for {secs} s and no SessionEnd; the session was waiting for the user")
        } else {
            format!("no record for {secs} s in the middle of a turn, and no SessionEnd")
        },
        ..gap_of(SESSION_SILENT)
    };
    gap_record(
        now,
        SESSION_SILENT,
        project,
        Some(sid),
        identity,
        g,
        if waiting { Severity::Medium } else { Severity::High },
    )
}

fn base_record(
    now: u64,
    ev: HookEvent,
    project: Option<&str>,
    session: Option<&str>,
    identity: &Identity,
) -> JournalRecord {
    let mut r = JournalRecord {
        timestamp: crate::timefmt::rfc3339_nanos(now),
        time_unix_nano: now,
        event_type: ev.base_event_type().to_string(),
        hook_event: ev.to_string(),
        session_id: session.map(str::to_string),
        project_path: project.map(str::to_string),
        telemetry_enabled: true,
        ..JournalRecord::default()
    };
    r.session_context.session_id = r.session_id.clone();
    r.metadata.telemetry_version = crate::record::TELEMETRY_VERSION.to_string();
    identity.stamp(&mut r);
    r
}

fn gap_record(
    now: u64,
    reason: &str,
    project: Option<&str>,
    session: Option<&str>,
    identity: &Identity,
    mut g: Gap,
    severity: Severity,
) -> JournalRecord {
    let mut r = base_record(now, HookEvent::TelemetryGap, project, session, identity);
    let mut redactor = crate::enrich::redact::Redactor::new();
    if let Some(d) = redactor.redact(&g.detail) {
        g.detail = d;
    }
    r.security.findings.push(Finding {
        rule: "telemetry_tampering.gap".into(),
        category: "telemetry_tampering".into(),
        severity,
        action: "alert".into(),
        matched: g.detail.clone(),
        description: match reason {
            SETTINGS_REMOVED => "our hook entry is gone from the settings: these events are no longer recorded",
            HOOKS_DISABLED => "a settings file disables all hooks: nothing is recorded",
            MARKER_REMOVED => {
                "the project's .telemetry-enabled marker is gone: nothing more is recorded here until it is back"
            }
            _ => "the session stopped producing records without ending",
        }
        .into(),
    });
    r.security.risk = Some(severity);
    r.level = severity.level();
    r.gap = Some(g);
    r
}

fn restored(
    now: u64,
    reason: &str,
    project: Option<&str>,
    session: Option<&str>,
    identity: &Identity,
    g: Gap,
) -> JournalRecord {
    let mut r = base_record(now, HookEvent::TelemetryRestored, project, session, identity);
    r.level = Level::Info;
    r.gap = Some(Gap { reason: reason.to_string(), ..g });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn rec(ev: &str, sid: &str, t: u64) -> JournalRecord {
        JournalRecord {
            hook_event: ev.into(),
            session_id: Some(sid.into()),
            time_unix_nano: t,
            ..JournalRecord::default()
        }
    }

    fn reasons(records: &[JournalRecord]) -> Vec<(String, String)> {
        records.iter().map(|r| (r.event_type.clone(), r.gap.as_ref().unwrap().reason.clone())).collect()
    }

    #[test]
    fn a_session_silent_mid_turn_is_one_transition_each_way() {
        let config = Config::default();
        let silence = config.export.session_silence.as_secs();
        let dir = Path::new("/nonexistent");
        let mut w = GapWatch::default();
        let t0 = 1_000_000 * S;
        assert!(w.observe(&rec("UserPromptSubmit", "s", t0), &config).is_empty());
        assert!(w.check(&config, dir, t0 + silence * S).is_empty(), "not yet");
        let gap = w.check(&config, dir, t0 + (silence + 1) * S);
        assert_eq!(reasons(&gap), [("telemetry_gap".to_string(), SESSION_SILENT.to_string())]);
        assert_eq!(gap[0].level, Level::Error);
        assert!(w.check(&config, dir, t0 + (silence + 60) * S).is_empty(), "once per transition");
        // Read back: no change; the session speaks: restored, with how long it lasted.
        assert!(w.observe(&gap[0], &config).is_empty());
        let back = w.observe(&rec("PostToolUse", "s", t0 + (silence + 100) * S), &config);
        assert_eq!(reasons(&back), [("telemetry_restored".to_string(), SESSION_SILENT.to_string())]);
        assert_eq!(back[0].gap.as_ref().unwrap().silent_secs, Some(silence + 100));
        // Waiting for the user (a Stop): silence is expected until the span timeout.
        let t1 = t0 + (silence + 200) * S;
        assert!(w.observe(&rec("Stop", "s", t1), &config).is_empty());
        assert!(w.check(&config, dir, t1 + (silence + 1) * S).is_empty());
        let idle = w.check(&config, dir, t1 + config.export.span_timeout.as_secs() * S + S);
        assert_eq!(idle.len(), 1);
        assert!(idle[0].gap.as_ref().unwrap().waiting_for_user && idle[0].level == Level::Warn);
        // It ends: the silence is closed, and an ended session is not watched.
        let end = w.observe(&rec("SessionEnd", "s", t1 + 10_000 * S), &config);
        assert_eq!(end.iter().map(|r| r.event_type.as_str()).collect::<Vec<_>>(), ["telemetry_restored"]);
        assert!(w.check(&config, dir, t1 + 100_000 * S).is_empty());
        // Noticed late, from the records' own times: a gap and its end.
        assert!(w.observe(&rec("PreToolUse", "late", t0), &config).is_empty());
        let late = w.observe(&rec("PostToolUse", "late", t0 + (silence + 5) * S), &config);
        assert_eq!(
            late.iter().map(|r| r.event_type.as_str()).collect::<Vec<_>>(),
            ["telemetry_gap", "telemetry_restored"]
        );
    }
}
