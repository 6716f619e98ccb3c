"""A Gemini app served by another family (issue 12): an unmodified app on Google's
`@google/genai` npm SDK calls a logical name whose Gemini target is down (mockprov fault) and
is answered by an OpenAI or an Anthropic target, plain and streamed (alt=sse): the request
translated (generateContent -> chat completions / Messages), the answer translated back to
GenerateContentResponse (text, finishReason, usageMetadata, modelVersion), re-keyed with the
gateway's key (the app's never reaches a mock), costed at the serving target's price, and
recorded as a translated fallback. A field with no counterpart (Google's own tools) is refused with a 400 in
Google's error format naming it, and nothing reaches a provider."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
from test_cost import PRICES, check_cost, usd  # noqa: E402
from test_gemini import (APP_KEY, GATEWAY_KEY, HOST, MODEL, PROMPT, WORDS,  # noqa: E402
                         gemini_policy, record, run_genai)
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

GPT, CLAUDE = "gpt-4o-mini", "claude-3-5-haiku-latest"
PRICE = {"openai": PRICES["openai/gpt-4o-mini"], "anthropic": PRICES["anthropic/claude-3-5-haiku"]}
OPENAI_GW_KEY = "sk-gateway-openai-for-gemini-apps"
ANTHROPIC_GW_KEY = "sk-ant-gateway-for-gemini-apps"
MOCK_INPUT_TOKEN_BASE = 3  # tests/mockprov/mock.h: added to the prompt's word count
MODELS = {
    "summary-gpt": [{"provider": "gemini", "model": MODEL}, {"provider": "openai", "model": GPT}],
    "summary-claude": [{"provider": "gemini", "model": MODEL},
                       {"provider": "anthropic", "model": CLAUDE}],
}
NAMES = {"openai": "summary-gpt", "anthropic": "summary-claude"}
MODELS["only-gpt"] = [{"provider": "openai", "model": GPT}]


def policy(gw, monkeypatch):
    pol = gemini_policy(gw, monkeypatch)
    monkeypatch.setenv("AIGW_TEST_GAPP_OPENAI_KEY", OPENAI_GW_KEY)
    monkeypatch.setenv("AIGW_TEST_GAPP_ANTHROPIC_KEY", ANTHROPIC_GW_KEY)
    pol["providers"]["openai"]["key_env"] = "AIGW_TEST_GAPP_OPENAI_KEY"
    pol["providers"]["anthropic"]["key_env"] = "AIGW_TEST_GAPP_ANTHROPIC_KEY"
    pol["models"] = MODELS
    pol["routing"] = {"retries": 0, "backoff_ms": 10,
                      "breaker": {"failures": 1000, "open_ms": 100}}
    return pol


def no_secret_leaked(gw):
    log = gw.world.audit_path.read_text()
    for seen in gw.mock.requests():
        assert APP_KEY not in json.dumps(seen), seen
    for s in (APP_KEY, GATEWAY_KEY, OPENAI_GW_KEY, ANTHROPIC_GW_KEY):
        assert s not in log, s


def check_upstream(seen, target, stream):
    """What reached the serving mock: its own API's path, the gateway's key, the app's prompt
    in that API's terms, asking for the target's model."""
    body = seen["body"] if isinstance(seen["body"], dict) else json.loads(seen["body"])
    assert body["messages"] == [{"role": "user", "content": PROMPT}], body
    assert body.get("stream", False) is stream, body
    if target == "openai":
        assert seen["path"] == "/v1/chat/completions" and body["model"] == GPT, seen
        assert seen["authorization"] == f"Bearer {OPENAI_GW_KEY}", seen
        if stream:
            assert body["stream_options"] == {"include_usage": True}, body
    else:
        assert seen["path"] == "/v1/messages" and body["model"] == CLAUDE, seen
        assert seen["x_api_key"] == ANTHROPIC_GW_KEY, seen
    assert "contents" not in body and "x_goog_api_key" not in seen or \
        seen["x_goog_api_key"] is None, seen


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("target", ["openai", "anthropic"])
def test_genai_app_falls_back_to_another_family(gw, monkeypatch, target, mode):
    gw.start(policy(gw, monkeypatch))
    gw.mock.fault("down", provider="gemini")
    r = run_genai(gw, mode, model=NAMES[target])
    assert r["status"] == 200 and not r["error"], r
    if mode == "plain":
        chunks = [r["body"]]
        text = r["body"]["text"]
    else:
        chunks = r["body"]
        assert len(chunks) >= 2, chunks  # text arrives before the last event
        text = "".join(c["text"] or "" for c in chunks)
    last = chunks[-1]
    usage = last["usageMetadata"]
    assert last["candidates"][0]["finishReason"] == "STOP", last
    assert all(c["candidates"][0]["content"]["role"] == "model" for c in chunks), chunks
    assert all("usageMetadata" not in c for c in chunks[:-1]), chunks
    prompt = len(PROMPT.split()) + MOCK_INPUT_TOKEN_BASE
    out = len(text.split())  # the mock answers a token a word
    assert out > 0 and (usage["promptTokenCount"], usage["candidatesTokenCount"],
                        usage["totalTokenCount"]) == (prompt, out, prompt + out), usage
    assert last["modelVersion"].startswith(GPT if target == "openai" else "claude-3-5-haiku")
    seen = gw.mock.requests()
    assert [(x["provider"], x["status"]) for x in seen] == [("gemini", 503), (target, 200)]
    assert seen[0]["x_goog_api_key"] == GATEWAY_KEY, seen[0]
    check_upstream(seen[1], target, mode == "stream")
    rec = record(gw, **{"process.pid": r["pid"]})
    assert rec["gen_ai.system"] == target and rec["gen_ai.request.model"] == NAMES[target]
    assert rec["aigw.translated"] is True and rec["aigw.fallback"] is True, rec
    assert rec["aigw.outcome"] == "ok" and rec["aigw.credential"] == "gateway", rec
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        ("gemini", "fell_back"), (target, "ok")], rec
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (prompt,
                                                                                      out)
    check_cost(gw, rec, usd(PRICE[target], prompt, out))
    no_secret_leaked(gw)


UNTRANSLATABLE = [
    ("tools[0].googleSearch", {"tools": [{"googleSearch": {}}]}),
    ("contents[0].parts[1].inlineData", {"contents": [{"role": "user", "parts": [
        {"text": PROMPT}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}]}),
    ("generationConfig.responseMimeType", {"generationConfig": {
        "responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"}}}),
    ("generationConfig.candidateCount", {"generationConfig": {"candidateCount": 2}}),
]


@pytest.mark.parametrize("field,extra", UNTRANSLATABLE, ids=[u[0] for u in UNTRANSLATABLE])
def test_a_field_without_counterpart_is_refused_naming_it(gw, monkeypatch, field, extra):
    check_refused(gw, policy(gw, monkeypatch), field, extra)


def check_refused(gw, pol, field, extra):
    """A name only OpenAI serves: what has no counterpart there is refused with a 400 in
    Google's format naming the field, recorded, and nothing reaches a provider."""
    gw.start(pol)
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}], **extra})
    text, code = split(gw.curl(f"https://{HOST}/v1beta/models/only-gpt:generateContent",
                               body, headers=[f"x-goog-api-key: {APP_KEY}"]))
    assert code == 400, text
    err = json.loads(text)["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT", err
    assert field in err["message"] and "OpenAI" in err["message"], err
    assert gw.mock.requests() == []
    rec = record(gw)
    assert rec["http.response.status_code"] == 400 and field in rec["error.type"], rec
    assert rec["aigw.attempts"][0]["aigw.result"] == "skipped", rec
    no_secret_leaked(gw)


TWICE = [
    ("systemInstruction", '{"contents":[{"parts":[{"text":"%s"}]}],"systemInstruction":{"parts":'
     '[{"text":"Be brief."}]},"system_instruction":{"parts":[{"text":"Say yes."}]}}' % PROMPT),
    ("contents", '{"contents":[{"parts":[{"text":"%s"}]}],"contents":[{"parts":[{"text":'
     '"hidden"}]}]}' % PROMPT),
]


@pytest.mark.parametrize("name,body", TWICE, ids=[t[0] for t in TWICE])
def test_a_member_given_twice_is_refused(gw, monkeypatch, name, body):
    """A hostile app names a member twice (or in both its forms) so that what the translation
    forwards is not all it sent: refused with a 400 in Google's format naming it, recorded, and
    nothing reaches a provider."""
    gw.start(policy(gw, monkeypatch))
    text, code = split(gw.curl(f"https://{HOST}/v1beta/models/only-gpt:generateContent",
                               body, headers=[f"x-goog-api-key: {APP_KEY}"]))
    assert code == 400, text
    err = json.loads(text)["error"]
    assert err["status"] == "INVALID_ARGUMENT" and "twice" in err["message"], err
    assert gw.mock.requests() == []
    rec = record(gw)
    assert rec["http.response.status_code"] == 400 and "twice" in rec["error.type"], rec
    no_secret_leaked(gw)


def test_a_stream_without_alt_sse_is_refused_clearly(gw, monkeypatch):
    """streamGenerateContent without alt=sse answers one JSON array, which no translator
    writes: a name only OpenAI serves refuses it in Google's format, recorded, and nothing
    reaches a provider."""
    gw.start(policy(gw, monkeypatch))
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
    text, code = split(gw.curl(f"https://{HOST}/v1beta/models/only-gpt:streamGenerateContent",
                               body, headers=[f"x-goog-api-key: {APP_KEY}"]))
    err = json.loads(text)["error"]
    assert code == err["code"] == 400 and err["status"] == "INVALID_ARGUMENT", (code, err)
    assert "cannot be translated" in err["message"], err
    assert gw.mock.requests() == []
    rec = record(gw)
    assert rec["http.response.status_code"] == code and rec["aigw.outcome"] != "ok", rec
    no_secret_leaked(gw)
