"""Many streamed chat calls held open at once, as apps would hold them (make bench-streams; run
by tests/bench/streams_bench.sh in a captured cgroup).

usage: streams_client.py URL BODY_FILE CAFILE N CONNECTING

Opens N HTTPS connections (HTTP/1.1, the app's own TLS to what it believes is the provider),
at most CONNECTING handshakes at a time, and on each sends the streamed call of BODY_FILE with
"x-mock-chunk-delay-ms: 600000" (the mock then sends one event and waits ten minutes before the
next). A call counts as held once its response headers said 200 and its first SSE event came
whole. Prints "progress HELD FAILED" lines as calls are held, then "held HELD FAILED" when
every call is held or failed, then keeps them all open until stdin closes or reads a line, and
exits 0 when every call was held (else 1, with the first error on stderr).
"""
import asyncio
import ssl
import sys
from urllib.parse import urlsplit

held = failed = 0
first_error = None


async def one(url, body, ctx, gate, done):
    global held, failed, first_error
    u = urlsplit(url)
    try:
        async with gate:
            r, w = await asyncio.open_connection(u.hostname, u.port or 443, ssl=ctx,
                                                 server_hostname=u.hostname)
        head = (f"POST {u.path} HTTP/1.1\r\nHost: {u.hostname}\r\n"
                "Content-Type: application/json\r\nAuthorization: Bearer sk-streams-bench\r\n"
                f"x-mock-chunk-delay-ms: 600000\r\nContent-Length: {len(body)}\r\n\r\n")
        w.write(head.encode() + body)
        status = await r.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"status {status!r}")
        await r.readuntil(b"\r\n\r\n")   # headers
        await r.readuntil(b"\n\n")       # chunk size line + the first event
        held += 1
    except Exception as e:  # noqa: BLE001 -- any failure is counted and the first one told
        failed += 1
        first_error = first_error or f"{type(e).__name__}: {e}"
        return
    finally:
        if held + failed == done[0]:
            done[1].set()
    await done[2].wait()
    w.close()


async def progress(n):
    while held + failed < n:
        print(f"progress {held} {failed}", flush=True)
        await asyncio.sleep(2)


async def main():
    url, body_file, cafile, n, connecting = sys.argv[1:6]
    n = int(n)
    body = open(body_file, "rb").read()
    ctx = ssl.create_default_context(cafile=cafile)
    gate = asyncio.Semaphore(int(connecting))
    loop = asyncio.get_running_loop()
    done = [n, asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(one(url, body, ctx, gate, done)) for _ in range(n)]
    p = asyncio.create_task(progress(n))
    await done[1].wait()
    p.cancel()
    print(f"held {held} {failed}", flush=True)
    if first_error:
        print(f"first error: {first_error}", file=sys.stderr, flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    done[2].set()
    await asyncio.gather(*tasks)
    return 0 if held == n else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
