# agent-telemetry — task recipes.
#
# `just` comes from a registry: `pip install rust-just` (PyPI wheel) or `cargo install just`.
# Run `just --list` for every recipe. Sections:
#   1. local stack  (stack-*): a custom OpenTelemetry Collector, Jaeger v2 and VictoriaLogs,
#      built from the Go module proxy into a per-machine cache and run on loopback.
#      See docs/stack.md for ports, environment variables, data dirs and build times.
#   0. the main job and the tests: demo, demo-stack, build, test, test-slow
#   benchmarks (bench-*) at the end.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Show the recipes.
default:
    @just --list

# ---- 0. the main job and the tests ----------------------------------------------------

# The demo (no servers): the real Claude Code offline with our hook → journal → relay → OTLP files → trace tree.
demo:
    scripts/demo.sh files

# The same through the real collector, Jaeger and VictoriaLogs; prints the queries and URLs.
demo-stack: stack-build
    scripts/demo.sh stack

# Build the release binaries (target/<host tuple>/release/agent-telemetry, static on Linux glibc).
build:
    cargo build --release

# Fast tests: unit, fixture replays, bad input, tamper, concurrency, config checks (no servers).
# The slow-stage tests show here as ignored ("slow stage: <what it needs>"), never as passed.
test:
    cargo test

# Slow stage: the real collector, Jaeger, VictoriaLogs and Claude Code CLI (built or found cached).
# Runs the ignored tests too (--include-ignored); a missing prerequisite fails a test, never skips
# it. Ends with the count of tests that ran, and fails if any reported ignored or none ran.
test-slow: stack-build
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/claude/install-cli.sh >/dev/null
    # The real-CLI tests run on the pinned CLI and on the newest the registry serves.
    newest=$(scripts/claude/newest-version.sh)
    CLAUDE_CODE_VERSION=$newest scripts/claude/install-cli.sh >/dev/null
    scripts/grafana/tools.sh >/dev/null
    log=$(mktemp) && trap 'rm -f "$log"' EXIT
    # Every slow-stage test is in tests/slow (one module per area). e2e_claude's tests share one
    # stack for their process's life, so they run in a process of their own. The fault tests
    # mostly wait (outages, restarts, back-offs): they run beside the others, in a process of
    # their own with their own stacks (each test picks free ports), and their log follows.
    slow() { cargo test --test slow -- --include-ignored --test-threads=1 "$@" 2>&1 | tee -a "$log"; }
    bin=$(cargo test --test slow --no-run --message-format=json 2>/dev/null \
      | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "slow"][0])')
    faults_log=$(mktemp) && trap 'kill "${faults:-}" 2>/dev/null || true; rm -f "$log" "$faults_log"' EXIT
    ( echo "     Running tests/slow/main.rs (faults, beside the rest)"; exec "$bin" --include-ignored --test-threads=1 faults:: ) >"$faults_log" 2>&1 &
    faults=$!
    slow --skip e2e_claude:: --skip faults::
    slow e2e_claude::
    faults_status=0; wait "$faults" || faults_status=$?
    echo "== the fault tests (run beside the others)"
    tee -a "$log" <"$faults_log"
    (( faults_status == 0 )) || { echo "the fault tests failed" >&2; exit 1; }
    echo "== the real-CLI tests again on the newest Claude Code: $newest"
    CLAUDE_CODE_VERSION=$newest slow claude_smoke:: worktree:: http_hook_claude::
    CLAUDE_CODE_VERSION=$newest slow e2e_claude::
    scripts/test-count.sh "slow stage" "$log"

# Counts end to end, verify local and --remote, the relay's RSS every second (table, plot; CSV
# in target/soak-rss.csv). Not in test-slow: ~13 min on 2 cores.
# The soak: N hook-format records (default 1,000,000) through relay, collector, Jaeger, VictoriaLogs.
soak N="1000000": stack-build
    AT_SOAK_EVENTS={{N}} cargo bench --bench soak

# ---- 1. local stack ------------------------------------------------------------------
# Settings are environment variables (defaults in scripts/stack/lib.sh):
#   AGENT_TELEMETRY_CACHE       build cache   (default ${XDG_CACHE_HOME:-~/.cache}/agent-telemetry)
#   AGENT_TELEMETRY_STACK_DIR   data/run/logs (default ${XDG_STATE_HOME:-~/.local/state}/agent-telemetry/stack)
#   AGENT_TELEMETRY_BACKENDS    victorialogs,jaeger[,loki,tempo,file]   (default victorialogs,jaeger)
#   AGENT_TELEMETRY_OTLP_GRPC_PORT=4317  AGENT_TELEMETRY_OTLP_HTTP_PORT=4318
#   AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT=13133  AGENT_TELEMETRY_COLLECTOR_METRICS_PORT=8888
#   AGENT_TELEMETRY_JAEGER_QUERY_PORT=16686  AGENT_TELEMETRY_JAEGER_OTLP_GRPC_PORT=14317
#   AGENT_TELEMETRY_VICTORIALOGS_PORT=9428   AGENT_TELEMETRY_STOP_TIMEOUT=30

# Build (once per machine, cached by version) the collector, Jaeger and VictoriaLogs.
stack-build *ARGS:
    scripts/stack/build.sh {{ARGS}}

# Start the stack (or the named services) and wait until healthy.
stack-up *SERVICES: stack-build
    scripts/stack/up.sh {{SERVICES}}

# Stop the stack (or the named services): SIGTERM, timeout, then SIGKILL. Data is kept.
stack-down *SERVICES:
    scripts/stack/down.sh {{SERVICES}}

# Health, pids, ports, data dirs and queued data; exit 0 only if all are healthy.
stack-status:
    scripts/stack/status.sh

# Show (-f: follow) the services' logs.
stack-logs *ARGS:
    scripts/stack/logs.sh {{ARGS}}

# Check otel-collector.yaml with the built collector (the env defaults and every backend on).
stack-validate: (stack-build "collector")
    #!/usr/bin/env bash
    set -euo pipefail
    source scripts/stack/lib.sh
    "$OTELCOL_BIN" validate --config otel-collector.yaml
    AGENT_TELEMETRY_LOGS_EXPORTERS='[otlp_http/victorialogs, otlp_http/loki, file/archive, debug]' \
    AGENT_TELEMETRY_TRACES_EXPORTERS='[otlp_grpc/jaeger, otlp_grpc/tempo, file/archive, debug]' \
      "$OTELCOL_BIN" validate --config otel-collector.yaml
    echo "otel-collector.yaml: valid"
    # The tenants-per-group fragment (agent-telemetry fleet collector-config), when one is used.
    if [[ -n "${AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG:-}" ]]; then
      "$OTELCOL_BIN" validate --config otel-collector.yaml --config "$AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG"
      echo "otel-collector.yaml + $AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG: valid"
    fi

# ---- bench-hook (fuzzing: scripts/bench/fuzz.sh) -------------------------------------------
# Time the whole hook process on the fixture payloads vs a do-nothing binary: median, p95,
# p99, ratio (target <= 1.2x) and binary size. N = timed runs of each (default 2000).
bench-hook N="2000":
    scripts/bench/hook.sh {{N}}

# The two hook transports: a POST to the relay's http hook endpoint (kept-alive connection) vs
# the command hook's process vs a do-nothing process; median, p95, p99. N = timed runs of each.
bench-http-hook N="1000":
    cargo build --release --quiet --bin agent-telemetry --example noop
    AT_BENCH_N={{N}} cargo bench --quiet --bench http_hook

# The hook vs a do-nothing process vs the seed's bash + jq + curl hook (bench/seed-hook.sh), one
# at a time; then 16 sessions at once (latency and events/s). N = single runs of ours.
bench-compare N="500":
    cargo build --release --quiet --bin agent-telemetry --example noop
    AT_BENCH_N={{N}} cargo bench --quiet --bench hook_compare

# What Claude's user feels: a real session of 216 tool calls with no hook, a do-nothing hook,
# ours, ours over http hooks (wall time, REPS runs of each, interleaved).
bench-claude REPS="3":
    scripts/claude/install-cli.sh >/dev/null
    cargo build --release --quiet --bin agent-telemetry --example noop
    AT_BENCH_REPS={{REPS}} cargo bench --quiet --bench claude_session

# Every benchmark, one after another (tens of minutes; the stack is built if missing).
bench: (bench-hook "1000") (bench-http-hook "500") (bench-compare "500") (bench-claude "3") bench-relay

# ---- bench-relay -----------------------------------------------------------------------------
# Relay events/s from a pre-filled journal of N records (file, gRPC, HTTP to the local stack)
# and hook exit → span in Jaeger latency over K tool calls (median, p95).
bench-relay N="50000" K="50":
    scripts/bench/relay.sh {{N}} {{K}}

# ---- bench-sizing ----------------------------------------------------------------------------
# What one agent sends per signal (events, log records, spans, OTLP bytes raw and gzip), from the
# recorded real sessions; docs/deployment.md's sizing model.
bench-sizing: stack-build
    cargo build --release --bin agent-telemetry
    scripts/bench/sizing.sh

# ---- bench-rate --------------------------------------------------------------------------------
# Extra flags after DIR: --json, --idle MIN (default 5), --min-active MIN (default 5).
# Per session, and the fleet's median / p90 with what an agent sends per hour at that rate:
# hook events per active agent-hour from Claude Code's transcripts (default ~/.claude/projects).
bench-rate DIR="" *FLAGS="":
    cargo bench --quiet --bench agent_rate -- {{ if DIR == "" { "" } else { quote(DIR) } }} {{FLAGS}}

# ---- bench-forensics ------------------------------------------------------------------------
# A generated journal of RECORDS records (many sessions, subagents, child sessions, findings),
# then the index build, its size and the forensics queries through the release binary.
# The target size: `just bench-forensics 10000000` (about 40 min on 2 cores).
bench-forensics RECORDS="1000000":
    cargo bench --bench forensics -- {{RECORDS}}

# ---- bench-live ----------------------------------------------------------------------------
# `watch` and `top` on a generated journal of RECORDS records through the release binary: watch's
# start at the end, its catch-up rate, top's first screen and peak memory (top runs in tmux).
bench-live RECORDS="1000000":
    cargo bench --bench live -- {{RECORDS}}

# ---- bench-fleet ----------------------------------------------------------------------------
# The fleet at full size: 20 agents (3 real Claude Code sessions, 17 synthetic) and N hook events
# through one relay, the collector with tenants, Jaeger and VictoriaLogs (~400 s at 100,000 on 2
# cores). The slow stage runs the same test at 10,000.
bench-fleet N="100000": stack-build
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/claude/install-cli.sh >/dev/null
    AT_FLEET_EVENTS={{N}} cargo test --release --test slow fleet_scale:: -- --include-ignored --nocapture --test-threads=1
