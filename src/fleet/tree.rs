//! `fleet tree`: who delegated to whom, across processes — sessions started by another session
//! (`session_context.parent_session`, handed on by our SessionStart hook), the subagents each
//! session ran (nested ones under the subagent that spawned them), for one workflow
//! (`session_context.workflow_id`), for the tree one session belongs to, or for everything.
//!
//! Sessions and their counts come from the index (`sessions`' own rows); a subagent's type and
//! parent are read back from its SubagentStart record in the journal.
//!
//! Not for: spans and timings inside a session (`tree SESSION` shows the relay's trace tree).

use crate::forensics::index::Index;
use crate::forensics::sessions::{self, clip, SessionRow};
use crate::forensics::Error as ForensicsError;
use crate::forensics::Style;
use crate::text::escape_terminal;
use rusqlite::OptionalExtension;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What to show.
#[derive(Debug, Clone, Default)]
pub(crate) struct TreeSelect {
    pub workflow: Option<String>,
    /// A session id or a unique prefix: the whole tree it belongs to.
    pub session: Option<String>,
}

/// A subagent a session ran.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Subagent {
    pub agent_id: String,
    pub agent_type: Option<String>,
    /// The subagent that spawned this one (nested delegation), if any.
    pub parent_agent_id: Option<String>,
    /// The `Agent` tool call that spawned it.
    pub parent_tool_use_id: Option<String>,
    /// SubagentStart records: more than 1 when revived (SendMessage).
    pub runs: u64,
    pub tool_calls: u64,
}

/// One session of the tree, in depth-first order.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Node {
    pub session_id: String,
    pub parent_session: Option<String>,
    /// The session at the top of this tree.
    pub root_session: String,
    /// 0 for a root.
    pub depth: u32,
    pub agent: Option<String>,
    pub agent_group: Option<String>,
    pub project: Option<String>,
    pub project_name: Option<String>,
    pub workflow: Option<String>,
    pub start: String,
    pub end: String,
    pub status: &'static str,
    pub records: u64,
    pub tool_calls: u64,
    pub errors: u64,
    pub child_sessions: u64,
    pub subagents: Vec<Subagent>,
}

/// The selected trees, roots oldest first, each depth first.
pub(crate) fn trees(index: &Index, sel: &TreeSelect, now: u64, open_for: u64) -> super::Result<Vec<Node>> {
    let rows = sessions::list(index, &sessions::SessionFilters::default(), now, open_for)?;
    let by_id: HashMap<&str, &SessionRow> = rows.iter().map(|r| (r.session_id.as_str(), r)).collect();
    let mut kids: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in &rows {
        if let Some(p) = r.parent_session.as_deref().filter(|p| by_id.contains_key(p) && *p != r.session_id) {
            kids.entry(p).or_default().push(&r.session_id);
        }
    }
    let workflows = workflows(index)?;
    // The top of the tree a session is in (a parent not in the journal ends the walk).
    let top = |sid: &str| -> String {
        let mut cur = sid;
        let mut seen = BTreeSet::new();
        while let Some(p) = by_id.get(cur).and_then(|r| r.parent_session.as_deref()).filter(|p| by_id.contains_key(p)) {
            if !seen.insert(cur) {
                break;
            }
            cur = p;
        }
        cur.to_string()
    };
    let roots: Vec<String> = match (&sel.session, &sel.workflow) {
        (Some(given), _) => vec![top(&crate::forensics::query::resolve_session(index, given)?)],
        (None, Some(w)) => {
            let members: Vec<&SessionRow> = rows.iter().filter(|r| workflows.get(&r.session_id) == Some(w)).collect();
            if members.is_empty() {
                let mut known: Vec<String> = workflows.values().cloned().collect::<BTreeSet<_>>().into_iter().collect();
                known.truncate(10);
                return Err(super::Error::UnknownWorkflow {
                    workflow: w.clone(),
                    journal: index.journal_dir.clone(),
                    known,
                });
            }
            // A member whose parent is not in the workflow starts a tree of it.
            members
                .iter()
                .filter(|r| {
                    r.parent_session.as_deref().is_none_or(|p| workflows.get(p) != Some(w) || !by_id.contains_key(p))
                })
                .map(|r| r.session_id.clone())
                .collect()
        }
        // Every session: those without a known parent first, then any left (a loop of parents).
        (None, None) => {
            let mut roots: Vec<String> = rows
                .iter()
                .filter(|r| r.parent_session.as_deref().is_none_or(|p| !by_id.contains_key(p) || p == r.session_id))
                .map(|r| r.session_id.clone())
                .collect();
            roots.extend(rows.iter().map(|r| top(&r.session_id)));
            roots
        }
    };
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for root in roots {
        let mut stack = vec![(root.clone(), 0u32)];
        while let Some((sid, depth)) = stack.pop() {
            if !done.insert(sid.clone()) {
                continue;
            }
            let Some(r) = by_id.get(sid.as_str()) else { continue };
            out.push(Node {
                session_id: sid.clone(),
                parent_session: r.parent_session.clone(),
                root_session: root.clone(),
                depth,
                agent: r.agent.clone(),
                agent_group: r.agent_group.clone(),
                project: r.project.clone(),
                project_name: r.project_name.clone(),
                workflow: workflows.get(&sid).cloned(),
                start: r.start.clone(),
                end: r.end.clone(),
                status: r.status,
                records: r.records,
                tool_calls: r.tool_calls,
                errors: r.errors,
                child_sessions: r.child_sessions,
                subagents: subagents(index, &sid)?,
            });
            // Children oldest first: pushed in reverse.
            if let Some(ks) = kids.get(sid.as_str()) {
                let mut ks: Vec<&&str> = ks.iter().collect();
                ks.sort_by_key(|k| (&by_id[**k].start, **k));
                for k in ks.into_iter().rev() {
                    stack.push((k.to_string(), depth + 1));
                }
            }
        }
    }
    Ok(out)
}

/// Session id → workflow id.
type Workflows = HashMap<String, String>;

/// The workflow of each session that has one.
fn workflows(index: &Index) -> super::Result<Workflows> {
    let mut st = index.conn.prepare("SELECT sid, workflow FROM sessions WHERE workflow IS NOT NULL")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The subagents of a session, in the order they started, from their SubagentStart records.
fn subagents(index: &Index, sid: &str) -> super::Result<Vec<Subagent>> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Start {
        seq: u64,
        agent_context: crate::record::AgentContext,
    }
    let sess: Option<i64> =
        index.conn.query_row("SELECT sess FROM sessions WHERE sid = ?1", [sid], |r| r.get(0)).optional()?;
    let Some(sess) = sess else { return Ok(Vec::new()) };
    let mut st = index.conn.prepare(
        "SELECT e.seq, g.name, e.off, e.len, e.agent FROM events e JOIN segments g ON g.id = e.seg WHERE e.sess = ?1 AND e.event = 'SubagentStart' AND e.agent IS NOT NULL ORDER BY e.seq",
    )?;
    let starts: Vec<(u64, String, u64, u64, String)> = st
        .query_map([sess], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get(1)?,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
                r.get(4)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut calls_st = index.conn.prepare("SELECT COUNT(DISTINCT tool_use) FROM events WHERE sess = ?1 AND agent = ?2 AND event IN ('PreToolUse', 'PostToolUse', 'PostToolUseFailure')")?;
    let mut out: Vec<Subagent> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for (seq, seg, off, len, agent) in starts {
        if let Some(&i) = at.get(&agent) {
            out[i].runs += 1;
            continue;
        }
        let line =
            index.line(&seg, off, len).map_err(|error| ForensicsError::Segment { segment: seg.clone(), error })?;
        let rec: Start = serde_json::from_slice(&line).map_err(|error| ForensicsError::BadLine {
            segment: seg.clone(),
            offset: off,
            error,
        })?;
        if rec.seq != seq {
            return Err(ForensicsError::JournalChanged { segment: seg, offset: off, seq }.into());
        }
        let tool_calls: i64 = calls_st.query_row(rusqlite::params![sess, agent], |r| r.get(0))?;
        at.insert(agent.clone(), out.len());
        out.push(Subagent {
            agent_id: agent,
            agent_type: rec.agent_context.agent_type,
            parent_agent_id: rec.agent_context.parent_agent_id,
            parent_tool_use_id: rec.agent_context.parent_tool_use_id,
            runs: 1,
            tool_calls: tool_calls as u64,
        });
    }
    Ok(out)
}

/// The human tree: sessions with their agent, project, status and counts; subagents under
/// their session (nested ones under their parent), child sessions after them.
pub(crate) fn render(nodes: &[Node], style: Style) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nodes.len() {
        // One tree: its root and every node after it until the next root.
        let end = nodes[i + 1..].iter().position(|n| n.depth == 0).map(|p| i + 1 + p).unwrap_or(nodes.len());
        let tree = &nodes[i..end];
        if let Some(w) = &tree[0].workflow {
            out.push_str(&style.dim(&format!("workflow {}\n", escape_terminal(w))));
        }
        walk(tree, 0, "", true, &mut out, style);
        i = end;
    }
    let subs: usize = nodes.iter().map(|n| n.subagents.len()).sum();
    let roots = nodes.iter().filter(|n| n.depth == 0).count();
    out.push_str(&style.dim(&format!("{roots} tree(s), {} session(s), {subs} subagent(s)\n", nodes.len())));
    out
}

fn session_line(n: &Node, style: Style) -> String {
    let status = if n.status == "ended" { n.status.to_string() } else { style.yellow(n.status) };
    let project = n.project_name.clone().or_else(|| n.project.clone()).unwrap_or_else(|| "-".into());
    let errors = if n.errors > 0 { style.red(&format!("{} error(s)", n.errors)) } else { "0 errors".into() };
    format!(
        "session {}  {}  {}  {}  {}  {} tool call(s), {errors}",
        escape_terminal(&n.session_id),
        escape_terminal(&clip(n.agent.as_deref().unwrap_or("-"), 20)),
        escape_terminal(&clip(&project, 20)),
        super::short_time(&n.start),
        status,
        n.tool_calls
    )
}

/// Prints `tree[at]` and, under it, its subagents and child sessions.
fn walk(tree: &[Node], at: usize, prefix: &str, last: bool, out: &mut String, style: Style) {
    let n = &tree[at];
    let (branch, next) = if n.depth == 0 {
        ("", String::new())
    } else if last {
        ("└─ ", format!("{prefix}   "))
    } else {
        ("├─ ", format!("{prefix}│  "))
    };
    out.push_str(&format!("{prefix}{branch}{}\n", session_line(n, style)));
    let children: Vec<usize> = (at + 1..tree.len())
        .take_while(|&j| tree[j].depth > n.depth)
        .filter(|&j| tree[j].depth == n.depth + 1)
        .collect();
    // Subagents: roots are those whose parent is not a subagent of this session.
    let ids: BTreeSet<&str> = n.subagents.iter().map(|s| s.agent_id.as_str()).collect();
    let top: Vec<&Subagent> =
        n.subagents.iter().filter(|s| s.parent_agent_id.as_deref().is_none_or(|p| !ids.contains(p))).collect();
    for (k, s) in top.iter().enumerate() {
        sub_walk(n, s, &next, k + 1 == top.len() && children.is_empty(), out, 0);
    }
    for (k, &j) in children.iter().enumerate() {
        walk(tree, j, &next, k + 1 == children.len(), out, style);
    }
}

fn sub_walk(n: &Node, s: &Subagent, prefix: &str, last: bool, out: &mut String, depth: usize) {
    let branch = if last { "└─ " } else { "├─ " };
    let runs = if s.runs > 1 { format!(", {} runs", s.runs) } else { String::new() };
    out.push_str(&format!(
        "{prefix}{branch}subagent {} {}  {} tool call(s){runs}\n",
        escape_terminal(s.agent_type.as_deref().unwrap_or("?")),
        escape_terminal(&clip(&s.agent_id, 17)),
        s.tool_calls
    ));
    if depth > 32 {
        return;
    }
    let next = format!("{prefix}{}", if last { "   " } else { "│  " });
    let kids: Vec<&Subagent> = n
        .subagents
        .iter()
        .filter(|k| k.parent_agent_id.as_deref() == Some(s.agent_id.as_str()) && k.agent_id != s.agent_id)
        .collect();
    for (k, c) in kids.iter().enumerate() {
        sub_walk(n, c, &next, k + 1 == kids.len(), out, depth + 1);
    }
}
