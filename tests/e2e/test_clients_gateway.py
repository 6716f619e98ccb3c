"""The legacy apps through aigw: each real client (curl aside: Node fetch, the official openai
and @anthropic-ai/sdk SDKs, Python urllib and requests), unmodified, in a captured cgroup,
calls the providers by name. Each gets the mock's answer byte for byte (the SDKs: the same
objects), streams arrive spread out (so the proxy did not buffer them), and each call is in
the audit log with the right workload, pid and model."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import ANTHROPIC_ADDR, OPENAI_ADDR, World, wait_for  # noqa: E402
from test_clients_direct import (MODEL, PROMPT, REPLY_WORDS, case_id, check_spread,  # noqa: E402
                                 headers_of, model_of, skip_if_missing)

ADDR = {"openai": OPENAI_ADDR, "anthropic": ANTHROPIC_ADDR}


class Through:
    def __init__(self, tmp):
        self.world = World(tmp)
        certs = harness.gen_certs(tmp / "certs")
        self.mock_ca = certs / "ca.pem"
        self.mock = harness.MockProv(certs, listen=(f"{OPENAI_ADDR}:443", f"{ANTHROPIC_ADDR}:443"))
        self.hosts = harness.write_hosts(tmp / "hosts", {"api.openai.com": OPENAI_ADDR,
                                                         "api.anthropic.com": ANTHROPIC_ADDR})
        pol = self.world.policy()
        pol["providers"] = {"openai": {"hosts": ["api.openai.com"]},
                            "anthropic": {"hosts": ["api.anthropic.com"]}}
        pol["ca"] = {"dir": str(tmp / "ca")}
        pol["tls"] = {"upstream_ca": str(self.mock_ca)}
        self.daemon = self.world.start(pol, netns_hosts=self.hosts)
        self.ca = tmp / "ca" / "ca.pem"
        self.app = self.world.root.child("support.service")
        self.refs = {}

    def reference(self, provider, mode, model, headers):
        k = (provider, mode, model, tuple(headers))
        if k not in self.refs:
            self.refs[k] = harness.curl(provider, mode, model, PROMPT, headers, ca=self.mock_ca,
                                        resolve=ADDR[provider])
        return self.refs[k]

    def record_of(self, pid):
        return self.world.wait_record(**{"event.name": "proxy.request", "process.pid": pid})

    def close(self):
        try:
            self.daemon.stop()
        finally:
            self.mock.stop()
            self.world.teardown()


@pytest.fixture(scope="module")
def through(tmp_path_factory):
    t = Through(tmp_path_factory.mktemp("through-gateway"))
    try:
        yield t
    finally:
        t.close()


def run(through, client, provider, mode):
    model, headers = model_of(provider, mode), headers_of(mode)
    r = harness.run_client(client, provider, mode, model, PROMPT, headers, hosts=through.hosts,
                           ca=through.ca, popen=through.app.popen)
    assert r.ok and r.returncode == 0, r
    return r, model, headers


def check_record(through, r, provider, mode, model):
    rec = through.record_of(r.pid)
    assert rec["aigw.workload"] == "support.service"
    assert rec["aigw.cgroup.path"] == through.app.rel
    assert rec["gen_ai.system"] == provider and rec["gen_ai.request.model"] == model
    assert rec["aigw.stream"] == (mode in harness.STREAM_MODES)
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"


RAW = [c for c in harness.cases() if not harness.CLIENTS[c[0]].parsed]
SDK = [c for c in harness.cases() if harness.CLIENTS[c[0]].parsed]


@pytest.mark.parametrize("case", RAW, ids=case_id)
def test_raw_client_through_gateway_gets_the_same_bytes(through, case):
    client, provider, mode = case
    skip_if_missing(client)
    r, model, headers = run(through, client, provider, mode)
    ref = through.reference(provider, mode, model, headers)
    assert ref.status == 200
    assert r.body == ref.text  # byte for byte what the provider sent
    if mode in harness.STREAM_MODES:
        check_spread(r)
    check_record(through, r, provider, mode, model)


@pytest.mark.parametrize("case", SDK, ids=case_id)
def test_sdk_through_gateway_gets_the_same_answer(through, case):
    client, provider, mode = case
    skip_if_missing(client)
    r, model, headers = run(through, client, provider, mode)
    ref = through.reference(provider, mode, model, headers)
    got, want = r.answer(), harness.answer(provider, mode, harness.objects_of(mode, ref.text))
    assert got.usage == want.usage
    if mode == "embeddings":
        assert all(abs(x - y) < 1e-6 for x, y in zip(got.embedding, want.embedding))
    else:
        assert got.text == want.text and len(got.text.split()) == REPLY_WORDS
        objs = harness.strip_ids(r.objects())
        if mode == "responses":
            objs[0].pop("output_text", None)
        assert objs == harness.strip_ids(harness.objects_of(mode, ref.text))
    if mode in harness.STREAM_MODES:
        check_spread(r)
    check_record(through, r, provider, mode, model)


def test_streaming_chunks_reach_the_client_before_the_upstream_stream_ends(through):
    """Timestamps on both sides: the client has its first event while the provider is still
    sending (the mock logs when each stream ended)."""
    r, model, _ = run(through, "node_fetch", "openai", "stream")
    rec = through.record_of(r.pid)
    # ttfb is when the client got the head and first event; the whole stream took longer
    assert rec["aigw.ttfb_ms"] + 200 < rec["aigw.latency_ms"], rec
    assert r.first_ms + 200 < r.last_ms


def test_audit_log_verifies_after_all_the_clients(through):
    wait_for(lambda: len(through.world.records()) > 5, what="records")
    assert through.daemon.proc.poll() is None  # the daemon served every client and lives on
    r = through.world.aigw("audit", "verify", str(through.world.audit_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "chain intact" in r.stdout
