//! Change tracking and command context (the seed's phase 3): lines a Write/Edit/NotebookEdit
//! added and removed, counted from the tool's `structuredPatch`; slash commands by name and
//! arguments.

use crate::record::{ChangeSummary, CommandContext};
use serde_json::Value;

/// Counts `+`/`-` lines of a `structuredPatch` (an array of hunks with `lines`). For a created
/// file with an empty patch, every line of the content counts as added.
pub(crate) fn change_summary(tool_response: &Value, tool_input: Option<&Value>) -> Option<ChangeSummary> {
    let resp = tool_response.as_object()?;
    let kind = resp.get("type").and_then(Value::as_str).map(str::to_string);
    let mut summary = ChangeSummary { kind, ..ChangeSummary::default() };
    let mut seen_patch = false;
    if let Some(hunks) = resp.get("structuredPatch").and_then(Value::as_array) {
        seen_patch = true;
        summary.hunks = Some(hunks.len() as u64);
        for line in hunks.iter().filter_map(|h| h.get("lines")?.as_array()).flatten() {
            match line.as_str().and_then(|l| l.chars().next()) {
                Some('+') => summary.lines_added += 1,
                Some('-') => summary.lines_removed += 1,
                _ => {}
            }
        }
    }
    if summary.lines_added == 0 && summary.lines_removed == 0 && summary.kind.as_deref() == Some("create") {
        let content = resp.get("content").and_then(Value::as_str).or_else(|| tool_input?.get("content")?.as_str());
        if let Some(c) = content {
            summary.lines_added = c.lines().count() as u64;
            seen_patch = true;
        }
    }
    seen_patch.then_some(summary)
}

/// The patch as unified-diff text (for content capture): hunk headers and their lines.
pub(crate) fn render_diff(tool_response: &Value) -> Option<String> {
    let hunks = tool_response.get("structuredPatch")?.as_array()?;
    let mut out = String::new();
    for h in hunks {
        let n = |k: &str| h.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push_str(&format!("@@ -{},{} +{},{} @@\n", n("oldStart"), n("oldLines"), n("newStart"), n("newLines")));
        for l in h.get("lines").and_then(Value::as_array).into_iter().flatten() {
            if let Some(l) = l.as_str() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `/name args` → the command (with its namespace for `ns:name`, e.g. SuperClaude's `/sc:*`).
pub(crate) fn slash_command(prompt: &str) -> Option<CommandContext> {
    let p = prompt.trim_start();
    let rest = p.strip_prefix('/')?;
    let (name, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    if name.is_empty() || name.contains('/') {
        return None; // a path such as "/etc/hosts is ...", not a command
    }
    Some(CommandContext {
        slash_command: format!("/{name}"),
        arguments: args.to_string(),
        namespace: name.split_once(':').map(|(ns, _)| ns.to_string()),
    })
}

/// UserPromptExpansion (and similar) payloads name the command in a field of their own.
pub(crate) fn expansion_command(payload: &Value) -> Option<CommandContext> {
    let name = ["command_name", "command", "slash_command", "name"].iter().find_map(|k| payload.get(*k)?.as_str())?;
    let args = ["command_args", "arguments", "args"].iter().find_map(|k| payload.get(*k)?.as_str()).unwrap_or("");
    let name = if name.starts_with('/') { name.to_string() } else { format!("/{name}") };
    let bare = name.trim_start_matches('/');
    Some(CommandContext {
        namespace: bare.split_once(':').map(|(ns, _)| ns.to_string()),
        slash_command: name,
        arguments: args.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_patch_lines() {
        let resp = json!({"structuredPatch": [{"oldStart":1,"oldLines":1,"newStart":1,"newLines":2,"lines": ["-hello", "+hello world", "+more", " ctx"]}]});
        let s = change_summary(&resp, None).unwrap();
        assert_eq!((s.lines_added, s.lines_removed, s.hunks), (2, 1, Some(1)));
        assert_eq!(render_diff(&resp).unwrap(), "@@ -1,1 +1,2 @@\n-hello\n+hello world\n+more\n ctx\n");
        let created = json!({"type": "create", "content": "a\nb\n", "structuredPatch": []});
        assert_eq!(change_summary(&created, None).unwrap().lines_added, 2);
        assert!(change_summary(&json!("File created"), None).is_none());
    }

    #[test]
    fn parses_slash_commands() {
        let c = slash_command("/sc:analyze src --focus security").unwrap();
        assert_eq!(c.slash_command, "/sc:analyze");
        assert_eq!(c.arguments, "src --focus security");
        assert_eq!(c.namespace.as_deref(), Some("sc"));
        assert_eq!(slash_command("/compact").unwrap().arguments, "");
        assert!(slash_command("/etc/hosts is odd").is_none());
        assert!(slash_command("hello").is_none());
    }
}
