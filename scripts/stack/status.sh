#!/usr/bin/env bash
# Health of each service of the local stack: pid, health check, ports, data dir, and what the
# collector still has queued per exporter. Exit status 0 only when every enabled service is
# running and healthy. Usage: status.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
collector_env
rc=0
printf 'state dir: %s\nbackends:  %s\n\n' "$AT_STACK_DIR" "$AT_BACKENDS"
for s in $(enabled_services); do
  pid="$(service_pid "$s")"
  if [[ -z "$pid" ]]; then
    state="STOPPED"; rc=1
  elif is_healthy "$s"; then
    state="healthy"
  else
    state="UNHEALTHY"; rc=1
  fi
  data="$(service_data_dir "$s")"
  size="$(du -sh "$data" 2>/dev/null | cut -f1 || true)"
  printf '%-13s %-9s pid=%-8s %s\n' "$s" "$state" "${pid:--}" "$(service_ports "$s")"
  printf '%-13s data=%s (%s) log=%s\n' "" "$data" "${size:-empty}" "$AT_LOGS/$s.log"
  if [[ "$s" == collector && -n "$pid" ]]; then
    metrics="$(curl -fsS --max-time 2 "http://$AGENT_TELEMETRY_BIND:$AGENT_TELEMETRY_COLLECTOR_METRICS_PORT/metrics" 2>/dev/null || true)"
    queued="$(printf '%s\n' "$metrics" | grep -E '^otelcol_exporter_queue_size\{' |
      sed -E 's/.*exporter="([^"]+)".* ([0-9.e+]+)$/\1=\2/' | sort | tr '\n' ' ')"
    printf '%-13s queued: %s\n' "" "${queued:-unknown (metrics not readable)}"
    printf '%-13s logs -> %s, traces -> %s\n' "" "$AGENT_TELEMETRY_LOGS_EXPORTERS" "$AGENT_TELEMETRY_TRACES_EXPORTERS"
  fi
done
exit $rc
