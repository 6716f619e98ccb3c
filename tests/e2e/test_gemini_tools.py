"""Function calling across translation to Gemini: an OpenAI or Anthropic app (the official
SDKs, unmodified) whose logical name is served by a Gemini model sends tools and tool_choice
(and, in its next turn, the call and its result); Gemini gets functionDeclarations, toolConfig,
functionCall and functionResponse parts; Gemini's functionCall answer reaches the app as OpenAI
tool_calls (a new call id, arguments as JSON text, finish_reason "tool_calls") or Anthropic
tool_use blocks (stop_reason "tool_use"), plain and streamed; usage and cost are Gemini's,
exactly. What Gemini's function calling cannot say is refused with a 400 naming the member,
and nothing is sent upstream."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from test_cost import PRICES, check_cost, usd  # noqa: E402
from test_gemini import MODEL  # noqa: E402
from test_gemini_translate import (PROMPT, PROMPT_TOKENS, check_gemini_call,  # noqa: E402
                                   check_refused, gemini_calls, no_secret_leaked,
                                   translate_policy)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

# the mock's forced call fills each required argument from its schema (tests/mockprov/toolcall.c)
ARGS = {"city": "mock", "unit": "celsius"}
CALL_TOKENS = 1 + len(ARGS)  # the mock counts a call 1 + its number of arguments
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"},
                                           "unit": {"type": "string",
                                                    "enum": ["celsius", "fahrenheit"]}},
          "required": ["city", "unit"]}
OPENAI_TOOLS = {"tools": [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city", "parameters": SCHEMA}}],
    "tool_choice": "auto"}
ANTHROPIC_TOOLS = {"tools": [{"name": "get_weather", "description": "Current weather of a city",
                              "input_schema": SCHEMA}],
                   "tool_choice": {"type": "auto"}}
DECLARATIONS = [{"functionDeclarations": [{"name": "get_weather",
                                           "description": "Current weather of a city",
                                           "parametersJsonSchema": SCHEMA}]}]
APPS = [("openai_sdk", "gemini-for-openai-apps", None, OPENAI_TOOLS),
        ("anthropic_sdk", "careful", "anthropic", ANTHROPIC_TOOLS)]
# a call the app forces: Gemini's mode ANY, which the mock answers with a call
FORCED = {"openai_sdk": {"tool_choice": "required"}, "anthropic_sdk": {"tool_choice": {"type": "any"}}}


def sdk_call(gw, client, mode, name, params, headers):
    provider = "anthropic" if client == "anthropic_sdk" else "openai"
    why = harness.missing(client)
    if why:
        pytest.skip(why)
    return harness.run_client(client, provider, mode, name, PROMPT, headers, hosts=gw.hosts,
                              ca=gw.ca_dir / "ca.pem", popen=gw.app.popen,
                              env={"SDK_EXTRA_PARAMS": json.dumps(params)})


def openai_tool_call(r, mode):
    """The one tool call the OpenAI SDK got, its finish reason and usage."""
    if mode == "plain":
        ch = r.body["choices"][0]
        calls, finish, u = ch["message"]["tool_calls"], ch["finish_reason"], r.body["usage"]
        assert len(calls) == 1, calls
        call = calls[0]
    else:
        chunks = r.objects()
        body, last = chunks[:-1], chunks[-1]
        deltas = [tc for c in body for tc in c["choices"][0]["delta"].get("tool_calls") or []]
        assert deltas and all(d["index"] == 0 for d in deltas), deltas
        call = {"id": deltas[0]["id"], "type": deltas[0]["type"],
                "function": {"name": deltas[0]["function"]["name"],
                             "arguments": "".join(d["function"].get("arguments") or ""
                                                  for d in deltas)}}
        finishes = [c["choices"][0].get("finish_reason") for c in body]
        assert not any(finishes[:-1]), finishes
        finish, u = finishes[-1], last["usage"]
        assert last["choices"] == [], last
    assert call["id"].startswith("call_") and call["type"] == "function", call
    assert call["function"]["name"] == "get_weather", call
    assert json.loads(call["function"]["arguments"]) == ARGS, call
    return call["id"], finish, (u["prompt_tokens"], u["completion_tokens"])


def anthropic_tool_use(r, mode):
    """The one tool_use block the Anthropic SDK got, its stop reason and usage."""
    if mode == "plain":
        blocks, stop, u = r.body["content"], r.body["stop_reason"], r.body["usage"]
        assert [b["type"] for b in blocks] == ["tool_use"], blocks
        block = blocks[0]
    else:
        ev = r.objects()
        types = [e["type"] for e in ev]
        assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
        starts = [e for e in ev if e["type"] == "content_block_start"]
        assert [s["content_block"]["type"] for s in starts] == ["tool_use"], starts
        block = dict(starts[0]["content_block"])
        parts = [e["delta"]["partial_json"] for e in ev if e["type"] == "content_block_delta"]
        block["input"] = json.loads("".join(parts)) if parts else block["input"]
        stop = ev[-2]["delta"]["stop_reason"]
        u = r.answer().usage
    assert block["name"] == "get_weather" and block["input"] == ARGS, block
    return block["id"], stop, (u["input_tokens"], u["output_tokens"])


def check_record(gw, r, name, tokens):
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    assert rec["gen_ai.system"] == "gemini" and rec["aigw.translated"] is True, rec
    assert rec["gen_ai.request.model"] == name and rec["aigw.outcome"] == "ok", rec
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == tokens
    check_cost(gw, rec, usd(PRICES[f"gemini/{MODEL}"], *tokens))


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("client,name,down,params", APPS, ids=[a[0] for a in APPS])
def test_sdk_tools_reach_gemini_and_its_call_comes_back(gw, monkeypatch, client, name, down,
                                                        params, mode):
    gw.start(translate_policy(gw, monkeypatch))
    if down:
        gw.mock.fault("down", provider=down)
    r = sdk_call(gw, client, mode, name, {**params, **FORCED[client]}, {})
    assert r.ok and r.returncode == 0 and r.error is None, r
    seen = gemini_calls(gw)
    assert len(seen) == 1, seen
    body = check_gemini_call(seen[0], mode == "stream")
    assert body["tools"] == DECLARATIONS, body
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}, body
    if client == "openai_sdk":
        _, finish, tokens = openai_tool_call(r, mode)
        assert finish == "tool_calls"
    else:
        call_id, finish, tokens = anthropic_tool_use(r, mode)
        assert finish == "tool_use" and call_id, call_id
    assert tokens == (PROMPT_TOKENS, CALL_TOKENS), tokens
    check_record(gw, r, name, tokens)
    no_secret_leaked(gw)


HISTORY = {
    "openai_sdk": {"messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc", "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps(ARGS)}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "21 degrees and sunny"}]},
    "anthropic_sdk": {"messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_abc",
                                           "name": "get_weather", "input": ARGS}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_abc",
                                      "content": "21 degrees and sunny"}]}]},
}


@pytest.mark.parametrize("client,name,down,params", APPS, ids=[a[0] for a in APPS])
def test_the_call_and_its_result_go_back_to_gemini_as_parts(gw, monkeypatch, client, name,
                                                            down, params):
    """The next turn: the app's tool call and the tool's result reach Gemini as a model turn
    with a functionCall part and a user turn with a functionResponse part, named as the call;
    the text answer comes back with the exact usage."""
    gw.start(translate_policy(gw, monkeypatch))
    if down:
        gw.mock.fault("down", provider=down)
    r = sdk_call(gw, client, "plain", name, {**params, **HISTORY[client]}, {})
    assert r.ok and r.returncode == 0 and r.error is None, r
    body = check_gemini_call(gemini_calls(gw)[0], False, contents=[
        {"role": "user", "parts": [{"text": PROMPT}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": ARGS}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "get_weather", "response": {"output": "21 degrees and sunny"}}}]}])
    assert body["tools"] == DECLARATIONS, body
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}, body
    if client == "openai_sdk":
        text, u = r.body["choices"][0]["message"]["content"], r.body["usage"]
        tokens = (u["prompt_tokens"], u["completion_tokens"])
    else:
        text, u = r.body["content"][0]["text"], r.body["usage"]
        tokens = (u["input_tokens"], u["output_tokens"])
    assert tokens[1] == len(text.split()) > 0, r.body
    check_record(gw, r, name, tokens)


UNMAPPABLE = [
    ("parallel_tool_calls", {**OPENAI_TOOLS, "parallel_tool_calls": False}),
    ("tools[0].function.strict", {"tools": [{"type": "function", "function": {
        "name": "get_weather", "parameters": SCHEMA, "strict": True}}]}),
    ("tool_choice", {**OPENAI_TOOLS, "tool_choice": {
        "type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}}),
]


@pytest.mark.parametrize("field,extra", UNMAPPABLE, ids=[u[0] for u in UNMAPPABLE])
def test_what_gemini_function_calling_cannot_say_is_refused(gw, monkeypatch, field, extra):
    check_refused(gw, monkeypatch, field, extra)


def test_anthropic_disable_parallel_tool_use_is_refused(gw, monkeypatch):
    """An Anthropic app's name that only Gemini serves: one call at a time cannot be asked."""
    gw.start(translate_policy(gw, monkeypatch))
    params = {**ANTHROPIC_TOOLS, "tool_choice": {"type": "auto",
                                                 "disable_parallel_tool_use": True}}
    r = sdk_call(gw, "anthropic_sdk", "plain", "gemini-for-openai-apps", params, {})
    assert r.status == 400 and r.error, r
    err = r.body["error"]
    assert err["type"] == "invalid_request_error", err
    assert "parallel_tool_calls" in err["message"] and "Gemini" in err["message"], err
    assert gemini_calls(gw) == []
