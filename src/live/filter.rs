//! `search`'s filters on one record at a time, for `watch`: the same flags and meanings as over
//! the index (`forensics::query::Filters`), answered from the record itself. And the record as
//! `search --json` prints it ([`event_row`]), built from the journal line instead of the index.

use crate::forensics::query::{EventRow, Filters};
use crate::record::JournalRecord;

/// A record as the index's `search` returns it: the same fields, the same values.
pub(crate) fn event_row(r: &JournalRecord, segment: &str, offset: u64, len: u64) -> EventRow {
    let d = &r.action_details;
    let tc = r.tool_context.as_ref();
    EventRow {
        seq: r.seq,
        time: crate::timefmt::rfc3339_nanos(r.time_unix_nano),
        time_unix_nano: r.time_unix_nano,
        session_id: r.session_id.clone(),
        agent_id: r.agent_context.agent_id.clone(),
        event: r.hook_event.clone(),
        tool: r.tool_name.clone(),
        tool_use_id: tc.and_then(|t| t.tool_use_id.clone()),
        path: d
            .resolved_path
            .clone()
            .or_else(|| d.file_path.clone())
            .or_else(|| d.search_path.clone())
            .or_else(|| d.url.clone()),
        outside_paths: d.outside_paths.clone(),
        command: d.command.clone(),
        outside_project: d.outside_project_scope || r.security.outside_project_scope,
        risk: r.security.findings.iter().map(|f| f.severity).max().map(|s| s.as_str()),
        rules: r.security.findings.iter().map(|f| f.rule.clone()).collect(),
        success: tc.and_then(|t| t.success),
        duration_ms: tc.and_then(|t| t.duration_ms),
        segment: segment.to_string(),
        offset,
        len,
    }
}

/// Why a filter cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadFilter {
    #[error("bad --command regex {}: {error}", crate::text::escape_terminal(.regex))]
    Regex { regex: String, error: regex_lite::Error },
}

/// [`Filters`] compiled for records one at a time. `session` matches a whole id or a prefix;
/// `flag` a rule id or a category; `limit` is the caller's (it counts what it prints).
pub(crate) struct Matcher {
    f: Filters,
    command: Option<regex_lite::Regex>,
}

impl Matcher {
    pub(crate) fn new(f: Filters) -> Result<Matcher, BadFilter> {
        let command = match &f.command {
            Some(re) => {
                Some(regex_lite::Regex::new(re).map_err(|error| BadFilter::Regex { regex: re.clone(), error })?)
            }
            None => None,
        };
        Ok(Matcher { f, command })
    }

    pub(crate) fn matches(&self, row: &EventRow) -> bool {
        let f = &self.f;
        f.since.is_none_or(|s| row.time_unix_nano >= s)
            && f.until.is_none_or(|u| row.time_unix_nano <= u)
            && f.session.as_deref().is_none_or(|s| row.session_id.as_deref().is_some_and(|id| id.starts_with(s)))
            && (f.tools.is_empty() || row.tool.as_ref().is_some_and(|t| f.tools.contains(t)))
            && (f.events.is_empty() || f.events.contains(&row.event))
            && (!f.outside || row.outside_project)
            && f.flag.as_deref().is_none_or(|flag| row.rules.iter().any(|r| rule_matches(r, flag)))
            && f.path.as_deref().is_none_or(|g| row.path.as_deref().is_some_and(|p| glob(g, p)))
            && self.command.as_ref().is_none_or(|re| row.command.as_deref().is_some_and(|c| re.is_match(c)))
    }
}

/// A rule matches a flag given as its id or as its category (`risky_command` for
/// `risky_command.chmod_world_writable`), as `forensics::query::RULE_MATCH` does.
pub(crate) fn rule_matches(rule: &str, flag: &str) -> bool {
    rule == flag || rule.strip_prefix(flag).is_some_and(|rest| rest.starts_with('.'))
}

/// SQLite's GLOB (what `search --path` runs): `*` any text, `?` one character, `[…]` a set
/// (`[^…]` its complement, `a-z` a range); case-sensitive, over the whole text.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len()).any(|i| glob_at(&p[1..], &t[i..])),
        Some('?') => !t.is_empty() && glob_at(&p[1..], &t[1..]),
        Some('[') => {
            let Some(c) = t.first() else { return false };
            match set(&p[1..], *c) {
                Some((hit, used)) => hit && glob_at(&p[1 + used..], &t[1..]),
                // No closing bracket: a literal `[`.
                None => *c == '[' && glob_at(&p[1..], &t[1..]),
            }
        }
        Some(x) => t.first() == Some(x) && glob_at(&p[1..], &t[1..]),
    }
}

/// Whether `c` is in the set starting after a `[`, and how many characters the set's text takes
/// (its closing `]` included); `None` when it is not closed.
fn set(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = p.first() == Some(&'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Finding, Severity};

    #[test]
    fn glob_is_sqlites() {
        assert!(glob("*.rs", "/a/b/main.rs"));
        assert!(glob("/a/*/main.?s", "/a/b/c/main.rs"), "* crosses slashes as in SQLite");
        assert!(!glob("*.rs", "/a/main.rsx"));
        assert!(glob("/etc/[hp]*", "/etc/hosts") && glob("/etc/[hp]*", "/etc/passwd"));
        assert!(!glob("/etc/[^hp]*", "/etc/hosts") && glob("/etc/[^hp]*", "/etc/shadow"));
        assert!(glob("[a-c]x", "bx") && !glob("[a-c]x", "dx"));
        assert!(glob("[]]", "]"), "a ] first in a set is itself");
        assert!(glob("a[b", "a[b"), "an unclosed [ is literal");
        assert!(!glob("README", "readme"), "case-sensitive");
    }

    #[test]
    fn each_filter_selects_what_search_would() {
        let mut r = JournalRecord {
            seq: 7,
            time_unix_nano: 5_000,
            hook_event: "PreToolUse".into(),
            session_id: Some("abcdef12-0000".into()),
            tool_name: Some("Bash".into()),
            ..Default::default()
        };
        r.action_details.command = Some("chmod 777 notes.md".into());
        r.action_details.file_path = Some("/p/notes.md".into());
        r.security.findings.push(Finding {
            rule: "risky_command.chmod_world_writable".into(),
            category: "risky_command".into(),
            severity: Severity::Medium,
            action: "alert".into(),
            matched: "chmod 777".into(),
            description: String::new(),
        });
        let row = event_row(&r, "s", 0, 1);
        let m = |f: Filters| Matcher::new(f).unwrap().matches(&row);
        assert!(m(Filters::default()));
        assert!(m(Filters { since: Some(5_000), until: Some(5_000), ..Default::default() }));
        assert!(!m(Filters { since: Some(5_001), ..Default::default() }));
        assert!(!m(Filters { until: Some(4_999), ..Default::default() }));
        assert!(m(Filters { session: Some("abcd".into()), ..Default::default() }));
        assert!(!m(Filters { session: Some("bcd".into()), ..Default::default() }));
        assert!(m(Filters { tools: vec!["Read".into(), "Bash".into()], ..Default::default() }));
        assert!(!m(Filters { tools: vec!["Read".into()], ..Default::default() }));
        assert!(!m(Filters { events: vec!["PostToolUse".into()], ..Default::default() }));
        assert!(m(Filters { flag: Some("risky_command".into()), ..Default::default() }));
        assert!(!m(Filters { flag: Some("risky".into()), ..Default::default() }), "a category is whole");
        assert!(!m(Filters { outside: true, ..Default::default() }));
        assert!(m(Filters { path: Some("*/notes.md".into()), ..Default::default() }));
        assert!(m(Filters { command: Some("^chmod [0-7]+".into()), ..Default::default() }));
        assert!(!m(Filters { command: Some("rm".into()), ..Default::default() }));
        assert!(Matcher::new(Filters { command: Some("(".into()), ..Default::default() }).is_err());
        assert_eq!(row.risk, Some("medium"));
        assert_eq!(row.path.as_deref(), Some("/p/notes.md"));
    }
}

#[cfg(test)]
mod same_as_search {
    use super::*;

    /// Every record of a generated journal (findings, reads outside the project, subagents): the
    /// row built from the line is the index's row, field for field, as `--json` prints them.
    #[test]
    fn event_row_is_the_indexs_row_for_every_record() {
        let d = tempfile::tempdir().unwrap();
        let journal = d.path().join("journal");
        crate::forensics::synth::generate(&journal, 3_000, 1_796_000_000_000_000_000, 9).unwrap();
        let index =
            crate::forensics::index::Index::open_with(&journal, &d.path().join("index"), &crate::progress::Silent)
                .unwrap();
        let mut indexed = Vec::new();
        crate::forensics::query::for_each_event(&index, &Filters::default(), |row| {
            indexed.push((serde_json::to_value(&row).unwrap(), row.segment, row.offset, row.len));
            Ok(())
        })
        .unwrap();
        let mut follower = crate::live::follow::Follower::since(&journal, 0).unwrap();
        let read: Vec<_> = follower
            .read(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| {
                let row = event_row(&r.record, &r.segment, r.offset, r.len);
                (serde_json::to_value(&row).unwrap(), row.segment, row.offset, row.len)
            })
            .collect();
        assert!(indexed.len() >= 3_000);
        assert!(indexed.iter().any(|(v, ..)| !v["rules"].as_array().unwrap().is_empty()));
        assert!(indexed.iter().any(|(v, ..)| v["outside_project"] == true));
        assert_eq!(read.len(), indexed.len());
        for (a, b) in read.iter().zip(&indexed) {
            assert_eq!(a, b);
        }
    }
}
