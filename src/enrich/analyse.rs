//! The security analysis of one payload, on the *raw* (parsed, unredacted) values: paths in and
//! out of the project, sensitive files, risky commands, writes to this tool's own files. What it
//! returns is redacted by the caller before it is stored — redaction never hides evidence from
//! the analysis (a fake PEM header in a command, `token=x/../../etc/shadow` in a path).

use super::command::{self, PathArg, Tree};
use super::policy::{Access, Policy};
use super::scope::{is_shell_device, ProjectScope};
use crate::record::{Finding, Severity};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What the analysis found.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    pub findings: Vec<Finding>,
    /// The tool's own file path, resolved.
    pub resolved_path: Option<PathBuf>,
    pub outside: Vec<String>,
}

/// This tool's own files: writing them is the agent switching its telemetry off.
pub(crate) struct OwnFiles<'a> {
    pub data_dir: &'a Path,
    pub config_path: &'a Path,
    pub policy_path: &'a Path,
}

pub(crate) struct Analyser<'a> {
    pub policy: &'a Policy,
    pub scope: &'a ProjectScope,
    pub own: OwnFiles<'a>,
    /// `own`, resolved once (data dir, config file, policy file).
    pub own_resolved: std::cell::OnceCell<[PathBuf; 3]>,
}

/// Tools whose path argument is written, not read.
pub(crate) fn writes(tool: &str) -> bool {
    matches!(tool, "Write" | "Edit" | "MultiEdit" | "NotebookEdit")
}

/// `tool_input` keys of MCP tools that usually hold a path.
const MCP_PATH_KEYS: &[&str] = &[
    "path",
    "paths",
    "file",
    "files",
    "file_path",
    "filePath",
    "filename",
    "directory",
    "dir",
    "root",
    "source",
    "destination",
    "target",
    "uri",
    "cwd",
    "workdir",
    "notebook_path",
];

impl Analyser<'_> {
    /// Analyses a payload object. `cwd` is the raw `cwd` (or the project root).
    pub(crate) fn run(&self, v: &Value, cwd: &Path, is_tool_event: bool) -> Analysis {
        let mut a = Analysis::default();
        if !is_tool_event {
            return a;
        }
        let tool = v.get("tool_name").and_then(Value::as_str).unwrap_or("");
        let input = v.get("tool_input").filter(|i| i.is_object());
        let s = |k: &str| input.and_then(|i| i.get(k)).and_then(Value::as_str);
        let file_path = s("file_path").or_else(|| s("notebook_path")).map(clean_path);
        let file_path = file_path.as_deref();
        let access = if writes(tool) { Access::Write } else { Access::Any };

        if let Some(fp) = file_path {
            let resolved = self.scope.resolve(fp, cwd);
            let (id, sev) = if access == Access::Write {
                ("outside_project.write", Severity::High)
            } else {
                ("outside_project.read", Severity::Medium)
            };
            self.check_resolved(&resolved, access, Some((id, sev)), &mut a);
            a.resolved_path = Some(resolved);
        } else if matches!(tool, "Grep" | "Glob" | "LS") {
            let dir = s("path").unwrap_or(".");
            let resolved = self.scope.resolve(dir, cwd);
            self.check_resolved(&resolved, Access::Any, Some(("outside_project.search", Severity::Medium)), &mut a);
            // A Glob pattern with an absolute prefix searches there; a pattern naming a
            // sensitive file (`**/.env`, `/home/u/.ssh/*`) is checked by name.
            for pat in [s("pattern").filter(|_| tool == "Glob"), s("glob")].into_iter().flatten() {
                let prefix: String = pat.split(['*', '?', '[', '{']).next().unwrap_or("").to_string();
                let base = if prefix.starts_with('/') || prefix.starts_with('~') {
                    self.scope.resolve(&prefix, cwd)
                } else {
                    resolved.join(&prefix)
                };
                self.check_resolved(&base, Access::Any, Some(("outside_project.search", Severity::Medium)), &mut a);
                let whole = if pat.starts_with('/') || pat.starts_with('~') {
                    pat.to_string()
                } else {
                    format!("{}/{pat}", resolved.display())
                };
                self.policy.check_path(&whole, Access::Any, &mut a.findings);
            }
        }
        if let Some(url) = s("url").and_then(|u| u.strip_prefix("file://")) {
            let path = url.split(['?', '#']).next().unwrap_or("");
            let path = path.strip_prefix("localhost").unwrap_or(path);
            let resolved = self.scope.resolve(&percent_decode(path), cwd);
            self.check_resolved(&resolved, Access::Any, Some(("outside_project.read", Severity::Medium)), &mut a);
        }
        // Key material and secret manifests in what the tool returned (a `Read` of a file with
        // no telling name, a command's output).
        if let Some(resp) = v.get("tool_response") {
            let mut texts: Vec<&str> = Vec::new();
            response_texts(resp, 0, &mut texts);
            for t in texts {
                self.policy.check_content(t, &mut a.findings);
            }
        }
        if let Some(cmd) = s("command").filter(|_| tool != "Skill") {
            let n = command::normalise(cmd, cwd, self.scope.home.as_deref());
            self.dynamic_names(&n, cmd, &mut a);
            self.policy.check_command_units(&n.units, &mut a.findings);
            let pre = v.get("hook_event_name").and_then(Value::as_str) == Some("PreToolUse");
            let session = v.get("session_id").and_then(Value::as_str);
            if let (true, Some(session)) = (pre, session) {
                self.downloads_across_calls(&n, session, &mut a);
            }
            for p in &n.paths {
                self.check_command_path(p, &mut a);
            }
        }
        if tool.starts_with("mcp__") {
            let lower = tool.to_ascii_lowercase();
            let write = ["write", "edit", "create", "delete", "remove", "move", "rename", "update", "put", "upload"]
                .iter()
                .any(|w| lower.contains(w));
            if let Some(i) = input {
                let mut found = Vec::new();
                mcp_paths(i, None, 0, &mut found);
                for p in found {
                    let resolved = self.scope.resolve(&clean_path(&p), cwd);
                    let access = if write { Access::Write } else { Access::Any };
                    let id = if write {
                        ("outside_project.write", Severity::High)
                    } else {
                        ("outside_project.read", Severity::Medium)
                    };
                    self.check_resolved(&resolved, access, Some(id), &mut a);
                }
            }
        }
        a
    }

    /// Download-then-run over two tool calls of a session (see `enrich::downloads`): the state
    /// file is written only when this command downloads to a file, read only when it runs one.
    fn downloads_across_calls(&self, n: &command::Normalised, session: &str, a: &mut Analysis) {
        let journal_dir = self.own.data_dir.join("journal");
        if !n.executed.is_empty() {
            let earlier = super::downloads::downloaded(&journal_dir, session, &n.executed);
            let units: Vec<String> = earlier.iter().map(|p| command::downloaded_run_unit(p)).collect();
            self.policy.check_command_units(&units, &mut a.findings);
        }
        if !n.downloads.is_empty() {
            super::downloads::remember(&journal_dir, session, &n.downloads);
        }
    }

    fn check_command_path(&self, p: &PathArg, a: &mut Analysis) {
        if is_shell_device(&p.path) {
            return;
        }
        let resolved = self.scope.resolve(&p.path, &p.cwd);
        if p.write {
            self.effect_on_ours(p, &resolved, a);
        }
        if p.find_name.is_some() {
            return;
        }
        let access = if p.write { Access::Write } else { Access::Any };
        let outside = p.explicit.then_some(("outside_project.command", Severity::Medium));
        self.check_resolved(&resolved, access, outside, a);
    }

    /// Our places, resolved, each with the rule a write to it raises: the marker (at the
    /// project root and above), Claude Code's settings (project, user, managed), the data dir
    /// and its journal, the config and policy files.
    fn protected(&self) -> Vec<(PathBuf, &'static str)> {
        const CONFIG: &str = "telemetry_tampering.config_write";
        const OWN: &str = "telemetry_tampering.own_files";
        let mut v = Vec::new();
        let mut claude_dirs = Vec::new();
        if let Some(root) = self.scope.root() {
            for anc in root.ancestors() {
                v.push((anc.join(".telemetry-enabled"), CONFIG));
            }
            claude_dirs.push(root.join(".claude"));
        }
        if let Some(h) = self.scope.home.as_deref() {
            claude_dirs.push(self.scope.resolve_own(h).join(".claude"));
        }
        for d in claude_dirs {
            v.push((d.join("settings.json"), CONFIG));
            v.push((d.join("settings.local.json"), CONFIG));
        }
        for m in
            ["/etc/claude-code/managed-settings.json", "/Library/Application Support/ClaudeCode/managed-settings.json"]
        {
            v.push((PathBuf::from(m), CONFIG));
        }
        if !self.own.data_dir.as_os_str().is_empty() {
            let data = self.scope.resolve_own(self.own.data_dir);
            v.push((data.join("journal"), OWN));
            v.push((data, OWN));
        }
        v.push((self.scope.resolve_own(self.own.config_path), OWN));
        v.push((self.scope.resolve_own(self.own.policy_path), OWN));
        v
    }

    /// A write judged by its effect: a tree deleted, moved or locked that holds one of our
    /// places, a glob or `find` name that can name one, a recursive delete of `/`, a top-level
    /// system directory or the home directory.
    fn effect_on_ours(&self, p: &PathArg, resolved: &Path, a: &mut Analysis) {
        let text = resolved.display().to_string();
        if p.tree == Some(Tree::Delete) && self.is_system_tree(resolved) {
            self.push_finding("risky_command.recursive_delete", &text, a);
        }
        let glob = p.path.contains(['*', '?', '[']);
        if p.tree.is_none() && !glob && p.find_name.is_none() {
            return;
        }
        for (place, rule) in self.protected() {
            let hit = match &p.find_name {
                Some(name) => super::dark::find_name_reaches(resolved, name, &place),
                None if glob => super::dark::glob_reaches(resolved, &place, p.tree.is_some()),
                None => place.starts_with(resolved),
            };
            if hit {
                self.push_finding(rule, &place.display().to_string(), a);
            }
        }
    }

    /// `/`, a directory right under it (but the temporary ones), a second-level system
    /// directory (`/usr/lib`, `/var/log`, `/System/Library`), the home directory or above it.
    fn is_system_tree(&self, r: &Path) -> bool {
        let comps: Vec<String> = r.iter().skip(1).map(|c| c.to_string_lossy().to_ascii_lowercase()).collect();
        let home = self.scope.home.as_deref().map(|h| self.scope.resolve_own(h));
        let system = match comps.as_slice() {
            [] => true,
            [top] => top != "tmp",
            [top, second] => {
                matches!(top.as_str(), "usr" | "system" | "library" | "home" | "users")
                    || (top == "var" && !matches!(second.as_str(), "tmp" | "folders"))
                    || (top == "private" && matches!(second.as_str(), "etc" | "var"))
            }
            _ => false,
        };
        system || home.is_some_and(|h| h.starts_with(r))
    }

    /// A finding judged by effect, with the policy's severity and action for the rule (none if
    /// the policy switched it off); `telemetry_tampering.own_files` is always on.
    fn push_finding(&self, rule: &str, matched: &str, a: &mut Analysis) {
        if a.findings.iter().any(|f| f.rule == rule) {
            return;
        }
        let f = if rule == "telemetry_tampering.own_files" {
            Some(Finding {
                rule: rule.into(),
                category: "telemetry_tampering".into(),
                severity: Severity::High,
                action: "alert".into(),
                matched: matched.to_string(),
                description: "the agent writes this tool's data dir, config or policy".into(),
            })
        } else {
            self.policy.finding(rule, matched)
        };
        a.findings.extend(f);
    }

    /// Names built at run time by a destructive primitive (interpreter one-liners, command
    /// substitutions, text piped to `xargs rm`): read every way the text can stand for a name;
    /// one that is, or may be, ours is tampering.
    fn dynamic_names(&self, n: &command::Normalised, raw: &str, a: &mut Analysis) {
        if n.dynamic.is_empty() {
            return;
        }
        let data = (!self.own.data_dir.as_os_str().is_empty())
            .then(|| super::dark::squash(&self.own.data_dir.display().to_string()))
            .filter(|d| d.len() >= 4);
        for hint in &n.dynamic {
            for r in super::dark::readings(hint) {
                let sq = super::dark::squash(&r);
                if super::dark::CONFIG_FRAGMENTS.iter().any(|f| sq.contains(f)) {
                    self.push_finding("telemetry_tampering.config_write", &r, a);
                }
                if super::dark::OWN_FRAGMENTS.iter().any(|f| sq.contains(f))
                    || data.as_deref().is_some_and(|d| sq.contains(d))
                {
                    self.push_finding("telemetry_tampering.own_files", &r, a);
                }
            }
            // A glob literal (`glob.glob('.tele*')`): what it can name.
            for word in hint.split(|c: char| c.is_whitespace() || "'\"`,()[]".contains(c)) {
                if word.contains(['*', '?']) && word.len() < 512 {
                    let pattern = self.scope.resolve(word, self.scope.root().unwrap_or(Path::new("/")));
                    for (place, rule) in self.protected() {
                        if super::dark::glob_reaches(&pattern, &place, true) {
                            self.push_finding(rule, &place.display().to_string(), a);
                        }
                    }
                }
            }
        }
        if n.dynamic_unresolved {
            let lower = raw.to_ascii_lowercase();
            let data_text = self.own.data_dir.display().to_string().to_ascii_lowercase();
            if super::dark::MENTIONS.iter().any(|m| lower.contains(m))
                || (data_text.len() > 1 && lower.contains(&data_text))
            {
                self.push_finding("telemetry_tampering.config_write", raw, a);
            }
        }
    }

    /// Path rules, this tool's own files, and the project boundary for one resolved path.
    fn check_resolved(&self, resolved: &Path, access: Access, outside: Option<(&str, Severity)>, a: &mut Analysis) {
        let text = resolved.display().to_string();
        self.policy.check_path(&text, access, &mut a.findings);
        if access == Access::Write
            && self.is_own_file(resolved)
            && !a.findings.iter().any(|f| f.rule == "telemetry_tampering.own_files")
        {
            a.findings.push(Finding {
                rule: "telemetry_tampering.own_files".into(),
                category: "telemetry_tampering".into(),
                severity: Severity::High,
                action: "alert".into(),
                matched: text.clone(),
                description: "the agent writes this tool's data dir, config or policy".into(),
            });
        }
        if let Some((id, sev)) = outside {
            if self.scope.is_outside(resolved) && !a.outside.contains(&text) {
                if !a.findings.iter().any(|f| f.rule == id) {
                    a.findings.push(Finding {
                        rule: id.into(),
                        category: "outside_project".into(),
                        severity: sev,
                        action: "alert".into(),
                        matched: text.clone(),
                        description: "access outside the project root".into(),
                    });
                }
                a.outside.push(text);
            }
        }
    }

    fn is_own_file(&self, p: &Path) -> bool {
        let canon = |x: &Path| self.scope.resolve_own(x);
        let [data, config, policy] = self
            .own_resolved
            .get_or_init(|| [canon(self.own.data_dir), canon(self.own.config_path), canon(self.own.policy_path)]);
        (!self.own.data_dir.as_os_str().is_empty() && (p.starts_with(data) || data.starts_with(p)))
            || p == config
            || p == policy
            || config.parent().is_some_and(|d| d.ends_with("agent-telemetry") && p.starts_with(d))
    }
}

/// Strings under path-like keys, and any string that looks like an absolute or home path.
fn mcp_paths(v: &Value, key: Option<&str>, depth: usize, out: &mut Vec<String>) {
    if depth > 8 || out.len() > 64 {
        return;
    }
    match v {
        Value::String(s) => {
            let s = s.strip_prefix("file://").unwrap_or(s);
            let keyed = key.is_some_and(|k| MCP_PATH_KEYS.contains(&k));
            if (keyed && !s.is_empty() && !s.contains("://") && s.len() < 4096)
                || ((s.starts_with('/') || s.starts_with("~/")) && !s.contains(char::is_whitespace))
            {
                out.push(s.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| mcp_paths(i, key, depth + 1, out)),
        Value::Object(m) => m.iter().for_each(|(k, i)| mcp_paths(i, Some(k), depth + 1, out)),
        _ => {}
    }
}

/// The texts of a tool's response that carry content: the response itself when it is a
/// string, and under `stdout`, `stderr`, `content`, `output`, `result`, `text`, `file` (an MCP
/// result's `content: [{text}]` too), a few levels deep and a bounded number.
fn response_texts<'v>(v: &'v Value, depth: usize, out: &mut Vec<&'v str>) {
    if depth > 3 || out.len() >= 16 {
        return;
    }
    match v {
        Value::String(t) => out.push(t),
        Value::Array(items) => items.iter().take(16).for_each(|i| response_texts(i, depth + 1, out)),
        Value::Object(o) => {
            for k in ["stdout", "stderr", "content", "output", "result", "text", "file"] {
                if let Some(x) = o.get(k) {
                    response_texts(x, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// A path as a tool was given it, as the shell would have passed it: surrounding quotes
/// dropped, a leading `$HOME` / `${HOME}` written `~`.
fn clean_path(p: &str) -> String {
    let t = p.trim();
    let t = ['"', '\''].iter().find_map(|q| t.strip_prefix(*q).and_then(|r| r.strip_suffix(*q))).unwrap_or(t);
    for v in ["${HOME}", "$HOME"] {
        if let Some(rest) = t.strip_prefix(v).filter(|r| r.is_empty() || r.starts_with('/')) {
            return format!("~{rest}");
        }
    }
    t.to_string()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
