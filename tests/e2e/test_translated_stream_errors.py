# SPDX-License-Identifier: MIT
"""A rate limit met mid-stream reaches a translated Gemini app as Google's rate limit.

A Gemini app (Google's API, alt=sse) calls a logical name only OpenAI serves; the gateway
translates the call and the answer. OpenAI meets its rate limit after the stream began and
sends an error event of type "tokens" or "requests" (mockprov faults stream_tokens,
stream_requests). The app must get that as Google says it, code 429 and status
RESOURCE_EXHAUSTED (SDKs retry it after a pause), not 500 INTERNAL (a bug on the provider's
side, retried at once or not at all). It used to come as 500: the translator knew only the
types "rate_limit..." and "...quota...". Likewise Anthropic's overloaded_error mid-stream
(mockprov fault stream_overloaded) is 503 UNAVAILABLE for the Gemini app; it was 500, its
type lost on the way through OpenAI's format (server_error, as api_error's).

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_translated_stream_errors.py
"""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
from test_gemini import APP_KEY, HOST, PROMPT  # noqa: E402
from test_gemini_app_fallback import CLAUDE, no_secret_leaked, policy  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})


def last_error(gw, name):
    text, code = split(gw.curl(
        f"https://{HOST}/v1beta/models/{name}:streamGenerateContent?alt=sse", BODY,
        headers=[f"x-goog-api-key: {APP_KEY}"]))
    assert code == 200, (code, text)  # the stream had begun
    events = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert len(events) >= 2 and "candidates" in events[0] and "error" in events[-1], text
    return events[-1]["error"]


@pytest.mark.parametrize("fault", ["stream_tokens", "stream_requests"])
def test_openai_rate_limit_mid_stream_is_resource_exhausted(gw, monkeypatch, fault):
    gw.start(policy(gw, monkeypatch))
    gw.mock.fault(fault, provider="openai")
    err = last_error(gw, "only-gpt")
    assert (err["code"], err["status"]) == (429, "RESOURCE_EXHAUSTED"), err
    assert [(x["path"], x["fault"]) for x in gw.mock.requests()] == [
        ("/v1/chat/completions", fault)]
    no_secret_leaked(gw)


def test_anthropic_overloaded_mid_stream_is_unavailable(gw, monkeypatch):
    pol = policy(gw, monkeypatch)
    pol["models"]["only-claude"] = [{"provider": "anthropic", "model": CLAUDE}]
    gw.start(pol)
    gw.mock.fault("stream_overloaded", provider="anthropic")
    err = last_error(gw, "only-claude")
    assert (err["code"], err["status"]) == (503, "UNAVAILABLE"), err
    assert [(x["path"], x["fault"]) for x in gw.mock.requests()] == [
        ("/v1/messages", "stream_overloaded")]
    no_secret_leaked(gw)
