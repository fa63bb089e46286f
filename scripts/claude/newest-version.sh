#!/usr/bin/env bash
# Prints the newest Claude Code CLI version the npm registry serves (resolved at run time; the
# CLI itself is then installed and cached per version by install-cli.sh). Fails loudly when the
# registry cannot be asked: the slow stage must not silently test only the pinned version.
set -euo pipefail
v=$(npm view @anthropic-ai/claude-code version 2>/dev/null) || { echo "newest-version: npm view @anthropic-ai/claude-code failed (no registry?)" >&2; exit 1; }
[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "newest-version: unexpected answer: $v" >&2; exit 1; }
echo "$v"
