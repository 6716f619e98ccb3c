"""A Gemini-served tool conversation survives a fallback to another family (issue 12). An
OpenAI or Anthropic app (the official npm SDKs, unmodified) holds a two-turn tool conversation
on a logical name whose first target is Gemini 3: turn 1 is answered by Gemini, whose call id
carries its thoughtSignature (call_<24>__thought__<base64url>); then Gemini goes down (mockprov
fault) and turn 2 falls back to OpenAI or Anthropic, plain and streamed. That provider gets the
ids without the signature, the call and its result still matching, and answers: OpenAI (the
mock as the real API) refuses a tool call id over 40 characters. An app that sends such ids to
OpenAI itself, not through a logical name, is served the same way; an id that hides the mark
behind an escape is not the gateway's and goes on as it is, to OpenAI's own 400."""
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from test_gemini_signature import (G3, answer_text_and_tokens, body_of, call_id,  # noqa: E402
                                   turns_argv)
from test_gemini_translate import CLAUDE, GPT, PROMPT, translate_policy  # noqa: E402
from test_gemini_tools import ARGS, OPENAI_TOOLS  # noqa: E402
from conftest import wait_for  # noqa: E402
from test_intercept import split  # noqa: E402

NAMES = {"openai": "signed-then-gpt", "anthropic": "signed-then-claude"}
SERVED = {"openai": GPT, "anthropic": CLAUDE}
RESULT = "21 degrees and sunny"
SIGNED = re.compile(r"(call_[A-Za-z0-9]{24})__thought__[A-Za-z0-9_-]+")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")


def policy(gw, monkeypatch):
    pol = translate_policy(gw, monkeypatch)
    pol["models"] = {NAMES[t]: [{"provider": "gemini", "model": G3},
                                {"provider": t, "model": SERVED[t]}] for t in NAMES}
    return pol


def run_turns_gemini_failing(gw, sdk, mode, name):
    """tool_turns.mjs in the captured cgroup; Gemini goes down between its two turns."""
    argv = turns_argv(gw, sdk, mode, name)
    env = harness.client_env(gw.ca_dir / "ca.pem")
    env["TOOL_TURNS_BETWEEN"] = "1"
    p = gw.app.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True, env=env, cwd=str(harness.CLIENTS_DIR))
    watchdog = threading.Timer(60, p.kill)
    watchdog.start()
    try:
        before = []
        for line in p.stdout:
            if line == "between turns\n":
                break
            before.append(line)
        else:
            pytest.fail(f"turn 1 did not end: {before} {p.stderr.read()}")
        gw.mock.fault("down", provider="gemini")
        p.stdin.write("go\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
    finally:
        watchdog.cancel()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, (out, err)
    return json.loads(lines[-1])


def ids_sent(target, body):
    """The tool call ids in a request body as TARGET reads them: (calls, results)."""
    calls, results = [], []
    for m in body["messages"]:
        if target == "openai":
            calls += [c["id"] for c in m.get("tool_calls") or []]
            if m["role"] == "tool":
                results.append(m["tool_call_id"])
            continue
        for b in m["content"] if isinstance(m["content"], list) else []:
            if b["type"] == "tool_use":
                calls.append(b["id"])
            elif b["type"] == "tool_result":
                results.append(b["tool_use_id"])
    return calls, results


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("target", ["openai", "anthropic"])
@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_gemini_served_tool_conversation_falls_back(gw, monkeypatch, sdk, target, mode):
    gw.start(policy(gw, monkeypatch))
    r = run_turns_gemini_failing(gw, sdk, mode, NAMES[target])
    assert r["error"] is None and len(r["turns"]) == 2, r
    signed = SIGNED.fullmatch(call_id(sdk, r["turns"][0]["body"]))
    assert signed, r["turns"][0]
    seen = gw.mock.requests()
    assert [(x["provider"], x["status"]) for x in seen] == [
        ("gemini", 200), ("gemini", 503), (target, 200)], seen
    # the signature means nothing there: the ids without it, call and result still one
    assert ids_sent(target, body_of(seen[2])) == ([signed[1]], [signed[1]]), seen[2]
    text, tokens = answer_text_and_tokens(sdk, r["turns"][1]["body"])
    assert text and tokens[1] == len(text.split()), r["turns"][1]
    recs = [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]
    assert [(x["gen_ai.system"], x["aigw.outcome"]) for x in recs] == [
        ("gemini", "ok"), (target, "ok")], recs
    assert recs[1]["aigw.fallback"] is True, recs[1]
    # the body sent is not the app's, and its record says so: the call's id and its result's
    assert "aigw.request.tool_call_ids_cut" not in recs[0], recs[0]
    assert recs[1]["aigw.request.tool_call_ids_cut"] == 2, recs[1]


def openai_history(cid):
    return json.dumps({"model": GPT, **OPENAI_TOOLS, "messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": cid, "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps(ARGS)}}]},
        {"role": "tool", "tool_call_id": cid, "content": RESULT}]})


def openai_direct(gw, body):
    return split(gw.curl("https://api.openai.com/v1/chat/completions", body,
                         headers=["authorization: Bearer sk-app"]))


def test_an_app_sending_signed_ids_to_openai_itself(gw, monkeypatch):
    """Hostile or not, a __thought__ id sent to OpenAI without a logical name: cut as for a
    fallback (the mark and what follows, 20000 characters here), the call answered, the
    daemon unharmed."""
    gw.start(policy(gw, monkeypatch))
    text, code = openai_direct(gw, openai_history("call_mine__thought__" + "A" * 20000))
    assert code == 200, text
    seen = [x for x in gw.mock.requests() if x["provider"] == "openai"]
    assert len(seen) == 1 and ids_sent("openai", body_of(seen[0])) == (
        ["call_mine"], ["call_mine"]), seen
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["aigw.outcome"] == "ok", rec
    assert rec["aigw.request.tool_call_ids_cut"] == 2, rec


def test_an_escaped_mark_is_left_to_openai(gw, monkeypatch):
    """__thought\\u005f_ is not an id the gateway wrote: it goes as it is, and OpenAI's 400
    (the mock's, in OpenAI's words) reaches the app."""
    gw.start(policy(gw, monkeypatch))
    cid = "call_" + "e" * 24 + "__thought__" + "A" * 20
    body = openai_history(cid).replace("__thought__", "__thought\\u005f_")
    text, code = openai_direct(gw, body)
    assert code == 400, text
    err = json.loads(text)["error"]
    assert (err["type"], err["code"], err["param"]) == (
        "invalid_request_error", "string_above_max_length", "messages[1].tool_calls[0].id"), err
    assert "maximum length 40, but got a string with length 60" in err["message"], err
    text, code = openai_direct(gw, openai_history("call_short"))  # the daemon still serves
    assert code == 200, text
    recs = wait_for(lambda: [x for x in gw.world.records()
                             if x.get("event.name") == "proxy.request"][1:] and
                    [x for x in gw.world.records() if x.get("event.name") == "proxy.request"],
                    what="both calls' records")
    assert [x.get("aigw.request.tool_call_ids_cut") for x in recs] == [None, None], recs


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_anthropic_app_falls_back_to_claude_on_bedrock(gw, monkeypatch, mode):
    """The same fallback through Bedrock's InvokeModel door: the app's own Messages body (not
    the one the Gemini target was sent), its ids without the signature."""
    from test_gemini_app_bedrock import NAME as BEDROCK_NAME, policy as bedrock_policy
    pol = bedrock_policy(gw, monkeypatch)
    pol["models"][BEDROCK_NAME][0]["model"] = G3
    gw.start(pol)
    r = run_turns_gemini_failing(gw, "anthropic", mode, BEDROCK_NAME)
    assert r["error"] is None and len(r["turns"]) == 2, r
    signed = SIGNED.fullmatch(call_id("anthropic", r["turns"][0]["body"]))
    assert signed, r["turns"][0]
    seen = gw.mock.requests()
    assert [x["status"] for x in seen] == [200, 503, 200], seen
    assert seen[2]["path"].startswith("/model/"), seen[2]
    body = body_of(seen[2])
    assert body["anthropic_version"] == "bedrock-2023-05-31" and "contents" not in body, body
    assert ids_sent("anthropic", body) == ([signed[1]], [signed[1]]), body
    text, _ = answer_text_and_tokens("anthropic", r["turns"][1]["body"])
    assert text, r["turns"][1]
