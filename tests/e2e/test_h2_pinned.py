"""An h2 client that stops reading its socket altogether cannot pin its connection (and its
workload's place in limits.connections): its streams' budgets reset them, but the RST_STREAM
frames wait behind the gateway's full output, nghttp2 keeps the streams, and a connection
with streams has no read timeout. The connection's output has its own bound (http2.c
"Stalls"): when the socket takes none of it for proxy.timeouts.idle_ms, the connection ends,
its calls recorded client_gone, its place freed. And one that keeps sending after the
gateway's GOAWAY is lingered on for a bounded time, not for as long as it sends."""
import json
import subprocess
import time

import pytest

from conftest import hosts_wrap, wait_for
from test_intercept import split
from test_routing import chat

IDLE_MS = 1000
WORDS = 40000  # ~7 MB of events a stream: far past every buffer on the way
PINGS = 300000  # 5 MB of PING ACKs: past the socket's buffers (tcp_wmem's 4 MB at most)
OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"

# The start of the apps below: an h2 connection to the provider with a receive buffer of
# @RCVBUF@ bytes and its windows opened wide (only its socket holds the answers back).
H2_OPEN = r"""
import json, os, socket, ssl, sys, threading, time
import h2.config, h2.connection, h2.events, h2.settings
HOST = "api.openai.com"
raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, @RCVBUF@)
raw.settimeout(30)
raw.connect((socket.gethostbyname(HOST), 443))
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
ctx.set_alpn_protocols(["h2"])
sock = ctx.wrap_socket(raw, server_hostname=HOST)
assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
conn.increment_flow_control_window(2**31 - 1 - 65535)
"""

# An h2 client with a 4 KiB receive buffer and its windows opened wide (so only its socket
# holds the answers back). argv[1] "streams": argv[2] streaming calls of argv[3] events each,
# then not a byte read; "pings": no call, argv[2] PINGs (their ACKs never read), then one
# every 300 ms (it is never silent) until a line of stdin; "headers": the first bytes of a
# HEADERS frame whose rest never comes, then silence until a line of stdin ("sent": 0);
# "refused": the same after a request whose 100,000-byte body never comes. Prints
# {"sent": N} once all is
# sent ("pings": and "cut": the connection ended before it had sent them all); on a line of
# stdin reads until EOF, an error or 30 s: {"end": "eof" | "reset" | "timeout", "bytes"}.
HOSTILE_APP = H2_OPEN.replace("@RCVBUF@", "4096") + r"""
mode, n = sys.argv[1], int(sys.argv[2])
stop = threading.Event()
if mode == "streams":
    for k in range(n):
        body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                           "messages": [{"role": "user", "content": f"pinned {k}"}]}).encode()
        conn.send_headers(1 + 2 * k, [(":method", "POST"), (":path", "/v1/chat/completions"),
                                      (":scheme", "https"), (":authority", HOST),
                                      ("content-type", "application/json"),
                                      ("authorization", "Bearer sk-app-raw"),
                                      ("content-length", str(len(body))),
                                      ("x-mock-reply-words", sys.argv[3]),
                                      ("x-mock-chunk-delay-ms", "0")])
        conn.send_data(1 + 2 * k, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    print(json.dumps({"sent": n}), flush=True)
    sys.stdin.readline()
else:
    cut = False
    try:
        if mode == "headers":  # a HEADERS frame for stream 1: its 100-byte block never all comes
            sock.sendall(conn.data_to_send() + b"\x00\x00\x64\x01\x04\x00\x00\x00\x01" +
                         b"\x82")  # :method GET, then the other 99 bytes never
            n = 0
        if mode == "refused":  # a body over billing's buffer_bytes announced, then never sent
            conn.send_headers(1, [(":method", "POST"), (":path", "/v1/chat/completions"),
                                  (":scheme", "https"), (":authority", HOST),
                                  ("content-type", "application/json"),
                                  ("authorization", "Bearer sk-app-raw"),
                                  ("content-length", "100000")])
            sock.sendall(conn.data_to_send())
            n = 0
        for i in range(n):
            conn.ping(i.to_bytes(8, "big"))
            if i % 500 == 499:
                sock.sendall(conn.data_to_send())
        sock.sendall(conn.data_to_send())
    except (ConnectionError, ssl.SSLError, OSError):
        cut = True  # the gateway gave up on it before it had sent them all
    print(json.dumps({"sent": n, "cut": cut}), flush=True)
    def keep_sending():
        try:
            while mode == "pings" and not stop.wait(0.3):
                conn.ping(b"stillhr!")
                sock.sendall(conn.data_to_send())
        except (ConnectionError, ssl.SSLError, OSError):
            pass
    t = threading.Thread(target=keep_sending)
    t.start()
    sys.stdin.readline()
    stop.set()
    t.join()
got, start, end = 0, time.monotonic(), "timeout"
while time.monotonic() < start + 30:
    try:
        b = sock.recv(65536)
    except socket.timeout:
        break
    except (ConnectionError, ssl.SSLError, OSError):
        end = "reset"
        break
    if not b:
        end = "eof"
        break
    got += len(b)
print(json.dumps({"end": end, "bytes": got}), flush=True)
"""

# An h2 client that breaks the protocol (a DATA frame on stream 0), reads all it is sent
# (the gateway's GOAWAY among it) and sends a PING every 300 ms, never silent for long,
# until its connection ends or 30 s pass. Prints {"goaway", "end": "eof" | "reset" |
# "timeout", "seconds"} (from the bad frame).
KEEPS_SENDING_APP = r"""
import json, os, socket, ssl, time
import h2.config, h2.connection, h2.events
HOST = "api.openai.com"
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
ctx.set_alpn_protocols(["h2"])
sock = ctx.wrap_socket(socket.create_connection((HOST, 443), timeout=20), server_hostname=HOST)
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
sock.sendall(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00")  # DATA, stream 0: PROTOCOL_ERROR
ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"stillhr!"  # PING, raw
start, got, end = time.monotonic(), {"goaway": None}, "timeout"
sock.settimeout(0.3)
while time.monotonic() < start + 30:
    try:
        b = sock.recv(65536)
    except socket.timeout:
        try:
            sock.sendall(ping)
        except (ConnectionError, ssl.SSLError, OSError):
            end = "reset"
            break
        continue
    except (ConnectionError, ssl.SSLError, OSError):
        end = "reset"
        break
    if not b:
        end = "eof"
        break
    try:
        for ev in conn.receive_data(b):
            if isinstance(ev, h2.events.ConnectionTerminated):
                got["goaway"] = int(ev.error_code)
    except Exception:
        pass  # after its GOAWAY the gateway answers nothing; h2 may still take offence
got.update(end=end, seconds=round(time.monotonic() - start, 3))
print(json.dumps(got), flush=True)
"""


def pinned_policy(gw, **proxy):
    """billing may hold one connection; answers may wait on it IDLE_MS in all."""
    pol = gw.policy(proxy={"timeouts": {"idle_ms": IDLE_MS, **proxy}})
    pol["workloads"][0]["limits"] = {"connections": 1}
    return pol


def hostile(gw, *args):
    argv = ["/usr/bin/python3", "-c", HOSTILE_APP, *map(str, args)]
    return gw.app.popen(hosts_wrap(gw.hosts, argv), env=gw.env(), stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def h2_conn_records(gw):
    return [x for x in gw.world.records() if x.get("event.name") == "proxy.connection"
            and x.get("network.protocol.version") == "2"]


def h2_request_records(gw):
    return [x for x in gw.world.records() if x.get("event.name") == "proxy.request"
            and x.get("network.protocol.version") == "2"]


def curl_status(gw):
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                               headers=["authorization: Bearer sk-app"]))
    return code


def ended_and_freed(gw, p, t0, bound):
    """The h2 connection ended within BOUND seconds of T0; billing's one place is free again; the client, reading at last, finds its connection
    closed. Returns the connection's record."""
    conn = wait_for(lambda: h2_conn_records(gw), timeout=bound + 10,
                    what="the pinned h2 connection's end")
    took = time.monotonic() - t0
    assert len(conn) == 1, conn
    assert took < bound, f"the connection ended {took:.1f} s after the client stopped reading"
    assert wait_for(lambda: curl_status(gw) == 200, timeout=10,
                    what="billing's place in limits.connections free again")
    p.stdin.write("read\n")
    p.stdin.flush()
    got = json.loads(p.stdout.readline())
    assert got["end"] in ("eof", "reset"), got
    return conn[0]


def test_h2_client_that_stops_reading_loses_its_connection_and_its_calls_are_recorded(gw):
    """Two streams of ~7 MB answers to a client that never reads a byte after its requests
    (a 4 KiB receive buffer, its windows wide open, so only its socket holds the answers
    back). The streams' budgets reset them, but their RST_STREAM cannot leave; before the
    bound the connection, and billing's one place, were held for as long as the client
    liked. Now the connection ends within a few idle_ms, both calls are recorded
    client_gone, billing's next connection is served, and the client finds its socket
    closed when it reads at last."""
    d = gw.start(pinned_policy(gw))
    p = hostile(gw, "streams", 2, WORDS)
    try:
        assert json.loads(p.stdout.readline()) == {"sent": 2}
        t0 = time.monotonic()
        # the h2 connection holds billing's one place (unless, on a slow machine, it ended
        # already: then its record is there)
        code = curl_status(gw)
        assert code == 429 or code == 200 and wait_for(
            lambda: h2_conn_records(gw), timeout=5, what="the h2 connection's end"), code
        conn = ended_and_freed(gw, p, t0, bound=8)
        assert "stopped reading" in conn.get("error.type", ""), conn
        p.communicate(timeout=30)
    finally:
        p.kill()
        p.communicate()
    recs = wait_for(lambda: len(h2_request_records(gw)) >= 2 and h2_request_records(gw),
                    timeout=10, what="both calls' records")
    assert [r["aigw.outcome"] for r in recs] == ["client_gone"] * 2, recs
    assert all(r["aigw.stream"] and r["http.response.status_code"] == 200 for r in recs), recs
    d.stop()  # no sanitizer report


def test_h2_client_that_pings_but_never_reads_loses_its_connection(gw):
    """No call at all: 300,000 PINGs whose ACKs (5 MB) are never read, then one every
    300 ms, so the client is never silent for client_idle_ms. The ACKs fill the socket's
    buffers (some 4 MB here) and the gateway's output; past nghttp2's cap on queued ACKs a
    GOAWAY waits behind them. No stream is left, so the connection had the read timeout
    only, which the PINGs keep off: it was held for as long as the client liked. Now it ends
    within a few idle_ms, billing's place freed."""
    d = gw.start(pinned_policy(gw))
    p = hostile(gw, "pings", PINGS)
    try:
        # the gateway may end it while the PINGs are still being sent: what it cannot send
        # for idle_ms, while the client sends its 5 MB, is not waited for either
        assert json.loads(p.stdout.readline())["sent"] == PINGS
        t0 = time.monotonic()
        conn = ended_and_freed(gw, p, t0, bound=8)
        assert "stopped reading" in conn.get("error.type", ""), conn
        p.communicate(timeout=30)
    finally:
        p.kill()
        p.communicate()
    d.stop()  # no sanitizer report


def test_h2_client_that_keeps_sending_after_goaway_is_not_lingered_on_for_ever(gw):
    """After its GOAWAY the gateway reads and drops the client's bytes until it has been
    silent for 1 s (so that a reset cannot overtake the GOAWAY). A client that sends a PING
    every 300 ms is never silent that long; it held its connection, and billing's one place,
    for as long as it liked. Now lingering ends within 5 s all the same."""
    d = gw.start(pinned_policy(gw))
    r = gw.run_app(["/usr/bin/python3", "-c", KEEPS_SENDING_APP], timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["goaway"] == 1, got  # PROTOCOL_ERROR
    assert got["end"] in ("eof", "reset") and got["seconds"] < 8, got
    assert curl_status(gw) == 200  # billing's place is free
    d.stop()  # no sanitizer report


# An h2 client with a small receive buffer that asks for a large stream, says GOAWAY
# (NO_ERROR: its stream is still read, as Go's ClientConn.Shutdown does), then reads slowly,
# about 300 KB/s, sending a PING every 200 ms. Prints {"end", "stream_ended", "seconds"}.
SLOW_AFTER_GOAWAY_APP = H2_OPEN.replace("@RCVBUF@", "16384") + r"""
body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                   "messages": [{"role": "user", "content": "x"}]}).encode()
conn.send_headers(1, [(":method", "POST"), (":path", "/v1/chat/completions"),
                      (":scheme", "https"), (":authority", HOST),
                      ("content-type", "application/json"), ("authorization", "Bearer sk-app"),
                      ("content-length", str(len(body))), ("x-mock-reply-words", sys.argv[1]),
                      ("x-mock-chunk-delay-ms", "0")])
conn.send_data(1, body, end_stream=True)
sock.sendall(conn.data_to_send())
# GOAWAY(NO_ERROR), raw so that the h2 library still reads the answer: no new streams
sock.sendall(b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + bytes(8))
ended, end, t0, last_ping = False, "timeout", time.monotonic(), 0
while time.monotonic() < t0 + 60:
    try:
        b = sock.recv(16384)
    except (ConnectionError, ssl.SSLError, OSError):
        end = "reset"
        break
    if not b:
        end = "eof"
        break
    for ev in conn.receive_data(b):
        if isinstance(ev, h2.events.StreamEnded) and ev.stream_id == 1:
            ended = True
    if time.monotonic() - last_ping > 0.2:
        sock.sendall(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"stillhr!")  # PING, raw
        last_ping = time.monotonic()
    time.sleep(0.05)  # the pace of a slow reader: 16 KB at most every 50 ms
print(json.dumps({"end": end, "stream_ended": ended,
                  "seconds": round(time.monotonic() - t0, 1)}), flush=True)
"""


def test_h2_slow_reader_after_its_goaway_gets_its_whole_answer(gw):
    """Lingering's 5 s bound is for a client that keeps sending, not for one still taking the
    answer's end: a client that said GOAWAY with a ~3 MB stream in flight and reads it at
    ~300 KB/s, pinging, was closed at 5 s with half of it unread (its call recorded ok)."""
    d = gw.start(gw.policy())
    r = gw.run_app(["/usr/bin/python3", "-c", SLOW_AFTER_GOAWAY_APP, "10000"], timeout=90)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["stream_ended"], got  # the whole answer, its END_STREAM included
    assert got["seconds"] > 5, got  # it took longer than lingering's bound: the case at hand
    d.stop()  # no sanitizer report


CLIENT_IDLE_MS = 1500


@pytest.mark.parametrize("mode,sent", [("pings", 1), ("headers", 0), ("refused", 0)])
def test_h2_client_without_a_stream_at_work_is_idle_all_the_same(gw, mode, sent):
    """pings: no call, a PING every 300 ms, their ACKs unread (a few hundred bytes: no buffer
    on the way fills, so the output bound above never comes into it). An h2 connection
    without a stream had a read timeout of client_idle_ms as its idle bound, and each PING
    put it off. headers: the first bytes of a HEADERS frame, which open a stream in nghttp2
    before its header block has come, then silence: a connection with a stream had no idle
    bound at all. refused: a request whose announced body is over billing's buffer_bytes,
    refused 429 on its head, whose body then never comes: its stream stays half-open on the
    client's side, as long as the client likes. Each held the connection and billing's one
    place for as long as the client liked. Now a connection without a stream whose request
    reached a session is sent GOAWAY client_idle_ms after its last one (here: its start),
    whatever frames come, as an HTTP/1.1 connection ends client_idle_ms after its last
    answer, and ends after lingering's 5 s at most."""
    pol = pinned_policy(gw, client_idle_ms=CLIENT_IDLE_MS)
    pol["workloads"][0]["limits"]["buffer_bytes"] = 1024
    d = gw.start(pol)
    p = hostile(gw, mode, 1)
    try:
        assert json.loads(p.stdout.readline()) == {"sent": sent, "cut": False}
        t0 = time.monotonic()
        conn = ended_and_freed(gw, p, t0, bound=CLIENT_IDLE_MS / 1000 + 5 + 3)
        assert conn.get("error.type") == "idle", conn
        p.communicate(timeout=30)
    finally:
        p.kill()
        p.communicate()
    codes = [r["http.response.status_code"] for r in h2_request_records(gw)]
    assert codes == ([429] if mode == "refused" else []), codes
    d.stop()  # no sanitizer report


# Debian's httpx with http2=True, one connection: argv[1] calls, each argv[2] seconds after
# the last one's answer; prints the statuses and the HTTP versions.
SPACED_H2_APP = r"""
import httpx, json, sys, time
n, gap = int(sys.argv[1]), float(sys.argv[2])
body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
got = []
with httpx.Client(http2=True) as c:
    for i in range(n):
        if i:
            time.sleep(gap)
        r = c.post("https://api.openai.com/v1/chat/completions", json=body,
                   headers={"authorization": "Bearer sk-app"})
        got.append([r.status_code, r.http_version])
print(json.dumps(got))
"""


def test_h2_idle_bound_counts_from_the_last_stream(gw):
    """The idle bound counts from the connection's last stream, not its start: four calls,
    each 0.5 client_idle_ms after the last (1.5 in all, past one client_idle_ms), ride one
    connection; its one record comes when the client closes it, with no error."""
    d = gw.start(pinned_policy(gw, client_idle_ms=CLIENT_IDLE_MS))
    r = gw.run_app(["/usr/bin/python3", "-c", SPACED_H2_APP, "4",
                    str(0.5 * CLIENT_IDLE_MS / 1000)], timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [[200, "HTTP/2"]] * 4, r.stdout
    conns = wait_for(lambda: h2_conn_records(gw), timeout=10, what="the h2 connection's record")
    assert len(conns) == 1 and not conns[0].get("error.type"), conns
    assert len(h2_request_records(gw)) == 4
    d.stop()  # no sanitizer report
