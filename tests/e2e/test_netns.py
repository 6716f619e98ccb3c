"""Containers: an app in a network namespace of its own (and a cgroup of the captured tree) is
served, not blocked. aigw opens its capture listener inside each namespace the captured tree
uses, learnt from the first captured connect there (that attempt is denied, never let
through), releases it when the namespace's processes are gone, and a flow made in one
namespace can never be claimed from another.

Every namespace here is made by the test (unshare -n) after the daemon started, lives in
an aigw-test-* cgroup, and dies with that cgroup's processes."""
import errno
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
import harness  # noqa: E402
from conftest import NETCLIENT, PROVIDER4, PROVIDER6, PYTHON, wait_for  # noqa: E402
from test_capture import flow_lookup, netns_cookie  # noqa: E402
from test_clients_direct import MODEL, PROMPT  # noqa: E402
from test_keys import keyed_policy  # noqa: E402

CONTAINER_ID = secrets.token_hex(32)

# Dials HOST:443 until a connect succeeds: the first may be denied (EPERM) while aigw opens
# its listener in this namespace. Prints the errors seen and the time to the first success.
PRIME = """
import json, socket, sys, time
host, limit, errs, t0 = sys.argv[1], float(sys.argv[2]), [], time.monotonic()
while time.monotonic() - t0 < limit:
    try:
        socket.create_connection((host, 443), timeout=2).close()
        break
    except OSError as e:
        errs.append(e.errno)
        time.sleep(0.02)
print(json.dumps({"errors": errs, "ms": (time.monotonic() - t0) * 1000}))
"""


class Container:
    """A process holding a network namespace of its own (lo down, as unshare leaves it) and a
    private /etc/hosts, in cgroup CG; run() starts more processes in both, in CG."""

    def __init__(self, cg, hosts=None):
        self.cg = cg
        script = 'mount --bind "$0" /etc/hosts && exec sleep 600' if hosts else "exec sleep 600"
        self.proc = cg.popen(["unshare", "--net", "--mount", "--propagation", "private",
                              "sh", "-c", script, str(hosts or "")])
        self.pid = self.proc.pid
        own = os.stat("/proc/self/ns/net").st_ino
        wait_for(lambda: self.netns_inode() != own and self.comm() == "sleep",
                 what="the container's namespace")

    def comm(self):
        return Path(f"/proc/{self.pid}/comm").read_text().strip()

    def netns_inode(self):
        return os.stat(f"/proc/{self.pid}/ns/net").st_ino

    def enter(self, mount=True):
        return ["nsenter", "-t", str(self.pid), "-n", *(["-m"] if mount else [])]

    def prime(self, host, limit=5):
        """The first captured connect of this namespace, retried for up to LIMIT seconds;
        returns (errors, ms to success or to giving up)."""
        r = self.cg.run([*self.enter(), PYTHON, "-c", PRIME, host, str(limit)], timeout=20)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        return out["errors"], out["ms"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def netns_records(world, action=None):
    return [r for r in world.records() if r.get("event.name") == "capture.netns"
            and (action is None or r["aigw.netns.action"] == action)]


def served(world, inode):
    recs = [r for r in netns_records(world, "served") if r["aigw.netns.inode"] == inode]
    return recs[0] if recs else None


def test_container_app_with_the_openai_sdk_is_served_attributed_and_released(gw, monkeypatch):
    """An app in its own network namespace and a docker-<id>.scope cgroup, calling the mock
    through the official openai SDK, is answered through aigw with the gateway's key; its
    record names the namespace and the container; once its processes are gone, aigw closes
    the listener it opened there."""
    daemon = gw.start(keyed_policy(gw, monkeypatch))
    cg = gw.world.root.child(f"docker-{CONTAINER_ID}.scope")
    box = Container(cg, gw.hosts)
    try:
        errs, ms = box.prime("api.openai.com")
        print(f"netns served: errors {errs}, first success after {ms:.1f} ms")
        # The first attempt may be refused (denied in the kernel, never let through); the
        # namespace is served within a second of it.
        assert set(errs) <= {errno.EPERM}, errs
        assert ms < 1000, (errs, ms)
        rec = wait_for(lambda: served(gw.world, box.netns_inode()), what="served record")
        cookie = rec["aigw.netns"]
        assert rec["aigw.netns.count"] == 2  # aigw's own namespace and this one
        if errs:
            deny = gw.world.wait_record(**{"aigw.reason": "netns_no_listener"})
            assert deny["aigw.netns"] == cookie and deny["aigw.action"] == "deny"

        r = harness.run_client("openai_sdk", "openai", "plain", MODEL["openai"], PROMPT,
                               hosts=gw.hosts, ca=gw.ca_dir / "ca.pem", popen=cg.popen,
                               prefix=box.enter(mount=False))
        assert r.ok and r.returncode == 0 and r.status == 200, r
        req = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r.pid})
        assert req["aigw.netns"] == cookie
        assert req["container.id"] == CONTAINER_ID
        assert req["aigw.cgroup.path"] == cg.rel
        assert req["http.response.status_code"] == 200 and req["aigw.credential"] == "gateway"
        conn = [x for x in gw.world.records() if x.get("event.name") == "proxy.connection"
                and x.get("process.pid") == r.pid]
        assert all(x["aigw.netns"] == cookie for x in conn)
        # Nothing reached the provider but through aigw: every request carries its key.
        log = gw.mock.requests()
        assert log and all(x["authorization"] == "Bearer sk-gateway-openai" for x in log), log
    finally:
        box.stop()
    gone = wait_for(lambda: [x for x in netns_records(gw.world, "released")
                             if x["aigw.netns"] == cookie], timeout=5, what="released record")
    assert gone[0]["aigw.netns.count"] == 1  # only aigw's own namespace is left
    assert "netns: released network namespace" in daemon.text()


def test_namespace_is_served_again_after_release_and_others_alongside(world):
    """Two namespaces created one after the other, both after start, are served side by side;
    each is released on its own when its processes end."""
    srv = world.server()
    srv6 = world.server(PROVIDER6)
    world.start()
    a = Container(world.root.child("a.service"))
    b = Container(world.root.child("b.service"))
    try:
        for box in (a, b):
            errs, ms = box.prime(PROVIDER4)
            assert set(errs) <= {errno.EPERM} and ms < 1000, (errs, ms)
        ra = wait_for(lambda: served(world, a.netns_inode()), what="a served")
        rb = wait_for(lambda: served(world, b.netns_inode()), what="b served")
        assert ra["aigw.netns"] != rb["aigw.netns"]
        a.stop()
        wait_for(lambda: [x for x in netns_records(world, "released")
                          if x["aigw.netns"] == ra["aigw.netns"]], what="a released")
        # b is still served, IPv4 and IPv6: its apps get through, from b's namespace.
        for host in (PROVIDER4, PROVIDER6):
            res = b.cg.run([*b.enter(mount=False), PYTHON, NETCLIENT, "tcp", host, "443"])
            out = json.loads(res.stdout.strip().splitlines()[-1])
            assert out["ok"] and out["data"] == f"hello from {host}:443", (host, out)
    finally:
        a.stop()
        b.stop()
    # The passthroughs left from aigw's namespace, where the servers listen.
    assert len(srv.peers) == 1 and len(srv6.peers) == 1


def test_netns_listeners_off_keeps_other_namespaces_denied(world):
    """capture.netns_listeners false: aigw never enters a workload's namespace; its captured
    connects stay denied (recorded), nothing is let through."""
    srv = world.server()
    world.start(world.policy(capture={"netns_listeners": False}))
    box = Container(world.root.child("a.service"))
    try:
        errs, _ = box.prime(PROVIDER4, limit=1.5)
        assert errs and set(errs) == {errno.EPERM}, errs
        deny = world.wait_record(**{"aigw.reason": "netns_no_listener"})
        assert deny["aigw.action"] == "deny" and deny["process.pid"] != os.getpid()
    finally:
        box.stop()
    assert netns_records(world) == []
    assert srv.peers == []


def test_flow_of_one_namespace_cannot_be_claimed_from_another(world):
    """Loopback addresses repeat in every namespace. While the daemon is stopped (SIGSTOP),
    connections wait in the listeners' queues with their flows published: an app in A and
    one in B on the same 127.0.0.1:PORT, and a second app in A on PORT2. A process of B
    outside the captured tree binds 127.0.0.1:PORT2 and dials B's listener itself. Once the
    daemon runs again, the three apps are served, each with its own attribution, and the
    thief is refused: A's flow on PORT2 is no capability in B."""
    srv = world.server()
    d = world.start()
    a = Container(world.root.child("a.service"))
    b = Container(world.root.child("b.service"))
    procs = []
    try:
        for box in (a, b):
            assert box.prime(PROVIDER4)[1] < 1000
        ca = wait_for(lambda: served(world, a.netns_inode()), what="a served")["aigw.netns"]
        cb = wait_for(lambda: served(world, b.netns_inode()), what="b served")["aigw.netns"]
        port, port2 = 20000 + secrets.randbelow(20000), 40000 + secrets.randbelow(20000)
        d.proc.send_signal(signal.SIGSTOP)
        try:
            def app(box, sport):
                p = box.cg.popen([*box.enter(mount=False), PYTHON, NETCLIENT, "tcp", PROVIDER4,
                                  "443", "--sport", str(sport)])
                procs.append(p)
                return p

            apps = {"a1": app(a, port), "b1": app(b, port), "a2": app(a, port2)}
            for c, p in ((ca, port), (cb, port), (ca, port2)):
                wait_for(lambda: flow_lookup(world, "127.0.0.1", p, c), what="flows published")
            thief = world.outside.popen([*b.enter(mount=False), PYTHON, NETCLIENT, "tcp",
                                         "127.0.0.1", str(world.listen_port), "--sport",
                                         str(port2)])
            procs.append(thief)
            wait_for(lambda: subprocess.run(
                ["nsenter", "-t", str(b.pid), "-n", "ss", "-Htn", "state", "established",
                 f"sport = :{port2}"], capture_output=True, text=True).stdout.strip(),
                what="the thief connected")
        finally:
            d.proc.send_signal(signal.SIGCONT)
        outs = {k: json.loads(p.communicate(timeout=20)[0].strip().splitlines()[-1])
                for k, p in apps.items()}
        for k, out in outs.items():
            assert out["ok"] and out["data"] == f"hello from {PROVIDER4}:443", (k, out)
        tout = json.loads(thief.communicate(timeout=20)[0].strip().splitlines()[-1])
        assert not tout.get("data"), tout
        rec = world.wait_record(**{"event.name": "proxy.refused", "client.port": port2,
                                   "aigw.reason": "no_capture_record"})
        assert "process.pid" not in rec
        for k, c in (("a1", ca), ("b1", cb), ("a2", ca)):
            conn = world.wait_record(**{"event.name": "proxy.connection",
                                        "process.pid": outs[k]["pid"]})
            assert conn["aigw.netns"] == c, (k, conn)
        assert len(srv.peers) == 3
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        a.stop()
        b.stop()


def test_container_id_from_cgroup_paths(world):
    """container.id is read from the runtimes' cgroup names, nothing else."""
    srv = world.server()
    world.start()
    cid = secrets.token_hex(32)
    for rel, want in ((f"kubepods.slice/cri-containerd-{cid}.scope", cid),
                      (f"docker/{cid}", cid), ("crio-conmon-x.scope", None)):
        cg = world.root.child(rel)
        out = cg.client("tcp", PROVIDER4, 443)[-1]
        assert out["ok"], out
        rec = world.wait_record(**{"event.name": "proxy.connection", "process.pid": out["pid"]})
        assert rec.get("container.id") == want, (rel, rec)
        assert rec["aigw.netns"] == netns_cookie()  # aigw's own namespace
    assert len(srv.peers) == 3



def test_namespace_is_served_again_by_the_next_daemon(world):
    """A daemon that stops closes its listeners in other namespaces and removes their map
    entries; the next one starts from its own namespace only (nothing a previous daemon left
    is trusted) and serves the container again on its next connect."""
    srv = world.server()
    d = world.start()
    box = Container(world.root.child("a.service"))
    try:
        assert box.prime(PROVIDER4)[1] < 1000
        first = wait_for(lambda: served(world, box.netns_inode()), what="served")
        d.stop()
        errs, _ = box.prime(PROVIDER4, limit=0.3)  # no daemon: denied, never let through
        assert errs and set(errs) == {errno.EPERM}, errs
        world.start()
        errs, ms = box.prime(PROVIDER4)
        assert set(errs) <= {errno.EPERM} and ms < 1000, (errs, ms)
        later = wait_for(lambda: [r for r in netns_records(world, "served")
                                  if r["aigw.netns.inode"] == box.netns_inode()][1:],
                         what="served again")
        assert later[0]["aigw.netns"] == first["aigw.netns"]
        res = box.cg.run([*box.enter(mount=False), PYTHON, NETCLIENT, "tcp", PROVIDER4, "443"])
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out["ok"] and out["data"] == f"hello from {PROVIDER4}:443", out
    finally:
        box.stop()
    assert len(srv.peers) == 1


def test_namespaces_past_netns_max_are_refused_with_a_record(world):
    """capture.netns_max bounds what a workload that makes namespaces can make aigw hold:
    with 2 (aigw's own and one more) a second container is refused, recorded, and its
    connects stay denied; once the first is gone, the second is served."""
    srv = world.server()
    world.start(world.policy(capture={"netns_max": 2}))
    a = Container(world.root.child("a.service"))
    b = Container(world.root.child("b.service"))
    try:
        assert a.prime(PROVIDER4)[1] < 1000
        errs, _ = b.prime(PROVIDER4, limit=0.5)
        assert errs and set(errs) == {errno.EPERM}, errs
        rec = wait_for(lambda: netns_records(world, "refused"), what="refused record")[0]
        assert rec["aigw.reason"] == "netns_limit" and rec["aigw.netns.count"] == 2
        assert served(world, b.netns_inode()) is None
        a.stop()
        wait_for(lambda: netns_records(world, "released"), what="a released")
        errs, ms = b.prime(PROVIDER4)
        assert set(errs) <= {errno.EPERM} and ms < 1000, (errs, ms)
        wait_for(lambda: served(world, b.netns_inode()), what="b served")
    finally:
        a.stop()
        b.stop()
    assert srv.peers == []


# Listens on 127.0.0.1:PORT, prints "listening", then how many connections it accepted in
# SECONDS.
SQUAT = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
s.settimeout(0.1)
print("listening", flush=True)
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < float(sys.argv[2]):
    try:
        s.accept()[0].close()
        n += 1
    except socket.timeout:
        pass
print(n, flush=True)
"""


def squat_port(world, box, seconds):
    """A process of BOX's namespace (not captured) that brought lo up and listens on the
    capture listener's port for SECONDS, there before aigw."""
    subprocess.run([*box.enter(mount=False), "ip", "link", "set", "lo", "up"], check=True)
    squat = world.outside.popen([*box.enter(mount=False), PYTHON, "-c", SQUAT,
                                 str(world.listen_port), str(seconds)])
    assert squat.stdout.readline().strip() == "listening"
    return squat


def test_listener_port_taken_in_the_namespace_first_gets_nothing(world):
    """A process of the container's namespace that binds the listener's port before aigw
    could (lo brought up by itself) never receives a captured connection: aigw cannot listen
    there, so the namespace is not served and its captured connects stay denied."""
    srv = world.server()
    d = world.start()
    box = Container(world.root.child("a.service"))
    squat = None
    try:
        squat = squat_port(world, box, 3)
        errs, _ = box.prime(PROVIDER4, limit=1)
        assert errs and set(errs) == {errno.EPERM}, errs
        assert squat.communicate(timeout=10)[0].strip() == "0"
        assert served(world, box.netns_inode()) is None
        assert "Address already in use" in d.text()
    finally:
        if squat and squat.poll() is None:
            squat.kill()
        box.stop()
    assert srv.peers == []


# Makes N connects to HOST:443 as fast as it can; prints how many were refused (EPERM).
HAMMER = """
import errno, socket, sys
refused = 0
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    try:
        s.connect((sys.argv[1], 443))
    except OSError as e:
        refused += e.errno == errno.EPERM
    finally:
        s.close()
print(refused, flush=True)
"""


def test_a_namespace_that_cannot_be_served_costs_one_try_per_wait(world):
    """A workload that binds the listener's port in its own namespace makes each of its
    captured connects a denied one and an event asking aigw to serve the namespace: without a
    wait, each cost the daemon an open of /proc/PID/ns/net, two setns, a bind, a log line.
    1000 connects in a row now cost a try per wait (1 s, doubling): a handful of log lines
    and "refused" records (aigw.reason serve_failed), not a thousand."""
    world.server()
    d = world.start()
    box = Container(world.root.child("a.service"))
    squat = None
    try:
        squat = squat_port(world, box, 30)
        t0 = time.monotonic()
        r = box.cg.run([*box.enter(mount=False), PYTHON, "-c", HAMMER, PROVIDER4, "1000"],
                       timeout=60)
        took = time.monotonic() - t0
        assert r.stdout.strip() == "1000", r
        # Tries at 0 s, 1 s, 3 s, 7 s, 15 s...: at most 2 + log2(the seconds it took).
        bound = 2 + max(0, int(took)).bit_length()
        tries = wait_for(lambda: d.text().count("netns: serve the network namespace"),
                         what="a try logged")
        print(f"1000 denied connects in {took:.2f} s: {tries} tries")
        assert tries <= bound, (tries, took)
        refused = wait_for(lambda: netns_records(world, "refused"), what="a refused record")
        assert refused[0]["aigw.reason"] == "serve_failed"
        assert refused[0]["error.type"] == "Address already in use"
        assert served(world, box.netns_inode()) is None
        assert len(netns_records(world, "refused")) == tries
    finally:
        if squat and squat.poll() is None:
            squat.kill()
        box.stop()
