//! The seed's `event_type`: what kind of action an event is, for every tool and hook event.
//! Unknown tools and events get a generic type and keep their names in `tool_name`/`hook_event`.

/// The event type of a tool call (Pre/PostToolUse, PostToolUseFailure, PermissionRequest, ...).
pub(crate) fn tool_event_type(tool: &str) -> &'static str {
    if tool.starts_with("mcp__") {
        return "mcp_tool";
    }
    match tool {
        "Read" | "NotebookRead" => "file_read",
        "Write" => "file_write",
        "Edit" | "MultiEdit" => "file_edit",
        "NotebookEdit" => "notebook_edit",
        "Bash" | "BashOutput" | "PowerShell" => "command_execution",
        "KillShell" | "KillBash" => "process_control",
        "Grep" => "code_search",
        "Glob" | "LS" => "file_search",
        "WebFetch" | "WebSearch" => "web_access",
        "Agent" | "Task" => "agent_delegation",
        "TodoWrite" | "TodoRead" => "task_planning",
        "TaskCreate" | "TaskUpdate" | "TaskGet" | "TaskList" | "TaskOutput" | "TaskStop" => "task_management",
        "Skill" => "skill_invocation",
        "SlashCommand" => "slash_command",
        "ExitPlanMode" | "EnterPlanMode" => "plan_mode",
        "AskUserQuestion" => "user_interaction",
        "EnterWorktree" | "ExitWorktree" => "worktree",
        "ListMcpResourcesTool" | "ReadMcpResourceTool" => "mcp_resource",
        "SendMessage" | "TeamCreate" | "TeamDelete" => "agent_coordination",
        "ToolSearch" => "tool_search",
        _ => "tool_usage",
    }
}

/// The event type of a hook event; `tool` is the payload's `tool_name`, if any.
pub(crate) fn event_type(hook_event: &str, tool: Option<&str>, prompt: Option<&str>) -> &'static str {
    use crate::event::HookEvent;
    let ev = HookEvent::parse(hook_event);
    match ev {
        HookEvent::PreToolUse | HookEvent::PostToolUse | HookEvent::PostToolUseFailure => {
            tool.map(tool_event_type).unwrap_or("tool_usage")
        }
        HookEvent::UserPromptSubmit if prompt.is_some_and(|p| p.trim_start().starts_with('/')) => "slash_command",
        other => other.base_event_type(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::KNOWN_EVENTS;

    #[test]
    fn every_known_event_has_a_specific_type() {
        for e in KNOWN_EVENTS {
            assert_ne!(event_type(e, Some("Read"), None), "hook_event", "{e}");
        }
        assert_eq!(event_type("SomethingNew", None, None), "hook_event");
    }

    #[test]
    fn tools_map_to_the_seed_types() {
        assert_eq!(tool_event_type("Read"), "file_read");
        assert_eq!(tool_event_type("Write"), "file_write");
        assert_eq!(tool_event_type("Edit"), "file_edit");
        assert_eq!(tool_event_type("Bash"), "command_execution");
        assert_eq!(tool_event_type("Grep"), "code_search");
        assert_eq!(tool_event_type("WebFetch"), "web_access");
        assert_eq!(tool_event_type("Agent"), "agent_delegation");
        assert_eq!(tool_event_type("mcp__github__create_issue"), "mcp_tool");
        assert_eq!(tool_event_type("FutureTool"), "tool_usage");
        assert_eq!(event_type("UserPromptSubmit", None, Some("/sc:analyze x")), "slash_command");
    }
}
