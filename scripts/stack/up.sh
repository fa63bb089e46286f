#!/usr/bin/env bash
# Start the local stack (or the named services) in the background and wait until each is
# healthy. Backends first, then the collector. Usage: up.sh [collector|jaeger|victorialogs ...]
# Builds nothing: run build.sh (just stack-build) first.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mapfile -t services < <(select_services "$@")
mkdir -p "$AT_DATA" "$AT_RUN" "$AT_LOGS"
for s in "${services[@]}"; do start_service "$s"; done
log "up: ${services[*]} (state in $AT_STACK_DIR)"
