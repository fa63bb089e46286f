//! The forensics index: a SQLite file beside the journal (`<data dir>/index/forensics.sqlite`)
//! that answers `sessions`, `search`, `export`, `timeline` and `tree` without reading the whole
//! journal. It is a cache, never evidence: the journal stays the source of truth, every record
//! the index names is read back from its segment (by name and offset, so a data dir copied to
//! another machine works), and the hook never touches it.
//!
//! Kept current by [`Index::open_with`]: it reads the journal from where the index stopped. It is
//! rebuilt from scratch when missing, of another schema version, or stale — the record it ended
//! on is no longer at its place with its hash (the journal was replaced, rotated away, or
//! rewritten); a rebuild is always correct, so any doubt ends in one.

use super::summary;
use crate::journal::chain;
use crate::journal::read::{Lines, Position};
use crate::journal::segment;
use crate::progress::Progress;
use crate::record::Severity;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Bump when the tables change: an index of another version is rebuilt.
const SCHEMA_VERSION: &str = "7";
/// The schema before the fleet summaries: upgraded in place (the summaries computed from its
/// tables and the records they name), not rebuilt.
const PREVIOUS_VERSION: &str = "6";
/// Records per transaction while indexing.
const BATCH: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub(crate) enum IndexError {
    #[error("index {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("reading the journal {path}: {source}")]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the index directory {path}: {source} (use --index DIR to keep the index elsewhere, e.g. for a read-only copy of a data dir)")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The opened, current index.
pub(crate) struct Index {
    pub conn: Connection,
    pub path: PathBuf,
    pub journal_dir: PathBuf,
    /// What [`Index::open_with`] did to bring it up to date.
    pub refresh: Refresh,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Refresh {
    pub rebuilt: Option<String>,
    /// An index of the previous schema was upgraded in place.
    pub upgraded: bool,
    pub records_added: u64,
}

/// The fields of a journal line the index keeps (the rest is skipped while parsing).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Line {
    seq: u64,
    time_unix_nano: u64,
    hook_event: String,
    session_id: Option<String>,
    project_path: Option<String>,
    project_name: Option<String>,
    tool_name: Option<String>,
    action_details: Details,
    security: Sec,
    agent_context: Agent,
    session_context: SessCtx,
    tool_context: Option<ToolCtx>,
    token_usage: Option<crate::record::TokenUsage>,
    model_call: Option<Call>,
    metadata: Meta,
    hash: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    hook_us: Option<u64>,
}

/// A `model_call` record's request (written by the relay from the transcript).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Call {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
    cost_usd: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Details {
    file_path: Option<String>,
    resolved_path: Option<String>,
    search_path: Option<String>,
    url: Option<String>,
    outside_project_scope: bool,
    outside_paths: Vec<String>,
    command: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Sec {
    outside_project_scope: bool,
    findings: Vec<Finding>,
}

#[derive(Deserialize)]
struct Finding {
    rule: String,
    #[serde(default)]
    category: String,
    severity: Severity,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Agent {
    agent_id: Option<String>,
    fleet_agent_id: Option<String>,
    agent_group: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SessCtx {
    parent_session: Option<String>,
    prompt_id: Option<String>,
    worktree: Option<String>,
    workflow_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ToolCtx {
    tool_use_id: Option<String>,
    duration_ms: Option<u64>,
    success: Option<bool>,
}

pub(crate) fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

pub(crate) fn severity_name(rank: i64) -> &'static str {
    match rank {
        1 => "low",
        2 => "medium",
        3 => "high",
        _ => "critical",
    }
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE segments (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE rules (id INTEGER PRIMARY KEY, rule TEXT NOT NULL UNIQUE, category TEXT, description TEXT);
-- Paths and commands once each: a --path glob or --command regex runs once per distinct text,
-- not once per record (a call's Pre and Post records, and repeated commands, share one row).
CREATE TABLE paths (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE commands (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
-- One row per journal record. Text that repeats on every row (session ids, segment names, rule
-- ids) is a number here; the journal line itself is at (seg, off, len).
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  seg INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL,
  time INTEGER NOT NULL,
  sess INTEGER,
  agent TEXT,
  event TEXT NOT NULL,
  tool TEXT,
  tool_use TEXT,
  prompt TEXT,
  path INTEGER,
  outside_paths TEXT,
  command INTEGER,
  outside INTEGER NOT NULL,
  risk INTEGER,
  success INTEGER,
  duration_ms INTEGER,
  in_tok INTEGER, out_tok INTEGER, cache_read INTEGER, cache_create INTEGER,
  cost REAL,
  -- The hook's own time on the event, µs (metadata.hook_us): absent on records the relay wrote and on older ones.
  hook_us INTEGER
);
CREATE TABLE findings (seq INTEGER NOT NULL, sess INTEGER, rule INTEGER NOT NULL, severity INTEGER NOT NULL);
-- One row per session: who and where from its records, the counts from its events.
CREATE TABLE sessions (
  sess INTEGER PRIMARY KEY,
  sid TEXT NOT NULL UNIQUE,
  project TEXT, project_name TEXT, agent TEXT, agent_group TEXT, parent_sid TEXT, worktree TEXT, workflow TEXT,
  start INTEGER, last INTEGER, end_time INTEGER, ended INTEGER NOT NULL DEFAULT 0,
  records INTEGER NOT NULL DEFAULT 0, turns INTEGER NOT NULL DEFAULT 0, tools INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0, subagents INTEGER NOT NULL DEFAULT 0,
  f_low INTEGER NOT NULL DEFAULT 0, f_medium INTEGER NOT NULL DEFAULT 0, f_high INTEGER NOT NULL DEFAULT 0, f_critical INTEGER NOT NULL DEFAULT 0,
  in_tok INTEGER, out_tok INTEGER, cache_read INTEGER, cache_create INTEGER,
  model_calls INTEGER NOT NULL DEFAULT 0, cost REAL, unpriced_calls INTEGER NOT NULL DEFAULT 0,
  first_seq INTEGER, last_seq INTEGER,
  -- Who ran it, from its first record (fleet summaries: `fleet agents`).
  host TEXT, fleet_type TEXT, role TEXT, instance TEXT, registry_entry TEXT, registry_match TEXT
);
CREATE TEMP TABLE touched (sess INTEGER PRIMARY KEY);
";

/// Secondary indexes, created after a full build (faster than maintaining them row by row).
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS events_sess ON events(sess, seq);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_tool ON events(tool, time);
CREATE INDEX IF NOT EXISTS events_outside ON events(time) WHERE outside = 1;
CREATE INDEX IF NOT EXISTS events_path ON events(path) WHERE path IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_command ON events(command) WHERE command IS NOT NULL;
CREATE INDEX IF NOT EXISTS findings_rule ON findings(rule, seq);
CREATE INDEX IF NOT EXISTS findings_seq ON findings(seq);
CREATE INDEX IF NOT EXISTS findings_sess ON findings(sess, severity);
CREATE INDEX IF NOT EXISTS sessions_start ON sessions(start);
CREATE INDEX IF NOT EXISTS sessions_parent ON sessions(parent_sid);
CREATE INDEX IF NOT EXISTS sessions_workflow ON sessions(workflow) WHERE workflow IS NOT NULL;
";

fn sql<T>(path: &Path, r: rusqlite::Result<T>) -> Result<T, IndexError> {
    r.map_err(|source| IndexError::Sql { path: path.to_path_buf(), source })
}

impl Index {
    /// Opens the index for `journal_dir` at `index_dir`, brought up to date with the journal
    /// (built from scratch when missing or stale), reporting the journal bytes indexed (and the
    /// steps after them) to `progress`: a first build over a large journal takes minutes.
    pub(crate) fn open_with(
        journal_dir: &Path,
        index_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<Index, IndexError> {
        std::fs::create_dir_all(index_dir)
            .map_err(|source| IndexError::Create { path: index_dir.to_path_buf(), source })?;
        let path = index_dir.join("forensics.sqlite");
        let mut refresh = Refresh::default();
        let mut conn = sql(&path, Connection::open(&path))?;
        sql(&path, conn.busy_timeout(std::time::Duration::from_secs(60)))?;
        sql(&path, conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA mmap_size=4294967296; PRAGMA temp_store=MEMORY;"))?;
        let mut why = Self::why_stale(&conn, journal_dir);
        if why.is_none() && schema_of(&conn).as_deref() == Some(PREVIOUS_VERSION) {
            // An index of the previous schema: add the fleet summaries (a failure, e.g. a
            // record it names no longer readable, ends in a rebuild).
            progress.phase("upgrading the index");
            match upgrade(&mut conn, journal_dir) {
                Ok(()) => refresh.upgraded = true,
                Err(e) => why = Some(format!("upgrading the index from schema {PREVIOUS_VERSION} failed: {e}")),
            }
        }
        let fresh = match why {
            None => false,
            Some(why) => {
                drop(conn);
                for suffix in ["", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", path.display()));
                    let _ = std::fs::remove_file(p);
                }
                conn = sql(&path, Connection::open(&path))?;
                sql(&path, conn.busy_timeout(std::time::Duration::from_secs(60)))?;
                sql(&path, conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536; PRAGMA mmap_size=4294967296; PRAGMA temp_store=MEMORY;"))?;
                sql(&path, conn.execute_batch(SCHEMA))?;
                sql(&path, conn.execute_batch(summary::TABLES))?;
                sql(&path, conn.execute("INSERT INTO meta VALUES ('schema', ?1)", [SCHEMA_VERSION]))?;
                refresh.rebuilt = Some(why);
                true
            }
        };
        if !fresh {
            sql(&path, conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS touched (sess INTEGER PRIMARY KEY);"))?;
            sql(&path, conn.execute_batch(summary::TABLES))?;
        }
        let mut index = Index { conn, path, journal_dir: journal_dir.to_path_buf(), refresh };
        index.catch_up(fresh, progress)?;
        if fresh {
            progress.phase("creating indexes");
            sql(&index.path, index.conn.execute_batch(INDEXES))?;
            // A sampled ANALYZE: a full one reads every index again.
            sql(
                &index.path,
                index.conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA analysis_limit=1000; ANALYZE;"),
            )?;
        }
        Ok(index)
    }

    /// Why the index must be rebuilt, or `None` when it can be extended.
    fn why_stale(conn: &Connection, journal_dir: &Path) -> Option<String> {
        let meta = |k: &str| {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get::<_, String>(0))
                .optional()
                .ok()
                .flatten()
        };
        match meta("schema") {
            None => return Some("no index yet".into()),
            Some(v) if v != SCHEMA_VERSION && v != PREVIOUS_VERSION => {
                return Some(format!("index schema {v}, this version writes {SCHEMA_VERSION}"))
            }
            _ => {}
        }
        // The last indexed record must still be at its place, with its hash.
        let last = conn
            .query_row(
                "SELECT s.name, e.off, e.len FROM events e JOIN segments s ON s.id = e.seg ORDER BY e.seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
            )
            .optional()
            .ok()?;
        let Some((seg, off, len)) = last else {
            // Empty index: stale only if it was built over something else.
            return meta("position").filter(|p| !p.is_empty()).map(|_| "the index lost its records".into());
        };
        let Some(want) = meta("last_hash") else { return Some("the index has no head".into()) };
        match read_line(journal_dir, &seg, off, len) {
            Ok(line) if chain::split_line(&line).is_ok_and(|(_, h)| h == want) => None,
            Ok(_) => Some(format!(
                "the record at {seg}:{off} is not the one indexed (the journal was replaced or rewritten)"
            )),
            Err(_) => Some(format!("segment {seg} is gone or shorter than indexed")),
        }
    }

    /// Indexes every record after the last one indexed.
    fn catch_up(&mut self, fresh: bool, progress: &dyn Progress) -> Result<(), IndexError> {
        let path = self.path.clone();
        let jdir = self.journal_dir.clone();
        let position: Option<Position> = sql(
            &path,
            self.conn
                .query_row("SELECT value FROM meta WHERE key = 'position'", [], |r| r.get::<_, String>(0))
                .optional(),
        )?
        .and_then(|p| serde_json::from_str(&p).ok());
        // Cheap check first: nothing new since the position.
        if let Some(p) = &position {
            let segs = segment::list(&jdir).map_err(|source| IndexError::Journal { path: jdir.clone(), source })?;
            let last = segs.last().map(|(n, p)| (n.file_name(), std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
            if last.is_some_and(|(name, len)| name == p.segment && len == p.offset) {
                return Ok(());
            }
        }
        let mut ids = Ids::load(&self.conn, &path)?;
        let mut lines = Lines::new(&jdir, position.as_ref())
            .map_err(|source| IndexError::Journal { path: jdir.clone(), source })?;
        if progress.enabled() {
            progress.total(bytes_after(&jdir, position.as_ref()));
        }
        let mut bytes = 0u64;
        let mut disorder = false;
        loop {
            let batch =
                next_batch(&mut lines, BATCH).map_err(|source| IndexError::Journal { path: jdir.clone(), source })?;
            if batch.is_empty() {
                break;
            }
            let tx = sql(&path, self.conn.transaction())?;
            {
                let mut ins = sql(&path, tx.prepare_cached("INSERT OR REPLACE INTO events VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)"))?;
                let mut fins = sql(&path, tx.prepare_cached("INSERT INTO findings VALUES (?1,?2,?3,?4)"))?;
                let mut touched = HashSet::new();
                let mut new_touches: Vec<i64> = Vec::new();
                let mut last_hash = None;
                for (segment, off, raw) in &batch {
                    let Ok(l) = serde_json::from_slice::<Line>(raw) else { continue };
                    let seg = ids.segment(&tx, &path, segment)?;
                    let sess = match &l.session_id {
                        Some(s) => Some(ids.session(&tx, &path, s)?),
                        None => None,
                    };
                    if ids.max_seq.is_some_and(|m| l.seq as i64 <= m) {
                        // A record in place of an indexed one's seq: the summaries are redone.
                        disorder = true;
                    }
                    ids.max_seq = Some(ids.max_seq.map_or(l.seq as i64, |m| m.max(l.seq as i64)));
                    if let Some(s) = sess {
                        let first = ids.created.remove(&s);
                        if first {
                            sql(&path, summary::note_first_record(&tx, s, raw))?;
                        }
                        if ids.info_seen.insert(s) || l.hook_event == "SessionStart" {
                            ids.note_info(&tx, &path, s, &l)?;
                            ids.note_agent(s, l.agent_context.fleet_agent_id.as_deref(), first);
                        }
                        touched.insert(s);
                        if l.hook_event == "SubagentStart" {
                            if let Some(a) = &l.agent_context.agent_id {
                                sql(&path, summary::note_subagent_start(&tx, l.seq as i64, s, a, raw))?;
                            }
                        }
                    }
                    let d = &l.action_details;
                    let ptext =
                        d.resolved_path.as_ref().or(d.file_path.as_ref()).or(d.search_path.as_ref()).or(d.url.as_ref());
                    let p = match ptext {
                        Some(p) => Some(ids.text(&tx, &path, Dict::Path, p)?),
                        None => None,
                    };
                    if let (Some(s), Some(write), Some(pt)) =
                        (sess, summary::touch_kind(&l.hook_event, l.tool_name.as_deref()), ptext)
                    {
                        let np = ids.npath(&tx, &path, pt)?;
                        let who = ids.who(&tx, &path, s)?;
                        sql(
                            &path,
                            tx.prepare_cached("INSERT OR REPLACE INTO touches VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)")
                                .and_then(|mut st| {
                                    st.execute(params![l.seq as i64, np, l.time_unix_nano as i64, s, who, write])
                                }),
                        )?;
                        new_touches.push(l.seq as i64);
                    }
                    let command = match &d.command {
                        Some(c) => Some(ids.text(&tx, &path, Dict::Command, c)?),
                        None => None,
                    };
                    let outside = d.outside_project_scope || l.security.outside_project_scope;
                    let risk = l.security.findings.iter().map(|f| severity_rank(f.severity)).max();
                    let tc = l.tool_context.as_ref();
                    // A model call's tokens are its own (exact, every request once); a Stop's or
                    // SubagentStop's are the hook's reading of the transcript.
                    let tu = match &l.model_call {
                        Some(c) => Some(crate::record::TokenUsage {
                            input_tokens: c.input_tokens,
                            output_tokens: c.output_tokens,
                            cache_read_input_tokens: c.cache_read_input_tokens,
                            cache_creation_input_tokens: c.cache_creation_input_tokens,
                            ..Default::default()
                        }),
                        None => l.token_usage.clone(),
                    };
                    let tu = tu.as_ref();
                    let outside_paths = (!d.outside_paths.is_empty()).then(|| d.outside_paths.join("\n"));
                    sql(
                        &path,
                        ins.execute(params![
                            l.seq as i64,
                            seg,
                            *off as i64,
                            raw.len() as i64,
                            l.time_unix_nano as i64,
                            sess,
                            l.agent_context.agent_id,
                            l.hook_event,
                            l.tool_name,
                            tc.and_then(|t| t.tool_use_id.as_ref()),
                            l.session_context.prompt_id,
                            p,
                            outside_paths,
                            command,
                            outside,
                            risk,
                            tc.and_then(|t| t.success),
                            tc.and_then(|t| t.duration_ms).map(|v| v as i64),
                            tu.map(|u| u.input_tokens as i64),
                            tu.map(|u| u.output_tokens as i64),
                            tu.map(|u| u.cache_read_input_tokens as i64),
                            tu.map(|u| u.cache_creation_input_tokens as i64),
                            l.model_call.as_ref().and_then(|c| c.cost_usd),
                            l.metadata.hook_us.map(|v| v as i64),
                        ]),
                    )?;
                    for f in &l.security.findings {
                        let rule = ids.rule(&tx, &path, f)?;
                        sql(&path, fins.execute(params![l.seq as i64, sess, rule, severity_rank(f.severity)]))?;
                    }
                    last_hash = Some(l.hash);
                }
                let mut touch = sql(&path, tx.prepare_cached("INSERT OR IGNORE INTO touched VALUES (?1)"))?;
                for s in touched {
                    sql(&path, touch.execute([s]))?;
                }
                if let Some(h) = last_hash {
                    sql(&path, tx.execute("INSERT OR REPLACE INTO meta VALUES ('last_hash', ?1)", [h]))?;
                }
                let p = serde_json::to_string(lines.position()).unwrap_or_default();
                sql(&path, tx.execute("INSERT OR REPLACE INTO meta VALUES ('position', ?1)", [p]))?;
                if !fresh && !disorder {
                    summarise_touched(&tx, &path)?;
                    let moved: Vec<i64> = ids.moved.drain().collect();
                    sql(&path, summary::update_gaps(&tx, &new_touches, &moved))?;
                }
            }
            sql(&path, tx.commit())?;
            self.refresh.records_added += batch.len() as u64;
            bytes += batch.iter().map(|(_, _, raw)| raw.len() as u64 + 1).sum::<u64>();
            progress.done(bytes);
        }
        if fresh {
            progress.phase("summarising sessions");
            // One pass over every session once the events (and their index) are in.
            sql(&path, self.conn.execute_batch("CREATE INDEX IF NOT EXISTS events_sess ON events(sess, seq); CREATE INDEX IF NOT EXISTS findings_sess ON findings(sess, severity);"))?;
            let tx = sql(&path, self.conn.transaction())?;
            summarise_touched(&tx, &path)?;
            progress.phase("summarising file touches");
            sql(&path, summary::recompute_touches(&tx))?;
            sql(&path, tx.commit())?;
        } else if disorder {
            // Some record took an indexed one's seq: every session and summary again.
            let tx = sql(&path, self.conn.transaction())?;
            sql(&path, tx.execute_batch("DELETE FROM touched; INSERT INTO touched SELECT sess FROM sessions;"))?;
            summarise_touched(&tx, &path)?;
            sql(&path, summary::recompute_touches(&tx))?;
            sql(&path, tx.commit())?;
        }
        Ok(())
    }
}

/// The schema version an index says it has.
fn schema_of(conn: &Connection) -> Option<String> {
    conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| r.get::<_, String>(0))
        .optional()
        .ok()
        .flatten()
}

/// Upgrades an index of the previous schema in one transaction: the fleet tables and columns
/// added, filled from the index's own tables and from the records they name (each session's
/// first record, each SubagentStart), read back from the journal.
fn upgrade(conn: &mut Connection, journal_dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let tx = conn.transaction()?;
    for c in summary::SESSION_COLUMNS {
        tx.execute_batch(&format!("ALTER TABLE sessions ADD COLUMN {c} TEXT"))?;
    }
    tx.execute_batch(summary::TABLES)?;
    tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS touched (sess INTEGER PRIMARY KEY);")?;
    {
        let mut st = tx.prepare(
            "SELECT s.sess, g.name, e.off, e.len FROM sessions s JOIN events e ON e.seq = s.first_seq JOIN segments g ON g.id = e.seg",
        )?;
        let rows: Vec<(i64, String, i64, i64)> =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
        for (sess, seg, off, len) in rows {
            summary::note_first_record(&tx, sess, &read_line(journal_dir, &seg, off as u64, len as u64)?)?;
        }
        let mut st = tx.prepare(
            "SELECT e.seq, e.sess, e.agent, g.name, e.off, e.len FROM events e JOIN segments g ON g.id = e.seg
             WHERE e.event = 'SubagentStart' AND e.agent IS NOT NULL AND e.sess IS NOT NULL",
        )?;
        let rows: Vec<(i64, i64, String, String, i64, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
            .collect::<Result<_, _>>()?;
        for (seq, sess, agent, seg, off, len) in rows {
            let line = read_line(journal_dir, &seg, off as u64, len as u64)?;
            summary::note_subagent_start(&tx, seq, sess, &agent, &line)?;
        }
        let tools: Vec<String> =
            summary::READ_TOOLS.iter().chain(summary::WRITE_TOOLS).map(|t| format!("'{t}'")).collect();
        let mut st = tx.prepare(&format!(
            "SELECT e.seq, e.sess, e.time, e.tool, p.text FROM events e JOIN paths p ON p.id = e.path
             WHERE e.event = 'PostToolUse' AND e.sess IS NOT NULL AND e.tool IN ({})",
            tools.join(", ")
        ))?;
        let mut q = st.query([])?;
        let mut npaths: HashMap<String, i64> = HashMap::new();
        let mut ins = tx.prepare("INSERT INTO touches VALUES (?1, ?2, ?3, ?4, 0, ?5, NULL)")?;
        while let Some(r) = q.next()? {
            let tool: String = r.get(3)?;
            let np = summary::normalise_path(&r.get::<_, String>(4)?);
            let id = match npaths.get(&np) {
                Some(id) => *id,
                None => {
                    tx.execute("INSERT INTO npaths (text) VALUES (?1)", [&np])?;
                    let id = tx.last_insert_rowid();
                    npaths.insert(np, id);
                    id
                }
            };
            let write = summary::touch_kind("PostToolUse", Some(&tool)) == Some(true);
            ins.execute(params![r.get::<_, i64>(0)?, id, r.get::<_, i64>(2)?, r.get::<_, i64>(1)?, write])?;
        }
    }
    summary::recompute_all(&tx)?;
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'schema'", [SCHEMA_VERSION])?;
    tx.commit()?;
    // The new tables' statistics, sampled (as after a build).
    conn.execute_batch("PRAGMA analysis_limit=1000; ANALYZE;")?;
    Ok(())
}

/// The journal's bytes after `from` (all of them without it): the size of a catch-up.
fn bytes_after(journal_dir: &Path, from: Option<&Position>) -> u64 {
    let Ok(segments) = segment::list(journal_dir) else { return 0 };
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let start = from.and_then(|f| segments.iter().position(|(n, _)| n.file_name() == f.segment));
    match (from, start) {
        (Some(f), Some(i)) => segments[i..].iter().map(|(_, p)| len(p)).sum::<u64>().saturating_sub(f.offset),
        _ => segments.iter().map(|(_, p)| len(p)).sum(),
    }
}

/// Up to `max` complete journal lines, each with its segment's name and offset, through the
/// journal's reader.
fn next_batch(lines: &mut Lines, max: usize) -> std::io::Result<Vec<(String, u64, Vec<u8>)>> {
    let mut out = Vec::with_capacity(max.min(4096));
    let mut line = Vec::new();
    while out.len() < max {
        let Some(off) = lines.next_into(&mut line)? else { break };
        out.push((lines.position().segment.clone(), off, std::mem::take(&mut line)));
    }
    Ok(out)
}

/// Opens a segment named by the index: a segment name, a regular file, never through a link.
pub(crate) fn open_segment(journal_dir: &Path, seg: &str) -> std::io::Result<std::fs::File> {
    segment::open(journal_dir, seg)
}

/// Reads `len` bytes at `off` of a segment (a regular file of the journal directory, never a link).
pub(crate) fn read_line(journal_dir: &Path, seg: &str, off: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let f = open_segment(journal_dir, seg)?;
    let mut buf = vec![0u8; len as usize + 1];
    f.read_exact_at(&mut buf, off)?;
    if buf.pop() != Some(b'\n') {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a whole line"));
    }
    Ok(buf)
}

/// Recomputes the summary row of every session in `touched`, then empties it.
fn summarise_touched(tx: &rusqlite::Transaction, path: &Path) -> Result<(), IndexError> {
    sql(
        path,
        tx.execute_batch(
            "UPDATE sessions SET (start, last, records, first_seq, last_seq, turns, tools, errors, subagents, in_tok, out_tok, cache_read, cache_create, model_calls, cost, unpriced_calls) = (
               SELECT MIN(time), MAX(time), COUNT(*), MIN(seq), MAX(seq),
                 SUM(event = 'UserPromptSubmit' AND agent IS NULL),
                 COUNT(DISTINCT CASE WHEN event IN ('PreToolUse', 'PostToolUse', 'PostToolUseFailure') THEN tool_use END),
                 SUM(event IN ('PostToolUseFailure', 'StopFailure')),
                 COUNT(DISTINCT CASE WHEN event IN ('SubagentStart', 'SubagentStop') THEN agent END),
                 -- Tokens: the model calls' own when the relay journaled them (every request once,
                 -- subagents included); else the main agent's from the last SessionEnd (it reads the
                 -- whole transcript), or the sum of its turns (Stop misses each turn's last message),
                 -- plus subagents'.
                 CASE WHEN SUM(event = 'ModelCall') > 0 THEN SUM(CASE WHEN event = 'ModelCall' THEN in_tok END) ELSE COALESCE((SELECT x.in_tok FROM events x WHERE x.sess = e.sess AND x.event = 'SessionEnd' AND x.in_tok IS NOT NULL ORDER BY x.seq DESC LIMIT 1), SUM(CASE WHEN event IN ('Stop', 'StopFailure') AND agent IS NULL THEN in_tok END)) + COALESCE(SUM(CASE WHEN event = 'SubagentStop' THEN in_tok END), 0) END,
                 CASE WHEN SUM(event = 'ModelCall') > 0 THEN SUM(CASE WHEN event = 'ModelCall' THEN out_tok END) ELSE COALESCE((SELECT x.out_tok FROM events x WHERE x.sess = e.sess AND x.event = 'SessionEnd' AND x.out_tok IS NOT NULL ORDER BY x.seq DESC LIMIT 1), SUM(CASE WHEN event IN ('Stop', 'StopFailure') AND agent IS NULL THEN out_tok END)) + COALESCE(SUM(CASE WHEN event = 'SubagentStop' THEN out_tok END), 0) END,
                 CASE WHEN SUM(event = 'ModelCall') > 0 THEN SUM(CASE WHEN event = 'ModelCall' THEN cache_read END) ELSE COALESCE((SELECT x.cache_read FROM events x WHERE x.sess = e.sess AND x.event = 'SessionEnd' AND x.cache_read IS NOT NULL ORDER BY x.seq DESC LIMIT 1), SUM(CASE WHEN event IN ('Stop', 'StopFailure') AND agent IS NULL THEN cache_read END)) + COALESCE(SUM(CASE WHEN event = 'SubagentStop' THEN cache_read END), 0) END,
                 CASE WHEN SUM(event = 'ModelCall') > 0 THEN SUM(CASE WHEN event = 'ModelCall' THEN cache_create END) ELSE COALESCE((SELECT x.cache_create FROM events x WHERE x.sess = e.sess AND x.event = 'SessionEnd' AND x.cache_create IS NOT NULL ORDER BY x.seq DESC LIMIT 1), SUM(CASE WHEN event IN ('Stop', 'StopFailure') AND agent IS NULL THEN cache_create END)) + COALESCE(SUM(CASE WHEN event = 'SubagentStop' THEN cache_create END), 0) END,
                 SUM(event = 'ModelCall'), SUM(CASE WHEN event = 'ModelCall' THEN cost END), SUM(event = 'ModelCall' AND cost IS NULL)
               FROM events e WHERE e.sess = sessions.sess)
             WHERE sess IN (SELECT sess FROM touched);
             UPDATE sessions SET
               ended = (SELECT event = 'SessionEnd' FROM events WHERE sess = sessions.sess AND event NOT IN ('ModelCall', 'TelemetryGap', 'TelemetryRestored', 'Behaviour') ORDER BY seq DESC LIMIT 1),
               end_time = (SELECT MAX(time) FROM events WHERE sess = sessions.sess AND event = 'SessionEnd'),
               f_low = (SELECT COUNT(*) FROM findings f WHERE f.sess = sessions.sess AND severity = 1),
               f_medium = (SELECT COUNT(*) FROM findings f WHERE f.sess = sessions.sess AND severity = 2),
               f_high = (SELECT COUNT(*) FROM findings f WHERE f.sess = sessions.sess AND severity = 3),
               f_critical = (SELECT COUNT(*) FROM findings f WHERE f.sess = sessions.sess AND severity = 4)
             WHERE sess IN (SELECT sess FROM touched);",
        ),
    )?;
    sql(path, summary::summarise_sessions(tx))?;
    sql(path, tx.execute_batch("DELETE FROM touched;"))
}

#[derive(Clone, Copy)]
enum Dict {
    Path,
    Command,
}

/// Numbers for repeated text (segment names, session ids, rules), cached for the build.
struct Ids {
    segments: HashMap<String, i64>,
    sessions: HashMap<String, i64>,
    rules: HashMap<String, i64>,
    paths: HashMap<String, i64>,
    commands: HashMap<String, i64>,
    /// Sessions whose who-and-where columns were taken in this run (from their first record,
    /// and again from each SessionStart).
    info_seen: HashSet<i64>,
    /// Sessions created in this run whose first record is not yet noted.
    created: HashSet<i64>,
    /// Each session's fleet agent id as known so far.
    agent_of: HashMap<i64, Option<String>>,
    /// Sessions whose fleet agent id was set after they had records (their touches move).
    moved: HashSet<i64>,
    fleet_ids: HashMap<String, i64>,
    npaths: HashMap<String, i64>,
    /// The highest seq indexed.
    max_seq: Option<i64>,
}

impl Ids {
    fn load(conn: &Connection, path: &Path) -> Result<Ids, IndexError> {
        let pairs = |q: &str| -> Result<HashMap<String, i64>, IndexError> {
            let mut st = sql(path, conn.prepare(q))?;
            let rows = sql(path, st.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?))))?;
            rows.collect::<Result<_, _>>().map_err(|source| IndexError::Sql { path: path.to_path_buf(), source })
        };
        Ok(Ids {
            segments: pairs("SELECT id, name FROM segments")?,
            sessions: pairs("SELECT sess, sid FROM sessions")?,
            rules: pairs("SELECT id, rule FROM rules")?,
            paths: pairs("SELECT id, text FROM paths")?,
            commands: pairs("SELECT id, text FROM commands")?,
            info_seen: HashSet::new(),
            created: HashSet::new(),
            agent_of: {
                let mut st = sql(path, conn.prepare("SELECT sess, agent FROM sessions"))?;
                let rows = sql(path, st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))))?;
                rows.collect::<Result<_, _>>().map_err(|source| IndexError::Sql { path: path.to_path_buf(), source })?
            },
            moved: HashSet::new(),
            fleet_ids: pairs("SELECT id, agent FROM fleet_ids")?,
            npaths: pairs("SELECT id, text FROM npaths")?,
            max_seq: sql(path, conn.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0)))?,
        })
    }

    /// Notes the fleet agent id a record gives its session (kept only while it has none, as
    /// the sessions table keeps it); `first`: the session's first record.
    fn note_agent(&mut self, sess: i64, agent: Option<&str>, first: bool) {
        let Some(a) = agent else { return };
        let known = self.agent_of.entry(sess).or_insert(None);
        if known.is_none() {
            *known = Some(a.to_string());
            if !first {
                self.moved.insert(sess);
            }
        }
    }

    /// The number of the agent a session's touches are made by (the fleet agent's, or minus
    /// the session's own for a session without one).
    fn who(&mut self, tx: &Connection, path: &Path, sess: i64) -> Result<i64, IndexError> {
        let Some(Some(agent)) = self.agent_of.get(&sess) else { return Ok(-sess) };
        if let Some(id) = self.fleet_ids.get(agent) {
            return Ok(*id);
        }
        let id = sql(path, summary::fleet_id(tx, agent))?;
        self.fleet_ids.insert(agent.clone(), id);
        Ok(id)
    }

    /// The number of a touched path, normalised.
    fn npath(&mut self, tx: &Connection, path: &Path, text: &str) -> Result<i64, IndexError> {
        let n = summary::normalise_path(text);
        if let Some(id) = self.npaths.get(&n) {
            return Ok(*id);
        }
        sql(path, tx.execute("INSERT INTO npaths (text) VALUES (?1)", [&n]))?;
        let id = tx.last_insert_rowid();
        self.npaths.insert(n, id);
        Ok(id)
    }

    fn segment(&mut self, tx: &Connection, path: &Path, name: &str) -> Result<i64, IndexError> {
        if let Some(id) = self.segments.get(name) {
            return Ok(*id);
        }
        sql(path, tx.execute("INSERT INTO segments (name) VALUES (?1)", [name]))?;
        let id = tx.last_insert_rowid();
        self.segments.insert(name.to_string(), id);
        Ok(id)
    }

    fn session(&mut self, tx: &Connection, path: &Path, sid: &str) -> Result<i64, IndexError> {
        if let Some(id) = self.sessions.get(sid) {
            return Ok(*id);
        }
        sql(path, tx.execute("INSERT INTO sessions (sid) VALUES (?1)", [sid]))?;
        let id = tx.last_insert_rowid();
        self.sessions.insert(sid.to_string(), id);
        self.created.insert(id);
        self.agent_of.insert(id, None);
        Ok(id)
    }

    /// Fills a session's project, agent, parent, worktree and workflow from the first record that has them.
    fn note_info(&mut self, tx: &Connection, path: &Path, sess: i64, l: &Line) -> Result<(), IndexError> {
        let mut st = sql(
            path,
            tx.prepare_cached(
                "UPDATE sessions SET project = COALESCE(project, ?2), project_name = COALESCE(project_name, ?3), agent = COALESCE(agent, ?4),
                   agent_group = COALESCE(agent_group, ?5), parent_sid = COALESCE(parent_sid, ?6), worktree = COALESCE(worktree, ?7),
                   workflow = COALESCE(workflow, ?8)
                 WHERE sess = ?1",
            ),
        )?;
        sql(
            path,
            st.execute(params![
                sess,
                l.project_path,
                l.project_name,
                l.agent_context.fleet_agent_id,
                l.agent_context.agent_group,
                l.session_context.parent_session,
                l.session_context.worktree,
                l.session_context.workflow_id
            ]),
        )?;
        Ok(())
    }

    fn text(&mut self, tx: &Connection, path: &Path, dict: Dict, text: &str) -> Result<i64, IndexError> {
        let (map, table) = match dict {
            Dict::Path => (&mut self.paths, "paths"),
            Dict::Command => (&mut self.commands, "commands"),
        };
        if let Some(id) = map.get(text) {
            return Ok(*id);
        }
        sql(
            path,
            tx.prepare_cached(&format!("INSERT INTO {table} (text) VALUES (?1)")).and_then(|mut st| st.execute([text])),
        )?;
        let id = tx.last_insert_rowid();
        map.insert(text.to_string(), id);
        Ok(id)
    }

    fn rule(&mut self, tx: &Connection, path: &Path, f: &Finding) -> Result<i64, IndexError> {
        if let Some(id) = self.rules.get(&f.rule) {
            return Ok(*id);
        }
        sql(
            path,
            tx.execute(
                "INSERT INTO rules (rule, category, description) VALUES (?1, ?2, ?3)",
                params![f.rule, f.category, f.description],
            ),
        )?;
        let id = tx.last_insert_rowid();
        self.rules.insert(f.rule.clone(), id);
        Ok(id)
    }
}
