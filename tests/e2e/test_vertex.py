# SPDX-License-Identifier: MIT
"""Vertex AI ("api": "vertex"): Claude on Google Cloud, captured and governed.

- A captured app (curl, unmodified) calls Claude on Vertex by its real host names
  (aiplatform.googleapis.com, us-east5-aiplatform.googleapis.com) with its own bearer token:
  rawPredict and streamRawPredict are answered, re-authenticated with a token the gateway
  minted from its service-account key file (the app's token never reaches the provider),
  read as Anthropic's Messages API (the model from the path), costed exactly at the global
  endpoint and null with the reason at a regional one.
- The token: minted (JWT, RS256) and exchanged at the token endpoint (the mock verifies the
  signature with the account's public key, the claims and the grant type), cached across
  calls, refreshed before it expires, one exchange for 20 concurrent calls; an endpoint that is
  down fails the call cleanly (503, a record saying why).
- Allow-lists apply to the path's model; a "model" in the body or path tricks do not evade them.
- An Anthropic SDK app (unmodified) falls back to Claude on Vertex when Anthropic is down, plain
  and streamed (the body made Vertex's: no model, anthropic_version vertex-2023-10-16, which
  the mock insists on); an OpenAI chat completion is served by Claude on Vertex, translated.
- A bad key file is refused at load (naming the key) and on reload (the old policy runs on).

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_vertex.py
"""
import json
import os
import subprocess
import sys
import threading
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import (ANTHROPIC_ADDR, MOCKPROV, OPENAI_ADDR, Mock, free_port,  # noqa: E402
                      gauge, wait_for)
from test_cost import check_cost  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

GLOBAL_HOST = "aiplatform.googleapis.com"
REGION_HOST = "us-east5-aiplatform.googleapis.com"
PROJECT = "acme-ml-prod"
MODEL = "claude-sonnet-4-5@20250929"
APP_TOKEN = "ya29.app-own-token-must-not-travel"
EMAIL = "aigw-gateway@acme-ml-prod.iam.gserviceaccount.com"
# The operator's own table for this test (policy "prices"): the shipped one holds no Vertex
# price (see policies/prices.md); what is shown here is that a Vertex call is costed exactly
# from whatever the table says, and never at a regional endpoint's unknown premium.
PRICE = {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75,
         "valid_from": "2025-09-29"}
WORDS = 9
GEMINI = "gemini-2.5-flash"
# The operator's own price for a Gemini model on Vertex (none is shipped, as for Claude): that
# a Gemini call on Vertex is read from its usageMetadata and costed exactly from the table.
GEMINI_PRICE = {"input": 0.3, "output": 2.5, "cached_input": 0.03, "cache_write": 0.3,
                "valid_from": "2025-06-17"}
GEMINI_BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "Summarise the "
                                                                    "quarterly GPU spend"}]}]})
PROMPT = "Summarise the quarterly GPU spend for the platform team"


def path(model=MODEL, location="global", method="rawPredict", project=PROJECT):
    return (f"/v1/projects/{project}/locations/{location}/publishers/anthropic/models/"
            f"{model}:{method}")


def gemini_path(model=GEMINI, method="generateContent", location="global", version="v1"):
    return (f"/{version}/projects/{PROJECT}/locations/{location}/publishers/google/models/"
            f"{model}:{method}")


def vertex_body(stream=False, **extra):
    b = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 256,
         "messages": [{"role": "user", "content": PROMPT}], **extra}
    if stream:
        b["stream"] = True
    return json.dumps(b)


_sa_keys = {}


def write_sa(tmp, name="sa.json", **over):
    """A service-account key file with an RSA key of its own, as Google issues them: one key
    per file name in this process (each is 2048 bits, and a new one per test costs more CPU
    than the test), so the gateway's and an app's accounts never share one."""
    key = _sa_keys.get(name)
    if key is None:
        key = _sa_keys[name] = subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            check=True, capture_output=True, text=True).stdout
    sa = {"type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
          "private_key": key, "client_email": EMAIL,
          "token_uri": "https://oauth2.googleapis.com/token", **over}
    p = tmp / name
    p.write_text(json.dumps(sa))
    p.chmod(0o600)
    return p


class Vx:
    """A gateway whose mock also speaks Vertex (token endpoint + rawPredict)."""

    def __init__(self, gw, ttl=3600, delay_ms=0, token_url=None, own_prices=True):
        self.gw = gw
        self.sa = write_sa(gw.world.tmp)
        gw.mock.stop()
        gw.mock = Mock(gw.certs, gw.world.tmp / "mock-vertex.log",
                       extra=["--gcp-sa", str(self.sa), "--gcp-token-ttl", str(ttl),
                              "--gcp-token-delay-ms", str(delay_ms)])
        with open(gw.hosts, "a") as f:
            f.write(f"{ANTHROPIC_ADDR} {GLOBAL_HOST}\n{ANTHROPIC_ADDR} {REGION_HOST}\n"
                    f"{OPENAI_ADDR} oauth2.googleapis.com\n")
        over = {}
        if own_prices:  # else the shipped table, built into aigw
            prices = gw.world.tmp / "prices.json"
            prices.write_text(json.dumps({"vertex/claude-sonnet-4-5": PRICE,
                                          f"vertex/{GEMINI}": GEMINI_PRICE}))
            over["prices"] = str(prices)
        self.vertex = {"api": "vertex", "hosts": [GLOBAL_HOST, REGION_HOST],
                       "credentials_file": str(self.sa), "project": PROJECT,
                       "region": "global"}
        if token_url:
            self.vertex["token_url"] = token_url
        self.pol = gw.policy(providers={
            "openai": {"hosts": ["api.openai.com"]},
            "anthropic": {"hosts": ["api.anthropic.com"], "key_env": "AIGW_TEST_VX_ANT_KEY"},
            "vertex": self.vertex}, **over)
        self.pol["routing"] = {"retries": 0, "backoff_ms": 10,
                               "breaker": {"failures": 1000, "open_ms": 100}}

    def start(self):
        self.daemon = self.gw.start(self.pol)
        return self

    def call(self, host=GLOBAL_HOST, url_path=None, body=None, headers=(), extra=()):
        text, code = split(self.gw.curl(
            f"https://{host}{url_path or path()}", body or vertex_body(),
            headers=[f"authorization: Bearer {APP_TOKEN}", f"x-mock-reply-words: {WORDS}",
                     *headers], extra=extra))
        return text, code

    def exchanges(self):
        return [x for x in self.gw.mock.requests() if x["path"] == "/token"]

    def predicts(self):
        return [x for x in self.gw.mock.requests() if "/projects/" in x["path"]]


@pytest.fixture
def vx(gw, monkeypatch):
    monkeypatch.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
    return Vx(gw)


def usd(p, fresh, out):
    return (fresh * Decimal(str(p["input"])) + out * Decimal(str(p["output"]))) / 1000000


def check_rekeyed(vx):
    """Every call the mock served carried a token the gateway minted, never the app's."""
    seen = vx.predicts()
    assert seen
    for x in seen:
        assert x["authorization"].startswith("Bearer ya29.mock."), x
        assert APP_TOKEN not in json.dumps(x), x
    log = vx.gw.world.audit_path.read_text()
    assert APP_TOKEN not in log and "ya29.mock." not in log


def sse_usage(text):
    """The usage of an Anthropic stream: message_start's input, message_delta's output."""
    events = [json.loads(l[5:]) for l in text.splitlines() if l.startswith("data:")]
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop", types
    return (events[0]["message"]["usage"]["input_tokens"],
            [e for e in events if e["type"] == "message_delta"][-1]["usage"]["output_tokens"])


# ---------------------------------------------------------------- captured app


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_captured_rawpredict_is_reauthenticated_and_costed(vx, mode):
    vx.start()
    stream = mode == "stream"
    text, code = vx.call(url_path=path(method="streamRawPredict" if stream else "rawPredict"),
                         body=vertex_body(stream))
    assert code == 200, text
    if stream:
        fresh, out = sse_usage(text)
    else:
        ans = json.loads(text)
        assert ans["type"] == "message" and ans["model"] == MODEL, ans
        fresh, out = ans["usage"]["input_tokens"], ans["usage"]["output_tokens"]
    assert out == WORDS
    seen = vx.predicts()[-1]
    assert (seen["host"], seen["path"], seen["status"], seen["stream"]) == (
        GLOBAL_HOST, path(method="streamRawPredict" if stream else "rawPredict"), 200, stream)
    check_rekeyed(vx)
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["gen_ai.request.model"] == MODEL
    assert rec["aigw.url.api_path"] == "/v1/messages"
    assert rec["aigw.credential"] == "gateway"
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (fresh, out)
    check_cost(vx.gw, rec, usd(PRICE, fresh, out))


def test_regional_endpoint_cost_is_null_with_the_reason(vx):
    vx.start()
    text, code = vx.call(host=REGION_HOST, url_path=path(location="us-east5"))
    assert code == 200, text
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["gen_ai.usage.output_tokens"] == WORDS
    assert rec["cost_usd"] is None and "aigw.cost.nano_usd" not in rec, rec
    assert "regional endpoint us-east5" in rec["aigw.cost.reason"], rec


# Claude Sonnet 4.5 on Vertex in the shipped table (policies/prices.md, "Vertex AI"), USD per
# million tokens at the global endpoint: typed in here, not read from prices.json, so a wrong
# row fails.
SHIPPED_SONNET_45 = {"input": "3.00", "output": "15.00"}


@pytest.mark.parametrize("location", ["global", "us-east5"])
def test_shipped_table_prices_the_global_endpoint_only(gw, monkeypatch, location):
    """With no table of the operator's own: a captured rawPredict of Claude Sonnet 4.5 at the
    global endpoint is costed exactly at the shipped global price; the same call at a regional
    endpoint (billed 10 % above global) is recorded with a null cost and the reason, never at
    the global price, so a workload cannot spend past its budget by choosing the region."""
    monkeypatch.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
    vx = Vx(gw, own_prices=False).start()
    host = GLOBAL_HOST if location == "global" else REGION_HOST
    text, code = vx.call(host=host, url_path=path(location=location))
    assert code == 200, text
    ans = json.loads(text)
    assert ans["usage"]["output_tokens"] == WORDS, ans
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["gen_ai.usage.input_tokens"] == ans["usage"]["input_tokens"], rec
    if location == "global":
        check_cost(vx.gw, rec, usd(SHIPPED_SONNET_45, ans["usage"]["input_tokens"], WORDS))
    else:
        assert rec["cost_usd"] is None and "aigw.cost.nano_usd" not in rec, rec
        assert "regional endpoint us-east5" in rec["aigw.cost.reason"], rec


# ---------------------------------------------------------------- the token


def token_cached(admin, sa):
    """aigw_gcp_token_cached of key file SA: 1 while its token serves calls from the cache, 0
    once its refresh time passed."""
    return gauge(admin, f'aigw_gcp_token_cached{{credentials_file="{sa}"}}')


def test_token_cached_refreshed_and_one_exchange_for_twenty_calls(gw, monkeypatch):
    monkeypatch.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
    # tokens live 3 s (refreshed from 2.4 s on); the endpoint takes 400 ms to answer, so
    # every one of 20 concurrent calls arrives while the first exchange is in flight
    vx = Vx(gw, ttl=3, delay_ms=400)
    admin = free_port()
    vx.pol["admin"] = {"listen": f"127.0.0.1:{admin}"}
    vx.start()
    results = []

    def one():
        results.append(vx.call())

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [c for _, c in results] == [200] * 20, results
    assert len(vx.exchanges()) == 1, vx.exchanges()
    tokens = {x["authorization"] for x in vx.predicts()}
    assert len(tokens) == 1, tokens
    assert vx.call()[1] == 200  # cached
    assert len(vx.exchanges()) == 1
    wait_for(lambda: token_cached(admin, vx.sa) == 0, timeout=15,
             what="the token's refresh time passed")
    assert vx.call()[1] == 200
    assert len(vx.exchanges()) == 2, vx.exchanges()
    assert len({x["authorization"] for x in vx.predicts()}) == 2
    assert all(x["status"] == 200 for x in vx.exchanges())
    check_rekeyed(vx)


def test_a_token_exchange_leaves_no_connection_behind(vx):
    """An exchange's connection is closed and freed once answered: a daemon stopped after one
    leaks nothing (LeakSanitizer, at its exit). Kept alive, it stayed open, unowned, until
    the endpoint closed it, and was leaked at a stop before that."""
    vx.start()
    assert vx.call()[1] == 200
    assert len(vx.exchanges()) == 1
    vx.daemon.stop()  # a clean exit, and no sanitizer report


def test_token_endpoint_down_is_a_clean_503_with_a_record(gw, monkeypatch):
    monkeypatch.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
    dead = f"https://127.0.0.1:{free_port()}/token"  # nothing listens there
    vx = Vx(gw, token_url=dead).start()
    text, code = vx.call()
    assert code == 503, text
    err = json.loads(text)
    assert err["type"] == "error" and "token endpoint" in err["error"]["message"], err
    assert vx.predicts() == []
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["http.response.status_code"] == 503, rec
    assert "no access token for vertex" in json.dumps(rec), rec
    assert vx.daemon.proc.poll() is None


def test_token_endpoint_down_falls_back_like_an_unreachable_provider(gw, monkeypatch):
    monkeypatch.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
    vx = Vx(gw, token_url=f"https://127.0.0.1:{free_port()}/token")
    vx.pol["models"] = {"claude-main": [{"provider": "vertex", "model": MODEL},
                                        {"provider": "anthropic", "model": "claude-sonnet-4-5"}]}
    vx.start()
    body = json.dumps({"model": "claude-main", "max_tokens": 64,
                       "messages": [{"role": "user", "content": PROMPT}]})
    text, code = split(vx.gw.curl("https://api.anthropic.com/v1/messages", body,
                                  headers=["x-api-key: sk-ant-app",
                                           "anthropic-version: 2023-06-01"]))
    assert code == 200, text
    assert [x["host"] for x in vx.gw.mock.requests()] == ["api.anthropic.com"]
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request",
                                     "gen_ai.system": "anthropic"})
    (tried,) = [a for a in rec["aigw.attempts"] if a["aigw.result"] == "fell_back"]
    assert tried["gen_ai.system"] == "vertex" and "token endpoint" in json.dumps(tried), rec


def gemini_answer_usage(text, mode):
    """The usageMetadata of a Gemini answer (the last chunk's for a stream) and its chunks."""
    if mode == "plain":
        return json.loads(text)["usageMetadata"], 1
    if mode == "sse":
        chunks = [json.loads(l[5:]) for l in text.splitlines() if l.startswith("data:")]
    else:  # streamGenerateContent without alt=sse: one JSON array
        chunks = json.loads(text)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP", chunks
    return chunks[-1]["usageMetadata"], len(chunks)


@pytest.mark.parametrize("mode", ["plain", "sse", "array"])
def test_captured_gemini_on_vertex_is_reauthenticated_read_and_costed(vx, mode):
    """curl calls a Gemini model on Vertex with its own token: the gateway's minted token goes
    instead, the model is the path's, usage is read from usageMetadata as the Gemini API's
    (plain and alt=sse) and costed from the table; a stream without alt=sse (one JSON
    array) passes whole, its usage unread and its cost null with the reason."""
    vx.start()
    method = "generateContent" if mode == "plain" else "streamGenerateContent"
    url = gemini_path(method=method) + ("?alt=sse" if mode == "sse" else "")
    text, code = vx.call(url_path=url, body=GEMINI_BODY)
    assert code == 200, text
    usage, chunks = gemini_answer_usage(text, mode)
    assert usage["candidatesTokenCount"] == WORDS and chunks == (1 if mode == "plain" else WORDS)
    seen = vx.predicts()[-1]
    assert (seen["host"], seen["path"], seen["query"], seen["status"]) == (
        GLOBAL_HOST, gemini_path(method=method), "alt=sse" if mode == "sse" else "", 200), seen
    check_rekeyed(vx)
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["gen_ai.request.model"] == GEMINI and rec["aigw.credential"] == "gateway", rec
    assert rec["aigw.url.api_path"] == f"/v1beta/models/{GEMINI}:{method}", rec
    assert rec["aigw.stream"] == (mode != "plain"), rec
    assert rec["http.response.status_code"] == 200
    if mode == "array":
        assert rec["cost_usd"] is None and rec["aigw.cost.reason"], rec
        return
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (
        usage["promptTokenCount"], WORDS), rec
    check_cost(vx.gw, rec, usd(GEMINI_PRICE, usage["promptTokenCount"], WORDS))


def test_gemini_on_vertex_unpriced_model_and_count_tokens(vx):
    """A Gemini model the table does not price: read, cost null with the reason naming it;
    countTokens is answered with the gateway's token and recorded with its model."""
    vx.start()
    text, code = vx.call(url_path=gemini_path(model="gemini-2.5-pro"), body=GEMINI_BODY)
    assert code == 200, text
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex",
                                     "gen_ai.request.model": "gemini-2.5-pro"})
    assert rec["gen_ai.usage.output_tokens"] == WORDS, rec
    assert rec["cost_usd"] is None and "gemini-2.5-pro" in rec["aigw.cost.reason"], rec
    text, code = vx.call(url_path=gemini_path(method="countTokens"), body=GEMINI_BODY)
    assert code == 200 and json.loads(text)["totalTokens"] > 0, text
    assert vx.predicts()[-1]["path"] == gemini_path(method="countTokens")
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex",
                                     "url.path": gemini_path(method="countTokens")})
    assert rec["gen_ai.request.model"] == GEMINI and rec["aigw.credential"] == "gateway", rec
    check_rekeyed(vx)


GEMINI_TRICKS = [
    gemini_path(model="gemini-2.5-pr%6f"),
    gemini_path(model="%67emini-2.5-pro"),
    gemini_path() + "/../../models/gemini-2.5-pro:generateContent",
    gemini_path(model=f"{GEMINI}/../gemini-2.5-pro"),
    gemini_path(model="gemini-2.5-pro", method="generateContent:generateContent"),
    gemini_path(model="gemini-2.5-pro").replace(":generateContent", "%3AgenerateContent"),
    gemini_path(model="gemini-2.5-pro").replace("/google/", "/googl%65/"),
    gemini_path(model="gemini-2.5-pro").replace("/google/", "/meta/"),
    gemini_path(model="gemini-2.5-pro").replace("/google/", "/anthropic/"),
]


@pytest.mark.parametrize("own_keys", [False, True])
def test_gemini_on_vertex_allow_list_holds_against_path_tricks(vx, own_keys):
    """allow.models is judged on the path's model: a body naming an allowed one, escapes, dot
    segments, a second colon or another publisher do not get another model through. With its
    own keys a workload passes the endpoint stage (which keeps the gateway's token from paths
    that are no model call), and the allow-list alone must hold."""
    vx.pol["workloads"][0]["allow"] = {"models": [GEMINI]}
    vx.pol["workloads"][0]["own_keys"] = own_keys
    vx.start()
    vx.call(url_path=gemini_path(), body=GEMINI_BODY)
    assert [x["path"] for x in vx.predicts()] == [gemini_path()]
    text, code = vx.call(url_path=gemini_path(model="gemini-2.5-pro"),
                         body=json.dumps({"model": GEMINI, **json.loads(GEMINI_BODY)}))
    assert code == 403 and json.loads(text)["error"]["status"] == "PERMISSION_DENIED", text
    for trick in GEMINI_TRICKS:
        text, code = vx.call(url_path=trick, body=GEMINI_BODY, extra=["--path-as-is"])
        assert code in (400, 403), (trick, code, text)
    assert [x["path"] for x in vx.predicts()] == [gemini_path()]


def app_token_server(vx):
    """The app's own token endpoint: a second mock at an address no provider has (so the
    gateway does not capture it) answering oauth2.googleapis.com's /token for the app's own
    service account. Its tokens are unknown to the provider's mock: one that reached it would
    be refused (401). Returns (mock process, the app's key file, the app's hosts file, the CA
    bundle that trusts both the gateway and the token endpoint, its control port)."""
    tmp = vx.gw.world.tmp
    addr = OPENAI_ADDR.rsplit(".", 1)[0] + ".29"
    sa = write_sa(tmp, "app-sa.json", client_email="billing-app@acme-ml-prod.iam."
                                                   "gserviceaccount.com")
    log = tmp / "mock-app-token.log"
    control = free_port()
    argv = [MOCKPROV, "--listen", f"{addr}:443", "--cert", str(vx.gw.certs / "server.pem"),
            "--key", str(vx.gw.certs / "server.key"), "--control", f"127.0.0.1:{control}",
            "--gcp-sa", str(sa)]
    logf = open(log, "w")
    proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    wait_for(lambda: "mockprov: ready" in log.read_text(), timeout=10, what="token mock ready")
    hosts = tmp / "app-hosts"
    hosts.write_text(vx.gw.hosts.read_text().replace(f"{OPENAI_ADDR} oauth2.googleapis.com",
                                                     f"{addr} oauth2.googleapis.com"))
    bundle = tmp / "app-ca.pem"
    bundle.write_text((vx.gw.ca_dir / "ca.pem").read_text() +
                      (vx.gw.certs / "ca.pem").read_text())
    return proc, sa, hosts, bundle, control


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_genai_sdk_vertex_app_is_reauthenticated_and_costed(vx, mode):
    """@google/genai with vertexai: true (project, location global), unmodified: it mints its
    own token from its own key file; the gateway swaps in its own, reads usageMetadata and
    costs the call."""
    if not (harness.CLIENTS_DIR / "node_modules" / "@google" / "genai").exists():
        pytest.skip("@google/genai is not installed")
    vx.start()
    proc, sa, hosts, bundle, control = app_token_server(vx)
    try:
        c = harness.CLIENTS["openai_sdk"]  # only for the node binary's path
        argv = harness.in_hosts_ns(hosts, [c.argv[0], str(harness.CLIENTS_DIR /
                                                          "google_genai_sdk.mjs"),
                                           "vertex", mode, GEMINI, PROMPT,
                                           f"x-mock-reply-words: {WORDS}"])
        env = harness.client_env(bundle, {"GOOGLE_APPLICATION_CREDENTIALS": str(sa),
                                          "GOOGLE_CLOUD_PROJECT": PROJECT,
                                          "GOOGLE_CLOUD_LOCATION": "global"})
        p = vx.gw.app.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(harness.CLIENTS_DIR))
        out, err = p.communicate(timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{control}/control/requests",
                                    timeout=5) as resp:
            own = [json.loads(l) for l in resp.read().decode().splitlines() if l.strip()]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, (out, err)
    r = json.loads(lines[-1])
    assert r["status"] == 200 and not r["error"], r
    # the app did mint its own token (so it had one to send), at its own token endpoint
    assert [(x["path"], x["status"]) for x in own] == [("/token", 200)], own
    body = r["body"] if mode == "plain" else r["body"][-1]
    usage = body["usageMetadata"]
    text = r["body"]["text"] if mode == "plain" else "".join(c["text"] for c in r["body"])
    assert len(text.split()) == WORDS and usage["candidatesTokenCount"] == WORDS
    method = "generateContent" if mode == "plain" else "streamGenerateContent"
    seen = vx.predicts()[-1]
    assert (seen["host"], seen["path"], seen["status"]) == (
        GLOBAL_HOST, gemini_path(method=method, version="v1beta1"), 200), seen
    assert seen["query"] == ("" if mode == "plain" else "alt=sse"), seen
    check_rekeyed(vx)  # a 200 from the mock: a token it minted, not the app's
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["gen_ai.system"] == "vertex" and rec["gen_ai.request.model"] == GEMINI, rec
    assert rec["aigw.credential"] == "gateway", rec
    assert (rec["gen_ai.usage.input_tokens"], rec["gen_ai.usage.output_tokens"]) == (
        usage["promptTokenCount"], WORDS), rec
    check_cost(vx.gw, rec, usd(GEMINI_PRICE, usage["promptTokenCount"], WORDS))


# ---------------------------------------------------------------- allow-lists


def test_allow_list_applies_to_the_paths_model(vx):
    vx.pol["workloads"][0]["allow"] = {"models": ["claude-sonnet-4-5@*"]}
    vx.start()
    assert vx.call()[1] == 200
    opus = path(model="claude-opus-4-1@20250805")
    # the body's "model" counts for nothing: Vertex serves the path's
    text, code = vx.call(url_path=opus, body=vertex_body(model=MODEL))
    assert code == 403, text
    for trick in (path() + "/../../models/claude-opus-4-1@20250805:rawPredict",
                  path().replace("/models/", "/models/..%2F..%2Fmodels/"),
                  path().replace(":rawPredict", "%3ArawPredict"),
                  "/v1/projects/p/locations/global/publishers/anthropic/models/"
                  "claude-opus-4-1@20250805:rawPredict:rawPredict"):
        text, code = vx.call(url_path=trick, extra=["--path-as-is"])
        assert code in (400, 403), (trick, code, text)
    assert [x["path"] for x in vx.predicts()] == [path()]


# ---------------------------------------------------------------- fallback


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_anthropic_sdk_app_falls_back_to_claude_on_vertex(vx, mode):
    why = harness.missing("anthropic_sdk")
    if why:
        pytest.skip(why)
    vx.pol["models"] = {"claude-sonnet-4-5": [
        {"provider": "anthropic", "model": "claude-sonnet-4-5"},
        {"provider": "vertex", "model": MODEL}]}
    vx.start()
    vx.gw.mock.fault("down", provider="anthropic", count=1)  # Anthropic's own API is down
    r = harness.run_client("anthropic_sdk", "anthropic", mode, "claude-sonnet-4-5", PROMPT,
                           hosts=vx.gw.hosts, ca=vx.gw.ca_dir / "ca.pem",
                           popen=vx.gw.app.popen)
    assert r.ok and r.status == 200, r
    seen = [x for x in vx.gw.mock.requests() if x["path"] != "/token"]
    assert [x["host"] for x in seen] == ["api.anthropic.com", GLOBAL_HOST], seen
    assert seen[0]["status"] >= 500 and seen[1]["status"] == 200, seen
    want = path(method="streamRawPredict" if mode == "stream" else "rawPredict")
    assert vx.predicts()[-1]["path"] == want
    check_rekeyed(vx)
    rid = r.headers.get("x-aigw-request-id")
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "aigw.request_id": rid})
    assert rec["gen_ai.system"] == "vertex", rec
    assert [a["aigw.result"] for a in rec["aigw.attempts"]] == ["fell_back", "ok"], rec
    assert rec["gen_ai.usage.output_tokens"] > 0
    assert rec["aigw.cost.nano_usd"] > 0, rec


def test_openai_chat_completion_served_by_claude_on_vertex(vx):
    vx.pol["models"] = {"claude-on-vertex": [{"provider": "vertex", "model": MODEL}]}
    vx.start()
    body = json.dumps({"model": "claude-on-vertex",
                       "messages": [{"role": "user", "content": PROMPT}]})
    text, code = split(vx.gw.curl("https://api.openai.com/v1/chat/completions", body,
                                  headers=["authorization: Bearer sk-app-openai",
                                           f"x-mock-reply-words: {WORDS}"]))
    assert code == 200, text
    ans = json.loads(text)
    assert ans["object"] == "chat.completion" and ans["choices"][0]["message"]["content"]
    assert vx.predicts()[-1]["path"] == path()
    check_rekeyed(vx)
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["gen_ai.usage.output_tokens"] == ans["usage"]["completion_tokens"] > 0, rec
    check_cost(vx.gw, rec, usd(PRICE, ans["usage"]["prompt_tokens"],
                               ans["usage"]["completion_tokens"]))


# ---------------------------------------------------------------- bad key files


def test_bad_key_file_refused_at_load_and_on_reload(vx):
    bad = vx.gw.world.tmp / "bad-sa.json"
    bad.write_text(json.dumps({"type": "service_account", "client_email": EMAIL,
                               "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n"
                                              "-----END PRIVATE KEY-----\n",
                               "token_uri": "https://oauth2.googleapis.com/token"}))
    bad.chmod(0o600)
    good_pol = json.loads(json.dumps(vx.pol))
    vx.vertex["credentials_file"] = str(bad)
    path_bad = vx.gw.world.write_policy(vx.pol, "bad.json")
    r = vx.gw.world.aigw("policy", "check", str(path_bad))
    assert r.returncode != 0
    assert "credentials_file" in r.stdout + r.stderr, r
    assert "not an RSA private key" in r.stdout + r.stderr, r
    vx.pol = good_pol
    vx.start()
    assert vx.call()[1] == 200
    vx.gw.world.write_policy(json.loads(path_bad.read_text()), vx.daemon.policy_path.name)
    vx.daemon.reload()
    wait_for(lambda: "policy reload refused" in vx.daemon.text(), what="reload refused")
    assert "credentials_file" in vx.daemon.text()
    assert vx.call()[1] == 200  # the old policy runs on
