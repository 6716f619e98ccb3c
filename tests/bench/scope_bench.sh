#!/usr/bin/env bash
# make bench, scope part (run by tests/bench/run.sh): what capture.scope "tls" (the default)
# costs a request to a site that is no provider. Under "tls" every captured TCP connection to
# a TLS port goes to aigw, which peeks the ClientHello, finds another name and splices the
# connection through to where the app dialled. Measured: the latency of a full HTTPS request on
# a new connection (connect, TLS handshake, GET, the whole answer), tests/bench/tls_requests.py,
# one request after another:
#
#   uncaptured   from an uncaptured cgroup, straight to the site (the reference)
#   captured     the same from the captured cgroup: redirect -> peek -> passthrough -> site
#
# The site is the mock (build/mockprov) on a loopback address that no provider has, called by
# a name that is no provider's ("localhost", in its certificate); the client verifies the
# site's own certificate, so a minted one would fail. The reference is measured again at the
# end, to show drift. Knob: BENCH_SCOPE_REQUESTS (500). Never pass/fail on speed: exits
# non-zero only when a run fails or a passthrough is not recorded.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_label="scope bench"
bench_keep=""
N=${BENCH_SCOPE_REQUESTS:-500}
bench_setup
site="127.$((10 + RANDOM % 90)).0.51"
bench_mock "site.bench=$site"
port=$(free_port)
cat >"$tmp/aigw-policy.json" <<JSON
{ "capture": { "cgroup": "${root#"$cg2"}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port",
               "destroy_preexisting": false },
  "audit": { "path": "$tmp/audit.jsonl" },
  "ca": { "dir": "$tmp/ca" },
  "providers": { "bench": { "addresses": ["${site%.*}.99/32"] } } }
JSON
start aigw "$proxy" "$AIGW" run --policy "$tmp/aigw-policy.json" --pin-dir "$pins"
wait_log "$tmp/aigw.log" "ready:" "$last" || { cat "$tmp/aigw.log" >&2; say "aigw did not start"; exit 1; }

run() { in_cgroup "$1" /usr/bin/python3 "$B/tls_requests.py" "$site" localhost "$certs/ca.pem" "$2"; }
run "$plain" 50 >/dev/null # warm-up
run "$root/app" 50 >/dev/null
plain_json=$(run "$plain" "$N")
captured_json=$(run "$root/app" "$N")
end_json=$(run "$plain" "$N")
stop_proxy # flushes the audit log
/usr/bin/python3 - "$plain_json" "$captured_json" "$end_json" "$tmp/audit.jsonl" "$N" <<'PY'
import json, sys
plain, cap, end = (json.loads(a) for a in sys.argv[1:4])
recs = [json.loads(l) for l in open(sys.argv[4]) if l.strip()]
passed = sum(1 for r in recs if r.get("event.name") == "proxy.connection"
             and r.get("aigw.disposition") == "passthrough"
             and r.get("tls.client.server_name") == "localhost")
print(f"== capture.scope \"tls\": a non-provider HTTPS request on a new connection "
      f"({plain['n']} requests each, one at a time)")
for name, r in (("uncaptured", plain), ("captured, passed through", cap),
                ("uncaptured, again", end)):
    print(f"  {name:26s} p50 {r['p50_us']:6d} us  p90 {r['p90_us']:6d} us  "
          f"x{r['p50_us'] / plain['p50_us']:.2f} of uncaptured p50, failures {r['failures']}")
print(f"  captured p50 +{cap['p50_us'] - plain['p50_us']} us; passthrough records "
      f"{passed} (expected {50 + int(sys.argv[5])})")
bad = plain["failures"] or cap["failures"] or end["failures"] or passed != 50 + int(sys.argv[5])
sys.exit(1 if bad else 0)
PY
