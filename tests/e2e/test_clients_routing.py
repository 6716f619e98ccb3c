# SPDX-License-Identifier: MIT
"""Logical model names, fallback with translation and the explicit endpoint, seen from the
official npm SDKs (`openai`, `@anthropic-ai/sdk`): what test_routing.py shows with curl, shown
with the clients real apps use, which parse every event and raise on anything malformed.

- A captured app (the SDK, unmodified, in a captured cgroup, calling the provider by name) asks
  for a logical name whose first target fails: the other provider answers, translated, and the
  SDK gets well-formed objects of its own API, plain and streamed.
- A logical name whose only target is the other provider: translated, no fallback.
- The explicit endpoint (api.listen): the SDK pointed at the gateway by *_BASE_URL with a
  gateway key as its API key, from outside the captured cgroup; the key names the workload and
  never reaches a provider, which gets the gateway's own key; a wrong key is the SDK's
  AuthenticationError (401) and nothing is sent anywhere.

One gateway (one daemon, one mock) serves the module; each test starts with the mock reset (no
fault, empty request log) and finds its audit record by the x-aigw-request-id the SDK got.

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_clients_routing.py
"""
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import Gateway, World, free_port  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

PROMPT = "Summarise the quarter for the board"
OPENAI_GW_KEY = "sk-gateway-openai"
ANTHROPIC_GW_KEY = "sk-ant-gateway"
KEY_ENV = "AIGW_TEST_ROUTING_ANTHROPIC_KEY"
# Gateway keys the policy issues to two configured (not captured) workloads.
REPORTS_KEY = "gwk-reports-7f3a9c1e5b2d4f60"
CRM_KEY = "gwk-crm-0a1b2c3d4e5f6a7b8c9d"
WRONG_KEY = "gwk-nobody-issued-this-one-42"

GPT, CLAUDE = "gpt-4o-mini", "claude-3-5-haiku-latest"
MODELS = {
    "fast-summary": [{"provider": "openai", "model": GPT},
                     {"provider": "anthropic", "model": CLAUDE}],
    "careful": [{"provider": "anthropic", "model": CLAUDE},
                {"provider": "openai", "model": GPT}],
    "claude-via-openai-sdk": [{"provider": "anthropic", "model": CLAUDE}],
    "gpt-via-anthropic-sdk": [{"provider": "openai", "model": GPT}],
}
APP_KEYS = (harness.OPENAI_KEY, harness.ANTHROPIC_KEY)  # the dummy keys the SDKs present


class Routing:
    def __init__(self, tmp, certs):
        self.world = World(tmp)
        self.gw = Gateway(self.world, certs)
        self.api_port = free_port()
        (tmp / "openai.key").write_text(OPENAI_GW_KEY + "\n")
        (tmp / "openai.key").chmod(0o600)
        pol = self.gw.policy()
        pol["providers"]["openai"]["key_file"] = str(tmp / "openai.key")
        pol["providers"]["anthropic"]["key_env"] = KEY_ENV
        pol["models"] = MODELS
        # No retries on a target (each failure falls back at once); a breaker that never
        # opens within this module, so every call tries its targets in order.
        pol["routing"] = {"retries": 0, "backoff_ms": 10,
                          "breaker": {"failures": 1000, "open_ms": 100}}
        pol["api"] = {"listen": f"127.0.0.1:{self.api_port}"}
        pol["workloads"] = pol["workloads"] + [
            {"name": "reports", "team": "analytics", "match": {"cgroup": "/*/no-such-reports*"},
             "api_keys": [REPORTS_KEY]},
            {"name": "crm", "team": "sales", "match": {"cgroup": "/*/no-such-crm*"},
             "api_keys": [CRM_KEY]},
        ]
        self.daemon = self.gw.start(pol)
        self.ca = self.gw.ca_dir / "ca.pem"
        self.base = f"http://127.0.0.1:{self.api_port}"

    def close(self):
        try:
            self.daemon.stop()
        finally:
            try:
                self.gw.stop()
            finally:
                self.world.teardown()


@pytest.fixture(scope="module")
def rt(tmp_path_factory, mock_certs):
    for c in ("openai_sdk", "anthropic_sdk"):
        why = harness.missing(c)
        if why:
            pytest.skip(why)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, ANTHROPIC_GW_KEY)  # the daemon's environment
        r = Routing(tmp_path_factory.mktemp("clients-routing"), mock_certs)
        try:
            yield r
        finally:
            r.close()


@pytest.fixture(autouse=True)
def fresh_mock(rt):
    rt.gw.mock.control("POST", "/control/reset")  # no fault, empty request log
    assert rt.daemon.proc.poll() is None, rt.daemon.text()
    yield


# ---------------------------------------------------------------- helpers


def captured(rt, client, mode, model):
    """The SDK as an unmodified app in the captured cgroup, calling the provider by name."""
    provider = "anthropic" if client == "anthropic_sdk" else "openai"
    return harness.run_client(client, provider, mode, model, PROMPT, hosts=rt.gw.hosts,
                              ca=rt.ca, popen=rt.gw.app.popen)


def explicit(rt, client, mode, model, key):
    """The SDK configured for the gateway: *_BASE_URL and a gateway key, outside the captured
    cgroup (its own /etc/hosts does not matter: it never dials a provider name)."""
    if client == "anthropic_sdk":
        env = {"ANTHROPIC_BASE_URL": rt.base, "ANTHROPIC_API_KEY": key}
        provider = "anthropic"
    else:
        env = {"OPENAI_BASE_URL": rt.base + "/v1", "OPENAI_API_KEY": key}
        provider = "openai"
    return harness.run_client(client, provider, mode, model, PROMPT, hosts=rt.gw.hosts,
                              ca=None, env=env, popen=rt.world.outside.popen)


def record_of(rt, r):
    rid = r.headers.get("x-aigw-request-id")
    assert rid, f"no x-aigw-request-id in the SDK's response headers: {r}"
    return rt.world.wait_record(**{"event.name": "proxy.request", "aigw.request_id": rid})


def attempts(rec):
    return [(a["gen_ai.system"], a["gen_ai.request.model"], a["aigw.result"])
            for a in rec["aigw.attempts"]]


def served(rt):
    """The mock's request log of this test: [(provider, path, model, stream, status)]."""
    return [(x["provider"], x["path"], x["model"], x["stream"], x["status"])
            for x in rt.gw.mock.requests()]


def check_keys(rt):
    """Each provider got the gateway's key for it, in its own header, and nothing else."""
    for x in rt.gw.mock.requests():
        if x["provider"] == "openai":
            assert x["authorization"] == f"Bearer {OPENAI_GW_KEY}", x
            assert x["x_api_key"] is None, x
        else:
            assert x["x_api_key"] == ANTHROPIC_GW_KEY, x
            assert x["authorization"] is None, x
    log = rt.world.audit_path.read_text()
    for secret in (*APP_KEYS, OPENAI_GW_KEY, ANTHROPIC_GW_KEY, REPORTS_KEY, CRM_KEY):
        assert secret not in log


def check_anthropic_stream(r):
    """The SDK's events form one well-formed Anthropic message stream with one text block."""
    ev = r.objects()
    types = [e["type"] for e in ev]
    n = len(types) - 5
    assert n >= 1 and types == (["message_start", "content_block_start"]
                                + ["content_block_delta"] * n
                                + ["content_block_stop", "message_delta", "message_stop"]), types
    msg = ev[0]["message"]
    assert msg["type"] == "message" and msg["role"] == "assistant" and msg["content"] == []
    assert msg["id"].startswith("msg_")
    assert ev[1]["index"] == 0 and ev[1]["content_block"] == {"type": "text", "text": ""}
    deltas = ev[2:2 + n]
    assert all(d["index"] == 0 and d["delta"]["type"] == "text_delta" for d in deltas)
    text = "".join(d["delta"]["text"] for d in deltas)
    assert text.strip()
    assert ev[-3]["index"] == 0
    md = ev[-2]
    assert md["delta"]["stop_reason"] == "end_turn"
    assert md["usage"]["output_tokens"] > 0
    usage = r.answer().usage  # message_start's usage updated by message_delta's
    assert usage["input_tokens"] > 0 and usage["output_tokens"] == md["usage"]["output_tokens"]
    return text, usage


def check_anthropic_message(r):
    m = r.body
    assert m["type"] == "message" and m["role"] == "assistant" and m["id"].startswith("msg_")
    assert [b["type"] for b in m["content"]] == ["text"] and m["content"][0]["text"].strip()
    assert m["stop_reason"] == "end_turn"
    assert m["usage"]["input_tokens"] > 0 and m["usage"]["output_tokens"] > 0
    return m["content"][0]["text"], m["usage"]


def check_openai_stream(r):
    """chat.completion.chunk objects: the text in deltas, one finish_reason "stop", then (the
    SDK asks include_usage) a last chunk with no choices and the usage."""
    chunks = r.objects()
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks), chunks
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    body, last = chunks[:-1], chunks[-1]
    assert all(len(c["choices"]) == 1 and c["choices"][0]["index"] == 0 for c in body)
    assert not any(c.get("usage") for c in body)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in body)
    assert text.strip()
    finish = [c["choices"][0].get("finish_reason") for c in body]
    assert finish[-1] == "stop" and not any(finish[:-1]), finish
    assert last["choices"] == []
    u = last["usage"]
    assert u["prompt_tokens"] > 0 and u["completion_tokens"] > 0
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    return text, {"input_tokens": u["prompt_tokens"], "output_tokens": u["completion_tokens"]}


def check_openai_completion(r):
    c = r.body
    assert c["object"] == "chat.completion" and c["id"].startswith("chatcmpl-")
    assert len(c["choices"]) == 1
    ch = c["choices"][0]
    assert ch["message"]["role"] == "assistant" and ch["message"]["content"].strip()
    assert ch["finish_reason"] == "stop"
    u = c["usage"]
    assert u["prompt_tokens"] > 0 and u["completion_tokens"] > 0
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    return ch["message"]["content"], {"input_tokens": u["prompt_tokens"],
                                      "output_tokens": u["completion_tokens"]}


def check_answer(r):
    if r.client == "anthropic_sdk":
        return check_anthropic_stream(r) if r.mode == "stream" else check_anthropic_message(r)
    return check_openai_stream(r) if r.mode == "stream" else check_openai_completion(r)


def check_usage_recorded(rec, usage):
    """The record's tokens are those the app was told about."""
    assert rec["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert rec["gen_ai.usage.output_tokens"] == usage["output_tokens"]
    assert rec["cost_usd"] is not None and rec["cost_usd"] > 0


def ok(r):
    assert r.ok and r.returncode == 0 and r.error is None, r
    return r


MODES = ["plain", "stream"]
UPSTREAM_PATH = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


# ---------------------------------------------------------------- captured apps: fallback


@pytest.mark.parametrize("mode", MODES)
def test_anthropic_sdk_falls_back_to_openai_translated(rt, mode):
    rt.gw.mock.fault("down", provider="anthropic")
    r = ok(captured(rt, "anthropic_sdk", mode, "careful"))
    _, usage = check_answer(r)
    stream = mode == "stream"
    assert served(rt) == [("anthropic", "/v1/messages", CLAUDE, stream, 503),
                          ("openai", "/v1/chat/completions", GPT, stream, 200)]
    check_keys(rt)
    rec = record_of(rt, r)
    assert rec["aigw.client.kind"] == "captured" and rec["process.pid"] == r.pid
    assert rec["aigw.workload"] == "billing" and rec["aigw.cgroup.path"] == rt.gw.app.rel
    assert rec["gen_ai.system"] == "openai" and rec["gen_ai.request.model"] == "careful"
    assert rec["aigw.route"] == "careful" and rec["aigw.upstream.model"] == GPT
    assert rec["aigw.fallback"] is True and rec["aigw.translated"] is True
    assert rec["aigw.stream"] is stream and rec["url.path"] == "/v1/messages"
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"
    assert attempts(rec) == [("anthropic", CLAUDE, "fell_back"), ("openai", GPT, "ok")]
    assert [a.get("http.response.status_code") for a in rec["aigw.attempts"]] == [503, 200]
    check_usage_recorded(rec, usage)


@pytest.mark.parametrize("mode", MODES)
def test_openai_sdk_falls_back_to_anthropic_translated(rt, mode):
    rt.gw.mock.fault("down", provider="openai")
    r = ok(captured(rt, "openai_sdk", mode, "fast-summary"))
    _, usage = check_answer(r)
    stream = mode == "stream"
    assert served(rt) == [("openai", "/v1/chat/completions", GPT, stream, 503),
                          ("anthropic", "/v1/messages", CLAUDE, stream, 200)]
    check_keys(rt)
    rec = record_of(rt, r)
    assert rec["aigw.client.kind"] == "captured" and rec["process.pid"] == r.pid
    assert rec["gen_ai.system"] == "anthropic" and rec["gen_ai.request.model"] == "fast-summary"
    assert rec["aigw.route"] == "fast-summary" and rec["aigw.upstream.model"] == CLAUDE
    assert rec["aigw.fallback"] is True and rec["aigw.translated"] is True
    assert rec["aigw.stream"] is stream and rec["url.path"] == "/v1/chat/completions"
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"
    assert attempts(rec) == [("openai", GPT, "fell_back"), ("anthropic", CLAUDE, "ok")]
    assert [a.get("http.response.status_code") for a in rec["aigw.attempts"]] == [503, 200]
    check_usage_recorded(rec, usage)


# ---------------------------------------------------------------- captured apps: the other API


CROSS = [("openai_sdk", "claude-via-openai-sdk", "anthropic", CLAUDE),
         ("anthropic_sdk", "gpt-via-anthropic-sdk", "openai", GPT)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client,name,provider,model", CROSS, ids=[c[0] for c in CROSS])
def test_a_name_served_only_by_the_other_api_is_translated_without_fallback(
        rt, client, name, provider, model, mode):
    r = ok(captured(rt, client, mode, name))
    _, usage = check_answer(r)
    assert served(rt) == [(provider, UPSTREAM_PATH[provider], model, mode == "stream", 200)]
    check_keys(rt)
    rec = record_of(rt, r)
    assert rec["gen_ai.system"] == provider and rec["gen_ai.request.model"] == name
    assert rec["aigw.route"] == name and rec["aigw.upstream.model"] == model
    assert rec["aigw.fallback"] is False and rec["aigw.translated"] is True
    assert attempts(rec) == [(provider, model, "ok")]
    check_usage_recorded(rec, usage)


# ---------------------------------------------------------------- the explicit endpoint


EXPLICIT = [("openai_sdk", "fast-summary", REPORTS_KEY, "openai", GPT),
            ("anthropic_sdk", "careful", CRM_KEY, "anthropic", CLAUDE)]
WORKLOAD = {REPORTS_KEY: ("reports", "analytics"), CRM_KEY: ("crm", "sales")}


def check_explicit_record(rt, r, key):
    rec = record_of(rt, r)
    assert rec["aigw.client.kind"] == "explicit"
    assert (rec["aigw.workload"], rec["aigw.team"]) == WORKLOAD[key]
    assert "process.pid" not in rec and "aigw.cgroup.path" not in rec
    assert rec["aigw.credential"] == "gateway"
    text = rt.daemon.text()
    assert REPORTS_KEY not in text and CRM_KEY not in text
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"
    return rec


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client,name,key,provider,model", EXPLICIT,
                         ids=[e[0] for e in EXPLICIT])
def test_sdk_at_the_explicit_endpoint_with_a_gateway_key(rt, client, name, key, provider,
                                                         model, mode):
    r = ok(explicit(rt, client, mode, name, key))
    _, usage = check_answer(r)
    assert served(rt) == [(provider, UPSTREAM_PATH[provider], model, mode == "stream", 200)]
    check_keys(rt)  # the provider got the gateway's key, never the gateway key
    rec = check_explicit_record(rt, r, key)
    assert rec["gen_ai.system"] == provider and rec["gen_ai.request.model"] == name
    assert rec["aigw.route"] == name and rec["aigw.upstream.model"] == model
    assert rec["aigw.fallback"] is False and not rec.get("aigw.translated")
    assert attempts(rec) == [(provider, model, "ok")]
    check_usage_recorded(rec, usage)


@pytest.mark.parametrize("mode", MODES)
def test_explicit_endpoint_falls_back_translated(rt, mode):
    rt.gw.mock.fault("down", provider="openai")
    r = ok(explicit(rt, "openai_sdk", mode, "fast-summary", REPORTS_KEY))
    _, usage = check_answer(r)
    assert [x[:2] for x in served(rt)] == [("openai", "/v1/chat/completions"),
                                           ("anthropic", "/v1/messages")]
    check_keys(rt)
    rec = check_explicit_record(rt, r, REPORTS_KEY)
    assert rec["gen_ai.system"] == "anthropic"
    assert rec["aigw.fallback"] is True and rec["aigw.translated"] is True
    assert attempts(rec) == [("openai", GPT, "fell_back"), ("anthropic", CLAUDE, "ok")]
    check_usage_recorded(rec, usage)


UNLISTED = [("openai_sdk", "gpt-4o", "openai"), ("anthropic_sdk", "claude-sonnet-4-5",
                                                 "anthropic")]


@pytest.mark.parametrize("client,model,provider", UNLISTED, ids=[u[0] for u in UNLISTED])
def test_explicit_endpoint_sends_an_unlisted_model_to_its_api_family(rt, client, model,
                                                                     provider):
    r = ok(explicit(rt, client, "plain", model, CRM_KEY))
    check_answer(r)
    assert served(rt) == [(provider, UPSTREAM_PATH[provider], model, False, 200)]
    check_keys(rt)
    rec = check_explicit_record(rt, r, CRM_KEY)
    assert rec["gen_ai.system"] == provider and rec["gen_ai.request.model"] == model
    assert rec.get("aigw.route") is None  # no logical name was asked for
    assert rec["aigw.upstream.model"] == model and not rec.get("aigw.translated")
    assert rec["aigw.fallback"] is False and attempts(rec) == [(provider, model, "ok")]


def test_explicit_unlisted_model_record_has_no_route_field(rt):
    r = ok(explicit(rt, "openai_sdk", "plain", "gpt-4o", CRM_KEY))
    rec = check_explicit_record(rt, r, CRM_KEY)
    assert rec["aigw.upstream.model"] == "gpt-4o"
    assert "aigw.route" not in rec, rec


ERRORS = {
    "openai_sdk": lambda b: b["code"] == "invalid_api_key" and b["message"],
    "anthropic_sdk": lambda b: (b["type"] == "error"
                                and b["error"]["type"] == "authentication_error"
                                and b["error"]["message"]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", ["openai_sdk", "anthropic_sdk"])
def test_a_wrong_gateway_key_is_the_sdks_authentication_error(rt, client, mode):
    model = "fast-summary" if client == "openai_sdk" else "careful"
    r = explicit(rt, client, mode, model, WRONG_KEY)
    assert r.returncode == 1 and r.status == 401, r
    assert r.error_class == "AuthenticationError", r
    assert ERRORS[client](r.body), r.body
    assert WRONG_KEY not in json.dumps(r.body)
    assert rt.gw.mock.requests() == []  # nothing reached a provider
    rec = record_of(rt, r)
    assert rec["aigw.client.kind"] == "explicit" and rec["aigw.outcome"] == "unauthorized"
    assert rec["http.response.status_code"] == 401 and "aigw.workload" not in rec
    assert WRONG_KEY not in rt.world.audit_path.read_text()
    assert WRONG_KEY not in rt.daemon.text()


def get_models(rt, headers):
    req = urllib.request.Request(rt.base + "/v1/models", headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("auth", ["bearer", "x-api-key"])
def test_models_lists_the_logical_names_to_a_key_holder(rt, auth):
    hdr = ({"Authorization": f"Bearer {REPORTS_KEY}"} if auth == "bearer"
           else {"x-api-key": CRM_KEY})
    status, body = get_models(rt, hdr)
    assert status == 200, body
    assert body["object"] == "list"
    assert sorted(m["id"] for m in body["data"]) == sorted(MODELS)
    assert all(m["object"] == "model" for m in body["data"])
    assert rt.gw.mock.requests() == []


@pytest.mark.parametrize("hdr", [{}, {"Authorization": f"Bearer {WRONG_KEY}"},
                                 {"x-api-key": WRONG_KEY}], ids=["none", "wrong", "wrong-x"])
def test_models_without_a_valid_key_is_401(rt, hdr):
    status, body = get_models(rt, hdr)
    assert status == 401, body
    assert body["error"]["code"] == "invalid_api_key" and body["error"]["message"]
    assert not any(n in json.dumps(body) for n in MODELS)
