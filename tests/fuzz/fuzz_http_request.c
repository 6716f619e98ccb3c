/*
 * fuzz_http_request: the request path that parses untrusted input. The input is what a
 * captured client sends after the TLS handshake; it is fed to a real http1 session over a
 * bufferevent pair. The upstream is an address nothing listens on, so a request that parses
 * goes as far as the upstream connect and its error path too.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fuzz.h"
#include "ledger/prices.h"
#include "ledger/prices_default.h"
#include "policy/govstate.h"
#include "proxy/http1.h"
#include "proxy/route.h"
#include "proxy/upstream.h"

static uint64_t drop_record(struct jsonw *rec, const struct http_conn_info *info, void *arg)
{
	jsonw_free(rec);
	return 0;
}


/* Every policy stage on, so that what a request can make of them is fuzzed too. */
static const char *const POLICY =
    "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/dev/null\"},"
    " \"providers\": {\"openai\": {\"hosts\": [\"api.openai.com\"], \"region\": \"us\"}},"
    " \"models\": {\"fast\": [{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"}]},"
    " \"teams\": {\"t\": {\"budget\": {\"usd_per_day\": 1000}}},"
    " \"workloads\": [{\"name\": \"fuzz\", \"team\": \"t\", \"match\": {\"cgroup\": \"/x\"},"
    "   \"allow\": {\"models\": [\"gpt-*\", \"fast\"], \"regions\": [\"us\"],"
    "              \"endpoints\": [\"POST /v1/*\", \"GET /v1/models*\"]},"
    "   \"limits\": {\"requests_per_minute\": 1000000, \"tokens_per_minute\": 1000000000,"
    "              \"concurrent\": 100},"
    "   \"budget\": {\"usd_per_day\": 1000, \"cap_max_tokens\": true}}]}";

static void governed(struct http_proxy_config *cfg)
{
	if (policy_load_string("fuzz", POLICY, stderr, &cfg->policy) ||
	    govstate_open(NULL, stderr, &cfg->state) ||
	    prices_parse("prices", prices_default_json, prices_default_json_len, stderr,
			 (struct price_table **)&cfg->prices) ||
	    route_table_new(cfg->policy, NULL, &cfg->routes))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_proxy_config cfg = {
	    .max_request_body = 1 << 16, .first_byte_ms = 50, .idle_ms = 50, .client_idle_ms = 50};
	static const struct http_proxy_ops ops = {.record = drop_record};
	struct upstream_options uo = {.connect_ms = 50, .handshake_ms = 50, .max_idle = 4,
				      .idle_keep_ms = 50};
	struct http_conn_info info = {.conn_id = 1};
	static struct event_base *base;
	static struct upstream_pool *pool; /* an SSL_CTX with a trust store: made once */
	struct bufferevent *pair[2];
	uint32_t lo = htonl(0x7f000001);

	if (!base) {
		base = event_base_new();
		if (!base || upstream_pool_new(base, &uo, &pool))
			__builtin_trap();
		governed(&cfg);
	}
	info.flow.orig_dst.family = AIGW_AF_INET;
	info.flow.orig_dst.port = htons(9); /* discard: nothing listens */
	memcpy(info.flow.orig_dst.addr, &lo, 4);
	strcpy(info.sni, "api.openai.com");
	strcpy(info.provider, "openai");
	strcpy(info.workload, "fuzz");
	if (bufferevent_pair_new(base, 0, pair))
		__builtin_trap();
	http_session_start(base, pair[1], &info, &cfg, pool, &ops);
	bufferevent_write(pair[0], data, size);
	for (int i = 0; i < 8; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	bufferevent_free(pair[0]);
	for (int i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	http_sessions_shutdown();
	return 0;
}
