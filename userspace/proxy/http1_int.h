/*
 * http1_int.h: what the parts of the HTTP/1.1 proxy share, and nothing else includes: the
 * session (one per client connection) and the exchange (one per request), and the functions
 * one part calls in another.
 *
 *   http1.c           sessions: the client connection, its requests parsed, gateway-made
 *                     answers, the explicit endpoint's admission, start and shutdown
 *   exchange.c        one request's way upstream: where it goes (route, target, translated
 *                     request, key), the request written, retries, fallback, its end
 *   response.c        the provider's answer on its way to the app, in the mode picked on its
 *                     head (enum response_mode): passed, held whole as JSON, streamed event
 *                     by event, either of those translated, or discarded for a retry
 *   exchange_record.c the audit record of an exchange
 *
 * Ownership: a session owns its client bufferevent and its exchange in flight; an exchange
 * owns its buffers, its leased upstream connection (until exchange_finish) and a reference
 * to the route table.
 */
#ifndef AIGW_PROXY_HTTP1_INT_H
#define AIGW_PROXY_HTTP1_INT_H

#include <stdint.h>
#include <time.h>
#include <http_parser.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy/gcp_token.h"
#include "proxy/headers.h"
#include "proxy/http1.h"
#include "proxy/route.h"
#include "policy/pipeline.h"
#include "ledger/cost.h"
#include "providers/api.h"
#include "providers/azure.h"
#include "providers/sigv4.h"
#include "providers/sse.h"
#include "providers/translate.h"
#include "providers/usage.h"
#include "providers/vertex.h"
#include "util/timefmt.h"

#define HTTP1_HIGH_WATER (1u << 20) /* client output that stops reading from the provider */
#define HTTP1_JSON_MAX (64u << 20)  /* a JSON answer checked whole; larger ones just stream */
#define HTTP1_CLIENT_READ_MAX (256u * 1024) /* client bytes read ahead of the parser */
#define HTTP1_UP_READ_MAX (256u * 1024)	    /* provider bytes read ahead of the parser */
#define HTTP1_UP_READ_STEP 4096		    /* ... and read at once (libevent's TLS default) */
#define HTTP1_STALE_RETRY_MS 1000	    /* a pooled connection failing this soon was stale */
#define HTTP1_MAX_TRIES 12
#define HTTP1_WHY_MAX 512	/* why a target could not take a call */
#define HTTP1_DISCARD_MAX 65536 /* a retried answer's body read to keep its connection */
#define HTTP1_DISCARD_MS 500	/* and how long it may take */

/*
 * What the gateway does with the provider's answer, chosen once on its head (response.c):
 * the body, its end and a failure each go the mode's way. Holding an answer may turn out
 * impossible (a JSON body past HTTP1_JSON_MAX, an event past the SSE parser's limit): the
 * answer is then passed on as it comes from there, RESPONSE_PASS.
 */
enum response_mode {
	RESPONSE_PASS,		  /* as it comes; also an answer without a body (its head went
				     at once) and, being zero, the mode before a head came */
	RESPONSE_JSON,		  /* a JSON answer held whole: checked and read for usage, then
				     sent with its length */
	RESPONSE_JSON_TRANSLATED, /* any answer of the other API (the target's) held whole and
				     rewritten in the app's: a result or an error */
	RESPONSE_SSE,		  /* a stream read event by event (usage); whole events are
				     passed on, the usage chunk the app did not ask for left out */
	RESPONSE_SSE_TRANSLATED,  /* the other API's stream, rewritten event by event */
	RESPONSE_EVENTSTREAM,	  /* an AWS event stream (Bedrock): whole checked messages go on,
				     read for usage (providers/bedrock.h) */
	RESPONSE_DISCARD,	  /* its status asks for another attempt: never the app's; a small
				     body is read and dropped to keep the connection */
};

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
	OUTCOME_DENIED, /* a policy stage refused the call */
};

struct session;

/* One attempt of an exchange, for its record. */
struct attempt {
	int status; /* 0: no answer */
	double ms;
	const char *result; /* "retried", "fell_back", "skipped", "ok", "failed" */
	int reused;	    /* its connection came from the pool; -1: it had none */
	char provider[64];
	char model[128];
	char error[200];
};

struct exchange {
	struct session *s;
	struct policy *policy; /* the policy it runs under: a reference, held while it lives */
	struct pipe_req pr;    /* what the policy stages know of it and decided */
	struct cost cost;      /* computed once, at its end */
	char id[40];
	char start_time[TIMEFMT_LEN];
	struct timespec t_start, t_first, t_end;
	struct timespec t_sent;	   /* the request went to the provider */
	struct timespec t_attempt; /* the current attempt began */
	struct event *retry_ev;	   /* the wait before the next attempt */
	struct timespec t_discard; /* RESPONSE_DISCARD reads since (HTTP1_DISCARD_MS in all) */
	long retry_after_ms;	   /* what the provider asked us to wait, or -1 */
	struct attempt
	    tries[HTTP1_MAX_TRIES]; /* those that did not give the answer, oldest first */
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
	char up_host[HTTP1_HOST_MAX];	   /* SNI and Host upstream */
	uint16_t up_port;		   /* host order */
	char up_provider[64];		   /* the policy's name of the provider it goes to */
	char up_model[128];		   /* the model asked of it */
	struct aigw_addr up_addr;
	int up_api;			       /* enum usage_api of what goes upstream, or -1 */
	const struct provider_api *up_adapter; /* the family of the provider it goes to */
	char *up_path;			       /* NULL: the app's request target */
	struct evbuffer *up_body;	       /* NULL: the app's body as it came */
	int up_app_headers; /* the app's own destination: its headers go as they are */
	int xlate;	    /* the target speaks the other API: translated both ways */
	int bedrock_door;   /* an Anthropic call served by Bedrock's InvokeModel (bedrock_door.c) */
	int include_usage;  /* xlate: an OpenAI app asked for the usage chunk */
	struct translate_stream *ts;
	struct translate_buf ts_out; /* ts's output, one buffer reused event after event */
	int stream_error_sent;	       /* a failed stream was ended with an error event */
	int tool_ids_cut; /* most Gemini-signed tool call ids an attempt's body had cut (0: none) */
	int refuse_status;	       /* no target could take it: the status the app gets */
	int counted_attempt;	       /* the attempt whose failure the breaker has counted */
	int fresh_conn; /* a retry on the same host: never a pooled connection, they may have
			   gone stale together */
	struct gcp_token_wait tok_wait; /* a Vertex target: waiting for its token */
	char *up_token;			/* a Vertex target: the bearer token minted, owned */
	struct sigv4_signed aws_sig;	/* an AWS target: this attempt's signature */
	int aws_signed;			/* aws_sig holds it (aws_sign.c) */

	/* The request. */
	char method[16];
	char *url; /* the request target as sent, NUL-terminated */
	size_t url_len;
	/* The same with the provider's API root made "/v1" (providers/api_path.h), what the
	 * gateway reads it as; NULL when that is url. outside_api: the path is outside the
	 * provider's API root, so it is no call the gateway reads. */
	char *api_url;
	int outside_api;
	int vertex_app; /* the app called a Vertex publisher path (enum vertex_kind), or 0 */
	char vertex_location[64]; /* a Vertex call's location ("global", "us-east5"), or "" */
	struct headers req;
	struct evbuffer *body;
	size_t body_size; /* the body's, once it is gone (exchange_shed()) */
	int client_keepalive;
	int dispatched; /* the whole request is read and on its way upstream */
	char model[128];
	/* Azure OpenAI: the deployment called (its path's, or on the v1 path the body's
	 * "model"); model is then what the policy's deployments map says it runs, "" when the
	 * map does not name it (providers/azure.h) */
	char deployment[AZURE_DEPLOYMENT_MAX + 1];
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
	enum response_mode resp_mode; /* picked on the head; see the enum */
	int resp_chunked;			/* as the provider framed it */
	unsigned long long resp_content_length; /* ULLONG_MAX: none (http-parser counts it down) */
	int garbage;	 /* the body is not what its Content-Type says: 502 */
	struct evbuffer *resp_buf; /* RESPONSE_JSON, RESPONSE_JSON_TRANSLATED: the body held */
	int chunked_out; /* we frame the body to the client in chunks */
	int resp_complete;
	int up_keepalive;
	int got_upstream_bytes;
	/* the provider's head came in this read: its connection's timeouts go from
	 * first_byte_ms to idle_ms when the read is parsed (on_up_read) */
	int up_idle_due;
	uint64_t resp_body_bytes, resp_wire_bytes;
	char provider_request_id[128];
	char error[600];

	/* What the call used: read from the answer (a JSON body whole, a stream event by
	 * event), priced at the end. */
	int api; /* enum usage_api of the app's path, or -1 for one we do not read */
	const struct provider_api *app; /* the adapter of the app's path, or NULL */
	/* the app's body parsed once, owned; read it with exchange_req_json(), which builds it
	 * when req_json_later says it has not been yet */
	struct cJSON *req_json;
	struct usage_tree *req_tree;	/* the block req_json lives in; usage_tree_free() */
	int req_object;			/* the app's body is one JSON object (cJSON's reading) */
	int req_json_later;		/* req_object, and req_json is not built yet */
	int want_usage;			/* an OpenAI chat stream that did not ask for its usage */
	int suppress_usage;		/* we asked for the usage chunk; the app must not see it */
	struct usage usage;
	int usage_found;
	char resp_model[USAGE_MODEL_MAX];
	struct sse_parser sse; /* RESPONSE_SSE, RESPONSE_SSE_TRANSLATED */
	struct usage_stream us;
	struct evbuffer *held;	 /* RESPONSE_SSE: bytes not yet known to be whole events */
	struct bedrock_stream *bs; /* RESPONSE_EVENTSTREAM: its reader (owned) */
	uint64_t fed, forwarded; /* stream offsets: read from the provider, passed on (SSE) */
	uint64_t drop_start, drop_end; /* the usage chunk's bytes, when seen */
	int drop_set;
	struct guard_stream *gs; /* a stream the call's guardrails read (pr.guard), or NULL */
	int guard_err;		 /* the guardrails stopped the answer: -EPERM (a match to
				    block), or why it could not be read (guard_fail()) */
	int buffer_over;	 /* an answer held whole passed buffer_bytes (buffer_fail()) */
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
	struct pipe_conn_slot conn; /* among its workload's connections (limits.connections) */
	struct pipe_conn_slot *conn_of; /* an h2 stream: its connection's place, else &conn */
	struct buffer_hold queued; /* an ended call's answer still queued for the client */
	void (*ended)(void *arg);	/* an h2 stream: told when the session is freed */
	void *ended_arg;
	/* An h2 stream: its ended call, owned, recorded once the stream tells how much of its
	 * answer reached the client (exchange_delivery_end()), and how the call ended. */
	struct exchange *undelivered;
	enum exchange_outcome undelivered_outcome;
	uint64_t sent_to_client; /* an h2 stream: answer bytes sent in DATA frames */

	int busy;	   /* libevent callbacks of this session on the stack */
	int dead;	   /* session_close() ran: free when not busy */
	int closing;	   /* flushing the last bytes, then free */
	int reject_status; /* a parser callback refused the request with this status */
	int reject_by_policy; /* ... because a policy stage said so: ex->pr.refusal */
	enum exchange_outcome reject_outcome;
	char reject_msg[PIPE_MSG_MAX];

	/* emptied by its ended exchanges, for its next ones (session_evbuffer()); owned, freed
	 * with the session */
	struct evbuffer *spare[3];
	unsigned n_spare;

	struct session *prev, *next; /* all live sessions, for shutdown */
	struct timeval idle_tv;	     /* cfg->idle_ms */
	/* The current call's budget for waiting on the client (idle_ms in all; http1.c): */
	struct event *client_wait_timer;  /* ... by its end; made at the first wait, owned */
	struct timespec client_wait_from; /* ... the wait under way began */
	int64_t client_waited_ns;	  /* ... spent by the call's earlier waits */
	int client_waiting;		  /* ... our output holds bytes the socket refused */
	unsigned n_requests;
	char tls_error[256];
	char start_time[TIMEFMT_LEN];
	struct timespec t_start;

	/* Strict durability (http1.h http_durable_release()). */
	int corked;	      /* the client's write side is off: nothing leaves */
	int hold_lost;	      /* the held answer's record was never queued: cut it */
	uint64_t hold_ticket; /* the record the answer's end waits for; 0: none */
	struct session *hold_prev, *hold_next; /* the sessions holding, in ticket order */
};

/* Whether the answer is read as a stream (its SSE parser is live). */
static inline int response_is_stream(const struct exchange *ex)
{
	return ex->resp_mode == RESPONSE_SSE || ex->resp_mode == RESPONSE_SSE_TRANSLATED;
}

/* One rounding, from whole nanoseconds: the double nearest the decimal, which jsonw_num()
 * writes without printf. */
static inline double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)((b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec)) / 1e6;
}

/* http1.c */
const char *reason_phrase(int status); /* "Bad Gateway" for 502, ... */
/* A complete error answer in the app's API; the connection closes after it. */
void send_error(struct session *s, struct exchange *ex, int status, const char *msg);
/* The same for a policy stage's refusal: its kind of error, its retry-after. */
void send_refusal(struct session *s, struct exchange *ex, const struct pipe_refusal *r);
/* The exchange's policy request brought up to date before a stage is asked (the price
 * table and the clock of this moment). */
void exchange_pipe_sync(struct exchange *ex);
/* Around every libevent callback: a session is freed only when none is on the stack;
 * session_leave() returns 1 when it freed it. */
void session_enter(struct session *s);
int session_leave(struct session *s);
/* The one place a session ends (its exchange in flight first); FLUSH: send what is queued. */
void session_close(struct session *s, enum exchange_outcome why, int flush);
/* After an answer on a kept-alive connection: the next request, maybe already buffered. */
void session_resume(struct session *s);
/* The call that just ended wrote record TICKET (0: not queued): with strict durability its
 * answer's end stays corked until the record is on disk. */
void session_hold(struct session *s, uint64_t ticket);
/* Adds network.protocol.name and .version (OpenTelemetry) of the session's client. */
void session_protocol_note(const struct session *s, struct jsonw *rec);
uint64_t request_id_next(void); /* unique, unguessable; also the draw for weights, jitter */
/* The explicit endpoint: the caller's key goes no further; GET /v1/models is answered
 * here. 0 to go on, else it answered. */
int explicit_admit(struct exchange *ex);
/* The adapter of the API the app speaks (its path's, else its provider's family). */
const struct provider_api *app_api(const struct session *s, const struct exchange *ex);

/* exchange.c */
/* A new exchange, every field zero as calloc() would make it except the entries of its tables
 * past their counts (never read); NULL when out of memory. The session owns it, and frees it
 * with exchange_free(). */
struct exchange *exchange_alloc(void);
void exchange_free(struct exchange *ex);
/* The one place an exchange ends: its record, its upstream connection pooled or closed. */
void exchange_finish(struct exchange *ex, enum exchange_outcome outcome);
/* An h2 stream's call that exchange_finish() left unrecorded (S->undelivered; none: nothing
 * happens, 0): recorded and freed now, as it ended if its answer left WHOLE, else as GONE.
 * Returns the record's ticket (0: not queued). */
uint64_t exchange_delivery_end(struct session *s, int whole, enum exchange_outcome gone);
int status_retried(const struct exchange *ex, int status);
int can_retry(const struct exchange *ex);
int can_fall_back(const struct exchange *ex);
void target_failed(struct exchange *ex);
/* A breaker's change of state, recorded and logged. */
void target_breaker_note(struct exchange *ex, enum breaker_change change);
/* Another attempt (same target after backoff, or the next target); 0: the failure stands. */
int exchange_retry(struct exchange *ex, int status, const char *why);
/* The provider failed us: an error answer, or a stream ended with an error event. */
void exchange_fail(struct exchange *ex, enum exchange_outcome outcome, int status, const char *msg);
/* A policy stage refused the whole request (ex->pr.refusal): answered and ended. */
void exchange_refuse(struct exchange *ex);
void exchange_start_upstream(struct exchange *ex);
/* bedrock_door.c: an Anthropic Messages call served by Claude on Bedrock. */
struct evstream_msg;
int bedrock_door_usable(const struct exchange *ex, const struct route_target *t);
int bedrock_door_prepare(struct exchange *ex, const char *model, char *why, size_t whylen);
void bedrock_door_chunk(struct exchange *ex, const struct evstream_msg *m, struct evbuffer *out);
/* exchange.c: an empty evbuffer for an exchange of S, one an ended exchange of S left or a new
 * one (NULL: no memory); the exchange frees it with session_evbuffer_put(), which keeps it
 * (drained) for S's next exchange. session_spares_free() frees what S keeps. */
struct evbuffer *session_evbuffer(struct session *s);
void session_evbuffer_put(struct session *s, struct evbuffer *buf);
void session_spares_free(struct session *s);
/* exchange.c: the app's body parsed (ex->req_json, the exchange's), built on the first call
 * when request_inspect() found it one JSON object and read it without a tree; NULL when it is
 * none. exchange_req_json_get() is the same for struct pipe_req's json_get. */
const struct cJSON *exchange_req_json(struct exchange *ex);
const struct cJSON *exchange_req_json_get(void *ex);
/* exchange.c: TEXT (LEN bytes, taken) as the body that goes upstream. */
int exchange_up_body_set(struct exchange *ex, char *text, size_t len);
/* aws_sign.c: signs the attempt for an AWS target with the gateway's credentials (before it connects):
 * 0 (signed: aws_signed, or not an AWS target), or -errno with WHY (no secret in it). */
int aws_sign_attempt(struct exchange *ex, char *why, size_t whylen);
/* The signature headers, the app's own dropped. */
void aws_sign_write(struct exchange *ex, struct evbuffer *out);
/* A whole request read: the policy stages, then exchange_route(). */
void exchange_admit(struct exchange *ex);
/* Chooses where it goes and sends it. */
void exchange_route(struct exchange *ex);

/* response.c */
/* Forgets what a failed attempt's answer left behind. */
void response_reset(struct exchange *ex);
void eventstream_free(struct exchange *ex); /* RESPONSE_EVENTSTREAM's reader; NULL-safe */
/* What the answer holds (held whole or in part, queued for the client) told to the policy's
 * buffer_bytes (buffer_answer_hold()): 1 when past a limit. */
int response_hold_update(struct exchange *ex);
/* Whether reading from the provider should stop: the client is behind, or the answer's bytes
 * are past a buffer_bytes limit and some of them wait for the client. */
int response_throttled(struct exchange *ex);
int stream_end_with_error(struct exchange *ex, const char *msg);
/* The upstream connection's callbacks while an exchange holds it (ARG: the exchange). */
void on_up_read(struct bufferevent *bev, void *arg);
void on_up_event(struct bufferevent *bev, short what, void *arg);

/* exchange_record.c */
const char *exchange_provider(const struct exchange *ex);
/* The request target as the gateway reads it: ex->api_url, else ex->url (may be NULL). */
const char *exchange_api_url(const struct exchange *ex);
/* Returns the record's audit ticket, 0 when it was not queued. */
uint64_t exchange_record(struct exchange *ex, enum exchange_outcome outcome);
/* A stream admitted by the policy, before any upstream: "proxy.request_started", with the
 * request id its final record will carry. */
void exchange_record_started(struct exchange *ex);

#endif
