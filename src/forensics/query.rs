//! Filters shared by `search` and `export`, turned into one SQL query over the index, and the
//! rows they return. Everything selective is answered by an index (time, tool, session, rule,
//! outside); a `--command` regex and a `--path` glob run once per distinct command or path (the
//! index keeps each text once), then the matching records are found by their index and read in
//! seq order (written as `seq IN (…)`: otherwise the planner, seeing `ORDER BY seq`, walks every
//! record and tests each).

use super::index::Index;
use super::{Error, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{functions::FunctionFlags, OptionalExtension};

/// What to select. Empty fields select everything.
#[derive(Debug, Default, Clone)]
pub(crate) struct Filters {
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// A session id (resolved with [`resolve_session`]).
    pub session: Option<String>,
    pub tools: Vec<String>,
    pub events: Vec<String>,
    /// A glob (`*`, `?`, `[…]`) matched against the whole recorded path.
    pub path: Option<String>,
    /// A regex searched in the recorded (redacted) command.
    pub command: Option<String>,
    /// A rule id (`risky_command.curl_pipe_shell`) or a category (`risky_command`).
    pub flag: Option<String>,
    pub outside: bool,
    pub limit: Option<u64>,
}

/// One indexed record, as `search` and `export` print it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct EventRow {
    pub seq: u64,
    pub time: String,
    pub time_unix_nano: u64,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    pub event: String,
    pub tool: Option<String>,
    pub tool_use_id: Option<String>,
    pub path: Option<String>,
    pub outside_paths: Vec<String>,
    pub command: Option<String>,
    pub outside_project: bool,
    pub risk: Option<&'static str>,
    pub rules: Vec<String>,
    pub success: Option<bool>,
    pub duration_ms: Option<u64>,
    #[serde(skip)]
    pub segment: String,
    #[serde(skip)]
    pub offset: u64,
    #[serde(skip)]
    pub len: u64,
}

/// A session id as given: the whole id, or a prefix of exactly one (as `git` takes commits).
pub(crate) fn resolve_session(index: &Index, given: &str) -> Result<String> {
    let exact: Option<String> =
        index.conn.query_row("SELECT sid FROM sessions WHERE sid = ?1", [given], |r| r.get(0)).optional()?;
    if let Some(s) = exact {
        return Ok(s);
    }
    let mut st =
        index.conn.prepare("SELECT sid FROM sessions WHERE substr(sid, 1, length(?1)) = ?1 ORDER BY sid LIMIT 3")?;
    let found: Vec<String> = st.query_map([given], |r| r.get(0))?.collect::<Result<_, _>>()?;
    match found.len() {
        0 => Err(Error::UnknownSession { given: given.to_string(), journal: index.journal_dir.clone() }),
        1 => Ok(found.into_iter().next().expect("one")),
        _ => Err(Error::AmbiguousSession { given: given.to_string(), matches: found }),
    }
}

/// A flag as matched: `behaviour.*` (or `behaviour*`) names the family `behaviour`.
pub(crate) fn rule_family(flag: &str) -> &str {
    flag.strip_suffix(".*").or_else(|| flag.strip_suffix('*')).unwrap_or(flag)
}

/// `rules.rule` matches a flag given as a rule id or a category (see [`rule_family`]).
pub(crate) const RULE_MATCH: &str = "(r.rule = ?F OR substr(r.rule, 1, length(?F) + 1) = ?F || '.')";

/// The WHERE clause for `f` and its parameters.
fn where_clause(index: &Index, f: &Filters) -> Result<(String, Vec<SqlValue>)> {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let p = |v: SqlValue, params: &mut Vec<SqlValue>| {
        params.push(v);
        format!("?{}", params.len())
    };
    if let Some(s) = f.since {
        conds.push(format!("e.time >= {}", p(SqlValue::Integer(s as i64), &mut params)));
    }
    if let Some(u) = f.until {
        conds.push(format!("e.time <= {}", p(SqlValue::Integer(u as i64), &mut params)));
    }
    if let Some(s) = &f.session {
        let sid = resolve_session(index, s)?;
        conds.push(format!("e.sess = (SELECT sess FROM sessions WHERE sid = {})", p(SqlValue::Text(sid), &mut params)));
    }
    for (col, list) in [("e.tool", &f.tools), ("e.event", &f.events)] {
        if !list.is_empty() {
            let ps: Vec<String> = list.iter().map(|t| p(SqlValue::Text(t.clone()), &mut params)).collect();
            conds.push(format!("{col} IN ({})", ps.join(", ")));
        }
    }
    if f.outside {
        conds.push("e.outside = 1".into());
    }
    if let Some(flag) = &f.flag {
        let flag = &rule_family(flag).to_string();
        let known: bool = index.conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM rules r WHERE {})", RULE_MATCH.replace("?F", "?1")),
            [flag],
            |r| r.get(0),
        )?;
        if !known {
            let mut st = index.conn.prepare("SELECT rule FROM rules ORDER BY rule")?;
            let fired: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            return Err(Error::UnknownRule { flag: flag.clone(), fired });
        }
        let ph = p(SqlValue::Text(flag.clone()), &mut params);
        conds.push(format!(
            "e.seq IN (SELECT f.seq FROM findings f JOIN rules r ON r.id = f.rule WHERE {})",
            RULE_MATCH.replace("?F", &ph)
        ));
    }
    if let Some(g) = &f.path {
        conds.push(format!(
            "e.seq IN (SELECT x.seq FROM events x WHERE x.path IN (SELECT id FROM paths WHERE text GLOB {}))",
            p(SqlValue::Text(g.clone()), &mut params)
        ));
    }
    if let Some(re) = &f.command {
        let compiled = regex_lite::Regex::new(re).map_err(|error| Error::BadRegex { regex: re.clone(), error })?;
        let compiled = std::panic::AssertUnwindSafe(compiled);
        index.conn.create_scalar_function(
            "command_matches",
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            move |ctx| {
                let text: Option<String> = ctx.get(0)?;
                Ok(text.is_some_and(|t| compiled.is_match(&t)))
            },
        )?;
        conds.push("e.seq IN (SELECT x.seq FROM events x WHERE x.command IN (SELECT id FROM commands WHERE command_matches(text)))".into());
    }
    let w = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
    Ok((w, params))
}

/// Runs `f` and hands each row, in journal order, to `each` (rows are streamed, never collected).
pub(crate) fn for_each_event(index: &Index, f: &Filters, mut each: impl FnMut(EventRow) -> Result<()>) -> Result<u64> {
    let (w, params) = where_clause(index, f)?;
    let limit = f.limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    let q = format!(
        "SELECT e.seq, e.time, s.sid, e.agent, e.event, e.tool, e.tool_use, (SELECT text FROM paths WHERE id = e.path), e.outside_paths, (SELECT text FROM commands WHERE id = e.command), e.outside, e.risk,
           (SELECT group_concat(r.rule, ',') FROM findings fi JOIN rules r ON r.id = fi.rule WHERE fi.seq = e.seq),
           e.success, e.duration_ms, g.name, e.off, e.len
         FROM events e LEFT JOIN sessions s ON s.sess = e.sess JOIN segments g ON g.id = e.seg
         {w} ORDER BY e.seq{limit}"
    );
    let mut st = index.conn.prepare(&q)?;
    let mut rows = st.query(rusqlite::params_from_iter(params))?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let time: i64 = r.get(1)?;
        let outside_paths: Option<String> = r.get(8)?;
        let rules: Option<String> = r.get(12)?;
        let row = EventRow {
            seq: r.get::<_, i64>(0)? as u64,
            time: crate::timefmt::rfc3339_nanos(time as u64),
            time_unix_nano: time as u64,
            session_id: r.get(2)?,
            agent_id: r.get(3)?,
            event: r.get(4)?,
            tool: r.get(5)?,
            tool_use_id: r.get(6)?,
            path: r.get(7)?,
            outside_paths: outside_paths.map(|p| p.split('\n').map(String::from).collect()).unwrap_or_default(),
            command: r.get(9)?,
            outside_project: r.get(10)?,
            risk: r.get::<_, Option<i64>>(11)?.map(super::index::severity_name),
            rules: rules.map(|r| r.split(',').map(String::from).collect()).unwrap_or_default(),
            success: r.get(13)?,
            duration_ms: r.get::<_, Option<i64>>(14)?.map(|v| v as u64),
            segment: r.get(15)?,
            offset: r.get::<_, i64>(16)? as u64,
            len: r.get::<_, i64>(17)? as u64,
        };
        each(row)?;
        n += 1;
    }
    Ok(n)
}
