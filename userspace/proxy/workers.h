/*
 * workers: proxy.workers event loops, one thread each, that serve intercepted connections.
 * The main loop keeps the listening sockets (one per address, so the capture programs' cookie
 * check stays exact), accepts, peeks the ClientHello and hands each connection to a worker,
 * where it lives until it ends, its upstream connections with it. A worker runs only what is
 * posted to it (workers_post()) and what that starts on its loop.
 *
 * Ownership: workers_new() returns a set the caller frees with workers_free(), which first
 * runs each worker's STOP function on that worker's thread and joins it.
 */
#ifndef AIGW_PROXY_WORKERS_H
#define AIGW_PROXY_WORKERS_H

#include <event2/event.h>

#define WORKERS_MAX 64

struct workers;

/* Runs on worker IDX's thread with its loop BASE: at start (0, or -errno: the set is not
 * made, and STOP never runs for that worker, so a START that fails undoes what it did) and at
 * the end (STOP, the loop still there to end what it serves). LAST, when not NULL, runs after
 * STOP once the callbacks libevent deferred have run (a bufferevent STOP freed may hold itself
 * until its deferred callback runs; an evdns reply queued by then uses its evdns base):
 * it frees what those callbacks may still use. */
typedef int (*workers_start_fn)(unsigned idx, struct event_base *base, void *arg);
typedef void (*workers_stop_fn)(unsigned idx, void *arg);

/* N threads (1..WORKERS_MAX), each with a loop of its own. 0 and *RET, or -errno. */
int workers_new(unsigned n, workers_start_fn start, workers_stop_fn stop, workers_stop_fn last,
		void *arg, struct workers **ret);
void workers_free(struct workers *w); /* NULL is fine */

unsigned workers_count(const struct workers *w);

/* The worker the next connection goes to: round robin. */
unsigned workers_next(struct workers *w);

/* FN(ARG) runs on worker IDX's thread, soon, in posting order. 0, or -ENOMEM (FN never
 * runs). Any thread may post. */
int workers_post(struct workers *w, unsigned idx, void (*fn)(void *arg), void *arg);

#endif
