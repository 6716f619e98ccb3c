"""Function calling for a Gemini app served by another family: an unmodified app on Google's
`@google/genai` SDK declares functions (tools[].functionDeclarations) and forces a call
(toolConfig mode ANY) on a name OpenAI serves: OpenAI gets tools and tool_choice, and its
tool_calls answer (streamed: the argument deltas gathered) reaches the app as a functionCall
part with the arguments as args, plain and streamed, with usage and cost exact. The next turn's
functionCall and functionResponse parts reach Anthropic as tool_use and tool_result blocks.
Google's own tools (googleSearch, codeExecution) and what has no counterpart are refused with a
400 in Google's format naming the member; nothing reaches a provider."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
from test_cost import check_cost, usd  # noqa: E402
from test_gemini import APP_KEY, HOST, PROMPT, record, run_genai  # noqa: E402
from test_gemini_app_fallback import (CLAUDE, GPT, MOCK_INPUT_TOKEN_BASE, PRICE,  # noqa: E402
                                      check_refused, no_secret_leaked, policy)
from test_gemini_tools import ARGS, CALL_TOKENS, SCHEMA  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

DECLARATION = {"name": "get_weather", "description": "Current weather of a city",
               "parametersJsonSchema": SCHEMA}
CONFIG = {"tools": [{"functionDeclarations": [DECLARATION]}],
          "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
PROMPT_TOKENS = len(PROMPT.split()) + MOCK_INPUT_TOKEN_BASE


def tools_policy(gw, monkeypatch):
    pol = policy(gw, monkeypatch)
    pol["models"]["only-claude"] = [{"provider": "anthropic", "model": CLAUDE}]
    return pol


def upstream_body(seen):
    return seen["body"] if isinstance(seen["body"], dict) else json.loads(seen["body"])


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_genai_function_call_answered_by_openai(gw, monkeypatch, mode):
    gw.start(tools_policy(gw, monkeypatch))
    r = run_genai(gw, mode, model="only-gpt", config=CONFIG)
    assert r["status"] == 200 and not r["error"], r
    chunks = [r["body"]] if mode == "plain" else r["body"]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert len(calls) == 1, parts
    assert calls[0]["name"] == "get_weather" and calls[0]["args"] == ARGS, calls
    assert calls[0]["id"].startswith("call_"), calls
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP", last
    u = last["usageMetadata"]
    assert (u["promptTokenCount"], u["candidatesTokenCount"], u["totalTokenCount"]) == (
        PROMPT_TOKENS, CALL_TOKENS, PROMPT_TOKENS + CALL_TOKENS), u
    seen = gw.mock.requests()
    assert [(x["provider"], x["status"]) for x in seen] == [("openai", 200)], seen
    body = upstream_body(seen[0])
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": SCHEMA}}], body
    assert body["tool_choice"] == "required" and body["model"] == GPT, body
    rec = record(gw, **{"process.pid": r["pid"]})
    assert rec["gen_ai.system"] == "openai" and rec["aigw.translated"] is True, rec
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (
        PROMPT_TOKENS, CALL_TOKENS), rec
    check_cost(gw, rec, usd(PRICE["openai"], PROMPT_TOKENS, CALL_TOKENS))
    no_secret_leaked(gw)


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("name", ["only-claude", "summary-claude"])
def test_genai_function_call_answered_by_anthropic(gw, monkeypatch, name, mode):
    """Anthropic's tool_use (streamed: its input in several input_json_delta pieces, gathered
    by the one-stage writer) reaches the app as one functionCall part with the args; by a
    logical name only Claude serves, or by fallback when the Gemini target is down."""
    gw.start(tools_policy(gw, monkeypatch))
    if name == "summary-claude":
        gw.mock.fault("down", provider="gemini")
    r = run_genai(gw, mode, model=name, config=CONFIG)
    assert r["status"] == 200 and not r["error"], r
    chunks = [r["body"]] if mode == "plain" else r["body"]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert len(calls) == 1, parts
    # besides the call, only the empty text part Gemini's last chunk carries with its finish
    assert all(p == {"text": ""} for p in parts if "functionCall" not in p), parts
    assert calls[0]["name"] == "get_weather" and calls[0]["args"] == ARGS, calls
    assert calls[0]["id"].startswith("toolu_"), calls
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP", last
    u = last["usageMetadata"]
    assert (u["promptTokenCount"], u["candidatesTokenCount"], u["totalTokenCount"]) == (
        PROMPT_TOKENS, CALL_TOKENS, PROMPT_TOKENS + CALL_TOKENS), u
    seen = [x for x in gw.mock.requests() if x["provider"] == "anthropic"]
    assert [x["status"] for x in seen] == [200], gw.mock.requests()
    body = upstream_body(seen[0])
    assert body["tools"] == [{"name": "get_weather", "description": "Current weather of a city",
                              "input_schema": SCHEMA}], body
    assert body["tool_choice"] == {"type": "any"} and body["model"] == CLAUDE, body
    assert body.get("stream", False) is (mode == "stream"), body
    rec = record(gw, **{"process.pid": r["pid"], "aigw.outcome": "ok"})
    assert rec["gen_ai.system"] == "anthropic" and rec["aigw.translated"] is True, rec
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (
        PROMPT_TOKENS, CALL_TOKENS), rec
    check_cost(gw, rec, usd(PRICE["anthropic"], PROMPT_TOKENS, CALL_TOKENS))
    no_secret_leaked(gw)


HISTORY = {"contents": [
    {"role": "user", "parts": [{"text": PROMPT}]},
    {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": ARGS},
                                 "thoughtSignature": "c2lnbmF0dXJl"}]},
    {"role": "user", "parts": [{"functionResponse": {
        "name": "get_weather", "response": {"output": "21 degrees and sunny"}}}]}],
    "tools": [{"functionDeclarations": [{
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                       "required": ["city"]}}]}]}


def test_the_call_and_its_result_reach_anthropic_as_blocks(gw, monkeypatch):
    """The turn after the call: the functionCall and functionResponse parts become a tool_use
    and the tool_result answering it (one id), Gemini's Schema JSON Schema; the text answer
    comes back in Google's format with the exact usage."""
    gw.start(tools_policy(gw, monkeypatch))
    text, code = split(gw.curl(f"https://{HOST}/v1beta/models/only-claude:generateContent",
                               json.dumps(HISTORY), headers=[f"x-goog-api-key: {APP_KEY}"]))
    assert code == 200, text
    answer = json.loads(text)
    words = answer["candidates"][0]["content"]["parts"][0]["text"].split()
    u = answer["usageMetadata"]
    assert u["candidatesTokenCount"] == len(words) > 0, answer
    seen = gw.mock.requests()
    assert [(x["provider"], x["status"]) for x in seen] == [("anthropic", 200)], seen
    body = upstream_body(seen[0])
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"], msgs
    use = msgs[1]["content"][0]
    assert use["type"] == "tool_use" and use["name"] == "get_weather" and use["input"] == ARGS
    assert msgs[2]["content"] == [{"type": "tool_result", "tool_use_id": use["id"],
                                   "content": "21 degrees and sunny"}], msgs
    assert body["tools"] == [{"name": "get_weather", "description": "Current weather of a city",
                              "input_schema": {"type": "object",
                                               "properties": {"city": {"type": "string"}},
                                               "required": ["city"]}}], body
    rec = record(gw)
    assert rec["gen_ai.system"] == "anthropic" and rec["aigw.translated"] is True, rec
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (
        u["promptTokenCount"], u["candidatesTokenCount"]), rec
    check_cost(gw, rec, usd(PRICE["anthropic"], u["promptTokenCount"], u["candidatesTokenCount"]))
    no_secret_leaked(gw)


UNMAPPABLE = [
    ("tools[0].googleSearch", {"tools": [{"googleSearch": {}}]}),
    ("tools[0].codeExecution", {"tools": [{"codeExecution": {}}]}),
    ("allowedFunctionNames", {"tools": [{"functionDeclarations": [
        {"name": "a"}, {"name": "b"}]}], "toolConfig": {"functionCallingConfig": {
            "mode": "ANY", "allowedFunctionNames": ["a", "b"]}}}),
]


@pytest.mark.parametrize("field,extra", UNMAPPABLE, ids=[u[0] for u in UNMAPPABLE])
def test_what_has_no_counterpart_is_refused_in_googles_format(gw, monkeypatch, field, extra):
    check_refused(gw, tools_policy(gw, monkeypatch), field, extra)
