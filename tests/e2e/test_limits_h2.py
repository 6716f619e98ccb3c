"""An h2 client that never opens its windows cannot make the gateway hold more than
buffer_bytes: the answers its streams wait to send and the request bytes their sessions have
not read count in the daemon's gauge and the workload's count, new calls past the cap are
refused with buffer_limit, and all of it goes back when the client goes away."""
import json

from conftest import free_port, wait_for
from test_http2 import raw_client, rss_kib, settled
from test_intercept import split
from test_limits import MIB, OPENAI_CHAT, capped_policy, plain_daemon, request_records
from test_limits_response import buffered_gauge
from test_routing import chat

CAP = 2 * MIB
STREAMS = 90
ANSWER = 240 * 1024  # fits what a stream holds (256 KiB): unbounded, its call would end at once
# What a stream may take past the cap before it stops: a read of its pair (64 KiB), a
# provider's read (a 16 KiB event) and the credit counted ahead of it (64 KiB).
STREAM_SLACK = 160 * 1024


def held_policy(gw, monkeypatch):
    """billing (the app) may have CAP bytes held in the gateway; reports has no cap."""
    admin = free_port()
    pol, _ = capped_policy(gw, monkeypatch)
    pol["workloads"][0]["limits"] = {"buffer_bytes": CAP}
    pol["admin"] = {"listen": f"127.0.0.1:{admin}"}
    return pol, admin


def test_streams_whose_window_never_opens_count_and_new_calls_are_refused(gw, monkeypatch):
    """billing opens 90 streams of 240 KB answers and gives none of them a byte of window.
    Unbounded, each call ends at once and its answer waits in the gateway uncounted (21 MB,
    the gauge at 0). Bounded: the gauge shows what is held, at least the cap and at most a
    read-ahead a stream past it; the same connection's next call and an HTTP/1.1 one are
    refused with buffer_limit; reports is served; when the client goes away the gauge is 0."""
    measured = plain_daemon(monkeypatch)
    pol, admin = held_policy(gw, monkeypatch)
    d = gw.start(pol)
    pid = d.proc.pid
    body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                               headers=["authorization: Bearer sk-app"]))
    assert code == 200, body
    wait_for(lambda: settled(pid), timeout=20, what="the daemon idle")
    base = rss_kib(pid) * 1024
    p = raw_client(gw, "hold", str(STREAMS), str(ANSWER))
    try:
        assert json.loads(p.stdout.readline()) == {"held": STREAMS}
        wait_for(lambda: buffered_gauge(admin) >= CAP or None, timeout=60,
                 what="the answers held counted to the cap")
        wait_for(lambda: settled(pid), timeout=60, what="the daemon idle behind the windows")
        held = buffered_gauge(admin)
        grown = rss_kib(pid) * 1024 - base
        print(f"gauge {held / MIB:.2f} MiB, RSS grew {grown / MIB:.1f} MiB, "
              f"{STREAMS} streams of {ANSWER // 1024} KiB unread")
        assert CAP <= held <= CAP + STREAMS * STREAM_SLACK, held
        p.stdin.write("call\n")
        p.stdin.flush()
        got = json.loads(p.stdout.readline())
        assert got["status"] == 429, got
        assert json.loads(got["body"])["error"]["code"] == "rate_limit_exceeded", got
        body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                                   headers=["authorization: Bearer sk-app"]))
        assert code == 429, body
        def buffer_refusals():
            return [r for r in request_records(gw) if r.get("aigw.reason") == "buffer_limit"]
        wait_for(lambda: len(buffer_refusals()) >= 2 or None, timeout=20,
                 what="both refusals recorded")
        refused = buffer_refusals()
        assert len(refused) == 2, refused
        assert all(r["aigw.policy.rule"] == "limits.buffer_bytes" for r in refused), refused
        reports = gw.world.root.child("reports.service")
        body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                                   headers=["authorization: Bearer sk-app"], cgroup=reports))
        assert code == 200, body
        if measured:
            # what is held is what the gauge says, and a stream's own bookkeeping
            assert grown <= held + STREAMS * 96 * 1024 + 8 * MIB, f"RSS grew {grown / MIB:.0f} MiB"
    finally:
        p.kill()
        p.communicate()
    wait_for(lambda: buffered_gauge(admin) == 0 or None, timeout=20,
             what="the gauge back at 0 after the client went away")



UPLOAD_MIB = 64


def test_upload_to_a_refused_stream_is_dropped_not_held(gw, monkeypatch):
    """billing asks to upload 10^12 bytes: refused at the head (413), its answer's DATA shut
    in a window of 0, so the stream's call waits for its record. The client then sends 64 MiB
    of body. None of it may be held or counted (unbounded, it pushed the gauge to 64 MiB and
    billing, then the daemon, past buffer_bytes): the gauge stays under 1 MiB and billing's
    next call is served; the gauge is 0 once the client goes."""
    pol, admin = held_policy(gw, monkeypatch)
    gw.start(pol)
    p = raw_client(gw, "upload", str(UPLOAD_MIB))
    try:
        got = json.loads(p.stdout.readline())
        assert got["status"] == 413 and got["sent"] == UPLOAD_MIB << 20, got
        held = buffered_gauge(admin)
        print(f"gauge {held / MIB:.2f} MiB after {UPLOAD_MIB} MiB sent to a refused stream")
        assert held < MIB, held
        body, code = split(gw.curl(OPENAI_CHAT, chat("gpt-4o-mini"),
                                   headers=["authorization: Bearer sk-app"]))
        assert code == 200, body
    finally:
        p.kill()
        p.communicate()
    wait_for(lambda: buffered_gauge(admin) == 0 or None, timeout=20,
             what="the gauge back at 0 after the client went away")


def test_upload_after_the_whole_answer_went_is_reset_no_error(gw, monkeypatch):
    """The same refused upload, its 413 given a window: once the answer's END_STREAM went,
    the gateway stops the upload with RST_STREAM(NO_ERROR) (RFC 9113 §8.1), not reading it
    to the end."""
    pol, admin = held_policy(gw, monkeypatch)
    gw.start(pol)
    p = raw_client(gw, "upload", str(UPLOAD_MIB), "65535")
    try:
        got = json.loads(p.stdout.readline())
        assert got["status"] == 413 and got["reset"] == 0, got
        assert got["sent"] < UPLOAD_MIB << 20, got
    finally:
        p.kill()
        p.communicate()
    recs = wait_for(lambda: request_records(gw) or None, timeout=15, what="the call's record")
    assert [r["http.response.status_code"] for r in recs] == [413], recs
