/*
 * http2: HTTP/2 to intercepted clients (ALPN "h2"). Owns the client's h2 connection (an
 * nghttp2 server session over its TLS bufferevent) and turns each stream into one ordinary
 * HTTP/1.1 session of http1.c over an in-memory bufferevent pair: the stream's request is
 * written to it as HTTP/1.1, the session runs the whole pipeline (attribution, policy, key
 * swap, retries, record) as for any HTTP/1.1 call, and its answer is parsed back into
 * HEADERS and DATA frames as it arrives. The upstream stays HTTP/1.1.
 *
 * Ownership: an h2 connection owns its client bufferevent, its nghttp2 session and its
 * streams; a stream owns its end of the pair and its buffered answer; the stream's http1
 * session owns the other end and tells the stream when it is freed.
 */
#ifndef AIGW_PROXY_HTTP2_H
#define AIGW_PROXY_HTTP2_H

#include <event2/bufferevent.h>

#include "proxy/http1.h"

#define HTTP2_MAX_STREAMS 100	     /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define HTTP2_MAX_HEADER_LIST 65536  /* SETTINGS_MAX_HEADER_LIST_SIZE; larger: stream reset */
#define HTTP2_RESET_BURST 200	     /* client resets of live streams allowed at once ... */
#define HTTP2_RESET_PER_S 20	     /* ... and per second after: past it, GOAWAY */

/*
 * Serves CLIENT, a TLS bufferevent whose handshake agreed on "h2" (owned from now on, freed
 * when the connection ends), as an HTTP/2 connection. INFO is copied; CFG, POOL and OPS must
 * outlive it. The connection counts as one for its workload's limits.connections.
 */
int http2_conn_start(struct event_base *base, struct bufferevent *client,
		     const struct http_conn_info *info, const struct http_proxy_config *cfg,
		     struct upstream_pool *pool, const struct http_proxy_ops *ops);

/* Strict durability (http_durable_release()): the answers whose last frame waited for a
 * record up to DURABLE let it go; those whose record was lost (up to LOST, or never queued)
 * are reset instead under audit.on_failure "block". */
void http2_durable_release(uint64_t durable, uint64_t lost);

/* Ends every live h2 connection now (daemon shutdown), with their streams' records. */
void http2_conns_shutdown(void);

#endif
