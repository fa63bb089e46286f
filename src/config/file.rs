//! The config file as written on disk: every section typed, every key optional, unknown keys and
//! wrong types rejected by name. [`super::resolve`] turns it (with the environment and the
//! defaults) into the one resolved [`super::Config`]; nothing else reads this type.

use super::{Fsync, Protocol, Scope};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub scope: ScopeSection,
    pub capture: CaptureSection,
    pub journal: JournalSection,
    pub agent: AgentSection,
    pub policy: PolicySection,
    pub export: ExportSection,
    pub cost: CostSection,
    pub hook: HookSection,
    pub fleet: FleetSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetSection {
    /// The fleet registry (`fleet.toml`); default: beside the config file.
    pub registry: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HookSection {
    /// The relay's loopback address for `type: "http"` hooks.
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostSection {
    pub prices: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopeSection {
    pub enabled: Option<Scope>,
    pub project_root: Option<PathBuf>,
    pub allow_paths: Option<Vec<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureSection {
    pub content: Option<bool>,
    pub max_bytes: Option<usize>,
    pub prompts: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalSection {
    pub fsync: Option<Fsync>,
    pub segment_max_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSection {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySection {
    pub file: Option<PathBuf>,
    pub enforce: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportSection {
    pub endpoint: Option<String>,
    pub protocol: Option<Protocol>,
    pub headers: Option<BTreeMap<String, String>>,
    pub ca_file: Option<PathBuf>,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub batch_size: Option<u64>,
    pub poll_ms: Option<u64>,
    pub span_timeout_secs: Option<u64>,
    pub idle_exit_secs: Option<u64>,
    pub gap_check_secs: Option<u64>,
    pub session_silence_secs: Option<u64>,
    pub autostart: Option<bool>,
}

/// Parses the file's text; the error names the key and line (`toml`'s own message).
pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str::<FileConfig>(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => format!("line {}: {msg}", text[..span.start.min(text.len())].matches('\n').count() + 1),
            None => msg,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistakes_are_errors_that_name_the_key() {
        for (text, want) in [
            ("[export]\nendpont = \"http://x:4317\"", "endpont"),
            ("[export]\ntimeout_ms = 1.5", "timeout_ms"),
            ("[export]\nautostart = \"false\"", "autostart"),
            ("[export]\nprotocol = \"GRPC\"", "GRPC"),
            ("[scope]\nenabled = \"everywhere\"", "everywhere"),
            ("[journal]\nfsync = true", "fsync"),
            ("[exprot]\nendpoint = \"file\"", "exprot"),
            ("[export]\nheaders = { a = 1 }", "headers"),
            ("[fleet]\nregistery = \"f.toml\"", "registery"),
            ("[fleet]\nregistry = 1", "registry"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(want) || e.contains("line 2"), "{text}: {e}");
            assert!(e.starts_with("line "), "{text}: {e}");
        }
    }

    #[test]
    fn a_full_file_parses() {
        let f = parse(
            "[scope]\nenabled = \"all\"\nallow_paths = [\"/tmp\"]\n[capture]\ncontent = true\n[journal]\nfsync = \"always\"\n\
             [agent]\nid = \"a\"\n[policy]\nenforce = true\n[export]\nendpoint = \"http://h:4318\"\nprotocol = \"http/protobuf\"\n\
             headers = { \"x-scope-orgid\" = \"t\" }\ntimeout_ms = 5\nautostart = false\n",
        )
        .unwrap();
        assert_eq!(f.scope.enabled, Some(Scope::All));
        assert_eq!(f.export.protocol, Some(Protocol::HttpProtobuf));
        assert_eq!(f.export.autostart, Some(false));
        assert_eq!(f.journal.fsync, Some(Fsync::Always));
    }
}
