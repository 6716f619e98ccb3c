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
from conftest import (ID_FORMAT, module_gateway, shared_call_check, split_id,  # noqa: E402
                      wait_call)
from test_gemini import BASE, BODY, GATEWAY_KEY, MODEL, gemini_policy  # noqa: E402
from test_vertex import (GEMINI_BODY, Vx, check_rekeyed, gemini_path, path,  # noqa: E402
                         vertex_body)

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


# Most tests below only call a gateway with one policy: they share one daemon (a daemon costs
# ~0.4 s of CPU to start under ASan), with both doors: Vertex's (its mock also speaks Vertex,
# test_vertex.Vx) and the Gemini API's (test_gemini.gemini_policy). Each test's mock log is
# reset, and each tells its own record by the x-aigw-request-id of its answer. The roll-out
# tests change the policy, and start their own.

@pytest.fixture(scope="module")
def shared(tmp_path_factory, mock_certs):
    with module_gateway(tmp_path_factory, mock_certs, "vertex-query") as gw:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIGW_TEST_VX_ANT_KEY", "sk-ant-gateway-vx")
            v = Vx(gw)
            v.pol["providers"]["gemini"] = gemini_policy(gw, mp)["providers"]["gemini"]
            v.start()
        yield v


@pytest.fixture
def svx(shared):
    with shared_call_check(shared.gw):
        yield shared


@pytest.fixture
def gem(shared):
    with shared_call_check(shared.gw):
        yield shared.gw


def with_id(text_code):
    """(text, code) of a call made with -w ID_FORMAT: (body, code, x-aigw-request-id)."""
    text, code = text_code
    body, _, rid = text.rpartition("\n")
    return body, code, rid


def call(vx, method, query):
    return with_id(vx.call(url_path=f"{gemini_path(method=method)}?{query}", body=GEMINI_BODY,
                           extra=["--path-as-is", "-w", ID_FORMAT]))


@pytest.mark.parametrize("query,sent", DROPPED)
def test_app_credential_in_query_is_dropped(svx, query, sent):
    vx = svx
    text, code, _ = call(vx, "streamGenerateContent", query)
    assert code == 200, text
    seen = vx.predicts()
    assert [(x["path"], x["query"]) for x in seen] == [(STREAM, sent)], seen
    check_rekeyed(vx)
    assert "smuggled" not in vx.gw.world.audit_path.read_text()


@pytest.mark.parametrize("method,query,name", REFUSED)
def test_unread_query_parameter_is_refused_naming_it(svx, method, query, name):
    vx = svx
    text, code, rid = call(vx, method, query)
    assert code == 400, (code, text)
    err = json.loads(text)["error"]
    assert err["status"] == "INVALID_ARGUMENT", err
    assert f"query parameter {name} " in err["message"], err
    rec = wait_call(vx.gw.world, rid, **{"gen_ai.system": "vertex"})
    assert rec["aigw.policy.rule"] == "canonical_query", rec
    assert rec["http.response.status_code"] == 400, rec
    assert vx.predicts() == []


def gemini_door(gw, method, query, http2=False):
    return split_id(gw.curl(f"{BASE}/v1beta/models/{MODEL}:{method}?{query}", BODY,
                            headers=["x-goog-api-key: AIza-app-own"],
                            extra=["--path-as-is", "-w", ID_FORMAT] +
                            (["--http2"] if http2 else [])))


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize("method,query,name", REFUSED)
def test_gemini_api_door_refuses_the_same_parameters(gem, method, query, name, http2):
    gw = gem
    text, code, rid = gemini_door(gw, method, query, http2)
    assert code == 400, (code, text)
    err = json.loads(text)["error"]
    assert err["status"] == "INVALID_ARGUMENT", err
    assert f"query parameter {name} " in err["message"], err
    rec = wait_call(gw.world, rid, **{"gen_ai.system": "gemini"})
    assert rec["aigw.policy.rule"] == "canonical_query", rec
    assert rec["network.protocol.version"] == ("2" if http2 else "1.1"), rec
    assert gw.mock.requests() == []


@pytest.mark.parametrize("query,sent", DROPPED)
def test_gemini_api_door_drops_the_same_credentials(gem, query, sent):
    gw = gem
    text, code, _ = gemini_door(gw, "streamGenerateContent", query)
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
    return with_id(vx.call(url_path=path(method=method) + (f"?{query}" if query else ""),
                           body=vertex_body(method == "streamRawPredict"), headers=headers,
                           extra=["--path-as-is", "-w", ID_FORMAT] +
                           (["--http2"] if http2 else [])))


@HTTP
@pytest.mark.parametrize("method,query,name", RAW_REFUSED)
def test_claude_on_vertex_refuses_every_query_parameter(svx, method, query, name, http2):
    vx = svx
    text, code, rid = raw_call(vx, method, query, http2)
    assert code == 400, (code, text)
    err = json.loads(text)["error"]
    assert f"query parameter {name} " in err["message"], err
    rec = wait_call(vx.gw.world, rid, **{"gen_ai.system": "vertex"})
    assert rec["aigw.policy.rule"] == "canonical_query", rec
    assert rec["http.response.status_code"] == 400, rec
    assert rec["network.protocol.version"] == ("2" if http2 else "1.1"), rec
    assert vx.predicts() == []
    assert "smuggled" not in vx.gw.world.audit_path.read_text()


@HTTP
@pytest.mark.parametrize("method,query", RAW_DROPPED)
def test_claude_on_vertex_drops_credentials_in_the_query(svx, method, query, http2):
    vx = svx
    text, code, _ = raw_call(vx, method, query, http2)
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
def test_claude_on_vertex_drops_google_system_headers(svx, method, http2):
    vx = svx
    text, code, _ = raw_call(vx, method, "", http2, headers=GOOG_SYSTEM)
    assert code == 200, text
    no_goog_system_headers(vx.predicts())
    check_rekeyed(vx)


@HTTP
def test_gemini_on_vertex_drops_google_system_headers(svx, http2):
    vx = svx
    text, code = vx.call(url_path=f"{STREAM}?alt=sse", body=GEMINI_BODY, headers=GOOG_SYSTEM,
                         extra=["--http2"] if http2 else [])
    assert code == 200, text
    no_goog_system_headers(vx.predicts())
    check_rekeyed(vx)


@HTTP
def test_gemini_api_door_drops_google_system_headers(gem, http2):
    gw = gem
    text, code, _ = split_id(gw.curl(f"{BASE}/v1beta/models/{MODEL}:generateContent", BODY,
                                     headers=["x-goog-api-key: AIza-app-own", *GOOG_SYSTEM],
                                     extra=["-w", ID_FORMAT] + (["--http2"] if http2 else [])))
    assert code == 200, text
    seen = gw.mock.requests()
    no_goog_system_headers(seen)
    assert [x["x_goog_api_key"] for x in seen] == [GATEWAY_KEY], seen


# (method, query, what the refusal says the call takes, what it must not offer)
HINTS = [
    ("rawPredict", "fields=usage", "Claude model's call (rawPredict, streamRawPredict) takes "
     "no query parameter", "alt=sse"),
    ("streamRawPredict", "alt=sse", "takes no query parameter", "only alt=sse"),
]


@pytest.mark.parametrize("method,query,says,never", HINTS)
def test_claude_refusal_says_what_a_claude_call_takes(svx, method, query, says, never):
    vx = svx
    text, code, _ = raw_call(vx, method, query, False)
    assert code == 400, (code, text)
    msg = json.loads(text)["error"]["message"]
    assert says in msg and never not in msg, msg


def test_gemini_refusal_says_what_a_gemini_call_takes(svx):
    vx = svx
    text, code, _ = call(vx, "streamGenerateContent", "alt=sse&fields=candidates")
    assert code == 400, (code, text)
    assert "streamGenerateContent takes only alt=sse" in json.loads(text)["error"]["message"]
    text, code, _ = call(vx, "generateContent", "alt=sse")
    assert code == 400, (code, text)
    assert "alt=sse goes only on streamGenerateContent" in json.loads(text)["error"]["message"]
