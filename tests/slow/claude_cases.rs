//! The recorded Claude Code cases (tests/harness/claude_cases.rs) through the real collector,
//! checked at Jaeger and VictoriaLogs.

use crate::harness::claude_cases::*;
use crate::harness::recording::{replay_to, Dest};
use crate::harness::stack::Stack;

/// The same cases through the real collector, checked at Jaeger (spans, links) and VictoriaLogs.
#[test]
#[ignore = "slow stage: the collector, Jaeger and VictoriaLogs (scripts/stack/build.sh)"]
fn the_cases_at_jaeger() {
    let stack = Stack::start();
    check_compaction(&replay_to("compact-2.1.332", Dest::Stack(&stack)));
    check_revived(&replay_to("revive-2.1.332", Dest::Stack(&stack)));
    check_tasks(&replay_to("tasks-2.1.332", Dest::Stack(&stack)));
    check_not_run(&replay_to("unknown-tool-2.1.332", Dest::Stack(&stack)));
}
