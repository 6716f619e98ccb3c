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
 */
#include <errno.h>
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

#include "proxy/body.h"
#include "proxy/headers.h"
#include "proxy/http1.h"
#include "ledger/cost.h"
#include "providers/sse.h"
#include "providers/translate.h"
#include "providers/usage.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/timefmt.h"

#define HTTP1_HIGH_WATER (1u << 20) /* client output that stops reading from the provider */
#define HTTP1_JSON_MAX (64u << 20)  /* a JSON answer checked whole; larger ones just stream */
#define HTTP1_CLIENT_READ_MAX (256u * 1024) /* client bytes read ahead of the parser */
#define HTTP1_STALE_RETRY_MS 1000	    /* a pooled connection failing this soon was stale */
#define HTTP1_MAX_TRIES 12
#define HTTP1_WHY_MAX 512 /* why a target could not take a call */

enum exchange_outcome {
	OUTCOME_OK,
	OUTCOME_CLIENT_GONE,
	OUTCOME_UPSTREAM_CONNECT,
	OUTCOME_UPSTREAM_TLS,
	OUTCOME_UPSTREAM_TIMEOUT,
	OUTCOME_UPSTREAM_RESET,
	OUTCOME_UPSTREAM_BAD_RESPONSE,
	OUTCOME_REQUEST_TOO_LARGE,
	OUTCOME_BAD_REQUEST,
	OUTCOME_MISDIRECTED,
	OUTCOME_SHUTDOWN,
	OUTCOME_NO_TARGET,
	OUTCOME_UNAUTHORIZED,
};

static const char *const outcome_names[] = {
    "ok",
    "client_gone",
    "upstream_connect_failed",
    "upstream_tls_failed",
    "upstream_timeout",
    "upstream_reset",
    "upstream_bad_response",
    "request_too_large",
    "bad_request",
    "misdirected_request",
    "shutdown",
    "no_target_available",
    "unauthorized",
};

struct session;

struct exchange {
	struct session *s;
	char id[40];
	char start_time[TIMEFMT_LEN];
	struct timespec t_start, t_first, t_end;
	struct timespec t_sent;	   /* the request went to the provider */
	struct timespec t_attempt; /* the current attempt began */
	struct event *retry_ev;	   /* the wait before the next attempt */
	int retry_pending;	   /* the answer's status asks for another attempt */
	long retry_after_ms;	   /* what the provider asked us to wait, or -1 */
	struct {
		int status; /* 0: no answer */
		double ms;
		const char *result; /* "retried", "fell_back", "skipped" */
		char provider[64];
		char model[128];
		char error[200];
	} tries[HTTP1_MAX_TRIES]; /* attempts that did not give the answer, oldest first */
	unsigned n_tries;
	int stale_retries; /* retries of a stale pooled connection (not the policy's) */

	/* Where it goes: a logical name's targets in order, or the app's own destination. */
	struct route_table *routes; /* a reference, held while the exchange lives */
	const struct route *route;  /* NULL: the model is not a logical name */
	unsigned order[ROUTE_MAX_TARGETS];
	size_t n_order, pos;		   /* targets to try; the one in use is order[pos] */
	const struct route_target *target; /* in use; NULL: the app's destination as dialled */
	int probe;			   /* this attempt probes a half-open breaker */
	unsigned target_attempts;	   /* the policy's attempts on this target */
	unsigned fallbacks;		   /* targets given up on */
	char up_host[HTTP1_HOST_MAX];	   /* SNI and Host upstream */
	uint16_t up_port;		   /* host order */
	char up_provider[64];		   /* the policy's name of the provider it goes to */
	char up_model[128];		   /* the model asked of it */
	struct aigw_addr up_addr;
	int up_api;		  /* enum usage_api of what goes upstream, or -1 */
	char *up_path;		  /* NULL: the app's request target */
	struct evbuffer *up_body; /* NULL: the app's body as it came */
	int up_app_headers;	  /* the app's own destination: its headers go as they are */
	int xlate;		  /* the target speaks the other API: translated both ways */
	int include_usage;	  /* xlate: an OpenAI app asked for the usage chunk */
	struct translate_stream *ts;
	int stream_error_sent;	       /* a failed stream was ended with an error event */
	char workload[128], team[128]; /* explicit endpoint: named by the gateway key */
	int refuse_status;	       /* no target could take it: the status the app gets */
	int counted_attempt;	       /* the attempt whose failure the breaker has counted */
	int fresh_conn; /* a retry on the same host: never a pooled connection, they may have
			   gone stale together */

	/* The request. */
	char method[16];
	char *url; /* the request target as sent, NUL-terminated */
	size_t url_len;
	struct headers req;
	struct evbuffer *body;
	int client_keepalive;
	int dispatched; /* the whole request is read and on its way upstream */
	char model[128];
	int stream;
	uint64_t req_wire_bytes;

	/* The upstream side. */
	struct upstream_conn *up;
	int attempts;
	int up_reused, up_tls_resumed; /* of the connection that carried the request */
	const char *credential;	       /* "gateway", "app" or "none": whose key went upstream */
	http_parser rp;
	struct headers resp;
	struct evbuffer *reason;
	int status;
	int head_sent;	  /* the client has the status line: errors can only abort now */
	int head_pending; /* the head waits for the first body bytes (they are checked) */
	int buffer_json;  /* a plain JSON answer: checked whole before the client gets it */
	int is_sse;
	int resp_chunked;			/* as the provider framed it */
	unsigned long long resp_content_length; /* ULLONG_MAX: none (http-parser counts it down) */
	int garbage;	 /* the body is not what its Content-Type says: 502 */
	int sse_checked; /* the stream's first bytes looked like SSE */
	struct evbuffer *resp_buf;
	int chunked_out; /* we frame the body to the client in chunks */
	int resp_complete;
	int up_keepalive;
	int got_upstream_bytes;
	uint64_t resp_body_bytes, resp_wire_bytes;
	char provider_request_id[128];
	char error[600];

	/* What the call used: read from the answer (a JSON body whole, a stream event by
	 * event), priced at the end. */
	int api;	    /* enum usage_api of the app's path, or -1 for one we do not read */
	int want_usage;	    /* an OpenAI chat stream that did not ask for its usage */
	int suppress_usage; /* we asked for the usage chunk; the app must not see it */
	struct usage usage;
	int usage_found;
	char resp_model[USAGE_MODEL_MAX];
	int sse_on;
	struct sse_parser sse;
	struct usage_stream us;
	struct evbuffer *held;	 /* suppressing: stream bytes not yet known to be whole events */
	uint64_t fed, forwarded; /* stream offsets: read from the provider, passed on */
	uint64_t drop_start, drop_end; /* the usage chunk's bytes, when seen */
	int drop_set;
};

struct session {
	struct event_base *base;
	struct bufferevent *client;
	http_parser p;
	struct http_conn_info info;
	const struct http_proxy_config *cfg;
	struct upstream_pool *pool;
	const struct http_proxy_ops *ops;
	struct exchange *ex; /* the request in flight, or NULL */

	int busy;	   /* libevent callbacks of this session on the stack */
	int dead;	   /* session_close() ran: free when not busy */
	int closing;	   /* flushing the last bytes, then free */
	int reject_status; /* a parser callback refused the request with this status */
	enum exchange_outcome reject_outcome;
	char reject_msg[256];

	struct session *prev, *next; /* all live sessions, for shutdown */
	struct timeval idle_tv;	     /* cfg->idle_ms */
	unsigned n_requests;
	char tls_error[256];
	char start_time[TIMEFMT_LEN];
	struct timespec t_start;
};

/* ---- small helpers ---- */

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1e3 + (b->tv_nsec - a->tv_nsec) / 1e6;
}

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

static int is_anthropic(const struct session *s, const struct exchange *ex)
{
	const char *path = ex ? ex->url : NULL;

	if (!strcmp(s->info.provider, "anthropic"))
		return 1;
	return path && !strncmp(path, "/v1/messages", 12);
}

static void error_body(struct session *s, struct exchange *ex, int status, const char *msg,
		       struct evbuffer *out)
{
	struct jsonw *err = jsonw_new();
	size_t len;
	char *text;

	if (!err)
		return;
	if (is_anthropic(s, ex)) {
		jsonw_str(err, "type",
			  status == 413	  ? "request_too_large"
			  : status == 400 ? "invalid_request_error"
			  : status == 401 ? "authentication_error"
			  : status == 404 ? "not_found_error"
			  : status == 504 ? "timeout_error"
					  : "api_error");
		jsonw_str(err, "message", msg);
	} else {
		jsonw_str(err, "message", msg);
		jsonw_str(err, "type",
			  status < 500 ? "invalid_request_error" : "aigw_gateway_error");
		jsonw_null(err, "param");
		jsonw_str(err, "code",
			  status == 504	  ? "upstream_timeout"
			  : status >= 500 ? "upstream_unavailable"
			  : status == 401 ? "invalid_api_key"
			  : status == 404 ? "not_found"
					  : "invalid_request");
	}
	text = jsonw_finish(err, &len);
	if (!text)
		return;
	evbuffer_add_printf(out, "{%s\"error\":%s}",
			    is_anthropic(s, ex) ? "\"type\":\"error\"," : "", text);
	free(text);
}

static const char *reason_phrase(int status)
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

/* Writes a complete error response and marks the connection for closing. */
static void send_error(struct session *s, struct exchange *ex, int status, const char *msg)
{
	struct evbuffer *body = evbuffer_new(), *out = bufferevent_get_output(s->client);

	if (!body)
		return;
	error_body(s, ex, status, msg, body);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n",
			    status, reason_phrase(status), evbuffer_get_length(body));
	if (ex)
		evbuffer_add_printf(out, "x-aigw-request-id: %s\r\n", ex->id);
	evbuffer_add(out, "\r\n", 2);
	evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	if (ex) {
		ex->status = status;
		ex->head_sent = 1;
	}
}

/* ---- session lifetime ---- */

static struct session *live_sessions;

static void session_free(struct session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else if (live_sessions == s)
		live_sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->client)
		bufferevent_free(s->client);
	free(s);
}

static void session_enter(struct session *s)
{
	s->busy++;
}

/* Returns 1 when the session was freed. */
static int session_leave(struct session *s)
{
	if (--s->busy == 0 && s->dead && !s->closing) {
		session_free(s);
		return 1;
	}
	return 0;
}

static void exchange_finish(struct exchange *ex, enum exchange_outcome outcome);

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
static void session_close(struct session *s, enum exchange_outcome why, int flush)
{
	if (s->dead)
		return;
	if (s->ex)
		exchange_finish(s->ex, why);
	s->dead = 1;
	connection_record(s);
	if (flush && evbuffer_get_length(bufferevent_get_output(s->client))) {
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
	session_leave(s);
}

/* ---- the exchange's record and end ---- */

static const char *operation_of(const char *path)
{
	if (!strncmp(path, "/v1/chat/completions", 20) || !strncmp(path, "/v1/messages", 12) ||
	    !strncmp(path, "/v1/responses", 13))
		return "chat";
	if (!strncmp(path, "/v1/embeddings", 14))
		return "embeddings";
	if (!strncmp(path, "/v1/completions", 15))
		return "text_completion";
	return NULL;
}

/* The provider that answered (or was last asked). */
static const char *exchange_provider(const struct exchange *ex)
{
	return ex->up_provider[0] ? ex->up_provider : ex->s->info.provider;
}

/* Tokens and cost, as finance reads them: a cost is exact or it is null with the reason,
 * never a guess and never zero for what is unknown. */
static void exchange_record_usage(struct exchange *ex, struct jsonw *rec)
{
	const char *model = ex->resp_model[0] ? ex->resp_model : ex->model;
	struct cost cost = {0};

	if (ex->resp_model[0])
		jsonw_str(rec, "gen_ai.response.model", ex->resp_model);
	if (ex->sse_on)
		jsonw_str(rec, "aigw.stream.end", usage_end_name(ex->us.end));
	if (ex->api < 0)
		return;
	if (!ex->usage_found) {
		jsonw_null(rec, "gen_ai.usage.input_tokens");
		jsonw_null(rec, "gen_ai.usage.output_tokens");
		jsonw_null(rec, "cost_usd");
		jsonw_str(rec, "aigw.cost.reason",
			  ex->status / 100 == 2 ? "the provider's answer carried no usage"
						: "no usage: the call failed");
		return;
	}
	jsonw_num(rec, "gen_ai.usage.input_tokens", (double)ex->usage.input);
	jsonw_num(rec, "gen_ai.usage.output_tokens", (double)ex->usage.output);
	jsonw_num(rec, "aigw.usage.cached_input_tokens", (double)ex->usage.cached_input);
	jsonw_num(rec, "aigw.usage.cache_write_tokens", (double)ex->usage.cache_write);
	jsonw_num(rec, "aigw.usage.reasoning_tokens", (double)ex->usage.reasoning);
	cost_for_model(ex->s->cfg->prices, exchange_provider(ex), model, &ex->usage, &cost);
	if (cost.known) {
		jsonw_num(rec, "cost_usd", (double)cost.micro_usd / 1e6);
		jsonw_num(rec, "aigw.cost.micro_usd", (double)cost.micro_usd);
	} else {
		jsonw_null(rec, "cost_usd");
		jsonw_str(rec, "aigw.cost.reason", cost.reason);
	}
}

static void attempt_json(struct evbuffer *arr, const char *provider, const char *model, int status,
			 double ms, const char *result, const char *error)
{
	struct jsonw *t = jsonw_new();
	size_t len;
	char *text;

	if (!t)
		return;
	jsonw_str(t, "gen_ai.system", provider);
	if (model && model[0])
		jsonw_str(t, "gen_ai.request.model", model);
	if (status)
		jsonw_num(t, "http.response.status_code", status);
	jsonw_num(t, "aigw.latency_ms", ms);
	jsonw_str(t, "aigw.result", result);
	if (error && error[0])
		jsonw_str(t, "error.type", error);
	text = jsonw_finish(t, &len);
	if (!text)
		return;
	if (evbuffer_get_length(arr) > 1)
		evbuffer_add(arr, ",", 1);
	evbuffer_add(arr, text, len);
	free(text);
}

/* Every attempt, oldest first: [{"gen_ai.system", "gen_ai.request.model", status, latency,
 * "aigw.result": retried | fell_back | skipped | ok | failed, "error.type"}, ...]. Left out
 * for the common call that took one attempt at the app's own destination. */
static void exchange_record_tries(struct exchange *ex, struct jsonw *rec,
				  enum exchange_outcome outcome)
{
	struct evbuffer *arr;

	if ((!ex->n_tries && !ex->route) || !(arr = evbuffer_new()))
		return;
	evbuffer_add(arr, "[", 1);
	for (unsigned i = 0; i < ex->n_tries; i++)
		attempt_json(arr, ex->tries[i].provider, ex->tries[i].model, ex->tries[i].status,
			     ex->tries[i].ms, ex->tries[i].result, ex->tries[i].error);
	if (ex->t_attempt.tv_sec && ex->up_provider[0])
		attempt_json(arr, ex->up_provider, ex->up_model, ex->status,
			     ms_between(&ex->t_attempt, &ex->t_end),
			     outcome == OUTCOME_OK && ex->status < 500 && ex->status != 429
				 ? "ok"
				 : "failed",
			     ex->error);
	evbuffer_add(arr, "]", 1);
	jsonw_raw(rec, "aigw.attempts", (const char *)evbuffer_pullup(arr, -1),
		  evbuffer_get_length(arr));
	evbuffer_free(arr);
}

/* Where the call went, when that is not simply where the app sent it. */
static void exchange_record_route(struct exchange *ex, struct jsonw *rec)
{
	if (ex->route)
		jsonw_str(rec, "aigw.route", ex->route->name);
	if (ex->up_model[0])
		jsonw_str(rec, "aigw.upstream.model", ex->up_model);
	jsonw_bool(rec, "aigw.fallback", ex->fallbacks > 0);
	if (ex->xlate)
		jsonw_bool(rec, "aigw.translated", 1);
	if (ex->stream_error_sent)
		jsonw_str(rec, "aigw.stream.ended_by", "gateway_error_event");
	if (ex->s->info.explicit_endpoint) {
		if (ex->workload[0])
			jsonw_str(rec, "aigw.workload", ex->workload);
		if (ex->team[0])
			jsonw_str(rec, "aigw.team", ex->team);
	}
}

static void exchange_record(struct exchange *ex, enum exchange_outcome outcome)
{
	struct session *s = ex->s;
	char path[512], ip[NETADDR_STRLEN];
	const char *url = ex->url, *op;
	struct jsonw *rec = jsonw_new();
	size_t n;

	if (!rec)
		return;
	n = url ? strcspn(url, "?") : 0;
	snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1),
		 url ? url : "");
	jsonw_str(rec, "time", ex->start_time);
	jsonw_str(rec, "event.name", "proxy.request");
	jsonw_str(rec, "aigw.request_id", ex->id);
	jsonw_num(rec, "aigw.connection_id", (double)s->info.conn_id);
	jsonw_str(rec, "gen_ai.system", exchange_provider(ex));
	jsonw_str(rec, "aigw.client.kind", s->info.explicit_endpoint ? "explicit" : "captured");
	op = operation_of(path);
	if (op)
		jsonw_str(rec, "gen_ai.operation.name", op);
	if (ex->model[0])
		jsonw_str(rec, "gen_ai.request.model", ex->model);
	jsonw_bool(rec, "aigw.stream", ex->stream);
	if (ex->up_host[0]) {
		jsonw_str(rec, "server.address", ex->up_host);
		jsonw_num(rec, "server.port", ex->up_port);
		jsonw_str(rec, "network.peer.address",
			  netaddr_format_ip(&ex->up_addr, ip, sizeof(ip)));
	}
	if (s->info.sni[0])
		jsonw_str(rec, "tls.client.server_name", s->info.sni);
	jsonw_str(rec, "http.request.method", ex->method);
	jsonw_str(rec, "url.path", path);
	if (ex->status)
		jsonw_num(rec, "http.response.status_code", ex->status);
	else
		jsonw_null(rec, "http.response.status_code");
	jsonw_num(rec, "http.request.body.size",
		  ex->body ? (double)evbuffer_get_length(ex->body) : 0);
	jsonw_num(rec, "http.response.body.size", (double)ex->resp_body_bytes);
	jsonw_num(rec, "aigw.bytes_from_client", (double)ex->req_wire_bytes);
	jsonw_num(rec, "aigw.bytes_to_client", (double)ex->resp_wire_bytes);
	jsonw_num(rec, "aigw.latency_ms", ms_between(&ex->t_start, &ex->t_end));
	if (ex->t_first.tv_sec)
		jsonw_num(rec, "aigw.ttfb_ms", ms_between(&ex->t_start, &ex->t_first));
	else
		jsonw_null(rec, "aigw.ttfb_ms");
	jsonw_str(rec, "aigw.outcome", outcome_names[outcome]);
	if (ex->error[0])
		jsonw_str(rec, "error.type", ex->error);
	if (ex->provider_request_id[0])
		jsonw_str(rec, "aigw.provider_request_id", ex->provider_request_id);
	exchange_record_usage(ex, rec);
	exchange_record_route(ex, rec);
	exchange_record_tries(ex, rec, outcome);
	jsonw_num(rec, "aigw.upstream.attempts", ex->attempts);
	if (ex->credential)
		jsonw_str(rec, "aigw.credential", ex->credential);
	jsonw_bool(rec, "aigw.upstream.reused", ex->up_reused);
	jsonw_bool(rec, "aigw.upstream.tls_resumed", ex->up_tls_resumed);
	s->ops->record(rec, &s->info, s->ops->arg);
}

static void exchange_free(struct exchange *ex)
{
	free(ex->url);
	if (ex->body)
		evbuffer_free(ex->body);
	if (ex->reason)
		evbuffer_free(ex->reason);
	if (ex->resp_buf)
		evbuffer_free(ex->resp_buf);
	if (ex->held)
		evbuffer_free(ex->held);
	if (ex->retry_ev)
		event_free(ex->retry_ev);
	if (ex->sse_on)
		sse_free(&ex->sse);
	if (ex->up_body)
		evbuffer_free(ex->up_body);
	free(ex->up_path);
	translate_stream_free(ex->ts);
	route_table_unref(ex->routes);
	headers_free(&ex->req);
	headers_free(&ex->resp);
	free(ex);
}

static void client_parse(struct session *s);

/* After an answer on a kept-alive connection: wait for the next request, or read the one
 * that is already buffered (pipelined), now rather than a loop iteration later. */
static void session_resume(struct session *s)
{
	struct timeval idle = {s->cfg->client_idle_ms / 1000,
			       (s->cfg->client_idle_ms % 1000) * 1000};

	bufferevent_set_timeouts(s->client, &idle, NULL);
	if (evbuffer_get_length(bufferevent_get_input(s->client)))
		client_parse(s);
}

/*
 * The one place an exchange ends: its record, then the upstream connection goes back to the
 * pool (a complete response on a kept-alive connection) or is closed (anything else, which
 * is also how a request is cancelled when the client goes).
 */
static void exchange_finish(struct exchange *ex, enum exchange_outcome outcome)
{
	struct session *s = ex->s;
	int reusable = outcome == OUTCOME_OK && ex->resp_complete && ex->up_keepalive;

	clock_gettime(CLOCK_MONOTONIC, &ex->t_end);
	if (ex->probe && ex->target)
		route_target_abandon(ex->target);
	exchange_record(ex, outcome);
	if (ex->up) {
		if (reusable) {
			upstream_put(ex->up);
		} else {
			upstream_close(ex->up);
		}
		ex->up = NULL;
	}
	s->ex = NULL;
	s->n_requests++;
	exchange_free(ex);
}

/* ---- the response: provider -> client ---- */

static struct exchange *rp_exchange(http_parser *rp)
{
	return rp->data;
}

static int on_resp_status(http_parser *rp, const char *at, size_t len)
{
	return evbuffer_add(rp_exchange(rp)->reason, at, len);
}

static int on_resp_header_field(http_parser *rp, const char *at, size_t len)
{
	return headers_piece(&rp_exchange(rp)->resp, 0, at, len);
}

static int on_resp_header_value(http_parser *rp, const char *at, size_t len)
{
	return headers_piece(&rp_exchange(rp)->resp, 1, at, len);
}

static int body_allowed(const struct exchange *ex)
{
	return strcmp(ex->method, "HEAD") && ex->status != 204 && ex->status != 304;
}

/* The response head as the client gets it: hop-by-hop fields gone, our framing. */
static void write_response_head(struct exchange *ex, long long known_len)
{
	struct session *s = ex->s;
	struct evbuffer *out = bufferevent_get_output(s->client);
	size_t before = evbuffer_get_length(out);
	const char *reason = (const char *)evbuffer_pullup(ex->reason, -1);
	const char *id;

	if (ex->xlate) { /* the other provider's headers say nothing true of this answer */
		evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", ex->status,
				    reason_phrase(ex->status),
				    ex->sse_on ? "text/event-stream; charset=utf-8"
					       : "application/json");
		if (ex->sse_on)
			evbuffer_add(out, "Cache-Control: no-cache\r\n", 25);
	} else {
		evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", ex->status,
				    (int)evbuffer_get_length(ex->reason), reason ? reason : "");
		headers_write(&ex->resp, out);
	}
	if (!body_allowed(ex)) {
		const char *cl = headers_get(&ex->resp, "content-length");

		if (cl && !strcmp(ex->method, "HEAD"))
			evbuffer_add_printf(out, "Content-Length: %s\r\n", cl);
	} else if (known_len >= 0) {
		evbuffer_add_printf(out, "Content-Length: %lld\r\n", known_len);
	} else if (!ex->resp_chunked && ex->resp_content_length != ULLONG_MAX && !ex->sse_on) {
		/* a stream's length may change: the usage chunk left out, an error event added */
		evbuffer_add_printf(out, "Content-Length: %llu\r\n", ex->resp_content_length);
	} else if (s->p.http_major == 1 && s->p.http_minor >= 1) {
		evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
		ex->chunked_out = 1;
	} else {
		ex->client_keepalive = 0; /* an HTTP/1.0 client: the end of the body is the close */
	}
	if (!ex->client_keepalive)
		evbuffer_add(out, "Connection: close\r\n", 19);
	evbuffer_add(out, "x-aigw-request-id: ", 19);
	evbuffer_add(out, ex->id, strlen(ex->id));
	evbuffer_add(out, "\r\n\r\n", 4);
	ex->resp_wire_bytes += evbuffer_get_length(out) - before;
	ex->head_sent = 1;
	clock_gettime(CLOCK_MONOTONIC, &ex->t_first);
	id = headers_get(&ex->resp, "x-request-id");
	if (!id)
		id = headers_get(&ex->resp, "request-id");
	if (id)
		snprintf(ex->provider_request_id, sizeof(ex->provider_request_id), "%s", id);
}

/* Request ids: unique and unguessable across restarts without a RNG call per request: a
 * random key fixed at start, mixed with a counter (splitmix64 is a bijection). */
static uint64_t request_id_next(void)
{
	static uint64_t key, counter;
	uint64_t z;

	if (!key && RAND_bytes((unsigned char *)&key, sizeof(key)) != 1)
		key = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
	z = key + ++counter * 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int status_retried(const struct exchange *ex, int status)
{
	for (size_t i = 0; i < ex->s->cfg->n_retry_statuses; i++)
		if (ex->s->cfg->retry_statuses[i] == status)
			return 1;
	return 0;
}

/* The wait before attempt N+1: exponential from backoff_ms, capped, with full jitter on
 * its upper half; a provider's retry-after is honoured when it fits under the cap.
 * -1: do not retry. */
static long retry_delay_ms(const struct exchange *ex)
{
	const struct http_proxy_config *cfg = ex->s->cfg;
	unsigned n = ex->target_attempts ? ex->target_attempts : 1;
	unsigned shift = n > 10 ? 10 : n - 1;
	long base = (long)cfg->backoff_ms << shift;

	if (base > (long)cfg->backoff_max_ms)
		base = cfg->backoff_max_ms;
	base = base / 2 + (long)(request_id_next() % (uint64_t)(base / 2 + 1));
	if (ex->retry_after_ms >= 0) {
		if (ex->retry_after_ms > (long)cfg->backoff_max_ms)
			return -1;
		if (ex->retry_after_ms > base)
			base = ex->retry_after_ms;
	}
	return base;
}

static int can_retry(const struct exchange *ex)
{
	return !ex->head_sent && ex->target_attempts <= ex->s->cfg->retries &&
	       ex->n_tries < HTTP1_MAX_TRIES && retry_delay_ms(ex) >= 0;
}

/* Whether another target remains after the one in use (the app has seen nothing yet). */
static int can_fall_back(const struct exchange *ex)
{
	return !ex->head_sent && ex->route && ex->pos + 1 < ex->n_order &&
	       ex->n_tries < HTTP1_MAX_TRIES;
}

/*
 * A kept-alive connection the provider closed while it sat in the pool fails right after the
 * request went out and before any byte of the answer: the request never reached the
 * provider. That is sent again at once (as browsers and nginx do), once, outside the
 * policy's budget; a request that was in flight for a while may have been processed (and
 * billed) already and only the policy's retries apply to it.
 */
static int stale_pooled_failure(const struct exchange *ex)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ex->up && ex->up->reused && !ex->got_upstream_bytes && !ex->stale_retries &&
	       !ex->head_sent && ms_between(&ex->t_sent, &now) <= HTTP1_STALE_RETRY_MS;
}

static void exchange_start_upstream(struct exchange *ex);

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;

	session_enter(s);
	exchange_start_upstream(ex);
	session_leave(s);
}

/* Forgets what the failed attempt's answer left behind. */
static void response_reset(struct exchange *ex)
{
	headers_reset(&ex->resp);
	evbuffer_drain(ex->reason, evbuffer_get_length(ex->reason));
	if (ex->resp_buf)
		evbuffer_free(ex->resp_buf);
	if (ex->held)
		evbuffer_free(ex->held);
	if (ex->sse_on)
		sse_free(&ex->sse);
	translate_stream_free(ex->ts);
	ex->ts = NULL;
	ex->resp_buf = ex->held = NULL;
	ex->sse_on = ex->buffer_json = ex->head_pending = ex->is_sse = ex->garbage = 0;
	ex->status = ex->resp_complete = ex->got_upstream_bytes = ex->retry_pending = 0;
	ex->sse_checked = 0;
	ex->resp_body_bytes = ex->resp_wire_bytes = 0;
	ex->usage_found = ex->drop_set = 0;
	ex->fed = ex->forwarded = 0;
	ex->resp_model[0] = 0;
}

/* Notes an attempt that did not give the answer, for the record. */
static void note_try(struct exchange *ex, int status, const char *result, const char *why)
{
	struct timespec now;
	unsigned i = ex->n_tries;

	if (i >= HTTP1_MAX_TRIES)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ex->tries[i].status = status;
	ex->tries[i].ms = ex->t_attempt.tv_sec ? ms_between(&ex->t_attempt, &now) : 0;
	ex->tries[i].result = result;
	snprintf(ex->tries[i].provider, sizeof(ex->tries[i].provider), "%s", exchange_provider(ex));
	snprintf(ex->tries[i].model, sizeof(ex->tries[i].model), "%s", ex->up_model);
	snprintf(ex->tries[i].error, sizeof(ex->tries[i].error), "%s", why);
	ex->n_tries++;
}

/* The target in use failed an attempt: its breaker counts it. */
static void target_failed(struct exchange *ex)
{
	if (!ex->target || ex->counted_attempt == ex->attempts)
		return;
	ex->counted_attempt = ex->attempts;
	if (route_target_done(ex->routes, ex->target, 0))
		log_warn("circuit open: %s/%s after %u failed attempts; probed again in %u ms",
			 ex->target->provider, ex->target->model, ex->target->breaker->failures,
			 ex->routes->breaker_open_ms);
	ex->probe = 0;
}

static int target_next(struct exchange *ex, char *why, size_t whylen);

/* Schedules the next attempt after DELAY ms (0: on the next loop turn, never from inside
 * the failing callback). */
static int attempt_schedule(struct exchange *ex, long delay)
{
	struct timeval tv = {delay / 1000, (delay % 1000) * 1000};

	if (!ex->retry_ev && !(ex->retry_ev = evtimer_new(ex->s->base, on_retry_timer, ex)))
		return 0;
	if (ex->up)
		upstream_close(ex->up);
	ex->up = NULL;
	response_reset(ex);
	evtimer_add(ex->retry_ev, &tv);
	return 1;
}

/*
 * Another attempt after a failure the app has not seen (a connection that failed, a timeout,
 * a status the policy retries, a stale pooled connection): the failed attempt is noted for
 * the record, its connection closed (its answer is not read), and the request sent again
 * after the backoff (at once, and on a new connection, for a stale one) — or, once the
 * policy's retries on this target are spent, at once to the route's next target. Returns 1
 * when another attempt is scheduled; 0 when the failure must reach the app.
 */
static int exchange_retry(struct exchange *ex, int status, const char *why)
{
	int stale = stale_pooled_failure(ex);
	char skip[HTTP1_WHY_MAX];

	if (stale) {
		ex->stale_retries++;
		ex->target_attempts--; /* the request never reached the provider */
		ex->fresh_conn = 1;
		note_try(ex, status, "retried", why);
		return attempt_schedule(ex, 0);
	}
	target_failed(ex);
	if (can_retry(ex)) {
		ex->fresh_conn = 1;
		note_try(ex, status, "retried", why);
		return attempt_schedule(ex, retry_delay_ms(ex));
	}
	if (!can_fall_back(ex))
		return 0;
	note_try(ex, status, "fell_back", why);
	ex->pos++;
	ex->fallbacks++;
	ex->target_attempts = 0;
	ex->fresh_conn = 0;
	if (target_next(ex, skip, sizeof(skip))) {
		snprintf(ex->error, sizeof(ex->error), "%s; %s", why, skip);
		return 0;
	}
	return attempt_schedule(ex, 0);
}

static int on_sse_event(void *arg, const struct sse_event *ev);

/* A stream from the provider: read event by event, for usage, for translation, and so that
 * only whole events reach the app (a failure can then end its stream with an error event). */
static int response_stream_start(struct exchange *ex)
{
	enum translate_api app = ex->api == USAGE_API_ANTHROPIC_MESSAGES
				     ? TRANSLATE_ANTHROPIC_MESSAGES
				     : TRANSLATE_OPENAI_CHAT;

	ex->head_pending = 1;
	if (ex->xlate) {
		if (!ex->ts && !(ex->ts = translate_stream_new(app, ex->include_usage, NULL)))
			return -1;
	} else if (!ex->held && !(ex->held = evbuffer_new())) {
		return -1;
	}
	sse_init(&ex->sse, 0, on_sse_event, ex);
	usage_stream_init(&ex->us, ex->up_api,
			  ex->suppress_usage ? USAGE_STREAM_SUPPRESS_USAGE_CHUNK : 0);
	ex->sse_on = 1;
	return 0;
}

static int on_resp_headers_complete(http_parser *rp)
{
	struct exchange *ex = rp_exchange(rp);
	struct session *s = ex->s;
	struct timeval idle = {s->cfg->idle_ms / 1000, (s->cfg->idle_ms % 1000) * 1000};
	const char *ctype;

	headers_complete(&ex->resp);
	ex->status = rp->status_code;
	if (ex->status / 100 == 1) {
		/* An interim response (100 Continue): not forwarded, the final one follows. */
		headers_reset(&ex->resp);
		evbuffer_drain(ex->reason, evbuffer_get_length(ex->reason));
		return 0;
	}
	bufferevent_set_timeouts(ex->up->bev, &idle, &idle);
	if (status_retried(ex, ex->status)) {
		const char *after = headers_get(&ex->resp, "retry-after");

		ex->retry_after_ms = after ? (long)(strtod(after, NULL) * 1000) : -1;
		if (can_retry(ex) || can_fall_back(ex)) {
			ex->retry_pending = 1; /* its body is not read: the connection is closed */
			http_parser_pause(rp, 1);
			return 0;
		}
	}
	if (ex->target) { /* the provider answered: its breaker hears how */
		route_target_done(ex->routes, ex->target, ex->status < 500 && ex->status != 429);
		ex->probe = 0;
	}
	ex->resp_chunked = !!(rp->flags & F_CHUNKED);
	ex->resp_content_length = rp->content_length;
	if (!body_allowed(ex)) {
		write_response_head(ex, -1);
		return 1; /* no body follows */
	}
	ctype = headers_get(&ex->resp, "content-type");
	ex->is_sse = ctype && strcasestr(ctype, "text/event-stream");
	if (ex->is_sse && ex->status / 100 == 2 && ex->up_api >= 0)
		return response_stream_start(ex);
	ex->suppress_usage = 0;
	/* A translated answer is read whole, whatever it is: it is rewritten before it goes. */
	if (ex->xlate ||
	    (!ex->stream && ctype && strcasestr(ctype, "json") && ex->status / 100 == 2)) {
		ex->resp_buf = evbuffer_new();
		ex->buffer_json = ex->resp_buf != NULL;
	}
	ex->head_pending = !ex->buffer_json;
	return 0;
}

static void forward_body(struct exchange *ex, const void *at, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(ex->s->client);
	size_t before = evbuffer_get_length(out);

	if (!len)
		return;
	if (ex->chunked_out)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, at, len);
	if (ex->chunked_out)
		evbuffer_add(out, "\r\n", 2);
	ex->resp_body_bytes += len;
	ex->resp_wire_bytes += evbuffer_get_length(out) - before;
}

/* A JSON answer too large to hold: from here on it streams like any other. */
static void buffered_release(struct exchange *ex)
{
	size_t n = evbuffer_get_length(ex->resp_buf);

	ex->buffer_json = 0;
	write_response_head(ex, -1);
	forward_body(ex, evbuffer_pullup(ex->resp_buf, -1), n);
	evbuffer_drain(ex->resp_buf, n);
}

/* The app's head goes with the first bytes of its body (a stream's first event). */
static void head_if_pending(struct exchange *ex)
{
	if (ex->head_pending) {
		ex->head_pending = 0;
		write_response_head(ex, -1);
	}
}

static void forward_translated(struct exchange *ex, struct translate_buf *b)
{
	if (!b->len)
		return;
	head_if_pending(ex);
	forward_body(ex, b->data, b->len);
	b->len = 0;
}

static int on_sse_event(void *arg, const struct sse_event *ev)
{
	struct exchange *ex = arg;
	struct translate_buf out = {0};
	int err;

	if (usage_stream_event(&ex->us, ev->type, ev->data, ev->data_len) == USAGE_EVENT_DROP &&
	    !ex->drop_set) {
		ex->drop_start = ev->start;
		ex->drop_end = ev->end;
		ex->drop_set = 1;
	}
	if (!ex->xlate)
		return 0;
	err = translate_stream_feed(ex->ts, ev->type, ev->data, ev->data_len, &out);
	forward_translated(ex, &out);
	translate_buf_free(&out);
	return err == -ENOMEM ? err : 0;
}

/* Passes on the held stream bytes up to offset UPTO, leaving out the usage chunk. */
static void held_forward(struct exchange *ex, uint64_t upto)
{
	while (ex->forwarded < upto) {
		uint64_t end = upto;
		size_t n;

		if (ex->drop_set && ex->forwarded >= ex->drop_start &&
		    ex->forwarded < ex->drop_end) {
			n = (ex->drop_end < upto ? ex->drop_end : upto) - ex->forwarded;
			evbuffer_drain(ex->held, n);
			ex->forwarded += n;
			continue;
		}
		if (ex->drop_set && ex->drop_start > ex->forwarded && ex->drop_start < end)
			end = ex->drop_start;
		n = end - ex->forwarded;
		forward_body(ex, evbuffer_pullup(ex->held, n), n);
		evbuffer_drain(ex->held, n);
		ex->forwarded += n;
	}
}

/* A stream body slice: read for usage (and translated) as it passes. Bytes wait until they
 * are known to be whole events, so the usage chunk can be left out and a failure never
 * leaves the app half an event. */
static int stream_body(struct exchange *ex, const char *at, size_t len)
{
	int err;

	if (ex->xlate) /* the events go out translated, from on_sse_event */
		return sse_feed(&ex->sse, at, len);
	evbuffer_add(ex->held, at, len);
	ex->fed += len;
	err = sse_feed(&ex->sse, at, len);
	if (ex->forwarded < (err ? ex->fed : sse_committed(&ex->sse)))
		head_if_pending(ex);
	held_forward(ex, err ? ex->fed : sse_committed(&ex->sse));
	if (err) { /* an event past the size limit: stop reading, pass everything on */
		ex->suppress_usage = 0;
		sse_free(&ex->sse);
		ex->sse_on = 0;
	}
	return 0;
}

static int on_resp_body(http_parser *rp, const char *at, size_t len)
{
	struct exchange *ex = rp_exchange(rp);

	if (ex->buffer_json) {
		if (evbuffer_get_length(ex->resp_buf) + len <= HTTP1_JSON_MAX)
			return evbuffer_add(ex->resp_buf, at, len);
		if (ex->xlate) { /* the other API's bytes can never reach the app as they are */
			ex->garbage = 1;
			http_parser_pause(rp, 1);
			return 0;
		}
		buffered_release(ex);
	}
	if (ex->head_pending && !ex->resp_body_bytes && !ex->fed && !ex->sse_checked) {
		if (ex->is_sse && ex->status / 100 == 2 && !body_looks_like_sse(at, len)) {
			ex->garbage = 1;
			http_parser_pause(rp, 1);
			return 0;
		}
		ex->sse_checked = 1;
	}
	if (ex->sse_on) {
		if (stream_body(ex, at, len)) {
			ex->garbage = 1;
			http_parser_pause(rp, 1);
		}
		return 0;
	}
	head_if_pending(ex);
	forward_body(ex, at, len);
	return 0;
}

/* A whole answer (or error) of the other API, in place of the buffered one, in the app's. */
static int buffered_translate(struct exchange *ex, const char *plain, size_t len)
{
	enum translate_api app = ex->api == USAGE_API_ANTHROPIC_MESSAGES
				     ? TRANSLATE_ANTHROPIC_MESSAGES
				     : TRANSLATE_OPENAI_CHAT;
	char *out = NULL, err[TRANSLATE_MSG_MAX];
	size_t out_len;
	int rc, status = ex->status;

	if (ex->status / 100 == 2)
		rc = translate_response(app, plain, len, NULL, &out, &out_len, err, sizeof(err));
	else
		rc = translate_error(app, ex->status, plain, len, &status, &out, &out_len);
	if (rc) {
		snprintf(ex->error, sizeof(ex->error), "%s's answer could not be translated: %s",
			 ex->up_provider, ex->status / 100 == 2 ? err : strerror(-rc));
		return rc;
	}
	ex->status = status;
	evbuffer_drain(ex->resp_buf, evbuffer_get_length(ex->resp_buf));
	evbuffer_add(ex->resp_buf, out, out_len);
	free(out);
	return 0;
}

/* Whether a buffered JSON answer is JSON, read through its Content-Encoding. An encoding
 * we cannot read is given the benefit of the doubt. */
static int buffered_valid(struct exchange *ex)
{
	size_t len = evbuffer_get_length(ex->resp_buf), plain_len;
	const uint8_t *raw = evbuffer_pullup(ex->resp_buf, -1);
	char *plain;
	int rc, ok;

	rc = body_decode(headers_get(&ex->resp, "content-encoding"), raw, len, HTTP1_JSON_MAX * 4,
			 &plain, &plain_len);
	if (rc == -EOPNOTSUPP && !ex->xlate)
		return 1;
	if (rc)
		return 0;
	/* Reading the usage parses the body once; only what it cannot read is checked apart. */
	rc = ex->up_api >= 0 && ex->status / 100 == 2
		 ? usage_from_body(ex->up_api, plain, plain_len, &ex->usage, ex->resp_model,
				   sizeof(ex->resp_model))
		 : -EBADMSG;
	ex->usage_found = rc == 0;
	/* An error of the other API is translated whatever it is (a proxy's HTML page, say). */
	ok = rc == 0 || rc == -ENOENT || body_is_json(plain, plain_len) ||
	     (ex->xlate && ex->status / 100 != 2);
	if (ok && ex->xlate)
		ok = !buffered_translate(ex, plain, plain_len);
	free(plain);
	return ok;
}

static int on_resp_message_complete(http_parser *rp)
{
	struct exchange *ex = rp_exchange(rp);
	size_t n;

	if (ex->status / 100 == 1)
		return 0; /* the interim response ended; the parser reads the next one */
	if (ex->buffer_json) {
		if (!buffered_valid(ex)) {
			ex->garbage = 1;
			http_parser_pause(rp, 1);
			return 0;
		}
		n = evbuffer_get_length(ex->resp_buf);
		write_response_head(ex, n);
		forward_body(ex, evbuffer_pullup(ex->resp_buf, -1), n);
	} else if (ex->head_pending && !ex->sse_on) {
		write_response_head(ex, -1); /* an empty body */
	}
	if (ex->sse_on && ex->xlate) {
		struct translate_buf out = {0};

		translate_stream_finish(ex->ts, &out);
		forward_translated(ex, &out);
		translate_buf_free(&out);
		head_if_pending(ex);
	} else if (ex->sse_on) {
		head_if_pending(ex);
		held_forward(ex, ex->fed); /* a last partial event, as it came */
	}
	if (ex->sse_on) {
		ex->usage = ex->us.usage;
		ex->usage_found = (ex->us.usage.known & USAGE_KNOWN_ALL) == USAGE_KNOWN_ALL;
		snprintf(ex->resp_model, sizeof(ex->resp_model), "%s", ex->us.model);
	}
	if (ex->chunked_out) {
		evbuffer_add(bufferevent_get_output(ex->s->client), "0\r\n\r\n", 5);
		ex->resp_wire_bytes += 5;
	}
	ex->resp_complete = 1;
	ex->up_keepalive = http_should_keep_alive(rp);
	/* A small answer leaves in one TLS record and one segment. */
	if (evbuffer_get_length(bufferevent_get_output(ex->s->client)) <= 16384)
		evbuffer_pullup(bufferevent_get_output(ex->s->client), -1);
	http_parser_pause(rp, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_status = on_resp_status,
    .on_header_field = on_resp_header_field,
    .on_header_value = on_resp_header_value,
    .on_headers_complete = on_resp_headers_complete,
    .on_body = on_resp_body,
    .on_message_complete = on_resp_message_complete,
};

/* An error event in the app's API, framed as its stream frames events. */
static void stream_error_event(struct exchange *ex, const char *msg, struct evbuffer *out)
{
	enum translate_api app = ex->api == USAGE_API_ANTHROPIC_MESSAGES
				     ? TRANSLATE_ANTHROPIC_MESSAGES
				     : TRANSLATE_OPENAI_CHAT;
	size_t len;
	char *body = translate_error_body(app, 502, msg, &len);

	if (!body)
		return;
	if (ex->api == USAGE_API_OPENAI_RESPONSES || app == TRANSLATE_ANTHROPIC_MESSAGES)
		evbuffer_add(out, "event: error\n", 13);
	evbuffer_add_printf(out, "data: %s\n\n", body);
	free(body);
}

/*
 * A stream the provider broke after the app had its first events: the app gets an error
 * event in its own API after the last whole event, and a properly ended body, so its SDK
 * raises a clear error instead of a connection reset. Returns 1 when it was so ended
 * (flush before closing), 0 when the body can only be cut.
 */
static int stream_end_with_error(struct exchange *ex, const char *msg)
{
	struct evbuffer *ev = evbuffer_new();
	struct translate_buf out = {0};
	char text[700];

	if (!ev || !ex->sse_on || ex->resp_complete) {
		if (ev)
			evbuffer_free(ev);
		return 0;
	}
	snprintf(text, sizeof(text), "aigw: %s", msg);
	if (ex->xlate) {
		translate_stream_finish(ex->ts, &out);
		if (out.len)
			evbuffer_add(ev, out.data, out.len);
		translate_buf_free(&out);
	} else {
		evbuffer_drain(ex->held, evbuffer_get_length(ex->held)); /* half an event */
		stream_error_event(ex, text, ev);
	}
	forward_body(ex, evbuffer_pullup(ev, -1), evbuffer_get_length(ev));
	evbuffer_free(ev);
	if (ex->chunked_out) {
		evbuffer_add(bufferevent_get_output(ex->s->client), "0\r\n\r\n", 5);
		ex->resp_wire_bytes += 5;
	}
	ex->stream_error_sent = 1;
	return 1;
}

/*
 * The provider failed us. Before the client has the status line, it gets a clean error in
 * its provider's format; after, the only honest signal left is to end the connection
 * without finishing the body (a chunked body without its last chunk, a short
 * Content-Length), which every HTTP client reports as an error.
 */
static void exchange_fail(struct exchange *ex, enum exchange_outcome outcome, int status,
			  const char *msg)
{
	struct session *s = ex->s;

	if (!ex->error[0])
		snprintf(ex->error, sizeof(ex->error), "%s", msg);
	if (ex->target && outcome >= OUTCOME_UPSTREAM_CONNECT &&
	    outcome <= OUTCOME_UPSTREAM_BAD_RESPONSE && !ex->head_sent)
		target_failed(ex);
	if (!ex->head_sent) {
		char text[700];

		snprintf(text, sizeof(text), "aigw: %s", ex->error); /* msg, or more */
		send_error(s, ex, status, text);
		session_close(s, outcome, 1);
		return;
	}
	session_close(s, outcome, stream_end_with_error(ex, msg));
}

static void on_up_read(struct bufferevent *bev, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;
	struct evbuffer *in = bufferevent_get_input(bev);

	session_enter(s);
	while (evbuffer_get_length(in) && !ex->resp_complete && !ex->garbage &&
	       !ex->retry_pending) {
		struct evbuffer_iovec v;
		size_t used;

		evbuffer_peek(in, -1, NULL, &v, 1);
		ex->got_upstream_bytes = 1;
		used = http_parser_execute(&ex->rp, &resp_settings, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (HTTP_PARSER_ERRNO(&ex->rp) != HPE_OK &&
		    HTTP_PARSER_ERRNO(&ex->rp) != HPE_PAUSED) {
			char msg[600];

			snprintf(msg, sizeof(msg), "malformed response from %s: %s", ex->up_host,
				 http_errno_description(HTTP_PARSER_ERRNO(&ex->rp)));
			exchange_fail(ex, OUTCOME_UPSTREAM_BAD_RESPONSE, 502, msg);
			session_leave(s);
			return;
		}
	}
	if (ex->retry_pending) {
		char why[64];
		int status = ex->status;

		snprintf(why, sizeof(why), "the provider answered %d", status);
		if (!exchange_retry(ex, status, why)) /* the next targets could not take it */
			exchange_fail(ex, OUTCOME_NO_TARGET,
				      status == 429 || status / 100 == 5 ? status : 502, why);
	} else if (ex->garbage) {
		char msg[400];

		snprintf(msg, sizeof(msg),
			 "%s answered %d with a body that is not the %s it declared", ex->up_host,
			 ex->status, ex->is_sse ? "event stream" : "JSON");
		ex->status = 0;
		exchange_fail(ex, OUTCOME_UPSTREAM_BAD_RESPONSE, 502, msg);
	} else if (ex->resp_complete) {
		int keepalive = ex->client_keepalive;

		exchange_finish(ex, OUTCOME_OK);
		if (!s->dead && keepalive)
			session_resume(s); /* the next request may already be buffered */
		else if (!s->dead)
			session_close(s, OUTCOME_OK, 1);
	} else if (evbuffer_get_length(bufferevent_get_output(s->client)) >= HTTP1_HIGH_WATER) {
		bufferevent_disable(bev, EV_READ); /* resumed by on_client_write */
	}
	session_leave(s);
}

static void on_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;
	char msg[600];

	session_enter(s);
	if (what & BEV_EVENT_EOF) {
		/* A body delimited by the close ends here. */
		http_parser_execute(&ex->rp, &resp_settings, NULL, 0);
		if (ex->resp_complete) {
			ex->up_keepalive = 0;
			exchange_finish(ex, OUTCOME_OK);
			session_close(s, OUTCOME_OK, 1);
			goto out;
		}
	}
	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(msg, sizeof(msg), "%s did not answer within %u ms", ex->up_host,
			 ex->head_sent ? s->cfg->idle_ms : s->cfg->first_byte_ms);
		if (exchange_retry(ex, 0, msg))
			goto out;
	} else if (exchange_retry(ex, 0, "the provider closed the connection before answering")) {
		goto out;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(msg, sizeof(msg), "%s did not answer within %u ms", ex->up_host,
			 ex->head_sent ? s->cfg->idle_ms : s->cfg->first_byte_ms);
		exchange_fail(ex, OUTCOME_UPSTREAM_TIMEOUT, 504, msg);
	} else {
		snprintf(msg, sizeof(msg), "%s closed the connection %s", ex->up_host,
			 ex->head_sent ? "in the middle of the response" : "before answering");
		exchange_fail(ex, OUTCOME_UPSTREAM_RESET, 502, msg);
	}
out:
	session_leave(s);
}

/*
 * The credential: the gateway's key for the provider the call goes to replaces whatever the
 * app sent (its own key, or none), unless the call goes where the app sent it and the app's
 * workload keeps its own keys. Anthropic takes x-api-key, OpenAI and compatible servers a
 * bearer token. Elsewhere than the app's destination a gateway key is required (checked when
 * the target was chosen).
 */
static void write_credential(struct exchange *ex, struct evbuffer *out)
{
	struct session *s = ex->s;
	int own = ex->up_app_headers && s->info.own_keys;
	const char *key = own ? NULL : keys_get(s->cfg->keys, ex->up_provider);

	if (!key) {
		ex->credential =
		    headers_get(&ex->req, "authorization") || headers_get(&ex->req, "x-api-key")
			? "app"
			: "none";
		return;
	}
	headers_drop(&ex->req, "authorization");
	headers_drop(&ex->req, "x-api-key");
	if (ex->up_api == USAGE_API_ANTHROPIC_MESSAGES || !strcmp(ex->up_provider, "anthropic"))
		evbuffer_add_printf(out, "x-api-key: %s\r\n", key);
	else
		evbuffer_add_printf(out, "Authorization: Bearer %s\r\n", key);
	ex->credential = "gateway";
}

static void copy_header(const struct exchange *ex, struct evbuffer *out, const char *name,
			const char *fallback)
{
	const char *v = headers_get(&ex->req, name);

	if (v || fallback)
		evbuffer_add_printf(out, "%s: %s\r\n", name, v ? v : fallback);
}

/* Headers for a provider the app did not dial: ours, plus what both sides share. The
 * answer is asked for unencoded: the gateway reads (and may translate) it. */
static void write_target_headers(struct exchange *ex, struct evbuffer *out)
{
	int to_anthropic = ex->up_api == USAGE_API_ANTHROPIC_MESSAGES;

	if (ex->up_port == 443)
		evbuffer_add_printf(out, "Host: %s\r\n", ex->up_host);
	else
		evbuffer_add_printf(out, "Host: %s:%u\r\n", ex->up_host, ex->up_port);
	evbuffer_add(out, "Content-Type: application/json\r\n", 32);
	copy_header(ex, out, "accept", ex->stream ? "text/event-stream" : "application/json");
	copy_header(ex, out, "user-agent", "aigw");
	if (to_anthropic && !ex->xlate) { /* an Anthropic app's own API version and betas */
		copy_header(ex, out, "anthropic-version", "2023-06-01");
		copy_header(ex, out, "anthropic-beta", NULL);
	} else if (to_anthropic) {
		evbuffer_add(out, "anthropic-version: 2023-06-01\r\n", 31);
	}
}

/* The request as the provider gets it. */
static void write_request(struct exchange *ex)
{
	struct evbuffer *out = bufferevent_get_output(ex->up->bev);
	struct evbuffer *body_buf = ex->up_body ? ex->up_body : ex->body;
	size_t body = evbuffer_get_length(body_buf);
	const char *target = ex->up_path ? ex->up_path : ex->url ? ex->url : "/";

	evbuffer_add_printf(out, "%s %s HTTP/1.1\r\n", ex->method, target);
	write_credential(ex, out);
	if (ex->up_app_headers)
		headers_write(&ex->req, out);
	else
		write_target_headers(ex, out);
	if (body || !strcmp(ex->method, "POST") || !strcmp(ex->method, "PUT") ||
	    !strcmp(ex->method, "PATCH"))
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", body);
	evbuffer_add(out, "\r\n", 2);
	/* A copy: the body stays ours (a retry on a fresh connection sends it again). */
	evbuffer_add(out, evbuffer_pullup(body_buf, -1), body);
	/* One TLS record, one segment, for the usual small request. */
	if (evbuffer_get_length(out) <= 16384)
		evbuffer_pullup(out, -1);
}

static void on_upstream_ready(struct upstream_conn *c, int err, const char *errmsg, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;
	struct timeval first = {s->cfg->first_byte_ms / 1000,
				(s->cfg->first_byte_ms % 1000) * 1000};

	session_enter(s);
	if (err) {
		ex->up = NULL;
		/* A certificate that fails verification fails again: only the network retries. */
		if (err != -EPROTO && exchange_retry(ex, 0, errmsg)) {
			session_leave(s);
			return;
		}
		exchange_fail(ex,
			      err == -EPROTO	  ? OUTCOME_UPSTREAM_TLS
			      : err == -ETIMEDOUT ? OUTCOME_UPSTREAM_TIMEOUT
						  : OUTCOME_UPSTREAM_CONNECT,
			      err == -ETIMEDOUT ? 504 : 502, errmsg);
		session_leave(s);
		return;
	}
	ex->up_reused = c->reused;
	ex->up_tls_resumed = c->tls_resumed;
	http_parser_init(&ex->rp, HTTP_RESPONSE);
	ex->rp.data = ex;
	bufferevent_setcb(c->bev, on_up_read, NULL, on_up_event, ex);
	bufferevent_set_timeouts(c->bev, &first, &first);
	write_request(ex);
	clock_gettime(CLOCK_MONOTONIC, &ex->t_sent);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	session_leave(s);
}

static void exchange_start_upstream(struct exchange *ex)
{
	struct session *s = ex->s;

	int ready;

	ex->attempts++;
	ex->target_attempts++;
	ex->retry_after_ms = -1;
	clock_gettime(CLOCK_MONOTONIC, &ex->t_attempt);
	/* A retry never takes another pooled connection: they may have gone stale together. */
	ex->up = upstream_get(s->pool, ex->up_host, &ex->up_addr, on_upstream_ready, ex,
			      ex->fresh_conn, &ready);
	if (!ex->up)
		exchange_fail(ex, OUTCOME_UPSTREAM_CONNECT, 502, "out of memory");
	else if (ready)
		on_upstream_ready(ex->up, 0, NULL, ex);
}

static int api_of(const char *url)
{
	size_t n = url ? strcspn(url, "?") : 0;

	if (n == 20 && !strncmp(url, "/v1/chat/completions", n))
		return USAGE_API_OPENAI_CHAT;
	if (n == 13 && !strncmp(url, "/v1/responses", n))
		return USAGE_API_OPENAI_RESPONSES;
	if (n == 14 && !strncmp(url, "/v1/embeddings", n))
		return USAGE_API_OPENAI_EMBEDDINGS;
	if (n == 12 && !strncmp(url, "/v1/messages", n))
		return USAGE_API_ANTHROPIC_MESSAGES;
	return -1;
}

/* The body that goes upstream when it is not the app's: TEXT (LEN bytes, taken). */
static int up_body_set(struct exchange *ex, char *text, size_t len)
{
	if (!ex->up_body && !(ex->up_body = evbuffer_new())) {
		free(text);
		return -ENOMEM;
	}
	evbuffer_drain(ex->up_body, evbuffer_get_length(ex->up_body));
	evbuffer_add(ex->up_body, text, len);
	free(text);
	return 0;
}

/*
 * The app's body for a target of its own API: MODEL in place of the app's (a logical name),
 * and, for an OpenAI chat stream that did not ask for its usage, the question asked; the
 * answer's extra chunk is then hidden from the app, whose SDK may index choices[0] on it.
 * Only the usage question: the app's bytes otherwise, as they came.
 */
static int body_for_target(struct exchange *ex, const char *model)
{
	size_t len = evbuffer_get_length(ex->body), new_len;
	const char *text = (const char *)evbuffer_pullup(ex->body, -1);
	char *rewritten = NULL;
	cJSON *root, *opts;

	if (ex->up_body)
		evbuffer_free(ex->up_body);
	ex->up_body = NULL;
	ex->suppress_usage = 0;
	if (!strcmp(model, ex->model)) {
		if (!ex->want_usage ||
		    usage_want_include_usage(text, len, &rewritten, &new_len) != 1)
			return 0;
		ex->suppress_usage = 1;
		return up_body_set(ex, rewritten, new_len);
	}
	root = cJSON_ParseWithLength(text, len);
	if (!root)
		return -EBADMSG;
	cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(model));
	if (ex->want_usage) {
		opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
		if (!cJSON_IsObject(opts)) {
			cJSON_DeleteItemFromObjectCaseSensitive(root, "stream_options");
			opts = cJSON_AddObjectToObject(root, "stream_options");
		}
		cJSON_DeleteItemFromObjectCaseSensitive(opts, "include_usage");
		cJSON_AddTrueToObject(opts, "include_usage");
		ex->suppress_usage = 1;
	}
	rewritten = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!rewritten)
		return -ENOMEM;
	return up_body_set(ex, rewritten, strlen(rewritten));
}

/* The model and the stream flag, from a JSON body; nothing else of it is kept. */
static void request_inspect(struct exchange *ex)
{
	size_t len = evbuffer_get_length(ex->body);
	const char *text = len ? (const char *)evbuffer_pullup(ex->body, -1) : NULL;
	const cJSON *model, *stream;
	cJSON *root;
	int asked;

	ex->api = api_of(ex->url);
	if (!text || text[0] != '{')
		return;
	root = cJSON_ParseWithLength(text, len);
	if (!root)
		return;
	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
	if (cJSON_IsString(model))
		snprintf(ex->model, sizeof(ex->model), "%s", model->valuestring);
	ex->stream = cJSON_IsTrue(stream);
	asked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "stream_options"), "include_usage"));
	cJSON_Delete(root);
	ex->want_usage = ex->api == USAGE_API_OPENAI_CHAT && ex->stream && !asked;
}

/* ---- where the call goes ---- */

static int api_family(int usage_api)
{
	return usage_api == USAGE_API_ANTHROPIC_MESSAGES ? POLICY_API_ANTHROPIC : POLICY_API_OPENAI;
}

/* The app's own destination: where it dialled, its headers, its key rules. */
static int target_use_app_destination(struct exchange *ex)
{
	struct session *s = ex->s;

	ex->target = NULL;
	ex->up_app_headers = 1;
	ex->up_api = ex->api;
	ex->up_addr = s->info.flow.orig_dst;
	ex->up_port = ntohs(s->info.flow.orig_dst.port);
	snprintf(ex->up_host, sizeof(ex->up_host), "%s", s->info.sni);
	snprintf(ex->up_provider, sizeof(ex->up_provider), "%s", s->info.provider);
	snprintf(ex->up_model, sizeof(ex->up_model), "%s", ex->model);
	return body_for_target(ex, ex->model);
}

/* A request in the app's API made into one for the target's (T), asking for MODEL. */
static int target_translate(struct exchange *ex, const struct route_target *t, const char *model,
			    char *why, size_t whylen)
{
	enum translate_api app = ex->api == USAGE_API_ANTHROPIC_MESSAGES
				     ? TRANSLATE_ANTHROPIC_MESSAGES
				     : TRANSLATE_OPENAI_CHAT;
	struct translate_req tr;
	char path[512];
	int err;

	if (ex->api != USAGE_API_OPENAI_CHAT && ex->api != USAGE_API_ANTHROPIC_MESSAGES) {
		snprintf(why, whylen, "%s speaks the other API and %s cannot be translated",
			 t->provider, ex->url);
		return -EOPNOTSUPP;
	}
	err = translate_request(app, (const char *)evbuffer_pullup(ex->body, -1),
				evbuffer_get_length(ex->body), model, 0, &tr);
	if (err) {
		snprintf(why, whylen, "cannot be translated for %s: %s", t->provider, tr.error);
		return err;
	}
	ex->include_usage = tr.include_usage;
	ex->up_api = translate_api_other(app) == TRANSLATE_ANTHROPIC_MESSAGES
			 ? USAGE_API_ANTHROPIC_MESSAGES
			 : USAGE_API_OPENAI_CHAT;
	snprintf(path, sizeof(path), "%s%s", t->prefix,
		 ex->up_api == USAGE_API_ANTHROPIC_MESSAGES ? "/v1/messages"
							    : "/v1/chat/completions");
	err = up_body_set(ex, tr.body, tr.len);
	tr.body = NULL;
	translate_req_release(&tr);
	ex->up_path = strdup(path);
	return err ? err : ex->up_path ? 0 : -ENOMEM;
}

/*
 * Makes T the target in use: its address, its key, the request in its API. Returns 0, or
 * -errno with WHY saying why T cannot take the call (no address, no key, untranslatable:
 * -EOPNOTSUPP / -EINVAL / -EBADMSG).
 */
static int target_prepare(struct exchange *ex, const struct route_target *t, char *why,
			  size_t whylen)
{
	struct session *s = ex->s;
	const char *model = t->model ? t->model : ex->model;
	int same_dest = !s->info.explicit_endpoint && !strcmp(t->provider, s->info.provider) &&
			t->host && !strcasecmp(t->host, s->info.sni);

	free(ex->up_path);
	ex->up_path = NULL;
	ex->target = t;
	ex->xlate = ex->api >= 0 && api_family(ex->api) != (int)t->api;
	ex->up_app_headers = same_dest && !ex->xlate;
	snprintf(ex->up_provider, sizeof(ex->up_provider), "%s", t->provider);
	snprintf(ex->up_model, sizeof(ex->up_model), "%s", model);
	if (!t->host) {
		snprintf(why, whylen, "provider %s has no host the gateway can dial (base_url)",
			 t->provider);
		return -ENOENT;
	}
	snprintf(ex->up_host, sizeof(ex->up_host), "%s", t->host);
	ex->up_port = t->port;
	if (!(same_dest && s->info.own_keys) && !keys_get(s->cfg->keys, t->provider)) {
		snprintf(why, whylen, "no gateway key for provider %s (key_env or key_file)",
			 t->provider);
		return -ENOKEY;
	}
	if (same_dest) {
		ex->up_addr = s->info.flow.orig_dst;
	} else if (!s->ops->resolve ||
		   s->ops->resolve(t->host, t->port, &ex->up_addr, s->ops->arg)) {
		snprintf(why, whylen, "no address known for %s yet", t->host);
		return -ENOENT;
	}
	if (ex->xlate)
		return target_translate(ex, t, model, why, whylen);
	ex->up_api = ex->api;
	if (!same_dest) {
		char path[HTTP1_HOST_MAX + 8192];

		snprintf(path, sizeof(path), "%s%s", t->prefix, ex->url);
		if (!(ex->up_path = strdup(path)))
			return -ENOMEM;
	}
	return body_for_target(ex, model);
}

/*
 * From order[pos] on, the first target that is admitted (its breaker) and can take the call;
 * the ones passed over are noted. Returns 0, or -errno with WHY: the last reason (and the
 * worst status for the app in ex->reject_status).
 */
static int target_next(struct exchange *ex, char *why, size_t whylen)
{
	for (; ex->pos < ex->n_order; ex->pos++) {
		const struct route_target *t = &ex->route->targets[ex->order[ex->pos]];
		int err;

		ex->t_attempt = (struct timespec){0};
		if (!route_target_admit(ex->routes, t, &ex->probe)) {
			snprintf(ex->up_provider, sizeof(ex->up_provider), "%s", t->provider);
			snprintf(ex->up_model, sizeof(ex->up_model), "%s",
				 t->model ? t->model : "");
			snprintf(why, whylen, "circuit open for %s/%s", t->provider,
				 t->model ? t->model : ex->model);
			note_try(ex, 0, "skipped", why);
			if (!ex->refuse_status)
				ex->refuse_status = 503;
			continue;
		}
		err = target_prepare(ex, t, why, whylen);
		if (!err)
			return 0;
		if (ex->probe)
			route_target_abandon(t);
		ex->probe = 0;
		note_try(ex, 0, "skipped", why);
		if (err == -EOPNOTSUPP || err == -EINVAL || err == -EBADMSG)
			ex->refuse_status = 400;
		else if (!ex->refuse_status)
			ex->refuse_status = 502;
	}
	ex->up_provider[0] = ex->up_model[0] = ex->up_host[0] = 0;
	return -ENOENT;
}

static int explicit_admit(struct exchange *ex);

/* Chooses where the request goes (the route of a logical name, or where the app sent it)
 * and sends it; a request no target can take is answered here. */
static void exchange_route(struct exchange *ex)
{
	struct session *s = ex->s;
	char why[HTTP1_WHY_MAX], msg[HTTP1_WHY_MAX + 400];

	if (s->info.explicit_endpoint && explicit_admit(ex))
		return;
	if (s->cfg->routes)
		ex->routes = route_table_ref(s->cfg->routes);
	ex->route = route_find(ex->routes, ex->model);
	if (!ex->route && s->info.explicit_endpoint && ex->routes)
		ex->route = &ex->routes->defaults[api_family(ex->api)];
	if (!ex->route) {
		if (target_use_app_destination(ex))
			exchange_fail(ex, OUTCOME_BAD_REQUEST, 400, "out of memory");
		else
			exchange_start_upstream(ex);
		return;
	}
	ex->n_order = route_order(ex->route, request_id_next(), ex->order);
	if (!target_next(ex, why, sizeof(why))) {
		exchange_start_upstream(ex);
		return;
	}
	if (!ex->route->n_targets)
		snprintf(why, sizeof(why), "no provider of this API is configured");
	snprintf(msg, sizeof(msg), "no target can take this call for %s: %s",
		 ex->route->name ? ex->route->name : ex->model, why);
	exchange_fail(ex, ex->refuse_status == 400 ? OUTCOME_BAD_REQUEST : OUTCOME_NO_TARGET,
		      ex->refuse_status ? ex->refuse_status : 502, msg);
}

/* ---- the explicit endpoint: configured apps, named by their gateway key ---- */

/* The gateway key the app presents: a bearer token or Anthropic's x-api-key. */
static const char *presented_key(const struct exchange *ex)
{
	const char *auth = headers_get(&ex->req, "authorization");

	if (auth && !strncasecmp(auth, "Bearer ", 7))
		return auth + 7;
	return headers_get(&ex->req, "x-api-key");
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

/*
 * A call at the explicit endpoint: the caller must present a gateway key the policy issued
 * to a workload (the key never goes further), and ask for an API the gateway speaks.
 * Returns 0 to go on; else the answer was given and the session is ending.
 */
static int explicit_admit(struct exchange *ex)
{
	struct session *s = ex->s;
	const char *key = presented_key(ex);

	if (s->info.local_peer) /* named by its cgroup: a key is neither needed nor used */
		key = NULL;
	else if (!key || !s->ops->authenticate ||
		 s->ops->authenticate(key, ex->workload, sizeof(ex->workload), ex->team,
				      sizeof(ex->team), s->ops->arg)) {
		exchange_fail(ex, OUTCOME_UNAUTHORIZED, 401,
			      key ? "the gateway key presented is not one the policy issued"
				  : "a gateway key is required (Authorization: Bearer KEY)");
		return -EACCES;
	}
	headers_drop(&ex->req, "authorization");
	headers_drop(&ex->req, "x-api-key");
	if (!strcmp(ex->method, "GET") && ex->url && !strncmp(ex->url, "/v1/models", 10) &&
	    (ex->url[10] == 0 || ex->url[10] == '?')) {
		if (s->cfg->routes)
			ex->routes = route_table_ref(s->cfg->routes);
		send_model_list(ex);
		session_close(s, OUTCOME_OK, 1);
		return -ECANCELED;
	}
	if (ex->api < 0 || strcmp(ex->method, "POST")) {
		exchange_fail(ex, OUTCOME_BAD_REQUEST, 404,
			      "the gateway serves POST /v1/chat/completions, /v1/responses, "
			      "/v1/embeddings and /v1/messages, and GET /v1/models");
		return -ENOENT;
	}
	return 0;
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
	struct exchange *ex = calloc(1, sizeof(*ex));

	if (!ex)
		return -1;
	ex->s = s;
	ex->api = -1;
	ex->body = evbuffer_new();
	ex->reason = evbuffer_new();
	if (!ex->body || !ex->reason) {
		exchange_free(ex);
		return -1;
	}
	snprintf(ex->id, sizeof(ex->id), "aigw-%016llx", (unsigned long long)request_id_next());
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

/* The Host field must name the host the TLS connection was made for: a request for another
 * host on this connection (domain fronting) is refused. */
static int host_matches(const struct session *s, const char *host)
{
	size_t n = strlen(s->info.sni);

	if (!host || strncasecmp(host, s->info.sni, n))
		return 0;
	return host[n] == 0 || !strcmp(host + n, ":443");
}

static int on_req_headers_complete(http_parser *p)
{
	struct session *s = p_session(p);
	struct exchange *ex = s->ex;
	const char *expect;

	headers_complete(&ex->req);
	expect = headers_get(&ex->req, "expect");
	snprintf(ex->method, sizeof(ex->method), "%s", http_method_str(p->method));
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
	if (!s->info.explicit_endpoint && (headers_count(&ex->req, "host") != 1 ||
					   !host_matches(s, headers_get(&ex->req, "host")))) {
		reject(s, 421, OUTCOME_MISDIRECTED,
		       "the Host header does not match the TLS server name");
		return -1;
	}
	if (p->content_length != ULLONG_MAX && p->content_length > s->cfg->max_request_body) {
		reject(s, 413, OUTCOME_REQUEST_TOO_LARGE,
		       "request body larger than the gateway allows");
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

	if (evbuffer_get_length(ex->body) + len > s->cfg->max_request_body) {
		reject(s, 413, OUTCOME_REQUEST_TOO_LARGE,
		       "request body larger than the gateway allows");
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
	enum http_errno e = HPE_OK;

	if (s->dead || (s->ex && s->ex->dispatched))
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
		ex->dispatched = 1;
		request_inspect(ex);
		exchange_route(ex);
		return;
	}
	if (e != HPE_OK) {
		if (!s->reject_status)
			reject(s, 400, OUTCOME_BAD_REQUEST, http_errno_description(e));
		if (s->ex)
			snprintf(s->ex->error, sizeof(s->ex->error), "%s", s->reject_msg);
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

	/* The client drained what backpressure held back: read from the provider again. */
	if (s->ex && s->ex->up && s->ex->up->bev &&
	    evbuffer_get_length(bufferevent_get_output(bev)) < HTTP1_HIGH_WATER / 2)
		bufferevent_enable(s->ex->up->bev, EV_READ);
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

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	SSL *ssl;

	session_enter(s);
	if (what & BEV_EVENT_CONNECTED) {
		ssl = bufferevent_openssl_get_ssl(bev);
		snprintf(s->info.tls_version, sizeof(s->info.tls_version), "%s",
			 ssl ? SSL_get_version(ssl) : "");
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

int http_session_start(struct event_base *base, struct bufferevent *client,
		       const struct http_conn_info *info, const struct http_proxy_config *cfg,
		       struct upstream_pool *pool, const struct http_proxy_ops *ops)
{
	struct timeval idle = {cfg->client_idle_ms / 1000, (cfg->client_idle_ms % 1000) * 1000};
	struct session *s = calloc(1, sizeof(*s));

	if (!s) {
		bufferevent_free(client);
		return -ENOMEM;
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
	/* Pipelined bytes beyond this wait in the socket, not in our memory. */
	bufferevent_setwatermark(client, EV_READ, 0, HTTP1_CLIENT_READ_MAX);
	bufferevent_setcb(client, on_client_read, on_client_write, on_client_event, s);
	bufferevent_set_timeouts(client, &idle, NULL);
	bufferevent_enable(client, EV_READ | EV_WRITE);
	return 0;
}

void http_sessions_shutdown(void)
{
	while (live_sessions) {
		struct session *s = live_sessions;

		session_close(s, OUTCOME_SHUTDOWN, 0);
		session_free(s);
	}
}
