"""proxy.workers: intercepted connections are served by several event loops (threads) while
the limits, the audit chain and the policy in force stay one. With two workers, concurrent
connections from an unmodified Python app in the captured cgroup land on both (each record
says which: aigw.worker); a rate limit admits exactly its N calls however they spread; the
audit chain has no gap and no duplicate and verifies; a reload reaches the sessions each
worker holds open. Connections go to worker 0 (where the Vertex token exchanges run) only when
their calls can reach a Vertex target: a route to Vertex pins every connection, a Vertex provider
alone pins neither the explicit endpoint nor another provider's connections; concurrent Vertex
calls across token refreshes, with the other worker busy, all succeed. Run against
build/aigw-tsan too: a data race fails it like an ASan report."""
import json
import subprocess
import threading
from pathlib import Path

from conftest import hosts_wrap, wait_for
from test_explicit_local import call as socket_call
from test_intercept import split
from test_routing import chat, requests_upto, routed_policy
from test_vertex import MODEL, Vx, check_rekeyed, path

CLIENT = str(Path(__file__).resolve().parent / "workers_client.py")


def workers_policy(gw, monkeypatch, **workload):
    pol = routed_policy(gw, monkeypatch)
    pol["proxy"] = {"workers": 2}
    pol["workloads"][0].update(workload)
    return pol


def start_client(gw, conns, rounds, model):
    """The app, in the captured cgroup: CONNS connections, ROUNDS rounds of one call each."""
    argv = ["/usr/bin/python3", CLIENT, str(conns), str(rounds), model]
    return gw.app.popen(hosts_wrap(gw.hosts, argv), env=gw.env(), stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_round(proc, rnd):
    """The JSON lines of round RND, up to its "round RND done"."""
    calls = []
    for line in proc.stdout:
        if line.strip() == f"round {rnd} done":
            return calls
        calls.append(json.loads(line))
    raise AssertionError(f"the app ended before round {rnd} was done: {proc.stderr.read()}")


def run_rounds(gw, conns, rounds, model):
    proc = start_client(gw, conns, rounds, model)
    try:
        calls = []
        for rnd in range(rounds):
            calls += read_round(proc, rnd)
            if rnd + 1 < rounds:
                proc.stdin.write("\n")
                proc.stdin.flush()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        return calls
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_connections_are_served_by_both_workers(gw, monkeypatch):
    d = gw.start(workers_policy(gw, monkeypatch))
    assert "2 proxy workers" in d.text()
    calls = run_rounds(gw, 8, 2, "gpt-4o-mini")
    assert [c["status"] for c in calls] == [200] * 16, calls
    recs = requests_upto(gw, 16)
    per_worker = {}
    for r in recs:
        per_worker[r["aigw.worker"]] = per_worker.get(r["aigw.worker"], 0) + 1
    assert per_worker == {0: 8, 1: 8}, per_worker  # round robin, one connection at a time
    # a connection stays on its worker: both calls of one connection, one worker
    by_conn = {}
    for r in recs:
        by_conn.setdefault(r["aigw.connection_id"], set()).add(r["aigw.worker"])
    assert len(by_conn) == 8 and all(len(w) == 1 for w in by_conn.values()), by_conn


def test_a_rate_limit_admits_exactly_its_calls_across_workers(gw, monkeypatch):
    """requests_per_minute 5, twelve calls at once on twelve connections (six per worker):
    exactly five go, seven get the 429, and the records agree."""
    gw.start(workers_policy(gw, monkeypatch, limits={"requests_per_minute": 5}))
    calls = run_rounds(gw, 12, 1, "gpt-4o-mini")
    statuses = sorted(c["status"] for c in calls)
    assert statuses == [200] * 5 + [429] * 7, calls
    recs = requests_upto(gw, 12)
    assert sorted({r["aigw.worker"] for r in recs}) == [0, 1]
    denied = [r for r in recs if r["aigw.outcome"] == "denied"]
    assert len(denied) == 7, recs
    assert all(r["aigw.policy.rule"] == "limits.requests_per_minute" for r in denied), denied
    assert len(gw.mock.requests()) == 5


def test_the_audit_chain_verifies_after_calls_on_both_workers(gw, monkeypatch):
    d = gw.start(workers_policy(gw, monkeypatch))
    calls = run_rounds(gw, 10, 3, "fast-summary")
    assert [c["status"] for c in calls] == [200] * 30, calls
    recs = requests_upto(gw, 30)
    assert sorted({r["aigw.worker"] for r in recs}) == [0, 1]
    d.stop()  # every record written, the connections' too
    seqs = [r["audit.seq"] for r in gw.world.records()]
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # no gap, no duplicate, in file order
    r = gw.world.aigw("audit", "verify", str(gw.world.audit_path))
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_reload_reaches_the_sessions_of_both_workers(gw, monkeypatch):
    """Two kept-alive connections, one per worker, call a logical name; the policy changes
    the name's target and is reloaded while they stay open; their next calls, on the same
    connections and workers, go to the new target."""
    pol = workers_policy(gw, monkeypatch)
    d = gw.start(pol)
    proc = start_client(gw, 4, 2, "fast-summary")
    try:
        before = read_round(proc, 0)
        pol["models"]["fast-summary"] = [{"provider": "openai", "model": "gpt-4.1-nano"}]
        gw.world.write_policy(pol)
        d.reload()
        gw.world.wait_record(**{"event.name": "policy.reload"})
        proc.stdin.write("\n")
        proc.stdin.flush()
        after = read_round(proc, 1)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [c["status"] for c in before + after] == [200] * 8, before + after
    recs = {r["aigw.request_id"]: r for r in requests_upto(gw, 8)}
    for calls, model in ((before, "gpt-4o-mini"), (after, "gpt-4.1-nano")):
        workers = set()
        for c in calls:
            rec = recs[c["id"]]
            assert rec["aigw.upstream.model"] == model, rec
            workers.add(rec["aigw.worker"])
        assert workers == {0, 1}, calls


def test_workers_out_of_range_is_refused_at_load(gw, monkeypatch):
    pol = workers_policy(gw, monkeypatch)
    pol["proxy"] = {"workers": 65}
    path = gw.world.write_policy(pol)
    r = gw.world.aigw("policy", "check", str(path))
    assert r.returncode != 0
    assert "proxy.workers" in r.stdout + r.stderr and "1..64" in r.stdout + r.stderr


def test_a_reload_that_changes_workers_is_refused(gw, monkeypatch):
    pol = workers_policy(gw, monkeypatch)
    d = gw.start(pol)
    pol["proxy"] = {"workers": 1}
    gw.world.write_policy(pol)
    d.reload()
    rec = gw.world.wait_record(**{"event.name": "policy.reload_refused"})
    assert "proxy.workers" in json.dumps(rec)


def vertex_workers(gw, monkeypatch, **vx_args):
    """A gateway with a Vertex provider (the mock mints its tokens) and two workers."""
    monkeypatch.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
    vx = Vx(gw, **vx_args)
    vx.pol["proxy"] = {"workers": 2}
    return vx


def openai_call(gw, model):
    return split(gw.curl("https://api.openai.com/v1/chat/completions", chat(model),
                         headers=["authorization: Bearer sk-app-openai",
                                  "x-mock-reply-words: 5"]))


def workers_of(gw, n):
    return [r["aigw.worker"] for r in requests_upto(gw, n)]


def test_a_route_to_vertex_pins_every_connection_to_the_token_worker(gw, monkeypatch):
    """Any app may name a model routed to Vertex, so every connection goes where the token
    exchanges run: the second connection (round robin would put it on worker 1, which has no
    token to use) is served too."""
    vx = vertex_workers(gw, monkeypatch)
    vx.pol["models"] = {"claude-on-vertex": [{"provider": "vertex", "model": MODEL}]}
    vx.start()
    text, code = openai_call(gw, "gpt-4o-mini")
    assert code == 200, text
    text, code = openai_call(gw, "claude-on-vertex")
    assert code == 200, text
    assert vx.predicts()[-1]["path"] == path()
    check_rekeyed(vx)
    assert workers_of(gw, 2) == [0, 0]


def test_a_vertex_provider_alone_pins_neither_the_explicit_endpoint_nor_others(gw, monkeypatch):
    """No route reaches Vertex: OpenAI's connections, captured or at the explicit endpoint,
    are spread round robin; Vertex's own go to worker 0."""
    vx = vertex_workers(gw, monkeypatch)
    (gw.world.tmp / "openai.key").write_text("sk-gateway-openai\n")
    (gw.world.tmp / "openai.key").chmod(0o600)
    vx.pol["providers"]["openai"]["key_file"] = str(gw.world.tmp / "openai.key")
    vx.pol["api"] = {"socket": str(gw.world.tmp / "aigw-api.sock")}
    vx.start()
    for _ in range(4):
        text, code = split(socket_call(gw, gw.app, chat("gpt-4o-mini")))
        assert code == 200, text
    assert sorted(workers_of(gw, 4)) == [0, 0, 1, 1]
    for _ in range(2):
        text, code = openai_call(gw, "gpt-4o-mini")
        assert code == 200, text
    assert sorted(workers_of(gw, 6)[4:]) == [0, 1]
    for _ in range(2):
        text, code = vx.call()
        assert code == 200, text
    assert workers_of(gw, 8)[6:] == [0, 0]


def test_vertex_calls_across_token_refreshes_with_both_workers_busy(gw, monkeypatch):
    """Tokens live 3 s; 6 threads call Vertex while 2 others keep OpenAI calls going (those
    land on both workers) until two refreshes have been made: every call succeeds, every
    Vertex call carried a minted token. Under aigw-tsan, a race between the token's refresh
    and its readers, or a waiter notified under the lock, is a report."""
    vx = vertex_workers(gw, monkeypatch, ttl=3, delay_ms=100)
    vx.start()
    done = threading.Event()
    codes, errors = [], []

    def loop(fn):
        try:
            while not done.is_set():
                codes.append(fn()[1])
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)
            done.set()

    threads = [threading.Thread(target=loop, args=(vx.call,)) for _ in range(6)]
    threads += [threading.Thread(target=loop, args=(lambda: openai_call(gw, "gpt-4o-mini"),))
                for _ in range(2)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(vx.exchanges()) >= 3 or errors, timeout=30,
                 what="two token refreshes")
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert codes and set(codes) == {200}, sorted(set(codes))
    assert all(x["status"] == 200 for x in vx.exchanges())
    check_rekeyed(vx)
    assert vx.daemon.proc.poll() is None
