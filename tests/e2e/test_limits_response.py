"""What the gateway holds of answers counts against buffer_bytes: a captured app that asks for
large answers and never reads them cannot make the daemon swell, an answer that must be held
whole (checked by the guardrails) past the cap ends with a clear error and a record, and the
workload's neighbours are served meanwhile."""
import json
import subprocess
import time

import pytest

from conftest import OPENAI_ADDR, PYTHON, hosts_wrap, wait_for
from test_intercept import split
from test_limits import (KEY, MIB, OPENAI_CHAT, capped_policy, plain_daemon, proc_status_bytes,
                         request_records)
from test_routing import chat

# A captured app: N connections to the provider, each asking for a large stream that it
# never reads (a tiny receive buffer, so the kernel holds little of it either).
NEVER_READS = """
import json, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                   "messages": [{"role": "user", "content": "Tell it all."}]}).encode()
head = ("POST /v1/chat/completions HTTP/1.1\\r\\nHost: api.openai.com\\r\\n"
        "Authorization: Bearer sk-app\\r\\nContent-Type: application/json\\r\\n"
        "x-mock-reply-words: " + sys.argv[3] + "\\r\\nx-mock-delta-bytes: 16384\\r\\n"
        "Content-Length: %d\\r\\n\\r\\n" % len(body)).encode()
held = []
for _ in range(int(sys.argv[2])):
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(30)
    raw.connect(("api.openai.com", 443))
    s = ctx.wrap_socket(raw, server_hostname="api.openai.com")
    s.sendall(head + body)
    held.append(s)
print("sent", flush=True)
sys.stdin.read()
"""


def vm_rss(pid):
    return proc_status_bytes(pid, "VmRSS")


def stalled_upstreams():
    """The daemon's connections to the mock provider with bytes it has not read (Recv-Q)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dst {OPENAI_ADDR} )"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if int(line.split()[0]) > 0)


def upstream_sockets():
    """ss's lines for the connections between the daemon and the mock OpenAI, both ends."""
    return subprocess.run(["ss", "-Htnp", "state", "established",
                           f"( dst {OPENAI_ADDR} or src {OPENAI_ADDR} )"],
                          capture_output=True, text=True, check=True).stdout


def mock_calls_read(gw):
    """How many calls the mock has read, or 0 while it is too busy making answers to tell
    (its control port answers between them, not within 5 s)."""
    try:
        return len(gw.mock.requests())
    except OSError:  # TimeoutError, URLError
        return 0


def upstream_queues():
    """Bytes queued on the connections between the daemon and the mock OpenAI, both ends
    (Recv-Q and Send-Q of each socket)."""
    return sum(int(f[0]) + int(f[1]) for f in (line.split() for line in
                                                upstream_sockets().splitlines()))


def settled(sample, quiet_s=0.3):
    """A predicate for wait_for: true once sample() has held one value for quiet_s."""
    seen = {"value": None, "since": 0.0}

    def pred():
        v, now = sample(), time.monotonic()
        if v != seen["value"]:
            seen.update(value=v, since=now)
        return now - seen["since"] >= quiet_s
    return pred


def test_an_app_that_never_reads_its_answers_holds_no_more_than_its_buffer_bytes(gw, monkeypatch):
    """billing opens 32 connections asking for 6 MB streams the mock sends as fast as it can,
    and reads none of them. The gateway stops reading each answer from the provider once the
    workload's limits.buffer_bytes (2 MiB) is passed: the daemon's resident memory grows by
    the cap and one read-ahead a call, not by what each call could queue (1 MiB and the
    upstream socket's contents before). reports, captured beside it, is served within a
    second meanwhile."""
    measured = plain_daemon(monkeypatch)
    pol, _ = capped_policy(gw, monkeypatch)
    pol["workloads"][0]["limits"] = {"buffer_bytes": 2 * MIB}
    d = gw.start(pol)
    pid = d.proc.pid
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                               headers=["authorization: Bearer sk-app"]))
    assert code == 200, body
    base = vm_rss(pid)
    n = 32
    app = gw.app.popen(hosts_wrap(gw.hosts, [PYTHON, "-c", NEVER_READS,
                                             str(gw.ca_dir / "ca.pem"), str(n), "1000000"]),
                       stdin=subprocess.PIPE)
    try:
        assert app.stdout.readline().strip() == "sent"
        # the mock (one thread, ~0.1 s an answer here) has read every call, the gateway has
        # stopped reading each answer, and the mock has written all the sockets take: nothing
        # moves any more. Timing reports before that timed the mock's work too: with only
        # the second condition the mock was seen still reading calls seconds later, and a CI
        # run's reports call took 2.9 s.
        try:
            wait_for(lambda: mock_calls_read(gw) >= n + 1, timeout=60,
                     what="the mock to have read every call")
            wait_for(lambda: stalled_upstreams() >= n, timeout=60,
                     what="the gateway holding back every answer")
            wait_for(settled(upstream_queues), timeout=60, step=0.1,
                     what="the answers' bytes to stop moving")
        except AssertionError as e:  # what each end holds, to tell who stopped
            raise AssertionError(f"{e}; {mock_calls_read(gw)} calls read by the mock; "
                                 f"sockets:\n{upstream_sockets()}") from None
        grown = vm_rss(pid) - base
        print(f"RSS grew {grown / MIB:.1f} MiB with {n} answers unread")
        # reports is served meanwhile, the fastest of three calls within a second: a gateway
        # that starved it would make every call slow, and a single call also timed whatever
        # else the machine ran at that moment (one failed so beside a fuzzer, its cause unseen)
        reports = gw.world.root.child("reports.service")
        took = []
        for _ in range(3):
            t0 = time.monotonic()
            body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                                       headers=["authorization: Bearer sk-app"], cgroup=reports))
            took.append(time.monotonic() - t0)
            assert code == 200, (code, body)
        print(f"reports served in {', '.join(f'{t:.3f}' for t in took)} s")
        assert min(took) < 1.0, took
        if measured:
            # the cap, a read-ahead (256 KiB) and a TLS record or two a call, and slack
            assert grown <= 2 * MIB + n * 320 * 1024 + 8 * MIB, f"RSS grew {grown / MIB:.0f} MiB"
    finally:
        app.stdin.close()
        app.kill()
        app.wait(timeout=10)
    wait_for(lambda: stalled_upstreams() == 0, timeout=20, what="the calls ended")


GUARDED = {"response": {"pii": "redact"}}


def guarded_policy(gw, monkeypatch, enforce=True):
    """billing's answers pass its guardrails (held whole); its buffer_bytes is 1 MiB."""
    pol, port = capped_policy(gw, monkeypatch)
    pol["guardrails"] = {"checked": GUARDED}
    pol["workloads"][0]["guardrails"] = "checked"
    pol["workloads"][0]["limits"] = {"buffer_bytes": 1 * MIB, "enforce": enforce}
    return pol, port


BIG = ["authorization: Bearer sk-app", "x-mock-reply-words: 400000"]  # a 2.5 MB answer


def test_a_held_answer_past_buffer_bytes_ends_with_buffer_limit(gw, monkeypatch):
    """An answer the guardrails must read whole before it is released grows past billing's
    1 MiB: the call ends with a clear error in the app's format (nothing of the answer
    reaches the app) and a record with aigw.reason buffer_limit. A small answer is served."""
    pol, _ = guarded_policy(gw, monkeypatch)
    gw.start(pol)
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"), headers=BIG))
    assert code == 413, body[:300]
    err = json.loads(body)["error"]
    assert "limits.buffer_bytes 1048576" in err["message"] and "not delivered" in err["message"]
    rec = gw.world.wait_record(**{"aigw.reason": "buffer_limit"})
    assert rec["aigw.workload"] == "billing" and rec["http.response.status_code"] == 413
    assert rec["aigw.policy.rule"] == "limits.buffer_bytes"
    assert rec["aigw.policy.action"] == "deny"
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                               headers=["authorization: Bearer sk-app"]))
    assert code == 200, body


def test_held_answers_roll_out_with_enforce_false(gw, monkeypatch):
    """With "enforce": false the large guarded answer is served whole, and its record says the
    cap would have refused it."""
    pol, _ = guarded_policy(gw, monkeypatch, enforce=False)
    gw.start(pol)
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"), headers=BIG))
    assert code == 200, body[:300]
    assert len(json.loads(body)["choices"][0]["message"]["content"]) > MIB
    rec = gw.world.wait_record(**{"aigw.reason": "buffer_limit"})
    assert rec["aigw.policy.action"] == "would_deny" and rec["http.response.status_code"] == 200
    assert rec["aigw.policy.rule"] == "limits.buffer_bytes"


def test_the_daemon_bound_holds_across_workloads(gw, monkeypatch):
    """proxy.limits.buffer_bytes bounds what the daemon holds for every workload together:
    set to 1 MiB, a guarded answer of 2.5 MB from reports (which has no cap of its own) ends
    with 503 and buffer_limit naming the daemon's key."""
    pol, _ = capped_policy(gw, monkeypatch)
    pol["guardrails"] = {"checked": GUARDED}
    pol["workloads"][1]["guardrails"] = "checked"
    pol["proxy"] = {"limits": {"buffer_bytes": 1 * MIB}}
    gw.start(pol)
    reports = gw.world.root.child("reports.service")
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"), headers=BIG, cgroup=reports))
    assert code == 503, body[:300]
    assert "proxy.limits.buffer_bytes 1048576" in json.loads(body)["error"]["message"]
    rec = gw.world.wait_record(**{"aigw.reason": "buffer_limit"})
    assert rec["aigw.workload"] == "reports"
    assert rec["aigw.policy.rule"] == "proxy.limits.buffer_bytes"
    assert [r for r in request_records(gw) if r.get("aigw.reason") == "buffer_limit"] == [rec]



def buffered_gauge(admin):
    """aigw_buffered_bytes as /metrics says it."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("aigw_buffered_bytes "):
                return float(line.split()[1])
    raise AssertionError("no aigw_buffered_bytes in /metrics")


def test_every_call_gives_its_bytes_back(gw, monkeypatch):
    """Whatever way a call ends, what it held goes back: after a served call, one refused by a
    later stage, one past billing's cap with "enforce": false (announced and chunked), a
    provider's failure, a translated call, an answer held whole past the cap (would_deny), an
    upload and an answer the app walked away from, and a chunked body past the daemon's bound,
    the daemon's gauge (aigw_buffered_bytes) is back at 0 and billing's own count is too: a body
    of nearly its whole cap is then served without a would_deny."""
    from conftest import free_port
    from test_limits import chunked_post, explicit_call, upload_head
    admin = free_port()
    pol, port = capped_policy(gw, monkeypatch)
    pol["workloads"][0]["limits"] = {"buffer_bytes": 1 * MIB, "enforce": False}
    pol["guardrails"] = {"checked": GUARDED}
    pol["workloads"][0]["guardrails"] = "checked"
    pol["workloads"][0]["allow"] = {"models": ["gpt-4o-mini", "claude-*", "fast-summary"]}
    pol["admin"] = {"listen": f"127.0.0.1:{admin}"}
    pol["proxy"] = {"limits": {"buffer_bytes": 4 * MIB}}
    gw.start(pol)

    def back_to_zero(what):
        wait_for(lambda: buffered_gauge(admin) == 0 or None, timeout=20,
                 what=f"the gauge back at 0 after {what}")

    def chunked(size):
        words = chat("gpt-4o-mini", messages=[{"role": "user", "content": "x " * (size // 2)}])
        return chunked_post(port, words, piece=65536)

    assert explicit_call(port, chat("gpt-4o-mini"))[0] == 200
    back_to_zero("a served call")
    assert explicit_call(port, chat("gpt-4.1"))[0] == 403  # not in billing's allow-list
    back_to_zero("a call refused after its head")
    big = chat("gpt-4o-mini", messages=[{"role": "user", "content": "x " * 700 * 1024}])
    assert explicit_call(port, big)[0] == 200  # past billing's 1 MiB: would_deny
    back_to_zero("an announced body past the cap, not enforced")
    assert chunked(100 * 1024)[0] == 200
    back_to_zero("a chunked body")
    gw.mock.fault("down", count=1)
    assert explicit_call(port, chat("gpt-4o-mini"))[0] >= 500
    back_to_zero("a provider's failure")
    assert explicit_call(port, chat("claude-only"))[0] == 200
    back_to_zero("a translated call")
    status, text = explicit_call(port, chat("claude-only", stream=True))
    assert status == 200 and "[DONE]" in text, text[:300]
    back_to_zero("a translated stream")
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"), headers=BIG))
    assert code == 200 and len(body) > MIB, body[:300]  # held whole past the cap: would_deny
    back_to_zero("an answer held whole past the cap, not enforced")
    s = upload_head(port, 512 * 1024)
    s.sendall(b"{" * 100 * 1024)
    wait_for(lambda: buffered_gauge(admin) > 0 or None, what="the upload held")
    s.close()
    back_to_zero("an upload the app walked away from")
    app = gw.app.popen(hosts_wrap(gw.hosts, [PYTHON, "-c", NEVER_READS,
                                             str(gw.ca_dir / "ca.pem"), "1", "1000000"]),
                       stdin=subprocess.PIPE)
    try:
        assert app.stdout.readline().strip() == "sent"
        wait_for(lambda: buffered_gauge(admin) > 256 * 1024 or None, what="the unread answer held")
    finally:
        app.kill()
        app.wait(timeout=10)
    back_to_zero("a streamed answer the app walked away from")
    status, text = chunked(6 * MIB)  # past the daemon's 4 MiB
    assert status in (503, "closed"), (status, text[:300])
    back_to_zero("a chunked body past the daemon's bound")
    # billing's own count is back at 0 too: nearly its whole cap is admitted as within it
    near = chat("fast-summary", messages=[{"role": "user", "content": "x " * 480 * 1024}])
    assert explicit_call(port, near)[0] == 200
    rec = gw.world.wait_record(**{"gen_ai.request.model": "fast-summary"})
    assert "aigw.reason" not in rec and rec.get("aigw.policy.action") != "would_deny", rec


# A captured app that asks for one plain answer on a kept-alive connection and does not read
# it; on a line on stdin it reads the answer whole and prints its length. The kernel is made to
# hold little of it: a 4 KiB receive buffer keeps the window the app advertises small, and a
# 536-byte MSS keeps the gateway's send buffer small (Linux sizes it from the MSS: on
# loopback's 64 KiB segments it takes ~3 MB of an answer the app never reads).
READS_LATER = """
import json, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
body = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "Tell it all."}]}).encode()
head = ("POST /v1/chat/completions HTTP/1.1\\r\\nHost: api.openai.com\\r\\n"
        "Authorization: Bearer sk-app\\r\\nContent-Type: application/json\\r\\n"
        "x-mock-reply-words: " + sys.argv[2] + "\\r\\nContent-Length: %d\\r\\n\\r\\n"
        % len(body)).encode()
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
raw.settimeout(60)
raw.connect(("api.openai.com", 443))
s = ctx.wrap_socket(raw, server_hostname="api.openai.com")
s.sendall(head + body)
print("sent", flush=True)
sys.stdin.readline()
got = b""
while b"\\r\\n\\r\\n" not in got:
    got += s.recv(65536)
resp_head, _, rest = got.partition(b"\\r\\n\\r\\n")
length = int([l.split(b":")[1] for l in resp_head.split(b"\\r\\n")
              if l.lower().startswith(b"content-length:")][0])
while len(rest) < length:
    rest += s.recv(65536)
print(json.dumps({"status": resp_head.split()[1].decode(), "length": len(rest)}), flush=True)
sys.stdin.readline()
"""

QUEUED_CAP = 1 * MIB
QUEUED_WORDS = 120000  # a ~750 KB answer: under the cap and the 1 MiB that stops reading it


@pytest.mark.parametrize("end", ["reads", "disconnects"])
def test_an_ended_calls_unread_answer_counts_until_written(gw, monkeypatch, end):
    """billing asks for a 750 KB answer and reads none of it: the call ends (the provider's
    answer is whole, queued for the app), and what is still queued stays counted in the
    gauge and in billing's limits.buffer_bytes (1 MiB) until it is written. Meanwhile a
    second call of billing with a 600 KiB body (alone under the cap) is refused with
    buffer_limit, as on HTTP/2. Once the app reads its answer (or goes away) the gauge is 0
    and the same call is served. Uncounted, the gauge read 0 as soon as the call ended and
    the second call was served."""
    from conftest import free_port
    admin = free_port()
    pol, _ = capped_policy(gw, monkeypatch)
    pol["workloads"][0]["limits"] = {"buffer_bytes": QUEUED_CAP}
    pol["admin"] = {"listen": f"127.0.0.1:{admin}"}
    gw.start(pol)
    app = gw.app.popen(hosts_wrap(gw.hosts, [PYTHON, "-c", READS_LATER,
                                             str(gw.ca_dir / "ca.pem"), str(QUEUED_WORDS)]),
                       stdin=subprocess.PIPE)
    big = gw.world.tmp / "big.json"  # curl reads it: too long for an argument
    big.write_text(chat("gpt-4o-mini", messages=[{"role": "user", "content": "x " * 300 * 1024}]))
    try:
        assert app.stdout.readline().strip() == "sent"
        first = gw.world.wait_record(**{"event.name": "proxy.request"}, timeout=30)
        assert first["aigw.outcome"] == "ok" and first["http.response.status_code"] == 200, first
        held = buffered_gauge(admin)
        print(f"{held / 1024:.0f} KiB of the ended call's answer held for the app")
        assert held >= 256 * 1024, held
        # refused on its head (its Content-Length): with 100-continue curl sends no body the
        # gateway would cut off while refusing it
        body, code = split(gw.curl(OPENAI_CHAT, f"@{big}",
                                   headers=["authorization: Bearer sk-app",
                                            "expect: 100-continue"]))
        assert code == 429, body[:300]
        assert json.loads(body)["error"]["code"] == "rate_limit_exceeded", body[:300]
        refused = gw.world.wait_record(**{"aigw.reason": "buffer_limit"})
        assert refused["aigw.workload"] == "billing", refused
        assert refused["aigw.policy.rule"] == "limits.buffer_bytes", refused
        if end == "reads":
            app.stdin.write("read\n")
            app.stdin.flush()
            got = json.loads(app.stdout.readline())
            assert got["status"] == "200" and got["length"] > 700 * 1000, got
        else:
            app.kill()
            app.wait(timeout=10)
        wait_for(lambda: buffered_gauge(admin) == 0 or None, timeout=20,
                 what=f"the gauge back at 0 once the app {end}")
        body, code = split(gw.curl(OPENAI_CHAT, f"@{big}",
                                   headers=["authorization: Bearer sk-app"]))
        assert code == 200, body[:300]
    finally:
        app.kill()
        app.wait(timeout=10)
