# SPDX-License-Identifier: MIT
"""allow.models holds at Azure's, Vertex's and Bedrock's doors: a call whose model the gateway
cannot read is refused (test_allow_unread_paths.py holds OpenAI's, Anthropic's and Gemini's).

Each provider's door holds the same cases as the others: a ';', upper case, a trailing segment,
a method or deployment the gateway does not read, a decoy model in the body. They were refused
already when added, and stay here so that each family is held to one list. Each test starts its
own daemon in its provider's world (mock flags, hosts), as that provider's own tests set it up.

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_allow_unread_clouds.py
"""
import json
import os

import pytest

from test_allow_unread_paths import GPT, MESSAGES
from test_intercept import split

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

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


def record(gw, path):
    """The record of the call to PATH: each test here starts its own daemon and makes one."""
    return gw.world.wait_record(**{"event.name": "proxy.request",
                                   "url.path": path.split("?")[0]})


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
