//! Settings, resolved in one place ([`resolve`]) for every process of ours: a TOML file with
//! documented defaults ([`file`]: every section typed, unknown keys and wrong types are errors),
//! overridden by `AGENT_TELEMETRY_*` environment variables (Claude Code strips `OTEL_*` from hook
//! processes, so the hook cannot rely on those). Each setting remembers where it came from.
//!
//! The data dir is `$AGENT_TELEMETRY_HOME`, else `$XDG_DATA_HOME/agent-telemetry`, else
//! `~/.local/share/agent-telemetry`. The config file is `$AGENT_TELEMETRY_CONFIG`, else
//! `$XDG_CONFIG_HOME/agent-telemetry/config.toml`, else `~/.config/agent-telemetry/config.toml` —
//! never chosen by the data dir. A process that starts another of ours hands it both explicitly
//! ([`Config::handoff_env`]).
//!
//! A broken file never stops the hook: it runs on defaults and says so on every record
//! (`metadata.config_error`); the relay refuses to start on it and `status` shows it.

pub(crate) mod environ;
pub(crate) mod export;
mod file;
pub(crate) mod registry;
mod settings;

pub(crate) use export::{Destination, ExportConfig, Protocol};
use serde::Deserialize;
pub use settings::{reference_markdown, table, Setting};
use settings::{FileConfig, Values, CONFIG_VAR, HOME_VAR};
use std::collections::BTreeMap;
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

#[derive(Debug, Clone)]
pub struct ScopeConfig {
    pub enabled: Scope,
    /// The project root when `CLAUDE_PROJECT_DIR` is absent (e.g. HTTP hooks).
    pub project_root: Option<PathBuf>,
    /// Paths outside the project that do not count as leaving it (e.g. `/tmp`).
    pub allow_paths: Vec<PathBuf>,
}

impl Default for ScopeConfig {
    fn default() -> Self {
        Values::defaults().scope.into()
    }
}

impl From<settings::scope::Values> for ScopeConfig {
    fn from(v: settings::scope::Values) -> Self {
        ScopeConfig { enabled: v.enabled, project_root: v.project_root, allow_paths: v.allow_paths }
    }
}

#[derive(Debug, Clone)]
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
        Values::defaults().capture.into()
    }
}

impl From<settings::capture::Values> for CaptureConfig {
    fn from(v: settings::capture::Values) -> Self {
        CaptureConfig { content: v.content, max_bytes: v.max_bytes, prompts: v.prompts }
    }
}

#[derive(Debug, Clone)]
pub struct JournalConfig {
    pub fsync: Fsync,
    /// Start a new segment past this size (and at each new UTC day).
    pub segment_max_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Values::defaults().journal.into()
    }
}

impl From<settings::journal::Values> for JournalConfig {
    fn from(v: settings::journal::Values) -> Self {
        JournalConfig { fsync: v.fsync, segment_max_bytes: v.segment_max_bytes }
    }
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub id: Option<String>,
    /// `agent.type` (`[agent] type`, `AGENT_TELEMETRY_AGENT_TYPE`); else the registry's, else `claude-code`.
    pub kind: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Values::defaults().agent.into()
    }
}

impl From<settings::agent::Values> for AgentConfig {
    fn from(v: settings::agent::Values) -> Self {
        AgentConfig { id: v.id, kind: v.kind, group: v.group, role: v.role }
    }
}

/// The fleet registry (see [`registry`]): where it is and what it says.
#[derive(Debug, Clone, Default)]
pub struct FleetConfig {
    /// `[fleet] registry`, `AGENT_TELEMETRY_FLEET`, else `fleet.toml` beside the config file.
    pub registry_path: PathBuf,
    /// The registry when the file exists and is valid (read once per process: one failed
    /// `open` when there is none).
    pub registry: Option<std::sync::Arc<registry::Registry>>,
    /// Why the registry could not be used. Kept apart from [`Config::error`]: a broken registry
    /// changes only who the records say they are from (they say so in `metadata.config_error`),
    /// it never stops the relay.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// Policy file; default `policy.toml` beside the config file.
    pub file: Option<PathBuf>,
    /// Deny PreToolUse calls that break a rule whose action is `deny` (exit code 2).
    pub enforce: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Values::defaults().policy.into()
    }
}

impl From<settings::policy::Values> for PolicyConfig {
    fn from(v: settings::policy::Values) -> Self {
        PolicyConfig { file: v.file, enforce: v.enforce }
    }
}

/// Estimated cost of model calls (see `crate::cost`).
#[derive(Debug, Clone)]
pub struct CostConfig {
    /// A price table replacing the shipped one.
    pub prices: Option<PathBuf>,
}

impl Default for CostConfig {
    fn default() -> Self {
        Values::defaults().cost.into()
    }
}

impl From<settings::cost::Values> for CostConfig {
    fn from(v: settings::cost::Values) -> Self {
        CostConfig { prices: v.prices }
    }
}

/// Thresholds of the findings the relay makes from sequences of records (`relay::behaviour`).
#[derive(Debug, Clone)]
pub struct BehaviourConfig {
    pub retry_loop_count: u64,
    pub mass_change_count: u64,
    pub mass_change_window_secs: u64,
    pub runaway_tokens: u64,
    pub runaway_cost_usd: f64,
    pub stalled_reads: u64,
    pub egress_allow: Vec<String>,
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        Values::defaults().behaviour.into()
    }
}

impl From<settings::behaviour::Values> for BehaviourConfig {
    fn from(v: settings::behaviour::Values) -> Self {
        BehaviourConfig {
            retry_loop_count: v.retry_loop_count,
            mass_change_count: v.mass_change_count,
            mass_change_window_secs: v.mass_change_window_secs,
            runaway_tokens: v.runaway_tokens,
            runaway_cost_usd: v.runaway_cost_usd,
            stalled_reads: v.stalled_reads,
            egress_allow: v
                .egress_allow
                .iter()
                .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }
}

/// `type: "http"` hooks: the relay takes events on this loopback address (off when absent).
#[derive(Debug, Clone)]
pub struct HookConfig {
    pub listen: Option<std::net::SocketAddr>,
}

impl Default for HookConfig {
    fn default() -> Self {
        Values::defaults().hook.into()
    }
}

impl From<settings::hook::Values> for HookConfig {
    /// The address was checked as it was resolved ([`Resolver::listen`]).
    fn from(v: settings::hook::Values) -> Self {
        HookConfig { listen: v.listen.and_then(|l| parse_listen(&l).ok()) }
    }
}

/// A loopback `ip:port` (any other address would let other machines write the journal).
fn parse_listen(v: &str) -> Result<std::net::SocketAddr, SettingError> {
    let a: std::net::SocketAddr =
        v.parse().map_err(|_| SettingError::Listen(format!("`{v}` is not an ip:port (e.g. 127.0.0.1:4319)")))?;
    if !a.ip().is_loopback() {
        return Err(SettingError::Listen(format!(
            "`{v}` is not a loopback address: the hook endpoint takes events from this machine only"
        )));
    }
    Ok(a)
}

/// What is wrong with a setting's value or with the config file; the text names the key, the
/// line or the value (a secret's value never). Collected by the resolution into the config's
/// error (the hook runs on defaults and says so on every record), returned by
/// [`check_file_text`] before `install` writes a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SettingError {
    /// The file does not parse as the table of settings (unknown key, wrong type, bad TOML).
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    File { line: Option<usize>, message: String },
    /// A value its setting cannot take (a number, a boolean, a choice, a `k=v` list).
    #[error("{0}")]
    BadValue(String),
    /// A setting only the file can give (a list).
    #[error("{0}")]
    NotInVariable(&'static str),
    /// An export endpoint that is neither `file`, a `file:///path` nor an http(s) URL with a
    /// host (credentials masked in the text).
    #[error("{0}")]
    Endpoint(String),
    /// A header name gRPC metadata and HTTP would refuse.
    #[error("header name {0:?} is not a valid header name")]
    HeaderName(String),
    /// The http hook endpoint: not an ip:port, or not loopback.
    #[error("{0}")]
    Listen(String),
    /// One of the above, with the key it belongs to.
    #[error("{key}: {source}")]
    Keyed { key: &'static str, source: Box<SettingError> },
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The config file.
    File,
    /// This environment variable.
    Env(&'static str),
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File => f.write_str("file"),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// Everything any process of ours reads from its settings, resolved once by [`resolve`]: the
/// hook, the relay (however started), `status`, `install` and `show` all use this.
#[derive(Debug, Clone)]
pub struct Config {
    pub scope: ScopeConfig,
    pub capture: CaptureConfig,
    pub journal: JournalConfig,
    pub agent: AgentConfig,
    pub policy: PolicyConfig,
    pub export: ExportConfig,
    pub cost: CostConfig,
    pub behaviour: BehaviourConfig,
    pub hook: HookConfig,
    pub fleet: FleetConfig,
    /// Set when the file could not be read or parsed, or a value was invalid; the defaults were
    /// used for what was wrong (the whole file, when it does not parse).
    pub error: Option<String>,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    /// Where each setting came from, by its key in the file (`export.endpoint`, ...).
    pub sources: BTreeMap<&'static str, Source>,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::new();
        Config {
            scope: ScopeConfig::default(),
            capture: CaptureConfig::default(),
            journal: JournalConfig::default(),
            agent: AgentConfig::default(),
            policy: PolicyConfig::default(),
            export: ExportConfig::defaults(&data_dir),
            cost: CostConfig::default(),
            behaviour: BehaviourConfig::default(),
            hook: HookConfig::default(),
            fleet: FleetConfig::default(),
            error: None,
            config_path: data_dir.join("config.toml"),
            data_dir,
            sources: BTreeMap::new(),
        }
    }
}

/// Largest config file read (a bigger one is an error, not a hang or an out-of-memory abort).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

impl Config {
    /// Resolves the settings of this process (its environment, the config file it names).
    /// Never fails: problems end up in `error`.
    pub fn load() -> Config {
        Config::load_from(&environ::Environ::capture())
    }

    /// [`Config::load`] from an environment already read (the hook reads it once for all).
    pub(crate) fn load_from(env: &environ::Environ) -> Config {
        resolve(&|name| env.get(name))
    }

    pub(crate) fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// The policy file: configured, or `policy.toml` beside the config file.
    pub(crate) fn policy_path(&self) -> PathBuf {
        self.policy
            .file
            .clone()
            .unwrap_or_else(|| self.config_path.parent().unwrap_or(Path::new(".")).join("policy.toml"))
    }

    /// The variables that make another process of ours resolve exactly this data dir and config
    /// file (the hook starting a relay, the systemd unit).
    pub(crate) fn handoff_env(&self) -> [(&'static str, &Path); 2] {
        [(HOME_VAR, self.data_dir.as_path()), (CONFIG_VAR, self.config_path.as_path())]
    }

    /// Every setting (see [`table`]) with its value as it may be shown (credentials masked) and
    /// its source, in the table's order.
    pub fn settings(&self) -> Vec<(&'static str, String, Source)> {
        table()
            .into_iter()
            .map(|s| (s.key, (s.show)(self), self.sources.get(s.key).cloned().unwrap_or(Source::Default)))
            .collect()
    }
}

/// One resolution of every setting: for each, the environment variable if set (and valid), else
/// the config file, else the default — the precedence is written here once ([`Resolver::pick`]).
/// `env` returns a variable's non-empty value.
pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Config {
    let mut r = Resolver { env, sources: BTreeMap::new(), errors: Vec::new() };
    let data_dir = r.path_setting("data_dir", HOME_VAR, || default_data_dir(env));
    let config_path = r.path_setting("config_path", CONFIG_VAR, || default_config_path(env, &data_dir));
    let file = match read_file(&config_path) {
        Ok(Some(text)) => match file::parse(&text) {
            Ok(f) => f,
            Err(e) => {
                r.errors.push(format!("{}: {e}; using the defaults", config_path.display()));
                FileConfig::default()
            }
        },
        Ok(None) => FileConfig::default(),
        Err(e) => {
            r.errors.push(format!("{}: {e}; using the defaults", config_path.display()));
            FileConfig::default()
        }
    };
    let v = settings::resolve_values(&mut r, file);
    let x = v.export;
    let destination = match export::destination(&x.endpoint, x.protocol, &data_dir) {
        Ok(d) => d,
        Err(e) => {
            r.errors
                .push(format!("export.endpoint ({}): {e}; exporting to files instead", r.source_of("export.endpoint")));
            r.sources.insert("export.endpoint", Source::Default);
            Destination::File(data_dir.join("otlp"))
        }
    };
    let export = ExportConfig::from_values(x, destination);
    let registry_path =
        v.fleet.registry.unwrap_or_else(|| config_path.parent().unwrap_or(Path::new(".")).join("fleet.toml"));
    let fleet = match registry::Registry::load(&registry_path) {
        Ok(registry) => FleetConfig { registry_path, registry: registry.map(std::sync::Arc::new), error: None },
        Err(e) => FleetConfig {
            registry_path,
            registry: None,
            error: Some(format!("fleet registry {e}; agent identity from the environment and defaults")),
        },
    };
    Config {
        scope: v.scope.into(),
        cost: v.cost.into(),
        behaviour: v.behaviour.into(),
        hook: v.hook.into(),
        fleet,
        capture: v.capture.into(),
        journal: v.journal.into(),
        agent: v.agent.into(),
        policy: v.policy.into(),
        export,
        error: (!r.errors.is_empty()).then(|| r.errors.join("; ")),
        data_dir,
        config_path,
        sources: r.sources,
    }
}

/// Checks a config file's text as [`resolve`] would read it (for `install` before it writes one):
/// the error names the key.
pub(crate) fn check_file_text(text: &str) -> Result<(), SettingError> {
    let f = file::parse(text)?;
    if let Some(l) = f.hook.listen.flatten() {
        parse_listen(&l).map_err(|e| SettingError::Keyed { key: "hook.listen", source: Box::new(e) })?;
    }
    if let Some(endpoint) = &f.export.endpoint {
        export::destination(endpoint, f.export.protocol.unwrap_or(Protocol::Grpc), Path::new("/"))?;
    }
    for k in f.export.headers.unwrap_or_default().keys() {
        export::check_header_name(k)?;
    }
    Ok(())
}

struct Resolver<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    sources: BTreeMap<&'static str, Source>,
    errors: Vec<String>,
}

impl Resolver<'_> {
    /// The variable `var` (if set and valid), else the file's value, else `default`: the
    /// precedence, written once. An invalid variable is reported (never repeating the value of
    /// a `secret` setting) and skipped: the file or the default applies.
    fn pick<T: settings::Value>(
        &mut self,
        key: &'static str,
        var: Option<&'static str>,
        file: Option<T>,
        default: T,
        secret: bool,
    ) -> T {
        self.pick_with(key, var, file, default, secret, T::from_env)
    }

    fn pick_with<T>(
        &mut self,
        key: &'static str,
        var: Option<&'static str>,
        file: Option<T>,
        default: T,
        secret: bool,
        parse: impl Fn(&str) -> Result<T, SettingError>,
    ) -> T {
        if let Some((var, v)) = var.and_then(|var| (self.env)(var).map(|v| (var, v))) {
            match parse(&v) {
                Ok(t) => {
                    self.sources.insert(key, Source::Env(var));
                    return t;
                }
                Err(e) if !secret => self.errors.push(format!("{var}={v:?} ignored: {e}")),
                Err(_) => self.errors.push(format!("{var} ignored: not a valid value")),
            }
        }
        match file {
            Some(t) => {
                self.sources.insert(key, Source::File);
                t
            }
            None => {
                self.sources.insert(key, Source::Default);
                default
            }
        }
    }

    /// `hook.listen`: a loopback `ip:port` from either source; a bad one in the file is reported
    /// under its key and skipped (the rest of the file still applies).
    fn listen(
        &mut self,
        key: &'static str,
        var: Option<&'static str>,
        file: Option<Option<String>>,
        default: Option<String>,
        secret: bool,
    ) -> Option<String> {
        let file = match file.flatten().map(|l| parse_listen(&l).map(|_| l)) {
            Some(Ok(l)) => Some(Some(l)),
            Some(Err(e)) => {
                self.errors.push(format!("{key}: {e}"));
                None
            }
            None => None,
        };
        self.pick_with(key, var, file, default, secret, |v| parse_listen(v).map(|_| Some(v.to_string())))
    }

    fn path_setting(&mut self, key: &'static str, var: &'static str, default: impl FnOnce() -> PathBuf) -> PathBuf {
        match (self.env)(var) {
            Some(v) => {
                self.sources.insert(key, Source::Env(var));
                PathBuf::from(v)
            }
            None => {
                self.sources.insert(key, Source::Default);
                default()
            }
        }
    }

    fn source_of(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// `[export] headers`, then the variable (`k=v,k2=v2`) adding or replacing single headers.
    /// Values are never repeated in errors.
    fn headers(
        &mut self,
        key: &'static str,
        var: Option<&'static str>,
        file: Option<BTreeMap<String, String>>,
        default: BTreeMap<String, String>,
        _secret: bool,
    ) -> BTreeMap<String, String> {
        let mut out = default;
        let mut source = Source::Default;
        for (k, v) in file.unwrap_or_default() {
            match export::check_header_name(&k) {
                Ok(k) => {
                    out.insert(k, v);
                    source = Source::File;
                }
                Err(e) => self.errors.push(format!("{key}: {e}")),
            }
        }
        if let Some((var, h)) = var.and_then(|var| (self.env)(var).map(|h| (var, h))) {
            for pair in h.split(',').filter(|p| !p.trim().is_empty()) {
                match pair.split_once('=').map(|(k, v)| (export::check_header_name(k), v)) {
                    Some((Ok(k), v)) => {
                        out.insert(k, v.trim().to_string());
                        source = Source::Env(var);
                    }
                    Some((Err(e), _)) => self.errors.push(format!("{var}: {e}")),
                    None => self.errors.push(format!("{var}: an entry is not key=value")),
                }
            }
        }
        self.sources.insert(key, source);
        out
    }
}

/// The config file's text: `None` when there is none; bounded, and only a regular file (a FIFO
/// or a device named by the environment must not hang or exhaust the hook).
fn read_file(path: &Path) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let mut text = String::new();
    use std::io::Read;
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    Ok(Some(text))
}

/// An enum's value from the same words the file takes.
fn parse_enum<T: serde::de::DeserializeOwned>(v: &str) -> Result<T, SettingError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(v))
        .map_err(|e| SettingError::BadValue(e.to_string()))
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Result<T, SettingError> {
    v.trim().parse().map_err(|_| SettingError::BadValue("not a whole number".into()))
}

fn parse_bool(v: &str) -> Result<bool, SettingError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingError::BadValue("want true|false (or 1|0, yes|no, on|off)".into())),
    }
}

fn home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// `$XDG_DATA_HOME/agent-telemetry`, else `~/.local/share/agent-telemetry` (a relative fallback
/// only if there is no home at all).
fn default_data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(x) = env("XDG_DATA_HOME") {
        return PathBuf::from(x).join("agent-telemetry");
    }
    match home(env) {
        Some(h) => h.join(".local/share/agent-telemetry"),
        None => PathBuf::from(".agent-telemetry"),
    }
}

/// `$XDG_CONFIG_HOME/agent-telemetry/config.toml`, else `~/.config/agent-telemetry/config.toml`.
/// The data dir does not move the config file: a process started with only
/// `AGENT_TELEMETRY_HOME` reads the same file as one started without it.
fn default_config_path(env: &dyn Fn(&str) -> Option<String>, data_dir: &Path) -> PathBuf {
    match env("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| home(env).map(|h| h.join(".config"))) {
        Some(x) => x.join("agent-telemetry/config.toml"),
        None => data_dir.join("config.toml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Config {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        resolve(&move |k| m.get(k).cloned().filter(|v| !v.is_empty()))
    }

    fn home_with_config(text: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".config/agent-telemetry")).unwrap();
        std::fs::write(home.path().join(".config/agent-telemetry/config.toml"), text).unwrap();
        home
    }

    #[test]
    fn the_data_dir_does_not_move_the_config_file() {
        // The hook starts the relay with AGENT_TELEMETRY_HOME set: the relay must still read the
        // file `install` wrote, not a <data dir>/config.toml.
        let home = home_with_config("[export]\nendpoint = \"http://127.0.0.1:4317\"\n");
        let h = home.path().to_str().unwrap();
        let plain = with(&[("HOME", h)]);
        let data = plain.data_dir.to_str().unwrap().to_string();
        let started = with(&[("HOME", h), ("AGENT_TELEMETRY_HOME", &data)]);
        assert_eq!(plain.config_path, started.config_path);
        assert_eq!(plain.export.describe(), "http://127.0.0.1:4317 (grpc)");
        assert_eq!(started.export.describe(), plain.export.describe());
        assert_eq!(plain.sources["export.endpoint"], Source::File);
        assert_eq!(started.sources["data_dir"], Source::Env("AGENT_TELEMETRY_HOME"));
        // The hand-off names both, so a child resolves the same even without HOME.
        let cfg = plain.config_path.to_str().unwrap().to_string();
        let child = with(&[("AGENT_TELEMETRY_HOME", &data), ("AGENT_TELEMETRY_CONFIG", &cfg)]);
        assert_eq!(child.export.fingerprint(), plain.export.fingerprint());
    }

    #[test]
    fn precedence_is_env_then_file_then_default() {
        let home =
            home_with_config("[export]\nendpoint = \"http://a:4317\"\nbatch_size = 7\n[capture]\nmax_bytes = 9\n");
        let h = home.path().to_str().unwrap();
        let c = with(&[
            ("HOME", h),
            ("AGENT_TELEMETRY_OTLP_ENDPOINT", "http://b:4318"),
            ("AGENT_TELEMETRY_OTLP_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(c.export.describe(), "http://b:4318 (http/protobuf)");
        assert_eq!(c.sources["export.endpoint"], Source::Env("AGENT_TELEMETRY_OTLP_ENDPOINT"));
        assert_eq!(c.export.batch_size, 7);
        assert_eq!(c.sources["export.batch_size"], Source::File);
        assert_eq!(c.capture.max_bytes, 9);
        assert_eq!(c.export.poll.as_millis(), 100);
        assert_eq!(c.sources["export.poll_ms"], Source::Default);
        assert!(c.error.is_none(), "{:?}", c.error);
        assert_eq!(c.settings().len(), 40);
    }

    #[test]
    fn a_broken_file_means_defaults_and_an_error_naming_the_key() {
        for (text, key) in [
            ("[export]\nendpont = \"http://a:4317\"", "endpont"),
            ("[export]\ntimeout_ms = 1.5", "timeout_ms"),
            ("[export]\nautostart = \"false\"", "autostart"),
        ] {
            let home = home_with_config(text);
            let c = with(&[("HOME", home.path().to_str().unwrap())]);
            let e = c.error.clone().unwrap_or_default();
            assert!(e.contains("config.toml") && e.contains("line 2"), "{text}: {e}");
            assert!(e.contains(key) || key == "timeout_ms" || key == "autostart", "{text}: {e}");
            assert_eq!(c.export.describe(), format!("file {}", c.data_dir.join("otlp").display()));
            assert!(c.export.autostart);
        }
    }

    #[test]
    fn bad_values_are_reported_without_their_secrets() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        let c = with(&[
            ("HOME", h),
            ("AGENT_TELEMETRY_OTLP_ENDPOINT", "htp://u:hunter2@h"),
            ("AGENT_TELEMETRY_SCOPE", "everywhere"),
            ("AGENT_TELEMETRY_RELAY", "maybe"),
        ]);
        let e = c.error.unwrap();
        assert!(e.contains("AGENT_TELEMETRY_OTLP_ENDPOINT") || e.contains("export.endpoint"), "{e}");
        assert!(e.contains("AGENT_TELEMETRY_SCOPE=\"everywhere\""), "{e}");
        assert!(e.contains("AGENT_TELEMETRY_RELAY"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(c.scope.enabled, Scope::Project);
        let c = with(&[("HOME", h), ("AGENT_TELEMETRY_RELAY", "off")]);
        assert!(!c.export.autostart);
        assert_eq!(c.sources["export.autostart"], Source::Env("AGENT_TELEMETRY_RELAY"));
    }

    #[test]
    fn the_fleet_registry_is_beside_the_config_file_unless_named_and_broken_is_not_a_config_error() {
        let home = home_with_config("[agent]\ntype = \"batch\"\n");
        let h = home.path().to_str().unwrap();
        let dir = home.path().join(".config/agent-telemetry");
        let c = with(&[("HOME", h)]);
        assert_eq!(c.fleet.registry_path, dir.join("fleet.toml"));
        assert_eq!(c.sources["fleet.registry"], Source::Default);
        assert!(c.fleet.registry.is_none() && c.fleet.error.is_none());
        assert_eq!(c.agent.kind.as_deref(), Some("batch"));
        std::fs::write(
            dir.join("fleet.toml"),
            "[groups.g]\ntenant = \"t\"\nvictorialogs_account_id = 5\n[agents.a]\ngroup = \"g\"\n",
        )
        .unwrap();
        let c = with(&[("HOME", h)]);
        assert_eq!(c.fleet.registry.as_ref().map(|r| r.agents.len()), Some(1));
        // Named by the file, then by the variable (which wins).
        std::fs::write(dir.join("config.toml"), "[fleet]\nregistry = \"/nonexistent/f.toml\"\n").unwrap();
        let c = with(&[("HOME", h)]);
        assert_eq!(
            (c.fleet.registry_path.to_str(), c.sources["fleet.registry"].clone()),
            (Some("/nonexistent/f.toml"), Source::File)
        );
        assert!(c.fleet.registry.is_none() && c.fleet.error.is_none(), "absent is not an error");
        let other = home.path().join("other.toml");
        std::fs::write(&other, "[agents.a]\nrole = 1\n").unwrap();
        let c = with(&[("HOME", h), ("AGENT_TELEMETRY_FLEET", other.to_str().unwrap())]);
        assert_eq!(c.sources["fleet.registry"], Source::Env("AGENT_TELEMETRY_FLEET"));
        let e = c.fleet.error.clone().unwrap();
        assert!(e.contains("other.toml") && e.contains("line 2") && e.contains("fleet registry"), "{e}");
        // The relay refuses a broken config, not a broken registry.
        assert!(c.error.is_none(), "{:?}", c.error);
    }

    #[test]
    fn a_config_that_is_not_a_regular_file_is_an_error_not_a_hang() {
        let home = tempfile::tempdir().unwrap();
        let fifo = home.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path in our own temp dir.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let c = with(&[("HOME", home.path().to_str().unwrap()), ("AGENT_TELEMETRY_CONFIG", fifo.to_str().unwrap())]);
        assert!(c.error.unwrap().contains("not a regular file"));
    }
}
