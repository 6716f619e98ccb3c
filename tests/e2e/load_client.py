"""Load for the durability test: THREADS threads, each on its own kept-alive HTTPS connection
to api.openai.com (run it in the captured cgroup, where that name is the mock's address and
the gateway's CA is trusted), post chat completions, every other thread streaming, until the
gateway goes away or SECONDS pass. Prints the x-aigw-request-id of every call whose answer
came in full (status 200, the whole body: its Content-Length, or a chunked body up to its
last chunk), one per line, as soon as it came. A call that fails is not printed. With a third
argument "h2" each thread is an HTTP/2 client (httpx) instead, its answers whole at END_STREAM."""
import http.client
import json
import ssl
import sys
import threading
import time

threads_n, seconds = int(sys.argv[1]), float(sys.argv[2])
out = threading.Lock()
deadline = time.monotonic() + seconds


def body(stream):
    b = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Close the books"}]}
    if stream:
        b["stream"] = True
    return json.dumps(b)


def worker_h2(stream):
    import httpx
    with httpx.Client(http2=True, verify=ssl.create_default_context(), timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                r = client.post("https://api.openai.com/v1/chat/completions", content=body(stream),
                                headers={"content-type": "application/json",
                                         "authorization": "Bearer sk-app"})
            except httpx.HTTPError:
                return  # the gateway is gone
            rid = r.headers.get("x-aigw-request-id")
            if r.http_version == "HTTP/2" and r.status_code == 200 and rid and \
                    (not stream or b"[DONE]" in r.content):
                with out:
                    sys.stdout.write(rid + "\n")
                    sys.stdout.flush()


def worker(stream):
    ctx = ssl.create_default_context()
    conn = None
    while time.monotonic() < deadline:
        try:
            if conn is None:
                conn = http.client.HTTPSConnection("api.openai.com", 443, context=ctx, timeout=10)
            conn.request("POST", "/v1/chat/completions", body(stream),
                         {"content-type": "application/json",
                          "authorization": "Bearer sk-app"})
            r = conn.getresponse()
            data = r.read()  # raises IncompleteRead unless the body came whole
            rid = r.getheader("x-aigw-request-id")
            if r.status == 200 and rid and (not stream or b"[DONE]" in data):
                with out:
                    sys.stdout.write(rid + "\n")
                    sys.stdout.flush()
            if r.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            return  # the gateway is gone


run = worker_h2 if sys.argv[3:] == ["h2"] else worker
ts = [threading.Thread(target=run, args=(i % 2 == 1,)) for i in range(threads_n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
