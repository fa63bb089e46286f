#!/usr/bin/env python3
"""Cut the pieces of an OCSF schema export that `export --format ocsf` is checked against.

Usage: extract.py SCHEMA.json > schema-subset.json

SCHEMA.json is a whole schema export (the `ocsf-json-schema` package on PyPI carries them as
`ocsf_json_schema/ocsf/<version>.json`). Kept: the classes we emit, every object reachable from
their attributes, the data types, the profiles; of each attribute only what a validator needs
(type, array, requirement, object type, enum values and captions, profiles, sibling).
"""
import json
import sys

CLASSES = ["detection_finding", "file_activity", "process_activity", "api_activity"]


def attr(a):
    out = {"type": a["type"]}
    for k in ("requirement", "object_type", "sibling"):
        if k in a:
            out[k] = a[k]
    if a.get("is_array"):
        out["is_array"] = True
    if a.get("profiles"):
        out["profiles"] = sorted(a["profiles"])
    if "enum" in a:
        out["enum"] = {k: v.get("caption", "") for k, v in sorted(a["enum"].items(), key=lambda kv: (not kv[0].lstrip("-").isdigit(), int(kv[0]) if kv[0].lstrip("-").isdigit() else 0, kv[0]))}
    return out


def main():
    d = json.load(open(sys.argv[1]))
    classes, objects, todo = {}, {}, []
    for name in CLASSES:
        c = d["classes"][name]
        classes[name] = {
            "uid": c["uid"],
            "category_uid": c["category_uid"],
            "attributes": {k: attr(a) for k, a in sorted(c["attributes"].items())},
        }
        todo += [a["object_type"] for a in c["attributes"].values() if "object_type" in a]
    while todo:
        name = todo.pop()
        if name in objects:
            continue
        o = d["objects"][name]
        objects[name] = {"attributes": {k: attr(a) for k, a in sorted(o["attributes"].items())}}
        if o.get("constraints"):
            objects[name]["constraints"] = o["constraints"]
        todo += [a["object_type"] for a in o["attributes"].values() if "object_type" in a]
    types = {k: {kk: v[kk] for kk in ("type", "regex", "values") if kk in v} for k, v in d["dictionary"]["types"]["attributes"].items()}
    out = {
        "version": d["version"],
        "types": dict(sorted(types.items())),
        "profiles": sorted(d["profiles"]),
        "classes": classes,
        "objects": dict(sorted(objects.items())),
    }
    json.dump(out, sys.stdout, indent=1, separators=(",", ":"), sort_keys=False)
    sys.stdout.write("\n")


main()
