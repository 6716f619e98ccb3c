# SPDX-License-Identifier: MIT
"""At the explicit endpoint, another family's inference path is governed or refused.

A configured app with a model allow-list calls the explicit endpoint on paths that are
inference calls of some family (Anthropic's count_tokens, OpenAI's legacy completions, Gemini's
generateContent, Bedrock's converse, a Vertex publisher path, Gemini's model list): each is
either read as its family's call and judged on its model (allow.models refuses the model) or
refused; none reaches a provider with the gateway's key unjudged.

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_explicit_foreign_paths.py
"""
import json
import os

import pytest

from test_explicit_local import call, socket_policy
from test_intercept import split

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

DENIED = "gemini-2.5-pro"
CONTENTS = {"contents": [{"role": "user", "parts": [{"text": "Summarise the spend"}]}]}
MESSAGES = [{"role": "user", "content": "Summarise the spend"}]

# (method, path, body)
FOREIGN = [
    ("POST", "/v1/messages/count_tokens", {"model": DENIED, "messages": MESSAGES}),
    ("POST", "/v1/completions", {"model": DENIED, "prompt": "spend"}),
    ("POST", f"/v1beta/models/{DENIED}:generateContent", CONTENTS),
    ("POST", f"/model/{DENIED}/converse", {"messages": [{"role": "user", "content": [
        {"text": "spend"}]}]}),
    ("POST", f"/model/{DENIED}/invoke", {"messages": MESSAGES, "max_tokens": 8}),
    ("POST", f"/v1/projects/p/locations/global/publishers/google/models/{DENIED}:"
             "generateContent", CONTENTS),
    ("POST", f"/v1/projects/p/locations/global/publishers/anthropic/models/{DENIED}:"
             "rawPredict", {"messages": MESSAGES, "max_tokens": 8}),
    ("GET", "/v1beta/models", None),
]


@pytest.mark.parametrize("method,path,body", FOREIGN)
def test_foreign_inference_path_is_governed_or_refused(gw, monkeypatch, method, path, body):
    pol = socket_policy(gw, monkeypatch)
    pol["workloads"][0]["allow"] = {"models": ["fast-summary", "gpt-4o-mini"]}
    gw.start(pol)
    # curl sends a body with POST, none with GET
    text, code = split(call(gw, gw.app, json.dumps(body) if method == "POST" else None,
                            path=path, headers=["anthropic-version: 2023-06-01"]))
    assert code in (400, 403, 404), (code, text)
    assert gw.mock.requests() == []
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "url.path": path})
    assert rec["aigw.policy.action"] == "deny", rec
    assert rec["aigw.policy.rule"] in ("allow.models", "api.paths",
                                       "allow.endpoints (default: inference only)"), rec
