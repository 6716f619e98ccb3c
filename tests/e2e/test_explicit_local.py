"""The explicit endpoint's UNIX socket (api.socket): a configured app on the same machine
calls the gateway over it with no key at all; the gateway names it by its cgroup (the
kernel's SO_PEERCRED pid, then that process's cgroup), as it names captured apps, and sends
the call on with the gateway's provider key. Only callers inside the captured cgroup are
served this way. Also the explicit endpoint's checks on api.listen."""
import json
import stat

from test_intercept import split
from test_routing import MODELS, chat, routed_policy


def socket_policy(gw, monkeypatch):
    pol = routed_policy(gw, monkeypatch)
    pol["api"] = {"socket": str(gw.world.tmp / "aigw-api.sock")}
    return pol


def call(gw, cgroup, body, path="/v1/chat/completions", headers=()):
    argv = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--unix-socket",
            str(gw.world.tmp / "aigw-api.sock"), "-H", "content-type: application/json"]
    for h in headers:
        argv += ["-H", h]
    if body is not None:
        argv += ["--data-binary", body]
    argv.append(f"http://localhost{path}")
    return cgroup.run(argv)


def test_a_local_caller_is_named_by_its_cgroup(gw, monkeypatch):
    gw.start(socket_policy(gw, monkeypatch))
    sock = gw.world.tmp / "aigw-api.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    text, code = split(call(gw, gw.app, chat("fast-summary"),
                            headers=["authorization: Bearer sk-app-whatever"]))
    assert code == 200, text
    assert json.loads(text)["object"] == "chat.completion"
    sent = gw.mock.requests()[-1]
    assert sent["authorization"] == "Bearer sk-gateway-openai" and sent["model"] == "gpt-4o-mini"
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["aigw.client.kind"] == "explicit"
    assert rec["aigw.workload"] == "billing" and rec["aigw.team"] == "finance"
    assert rec["aigw.cgroup.path"] == gw.app.rel
    assert rec["process.executable.name"] == "curl"
    assert "sk-app-whatever" not in gw.world.audit_path.read_text()


def test_the_socket_serves_anthropic_and_model_lists(gw, monkeypatch):
    gw.start(socket_policy(gw, monkeypatch))
    body = json.dumps({"model": "careful", "max_tokens": 32,
                       "messages": [{"role": "user", "content": "hi"}]})
    text, code = split(call(gw, gw.app, body, path="/v1/messages",
                            headers=["anthropic-version: 2023-06-01"]))
    assert code == 200 and json.loads(text)["type"] == "message", text
    text, code = split(call(gw, gw.app, None, path="/v1/models"))
    assert code == 200
    assert [m["id"] for m in json.loads(text)["data"]] == list(MODELS)
    # A path the endpoint allow-list refuses is refused as such (403) wherever it comes from;
    # one it allows that this endpoint does not serve is not found here (404).
    text, code = split(call(gw, gw.app, None, path="/v1/nothing"))
    assert code == 403 and "allow.endpoints" in json.loads(text)["error"]["message"], text
    text, code = split(call(gw, gw.app, None, path="/v1/models/gpt-4o-mini"))
    assert code == 404 and "serves" in json.loads(text)["error"]["message"], text


def test_the_socket_is_removed_at_exit(gw, monkeypatch):
    d = gw.start(socket_policy(gw, monkeypatch))
    d.stop()
    assert not (gw.world.tmp / "aigw-api.sock").exists()


def test_a_family_without_a_provider_is_answered_not_crashed(gw, monkeypatch):
    """A call at the explicit endpoint in an API family the policy has no dialable provider
    for gets a clear error in that API's format; the gateway goes on serving."""
    pol = socket_policy(gw, monkeypatch)
    del pol["providers"]["anthropic"]
    pol["models"] = {"fast-summary": [{"provider": "openai", "model": "gpt-4o-mini"}]}
    gw.start(pol)
    body = json.dumps({"model": "claude-x", "max_tokens": 8,
                       "messages": [{"role": "user", "content": "hi"}]})
    text, code = split(call(gw, gw.app, body, path="/v1/messages",
                            headers=["anthropic-version: 2023-06-01"]))
    assert code == 502
    err = json.loads(text)
    assert err["type"] == "error" and "no provider of this API" in err["error"]["message"]
    assert split(call(gw, gw.app, chat("fast-summary")))[1] == 200


def test_a_caller_without_a_key_is_refused_before_its_body(gw, monkeypatch):
    """On api.listen the key is checked on the request's head: no 100 Continue and none of
    the body is read for a caller the policy did not issue a key to."""
    import socket
    from conftest import free_port
    port = free_port()
    pol = routed_policy(gw, monkeypatch)
    pol["api"] = {"listen": f"127.0.0.1:{port}"}
    pol["workloads"][0]["api_keys"] = ["gw-key-billing-0123456789"]
    gw.start(pol)
    for auth in ("", "Authorization: Bearer not-a-key-we-issued-xx\r\n"):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n" + auth +
                   "Content-Type: application/json\r\nContent-Length: 30000000\r\n"
                   "Expect: 100-continue\r\n\r\n").encode())
        head = s.recv(65536).decode(errors="replace")
        s.close()
        assert head.startswith("HTTP/1.1 401 "), head
        assert "100 Continue" not in head and "gateway key" in head
    from conftest import wait_for

    def refused():
        return [r for r in gw.world.records() if r.get("event.name") == "proxy.request"]

    wait_for(lambda: len(refused()) == 2, what="two records")
    recs = refused()
    assert [r["aigw.outcome"] for r in recs] == ["unauthorized", "unauthorized"]
    assert all(r["http.request.body.size"] == 0 for r in recs)
    assert gw.mock.requests() == []


def test_a_caller_outside_the_captured_cgroup_is_refused(gw, monkeypatch):
    """Cgroup names outside the captured tree are not the policy's to vouch for (a user may
    create one named like any workload): such a caller is refused, and recorded."""
    gw.start(socket_policy(gw, monkeypatch))
    evil = gw.world.outside.child("billing-evil.service")
    r = call(gw, evil, chat("fast-summary"))
    assert r.returncode != 0 or not r.stdout.strip().endswith("200")
    rec = gw.world.wait_record(**{"event.name": "proxy.refused"})
    assert rec["aigw.reason"] == "outside_captured_cgroup"
    assert rec["aigw.cgroup.path"] == evil.rel and rec["process.pid"] > 0
    assert gw.mock.requests() == []
    assert not [r for r in gw.world.records() if r.get("event.name") == "proxy.request"]


def test_a_second_daemon_does_not_steal_a_live_socket(gw, monkeypatch, tmp_path):
    import subprocess
    from conftest import AIGW, hosts_wrap
    pol = socket_policy(gw, monkeypatch)
    gw.start(pol)
    other = dict(pol, capture=dict(pol["capture"], listen="127.0.0.1:1",
                                   listen6="[::1]:1"))
    path = gw.world.write_policy(other, "other.json")
    r = subprocess.run(hosts_wrap(gw.hosts, [AIGW, "run", "--policy", str(path), "--pin-dir",
                                             str(tmp_path / "pins")]),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "served by another process" in r.stderr + r.stdout
    assert split(call(gw, gw.app, chat("fast-summary")))[1] == 200
