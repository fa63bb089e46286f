//! `watch`'s text line: the timeline's line ([`crate::forensics::timeline::line`]) with the time
//! of day (UTC, to the millisecond) first and the session's first 8 characters as who (with
//! `sub <type>` for a subagent's records).

use crate::forensics::{timeline, Style};
use crate::record::JournalRecord;

pub(crate) fn line(r: &JournalRecord, style: Style) -> String {
    let sid = r.session_id.as_deref().unwrap_or("-");
    let Some(e) = timeline::entries(sid, std::slice::from_ref(r)).into_iter().next() else { return String::new() };
    let short: String = sid.chars().take(8).collect();
    let who = match (&e.agent_id, &e.agent_type) {
        (Some(_), Some(t)) => format!("{short} sub {t}"),
        (Some(a), None) => format!("{short} sub {}", a.chars().take(6).collect::<String>()),
        (None, _) => short,
    };
    timeline::line(&style.dim(&clock(&r.timestamp)), &who, &e, style)
}

/// `HH:MM:SS.mmm` of an RFC 3339 time (the text itself when it is not one).
fn clock(rfc: &str) -> String {
    match rfc.get(11..23) {
        Some(t) if rfc.as_bytes().get(10) == Some(&b'T') => t.to_string(),
        _ => rfc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timelines_columns_with_a_clock_and_the_session() {
        let mut r = JournalRecord {
            seq: 42,
            timestamp: "2026-11-30T12:34:56.789123Z".into(),
            hook_event: "PreToolUse".into(),
            session_id: Some("08f2cc9c-1111".into()),
            tool_name: Some("Bash".into()),
            ..Default::default()
        };
        r.action_details.command = Some("chmod 777 NOTES.md".into());
        let l = line(&r, Style { colour: false });
        assert_eq!(l, "12:34:56.789       42  08f2cc9c          PreToolUse          Bash        chmod 777 NOTES.md\n");
        r.agent_context.agent_id = Some("a1b2c3d4e5".into());
        r.agent_context.agent_type = Some("general-purpose".into());
        assert!(
            line(&r, Style { colour: false }).contains("  08f2cc9c sub ge…  "),
            "{}",
            line(&r, Style { colour: false })
        );
    }
}
