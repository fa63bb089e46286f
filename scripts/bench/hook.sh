#!/usr/bin/env bash
# `just bench-hook`: time the whole `agent-telemetry hook` process on the recorded fixture
# payloads against a do-nothing binary (examples/noop.rs) started the same way, and print min,
# median, mean, p95, p99, max, the median ratio (target <= 1.5x) and the binary size.
#
#   scripts/bench/hook.sh [N]        N timed runs of each binary (default 2000)
#
# Environment: AT_BENCH_WARMUP, AT_BENCH_FSYNC=never|always, AT_BENCH_RELAY=off|on,
# AT_BENCH_FIXTURES, AT_BENCH_JSON=FILE (see benches/hook_process.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
export AT_BENCH_N="${1:-${AT_BENCH_N:-2000}}"
# Both binaries from the same (release) profile; their paths as cargo reports them (the build
# names its target, see .cargo/config.toml: target/<host tuple>/release).
exes=$(cargo build --release --quiet --bin agent-telemetry --example noop --message-format=json \
  | python3 -c 'import json,sys; [print(m["target"]["name"], m["executable"]) for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable")]')
export AT_BENCH_HOOK_BIN="${AT_BENCH_HOOK_BIN:-$(awk '$1 == "agent-telemetry" {print $2}' <<<"$exes")}"
export AT_BENCH_NOOP_BIN="${AT_BENCH_NOOP_BIN:-$(awk '$1 == "noop" {print $2}' <<<"$exes")}"
exec cargo bench --quiet --bench hook_process
