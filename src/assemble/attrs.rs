//! Attribute names. OTel GenAI semantic conventions where they exist (defined here: the semconv
//! crate has them only as deprecated experimental names), the seed's fields under the project's
//! own `agent_telemetry.` namespace for the rest. Checks and dashboards rely on these names.

pub const SERVICE_NAME: &str = "service.name";
pub const SERVICE_VALUE: &str = "claude-code";
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
pub const SERVICE_VERSION: &str = "service.version";
pub const HOST_NAME: &str = "host.name";
pub const SESSION_ID: &str = "session.id";
pub const AGENT_ID: &str = "agent.id";
pub const AGENT_GROUP: &str = "agent.group";
pub const AGENT_ROLE: &str = "agent.role";
/// The fleet agent's type (`fleet.toml` `type`, `[agent] type`; default `claude-code`).
pub const AGENT_TYPE: &str = "agent.type";
/// The running instance: the Claude Code process, `host:pid`.
pub const AGENT_INSTANCE_ID: &str = "agent.instance.id";
/// The fleet registry entry the agent matched (absent: none).
pub const REGISTRY_ENTRY: &str = "agent_telemetry.registry.entry";
pub const PROJECT_NAME: &str = "project.name";
pub const PROJECT_PATH: &str = "project.path";
pub const USER_ID: &str = "user.id";

pub const GEN_AI_OPERATION: &str = "gen_ai.operation.name";
pub const GEN_AI_PROVIDER: &str = "gen_ai.provider.name";
pub const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
pub const GEN_AI_CONVERSATION: &str = "gen_ai.conversation.id";
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
pub const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
pub const GEN_AI_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
pub const GEN_AI_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
pub const GEN_AI_CACHE_READ_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
pub const GEN_AI_CACHE_CREATION_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
pub const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
pub const GEN_AI_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
pub const ERROR_TYPE: &str = "error.type";

/// Claude Code's own telemetry calls the turn id `prompt.id`; we carry it under that name too.
pub const PROMPT_ID: &str = "prompt.id";

pub const NS: &str = "agent_telemetry.";
pub const EVENT_TYPE: &str = "agent_telemetry.event_type";
pub const HOOK_EVENT: &str = "agent_telemetry.hook_event";
pub const LEVEL: &str = "agent_telemetry.level";
pub const SEQ: &str = "agent_telemetry.seq";
pub const HASH: &str = "agent_telemetry.hash";
pub const TURN_PROMPT_ID: &str = "agent_telemetry.prompt_id";
pub const OUTSIDE_PROJECT: &str = "agent_telemetry.outside_project_scope";
pub const SENSITIVE: &str = "agent_telemetry.sensitive_access";
pub const RULES: &str = "agent_telemetry.security.rules";
pub const RISK: &str = "agent_telemetry.security.risk";
pub const REDACTIONS: &str = "agent_telemetry.redactions";
pub const FILE_PATH: &str = "agent_telemetry.file_path";
pub const COMMAND: &str = "agent_telemetry.command";
pub const URL: &str = "agent_telemetry.url";
pub const SEARCH_PATTERN: &str = "agent_telemetry.search_pattern";
pub const DURATION_MS: &str = "agent_telemetry.duration_ms";
/// The hook's own time on the event it recorded (`metadata.hook_us`), in µs.
pub const HOOK_DURATION_US: &str = "agent_telemetry.hook.duration_us";
/// Where a span's token totals come from: `transcript` (the model calls) or `hook`.
pub const USAGE_SOURCE: &str = "agent_telemetry.usage.source";
pub const USAGE_REQUESTS: &str = "agent_telemetry.usage.requests";
pub const REQUEST_ID: &str = "agent_telemetry.request_id";
pub const COST_USD: &str = "agent_telemetry.cost.usd";
pub const COST_PRICE_TABLE: &str = "agent_telemetry.cost.price_table";
/// Model calls whose model the price table does not know (their cost is not in `cost.usd`).
pub const COST_UNPRICED_REQUESTS: &str = "agent_telemetry.cost.unpriced_requests";
pub const COMPACT_TRIGGER: &str = "agent_telemetry.compact.trigger";
pub const COMPACT_PRE_TOKENS: &str = "agent_telemetry.compact.pre_tokens";
pub const COMPACT_POST_TOKENS: &str = "agent_telemetry.compact.post_tokens";
pub const COMPACT_DURATION_MS: &str = "agent_telemetry.compact.duration_ms";
/// Which run of a subagent (2 and up: revived by `SendMessage`).
pub const SUBAGENT_RUN: &str = "agent_telemetry.subagent.run";
pub const TASK_ID: &str = "agent_telemetry.task.id";
pub const TASK_SUBJECT: &str = "agent_telemetry.task.subject";
/// On the call that completed a task: the agent that created it (`main`: the main agent).
pub const TASK_CREATED_BY_AGENT: &str = "agent_telemetry.task.created_by_agent";
/// A call Claude Code never ran (only PostToolBatch names it: an unknown or unavailable tool).
pub const TOOL_NOT_RUN: &str = "agent_telemetry.tool.not_run";
/// The Claude worktree a session ran in, and its branch.
pub const WORKTREE: &str = "agent_telemetry.worktree";
pub const GIT_BRANCH: &str = "agent_telemetry.git.branch";
pub const INCOMPLETE: &str = "agent_telemetry.span.incomplete";
pub const INCOMPLETE_REASON: &str = "agent_telemetry.span.incomplete_reason";
pub const RUN: &str = "agent_telemetry.session.run";
pub const SOURCE: &str = "agent_telemetry.session.source";
pub const END_REASON: &str = "agent_telemetry.session.end_reason";
pub const PARENT_SESSION: &str = "agent_telemetry.parent_session";
pub const WORKFLOW: &str = "agent_telemetry.workflow.id";
pub const PROMPT: &str = "agent_telemetry.prompt";
pub const SLASH_COMMAND: &str = "agent_telemetry.slash_command";
pub const LINES_ADDED: &str = "agent_telemetry.lines_added";
pub const LINES_REMOVED: &str = "agent_telemetry.lines_removed";
pub const BACKGROUND: &str = "agent_telemetry.subagent.background";
pub const SPAWN_DEPTH: &str = "agent_telemetry.subagent.spawn_depth";
pub const PARENT_AGENT_ID: &str = "agent_telemetry.subagent.parent_agent_id";
pub const PERMISSION_MODE: &str = "agent_telemetry.permission_mode";
