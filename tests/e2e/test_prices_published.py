"""Prices added for issue 12, checked end to end with a captured curl call to each provider's
mock host. Mistral Medium 3.5 by its dated id and its aliases.

Prices that change with the prompt's size ("long_context" in policies/prices.json): a captured
curl call whose answer reports a prompt above the model's threshold is priced, every token, at
the long-context rates the provider publishes; one at the threshold at the standard rates. The
rates below are typed in from policies/prices.md (the provider's published figures), not read
from prices.json, so a wrong row fails here. A price table with a negative price, a bad
long-context band or bad JSON is refused at start, naming the entry and field."""
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import OPENAI_ADDR, wait_for
from test_cost import check_cost
from test_intercept import split

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

ROOT = Path(__file__).resolve().parents[2]
GEMINI_HOST = "generativelanguage.googleapis.com"
XAI_HOST = "api.x.ai"
MISTRAL_HOST = "api.mistral.ai"
WORDS = 9
PROMPT = "Reconcile the long contract annex for the procurement team"

# USD per million tokens (input, output), as policies/prices.md gives them with their sources.
# Gemini API, Standard paid tier: prompts <= 200k tokens / > 200k tokens.
GEMINI_25_PRO = {"limit": 200000, "low": ("1.25", "10.00"), "high": ("2.50", "15.00")}
GEMINI_31_PRO = {"limit": 200000, "low": ("2.00", "12.00"), "high": ("4.00", "18.00")}
# xAI, docs.x.ai/developers/models/grok-4.20-0309: < 200k prompt tokens / >= 200k.
GROK_420 = {"limit": 199999, "low": ("1.25", "2.50"), "high": ("2.50", "5.00")}
# Mistral Medium 3.5: one price at any size.
MISTRAL_MEDIUM_35 = {"limit": 1 << 40, "low": ("1.50", "7.50")}


def want(rates, prompt, output):
    """The cost in USD, exactly: the whole request at the band its prompt falls in."""
    i, o = rates["high" if prompt > rates["limit"] else "low"]
    return (prompt * Decimal(i) + output * Decimal(o)) / Decimal(1000000)


def policy(gw, monkeypatch):
    with open(gw.hosts, "a") as f:
        for host in (GEMINI_HOST, XAI_HOST, MISTRAL_HOST):
            f.write(f"{OPENAI_ADDR} {host}\n")
    shipped = json.loads((ROOT / "policies" / "default.json").read_text())["providers"]
    providers = {"openai": {"hosts": ["api.openai.com"]},
                 "anthropic": {"hosts": ["api.anthropic.com"]}}
    for name in ("gemini", "xai", "mistral"):
        monkeypatch.setenv(f"AIGW_TEST_{name.upper()}_KEY", f"gateway-{name}-key")
        providers[name] = dict(shipped[name], key_env=f"AIGW_TEST_{name.upper()}_KEY")
    return gw.policy(providers=providers)


def call_gemini(gw, model, prompt_tokens):
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
    text, code = split(gw.curl(f"https://{GEMINI_HOST}/v1beta/models/{model}:generateContent",
                               body, headers=["x-goog-api-key: AIza-app-key",
                                              f"x-mock-reply-words: {WORDS}",
                                              f"x-mock-prompt-tokens: {prompt_tokens}"]))
    assert code == 200, text
    usage = json.loads(text)["usageMetadata"]
    assert usage["promptTokenCount"] == prompt_tokens, usage
    return usage


def call_chat(gw, model, prompt_tokens, host=XAI_HOST):
    """An OpenAI-compatible chat call to HOST (xAI's by default)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}]})
    text, code = split(gw.curl(f"https://{host}/v1/chat/completions", body,
                               headers=["authorization: Bearer xai-app-key",
                                        f"x-mock-reply-words: {WORDS}",
                                        f"x-mock-prompt-tokens: {prompt_tokens}"]))
    assert code == 200, text
    usage = json.loads(text)["usage"]
    assert usage["prompt_tokens"] == prompt_tokens, usage
    assert not usage["prompt_tokens_details"]["cached_tokens"], usage
    return usage


def last_record(gw, n):
    """The Nth proxy.request record (1-based) once it is written."""
    def nth():
        recs = [r for r in gw.world.records() if r.get("event.name") == "proxy.request"]
        return recs[n - 1] if len(recs) >= n else None
    return wait_for(nth, timeout=5, what=f"proxy.request record {n}")


@pytest.mark.parametrize("model,rates", [("gemini-2.5-pro", GEMINI_25_PRO),
                                         ("gemini-3.1-pro-preview", GEMINI_31_PRO)])
def test_gemini_long_prompt_is_priced_at_the_long_context_rates(gw, monkeypatch, model, rates):
    gw.start(policy(gw, monkeypatch))
    for n, prompt in enumerate((200000, 200001, 250000), 1):
        call_gemini(gw, model, prompt)
        rec = last_record(gw, n)
        assert (rec["gen_ai.system"], rec["gen_ai.request.model"]) == ("gemini", model), rec
        assert rec["gen_ai.usage.input_tokens"] == prompt, rec
        check_cost(gw, rec, want(rates, prompt, WORDS))
    seen = gw.mock.requests()[-1]
    assert seen["x_goog_api_key"] == "gateway-gemini-key", seen


def test_a_budget_reserves_a_long_prompt_at_the_long_context_rates(gw, monkeypatch, tmp_path):
    """A budget reserves a call's worst case before it goes: a body long enough to hold a
    prompt past 200k tokens may be billed, every token, at gemini-2.5-pro's long-context rates,
    so that is what is reserved; reserving at the standard rates let a long call settle above
    its reservation and a workload spend past its budget with calls in flight together."""
    pol = policy(gw, monkeypatch)
    pol["workloads"] = [dict(pol["workloads"][0], budget={"usd_per_day": 1000})]
    gw.start(pol)
    body = tmp_path / "long.json"  # one word a token: 200,100 words, 2 bytes each
    parts = [{"text": "w " * 200100}]
    body.write_text(json.dumps({"contents": [{"role": "user", "parts": parts}]}))
    out = 128000  # the most a call without its own output bound is reserved for
    url = f"https://{GEMINI_HOST}/v1beta/models/gemini-2.5-pro:generateContent"
    text, code = split(gw.curl(url, headers=["x-goog-api-key: AIza-app-key",
                                             "content-type: application/json",
                                             f"x-mock-reply-words: {out}"],
                               extra=["--data-binary", f"@{body}"]))
    assert code == 200, text[:500]
    usage = json.loads(text)["usageMetadata"]
    assert usage["promptTokenCount"] > GEMINI_25_PRO["limit"], usage
    assert usage["candidatesTokenCount"] == out, usage
    rec = last_record(gw, 1)
    check_cost(gw, rec, want(GEMINI_25_PRO, usage["promptTokenCount"], out))
    assert rec["aigw.budget.settled_nano"] == rec["aigw.cost.nano_usd"], rec
    assert rec["aigw.budget.settled_usd"] <= rec["aigw.budget.reserved_usd"], rec


def test_xai_prompt_from_200k_is_priced_at_the_long_context_rates(gw, monkeypatch):
    gw.start(policy(gw, monkeypatch))
    for n, prompt in enumerate((199999, 200000), 1):
        call_chat(gw, "grok-4.20", prompt)  # an alias of grok-4.20-0309-reasoning
        rec = last_record(gw, n)
        assert rec["gen_ai.system"] == "xai", rec
        assert rec["gen_ai.usage.input_tokens"] == prompt, rec
        check_cost(gw, rec, want(GROK_420, prompt, WORDS))
    assert gw.mock.requests()[-1]["authorization"] == "Bearer gateway-xai-key"


@pytest.mark.parametrize("model", ["mistral-medium-3-5-26-04", "mistral-medium-3.5"])
def test_mistral_medium_35_is_priced_exactly(gw, monkeypatch, model):
    gw.start(policy(gw, monkeypatch))
    usage = call_chat(gw, model, 1234, host=MISTRAL_HOST)
    rec = last_record(gw, 1)
    assert (rec["gen_ai.system"], rec["gen_ai.request.model"]) == ("mistral", model), rec
    assert rec["gen_ai.usage.output_tokens"] == usage["completion_tokens"] == WORDS
    check_cost(gw, rec, want(MISTRAL_MEDIUM_35, 1234, WORDS))
    assert gw.mock.requests()[-1]["authorization"] == "Bearer gateway-mistral-key"


def test_long_prompt_without_published_long_rates_stays_unpriced(gw, monkeypatch):
    """grok-4's band above 128k is not in the table: its cost is null with the reason, never
    the short price; gemini-2.5-flash has one price at any size."""
    gw.start(policy(gw, monkeypatch))
    call_gemini(gw, "gemini-2.5-flash", 250000)
    rec = last_record(gw, 1)
    assert rec["gen_ai.usage.input_tokens"] == 250000
    # one price at any size (Google's page gives 2.5 Flash no long-context band)
    check_cost(gw, rec, want({"limit": 1 << 40, "low": ("0.30", "2.50")}, 250000, WORDS))
    call_chat(gw, "grok-4", 128001)
    rec = last_record(gw, 2)
    assert rec["cost_usd"] is None and "aigw.cost.nano_usd" not in rec, rec
    assert rec["aigw.cost.reason"] == ("128001 input tokens, above 128000: xai/grok-4 charges "
                                       "long-context rates the table does not hold"), rec


ENTRY = {"input": 1.25, "output": 10.00, "cached_input": None, "cache_write": None,
         "valid_from": "2025-06-17"}


@pytest.mark.parametrize("text,message", [
    (json.dumps({"gemini/m": dict(ENTRY, input=-1.25)}),
     '"gemini/m": input: negative price -1.25'),
    (json.dumps({"gemini/m": dict(ENTRY, long_context_above=200000,
                                  long_context={"input": 2.5, "output": -15})}),
     '"gemini/m": long_context.output: negative price -15'),
    (json.dumps({"gemini/m": dict(ENTRY, long_context={"input": 2.5, "output": 15})}),
     '"gemini/m": long_context: needs long_context_above'),
    (json.dumps({"gemini/m": dict(ENTRY, output=1e999)}).replace("Infinity", "1e999"),
     '"gemini/m": output: inf is not a price'),
    ('{"gemini/m": {"input": NaN, "output": 1}}', "not valid JSON (line 1"),
    ('{"gemini/m": {"input": 1.25,', "not valid JSON (line 1"),
])
def test_a_bad_price_table_is_refused_at_start(world, text, message):
    prices = world.tmp / "prices.json"
    prices.write_text(text)
    pol = world.write_policy(world.policy(prices=str(prices)))
    r = world.aigw("run", "--policy", str(pol), "--pin-dir", str(world.pin_dir))
    assert r.returncode != 0, r
    assert message in r.stderr + r.stdout, r.stderr + r.stdout
    assert "price table: refused" in r.stderr + r.stdout, r.stderr
