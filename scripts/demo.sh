#!/usr/bin/env bash
# `just demo` / `just demo-stack`: the real Claude Code CLI, offline against a scripted model,
# with our hook installed: hook → journal → relay → OTLP (files by default; the local collector,
# Jaeger and VictoriaLogs with --stack). Then the session as a trace tree, and where the data is.
# If the CLI cannot be installed, recorded sessions are replayed through the hook instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-files}
demo=${AGENT_TELEMETRY_DEMO_DIR:-$root/target/demo}
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

bold "1. Building agent-telemetry (release)"
# From the repository (its .cargo/config.toml applies); the path as cargo reports it.
bin=$(cd "$root" && cargo build --release --quiet --bin agent-telemetry --bin agent-telemetry-forensics --message-format=json \
  | python3 -c 'import json,sys; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "agent-telemetry" and m.get("executable")]')

rm -rf "$demo"
mkdir -p "$demo/project" "$demo/home"
export AGENT_TELEMETRY_HOME=$demo/data
# The demo's own (absent) config file: your ~/.config/agent-telemetry/config.toml does not apply.
export AGENT_TELEMETRY_CONFIG=$demo/config.toml
export AGENT_TELEMETRY_POLL_MS=50
unset AGENT_TELEMETRY_OTLP_ENDPOINT AGENT_TELEMETRY_OTLP_PROTOCOL
if [[ $mode == stack ]]; then
  bold "2. Starting the local stack (collector, Jaeger, VictoriaLogs)"
  "$root/scripts/stack/up.sh"
  export AGENT_TELEMETRY_OTLP_ENDPOINT=http://127.0.0.1:${AGENT_TELEMETRY_OTLP_GRPC_PORT:-4317}
  export AGENT_TELEMETRY_OTLP_PROTOCOL=grpc
fi

project=$demo/project
printf '# Demo project\n\nA project an agent works on while agent-telemetry watches.\n' > "$project/README.md"
git -C "$project" init -q && git -C "$project" add README.md && git -C "$project" -c user.email=demo@example.com -c user.name=demo commit -qm init

bold "3. Installing the hook into $project"
"$bin" install --project "$project"

replay_fixtures() {
  local fixtures=$root/tests/data/fixtures/claude-code-2.1.328
  [[ -d $fixtures ]] || { echo "no recorded sessions found at $fixtures" >&2; exit 1; }
  python3 - "$bin" "$project" "$fixtures" <<'PY'
import json, os, subprocess, sys
bin_, project, fixtures = sys.argv[1:4]
for name in ("tools", "subagents", "child-process", "multi-turn"):
    for line in open(os.path.join(fixtures, name + ".jsonl")):
        rec = json.loads(line)
        payload = json.dumps(rec["payload"]).replace("/home/user/projects/demo", project)
        env = dict(os.environ, CLAUDE_PROJECT_DIR=project)
        subprocess.run([bin_, "hook"], input=payload.encode(), env=env, check=True)
PY
}

cli=""
if cli=$("$root/scripts/claude/install-cli.sh" 2>"$demo/install-cli.log" | tail -n 1) && [[ -x $cli ]]; then
  bold "4. Running the real Claude Code $("$cli" --version 2>/dev/null | head -1) against a scripted model"
  port_file=$demo/model.port
  python3 "$root/tests/scripted_model/server.py" --port 0 --port-file "$port_file" \
    --scenario "$root/demo/scenario.json" --log "$demo/model-requests.jsonl" >"$demo/model.log" 2>&1 &
  model=$!
  trap 'kill $model 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [[ -s $port_file ]] && break; sleep 0.05; done
  (cd "$project" && HOME=$demo/home IS_SANDBOX=1 ANTHROPIC_BASE_URL=http://127.0.0.1:$(cat "$port_file") \
    ANTHROPIC_API_KEY=sk-ant-scripted-demo CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
    DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
    timeout 300 "$cli" -p "DEMO-SESSION: tidy up the project notes" --output-format text \
      --dangerously-skip-permissions) | sed 's/^/   claude> /'
else
  bold "4. The Claude Code CLI could not be installed (see $demo/install-cli.log): replaying recorded sessions through the hook instead"
  replay_fixtures
fi

bold "5. Letting the relay export what it holds"
"$bin" relay --stop >/dev/null || true
"$bin" relay --once

bold "6. The session as a trace"
if [[ $mode == stack ]]; then "$bin" show --journal; else "$bin" show; fi
bold "7. Checks"
"$bin" verify
"$bin" status --project "$project"

bold "Where the data is"
echo "  journal (hash-chained JSONL): $AGENT_TELEMETRY_HOME/journal/"
if [[ $mode == stack ]]; then
  trace=$(python3 - "$AGENT_TELEMETRY_HOME/journal" <<'PY'
import glob, json, sys, hashlib, struct
for f in sorted(glob.glob(sys.argv[1] + "/*.jsonl")):
    for line in open(f):
        r = json.loads(line)
        if r.get("hook_event") == "SessionStart":
            print(r["session_id"]); sys.exit()
PY
)
  tid=$("$bin" show --journal --session "$trace" | awk '/^trace /{print $2; exit}')
  q=${AGENT_TELEMETRY_JAEGER_QUERY_PORT:-16686}; v=${AGENT_TELEMETRY_VICTORIALOGS_PORT:-9428}
  echo "  Jaeger (traces):      http://127.0.0.1:$q/api/traces/$tid"
  echo "  VictoriaLogs (logs):  http://127.0.0.1:$v/select/logsql/query?query=trace_id:$tid"
  echo "                        web UI: http://127.0.0.1:$v/select/vmui/?query=trace_id:$tid"
  echo "  security events:      http://127.0.0.1:$v/select/logsql/query?query=agent_telemetry.security.risk:*"
  for _ in $(seq 60); do
    n=$(curl -fsS "http://127.0.0.1:$q/api/traces/$tid" 2>/dev/null | python3 -c 'import json,sys; print(sum(len(t["spans"]) for t in json.load(sys.stdin)["data"]))' 2>/dev/null || echo 0)
    [[ $n -gt 0 ]] && break; sleep 1
  done
  logs=$(curl -fsS "http://127.0.0.1:$v/select/logsql/query" --data-urlencode "query=trace_id:$tid | stats count() n" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["n"])' 2>/dev/null || echo "?")
  echo "  Jaeger holds $n span(s) and VictoriaLogs $logs log record(s) of trace $tid"
  echo "  stop the stack with: just stack-down"
else
  echo "  OTLP JSON (collector file-exporter format): $AGENT_TELEMETRY_HOME/otlp/"
  echo "  point the relay at a collector: agent-telemetry install --endpoint http://127.0.0.1:4317 (or just demo-stack)"
fi
