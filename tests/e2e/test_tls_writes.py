"""How the proxy writes TLS (userspace/proxy/tlsflush.c): a call's request and answer leave
from the callback that queued them, in whole records, without the epoll_ctl pair per write
that libevent's bufferevent_openssl costs; and an answer far larger than the client's socket
buffers, read slowly, still arrives whole (what could not go at once is sent later, and the
provider is read again once the client drains)."""
import json
import subprocess

from conftest import wait_for

CALLS = 60

# An unmodified Python app: one warm-up call, then waits for a line on its stdin (the test's
# go, once perf is attached), then CALLS calls on the same kept-alive connection; prints the
# statuses.
KEPT_ALIVE_APP = r"""
import http.client, json, sys
n = int(sys.argv[1])
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
c = http.client.HTTPSConnection("api.openai.com")
def call():
    c.request("POST", "/v1/chat/completions", body,
              {"content-type": "application/json", "authorization": "Bearer sk-app"})
    r = c.getresponse()
    r.read()
    return r.status
codes = [call()]
sys.stdin.readline()
codes += [call() for _ in range(n)]
print(json.dumps(codes))
"""

# An app with a 4 KiB receive buffer that calls with argv[1] as the body, asking the mock for
# argv[2] words.
SMALL_BUFFER_CALL = r"""
import http.client, socket, sys
class Small(http.client.HTTPSConnection):
    def connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((socket.gethostbyname(self.host), self.port))
        self.sock = self._context.wrap_socket(s, server_hostname=self.host)
c = Small("api.openai.com")
c.request("POST", "/v1/chat/completions", sys.argv[1],
          {"content-type": "application/json", "authorization": "Bearer sk-app",
           "x-mock-reply-words": sys.argv[2]})
"""

# SMALL_BUFFER_CALL, read 1 KiB at a time: the gateway's socket to it is full again and again.
# Prints the body it got.
SLOW_READER_APP = SMALL_BUFFER_CALL + r"""
r = c.getresponse()
got = bytearray()
while True:
    b = r.read(1024)
    if not b:
        break
    got += b
sys.stdout.write(f"{r.status}\n")
sys.stdout.buffer.write(bytes(got))
"""


def perf_attached(p):
    """Whether perf stat (Popen P) has opened its counters."""
    try:
        fds = subprocess.run(["ls", "-l", f"/proc/{p.pid}/fd"], capture_output=True,
                             text=True).stdout
    except OSError:
        return False
    return "perf_event" in fds


def kept_alive_syscalls(gw, *events, app_code=KEPT_ALIVE_APP):
    """APP_CODE's (KEPT_ALIVE_APP's) CALLS calls through a started gateway (after its warm-up
    call), with perf stat counting EVENTS in the daemon meanwhile: {event: count}. An event
    given as (EVENT, FILTER) counts only what FILTER (perf's tracepoint filter) lets by, under
    the key "EVENT if FILTER"."""
    d = gw.world.daemons[-1]
    app = gw.app.popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f'mount --bind "{gw.hosts}" /etc/hosts && exec "$@"', "sh",
                        "/usr/bin/python3", "-c", app_code, str(CALLS)],
                       env=gw.env(), stdin=subprocess.PIPE)
    # the warm-up call went through: its record is written
    gw.world.wait_record(**{"event.name": "proxy.request"})
    out = gw.world.tmp / "perf.txt"
    args, keys = [], []
    for e in events:
        name, filt = e if isinstance(e, tuple) else (e, None)
        args += ["-e", name] + (["--filter", filt] if filt else [])
        keys.append(f"{name} if {filt}" if filt else name)
    perf = subprocess.Popen(["perf", "stat", "-x,", "-o", str(out), "-p", str(d.proc.pid)]
                            + args)
    try:
        wait_for(lambda: perf_attached(perf), timeout=10, what="perf stat attached")
        stdout, stderr = app.communicate(input="go\n", timeout=60)
    finally:
        perf.send_signal(2)
        perf.wait(timeout=10)
    assert app.returncode == 0, stderr
    assert json.loads(stdout) == [200] * (CALLS + 1)
    values = [int(f[0]) for f in (line.split(",") for line in out.read_text().splitlines())
              if len(f) > 2 and f[0].isdigit()]
    assert len(values) == len(keys), out.read_text()
    return dict(zip(keys, values))


def test_kept_alive_calls_cost_no_epoll_ctl(gw):
    """Before tlsflush, each call cost ~3.7 epoll_ctl (the write event added and removed, on
    the client's and the provider's connection); now none."""
    gw.start()
    counts = kept_alive_syscalls(gw, "syscalls:sys_enter_epoll_ctl", "syscalls:sys_enter_write")
    # Fewer than one per call: the write events of a kept-alive call cancel in the changelist.
    assert counts["syscalls:sys_enter_epoll_ctl"] < CALLS // 2, counts
    # One write(2) per request upstream and one per answer (small: one record each), and the
    # audit writer's; never one per evbuffer chain.
    assert counts["syscalls:sys_enter_write"] <= 3 * CALLS + 10, counts


def direct_answer(gw, body, words):
    r = gw.curl_direct("https://api.openai.com/v1/chat/completions", body,
                       headers=["authorization: Bearer sk-app", f"x-mock-reply-words: {words}"])
    ref, _, code = r.stdout.rpartition("\n")
    assert code == "200", r.stderr
    return ref


def slow_read(gw, body, words):
    """The answer SLOW_READER_APP got for BODY with WORDS words: a 200, byte for byte what the
    provider answers when called directly."""
    r = gw.run_app(["/usr/bin/python3", "-c", SLOW_READER_APP, body, str(words)], timeout=120,
                   text=False)
    assert r.returncode == 0, r.stderr
    status, _, got = r.stdout.partition(b"\n")
    assert status == b"200"
    assert got.decode() == direct_answer(gw, body, words)
    return got


def test_large_answer_to_a_slow_reader_arrives_whole(gw):
    gw.start()
    words = 150000  # ~1 MB of JSON: far beyond the 4 KiB the app's socket holds
    body = json.dumps({"model": "gpt-4o-mini",
                       "messages": [{"role": "user", "content": "the long report"}]})
    got = slow_read(gw, body, words)
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"
    assert rec["gen_ai.usage.output_tokens"] == json.loads(got)["usage"]["completion_tokens"]


def test_large_stream_to_a_slow_reader_arrives_whole(gw):
    gw.start()
    words = 40000  # one event per word: thousands of writes held back by the app's socket
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "the long report"}]})
    got = slow_read(gw, body, words)  # every event, as the provider sent it
    assert got.rstrip().endswith(b"data: [DONE]")
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"
    assert rec["gen_ai.usage.output_tokens"] > 0


# SMALL_BUFFER_CALL, none of its answer read, waiting for a line on its stdin: the gateway's
# socket to it fills and stays full.
STOPPED_READER_APP = SMALL_BUFFER_CALL + r"""
sys.stdin.readline()
"""


def test_app_that_stops_reading_a_stream_is_cut_after_idle_ms(gw):
    """What could not go at once waits on the client's write event, with its write timeout:
    an app that stops reading a stream holds the call for proxy.timeouts.idle_ms, not for
    ever (the provider's connection, not read while the app's is full, runs no timer)."""
    gw.start(gw.policy(proxy={"timeouts": {"idle_ms": 1000}}))
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": "the long report"}]})
    app = gw.app.popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f'mount --bind "{gw.hosts}" /etc/hosts && exec "$@"', "sh",
                        "/usr/bin/python3", "-c", STOPPED_READER_APP, body, "40000"],
                       env=gw.env(), stdin=subprocess.PIPE)
    try:
        # the call ends (and is on record) while the app still holds its connection open
        rec = gw.world.wait_record(timeout=20, **{"event.name": "proxy.request"})
        assert app.poll() is None
    finally:
        app.communicate(input="go\n", timeout=30)
    assert rec["aigw.outcome"] == "client_gone", rec
    assert rec["http.response.status_code"] == 200
