"""Time to first token of a streamed chat call, as an app sees it (make bench, gateway part;
run by tests/bench/gateway_bench.sh).

usage: ttft.py URL BODY_FILE CAFILE SAMPLES WARMUP [HEADER...]   (HEADER: "name: value")

One kept-alive HTTPS connection (HTTP/1.1, like the providers' SDKs), one call at a time. For
each call: t0 just before the request is written; TTFT when the first SSE event that carries
content has been read whole (OpenAI: a chunk whose choices[0].delta.content is not empty;
Anthropic: a content_block_delta with text) -- not the response headers, which come first;
total when the body has ended. Each stream is then checked whole: HTTP 200, content, the API's
terminator ("data: [DONE]" / message_stop), no error event. WARMUP calls first, not counted.

Prints one JSON object: ttft_us, head_us, total_us (lists, one per counted call), errors, the
first error, reconnects (a new TCP+TLS connection inside a counted call: kept-alive broke),
events per stream.
"""
import gc
import http.client
import json
import ssl
import sys
import time
from urllib.parse import urlsplit


def content_of(block):
    """Whether one SSE event (its lines) carries content; and whether it ends the stream."""
    name, data = None, []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            v = line[5:]
            data.append(v[1:] if v[:1] == b" " else v)
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    if not data:
        return False
    d = b"\n".join(data)
    if d == b"[DONE]":
        return False
    try:
        j = json.loads(d)
    except ValueError:
        return False
    if not isinstance(j, dict):
        return False
    if j.get("type") == "content_block_delta" or name == b"content_block_delta":
        return bool((j.get("delta") or {}).get("text"))
    ch = j.get("choices")
    if ch:
        return bool((ch[0].get("delta") or {}).get("content"))
    return False


def check_stream(raw):
    """What is wrong with a whole stream, or None."""
    text = raw.replace(b"\r\n", b"\n")
    events = [b for b in text.split(b"\n\n") if b.strip()]
    content, done, names = [], False, []
    for block in events:
        name, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
        names.append(name)
        d = b"\n".join(data)
        if d == b"[DONE]":
            done = True
            continue
        if not d:
            continue
        j = json.loads(d)
        if name == "error" or (isinstance(j, dict) and "error" in j and j.get("type") != "ping"):
            return f"error event: {d[:200]!r}", len(events)
        if name == "message_stop" or j.get("type") == "message_stop":
            done = True
        if j.get("type") == "content_block_delta":
            content.append((j.get("delta") or {}).get("text") or "")
        elif j.get("choices"):
            content.append((j["choices"][0].get("delta") or {}).get("content") or "")
        elif "choices" in j and j.get("usage"):
            return "a usage chunk the app did not ask for", len(events)
    if not "".join(content):
        return "no content", len(events)
    if not done:
        return "no terminator ([DONE] / message_stop)", len(events)
    return None, len(events)


def main():
    url, body_file, cafile, samples, warmup = sys.argv[1:6]
    samples, warmup = int(samples), int(warmup)
    headers = {"content-type": "application/json"}
    for h in sys.argv[6:]:
        k, v = h.split(":", 1)
        headers[k.strip()] = v.strip()
    body = open(body_file, "rb").read()
    u = urlsplit(url)
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=10)
    out = {"ttft_us": [], "head_us": [], "total_us": [], "errors": 0, "first_error": None,
           "reconnects": 0, "events": None}
    clock = time.perf_counter_ns

    gc.disable()
    for i in range(warmup + samples):
        sock_before = conn.sock
        t0 = clock()
        try:
            conn.request("POST", u.path, body=body, headers=headers)
            resp = conn.getresponse()
            t_head = clock()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
            chunks, buf, t_first = [], b"", None
            while True:
                c = resp.read1(65536)
                if not c:
                    break
                chunks.append(c)
                if t_first is None:
                    buf += c.replace(b"\r\n", b"\n")
                    while t_first is None:
                        k = buf.find(b"\n\n")
                        if k < 0:
                            break
                        block, buf = buf[:k], buf[k + 2:]
                        if content_of(block):
                            t_first = clock()
            t_end = clock()
            if t_first is None:
                raise RuntimeError("no content event")
            problem, n_events = check_stream(b"".join(chunks))
            if problem:
                raise RuntimeError(problem)
        except Exception as e:  # counted, reported; the connection starts again
            if i >= warmup:
                out["errors"] += 1
                out["first_error"] = out["first_error"] or f"{type(e).__name__}: {e}"
            conn.close()
            continue
        if i < warmup:
            continue
        if sock_before is None or sock_before is not conn.sock:
            out["reconnects"] += 1
        out["events"] = n_events
        out["ttft_us"].append((t_first - t0) / 1000)
        out["head_us"].append((t_head - t0) / 1000)
        out["total_us"].append((t_end - t0) / 1000)
    gc.enable()
    conn.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
