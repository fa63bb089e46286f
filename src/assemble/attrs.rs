//! Attribute names. OTel GenAI semantic conventions where they exist (defined here: the semconv
//! crate has them only as deprecated experimental names), the seed's fields under the project's
//! own `agent_telemetry.` namespace for the rest. Checks and dashboards rely on these names. The
//! conventions' version followed and every rename: docs/export.md.

pub(crate) const SERVICE_NAME: &str = "service.name";
pub(crate) const SERVICE_VALUE: &str = "claude-code";
pub(crate) const SERVICE_INSTANCE_ID: &str = "service.instance.id";
pub(crate) const SERVICE_VERSION: &str = "service.version";
pub(crate) const HOST_NAME: &str = "host.name";
pub(crate) const SESSION_ID: &str = "session.id";
pub(crate) const AGENT_ID: &str = "agent.id";
pub(crate) const AGENT_GROUP: &str = "agent.group";
pub(crate) const AGENT_ROLE: &str = "agent.role";
/// The fleet agent's type (`fleet.toml` `type`, `[agent] type`; default `claude-code`).
pub(crate) const AGENT_TYPE: &str = "agent.type";
/// The running instance: the Claude Code process, `host:pid`.
pub(crate) const AGENT_INSTANCE_ID: &str = "agent.instance.id";
/// The fleet registry entry the agent matched (absent: none).
pub(crate) const REGISTRY_ENTRY: &str = "agent_telemetry.registry.entry";
pub(crate) const PROJECT_NAME: &str = "project.name";
pub(crate) const PROJECT_PATH: &str = "project.path";
pub(crate) const USER_ID: &str = "user.id";

pub(crate) const GEN_AI_OPERATION: &str = "gen_ai.operation.name";
pub(crate) const GEN_AI_PROVIDER: &str = "gen_ai.provider.name";
/// Only on log records (the dashboards group subagent records by it): the conventions keep
/// `gen_ai.agent.id` for a stable agent identifier and off internal agent spans; a subagent's id
/// is one run's, so spans carry it as [`SUBAGENT_ID`].
pub(crate) const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
/// The subagent a span belongs to (its `invoke_agent` span, its tool calls and model calls).
pub(crate) const SUBAGENT_ID: &str = "agent_telemetry.subagent.id";
pub(crate) const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
pub(crate) const GEN_AI_CONVERSATION: &str = "gen_ai.conversation.id";
pub(crate) const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
pub(crate) const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
pub(crate) const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
pub(crate) const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
pub(crate) const GEN_AI_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
pub(crate) const GEN_AI_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
pub(crate) const GEN_AI_CACHE_READ_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
pub(crate) const GEN_AI_CACHE_WRITE_TOKENS: &str = "gen_ai.usage.cache_write.input_tokens";
/// Cache tokens summed over a turn's, agent's or session's model calls: the conventions keep the
/// cache breakdown off `invoke_agent` spans (a sum over calls and models), so the totals carry
/// our names; a `chat` span has the conventions' own.
pub(crate) const TOTAL_CACHE_READ_TOKENS: &str = "agent_telemetry.usage.cache_read.input_tokens";
pub(crate) const TOTAL_CACHE_WRITE_TOKENS: &str = "agent_telemetry.usage.cache_write.input_tokens";

/// The cache-read and cache-write token names of a `chat` span (`true`) or of a span whose
/// tokens are totals.
pub(crate) fn cache_token_keys(chat: bool) -> [&'static str; 2] {
    if chat {
        [GEN_AI_CACHE_READ_TOKENS, GEN_AI_CACHE_WRITE_TOKENS]
    } else {
        [TOTAL_CACHE_READ_TOKENS, TOTAL_CACHE_WRITE_TOKENS]
    }
}
pub(crate) const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
pub(crate) const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
pub(crate) const GEN_AI_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
pub(crate) const ERROR_TYPE: &str = "error.type";

/// A finding as the GenAI guardrail conventions name it: one span event per finding, on the tool
/// call's span (a prompt's: on its turn's).
pub(crate) const GUARDRAIL_FINDING: &str = "gen_ai.guardrail.security.finding";
pub(crate) const GUARDRAIL_POLICY_ID: &str = "gen_ai.guardrail.security.policy.id";
pub(crate) const GUARDRAIL_RULE_ID: &str = "gen_ai.guardrail.security.policy.rule.id";
pub(crate) const GUARDRAIL_RISK_CATEGORY: &str = "gen_ai.guardrail.security.risk.category";
pub(crate) const GUARDRAIL_TARGET_TYPE: &str = "gen_ai.guardrail.target.type";
pub(crate) const GUARDRAIL_TARGET_SUBTYPE: &str = "gen_ai.guardrail.target.subtype";
pub(crate) const GUARDRAIL_TARGET_ID: &str = "gen_ai.guardrail.target.id";
pub(crate) const GUARDRAIL_VERDICT: &str = "gen_ai.guardrail.verdict.type";
pub(crate) const GUARDRAIL_VERDICT_REASON: &str = "gen_ai.guardrail.verdict.reason";
pub(crate) const GUARDRAIL_ACTION: &str = "gen_ai.guardrail.action.type";
pub(crate) const GUARDRAIL_COMPONENT: &str = "gen_ai.guardrail.component.name";

/// Claude Code's own telemetry calls the turn id `prompt.id`; we carry it under that name too.
pub(crate) const PROMPT_ID: &str = "prompt.id";

pub(crate) const EVENT_TYPE: &str = "agent_telemetry.event_type";
pub(crate) const HOOK_EVENT: &str = "agent_telemetry.hook_event";
pub(crate) const LEVEL: &str = "agent_telemetry.level";
pub(crate) const SEQ: &str = "agent_telemetry.seq";
pub(crate) const HASH: &str = "agent_telemetry.hash";
pub(crate) const TURN_PROMPT_ID: &str = "agent_telemetry.prompt_id";
pub(crate) const OUTSIDE_PROJECT: &str = "agent_telemetry.outside_project_scope";
pub(crate) const SENSITIVE: &str = "agent_telemetry.sensitive_access";
pub(crate) const RULES: &str = "agent_telemetry.security.rules";
pub(crate) const RISK: &str = "agent_telemetry.security.risk";
/// On the session span: the session's risk score so far, 0–100 (`enrich::risk`).
pub(crate) const RISK_SCORE: &str = "agent_telemetry.risk.score";
pub(crate) const REDACTIONS: &str = "agent_telemetry.redactions";
pub(crate) const FILE_PATH: &str = "agent_telemetry.file_path";
pub(crate) const COMMAND: &str = "agent_telemetry.command";
pub(crate) const URL: &str = "agent_telemetry.url";
pub(crate) const SEARCH_PATTERN: &str = "agent_telemetry.search_pattern";
pub(crate) const DURATION_MS: &str = "agent_telemetry.duration_ms";
/// The hook's own time on the event it recorded (`metadata.hook_us`), in µs.
pub(crate) const HOOK_DURATION_US: &str = "agent_telemetry.hook.duration_us";
/// Where a span's token totals come from: `transcript` (the model calls) or `hook`.
pub(crate) const USAGE_SOURCE: &str = "agent_telemetry.usage.source";
pub(crate) const USAGE_REQUESTS: &str = "agent_telemetry.usage.requests";
pub(crate) const REQUEST_ID: &str = "agent_telemetry.request_id";
pub(crate) const COST_USD: &str = "agent_telemetry.cost.usd";
pub(crate) const COST_PRICE_TABLE: &str = "agent_telemetry.cost.price_table";
/// Model calls whose model the price table does not know (their cost is not in `cost.usd`).
pub(crate) const COST_UNPRICED_REQUESTS: &str = "agent_telemetry.cost.unpriced_requests";
pub(crate) const COMPACT_TRIGGER: &str = "agent_telemetry.compact.trigger";
pub(crate) const COMPACT_PRE_TOKENS: &str = "agent_telemetry.compact.pre_tokens";
pub(crate) const COMPACT_POST_TOKENS: &str = "agent_telemetry.compact.post_tokens";
pub(crate) const COMPACT_DURATION_MS: &str = "agent_telemetry.compact.duration_ms";
/// Which run of a subagent (2 and up: revived by `SendMessage`).
pub(crate) const SUBAGENT_RUN: &str = "agent_telemetry.subagent.run";
pub(crate) const TASK_ID: &str = "agent_telemetry.task.id";
pub(crate) const TASK_SUBJECT: &str = "agent_telemetry.task.subject";
/// On the call that completed a task: the agent that created it (`main`: the main agent).
pub(crate) const TASK_CREATED_BY_AGENT: &str = "agent_telemetry.task.created_by_agent";
/// A call Claude Code never ran (only PostToolBatch names it: an unknown or unavailable tool).
pub(crate) const TOOL_NOT_RUN: &str = "agent_telemetry.tool.not_run";
/// The Claude worktree a session ran in, and its branch.
pub(crate) const WORKTREE: &str = "agent_telemetry.worktree";
pub(crate) const GIT_BRANCH: &str = "agent_telemetry.git.branch";
pub(crate) const INCOMPLETE: &str = "agent_telemetry.span.incomplete";
pub(crate) const INCOMPLETE_REASON: &str = "agent_telemetry.span.incomplete_reason";
pub(crate) const RUN: &str = "agent_telemetry.session.run";
pub(crate) const SOURCE: &str = "agent_telemetry.session.source";
pub(crate) const END_REASON: &str = "agent_telemetry.session.end_reason";
pub(crate) const PARENT_SESSION: &str = "agent_telemetry.parent_session";
pub(crate) const WORKFLOW: &str = "agent_telemetry.workflow.id";
pub(crate) const PROMPT: &str = "agent_telemetry.prompt";
pub(crate) const SLASH_COMMAND: &str = "agent_telemetry.slash_command";
pub(crate) const LINES_ADDED: &str = "agent_telemetry.lines_added";
pub(crate) const LINES_REMOVED: &str = "agent_telemetry.lines_removed";
pub(crate) const BACKGROUND: &str = "agent_telemetry.subagent.background";
pub(crate) const SPAWN_DEPTH: &str = "agent_telemetry.subagent.spawn_depth";
pub(crate) const PARENT_AGENT_ID: &str = "agent_telemetry.subagent.parent_agent_id";
pub(crate) const PERMISSION_MODE: &str = "agent_telemetry.permission_mode";
