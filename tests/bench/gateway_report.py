"""The gateway benchmark's report (tests/bench/gateway_bench.sh): reads what it left in the temp
dir (micro.jsonl from bench_providers, the wrk runs, ttft-*.jsonl, aigw's audit log), checks
that every figure measured what it says it did, and prints the tables, each against the direct
call measured in the same run.

usage: gateway_report.py TMPDIR "CONNS..." SAMPLES ROUNDS KEY=VALUE...   (conditions)

Exit status: 1 when something could not be measured validly (a benchmark of errors is
worthless); never on speed.
"""
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

from benchlib import check_wrk, read_meta

tmp = Path(sys.argv[1])
conns_list = [int(c) for c in sys.argv[2].split()]
samples, rounds = int(sys.argv[3]), int(sys.argv[4])
cond = dict(a.split("=", 1) for a in sys.argv[5:])
failed = []


def f(v, fmt, dash="-"):
    return dash if v is None else format(v, fmt)


def pct(xs, p):
    """Nearest-rank percentile P of XS."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


# ---- 1. CPU cost in isolation ----------------------------------------------------------------
micro = {}
mp = tmp / "micro.jsonl"
if mp.exists():
    for line in mp.read_text().splitlines():
        r = json.loads(line)
        micro[r["id"]] = r

print()
print("=" * 100)
print("Gateway overheads: usage extraction, translation, fallback -- each against the direct "
      "call, in one run")
print("=" * 100)
print(f"machine: {cond.get('cores', '?')} cores ({cond.get('cpu', '?')}), kernel "
      f"{cond.get('kernel', '?')}; clients, aigw and the mock share these cores (no pinning); "
      f"load average {cond.get('load0', '?')} before, {cond.get('load1', '?')} after")

if micro:
    any_r = next(iter(micro.values()))
    print()
    print(f"1. CPU cost in isolation (build/tests/bench/bench_providers, -O2, the objects of "
          f"build/aigw): ns per call, median of {any_r['runs']} interleaved runs (fastest.."
          f"slowest run); inputs captured from the mock in this run")
    hdr = (f"   {'what':62s} {'bytes':>6s} {'ns/call':>9s} {'range':>15s} {'+ns vs memcpy':>13s} "
           f"{'ns/event':>8s}")
    print(hdr)
    print("   " + "-" * (len(hdr) - 3))
    group = None
    for r in micro.values():
        if r["group"] != group:
            group = r["group"]
            title = {"answer": "whole answer (non-streaming)",
                     "stream": f"stream ({r['events']} events, fed one event at a time, as the "
                               f"mock sends them)",
                     "request": "request"}.get(group, group)
            print(f"   {title}:")
        ref = micro.get(r["ref"]) if r["ref"] else None
        rng = f"{r['ns_min']:.0f}..{r['ns_max']:.0f}"
        print(f"     {r['label']:60s} {r['bytes']:6d} {r['ns']:9.0f} {rng:>15s} "
              f"{f(r['ns'] - ref['ns'] if ref else None, '+13.0f'):>13s} "
              f"{f(r['ns'] / r['events'] if r['events'] else None, '8.0f'):>8s}")

# ---- 2. added latency, non-streaming -----------------------------------------------------------
WRK = [("direct", "a  direct -> mock, OpenAI API (reference)"),
       ("direct-anth", "a' direct -> mock, Anthropic API (translated request)"),
       ("aigw", "b  aigw, OpenAI -> OpenAI (usage read)"),
       ("aigw-gov", "g  the same, every governance control on"),
       ("aigw-guard", "h  the same, the standard guardrails on"),
       ("aigw-routed", "b' aigw, logical name -> OpenAI"),
       ("aigw-xlate", "c  aigw, logical name -> Anthropic, translated"),
       ("direct-end", "   direct again, last (drift)")]
wrk = {}
for c in conns_list:
    for t, _ in WRK:
        name = f"{t}-c{c}"
        m = read_meta(tmp, name)
        r = {"name": name, "meta": m, "problems": [], "notes": []}
        wrk[name] = r
        if m.get("status") != "measured":
            r["problems"].append(m.get("why", "not measured"))
            continue
        check_wrk(tmp, name, r)

if conns_list:
    body = (tmp / "fixtures" / "request.json").stat().st_size if \
        (tmp / "fixtures" / "request.json").exists() else "?"
    print()
    print(f"2. Added latency, non-streaming chat completion ({body}-byte request: system prompt, "
          f"three turns, one tool); wrk {cond.get('wrk', '')} -t1 -cN kept-alive, "
          f"{cond.get('warm')} s warm-up then {cond.get('dur')} s measured; same mock; ms")
    for c in conns_list:
        d = wrk.get(f"direct-c{c}")
        d = d if d and not d["problems"] else None
        print(f"   -c{c}:")
        hdr = (f"     {'target':54s} {'req/s':>7s} {'p50':>6s} {'p99':>6s} {'+p50':>7s} "
               f"{'+p99':>7s} {'x p50':>6s} {'x req/s':>8s}")
        print(hdr)
        print("     " + "-" * (len(hdr) - 5))
        for t, label in WRK:
            r = wrk[f"{t}-c{c}"]
            if r["problems"]:
                print(f"     {label:54s} FAILED (see below)")
                continue
            rel = d and t != "direct"
            print(f"     {label:54s} {r['rps']:7.0f} {r['p50']:6.3f} {r['p99']:6.3f} "
                  f"{f(r['p50'] - d['p50'] if rel else None, '+7.3f'):>7s} "
                  f"{f(r['p99'] - d['p99'] if rel else None, '+7.3f'):>7s} "
                  f"{f(r['p50'] / d['p50'] if rel else None, '6.2f'):>6s} "
                  f"{f(r['rps'] / d['rps'] if rel else None, '8.2f'):>8s}")
        print("     (+p50/+p99: added to direct's, in ms; x p50, x req/s: ratios to direct's)")

# ---- 3. time to first token --------------------------------------------------------------------
TTFT = [("direct", "d  direct -> mock, OpenAI stream (reference)"),
        ("direct-anth", "d' direct -> mock, Anthropic stream"),
        ("aigw", "e  aigw, OpenAI -> OpenAI"),
        ("aigw-routed", "e' aigw, logical name, OpenAI first (healthy)"),
        ("fallback", "f  aigw, OpenAI down (503) -> Anthropic, translated")]
ttft = {}
for t, _ in TTFT:
    r = {"problems": [], "ttft": [], "head": [], "total": [], "reconnects": 0, "events": None,
         "opens": None}
    ttft[t] = r
    p = tmp / f"ttft-{t}.jsonl"
    if not p.exists():
        r["problems"].append("not measured")
        continue
    for line in p.read_text().splitlines():
        j = json.loads(line)
        if j.get("errors"):
            r["problems"].append(f"{j['errors']} calls failed: {j.get('first_error')}")
        r["ttft"] += j.get("ttft_us", [])
        r["head"] += j.get("head_us", [])
        r["total"] += j.get("total_us", [])
        r["reconnects"] += j.get("reconnects", 0)
        r["events"] = j.get("events", r["events"])
    if len(r["ttft"]) < samples // rounds * rounds:
        r["problems"].append(f"{len(r['ttft'])} calls counted of {samples}")
    if r["reconnects"]:
        r["problems"].append(f"{r['reconnects']} counted calls opened a new connection "
                             f"(kept-alive broke)")
    op = tmp / f"ttft-{t}.opens"
    if op.exists():
        calls = opens = 0
        for line in op.read_text().split("\n"):
            if line.strip():
                a, b = line.split()
                calls, opens = calls + int(a), opens + int(b)
        r["opens"] = opens / calls if calls else None
    if r["ttft"]:
        r["med"], r["p90"] = statistics.median(r["ttft"]) / 1000, pct(r["ttft"], 90) / 1000
        r["head_med"] = statistics.median(r["head"]) / 1000
        r["total_med"] = statistics.median(r["total"]) / 1000

if (tmp / "ttft-direct.jsonl").exists():
    print()
    print(f"3. Time to first token, the same request streaming: time from writing the request to "
          f"reading the first SSE event with content (tests/bench/ttft.py, Python, one kept-alive "
          f"HTTPS connection, one call at a time); {samples // rounds * rounds} calls per "
          f"target in {rounds} interleaved rounds (+{cond.get('ttft_warm', '?')} uncounted "
          f"per round); ms")
    d = ttft["direct"] if not ttft["direct"]["problems"] else None
    hdr = (f"   {'target':52s} {'median':>7s} {'p90':>7s} {'+median':>8s} {'+p90':>7s} "
           f"{'x med':>6s} {'headers':>7s} {'whole':>7s} {'TCP opens':>9s}")
    print(hdr)
    print("   " + "-" * (len(hdr) - 3))
    for t, label in TTFT:
        r = ttft[t]
        if r["problems"] or not r["ttft"]:
            print(f"   {label:52s} FAILED (see below)")
            continue
        rel = d and t != "direct"
        print(f"   {label:52s} {r['med']:7.3f} {r['p90']:7.3f} "
              f"{f(r['med'] - d['med'] if rel else None, '+8.3f'):>8s} "
              f"{f(r['p90'] - d['p90'] if rel else None, '+7.3f'):>7s} "
              f"{f(r['med'] / d['med'] if rel else None, '6.2f'):>6s} "
              f"{r['head_med']:7.3f} {r['total_med']:7.3f} {f(r['opens'], '9.2f'):>9s}")
    print("   (+median/+p90: added to direct's, in ms; x med: ratio to direct's; headers, whole: "
          "medians of the time to the\n    response headers and to the end of the stream; TCP "
          "opens: connections the machine opened per call, the client's own included)")

# ---- the audit log: did each aigw figure measure what it says? ---------------------------------
audit_problems = []
audit_notes = []
fb0 = fb1 = attempts_line = None
if (tmp / "aigw-policy.json").exists() and conns_list:
    recs = []
    ap = tmp / "audit.jsonl"
    if ap.exists():
        for line in ap.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("event.name") == "proxy.request":
                    recs.append(r)

    def row_of(r):
        model, stream = r.get("gen_ai.request.model"), r.get("aigw.stream")
        if r.get("aigw.workload") == "governed":
            return "wrk aigw-gov" if model == "gpt-4o-mini" and not stream else "other"
        if r.get("aigw.workload") == "guarded":
            return "wrk aigw-guard" if model == "gpt-4o-mini" and not stream else "other"
        if model == "gpt-4o-mini":
            return "ttft aigw" if stream else "wrk aigw"
        if model == "bench-openai" and not stream:
            return "wrk aigw-routed"
        if model == "bench-claude" and not stream:
            return "wrk aigw-xlate"
        if model == "bench-fallback" and stream:
            return "ttft fallback" if r.get("aigw.fallback") else "ttft aigw-routed"
        return "other"

    by = {}
    for r in recs:
        by.setdefault(row_of(r), []).append(r)
    want = Counter()
    gone_max = Counter()
    for c in conns_list:
        for t in ("aigw", "aigw-gov", "aigw-guard", "aigw-routed", "aigw-xlate"):
            w = wrk.get(f"{t}-c{c}")
            if w and "wrk" in w:
                want[f"wrk {t}"] += w["wrk"]["requests"] + (w["warm"]["requests"] if w["warm"]
                                                            else 0)
                gone_max[f"wrk {t}"] += 2 * c
    for t in ("aigw", "aigw-routed", "fallback"):
        want[f"ttft {t}"] += len(ttft[t]["ttft"])
    if by.get("other"):
        audit_problems.append(f"{len(by['other'])} proxy.request records of no target, e.g. "
                              f"{json.dumps(by['other'][0])[:300]}")
    for row, n_want in want.items():
        rs = by.get(row, [])
        ok = [r for r in rs if r.get("http.response.status_code") == 200 and
              r.get("aigw.outcome") == "ok"]
        gone = [r for r in rs if r.get("aigw.outcome") == "client_gone"]
        other = len(rs) - len(ok) - len(gone)
        if len(ok) < n_want:
            audit_problems.append(f"{row}: {len(ok)} records with 200 for {n_want} calls "
                                  f"the client counted")
        if other:
            bad = next(r for r in rs if r not in ok and r not in gone)
            audit_problems.append(f"{row}: {other} records neither 200 nor client_gone, e.g. "
                                  f"{bad.get('aigw.outcome')} {bad.get('error.type')}")
        if len(gone) > gone_max[row]:
            audit_problems.append(f"{row}: {len(gone)} client_gone, more than wrk can leave "
                                  f"in flight")
        no_usage = sum(1 for r in ok if not (r.get("gen_ai.usage.output_tokens") or 0) > 0 or
                       r.get("cost_usd") is None)
        if no_usage:
            audit_problems.append(f"{row}: {no_usage} records with 200 but no usage or cost")
        wrong = 0
        for r in ok:
            atts = [(a.get("gen_ai.system"), a.get("aigw.result"))
                    for a in r.get("aigw.attempts") or []]
            if row == "wrk aigw-xlate":
                wrong += not (r.get("aigw.translated") is True and
                              r.get("gen_ai.system") == "anthropic")
            elif row == "ttft fallback":
                wrong += not (r.get("aigw.translated") is True and
                              atts == [("openai", "fell_back"), ("anthropic", "ok")])
            elif row == "wrk aigw-gov":  # every control decided, reserved and settled
                wrong += not (r.get("aigw.policy.action") == "allow" and
                              len(r.get("aigw.policy.decisions") or []) >= 4 and
                              r.get("aigw.budget.settled_nano") is not None and
                              r.get("aigw.limits.tokens_reserved"))
            elif row == "wrk aigw-guard":  # scanned: the record says so
                wrong += not (isinstance(r.get("aigw.guardrails"), dict) and
                              r["aigw.guardrails"].get("profile") == "standard")
            elif row == "ttft aigw-routed":
                wrong += not (r.get("aigw.fallback") is False and r.get("aigw.translated") in
                              (None, False) and r.get("gen_ai.system") == "openai")
            else:
                wrong += not (r.get("gen_ai.system") == "openai" and
                              r.get("aigw.translated") in (None, False))
        if wrong:
            audit_problems.append(f"{row}: {wrong} records that did not take the path measured "
                                  f"(translated / fallback / provider / policy)")
        audit_notes.append(f"{row}: {len(ok)} records with 200, usage and cost for {n_want} "
                           f"counted calls; {len(gone)} client_gone")

    def attempt_ms(row, i):
        xs = [(r.get("aigw.attempts") or [{}] * (i + 1))[i].get("aigw.latency_ms")
              for r in by.get(row, []) if r.get("aigw.outcome") == "ok"]
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    fb0, fb1 = attempt_ms("ttft fallback", 0), attempt_ms("ttft fallback", 1)
    ok0 = attempt_ms("ttft aigw-routed", 0)
    if fb0 is not None and fb1 is not None:
        attempts_line = (f"the fallback's attempts, as aigw timed them (medians): the failed "
                         f"OpenAI call {fb0:.3f} ms, then Anthropic {fb1:.3f} ms; a healthy "
                         f"OpenAI call (e') {f(ok0, '.3f')} ms")
        audit_notes.append(attempts_line)

# ---- problems, notes -----------------------------------------------------------------------------
print()
for name, r in wrk.items():
    for n in r["notes"]:
        print(f"   note, {name}: {n}")
    if r["problems"]:
        failed.append(name)
        print(f"   FAILED, {name}: " + "; ".join(r["problems"]))
for t, r in ttft.items():
    if r["problems"] and (tmp / "ttft-direct.jsonl").exists():
        failed.append(f"ttft {t}")
        print(f"   FAILED, ttft {t}: " + "; ".join(r["problems"]))
for n in audit_notes:
    print(f"   audit log, {n}")
for p in audit_problems:
    failed.append("audit")
    print(f"   FAILED, audit log: {p}")

# ---- the answer, in a few lines ---------------------------------------------------------------
print()
noise = {}
for c in conns_list:
    d, e = wrk.get(f"direct-c{c}"), wrk.get(f"direct-end-c{c}")
    if d and e and not d["problems"] and not e["problems"]:
        noise[c] = abs(e["p50"] - d["p50"])
print("In short (each figure from this run; the noise floor of an end-to-end p50 is how far direct "
      "moved between its two runs: " +
      (", ".join(f"-c{c} {v:.3f} ms" for c, v in noise.items()) or "unknown") + "):")
if micro:
    m = micro
    print(f" - usage extraction, CPU: {m['answer_usage']['ns'] / 1000:.2f} us per whole OpenAI "
          f"answer ({m['answer_usage']['bytes']} B), in place of the JSON check the proxy makes "
          f"of every answer anyway ({m['answer_check']['ns'] / 1000:.2f} us): net "
          f"{(m['answer_usage']['ns'] - m['answer_check']['ns']) / 1000:+.2f} us; "
          f"{m['stream_usage']['ns'] / 1000:.1f} us per {m['stream_usage']['events']}-event stream "
          f"({m['stream_usage']['ns'] / m['stream_usage']['events']:.0f} ns/event, SSE framing "
          f"{m['stream_sse']['ns'] / m['stream_sse']['events']:.0f} ns/event of it)")
    xl = m["request_xlate_o2a"]["ns"] + m["answer_path_xlate"]["ns"]
    print(f" - translation, CPU: {xl / 1000:.1f} us per non-streaming call (request "
          f"{m['request_xlate_o2a']['ns'] / 1000:.1f} + answer with usage "
          f"{m['answer_path_xlate']['ns'] / 1000:.1f}); a translated "
          f"{m['stream_xlate_a2o']['events']}-event stream "
          f"{m['stream_xlate_a2o']['ns'] / 1000:.1f} us "
          f"({m['stream_xlate_a2o']['ns'] / m['stream_xlate_a2o']['events']:.0f} ns/event)")
for c in conns_list:
    g = {t: wrk.get(f"{t}-c{c}") for t, _ in WRK}
    if any(not g[t] or g[t]["problems"] for t in ("direct", "aigw", "aigw-routed", "aigw-xlate")):
        continue
    d, a, rt, x = g["direct"], g["aigw"], g["aigw-routed"], g["aigw-xlate"]
    line = (f" - non-streaming, -c{c}: aigw (interception + usage) adds {a['p50'] - d['p50']:+.3f} "
            f"ms p50 / {a['p99'] - d['p99']:+.3f} ms p99 to direct ({a['p50'] / d['p50']:.2f}x "
            f"p50, {a['rps'] / d['rps']:.2f}x req/s); translated: {x['p50'] - d['p50']:+.3f} ms "
            f"p50 / {x['p99'] - d['p99']:+.3f} ms p99 ({x['p50'] / d['p50']:.2f}x p50); "
            f"translation itself (c - b') {x['p50'] - rt['p50']:+.3f} ms p50")
    da = g["direct-anth"]
    if da and not da["problems"]:
        line += (f", {(x['p50'] - da['p50']) - (rt['p50'] - d['p50']):+.3f} ms once the mock's "
                 f"own Anthropic-vs-OpenAI difference ({da['p50'] - d['p50']:+.3f}) is taken out")
    print(line)
    gv = g.get("aigw-gov")
    if gv and not gv["problems"]:
        print(f"   every governance control on (g - b): {gv['p50'] - a['p50']:+.3f} ms p50 / "
              f"{gv['p99'] - a['p99']:+.3f} ms p99, {gv['rps'] / a['rps']:.2f}x req/s")
    gd = g.get("aigw-guard")
    if gd and not gd["problems"]:
        print(f"   the standard guardrails on (h - b): {gd['p50'] - a['p50']:+.3f} ms p50 / "
              f"{gd['p99'] - a['p99']:+.3f} ms p99, {gd['rps'] / a['rps']:.2f}x req/s")
if all(ttft[t].get("ttft") and not ttft[t]["problems"] for t in ("direct", "aigw", "fallback")):
    d, e, fb = ttft["direct"], ttft["aigw"], ttft["fallback"]
    line = (f" - time to first token: aigw {e['med'] - d['med']:+.3f} ms median "
            f"({e['med'] / d['med']:.2f}x direct); through the fallback (a failed OpenAI call, "
            f"then Anthropic, translated) {fb['med'] - d['med']:+.3f} ms median, "
            f"{fb['p90'] - d['p90']:+.3f} ms p90 ({fb['med'] / d['med']:.2f}x direct)")
    er = ttft["aigw-routed"]
    if er.get("ttft") and not er["problems"]:
        line += f"; the fallback's own share (f - e') {fb['med'] - er['med']:+.3f} ms"
    print(line)
    if fb.get("opens") is not None and er.get("opens") is not None:
        print(f"   TCP connections opened per call: fallback {fb['opens']:.2f}, e' "
              f"{er['opens']:.2f}: " + ("aigw closes the failed attempt's upstream connection "
                                        "(its answer is not read), so each fallback call "
                                        "connects and handshakes with OpenAI again"
                                        if fb["opens"] - er["opens"] > 0.5 else
                                        "the failed attempt's connection is reused"))
    if attempts_line:
        print(f"   {attempts_line}")

if failed:
    print(f"\ngateway bench: could not measure {', '.join(sorted(set(failed)))} (see above)",
          file=sys.stderr)
    sys.exit(1)
