"""The explicit endpoint's UNIX socket (api.socket): a configured app on the same machine
calls the gateway over it with no key at all; the gateway names it by its cgroup (the
kernel's SO_PEERCRED pid, then that process's cgroup), as it names captured apps, and sends
the call on with the gateway's provider key."""
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


def test_a_caller_elsewhere_gets_its_cgroups_own_name(gw, monkeypatch):
    gw.start(socket_policy(gw, monkeypatch))
    assert split(call(gw, gw.world.outside, chat("fast-summary")))[1] == 200
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["aigw.cgroup.path"] == gw.world.outside.rel
    assert rec["aigw.workload"] == gw.world.outside.rel.rsplit("/", 1)[-1]


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
    text, code = split(call(gw, gw.app, None, path="/v1/nothing"))
    assert code == 404 and "serves" in json.loads(text)["error"]["message"]


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
