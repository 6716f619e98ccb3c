"""Gemini's thoughtSignature across translation (issue 12): Gemini 3 returns a thoughtSignature
on each functionCall part and refuses (400 INVALID_ARGUMENT) a later turn whose functionCall
part lacks it; the mock's gemini-3* models do the same (tests/mockprov/gemini.c). An OpenAI or
Anthropic app (the official npm SDKs, unmodified) served by a Gemini 3 model holds a two-turn
tool conversation, plain and streamed: the signature rides in the call id the app gets
(call_<24>__thought__<base64url>), the app echoes the id, and Gemini gets the very signature
back on the functionCall part, so the second turn is answered; both turns are costed. A Gemini
app's own history reaches a Gemini target with its signature unchanged. A hostile app cannot
push unbounded data upstream through an id: past 16384 characters of signature it is refused
with a 400 naming the id, and nothing reaches a provider."""
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from test_cost import PRICES, check_cost, usd  # noqa: E402
from test_gemini import APP_KEY, HOST  # noqa: E402
from test_gemini_translate import PROMPT, gemini_calls, translate_policy  # noqa: E402
from test_gemini_tools import ARGS, OPENAI_TOOLS, sdk_call  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

G3 = "gemini-3.1-pro-preview"
NAME = "signed-gemini"
# the signature the mock issues with a call to get_weather (tests/mockprov/toolcall.c)
SIGNATURE = base64.b64encode(b"\xfb\xef\xffmock-signature:get_weather").decode()
RESULT = "21 degrees and sunny"


def policy(gw, monkeypatch):
    pol = translate_policy(gw, monkeypatch)
    pol["models"] = {NAME: [{"provider": "gemini", "model": G3}]}
    return pol


def turns_argv(gw, sdk, mode, name):
    """tool_turns.mjs's command line for SDK (skipped when missing), asking for NAME."""
    why = harness.missing(f"{sdk}_sdk")
    if why:
        pytest.skip(why)
    return harness.in_hosts_ns(gw.hosts, [harness.NODE, str(harness.CLIENTS_DIR /
                                                               "tool_turns.mjs"),
                                            sdk, mode, name, PROMPT])


def run_turns(gw, sdk, mode):
    """tool_turns.mjs (the SDK's two-turn tool conversation) in the captured cgroup."""
    argv = turns_argv(gw, sdk, mode, NAME)
    p = gw.app.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     env=harness.client_env(gw.ca_dir / "ca.pem"), cwd=str(harness.CLIENTS_DIR))
    out, err = p.communicate(timeout=60)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, (out, err)
    return json.loads(lines[-1])


def call_id(sdk, turn):
    if sdk == "openai":
        calls = turn["choices"][0]["message"]["tool_calls"]
        assert len(calls) == 1 and calls[0]["function"]["name"] == "get_weather", calls
        assert json.loads(calls[0]["function"]["arguments"]) == ARGS, calls
        return calls[0]["id"]
    blocks = [b for b in turn["content"] if b["type"] == "tool_use"]
    assert len(blocks) == 1 and blocks[0]["input"] == ARGS, turn
    return blocks[0]["id"]


def answer_text_and_tokens(sdk, turn):
    if sdk == "openai":
        u = turn["usage"]
        return turn["choices"][0]["message"]["content"], (u["prompt_tokens"],
                                                           u["completion_tokens"])
    u = turn["usage"]
    return turn["content"][0]["text"], (u["input_tokens"], u["output_tokens"])


def body_of(seen):
    return seen["body"] if isinstance(seen["body"], dict) else json.loads(seen["body"])


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_two_turn_tool_conversation_with_gemini_3(gw, monkeypatch, sdk, mode):
    gw.start(policy(gw, monkeypatch))
    r = run_turns(gw, sdk, mode)
    assert r["error"] is None and len(r["turns"]) == 2, r
    cid = call_id(sdk, r["turns"][0]["body"])
    # an id an Anthropic tool_use may carry, with the signature as a clear suffix
    assert re.fullmatch(r"call_[A-Za-z0-9]{24}__thought__[A-Za-z0-9_-]+", cid), cid
    seen = gemini_calls(gw)
    assert [(x["path"], x["status"]) for x in seen] == [
        (f"/v1beta/models/{G3}:{'streamGenerateContent' if mode == 'stream' else 'generateContent'}",
         200)] * 2, seen
    contents = body_of(seen[1])["contents"]
    assert contents[1] == {"role": "model", "parts": [{
        "functionCall": {"name": "get_weather", "args": ARGS},
        "thoughtSignature": SIGNATURE}]}, contents
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {
        "name": "get_weather", "response": {"output": RESULT}}}]}, contents
    text, tokens = answer_text_and_tokens(sdk, r["turns"][1]["body"])
    assert text and tokens[1] == len(text.split()), r["turns"][1]
    recs = [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]
    assert [x["aigw.outcome"] for x in recs] == ["ok", "ok"], recs
    assert (recs[1]["gen_ai.usage.input_tokens"], recs[1]["gen_ai.usage.output_tokens"]) == \
        tokens, recs[1]
    check_cost(gw, recs[1], usd(PRICES[f"gemini/{G3}"], *tokens))


def test_genai_history_reaches_gemini_with_its_signature(gw, monkeypatch):
    """A Gemini app's own history to a Gemini 3 target: passed on as it is, signature too."""
    gw.start(policy(gw, monkeypatch))
    history = {"contents": [
        {"role": "user", "parts": [{"text": PROMPT}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": ARGS},
                                     "thoughtSignature": SIGNATURE}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "get_weather", "response": {"output": RESULT}}}]}]}
    text, code = split(gw.curl(f"https://{HOST}/v1beta/models/{G3}:generateContent",
                               json.dumps(history), headers=[f"x-goog-api-key: {APP_KEY}"]))
    assert code == 200, text
    seen = gemini_calls(gw)
    assert len(seen) == 1 and body_of(seen[0])["contents"] == history["contents"], seen


def test_the_mock_refuses_a_call_without_its_signature(gw, monkeypatch):
    """The mock holds Gemini 3's rule, so the tests above can fail: no signature, a 400."""
    gw.start(policy(gw, monkeypatch))
    history = {"contents": [
        {"role": "user", "parts": [{"text": PROMPT}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": ARGS}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "get_weather", "response": {"output": RESULT}}}]}]}
    text, code = split(gw.curl(f"https://{HOST}/v1beta/models/{G3}:generateContent",
                               json.dumps(history), headers=[f"x-goog-api-key: {APP_KEY}"]))
    assert code == 400, text
    err = json.loads(text)["error"]
    assert err["status"] == "INVALID_ARGUMENT" and "thought_signature" in err["message"], err


@pytest.mark.parametrize("suffix", ["A" * 16388, "ab+c"], ids=["too_long", "not_base64url"])
def test_a_hostile_id_is_refused_and_nothing_goes_upstream(gw, monkeypatch, suffix):
    gw.start(policy(gw, monkeypatch))
    cid = "call_x__thought__" + suffix
    history = {"messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": cid, "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps(ARGS)}}]},
        {"role": "tool", "tool_call_id": cid, "content": RESULT}]}
    r = sdk_call(gw, "openai_sdk", "plain", NAME, {**OPENAI_TOOLS, **history},
                 {})
    assert r.status == 400 and r.error, r
    msg = r.body["message"] if "message" in r.body else r.body["error"]["message"]
    assert "messages[1].tool_calls[0].id" in msg and "16384" in msg, r.body
    assert gemini_calls(gw) == [], gemini_calls(gw)
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    assert rec["aigw.outcome"] != "ok", rec
