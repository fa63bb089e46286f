//! The fleet registry (`fleet.toml`): which agents exist, their type, group and role, the
//! projects each works on, and each group's tenant in the backends. Read by the hook (an
//! agent's identity on every record), by `fleet agents` (which entry each agent seen matched)
//! and by `fleet collector-config` (a pipeline per group, see `crate::fleet::collector`).
//!
//! ```toml
//! [groups.backend]
//! tenant = "team-backend"          # Loki X-Scope-OrgID and Tempo tenant
//! victorialogs_account_id = 11     # VictoriaLogs AccountID (victorialogs_project_id: default 0)
//! [agents.agent-001]
//! type = "primary"                 # agent.type
//! group = "backend"
//! role = "coordinator"
//! projects = ["project-a", "/abs/path/project-b"]   # names or paths this entry matches by
//! ```
//!
//! Strict like the config file: an unknown key, a wrong type, an agent naming a group that is
//! not defined, two groups sharing a tenant, or a name that cannot be a collector component id
//! is an error naming the entry. Not for secrets: nothing here is one.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest registry read (a bigger file is an error, not a slow hook).
const MAX_BYTES: u64 = 1024 * 1024;

/// What is wrong in a registry's text: the line, or the entry and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    /// Not TOML, an unknown key or a wrong type (at `line` when the parser says where).
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("{message}")]
    Toml { message: String },
    /// A group or agent name that cannot be a collector component id (`what`: group, agent).
    #[error("{what} `{name}`: a name is 1-100 of A-Z a-z 0-9 - _ .")]
    Name { what: &'static str, name: String },
    #[error("group `{group}`: tenant {tenant:?} must be 1-150 of A-Z a-z 0-9 - _ . (a Loki/Tempo tenant id)")]
    Tenant { group: String, tenant: String },
    #[error("group `{group}`: VictoriaLogs tenant 0:0 is the default tenant (records with no group); give the group its own victorialogs_account_id")]
    DefaultTenant { group: String },
    #[error("groups `{first}` and `{second}` share VictoriaLogs tenant {account_id}:{project_id}")]
    SharedVictoriaLogsTenant { first: String, second: String, account_id: u32, project_id: u32 },
    #[error("groups `{first}` and `{second}` share tenant `{tenant}`")]
    SharedTenant { first: String, second: String, tenant: String },
    #[error("agent `{agent}`: group `{group}` is not defined (add [groups.{group}] with its tenant)")]
    UnknownGroup { agent: String, group: String },
    #[error("agent `{agent}`: an empty project name")]
    EmptyProject { agent: String },
}

/// Why the registry file at `path` cannot be used (a missing file is not an error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("{}: {error}", .path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{}: not a regular file", .path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: larger than {MAX_BYTES} bytes", .path.display())]
    TooLarge { path: PathBuf },
    #[error("{}: {error}", .path.display())]
    Invalid { path: PathBuf, error: Invalid },
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Registry {
    pub groups: BTreeMap<String, Group>,
    pub agents: BTreeMap<String, AgentEntry>,
}

/// An agent group: its data lands in its own tenant.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Loki's `X-Scope-OrgID` and Tempo's tenant (`X-Scope-OrgID`).
    pub tenant: String,
    /// VictoriaLogs `AccountID`.
    pub victorialogs_account_id: u32,
    /// VictoriaLogs `ProjectID`.
    #[serde(default)]
    pub victorialogs_project_id: u32,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AgentEntry {
    /// `agent.type` (the seed's `type`: primary, secondary, …).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
    /// Project names (the root directory's name) or absolute paths this entry matches by.
    pub projects: Vec<String>,
}

/// How a record's identity was matched to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchedBy {
    /// The agent id (from `AGENT_TELEMETRY_AGENT_ID` or `[agent] id`) is an entry's name.
    AgentId,
    /// No id was given and an entry lists the project (by name or path).
    Project,
}

impl MatchedBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MatchedBy::AgentId => "agent_id",
            MatchedBy::Project => "project",
        }
    }
}

impl Registry {
    /// Parses and checks a registry's text; the error names the line or the entry.
    pub(crate) fn parse(text: &str) -> Result<Registry, Invalid> {
        let r: Registry = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    Invalid::Syntax { line: text[..span.start.min(text.len())].matches('\n').count() + 1, message }
                }
                None => Invalid::Toml { message },
            }
        })?;
        r.check()?;
        Ok(r)
    }

    /// Reads the registry at `path`: `Ok(None)` when there is none (one failed `open`, the
    /// common case of a lone agent), bounded, regular files only.
    pub(crate) fn load(path: &Path) -> Result<Option<Registry>, LoadError> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let read = |error| LoadError::Read { path: path.to_path_buf(), error };
        let file =
            match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(read(e)),
            };
        let meta = file.metadata().map_err(read)?;
        if !meta.is_file() {
            return Err(LoadError::NotAFile { path: path.to_path_buf() });
        }
        if meta.len() > MAX_BYTES {
            return Err(LoadError::TooLarge { path: path.to_path_buf() });
        }
        let mut text = String::new();
        file.take(MAX_BYTES).read_to_string(&mut text).map_err(read)?;
        Registry::parse(&text).map(Some).map_err(|error| LoadError::Invalid { path: path.to_path_buf(), error })
    }

    fn check(&self) -> Result<(), Invalid> {
        let mut tenants: BTreeMap<&str, &str> = BTreeMap::new();
        let mut accounts: BTreeMap<(u32, u32), &str> = BTreeMap::new();
        for (name, g) in &self.groups {
            check_name("group", name)?;
            if g.tenant.is_empty()
                || g.tenant.len() > 150
                || !g.tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(Invalid::Tenant { group: name.clone(), tenant: g.tenant.clone() });
            }
            if (g.victorialogs_account_id, g.victorialogs_project_id) == (0, 0) {
                return Err(Invalid::DefaultTenant { group: name.clone() });
            }
            if let Some(other) = accounts.insert((g.victorialogs_account_id, g.victorialogs_project_id), name) {
                return Err(Invalid::SharedVictoriaLogsTenant {
                    first: other.to_string(),
                    second: name.clone(),
                    account_id: g.victorialogs_account_id,
                    project_id: g.victorialogs_project_id,
                });
            }
            if let Some(other) = tenants.insert(g.tenant.as_str(), name) {
                return Err(Invalid::SharedTenant {
                    first: other.to_string(),
                    second: name.clone(),
                    tenant: g.tenant.clone(),
                });
            }
        }
        for (name, a) in &self.agents {
            check_name("agent", name)?;
            if let Some(g) = &a.group {
                if !self.groups.contains_key(g) {
                    return Err(Invalid::UnknownGroup { agent: name.clone(), group: g.clone() });
                }
            }
            if a.projects.iter().any(|p| p.is_empty()) {
                return Err(Invalid::EmptyProject { agent: name.clone() });
            }
        }
        Ok(())
    }

    /// The entry for this agent: by its explicit id, else the first entry (by name) that lists
    /// the project by name or path.
    pub(crate) fn find(
        &self,
        explicit_id: Option<&str>,
        project_name: Option<&str>,
        project_path: Option<&str>,
    ) -> Option<(&str, &AgentEntry, MatchedBy)> {
        if let Some(id) = explicit_id {
            return self.agents.get_key_value(id).map(|(k, e)| (k.as_str(), e, MatchedBy::AgentId));
        }
        let path = project_path.map(|p| p.trim_end_matches('/'));
        self.agents
            .iter()
            .find(|(_, e)| {
                e.projects.iter().any(|p| {
                    Some(p.as_str()) == project_name || (p.starts_with('/') && Some(p.trim_end_matches('/')) == path)
                })
            })
            .map(|(k, e)| (k.as_str(), e, MatchedBy::Project))
    }
}

/// Group and agent names become collector component ids and attribute values: keep them plain.
fn check_name(what: &'static str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.len() > 100 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(Invalid::Name { what, name: name.to_string() });
    }
    Ok(())
}

/// An agent's identity, as recorded on every record and exported as resource attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Identity {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
    /// The registry entry matched, and how.
    pub entry: Option<(String, MatchedBy)>,
}

/// What the hook knows when it decides who it is.
pub(crate) struct Known<'a> {
    pub explicit_id: Option<&'a str>,
    pub explicit_type: Option<&'a str>,
    pub explicit_group: Option<&'a str>,
    pub explicit_role: Option<&'a str>,
    pub project_name: Option<&'a str>,
    pub project_path: Option<&'a str>,
    pub user: Option<&'a str>,
    pub host: Option<&'a str>,
    /// Started by another agent (a parent session): default role `delegate`, else `primary`.
    pub delegated: bool,
}

/// Identity: explicit settings (environment or config) win, then the registry entry, then the
/// defaults (id `user@host`, type `claude-code`, role `primary`/`delegate`, no group).
pub(crate) fn identify(registry: Option<&Registry>, k: &Known) -> Identity {
    let found = registry.and_then(|r| r.find(k.explicit_id, k.project_name, k.project_path));
    let entry = found.map(|(_, e, _)| e);
    let s = |v: Option<&str>| v.map(str::to_string);
    Identity {
        id: s(k.explicit_id).or_else(|| found.map(|(n, _, _)| n.to_string())).or_else(|| match (k.user, k.host) {
            (Some(u), Some(h)) => Some(format!("{u}@{h}")),
            _ => None,
        }),
        kind: s(k.explicit_type).or_else(|| entry.and_then(|e| e.kind.clone())).or_else(|| Some("claude-code".into())),
        group: s(k.explicit_group).or_else(|| entry.and_then(|e| e.group.clone())),
        role: s(k.explicit_role)
            .or_else(|| entry.and_then(|e| e.role.clone()))
            .or_else(|| Some(if k.delegated { "delegate" } else { "primary" }.into())),
        entry: found.map(|(n, _, m)| (n.to_string(), m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Registry {
        Registry::parse(include_str!("../../tests/data/fleet/fleet.toml")).unwrap()
    }

    fn known<'a>(id: Option<&'a str>, name: Option<&'a str>, path: Option<&'a str>) -> Known<'a> {
        Known {
            explicit_id: id,
            explicit_type: None,
            explicit_group: None,
            explicit_role: None,
            project_name: name,
            project_path: path,
            user: Some("ann"),
            host: Some("box"),
            delegated: false,
        }
    }

    #[test]
    fn the_shipped_example_parses() {
        let r = fixture();
        assert_eq!(r.groups["backend"].tenant, "team-backend");
        assert_eq!(r.groups["backend"].victorialogs_account_id, 11);
        assert_eq!(r.groups["frontend"].victorialogs_project_id, 0);
        assert_eq!(r.agents["agent-001"].kind.as_deref(), Some("primary"));
        assert_eq!(r.agents["agent-002"].projects, vec!["project-c".to_string()]);
    }

    #[test]
    fn matching_by_id_then_project_then_none() {
        let r = fixture();
        // An explicit id matches its entry, whatever the project.
        let i = identify(Some(&r), &known(Some("agent-002"), Some("project-a"), None));
        assert_eq!(
            (i.id.as_deref(), i.group.as_deref(), i.role.as_deref()),
            (Some("agent-002"), Some("frontend"), Some("participant"))
        );
        assert_eq!(i.entry, Some(("agent-002".into(), MatchedBy::AgentId)));
        assert_eq!(i.kind.as_deref(), Some("secondary"));
        // An explicit id not in the registry: no entry, even if the project is listed.
        let i = identify(Some(&r), &known(Some("builder-7"), Some("project-a"), None));
        assert_eq!(i.id.as_deref(), Some("builder-7"));
        assert_eq!(i.entry, None);
        assert_eq!(i.group, None);
        // No id: the project by name …
        let i = identify(Some(&r), &known(None, Some("project-a"), Some("/src/project-a")));
        assert_eq!(i.id.as_deref(), Some("agent-001"));
        assert_eq!(i.group.as_deref(), Some("backend"));
        assert_eq!(i.entry, Some(("agent-001".into(), MatchedBy::Project)));
        // … or by absolute path (a trailing slash does not matter), not by a path's name.
        let i = identify(Some(&r), &known(None, Some("b"), Some("/abs/path/project-b/")));
        assert_eq!(i.id.as_deref(), Some("agent-001"));
        let i = identify(Some(&r), &known(None, Some("project-b"), Some("/elsewhere/project-b")));
        assert_eq!(i.entry, None);
        // Nothing matches: the lone-agent defaults.
        let i = identify(Some(&r), &known(None, Some("other"), Some("/x/other")));
        assert_eq!(
            i,
            Identity {
                id: Some("ann@box".into()),
                kind: Some("claude-code".into()),
                group: None,
                role: Some("primary".into()),
                entry: None
            }
        );
        assert_eq!(identify(None, &known(None, Some("project-a"), None)).id.as_deref(), Some("ann@box"));
    }

    #[test]
    fn explicit_settings_win_over_the_entry() {
        let r = fixture();
        let mut k = known(Some("agent-001"), None, None);
        k.explicit_group = Some("frontend");
        k.explicit_role = Some("reviewer");
        k.explicit_type = Some("batch");
        let i = identify(Some(&r), &k);
        assert_eq!(
            (i.group.as_deref(), i.role.as_deref(), i.kind.as_deref()),
            (Some("frontend"), Some("reviewer"), Some("batch"))
        );
        assert_eq!(i.entry, Some(("agent-001".into(), MatchedBy::AgentId)));
    }

    #[test]
    fn mistakes_are_errors_that_name_the_entry() {
        for (text, want) in [
            ("[agents.a]\ntyp = \"primary\"", "typ"),
            ("[agents.a]\nprojects = \"p\"", "line 2"),
            ("[groups.g]\ntenant = \"t\"\nvictorialogs_account_id = -1", "line 3"),
            ("[groups.g]\ntenant = \"t\"", "victorialogs_account_id"),
            ("[agents.a]\ngroup = \"nope\"", "group `nope` is not defined"),
            ("[groups.g]\ntenant = \"t t\"\nvictorialogs_account_id = 1", "tenant"),
            ("[groups.g]\ntenant = \"t\"\nvictorialogs_account_id = 0", "default tenant"),
            ("[groups.g]\ntenant = \"t\"\nvictorialogs_account_id = 1\n[groups.h]\ntenant = \"u\"\nvictorialogs_account_id = 1", "share VictoriaLogs tenant 1:0"),
            ("[groups.g]\ntenant = \"t\"\nvictorialogs_account_id = 1\n[groups.h]\ntenant = \"t\"\nvictorialogs_account_id = 2", "share tenant `t`"),
            ("[groups.\"a b\"]\ntenant = \"t\"\nvictorialogs_account_id = 1", "group `a b`"),
            ("[agent.a]\n", "agent"),
        ] {
            let e = Registry::parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn a_missing_registry_is_none_and_a_fifo_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Registry::load(&dir.path().join("fleet.toml")), Ok(None)));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path in our own temp dir.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Registry::load(&fifo).unwrap_err();
        assert!(matches!(e, LoadError::NotAFile { .. }), "{e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(Registry::load(dir.path()).is_err());
    }
}
