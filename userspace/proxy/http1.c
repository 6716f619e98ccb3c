/*
 * http1.c: sessions (one per intercepted client connection) and exchanges (one per request).
 *
 * The client's bytes go through an http-parser in request mode; a complete request (headers
 * and the whole body: the gateway must read the model before it forwards, and will need the
 * body whole to apply policy) pauses the parser, so pipelined requests wait their turn. The
 * exchange leases an upstream connection, writes the request with hop-by-hop headers removed
 * and an exact Content-Length, and feeds the provider's bytes through a second parser in
 * response mode, whose callbacks write the response to the client as it arrives: a
 * server-sent-events stream leaves as each chunk comes in. When the client is slower than
 * the provider, reading from the provider stops (backpressure) until the client drains.
 *
 * Parser callbacks only record and write; everything that can end an exchange or a session
 * happens after http_parser_execute() returns. A session is freed only when no libevent
 * callback of its own is on the stack (session_enter/session_leave).
 *
 * Strict durability: libevent's TLS bufferevent writes as soon as bytes are added to its
 * output, so an answer's end cannot be caught once it is written. Instead session_enter()
 * corks the client's write side (EV_WRITE off) for as long as the session's callbacks run, and
 * session_leave() uncorks it, unless a call ended meanwhile: then the session stays corked
 * (session_hold()), on the list of held sessions in record-ticket order, reads no next
 * request, and http_durable_release() uncorks it once the audit writer says its record is
 * on disk. All the session's bytes wait, not only the last ones: for a millisecond or so.
 *
 * Waiting on the client: a call's answer may wait on its client for proxy.timeouts.idle_ms in
 * all, over the whole answer. The client's write timeout alone (idle_ms) restarts at every
 * write, so an app reading a few bytes just inside each idle_ms would keep its call unended,
 * off the log, for as long as it liked. A wait is the time our output to the client holds
 * bytes that its socket (TLS, or the explicit endpoint's plain one) refused: from the flush
 * that could not send everything (session_flush(), tlsflush.c) to the moment the output is
 * empty again (on_client_write()). Past the budget the connection is closed and the call
 * recorded client_gone, as on the write timeout. An app reading promptly empties the output as
 * fast as it fills; an answer the provider paces leaves between its events with nothing held;
 * and an answer small enough for the socket to take whole never waits: the common case costs
 * one evbuffer_get_length() a flush, no clock read. The socket's own buffer is not looked at
 * (that would cost a syscall). The time a held answer waits for its record (strict
 * durability) is the gateway's, not the client's: no wait runs while it is held. An answer's
 * tail after its call ended (Connection: close: the session is closing) spends what is left
 * of its call's budget too, else a trickling reader would pin the connection, and its
 * limits.connections slot, through a closing write timeout that restarts at every write.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <http_parser.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "policy/json_locate.h"
#include "proxy/body.h"
#include "proxy/http1_int.h"
#include "proxy/http2.h"
#include "proxy/request_members.h"
#include "proxy/tlsflush.h"
#include "proxy/tlsread.h"
#include "providers/bedrock.h"
#include "providers/api_path.h"
#include "providers/gemini.h"
#include "ledger/cost.h"
#include "util/decimal.h"
#include "util/hex.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/monotime.h"
#include "util/netaddr.h"
#include "util/strcopy.h"

/* ---- small helpers ---- */

static int str_append(char **s, const char *data, size_t len)
{
	size_t old = *s ? strlen(*s) : 0;
	char *n = realloc(*s, old + len + 1);

	if (!n)
		return -1;
	memcpy(n + old, data, len);
	n[old + len] = 0;
	*s = n;
	return 0;
}

/* ---- gateway-made responses, in the calling provider's own error format ---- */

/* The API the app speaks: its request path's as read on its head (request_classify()),
 * else its provider's (a path that provider does not serve, or a request that did not get as
 * far as its path). */
const struct provider_api *app_api(const struct session *s, const struct exchange *ex)
{
	return ex && ex->app ? ex->app : provider_api_of_family(s->info.family);
}

const char *reason_phrase(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 413:
		return "Content Too Large";
	case 421:
		return "Misdirected Request";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	}
	return status / 100 == 2 ? "OK" : "Error";
}

/* Writes a complete error response in the app's API (KIND: a policy refusal's, or NULL) and
 * marks the connection for closing. */
static void send_error_answer(struct session *s, struct exchange *ex, int status,
			      const char *kind, long retry_after_s, const char *msg)
{
	struct evbuffer *out = bufferevent_get_output(s->client);
	size_t len;
	char *body = app_api(s, ex)->error_body(status, kind, msg, &len);

	if (!body)
		return;
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n",
			    status, reason_phrase(status), len);
	if (retry_after_s > 0)
		evbuffer_add_printf(out, "retry-after: %ld\r\n", retry_after_s);
	if (ex)
		evbuffer_add_printf(out, "x-aigw-request-id: %s\r\n", ex->id);
	evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, body, len);
	free(body);
	if (ex) {
		ex->status = status;
		ex->head_sent = 1;
	}
}

void send_error(struct session *s, struct exchange *ex, int status, const char *msg)
{
	send_error_answer(s, ex, status, NULL, 0, msg);
}

void send_refusal(struct session *s, struct exchange *ex, const struct pipe_refusal *r)
{
	send_error_answer(s, ex, r->status, r->kind, r->retry_after_s, r->message);
}

/* ---- session lifetime ---- */

/* Each worker's loop serves its own sessions: the lists are its thread's. */
static __thread struct session *live_sessions;
static __thread struct session *held_first, *held_last; /* holding an answer's end, by ticket */

static void client_parse(struct session *s);
static void client_wait_end(struct session *s);

/* Strict durability only: nothing written to the client leaves until session_uncork(). */
static void session_cork(struct session *s)
{
	if (!s->cfg->durable_strict || s->corked)
		return;
	bufferevent_disable(s->client, EV_WRITE);
	s->corked = 1;
}

static void session_uncork(struct session *s)
{
	if (!s->corked)
		return;
	s->corked = 0;
	bufferevent_enable(s->client, EV_WRITE);
}

static void held_remove(struct session *s)
{
	if (!s->hold_ticket)
		return;
	if (s->hold_prev)
		s->hold_prev->hold_next = s->hold_next;
	else
		held_first = s->hold_next;
	if (s->hold_next)
		s->hold_next->hold_prev = s->hold_prev;
	else
		held_last = s->hold_prev;
	s->hold_prev = s->hold_next = NULL;
	s->hold_ticket = 0;
}

/* A session is corked only inside its callbacks with strict durability on: there, the call
 * that just ended keeps it corked until its record is on disk. */
void session_hold(struct session *s, uint64_t ticket)
{
	if (!s->corked || s->dead)
		return;
	if (!ticket) { /* never queued: as lost */
		s->hold_lost = s->cfg->policy->audit.on_failure == POLICY_AUDIT_BLOCK;
		return;
	}
	s->hold_ticket = ticket;
	/* the record's way to disk is the gateway's wait, not the client's: session_leave()
	 * begins the client's again if the answer is still not taken once it is released */
	if (s->client_waiting)
		client_wait_end(s);
	s->hold_prev = held_last;
	if (held_last)
		held_last->hold_next = s;
	else
		held_first = s;
	held_last = s;
}

/* The held answer's record is lost and audit.on_failure is "block": the connection closes
 * without the answer's end, so the app never has in full a call with no record. */
static void session_cut(struct session *s)
{
	s->hold_lost = 0;
	held_remove(s);
	if (!s->dead)
		session_close(s, OUTCOME_OK, 0);
	s->closing = 0;
}

void http_durable_release(uint64_t durable, uint64_t lost)
{
	struct session *s, *next;

	for (s = held_first; s && s->hold_ticket <= durable; s = next) {
		next = s->hold_next;
		session_enter(s);
		if (s->hold_ticket <= lost &&
		    s->cfg->policy->audit.on_failure == POLICY_AUDIT_BLOCK)
			s->hold_lost = 1;
		held_remove(s);
		client_parse(s); /* a next request waited behind the held answer */
		session_leave(s);
	}
	http2_durable_release(durable, lost); /* h2 answers' last frames */
}

static void session_free(struct session *s)
{
	exchange_delivery_end(s, 0, OUTCOME_CLIENT_GONE); /* an h2 call still unrecorded */
	if (s->prev)
		s->prev->next = s->next;
	else if (live_sessions == s)
		live_sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->client)
		bufferevent_free(s->client);
	if (s->client_wait_timer)
		event_free(s->client_wait_timer);
	limits_conn_release(&s->conn, s->cfg->state);
	buffer_hold_release(&s->queued);
	held_remove(s);
	session_spares_free(s);
	if (s->ended)
		s->ended(s->ended_arg);
	free(s);
}

/* ---- the call's budget for waiting on its client (top of file) ---- */

/* What is left at NOW of the call's budget, a wait being under way. */
static int64_t client_wait_left(const struct session *s, const struct timespec *now)
{
	return (int64_t)s->cfg->idle_ms * 1000000 - s->client_waited_ns -
	       monotime_ns_between(&s->client_wait_from, now);
}

static void on_close_event(struct bufferevent *bev, short what, void *arg);

/* The budget is spent: the client is cut as on its write timeout. Less than a millisecond
 * left is none (the timer's own granularity); otherwise the timer waits for the rest (the
 * budget began again with a new call meanwhile). */
static void on_client_wait_timer(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timespec now;
	int64_t left;

	if ((s->dead && !s->closing) || !s->client_waiting)
		return;
	/* libevent wrote the last bytes but defers the write callback that ends the wait: the
	 * client took everything, it is not cut for that turn of the loop */
	if (!evbuffer_get_length(bufferevent_get_output(s->client))) {
		client_wait_end(s);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	left = client_wait_left(s, &now);
	if (left >= 1000000) {
		struct timeval tv = monotime_tv(left);

		evtimer_add(s->client_wait_timer, &tv);
		return;
	}
	if (s->closing) { /* the answer's tail: its call is recorded, the connection goes */
		on_close_event(s->client, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT, s);
		return;
	}
	session_enter(s);
	session_close(s, OUTCOME_CLIENT_GONE, 0);
	session_leave(s);
}

/* The socket refused part of what was queued: a wait begins, and the timer is set for the
 * rest of the budget. Without memory for the timer the write timeout alone still cuts a
 * client that takes nothing for idle_ms. */
static void client_wait_begin(struct session *s)
{
	struct timeval tv;
	int64_t left;

	if (!s->client_wait_timer) {
		s->client_wait_timer = evtimer_new(s->base, on_client_wait_timer, s);
		if (!s->client_wait_timer)
			return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->client_wait_from);
	s->client_waiting = 1;
	left = client_wait_left(s, &s->client_wait_from);
	tv = monotime_tv(left > 0 ? left : 0);
	evtimer_add(s->client_wait_timer, &tv);
}

/* The output is empty again: the wait is spent from the budget. */
static void client_wait_end(struct session *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	s->client_waited_ns += monotime_ns_between(&s->client_wait_from, &now);
	s->client_waiting = 0;
	evtimer_del(s->client_wait_timer);
}

/* A call is dispatched: its budget is whole; a wait still under way (a pipelined call behind
 * an answer not yet taken) counts for it from now. */
static void client_wait_reset(struct session *s)
{
	s->client_waited_ns = 0;
	if (s->client_waiting)
		clock_gettime(CLOCK_MONOTONIC, &s->client_wait_from);
}

static void on_client_write(struct bufferevent *bev, void *arg);

/* What the callbacks queued for the client leaves now (tlsflush.c: TLS in whole records, a
 * plain socket's, the explicit endpoint's api.socket and api.listen, in as few writes),
 * unless the session closes without flushing. What the socket refuses begins a wait on the
 * client (not while corked: then the gateway holds it), in the answer's closing tail too. A
 * bufferevent pair (an h2 stream's session) has no socket: the h2 connection keeps that
 * stream's budget. */
static void session_flush(struct session *s)
{
	size_t sent;

	if (s->dead && !s->closing)
		return;
	sent = tlsflush_now(s->client);
	if (!sent)
		sent = plainflush_now(s->client);
	if (sent && !s->dead)
		on_client_write(s->client, s); /* libevent's write callback will not run for it */
	if (!s->client_waiting && !s->corked &&
	    evbuffer_get_length(bufferevent_get_output(s->client)) &&
	    bufferevent_getfd(s->client) >= 0)
		client_wait_begin(s);
}

void session_enter(struct session *s)
{
	if (s->busy++ == 0)
		session_cork(s);
}

/* Returns 1 when the session was freed. */
int session_leave(struct session *s)
{
	if (--s->busy)
		return 0;
	if (s->hold_lost)
		session_cut(s);
	if (!s->hold_ticket) {
		session_uncork(s);
		session_flush(s);
		/* a close that waited only for its record: nothing left to flush */
		if (s->closing && !evbuffer_get_length(bufferevent_get_output(s->client)))
			s->closing = 0;
	}
	/* an h2 stream's ended call waits for its stream (http_stream_session_sent(), _abort()) */
	if (s->dead && !s->closing && !s->undelivered) {
		session_free(s);
		return 1;
	}
	return 0;
}

/* "MAJOR.MINOR" and a NUL into V (12 bytes hold any two 16-bit numbers): "%u.%u". */
static void version_format(char *v, unsigned short major, unsigned short minor)
{
	char *p = decimal_put_u64(v, major);

	*p++ = '.';
	*decimal_put_u64(p, minor) = '\0';
}

#define PROTOCOL_NOTE "\"network.protocol.name\":\"http\",\"network.protocol.version\":\""

/* OpenTelemetry's network.protocol.*: "2" for an h2 stream, else what the client sent. Written
 * as one piece: a version is digits and a dot, which need no escape. */
void session_protocol_note(const struct session *s, struct jsonw *rec)
{
	char text[sizeof(PROTOCOL_NOTE) + 16] = PROTOCOL_NOTE;
	char *v = text + sizeof(PROTOCOL_NOTE) - 1;

	if (s->info.h2)
		memcpy(v, "2", 2);
	else if (s->p.http_major)
		version_format(v, s->p.http_major, s->p.http_minor);
	else
		return; /* no request came */
	v += strlen(v);
	*v++ = '"';
	jsonw_members(rec, text, (size_t)(v - text));
}

static void connection_record(struct session *s)
{
	struct jsonw *rec = jsonw_new();
	struct timespec now;

	if (!rec)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	jsonw_str(rec, "time", s->start_time);
	jsonw_str(rec, "event.name", "proxy.connection");
	jsonw_num(rec, "aigw.connection_id", (double)s->info.conn_id);
	jsonw_str(rec, "aigw.disposition", s->info.explicit_endpoint ? "explicit" : "intercepted");
	if (s->info.sni[0])
		jsonw_str(rec, "tls.client.server_name", s->info.sni);
	if (s->info.tls_version[0])
		jsonw_str(rec, "tls.protocol.version", s->info.tls_version);
	session_protocol_note(s, rec);
	jsonw_num(rec, "aigw.requests", s->n_requests);
	jsonw_num(rec, "aigw.duration_ms", ms_between(&s->t_start, &now));
	if (s->tls_error[0])
		jsonw_str(rec, "error.type", s->tls_error);
	s->ops->record(rec, &s->info, s->ops->arg);
}

static void on_close_written(struct bufferevent *bev, void *arg);
static void on_close_event(struct bufferevent *bev, short what, void *arg);

/*
 * The one place a session ends. An exchange still in flight ends first (its record says
 * why); then the connection's record. With FLUSH, what is queued for the client is sent
 * before the connection closes.
 */
void session_close(struct session *s, enum exchange_outcome why, int flush)
{
	if (s->dead)
		return;
	if (s->ex)
		exchange_finish(s->ex, why);
	s->dead = 1;
	if (!s->info.h2) /* an h2 stream's connection has its own record (http2.c) */
		connection_record(s);
	if (!flush) {
		held_remove(s);
		s->hold_lost = 0;
		/* h2: nothing more goes into the stream, which its end resets: the call is
		 * recorded now with how it ended, as an HTTP/1.1 one cut short is */
		exchange_delivery_end(s, 0, OUTCOME_CLIENT_GONE);
	}
	if (flush && (evbuffer_get_length(bufferevent_get_output(s->client)) || s->hold_ticket)) {
		s->closing = 1;
		bufferevent_disable(s->client, EV_READ);
		bufferevent_setcb(s->client, NULL, on_close_written, on_close_event, s);
		bufferevent_set_timeouts(s->client, NULL, &(struct timeval){5, 0});
	}
}

static void on_close_written(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)))
		return;
	s->closing = 0;
	session_enter(s);
	session_leave(s);
}

static void on_close_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	s->closing = 0;
	session_enter(s);
	exchange_delivery_end(s, 0, OUTCOME_CLIENT_GONE); /* h2: the stream took no more */
	session_leave(s);
}

static void client_parse(struct session *s);

/* After an answer on a kept-alive connection: wait for the next request, or read the one
 * that is already buffered (pipelined), now rather than a loop iteration later. */
void session_resume(struct session *s)
{
	struct timeval idle = {s->cfg->client_idle_ms / 1000,
			       (s->cfg->client_idle_ms % 1000) * 1000};

	bufferevent_set_timeouts(s->client, &idle, NULL);
	if (evbuffer_get_length(bufferevent_get_input(s->client)))
		client_parse(s);
}

static uint64_t request_id_key;
static pthread_once_t request_id_once = PTHREAD_ONCE_INIT;

static void request_id_key_make(void)
{
	if (RAND_bytes((unsigned char *)&request_id_key, sizeof(request_id_key)) != 1)
		request_id_key = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
}

/* Request ids: unique and unguessable across restarts without a RNG call per request: a
 * random key fixed at start, mixed with a counter (splitmix64 is a bijection). The workers
 * share the counter (atomic): ids stay unique across them. */
uint64_t request_id_next(void)
{
	static _Atomic uint64_t counter;
	uint64_t z;

	pthread_once(&request_id_once, request_id_key_make);
	z = request_id_key + (atomic_fetch_add(&counter, 1) + 1) * 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* The body's members read from its tree, as request_members_scan() reads them from its text:
 * for the texts only the tree tells of. The tree is kept (ex->req_json). Returns 0, or -ENOMEM
 * when the scan proved the text an object (RET->object on entry) and no tree came: without
 * it the body would pass as no JSON, its model and a key named twice unread. */
static int request_parse(struct exchange *ex, const char *text, size_t len,
			 struct request_scan *ret)
{
	int proven_object = ret->object;
	struct request_members m;
	struct usage_tree *tree;
	cJSON *root = usage_tree_parse(text, len, &tree); /* a BOM or leading blanks are allowed */

	*ret = (struct request_scan){0};
	if (!cJSON_IsObject(root)) {
		usage_tree_free(root, tree);
		return proven_object ? -ENOMEM : 0;
	}
	request_members_read(root, &m);
	ret->object = 1;
	ret->twice = m.twice;
	if (m.twice) { /* refused: nothing reads it */
		usage_tree_free(root, tree);
		return 0;
	}
	if (cJSON_IsString(m.model)) {
		ret->model = m.model->valuestring;
		ret->model_len = strlen(m.model->valuestring);
	}
	ret->stream = cJSON_IsTrue(m.stream);
	ret->include_usage =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m.stream_options, "include_usage"));
	ex->req_json = root;
	ex->req_tree = tree;
	return 0;
}

/* The model and the stream flag, from a JSON body, read once; its tree is built when a reader
 * first asks (exchange_req_json()). Returns 0, or -EBADMSG with *WHY when the body names
 * twice a member the gateway decides on (routes, prices, bounds a budget by): parsers differ
 * on which of the two counts; or -E2BIG when it holds more values than
 * proxy.max_request_json_values, counted in the text before any tree is built (a 32 MiB body
 * of "0,0,0,..." would be a 1.3 GB tree); a body too short to hold that many is not counted;
 * or -ENOMEM when the body, an object, needs its tree read and none could be built, or the body
 * could not be made contiguous to be read at all. */
static int request_inspect(struct exchange *ex, const char **why)
{
	size_t len = evbuffer_get_length(ex->body), max_values = ex->s->cfg->max_request_json_values;
	const char *text = len ? (const char *)evbuffer_pullup(ex->body, -1) : NULL;
	struct request_scan m;

	if (!len) /* ex->api and ex->app were set on the request's head */
		return 0;
	if (!text) /* not read: it would pass as no JSON, its model unread by the allow-lists */
		return -ENOMEM;
	if (json_values_at_most(len) > max_values &&
	    json_locate_count_values(text, len, max_values) > max_values)
		return -E2BIG;
	if (request_members_scan(text, len, &m) && request_parse(ex, text, len, &m))
		return -ENOMEM;
	if (!m.object)
		return 0;
	*why = m.twice;
	if (*why)
		return -EBADMSG;
	ex->req_object = 1; /* the policy stages read it; the usage question is asked of it */
	ex->req_json_later = !ex->req_json;
	if (ex->app && ex->app->path_model) /* its path named the model and the stream */
		return 0;
	if (ex->app && ex->app->family == POLICY_API_BEDROCK) /* the path names the model */
		return 0;
	if (m.model && !ex->vertex_app) /* Vertex: the path's (set on the head) */
		str_copy_n(ex->model, sizeof(ex->model), m.model, m.model_len);
	ex->stream = m.stream || ex->vertex_app == VERTEX_ANTHROPIC_STREAM ||
		     ex->vertex_app == VERTEX_GEMINI_STREAM;
	ex->want_usage = ex->api == USAGE_API_OPENAI_CHAT && ex->stream && !m.include_usage;
	return 0;
}

/* ---- the explicit endpoint: configured apps, named by their gateway key ---- */

/* The gateway key the app presents: a bearer token or Anthropic's x-api-key. */
static const char *presented_key(const struct exchange *ex)
{
	const char *auth = headers_find(&ex->req, HDR_AUTHORIZATION);

	if (auth && !strncasecmp(auth, "Bearer ", 7))
		return auth + 7;
	return headers_find(&ex->req, HDR_X_API_KEY);
}

/* GET /v1/models: the logical names, as OpenAI lists models. */
static void send_model_list(struct exchange *ex)
{
	struct evbuffer *body = evbuffer_new(), *out = bufferevent_get_output(ex->s->client);

	if (!body)
		return;
	evbuffer_add_printf(body, "{\"object\":\"list\",\"data\":[");
	for (size_t i = 0; ex->routes && i < ex->routes->n_routes; i++) {
		struct jsonw *m = jsonw_new();
		size_t len;
		char *text;

		if (!m)
			break;
		jsonw_str(m, "id", ex->routes->routes[i].name);
		jsonw_str(m, "object", "model");
		jsonw_num(m, "created", 0);
		jsonw_str(m, "owned_by", "aigw");
		text = jsonw_finish(m, &len);
		if (!text)
			break;
		evbuffer_add_printf(body, "%s%s", i ? "," : "", text);
		free(text);
	}
	evbuffer_add(body, "]}", 2);
	evbuffer_add_printf(out,
			    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\nx-aigw-request-id: %s"
			    "\r\n\r\n",
			    evbuffer_get_length(body), ex->id);
	evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	ex->status = 200;
	ex->head_sent = 1;
}

int explicit_admit(struct exchange *ex)
{
	struct session *s = ex->s;

	headers_drop(&ex->req, "authorization");
	headers_drop(&ex->req, "x-api-key");
	if (!ex->pr.model_listing)
		return 0;
	send_model_list(ex);
	session_close(s, OUTCOME_OK, 1);
	return -ECANCELED;
}

/* ---- the request: client -> us ---- */

static struct session *p_session(http_parser *p)
{
	return p->data;
}

static void reject(struct session *s, int status, enum exchange_outcome outcome, const char *msg)
{
	s->reject_status = status;
	s->reject_outcome = outcome;
	snprintf(s->reject_msg, sizeof(s->reject_msg), "%s", msg);
}

static int on_req_begin(http_parser *p)
{
	struct session *s = p_session(p);
	struct exchange *ex = exchange_alloc();

	if (!ex)
		return -1;
	ex->s = s;
	ex->api = -1;
	ex->policy = policy_ref(s->cfg->policy);
	ex->body = session_evbuffer(s);
	ex->reason = session_evbuffer(s);
	if (!ex->body || !ex->reason) {
		exchange_free(ex);
		return -1;
	}
	memcpy(ex->id, "aigw-", 5);
	hex_u64(request_id_next(), ex->id + 5); /* "aigw-%016llx" */
	clock_gettime(CLOCK_MONOTONIC, &ex->t_start);
	timefmt_now(ex->start_time);
	s->ex = ex;
	return 0;
}

static int on_req_url(http_parser *p, const char *at, size_t len)
{
	struct exchange *ex = p_session(p)->ex;

	if (ex->url_len + len > 8192) {
		reject(ex->s, 400, OUTCOME_BAD_REQUEST, "request target longer than 8192 bytes");
		return -1;
	}
	ex->url_len += len;
	return str_append(&ex->url, at, len);
}

static int on_req_header_field(http_parser *p, const char *at, size_t len)
{
	return headers_piece(&p_session(p)->ex->req, 0, at, len);
}

static int on_req_header_value(http_parser *p, const char *at, size_t len)
{
	return headers_piece(&p_session(p)->ex->req, 1, at, len);
}

/* The request target as the gateway reads it, at a captured provider PV (NULL: none) that
 * serves its API under ROOT: ex->api_url, or ex->outside_api; an Azure deployments call also
 * names ex->deployment. 0 or -ENOMEM. */
static int request_canonicalise(struct exchange *ex, const struct policy_provider *pv,
				const char *root)
{
	int r = pv && pv->azure ? azure_canonical(ex->url, &ex->api_url, ex->deployment) : 0;

	if (r == -EINVAL) /* under /openai/deployments/ or /models/, no call read there */
		r = -ENOENT;
	else if (!r && root)
		r = api_path_canonical(root, ex->url, &ex->api_url);

	ex->outside_api = r == -ENOENT;
	return r == -ENOMEM ? r : 0;
}

/*
 * A call to a Vertex provider is read by its path: the model is the path's (a "model" in the
 * body counts for nothing: Vertex serves the path's), an Anthropic model's call is the
 * Messages API it carries ("/v1/messages" for the gateway), and a path that is no publisher
 * model call is outside the API (the gateway's token never goes with it). 0 or -ENOMEM.
 */
static int vertex_canonicalise(struct exchange *ex)
{
	struct vertex_call vc;

	free(ex->api_url);
	ex->api_url = NULL;
	ex->outside_api = vertex_path_parse(ex->url, &vc) != 0;
	if (ex->outside_api)
		return 0;
	ex->vertex_app = vc.kind;
	snprintf(ex->model, sizeof(ex->model), "%s", vc.model);
	snprintf(ex->vertex_location, sizeof(ex->vertex_location), "%s", vc.location);
	if (vc.kind == VERTEX_ANTHROPIC_RAW || vc.kind == VERTEX_ANTHROPIC_STREAM) {
		ex->api_url = strdup(API_PATH_ROOT "/messages");
		return ex->api_url ? 0 : -ENOMEM;
	}
	/* a Gemini model's call is the Gemini API's call of the same model and method: read with
	 * its usageMetadata reader, its query as that API's (gemini_query_check()) */
	if (asprintf(&ex->api_url, "%s%s:%s", VERTEX_GEMINI_API_MODELS, vc.model, vc.method) < 0) {
		ex->api_url = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* A Bedrock call's model and whether it streams: its path's (a "model" in its body is not what
 * Bedrock runs, so it is never read). */
static void bedrock_request_head(struct exchange *ex)
{
	const char *url = exchange_api_url(ex);
	struct bedrock_path b;

	if (!ex->app || ex->app->family != POLICY_API_BEDROCK ||
	    bedrock_parse_path(url, strcspn(url, "?"), &b))
		return;
	if (strlen(b.model) < sizeof(ex->model)) /* else none: allow-lists refuse it */
		memcpy(ex->model, b.model, strlen(b.model) + 1);
	ex->stream = b.op == BEDROCK_CONVERSE_STREAM || b.op == BEDROCK_INVOKE_STREAM;
}

/*
 * The usage API of the app's call, and ex->app its adapter, or -1 (and NULL). A captured call
 * is read only as its provider's family reads it: a Gemini- or Bedrock-shaped path, or
 * Anthropic's /v1/messages, sent to OpenAI is a path OpenAI does not serve, not another
 * family's call (whose model the path would name, sent with OpenAI's key in that family's
 * header). At the explicit endpoint any family's path is read: the route sends it.
 */
static int request_classify(const struct session *s, struct exchange *ex)
{
	const char *url = exchange_api_url(ex);

	ex->app = NULL;
	if (ex->outside_api)
		return -1;
	if (s->info.explicit_endpoint)
		return provider_api_for_path(url, &ex->app);
	return provider_api_for_family_path(s->info.family, url, &ex->app);
}

/* What the policy stages know of a request's head. 0 or -ENOMEM. */
static int pipe_head_fill(struct session *s, struct exchange *ex, const http_parser *p)
{
	struct pipe_req *r = &ex->pr;
	const struct policy_provider *pv = s->info.explicit_endpoint
						   ? NULL
						   : policy_provider_by_name(ex->policy, s->info.provider);

	/* Bedrock's paths have no API root: they are read as they come */
	r->api_root = pv && pv->api != POLICY_API_BEDROCK ? pv->api_root : NULL;
	if (request_canonicalise(ex, pv, r->api_root))
		return -ENOMEM;
	if (pv && pv->api == POLICY_API_VERTEX && vertex_canonicalise(ex))
		return -ENOMEM;

	r->policy = ex->policy;
	r->state = s->cfg->state;
	r->audit_failing = s->cfg->audit_failing;
	r->method = ex->method;
	r->url = ex->url;
	r->path_len = strcspn(ex->url, "?");
	r->api_url = exchange_api_url(ex);
	r->api_path_len = strcspn(r->api_url, "?");
	r->outside_api = ex->outside_api;
	r->host_count = (int)headers_count(&ex->req, "host");
	r->host = r->host_count == 1 ? headers_find(&ex->req, HDR_HOST) : NULL;
	r->sni = s->info.sni;
	r->explicit_endpoint = s->info.explicit_endpoint;
	r->local_peer = s->info.local_peer;
	r->presented_key = s->info.explicit_endpoint ? presented_key(ex) : NULL;
	r->content_length = p->content_length == ULLONG_MAX ? UINT64_MAX : p->content_length;
	r->max_body = s->cfg->max_request_body;
	r->provider = s->info.explicit_endpoint ? NULL : s->info.provider;
	r->app_api = ex->api = request_classify(s, ex);
	bedrock_request_head(ex);
	r->family = ex->app ? ex->app->family : s->info.family;
	if (ex->app && ex->app->path_model) { /* Gemini: the model and the stream are the path's */
		ex->app->path_model(r->api_url, r->api_path_len, ex->model, sizeof(ex->model));
		ex->stream = ex->api == USAGE_API_GEMINI_STREAM;
	}
	r->gateway_key = s->info.explicit_endpoint ||
			 (!s->info.own_keys && keys_have(s->cfg->keys, s->info.provider));
	r->event = s->ops->event;
	r->event_arg = s->ops->arg;
	str_copy(r->workload, sizeof(r->workload), s->info.workload);
	str_copy(r->team, sizeof(r->team), s->info.team);
	r->conn = s->conn_of;
	return 0;
}

static enum exchange_outcome refusal_outcome(int status)
{
	switch (status) {
	case 401:
		return OUTCOME_UNAUTHORIZED;
	case 413:
		return OUTCOME_REQUEST_TOO_LARGE;
	case 421:
		return OUTCOME_MISDIRECTED;
	case 400:
	case 404:
		return OUTCOME_BAD_REQUEST;
	}
	return OUTCOME_DENIED;
}

/* A call the endpoint stage let through in roll-out with query parameters the gateway does
 * not read goes without them, as the stage reads them (gemini_query_keep_read()): a
 * parameter it cannot read may change the answer it meters ("fields" strips the usage). 0 or
 * -ENOMEM. */
static int request_query_keep_read(struct exchange *ex)
{
	char *url, *api_url = NULL;
	int err = gemini_query_keep_read(ex->api, ex->url, &url);

	if (err <= 0)
		return err;
	if (ex->api_url && gemini_query_keep_read(ex->api, ex->api_url, &api_url) < 0) {
		free(url);
		return -ENOMEM;
	}
	free(ex->url);
	ex->url = url;
	if (api_url) {
		free(ex->api_url);
		ex->api_url = api_url;
	}
	ex->pr.url = ex->url;
	ex->pr.api_url = exchange_api_url(ex);
	return 0;
}

static int on_req_headers_complete(http_parser *p)
{
	struct session *s = p_session(p);
	struct exchange *ex = s->ex;
	const char *expect;

	headers_complete(&ex->req);
	expect = headers_find(&ex->req, HDR_EXPECT);
	str_copy(ex->method, sizeof(ex->method), http_method_str(p->method));
	ex->client_keepalive = http_should_keep_alive(p);
	if (p->upgrade) {
		reject(s, 400, OUTCOME_BAD_REQUEST, "protocol upgrades are not supported");
		return -1;
	}
	if (!ex->url ||
	    (ex->url[0] != '/' && !(p->method == HTTP_OPTIONS && !strcmp(ex->url, "*")))) {
		reject(s, 400, OUTCOME_BAD_REQUEST,
		       "the request target must be a path (origin-form)");
		return -1;
	}
	if (pipe_head_fill(s, ex, p)) {
		reject(s, 500, OUTCOME_BAD_REQUEST, "out of memory");
		return -1;
	}
	exchange_pipe_sync(ex);
	if (pipeline_head(&ex->pr) == PIPE_STOP) {
		reject(s, ex->pr.refusal.status, refusal_outcome(ex->pr.refusal.status),
		       ex->pr.refusal.message);
		s->reject_by_policy = 1;
		return -1;
	}
	if (ex->pr.query_unread && request_query_keep_read(ex)) {
		reject(s, 500, OUTCOME_BAD_REQUEST, "out of memory");
		return -1;
	}
	if (expect && !strcasecmp(expect, "100-continue"))
		evbuffer_add_printf(bufferevent_get_output(s->client),
				    "HTTP/1.1 100 Continue\r\n\r\n");
	return 0;
}

static int on_req_body(http_parser *p, const char *at, size_t len)
{
	struct session *s = p_session(p);
	struct exchange *ex = s->ex;

	if (evbuffer_get_length(ex->body) + len > ex->pr.max_body) { /* (policy's, or less) */
		reject(s, 413, OUTCOME_REQUEST_TOO_LARGE,
		       "request body larger than the gateway allows");
		return -1;
	}
	if (buffer_body_grow(&ex->pr, evbuffer_get_length(ex->body) + len)) { /* the daemon's */
		reject(s, ex->pr.refusal.status, OUTCOME_DENIED, ex->pr.refusal.message);
		s->reject_by_policy = 1;
		return -1;
	}
	return evbuffer_add(ex->body, at, len);
}

static int on_req_complete(http_parser *p)
{
	http_parser_pause(p, 1); /* one request at a time; the next waits in the buffer */
	return 0;
}

static const http_parser_settings req_settings = {
    .on_message_begin = on_req_begin,
    .on_url = on_req_url,
    .on_header_field = on_req_header_field,
    .on_header_value = on_req_header_value,
    .on_headers_complete = on_req_headers_complete,
    .on_body = on_req_body,
    .on_message_complete = on_req_complete,
};

/* Feeds buffered client bytes to the parser until a request is complete or bytes run out. */
static void client_parse(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->client);
	const char *twice_key = NULL;
	enum http_errno e = HPE_OK;
	char msg[128];
	int err;

	if (s->dead || s->hold_ticket || s->hold_lost || (s->ex && s->ex->dispatched))
		return;
	if (HTTP_PARSER_ERRNO(&s->p) == HPE_PAUSED)
		http_parser_pause(&s->p, 0);
	while (evbuffer_get_length(in)) {
		struct evbuffer_iovec v;
		size_t used;

		evbuffer_peek(in, -1, NULL, &v, 1);
		used = http_parser_execute(&s->p, &req_settings, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (s->ex)
			s->ex->req_wire_bytes += used;
		e = HTTP_PARSER_ERRNO(&s->p);
		if (e != HPE_OK)
			break;
	}
	if (e == HPE_PAUSED) {
		struct exchange *ex = s->ex;

		/* A stream may run for minutes without a byte from the client: no read timeout;
		 * a client that stops reading is given idle_ms. */
		bufferevent_set_timeouts(s->client, NULL, &s->idle_tv);
		client_wait_reset(s);
		ex->dispatched = 1;
		err = request_inspect(ex, &twice_key);
		if (err == -E2BIG) {
			snprintf(msg, sizeof(msg),
				 "the request body holds more than %zu JSON values "
				 "(proxy.max_request_json_values)",
				 s->cfg->max_request_json_values);
			exchange_fail(ex, OUTCOME_REQUEST_TOO_LARGE, 413, msg);
			return;
		}
		if (err == -ENOMEM) {
			exchange_fail(ex, OUTCOME_BAD_REQUEST, 503,
				      "out of memory reading the request body");
			return;
		}
		if (err) {
			snprintf(msg, sizeof(msg), "the request body has \"%s\" more than once",
				 twice_key);
			exchange_fail(ex, OUTCOME_BAD_REQUEST, 400, msg);
			return;
		}
		exchange_admit(ex);
		return;
	}
	if (e != HPE_OK) {
		if (!s->reject_status)
			reject(s, 400, OUTCOME_BAD_REQUEST, http_errno_description(e));
		if (s->ex)
			snprintf(s->ex->error, sizeof(s->ex->error), "%s", s->reject_msg);
		if (s->reject_by_policy && s->ex)
			send_refusal(s, s->ex, &s->ex->pr.refusal);
		else
			send_error(s, s->ex, s->reject_status, s->reject_msg);
		session_close(s, s->reject_outcome, 1);
	}
}

/* ---- client-side callbacks ---- */

static void on_client_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	session_enter(s);
	client_parse(s);
	session_leave(s);
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->client_waiting && !evbuffer_get_length(bufferevent_get_output(bev)))
		client_wait_end(s);
	if (s->queued.state) /* an ended call's answer went out */
		buffer_hold_set(&s->queued, s->queued.state, s->cfg->policy, s->queued.workload,
				evbuffer_get_length(bufferevent_get_output(bev)));
	/* The client drained what backpressure held back: read from the provider again. */
	if (s->ex && s->ex->up && s->ex->up->bev && !s->ex->resp_complete &&
	    evbuffer_get_length(bufferevent_get_output(bev)) < HTTP1_HIGH_WATER / 2 &&
	    !response_throttled(s->ex))
		tlsread_resume(s->ex->up->bev);
}

static void client_tls_error(struct session *s)
{
	unsigned long e = bufferevent_get_openssl_error(s->client);

	if (e)
		snprintf(s->tls_error, sizeof(s->tls_error), "client TLS: %s",
			 ERR_reason_error_string(e));
	while (bufferevent_get_openssl_error(s->client))
		;
}

/* The handshake agreed on h2: the connection is http2.c's from now on; this session ends
 * without a record (the h2 connection writes it). */
static void session_to_h2(struct session *s)
{
	struct bufferevent *bev = s->client;

	session_uncork(s);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	s->client = NULL;
	limits_conn_release(&s->conn, s->cfg->state);
	s->dead = 1; /* freed by session_leave() */
	http2_conn_start(s->base, bev, &s->info, s->cfg, s->pool, s->ops);
}

static int alpn_is_h2(SSL *ssl)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;

	if (ssl)
		SSL_get0_alpn_selected(ssl, &p, &n);
	return n == 2 && !memcmp(p, "h2", 2);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	SSL *ssl;

	session_enter(s);
	if (what & BEV_EVENT_CONNECTED) {
		ssl = bufferevent_openssl_get_ssl(bev);
		snprintf(s->info.tls_version, sizeof(s->info.tls_version), "%s",
			 ssl ? SSL_get_version(ssl) : "");
		if (alpn_is_h2(ssl))
			session_to_h2(s);
		else
			tlsread_batch(bev); /* -ENOMEM: two reads a record, as before */
		session_leave(s);
		return;
	}
	if (!s->info.tls_version[0] && !s->info.explicit_endpoint)
		client_tls_error(s);
	if (what & BEV_EVENT_TIMEOUT)
		session_close(s, OUTCOME_CLIENT_GONE, 0);
	else
		session_close(s, OUTCOME_CLIENT_GONE, 0);
	session_leave(s);
}

static struct session *session_new(struct event_base *base, struct bufferevent *client,
				   const struct http_conn_info *info,
				   const struct http_proxy_config *cfg, struct upstream_pool *pool,
				   const struct http_proxy_ops *ops)
{
	struct timeval idle = {cfg->client_idle_ms / 1000, (cfg->client_idle_ms % 1000) * 1000};
	struct session *s = calloc(1, sizeof(*s));

	if (!s) {
		bufferevent_free(client);
		return NULL;
	}
	s->base = base;
	s->client = client;
	s->info = *info;
	s->cfg = cfg;
	s->pool = pool;
	s->ops = ops;
	s->next = live_sessions;
	if (live_sessions)
		live_sessions->prev = s;
	live_sessions = s;
	clock_gettime(CLOCK_MONOTONIC, &s->t_start);
	timefmt_now(s->start_time);
	http_parser_init(&s->p, HTTP_REQUEST);
	s->p.data = s;
	s->idle_tv.tv_sec = cfg->idle_ms / 1000;
	s->idle_tv.tv_usec = (cfg->idle_ms % 1000) * 1000;
	if (!info->explicit_endpoint)
		bufferevent_openssl_set_allow_dirty_shutdown(client, 1);
	else /* plain: what the socket refused goes whole once it is writable (tlsflush.c) */
		bufferevent_set_max_single_write(client, EV_SSIZE_MAX);
	/* Pipelined bytes beyond this wait in the socket, not in our memory. */
	bufferevent_setwatermark(client, EV_READ, 0, HTTP1_CLIENT_READ_MAX);
	s->conn_of = &s->conn;
	bufferevent_setcb(client, on_client_read, on_client_write, on_client_event, s);
	bufferevent_set_timeouts(client, &idle, NULL);
	bufferevent_enable(client, EV_READ | EV_WRITE);
	return s;
}

int http_session_start(struct event_base *base, struct bufferevent *client,
		       const struct http_conn_info *info, const struct http_proxy_config *cfg,
		       struct upstream_pool *pool, const struct http_proxy_ops *ops)
{
	struct session *s = session_new(base, client, info, cfg, pool, ops);

	if (!s)
		return -ENOMEM;
	if (info->workload[0]) /* captured, or at the UNIX socket: named already */
		limits_conn_take(&s->conn, cfg->state,
				 policy_workload_by_name(cfg->policy, info->workload));
	return 0;
}

struct session *http_stream_session_start(struct event_base *base, struct bufferevent *bev,
					  const struct http_conn_info *info,
					  const struct http_proxy_config *cfg,
					  struct upstream_pool *pool,
					  const struct http_proxy_ops *ops,
					  struct pipe_conn_slot *conn, void (*ended)(void *arg),
					  void *arg)
{
	struct session *s = session_new(base, bev, info, cfg, pool, ops);

	if (!s)
		return NULL;
	s->conn_of = conn;
	s->ended = ended;
	s->ended_arg = arg;
	return s;
}

void http_stream_session_sent(struct session *s, size_t n, int end)
{
	s->sent_to_client += n;
	if (!end || !s->undelivered)
		return;
	session_enter(s);
	exchange_delivery_end(s, 1, OUTCOME_OK);
	session_leave(s);
}

int http_stream_session_reads(const struct session *s)
{
	return !s->dead;
}

int http_stream_session_end_first(struct session *s, size_t last, uint64_t *ret_ticket)
{
	if (!s->undelivered)
		return 0;
	s->sent_to_client += last;
	*ret_ticket = exchange_delivery_end(s, 1, OUTCOME_OK);
	session_enter(s);
	session_leave(s); /* frees it */
	return 1;
}

void http_stream_session_abort(struct session *s)
{
	session_enter(s);
	session_close(s, OUTCOME_CLIENT_GONE, 0);
	exchange_delivery_end(s, 0, OUTCOME_CLIENT_GONE);
	/* A session whose call ended already may still be flushing its answer into the pair
	 * (closing): the stream it flushes to is gone, so nothing is left to wait for. */
	s->closing = 0;
	session_leave(s);
}

void http_sessions_shutdown(void)
{
	while (live_sessions) {
		struct session *s = live_sessions;

		session_close(s, OUTCOME_SHUTDOWN, 0);
		exchange_delivery_end(s, 0, OUTCOME_SHUTDOWN);
		session_free(s);
	}
	http2_conns_shutdown(); /* their streams' calls are recorded above */
}
