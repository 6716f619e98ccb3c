// SPDX-License-Identifier: MIT
/*
 * mockprov server-sent events: a provider handler queues the whole event sequence of a
 * streaming response (each "event:"/"data:" block one entry), then stream_start() sends the
 * headers and stream_pump() sends the entries one HTTP chunk each. With a chunk delay the pump
 * waits on the call's timer between entries, so every event leaves the socket on its own and a
 * proxy in between can be shown to forward them one by one (TCP_NODELAY is set on the socket).
 *
 * The end waits for the output to be empty and then one loop turn more (stream_end): see there.
 *
 * Fault "reset" stops after half of the events, waits until they have left the socket, and
 * resets the TCP connection: SO_LINGER 0 and a disconnect (connect AF_UNSPEC) send a RST at once
 * and no FIN, then the connection is freed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>

#include "mock.h"

#define RESET_GRACE_MS 50

static int ev_record(struct call *c, size_t before)
{
	int *n;

	if (!c->events)
		return -ENOMEM;
	if (c->n_ev == c->cap_ev) {
		n = realloc(c->ev_len, (c->cap_ev ? c->cap_ev * 2 : 16) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->ev_len = n;
		c->cap_ev = c->cap_ev ? c->cap_ev * 2 : 16;
	}
	c->ev_len[c->n_ev++] = evbuffer_get_length(c->events) - before;
	return 0;
}

static struct evbuffer *events(struct call *c)
{
	if (!c->events)
		c->events = evbuffer_new();
	return c->events;
}

/* Queues "event: NAME\ndata: DATA\n\n"; data is drained. */
int sse_event(struct call *c, const char *event, struct evbuffer *data)
{
	struct evbuffer *b = events(c);
	size_t before;

	if (!b)
		return -ENOMEM;
	before = evbuffer_get_length(b);
	evbuffer_add_printf(b, "event: %s\ndata: ", event);
	evbuffer_add_buffer(b, data);
	evbuffer_add(b, "\n\n", 2);
	return ev_record(c, before);
}

/* Queues "data: DATA\n\n"; data is drained. */
int sse_data(struct call *c, struct evbuffer *data)
{
	struct evbuffer *b = events(c);
	size_t before;

	if (!b)
		return -ENOMEM;
	before = evbuffer_get_length(b);
	evbuffer_add(b, "data: ", 6);
	evbuffer_add_buffer(b, data);
	evbuffer_add(b, "\n\n", 2);
	return ev_record(c, before);
}

/* Queues text as one event as it is. */
int sse_raw(struct call *c, const char *text)
{
	struct evbuffer *b = events(c);
	size_t before;

	if (!b)
		return -ENOMEM;
	before = evbuffer_get_length(b);
	evbuffer_add(b, text, strlen(text));
	return ev_record(c, before);
}

void call_free_stream(struct call *c)
{
	if (c->events)
		evbuffer_free(c->events);
	free(c->ev_len);
	c->events = NULL;
	c->ev_len = NULL;
}

static int conn_fd(struct call *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);

	if (!evcon)
		return -1;
	return bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
}

int stream_start(struct call *c)
{
	int one = 1, fd = conn_fd(c);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	reply_headers(c, c->stream_ctype ? c->stream_ctype : "text/event-stream; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-cache");
	evhttp_send_reply_start(c->req, 200, "OK");
	c->started = 1;
	stats_stream(1);
	stats_reply(c->prov, 200);
	reqlog_status(c->log_seq, 200);
	if (c->fault.mode == FAULT_RESET)
		c->reset_after = c->n_ev > 1 ? c->n_ev / 2 : 1;
	return stream_pump(c);
}

static void send_one(struct call *c)
{
	struct evbuffer *chunk = evbuffer_new();

	if (!chunk) {
		evbuffer_drain(c->events, c->ev_len[c->next_ev++]);
		return;
	}
	evbuffer_remove_buffer(c->events, chunk, c->ev_len[c->next_ev++]);
	evhttp_send_reply_chunk(c->req, chunk);
	evbuffer_free(chunk);
}

/*
 * evhttp ends a response from the connection's write callback, and libevent's TLS bufferevent
 * runs that callback deferred, after a write, without looking again at the output. A drain of
 * the previous chunk whose callback ran after evhttp_send_reply_end() therefore ended the call
 * with its last bytes unsent and the connection's writing disabled: the client waited forever
 * for "data: [DONE]". So the end waits until the output is empty (nothing more is written, so
 * no new callback is scheduled), then one loop turn, in which a callback still pending runs
 * first (deferred callbacks are queued ahead of the turn's timers), as a no-op.
 */
static int stream_end(struct call *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

	if (bev && evbuffer_get_length(bufferevent_get_output(bev))) {
		c->end_settled = 0;
		return call_wait(c, WAIT_STREAM, 1);
	}
	if (!c->end_settled) {
		c->end_settled = 1;
		return call_wait(c, WAIT_STREAM, 0);
	}
	evhttp_send_reply_end(c->req);
	c->req = NULL;
	return CALL_DONE;
}

int stream_pump(struct call *c)
{
	while (c->next_ev < c->n_ev) {
		if (c->reset_after >= 0 && c->next_ev >= c->reset_after) {
			int ms =
			    c->chunk_delay_ms > RESET_GRACE_MS ? c->chunk_delay_ms : RESET_GRACE_MS;

			return call_wait(c, WAIT_RESET, ms);
		}
		send_one(c);
		if (c->chunk_delay_ms > 0 && c->next_ev < c->n_ev)
			return call_wait(c, WAIT_STREAM, c->chunk_delay_ms);
	}
	return stream_end(c);
}

/* Frees the call's connection, and with it the request, with a RST (SO_LINGER 0) and no FIN. */
static void drop_conn(struct call *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct sockaddr sa = {.sa_family = AF_UNSPEC};
	int fd = conn_fd(c);

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		connect(fd, &sa, sizeof(sa));
	}
	evhttp_connection_free(evcon);
	c->req = NULL;
}

/* Resets the call's TCP connection once all sent bytes left. */
int stream_reset(struct call *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);

	if (evbuffer_get_length(bufferevent_get_output(bev)))
		return call_wait(c, WAIT_RESET, 10);
	drop_conn(c);
	return CALL_DONE;
}

/*
 * Fault "hang": while a request is unanswered evhttp does not read its socket, so a client
 * that gives up is seen here, by polling for the peer's FIN.
 */
int hang_poll(struct call *c)
{
	struct pollfd pfd = {.fd = conn_fd(c), .events = POLLRDHUP};

	if (pfd.fd >= 0 && poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		drop_conn(c);
		return CALL_DONE;
	}
	return call_wait(c, WAIT_HANG, HANG_POLL_MS);
}
