"""Logical model names, fallback across providers, circuit breakers: an app asks for a name the
policy defines ("fast-summary") and the gateway sends it to the first healthy target; when a
target fails (down, 429, 529, timeout, reset before the first byte) the call goes on to the
next one, translated when that provider speaks the other API, and the record lists every
attempt. Unmodified curl in a captured cgroup is the app; the mock providers answer."""
import copy
import json

import pytest

from test_intercept import split

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
A_HDRS = ["x-api-key: sk-ant-app-own", "anthropic-version: 2023-06-01"]
O_HDRS = ["authorization: Bearer sk-app-own"]

MODELS = {
    "fast-summary": [{"provider": "openai", "model": "gpt-4o-mini"},
                     {"provider": "anthropic", "model": "claude-3-5-haiku-latest"}],
    "careful": [{"provider": "anthropic", "model": "claude-3-5-haiku-latest"},
                {"provider": "openai", "model": "gpt-4o-mini"}],
    "claude-only": [{"provider": "anthropic", "model": "claude-3-5-haiku-latest"}],
}


def chat(model, stream=False, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "Summarise the quarter."}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return json.dumps(body)


def messages(model, stream=False):
    body = {"model": model, "max_tokens": 64,
            "messages": [{"role": "user", "content": "Summarise the quarter."}]}
    if stream:
        body["stream"] = True
    return json.dumps(body)


def routed_policy(gw, monkeypatch, routing=None, **over):
    (gw.world.tmp / "openai.key").write_text("sk-gateway-openai\n")
    (gw.world.tmp / "openai.key").chmod(0o600)
    monkeypatch.setenv("AIGW_TEST_ANTHROPIC_KEY", "sk-ant-gateway")
    pol = gw.policy(**over)
    pol["providers"]["openai"]["key_file"] = str(gw.world.tmp / "openai.key")
    pol["providers"]["anthropic"]["key_env"] = "AIGW_TEST_ANTHROPIC_KEY"
    pol["models"] = copy.deepcopy(MODELS)  # tests may change their copy
    pol["routing"] = {"retries": 0, "backoff_ms": 10, **(routing or {})}
    return pol


def requests(gw):
    return gw.world.wait_record(**{"event.name": "proxy.request"})


def all_requests(gw):
    return [r for r in gw.world.records() if r.get("event.name") == "proxy.request"]


def requests_upto(gw, n):
    """The records of the test's first N calls, once the audit writer has written them: read
    at once, the last call's record may not be there yet."""
    from conftest import wait_for
    return wait_for(lambda: len(all_requests(gw)) >= n and all_requests(gw), timeout=10,
                    what=f"{n} request records")


def nth_request(gw, n):
    """The record of the test's Nth call (1-based)."""
    return requests_upto(gw, n)[n - 1]


def sse_data(text):
    out = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                out.append(line[6:])
    return out


def test_logical_name_goes_to_its_first_target(gw, monkeypatch):
    gw.start(routed_policy(gw, monkeypatch))
    text, code = split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))
    assert code == 200, text
    answer = json.loads(text)
    assert answer["object"] == "chat.completion" and answer["model"].startswith("gpt-4o-mini")
    sent = gw.mock.requests()
    assert [(x["provider"], x["model"]) for x in sent] == [("openai", "gpt-4o-mini")]
    assert sent[0]["authorization"] == "Bearer sk-gateway-openai"
    rec = requests(gw)
    assert rec["gen_ai.request.model"] == "fast-summary" and rec["aigw.route"] == "fast-summary"
    assert rec["aigw.upstream.model"] == "gpt-4o-mini" and rec["gen_ai.system"] == "openai"
    assert rec["aigw.fallback"] is False and rec["cost_usd"] is not None
    assert [a["aigw.result"] for a in rec["aigw.attempts"]] == ["ok"]


def test_a_model_not_in_the_policy_goes_where_the_app_sent_it(gw, monkeypatch):
    gw.start(routed_policy(gw, monkeypatch))
    assert split(gw.curl(OPENAI, chat("gpt-4o"), headers=O_HDRS))[1] == 200
    assert [x["model"] for x in gw.mock.requests()] == ["gpt-4o"]
    rec = requests(gw)
    assert "aigw.route" not in rec and rec["aigw.upstream.model"] == "gpt-4o"


FAULTS = [("down", 503), ("ratelimit", 429), ("reset", None), ("hang", None)]


@pytest.mark.parametrize("fault,status", FAULTS, ids=[f[0] for f in FAULTS])
def test_openai_failing_falls_back_to_anthropic_translated(gw, monkeypatch, fault, status):
    pol = routed_policy(gw, monkeypatch, proxy={"timeouts": {"first_byte_ms": 700}})
    gw.start(pol)
    gw.mock.fault(fault, provider="openai")
    text, code = split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))
    assert code == 200, text
    answer = json.loads(text)  # an OpenAI chat completion, made from Anthropic's answer
    assert answer["object"] == "chat.completion" and answer["id"].startswith("chatcmpl-")
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["choices"][0]["message"]["content"]
    assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] > 0
    served = [x for x in gw.mock.requests() if x["provider"] == "anthropic"]
    assert len(served) == 1 and served[0]["model"] == "claude-3-5-haiku-latest"
    assert served[0]["x_api_key"] == "sk-ant-gateway" and served[0]["path"] == "/v1/messages"
    rec = requests(gw)
    assert rec["aigw.outcome"] == "ok" and rec["aigw.fallback"] is True
    assert rec["aigw.translated"] is True and rec["gen_ai.system"] == "anthropic"
    attempts = rec["aigw.attempts"]
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in attempts] == [
        ("openai", "fell_back"), ("anthropic", "ok")]
    assert attempts[0].get("http.response.status_code") == status
    assert attempts[1]["http.response.status_code"] == 200
    if fault == "hang":
        assert "did not answer within 700 ms" in attempts[0]["error.type"]
    # Tokens are Anthropic's, priced at Anthropic's price for the model that answered.
    assert rec["gen_ai.usage.input_tokens"] > 0 and rec["cost_usd"] > 0
    log = gw.world.audit_path.read_text()
    assert "sk-app-own" not in log and "sk-gateway" not in log and "sk-ant-gateway" not in log


def test_anthropic_529_falls_back_to_openai_for_an_anthropic_app(gw, monkeypatch):
    gw.start(routed_policy(gw, monkeypatch))
    gw.mock.fault("overloaded", provider="anthropic")
    text, code = split(gw.curl(ANTHROPIC, messages("careful"), headers=A_HDRS))
    assert code == 200, text
    answer = json.loads(text)
    assert answer["type"] == "message" and answer["id"].startswith("msg_")
    assert answer["content"][0]["type"] == "text" and answer["stop_reason"] == "end_turn"
    served = [x for x in gw.mock.requests() if x["provider"] == "openai"]
    assert served[0]["authorization"] == "Bearer sk-gateway-openai"
    assert served[0]["path"] == "/v1/chat/completions"
    rec = requests(gw)
    assert [a.get("http.response.status_code") for a in rec["aigw.attempts"]] == [529, 200]


def test_retries_on_the_target_come_before_the_fallback(gw, monkeypatch):
    gw.start(routed_policy(gw, monkeypatch, routing={"retries": 2}))
    gw.mock.fault("down", provider="openai")
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    rec = requests(gw)
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        ("openai", "retried"), ("openai", "retried"), ("openai", "fell_back"),
        ("anthropic", "ok")]


@pytest.mark.parametrize("fault", ["down", "ratelimit", "hang"])
def test_a_stream_falls_back_before_its_first_byte(gw, monkeypatch, fault):
    gw.start(routed_policy(gw, monkeypatch, proxy={"timeouts": {"first_byte_ms": 700}}))
    gw.mock.fault(fault, provider="openai")
    r = gw.run_app(["curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/json",
                    "-H", O_HDRS[0], "--data-binary", chat("fast-summary", stream=True), OPENAI])
    assert r.returncode == 0, r.stderr
    data = sse_data(r.stdout)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # The app did not ask for usage: no usage chunk reaches it, the record has the tokens.
    assert not any(c.get("usage") for c in chunks)
    rec = requests(gw)
    assert rec["aigw.stream"] is True and rec["aigw.fallback"] is True
    assert rec["gen_ai.usage.output_tokens"] > 0 and rec["cost_usd"] > 0


def test_every_target_down_gives_the_last_error_and_lists_the_attempts(gw, monkeypatch):
    gw.start(routed_policy(gw, monkeypatch))
    gw.mock.fault("down")
    text, code = split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))
    assert code == 503
    err = json.loads(text)["error"]  # Anthropic's 503, in OpenAI's format
    assert err["message"]
    rec = requests(gw)
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        ("openai", "fell_back"), ("anthropic", "failed")]


def test_untranslatable_request_is_refused_clearly(gw, monkeypatch):
    gw.start(routed_policy(gw, monkeypatch))
    text, code = split(gw.curl(OPENAI, chat("claude-only", n=2), headers=O_HDRS))
    assert code == 400
    msg = json.loads(text)["error"]["message"]
    assert "claude-only" in msg and "n" in msg and "anthropic" in msg
    assert gw.mock.requests() == []  # nothing was sent anywhere
    rec = requests(gw)
    assert rec["aigw.outcome"] == "bad_request"
    assert rec["aigw.attempts"][0]["aigw.result"] == "skipped"


def test_untranslatable_fallback_is_skipped_and_the_first_error_stands(gw, monkeypatch):
    """The only fallback cannot take this request (Anthropic has no logprobs): the provider's
    own 503 reaches the app, as it would without a route, not a gateway-made one."""
    gw.start(routed_policy(gw, monkeypatch))
    gw.mock.fault("down", provider="openai")
    text, code = split(gw.curl(OPENAI, chat("fast-summary", logprobs=True), headers=O_HDRS))
    assert code == 503
    assert json.loads(text)["error"]["type"] != "aigw_gateway_error"
    assert all(x["provider"] == "openai" for x in gw.mock.requests())
    rec = requests(gw)
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        ("openai", "failed")]
    assert rec["aigw.fallback"] is False and "aigw.translated" not in rec


def test_a_failure_that_opens_the_breaker_passes_the_providers_answer_on(gw, monkeypatch):
    """With one target, the retry that would follow a 429 is not made once that 429 opened
    the target's breaker: the app gets the provider's own 429, retry-after included."""
    pol = routed_policy(gw, monkeypatch, routing={"retries": 2, "backoff_ms": 10,
                                                  "breaker": {"failures": 1}})
    pol["models"]["solo"] = [{"provider": "openai", "model": "gpt-4o-mini"}]
    gw.start(pol)
    gw.mock.fault("ratelimit", provider="openai")
    r = gw.run_app(["curl", "-sS", "--http1.1", "-D", "-", "-H", "content-type: application/json",
                    "-H", O_HDRS[0], "--data-binary", chat("solo"), OPENAI])
    head, _, text = r.stdout.partition("\n\n")
    assert head.startswith("HTTP/1.1 429") and "retry-after: 1" in head.lower()
    assert json.loads(text)["error"]["code"] == "rate_limit_exceeded"
    assert len(gw.mock.requests()) == 1
    assert requests(gw)["aigw.outcome"] == "ok"


def test_the_model_is_replaced_wherever_cjson_finds_it(gw, monkeypatch):
    """A control byte where JSON allows only blanks: cJSON (which routes) skips it, so the
    editor that replaces the logical name must too; before, it missed the member, the target
    was skipped with an uninitialised reason, and the record carried stray bytes."""
    gw.start(routed_policy(gw, monkeypatch))
    body = '{\f"model": "fast-summary", "messages": [{"role": "user", "content": "hi"}]}'
    text, code = split(gw.curl(OPENAI, body, headers=O_HDRS))
    assert code == 200, text
    assert gw.mock.requests()[-1]["model"] == "gpt-4o-mini"
    assert [r["aigw.upstream.model"] for r in requests_upto(gw, 1)] == ["gpt-4o-mini"]


def breaker_open(admin, provider="openai", model="gpt-4o-mini"):
    """aigw_breaker_open of PROVIDER/MODEL: 1 while its breaker keeps calls from the target, 0
    once its open_ms is over (the next call is its probe)."""
    from conftest import gauge
    return gauge(admin, f'aigw_breaker_open{{provider="{provider}",model="{model}"}}')


def breaker_policy(gw, monkeypatch, failures, open_ms):
    """A routed policy whose breakers open after FAILURES for OPEN_MS, and its admin port."""
    from conftest import free_port
    admin = free_port()
    pol = routed_policy(gw, monkeypatch, routing={"breaker": {"failures": failures,
                                                               "open_ms": open_ms}})
    pol["admin"] = {"listen": f"127.0.0.1:{admin}"}
    return pol, admin


def wait_breaker_closed_to_calls(admin):
    """Until the daemon's clock has run the breaker's open_ms out: it admits a probe."""
    from conftest import wait_for
    wait_for(lambda: breaker_open(admin) == 0, timeout=15,
             what="openai/gpt-4o-mini's breaker past its open_ms")


def test_circuit_breaker_opens_then_probes_and_recovers(gw, monkeypatch):
    pol, admin = breaker_policy(gw, monkeypatch, failures=2, open_ms=1500)
    gw.start(pol)
    gw.mock.fault("down", provider="openai")
    for _ in range(2):  # two failures open openai/gpt-4o-mini's breaker
        assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    assert breaker_open(admin) == 1
    sent_before = len([x for x in gw.mock.requests() if x["provider"] == "openai"])
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    # Open: openai was not even tried.
    assert len([x for x in gw.mock.requests() if x["provider"] == "openai"]) == sent_before
    rec = nth_request(gw, 3)
    assert rec["aigw.attempts"][0]["aigw.result"] == "skipped"
    assert "circuit open" in rec["aigw.attempts"][0]["error.type"]
    assert rec["aigw.fallback"] is True and rec["gen_ai.system"] == "anthropic"
    gw.mock.control("POST", "/control/reset")
    wait_breaker_closed_to_calls(admin)
    # Past open_ms: one call probes openai, which answers; the breaker closes.
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    recs = requests_upto(gw, 5)[-2:]
    assert all(r["gen_ai.system"] == "openai" and r["aigw.fallback"] is False for r in recs)
    # Both changes of state are in the audit log, each naming the call that tipped it.
    events = [(r["event.name"], r["gen_ai.system"], r["gen_ai.request.model"])
              for r in gw.world.records() if r["event.name"].startswith("routing.circuit")]
    assert events == [("routing.circuit_open", "openai", "gpt-4o-mini"),
                      ("routing.circuit_closed", "openai", "gpt-4o-mini")]
    opened = [r for r in gw.world.records() if r["event.name"] == "routing.circuit_open"][0]
    assert opened["aigw.breaker.failures"] == 2 and opened["aigw.breaker.open_ms"] == 1500
    request_ids = {r["aigw.request_id"] for r in all_requests(gw)}
    assert opened["aigw.request_id"] in request_ids


def test_failed_probe_opens_the_breaker_again(gw, monkeypatch):
    pol, admin = breaker_policy(gw, monkeypatch, failures=1, open_ms=500)
    gw.start(pol)
    gw.mock.fault("down", provider="openai")
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200  # opens
    wait_breaker_closed_to_calls(admin)
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200  # probe fails
    n = len([x for x in gw.mock.requests() if x["provider"] == "openai"])
    assert n == 2
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200  # open again
    assert len([x for x in gw.mock.requests() if x["provider"] == "openai"]) == n


def test_reload_changes_a_logical_name_without_touching_the_app(gw, monkeypatch):
    pol = routed_policy(gw, monkeypatch)
    d = gw.start(pol)
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    pol["models"]["fast-summary"] = [{"provider": "openai", "model": "gpt-4.1-nano"}]
    gw.world.write_policy(pol)
    d.reload()
    gw.world.wait_record(**{"event.name": "policy.reload"})
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    assert [x["model"] for x in gw.mock.requests()] == ["gpt-4o-mini", "gpt-4.1-nano"]


def test_a_self_hosted_server_over_plain_http_by_base_url(gw, monkeypatch, tmp_path):
    """An OpenAI-compatible server of one's own (vLLM, Ollama) named by an http:// base URL
    with a prefix: a logical name reaches it, and falls back to OpenAI when it is down."""
    import subprocess
    from conftest import MOCKPROV, OPENAI_ADDR, free_port, wait_for
    local_addr = OPENAI_ADDR.rsplit(".", 1)[0] + ".23"
    control = free_port()
    log = tmp_path / "local-mock.log"
    mock = subprocess.Popen([MOCKPROV, "--plain-listen", f"{local_addr}:8000", "--control",
                             f"127.0.0.1:{control}", "--deterministic"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "mockprov: ready" in log.read_text(), timeout=10, what="local mock")
        gw.hosts.write_text(gw.hosts.read_text() + f"{local_addr} vllm.internal\n")
        pol = routed_policy(gw, monkeypatch)
        (gw.world.tmp / "local.key").write_text("sk-local-gateway\n")
        (gw.world.tmp / "local.key").chmod(0o600)
        pol["providers"]["local"] = {"hosts": ["vllm.internal"], "api": "openai",
                                     "base_url": "http://vllm.internal:8000/",
                                     "key_file": str(gw.world.tmp / "local.key")}
        pol["models"]["house-model"] = [{"provider": "local", "model": "llama-3.1-8b"},
                                        {"provider": "openai", "model": "gpt-4o-mini"}]
        gw.start(pol)
        text, code = split(gw.curl(OPENAI, chat("house-model"), headers=O_HDRS))
        assert code == 200, text
        assert json.loads(text)["object"] == "chat.completion"
        rec = requests(gw)
        assert rec["gen_ai.system"] == "local" and rec["aigw.upstream.model"] == "llama-3.1-8b"
        assert rec["server.address"] == "vllm.internal" and rec["server.port"] == 8000
        assert rec["network.peer.address"] == local_addr and rec["aigw.fallback"] is False
        # The mock on plain HTTP saw the request with the gateway's key for "local".
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{control}/control/requests") as r:
            seen = [json.loads(x) for x in r.read().decode().splitlines() if x.strip()]
        assert [(x["model"], x["tls"], x["authorization"]) for x in seen] == [
            ("llama-3.1-8b", False, "Bearer sk-local-gateway")]
        mock.terminate()
        mock.wait(timeout=10)
        text, code = split(gw.curl(OPENAI, chat("house-model"), headers=O_HDRS))
        assert code == 200, text
        rec = nth_request(gw, 2)
        assert rec["gen_ai.system"] == "openai" and rec["aigw.fallback"] is True
        assert "connect to vllm.internal" in rec["aigw.attempts"][0]["error.type"]
    finally:
        if mock.poll() is None:
            mock.terminate()
            mock.wait(timeout=10)


def test_a_reload_mid_stream_leaves_the_stream_whole(gw, monkeypatch):
    """The route table a stream started with stays its own until it ends, while new calls
    take the reloaded one; the sanitized daemon checks nothing was freed under it."""
    pol = routed_policy(gw, monkeypatch)
    d = gw.start(pol)
    app = gw.app.popen(__import__("conftest").hosts_wrap(gw.hosts, [
        "curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/json", "-H", O_HDRS[0],
        "-H", "x-mock-chunk-delay-ms: 60", "-H", "x-mock-reply-words: 20",
        "--data-binary", chat("fast-summary", stream=True), OPENAI]),
        env=gw.env(), stdout=__import__("subprocess").PIPE, text=True)
    from conftest import wait_for
    # The stream is under way: the provider has its call before the policy changes.
    wait_for(lambda: any(x["provider"] == "openai" for x in gw.mock.requests()), timeout=10,
             what="the stream's call at the provider")
    pol["models"]["fast-summary"] = [{"provider": "anthropic", "model": "claude-3-5-haiku-latest"}]
    gw.world.write_policy(pol)
    d.reload()
    gw.world.wait_record(**{"event.name": "policy.reload"})
    out, _ = app.communicate(timeout=30)
    assert app.returncode == 0 and sse_data(out)[-1] == "[DONE]"
    assert len(sse_data(out)) > 10
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    recs = requests_upto(gw, 2)
    assert [r["gen_ai.system"] for r in recs] == ["openai", "anthropic"]
    assert recs[0]["aigw.outcome"] == "ok" and recs[0]["aigw.stream.end"] == "ok"
    d.stop()


def test_a_retried_answer_keeps_its_connection(gw, monkeypatch):
    """A 503's small body is read and dropped, not left on the wire: the connection to the
    failing target goes back to the pool, so calls that keep falling back do not open (and
    handshake) a new connection each time. One worker: each has its own pool (proxy.workers),
    and this is about one pool."""
    pol = routed_policy(gw, monkeypatch, routing={"breaker": {"failures": 1000}})
    pol["proxy"] = {"workers": 1}
    gw.start(pol)
    gw.mock.fault("down", provider="openai")
    for _ in range(4):
        assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    recs = requests_upto(gw, 4)
    assert len(recs) == 4 and all(r["aigw.fallback"] for r in recs)
    first = [r["aigw.attempts"][0] for r in recs]
    assert all(a["gen_ai.system"] == "openai" and a["http.response.status_code"] == 503
               for a in first)
    assert [a["aigw.upstream.reused"] for a in first] == [False, True, True, True]
    assert [r["aigw.attempts"][1]["aigw.upstream.reused"] for r in recs] == [
        False, True, True, True]


def test_a_breaker_that_opens_ends_the_retries_on_its_target(gw, monkeypatch):
    """Once a target's breaker opens, the call moves on to the next target at once rather
    than spending its retries there; the opening is recorded once."""
    gw.start(routed_policy(gw, monkeypatch, routing={
        "retries": 2, "backoff_ms": 10, "breaker": {"failures": 1, "open_ms": 60000}}))
    gw.mock.fault("down", provider="openai")
    assert split(gw.curl(OPENAI, chat("fast-summary"), headers=O_HDRS))[1] == 200
    rec = requests(gw)
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        ("openai", "fell_back"), ("anthropic", "ok")]
    assert len([x for x in gw.mock.requests() if x["provider"] == "openai"]) == 1
    assert len([r for r in gw.world.records()
                if r["event.name"] == "routing.circuit_open"]) == 1


def test_a_body_naming_its_model_twice_is_refused(gw, monkeypatch):
    """Parsers differ on which of two "model" keys counts: the gateway would route and price
    one while the provider served the other. Refused, and nothing is sent."""
    gw.start(routed_policy(gw, monkeypatch))
    body = chat("fast-summary")[:-1] + ', "model": "o1-pro"}'
    text, code = split(gw.curl(OPENAI, body, headers=O_HDRS))
    assert code == 400
    assert json.loads(text)["error"]["message"].endswith('"model" more than once')
    assert gw.mock.requests() == []


def test_with_no_target_left_the_providers_own_answer_reaches_the_app(gw, monkeypatch):
    """A 429 that could only fall back to a target whose breaker is open is not swallowed:
    the app gets the provider's own answer, its retry-after included, as without a route."""
    gw.start(routed_policy(gw, monkeypatch, routing={"breaker": {"failures": 1,
                                                                  "open_ms": 60000}}))
    gw.mock.fault("down", provider="anthropic")
    body = json.dumps({"model": "claude-only", "max_tokens": 8,
                       "messages": [{"role": "user", "content": "hi"}]})
    gw.curl(ANTHROPIC, body, headers=A_HDRS)  # opens anthropic/claude-3-5-haiku-latest's
    gw.mock.control("POST", "/control/reset")
    gw.mock.fault("ratelimit", provider="openai")
    r = gw.run_app(["curl", "-sS", "--http1.1", "-D", "-", "-H", "content-type: application/json",
                    "-H", O_HDRS[0], "--data-binary", chat("fast-summary"), OPENAI])
    head, _, text = r.stdout.partition("\n\n")  # (text mode: CRLF read as LF)
    assert head.startswith("HTTP/1.1 429") and "retry-after: 1" in head.lower()
    assert json.loads(text)["error"]["type"] != "aigw_gateway_error"
    rec = nth_request(gw, 2)
    assert rec["aigw.outcome"] == "ok" and rec["http.response.status_code"] == 429
    assert [a["aigw.result"] for a in rec["aigw.attempts"]] == ["failed"]


# "quota", NUL, "exceeded for X", as a provider's JSON says it: cJSON's strings end at the NUL
QUOTA_MSG_JSON = r'quota\u0000exceeded for \"X\"'


@pytest.mark.parametrize("app", ["openai", "anthropic"])
def test_a_providers_error_message_reaches_the_app_whole(gw, monkeypatch, app):
    """An upstream error relayed through translation keeps its whole message, re-escaped, in
    valid JSON: a message with an escaped U+0000 used to reach the app cut there ("quota")."""
    from urllib.parse import quote
    pol = routed_policy(gw, monkeypatch)
    pol["models"]["gpt-only"] = [{"provider": "openai", "model": "gpt-4o-mini"}]
    gw.start(pol)
    upstream = "anthropic" if app == "openai" else "openai"
    gw.mock.fault("down", provider=upstream, message_json=quote(QUOTA_MSG_JSON))
    if app == "openai":
        text, code = split(gw.curl(OPENAI, chat("claude-only"), headers=O_HDRS))
    else:
        text, code = split(gw.curl(ANTHROPIC, messages("gpt-only"), headers=A_HDRS))
    # OpenAI's 503 is Anthropic's overloaded_error (529) for an Anthropic app
    assert code == (503 if app == "openai" else 529), text
    assert f'"message":"{QUOTA_MSG_JSON}"' in text, text
    err = json.loads(text)["error"]
    assert err["message"] == 'quota\0exceeded for "X"', err
    assert err["type"] == ("server_error" if app == "openai" else "overloaded_error"), err
    rec = requests(gw)
    assert [(a["gen_ai.system"], a["aigw.result"]) for a in rec["aigw.attempts"]] == [
        (upstream, "failed")], rec
