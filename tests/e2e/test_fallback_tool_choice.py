"""A tool choice with no tools, on a logical name another family serves: a choice that forces a
call (OpenAI "required" or a named function, Anthropic "any" or "tool", Gemini's mode ANY)
cannot be carried: every provider refuses it (OpenAI: tool_choice only with tools; Gemini: a
function calling config without function declarations), so the app gets its own family's 400
naming the field, and nothing is sent. Translated, it went out as something else: Gemini's ANY
with no declaration, an Anthropic "any" or an OpenAI "required" with no tools. "auto" and
"none" ask nothing the request without them does not: the call is served, the choice dropped
(noted), as a target may refuse a choice without tools."""
import json
import os

import pytest

from test_gemini import HOST  # noqa: E402
from test_gemini_translate import CLAUDE, GPT, MODELS, PROMPT, translate_policy  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

ROUTES = {"claude-for-openai-apps": [{"provider": "anthropic", "model": CLAUDE}],
          "gpt-for-anthropic-apps": [{"provider": "openai", "model": GPT}],
          "claude-for-gemini-apps": [{"provider": "anthropic", "model": CLAUDE}]}
USER = [{"role": "user", "content": PROMPT}]
CONTENTS = [{"role": "user", "parts": [{"text": PROMPT}]}]


def call(gw, monkeypatch, app, name, extra):
    """The gateway started; APP's call (openai, anthropic, gemini) of logical name NAME with
    EXTRA in its body, by a captured curl: (the answer's JSON, its status)."""
    pol = translate_policy(gw, monkeypatch)
    pol["models"] = {**MODELS, **ROUTES}
    gw.start(pol)
    if app == "openai":
        url, headers = ("https://api.openai.com/v1/chat/completions",
                        ["authorization: Bearer sk-app-curl"])
        body = {"model": name, "messages": USER, **extra}
    elif app == "anthropic":
        url, headers = ("https://api.anthropic.com/v1/messages",
                        ["x-api-key: sk-ant-app-curl", "anthropic-version: 2023-06-01"])
        body = {"model": name, "max_tokens": 64, "messages": USER, **extra}
    else:
        url, headers = (f"https://{HOST}/v1beta/models/{name}:generateContent",
                        ["x-goog-api-key: AIza-app"])
        body = {"contents": CONTENTS, **extra}
    text, code = split(gw.curl(url, json.dumps(body), headers=headers))
    return json.loads(text), code


def ids(cases):
    return [f"{c[0]}-{c[1]}" for c in cases]


FORCED = [
    ("openai", "gemini-for-openai-apps", {"tool_choice": "required"}, "tool_choice"),
    ("openai", "claude-for-openai-apps",
     {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "tools": []},
     "tool_choice"),
    ("anthropic", "gpt-for-anthropic-apps", {"tool_choice": {"type": "any"}}, "tool_choice"),
    ("anthropic", "gemini-for-openai-apps",
     {"tool_choice": {"type": "tool", "name": "get_weather"}}, "tool_choice"),
    ("gemini", "gpt-for-gemini-apps",
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
     "toolConfig.functionCallingConfig"),
    ("gemini", "claude-for-gemini-apps",
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                               "allowedFunctionNames": ["get_weather"]}},
      "tools": [{"functionDeclarations": []}]},
     "toolConfig.functionCallingConfig"),
]


@pytest.mark.parametrize("app,name,extra,field", FORCED, ids=ids(FORCED))
def test_a_forced_tool_choice_without_tools_is_refused_in_the_apps_format(
        gw, monkeypatch, app, name, extra, field):
    answer, code = call(gw, monkeypatch, app, name, extra)
    assert code == 400, answer
    err = answer["error"]
    if app == "gemini":
        assert (err["code"], err["status"]) == (400, "INVALID_ARGUMENT"), answer
    else:
        assert err["type"] == "invalid_request_error", answer
        assert app == "openai" or answer["type"] == "error", answer
    assert f"{field}: a tool must be called" in err["message"], answer
    assert gw.mock.requests() == []
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["http.response.status_code"] == 400 and field in rec["error.type"], rec
    assert [a["aigw.result"] for a in rec["aigw.attempts"]] == ["skipped"], rec


FREE = [
    ("openai", "gemini-for-openai-apps", {"tool_choice": "auto"}, "gemini"),
    ("anthropic", "gpt-for-anthropic-apps", {"tool_choice": {"type": "none"}}, "openai"),
    ("gemini", "claude-for-gemini-apps",
     {"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}, "tools": []}, "anthropic"),
]


@pytest.mark.parametrize("app,name,extra,provider", FREE, ids=ids(FREE))
def test_an_auto_or_none_choice_without_tools_is_served_without_it(
        gw, monkeypatch, app, name, extra, provider):
    answer, code = call(gw, monkeypatch, app, name, extra)
    assert code == 200, answer
    seen = gw.mock.requests()
    assert [x["provider"] for x in seen] == [provider], seen
    sent = json.loads(seen[0]["body"])
    assert not {"tool_choice", "toolConfig", "tools"} & set(sent), sent
