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
Azure's, Vertex's and Bedrock's doors hold the same cases (test_allow_unread_clouds.py).

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_allow_unread_paths.py
"""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
from conftest import (ID_FORMAT, OPENAI_ADDR, module_gateway, shared_call_check,  # noqa: E402
                      split_id, wait_call)

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


# Every test below calls one daemon (a daemon costs ~0.3 s of CPU to start under ASan): its
# policy has two workloads with the same allow-list and their own keys, "billing" enforcing it
# and "rollout" ("enforce": false) only recording it. Each test's mock log is reset, and each
# finds its record by its answer's x-aigw-request-id.

def allow_policy(gw):
    with open(gw.hosts, "a") as f:
        f.write(f"{OPENAI_ADDR} {GEMINI_HOST}\n")
    pol = gw.policy(providers={
        "openai": {"hosts": [OAI]}, "anthropic": {"hosts": [ANT]},
        "gemini": {"hosts": [GEMINI_HOST], "api": "gemini"}})
    billing = pol["workloads"][0]
    billing["allow"] = {"models": [GPT, f"{CLAUDE}*", GEMINI], "enforce": True}
    billing["own_keys"] = True
    pol["workloads"].append(dict(billing, name="rollout", match={"cgroup": "/*/rollout*"},
                                 allow=dict(billing["allow"], enforce=False)))
    return pol


@pytest.fixture(scope="module")
def shared(tmp_path_factory, mock_certs):
    with module_gateway(tmp_path_factory, mock_certs, "allow-unread") as g:
        g.start(allow_policy(g))
        yield g


@pytest.fixture
def agw(shared):
    with shared_call_check(shared):
        yield shared


def post(gw, host, path, body, cgroup=None):
    """The call from billing's app (CGROUP: another's); (body, status, request id)."""
    return split_id(gw.curl(f"https://{host}{path}", json.dumps(body), cgroup=cgroup,
                            extra=["--path-as-is", "-w", ID_FORMAT],
                            headers=["authorization: Bearer sk-app-own", "x-api-key: sk-app-own",
                                     "anthropic-version: 2023-06-01",
                                     "x-goog-api-key: AIza-app-own"]))


def test_known_calls_naming_allowed_models_are_answered(agw):
    for host, path, body in ALLOWED:
        text, code, rid = post(agw, host, path, body)
        assert code == 200, (host, path, code, text)
        wait_call(agw.world, rid, **{"aigw.workload": "billing"})
    assert len(agw.mock.requests()) == len(ALLOWED)


@pytest.mark.parametrize("host,path,body", UNREAD + TRICKS)
def test_unread_call_is_refused(agw, host, path, body):
    text, code, rid = post(agw, host, path, body)
    assert code in (400, 403), (code, text)
    rec = wait_call(agw.world, rid, **{"url.path": path, "aigw.workload": "billing"})
    rule = "canonical_path" if (host, path, body) in TRICKS else "allow.models"
    assert rec["aigw.policy.rule"] == rule and rec["aigw.policy.action"] == "deny", rec
    assert agw.mock.requests() == []


@pytest.mark.parametrize("host,path,body", UNREAD[:2] + UNREAD[3:5] + UNREAD[7:10])
def test_unread_call_not_enforced_is_recorded_as_would_deny(agw, host, path, body):
    # sent on: the mock's answer to a path it does not serve is its own (404)
    _, _, rid = post(agw, host, path, body, cgroup=agw.world.root.child("rollout.service"))
    rec = wait_call(agw.world, rid, **{"url.path": path, "aigw.workload": "rollout"})
    assert any((d["rule"], d["action"]) == ("allow.models", "would_deny")
               for d in rec["aigw.policy.decisions"]), rec
    assert len(agw.mock.requests()) == 1
