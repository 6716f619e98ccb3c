"""OpenAI-compatible clouds that serve OpenAI's API under a root of their own: an unmodified
app on the official `openai` SDK, pointed at Groq (https://api.groq.com/openai/v1) or at
Perplexity (https://api.perplexity.ai, no version in its paths) by its base URL, is captured,
answered, re-keyed (the provider sees the gateway's key, never the app's), and its call read by
its canonical path: usage recorded, the cost exact from policies/prices.json (Groq's and
OpenRouter's rows keyed by the model string the app sends; Perplexity's: null,
with the reason: its per-request search fee is not in the table), the endpoint allow-list
applied to the canonical name. The mock serves each host's API under that host's root only, so
a call sent upstream with any other path would fail."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import OPENAI_ADDR, Mock  # noqa: E402
from test_cost import PRICES, check_cost, usd  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

ROOTS = {"api.groq.com": "/openai/v1", "api.perplexity.ai": "", "openrouter.ai": "/api/v1"}
BASE_URL = {"groq": "https://api.groq.com/openai/v1", "perplexity": "https://api.perplexity.ai",
            "openrouter": "https://openrouter.ai/api/v1"}
MODEL = {"groq": "llama-3.3-70b-versatile", "perplexity": "sonar", "openrouter": "openai/gpt-4o"}
# A model OpenRouter resells that policies/prices.json does not price (see prices.md).
UNPRICED_OPENROUTER = "meta-llama/llama-3.3-70b-instruct"
KEY = {"groq": "gsk-gateway-groq", "perplexity": "pplx-gateway", "openrouter": "sk-or-gateway"}
APP_KEY = harness.OPENAI_KEY
PROMPT = "Summarise the quarterly cloud spend for the platform team"
WORDS = 9


def clouds(gw, monkeypatch):
    """GW with the mock serving Groq's and Perplexity's roots and the app seeing their names;
    the policy's providers as policies/default.json has them, with the gateway's keys."""
    gw.mock.stop()
    gw.mock = Mock(gw.certs, gw.world.tmp / "mock-clouds.log",
                   extra=[a for host, root in ROOTS.items()
                          for a in ("--api-root", f"{host}={root}")])
    with open(gw.hosts, "a") as f:
        for host in ROOTS:
            f.write(f"{OPENAI_ADDR} {host}\n")
    shipped = json.loads((Path(__file__).resolve().parents[2] / "policies" /
                          "default.json").read_text())["providers"]
    providers = {"openai": {"hosts": ["api.openai.com"]},
                 "anthropic": {"hosts": ["api.anthropic.com"]}}
    for name in BASE_URL:
        monkeypatch.setenv(f"AIGW_TEST_{name.upper()}_KEY", KEY[name])
        providers[name] = dict(shipped[name], key_env=f"AIGW_TEST_{name.upper()}_KEY")
    return gw.policy(providers=providers)


def run_sdk(gw, provider, mode, headers=(), model=None):
    """The `openai` SDK app in the captured cgroup, its base URL the provider's."""
    return harness.run_client("openai_sdk", "openai", mode, model or MODEL[provider], PROMPT,
                              [f"x-mock-reply-words: {WORDS}", *headers], hosts=gw.hosts,
                              ca=gw.ca_dir / "ca.pem",
                              env={"OPENAI_BASE_URL": BASE_URL[provider]},
                              popen=gw.app.popen)


def usage_of(r):
    """The usage the app got: the answer's, or the stream's last chunk's."""
    return r.body["usage"] if isinstance(r.body, dict) else r.body[-1]["usage"]


def check_call(gw, provider, mode, model=None):
    r = run_sdk(gw, provider, mode, model=model)
    assert r.ok and r.status == 200, r
    usage = usage_of(r)
    assert usage["completion_tokens"] == WORDS
    path = BASE_URL[provider].split("://", 1)[1].split("/", 1)
    sent = ("/" + path[1] if len(path) > 1 else "") + "/chat/completions"
    seen = gw.mock.requests()[-1]
    assert (seen["host"], seen["path"], seen["status"]) == (path[0], sent, 200), seen
    assert seen["authorization"] == f"Bearer {KEY[provider]}", seen
    assert seen["stream"] == (mode == "stream")
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    assert rec["gen_ai.system"] == provider
    assert rec["url.path"] == sent
    assert rec["aigw.url.api_path"] == "/v1/chat/completions"
    assert rec["gen_ai.operation.name"] == "chat"
    assert rec["aigw.credential"] == "gateway"
    assert rec["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert rec["gen_ai.usage.output_tokens"] == WORDS
    assert APP_KEY not in gw.world.audit_path.read_text()
    assert KEY[provider] not in gw.world.audit_path.read_text()
    return rec, usage


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_captured_groq_sdk_app_is_rekeyed_and_priced(gw, monkeypatch, mode):
    gw.start(clouds(gw, monkeypatch))
    rec, usage = check_call(gw, "groq", mode)
    check_cost(gw, rec, usd(PRICES["groq/llama-3.3-70b-versatile"], usage["prompt_tokens"],
                            WORDS))


@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("provider,model", [("groq", "openai/gpt-oss-120b"),
                                            ("groq", "llama-3.1-8b-instant"),
                                            ("openrouter", "openai/gpt-4o-mini"),
                                            ("openrouter", "openai/gpt-4o"),
                                            ("openrouter", "openai/gpt-4.1")])
def test_newly_priced_cloud_models_are_costed_exactly(gw, monkeypatch, mode, provider, model):
    """Rows added for issue 12, keyed by the provider's name and the model string the app sends
    (publisher prefix and all): the call costs exactly what the table's figures say."""
    gw.start(clouds(gw, monkeypatch))
    rec, usage = check_call(gw, provider, mode, model=model)
    assert rec["gen_ai.request.model"] == model, rec
    assert not (usage.get("prompt_tokens_details") or {}).get("cached_tokens"), usage
    check_cost(gw, rec, usd(PRICES[f"{provider}/{model}"], usage["prompt_tokens"], WORDS))


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_captured_perplexity_sdk_app_has_usage_and_a_cost_unknown_for_its_fees(gw, monkeypatch,
                                                                             mode):
    gw.start(clouds(gw, monkeypatch))
    rec, _ = check_call(gw, "perplexity", mode)
    assert rec["cost_usd"] is None and "aigw.cost.nano_usd" not in rec, rec
    assert rec["aigw.cost.reason"] == (
        "perplexity/sonar also charges a fee per request (e.g. for web search) that the table "
        "does not hold"), rec


def test_endpoint_allow_list_names_the_canonical_path(gw, monkeypatch):
    """allow.endpoints names "POST /v1/chat/completions": Groq's /openai/v1/chat/completions is
    that endpoint, its /openai/v1/embeddings is not, nor is /v1/chat/completions, which is
    outside Groq's API."""
    pol = clouds(gw, monkeypatch)
    pol["workloads"][0]["allow"] = {"endpoints": ["POST /v1/chat/completions"]}
    gw.start(pol)
    assert run_sdk(gw, "groq", "plain").status == 200
    r = run_sdk(gw, "groq", "embeddings")
    assert r.status == 403, r
    assert "POST /v1/embeddings is not in allow.endpoints" in json.dumps(r.body)
    body = json.dumps({"model": MODEL["groq"], "messages": [{"role": "user", "content": "hi"}]})
    text, code = split(gw.curl("https://api.groq.com/v1/chat/completions", body,
                               headers=[f"authorization: Bearer {APP_KEY}"]))
    assert code == 403, text
    assert "outside provider groq's API (/openai/v1/...)" in text
    # decoding or dot segments do not make a path canonical
    for trick in ("/openai/v1/chat/completions/../embeddings", "/openai/v1/chat%2Fcompletions",
                  "/openai/v1/./chat/completions"):
        text, code = split(gw.curl(f"https://api.groq.com{trick}", body,
                                   headers=[f"authorization: Bearer {APP_KEY}"],
                                   extra=["--path-as-is"]))
        assert code == 400, (trick, text)
    paths = [x["path"] for x in gw.mock.requests()]
    assert paths == ["/openai/v1/chat/completions"], paths


def test_rollout_records_every_endpoint_refusal_of_a_call(gw, monkeypatch):
    """allow in roll-out ("enforce": false), allow.endpoints ["POST /v1/embeddings"]: Groq's
    /v1/chat/completions, with the gateway's key, is outside its API *and* not in the list.
    The call goes on as roll-out lets it, and its record names both would-be refusals, in the
    order enforcement meets them: turning enforcement on must bring no refusal unannounced. A
    non-canonical path is refused all the same: malformed input, not a policy choice."""
    pol = clouds(gw, monkeypatch)
    pol["workloads"][0]["allow"] = {"endpoints": ["POST /v1/embeddings"], "enforce": False}
    gw.start(pol)
    body = json.dumps({"model": MODEL["groq"], "messages": [{"role": "user", "content": "hi"}]})
    text, code = split(gw.curl("https://api.groq.com/v1/chat/completions", body,
                               headers=[f"authorization: Bearer {APP_KEY}"]))
    assert "is outside provider groq's API" not in text, text
    assert [x["path"] for x in gw.mock.requests()] == ["/v1/chat/completions"]
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "url.path":
                                  "/v1/chat/completions"})
    assert rec["http.response.status_code"] == code, (rec, text)
    assert rec["aigw.policy.action"] == "would_deny", rec
    would = [(d["stage"], d["rule"]) for d in rec["aigw.policy.decisions"]
             if d["action"] == "would_deny"]
    assert would == [("endpoints", "api_root"), ("endpoints", "allow.endpoints")], rec
    assert (rec["aigw.policy.stage"], rec["aigw.policy.rule"]) in would, rec
    text, code = split(gw.curl("https://api.groq.com/openai/v1/embeddings/../chat/completions",
                               body, headers=[f"authorization: Bearer {APP_KEY}"],
                               extra=["--path-as-is"]))
    assert code == 400 and "canonical form" in text, text
    assert len(gw.mock.requests()) == 1


def test_routed_calls_get_each_providers_own_path(gw, monkeypatch):
    """A logical name the gateway routes to Groq goes to Groq's /openai/v1/...; an Anthropic
    Messages call routed to Perplexity is translated and goes to its unversioned
    /chat/completions."""
    pol = clouds(gw, monkeypatch)
    pol["models"] = {"cheap": [{"provider": "groq", "model": MODEL["groq"]}],
                     "search": [{"provider": "perplexity", "model": MODEL["perplexity"]}]}
    gw.start(pol)
    body = json.dumps({"model": "cheap", "messages": [{"role": "user", "content": PROMPT}]})
    text, code = split(gw.curl("https://api.openai.com/v1/chat/completions", body,
                               headers=[f"authorization: Bearer {APP_KEY}"]))
    assert code == 200, text
    usage = json.loads(text)["usage"]
    seen = gw.mock.requests()[-1]
    assert (seen["host"], seen["path"], seen["model"]) == (
        "api.groq.com", "/openai/v1/chat/completions", MODEL["groq"]), seen
    assert seen["authorization"] == f"Bearer {KEY['groq']}"
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "groq"})
    assert rec["url.path"] == "/v1/chat/completions" and "aigw.url.api_path" not in rec
    assert rec["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    check_cost(gw, rec, usd(PRICES["groq/llama-3.3-70b-versatile"], usage["prompt_tokens"],
                            usage["completion_tokens"]))
    body = json.dumps({"model": "search", "max_tokens": 64,
                       "messages": [{"role": "user", "content": PROMPT}]})
    text, code = split(gw.curl("https://api.anthropic.com/v1/messages", body,
                               headers=["x-api-key: sk-ant-app",
                                        "anthropic-version: 2023-06-01"]))
    assert code == 200, text
    assert json.loads(text)["type"] == "message"
    seen = gw.mock.requests()[-1]
    assert (seen["host"], seen["path"], seen["model"]) == (
        "api.perplexity.ai", "/chat/completions", MODEL["perplexity"]), seen
    assert seen["authorization"] == f"Bearer {KEY['perplexity']}"


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_openrouters_own_cost_is_recorded_beside_ours(gw, monkeypatch, mode):
    """OpenRouter reports what a call cost it (usage.cost, in its credits): the record keeps
    that figure apart; for a model the table has no OpenRouter price for, the gateway's own
    cost is unknown, never OpenRouter's figure."""
    gw.start(clouds(gw, monkeypatch))
    r = run_sdk(gw, "openrouter", mode, headers=["x-mock-usage-cost: 0.000421"],
                model=UNPRICED_OPENROUTER)
    assert r.ok and r.status == 200, r
    assert usage_of(r)["cost"] == 0.000421
    seen = gw.mock.requests()[-1]
    assert (seen["host"], seen["path"]) == ("openrouter.ai", "/api/v1/chat/completions"), seen
    assert seen["authorization"] == f"Bearer {KEY['openrouter']}"
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    assert rec["aigw.url.api_path"] == "/v1/chat/completions"
    assert rec["aigw.provider.reported_cost"] == 0.000421
    assert rec["cost_usd"] is None
    assert rec["aigw.cost.reason"] == f"no price for openrouter/{UNPRICED_OPENROUTER}", rec
