# SPDX-License-Identifier: MIT
"""A captured call is read as the provider it was sent to reads it, never by its path's shape.

A hostile app sends another family's path to a provider: a Gemini-shaped path
(/v1beta/models/M:generateContent) or a Bedrock one (/model/M/converse) or Anthropic's
/v1/messages to api.openai.com, an OpenAI chat completion to generativelanguage.googleapis.com.
The gateway used to read such a call as that other family's: its model from the path (which
OpenAI never reads), the allow-list judged on that model, OpenAI's key sent in that family's
header. Now the call is the provider's own unknown path: its model is what that provider would
read (OpenAI: the body's "model"), the gateway's key never goes with it (the endpoint stage
lets only the provider's inference calls have it), and where the provider names its model in
the path (Gemini) a path it does not read cannot pass allow.models.

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_paths_by_provider.py
"""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
from conftest import OPENAI_ADDR  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

OPENAI_KEY = "sk-gateway-openai-paths"
GEMINI_KEY = "AIza-gateway-gemini-paths"
GEMINI_HOST = "generativelanguage.googleapis.com"
ALLOWED, DENIED = "gpt-4o-mini", "gpt-4o"
CONTENTS = [{"role": "user", "parts": [{"text": "Summarise the quarterly spend"}]}]
MESSAGES = [{"role": "user", "content": "Summarise the quarterly spend"}]

# Another family's path naming the allowed model, its body the denied one
FOREIGN = {
    "gemini": (f"/v1beta/models/{ALLOWED}:generateContent",
               {"model": DENIED, "contents": CONTENTS}),
    "bedrock": (f"/model/{ALLOWED}/converse",
                {"model": DENIED, "messages": [{"role": "user", "content": [
                    {"text": "Summarise the quarterly spend"}]}]}),
}


def start(gw, monkeypatch, allow=None, own_keys=False):
    monkeypatch.setenv("AIGW_TEST_PATHS_OPENAI", OPENAI_KEY)
    monkeypatch.setenv("AIGW_TEST_PATHS_GEMINI", GEMINI_KEY)
    with open(gw.hosts, "a") as f:
        f.write(f"{OPENAI_ADDR} {GEMINI_HOST}\n")
    pol = gw.policy(providers={
        "openai": {"hosts": ["api.openai.com"], "key_env": "AIGW_TEST_PATHS_OPENAI"},
        "anthropic": {"hosts": ["api.anthropic.com"]},
        "gemini": {"hosts": [GEMINI_HOST], "api": "gemini",
                   "key_env": "AIGW_TEST_PATHS_GEMINI"}})
    if allow:
        pol["workloads"][0]["allow"] = {"models": allow}
    pol["workloads"][0]["own_keys"] = own_keys
    gw.start(pol)


def post(gw, url, body, headers=()):
    return split(gw.curl(url, json.dumps(body), headers=list(headers)))


def request_record(gw, path):
    return gw.world.wait_record(**{"event.name": "proxy.request", "url.path": path})


@pytest.mark.parametrize("family", ["gemini", "bedrock", "anthropic"])
def test_foreign_path_to_openai_never_carries_the_gateways_key(gw, monkeypatch, family):
    """With the gateway's key, a path OpenAI does not serve is refused by the endpoint stage
    (inference calls only) as any unknown OpenAI path is: OpenAI's key never goes with a
    Gemini-, Bedrock- or Anthropic-shaped call (it went, in that family's header)."""
    start(gw, monkeypatch)
    path, body = FOREIGN[family] if family in FOREIGN else (
        "/v1/messages", {"model": ALLOWED, "max_tokens": 64, "messages": MESSAGES})
    text, code = post(gw, f"https://api.openai.com{path}", body,
                      ["authorization: Bearer sk-app-own", "anthropic-version: 2023-06-01"])
    assert code == 403, (code, text)
    assert "not an inference endpoint" in json.loads(text)["error"]["message"], text
    assert gw.mock.requests() == []
    rec = request_record(gw, path)
    assert rec["gen_ai.system"] == "openai" and rec["aigw.policy.stage"] == "endpoints", rec
    assert "gen_ai.operation.name" not in rec or family == "anthropic", rec


@pytest.mark.parametrize("family", sorted(FOREIGN))
def test_foreign_path_to_openai_is_judged_on_the_model_openai_reads(gw, monkeypatch, family):
    """A workload with its own keys passes the endpoint stage: the path names an allowed
    model, the body (what OpenAI reads) a denied one. allow.models judges the body's, and the
    record names it; nothing reaches the provider."""
    start(gw, monkeypatch, allow=[ALLOWED], own_keys=True)
    path, body = FOREIGN[family]
    text, code = post(gw, f"https://api.openai.com{path}", body,
                      ["authorization: Bearer sk-app-own"])
    assert code == 403, (code, text)
    assert f"model {DENIED} is not" in json.loads(text)["error"]["message"], text
    rec = request_record(gw, path)
    assert rec["gen_ai.system"] == "openai", rec
    assert rec.get("gen_ai.request.model") == DENIED, json.dumps(rec)
    assert rec["aigw.policy.rule"] == "allow.models", rec
    assert gw.mock.requests() == []


def test_openai_path_to_gemini_cannot_pass_its_model_allow_list(gw, monkeypatch):
    """Gemini names its model in the path: an OpenAI chat completion sent to it names none the
    gateway can read (the body's "model" is not what Gemini serves), so allow.models refuses
    it, in Google's error format, even for a workload with its own keys."""
    start(gw, monkeypatch, allow=["gemini-2.5-flash"], own_keys=True)
    body = {"model": "gemini-2.5-flash", "messages": MESSAGES}
    text, code = post(gw, f"https://{GEMINI_HOST}/v1/chat/completions", body,
                      ["authorization: Bearer AIza-app-own"])
    assert code == 400, (code, text)
    err = json.loads(text)["error"]
    assert err["status"] == "INVALID_ARGUMENT" and "allow.models" in err["message"], err
    rec = request_record(gw, "/v1/chat/completions")
    assert rec["gen_ai.system"] == "gemini" and rec["aigw.policy.rule"] == "allow.models", rec
    assert gw.mock.requests() == []


def test_openai_path_to_gemini_never_carries_the_gateways_key(gw, monkeypatch):
    """With the gateway's key, OpenAI's chat completions path is no inference call of Gemini's:
    the endpoint stage refuses it and Gemini's key never goes with it."""
    start(gw, monkeypatch)
    body = {"model": "gemini-2.5-flash", "messages": MESSAGES}
    text, code = post(gw, f"https://{GEMINI_HOST}/v1/chat/completions", body,
                      ["authorization: Bearer AIza-app-own"])
    assert code == 403, (code, text)
    assert json.loads(text)["error"]["status"] == "PERMISSION_DENIED", text
    assert gw.mock.requests() == []
    rec = request_record(gw, "/v1/chat/completions")
    assert rec["gen_ai.system"] == "gemini" and rec["aigw.policy.stage"] == "endpoints", rec
