#!/usr/bin/env bash
# Stop the local stack (or the named services): SIGTERM, wait up to
# AGENT_TELEMETRY_STOP_TIMEOUT seconds (default 30), then SIGKILL. The collector goes first,
# so what it still holds is written to its persistent queue. Data dirs are kept.
# Usage: down.sh [collector|jaeger|victorialogs ...]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ $# -eq 0 ]]; then services=(collector jaeger victorialogs); else mapfile -t services < <(select_services "$@"); fi
# reverse start order: collector, jaeger, victorialogs
for s in collector jaeger victorialogs; do
  [[ " ${services[*]} " == *" $s "* ]] && stop_service "$s"
done
exit 0
