#!/usr/bin/env python3
"""Scripted stand-in for the Anthropic Messages API, used by agent-telemetry's tests.

The real Claude Code CLI, pointed here with ANTHROPIC_BASE_URL, runs offline: it calls real tools,
spawns real subagents and fires its real hooks, while this server plays the model from a scenario
file. Python 3.11 standard library only.

    python3 server.py --scenario tests/scenarios/tools.json --port 0 --port-file /tmp/port [--log FILE]

Scenario file: a JSON object. Each key that does not start with "_" is a MARKER mapped to a list of
assistant turns. Keys starting with "_" are metadata ("_comment", "_prompts", ...), except
"_defaults", which may hold {"model": "...", "usage": {...}} applied to every turn.

A conversation belongs to the marker that occurs earliest in its first user message (longest marker
on a tie). The turn it is served is the number of assistant messages already in the request: Claude
Code resends the whole history on every call, so this needs no server state and holds for any
number of concurrent conversations (main agent, subagents, child `claude` processes, `--resume`).
A conversation past its last turn is told "Done."; a request with no marker (titles, summaries,
quota checks, other side requests) gets a short text answer, and so does a request that carries a
marker but offers no tools while its turn would call some.

A turn:
    {"text": "Reading.",                                  # optional text block
     "tool_uses": [{"name": "Read", "input": {...}, "id": "toolu_optional"}],
     "usage": {"input_tokens": 1500, "output_tokens": 120,  # optional; defaults derive from sizes
               "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
     "model": "claude-sonnet-4-5-20250929",                # optional; default: the requested model
     "stop_reason": "end_turn"}                            # optional; default from the blocks
    {"repeat": 70, "text": "Batch {i}.", "tool_uses": [...]}  # N turns; "{i}" -> 1..N in every string
    {"error": {"status": 400, "type": "invalid_request_error", "message": "..."}}  # an API error

Streaming requests ("stream": true) are answered with server-sent events: message_start (with
usage), per block content_block_start / *_delta (several chunks) / content_block_stop, then
message_delta (stop_reason, usage) and message_stop. Other requests get one JSON message.
"""
import argparse
import copy
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIDE_ANSWER = "Scripted session"
PAST_END_ANSWER = "Done."
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"


# ---------------------------------------------------------------- scenario


def substitute(value, i):
    """Replaces "{i}" by the repeat counter in every string inside value."""
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, list):
        return [substitute(v, i) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, i) for k, v in value.items()}
    return value


def expand_turns(turns):
    out = []
    for turn in turns:
        count = turn.get("repeat")
        if count is None:
            out.append(turn)
            continue
        body = {k: v for k, v in turn.items() if k != "repeat"}
        for i in range(1, int(count) + 1):
            out.append(substitute(copy.deepcopy(body), i))
    return out


class Scenario:
    def __init__(self, data):
        if not isinstance(data, dict):
            raise ValueError("a scenario is a JSON object: marker -> list of turns")
        self.defaults = data.get("_defaults") or {}
        self.markers = {}
        for key, turns in data.items():
            if key.startswith("_"):
                continue
            if not isinstance(turns, list):
                raise ValueError(f"marker {key!r}: expected a list of turns")
            self.markers[key] = expand_turns(turns)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def marker_of(self, text):
        best = None
        for marker in self.markers:
            pos = text.find(marker)
            if pos < 0:
                continue
            if best is None or pos < best[0] or (pos == best[0] and len(marker) > len(best[1])):
                best = (pos, marker)
        return best[1] if best else None


# ---------------------------------------------------------------- requests


def text_of(content):
    """The plain text of a message's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "\n".join(parts)


def first_user_text(messages):
    for m in messages:
        if m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


def count_assistant(messages):
    return sum(1 for m in messages if m.get("role") == "assistant")


def estimate_tokens(obj):
    return max(1, len(json.dumps(obj, separators=(",", ":"))) // 4)


class Plan:
    """What to answer to one /v1/messages request."""

    def __init__(self, scenario, request, raw_len):
        messages = request.get("messages") or []
        self.first = first_user_text(messages)
        self.marker = scenario.marker_of(self.first) if messages else None
        self.served = count_assistant(messages)
        self.conversation = hashlib.sha256(
            ((self.marker or "") + "\0" + self.first).encode()).hexdigest()[:12]
        self.kind = "side"
        self.error = None
        turn = {"text": SIDE_ANSWER}
        if self.marker is not None:
            turns = scenario.markers[self.marker]
            if self.served < len(turns):
                turn = turns[self.served]
                self.kind = "turn"
            else:
                turn = {"text": PAST_END_ANSWER}
                self.kind = "past-end"
            if turn.get("tool_uses") and not request.get("tools"):
                # A side request that quotes the prompt (a title, a summary): no tools to call.
                turn = {"text": SIDE_ANSWER}
                self.kind = "side-with-marker"
        self.turn = turn
        self.error = turn.get("error")
        defaults = scenario.defaults
        self.model = turn.get("model") or defaults.get("model") or request.get("model") or DEFAULT_MODEL
        self.blocks = []
        if turn.get("text"):
            self.blocks.append({"type": "text", "text": turn["text"]})
        for n, use in enumerate(turn.get("tool_uses") or []):
            self.blocks.append({
                "type": "tool_use",
                "id": use.get("id") or "toolu_01" + uuid.uuid4().hex[:22],
                "name": use["name"],
                "input": use.get("input") or {},
            })
        if not self.blocks:
            self.blocks.append({"type": "text", "text": PAST_END_ANSWER})
        has_tools = any(b["type"] == "tool_use" for b in self.blocks)
        self.stop_reason = turn.get("stop_reason") or ("tool_use" if has_tools else "end_turn")
        usage = {
            "input_tokens": max(1, raw_len // 4),
            "output_tokens": estimate_tokens(self.blocks),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        usage.update(defaults.get("usage") or {})
        usage.update(turn.get("usage") or {})
        self.usage = usage
        self.message_id = "msg_01" + uuid.uuid4().hex[:22]

    def message(self):
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks,
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage,
        }

    def summary(self):
        return [b["name"] if b["type"] == "tool_use" else "text" for b in self.blocks]


def chunks(s, n=3):
    """Splits s into about n pieces (at least one), as a real stream would."""
    if not s:
        return [""]
    size = max(1, -(-len(s) // n))
    return [s[i:i + size] for i in range(0, len(s), size)]


# ---------------------------------------------------------------- HTTP


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, scenario, log_path):
        super().__init__(address, Handler)
        self.scenario = scenario
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.requests = 0

    def log_event(self, record):
        with self.log_lock:
            self.requests += 1
            if self.log_file:
                record["t"] = round(time.time(), 3)
                self.log_file.write(json.dumps(record) + "\n")
                self.log_file.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scripted-model/1"

    def log_message(self, *args):
        pass

    # -- helpers

    def send_json(self, status, obj, request_id=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("request-id", request_id or "req_" + uuid.uuid4().hex[:24])
        self.end_headers()
        self.wfile.write(body)

    def send_error_json(self, status, type_, message):
        self.send_json(status, {"type": "error", "error": {"type": type_, "message": message}})

    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw or b"{}")
        except ValueError:
            return raw, None

    # -- verbs

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        path = self.path.split("?")[0]
        self.server.log_event({"method": "GET", "path": path})
        if path.rstrip("/").endswith("/v1/models"):
            models = [DEFAULT_MODEL, "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"]
            return self.send_json(200, {
                "data": [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                         for m in models],
                "has_more": False, "first_id": models[0], "last_id": models[-1]})
        self.send_json(200, {})

    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        raw, request = self.read_body()
        if request is None:
            self.server.log_event({"method": "POST", "path": path, "error": "bad json"})
            return self.send_error_json(400, "invalid_request_error", "request body is not JSON")
        if path.endswith("/v1/messages/count_tokens"):
            self.server.log_event({"method": "POST", "path": path})
            return self.send_json(200, {"input_tokens": max(1, len(raw) // 4)})
        if not path.endswith("/v1/messages"):
            self.server.log_event({"method": "POST", "path": path})
            return self.send_json(200, {})
        plan = Plan(self.server.scenario, request, len(raw))
        # Logged, so a test can tell an answer Claude Code kept (its transcript names the
        # request id) from one it dropped (a retry after a stalled stream).
        request_id = "req_" + uuid.uuid4().hex[:24]
        self.server.log_event({
            "method": "POST", "path": path, "stream": bool(request.get("stream")),
            "model": request.get("model"), "messages": len(request.get("messages") or []),
            "tools": len(request.get("tools") or []), "marker": plan.marker, "kind": plan.kind,
            "conversation": plan.conversation, "turn": plan.served, "answer": plan.summary(),
            "first": plan.first[:160], "error": plan.error, "request_id": request_id,
        })
        if plan.error:
            err = plan.error
            return self.send_error_json(int(err.get("status", 400)), err.get("type", "invalid_request_error"),
                                        err.get("message", "scripted error"))
        if request.get("stream"):
            return self.stream(plan, request_id)
        self.send_json(200, plan.message(), request_id)

    # -- streaming

    def stream(self, plan, request_id):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", request_id)
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(name, data):
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        start = plan.message()
        start.update(content=[], stop_reason=None,
                     usage=dict(plan.usage, output_tokens=1))
        event("message_start", {"type": "message_start", "message": start})
        event("ping", {"type": "ping"})
        for index, block in enumerate(plan.blocks):
            if block["type"] == "text":
                opening = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": c} for c in chunks(block["text"])]
            else:
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": c}
                          for c in chunks(json.dumps(block["input"]))]
            event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": opening})
            for delta in deltas:
                event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": plan.stop_reason, "stop_sequence": None},
                                "usage": {"output_tokens": plan.usage["output_tokens"]}})
        event("message_stop", {"type": "message_stop"})
        self.wfile.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", required=True, help="scenario JSON file")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--log", help="append one JSON line per request here")
    args = parser.parse_args()
    scenario = Scenario.load(args.scenario)
    server = Server(("127.0.0.1", args.port), scenario, args.log)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"scripted-model listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
