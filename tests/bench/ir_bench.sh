#!/usr/bin/env bash
# make bench-ir: instructions and system calls per request, aigw (one worker, transparent
# capture) against nginx (one worker), on the small chat completion of make bench
# (tests/bench/chat.json) over one kept-alive connection, against the same mock provider.
# For VMs without a PMU, where perf stat cannot count instructions:
#
#   instructions  the proxy runs under valgrind --tool=callgrind with instrumentation off;
#                 after BENCH_IR_WARM requests (TLS handshakes, upstream connections, caches),
#                 callgrind_control turns it on for two windows, each a new client connection:
#                 one request (dumped apart), then BENCH_IR_REQUESTS + 1, each window ending
#                 once the proxy has logged its requests (aigw's audit records are written by
#                 another thread: they count). (Ir of the second - Ir of the first) / requests:
#                 kept-alive requests without the client's TLS handshake.
#   syscalls      the proxy runs natively; perf stat counts raw_syscalls:sys_enter of all its
#                 threads over the same requests (after the same warm-up) / requests.
#
# Instruction counts are exact and do not depend on the machine's load; system calls depend a
# little on timing (how many reads a response takes). A measurement, never pass/fail; exits
# non-zero only when a proxy could not be set up or a request did not answer 200.
# Knobs: BENCH_IR_REQUESTS (200), BENCH_IR_WARM (20), BENCH_IR_TARGETS ("nginx aigw").
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh # cgroups, the hosts namespace, the mock, cleanup
bench_label="ir bench"
bench_keep=${BENCH_IR_KEEP:-}
N=${BENCH_IR_REQUESTS:-200}
WARM=${BENCH_IR_WARM:-20}
URL_PROVIDER="https://api.openai.com/v1/chat/completions"
for t in valgrind callgrind_control perf curl nginx; do
	command -v "$t" >/dev/null || { say "$t is missing"; exit 2; }
done

bench_setup
addr="127.$((10 + RANDOM % 90)).0.42"
bench_mock "api.openai.com=$addr"

# requests CGROUP URL COUNT CAFILE: COUNT chat completions on one kept-alive connection; fails
# unless every one answered 200.
requests() {
	local cg=$1 url=$2 n=$3 ca=$4 urls=() i
	for ((i = 0; i < n; i++)); do urls+=(-o /dev/null "$url"); done
	in_cgroup "$cg" "${hostsns[@]}" curl -sS --http1.1 --max-time 60 --cacert "$ca" \
		-H 'content-type: application/json' -H 'authorization: Bearer sk-bench-not-a-real-key' \
		--data-binary @"$B/chat.json" -w '%{http_code}\n' "${urls[@]}" \
		>"$tmp/codes" 2>>"$tmp/requests.err" || true
	[ "$(grep -c '^200$' "$tmp/codes")" = "$n" ] && return 0
	say "of $n requests, $(grep -c '^200$' "$tmp/codes") answered 200"
	sort "$tmp/codes" | uniq -c >&2
	tail -n 5 "$tmp/requests.err" >&2
	return 1
}

# logged COUNT: wait (up to 60 s) until the proxy has logged COUNT requests ($logged_cmd).
logged() {
	for _ in $(seq 600); do
		[ "$($logged_cmd)" -ge "$1" ] && return 0
		sleep 0.1
	done
	say "the proxy logged $($logged_cmd) of $1 requests"
	return 1
}
nginx_logged() { wc -l <"$tmp/nginx/access.log" 2>/dev/null || echo 0; }
aigw_logged() { grep -c '"event.name":"proxy.request"' "$tmp/audit.jsonl" 2>/dev/null || echo 0; }

# proxy_start NAME WRAPPER...: the proxy NAME under WRAPPER (valgrind ... or nothing) in
# $proxy, ready; sets $ppid_ (the proxy's pid), $purl (what the client calls), $pca, $pcg.
proxy_start() {
	local name=$1 port
	shift
	port=$(free_port)
	case $name in
	nginx)
		rm -rf "$tmp/nginx" && mkdir -p "$tmp/nginx"
		bench_nginx_conf "$tmp/nginx" "$port" >"$tmp/nginx/nginx.conf"
		# master_process off: the one process that serves is the one measured
		start "$name" "$proxy" "$@" nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
			-g 'daemon off; master_process off;'
		wait_port "$port" "$last" || { say "nginx did not listen"; tail "$tmp/$name.log" >&2; return 1; }
		purl="https://127.0.0.1:$port/v1/chat/completions" pca=$certs/ca.pem pcg=$plain
		logged_cmd=nginx_logged
		;;
	aigw)
		rm -f "$tmp/audit.jsonl"
		bench_aigw_policy "$port" '"workers": 1' >"$tmp/aigw-policy.json"
		start "$name" "$proxy" "$@" "$AIGW" run --policy "$tmp/aigw-policy.json" --pin-dir "$pins"
		wait_log "$tmp/$name.log" "ready:" "$last" || { say "aigw did not get ready"; tail "$tmp/$name.log" >&2; return 1; }
		purl=$URL_PROVIDER pca=$tmp/ca/ca.pem pcg=$root/app
		logged_cmd=aigw_logged
		;;
	esac
	ppid_=$(cat "$proxy/cgroup.procs" | head -n 1)
}

proxy_stop() { # SIGTERM, and up to 60 s for callgrind to write its counts
	kill "$ppid_" 2>/dev/null || true
	for _ in $(seq 600); do
		kill -0 "$ppid_" 2>/dev/null || break
		sleep 0.1
	done
	stop_proxy
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1 || true
}

# ir NAME: instructions per request, under callgrind
ir() {
	local name=$1 out=$tmp/$1.callgrind total one
	proxy_start "$name" valgrind --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$out" || return 1
	requests "$pcg" "$purl" "$WARM" "$pca" && logged "$WARM" || return 1
	# Two windows, each a new connection (curl): one request, dumped to $out.1, then N + 1.
	# Their difference is N kept-alive requests, without the handshake both windows hold.
	callgrind_control -i on "$ppid_" >/dev/null 2>&1
	requests "$pcg" "$purl" 1 "$pca" && logged $((WARM + 1)) || return 1
	callgrind_control -d "$ppid_" >/dev/null 2>&1
	requests "$pcg" "$purl" $((N + 1)) "$pca" && logged $((WARM + N + 2)) || return 1
	callgrind_control -i off "$ppid_" >/dev/null 2>&1
	proxy_stop
	one=$(awk '/^totals:/{print $2; exit}' "$out.1" 2>/dev/null)
	total=$(awk '/^totals:/{print $2; exit}' "$out")
	[ -n "$total" ] && [ -n "$one" ] || { say "$name: no totals in $out or $out.1"; return 1; }
	echo "$name instructions/request $(((total - one) / N))" \
		"(one connection's first request with its handshake: $one)"
	# sed reads to the end: head would close the pipe early, and with pipefail the
	# function would return 1 after callgrind_annotate died of SIGPIPE
	[ -z "$bench_keep" ] || callgrind_annotate "$out" 2>/dev/null | sed -n 1,60p >"$tmp/$name.top"
}

# sys NAME: system calls per request, natively
sys() {
	local name=$1 out=$tmp/$1.perf count
	proxy_start "$name" || return 1
	requests "$pcg" "$purl" "$WARM" "$pca" && logged "$WARM" || return 1
	# perf stat counts until $tmp/stop exists (a signal would reach this script too)
	rm -f "$tmp/stop"
	perf stat -x, -o "$out" -e raw_syscalls:sys_enter -p "$ppid_" -- \
		sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$tmp/stop" >/dev/null 2>&1 &
	local perf_pid=$!
	# perf stat has attached once it holds its event's file descriptors
	for _ in $(seq 100); do
		ls -l "/proc/$perf_pid/fd" 2>/dev/null | grep -q 'perf_event' && break
		sleep 0.05
	done
	requests "$pcg" "$purl" "$N" "$pca" && logged $((WARM + N)) || { touch "$tmp/stop"; return 1; }
	touch "$tmp/stop"
	wait "$perf_pid" || true
	proxy_stop
	count=$(awk -F, '$3=="raw_syscalls:sys_enter"{print $1}' "$out")
	[ -n "$count" ] || { say "$name: perf stat counted nothing"; cat "$out" >&2; return 1; }
	echo "$name syscalls/request $(awk -v c="$count" -v n="$N" 'BEGIN{printf "%.1f", c / n}')"
}

status=0
for t in ${BENCH_IR_TARGETS:-nginx aigw}; do
	case $t in
	nginx | aigw) ;;
	*) say "unknown target $t"; exit 2 ;;
	esac
	ir "$t" || status=1
	sys "$t" || status=1
done
echo "($N requests after $WARM warm-up, one kept-alive connection, tests/bench/chat.json)"
exit "$status"
