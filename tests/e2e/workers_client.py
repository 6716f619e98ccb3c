"""The app of tests/e2e/test_workers.py (run it in the captured cgroup): CONNS kept-alive HTTPS
connections to api.openai.com, each opened before any call goes, then ROUNDS rounds in which
every connection posts one chat completion for MODEL, all at once (a barrier). Between rounds
it prints "round N done" and waits for a line on stdin, so a test can change the gateway
between them. Prints one JSON line per call: {"conn", "round", "status", "id"}."""
import http.client
import json
import ssl
import sys
import threading

conns_n, rounds, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = threading.Lock()
BODY = json.dumps({"model": model, "messages": [{"role": "user", "content": "Close the books"}]})


def connect():
    c = http.client.HTTPSConnection("api.openai.com", 443, context=ssl.create_default_context(),
                                    timeout=30)
    c.connect()
    return c


def call(i, conn, rnd, barrier):
    barrier.wait()
    try:
        conn.request("POST", "/v1/chat/completions", BODY,
                     {"content-type": "application/json", "authorization": "Bearer sk-app"})
        r = conn.getresponse()
        r.read()
        status, rid = r.status, r.getheader("x-aigw-request-id")
    except (OSError, http.client.HTTPException) as e:
        status, rid = 0, repr(e)
    with out:
        print(json.dumps({"conn": i, "round": rnd, "status": status, "id": rid}), flush=True)


conns = [connect() for _ in range(conns_n)]
for rnd in range(rounds):
    barrier = threading.Barrier(conns_n)
    threads = [threading.Thread(target=call, args=(i, c, rnd, barrier))
               for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"round {rnd} done", flush=True)
    if rnd + 1 < rounds:
        sys.stdin.readline()
