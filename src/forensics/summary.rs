//! The fleet summaries of the forensics index: what `fleet conflicts|compare|tree|agents` read
//! instead of scanning every event, kept as the index grows (each batch of new records updates
//! them for the sessions and paths it touched) and recomputed whole when a build ends, when an
//! index of the previous schema is upgraded, and when in doubt (a record replaced an indexed
//! one's seq).
//!
//! - `touches`: one row per file touch `fleet conflicts` considers (a completed Read,
//!   NotebookRead, Write, Edit, MultiEdit or NotebookEdit with a path), its path normalised
//!   (`npaths`), who made it (`who`: the fleet agent's number in `fleet_ids`, or minus the
//!   session for a session without one) and `gap`: how far in time the nearest touch it would
//!   conflict with is (same path, another agent, one of the two a write; null: none). A touch
//!   takes part in a conflict within a window exactly when its gap is at most the window, so
//!   `fleet conflicts --window W` reads the touches with `gap <= W` and pairs only those.
//! - `session_tools`: per session and tool, the tool calls (distinct tool_use ids) and failed ones.
//! - `session_hook`: per session, the hook's timings (`metadata.hook_us`) as a histogram
//!   (sorted values with counts, varint-encoded): percentiles over any set of sessions without
//!   reading their events.
//! - `subagent_starts` (each SubagentStart's type and parent, from its record) and
//!   `session_subagents` (per session and subagent: first start, runs, tool calls).
//! - The who-ran-it columns of `sessions` (`host`, `fleet_type`, `role`, `instance`,
//!   `registry_entry`, `registry_match`), from the session's first record.

use rusqlite::{params, Connection};
use std::collections::{BTreeMap, HashMap};

/// Tools whose completed call reads its path.
pub(crate) const READ_TOOLS: &[&str] = &["Read", "NotebookRead"];
/// Tools whose completed call writes its path.
pub(crate) const WRITE_TOOLS: &[&str] = &["Write", "Edit", "MultiEdit", "NotebookEdit"];

/// The fleet tables (created with the rest of a new index, or added to one of schema 6).
pub(crate) const TABLES: &str = "
CREATE TABLE IF NOT EXISTS npaths (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS fleet_ids (id INTEGER PRIMARY KEY, agent TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS touches (
  seq INTEGER PRIMARY KEY, npath INTEGER NOT NULL, time INTEGER NOT NULL, sess INTEGER NOT NULL,
  who INTEGER NOT NULL, write INTEGER NOT NULL, gap INTEGER
);
CREATE INDEX IF NOT EXISTS touches_path ON touches(npath, time, seq);
CREATE INDEX IF NOT EXISTS touches_gap ON touches(gap) WHERE gap IS NOT NULL;
CREATE INDEX IF NOT EXISTS touches_sess ON touches(sess);
CREATE TABLE IF NOT EXISTS session_tools (sess INTEGER NOT NULL, tool TEXT, calls INTEGER NOT NULL, failures INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS session_tools_sess ON session_tools(sess);
CREATE TABLE IF NOT EXISTS session_hook (sess INTEGER PRIMARY KEY, hist BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subagent_starts (
  seq INTEGER PRIMARY KEY, sess INTEGER NOT NULL, agent TEXT NOT NULL,
  agent_type TEXT, parent_agent_id TEXT, parent_tool_use_id TEXT
);
CREATE INDEX IF NOT EXISTS subagent_starts_sess ON subagent_starts(sess, agent);
CREATE TABLE IF NOT EXISTS session_subagents (
  sess INTEGER NOT NULL, agent TEXT NOT NULL, first_seq INTEGER NOT NULL, runs INTEGER NOT NULL,
  tool_calls INTEGER NOT NULL, PRIMARY KEY (sess, agent)
) WITHOUT ROWID;
";

/// The who-ran-it columns of `sessions` (from the session's first record).
pub(crate) const SESSION_COLUMNS: &[&str] =
    &["host", "fleet_type", "role", "instance", "registry_entry", "registry_match"];

/// What a session's first record says about who ran it (parsed on its own, leniently: a field
/// of an unexpected shape leaves them all unknown, never the record unindexed).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct FirstRecord {
    metadata: FirstMeta,
    agent_context: FirstAgent,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FirstMeta {
    host_name: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FirstAgent {
    fleet_agent_type: Option<String>,
    agent_role: Option<String>,
    instance_id: Option<String>,
    registry_entry: Option<String>,
    registry_match: Option<String>,
}

/// A SubagentStart's own description of the subagent.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Start {
    agent_context: crate::record::AgentContext,
}

/// Stores the who-ran-it columns of session `sess` from its first record `raw`.
pub(crate) fn note_first_record(conn: &Connection, sess: i64, raw: &[u8]) -> rusqlite::Result<()> {
    let f: FirstRecord = serde_json::from_slice(raw).unwrap_or_default();
    let a = f.agent_context;
    conn.prepare_cached(
        "UPDATE sessions SET host = ?2, fleet_type = ?3, role = ?4, instance = ?5, registry_entry = ?6, registry_match = ?7 WHERE sess = ?1",
    )?
    .execute(params![sess, f.metadata.host_name, a.fleet_agent_type, a.agent_role, a.instance_id, a.registry_entry, a.registry_match])?;
    Ok(())
}

/// Stores a SubagentStart record (`raw`) of subagent `agent` in session `sess`.
pub(crate) fn note_subagent_start(
    conn: &Connection,
    seq: i64,
    sess: i64,
    agent: &str,
    raw: &[u8],
) -> rusqlite::Result<()> {
    let s: Start = serde_json::from_slice(raw).unwrap_or_default();
    let a = s.agent_context;
    conn.prepare_cached("INSERT OR REPLACE INTO subagent_starts VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![
        seq,
        sess,
        agent,
        a.agent_type,
        a.parent_agent_id,
        a.parent_tool_use_id
    ])?;
    Ok(())
}

/// Whether a completed call of `tool` is a touch, and whether it writes.
pub(crate) fn touch_kind(event: &str, tool: Option<&str>) -> Option<bool> {
    if event != "PostToolUse" {
        return None;
    }
    let tool = tool?;
    if WRITE_TOOLS.contains(&tool) {
        Some(true)
    } else if READ_TOOLS.contains(&tool) {
        Some(false)
    } else {
        None
    }
}

/// A path with `//`, `.` and `..` (lexically) resolved and no trailing `/`.
pub(crate) fn normalise_path(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Recomputes the per-session summaries (tools, hook timings, subagents) of every session in
/// the temp table `touched` (which the caller empties).
pub(crate) fn summarise_sessions(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM session_tools WHERE sess IN (SELECT sess FROM touched);
         INSERT INTO session_tools SELECT t.sess, t.tool, COUNT(*), SUM(t.failed) FROM (
           SELECT e.sess, e.tool, e.tool_use, MAX(e.event = 'PostToolUseFailure') AS failed
           FROM events e WHERE e.sess IN (SELECT sess FROM touched)
             AND e.event IN ('PreToolUse', 'PostToolUse', 'PostToolUseFailure') AND e.tool_use IS NOT NULL
           GROUP BY e.sess, e.tool_use) t
         GROUP BY t.sess, t.tool;
         DROP TABLE IF EXISTS temp.sub_calls;
         CREATE TEMP TABLE sub_calls AS
           SELECT e.sess, e.agent, COUNT(DISTINCT e.tool_use) AS n FROM events e
           WHERE e.sess IN (SELECT sess FROM touched) AND e.agent IS NOT NULL
             AND e.event IN ('PreToolUse', 'PostToolUse', 'PostToolUseFailure')
           GROUP BY e.sess, e.agent;
         CREATE INDEX temp.sub_calls_key ON sub_calls(sess, agent);
         DELETE FROM session_subagents WHERE sess IN (SELECT sess FROM touched);
         INSERT INTO session_subagents
           SELECT st.sess, st.agent, MIN(st.seq), COUNT(*),
             COALESCE((SELECT c.n FROM sub_calls c WHERE c.sess = st.sess AND c.agent = st.agent), 0)
           FROM subagent_starts st WHERE st.sess IN (SELECT sess FROM touched) GROUP BY st.sess, st.agent;
         DROP TABLE temp.sub_calls;
         DELETE FROM session_hook WHERE sess IN (SELECT sess FROM touched);",
    )?;
    // The hook's timings, per session, as histograms.
    let mut per: HashMap<i64, BTreeMap<u64, u64>> = HashMap::new();
    {
        let mut st = conn.prepare(
            "SELECT e.sess, e.hook_us FROM events e WHERE e.sess IN (SELECT sess FROM touched) AND e.hook_us IS NOT NULL",
        )?;
        let mut q = st.query([])?;
        while let Some(r) = q.next()? {
            let us = r.get::<_, i64>(1)?.max(0) as u64;
            *per.entry(r.get(0)?).or_default().entry(us).or_default() += 1;
        }
    }
    let mut ins = conn.prepare_cached("INSERT INTO session_hook VALUES (?1, ?2)")?;
    for (sess, hist) in per {
        ins.execute(params![sess, encode_hist(&hist)])?;
    }
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Sorted values with counts as varint pairs (value as the step from the previous one, count).
pub(crate) fn encode_hist(h: &BTreeMap<u64, u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(h.len() * 2);
    let mut prev = 0;
    for (&v, &n) in h {
        put_varint(&mut out, v - prev);
        put_varint(&mut out, n);
        prev = v;
    }
    out
}

/// Calls `f(value, count)` for each pair of an encoded histogram.
pub(crate) fn decode_hist(b: &[u8], mut f: impl FnMut(u64, u64)) {
    let mut at = 0;
    let mut prev = 0u64;
    while at < b.len() {
        let (Some(d), Some(n)) = (get_varint(b, &mut at), get_varint(b, &mut at)) else { return };
        prev = prev.wrapping_add(d);
        f(prev, n);
    }
}

/// A touch as the gap computation sees it.
#[derive(Clone, Copy)]
struct T {
    seq: i64,
    time: i64,
    who: i64,
    write: bool,
}

/// The gap of each touch of one path (sorted by time, then seq): the distance to the nearest
/// touch by another `who` where one of the two writes; `None` when there is none.
fn gaps(ts: &[T]) -> Vec<Option<i64>> {
    let mut out = vec![None; ts.len()];
    // The latest two touches (and writes) with different `who`, walking one way.
    fn sweep(ts: &[T], order: &mut dyn Iterator<Item = usize>, out: &mut [Option<i64>]) {
        let mut any: [Option<T>; 2] = [None, None];
        let mut wr: [Option<T>; 2] = [None, None];
        let other = |top: &[Option<T>; 2], who: i64| -> Option<T> {
            match top[0] {
                Some(a) if a.who != who => Some(a),
                _ => top[1],
            }
        };
        let push = |top: &mut [Option<T>; 2], t: T| {
            if top[0].is_some_and(|a| a.who != t.who) {
                top[1] = top[0];
            }
            top[0] = Some(t);
        };
        for i in order {
            let t = ts[i];
            let partner = if t.write { other(&any, t.who) } else { other(&wr, t.who) };
            if let Some(p) = partner {
                let d = (t.time - p.time).abs();
                out[i] = Some(out[i].map_or(d, |g: i64| g.min(d)));
            }
            push(&mut any, t);
            if t.write {
                push(&mut wr, t);
            }
        }
    }
    sweep(ts, &mut (0..ts.len()), &mut out);
    sweep(ts, &mut (0..ts.len()).rev(), &mut out);
    out
}

/// Sets `who` of every touch from its session's agent now, and every gap from scratch.
pub(crate) fn recompute_touches(conn: &Connection) -> rusqlite::Result<()> {
    sync_who(conn, None)?;
    let mut st = conn.prepare("SELECT npath, seq, time, who, write, gap FROM touches ORDER BY npath, time, seq")?;
    let mut q = st.query([])?;
    let mut cur: Option<i64> = None;
    let mut ts: Vec<T> = Vec::new();
    let mut old: Vec<Option<i64>> = Vec::new();
    let mut changes: Vec<(i64, Option<i64>)> = Vec::new();
    let flush = |ts: &mut Vec<T>, old: &mut Vec<Option<i64>>, changes: &mut Vec<(i64, Option<i64>)>| {
        for ((t, g), o) in ts.iter().zip(gaps(ts)).zip(old.iter()) {
            if g != *o {
                changes.push((t.seq, g));
            }
        }
        ts.clear();
        old.clear();
    };
    while let Some(r) = q.next()? {
        let npath: i64 = r.get(0)?;
        if cur != Some(npath) {
            flush(&mut ts, &mut old, &mut changes);
            cur = Some(npath);
        }
        ts.push(T { seq: r.get(1)?, time: r.get(2)?, who: r.get(3)?, write: r.get(4)? });
        old.push(r.get(5)?);
    }
    flush(&mut ts, &mut old, &mut changes);
    drop(q);
    let mut up = conn.prepare_cached("UPDATE touches SET gap = ?2 WHERE seq = ?1")?;
    for (seq, g) in changes {
        up.execute(params![seq, g])?;
    }
    Ok(())
}

/// `who` of the touches of `sessions` (all when `None`) from the sessions' agents now.
fn sync_who(conn: &Connection, sessions: Option<&[i64]>) -> rusqlite::Result<()> {
    conn.execute_batch(
        "INSERT OR IGNORE INTO fleet_ids (agent) SELECT DISTINCT agent FROM sessions WHERE agent IS NOT NULL",
    )?;
    let set = "UPDATE touches SET who = COALESCE((SELECT f.id FROM sessions s JOIN fleet_ids f ON f.agent = s.agent WHERE s.sess = touches.sess), -touches.sess)";
    match sessions {
        None => {
            conn.execute_batch(set)?;
        }
        Some(list) => {
            let mut st = conn.prepare_cached(&format!("{set} WHERE sess = ?1"))?;
            for s in list {
                st.execute([s])?;
            }
        }
    }
    Ok(())
}

/// The number `who` of a session's agent (`None`: the session has no fleet id).
pub(crate) fn fleet_id(conn: &Connection, agent: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT OR IGNORE INTO fleet_ids (agent) VALUES (?1)")?.execute([agent])?;
    conn.prepare_cached("SELECT id FROM fleet_ids WHERE agent = ?1")?.query_row([agent], |r| r.get(0))
}

/// Brings the gaps up to date after `new` touches (seqs) were added and the sessions in
/// `moved` changed agent: the touches of the paths those sessions touched are recomputed
/// whole; each other new touch is placed among its path's touches, lowering the gaps it is
/// nearer to. A scan from a new touch stops once writes of two agents lie between: every touch
/// beyond has a partner nearer than the new one.
pub(crate) fn update_gaps(conn: &Connection, new: &[i64], moved: &[i64]) -> rusqlite::Result<()> {
    let mut redo: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    if !moved.is_empty() {
        sync_who(conn, Some(moved))?;
        let mut st = conn.prepare_cached("SELECT DISTINCT npath FROM touches WHERE sess = ?1")?;
        for s in moved {
            for p in st.query_map([s], |r| r.get::<_, i64>(0))? {
                redo.insert(p?);
            }
        }
    }
    let mut get = conn.prepare_cached("SELECT npath, time, who, write FROM touches WHERE seq = ?1")?;
    let mut back = conn.prepare_cached(
        "SELECT seq, time, who, write, gap FROM touches WHERE npath = ?1 AND (time < ?2 OR (time = ?2 AND seq < ?3)) ORDER BY time DESC, seq DESC",
    )?;
    let mut fwd = conn.prepare_cached(
        "SELECT seq, time, who, write, gap FROM touches WHERE npath = ?1 AND (time > ?2 OR (time = ?2 AND seq > ?3)) ORDER BY time, seq",
    )?;
    let mut up = conn.prepare_cached("UPDATE touches SET gap = ?2 WHERE seq = ?1")?;
    for &seq in new {
        let (npath, time, who, write): (i64, i64, i64, bool) =
            get.query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        if redo.contains(&npath) {
            continue;
        }
        let mut own: Option<i64> = None;
        for st in [&mut back, &mut fwd] {
            let mut writers: Vec<i64> = if write { vec![who] } else { Vec::new() };
            let mut found_own = false;
            let mut q = st.query(params![npath, time, seq])?;
            let mut lower: Vec<(i64, i64)> = Vec::new();
            while let Some(r) = q.next()? {
                if writers.len() >= 2 && found_own {
                    break;
                }
                let (s, t, w, wr, g): (i64, i64, i64, bool, Option<i64>) =
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                let d = (time - t).abs();
                if w != who && (write || wr) {
                    if !found_own {
                        own = Some(own.map_or(d, |o| o.min(d)));
                        found_own = true;
                    }
                    if writers.len() < 2 && g.is_none_or(|g| d < g) {
                        lower.push((s, d));
                    }
                }
                if wr && !writers.contains(&w) {
                    writers.push(w);
                }
            }
            drop(q);
            for (s, d) in lower {
                up.execute(params![s, d])?;
            }
        }
        up.execute(params![seq, own])?;
    }
    if !redo.is_empty() {
        let mut st =
            conn.prepare_cached("SELECT seq, time, who, write, gap FROM touches WHERE npath = ?1 ORDER BY time, seq")?;
        for p in redo {
            let rows: Vec<(T, Option<i64>)> = st
                .query_map([p], |r| {
                    Ok((T { seq: r.get(0)?, time: r.get(1)?, who: r.get(2)?, write: r.get(3)? }, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            let ts: Vec<T> = rows.iter().map(|(t, _)| *t).collect();
            for ((t, old), g) in rows.iter().zip(gaps(&ts)) {
                if g != *old {
                    up.execute(params![t.seq, g])?;
                }
            }
        }
    }
    Ok(())
}

/// Every fleet summary from scratch, from the index's own tables.
pub(crate) fn recompute_all(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS touched (sess INTEGER PRIMARY KEY);
         DELETE FROM touched; INSERT INTO touched SELECT sess FROM sessions;",
    )?;
    summarise_sessions(conn)?;
    conn.execute_batch("DELETE FROM touched;")?;
    recompute_touches(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seq: i64, time: i64, who: i64, write: bool) -> T {
        T { seq, time, who, write }
    }

    #[test]
    fn gaps_are_the_nearest_conflicting_touch() {
        // a reads at 0, b reads at 5 (two reads: no pair), a writes at 20, c reads at 100.
        let ts = [t(1, 0, 1, false), t(2, 5, 2, false), t(3, 20, 1, true), t(4, 100, 3, false)];
        assert_eq!(gaps(&ts), vec![None, Some(15), Some(15), Some(80)]);
        // One agent alone: nothing.
        assert_eq!(gaps(&[t(1, 0, 1, true), t(2, 1, 1, true)]), vec![None, None]);
    }

    #[test]
    fn histograms_round_trip() {
        let h: BTreeMap<u64, u64> = [(3, 2), (400, 1), (70_000, 5), (u64::MAX / 2, 1)].into_iter().collect();
        let mut back = BTreeMap::new();
        decode_hist(&encode_hist(&h), |v, n| {
            back.insert(v, n);
        });
        assert_eq!(back, h);
    }
}
