#!/usr/bin/env bash
# `just bench-relay`: relay throughput (events/s from a pre-filled journal: file exporter, OTLP
# gRPC and HTTP/protobuf to the local stack's collector) and end-to-end latency (hook exit → the
# span queryable in Jaeger, median and p95), with the real collector, Jaeger and VictoriaLogs
# started on free loopback ports (tests/harness/stack.rs; built once into the cache).
#
#   scripts/bench/relay.sh [N] [K]   N journal records (default 50000), K latency samples (default 50)
#
# Environment: RELAY_BENCH_NO_STACK=1 (file exporter only, no servers),
# RELAY_BENCH_KEEP_SEED=DIR (keep a copy of the journal there, to profile `relay --once` by hand).
set -euo pipefail
cd "$(dirname "$0")/../.."
export RELAY_BENCH_EVENTS="${1:-${RELAY_BENCH_EVENTS:-50000}}"
export RELAY_BENCH_LATENCY_EVENTS="${2:-${RELAY_BENCH_LATENCY_EVENTS:-50}}"
cargo bench --bench relay_throughput
if [[ -z "${RELAY_BENCH_NO_STACK:-}" ]]; then
  cargo bench --bench relay_latency
fi
