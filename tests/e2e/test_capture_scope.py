"""Capture scope, end to end: under "tls" (the default) every captured TCP connection to a TLS
port goes to the proxy whatever its address, and the ClientHello decides; under "providers"
only the provider addresses the daemon resolved are captured. A hostile workload dials an edge
address of the provider that the daemon never resolved, and other sites on loopback."""
import json
import secrets
import socket
import ssl
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import OPENAI_ADDR, Gateway, Mock, ThreadedServer, hosts_wrap  # noqa: E402
from test_intercept import CHAT, split  # noqa: E402

# Another edge of the (mock) provider: it serves api.openai.com with the same certificate, but
# the daemon's /etc/hosts names only OPENAI_ADDR, so it is no provider address to capture.
EDGE = OPENAI_ADDR.rsplit(".", 1)[0] + ".24"
# A site that is no provider: the test's own TLS server.
SITE = OPENAI_ADDR.rsplit(".", 1)[0] + ".25"
URL = "https://api.openai.com/v1/chat/completions"


@pytest.fixture
def edge(world, mock_certs):
    """The gateway world with the mock also served on EDGE; the gateway holds an OpenAI key."""
    g = Gateway(world, mock_certs)
    try:
        g.mock.stop()
        g.mock = Mock(mock_certs, world.tmp / "mock-edge.log", extra=("--listen", f"{EDGE}:443"))
        key = world.tmp / "openai.key"
        key.write_text("sk-gateway-openai\n")
        key.chmod(0o600)
        yield g
    finally:
        g.stop()


def edge_policy(g, **capture):
    pol = g.policy(capture=capture) if capture else g.policy()
    pol["providers"]["openai"]["key_file"] = str(g.world.tmp / "openai.key")
    return pol


def trust_both(g):
    """What a workload trusts: the gateway's CA (installed for it) and the provider's own (the
    mock's CA stands for the public one a real provider's certificate chains to)."""
    bundle = g.world.tmp / "trust.pem"
    bundle.write_text((g.ca_dir / "ca.pem").read_text() + (g.certs / "ca.pem").read_text())
    return str(bundle)


def curl_edge(g):
    return g.run_app(["curl", "-sS", "--http1.1", "-o", "-", "-w", "\n%{http_code}",
                      "--cacert", trust_both(g), "--resolve", f"api.openai.com:443:{EDGE}",
                      "-H", "authorization: Bearer sk-app-own",
                      "-H", "content-type: application/json", "--data-binary", CHAT, URL])


def requests_of(g, what):
    return [x for x in g.world.records() if x.get("event.name") == what]


def test_edge_address_the_daemon_never_resolved_bypasses_scope_providers(edge):
    """The bypass, as it stays under "providers": the app's own key reaches the provider and
    nothing is recorded."""
    edge.start(edge_policy(edge, scope="providers"))
    body, code = split(curl_edge(edge))
    assert code == 200 and "chat.completion" in body
    assert edge.mock.requests()[-1]["authorization"] == "Bearer sk-app-own"
    assert requests_of(edge, "proxy.request") == []
    assert not [x for x in edge.world.records() if x.get("server.address") == EDGE]


def test_edge_address_the_daemon_never_resolved_is_intercepted(edge):
    """Default scope "tls": the provider's name in the ClientHello is enough. Intercepted,
    attributed, the key swapped for the gateway's, recorded."""
    edge.start(edge_policy(edge))
    body, code = split(curl_edge(edge))
    assert code == 200 and "chat.completion" in body
    assert edge.mock.requests()[-1]["authorization"] == "Bearer sk-gateway-openai"
    rec = edge.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["gen_ai.system"] == "openai" and rec["aigw.workload"] == "billing"
    assert rec["network.peer.address"] == EDGE
    assert rec["aigw.credential"] == "gateway"
    assert rec["process.executable.name"] == "curl"
    red = edge.world.wait_record(**{"event.name": "capture.redirect", "server.address": EDGE})
    assert red["aigw.reason"] == "tls_port" and red["server.port"] == 443
    assert "gen_ai.system" not in red  # not a provider address: the ClientHello said so
    assert "sk-app-own" not in edge.world.audit_path.read_text()


def test_openai_sdk_at_an_edge_address_is_intercepted(edge):
    """The official openai npm SDK, its resolver pointing at the edge the daemon never saw."""
    why = harness.missing("openai_sdk")
    if why:
        pytest.skip(why)
    edge.start(edge_policy(edge))
    hosts = edge.world.tmp / "edge-hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{EDGE} api.openai.com\n")
    env = dict(edge.env(), OPENAI_API_KEY="sk-app-sdk", NODE_EXTRA_CA_CERTS=trust_both(edge),
               SDK_MAX_RETRIES="0")
    argv = [*harness.CLIENTS["openai_sdk"].argv, "openai", "plain", "gpt-4o-mini", "hi"]
    r = edge.app.run(hosts_wrap(hosts, argv), env=env, timeout=60)
    out = json.loads(r.stdout)
    assert out["status"] == 200, out
    assert edge.mock.requests()[-1]["authorization"] == "Bearer sk-gateway-openai"
    rec = edge.world.wait_record(**{"event.name": "proxy.request", "process.pid": out["pid"]})
    assert rec["network.peer.address"] == EDGE and rec["aigw.workload"] == "billing"


class TlsSite(ThreadedServer):
    """A small HTTPS site on SITE:443 that is no provider: answers each request with a fixed
    random body and keeps the request bytes it read."""

    def __init__(self, certs):
        self.body = secrets.token_hex(512).encode()
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(certs / "server.pem"), str(certs / "server.key"))
        self.seen = []
        self.snis = []
        self.ctx.sni_callback = lambda s, name, c: self.snis.append(name) and None
        self.serve(socket.create_server((SITE, 443)))

    def on_conn(self, c):
        try:
            c.settimeout(10)
            with self.ctx.wrap_socket(c, server_side=True) as s:
                req = b""
                while b"\r\n\r\n" not in req:
                    d = s.recv(4096)
                    if not d:
                        return
                    req += d
                self.seen.append(req)
                s.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                          b"content-length: %d\r\nconnection: close\r\n\r\n" % len(self.body)
                          + self.body)
        except OSError:
            pass


@pytest.fixture
def site(gw, mock_certs):
    s = TlsSite(mock_certs)
    try:
        yield s
    finally:
        s.close()


def curl_site(gw, name, path="/download", trust=None):
    """A captured curl to SITE under NAME, trusting only the site's own CA: a minted
    certificate would fail. TRUST: other options instead, like ["-k"]."""
    return gw.run_app(["curl", "-sS", "-m", "10", "--http1.1", "-o", "-",
                       *(trust or ["--cacert", str(gw.certs / "ca.pem")]),
                       "--resolve", f"{name}:443:{SITE}", f"https://{name}{path}"])


def test_other_site_on_a_tls_port_passes_through_untouched_and_recorded(gw, site):
    gw.start()
    r = curl_site(gw, "localhost")
    assert r.returncode == 0, r.stderr
    assert r.stdout.encode() == site.body  # byte for byte, the site's own certificate
    assert site.snis == ["localhost"] and len(site.seen) == 1
    assert site.seen[0].startswith(b"GET /download HTTP/1.1\r\nHost: localhost\r\n")
    rec = gw.world.wait_record(**{"event.name": "proxy.connection",
                                  "tls.client.server_name": "localhost"})
    assert rec["aigw.disposition"] == "passthrough"
    assert rec["server.address"] == SITE and rec["server.port"] == 443
    assert rec["aigw.workload"] == "billing"
    assert rec["aigw.bytes_received"] > len(site.body)  # TLS records around it
    assert "aigw.fronting" not in rec and "gen_ai.system" not in rec
    assert "aigw.ai_service" not in rec
    red = gw.world.wait_record(**{"event.name": "capture.redirect", "server.address": SITE})
    assert red["aigw.reason"] == "tls_port"
    assert requests_of(gw, "proxy.request") == []


def test_no_sni_to_another_site_passes_through_recorded(gw, site):
    """Fronting is about provider addresses; an address in the URL elsewhere is a site."""
    gw.start()
    r = gw.run_app(["curl", "-sS", "-m", "10", "--http1.1", "-o", "-", "-k",
                    f"https://{SITE}/download"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.encode() == site.body
    rec = gw.world.wait_record(**{"event.name": "proxy.connection", "server.address": SITE})
    assert rec["aigw.disposition"] == "passthrough"
    assert "tls.client.server_name" not in rec and "aigw.fronting" not in rec


def test_ai_service_elsewhere_is_recorded_and_refused_when_policy_says(gw, site):
    gw.start()
    r = curl_site(gw, "api.mistral.ai", "/v1/models", trust=["-k"])  # not in its certificate
    assert r.returncode == 0, r.stderr
    rec = gw.world.wait_record(**{"event.name": "proxy.connection",
                                  "tls.client.server_name": "api.mistral.ai"})
    assert rec["aigw.ai_service"] == "Mistral AI" and rec["aigw.disposition"] == "passthrough"
    assert "aigw.fronting" not in rec
    gw.world.daemons[-1].stop()
    gw.start(gw.policy(capture={"unsanctioned_ai": "deny"}))
    before = len(site.snis)
    r = curl_site(gw, "api.mistral.ai", "/v1/models", trust=["-k"])
    assert r.returncode != 0
    rec = gw.world.wait_record(**{"event.name": "proxy.refused",
                                  "aigw.reason": "unsanctioned_ai"})
    assert rec["aigw.ai_service"] == "Mistral AI" and rec["server.address"] == SITE
    assert len(site.snis) == before  # never reached the site


def test_bad_scope_and_tls_ports_get_precise_errors(world):
    def check(capture):
        bad = world.tmp / "bad.json"
        bad.write_text('{\n  "capture": {"cgroup": "/apps", ' + capture + '},\n'
                       '  "audit": {"path": "/tmp/a.jsonl"},\n'
                       '  "providers": {"openai": {"hosts": ["api.openai.com"]}}\n}\n')
        r = world.aigw("policy", "check", str(bad))
        assert r.returncode == 1
        return r.stderr.replace(str(bad), "p.json")

    err = check('"scope": "everything",\n              "tls_ports": [443, 0, 443]')
    assert 'p.json:2:43: capture.scope: got "everything"; expected "tls" or "providers"' in err
    assert "p.json:3:34: capture.tls_ports[1]: got 0; expected a port 1..65535" in err
    assert "p.json:3:37: capture.tls_ports[2]: got 443, given twice" in err
    err = check('"listen": "127.0.0.1:8443",\n              "tls_ports": [443, 8443]')
    assert "p.json:3:28: capture.tls_ports: port 8443 is also capture.listen's" in err
    r = world.aigw("run", "--policy", str(world.tmp / "bad.json"), "--pin-dir",
                   str(world.pin_dir))
    assert r.returncode != 0 and not world.pin_dir.exists()
