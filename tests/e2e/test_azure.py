"""Azure OpenAI: an unmodified app on the `openai` SDK's own AzureOpenAI client (configured by
its environment, as Azure apps are: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,
OPENAI_API_VERSION) calling a resource's deployments, or on the plain OpenAI client at the
resource's /openai/v1 root, or curl at Azure AI Foundry's model inference API
(/models/chat/completions and /models/embeddings), is captured, answered, re-keyed (the mock
sees the gateway's api-key, never the app's api-key nor any Authorization it sent) and read
as the model the policy's deployments map says the deployment runs: costed by it, allow-listed
by it, routed by it. A deployment's name is no evidence of what runs there: one the map does
not name is refused to a workload with a model allow-list. The mock serves Azure's paths only
(a deployments or /models call without api-version is not found, an unknown deployment is
DeploymentNotFound) and answers as the model its own deployment runs."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import OPENAI_ADDR, Mock  # noqa: E402
from test_cost import A_HDRS, ANTHROPIC, PRICES, check_cost, usd  # noqa: E402
from test_intercept import split  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

HOST = "contoso.openai.azure.com"
ENDPOINT = f"https://{HOST}"
API_VERSION = "2024-10-21"
GATEWAY_KEY = "azure-gateway-key-0123456789"
APP_KEY = "azure-app-key-of-the-workload"
APP_BEARER = "app-entra-token-never-forwarded"
DEPLOYMENTS = {"chat-mini": "gpt-4o-mini", "chat": "gpt-4o", "embed": "text-embedding-3-small",
               "cohere-embed": "Cohere-embed-v3-multilingual"}  # a Foundry model, unpriced
# a deployment whose name tries to pass for a model the allow-list takes
DECOY = {"gpt-4o-mini": "gpt-4o"}
# what the resource really serves: the map's deployments, and one the policy does not name
MOCK_DEPLOYMENTS = {**DEPLOYMENTS, **DECOY, "rogue": "gpt-4o"}
PROMPT = "Summarise the quarterly cloud spend for the platform team"
WORDS = 9


def azure(gw, monkeypatch, models=None, allow=None, host=HOST, **provider):
    """GW with the mock serving the Azure resource HOST (MOCK_DEPLOYMENTS), the app seeing its
    name, and a policy with the resource as provider "azure" (the gateway's key in api-key)."""
    gw.mock.stop()
    gw.mock = Mock(gw.certs, gw.world.tmp / "mock-azure.log",
                   extra=[a for d, m in MOCK_DEPLOYMENTS.items()
                          for a in ("--azure-deployment", f"{d}={m}")])
    with open(gw.hosts, "a") as f:
        f.write(f"{OPENAI_ADDR} {host}\n")
    monkeypatch.setenv("AIGW_TEST_AZURE_KEY", GATEWAY_KEY)
    monkeypatch.setenv("AIGW_TEST_OPENAI_KEY", "sk-gateway-openai")
    prov = {"api": "azure_openai", "hosts": [host], "key_env": "AIGW_TEST_AZURE_KEY",
            "deployments": DEPLOYMENTS, **provider}
    pol = gw.policy(providers={
        "openai": {"hosts": ["api.openai.com"], "key_env": "AIGW_TEST_OPENAI_KEY"},
        "anthropic": {"hosts": ["api.anthropic.com"]}, "azure": prov})
    if models:
        pol["models"] = models
        pol["routing"] = {"retries": 0, "backoff_ms": 10}
    if allow:
        pol["workloads"][0]["allow"] = allow
    return pol


def run_azure_sdk(gw, mode, deployment, headers=(), v1=False, endpoint=ENDPOINT):
    """The openai SDK app in the captured cgroup: its AzureOpenAI client at ENDPOINT, or (V1)
    its plain OpenAI client at ENDPOINT/openai/v1, which sends its key as a bearer token."""
    env = {"OPENAI_BASE_URL": f"{endpoint}/openai/v1", "OPENAI_API_KEY": APP_KEY} if v1 else {
        "AIGW_TEST_AZURE": "1", "AZURE_OPENAI_ENDPOINT": endpoint,
        "AZURE_OPENAI_API_KEY": APP_KEY, "OPENAI_API_VERSION": API_VERSION}
    return harness.run_client("openai_sdk", "openai", mode, deployment, PROMPT,
                              [f"x-mock-reply-words: {WORDS}", *headers], hosts=gw.hosts,
                              ca=gw.ca_dir / "ca.pem", env=env, popen=gw.app.popen)


def usage_of(r):
    return r.body["usage"] if isinstance(r.body, dict) else r.body[-1]["usage"]


def check_rekeyed(gw, seen):
    """The provider got the gateway's key in api-key and nothing of the app's credentials; the
    audit log holds neither key."""
    assert seen["api_key"] == GATEWAY_KEY, seen
    assert seen["authorization"] is None, seen
    audit = gw.world.audit_path.read_text()
    for secret in (APP_KEY, APP_BEARER, GATEWAY_KEY):
        assert secret not in audit


def record_of(gw, r):
    return gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_azure_sdk_chat_is_rekeyed_and_costed_as_the_deployments_model(gw, monkeypatch, mode):
    gw.start(azure(gw, monkeypatch))
    r = run_azure_sdk(gw, mode, "chat-mini", headers=[f"authorization: Bearer {APP_BEARER}"])
    assert r.ok and r.status == 200, r
    usage = usage_of(r)
    assert usage["completion_tokens"] == WORDS
    seen = gw.mock.requests()[-1]
    assert (seen["host"], seen["path"], seen["deployment"], seen["status"]) == (
        HOST, "/openai/deployments/chat-mini/chat/completions", "chat-mini", 200), seen
    check_rekeyed(gw, seen)
    rec = record_of(gw, r)
    assert rec["gen_ai.system"] == "azure"
    assert rec["gen_ai.request.model"] == "gpt-4o-mini"
    assert rec["aigw.azure.deployment"] == "chat-mini"
    assert rec["url.path"] == "/openai/deployments/chat-mini/chat/completions"
    assert rec["aigw.url.api_path"] == "/v1/chat/completions"
    assert rec["gen_ai.operation.name"] == "chat"
    assert rec["aigw.credential"] == "gateway"
    assert rec["gen_ai.usage.output_tokens"] == WORDS
    check_cost(gw, rec, usd(PRICES["azure/gpt-4o-mini"], usage["prompt_tokens"], WORDS))


def test_azure_sdk_embeddings_are_costed_as_the_deployments_model(gw, monkeypatch):
    gw.start(azure(gw, monkeypatch))
    r = run_azure_sdk(gw, "embeddings", "embed")
    assert r.ok and r.status == 200, r
    seen = gw.mock.requests()[-1]
    assert (seen["path"], seen["status"]) == ("/openai/deployments/embed/embeddings", 200), seen
    check_rekeyed(gw, seen)
    rec = record_of(gw, r)
    assert rec["gen_ai.request.model"] == "text-embedding-3-small"
    assert rec["aigw.url.api_path"] == "/v1/embeddings"
    tokens = r.body["usage"]["prompt_tokens"]
    assert rec["gen_ai.usage.input_tokens"] == tokens > 0
    check_cost(gw, rec, usd(PRICES["azure/text-embedding-3-small"], tokens, 0))


def test_azure_sdk_embeddings_unpriced_model_is_null_with_a_reason(gw, monkeypatch):
    """A deployment of a model the table has no Azure price for (Cohere's, sold on Foundry):
    its tokens are recorded, its cost null with the reason, never a guess."""
    gw.start(azure(gw, monkeypatch))
    r = run_azure_sdk(gw, "embeddings", "cohere-embed")
    assert r.ok and r.status == 200, r
    check_rekeyed(gw, gw.mock.requests()[-1])
    rec = record_of(gw, r)
    assert rec["gen_ai.request.model"] == "Cohere-embed-v3-multilingual"
    assert rec["gen_ai.usage.input_tokens"] == r.body["usage"]["prompt_tokens"] > 0
    assert rec["cost_usd"] is None, rec
    assert rec["aigw.cost.reason"] == "no price for azure/Cohere-embed-v3-multilingual", rec


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_v1_path_bearer_key_is_replaced_by_the_gateways_api_key(gw, monkeypatch, mode):
    """The OpenAI client at the resource's /openai/v1 root sends the app's key as a bearer
    token and the deployment in "model": the bearer token never reaches Azure."""
    gw.start(azure(gw, monkeypatch))
    r = run_azure_sdk(gw, mode, "chat-mini", v1=True)
    assert r.ok and r.status == 200, r
    seen = gw.mock.requests()[-1]
    assert (seen["path"], seen["model"], seen["status"]) == (
        "/openai/v1/chat/completions", "chat-mini", 200), seen
    check_rekeyed(gw, seen)
    rec = record_of(gw, r)
    assert (rec["gen_ai.request.model"], rec["aigw.azure.deployment"]) == (
        "gpt-4o-mini", "chat-mini")
    assert rec["aigw.url.api_path"] == "/v1/chat/completions"
    usage = usage_of(r)
    check_cost(gw, rec, usd(PRICES["azure/gpt-4o-mini"], usage["prompt_tokens"],
                            usage["completion_tokens"]))


@pytest.mark.parametrize("host", ["contoso.cognitiveservices.azure.com",
                                  "contoso.services.ai.azure.com"])
def test_the_other_azure_domains_are_captured_and_read_alike(gw, monkeypatch, host):
    gw.start(azure(gw, monkeypatch, host=host))
    for v1 in (False, True):
        r = run_azure_sdk(gw, "plain", "chat-mini", v1=v1, endpoint=f"https://{host}")
        assert r.ok and r.status == 200, r
        seen = gw.mock.requests()[-1]
        assert seen["host"] == host and seen["deployment"] == "chat-mini", seen
        check_rekeyed(gw, seen)
        rec = record_of(gw, r)
        assert (rec["gen_ai.request.model"], rec["aigw.url.api_path"]) == (
            "gpt-4o-mini", "/v1/chat/completions"), rec


FOUNDRY_HOST = "contoso.services.ai.azure.com"
FOUNDRY = f"https://{FOUNDRY_HOST}/models"
FOUNDRY_VERSION = "2024-05-01-preview"


def foundry_call(gw, call, body, version=FOUNDRY_VERSION):
    """A captured curl at Azure AI Foundry's model inference API, with the app's own key in
    api-key and a bearer token as well: neither may reach the resource."""
    url = f"{FOUNDRY}/{call}" + (f"?api-version={version}" if version else "")
    return split(gw.curl(url, json.dumps(body), headers=[
        f"api-key: {APP_KEY}", f"authorization: Bearer {APP_BEARER}",
        f"x-mock-reply-words: {WORDS}"]))


def sse_usage(text):
    """The usage of a chat completion stream (its one chunk with a usage object)."""
    chunks = [json.loads(l[len("data: "):]) for l in text.splitlines()
              if l.startswith("data: {")]
    usages = [c["usage"] for c in chunks if c.get("usage")]
    assert text.rstrip().endswith("data: [DONE]") and len(usages) == 1, text
    return usages[0]


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_foundry_chat_is_rekeyed_and_costed_as_the_deployments_model(gw, monkeypatch, mode):
    """/models/chat/completions?api-version= names the deployment in "model": the call goes to
    the resource with the gateway's api-key alone, read and costed as the model it runs."""
    gw.start(azure(gw, monkeypatch, host=FOUNDRY_HOST))
    body = {"model": "chat-mini", "messages": [{"role": "user", "content": PROMPT}]}
    if mode == "stream":
        body.update(stream=True, stream_options={"include_usage": True})
    text, code = foundry_call(gw, "chat/completions", body)
    assert code == 200, text
    usage = sse_usage(text) if mode == "stream" else json.loads(text)["usage"]
    assert usage["completion_tokens"] == WORDS, usage
    seen = gw.mock.requests()[-1]
    assert (seen["host"], seen["path"], seen["model"], seen["status"]) == (
        FOUNDRY_HOST, "/models/chat/completions", "chat-mini", 200), seen
    check_rekeyed(gw, seen)
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "azure"})
    assert (rec["gen_ai.request.model"], rec["aigw.azure.deployment"]) == (
        "gpt-4o-mini", "chat-mini"), rec
    assert (rec["url.path"], rec["aigw.url.api_path"]) == (
        "/models/chat/completions", "/v1/chat/completions"), rec
    assert rec["aigw.credential"] == "gateway"
    assert rec["gen_ai.usage.output_tokens"] == WORDS
    check_cost(gw, rec, usd(PRICES["azure/gpt-4o-mini"], usage["prompt_tokens"], WORDS))


def test_foundry_embeddings_are_read_as_openais(gw, monkeypatch):
    gw.start(azure(gw, monkeypatch, host=FOUNDRY_HOST))
    text, code = foundry_call(gw, "embeddings", {"model": "embed", "input": PROMPT})
    assert code == 200, text
    usage = json.loads(text)["usage"]
    seen = gw.mock.requests()[-1]
    assert (seen["path"], seen["model"], seen["status"]) == ("/models/embeddings", "embed", 200)
    check_rekeyed(gw, seen)
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "azure"})
    assert (rec["gen_ai.request.model"], rec["aigw.url.api_path"]) == (
        "text-embedding-3-small", "/v1/embeddings"), rec
    assert rec["gen_ai.usage.input_tokens"] == usage["prompt_tokens"] > 0
    check_cost(gw, rec, usd(PRICES["azure/text-embedding-3-small"], usage["prompt_tokens"], 0))


def test_foundry_allow_list_reads_the_deployments_model(gw, monkeypatch):
    """allow.models ["gpt-4o-mini"]: a Foundry call to a deployment outside the map, or one
    named gpt-4o-mini that runs gpt-4o, is refused before a byte reaches Azure."""
    gw.start(azure(gw, monkeypatch, host=FOUNDRY_HOST, allow={"models": ["gpt-4o-mini"]},
                   deployments={**DEPLOYMENTS, **DECOY}))
    for deployment, why in (("rogue", "deployment rogue is not in the deployments"),
                            ("gpt-4o-mini", "model gpt-4o is not in allow.models")):
        text, code = foundry_call(gw, "chat/completions", {
            "model": deployment, "messages": [{"role": "user", "content": PROMPT}]})
        assert code == 403 and why in text, text
    assert gw.mock.requests() == []
    text, code = foundry_call(gw, "chat/completions", {
        "model": "chat-mini", "messages": [{"role": "user", "content": PROMPT}]})
    assert code == 200, text


def test_foundry_paths_other_than_its_calls_are_outside_the_api(gw, monkeypatch):
    """/models/info and the like are no call the gateway reads: refused, the gateway's key never
    sent with them; a Foundry call without api-version is Azure's own 404, re-keyed."""
    gw.start(azure(gw, monkeypatch, host=FOUNDRY_HOST))
    body = {"model": "chat-mini", "messages": [{"role": "user", "content": "hi"}]}
    for call in ("info", "images/embeddings", "chat/completions/x"):
        text, code = foundry_call(gw, call, body)
        assert code == 403 and "outside provider azure's API" in text, (call, text)
    assert gw.mock.requests() == []
    text, code = foundry_call(gw, "chat/completions", body, version=None)
    assert code == 404 and "Resource not found" in text, text
    seen = gw.mock.requests()
    assert [x["path"] for x in seen] == ["/models/chat/completions"], seen
    check_rekeyed(gw, seen[0])


def test_deployment_not_in_the_map_is_billed_by_the_answers_model(gw, monkeypatch):
    """No allow-list: a deployment the policy does not name goes through, its model unknown
    until the answer names it, and is costed by that."""
    gw.start(azure(gw, monkeypatch))
    r = run_azure_sdk(gw, "plain", "rogue")
    assert r.ok and r.status == 200, r
    rec = record_of(gw, r)
    assert rec["aigw.azure.deployment"] == "rogue"
    assert "gen_ai.request.model" not in rec, rec
    assert rec["gen_ai.response.model"] == "gpt-4o", rec
    usage = r.body["usage"]
    check_cost(gw, rec, usd(PRICES["azure/gpt-4o"], usage["prompt_tokens"],
                            usage["completion_tokens"]))


@pytest.mark.parametrize("deployment,why", [
    ("rogue", "deployment rogue is not in the deployments of provider azure"),
    ("gpt-4o-mini", "model gpt-4o is not in allow.models"),
])
def test_model_allow_list_applies_to_the_model_the_deployment_runs(gw, monkeypatch, deployment,
                                                                   why):
    """allow.models ["gpt-4o-mini"]: a deployment outside the map, and one *named* gpt-4o-mini
    that runs gpt-4o, are both refused before any byte reaches Azure; chat-mini goes."""
    gw.start(azure(gw, monkeypatch, allow={"models": ["gpt-4o-mini"]},
                   deployments={**DEPLOYMENTS, **DECOY}))
    for v1 in (False, True):
        r = run_azure_sdk(gw, "plain", deployment, v1=v1)
        assert r.status == 403, r
        assert why in json.dumps(r.body), r.body
    assert gw.mock.requests() == []
    assert run_azure_sdk(gw, "plain", "chat-mini").status == 200


def test_deployments_path_needs_a_deployment_and_api_version(gw, monkeypatch):
    """A path under /openai/deployments/ that names no deployment call is outside the API (the
    gateway's key does not go with it); one without api-version is Azure's own 404."""
    gw.start(azure(gw, monkeypatch))
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    text, code = split(gw.curl(f"{ENDPOINT}/openai/deployments/chat-mini", body,
                               headers=[f"api-key: {APP_KEY}"]))
    assert code == 403 and "outside provider azure's API" in text, text
    text, code = split(gw.curl(f"{ENDPOINT}/openai/deployments/chat-mini/chat/completions",
                               body, headers=[f"api-key: {APP_KEY}"]))
    assert code == 404 and "Resource not found" in text, text
    seen = gw.mock.requests()
    assert [x["path"] for x in seen] == ["/openai/deployments/chat-mini/chat/completions"]
    check_rekeyed(gw, seen[0])


def test_openai_down_falls_back_to_the_azure_deployment(gw, monkeypatch):
    """The same model behind another door: OpenAI fails, the call goes to Azure's v1 path with
    the deployment in "model" and the gateway's api-key, costed at Azure's price."""
    models = {"gpt-4o-mini": [{"provider": "openai", "model": "gpt-4o-mini"},
                              {"provider": "azure", "model": "gpt-4o-mini"}]}
    gw.start(azure(gw, monkeypatch, models=models))
    gw.mock.fault("down", provider="openai", count=1)
    r = harness.run_client("openai_sdk", "openai", "plain", "gpt-4o-mini", PROMPT,
                           [f"x-mock-reply-words: {WORDS}"], hosts=gw.hosts,
                           ca=gw.ca_dir / "ca.pem", env={"SDK_MAX_RETRIES": "0"},
                           popen=gw.app.popen)
    assert r.ok and r.status == 200, r
    seen = gw.mock.requests()
    assert [(x["host"], x["path"], x["status"]) for x in seen] == [
        ("api.openai.com", "/v1/chat/completions", 503),
        (HOST, "/openai/v1/chat/completions", 200)], seen
    assert seen[1]["model"] == "chat-mini" and seen[1]["api_key"] == GATEWAY_KEY, seen[1]
    assert seen[1]["authorization"] is None
    rec = record_of(gw, r)
    assert (rec["gen_ai.system"], rec["aigw.azure.target_deployment"]) == ("azure", "chat-mini")
    usage = r.body["usage"]  # the mock's own length: the app's x-mock header stays with OpenAI
    check_cost(gw, rec, usd(PRICES["azure/gpt-4o-mini"], usage["prompt_tokens"],
                            usage["completion_tokens"]))


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_azure_down_falls_back_to_openai(gw, monkeypatch, mode):
    """The app calls its Azure deployment; the deployment's model has a route whose first
    target is that deployment: Azure fails, OpenAI answers as gpt-4o-mini with its own key."""
    models = {"gpt-4o-mini": [{"provider": "azure", "model": "chat-mini"},
                              {"provider": "openai", "model": "gpt-4o-mini"}]}
    gw.start(azure(gw, monkeypatch, models=models))
    gw.mock.fault("down", provider="openai", count=1)
    r = run_azure_sdk(gw, mode, "chat-mini")
    assert r.ok and r.status == 200, r
    seen = gw.mock.requests()
    assert [(x["host"], x["path"], x["status"]) for x in seen] == [
        (HOST, "/openai/v1/chat/completions", 503),
        ("api.openai.com", "/v1/chat/completions", 200)], seen
    assert seen[1]["model"] == "gpt-4o-mini", seen[1]
    assert seen[1]["authorization"] == "Bearer sk-gateway-openai" and seen[1]["api_key"] is None
    rec = record_of(gw, r)
    assert (rec["gen_ai.system"], rec["aigw.azure.deployment"]) == ("openai", "chat-mini")
    usage = usage_of(r)
    check_cost(gw, rec, usd(PRICES["openai/gpt-4o-mini"], usage["prompt_tokens"],
                            usage["completion_tokens"]))


def test_anthropic_app_falls_back_to_azure_through_translation(gw, monkeypatch):
    """An Anthropic Messages call whose logical name routes to an Azure deployment is translated
    into a chat completion for it, on the v1 path, with the gateway's api-key alone."""
    models = {"claude-fallback": [{"provider": "azure", "model": "gpt-4o-mini"}]}
    gw.start(azure(gw, monkeypatch, models=models))
    body = {"model": "claude-fallback", "max_tokens": 64,
            "messages": [{"role": "user", "content": PROMPT}]}
    text, code = split(gw.curl(ANTHROPIC, json.dumps(body), headers=A_HDRS))
    assert code == 200, text
    answer = json.loads(text)
    assert answer["type"] == "message", answer
    seen = gw.mock.requests()[-1]
    assert (seen["host"], seen["path"], seen["model"], seen["api_key"]) == (
        HOST, "/openai/v1/chat/completions", "chat-mini", GATEWAY_KEY), seen
    assert seen["x_api_key"] is None and seen["authorization"] is None
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "azure"})
    assert rec["aigw.azure.target_deployment"] == "chat-mini"
    check_cost(gw, rec, usd(PRICES["azure/gpt-4o-mini"], answer["usage"]["input_tokens"],
                            answer["usage"]["output_tokens"]))


def test_token_file_sends_a_bearer_token_read_again_when_it_changes(gw, monkeypatch):
    token = gw.world.tmp / "azure.token"
    token.write_text("entra-token-one\n")
    token.chmod(0o600)
    pol = azure(gw, monkeypatch, token_file=str(token))
    del pol["providers"]["azure"]["key_env"]
    gw.start(pol)
    assert run_azure_sdk(gw, "plain", "chat-mini").status == 200
    seen = gw.mock.requests()[-1]
    assert (seen["authorization"], seen["api_key"]) == ("Bearer entra-token-one", None), seen
    new = gw.world.tmp / "azure.token.new"
    new.write_text("entra-token-two\n")
    new.chmod(0o600)
    new.rename(token)  # as a token agent renews it
    assert run_azure_sdk(gw, "plain", "chat-mini").status == 200
    seen = gw.mock.requests()[-1]
    assert (seen["authorization"], seen["api_key"]) == ("Bearer entra-token-two", None), seen
    audit = gw.world.audit_path.read_text()
    assert "entra-token" not in audit and APP_KEY not in audit


def test_token_file_others_can_read_is_refused(gw, monkeypatch):
    token = gw.world.tmp / "azure.token"
    token.write_text("entra-token-one\n")
    token.chmod(0o644)
    pol = azure(gw, monkeypatch, token_file=str(token))
    r = gw.world.aigw("policy", "check", str(gw.world.write_policy(pol)))
    assert r.returncode != 0, r
    assert f"{token}: holds a secret and is readable by group or others" in r.stderr + r.stdout


@pytest.mark.parametrize("change,where,what", [
    (lambda p: p.__setitem__("deployments", ["chat-mini"]), "providers.azure.deployments",
     "got an array; expected an object"),
    (lambda p: p.__setitem__("deployments", {"chat": 4}), "providers.azure.deployments.chat",
     "got number 4"),
    (lambda p: p.__setitem__("deployments", {"a/b": "gpt-4o"}), "providers.azure.deployments",
     "a character other than letters"),
    (lambda p: p.pop("deployments"), "providers.azure",
     "an azure_openai provider with no deployments"),
])
def test_bad_azure_policy_is_refused_naming_the_key(gw, monkeypatch, change, where, what):
    pol = azure(gw, monkeypatch)
    change(pol["providers"]["azure"])
    r = gw.world.aigw("policy", "check", str(gw.world.write_policy(pol)))
    assert r.returncode != 0, r
    assert where in r.stderr + r.stdout and what in r.stderr + r.stdout, r.stderr


@pytest.mark.parametrize("target,what", [
    ("gpt-5", "neither a deployment of that provider nor a model one of them runs"),
    # a deployment named gpt-4o-mini runs gpt-4o, and chat-mini runs gpt-4o-mini
    ("gpt-4o-mini", "ambiguous: the deployment of that name runs gpt-4o"),
])
def test_route_target_must_name_one_deployment_or_its_model(gw, monkeypatch, target, what):
    pol = azure(gw, monkeypatch, models={"x": [{"provider": "azure", "model": target}]},
                deployments={**DEPLOYMENTS, **DECOY})
    r = gw.world.aigw("policy", "check", str(gw.world.write_policy(pol)))
    assert r.returncode != 0, r
    out = r.stderr + r.stdout
    assert "models.x[0].model" in out and what in out, out
