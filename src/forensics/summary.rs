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
//!   `fleet conflicts --window W` reads the touches with `gap <= W` (`touches_conflict`: an
//!   index holding every column it reads) and links only those.
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

/// The fleet tables (created with the rest of a new index, added to one of schema 6; run on
/// every open: each statement is a no-op when what it makes is there).
pub(crate) const TABLES: &str = "
CREATE TABLE IF NOT EXISTS npaths (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS fleet_ids (id INTEGER PRIMARY KEY, agent TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS touches (
  seq INTEGER PRIMARY KEY, npath INTEGER NOT NULL, time INTEGER NOT NULL, sess INTEGER NOT NULL,
  who INTEGER NOT NULL, write INTEGER NOT NULL, gap INTEGER
);
CREATE INDEX IF NOT EXISTS touches_path ON touches(npath, time, seq);
DROP INDEX IF EXISTS touches_gap;
CREATE INDEX IF NOT EXISTS touches_conflict ON touches(gap, npath, time, who, write, sess) WHERE gap IS NOT NULL;
CREATE INDEX IF NOT EXISTS touches_time ON touches(time) WHERE gap IS NOT NULL;
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
/// the temp table `touched` (which the caller empties): one pass over their events in session
/// order, one session in memory at a time.
pub(crate) fn summarise_sessions(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM session_tools WHERE sess IN (SELECT sess FROM touched);
         DELETE FROM session_hook WHERE sess IN (SELECT sess FROM touched);
         DELETE FROM session_subagents WHERE sess IN (SELECT sess FROM touched);
         INSERT INTO session_subagents
           SELECT st.sess, st.agent, MIN(st.seq), COUNT(*), 0
           FROM subagent_starts st WHERE st.sess IN (SELECT sess FROM touched) GROUP BY st.sess, st.agent;",
    )?;
    let mut st = conn.prepare(
        "SELECT e.sess, e.event, e.tool, e.tool_use, e.agent, e.hook_us FROM events e
         WHERE e.sess IN (SELECT sess FROM touched) ORDER BY e.sess, e.seq",
    )?;
    let mut q = st.query([])?;
    let mut one = SessionPass::default();
    let mut cur: Option<i64> = None;
    while let Some(r) = q.next()? {
        let sess: i64 = r.get(0)?;
        if cur != Some(sess) {
            if let Some(c) = cur {
                one.write(conn, c)?;
            }
            cur = Some(sess);
        }
        let event = r.get_ref(1)?.as_str().unwrap_or("");
        if let Some(us) = r.get::<_, Option<i64>>(5)? {
            *one.hook.entry(us.max(0) as u64).or_default() += 1;
        }
        if !matches!(event, "PreToolUse" | "PostToolUse" | "PostToolUseFailure") {
            continue;
        }
        let failed = event == "PostToolUseFailure";
        let tool_use: Option<String> = r.get(3)?;
        let Some(tool_use) = tool_use else { continue };
        if let Some(agent) = r.get::<_, Option<String>>(4)? {
            one.sub_calls.entry(agent).or_default().insert(tool_use.clone());
        }
        // As `GROUP BY tool_use` with `MAX(failed)` names it: the tool of the first record
        // with the highest `failed`.
        match one.calls.get_mut(&tool_use) {
            Some(c) => {
                if failed && !c.1 {
                    *c = (r.get(2)?, true);
                }
            }
            None => {
                one.calls.insert(tool_use, (r.get(2)?, failed));
            }
        }
    }
    if let Some(c) = cur {
        one.write(conn, c)?;
    }
    Ok(())
}

/// One session's summaries while its events are read.
#[derive(Default)]
struct SessionPass {
    /// tool_use id → (tool, failed).
    calls: HashMap<String, (Option<String>, bool)>,
    hook: BTreeMap<u64, u64>,
    /// subagent → its distinct tool_use ids.
    sub_calls: HashMap<String, std::collections::HashSet<String>>,
}

impl SessionPass {
    fn write(&mut self, conn: &Connection, sess: i64) -> rusqlite::Result<()> {
        let mut tools: BTreeMap<Option<String>, (i64, i64)> = BTreeMap::new();
        for (_, (tool, failed)) in self.calls.drain() {
            let t = tools.entry(tool).or_default();
            t.0 += 1;
            t.1 += i64::from(failed);
        }
        let mut ins = conn.prepare_cached("INSERT INTO session_tools VALUES (?1, ?2, ?3, ?4)")?;
        for (tool, (calls, failures)) in tools {
            ins.execute(params![sess, tool, calls, failures])?;
        }
        if !self.hook.is_empty() {
            conn.prepare_cached("INSERT INTO session_hook VALUES (?1, ?2)")?
                .execute(params![sess, encode_hist(&self.hook)])?;
            self.hook.clear();
        }
        let mut up =
            conn.prepare_cached("UPDATE session_subagents SET tool_calls = ?3 WHERE sess = ?1 AND agent = ?2")?;
        for (agent, ids) in self.sub_calls.drain() {
            up.execute(params![sess, agent, ids.len() as i64])?;
        }
        Ok(())
    }
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
/// beyond has a partner (one of those writes) nearer than the new one.
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
            // Agents with a write between the new touch and the row (the new one not counted).
            let mut writers: Vec<i64> = Vec::new();
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

/// The fleet summaries of an index against a full recomputation and a fresh build, with the
/// index grown in pieces (and upgraded from the previous schema).
#[cfg(test)]
mod incremental {
    use crate::forensics::index::Index;
    use crate::journal::chain;
    use crate::progress::Silent;
    use crate::record::JournalRecord;
    use rusqlite::Connection;
    use std::io::Write;
    use std::path::Path;

    /// Every summary as text, ids replaced by what they name (two builds number things alike
    /// only by chance).
    fn dump(conn: &Connection) -> Vec<String> {
        let queries = [
            "SELECT t.seq, p.text, t.time, t.write, t.gap,
               CASE WHEN t.who > 0 THEN (SELECT agent FROM fleet_ids WHERE id = t.who) ELSE 'session:' || (SELECT sid FROM sessions WHERE sess = -t.who) END,
               s.sid
             FROM touches t JOIN npaths p ON p.id = t.npath JOIN sessions s ON s.sess = t.sess ORDER BY t.seq",
            "SELECT s.sid, t.tool, t.calls, t.failures FROM session_tools t JOIN sessions s ON s.sess = t.sess ORDER BY s.sid, t.tool",
            "SELECT s.sid, h.hist FROM session_hook h JOIN sessions s ON s.sess = h.sess ORDER BY s.sid",
            "SELECT s.sid, x.agent, x.first_seq, x.runs, x.tool_calls FROM session_subagents x JOIN sessions s ON s.sess = x.sess ORDER BY s.sid, x.agent",
            "SELECT x.seq, s.sid, x.agent, x.agent_type, x.parent_agent_id, x.parent_tool_use_id FROM subagent_starts x JOIN sessions s ON s.sess = x.sess ORDER BY x.seq",
            "SELECT sid, agent, host, fleet_type, role, instance, registry_entry, registry_match FROM sessions ORDER BY sid",
        ];
        let mut out = Vec::new();
        for q in queries {
            let mut st = conn.prepare(q).unwrap();
            let n = st.column_count();
            let mut rows = st.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                let cols: Vec<String> =
                    (0..n).map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap())).collect();
                out.push(cols.join(" | "));
            }
        }
        out
    }

    /// The first rows where two dumps differ (empty: equal).
    fn differ(a: &[String], b: &[String]) -> Vec<String> {
        let mut out: Vec<String> =
            a.iter().zip(b).filter(|(x, y)| x != y).take(3).map(|(x, y)| format!("{x}\n  vs {y}")).collect();
        if a.len() != b.len() {
            out.push(format!("{} rows vs {}", a.len(), b.len()));
        }
        out
    }

    /// Hand-made records: a session that gets its fleet id only after touching a file, two
    /// agents touching that file, a session with no fleet id, a record that takes an indexed
    /// seq again.
    fn extra(start_seq: u64, t0: u64) -> Vec<(u64, JournalRecord)> {
        let mut out = Vec::new();
        let rec =
            |seq: u64, sid: &str, agent: Option<&str>, event: &str, tool: Option<&str>, path: Option<&str>, t: u64| {
                let mut r = JournalRecord { seq, time_unix_nano: t0 + t * 1_000_000_000, ..Default::default() };
                r.session_id = Some(sid.into());
                r.hook_event = event.into();
                r.project_path = Some("/x".into());
                r.agent_context.fleet_agent_id = agent.map(Into::into);
                r.tool_name = tool.map(Into::into);
                r.action_details.file_path = path.map(Into::into);
                if tool.is_some() {
                    r.tool_context = Some(crate::record::ToolContext {
                        tool_use_id: Some(format!("toolu_{seq}")),
                        ..Default::default()
                    });
                }
                r.metadata.hook_us = Some(100 + seq % 7);
                r
            };
        let mut s = start_seq;
        let mut push = |r: JournalRecord| {
            out.push((r.seq, r));
        };
        for (sid, agent, event, tool, path, t) in [
            ("late-1", None, "PostToolUse", Some("Edit"), Some("/x/./src//a.rs"), 0),
            ("late-1", None, "PostToolUse", Some("Read"), Some("/x/src/b.rs"), 5),
            ("other-1", Some("reviewer"), "PostToolUse", Some("Read"), Some("/x/src/a.rs"), 30),
            ("late-1", Some("builder-1"), "SessionStart", None, None, 40),
            ("anon-1", None, "PostToolUse", Some("Write"), Some("/x/src/b.rs"), 50),
            ("other-1", Some("reviewer"), "PostToolUse", Some("Write"), Some("/x/src/a.rs"), 20),
        ] {
            s += 1;
            push(rec(s, sid, agent, event, tool, path, t));
        }
        out
    }

    fn write_lines(dir: &Path, name: &str, lines: &[Vec<u8>]) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).unwrap();
        for l in lines {
            f.write_all(l).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }

    #[test]
    fn incremental_summaries_equal_a_full_recomputation_and_a_fresh_build() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let t0 = 1_796_000_000_000_000_000u64;
        let sum = crate::forensics::synth::generate(&src, 4_000, t0, 5).unwrap();
        // The generated segments' lines, then the hand-made ones (the last takes an indexed seq).
        let mut lines: Vec<(String, Vec<u8>)> = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for n in &names {
            let text = std::fs::read(src.join(n)).unwrap();
            for l in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                lines.push((n.to_string_lossy().into_owned(), l.to_vec()));
            }
        }
        let seg = lines.last().unwrap().0.clone();
        for (_, r) in extra(sum.records + 10, t0 + 3_600_000_000_000) {
            lines.push((seg.clone(), chain::encode(&r).unwrap().0));
        }
        let mut dup = JournalRecord { seq: sum.records / 2, time_unix_nano: t0 + 7, ..Default::default() };
        dup.session_id = Some("late-1".into());
        dup.hook_event = "PostToolUse".into();
        dup.tool_name = Some("Write".into());
        dup.action_details.file_path = Some("/x/src/a.rs".into());
        lines.push((seg.clone(), chain::encode(&dup).unwrap().0));

        let journal = tmp.path().join("journal");
        std::fs::create_dir_all(&journal).unwrap();
        let idx = tmp.path().join("index");
        let n = lines.len();
        let mut at = 0;
        // Grows the journal to `cut` lines and the index with it; the summaries after, checked
        // against a recomputation over the same index.
        let mut grow = |cut: usize| -> Vec<String> {
            let mut by_seg: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
            for (s, l) in &lines[at..cut] {
                match by_seg.last_mut() {
                    Some((name, v)) if name == s => v.push(l.clone()),
                    _ => by_seg.push((s.clone(), vec![l.clone()])),
                }
            }
            for (s, v) in by_seg {
                write_lines(&journal, &s, &v);
            }
            let first = at == 0;
            at = cut;
            let index = Index::open_with(&journal, &idx, &Silent).unwrap();
            assert!(first || index.refresh.rebuilt.is_none(), "grown, not rebuilt: {:?}", index.refresh.rebuilt);
            let got = dump(&index.conn);
            let tx = index.conn.unchecked_transaction().unwrap();
            super::recompute_all(&tx).unwrap();
            assert_eq!(differ(&got, &dump(&tx)), Vec::<String>::new(), "after {cut} lines: kept vs recomputed");
            tx.rollback().unwrap();
            got
        };
        let mut grown = Vec::new();
        for cut in [1, 40, 900, 2_500, n - 4, n - 3, n - 1] {
            grown = grow(cut);
        }
        assert!(
            grown.iter().any(|r| r.contains("\"builder-1\"") && r.contains("/x/src/a.rs")),
            "the late fleet id moved the touch"
        );
        let fresh_build = |name: &str| -> Vec<String> {
            let fresh = Index::open_with(&journal, &tmp.path().join(name), &Silent).unwrap();
            assert!(fresh.refresh.rebuilt.is_some());
            dump(&fresh.conn)
        };
        assert_eq!(differ(&grown, &fresh_build("fresh")), Vec::<String>::new(), "grown vs a fresh build");

        // An index of the previous schema (without the fleet tables and columns) upgrades itself.
        let conn = Connection::open(idx.join("forensics.sqlite")).unwrap();
        for t in
            ["npaths", "fleet_ids", "touches", "session_tools", "session_hook", "subagent_starts", "session_subagents"]
        {
            conn.execute_batch(&format!("DROP TABLE {t}")).unwrap();
        }
        for c in super::SESSION_COLUMNS {
            conn.execute_batch(&format!("ALTER TABLE sessions DROP COLUMN {c}")).unwrap();
        }
        conn.execute_batch("UPDATE meta SET value = '6' WHERE key = 'schema'").unwrap();
        drop(conn);
        let up = Index::open_with(&journal, &idx, &Silent).unwrap();
        assert!(up.refresh.upgraded && up.refresh.rebuilt.is_none(), "{:?}", up.refresh);
        assert_eq!(differ(&grown, &dump(&up.conn)), Vec::<String>::new(), "grown vs upgraded");
        drop(up);

        // A record taking an indexed seq: everything recomputed, as a fresh build has it.
        let last = grow(n);
        assert_ne!(last, grown);
        assert_eq!(differ(&last, &fresh_build("fresh2")), Vec::<String>::new(), "after a seq taken again");
    }
}
