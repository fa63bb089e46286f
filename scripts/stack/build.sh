#!/usr/bin/env bash
# Build the local stack's servers once per machine, from the Go module proxy only, into a cache
# outside the repo keyed by version:
#   $AGENT_TELEMETRY_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/agent-telemetry)/bin/<name>-<version>/
# A second run only checks that the binaries exist. Usage: build.sh [--force] [name...]
# names: collector jaeger victorialogs (default: all three).
# Needs: go >= 1.26 (VictoriaLogs' go.mod says 1.26.4), network access to the Go module proxy.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

force=0
names=()
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    collector|jaeger|victorialogs) names+=("$a") ;;
    *) die "usage: build.sh [--force] [collector|jaeger|victorialogs ...]" ;;
  esac
done
[[ ${#names[@]} -eq 0 ]] && names=(collector jaeger victorialogs)

command -v go >/dev/null || die "go is not installed (the Go toolchain builds the stack)"
mkdir -p "$AT_BIN"

# One build at a time per cache (tests running in parallel, a user in another shell).
exec 9>"$AT_BIN/.build.lock"
flock -w 1800 9 || die "timed out waiting for another build (lock $AT_BIN/.build.lock)"

GO_LDFLAGS="-s -w"

# Run "$@" and record wall time + size next to the binary ($1 = binary path, rest = command).
timed_build() {
  local out="$1"; shift
  local start=$SECONDS
  "$@"
  [[ -x "$out" ]] || die "build did not produce $out"
  local secs=$((SECONDS - start)) size
  size=$(stat -c %s "$out")
  printf 'built %s\nseconds %s\nbytes %s\ngo %s\n' "$(date -u +%FT%TZ)" "$secs" "$size" "$(go env GOVERSION)" \
    >"$(dirname "$out")/BUILD_INFO"
  log "built $(basename "$out") in ${secs}s, $((size / 1024 / 1024)) MiB: $out"
}

build_ocb() {
  [[ -x "$OCB_BIN" ]] && return 0
  log "installing the OpenTelemetry Collector Builder $OCB_VERSION"
  GOBIN="$(dirname "$OCB_BIN")" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
}

build_collector() {
  build_ocb
  local final_dir tmp
  final_dir="$(dirname "$OTELCOL_BIN")"
  tmp="$(mktemp -d "$AT_BIN/.otelcol.XXXXXX")"
  # builder-config.yaml with dist.output_path pointed at a temp dir in the cache.
  sed -E "s#^([[:space:]]*output_path:).*#\1 $tmp/src#" "$AT_ROOT/builder-config.yaml" >"$tmp/builder-config.yaml"
  grep -q "output_path: $tmp/src" "$tmp/builder-config.yaml" || die "could not set output_path"
  timed_build "$tmp/src/otelcol-agent-telemetry" \
    "$OCB_BIN" --config "$tmp/builder-config.yaml" --ldflags "$GO_LDFLAGS"
  mv "$tmp/src/BUILD_INFO" "$tmp/BUILD_INFO" 2>/dev/null || true
  rm -rf "$final_dir"
  mkdir -p "$final_dir"
  mv "$tmp/src/otelcol-agent-telemetry" "$tmp/BUILD_INFO" "$final_dir/"
  rm -rf "$tmp"
}

# Jaeger's go.mod has a replace line (sarama), so `go install module@version` refuses it:
# download the module from the proxy and build it from the module cache instead.
build_jaeger() {
  local dir tmp
  dir="$(go mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || die "go mod download $JAEGER_MODULE@$JAEGER_VERSION failed"
  tmp="$(mktemp -d "$AT_BIN/.jaeger.XXXXXX")"
  timed_build "$tmp/jaeger" \
    bash -c 'cd "$1" && go build -trimpath -ldflags "$2" -o "$3" ./cmd/jaeger' _ "$dir" "$GO_LDFLAGS" "$tmp/jaeger"
  rm -rf "$(dirname "$JAEGER_BIN")"
  mv "$tmp" "$(dirname "$JAEGER_BIN")"
}

# VictoriaLogs' go.mod has no replace lines, but it requires
#   github.com/VictoriaMetrics/VictoriaMetrics v1.145.1-0.20260616130439-5b31a047a5bf
# which the Go module proxy refuses ("403 Forbidden: This module version is not available"),
# so `go install module@version` fails. Instead: download the VictoriaLogs module from the
# proxy, copy it to a temp dir, require the nearest VictoriaMetrics release the proxy serves
# ($VICTORIAMETRICS_LIB_VERSION), tidy and build. Nothing else is changed.
build_victorialogs() {
  local dir tmp
  dir="$(go mod download -json "$VICTORIALOGS_MODULE@$VICTORIALOGS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || die "go mod download $VICTORIALOGS_MODULE@$VICTORIALOGS_VERSION failed"
  tmp="$(mktemp -d "$AT_BIN/.victorialogs.XXXXXX")"
  cp -r "$dir" "$tmp/src"
  chmod -R u+w "$tmp/src"
  timed_build "$tmp/victoria-logs" bash -c '
    set -euo pipefail
    cd "$1"
    go mod edit -require="github.com/VictoriaMetrics/VictoriaMetrics@$2"
    go mod tidy
    go build -trimpath -ldflags "$3" -o "$4" ./app/victoria-logs' \
    _ "$tmp/src" "$VICTORIAMETRICS_LIB_VERSION" "$GO_LDFLAGS" "$tmp/victoria-logs"
  rm -rf "$tmp/src" "$(dirname "$VICTORIALOGS_BIN")"
  mv "$tmp" "$(dirname "$VICTORIALOGS_BIN")"
}

for n in "${names[@]}"; do
  bin="$(service_bin "$n")"
  if [[ $force -eq 0 && -x "$bin" ]]; then
    log "$n cached: $bin"
    continue
  fi
  "build_$n"
done
