"""kill -9 under load: with audit.durability "strict" every call whose answer the app received in
full has its record in the audit log, because an answer's last bytes leave only once its record
is on disk (group-committed by the audit writer).

The load is tests/e2e/load_client.py in the captured cgroup: threads on kept-alive HTTPS
connections through the gateway to the mock, half of them streaming, each printing the
x-aigw-request-id of every answer it got whole. Once enough calls are answered the daemon is
killed with SIGKILL in the middle of the load; then every printed id must be the
aigw.request_id of a proxy.request record.

A kill -9 loses what the writer has not yet handed to the kernel: the records queued while it
waits for the disk. On a fast disk that wait is shorter than the client takes to print an id,
and a gateway that let answers out early would pass too. So the disk is made slow: aigw runs
under strace, which delays every fdatasync by SLOW_SYNC_US. Then records queue for tens of
milliseconds at a time, and an answer that left before its record would be caught."""
import json
import os
from pathlib import Path
import signal

from conftest import PYTHON, hosts_wrap, wait_for

LOAD = str(Path(__file__).resolve().parent / "load_client.py")
THREADS = 16
ANSWERED_BEFORE_KILL = 300
SLOW_SYNC_US = 40000
SLOW_DISK = ["strace", "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf", "-e", "trace=fdatasync",
             "-e", f"inject=fdatasync:delay_exit={SLOW_SYNC_US}"]


def lines(path):
    text = path.read_text()
    return text[:text.rfind("\n") + 1].splitlines()  # a line being written is not yet one


def recorded_request_ids(audit_path):
    """The request ids of the log's proxy.request records; a last line cut short by the kill
    is not a record."""
    ids = set()
    for line in audit_path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("event.name") == "proxy.request":
            ids.add(r.get("aigw.request_id"))
    return ids


def traced_pid(tracer_pid):
    """aigw's pid: the one child strace started."""
    children = Path(f"/proc/{tracer_pid}/task/{tracer_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def kill_under_load(gw, durability, *load):
    """Returns (ids of the calls answered in full, of those the ones with no record)."""
    audit = {"path": str(gw.world.audit_path), "durability": durability}
    d = gw.start(gw.policy(audit=audit), wrap=SLOW_DISK)
    aigw = traced_pid(d.proc.pid)
    done = gw.world.tmp / "answered.txt"
    with open(done, "w") as f:
        client = gw.app.popen(hosts_wrap(gw.hosts, [PYTHON, LOAD, str(THREADS), "120", *load]),
                              env=gw.env(), stdout=f)
    try:
        wait_for(lambda: len(lines(done)) >= ANSWERED_BEFORE_KILL, timeout=90,
                 what=f"{ANSWERED_BEFORE_KILL} calls answered through the gateway")
        os.kill(aigw, signal.SIGKILL)
        d.kill()  # strace, which ends with it
        client.wait(timeout=60)  # its threads end at their next call
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    answered = set(lines(done))
    assert len(answered) >= ANSWERED_BEFORE_KILL, client.stderr.read()
    return answered, answered - recorded_request_ids(gw.world.audit_path)


def test_strict_durability_kill_9_under_load_loses_no_answered_call(gw):
    answered, missing = kill_under_load(gw, "strict")
    assert not missing, (f"{len(missing)} of {len(answered)} calls answered in full have no "
                         f"record: {sorted(missing)[:5]}")


def test_strict_durability_kill_9_under_h2_load_loses_no_answered_call(gw):
    """The same over HTTP/2: an h2 call is recorded when its answer's last frame is due (what
    its client was sent is known only then), and that frame waits for the record."""
    answered, missing = kill_under_load(gw, "strict", "h2")
    assert not missing, (f"{len(missing)} of {len(answered)} h2 calls answered in full have no "
                         f"record: {sorted(missing)[:5]}")

