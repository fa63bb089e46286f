//! `fleet conflicts`: files that two or more agents touched close together in time — two writes
//! (write/write) or a read and a write (read/write) by different agents within a window — with
//! who, which session, when and with which tool. Answered from the forensics index: every
//! completed file-tool call (`PostToolUse` of Read/Write/Edit/… with a path) is a touch.
//!
//! What counts:
//! - **Agent**: the session's fleet agent id (`agent_context.fleet_agent_id`); a session with
//!   none is an agent of its own. Subagents belong to their session's agent, so an agent and
//!   its subagents never conflict with each other, nor two sessions of the same fleet agent.
//! - **Touch**: a tool call that completed (`PostToolUse`): a failed or refused write wrote
//!   nothing. Reads: Read, NotebookRead; writes: Write, Edit, MultiEdit, NotebookEdit. Paths a
//!   Bash command reads or writes are not known per file (the command is kept as text) and a
//!   search (Grep, Glob) reads a directory, not a file: neither is a touch.
//! - **Path**: as the hook resolved it (absolute, symlinks followed), then normalised lexically
//!   (`//`, `/./`, `..`, a trailing `/`), so `src/../src/a.rs` and `src/a.rs` are one file.
//! - **Conflict**: touches of one path that are linked by conflicting pairs (two agents, at least
//!   one write, at most `window` apart) form one conflict; its kind is write/write when any of
//!   its pairs is two writes. Touches of the path outside every pair are not listed.
//!
//! Not for: telling whether the agents' changes really collided (contents are not kept).

use crate::forensics::index::Index;
use crate::forensics::sessions::clip;
use crate::forensics::Style;
use crate::text::escape_terminal;
use rusqlite::types::Value as SqlValue;
use std::collections::BTreeMap;

use crate::forensics::summary::WRITE_TOOLS;

#[derive(Debug, Clone)]
pub(crate) struct ConflictFilters {
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// A project path, name or glob of the path (as `sessions --project`).
    pub project: Option<String>,
    /// Two touches conflict when at most this far apart (nanoseconds).
    pub window: u64,
}

/// One file-tool call that takes part in a conflict.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Touch {
    /// The fleet agent id; absent when the session has none (it is then its own agent).
    pub agent: Option<String>,
    pub session_id: String,
    /// The subagent that made the call, if not the session's main agent.
    pub subagent_id: Option<String>,
    pub time: String,
    pub time_unix_nano: u64,
    pub tool: String,
    /// `read` or `write`.
    pub access: &'static str,
    pub seq: u64,
    #[serde(skip)]
    key: String,
}

/// Touches of one path by different agents, linked by conflicting pairs.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Conflict {
    pub path: String,
    /// `write/write` when any pair is two writes, else `read/write`.
    pub kind: &'static str,
    /// The agents involved (fleet ids; `session:<id>` for a session without one), sorted.
    pub agents: Vec<String>,
    pub sessions: Vec<String>,
    pub first: String,
    pub last: String,
    /// Conflicting pairs (two agents, at least one write, within the window).
    pub pairs: u64,
    pub window_secs: f64,
    pub touches: Vec<Touch>,
}

/// `10m`, `90s`, `2h`, `1d`: a window length in nanoseconds (at least one second).
pub(crate) fn parse_window(text: &str) -> super::Result<u64> {
    let t = text.trim();
    let bad = || super::Error::BadWindow { given: text.to_string() };
    let unit = t.chars().last().ok_or_else(bad)?;
    let num = &t[..t.len() - unit.len_utf8()];
    let secs: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = num.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(super::Error::ZeroWindow { given: text.to_string() });
    }
    Ok(n.saturating_mul(secs).saturating_mul(1_000_000_000))
}

/// The SQL condition selecting sessions of a project (path, name or glob), as `sessions` does.
pub(crate) fn project_condition(project: &str, params: &mut Vec<SqlValue>) -> String {
    params.push(SqlValue::Text(project.to_string()));
    let ph = format!("?{}", params.len());
    format!("(s.project = {ph} OR s.project_name = {ph} OR s.project GLOB {ph})")
}

/// Every conflict in `f`, oldest first.
///
/// Reads only the touches whose nearest conflicting touch (over the whole index) is within the
/// window (`touches.gap`, see [`crate::forensics::summary`]): every touch of a conflicting pair
/// is among them, so pairing them gives the answer pairing every touch would.
pub(crate) fn find(index: &Index, f: &ConflictFilters) -> super::Result<Vec<Conflict>> {
    let mut params: Vec<SqlValue> = vec![SqlValue::Integer(f.window.min(i64::MAX as u64) as i64)];
    let mut conds = vec!["t.gap <= ?1".to_string()];
    super::window_conditions(f.since, f.until, "t.time", "t.time", &mut params, &mut conds);
    if let Some(p) = &f.project {
        let c = project_condition(p, &mut params);
        conds.push(c);
    }
    // From the touches, by time when the question is bounded in time, else by gap.
    let by = if f.since.is_some() || f.until.is_some() { "touches_time" } else { "touches_gap" };
    let q = format!(
        "SELECT t.seq, t.time, s.sid, s.agent, e.agent, e.tool, p.text
         FROM touches t INDEXED BY {by} CROSS JOIN events e ON e.seq = t.seq CROSS JOIN sessions s ON s.sess = t.sess
           CROSS JOIN npaths p ON p.id = t.npath
         WHERE {}",
        conds.join(" AND ")
    );
    let mut st = index.conn.prepare(&q)?;
    let mut rows = st.query(rusqlite::params_from_iter(params))?;
    let mut by_path: BTreeMap<String, Vec<Touch>> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let time = r.get::<_, i64>(1)? as u64;
        let sid: String = r.get(2)?;
        let agent: Option<String> = r.get(3)?;
        let tool: String = r.get(5)?;
        let path: String = r.get(6)?;
        let key = agent.clone().unwrap_or_else(|| format!("session:{sid}"));
        by_path.entry(path).or_default().push(Touch {
            agent,
            session_id: sid,
            subagent_id: r.get(4)?,
            time: crate::timefmt::rfc3339_nanos(time),
            time_unix_nano: time,
            access: if WRITE_TOOLS.contains(&tool.as_str()) { "write" } else { "read" },
            tool,
            seq: r.get::<_, i64>(0)? as u64,
            key,
        });
    }
    let mut out = Vec::new();
    for (path, mut touches) in by_path {
        touches.sort_by_key(|t| (t.time_unix_nano, t.seq));
        out.extend(conflicts_of(&path, touches, f.window));
    }
    out.sort_by(|a, b| (a.touches[0].time_unix_nano, &a.path).cmp(&(b.touches[0].time_unix_nano, &b.path)));
    Ok(out)
}

/// The conflicts among one path's touches (sorted by time): each write is paired with every
/// touch of another agent within the window; pairs that share a touch are one conflict.
fn conflicts_of(path: &str, touches: Vec<Touch>, window: u64) -> Vec<Conflict> {
    let n = touches.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    // Per component root, after the pass: (pairs, any write/write).
    let mut pairs: Vec<(usize, usize, bool)> = Vec::new();
    for i in 0..n {
        if touches[i].access != "write" {
            continue;
        }
        let t = touches[i].time_unix_nano;
        let lo = touches.partition_point(|x| x.time_unix_nano < t.saturating_sub(window));
        for j in lo..n {
            if touches[j].time_unix_nano > t.saturating_add(window) {
                break;
            }
            if j == i || touches[j].key == touches[i].key {
                continue;
            }
            let both = touches[j].access == "write";
            // A write/write pair is seen from both writes: count it once.
            if both && j < i {
                continue;
            }
            pairs.push((i, j, both));
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            if a != b {
                parent[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, (Vec<usize>, u64, bool)> = BTreeMap::new();
    let mut in_pair = vec![false; n];
    for &(i, j, both) in &pairs {
        in_pair[i] = true;
        in_pair[j] = true;
        let g = groups.entry(root(&mut parent, i)).or_default();
        g.1 += 1;
        g.2 |= both;
    }
    for (i, used) in in_pair.iter().enumerate() {
        if *used {
            groups.get_mut(&root(&mut parent, i)).expect("paired touches have a group").0.push(i);
        }
    }
    let mut slots: Vec<Option<Touch>> = touches.into_iter().map(Some).collect();
    groups
        .into_values()
        .map(|(mut members, pairs, ww)| {
            members.sort();
            let ts: Vec<Touch> = members.iter().map(|&i| slots[i].take().expect("each touch in one group")).collect();
            let mut agents: Vec<String> = ts.iter().map(|t| t.key.clone()).collect();
            agents.sort();
            agents.dedup();
            let mut sessions: Vec<String> = ts.iter().map(|t| t.session_id.clone()).collect();
            sessions.sort();
            sessions.dedup();
            Conflict {
                path: path.to_string(),
                kind: if ww { "write/write" } else { "read/write" },
                agents,
                sessions,
                first: ts[0].time.clone(),
                last: ts[ts.len() - 1].time.clone(),
                pairs,
                window_secs: window as f64 / 1e9,
                touches: ts,
            }
        })
        .collect()
}

/// The human listing: one header line per conflict, one line per touch under it.
pub(crate) fn render(conflicts: &[Conflict], window: u64, style: Style) -> String {
    let mut out = String::new();
    for c in conflicts {
        let kind = if c.kind == "write/write" {
            style.red(&format!("{:<11}", c.kind))
        } else {
            style.yellow(&format!("{:<11}", c.kind))
        };
        out.push_str(&format!(
            "{kind}  {}  {}  {} pair(s)  {}\n",
            style.bold(&escape_terminal(&c.path)),
            escape_terminal(&c.agents.join(", ")),
            c.pairs,
            style.dim(&format!("{} → {}", super::short_time(&c.first), super::short_time(&c.last)))
        ));
        for t in &c.touches {
            let who = t.agent.clone().unwrap_or_else(|| "-".into());
            let sub = t.subagent_id.as_deref().map(|a| format!(" [sub {}]", clip(a, 8))).unwrap_or_default();
            out.push_str(&format!(
                "    {}  {:<16}  {}{}  {:<12}  {:<5}  seq {}\n",
                super::short_time(&t.time),
                escape_terminal(&clip(&who, 16)),
                escape_terminal(&clip(&t.session_id, 8)),
                escape_terminal(&sub),
                escape_terminal(&t.tool),
                t.access,
                t.seq
            ));
        }
    }
    let ww = conflicts.iter().filter(|c| c.kind == "write/write").count();
    out.push_str(&style.dim(&format!(
        "{} conflict(s): {ww} write/write, {} read/write, within a {} window\n",
        conflicts.len(),
        conflicts.len() - ww,
        super::human_duration(window)
    )));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forensics::summary::normalise_path;

    fn touch(key: &str, secs: u64, access: &'static str, seq: u64) -> Touch {
        Touch {
            agent: Some(key.into()),
            session_id: format!("s-{key}"),
            subagent_id: None,
            time: String::new(),
            time_unix_nano: secs * 1_000_000_000,
            tool: if access == "write" { "Edit".into() } else { "Read".into() },
            access,
            seq,
            key: key.into(),
        }
    }

    #[test]
    fn pairs_need_two_agents_a_write_and_the_window() {
        let w = 600 * 1_000_000_000;
        // Two reads by two agents: nothing. Same agent writing twice: nothing.
        assert!(conflicts_of("/p", vec![touch("a", 0, "read", 1), touch("b", 1, "read", 2)], w).is_empty());
        assert!(conflicts_of("/p", vec![touch("a", 0, "write", 1), touch("a", 1, "write", 2)], w).is_empty());
        // A read and a write 11 minutes apart: outside a 10 minute window.
        assert!(conflicts_of("/p", vec![touch("a", 0, "read", 1), touch("b", 660, "write", 2)], w).is_empty());
        let c = conflicts_of("/p", vec![touch("a", 0, "read", 1), touch("b", 599, "write", 2)], w);
        assert_eq!((c.len(), c[0].kind, c[0].pairs), (1, "read/write", 1));
        // A chain a-write, b-write, c-read: one conflict, write/write, three pairs.
        let c = conflicts_of(
            "/p",
            vec![touch("a", 0, "write", 1), touch("b", 10, "write", 2), touch("c", 20, "read", 3)],
            w,
        );
        assert_eq!((c.len(), c[0].kind, c[0].pairs, c[0].agents.len()), (1, "write/write", 3, 3));
        // Two episodes an hour apart: two conflicts; a lone read between them is not listed.
        let c = conflicts_of(
            "/p",
            vec![
                touch("a", 0, "write", 1),
                touch("b", 5, "write", 2),
                touch("c", 1800, "read", 3),
                touch("a", 3600, "write", 4),
                touch("b", 3605, "read", 5),
            ],
            w,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c.iter().map(|c| c.touches.len()).sum::<usize>(), 4);
        assert_eq!((c[0].kind, c[1].kind), ("write/write", "read/write"));
    }

    #[test]
    fn paths_and_windows() {
        assert_eq!(normalise_path("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(normalise_path("/../a"), "/a");
        assert_eq!(normalise_path("a/../../b"), "../b");
        assert_eq!(parse_window("10m").unwrap(), 600_000_000_000);
        assert!(matches!(parse_window("0s"), Err(crate::fleet::Error::ZeroWindow { .. })));
        let e = parse_window("10").unwrap_err();
        assert!(matches!(&e, crate::fleet::Error::BadWindow { given } if given == "10"), "{e}");
        assert_eq!(e.to_string(), "--window 10: want a duration (90s, 10m, 2h, 1d)");
        assert!(std::error::Error::source(&e).is_none(), "the command line would print the cause twice");
        assert_eq!(parse_window("90s").unwrap(), 90_000_000_000);
        for bad in ["", "m", "10", "10x", "-5m", "0s", "1.5h"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
