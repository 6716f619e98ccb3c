/*
 * http2.c: HTTP/2 client connections (see http2.h).
 *
 * Why a pair per stream: the request pipeline, the exchange (retries, fallback, translation),
 * the response modes and the records are written against one HTTP/1.1 session. Giving each
 * stream such a session over bufferevent_pair_new() (memory only, no syscalls) serves h2
 * calls with exactly that code, so an h2 call and an HTTP/1.1 call cannot be governed or
 * recorded differently. The pair's callbacks are deferred, so nothing of a session runs
 * inside an nghttp2 callback and nothing of nghttp2 inside a session's.
 *
 * A stream: HEADERS -> "METHOD path HTTP/1.1", host from :authority, the fields, a
 * Content-Length or chunked framing, "connection: close" (one call per session); DATA -> the
 * body. The session's answer goes through an http-parser in response mode: the head becomes
 * HEADERS (hop-by-hop fields dropped, names lowercased), the body (de-chunked) is held in the
 * stream's buffer and sent as DATA by a data source that defers while it is empty and is
 * resumed as bytes come. Above HTTP2_STREAM_HIGH held bytes the stream stops reading its
 * pair (the session then stops reading the provider, as with a slow HTTP/1.1 client); the
 * client's window decides when it drains; other streams are not held.
 *
 * Memory: what the connection holds outside its sessions (answers waiting for the client's
 * window, request bytes in the pairs not yet read by a session) counts in one buffer_hold
 * (policy/stage_buffer.c) against the daemon's and the workload's buffer_bytes, so new calls
 * are refused with buffer_limit as on HTTP/1.1; past a cap a stream holding answer bytes
 * stops reading its pair until the client drains.
 *
 * Ends: a stream closed by the client (RST_STREAM) before its answer is whole aborts its
 * session as a client gone mid-call; the connection ending (GOAWAY, TCP close, an error)
 * does so for all. A stream is freed when nghttp2 has closed it and its session is gone.
 *
 * Records: the session's call ends when the provider's answer has been written into the
 * pair, which may be long before the client's window has taken it. So its record waits in
 * the session (exchange_delivery_end()) and tells what the client was sent: the DATA payload
 * of the stream's frames (on_frame_send), "ok" once END_STREAM left, "client_gone" when the
 * stream or connection ended first or the session gave up flushing into a shut stream.
 * With strict durability the record is written when the last frame is due, and that frame
 * waits until the record is on disk (stream_end_held()).
 *
 * Stalls: a client that keeps a stream's window (or the connection's) shut while it stays
 * connected would keep that call off the log and its exchange pinned; one that opens it by a
 * few bytes now and then would do the same while seeming to read. So each stream's answer
 * has a budget of proxy.timeouts.idle_ms for waiting on its client, spent over the whole
 * answer, as an HTTP/1.1 call's is (http1.c). The stream waits on its client while its answer
 * has bytes (or its end) that nghttp2 has not sent (stream_stalled()): from when they came
 * into its empty buffer (or the end came) to the DATA frame that takes them, and from each
 * DATA frame to the next while bytes remain. Past the budget it is reset (CANCEL) and its
 * call recorded client_gone with what it was sent, as an HTTP/1.1 client that does not read
 * is cut. A client that reads promptly has its bytes sent within the loop iterations that
 * take them (microseconds a frame); a stream with nothing to send (a slow provider) does not
 * wait on its client at all: the provider-side timeouts cover it. One timer per connection
 * fires by the earliest stream's end of budget (on_stall()).
 *
 * A client that stops reading its socket altogether is not held off by that alone: its
 * streams are reset, but their RST_STREAM (and any GOAWAY) wait behind our full output,
 * nghttp2 keeps the streams, and a connection with streams has no read timeout, so it and
 * its place in limits.connections would be held for ever. So the connection's output has a
 * bound of its own: while it holds bytes, the socket must take some of them within idle_ms,
 * or the connection ends (conn_free(): its calls still open recorded client_gone). One timer
 * (on_drain()) is armed when a send leaves bytes queued and none is pending, with a mark of
 * the bytes the socket had taken (out_queued less what is still queued); it ends the
 * connection if, idle_ms later, bytes are still queued and none more was taken. So no bytes
 * moved for idle_ms at least, 2 * idle_ms at most; a client that takes anything goes on (its
 * streams' budgets bound how slowly). A client reading promptly costs an addition a send and
 * a timer added once per idle_ms, no clock read.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>

#include "proxy/headers.h"
#include "proxy/http2.h"
#include "proxy/tlsread.h"
#include "policy/pipeline.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/monotime.h"
#include "util/timefmt.h"

#define HTTP2_STREAM_HIGH (256u * 1024) /* answer bytes held per stream before it stops */
#define HTTP2_PAIR_READ (64u * 1024)	/* read from the session's side at once */
#define HTTP2_OUT_HIGH (256u * 1024)	/* TLS output queued before nghttp2 waits */
#define HTTP2_PATH_MAX 8192
#define HTTP2_LINGER_MS 1000 /* after our last frame, the client's bytes read and dropped */
#define HTTP2_LINGER_MAX_MS 5000 /* ... until it is silent that long, for this long at most */

struct h2_conn;

struct h2_stream {
	struct h2_conn *c;
	int32_t id;
	struct h2_stream *prev, *next; /* the connection's streams */

	/* The request, as HTTP/1.1. */
	char method[24];
	char *path;		  /* :path, owned */
	char *authority;	  /* :authority, owned */
	struct evbuffer *fields;  /* "name: value\r\n" of the regular fields */
	size_t field_bytes;	  /* against HTTP2_MAX_HEADER_LIST */
	int has_host, has_length; /* a host / content-length field came */
	int chunked;		  /* the body goes chunked (its length unknown) */
	int started;		  /* the head went to the session */

	/* The session and the answer. */
	struct bufferevent *end;  /* ours of the pair; the session owns the other */
	struct session *sess;	  /* serving it; NULL once freed */
	http_parser rp;
	struct headers resp;
	struct evbuffer *body;	  /* answer bytes not yet taken by nghttp2 */
	int submitted;		  /* the answer's HEADERS are queued */
	int resp_done;		  /* the answer is whole */
	int broken;		  /* the session ended before its answer was whole */
	int deferred;		  /* the data source waits for bytes */
	int reset_sent;		  /* broken: RST_STREAM is queued */
	int ng_closed;		  /* nghttp2 closed the stream */
	/* Strict durability: the last frame waits for the call's record (stream_end_held()) */
	int end_held;		  /* ... the record is queued: END_STREAM waits for its ticket */
	int end_free;		  /* ... the record is on disk (or none is waited for) */
	uint64_t end_ticket;
	int end_sent;		  /* the answer's END_STREAM left */
	/* Its budget for waiting on the client (stalls, above): */
	struct timespec wait_mark; /* ... the wait not yet counted began: bytes came, a DATA left */
	int64_t waited_ns;	   /* ... counted so far, over the whole answer */
};

struct h2_conn {
	struct event_base *base;
	struct bufferevent *client;
	nghttp2_session *ng;
	struct http_conn_info info;
	const struct http_proxy_config *cfg;
	struct upstream_pool *pool;
	const struct http_proxy_ops *ops;
	struct pipe_conn_slot conn; /* its place among the workload's connections */
	struct buffer_hold held;    /* its streams' answer and request bytes (conn_hold_update) */
	struct event *kick;	    /* streams whose session ended are looked at */
	struct event *stall;	    /* on_stall(): by the earliest end of a stalled stream's budget */
	int64_t stall_due_ns;	    /* when it fires (monotime_ns()), while it is pending */
	struct event *drain;	    /* on_drain(): our output must move within idle_ms */
	int drain_armed;	    /* ... it is pending */
	uint64_t out_queued;	    /* bytes ever queued to the client's output (conn_send) */
	uint64_t drain_mark;	    /* what the socket had taken of them when it was armed */
	int linger_unsent;	    /* lingering: the kernel's unsent bytes at the last look */
	struct event *idle;	    /* on_idle(): no stream at work for client_idle_ms */
	int idle_armed;		    /* ... it is pending */
	struct h2_stream *streams;
	unsigned n_streams, n_requests;
	double reset_tokens; /* rapid reset: a bucket of HTTP2_RESET_BURST */
	struct timespec reset_t;
	int calm;	     /* too many resets: GOAWAY ENHANCE_YOUR_CALM */
	int going;	     /* the end: the last frames are flushed, then it lingers */
	int lingering;	     /* reading and dropping until EOF, HTTP2_LINGER_MS of silence or
			      * HTTP2_LINGER_MAX_MS in all (the drain timer) */
	int busy, dead;
	char error[128];
	char start_time[TIMEFMT_LEN];
	struct timespec t_start;
	struct h2_conn *prev_conn, *next_conn; /* all live ones, for shutdown */
};

static __thread struct h2_conn *live_conns; /* this worker's */

/* ---- stalls: a stream's answer waits on its client for idle_ms in all at most ---- */

/* Its answer has bytes, or its end, that wait to be sent: the client's windows decide. */
static int stream_stalled(const struct h2_stream *st)
{
	return st->submitted && !st->end_sent && !st->reset_sent && !st->ng_closed &&
	       !st->end_held && (evbuffer_get_length(st->body) || st->resp_done);
}

/* What is left at NOW of the budget of a stream that waits since its wait_mark. */
static int64_t stream_budget_left(const struct h2_stream *st, const struct timespec *now)
{
	return (int64_t)st->c->cfg->idle_ms * 1000000 - st->waited_ns -
	       monotime_ns_between(&st->wait_mark, now);
}

/* The connection's stall timer fires IN_NS after NOW at the latest. */
static void stall_arm(struct h2_conn *c, const struct timespec *now, int64_t in_ns)
{
	int64_t due_ns = monotime_ns(now) + (in_ns > 0 ? in_ns : 0);
	struct timeval tv;

	if (evtimer_pending(c->stall, NULL) && c->stall_due_ns <= due_ns)
		return;
	c->stall_due_ns = due_ns;
	tv = monotime_tv(in_ns > 0 ? in_ns : 0);
	evtimer_add(c->stall, &tv);
}

/* A wait on the client begins (bytes came to an empty buffer, or the answer's end did), or a
 * DATA frame ended one (COUNTED: its time is spent from the budget) and the next, if bytes
 * remain, begins now. The connection's timer is never later than the stream's end of budget
 * (a continued wait keeps the same end: no re-arming per frame). */
static void stream_clock(struct h2_stream *st, int counted)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (counted)
		st->waited_ns += monotime_ns_between(&st->wait_mark, &now);
	st->wait_mark = now;
	if (stream_stalled(st))
		stall_arm(st->c, &now, stream_budget_left(st, &now));
}

static void stream_abort(struct h2_stream *st);

/* The stream waited on its client for idle_ms in all: it is reset and its call ends as a
 * client gone, recorded now with what it was sent; what it held is dropped. */
static void stream_stall_reset(struct h2_stream *st)
{
	evbuffer_drain(st->body, evbuffer_get_length(st->body));
	st->broken = 1;
	st->reset_sent = 1;
	nghttp2_submit_rst_stream(st->c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
	stream_abort(st);
}

static void conn_leave(struct h2_conn *c);
static void conn_goaway(struct h2_conn *c, uint32_t error);

/* The connection's stall timer: streams whose budget is spent are reset; it waits again for
 * the earliest end of budget left, if a stream still waits. Less than a millisecond left is
 * none: the timer's own granularity. */
static void on_stall(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *c = arg;
	int64_t next_ns = -1;
	struct h2_stream *st;
	struct timespec now;

	c->busy++;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (st = c->streams; st; st = st->next) {
		int64_t left;

		if (!stream_stalled(st))
			continue;
		left = stream_budget_left(st, &now);
		if (left < 1000000)
			stream_stall_reset(st);
		else if (next_ns < 0 || left < next_ns)
			next_ns = left;
	}
	if (next_ns > 0)
		stall_arm(c, &now, next_ns);
	conn_leave(c);
}

/* ---- the connection's output: the socket must take some of it within idle_ms ---- */

/* Bytes the socket (TLS) has taken of all we queued to the client. */
static uint64_t conn_out_taken(struct h2_conn *c)
{
	return c->out_queued - evbuffer_get_length(bufferevent_get_output(c->client));
}

/* Our output holds bytes: unless the check is pending, it looks again in idle_ms. */
static void drain_arm(struct h2_conn *c)
{
	struct timeval tv = {c->cfg->idle_ms / 1000, (c->cfg->idle_ms % 1000) * 1000};

	if (c->drain_armed)
		return;
	c->drain_mark = conn_out_taken(c);
	c->drain_armed = !evtimer_add(c->drain, &tv);
}

/*
 * HTTP2_LINGER_MAX_MS of lingering: a client that keeps sending is not waited on for ever,
 * but one still taking the answer's end from the kernel (its queue shrank since the last
 * look: a slow reader that sends WINDOW_UPDATEs or PINGs) is given another while, so that
 * the close's reset does not throw its tail away.
 */
static void linger_check(struct h2_conn *c)
{
	struct timeval most = {HTTP2_LINGER_MAX_MS / 1000, (HTTP2_LINGER_MAX_MS % 1000) * 1000};
	int unsent = 0;

	if (ioctl(bufferevent_getfd(c->client), SIOCOUTQ, &unsent) || unsent <= 0 ||
	    unsent >= c->linger_unsent) {
		c->dead = 1;
		return;
	}
	c->linger_unsent = unsent;
	c->drain_armed = !evtimer_add(c->drain, &most);
}

/* idle_ms after drain_arm(): bytes still queued and none taken since is a client that stopped
 * reading; the connection ends. Otherwise conn_send() arms it again while bytes are queued.
 * While the connection lingers (conn_linger()) it is the bound on the lingering instead. */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *c = arg;

	c->busy++;
	c->drain_armed = 0;
	if (c->lingering)
		linger_check(c);
	else if (evbuffer_get_length(bufferevent_get_output(c->client)) &&
		 conn_out_taken(c) == c->drain_mark) {
		snprintf(c->error, sizeof(c->error),
			 "client stopped reading: none of our output taken for %u ms",
			 c->cfg->idle_ms);
		c->dead = 1;
	}
	conn_leave(c);
}

/* ---- the stream's answer: HTTP/1.1 from the session -> HEADERS and DATA ---- */

/* The stream holds as much of its answer as it may: above HTTP2_STREAM_HIGH / 2, or any
 * while the connection's bytes pass a cap. */
static int stream_over(const struct h2_stream *st)
{
	size_t held = evbuffer_get_length(st->body);

	return held >= HTTP2_STREAM_HIGH / 2 || (held && st->c->held.over);
}

/*
 * Strict durability: an answer's last frame (END_STREAM) leaves only once its call's record is
 * on disk, as an HTTP/1.1 answer's end does. The record is written when that frame is due,
 * counting the bytes it carries; http2_durable_release() lets the frame go. Returns 0: send
 * it, 1: it waits, -1: the record was not queued and audit.on_failure is "block": reset.
 */
static int stream_end_held(struct h2_stream *st, size_t len)
{
	const struct http_proxy_config *cfg = st->c->cfg;
	uint64_t ticket = 0;

	if (!cfg->durable_strict || st->end_free || !st->resp_done ||
	    evbuffer_get_length(st->body) > len)
		return 0;
	if (st->end_held)
		return 1;
	st->end_free = 1; /* unless a record is now waited for */
	if (!st->sess || !http_stream_session_end_first(st->sess, evbuffer_get_length(st->body),
							&ticket))
		return 0; /* no call waits for its record here */
	if (!ticket) /* never queued: as lost */
		return cfg->policy->audit.on_failure == POLICY_AUDIT_BLOCK ? -1 : 0;
	st->end_free = 0;
	st->end_ticket = ticket;
	st->end_held = 1;
	return 1;
}

static ssize_t on_data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
			    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2_stream *st = src->ptr;
	int n, held;

	if (st->reset_sent) { /* its RST_STREAM goes first: not an END_STREAM of what is left */
		st->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	held = stream_end_held(st, len);
	if (held < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
	if (held) {
		st->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	n = evbuffer_remove(st->body, buf, len);

	if (n <= 0 && !st->resp_done) {
		if (st->broken)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		st->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n < 0)
		n = 0;
	if (st->resp_done && !evbuffer_get_length(st->body))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (st->end && !stream_over(st))
		bufferevent_enable(st->end, EV_READ);
	return n;
}

static struct h2_stream *rp_stream(http_parser *p)
{
	return p->data;
}

static int on_resp_field(http_parser *p, const char *at, size_t len)
{
	return headers_piece(&rp_stream(p)->resp, 0, at, len);
}

static int on_resp_value(http_parser *p, const char *at, size_t len)
{
	return headers_piece(&rp_stream(p)->resp, 1, at, len);
}

/* The answer's HEADERS: ":status", then the fields that are not hop-by-hop, lowercased. */
static int submit_head(struct h2_stream *st, int status, int has_body)
{
	nghttp2_nv nv[HEADERS_MAX + 1];
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = on_data_read};
	char code[4];
	size_t n = 0;
	int r;

	snprintf(code, sizeof(code), "%03d", status % 1000);
	nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
	for (unsigned i = 0; i < st->resp.n; i++) {
		struct header *f = &st->resp.v[i];
		char *name = st->resp.arena + f->name;
		const char *value;

		if (f->dropped || !f->name_len)
			continue;
		for (char *q = name; *q; q++)
			*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
		value = f->value == UINT32_MAX ? "" : st->resp.arena + f->value;
		nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, f->name_len,
				       strlen(value), NGHTTP2_NV_FLAG_NONE};
	}
	r = nghttp2_submit_response(st->c->ng, st->id, nv, n, has_body ? &dp : NULL);
	st->submitted = 1;
	return r ? -1 : 0;
}

static int on_resp_headers_complete(http_parser *p)
{
	struct h2_stream *st = rp_stream(p);
	int head = !strcmp(st->method, "HEAD");
	int no_body = head || p->status_code == 204 || p->status_code == 304;

	headers_complete(&st->resp);
	if (p->status_code < 200) { /* an interim answer: the final one follows */
		headers_reset(&st->resp);
		return 0;
	}
	/* A bodiless answer (HEAD, 204, 304) ends with this HEADERS frame (END_STREAM), which
	 * never passes on_data_read: with audit.durability "strict" it leaves before its call's
	 * record is on disk (stream_end_held() holds only a last DATA frame). Holding it would
	 * need the HEADERS submitted only once that record is written; not done yet. */
	if (submit_head(st, p->status_code, !no_body))
		return -1;
	return head ? 1 : 0;
}

static int on_resp_body(http_parser *p, const char *at, size_t len)
{
	struct h2_stream *st = rp_stream(p);
	int was_empty = !evbuffer_get_length(st->body);

	if (evbuffer_add(st->body, at, len))
		return -1;
	if (was_empty)
		stream_clock(st, 0); /* bytes wait for the client from now */
	return 0;
}

static int on_resp_complete(http_parser *p)
{
	struct h2_stream *st = rp_stream(p);

	if (!st->submitted) /* the end of an interim answer */
		return 0;
	st->resp_done = 1;
	if (!evbuffer_get_length(st->body))
		stream_clock(st, 0); /* its END_STREAM waits from now */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = on_resp_field,
    .on_header_value = on_resp_value,
    .on_headers_complete = on_resp_headers_complete,
    .on_body = on_resp_body,
    .on_message_complete = on_resp_complete,
};

/* Reads what the session wrote since; notes a session gone before its answer was whole. */
static void stream_pump(struct h2_stream *st)
{
	struct evbuffer *in = st->end ? bufferevent_get_input(st->end) : NULL;

	while (in && evbuffer_get_length(in) && !st->resp_done && !st->broken) {
		struct evbuffer_iovec v;
		size_t used;

		evbuffer_peek(in, -1, NULL, &v, 1);
		used = http_parser_execute(&st->rp, &resp_settings, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (HTTP_PARSER_ERRNO(&st->rp) != HPE_OK && !st->resp_done)
			st->broken = 1;
	}
	if (in && st->resp_done)
		evbuffer_drain(in, evbuffer_get_length(in));
	if (!st->sess && !st->resp_done && !st->broken) {
		if (st->submitted) /* an answer without a length ends with its connection */
			http_parser_execute(&st->rp, &resp_settings, NULL, 0);
		st->broken = !st->resp_done;
	}
	if (st->broken && !st->ng_closed && !st->reset_sent) {
		nghttp2_submit_rst_stream(st->c->ng, NGHTTP2_FLAG_NONE, st->id,
					  NGHTTP2_INTERNAL_ERROR);
		st->reset_sent = 1;
	}
	if (st->end && (evbuffer_get_length(st->body) >= HTTP2_STREAM_HIGH ||
			(st->c->held.over && evbuffer_get_length(st->body))))
		bufferevent_disable(st->end, EV_READ); /* on_data_read resumes it */
	if (st->deferred && (evbuffer_get_length(st->body) || st->resp_done || st->broken)) {
		st->deferred = 0;
		nghttp2_session_resume_data(st->c->ng, st->id);
	}
}

/* ---- streams ---- */

/* Request bytes in the stream's pair: written by us, not yet parsed by its session. */
static size_t stream_pipe_bytes(const struct h2_stream *st)
{
	struct bufferevent *partner;

	if (!st->end)
		return 0;
	partner = bufferevent_pair_get_partner(st->end);
	return evbuffer_get_length(bufferevent_get_output(st->end)) +
	       (partner ? evbuffer_get_length(bufferevent_get_input(partner)) : 0);
}

static void stream_free(struct h2_stream *st)
{
	struct h2_conn *c = st->c;

	/* never under its session: its end (stream_session_ended) would write into freed memory;
	 * http_stream_session_abort() frees a session at once (no session callback runs inside
	 * ours: the pair's callbacks are deferred) */
	assert(!st->sess);

	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	c->n_streams--;
	if (st->end)
		bufferevent_free(st->end);
	if (st->fields)
		evbuffer_free(st->fields);
	if (st->body)
		evbuffer_free(st->body);
	headers_free(&st->resp);
	free(st->path);
	free(st->authority);
	free(st);
}

/* Its session was freed (http1.c calls this from session_free). */
static void stream_session_ended(void *arg)
{
	struct h2_stream *st = arg;

	st->sess = NULL;
	if (!st->c->dead)
		event_active(st->c->kick, EV_TIMEOUT, 0);
}

/* The client is gone from this stream (reset, or the connection ended): a client gone
 * mid-call, as when an HTTP/1.1 client closes. */
static void stream_abort(struct h2_stream *st)
{
	if (st->sess)
		http_stream_session_abort(st->sess); /* stream_session_ended() runs */
}

static struct h2_stream *stream_new(struct h2_conn *c, int32_t id)
{
	struct h2_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->c = c;
	st->id = id;
	st->fields = evbuffer_new();
	st->body = evbuffer_new();
	http_parser_init(&st->rp, HTTP_RESPONSE);
	st->rp.data = st;
	st->next = c->streams;
	if (c->streams)
		c->streams->prev = st;
	c->streams = st;
	c->n_streams++;
	if (!st->fields || !st->body) {
		stream_free(st);
		return NULL;
	}
	return st;
}

static void on_end_read(struct bufferevent *bev, void *arg);

/* The request's head, written to a new session over a new pair. 0, or -1. */
static int stream_start(struct h2_stream *st, int body_follows)
{
	struct h2_conn *c = st->c;
	struct bufferevent *pair[2];
	struct evbuffer *head = evbuffer_new();
	int r = -1;

	if (!head || !st->path || !st->method[0])
		goto out;
	evbuffer_add_printf(head, "%s %s HTTP/1.1\r\n", st->method, st->path);
	if (!st->has_host && st->authority)
		evbuffer_add_printf(head, "host: %s\r\n", st->authority);
	evbuffer_add_buffer(head, st->fields);
	st->chunked = body_follows && !st->has_length;
	if (st->chunked)
		evbuffer_add_printf(head, "transfer-encoding: chunked\r\n");
	evbuffer_add_printf(head, "connection: close\r\n\r\n");
	if (bufferevent_pair_new(c->base, BEV_OPT_DEFER_CALLBACKS, pair))
		goto out;
	st->end = pair[0];
	bufferevent_setwatermark(st->end, EV_READ, 0, HTTP2_PAIR_READ);
	bufferevent_setcb(st->end, on_end_read, NULL, NULL, st);
	bufferevent_enable(st->end, EV_READ | EV_WRITE);
	st->sess = http_stream_session_start(c->base, pair[1], &c->info, c->cfg, c->pool, c->ops,
					     &c->conn, stream_session_ended, st);
	if (!st->sess)
		goto out;
	c->n_requests++;
	st->started = 1;
	r = bufferevent_write_buffer(st->end, head);
out:
	if (head)
		evbuffer_free(head);
	return r;
}

/* A piece of the request's body, framed as its head said. */
static int stream_body(struct h2_stream *st, const uint8_t *data, size_t len)
{
	struct evbuffer *out;

	/* the session answered already (413, say): the rest is dropped, neither held nor
	 * counted, though its session lives on until its answer has left */
	if (!st->sess || !len || !http_stream_session_reads(st->sess))
		return 0;
	out = bufferevent_get_output(st->end);
	if (st->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	if (st->chunked)
		evbuffer_add(out, "\r\n", 2);
	return 0;
}

static void stream_body_end(struct h2_stream *st)
{
	if (st->sess && st->chunked)
		evbuffer_add(bufferevent_get_output(st->end), "0\r\n\r\n", 5);
}

/* ---- nghttp2 callbacks: only note and write; nothing here frees a connection ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (c->n_streams >= HTTP2_MAX_STREAMS) { /* streams still ending count too */
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	st = stream_new(c, f->hd.stream_id);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, st);
	return 0;
}

static int set_pseudo(struct h2_stream *st, const uint8_t *name, size_t nlen,
		      const uint8_t *value, size_t vlen)
{
	if (nlen == 7 && !memcmp(name, ":method", 7)) {
		if (vlen >= sizeof(st->method))
			return -1;
		memcpy(st->method, value, vlen);
		st->method[vlen] = 0;
	} else if (nlen == 5 && !memcmp(name, ":path", 5)) {
		free(st->path);
		st->path = vlen <= HTTP2_PATH_MAX ? strndup((const char *)value, vlen) : NULL;
		return st->path ? 0 : -1;
	} else if (nlen == 10 && !memcmp(name, ":authority", 10)) {
		free(st->authority);
		st->authority = strndup((const char *)value, vlen);
		return st->authority ? 0 : -1;
	}
	return 0; /* :scheme: https, as the connection is */
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
		     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);

	if (!st || st->started) /* trailers are not passed on */
		return 0;
	st->field_bytes += nlen + vlen + 32;
	if (st->field_bytes > HTTP2_MAX_HEADER_LIST)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (nlen && name[0] == ':')
		return set_pseudo(st, name, nlen, value, vlen) ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE
							       : 0;
	if (nlen == 6 && !memcmp(name, "expect", 6)) /* the body is on its way already */
		return 0;
	st->has_host |= nlen == 4 && !memcmp(name, "host", 4);
	st->has_length |= nlen == 14 && !memcmp(name, "content-length", 14);
	evbuffer_add(st->fields, name, nlen);
	evbuffer_add(st->fields, ": ", 2);
	evbuffer_add(st->fields, value, vlen);
	evbuffer_add(st->fields, "\r\n", 2);
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *arg)
{
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

	return st ? stream_body(st, data, len) : 0;
}

/* A reset of a live stream by the client takes a token; none left is a rapid reset flood. */
static int reset_allowed(struct h2_conn *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	c->reset_tokens += HTTP2_RESET_PER_S * ((now.tv_sec - c->reset_t.tv_sec) +
						 (now.tv_nsec - c->reset_t.tv_nsec) / 1e9);
	if (c->reset_tokens > HTTP2_RESET_BURST)
		c->reset_tokens = HTTP2_RESET_BURST;
	c->reset_t = now;
	if (c->reset_tokens < 1)
		return 0;
	c->reset_tokens -= 1;
	return 1;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
	int end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	if (f->hd.type == NGHTTP2_RST_STREAM && st && !st->resp_done && !reset_allowed(c)) {
		c->calm = 1;
		snprintf(c->error, sizeof(c->error), "rapid reset: more than %d streams reset",
			 HTTP2_RESET_BURST);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	if (!st)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && !st->started) {
		if (stream_start(st, !end)) {
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id,
						  NGHTTP2_INTERNAL_ERROR);
			return 0;
		}
	}
	/* The whole answer went and the upload goes on (refused at its head, say): it is stopped,
	 * as RFC 9113 §8.1 allows, not read and dropped to its end. Not on its last frame: a
	 * client still sending that one (httpx) takes the reset for an error. */
	if (f->hd.type == NGHTTP2_DATA && !end && nghttp2_session_get_stream_local_close(ng, st->id))
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && end && st->started &&
	    !(f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST))
		stream_body_end(st);
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error, void *arg)
{
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	st->ng_closed = 1;
	stream_abort(st); /* a session left: its answer did not all leave, or it still flushes */
	if (!st->sess)
		stream_free(st);
	return 0;
}

/* What left of a stream's answer, told to its session for the call's record: DATA payload
 * (padding aside); END_STREAM is the answer's end. */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct h2_stream *st;
	size_t n = 0;

	if (f->hd.type == NGHTTP2_DATA)
		n = f->hd.length - f->data.padlen;
	else if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
	if (!st)
		return 0;
	st->end_sent |= !!(f->hd.flags & NGHTTP2_FLAG_END_STREAM);
	if (f->hd.type == NGHTTP2_DATA && !st->end_sent)
		stream_clock(st, 1); /* the wait since the last mark is spent */
	if (st->sess)
		http_stream_session_sent(st->sess, n, f->hd.flags & NGHTTP2_FLAG_END_STREAM);
	return 0;
}

/* ---- the connection ---- */

static void conn_record(struct h2_conn *c)
{
	struct jsonw *rec = jsonw_new();
	struct timespec now;

	if (!rec)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	jsonw_str(rec, "time", c->start_time);
	jsonw_str(rec, "event.name", "proxy.connection");
	jsonw_num(rec, "aigw.connection_id", (double)c->info.conn_id);
	jsonw_str(rec, "aigw.disposition", "intercepted");
	if (c->info.sni[0])
		jsonw_str(rec, "tls.client.server_name", c->info.sni);
	if (c->info.tls_version[0])
		jsonw_str(rec, "tls.protocol.version", c->info.tls_version);
	jsonw_str(rec, "network.protocol.name", "http");
	jsonw_str(rec, "network.protocol.version", "2");
	jsonw_num(rec, "aigw.requests", c->n_requests);
	jsonw_num(rec, "aigw.duration_ms",
		  (now.tv_sec - c->t_start.tv_sec) * 1e3 + (now.tv_nsec - c->t_start.tv_nsec) / 1e6);
	if (c->error[0])
		jsonw_str(rec, "error.type", c->error);
	c->ops->record(rec, &c->info, c->ops->arg);
}

/* The one place a connection ends: its streams' calls first (client gone), then its record. */
static void conn_free(struct h2_conn *c)
{
	c->dead = 1;
	while (c->streams) {
		struct h2_stream *st = c->streams;

		stream_abort(st);
		stream_free(st);
	}
	conn_record(c);
	if (c->prev_conn)
		c->prev_conn->next_conn = c->next_conn;
	else
		live_conns = c->next_conn;
	if (c->next_conn)
		c->next_conn->prev_conn = c->prev_conn;
	nghttp2_session_del(c->ng);
	limits_conn_release(&c->conn, c->cfg->state);
	buffer_hold_release(&c->held);
	if (c->kick)
		event_free(c->kick);
	if (c->stall)
		event_free(c->stall);
	if (c->drain)
		event_free(c->drain);
	if (c->idle)
		event_free(c->idle);
	bufferevent_free(c->client);
	free(c);
}

/*
 * The last frame (a GOAWAY) is written: closing now, with the client's bytes unread, would
 * make the kernel answer with a reset that can overtake the GOAWAY. So the connection reads
 * and drops what comes until the client closes or is silent for HTTP2_LINGER_MS, as nginx's
 * lingering close does, and, as nginx's lingering_time, for HTTP2_LINGER_MAX_MS at most: a
 * client that keeps sending (a byte every half second) would otherwise hold it for ever. A
 * client still taking our last bytes from the kernel is lingered on longer (linger_check()).
 */
static void conn_linger(struct h2_conn *c)
{
	struct timeval t = {HTTP2_LINGER_MS / 1000, (HTTP2_LINGER_MS % 1000) * 1000};
	struct timeval most = {HTTP2_LINGER_MAX_MS / 1000, (HTTP2_LINGER_MAX_MS % 1000) * 1000};

	c->lingering = 1;
	c->linger_unsent = INT_MAX;
	evtimer_del(c->idle); /* the lingering has bounds of its own */
	c->idle_armed = 0;
	evtimer_del(c->drain); /* its output is empty: on_drain() ends the lingering instead */
	c->drain_armed = !evtimer_add(c->drain, &most);
	bufferevent_set_timeouts(c->client, &t, NULL);
	bufferevent_enable(c->client, EV_READ);
}

/*
 * A stream that keeps the connection from being idle: its request went to a session, and the
 * session still serves it or its answer has not all left. Not one whose HEADERS have not all
 * come (a client could send a frame's first bytes and stop), nor one whose answer left whole
 * while the client never ends its upload (refused at its head, say): those wait on the client.
 */
static int conn_busy_streams(const struct h2_conn *c)
{
	const struct h2_stream *st;

	for (st = c->streams; st; st = st->next)
		if (st->started && (st->sess || !st->end_sent))
			return 1;
	return 0;
}

/*
 * Idle without a stream: the client is given client_idle_ms from its last stream's end (or
 * the connection's start), as an HTTP/1.1 one is from its last answer. Not a read timeout:
 * PINGs, SETTINGS or a frame sent a byte at a time would keep that off for ever, and with
 * it the connection's place in limits.connections. A stream's opening disarms it.
 */
static void idle_update(struct h2_conn *c)
{
	struct timeval idle = {c->cfg->client_idle_ms / 1000,
			       (c->cfg->client_idle_ms % 1000) * 1000};
	int busy = conn_busy_streams(c);

	if (busy && c->idle_armed) {
		evtimer_del(c->idle);
		c->idle_armed = 0;
	} else if (!busy && !c->idle_armed) {
		c->idle_armed = !evtimer_add(c->idle, &idle);
	}
}

/* client_idle_ms without a stream: GOAWAY (NO_ERROR), then the bounded lingering. Not while
 * the last answer is still leaving (the drain timer bounds that): it looks again then. */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *c = arg;

	c->busy++;
	c->idle_armed = 0;
	if (!c->going && !evbuffer_get_length(bufferevent_get_output(c->client))) {
		if (!c->error[0])
			snprintf(c->error, sizeof(c->error), "idle");
		conn_goaway(c, NGHTTP2_NO_ERROR);
	}
	conn_leave(c);
}

/* Hands nghttp2's frames to TLS, up to HTTP2_OUT_HIGH queued; 0, or -1 when it is over. */
static int conn_send(struct h2_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->client);

	while (evbuffer_get_length(out) < HTTP2_OUT_HIGH) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->ng, &data);

		if (n < 0)
			return -1;
		if (!n)
			break;
		if (evbuffer_add(out, data, (size_t)n))
			return -1;
		c->out_queued += (uint64_t)n;
	}
	if (evbuffer_get_length(out))
		drain_arm(c);
	if (!c->going)
		idle_update(c);
	if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
		c->going = 1;
	if (c->going && !c->lingering && !evbuffer_get_length(out))
		conn_linger(c);
	return 0;
}

/* What the connection holds outside its sessions, told to its hold. */
static void conn_hold_update(struct h2_conn *c)
{
	uint64_t bytes = 0;
	struct h2_stream *st;

	for (st = c->streams; st; st = st->next)
		bytes += evbuffer_get_length(st->body) + stream_pipe_bytes(st);
	buffer_hold_set(&c->held, c->cfg->state, c->cfg->policy, c->info.workload, bytes);
}

/* After every callback of the connection: frames out, its hold, and the end when it came. */
static void conn_leave(struct h2_conn *c)
{
	if (--c->busy)
		return;
	if (c->dead || conn_send(c)) {
		conn_free(c);
		return;
	}
	conn_hold_update(c);
}

/* No more frames are read: a GOAWAY (ERROR) is queued, the connection ends after it. */
static void conn_goaway(struct h2_conn *c, uint32_t error)
{
	nghttp2_session_terminate_session(c->ng, error);
	c->going = 1;
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
	struct h2_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->busy++;
	if (c->going) /* after GOAWAY: dropped */
		evbuffer_drain(in, evbuffer_get_length(in));
	while (!c->going && evbuffer_get_length(in)) {
		struct evbuffer_iovec v;
		ssize_t n;

		evbuffer_peek(in, -1, NULL, &v, 1);
		n = nghttp2_session_mem_recv(c->ng, v.iov_base, v.iov_len);
		if (n < 0) {
			if (!c->error[0])
				snprintf(c->error, sizeof(c->error), "http2: %s",
					 nghttp2_strerror((int)n));
			conn_goaway(c, c->calm ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
			break;
		}
		evbuffer_drain(in, (size_t)n);
	}
	conn_leave(c);
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
	struct h2_conn *c = arg;

	c->busy++;
	conn_leave(c);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct h2_conn *c = arg;

	c->busy++;
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(c->error, sizeof(c->error), "idle");
	c->dead = 1; /* EOF, error or timeout: whatever is in flight ends now */
	conn_leave(c);
}

/* A stream's pair has bytes: more of its answer. */
static void on_end_read(struct bufferevent *bev, void *arg)
{
	struct h2_stream *st = arg;
	struct h2_conn *c = st->c;

	c->busy++;
	stream_pump(st);
	conn_leave(c);
}

/* Streams whose session ended: the rest of their answer, or a reset; freed when closed. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct h2_conn *c = arg;
	struct h2_stream *st, *next;

	c->busy++;
	for (st = c->streams; st; st = next) {
		next = st->next;
		if (st->sess)
			continue;
		if (st->ng_closed) {
			stream_free(st);
			continue;
		}
		stream_pump(st);
	}
	conn_leave(c);
}

static int session_setup(struct h2_conn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, HTTP2_MAX_STREAMS},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HTTP2_MAX_HEADER_LIST},
	};
	int r;

	if (nghttp2_session_callbacks_new(&cb))
		return -ENOMEM;
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cb);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	/* Floods: nghttp2's own caps on queued SETTINGS/PING acks, SETTINGS entries and
	 * CONTINUATION frames; its reset limit sits behind ours. */
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_continuations(opt, 8);
	nghttp2_option_set_stream_reset_rate_limit(opt, 4 * HTTP2_RESET_BURST,
						   4 * HTTP2_RESET_PER_S);
	r = nghttp2_session_server_new2(&c->ng, cb, c, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (r)
		return -ENOMEM;
	if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])))
		return -EIO;
	return 0;
}

int http2_conn_start(struct event_base *base, struct bufferevent *client,
		     const struct http_conn_info *info, const struct http_proxy_config *cfg,
		     struct upstream_pool *pool, const struct http_proxy_ops *ops)
{
	struct h2_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		bufferevent_free(client);
		return -ENOMEM;
	}
	c->base = base;
	c->client = client;
	c->info = *info;
	c->info.h2 = 1;
	c->cfg = cfg;
	c->pool = pool;
	c->ops = ops;
	c->reset_tokens = HTTP2_RESET_BURST;
	clock_gettime(CLOCK_MONOTONIC, &c->t_start);
	c->reset_t = c->t_start;
	timefmt_now(c->start_time);
	c->next_conn = live_conns;
	if (live_conns)
		live_conns->prev_conn = c;
	live_conns = c;
	c->kick = event_new(base, -1, 0, on_kick, c);
	c->stall = evtimer_new(base, on_stall, c);
	c->drain = evtimer_new(base, on_drain, c);
	c->idle = evtimer_new(base, on_idle, c);
	c->out_queued = evbuffer_get_length(bufferevent_get_output(client));
	if (!c->kick || !c->stall || !c->drain || !c->idle || session_setup(c)) {
		log_warn("http2: connection %llu: cannot set up", (unsigned long long)info->conn_id);
		snprintf(c->error, sizeof(c->error), "http2: setup failed");
		conn_free(c);
		return -ENOMEM;
	}
	if (info->workload[0])
		limits_conn_take(&c->conn, cfg->state,
				 policy_workload_by_name(cfg->policy, info->workload));
	bufferevent_setwatermark(client, EV_READ, 0, 0);
	bufferevent_set_timeouts(client, NULL, NULL); /* the handshake's: idle_update() now */
	tlsread_batch(client); /* -ENOMEM: two reads a record, as before */
	bufferevent_setcb(client, on_client_read, on_client_write, on_client_event, c);
	bufferevent_enable(client, EV_READ | EV_WRITE);
	c->busy++;
	if (evbuffer_get_length(bufferevent_get_input(client)))
		on_client_read(client, c); /* the preface came with the handshake */
	conn_leave(c);
	return 0;
}

/* A held last frame goes, or under audit.on_failure "block" a lost record resets the stream. */
static void stream_end_release(struct h2_stream *st, uint64_t lost)
{
	st->end_held = 0;
	st->end_free = 1;
	if (st->end_ticket <= lost && st->c->cfg->policy->audit.on_failure == POLICY_AUDIT_BLOCK) {
		st->broken = 1;
		if (!st->reset_sent && !st->ng_closed)
			nghttp2_submit_rst_stream(st->c->ng, NGHTTP2_FLAG_NONE, st->id,
						  NGHTTP2_INTERNAL_ERROR);
		st->reset_sent = 1;
		return;
	}
	st->deferred = 0;
	nghttp2_session_resume_data(st->c->ng, st->id);
}

void http2_durable_release(uint64_t durable, uint64_t lost)
{
	struct h2_conn *c, *next_conn;
	struct h2_stream *st;

	for (c = live_conns; c; c = next_conn) {
		next_conn = c->next_conn;
		c->busy++;
		for (st = c->streams; st; st = st->next)
			if (st->end_held && st->end_ticket <= durable)
				stream_end_release(st, lost);
		conn_leave(c);
	}
}

void http2_conns_shutdown(void)
{
	while (live_conns) {
		snprintf(live_conns->error, sizeof(live_conns->error), "shutdown");
		conn_free(live_conns);
	}
}
