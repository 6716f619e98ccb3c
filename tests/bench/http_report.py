"""The HTTP benchmark's report (tests/bench/http_bench.sh): reads what each round of each target
left in the temp dir (TARGET-rN.*), checks that every round really answered 200s from the mock,
prints the table of medians over the rounds and aigw's standing against nginx and HAProxy, with
each round's figures.

usage: http_report.py TMPDIR "TARGETS" KEY=VALUE...   (the conditions: conns, dur, cores, ...)

Exit status: 1 when a target other than portkey could not be set up or measured validly (a
benchmark of errors is worthless); never on speed.
"""
import statistics
import sys
from pathlib import Path

from benchlib import check_wrk, perf_counts, read_meta

tmp = Path(sys.argv[1])
targets = sys.argv[2].split()
cond = dict(a.split("=", 1) for a in sys.argv[3:])
OPTIONAL = {"portkey", "direct-end"}
LABEL = {"direct": "direct (no proxy)", "nginx": "nginx", "haproxy": "HAProxy",
         "aigw": "aigw (eBPF capture)", "aigw_all": "aigw, all workers",
         "portkey": "Portkey gateway"}


def analyse(run, t):
    """One measured run (a round of target T, or direct-end): its figures, or its problems."""
    m = read_meta(tmp, run)
    r = {"name": run, "meta": m, "problems": [], "notes": []}
    if m.get("status") != "measured":
        r["problems"].append(m.get("why", "not measured"))
        return r
    if not check_wrk(tmp, run, r):
        return r
    w, warm, n = r["wrk"], r["warm"], r["wrk"]["requests"]
    if t in ("aigw", "aigw_all"):
        a200, aother = int(m.get("audit_200", -1)), int(m.get("audit_other", -1))
        want = n + (warm["requests"] if warm else 0)
        if a200 < want:
            r["problems"].append(f"audit log has {a200} proxy.request records with 200, "
                                 f"wrk counted {want}")
        gone = int(m.get("audit_client_gone", 0))
        if aother:
            r["problems"].append(f"audit log has {aother} proxy.request records that are "
                                 f"neither 200 nor client_gone")
        if gone > 2 * int(cond["conns"]):
            r["problems"].append(f"audit log has {gone} client_gone requests, more than wrk "
                                 f"can leave in flight")
        r["notes"].append(f"audit log: {a200} proxy.request records with 200 for {want} "
                          f"requests wrk counted (warm-up + measured), {gone} client_gone (in "
                          f"flight when wrk stopped), {m.get('audit_connections', '?')} "
                          f"proxy.connection records")
    wall = float(m["t1"]) - float(m["t0"])
    for who in ("client", "proxy", "mock"):
        used = int(m[f"cpu_{who}1"]) - int(m[f"cpu_{who}0"])
        r[f"cpu_{who}"] = used / n          # us of CPU per request
        r[f"busy_{who}"] = used / 1e6 / wall  # cores kept busy
    if t == "direct":
        r["cpu_proxy"] = r["busy_proxy"] = None
    r["perf_proxy"] = perf_counts(tmp, run, "proxy", n)
    r["perf_mock"] = perf_counts(tmp, run, "mock", n)
    r["up_conns"] = int(m.get("upstream_conns", -1))
    r["opens"] = int(m.get("opens1", 0)) - int(m.get("opens0", 0))
    r["segs"] = (int(m["segs1"]) - int(m["segs0"])) / n if "segs1" in m and n else None
    return r


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def combine(t, rounds):
    """Target T over its ROUNDS (each analyse()d): each figure's median; a problem in any
    round is the target's problem (a benchmark of errors is worthless)."""
    r = {"name": t, "rounds": rounds, "meta": rounds[0]["meta"], "problems": [], "notes": []}
    for i, x in enumerate(rounds, 1):
        r["problems"] += [f"round {i}: {p}" for p in x["problems"]]
        r["notes"] += [f"round {i}: {n}" for n in x["notes"]]
    if r["problems"]:
        return r
    for k in ("rps", "p50", "p99", "cpu_client", "cpu_proxy", "cpu_mock", "busy_proxy",
              "up_conns", "opens", "segs", "resp_bytes"):
        r[k] = median([x[k] for x in rounds])
    r["up_conns"], r["opens"] = round(r["up_conns"]), round(r["opens"])
    for who in ("perf_proxy", "perf_mock"):
        r[who] = {k: median([x[who][k] for x in rounds]) for k in rounds[0][who]}
    r["wrk"] = rounds[0]["wrk"]
    return r


nrounds = int(cond.get("rounds", "1"))
res = {}
for t in targets:
    runs = [f"{t}-r{i}" for i in range(1, nrounds + 1)]
    runs = [x for x in runs if (tmp / f"{x}.meta").exists()]
    res[t] = combine(t, [analyse(x, t) for x in runs] or [analyse(f"{t}-r1", t)])
if (tmp / "direct-end.meta").exists():
    targets.append("direct-end")
    res["direct-end"] = analyse("direct-end", "direct")


def in_round(t, i, ref, fig):
    """T's figure FIG in round I against REF's in the same round: (t, ref), or None."""
    a, b = res.get(t), res.get(ref)
    if not a or not b or a["problems"] or b["problems"] or i >= min(len(a["rounds"]),
                                                                   len(b["rounds"])):
        return None
    return a["rounds"][i][fig], b["rounds"][i][fig]


def round_ratio(t, ref):
    """Median over the rounds of T's req/s over REF's in the same round."""
    pairs = [in_round(t, i, ref, "rps") for i in range(nrounds)]
    return median([a / b for a, b in (p for p in pairs if p)])


def round_added(t, fig):
    """Median over the rounds of the latency FIG (p50, p99) T added to that round's direct."""
    pairs = [in_round(t, i, "direct", fig) for i in range(nrounds)]
    return median([a - b for a, b in (p for p in pairs if p)])


end = res.pop("direct-end", None)
if end:
    targets.remove("direct-end")
ok = {t: r for t, r in res.items() if not r["problems"]}
direct = ok.get("direct")
nginx = ok.get("nginx")


def f(v, fmt, dash="-"):
    return dash if v is None else format(v, fmt)


body = next((r["wrk"]["body_bytes"] for r in ok.values()), None)
resp = direct["resp_bytes"] if direct else None
print()
print(f"HTTP: POST /v1/chat/completions, {f(body, 'd', '?')}-byte JSON body, non-streaming "
      f"(~{f(resp, '.0f', '?')} bytes per response with headers); same mock upstream for all "
      f"(mockprov --deterministic, 1 thread, TLS)")
print(f"wrk {cond['wrk']} -t{cond['threads']} -c{cond['conns']} kept-alive, {cond['warm']} s "
      f"warm-up then {cond['dur']} s measured, --latency; each target alone, one after another; "
      f"{nrounds} rounds of every target, interleaved (Portkey: the first only)")
print(f"machine: {cond['cores']} cores ({cond['cpu']}), kernel {cond['kernel']}; wrk, the proxy "
      f"and the mock share these cores (no pinning); load average {cond['load0']} before, "
      f"{cond['load1']} after (anything else running on the machine shows in the figures)")
print(f"proxies: nginx {cond['nginx']} (worker_processes 1), HAProxy {cond['haproxy']} "
      f"(nbthread 1), aigw build/aigw (-O2), Portkey "
      f"{res.get('portkey', {}).get('meta', {}).get('version', '-')} on node {cond['node']}; "
      f"all terminate TLS (Portkey through tests/bench/portkey/shim.cjs) and verify the mock's "
      f"certificate; nginx and HAProxy log each request, aigw writes its audit log")
print()
hdr = (f"{'target':22s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'+p50 ms':>8s} "
       f"{'+p99 ms':>8s} {'x direct':>8s} {'x nginx':>8s}")
print(hdr)
print("-" * len(hdr))
for t in targets:
    r = res[t]
    if r["problems"]:
        what = "skipped" if t in OPTIONAL else "FAILED"
        print(f"{LABEL[t]:22s} {what} (see below)")
        continue
    add50 = add99 = None
    if direct and t != "direct":
        add50, add99 = round_added(t, "p50"), round_added(t, "p99")
    print(f"{LABEL[t]:22s} {r['rps']:8.0f} {r['p50']:7.2f} {r['p99']:7.2f} "
          f"{f(add50, '+8.2f'):>8s} {f(add99, '+8.2f'):>8s} "
          f"{f(round_ratio(t, 'direct') if direct else None, '8.2f'):>8s} "
          f"{f(round_ratio(t, 'nginx') if nginx else None, '8.2f'):>8s}")
print(f"(medians over the rounds; +p50/+p99: latency added to direct's in the same round; "
      f"x direct, x nginx:\n requests/s as a ratio of theirs in the same round)")
print()
hdr = (f"{'where the CPU went':22s} {'us/req: proxy':>13s} {'wrk':>6s} {'mock':>6s} "
       f"{'proxy cores':>11s} {'mock conns':>10s} {'TCP opens':>9s} {'segs/req':>8s}")
print(hdr)
print("-" * len(hdr))
for t in targets:
    r = res[t]
    if r["problems"]:
        continue
    print(f"{LABEL[t]:22s} {f(r['cpu_proxy'], '13.1f'):>13s} {r['cpu_client']:6.1f} "
          f"{r['cpu_mock']:6.1f} {f(r['busy_proxy'], '11.2f'):>11s} {r['up_conns']:10d} "
          f"{r['opens']:9d} {f(r['segs'], '8.1f'):>8s}")
print("(us/req: each cgroup's CPU time per request; proxy cores: the proxy's CPU time / wall "
      "time;\n mock conns: TCP connections to the mock half-way through; TCP opens: connections "
      "the whole machine opened while measuring;\n segs/req: TCP segments the whole machine "
      "sent while measuring, per request: wrk's, the proxy's, the mock's and their ACKs)")
print()
hdr = (f"{'per request (perf stat)':22s} {'proxy: instr':>12s} {'syscalls':>9s} {'cswitch':>8s} "
       f"{'CPU us':>7s} {'faults':>7s} {'mock: syscalls':>14s} {'faults':>7s}")
print(hdr)
print("-" * len(hdr))
no_pmu = False
for t in targets:
    r = res[t]
    if r["problems"]:
        continue
    pp, pm = r["perf_proxy"], r["perf_mock"]
    no_pmu |= pp["instructions"] is None and pp["syscalls"] is not None
    print(f"{LABEL[t]:22s} {f(pp['instructions'], '12.0f'):>12s} {f(pp['syscalls'], '9.1f'):>9s} "
          f"{f(pp['cswitches'], '8.2f'):>8s} {f(r['cpu_proxy'], '7.1f'):>7s} "
          f"{f(pp['faults'], '7.2f'):>7s} {f(pm['syscalls'], '14.1f'):>14s} "
          f"{f(pm['faults'], '7.2f'):>7s}")
print("(perf stat -p on every process of the proxy's cgroup, and of the mock's, for the measured "
      "seconds,\n divided by wrk's requests; kernel and user; direct has no proxy: its mock column "
      "is the baseline;\n faults: page faults, memory touched for the first time; a warm process "
      "that allocates nothing new per request shows 0.00)")
if no_pmu:
    print(" instr: '-' = this machine has no hardware counters (perf: instructions "
          "<not supported>, a VM without a PMU)")
for t in targets:
    r = res[t]
    for n in r["notes"]:
        print(f"  note, {t}: {n}")
    if r["problems"]:
        what = "skipped" if t in OPTIONAL else "FAILED"
        print(f"  {what}, {t}: " + "; ".join(r["problems"]))

if end and direct and not end["problems"]:
    print(f"drift: direct measured again last: {end['rps']:.0f} req/s, p50 {end['p50']:.2f} ms, "
          f"p99 {end['p99']:.2f} ms ({(end['rps'] / direct['rps'] - 1) * 100:+.0f}% req/s vs "
          f"the first)")
elif end:
    print("drift: direct measured again last: " + "; ".join(end["problems"]))

aigw = ok.get("aigw")
if aigw and nginx and direct:
    tp = round_ratio("aigw", "nginx")
    print()
    print(f"aigw vs nginx: throughput {aigw['rps']:.0f} vs {nginx['rps']:.0f} req/s (medians); "
          f"within a round {tp:.2f}x nginx's (median over the rounds; nginx does {1 / tp:.2f}x "
          f"aigw's)")
    goal = [tp >= 1.0]
    for p in ("p50", "p99"):
        a, g = round_added("aigw", p), round_added("nginx", p)
        if g > 0:
            shaky = " (nginx's is near the noise floor: the ratio is unstable)" if g < 0.1 else ""
            print(f"  added latency {p}: aigw +{a:.2f} ms vs nginx +{g:.2f} ms = {a / g:.2f}x "
                  f"nginx's{shaky}")
        else:
            print(f"  added latency {p}: aigw {a:+.2f} ms vs nginx {g:+.2f} ms (nginx adds "
                  f"nothing measurable: no ratio)")
    print(f"  CPU: aigw kept {aigw['busy_proxy']:.2f} cores busy at {aigw['cpu_proxy']:.1f} us "
          f"per request, nginx {nginx['busy_proxy']:.2f} at {nginx['cpu_proxy']:.1f} us")
    ap, gp = aigw["perf_proxy"], nginx["perf_proxy"]
    if ap["syscalls"] and gp["syscalls"]:
        print(f"  syscalls per request: aigw {ap['syscalls']:.1f} vs nginx {gp['syscalls']:.1f} "
              f"= {ap['syscalls'] / gp['syscalls']:.2f}x nginx's")
    if ap["instructions"] and gp["instructions"]:
        print(f"  instructions per request: aigw {ap['instructions']:.0f} vs nginx "
              f"{gp['instructions']:.0f} = {ap['instructions'] / gp['instructions']:.2f}x")
    haproxy = ok.get("haproxy")
    if haproxy:
        a, h = round_added("aigw", "p99"), round_added("haproxy", "p99")
        print(f"  added p99: aigw {a:+.2f} ms vs HAProxy {h:+.2f} ms")
        goal.append(a <= h)
    else:
        goal.append(False)
    print(f"  goal (issue 13: throughput >= 1.0x nginx's, added p99 <= HAProxy's, medians over "
          f"{nrounds} rounds): {'met' if all(goal) else 'NOT met'} in this run (a measurement, "
          f"not a test)")
    for i in range(nrounds):
        tpi, d = in_round("aigw", i, "nginx", "rps"), in_round("direct", i, "direct", "p99")
        a, g = in_round("aigw", i, "direct", "p99"), in_round("haproxy", i, "direct", "p99")
        if not tpi or not a:
            continue
        print(f"  round {i + 1}: aigw {tpi[0] / tpi[1]:.2f}x nginx's req/s; added p99 aigw "
              f"{a[0] - a[1]:+.2f} ms" + (f", HAProxy {g[0] - g[1]:+.2f} ms" if g else "") +
              f" (direct's p99 {d[0]:.2f} ms)")

one, every = ok.get("aigw"), ok.get("aigw_all")
if one and every:
    print()
    print(f"aigw with {every['meta'].get('workers', '?')} workers vs 1: throughput "
          f"{every['rps']:.0f} vs {one['rps']:.0f} req/s = {round_ratio('aigw_all', 'aigw'):.2f}x; "
          f"CPU {every['cpu_proxy']:.1f} vs {one['cpu_proxy']:.1f} us per request, "
          f"{every['busy_proxy']:.2f} vs {one['busy_proxy']:.2f} cores busy")
    n = int(every["meta"].get("workers", "0") or 0)
    if n > 1 and every["cpu_proxy"] > 0:
        print(f"  projected with {n} cores to the proxy alone (CPU per request, not a measured "
              f"throughput): {n} x {one['cpu_proxy']:.1f} / {every['cpu_proxy']:.1f} = "
              f"{n * one['cpu_proxy'] / every['cpu_proxy']:.2f}x one worker")
    print(f"  wrk {'pinned to CPU ' + cond['pin'] if cond.get('pin') else 'not pinned'}; wrk "
          f"and the mock share the {cond['cores']} cores with the proxy, so this ratio is not "
          f"what a proxy with the cores to itself would show (see tests/bench/http_bench.sh)")

failed = [t for t, r in res.items() if r["problems"] and t not in OPTIONAL]
if failed:
    print(f"\nhttp bench: could not measure {', '.join(failed)} (see above)", file=sys.stderr)
    sys.exit(1)
