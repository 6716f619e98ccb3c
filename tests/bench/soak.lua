-- wrk script of the soak (tests/bench/soak.sh): requests in turn plain, streaming,
-- translated (a logical name routed to the other API family) and translated streaming, bodies
-- from $SOAK_DIR/{plain,stream,xlate,xlate-stream}.json. Each thread stops after
-- $SOAK_REQUESTS / $SOAK_THREADS responses and creates $SOAK_DIR/phase.done: wrk itself only
-- ends after -d, so soak.sh sends it SIGINT then. Every response must be 200: done() prints
-- how many were not.
local dir = os.getenv("SOAK_DIR")
local kinds = {"plain", "stream", "xlate", "xlate-stream"}
local reqs = {}

-- After wrk.init, which sets wrk.headers' Host.
local function load_requests()
	for i, k in ipairs(kinds) do
		local f = assert(io.open(dir .. "/" .. k .. ".json", "rb"))
		local body = f:read("*a"):gsub("%s+$", "")
		f:close()
		local h = {["Content-Type"] = "application/json",
			["Authorization"] = "Bearer sk-soak-not-a-real-key"}
		for name, v in pairs(wrk.headers) do h[name] = v end
		reqs[i] = wrk.format("POST", nil, h, body)
	end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
	limit = math.floor(tonumber(os.getenv("SOAK_REQUESTS")) / tonumber(os.getenv("SOAK_THREADS")))
	sent, seen, bad = 0, 0, 0
	load_requests()
end

function request()
	sent = sent + 1
	return reqs[(sent - 1) % #reqs + 1]
end

function response(status, headers, body)
	seen = seen + 1
	if status ~= 200 then bad = bad + 1 end
	if seen == limit then
		io.open(dir .. "/phase.done", "w"):close()
		wrk.thread:stop()
	end
end

function done(summary, latency, requests)
	local n, b = 0, 0
	for _, t in ipairs(threads) do
		n = n + t:get("seen")
		b = b + t:get("bad")
	end
	io.write(string.format('SOAKJSON {"responses":%d,"not_200":%d,"errors":%d,"timeouts":%d}\n',
		n, b, summary.errors.connect + summary.errors.read + summary.errors.write,
		summary.errors.timeout))
end
