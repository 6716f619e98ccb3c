/*
 * classify: what a captured connection is, decided before any byte of it is consumed. Peeks
 * (MSG_PEEK) until a whole TLS ClientHello is there, or the bytes show it is not TLS, or the
 * client gives up. The caller then terminates TLS, splices the bytes through, or applies the
 * non-TLS policy, with every byte still in the socket.
 */
#ifndef AIGW_PROXY_CLASSIFY_H
#define AIGW_PROXY_CLASSIFY_H

#include <event2/event.h>

#include "proxy/clienthello.h"

enum classify_kind {
	CLASSIFY_TLS,     /* hello is filled */
	CLASSIFY_NOT_TLS, /* the first bytes are no TLS handshake */
	CLASSIFY_FAILED,  /* err: -ETIMEDOUT, -ECONNRESET (closed first), -EBADMSG, -EMSGSIZE,
			   * -ESHUTDOWN */
};

struct classify_result {
	enum classify_kind kind;
	int err;
	struct clienthello hello;
};

/* Called once; FD is still the caller's (never closed here). */
typedef void (*classify_fn)(int fd, const struct classify_result *r, void *arg);

int classify_start(struct event_base *base, int fd, unsigned timeout_ms, classify_fn fn,
		   void *arg);

/* Ends every pending classification (daemon shutdown): each callback runs with
 * CLASSIFY_FAILED and -ESHUTDOWN. */
void classify_shutdown_all(void);

#endif
