"""HTTP/2 to captured clients: aigw offers h2 in ALPN and serves each stream as one call,
governed, re-keyed and recorded exactly as an HTTP/1.1 call (the upstream stays HTTP/1.1);
hostile h2 clients (rapid reset, too many streams) are held off."""
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import OPENAI_ADDR, hosts_wrap, wait_for
from test_intercept import CHAT, split, stream_body
from test_keys import keyed_policy
from test_tls_reads import RecordsProvider, records_provider

OPENAI = "https://api.openai.com/v1/chat/completions"
CLIENTS = Path(__file__).parent / "clients"


def request_records(gw, n):
    def recs():
        r = [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]
        return len(r) >= n and r
    return wait_for(recs, timeout=15, what=f"{n} request records")


def curl_h2(gw, body):
    return gw.run_app(["curl", "-sS", "--http2", "-o", "-", "-w", "\n%{http_version} %{http_code}",
                       "-H", "authorization: Bearer sk-app-own",
                       "-H", "content-type: application/json", "--data-binary", body, OPENAI])


def test_curl_http2_plain_and_streaming_are_rekeyed_and_recorded(gw, monkeypatch):
    gw.start(keyed_policy(gw, monkeypatch))
    r = curl_h2(gw, CHAT)
    body, _, tail = r.stdout.rpartition("\n")
    assert tail == "2 200", (r.stdout, r.stderr)
    assert json.loads(body)["object"] == "chat.completion"
    bodies = [body]
    r = curl_h2(gw, stream_body())
    body, _, tail = r.stdout.rpartition("\n")
    assert tail == "2 200", (r.stdout, r.stderr)
    assert body.rstrip().endswith("data: [DONE]") and "chat.completion.chunk" in body
    bodies.append(body)
    log = [x for x in gw.mock.requests() if x["provider"] == "openai"]
    assert len(log) == 2 and all(x["authorization"] == "Bearer sk-gateway-openai" for x in log)
    recs = request_records(gw, 2)
    for rec, got in zip(recs, bodies):
        # what curl was sent of the answer (the body), not what the stream's session wrote
        assert rec["aigw.bytes_to_client"] == len(got.encode()), (rec, len(got.encode()))
    for rec, stream in zip(recs, (False, True)):
        assert rec["network.protocol.version"] == "2", rec
        assert rec["aigw.outcome"] == "ok" and rec["aigw.stream"] == stream
        assert rec["aigw.credential"] == "gateway" and rec["aigw.workload"] == "billing"
        assert rec["gen_ai.usage.input_tokens"] > 0 and rec["gen_ai.usage.output_tokens"] > 0
        assert rec["aigw.cost.nano_usd"] > 0, rec
    text = gw.world.audit_path.read_text()
    assert "sk-app-own" not in text and "sk-gateway-openai" not in text
    conn = wait_for(lambda: [x for x in gw.world.records()
                             if x.get("event.name") == "proxy.connection"], what="conn records")
    assert all(c["network.protocol.version"] == "2" for c in conn)


def test_httpx_fifty_streams_on_one_connection_each_recorded(gw, monkeypatch):
    gw.start(keyed_policy(gw, monkeypatch))
    r = gw.run_app(["/usr/bin/python3", str(CLIENTS / "py_httpx_h2.py"), "50"], timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["versions"] == ["HTTP/2"]
    assert out["results"] == [[200, "stream" if i % 2 else "plain", True] for i in range(50)]
    recs = request_records(gw, 50)
    assert len(recs) == 50
    assert len({x["aigw.connection_id"] for x in recs}) == 1  # one connection, 50 calls
    assert len({x["aigw.request_id"] for x in recs}) == 50
    assert sum(x["aigw.stream"] for x in recs) == 25
    assert all(x["aigw.outcome"] == "ok" and x["network.protocol.version"] == "2" and
               x["gen_ai.usage.output_tokens"] > 0 and x["aigw.cost.nano_usd"] > 0
               for x in recs)
    log = [x for x in gw.mock.requests() if x["provider"] == "openai"]
    assert len(log) == 50 and {x["authorization"] for x in log} == {"Bearer sk-gateway-openai"}


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_node_streams_reset_mid_answer_end_recorded_others_complete(gw, monkeypatch):
    pol = keyed_policy(gw, monkeypatch)
    pol["proxy"] = {"workers": 2}
    d = gw.start(pol)
    # A first round with no resets on each worker (connections go to them in turn) leaves
    # their upstream pools warm (idle connections are no leak); the round with resets must
    # bring the count back to that.
    for n in (20, 40):
        r = gw.run_app(["node", str(CLIENTS / "node_h2.mjs"), "20", "0", "3", "1"], timeout=60)
        assert r.returncode == 0 and '"reset"' not in r.stdout, (r.stdout, r.stderr)
        request_records(gw, n)
    start_fds = open_fds(d.proc.pid)
    r = gw.run_app(["node", str(CLIENTS / "node_h2.mjs"), "20", "3"], timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["alpn"] == "h2"
    resets = [x for x in out["results"] if x[1] == "reset"]
    done = [x for x in out["results"] if x[1] == "done"]
    assert len(resets) == 7 and len(done) == 13, out
    bad = [x for x in resets + done if x[2] != 200 or x[3] is not True]
    assert not bad, bad
    recs = request_records(gw, 60)[40:]
    outcomes = sorted(x["aigw.outcome"] for x in recs)
    assert outcomes == ["client_gone"] * 7 + ["ok"] * 13, outcomes
    # Each record says what its stream's client was sent: a whole answer the bytes it read, a
    # reset one at least what it read before its reset and less than a whole answer.
    sent_ok = sorted(x["aigw.bytes_to_client"] for x in recs if x["aigw.outcome"] == "ok")
    assert sent_ok == sorted(x[4] for x in done), (sent_ok, done)
    sent_gone = sorted(x["aigw.bytes_to_client"] for x in recs if x["aigw.outcome"] != "ok")
    assert all(r <= b < min(sent_ok) for r, b in zip(sorted(x[4] for x in resets), sent_gone)), \
        (sent_gone, resets)
    assert all(x["network.protocol.version"] == "2" and x["aigw.stream"] for x in recs)
    # Nothing leaks: the connection, its streams' pairs and the upstream calls cut short.
    wait_for(lambda: open_fds(d.proc.pid) <= start_fds, timeout=10,
             what=f"daemon fds back to {start_fds} (now {open_fds(d.proc.pid)})")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def settled(pid):
    """True once PID used no CPU between two looks 0.3 s apart (its work has stopped).
    Polled with wait_for: the 0.3 s is the window the condition is measured over (CPU ticks
    are a rate), not a wait for something to happen. No marker the daemon shows says "all
    reading has stopped": a stalled upstream socket (Recv-Q) also shows while it still reads,
    so RSS measured on it could miss the unbounded reading these tests guard against."""
    before = cpu_ticks(pid)
    time.sleep(0.3)
    return cpu_ticks(pid) == before


def raw_client(gw, *args):
    argv = hosts_wrap(gw.hosts, ["/usr/bin/python3", str(CLIENTS / "py_h2_raw.py"), *args])
    return gw.app.popen(argv, env=gw.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)


def slow_round(gw, words):
    """A stream of WORDS events its client never opens beyond 1 KiB, beside a plain call that
    must be served meanwhile; returns the client, still holding the stalled stream."""
    p = raw_client(gw, "slow", str(words))
    got = json.loads(p.stdout.readline())
    assert got["fast_status"] == 200 and got["fast_ok"], got
    assert not got["slow_done"] and got["slow_bytes"] <= 1024, got
    return p


def test_slow_reader_stream_does_not_stall_another_and_memory_stays_bounded(gw):
    d = gw.start()
    pid = d.proc.pid
    # A first round: what a connection costs at all (the sanitizers' heap is large). Its
    # answer (~6 MB) is more than the gateway holds for a stream whose window is shut (1 MiB
    # of session output, 256 KiB in the stream, the pair, a read-ahead: under 2 MB), so it
    # cannot come whole before the kill: with 2,000 words (~590 KB) it could, under load, and
    # was then recorded "ok" (the call ended before its client did).
    p = slow_round(gw, 20000)
    p.kill()
    p.communicate()
    wait_for(lambda: settled(pid), timeout=20, what="the daemon idle")
    base = rss_kib(pid)
    # Then ~150 MB of events held back by the client's window.
    p = slow_round(gw, 1000000)
    try:
        wait_for(lambda: settled(pid), timeout=30, what="the daemon idle behind the window")
        grown = rss_kib(pid) - base
        assert grown < 64 * 1024, f"RSS grew {grown} KiB holding a stalled 150 MB stream"
    finally:
        p.kill()
        p.communicate()
    recs = request_records(gw, 4)
    assert sorted(x["aigw.outcome"] for x in recs if x["aigw.stream"]) == ["client_gone"] * 2


def provider_answers_read(gw):
    """True once the mock runs no stream and no byte of its answers waits in a socket on
    either side: the gateway has read every byte of them (its call is over upstream)."""
    if json.loads(gw.mock.control("GET", "/control/stats"))["active_streams"]:
        return False
    mock = socket.inet_aton(OPENAI_ADDR)[::-1].hex().upper() + ":01BB"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, remote, state, queues = line.split()[1:5]
            tx, rx = (int(q, 16) for q in queues.split(":"))
            if state == "01" and ((remote == mock and rx) or (local == mock and tx)):
                return False
    return True


def shut_stream(gw, words, *window):
    """A stream of WORDS events whose client keeps its window at 1 KiB (or its connection's at
    64 KiB, the stream's being WINDOW) never opened, once that window is full; then the gateway
    is given the provider's whole answer (a record written meanwhile would be one that claims
    what the client never had)."""
    p = raw_client(gw, "shut", str(words), *window)
    got = json.loads(p.stdout.readline())
    assert got["bytes"] == got["window"] and not got["ended"], got
    wait_for(lambda: provider_answers_read(gw) or request_records_now(gw), timeout=30,
             what="the provider's whole answer read by the gateway")
    return p, got


def request_records_now(gw):
    return [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]


def assert_cut_short(rec, window, got):
    """The record of a call whose client had only its window of the answer."""
    assert rec["aigw.outcome"] == "client_gone", rec
    assert rec["aigw.bytes_to_client"] <= window, (rec, window)
    assert rec["aigw.bytes_to_client"] == got, (rec, got)
    assert rec["network.protocol.version"] == "2" and rec["aigw.stream"], rec


def test_client_gone_after_its_whole_answer_came_frees_the_stream_once(gw):
    """A hostile client asks for a ~740 KB stream with a 1 KiB window: the provider's answer
    comes whole while most of it still waits inside the gateway (the stream's buffer and its
    session, which keeps flushing); then the client drops the connection. The record must say
    what the app received (the window, not the ~740 KB the gateway took) and that the call
    did not reach it whole; and the stream must not be freed under that session (its end
    would write into the freed stream: a use-after-free a workload could trigger at will)."""
    d = gw.start()
    p, got = shut_stream(gw, 4000)
    p.stdin.write("close\n")
    p.stdin.close()
    p.wait(timeout=15)
    recs = request_records(gw, 1)
    assert len(recs) == 1, recs
    assert_cut_short(recs[0], got["window"], got["bytes"])
    gw.world.wait_record(**{"event.name": "proxy.connection", "network.protocol.version": "2"},
                         timeout=15)
    r = curl_h2(gw, CHAT)  # the daemon serves on
    assert r.stdout.endswith("\n2 200"), (r.stdout, r.stderr)
    d.stop()  # no sanitizer report


def test_client_that_never_reads_is_recorded_cut_short_when_the_gateway_gives_up(gw):
    """The same client stays connected and never opens its window: the gateway gives the
    stream up (its session cannot flush the rest) and resets it. The record says the call
    ended with only the window delivered, not "ok" with the bytes the gateway took."""
    d = gw.start()
    p, got = shut_stream(gw, 4000)
    try:
        p.stdin.write("wait\n")
        p.stdin.flush()
        end = json.loads(p.stdout.readline())
        assert end["reset"] and not end["ended"] and end["bytes"] == got["bytes"], end
        recs = request_records(gw, 1)
        assert len(recs) == 1, recs
        assert_cut_short(recs[0], got["window"], got["bytes"])
    finally:
        p.kill()
        p.communicate()
    d.stop()


def ask(p, line):
    """Tells the raw client LINE; its next JSON line."""
    p.stdin.write(line + "\n")
    p.stdin.flush()
    return json.loads(p.stdout.readline())


@pytest.mark.parametrize("window", [[], ["1048576"]], ids=["stream_window", "conn_window"])
def test_client_that_shuts_its_window_and_stays_is_cut_after_idle_ms_and_recorded(gw, window):
    """A hostile client shuts its stream's window (1 KiB, never opened) on an answer small
    enough for the gateway to hold whole, and stays connected: its call must not stay off the
    log (nor its exchange pinned) until the connection ends. Past proxy.timeouts.idle_ms
    without progress the stream is reset and the call recorded client_gone with what the
    client was sent, while the client still holds its connection, as an HTTP/1.1 client that
    stops reading is cut after idle_ms. The same when the window left shut is the connection's
    (the stream's own is 1 MiB): ~110 KB of answer, held whole, 64 KiB of it sent."""
    d = gw.start(gw.policy(proxy={"timeouts": {"idle_ms": 1000}}))
    p, got = shut_stream(gw, 600 if window else 100, *window)
    try:
        p.stdin.write("wait\n")
        p.stdin.flush()
        recs = wait_for(lambda: request_records_now(gw), timeout=20,
                        what="the stalled call's record")
        assert p.poll() is None  # the client holds its connection
        end = json.loads(p.stdout.readline())
        assert end["reset"] and not end["ended"] and end["bytes"] == got["bytes"], end
        assert ask(p, "ping") == {"ping": True}  # still open after the record: not cut whole
        assert len(recs) == 1, recs
        assert_cut_short(recs[0], got["window"], got["bytes"])
    finally:
        p.kill()
        p.communicate()
    d.stop()  # no sanitizer report


def test_a_stalled_stream_is_reset_alone_its_siblings_read_on_end_ok(gw):
    """The stalled stream shares its connection with three slow streams (~3 s each) that the
    client reads as they come: only the stalled one is reset (after idle_ms, while they run),
    the others end whole and are recorded ok with what they were sent."""
    d = gw.start(gw.policy(proxy={"timeouts": {"idle_ms": 1000}}))
    p = raw_client(gw, "stall", "100")
    try:
        got = json.loads(p.stdout.readline())
        assert got["reset"] and not got["ended"] and got["bytes"] == got["window"], got
        assert [(x["status"], x["ended"]) for x in got["siblings"]] == [(200, True)] * 3, got
        assert ask(p, "ping") == {"ping": True}
        recs = request_records(gw, 4)
    finally:
        p.kill()
        p.communicate()
    assert len(recs) == 4, recs
    gone = [x for x in recs if x["aigw.outcome"] != "ok"]
    assert len(gone) == 1, recs
    assert_cut_short(gone[0], got["window"], got["bytes"])
    sent = sorted(x["aigw.bytes_to_client"] for x in recs if x["aigw.outcome"] == "ok")
    assert sent == sorted(x["bytes"] for x in got["siblings"]), (sent, got)
    d.stop()


def test_rapid_reset_flood_gets_goaway_enhance_your_calm_and_daemon_serves_on(gw):
    d = gw.start()
    r = gw.run_app(["/usr/bin/python3", str(CLIENTS / "py_h2_raw.py"), "flood", "2000"],
                   timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["goaway"] == 0xb, r.stdout  # ENHANCE_YOUR_CALM
    conn = gw.world.wait_record(**{"event.name": "proxy.connection",
                                   "network.protocol.version": "2"}, timeout=15)
    assert "rapid reset" in conn["error.type"]
    assert d.proc.poll() is None
    r = curl_h2(gw, CHAT)
    assert r.stdout.endswith("\n2 200"), (r.stdout, r.stderr)


def test_streams_past_the_concurrency_limit_are_refused_not_served(gw):
    gw.start()
    r = gw.run_app(["/usr/bin/python3", str(CLIENTS / "py_h2_raw.py"), "many", "130"],
                   timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["refused"]) == 30 and len(out["answered"]) == 100, out
    assert out["statuses"] == ["200"]
    assert not set(out["refused"]) & set(out["answered"])
    recs = request_records(gw, 100)
    assert len(recs) == 100  # the refused ones never became calls


def test_an_h2_connection_counts_once_for_limits_connections(gw, monkeypatch):
    """billing may hold one connection: ten calls as streams of one h2 connection are served;
    with its one place held by another connection, the h2 connection's calls are refused."""
    from test_limits import HOLDER
    pol = keyed_policy(gw, monkeypatch)
    pol["workloads"][0]["limits"] = {"connections": 1}
    gw.start(pol)
    r = gw.run_app(["/usr/bin/python3", str(CLIENTS / "py_httpx_h2.py"), "10"], timeout=60)
    assert r.returncode == 0, r.stderr
    assert [x[0] for x in json.loads(r.stdout)["results"]] == [200] * 10
    holder = gw.app.popen(hosts_wrap(gw.hosts, ["/usr/bin/python3", "-c", HOLDER,
                                                str(gw.ca_dir / "ca.pem"), "1"]),
                          env=gw.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        r = gw.run_app(["/usr/bin/python3", str(CLIENTS / "py_httpx_h2.py"), "4"], timeout=60)
        assert [x[0] for x in json.loads(r.stdout)["results"]] == [429] * 4, r.stdout
    finally:
        holder.kill()
        holder.communicate()
    recs = request_records(gw, 14)
    refused = [x for x in recs if x["http.response.status_code"] == 429]
    assert len(refused) == 4 and all(x["aigw.reason"] == "connection_limit" for x in refused)


class CutProvider(RecordsProvider):
    """Answers 200 application/octet-stream of 1000 bytes, sends 10, and drops the
    connection: a provider gone partway through a body the gateway passes as it comes."""

    def _answer(self, c, tls, out):
        tls.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: 1000\r\n\r\n" + b"x" * 10)
        c.sendall(out.read())
        raise EOFError


def test_answer_cut_short_upstream_resets_the_stream_and_is_recorded_at_once(gw, mock_certs):
    """The provider drops the connection 10 bytes into a 1000-byte passed answer. Over
    HTTP/1.1 the app's connection is cut and the call recorded; over h2 the stream must be
    reset at once and the call recorded the same way, not left hanging until the app gives up
    (it waited for an end of stream that never came, and so did the record)."""
    prov = records_provider(gw, mock_certs, cls=CutProvider)
    try:
        r = gw.curl(OPENAI, CHAT, headers=["authorization: Bearer sk-app"],
                    extra=["--max-time", "10"])
        assert r.returncode not in (0, 28), (r.returncode, r.stderr)
        h1 = request_records(gw, 1)[0]
        start = time.monotonic()
        r = gw.run_app(["curl", "-sS", "--http2", "-o", "/dev/null", "--max-time", "4",
                        "-H", "authorization: Bearer sk-app", "-H",
                        "content-type: application/json", "--data-binary", CHAT, OPENAI])
        took = time.monotonic() - start
        assert r.returncode not in (0, 28), (r.returncode, r.stderr)
        assert took < 3, f"the h2 client waited {took:.1f} s for its stream's end"
        h2 = wait_for(lambda: request_records_now(gw)[1:], timeout=2,
                      what="the h2 call's record, at once")[0]
    finally:
        prov.close()
    assert h2["network.protocol.version"] == "2", h2
    assert h2["aigw.outcome"] == h1["aigw.outcome"] != "ok", (h1, h2)
    assert h2["http.response.status_code"] == h1["http.response.status_code"] == 200, (h1, h2)


def test_calls_waiting_for_their_streams_do_not_keep_their_bodies(gw, monkeypatch):
    """A client makes 16 calls one after another, each with a 2 MiB body, and gives none of
    the answers a byte of window: every call ends with its record waiting for its stream.
    Each waiting call must keep only its record's fields, not its body and the body's tree
    (they pinned 16 x 2 MiB and more; shed, the next call reuses the memory)."""
    from test_limits import plain_daemon
    if not plain_daemon(monkeypatch):
        pytest.skip("an ASan heap's RSS says nothing here, and build/aigw is not built")
    d = gw.start()
    pid = d.proc.pid
    p = raw_client(gw, "pin", "1", str(2 << 20))  # what one such call costs at all
    assert json.loads(p.stdout.readline()) == {"answered": 1}
    p.kill()
    p.communicate()
    wait_for(lambda: settled(pid), timeout=20, what="the daemon idle")
    base = rss_kib(pid)
    p = raw_client(gw, "pin", "16", str(2 << 20))
    try:
        assert json.loads(p.stdout.readline()) == {"answered": 16}
        wait_for(lambda: settled(pid), timeout=30, what="the daemon idle")
        grown = rss_kib(pid) - base
        print(f"RSS grew {grown} KiB with 16 calls of 2 MiB bodies waiting for their streams")
        assert grown < 12 * 1024, f"RSS grew {grown} KiB"
    finally:
        p.kill()
        p.communicate()
    recs = request_records(gw, 17)  # the body shed, its size still recorded
    assert all(x["http.request.body.size"] > 2 << 20 for x in recs), recs
