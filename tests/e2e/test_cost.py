"""Tokens and exact cost in each record, read from the provider's own answer: plain JSON and
streams of both providers, cache tokens priced apart, and an unknown price flagged, never
zero. Expected costs are computed here from policies/prices.json with exact decimals, and
compared for equality: the record's nano-dollars and its cost_usd as written, digit for digit."""
import json
from decimal import Decimal
from pathlib import Path

from test_intercept import split

PRICES = json.loads((Path(__file__).resolve().parents[2] / "policies" / "prices.json").read_text())
OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
A_HDRS = ["x-api-key: sk-ant-app", "anthropic-version: 2023-06-01"]


def usd(price, fresh_input, output, cached=0, cache_write=0):
    """USD, exactly: tokens x USD per million tokens / 1e6 (the shipped prices have at most
    3 decimals, so this is a whole number of nano-dollars)."""
    d = lambda k: Decimal(str(price[k] or 0))  # noqa: E731
    total = (fresh_input * d("input") + output * d("output") + cached * d("cached_input")
             + cache_write * d("cache_write")) / Decimal(1000000)
    assert total == total.quantize(Decimal("1e-9")), total
    return total


def record(gw, **match):
    return gw.world.wait_record(**{"event.name": "proxy.request", **match})


def raw_cost(gw, rec):
    """The record's cost_usd as the gateway wrote it, read as an exact decimal."""
    for line in gw.world.audit_lines():
        r = json.loads(line, parse_float=Decimal)
        if (r.get("event.name"), r.get("aigw.request_id")) == ("proxy.request",
                                                              rec["aigw.request_id"]):
            return r["cost_usd"]
    raise AssertionError(f"record {rec['aigw.request_id']} not in the log")


def check_cost(gw, rec, want):
    """The record's cost is WANT USD to the nano-dollar, in both fields, and cost_usd is
    written with its 9 decimals from the integer."""
    assert rec["aigw.cost.nano_usd"] == int(want * 1000000000), (rec, want)
    assert raw_cost(gw, rec) == want, (rec, want)
    assert "aigw.cost.micro_usd" not in rec and "aigw.cost.pico_usd" not in rec, rec


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
    check_cost(gw, rec, usd(PRICES["openai/gpt-4o-mini"], usage["prompt_tokens"], 17))


def test_ten_token_gpt5_nano_call_costs_exactly_its_tokens(gw):
    """A cheap call is where rounding to the micro-dollar was +-100 %: 7 input and 3 output
    tokens of gpt-5-nano cost 7 x $0.05 + 3 x $0.40 per million = $0.000001550."""
    gw.start()
    body = json.dumps({"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}]})
    text, code = split(gw.curl(OPENAI, body, headers=["x-mock-reply-words: 3"]))
    assert code == 200
    usage = json.loads(text)["usage"]
    rec = record(gw)
    assert rec["gen_ai.usage.output_tokens"] == usage["completion_tokens"] == 3
    assert usage["prompt_tokens"] + 3 <= 12, usage  # a call of about ten tokens
    want = usd(PRICES["openai/gpt-5-nano"], usage["prompt_tokens"], 3)
    check_cost(gw, rec, want)
    assert raw_cost(gw, rec) == Decimal(usage["prompt_tokens"] * 50 + 3 * 400) / 10**9


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
    check_cost(gw, rec, usd(PRICES["anthropic/claude-3-5-haiku"], fresh, 11, cached=1000,
                            cache_write=300))
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
    check_cost(gw, rec, usd(PRICES["openai/gpt-4o-mini"], usage["prompt_tokens"] - 4, 9,
                            cached=4))


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
    check_cost(gw, rec, usd(PRICES["openai/text-embedding-3-small"], tokens, 0))
