"""`aigw audit verify` on a log the daemon really wrote: intact, then edited, with a line
deleted, and with two lines swapped - each caught at the right line."""
import json

from conftest import PROVIDER4


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
