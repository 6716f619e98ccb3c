"""Passthrough, end to end: a captured app opens TLS to a provider address under a name that is
no provider's ("fronting": "passthrough"), and aigw splices the connection, untouched, to the
server it dialled. The app is hostile: it moves bulk data, half-closes, resets mid-transfer,
stops reading. Each time the bytes arrive intact and in order, both ends see how the other
ended, the record says it, and the daemon keeps neither the bytes nor a descriptor."""
import errno
import hashlib
import json
import os
import select
import socket
import subprocess
import threading

from conftest import NETCLIENT, PROVIDER4, PYTHON, ThreadedServer, wait_for
from passpeer import CHUNK, SNI, client_hello, exchange, payload, read_to_eof, recv_all

PEER = os.path.join(os.path.dirname(NETCLIENT), "passpeer.py")
HELLO = client_hello()
MIB = 1 << 20


class PeerServer(ThreadedServer):
    """The destination the app dialled (PROVIDER4:443): each connection goes to HANDLER(conn)
    in a thread of its own; what it returns (or raises) is kept."""

    def __init__(self, handler):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((PROVIDER4, 443))
        sock.listen(16)
        self.handler = handler
        self.results, self.errors = [], []
        self.accepted = threading.Event()
        self.serve(sock)

    def on_accept(self, c, peer):
        self.accepted.set()

    def on_conn(self, c):
        try:
            c.settimeout(60)
            self.results.append(self.handler(c))
        except Exception as e:  # noqa: BLE001 - the test reports it
            self.errors.append(repr(e))
        finally:
            c.close()

    def result(self, timeout=60):
        wait_for(lambda: self.results or self.errors, timeout=timeout, what="server handler")
        assert not self.errors, self.errors
        return self.results[0]


def recv_exact(c, n):
    data = b""
    while len(data) < n:
        b = c.recv(n - len(data))
        if not b:
            break
        data += b
    return data


def start(world, handler):
    server = PeerServer(handler)
    world.servers.append(server)
    return world.start(world.policy(capture={"fronting": "passthrough"})), server


def run_peer(world, mode, arg="", timeout=120):
    """passpeer.py MODE in the captured cgroup: its JSON line."""
    r = world.root.child("billing.service").run([PYTHON, PEER, mode, PROVIDER4, "443", arg],
                                                timeout=timeout)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines, f"passpeer printed nothing: rc={r.returncode} err={r.stderr}"
    return lines[0]


def connection_record(world):
    return world.wait_record(timeout=20, **{"event.name": "proxy.connection",
                                            "tls.client.server_name": SNI})


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def sha(n, seed):
    h = hashlib.sha256()
    for b in payload(n, seed):
        h.update(b)
    return h.hexdigest()


def test_bulk_transfer_both_ways_arrives_intact(world):
    """64 MiB each way at once, SHA-256 compared at both ends; the ClientHello first, once."""
    n = 64 * MIB

    def serve(c):
        head = recv_exact(c, len(HELLO))
        return dict(head=head, **exchange(c, n, "down"))

    _, server = start(world, serve)
    out = run_peer(world, "bulk", str(n))
    res = server.result()
    assert res["head"] == HELLO
    assert res["got"] == n and res["end"] == "eof"
    assert res["got_sha"] == out["sent_sha"] == sha(n, "up")
    assert out["got"] == n and out["end"] == "eof"
    assert out["got_sha"] == res["sent_sha"] == sha(n, "down")
    rec = connection_record(world)
    assert rec["aigw.disposition"] == "passthrough"
    assert rec["aigw.bytes_sent"] == len(HELLO) + n
    assert rec["aigw.bytes_received"] == n
    assert rec["aigw.passthrough.end"] == "closed" and "error.type" not in rec


def test_bytes_before_the_decision_arrive_first_and_once(world):
    """The ClientHello and what the app wrote with it (one write: the proxy peeked at both
    before it decided) reach the server exactly once, in order, nothing before them."""
    text = "".join(f"line {i:06d}\n" for i in range(8000))  # 96 kB after the hello

    def serve(c):
        data = read_to_eof(c)
        c.sendall(f"got {len(data)}".encode())
        return data

    _, server = start(world, serve)
    out = run_peer(world, "ask", text)
    assert server.result() == HELLO + text.encode()
    assert out["answer"] == f"got {len(HELLO) + len(text)}"
    rec = connection_record(world)
    assert rec["aigw.bytes_sent"] == len(HELLO) + len(text)


def test_client_half_closes_first_and_still_gets_the_answer(world):
    """The app shuts down writing after its question; the server sees EOF, then answers on the
    still-open other half."""
    def serve(c):
        data = read_to_eof(c)
        c.sendall(b"answer after your EOF")
        return data

    _, server = start(world, serve)
    out = run_peer(world, "ask", "question")
    assert server.result() == HELLO + b"question"
    assert out["answer"] == "answer after your EOF"
    rec = connection_record(world)
    assert rec["aigw.passthrough.end"] == "closed"
    assert rec["aigw.bytes_received"] == len("answer after your EOF")


def test_server_half_closes_first_and_still_hears_the_app(world):
    def serve(c):
        recv_exact(c, len(HELLO))
        c.sendall(b"bye")
        c.shutdown(socket.SHUT_WR)
        return read_to_eof(c)

    _, server = start(world, serve)
    out = run_peer(world, "late", "words after your EOF")
    assert out["answer"] == "bye"
    assert server.result() == b"words after your EOF"
    assert out["rest"] == ""  # and then the server's close
    rec = connection_record(world)
    assert rec["aigw.passthrough.end"] == "closed"
    assert rec["aigw.bytes_sent"] == len(HELLO) + len("words after your EOF")


def test_urgent_byte_does_not_stall_the_passthrough(world):
    """TCP's splice stops at an urgent byte (MSG_OOB): one sent by the app must neither stall
    its connection nor spin the daemon; it arrives in its place."""
    def serve(c):
        return read_to_eof(c)

    _, server = start(world, serve)
    out = run_peer(world, "urgent", timeout=30)
    assert server.result(timeout=20) == HELLO + b"abc!def"
    assert out["end"] == "eof"
    assert connection_record(world)["aigw.passthrough.end"] == "closed"


def stream_until_error(c):
    """Sends until the connection fails: how much, and the errno it failed with."""
    recv_exact(c, len(HELLO))
    block, n = bytes(CHUNK), 0
    while n < 1024 * MIB:
        try:
            c.sendall(block)
        except OSError as e:
            return dict(sent=n, errno=e.errno)
        n += CHUNK
    return dict(sent=n, errno=None)


def test_app_reset_mid_transfer_closes_the_server_side(world):
    """The app resets while the server streams: the server's sends fail, the record says the
    client reset it, and the daemon holds no descriptor of it any more."""
    d, server = start(world, stream_until_error)
    fds = fd_count(d.proc.pid)
    out = run_peer(world, "reset", str(4 * MIB))
    assert out["got"] >= 4 * MIB
    res = server.result()
    assert res["errno"] in (errno.ECONNRESET, errno.EPIPE), res
    rec = connection_record(world)
    assert rec["aigw.passthrough.end"] == "client_error"
    assert rec["error.type"] in (os.strerror(errno.ECONNRESET), os.strerror(errno.EPIPE))
    wait_for(lambda: fd_count(d.proc.pid) == fds, what=f"the daemon back to {fds} fds")


def test_server_reset_mid_transfer_closes_the_app_side(world):
    def serve(c):
        recv_exact(c, len(HELLO))
        for b in payload(4 * MIB, "down"):
            c.sendall(b)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        return "reset"

    d, server = start(world, serve)
    fds = fd_count(d.proc.pid)
    out = run_peer(world, "drain", timeout=60)
    assert server.result() == "reset"
    assert out["end"] in ("eof", "error") and out["got"] <= 4 * MIB  # not a timeout
    rec = connection_record(world)
    assert rec["aigw.passthrough.end"] == "server_error"
    assert rec["error.type"] == os.strerror(errno.ECONNRESET)
    wait_for(lambda: fd_count(d.proc.pid) == fds, what=f"the daemon back to {fds} fds")


def test_slow_reader_is_held_back_not_buffered(world):
    """An app that stops reading while the server sends 128 MiB: the server is held back
    (backpressure reaches it), the daemon's memory does not take the bytes, and once the app
    reads, every byte arrives."""
    n = 128 * MIB
    state = {"sent": 0}
    stalled, go = threading.Event(), threading.Event()

    def serve(c):
        recv_exact(c, len(HELLO))
        c.setblocking(False)
        data = b"".join(payload(n, "down"))
        view = memoryview(data)
        while state["sent"] < n:
            try:
                state["sent"] += c.send(view[state["sent"]:state["sent"] + CHUNK])
                continue
            except BlockingIOError:
                pass
            if go.is_set():
                select.select([], [c], [], 60)
            elif not select.select([], [c], [], 2)[1]:
                stalled.set()  # two seconds without room: the backpressure reached us
                go.wait(60)
        c.setblocking(True)
        c.shutdown(socket.SHUT_WR)
        return state["sent"]

    d, server = start(world, serve)
    rss0 = rss_bytes(d.proc.pid)
    p = world.root.child("billing.service").popen(
        [PYTHON, PEER, "slow", PROVIDER4, "443"], stdin=subprocess.PIPE)
    try:
        wait_for(stalled.is_set, timeout=60, what="the server held back")
        held = state["sent"]
        grown = rss_bytes(d.proc.pid) - rss0
        go.set()
        stdout, stderr = p.communicate("go\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert held < n, "the server was never held back"
    assert grown < 16 * MIB, f"the daemon grew {grown} bytes with {held} in flight"
    assert server.result() == n
    out = json.loads(stdout.splitlines()[-1])
    assert out["got"] == n and out["got_sha"] == sha(n, "down"), (out, stderr)
    rec = connection_record(world)
    assert rec["aigw.bytes_received"] == n and rec["aigw.passthrough.end"] == "closed"


def test_daemon_stop_ends_live_passthroughs_with_their_record(world):
    def serve(c):
        recv_exact(c, len(HELLO))
        c.sendall(b"x")
        return recv_all(c)

    d, server = start(world, serve)
    p = world.root.child("billing.service").popen([PYTHON, PEER, "drain", PROVIDER4, "443"])
    try:
        wait_for(server.accepted.is_set, timeout=20, what="the passthrough connected")
        d.stop()  # clean exit, no leak (ASan)
        stdout, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert '"end": "eof"' in stdout
    assert server.result()[1:] in (("eof", 0), ("error", errno.ECONNRESET))
    rec = connection_record(world)
    assert rec["aigw.passthrough.end"] == "shutdown"


def start_with(world, handler, proxy=None, limits=None):
    """start() with PROXY merged into the policy's "proxy" and LIMITS as billing's."""
    server = PeerServer(handler)
    world.servers.append(server)
    pol = world.policy(capture={"fronting": "passthrough"})
    pol["proxy"].update(proxy or {})
    if limits:
        pol["workloads"][0]["limits"] = limits
    return world.start(pol), server


def hold(c):
    """The server's side of a held connection: the ClientHello, one byte, then read to EOF."""
    recv_exact(c, len(HELLO))
    c.sendall(b"x")
    return recv_all(c)


def test_a_silent_passthrough_is_closed_both_ways(world):
    """An app and a server that hold a passthrough open and say nothing cost the daemon two
    sockets and two pipes for ever: past proxy.timeouts.passthrough_idle_ms both sides are
    closed and the record says "idle". One that keeps talking is left alone."""
    def talk(c):
        recv_exact(c, len(HELLO))
        for _ in range(8):  # a byte each 200 ms: 1.6 s, past the 600 ms timeout
            c.sendall(b"x")
            select.select([], [], [], 0.2)
        c.shutdown(socket.SHUT_WR)
        return recv_all(c)

    first = {"n": 0}

    def serve(c):
        first["n"] += 1
        return talk(c) if first["n"] == 1 else hold(c)

    _, server = start_with(world, serve, proxy={"timeouts": {"passthrough_idle_ms": 600}})
    out = run_peer(world, "drain", timeout=30)
    assert out["got"] == 8 and out["end"] == "eof", out
    rec = connection_record(world)
    assert rec["aigw.passthrough.end"] == "closed"
    out = run_peer(world, "drain", timeout=30)  # the server sends one byte, then silence
    assert out["got"] == 1 and out["end"] == "eof", out
    wait_for(lambda: len(server.results) == 2, timeout=20, what="the server's side closed")
    assert server.results[1][1:] in (("eof", 0), ("error", errno.ECONNRESET)), server.results
    recs = wait_for(lambda: [r for r in world.records()
                             if r.get("event.name") == "proxy.connection"
                             and r.get("aigw.passthrough.end") == "idle"],
                    timeout=20, what="the idle record")
    assert len(recs) == 1 and recs[0]["aigw.duration_ms"] >= 590, recs  # (ms rounding)
    assert recs[0]["aigw.workload"] == "billing"


def held_peers(world, counter, n):
    """N apps of billing each holding a passthrough open ("drain"), connected through to the
    server (COUNTER: its counting() handler); returns the processes."""
    procs = [world.root.child("billing.service").popen([PYTHON, PEER, "drain", PROVIDER4,
                                                         "443"]) for _ in range(n)]
    wait_for(lambda: counter.held >= n, what=f"{n} passthroughs connected")
    return procs


def counting(handler):
    """HANDLER, counting the connections it was given in .held."""
    def serve(c):
        serve.held += 1
        return handler(c)
    serve.held = 0
    return serve


def test_passthroughs_count_toward_the_workloads_connections(world):
    """billing may hold two connections: two passthroughs take them, and its third
    connection, to another site, not a provider, is closed unforwarded and recorded
    (aigw.reason connection_limit): a workload cannot pile up connections by talking to
    other sites. When one closes, billing connects again."""
    serve = counting(hold)
    _, server = start_with(world, serve, limits={"connections": 2})
    procs = held_peers(world, serve, 2)
    try:
        # Closed before anything was forwarded (reset: the ClientHello was left unread);
        # were it spliced, the server's byte would come and the app would wait for more.
        out = run_peer(world, "drain", timeout=15)
        assert out["got"] == 0 and out["errno"] in (0, errno.ECONNRESET), out
        rec = world.wait_record(**{"event.name": "proxy.refused",
                                   "aigw.reason": "connection_limit"})
        assert rec["aigw.workload"] == "billing"
        assert "has more than 2 connections open" in rec["error.type"], rec
        assert serve.held == 2  # the server never saw the third
        procs[0].kill()
        procs[0].wait()
        wait_for(lambda: run_peer(world, "ask", "hi", timeout=30)["answer"] == "x",
                 what="billing's place given back")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def test_passthroughs_over_connections_roll_out_with_enforce_false(world):
    """With "enforce": false the third passthrough is spliced, and its record says the cap
    would have refused it."""
    serve = counting(hold)
    start_with(world, serve, limits={"connections": 2, "enforce": False})
    procs = held_peers(world, serve, 2)
    try:
        assert run_peer(world, "ask", "hi", timeout=30)["answer"] == "x"
    finally:
        for p in procs:
            p.kill()
            p.wait()
    recs = wait_for(lambda: [r for r in world.records()
                             if r.get("event.name") == "proxy.connection"
                             and r.get("aigw.reason") == "connection_limit"],
                    what="the would_deny record")
    assert len(recs) == 1 and recs[0]["aigw.policy.action"] == "would_deny", recs
    assert recs[0]["aigw.policy.rule"] == "limits.connections"
    assert not [r for r in world.records() if r.get("event.name") == "proxy.refused"]
