#!/usr/bin/env python3
"""Per-session figures of `just bench-rate DIR --json` as CSV, each row with its source.

    scripts/bench/rate-csv.py REPORT.json SOURCES.tsv [MIN_ACTIVE_MIN] > sessions.csv

SOURCES.tsv: one line per transcript file measured, tab-separated: the file's path on this
machine, then the repository, the path in it and the commit it was taken at. Only counts,
durations and versions are written, never content. MIN_ACTIVE_MIN (default 5) marks the rows
the summary takes (`in_summary`), as `bench-rate --min-active` does.
"""
import csv, json, sys

report = json.load(open(sys.argv[1]))
sources = {}
for line in open(sys.argv[2]):
    f, repo, path, commit = line.rstrip("\n").split("\t")[:4]
    sources[f] = (repo, path, commit)
min_active = float(sys.argv[3]) * 60 if len(sys.argv) > 3 else 300.0
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["repository", "path", "commit", "session", "version", "first_entry", "wall_min", "active_min",
              "prompts", "turns", "tool_calls", "tool_failures", "tool_batches", "subagents", "model_calls",
              "tokens", "hook_events", "events_per_active_hour", "tool_calls_per_active_hour", "in_summary"])
for s in report["sessions"]:
    repo, path, commit = sources.get(s["transcript"], ("", "", ""))
    t = s["tokens"]
    out.writerow([repo, path, commit, s["session_id"][:8], s["versions"][-1] if s["versions"] else "",
                  s["first"][:19] + "Z", f'{s["wall_secs"] / 60:.1f}', f'{s["active_secs"] / 60:.1f}',
                  s["prompts"], s["turns"], s["tool_calls"], s["tool_failures"], s["tool_batches"], s["subagents"],
                  s["model_calls"], t["input"] + t["output"] + t["cache_read"] + t["cache_creation"],
                  s["hook_events_total"], f'{s["events_per_hour"]:.0f}', f'{s["tool_calls_per_hour"]:.0f}',
                  "yes" if s["active_secs"] >= min_active and s["active_secs"] > 0 else "no"])
