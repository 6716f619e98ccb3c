#!/usr/bin/env bash
# sudo make demo: aigw end to end on this machine, on loopback, cleaning up after itself.
#
#   mock OpenAI and Anthropic on loopback addresses, resolved by a private /etc/hosts
#   aigw capturing the cgroup <cgroup2>/aigw-demo-PID, two legacy apps inside it:
#     billing.service  (Python urllib -> OpenAI)      support.service (Node fetch, streaming -> Anthropic)
#   a shadow-IT attempt (QUIC, and another port) from billing, denied by the kernel
#   the audit log, verified, and read back as a report
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AIGW=$ROOT/build/aigw
MOCK=$ROOT/build/mockprov
cg2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
[ -n "$cg2" ] || { echo "demo: no cgroup2 mount" >&2; exit 1; }
id=$$
cgroot="$cg2/aigw-demo-$id"
pins=/sys/fs/bpf/aigw-demo-$id
tmp=$(mktemp -d /tmp/aigw-demo.XXXXXX)
OPENAI=127.77.0.21
ANTHROPIC=127.77.0.22
pids=()

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1
	for d in "$cgroot/billing.service" "$cgroot/support.service" "$cgroot"; do
		[ -d "$d" ] && { echo 1 >"$d/cgroup.kill"; rmdir "$d"; } 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# A private mount namespace whose /etc/hosts names the mock providers (the machine's own
# /etc/hosts is never touched); `unshare` execs, so a background $! is the program's pid.
in_hosts=(unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$tmp/hosts")
in_cgroup() { local cg=$1; shift; sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }

step "mock providers on loopback ($OPENAI api.openai.com, $ANTHROPIC api.anthropic.com)"
bash tests/mockprov/gen-certs.sh "$tmp/certs" >/dev/null
printf '127.0.0.1 localhost\n%s api.openai.com\n%s api.anthropic.com\n' "$OPENAI" "$ANTHROPIC" >"$tmp/hosts"
"$MOCK" --listen "$OPENAI:443" --listen "$ANTHROPIC:443" --cert "$tmp/certs/server.pem" \
	--key "$tmp/certs/server.key" >"$tmp/mock.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "mockprov: ready" "$tmp/mock.log" && break; sleep 0.1; done

step "aigw capturing $cgroot (policy: $tmp/policy.json)"
mkdir -p "$cgroot/billing.service" "$cgroot/support.service"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/policy.json" <<JSON
{
  "capture":   { "cgroup": "${cgroot#$cg2}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port" },
  "audit":     { "path": "$tmp/audit.jsonl" },
  "ca":        { "dir": "$tmp/ca" },
  "tls":       { "upstream_ca": "$tmp/certs/ca.pem" },
  "providers": { "openai":    { "hosts": ["api.openai.com"] },
                 "anthropic": { "hosts": ["api.anthropic.com"] } },
  "workloads": [ { "name": "billing", "team": "finance",       "match": { "cgroup": "*/billing*" } },
                 { "name": "support", "team": "customer-care", "match": { "cgroup": "*/support*" } } ]
}
JSON
"${in_hosts[@]}" "$AIGW" run --policy "$tmp/policy.json" --pin-dir "$pins" 2>"$tmp/aigw.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "ready:" "$tmp/aigw.log" && break; sleep 0.1; done
grep -q "ready:" "$tmp/aigw.log" || { cat "$tmp/aigw.log"; exit 1; }
sed 's/^/  /' "$tmp/aigw.log"

# The apps trust the gateway CA the ordinary way; nothing else about them changes.
export SSL_CERT_FILE=$tmp/ca/ca.pem NODE_EXTRA_CA_CERTS=$tmp/ca/ca.pem

step "legacy apps, unmodified, calling the providers by name"
in_cgroup "$cgroot/billing.service" "${in_hosts[@]}" /usr/bin/python3 scripts/demo/billing_app.py
in_cgroup "$cgroot/support.service" "${in_hosts[@]}" node scripts/demo/support_app.mjs

step "shadow IT from billing: QUIC (UDP 443) and another port, straight to the provider"
in_cgroup "$cgroot/billing.service" "${in_hosts[@]}" /usr/bin/python3 - <<'PY'
import socket
for what, kind, port in (("QUIC  udp/443 ", socket.SOCK_DGRAM, 443), ("HTTPS tcp/8443", socket.SOCK_STREAM, 8443)):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.connect(("api.openai.com", port)); s.send(b"x")
        print(f"  {what}: connected (!)")
    except OSError as e:
        print(f"  {what}: {e.strerror} - refused by the kernel")
    s.close()
PY
sleep 0.5

step "the audit log: tamper-evident"
kill -TERM "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
"$AIGW" audit verify "$tmp/audit.jsonl" | sed 's/^/  /'

step "report"
"$AIGW" report "$tmp/audit.jsonl"
echo
