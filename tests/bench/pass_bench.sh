#!/usr/bin/env bash
# make bench, passthrough part (run by tests/bench/run.sh): what a passed-through connection
# costs against a direct one, measured in the same run. A server (pass_bench serve) on a
# loopback provider address; every connection opens with a ClientHello for a name that is no
# provider's, which aigw ("fronting": "passthrough") splices through untouched:
#
#   latency   connect, ClientHello + 64-byte request, 64-byte answer, close; p50 and p99 over
#             BENCH_PASS_CONNS (2000) connections
#   bulk      one connection downloading BENCH_PASS_MIB (256) MiB; MB/s, and the CPU time
#             aigw spent on it (its cgroup's cpu.stat)
#
# each from an uncaptured cgroup (direct, the reference) and from the captured one (through
# aigw), and as ratios. A measurement, never pass/fail on speed. BENCH_AIGW picks the daemon
# (default build/aigw), e.g. to compare two builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh # cgroups, processes, cleanup
bench_label="passthrough bench"
bench_keep=""
AIGW=${BENCH_AIGW:-$AIGW}
PB=build/tests/bench/pass_bench
N=${BENCH_PASS_CONNS:-2000}
MIB=${BENCH_PASS_MIB:-256}

bench_setup
printf '127.0.0.1 localhost\n' >"$tmp/hosts" # start() runs everything in the hosts namespace
addr="127.$((10 + RANDOM % 90)).0.43"
port=$(free_port)
cat >"$tmp/policy.json" <<JSON
{ "capture": { "cgroup": "${root#"$cg2"}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port",
               "destroy_preexisting": false, "fronting": "passthrough" },
  "audit": { "path": "$tmp/audit.jsonl" },
  "ca": { "dir": "$tmp/ca" }, "state": { "path": "$tmp/state.db" },
  "providers": { "bench": { "addresses": ["$addr/32"] } } }
JSON
chmod 600 "$tmp/policy.json"

start server "$mockcg" "$PB" serve "$addr" 443
wait_log "$tmp/server.log" ready "$last" || { say "server did not start"; exit 1; }
start aigw "$proxy" "$AIGW" run --policy "$tmp/policy.json" --pin-dir "$pins"
wait_log "$tmp/aigw.log" "ready:" "$last" || { cat "$tmp/aigw.log" >&2; exit 1; }

run() { in_cgroup "$1" "$PB" "$2" "$addr" 443 "$3"; }
run "$plain" latency 200 >/dev/null # warm-up, both ways
run "$root/app" latency 200 >/dev/null
direct_lat=$(run "$plain" latency "$N")
pass_lat=$(run "$root/app" latency "$N")
direct_bulk=$(run "$plain" bulk "$MIB")
cpu0=$(cpu_usec "$proxy")
pass_bulk=$(run "$root/app" bulk "$MIB")
cpu1=$(cpu_usec "$proxy")
n_pass=$(grep -c '"aigw.disposition":"passthrough"' "$tmp/audit.jsonl" || true)

/usr/bin/python3 - "$direct_lat" "$pass_lat" "$direct_bulk" "$pass_bulk" "$n_pass" \
	"$((cpu1 - cpu0))" <<'PY'
import json, sys
dl, pl, db, pb = (json.loads(a) for a in sys.argv[1:5])
cpu_us = int(sys.argv[6])
print(f"== passthrough against direct ({dl['n']} connections; {db['bytes'] >> 20} MiB bulk; "
      f"{sys.argv[5]} passthrough records)")
for k in ("p50_ns", "p99_ns"):
    print(f"  round trip {k[:3]}: direct {dl[k] / 1e3:8.1f} us, passthrough {pl[k] / 1e3:8.1f} us"
          f"  x{pl[k] / dl[k]:.2f}, +{(pl[k] - dl[k]) / 1e3:.1f} us")
print(f"  bulk:          direct {db['mb_per_s']:8.1f} MB/s, passthrough {pb['mb_per_s']:8.1f} MB/s"
      f"  x{pb['mb_per_s'] / db['mb_per_s']:.2f}")
print(f"  aigw's CPU for the passthrough bulk: {cpu_us / 1e3:.1f} ms "
      f"({cpu_us / 1e3 / (pb['bytes'] / 2**30):.1f} ms per GiB)")
print(f"  failures: direct {dl['failures']}, passthrough {pl['failures']}")
PY
