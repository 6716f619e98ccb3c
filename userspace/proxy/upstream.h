/*
 * upstream: TLS connections from the proxy to providers. Each is verified (certificate chain
 * against the system store or the policy's upstream_ca, and the host name), carries SNI and
 * the exempt SO_MARK, and resumes the last TLS session kept for its host. Idle keep-alive
 * connections are pooled per (host, address) and handed out again.
 *
 * Ownership: the pool owns every connection. A user leases one with upstream_get() and gives
 * it back exactly once: upstream_put() (reusable: the response was complete) or
 * upstream_close() (anything else, also to cancel a connection that is still connecting).
 */
#ifndef AIGW_PROXY_UPSTREAM_H
#define AIGW_PROXY_UPSTREAM_H

#include <stdint.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "capture.h"

struct upstream_options {
	const char *ca_file;   /* NULL: the system trust store */
	unsigned connect_ms;   /* TCP connect */
	unsigned handshake_ms; /* TLS handshake */
	uint32_t mark;         /* SO_MARK: the capture's exemption */
	unsigned max_idle;     /* idle connections kept, over all hosts */
	unsigned idle_keep_ms; /* how long an idle connection is kept */
};

struct upstream_pool; /* freed by upstream_pool_free(), which closes every connection */

struct upstream_conn {
	/* TLS; the lessee sets its callbacks while it holds it, and its timeouts before the
	 * loop runs again: a pooled one still has the pool's (read: idle_keep_ms) */
	struct bufferevent *bev;
	int reused;              /* came from the idle pool */
	int tls_resumed;         /* the TLS session was resumed */
};

/* ERR is 0 with a connected, verified connection, or -errno with ERRMSG saying what failed;
 * after an error C is already gone. */
typedef void (*upstream_ready_fn)(struct upstream_conn *c, int err, const char *errmsg,
				  void *arg);

int upstream_pool_new(struct event_base *base, const struct upstream_options *o,
		      struct upstream_pool **ret_pool);
void upstream_pool_free(struct upstream_pool *p);

/* Leases a connection to HOST (SNI, verification) at ADDR (with FRESH, never a pooled one);
 * with PLAIN, plain HTTP: no TLS at all (a self-hosted server's http:// base URL).
 * A pooled connection is returned
 * ready (*RET_READY set, READY never called); a new one is returned connecting, and READY
 * runs from the event loop, never before this returns. Returns the connection (for
 * upstream_close() to cancel) or NULL when out of memory. */
struct upstream_conn *upstream_get(struct upstream_pool *p, const char *host,
				   const struct aigw_addr *addr, int plain, upstream_ready_fn ready,
				   void *arg, int fresh, int *ret_ready);
void upstream_put(struct upstream_conn *c);
void upstream_close(struct upstream_conn *c);

#endif
