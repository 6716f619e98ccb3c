"""A flood of denied connects cannot flood the audit log: per workload, process and reason, the
first 10 attempts of each second are recorded one by one, the rest only counted into one
capture.denied_aggregate record per second; the individual records and the aggregates' counts
add up to the attempts made."""
import json
import math

from conftest import PROVIDER4, PYTHON, wait_for

TCP_ATTEMPTS = 2000
UDP_ATTEMPTS = 1000
INDIVIDUAL_PER_S = 10

# Each attempt its own socket, as a retrying app's are; prints the denials and the seconds
# the flood took.
FLOOD = """
import errno, json, socket, sys, time
host, tcp_n, udp_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.monotonic()
denied = {"tcp": 0, "udp": 0}
for kind, n, typ, port in (("tcp", tcp_n, socket.SOCK_STREAM, 8443),
                           ("udp", udp_n, socket.SOCK_DGRAM, 443)):
    for _ in range(n):
        s = socket.socket(socket.AF_INET, typ)
        try:
            s.connect((host, port))
        except PermissionError:
            denied[kind] += 1
        finally:
            s.close()
print(json.dumps({"denied": denied, "seconds": time.monotonic() - t0}))
"""


def records(world, reason):
    individual, aggregates = 0, []
    for r in world.records():
        if r.get("aigw.reason") != reason or r.get("aigw.workload") != "billing":
            continue
        if r["event.name"] == "capture.deny":
            individual += 1
        elif r["event.name"] == "capture.denied_aggregate":
            aggregates.append(r)
    return individual, aggregates


def test_connect_flood_is_aggregated_per_second(world):
    world.start()
    app = world.root.child("billing.service")
    r = app.run([PYTHON, "-c", FLOOD, PROVIDER4, str(TCP_ATTEMPTS), str(UDP_ATTEMPTS)],
                timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["denied"] == {"tcp": TCP_ATTEMPTS, "udp": UDP_ATTEMPTS}, res
    # Each reason's attempts fall into at most this many seconds of the gateway's clock.
    seconds = math.ceil(res["seconds"]) + 1

    for reason, attempts in (("deny_port", TCP_ATTEMPTS), ("deny_udp_quic", UDP_ATTEMPTS)):
        def counted():
            individual, aggregates = records(world, reason)
            return individual + sum(a["aigw.count"] for a in aggregates) == attempts

        wait_for(counted, timeout=15, what=f"all {attempts} {reason} attempts accounted for")
        individual, aggregates = records(world, reason)
        assert individual <= INDIVIDUAL_PER_S * seconds, (reason, individual, seconds)
        assert aggregates, reason
        for a in aggregates:
            assert a["process.executable.name"] == "python3", a
            assert a["aigw.recorded_individually"] == INDIVIDUAL_PER_S, a
            assert a["aigw.count"] > 0, a
        assert len(aggregates) <= seconds, (reason, len(aggregates), seconds)
    assert len(world.records()) < 200  # not thousands: the flood did not flood the log
