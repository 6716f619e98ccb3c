"""make bench, scope part: N full HTTPS requests to ADDR:443, each on a new connection (TCP
connect, TLS handshake verified against CAFILE for SNI, GET, the whole answer read to its
end), one after another. Prints one JSON line: n, failures, p50_us, p90_us, mean_us.

    tls_requests.py ADDR SNI CAFILE N
"""
import json
import socket
import ssl
import statistics
import sys
import time

addr, sni, cafile, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(["http/1.1"])
request = (f"GET /v1/models HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").encode()
times, failures = [], 0
for _ in range(n):
    t0 = time.perf_counter_ns()
    try:
        with socket.create_connection((addr, 443), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                s.sendall(request)
                answer = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    answer += d
        if not answer.startswith(b"HTTP/1.1 "):
            raise OSError("no HTTP answer")
    except (OSError, ssl.SSLError):
        failures += 1
        continue
    times.append((time.perf_counter_ns() - t0) // 1000)
times.sort()
print(json.dumps({"n": len(times), "failures": failures,
                  "p50_us": times[len(times) // 2] if times else None,
                  "p90_us": times[len(times) * 9 // 10] if times else None,
                  "mean_us": int(statistics.mean(times)) if times else None}))
