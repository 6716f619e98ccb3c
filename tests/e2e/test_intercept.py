"""The intercepting proxy, end to end: unmodified clients in a captured cgroup call the
providers by name, aigw terminates TLS with a minted certificate, forwards to the (mock)
provider and streams the answer back; the audit log says who called what."""
import json

from conftest import OPENAI_ADDR, wait_for

CHAT = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "Summarise the invoice run"}]})


def split(r):
    body, _, code = r.stdout.rpartition("\n")
    return body, int(code)


def test_captured_curl_gets_the_providers_answer(gw):
    gw.start()
    r = gw.curl("https://api.openai.com/v1/chat/completions", CHAT,
                headers=["authorization: Bearer sk-app"])
    assert r.returncode == 0, r.stderr
    body, code = split(r)
    ref, ref_code = split(gw.curl_direct("https://api.openai.com/v1/chat/completions", CHAT,
                                         headers=["authorization: Bearer sk-app"]))
    assert code == ref_code == 200
    assert body == ref  # byte for byte
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["gen_ai.request.model"] == "gpt-4o-mini"
    assert rec["gen_ai.system"] == "openai" and rec["aigw.workload"] == "billing"
    assert rec["http.response.status_code"] == 200 and rec["aigw.outcome"] == "ok"
    assert rec["url.path"] == "/v1/chat/completions"
    assert rec["network.peer.address"] == OPENAI_ADDR
    assert rec["process.executable.name"] == "curl"
    # The app's credentials never reach the log.
    assert "sk-app" not in gw.world.audit_path.read_text()


def stream_body(model="gpt-4o-mini", **extra):
    return json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": "Write the quarterly summary"}],
                       **extra})


def test_captured_curl_streams_chunks_as_they_arrive(gw):
    """SSE through the proxy: the client sees the first event long before the last."""
    gw.start()
    script = (
        "import subprocess,time,json,sys\n"
        "p=subprocess.Popen(sys.argv[1:],stdout=subprocess.PIPE)\n"
        "t0=time.monotonic();ts=[];data=b''\n"
        "for line in iter(p.stdout.readline,b''):\n"
        "    data+=line\n"
        "    if line.startswith(b'data:'): ts.append(time.monotonic()-t0)\n"
        "p.wait();print(json.dumps({'ts':ts,'body':data.decode()}))\n")
    curl = ["curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/json",
            "-H", "x-mock-chunk-delay-ms: 150", "-H", "x-mock-reply-words: 8",
            "--data-binary", stream_body(), "https://api.openai.com/v1/chat/completions"]
    r = gw.run_app(["/usr/bin/python3", "-c", script, *curl])
    out = json.loads(r.stdout)
    ts = out["ts"]
    assert len(ts) >= 9 and out["body"].rstrip().endswith("data: [DONE]")
    # Chunks are spaced 150 ms apart upstream: buffering would deliver them together.
    assert ts[-1] - ts[0] > 1.0, ts
    assert ts[1] - ts[0] > 0.1, ts
    # The app did not ask for usage: aigw asked for it upstream (to know the cost) and the
    # app gets exactly that stream without the usage chunk it never asked for.
    ref = gw.curl_direct("https://api.openai.com/v1/chat/completions",
                         stream_body(stream_options={"include_usage": True}),
                         headers=["x-mock-reply-words: 8"])
    events = ref.stdout.rpartition("\n")[0].split("\n\n")
    usage_chunks = [e for e in events if '"choices":[]' in e]
    assert len(usage_chunks) == 1
    # (ids aside: the mock derives them from the request bytes, which aigw's rewrite changed)
    import re
    no_id = lambda t: re.sub(r'"chatcmpl-[A-Za-z0-9]+"', '"chatcmpl-ID"', t)  # noqa: E731
    assert no_id(out["body"]) == no_id("\n\n".join(e for e in events if e not in usage_chunks))
    assert '"choices":[]' not in out["body"]
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["aigw.stream"] is True and rec["aigw.outcome"] == "ok"
    # streamed as it came, not held to the end (a load on the machine slows both alike)
    assert rec["aigw.latency_ms"] > 1000 and rec["aigw.ttfb_ms"] < rec["aigw.latency_ms"] / 2
    usage = json.loads(usage_chunks[0][len("data: "):])["usage"]
    assert rec["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert rec["gen_ai.usage.output_tokens"] == usage["completion_tokens"] == 8
    assert rec["aigw.stream.end"] == "ok" 


def test_alpn_h2_when_offered_else_http11(gw):
    gw.start()

    def version(*flags):
        r = gw.run_app(["curl", "-sS", *flags, "-o", "/dev/null", "-w",
                        "%{http_version} %{http_code}", "-H", "content-type: application/json",
                        "--data-binary", CHAT, "https://api.openai.com/v1/chat/completions"])
        return r.stdout, r.stderr

    assert version("--http2")[0] == "2 200", version("--http2")
    # Offering only http/1.1, or no ALPN at all, still gets HTTP/1.1.
    assert version("--http1.1")[0] == "1.1 200"
    assert version("--http1.1", "--no-alpn")[0] == "1.1 200"


def test_anthropic_streaming_through_the_proxy(gw):
    gw.start()
    body = json.dumps({"model": "claude-3-5-haiku-latest", "max_tokens": 64, "stream": True,
                       "messages": [{"role": "user", "content": "Answer the customer"}]})
    hdrs = ["x-api-key: sk-ant-app", "anthropic-version: 2023-06-01"]
    r = gw.curl("https://api.anthropic.com/v1/messages", body, headers=hdrs)
    got, code = split(r)
    ref, _ = split(gw.curl_direct("https://api.anthropic.com/v1/messages", body, headers=hdrs))
    assert code == 200 and got == ref
    assert "event: message_start" in got and "event: message_stop" in got
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "anthropic"})
    assert rec["gen_ai.request.model"] == "claude-3-5-haiku-latest" and rec["aigw.stream"]


def test_gzip_response_passes_through_intact(gw):
    gw.start()
    r = gw.run_app(["curl", "-sS", "--http1.1", "-D", "-", "-o", "/dev/null",
                    "-H", "accept-encoding: gzip", "-H", "content-type: application/json",
                    "--data-binary", CHAT, "https://api.openai.com/v1/chat/completions"])
    assert "content-encoding: gzip" in r.stdout.lower()
    r = gw.run_app(["sh", "-c", "curl -sS --http1.1 -H 'accept-encoding: gzip' "
                    "-H 'content-type: application/json' --data-binary \"$0\" "
                    "https://api.openai.com/v1/chat/completions | gzip -dc", CHAT])
    assert json.loads(r.stdout)["object"] == "chat.completion"


def test_keepalive_requests_share_one_client_and_upstream_connection(gw):
    gw.start()
    url = "https://api.openai.com/v1/chat/completions"
    r = gw.run_app(["curl", "-sS", "--http1.1", "-H", "content-type: application/json",
                    "--data-binary", CHAT, url, "--next", "-H", "content-type: application/json",
                    "--data-binary", CHAT, url, "--next", "-H",
                    "content-type: application/json", "--data-binary", CHAT, url])
    assert r.returncode == 0 and r.stdout.count("chat.completion") == 3
    # The audit writer is a thread of its own: wait for all three records, not the first.
    def request_records():
        return [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]

    reqs = wait_for(lambda: len(request_records()) >= 3 and request_records(),
                    what="three request records")
    assert len(reqs) == 3
    assert len({x["aigw.connection_id"] for x in reqs}) == 1
    assert len([x for x in gw.mock.requests() if x["path"] == "/v1/chat/completions"]) == 3


def fronted_chat(gw, sni_args, url):
    """A hostile app: TLS to the provider's address under another name (or none), and inside
    it a chat call for api.openai.com."""
    return gw.run_app(["curl", "-sS", "-m", "10", "--http1.1", "-k", *sni_args, "-H",
                       "host: api.openai.com", "-H", "content-type: application/json",
                       "--data-binary", CHAT, url])


def test_sni_fronting_to_provider_address_is_refused(gw):
    """Another name in the SNI, api.openai.com in the Host: refused, never spliced unaudited."""
    gw.start()
    r = fronted_chat(gw, ["--resolve", f"localhost:443:{OPENAI_ADDR}"],
                     "https://localhost/v1/chat/completions")
    assert r.returncode != 0 and "chat.completion" not in r.stdout
    rec = gw.world.wait_record(**{"event.name": "proxy.refused", "aigw.reason": "fronting"})
    assert rec["aigw.fronting_kind"] == "sni"
    assert rec["tls.client.server_name"] == "localhost"
    assert rec["aigw.workload"] == "billing"
    assert gw.mock.requests() == []


def test_no_sni_to_provider_address_is_refused(gw):
    """An address in the URL: curl sends no SNI at all."""
    gw.start()
    r = fronted_chat(gw, [], f"https://{OPENAI_ADDR}/v1/chat/completions")
    assert r.returncode != 0 and "chat.completion" not in r.stdout
    rec = gw.world.wait_record(**{"event.name": "proxy.refused", "aigw.reason": "fronting"})
    assert rec["aigw.fronting_kind"] == "no_sni"
    assert "tls.client.server_name" not in rec
    assert gw.mock.requests() == []


def test_non_provider_sni_on_provider_address_passes_through_when_policy_says(gw):
    """A CDN address is shared: with "fronting": "passthrough" another site's TLS is spliced,
    not intercepted, and the record says it was fronting."""
    gw.start(gw.policy(capture={"fronting": "passthrough"}))
    # The mock's certificate also covers "localhost": a site that is not a provider here.
    r = gw.run_app(["curl", "-sS", "--http1.1", "--cacert", str(gw.certs / "ca.pem"),
                    "--resolve", f"localhost:443:{OPENAI_ADDR}", "-H",
                    "content-type: application/json", "--data-binary", CHAT,
                    "https://localhost/v1/chat/completions"])
    assert r.returncode == 0, r.stderr  # verified against the mock's own CA: not minted
    assert "chat.completion" in r.stdout
    rec = gw.world.wait_record(**{"event.name": "proxy.connection",
                                  "aigw.disposition": "passthrough"})
    assert rec["tls.client.server_name"] == "localhost"
    assert rec["aigw.fronting"] is True and rec["aigw.fronting_kind"] == "sni"
    assert "aigw.ai_service" not in rec
    assert not [x for x in gw.world.records() if x.get("event.name") == "proxy.request"]


def test_ai_service_sni_is_recorded_by_name(gw):
    """A name in the shipped catalogue (Mistral) is recorded as the AI service it is."""
    gw.start(gw.policy(capture={"fronting": "passthrough"}))
    r = gw.run_app(["curl", "-sS", "-m", "10", "--http1.1", "-k", "--resolve",
                    f"api.mistral.ai:443:{OPENAI_ADDR}", "https://api.mistral.ai/v1/models"])
    assert r.returncode == 0, r.stderr
    rec = gw.world.wait_record(**{"event.name": "proxy.connection",
                                  "tls.client.server_name": "api.mistral.ai"})
    assert rec["aigw.ai_service"] == "Mistral AI"
    assert rec["aigw.disposition"] == "passthrough"


def test_unsanctioned_ai_service_is_closed_when_policy_says(gw):
    """"unsanctioned_ai": "deny", and a service the policy adds to the catalogue."""
    pol = gw.policy(capture={"fronting": "passthrough", "unsanctioned_ai": "deny"})
    pol["ai_services"] = [{"name": "Shadow LLM", "domains": ["llm.example.test"]}]
    gw.start(pol)
    r = gw.run_app(["curl", "-sS", "-m", "10", "--http1.1", "-k", "--resolve",
                    f"chat.llm.example.test:443:{OPENAI_ADDR}",
                    "https://chat.llm.example.test/v1/models"])
    assert r.returncode != 0
    rec = gw.world.wait_record(**{"event.name": "proxy.refused",
                                  "aigw.reason": "unsanctioned_ai"})
    assert rec["aigw.ai_service"] == "Shadow LLM"
    assert rec["tls.client.server_name"] == "chat.llm.example.test"
    assert gw.mock.requests() == []


def test_plain_http_to_provider_address_is_closed_by_default(gw):
    gw.start()
    app_port_443 = ["curl", "-sS", "-m", "5", f"http://{OPENAI_ADDR}:443/"]
    r = gw.run_app(app_port_443)
    assert r.returncode != 0
    rec = gw.world.wait_record(**{"event.name": "proxy.refused", "aigw.reason": "not_tls"})
    assert rec["aigw.workload"] == "billing"


def upstream_cert_test(gw, world, mock_certs, cert):
    from conftest import Mock
    gw.mock.stop()
    gw.mock = Mock(mock_certs, world.tmp / f"mock-{cert}.log", cert=cert)
    gw.start()
    r = gw.curl("https://api.openai.com/v1/chat/completions", CHAT)
    body, code = split(r)
    assert code == 502
    err = json.loads(body)["error"]
    assert "certificate verification failed" in err["message"]
    rec = gw.world.wait_record(**{"event.name": "proxy.request"})
    assert rec["aigw.outcome"] == "upstream_tls_failed"
    assert gw.mock.requests() == []


def test_expired_upstream_certificate_is_refused(gw, world, mock_certs):
    upstream_cert_test(gw, world, mock_certs, "expired")


def test_wrong_host_upstream_certificate_is_refused(gw, world, mock_certs):
    upstream_cert_test(gw, world, mock_certs, "wrong")


def test_request_arriving_in_pieces_is_read_whole(gw):
    """Headers in one TLS record, the body later, in two pieces (as Python's http.client does)."""
    gw.start()
    # The app's sleeps are the scenario, not a wait: a client that trickles its body, so that
    # the proxy reads the headers and each piece in separate reads.
    script = ("import socket,ssl,os,time,json\n"
              "c=ssl.create_default_context(cafile=os.environ['SSL_CERT_FILE'])\n"
              "s=c.wrap_socket(socket.create_connection(('api.openai.com',443)),"
              "server_hostname='api.openai.com')\n"
              f"body={CHAT!r}.encode()\n"
              "s.sendall(b'POST /v1/chat/completions HTTP/1.1\\r\\nHost: api.openai.com\\r\\n"
              "Content-Type: application/json\\r\\nConnection: close\\r\\n"
              "Content-Length: %d\\r\\n\\r\\n' % len(body))\n"
              "time.sleep(0.2); s.sendall(body[:10]); time.sleep(0.2); s.sendall(body[10:])\n"
              "data=b''\n"
              "while True:\n"
              "    d=s.recv(65536)\n"
              "    if not d: break\n"
              "    data+=d\n"
              "print(data.decode())\n")
    r = gw.run_app(["/usr/bin/python3", "-c", script])
    assert r.stdout.startswith("HTTP/1.1 200"), r
    assert "connection: close" in r.stdout.lower()
    assert '"object":"chat.completion"' in r.stdout


def test_upstream_tls_sessions_are_resumed(world, mock_certs):
    """A second address of the same provider host gets a new upstream connection (the pool is
    per address) and resumes the TLS session the first one left."""
    from conftest import Gateway, Mock
    third = OPENAI_ADDR.rsplit(".", 1)[0] + ".23"
    g = Gateway(world, mock_certs)
    try:
        g.mock.stop()
        g.mock = Mock(mock_certs, world.tmp / "mock3.log", extra=("--listen", f"{third}:443"))
        pol = g.policy()
        pol["providers"]["openai"]["addresses"] = [third]
        g.start(pol)
        url = "https://api.openai.com/v1/chat/completions"
        assert split(g.curl(url, CHAT))[1] == 200
        first = g.world.wait_record(**{"event.name": "proxy.request"})
        assert first["aigw.upstream.tls_resumed"] is False
        r = g.curl(url, CHAT, extra=["--resolve", f"api.openai.com:443:{third}"])
        assert split(r)[1] == 200
        second = g.world.wait_record(**{"event.name": "proxy.request",
                                        "network.peer.address": third})
        assert second["aigw.upstream.reused"] is False
        assert second["aigw.upstream.tls_resumed"] is True
        # And the first address's connection is reused from the pool.
        assert split(g.curl(url, CHAT))[1] == 200

        def request_records():
            return [x for x in g.world.records() if x.get("event.name") == "proxy.request"]

        # the audit writer is a thread of its own: the third call's record, not the second's
        reqs = wait_for(lambda: len(request_records()) >= 3 and request_records(),
                        what="three request records")
        assert reqs[2]["aigw.upstream.reused"] is True
    finally:
        g.stop()
