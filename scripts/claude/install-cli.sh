#!/usr/bin/env bash
# Installs the Claude Code CLI (npm package @anthropic-ai/claude-code, pinned) into a cache outside
# the repository and prints the absolute path of its `claude` executable as the last line on stdout.
#
#   scripts/claude/install-cli.sh            # installs CLAUDE_CODE_VERSION (default below)
#   CLAUDE_CODE_VERSION=latest scripts/claude/install-cli.sh
#
# Cache: ${AGENT_TELEMETRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-telemetry}/claude-code-<version>/
# Idempotent: a second run finds the installed CLI, checks `claude --version` and prints the path.
# The platform binary arrives as an optional dependency (@anthropic-ai/claude-code-<os>-<arch>).
#
# Exit codes: 0 installed (path printed); 3 the registry refused the package; 1 anything else
# (npm missing, install broken, `claude --version` failed). The tests that need the CLI fail with
# the reason either way: a missing CLI is never a skipped test.
set -euo pipefail

version=${CLAUDE_CODE_VERSION:-2.1.328}
cache=${AGENT_TELEMETRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-telemetry}
dir=$cache/claude-code-$version
bin=$dir/node_modules/.bin/claude

log() { echo "install-cli: $*" >&2; }

check() {
  local out
  if ! out=$("$bin" --version 2>&1 </dev/null); then
    log "installed CLI at $bin does not run: $out"
    return 1
  fi
  log "claude --version: $out"
}

mkdir -p "$cache"
# One install at a time (parallel test binaries may all ask at once).
if command -v flock >/dev/null; then
  exec 9>"$cache/.install-claude-code.lock"
  flock 9
fi

if [[ -x $bin && -f $dir/.installed ]]; then
  if check; then
    (cd "$(dirname "$bin")" && echo "$(pwd -P)/claude")
    exit 0
  fi
  log "reinstalling into $dir"
fi

command -v npm >/dev/null || { log "npm not found on PATH; cannot install @anthropic-ai/claude-code@$version"; exit 1; }

# Install into a fresh temporary folder beside the target, then move it in place, so that an
# interrupted install never leaves a half-filled cache folder that looks complete.
tmp=$(mktemp -d "$cache/.claude-code-$version.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo '{"name":"agent-telemetry-claude-cli","private":true}' >"$tmp/package.json"
log "installing @anthropic-ai/claude-code@$version into $dir"
set +e
npm_out=$(cd "$tmp" && npm install --no-audit --no-fund --no-save --loglevel=error \
  --include=optional "@anthropic-ai/claude-code@$version" 2>&1 </dev/null)
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  echo "$npm_out" | tail -n 20 >&2
  # A registry refusal (not found, forbidden, no such version) answers at once with one of these.
  if grep -qiE 'E404|E403|E401|ETARGET|ENOVERSIONS|No matching version|is not in this registry|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|code E4[0-9][0-9]' <<<"$npm_out"; then
    reason=$(grep -m1 -E 'npm (error|ERR!) (notarget|404|403|401|network|errno)' <<<"$npm_out" | sed -E 's/^npm (error|ERR!) //' || true)
    [[ -n $reason ]] || reason=$(grep -m1 -E 'npm (error|ERR!) code' <<<"$npm_out" | sed -E 's/^npm (error|ERR!) //' || true)
    echo "install-cli: npm registry refused @anthropic-ai/claude-code@$version: ${reason:-see npm output above}" >&2
    exit 3
  fi
  log "npm install failed (exit $rc)"
  exit 1
fi
if [[ ! -x $tmp/node_modules/.bin/claude ]]; then
  log "npm installed the package but no node_modules/.bin/claude appeared"
  exit 1
fi
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
touch "$dir/.installed"
check || exit 1
(cd "$(dirname "$bin")" && echo "$(pwd -P)/claude")
