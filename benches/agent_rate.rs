//! `just bench-rate [DIR]` / `cargo bench --bench agent_rate -- [DIR] [--json] [--idle MIN]
//! [--min-active MIN]`: how fast agents work, from the transcripts Claude Code wrote (default
//! `~/.claude/projects`): per session the prompts, turns, tool calls, subagents, model calls,
//! tokens, active time and the hook events derived from them, then the hook events per active
//! agent-hour (median, p90, max) and what an agent sends per hour at that rate (the per-event
//! figures of docs/deployment.md). The mapping is `agent_telemetry::rate`'s. `--json` prints the
//! report as JSON. Nothing of the transcripts' content is printed.

use agent_telemetry::rate::{measure, table, Options};
use std::path::PathBuf;

fn main() {
    let mut dir = None;
    let mut json = false;
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut minutes = |what: &str| -> u64 {
            args.next().and_then(|v| v.parse::<f64>().ok()).map(|m| (m * 60.0) as u64).unwrap_or_else(|| {
                eprintln!("agent_rate: {what} takes minutes");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--bench" => {} // cargo bench passes it
            "--json" => json = true,
            "--idle" => opts.idle_secs = minutes("--idle"),
            "--min-active" => opts.min_active_secs = minutes("--min-active"),
            _ if a.starts_with("--") => {
                eprintln!("agent_rate: unknown flag {a} (DIR, --json, --idle MIN, --min-active MIN)");
                std::process::exit(2)
            }
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".claude").join("projects"));
    let report = match measure(&dir, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agent_rate: {}: {e}", dir.display());
            std::process::exit(1)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        print!("{}", table(&report));
    }
}
