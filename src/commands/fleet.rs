//! `agent-telemetry fleet …`: the flags ([`crate::cli::fleet`]) turned into `crate::fleet`'s
//! query types, the answers printed as JSON lines or for people.

use crate::cli::fleet::{AgentsArgs, CollectorConfigArgs, FleetCommand};
use crate::config::registry::Registry;
use crate::config::Config;
use crate::fleet::{agents, collector, compare, conflicts, overlaps, tree, SessionFilters};
use crate::forensics::Style;
use std::io::Write;
use std::path::PathBuf;

/// `agent-telemetry fleet …`: the exit code (0 ok; errors — bad input, an unreadable registry or
/// index — are returned, printed by `main`, exit 2).
pub(crate) fn run(config: &Config, command: &FleetCommand) -> anyhow::Result<i32> {
    let now = crate::timefmt::now_unix_nanos();
    let style = Style::for_stdout();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match command {
        FleetCommand::Agents(a) => return agents_run(config, a),
        FleetCommand::CollectorConfig(a) => return collector_run(config, a),
        FleetCommand::Conflicts(a) => {
            let window = conflicts::parse_window(&a.within)?;
            let (since, until) = a.window.resolve(now)?;
            let index = a.source.open(config)?;
            let answer = conflicts::query(
                &index,
                &conflicts::ConflictFilters { since, until, project: a.project.clone(), window },
                conflicts::Listing { limit: a.limit, by_file: a.by_file },
            )?;
            if a.json {
                if a.by_file {
                    json_lines(&mut out, &answer.files)?;
                } else {
                    json_lines(&mut out, &answer.conflicts)?;
                }
                // stdout stays one kind of object per line; the totals go to stderr as one JSON
                // line, so a script reading every stdout line as a conflict keeps working.
                let mut err = std::io::stderr().lock();
                serde_json::to_writer(&mut err, &serde_json::json!({ "totals": answer.totals }))?;
                err.write_all(b"\n")?;
            } else if a.by_file {
                out.write_all(conflicts::render_files(&answer, window, style).as_bytes())?;
            } else {
                out.write_all(conflicts::render(&answer, window, style).as_bytes())?;
            }
        }
        FleetCommand::Overlaps(a) => {
            let (since, until) = a.window.resolve(now)?;
            let index = a.source.open(config)?;
            let found = overlaps::find(&index, &SessionFilters { since, until, project: a.project.clone() })?;
            emit(&mut out, a.json, &found, || overlaps::render(&found, style))?;
        }
        FleetCommand::Tree(a) => {
            let index = a.source.open(config)?;
            let sel = tree::TreeSelect { workflow: a.workflow.clone(), session: a.session.clone() };
            let nodes = tree::trees(&index, &sel, now, config.export.span_timeout.as_nanos() as u64)?;
            emit(&mut out, a.json, &nodes, || tree::render(&nodes, style))?;
        }
        FleetCommand::Compare(a) => {
            let (since, until) = a.window.resolve(now)?;
            let index = a.source.open(config)?;
            let rows = compare::compare(&index, &SessionFilters { since, until, project: a.project.clone() })?;
            emit(&mut out, a.json, &rows, || compare::render(&rows, style))?;
        }
    }
    out.flush()?;
    Ok(0)
}

/// The answer as JSON lines (`--json`) or as the human text `render` makes.
fn emit<T: serde::Serialize>(
    out: &mut impl Write,
    json: bool,
    items: &[T],
    render: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        json_lines(out, items)
    } else {
        Ok(out.write_all(render().as_bytes())?)
    }
}

fn json_lines<T: serde::Serialize>(out: &mut impl Write, items: &[T]) -> anyhow::Result<()> {
    for i in items {
        serde_json::to_writer(&mut *out, i)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The registry a command uses: `--registry FILE` (must exist), else the configured one (absent
/// is fine: no registry). A broken registry is an error here, not a warning.
pub(crate) fn registry_for_command(
    config: &Config,
    given: Option<&PathBuf>,
) -> anyhow::Result<(PathBuf, Option<Registry>)> {
    match given {
        Some(p) => match Registry::load(p)? {
            Some(r) => Ok((p.clone(), Some(r))),
            None => anyhow::bail!("--registry {}: no such file", p.display()),
        },
        None => {
            if let Some(e) = &config.fleet.error {
                anyhow::bail!("{e}");
            }
            Ok((config.fleet.registry_path.clone(), config.fleet.registry.as_deref().cloned()))
        }
    }
}

fn agents_run(config: &Config, a: &AgentsArgs) -> anyhow::Result<i32> {
    let now = crate::timefmt::now_unix_nanos();
    let (since, _) = crate::forensics::time::window(a.since.as_deref(), None, now)?;
    let (_, registry) = registry_for_command(config, a.registry.as_ref())?;
    let index = a.source.open(config)?;
    let rows = agents::list(&index, registry.as_ref(), since, now, config.export.span_timeout.as_nanos() as u64)?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if a.json {
        for r in &rows {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
        return Ok(0);
    }
    out.write_all(agents::render(&rows, since.is_some()).as_bytes())?;
    Ok(0)
}

fn collector_run(config: &Config, a: &CollectorConfigArgs) -> anyhow::Result<i32> {
    let (path, registry) = registry_for_command(config, a.registry.as_ref())?;
    let Some(registry) = registry else {
        anyhow::bail!("no fleet registry at {} (write one, or name it with --registry FILE)", path.display());
    };
    if registry.groups.is_empty() {
        anyhow::bail!(
            "{} defines no [groups.NAME]: every record goes to the default tenant, no fragment is needed",
            path.display()
        );
    }
    let backends = a
        .backends
        .clone()
        .or_else(|| std::env::var("AGENT_TELEMETRY_BACKENDS").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "victorialogs,jaeger".into());
    let backends = collector::Backends::parse(&backends).map_err(|e| anyhow::anyhow!("--backends: {e}"))?;
    let text = collector::fragment(&registry, &backends, &path.display().to_string());
    match &a.output {
        Some(out) => {
            std::fs::write(out, &text).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            eprintln!("wrote {} ({} group pipeline(s) for logs and traces; default tenant for records of no registered group)", out.display(), registry.groups.len());
        }
        None => print!("{text}"),
    }
    Ok(0)
}
