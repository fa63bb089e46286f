#!/usr/bin/env bash
# Sums the `test result:` lines of a `cargo test` log: prints how many tests ran, passed, failed
# and were ignored, and exits 1 if any failed, any was ignored (a slow-stage test that did not
# run), or none ran.
#
#   scripts/test-count.sh "slow stage" LOG
set -euo pipefail
stage=$1 log=$2
read -r binaries passed failed ignored < <(awk '
  /^test result:/ {
    n++
    for (i = 1; i <= NF; i++) {
      v = $(i - 1) + 0
      if ($i ~ /^passed;?$/) p += v
      if ($i ~ /^failed;?$/) f += v
      if ($i ~ /^ignored;?$/) g += v
    }
  }
  END { printf "%d %d %d %d\n", n, p, f, g }' "$log")
echo "$stage: $((passed + failed)) tests ran in $binaries test binaries: $passed passed, $failed failed, $ignored ignored"
if (( binaries == 0 || passed + failed == 0 )); then
  echo "$stage: FAILED: no test ran" >&2
  exit 1
fi
if (( failed > 0 )); then
  echo "$stage: FAILED: $failed test(s) failed" >&2
  exit 1
fi
if (( ignored > 0 )); then
  echo "$stage: FAILED: $ignored test(s) ignored — the slow stage runs every test:" >&2
  grep -E '^test .* \.\.\. ignored' "$log" >&2 || true
  exit 1
fi
