"""The intercepting proxy, end to end: unmodified clients in a captured cgroup call the
providers by name, aigw terminates TLS with a minted certificate, forwards to the (mock)
provider and streams the answer back; the audit log says who called what."""
import json

from conftest import OPENAI_ADDR

CHAT = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "Summarise the invoice run"}]})


def split(r):
    body, _, code = r.stdout.rpartition("\n")
    return body, int(code)


def test_captured_curl_gets_the_providers_answer(gw):
    gw.start()
    r = gw.curl("https://api.openai.com/v1/chat/completions", CHAT,
                headers=["authorization: Bearer sk-app"])
    assert r.returncode == 0, r.stderr
    body, code = split(r)
    ref, ref_code = split(gw.curl_direct("https://api.openai.com/v1/chat/completions", CHAT,
                                         headers=["authorization: Bearer sk-app"]))
    assert code == ref_code == 200
    assert body == ref  # byte for byte
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["gen_ai.request.model"] == "gpt-4o-mini"
    assert rec["gen_ai.system"] == "openai" and rec["aigw.workload"] == "billing"
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"
    assert rec["url.path"] == "/v1/chat/completions"
    assert rec["network.peer.address"] == OPENAI_ADDR
    assert rec["process.executable.name"] == "curl"
