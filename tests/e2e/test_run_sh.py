"""tests/run.sh itself, run on a throw-away tree of stand-in test binaries: what it counts is
what `make test` reports, so a test binary that fails, crashes or reports a sanitizer finding,
and a fuzz target whose harness never starts fuzzing (libFuzzer's INITED), must each count as
failed, with every job's output kept together although the jobs run in parallel.
"""
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]

UNIT = {
    "test_a_ok": 'echo "ok 1 a"; echo "2 passed, 0 failed"',
    "test_b_fail": 'echo "not ok 1 b"; echo "1 passed, 1 failed"; exit 1',
    "test_c_crash": 'echo "ok 1 c"; kill -SEGV $$',
    "test_d_san": 'echo "3 passed, 0 failed"; echo "ERROR: AddressSanitizer: heap-use-after-free"',
    "test_e_hang": 'echo "ok 1 e"; exec sleep 3600',  # a scan spinning, a lock never given
}
FUZZ = {
    # libFuzzer's log of a harness that ran: INITED, then Done
    "fuzz_ok": 'echo "#2 INITED cov: 10 ft: 10 corp: 1/1b exec/s: 0 rss: 30Mb" >&2; '
               'echo "Done 100 runs in 1 second(s)" >&2',
    # exits 0 without ever fuzzing (e.g. a harness that returns before libFuzzer starts)
    "fuzz_never_inited": 'echo "Done 0 runs in 0 second(s)" >&2',
}


def tree(tmp):
    (tmp / "tests" / "e2e").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "run.sh", tmp / "tests" / "run.sh")
    (tmp / "tests" / "e2e" / "test_one.py").write_text("def test_one():\n    pass\n")
    for d, scripts in (("build/tests/unit", UNIT), ("build/fuzz-smoke", FUZZ)):
        (tmp / d).mkdir(parents=True)
        for name, body in scripts.items():
            p = tmp / d / name
            p.write_text(f"#!/bin/sh\n{body}\n")
            p.chmod(0o755)
    return tmp / "tests" / "run.sh"


def run(run_sh, **env):
    """RUN_SH to its end, with the throw-away tree's settings and ENV's. Its suite runs in
    one process (E2E_WORKERS=0): xdist's workers would cost a second of CPU each run."""
    return subprocess.run(["bash", str(run_sh)], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "FUZZ_SMOKE_SECONDS": "1",
                               "UNIT_TIMEOUT": "3", "E2E_WORKERS": "0", **env})


def test_run_sh_counts_every_failure(tmp_path):
    r = run(tree(tmp_path))
    out = r.stdout
    assert r.returncode != 0, out
    # passed: a 2 + b 1 + d 3 + fuzz_ok 1 + pytest 1; failed: b, c, d, e, fuzz_never_inited
    assert out.strip().splitlines()[-1] == "aigw: 8 passed, 5 failed", out
    failing = next(ln for ln in out.splitlines() if ln.startswith("failing: ")).split()[1:]
    assert sorted(Path(f).name for f in failing) == ["fuzz_never_inited", "test_b_fail",
                                                     "test_c_crash", "test_d_san", "test_e_hang"], out
    hang = next(b for b in out.split("== ") if b.startswith("build/tests/unit/test_e_hang"))
    assert "timed out after 3 s" in hang, out
    assert "libFuzzer never reached INITED" in out, out
    # each job's output stays under its own header
    blocks = out.split("== ")
    crash = next(b for b in blocks if b.startswith("build/tests/unit/test_c_crash"))
    assert "crashed (exit 139) before its summary" in crash, out
    san = next(b for b in blocks if b.startswith("build/tests/unit/test_d_san"))
    assert "sanitizer report (above)" in san and "AddressSanitizer" in san, out


def test_run_sh_counts_a_failed_background_build_and_runs_no_stale_binary(tmp_path):
    """make test builds the unit tests and fuzz targets beside the suite (BUILD_JOBS): a build
    that fails is a failure, and the binaries an earlier build left are not run in its place."""
    r = run(tree(tmp_path), BUILD_JOBS="no-such-target")
    out = r.stdout
    assert r.returncode != 0, out
    assert "make no-such-target failed: no unit test or fuzz target ran" in out, out
    assert "== build/tests/unit/" not in out and "== build/fuzz-smoke/" not in out, out
    # passed: pytest's one test; failed: the build
    assert out.strip().splitlines()[-1] == "aigw: 1 passed, 1 failed", out


# A test that fails in its call, and one that passes but fails in its teardown: pytest counts
# the second as passed and as an error.
E2E_FAILING = """import pytest
@pytest.fixture
def breaks_at_teardown():
    yield
    raise RuntimeError("left a daemon running")
def test_fails():
    assert 1 == 2
def test_teardown_fails(breaks_at_teardown):
    pass
"""


def test_run_sh_names_the_failed_e2e_tests_at_its_end(tmp_path):
    """CI keeps a run's last lines, and the unit and fuzz jobs' output comes after the suite's:
    the e2e tests that failed, and how, are said again just before the summary."""
    run_sh = tree(tmp_path)
    (tmp_path / "tests" / "e2e" / "test_one.py").write_text(E2E_FAILING)
    r = run(run_sh, CI="true")
    out = r.stdout
    assert r.returncode != 0, out
    assert "\n== tests/e2e, what failed\n" in out, out
    tail = out[out.rindex("\n== tests/e2e, what failed\n"):].splitlines()[2:]
    assert any(ln.startswith("FAILED tests/e2e/test_one.py::test_fails") for ln in tail), out
    assert any(ln.startswith("ERROR tests/e2e/test_one.py::test_teardown_fails")
               and "left a daemon running" in ln for ln in tail), out
    # as test_run_sh_counts_every_failure, with the test that passed before its teardown failed,
    # and the failure and the error
    assert tail[-1] == "aigw: 8 passed, 7 failed", out


# The suite's side of BUILD_PLAIN: it is told where the build's end is marked, and sees it.
PLAIN_WAITER = """import os, time
def test_one():
    status = os.environ["AIGW_PLAIN_STATUS"]
    os.kill(int(os.environ["AIGW_PLAIN_PID"]), 0)
    deadline = time.monotonic() + 30
    while not os.path.exists(status + ".failed"):
        assert time.monotonic() < deadline, "no end of the plain build marked"
        time.sleep(0.05)
    assert not os.path.exists(status + ".done")
"""


def test_run_sh_counts_a_failed_plain_build_and_tells_the_suite(tmp_path):
    """make test builds build/aigw beside the suite (BUILD_PLAIN), whose memory tests wait for
    it: its end is marked where the suite is told (AIGW_PLAIN_STATUS), a failed build fails the
    run, and the unit and fuzz jobs run all the same."""
    run_sh = tree(tmp_path)
    (tmp_path / "tests" / "e2e" / "test_one.py").write_text(PLAIN_WAITER)
    r = run(run_sh, BUILD_PLAIN="no-such-plain")
    out = r.stdout
    assert r.returncode != 0, out
    assert "make no-such-plain failed" in out, out
    assert "== build/tests/unit/test_a_ok" in out, out
    # as test_run_sh_counts_every_failure, and the build: the waiting test passed
    assert out.strip().splitlines()[-1] == "aigw: 8 passed, 6 failed", out


# A suite on build/aigw itself: built before the first test, and the suite not told to wait.
PLAIN_FIRST = """import os
def test_one():
    assert os.path.exists("build/aigw")
    assert "AIGW_PLAIN_STATUS" not in os.environ and "AIGW_PLAIN_PID" not in os.environ
"""


def run_on_plain(tmp_path, target):
    run_sh = tree(tmp_path / "tree")
    root = tmp_path / "tree"
    (root / "Makefile").write_text("plain:\n\tmkdir -p build && touch build/aigw\n")
    (root / "tests" / "e2e" / "test_one.py").write_text(PLAIN_FIRST)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    r = run(run_sh, BUILD_PLAIN=target, AIGW_BIN="build/aigw", TMPDIR=str(tmpdir))
    return r, tmpdir


def mktemp_left(tmpdir):
    return [p for p in tmpdir.iterdir() if p.name.startswith("tmp.")]


def test_run_sh_on_build_aigw_builds_it_first(tmp_path):
    """With AIGW_BIN=build/aigw the plain build is the suite's daemon: it is built before the
    suite, which then waits for no background build; a failed build ends the run at once and
    leaves nothing in TMPDIR."""
    r, tmpdir = run_on_plain(tmp_path, "plain")
    out = r.stdout
    # as test_run_sh_counts_every_failure: the suite's one test passed, on the built daemon
    assert out.strip().splitlines()[-1] == "aigw: 8 passed, 5 failed", out
    assert mktemp_left(tmpdir) == [], out
    r, tmpdir = run_on_plain(tmp_path / "failed", "no-such-plain")
    out = r.stdout
    assert r.returncode != 0, out
    assert out.strip().splitlines()[-2:] == ["make no-such-plain failed",
                                            "aigw: 0 passed, 1 failed"], out
    assert mktemp_left(tmpdir) == [], out


def test_run_sh_stopped_leaves_no_job_running(tmp_path):
    """A run stopped (Ctrl-C, CI's limit) takes its background jobs with it: a unit test under
    timeout is in a process group of its own, and would run on for UNIT_TIMEOUT."""
    mark = f"{3000 + secrets.randbelow(600)}.{secrets.randbelow(10**6)}"
    run_sh = tree(tmp_path)
    hang = tmp_path / "build/tests/unit/test_e_hang"
    hang.write_text(f"#!/bin/sh\necho 'ok 1 e'\nexec sleep {mark}\n")
    p = subprocess.Popen(["bash", str(run_sh)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env={"PATH": "/usr/bin:/bin", "FUZZ_SMOKE_SECONDS": "1",
                              "UNIT_TIMEOUT": "120"})

    def sleeping():
        return subprocess.run(["pgrep", "-f", f"sleep {mark}"], capture_output=True).returncode == 0

    try:
        wait_for(sleeping, timeout=30, what="the hanging unit test")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        wait_for(lambda: not sleeping(), timeout=5, what="the unit test gone with the run")
    finally:
        p.kill()
        subprocess.run(["pkill", "-f", f"sleep {mark}"])
    assert p.returncode != 0
