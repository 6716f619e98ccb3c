# SPDX-License-Identifier: MIT
"""allow.models holds at every family: a call whose model the gateway cannot read is refused.

A hostile workload with a model allow-list (and its own keys, so the endpoint stage lets any
canonical path through and the allow-list alone must hold) sends calls whose model the gateway
does not read: an unknown path of the provider, another family's path, a path a server may read
as a known one (upper case, a trailing ';'), a known call without a model. Each is refused
(allow.models, or canonical_path for a path that is not canonical) and never reaches the
provider; with "enforce": false each goes on and is recorded as would_deny. Known calls naming
an allowed model are answered. Gemini, Vertex and Bedrock paths were already refused unread
(test_paths_by_provider.py, test_vertex.py, test_bedrock.py); OpenAI's and Anthropic's were not.
Azure's, Vertex's and Bedrock's doors hold the same cases here (a ';', upper case, a trailing
segment, a method or deployment the gateway does not read, a decoy model in the body): they
were refused already when added, and stay here so that each family is held to one list.

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_allow_unread_paths.py
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

GEMINI_HOST = "generativelanguage.googleapis.com"
GPT, CLAUDE, GEMINI = "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"
MESSAGES = [{"role": "user", "content": "Summarise the quarterly spend"}]
CONTENTS = [{"role": "user", "parts": [{"text": "Summarise the quarterly spend"}]}]
CHAT = {"model": GPT, "messages": MESSAGES}
MSG = {"model": CLAUDE, "max_tokens": 64, "messages": MESSAGES}
GEN = {"contents": CONTENTS}
OAI, ANT, GEM = "api.openai.com", "api.anthropic.com", GEMINI_HOST

# (host, path as sent, body): known calls naming an allowed model
ALLOWED = [
    (OAI, "/v1/chat/completions", CHAT),
    (OAI, "/v1/embeddings", {"model": GPT, "input": "spend"}),
    (ANT, "/v1/messages", MSG),
    (GEM, f"/v1beta/models/{GEMINI}:generateContent", GEN),
]

# (host, path as sent, body): calls whose model the gateway cannot read
UNREAD = [
    (OAI, "/v1/chat/completions;", CHAT),
    (OAI, "/V1/CHAT/COMPLETIONS", CHAT),
    (OAI, "/v1/chat/completions/x", CHAT),
    (OAI, "/v1/completions", {"prompt": "no model named"}),
    (OAI, "/v1/messages", MSG),
    (OAI, f"/v1beta/models/{GEMINI}:generateContent", GEN),
    (OAI, "/v1/batches", {"input_file_id": "file-1", "endpoint": "/v1/chat/completions"}),
    (ANT, "/v1/messages;", MSG),
    (ANT, "/v1/messages/batches", {"requests": [{"custom_id": "1", "params": MSG}]}),
    (ANT, "/v1/chat/completions", CHAT),
    (ANT, "/V1/MESSAGES", MSG),
    (GEM, f"/v1beta/models/{GEMINI}:generateContent;", GEN),
    (GEM, "/v1/chat/completions", CHAT),
    (GEM, f"/V1BETA/MODELS/{GEMINI}:generateContent", GEN),
]

# not canonical: refused whatever the allow-list (canonical_path)
TRICKS = [
    (OAI, "/v1//chat/completions", CHAT),
    (OAI, "/v1/chat/completions/../embeddings", CHAT),
    (OAI, "/v1/chat%2Fcompletions", CHAT),
    (ANT, "/v1/%6Dessages", MSG),
]


def start(gw, monkeypatch, enforce=True):
    with open(gw.hosts, "a") as f:
        f.write(f"{OPENAI_ADDR} {GEMINI_HOST}\n")
    pol = gw.policy(providers={
        "openai": {"hosts": [OAI]}, "anthropic": {"hosts": [ANT]},
        "gemini": {"hosts": [GEMINI_HOST], "api": "gemini"}})
    pol["workloads"][0]["allow"] = {"models": [GPT, f"{CLAUDE}*", GEMINI], "enforce": enforce}
    pol["workloads"][0]["own_keys"] = True
    gw.start(pol)


def post(gw, host, path, body):
    return split(gw.curl(f"https://{host}{path}", json.dumps(body), extra=["--path-as-is"],
                         headers=["authorization: Bearer sk-app-own", "x-api-key: sk-app-own",
                                  "anthropic-version: 2023-06-01",
                                  "x-goog-api-key: AIza-app-own"]))


def record(gw, path):
    return gw.world.wait_record(**{"event.name": "proxy.request",
                                   "url.path": path.split("?")[0]})


def test_known_calls_naming_allowed_models_are_answered(gw, monkeypatch):
    start(gw, monkeypatch)
    for host, path, body in ALLOWED:
        text, code = post(gw, host, path, body)
        assert code == 200, (host, path, code, text)
    assert len(gw.mock.requests()) == len(ALLOWED)


@pytest.mark.parametrize("host,path,body", UNREAD + TRICKS)
def test_unread_call_is_refused(gw, monkeypatch, host, path, body):
    start(gw, monkeypatch)
    text, code = post(gw, host, path, body)
    assert code in (400, 403), (code, text)
    rec = record(gw, path)
    rule = "canonical_path" if (host, path, body) in TRICKS else "allow.models"
    assert rec["aigw.policy.rule"] == rule and rec["aigw.policy.action"] == "deny", rec
    assert gw.mock.requests() == []


@pytest.mark.parametrize("host,path,body", UNREAD[:2] + UNREAD[3:5] + UNREAD[7:10])
def test_unread_call_not_enforced_is_recorded_as_would_deny(gw, monkeypatch, host, path, body):
    start(gw, monkeypatch, enforce=False)
    post(gw, host, path, body)
    rec = record(gw, path)
    assert any((d["rule"], d["action"]) == ("allow.models", "would_deny")
               for d in rec["aigw.policy.decisions"]), rec
    assert len(gw.mock.requests()) == 1


# ---- Azure OpenAI, Vertex and Bedrock: the same rule at their doors (the model is the deployment's,
# or the path's); each provider's own world (mock flags, hosts) as its own tests set it up

AZ_VERSION = "?api-version=2024-10-21"
AZ_CHAT = {"messages": MESSAGES}

# (path as sent, body): Azure calls whose model the gateway cannot read
AZURE_UNREAD = [
    (f"/openai/deployments/chat-mini/chat/completions;{AZ_VERSION}", AZ_CHAT),
    (f"/OPENAI/DEPLOYMENTS/chat-mini/chat/completions{AZ_VERSION}", AZ_CHAT),
    (f"/openai/deployments/rogue/chat/completions{AZ_VERSION}", dict(AZ_CHAT, model=GPT)),
    (f"/openai/deployments/chat-mini/batches{AZ_VERSION}", {"input_file_id": "file-1"}),
    ("/openai/v1/chat/completions", dict(AZ_CHAT, model="rogue")),
]

VX_MODEL = "claude-sonnet-4-5@20250929"
VX_BODY = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 64, "messages": MESSAGES}
VX_ROOT = "/v1/projects/acme-ml-prod/locations/global/publishers"

# (path as sent, body): Vertex calls whose model the gateway cannot read
VERTEX_UNREAD = [
    (f"{VX_ROOT}/anthropic/models/{VX_MODEL}:rawPredict;", VX_BODY),
    (f"{VX_ROOT.upper()}/anthropic/models/{VX_MODEL}:rawPredict", VX_BODY),
    (f"{VX_ROOT}/anthropic/models/{VX_MODEL}:countTokens", VX_BODY),
    (f"{VX_ROOT}/anthropic/models/{VX_MODEL}:rawPredict/x", VX_BODY),
    (f"{VX_ROOT}/meta/models/{VX_MODEL}:rawPredict", dict(VX_BODY, model=VX_MODEL)),
]

BR_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"  # not allowed; the body names an allowed one
BR_BODY = {"modelId": "anthropic.claude-3-haiku-20240307-v1:0",
           "messages": [{"role": "user", "content": [{"text": "Summarise the quarterly spend"}]}]}

# (path as sent, body): Bedrock calls whose model the gateway cannot read
BEDROCK_UNREAD = [
    (f"/model/{BR_MODEL}/converse;", BR_BODY),
    (f"/MODEL/{BR_MODEL}/converse", BR_BODY),
    (f"/model/{BR_MODEL}/converse/x", BR_BODY),
    (f"/model/{BR_MODEL}/count-tokens", BR_BODY),
    ("/model//converse", BR_BODY),
]


def refused_unread(gw, path, seen):
    rec = record(gw, path)
    assert rec["aigw.policy.rule"] in ("allow.models", "canonical_path"), rec
    assert rec["aigw.policy.action"] == "deny", rec
    assert seen() == []


@pytest.mark.parametrize("path,body", AZURE_UNREAD)
def test_unread_azure_call_is_refused(gw, monkeypatch, path, body):
    from test_azure import HOST, azure
    pol = azure(gw, monkeypatch, allow={"models": [GPT]})
    pol["workloads"][0]["own_keys"] = True
    gw.start(pol)
    text, code = split(gw.curl(f"https://{HOST}{path}", json.dumps(body), extra=["--path-as-is"],
                               headers=["api-key: azure-app-own"]))
    assert code in (400, 403), (code, text)
    refused_unread(gw, path, gw.mock.requests)


@pytest.mark.parametrize("path,body", VERTEX_UNREAD)
def test_unread_vertex_call_is_refused(gw, monkeypatch, path, body):
    from test_vertex import Vx
    monkeypatch.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
    vx = Vx(gw)
    vx.pol["workloads"][0]["allow"] = {"models": ["claude-sonnet-4-5@*"]}
    vx.pol["workloads"][0]["own_keys"] = True
    vx.start()
    text, code = vx.call(url_path=path, body=json.dumps(body), extra=["--path-as-is"])
    assert code in (400, 403), (code, text)
    refused_unread(gw, path, vx.predicts)


@pytest.mark.parametrize("path,body", BEDROCK_UNREAD)
def test_unread_bedrock_call_is_refused(gw, monkeypatch, path, body):
    from test_bedrock import HOST, bedrock
    pol = bedrock(gw, monkeypatch)
    pol["workloads"][0]["allow"] = {"models": ["anthropic.claude-3-haiku-*"]}
    pol["workloads"][0]["own_keys"] = True
    gw.start(pol)
    text, code = split(gw.curl(f"https://{HOST}{path}", json.dumps(body), extra=["--path-as-is"],
                               headers=["authorization: AWS4-HMAC-SHA256 Credential=AKIDAPP/"
                                        "20250101/us-east-1/bedrock/aws4_request, "
                                        "SignedHeaders=host, Signature=00"]))
    assert code in (400, 403), (code, text)
    refused_unread(gw, path, gw.mock.requests)
