//! Enrich: one hook payload in, one [`JournalRecord`] out (less its chain fields, which the
//! journal sets). This is where an event gets its type, its security signals, its privacy
//! treatment and its redactions.
//!
//! Everything derived from strings (command, paths, prompt, error text) is read from the payload
//! *after* sanitising, so a secret removed from `raw_input` cannot survive in another field.
//! Sizes, hashes and line counts are taken from the original before that.

pub mod changes;
pub mod classify;
pub mod keywords;
pub mod policy;
pub mod privacy;
pub mod redact;
pub mod resources;
pub mod scope;
pub mod usage;

use crate::config::{Config, Scope};
use crate::ids::{span_id, SpanKind, TraceParent};
use crate::payload::Payload;
use crate::record::*;
use policy::{Access, Policy};
use privacy::{sha256_hex, Sanitizer};
use scope::ProjectScope;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What the hook learns from its environment (Claude Code sets most of these).
#[derive(Debug, Clone, Default)]
pub struct HookEnv {
    pub project_dir: Option<PathBuf>,
    pub claude_pid: Option<u32>,
    pub traceparent: Option<String>,
    pub parent_session: Option<String>,
    pub entrypoint: Option<String>,
    pub env_file: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub user: Option<String>,
    pub host: Option<String>,
    /// From `AI_AGENT=claude-code_2-1-328_harness` (the only place Claude Code names its version).
    pub claude_version: Option<String>,
}

impl HookEnv {
    pub fn from_process() -> HookEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        HookEnv {
            project_dir: var("CLAUDE_PROJECT_DIR").map(PathBuf::from),
            claude_pid: var("CLAUDE_PID").and_then(|p| p.parse().ok()),
            traceparent: var("TRACEPARENT"),
            parent_session: var("AGENT_PARENT_SESSION"),
            entrypoint: var("CLAUDE_CODE_ENTRYPOINT"),
            env_file: var("CLAUDE_ENV_FILE").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            user: var("USER").or_else(|| var("LOGNAME")).or_else(user_from_uid),
            host: host_name(),
            claude_version: var("AI_AGENT").and_then(|a| claude_version(&a)),
        }
    }
}

/// `claude-code_2-1-328_harness` → `2.1.328`.
pub fn claude_version(ai_agent: &str) -> Option<String> {
    let rest = ai_agent.strip_prefix("claude-code_")?;
    let v = rest.split('_').next()?;
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'-')).then(|| v.replace('-', "."))
}

/// The user name of our uid from `/etc/passwd` (no NSS: the hook stays free of libc's name
/// service machinery, which also keeps a static build safe).
fn user_from_uid() -> Option<String> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() }.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned()).filter(|s| !s.is_empty())
}

/// Everything enrichment needs besides the payload.
pub struct Enricher<'a> {
    pub config: &'a Config,
    pub policy: &'a Policy,
    pub policy_error: Option<String>,
    pub env: &'a HookEnv,
    /// The project root this event belongs to (see `hook::project_root`).
    pub project_root: Option<PathBuf>,
}

/// Tools whose path argument is written, not read.
fn writes(tool: &str) -> bool {
    matches!(tool, "Write" | "Edit" | "MultiEdit" | "NotebookEdit")
}

impl Enricher<'_> {
    /// Builds the record for raw stdin bytes. Never fails: what cannot be read becomes an
    /// `input_error` on a record that keeps what could be salvaged.
    pub fn record(&self, input: &[u8], now: u64) -> JournalRecord {
        let trimmed = trim_ascii(input);
        if trimmed.is_empty() {
            return self.error_record(input, now, "empty", "no input on stdin".into());
        }
        let parsed = match serde_json::from_slice::<Value>(input) {
            Ok(v) => Ok((v, None)),
            Err(e) if std::str::from_utf8(input).is_err() => {
                // Invalid UTF-8 inside otherwise good JSON: read it with replacement characters.
                let lossy = String::from_utf8_lossy(input);
                match serde_json::from_str::<Value>(&lossy) {
                    Ok(v) => Ok((v, Some("invalid UTF-8 replaced with U+FFFD".to_string()))),
                    Err(_) => Err(("invalid_utf8", format!("not valid UTF-8 and not JSON: {e}"))),
                }
            }
            Err(e) => Err(("invalid_json", format!("not valid JSON: {e}"))),
        };
        match parsed {
            Ok((v @ Value::Object(_), utf8_note)) => {
                let mut r = self.from_payload(v, now);
                if let Some(note) = utf8_note {
                    let err = r.input_error.get_or_insert_with(|| InputError {
                        kind: "invalid_utf8".into(),
                        bytes: input.len() as u64,
                        ..InputError::default()
                    });
                    err.kind = "invalid_utf8".into();
                    err.reason = note;
                    r.level = r.level.max(Level::Warn);
                }
                r
            }
            Ok((other, _)) => {
                let mut r = self.error_record(input, now, "not_an_object", format!("payload is a JSON {}, not an object", json_type(&other)));
                let mut s = Sanitizer::new(&self.config.capture);
                let mut raw = other;
                s.payload(&mut raw);
                r.raw_input = raw;
                r
            }
            Err((kind, reason)) => self.error_record(input, now, kind, reason),
        }
    }

    /// A record for input that is not a payload: the reason, size, hash, a redacted excerpt, and
    /// whatever well-known fields can still be found in the text.
    pub fn error_record(&self, input: &[u8], now: u64, kind: &str, reason: String) -> JournalRecord {
        let text = String::from_utf8_lossy(input);
        let mut s = Sanitizer::new(&self.config.capture);
        let excerpt = (!input.is_empty()).then(|| s.text(&text, 1024));
        let salvage = |k: &str| salvage_field(&text, k).map(|v| s_text(v));
        let hook_event = salvage("hook_event_name").unwrap_or_else(|| "unknown".into());
        let session_id = salvage("session_id");
        let tool_name = salvage("tool_name");
        let cwd = salvage("cwd");
        let mut r = self.base(now, &hook_event, session_id, cwd, tool_name);
        r.event_type = "hook_input_error".into();
        r.level = Level::Warn;
        r.input_error = Some(InputError {
            kind: kind.into(),
            reason,
            bytes: input.len() as u64,
            sha256: (!input.is_empty()).then(|| sha256_hex(input)),
            excerpt,
            fields: Vec::new(),
        });
        self.finish_security(&mut r, Vec::new(), &s);
        r
    }

    fn base(&self, now: u64, hook_event: &str, session_id: Option<String>, cwd: Option<String>, tool_name: Option<String>) -> JournalRecord {
        let cfg = self.config;
        let env = self.env;
        let mut r = JournalRecord {
            timestamp: crate::timefmt::rfc3339_nanos(now),
            time_unix_nano: now,
            hook_event: hook_event.to_string(),
            event_type: "hook_event".into(),
            project_path: self.project_root.as_ref().map(|p| p.display().to_string()),
            project_name: self
                .project_root
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            cwd,
            tool_name,
            telemetry_enabled: true,
            ..JournalRecord::default()
        };
        r.metadata = Metadata {
            telemetry_version: TELEMETRY_VERSION.into(),
            user_id: env.user.clone(),
            host_name: env.host.clone(),
            scope: match cfg.scope.enabled {
                Scope::All => "user".into(),
                _ => "project".into(),
            },
            claude_version: env.claude_version.clone(),
            entrypoint: env.entrypoint.clone(),
            permission_mode: None,
            content_captured: cfg.capture.content,
            config_error: match (&cfg.error, &self.policy_error) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
        };
        let parent_session = env.parent_session.clone().filter(|p| Some(p) != session_id.as_ref());
        r.agent_context = AgentContext {
            fleet_agent_id: cfg.agent.id.clone().or_else(|| match (&env.user, &env.host) {
                (Some(u), Some(h)) => Some(format!("{u}@{h}")),
                _ => None,
            }),
            agent_group: cfg.agent.group.clone(),
            agent_role: cfg.agent.role.clone().or_else(|| {
                Some(if parent_session.is_some() { "delegate" } else { "primary" }.into())
            }),
            instance_id: env.claude_pid.map(|pid| format!("{}:{pid}", env.host.as_deref().unwrap_or("localhost"))),
            ..AgentContext::default()
        };
        r.session_context = SessionContext {
            session_id: session_id.clone(),
            parent_session,
            // A traceparent naming this very session's span is our own, echoed back: not a parent.
            traceparent: env
                .traceparent
                .as_deref()
                .and_then(TraceParent::parse)
                .filter(|t| session_id.as_deref().is_none_or(|s| t.span_id != span_id(SpanKind::Session, s)))
                .map(|t| t.render()),
            ..SessionContext::default()
        };
        r.session_id = session_id;
        r.resource_usage = env.claude_pid.and_then(resources::claude_process);
        r
    }

    /// The normal path: a payload object.
    pub fn from_payload(&self, mut v: Value, now: u64) -> JournalRecord {
        let p = Payload::new(&v);
        let hook_event = p.event().unwrap_or("unknown").to_string();
        let tool = p.tool_name().map(str::to_string);
        let mut r = self.base(
            now,
            &hook_event,
            p.str("session_id").map(str::to_string),
            p.str("cwd").map(str::to_string),
            tool.clone(),
        );
        let cwd = r.cwd.as_deref().map(PathBuf::from).or_else(|| self.project_root.clone()).unwrap_or_else(|| PathBuf::from("/"));
        r.metadata.permission_mode = p.str("permission_mode").map(str::to_string);
        r.session_context.prompt_id = p.str("prompt_id").map(str::to_string);
        r.session_context.source = p.str("source").or_else(|| p.str("reason")).map(str::to_string);
        if let Some(agent_id) = p.str("agent_id") {
            r.agent_context.agent_id = Some(agent_id.to_string());
            r.agent_context.agent_role = self.config.agent.role.clone().or(Some("subagent".into()));
        }
        r.agent_context.agent_type = p.str("agent_type").map(str::to_string);
        if let (Some(agent_id), Some(transcript)) = (p.str("agent_id"), p.str("transcript_path")) {
            if hook_event.starts_with("Subagent") {
                subagent_meta(&mut r.agent_context, transcript, agent_id);
            }
        }

        // From the original, before sanitising: sizes, hashes, line counts, tool outcome.
        let is_tool_event = crate::event::HookEvent::parse(&hook_event).is_tool_event();
        if is_tool_event || p.str("tool_use_id").is_some() {
            let response = p.get("tool_response");
            r.tool_context = Some(ToolContext {
                tool_name: tool.clone(),
                tool_use_id: p.str("tool_use_id").map(str::to_string),
                duration_ms: p.u64("duration_ms"),
                success: match hook_event.as_str() {
                    "PostToolUse" => Some(true),
                    "PostToolUseFailure" => Some(false),
                    _ => None,
                },
                error: None,
                is_interrupt: p.bool("is_interrupt"),
                spawned_agent_id: response.and_then(|r| r.get("agentId")).and_then(Value::as_str).map(str::to_string),
                status: response.and_then(|r| r.get("status")).and_then(Value::as_str).map(str::to_string),
            });
        }
        let (size, sha) = content_facts(&p, tool.as_deref());
        r.action_details.size_bytes = size;
        r.action_details.content_sha256 = sha;
        if hook_event == "PostToolUse" {
            if let Some(resp) = p.get("tool_response") {
                r.change = changes::change_summary(resp, p.get("tool_input"));
            }
        }
        // Tokens of what just ended, while the transcript paths are still the originals.
        r.token_usage = match hook_event.as_str() {
            "Stop" | "StopFailure" => p.str("transcript_path").and_then(|t| usage::from_transcript(t, p.str("prompt_id"))),
            "SubagentStop" => p.str("agent_transcript_path").and_then(|t| usage::from_transcript(t, None)),
            // The whole session so far: complete, unlike Stop's (see usage.rs).
            "SessionEnd" => p.str("transcript_path").and_then(|t| usage::from_transcript(t, None)),
            _ => None,
        };
        p.check_objects(&["tool_input", "effort"]);
        let type_issues = p.type_issues.take();
        let missing_event = p.event().is_none();
        drop(p);

        // Sanitise, then read every string field from the sanitised payload.
        let mut sanitizer = Sanitizer::new(&self.config.capture);
        sanitizer.payload(&mut v);
        let p = Payload::new(&v);
        let input = |k: &str| p.input_str(k).map(str::to_string);
        let d = &mut r.action_details;
        d.file_path = input("file_path").or_else(|| input("notebook_path"));
        d.command = input("command");
        d.search_pattern = input("pattern").or_else(|| input("regex"));
        d.search_path = input("path").filter(|_| matches!(tool.as_deref(), Some("Grep" | "Glob" | "LS")));
        d.url = input("url");
        d.query = input("query");
        d.description = input("description");
        d.subagent_type = input("subagent_type");
        if let Some(t) = tool.as_deref().filter(|t| t.starts_with("mcp__")) {
            let mut parts = t.splitn(3, "__").skip(1);
            d.mcp_server = parts.next().map(str::to_string);
            d.mcp_tool = parts.next().map(str::to_string);
        }
        r.session_context.transcript_path = p.str("transcript_path").map(str::to_string);
        if let Some(tc) = r.tool_context.as_mut() {
            tc.error = p.str("error").map(str::to_string);
        }
        if let (Some(change), true) = (r.change.as_mut(), self.config.capture.content) {
            change.diff = p.get("tool_response").and_then(changes::render_diff);
        }
        let prompt = p.str("prompt");
        r.event_type = classify::event_type(&hook_event, tool.as_deref(), prompt).into();
        r.command_context = match hook_event.as_str() {
            "UserPromptExpansion" => changes::expansion_command(&v).or_else(|| prompt.and_then(changes::slash_command)),
            "UserPromptSubmit" => prompt.and_then(changes::slash_command),
            _ => None,
        };

        // Security signals.
        let mut findings = Vec::new();
        self.check_paths(&mut r, &cwd, tool.as_deref(), &mut findings);

        if !type_issues.is_empty() || missing_event {
            let mut fields = type_issues;
            if missing_event && !fields.iter().any(|f| f == "hook_event_name") {
                fields.push("hook_event_name".into());
            }
            r.input_error = Some(InputError {
                kind: "unexpected_types".into(),
                reason: format!("fields missing or of an unexpected type: {}", fields.join(", ")),
                fields,
                ..InputError::default()
            });
            r.level = Level::Warn;
        }
        if hook_event == "PostToolUseFailure" {
            r.level = r.level.max(Level::Warn);
        }
        if hook_event == "StopFailure" {
            r.level = Level::Error;
        }
        r.raw_input = v;
        self.finish_security(&mut r, findings, &sanitizer);
        r
    }

    /// Outside-project access and sensitive files, for tool paths and paths in commands.
    fn check_paths(&self, r: &mut JournalRecord, cwd: &Path, tool: Option<&str>, findings: &mut Vec<Finding>) {
        let mut allow = self.config.scope.allow_paths.clone();
        allow.extend(self.policy.allow_paths.iter().cloned());
        let scope = ProjectScope::new(self.project_root.as_deref(), &allow, self.env.home.clone());
        let tool_name = tool.unwrap_or("");
        let d = &mut r.action_details;
        let mut outside = Vec::new();
        let access = if writes(tool_name) { Access::Write } else { Access::Any };
        let target = d.file_path.clone().or_else(|| {
            matches!(tool_name, "Grep" | "Glob" | "LS").then(|| d.search_path.clone().unwrap_or_else(|| ".".into()))
        });
        if let Some(path) = target.filter(|_| r.tool_context.is_some()) {
            let resolved = scope.resolve(&path, cwd);
            let resolved_s = resolved.display().to_string();
            if d.file_path.is_some() {
                d.resolved_path = Some(resolved_s.clone());
                if d.size_bytes.is_none() && !writes(tool_name) {
                    d.size_bytes = std::fs::metadata(&resolved).ok().filter(|m| m.is_file()).map(|m| m.len());
                }
            }
            self.policy.check_path(&resolved_s, access, findings);
            if scope.is_outside(&resolved) {
                let (id, sev) = match (access, d.file_path.is_some()) {
                    (Access::Write, _) => ("outside_project.write", Severity::High),
                    (_, true) => ("outside_project.read", Severity::Medium),
                    (_, false) => ("outside_project.search", Severity::Medium),
                };
                findings.push(outside_finding(id, sev, &resolved_s));
                outside.push(resolved_s);
            }
        }
        if let Some(cmd) = d.command.clone().filter(|_| r.tool_context.is_some()) {
            self.policy.check_command(&cmd, findings);
            for word in scope::command_paths(&cmd) {
                let resolved = scope.resolve(&word, cwd);
                let resolved_s = resolved.display().to_string();
                self.policy.check_path(&resolved_s, Access::Any, findings);
                if scope.is_outside(&resolved) && !outside.contains(&resolved_s) {
                    if !findings.iter().any(|f| f.rule == "outside_project.command") {
                        findings.push(outside_finding("outside_project.command", Severity::Medium, &resolved_s));
                    }
                    outside.push(resolved_s);
                }
            }
        }
        d.outside_project_scope = !outside.is_empty();
        d.outside_paths = outside;
    }

    fn finish_security(&self, r: &mut JournalRecord, mut findings: Vec<Finding>, s: &Sanitizer) {
        if s.redactor.count > 0 {
            findings.push(Finding {
                rule: "secret_exposure.redacted".into(),
                category: "secret_exposure".into(),
                severity: Severity::High,
                action: "alert".into(),
                matched: s.redactor.kinds.join(","),
                description: "a secret in the input was redacted before storage".into(),
            });
        }
        let sec = &mut r.security;
        sec.outside_project_scope = r.action_details.outside_project_scope;
        sec.sensitive_access = findings.iter().any(|f| f.category == "sensitive_file");
        sec.risk = findings.iter().map(|f| f.severity).max();
        sec.redactions = s.redactor.count;
        sec.redaction_kinds = s.redactor.kinds.iter().map(|k| k.to_string()).collect();
        if let Some(risk) = sec.risk {
            r.level = r.level.max(risk.level());
        }
        sec.findings = findings;
    }
}

fn outside_finding(id: &str, severity: Severity, path: &str) -> Finding {
    Finding {
        rule: id.into(),
        category: "outside_project".into(),
        severity,
        action: "alert".into(),
        matched: path.into(),
        description: "access outside the project root".into(),
    }
}

/// Size and SHA-256 of the content a tool wrote or read, from the original payload.
fn content_facts(p: &Payload, tool: Option<&str>) -> (Option<u64>, Option<String>) {
    let text = match tool {
        Some("Write") => p.input_str("content"),
        Some("Edit") => p.input_str("new_string"),
        Some("Read") => p
            .get("tool_response")
            .and_then(|r| r.get("file"))
            .and_then(|f| f.get("content"))
            .and_then(Value::as_str),
        _ => None,
    };
    match text {
        Some(t) => (Some(t.len() as u64), Some(sha256_hex(t.as_bytes()))),
        None => (None, None),
    }
}

/// Claude Code keeps `<transcript without .jsonl>/subagents/agent-<id>.meta.json` with the
/// spawning `toolUseId` (it exists by SubagentStop, not yet at SubagentStart): the only record of
/// which `Agent` call started a foreground subagent before that call returns.
fn subagent_meta(ctx: &mut AgentContext, transcript: &str, agent_id: &str) {
    if !agent_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return;
    }
    let base = transcript.strip_suffix(".jsonl").unwrap_or(transcript);
    let path = format!("{base}/subagents/agent-{agent_id}.meta.json");
    let Ok(text) = std::fs::read(&path) else { return };
    let Ok(meta) = serde_json::from_slice::<Value>(&text) else { return };
    let s = |k: &str| meta.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string);
    ctx.parent_tool_use_id = s("toolUseId");
    ctx.parent_agent_id = s("parentAgentId");
    ctx.spawn_depth = meta.get("spawnDepth").and_then(Value::as_u64);
}

fn s_text(v: String) -> String {
    let mut r = redact::Redactor::new();
    r.redact(&v).unwrap_or(v)
}

/// Finds `"key": "value"` in text that is not valid JSON (a best effort for error records).
fn salvage_field<'t>(text: &'t str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let at = text.find(&needle)? + needle.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    let v = privacy::cap_str(&rest[..end], 256);
    (!v.is_empty()).then(|| v.to_string())
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map(|i| i + 1).unwrap_or(start);
    &b[start..end.max(start)]
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
