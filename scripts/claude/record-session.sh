#!/usr/bin/env bash
# Records a real Claude Code session (offline, scripted model) for replay tests: every hook
# payload, and the transcripts Claude Code wrote, with the temporary root replaced by @ROOT@.
#
#   scripts/claude/record-session.sh NAME SCENARIO "PROMPT" ["RESUME PROMPT"]
#
# Writes tests/data/recordings/NAME/{hooks.jsonl,root/home/.claude/projects/...,meta.json}.
# The CLI is the one scripts/claude/install-cli.sh installs (or CLAUDE_BIN).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1 scenario=$2 prompt=$3 resume=${4:-}
claude=${CLAUDE_BIN:-$(scripts/claude/install-cli.sh | tail -n1)}
tmp=$(mktemp -d) && trap 'kill "${server:-0}" 2>/dev/null; rm -rf "$tmp"' EXIT
root=$(cd "$tmp" && pwd -P)
mkdir -p "$root/home" "$root/project/.claude"
echo "# demo project" > "$root/project/README.md"
hooks="$root/hooks.jsonl"
python3 - "$root/project/.claude/settings.json" "$PWD/tests/scripted_model/record_hook.py" "$hooks" "$PWD/tests/data/claude-code-events.txt" <<'PY'
import json, sys, shlex
settings, hook, log, events = sys.argv[1:]
# WorktreeCreate is left out: a hook there replaces Claude Code's own worktree creation.
names = [l.strip() for l in open(events) if l.strip() and not l.startswith("#") and l.strip() != "WorktreeCreate"] if __import__("os").path.exists(events) else []
if not names:
    names = ["SessionStart","SessionEnd","UserPromptSubmit","PreToolUse","PostToolUse","PostToolUseFailure","PostToolBatch","PermissionRequest","PermissionDenied","Notification","Stop","StopFailure","SubagentStart","SubagentStop","PreCompact","PostCompact","TaskCreated","TaskCompleted","TeammateIdle"]
cmd = f"python3 {shlex.quote(hook)} {shlex.quote(log)}"
json.dump({"hooks": {e: [{"hooks": [{"type": "command", "command": cmd}]}] for e in names}}, open(settings, "w"), indent=2)
PY
python3 tests/scripted_model/server.py --scenario "tests/scenarios/$scenario.json" --port 0 --port-file "$root/port" --log "$root/requests.jsonl" >/dev/null &
server=$!
for _ in $(seq 100); do [ -s "$root/port" ] && break; sleep 0.1; done
run() {
  (cd "$root/project" && env -u AGENT_TELEMETRY_HOME HOME="$root/home" IS_SANDBOX=1 \
    ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$root/port")" ANTHROPIC_API_KEY=sk-ant-scripted-test-0000 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 \
    timeout 300 "$claude" -p "$1" --output-format json --dangerously-skip-permissions "${@:2}")
}
first=$(run "$prompt")
session=$(printf '%s' "$first" | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])')
results="[$first"
if [ -n "$resume" ]; then results="$results,$(run "$resume" --resume "$session")"; fi
results="$results]"
sleep 2 # background agents and the final transcript lines
out="tests/data/recordings/$name"
rm -rf "$out" && mkdir -p "$out/root/home/.claude"
cp -r "$root/home/.claude/projects" "$out/root/home/.claude/"
sed "s#$root#@ROOT@#g" "$hooks" > "$out/hooks.jsonl"
find "$out/root" -name '*.jsonl' -exec sed -i "s#$root#@ROOT@#g" {} +
find "$out/root" -name '*.json' -exec sed -i "s#$root#@ROOT@#g" {} +
version=$("$claude" --version | awk '{print $1}')
printf '%s' "$results" | python3 -c '
import json, sys
r = json.load(sys.stdin)
json.dump({"claude_code": sys.argv[1], "scenario": sys.argv[2], "sessions": [x["session_id"] for x in r],
           "total_cost_usd": [x.get("total_cost_usd") for x in r]}, open(sys.argv[3], "w"), indent=2)
' "$version" "$scenario" "$out/meta.json"
echo "recorded $out: $(wc -l < "$out/hooks.jsonl") hook calls, $(find "$out/root" -name '*.jsonl' | wc -l) transcript(s), Claude Code $version"
