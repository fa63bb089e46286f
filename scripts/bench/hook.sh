#!/usr/bin/env bash
# `just bench-hook`: time the whole `agent-telemetry hook` process on the recorded fixture
# payloads against a do-nothing binary (examples/noop.rs) started the same way, and print min,
# median, mean, p95, p99, max, the median ratio (target <= 1.2x) and the binary size.
#
#   scripts/bench/hook.sh [N]        N timed runs of each binary (default 2000)
#
# Environment: AT_BENCH_WARMUP, AT_BENCH_FSYNC=never|always, AT_BENCH_RELAY=off|on,
# AT_BENCH_FIXTURES, AT_BENCH_JSON=FILE (see benches/hook_process.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
export AT_BENCH_N="${1:-${AT_BENCH_N:-2000}}"
# Both binaries from the same (release) profile, each built on its own and copied out of target/:
# the hook exactly as `cargo build --release` ships it (an example or a bench also enables the
# dev-dependencies' features, which rebuilds the dependencies under other symbol names and
# the linker's hook function order, link/hook-order.txt, would no longer apply), and `cargo bench`
# rebuilding target/.../agent-telemetry must not change what is measured.
exe() {
  cargo build --release --quiet "$@" --message-format=json \
    | python3 -c 'import json,sys; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable")]' \
    | tail -1
}
out="$PWD/target/bench-hook"
mkdir -p "$out"
if [ -z "${AT_BENCH_HOOK_BIN:-}" ]; then
  cp "$(exe --bin agent-telemetry)" "$out/agent-telemetry"
  export AT_BENCH_HOOK_BIN="$out/agent-telemetry"
fi
if [ -z "${AT_BENCH_NOOP_BIN:-}" ]; then
  cp "$(exe --example noop)" "$out/noop"
  export AT_BENCH_NOOP_BIN="$out/noop"
fi
exec cargo bench --quiet --bench hook_process
