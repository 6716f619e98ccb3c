"""What the HTTP benchmarks' report scripts (http_report.py, gateway_report.py) share: reading
what tests/bench/lib.sh's probe/measure left in the temp dir, and checking a wrk run."""
import json
from pathlib import Path


def read_meta(tmp, name):
    """$tmp/NAME.meta (KEY=VALUE lines, written by lib.sh's meta) as a dict."""
    m = {}
    p = Path(tmp) / f"{name}.meta"
    if p.exists():
        for line in p.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                m[k] = v
    return m


def wrk_json(path):
    """The WRKJSON line tests/bench/chat.lua prints after wrk's report, and the whole output."""
    path = Path(path)
    if not path.exists():
        return None, ""
    text = path.read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:]), text
    return None, text


def mock_stats(path):
    """A saved GET /control/stats of the mock, or None."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def check_wrk(tmp, name, r):
    """Reads the wrk run NAME (lib.sh's measure) into R: r["wrk"], r["warm"], r["rps"], p50/p99
    in ms; anything that makes it invalid goes to r["problems"] (answers that were not 200 from
    the mock, socket errors), minor things to r["notes"]. Returns whether it was measured."""
    tmp = Path(tmp)
    w, text = wrk_json(tmp / f"{name}.wrk")
    r["warm"], _ = wrk_json(tmp / f"{name}.warm")
    if w is None:
        tail = " | ".join(text.strip().splitlines()[-5:])
        r["problems"].append(f"wrk printed no summary: {tail}")
        return False
    r["wrk"] = w
    n = w["requests"]
    if n == 0:
        r["problems"].append("no request completed")
        return False
    if w["status_errors"] or "Non-2xx or 3xx responses" in text:
        r["problems"].append(f"{w['status_errors']} responses were not 2xx/3xx")
    sock = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    if sock:
        msg = (f"socket errors: connect {w['connect_errors']}, read {w['read_errors']}, "
               f"write {w['write_errors']}, timeout {w['timeouts']}")
        (r["problems"] if sock > n / 100 else r["notes"]).append(msg)
    m0, m1 = mock_stats(tmp / f"{name}.mock0"), mock_stats(tmp / f"{name}.mock1")
    if not m0 or not m1:
        r["problems"].append("could not read the mock's /control/stats")
    else:
        d_all = m1["requests"] - m0["requests"]
        d_200 = m1["by_status"].get("200", 0) - m0["by_status"].get("200", 0)
        r["mock_200"] = d_200
        if d_200 < n:
            r["problems"].append(f"wrk counted {n} answers but the mock answered only {d_200} "
                                 f"200s in that time")
        if d_all != d_200:
            r["problems"].append(f"the mock answered {d_all - d_200} requests with an error")
    r["rps"] = n / (w["duration_us"] / 1e6)
    r["p50"] = w["p50_us"] / 1000
    r["p90"] = w["p90_us"] / 1000
    r["p99"] = w["p99_us"] / 1000
    r["resp_bytes"] = w["bytes"] / n
    return True


def perf_counts(tmp, name, who, requests):
    """lib.sh's count_events output $tmp/NAME.perf-WHO (perf stat -x,) per request: a dict of
    "instructions", "syscalls", "cswitches", "faults", each a float or None where the counter
    was not supported (no PMU in a VM) or not measured."""
    keys = {"instructions": "instructions", "raw_syscalls:sys_enter": "syscalls",
            "context-switches": "cswitches", "page-faults": "faults"}
    out = dict.fromkeys(keys.values())
    p = Path(tmp) / f"{name}.perf-{who}"
    if not p.exists() or not requests:
        return out
    for line in p.read_text(errors="replace").splitlines():
        f = line.split(",")
        if len(f) > 2 and f[2] in keys and f[0].replace(".", "", 1).isdigit():
            out[keys[f[2]]] = float(f[0]) / requests
    return out
