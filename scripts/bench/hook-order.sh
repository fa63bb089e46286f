#!/usr/bin/env bash
# Regenerates link/hook-order.txt: the functions one `agent-telemetry hook` run executes, over
# every recorded fixture payload (as `just bench-hook` runs them), by their linker (mangled)
# names. build.rs hands the file to the linker (`--symbol-ordering-file`), which places those
# functions next to each other: the hook's code is then a few hundred contiguous KiB instead of
# pages scattered over the binary's ~8 MiB of code, and each page fault of the code (with the
# kernel's fault-around) maps more of what runs. Names the linker no longer finds are skipped
# without a warning, so a stale file only loses the effect: rerun this after changes to the hook
# path (needs valgrind).
#
#   scripts/bench/hook-order.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(cargo build --release --quiet --bin agent-telemetry --message-format=json \
  | python3 -c 'import json,sys; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "agent-telemetry"]')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$bin" "$tmp" <<'PY'
import glob, json, os, re, subprocess, sys
binary, tmp = sys.argv[1], sys.argv[2]
home = os.path.join(tmp, "home"); project = os.path.join(home, "projects/demo")
os.makedirs(project)
open(os.path.join(project, ".telemetry-enabled"), "w").close()
names = set()
n = 0
for f in sorted(glob.glob("tests/data/fixtures/*/*.jsonl")):
    for line in open(f):
        if not line.strip():
            continue
        line = line.replace("/home/user/projects/demo", project).replace("/home/user", home)
        v = json.loads(line)
        env = {"PATH": os.environ["PATH"], "HOME": home, "AGENT_TELEMETRY_HOME": os.path.join(tmp, "data"),
               "AGENT_TELEMETRY_FSYNC": "never", "AGENT_TELEMETRY_RELAY": "off"}
        env.update(v.get("env", {}))
        if "CLAUDE_ENV_FILE" in env:
            os.makedirs(os.path.dirname(env["CLAUDE_ENV_FILE"]), exist_ok=True)
        out = os.path.join(tmp, f"cg.{n}")
        subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", binary, "hook"],
                       input=json.dumps(v["payload"]).encode(), env=env, cwd=project, capture_output=True, check=True)
        for l in open(out, errors="replace"):
            # `name'2` is callgrind's name for a recursive call of `name`.
            m = re.match(r"^c?fn=\(\d+\) ([^\s(]+?)(?:'\d+)?$", l.rstrip("\n"))
            if m and not m.group(1).startswith("0x"):
                names.add(m.group(1))
        n += 1
# Valgrind's CPU hides SHA-NI and AVX-512: the SHA-256 and libc string functions a real CPU
# selects at run time are added by name (every variant of each libc function seen, all of
# sha2's SHA-256 and our own, src/ids/sha256.rs).
symbols = [l.split()[-1] for l in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines() if len(l.split()) == 3]
bases = {m.group(1) for n in names if (m := re.match(r"^(__[a-z]+)_(?:sse2|avx2|evex|avx512|avx)", n))}
names |= {s for s in symbols if any(s.startswith(b + "_") for b in bases) or "sha26sha256" in s or "3ids6sha256" in s}
with open("link/hook-order.txt", "w") as o:
    o.write("".join(f"{s}\n" for s in sorted(names)))
print(f"link/hook-order.txt: {len(names)} functions from {n} payloads")
PY
