# SPDX-License-Identifier: MIT
"""A Gemini model's call goes upstream with only the query the gateway reads, at both doors.

A hostile app in the captured cgroup writes its own query on
.../publishers/google/models/M:streamGenerateContent: a "key=" of its own (a credential the
gateway never sends for it), alt=json on a stream (the answer would no longer be the events
usage is read from), alt twice, "$alt" or an encoded "alt" (read as alt by Google, not by
a naive gateway), "fields" (strips usageMetadata), a second '?'. The gateway keeps alt=sse on
streamGenerateContent, drops credentials ("key", "access_token", as the Gemini API door drops
"key") and refuses every other parameter with a 400 naming it; nothing refused reaches the
provider. The Gemini API's own door (generativelanguage.googleapis.com) holds the same rule,
by the same function (gemini_query_check(), asked by the endpoint stage), over HTTP/1.1 and
HTTP/2 alike: it used to drop "key" and pass everything else ("fields" stripped the usage the
call is costed from). The @google/genai SDK in vertexai mode is covered by test_vertex.py
(test_genai_sdk_vertex_app_is_reauthenticated_and_costed: its query arrives as "alt=sse"), in
Gemini API mode by test_gemini.py.

Run as root: /usr/bin/python3 -m pytest -q tests/e2e/test_vertex_query.py
"""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
from test_gemini import BASE, BODY, GATEWAY_KEY, MODEL, gemini_policy  # noqa: E402
from test_intercept import split  # noqa: E402
from test_vertex import GEMINI_BODY, GLOBAL_HOST, check_rekeyed, gemini_path, vx  # noqa: E402,F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

STREAM = gemini_path(method="streamGenerateContent")

# (query as the app sends it, the query the provider must see)
DROPPED = [
    ("alt=sse&key=AIza-smuggled-by-the-app", "alt=sse"),
    ("KEY=AIza-smuggled&alt=sse", "alt=sse"),
    ("alt=sse&%6Bey=AIza-smuggled", "alt=sse"),
    ("access_token=ya29.smuggled&alt=sse", "alt=sse"),
]

# (method, query, the parameter the refusal names)
REFUSED = [
    ("streamGenerateContent", "alt=json", "alt"),
    ("streamGenerateContent", "alt=sse&alt=json", "alt"),
    ("streamGenerateContent", "alt=sse&%61lt=json", "%61lt"),
    ("streamGenerateContent", "alt=sse&$alt=json", "$alt"),
    ("streamGenerateContent", "alt=sse&fields=candidates", "fields"),
    ("streamGenerateContent", "alt=sse&prettyPrint=false", "prettyPrint"),
    ("streamGenerateContent", "alt=sse?alt=json", "alt=sse?alt=json"),
    ("generateContent", "alt=sse", "alt"),
    ("countTokens", "upload_protocol=raw", "upload_protocol"),
]


def call(vx, method, query):
    return vx.call(url_path=f"{gemini_path(method=method)}?{query}", body=GEMINI_BODY,
                   extra=["--path-as-is"])


@pytest.mark.parametrize("query,sent", DROPPED)
def test_app_credential_in_query_is_dropped(vx, query, sent):
    vx.start()
    text, code = call(vx, "streamGenerateContent", query)
    assert code == 200, text
    seen = vx.predicts()
    assert [(x["path"], x["query"]) for x in seen] == [(STREAM, sent)], seen
    check_rekeyed(vx)
    assert "smuggled" not in vx.gw.world.audit_path.read_text()


@pytest.mark.parametrize("method,query,name", REFUSED)
def test_unread_query_parameter_is_refused_naming_it(vx, method, query, name):
    vx.start()
    text, code = call(vx, method, query)
    assert code == 400, (code, text)
    err = json.loads(text)["error"]
    assert err["status"] == "INVALID_ARGUMENT", err
    assert f"query parameter {name} " in err["message"], err
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["aigw.policy.rule"] == "canonical_query", rec
    assert rec["http.response.status_code"] == 400, rec
    assert vx.predicts() == []


def gemini_door(gw, method, query, http2=False):
    return split(gw.curl(f"{BASE}/v1beta/models/{MODEL}:{method}?{query}", BODY,
                         headers=["x-goog-api-key: AIza-app-own"],
                         extra=["--path-as-is"] + (["--http2"] if http2 else [])))


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize("method,query,name", REFUSED)
def test_gemini_api_door_refuses_the_same_parameters(gw, monkeypatch, method, query, name,
                                                     http2):
    gw.start(gemini_policy(gw, monkeypatch))
    text, code = gemini_door(gw, method, query, http2)
    assert code == 400, (code, text)
    err = json.loads(text)["error"]
    assert err["status"] == "INVALID_ARGUMENT", err
    assert f"query parameter {name} " in err["message"], err
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "gemini"})
    assert rec["aigw.policy.rule"] == "canonical_query", rec
    assert rec["network.protocol.version"] == ("2" if http2 else "1.1"), rec
    assert gw.mock.requests() == []


@pytest.mark.parametrize("query,sent", DROPPED)
def test_gemini_api_door_drops_the_same_credentials(gw, monkeypatch, query, sent):
    gw.start(gemini_policy(gw, monkeypatch))
    text, code = gemini_door(gw, "streamGenerateContent", query)
    assert code == 200, text
    seen = gw.mock.requests()
    assert [(x["query"], x["x_goog_api_key"]) for x in seen] == [(sent, GATEWAY_KEY)], seen
    assert "smuggled" not in gw.world.audit_path.read_text()
