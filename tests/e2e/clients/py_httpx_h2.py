#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A "legacy app" of aigw's end-to-end tests: Debian's httpx with http2=True (python3-h2). It
knows nothing of aigw: it calls the real OpenAI URL, trusting the CA SSL_CERT_FILE names.

    /usr/bin/python3 py_httpx_h2.py N

Sends N chat completions at once on one client (one connection), every other one streaming,
and prints one JSON object: {"versions": [...], "results": [[status, kind, ok], ...]} where
kind is "plain" or "stream" and ok says the answer was a whole completion (a stream: chunks
up to "data: [DONE]").
"""
import asyncio
import json
import os
import ssl
import sys

import httpx

URL = "https://api.openai.com/v1/chat/completions"


def body(i, stream):
    b = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"call {i}"}]}
    if stream:
        b["stream"] = True
    return b


async def call(client, i):
    stream = i % 2 == 1
    hdrs = {"authorization": "Bearer sk-app-h2"}
    if stream:
        async with client.stream("POST", URL, json=body(i, True), headers=hdrs) as r:
            text = (await r.aread()).decode()
            ok = "chat.completion.chunk" in text and text.rstrip().endswith("data: [DONE]")
            return r.http_version, [r.status_code, "stream", ok]
    r = await client.post(URL, json=body(i, False), headers=hdrs)
    ok = r.status_code == 200 and r.json().get("object") == "chat.completion"
    return r.http_version, [r.status_code, "plain", ok]


async def main(n):
    ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(http2=True, verify=ctx, limits=limits, timeout=30) as client:
        got = await asyncio.gather(*(call(client, i) for i in range(n)))
    print(json.dumps({"versions": sorted({v for v, _ in got}), "results": [r for _, r in got]}))


asyncio.run(main(int(sys.argv[1])))
