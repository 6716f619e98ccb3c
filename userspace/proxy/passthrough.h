/*
 * passthrough: a captured connection spliced, bytes unchanged, to its original destination.
 * Used for whatever is not intercepted (another site on a shared provider address). The
 * upstream socket carries the exempt SO_MARK so the capture hooks let it through. The bytes
 * move in the kernel (splice(2) through a pipe per direction), never through this process.
 */
#ifndef AIGW_PROXY_PASSTHROUGH_H
#define AIGW_PROXY_PASSTHROUGH_H

#include <stdint.h>
#include <event2/event.h>

#include "capture.h"

/* How a passthrough ended (its record's aigw.passthrough.end). */
enum passthrough_end {
	PASSTHROUGH_END_CLOSED,		/* each side closed its direction (EOF both ways) */
	PASSTHROUGH_END_CONNECT_FAILED, /* connect_error says why */
	PASSTHROUGH_END_CLIENT_ERROR,	/* error: the client's socket failed (ECONNRESET: reset) */
	PASSTHROUGH_END_SERVER_ERROR,	/* error: the destination's socket failed */
	PASSTHROUGH_END_SHUTDOWN,	/* the daemon stopped with the connection live */
	PASSTHROUGH_END_IDLE,		/* no byte either way for the idle timeout */
};

struct passthrough_result {
	uint64_t bytes_up;   /* client -> destination, delivered to the destination's socket */
	uint64_t bytes_down; /* destination -> client, delivered to the client's socket */
	int connect_error;   /* 0, or the errno of the upstream connect */
	enum passthrough_end end;
	int error; /* the errno of PASSTHROUGH_END_*_ERROR, else 0 */
};

/* "closed", "connect_failed", "client_error", "server_error", "shutdown", "idle". */
const char *passthrough_end_name(enum passthrough_end end);

/* Called once when both sides are closed; the passthrough is freed after it returns. */
typedef void (*passthrough_done_fn)(const struct passthrough_result *r, void *arg);

/*
 * Connects to DST and moves the bytes of CLIENT_FD to it and back. Every byte the client sent
 * must still be in CLIENT_FD (the decision only peeked, see classify.h): the destination
 * receives the stream from its first byte, the ClientHello included. Takes ownership of
 * CLIENT_FD in every case (closed on error); on 0, DONE runs exactly once, later. Once
 * connected, IDLE_TIMEOUT_MS (0: none) with no byte moved either way ends it (both closed).
 */
int passthrough_start(struct event_base *base, int client_fd, const struct aigw_addr *dst,
		      uint32_t mark, unsigned connect_timeout_s, unsigned idle_timeout_ms,
		      passthrough_done_fn done, void *arg);

/* Ends every live passthrough now (daemon shutdown); each DONE still runs. */
void passthrough_shutdown_all(void);

#endif
