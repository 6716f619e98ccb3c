"""The Gemini API (providers.NAME.api "gemini", generativelanguage.googleapis.com): an unmodified
app on Google's `@google/genai` npm SDK is captured, answered, re-keyed (the mock sees the
gateway's x-goog-api-key, never the app's) and its call costed exactly from usageMetadata, plain
and streamed (alt=sse); thinking tokens are output; the app's key in the query string (any case,
any position, repeated, percent-encoded) never reaches the provider; a model the table does not
price has a null cost with the reason; the model is the path's, and allow.models holds against
every path trick (escapes, dot segments, a second colon, a body that names another model)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import OPENAI_ADDR  # noqa: E402
from test_cost import PRICES, check_cost, usd  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

HOST = "generativelanguage.googleapis.com"
BASE = f"https://{HOST}"
GATEWAY_KEY = "AIza-gateway-gemini-key"
APP_KEY = "AIza-app-own-key-never-upstream"
MODEL = "gemini-2.5-flash"
PROMPT = "Summarise the quarterly cloud spend for the platform team"
WORDS = 9
BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})
KEY_ENV = "AIGW_TEST_GEMINI_KEY"


def gemini_policy(gw, monkeypatch, **over):
    """GW with the Gemini API's name on the mock's address and the gemini provider as
    policies/default.json has it, with the gateway's key."""
    with open(gw.hosts, "a") as f:
        f.write(f"{OPENAI_ADDR} {HOST}\n")
    shipped = json.loads((Path(__file__).resolve().parents[2] / "policies" /
                          "default.json").read_text())["providers"]
    monkeypatch.setenv(KEY_ENV, GATEWAY_KEY)
    providers = {"openai": {"hosts": ["api.openai.com"]},
                 "anthropic": {"hosts": ["api.anthropic.com"]},
                 "gemini": dict(shipped["gemini"], key_env=KEY_ENV)}
    return gw.policy(providers=providers, **over)


def run_genai(gw, mode, model=MODEL, headers=(), config=None):
    """The @google/genai app in the captured cgroup; CONFIG: members added to its config."""
    c = harness.CLIENTS["openai_sdk"]  # only for the node binary's path
    argv = harness.in_hosts_ns(gw.hosts, [c.argv[0], str(harness.CLIENTS_DIR /
                                                         "google_genai_sdk.mjs"),
                                          "gemini", mode, model, PROMPT,
                                          f"x-mock-reply-words: {WORDS}", *headers])
    p = gw.app.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     env=harness.client_env(gw.ca_dir / "ca.pem", {
                         "GEMINI_API_KEY": APP_KEY, "SDK_EXTRA_CONFIG": json.dumps(config or {})}),
                     cwd=str(harness.CLIENTS_DIR))
    out, err = p.communicate(timeout=60)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, (out, err)
    return json.loads(lines[-1])


def last_usage(r):
    return r["body"]["usageMetadata"] if isinstance(r["body"], dict) \
        else r["body"][-1]["usageMetadata"]


def record(gw, **match):
    return gw.world.wait_record(**{"event.name": "proxy.request", **match})


def no_app_key_upstream(gw):
    for seen in gw.mock.requests():
        assert APP_KEY not in json.dumps(seen), seen
    assert APP_KEY not in gw.world.audit_path.read_text()
    assert GATEWAY_KEY not in gw.world.audit_path.read_text()


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_genai_sdk_app_is_answered_rekeyed_and_costed(gw, monkeypatch, mode):
    gw.start(gemini_policy(gw, monkeypatch))
    r = run_genai(gw, mode)
    assert r["status"] == 200 and not r["error"], r
    text = r["body"]["text"] if mode == "plain" else "".join(c["text"] for c in r["body"])
    assert len(text.split()) == WORDS
    usage = last_usage(r)
    seen = gw.mock.requests()[-1]
    method = "generateContent" if mode == "plain" else "streamGenerateContent"
    assert (seen["host"], seen["path"], seen["status"]) == (
        HOST, f"/v1beta/models/{MODEL}:{method}", 200), seen
    assert seen["x_goog_api_key"] == GATEWAY_KEY, seen
    assert seen["query"] == ("" if mode == "plain" else "alt=sse"), seen
    rec = record(gw, **{"process.pid": r["pid"]})
    assert rec["gen_ai.system"] == "gemini"
    assert rec["gen_ai.request.model"] == MODEL
    assert rec["aigw.credential"] == "gateway"
    assert rec["gen_ai.usage.input_tokens"] == usage["promptTokenCount"]
    assert rec["gen_ai.usage.output_tokens"] == usage["candidatesTokenCount"] == WORDS
    check_cost(gw, rec, usd(PRICES[f"gemini/{MODEL}"], usage["promptTokenCount"], WORDS))
    no_app_key_upstream(gw)


def test_thoughts_are_costed_as_output(gw, monkeypatch):
    gw.start(gemini_policy(gw, monkeypatch))
    r = run_genai(gw, "stream", headers=["x-mock-thoughts: 700"])
    assert r["status"] == 200, r
    usage = last_usage(r)
    assert usage["thoughtsTokenCount"] == 700 and usage["candidatesTokenCount"] == WORDS
    rec = record(gw, **{"process.pid": r["pid"]})
    assert rec["gen_ai.usage.output_tokens"] == WORDS + 700
    assert rec["aigw.usage.reasoning_tokens"] == 700
    check_cost(gw, rec, usd(PRICES[f"gemini/{MODEL}"], usage["promptTokenCount"], WORDS + 700))


@pytest.mark.parametrize("query", [
    "key=APP&alt=sse", "alt=sse&key=APP", "KEY=APP&alt=sse&Key=APP", "%6Bey=APP&alt=sse",
    "alt=sse&%4B%45%59=APP&key=APP", "+key=APP&alt=sse"])
def test_app_key_in_the_query_never_reaches_the_provider(gw, monkeypatch, query):
    gw.start(gemini_policy(gw, monkeypatch))
    q = query.replace("APP", APP_KEY)
    text, code = split(gw.curl(f"{BASE}/v1beta/models/{MODEL}:streamGenerateContent?{q}", BODY,
                               headers=[f"x-goog-api-key: {APP_KEY}",
                                        f"x-mock-reply-words: {WORDS}"]))
    assert code == 200, text
    assert text.startswith("data: {"), text
    seen = gw.mock.requests()[-1]
    assert seen["query"] == "alt=sse", seen
    assert seen["x_goog_api_key"] == GATEWAY_KEY, seen
    no_app_key_upstream(gw)
    rec = record(gw)
    assert rec["gen_ai.usage.output_tokens"] == WORDS


def test_unpriced_model_has_a_null_cost_with_the_reason(gw, monkeypatch):
    gw.start(gemini_policy(gw, monkeypatch))
    text, code = split(gw.curl(f"{BASE}/v1beta/models/gemini-2.0-pro-exp:generateContent", BODY,
                               headers=[f"x-goog-api-key: {APP_KEY}"]))
    assert code == 200, text
    rec = record(gw)
    assert rec["gen_ai.usage.input_tokens"] == json.loads(text)["usageMetadata"][
        "promptTokenCount"]
    assert rec["cost_usd"] is None and "gemini-2.0-pro-exp" in rec["aigw.cost.reason"], rec


def test_stream_without_alt_sse_passes_whole(gw, monkeypatch):
    """streamGenerateContent without alt=sse answers one JSON array, streamed: it reaches the
    app byte for byte, and the record says its usage was not read rather than guess."""
    gw.start(gemini_policy(gw, monkeypatch))
    url = f"{BASE}/v1beta/models/{MODEL}:streamGenerateContent"
    text, code = split(gw.curl(url, BODY, headers=[f"x-mock-reply-words: {WORDS}"]))
    assert code == 200, text
    chunks = json.loads(text)
    assert len(chunks) == WORDS and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    rec = record(gw)
    assert rec["http.response.status_code"] == 200
    assert rec["cost_usd"] is None and rec["aigw.cost.reason"], rec


TRICKS = [
    "/v1beta/models/gemini-2.5-pr%6f:generateContent",
    "/v1beta/models/%67emini-2.5-pro:generateContent",
    "/v1beta/models/gemini-2.5-flash/../gemini-2.5-pro:generateContent",
    "/v1beta/models/../models/gemini-2.5-pro:generateContent",
    "/v1beta/models/gemini-2.5-flash:generateContent/../../models/gemini-2.5-pro:generateContent",
    "/v1beta/models/gemini-2.5-pro:generateContent:generateContent",
    "/v1beta/models/gemini-2.5-pro%3AgenerateContent",
    "/v1beta/tunedModels/gemini-2.5-pro:generateContent",
]


@pytest.mark.parametrize("own_keys", [False, True])
def test_model_allow_list_holds_against_path_tricks(gw, monkeypatch, own_keys):
    """With the gateway's key the endpoint stage refuses what is no inference call; a workload
    with its own keys passes that stage, and the model allow-list alone must hold."""
    pol = gemini_policy(gw, monkeypatch)
    pol["workloads"][0]["allow"] = {"models": [MODEL]}
    pol["workloads"][0]["own_keys"] = own_keys
    gw.start(pol)
    ok, code = split(gw.curl(f"{BASE}/v1beta/models/{MODEL}:generateContent", BODY))
    assert code == 200, ok
    allowed = len(gw.mock.requests())
    text, code = split(gw.curl(f"{BASE}/v1beta/models/gemini-2.5-pro:generateContent",
                               json.dumps({"model": MODEL, **json.loads(BODY)})))
    assert code == 403 and json.loads(text)["error"]["status"] == "PERMISSION_DENIED", text
    for path in TRICKS:
        text, code = split(gw.curl(BASE + path, BODY, extra=["--path-as-is"]))
        assert code in (400, 403), (path, code, text)
        assert json.loads(text)["error"]["code"] == code, text
    assert len(gw.mock.requests()) == allowed, gw.mock.requests()[allowed:]


def test_logical_name_is_routed_by_the_path(gw, monkeypatch):
    """A Gemini app asking for a logical name: the path sent upstream names the target's model
    (the body has none to replace), the rest of the target (query) as the app sent it."""
    pol = gemini_policy(gw, monkeypatch)
    pol["models"] = {"house-fast": [{"provider": "gemini", "model": MODEL}]}
    gw.start(pol)
    r = run_genai(gw, "stream", model="house-fast")
    assert r["status"] == 200 and not r["error"], r
    seen = gw.mock.requests()[-1]
    assert (seen["path"], seen["query"], seen["x_goog_api_key"]) == (
        f"/v1beta/models/{MODEL}:streamGenerateContent", "alt=sse", GATEWAY_KEY), seen
    rec = record(gw, **{"process.pid": r["pid"]})
    assert rec["gen_ai.request.model"] == "house-fast" and rec["aigw.upstream.model"] == MODEL
    usage = last_usage(r)
    check_cost(gw, rec, usd(PRICES[f"gemini/{MODEL}"], usage["promptTokenCount"], WORDS))


def test_openai_app_to_a_gemini_target_is_refused_clearly(gw, monkeypatch):
    """An OpenAI chat call with what has no exact Gemini translation (a strict tool) to a
    logical name whose target speaks Gemini is refused in the app's format, naming it, and
    nothing reaches the provider (test_gemini_translate.py: what is translated)."""
    pol = gemini_policy(gw, monkeypatch)
    pol["models"] = {"house-fast": [{"provider": "gemini", "model": MODEL}]}
    gw.start(pol)
    body = json.dumps({"model": "house-fast", "messages": [{"role": "user", "content": PROMPT}],
                       "tools": [{"type": "function", "function": {"name": "f",
                                                                   "strict": True}}]})
    text, code = split(gw.curl("https://api.openai.com/v1/chat/completions", body,
                               headers=["authorization: Bearer sk-app"]))
    assert code == 400, text
    err = json.loads(text)["error"]
    assert "cannot be translated" in err["message"] and err["type"], err
    assert "tools" in err["message"], err
    assert gw.mock.requests() == []
