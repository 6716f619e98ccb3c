#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A "legacy app" of aigw's end-to-end tests: Python's urllib.request and nothing else. It knows
nothing of aigw: it calls the real provider URL and trusts the CA that SSL_CERT_FILE names (the
default SSL context of urllib loads OpenSSL's default paths, which that variable overrides).

    /usr/bin/python3 py_urllib.py PROVIDER MODE MODEL PROMPT ['Name: value' ...]

    PROVIDER  openai | anthropic
    MODE      plain | stream                     (OpenAI chat completions, Anthropic messages)
              embeddings | responses | responses-stream             (OpenAI only)

Key from OPENAI_API_KEY / ANTHROPIC_API_KEY. The request body is compact JSON with a fixed key
order, the same bytes as harness.request_body() (see node_fetch.mjs for the table).

Prints one JSON object on stdout and exits 0 (1 when "error" is set):
    {"client","status","headers","body","chunks","pid","error"}
    body    the response body as received, UTF-8 (urllib asks for no compression)
    chunks  [[ms since the request started, bytes], ...]: one per resp.read1() as bytes arrived
An HTTP error status is no client error: status and body tell it.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

BASE = {"openai": "https://api.openai.com", "anthropic": "https://api.anthropic.com"}
PATHS = {
    "openai": {"plain": "/v1/chat/completions", "stream": "/v1/chat/completions",
               "embeddings": "/v1/embeddings", "responses": "/v1/responses",
               "responses-stream": "/v1/responses"},
    "anthropic": {"plain": "/v1/messages", "stream": "/v1/messages"},
}


def request_body(provider, mode, model, prompt):
    msgs = [{"role": "user", "content": prompt}]
    if provider == "anthropic":
        b = {"model": model, "max_tokens": 1024, "messages": msgs}
        if mode == "stream":
            b["stream"] = True
    elif mode == "plain":
        b = {"model": model, "messages": msgs}
    elif mode == "stream":
        b = {"model": model, "messages": msgs, "stream": True,
             "stream_options": {"include_usage": True}}
    elif mode in ("embeddings", "responses"):
        b = {"model": model, "input": prompt}
    else:
        b = {"model": model, "input": prompt, "stream": True}
    return json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode()


def parse_headers(args):
    h = {}
    for a in args:
        name, sep, value = a.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"bad header {a!r}: want 'Name: value'")
        h[name.strip().lower()] = value.strip()
    return h


def main(out):
    if len(sys.argv) < 5 or sys.argv[2] not in PATHS.get(sys.argv[1], {}):
        raise ValueError("usage: py_urllib.py openai|anthropic MODE MODEL PROMPT ['Name: value' ...]")
    provider, mode, model, prompt = sys.argv[1:5]
    key_var = "OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"
    key = os.environ.get(key_var)
    if not key:
        raise ValueError(f"{key_var} is not set")
    headers = {"content-type": "application/json"}
    if provider == "openai":
        headers["authorization"] = f"Bearer {key}"
    else:
        headers.update({"x-api-key": key, "anthropic-version": "2023-06-01"})
    headers.update(parse_headers(sys.argv[5:]))
    req = urllib.request.Request(BASE[provider] + PATHS[provider][mode],
                                 data=request_body(provider, mode, model, prompt),
                                 headers=headers, method="POST")
    t0 = time.monotonic()
    try:
        resp = urllib.request.urlopen(req, timeout=120)
    except urllib.error.HTTPError as e:
        resp = e  # an answer all the same: read its body like any other
    parts = []
    try:
        out["status"] = resp.status
        out["headers"] = {k.lower(): v for k, v in resp.headers.items()}
        while True:
            data = resp.read1(65536)
            if not data:
                break
            out["chunks"].append([round((time.monotonic() - t0) * 1000, 3), len(data)])
            parts.append(data)
    finally:
        out["body"] = b"".join(parts).decode("utf-8", errors="replace")
        resp.close()


def run():
    out = {"client": "py_urllib", "status": None, "headers": {}, "body": "", "chunks": [],
           "pid": os.getpid(), "error": None}
    try:
        main(out)
    except Exception as e:  # noqa: BLE001 - every failure goes into the one JSON object
        out["error"] = f"{type(e).__name__}: {e}"
    sys.stdout.write(json.dumps(out) + "\n")
    return 1 if out["error"] else 0


if __name__ == "__main__":
    sys.exit(run())
