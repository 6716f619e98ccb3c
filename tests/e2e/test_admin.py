"""The admin endpoint (admin.listen), seen by an operator: /metrics parsed by Prometheus' own
parser counts the calls an app made, /healthz says the daemon's state, a peer off loopback needs
the bearer token, and the dashboard renders a seeded ledger in headless Chromium, hostile names
as text.

Off-loopback peer: the admin endpoint listens on 0.0.0.0 and the test connects to this host's
own non-loopback address (eth0's), so the daemon sees a real non-loopback peer without a network
namespace; the loopback exemption is shown on 127.0.0.1 against the same listener.
"""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port, wait_for
from test_intercept import split

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, BPF, port 443)")

OPENAI = "https://api.openai.com/v1/chat/completions"
TOKEN = "adm-7d1f0c9e4b2a58e3"
HOSTILE = "<img src=x onerror=alert(1)>\x1b[31mred"


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample_sum(fams, family, sample_name, **labels):
    return sum(s.value for s in fams[family].samples if s.name == sample_name
               and all(s.labels.get(k) == v for k, v in labels.items()))


def start(gw, tmp, **admin):
    port = free_port()
    policy = gw.policy(admin={"listen": f"127.0.0.1:{port}", **admin},
                       ledger={"path": str(tmp / "ledger.db")})
    gw.start(policy)
    return f"http://127.0.0.1:{port}"


def test_metrics_count_the_calls_made(gw, tmp_path):
    base = start(gw, tmp_path)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    for _ in range(3):
        assert split(gw.curl(OPENAI, body, headers=["authorization: Bearer sk-app"]))[1] == 200
    stream = json.dumps({"model": "gpt-4o-mini", "stream": True,
                         "messages": [{"role": "user", "content": "hi"}]})
    assert split(gw.curl(OPENAI, stream, headers=["authorization: Bearer sk-app"]))[1] == 200

    def scraped():
        status, text = get(base + "/metrics")
        assert status == 200
        f = families(text)
        return f if sample_sum(f, "aigw_requests", "aigw_requests_total") >= 4 else None

    f = wait_for(scraped, what="4 calls in /metrics")
    who = dict(workload="billing", team="finance", provider="openai", model="gpt-4o-mini")
    assert sample_sum(f, "aigw_requests", "aigw_requests_total", outcome="ok", **who) == 4
    assert sample_sum(f, "aigw_captured_connections", "aigw_captured_connections_total") >= 4
    tok = dict(gen_ai_system="openai", gen_ai_request_model="gpt-4o-mini",
               aigw_workload="billing", aigw_team="finance")
    for kind in ("input", "output"):
        assert sample_sum(f, "gen_ai_client_token_usage", "gen_ai_client_token_usage_count",
                          gen_ai_token_type=kind, **tok) == 4
    assert sample_sum(f, "gen_ai_client_operation_duration_seconds",
                      "gen_ai_client_operation_duration_seconds_count", **tok) == 4
    assert sample_sum(f, "gen_ai_server_time_to_first_token_seconds",
                      "gen_ai_server_time_to_first_token_seconds_count", **tok) == 1
    # the cost the records carry, summed exactly, is the counter's
    recs = wait_for(lambda: [r for r in gw.world.records()
                             if r.get("event.name") == "proxy.request"][3:] and
                    [r for r in gw.world.records() if r.get("event.name") == "proxy.request"],
                    what="4 call records")
    nano = sum(r["aigw.cost.nano_usd"] for r in recs)
    assert nano > 0
    assert round(sample_sum(f, "aigw_cost_usd", "aigw_cost_usd_total", **who) * 1e9) == nano
    assert "aigw_audit_queue_depth" in f and "aigw_metrics_dropped_series" in f

    status, text = get(base + "/healthz")
    assert status == 200, text
    assert json.loads(text) == {"status": "ok", "policy_loaded": True, "audit_writable": True,
                                "capture_attached": True}


def own_address():
    """This host's address on its way out (not loopback), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_token_is_required_off_loopback_only(gw, tmp_path):
    ip = own_address()
    if not ip:
        pytest.skip("no non-loopback address on this host")
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    port = free_port("0.0.0.0")
    gw.start(gw.policy(admin={"listen": f"0.0.0.0:{port}", "token_file": str(token_file)}))
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200  # loopback: no token
    status, text = get(f"http://{ip}:{port}/metrics")
    assert status == 401, text
    assert get(f"http://{ip}:{port}/metrics", {"Authorization": "Bearer wrong-token-xx"})[0] == 401
    status, text = get(f"http://{ip}:{port}/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "aigw_requests_total" in text


def test_token_file_must_be_private(gw, tmp_path):
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    path = gw.world.write_policy(gw.policy(admin={"listen": f"127.0.0.1:{free_port()}",
                                                  "token_file": str(token_file)}))
    r = gw.world.aigw("run", "--policy", str(path), "--pin-dir", str(gw.world.pin_dir))
    assert r.returncode != 0
    assert f"{token_file}: holds a secret and is readable by group or others" in r.stderr


def seed(db_path):
    """Rows as the ledger writes them: two teams over two days, a hostile workload name, a
    fallback, an error and denied shadow-AI attempts."""
    db = sqlite3.connect(db_path)
    rows = [  # day, workload, team, model, cost_nano, outcome, fallback
        ("2026-01-01", "billing", "finance", "gpt-4o", 1_250_000_000, "ok", 0),
        ("2026-01-02", "billing", "finance", "gpt-4o", 2_000_000_001, "ok", 1),
        ("2026-01-02", HOSTILE, "research", "claude-3-5-haiku", 500_000_000, "ok", 0),
        ("2026-01-02", HOSTILE, "research", "claude-3-5-haiku", None, "upstream_timeout", 0),
    ]
    for i, (day, wl, team, model, cost, outcome, fb) in enumerate(rows):
        db.execute("INSERT INTO calls(request_id, time, workload, team, provider, model,"
                   " cost_nano, outcome, fallback, attempts, stream) VALUES"
                   " (?, ?, ?, ?, 'openai', ?, ?, ?, ?, 1, 0)",
                   (f"seed-{i}", f"{day}T10:00:00.000000Z", wl, team, model, cost, outcome, fb))
    for _ in range(3):
        db.execute("INSERT INTO shadow(time, action, service, workload) VALUES"
                   " ('2026-01-02T11:00:00Z', 'denied', 'Mistral AI', 'billing')")
    db.commit()
    db.close()


def test_dashboard_renders_the_seeded_ledger(gw, tmp_path):
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    base = start(gw, tmp_path)
    seed(tmp_path / "ledger.db")
    days = "?days=400"
    status, text = get(base + "/api/top" + days)
    assert status == 200, text
    top = json.loads(text)
    assert {w["workload"]: w["cost_usd"] for w in top} == {"billing": "3.250000001",
                                                           HOSTILE: "0.500000000"}
    assert get(base + "/chart.umd.js")[0] == 200  # the daemon serves the library itself

    # One Chromium run both dumps the DOM and takes the screenshot (a start costs seconds).
    profile = tmp_path / "chromium-profile"
    shot = tmp_path / "dashboard.png"
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={profile}", "--virtual-time-budget=10000",
            "--window-size=1280,1600", f"--screenshot={shot}", "--dump-dom", base + "/" + days]
    dom = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    assert 'data-ready="1"' in dom, dom[-2000:]
    assert "3.750000001" in dom  # all spend, exact
    assert "3.250000001" in dom and "0.500000000" in dom  # per workload
    assert "Mistral AI" in dom
    # the hostile name is text: escaped in the DOM, never an element
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "<img" not in dom
    assert shot.exists() and shot.stat().st_size > 10000
    print(f"dashboard screenshot: {shot}")
