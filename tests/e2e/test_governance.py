# SPDX-License-Identifier: MIT
"""Governance, seen by the apps: what a workload may use (models, providers, regions,
endpoints), how fast (requests, tokens, calls in flight) and for how much (budgets of a
workload and of its team, kept in a SQLite state file across restarts).

A refusal comes before anything reaches a provider, in the app's own provider error format, so
the official SDKs raise their usual classes (PermissionDeniedError for 403, RateLimitError for
429); its record says which stage and rule decided. Every control also runs with
"enforce": false, where nothing is refused and the record says what would have been.

One gateway (one daemon, one mock) serves the module. Every workload the tests use is in its
policy from the start, each under its own name, so counters and spend never mix between tests:
a workload is captured from the cgroup NAME.service and holds the gateway key key_of(NAME) for
the explicit endpoint (api.listen). Each test starts with the mock reset and finds its records
by the x-aigw-request-id its app got. The SDKs run with maxRetries 0 (SDK_MAX_RETRIES), so a
429 reaches the test rather than being retried.

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_governance.py
"""
import copy
import datetime
import http.client
import json
import os
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import ROOT, Gateway, World, free_port, hosts_wrap, wait_for  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

GPT, CLAUDE = "gpt-4o-mini", "claude-3-5-haiku-latest"
PROMPT = "Summarise the quarter for the board"
OPENAI_GW_KEY = "sk-gateway-openai"
ANTHROPIC_GW_KEY = "sk-ant-gateway"
KEY_ENV = "AIGW_TEST_GOV_ANTHROPIC_KEY"
O_APP = "authorization: Bearer sk-app-own"  # what a captured curl presents
A_APP = ["x-api-key: sk-ant-app-own", "anthropic-version: 2023-06-01"]
OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_MESSAGES = "https://api.anthropic.com/v1/messages"

MODELS = {"fast-summary": [{"provider": "openai", "model": GPT},
                           {"provider": "anthropic", "model": CLAUDE}]}
REGIONS = {"openai": "us", "anthropic": "eu"}
PRICES = json.loads((ROOT / "policies" / "prices.json").read_text())


def nano_per_token(model, kind):
    """Nano-dollars per token of provider/model's "input" or "output" (the table is USD per
    million tokens)."""
    return PRICES[model][kind] * 1e3


# ---------------------------------------------------------------- the workloads

WORKLOADS = {}
TEAMS = {}


def key_of(name):
    return f"gwk-{name}-4f1c9a7e2b6d"


def workload(name, **rules):
    """Declares workload NAME (with its allow / limits / budget / team / own_keys) for the
    module's policy; returns NAME."""
    WORKLOADS[name] = {"name": name, "match": {"cgroup": f"/*/{name}.service"},
                       "api_keys": [key_of(name)], **rules}
    return name


class Gov:
    def __init__(self, tmp, certs):
        self.world = World(tmp)
        self.gw = Gateway(self.world, certs)
        self.api_port = free_port()
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.state_path = tmp / "state" / "governance.db"
        (tmp / "openai.key").write_text(OPENAI_GW_KEY + "\n")
        (tmp / "openai.key").chmod(0o600)  # aigw refuses a key file others can read
        self.cgroups = {}
        self.daemon = self.gw.start(self.policy())
        self.ca = self.gw.ca_dir / "ca.pem"

    def policy(self, **changed):
        """The module's policy; CHANGED: {workload name: its entry} replacing the declared."""
        pol = self.gw.policy()
        pol["providers"]["openai"]["key_file"] = str(self.world.tmp / "openai.key")
        pol["providers"]["anthropic"]["key_env"] = KEY_ENV
        for prov, region in REGIONS.items():
            pol["providers"][prov]["region"] = region
        pol["models"] = copy.deepcopy(MODELS)
        # No retries, a breaker that never opens: each call tries its targets in order.
        pol["routing"] = {"retries": 0, "backoff_ms": 10,
                          "breaker": {"failures": 1000, "open_ms": 100}}
        pol["api"] = {"listen": f"127.0.0.1:{self.api_port}"}
        pol["teams"] = copy.deepcopy(TEAMS)
        pol["state"] = {"path": str(self.state_path)}
        pol["workloads"] = [copy.deepcopy(changed.get(n, w)) for n, w in WORKLOADS.items()]
        return pol

    def reload(self, pol):
        """Writes POL, sends SIGHUP and returns the policy.reload or policy.reload_refused
        record that answered it."""
        def events():
            return [r for r in self.world.records()
                    if r.get("event.name") in ("policy.reload", "policy.reload_refused")]

        before = len(events())
        self.gw.world.write_policy(pol)
        self.daemon.reload()
        wait_for(lambda: len(events()) > before, what="the reload's record")
        return events()[-1]

    def restart(self, while_stopped=None):
        """Stops the daemon (a clean, leak-free exit), calls WHILE_STOPPED, and starts it again
        with the module's policy and the same state file."""
        self.daemon.stop()
        try:
            if while_stopped:
                while_stopped()
        finally:
            self.daemon = self.gw.start(self.policy())

    def app(self, name):
        """The captured cgroup of workload NAME."""
        if name not in self.cgroups:
            self.cgroups[name] = self.world.root.child(f"{name}.service")
        return self.cgroups[name]

    def close(self):
        try:
            self.daemon.stop()
        finally:
            try:
                self.gw.stop()
            finally:
                self.world.teardown()


@pytest.fixture(scope="module")
def gov(tmp_path_factory, mock_certs):
    for c in ("openai_sdk", "anthropic_sdk"):
        why = harness.missing(c)
        if why:
            pytest.skip(why)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, ANTHROPIC_GW_KEY)  # the daemon's environment, restarts included
        g = Gov(tmp_path_factory.mktemp("governance"), mock_certs)
        try:
            yield g
        finally:
            g.close()


@pytest.fixture(autouse=True)
def fresh_mock(gov):
    gov.gw.mock.control("POST", "/control/reset")  # no fault, empty request log
    assert gov.daemon.proc.poll() is None, gov.daemon.text()
    yield


# ---------------------------------------------------------------- calls


def sdk(gov, client, mode, model, wl, explicit=False, headers=(), prompt=PROMPT):
    """The official SDK as an app of workload WL: captured in its cgroup, calling the provider
    by name; or (EXPLICIT) at the explicit endpoint with WL's gateway key. maxRetries 0."""
    provider = "anthropic" if client == "anthropic_sdk" else "openai"
    env = {"SDK_MAX_RETRIES": "0"}
    if explicit:
        if provider == "anthropic":
            env.update(ANTHROPIC_BASE_URL=gov.base, ANTHROPIC_API_KEY=key_of(wl))
        else:
            env.update(OPENAI_BASE_URL=gov.base + "/v1", OPENAI_API_KEY=key_of(wl))
        return harness.run_client(client, provider, mode, model, prompt, headers,
                                  hosts=gov.gw.hosts, ca=None, env=env,
                                  popen=gov.world.outside.popen)
    return harness.run_client(client, provider, mode, model, prompt, headers,
                              hosts=gov.gw.hosts, ca=gov.ca, env=env, popen=gov.app(wl).popen)


@dataclass
class Reply:
    status: int
    headers: dict = field(default_factory=dict)
    text: str = ""

    def json(self):
        return json.loads(self.text)


def parse_http(out):
    """curl -D - output (read as text: CRLF is LF) as a Reply."""
    head, _, body = out.partition("\n\n")
    lines = head.splitlines()
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Reply(int(lines[0].split()[1]), headers, body)


def curl_start(gov, wl, method, url, body=None, headers=(), path_as_is=False):
    """curl as an app of workload WL, in its captured cgroup; returns the running process."""
    argv = ["curl", "-sS", "--http1.1", "-D", "-", "-X", method]
    if path_as_is:
        argv.append("--path-as-is")
    for h in headers:
        argv += ["-H", h]
    if body is not None:
        argv += ["-H", "content-type: application/json", "--data-binary", body]
    argv.append(url)
    return gov.app(wl).popen(hosts_wrap(gov.gw.hosts, argv), env=gov.gw.env())


def curl_end(p, timeout=30):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"curl failed: {err}"
    return parse_http(out)


def curl(gov, wl, method, url, body=None, headers=(), path_as_is=False):
    return curl_end(curl_start(gov, wl, method, url, body, headers, path_as_is))


def explicit_http(gov, wl, method, path, body=None, headers=None):
    """A raw request at the explicit endpoint with WL's gateway key; the path goes as given."""
    conn = http.client.HTTPConnection("127.0.0.1", gov.api_port, timeout=30)
    h = {"authorization": f"Bearer {key_of(wl)}"}
    if body is not None:
        h["content-type"] = "application/json"
    h.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()},
                     r.read().decode(errors="replace"))
    finally:
        conn.close()


def chat(model=GPT, max_tokens=None, stream=False, prompt=PROMPT):
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream:
        body["stream"] = True
    return json.dumps(body)


def openai_chat(gov, wl, max_tokens=None, words=None, model=GPT):
    """A captured curl's chat completion; WORDS: the mock's reply length."""
    hdrs = [O_APP] + ([f"x-mock-reply-words: {words}"] if words else [])
    return curl(gov, wl, "POST", OPENAI_CHAT, chat(model, max_tokens), hdrs)


# ---------------------------------------------------------------- records and checks


def record_of(gov, r):
    """The proxy.request record of a call, by the x-aigw-request-id its app got."""
    rid = r.headers.get("x-aigw-request-id")
    assert rid, f"no x-aigw-request-id in the response headers: {r}"
    return gov.world.wait_record(**{"event.name": "proxy.request", "aigw.request_id": rid})


def served(gov):
    """The mock's log of this test: [(provider, method, path, model)]."""
    return [(x["provider"], x["method"], x["path"], x["model"]) for x in gov.gw.mock.requests()]


def attempts(rec):
    return [(a["gen_ai.system"], a["gen_ai.request.model"], a["aigw.result"])
            for a in rec["aigw.attempts"]]


def check_decided(rec, action, rule_part):
    """The record's decisive policy decision is ACTION by a rule naming RULE_PART, and it is
    among the decisions listed."""
    assert rec["aigw.policy.action"] == action, rec
    assert rule_part in rec["aigw.policy.rule"], rec
    assert isinstance(rec["aigw.policy.stage"], str) and rec["aigw.policy.stage"], rec
    assert any((d["stage"], d["rule"], d["action"])
               == (rec["aigw.policy.stage"], rec["aigw.policy.rule"], action)
               for d in rec["aigw.policy.decisions"]), rec


def check_denied(rec, wl, status, rule_part):
    assert rec["aigw.workload"] == wl, rec
    assert rec["aigw.outcome"] == "denied" and rec["http.response.status_code"] == status, rec
    check_decided(rec, "deny", rule_part)


def check_allowed(rec, wl):
    assert rec["aigw.workload"] == wl, rec
    assert rec["aigw.outcome"] == "ok" and rec["http.response.status_code"] == 200, rec
    assert rec["aigw.policy.action"] == "allow", rec
    assert all(d["action"] == "allow" for d in rec["aigw.policy.decisions"]), rec


def check_budget_settled(rec):
    """Reserved the worst case, settled to the call's cost."""
    reserved, settled = rec["aigw.budget.reserved_usd"], rec["aigw.budget.settled_usd"]
    assert isinstance(reserved, (int, float)) and isinstance(settled, (int, float)), rec
    assert 0 < settled <= reserved, rec
    # budgets are charged the call's cost in nano-dollars, the same the record carries
    assert rec["cost_usd"] is not None, rec
    assert rec["aigw.budget.settled_nano"] == rec["aigw.cost.nano_usd"], rec
    assert abs(rec["aigw.cost.nano_usd"] / 1e9 - rec["cost_usd"]) < 1e-15, rec
    return reserved, settled


def permission_error(r, rule_part):
    """An SDK's 403 in its provider's format, naming the rule."""
    assert r.status == 403 and r.error_class == "PermissionDeniedError", r
    if r.client == "anthropic_sdk":
        assert r.body["type"] == "error" and r.body["error"]["type"] == "permission_error", r
        assert rule_part in r.body["error"]["message"], r
    else:
        assert r.body["type"] == "permission_error" and r.body["code"], r
        assert rule_part in r.body["message"], r


def retry_after(headers, at_most):
    ra = headers.get("retry-after")
    assert ra is not None and ra.isdigit(), headers
    assert 1 <= int(ra) <= at_most, headers
    return int(ra)


def rate_limited(r):
    """An SDK's 429 for a rate limit, in its provider's format, with a retry-after."""
    assert r.status == 429 and r.error_class == "RateLimitError", r
    if r.client == "anthropic_sdk":
        assert r.body["type"] == "error" and r.body["error"]["type"] == "rate_limit_error", r
    else:
        assert r.body["type"] == "requests" and r.body["code"] == "rate_limit_exceeded", r
    return retry_after(r.headers, 60)


def seconds_to_utc_midnight():
    now = datetime.datetime.now(datetime.timezone.utc)
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    return (tomorrow - now).total_seconds()


def out_of_budget(r):
    """A raw 429 for an exhausted budget (OpenAI's insufficient_quota), retry-after = the
    seconds to the end of the UTC day."""
    assert r.status == 429, r
    err = r.json()["error"]
    assert err["type"] == "insufficient_quota" and err["code"] == "insufficient_quota", r
    ra = retry_after(r.headers, 86400)
    assert abs(ra - seconds_to_utc_midnight()) <= 5, (ra, seconds_to_utc_midnight())


def ok(r):
    assert r.ok and r.returncode == 0, r
    return r


# ---------------------------------------------------------------- 1. models

W_MODELS = workload("g-models", allow={"models": [GPT, "claude-3-5-haiku-*"]})
W_ROUTE = workload("g-route", allow={"models": ["fast-summary", "claude-*"]})

SDK_MODELS = {"openai_sdk": (GPT, "gpt-4o"), "anthropic_sdk": (CLAUDE, "claude-sonnet-4-5")}
UPSTREAM = {"openai_sdk": ("openai", "/v1/chat/completions"),
            "anthropic_sdk": ("anthropic", "/v1/messages")}
VIAS = ["captured", "explicit"]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("client", list(SDK_MODELS))
def test_an_allowed_model_is_answered(gov, client, mode, via):
    model = SDK_MODELS[client][0]
    r = ok(sdk(gov, client, mode, model, W_MODELS, explicit=via == "explicit"))
    provider, path = UPSTREAM[client]
    assert served(gov) == [(provider, "POST", path, model)]
    rec = record_of(gov, r)
    check_allowed(rec, W_MODELS)
    assert rec["gen_ai.request.model"] == model and rec["aigw.stream"] is (mode == "stream")


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("mode", ["plain", "stream"])
@pytest.mark.parametrize("client", list(SDK_MODELS))
def test_a_model_not_allowed_is_the_sdks_permission_error(gov, client, mode, via):
    model = SDK_MODELS[client][1]
    r = sdk(gov, client, mode, model, W_MODELS, explicit=via == "explicit")
    permission_error(r, "allow.models")
    assert model in json.dumps(r.body)  # the message says what was refused
    assert served(gov) == []
    rec = record_of(gov, r)
    check_denied(rec, W_MODELS, 403, "allow.models")
    assert rec["gen_ai.request.model"] == model


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_a_logical_name_skips_a_target_whose_model_is_not_allowed(gov, mode):
    r = ok(sdk(gov, "openai_sdk", mode, "fast-summary", W_ROUTE))
    assert served(gov) == [("anthropic", "POST", "/v1/messages", CLAUDE)]
    rec = record_of(gov, r)
    assert rec["aigw.workload"] == W_ROUTE and rec["aigw.outcome"] == "ok"
    assert attempts(rec) == [("openai", GPT, "skipped"), ("anthropic", CLAUDE, "ok")]
    assert rec["gen_ai.system"] == "anthropic" and rec["aigw.translated"] is True
    assert "allow.models" in json.dumps(rec["aigw.attempts"][0])  # why it was skipped


# ---------------------------------------------------------------- 2. providers and regions

W_PROV = workload("g-prov", allow={"providers": ["anthropic"]})
W_EU = workload("g-eu", allow={"regions": ["eu"]})


def test_a_provider_not_allowed_is_refused_and_an_allowed_one_answers(gov):
    r = sdk(gov, "openai_sdk", "plain", GPT, W_PROV)
    permission_error(r, "allow.providers")
    assert served(gov) == []
    check_denied(record_of(gov, r), W_PROV, 403, "allow.providers")
    r = ok(sdk(gov, "anthropic_sdk", "plain", CLAUDE, W_PROV))
    assert served(gov) == [("anthropic", "POST", "/v1/messages", CLAUDE)]
    check_allowed(record_of(gov, r), W_PROV)


def test_a_region_allow_list_routes_to_the_target_in_the_region(gov):
    r = ok(sdk(gov, "openai_sdk", "plain", "fast-summary", W_EU))
    assert r.body["object"] == "chat.completion"  # the EU provider's answer, translated
    assert served(gov) == [("anthropic", "POST", "/v1/messages", CLAUDE)]
    rec = record_of(gov, r)
    assert attempts(rec) == [("openai", GPT, "skipped"), ("anthropic", CLAUDE, "ok")]
    assert rec["gen_ai.system"] == "anthropic" and rec["aigw.outcome"] == "ok"


def test_a_provider_outside_the_allowed_regions_is_refused(gov):
    r = sdk(gov, "openai_sdk", "stream", GPT, W_EU)
    permission_error(r, "allow.regions")
    assert served(gov) == []
    check_denied(record_of(gov, r), W_EU, 403, "allow.regions")


# ---------------------------------------------------------------- 3. endpoints

W_EP = workload("g-ep")  # no allow.endpoints: inference only
W_EP_FILES = workload("g-ep-files", allow={"endpoints": ["GET /v1/files",
                                                         "POST /v1/chat/completions"]})
W_EP_OWN = workload("g-ep-own", own_keys=True)

NOT_INFERENCE = [("GET", "/v1/files", None), ("POST", "/v1/batches", "{}"),
                 ("POST", "/v1/fine_tuning/jobs", "{}"), ("GET", "/v1/organization/users", None),
                 ("POST", "/v1/assistants", "{}"), ("POST", "/v1/vector_stores", "{}"),
                 ("POST", "/v1/uploads", "{}")]


def check_endpoint_refused(gov, r):
    assert r.status == 403, r
    err = r.json()["error"]
    assert err["type"] == "permission_error" and "allow.endpoints" in err["message"], r
    assert served(gov) == []
    check_denied(record_of(gov, r), W_EP, 403, "allow.endpoints")


@pytest.mark.parametrize("method,path,body", NOT_INFERENCE, ids=[p for _, p, _ in NOT_INFERENCE])
def test_an_endpoint_that_is_not_inference_is_refused_by_default(gov, method, path, body):
    r = curl(gov, W_EP, method, "https://api.openai.com" + path, body, [O_APP])
    check_endpoint_refused(gov, r)


def test_an_endpoint_that_is_not_inference_is_refused_at_the_explicit_endpoint(gov):
    check_endpoint_refused(gov, explicit_http(gov, W_EP, "GET", "/v1/files"))


def test_a_listed_endpoint_goes_with_the_gateways_key(gov):
    r = curl(gov, W_EP_FILES, "GET", "https://api.openai.com/v1/files", None, [O_APP])
    assert r.status == 200 and r.json()["object"] == "list", r
    log = gov.gw.mock.requests()
    assert [(x["method"], x["path"]) for x in log] == [("GET", "/v1/files")]
    assert log[0]["authorization"] == f"Bearer {OPENAI_GW_KEY}"
    check_allowed(record_of(gov, r), W_EP_FILES)
    r = curl(gov, W_EP_FILES, "POST", "https://api.openai.com/v1/batches", "{}", [O_APP])
    assert r.status == 403, r  # the list is what is allowed
    assert len(gov.gw.mock.requests()) == 1


def test_a_workload_with_its_own_keys_reaches_other_endpoints_with_its_key(gov):
    r = curl(gov, W_EP_OWN, "GET", "https://api.openai.com/v1/files", None, [O_APP])
    assert r.status == 200 and r.json()["object"] == "list", r
    log = gov.gw.mock.requests()
    assert [(x["method"], x["path"], x["authorization"]) for x in log] == [
        ("GET", "/v1/files", "Bearer sk-app-own")]
    rec = record_of(gov, r)
    assert rec["aigw.workload"] == W_EP_OWN and rec["aigw.outcome"] == "ok"


PATH_TRICKS = [("GET", "/v1/chat/completions/../files", None), ("GET", "//v1/files", None),
               ("GET", "/v1/%66iles", None), ("POST", "/v1/chat%2fcompletions", chat())]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("method,path,body", PATH_TRICKS, ids=[p for _, p, _ in PATH_TRICKS])
def test_a_path_trick_does_not_pass_the_endpoint_list(gov, method, path, body, via):
    if via == "captured":
        r = curl(gov, W_EP, method, "https://api.openai.com" + path, body, [O_APP],
                 path_as_is=True)
    else:
        r = explicit_http(gov, W_EP, method, path, body)
    assert r.status in (400, 403), r
    assert served(gov) == []


# ---------------------------------------------------------------- 4. rate limits

W_RPM = workload("g-rpm", limits={"requests_per_minute": 3})
W_RPM_A = workload("g-rpm-a", limits={"requests_per_minute": 1})
W_CONC = workload("g-conc", limits={"concurrent": 1})
W_TPM = workload("g-tpm", limits={"tokens_per_minute": 1000})


def test_the_call_over_requests_per_minute_is_the_sdks_rate_limit_error(gov):
    for _ in range(3):
        r = openai_chat(gov, W_RPM)
        assert r.status == 200, r
        check_allowed(record_of(gov, r), W_RPM)
    r = sdk(gov, "openai_sdk", "plain", GPT, W_RPM)
    rate_limited(r)
    assert len(served(gov)) == 3
    check_denied(record_of(gov, r), W_RPM, 429, "requests_per_minute")


def test_anthropic_sdk_over_requests_per_minute_gets_its_rate_limit_error(gov):
    ok(sdk(gov, "anthropic_sdk", "plain", CLAUDE, W_RPM_A))
    r = sdk(gov, "anthropic_sdk", "stream", CLAUDE, W_RPM_A)
    rate_limited(r)
    assert len(served(gov)) == 1
    check_denied(record_of(gov, r), W_RPM_A, 429, "requests_per_minute")


def test_a_second_call_in_flight_over_concurrent_is_refused(gov):
    gov.gw.mock.fault("slow", provider="openai", delay_ms=3000)
    first = curl_start(gov, W_CONC, "POST", OPENAI_CHAT, chat(), [O_APP])
    wait_for(lambda: len(gov.gw.mock.requests()) == 1, what="the first call at the mock")
    r = sdk(gov, "openai_sdk", "stream", GPT, W_CONC)
    rate_limited(r)
    check_denied(record_of(gov, r), W_CONC, 429, "concurrent")
    assert curl_end(first).status == 200
    assert len(gov.gw.mock.requests()) == 1
    gov.gw.mock.fault("none")
    r = openai_chat(gov, W_CONC)  # the first call's place is free again
    assert r.status == 200, r


def test_tokens_per_minute_are_reserved_from_the_bound_and_settled_to_the_use(gov):
    r = openai_chat(gov, W_TPM, max_tokens=500, words=400)
    assert r.status == 200, r
    rec = record_of(gov, r)
    check_allowed(rec, W_TPM)
    used = rec["gen_ai.usage.input_tokens"] + rec["gen_ai.usage.output_tokens"]
    assert rec["aigw.limits.tokens_settled"] == used
    assert used <= rec["aigw.limits.tokens_reserved"]
    assert rec["aigw.limits.tokens_reserved"] >= 500  # max_tokens is the output's bound
    # No max_tokens: the bound is the model's output limit, far over what is left.
    r = sdk(gov, "openai_sdk", "plain", GPT, W_TPM)
    rate_limited(r)
    assert len(served(gov)) == 1
    check_denied(record_of(gov, r), W_TPM, 429, "tokens_per_minute")


# ---------------------------------------------------------------- 5. budgets: the race

RACE_BODY = chat(max_tokens=200)
RACE_WORST_NANO = (len(RACE_BODY) * nano_per_token("openai/gpt-4o-mini", "input")
                   + 200 * nano_per_token("openai/gpt-4o-mini", "output"))
RACE_BUDGET_NANO = int(7.5 * RACE_WORST_NANO)  # about 7 calls by this estimate
W_RACE = workload("g-race", budget={"usd_per_day": RACE_BUDGET_NANO / 1e9})


def test_concurrent_calls_never_overspend_the_budget(gov):
    """50 calls at once, each held at the mock: the budget admits exactly as many as fit by
    their worst case, however they interleave; the rest are refused at once."""
    gov.gw.mock.fault("slow", provider="openai", delay_ms=2000)
    n = 50
    replies = [None] * n
    start = threading.Barrier(n)

    def call(i):
        start.wait()
        replies[i] = explicit_http(gov, W_RACE, "POST", "/v1/chat/completions", RACE_BODY)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(replies), replies
    admitted = [r for r in replies if r.status == 200]
    refused = [r for r in replies if r.status != 200]
    assert admitted, [r.text for r in replies[:3]]
    recs = [record_of(gov, r) for r in admitted]
    reserved = {round(rec["aigw.budget.reserved_usd"] * 1e9) for rec in recs}
    assert len(reserved) == 1, reserved  # the same request, the same worst case
    per_call = reserved.pop()
    assert len(admitted) == RACE_BUDGET_NANO // per_call, (len(admitted), per_call)
    assert len(gov.gw.mock.requests()) == len(admitted)
    settled = sum(check_budget_settled(rec)[1] for rec in recs)
    assert settled <= RACE_BUDGET_NANO / 1e9 + 1e-12
    for r in refused:
        out_of_budget(r)
        check_denied(record_of(gov, r), W_RACE, 429, "budget")


# ---------------------------------------------------------------- 6. cap_max_tokens

CAP_BUDGET = 5e-4  # USD: about 800 output tokens of gpt-4o-mini
W_CAP = workload("g-cap", budget={"usd_per_day": CAP_BUDGET, "cap_max_tokens": True})


def test_cap_max_tokens_lowers_a_call_to_what_is_left(gov):
    r = openai_chat(gov, W_CAP, max_tokens=16)
    assert r.status == 200, r
    first = record_of(gov, r)
    assert first["aigw.policy.action"] == "allow"
    _, spent = check_budget_settled(first)
    assert gov.gw.mock.requests()[-1]["max_tokens"] == 16  # fits: untouched

    r = openai_chat(gov, W_CAP, max_tokens=100000, words=50)
    assert r.status == 200, r
    capped = gov.gw.mock.requests()[-1]["max_tokens"]
    assert capped is not None and 50 < capped < 100000
    out_nano = nano_per_token("openai/gpt-4o-mini", "output")
    assert capped * out_nano <= (CAP_BUDGET - spent) * 1e9
    assert r.json()["usage"]["completion_tokens"] == 50  # cheap: the budget is not gone
    rec = record_of(gov, r)
    check_decided(rec, "capped", "budget")
    reserved, settled = check_budget_settled(rec)
    assert spent + reserved <= CAP_BUDGET + 1e-12

    # No max_tokens at all (the SDK sends none): one is set.
    r = ok(sdk(gov, "openai_sdk", "plain", GPT, W_CAP))
    assert gov.gw.mock.requests()[-1]["max_tokens"] is not None
    check_decided(record_of(gov, r), "capped", "budget")


# ---------------------------------------------------------------- 7. a team's budget

TEAM_BUDGET = 4e-4  # USD: one 400-token call of gpt-4o-mini fits, not two
TEAMS["g-team"] = {"budget": {"usd_per_day": TEAM_BUDGET}}
W_TEAM_A = workload("g-team-a", team="g-team")
W_TEAM_B = workload("g-team-b", team="g-team")


def test_a_teams_budget_spent_by_one_workload_refuses_the_other(gov):
    r = openai_chat(gov, W_TEAM_A, max_tokens=400, words=400)
    assert r.status == 200, r
    rec = record_of(gov, r)
    reserved, settled = check_budget_settled(rec)
    assert reserved <= TEAM_BUDGET < settled + reserved  # B's same call fitted before A's
    r = openai_chat(gov, W_TEAM_B, max_tokens=400, words=400)
    out_of_budget(r)
    assert len(gov.gw.mock.requests()) == 1
    rec = record_of(gov, r)
    check_denied(rec, W_TEAM_B, 429, "g-team")
    assert rec["aigw.team"] == "g-team"


TEAMS["g-team-hard"] = {"budget": {"usd_per_day": TEAM_BUDGET}}
W_TEAM_SOFT = workload("g-team-soft", team="g-team-hard",
                       budget={"usd_per_day": 1e-7, "enforce": False})


def test_a_workloads_budget_in_roll_out_never_hides_its_teams_enforced_budget(gov):
    """g-team-soft's own budget is in roll-out and far overspent after one call; its team's is
    enforced. The roll-out budget, always the tightest, decided alone: the call went on as
    would_deny, and the team's budget was spent past its limit by every call after. Now the
    enforced budget decides first: the second call is refused by the team's budget."""
    r = openai_chat(gov, W_TEAM_SOFT, max_tokens=400, words=400)
    rec = check_would_deny(gov, r, W_TEAM_SOFT, "workloads[g-team-soft].budget")
    reserved, settled = check_budget_settled(rec)
    assert reserved <= TEAM_BUDGET < settled + reserved
    r = openai_chat(gov, W_TEAM_SOFT, max_tokens=400, words=400)
    out_of_budget(r)
    assert len(gov.gw.mock.requests()) == 1
    rec = record_of(gov, r)
    check_denied(rec, W_TEAM_SOFT, 429, "teams[g-team-hard].budget.usd_per_day")


# ---------------------------------------------------------------- 8, 9. state across restarts

W_RESTART = workload("g-restart", budget={"usd_per_day": TEAM_BUDGET})
ROLL_BUDGET = 1e-3
W_ROLL_OLD = workload("g-roll-old", budget={"usd_per_day": ROLL_BUDGET})
W_ROLL_NOW = workload("g-roll-now", budget={"usd_per_day": ROLL_BUDGET})


def utc_day(days_ago=0):
    d = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    return d.strftime("%Y-%m-%d")


def seed_spend(path, rows):
    """Writes spend into the state file of a stopped daemon: ROWS of (scope, period,
    nano-dollars), scope "workload:NAME" or "team:NAME", period "YYYY-MM-DD" or "YYYY-MM"
    (UTC). The layout is the daemon's: table spend(scope TEXT, period TEXT, spent_nano
    INTEGER)."""
    Path(path).parent.mkdir(mode=0o700, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS spend "
                       "(scope TEXT, period TEXT, spent_nano INTEGER)")
            for scope, period, nano in rows:
                db.execute("DELETE FROM spend WHERE scope = ? AND period = ?", (scope, period))
                db.execute("INSERT INTO spend (scope, period, spent_nano) VALUES (?, ?, ?)",
                           (scope, period, nano))
    finally:
        db.close()


def test_spend_survives_a_restart(gov):
    assert openai_chat(gov, W_RESTART, max_tokens=400, words=400).status == 200
    out_of_budget(openai_chat(gov, W_RESTART, max_tokens=400, words=400))
    gov.restart()
    assert gov.state_path.exists()
    r = openai_chat(gov, W_RESTART, max_tokens=400, words=400)
    out_of_budget(r)
    check_denied(record_of(gov, r), W_RESTART, 429, "budget")
    assert len(gov.gw.mock.requests()) == 1


def test_a_new_day_starts_with_a_fresh_budget(gov):
    full = round(ROLL_BUDGET * 1e9)
    spent = [(f"workload:{W_ROLL_OLD}", utc_day(1), full),
             (f"workload:{W_ROLL_NOW}", utc_day(0), full)]
    gov.restart(lambda: seed_spend(gov.state_path, spent))
    r = openai_chat(gov, W_ROLL_OLD, max_tokens=16)
    assert r.status == 200, r  # yesterday's spend is yesterday's
    check_allowed(record_of(gov, r), W_ROLL_OLD)
    r = openai_chat(gov, W_ROLL_NOW, max_tokens=16)
    out_of_budget(r)
    check_denied(record_of(gov, r), W_ROLL_NOW, 429, "budget")
    assert [x["path"] for x in gov.gw.mock.requests()] == ["/v1/chat/completions"]


# ---------------------------------------------------------------- 10. enforce: false

W_SOFT_MODELS = workload("g-soft-models", allow={"models": ["claude-*"], "enforce": False})
W_SOFT_ENDPOINTS = workload("g-soft-endpoints", allow={
    "endpoints": ["POST /v1/chat/completions"], "enforce": False})
W_SOFT_LIMITS = workload("g-soft-limits", limits={"requests_per_minute": 1, "enforce": False})
W_SOFT_BUDGET = workload("g-soft-budget", budget={"usd_per_day": 1e-7, "enforce": False})
W_SOFT_ALLOW = workload("g-soft-allow", allow={
    "models": ["claude-*"], "providers": ["anthropic"], "regions": ["eu"], "enforce": False})


def check_would_deny(gov, r, wl, rule_part):
    assert r.status == 200, r
    rec = record_of(gov, r)
    assert rec["aigw.workload"] == wl and rec["aigw.outcome"] == "ok", rec
    check_decided(rec, "would_deny", rule_part)
    return rec


def test_models_not_enforced_are_recorded_as_would_deny(gov):
    r = ok(sdk(gov, "openai_sdk", "plain", GPT, W_SOFT_MODELS))
    check_would_deny(gov, r, W_SOFT_MODELS, "allow.models")
    assert served(gov) == [("openai", "POST", "/v1/chat/completions", GPT)]


def would_denied(rec):
    return [(d["stage"], d["rule"]) for d in rec["aigw.policy.decisions"]
            if d["action"] == "would_deny"]


def test_every_allow_refusal_not_enforced_is_recorded(gov):
    """A GPT call to OpenAI (region us) breaks allow.models, .providers and .regions: it is
    served, and its record names all three, in the order enforcement meets them, as the app
    sent it and for the target of a route: turning enforcement on brings no refusal
    unannounced."""
    rules = [("allow", "allow.models"), ("allow", "allow.providers"), ("allow", "allow.regions")]
    rec = check_would_deny(gov, openai_chat(gov, W_SOFT_ALLOW), W_SOFT_ALLOW, "allow.")
    assert would_denied(rec) == rules, rec
    r = openai_chat(gov, W_SOFT_ALLOW, model="fast-summary")
    rec = check_would_deny(gov, r, W_SOFT_ALLOW, "allow.")
    assert would_denied(rec) == rules[:1] + rules, rec  # the name as asked, then its target
    assert attempts(rec) == [("openai", GPT, "ok")]
    assert served(gov) == [("openai", "POST", "/v1/chat/completions", GPT)] * 2


def test_endpoints_not_enforced_are_recorded_as_would_deny(gov):
    r = curl(gov, W_SOFT_ENDPOINTS, "GET", "https://api.openai.com/v1/files", None, [O_APP])
    check_would_deny(gov, r, W_SOFT_ENDPOINTS, "allow.endpoints")
    assert [(x["method"], x["path"]) for x in gov.gw.mock.requests()] == [("GET", "/v1/files")]


def test_limits_not_enforced_are_recorded_as_would_deny(gov):
    r = openai_chat(gov, W_SOFT_LIMITS)
    assert r.status == 200 and record_of(gov, r)["aigw.policy.action"] == "allow"
    check_would_deny(gov, openai_chat(gov, W_SOFT_LIMITS), W_SOFT_LIMITS,
                     "requests_per_minute")
    assert len(gov.gw.mock.requests()) == 2


def test_a_budget_not_enforced_is_recorded_as_would_deny(gov):
    r = ok(sdk(gov, "anthropic_sdk", "plain", CLAUDE, W_SOFT_BUDGET))
    check_would_deny(gov, r, W_SOFT_BUDGET, "budget")
    assert len(gov.gw.mock.requests()) == 1


UNPRICED = "gpt-9-unreleased"  # in no price table
MODELS["g-unpriced-first"] = [{"provider": "openai", "model": UNPRICED},
                              {"provider": "openai", "model": GPT}]
TEAMS["g-team-all-soft"] = {"budget": {"usd_per_day": 1, "enforce": False}}
W_ALL_SOFT_BUDGETS = workload("g-all-soft-budgets", team="g-team-all-soft",
                              budget={"usd_per_day": 1, "enforce": False})
W_HARD_BUDGET = workload("g-hard-budget", budget={"usd_per_day": 1})


def test_an_unpriced_target_in_roll_out_is_served_and_recorded_naming_it(gov):
    """Every budget of the call in roll-out: the unpriced first target of a logical name serves
    the call as it would with no budget at all, and the record says the budget would have
    passed it over, naming it; its unknown cost still counts against the budgets (the whole
    reservation). One enforced budget: the target is skipped, the call served by the next."""
    r = openai_chat(gov, W_ALL_SOFT_BUDGETS, model="g-unpriced-first")
    rec = check_would_deny(gov, r, W_ALL_SOFT_BUDGETS, "budget.price")
    assert attempts(rec) == [("openai", UNPRICED, "ok")], rec
    notes = [d for d in rec["aigw.policy.decisions"] if d["rule"] == "budget.price"]
    assert len(notes) == 1 and notes[0]["action"] == "would_deny", rec
    assert f"openai/{UNPRICED} has no price" in notes[0]["reason"], rec
    assert rec["cost_usd"] is None, rec
    assert rec["aigw.budget.settled_nano"] == rec["aigw.budget.reserved_nano"] > 0, rec

    r = openai_chat(gov, W_HARD_BUDGET, model="g-unpriced-first")
    assert r.status == 200, r
    rec = record_of(gov, r)
    assert attempts(rec) == [("openai", UNPRICED, "skipped"), ("openai", GPT, "ok")], rec
    assert not would_denied(rec), rec
    assert served(gov) == [("openai", "POST", "/v1/chat/completions", UNPRICED),
                           ("openai", "POST", "/v1/chat/completions", GPT)]


# ---------------------------------------------------------------- 11. reload

W_RELOAD = workload("g-reload", limits={"concurrent": 5})


def held_calls(gov, wl, n):
    """N calls of WL held at the (slow) mock; returns the curl processes."""
    before = len(gov.gw.mock.requests())
    ps = [curl_start(gov, wl, "POST", OPENAI_CHAT, chat(), [O_APP]) for _ in range(n)]
    wait_for(lambda: len(gov.gw.mock.requests()) == before + n, what=f"{n} calls at the mock")
    return ps


def test_a_reloaded_limit_applies_to_the_next_call_and_a_bad_one_is_refused(gov):
    gov.gw.mock.fault("slow", provider="openai", delay_ms=2000)
    held = held_calls(gov, W_RELOAD, 2)  # two in flight: under 5
    tighter = dict(WORKLOADS[W_RELOAD], limits={"concurrent": 1})
    assert gov.reload(gov.policy(**{W_RELOAD: tighter}))["event.name"] == "policy.reload"
    r = sdk(gov, "openai_sdk", "plain", GPT, W_RELOAD)
    rate_limited(r)
    check_denied(record_of(gov, r), W_RELOAD, 429, "concurrent")
    assert [curl_end(p).status for p in held] == [200, 200]  # the calls in flight went on

    bad = dict(WORKLOADS[W_RELOAD], limits={"concurrent": "one"})
    ev = gov.reload(gov.policy(**{W_RELOAD: bad}))
    assert ev["event.name"] == "policy.reload_refused", ev
    held = held_calls(gov, W_RELOAD, 1)
    rate_limited(sdk(gov, "openai_sdk", "plain", GPT, W_RELOAD))  # concurrent 1 still holds
    assert curl_end(held[0]).status == 200
    gov.gw.mock.fault("none")
    assert openai_chat(gov, W_RELOAD).status == 200


# ---------------------------------------------------------------- 12. warn_at

W_WARN = workload("g-warn", budget={"usd_per_day": TEAM_BUDGET, "warn_at": 0.5})


def warnings(gov, scope):
    return [r for r in gov.world.records()
            if r.get("event.name") == "budget.warn" and r.get("aigw.budget.scope") == scope]


def test_crossing_warn_at_is_recorded_once(gov):
    scope = f"workload:{W_WARN}"
    r = openai_chat(gov, W_WARN, max_tokens=16)  # a few percent
    assert r.status == 200, r
    record_of(gov, r)
    assert warnings(gov, scope) == []
    r = openai_chat(gov, W_WARN, max_tokens=400, words=400)  # past half
    assert r.status == 200, r
    record_of(gov, r)
    wait_for(lambda: warnings(gov, scope), what="the budget.warn record")
    r = openai_chat(gov, W_WARN, max_tokens=16)  # still under the budget, already warned
    assert r.status == 200, r
    record_of(gov, r)
    warns = warnings(gov, scope)
    assert len(warns) == 1, warns
    assert warns[0]["aigw.budget.period"] == "day"
