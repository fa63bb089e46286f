//! Reading transcripts for the assembly (the relay's, and the span tree's in [`super::tree`]):
//! before a record that ends a turn (Stop), a subagent
//! (SubagentStop) or a session (SessionEnd) is assembled, the transcripts it ends are read from
//! where the last read stopped, and their model calls go to the assembler — so the span closes
//! with complete totals. Claude Code writes a turn's final message *after* the Stop hook ran:
//! a fresh Stop whose final message is not in the transcript yet is held back (the relay waits
//! for the next poll) for up to [`SETTLE`], then assembled as it is.
//!
//! Reads are bounded (per call and per line), regular files only, and only metadata is kept
//! (`crate::transcript`). The read positions are part of the checkpoint.

use super::model::Output;
use super::Assembler;
use crate::cost::PriceTable;
use crate::event::HookEvent;
use crate::record::JournalRecord;
use crate::transcript::{subagent_path, subagents_dir, Tail};
use std::collections::BTreeMap;
use std::path::Path;

/// How long a Stop (SubagentStop) waits for its final message.
pub(crate) const SETTLE: u64 = 3_000_000_000;

/// Bytes read from one transcript per record (the rest is read at the next one).
const MAX_READ: u64 = 64 * 1024 * 1024;

/// What to do with the record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Assemble,
    /// Not yet: its transcript's final message is not written.
    Hold,
}

/// Read positions by transcript path.
pub(crate) type Tails = BTreeMap<String, Tail>;

/// Reads what `r` ends and feeds the model calls in; says whether `r` may be assembled now. The
/// calls' `model_call` records (in `out.calls`) take their identity fields from `r`.
pub(crate) fn before_record(
    r: &JournalRecord,
    tails: &mut Tails,
    asm: &mut Assembler,
    prices: &PriceTable,
    now: u64,
    out: &mut Output,
) -> Step {
    let first = out.calls.len();
    let step = read_for(r, tails, asm, prices, now, out);
    for c in &mut out.calls[first..] {
        identity_from(c, r);
    }
    step
}

/// What a `model_call` record shares with the record whose reading found it: the project, the
/// host and user, the fleet identity, the worktree; the agent's type when it is the same agent.
fn identity_from(c: &mut JournalRecord, r: &JournalRecord) {
    c.project_path = r.project_path.clone();
    c.project_name = r.project_name.clone();
    c.cwd = r.cwd.clone();
    c.metadata = crate::record::Metadata { config_error: None, events_lost: None, hook_us: None, ..r.metadata.clone() };
    let agent = c.agent_context.agent_id.take();
    let same_agent = agent == r.agent_context.agent_id;
    c.agent_context = r.agent_context.clone();
    c.agent_context.agent_id = agent;
    if !same_agent {
        c.agent_context.agent_type = None;
        c.agent_context.parent_tool_use_id = None;
    }
    let prompt = c.session_context.prompt_id.take();
    c.session_context = crate::record::SessionContext {
        session_id: r.session_context.session_id.clone(),
        parent_session: r.session_context.parent_session.clone(),
        traceparent: r.session_context.traceparent.clone(),
        worktree: r.session_context.worktree.clone(),
        branch: r.session_context.branch.clone(),
        prompt_id: prompt,
        ..Default::default()
    };
}

fn read_for(
    r: &JournalRecord,
    tails: &mut Tails,
    asm: &mut Assembler,
    prices: &PriceTable,
    now: u64,
    out: &mut Output,
) -> Step {
    let ev = r.event();
    let (Some(sid), Some(main)) = (r.session_id.as_deref(), r.session_context.transcript_path.as_deref()) else {
        return Step::Assemble;
    };
    let agent = r.agent_context.agent_id.as_deref();
    let fresh = now.saturating_sub(r.time_unix_nano) < SETTLE;
    match (&ev, agent) {
        (HookEvent::Stop | HookEvent::StopFailure, None) => {
            let settled = feed(main, None, sid, tails, asm, prices, out, |t| {
                let prompt = r.session_context.prompt_id.as_deref();
                ev == HookEvent::StopFailure
                    || prompt.is_none()
                    || (t.at_final && t.last_final_prompt.as_deref() == prompt)
            })
            .unwrap_or(true);
            if !settled && fresh {
                return Step::Hold;
            }
            flush(main, None, sid, tails, asm, prices, out);
            if tails.contains_key(main) {
                asm.totals_read(sid, r.session_context.prompt_id.as_deref(), None);
            }
        }
        (HookEvent::SubagentStop, Some(a)) => {
            let Some(path) = subagent_path(main, a) else { return Step::Assemble };
            let path = path.to_string_lossy().to_string();
            // Claude Code writes transcripts behind its hooks: a subagent's may not be on disk
            // yet (a busy machine) while its session's is — then it is waited for too.
            let settled = feed(&path, Some(a), sid, tails, asm, prices, out, |t| t.at_final)
                .unwrap_or_else(|| !Path::new(main).is_file());
            if !settled && fresh {
                return Step::Hold;
            }
            flush(&path, Some(a), sid, tails, asm, prices, out);
            if tails.contains_key(&path) {
                asm.totals_read(sid, None, Some(a));
            }
        }
        (HookEvent::PostCompact, _) => {
            feed(main, None, sid, tails, asm, prices, out, |_| true);
            if let Some(info) = tails.get_mut(main).and_then(|t| t.compact.take()) {
                asm.process_compact_info(sid, &info);
            }
        }
        (HookEvent::SessionEnd, _) => {
            feed(main, None, sid, tails, asm, prices, out, |_| true);
            flush(main, None, sid, tails, asm, prices, out);
            // Subagents whose last answer was written after their SubagentStop was read (a
            // busy machine, a background agent) — or whose transcript was not on disk yet then
            // (Claude Code writes transcripts behind its hooks): what their transcripts hold
            // that was not read, now. Only agents this session's records named.
            if let Some(dir) = subagents_dir(main) {
                let mut agents: BTreeMap<String, String> = tails
                    .keys()
                    .filter_map(|k| {
                        Some((
                            k.clone(),
                            k.strip_prefix(&dir)?.strip_prefix("/agent-")?.strip_suffix(".jsonl")?.to_string(),
                        ))
                    })
                    .collect();
                for name in listed(Path::new(&dir)) {
                    let Some(agent) = name.strip_prefix("agent-").and_then(|n| n.strip_suffix(".jsonl")) else {
                        continue;
                    };
                    if asm.knows_agent(agent) {
                        if let Some(path) = subagent_path(main, agent) {
                            agents.entry(path.to_string_lossy().to_string()).or_insert_with(|| agent.to_string());
                        }
                    }
                }
                for (path, agent) in agents {
                    feed(&path, Some(&agent), sid, tails, asm, prices, out, |_| true);
                    flush(&path, Some(&agent), sid, tails, asm, prices, out);
                }
            }
            if tails.contains_key(main) {
                asm.totals_read(sid, None, None);
            }
        }
        _ => {}
    }
    Step::Assemble
}

/// Read positions are kept after a session or subagent ends — a resumed session and a revived
/// agent append to the same transcript, which must not be read (and counted) again — and
/// forgotten this long after the transcript's last line and its last read, whichever is later
/// (a session whose lines are older, read from a backlog, is still being read).
const KEEP_TAILS: u64 = 7 * 24 * 3600 * 1_000_000_000;

/// Forgets the read positions of transcripts neither written nor read for [`KEEP_TAILS`].
pub(crate) fn prune(tails: &mut Tails, now: u64) {
    tails.retain(|_, t| t.last_used() + KEEP_TAILS > now);
}

/// File names in `dir`, at most [`MAX_LISTED`] (an agent cannot make the relay list forever).
fn listed(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(MAX_LISTED)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

const MAX_LISTED: usize = 10_000;

/// Reads new lines of `path`, feeding complete calls; `Some(true)` if `settled` holds afterwards
/// or the file cannot be read (nothing to wait for); `None` if there is no such file.
#[allow(clippy::too_many_arguments)]
fn feed(
    path: &str,
    agent: Option<&str>,
    sid: &str,
    tails: &mut Tails,
    asm: &mut Assembler,
    prices: &PriceTable,
    out: &mut Output,
    settled: impl Fn(&Tail) -> bool,
) -> Option<bool> {
    let tail = tails.entry(path.to_string()).or_default();
    match tail.read(Path::new(path), MAX_READ) {
        Ok(calls) => {
            for c in &calls {
                asm.process_model_call(sid, agent, c, prices, out);
            }
            Some(settled(tail))
        }
        Err(e) => {
            tails.remove(path);
            (e.kind() != std::io::ErrorKind::NotFound).then_some(true)
        }
    }
}

fn flush(
    path: &str,
    agent: Option<&str>,
    sid: &str,
    tails: &mut Tails,
    asm: &mut Assembler,
    prices: &PriceTable,
    out: &mut Output,
) {
    if let Some(c) = tails.get_mut(path).and_then(Tail::flush) {
        asm.process_model_call(sid, agent, &c, prices, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_read_now_is_kept_whatever_its_lines_times() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        // Lines written long ago (a backlog read for the first time, a replayed recording).
        std::fs::write(
            &p,
            "{\"type\":\"user\",\"timestamp\":\"2020-01-01T00:00:00Z\",\"message\":{\"content\":\"hi\"}}\n",
        )
        .unwrap();
        let key = p.to_string_lossy().to_string();
        let mut tails = Tails::new();
        tails.entry(key.clone()).or_default().read(&p, 1 << 20).unwrap();
        assert!(tails[&key].last_time() < crate::timefmt::now_unix_nanos() - KEEP_TAILS);
        let now = crate::timefmt::now_unix_nanos();
        prune(&mut tails, now);
        assert!(tails.contains_key(&key), "read just now: its position is kept");
        prune(&mut tails, now + KEEP_TAILS + 1);
        assert!(!tails.contains_key(&key), "neither written nor read for the whole period: forgotten");
    }
}
