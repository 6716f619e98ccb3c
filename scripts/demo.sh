#!/usr/bin/env bash
# sudo make demo: aigw end to end on this machine, on loopback, cleaning up after itself.
#
#   mock OpenAI and Anthropic on loopback addresses, resolved by a private /etc/hosts
#   aigw capturing the cgroup <cgroup2>/aigw-demo-PID, two legacy apps inside it:
#     billing.service  (Python urllib -> OpenAI)      support.service (Node fetch, streaming -> Anthropic)
#   forecast.service (Python boto3 -> AWS Bedrock, converse and converse_stream): its SigV4
#   signature discarded, the call re-signed with the gateway's AWS key, recorded and costed
#   billing (curl) asking for a logical model name, "fast-summary" (OpenAI gpt-4o-mini, then
#   Anthropic claude-3-5-haiku-latest, Gemini gemini-2.5-flash, Claude 3.5 Haiku on Bedrock);
#   midway the OpenAI mock goes down and the answers keep coming from Anthropic, translated;
#   then Anthropic too (Gemini answers), then Gemini too (Claude on Bedrock answers, the OpenAI
#   chat translated to Messages and signed with SigV4); then every provider comes back
#   governance: research.service may use gpt-4o-mini only, no files API, and $0.0001 a day:
#   a model it may not use, an endpoint outside inference, its budget running out
#   guardrails: support's prompt carries a customer's e-mail and card number: the provider gets
#   placeholders, support reads its own values back; a cloud key in a prompt is refused
#   a shadow-IT attempt (QUIC, and another port) from billing, denied by the kernel, and a
#   domain-fronted one (another SNI to the provider's address), closed by aigw
#   capture everywhere: billing dials an OpenAI edge address aigw never resolved (intercepted),
#   and a container (own network namespace, docker-<id>.scope cgroup) is served from a
#   listener aigw opens inside its namespace
#   operations: /healthz and /metrics on the admin endpoint (and the dashboard's address)
#   the audit log, verified against its signed checkpoints, read back as a report: calls,
#   fallbacks, tokens and cost; and finance's view: the cost ledger by team and model
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
EDGE=127.77.0.23 # another edge address of OpenAI's, one aigw never resolved
BEDROCK=127.77.0.24
BEDROCK_HOST=bedrock-runtime.us-east-1.amazonaws.com
GEMINI=127.77.0.25
GEMINI_HOST=generativelanguage.googleapis.com
# The gateway's AWS key (the only one the mock Bedrock accepts) and forecast's own fake one.
GW_AWS_ID=AKIDDEMOGATEWAY00001 GW_AWS_SECRET=demo/gateway+secretEXAMPLE
APP_AWS_ID=AKIDFORECASTAPP00002
CTR=$(printf 'c0ffee%.0s' 1 2 3 4 5 6 7 8 9 10)c0ff # a container id: 64 hex digits
pids=()

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$AIGW" detach --pin-dir "$pins" >/dev/null 2>&1
	for d in "$cgroot/billing.service" "$cgroot/support.service" "$cgroot/research.service" \
		"$cgroot/forecast.service" "$cgroot/pods/docker-$CTR.scope" "$cgroot/pods" \
		"$cgroot"; do
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

step "mock providers on loopback ($OPENAI and $EDGE api.openai.com, $ANTHROPIC api.anthropic.com," \
	"$BEDROCK $BEDROCK_HOST, $GEMINI $GEMINI_HOST)"
bash tests/mockprov/gen-certs.sh "$tmp/certs" >/dev/null
printf '127.0.0.1 localhost\n%s api.openai.com\n%s api.anthropic.com\n%s %s\n%s %s\n' \
	"$OPENAI" "$ANTHROPIC" "$BEDROCK" "$BEDROCK_HOST" "$GEMINI" "$GEMINI_HOST" >"$tmp/hosts"
"$MOCK" --listen "$OPENAI:443" --listen "$EDGE:443" --listen "$ANTHROPIC:443" \
	--listen "$BEDROCK:443" --listen "$GEMINI:443" --aws-key "$GW_AWS_ID=$GW_AWS_SECRET" \
	--cert "$tmp/certs/server.pem" --key "$tmp/certs/server.key" --control 127.0.0.1:0 \
	>"$tmp/mock.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "mockprov: ready" "$tmp/mock.log" && break; sleep 0.1; done
grep -q "mockprov: ready" "$tmp/mock.log" || { cat "$tmp/mock.log"; exit 1; }
control=$(awk '$2=="control"{print $3; exit}' "$tmp/mock.log")
# The mock's fault switch (plain HTTP on loopback, outside the captured cgroup).
mock_control() { curl -fsS -m 5 -X POST "http://$control/control/$1" >/dev/null; }

step "aigw capturing $cgroot (policy: $tmp/policy.json)"
mkdir -p "$cgroot/billing.service" "$cgroot/support.service" "$cgroot/research.service" \
	"$cgroot/forecast.service" "$cgroot/pods/docker-$CTR.scope"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
aport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The provider keys live only in the gateway (a file, an environment variable): the apps'
# own keys are replaced on the way out.
(umask 077 && echo sk-demo-gateway-openai >"$tmp/openai.key")
cat >"$tmp/policy.json" <<JSON
{
  "capture":   { "cgroup": "${cgroot#$cg2}", "listen": "127.0.0.1:$port", "listen6": "[::1]:$port" },
  "audit":     { "path": "$tmp/audit.jsonl" },
  "ca":        { "dir": "$tmp/ca" },
  "tls":       { "upstream_ca": "$tmp/certs/ca.pem" },
  "providers": { "openai":    { "hosts": ["api.openai.com"], "key_file": "$tmp/openai.key" },
                 "anthropic": { "hosts": ["api.anthropic.com"], "key_env": "AIGW_DEMO_ANTHROPIC_KEY" },
                 "bedrock":   { "hosts": ["$BEDROCK_HOST"], "api": "bedrock",
                                "aws": { "region": "us-east-1",
                                         "access_key_id_env": "AIGW_DEMO_AWS_ID",
                                         "secret_access_key_env": "AIGW_DEMO_AWS_SECRET" } },
                 "gemini":    { "hosts": ["$GEMINI_HOST"], "api": "gemini",
                                "key_env": "AIGW_DEMO_GEMINI_KEY" } },
  "models":    { "fast-summary": [ { "provider": "openai",    "model": "gpt-4o-mini" },
                                   { "provider": "anthropic", "model": "claude-3-5-haiku-latest" },
                                   { "provider": "gemini",    "model": "gemini-2.5-flash" },
                                   { "provider": "bedrock",
                                     "model": "anthropic.claude-3-5-haiku-20241022-v1:0" } ] },
  "routing":   { "retries": 1, "backoff_ms": 50, "breaker": { "failures": 3, "open_ms": 1500 } },
  "state":     { "path": "$tmp/state.db" },
  "ledger":    { "path": "$tmp/ledger.db" },
  "admin":     { "listen": "127.0.0.1:$aport" },
  "guardrails": { "standard": {
                   "request":  { "pii": "tokenize", "secrets": "block", "injection": "record" },
                   "response": { "pii": "redact" },
                   "patterns": [ { "name": "codename", "regex": "(?i)\\\\bbluebird\\\\b", "action": "block" } ] } },
  "workloads": [ { "name": "billing", "team": "finance",       "match": { "cgroup": "/*/billing*" } },
                 { "name": "support", "team": "customer-care", "match": { "cgroup": "/*/support*" },
                   "guardrails": "standard" },
                 { "name": "research", "team": "labs", "match": { "cgroup": "/*/research*" },
                   "allow":  { "models": ["gpt-4o-mini"] },
                   "budget": { "usd_per_day": 0.0001, "warn_at": 0.5 } },
                 { "name": "forecast", "team": "planning", "match": { "cgroup": "/*/forecast*" } },
                 { "name": "catalog", "team": "search", "match": { "cgroup": "/*/pods/*" } } ]
}
JSON
AIGW_DEMO_ANTHROPIC_KEY=sk-ant-demo-gateway AIGW_DEMO_GEMINI_KEY=demo-gemini-gateway-key \
	AIGW_DEMO_AWS_ID=$GW_AWS_ID AIGW_DEMO_AWS_SECRET=$GW_AWS_SECRET \
	"${in_hosts[@]}" "$AIGW" run --policy "$tmp/policy.json" --pin-dir "$pins" 2>"$tmp/aigw.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "ready:" "$tmp/aigw.log" && break; sleep 0.1; done
grep -q "ready:" "$tmp/aigw.log" || { cat "$tmp/aigw.log"; exit 1; }
sed 's/^/  /' "$tmp/aigw.log"

# The apps trust the gateway CA the ordinary way; nothing else about them changes.
export SSL_CERT_FILE=$tmp/ca/ca.pem NODE_EXTRA_CA_CERTS=$tmp/ca/ca.pem CURL_CA_BUNDLE=$tmp/ca/ca.pem

step "legacy apps, unmodified, calling the providers by name"
in_cgroup "$cgroot/billing.service" "${in_hosts[@]}" /usr/bin/python3 scripts/demo/billing_app.py
in_cgroup "$cgroot/support.service" "${in_hosts[@]}" node scripts/demo/support_app.mjs

step "forecast: a boto3 app on AWS Bedrock, its own AWS key; the gateway re-signs with its own"
# Debian's botocore predates Converse: the app loads bedrock-runtime's service model from
# AWS_DATA_PATH, and trusts the gateway CA through AWS_CA_BUNDLE, as boto3 apps do.
mock_control reset
in_cgroup "$cgroot/forecast.service" "${in_hosts[@]}" env AWS_ACCESS_KEY_ID=$APP_AWS_ID \
	AWS_SECRET_ACCESS_KEY=forecast-own-secret AWS_CA_BUNDLE="$tmp/ca/ca.pem" \
	AWS_DATA_PATH="$ROOT/tests/e2e/clients/aws-models" AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
	/usr/bin/python3 scripts/demo/forecast_app.py
curl -fsS -m 5 "http://$control/control/requests" >"$tmp/mock.requests" || : >"$tmp/mock.requests"
/usr/bin/python3 - "$tmp/mock.requests" "$tmp/audit.jsonl" "$APP_AWS_ID" <<'PY'
import json, re, sys
sys.path.insert(0, "scripts/demo")
from audit_lines import wait_records
reqs, path, app_id = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
for line in reqs.splitlines():
    q = json.loads(line)
    if q["path"].startswith("/model/"):
        cred = re.search(r"Credential=([^/,]+)/", q.get("authorization", ""))
        print(f"    Bedrock received: {q['path'].rsplit('/', 1)[1]:<15} signed by "
              f"{cred.group(1) if cred else '?'} -> {q['status']}")
print(f"    forecast's own key {app_id}: "
      + ("reached Bedrock (!)" if app_id in reqs else "never left the gateway"))
recs = wait_records(path, lambda r: r.get("event.name") == "proxy.request"
                    and r.get("aigw.workload") == "forecast", 2)
for r in recs:
    n = r.get("aigw.cost.nano_usd")
    cost = (f"{n // 10**9}.{n % 10**9:09d} USD" if n is not None
            else f"null ({r.get('aigw.cost.reason')})")
    print(f"    gateway: {r['aigw.request_id']} {r['aigw.workload']} -> {r['gen_ai.system']}/"
          f"{r.get('gen_ai.request.model')}, {r.get('gen_ai.usage.input_tokens')} in / "
          f"{r.get('gen_ai.usage.output_tokens')} out, key: {r.get('aigw.credential')},"
          f" cost {cost}")
PY

step "billing asks for \"fast-summary\" (policy: OpenAI gpt-4o-mini, then Anthropic" \
	"claude-3-5-haiku-latest, Gemini gemini-2.5-flash, Claude 3.5 Haiku on Bedrock)"
# The app is plain curl speaking OpenAI's API with its own key; only the model name is the
# policy's. Its answer is read (outside the cgroup) for one line each.
billing_summary() {
	local invoice
	for invoice in "$@"; do
		in_cgroup "$cgroot/billing.service" "${in_hosts[@]}" curl -sS --fail-with-body -m 20 \
			-H "content-type: application/json" -H "authorization: Bearer sk-billing-own-key" \
			--data-binary '{"model": "fast-summary", "messages": [{"role": "user", "content": "Summarise: '"$invoice"'"}]}' \
			https://api.openai.com/v1/chat/completions |
			/usr/bin/python3 -c 'import json, sys
a = json.load(sys.stdin)
if "choices" not in a:
    sys.exit("  billing  : curl %r -> no answer: %s" % (sys.argv[1], a.get("error", a)))
text = a["choices"][0]["message"]["content"]
print("  billing  : curl %r -> %s from %s: %s..." % (sys.argv[1], a["object"], a["model"], text[:36]))' "$invoice"
	done
}
# What the gateway recorded for WANT routed calls after the first SKIP: who answered, and how.
gateway_saw() {
	/usr/bin/python3 - "$tmp/audit.jsonl" "$1" "$2" <<'PY'
import sys
sys.path.insert(0, "scripts/demo")
from audit_lines import wait_records
path, skip, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

recs = wait_records(path, lambda r: r.get("event.name") == "proxy.request"
                    and r.get("aigw.route"), skip + want)
for r in recs[skip:skip + want]:
    passed = {}  # (provider, failed|skipped): [status or error, ...]
    for a in r.get("aigw.attempts", []):
        if a["aigw.result"] != "ok":
            err = a.get("error.type", "")
            why = a.get("http.response.status_code") or ("circuit open" if "circuit open" in err else err)
            verb = "skipped" if a["aigw.result"] == "skipped" else "failed"
            passed.setdefault((a["gen_ai.system"], verb), []).append(str(why))
    how = [f"{p} {v}: {', '.join(w)}" for (p, v), w in passed.items()] or ["first choice"]
    if r.get("aigw.translated"):
        how.append("translated")
    how.append(f"{r.get('aigw.credential', '?')} key")
    print(f"    gateway: {r['aigw.route']} -> {r['gen_ai.system']}/{r.get('aigw.upstream.model')}"
          f" ({'; '.join(how)})")
PY
}
billing_summary "INV-1044: 3 seats added"
gateway_saw 0 1

step "OpenAI goes down (the mock answers every OpenAI call 503); billing keeps asking"
echo "  (policy: one retry, then the next target; 3 failures open OpenAI's circuit for 1.5 s)"
mock_control "fault?mode=down&provider=openai"
billing_summary "INV-1045: refund, order 77" "INV-1046: support plan" "INV-1047: 40 seats, monthly"
gateway_saw 1 3

step "Anthropic goes down too: Gemini answers billing's OpenAI calls, translated"
mock_control "fault?mode=down&provider=anthropic"
billing_summary "INV-1049: 2 seats removed"
gateway_saw 4 1

step "Gemini goes down too: Claude on Bedrock answers (OpenAI chat -> Messages, signed with SigV4)"
mock_control "fault?mode=down&provider=gemini"
billing_summary "INV-1050: new region"
gateway_saw 5 1

step "every provider is back; once the circuits' open time has passed, the next call probes OpenAI"
mock_control reset
sleep 1.6
billing_summary "INV-1048: annual renewal"
gateway_saw 6 1

step "governance: research may use gpt-4o-mini only, inference endpoints only, \$0.0001 a day"
# research is curl, unmodified; each line is what it got back (outside the cgroup we only
# read the answer).
research() { # LABEL METHOD PATH [BODY]
	local label=$1 method=$2 path=$3 body=${4:-}
	in_cgroup "$cgroot/research.service" "${in_hosts[@]}" curl -sS -m 20 -X "$method" \
		-H "content-type: application/json" -H "authorization: Bearer sk-research-own" \
		${body:+--data-binary "$body"} -D "$tmp/research.head" -o "$tmp/research.body" \
		"https://api.openai.com$path" || true
	/usr/bin/python3 - "$label" "$tmp/research.head" "$tmp/research.body" <<'PY'
import json, sys
label, head, body = sys.argv[1], open(sys.argv[2]).read().splitlines(), open(sys.argv[3]).read()
status = head[0].split()[1] if head else "?"
retry = next((h.split(":", 1)[1].strip() for h in head if h.lower().startswith("retry-after:")), None)
try:
    a = json.loads(body)
except ValueError:
    a = {}
if "error" in a:
    e = a["error"]
    what = f"{e.get('type')}: {e.get('message')}" + (f" (retry-after {retry} s)" if retry else "")
else:
    what = f"{a.get('object', 'answer')} from {a.get('model', '?')}"
print(f"  research : {label:<28} -> {status} {what}")
PY
}
chat() { echo '{"model": "'"$1"'", "max_tokens": 60, "messages": [{"role": "user", "content": "Summarise the lab notes"}]}'; }
research "chat gpt-4o (not allowed)" POST /v1/chat/completions "$(chat gpt-4o)"
research "list the org's files" GET /v1/files
for i in 1 2 3 4 5 6; do
	research "chat gpt-4o-mini #$i" POST /v1/chat/completions "$(chat gpt-4o-mini)"
done
/usr/bin/python3 - "$tmp/audit.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event.name") == "budget.warn":
        print(f"    gateway: budget.warn {r['aigw.budget.scope']} ({r['aigw.budget.period']}): "
              f"${r['aigw.budget.used_usd']:.6f} of ${r['aigw.budget.limit_usd']:.6f} spent")
PY

step "guardrails: support writes about a customer (profile \"standard\": pii tokenize, secrets block)"
# support is curl, unmodified, asking Anthropic; the mock answers with the prompt itself
# (x-mock-reply-echo), so a placeholder that went out comes back. We read, outside the cgroup,
# what the mock provider received and what support got.
support_ask() { # LABEL PROMPT
	in_cgroup "$cgroot/support.service" "${in_hosts[@]}" curl -sS -m 20 \
		-H "content-type: application/json" -H "x-api-key: sk-ant-support-own" \
		-H "anthropic-version: 2023-06-01" -H "x-mock-reply-echo: 1" \
		--data-binary '{"model": "claude-3-5-haiku-latest", "max_tokens": 200, "messages": [{"role": "user", "content": "'"$2"'"}]}' \
		-o "$tmp/support.body" https://api.anthropic.com/v1/messages || true
	curl -fsS -m 5 "http://$control/control/requests" >"$tmp/mock.requests" || : >"$tmp/mock.requests"
	/usr/bin/python3 - "$1" "$tmp/support.body" "$tmp/mock.requests" <<'PY'
import json, sys
label, body, reqs = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read().splitlines()
a = json.loads(body or "{}")
last = json.loads(reqs[-1]) if reqs else {}
if a.get("type") == "error":
    print(f"  support  : {label:<14} -> refused: {a['error']['type']}: {a['error']['message']}")
else:
    sent = json.loads(last.get("body") or "{}").get("messages", [{}])[-1].get("content", "?")
    text = "".join(b.get("text", "") for b in a.get("content", []))
    print(f"  support  : {label:<14} -> Anthropic received: {sent}")
    print(f"  {'':<26}    support read back:  {text}")
PY
}
mock_control reset
support_ask "customer data" "Reply to john.doe@example.com: card 4111 1111 1111 1111 was charged twice"
support_ask "a cloud key" "Deploy with AKIAIOSFODNN7EXAMPLE today"
sleep 0.3
/usr/bin/python3 - "$tmp/audit.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    g = r.get("aigw.guardrails")
    if r.get("aigw.workload") == "support" and g and (g.get("request") or g.get("blocked_by")):
        found = ", ".join(f"{k} x{v['count']} {v['action']}" for k, v in g.get("request", {}).items())
        print(f"    gateway: {r['aigw.request_id']} {found or '-'}"
              + (f"; blocked by {g['blocked_by']}" if g.get("blocked_by") else "")
              + f"; {g.get('restored', 0)} restored in the answer (the log holds no value)")
PY

step "shadow IT from billing: QUIC (UDP 443), another port, and domain fronting, straight to the provider"
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
# Domain fronting: TLS to OpenAI's address naming another host, the request inside for OpenAI.
if in_cgroup "$cgroot/billing.service" "${in_hosts[@]}" curl -sS -k -m 10 -o /dev/null \
	--resolve "cdn.example.net:443:$OPENAI" -H "host: api.openai.com" \
	https://cdn.example.net/v1/models 2>/dev/null; then
	echo "  fronting      : answered (!)"
else
	echo "  fronting      : SNI cdn.example.net to OpenAI's address - closed by aigw (policy capture.fronting)"
fi
sleep 0.5

step "capture everywhere: an edge address aigw never resolved, and a container in its own network namespace"
# capture.scope "tls" (the default): every TLS connection of the captured tree comes to aigw,
# whatever its address; the ClientHello decides. billing dials OpenAI at $EDGE itself.
if in_cgroup "$cgroot/billing.service" "${in_hosts[@]}" curl -sS -m 10 -o /dev/null \
	--resolve "api.openai.com:443:$EDGE" -H "authorization: Bearer sk-billing-own" \
	-H "content-type: application/json" -d "$(printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}')" \
	https://api.openai.com/v1/chat/completions; then
	echo "  edge address  : $EDGE answered through aigw (intercepted, re-keyed, recorded)"
fi
# A container: its own network namespace and a cgroup named as Docker names its scopes. aigw
# opens a listener inside the namespace at its first captured connect (refused until then).
ctr_call() {
	in_cgroup "$cgroot/pods/docker-$CTR.scope" unshare -n -m --propagation private \
		sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$tmp/hosts" sh -c '
		for i in $(seq 100); do
			curl -sS -m 5 -o /dev/null -H "authorization: Bearer sk-catalog-own" \
				-H "content-type: application/json" -d "$1" \
				https://api.openai.com/v1/chat/completions 2>/dev/null && { echo "$i"; exit 0; }
			sleep 0.02
		done; exit 1' sh "$(printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from a pod"}]}')"
}
if n=$(ctr_call); then
	echo "  container     : answered on attempt $n (the earlier ones refused while aigw opened its listener there)"
fi
sleep 0.3
/usr/bin/python3 - "$tmp/audit.jsonl" "$EDGE" <<'PY'
import json, sys
edge = sys.argv[2]
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event.name") != "proxy.request":
        continue
    if r.get("network.peer.address") == edge or r.get("aigw.workload") == "catalog":
        n = r.get("aigw.cost.nano_usd") or 0
        where = f"container {r['container.id'][:12]}, netns {r.get('aigw.netns')}" if r.get("container.id") else f"address {r.get('network.peer.address')}"
        print(f"    gateway: {r['aigw.request_id']} {r.get('aigw.workload')} ({where}), key: {r.get('aigw.credential')}, "
              f"cost {n // 10**9}.{n % 10**9:09d} USD")
PY

step "operations: the admin endpoint (dashboard at http://127.0.0.1:$aport/ while it runs)"
curl -fsS -m 5 "http://127.0.0.1:$aport/healthz" | sed 's/^/  healthz: /'; echo
curl -fsS -m 5 "http://127.0.0.1:$aport/metrics" >"$tmp/metrics.txt" || : >"$tmp/metrics.txt"
grep -E '^(aigw_requests_total|aigw_cost_usd_total|aigw_denied_total|aigw_fallbacks_total)' \
	"$tmp/metrics.txt" | sort | head -n 12 | sed 's/^/  /'

step "the audit log: tamper-evident, held to its signed checkpoints"
kill -TERM "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
"$AIGW" audit verify "$tmp/audit.jsonl" --pubkey "$tmp/ca/audit-checkpoint.key.pub" \
	--checkpoints "$tmp/audit.jsonl-checkpoints" | sed 's/^/  /'

step "report"
"$AIGW" report "$tmp/audit.jsonl"
echo

step "finance: the cost ledger, by team and model (aigw report --ledger)"
"$AIGW" report --ledger "$tmp/ledger.db" --by team,model
echo
