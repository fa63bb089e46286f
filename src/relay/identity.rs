//! Who the hook records of a project or a session were about (agent identity, host, project
//! name), copied onto the records the relay writes itself — telemetry gaps, behaviour findings —
//! so they carry the same resource as the records they speak of.

use crate::record::JournalRecord;
use serde::{Deserialize, Serialize};

/// Kept in the relay's checkpoint (field names are its format).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Identity {
    project_name: Option<String>,
    fleet_agent_id: Option<String>,
    fleet_agent_type: Option<String>,
    agent_group: Option<String>,
    agent_role: Option<String>,
    host_name: Option<String>,
    user_id: Option<String>,
    scope: String,
}

impl Identity {
    /// The identity a hook record carries (a subagent's role is its main agent's, not "subagent").
    pub(super) fn of(r: &JournalRecord) -> Self {
        Identity {
            project_name: r.project_name.clone(),
            fleet_agent_id: r.agent_context.fleet_agent_id.clone(),
            fleet_agent_type: r.agent_context.fleet_agent_type.clone(),
            agent_group: r.agent_context.agent_group.clone(),
            agent_role: r.agent_context.agent_role.clone().filter(|role| role != "subagent"),
            host_name: r.metadata.host_name.clone(),
            user_id: r.metadata.user_id.clone(),
            scope: r.metadata.scope.clone(),
        }
    }

    /// Writes this identity onto a record the relay writes.
    pub(super) fn stamp(&self, out: &mut JournalRecord) {
        out.project_name = self.project_name.clone();
        out.metadata.scope = self.scope.clone();
        out.metadata.host_name = self.host_name.clone();
        out.metadata.user_id = self.user_id.clone();
        out.agent_context.fleet_agent_id = self.fleet_agent_id.clone();
        out.agent_context.fleet_agent_type = self.fleet_agent_type.clone();
        out.agent_context.agent_group = self.agent_group.clone();
        out.agent_context.agent_role = self.agent_role.clone();
    }
}
