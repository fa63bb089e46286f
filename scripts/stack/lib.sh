# shellcheck shell=bash
# Shared settings and helpers for scripts/stack/*.sh (sourced, not run).
#
# Every setting is an environment variable with a default; docs/stack.md lists them.
# Nothing here downloads anything but Go modules from the Go module proxy (build.sh).

set -euo pipefail

STACK_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AT_ROOT="$(cd "$STACK_LIB_DIR/../.." && pwd)"

# ---- versions (one place; the cache is keyed by them) ---------------------------------
OCB_VERSION="v0.161.0"                    # go.opentelemetry.io/collector/cmd/builder
OTELCOL_VERSION="0.161.0"                 # dist.version in builder-config.yaml
JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_VERSION="v1.76.0"                  # the module's tag for Jaeger v2.13.0 (cmd/jaeger is v2)
VICTORIALOGS_MODULE="github.com/VictoriaMetrics/VictoriaLogs"
VICTORIALOGS_VERSION="v1.51.1-0.20260624061259-dc94972a8708"   # pseudo-versions only
# VictoriaLogs' own requirement (a VictoriaMetrics pseudo-version) is not served by the proxy;
# build.sh swaps in this release, the nearest one the proxy serves that Go 1.26 builds.
VICTORIAMETRICS_LIB_VERSION="v1.148.8"

# ---- where things live -----------------------------------------------------------------
AT_CACHE="${AGENT_TELEMETRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-telemetry}"
AT_BIN="$AT_CACHE/bin"
OCB_BIN="$AT_BIN/ocb-$OCB_VERSION/builder"
# The collector's cache key also holds a digest of builder-config.yaml's component lines, so
# adding or removing a component (or changing a version) builds a new binary, on CI too.
OTELCOL_COMPONENTS_DIGEST="$(grep -E '^[[:space:]]*-[[:space:]]*(gomod:|[^#]*=>)' "$AT_ROOT/builder-config.yaml" | tr -s '[:space:]' ' ' | sha256sum | cut -c1-12)"
OTELCOL_BIN="$AT_BIN/otelcol-agent-telemetry-$OTELCOL_VERSION-$OTELCOL_COMPONENTS_DIGEST/otelcol-agent-telemetry"
JAEGER_BIN="$AT_BIN/jaeger-$JAEGER_VERSION/jaeger"
VICTORIALOGS_BIN="$AT_BIN/victoria-logs-$VICTORIALOGS_VERSION+vm$VICTORIAMETRICS_LIB_VERSION/victoria-logs"

# Stack state: data/ (collector queue, jaeger, victorialogs), run/ (pid files), logs/.
AT_STACK_DIR="${AGENT_TELEMETRY_STACK_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/agent-telemetry/stack}"
AT_DATA="$AT_STACK_DIR/data"
AT_RUN="$AT_STACK_DIR/run"
AT_LOGS="$AT_STACK_DIR/logs"

AT_COLLECTOR_CONFIG="${AGENT_TELEMETRY_COLLECTOR_CONFIG:-$AT_ROOT/otel-collector.yaml}"
AT_JAEGER_CONFIG="${AGENT_TELEMETRY_JAEGER_CONFIG:-$AT_ROOT/stack/jaeger.yaml}"

# ---- ports (loopback by default) -------------------------------------------------------
export AGENT_TELEMETRY_BIND="${AGENT_TELEMETRY_BIND:-127.0.0.1}"
export AGENT_TELEMETRY_OTLP_GRPC_PORT="${AGENT_TELEMETRY_OTLP_GRPC_PORT:-4317}"
export AGENT_TELEMETRY_OTLP_HTTP_PORT="${AGENT_TELEMETRY_OTLP_HTTP_PORT:-4318}"
export AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT="${AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT:-13133}"
export AGENT_TELEMETRY_COLLECTOR_METRICS_PORT="${AGENT_TELEMETRY_COLLECTOR_METRICS_PORT:-8888}"
export AGENT_TELEMETRY_JAEGER_QUERY_PORT="${AGENT_TELEMETRY_JAEGER_QUERY_PORT:-16686}"
export AGENT_TELEMETRY_JAEGER_QUERY_GRPC_PORT="${AGENT_TELEMETRY_JAEGER_QUERY_GRPC_PORT:-16685}"
export AGENT_TELEMETRY_JAEGER_OTLP_GRPC_PORT="${AGENT_TELEMETRY_JAEGER_OTLP_GRPC_PORT:-14317}"
export AGENT_TELEMETRY_JAEGER_OTLP_HTTP_PORT="${AGENT_TELEMETRY_JAEGER_OTLP_HTTP_PORT:-14318}"
export AGENT_TELEMETRY_JAEGER_HEALTH_PORT="${AGENT_TELEMETRY_JAEGER_HEALTH_PORT:-13134}"
export AGENT_TELEMETRY_JAEGER_METRICS_PORT="${AGENT_TELEMETRY_JAEGER_METRICS_PORT:-8889}"
export AGENT_TELEMETRY_VICTORIALOGS_PORT="${AGENT_TELEMETRY_VICTORIALOGS_PORT:-9428}"

# ---- which backends: local servers started by up.sh, and collector exporters -----------
# victorialogs, jaeger: run here and fed by the collector.
# loki, tempo: never run here (AGPL); naming them only switches the collector's exporter on
#              (endpoints AGENT_TELEMETRY_LOKI_ENDPOINT / AGENT_TELEMETRY_TEMPO_OTLP_ENDPOINT).
AT_BACKENDS="${AGENT_TELEMETRY_BACKENDS:-victorialogs,jaeger}"

# Seconds to wait for a service to become healthy, and for a graceful stop before SIGKILL.
AT_START_TIMEOUT="${AGENT_TELEMETRY_START_TIMEOUT:-60}"
AT_STOP_TIMEOUT="${AGENT_TELEMETRY_STOP_TIMEOUT:-30}"

AT_SERVICES=(victorialogs jaeger collector)   # start order; stop order is the reverse

log() { printf '%s\n' "stack: $*" >&2; }
die() { log "error: $*"; exit 1; }

backend_on() { [[ ",$AT_BACKENDS," == *",$1,"* ]]; }

# Services up.sh manages for the current AGENT_TELEMETRY_BACKENDS, in start order.
enabled_services() {
  local s
  for s in "${AT_SERVICES[@]}"; do
    case "$s" in
      collector) echo collector ;;
      *) if backend_on "$s"; then echo "$s"; fi ;;
    esac
  done
}

# Validate a list of service names given on the command line (default: all enabled).
select_services() {
  if [[ $# -eq 0 ]]; then enabled_services; return; fi
  local s
  for s in "$@"; do
    case "$s" in
      collector|jaeger|victorialogs) echo "$s" ;;
      *) die "unknown service '$s' (collector, jaeger, victorialogs)" ;;
    esac
  done
}

# Environment the collector reads (otel-collector.yaml): exporter lists and endpoints.
collector_env() {
  local logs=() traces=()
  backend_on victorialogs && logs+=("otlp_http/victorialogs")
  backend_on loki && logs+=("otlp_http/loki")
  backend_on jaeger && traces+=("otlp_grpc/jaeger")
  backend_on tempo && traces+=("otlp_grpc/tempo")
  backend_on file && { logs+=("file/archive"); traces+=("file/archive"); }
  [[ ${#logs[@]} -eq 0 ]] && logs=(debug)
  [[ ${#traces[@]} -eq 0 ]] && traces=(debug)
  local IFS=,
  export AGENT_TELEMETRY_LOGS_EXPORTERS="${AGENT_TELEMETRY_LOGS_EXPORTERS:-[${logs[*]}]}"
  export AGENT_TELEMETRY_TRACES_EXPORTERS="${AGENT_TELEMETRY_TRACES_EXPORTERS:-[${traces[*]}]}"
  export AGENT_TELEMETRY_VICTORIALOGS_ENDPOINT="${AGENT_TELEMETRY_VICTORIALOGS_ENDPOINT:-http://$AGENT_TELEMETRY_BIND:$AGENT_TELEMETRY_VICTORIALOGS_PORT/insert/opentelemetry}"
  export AGENT_TELEMETRY_JAEGER_OTLP_ENDPOINT="${AGENT_TELEMETRY_JAEGER_OTLP_ENDPOINT:-$AGENT_TELEMETRY_BIND:$AGENT_TELEMETRY_JAEGER_OTLP_GRPC_PORT}"
  export AGENT_TELEMETRY_COLLECTOR_QUEUE_DIR="${AGENT_TELEMETRY_COLLECTOR_QUEUE_DIR:-$AT_DATA/collector/queue}"
  export AGENT_TELEMETRY_ARCHIVE_DIR="${AGENT_TELEMETRY_ARCHIVE_DIR:-$AT_DATA/collector/archive}"
}

service_bin() {
  case "$1" in
    collector) echo "$OTELCOL_BIN" ;;
    jaeger) echo "$JAEGER_BIN" ;;
    victorialogs) echo "$VICTORIALOGS_BIN" ;;
  esac
}

service_data_dir() {
  case "$1" in
    collector) echo "${AGENT_TELEMETRY_COLLECTOR_QUEUE_DIR:-$AT_DATA/collector/queue}" ;;
    jaeger) echo "${AGENT_TELEMETRY_JAEGER_DATA_DIR:-$AT_DATA/jaeger}" ;;
    victorialogs) echo "${AGENT_TELEMETRY_VICTORIALOGS_DATA_DIR:-$AT_DATA/victorialogs}" ;;
  esac
}

# "name=port ..." for status output.
service_ports() {
  case "$1" in
    collector) echo "otlp-grpc=$AGENT_TELEMETRY_OTLP_GRPC_PORT otlp-http=$AGENT_TELEMETRY_OTLP_HTTP_PORT health=$AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT metrics=$AGENT_TELEMETRY_COLLECTOR_METRICS_PORT" ;;
    jaeger) echo "query=$AGENT_TELEMETRY_JAEGER_QUERY_PORT query-grpc=$AGENT_TELEMETRY_JAEGER_QUERY_GRPC_PORT otlp-grpc=$AGENT_TELEMETRY_JAEGER_OTLP_GRPC_PORT otlp-http=$AGENT_TELEMETRY_JAEGER_OTLP_HTTP_PORT health=$AGENT_TELEMETRY_JAEGER_HEALTH_PORT" ;;
    victorialogs) echo "http=$AGENT_TELEMETRY_VICTORIALOGS_PORT" ;;
  esac
}

health_url() {
  local h="http://$AGENT_TELEMETRY_BIND"
  case "$1" in
    collector) echo "$h:$AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT/" ;;
    jaeger) echo "$h:$AGENT_TELEMETRY_JAEGER_QUERY_PORT/api/services" ;;
    victorialogs) echo "$h:$AGENT_TELEMETRY_VICTORIALOGS_PORT/health" ;;
  esac
}

is_healthy() { curl -fsS --max-time 2 -o /dev/null "$(health_url "$1")" 2>/dev/null; }

pid_file() { echo "$AT_RUN/$1.pid"; }

# The pid of a running service, or nothing. A pid file whose process is gone, or is no
# longer our binary (pid reuse), counts as not running.
service_pid() {
  local f pid exe
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ -z "$exe" || "$exe" == "$(service_bin "$1")"* ]] || return 0
  echo "$pid"
}

# Command line of a service (array in the global CMD).
service_cmd() {
  case "$1" in
    collector)
      collector_env
      CMD=("$OTELCOL_BIN" --config "$AT_COLLECTOR_CONFIG")
      # Tenants per agent group: the fragment `agent-telemetry fleet collector-config` writes,
      # merged over the main config (a pipeline per group; see docs/stack.md).
      if [[ -n "${AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG:-}" ]]; then
        [[ -f "$AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG" ]] || die "AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG: no file $AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG"
        CMD+=(--config "$AGENT_TELEMETRY_COLLECTOR_FLEET_CONFIG")
      fi ;;
    jaeger)
      export AGENT_TELEMETRY_JAEGER_DATA_DIR="$(service_data_dir jaeger)"
      CMD=("$JAEGER_BIN" --config "$AT_JAEGER_CONFIG") ;;
    victorialogs)
      CMD=("$VICTORIALOGS_BIN"
        "-httpListenAddr=$AGENT_TELEMETRY_BIND:$AGENT_TELEMETRY_VICTORIALOGS_PORT"
        "-storageDataPath=$(service_data_dir victorialogs)"
        "-retentionPeriod=${AGENT_TELEMETRY_VICTORIALOGS_RETENTION:-400d}"
        "-loggerLevel=${AGENT_TELEMETRY_VICTORIALOGS_LOG_LEVEL:-INFO}") ;;
  esac
}

start_service() {
  local name="$1" pid bin
  pid="$(service_pid "$name")"
  if [[ -n "$pid" ]]; then log "$name already running (pid $pid)"; return 0; fi
  bin="$(service_bin "$name")"
  [[ -x "$bin" ]] || die "$name binary missing: $bin (run: just stack-build)"
  mkdir -p "$AT_RUN" "$AT_LOGS" "$(service_data_dir "$name")"
  service_cmd "$name"
  log "starting $name: ${CMD[*]}"
  # Own session, so a Ctrl-C in the shell that ran `just stack-up` does not reach it.
  (cd "$AT_STACK_DIR" && exec setsid "${CMD[@]}" >>"$AT_LOGS/$name.log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$(pid_file "$name")"
  local deadline=$((SECONDS + AT_START_TIMEOUT))
  until is_healthy "$name"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file "$name")"
      tail -n 30 "$AT_LOGS/$name.log" >&2 || true
      die "$name exited during start-up (log: $AT_LOGS/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$AT_LOGS/$name.log" >&2 || true
      stop_service "$name"
      die "$name not healthy after ${AT_START_TIMEOUT}s (log: $AT_LOGS/$name.log)"
    fi
    sleep 0.2
  done
  log "$name healthy (pid $pid, $(service_ports "$name"))"
}

# SIGTERM, wait up to AT_STOP_TIMEOUT seconds (the collector drains to its persistent
# queue), then SIGKILL.
stop_service() {
  local name="$1" pid
  pid="$(service_pid "$name")"
  if [[ -z "$pid" ]]; then rm -f "$(pid_file "$name")"; log "$name not running"; return 0; fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + AT_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name did not stop within ${AT_STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f "$(pid_file "$name")"
  log "$name stopped"
}
