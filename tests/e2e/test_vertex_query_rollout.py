# SPDX-License-Identifier: MIT
"""Roll-out ("enforce": false) at Vertex's door: the query rule of test_vertex_query.py.

A workload whose allow-lists are in roll-out has its call let through, the would-be refusal
recorded as would_deny by canonical_query. What goes upstream is the query the gateway reads
and nothing else: credentials are dropped whatever the mode, and so is every parameter the
gateway does not read (a hostile app in roll-out must not strip the usage its calls are
metered by with "fields", nor send a "key" of its own with the gateway's token).

Apart from test_vertex_query.py, whose tests share one gateway: these change the policy, and
each starts its own (a module's gateways share the worker's mock addresses).

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_vertex_query_rollout.py
"""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import ID_FORMAT, wait_call  # noqa: E402
from test_vertex import GEMINI_BODY, check_rekeyed, path, vx  # noqa: E402,F401
from test_vertex_query import HTTP, STREAM, raw_call, with_id  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")


def rollout(vx):
    vx.pol["workloads"][0]["allow"] = {"enforce": False}
    return vx.start()


def check_would_refuse_query(vx, http2, rid):
    rec = wait_call(vx.gw.world, rid, **{"gen_ai.system": "vertex"})
    assert rec["http.response.status_code"] == 200, rec
    assert (rec["aigw.policy.stage"], rec["aigw.policy.rule"], rec["aigw.policy.action"]) == (
        "endpoints", "canonical_query", "would_deny"), rec
    assert rec["network.protocol.version"] == ("2" if http2 else "1.1"), rec
    assert "smuggled" not in vx.gw.world.audit_path.read_text()
    return rec


@HTTP
def test_rollout_gemini_call_goes_with_only_the_query_the_gateway_reads(vx, http2):
    rollout(vx)
    text, code, rid = with_id(vx.call(
        url_path=f"{STREAM}?fields=candidates&alt=sse&key=AIza-smuggled", body=GEMINI_BODY,
        extra=["--path-as-is", "-w", ID_FORMAT] + (["--http2"] if http2 else [])))
    assert code == 200, (code, text)
    assert [(x["path"], x["query"]) for x in vx.predicts()] == [(STREAM, "alt=sse")]
    check_rekeyed(vx)
    rec = check_would_refuse_query(vx, http2, rid)
    assert rec["gen_ai.usage.output_tokens"] is not None and rec["cost_usd"] is not None, rec


@HTTP
def test_rollout_claude_call_goes_without_a_query(vx, http2):
    rollout(vx)
    text, code, rid = raw_call(vx, "rawPredict", "fields=usage&key=AIza-smuggled", http2)
    assert code == 200, (code, text)
    assert [(x["path"], x["query"]) for x in vx.predicts()] == [(path(), "")]
    check_rekeyed(vx)
    check_would_refuse_query(vx, http2, rid)
