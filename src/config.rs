//! Settings, in one place: a TOML file with documented defaults, overridden by
//! `AGENT_TELEMETRY_*` environment variables (Claude Code strips `OTEL_*` from hook processes, so
//! the hook cannot rely on those).
//!
//! Where the file is: see [`config_path`]. A broken file never stops the hook: it
//! runs on defaults and says so on the record (`metadata.config_error`).

use serde::Deserialize;
use std::env;
use std::path::{Path, PathBuf};

/// Where telemetry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Only in projects with a `.telemetry-enabled` marker at their root (the seed's rule).
    #[default]
    Project,
    /// Every project of this user.
    All,
    /// Nowhere: the hook exits at once.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Rely on the OS to flush (a crash of the machine may lose the last records).
    #[default]
    Never,
    /// fsync after every record (strict audit; ~150 µs more per event).
    Always,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopeConfig {
    pub enabled: Scope,
    /// The project root when `CLAUDE_PROJECT_DIR` is absent (e.g. HTTP hooks).
    pub project_root: Option<PathBuf>,
    /// Paths outside the project that do not count as leaving it (e.g. `/tmp`).
    pub allow_paths: Vec<PathBuf>,
}

impl Default for ScopeConfig {
    fn default() -> Self {
        ScopeConfig { enabled: Scope::Project, project_root: None, allow_paths: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// Store file contents, tool outputs and diffs (redacted, capped). Off: size + SHA-256 only.
    pub content: bool,
    /// Cap per captured string, in bytes.
    pub max_bytes: usize,
    /// Keep prompt text (redacted, capped at `max_bytes`); off: size + SHA-256 only.
    pub prompts: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig { content: false, max_bytes: 64 * 1024, prompts: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    pub fsync: Fsync,
    /// Start a new segment past this size (and at each new UTC day).
    pub segment_max_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig { fsync: Fsync::Never, segment_max_bytes: 64 * 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub id: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Policy file; default `policy.toml` beside the config file.
    pub file: Option<PathBuf>,
    /// Deny PreToolUse calls that break a rule whose action is `deny` (exit code 2).
    pub enforce: bool,
}

/// Everything the hook and the commands read from the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub scope: ScopeConfig,
    pub capture: CaptureConfig,
    pub journal: JournalConfig,
    pub agent: AgentConfig,
    pub policy: PolicyConfig,
    /// Where the relay sends data; read by the relay (kept here so one file configures all).
    pub export: toml::Table,
    /// Set when the file could not be read or parsed; the defaults were used.
    #[serde(skip)]
    pub error: Option<String>,
    #[serde(skip)]
    pub data_dir: PathBuf,
    #[serde(skip)]
    pub config_path: PathBuf,
}

impl Config {
    /// Loads the config file (if any) and applies environment overrides. Never fails: problems end
    /// up in `error`.
    pub fn load() -> Config {
        let data_dir = data_dir();
        let config_path = config_path(&data_dir);
        let mut cfg = match std::fs::read_to_string(&config_path) {
            Ok(text) => match toml::from_str::<Config>(&text) {
                Ok(c) => c,
                Err(e) => Config {
                    error: Some(format!("{}: {}", config_path.display(), e.message())),
                    ..Config::default()
                },
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => Config {
                error: Some(format!("{}: {e}", config_path.display())),
                ..Config::default()
            },
        };
        cfg.data_dir = data_dir;
        cfg.config_path = config_path;
        cfg.apply_env();
        cfg
    }

    fn apply_env(&mut self) {
        let mut bad = Vec::new();
        if let Some(v) = var("AGENT_TELEMETRY_SCOPE") {
            match v.as_str() {
                "project" => self.scope.enabled = Scope::Project,
                "all" => self.scope.enabled = Scope::All,
                "off" => self.scope.enabled = Scope::Off,
                _ => bad.push(format!("AGENT_TELEMETRY_SCOPE={v} (want project|all|off)")),
            }
        }
        if let Some(v) = var("AGENT_TELEMETRY_PROJECT_ROOT") {
            self.scope.project_root = Some(PathBuf::from(v));
        }
        if let Some(v) = var("AGENT_TELEMETRY_CAPTURE_CONTENT") {
            match parse_bool(&v) {
                Some(b) => self.capture.content = b,
                None => bad.push(format!("AGENT_TELEMETRY_CAPTURE_CONTENT={v}")),
            }
        }
        if let Some(v) = var("AGENT_TELEMETRY_CAPTURE_MAX_BYTES") {
            match v.parse() {
                Ok(n) => self.capture.max_bytes = n,
                Err(_) => bad.push(format!("AGENT_TELEMETRY_CAPTURE_MAX_BYTES={v}")),
            }
        }
        if let Some(v) = var("AGENT_TELEMETRY_FSYNC") {
            match v.as_str() {
                "always" => self.journal.fsync = Fsync::Always,
                "never" => self.journal.fsync = Fsync::Never,
                _ => bad.push(format!("AGENT_TELEMETRY_FSYNC={v} (want never|always)")),
            }
        }
        if let Some(v) = var("AGENT_TELEMETRY_SEGMENT_MAX_BYTES") {
            match v.parse() {
                Ok(n) => self.journal.segment_max_bytes = n,
                Err(_) => bad.push(format!("AGENT_TELEMETRY_SEGMENT_MAX_BYTES={v}")),
            }
        }
        if let Some(v) = var("AGENT_TELEMETRY_AGENT_ID") {
            self.agent.id = Some(v);
        }
        if let Some(v) = var("AGENT_TELEMETRY_AGENT_GROUP") {
            self.agent.group = Some(v);
        }
        if let Some(v) = var("AGENT_TELEMETRY_AGENT_ROLE") {
            self.agent.role = Some(v);
        }
        if let Some(v) = var("AGENT_TELEMETRY_POLICY") {
            self.policy.file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("AGENT_TELEMETRY_ENFORCE") {
            match parse_bool(&v) {
                Some(b) => self.policy.enforce = b,
                None => bad.push(format!("AGENT_TELEMETRY_ENFORCE={v}")),
            }
        }
        if !bad.is_empty() {
            let msg = format!("ignored invalid environment: {}", bad.join(", "));
            self.error = Some(match self.error.take() {
                Some(e) => format!("{e}; {msg}"),
                None => msg,
            });
        }
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// The policy file: configured, or `policy.toml` beside the config file.
    pub fn policy_path(&self) -> PathBuf {
        self.policy.file.clone().unwrap_or_else(|| {
            self.config_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("policy.toml")
        })
    }
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn home() -> Option<PathBuf> {
    var("HOME").map(PathBuf::from)
}

/// `$AGENT_TELEMETRY_HOME`, else `$XDG_DATA_HOME/agent-telemetry`, else
/// `~/.local/share/agent-telemetry` (a relative fallback only if there is no home at all).
pub fn data_dir() -> PathBuf {
    if let Some(d) = var("AGENT_TELEMETRY_HOME") {
        return PathBuf::from(d);
    }
    if let Some(x) = var("XDG_DATA_HOME") {
        return PathBuf::from(x).join("agent-telemetry");
    }
    match home() {
        Some(h) => h.join(".local/share/agent-telemetry"),
        None => PathBuf::from(".agent-telemetry"),
    }
}

/// `$AGENT_TELEMETRY_CONFIG`; else, when `AGENT_TELEMETRY_HOME` is set, `config.toml` in that
/// data dir (one directory then holds a whole installation: tests, demos, several setups on one
/// machine); else `$XDG_CONFIG_HOME/agent-telemetry/config.toml` (`~/.config/...`).
pub fn config_path(data_dir: &Path) -> PathBuf {
    if let Some(p) = var("AGENT_TELEMETRY_CONFIG") {
        return PathBuf::from(p);
    }
    if var("AGENT_TELEMETRY_HOME").is_some() {
        return data_dir.join("config.toml");
    }
    match var("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| home().map(|h| h.join(".config"))) {
        Some(x) => x.join("agent-telemetry/config.toml"),
        None => data_dir.join("config.toml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file_and_rejects_unknown_keys() {
        let c: Config = toml::from_str(
            r#"
            [scope]
            enabled = "all"
            allow_paths = ["/tmp"]
            [capture]
            content = true
            max_bytes = 10
            [journal]
            fsync = "always"
            [agent]
            id = "a1"
            group = "team"
            [policy]
            enforce = true
            [export]
            endpoint = "http://127.0.0.1:4317"
            "#,
        )
        .unwrap();
        assert_eq!(c.scope.enabled, Scope::All);
        assert!(c.capture.content);
        assert_eq!(c.journal.fsync, Fsync::Always);
        assert_eq!(c.agent.group.as_deref(), Some("team"));
        assert!(c.policy.enforce);
        assert!(toml::from_str::<Config>("[scope]\nenabeld = \"all\"").is_err());
    }
}
