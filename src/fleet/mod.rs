//! Fleet mode: many agents, one view. Who an agent is ([`registry`]: `fleet.toml`, the
//! environment, defaults), which agents were seen ([`agents`], from the forensics index), and a
//! tenant per agent group in the backends ([`collector`]: a collector config fragment with one
//! pipeline per group).
//!
//! `agent-telemetry fleet <sub>`: [`FleetCommand`] holds the subcommands, [`run`] dispatches.

pub mod agents;
pub mod collector;
pub mod registry;

use crate::config::Config;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum FleetCommand {
    /// Every agent seen: where (hosts, projects, worktrees), when, how active, and the registry
    /// entry it matched; also registry agents never seen.
    Agents(agents::AgentsArgs),
    /// Writes an OpenTelemetry Collector config fragment from the registry: one pipeline per
    /// agent group, each keeping only its group's data and sending it with the group's tenant
    /// headers (use with otel-collector.yaml: a second --config, or
    /// AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG for `just stack-up`).
    CollectorConfig(collector::CollectorConfigArgs),
}

/// Runs `fleet <sub>`: the exit code (0 ok, 2 bad input or an unreadable registry).
pub fn run(config: &Config, command: &FleetCommand) -> anyhow::Result<i32> {
    match command {
        FleetCommand::Agents(a) => agents::run(config, a),
        FleetCommand::CollectorConfig(a) => collector::run(config, a),
    }
}

/// The registry a command uses: `--registry FILE` (must exist), else the configured one (absent
/// is fine: no registry). A broken registry is an error here, not a warning.
pub fn registry_for_command(config: &Config, given: Option<&PathBuf>) -> anyhow::Result<(PathBuf, Option<registry::Registry>)> {
    match given {
        Some(p) => match registry::Registry::load(p).map_err(anyhow::Error::msg)? {
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
