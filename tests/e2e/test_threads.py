"""The daemon's background threads (the audit writer, the state databases' writers, the
address refresher) run SCHED_BATCH: their wake-ups must never preempt a proxy worker serving a
request (issue 13: added p99). The workers themselves stay SCHED_OTHER: a worker set to batch
would lose wake-up preemption itself and add latency to every call."""
from pathlib import Path

from conftest import wait_for

SCHED_OTHER, SCHED_BATCH = 0, 3


def threads(pid):
    """{thread name: [scheduling policy, ...]} of process PID, from /proc."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended while we looked
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out.setdefault(name, []).append(int(fields[38]))  # field 41 of proc(5): policy
    return out


def test_background_threads_never_preempt_a_worker(world):
    pol = world.policy(proxy={"workers": 2, "non_tls": "passthrough"},
                       ledger={"path": str(world.tmp / "ledger.db")})
    d = world.start(pol)
    d.wait_ready()
    wait_for(lambda: {"aigw-audit", "aigw-govstate", "aigw-ledger"} <= set(threads(d.proc.pid)),
             what="the writer threads")
    t = threads(d.proc.pid)
    for name in ("aigw-audit", "aigw-govstate", "aigw-ledger"):
        assert t[name] == [SCHED_BATCH], f"{name}: {t}"
    workers = [p for n, ps in t.items() if n.startswith("aigw-worker") for p in ps]
    assert len(workers) == 2 and set(workers) == {SCHED_OTHER}, t
