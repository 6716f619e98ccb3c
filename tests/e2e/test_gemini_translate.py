"""Translation to Gemini (providers.NAME.api "gemini" as a target of other API families): an
OpenAI chat completion (and an Anthropic Messages call) whose logical name falls back to, or is
mapped to, a Gemini model is sent as generateContent (streamGenerateContent?alt=sse for a
stream) with the model in the path and the gateway's key in x-goog-api-key, and answered in the
app's own format, plain and streamed; usage and cost are Gemini's, exactly; what has no exact
translation (images, n > 1, one tool call at a time) is refused with a 400 naming it, and
recorded (test_gemini_tools.py has function calling).

The official SDKs (`openai`, `@anthropic-ai/sdk` npm) are the unmodified captured apps."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import (ID_FORMAT, module_gateway, shared_call_check, split_id,  # noqa: E402
                      wait_call)
from test_clients_routing import (check_anthropic_message, check_anthropic_stream,  # noqa: E402
                                  check_openai_completion, check_openai_stream)
from test_cost import PRICES, check_cost, usd  # noqa: E402
from test_gemini import GATEWAY_KEY, HOST, MODEL, gemini_policy  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

GPT, CLAUDE = "gpt-4o-mini", "claude-3-5-haiku-latest"
OPENAI_GW_KEY = "sk-gateway-openai-for-gemini-tests"
ANTHROPIC_GW_KEY = "sk-ant-gateway-for-gemini-tests"
PROMPT = "Summarise the quarter for the board"
SYSTEM = "You answer in plain words"
MOCK_INPUT_TOKEN_BASE = 3  # tests/mockprov/mock.h: added to the prompt's word count
MODELS = {
    "fast-summary": [{"provider": "openai", "model": GPT},
                     {"provider": "gemini", "model": MODEL}],
    "gemini-for-openai-apps": [{"provider": "gemini", "model": MODEL}],
    "careful": [{"provider": "anthropic", "model": CLAUDE},
                {"provider": "gemini", "model": MODEL}],
    "gpt-for-gemini-apps": [{"provider": "openai", "model": GPT}],
}
APP_SECRETS = (harness.OPENAI_KEY, harness.ANTHROPIC_KEY, "sk-app-curl")


def translate_policy(gw, monkeypatch):
    pol = gemini_policy(gw, monkeypatch)
    monkeypatch.setenv("AIGW_TEST_GXLATE_OPENAI_KEY", OPENAI_GW_KEY)
    monkeypatch.setenv("AIGW_TEST_GXLATE_ANTHROPIC_KEY", ANTHROPIC_GW_KEY)
    pol["providers"]["openai"]["key_env"] = "AIGW_TEST_GXLATE_OPENAI_KEY"
    pol["providers"]["anthropic"]["key_env"] = "AIGW_TEST_GXLATE_ANTHROPIC_KEY"
    pol["models"] = MODELS
    pol["routing"] = {"retries": 0, "backoff_ms": 10,
                      "breaker": {"failures": 1000, "open_ms": 100}}
    return pol


# Every test below calls one gateway with translate_policy: they share its daemon (a daemon
# costs ~0.4 s of CPU to start under ASan). Each test's mock log and faults are reset, and
# each finds its record by its app's pid or by its answer's x-aigw-request-id. The breaker
# opens only after 1000 failures: one test's provider "down" leaves the next a closed one.

@pytest.fixture(scope="module")
def shared(tmp_path_factory, mock_certs):
    with module_gateway(tmp_path_factory, mock_certs, "gemini-translate") as g:
        with pytest.MonkeyPatch.context() as mp:
            g.start(translate_policy(g, mp))
        yield g


@pytest.fixture
def tgw(shared):
    with shared_call_check(shared):
        yield shared


def sdk(gw, client, mode, model):
    provider = "anthropic" if client == "anthropic_sdk" else "openai"
    why = harness.missing(client)
    if why:
        pytest.skip(why)
    return harness.run_client(client, provider, mode, model, PROMPT, hosts=gw.hosts,
                              ca=gw.ca_dir / "ca.pem", popen=gw.app.popen)


def gemini_calls(gw):
    return [x for x in gw.mock.requests() if x["provider"] == "gemini"]


def check_gemini_call(seen, stream, contents=None):
    """What reached the Gemini mock: its path and query, the gateway's key, a body in
    Gemini's own terms (no "model", no "stream": the path says both)."""
    method = "streamGenerateContent" if stream else "generateContent"
    assert (seen["host"], seen["path"], seen["query"], seen["status"]) == (
        HOST, f"/v1beta/models/{MODEL}:{method}", "alt=sse" if stream else "", 200), seen
    assert seen["x_goog_api_key"] == GATEWAY_KEY and seen["authorization"] is None, seen
    body = seen["body"] if isinstance(seen["body"], dict) else json.loads(seen["body"])
    assert "model" not in body and "stream" not in body and "messages" not in body, body
    assert body["contents"] == (contents or [{"role": "user", "parts": [{"text": PROMPT}]}])
    return body


def no_secret_leaked(gw):
    log = gw.world.audit_path.read_text()
    for seen in gw.mock.requests():
        for s in APP_SECRETS:
            assert s not in json.dumps(seen), (s, seen)
    for s in (*APP_SECRETS, GATEWAY_KEY, OPENAI_GW_KEY, ANTHROPIC_GW_KEY):
        assert s not in log, s


def check_record(gw, r, name, usage, fallback):
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    assert rec["gen_ai.system"] == "gemini" and rec["gen_ai.request.model"] == name
    assert rec["aigw.upstream.model"] == MODEL and rec["aigw.translated"] is True
    assert rec["aigw.fallback"] is fallback and rec["aigw.outcome"] == "ok"
    assert rec["aigw.credential"] == "gateway"
    assert rec["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert rec["gen_ai.usage.output_tokens"] == usage["output_tokens"]
    check_cost(gw, rec, usd(PRICES[f"gemini/{MODEL}"], usage["input_tokens"],
                            usage["output_tokens"]))
    return rec


PROMPT_TOKENS = len(PROMPT.split()) + MOCK_INPUT_TOKEN_BASE


FALLBACKS = [("openai_sdk", "fast-summary", "openai"), ("anthropic_sdk", "careful", "anthropic")]
CHECKS = {("openai_sdk", "plain"): check_openai_completion,
          ("openai_sdk", "stream"): check_openai_stream,
          ("anthropic_sdk", "plain"): check_anthropic_message,
          ("anthropic_sdk", "stream"): check_anthropic_stream}


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("client,name,down", FALLBACKS, ids=[f[0] for f in FALLBACKS])
def test_sdk_falls_back_to_gemini_translated(tgw, client, name, down, mode):
    gw = tgw
    gw.mock.fault("down", provider=down)
    r = sdk(gw, client, mode, name)
    assert r.ok and r.returncode == 0 and r.error is None, r
    text, usage = CHECKS[client, mode](r)
    # the mock answers a token a word
    assert (usage["input_tokens"], usage["output_tokens"]) == (PROMPT_TOKENS,
                                                               len(text.split()))
    seen = gw.mock.requests()
    assert [(x["provider"], x["status"]) for x in seen] == [(down, 503), ("gemini", 200)]
    body = check_gemini_call(seen[1], mode == "stream")
    if down == "anthropic":  # the Anthropic app's max_tokens, as Gemini reads it
        assert body["generationConfig"]["maxOutputTokens"] == seen[0]["max_tokens"]
    rec = check_record(gw, r, name, usage, True)
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        (down, "fell_back"), ("gemini", "ok")]
    no_secret_leaked(gw)


@pytest.mark.parametrize("stream", [False, True])
def test_a_logical_name_mapped_to_gemini_maps_every_field(tgw, stream):
    """System message, max_tokens, temperature, top_p and stop each reach Gemini where it
    reads them; the answer cut by max_tokens is finish_reason "length"."""
    gw = tgw
    req = {"model": "gemini-for-openai-apps", "max_tokens": 5, "temperature": 0.4,
           "top_p": 0.9, "stop": ["END"], "stream": stream,
           "messages": [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": PROMPT}]}
    if stream:
        req["stream_options"] = {"include_usage": True}
    text, code, rid = split_id(gw.curl("https://api.openai.com/v1/chat/completions",
                                       json.dumps(req), extra=["-w", ID_FORMAT],
                                       headers=["authorization: Bearer sk-app-curl"]))
    assert code == 200, text
    body = check_gemini_call(gemini_calls(gw)[0], stream)
    assert body["systemInstruction"] == {"parts": [{"text": SYSTEM}]}, body
    assert body["generationConfig"] == {"maxOutputTokens": 5, "temperature": 0.4,
                                        "topP": 0.9, "stopSequences": ["END"]}, body
    prompt = PROMPT_TOKENS + len(SYSTEM.split())
    if stream:
        events = [e[len("data: "):] for e in text.split("\n\n") if e.startswith("data: ")]
        assert events[-1] == "[DONE]", events
        chunks = [json.loads(e) for e in events[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
        assert finish[-1] == "length" and not any(finish[:-1]), finish
        u = chunks[-1]["usage"]
        assert chunks[-1]["choices"] == [] and all(c["usage"] is None for c in chunks[:-1])
    else:
        c = json.loads(text)
        assert c["object"] == "chat.completion" and c["choices"][0]["finish_reason"] == "length"
        assert len(c["choices"][0]["message"]["content"].split()) == 5
        u = c["usage"]
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (prompt, 5,
                                                                               prompt + 5)
    rec = wait_call(gw.world, rid)
    assert rec["gen_ai.system"] == "gemini" and rec["aigw.translated"] is True
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (prompt, 5)
    check_cost(gw, rec, usd(PRICES[f"gemini/{MODEL}"], prompt, 5))
    no_secret_leaked(gw)


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_openai_sdk_with_a_name_only_gemini_serves(tgw, mode):
    gw = tgw
    r = sdk(gw, "openai_sdk", mode, "gemini-for-openai-apps")
    assert r.ok and r.returncode == 0 and r.error is None, r
    _, usage = check_openai_stream(r) if mode == "stream" else check_openai_completion(r)
    seen = gw.mock.requests()
    assert [x["provider"] for x in seen] == ["gemini"], seen
    check_gemini_call(seen[0], mode == "stream")
    check_record(gw, r, "gemini-for-openai-apps", usage, False)
    no_secret_leaked(gw)


UNTRANSLATABLE = [
    ("parallel_tool_calls", {"tools": [{"type": "function", "function": {"name": "lookup"}}],
                             "parallel_tool_calls": False}),
    ("n", {"n": 2}),
    ("logprobs", {"logprobs": True}),
    ("messages[0].content[1]", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": PROMPT},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
]


@pytest.mark.parametrize("field,extra", UNTRANSLATABLE, ids=[u[0] for u in UNTRANSLATABLE])
def test_what_cannot_be_translated_is_refused_and_recorded(tgw, field, extra):
    refused(tgw, field, extra)


def check_refused(gw, monkeypatch, field, extra):
    """refused() on GW, started with translate_policy."""
    gw.start(translate_policy(gw, monkeypatch))
    refused(gw, field, extra)


def refused(gw, field, extra):
    """An OpenAI call with EXTRA on a name only Gemini serves: a 400 naming FIELD and Gemini,
    recorded as skipped; nothing reaches a provider."""
    req = {"model": "gemini-for-openai-apps",
           "messages": [{"role": "user", "content": PROMPT}], **extra}
    text, code, rid = split_id(gw.curl("https://api.openai.com/v1/chat/completions",
                                       json.dumps(req), extra=["-w", ID_FORMAT],
                                       headers=["authorization: Bearer sk-app-curl"]))
    assert code == 400, text
    err = json.loads(text)["error"]
    assert field in err["message"] and "Gemini" in err["message"], err
    assert err["type"] == "invalid_request_error", err
    assert gw.mock.requests() == []
    rec = wait_call(gw.world, rid)
    assert rec["http.response.status_code"] == 400 and field in rec["error.type"], rec
    assert rec["aigw.attempts"][0]["aigw.result"] == "skipped", rec


def test_a_gemini_apps_call_with_a_name_only_openai_serves_is_translated(tgw):
    """The other way (a Gemini app served by OpenAI, issue 12): the call is translated to a
    chat completion with the gateway's OpenAI key and answered in Gemini's own format; the
    app's key reaches no provider. (tests/e2e/test_gemini_app_fallback.py has the SDK.)"""
    gw = tgw
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
    text, code, _ = split_id(gw.curl(f"https://{HOST}/v1beta/models/gpt-for-gemini-apps:"
                                     "generateContent", body, headers=["x-goog-api-key: AIza-app"],
                                     extra=["-w", ID_FORMAT]))
    assert code == 200, text
    answer = json.loads(text)
    words = answer["candidates"][0]["content"]["parts"][0]["text"].split()
    assert answer["candidates"][0]["finishReason"] == "STOP", answer
    assert answer["usageMetadata"]["candidatesTokenCount"] == len(words) > 0, answer
    seen = gw.mock.requests()
    assert [(x["provider"], x["path"], x["authorization"]) for x in seen] == [
        ("openai", "/v1/chat/completions", f"Bearer {OPENAI_GW_KEY}")], seen
    assert "AIza-app" not in json.dumps(seen)


def sdk_with(gw, client, mode, model, params):
    """The SDK's call with PARAMS added to its request (SDK_EXTRA_PARAMS)."""
    provider = "anthropic" if client == "anthropic_sdk" else "openai"
    why = harness.missing(client)
    if why:
        pytest.skip(why)
    return harness.run_client(client, provider, mode, model, PROMPT, hosts=gw.hosts,
                              ca=gw.ca_dir / "ca.pem", popen=gw.app.popen,
                              env={"SDK_EXTRA_PARAMS": json.dumps(params)})


def check_filtered_answer(r, client, mode):
    """The SDK got a 200 answer without text, ended by the content filter in its own terms
    (OpenAI content_filter, Anthropic refusal); its usage: the prompt's tokens, no output."""
    assert r.ok and r.returncode == 0 and r.error is None and r.status == 200, r
    if client == "openai_sdk" and mode == "plain":
        ch = r.body["choices"][0]
        assert ch["finish_reason"] == "content_filter" and not ch["message"]["content"], r.body
        u = r.body["usage"]
        return u["prompt_tokens"], u["completion_tokens"]
    if client == "openai_sdk":
        chunks = r.objects()
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
        assert finish[-1] == "content_filter" and not any(finish[:-1]), chunks
        assert not "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                           if c["choices"])
        u = chunks[-1]["usage"]
        return u["prompt_tokens"], u["completion_tokens"]
    if mode == "plain":
        assert r.body["stop_reason"] == "refusal" and r.body["content"] == [], r.body
        return r.body["usage"]["input_tokens"], r.body["usage"]["output_tokens"]
    types = [e["type"] for e in r.objects()]
    assert types == ["message_start", "message_delta", "message_stop"], types
    assert r.objects()[1]["delta"]["stop_reason"] == "refusal"
    u = r.answer().usage
    return u["input_tokens"], u["output_tokens"]


@pytest.mark.parametrize("fault", ["blocked", "filtered"])
@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("client,name,down", FALLBACKS, ids=[f[0] for f in FALLBACKS])
def test_a_prompt_gemini_blocks_is_a_filtered_answer(tgw, client, name, down, mode,
                                                      fault):
    """Gemini's safety filters block the prompt (promptFeedback.blockReason, no candidate) or
    the answer (finishReason SAFETY): the app gets a 200 answer with no text that its SDK reads
    as filtered, and the record a call that ended well, billed for the prompt."""
    gw = tgw
    gw.mock.fault("down", provider=down)
    gw.mock.fault(fault, provider="gemini")
    r = sdk(gw, client, mode, name)
    assert check_filtered_answer(r, client, mode) == (PROMPT_TOKENS, 0)
    seen = gw.mock.requests()
    assert [(x["provider"], x["status"]) for x in seen] == [(down, 503), ("gemini", 200)]
    rec = check_record(gw, r, name, {"input_tokens": PROMPT_TOKENS, "output_tokens": 0}, True)
    if mode == "stream":
        assert rec["aigw.stream.end"] == "ok" and "aigw.stream.ended_by" not in rec, rec
    no_secret_leaked(gw)


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_anthropic_sdk_top_k_reaches_gemini(tgw, mode):
    gw = tgw
    gw.mock.fault("down", provider="anthropic")
    r = sdk_with(gw, "anthropic_sdk", mode, "careful", {"top_k": 7})
    assert r.ok and r.returncode == 0 and r.error is None, r
    _, usage = CHECKS["anthropic_sdk", mode](r)
    body = check_gemini_call(gemini_calls(gw)[0], mode == "stream")
    assert body["generationConfig"]["topK"] == 7, body
    check_record(gw, r, "careful", usage, True)


JSON_SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"},
                                                "risk": {"type": "integer", "minimum": 0}},
               "required": ["summary", "risk"], "additionalProperties": False}
JSON_FORMATS = [
    ("json_object", {"type": "json_object"}, None),
    ("json_schema", {"type": "json_schema",
                     "json_schema": {"name": "board", "strict": True, "schema": JSON_SCHEMA}},
     JSON_SCHEMA),
]


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("kind,fmt,schema", JSON_FORMATS, ids=[f[0] for f in JSON_FORMATS])
def test_openai_sdk_json_mode_reaches_gemini(tgw, kind, fmt, schema, mode):
    """response_format json_object / json_schema -> responseMimeType application/json (and
    the schema, as it came, as responseJsonSchema)."""
    gw = tgw
    gw.mock.fault("down", provider="openai")
    r = sdk_with(gw, "openai_sdk", mode, "fast-summary", {"response_format": fmt})
    assert r.ok and r.returncode == 0 and r.error is None, r
    _, usage = CHECKS["openai_sdk", mode](r)
    body = check_gemini_call(gemini_calls(gw)[0], mode == "stream")
    cfg = body["generationConfig"]
    assert cfg["responseMimeType"] == "application/json", body
    assert cfg.get("responseJsonSchema") == schema and "responseSchema" not in cfg, body
    check_record(gw, r, "fast-summary", usage, True)


def test_a_json_schema_gemini_would_not_hold_is_refused(tgw):
    gw = tgw
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]+$"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}
    r = sdk_with(gw, "openai_sdk", "plain", "gemini-for-openai-apps", {"response_format": fmt})
    field = "response_format.json_schema.schema.properties.code.pattern"
    assert r.status == 400 and r.error_class == "BadRequestError", r
    assert field in r.body["message"] and "Gemini" in r.body["message"], r.body
    assert gw.mock.requests() == []
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    assert rec["http.response.status_code"] == 400 and field in rec["error.type"], rec
