#!/usr/bin/env bash
# Fuzz the hook's payload → record path (fuzz/fuzz_targets/payload.rs) with cargo-fuzz/libFuzzer.
#
#   scripts/bench/fuzz.sh [SECONDS] [extra libFuzzer args...]      (default 600 s)
#
# FUZZ_TARGET=payload (default: any bytes) or payload_json (only JSON objects: the normal path), or one
# part alone: lenient_json (the lenient payload reader), command (the shell normaliser + command rules),
# redact (the redactor: idempotent, capping keeps a prefix of the full redaction).
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz --locked`). Without nightly, RUSTC_BOOTSTRAP=1 lets stable take the
# -Z flags cargo-fuzz passes: FUZZ_TOOLCHAIN=stable scripts/bench/fuzz.sh.
# The corpus (fuzz/corpus/payload/) is seeded from the recorded fixtures and the bad-input corpus;
# crashes land in fuzz/artifacts/payload/ (both gitignored). FUZZ_KEEP_GOING=1 keeps fuzzing after a
# crash (libFuzzer fork mode), FUZZ_JOBS=N runs N processes. Reproduce one with
#   cargo +nightly fuzz run payload fuzz/artifacts/payload/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN="${1:-600}"
shift || true
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
JOBS="${FUZZ_JOBS:-1}"

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
if [ "$TOOLCHAIN" = stable ]; then
  export RUSTC_BOOTSTRAP=1
  TC=()
else
  rustup toolchain list | grep -q "^$TOOLCHAIN" || { echo "toolchain $TOOLCHAIN missing: rustup toolchain install $TOOLCHAIN (or FUZZ_TOOLCHAIN=stable)" >&2; exit 1; }
  TC=("+$TOOLCHAIN")
fi

TARGET="${FUZZ_TARGET:-payload}"
corpus=fuzz/corpus/$TARGET
mkdir -p "$corpus"
fixtures="tests/data/fixtures/claude-code-2.1.328"
if [ -d "$fixtures" ]; then
  python3 - "$fixtures" "$corpus" <<'PY'
import hashlib, json, pathlib, sys
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for f in sorted(src.glob("*.jsonl")):
    for line in f.read_text().splitlines():
        if line.strip():
            b = json.dumps(json.loads(line)["payload"]).encode()
            (dst / ("fixture-" + hashlib.sha1(b).hexdigest())).write_bytes(b)
PY
fi
for f in tests/data/bad-inputs/*; do
  # skip the big ones: libFuzzer's default -max_len is what matters for speed
  [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$corpus/bad-$(basename "$f")"
done

JOBS_ARGS=()
[ "$JOBS" -gt 1 ] && JOBS_ARGS=(-jobs="$JOBS" -workers="$JOBS")
# FUZZ_KEEP_GOING=1: fork mode that records every crash and goes on (to find more than the first).
[ "${FUZZ_KEEP_GOING:-0}" = 1 ] && JOBS_ARGS=(-fork="$JOBS" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
echo "fuzzing $TARGET for ${SECONDS_TO_RUN}s (toolchain $TOOLCHAIN, jobs $JOBS), corpus $(ls "$corpus" | wc -l) files"
exec cargo ${TC[@]+"${TC[@]}"} fuzz run "$TARGET" --fuzz-dir fuzz "$corpus" -- \
  -max_total_time="$SECONDS_TO_RUN" -dict=fuzz/dict/payload.dict -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
  -print_final_stats=1 ${JOBS_ARGS[@]+"${JOBS_ARGS[@]}"} "$@"
