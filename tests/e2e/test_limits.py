"""Hostile load on the gateway's own resources: a workload that opens connections until the
daemon is out of descriptors, sends bodies built to cost memory, or holds more connections and
bytes than its share. The gateway pauses, refuses with a clear error and a record, and goes on
serving once the pressure is gone — it neither spins, nor swells, nor starves other workloads."""
import http.client
import os
import socket
import subprocess
import time

from conftest import free_port, wait_for
from test_routing import chat, routed_policy

KEY = "gwk-billing-5e8d2c7a91f3"


def api_policy(gw, monkeypatch):
    """The routed policy with the explicit endpoint on a free port; returns (policy, port)."""
    port = free_port()
    pol = routed_policy(gw, monkeypatch)
    pol["api"] = {"listen": f"127.0.0.1:{port}"}
    pol["workloads"][0]["api_keys"] = [KEY]
    return pol, port


def explicit_call(port, body, key=KEY, timeout=60):
    """POST BODY to the explicit endpoint's chat completions; returns (status, text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"authorization": f"Bearer {key}",
                              "content-type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def cpu_ticks(pid):
    """utime + stime of PID, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_accept_pauses_when_descriptors_run_out(gw, monkeypatch):
    """A workload opens idle connections until the daemon is at its descriptor limit: accept()
    fails with EMFILE while connections wait in the backlog. The daemon pauses accepting (no
    busy loop on a readable listener) and serves again once the connections are gone."""
    pol, port = api_policy(gw, monkeypatch)
    d = gw.start(pol)
    assert "RLIMIT_NOFILE" in d.text()  # raised to the hard limit at start, and said so
    pid = d.proc.pid
    assert explicit_call(port, chat("fast-summary"))[0] == 200  # the upstream pool is open
    limit = open_fds(pid) + 4
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:"], check=True)
    idle = []
    try:
        for _ in range(12):  # 4 are accepted, the rest wait in the listener's backlog
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        wait_for(lambda: open_fds(pid) >= limit, what="the daemon at its descriptor limit")
        # The measurement window: one second of exhaustion. A spinning accept loop burns the
        # whole second (a whole CPU, or what a loaded machine leaves it: 30 % measured on this
        # one with eight other jobs); paused, the daemon wakes ten times (1 %).
        hz = os.sysconf("SC_CLK_TCK")
        before, start = cpu_ticks(pid), time.monotonic()
        wait_for(lambda: time.monotonic() - start >= 1.0, timeout=3, what="one second")
        used = (cpu_ticks(pid) - before) / hz / (time.monotonic() - start)
        assert used < 0.1, f"the daemon used {used:.0%} of a CPU while out of descriptors"
        assert open_fds(pid) <= limit
        assert d.text().count("accepting paused") == 1, d.text()  # once per episode
    finally:
        for s in idle:
            s.close()
    status, text = wait_for(lambda: explicit_call(port, chat("fast-summary")),
                            what="a call served after the connections closed")
    assert status == 200, text
