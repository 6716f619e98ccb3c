#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An h2 client of aigw's end-to-end tests written with Debian's python3-h2 frame by frame,
for what the friendly clients will not do. It calls the real OpenAI name, trusting the CA
SSL_CERT_FILE names.

    /usr/bin/python3 py_h2_raw.py flood N     N streams opened and reset at once (rapid reset)
    /usr/bin/python3 py_h2_raw.py many N      N streaming calls opened at once, in one flight
    /usr/bin/python3 py_h2_raw.py slow WORDS  a huge stream never read (window 1 KiB, never
                                              opened) beside a plain call read as it comes
    /usr/bin/python3 py_h2_raw.py shut WORDS  one stream of WORDS events whose 1 KiB window is
                                              never opened (argv[3]: a stream window of that
                                              many bytes, opened at once: then the connection's
                                              64 KiB window is the one that stays shut); once
                                              it is full, stdin says
                                              "close" (the connection is dropped) or "wait"
                                              (read on until the gateway ends the stream;
                                              then each "ping" line: does it answer a PING)
    /usr/bin/python3 py_h2_raw.py stall WORDS the shut stream of WORDS events beside three
                                              streams read as they come (then "ping" lines)
    /usr/bin/python3 py_h2_raw.py trickle WORDS
                                              one stream of WORDS events, its window 1 KiB,
                                              then opened by argv[3] bytes (the connection's
                                              too) every argv[4] ms, until the stream ends or
                                              is reset; then "ping" lines
    /usr/bin/python3 py_h2_raw.py read WORDS  one stream of WORDS events, argv[3] ms apart
                                              at the provider, read as it comes
    /usr/bin/python3 py_h2_raw.py upload MIB  a POST of content-length 10^12 (refused at its
                                              head, its answer given a window of argv[3],
                                              default 0), then MIB MiB of its body
    /usr/bin/python3 py_h2_raw.py pin N       N calls one after another, each with a body
                                              of argv[3] bytes, their answers given no window
    /usr/bin/python3 py_h2_raw.py hold N      N streaming calls of BYTES (argv[3]) each whose
                                              window is never opened; then a plain call on
                                              the same connection per line of stdin

Prints one JSON object: flood {"goaway": error code or null, "open": the connection still
answered a PING}; many {"refused": [...], "answered": [...], "statuses": {...}}; slow
{"fast_status", "fast_ok", "slow_bytes", "slow_done"}; shut {"window", "bytes"} once the
window is full, then after "wait" {"bytes", "reset", "ended"}, then {"ping"} per "ping";
stall {"window", "bytes", "reset", "ended", "siblings": [{"status", "bytes", "ended"}]} once
the shut stream is reset or ended and its siblings ended, then {"ping"} per "ping"; trickle
{"bytes", "reset", "ended", "opened", "seconds"} (the window openings, the time from the first
byte to the stream's end), then {"ping"} per "ping"; read {"status", "bytes", "reset",
"ended", "seconds"}.
"""
import json
import os
import socket
import ssl
import sys
import time

import h2.config
import h2.errors
import h2.connection
import h2.events
import h2.settings

HOST = "api.openai.com"
PATH = "/v1/chat/completions"


def connect(settings=None):
    ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    ctx.set_alpn_protocols(["h2"])
    sock = ctx.wrap_socket(socket.create_connection((HOST, 443), timeout=20),
                           server_hostname=HOST)
    assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    sock.sendall(conn.data_to_send())
    return sock, conn


def request(conn, sid, body, extra=()):
    data = json.dumps(body).encode()
    conn.send_headers(sid, [(":method", "POST"), (":path", PATH), (":scheme", "https"),
                            (":authority", HOST), ("content-type", "application/json"),
                            ("authorization", "Bearer sk-app-raw"),
                            ("content-length", str(len(data))), *extra])
    conn.send_data(sid, data, end_stream=True)


def chat(i, stream=False):
    b = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"call {i}"}]}
    if stream:
        b["stream"] = True
    return b


def events(sock, conn, until, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end and not until():
        try:
            data = sock.recv(65536)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            return
        if not data:
            return
        for ev in conn.receive_data(data):
            yield ev
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except (ConnectionError, ssl.SSLError):
                return


def flood(n):
    sock, conn = connect()
    for k in range(n):
        sid = 1 + 2 * k  # HEADERS alone (no body: no window used), then RST_STREAM
        conn.send_headers(sid, [(":method", "POST"), (":path", PATH), (":scheme", "https"),
                                (":authority", HOST), ("content-type", "application/json")],
                          end_stream=True)
        conn.reset_stream(sid)
        if k % 50 == 49:
            try:
                sock.sendall(conn.data_to_send())
            except (ConnectionError, ssl.SSLError):
                break
    try:
        sock.sendall(conn.data_to_send())
    except (ConnectionError, ssl.SSLError):
        pass
    goaway = []
    for ev in events(sock, conn, lambda: goaway):
        if isinstance(ev, h2.events.ConnectionTerminated):
            goaway.append(int(ev.error_code))
    print(json.dumps({"goaway": goaway[0] if goaway else None}))


def many(n):
    sock, conn = connect()
    for k in range(n):  # one flight, before the server's SETTINGS are even read
        request(conn, 1 + 2 * k, chat(k, stream=True),
                [("x-mock-reply-words", "20"), ("x-mock-chunk-delay-ms", "20")])
    sock.sendall(conn.data_to_send())
    refused, answered, statuses, ended = [], [], {}, set()
    for ev in events(sock, conn, lambda: len(ended) >= n, deadline=30):
        if isinstance(ev, h2.events.StreamReset):
            ended.add(ev.stream_id)
            if ev.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
                refused.append(ev.stream_id)
        elif isinstance(ev, h2.events.ResponseReceived):
            statuses[ev.stream_id] = dict(ev.headers)[b":status"].decode()
        elif isinstance(ev, h2.events.DataReceived):
            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            ended.add(ev.stream_id)
            answered.append(ev.stream_id)
    print(json.dumps({"refused": refused, "answered": answered,
                      "statuses": sorted(set(statuses.values()))}))


def slow(words):
    sock, conn = connect({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    request(conn, 1, chat("slow", stream=True),
            [("x-mock-reply-words", str(words)), ("x-mock-chunk-delay-ms", "0")])
    sock.sendall(conn.data_to_send())
    got = {"slow_bytes": 0, "slow_done": False, "fast_status": None, "fast_ok": False}
    fast_body = b""
    sent_fast = False
    for ev in events(sock, conn, lambda: got["fast_ok"] or got["slow_done"]):
        if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == 1 and not sent_fast:
            request(conn, 3, chat("fast"))  # the slow one's answer is under way
            sent_fast = True
        if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == 3:
            got["fast_status"] = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == 3:
            fast_body += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, 3)
        elif isinstance(ev, h2.events.DataReceived):
            got["slow_bytes"] += len(ev.data)  # never acknowledged: its window stays shut
        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == 3:
            got["fast_ok"] = json.loads(fast_body)["object"] == "chat.completion"
        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == 1:
            got["slow_done"] = True
    print(json.dumps(got), flush=True)
    sys.stdin.read()  # hold the connection (and the slow stream) open until told
    sock.close()


def shut(words):
    stream_window = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    window = min(stream_window, 65535)  # the connection's window is never opened either
    sock, conn = connect({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: stream_window})
    request(conn, 1, chat("shut", stream=True),
            [("x-mock-reply-words", str(words)), ("x-mock-chunk-delay-ms", "0")])
    sock.sendall(conn.data_to_send())
    got = {"window": window, "bytes": 0, "reset": False, "ended": False}

    def take(ev):
        if isinstance(ev, h2.events.DataReceived):
            got["bytes"] += ev.flow_controlled_length  # never acknowledged: the window stays shut
        elif isinstance(ev, h2.events.StreamReset):
            got["reset"] = True
        elif isinstance(ev, h2.events.StreamEnded):
            got["ended"] = True

    for ev in events(sock, conn, lambda: got["bytes"] >= window or got["ended"]):
        take(ev)
    print(json.dumps(got), flush=True)
    if sys.stdin.readline().strip() == "wait":
        for ev in events(sock, conn, lambda: got["reset"] or got["ended"], deadline=60):
            take(ev)
        print(json.dumps(got), flush=True)
        answer_pings(sock, conn)
    sock.close()


def answer_pings(sock, conn):
    """Per "ping" line of stdin: {"ping": the connection answered a PING}, until EOF."""
    for line in sys.stdin:
        if line.strip() != "ping":
            continue
        acked = []
        try:
            conn.ping(b"aigwidle")
            sock.sendall(conn.data_to_send())
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        else:
            for ev in events(sock, conn, lambda: acked):
                if isinstance(ev, h2.events.PingAckReceived):
                    acked.append(True)
        print(json.dumps({"ping": bool(acked)}), flush=True)


def stall(words):
    """Stream 1 asks for WORDS events and never opens its 1 KiB window; streams 3, 5 and 7
    ask for a slow stream each (12 events, 250 ms apart) and are read as they come."""
    window = 1024
    sock, conn = connect({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    request(conn, 1, chat("shut", stream=True),
            [("x-mock-reply-words", str(words)), ("x-mock-chunk-delay-ms", "0")])
    sibs = {sid: {"status": None, "bytes": 0, "ended": False} for sid in (3, 5, 7)}
    for sid in sibs:
        request(conn, sid, chat(f"sibling {sid}", stream=True),
                [("x-mock-reply-words", "12"), ("x-mock-chunk-delay-ms", "250")])
    sock.sendall(conn.data_to_send())
    got = {"window": window, "bytes": 0, "reset": False, "ended": False}

    def done():
        return (got["reset"] or got["ended"]) and all(x["ended"] for x in sibs.values())

    for ev in events(sock, conn, done, deadline=60):
        sid = getattr(ev, "stream_id", None)
        if isinstance(ev, h2.events.ResponseReceived) and sid in sibs:
            sibs[sid]["status"] = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.DataReceived) and sid in sibs:
            sibs[sid]["bytes"] += len(ev.data)
            conn.acknowledge_received_data(ev.flow_controlled_length, sid)
        elif isinstance(ev, h2.events.DataReceived):
            got["bytes"] += ev.flow_controlled_length  # never acknowledged
        elif isinstance(ev, h2.events.StreamEnded) and sid in sibs:
            sibs[sid]["ended"] = True
        elif isinstance(ev, h2.events.StreamReset) and sid == 1:
            got["reset"] = True
        elif isinstance(ev, h2.events.StreamEnded) and sid == 1:
            got["ended"] = True
    got["siblings"] = list(sibs.values())
    print(json.dumps(got), flush=True)
    answer_pings(sock, conn)
    sock.close()


def trickle(words):
    """Stream 1 asks for WORDS events (no pacing); its window, 1 KiB at first, is opened by
    argv[3] bytes every argv[4] ms (and the connection's by as much), however much came."""
    step, every = int(sys.argv[3]), int(sys.argv[4]) / 1000
    sock, conn = connect({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    request(conn, 1, chat("trickle", stream=True),
            [("x-mock-reply-words", str(words)), ("x-mock-chunk-delay-ms", "0")])
    sock.sendall(conn.data_to_send())
    got = {"bytes": 0, "reset": False, "ended": False, "opened": 0, "seconds": None}
    start, next_open = None, None
    sock.settimeout(0.05)
    while time.monotonic() < (start or time.monotonic()) + 60 and \
            not (got["reset"] or got["ended"]):
        if next_open is not None and time.monotonic() >= next_open:
            conn.increment_flow_control_window(step, 1)
            conn.increment_flow_control_window(step)
            sock.sendall(conn.data_to_send())
            got["opened"] += 1
            next_open += every
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError):
            break
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                got["bytes"] += ev.flow_controlled_length
                if start is None:
                    start = time.monotonic()
                    next_open = start + every
            elif isinstance(ev, h2.events.StreamReset):
                got["reset"] = True
            elif isinstance(ev, h2.events.StreamEnded):
                got["ended"] = True
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    if start is not None:
        got["seconds"] = round(time.monotonic() - start, 3)
    sock.settimeout(20)
    print(json.dumps(got), flush=True)
    answer_pings(sock, conn)
    sock.close()


def read(words):
    """Stream 1 asks for WORDS events argv[3] ms apart and reads them as they come, opening
    its window for all it is sent at once."""
    sock, conn = connect()
    request(conn, 1, chat("read", stream=True),
            [("x-mock-reply-words", str(words)), ("x-mock-chunk-delay-ms", sys.argv[3])])
    sock.sendall(conn.data_to_send())
    got = {"status": None, "bytes": 0, "reset": False, "ended": False}
    start = time.monotonic()
    for ev in events(sock, conn, lambda: got["reset"] or got["ended"], deadline=60):
        if isinstance(ev, h2.events.ResponseReceived):
            got["status"] = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.DataReceived):
            got["bytes"] += ev.flow_controlled_length
            conn.acknowledge_received_data(ev.flow_controlled_length, 1)
        elif isinstance(ev, h2.events.StreamReset):
            got["reset"] = True
        elif isinstance(ev, h2.events.StreamEnded):
            got["ended"] = True
    got["seconds"] = round(time.monotonic() - start, 3)
    print(json.dumps(got), flush=True)
    sock.close()


def plain_call(sock, conn, sid):
    """A plain call on stream SID, read whole: {"status", "body"}."""
    request(conn, sid, chat("plain"))
    conn.increment_flow_control_window(65535, sid)
    sock.sendall(conn.data_to_send())
    got, body = {"status": None}, b""
    for ev in events(sock, conn, lambda: "body" in got):
        if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
            got["status"] = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
            body += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, sid)
        elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and ev.stream_id == sid:
            got["body"] = body.decode(errors="replace")
    return got


def hold(n):
    """N streams, each asking for a stream of about argv[3] bytes, none given any window (the
    gateway holds every answer); then a plain call per line of stdin, until EOF."""
    sock, conn = connect({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    for k in range(n):
        request(conn, 1 + 2 * k, chat(k, stream=True),
                [("x-mock-delta-bytes", "16384"), ("x-mock-reply-words", str(int(sys.argv[3]) // 6))])
    sock.sendall(conn.data_to_send())
    print(json.dumps({"held": n}), flush=True)
    sid = 1 + 2 * n
    for _ in sys.stdin:
        print(json.dumps(plain_call(sock, conn, sid)), flush=True)
        sid += 2
    sock.close()


def upload(mib):
    """A POST of content-length 10^12 the gateway refuses at its head, whose answer's DATA
    cannot leave (window argv[3], 0 if not given); once its HEADERS came, MIB MiB of body sent
    as fast as the gateway's windows allow, until it resets the stream. Prints {"status",
    "sent", "reset"} and holds the connection until stdin ends."""
    window = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    sock, conn = connect({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    conn.send_headers(1, [(":method", "POST"), (":path", PATH), (":scheme", "https"),
                          (":authority", HOST), ("content-type", "application/json"),
                          ("authorization", "Bearer sk-app-raw"),
                          ("content-length", str(10 ** 12))])
    sock.sendall(conn.data_to_send())
    got, total, chunk = {"status": None, "sent": 0, "reset": None}, mib << 20, b"x" * 16384

    def take(ev):
        if isinstance(ev, h2.events.ResponseReceived):
            got["status"] = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.StreamReset):
            got["reset"] = int(ev.error_code)

    for ev in events(sock, conn, lambda: got["status"] or got["reset"] is not None):
        take(ev)
    while got["sent"] < total and got["reset"] is None:
        n = min(conn.local_flow_control_window(1), conn.max_outbound_frame_size,
                total - got["sent"], len(chunk))
        if n <= 0:  # wait for the gateway's WINDOW_UPDATE
            before = conn.local_flow_control_window(1)
            for ev in events(sock, conn, lambda: got["reset"] is not None or
                             conn.local_flow_control_window(1) > before):
                take(ev)
            if got["reset"] is None and conn.local_flow_control_window(1) <= before:
                break  # the gateway gave no more window
            continue
        conn.send_data(1, chunk[:n])
        sock.sendall(conn.data_to_send())
        got["sent"] += n
    print(json.dumps(got), flush=True)
    sys.stdin.read()
    sock.close()


def pin(n):
    """N calls one after another, each with a body of argv[3] bytes, whose answers get no
    window: each call ends with its record waiting for its stream. Prints {"answered": N}
    once every answer's HEADERS came, and holds the connection until stdin ends."""
    sock, conn = connect({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    size, heads = int(sys.argv[3]), set()
    for k in range(n):
        sid = 1 + 2 * k
        data = json.dumps({"model": "gpt-4o-mini",
                           "messages": [{"role": "user", "content": "x" * size}]}).encode()
        conn.send_headers(sid, [(":method", "POST"), (":path", PATH), (":scheme", "https"),
                                (":authority", HOST), ("content-type", "application/json"),
                                ("authorization", "Bearer sk-app-raw"),
                                ("content-length", str(len(data)))])
        while data:
            m = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, len(data))
            if m <= 0:
                before = conn.local_flow_control_window(sid)
                for ev in events(sock, conn, lambda: conn.local_flow_control_window(sid) > before):
                    if isinstance(ev, h2.events.ResponseReceived):
                        heads.add(ev.stream_id)
                continue
            conn.send_data(sid, data[:m], end_stream=m == len(data))
            sock.sendall(conn.data_to_send())
            data = data[m:]
        for ev in events(sock, conn, lambda: sid in heads):
            if isinstance(ev, h2.events.ResponseReceived):
                heads.add(ev.stream_id)
    print(json.dumps({"answered": len(heads)}), flush=True)
    sys.stdin.read()
    sock.close()


globals()[sys.argv[1]](int(sys.argv[2]))
