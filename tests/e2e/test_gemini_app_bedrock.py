"""A Gemini app served by Claude on Bedrock (issue 12): an unmodified app on Google's
`@google/genai` npm SDK calls a logical name whose Gemini target is down (mockprov fault) and
is answered by Claude on Bedrock, plain and streamed (alt=sse): the request translated
(generateContent -> Anthropic Messages, sent through Bedrock's InvokeModel door and re-signed
with the gateway's AWS key), the answer (a Messages body, or the invoke stream's chunks)
translated back into GenerateContentResponse events. The app gets exactly the text and counts
Bedrock answered, the record the same counts at Bedrock's price; the app's Google key reaches
no provider."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
from conftest import OPENAI_ADDR  # noqa: E402
from test_bedrock import GW_ID, MODEL as CLAUDE, PRICE, bedrock  # noqa: E402
from test_cost import check_cost, usd  # noqa: E402
from test_gemini import (APP_KEY, GATEWAY_KEY, HOST, KEY_ENV, MODEL, PROMPT,  # noqa: E402
                         record, run_genai)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

MOCK_INPUT_TOKEN_BASE = 3  # tests/mockprov/mock.h: added to the prompt's word count
NAME = "summary-claude-bedrock"


def policy(gw, monkeypatch):
    """Bedrock's mock (it knows only the gateway's AWS key) with the Gemini API's name on its
    address too, and a logical name: Gemini first, Claude on Bedrock second."""
    pol = bedrock(gw, monkeypatch)
    with open(gw.hosts, "a") as f:
        f.write(f"{OPENAI_ADDR} {HOST}\n")
    shipped = json.loads((Path(__file__).resolve().parents[2] / "policies" /
                          "default.json").read_text())["providers"]
    monkeypatch.setenv(KEY_ENV, GATEWAY_KEY)
    pol["providers"]["gemini"] = dict(shipped["gemini"], key_env=KEY_ENV)
    pol["models"] = {NAME: [{"provider": "gemini", "model": MODEL},
                            {"provider": "bedrock", "model": CLAUDE}]}
    pol["routing"] = {"retries": 0, "backoff_ms": 10,
                      "breaker": {"failures": 1000, "open_ms": 100}}
    return pol


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_genai_app_falls_back_to_claude_on_bedrock(gw, monkeypatch, mode):
    gw.start(policy(gw, monkeypatch))
    gw.mock.fault("down", provider="gemini")
    r = run_genai(gw, mode, model=NAME)
    assert r["status"] == 200 and not r["error"], r
    chunks = [r["body"]] if mode == "plain" else r["body"]
    if mode == "stream":
        assert len(chunks) >= 2, chunks  # text arrives before the last event
    text = "".join(c["text"] or "" for c in chunks)
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP", last
    assert all(c["candidates"][0]["content"]["role"] == "model" for c in chunks), chunks
    assert all("usageMetadata" not in c for c in chunks[:-1]), chunks
    assert last["modelVersion"] == CLAUDE, last  # the model Bedrock says answered
    usage = last["usageMetadata"]
    prompt = len(PROMPT.split()) + MOCK_INPUT_TOKEN_BASE
    out = len(text.split())  # the mock answers a token a word
    assert out > 0 and (usage["promptTokenCount"], usage["candidatesTokenCount"],
                        usage["totalTokenCount"]) == (prompt, out, prompt + out), usage

    seen = gw.mock.requests()
    assert [(x["provider"], x["status"]) for x in seen[:-1]] == [("gemini", 503)], seen
    assert seen[0]["x_goog_api_key"] == GATEWAY_KEY, seen[0]
    op = "invoke-with-response-stream" if mode == "stream" else "invoke"
    assert (seen[-1]["path"], seen[-1]["status"]) == (
        f"/model/{CLAUDE.replace(':', '%3A')}/{op}", 200), seen
    assert f"Credential={GW_ID}/" in seen[-1]["authorization"], seen
    assert seen[-1]["x_goog_api_key"] is None, seen[-1]
    body = json.loads(seen[-1]["body"])
    assert "model" not in body and "stream" not in body and "contents" not in body, body
    assert body["anthropic_version"] == "bedrock-2023-05-31", body
    assert body["messages"] == [{"role": "user", "content": PROMPT}], body
    assert APP_KEY not in json.dumps(seen)

    rec = record(gw, **{"process.pid": r["pid"]})
    assert rec["gen_ai.system"] == "bedrock" and rec["aigw.upstream.model"] == CLAUDE, rec
    assert rec["gen_ai.request.model"] == NAME, rec
    assert rec["aigw.translated"] is True and rec["aigw.fallback"] is True, rec
    assert rec["aigw.outcome"] == "ok" and rec["aigw.credential"] == "gateway", rec
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        ("gemini", "fell_back"), ("bedrock", "ok")], rec
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (prompt,
                                                                                      out)
    if mode == "stream":
        assert rec["aigw.stream.end"] == "ok", rec
    check_cost(gw, rec, usd(PRICE, prompt, out))
    log = gw.world.audit_path.read_text()
    assert APP_KEY not in log and GATEWAY_KEY not in log
