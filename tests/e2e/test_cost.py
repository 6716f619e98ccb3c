"""Tokens and exact cost in each record, read from the provider's own answer: plain JSON and
streams of both providers, cache tokens priced apart, and an unknown price flagged, never
zero. Expected costs are computed here from policies/prices.json with exact decimals."""
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from test_intercept import split

PRICES = json.loads((Path(__file__).resolve().parents[2] / "policies" / "prices.json").read_text())
OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
A_HDRS = ["x-api-key: sk-ant-app", "anthropic-version: 2023-06-01"]


def micro_usd(price, fresh_input, output, cached=0, cache_write=0):
    """Micro-dollars: tokens x USD per million tokens, summed exactly, rounded once."""
    d = lambda k: Decimal(str(price[k] or 0))  # noqa: E731
    total = (fresh_input * d("input") + output * d("output") + cached * d("cached_input")
             + cache_write * d("cache_write"))
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def record(gw, **match):
    return gw.world.wait_record(**{"event.name": "proxy.request", **match})


def test_openai_plain_call_is_priced_exactly(gw):
    gw.start()
    body = json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "Reconcile the March invoices for the EMEA region please"}]})
    text, code = split(gw.curl(OPENAI, body, headers=["x-mock-reply-words: 17"]))
    assert code == 200
    usage = json.loads(text)["usage"]
    rec = record(gw)
    assert rec["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert rec["gen_ai.usage.output_tokens"] == usage["completion_tokens"] == 17
    want = micro_usd(PRICES["openai/gpt-4o-mini"], usage["prompt_tokens"], 17)
    assert rec["aigw.cost.micro_usd"] == want
    assert rec["cost_usd"] == want / 1e6


def test_anthropic_stream_with_cache_tokens_is_priced_exactly(gw):
    gw.start()
    body = json.dumps({"model": "claude-3-5-haiku-latest", "max_tokens": 200, "stream": True,
                       "messages": [{"role": "user", "content": "Explain the refund policy"}]})
    text, code = split(gw.curl(ANTHROPIC, body, headers=A_HDRS + [
        "x-mock-cache-read: 1000", "x-mock-cache-write: 300", "x-mock-reply-words: 11"]))
    assert code == 200
    start = next(json.loads(l[6:]) for l in text.splitlines()
                 if l.startswith("data: ") and '"message_start"' in l)
    fresh = start["message"]["usage"]["input_tokens"]  # Anthropic: excludes cache tokens
    rec = record(gw)
    assert rec["gen_ai.usage.input_tokens"] == fresh + 1000 + 300
    assert rec["aigw.usage.cached_input_tokens"] == 1000
    assert rec["aigw.usage.cache_write_tokens"] == 300
    assert rec["gen_ai.usage.output_tokens"] == 11  # the cumulative count of message_delta
    want = micro_usd(PRICES["anthropic/claude-3-5-haiku"], fresh, 11, cached=1000,
                     cache_write=300)
    assert rec["aigw.cost.micro_usd"] == want
    assert rec["aigw.stream.end"] == "ok"


def test_openai_cached_tokens_are_a_part_of_input_not_added(gw):
    gw.start()
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    text, code = split(gw.curl(OPENAI, body, headers=["x-mock-cache-read: 4",
                                                      "x-mock-reply-words: 9"]))
    usage = json.loads(text)["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 4
    rec = record(gw)
    assert rec["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    want = micro_usd(PRICES["openai/gpt-4o-mini"], usage["prompt_tokens"] - 4, 9, cached=4)
    assert rec["aigw.cost.micro_usd"] == want


def test_unknown_model_cost_is_null_with_a_reason(gw):
    gw.start()
    body = json.dumps({"model": "gpt-9-ultra", "messages": [{"role": "user", "content": "hi"}]})
    assert split(gw.curl(OPENAI, body))[1] == 200
    rec = record(gw)
    assert rec["gen_ai.usage.input_tokens"] > 0
    assert rec["cost_usd"] is None and "gpt-9-ultra" in rec["aigw.cost.reason"]


def test_failed_call_has_no_cost_and_says_why(gw):
    gw.start()
    gw.mock.fault("down")
    assert split(gw.curl(OPENAI, json.dumps({"model": "gpt-4o-mini", "messages": []})))[1] == 503
    rec = record(gw)
    assert rec["cost_usd"] is None and rec["aigw.cost.reason"].startswith("no usage")


def test_embeddings_are_priced_on_input(gw):
    gw.start()
    body = json.dumps({"model": "text-embedding-3-small", "input": "one two three four five"})
    text, code = split(gw.curl("https://api.openai.com/v1/embeddings", body))
    assert code == 200
    tokens = json.loads(text)["usage"]["prompt_tokens"]
    rec = record(gw)
    assert rec["gen_ai.usage.input_tokens"] == tokens and rec["gen_ai.usage.output_tokens"] == 0
    assert rec["aigw.cost.micro_usd"] == micro_usd(PRICES["openai/text-embedding-3-small"],
                                                   tokens, 0)
