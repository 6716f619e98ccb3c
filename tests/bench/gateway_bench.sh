#!/usr/bin/env bash
# make bench, gateway part (run by tests/bench/run.sh after the HTTP part; alone: make
# bench-gateway): what reading the usage and translating between the providers' APIs cost, and
# the time to first token through a fallback, each against the direct call, in one run, with one
# mock (build/mockprov --deterministic, TLS, api.openai.com and api.anthropic.com on loopback
# addresses of this run, resolved through a private /etc/hosts):
#
# 1. CPU cost in isolation: build/tests/bench/bench_providers times the providers code the proxy
#    runs (usage_from_body, sse + usage_stream_event, translate_response, translate_stream_feed,
#    translate_request) on answers captured from the mock just before, next to memcpy of the same
#    bytes and a parse that does nothing else. ns per call.
# 2. Added latency, a non-streaming chat completion (tests/bench/request.json: a system prompt,
#    three turns, one tool), wrk -t1 -cN on kept-alive connections, for each N in
#    BENCH_GW_CONNS:
#      direct       wrk -> mock, OpenAI API (uncaptured cgroup): the reference
#      direct-anth  wrk -> mock, Anthropic API, the request as aigw translates it: the reference
#                   for translate (the mock's Anthropic side is not its OpenAI side)
#      aigw         wrk captured -> aigw -> mock, OpenAI -> OpenAI: interception + usage read
#      aigw-gov     the same from a workload every governance control holds (allow-lists of
#                   models, providers and endpoints, three rate limits, its own and its team's
#                   budget): the whole policy pipeline, against the same call with none
#      aigw-guard   the same from a workload the contract's "standard" guardrails scan (pii
#                   tokenize, secrets block, injection record, a pattern; answers: pii redact)
#      aigw-routed  the same with a logical model name whose target is OpenAI (routing, no
#                   translation)
#      aigw-xlate   a logical name whose target is Anthropic: request and answer translated
#    then direct again (drift).
# 3. Time to first token, the same request streaming, one call at a time on a kept-alive
#    connection (tests/bench/ttft.py: time to the first SSE event with content), BENCH_GW_SAMPLES
#    calls per target in BENCH_GW_ROUNDS interleaved rounds:
#      direct       the mock's OpenAI stream
#      direct-anth  the mock's Anthropic stream (the translated request)
#      aigw         captured, OpenAI -> OpenAI (aigw asks for the usage chunk and hides it)
#      aigw-routed  a logical name: OpenAI first, Anthropic second; OpenAI healthy
#      fallback     the same name while the mock answers OpenAI calls 503 (fault down): each call
#                   fails on OpenAI, falls back to Anthropic, and the stream is translated
#    (routing: retries 0, so each failure falls back at once; breaker failures 1000, so it never
#    opens and every call really tries OpenAI first -- the audit log is checked for that).
#
# Each aigw figure is checked against aigw's audit log: every call counted has a record with 200,
# usage and cost, and the translated / fallback calls say so. A measurement, never pass/fail on
# speed: exits non-zero only when something could not be set up or did not answer as expected.
# Loopback only; the trap kills every process, detaches aigw and removes cgroups and temp files.
#
# Knobs: BENCH_GW_CONNS ("1 16"), BENCH_GW_WARMUP (2), BENCH_GW_SECONDS (5), BENCH_GW_SAMPLES
# (200), BENCH_GW_ROUNDS (4), BENCH_GW_MICRO=0 / BENCH_GW_E2E=0 skip part 1 / parts 2 and 3,
# BENCH_GW_KEEP=DIR (keep the raw outputs, fixtures, policy, logs and audit log there).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh # cgroups, the hosts namespace, the mock, probe/measure, cleanup
bench_label="gateway bench"
bench_keep=${BENCH_GW_KEEP:-}
MICRO=build/tests/bench/bench_providers
CONNS_LIST=${BENCH_GW_CONNS:-1 16}
THREADS=1
WARM=${BENCH_GW_WARMUP:-2}
DUR=${BENCH_GW_SECONDS:-5}
SAMPLES=${BENCH_GW_SAMPLES:-200}
ROUNDS=${BENCH_GW_ROUNDS:-4}
TTFT_WARM=5 # calls per round and target before counting (a new connection, a pool filling)
if ! ((WARM >= 1 && WARM <= 10 && DUR >= 1 && DUR <= 10)); then
	echo "gateway bench: warm-up and duration must be 1..10 s" >&2
	exit 2
fi
if ! ((ROUNDS >= 1 && SAMPLES >= ROUNDS && SAMPLES / ROUNDS + TTFT_WARM < 1000)); then
	# the breaker's "failures": 1000 must never be reached by the fallback's calls in a round
	echo "gateway bench: need 1 <= rounds <= samples and fewer than 1000 calls a round" >&2
	exit 2
fi
for c in $CONNS_LIST; do
	((c >= 1 && c <= 256)) || { echo "gateway bench: connections must be 1..256" >&2; exit 2; }
done
[ -x "$MICRO" ] || { echo "gateway bench: $MICRO is missing (make helpers)" >&2; exit 2; }

bench_setup
load0=$(cut -d' ' -f1-3 /proc/loadavg)
net=$((10 + RANDOM % 90)) # this run's own provider addresses
bench_mock "api.openai.com=127.$net.0.51" "api.anthropic.com=127.$net.0.52"
OPENAI_URL="https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL="https://api.anthropic.com/v1/messages"
A_HDRS=(-H "anthropic-version: 2023-06-01" -H "x-api-key: sk-ant-bench-not-a-real-key")
MODEL_A=claude-3-5-haiku-latest

# ---- the request bodies ------------------------------------------------------------------
fx=$tmp/fixtures
mkdir -p "$fx"
jset() { # IN OUT KEY=JSON...: IN with top-level keys set, compact
	/usr/bin/python3 - "$@" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    b[k] = json.loads(v)
open(sys.argv[2], "w").write(json.dumps(b, separators=(",", ":")))
PY
}
jset "$B/request.json" "$fx/request.json"
jset "$fx/request.json" "$fx/request_stream.json" stream=true
# The Anthropic request is what aigw sends when it translates request.json (same code).
"$MICRO" translate-request openai "$MODEL_A" "$fx/request.json" >"$fx/request_anthropic.json"
jset "$fx/request_anthropic.json" "$fx/request_anthropic_stream.json" stream=true
cp "$fx/request_anthropic.json" "$tmp/body-anthropic.json"
for m in gpt-4o-mini bench-openai bench-claude bench-fallback; do
	jset "$fx/request.json" "$tmp/body-$m.json" "model=\"$m\""
	jset "$fx/request_stream.json" "$tmp/body-$m-stream.json" "model=\"$m\""
done

# ---- 1. CPU cost in isolation --------------------------------------------------------------
# Answers captured from the mock as it answers the providers' APIs: 46 words for OpenAI and 44
# for Anthropic make 50 events per stream each (OpenAI: the usage chunk included, as aigw asks).
capture() { # OUT URL BODY [curl options...]: one answer of the mock, direct
	local out=$1 url=$2 body=$3 code
	shift 3
	code=$(in_cgroup "$plain" "${hostsns[@]}" curl -sS -N --http1.1 --max-time 10 \
		--cacert "$certs/ca.pem" -o "$out" -w '%{http_code}' -H 'content-type: application/json' \
		--data-binary @"$body" "$@" "$url") || true
	[ "$code" = 200 ] || { say "capturing $(basename "$out"): HTTP $code"; exit 1; }
}
if [ "${BENCH_GW_MICRO:-1}" != 0 ]; then
	jset "$fx/request_stream.json" "$tmp/req-usage.json" 'stream_options={"include_usage":true}'
	capture "$fx/openai.json" "$OPENAI_URL" "$fx/request.json" -H 'x-mock-reply-words: 46'
	capture "$fx/openai.sse" "$OPENAI_URL" "$tmp/req-usage.json" -H 'x-mock-reply-words: 46'
	capture "$fx/anthropic.json" "$ANTHROPIC_URL" "$fx/request_anthropic.json" "${A_HDRS[@]}" \
		-H 'x-mock-reply-words: 44'
	capture "$fx/anthropic.sse" "$ANTHROPIC_URL" "$fx/request_anthropic_stream.json" \
		"${A_HDRS[@]}" -H 'x-mock-reply-words: 44'
	say "providers micro-benchmark (CPU, in isolation)"
	if ! "$MICRO" run "$fx" --json >"$tmp/micro.jsonl" 2>"$tmp/micro.err"; then
		cat "$tmp/micro.err" >&2
		exit 1
	fi
fi

if [ "${BENCH_GW_E2E:-1}" = 0 ]; then
	/usr/bin/python3 "$B/gateway_report.py" "$tmp" "" 0 0 "cores=$(nproc)"
	exit 0
fi

# ---- aigw ----------------------------------------------------------------------------------
port=$(free_port)
cat >"$tmp/aigw-policy.json" <<EOF
{ "capture": { "cgroup": "${root#"$cg2"}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port",
               "destroy_preexisting": false },
  "audit": { "path": "$tmp/audit.jsonl" },
  "ca": { "dir": "$tmp/ca" },
  "tls": { "upstream_ca": "$certs/ca.pem" },
  "providers": {
    "openai": { "hosts": ["api.openai.com"], "key_env": "AIGW_BENCH_OPENAI_KEY" },
    "anthropic": { "hosts": ["api.anthropic.com"], "key_env": "AIGW_BENCH_ANTHROPIC_KEY" } },
  "models": {
    "bench-openai": [ { "provider": "openai", "model": "gpt-4o-mini" } ],
    "bench-claude": [ { "provider": "anthropic", "model": "$MODEL_A" } ],
    "bench-fallback": [ { "provider": "openai", "model": "gpt-4o-mini" },
                        { "provider": "anthropic", "model": "$MODEL_A" } ] },
  "routing": { "retries": 0, "breaker": { "failures": 1000, "open_ms": 100 } },
  "state": { "path": "$tmp/state.db" },
  "teams": { "bench-team": { "budget": { "usd_per_day": 1000000, "usd_per_month": 10000000 } } },
  "guardrails": { "standard": {
    "request": { "pii": "tokenize", "secrets": "block", "injection": "record" },
    "response": { "pii": "redact" },
    "patterns": [ { "name": "codename", "regex": "(?i)\\\\bbluebird\\\\b", "action": "block" } ] } },
  "workloads": [
    { "name": "app", "match": { "cgroup": "${root#"$cg2"}/app" } },
    { "name": "guarded", "match": { "cgroup": "${root#"$cg2"}/guard" }, "guardrails": "standard" },
    { "name": "governed", "team": "bench-team", "match": { "cgroup": "${root#"$cg2"}/gov" },
      "allow": { "models": ["gpt-4o*", "bench-*", "claude-*"], "providers": ["openai", "anthropic"],
                 "endpoints": ["POST /v1/chat/completions", "POST /v1/messages"] },
      "limits": { "requests_per_minute": 10000000, "tokens_per_minute": 1000000000000,
                  "concurrent": 100000 },
      "budget": { "usd_per_day": 1000000, "usd_per_month": 10000000, "warn_at": 0.99 } } ] }
EOF
AIGW_BENCH_OPENAI_KEY=sk-bench-gateway-openai AIGW_BENCH_ANTHROPIC_KEY=sk-ant-bench-gateway \
	start aigw "$proxy" "$AIGW" run --policy "$tmp/aigw-policy.json" --pin-dir "$pins"
if ! wait_log "$tmp/aigw.log" "ready:" "$last"; then
	cat "$tmp/aigw.log" >&2
	say "aigw did not get ready"
	exit 1
fi
GW_CA=$tmp/ca/ca.pem

# ---- 2. added latency, non-streaming (wrk) -------------------------------------------------
# wrk_target NAME CGROUP URL MODEL [options for curl and wrk...]: $tmp/body-MODEL.json, probed
# (the answer must hold $probe_expect), then measured
wrk_target() {
	local name=$1 cg=$2 url=$3 model=$4 ca=$certs/ca.pem
	shift 4
	: >"$tmp/$name.meta"
	[ "$cg" = "$plain" ] || ca=$GW_CA # the app trusts aigw's CA; wrk verifies nothing
	meta "$name" "conns=$CONNS"
	export BENCH_CHAT_BODY=$tmp/body-$model.json
	probe "$name" "$cg" "$url" --cacert "$ca" "$@" || return 0
	measure "$name" "$cg" "$url" "$@"
}
for CONNS in $CONNS_LIST; do
	probe_expect='"chat.completion"'
	wrk_target "direct-c$CONNS" "$plain" "$OPENAI_URL" gpt-4o-mini
	probe_expect='"type":"message"'
	wrk_target "direct-anth-c$CONNS" "$plain" "$ANTHROPIC_URL" anthropic "${A_HDRS[@]}"
	probe_expect='"chat.completion"'
	wrk_target "aigw-c$CONNS" "$root/app" "$OPENAI_URL" gpt-4o-mini
	wrk_target "aigw-gov-c$CONNS" "$root/gov" "$OPENAI_URL" gpt-4o-mini
	wrk_target "aigw-guard-c$CONNS" "$root/guard" "$OPENAI_URL" gpt-4o-mini
	wrk_target "aigw-routed-c$CONNS" "$root/app" "$OPENAI_URL" bench-openai
	wrk_target "aigw-xlate-c$CONNS" "$root/app" "$OPENAI_URL" bench-claude
	wrk_target "direct-end-c$CONNS" "$plain" "$OPENAI_URL" gpt-4o-mini
done

# ---- 3. time to first token, streaming ---------------------------------------------------------
# ttft NAME CGROUP URL BODY CA [HEADER...]: one round's calls, appended to $tmp/ttft-NAME.jsonl;
# the TCP connections the machine opened meanwhile to $tmp/ttft-NAME.opens ("CALLS OPENS")
ttft() {
	local name=$1 cg=$2 url=$3 body=$4 ca=$5 o0
	shift 5
	o0=$(tcp_active_opens)
	in_cgroup "$cg" "${hostsns[@]}" /usr/bin/python3 "$B/ttft.py" "$url" "$body" "$ca" \
		"$((SAMPLES / ROUNDS))" "$TTFT_WARM" "$@" >>"$tmp/ttft-$name.jsonl" 2>>"$tmp/ttft-$name.err" ||
		echo '{"errors": -1, "first_error": "ttft.py failed (see its .err)"}' >>"$tmp/ttft-$name.jsonl"
	echo "$((SAMPLES / ROUNDS + TTFT_WARM)) $(($(tcp_active_opens) - o0))" >>"$tmp/ttft-$name.opens"
}
say "time to first token: $SAMPLES calls per target in $ROUNDS interleaved rounds"
mock_control POST /control/reset >/dev/null
for r in $(seq "$ROUNDS"); do
	ttft direct "$plain" "$OPENAI_URL" "$tmp/body-gpt-4o-mini-stream.json" "$certs/ca.pem"
	ttft direct-anth "$plain" "$ANTHROPIC_URL" "$fx/request_anthropic_stream.json" "$certs/ca.pem" \
		"anthropic-version: 2023-06-01" "x-api-key: sk-ant-bench-not-a-real-key"
	ttft aigw "$root/app" "$OPENAI_URL" "$tmp/body-gpt-4o-mini-stream.json" "$GW_CA"
	ttft aigw-routed "$root/app" "$OPENAI_URL" "$tmp/body-bench-fallback-stream.json" "$GW_CA"
	mock_control POST "/control/fault?mode=down&provider=openai" >/dev/null
	ttft fallback "$root/app" "$OPENAI_URL" "$tmp/body-bench-fallback-stream.json" "$GW_CA"
	mock_control POST /control/reset >/dev/null
	say "  round $r of $ROUNDS done"
done

stop_proxy # flushes the audit log
"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1 || true

# ---- report --------------------------------------------------------------------------------
cpu_model=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
cond=(
	"conns=$CONNS_LIST" "warm=$WARM" "dur=$DUR" "samples=$SAMPLES" "rounds=$ROUNDS"
	"ttft_warm=$TTFT_WARM" "cores=$(nproc)" "cpu=${cpu_model:-unknown}" "kernel=$(uname -r)"
	"wrk=$(wrk -v 2>&1 | awk 'NR==1{print $2}')" "python=$(/usr/bin/python3 -V 2>&1)"
	"load0=$load0" "load1=$(cut -d' ' -f1-3 /proc/loadavg)"
)
/usr/bin/python3 "$B/gateway_report.py" "$tmp" "$CONNS_LIST" "$SAMPLES" "$ROUNDS" "${cond[@]}"
