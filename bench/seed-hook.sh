#!/usr/bin/env bash
# The original bash + jq + curl prototype's hook (its "Telemetry Hook" section), written from its
# description for the benchmarks only: bash, a `jq` per field, the `.telemetry-enabled` marker,
# outside-project detection, a local JSONL backup, and a fire-and-forget `curl` push to Loki's
# API (SEED_LOKI_URL; the bench points it at a closed port, so the push fails at once — its
# process start is still paid). Not used by the product.
input=$(cat)
project_dir="${CLAUDE_PROJECT_DIR:-$PWD}"
[ -f "$project_dir/.telemetry-enabled" ] || exit 0
log_dir="${SEED_LOG_DIR:-$HOME/.claude-telemetry}"
mkdir -p "$log_dir"
session_id=$(echo "$input" | jq -r '.session_id // empty')
hook_event=$(echo "$input" | jq -r '.hook_event_name // empty')
tool_name=$(echo "$input" | jq -r '.tool_name // empty')
file_path=$(echo "$input" | jq -r '.tool_input.file_path // .tool_input.path // empty')
command=$(echo "$input" | jq -r '.tool_input.command // empty')
pattern=$(echo "$input" | jq -r '.tool_input.pattern // empty')
case "$tool_name" in
  Read) event_type=file_read ;;
  Write) event_type=file_write ;;
  Edit|MultiEdit) event_type=file_edit ;;
  Bash) event_type=command_execution ;;
  Grep|Glob) event_type=code_search ;;
  *) event_type=tool_usage ;;
esac
outside=false
size=0
if [ -n "$file_path" ]; then
  case "$(realpath -m "$file_path")" in
    "$project_dir"/*|"$project_dir") ;;
    *) outside=true ;;
  esac
  [ -f "$file_path" ] && size=$(stat -c %s "$file_path")
fi
entry=$(jq -n -c \
  --arg ts "$(date -Iseconds)" --arg et "$event_type" --arg he "$hook_event" --arg sid "$session_id" \
  --arg pp "$project_dir" --arg pn "$(basename "$project_dir")" --arg tn "$tool_name" \
  --arg fp "$file_path" --argjson size "$size" --argjson out "$outside" --arg cmd "$command" \
  --arg pat "$pattern" --arg user "${USER:-unknown}" --argjson raw "$input" \
  '{timestamp: $ts, level: "INFO", event_type: $et, hook_event: $he, session_id: $sid,
    project_path: $pp, project_name: $pn, tool_name: $tn, telemetry_enabled: true,
    action_details: {file_path: $fp, size_bytes: $size, outside_project_scope: $out, command: $cmd,
                     search_pattern: $pat, search_path: ""},
    metadata: {claude_version: "unknown", telemetry_version: "1.0.0", user_id: $user, scope: "project"},
    raw_input: $raw}')
echo "$entry" >> "$log_dir/telemetry.jsonl"
payload=$(jq -n -c --arg line "$entry" --arg ts "$(date +%s%N)" \
  '{streams: [{stream: {job: "claude-code", project: "agent-telemetry"}, values: [[$ts, $line]]}]}')
(curl -s -m 2 -X POST -H 'Content-Type: application/json' "${SEED_LOKI_URL:-http://127.0.0.1:3100}/loki/api/v1/push" -d "$payload" >/dev/null 2>&1 &)
exit 0
