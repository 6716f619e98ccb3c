#!/usr/bin/env bash
# make bench-streams: STREAMS_N (10,000) streamed chat calls held open at once through the plain
# daemon (build/aigw) against a slow provider, and the daemon's memory for them. A measurement;
# exits 1 when not every call could be held, or when the daemon's RSS with them all open is over
# STREAMS_MAX_RSS_MIB (1024).
#
# tests/bench/streams_client.py, in a captured cgroup, calls https://api.openai.com/v1/chat/
# completions unchanged (transparent capture: the app's TLS ends at aigw, aigw's own TLS goes to
# the mock, which the provider names resolve to through a private /etc/hosts). The mock sends
# each stream's first event and then waits ten minutes (x-mock-chunk-delay-ms). Printed: the
# daemon's RSS idle, with every call held (total and per call), its descriptors, and the mock's
# connections. Descriptor limits are raised for the daemon, the mock and the client (ulimit).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_label="bench-streams"
AIGW=${STREAMS_AIGW:-$AIGW} # another build of the daemon to compare
bench_keep=${STREAMS_KEEP:-}
N=${STREAMS_N:-10000}
CONNECTING=${STREAMS_CONNECTING:-100}
MAX_RSS_MIB=${STREAMS_MAX_RSS_MIB:-1024}
# The daemon holds two sockets a call (the app's, the provider's), the mock and the client one.
# The hard limit is raised when it is too low (root has CAP_SYS_RESOURCE); without that it caps
# them: then as many calls as it allows, and the figure for N extrapolated from the measured
# cost per call.
want=$((2 * N + 256))
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=$want
if ((hard < want)) && ulimit -Hn "$want" 2>/dev/null; then
	hard=$want
fi
ulimit -n $((want < hard ? want : hard))
WANT_N=$N
if ((want > hard)); then
	N=$(((hard - 256) / 2))
	echo "bench-streams: descriptors hard limit $hard: $N calls, not $WANT_N" >&2
fi

bench_setup
net=$((10 + RANDOM % 90))
bench_mock "api.openai.com=127.$net.0.71"
{
	bench_policy_head
	cat <<EOF2
  "providers": { "openai": { "hosts": ["api.openai.com"], "key_env": "AIGW_STREAMS_KEY" } },
  "workloads": [ { "name": "app", "match": { "cgroup": "${root#"$cg2"}/app" } } ] }
EOF2
} >"$tmp/aigw-policy.json"
export AIGW_STREAMS_KEY=sk-streams-openai
bench_daemon
fds() { find "/proc/$daemon/fd" -mindepth 1 -maxdepth 1 | wc -l; }

/usr/bin/python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); b["stream"] = True
print(json.dumps(b))' "$B/chat.json" >"$tmp/stream.json"
rss0=$(daemon_rss_kib)
say "$N streamed calls, $CONNECTING connecting at a time; daemon pid $daemon, RSS idle $rss0 KiB"
mkfifo "$tmp/hold"
t0=$(date +%s)
in_cgroup "$root/app" "${hostsns[@]}" /usr/bin/python3 "$B/streams_client.py" \
	https://api.openai.com/v1/chat/completions "$tmp/stream.json" "$tmp/ca/ca.pem" "$N" \
	"$CONNECTING" <"$tmp/hold" >"$tmp/client.out" 2>"$tmp/client.err" &
client=$!
exec 3>"$tmp/hold" # the client holds its calls until this closes
while kill -0 "$client" 2>/dev/null && ! grep -q '^held ' "$tmp/client.out"; do
	sleep 2
	say "  $(tail -n 1 "$tmp/client.out")  RSS $(daemon_rss_kib) KiB  $(($(date +%s) - t0)) s"
done
line=$(grep '^held ' "$tmp/client.out" || true)
[ -n "$line" ] || { cat "$tmp/client.err" >&2; say "the client ended early"; exit 1; }
read -r _ held failed <<<"$line"
sleep 1 # the last events on their way
rss1=$(daemon_rss_kib)
fds1=$(fds)
upstream=$(ss -Htn state established "$mock_ss" | wc -l)
exec 3>&- # release the calls
wait "$client" || true
per=$(((rss1 - rss0) * 1024 / (held > 0 ? held : 1)))
echo "bench-streams: $held calls held open ($failed failed) in $(($(date +%s) - t0)) s"
echo "bench-streams: daemon RSS idle $rss0 KiB, with them $rss1 KiB ($((rss1 / 1024)) MiB)," \
	"$per bytes per call; $fds1 descriptors; $upstream connections to the mock"
if ((N != WANT_N)); then
	echo "bench-streams: for $WANT_N calls, extrapolated: $(((rss0 * 1024 + per * WANT_N) >> 20)) MiB"
fi
[ -s "$tmp/client.err" ] && head -n 3 "$tmp/client.err" >&2
rc=0
((held == N)) || { say "FAIL: only $held of $N calls held"; rc=1; }
((rss1 * 1024 + per * (WANT_N - N) <= MAX_RSS_MIB << 20)) ||
	{ say "FAIL: RSS over $MAX_RSS_MIB MiB"; rc=1; }
exit $rc
