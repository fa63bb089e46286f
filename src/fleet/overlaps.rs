//! `fleet overlaps`: agents working in the same project at once — for each project, every
//! stretch of time in which sessions of two or more agents were active there, with the agents,
//! their sessions (and the worktree each ran in) and the most agents active at one moment.
//! Answered from the forensics index's sessions.
//!
//! What counts:
//! - **Agent**: as in `fleet conflicts` — the fleet agent id, `session:<id>` for a session with
//!   none; two sessions of one agent are not an overlap.
//! - **Active**: a session from its first record to its SessionEnd, else to its last record
//!   (an open session counts until the last thing it did; a dead one does not run on).
//! - **Same project**: the session's project as the hook resolved it; a Claude worktree
//!   (`.claude/worktrees/NAME`) is inside its project, so agents in two worktrees of one project
//!   overlap — the case worth seeing, since their edits meet at merge time.
//! - **Overlap**: a maximal stretch in which at least two agents were active; a session that
//!   starts exactly as another ends does overlap it (an instant is enough).

use crate::forensics::index::Index;
use crate::forensics::sessions::clip;
use crate::forensics::Style;
use crate::text::escape_terminal;
use rusqlite::types::Value as SqlValue;
use std::collections::{BTreeMap, BTreeSet};

/// One session taking part in an overlap.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct OverlapSession {
    pub agent: String,
    pub session_id: String,
    pub worktree: Option<String>,
    /// The session's own first record and end (or last record).
    pub start: String,
    pub end: String,
    /// `ended` (it has a SessionEnd) or `open`.
    pub status: &'static str,
}

/// Two or more agents in one project at once.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Overlap {
    pub project: String,
    pub project_name: Option<String>,
    pub from: String,
    pub to: String,
    pub from_unix_nano: u64,
    pub to_unix_nano: u64,
    /// Every agent active at some moment of the stretch, sorted.
    pub agents: Vec<String>,
    /// The most agents active at one moment.
    pub max_agents: u64,
    /// Every session active at some moment of the stretch, by start.
    pub sessions: Vec<OverlapSession>,
}

struct Sess {
    agent: String,
    sid: String,
    worktree: Option<String>,
    start: u64,
    end: u64,
    ended: bool,
}

/// Where a session stops being active: its SessionEnd when that is what it did last, else its
/// last record (a session resumed after a SessionEnd runs on).
const END: &str = "(CASE WHEN s.ended = 1 THEN s.end_time ELSE s.last END)";

/// Every overlap among the sessions `f` selects (sessions active within --since/--until), by
/// project, then time.
pub(crate) fn find(index: &Index, f: &super::SessionFilters) -> super::Result<Vec<Overlap>> {
    let mut conds =
        vec!["s.records > 0".to_string(), "s.project IS NOT NULL".to_string(), "s.start IS NOT NULL".to_string()];
    let mut params: Vec<SqlValue> = Vec::new();
    super::window_conditions(f.since, f.until, "s.start", END, &mut params, &mut conds);
    if let Some(p) = &f.project {
        let c = super::conflicts::project_condition(p, &mut params);
        conds.push(c);
    }
    let sql = format!(
        "SELECT s.project, s.project_name, s.agent, s.sid, s.worktree, s.start, {END}, s.ended
         FROM sessions s WHERE {} ORDER BY s.project, s.start",
        conds.join(" AND ")
    );
    let mut st = index.conn.prepare(&sql)?;
    let mut q = st.query(rusqlite::params_from_iter(params))?;
    let mut by_project: BTreeMap<String, (Option<String>, Vec<Sess>)> = BTreeMap::new();
    while let Some(r) = q.next()? {
        let project: String = r.get(0)?;
        let sid: String = r.get(3)?;
        let start = r.get::<_, i64>(5)?.max(0) as u64;
        let end = r.get::<_, Option<i64>>(6)?.map(|v| v.max(0) as u64).unwrap_or(start).max(start);
        let agent = r.get::<_, Option<String>>(2)?.unwrap_or_else(|| format!("session:{sid}"));
        let e = by_project.entry(project).or_insert_with(|| (None, Vec::new()));
        if e.0.is_none() {
            e.0 = r.get(1)?;
        }
        e.1.push(Sess { agent, sid, worktree: r.get(4)?, start, end, ended: r.get::<_, i64>(7)? != 0 });
    }
    let mut out = Vec::new();
    for (project, (name, sessions)) in by_project {
        for (from, to, max, members) in sweep(&sessions) {
            let mut list: Vec<&Sess> = members.iter().map(|&i| &sessions[i]).collect();
            list.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.sid.cmp(&b.sid)));
            let agents: BTreeSet<String> = list.iter().map(|s| s.agent.clone()).collect();
            out.push(Overlap {
                project: project.clone(),
                project_name: name.clone(),
                from: crate::timefmt::rfc3339_nanos(from),
                to: crate::timefmt::rfc3339_nanos(to),
                from_unix_nano: from,
                to_unix_nano: to,
                agents: agents.into_iter().collect(),
                max_agents: max,
                sessions: list
                    .iter()
                    .map(|s| OverlapSession {
                        agent: s.agent.clone(),
                        session_id: s.sid.clone(),
                        worktree: s.worktree.clone(),
                        start: crate::timefmt::rfc3339_nanos(s.start),
                        end: crate::timefmt::rfc3339_nanos(s.end),
                        status: if s.ended { "ended" } else { "open" },
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// The stretches in which two or more agents are active: (from, to, most agents at once, the
/// indices of the sessions active in it). A sweep over starts and ends; at one instant starts
/// come first, so touching sessions overlap.
fn sweep(sessions: &[Sess]) -> Vec<(u64, u64, u64, BTreeSet<usize>)> {
    // (time, 0 = start / 1 = end, session)
    let mut points: Vec<(u64, u8, usize)> =
        sessions.iter().enumerate().flat_map(|(i, s)| [(s.start, 0, i), (s.end, 1, i)]).collect();
    points.sort_unstable();
    let mut active: BTreeSet<usize> = BTreeSet::new();
    let mut per_agent: BTreeMap<&str, u32> = BTreeMap::new();
    let mut out = Vec::new();
    let mut current: Option<(u64, u64, BTreeSet<usize>)> = None;
    for (t, kind, i) in points {
        let agent = sessions[i].agent.as_str();
        if kind == 0 {
            active.insert(i);
            *per_agent.entry(agent).or_default() += 1;
            let agents = per_agent.len() as u64;
            // A stretch opens with every session then active; later ones join as they start.
            if agents >= 2 {
                let c = current.get_or_insert_with(|| (t, 0, active.clone()));
                c.1 = c.1.max(agents);
                c.2.insert(i);
            }
        } else {
            active.remove(&i);
            if let Some(n) = per_agent.get_mut(agent) {
                *n -= 1;
                if *n == 0 {
                    per_agent.remove(agent);
                }
            }
            if per_agent.len() < 2 {
                if let Some((from, max, members)) = current.take() {
                    out.push((from, t, max, members));
                }
            }
        }
    }
    out
}

/// The human listing: a header per overlap, a line per session.
pub(crate) fn render(found: &[Overlap], style: Style) -> String {
    let mut out = String::new();
    for o in found {
        let dur = super::human_duration(o.to_unix_nano - o.from_unix_nano);
        out.push_str(&style.bold(&format!(
            "{}  {} → {} ({dur})  {} agents, at most {} at once: {}\n",
            escape_terminal(&o.project),
            super::short_time(&o.from),
            super::short_time(&o.to),
            o.agents.len(),
            o.max_agents,
            escape_terminal(&o.agents.join(", "))
        )));
        for s in &o.sessions {
            let wt = s.worktree.as_deref().map(|w| format!("  worktree {}", escape_terminal(w))).unwrap_or_default();
            out.push_str(&format!(
                "    {:<18}  {:<8}  {} → {}  {:<6}{wt}\n",
                escape_terminal(&clip(&s.agent, 18)),
                escape_terminal(&clip(&s.session_id, 8)),
                super::short_time(&s.start),
                super::short_time(&s.end),
                s.status
            ));
        }
    }
    let projects: BTreeSet<&str> = found.iter().map(|o| o.project.as_str()).collect();
    out.push_str(&style.dim(&format!(
        "{} overlap(s) in {} project(s): two or more agents active in the same project at once\n",
        found.len(),
        projects.len()
    )));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(agent: &str, sid: &str, start: u64, end: u64) -> Sess {
        Sess { agent: agent.into(), sid: sid.into(), worktree: None, start, end, ended: true }
    }

    #[test]
    fn sweep_finds_the_stretches_of_two_or_more_agents() {
        // a: 0–10, b: 5–20, a again (second session) 12–30, c: 25–26, d: 40–50 alone; between
        // 10 and 12 only b is active.
        let v = vec![
            s("a", "a1", 0, 10),
            s("b", "b1", 5, 20),
            s("a", "a2", 12, 30),
            s("c", "c1", 25, 26),
            s("d", "d1", 40, 50),
        ];
        let got = sweep(&v);
        let want: Vec<(u64, u64, u64, BTreeSet<usize>)> = vec![
            (5, 10, 2, [0, 1].into_iter().collect()),
            (12, 20, 2, [1, 2].into_iter().collect()),
            (25, 26, 2, [2, 3].into_iter().collect()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn one_agent_in_two_sessions_is_no_overlap_and_touching_sessions_are() {
        assert!(sweep(&[s("a", "a1", 0, 10), s("a", "a2", 5, 20)]).is_empty());
        assert_eq!(
            sweep(&[s("a", "a1", 0, 10), s("b", "b1", 10, 20)]),
            vec![(10, 10, 2, [0, 1].into_iter().collect())]
        );
        // Three at once at the peak.
        assert_eq!(sweep(&[s("a", "a1", 0, 10), s("b", "b1", 2, 8), s("c", "c1", 4, 6)])[0].2, 3);
    }
}
