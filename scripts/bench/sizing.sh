#!/usr/bin/env bash
# `just bench-sizing`: what one agent sends, per signal, from the recorded real sessions
# (tests/data/recordings/*: the Claude Code CLI's own hook calls and transcripts). Each session
# is replayed through the hook into a fresh data dir, exported by `relay --once` over OTLP/gRPC
# to the project's collector build with file exporters in OTLP protobuf, and measured:
# hook events, journal bytes, log records and spans, and their OTLP protobuf bytes (raw and
# gzip -6, what the collector's exporters send). docs/deployment.md turns these into the sizing
# model. Needs the collector build (just stack-build) and python3.
#
#   scripts/bench/sizing.sh            AGENT_TELEMETRY_BIN: the binary (default: the release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
BIN="${AGENT_TELEMETRY_BIN:-}"
if [[ -z "$BIN" ]]; then
  # Its path as cargo reports it (the build names its target: target/<host tuple>/release).
  BIN=$(cargo build --release --quiet --bin agent-telemetry --message-format=json \
    | python3 -c 'import json,sys; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable")]' | tail -n1)
fi
[[ -x "$BIN" ]] || { echo "sizing: no agent-telemetry binary (cargo build --release)" >&2; exit 1; }
bash scripts/stack/build.sh collector >&2
OTELCOL="$(bash -c 'source scripts/stack/lib.sh; echo "$OTELCOL_BIN"')"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/agent-telemetry-sizing.XXXXXX")"
COLLECTOR_PID=""
cleanup() {
  [[ -n "$COLLECTOR_PID" ]] && kill "$COLLECTOR_PID" 2>/dev/null && wait "$COLLECTOR_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r GRPC HEALTH < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
cat >"$WORK/collector.yaml" <<YAML
extensions:
  health_check:
    endpoint: 127.0.0.1:$HEALTH
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
exporters:
  file/logs:
    path: $WORK/logs.pb
    format: proto
  file/traces:
    path: $WORK/traces.pb
    format: proto
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file/logs]
    traces:
      receivers: [otlp]
      exporters: [file/traces]
YAML
"$OTELCOL" --config "$WORK/collector.yaml" >"$WORK/collector.log" 2>&1 &
COLLECTOR_PID=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$HEALTH/" 2>/dev/null && break; sleep 0.1; done

DATA="$WORK/data"
export HOME="$WORK/home" AGENT_TELEMETRY_HOME="$DATA" AGENT_TELEMETRY_RELAY=off
mkdir -p "$HOME"
events=0
for rec in tests/data/recordings/*/; do
  name="$(basename "$rec")"
  r="$WORK/rec/$name"
  mkdir -p "$r"
  cp -r "$rec/root/." "$r/" 2>/dev/null || true
  mkdir -p "$r/project"
  touch "$r/project/.telemetry-enabled"
  # Every hook call, as the CLI made it, with the recording's root at its new place.
  while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    printf '%s' "$line" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["payload"]))' \
      | sed "s#@ROOT@#$r#g" \
      | CLAUDE_PROJECT_DIR="$r/project" "$BIN" hook >/dev/null 2>&1 || true
    events=$((events + 1))
  done <"$rec/hooks.jsonl"
done
AGENT_TELEMETRY_OTLP_ENDPOINT="http://127.0.0.1:$GRPC" AGENT_TELEMETRY_OTLP_PROTOCOL=grpc \
  AGENT_TELEMETRY_SPAN_TIMEOUT_SECS=1 "$BIN" relay --once >/dev/null 2>&1 || true
sleep 2   # the file exporter flushes every second
kill "$COLLECTOR_PID"; wait "$COLLECTOR_PID" 2>/dev/null || true; COLLECTOR_PID=""

python3 - "$WORK" "$events" "$DATA" <<'PY'
import gzip, os, sys
work, events, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def varint(b, i):
    n = s = 0
    while True:
        c = b[i]; i += 1
        n |= (c & 0x7F) << s; s += 7
        if c < 0x80: return n, i

def fields(b):
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        wt = key & 7
        if wt == 2:
            l, i = varint(b, i); out.append((key >> 3, b[i:i+l])); i += l
        elif wt == 0: _, i = varint(b, i)
        elif wt == 1: i += 8
        elif wt == 5: i += 4
        else: raise ValueError(wt)
    return out

def count(path, inner):  # messages: 4-byte big-endian length + an Export*ServiceRequest
    raw = open(path, 'rb').read() if os.path.exists(path) else b''
    i, n, body = 0, 0, b''
    while i + 4 <= len(raw):
        l = int.from_bytes(raw[i:i+4], 'big'); m = raw[i+4:i+4+l]; i += 4 + l; body += m
        for _, res in fields(m):                      # Resource{Logs,Spans}
            for f, scope in fields(res):
                if f == 2:                            # Scope{Logs,Spans}
                    n += sum(1 for g, _ in fields(scope) if g == 2)
    return n, len(body), len(gzip.compress(body, 6))

journal = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(data, 'journal')) for f in fs)
logs = count(os.path.join(work, 'logs.pb'), 'logRecords')
spans = count(os.path.join(work, 'traces.pb'), 'spans')
print(f"hook events {events}; journal {journal} B ({journal/events:.0f} B/event)")
print(f"logs: {logs[0]} records ({logs[0]/events:.2f}/event), OTLP protobuf {logs[1]} B ({logs[1]/max(logs[0],1):.0f} B/record), gzip {logs[2]} B ({logs[2]/max(logs[0],1):.0f} B/record)")
print(f"spans: {spans[0]} ({spans[0]/events:.2f}/event), OTLP protobuf {spans[1]} B ({spans[1]/max(spans[0],1):.0f} B/span), gzip {spans[2]} B ({spans[2]/max(spans[0],1):.0f} B/span)")
print(f"per hook event: logs {logs[1]/events:.0f} B ({logs[2]/events:.0f} gzip), spans {spans[1]/events:.0f} B ({spans[2]/events:.0f} gzip)")
PY
