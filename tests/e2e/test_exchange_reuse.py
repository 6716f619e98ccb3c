"""Calls on one kept-alive connection, one after another or pipelined in one write: the
proxy reuses an ended call's buffers for the next one, and nothing of a call (its body, its
answer, its reason phrase) reaches the provider, the app or the log with another. A hostile
app sends a large call first so that anything left of it would show in the small one after."""
import json

import pytest

from conftest import OPENAI_ADDR, PYTHON, wait_for

CLIENT = r"""
import json, socket, ssl, sys
calls, pipelined, cafile = json.loads(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
s = ctx.wrap_socket(socket.create_connection((sys.argv[4], 443), timeout=20),
                    server_hostname="api.openai.com")
f = s.makefile("rb")

def request(c):
    body = c["body"].encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in c["headers"].items())
    return (f"POST /v1/chat/completions HTTP/1.1\r\nhost: api.openai.com\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n{head}\r\n"
            ).encode() + body

def response():
    status = f.readline().decode().rstrip("\r\n")
    headers = {}
    while True:
        line = f.readline().decode().rstrip("\r\n")
        if not line:
            break
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            n = int(f.readline().split(b";")[0], 16)
            body += f.read(n)
            f.readline()
            if not n:
                break
    else:
        body = f.read(int(headers.get("content-length", "0")))
    return {"status": status, "headers": headers, "body": body.decode()}

out = []
if pipelined:
    s.sendall(b"".join(request(c) for c in calls))
    out = [response() for _ in calls]
else:
    for c in calls:
        s.sendall(request(c))
        out.append(response())
print(json.dumps(out))
"""


def calls():
    big = "A" * 60000
    return [
        {"body": json.dumps({"model": "gpt-4o", "max_tokens": 3000,
                             "messages": [{"role": "user", "content": "first " + big}]}),
         "headers": {"x-mock-reply-words": "2000"}},
        {"body": json.dumps({"model": "gpt-4o-mini",
                             "messages": [{"role": "user", "content": "second call"}]}),
         "headers": {"x-mock-reply-echo": "1"}},
        {"body": json.dumps({"model": "gpt-4.1-nano", "stream": True,
                             "messages": [{"role": "user", "content": "third call"}]}),
         "headers": {"x-mock-reply-echo": "1"}},
        {"body": "not json at all", "headers": {}},
    ]


@pytest.mark.parametrize("pipelined", [False, True], ids=["one_by_one", "pipelined"])
def test_a_call_carries_nothing_of_the_one_before(gw, pipelined):
    gw.start()
    sent = calls()
    r = gw.run_app([PYTHON, "-c", CLIENT, json.dumps(sent), "1" if pipelined else "0",
                    str(gw.ca_dir / "ca.pem"), OPENAI_ADDR], timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert [x["status"].split(" ", 1)[1] for x in got[:3]] == ["200 OK"] * 3
    first, second, third = (got[0]["body"], got[1]["body"], got[2]["body"])
    assert json.loads(first)["model"] == "gpt-4o"
    answer = json.loads(second)
    assert answer["model"] == "gpt-4o-mini"
    assert answer["choices"][0]["message"]["content"] == "second call"
    assert "data:" in third
    assert "first" not in third and "A" * 100 not in second + third

    # The provider got each body as it was sent, and nothing more.
    def chat_bodies():
        return [x for x in gw.mock.requests() if x["path"] == "/v1/chat/completions"]

    reqs = wait_for(lambda: len(chat_bodies()) >= 3 and chat_bodies(),
                    what="three calls at the provider")
    got_bodies = [x["body"] for x in reqs]
    assert not any(x.get("body_truncated") for x in reqs[:2])
    assert got_bodies[:2] == [sent[0]["body"], sent[1]["body"]]  # byte for byte
    third_sent = json.loads(got_bodies[2])  # stream_options added: the usage is asked for
    assert third_sent["messages"] == json.loads(sent[2]["body"])["messages"]

    def records():
        return [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]

    recs = wait_for(lambda: len(records()) >= 4 and records(), what="four request records")
    assert [x.get("gen_ai.request.model") for x in recs[:3]] == \
        ["gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"]
    assert len({x["aigw.request_id"] for x in recs}) == 4
    assert len({x["aigw.connection_id"] for x in recs}) == 1
    assert recs[1]["gen_ai.usage.output_tokens"] < recs[0]["gen_ai.usage.output_tokens"]
    assert "gen_ai.request.model" not in recs[3] or recs[3]["gen_ai.request.model"] in ("", None)
