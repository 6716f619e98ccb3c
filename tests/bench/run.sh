#!/usr/bin/env bash
# make bench: measurements, never pass/fail. Each figure is a ratio against a reference
# measured in the same run on the same machine.
#
# connect(): the cost capture adds to a workload's connect(), three ways:
#   plain      an uncaptured cgroup connecting to a listener (the reference)
#   miss       a captured cgroup connecting to a non-provider address (the hooks run, no match)
#   redirect   a captured cgroup connecting to a provider address (rewritten to aigw)
#
# Then capture.scope "tls" (tests/bench/scope_bench.sh): the latency of a full HTTPS request on
# a new connection to a site that is no provider, captured (peeked, spliced through) against
# uncaptured, p50 as a ratio. BENCH_SCOPE=0 skips it.
# Then passthrough (tests/bench/pass_bench.sh): a passed-through connection's round trip
# (p50/p99) and bulk throughput against a direct one, and aigw's CPU for the bulk.
# BENCH_PASS=0 skips it.
#
# Then HTTP (tests/bench/http_bench.sh, after this part's daemon and pins are gone): a small
# chat completion over kept-alive connections with wrk, direct to the mock provider and through
# nginx, HAProxy, aigw (transparent capture) and Portkey's gateway, side by side.
# BENCH_HTTP=0 skips it; see http_bench.sh for its knobs.
#
# Then the gateway's own overheads (tests/bench/gateway_bench.sh): the CPU cost of reading the
# usage and of translating between the providers' APIs (bench_providers, in isolation), the
# latency they add end to end, and the time to first token through a fallback, each against the
# direct call in the same run. BENCH_GATEWAY=0 skips it; see gateway_bench.sh for its knobs.
#
# Then Bedrock (tests/bench/bench_bedrock.c): SigV4 signing and event-stream parsing per call.
# Then the policy pipeline (tests/bench/bench_pipeline.c): the CPU time per call of every
# governance control (allow-lists, limits, budgets) against the same call with none; the cost
# ledger (tests/bench/bench_ledger.c): what ledger_submit() costs the event loop per call,
# against no ledger, and the rows per second its writer thread commits; the metrics
# (tests/bench/bench_metrics.c): what counting a call's end costs against none, and rendering
# /metrics once with the series of 20 workloads x 10 models; audit checkpoints
# (tests/bench/bench_checkpoint.c): what signing costs the audit writer; the guardrails'
# scan in MB/s per core (tests/bench/bench_guard_scan.c) and their cost per request and per
# streamed event (tests/bench/bench_guard.c).
#
# Last, audit durability (tests/bench/bench_durability.c): how long a call's end waits for its
# record with "strict", and the writer's time per record, against "batched".
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/tests/bench/connect_bench
AIGW=build/aigw
N=${BENCH_CONNECTS:-3000}
cg2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
id=$$
root="$cg2/aigw-test-bench-$id"
plain="$cg2/aigw-test-bench-$id-plain"
pins="/sys/fs/bpf/aigw-test-bench-$id"
tmp=$(mktemp -d)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	pids=()
	wait 2>/dev/null || true
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1 || true
	for d in "$root/app" "$root" "$plain"; do
		[ -d "$d" ] && { echo 1 >"$d/cgroup.kill" 2>/dev/null || true; rmdir "$d" 2>/dev/null || true; }
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$root/app" "$plain"

in_cgroup() { # CGROUP CMD...: run CMD inside CGROUP
	local cg=$1
	shift
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/policy.json" <<JSON
{ "capture": { "cgroup": "${root#$cg2}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port",
               "destroy_preexisting": false },
  "audit": { "path": "$tmp/audit.jsonl" },
  "providers": { "bench": { "addresses": ["127.9.0.2/32"] } } }
JSON

"$BIN" serve 127.9.0.2 443 >/dev/null &
pids+=($!)
"$BIN" serve 127.9.0.5 443 >/dev/null &
pids+=($!)
"$AIGW" run --policy "$tmp/policy.json" --pin-dir "$pins" 2>"$tmp/aigw.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "ready:" "$tmp/aigw.log" && break; sleep 0.1; done
grep -q "ready:" "$tmp/aigw.log" || { cat "$tmp/aigw.log"; exit 1; }

run() { in_cgroup "$1" "$BIN" connect "$2" 443 "$N"; }
run "$plain" 127.9.0.5 >/dev/null # warm-up
plain_json=$(run "$plain" 127.9.0.5)
miss_json=$(run "$root/app" 127.9.0.5)
redirect_json=$(run "$root/app" 127.9.0.2)

/usr/bin/python3 - "$plain_json" "$miss_json" "$redirect_json" <<'PY'
import json, sys
plain, miss, red = (json.loads(a) for a in sys.argv[1:4])
print(f"connect() cost, {plain['n']} connects each, median (mean) ns:")
for name, r in (("uncaptured cgroup", plain), ("captured, non-provider", miss),
                ("captured, redirected", red)):
    print(f"  {name:26s} {r['median_ns']:8d} ({r['mean_ns']:8d})  "
          f"x{r['median_ns'] / plain['median_ns']:.2f} of uncaptured, "
          f"+{r['median_ns'] - plain['median_ns']} ns, failures {r['failures']}")
PY

# The connect() part is done: its daemon, pins and cgroups go before the HTTP part starts,
# so that each proxy there is measured alone.
cleanup
trap - EXIT
status=0
if [ "${BENCH_SCOPE:-1}" != 0 ]; then
	bash tests/bench/scope_bench.sh || status=$?
fi
if [ "${BENCH_PASS:-1}" != 0 ]; then
	bash tests/bench/pass_bench.sh || status=$?
fi
if [ "${BENCH_HTTP:-1}" != 0 ]; then
	bash tests/bench/http_bench.sh || status=$?
fi
if [ "${BENCH_GATEWAY:-1}" != 0 ]; then
	bash tests/bench/gateway_bench.sh || status=$?
fi
# The policy pipeline's CPU cost per call, every control on against none (bench_pipeline.c).
echo "== policy pipeline (CPU per call, in isolation)"
build/tests/bench/bench_pipeline || status=$?
# Bedrock: SigV4 re-signing and event-stream parsing, CPU per call (bench_bedrock.c).
echo "== bedrock: SigV4 signing and event-stream parsing (CPU per call, in isolation)"
build/tests/bench/bench_bedrock || status=$?
# The guardrails' scanner, MB/s per core: Vectorscan against a PCRE2 JIT alternation.
echo "== guardrails scan (CPU, in isolation)"
build/tests/bench/bench_guard_scan || status=$?
# The guardrails' CPU cost per 4 KB request and per streamed event (bench_guard.c).
echo "== guardrails (CPU per request and per streamed event, in isolation)"
build/tests/bench/bench_guard || status=$?
# The cost ledger's cost per call: the event loop's copy and enqueue, the writer's rows/s.
echo "== cost ledger (per call record, in isolation)"
build/tests/bench/bench_ledger || status=$?
# What the metrics cost a call's end against none, and one /metrics render (bench_metrics.c).
echo "== metrics (per call end and per /metrics render, in isolation)"
build/tests/bench/bench_metrics || status=$?
# What signed audit checkpoints cost the audit writer (bench_checkpoint.c).
echo "== audit checkpoints (writer CPU per record, in isolation)"
build/tests/bench/bench_checkpoint || status=$?
# What audit.durability "strict" costs a call against "batched" (bench_durability.c): the log
# on the disk this checkout is on (BENCH_AUDIT_DIR to pick another), not a tmpfs.
echo "== audit durability: strict against batched"
bdir=$(mktemp -d "${BENCH_AUDIT_DIR:-$PWD/build}/bench-audit.XXXXXX")
build/tests/bench/bench_durability "$bdir" || status=$?
rm -rf "$bdir"
exit "$status"
