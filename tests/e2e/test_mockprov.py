# SPDX-License-Identifier: MIT
"""End-to-end tests of mockprov, the mock OpenAI/Anthropic upstream (tests/mockprov).

Starts build/mockprov (or $MOCKPROV_BIN) on free loopback ports with certificates from
tests/mockprov/gen-certs.sh, talks to it with curl (--cacert, --resolve api.*.com:PORT:127.0.0.1)
and checks every endpoint plain and streaming, gzip, error bodies, each fault mode through the
control API, the request log and statistics. The mock must exit 0 on SIGTERM (under ASan that
also means no leak).

Run: /usr/bin/python3 -m pytest tests/e2e/test_mockprov.py
"""

import base64
import gzip
import json
import os
import select
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GEN_CERTS = ROOT / "tests" / "mockprov" / "gen-certs.sh"
INPUT_BASE = 3  # prompt tokens = words + INPUT_BASE


def mock_binary():
    env = os.environ.get("MOCKPROV_BIN")
    if env:
        return Path(env)
    binary = ROOT / "build" / "mockprov"
    if not binary.exists():
        subprocess.run(["make", "-C", str(ROOT), "build/mockprov"], check=True,
                       capture_output=True)
    return binary


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Mock:
    """A running mockprov and the addresses it printed."""

    def __init__(self, certs, *extra, cert="server", ipv6=False):
        self.certs = certs
        args = [str(mock_binary()), "--listen", "127.0.0.1:0", "--plain-listen", "127.0.0.1:0",
                "--control", "127.0.0.1:0", "--cert", str(certs / f"{cert}.pem"),
                "--key", str(certs / f"{cert}.key"), *extra]
        if ipv6:
            args[1:1] = ["--listen", "[::1]:0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addrs = {"tls": [], "plain": [], "control": []}
        for line in self._startup_lines(timeout=10):
            _, kind, addr = line.split()
            self.addrs[kind].append(addr)
        self.tls = int([a for a in self.addrs["tls"] if a.startswith("127.")][0].rsplit(":", 1)[1])
        self.plain = int(self.addrs["plain"][0].rsplit(":", 1)[1])
        self.control = int(self.addrs["control"][0].rsplit(":", 1)[1])

    def _startup_lines(self, timeout):
        """The lines mockprov prints before "mockprov: ready"."""
        buf, lines = b"", []
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line == b"mockprov: ready":
                    return lines
                lines.append(line.decode())
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"mockprov did not get ready: {self.proc.stderr.read().decode()}")

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        err = self.proc.stderr.read().decode()
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert rc == 0, f"mockprov exited {rc}: {err}"

    # ---- control API ----

    def ctl(self, method, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.control}{path}", method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def fault(self, query):
        status, body = self.ctl("POST", f"/control/fault?{query}")
        assert status == 200, body
        return json.loads(body)

    def reset(self):
        assert self.ctl("POST", "/control/reset")[0] == 200

    def requests(self, since=0):
        status, body = self.ctl("GET", f"/control/requests?since={since}")
        assert status == 200
        return [json.loads(line) for line in body.decode().splitlines()]

    def stats(self):
        return json.loads(self.ctl("GET", "/control/stats")[1])

    # ---- data plane ----

    def tls_args(self, host, port=None):
        port = port or self.tls
        return ["--cacert", str(self.certs / "ca.pem"), "--resolve", f"{host}:{port}:127.0.0.1",
                f"https://{host}:{port}"]


class Result:
    def __init__(self, rc, status, headers, body, stderr, info):
        self.rc, self.status, self.headers = rc, status, headers
        self.body, self.stderr, self.info = body, stderr, info

    def json(self):
        return json.loads(self.body)


def curl(args, url, timeout=30):
    """Runs curl; url is the scheme://host:port prefix joined with the path in args[-1]."""
    with tempfile.TemporaryDirectory() as d:
        hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-sS", "--noproxy", "*", "-D", hfile, "-o", bfile, "-w",
               "%{http_code} %{http_version} %{time_starttransfer} %{num_connects}", *args, url]
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        headers = {}
        if os.path.exists(hfile):
            for line in open(hfile, "rb").read().decode("latin-1").splitlines():
                if ":" in line and not line.startswith("HTTP/"):
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        body = open(bfile, "rb").read() if os.path.exists(bfile) else b""
        code, version, ttfb, connects = p.stdout.decode().split()[:4]
        return Result(p.returncode, int(code), headers, body, p.stderr.decode(),
                      {"http_version": version, "ttfb": float(ttfb), "connects": int(connects)})


def openai(mock, path, body, headers=None, extra=(), key="sk-test-openai"):
    args = ["-X", "POST", "-H", "content-type: application/json"]
    if key:
        args += ["-H", f"Authorization: Bearer {key}"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    args += ["--data-binary", data, *extra]
    tls = mock.tls_args("api.openai.com")
    return curl(args + tls[:-1], tls[-1] + path)


def anthropic(mock, body, headers=None, extra=(), key="sk-ant-test", version="2023-06-01"):
    hdrs = {}
    if key:
        hdrs["x-api-key"] = key
    if version:
        hdrs["anthropic-version"] = version
    hdrs.update(headers or {})
    args = ["-X", "POST", "-H", "content-type: application/json"]
    for k, v in hdrs.items():
        args += ["-H", f"{k}: {v}"]
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    args += ["--data-binary", data, *extra]
    tls = mock.tls_args("api.anthropic.com")
    return curl(args + tls[:-1], tls[-1] + "/v1/messages")


def sse_data(body):
    """OpenAI chat SSE: the payloads of the "data:" lines, in order."""
    out = []
    for block in body.decode().split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            out.append(block[len("data: "):])
    return out


def sse_events(body):
    """Named SSE events: [(event, json data)]."""
    out = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name
        out.append((name, data))
    return out


CHAT = {"model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Say hello to the mock provider please"}]}
CHAT_WORDS = 3 + 7
MSG = {"model": "claude-sonnet-4-5", "max_tokens": 256, "system": "Be brief.",
       "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there, mock!"}]}]}
MSG_WORDS = 2 + 3


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(GEN_CERTS), str(d)], check=True)
    return d


@pytest.fixture(scope="module")
def mock(certs):
    m = Mock(certs, "--threads", "2", ipv6=have_ipv6_loopback())
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def clean(request):
    if "mock" in request.fixturenames:
        request.getfixturevalue("mock").reset()


# ---- certificates ----

def test_gen_certs_idempotent_and_valid(certs):
    before = {p.name: p.read_bytes() for p in certs.iterdir()}
    subprocess.run(["bash", str(GEN_CERTS), str(certs)], check=True)
    assert {p.name: p.read_bytes() for p in certs.iterdir()} == before
    for name in ("ca", "server", "expired", "wrong"):
        assert (certs / f"{name}.pem").exists() and (certs / f"{name}.key").exists()

    def verify(name):
        return subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca.pem"),
                               str(certs / f"{name}.pem")], capture_output=True).returncode
    assert verify("server") == 0 and verify("wrong") == 0
    assert verify("expired") != 0
    text = subprocess.run(["openssl", "x509", "-in", str(certs / "server.pem"), "-noout",
                           "-ext", "subjectAltName"], capture_output=True, text=True).stdout
    assert "api.openai.com" in text and "api.anthropic.com" in text


@pytest.mark.parametrize("cert,host", [("expired", "api.openai.com"),
                                       ("wrong", "api.openai.com"),
                                       ("server", "api.example.com")])
def test_upstream_verification_fails(certs, cert, host):
    m = Mock(certs, cert=cert)
    try:
        tls = m.tls_args(host)
        r = curl(tls[:-1], tls[-1] + "/v1/chat/completions")
        assert r.rc == 60, r.stderr  # peer certificate cannot be authenticated
        r = curl(tls[:-1] + ["-k", "-d", json.dumps(CHAT)], tls[-1] + "/v1/chat/completions")
        assert r.rc == 0 and r.status == 200
    finally:
        m.stop()


# ---- OpenAI ----

def check_openai_headers(r):
    assert r.headers["x-request-id"].startswith("req_")
    assert int(r.headers["openai-processing-ms"]) > 0
    for h in ("limit-requests", "remaining-requests", "reset-requests", "limit-tokens",
              "remaining-tokens", "reset-tokens"):
        assert f"x-ratelimit-{h}" in r.headers


def test_chat_plain(mock):
    r = openai(mock, "/v1/chat/completions", CHAT)
    assert r.rc == 0 and r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert r.info["http_version"] == "1.1"
    check_openai_headers(r)
    j = r.json()
    assert j["object"] == "chat.completion" and j["id"].startswith("chatcmpl-")
    assert j["model"] == "gpt-4o-mini" and abs(j["created"] - time.time()) < 60
    choice = j["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    words = choice["message"]["content"].split()
    u = j["usage"]
    assert u["prompt_tokens"] == CHAT_WORDS + INPUT_BASE
    assert u["completion_tokens"] == len(words) > 0
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert u["prompt_tokens_details"]["cached_tokens"] == 0


def test_api_root_per_host(certs):
    """--api-root HOST=PATH: that host's OpenAI API is served under PATH, and only there; other
    hosts keep /v1."""
    m = Mock(certs, "--api-root", "api.groq.com=/openai/v1", "--api-root",
             "api.perplexity.ai=")
    try:
        def call(host, path):
            args = ["-X", "POST", "-H", "content-type: application/json", "-H",
                    "Authorization: Bearer sk-x", "--data-binary", json.dumps(CHAT)]
            tls = m.tls_args(host)
            return curl(args + tls[:-1], tls[-1] + path)

        assert call("api.groq.com", "/openai/v1/chat/completions").status == 200
        assert call("api.perplexity.ai", "/chat/completions").status == 200
        assert call("api.openai.com", "/v1/chat/completions").status == 200
        assert call("api.groq.com", "/v1/chat/completions").status == 404
        assert call("api.groq.com", "/openai/v1x/chat/completions").status == 404
        assert call("api.perplexity.ai", "/v1/chat/completions").status == 404
        assert [e["path"] for e in m.requests()][:3] == [
            "/openai/v1/chat/completions", "/chat/completions", "/v1/chat/completions"]
    finally:
        m.stop()


def test_chat_same_prompt_same_reply(mock):
    a = openai(mock, "/v1/chat/completions", CHAT).json()
    b = openai(mock, "/v1/chat/completions", CHAT).json()
    assert a["choices"] == b["choices"] and a["usage"] == b["usage"]
    assert a["id"] != b["id"]
    other = dict(CHAT, messages=[{"role": "user", "content": "something else entirely"}])
    c = openai(mock, "/v1/chat/completions", other).json()
    assert c["usage"]["prompt_tokens"] == 3 + INPUT_BASE
    assert c["choices"][0]["message"]["content"] != a["choices"][0]["message"]["content"]


def test_chat_reply_words_and_max_tokens(mock):
    r = openai(mock, "/v1/chat/completions", CHAT, headers={"x-mock-reply-words": "40"}).json()
    assert r["usage"]["completion_tokens"] == 40
    assert len(r["choices"][0]["message"]["content"].split()) == 40
    r = openai(mock, "/v1/chat/completions", dict(CHAT, max_completion_tokens=5),
               headers={"x-mock-reply-words": "40"}).json()
    assert r["usage"]["completion_tokens"] == 5 and r["choices"][0]["finish_reason"] == "length"


def test_chat_stream_without_usage(mock):
    plain = openai(mock, "/v1/chat/completions", CHAT).json()
    r = openai(mock, "/v1/chat/completions", dict(CHAT, stream=True))
    assert r.rc == 0 and r.status == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers.get("transfer-encoding") == "chunked"
    check_openai_headers(r)
    data = sse_data(r.body)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all("usage" not in c for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-4o-mini"
               for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == plain["choices"][0]["message"]["content"]


def test_chat_stream_include_usage(mock):
    plain = openai(mock, "/v1/chat/completions", CHAT).json()
    body = dict(CHAT, stream=True, stream_options={"include_usage": True})
    data = sse_data(openai(mock, "/v1/chat/completions", body).body)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"] == plain["usage"]
    assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
    assert all(c["choices"] for c in chunks[:-1])
    body["stream_options"] = {"include_usage": False}
    chunks = [json.loads(d) for d in sse_data(openai(mock, "/v1/chat/completions", body).body)[:-1]]
    assert all("usage" not in c for c in chunks)


def test_stream_chunks_are_flushed_one_by_one(mock):
    delay = 0.1
    tls = mock.tls_args("api.openai.com")
    cmd = ["curl", "-sS", "-N", "--noproxy", "*", *tls[:-1], "-H",
           "content-type: application/json", "-H", f"x-mock-chunk-delay-ms: {int(delay * 1000)}",
           "-H", "x-mock-reply-words: 6", "--data-binary", json.dumps(dict(CHAT, stream=True)),
           tls[-1] + "/v1/chat/completions"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    stamps = []
    for line in p.stdout:
        if line.startswith(b"data: "):
            stamps.append(time.monotonic())
    assert p.wait(timeout=10) == 0
    assert len(stamps) == 6 + 3  # role, 6 words, finish, [DONE]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert min(gaps) > delay * 0.6, gaps


def test_embeddings(mock):
    r = openai(mock, "/v1/embeddings", {"model": "text-embedding-3-small",
                                         "input": "the quick brown fox"})
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    j = r.json()
    assert j["object"] == "list" and j["model"] == "text-embedding-3-small"
    assert len(j["data"]) == 1 and j["data"][0]["object"] == "embedding"
    assert len(j["data"][0]["embedding"]) == 1536
    assert j["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    r = openai(mock, "/v1/embeddings", {"model": "m", "input": ["a b", "c"], "dimensions": 8,
                                         "encoding_format": "base64"}).json()
    assert [d["index"] for d in r["data"]] == [0, 1]
    assert all(len(base64.b64decode(d["embedding"])) == 8 * 4 for d in r["data"])
    assert r["usage"]["prompt_tokens"] == 3
    again = openai(mock, "/v1/embeddings", {"model": "m", "input": ["a b", "c"], "dimensions": 8,
                                             "encoding_format": "base64"}).json()
    assert again == r


def test_responses_plain(mock):
    body = {"model": "gpt-4.1", "instructions": "Be nice.", "input": "Tell me a story"}
    r = openai(mock, "/v1/responses", body)
    assert r.status == 200
    j = r.json()
    assert j["object"] == "response" and j["id"].startswith("resp_")
    assert j["status"] == "completed" and j["model"] == "gpt-4.1"
    assert j["instructions"] == "Be nice."
    out = j["output"][0]
    assert out["type"] == "message" and out["role"] == "assistant"
    text = out["content"][0]["text"]
    assert out["content"][0]["type"] == "output_text"
    u = j["usage"]
    assert u["input_tokens"] == 2 + 4 + INPUT_BASE
    assert u["output_tokens"] == len(text.split())
    assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]


def test_responses_stream(mock):
    body = {"model": "gpt-4.1", "input": [{"role": "user", "content": "Tell me a story"}]}
    plain = openai(mock, "/v1/responses", body).json()
    r = openai(mock, "/v1/responses", dict(body, stream=True))
    assert r.headers["content-type"].startswith("text/event-stream")
    ev = sse_events(r.body)
    names = [n for n, _ in ev]
    assert names[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    assert names[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [d["sequence_number"] for _, d in ev] == list(range(len(ev)))
    assert ev[0][1]["response"]["status"] == "in_progress"
    assert ev[0][1]["response"]["usage"] is None
    deltas = [d["delta"] for n, d in ev if n == "response.output_text.delta"]
    assert "".join(deltas) == plain["output"][0]["content"][0]["text"]
    done = ev[-1][1]["response"]
    assert done["status"] == "completed" and done["usage"] == plain["usage"]
    assert done["usage"]["output_tokens"] == len(deltas)


# ---- Anthropic ----

def check_anthropic_headers(r):
    assert r.headers["request-id"].startswith("req_")
    for h in ("limit", "remaining", "reset"):
        assert f"anthropic-ratelimit-requests-{h}" in r.headers


def test_messages_plain(mock):
    r = anthropic(mock, MSG, headers={"x-mock-cache-read": "11", "x-mock-cache-write": "5"})
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    check_anthropic_headers(r)
    j = r.json()
    assert j["type"] == "message" and j["id"].startswith("msg_") and j["role"] == "assistant"
    assert j["model"] == "claude-sonnet-4-5" and j["stop_reason"] == "end_turn"
    text = j["content"][0]["text"]
    u = j["usage"]
    assert u["input_tokens"] == MSG_WORDS + INPUT_BASE
    assert u["output_tokens"] == len(text.split())
    assert u["cache_read_input_tokens"] == 11 and u["cache_creation_input_tokens"] == 5
    r = anthropic(mock, dict(MSG, max_tokens=2), headers={"x-mock-reply-words": "9"}).json()
    assert r["usage"]["output_tokens"] == 2 and r["stop_reason"] == "max_tokens"


def test_messages_stream(mock):
    plain = anthropic(mock, MSG).json()
    r = anthropic(mock, dict(MSG, stream=True), headers={"x-mock-cache-read": "7"})
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    check_anthropic_headers(r)
    ev = sse_events(r.body)
    names = [n for n, _ in ev]
    n = names.count("content_block_delta")
    assert names == (["message_start", "content_block_start", "ping"]
                     + ["content_block_delta"] * n
                     + ["content_block_stop", "message_delta", "message_stop"])
    start = ev[0][1]["message"]
    assert start["id"].startswith("msg_") and start["content"] == []
    assert start["model"] == "claude-sonnet-4-5"
    u = start["usage"]
    assert u["input_tokens"] == MSG_WORDS + INPUT_BASE
    assert u["cache_read_input_tokens"] == 7 and u["cache_creation_input_tokens"] == 0
    text = "".join(d["delta"]["text"] for k, d in ev if k == "content_block_delta")
    assert text == plain["content"][0]["text"]
    delta = ev[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"] == {"output_tokens": n} and n == plain["usage"]["output_tokens"]
    ev = sse_events(anthropic(mock, dict(MSG, stream=True),
                              headers={"x-mock-delta-usage": "full",
                                       "x-mock-cache-write": "4"}).body)
    assert ev[-2][1]["usage"] == {"input_tokens": MSG_WORDS + INPUT_BASE,
                                  "cache_creation_input_tokens": 4,
                                  "cache_read_input_tokens": 0, "output_tokens": n}


# ---- reply text set by the test: x-mock-reply-text(-b64), x-mock-reply-echo, x-mock-delta-bytes

FORMATS = ("chat", "responses", "messages")


def ask(mock, fmt, headers, stream, prompt="Say hello", extra_body=None):
    """One call in API fmt; returns (text, deltas or None, output tokens, finish)."""
    if fmt == "chat":
        body = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be terse."},
                                                 {"role": "user", "content": prompt}]}
    elif fmt == "responses":
        body = {"model": "gpt-4.1", "instructions": "Be terse.",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": prompt}]}]}
    else:
        body = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "system": "Be terse.",
                "messages": [{"role": "user", "content": prompt}]}
    body.update(extra_body or {})
    if stream:
        body["stream"] = True
        if fmt == "chat":
            body["stream_options"] = {"include_usage": True}
    if fmt == "messages":
        r = anthropic(mock, body, headers=headers)
    else:
        path = "/v1/chat/completions" if fmt == "chat" else "/v1/responses"
        r = openai(mock, path, body, headers=headers)
    assert r.status == 200, r.body
    if not stream:
        j = r.json()
        if fmt == "chat":
            return (j["choices"][0]["message"]["content"], None, j["usage"]["completion_tokens"],
                    j["choices"][0]["finish_reason"])
        if fmt == "responses":
            return (j["output"][0]["content"][0]["text"], None, j["usage"]["output_tokens"],
                    j["status"])
        return j["content"][0]["text"], None, j["usage"]["output_tokens"], j["stop_reason"]
    if fmt == "chat":
        chunks = [json.loads(d) for d in sse_data(r.body) if d != "[DONE]"]
        deltas = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
        assert chunks[0]["choices"][0]["delta"]["content"] == ""
        return ("".join(deltas), deltas, chunks[-1]["usage"]["completion_tokens"],
                chunks[-2]["choices"][0]["finish_reason"])
    ev = sse_events(r.body)
    if fmt == "responses":
        deltas = [d["delta"] for n, d in ev if n == "response.output_text.delta"]
        text = [d["text"] for n, d in ev if n == "response.output_text.done"][0]
        part = [d["part"]["text"] for n, d in ev if n == "response.content_part.done"][0]
        item = [d["item"]["content"][0]["text"] for n, d in ev
                if n == "response.output_item.done"][0]
        done = ev[-1][1]["response"]
        assert text == part == item == done["output"][0]["content"][0]["text"]
        return text, deltas, done["usage"]["output_tokens"], done["status"]
    deltas = [d["delta"]["text"] for n, d in ev if n == "content_block_delta"]
    assert all(d["delta"]["type"] == "text_delta" for n, d in ev if n == "content_block_delta")
    return ("".join(deltas), deltas, ev[-2][1]["usage"]["output_tokens"],
            ev[-2][1]["delta"]["stop_reason"])


TRICKY = 'Write to john.doe@example.com, "now"\\ \tok'


@pytest.mark.parametrize("fmt", FORMATS)
def test_reply_text(mock, fmt):
    h = {"x-mock-reply-text": TRICKY}
    text, _, tokens, _ = ask(mock, fmt, h, False)
    assert text == TRICKY and tokens == len(TRICKY.split())
    text, deltas, tokens, _ = ask(mock, fmt, h, True)
    assert text == TRICKY and tokens == len(deltas) == len(TRICKY.split())
    # each word with the white space after it
    assert deltas == ["Write ", "to ", "john.doe@example.com, ", '"now"\\ \t', "ok"]
    # UTF-8 text through base64; latin-1 bytes in x-mock-reply-text become UTF-8
    uni = "Grüße an 山田 🙂 <tag>&"
    b64 = {"x-mock-reply-text-b64": base64.b64encode(uni.encode()).decode()}
    assert ask(mock, fmt, b64, False)[0] == uni
    text, deltas, _, _ = ask(mock, fmt, b64, True)
    assert text == uni and deltas[-2:] == ["🙂 ", "<tag>&"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reply_text_split_at_every_byte(mock, fmt):
    secret = "mail john.doe@example.com now"
    for n in (1, 2, 3, 7, 100):
        h = {"x-mock-reply-text": secret, "x-mock-delta-bytes": str(n)}
        text, deltas, tokens, finish = ask(mock, fmt, h, True)
        want = [secret[i:i + n] for i in range(0, len(secret), n)]
        assert deltas == want and text == secret and tokens == len(want)
        assert finish in ("stop", "completed", "end_turn")
        text, _, tokens, _ = ask(mock, fmt, h, False)
        assert text == secret and tokens == len(want)  # same count streamed or not
    # a piece never ends inside a UTF-8 character
    h = {"x-mock-reply-text-b64": base64.b64encode("aé€🙂z".encode()).decode(),
         "x-mock-delta-bytes": "2"}
    assert ask(mock, fmt, h, True)[1] == ["aé", "€", "🙂", "z"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reply_echo(mock, fmt):
    prompt = 'Mail <PERSON_1> at <EMAIL_1>, "thanks"\n'
    h = {"x-mock-reply-echo": "1"}
    text, _, tokens, _ = ask(mock, fmt, h, False, prompt=prompt)
    assert text == prompt and tokens == len(prompt.split())
    text, deltas, tokens, _ = ask(mock, fmt, h, True, prompt=prompt)
    assert text == prompt and tokens == len(deltas) == 5
    text, deltas, tokens, _ = ask(mock, fmt, dict(h, **{"x-mock-delta-bytes": "4"}), True,
                                  prompt=prompt)
    assert text == prompt and deltas[1] == " <PE" and tokens == len(deltas) == 10


def test_reply_echo_takes_last_user_message(mock):
    h = {"x-mock-reply-echo": "1"}
    chat = {"model": "gpt-4o", "messages": [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "no"},
        {"role": "user", "content": [{"type": "text", "text": "a "},
                                     {"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "not me"}]}
    r = openai(mock, "/v1/chat/completions", chat, headers=h).json()
    assert r["choices"][0]["message"]["content"] == "a b"
    for inp, want in (("just a string", "just a string"),
                      ([{"role": "user", "content": "one"},
                        {"type": "message", "role": "user", "content": [
                            {"type": "input_text", "text": "two"}]},
                        {"type": "function_call_output", "call_id": "c", "output": "x"}], "two")):
        r = openai(mock, "/v1/responses", {"model": "m", "input": inp}, headers=h).json()
        assert r["output"][0]["content"][0]["text"] == want
    msg = dict(MSG, messages=[{"role": "user", "content": "q"},
                              {"role": "assistant", "content": "a"},
                              {"role": "user", "content": [{"type": "text", "text": "x@y.z"}]}])
    r = anthropic(mock, msg, headers=h).json()
    assert r["content"][0]["text"] == "x@y.z"
    # no user message: an empty reply with no deltas and no output tokens
    msg = dict(MSG, messages=[{"role": "assistant", "content": "a"}], stream=True)
    ev = sse_events(anthropic(mock, msg, headers=h).body)
    assert "content_block_delta" not in [n for n, _ in ev]
    assert ev[-2][1]["usage"]["output_tokens"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_reply_text_and_max_tokens(mock, fmt):
    cap = {"chat": "max_completion_tokens", "responses": "max_output_tokens",
           "messages": "max_tokens"}[fmt]
    h = {"x-mock-reply-text": "abcdefghij", "x-mock-delta-bytes": "3"}
    for stream in (False, True):
        text, _, tokens, finish = ask(mock, fmt, h, stream, extra_body={cap: 2})
        assert text == "abcdef" and tokens == 2
        assert finish in ("length", "incomplete", "max_tokens")


def test_reply_delta_bytes_cuts_generated_text(mock):
    plain = ask(mock, "chat", {}, False)[0]
    text, deltas, tokens, _ = ask(mock, "chat", {"x-mock-delta-bytes": "5"}, True)
    assert text == plain and deltas == [plain[i:i + 5] for i in range(0, len(plain), 5)]
    assert tokens == len(deltas)


def test_reply_text_b64_invalid(mock):
    for bad in ("not base64!", base64.b64encode(b"\xff\xfe").decode()):
        r = openai(mock, "/v1/chat/completions", CHAT, headers={"x-mock-reply-text-b64": bad})
        check_openai_error(r, 400)
        r = anthropic(mock, MSG, headers={"x-mock-reply-text-b64": bad})
        check_anthropic_error(r, 400, "invalid_request_error")


# ---- encoding, transport ----

def test_gzip(mock):
    r = openai(mock, "/v1/chat/completions", CHAT, headers={"Accept-Encoding": "gzip"})
    assert r.status == 200 and r.headers["content-encoding"] == "gzip"
    j = json.loads(gzip.decompress(r.body))
    assert j["object"] == "chat.completion"
    r = anthropic(mock, MSG, headers={"Accept-Encoding": "gzip, deflate"})
    assert r.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(r.body))["type"] == "message"
    r = anthropic(mock, MSG, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in r.headers and r.json()["type"] == "message"
    r = openai(mock, "/v1/chat/completions", dict(CHAT, stream=True),
               headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers and sse_data(r.body)[-1] == "[DONE]"
    r = openai(mock, "/v1/chat/completions", CHAT)
    assert "content-encoding" not in r.headers


def test_alpn_http11_and_keepalive(mock):
    tls = mock.tls_args("api.openai.com")
    r = curl(["--http2", "-d", json.dumps(CHAT)] + tls[:-1], tls[-1] + "/v1/chat/completions")
    assert r.status == 200 and r.info["http_version"] == "1.1"
    url = tls[-1] + "/v1/chat/completions"
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", *tls[:-1], "-o", "/dev/null",
                        "-o", "/dev/null", "-w", "%{num_connects}\n", "-d", json.dumps(CHAT),
                        url, url], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and p.stdout.split() == ["1", "0"]


def test_plain_listener_and_ipv6(mock):
    r = curl(["-d", json.dumps(CHAT)], f"http://127.0.0.1:{mock.plain}/v1/chat/completions")
    assert r.status == 200 and r.json()["object"] == "chat.completion"
    six = [a for a in mock.addrs["tls"] if a.startswith("[")]
    if not six:
        pytest.skip("no IPv6 loopback")
    port = int(six[0].rsplit(":", 1)[1])
    r = curl(["--cacert", str(mock.certs / "ca.pem"), "--resolve",
              f"api.openai.com:{port}:[::1]", "-d", json.dumps(CHAT)],
             f"https://api.openai.com:{port}/v1/chat/completions")
    assert r.status == 200, r.stderr
    assert mock.requests()[-1]["tls"] is True


# ---- errors ----

def check_openai_error(r, status, type_="invalid_request_error"):
    assert r.status == status and r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert err["type"] == type_
    return err


def check_anthropic_error(r, status, type_):
    assert r.status == status and r.headers["content-type"] == "application/json"
    j = r.json()
    assert j["type"] == "error" and j["error"]["type"] == type_ and j["error"]["message"]
    assert j["request_id"] == r.headers["request-id"]
    return j["error"]


def test_openai_errors(mock):
    check_openai_error(openai(mock, "/v1/chat/completions", "{not json"), 400)
    check_openai_error(openai(mock, "/v1/chat/completions", ""), 400)
    err = check_openai_error(openai(mock, "/v1/chat/completions", {"messages": []}), 400)
    assert "model" in err["message"]
    err = check_openai_error(openai(mock, "/v1/chat/completions", {"model": "m"}), 400)
    assert err["param"] == "messages" and err["code"] == "missing_required_parameter"
    err = check_openai_error(openai(mock, "/v1/embeddings", {"model": "m"}), 400)
    assert err["param"] == "input"
    err = check_openai_error(openai(mock, "/v1/responses", {"input": "x"}), 400)
    assert err["param"] == "model"
    check_openai_error(openai(mock, "/v1/nope", CHAT), 404)
    tls = mock.tls_args("api.openai.com")
    check_openai_error(curl(tls[:-1], tls[-1] + "/v1/chat/completions"), 405)


def test_anthropic_errors(mock):
    err = check_anthropic_error(anthropic(mock, {k: v for k, v in MSG.items()
                                                 if k != "max_tokens"}), 400,
                                "invalid_request_error")
    assert "max_tokens" in err["message"]
    err = check_anthropic_error(anthropic(mock, MSG, version=None), 400, "invalid_request_error")
    assert "anthropic-version" in err["message"]
    check_anthropic_error(anthropic(mock, "{]"), 400, "invalid_request_error")
    err = check_anthropic_error(anthropic(mock, {"model": "c", "max_tokens": 5}), 400,
                                "invalid_request_error")
    assert "messages" in err["message"]


def test_require_auth(certs):
    m = Mock(certs, "--require-auth")
    try:
        check_openai_error(openai(m, "/v1/chat/completions", CHAT, key=None), 401)
        err = check_openai_error(openai(m, "/v1/chat/completions", CHAT, key="sk-invalid"), 401)
        assert err["code"] == "invalid_api_key"
        assert openai(m, "/v1/chat/completions", CHAT).status == 200
        check_anthropic_error(anthropic(m, MSG, key=None), 401, "authentication_error")
        assert anthropic(m, MSG).status == 200
    finally:
        m.stop()


# ---- faults ----

def test_fault_down(mock):
    mock.fault("mode=down")
    check_openai_error(openai(mock, "/v1/chat/completions", CHAT), 503, "server_error")
    check_anthropic_error(anthropic(mock, MSG), 503, "api_error")
    mock.reset()
    assert openai(mock, "/v1/chat/completions", CHAT).status == 200


def test_fault_ratelimit(mock):
    mock.fault("mode=ratelimit")
    r = openai(mock, "/v1/chat/completions", CHAT)
    err = check_openai_error(r, 429, "requests")
    assert err["code"] == "rate_limit_exceeded" and r.headers["retry-after"] == "1"
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    r = anthropic(mock, MSG)
    check_anthropic_error(r, 429, "rate_limit_error")
    assert r.headers["retry-after"] == "1"
    assert r.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_fault_overloaded(mock):
    mock.fault("mode=overloaded")
    check_anthropic_error(anthropic(mock, MSG), 529, "overloaded_error")
    check_openai_error(openai(mock, "/v1/chat/completions", CHAT), 503, "server_error")


def test_fault_message_json(mock):
    """message_json: the error reply's message, as the text of a JSON string (an escaped
    U+0000 too), for the OpenAI and Anthropic bodies of down, ratelimit and overloaded."""
    text = urllib.parse.quote(r'quota\u0000exceeded for \"X\"')
    mock.fault(f"mode=down&message_json={text}")
    raw = r'"message":"quota\u0000exceeded for \"X\""'
    r = openai(mock, "/v1/chat/completions", CHAT)
    assert check_openai_error(r, 503, "server_error")["message"] == 'quota\0exceeded for "X"'
    assert raw in r.body.decode(), r.body
    r = anthropic(mock, MSG)
    check_anthropic_error(r, 503, "api_error")
    assert raw in r.body.decode(), r.body
    mock.fault(f"mode=ratelimit&provider=openai&message_json={text}")
    assert raw in openai(mock, "/v1/chat/completions", CHAT).body.decode()
    for q in ("mode=slow&message_json=x", "mode=down&message_json=a%22b",
              "mode=down&message_json=a%5C", "mode=down&message_json=%5Cu00",
              "mode=down&message_json=" + "x" * 256):
        status, body = mock.ctl("POST", f"/control/fault?{q}")
        assert status == 400 and b"message_json" in body, (q, body)


def test_fault_provider_and_count(mock):
    mock.fault("mode=down&provider=anthropic&count=2")
    assert openai(mock, "/v1/chat/completions", CHAT).status == 200
    assert anthropic(mock, MSG).status == 503
    assert anthropic(mock, MSG).status == 503
    assert anthropic(mock, MSG).status == 200
    mock.fault("mode=ratelimit&provider=openai")
    mock.fault("mode=down&count=1")  # both providers, one request in all
    assert openai(mock, "/v1/chat/completions", CHAT).status == 503
    assert anthropic(mock, MSG).status == 200
    assert openai(mock, "/v1/chat/completions", CHAT).status == 200  # rule replaced, not stacked
    status, _ = mock.ctl("POST", "/control/fault?mode=bogus")
    assert status == 400
    # Gemini's safety blocks: another provider's calls would spend the rule answering normally
    for q in ("mode=blocked", "mode=filtered&provider=openai", "mode=blocked&provider=all"):
        status, body = mock.ctl("POST", f"/control/fault?{q}&count=1")
        assert status == 400 and b"provider=gemini" in body, (q, body)
    status, body = mock.ctl("GET", "/control/fault")
    assert status == 200 and json.loads(body)["faults"] == []


def test_fault_slow(mock):
    mock.fault("mode=slow&delay_ms=600&count=1")
    r = openai(mock, "/v1/chat/completions", dict(CHAT, stream=True))
    assert r.status == 200 and r.info["ttfb"] >= 0.55
    assert sse_data(r.body)[-1] == "[DONE]"
    r = openai(mock, "/v1/chat/completions", CHAT)
    assert r.status == 200 and r.info["ttfb"] < 0.5


def test_fault_reset(mock):
    mock.fault("mode=reset&provider=openai")
    r = openai(mock, "/v1/chat/completions", dict(CHAT, stream=True))
    assert r.rc == 56 and "reset" in r.stderr.lower(), r.stderr
    assert r.status == 200 and b"data: {" in r.body and b"[DONE]" not in r.body
    r = openai(mock, "/v1/chat/completions", CHAT)
    assert r.rc == 56 and "reset" in r.stderr.lower() and r.body == b""
    mock.fault("mode=reset&provider=anthropic")
    r = anthropic(mock, dict(MSG, stream=True), headers={"x-mock-chunk-delay-ms": "5"})
    assert r.rc == 56 and b"event: message_start" in r.body and b"message_stop" not in r.body


def test_fault_garbage(mock):
    mock.fault("mode=garbage")
    r = openai(mock, "/v1/chat/completions", CHAT)
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(r.body)
    r = anthropic(mock, dict(MSG, stream=True))
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    with pytest.raises((ValueError, AssertionError, IndexError)):
        sse_events(r.body)


def test_fault_hang(mock):
    mock.fault("mode=hang&count=1")
    r = openai(mock, "/v1/chat/completions", CHAT, extra=("-m", "1"))
    assert r.rc == 28 and r.body == b""
    assert openai(mock, "/v1/chat/completions", CHAT).status == 200
    assert mock.stats()["faults"]["hang"] == 1


# ---- control: request log, stats ----

def test_request_log(mock):
    openai(mock, "/v1/chat/completions", dict(CHAT, stream=True), key="sk-live-111")
    anthropic(mock, MSG, key="sk-ant-222")
    mock.fault("mode=down&provider=openai&count=1")
    openai(mock, "/v1/embeddings", {"model": "emb", "input": "x"}, key="sk-live-333")
    log = mock.requests()
    assert len(log) == 3
    a, b, c = log
    assert a["method"] == "POST" and a["path"] == "/v1/chat/completions"
    assert a["provider"] == "openai" and a["authorization"] == "Bearer sk-live-111"
    assert a["x_api_key"] is None and a["model"] == "gpt-4o-mini" and a["stream"] is True
    assert a["status"] == 200 and a["tls"] is True and a["host"].startswith("api.openai.com")
    assert b["provider"] == "anthropic" and b["x_api_key"] == "sk-ant-222"
    assert b["authorization"] is None and b["anthropic_version"] == "2023-06-01"
    assert b["stream"] is False and b["model"] == "claude-sonnet-4-5"
    assert c["fault"] == "down" and c["status"] == 503 and c["model"] == "emb"
    assert b["seq"] == a["seq"] + 1
    assert [e["seq"] for e in mock.requests(since=a["seq"])] == [b["seq"], c["seq"]]
    mock.ctl("DELETE", "/control/requests")
    assert mock.requests() == []


def test_request_log_body(mock, tmp_path):
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "mail john.doe@example.com"}]}
    raw = json.dumps(chat)
    openai(mock, "/v1/chat/completions", raw)
    resp = {"model": "gpt-4.1", "input": "caf\u00e9 \"quoted\"\n", "stream": True}
    openai(mock, "/v1/responses", json.dumps(resp, ensure_ascii=False).encode())
    anthropic(mock, dict(MSG, stream=True))
    odd = tmp_path / "odd.json"  # a NUL and a byte that is not UTF-8
    odd.write_bytes(b"{\"model\":\"x\",\x00\xff}")
    openai(mock, "/v1/chat/completions", f"@{odd}")
    a, b, c, d = mock.requests()
    assert a["body"] == raw and a["body_truncated"] is False
    assert json.loads(a["body"]) == chat and "john.doe@example.com" in a["body"]
    assert json.loads(b["body"]) == resp
    assert json.loads(c["body"]) == dict(MSG, stream=True)
    assert d["body"] == '{"model":"x",\x00\ufffd}' and d["status"] == 400
    # a body over 64 KiB is cut there, never inside a UTF-8 character
    filler = "\u20ac" * 30000  # 3 bytes each
    big = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": filler}]},
                     ensure_ascii=False).encode()
    (tmp_path / "big.json").write_bytes(big)
    mock.reset()
    assert openai(mock, "/v1/chat/completions", f"@{tmp_path / 'big.json'}").status == 200
    (e,) = mock.requests()
    assert e["body_truncated"] is True
    kept = e["body"].encode()
    assert 65536 - 2 <= len(kept) <= 65536 and big.startswith(kept)
    tls = mock.tls_args("api.openai.com")
    curl(tls[:-1], tls[-1] + "/v1/files")
    assert mock.requests()[-1]["body"] == ""


def test_request_log_keeps_last_1000(mock):
    tls = mock.tls_args("api.openai.com")
    url = tls[-1] + "/v1/nope"
    subprocess.run(["curl", "-sS", "--noproxy", "*", *tls[:-1], "-o", "/dev/null",
                    f"{url}?[1-1005]"], check=True, capture_output=True, timeout=60)
    log = mock.requests()
    assert len(log) == 1000 and log[-1]["status"] == 404
    assert log[-1]["seq"] - log[0]["seq"] == 999


def test_stats(mock):
    openai(mock, "/v1/chat/completions", CHAT)
    openai(mock, "/v1/chat/completions", dict(CHAT, stream=True))
    anthropic(mock, MSG, version=None)
    mock.fault("mode=ratelimit&count=1")
    anthropic(mock, MSG)
    s = mock.stats()
    assert s["requests"] == 4 and s["streams"] == 1 and s["active_streams"] == 0
    assert s["by_provider"] == {"openai": 2, "anthropic": 2, "gemini": 0, "bedrock": 0, "other": 0}
    assert s["by_status"] == {"200": 2, "400": 1, "429": 1}
    assert s["faults"]["ratelimit"] == 1
    assert mock.ctl("GET", "/control/health")[0] == 200
    assert mock.ctl("GET", "/control/nope")[0] == 404


# ---- deterministic mode ----

def test_deterministic_bytes(certs):
    m = Mock(certs, "--deterministic")
    try:
        for body in (CHAT, dict(CHAT, stream=True, stream_options={"include_usage": True})):
            a = openai(m, "/v1/chat/completions", body)
            b = openai(m, "/v1/chat/completions", body)
            assert a.body == b.body and a.headers == b.headers
        j = openai(m, "/v1/chat/completions", CHAT).json()
        assert j["created"] == 1700000000
        for body in (MSG, dict(MSG, stream=True)):
            assert anthropic(m, body).body == anthropic(m, body).body
        body = {"model": "gpt-4.1", "input": "hi", "stream": True}
        assert openai(m, "/v1/responses", body).body == openai(m, "/v1/responses", body).body
        other = openai(m, "/v1/chat/completions", dict(CHAT, model="gpt-4o")).json()
        assert other["id"] != j["id"]
    finally:
        m.stop()
