//! `agent-telemetry install` / `uninstall`: register the hook for every event in Claude Code's
//! `settings.json` (through [`crate::claude_settings`]: every other setting and hook kept,
//! idempotently, with a backup of the old file), create the project's marker, and point the
//! relay at an endpoint; `uninstall` removes only our entries.

use crate::claude_settings::{add_hooks_with, edit_settings, hook_command, hook_url, remove_hooks, Change};
pub use crate::claude_settings::{Target, Transport};
use crate::event::HookEvent;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Registers the hook (`install`, with `--transport`), and creates the project's marker.
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
    out.push_str(&await_settings(&now, std::time::Duration::from_secs(10)));
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
    if crate::relay_control::is_running(&now.data_dir) && !listening(crate::relay::checkpoint::load_status(&relay_dir))
    {
        crate::relay_control::stop(&now.data_dir, std::time::Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("the running relay does not listen there and could not be stopped: {e}"))?;
    }
    if !now.export.autostart {
        out.push_str("the relay is not started on demand (export.autostart = false): run it with `agent-telemetry relay --foreground` or its unit\n");
        return Ok(out);
    }
    crate::relay_control::ensure_running(&now);
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

/// After a config change: waits until a running relay reports the export settings `config`
/// resolves to, and says what it now does (a relay reloads a changed config file by itself).
fn await_settings(config: &crate::config::Config, timeout: std::time::Duration) -> String {
    let Some(pid) = crate::relay_control::running_pid(&config.data_dir) else {
        return format!("no relay running: the next hook starts one exporting to {}\n", config.export.describe());
    };
    let want = config.export.fingerprint();
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let status = crate::relay::checkpoint::load_status(&crate::relay_control::relay_dir(&config.data_dir));
        match status {
            Some(s) if s.export_fingerprint == want => {
                return format!("relay (pid {pid}) now exports to {}\n", s.destination)
            }
            Some(s) if std::time::Instant::now() >= deadline => {
                return format!(
                    "warning: the running relay (pid {pid}) still exports to {}{}; see `agent-telemetry status`\n",
                    s.destination,
                    s.config_error.map(|e| format!(" (it could not take the change: {e})")).unwrap_or_default()
                )
            }
            None if std::time::Instant::now() >= deadline => {
                return format!(
                    "warning: the running relay (pid {pid}) reports no status; see `agent-telemetry status`\n"
                )
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
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
