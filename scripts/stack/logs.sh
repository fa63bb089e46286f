#!/usr/bin/env bash
# Show the stack's logs. Usage: logs.sh [-f] [collector|jaeger|victorialogs ...]
#   default: the last AGENT_TELEMETRY_LOG_LINES (50) lines of each; -f follows them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
follow=0
args=()
for a in "$@"; do
  if [[ "$a" == "-f" ]]; then follow=1; else args+=("$a"); fi
done
if [[ ${#args[@]} -eq 0 ]]; then services=(victorialogs jaeger collector); else mapfile -t services < <(select_services "${args[@]}"); fi
files=()
for s in "${services[@]}"; do
  f="$AT_LOGS/$s.log"
  [[ -f "$f" ]] && files+=("$f") || log "no log yet for $s ($f)"
done
[[ ${#files[@]} -eq 0 ]] && exit 0
if [[ $follow -eq 1 ]]; then exec tail -n "${AGENT_TELEMETRY_LOG_LINES:-50}" -F "${files[@]}"; fi
tail -n "${AGENT_TELEMETRY_LOG_LINES:-50}" "${files[@]}"
