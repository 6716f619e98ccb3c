"""`aigw audit verify` on a log the daemon really wrote: intact, then edited, with a line
deleted, and with two lines swapped - each caught at the right line."""
import hashlib
import json
import os
import stat

import pytest

from conftest import PROVIDER4, World, wait_for


def make_log(world):
    world.server()
    d = world.start()
    app = world.root.child("billing.service")
    for port in (443, 8443, 443, 8443, 443):
        app.client("tcp", PROVIDER4, port)
    world.wait_record(**{"event.name": "proxy.connection"})
    d.stop()
    lines = world.audit_path.read_text().splitlines()
    assert len(lines) >= 8
    return lines


def verify(world, lines, name):
    p = world.tmp / name
    p.write_text("\n".join(lines) + "\n")
    return world.aigw("audit", "verify", str(p))


def test_audit_verify_catches_tampering(world):
    lines = make_log(world)
    r = verify(world, lines, "intact.jsonl")
    assert r.returncode == 0 and "chain intact" in r.stdout, r.stdout

    edited = list(lines)
    rec = json.loads(edited[3])
    rec["process.user.id"] = 4242  # someone hides who did it
    edited[3] = json.dumps(rec, separators=(",", ":"))
    r = verify(world, edited, "edited.jsonl")
    assert r.returncode == 1 and ":4: record edited" in r.stdout, r.stdout

    deleted = lines[:4] + lines[5:]
    r = verify(world, deleted, "deleted.jsonl")
    assert r.returncode == 1 and ":5: record removed" in r.stdout, r.stdout

    swapped = list(lines)
    swapped[2], swapped[3] = swapped[3], swapped[2]
    r = verify(world, swapped, "swapped.jsonl")
    assert r.returncode == 1 and ":3: records reordered" in r.stdout, r.stdout


def test_rotated_audit_log_keeps_the_chain(world):
    """With audit.rotate_bytes the daemon rotates; the files verify as one chain, oldest first."""
    world.server()
    d = world.start(world.policy(audit={"rotate_bytes": 4096, "keep": 20}))
    app = world.root.child("billing.service")
    for _ in range(12):
        app.client("tcp", PROVIDER4, 8443)
    d.stop()
    files = sorted(world.tmp.glob("audit.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(files) >= 2, list(world.tmp.iterdir())
    chain = [str(p) for p in files] + [str(world.audit_path)]
    r = world.aigw("audit", "verify", *chain)
    assert r.returncode == 0 and r.stdout.count("chain intact") == len(chain), r.stdout
    first = json.loads(world.audit_path.read_text().splitlines()[0])
    assert "audit.chain_start" not in first and first["audit.seq"] > 1
    assert first["audit.prev_file"] == world.audit_path.name + ".1"
    head = json.loads(files[0].read_text().splitlines()[0])
    assert head["audit.chain_start"] is True and head["audit.seq"] == 1

    # the live log alone: its rotated files are found and verified with it, oldest first
    r = world.aigw("audit", "verify", str(world.audit_path))
    assert r.returncode == 0, r.stdout
    assert [ln.split(":")[0] for ln in r.stdout.splitlines()] == chain, r.stdout

    # a rotated file deleted from the middle, then the oldest (the chain's head): each caught
    aside = world.tmp / "aside"
    files[1].rename(aside)
    r = world.aigw("audit", "verify", str(world.audit_path))
    assert r.returncode == 1 and f"{chain[2]}:1: file missing" in r.stdout, r.stdout
    aside.rename(files[1])
    files[0].rename(aside)
    r = world.aigw("audit", "verify", str(world.audit_path))
    assert r.returncode == 1 and f"{chain[1]}:1: head removed" in r.stdout, r.stdout


# ---- signed checkpoints: `aigw audit verify LOG --pubkey KEY.pub --checkpoints FILE` ----

CHAIN_FIELDS = ("audit.seq", "audit.prev_sha256", "audit.chain_start", "audit.prev_file")


def count_connections(world):
    """proxy.connection records in the live log and its rotated files; 0 when the daemon
    rotated while they were read (a file listed was renamed before it was opened), so that
    wait_for() looks again."""
    n = 0
    for p in world.tmp.glob(world.audit_path.name + "*"):
        if p == world.audit_path or p.suffix[1:].isdigit():
            try:
                text = p.read_text()
            except FileNotFoundError:
                return 0
            n += sum('"event.name":"proxy.connection"' in ln for ln in text.splitlines())
    return n


def checkpointed_log(world, connections=5, **audit):
    """A log the daemon wrote with a checkpoint every 3 records, and its checkpoint file."""
    cps = world.tmp / "far-disk" / "checkpoints.jsonl"
    cps.parent.mkdir()
    world.server()
    checkpoint = {"every_records": 3, "path": str(cps)}
    d = world.start(world.policy(audit={"checkpoint": checkpoint, **audit}))
    app = world.root.child("billing.service")
    for _ in range(connections):
        app.client("tcp", PROVIDER4, 443)
    wait_for(lambda: count_connections(world) >= connections,
             what=f"{connections} connection records")
    d.stop()
    return d, cps, world.tmp / "ca" / "audit-checkpoint.key.pub"


@pytest.fixture(scope="module")
def signed_log(tmp_path_factory):
    """One daemon-written checkpointed log for the tests that tamper with a copy of it (each
    test's own): (the log's text, the checkpoint file's text, the public key)."""
    w = World(tmp_path_factory.mktemp("signed-log"))
    try:
        _, cps, pub = checkpointed_log(w)
    finally:
        w.teardown()  # its daemon and provider gone before the next test's start
    return w.audit_path.read_text(), cps.read_text(), pub


def copy_signed_log(world, signed_log):
    """SIGNED_LOG written as WORLD's audit log and checkpoint file: (cps, pub)."""
    log, cps_text, pub = signed_log
    world.audit_path.write_text(log)
    cps = world.tmp / "far-disk" / "checkpoints.jsonl"
    cps.parent.mkdir()
    cps.write_text(cps_text)
    return cps, pub


def verify_signed(world, log, pub, cps=None):
    args = ["audit", "verify", str(log), "--pubkey", str(pub)]
    return world.aigw(*args, *(["--checkpoints", str(cps)] if cps else []))


def rechain(lines):
    """What a forger with the log but not the key does: a fresh, self-consistent chain."""
    prev, out = "0" * 64, []
    for seq, line in enumerate(lines, 1):
        rec = {k: v for k, v in json.loads(line).items() if k not in CHAIN_FIELDS}
        rec["audit.seq"], rec["audit.prev_sha256"] = seq, prev
        if seq == 1:
            rec["audit.chain_start"] = True
        text = json.dumps(rec, separators=(",", ":"))
        prev = hashlib.sha256(text.encode()).hexdigest()
        out.append(text)
    return out


def is_checkpoint(line):
    return json.loads(line).get("event.name") == "audit.checkpoint"


def test_checkpoints_signed_into_log_and_file(world):
    d, cps, pub = checkpointed_log(world)
    key = world.tmp / "ca" / "audit-checkpoint.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    lines = world.audit_path.read_text().splitlines()
    in_log = [json.loads(ln) for ln in lines if is_checkpoint(ln)]
    in_file = [json.loads(ln) for ln in cps.read_text().splitlines()]
    assert len(in_log) >= 3 and len(in_file) == len(in_log)
    # the last one, at shutdown, names the last record before it
    last = json.loads(lines[-1])
    assert last["event.name"] == "audit.checkpoint"
    assert last["audit.checkpoint.seq"] == last["audit.seq"] - 1
    assert last["audit.checkpoint.head_sha256"] == hashlib.sha256(lines[-2].encode()).hexdigest()
    assert in_file[-1]["audit.checkpoint.sig_ed25519"] == last["audit.checkpoint.sig_ed25519"]
    if not os.path.exists("/run/systemd/journal/socket"):
        assert "no systemd journal" in d.text()  # its absence is said, once

    r = verify_signed(world, world.audit_path, pub, cps)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "chain intact" in r.stdout
    assert f"checkpoints: {len(in_log)} in the log and {len(in_file)} in {cps}" in r.stdout
    # without --pubkey: as before, and it says what it did not check
    r = world.aigw("audit", "verify", str(world.audit_path))
    assert r.returncode == 0 and "checkpoints:" not in r.stdout
    assert "checkpoints not checked (no --pubkey)" in r.stderr


def test_verify_catches_truncated_tail(world, signed_log):
    cps, pub = copy_signed_log(world, signed_log)
    lines = world.audit_path.read_text().splitlines()
    cut = lines[:-2]  # the last record and the checkpoint of it, gone
    world.audit_path.write_text("\n".join(cut) + "\n")
    assert world.aigw("audit", "verify", str(world.audit_path)).returncode == 0  # chain: fine
    r = verify_signed(world, world.audit_path, pub, cps)
    seq = json.loads(cut[-1])["audit.seq"]
    assert r.returncode == 1, r.stdout
    assert (f"{world.audit_path}:{len(cut)}: truncated tail: the log ends at seq {seq}, "
            f"but the checkpoint at {cps}:") in r.stdout, r.stdout


def test_verify_catches_removed_head(world, signed_log):
    cps, pub = copy_signed_log(world, signed_log)
    lines = world.audit_path.read_text().splitlines()
    kept = [ln for ln in lines[3:] if not is_checkpoint(ln)]  # the first records, gone
    world.audit_path.write_text("\n".join(rechain(kept)) + "\n")
    assert world.aigw("audit", "verify", str(world.audit_path)).returncode == 0
    r = verify_signed(world, world.audit_path, pub, cps)
    assert r.returncode == 1, r.stdout
    assert f"{world.audit_path}:1: head removed: seq 1 hashes to" in r.stdout, r.stdout
    assert f"the checkpoint at {cps}:1 " in r.stdout


def test_verify_catches_rewritten_rechained_file(world, signed_log):
    cps, pub = copy_signed_log(world, signed_log)
    lines = world.audit_path.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines)
             if json.loads(ln).get("event.name") == "proxy.connection")
    rec = json.loads(lines[k])
    rec["process.user.id"] = 4242  # someone hides who did it
    lines[k] = json.dumps(rec, separators=(",", ":"))
    forged = rechain(lines)
    world.audit_path.write_text("\n".join(forged) + "\n")
    assert world.aigw("audit", "verify", str(world.audit_path)).returncode == 0
    # the signed checkpoint records inside the log already disagree
    r = verify_signed(world, world.audit_path, pub)
    assert r.returncode == 1 and ": records rewritten: seq " in r.stdout, r.stdout
    # and with those removed too, the checkpoint file's copies do
    forged = rechain([ln for ln in forged if not is_checkpoint(ln)])
    world.audit_path.write_text("\n".join(forged) + "\n")
    r = verify_signed(world, world.audit_path, pub, cps)
    assert r.returncode == 1, r.stdout
    first_cp = json.loads(cps.read_text().splitlines()[0])["audit.checkpoint.seq"]
    want = first_cp if first_cp > k else None
    assert ": records rewritten: seq " in r.stdout and f"{cps}:" in r.stdout, r.stdout
    if want:
        assert f"{world.audit_path}:{want}: records rewritten: seq {want} " in r.stdout


def test_verify_catches_forged_checkpoint(world, signed_log):
    cps, pub = copy_signed_log(world, signed_log)
    cp_lines = cps.read_text().splitlines()
    last = json.loads(cp_lines[-1])
    last["audit.checkpoint.seq"] -= 2  # pretend the log ended earlier
    cp_lines[-1] = json.dumps(last, separators=(",", ":"))
    cps.write_text("\n".join(cp_lines) + "\n")
    r = verify_signed(world, world.audit_path, pub, cps)
    assert r.returncode == 1, r.stdout
    assert (f"{cps}:{len(cp_lines)}: forged checkpoint: seq {last['audit.checkpoint.seq']} "
            in r.stdout), r.stdout
    assert "the signature does not verify" in r.stdout


def test_rotation_keeps_one_chain_with_checkpoints(world):
    _, cps, pub = checkpointed_log(world, connections=12, rotate_bytes=4096, keep=20)
    files = sorted(world.tmp.glob("audit.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(files) >= 2, list(world.tmp.iterdir())
    with_cp = [p for p in files + [world.audit_path]
               if any(is_checkpoint(ln) for ln in p.read_text().splitlines())]
    assert len(with_cp) >= 2, with_cp
    r = verify_signed(world, world.audit_path, pub, cps)
    assert r.returncode == 0, r.stdout
    assert r.stdout.count("chain intact") == len(files) + 1
    assert "checkpoints: " in r.stdout
