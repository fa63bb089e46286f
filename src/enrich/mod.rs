//! Enrich: one hook payload in, one [`JournalRecord`] out (less its chain fields, which the
//! journal sets). This is where an event gets its type, its security signals, its privacy
//! treatment and its redactions.
//!
//! Everything derived from strings (command, paths, prompt, error text) is read from the payload
//! *after* sanitising, so a secret removed from `raw_input` cannot survive in another field.
//! Sizes, hashes and line counts are taken from the original before that.

pub(crate) mod analyse;
pub(crate) mod changes;
pub(crate) mod classify;
pub mod command;
pub(crate) mod dark;
pub(crate) mod downloads;
pub(crate) mod files;
pub(crate) mod indirect;
pub(crate) mod keywords;
pub mod policy;
pub mod privacy;
pub(crate) mod probe;
pub mod redact;
pub(crate) mod resources;
pub mod risk;
pub mod scope;
pub(crate) mod sensitive;
pub(crate) mod usage;

use crate::config::{Config, Scope};
use crate::ids::{span_id, SpanRole, TraceParent};
use crate::payload::Payload;
use crate::record::*;
use policy::Policy;
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
    /// `AGENT_TELEMETRY_WORKFLOW_ID`: a coordinator's id for the agents it started together.
    pub workflow_id: Option<String>,
    pub entrypoint: Option<String>,
    pub env_file: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub user: Option<String>,
    pub host: Option<String>,
    /// From `AI_AGENT=claude-code_2-1-328_harness` (the only place Claude Code names its version).
    pub claude_version: Option<String>,
}

impl HookEnv {
    pub(crate) fn from_process() -> HookEnv {
        HookEnv::from_environ(&crate::config::environ::Environ::capture())
    }

    /// [`HookEnv::from_process`] from an environment already read.
    pub(crate) fn from_environ(env: &crate::config::environ::Environ) -> HookEnv {
        let var = |k: &str| env.get(k);
        HookEnv {
            project_dir: var("CLAUDE_PROJECT_DIR").map(PathBuf::from),
            claude_pid: var("CLAUDE_PID").and_then(|p| p.parse().ok()),
            traceparent: var("TRACEPARENT"),
            parent_session: var("AGENT_PARENT_SESSION"),
            workflow_id: var("AGENT_TELEMETRY_WORKFLOW_ID"),
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
pub(crate) fn claude_version(ai_agent: &str) -> Option<String> {
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

impl Enricher<'_> {
    /// Builds the record for raw stdin bytes. Never fails: what cannot be read becomes an
    /// `input_error` on a record that keeps what could be salvaged. The payload is read
    /// leniently (`payload::lenient`): bad surrogates, deep nesting and duplicate keys are
    /// repaired and noted, never a reason to skip the analysis.
    pub fn record(&self, input: &[u8], now: u64) -> JournalRecord {
        let trimmed = trim_ascii(input);
        if trimmed.is_empty() {
            return self.error_record(input, now, "empty", "no input on stdin".into());
        }
        let text = String::from_utf8_lossy(input);
        let utf8_replaced = matches!(text, std::borrow::Cow::Owned(_));
        let body = text.trim_start_matches('\u{FEFF}');
        match crate::payload::lenient::parse(body) {
            Ok((v @ Value::Object(_), repairs)) => {
                let mut r = self.from_payload(v, now, &repairs);
                let mut notes = Vec::new();
                if utf8_replaced {
                    notes.push("invalid UTF-8 replaced with U+FFFD".to_string());
                }
                if repairs.any() {
                    notes.push(repairs.describe());
                }
                if !notes.is_empty() {
                    let kind = if utf8_replaced { "invalid_utf8" } else { "repaired" };
                    let err = r.input_error.get_or_insert_with(|| InputError {
                        kind: kind.into(),
                        bytes: input.len() as u64,
                        ..InputError::default()
                    });
                    if err.kind == "unexpected_types" || err.kind.is_empty() {
                        notes.push(std::mem::take(&mut err.reason));
                    }
                    err.kind = kind.into();
                    err.bytes = input.len() as u64;
                    err.reason = notes.into_iter().filter(|n| !n.is_empty()).collect::<Vec<_>>().join("; ");
                    r.level = r.level.max(Level::Warn);
                }
                r
            }
            Ok((other, _)) => {
                let mut r = self.error_record(
                    input,
                    now,
                    "not_an_object",
                    format!("payload is a JSON {}, not an object", json_type(&other)),
                );
                let mut s = Sanitizer::new(&self.config.capture);
                let mut raw = other;
                s.payload(&mut raw);
                r.raw_input = raw;
                r
            }
            Err(e) if utf8_replaced => {
                self.error_record(input, now, "invalid_utf8", format!("not valid UTF-8 and not JSON: {e}"))
            }
            Err(e) => self.error_record(input, now, "invalid_json", format!("not valid JSON: {e}")),
        }
    }

    /// A record for input that is not a payload: the reason, size, hash, a redacted excerpt, and
    /// whatever well-known fields can still be found in the text.
    pub(crate) fn error_record(&self, input: &[u8], now: u64, kind: &str, reason: String) -> JournalRecord {
        let text = String::from_utf8_lossy(input);
        let mut s = Sanitizer::new(&self.config.capture);
        let excerpt = (!input.is_empty()).then(|| s.text(&text, 1024));
        let salvage = |k: &str| salvage_field(&text, k).map(s_text);
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
            duplicates: Vec::new(),
        });
        self.redact_own_fields(&mut r, &mut s);
        self.finish_security(&mut r, Vec::new(), &s);
        r
    }

    fn base(
        &self,
        now: u64,
        hook_event: &str,
        session_id: Option<String>,
        cwd: Option<String>,
        tool_name: Option<String>,
    ) -> JournalRecord {
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
            config_error: {
                let errors: Vec<&str> = [&cfg.error, &self.policy_error, &cfg.fleet.error]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                (!errors.is_empty()).then(|| errors.join("; "))
            },
            events_lost: None,
            transport: None,
            hook_us: None,
        };
        let parent_session = env.parent_session.clone().filter(|p| Some(p) != session_id.as_ref());
        let who = crate::config::registry::identify(
            cfg.fleet.registry.as_deref(),
            &crate::config::registry::Known {
                explicit_id: cfg.agent.id.as_deref(),
                explicit_type: cfg.agent.kind.as_deref(),
                explicit_group: cfg.agent.group.as_deref(),
                explicit_role: cfg.agent.role.as_deref(),
                project_name: r.project_name.as_deref(),
                project_path: r.project_path.as_deref(),
                user: env.user.as_deref(),
                host: env.host.as_deref(),
                delegated: parent_session.is_some(),
            },
        );
        r.agent_context = AgentContext {
            fleet_agent_id: who.id,
            fleet_agent_type: who.kind,
            agent_group: who.group,
            agent_role: who.role,
            instance_id: env.claude_pid.map(|pid| format!("{}:{pid}", env.host.as_deref().unwrap_or("localhost"))),
            registry_match: Some(who.entry.as_ref().map_or("none", |(_, m)| m.as_str()).into()),
            registry_entry: who.entry.map(|(name, _)| name),
            ..AgentContext::default()
        };
        r.session_context = SessionContext {
            session_id: session_id.clone(),
            parent_session,
            workflow_id: env.workflow_id.clone(),
            // A traceparent naming this very session's span is our own, echoed back: not a parent.
            traceparent: env
                .traceparent
                .as_deref()
                .and_then(TraceParent::parse)
                .filter(|t| session_id.as_deref().is_none_or(|s| t.span_id != span_id(SpanRole::Session, s)))
                .map(|t| t.render()),
            ..SessionContext::default()
        };
        r.session_id = session_id;
        r.resource_usage = env.claude_pid.and_then(resources::claude_process);
        r
    }

    /// The normal path: a payload object. Analysis first, on the raw values; then the payload
    /// is sanitised and every stored field is read from the sanitised copy (or redacted).
    #[allow(
        clippy::wrong_self_convention,
        reason = "names the input a record is built from, with this enricher's rules"
    )]
    pub(crate) fn from_payload(
        &self,
        mut v: Value,
        now: u64,
        repairs: &crate::payload::lenient::Repairs,
    ) -> JournalRecord {
        let p = Payload::new(&v);
        let hook_event = p.event().unwrap_or("unknown").to_string();
        let tool = p.tool_name().map(str::to_string);
        let cwd_of = |v: &Value| {
            v.get("cwd")
                .and_then(Value::as_str)
                .map(PathBuf::from)
                .filter(|c| c.is_absolute())
                .or_else(|| self.project_root.clone())
                .unwrap_or_else(|| PathBuf::from("/"))
        };
        let cwd = cwd_of(&v);
        let is_tool_event = crate::event::HookEvent::parse(&hook_event).is_tool_event();
        let has_tool_context = is_tool_event || p.str("tool_use_id").is_some();

        // 1. The security analysis, on the raw payload and on every value a duplicated key had.
        let mut allow = self.config.scope.allow_paths.clone();
        allow.extend(self.policy.allow_paths.iter().cloned());
        let scope = ProjectScope::new(self.project_root.as_deref(), &allow, self.env.home.clone());
        let policy_path = self.config.policy_path();
        let analyser = analyse::Analyser {
            policy: self.policy,
            scope: &scope,
            own: analyse::OwnFiles {
                data_dir: &self.config.data_dir,
                config_path: &self.config.config_path,
                policy_path: &policy_path,
            },
            own_resolved: Default::default(),
        };
        let mut analysis = analyser.run(&v, &cwd, has_tool_context);
        for (pointer, earlier) in repairs.duplicates.iter().take(8) {
            let mut variant = v.clone();
            if let Some(slot) = variant.pointer_mut(pointer) {
                *slot = earlier.clone();
                let more = analyser.run(&variant, &cwd_of(&variant), has_tool_context);
                for f in more.findings {
                    if !analysis.findings.iter().any(|g| g.rule == f.rule) {
                        analysis.findings.push(f);
                    }
                }
                for o in more.outside {
                    if !analysis.outside.contains(&o) {
                        analysis.outside.push(o);
                    }
                }
            }
        }

        // 2. Facts from the original: sizes, hashes, line counts, tool outcome, token usage.
        let mut facts = JournalRecord::default();
        if has_tool_context {
            let response = p.get("tool_response");
            facts.tool_context = Some(ToolContext {
                tool_name: None,
                tool_use_id: None,
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
        if hook_event == "PostToolUse" {
            if let Some(resp) = p.get("tool_response") {
                facts.change = changes::change_summary(resp, p.get("tool_input"));
            }
        }
        facts.token_usage = match hook_event.as_str() {
            "Stop" | "StopFailure" => {
                p.str("transcript_path").and_then(|t| usage::from_transcript(t, p.str("prompt_id")))
            }
            "SubagentStop" => p.str("agent_transcript_path").and_then(|t| usage::from_transcript(t, None)),
            // The whole session so far: complete, unlike Stop's (see usage.rs).
            "SessionEnd" => p.str("transcript_path").and_then(|t| usage::from_transcript(t, None)),
            _ => None,
        };
        if let (Some(agent_id), Some(transcript)) = (p.str("agent_id"), p.str("transcript_path")) {
            if hook_event.starts_with("Subagent") {
                subagent_meta(&mut facts.agent_context, transcript, agent_id);
            }
        }
        p.check_objects(&["tool_input", "effort"]);
        let type_issues = p.type_issues.take();
        let missing_event = p.event().is_none();
        drop(p);

        // 3. Sanitise; every string field below comes from the sanitised payload.
        let mut sanitizer = Sanitizer::new(&self.config.capture);
        sanitizer.payload(&mut v);
        let p = Payload::new(&v);
        let mut r = self.base(
            now,
            &hook_event,
            p.str("session_id").map(str::to_string),
            p.str("cwd").map(str::to_string),
            p.str("tool_name").map(str::to_string),
        );
        let tool = p.tool_name().map(str::to_string);
        r.metadata.permission_mode = p.str("permission_mode").map(str::to_string);
        r.session_context.prompt_id = p.str("prompt_id").map(str::to_string);
        r.session_context.source = p.str("source").or_else(|| p.str("reason")).map(str::to_string);
        if let Some(agent_id) = p.str("agent_id") {
            r.agent_context.agent_id = Some(agent_id.to_string());
            // A subagent's role: the configured one, else its registry entry's, else `subagent`.
            let registry_role = self
                .config
                .fleet
                .registry
                .as_deref()
                .zip(r.agent_context.registry_entry.as_deref())
                .and_then(|(reg, e)| reg.agents.get(e)?.role.clone());
            r.agent_context.agent_role = self.config.agent.role.clone().or(registry_role).or(Some("subagent".into()));
        }
        r.agent_context.agent_type = p.str("agent_type").map(str::to_string);
        r.agent_context.parent_tool_use_id = facts.agent_context.parent_tool_use_id.take();
        r.agent_context.parent_agent_id = facts.agent_context.parent_agent_id.take();
        r.agent_context.spawn_depth = facts.agent_context.spawn_depth;
        r.tool_context = facts.tool_context.take().map(|mut tc| {
            tc.tool_name = tool.clone();
            tc.tool_use_id = p.str("tool_use_id").map(str::to_string);
            tc.error = p.str("error").map(str::to_string);
            let resp = p.get("tool_response");
            tc.spawned_agent_id = tc
                .spawned_agent_id
                .and(resp.and_then(|r| r.get("agentId")).and_then(Value::as_str).map(str::to_string));
            tc.status = tc.status.and(resp.and_then(|r| r.get("status")).and_then(Value::as_str).map(str::to_string));
            tc
        });
        r.change = facts.change.take();
        r.token_usage = facts.token_usage.take();
        let input = |k: &str| p.input_str(k).map(str::to_string);
        let d = &mut r.action_details;
        d.size_bytes = size;
        d.content_sha256 = sha;
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
        // A worktree session: its name, and its branch (two small reads, worktree sessions only).
        if let Some((project, name)) = r.cwd.as_deref().and_then(|c| crate::worktree::split(Path::new(c))) {
            r.session_context.branch = crate::worktree::branch(&crate::worktree::dir(&project, &name));
            r.session_context.worktree = Some(name);
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
        let mut type_issues = type_issues;
        for k in p.type_issues.take() {
            if !type_issues.contains(&k) {
                type_issues.push(k);
            }
        }
        drop(p);

        // 4. The analysis' results, redacted for storage (copies of payload text: not counted).
        let mut copies = redact::Redactor::new();
        let stored = |s: String, red: &mut redact::Redactor| red.redact(&s).unwrap_or(s);
        if let Some(resolved) = analysis.resolved_path.as_ref().filter(|_| r.action_details.file_path.is_some()) {
            if r.action_details.size_bytes.is_none() && !analyse::writes(tool.as_deref().unwrap_or("")) {
                r.action_details.size_bytes = std::fs::metadata(resolved).ok().filter(|m| m.is_file()).map(|m| m.len());
            }
            r.action_details.resolved_path = Some(stored(resolved.display().to_string(), &mut copies));
        }
        for f in &mut analysis.findings {
            f.matched = stored(std::mem::take(&mut f.matched), &mut copies);
        }
        r.action_details.outside_project_scope = !analysis.outside.is_empty();
        r.action_details.outside_paths = analysis.outside.into_iter().map(|o| stored(o, &mut copies)).collect();

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
        if !repairs.duplicates.is_empty() {
            let err = r.input_error.get_or_insert_with(InputError::default);
            for (pointer, earlier) in &repairs.duplicates {
                let mut shadow = shadow_at(pointer, earlier.clone());
                sanitizer.payload(&mut shadow);
                err.duplicates.push(DuplicateValue {
                    pointer: stored(pointer.clone(), &mut copies),
                    value: value_at(shadow, pointer),
                });
            }
        }
        if hook_event == "PostToolUseFailure" {
            r.level = r.level.max(Level::Warn);
        }
        if hook_event == "StopFailure" {
            r.level = Level::Error;
        }
        r.raw_input = v;
        self.redact_own_fields(&mut r, &mut sanitizer);
        self.finish_security(&mut r, analysis.findings, &sanitizer);
        r
    }

    /// Every string of the record outside `raw_input` (sanitised already) is redacted too: the
    /// fields that do not come from the payload (environment, config, files the hook read) and
    /// any copy of payload text a later change might add (the event name is one). What is found
    /// counts as a redaction. The findings are left out: their texts are the policy's own.
    fn redact_own_fields(&self, r: &mut JournalRecord, s: &mut Sanitizer) {
        let raw = std::mem::take(&mut r.raw_input);
        let findings = std::mem::take(&mut r.security.findings);
        let started = r.started;
        // Nearly every record is clean: only one that holds something to redact is rebuilt.
        if !probe::all_clean(&*r, &mut s.redactor) {
            rebuild_redacted(r, s);
            r.started = started;
        }
        r.raw_input = raw;
        r.security.findings = findings;
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

/// The record rebuilt with every string redacted (a JSON round trip). Out of line: its frame
/// (the whole record deserialised) is entered only by a record that holds a secret.
#[inline(never)]
#[cold]
fn rebuild_redacted(r: &mut JournalRecord, s: &mut Sanitizer) {
    if let Ok(mut v) = serde_json::to_value(&*r) {
        let before = s.redactor.count;
        s.redactor.redact_value(&mut v);
        if s.redactor.count != before {
            if let Ok(back) = serde_json::from_value::<JournalRecord>(v) {
                *r = back;
            }
        }
    }
}

/// Size and SHA-256 of the content a tool wrote or read, from the original payload.
fn content_facts(p: &Payload, tool: Option<&str>) -> (Option<u64>, Option<String>) {
    let text = match tool {
        Some("Write") => p.input_str("content"),
        Some("Edit") => p.input_str("new_string"),
        Some("Read") => {
            p.get("tool_response").and_then(|r| r.get("file")).and_then(|f| f.get("content")).and_then(Value::as_str)
        }
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
    let Ok(text) = files::read_bounded(Path::new(&path), 1 << 20) else { return };
    let Ok(meta) = serde_json::from_slice::<Value>(&text) else { return };
    let s = |k: &str| meta.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string);
    ctx.parent_tool_use_id = s("toolUseId");
    ctx.parent_agent_id = s("parentAgentId");
    ctx.spawn_depth = meta.get("spawnDepth").and_then(Value::as_u64);
}

/// A one-key-per-level object that puts `value` at `pointer` (so the sanitiser treats it as it
/// would at that place in the payload).
fn shadow_at(pointer: &str, value: Value) -> Value {
    let keys: Vec<String> = pointer.split('/').skip(1).map(|k| k.replace("~1", "/").replace("~0", "~")).collect();
    keys.into_iter().rev().fold(value, |acc, k| {
        let mut m = serde_json::Map::new();
        m.insert(k, acc);
        Value::Object(m)
    })
}

fn value_at(mut shadow: Value, pointer: &str) -> Value {
    for k in pointer.split('/').skip(1) {
        let k = k.replace("~1", "/").replace("~0", "~");
        shadow = match shadow {
            Value::Object(mut m) => m.values_mut().next().map(std::mem::take).unwrap_or(Value::Null),
            _ => return Value::Null,
        };
        let _ = k;
    }
    shadow
}

/// A salvaged field, redacted and then capped (a secret straddling the cap is removed whole).
fn s_text(v: String) -> String {
    let mut r = redact::Redactor::new();
    match r.redact_capped(&v, 256) {
        (Some(out), _) => out,
        (None, _) => v,
    }
}

/// Finds `"key": "value"` in text that is not valid JSON (a best effort for error records).
fn salvage_field(text: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let at = text.find(&needle)? + needle.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    // Bounded, but well past the 256 bytes kept: the redaction sees a secret the cap cuts.
    let v = privacy::cap_str(&rest[..end], 64 * 1024);
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
