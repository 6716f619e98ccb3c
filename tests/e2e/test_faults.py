"""Every fault of the (mock) provider reaches the app as a clean, well-formed error in its
provider's format, and every one leaves an audit record."""
import json

import pytest

from conftest import hosts_wrap, wait_for
from test_intercept import CHAT, split, stream_body

URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
ANTHROPIC_BODY = json.dumps({"model": "claude-3-5-haiku-latest", "max_tokens": 32,
                             "messages": [{"role": "user", "content": "hello"}]})
ANTHROPIC_HDRS = ["x-api-key: sk-ant-app", "anthropic-version: 2023-06-01"]


def last_request(gw):
    return gw.world.wait_record(**{"event.name": "proxy.request"})


@pytest.mark.parametrize("mode,status", [("down", 503), ("ratelimit", 429)])
def test_provider_error_status_reaches_the_app_as_is(gw, mode, status):
    gw.start()
    gw.mock.fault(mode)
    body, code = split(gw.curl(URL, CHAT))
    assert code == status
    assert "message" in json.loads(body)["error"]
    rec = last_request(gw)
    assert rec["http.response.status_code"] == status and rec["aigw.outcome"] == "ok"


def test_ratelimit_keeps_retry_after(gw):
    gw.start()
    gw.mock.fault("ratelimit")
    r = gw.run_app(["curl", "-sS", "--http1.1", "-D", "-", "-o", "/dev/null",
                    "-H", "content-type: application/json", "--data-binary", CHAT, URL])
    assert "retry-after: 1" in r.stdout.lower()


def test_anthropic_overloaded_529(gw):
    gw.start()
    gw.mock.fault("overloaded", provider="anthropic")
    body, code = split(gw.curl(ANTHROPIC_URL, ANTHROPIC_BODY, headers=ANTHROPIC_HDRS))
    assert code == 529
    assert json.loads(body)["error"]["type"] == "overloaded_error"
    assert last_request(gw)["http.response.status_code"] == 529


def test_slow_first_byte_times_out_with_504(gw):
    gw.start(gw.policy(proxy={"timeouts": {"first_byte_ms": 500}}))
    gw.mock.fault("slow", delay_ms=3000)
    body, code = split(gw.curl(URL, CHAT))
    assert code == 504
    err = json.loads(body)["error"]
    assert "did not answer within 500 ms" in err["message"]
    assert last_request(gw)["aigw.outcome"] == "upstream_timeout"


def test_slow_provider_within_timeout_still_answers(gw):
    gw.start()
    gw.mock.fault("slow", delay_ms=400)
    body, code = split(gw.curl(URL, CHAT))
    assert code == 200 and json.loads(body)["object"] == "chat.completion"
    assert last_request(gw)["aigw.ttfb_ms"] >= 400


def test_hanging_provider_times_out_in_anthropic_format(gw):
    gw.start(gw.policy(proxy={"timeouts": {"first_byte_ms": 400}}))
    gw.mock.fault("hang", provider="anthropic")
    body, code = split(gw.curl(ANTHROPIC_URL, ANTHROPIC_BODY, headers=ANTHROPIC_HDRS))
    assert code == 504
    doc = json.loads(body)
    assert doc["type"] == "error" and doc["error"]["type"] == "timeout_error"


def test_stream_to_a_hanging_provider_is_on_record_before_it_ends(gw):
    """A stream writes proxy.request_started when admitted: a call that never ends (or a
    daemon killed meanwhile) still leaves a record, and the final one shares its id."""
    gw.start()
    gw.mock.fault("hang")
    argv = ["curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/json",
            "--data-binary", stream_body(), URL]
    app = gw.app.popen(hosts_wrap(gw.hosts, argv), env=gw.env())
    try:
        started = gw.world.wait_record(**{"event.name": "proxy.request_started"})
        # admitted is not yet sent: the app goes once the provider has the call (a kill
        # before that, on a loaded machine, left the provider never asked)
        wait_for(lambda: len(gw.mock.requests()) == 1, what="the provider asked")
        assert app.poll() is None, "the answer ended before the check"
        assert not [r for r in gw.world.records() if r["event.name"] == "proxy.request"]
        assert started["aigw.stream"] is True, started
        assert started["gen_ai.system"] == "openai", started
        assert started["gen_ai.request.model"] == "gpt-4o-mini", started
        assert started["aigw.workload"] == "billing", started
        assert started["aigw.cgroup.path"].endswith("/billing.service"), started
        assert started["process.executable.name"] == "curl", started
        assert started["process.pid"] == app.pid, started
        assert "aigw.team" in started, started
    finally:
        app.kill()
        app.communicate()
    final = last_request(gw)
    assert final["aigw.request_id"] == started["aigw.request_id"], (final, started)
    assert final["aigw.outcome"] == "client_gone", final
    assert len(gw.mock.requests()) == 1, gw.mock.requests()  # and not asked again


def test_a_plain_call_writes_no_started_record(gw):
    gw.start()
    assert split(gw.curl(URL, CHAT))[1] == 200
    last_request(gw)
    assert not [r for r in gw.world.records() if r["event.name"] == "proxy.request_started"]


def test_reset_before_answer_gives_502(gw):
    gw.start()
    gw.mock.fault("reset")
    body, code = split(gw.curl(URL, CHAT))
    assert code == 502
    assert "closed the connection before answering" in json.loads(body)["error"]["message"]
    assert last_request(gw)["aigw.outcome"] == "upstream_reset"


def test_reset_mid_stream_ends_the_client_stream_as_an_error(gw):
    gw.start()
    gw.mock.fault("reset")
    r = gw.run_app(["curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/json",
                    "--data-binary", stream_body(), URL])
    # The body is ended properly, its last event an error in OpenAI's stream format (what
    # the SDKs raise as an APIError), after whole events only.
    assert r.returncode == 0, r.stderr
    events = [e for e in r.stdout.split("\n\n") if e.strip()]
    assert len(events) >= 2 and "[DONE]" not in r.stdout
    for e in events[:-1]:
        assert json.loads(e.removeprefix("data: "))["object"] == "chat.completion.chunk"
    err = json.loads(events[-1].removeprefix("data: "))["error"]
    assert "in the middle of the response" in err["message"]
    rec = last_request(gw)
    assert rec["aigw.outcome"] == "upstream_reset" and rec["http.response.status_code"] == 200
    assert "in the middle of the response" in rec["error.type"]
    assert rec["aigw.stream.ended_by"] == "gateway_error_event"


@pytest.mark.parametrize("stream", [False, True])
def test_garbage_body_becomes_a_502(gw, stream):
    gw.start()
    gw.mock.fault("garbage")
    body, code = split(gw.curl(URL, stream_body() if stream else CHAT))
    assert code == 502
    err = json.loads(body)["error"]
    assert "not the" in err["message"] and err["type"] == "aigw_gateway_error"
    assert last_request(gw)["aigw.outcome"] == "upstream_bad_response"


def test_provider_down_entirely_gives_502(gw):
    gw.start()
    gw.mock.stop()
    body, code = split(gw.curl(URL, CHAT))
    assert code == 502
    assert "connect to api.openai.com" in json.loads(body)["error"]["message"]
    assert last_request(gw)["aigw.outcome"] == "upstream_connect_failed"


def test_client_gone_mid_stream_cancels_upstream_and_frees_everything(gw):
    """The daemon runs under ASan/LSan: stop() fails the test on any leak or misuse."""
    d = gw.start()
    r = gw.run_app(["curl", "-sS", "-N", "--http1.1", "-m", "1", "-H",
                    "content-type: application/json", "-H", "x-mock-chunk-delay-ms: 200",
                    "--data-binary", stream_body(), URL])
    assert r.returncode == 28  # curl gave up after 1 s, mid-stream
    rec = last_request(gw)
    assert rec["aigw.outcome"] == "client_gone"
    stats = json.loads(gw.mock.control("GET", "/control/stats"))
    from conftest import wait_for
    wait_for(lambda: json.loads(gw.mock.control("GET", "/control/stats"))["active_streams"] == 0,
             timeout=5, what="the upstream stream to be cancelled")
    assert stats["streams"] == 1
    d.stop()


def test_oversized_request_is_refused_with_413(gw):
    gw.start(gw.policy(proxy={"max_request_body": 4096}))
    big = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 8000}]})
    body, code = split(gw.curl(URL, big))
    assert code == 413
    assert json.loads(body)["error"]["code"] == "invalid_request"
    assert last_request(gw)["aigw.outcome"] == "request_too_large"
    assert gw.mock.requests() == []


def test_malformed_http_gets_400_and_a_record(gw):
    gw.start()
    script = ("import socket,ssl,os\n"
              "c=ssl.create_default_context(cafile=os.environ['SSL_CERT_FILE'])\n"
              "s=c.wrap_socket(socket.create_connection(('api.openai.com',443)),"
              "server_hostname='api.openai.com')\n"
              "s.sendall(b'POST /v1/chat/completions HTTP/1.1\\r\\nHost: api.openai.com\\r\\n"
              "Content-Length: abc\\r\\n\\r\\n')\n"
              "print(s.recv(4096).decode())\n")
    r = gw.run_app(["/usr/bin/python3", "-c", script])
    assert r.stdout.startswith("HTTP/1.1 400"), r
    rec = last_request(gw)
    assert rec["aigw.outcome"] == "bad_request"


def test_host_header_must_match_sni(gw):
    gw.start()
    r = gw.run_app(["curl", "-sS", "--http1.1", "-o", "-", "-w", "\n%{http_code}",
                    "-H", "host: evil.example.com", "-H", "content-type: application/json",
                    "--data-binary", CHAT, URL])
    body, code = split(r)
    assert code == 421
    assert last_request(gw)["aigw.outcome"] == "misdirected_request"


def test_silent_client_at_shutdown_is_recorded_and_freed(gw):
    """A connection still waiting for its ClientHello when the daemon stops is closed and
    recorded, not leaked (the daemon runs under LSan)."""
    import subprocess
    from conftest import OPENAI_ADDR, wait_for
    d = gw.start()
    idle = gw.app.popen(["/usr/bin/python3", "-c",
                         f"import socket,time; s=socket.create_connection(('{OPENAI_ADDR}',443));"
                         "print('up',flush=True); time.sleep(30)"], stdout=subprocess.PIPE)
    assert idle.stdout.readline().strip() == "up"
    gw.world.wait_record(**{"event.name": "capture.redirect", "process.pid": idle.pid})
    d.stop()
    idle.kill()
    idle.wait()
    rec = gw.world.wait_record(**{"event.name": "proxy.refused", "aigw.reason": "shutdown"})
    assert rec["process.pid"] == idle.pid


def raw_exchange(gw, request_bytes):
    """Sends REQUEST_BYTES over TLS from the captured app; returns all it got until close."""
    script = ("import socket,ssl,os,sys\n"
              "c=ssl.create_default_context(cafile=os.environ['SSL_CERT_FILE'])\n"
              "s=c.wrap_socket(socket.create_connection(('api.openai.com',443)),"
              "server_hostname='api.openai.com')\n"
              "s.settimeout(10)\n"
              "s.sendall(sys.stdin.buffer.read())\n"
              "data=b''\n"
              "try:\n"
              "    while True:\n"
              "        d=s.recv(65536)\n"
              "        if not d: break\n"
              "        data+=d\n"
              "except Exception as e: data+=('<%s>'%e).encode()\n"
              "sys.stdout.write(data.decode(errors='replace'))\n")
    return gw.run_app(["/usr/bin/python3", "-c", script], input=request_bytes.decode()).stdout


def test_chunked_request_trailers_are_not_forwarded(gw):
    """Trailers come after the header block was checked: they must never reach the provider
    (a trailer 'Transfer-Encoding: chunked' would otherwise smuggle a request upstream)."""
    gw.start()
    body = CHAT.encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n"
           b"Transfer-Encoding: chunked\r\nHost: evil.example\r\nX-Trailer: y\r\n\r\n")
    out = raw_exchange(gw, req)
    assert out.startswith("HTTP/1.1 200"), out
    log = gw.mock.requests()
    assert len(log) == 1 and log[0]["host"] == "api.openai.com"
    assert last_request(gw)["aigw.outcome"] == "ok"


def test_absolute_form_target_and_second_host_are_refused(gw):
    gw.start()
    out = raw_exchange(gw, b"GET https://other.example/v1/models HTTP/1.1\r\n"
                           b"Host: api.openai.com\r\nConnection: close\r\n\r\n")
    assert out.startswith("HTTP/1.1 400"), out
    out = raw_exchange(gw, b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n"
                           b"Host: other.example\r\nConnection: close\r\n\r\n")
    assert out.startswith("HTTP/1.1 421"), out
    assert gw.mock.requests() == []


def test_http10_client_gets_a_close_delimited_stream(gw):
    gw.start()
    body = stream_body().encode()
    out = raw_exchange(gw, b"POST /v1/chat/completions HTTP/1.0\r\nHost: api.openai.com\r\n"
                           b"Connection: keep-alive\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body)
    head, _, rest = out.partition("\n\n")  # (the output was read as text: CRLF became LF)
    assert head.startswith("HTTP/1.1 200") and "transfer-encoding" not in head.lower(), head
    assert "connection: close" in head.lower()
    assert rest.rstrip().endswith("data: [DONE]")
