//! Hook events as a type: the events Claude Code sends (2.1.x, listed in
//! `tests/data/claude-code-events.txt`), the records the journal writes itself, and every
//! other name (a newer CLI's event) kept as it came. Each event's properties — its seed event
//! type, its OTel log event name, whether it is a tool event, whether `install` registers it —
//! are decided here, in one `match` each, so a new event is one line and the compiler finds
//! every place that must handle it.

macro_rules! hook_events {
    ($($name:ident => $event_type:literal),* $(,)?) => {
        /// One hook event. The journal keeps the name as a string (`hook_event`); this is its
        /// meaning.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub(crate) enum HookEvent {
            $($name,)*
            /// A `journal_repair` record: a torn write the journal cut and kept.
            JournalRepair,
            /// A `model_call` record: one model request the relay read from a transcript.
            ModelCall,
            /// The relay's `telemetry_gap` record: telemetry went dark for a project or session.
            TelemetryGap,
            /// The relay's `telemetry_restored` record: what went dark is back.
            TelemetryRestored,
            /// The relay's `behaviour` record: a pattern across a session's records.
            Behaviour,
            /// An event this version does not know (recorded all the same).
            Other(String),
        }

        /// The names of the events Claude Code sends, in the order of its documentation.
        pub const CLAUDE_CODE_EVENTS: [&str; [$(stringify!($name)),*].len()] = [$(stringify!($name)),*];

        impl HookEvent {
            pub(crate) fn parse(name: &str) -> HookEvent {
                match name {
                    $(stringify!($name) => HookEvent::$name,)*
                    "JournalRepair" => HookEvent::JournalRepair,
                    "ModelCall" => HookEvent::ModelCall,
                    "TelemetryGap" => HookEvent::TelemetryGap,
                    "TelemetryRestored" => HookEvent::TelemetryRestored,
                    "Behaviour" => HookEvent::Behaviour,
                    other => HookEvent::Other(other.to_string()),
                }
            }

            pub(crate) fn as_str(&self) -> &str {
                match self {
                    $(HookEvent::$name => stringify!($name),)*
                    HookEvent::JournalRepair => "JournalRepair",
                    HookEvent::ModelCall => "ModelCall",
                    HookEvent::TelemetryGap => "TelemetryGap",
                    HookEvent::TelemetryRestored => "TelemetryRestored",
                    HookEvent::Behaviour => "Behaviour",
                    HookEvent::Other(s) => s,
                }
            }

            /// The OTel log record's event name (`'static`, as the SDK wants it).
            pub(crate) fn log_name(&self) -> &'static str {
                match self {
                    $(HookEvent::$name => concat!("claude_code.hook.", stringify!($name)),)*
                    HookEvent::JournalRepair => "agent_telemetry.journal_repair",
                    HookEvent::ModelCall => "agent_telemetry.model_call",
                    HookEvent::TelemetryGap => "agent_telemetry.telemetry_gap",
                    HookEvent::TelemetryRestored => "agent_telemetry.telemetry_restored",
                    HookEvent::Behaviour => "agent_telemetry.behaviour",
                    HookEvent::Other(_) => "claude_code.hook.other",
                }
            }

            /// The seed's `event_type` of the event itself (tool events refine it by tool).
            pub(crate) fn base_event_type(&self) -> &'static str {
                match self {
                    $(HookEvent::$name => $event_type,)*
                    HookEvent::JournalRepair => "journal_repair",
                    HookEvent::ModelCall => "model_call",
                    HookEvent::TelemetryGap => "telemetry_gap",
                    HookEvent::TelemetryRestored => "telemetry_restored",
                    HookEvent::Behaviour => "behaviour",
                    HookEvent::Other(_) => "hook_event",
                }
            }
        }
    };
}

hook_events! {
    SessionStart => "session_start",
    SessionEnd => "session_end",
    Setup => "setup",
    UserPromptSubmit => "prompt",
    UserPromptExpansion => "slash_command",
    PreToolUse => "tool_usage",
    PostToolUse => "tool_usage",
    PostToolUseFailure => "tool_usage",
    PostToolBatch => "tool_batch",
    PermissionRequest => "permission_request",
    PermissionDenied => "permission_denied",
    Notification => "notification",
    MessageDisplay => "message_display",
    Stop => "agent_stop",
    StopFailure => "agent_error",
    SubagentStart => "subagent_start",
    SubagentStop => "subagent_stop",
    PreCompact => "context_compaction",
    PostCompact => "context_compaction",
    TaskCreated => "task_created",
    TaskCompleted => "task_completed",
    TeammateIdle => "teammate_idle",
    CwdChanged => "cwd_change",
    FileChanged => "file_change",
    DirectoryAdded => "directory_added",
    InstructionsLoaded => "instructions_loaded",
    ConfigChange => "config_change",
    WorktreeCreate => "worktree_create",
    WorktreeRemove => "worktree_remove",
    Elicitation => "elicitation",
    ElicitationResult => "elicitation",
}

impl HookEvent {
    /// Events about one tool call (they carry `tool_name`, `tool_input`, `tool_use_id`, and take
    /// a tool-name matcher in `settings.json`).
    pub(crate) fn is_tool_event(&self) -> bool {
        matches!(
            self,
            HookEvent::PreToolUse
                | HookEvent::PostToolUse
                | HookEvent::PostToolUseFailure
                | HookEvent::PermissionRequest
                | HookEvent::PermissionDenied
        )
    }

    /// The events that end a tool call's span.
    pub(crate) fn ends_tool_call(&self) -> bool {
        matches!(self, HookEvent::PostToolUse | HookEvent::PostToolUseFailure)
    }

    /// Whether `install` registers our hook on it. `WorktreeCreate` is not: a hook there
    /// *replaces* Claude Code's own `git worktree` creation, so a recorder would break
    /// `--worktree`.
    pub(crate) fn registered(&self) -> bool {
        !matches!(
            self,
            HookEvent::WorktreeCreate
                | HookEvent::JournalRepair
                | HookEvent::ModelCall
                | HookEvent::TelemetryGap
                | HookEvent::TelemetryRestored
                | HookEvent::Behaviour
                | HookEvent::Other(_)
        )
    }

    /// Records the relay writes about a project or session (not events of a session's work;
    /// `behaviour` records too):
    /// they open no span.
    pub(crate) fn is_gap_record(&self) -> bool {
        matches!(
            self,
            HookEvent::ModelCall | HookEvent::TelemetryGap | HookEvent::TelemetryRestored | HookEvent::Behaviour
        )
    }

    /// The Claude Code events, typed.
    pub(crate) fn claude_code() -> impl Iterator<Item = HookEvent> {
        CLAUDE_CODE_EVENTS.iter().map(|n| HookEvent::parse(n))
    }
}

impl std::fmt::Display for HookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_survive() {
        for e in HookEvent::claude_code() {
            assert!(!matches!(e, HookEvent::Other(_)), "{e}");
            assert_eq!(HookEvent::parse(e.as_str()), e);
            assert_eq!(e.log_name(), format!("claude_code.hook.{e}"));
        }
        assert_eq!(CLAUDE_CODE_EVENTS.len(), 31);
        let new = HookEvent::parse("SomethingNew");
        assert_eq!(new, HookEvent::Other("SomethingNew".into()));
        assert_eq!(new.as_str(), "SomethingNew");
        assert_eq!(new.log_name(), "claude_code.hook.other");
        assert!(!new.registered());
        assert_eq!(HookEvent::parse("JournalRepair").log_name(), "agent_telemetry.journal_repair");
    }

    #[test]
    fn properties() {
        let registered: Vec<HookEvent> = HookEvent::claude_code().filter(HookEvent::registered).collect();
        assert_eq!(registered.len(), 30);
        assert!(!registered.contains(&HookEvent::WorktreeCreate));
        let tools: Vec<HookEvent> = HookEvent::claude_code().filter(HookEvent::is_tool_event).collect();
        assert_eq!(tools.len(), 5);
        assert!(HookEvent::PostToolUseFailure.ends_tool_call() && !HookEvent::PreToolUse.ends_tool_call());
    }
}
