//! What Claude Code's user feels: the same real session (the real CLI, offline, against the
//! scripted model: `tests/scenarios/long.json`, 36 turns of 6 parallel Bash calls = 216 tool
//! calls, ~440 hook events) with no hook, with a do-nothing hook on every event, with ours (the
//! command hook) and with ours over http hooks. Wall time of `claude -p`, runs interleaved.
//!
//! Run with `just bench-claude [REPS]` (needs the CLI: scripts/claude/install-cli.sh; python3).

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::claude;

use claude::{run_claude, scenario_path, ClaudeCli, Project, ScriptedModel};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn main() {
    let reps: usize = std::env::var("AT_BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let bin = Path::new(env!("CARGO_BIN_EXE_agent-telemetry"));
    let noop = bin.parent().unwrap().join("examples/noop");
    assert!(noop.exists(), "missing {}: run `just bench-claude`", noop.display());
    let cli = ClaudeCli::find_or_install()
        .unwrap_or_else(|why| panic!("the Claude Code CLI is needed (scripts/claude/install-cli.sh): {why:?}"));
    let model = ScriptedModel::start(scenario_path("long"));
    let prompt = "LONG-SCENARIO: run many small commands";
    let ours = |p: &Project, args: &[&str]| {
        let mut a = vec!["install", "--project", p.path().to_str().unwrap()];
        a.extend_from_slice(args);
        let out = Command::new(bin).args(&a).env("HOME", p.home()).output().unwrap();
        assert!(out.status.success(), "install: {}", String::from_utf8_lossy(&out.stderr));
    };
    type Setup<'a> = (&'a str, Box<dyn Fn(&Project) + 'a>);
    let setups: Vec<Setup> = vec![
        ("no hook", Box::new(|_p: &Project| {})),
        (
            "do-nothing hook",
            Box::new(|p: &Project| p.register_hook_for_all_events(&format!("{} hook", noop.display()))),
        ),
        ("agent-telemetry (command)", Box::new(|p: &Project| ours(p, &[]))),
        (
            "agent-telemetry (http hooks)",
            Box::new(|p: &Project| {
                let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
                ours(p, &["--transport", "http", "--listen", &format!("127.0.0.1:{port}")]);
            }),
        ),
    ];
    println!("claude_session: Claude Code {}, {reps} run(s) of each, 216 tool calls per session", cli.version());
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); setups.len()];
    let mut events = vec![0usize; setups.len()];
    for r in 0..reps {
        let order: Vec<usize> =
            if r % 2 == 0 { (0..setups.len()).collect() } else { (0..setups.len()).rev().collect() };
        for i in order {
            let project = Project::new().git_init();
            (setups[i].1)(&project);
            let run = run_claude(&cli, &model, &project, prompt, &[], &[]);
            assert!(run.status.success(), "{}: claude failed: {}", setups[i].0, run.stderr);
            times[i].push(run.duration);
            let journal = project.home().join(".local/share/agent-telemetry/journal");
            events[i] = std::fs::read_dir(&journal)
                // The hooks' records (not the model calls the relay adds when it has read them).
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            std::fs::read_to_string(e.path())
                                .unwrap_or_default()
                                .lines()
                                .filter(|l| !l.contains("\"hook_event\":\"ModelCall\""))
                                .count()
                        })
                        .sum()
                })
                .unwrap_or(0);
            let _ = Command::new(bin).args(["relay", "--stop"]).env("HOME", project.home()).output();
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let base = median(&mut times[0].clone()).as_secs_f64();
    println!("{:<30} {:>10} {:>10} {:>14} {:>10}", "", "median", "min", "vs no hook", "hook records");
    for (i, (name, _)) in setups.iter().enumerate() {
        let m = median(&mut times[i]).as_secs_f64();
        let min = times[i].iter().min().unwrap().as_secs_f64();
        println!("{name:<30} {:>8.2} s {:>8.2} s {:>+12.1} % {:>10}", m, min, (m / base - 1.0) * 100.0, events[i]);
    }
}
