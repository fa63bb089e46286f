//! `fleet agents`: every agent seen in a data dir — where (hosts, projects, worktrees), when
//! (first and last seen), how active (sessions, open sessions, events) — and the registry entry
//! it matched; then the registry's agents that were never seen.
//!
//! From the forensics index: one row per session, with who ran it (host, type, role, instance,
//! registry match) as its first record says, kept in the index when the record is indexed.

use crate::config::registry::Registry;
use crate::forensics::index::Index;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One agent, as `--json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct AgentRow {
    /// The fleet agent id (`agent.id`); `null` for records that carry none.
    pub agent: Option<String>,
    pub seen: bool,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    /// The registry entry matched as recorded (`agent-001`), else the current registry's entry
    /// of that id (records older than the registry), else `null`.
    pub registry_entry: Option<String>,
    /// `agent_id`, `project`, `none` as recorded; `current` when only today's registry names it.
    pub registry_match: String,
    pub hosts: Vec<String>,
    pub projects: Vec<String>,
    pub worktrees: Vec<String>,
    pub instances: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub sessions: u64,
    /// Sessions with a record within `export.span_timeout_secs` and no SessionEnd yet.
    pub open_sessions: u64,
    pub events: u64,
}

#[derive(Default)]
struct Acc {
    kinds: BTreeSet<String>,
    groups: BTreeSet<String>,
    roles: BTreeSet<String>,
    entries: BTreeMap<String, String>,
    hosts: BTreeSet<String>,
    projects: BTreeSet<String>,
    worktrees: BTreeSet<String>,
    instances: BTreeSet<String>,
    first: Option<u64>,
    last: Option<u64>,
    sessions: u64,
    open: u64,
    events: u64,
    matched_none: bool,
}

/// Every agent with a session active at or after `since` (sorted by id), then the registry's
/// agents not among them (`seen: false`).
pub(crate) fn list(
    index: &Index,
    registry: Option<&Registry>,
    since: Option<u64>,
    now: u64,
    open_for: u64,
) -> super::Result<Vec<AgentRow>> {
    let mut st = index.conn.prepare(
        "SELECT s.agent, s.agent_group, s.project, s.project_name, s.worktree, s.start, s.last, s.ended, s.records,
           s.host, s.fleet_type, s.role, s.instance, s.registry_entry, s.registry_match
         FROM sessions s WHERE s.records > 0 AND s.last >= ?1",
    )?;
    let mut acc: BTreeMap<Option<String>, Acc> = BTreeMap::new();
    let mut rows = st.query([since.unwrap_or(0) as i64])?;
    while let Some(r) = rows.next()? {
        let agent: Option<String> = r.get(0)?;
        let a = acc.entry(agent).or_default();
        let n = |v: Option<i64>| v.unwrap_or(0) as u64;
        if let Some(g) = r.get::<_, Option<String>>(1)? {
            a.groups.insert(g);
        }
        if let Some(p) = r.get::<_, Option<String>>(2)?.or(r.get::<_, Option<String>>(3)?) {
            a.projects.insert(p);
        }
        if let Some(w) = r.get::<_, Option<String>>(4)? {
            a.worktrees.insert(w);
        }
        let (start, last) = (n(r.get(5)?), n(r.get(6)?));
        a.first = Some(a.first.map_or(start, |f| f.min(start)));
        a.last = Some(a.last.map_or(last, |l| l.max(last)));
        a.sessions += 1;
        let ended: bool = r.get(7)?;
        if !ended && now.saturating_sub(last) < open_for {
            a.open += 1;
        }
        a.events += n(r.get(8)?);
        // Who ran it, from the session's first record (kept in the index when indexed).
        a.hosts.extend(r.get::<_, Option<String>>(9)?);
        a.kinds.extend(r.get::<_, Option<String>>(10)?);
        a.roles.extend(r.get::<_, Option<String>>(11)?);
        a.instances.extend(r.get::<_, Option<String>>(12)?);
        match (r.get::<_, Option<String>>(13)?, r.get::<_, Option<String>>(14)?) {
            (Some(e), m) => {
                a.entries.insert(e, m.unwrap_or_else(|| "agent_id".into()));
            }
            (None, Some(m)) if m == "none" => a.matched_none = true,
            _ => {}
        }
    }
    let mut out: Vec<AgentRow> = acc
        .into_iter()
        .map(|(agent, a)| {
            let current = registry.zip(agent.as_deref()).and_then(|(r, id)| r.agents.get(id).map(|_| id.to_string()));
            let (registry_entry, registry_match) = match a.entries.iter().next_back() {
                Some((e, m)) => (Some(e.clone()), m.clone()),
                None if current.is_some() => (current, "current".to_string()),
                None => (None, "none".to_string()),
            };
            AgentRow {
                kind: a.kinds.iter().next_back().cloned().or_else(|| {
                    registry.zip(registry_entry.as_deref()).and_then(|(r, e)| r.agents.get(e)?.kind.clone())
                }),
                agent,
                seen: true,
                groups: a.groups.into_iter().collect(),
                roles: a.roles.into_iter().collect(),
                registry_entry,
                registry_match,
                hosts: a.hosts.into_iter().collect(),
                projects: a.projects.into_iter().collect(),
                worktrees: a.worktrees.into_iter().collect(),
                instances: a.instances.len() as u64,
                first_seen: a.first.map(crate::timefmt::rfc3339_nanos),
                last_seen: a.last.map(crate::timefmt::rfc3339_nanos),
                sessions: a.sessions,
                open_sessions: a.open,
                events: a.events,
            }
        })
        .collect();
    if let Some(r) = registry {
        let seen: BTreeSet<String> =
            out.iter().flat_map(|a| a.registry_entry.iter().chain(a.agent.iter()).cloned()).collect();
        for (name, e) in &r.agents {
            if seen.contains(name) {
                continue;
            }
            out.push(AgentRow {
                agent: Some(name.clone()),
                seen: false,
                kind: e.kind.clone(),
                groups: e.group.iter().cloned().collect(),
                roles: e.role.iter().cloned().collect(),
                registry_entry: Some(name.clone()),
                registry_match: "never_seen".into(),
                hosts: Vec::new(),
                projects: e.projects.clone(),
                worktrees: Vec::new(),
                instances: 0,
                first_seen: None,
                last_seen: None,
                sessions: 0,
                open_sessions: 0,
                events: 0,
            });
        }
    }
    out.sort_by(|a, b| (!a.seen, &a.agent).cmp(&(!b.seen, &b.agent)));
    Ok(out)
}

/// The agents as a table for people (agent text escaped for the terminal); `windowed`: the list
/// was limited to a time window (said when it is empty).
pub(crate) fn render(rows: &[AgentRow], windowed: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let esc = |s: &str| crate::text::escape_terminal(s);
    let join = |v: &[String]| if v.is_empty() { "-".to_string() } else { esc(&v.join(",")) };
    let day = |t: &Option<String>| t.as_deref().map(crate::forensics::time::short_rfc).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "{:<24} {:<12} {:<12} {:<12} {:<24} {:<19}  {:<19}  {:>8} {:>4} {:>8}  {:<16} PROJECTS / WORKTREES",
        "AGENT",
        "TYPE",
        "GROUP",
        "ROLE",
        "REGISTRY",
        "FIRST SEEN (UTC)",
        "LAST SEEN",
        "SESSIONS",
        "OPEN",
        "EVENTS",
        "HOSTS"
    );
    for r in rows {
        let registry = match (&r.registry_entry, r.registry_match.as_str()) {
            (Some(e), m) => format!("{} ({m})", esc(e)),
            (None, _) => "none".into(),
        };
        let mut where_ = join(&r.projects);
        if !r.worktrees.is_empty() {
            where_.push_str(&format!(" / {}", join(&r.worktrees)));
        }
        let _ = writeln!(
            out,
            "{:<24} {:<12} {:<12} {:<12} {:<24} {:<19}  {:<19}  {:>8} {:>4} {:>8}  {:<16} {}",
            r.agent.as_deref().map(esc).unwrap_or_else(|| "(no id)".into()),
            r.kind.as_deref().map(esc).unwrap_or_else(|| "-".into()),
            join(&r.groups),
            join(&r.roles),
            registry,
            day(&r.first_seen),
            day(&r.last_seen),
            r.sessions,
            r.open_sessions,
            r.events,
            join(&r.hosts),
            where_,
        );
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no agents{})", if windowed { " in this window" } else { "" });
    }
    out
}
