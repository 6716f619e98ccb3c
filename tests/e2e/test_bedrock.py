"""AWS Bedrock: an unmodified boto3 app (Debian's python3-boto3, its own fake AWS credentials)
calling bedrock-runtime.us-east-1.amazonaws.com is captured, its SigV4 signature discarded and
the call re-signed with the gateway's credentials: the mock Bedrock (tests/mockprov/bedrock.c)
verifies every signature with its own implementation and knows only the gateway's key, so the
app's credential reaching it would be a 403. Each of Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream is answered, recorded with the model from its path and the usage
Bedrock reported. The mock's verifier is itself checked against botocore's signer. A corrupt
event-stream frame from the provider reaches the app as a clean error and is recorded."""
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import (AIGW, MOCKPROV, OPENAI_ADDR, Mock, free_port, hosts_wrap,  # noqa: E402
                      wait_for)
from test_cost import PRICES, check_cost, usd  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "clients" / "py_boto3_bedrock.py"
MODELS = HERE / "clients" / "aws-models"
HOST = "bedrock-runtime.us-east-1.amazonaws.com"
GW_ID, GW_SECRET = "AKIDGATEWAYEXAMPLE01", "gateway/secret+EXAMPLEKEY"
APP_ID, APP_SECRET = "AKIDAPPFAKEEXAMPLE02", "app-secret-never-forwarded"
MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"  # a US inference profile
PRICE = PRICES["bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"]
PROMPT = "Summarise the quarterly cloud spend for the platform team"
WORDS = 7
MOCK_DEFAULT_WORDS = 5  # the reply's length when the request names none (x-mock-reply-words)


def bedrock(gw, monkeypatch, **over):
    """GW with the mock knowing only the gateway's AWS key, the app seeing Bedrock's name, and
    a provider "bedrock" with the gateway's credentials in the environment."""
    gw.mock.stop()
    gw.mock = Mock(gw.certs, gw.world.tmp / "mock-bedrock.log",
                   extra=["--aws-key", f"{GW_ID}={GW_SECRET}"])
    with open(gw.hosts, "a") as f:
        f.write(f"{OPENAI_ADDR} {HOST}\n")
    monkeypatch.setenv("AIGW_TEST_AWS_ID", GW_ID)
    monkeypatch.setenv("AIGW_TEST_AWS_SECRET", GW_SECRET)
    return gw.policy(providers={
        "openai": {"hosts": ["api.openai.com"]},
        "anthropic": {"hosts": ["api.anthropic.com"]},
        "bedrock": {"hosts": [HOST], "api": "bedrock",
                    "aws": {"region": "us-east-1", "access_key_id_env": "AIGW_TEST_AWS_ID",
                            "secret_access_key_env": "AIGW_TEST_AWS_SECRET"}}}, **over)


def run_boto3(gw, op, model=MODEL, headers=(), env=None, words=WORDS, prompt=PROMPT):
    env = dict(gw.env(), AWS_ACCESS_KEY_ID=APP_ID, AWS_SECRET_ACCESS_KEY=APP_SECRET,
               AWS_DATA_PATH=str(MODELS), AWS_CA_BUNDLE=str(gw.ca_dir / "ca.pem"),
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", **(env or {}))
    p = gw.app.run(hosts_wrap(gw.hosts, ["/usr/bin/python3", str(CLIENT), op, model, prompt,
                                         f"x-mock-reply-words: {words}", *headers]),
                   timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def usage_of(op, body):
    """(input, output) as the app was told them."""
    if op == "converse":
        return body["usage"]["inputTokens"], body["usage"]["outputTokens"]
    if op == "converse_stream":
        u = body[-1]["metadata"]["usage"]
        return u["inputTokens"], u["outputTokens"]
    if op == "invoke_model":
        return body["usage"]["input_tokens"], body["usage"]["output_tokens"]
    return body[0]["message"]["usage"]["input_tokens"], body[-2]["usage"]["output_tokens"]


def check_resigned(gw, path_model):
    seen = gw.mock.requests()[-1]
    assert seen["host"] == HOST and seen["status"] == 200, seen
    assert seen["path"].startswith(f"/model/{path_model}/"), seen
    assert f"Credential={GW_ID}/" in seen["authorization"], seen
    assert APP_ID not in json.dumps(gw.mock.requests())
    return seen


@pytest.mark.parametrize("op", ["converse", "converse_stream", "invoke_model",
                                "invoke_model_with_response_stream"])
def test_captured_boto3_app_is_resigned_and_recorded(gw, monkeypatch, op):
    gw.start(bedrock(gw, monkeypatch))
    r = run_boto3(gw, op)
    assert r["status"] == 200 and not r["error"], r
    n_in, n_out = usage_of(op, r["body"])
    assert n_out == WORDS
    check_resigned(gw, MODEL.replace(":", "%3A"))
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["gen_ai.system"] == "bedrock", rec
    assert rec["gen_ai.request.model"] == MODEL, rec
    assert rec["aigw.credential"] == "gateway", rec
    assert rec["gen_ai.usage.input_tokens"] == n_in, rec
    assert rec["gen_ai.usage.output_tokens"] == WORDS, rec
    if "stream" in op:
        assert rec["aigw.stream.end"] == "ok", rec
    check_cost(gw, rec, usd(PRICE, n_in, WORDS))
    audit = gw.world.audit_path.read_text()
    assert APP_SECRET not in audit and GW_SECRET not in audit


# Claude rows added to policies/prices.json from pages and price tables citing AWS's Bedrock
# price list, typed in here from policies/prices.md (USD per million tokens, input and output),
# not read from the table, so a wrong row fails. The US inference profile of a model before
# 4.5 is billed as the base id; a global inference profile at the global price.
BEDROCK_CLAUDE = {
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0": ("3.00", "15.00"),
    "anthropic.claude-sonnet-4-20250514-v1:0": ("3.00", "15.00"),
    "us.anthropic.claude-sonnet-4-20250514-v1:0": ("3.00", "15.00"),
    "us.anthropic.claude-opus-4-20250514-v1:0": ("15.00", "75.00"),
    "us.anthropic.claude-opus-4-1-20250805-v1:0": ("15.00", "75.00"),
    "global.anthropic.claude-sonnet-4-20250514-v1:0": ("3.00", "15.00"),
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0": ("3.00", "15.00"),
    "global.anthropic.claude-sonnet-4-6": ("3.00", "15.00"),
    "global.anthropic.claude-haiku-4-5-20251001-v1:0": ("1.00", "5.00"),
    "global.anthropic.claude-opus-4-5-20251101-v1:0": ("5.00", "25.00"),
    "global.anthropic.claude-opus-4-6-v1": ("5.00", "25.00"),
}


@pytest.mark.parametrize("model", sorted(BEDROCK_CLAUDE))
def test_newly_priced_bedrock_claude_is_costed_exactly(gw, monkeypatch, model):
    """A Claude model Bedrock bills at one price per id (Sonnet 4, Opus 4 and 4.1, 3.7
    Sonnet), or a global inference profile (Claude 4.5 and later: global price): the captured
    boto3 call is costed exactly at Bedrock's published rates, to the nano-dollar."""
    gw.start(bedrock(gw, monkeypatch))
    r = run_boto3(gw, "converse", model=model)
    assert r["status"] == 200 and not r["error"], r
    n_in, n_out = usage_of("converse", r["body"])
    assert n_out == WORDS
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["gen_ai.request.model"] == model, rec
    assert rec["gen_ai.usage.input_tokens"] == n_in, rec
    i, o = BEDROCK_CLAUDE[model]
    check_cost(gw, rec, (n_in * Decimal(i) + n_out * Decimal(o)) / Decimal(1000000))


@pytest.mark.parametrize("model", ["anthropic.claude-3-5-sonnet-20240620-v1:0",
                                   "eu.anthropic.claude-sonnet-4-20250514-v1:0",
                                   "anthropic.claude-sonnet-4-5-20250929-v1:0",
                                   "us.anthropic.claude-sonnet-4-5-20250929-v1:0"])
def test_unpriced_bedrock_model_costs_null_with_reason(gw, monkeypatch, model):
    """A model the table has no Bedrock price for (Claude 3.5 Sonnet: the pages disagree), a
    priced model's EU profile (billed at an EU region's price, not the US one), or the
    regional id and US profile of a model whose global profile is priced (Sonnet 4.5: billed
    10 % above global, a figure the tables disagree on): answered and counted, its cost null
    with the reason, never a guess (Anthropic's own price, the US one or the global one is not
    what this call is billed)."""
    gw.start(bedrock(gw, monkeypatch))
    r = run_boto3(gw, "invoke_model", model=model)
    assert r["status"] == 200, r
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["gen_ai.usage.output_tokens"] == WORDS, rec
    assert rec["cost_usd"] is None, rec
    assert rec["aigw.cost.reason"] == f"no price for bedrock/{model}", rec


def test_corrupt_event_stream_frame_is_a_clean_error(gw, monkeypatch):
    """The third message of a ConverseStream answer has a byte flipped: the app gets the two
    before it and then Bedrock's own exception message (boto3 raises it), never the bad frame;
    the record says the stream ended in error; the gateway serves the next call."""
    gw.start(bedrock(gw, monkeypatch))
    r = run_boto3(gw, "converse_stream", headers=["x-mock-bedrock-corrupt: 3"])
    assert r["error"] and "internalServerException" in r["error"], r
    assert "CRC does not match" in r["error"], r
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["aigw.stream.end"] == "error", rec
    assert rec["gen_ai.usage.input_tokens"] is None, rec
    r = run_boto3(gw, "converse")
    assert r["status"] == 200 and not r["error"], r


def test_model_allow_list_reads_the_path(gw, monkeypatch):
    """allow.models sees the model of the path, decoded once; a "model" in the body (which
    Bedrock does not read) or an encoded dot segment does not get a call past it."""
    pol = bedrock(gw, monkeypatch)
    pol["workloads"][0]["allow"] = {"models": ["anthropic.claude-3-haiku-*"]}
    gw.start(pol)
    r = run_boto3(gw, "converse", model="anthropic.claude-3-haiku-20240307-v1:0")
    assert r["status"] == 200, r
    r = run_boto3(gw, "converse", model=MODEL)
    assert r["status"] == 403, r
    assert f"model {MODEL} is not in allow.models" in r["error"], r
    r = run_boto3(gw, "converse",
                  model="arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-"
                        "haiku-20240307-v1:0/../../anthropic.claude-opus-4-20250514-v1:0")
    assert r["status"] == 403, r
    assert len(gw.mock.requests()) == 1


def test_mock_verifier_agrees_with_botocore(tmp_path):
    """boto3 signing straight to the mock (no gateway): accepted; one body byte changed after
    signing, or the wrong secret: refused. The gateway's signer is compared with botocore's in
    tests/unit/test_sigv4.c; this keeps the mock's verifier honest too."""
    port = free_port()
    log = tmp_path / "mock.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([MOCKPROV, "--plain-listen", f"127.0.0.1:{port}",
                                 "--aws-key", f"{GW_ID}={GW_SECRET}"], stdout=f,
                                stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "mockprov: ready" in log.read_text(), timeout=10, what="mock")
        script = f"""
import json, boto3
from botocore.config import Config
def client(secret):
    return boto3.client("bedrock-runtime", region_name="us-east-1",
                        endpoint_url="http://127.0.0.1:{port}", aws_access_key_id="{GW_ID}",
                        aws_secret_access_key=secret, config=Config(retries={{"max_attempts": 0}}))
msgs = [{{"role": "user", "content": [{{"text": "hi"}}]}}]
out = {{}}
out["ok"] = client("{GW_SECRET}").converse(modelId="{MODEL}", messages=msgs)["usage"]
def tamper(request, **_):
    request.body = request.body.replace(b"hi", b"ho")
c = client("{GW_SECRET}")
c.meta.events.register("before-send.bedrock-runtime.*", tamper)
for name, cl in (("tampered", c), ("wrong_secret", client("nope"))):
    try:
        cl.converse(modelId="{MODEL}", messages=msgs)
        out[name] = "accepted"
    except Exception as e:
        out[name] = e.response["Error"]["Code"]
print(json.dumps(out))
"""
        p = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, AWS_DATA_PATH=str(MODELS)))
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["ok"]["outputTokens"] > 0, out
        assert out["tampered"] == "InvalidSignatureException", out
        assert out["wrong_secret"] == "InvalidSignatureException", out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_anthropic_sdk_falls_back_to_claude_on_bedrock(gw, monkeypatch, mode):
    """Anthropic is down: the Anthropic SDK's Messages call is served by the same model on
    Bedrock (InvokeModel with the Anthropic body: no "model", anthropic_version
    "bedrock-2023-05-31"; streamed via invoke-with-response-stream, decoded back into Anthropic
    events), signed with the gateway's AWS key, costed at Bedrock's price."""
    sys.path.insert(0, str(HERE / "clients"))
    import harness
    monkeypatch.setenv("AIGW_TEST_ANTHROPIC_KEY", "sk-ant-gateway")
    pol = bedrock(gw, monkeypatch)
    pol["providers"]["anthropic"]["key_env"] = "AIGW_TEST_ANTHROPIC_KEY"
    pol["models"] = {"claude-3-5-haiku-20241022": [
        {"provider": "anthropic", "model": "claude-3-5-haiku-20241022"},
        {"provider": "bedrock", "model": MODEL}]}
    gw.start(pol)
    gw.mock.fault("down", provider="anthropic")
    r = harness.run_client("anthropic_sdk", "anthropic", mode, "claude-3-5-haiku-20241022",
                           PROMPT, [f"x-mock-reply-words: {WORDS}"], hosts=gw.hosts,
                           ca=gw.ca_dir / "ca.pem", popen=gw.app.popen)
    assert r.ok and r.status == 200, r
    if mode == "stream":
        types = [e["type"] for e in r.body]
        assert types[0] == "message_start" and types[-1] == "message_stop", types
        n_in = r.body[0]["message"]["usage"]["input_tokens"]
        n_out = [e for e in r.body if e["type"] == "message_delta"][-1]["usage"]["output_tokens"]
    else:
        n_in, n_out = r.body["usage"]["input_tokens"], r.body["usage"]["output_tokens"]
    assert n_out > 0  # the mock's own count: the app's x-mock-* header stays with Anthropic
    seen = gw.mock.requests()
    assert {(x["path"], x["status"]) for x in seen[:-1]} == {("/v1/messages", 503)}, seen
    op = "invoke-with-response-stream" if mode == "stream" else "invoke"
    assert (seen[-1]["path"], seen[-1]["status"]) == (
        f"/model/{MODEL.replace(':', '%3A')}/{op}", 200), seen
    assert f"Credential={GW_ID}/" in seen[-1]["authorization"], seen
    body = json.loads(seen[-1]["body"])
    assert "model" not in body and body["anthropic_version"] == "bedrock-2023-05-31", body
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    assert rec["aigw.fallback"] is True and rec["aigw.upstream.model"] == MODEL, rec
    assert rec["gen_ai.usage.input_tokens"] == n_in, rec
    assert rec["gen_ai.usage.output_tokens"] == n_out, rec
    check_cost(gw, rec, usd(PRICE, n_in, n_out))


def replay_text(gw, op, body):
    """The text and (input, output) counts the mock answers BODY with when boto3 sends it as
    it is to the same path: the reference for a translated call (same path and body, same
    answer)."""
    r = run_boto3(gw, op, env={"INVOKE_BODY": body}, words=MOCK_DEFAULT_WORDS)
    assert r["status"] == 200 and not r["error"], r
    if op == "invoke_model":
        return r["body"]["content"][0]["text"], usage_of(op, r["body"])
    text = "".join(e["delta"]["text"] for e in r["body"] if e["type"] == "content_block_delta")
    return text, usage_of(op, r["body"])


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_openai_sdk_falls_back_to_claude_on_bedrock(gw, monkeypatch, mode):
    """OpenAI is down: the openai SDK's chat completion (a logical name) is translated into
    Anthropic's Messages and served by Claude on Bedrock's InvokeModel (streamed: invoke-with-
    response-stream, its chunks' Anthropic events translated into chat.completion.chunk), signed
    with the gateway's AWS key; the app gets exactly the text and counts Bedrock answered, the
    record Bedrock's price. The app's key reaches no provider."""
    sys.path.insert(0, str(HERE / "clients"))
    import harness
    monkeypatch.setenv("AIGW_TEST_OPENAI_KEY", "sk-openai-gateway")
    pol = bedrock(gw, monkeypatch)
    pol["providers"]["openai"]["key_env"] = "AIGW_TEST_OPENAI_KEY"
    pol["models"] = {"fast-summary": [{"provider": "openai", "model": "gpt-4o-mini"},
                                      {"provider": "bedrock", "model": MODEL}]}
    gw.start(pol)
    gw.mock.fault("down", provider="openai")
    r = harness.run_client("openai_sdk", "openai", mode, "fast-summary", PROMPT, hosts=gw.hosts,
                           ca=gw.ca_dir / "ca.pem", popen=gw.app.popen)
    assert r.ok and r.status == 200, r
    if mode == "stream":
        chunks = r.objects()
        assert all(c["object"] == "chat.completion.chunk" for c in chunks), chunks
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
        finish = [c["choices"][0].get("finish_reason") for c in chunks[:-1]]
        assert finish[-1] == "stop" and not any(finish[:-1]), finish
        assert chunks[-1]["choices"] == [], chunks[-1]  # the usage chunk the SDK asked for
        u = chunks[-1]["usage"]
    else:
        assert r.body["object"] == "chat.completion", r.body
        text, u = r.body["choices"][0]["message"]["content"], r.body["usage"]
        assert r.body["choices"][0]["finish_reason"] == "stop", r.body
    n_in, n_out = u["prompt_tokens"], u["completion_tokens"]
    assert u["total_tokens"] == n_in + n_out, u
    seen = gw.mock.requests()
    assert {(x["path"], x["status"]) for x in seen[:-1]} == {("/v1/chat/completions", 503)}
    op = "invoke-with-response-stream" if mode == "stream" else "invoke"
    assert (seen[-1]["path"], seen[-1]["status"]) == (
        f"/model/{MODEL.replace(':', '%3A')}/{op}", 200), seen
    assert f"Credential={GW_ID}/" in seen[-1]["authorization"], seen
    assert harness.OPENAI_KEY not in json.dumps(seen)
    body = json.loads(seen[-1]["body"])
    assert "model" not in body and "stream" not in body, body
    assert body["anthropic_version"] == "bedrock-2023-05-31", body
    assert body["messages"][-1]["role"] == "user" and PROMPT in json.dumps(body["messages"])
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
    # what the same body gets from Bedrock, asked by boto3 itself
    ref_text, (ref_in, ref_out) = replay_text(
        gw, "invoke_model_with_response_stream" if mode == "stream" else "invoke_model",
        seen[-1]["body"])
    assert text == ref_text and (n_in, n_out) == (ref_in, ref_out), (text, ref_text, u)
    # the mock's counts (prompt words + 3), nothing added
    assert n_in == len(PROMPT.split()) + 3 and n_out == MOCK_DEFAULT_WORDS
    assert rec["gen_ai.system"] == "bedrock" and rec["aigw.upstream.model"] == MODEL, rec
    assert rec["aigw.fallback"] is True and rec["aigw.translated"] is True, rec
    assert rec["aigw.credential"] == "gateway" and rec["url.path"] == "/v1/chat/completions"
    assert rec["gen_ai.usage.input_tokens"] == n_in, rec
    assert rec["gen_ai.usage.output_tokens"] == n_out, rec
    if mode == "stream":
        assert rec["aigw.stream.end"] == "ok", rec
    check_cost(gw, rec, usd(PRICE, n_in, n_out))


def test_request_the_gateway_cannot_sign_is_refused_not_sent(gw, monkeypatch):
    """A target the gateway cannot sign with SigV4 (here a query with a malformed escape,
    which has no canonical form): nothing goes to Bedrock, unsigned or otherwise; the app
    gets a 502 saying why, naming no secret, and the record the reason."""
    gw.start(bedrock(gw, monkeypatch))
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": PROMPT}]}]})
    out = gw.curl(f"https://{HOST}/model/{MODEL.replace(':', '%3A')}/converse?x=%zz", body,
                  headers=[f"authorization: AWS4-HMAC-SHA256 Credential={APP_ID}/x"])
    assert out.returncode == 0, out.stderr
    text, status = out.stdout.rsplit("\n", 1)
    assert status == "502", out.stdout
    assert "cannot sign this request for bedrock with SigV4" in text, text
    assert GW_SECRET not in text and GW_ID not in text
    assert gw.mock.requests() == []
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["http.response.status_code"] == 502, rec
    assert "cannot sign this request" in rec["error.type"], rec
    assert rec["aigw.outcome"] == "no_target_available", rec
    audit = gw.world.audit_path.read_text()
    assert GW_SECRET not in audit and APP_ID not in audit


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_missing_aws_credential_refuses_to_start(gw, monkeypatch, secret):
    """The variable aws.secret_access_key_env names is unset, empty or only blanks: the
    gateway does not start (as for any provider key), rather than sign with an empty secret;
    the error names the variable, never a value."""
    pol = bedrock(gw, monkeypatch)
    if secret is None:
        monkeypatch.delenv("AIGW_TEST_AWS_SECRET")
    else:
        monkeypatch.setenv("AIGW_TEST_AWS_SECRET", secret)
    path = gw.world.write_policy(pol)
    r = subprocess.run(hosts_wrap(gw.hosts, [AIGW, "run", "--policy", str(path), "--pin-dir",
                                             str(gw.world.pin_dir)]),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stderr
    assert ("provider bedrock: no AWS credential in environment variable "
            "AIGW_TEST_AWS_SECRET") in r.stderr, r.stderr
    assert GW_ID not in r.stderr


@pytest.mark.parametrize("model,counts", [
    ("us.meta.llama3-1-8b-instruct-v1:0", "body"),     # Llama's own counts in its body
    ("mistral.mistral-7b-instruct-v0:2", "headers")])  # Mistral's body has none: the headers'
def test_other_family_invoke_usage_is_read_not_guessed(gw, monkeypatch, model, counts):
    """InvokeModel of a family other than Anthropic's: its usage read from its own body or,
    where that states none, AWS's count headers; recorded; unpriced, so the cost is null with
    the reason (never Anthropic's price or a guess)."""
    gw.start(bedrock(gw, monkeypatch))
    prompt = f"<s>[INST] {PROMPT} [/INST]"
    r = run_boto3(gw, "invoke_model", model=model,
                  env={"INVOKE_BODY": json.dumps({"prompt": prompt, "max_tokens": 64})})
    assert r["status"] == 200 and not r["error"], r
    n_in = len(prompt.split()) + 3
    if counts == "body":
        assert (r["body"]["prompt_token_count"], r["body"]["generation_token_count"]) == (
            n_in, WORDS), r
    else:
        assert "prompt_token_count" not in r["body"] and "usage" not in r["body"], r
        assert r["headers"]["x-amzn-bedrock-input-token-count"] == str(n_in), r
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["gen_ai.request.model"] == model, rec
    assert rec["gen_ai.usage.input_tokens"] == n_in, rec
    assert rec["gen_ai.usage.output_tokens"] == WORDS, rec
    assert rec["cost_usd"] is None, rec
    assert rec["aigw.cost.reason"] == f"no price for bedrock/{model}", rec


@pytest.mark.parametrize("enforce", [True, False])
def test_guarded_answers_are_never_an_unread_event_stream(gw, monkeypatch, enforce):
    """A workload whose answers its guardrails read cannot get an unread one by asking for
    Bedrock's event stream (binary frames the response guardrails do not read): refused before
    it is sent, naming the profile; converse, whose answer is read, is served. With
    "enforce": false the stream is served and recorded would_deny."""
    pol = bedrock(gw, monkeypatch)
    pol["guardrails"] = {"reader": {"response": {"pii": "redact"}, "enforce": enforce}}
    pol["workloads"][0]["guardrails"] = "reader"
    gw.start(pol)
    for op in ("converse_stream", "invoke_model_with_response_stream"):
        r = run_boto3(gw, op)
        rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
        assert rec["aigw.policy.stage"] == "guardrails", rec
        if enforce:
            assert r["status"] == 400, r
            assert "cannot read a Bedrock event stream" in r["error"], r
            assert rec["aigw.policy.action"] == "deny", rec
        else:
            assert r["status"] == 200, r
            assert rec["aigw.policy.action"] == "would_deny", rec
    assert len(gw.mock.requests()) == (0 if enforce else 2)
    r = run_boto3(gw, "converse")
    assert r["status"] == 200, r


def test_a_guarded_stream_in_roll_out_records_every_refusal(gw, monkeypatch):
    """With "enforce": false, a Bedrock event stream (answers the response guardrails cannot
    read) whose prompt holds what the request guardrails block breaks two rules of one name:
    the stream is served, and the record lists both would-be refusals, each with its reason.
    The event stream's was noted first and the stage stopped there: the blocked content went
    unrecorded."""
    pol = bedrock(gw, monkeypatch)
    pol["guardrails"] = {"reader": {"request": {"secrets": "block"},
                                    "response": {"pii": "redact"}, "enforce": False}}
    pol["workloads"][0]["guardrails"] = "reader"
    gw.start(pol)
    r = run_boto3(gw, "converse_stream", prompt=f"{PROMPT} with key AKIAIOSFODNN7EXAMPLE")
    assert r["status"] == 200 and not r["error"], r
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["aigw.outcome"] == "ok" and rec["aigw.policy.action"] == "would_deny", rec
    notes = [d for d in rec["aigw.policy.decisions"] if d["stage"] == "guardrails"]
    assert [(d["rule"], d["action"]) for d in notes] == [("guardrails.reader", "would_deny")] * 2
    assert 'request blocked by guardrail "aws_access_key"' in notes[0]["reason"], notes
    assert "cannot read a Bedrock event stream" in notes[1]["reason"], notes
    assert len(gw.mock.requests()) == 1
