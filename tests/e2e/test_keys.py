"""Gateway-held keys: the app's key is replaced by the gateway's for captured traffic (and
never reaches the provider or the log), unless its workload keeps its own keys."""
import json
import subprocess

from test_intercept import CHAT, split

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
A_BODY = json.dumps({"model": "claude-3-5-haiku-latest", "max_tokens": 16,
                     "messages": [{"role": "user", "content": "hi"}]})


def keyed_policy(gw, monkeypatch, own_keys=False):
    (gw.world.tmp / "openai.key").write_text("sk-gateway-openai\n")
    (gw.world.tmp / "openai.key").chmod(0o600)
    monkeypatch.setenv("AIGW_TEST_ANTHROPIC_KEY", "sk-ant-gateway")
    pol = gw.policy()
    pol["providers"]["openai"]["key_file"] = str(gw.world.tmp / "openai.key")
    pol["providers"]["anthropic"]["key_env"] = "AIGW_TEST_ANTHROPIC_KEY"
    pol["workloads"][0]["own_keys"] = own_keys
    return pol


def test_app_key_is_replaced_by_the_gateways(gw, monkeypatch):
    gw.start(keyed_policy(gw, monkeypatch))
    assert split(gw.curl(OPENAI, CHAT, headers=["authorization: Bearer sk-app-own"]))[1] == 200
    assert split(gw.curl(ANTHROPIC, A_BODY, headers=[
        "x-api-key: sk-ant-app-own", "anthropic-version: 2023-06-01"]))[1] == 200
    # The Anthropic SDK 1.x sends a bearer token: replaced all the same.
    assert split(gw.curl(ANTHROPIC, A_BODY, headers=[
        "authorization: Bearer sk-ant-app-sdk", "anthropic-version: 2023-06-01"]))[1] == 200
    log = gw.mock.requests()
    o = [x for x in log if x["provider"] == "openai"][-1]
    a = [x for x in log if x["provider"] == "anthropic"]
    assert o["authorization"] == "Bearer sk-gateway-openai"
    assert all(x["x_api_key"] == "sk-ant-gateway" and not x["authorization"] for x in a)
    text = gw.world.audit_path.read_text() + json.dumps(log)
    for secret in ("sk-app-own", "sk-ant-app-own", "sk-ant-app-sdk"):
        assert secret not in text
    from conftest import wait_for

    def request_records():
        return [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]

    recs = wait_for(lambda: len(request_records()) >= 3 and request_records(),
                    what="three request records")  # the audit writer is a thread of its own
    assert [x["aigw.credential"] for x in recs] == ["gateway"] * 3
    assert "sk-gateway-openai" not in gw.world.audit_path.read_text()
    assert "sk-ant-gateway" not in gw.world.audit_path.read_text()


def test_workload_with_own_keys_keeps_them(gw, monkeypatch):
    gw.start(keyed_policy(gw, monkeypatch, own_keys=True))
    assert split(gw.curl(OPENAI, CHAT, headers=["authorization: Bearer sk-app-own"]))[1] == 200
    assert gw.mock.requests()[-1]["authorization"] == "Bearer sk-app-own"
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["aigw.credential"] == "app"


def test_unreadable_key_refuses_to_start_without_showing_keys(gw, monkeypatch):
    pol = keyed_policy(gw, monkeypatch)
    pol["providers"]["openai"]["key_file"] = str(gw.world.tmp / "missing.key")
    path = gw.world.write_policy(pol)
    r = subprocess.run([*__import__("conftest").hosts_wrap(gw.hosts, [
        __import__("conftest").AIGW, "run", "--policy", str(path), "--pin-dir",
        str(gw.world.pin_dir)])], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "provider openai: no key in" in r.stderr and "missing.key" in r.stderr
    assert "sk-ant-gateway" not in r.stderr


def test_the_gateways_account_is_not_shown_to_the_app(gw, monkeypatch):
    """With the gateway's key, the provider's answer names the gateway's account (its
    organisation id): those headers are the gateway's, not the app's, and are left out."""
    gw.start(keyed_policy(gw, monkeypatch))
    r = gw.run_app(["curl", "-sS", "--http1.1", "-D", "-", "-o", "/dev/null", "-H",
                    "content-type: application/json", "--data-binary", CHAT, OPENAI])
    head = r.stdout.lower()
    assert head.startswith("http/1.1 200") and "x-request-id:" in head
    assert "openai-organization" not in head and "openai-project" not in head
    r = gw.run_app(["curl", "-sS", "--http1.1", "-D", "-", "-o", "/dev/null", "-H",
                    "content-type: application/json", "-H", "anthropic-version: 2023-06-01",
                    "--data-binary", A_BODY, ANTHROPIC])
    assert "anthropic-organization-id" not in r.stdout.lower()
    assert "request-id:" in r.stdout.lower()


def test_with_its_own_key_the_app_sees_its_own_account(gw, monkeypatch):
    gw.start(keyed_policy(gw, monkeypatch, own_keys=True))
    r = gw.run_app(["curl", "-sS", "--http1.1", "-D", "-", "-o", "/dev/null", "-H",
                    "content-type: application/json", "-H", "authorization: Bearer sk-app-own",
                    "--data-binary", CHAT, OPENAI])
    assert "openai-organization: mock-org" in r.stdout.lower()
