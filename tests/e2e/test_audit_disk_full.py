"""The audit log on a full disk: with audit.on_failure "block" (the default) new calls get 503
in the app's provider format while records cannot be written, the reason is logged once, and
calls are served again by themselves once the disk has room; with "continue" they go on.

The audit directory is a 256 KiB tmpfs mounted under the test's tmp dir before the daemon
starts (so its private mount namespace has it too), filled with a filler file and emptied
again; it is unmounted whatever happens."""
import errno
import json
import subprocess

import pytest

from conftest import wait_for

CHAT = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "Close the books for March"}]})
NO_SPACE = "No space left on device"


@pytest.fixture
def small_disk(world):
    d = world.tmp / "auditfs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(d)],
                   check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def fill(d):
    """Writes a filler file until the file system is full; returns its path."""
    filler = d / "filler"
    chunk = b"\0" * 4096
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return filler


def call(gw):
    r = gw.curl("https://api.openai.com/v1/chat/completions", CHAT,
                headers=["authorization: Bearer sk-app"])
    assert r.returncode == 0, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def start_on(gw, small_disk, **audit):
    gw.world.audit_path = small_disk / "audit.jsonl"
    d = gw.start(gw.policy(audit={"path": str(gw.world.audit_path), **audit}))
    code, _ = call(gw)
    assert code == 200
    gw.world.wait_record(**{"event.name": "proxy.request"})
    return d


def test_full_audit_disk_blocks_calls_with_503_until_it_has_room(gw, small_disk):
    d = start_on(gw, small_disk)
    filler = fill(small_disk)

    # The gateway learns of the full disk from the first record that fails to be written
    # (this call's, or its connection's): from then on calls are refused.
    answers = []

    def refused():
        answers.append(call(gw))
        return answers[-1][0] == 503

    wait_for(refused, timeout=15, what="a 503 once the audit disk is full")
    assert len(answers) <= 2, answers
    code, body = answers[-1]
    err = json.loads(body)["error"]
    assert err["code"] == "gateway_unavailable", body
    assert "audit log" in err["message"] and NO_SPACE in err["message"], body
    sent = len(gw.mock.requests())
    for _ in range(3):
        assert call(gw)[0] == 503
    assert len(gw.mock.requests()) == sent  # refused before anything reached the provider
    log = d.text()
    assert sum(NO_SPACE in line for line in log.splitlines()) == 1, log

    # Room again: served again without anyone touching the daemon. A refused call's own
    # record is what tries the disk, so the answer turns within a call or two.
    filler.unlink()
    wait_for(lambda: call(gw)[0] == 200, timeout=15, what="calls served again")
    assert "records are written again" in d.text()
    d.stop()
    r = gw.world.aigw("audit", "verify", str(gw.world.audit_path))
    assert r.returncode == 0 and "chain intact" in r.stdout, r.stdout


def test_full_audit_disk_with_continue_lets_calls_on(gw, small_disk):
    d = start_on(gw, small_disk, on_failure="continue")
    filler = fill(small_disk)
    for _ in range(4):
        assert call(gw)[0] == 200
    wait_for(lambda: NO_SPACE in d.text(), timeout=10, what="the failure logged")
    filler.unlink()
    d.stop()
