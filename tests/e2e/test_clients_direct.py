# SPDX-License-Identifier: MIT
"""The legacy apps (tests/e2e/clients) against the mock providers directly, no aigw: the
reference that the tests through the gateway compare with.

One mockprov --deterministic serves TLS on harness.OPENAI_ADDR and ANTHROPIC_ADDR with the test
certificates of tests/mockprov/gen-certs.sh; each client runs in a private mount namespace whose
/etc/hosts maps api.openai.com and api.anthropic.com there, with the test CA in the standard
variables and nothing else telling it where to go. Each must get status 200 and the mock's
answer: the raw clients byte for byte what curl gets for the same request, the SDKs the same
objects (ids aside: they hash the request bytes) and so the same text and usage. Streams are
spaced by x-mock-chunk-delay-ms and must arrive spread over time. Without the CA variables every
client must fail the TLS handshake (no request reaches the mock).

Needs root (port 443, mount namespaces). The Node SDK tests skip when tests/e2e/clients/
node_modules is missing (`npm ci --prefix tests/e2e/clients`; scripts/setup.sh does it).

Run: /usr/bin/python3 -m pytest tests/e2e/test_clients_direct.py
"""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)")

MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5",
         "embeddings": "text-embedding-3-small"}
PROMPT = "Say hello to the legacy app, it says héllo back"
CHUNK_DELAY_MS = 50
REPLY_WORDS = 8
# Stream events with REPLY_WORDS words: at least 11 (OpenAI chat), so at least 10 delays.
MIN_SPREAD_MS = CHUNK_DELAY_MS * 10 / 2


class Setup:
    def __init__(self, mock, hosts, ca):
        self.mock, self.hosts, self.ca = mock, hosts, ca
        self.curl_cache = {}

    def curl(self, provider, mode, model, headers=(), body=None):
        k = (provider, mode, model, tuple(headers), body)
        if k not in self.curl_cache:
            self.curl_cache[k] = harness.curl(provider, mode, model, PROMPT, headers, ca=self.ca,
                                              hosts=self.hosts, body=body)
        return self.curl_cache[k]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clients-direct")
    certs = harness.gen_certs(tmp / "certs")
    hosts = harness.write_hosts(tmp / "hosts")
    mock = harness.MockProv(certs)
    try:
        yield Setup(mock, hosts, certs / "ca.pem")
    finally:
        mock.stop()


def model_of(provider, mode):
    return MODEL["embeddings"] if mode == "embeddings" else MODEL[provider]


def headers_of(mode):
    h = [f"x-mock-reply-words: {REPLY_WORDS}"]
    if mode in harness.STREAM_MODES:
        h.append(f"x-mock-chunk-delay-ms: {CHUNK_DELAY_MS}")
    return h


def skip_if_missing(client):
    why = harness.missing(client)
    if why:
        pytest.skip(why)


def case_id(case):
    return "-".join(case)


def check_logged(setup, since, provider, mode, model):
    """The mock saw the request at the real provider name with the client's key."""
    log = setup.mock.requests(since)
    assert log, "the mock logged no request"
    e = log[-1]
    assert e["host"] == harness.HOSTS[provider]
    assert e["path"] == harness.request_url(provider, mode).split(harness.HOSTS[provider])[1]
    assert e["model"] == model and e["tls"] and e["status"] == 200
    assert e["stream"] == (mode in harness.STREAM_MODES)
    if provider == "openai":
        assert e["authorization"] == f"Bearer {harness.OPENAI_KEY}"
    else:
        # the raw clients send x-api-key; @anthropic-ai/sdk 1.x sends Authorization: Bearer
        assert harness.ANTHROPIC_KEY in (e["x_api_key"], (e["authorization"] or "")[7:])
        assert e["anthropic_version"]


def check_spread(r):
    assert len(r.chunks) >= 5, f"too few chunks: {r.chunks}"
    assert r.first_ms < r.last_ms - MIN_SPREAD_MS, f"stream not spread: {r.chunks}"


RAW = [c for c in harness.cases() if not harness.CLIENTS[c[0]].parsed]
SDK = [c for c in harness.cases() if harness.CLIENTS[c[0]].parsed]


@pytest.mark.parametrize("case", RAW, ids=case_id)
def test_raw_client_gets_curls_bytes(setup, case):
    client, provider, mode = case
    skip_if_missing(client)
    model, headers = model_of(provider, mode), headers_of(mode)
    since = setup.mock.last_seq()
    r = harness.run_client(client, provider, mode, model, PROMPT, headers, hosts=setup.hosts,
                           ca=setup.ca)
    assert r.ok, r
    assert r.returncode == 0, r
    assert r.pid == r.popen_pid and r.chunks, r
    check_logged(setup, since, provider, mode, model)
    ref = setup.curl(provider, mode, model, headers)
    assert ref.status == 200, ref.text
    assert r.body == ref.text
    # the answer itself, as a test through the gateway will look at it
    a = r.answer()
    assert a.usage and (a.text or a.embedding)
    if a.text is not None:
        assert len(a.text.split()) == REPLY_WORDS
    if mode in harness.STREAM_MODES:
        check_spread(r)


@pytest.mark.parametrize("case", SDK, ids=case_id)
def test_sdk_client_gets_mocks_answer(setup, case):
    client, provider, mode = case
    skip_if_missing(client)
    model, headers = model_of(provider, mode), headers_of(mode)
    since = setup.mock.last_seq()
    r = harness.run_client(client, provider, mode, model, PROMPT, headers, hosts=setup.hosts,
                           ca=setup.ca)
    assert r.ok, r
    assert r.returncode == 0, r
    assert r.pid == r.popen_pid and r.chunks, r
    check_logged(setup, since, provider, mode, model)
    ref = setup.curl(provider, mode, model, headers)
    assert ref.status == 200, ref.text
    got, want = r.answer(), harness.answer(provider, mode, harness.objects_of(mode, ref.text))
    assert got.usage == want.usage
    if mode == "embeddings":
        # the SDK asks for base64 float32 and decodes it; curl got decimal text
        assert len(got.embedding) == len(want.embedding) == 1536
        assert all(abs(x - y) < 1e-6 for x, y in zip(got.embedding, want.embedding))
    else:
        assert got.text == want.text and len(got.text.split()) == REPLY_WORDS
        # the whole parsed reply equals what curl got, ids aside (and the SDK's output_text)
        objs = harness.strip_ids(r.objects())
        if mode == "responses":
            objs[0].pop("output_text", None)
        assert objs == harness.strip_ids(harness.objects_of(mode, ref.text))
    if mode in harness.STREAM_MODES:
        check_spread(r)


@pytest.mark.parametrize("client", list(harness.CLIENTS))
def test_client_without_ca_fails_tls(setup, client):
    """The CA variables are what makes the clients trust the mock: without them, no request."""
    skip_if_missing(client)
    provider = next(iter(harness.CLIENTS[client].providers))
    since = setup.mock.last_seq()
    r = harness.run_client(client, provider, "plain", MODEL[provider], PROMPT, hosts=setup.hosts,
                           ca=None, timeout=90)
    assert r.status is None and r.error, r
    assert r.returncode == 1, r
    assert any(w in r.error.lower() for w in ("cert", "ssl", "connection error")), r.error
    assert setup.mock.requests(since) == []
