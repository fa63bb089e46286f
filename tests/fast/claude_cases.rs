//! Claude Code as people run it, on real recorded sessions of the newest CLI, replayed through the
//! hook and `relay --once` to OTLP files: each case's trace, span by span (the checks:
//! tests/harness/claude_cases.rs).

use crate::harness::claude_cases::*;
use crate::harness::recording::replay;

#[test]
fn compaction_is_an_event_within_the_run() {
    check_compaction(&replay("compact-2.1.332"));
}

#[test]
fn a_revived_agent_is_a_second_run() {
    check_revived(&replay("revive-2.1.332"));
}

#[test]
fn tasks_link_their_creation_and_completion() {
    check_tasks(&replay("tasks-2.1.332"));
}

#[test]
fn calls_that_never_ran_are_drawn_not_dropped() {
    check_not_run(&replay("unknown-tool-2.1.332"));
}
