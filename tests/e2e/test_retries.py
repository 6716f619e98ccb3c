"""Retries: a failure the app has not seen yet (an answer the policy retries, a refused or
reset connection, a timeout) is tried again with backoff, honouring retry-after; the app
gets the good answer and the record lists every attempt (aigw.attempts: the failed ones,
then the one that answered)."""
import json

from test_intercept import CHAT, split, stream_body

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
A_BODY = json.dumps({"model": "claude-3-5-haiku-latest", "max_tokens": 16,
                     "messages": [{"role": "user", "content": "hi"}]})
A_HDRS = ["x-api-key: sk-ant-app", "anthropic-version: 2023-06-01"]


def record(gw):
    return gw.world.wait_record(**{"event.name": "proxy.request"})


def test_a_503_is_retried_and_the_app_gets_the_answer(gw):
    gw.start()
    gw.mock.fault("down", count=1)
    text, code = split(gw.curl(OPENAI, CHAT))
    assert code == 200 and json.loads(text)["object"] == "chat.completion"
    rec = record(gw)
    assert rec["aigw.upstream.attempts"] == 2 and rec["aigw.outcome"] == "ok"
    assert [t.get("http.response.status_code") for t in rec["aigw.attempts"]] == [503, 200]
    assert [t["aigw.result"] for t in rec["aigw.attempts"]] == ["retried", "ok"]
    assert len(gw.mock.requests()) == 2


def test_retry_after_is_honoured(gw):
    gw.start()
    gw.mock.fault("ratelimit", count=1)  # 429 with retry-after: 1
    assert split(gw.curl(OPENAI, CHAT))[1] == 200
    rec = record(gw)
    assert rec["aigw.attempts"][0]["http.response.status_code"] == 429
    assert rec["aigw.latency_ms"] >= 1000


def test_anthropic_529_twice_then_answer(gw):
    gw.start()
    gw.mock.fault("overloaded", provider="anthropic", count=2)
    assert split(gw.curl(ANTHROPIC, A_BODY, headers=A_HDRS))[1] == 200
    rec = record(gw)
    assert [t.get("http.response.status_code") for t in rec["aigw.attempts"]] == [529, 529, 200]
    assert {t["gen_ai.system"] for t in rec["aigw.attempts"]} == {"anthropic"}
    assert rec["aigw.upstream.attempts"] == 3


def test_a_stream_that_fails_before_its_first_byte_is_retried(gw):
    gw.start()
    gw.mock.fault("down", count=1)
    r = gw.run_app(["curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/json",
                    "--data-binary", stream_body(), OPENAI])
    assert r.returncode == 0 and r.stdout.rstrip().endswith("data: [DONE]")
    rec = record(gw)
    assert rec["aigw.outcome"] == "ok" and len(rec["aigw.attempts"]) == 2


def test_reset_before_answer_is_retried(gw):
    gw.start()
    gw.mock.fault("reset", count=1)  # plain requests: a reset before any byte
    assert split(gw.curl(OPENAI, CHAT))[1] == 200
    rec = record(gw)
    assert len(rec["aigw.attempts"]) == 2
    assert "closed the connection" in rec["aigw.attempts"][0]["error.type"]


def test_a_stream_reset_after_its_first_byte_is_not_retried(gw):
    """Once the app has bytes of an answer, a second answer cannot be spliced in."""
    gw.start()
    gw.mock.fault("reset", count=1)  # streams: half the events, then a reset
    r = gw.run_app(["curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/json",
                    "--data-binary", stream_body(), OPENAI])
    assert "[DONE]" not in r.stdout and '"error"' in r.stdout.split("\n\n")[-2]
    rec = record(gw)
    assert rec["aigw.outcome"] == "upstream_reset" and rec["aigw.upstream.attempts"] == 1
    assert "aigw.attempts" not in rec  # one attempt, where the app sent it


def test_retries_run_out_and_the_last_answer_reaches_the_app(gw):
    gw.start(gw.policy(routing={"retries": 1, "backoff_ms": 10}))
    gw.mock.fault("down")
    text, code = split(gw.curl(OPENAI, CHAT))
    assert code == 503 and "error" in json.loads(text)
    rec = record(gw)
    assert rec["aigw.upstream.attempts"] == 2 and len(gw.mock.requests()) == 2


def test_a_400_is_never_retried(gw):
    gw.start()
    bad = json.dumps({"messages": []})  # no model: the provider's own 400
    assert split(gw.curl(OPENAI, bad))[1] == 400
    assert record(gw)["aigw.upstream.attempts"] == 1 and len(gw.mock.requests()) == 1


def test_retry_after_longer_than_the_cap_is_not_waited_for(gw):
    gw.start(gw.policy(routing={"backoff_max_ms": 500}))
    gw.mock.fault("ratelimit", count=1)  # asks for 1000 ms
    assert split(gw.curl(OPENAI, CHAT))[1] == 429
    assert record(gw)["aigw.upstream.attempts"] == 1
