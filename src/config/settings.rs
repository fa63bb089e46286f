//! Every setting, declared once: the `settings!` table at the end of this file gives each its
//! key in the file, its `AGENT_TELEMETRY_*` variable, its type, default and example, whether it may
//! hold a credential, a one-line description and how `status` shows it. From it come the file's
//! sections (typed, unknown keys rejected by name), the resolution of every setting with its
//! [`super::Source`] (variable, else file, else default), `status`'s listing ([`Config::settings`]) and the
//! reference in `docs/configuration.md` ([`reference_markdown`]). A new setting is one row here
//! and its use in [`super::resolve`], where the compiler asks for it (an unread value is a warning).

use super::{Config, Fsync, Protocol, Resolver, Scope};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The variable naming the data dir (not a file setting: the file is found from it).
pub(crate) const HOME_VAR: &str = "AGENT_TELEMETRY_HOME";
/// The variable naming the config file.
pub(crate) const CONFIG_VAR: &str = "AGENT_TELEMETRY_CONFIG";

/// A type a setting may have: how a variable spells it, how the file and the reference do.
pub(crate) trait Value: Sized {
    /// The type as the reference names it.
    const KIND: &'static str;
    /// From a variable's (non-empty) text.
    fn from_env(v: &str) -> Result<Self, super::SettingError>;
    /// As a variable spells it.
    fn text(&self) -> String;
    /// As the file spells it (a TOML value).
    fn toml(&self) -> String;
    /// As the reference shows a default.
    fn doc_default(&self) -> String {
        format!("`{}`", self.text())
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Value for bool {
    const KIND: &'static str = "boolean";
    fn from_env(v: &str) -> Result<Self, super::SettingError> {
        super::parse_bool(v)
    }
    fn text(&self) -> String {
        self.to_string()
    }
    fn toml(&self) -> String {
        self.to_string()
    }
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl Value for $t {
            const KIND: &'static str = "integer";
            fn from_env(v: &str) -> Result<Self, super::SettingError> {
                super::parse_num(v)
            }
            fn text(&self) -> String {
                self.to_string()
            }
            fn toml(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
whole_numbers!(u64, usize);

impl Value for String {
    const KIND: &'static str = "string";
    fn from_env(v: &str) -> Result<Self, super::SettingError> {
        Ok(v.to_string())
    }
    fn text(&self) -> String {
        self.clone()
    }
    fn toml(&self) -> String {
        toml_str(self)
    }
}

impl Value for PathBuf {
    const KIND: &'static str = "path";
    fn from_env(v: &str) -> Result<Self, super::SettingError> {
        Ok(PathBuf::from(v))
    }
    fn text(&self) -> String {
        self.display().to_string()
    }
    fn toml(&self) -> String {
        toml_str(&self.display().to_string())
    }
}

impl Value for Vec<PathBuf> {
    const KIND: &'static str = "list of paths";
    fn from_env(_: &str) -> Result<Self, super::SettingError> {
        Err(super::SettingError::NotInVariable("a list is set in the config file"))
    }
    fn text(&self) -> String {
        format!("{self:?}")
    }
    fn toml(&self) -> String {
        format!("[{}]", self.iter().map(|p| p.toml()).collect::<Vec<_>>().join(", "))
    }
    fn doc_default(&self) -> String {
        format!("`{}`", self.toml())
    }
}

impl Value for f64 {
    const KIND: &'static str = "number";
    fn from_env(v: &str) -> Result<Self, super::SettingError> {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| super::SettingError::BadValue(format!("{v:?} is not a number of 0 or more")))
    }
    fn text(&self) -> String {
        self.to_string()
    }
    fn toml(&self) -> String {
        format!("{self:?}")
    }
}

impl Value for Vec<String> {
    const KIND: &'static str = "list of strings";
    fn from_env(_: &str) -> Result<Self, super::SettingError> {
        Err(super::SettingError::NotInVariable("a list is set in the config file"))
    }
    fn text(&self) -> String {
        self.join(",")
    }
    fn toml(&self) -> String {
        format!("[{}]", self.iter().map(|p| toml_str(p)).collect::<Vec<_>>().join(", "))
    }
    fn doc_default(&self) -> String {
        format!("`{}`", self.toml())
    }
}

/// Headers (`k=v,k2=v2` in a variable, which adds to or replaces the file's one by one: see
/// [`Resolver::headers`]).
impl Value for BTreeMap<String, String> {
    const KIND: &'static str = "table of strings";
    fn from_env(v: &str) -> Result<Self, super::SettingError> {
        v.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .collect::<Option<_>>()
            .ok_or(super::SettingError::BadValue("an entry is not key=value".into()))
    }
    fn text(&self) -> String {
        self.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }
    fn toml(&self) -> String {
        let kv: Vec<String> = self.iter().map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v))).collect();
        format!("{{ {} }}", kv.join(", "))
    }
    fn doc_default(&self) -> String {
        format!("`{}`", if self.is_empty() { "{}".to_string() } else { self.toml() })
    }
}

/// A setting without a default: unset unless the variable or the file gives it.
impl<T: Value> Value for Option<T> {
    const KIND: &'static str = T::KIND;
    fn from_env(v: &str) -> Result<Self, super::SettingError> {
        T::from_env(v).map(Some)
    }
    fn text(&self) -> String {
        self.as_ref().map(T::text).unwrap_or_else(|| "-".into())
    }
    fn toml(&self) -> String {
        self.as_ref().map(T::toml).unwrap_or_default()
    }
    fn doc_default(&self) -> String {
        self.as_ref().map(T::doc_default).unwrap_or_else(|| "unset".into())
    }
}

/// A choice: the words the file takes are the words a variable takes.
macro_rules! choices {
    (@kind $a:literal, $b:literal) => { concat!("`", $a, "` or `", $b, "`") };
    (@kind $a:literal, $b:literal, $c:literal) => { concat!("`", $a, "`, `", $b, "` or `", $c, "`") };
    ($($t:ident { $($variant:ident = $word:literal),+ $(,)? })*) => {$(
        impl Value for $t {
            const KIND: &'static str = choices!(@kind $($word),+);
            fn from_env(v: &str) -> Result<Self, super::SettingError> {
                super::parse_enum(v)
            }
            fn text(&self) -> String {
                match self { $($t::$variant => $word.to_string(),)+ }
            }
            fn toml(&self) -> String {
                toml_str(&self.text())
            }
        }
    )*};
}
choices! {
    Scope { Project = "project", All = "all", Off = "off" }
    Fsync { Never = "never", Always = "always" }
    Protocol { Grpc = "grpc", HttpProtobuf = "http/protobuf" }
}

/// One row of the table, as the reference, `status` and the tests see it.
pub struct Setting {
    /// `section.key` in the file (`data_dir`, `config_path`: not in the file).
    pub key: &'static str,
    pub env: Option<&'static str>,
    pub kind: &'static str,
    /// As the reference shows it.
    pub default: String,
    /// May hold a credential: masked in `status`, logs and errors.
    pub secret: bool,
    pub doc: String,
    /// Whether the config file can set it.
    pub in_file: bool,
    /// An example other than the default, as the file writes it (a TOML value).
    pub example_toml: String,
    /// The same example as the variable spells it.
    pub example_env: String,
    /// The value as `status` shows it (credentials masked).
    pub show: fn(&Config) -> String,
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn path(v: &Option<PathBuf>) -> String {
    v.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into())
}

fn doc_text(lines: &[&str]) -> String {
    lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Every setting: the two locations (set by variable only), then the table's rows in order.
pub fn table() -> Vec<Setting> {
    let mut out = vec![
        Setting {
            key: "data_dir",
            env: Some(HOME_VAR),
            kind: "path",
            default: "`$XDG_DATA_HOME/agent-telemetry`, else `~/.local/share/agent-telemetry`".into(),
            secret: false,
            doc: "The data dir: the journal, the relay's state and its OTLP files. Not in the file.".into(),
            in_file: false,
            example_toml: String::new(),
            example_env: "/srv/agent-telemetry".into(),
            show: |c| c.data_dir.display().to_string(),
        },
        Setting {
            key: "config_path",
            env: Some(CONFIG_VAR),
            kind: "path",
            default: "`$XDG_CONFIG_HOME/agent-telemetry/config.toml`, else `~/.config/agent-telemetry/config.toml`"
                .into(),
            secret: false,
            doc: "The config file (never chosen by the data dir). Not in the file.".into(),
            in_file: false,
            example_toml: String::new(),
            example_env: "/etc/agent-telemetry/config.toml".into(),
            show: |c| c.config_path.display().to_string(),
        },
    ];
    rows(&mut out);
    out
}

/// The configuration reference: one Markdown table, the text between `<!-- settings:begin -->`
/// and `<!-- settings:end -->` in `docs/configuration.md`.
pub fn reference_markdown() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out =
        String::from("| key | variable | type | default | secret | description |\n|---|---|---|---|---|---|\n");
    for s in table() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            s.key,
            s.env.map(|v| format!("`{v}`")).unwrap_or_else(|| "—".into()),
            cell(s.kind),
            cell(&s.default),
            if s.secret { "yes" } else { "" },
            cell(&s.doc),
        ));
    }
    out.push_str(concat!(
        "\nA boolean variable takes `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`; ",
        "an empty variable counts as unset.\n"
    ));
    out
}

/// Builds, from the table below: the file's sections ([`FileConfig`], one module per section
/// holding its `Section` and its resolved `Values`), [`resolve_values`], [`Values::defaults`] and
/// the rows of [`table`]. A section is `[name] { rows }`; a row:
///
/// ```text
/// /// Its description (one line in the reference).
/// field "key": Type = default, env Some("AGENT_TELEMETRY_…"), plain|secret,
///     example value, show |c| how status shows it from the Config [, via Resolver::custom];
/// ```
///
/// `Option<T>` is a setting with no default; `via` replaces the plain "variable, else file, else
/// default" for the settings that combine or check more.
macro_rules! settings {
    (@pick $r:ident, $key:expr, $var:expr, $file:expr, $default:expr, $secret:expr) => {
        $r.pick($key, $var, $file, $default, $secret)
    };
    (@pick $r:ident, $key:expr, $var:expr, $file:expr, $default:expr, $secret:expr, $via:expr) => {
        $via($r, $key, $var, $file, $default, $secret)
    };
    (@secret plain) => { false };
    (@secret secret) => { true };
    ($(
        $(#[doc = $sdoc:literal])*
        [$sec:ident] {
            $(
                $(#[doc = $doc:literal])*
                $field:ident $name:literal : $ty:ty = $default:expr,
                env $var:expr, $secrecy:ident, example $example:expr, show $show:expr $(, via $via:expr)?;
            )*
        }
    )*) => {
        /// The config file as written on disk: every section typed, every key optional, unknown
        /// keys and wrong types rejected by name.
        #[derive(Debug, Default, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub(crate) struct FileConfig {
            $($(#[doc = $sdoc])* pub $sec: $sec::Section,)*
        }

        /// Every setting resolved, as the table types it (before [`super::resolve`] turns the
        /// values into the sections of [`Config`]).
        pub(crate) struct Values {
            $(pub $sec: $sec::Values,)*
        }

        $(
            pub(crate) mod $sec {
                #[allow(unused_imports)]
                use super::*;

                #[derive(Debug, Default, Deserialize)]
                #[serde(default, deny_unknown_fields)]
                pub(crate) struct Section {
                    $($(#[doc = $doc])* #[serde(rename = $name)] pub $field: Option<$ty>,)*
                }

                pub(crate) struct Values {
                    $(pub $field: $ty,)*
                }
            }
        )*

        impl Values {
            /// Every setting at its default.
            pub(crate) fn defaults() -> Values {
                Values { $($sec: $sec::Values { $($field: $default,)* },)* }
            }
        }

        /// Each setting from its variable, else the file, else its default, in the table's order;
        /// each one's source is recorded and every rejected value reported.
        pub(crate) fn resolve_values(r: &mut Resolver, file: FileConfig) -> Values {
            Values {
                $($sec: {
                    let f = file.$sec;
                    $sec::Values {
                        $($field: settings!(@pick r,
                            concat!(stringify!($sec), ".", $name), $var, f.$field, $default,
                            settings!(@secret $secrecy) $(, $via)?),)*
                    }
                },)*
            }
        }

        fn rows(out: &mut Vec<Setting>) {
            $($(
                let default: $ty = $default;
                let example: $ty = $example;
                out.push(Setting {
                    key: concat!(stringify!($sec), ".", $name),
                    env: $var,
                    kind: <$ty as Value>::KIND,
                    default: default.doc_default(),
                    secret: settings!(@secret $secrecy),
                    doc: doc_text(&[$($doc),*]),
                    in_file: true,
                    example_toml: example.toml(),
                    example_env: example.text(),
                    show: $show,
                });
            )*)*
        }
    };
}

settings! {
    /// Where telemetry is on.
    [scope] {
        /// Where telemetry is on: `project` (only under a `.telemetry-enabled` marker at the project
        /// root), `all` (every project of this user), `off` (the hook exits at once).
        enabled "enabled": Scope = Scope::Project,
            env Some("AGENT_TELEMETRY_SCOPE"), plain, example Scope::All, show |c| c.scope.enabled.text();
        /// The project root when `CLAUDE_PROJECT_DIR` is absent (e.g. http hooks).
        project_root "project_root": Option<PathBuf> = None,
            env Some("AGENT_TELEMETRY_PROJECT_ROOT"), plain, example Some("/src/app".into()),
            show |c| path(&c.scope.project_root);
        /// Paths outside the project that do not count as leaving it (e.g. `/tmp`).
        allow_paths "allow_paths": Vec<PathBuf> = Vec::new(),
            env None, plain, example vec!["/tmp".into()], show |c| format!("{:?}", c.scope.allow_paths);
    }
    /// What the journal keeps of contents.
    [capture] {
        /// Store file contents, tool outputs and diffs (redacted, capped); off: size and SHA-256 only.
        content "content": bool = false,
            env Some("AGENT_TELEMETRY_CAPTURE_CONTENT"), plain, example true, show |c| c.capture.content.to_string();
        /// Cap per captured string, in bytes.
        max_bytes "max_bytes": usize = 64 * 1024,
            env Some("AGENT_TELEMETRY_CAPTURE_MAX_BYTES"), plain, example 4096,
            show |c| c.capture.max_bytes.to_string();
        /// Keep prompt text (redacted, capped at `capture.max_bytes`); off: size and SHA-256 only.
        prompts "prompts": bool = true,
            env Some("AGENT_TELEMETRY_CAPTURE_PROMPTS"), plain, example false, show |c| c.capture.prompts.to_string();
    }
    /// The journal's durability and rotation.
    [journal] {
        /// `never`: the OS flushes (a machine crash may lose the last records); `always`: fsync after
        /// every record (strict audit, ~150 µs more per event).
        fsync "fsync": Fsync = Fsync::Never,
            env Some("AGENT_TELEMETRY_FSYNC"), plain, example Fsync::Always, show |c| c.journal.fsync.text();
        /// Start a new segment past this size (and at each new UTC day).
        segment_max_bytes "segment_max_bytes": u64 = 64 * 1024 * 1024,
            env Some("AGENT_TELEMETRY_SEGMENT_MAX_BYTES"), plain, example 1 << 20,
            show |c| c.journal.segment_max_bytes.to_string();
    }
    /// Who the records say they are from (the variables win over the fleet registry's entry).
    [agent] {
        /// The agent's id.
        id "id": Option<String> = None,
            env Some("AGENT_TELEMETRY_AGENT_ID"), plain, example Some("builder-1".into()), show |c| opt(&c.agent.id);
        /// `agent.type`; unset: the registry's, else `claude-code`.
        kind "type": Option<String> = None,
            env Some("AGENT_TELEMETRY_AGENT_TYPE"), plain, example Some("batch".into()), show |c| opt(&c.agent.kind);
        /// The agent's group (its tenant, see the fleet registry).
        group "group": Option<String> = None,
            env Some("AGENT_TELEMETRY_AGENT_GROUP"), plain, example Some("team-a".into()),
            show |c| opt(&c.agent.group);
        /// The agent's role.
        role "role": Option<String> = None,
            env Some("AGENT_TELEMETRY_AGENT_ROLE"), plain, example Some("reviewer".into()), show |c| opt(&c.agent.role);
    }
    /// Rules on tool calls.
    [policy] {
        /// The policy file; unset: `policy.toml` beside the config file.
        file "file": Option<PathBuf> = None,
            env Some("AGENT_TELEMETRY_POLICY"), plain, example Some("/etc/agent-telemetry/policy.toml".into()),
            show |c| c.policy_path().display().to_string();
        /// Deny PreToolUse calls that break a rule whose action is `deny` (exit code 2).
        enforce "enforce": bool = false,
            env Some("AGENT_TELEMETRY_ENFORCE"), plain, example true, show |c| c.policy.enforce.to_string();
    }
    /// Where and how the relay exports.
    [export] {
        /// Where the relay exports: `file` (OTLP JSON lines in `<data dir>/otlp`), `file:///abs/dir`,
        /// or an `http(s)://` OTLP endpoint (a password or query in it is masked).
        endpoint "endpoint": String = "file".to_string(),
            env Some("AGENT_TELEMETRY_OTLP_ENDPOINT"), secret, example "https://user:s3cret@collector:4317".into(),
            show |c| c.export.describe();
        /// The OTLP transport of an `http(s)://` endpoint.
        protocol "protocol": Protocol = Protocol::Grpc,
            env Some("AGENT_TELEMETRY_OTLP_PROTOCOL"), plain, example Protocol::HttpProtobuf,
            show |c| c.export.protocol.text();
        /// Headers sent with every request; the variable (`k=v,k2=v2`) adds or replaces single
        /// headers. Values are masked unless the header names a tenant (`x-scope-orgid`, ...).
        headers "headers": BTreeMap<String, String> = BTreeMap::new(),
            env Some("AGENT_TELEMETRY_OTLP_HEADERS"), secret,
            example [("authorization".to_string(), "Bearer s3cret".to_string())].into(),
            show |c| format!("{:?}", c.export.display_headers()), via Resolver::headers;
        /// A CA certificate (PEM) to trust for the endpoint.
        ca_file "ca_file": Option<PathBuf> = None,
            env Some("AGENT_TELEMETRY_OTLP_CA_FILE"), plain, example Some("/etc/ssl/collector-ca.pem".into()),
            show |c| path(&c.export.ca_file);
        /// A file holding a bearer token, sent as `authorization: Bearer <token>` (read when the
        /// exporter is set up: at start and on a config change; never shown). Not with an
        /// `authorization` header.
        token_file "token_file": Option<PathBuf> = None,
            env Some("AGENT_TELEMETRY_OTLP_TOKEN_FILE"), plain,
            example Some("/etc/agent-telemetry/gateway-token".into()), show |c| path(&c.export.token_file);
        /// Timeout of one export request, in milliseconds.
        timeout_ms "timeout_ms": u64 = 10_000,
            env Some("AGENT_TELEMETRY_OTLP_TIMEOUT_MS"), plain, example 2_500,
            show |c| c.export.timeout.as_millis().to_string();
        /// Timeout of connecting to the endpoint, in milliseconds.
        connect_timeout_ms "connect_timeout_ms": u64 = 3_000,
            env Some("AGENT_TELEMETRY_OTLP_CONNECT_TIMEOUT_MS"), plain, example 500,
            show |c| c.export.connect_timeout.as_millis().to_string();
        /// Most records per export batch (at least 1).
        batch_size "batch_size": u64 = 2048,
            env Some("AGENT_TELEMETRY_BATCH_SIZE"), plain, example 64, show |c| c.export.batch_size.to_string();
        /// How often the relay reads the journal for new records, in milliseconds (at least 5).
        poll_ms "poll_ms": u64 = 100,
            env Some("AGENT_TELEMETRY_POLL_MS"), plain, example 250, show |c| c.export.poll.as_millis().to_string();
        /// A span still open after this many seconds is closed as timed out (also how long a
        /// session waiting for its user may stay silent).
        span_timeout_secs "span_timeout_secs": u64 = 7200,
            env Some("AGENT_TELEMETRY_SPAN_TIMEOUT_SECS"), plain, example 600,
            show |c| c.export.span_timeout.as_secs().to_string();
        /// A relay the hook started exits after this many seconds without new records (and no
        /// open span).
        idle_exit_secs "idle_exit_secs": u64 = 1800,
            env Some("AGENT_TELEMETRY_RELAY_IDLE_EXIT_SECS"), plain, example 60,
            show |c| c.export.idle_exit.as_secs().to_string();
        /// How often the relay checks that our settings entries and markers are still in place,
        /// in seconds (at least 1).
        gap_check_secs "gap_check_secs": u64 = 30,
            env Some("AGENT_TELEMETRY_GAP_CHECK_SECS"), plain, example 5,
            show |c| c.export.gap_check.as_secs().to_string();
        /// A session working on a turn with no record for this many seconds is reported silent
        /// (`telemetry_gap`, `session_silent`; at least 1).
        session_silence_secs "session_silence_secs": u64 = 900,
            env Some("AGENT_TELEMETRY_SESSION_SILENCE_SECS"), plain, example 120,
            show |c| c.export.session_silence.as_secs().to_string();
        /// The hook starts a relay when none runs (`false` when a service manager runs it).
        autostart "autostart": bool = true,
            env Some("AGENT_TELEMETRY_RELAY"), plain, example false, show |c| c.export.autostart.to_string();
    }
    /// Estimated cost of model calls.
    [cost] {
        /// A price table replacing the shipped one.
        prices "prices": Option<PathBuf> = None,
            env Some("AGENT_TELEMETRY_PRICES"), plain, example Some("/etc/agent-telemetry/prices.toml".into()),
            show |c| path(&c.cost.prices);
    }
    /// Findings from sequences: what the relay watches in each session (see `relay::behaviour`).
    [behaviour] {
        /// `behaviour.retry_loop`: the same failing tool call this many times in a row (at least
        /// 2; 0: off).
        retry_loop_count "retry_loop_count": u64 = 3,
            env Some("AGENT_TELEMETRY_BEHAVIOUR_RETRY_LOOP_COUNT"), plain, example 5,
            show |c| c.behaviour.retry_loop_count.to_string();
        /// `behaviour.mass_change`: this many file deletes or overwrites within
        /// `behaviour.mass_change_window_secs` (0: off).
        mass_change_count "mass_change_count": u64 = 20,
            env Some("AGENT_TELEMETRY_BEHAVIOUR_MASS_CHANGE_COUNT"), plain, example 50,
            show |c| c.behaviour.mass_change_count.to_string();
        /// The window of `behaviour.mass_change`, in seconds (by the records' own times).
        mass_change_window_secs "mass_change_window_secs": u64 = 60,
            env Some("AGENT_TELEMETRY_BEHAVIOUR_MASS_CHANGE_WINDOW_SECS"), plain, example 300,
            show |c| c.behaviour.mass_change_window_secs.to_string();
        /// `behaviour.runaway`: a session's model tokens (input, output and cache writes; cache
        /// reads are not counted) over this budget (0: off).
        runaway_tokens "runaway_tokens": u64 = 5_000_000,
            env Some("AGENT_TELEMETRY_BEHAVIOUR_RUNAWAY_TOKENS"), plain, example 1_000_000,
            show |c| c.behaviour.runaway_tokens.to_string();
        /// `behaviour.runaway`: a session's estimated model cost over this many USD (0: off).
        runaway_cost_usd "runaway_cost_usd": f64 = 20.0,
            env Some("AGENT_TELEMETRY_BEHAVIOUR_RUNAWAY_COST_USD"), plain, example 5.0,
            show |c| c.behaviour.runaway_cost_usd.to_string();
        /// `behaviour.stalled`: one file read this many times with no file written in between
        /// (0: off).
        stalled_reads "stalled_reads": u64 = 6,
            env Some("AGENT_TELEMETRY_BEHAVIOUR_STALLED_READS"), plain, example 10,
            show |c| c.behaviour.stalled_reads.to_string();
        /// `behaviour.exfiltration`: hosts a WebFetch may carry data to after a sensitive read
        /// (a host or any of its subdomains).
        egress_allow "egress_allow": Vec<String> = vec!["github.com".into(), "docs.anthropic.com".into(), "docs.rs".into()],
            env None, plain, example vec!["internal.example.com".into()],
            show |c| c.behaviour.egress_allow.join(",");
    }
    /// `type: "http"` hooks.
    [hook] {
        /// The loopback `ip:port` where the relay takes http hook events (`install --transport
        /// http` sets it); unset: off.
        listen "listen": Option<String> = None,
            env Some("AGENT_TELEMETRY_HOOK_LISTEN"), plain, example Some("127.0.0.1:4399".into()),
            show |c| c.hook.listen.map(|a| a.to_string()).unwrap_or_else(|| "-".into()), via Resolver::listen;
    }
    /// The fleet registry.
    [fleet] {
        /// The fleet registry; unset: `fleet.toml` beside the config file.
        registry "registry": Option<PathBuf> = None,
            env Some("AGENT_TELEMETRY_FLEET"), plain, example Some("/etc/agent-telemetry/fleet.toml".into()),
            show |c| match (&c.fleet.registry, &c.fleet.error) {
                (_, Some(_)) => format!("{} (broken)", c.fleet.registry_path.display()),
                (Some(r), None) => format!(
                    "{} ({} agent(s), {} group(s))",
                    c.fleet.registry_path.display(),
                    r.agents.len(),
                    r.groups.len()
                ),
                (None, None) => format!("{} (none)", c.fleet.registry_path.display()),
            };
    }
}
