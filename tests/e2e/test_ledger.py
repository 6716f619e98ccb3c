"""The cost ledger (ledger.path): a row per call and per shadow-AI connection, written by the
daemon from its audit records, and the same rows again from `aigw ledger rebuild`."""
import json
import os
import sqlite3
import subprocess

import pytest

from conftest import OPENAI_ADDR, wait_for
from test_intercept import split

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
A_HDRS = ["x-api-key: sk-ant-app", "anthropic-version: 2023-06-01"]
AIGW = os.environ.get("AIGW_BIN", "build/aigw")


def rows(path, table):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        order = "request_id" if table == "calls" else "time, service, pid"
        return [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    finally:
        db.close()


def calls_of(gw):
    return [r for r in gw.world.records() if r.get("event.name") == "proxy.request"]


def start(gw, **over):
    path = gw.world.tmp / "ledger" / "ledger.db"
    pol = gw.policy(**over)
    pol["ledger"] = {"path": str(path)}
    pol["ai_services"] = [{"name": "Shadow LLM", "domains": ["llm.example.test"]}]
    gw.start(pol)
    return path


def some_calls(gw):
    """Priced calls of both providers, a stream, one of unknown price and one that failed."""
    chat = lambda model, words: json.dumps(  # noqa: E731
        {"model": model, "messages": [{"role": "user", "content": f"say {words} words"}]})
    assert split(gw.curl(OPENAI, chat("gpt-4o-mini", 7), ["x-mock-reply-words: 7"]))[1] == 200
    assert split(gw.curl(OPENAI, chat("gpt-5-nano", 3), ["x-mock-reply-words: 3"]))[1] == 200
    assert split(gw.curl(OPENAI, chat("gpt-9-ultra", 2)))[1] == 200
    body = json.dumps({"model": "claude-3-5-haiku-latest", "max_tokens": 50, "stream": True,
                       "messages": [{"role": "user", "content": "the refund policy"}]})
    assert split(gw.curl(ANTHROPIC, body, A_HDRS + ["x-mock-cache-read: 100",
                                                    "x-mock-reply-words: 5"]))[1] == 200
    gw.mock.fault("down")
    assert split(gw.curl(OPENAI, chat("gpt-4o-mini", 1)))[1] == 503
    gw.mock.fault("none")
    return wait_for(lambda: len(calls_of(gw)) == 5 and calls_of(gw), what="5 call records")


def shadow_calls(gw):
    """One AI service passed through, one denied."""
    gw.run_app(["curl", "-sS", "-m", "10", "--http1.1", "-k", "--resolve",
                f"api.mistral.ai:443:{gw_addr(gw)}", "https://api.mistral.ai/v1/models"])
    gw.run_app(["curl", "-sS", "-m", "10", "--http1.1", "-k", "--resolve",
                f"chat.llm.example.test:443:{gw_addr(gw)}", "https://chat.llm.example.test/x"])


def gw_addr(gw):
    return OPENAI_ADDR


def wait_rows(path, table, n):
    return wait_for(lambda: path.exists() and len(rows(path, table)) == n and rows(path, table),
                    what=f"{n} rows in {table}")


def test_a_row_per_call_equal_to_its_record(gw):
    path = start(gw)
    recs = {r["aigw.request_id"]: r for r in some_calls(gw)}
    got = wait_rows(path, "calls", 5)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    db = sqlite3.connect(str(path))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    for row in got:
        rec = recs[row["request_id"]]
        assert row["time"] == rec["time"]
        assert (row["workload"], row["team"]) == ("billing", "finance"), row
        assert row["cgroup"] == rec["aigw.cgroup.path"] and row["process"] == "curl", row
        assert row["pid"] == rec["process.pid"]
        assert row["provider"] == rec["gen_ai.system"]
        assert row["model"] == rec["gen_ai.request.model"]
        assert row["served_model"] == rec.get("gen_ai.response.model",
                                              rec.get("aigw.upstream.model"))
        assert row["input_tokens"] == rec["gen_ai.usage.input_tokens"]
        assert row["output_tokens"] == rec["gen_ai.usage.output_tokens"]
        assert row["cached_tokens"] == rec.get("aigw.usage.cached_input_tokens")
        assert row["cost_nano"] == rec.get("aigw.cost.nano_usd"), (row, rec)
        assert row["status"] == rec["http.response.status_code"]
        assert row["outcome"] == rec["aigw.outcome"]
        assert row["attempts"] == rec["aigw.upstream.attempts"]
        assert row["stream"] == int(rec["aigw.stream"])
        assert abs(row["latency_ms"] - rec["aigw.latency_ms"]) < 1e-6
    unknown = [r for r in got if r["cost_nano"] is None]
    assert len(unknown) == 2 and all(r["cost_reason"] for r in unknown), unknown
    assert sum(r["cost_nano"] or 0 for r in got) == sum(
        r.get("aigw.cost.nano_usd", 0) for r in recs.values())


@pytest.mark.parametrize("mode,action,reason", [("deny", "denied", "unsanctioned_ai"),
                                                 ("record", "passthrough", "passthrough")])
def test_shadow_ai_connections_are_rows_too(gw, mode, action, reason):
    path = start(gw, capture={"fronting": "passthrough", "unsanctioned_ai": mode})
    shadow_calls(gw)
    got = wait_rows(path, "shadow", 2)
    by = {r["service"]: r for r in got}
    assert set(by) == {"Shadow LLM", "Mistral AI"}, got
    assert by["Shadow LLM"]["server_name"] == "chat.llm.example.test"
    assert by["Mistral AI"]["server_name"] == "api.mistral.ai"
    for r in got:
        assert (r["action"], r["reason"]) == (action, reason), r
        assert r["workload"] == "billing" and r["team"] == "finance", r
        assert r["process"] == "curl" and r["pid"] > 0, r


def test_rebuild_from_the_audit_log_gives_the_same_rows(gw):
    path = start(gw, capture={"fronting": "passthrough", "unsanctioned_ai": "deny"})
    some_calls(gw)
    shadow_calls(gw)
    live_calls = wait_rows(path, "calls", 5)
    live_shadow = wait_rows(path, "shadow", 2)
    rebuilt = gw.world.tmp / "rebuilt.db"
    r = subprocess.run([AIGW, "ledger", "rebuild", "--audit", str(gw.world.audit_path),
                        "--ledger", str(rebuilt)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "7 rows" in r.stdout, r.stdout
    assert rows(rebuilt, "calls") == live_calls
    strip = lambda rs: [{k: v for k, v in x.items() if k != "id"} for x in rs]  # noqa: E731
    assert strip(rows(rebuilt, "shadow")) == strip(live_shadow)
    # again, over itself: the same rows, not twice
    r = subprocess.run([AIGW, "ledger", "rebuild", "--audit", str(gw.world.audit_path),
                        "--ledger", str(rebuilt)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and rows(rebuilt, "calls") == live_calls, r.stderr


def test_no_ledger_path_no_ledger(gw):
    gw.start()
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert split(gw.curl(OPENAI, body))[1] == 200
    wait_for(lambda: calls_of(gw), what="a call record")
    assert not list(gw.world.tmp.rglob("*ledger*"))
