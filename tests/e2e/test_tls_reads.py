"""How the proxy reads TLS (userspace/proxy/tlsread.c): one read(2) per batch of records once
the handshake is done (OpenSSL's read-ahead), not one for each record's header and another for
its body; and records that arrive together, from the app or from the provider, are all read,
though the socket has nothing more to say (libevent's OpenSSL bufferevent alone would leave
the ones read ahead inside OpenSSL: a call never answered)."""
import json
import socket
import ssl

from conftest import _NET, ThreadedServer, wait_for
from test_tls_writes import CALLS, KEPT_ALIVE_APP, SLOW_READER_APP, kept_alive_syscalls

# An app that writes two kept-alive calls at once, each cut into several TLS records (the
# request line, each header, the body in pieces), all in one send(2) after the handshake; then
# reads both answers. Prints their statuses. Each read waits 10 s at most: a call the gateway
# left unread never gets an answer.
RECORDS_AT_ONCE_APP = r"""
import json, socket, ssl, sys
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
head = ["POST /v1/chat/completions HTTP/1.1\r\n", "Host: api.openai.com\r\n",
        "Content-Type: application/json\r\n", "Authorization: Bearer sk-app\r\n",
        f"Content-Length: {len(body)}\r\n", "\r\n"]
pieces = head + [body[:20], body[20:40], body[40:]]
ctx = ssl.create_default_context()
ctx.set_alpn_protocols(["http/1.1"])
sock = socket.create_connection(("api.openai.com", 443), timeout=10)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname="api.openai.com")
def more():
    data = sock.recv(65536)
    if not data:
        raise SystemExit("closed")
    inc.write(data)
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        sock.sendall(out.read())
        more()
sock.sendall(out.read())  # the client's Finished, alone
for _ in range(2):
    for p in pieces:
        tls.write(p.encode())  # one record each
batch = out.read()
sock.sendall(batch)  # every record of both calls in one send
got = b""
def fill():
    global got
    while True:
        try:
            got += tls.read(65536)
            return
        except ssl.SSLWantReadError:
            more()
codes = []
while len(codes) < 2:
    while b"\r\n\r\n" not in got:
        fill()
    hdr, _, got = got.partition(b"\r\n\r\n")
    lines = hdr.decode().split("\r\n")
    n = [int(l.split(":")[1]) for l in lines if l.lower().startswith("content-length:")][0]
    while len(got) < n:
        fill()
    got = got[n:]
    codes.append(int(lines[0].split()[1]))
print(json.dumps({"codes": codes, "records": batch.count(b"\x17\x03\x03")}))
"""


def test_calls_in_records_sent_at_once_are_answered(gw):
    gw.start()
    r = gw.run_app(["/usr/bin/python3", "-c", RECORDS_AT_ONCE_APP])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["records"] >= 18  # what the test means to send: many records at once
    assert out["codes"] == [200, 200]
    recs = wait_for(lambda: [x for x in gw.world.records()
                             if x.get("event.name") == "proxy.request"][1:] or None,
                    what="two proxy.request records")
    assert recs[0]["http.response.status_code"] == 200


class RecordsProvider(ThreadedServer):
    """A provider on ADDR:443 that answers each request with a chat completion saying CONTENT,
    cut into TLS records of PIECE bytes, all sent in one sendall(): the gateway reads many at
    once."""

    def __init__(self, addr, certs, content="in many records", piece=40, events=0):
        self.content, self.piece, self.events = content, piece, events
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(certs / "server.pem"), str(certs / "server.key"))
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, 443))
        sock.listen(16)
        self.answered = 0
        self.serve(sock)

    def on_conn(self, c):
        c.settimeout(20)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ctx.wrap_bio(inc, out, server_side=True)
        buf = b""
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    c.sendall(out.read())
                    inc.write(c.recv(65536))
            c.sendall(out.read())
            while True:
                while b"\r\n\r\n" not in buf:
                    buf += self._read(c, tls, inc, out)
                hdr, _, buf = buf.partition(b"\r\n\r\n")
                n = [int(l.split(b":")[1]) for l in hdr.split(b"\r\n")
                     if l.lower().startswith(b"content-length:")][0]
                while len(buf) < n:
                    buf += self._read(c, tls, inc, out)
                buf = buf[n:]
                self._answer(c, tls, out)
        except (OSError, ssl.SSLError, EOFError):
            c.close()

    @staticmethod
    def _read(c, tls, inc, out):
        while True:
            try:
                return tls.read(65536)
            except ssl.SSLWantReadError:
                if out.pending:
                    c.sendall(out.read())
                data = c.recv(65536)
                if not data:
                    raise EOFError
                inc.write(data)

    def _body(self):
        """The answer: a chat completion, or EVENTS streamed chunks and [DONE]."""
        if not self.events:
            return "application/json", json.dumps({
                "id": "chatcmpl-records", "object": "chat.completion", "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": self.content}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
        chunk = {"id": "chatcmpl-records", "object": "chat.completion.chunk", "created": 1,
                 "model": "gpt-4o-mini",
                 "choices": [{"index": 0, "delta": {"content": "word "}, "finish_reason": None}]}
        return "text/event-stream", (f"data: {json.dumps(chunk)}\n\n" * self.events +
                                     "data: [DONE]\n\n")

    def _answer(self, c, tls, out):
        ctype, body = self._body()
        head = ["HTTP/1.1 200 OK\r\n", f"Content-Type: {ctype}\r\n",
                f"Content-Length: {len(body)}\r\n", "\r\n"]
        if out.pending:  # session tickets, alone
            c.sendall(out.read())
        step = self.piece
        for p in head + [body[i:i + step] for i in range(0, len(body), step)]:
            tls.write(p.encode())  # one record each
        c.sendall(out.read())  # all at once
        self.answered += 1


def records_provider(gw, mock_certs, cls=RecordsProvider, **kw):
    """A RecordsProvider (or CLS, one of its kind) in the mock's place as api.openai.com, and
    the gateway started with one worker (one pool of provider connections)."""
    addr = f"127.{_NET}.0.23"
    gw.hosts.write_text(gw.hosts.read_text().replace(f"{_NET}.0.21 api.openai.com",
                                                     f"{_NET}.0.23 api.openai.com"))
    prov = cls(addr, mock_certs, **kw)
    pol = gw.policy()
    pol["proxy"] = {"workers": 1}  # one pool: a second call finds the first's connection
    gw.start(pol)
    return prov


BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def test_answer_in_records_sent_at_once_arrives(gw, mock_certs):
    prov = records_provider(gw, mock_certs)
    try:
        for _ in range(2):  # the second on the kept connection to the provider
            r = gw.curl("https://api.openai.com/v1/chat/completions", BODY,
                        headers=["authorization: Bearer sk-app"], extra=["--max-time", "10"])
            got, _, code = r.stdout.rpartition("\n")
            assert code == "200", r.stderr
            assert json.loads(got)["choices"][0]["message"]["content"] == "in many records"
        recs = wait_for(lambda: [x for x in gw.world.records()
                                 if x.get("event.name") == "proxy.request"][1:] or None,
                        what="two proxy.request records")
        assert recs[0]["aigw.upstream.reused"] is True, recs
        assert recs[0]["gen_ai.usage.output_tokens"] == 3
    finally:
        prov.close()


def test_large_stream_in_records_to_a_slow_reader_arrives_whole(gw, mock_certs):
    """~60,000 records through read-ahead to an app that reads slowly: the gateway stops
    reading the provider again and again (backpressure) and every event still arrives, once,
    in order. Whether a pause ever falls when the socket is empty and OpenSSL holds the last
    records is timing: tests/unit/test_tlsread.c makes those cases happen every time."""
    events = 60000  # ~13 MB of small events: far past the gateway's 1 MiB for a slow app
    prov = records_provider(gw, mock_certs, piece=200, events=events)
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]})
    try:
        r = gw.run_app(["timeout", "60", "/usr/bin/python3", "-c", SLOW_READER_APP, body, "0"],
                       timeout=90, text=False)
        assert r.returncode == 0, r.stderr[-2000:]
        status, _, got = r.stdout.partition(b"\n")
        assert status == b"200"
        assert got.count(b'"delta": {"content": "word "}') == events
        assert got.rstrip().endswith(b"data: [DONE]")
    finally:
        prov.close()


READ = "syscalls:sys_enter_read"
HEADER_ALONE = (READ, "count == 5")  # OpenSSL reading a record's 5-byte header by itself


def reads_of(gw, app_code):
    """(read(2) calls, those asking for a TLS record's header alone) in the daemon over
    APP_CODE's kept-alive calls."""
    counts = kept_alive_syscalls(gw, READ, HEADER_ALONE, app_code=app_code)
    return counts[READ], counts[f"{READ} if {HEADER_ALONE[1]}"]


def test_kept_alive_calls_read_once_a_batch(gw):
    """Before read-ahead a kept-alive call cost ~8 read(2) in the gateway: a header and a body
    for the request's record and for the answer's, and the EAGAIN that ends each batch (481
    for 60 calls). Now no read asks for a record's header alone, on either side."""
    gw.start()
    reads, header_alone = reads_of(gw, KEPT_ALIVE_APP)
    assert header_alone == 0, (reads, header_alone)
    # One for the request; one for the answer, two when the mock's head and body (written
    # apart) are read apart; an EAGAIN now and then. A whole-machine load decides how many.
    assert reads <= 5 * CALLS, reads


# KEPT_ALIVE_APP over HTTP/2: Debian's httpx with http2=True, one connection; one warm-up call,
# then CALLS calls one after another once the test says go; prints the statuses.
KEPT_ALIVE_H2_APP = r"""
import httpx, json, sys
n = int(sys.argv[1])
body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
c = httpx.Client(http2=True)
def call():
    r = c.post("https://api.openai.com/v1/chat/completions", json=body,
               headers={"authorization": "Bearer sk-app"})
    assert r.http_version == "HTTP/2", r.http_version
    return r.status_code
codes = [call()]
sys.stdin.readline()
codes += [call() for _ in range(n)]
print(json.dumps(codes))
"""


def test_kept_alive_h2_calls_read_once_a_batch(gw):
    """An HTTP/2 client's frames are read as an HTTP/1.1 client's are: a batch of records a
    read(2), not a header and a body a record (451 reads for 60 calls before: 7.5 a call)."""
    gw.start()
    reads, header_alone = reads_of(gw, KEPT_ALIVE_H2_APP)
    assert header_alone == 0, (reads, header_alone)
    # httpx sends a call in three writes (HEADERS, DATA, an empty DATA ending the stream),
    # each a record: at most a read for each, one or two for the answer, an EAGAIN now and then
    assert reads <= 6 * CALLS, reads
