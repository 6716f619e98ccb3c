#!/usr/bin/env bash
# make soak: a million requests through the plain daemon (build/aigw), and whether it keeps its
# memory and descriptors. A benchmark, not part of make test; fails (exit 1) when the RSS grew
# more than SOAK_MAX_DRIFT % (5) from after the first phase to the end, when the daemon holds
# more descriptors at the end than after the first phase, or when a response was not 200.
#
# wrk (tests/bench/soak.lua, -t1 -c$SOAK_CONNS) in a captured cgroup calls
# https://api.openai.com/v1/chat/completions unchanged (transparent capture; the provider names
# resolve to the mock through a private /etc/hosts), turn by turn: a plain chat completion, the
# same streaming, a logical model name routed to Anthropic (request and answer translated), and
# the same streaming; every call is audited. In phases of SOAK_PHASE (100,000) requests up to
# SOAK_REQUESTS (1,000,000): after each, the daemon's RSS (VmRSS; beside it RssAnon, its heap,
# stacks and written data, and RssFile, its binary's and libraries' pages read in as code paths
# first run) and open descriptors once the clients' connections are gone, less the
# daemon's connections kept alive to the mock (its upstream pool: how many it keeps varies,
# not a leak), and the time.
# Each phase is bounded by SOAK_PHASE_TIMEOUT seconds (1800).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_label="soak"
bench_keep=${SOAK_KEEP:-}
TOTAL=${SOAK_REQUESTS:-1000000}
PHASE=${SOAK_PHASE:-100000}
CONNS=${SOAK_CONNS:-16}
MAX_DRIFT=${SOAK_MAX_DRIFT:-5}
PHASE_TIMEOUT=${SOAK_PHASE_TIMEOUT:-1800}
if ! ((PHASE >= 1000 && TOTAL >= 2 * PHASE && TOTAL % PHASE == 0 && CONNS >= 1)); then
	echo "soak: need SOAK_PHASE >= 1000 and SOAK_REQUESTS a multiple of it, at least two" >&2
	exit 2
fi

bench_setup
net=$((10 + RANDOM % 90))
bench_mock "api.openai.com=127.$net.0.61" "api.anthropic.com=127.$net.0.62"

{
	bench_policy_head
	cat <<EOF2
  "providers": {
    "openai": { "hosts": ["api.openai.com"], "key_env": "AIGW_SOAK_OPENAI_KEY" },
    "anthropic": { "hosts": ["api.anthropic.com"], "key_env": "AIGW_SOAK_ANTHROPIC_KEY" } },
  "models": { "soak-claude": [ { "provider": "anthropic", "model": "claude-3-5-haiku-latest" } ] },
  "workloads": [ { "name": "app", "match": { "cgroup": "${root#"$cg2"}/app" } } ] }
EOF2
} >"$tmp/aigw-policy.json"
export AIGW_SOAK_OPENAI_KEY=sk-soak-openai AIGW_SOAK_ANTHROPIC_KEY=sk-ant-soak
bench_daemon

/usr/bin/python3 - "$B/chat.json" "$tmp" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
for name, model, stream in (("plain", "gpt-4o-mini", False), ("stream", "gpt-4o-mini", True),
                            ("xlate", "soak-claude", False), ("xlate-stream", "soak-claude", True)):
    open(f"{sys.argv[2]}/{name}.json", "w").write(
        json.dumps(dict(b, model=model, stream=stream), separators=(",", ":")))
PY
URL=https://api.openai.com/v1/chat/completions
for k in plain stream xlate xlate-stream; do
	probe_expect='"model"'
	BENCH_CHAT_BODY=$tmp/$k.json probe "$k" "$root/app" "$URL" --cacert "$tmp/ca/ca.pem" ||
		exit 1
done

# Open descriptors, less the connections to the mock kept alive in the upstream pool.
fds() {
	local all pooled
	all=$(find "/proc/$daemon/fd" -mindepth 1 -maxdepth 1 | wc -l)
	pooled=$(ss -Htnp state established "$mock_ss" | grep -c "pid=$daemon," || true)
	echo $((all - pooled))
}
# The descriptor count once the clients' connections are closed: the same for 1 s (up to 30 s).
settled_fds() {
	local prev=-1 n same=0
	for _ in $(seq 300); do
		n=$(fds)
		if [ "$n" = "$prev" ]; then
			same=$((same + 1))
			((same >= 10)) && break
		else
			same=0
		fi
		prev=$n
		sleep 0.1
	done
	echo "$prev"
}

export SOAK_DIR=$tmp SOAK_REQUESTS=$PHASE SOAK_THREADS=1
t0=$(date +%s)
done_n=0 bad=0 rss0=0 fds0=0
say "$TOTAL requests in phases of $PHASE, wrk -c$CONNS, daemon pid $daemon"
while ((done_n < TOTAL)); do
	rm -f "$tmp/phase.done"
	in_cgroup "$root/app" "${hostsns[@]}" timeout "$PHASE_TIMEOUT" wrk -t1 -c"$CONNS" \
		-d"${PHASE_TIMEOUT}s" --timeout 10s -s "$B/soak.lua" "$URL" >"$tmp/wrk.out" 2>&1 &
	wp=$!
	while kill -0 "$wp" 2>/dev/null && [ ! -e "$tmp/phase.done" ]; do sleep 0.2; done
	for p in $(cat "$root/app/cgroup.procs"); do # wrk reports and exits on SIGINT
		[[ "$(readlink "/proc/$p/exe")" == */wrk ]] && kill -INT "$p"
	done
	wait "$wp" || true
	line=$(sed -n 's/^SOAKJSON //p' "$tmp/wrk.out")
	if [ -z "$line" ]; then
		cat "$tmp/wrk.out" >&2
		say "wrk did not finish a phase"
		exit 1
	fi
	n=$(echo "$line" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["responses"])')
	b=$(echo "$line" | /usr/bin/python3 -c \
		'import json,sys; j=json.load(sys.stdin); print(j["not_200"] + j["errors"] + j["timeouts"])')
	((n >= PHASE)) || { say "a phase answered only $n of $PHASE: $line"; exit 1; }
	done_n=$((done_n + n))
	bad=$((bad + b))
	f=$(settled_fds)
	r=$(daemon_rss_kib)
	read -r anon file < <(daemon_rss_parts)
	if ((rss0 == 0)); then
		rss0=$r fds0=$f anon0=$anon file0=$file
	fi
	say "$(printf '%8d requests  %5d s  RSS %7d KiB (anon %6d, file %6d)  fds %5d  failed %d' \
		"$done_n" "$(($(date +%s) - t0))" "$r" "$anon" "$file" "$f" "$bad")"
done
secs=$(($(date +%s) - t0))
drift=$(awk -v a="$rss0" -v b="$r" 'BEGIN{printf "%.2f", (b - a) * 100 / a}')
stop_proxy # flushes the audit log
# The calls' records: how many, translated, streamed (each a quarter or a half of them).
records=$(/usr/bin/python3 -c 'import json, sys
n = x = st = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event.name") == "proxy.request":
        n += 1
        x += r.get("aigw.translated") is True
        st += r.get("aigw.stream") is True
print(f"{n} call records, {x} translated, {st} streamed")' "$tmp/audit.jsonl")
echo "soak: $done_n requests in $secs s ($((done_n / (secs > 0 ? secs : 1))) req/s); failed $bad"
echo "soak: RSS after $PHASE: $rss0 KiB, at the end: $r KiB, drift $drift % (max $MAX_DRIFT %)"
echo "soak: of which anonymous (heap, stacks, data written) $anon0 -> $anon KiB, file-backed" \
	"(the binary's and libraries' pages read in) $file0 -> $file KiB"
echo "soak: descriptors after $PHASE: $fds0, at the end: $f; audit: $records"
rc=0
awk -v d="$drift" -v m="$MAX_DRIFT" 'BEGIN{exit !(d > m)}' && { say "FAIL: RSS drift"; rc=1; }
((f > fds0)) && { say "FAIL: $((f - fds0)) descriptors more than after the first phase"; rc=1; }
((bad == 0)) || { say "FAIL: $bad requests failed"; rc=1; }
exit $rc
