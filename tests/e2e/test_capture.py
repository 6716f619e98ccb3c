"""Capture, end to end: real programs attached to a throw-away cgroup, real sockets, a real
daemon. Each test is named for what a user would see."""
import errno
import ipaddress
import json
import os
import signal
import socket
import subprocess

import pytest

from conftest import (HELPERS, OPENAI_ADDR, PROVIDER4, PROVIDER6, PYTHON, UdpServer, free_port,
                      wait_for)


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
    # The marker: a captured client after it. Capture's events and the proxy's records of it
    # come after any the outside client could have caused, so once they are written, the
    # outside client had its chance to show up.
    mark = only(world.root.child("billing.service").client("tcp", PROVIDER4, 443), ok=True)
    world.wait_record(**{"event.name": "capture.redirect", "process.pid": mark["pid"]})
    world.wait_record(**{"event.name": "proxy.connection", "client.port": mark["local"][1]})
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


@pytest.mark.parametrize("scope", ["tls", "providers"])
def test_other_port_to_provider_denied_with_event(world, scope):
    """In both scopes, TCP to a provider address on a port that is no TLS port is refused (UDP:
    test_quic_to_provider_denied); under "tls" another of tls_ports is captured."""
    srv = world.server(port=9443)
    alt = world.server(port=8443)
    world.start(world.policy(capture={"scope": scope, "tls_ports": [443, 8443]}))
    app = world.root.child("billing.service")
    res = only(app.client("tcp", PROVIDER4, 9443), stage="connect")
    assert res["errno"] == errno.EPERM
    assert srv.peers == []
    ev = world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})
    assert ev["aigw.reason"] == "deny_port" and ev["server.port"] == 9443
    assert ev["network.transport"] == "tcp" and ev["aigw.workload"] == "billing"
    if scope == "tls":
        res = only(app.client("tcp", PROVIDER4, 8443), ok=True)
        assert res["data"] == f"hello from {PROVIDER4}:8443"
        assert tuple(res["local"]) not in [tuple(p) for p in alt.peers]  # through the proxy
    else:
        res = only(app.client("tcp", PROVIDER4, 8443), stage="connect")
        assert res["errno"] == errno.EPERM and alt.peers == []


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
    # Nobody listens at the redirect target: denied in the kernel, never redirected.
    res = only(app.client("tcp", PROVIDER4, 443), ok=False)
    assert res["errno"] == errno.EPERM
    deny = only(app.client("tcp", PROVIDER4, 80), ok=False)
    assert deny["errno"] == errno.EPERM
    assert srv.peers == []
    world.start()
    # What the programs recorded while no daemon ran is in the log after the restart.
    rec = world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})
    assert rec["aigw.reason"] == "listener_not_ours" and rec["server.port"] == 443
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
    # Scope "providers": the addresses the daemon resolved are the whole capture (under
    # "tls" an old address stays captured, as any address on a TLS port).
    pol = world.policy(capture={"resolve_min_s": 1, "resolve_max_s": 1, "scope": "providers"},
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
    """A captured connection the proxy never accepts (here the daemon is stopped: its
    listener is there, the kernel completes the handshake, and the app resets it) leaves no
    flow record behind, or a process of another user outside the captured tree that binds
    the same address:port and dials the listener later is attributed to the workload (and
    would be given the gateway's keys)."""
    srv = world.server()
    d = world.start()
    app = world.root.child("billing.service")
    sport = free_port()
    script = ("import json,socket,struct\n"
              "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
              f"s.bind(('127.0.0.1',{sport})); s.connect(('{PROVIDER4}',443))\n"
              "print(json.dumps({'peer':list(s.getpeername())}),flush=True)\n"
              "s.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0))\n"
              "s.close()\n")
    d.proc.send_signal(signal.SIGSTOP)
    try:
        r = app.run(["/usr/bin/python3", "-c", script])
        assert json.loads(r.stdout)["peer"] == [PROVIDER4, 443], r  # redirected, connected
        assert flow_lookup(world, "127.0.0.1", sport) is None  # gone with its connection
    finally:
        d.proc.send_signal(signal.SIGCONT)
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


# ---- the listeners: nobody else receives what capture sends to aigw ----

# A listener of another user: it takes every connection offered on HOST:PORT until its stdin
# closes, then prints what it received. The code comes with the command: user 65534 may be
# unable to read the checkout.
THIEF = """
import json, select, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past aigw's TIME_WAIT sockets
if ":" in host:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((host, port)); s.listen(16); s.setblocking(False)
print(json.dumps({"listening": True}), flush=True)
got = []
def take():
    while True:
        try:
            c, _ = s.accept()
        except BlockingIOError:
            return
        c.settimeout(1)
        try:
            got.append(c.recv(4096).decode(errors="replace"))
        except OSError:
            got.append("")
while select.select([s, sys.stdin], [], [])[0] != [sys.stdin]:
    take()
take()
print(json.dumps({"received": got}), flush=True)
"""


class Thief:
    """A process of user 65534 outside the captured tree listening on HOST:PORT."""

    def __init__(self, world, host, port):
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "/usr/bin/python3", "-c", THIEF,
                host, str(port)]
        self.proc = world.outside.popen(argv, stdin=subprocess.PIPE, cwd="/")
        line = self.proc.stdout.readline()
        assert json.loads(line or "{}").get("listening"), self.proc.stderr.read()

    def received(self):
        out, err = self.proc.communicate(timeout=10)
        return json.loads(out.splitlines()[-1])["received"]


@pytest.mark.parametrize("host", [PROVIDER4, PROVIDER6])
def test_capture_listener_taken_while_daemon_stopped_receives_nothing(world, host):
    """While the daemon is stopped the programs stay pinned; another user binds the capture
    listener's port. A captured connect is denied in the kernel (the listener at the
    redirect target is not aigw's), and no byte reaches that user."""
    srv = world.server(host=host)
    d = world.start()
    d.stop()
    listen = "127.0.0.1" if host == PROVIDER4 else "::1"
    thief = Thief(world, listen, world.listen_port)
    app = world.root.child("billing.service")
    try:
        res = only(app.client("tcp", host, 443))
    finally:
        got = thief.received()
    assert got == [], got
    assert res.get("stage") == "connect" and res["errno"] == errno.EPERM, res
    assert srv.peers == []
    world.start()  # the kernel recorded it; the next daemon writes it
    rec = world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})
    assert rec["aigw.reason"] == "listener_not_ours" and rec["aigw.workload"] == "billing"
    assert rec["server.address"] == host and rec["server.port"] == 443
    # Served again once aigw's own listener is back.
    assert only(app.client("tcp", host, 443), ok=True)["data"] == f"hello from {host}:443"


def test_api_listen_taken_while_daemon_stopped_receives_nothing(world):
    """api.listen gets the same protection: a captured app's connect to its address reaches
    aigw's listener while the daemon runs, and nobody else's once it is stopped and another
    user has bound the port (apps send their gateway keys there)."""
    api_port = free_port()
    d = world.start(world.policy(api={"listen": f"127.0.0.1:{api_port}"}))
    app = world.root.child("billing.service")
    res = only(app.client("tcp", "127.0.0.1", api_port))
    assert res.get("stage") != "connect", res  # aigw's listener: connected
    d.stop()
    thief = Thief(world, "127.0.0.1", api_port)
    try:
        res = only(app.client("tcp", "127.0.0.1", api_port))
    finally:
        got = thief.received()
    assert got == [], got
    assert res.get("stage") == "connect" and res["errno"] == errno.EPERM, res
    world.start(world.policy(api={"listen": f"127.0.0.1:{api_port}"}))
    rec = world.wait_record(**{"event.name": "capture.deny", "process.pid": res["pid"]})
    assert rec["aigw.reason"] == "listener_not_ours" and rec["server.port"] == api_port
    assert "gen_ai.system" not in rec and rec["aigw.workload"] == "billing"
    res = only(app.client("tcp", "127.0.0.1", api_port))
    assert res.get("stage") != "connect", res  # aigw's own listener again


# ---- attribution is fixed at connect() ----

def test_cgroup_removed_after_connect_still_names_its_workload(gw):
    """An app connects to the provider from its cgroup, moves into another workload's cgroup
    and removes the first before it sends its request. The call is served and is the removed
    cgroup's workload's, never that of the cgroup the process lives in now. (Meanwhile another
    app's connect from a new cgroup makes aigw walk the hierarchy again, as on any busy host:
    the removed cgroup is no longer in its cache.)"""
    world = gw.world
    gw.start(gw.policy(workloads=[
        {"name": "billing", "team": "finance", "match": {"cgroup": "/*/billing*"}},
        {"name": "research", "team": "labs", "match": {"cgroup": "/*/research*"}}]))
    first = world.root.child("billing-job")
    later = world.root.child("research.service")
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    script = (
        "import http.client,json,os,socket,ssl\n"
        f"s=socket.create_connection(('{OPENAI_ADDR}',443))\n"
        f"open('{later.path}/cgroup.procs','w').write(str(os.getpid()))\n"
        f"os.rmdir('{first.path}')\n"
        "print(json.dumps({'removed':True}),flush=True); input()\n"
        f"ctx=ssl.create_default_context(cafile='{gw.ca_dir / 'ca.pem'}')\n"
        "c=http.client.HTTPConnection('api.openai.com',timeout=20)\n"
        "c.sock=ctx.wrap_socket(s,server_hostname='api.openai.com')\n"
        f"c.request('POST','/v1/chat/completions',body={body!r},headers={{"
        "'content-type':'application/json','authorization':'Bearer sk-app'})\n"
        "r=c.getresponse()\n"
        "print(json.dumps({'pid':os.getpid(),'status':r.status,'body':r.read().decode()}))\n")
    app = first.popen([PYTHON, "-c", script], stdin=subprocess.PIPE)
    try:
        assert json.loads(app.stdout.readline() or "{}").get("removed"), app.stderr.read()
        assert not first.path.exists()
        other = world.root.child("other.service")
        res = only(other.client("tcp", OPENAI_ADDR, 443))
        world.wait_record(**{"event.name": "capture.redirect", "process.pid": res["pid"]})
        out, err = app.communicate(input="\n", timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
    out = json.loads(out.splitlines()[-1])
    assert out["status"] == 200, out
    rec = world.wait_record(**{"event.name": "proxy.request", "process.pid": out["pid"]})
    assert rec["aigw.cgroup.path"] == first.rel
    assert (rec["aigw.workload"], rec["aigw.team"]) == ("billing", "finance")
