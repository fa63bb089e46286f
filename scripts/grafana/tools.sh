#!/usr/bin/env bash
# Installs (once, cached by version) the tools of the offline Grafana/Loki/Tempo checks
# (tests/slow/grafana_offline.rs) and prints where they are, one KEY=VALUE per line:
#   LEZER_CHECK=<dir with lezer-check.mjs and node_modules>   (npm: @grafana/lezer-logql, lezer-traceql)
#   DASHCHECK=<path of the dashcheck binary>                  (Go: grafana-foundation-sdk/go)
# Cache: ${AGENT_TELEMETRY_CACHE:-${XDG_CACHE_HOME:-~/.cache}/agent-telemetry}/grafana-checks/,
# keyed by a hash of the pinned versions and the checkers' sources, so an edit rebuilds.
# Needs node + npm (the npm registry) and go (the Go module proxy). Progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${AGENT_TELEMETRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-telemetry}/grafana-checks"
mkdir -p "$cache"
log() { printf 'grafana-checks: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { log "error: $1 not found ($2)"; exit 1; }; }

key() { cat "$@" | sha256sum | cut -c1-16; }

# ---- the query parsers (npm) ---------------------------------------------------------------
need node "install Node.js (Debian: nodejs npm)"
need npm "install npm (Debian: npm)"
node_key="$(key "$here/package.json" "$here/package-lock.json" "$here/lezer-check.mjs")"
node_dir="$cache/lezer-$node_key"
if [[ ! -f "$node_dir/.done" ]]; then
  log "installing @grafana/lezer-logql and @grafana/lezer-traceql into $node_dir"
  tmp="$(mktemp -d "$cache/.lezer.XXXXXX")"
  cp "$here/package.json" "$here/package-lock.json" "$here/lezer-check.mjs" "$tmp/"
  (cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
  rm -rf "$node_dir"
  mv "$tmp" "$node_dir"
  touch "$node_dir/.done"
fi

# ---- the dashboard checker (Go) ------------------------------------------------------------
need go "install Go"
go_key="$(key "$here/dashcheck/go.mod" "$here/dashcheck/go.sum" "$here/dashcheck/main.go")"
go_dir="$cache/dashcheck-$go_key"
if [[ ! -x "$go_dir/dashcheck" ]]; then
  log "building dashcheck (grafana-foundation-sdk/go) into $go_dir"
  mkdir -p "$go_dir"
  (cd "$here/dashcheck" && GOFLAGS=-mod=readonly go build -trimpath -o "$go_dir/dashcheck.tmp" . >&2)
  mv "$go_dir/dashcheck.tmp" "$go_dir/dashcheck"
fi

echo "LEZER_CHECK=$node_dir"
echo "DASHCHECK=$go_dir/dashcheck"
