-- wrk script of the HTTP benchmark (tests/bench/http_bench.sh): every request is the same
-- small non-streaming chat completion, the body of tests/bench/chat.json (read relative to
-- the repository root, where the benchmark runs). No response() hook, so wrk stays on its
-- fast path; responses that are not 2xx/3xx are counted by wrk itself (summary.errors.status,
-- "Non-2xx or 3xx responses"). Extra headers (Portkey's x-portkey-*) come from wrk's -H.
local f = assert(io.open(os.getenv("BENCH_CHAT_BODY") or "tests/bench/chat.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a"):gsub("%s+$", "")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"

-- One machine-readable line after wrk's own report; latencies in microseconds.
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
			.. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
			.. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,'
			.. '"body_bytes":%d}\n',
		summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
		e.status, e.timeout, latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.mean, latency.max, #wrk.body))
end
