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
#             the eBPF redirect sends it through build/aigw -> mock
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
# Knobs: BENCH_HTTP_TARGETS (default "nginx haproxy aigw portkey"; direct is always measured),
# BENCH_HTTP_CONNS (16), BENCH_HTTP_WARMUP (2), BENCH_HTTP_SECONDS (8), BENCH_HTTP_KEEP=DIR
# (copy the raw wrk outputs, generated configs and logs there).
set -euo pipefail
cd "$(dirname "$0")/../.."
AIGW=build/aigw
MOCK=build/mockprov
B=tests/bench
PORTKEY_DIR=build/bench/portkey
CONNS=${BENCH_HTTP_CONNS:-16}
THREADS=1
WARM=${BENCH_HTTP_WARMUP:-2}
DUR=${BENCH_HTTP_SECONDS:-8}
if ! ((WARM >= 1 && WARM <= 10 && DUR >= 1 && DUR <= 10)); then
	echo "http bench: warm-up and duration must be 1..10 s" >&2
	exit 2
fi
targets="direct"
for t in ${BENCH_HTTP_TARGETS:-nginx haproxy aigw portkey}; do
	case $t in
	direct) ;;
	nginx | haproxy | aigw | portkey) targets+=" $t" ;;
	*) echo "http bench: unknown target $t" >&2; exit 2 ;;
	esac
done

cg2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
id=$$
root="$cg2/aigw-test-bench-$id"        # captured by aigw; wrk runs in $root/app
plain="$cg2/aigw-test-bench-$id-plain" # wrk, uncaptured
mockcg="$cg2/aigw-test-bench-$id-mock" # the mock provider
proxy="$cg2/aigw-test-bench-$id-proxy" # the proxy under test (one at a time)
pins="/sys/fs/bpf/aigw-test-bench-$id"
tmp=$(mktemp -d)
pids=()

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for d in "$proxy" "$mockcg" "$root/app" "$plain"; do
		[ -d "$d" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
	done
	wait 2>/dev/null
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1
	for d in "$proxy" "$mockcg" "$root/app" "$root" "$plain"; do
		for _ in $(seq 50); do
			[ -d "$d" ] || break
			rmdir "$d" 2>/dev/null && break
			echo 1 >"$d/cgroup.kill" 2>/dev/null
			sleep 0.1
		done
	done
	if [ -n "${BENCH_HTTP_KEEP:-}" ]; then
		mkdir -p "$BENCH_HTTP_KEEP" && cp -r "$tmp"/. "$BENCH_HTTP_KEEP"/ 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
mkdir -p "$root/app" "$plain" "$mockcg" "$proxy"

say() { echo "http bench: $*" >&2; }

in_cgroup() { # CGROUP CMD...: run CMD inside CGROUP
	local cg=$1
	shift
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# CMD... in a private mount namespace whose /etc/hosts maps the provider names to the mock.
# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
hostsns=(unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$tmp/hosts")

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() { # NAME CGROUP CMD...: CMD in CGROUP and the hosts namespace, output in $tmp/NAME.log
	local name=$1 cg=$2
	shift 2
	in_cgroup "$cg" "${hostsns[@]}" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
	last=$!
}

wait_log() { # FILE TEXT PID: wait up to 15 s for TEXT in FILE while PID lives
	for _ in $(seq 150); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_proxy() { # everything in the proxy cgroup: SIGTERM, up to 5 s, then SIGKILL
	local p
	for p in $(cat "$proxy/cgroup.procs"); do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		[ -z "$(cat "$proxy/cgroup.procs")" ] && break
		sleep 0.1
	done
	[ -z "$(cat "$proxy/cgroup.procs")" ] || echo 1 >"$proxy/cgroup.kill"
	for _ in $(seq 50); do
		[ -z "$(cat "$proxy/cgroup.procs")" ] && break
		sleep 0.1
	done
}

# TCP connections this machine opened (all of it: a hint, not an exact count).
tcp_active_opens() {
	awk '/^Tcp:/{if(!h){for(i=1;i<=NF;i++)n[$i]=i;h=1}else print $n["ActiveOpens"]}' /proc/net/snmp
}
cpu_usec() { awk '$1=="usage_usec"{print $2}' "$1/cpu.stat"; }
mock_stats() { curl -sS --max-time 5 "http://127.0.0.1:$ctl/control/stats"; }
meta() { echo "$2" >>"$tmp/$1.meta"; } # NAME KEY=VALUE

fail() { # NAME WHY: the target could not be set up or measured
	meta "$1" "status=failed"
	meta "$1" "why=$2"
	say "$1: $2"
	for f in "$tmp/$1".log "$tmp/$1".probe; do
		[ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
	done
	return 0
}

# probe NAME CGROUP URL [curl options...]: one request must answer 200 with a chat completion.
probe() {
	local name=$1 cg=$2 url=$3 code
	shift 3
	code=$(in_cgroup "$cg" "${hostsns[@]}" curl -sS --http1.1 --max-time 10 -o "$tmp/$name.probe" \
		-w '%{http_code}' -H 'content-type: application/json' \
		-H 'authorization: Bearer sk-bench-not-a-real-key' --data-binary @"$B/chat.json" \
		"$@" "$url" 2>>"$tmp/$name.probe.err") || true
	if [ "$code" != 200 ] || ! grep -q '"chat.completion"' "$tmp/$name.probe"; then
		fail "$name" "a single request answered HTTP '$code': $(head -c 300 "$tmp/$name.probe" \
			"$tmp/$name.probe.err" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
}

# measure NAME CGROUP URL [wrk options...]: warm-up, then the measured run, bounded.
measure() {
	local name=$1 cg=$2 url=$3 w
	shift 3
	w=(timeout 30 wrk -t"$THREADS" -c"$CONNS" --timeout 5s -s "$B/chat.lua" "$@")
	say "$name: warm-up ${WARM}s, then ${DUR}s measured"
	in_cgroup "$cg" "${hostsns[@]}" "${w[@]}" -d"${WARM}s" "$url" >"$tmp/$name.warm" 2>&1 || true
	sleep 0.2
	mock_stats >"$tmp/$name.mock0" || true
	meta "$name" "cpu_client0=$(cpu_usec "$cg")"
	meta "$name" "cpu_proxy0=$(cpu_usec "$proxy")"
	meta "$name" "cpu_mock0=$(cpu_usec "$mockcg")"
	meta "$name" "opens0=$(tcp_active_opens)"
	meta "$name" "t0=$(date +%s.%N)"
	in_cgroup "$cg" "${hostsns[@]}" "${w[@]}" -d"${DUR}s" --latency "$url" >"$tmp/$name.wrk" 2>&1 &
	local wp=$!
	sleep "$(awk -v d="$DUR" 'BEGIN{print d/2}')"
	# Connections to the mock half-way through (for direct: wrk's own).
	meta "$name" "upstream_conns=$(ss -Htn state established "( dst $addr and dport = :443 )" | wc -l)"
	wait "$wp" || true
	meta "$name" "t1=$(date +%s.%N)"
	meta "$name" "opens1=$(tcp_active_opens)"
	meta "$name" "cpu_client1=$(cpu_usec "$cg")"
	meta "$name" "cpu_proxy1=$(cpu_usec "$proxy")"
	meta "$name" "cpu_mock1=$(cpu_usec "$mockcg")"
	sleep 0.2
	mock_stats >"$tmp/$name.mock1" || true
	meta "$name" "status=measured"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the mock provider -------------------------------------------------------------------
if ! bash tests/mockprov/gen-certs.sh "$tmp/certs" >"$tmp/gen-certs.log" 2>&1; then
	cat "$tmp/gen-certs.log" >&2
	exit 1
fi
certs=$tmp/certs
cat "$certs/server.pem" "$certs/server.key" >"$tmp/server-with-key.pem"
# A provider address of this run's own (the end-to-end tests use 127.100-249.0.x).
addr="127.$((10 + RANDOM % 90)).0.41"
printf '127.0.0.1 localhost\n%s api.openai.com\n' "$addr" >"$tmp/hosts"
ctl=$(free_port)
start mock "$mockcg" "$MOCK" --listen "$addr:443" --cert "$certs/server.pem" \
	--key "$certs/server.key" --control "127.0.0.1:$ctl" --deterministic
if ! wait_log "$tmp/mock.log" "mockprov: ready" "$last"; then
	cat "$tmp/mock.log" >&2
	say "mockprov did not start"
	exit 1
fi
URL_PROVIDER="https://api.openai.com/v1/chat/completions"

# ---- targets -----------------------------------------------------------------------------
t_direct() {
	probe direct "$plain" "$URL_PROVIDER" --cacert "$certs/ca.pem" || return 0
	measure direct "$plain" "$URL_PROVIDER"
}

t_nginx() {
	local port d=$tmp/nginx
	port=$(free_port)
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<EOF
# generated by tests/bench/http_bench.sh: a plain TLS-terminating reverse proxy to the mock
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    access_log $d/access.log;  # one line per request (aigw writes an audit record per request)
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream openai {
        server api.openai.com:443;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $certs/server.pem;
        ssl_certificate_key $certs/server.key;
        location / {
            proxy_pass https://openai;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host api.openai.com;
            proxy_ssl_server_name on;
            proxy_ssl_name api.openai.com;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $certs/ca.pem;
            proxy_ssl_session_reuse on;
            proxy_buffering off;
        }
    }
}
EOF
	start nginx "$proxy" nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;'
	wait_port "$port" "$last" || { fail nginx "did not listen on 127.0.0.1:$port"; return 0; }
	probe nginx "$plain" "https://127.0.0.1:$port/v1/chat/completions" --cacert "$certs/ca.pem" || return 0
	measure nginx "$plain" "https://127.0.0.1:$port/v1/chat/completions"
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
	start haproxy "$proxy" haproxy -db -f "$d/haproxy.cfg"
	wait_port "$port" "$last" || { fail haproxy "did not listen on 127.0.0.1:$port"; return 0; }
	probe haproxy "$plain" "https://127.0.0.1:$port/v1/chat/completions" --cacert "$certs/ca.pem" || return 0
	measure haproxy "$plain" "https://127.0.0.1:$port/v1/chat/completions"
}

t_aigw() {
	local port
	port=$(free_port)
	cat >"$tmp/aigw-policy.json" <<EOF
{ "capture": { "cgroup": "${root#"$cg2"}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port",
               "destroy_preexisting": false },
  "audit": { "path": "$tmp/audit.jsonl" },
  "ca": { "dir": "$tmp/ca" },
  "tls": { "upstream_ca": "$certs/ca.pem" },
  "providers": { "openai": { "hosts": ["api.openai.com"] } } }
EOF
	start aigw "$proxy" "$AIGW" run --policy "$tmp/aigw-policy.json" --pin-dir "$pins"
	wait_log "$tmp/aigw.log" "ready:" "$last" || { fail aigw "did not get ready"; return 0; }
	# The app verifies aigw's minted certificate here; wrk does not verify certificates.
	probe aigw "$root/app" "$URL_PROVIDER" --cacert "$tmp/ca/ca.pem" || return 0
	measure aigw "$root/app" "$URL_PROVIDER"
	stop_proxy # flushes the audit log
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1 || true
	# Every request wrk counted must have an audit record with the mock's 200; the only other
	# outcome expected is client_gone: requests in flight when wrk stops (at most CONNS a run).
	/usr/bin/python3 - "$tmp/audit.jsonl" >>"$tmp/aigw.meta" <<'PY' || true
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
		fail portkey "could not install @portkey-ai/gateway with npm (see above)"
		return 0
	fi
	meta portkey "version=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["version"])' "${entry%/build/*}/package.json")"
	# NODE_ENV=production and --headless: no web UI, no log streaming. The shim binds to
	# loopback and terminates TLS with the mock's certificate (the gateway has no TLS option).
	start portkey "$proxy" env NODE_ENV=production NODE_EXTRA_CA_CERTS="$certs/ca.pem" \
		BENCH_LISTEN_HOST=127.0.0.1 BENCH_TLS_CERT="$certs/server.pem" BENCH_TLS_KEY="$certs/server.key" \
		node --require "$PWD/$B/portkey/shim.cjs" "$entry" --port="$port" --headless
	wait_port "$port" "$last" || { fail portkey "did not listen on 127.0.0.1:$port"; return 0; }
	# Portkey's headers: the provider, and its base URL (OpenAI's own; here: the mock).
	local h=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: https://api.openai.com/v1")
	local url="https://127.0.0.1:$port/v1/chat/completions"
	probe portkey "$plain" "$url" --cacert "$certs/ca.pem" "${h[@]}" || return 0
	measure portkey "$plain" "$url" "${h[@]}"
}

wait_port() { # PORT PID: up to 15 s for a listener on 127.0.0.1:PORT while PID lives
	for _ in $(seq 150); do
		ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

for t in $targets; do
	: >"$tmp/$t.meta"
	"t_$t"
	stop_proxy
done
# direct once more, last: how far the machine drifted while the others were measured
if [ "$targets" != direct ] && grep -q '^status=measured' "$tmp/direct.meta"; then
	: >"$tmp/direct-end.meta"
	measure direct-end "$plain" "$URL_PROVIDER"
fi

# ---- report ------------------------------------------------------------------------------
cpu_model=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
cond=(
	"conns=$CONNS" "threads=$THREADS" "warm=$WARM" "dur=$DUR" "cores=$(nproc)"
	"cpu=${cpu_model:-unknown}" "kernel=$(uname -r)"
	"wrk=$(wrk -v 2>&1 | awk 'NR==1{print $2}')"
	"nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
	"haproxy=$(haproxy -v 2>/dev/null | awk 'NR==1{print $3}')"
	"node=$(node --version 2>/dev/null || echo none)"
	"load0=$load0" "load1=$(cut -d' ' -f1-3 /proc/loadavg)"
)
/usr/bin/python3 "$B/http_report.py" "$tmp" "$targets" "${cond[@]}"
