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

Claude's calls on Vertex (rawPredict, streamRawPredict) read no query parameter at all: any
is refused the same way (400, rule canonical_query), credentials ("key", "access_token")
are dropped, over HTTP/1.1 and HTTP/2 (they used to pass unchecked: "$fields" or a
"key" of the app's own went with the gateway's token).

Google's system headers (x-goog-user-project bills another project, x-goog-quota-user
spends another's quota, x-goog-fieldmask strips usageMetadata from the answer,
x-http-method-override changes the method) go with the app's credential: whenever the
gateway's credential replaces the app's, they never reach the provider, at the Gemini API's
door and Vertex's, for Gemini and Claude models alike.

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
from test_vertex import (GEMINI_BODY, GLOBAL_HOST, check_rekeyed, gemini_path, path,  # noqa: E402,F401
                         vertex_body, vx)

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


# Claude on Vertex: (method, query, the parameter the refusal names)
RAW_REFUSED = [
    ("rawPredict", "fields=usage", "fields"),
    ("rawPredict", "$fields=content", "$fields"),
    ("streamRawPredict", "alt=sse", "alt"),
    ("streamRawPredict", "alt=json&key=AIza-smuggled", "alt"),
    ("rawPredict", "prettyPrint=false", "prettyPrint"),
]

# Claude on Vertex: (method, query as the app sends it); the provider sees no query
RAW_DROPPED = [
    ("rawPredict", "key=AIza-smuggled-by-the-app"),
    ("streamRawPredict", "access_token=ya29.smuggled&KEY=AIza-smuggled"),
]

HTTP = pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])


def raw_call(vx, method, query, http2, headers=()):
    return vx.call(url_path=path(method=method) + (f"?{query}" if query else ""),
                   body=vertex_body(method == "streamRawPredict"), headers=headers,
                   extra=["--path-as-is"] + (["--http2"] if http2 else []))


@HTTP
@pytest.mark.parametrize("method,query,name", RAW_REFUSED)
def test_claude_on_vertex_refuses_every_query_parameter(vx, method, query, name, http2):
    vx.start()
    text, code = raw_call(vx, method, query, http2)
    assert code == 400, (code, text)
    err = json.loads(text)["error"]
    assert f"query parameter {name} " in err["message"], err
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["aigw.policy.rule"] == "canonical_query", rec
    assert rec["http.response.status_code"] == 400, rec
    assert rec["network.protocol.version"] == ("2" if http2 else "1.1"), rec
    assert vx.predicts() == []
    assert "smuggled" not in vx.gw.world.audit_path.read_text()


@HTTP
@pytest.mark.parametrize("method,query", RAW_DROPPED)
def test_claude_on_vertex_drops_credentials_in_the_query(vx, method, query, http2):
    vx.start()
    text, code = raw_call(vx, method, query, http2)
    assert code == 200, text
    seen = vx.predicts()
    assert [(x["path"], x["query"]) for x in seen] == [(path(method=method), "")], seen
    check_rekeyed(vx)
    assert "smuggled" not in vx.gw.world.audit_path.read_text()


GOOG_SYSTEM = ["x-goog-user-project: someone-elses-project",
               "x-goog-quota-user: another-user",
               "x-goog-fieldmask: candidates",
               "x-http-method-override: DELETE"]


def no_goog_system_headers(seen):
    assert seen
    for x in seen:
        names = x["header_names"].split(", ")
        assert "content-type" in names, x  # the names are recorded
        for h in GOOG_SYSTEM:
            assert h.split(":")[0] not in names, x


@HTTP
@pytest.mark.parametrize("method", ["rawPredict", "streamRawPredict"])
def test_claude_on_vertex_drops_google_system_headers(vx, method, http2):
    vx.start()
    text, code = raw_call(vx, method, "", http2, headers=GOOG_SYSTEM)
    assert code == 200, text
    no_goog_system_headers(vx.predicts())
    check_rekeyed(vx)


@HTTP
def test_gemini_on_vertex_drops_google_system_headers(vx, http2):
    vx.start()
    text, code = vx.call(url_path=f"{STREAM}?alt=sse", body=GEMINI_BODY, headers=GOOG_SYSTEM,
                         extra=["--http2"] if http2 else [])
    assert code == 200, text
    no_goog_system_headers(vx.predicts())
    check_rekeyed(vx)


@HTTP
def test_gemini_api_door_drops_google_system_headers(gw, monkeypatch, http2):
    gw.start(gemini_policy(gw, monkeypatch))
    text, code = split(gw.curl(f"{BASE}/v1beta/models/{MODEL}:generateContent", BODY,
                               headers=["x-goog-api-key: AIza-app-own", *GOOG_SYSTEM],
                               extra=["--http2"] if http2 else []))
    assert code == 200, text
    seen = gw.mock.requests()
    no_goog_system_headers(seen)
    assert [x["x_goog_api_key"] for x in seen] == [GATEWAY_KEY], seen


# ---------------------------------------------------------------- roll-out ("enforce": false)
#
# A workload whose allow-lists are in roll-out has its call let through, the would-be refusal
# recorded as would_deny by canonical_query. What goes upstream is the query the gateway reads
# and nothing else: credentials are dropped whatever the mode, and so is every parameter the
# gateway does not read (a hostile app in roll-out must not strip the usage its calls are
# metered by with "fields", nor send a "key" of its own with the gateway's token).

def rollout(vx):
    vx.pol["workloads"][0]["allow"] = {"enforce": False}
    return vx.start()


def check_would_refuse_query(vx, http2):
    rec = vx.gw.world.wait_record(**{"event.name": "proxy.request", "gen_ai.system": "vertex"})
    assert rec["http.response.status_code"] == 200, rec
    assert (rec["aigw.policy.stage"], rec["aigw.policy.rule"], rec["aigw.policy.action"]) == (
        "endpoints", "canonical_query", "would_deny"), rec
    assert rec["network.protocol.version"] == ("2" if http2 else "1.1"), rec
    assert "smuggled" not in vx.gw.world.audit_path.read_text()
    return rec


@HTTP
def test_rollout_gemini_call_goes_with_only_the_query_the_gateway_reads(vx, http2):
    rollout(vx)
    text, code = vx.call(url_path=f"{STREAM}?fields=candidates&alt=sse&key=AIza-smuggled",
                         body=GEMINI_BODY, extra=["--path-as-is"] + (["--http2"] if http2 else []))
    assert code == 200, (code, text)
    assert [(x["path"], x["query"]) for x in vx.predicts()] == [(STREAM, "alt=sse")]
    check_rekeyed(vx)
    rec = check_would_refuse_query(vx, http2)
    assert rec["gen_ai.usage.output_tokens"] is not None and rec["cost_usd"] is not None, rec


@HTTP
def test_rollout_claude_call_goes_without_a_query(vx, http2):
    rollout(vx)
    text, code = raw_call(vx, "rawPredict", "fields=usage&key=AIza-smuggled", http2)
    assert code == 200, (code, text)
    assert [(x["path"], x["query"]) for x in vx.predicts()] == [(path(), "")]
    check_rekeyed(vx)
    check_would_refuse_query(vx, http2)


# (method, query, what the refusal says the call takes, what it must not offer)
HINTS = [
    ("rawPredict", "fields=usage", "Claude model's call (rawPredict, streamRawPredict) takes "
     "no query parameter", "alt=sse"),
    ("streamRawPredict", "alt=sse", "takes no query parameter", "only alt=sse"),
]


@pytest.mark.parametrize("method,query,says,never", HINTS)
def test_claude_refusal_says_what_a_claude_call_takes(vx, method, query, says, never):
    vx.start()
    text, code = raw_call(vx, method, query, False)
    assert code == 400, (code, text)
    msg = json.loads(text)["error"]["message"]
    assert says in msg and never not in msg, msg


def test_gemini_refusal_says_what_a_gemini_call_takes(vx):
    vx.start()
    text, code = call(vx, "streamGenerateContent", "alt=sse&fields=candidates")
    assert code == 400, (code, text)
    assert "streamGenerateContent takes only alt=sse" in json.loads(text)["error"]["message"]
    text, code = call(vx, "generateContent", "alt=sse")
    assert code == 400, (code, text)
    assert "alt=sse goes only on streamGenerateContent" in json.loads(text)["error"]["message"]
