"""Capture, end to end: real programs attached to a throw-away cgroup, real sockets, a real
daemon. Each test is named for what a user would see."""
import errno
import ipaddress
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import HELPERS, PROVIDER4, PROVIDER6, UdpServer, free_port, wait_for


def only(lines, **match):
    for l in lines:
        if all(l.get(k) == v for k, v in match.items()):
            return l
    raise AssertionError(f"no line with {match} in {lines}")


def test_captured_client_lands_on_proxy(world):
    srv = world.server()
    world.start()
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 443), ok=True)
    # The bytes came from the provider, through the proxy: the provider saw the proxy's
    # upstream connection, not the app's own port.
    assert res["data"] == f"hello from {PROVIDER4}:443"
    assert tuple(res["local"]) not in [tuple(p) for p in srv.peers]
    # The app believes it is talking to the provider.
    assert res["peer"] == [PROVIDER4, 443]
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert red["server.address"] == PROVIDER4 and red["server.port"] == 443
    assert red["aigw.workload"] == "billing" and red["aigw.team"] == "finance"
    assert red["aigw.cgroup.path"] == app.rel
    assert red["process.executable.name"] == "python3"
    assert red["process.user.id"] == 0
    assert red["gen_ai.system"] == "openai"
    conn = world.wait_record(**{"event.name": "proxy.connection", "client.port": res["local"][1]})
    # The proxy recovered the original destination and the attribution for the connection
    # it accepted.
    assert conn["server.address"] == PROVIDER4 and conn["server.port"] == 443
    assert conn["process.pid"] == res["pid"]
    assert conn["aigw.workload"] == "billing"
    assert conn["aigw.bytes_received"] == len(res["data"])


def test_client_outside_captured_cgroup_is_untouched(world):
    srv = world.server()
    world.start()
    res = only(world.outside.client("tcp", PROVIDER4, 443), ok=True)
    assert tuple(res["local"]) in [tuple(p) for p in srv.peers]  # direct
    time.sleep(0.3)
    assert not [r for r in world.records() if r.get("process.pid") == res["pid"]]


def test_nested_child_cgroup_is_captured_with_default_workload_name(world):
    world.server()
    world.start()
    worker = world.root.child("support").child("worker.service")
    res = only(worker.client("tcp", PROVIDER4, 443), ok=True)
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert red["aigw.workload"] == "worker.service"
    assert red["aigw.team"] is None
    assert red["aigw.cgroup.path"] == worker.rel


def test_child_cgroup_named_like_another_workload_stays_its_parents(world):
    """A workload that can create cgroups below its own cannot name one into another
    workload: a glob's "*" stays within one path name, and a workload is its cgroup and
    everything below it."""
    world.server()
    world.start(world.policy(workloads=[
        {"name": "billing", "team": "finance", "match": {"cgroup": "/*/billing*"}},
        {"name": "research", "team": "labs", "match": {"cgroup": "/*/research*"}}]))
    forged = world.root.child("research.service").child("billing.service")
    res = only(forged.client("tcp", PROVIDER4, 443), ok=True)
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert red["aigw.cgroup.path"] == forged.rel
    assert (red["aigw.workload"], red["aigw.team"]) == ("research", "labs")
    conn = world.wait_record(**{"event.name": "proxy.connection", "process.pid": res["pid"]})
    assert conn["aigw.workload"] == "research"
    # Matched by no glob, a cgroup named after a workload is not that workload either (its
    # limits and allow-lists are found by name): it is named by its whole path.
    stray = world.root.child("support").child("billing")
    res = only(stray.client("tcp", PROVIDER4, 443), ok=True)
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert (red["aigw.workload"], red["aigw.team"]) == (stray.rel, None)


def test_other_port_to_provider_denied_with_event(world):
    srv = world.server(port=8443)
    world.start()
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 8443), stage="connect")
    assert res["errno"] == errno.EPERM
    assert srv.peers == []
    ev = world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})
    assert ev["aigw.reason"] == "deny_port" and ev["server.port"] == 8443
    assert ev["network.transport"] == "tcp" and ev["aigw.workload"] == "billing"


@pytest.mark.parametrize("mode,reason", [("udp-connect", "deny_udp_quic"),
                                         ("udp-sendto", "deny_udp_sendmsg")])
def test_quic_to_provider_denied(world, mode, reason):
    udp = UdpServer(PROVIDER4, 443)
    try:
        world.start()
        app = world.root.child("billing.service")
        res = only(app.client(mode, PROVIDER4, 443), ok=False)
        assert res["errno"] == errno.EPERM
        assert udp.received() is None
        ev = world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})
        assert ev["aigw.reason"] == reason and ev["network.transport"] == "udp"
    finally:
        udp.close()


def test_ipv6_provider_captured(world):
    world.server(host=PROVIDER6)
    world.start()
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER6, 443), ok=True)
    assert res["data"] == f"hello from {PROVIDER6}:443"
    assert res["peer"] == [PROVIDER6, 443]
    conn = world.wait_record(**{"event.name": "proxy.connection", "process.pid": res["pid"]})
    assert conn["server.address"] == PROVIDER6
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert red["aigw.hook"] == "connect6" and red["network.type"] == "ipv6"


@pytest.mark.parametrize("mode", ["v4mapped", "nonblock", "bindfirst", "tfo"])
def test_escape_attempt_is_captured(world, mode):
    srv = world.server()
    world.start()
    app = world.root.child("billing.service")
    res = only(app.client(mode, PROVIDER4, 443), ok=True)
    assert res["data"] == f"hello from {PROVIDER4}:443"
    if mode == "v4mapped":
        assert res["peer"] == ["::ffff:" + PROVIDER4, 443]
    assert tuple(res["local"][:2]) not in [tuple(p) for p in srv.peers]
    conn = world.wait_record(**{"event.name": "proxy.connection", "process.pid": res["pid"]})
    assert conn["server.address"] == PROVIDER4


@pytest.mark.parametrize("form", ["64:ff9b::{}", "::{}", "2002:{}::1"])
def test_ipv6_forms_of_a_provider_ipv4_address_are_captured(world, form):
    """NAT64 (64:ff9b::/96), IPv4-compatible and 6to4 forms of a provider's IPv4 address are
    that provider. None is routable on loopback: uncaptured, connect() fails at once (no
    route); captured, it reaches the proxy's IPv6 listener, or is denied on another port."""
    v4 = ipaddress.ip_address(PROVIDER4)
    hexv4 = f"{int(v4) >> 16:x}:{int(v4) & 0xffff:x}"
    ip = ipaddress.ip_address(form.format(PROVIDER4 if form != "2002:{}::1" else hexv4))
    addr = str(ip)
    world.start()
    app = world.root.child("billing.service")
    res = only(app.client("tcp", addr, 443))
    assert res.get("stage") != "connect", res  # it was connected: to the proxy
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert ipaddress.ip_address(red["server.address"]) == ip  # as dialled
    assert red["aigw.hook"] == "connect6"
    assert red["gen_ai.system"] == "openai" and red["aigw.workload"] == "billing"
    conn = world.wait_record(**{"event.name": "proxy.connection", "process.pid": res["pid"]})
    assert ipaddress.ip_address(conn["server.address"]) == ip
    res = only(app.client("tcp", addr, 8443), stage="connect")
    assert res["errno"] == errno.EPERM
    ev = world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})
    assert ev["aigw.reason"] == "deny_port"
    res = only(app.client("udp-sendto", addr, 443), ok=False)
    assert res["errno"] == errno.EPERM


def test_io_uring_connect_is_captured(world):
    srv = world.server()
    world.start()
    app = world.root.child("billing.service")
    r = app.run([str(HELPERS / "uring_connect"), PROVIDER4, "443"])
    res = json.loads(r.stdout)
    assert res["ok"], r
    assert res["data"] == f"hello from {PROVIDER4}:443"
    world.wait_record(**{"event.name": "proxy.connection", "process.pid": res["pid"]})
    assert len(srv.peers) == 1


def test_workload_cannot_forge_the_exempt_mark(world):
    srv = world.server()
    world.start()
    app = world.root.child("billing.service")
    lines = app.client("tcp", PROVIDER4, 443, "--mark", str(0x41494757), user=65534)
    assert only(lines, event="mark_refused")["errno"] == errno.EPERM
    res = only(lines, ok=True)
    assert tuple(res["local"]) not in [tuple(p) for p in srv.peers]
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert red["process.user.id"] == 65534


def test_exempt_mark_set_with_cap_net_raw_is_still_captured(world):
    """Since Linux 5.17 CAP_NET_RAW alone may set SO_MARK: a workload holding only that sets
    the exempt mark and is captured all the same (the mark counts in aigw's cgroup only)."""
    srv = world.server()
    world.start()
    app = world.root.child("billing.service")
    mark = ("--mark", str(0x41494757))
    lines = app.client("tcp", PROVIDER4, 443, *mark, user=65534, caps=("net_raw",))
    only(lines, event="mark_set")
    res = only(lines, ok=True)
    assert tuple(res["local"]) not in [tuple(p) for p in srv.peers]
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert red["process.user.id"] == 65534
    # Another port: denied, not let through (no server there: direct would be refused).
    res = only(app.client("tcp", PROVIDER4, 8443, *mark, user=65534, caps=("net_raw",)),
               stage="connect")
    assert res["errno"] == errno.EPERM
    world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})


def test_daemon_inside_captured_cgroup_is_not_redirected_to_itself(world):
    srv = world.server()
    world.start(cgroup=world.root.child("gateway"))
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 443), ok=True)
    assert res["data"] == f"hello from {PROVIDER4}:443"
    assert len(srv.peers) == 1  # the proxy's upstream reached the provider, once
    conn = world.wait_record(**{"event.name": "proxy.connection", "process.pid": res["pid"]})
    assert "error.type" not in conn


def test_killed_daemon_fails_closed_and_restart_loses_no_event(world):
    srv = world.server()
    d = world.start()
    d.kill()
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 443), ok=False)
    assert res["errno"] == errno.ECONNREFUSED
    deny = only(app.client("tcp", PROVIDER4, 80), ok=False)
    assert deny["errno"] == errno.EPERM
    assert srv.peers == []
    world.start()
    # What the programs recorded while no daemon ran is in the log after the restart.
    world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    world.wait_record(**{"event.name": "capture.deny", "process.pid": deny["pid"]})
    ok = only(app.client("tcp", PROVIDER4, 443), ok=True)
    assert ok["data"] == f"hello from {PROVIDER4}:443"


def attached_programs(cgroup):
    r = subprocess.run(["bpftool", "-j", "cgroup", "show", str(cgroup.path)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip() or "[]")


def test_restart_takes_over_pinned_capture(world):
    world.server()
    d1 = world.start()
    before = attached_programs(world.root)
    assert len(before) == 7
    d1.stop()
    assert len(attached_programs(world.root)) == 7  # still enforcing with no daemon
    d2 = world.start()
    assert "taken over" in d2.text()
    after = attached_programs(world.root)
    assert len(after) == 7  # replaced in place, not stacked
    app = world.root.child("billing.service")
    assert only(app.client("tcp", PROVIDER4, 443), ok=True)
    d2.stop()


def test_detach_removes_everything(world):
    srv = world.server()
    d = world.start()
    d.stop()
    r = world.aigw("detach", "--pin-dir", str(world.pin_dir))
    assert r.returncode == 0, r.stderr
    assert attached_programs(world.root) == []
    assert not world.pin_dir.exists()
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 443), ok=True)
    assert tuple(res["local"]) in [tuple(p) for p in srv.peers]  # direct again


def test_connection_predating_capture_is_destroyed(world):
    world.server()
    app = world.root.child("billing.service")
    old = app.popen(["/usr/bin/python3", __import__("conftest").NETCLIENT, "tcp", PROVIDER4,
                     "443", "--hold", "20"])
    first = json.loads(old.stdout.readline())
    assert first["ok"] and first["data"].startswith("hello")
    world.start()
    end = json.loads(old.stdout.readline())
    old.wait(timeout=10)
    assert end["event"] in ("error", "closed"), end
    if end["event"] == "error":
        assert end["errno"] in (errno.ECONNABORTED, errno.ECONNRESET)
    rec = world.wait_record(**{"event.name": "capture.destroy_preexisting",
                               "client.port": first["local"][1]})
    assert rec["aigw.action"] == "destroyed" and rec["aigw.workload"] == "billing"
    assert rec["server.address"] == PROVIDER4


def test_observe_mode_records_without_changing_anything(world):
    srv = world.server()
    other = world.server(port=8443)
    udp = UdpServer(PROVIDER4, 443)
    try:
        world.start(world.policy(capture={"mode": "observe"}))
        app = world.root.child("billing.service")
        res = only(app.client("tcp", PROVIDER4, 443), ok=True)
        assert tuple(res["local"]) in [tuple(p) for p in srv.peers]  # direct
        res2 = only(app.client("tcp", PROVIDER4, 8443), ok=True)
        assert tuple(res2["local"]) in [tuple(p) for p in other.peers]
        res3 = only(app.client("udp-sendto", PROVIDER4, 443), ok=True)
        assert udp.received() is not None
        for r, reason in ((res, "provider_tls"), (res2, "deny_port"),
                          (res3, "deny_udp_sendmsg")):
            ev = world.wait_record(**{"event.name": "capture.observe", "process.pid": r["pid"]})
            assert ev["aigw.reason"] == reason
    finally:
        udp.close()


def test_reload_switches_observe_to_enforce(world):
    srv = world.server()
    d = world.start(world.policy(capture={"mode": "observe"}))
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 443), ok=True)
    assert tuple(res["local"]) in [tuple(p) for p in srv.peers]
    world.write_policy(world.policy(capture={"mode": "enforce"}))
    d.reload()
    world.wait_record(**{"event.name": "policy.reload", "aigw.capture.mode": "enforce"})
    res2 = only(app.client("tcp", PROVIDER4, 443), ok=True)
    assert tuple(res2["local"]) not in [tuple(p) for p in srv.peers]
    world.wait_record(**{"event.name": "capture.redirect", "process.pid": res2["pid"]})


def test_bad_policy_reload_is_refused_and_old_policy_stays(world):
    srv = world.server()
    d = world.start()
    (world.tmp / "policy.json").write_text('{"capture": {"cgroup": "/x", "mode": "enforse"')
    d.reload()
    world.wait_record(**{"event.name": "policy.reload_refused"})
    assert "policy.json:1:" in d.text()
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 443), ok=True)
    assert tuple(res["local"]) not in [tuple(p) for p in srv.peers]  # still enforcing
    d.stop()


def test_bad_policy_gets_precise_error(world):
    bad = world.tmp / "bad.json"
    bad.write_text('{\n  "capture": {"cgroup": "/apps", "mode": "enforse"},\n'
                   '  "audit": {"path": "/tmp/a.jsonl"},\n'
                   '  "providers": {"openai": {"hosts": ["api.openai.com"]}}\n}\n')
    r = world.aigw("policy", "check", str(bad))
    assert r.returncode == 1
    assert f"{bad}:2:" in r.stderr and "enforse" in r.stderr and "observe" in r.stderr
    r = world.aigw("run", "--policy", str(bad), "--pin-dir", str(world.pin_dir))
    assert r.returncode != 0 and f"{bad}:2:" in r.stderr
    assert not world.pin_dir.exists()


def test_socket_passed_to_another_cgroup_is_attributed_to_both(world):
    """A socket created in the captured cgroup and connected by a process outside it (after
    SCM_RIGHTS) is captured, and the record names both cgroups."""
    world.server()
    world.start()
    app = world.root.child("billing.service")
    script = (
        "import socket,os,json,sys\n"
        "a,b=socket.socketpair(socket.AF_UNIX)\n"
        "if os.fork()==0:\n"
        "    s=socket.socket(); socket.send_fds(a,[b'x'],[s.fileno()]); os._exit(0)\n"
        f"open('{world.outside.path}/cgroup.procs','w').write(str(os.getpid()))\n"
        "msg,fds,_,_=socket.recv_fds(b,1,1)\n"
        "s=socket.socket(fileno=fds[0])\n"
        f"s.connect(('{PROVIDER4}',443)); s.sendall(b'ping')\n"
        "print(json.dumps({'pid':os.getpid(),'data':s.recv(100).decode()}))\n"
    )
    r = app.run(["/usr/bin/python3", "-c", script])
    res = json.loads(r.stdout)
    red = world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
    assert red["aigw.cgroup.path"] == app.rel
    assert red["aigw.task_cgroup.path"] == world.outside.rel
    assert res["data"].startswith("hello")


def test_provider_host_names_resolved_and_followed(world):
    hosts = world.tmp / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.3 api.openai.com\n")
    s3 = world.server(host="127.0.0.3")
    s4 = world.server(host="127.0.0.4")
    pol = world.policy(capture={"resolve_min_s": 1, "resolve_max_s": 1},
                       providers={"openai": {"hosts": ["api.openai.com"]}})
    world.start(pol, netns_hosts=hosts)
    app = world.root.child("billing.service")
    res = only(app.client("tcp", "127.0.0.3", 443), ok=True)
    assert tuple(res["local"]) not in [tuple(p) for p in s3.peers]  # captured
    # The name moves: the new address is captured, the old one released.
    hosts.write_text("127.0.0.1 localhost\n127.0.0.4 api.openai.com\n")

    def moved():
        r = only(app.client("tcp", "127.0.0.4", 443), ok=True)
        return tuple(r["local"]) not in [tuple(p) for p in s4.peers]

    wait_for(moved, timeout=10, step=0.5, what="new address captured")

    # The old address is released a round later (a workload may still have it cached).
    def released():
        r = only(app.client("tcp", "127.0.0.3", 443), ok=True)
        return tuple(r["local"]) in [tuple(p) for p in s3.peers]  # direct again

    wait_for(released, timeout=10, step=0.5, what="old address released")


def test_dialling_the_listener_directly_is_refused_and_recorded(world):
    """Only connections capture redirected are served: anything else reaching the listener
    (a process dialling 127.0.0.1:<listen> itself) is closed unforwarded and recorded."""
    world.start()
    with socket.create_connection(("127.0.0.1", world.listen_port), timeout=5) as s:
        local = s.getsockname()
        s.settimeout(5)
        assert s.recv(100) == b""  # closed at once
    rec = world.wait_record(**{"event.name": "proxy.refused", "client.port": local[1]})
    assert rec["aigw.reason"] == "no_capture_record"
    assert "process.pid" not in rec  # no capture record: nothing to attribute


# ---- flow records: a capability of the connection that created it ----

def flows_map(world):
    return str(world.pin_dir / "aigw_flows")


SO_NETNS_COOKIE = 71


def netns_cookie():
    """The cookie of this process's network namespace (SO_NETNS_COOKIE)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), "little")


def flow_key(host, port, cookie=None):
    """struct aigw_flow_key of an IPv4 client address in namespace COOKIE (default: ours),
    as the flows map keys it."""
    addr = bytes([2, 0]) + port.to_bytes(2, "big") + socket.inet_aton(host) + bytes(12)
    return addr + bytes(4) + (netns_cookie() if cookie is None else cookie).to_bytes(8, "little")


def flow_lookup(world, host, port, cookie=None):
    key = " ".join(str(b) for b in flow_key(host, port, cookie))
    r = subprocess.run(["bpftool", "-j", "map", "lookup", "pinned", flows_map(world),
                        "key", *key.split()], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None


def flow_plant(world, host, port, cgroup, pid, sock_cookie):
    """Writes a flow record for HOST:PORT straight into the pinned map, as a leftover of a
    connection of PID in CGROUP to the provider would look (struct aigw_flow)."""
    import struct
    dst = bytes([2, 0]) + (443).to_bytes(2, "big") + socket.inet_aton(PROVIDER4) + bytes(12)
    attr = struct.pack("<QQQIIII16s", cgroup.id, cgroup.id, netns_cookie(), pid, pid, 0, 0,
                       b"python3")
    value = dst + bytes(4) + attr + struct.pack("<QQII", sock_cookie, 0, 0, 0)
    info = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "pinned", flows_map(world)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["bytes_value"] == len(value), info
    subprocess.run(["bpftool", "map", "update", "pinned", flows_map(world),
                    "key", *[str(b) for b in flow_key(host, port)],
                    "value", *[str(b) for b in value]], check=True, capture_output=True)


def test_flow_record_of_a_refused_connection_is_not_left_for_another_user(world):
    """A captured connect while the daemon is down is refused (capture fails closed); its
    flow record must go with it, or a process of another user outside the captured tree that
    binds the same address:port and dials the listener once the daemon is back is attributed
    to the workload (and would be given the gateway's keys)."""
    srv = world.server()
    d = world.start()
    d.stop()
    app = world.root.child("billing.service")
    sport = free_port()
    res = only(app.client("tcp", PROVIDER4, 443, "--sport", str(sport)), ok=False)
    assert res["errno"] == errno.ECONNREFUSED
    assert flow_lookup(world, "127.0.0.1", sport) is None  # gone with its connection
    world.start()
    lines = world.outside.client("tcp", "127.0.0.1", world.listen_port, "--sport", str(sport),
                                 user=65534)
    thief = lines[-1]
    assert not thief.get("data"), thief  # closed unforwarded: nothing from the provider
    rec = world.wait_record(**{"event.name": "proxy.refused", "client.port": sport})
    assert rec["aigw.reason"] == "no_capture_record"
    assert "aigw.workload" not in rec and "process.pid" not in rec
    assert not [r for r in world.records() if r.get("event.name") == "proxy.connection"]
    assert srv.peers == []


def test_planted_flow_record_is_not_honoured_for_another_connection(world):
    """A flow record is honoured only for the socket that created it (its cookie): one left
    in the map by any means, here written directly, is refused and recorded."""
    srv = world.server()
    world.start()
    app = world.root.child("billing.service")
    sport = free_port()
    flow_plant(world, "127.0.0.1", sport, app, os.getpid(), sock_cookie=1)
    lines = world.outside.client("tcp", "127.0.0.1", world.listen_port, "--sport", str(sport),
                                 user=65534)
    thief = lines[-1]
    assert not thief.get("data"), thief
    rec = world.wait_record(**{"event.name": "proxy.refused", "client.port": sport})
    assert rec["aigw.reason"] == "stale_flow_record"
    assert "aigw.workload" not in rec
    assert not [r for r in world.records() if r.get("event.name") == "proxy.connection"]
    assert srv.peers == []
    assert flow_lookup(world, "127.0.0.1", sport) is None  # claimed once: removed
    # The workload's own connections are still served.
    ok = only(app.client("tcp", PROVIDER4, 443), ok=True)
    assert ok["data"] == f"hello from {PROVIDER4}:443"
