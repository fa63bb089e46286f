#!/usr/bin/env python3
"""Test hook: appends what Claude Code hands it to the file named by its first argument.

One JSON line per call: {"at": unix seconds, "pid": ..., "payload": <stdin JSON>,
"env_names": [every variable name it received], "env": {values of CLAUDE*/AGENT*/TRACE* variables}}.
Lines are appended under an exclusive lock, since hooks of parallel tool calls run concurrently.
Always exits 0 with no output, so it never changes what Claude Code does.
"""
import fcntl
import json
import os
import sys
import time

raw = sys.stdin.read()
try:
    payload = json.loads(raw)
except ValueError:
    payload = {"unparsed": raw}
keep = ("CLAUDE", "AGENT", "AI_AGENT", "TRACE", "OTEL", "IS_SANDBOX")
record = {
    "at": time.time(),
    "pid": os.getpid(),
    "payload": payload,
    "env_names": sorted(os.environ),
    "env": {k: v for k, v in os.environ.items() if k.startswith(keep)},
}
line = (json.dumps(record) + "\n").encode()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, line)
finally:
    os.close(fd)
