//! What normalising a command costs: `enrich::command::normalise` and then the built-in command
//! rules, over every command of the hostile corpus, timed in one process (release build):
//!
//!     cargo run --release --example normalise_cost [ROUNDS]
use agent_telemetry::enrich::{command::normalise, policy::Policy};
use std::path::Path;
use std::time::Instant;

fn main() {
    let rounds: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hostile/commands.jsonl")).unwrap();
    let cmds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["cmd"].as_str().unwrap().to_string())
        .collect();
    let policy = Policy::builtin();
    let (cwd, home) = (Path::new("/tmp"), Path::new("/root"));
    // A benign command first, cold (what most hook processes pay: no rule's keyword occurs).
    let t = Instant::now();
    let n = normalise("git status && cargo test 2>/dev/null | tail -n 5", cwd, Some(home));
    let mut f = Vec::new();
    policy.check_command_units(&n.units, &mut f);
    let benign = t.elapsed();
    // One cold call of a hostile command (first regex compiles included).
    let t = Instant::now();
    let n = normalise(&cmds[0], cwd, Some(home));
    let mut f = Vec::new();
    policy.check_command_units(&n.units, &mut f);
    let cold = t.elapsed();
    let t = Instant::now();
    let mut units = 0;
    for _ in 0..rounds {
        for c in &cmds {
            let n = normalise(c, cwd, Some(home));
            units += n.units.len();
            let mut f = Vec::new();
            policy.check_command_units(&n.units, &mut f);
        }
    }
    let per = t.elapsed() / (rounds * cmds.len() as u32);
    println!("{} commands x {rounds}: {per:?} per command warm (normalise + rules), first benign call {benign:?}, first hostile call {cold:?}; {:.1} lines per command", cmds.len(), units as f64 / (rounds as f64 * cmds.len() as f64));
}
