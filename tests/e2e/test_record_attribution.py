"""Who a call's record says made it (aigw.workload, aigw.team, aigw.cgroup.path, aigw.cgroup.id)
comes from the cgroup of the connection, which the gateway works out once per cgroup and keeps:
kept-alive connections from two cgroups on one worker each get their own, never the other's; a
policy reload changes it on a connection that stays open; a process that moves to another
cgroup keeps, on the connections it made before, the cgroup they were made in."""
import json
import subprocess
from pathlib import Path

from conftest import hosts_wrap

CLIENT = str(Path(__file__).resolve().parent / "workers_client.py")


def policy(gw, name="billing", team="finance"):
    pol = gw.policy(workloads=[{"name": name, "team": team,
                                "match": {"cgroup": "/*/billing*"}}])
    pol["proxy"] = {"workers": 1}  # every connection's calls recorded by the one cache
    return pol


class App:
    """workers_client.py in CGROUP: one kept-alive connection, ROUNDS calls on it, the next
    one when told."""

    def __init__(self, gw, cgroup, rounds):
        argv = ["/usr/bin/python3", CLIENT, "1", str(rounds), "gpt-4o-mini"]
        self.cgroup = cgroup
        self.proc = cgroup.popen(hosts_wrap(gw.hosts, argv), env=gw.env(),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        self.rnd = 0

    def call(self):
        """The next round's call, once it is answered: its request id."""
        if self.rnd:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.strip() == f"round {self.rnd} done":
                self.rnd += 1
                assert c["status"] == 200, c
                return c["id"]
            c = json.loads(line)
        raise AssertionError(f"the app ended in round {self.rnd}: {self.proc.stderr.read()}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def record(gw, request_id):
    return gw.world.wait_record(**{"event.name": "proxy.request", "aigw.request_id": request_id})


def who(rec):
    return (rec["aigw.workload"], rec["aigw.team"], rec["aigw.cgroup.path"],
            rec["aigw.cgroup.id"])


def test_two_cgroups_on_one_worker_each_get_their_own(gw):
    gw.start(policy(gw))
    ops = gw.world.root.child("ops.service")
    a, b = App(gw, gw.app, 3), App(gw, ops, 3)
    try:
        ids = [(app, app.call()) for _ in range(3) for app in (a, b)]
    finally:
        a.close()
        b.close()
    want = {a: ("billing", "finance", gw.app.rel, gw.app.id),
            b: ("ops.service", None, ops.rel, ops.id)}
    for app, rid in ids:
        rec = record(gw, rid)
        assert who(rec) == want[app], rec
        assert rec["process.pid"] == app.proc.pid, rec


def test_a_reload_changes_the_workload_of_an_open_connection(gw):
    pol = policy(gw)
    d = gw.start(pol)
    a = App(gw, gw.app, 2)
    try:
        before = record(gw, a.call())
        gw.world.write_policy(policy(gw, name="payments", team="treasury"))
        d.reload()
        gw.world.wait_record(**{"event.name": "policy.reload"})
        after = record(gw, a.call())
    finally:
        a.close()
    assert who(before) == ("billing", "finance", gw.app.rel, gw.app.id), before
    assert who(after) == ("payments", "treasury", gw.app.rel, gw.app.id), after


def test_a_process_that_moves_keeps_its_connections_cgroup(gw):
    """The app moves itself into another cgroup between two calls on one connection: the
    connection was made in billing.service, and its calls stay billing's (the socket's cgroup,
    fixed at connect); a new connection from where it went is that cgroup's. (A cgroup itself
    cannot be renamed or moved on cgroup2: the kernel refuses, EPERM.)"""
    gw.start(policy(gw))
    ops = gw.world.root.child("ops.service")
    a = App(gw, gw.app, 2)
    try:
        before = record(gw, a.call())
        (ops.path / "cgroup.procs").write_text(str(a.proc.pid))
        after = record(gw, a.call())
        b = App(gw, ops, 1)
        try:
            moved = record(gw, b.call())
        finally:
            b.close()
    finally:
        a.close()
    billing = ("billing", "finance", gw.app.rel, gw.app.id)
    assert who(before) == billing and who(after) == billing, (before, after)
    assert who(moved) == ("ops.service", None, ops.rel, ops.id), moved
