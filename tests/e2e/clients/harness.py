# SPDX-License-Identifier: MIT
"""Runs the "legacy apps" of aigw's end-to-end tests and checks what they got.

The legacy apps (this folder) are real HTTP clients that know nothing of aigw: they call
https://api.openai.com and https://api.anthropic.com, take their key from OPENAI_API_KEY /
ANTHROPIC_API_KEY and their CA from the ordinary variables. Every one of them is called

    CLIENT PROVIDER MODE MODEL PROMPT ['Name: value' ...]

and prints one JSON object: {"client", "status", "headers", "body", "chunks", "pid", "error"}
(each file's header tells the details). This module starts the mock providers, makes the names
resolve to loopback addresses in a private mount namespace, runs the clients there and parses
what they printed, and asks curl the same for reference. It uses the standard library only.

Import it from a test in tests/e2e:

    sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
    import harness

Clients and cases
    CLIENTS            {name: Client}: .argv (the command before the arguments), .providers
                       ({provider: modes}), .parsed (True for the SDKs: "body" is the SDK's parsed
                       result or list of stream events; False: "body" is the raw body text),
                       .needs_node_modules
    MODES              {"openai": (plain, stream, embeddings, responses, responses-stream),
                        "anthropic": (plain, stream)}; STREAM_MODES the streaming ones
    cases(clients=None, providers=None, modes=None) -> [(client, provider, mode), ...]
                       every combination the clients support, filtered
    missing(client) -> None, or why the client cannot run here (no node, no node_modules: the
                       setup runs `npm ci --prefix tests/e2e/clients`); tests skip with it

Mock providers and names
    gen_certs(outdir) -> Path       tests/mockprov/gen-certs.sh OUTDIR; the CA is OUTDIR/ca.pem
    MockProv(certs, listen=(...), extra=(), deterministic=True, cert="server")
                       build/mockprov ($MOCKPROV_BIN) on the given ADDR:PORTs (default
                       OPENAI_ADDR:443 and ANTHROPIC_ADDR:443: 127.0.W.21 and .22 in
                       pytest-xdist worker W) plus a
                       control listener on 127.0.0.1 (refuses to start where something
                       listens already); .ca, .addrs, .requests(since=0),
                       .last_seq(), .ctl(method, path), .stop() (asserts exit 0); a context
                       manager
    write_hosts(path, mapping=None) -> Path
                       an /etc/hosts with localhost and {name: address}, by default
                       api.openai.com -> OPENAI_ADDR, api.anthropic.com -> ANTHROPIC_ADDR
    in_hosts_ns(hosts, argv) -> argv
                       argv run in a private mount namespace whose /etc/hosts is `hosts`
                       (unshare -m --propagation private, mount --bind, exec: the process keeps
                       the pid that Popen returned, so result.pid is the pid the gateway sees)

Running a client
    client_env(ca, extra=None) -> dict
                       a clean environment: PATH, HOME, LANG, dummy OPENAI_API_KEY and
                       ANTHROPIC_API_KEY (OPENAI_KEY, ANTHROPIC_KEY), and when ca is given
                       SSL_CERT_FILE, REQUESTS_CA_BUNDLE and NODE_EXTRA_CA_CERTS = ca. Nothing
                       else: no proxy variable, no *_BASE_URL, so the clients use the real URLs
    run_client(client, provider, mode, model, prompt, headers=(), *, hosts, ca, env=None,
               timeout=60, popen=subprocess.Popen, prefix=()) -> ClientResult
                       headers: {name: value} or ['Name: value']; env: extra variables over
                       client_env(ca); popen: how to start it (e.g. conftest's Cgroup.popen, so
                       the client runs in a test cgroup); prefix: argv put before the client
                       inside the namespace (e.g. setpriv to drop root)
    ClientResult       .status .headers .body .chunks .pid .error (as printed), .returncode,
                       .stderr, .client/.provider/.mode, .popen_pid (== .pid: the namespace
                       wrapper execs the client); .error_class (the SDKs: the class
                       of the error thrown, e.g. AuthenticationError); .ok (status 200, no error);
                       .first_ms/.last_ms (chunk times); .objects() the response as a list of
                       JSON objects (a plain reply is a list of one; stream events with "ping"
                       and "[DONE]" dropped); .answer() the normalized Answer

Reference requests and answers
    request_url(provider, mode), request_body(provider, mode, model, prompt) -> bytes,
    request_headers(provider, headers=(), key=None) -> {name: value}
                       exactly what the raw clients (node_fetch, py_urllib, py_requests) send
    curl(provider, mode, model, prompt, headers=(), *, ca, hosts=None, resolve=None, body=None,
         timeout=60) -> CurlResult(status, headers, body, text)
                       the same request by curl: resolve is the address to --resolve the
                       provider's name to; or hosts runs curl in the namespace like a client
    parse_sse(text) -> [(event or None, data), ...]
    objects_of(mode, body_text) -> [obj, ...]   a raw body as JSON objects (SSE for streams)
    answer(provider, mode, objects) -> Answer(text, usage, embedding)
                       text: the assistant's text (plain or the deltas joined); usage: the token
                       counts (for streams from the usage chunk / message_start + message_delta
                       / response.completed); embedding: the first vector (embeddings)
    strip_ids(obj, keys=("id", "item_id")) -> obj without those keys anywhere (ids hash the
                       request bytes under --deterministic, and the SDKs send bytes of their own)

What the clients send, to know when checking a gateway
    raw clients   exactly request_headers() and request_body(); python3-requests adds
                  Accept-Encoding gzip (so does Node's fetch), urllib asks for none
    openai_sdk    openai 6.49.0: Authorization: Bearer, its own JSON; embeddings ask for
                  encoding_format "base64" and are decoded by the SDK
    anthropic_sdk @anthropic-ai/sdk 1.14.0: Authorization: Bearer (not x-api-key),
                  anthropic-version 2026-10-21, its own JSON; "ping" events are not yielded
    both SDKs retry connection errors, 408/409/429 and 5xx twice (their default)
                  unless env={"SDK_MAX_RETRIES": "0"} (their maxRetries) says otherwise

A test through the gateway, in short
    mock = harness.MockProv(certs, listen=(f"{a}:443", f"{b}:443"))
    hosts = harness.write_hosts(tmp / "hosts", {"api.openai.com": a, "api.anthropic.com": b})
    r = harness.run_client("openai_sdk", "openai", "stream", "gpt-4o-mini", "hi",
                           {"x-mock-chunk-delay-ms": 50}, hosts=hosts, ca=gateway_ca,
                           popen=cgroup.popen)
    ref = harness.curl("openai", "stream", "gpt-4o-mini", "hi", ca=mock.ca, resolve=a)
    assert r.ok and r.answer() == harness.answer("openai", "stream",
                                                 harness.objects_of("stream", ref.text))
"""
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLIENTS_DIR = Path(__file__).resolve().parent
ROOT = CLIENTS_DIR.parents[2]
GEN_CERTS = ROOT / "tests" / "mockprov" / "gen-certs.sh"
NODE_MODULES = CLIENTS_DIR / "node_modules"
NODE = "/usr/bin/node"
PYTHON = "/usr/bin/python3"

# tests/run.sh runs the suite in several pytest-xdist workers: each has its own addresses.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
OPENAI_ADDR = f"127.0.{_WORKER}.21"
ANTHROPIC_ADDR = f"127.0.{_WORKER}.22"
HOSTS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}
OPENAI_KEY = "sk-test-legacy-openai"
ANTHROPIC_KEY = "sk-ant-test-legacy"
ANTHROPIC_VERSION = "2023-06-01"

MODES = {"openai": ("plain", "stream", "embeddings", "responses", "responses-stream"),
         "anthropic": ("plain", "stream")}
STREAM_MODES = ("stream", "responses-stream")
PATHS = {"plain": "/v1/chat/completions", "stream": "/v1/chat/completions",
         "embeddings": "/v1/embeddings", "responses": "/v1/responses",
         "responses-stream": "/v1/responses"}


@dataclass(frozen=True)
class Client:
    name: str
    argv: tuple
    providers: dict
    parsed: bool = False
    needs_node_modules: bool = False


CLIENTS = {
    "node_fetch": Client("node_fetch", (NODE, str(CLIENTS_DIR / "node_fetch.mjs")), MODES),
    "openai_sdk": Client("openai_sdk", (NODE, str(CLIENTS_DIR / "openai_sdk.mjs")),
                         {"openai": MODES["openai"]}, parsed=True, needs_node_modules=True),
    "anthropic_sdk": Client("anthropic_sdk", (NODE, str(CLIENTS_DIR / "anthropic_sdk.mjs")),
                            {"anthropic": MODES["anthropic"]}, parsed=True,
                            needs_node_modules=True),
    "py_urllib": Client("py_urllib", (PYTHON, str(CLIENTS_DIR / "py_urllib.py")), MODES),
    "py_requests": Client("py_requests", (PYTHON, str(CLIENTS_DIR / "py_requests.py")), MODES),
}


def cases(clients=None, providers=None, modes=None):
    """[(client, provider, mode)] for every combination the clients support, filtered."""
    out = []
    for name, c in CLIENTS.items():
        if clients and name not in clients:
            continue
        for prov, prov_modes in c.providers.items():
            if providers and prov not in providers:
                continue
            out += [(name, prov, m) for m in prov_modes if not modes or m in modes]
    return out


def missing(client):
    """None when the client can run here, else the reason (for pytest.skip)."""
    c = CLIENTS[client]
    if c.argv[0] == NODE and not os.access(NODE, os.X_OK):
        return f"{NODE} is missing (Debian package nodejs)"
    if c.needs_node_modules and not (NODE_MODULES / ".package-lock.json").exists():
        return (f"{NODE_MODULES} is missing: run `npm ci --prefix tests/e2e/clients` "
                "(scripts/setup.sh does)")
    if client == "py_requests":
        r = subprocess.run([PYTHON, "-c", "import requests"], capture_output=True)
        if r.returncode:
            return "python3-requests is missing (scripts/setup.sh installs it)"
    return None


# ---------------------------------------------------------------- mock providers and names


def gen_certs(outdir):
    """Test certificates from tests/mockprov/gen-certs.sh (idempotent); returns the folder."""
    outdir = Path(outdir)
    subprocess.run(["bash", str(GEN_CERTS), str(outdir)], check=True, capture_output=True)
    return outdir


def mock_binary():
    env = os.environ.get("MOCKPROV_BIN")
    if env:
        return Path(env)
    binary = ROOT / "build" / "mockprov"
    if not binary.exists():
        subprocess.run(["make", "-C", str(ROOT), "build/mockprov"], check=True,
                       capture_output=True)
    return binary


def tcp_listeners():
    """{(address, port)} of the TCP sockets listening in this network namespace."""
    out = set()
    for path, fam in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 4 or f[3] != "0A":
                continue
            addr, port = f[1].split(":")
            raw = bytes.fromhex(addr)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.add((socket.inet_ntop(fam, raw), int(port, 16)))
    return out


def split_addr(addr):
    """'A.B.C.D:PORT' or '[V6]:PORT' as (address, port)."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class MockProv:
    """A running mockprov: TLS on `listen` with certs/<cert>.pem, control on 127.0.0.1.

    mockprov binds with SO_REUSEPORT, so a second listener on the same address would silently
    share the connections: refuses to start when one of `listen` already has a listener."""

    def __init__(self, certs, listen=(f"{OPENAI_ADDR}:443", f"{ANTHROPIC_ADDR}:443"), extra=(),
                 deterministic=True, cert="server"):
        self.certs = Path(certs)
        self.ca = self.certs / "ca.pem"
        taken = [a for a in listen if split_addr(a)[1] and split_addr(a) in tcp_listeners()]
        if taken:
            raise RuntimeError(f"{', '.join(taken)}: something listens there already (another "
                               "mock?); it would share our connections (SO_REUSEPORT)")
        argv = [str(mock_binary())]
        for addr in listen:
            argv += ["--listen", addr]
        argv += ["--control", "127.0.0.1:0", "--cert", str(self.certs / f"{cert}.pem"),
                 "--key", str(self.certs / f"{cert}.key"), *extra]
        if deterministic:
            argv.append("--deterministic")
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err)
        self.addrs = {"tls": [], "plain": [], "control": []}
        for line in self._startup_lines(timeout=10):
            _, kind, addr = line.split()
            self.addrs[kind].append(addr)
        self.control = self.addrs["control"][0]

    def _stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def _startup_lines(self, timeout):
        buf, lines = b"", []
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.2)[0]:
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
        raise RuntimeError(f"mockprov did not get ready: {self._stderr()}")

    def ctl(self, method, path):
        """(status, body bytes) of a control API call."""
        req = urllib.request.Request(f"http://{self.control}{path}", method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def requests(self, since=0):
        """The mock's request log after entry `since`: method, path, provider, host,
        authorization, x_api_key, anthropic_version, model, stream, status, ..."""
        status, body = self.ctl("GET", f"/control/requests?since={since}")
        assert status == 200, body
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def last_seq(self):
        log = self.requests()
        return log[-1]["seq"] if log else 0

    def stop(self):
        """SIGTERM; asserts a clean exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.proc.stdout.close()
        err = self._stderr()
        self.err.close()
        assert self.proc.returncode == 0, f"mockprov exited {self.proc.returncode}: {err}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def write_hosts(path, mapping=None):
    """An /etc/hosts file: localhost, and each {name: address} (default: the providers'
    names to OPENAI_ADDR and ANTHROPIC_ADDR)."""
    if mapping is None:
        mapping = {HOSTS["openai"]: OPENAI_ADDR, HOSTS["anthropic"]: ANTHROPIC_ADDR}
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{addr} {name}" for name, addr in mapping.items()]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def in_hosts_ns(hosts, argv):
    """argv run in a private mount namespace where `hosts` is bind-mounted on /etc/hosts.
    Both unshare (no --fork) and sh exec, so the program keeps the pid Popen returns."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts), *argv]


# ---------------------------------------------------------------- running a client


def client_env(ca, extra=None):
    """A clean environment for a client: no proxy, no base URL, dummy keys, and the CA (a PEM
    file) in the standard variables when ca is not None."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
    if ca is not None:
        env.update(SSL_CERT_FILE=str(ca), REQUESTS_CA_BUNDLE=str(ca),
                   NODE_EXTRA_CA_CERTS=str(ca))
    env.update(extra or {})
    return env


def header_args(headers):
    """{name: value} or ['Name: value'] as ['Name: value', ...]."""
    if isinstance(headers, dict):
        return [f"{k}: {v}" for k, v in headers.items()]
    return list(headers or ())


@dataclass
class Answer:
    text: str = None
    usage: dict = None
    embedding: list = None


@dataclass
class ClientResult:
    client: str
    provider: str
    mode: str
    argv: list
    returncode: int
    stderr: str
    status: int = None
    headers: dict = field(default_factory=dict)
    body: object = None
    chunks: list = field(default_factory=list)
    pid: int = None
    error: str = None
    popen_pid: int = None
    error_class: str = None

    @property
    def ok(self):
        return self.status == 200 and self.error is None

    @property
    def first_ms(self):
        return self.chunks[0][0] if self.chunks else None

    @property
    def last_ms(self):
        return self.chunks[-1][0] if self.chunks else None

    def objects(self):
        """The response as JSON objects: [reply] or the stream's events (no ping, no [DONE])."""
        if not CLIENTS[self.client].parsed:
            return objects_of(self.mode, self.body)
        if self.mode in STREAM_MODES:
            return [o for o in self.body if o.get("type") != "ping"]
        return [self.body]

    def answer(self):
        return answer(self.provider, self.mode, self.objects())

    def __str__(self):
        body = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return (f"{self.client} {self.provider} {self.mode}: rc={self.returncode} "
                f"status={self.status} error={self.error} body={body[:500]!r} "
                f"stderr={self.stderr[-2000:]!r}")


def run_client(client, provider, mode, model, prompt, headers=(), *, hosts, ca, env=None,
               timeout=60, popen=subprocess.Popen, prefix=()):
    """Runs one client in a namespace whose /etc/hosts is `hosts`; returns its ClientResult.
    Raises AssertionError when it printed no JSON object or outlived the timeout."""
    c = CLIENTS[client]
    argv = in_hosts_ns(hosts, [*prefix, *c.argv, provider, mode, model, prompt,
                               *header_args(headers)])
    p = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
              env=client_env(ca, env), cwd=str(CLIENTS_DIR))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"{client} {provider} {mode}: no exit in {timeout}s; "
                             f"stdout={out[-2000:]!r} stderr={err[-2000:]!r}")
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        raise AssertionError(f"{client} {provider} {mode}: printed no JSON: rc={p.returncode} "
                             f"stdout={out[-2000:]!r} stderr={err[-2000:]!r}")
    d = json.loads(lines[-1])
    return ClientResult(client, provider, mode, argv, p.returncode, err, d.get("status"),
                        d.get("headers") or {}, d.get("body"), d.get("chunks") or [],
                        d.get("pid"), d.get("error"), p.pid, d.get("error_class"))


# ---------------------------------------------------------------- reference requests


def request_url(provider, mode):
    if mode not in MODES[provider]:
        raise ValueError(f"{provider} has no mode {mode}")
    return f"https://{HOSTS[provider]}" + ("/v1/messages" if provider == "anthropic"
                                           else PATHS[mode])


def request_body(provider, mode, model, prompt):
    """The exact bytes the raw clients send (compact JSON, this key order)."""
    msgs = [{"role": "user", "content": prompt}]
    if provider == "anthropic":
        b = {"model": model, "max_tokens": 1024, "messages": msgs}
        if mode == "stream":
            b["stream"] = True
    elif mode == "plain":
        b = {"model": model, "messages": msgs}
    elif mode == "stream":
        b = {"model": model, "messages": msgs, "stream": True,
             "stream_options": {"include_usage": True}}
    elif mode in ("embeddings", "responses"):
        b = {"model": model, "input": prompt}
    else:
        b = {"model": model, "input": prompt, "stream": True}
    return json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode()


def request_headers(provider, headers=(), key=None):
    """The headers the raw clients send, then the extra ones."""
    h = {"content-type": "application/json"}
    if provider == "openai":
        h["authorization"] = f"Bearer {key or OPENAI_KEY}"
    else:
        h.update({"x-api-key": key or ANTHROPIC_KEY, "anthropic-version": ANTHROPIC_VERSION})
    for a in header_args(headers):
        name, _, value = a.partition(":")
        h[name.strip().lower()] = value.strip()
    return h


@dataclass
class CurlResult:
    status: int
    headers: dict
    body: bytes
    stderr: str

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")


def curl(provider, mode, model, prompt, headers=(), *, ca, hosts=None, resolve=None, body=None,
         timeout=60):
    """The raw clients' request (or `body`) made by curl, trusting only `ca`. The provider's
    name resolves to `resolve` (an address) or through `hosts` (in a namespace, as a client)."""
    with tempfile.TemporaryDirectory() as d:
        hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
        argv = ["curl", "-sS", "-N", "--noproxy", "*", "--cacert", str(ca), "-D", hfile,
                "-o", bfile, "-w", "%{http_code}", "-X", "POST", "--data-binary", "@-"]
        if resolve:
            argv += ["--resolve", f"{HOSTS[provider]}:443:{resolve}"]
        for k, v in request_headers(provider, headers).items():
            argv += ["-H", f"{k}: {v}"]
        argv.append(request_url(provider, mode))
        if hosts:
            argv = in_hosts_ns(hosts, argv)
        data = body if body is not None else request_body(provider, mode, model, prompt)
        p = subprocess.run(argv, input=data, capture_output=True, timeout=timeout,
                           env=client_env(None))
        assert p.returncode == 0, f"curl failed: {p.stderr.decode()}"
        hdrs = {}
        for line in Path(hfile).read_bytes().decode("latin-1").splitlines():
            if ":" in line and not line.startswith("HTTP/"):
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        return CurlResult(int(p.stdout.decode()), hdrs, Path(bfile).read_bytes(),
                          p.stderr.decode())


# ---------------------------------------------------------------- answers


def parse_sse(text):
    """[(event or None, data)] of a server-sent event stream; data lines joined by newlines."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if event is not None or data:
            out.append((event, "\n".join(data)))
    return out


def objects_of(mode, text):
    """A raw body as JSON objects: [reply], or the stream's events without ping and [DONE]."""
    if mode not in STREAM_MODES:
        return [json.loads(text)]
    objs = [json.loads(d) for _, d in parse_sse(text) if d and d != "[DONE]"]
    return [o for o in objs if o.get("type") != "ping"]


def answer(provider, mode, objs):
    """The assistant's text, the token usage and (embeddings) the first vector of a response
    given as JSON objects (see objects_of)."""
    a = Answer()
    if provider == "anthropic":
        if mode == "plain":
            m = objs[0]
            a.text = "".join(b.get("text", "") for b in m.get("content", []))
            a.usage = m.get("usage")
            return a
        text, usage = [], {}
        for o in objs:
            if o.get("type") == "message_start":
                usage.update(o["message"].get("usage") or {})
            elif o.get("type") == "content_block_delta" and o["delta"].get("type") == "text_delta":
                text.append(o["delta"]["text"])
            elif o.get("type") == "message_delta":
                usage.update(o.get("usage") or {})
        a.text, a.usage = "".join(text), usage
        return a
    if mode == "plain":
        a.text = objs[0]["choices"][0]["message"]["content"]
        a.usage = objs[0].get("usage")
    elif mode == "stream":
        a.text = "".join((c.get("delta") or {}).get("content") or ""
                         for o in objs for c in o.get("choices") or [])
        a.usage = next((o["usage"] for o in reversed(objs) if o.get("usage")), None)
    elif mode == "embeddings":
        a.embedding = objs[0]["data"][0]["embedding"]
        a.usage = objs[0].get("usage")
    elif mode == "responses":
        a.text = "".join(c.get("text", "") for item in objs[0].get("output", [])
                         for c in item.get("content", []) if c.get("type") == "output_text")
        a.usage = objs[0].get("usage")
    else:
        a.text = "".join(o["delta"] for o in objs if o.get("type") == "response.output_text.delta")
        done = [o for o in objs if o.get("type") in ("response.completed", "response.incomplete")]
        a.usage = done[-1]["response"].get("usage") if done else None
    return a


def strip_ids(obj, keys=("id", "item_id")):
    """obj without the given keys at any depth."""
    if isinstance(obj, dict):
        return {k: strip_ids(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [strip_ids(v, keys) for v in obj]
    return obj
