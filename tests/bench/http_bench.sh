#!/usr/bin/env bash
# make bench, HTTP part (run by tests/bench/run.sh after the connect() part): a small
# non-streaming chat completion (POST /v1/chat/completions, tests/bench/chat.json) over
# kept-alive connections with wrk, through each target in turn, against the same mock upstream
# (build/mockprov --deterministic, TLS, on a loopback "provider" address that api.openai.com
# resolves to inside a private mount namespace's /etc/hosts):
#
#   direct    wrk -> mock, from an uncaptured cgroup, https://api.openai.com/...: the reference
#   nginx     wrk -> nginx (TLS termination, worker_processes 1, upstream keepalive, verify) -> mock
#   haproxy   wrk -> HAProxy (TLS termination, nbthread 1, http-reuse always, verify) -> mock
#   aigw      wrk in the captured cgroup calls https://api.openai.com/... exactly like direct;
#             the eBPF redirect sends it through build/aigw -> mock; one worker (proxy.workers 1)
#   aigw_all  the same with proxy.workers absent: one worker per online CPU
#   portkey   wrk -> Portkey's open-source gateway (npm @portkey-ai/gateway, pinned in
#             tests/bench/portkey/) -> mock; optional: skipped with a note if it cannot be had
#
# Each proxy runs alone while measured; each wrk run is bounded (warm-up, then measurement,
# each <= 10 s); direct is measured again at the end, to show how far the machine drifted.
# A measurement, never pass/fail on speed: exits non-zero only when a target other than
# portkey could not be set up or did not answer 200s from the mock.
#
# Everything runs in aigw-test-bench-* cgroups under the cgroup2 mount, on loopback only; the
# trap kills every process, detaches aigw's pin dir and removes cgroups and the temp dir.
#
# On a 2-core machine wrk, the mock and the proxy share the cores: aigw_all's throughput over
# aigw's cannot show what a second core gives a proxy that has it to itself. BENCH_HTTP_PIN=CPU
# runs wrk under taskset -c CPU (the proxies and the mock are not pinned); the CPU per request
# (us of the proxy's cgroup) is the figure that compares 1 and all workers here.
# Rounds: one 8-s p99 on a 2-core machine shared with wrk and the mock moves by a millisecond
# between runs (HAProxy's added p99 measured +0.59 to +1.62 ms in five runs of the same build).
# So every target is measured BENCH_HTTP_ROUNDS times (5), interleaved (direct, nginx, HAProxy,
# aigw, ... then direct, ..., aigw, HAProxy, nginx: see the loop below), each round with its own
# warm-up and a fresh proxy; the report gives each figure's median over the rounds, ratios and
# added latencies taken within a round (against that round's direct and nginx), and every round's
# figures beside it. Portkey is measured in the first round only (it is a hundred times slower;
# its figure is an order of magnitude).
# Knobs: BENCH_HTTP_TARGETS (default "nginx haproxy aigw aigw_all portkey"; direct is always
# measured), BENCH_HTTP_ROUNDS (5),
# BENCH_HTTP_CONNS (16), BENCH_HTTP_WARMUP (2), BENCH_HTTP_SECONDS (6), BENCH_HTTP_KEEP=DIR
# (copy the raw wrk outputs, generated configs and logs there), BENCH_HTTP_RECORD=DIR (a perf
# record -g profile of each proxy's measured seconds, DIR/NAME.perf-proxy.data; lib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh # cgroups, the hosts namespace, the mock, probe/measure, cleanup
bench_label="http bench"
bench_keep=${BENCH_HTTP_KEEP:-}
PORTKEY_DIR=build/bench/portkey
CONNS=${BENCH_HTTP_CONNS:-16}
THREADS=1
WARM=${BENCH_HTTP_WARMUP:-2}
DUR=${BENCH_HTTP_SECONDS:-6}
ROUNDS=${BENCH_HTTP_ROUNDS:-5}
if ! ((WARM >= 1 && WARM <= 10 && DUR >= 1 && DUR <= 10 && ROUNDS >= 1 && ROUNDS <= 5)); then
	echo "http bench: warm-up and duration must be 1..10 s, rounds 1..5" >&2
	exit 2
fi
targets="direct"
for t in ${BENCH_HTTP_TARGETS:-nginx haproxy aigw aigw_all portkey}; do
	case $t in
	direct) ;;
	nginx | haproxy | aigw | aigw_all | portkey) targets+=" $t" ;;
	*) echo "http bench: unknown target $t" >&2; exit 2 ;;
	esac
done

bench_setup
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the mock provider -------------------------------------------------------------------
# A provider address of this run's own (the end-to-end tests use 127.100-249.0.x).
addr="127.$((10 + RANDOM % 90)).0.41"
bench_mock "api.openai.com=$addr"
cat "$certs/server.pem" "$certs/server.key" >"$tmp/server-with-key.pem"
URL_PROVIDER="https://api.openai.com/v1/chat/completions"

# ---- targets -----------------------------------------------------------------------------
t_direct() {
	probe "$run" "$plain" "$URL_PROVIDER" --cacert "$certs/ca.pem" || return 0
	measure "$run" "$plain" "$URL_PROVIDER"
}

t_nginx() {
	local port d=$tmp/nginx
	port=$(free_port)
	mkdir -p "$d"
	bench_nginx_conf "$d" "$port" >"$d/nginx.conf"
	start "$run" "$proxy" nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;'
	wait_port "$port" "$last" || { fail "$run" "did not listen on 127.0.0.1:$port"; return 0; }
	probe "$run" "$plain" "https://127.0.0.1:$port/v1/chat/completions" --cacert "$certs/ca.pem" || return 0
	measure "$run" "$plain" "https://127.0.0.1:$port/v1/chat/completions"
}

t_haproxy() {
	local port d=$tmp/haproxy
	port=$(free_port)
	mkdir -p "$d"
	cat >"$d/haproxy.cfg" <<EOF
# generated by tests/bench/http_bench.sh: a plain TLS-terminating reverse proxy to the mock
global
    nbthread 1
    maxconn 4096
    log stdout format raw local0   # one line per request (aigw writes an audit record per request)
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend fe
    bind 127.0.0.1:$port ssl crt $tmp/server-with-key.pem alpn http/1.1
    default_backend openai
backend openai
    http-reuse always
    http-request set-header Host api.openai.com
    server mock api.openai.com:443 ssl verify required ca-file $certs/ca.pem sni str(api.openai.com) verifyhost api.openai.com alpn http/1.1
EOF
	start "$run" "$proxy" haproxy -db -f "$d/haproxy.cfg"
	wait_port "$port" "$last" || { fail "$run" "did not listen on 127.0.0.1:$port"; return 0; }
	probe "$run" "$plain" "https://127.0.0.1:$port/v1/chat/completions" --cacert "$certs/ca.pem" || return 0
	measure "$run" "$plain" "https://127.0.0.1:$port/v1/chat/completions"
}

t_aigw() { aigw_target "$run" '"workers": 1'; }
t_aigw_all() { aigw_target "$run" ""; } # proxy.workers absent: one per online CPU

aigw_target() { # NAME WORKERS: aigw measured as NAME with WORKERS ("proxy" members) set
	local port name=$1
	port=$(free_port)
	rm -f "$tmp/audit.jsonl"
	bench_aigw_policy "$port" "$2" >"$tmp/aigw-policy.json"
	start "$name" "$proxy" "$AIGW" run --policy "$tmp/aigw-policy.json" --pin-dir "$pins"
	wait_log "$tmp/$name.log" "ready:" "$last" || { fail "$name" "did not get ready"; return 0; }
	meta "$name" "workers=$(sed -n 's/.*aigw: info: \([0-9]*\) proxy worker.*/\1/p' "$tmp/$name.log")"
	# The app verifies aigw's minted certificate here; wrk does not verify certificates.
	probe "$name" "$root/app" "$URL_PROVIDER" --cacert "$tmp/ca/ca.pem" || return 0
	measure "$name" "$root/app" "$URL_PROVIDER"
	stop_proxy # flushes the audit log
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1 || true
	# Every request wrk counted must have an audit record with the mock's 200; the only other
	# outcome expected is client_gone: requests in flight when wrk stops (at most CONNS a run).
	/usr/bin/python3 - "$tmp/audit.jsonl" >>"$tmp/$name.meta" <<'PY' || true
import json, sys
ok = gone = bad = conns = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event.name") == "proxy.request":
        if r.get("http.response.status_code") == 200:
            ok += 1
        elif r.get("aigw.outcome") == "client_gone":
            gone += 1
        else:
            bad += 1
    elif r.get("event.name") == "proxy.connection":
        conns += 1
print(f"audit_200={ok}\naudit_client_gone={gone}\naudit_other={bad}\naudit_connections={conns}")
PY
}

portkey_install() { # the pinned gateway into build/bench/portkey (once per lock file)
	local sum
	sum=$(sha256sum "$B/portkey/package-lock.json" | cut -d' ' -f1)
	[ "$(cat "$PORTKEY_DIR/.bench-lock.sha256" 2>/dev/null)" = "$sum" ] && return 0
	command -v npm >/dev/null || { echo "npm is missing" >"$tmp/portkey.log"; return 1; }
	say "portkey: npm ci into $PORTKEY_DIR"
	rm -rf "$PORTKEY_DIR"
	mkdir -p "$PORTKEY_DIR"
	cp "$B/portkey/package.json" "$B/portkey/package-lock.json" "$PORTKEY_DIR/"
	timeout 300 npm ci --prefix "$PORTKEY_DIR" --no-audit --no-fund --ignore-scripts \
		>"$tmp/portkey.log" 2>&1 || return 1
	echo "$sum" >"$PORTKEY_DIR/.bench-lock.sha256"
}

t_portkey() {
	local port entry=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
	port=$(free_port)
	if ! command -v node >/dev/null || ! portkey_install || [ ! -f "$entry" ]; then
		fail "$run" "could not install @portkey-ai/gateway with npm (see above)"
		return 0
	fi
	meta "$run" "version=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["version"])' "${entry%/build/*}/package.json")"
	# NODE_ENV=production and --headless: no web UI, no log streaming. The shim binds to
	# loopback and terminates TLS with the mock's certificate (the gateway has no TLS option).
	start "$run" "$proxy" env NODE_ENV=production NODE_EXTRA_CA_CERTS="$certs/ca.pem" \
		BENCH_LISTEN_HOST=127.0.0.1 BENCH_TLS_CERT="$certs/server.pem" BENCH_TLS_KEY="$certs/server.key" \
		node --require "$PWD/$B/portkey/shim.cjs" "$entry" --port="$port" --headless
	wait_port "$port" "$last" || { fail "$run" "did not listen on 127.0.0.1:$port"; return 0; }
	# Portkey's headers: the provider, and its base URL (OpenAI's own; here: the mock).
	local h=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: https://api.openai.com/v1")
	local url="https://127.0.0.1:$port/v1/chat/completions"
	probe "$run" "$plain" "$url" --cacert "$certs/ca.pem" "${h[@]}" || return 0
	measure "$run" "$plain" "$url" "${h[@]}"
}

# Round R of target T is measured as T-rR ($run): its files are $tmp/T-rR.*. Direct opens
# every round (the round's reference); the proxies follow in the order given in odd rounds and
# reversed in even ones, so that a machine whose speed drifts during the run (direct measured
# again at the end has come out 17 to 83 % faster than at the start here) favours no target.
proxies=${targets#direct}
reversed=$(echo $proxies | tr ' ' '\n' | tac | tr '\n' ' ')
for ((r = 1; r <= ROUNDS; r++)); do
	order="direct $proxies"
	((r % 2 == 0)) && order="direct $reversed"
	for t in $order; do
		[ "$t" = portkey ] && ((r > 1)) && continue
		run=$t-r$r
		: >"$tmp/$run.meta"
		"t_$t"
		stop_proxy
	done
done
# direct once more, last: how far the machine drifted while the others were measured
if [ "$targets" != direct ] && grep -q '^status=measured' "$tmp/direct-r1.meta"; then
	: >"$tmp/direct-end.meta"
	measure direct-end "$plain" "$URL_PROVIDER"
fi

# ---- report ------------------------------------------------------------------------------
cpu_model=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
cond=(
	"conns=$CONNS" "threads=$THREADS" "warm=$WARM" "dur=$DUR" "rounds=$ROUNDS" "cores=$(nproc)"
	"cpu=${cpu_model:-unknown}" "kernel=$(uname -r)"
	"wrk=$(wrk -v 2>&1 | awk 'NR==1{print $2}')"
	"nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
	"haproxy=$(haproxy -v 2>/dev/null | awk 'NR==1{print $3}')"
	"node=$(node --version 2>/dev/null || echo none)"
	"load0=$load0" "load1=$(cut -d' ' -f1-3 /proc/loadavg)" "pin=${BENCH_HTTP_PIN:-}"
)
/usr/bin/python3 "$B/http_report.py" "$tmp" "$targets" "${cond[@]}"
