//! Claude Code's `settings.json`, as far as our hook is concerned: where the file is, the hook
//! entries we write (a command per event, or an http POST to the relay), which events a file
//! makes Claude Code run our recorder on, and the edit that keeps every other setting and hook
//! and saves the old file. `install`/`uninstall` write through it; the relay's gap watch and
//! `status` read through it, so all three agree on what "our hook is registered" means.
//!
//! `WorktreeCreate` is left out on purpose: a hook on that event *replaces* Claude Code's own
//! `git worktree` creation (it must print the new path), so registering a recorder there would
//! break `--worktree`. `WorktreeRemove` is recorded.

use crate::event::HookEvent;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The URL path our http hook entries post to, which the relay's endpoint serves (it names us,
/// so `uninstall` finds our entries).
pub(crate) const HOOK_PATH: &str = "/agent-telemetry/hook";

/// Why settings.json could not be found, read, understood or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

fn io(what: String, source: std::io::Error) -> SettingsError {
    SettingsError::Io { what, source }
}

/// Seconds Claude Code waits for our hook before giving up on it (it normally takes ~1 ms).
const HOOK_TIMEOUT_SECS: u64 = 10;

pub enum Target {
    User,
    Project(PathBuf),
}

impl Target {
    pub(crate) fn settings_path(&self) -> Result<PathBuf, SettingsError> {
        Ok(match self {
            Target::User => {
                let home = std::env::var_os("HOME").ok_or_else(|| {
                    SettingsError::Invalid("HOME is not set; cannot find ~/.claude/settings.json".into())
                })?;
                PathBuf::from(home).join(".claude/settings.json")
            }
            Target::Project(dir) => dir.join(".claude/settings.json"),
        })
    }
}

/// The command Claude Code runs: this binary's absolute path and `hook`.
pub(crate) fn hook_command(exe: &Path) -> String {
    let p = exe.display().to_string();
    if p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b)) {
        format!("{p} hook")
    } else {
        format!("'{}' hook", p.replace('\'', r"'\''"))
    }
}

/// Whether a hook entry is one of ours (any version or location of the binary; or an http
/// entry posting to the relay's hook path).
fn is_ours(hook: &Value) -> bool {
    let command = hook
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| c.trim_end().ends_with(" hook") && c.contains("agent-telemetry"));
    let http = hook.get("type").and_then(Value::as_str) == Some("http")
        && hook.get("url").and_then(Value::as_str).is_some_and(|u| u.ends_with(HOOK_PATH));
    command || http
}

/// How Claude Code hands us its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `agent-telemetry hook`, a process per event: never loses an event (the journal is written
    /// by the hook itself).
    Command,
    /// A POST to the relay at this loopback address — no process start — except SessionStart
    /// and UserPromptSubmit, which stay commands: they start the relay when it is down (and
    /// SessionStart hands the trace context to the session's commands, which only a command
    /// hook can).
    Http(std::net::SocketAddr),
}

/// The events that stay command hooks under the http transport.
fn stays_command(event: &HookEvent) -> bool {
    matches!(event, HookEvent::SessionStart | HookEvent::UserPromptSubmit)
}

/// The URL our http entries post to.
pub(crate) fn hook_url(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}{}", HOOK_PATH)
}

/// The events for which `settings` (a parsed settings.json) makes Claude Code run our hook on
/// every call: an entry of ours (`<path>/agent-telemetry hook`, nothing more — `echo
/// agent-telemetry hook` or `agent-telemetry hook; true` is not the recorder) in a group whose
/// matcher takes every tool; with `listen` (the relay's `[hook] listen`), an http entry posting
/// to our endpoint there counts too — at another address it is not ours (a redirect is a gap).
/// `None` when the file sets `disableAllHooks`. The inverse of [`add_hooks_with`]; the relay
/// checks it to notice a removal (`relay::gaps`).
pub(crate) fn registered_events_with(
    settings: &Value,
    listen: Option<std::net::SocketAddr>,
) -> Option<std::collections::BTreeSet<String>> {
    if settings.get("disableAllHooks").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let mut out = std::collections::BTreeSet::new();
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else { return Some(out) };
    for (event, groups) in hooks {
        let every_call = |g: &Value| g.get("matcher").is_none_or(|m| matches!(m.as_str(), Some("" | "*" | ".*")));
        let ours = |g: &Value| {
            g.get("hooks")
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().any(|h| is_recorder(h) || is_our_endpoint(h, listen)))
        };
        if groups.as_array().is_some_and(|gs| gs.iter().any(|g| every_call(g) && ours(g))) {
            out.insert(event.clone());
        }
    }
    Some(out)
}

/// Whether a hook entry is an http hook posting to the relay's endpoint at `listen`, exactly.
fn is_our_endpoint(hook: &Value, listen: Option<std::net::SocketAddr>) -> bool {
    let Some(addr) = listen else { return false };
    hook.get("type").and_then(Value::as_str) == Some("http")
        && hook.get("url").and_then(Value::as_str) == Some(hook_url(addr).as_str())
}

/// Whether a hook entry runs the recorder itself: a command hook whose command is exactly one
/// program named `agent-telemetry` (any directory, quoted or not) and the word `hook`.
fn is_recorder(hook: &Value) -> bool {
    if hook.get("type").and_then(Value::as_str).is_some_and(|t| t != "command") {
        return false;
    }
    let Some(c) = hook.get("command").and_then(Value::as_str) else { return false };
    let c = c.trim();
    let Some(program) = c.strip_suffix(" hook").map(str::trim_end) else { return false };
    let program = match program.strip_prefix('\'').and_then(|p| p.strip_suffix('\'')) {
        Some(quoted) => quoted.replace(r"'\''", "'"),
        None if !program.contains(|ch: char| ch.is_whitespace() || "'\"`$;&|<>()\\".contains(ch)) => {
            program.to_string()
        }
        None => return false,
    };
    Path::new(&program).file_name().is_some_and(|n| n == "agent-telemetry")
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Unchanged,
    Written { backup: Option<PathBuf> },
}

/// Adds (or updates) our hook on every event in `settings` (a parsed settings.json), for a
/// transport.
pub(crate) fn add_hooks_with(
    settings: &mut Map<String, Value>,
    command: &str,
    transport: Transport,
) -> Result<(), SettingsError> {
    let hooks = settings.entry("hooks").or_insert_with(|| json!({}));
    let Some(hooks) = hooks.as_object_mut() else {
        return Err(SettingsError::Invalid("\"hooks\" in settings.json is not an object".into()));
    };
    for event in HookEvent::claude_code().filter(HookEvent::registered) {
        let groups = hooks.entry(event.to_string()).or_insert_with(|| json!([]));
        let Some(groups) = groups.as_array_mut() else {
            return Err(SettingsError::Invalid(format!("hooks.{event} in settings.json is not an array")));
        };
        let entry = match transport {
            Transport::Http(addr) if !stays_command(&event) => {
                json!({"type": "http", "url": hook_url(addr), "timeout": HOOK_TIMEOUT_SECS})
            }
            _ => json!({"type": "command", "command": command, "timeout": HOOK_TIMEOUT_SECS}),
        };
        let mut found = false;
        for group in groups.iter_mut() {
            if let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                for h in list.iter_mut().filter(|h| is_ours(h)) {
                    if !found {
                        *h = entry.clone();
                        found = true;
                    } else {
                        *h = Value::Null; // a duplicate of ours
                    }
                }
                list.retain(|h| !h.is_null());
            }
        }
        groups.retain(|g| g.get("hooks").and_then(Value::as_array).is_none_or(|l| !l.is_empty()));
        if !found {
            let mut group = Map::new();
            if event.is_tool_event() {
                group.insert("matcher".into(), json!("*"));
            }
            group.insert("hooks".into(), json!([entry]));
            groups.push(Value::Object(group));
        }
    }
    Ok(())
}

/// Removes our hook entries, and the groups and events that only held them.
pub(crate) fn remove_hooks(settings: &mut Map<String, Value>) {
    let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) else { return };
    for (_, groups) in hooks.iter_mut() {
        let Some(groups) = groups.as_array_mut() else { continue };
        for group in groups.iter_mut() {
            if let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                list.retain(|h| !is_ours(h));
            }
        }
        groups.retain(|g| g.get("hooks").and_then(Value::as_array).is_none_or(|l| !l.is_empty()));
    }
    hooks.retain(|_, groups| groups.as_array().is_none_or(|g| !g.is_empty()));
    if hooks.is_empty() {
        settings.remove("hooks");
    }
}

/// Reads settings.json (empty object if absent), applies `edit`, and writes it back with a backup
/// if anything changed.
pub(crate) fn edit_settings(
    path: &Path,
    edit: impl FnOnce(&mut Map<String, Value>) -> Result<(), SettingsError>,
) -> Result<Change, SettingsError> {
    let old = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(format!("cannot read {}", path.display()), e)),
    };
    let mut settings: Map<String, Value> = match old.as_deref().map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text).map_err(|source| SettingsError::Json {
            what: format!("{} is not valid JSON; fix or move it first", path.display()),
            source,
        })? {
            Value::Object(m) => m,
            _ => return Err(SettingsError::Invalid(format!("{} is not a JSON object", path.display()))),
        },
    };
    let before = Value::Object(settings.clone());
    edit(&mut settings)?;
    if Value::Object(settings.clone()) == before && old.is_some() {
        return Ok(Change::Unchanged);
    }
    let dir = path.parent().ok_or_else(|| SettingsError::Invalid("settings path has no directory".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| io(format!("cannot create {}", dir.display()), e))?;
    let backup = match &old {
        Some(text) => {
            let b = path.with_file_name(format!(
                "settings.json.bak-{}",
                crate::timefmt::rfc3339_nanos(crate::timefmt::now_unix_nanos()).replace([':', '.'], "")
            ));
            std::fs::write(&b, text).map_err(|e| io(format!("cannot write backup {}", b.display()), e))?;
            Some(b)
        }
        None => None,
    };
    let mut text = serde_json::to_string_pretty(&Value::Object(settings))
        .map_err(|source| SettingsError::Json { what: format!("cannot write {}", path.display()), source })?;
    text.push('\n');
    let tmp = path.with_file_name(".settings.json.agent-telemetry.tmp");
    std::fs::write(&tmp, text).map_err(|e| io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(format!("cannot replace {}", path.display()), e))?;
    Ok(Change::Written { backup })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_events_are_the_recorder_on_every_call() {
        let mut s = Map::new();
        add_hooks_with(&mut s, "'/opt/my tools/agent-telemetry' hook", Transport::Command).unwrap();
        let all = registered_events_with(&Value::Object(s.clone()), None).unwrap();
        assert_eq!(all.len(), 30);
        for (command, matcher, ours) in [
            ("/usr/bin/agent-telemetry hook", "*", true),
            ("agent-telemetry hook", "", true),
            ("true", "*", false),
            ("echo agent-telemetry hook", "*", false),
            ("agent-telemetry hook; true", "*", false),
            ("/usr/bin/agent-telemetry-x hook", "*", false),
            ("/usr/bin/agent-telemetry hook", "Bash", false),
        ] {
            let v = json!({"hooks": {"PreToolUse": [{"matcher": matcher, "hooks": [{"type": "command", "command": command}]}]}});
            assert_eq!(registered_events_with(&v, None).unwrap().contains("PreToolUse"), ours, "{command} / {matcher}");
        }
        s.insert("disableAllHooks".into(), json!(true));
        assert!(registered_events_with(&Value::Object(s), None).is_none());
    }

    #[test]
    fn add_is_idempotent_and_keeps_other_hooks() {
        let mut s: Map<String, Value> = serde_json::from_str(
            r#"{"model": "x", "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "other.sh"}]}]}}"#,
        )
        .unwrap();
        add_hooks_with(&mut s, "/opt/agent-telemetry hook", Transport::Command).unwrap();
        let once = s.clone();
        add_hooks_with(&mut s, "/opt/agent-telemetry hook", Transport::Command).unwrap();
        assert_eq!(s, once);
        let hooks = s["hooks"].as_object().unwrap();
        assert_eq!(hooks.len(), 30);
        assert!(!hooks.contains_key("WorktreeCreate"));
        assert_eq!(hooks["PreToolUse"].as_array().unwrap().len(), 2);
        assert_eq!(s["model"], "x");
        // A moved binary replaces the old entry instead of adding a second one.
        add_hooks_with(&mut s, "/new/agent-telemetry hook", Transport::Command).unwrap();
        let pre = serde_json::to_string(&s["hooks"]["PreToolUse"]).unwrap();
        assert!(pre.contains("/new/agent-telemetry") && !pre.contains("/opt/agent-telemetry"));
        remove_hooks(&mut s);
        assert_eq!(
            Value::Object(s),
            serde_json::json!({"model": "x", "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "other.sh"}]}]}})
        );
    }

    #[test]
    fn quotes_odd_paths() {
        assert_eq!(hook_command(Path::new("/a b/agent-telemetry")), "'/a b/agent-telemetry' hook");
    }
}
