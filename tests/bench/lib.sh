# shellcheck shell=bash
# Shared by the HTTP benchmarks of `make bench` (http_bench.sh, gateway_bench.sh); sourced, after
# `set -euo pipefail` and a cd to the repository root. It owns what every one of them sets up the
# same way:
#
#   - the cgroups, under the cgroup2 mount: $root (captured by aigw; clients run in $root/app),
#     $plain (uncaptured clients), $mockcg (the mock provider), $proxy (the proxy under test);
#   - a private mount namespace whose /etc/hosts maps the provider names to the mock's loopback
#     addresses (hostsns, start), so that clients call https://api.openai.com/... unchanged;
#   - the mock provider (build/mockprov --deterministic, TLS, port 443, control port $ctl);
#   - wrk runs (probe, measure) that leave their results in $tmp/NAME.{meta,wrk,warm,mock0,mock1}
#     for a report script (benchlib.py reads them);
#   - cleanup, from the EXIT trap: every process started, aigw's pin dir, the cgroups, $tmp.
#
# The caller sets, before bench_setup: bench_label (prefix of messages), bench_keep (a directory
# to copy $tmp into at exit, or ""), and for measure: CONNS, THREADS, WARM, DUR.

AIGW=build/aigw
MOCK=build/mockprov
B=tests/bench

bench_setup() { # the cgroups, $tmp and the traps
	cg2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
	id=$$
	root="$cg2/aigw-test-bench-$id"        # captured by aigw; clients run in $root/app
	#                                         (and in $root/gov: a workload every control holds,
	#                                         $root/guard: one the guardrails scan)
	plain="$cg2/aigw-test-bench-$id-plain" # clients, uncaptured
	mockcg="$cg2/aigw-test-bench-$id-mock" # the mock provider
	proxy="$cg2/aigw-test-bench-$id-proxy" # the proxy under test (one at a time)
	pins="/sys/fs/bpf/aigw-test-bench-$id"
	tmp=$(mktemp -d)
	pids=()
	counters=() # measure's perf stat runs
	# CMD... in a private mount namespace whose /etc/hosts maps the provider names to the mock.
	# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
	hostsns=(unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$tmp/hosts")
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	mkdir -p "$root/app" "$root/gov" "$root/guard" "$plain" "$mockcg" "$proxy"
}

bench_cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for d in "$proxy" "$mockcg" "$root/app" "$root/gov" "$root/guard" "$plain"; do
		[ -d "$d" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
	done
	wait 2>/dev/null
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1
	for d in "$proxy" "$mockcg" "$root/app" "$root/gov" "$root/guard" "$root" "$plain"; do
		for _ in $(seq 50); do
			[ -d "$d" ] || break
			rmdir "$d" 2>/dev/null && break
			echo 1 >"$d/cgroup.kill" 2>/dev/null
			sleep 0.1
		done
	done
	if [ -n "${bench_keep:-}" ]; then
		mkdir -p "$bench_keep" && cp -r "$tmp"/. "$bench_keep"/ 2>/dev/null
	fi
	rm -rf "$tmp"
}

say() { echo "${bench_label:-bench}: $*" >&2; }

in_cgroup() { # CGROUP CMD...: run CMD inside CGROUP
	local cg=$1
	shift
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

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

wait_port() { # PORT PID: up to 15 s for a listener on 127.0.0.1:PORT while PID lives
	for _ in $(seq 150); do
		ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		kill -0 "$2" 2>/dev/null || return 1
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

# bench_mock HOST=ADDR...: the mock provider on each ADDR:443 (loopback), HOST mapped to ADDR in
# the namespace's /etc/hosts; its certificates in $certs, its control port $ctl. Exits on failure.
bench_mock() {
	local pair args=() filter=""
	if ! bash tests/mockprov/gen-certs.sh "$tmp/certs" >"$tmp/gen-certs.log" 2>&1; then
		cat "$tmp/gen-certs.log" >&2
		exit 1
	fi
	certs=$tmp/certs
	printf '127.0.0.1 localhost\n' >"$tmp/hosts"
	for pair in "$@"; do
		printf '%s %s\n' "${pair#*=}" "${pair%%=*}" >>"$tmp/hosts"
		args+=(--listen "${pair#*=}:443")
		filter+="${filter:+ or }dst ${pair#*=}"
	done
	mock_ss="( dport = :443 and ( $filter ) )" # ss filter: connections to the mock
	ctl=$(free_port)
	start mock "$mockcg" "$MOCK" "${args[@]}" --cert "$certs/server.pem" \
		--key "$certs/server.key" --control "127.0.0.1:$ctl" --deterministic
	if ! wait_log "$tmp/mock.log" "mockprov: ready" "$last"; then
		cat "$tmp/mock.log" >&2
		say "mockprov did not start"
		exit 1
	fi
}

mock_control() { # METHOD PATH: the mock's control API
	curl -sS --max-time 5 -X "$1" "http://127.0.0.1:$ctl$2"
}
mock_stats() { curl -sS --max-time 5 "http://127.0.0.1:$ctl/control/stats"; }

# TCP connections this machine opened, TCP segments it sent (all of it: a hint, not an exact
# count; loopback counts each segment once, as sent).
tcp_snmp() { # FIELD
	awk -v f="$1" '/^Tcp:/{if(!h){for(i=1;i<=NF;i++)n[$i]=i;h=1}else print $n[f]}' /proc/net/snmp
}
tcp_active_opens() { tcp_snmp ActiveOpens; }
cpu_usec() { awk '$1=="usage_usec"{print $2}' "$1/cpu.stat"; }
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

# probe NAME CGROUP URL [curl options...]: one request, the body wrk will send
# ($BENCH_CHAT_BODY, default tests/bench/chat.json), must answer 200 with $probe_expect in it
# (default: a chat completion).
probe() {
	local name=$1 cg=$2 url=$3 code expect=${probe_expect:-'"chat.completion"'}
	shift 3
	code=$(in_cgroup "$cg" "${hostsns[@]}" curl -sS --http1.1 --max-time 10 -o "$tmp/$name.probe" \
		-w '%{http_code}' -H 'content-type: application/json' \
		-H 'authorization: Bearer sk-bench-not-a-real-key' \
		--data-binary @"${BENCH_CHAT_BODY:-$B/chat.json}" \
		"$@" "$url" 2>>"$tmp/$name.probe.err") || true
	if [ "$code" != 200 ] || ! grep -qF "$expect" "$tmp/$name.probe"; then
		fail "$name" "a single request answered HTTP '$code': $(head -c 300 "$tmp/$name.probe" \
			"$tmp/$name.probe.err" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
}

# count_events CGROUP OUT: perf stat on every process of CGROUP (all their threads, user and
# kernel) for the measured $DUR seconds, in the background (measure waits for it): instructions
# (where the machine has a PMU: "<not supported>" in a VM without one), system calls entered,
# context switches, page faults; CSV in OUT, divided by wrk's requests in benchlib.perf_counts.
count_events() {
	local pl
	pl=$(paste -sd, "$1/cgroup.procs")
	[ -n "$pl" ] || return 0
	command -v perf >/dev/null || { echo "perf is missing" >"$2"; return 0; }
	timeout $((DUR + 10)) perf stat -x, -o "$2" -p "$pl" \
		-e instructions,raw_syscalls:sys_enter,context-switches,page-faults -- sleep "$DUR" \
		>/dev/null 2>&1 &
	counters+=($!)
	# BENCH_HTTP_RECORD=DIR: a profile of the proxy too (perf record, DIR/NAME.data)
	if [ -n "${BENCH_HTTP_RECORD:-}" ] && [ "$1" = "$proxy" ]; then
		mkdir -p "$BENCH_HTTP_RECORD"
		timeout $((DUR + 10)) perf record -F 2000 -g -o "$BENCH_HTTP_RECORD/${2##*/}.data" \
			-p "$pl" -- sleep "$DUR" >/dev/null 2>&1 &
		counters+=($!)
	fi
}

# measure NAME CGROUP URL [wrk options...]: warm-up, then the measured run, bounded; wrk sends
# $BENCH_CHAT_BODY (tests/bench/chat.lua).
measure() {
	local name=$1 cg=$2 url=$3 w
	shift 3
	local pin=()
	[ -n "${BENCH_HTTP_PIN:-}" ] && pin=(taskset -c "$BENCH_HTTP_PIN") # wrk on one core
	w=(timeout 30 "${pin[@]}" wrk -t"$THREADS" -c"$CONNS" --timeout 5s -s "$B/chat.lua" "$@")
	say "$name: warm-up ${WARM}s, then ${DUR}s measured"
	in_cgroup "$cg" "${hostsns[@]}" "${w[@]}" -d"${WARM}s" "$url" >"$tmp/$name.warm" 2>&1 || true
	sleep 0.2
	mock_stats >"$tmp/$name.mock0" || true
	meta "$name" "cpu_client0=$(cpu_usec "$cg")"
	meta "$name" "cpu_proxy0=$(cpu_usec "$proxy")"
	meta "$name" "cpu_mock0=$(cpu_usec "$mockcg")"
	meta "$name" "opens0=$(tcp_active_opens)"
	meta "$name" "segs0=$(tcp_snmp OutSegs)"
	meta "$name" "t0=$(date +%s.%N)"
	in_cgroup "$cg" "${hostsns[@]}" "${w[@]}" -d"${DUR}s" --latency "$url" >"$tmp/$name.wrk" 2>&1 &
	local wp=$!
	count_events "$proxy" "$tmp/$name.perf-proxy"
	count_events "$mockcg" "$tmp/$name.perf-mock"
	sleep "$(awk -v d="$DUR" 'BEGIN{print d/2}')"
	# Connections to the mock half-way through (for direct: wrk's own).
	meta "$name" "upstream_conns=$(ss -Htn state established "$mock_ss" | wc -l)"
	wait "$wp" || true
	meta "$name" "t1=$(date +%s.%N)"
	# (never a bare wait: it would wait for the proxy and the mock too)
	if ((${#counters[@]})); then wait "${counters[@]}" 2>/dev/null || true; fi
	counters=()
	meta "$name" "opens1=$(tcp_active_opens)"
	meta "$name" "segs1=$(tcp_snmp OutSegs)"
	meta "$name" "cpu_client1=$(cpu_usec "$cg")"
	meta "$name" "cpu_proxy1=$(cpu_usec "$proxy")"
	meta "$name" "cpu_mock1=$(cpu_usec "$mockcg")"
	sleep 0.2
	mock_stats >"$tmp/$name.mock1" || true
	meta "$name" "status=measured"
}

# bench_policy_head: the first lines of a policy for this run (make soak, make bench-streams):
# capture of $root on a free port, the audit log, the gateway CA and the mock's CA as upstream
# trust, the state database; the caller writes the rest (providers, models, workloads).
bench_policy_head() {
	local port
	port=$(free_port)
	cat <<EOF2
{ "capture": { "cgroup": "${root#"$cg2"}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port",
               "destroy_preexisting": false },
  "audit": { "path": "$tmp/audit.jsonl" },
  "ca": { "dir": "$tmp/ca" },
  "tls": { "upstream_ca": "$certs/ca.pem" },
  "state": { "path": "$tmp/state.db" },
EOF2
}

# bench_daemon: $AIGW on $tmp/aigw-policy.json in $proxy, ready; $daemon is its pid (the
# provider keys come from the caller's environment). Exits on failure.
bench_daemon() {
	local p
	start aigw "$proxy" "$AIGW" run --policy "$tmp/aigw-policy.json" --pin-dir "$pins"
	if ! wait_log "$tmp/aigw.log" "ready:" "$last"; then
		cat "$tmp/aigw.log" >&2
		say "aigw did not get ready"
		exit 1
	fi
	daemon=""
	for p in $(cat "$proxy/cgroup.procs"); do
		[[ "$(readlink "/proc/$p/exe")" == */aigw ]] && daemon=$p
	done
	[ -n "$daemon" ] || { say "no aigw process in $proxy"; exit 1; }
}
daemon_rss_kib() { awk '$1=="VmRSS:"{print $2}' "/proc/$daemon/status"; }
# Of it, the anonymous part (heap, stacks, data written) and the file-backed part (the binary's
# and libraries' pages read in): "ANON FILE" (KiB).
daemon_rss_parts() {
	awk '$1=="RssAnon:"{a=$2} $1=="RssFile:"{f=$2} END{print a, f}' "/proc/$daemon/status"
}

# bench_nginx_conf DIR PORT: nginx.conf of a plain TLS-terminating reverse proxy to the mock
# (bench_mock's $certs) on 127.0.0.1:PORT, one worker, its files in DIR (http_bench.sh,
# ir_bench.sh).
bench_nginx_conf() {
	local d=$1 port=$2
	cat <<EOF
# generated by tests/bench/lib.sh: a plain TLS-terminating reverse proxy to the mock
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
        ssl_protocols TLSv1.2 TLSv1.3;  # 1.22's default stops at 1.2; the others speak 1.3
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
            proxy_ssl_protocols TLSv1.2 TLSv1.3;
            proxy_buffering off;
        }
    }
}
EOF
}

# bench_aigw_policy PORT WORKERS: aigw's policy for the HTTP benchmarks: capture of $root on
# 127.0.0.1:PORT, WORKERS as the "proxy" members ("" or '"workers": 1'), the audit log in $tmp,
# the mock's CA as upstream trust, OpenAI as the one provider (http_bench.sh, ir_bench.sh).
bench_aigw_policy() {
	cat <<EOF
{ "capture": { "cgroup": "${root#"$cg2"}", "listen": "127.0.0.1:$1", "listen6": "[::1]:$1",
               "destroy_preexisting": false },
  "proxy": { $2 },
  "audit": { "path": "$tmp/audit.jsonl" },
  "ca": { "dir": "$tmp/ca" },
  "tls": { "upstream_ca": "$certs/ca.pem" },
  "providers": { "openai": { "hosts": ["api.openai.com"] } } }
EOF
}
