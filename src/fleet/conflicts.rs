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

/// The totals of an answer: over every conflict the question selects, however many are listed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub(crate) struct Totals {
    pub conflicts: u64,
    pub write_write: u64,
    pub read_write: u64,
    /// Files with at least one conflict.
    pub files: u64,
    /// Touches taking part in a conflict.
    pub touches: u64,
    /// Items listed (conflicts, or files with `--by-file`) and those left out by the limit.
    pub shown: u64,
    pub not_shown: u64,
    /// The limit asked for (0: none).
    pub limit: u64,
    pub window_secs: f64,
}

/// One file's conflicts (`--by-file`).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FileConflicts {
    pub path: String,
    pub conflicts: u64,
    pub write_write: u64,
    pub read_write: u64,
    /// Touches of the file taking part in a conflict.
    pub touches: u64,
    /// The agents involved (as in a conflict), sorted.
    pub agents: Vec<String>,
    /// The first touch of its first conflict, the last of its last.
    pub first: String,
    pub first_unix_nano: u64,
    pub last: String,
    pub last_unix_nano: u64,
}

/// An answer: the listed conflicts (newest first) or files (most conflicts first), and the totals.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    pub conflicts: Vec<Conflict>,
    pub files: Vec<FileConflicts>,
    pub totals: Totals,
}

/// How much of the answer to list.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Listing {
    /// At most this many conflicts (or files); 0: all.
    pub limit: usize,
    /// One row per file instead of the conflicts.
    pub by_file: bool,
}

/// A touch as the counting pass reads it: numbers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lean {
    npath: i64,
    time: i64,
    seq: i64,
    who: i64,
    write: bool,
}

/// One conflict as the counting pass finds it: its touches (indexes into the pass's touches,
/// in time order) and whether any pair is two writes.
struct Group {
    members: Vec<usize>,
    ww: bool,
}

/// Every conflict `f` selects, as `Listing` asks: the newest first (by their first touch's
/// time, then seq), up to the limit; or one row per file, most conflicts first. The totals are
/// over all of them.
///
/// One pass over the touches whose nearest conflicting touch (over the whole index) is within
/// the window (`touches.gap`, see [`crate::forensics::summary`]: every touch of a conflicting
/// pair is among them), numbers only, links them into conflicts ([`groups`]) and counts; only the
/// listed conflicts' touches are then read in full.
pub(crate) fn query(index: &Index, f: &ConflictFilters, listing: Listing) -> super::Result<Answer> {
    let rows = lean_touches(index, f)?;
    let window = f.window.min(i64::MAX as u64) as i64;
    // Each conflict with where its path's rows start (its members count from there).
    let mut found: Vec<(usize, Group)> = Vec::new();
    let mut at = 0;
    while at < rows.len() {
        let end = at + rows[at..].iter().take_while(|r| r.npath == rows[at].npath).count();
        for g in groups(&rows[at..end], window) {
            found.push((at, g));
        }
        at = end;
    }
    let mut totals = Totals { window_secs: f.window as f64 / 1e9, limit: listing.limit as u64, ..Default::default() };
    let mut files: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, (start, g)) in found.iter().enumerate() {
        totals.conflicts += 1;
        if g.ww {
            totals.write_write += 1;
        } else {
            totals.read_write += 1;
        }
        totals.touches += g.members.len() as u64;
        files.entry(rows[*start].npath).or_default().push(i);
    }
    totals.files = files.len() as u64;
    let limit = if listing.limit == 0 { usize::MAX } else { listing.limit };
    let mut answer = Answer::default();
    let mut path_text = index.conn.prepare_cached("SELECT text FROM npaths WHERE id = ?1")?;
    if listing.by_file {
        let mut names = AgentNames::default();
        for (npath, ids) in &files {
            let gs: Vec<&Group> = ids.iter().map(|&i| &found[i].1).collect();
            let start = found[ids[0]].0;
            let abs = |g: &Group, k: usize| rows[start + g.members[k]];
            let first = gs.iter().map(|g| abs(g, 0).time).min().unwrap_or(0) as u64;
            let last = gs.iter().map(|g| abs(g, g.members.len() - 1).time).max().unwrap_or(0) as u64;
            let mut whos: Vec<i64> = gs.iter().flat_map(|g| g.members.iter().map(|&m| rows[start + m].who)).collect();
            whos.sort_unstable();
            whos.dedup();
            let mut agents = whos.iter().map(|w| names.name(index, *w)).collect::<super::Result<Vec<_>>>()?;
            agents.sort();
            let ww = gs.iter().filter(|g| g.ww).count() as u64;
            answer.files.push(FileConflicts {
                path: path_text.query_row([npath], |r| r.get(0))?,
                conflicts: gs.len() as u64,
                write_write: ww,
                read_write: gs.len() as u64 - ww,
                touches: gs.iter().map(|g| g.members.len() as u64).sum(),
                agents,
                first: crate::timefmt::rfc3339_nanos(first),
                first_unix_nano: first,
                last: crate::timefmt::rfc3339_nanos(last),
                last_unix_nano: last,
            });
        }
        answer.files.sort_by(|a, b| b.conflicts.cmp(&a.conflicts).then_with(|| a.path.cmp(&b.path)));
        answer.files.truncate(limit);
        totals.shown = answer.files.len() as u64;
        totals.not_shown = totals.files - totals.shown;
    } else {
        // Newest first: by the first touch's time, then its seq (unique), descending.
        let key = |(start, g): &(usize, Group)| {
            let r = rows[start + g.members[0]];
            (r.time, r.seq)
        };
        let mut order: Vec<usize> = (0..found.len()).collect();
        if limit < order.len() {
            order.select_nth_unstable_by(limit, |&a, &b| key(&found[b]).cmp(&key(&found[a])));
            order.truncate(limit);
        }
        order.sort_unstable_by(|&a, &b| key(&found[b]).cmp(&key(&found[a])));
        let mut detail = index.conn.prepare_cached(
            "SELECT s.sid, s.agent, e.agent, e.tool FROM events e CROSS JOIN sessions s ON s.sess = e.sess WHERE e.seq = ?1",
        )?;
        for i in order {
            let (start, g) = &found[i];
            let path: String = path_text.query_row([rows[*start].npath], |r| r.get(0))?;
            let mut touches = Vec::with_capacity(g.members.len());
            for &m in &g.members {
                let r = rows[start + m];
                let (sid, agent, subagent, tool): (String, Option<String>, Option<String>, String) =
                    detail.query_row([r.seq], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?, x.get(3)?)))?;
                touches.push(touch(r.seq, r.time as u64, sid, agent, subagent, tool));
            }
            // The touches of one conflict: pairing them gives that conflict back, with its pairs.
            answer.conflicts.extend(conflicts_of(&path, touches, f.window));
        }
        totals.shown = answer.conflicts.len() as u64;
        totals.not_shown = totals.conflicts - totals.shown;
    }
    answer.totals = totals;
    Ok(answer)
}

/// A [`Touch`] from what the index says of it.
fn touch(seq: i64, time: u64, sid: String, agent: Option<String>, subagent: Option<String>, tool: String) -> Touch {
    let key = agent.clone().unwrap_or_else(|| format!("session:{sid}"));
    Touch {
        agent,
        session_id: sid,
        subagent_id: subagent,
        time: crate::timefmt::rfc3339_nanos(time),
        time_unix_nano: time,
        access: if WRITE_TOOLS.contains(&tool.as_str()) { "write" } else { "read" },
        tool,
        seq: seq as u64,
        key,
    }
}

/// The agents' names by `touches.who` (a fleet id's number, or minus a session), looked up once.
#[derive(Default)]
struct AgentNames(std::collections::HashMap<i64, String>);

impl AgentNames {
    fn name(&mut self, index: &Index, who: i64) -> super::Result<String> {
        if let Some(n) = self.0.get(&who) {
            return Ok(n.clone());
        }
        let n: String = if who > 0 {
            index.conn.prepare_cached("SELECT agent FROM fleet_ids WHERE id = ?1")?.query_row([who], |r| r.get(0))?
        } else {
            let sid: String = index
                .conn
                .prepare_cached("SELECT sid FROM sessions WHERE sess = ?1")?
                .query_row([-who], |r| r.get(0))?;
            format!("session:{sid}")
        };
        self.0.insert(who, n.clone());
        Ok(n)
    }
}

/// The touches `f` selects with a gap within the window, numbers only, by path, time and seq.
fn lean_touches(index: &Index, f: &ConflictFilters) -> super::Result<Vec<Lean>> {
    let mut params: Vec<SqlValue> = vec![SqlValue::Integer(f.window.min(i64::MAX as u64) as i64)];
    let mut conds = vec!["t.gap <= ?1".to_string()];
    super::window_conditions(f.since, f.until, "t.time", "t.time", &mut params, &mut conds);
    if let Some(p) = &f.project {
        let c = project_condition(p, &mut params);
        conds.push(format!("t.sess IN (SELECT s.sess FROM sessions s WHERE {c})"));
    }
    // By time when the question is bounded in time, else from the gaps (an index holding every
    // column read here).
    let by = if f.since.is_some() || f.until.is_some() { "touches_time" } else { "touches_conflict" };
    let q = format!(
        "SELECT t.npath, t.time, t.seq, t.who, t.write FROM touches t INDEXED BY {by} WHERE {}",
        conds.join(" AND ")
    );
    let mut st = index.conn.prepare(&q)?;
    let mut rows: Vec<Lean> = st
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok(Lean { npath: r.get(0)?, time: r.get(1)?, seq: r.get(2)?, who: r.get(3)?, write: r.get(4)? })
        })?
        .collect::<Result<_, _>>()?;
    rows.sort_unstable_by_key(|r| (r.npath, r.time, r.seq));
    Ok(rows)
}

/// The conflicts among one path's touches `ts` (sorted by time, then seq), each its touches'
/// indexes in order, without listing every pair.
///
/// Each touch is linked to at most four others, on each side in time: a read to the nearest
/// write by another agent; a write to the nearest touch and the nearest write by another agent
/// — when within the window. Those links connect exactly the touches pairing does: for a pair
/// x…y (at least one a write, two agents, within the window), the nearest such partner of y
/// towards x (or of x towards y) is x itself, or a touch strictly between them that pairs with
/// one of them or with the other's own nearest partner — a pair spanning fewer touches, linked
/// by the same argument (the unit test checks it against every pair on random touches). A
/// conflict is write/write exactly when one of its writes has another agent's write within the
/// window: that pair lies inside it.
fn groups(ts: &[Lean], window: i64) -> Vec<Group> {
    let n = ts.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut linked = vec![false; n];
    let mut ww = vec![false; n];
    // The latest two touches (and writes) with different `who`, walking one way.
    let other = |top: &[Option<usize>; 2], who: i64| -> Option<usize> {
        match top[0] {
            Some(a) if ts[a].who != who => Some(a),
            _ => top[1],
        }
    };
    let push = |top: &mut [Option<usize>; 2], i: usize| {
        if top[0].is_some_and(|a| ts[a].who != ts[i].who) {
            top[1] = top[0];
        }
        top[0] = Some(i);
    };
    for forward in [true, false] {
        let mut any: [Option<usize>; 2] = [None, None];
        let mut wr: [Option<usize>; 2] = [None, None];
        for k in 0..n {
            let i = if forward { k } else { n - 1 - k };
            let t = ts[i];
            let near = |j: Option<usize>| j.filter(|&j| (t.time - ts[j].time).abs() <= window);
            let w = near(other(&wr, t.who));
            let a = if t.write { near(other(&any, t.who)) } else { None };
            for j in [w, a].into_iter().flatten() {
                linked[i] = true;
                linked[j] = true;
                let (x, y) = (root(&mut parent, i), root(&mut parent, j));
                if x != y {
                    parent[x] = y;
                }
            }
            if let (true, Some(j)) = (t.write, w) {
                ww[i] = true;
                ww[j] = true;
            }
            push(&mut any, i);
            if t.write {
                push(&mut wr, i);
            }
        }
    }
    let mut by_root: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out: Vec<Group> = Vec::new();
    for i in 0..n {
        if !linked[i] {
            continue;
        }
        let r = root(&mut parent, i);
        let g = *by_root.entry(r).or_insert_with(|| {
            out.push(Group { members: Vec::new(), ww: false });
            out.len() - 1
        });
        out[g].members.push(i);
        out[g].ww |= ww[i];
    }
    out
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

/// The human listing: one header line per conflict, one line per touch under it, then the totals.
pub(crate) fn render(answer: &Answer, window: u64, style: Style) -> String {
    let mut out = String::new();
    for c in &answer.conflicts {
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
    out.push_str(&style.dim(&trailer(&answer.totals, window, false)));
    out
}

/// The human listing of `--by-file`: one line per file, then the totals.
pub(crate) fn render_files(answer: &Answer, window: u64, style: Style) -> String {
    let mut out = String::new();
    if !answer.files.is_empty() {
        out.push_str(&style.bold(&format!(
            "{:>9}  {:>11}  {:>10}  {:>7}  {:<19}  {:<19}  {}\n",
            "conflicts", "write/write", "read/write", "touches", "first", "last", "path  (agents)"
        )));
    }
    for f in &answer.files {
        out.push_str(&format!(
            "{:>9}  {:>11}  {:>10}  {:>7}  {:<19}  {:<19}  {}  {}\n",
            f.conflicts,
            f.write_write,
            f.read_write,
            f.touches,
            super::short_time(&f.first),
            super::short_time(&f.last),
            style.bold(&escape_terminal(&f.path)),
            style.dim(&format!("({})", escape_terminal(&f.agents.join(", "))))
        ));
    }
    out.push_str(&style.dim(&trailer(&answer.totals, window, true)));
    out
}

/// `N conflict(s) in F file(s): W write/write, R read/write, within a 10m window`, and what the
/// limit left out.
fn trailer(t: &Totals, window: u64, by_file: bool) -> String {
    let mut s = format!(
        "{} conflict(s) in {} file(s): {} write/write, {} read/write, within a {} window",
        t.conflicts,
        t.files,
        t.write_write,
        t.read_write,
        super::human_duration(window)
    );
    if t.not_shown > 0 {
        let what = if by_file { "file(s) with the most conflicts" } else { "newest conflict(s)" };
        s.push_str(&format!("; the {} {what} shown, {} not (--limit 0 lists all", t.shown, t.not_shown));
        s.push_str(if by_file { ")" } else { ", --by-file one line per file)" });
    }
    s.push('\n');
    s
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

    /// `groups` (a few links per touch) against `conflicts_of` (every pair) on random touches:
    /// few agents, reads and writes, equal times, windows from tight to wide.
    #[test]
    fn linking_the_nearest_partners_finds_the_conflicts_every_pair_finds() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let mut checked = 0;
        for case in 0..3_000 {
            let n = 1 + rnd(14) as usize;
            let agents = 1 + rnd(4);
            let spread = 1 + rnd(40);
            let mut lean: Vec<Lean> = (0..n)
                .map(|i| Lean {
                    npath: 1,
                    time: rnd(spread) as i64,
                    seq: i as i64 + 1,
                    who: rnd(agents) as i64,
                    write: rnd(3) == 0,
                })
                .collect();
            lean.sort_by_key(|t| (t.time, t.seq));
            let window = rnd(12) as i64;
            let touches: Vec<Touch> = lean
                .iter()
                .map(|t| {
                    let mut tt = touch(&t.who.to_string(), 0, if t.write { "write" } else { "read" }, t.seq as u64);
                    tt.time_unix_nano = t.time as u64;
                    tt
                })
                .collect();
            let mut want: Vec<(Vec<u64>, bool)> = conflicts_of("/p", touches, window as u64)
                .iter()
                .map(|c| (c.touches.iter().map(|t| t.seq).collect(), c.kind == "write/write"))
                .collect();
            let mut got: Vec<(Vec<u64>, bool)> = groups(&lean, window)
                .iter()
                .map(|g| (g.members.iter().map(|&m| lean[m].seq as u64).collect(), g.ww))
                .collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "case {case}: window {window}, touches {lean:?}");
            checked += usize::from(!want.is_empty());
        }
        assert!(checked > 1_000, "most cases have conflicts: {checked}");
    }

    /// An index of schema 7 as it was before `touches_conflict` (with `touches_gap` instead) is
    /// given the new index when opened, not rebuilt, and answers the same.
    #[test]
    fn an_index_without_the_covering_index_gets_it_in_place() {
        use crate::forensics::index::Index;
        use crate::progress::Silent;
        let tmp = tempfile::tempdir().unwrap();
        let (journal, idx) = (tmp.path().join("journal"), tmp.path().join("index"));
        crate::forensics::synth::generate(&journal, 3_000, 1_796_000_000_000_000_000, 3).unwrap();
        let f = ConflictFilters { since: None, until: None, project: None, window: 600_000_000_000 };
        let ask = |index: &Index| {
            let a = query(index, &f, Listing { limit: 0, by_file: false }).unwrap();
            let seqs: Vec<Vec<u64>> = a.conflicts.iter().map(|c| c.touches.iter().map(|t| t.seq).collect()).collect();
            (a.totals, seqs)
        };
        let before = ask(&Index::open_with(&journal, &idx, &Silent).unwrap());
        assert!(before.0.conflicts > 0);
        let conn = rusqlite::Connection::open(idx.join("forensics.sqlite")).unwrap();
        conn.execute_batch(
            "DROP INDEX touches_conflict; CREATE INDEX touches_gap ON touches(gap) WHERE gap IS NOT NULL;",
        )
        .unwrap();
        drop(conn);
        let index = Index::open_with(&journal, &idx, &Silent).unwrap();
        assert!(index.refresh.rebuilt.is_none() && !index.refresh.upgraded, "{:?}", index.refresh);
        let names: Vec<String> = index
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'touches' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            names.contains(&"touches_conflict".to_string()) && !names.contains(&"touches_gap".to_string()),
            "{names:?}"
        );
        assert_eq!(ask(&index), before);
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
