"""Fixtures of the end-to-end tests: throw-away cgroups, test servers on loopback provider
addresses, an aigw daemon per test with its own policy, pin directory and audit log.

Everything a test creates is named aigw-test-* and removed at teardown, also when the test
fails: cgroups (their processes killed first), BPF pins and links (`aigw detach`), daemons.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AIGW = os.environ.get("AIGW_BIN", str(ROOT / "build" / "aigw-san"))
HELPERS = ROOT / "build" / "tests" / "e2e" / "helpers"
NETCLIENT = str(Path(__file__).resolve().parent / "netclient.py")
PYTHON = "/usr/bin/python3"
PROVIDER4 = "127.0.0.2"  # the "provider" address the tests capture
PROVIDER6 = "::1"
# tests/run.sh runs this suite in several processes (pytest-xdist, one per CPU). What one
# process binds must never be what another binds: the provider addresses' port 443 above are
# one each on this machine, so every test that uses them runs in one process (the group
# below, given at collection); mock providers' addresses and free ports are split by worker.
PROVIDER_GROUP = "provider_addresses"
WORKER_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
WORKER_COUNT = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKER_INDEX >= WORKER_COUNT:  # xdist replaced a worker that died: its share is not ours
    raise RuntimeError(f"pytest-xdist worker {WORKER_INDEX} of {WORKER_COUNT}: run with "
                       "--max-worker-restart=0 (tests/run.sh does)")
# build/aigw-san stops at its first ASan/UBSan finding; these say so and how it ended.
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
# What a sanitizer prints when it finds something: UBSan's "runtime error:", and the
# "ERROR: AddressSanitizer: …" / "ERROR: LeakSanitizer: …" header or summary of the others.
SANITIZER_REPORT = re.compile(r"runtime error:|\w*Sanitizer")


def assert_no_sanitizer_report(text, what="aigw"):
    """Fails when TEXT (a daemon's log, a command's output) holds a sanitizer report,
    whatever else the test saw; the message shows the report from its first line."""
    m = SANITIZER_REPORT.search(text)
    if m:
        start = text.rfind("\n", 0, m.start()) + 1
        raise AssertionError(f"{what}: sanitizer report: {sanitizer_headline(text)}\n"
                             f"{text[start:start + 8000]}")


def sanitizer_headline(text):
    """The line of TEXT that names its sanitizer report ("==1==ERROR: LeakSanitizer: ..."),
    or "" when it holds none."""
    m = SANITIZER_REPORT.search(text)
    if not m:
        return ""
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    return text[start:end if end >= 0 else len(text)].strip()


def cgroup2_mount():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "cgroup2":
                return parts[1]
    pytest.skip("no cgroup2 mount")


def pytest_configure(config):
    config.addinivalue_line("markers", "xdist_group(name): run in one pytest-xdist worker")


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the group
def pytest_collection_modifyitems(config, items):
    """Each module's tests run in one worker, in order, so that a module-scoped daemon or mock
    is built once; a module that names the provider addresses uses them, and its tests join
    the group of all such modules."""
    for item in items:
        names = vars(item.module) if item.module else {}
        uses = "PROVIDER4" in names or "PROVIDER6" in names
        item.add_marker(pytest.mark.xdist_group(PROVIDER_GROUP if uses else
                                                item.module.__name__))


_current_test = None


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures, module-scoped ones included
def pytest_runtest_setup(item):
    global _current_test
    _current_test = item


def is_provider_address(host):
    """PROVIDER4's and PROVIDER6's port 443, and test_capture's 127.0.0.3 and .4: the loopback
    addresses no worker has its own of."""
    return host == PROVIDER6 or (host.startswith("127.0.0.") and host != "127.0.0.1")


def check_provider_group(host):
    """A server on a provider address from a test outside their group would meet another
    worker's: fail at once, saying so, not one run in many."""
    if not is_provider_address(host):
        return
    assert _current_test is not None, f"{host} bound outside a test"
    marks = [m.args[0] for m in _current_test.iter_markers("xdist_group") if m.args]
    assert PROVIDER_GROUP in marks, (
        f"{_current_test.nodeid} binds {host}: import PROVIDER4/PROVIDER6 from conftest in "
        "its module, so that its tests run in the provider addresses' group")


_ports_given = set()


def _port_share():
    """This worker's share of the ports below the kernel's ephemeral range (10000 up to it):
    a port-0 bind (a mock's control port, a unit test running beside the suite, an outgoing
    connection) never takes one there, between the moment it is given and the moment it is
    bound. None where the range starts too low for a share."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral = int(f.read().split()[0])
    size = (ephemeral - 10000) // WORKER_COUNT
    if size < 2000:
        return None
    first = 10000 + WORKER_INDEX * size
    return iter(range(first, first + size))


_share = _port_share()


def free_port(host="127.0.0.1"):
    """A port free on HOST now, never one this session gave before: the kernel may well give
    a port just let go again, and a world's capture listener and its mock's control port,
    both taken here before either binds, then met (aigw: listen on capture.listen: Address
    already in use, a clean run's failure). From this worker's own share of the ports."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        port = None if _share is None else next(_share, None)
        assert _share is None or port is not None, "this worker's share of the ports is spent"
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port or 0))
            except OSError:
                if port is None:
                    raise  # the kernel has no port for HOST: no retry will find one
                continue  # something else listens there
            port = s.getsockname()[1]
        # Given by the kernel, the split is on the port's upper bits: Linux gives bind() odd
        # ports only.
        if _share is None and (port in _ports_given or
                               (port >> 1) % WORKER_COUNT != WORKER_INDEX):
            continue
        _ports_given.add(port)
        return port


def wait_for(pred, timeout=5.0, step=0.05, what="condition"):
    """Polls pred until it returns something true and returns that. Polls every 5 ms at
    first (most conditions hold within a few ms), doubling the interval up to step."""
    deadline = time.monotonic() + timeout
    interval = min(0.005, step)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, step)


# build/aigw, the plain -O2 build. Under make test, tests/run.sh builds it beside the suite, in
# its background job (AIGW_PLAIN_PID), and marks the end of that build with PLAIN_STATUS +
# ".done" or ".failed".
PLAIN = ROOT / "build" / "aigw"
PLAIN_STATUS = os.environ.get("AIGW_PLAIN_STATUS")
_plain_failed = None  # why the wait for tests/run.sh's build ended without it


def _plain_build_ended():
    """'done', 'failed', or None while tests/run.sh's job is still building build/aigw."""
    for end in ("done", "failed"):
        if os.path.exists(f"{PLAIN_STATUS}.{end}"):
            return end
    try:
        os.kill(int(os.environ.get("AIGW_PLAIN_PID", "0")), 0)
    except (OSError, ValueError):
        return "failed"  # the job is gone without saying: killed, or its shell died
    return None


def plain_build(wait):
    """build/aigw's path when it is built and no older than AIGW (a stale one would measure
    other code), else None. While tests/run.sh is still building it: None, or with wait, waits
    for that build, and a wait that finds it failed fails the test (as do the next ones at
    once): a test that needs the plain build would otherwise say nothing."""
    global _plain_failed
    if PLAIN_STATUS:
        end = _plain_build_ended()
        if wait and end is None and _plain_failed is None:
            try:
                end = wait_for(_plain_build_ended, timeout=900, step=0.5,
                               what="tests/run.sh's build of build/aigw")
            except AssertionError as e:
                _plain_failed = str(e)
            else:
                if end != "done":
                    _plain_failed = ("tests/run.sh's build of build/aigw failed (its output "
                                     "follows the suite's)")
        if end != "done":
            if wait:
                pytest.fail(_plain_failed or "tests/run.sh's build of build/aigw failed")
            return None
    if not PLAIN.exists() or PLAIN.stat().st_mtime < Path(AIGW).stat().st_mtime:
        return None
    return PLAIN


def gauge(admin, series):
    """The value of SERIES ('name{label="v",...}' as the daemon writes it) on the /metrics of
    the admin endpoint at 127.0.0.1:ADMIN."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line[len(series) + 1:])
    raise AssertionError(f"no {series} in /metrics")


class Cgroup:
    """A cgroup under the cgroup2 mount; processes started with run() are placed in it
    before they exec."""

    def __init__(self, mount, rel):
        self.mount = mount
        self.rel = rel
        self.path = Path(mount + rel)
        self.path.mkdir(parents=True, exist_ok=True)

    def child(self, name):
        return Cgroup(self.mount, f"{self.rel}/{name}")

    @property
    def id(self):
        return os.stat(self.path).st_ino

    # A shell moves itself into the cgroup (0 written to cgroup.procs is the writer) and execs
    # the command, which keeps its pid. Not preexec_fn: that forks the whole pytest process,
    # ~23 ms of CPU a command on the test machine, where this costs ~6.
    ENTER = 'echo 0 > "$0" || { echo "aigw-test: cannot enter cgroup $0" >&2; exit 125; }; exec "$@"'

    def popen(self, argv, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        return subprocess.Popen(["/bin/sh", "-c", self.ENTER, str(self.path / "cgroup.procs"),
                                 *argv], **kw)

    def run(self, argv, timeout=20, input=None, **kw):
        if input is not None:
            kw["stdin"] = subprocess.PIPE
        p = self.popen(argv, **kw)
        out, err = p.communicate(input=input, timeout=timeout)
        # a command that never ran has not failed the way a test may expect it to
        assert not (p.returncode == 125 and "aigw-test: cannot enter cgroup" in str(err)), err
        return subprocess.CompletedProcess(argv, p.returncode, out, err)

    def client(self, mode, host, port, *extra, timeout=20, user=None, caps=()):
        """CAPS (with USER): the capabilities the client keeps, e.g. ("net_raw",)."""
        argv = [PYTHON, NETCLIENT, mode, host, str(port), *extra]
        kw = {}
        if user is not None:
            keep = "".join(f",+{c}" for c in caps)
            ambient = [f"--ambient-caps={keep[1:]}"] if caps else []
            # USER may be unable to enter the checkout (a clone in /root or in a mktemp -d
            # folder): the script's text comes from us, and it runs from /.
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                    f"--inh-caps=-all{keep}", *ambient, f"--bounding-set=-all{keep}",
                    PYTHON, "-c", Path(NETCLIENT).read_text(), mode, host, str(port), *extra]
            kw["cwd"] = "/"
        r = self.run(argv, timeout=timeout, **kw)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        assert lines, f"client printed nothing: rc={r.returncode} err={r.stderr}"
        return lines

    def remove(self):
        for sub in sorted(self.path.rglob("*"), key=lambda p: -len(p.parts)):
            if sub.is_dir():
                _kill_and_rmdir(sub)
        _kill_and_rmdir(self.path)


def _kill_and_rmdir(path):
    if not path.exists():
        return
    try:
        (path / "cgroup.kill").write_text("1")
    except OSError:
        for pid in (path / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    for _ in range(100):
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"could not remove cgroup {path}")


class ThreadedServer:
    """A test server: serve(SOCK) accepts SOCK's connections in a thread and hands each to
    self.on_conn(conn) (the subclass's) in a thread of its own; close() frees the port."""

    def serve(self, sock):
        self.sock = sock
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            self.on_accept(c, peer)
            threading.Thread(target=self.on_conn, args=(c,), daemon=True).start()

    def on_accept(self, c, peer):
        """Runs in the accepting thread, before on_conn (by default nothing)."""

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept(): the port is free again
        except OSError:
            pass
        self.sock.close()


class TcpServer(ThreadedServer):
    """A 'provider' on loopback: greets each connection with who it is and who connected,
    records the peers it saw."""

    def __init__(self, host, port):
        check_provider_group(host)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(128)
        self.host, self.port = host, port
        self.peers = []
        self.conns = []
        self.serve(sock)

    def on_accept(self, c, peer):
        self.peers.append(peer[:2])
        self.conns.append(c)

    def on_conn(self, c):
        # The client speaks first, as a TLS client does: the proxy classifies a connection
        # by its first bytes before anything is forwarded.
        try:
            c.settimeout(10)
            c.recv(4096)
            c.sendall(f"hello from {self.host}:{self.port}".encode())
            # Then, as a real server, close when the client has: a proxy between us keeps a
            # half-closed connection open until both sides closed theirs.
            c.settimeout(None)
            while c.recv(4096):
                pass
            c.close()
        except OSError:
            pass

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


class UdpServer:
    def __init__(self, host, port):
        check_provider_group(host)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)

    def received(self):
        try:
            return self.sock.recvfrom(2048)
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()


class Daemon:
    """One `aigw run` with its own log; stop() asserts a clean, leak-free exit."""

    def __init__(self, world, policy_path, cgroup=None, netns_hosts=None, wrap=()):
        """WRAP: a command aigw runs under (its argv before aigw's), e.g. strace."""
        self.world = world
        self.policy_path = policy_path
        self.log_path = world.tmp / f"aigw-{secrets.token_hex(3)}.log"
        argv = [*wrap, AIGW, "run", "--policy", str(policy_path), "--pin-dir",
                str(world.pin_dir)]
        if netns_hosts:
            # A private mount namespace whose /etc/hosts maps provider names to loopback.
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    f'mount --bind "{netns_hosts}" /etc/hosts && exec "$@"', "sh", *argv]
        env = dict(os.environ, **SAN_ENV)
        self.log = open(self.log_path, "w")
        kw = dict(stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if cgroup:
            self.proc = cgroup.popen(argv, **kw)
        else:
            self.proc = subprocess.Popen(argv, **kw)
        self.wait_ready()

    def text(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"aigw exited {self.proc.returncode}:\n{self.text()}")
            return "ready:" in self.text()

        # (every 10 ms: a daemon takes ~0.4 s to start, and the suite starts ~600)
        wait_for(ready, timeout=20, step=0.01, what="aigw ready")

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()
        text = self.text()
        assert_no_sanitizer_report(text, f"aigw run ({self.log_path})")
        assert self.proc.returncode == 0, f"aigw exited {self.proc.returncode}:\n{text}"
        self.stopped_clean = True

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


class World:
    def __init__(self, tmp):
        self.id = secrets.token_hex(4)
        self.tmp = tmp
        self.mount = cgroup2_mount()
        self.root = Cgroup(self.mount, f"/aigw-test-{self.id}")
        self.outside = Cgroup(self.mount, f"/aigw-test-{self.id}-outside")
        self.pin_dir = Path(f"/sys/fs/bpf/aigw-test-{self.id}")
        self.audit_path = tmp / "audit.jsonl"
        self.listen_port = free_port()
        self.daemons = []
        self.servers = []

    def policy(self, **over):
        p = {
            "capture": {"cgroup": self.root.rel, "listen": f"127.0.0.1:{self.listen_port}",
                        "listen6": f"[::1]:{self.listen_port}"},
            "audit": {"path": str(self.audit_path)},
            "ca": {"dir": str(self.tmp / "ca")},  # never the system's /var/lib/aigw
            "state": {"path": str(self.tmp / "state.db")},  # nor its counters
            # The capture tests speak plain TCP to the "provider": let it through.
            "proxy": {"non_tls": "passthrough"},
            "providers": {"openai": {"addresses": [f"{PROVIDER4}/32", PROVIDER6]}},
            "workloads": [{"name": "billing", "team": "finance",
                           "match": {"cgroup": "/*/billing*"}}],
        }
        for k, v in over.items():
            if isinstance(v, dict) and isinstance(p.get(k), dict):
                p[k].update(v)
            else:
                p[k] = v
        return p

    def write_policy(self, policy, name="policy.json"):
        path = self.tmp / name
        path.write_text(json.dumps(policy, indent=2))
        path.chmod(0o600)  # it may hold gateway keys: aigw refuses one others can read
        return path

    def start(self, policy=None, **kw):
        path = self.write_policy(policy or self.policy())
        d = Daemon(self, path, **kw)
        self.daemons.append(d)
        return d

    def server(self, host=PROVIDER4, port=443):
        s = TcpServer(host, port)
        self.servers.append(s)
        return s

    def audit_lines(self):
        """The audit log's finished lines: the writer may be in the middle of one (a read
        can see part of a write), and a line without its newline is not yet a record."""
        if not self.audit_path.exists():
            return []
        text = self.audit_path.read_text()
        return [ln for ln in text[:text.rfind("\n") + 1].splitlines() if ln.strip()]

    def records(self):
        return [json.loads(line) for line in self.audit_lines()]

    def wait_record(self, timeout=5, **match):
        def find():
            for r in self.records():
                if all(r.get(k) == v for k, v in match.items()):
                    return r
            return None

        return wait_for(find, timeout=timeout, what=f"audit record {match}")

    def aigw(self, *args, timeout=30, binary=AIGW):
        r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, **SAN_ENV))
        assert_no_sanitizer_report(r.stdout + r.stderr, f"aigw {' '.join(args)}")
        return r

    def teardown(self):
        errors = []
        # Stopped cleanly by the test, or still running (killed below): no daemon of this world
        # died, or was killed, under the test.
        routine = all(getattr(d, "stopped_clean", False) or d.proc.poll() is None
                      for d in self.daemons)
        for d in self.daemons:
            if d.proc.poll() is None:
                # Stopped as an operator stops it: its exit runs LeakSanitizer, which a kill
                # skipped (a leak of a test that left its daemon running went unseen).
                d.proc.send_signal(signal.SIGTERM)
                try:
                    if d.proc.wait(timeout=20) != 0:
                        errors.append(f"aigw run ({d.log_path}): exit {d.proc.returncode} "
                                      f"on SIGTERM: {sanitizer_headline(d.text())}\n"
                                      f"{d.text()[-4000:]}")
                except subprocess.TimeoutExpired:
                    d.proc.kill()
                    d.proc.wait()
                    errors.append(f"aigw run ({d.log_path}): still running 20 s after SIGTERM")
            d.log.close()
            # Also the daemons a test killed or left running: a finding fails the test.
            try:
                assert_no_sanitizer_report(d.text(), f"aigw run ({d.log_path})")
            except AssertionError as e:
                errors.append(str(e))
        for s in self.servers:
            s.close()
        # After a routine end, cleanup only: the -O2 build where it is no older than AIGW, as
        # an ASan process costs ~60 ms of CPU to start and leak-check (test_capture runs detach
        # under ASan). After a daemon that died or was killed under the test, AIGW's own
        # detach, under ASan: that is the case to check.
        plain = plain_build(wait=False)
        use_plain = routine and plain is not None
        try:
            r = self.aigw("detach", "--pin-dir", str(self.pin_dir),
                          binary=str(plain) if use_plain else AIGW)
            if r.returncode != 0:
                errors.append(f"aigw detach: exit {r.returncode}: {r.stderr}")
        except AssertionError as e:
            errors.append(str(e))
        for cg in (self.root, self.outside):
            cg.remove()
        if errors:
            # each error's first line first: pytest's one-line summary (and CI's tail) shows
            # only the message's first line
            firsts = " | ".join((e.splitlines() or [""])[0] for e in errors)
            raise AssertionError(firsts + "\n\n" + "\n\n".join(errors))


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.teardown()


# ---- the intercepting proxy's world: mock providers behind real host names ----

MOCKPROV = os.environ.get("MOCKPROV_BIN", str(ROOT / "build" / "mockprov"))
GEN_CERTS = str(ROOT / "tests" / "mockprov" / "gen-certs.sh")
# Each test run gets its own provider addresses: nothing else listening on loopback (another
# run, a developer's mock) can answer in our place. The workers of one run share a random
# base (xdist gives them one run id) and take the next WORKER_COUNT networks from it.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_NET = 100 + (zlib.crc32(_RUN.encode()) if _RUN else secrets.randbits(32)) % (150 - WORKER_COUNT) \
    + WORKER_INDEX
OPENAI_ADDR = f"127.{_NET}.0.21"
ANTHROPIC_ADDR = f"127.{_NET}.0.22"


@pytest.fixture(scope="session")
def mock_certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("mockcerts")
    subprocess.run(["bash", GEN_CERTS, str(d)], check=True, capture_output=True)
    return d


class Mock:
    """mockprov on the providers' loopback addresses, port 443, with its control port."""

    def __init__(self, certs, log_path, cert="server", extra=()):
        self.control_port = free_port()
        argv = [MOCKPROV, "--listen", f"{OPENAI_ADDR}:443", "--listen", f"{ANTHROPIC_ADDR}:443",
                "--cert", str(certs / f"{cert}.pem"), "--key", str(certs / f"{cert}.key"),
                "--control", f"127.0.0.1:{self.control_port}", "--deterministic", *extra]
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "mockprov: ready" in Path(log_path).read_text(), timeout=10,
                 step=0.01, what="mockprov ready")

    def control(self, method, path):
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}",
                                     method=method)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def fault(self, mode, **params):
        q = "&".join([f"mode={mode}"] + [f"{k}={v}" for k, v in params.items()])
        self.control("POST", f"/control/fault?{q}")

    def requests(self):
        return [json.loads(l) for l in self.control("GET", "/control/requests").splitlines()
                if l.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


HOSTS = f"127.0.0.1 localhost\n{OPENAI_ADDR} api.openai.com\n{ANTHROPIC_ADDR} api.anthropic.com\n"


def hosts_wrap(hosts_file, argv):
    """argv run in a private mount namespace whose /etc/hosts is HOSTS_FILE."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount --bind "{hosts_file}" /etc/hosts && exec "$@"', "sh", *argv]


class Gateway:
    """A World set up for interception: mock providers, host names, the gateway CA."""

    def __init__(self, world, certs):
        self.world = world
        self.certs = certs
        self.hosts = world.tmp / "hosts"
        self.hosts.write_text(HOSTS)
        self.ca_dir = world.tmp / "ca"
        self.mock = Mock(certs, world.tmp / "mock.log")
        self.app = world.root.child("billing.service")

    def policy(self, **over):
        p = self.world.policy(**over)
        if "proxy" not in over:
            del p["proxy"]  # the gateway's own default: non-TLS is closed
        p["providers"] = over.get("providers", {
            "openai": {"hosts": ["api.openai.com"]},
            "anthropic": {"hosts": ["api.anthropic.com"]}})
        p.setdefault("ca", {"dir": str(self.ca_dir)})
        p.setdefault("tls", {"upstream_ca": str(self.certs / "ca.pem")})
        return p

    def start(self, policy=None, **kw):
        return self.world.start(policy or self.policy(), netns_hosts=self.hosts, **kw)

    def env(self):
        ca = str(self.ca_dir / "ca.pem")
        return dict(os.environ, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca,
                    NODE_EXTRA_CA_CERTS=ca, CURL_CA_BUNDLE=ca)

    def run_app(self, argv, cgroup=None, timeout=30, **kw):
        """An unmodified app in the captured cgroup, seeing the provider names."""
        cg = cgroup or self.app
        return cg.run(hosts_wrap(self.hosts, argv), timeout=timeout, env=self.env(), **kw)

    def curl(self, url, body=None, headers=(), extra=(), cgroup=None):
        argv = ["curl", "-sS", "--http1.1", "-o", "-", "-w", "\n%{http_code}", *extra]
        for h in headers:
            argv += ["-H", h]
        if body is not None:
            argv += ["-H", "content-type: application/json", "--data-binary", body]
        argv.append(url)
        return self.run_app(argv, cgroup=cgroup)

    def curl_direct(self, url, body=None, headers=()):
        """The same request straight to the mock, not captured: the reference answer."""
        argv = ["curl", "-sS", "--http1.1", "-o", "-", "-w", "\n%{http_code}",
                "--cacert", str(self.certs / "ca.pem"),
                "--resolve", f"api.openai.com:443:{OPENAI_ADDR}",
                "--resolve", f"api.anthropic.com:443:{ANTHROPIC_ADDR}"]
        for h in headers:
            argv += ["-H", h]
        if body is not None:
            argv += ["-H", "content-type: application/json", "--data-binary", body]
        argv.append(url)
        return self.world.outside.run(argv)

    def stop(self):
        self.mock.stop()


@pytest.fixture
def gw(world, mock_certs):
    g = Gateway(world, mock_certs)
    try:
        yield g
    finally:
        g.stop()


# ---- one gateway for a module's tests: each tells its own call by its request id ----

# curl -w: the answer, then its x-aigw-request-id and status on lines of their own.
ID_FORMAT = "\n%header{x-aigw-request-id}\n%{http_code}"


def split_id(r):
    """(body, status, x-aigw-request-id) of a curl run with -w ID_FORMAT."""
    rest, _, code = r.stdout.rpartition("\n")
    body, _, rid = rest.rpartition("\n")
    return body, int(code), rid


@contextmanager
def module_gateway(tmp_path_factory, certs, name):
    """A World and Gateway kept for a module's tests that call one daemon with one policy
    (a daemon costs ~0.4 s of CPU to start under ASan): its daemons are stopped after the
    last test, each asserting a clean exit with no sanitizer report. Such a test resets the
    mock's log (shared_call_check), tells its record by the request id it got (wait_call),
    and may read the whole audit log, every test's records, for what must never be there."""
    world = World(tmp_path_factory.mktemp(name))
    gw = Gateway(world, certs)
    try:
        yield gw
        for d in world.daemons:
            d.stop()
    finally:
        try:
            gw.stop()
        finally:
            world.teardown()


@contextmanager
def shared_call_check(gw):
    """Around a test on a module_gateway: the mock's log and faults reset before, the
    daemon running before and after (a crash fails the test that caused it)."""
    gw.mock.control("POST", "/control/reset")
    d = gw.world.daemons[-1]
    assert d.proc.poll() is None, d.text()
    yield
    assert d.proc.poll() is None, d.text()


def wait_call(world, rid, **match):
    """The proxy.request record of the call whose answer carried x-aigw-request-id RID; it
    must also hold MATCH."""
    assert rid, "the answer carried no x-aigw-request-id"
    rec = world.wait_record(**{"event.name": "proxy.request", "aigw.request_id": rid})
    for k, v in match.items():
        assert rec.get(k) == v, (k, v, rec)
    return rec
