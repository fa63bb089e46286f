#!/usr/bin/env python3
# The hook's cost of a fleet registry: the same PreToolUse through three hook processes per
# iteration, alternated (an older binary, this one with no registry, this one with REGISTRY via
# AGENT_TELEMETRY_FLEET); medians of the wall time of subprocess.run. WITH_CONFIG=1 adds a config file.
#   scripts/bench/fleet_registry_cost.py N OLD_BIN NEW_BIN REGISTRY
import subprocess, time, os, sys, tempfile, statistics, json, shutil
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
base, new = sys.argv[2], sys.argv[3]
reg = sys.argv[4]
d = tempfile.mkdtemp()
proj = os.path.join(d, "proj-a"); os.makedirs(proj); open(os.path.join(proj, ".telemetry-enabled"), "w").close()
home = os.path.join(d, "home"); os.makedirs(home)
if os.environ.get("WITH_CONFIG"):
    os.makedirs(os.path.join(home, ".config/agent-telemetry")); open(os.path.join(home, ".config/agent-telemetry/config.toml"), "w").write("[capture]\nprompts = true\n[export]\nendpoint = \"file\"\nbatch_size = 2048\n")
payload = json.dumps({"session_id": "s1", "cwd": proj, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls -la"}, "tool_use_id": "t1"}).encode()
def env(extra):
    e = {"HOME": home, "PATH": "/usr/bin:/bin", "AGENT_TELEMETRY_HOME": os.path.join(d, "data"), "AGENT_TELEMETRY_RELAY": "off", "CLAUDE_PROJECT_DIR": proj}
    e.update(extra); return e
cases = {"base": (base, env({})), "new, no registry": (new, env({})), "new, registry (3 agents, 2 groups)": (new, env({"AGENT_TELEMETRY_FLEET": reg}))}
times = {k: [] for k in cases}
for i in range(N + 20):
    for k, (b, e) in cases.items():
        t = time.perf_counter(); subprocess.run([b, "hook"], input=payload, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); el = time.perf_counter() - t
        if i >= 20: times[k].append(el * 1000)
for k, v in times.items():
    v.sort(); print(f"{k:40s} median {statistics.median(v):.3f} ms  p10 {v[len(v)//10]:.3f}  p90 {v[9*len(v)//10]:.3f}  (n={len(v)})")
# The identity on the last record of the registry case.
j = sorted(os.listdir(os.path.join(d, "data", "journal")))
last = [l for l in open(os.path.join(d, "data", "journal", [x for x in j if x.endswith(".jsonl")][-1])).read().splitlines() if l][-1]
print(json.loads(last)["agent_context"])
shutil.rmtree(d)
