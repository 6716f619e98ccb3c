/*
 * passthrough: a captured connection spliced, bytes unchanged, to its original destination.
 * Used for whatever is not intercepted (another site on a shared provider address). The
 * upstream socket carries the exempt SO_MARK so the capture hooks let it through.
 */
#ifndef AIGW_PROXY_PASSTHROUGH_H
#define AIGW_PROXY_PASSTHROUGH_H

#include <stdint.h>
#include <event2/event.h>

#include "capture.h"

struct passthrough_result {
	uint64_t bytes_up;   /* client -> destination */
	uint64_t bytes_down; /* destination -> client */
	int connect_error;   /* 0, or the errno of the upstream connect */
};

/* Called once when both sides are closed; the passthrough is freed after it returns. */
typedef void (*passthrough_done_fn)(const struct passthrough_result *r, void *arg);

/* Takes ownership of CLIENT_FD in every case (closed on error). */
int passthrough_start(struct event_base *base, int client_fd, const struct aigw_addr *dst,
		      uint32_t mark, unsigned connect_timeout_s, passthrough_done_fn done,
		      void *arg);

/* Ends every live passthrough now (daemon shutdown); each DONE still runs. */
void passthrough_shutdown_all(void);

#endif
