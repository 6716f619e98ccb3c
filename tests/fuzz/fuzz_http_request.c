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

#include "proxy/http1.h"
#include "proxy/upstream.h"

static void drop_record(struct jsonw *rec, const struct http_conn_info *info, void *arg)
{
	jsonw_free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_proxy_config cfg = {
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
