//! `agent-telemetry install` / `uninstall`: register the hook for every event in Claude Code's
//! `settings.json`, keeping every other setting and hook, idempotently, with a backup of the old
//! file; `uninstall` removes only our entries.
//!
//! `WorktreeCreate` is left out on purpose: a hook on that event *replaces* Claude Code's own
//! `git worktree` creation (it must print the new path), so registering a recorder there would
//! break `--worktree`. `WorktreeRemove` is recorded.

use crate::event::HookEvent;
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Seconds Claude Code waits for our hook before giving up on it (it normally takes ~1 ms).
const HOOK_TIMEOUT_SECS: u64 = 10;

pub enum Target {
    User,
    Project(PathBuf),
}

impl Target {
    pub fn settings_path(&self) -> Result<PathBuf> {
        Ok(match self {
            Target::User => {
                let home = std::env::var_os("HOME").context("HOME is not set; cannot find ~/.claude/settings.json")?;
                PathBuf::from(home).join(".claude/settings.json")
            }
            Target::Project(dir) => dir.join(".claude/settings.json"),
        })
    }
}

/// The command Claude Code runs: this binary's absolute path and `hook`.
pub fn hook_command(exe: &Path) -> String {
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
        && hook.get("url").and_then(Value::as_str).is_some_and(|u| u.ends_with(crate::relay::listen::PATH));
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
pub fn hook_url(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}{}", crate::relay::listen::PATH)
}

/// The events for which `settings` (a parsed settings.json) makes Claude Code run our hook on
/// every call: an entry of ours (`<path>/agent-telemetry hook`, nothing more — `echo
/// agent-telemetry hook` or `agent-telemetry hook; true` is not the recorder) in a group whose
/// matcher takes every tool. `None` when the file sets `disableAllHooks`. The inverse of
/// [`add_hooks`]; the relay checks it to notice a removal (`relay::gaps`).
pub fn registered_events(settings: &Value) -> Option<std::collections::BTreeSet<String>> {
    registered_events_with(settings, None)
}

/// [`registered_events`], where an http entry posting to our endpoint at `listen` (the relay's
/// `[hook] listen`) counts too — at another address it is not ours (a redirect is a gap).
pub fn registered_events_with(
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
pub enum Change {
    Unchanged,
    Written { backup: Option<PathBuf> },
}

/// Adds (or updates) our hook on every event in `settings` (a parsed settings.json).
pub fn add_hooks(settings: &mut Map<String, Value>, command: &str) -> Result<()> {
    add_hooks_with(settings, command, Transport::Command)
}

/// [`add_hooks`] with a transport.
pub fn add_hooks_with(settings: &mut Map<String, Value>, command: &str, transport: Transport) -> Result<()> {
    let hooks = settings.entry("hooks").or_insert_with(|| json!({}));
    let Some(hooks) = hooks.as_object_mut() else { bail!("\"hooks\" in settings.json is not an object") };
    for event in HookEvent::claude_code().filter(HookEvent::registered) {
        let groups = hooks.entry(event.to_string()).or_insert_with(|| json!([]));
        let Some(groups) = groups.as_array_mut() else { bail!("hooks.{event} in settings.json is not an array") };
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
pub fn remove_hooks(settings: &mut Map<String, Value>) {
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
pub fn edit_settings(path: &Path, edit: impl FnOnce(&mut Map<String, Value>) -> Result<()>) -> Result<Change> {
    let old = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut settings: Map<String, Value> = match old.as_deref().map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text)
            .with_context(|| format!("{} is not valid JSON; fix or move it first", path.display()))?
        {
            Value::Object(m) => m,
            _ => bail!("{} is not a JSON object", path.display()),
        },
    };
    let before = Value::Object(settings.clone());
    edit(&mut settings)?;
    if Value::Object(settings.clone()) == before && old.is_some() {
        return Ok(Change::Unchanged);
    }
    let dir = path.parent().context("settings path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let backup = match &old {
        Some(text) => {
            let b = path.with_file_name(format!(
                "settings.json.bak-{}",
                crate::timefmt::rfc3339_nanos(crate::timefmt::now_unix_nanos()).replace([':', '.'], "")
            ));
            std::fs::write(&b, text).with_context(|| format!("cannot write backup {}", b.display()))?;
            Some(b)
        }
        None => None,
    };
    let mut text = serde_json::to_string_pretty(&Value::Object(settings))?;
    text.push('\n');
    let tmp = path.with_file_name(".settings.json.agent-telemetry.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(Change::Written { backup })
}

pub fn install(target: &Target, exe: &Path, marker: bool) -> Result<String> {
    install_with(target, exe, marker, Transport::Command)
}

/// [`install`] with a transport (`install --transport http`).
pub fn install_with(target: &Target, exe: &Path, marker: bool, transport: Transport) -> Result<String> {
    let path = target.settings_path()?;
    let command = hook_command(exe);
    let change = edit_settings(&path, |s| add_hooks_with(s, &command, transport))?;
    let mut out = match change {
        Change::Unchanged => format!("hook already installed in {}\n", path.display()),
        Change::Written { backup } => format!(
            "hook installed for {} events in {}{}\n",
            HookEvent::claude_code().filter(HookEvent::registered).count(),
            path.display(),
            backup.map(|b| format!(" (previous file saved as {})", b.display())).unwrap_or_default()
        ),
    };
    out.push_str(&format!("  command: {command}\n"));
    if let Transport::Http(addr) = transport {
        out.push_str(&format!("  http: {} (every event but SessionStart and UserPromptSubmit)\n", hook_url(addr)));
    }
    match target {
        Target::Project(dir) if marker => {
            let user_settings = Target::User.settings_path().ok();
            if let Some(why) = crate::worktree::uncovered(dir, user_settings.as_deref()) {
                out.push_str(&format!("WARNING: {why}\n"));
            }
            let m = dir.join(crate::hook::MARKER);
            if !m.exists() {
                std::fs::write(&m, "# agent-telemetry records Claude Code activity in this project (remove to stop)\n")
                    .with_context(|| format!("cannot create {}", m.display()))?;
                out.push_str(&format!("telemetry enabled: created {}\n", m.display()));
            } else {
                out.push_str(&format!("telemetry enabled: {} exists\n", m.display()));
            }
        }
        Target::Project(_) => {}
        Target::User => out.push_str(
            "telemetry records in projects with a .telemetry-enabled marker; set scope.enabled = \"all\" in the config (or AGENT_TELEMETRY_SCOPE=all) to record everywhere\n",
        ),
    }
    Ok(out)
}

/// Writes `export.endpoint` / `export.protocol` into the config file (keeping its other settings
/// and comments' neighbours), checked before it is written; then makes sure a running relay took
/// the change (it reloads a changed config file by itself) and says what it exports to now.
pub fn set_endpoint(config: &crate::config::Config, endpoint: Option<&str>, protocol: Option<&str>) -> Result<String> {
    let mut values = Vec::new();
    if let Some(e) = endpoint {
        values.push(("export", "endpoint", e));
    }
    if let Some(p) = protocol {
        values.push(("export", "protocol", p));
    }
    write_config_values(config, &values)?;
    let now = crate::config::Config::load();
    let mut out = format!("relay endpoint set in {}: {}\n", config.config_path.display(), now.export.describe());
    if let Some(e) = &now.error {
        out.push_str(&format!("warning: the configuration has other errors: {e}\n"));
    }
    out.push_str(&crate::relay::control::await_settings(&now, std::time::Duration::from_secs(10)));
    Ok(out)
}

/// Writes `[hook] listen` into the config file and makes sure a relay listens there: one that
/// runs without it is stopped, and one is started (the http events of a session need it; the
/// command hooks on SessionStart and UserPromptSubmit start it again later if it stops).
pub fn set_hook_listen(config: &crate::config::Config, addr: std::net::SocketAddr) -> Result<String> {
    let addr_text = addr.to_string();
    write_config_values(config, &[("hook", "listen", addr_text.as_str())])?;
    let now = crate::config::Config::load();
    let mut out = format!("http hook endpoint set in {}: {}\n", config.config_path.display(), hook_url(addr));
    let relay_dir = crate::relay::checkpoint::relay_dir(&now.data_dir);
    let listening =
        |s: Option<crate::relay::checkpoint::RelayStatus>| s.and_then(|s| s.hook_listen) == Some(addr_text.clone());
    if crate::relay::control::is_running(&now.data_dir) && !listening(crate::relay::checkpoint::load_status(&relay_dir))
    {
        crate::relay::control::stop(&now.data_dir, std::time::Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("the running relay does not listen there and could not be stopped: {e}"))?;
    }
    if !now.export.autostart {
        out.push_str("the relay is not started on demand (export.autostart = false): run it with `agent-telemetry relay --foreground` or its unit\n");
        return Ok(out);
    }
    crate::relay::control::ensure_running(&now);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let status = crate::relay::checkpoint::load_status(&relay_dir);
        if listening(status.clone()) {
            out.push_str(&format!("relay (pid {}) listens on {addr}\n", status.map(|s| s.pid).unwrap_or(0)));
            return Ok(out);
        }
        if let Some(e) = status.and_then(|s| s.hook_listen_error) {
            bail!("{e}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    bail!("no relay listens on {addr} after 10 s; see `agent-telemetry status`")
}

/// Sets `[section] key = value` entries in the config file, keeping its other settings; the new
/// file is checked before it is written, the old one kept as `.toml.bak`.
fn write_config_values(config: &crate::config::Config, values: &[(&str, &str, &str)]) -> Result<()> {
    let path = &config.config_path;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    for (section, key, value) in values {
        let t = table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
        let Some(t) = t.as_table_mut() else { bail!("[{section}] in {} is not a table", path.display()) };
        t.insert(key.to_string(), toml::Value::String(value.to_string()));
    }
    let new_text = toml::to_string(&table)?;
    crate::config::check_file_text(&new_text).map_err(|e| anyhow::anyhow!("not written: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if !text.is_empty() {
        std::fs::write(path.with_extension("toml.bak"), &text).with_context(|| "cannot write the config backup")?;
    }
    let tmp = path.with_extension("toml.agent-telemetry.tmp");
    std::fs::write(&tmp, &new_text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

pub fn uninstall(target: &Target) -> Result<String> {
    let path = target.settings_path()?;
    if !path.exists() {
        return Ok(format!("nothing to do: {} does not exist\n", path.display()));
    }
    Ok(
        match edit_settings(&path, |s| {
            remove_hooks(s);
            Ok(())
        })? {
            Change::Unchanged => format!("no agent-telemetry hook in {}\n", path.display()),
            Change::Written { backup } => format!(
                "hook removed from {}{}\n",
                path.display(),
                backup.map(|b| format!(" (previous file saved as {})", b.display())).unwrap_or_default()
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_events_are_the_recorder_on_every_call() {
        let mut s = Map::new();
        add_hooks(&mut s, "'/opt/my tools/agent-telemetry' hook").unwrap();
        let all = registered_events(&Value::Object(s.clone())).unwrap();
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
            assert_eq!(registered_events(&v).unwrap().contains("PreToolUse"), ours, "{command} / {matcher}");
        }
        s.insert("disableAllHooks".into(), json!(true));
        assert!(registered_events(&Value::Object(s)).is_none());
    }

    #[test]
    fn add_is_idempotent_and_keeps_other_hooks() {
        let mut s: Map<String, Value> = serde_json::from_str(
            r#"{"model": "x", "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "other.sh"}]}]}}"#,
        )
        .unwrap();
        add_hooks(&mut s, "/opt/agent-telemetry hook").unwrap();
        let once = s.clone();
        add_hooks(&mut s, "/opt/agent-telemetry hook").unwrap();
        assert_eq!(s, once);
        let hooks = s["hooks"].as_object().unwrap();
        assert_eq!(hooks.len(), 30);
        assert!(!hooks.contains_key("WorktreeCreate"));
        assert_eq!(hooks["PreToolUse"].as_array().unwrap().len(), 2);
        assert_eq!(s["model"], "x");
        // A moved binary replaces the old entry instead of adding a second one.
        add_hooks(&mut s, "/new/agent-telemetry hook").unwrap();
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
