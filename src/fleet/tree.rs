//! `fleet tree`: who delegated to whom, across processes — sessions started by another session
//! (`session_context.parent_session`, handed on by our SessionStart hook), the subagents each
//! session ran (nested ones under the subagent that spawned them), for one workflow
//! (`session_context.workflow_id`), for the tree one session belongs to, or for everything.
//!
//! Sessions and their counts come from the index (`sessions`' own rows); a subagent's type,
//! parent, runs and tool calls from its summary there (kept from its SubagentStart records).
//!
//! Not for: spans and timings inside a session (`tree SESSION` shows the relay's trace tree).

use crate::forensics::index::Index;
use crate::forensics::sessions::{self, clip, SessionRow};
use crate::forensics::Style;
use crate::text::escape_terminal;
use std::collections::{BTreeSet, HashMap};

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
    // The sessions' own rows (their risk is not shown here: not computed).
    let rows = sessions::list_with(index, &sessions::SessionFilters::default(), now, open_for, false)?;
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
            let roots: Vec<String> = rows
                .iter()
                .filter(|r| r.parent_session.as_deref().is_none_or(|p| !by_id.contains_key(p) || p == r.session_id))
                .map(|r| r.session_id.clone())
                .collect();
            // Then the top of each session's tree (those left are in a loop of parents): taken
            // below, when the session is not already in a tree.
            roots
        }
    };
    let everything = sel.session.is_none() && sel.workflow.is_none();
    // Every session's subagents at once when the whole fleet is asked for, else per session.
    let mut all = if everything { Some(subagents(index, None)?) } else { None };
    let mut out = Vec::new();
    let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut later = rows.iter().filter(|_| everything).map(|r| r.session_id.as_str());
    let mut roots = roots.into_iter();
    loop {
        let root = match roots.next() {
            Some(r) => r,
            None => match later.by_ref().find(|sid| !done.contains(*sid)) {
                Some(sid) => top(sid),
                None => break,
            },
        };
        let mut stack = vec![(root.clone(), 0u32)];
        while let Some((sid, depth)) = stack.pop() {
            if done.contains(&sid) {
                continue;
            }
            done.insert(sid.clone());
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
                subagents: match &mut all {
                    Some(all) => all.remove(&sid).unwrap_or_default(),
                    None => subagents(index, Some(&sid))?.remove(&sid).unwrap_or_default(),
                },
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

/// The subagents of one session (`Some(sid)`) or of every session, each session's in the order
/// they started, from the index's subagent summary (each SubagentStart's type and parents, kept
/// from its record when indexed).
fn subagents(index: &Index, sid: Option<&str>) -> super::Result<HashMap<String, Vec<Subagent>>> {
    let mut st = index.conn.prepare(&format!(
        "SELECT s.sid, ss.agent, st.agent_type, st.parent_agent_id, st.parent_tool_use_id, ss.runs, ss.tool_calls
         FROM session_subagents ss JOIN sessions s ON s.sess = ss.sess JOIN subagent_starts st ON st.seq = ss.first_seq
         {} ORDER BY ss.sess, ss.first_seq",
        if sid.is_some() { "WHERE s.sid = ?1" } else { "" }
    ))?;
    let params: Vec<&str> = sid.into_iter().collect();
    let mut q = st.query(rusqlite::params_from_iter(params))?;
    let mut out: HashMap<String, Vec<Subagent>> = HashMap::new();
    while let Some(r) = q.next()? {
        out.entry(r.get(0)?).or_default().push(Subagent {
            agent_id: r.get(1)?,
            agent_type: r.get(2)?,
            parent_agent_id: r.get(3)?,
            parent_tool_use_id: r.get(4)?,
            runs: r.get::<_, i64>(5)? as u64,
            tool_calls: r.get::<_, i64>(6)? as u64,
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
