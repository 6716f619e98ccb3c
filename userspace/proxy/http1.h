/*
 * http1: the intercepted side of the proxy. Serves HTTP/1.1 (keep-alive, Content-Length and
 * chunked bodies) on a TLS-terminated client connection, forwards each request to the
 * provider over a pooled upstream connection and streams the response back as it arrives.
 * Parsing is nodejs' http-parser, both ways; nothing here parses HTTP by hand.
 *
 * Each request ends in exactly one place (exchange_finish()), which writes its audit record
 * and releases the upstream connection; each connection ends in session_close(), which
 * writes the connection's record and frees the session.
 */
#ifndef AIGW_PROXY_HTTP1_H
#define AIGW_PROXY_HTTP1_H

#include <stdatomic.h>
#include <stdint.h>
#include <event2/bufferevent.h>

#include "capture.h"
#include "util/jsonw.h"
#include "ledger/prices.h"
#include "proxy/keys.h"
#include "proxy/route.h"
#include "proxy/upstream.h"

struct govstate;

#define HTTP1_HOST_MAX 256

/* What is known of an intercepted connection before its first byte of HTTP. */
struct http_conn_info {
	uint64_t conn_id;
	struct aigw_flow flow;     /* original destination and attribution */
	struct aigw_addr client;   /* the app's address as the listener saw it */
	char sni[HTTP1_HOST_MAX];  /* the provider host the app asked for */
	char provider[64];         /* the policy's name for that provider */
	enum policy_api family;    /* the API family it speaks */
	char tls_version[16];      /* filled once the client handshake is done */
	int own_keys;              /* the workload's own provider key goes through */
	int explicit_endpoint;     /* a configured app at the explicit endpoint (plain HTTP):
				      no capture record, the caller named by its gateway key */
	int local_peer;            /* explicit, over the UNIX socket: flow.attr names the
				      caller (its cgroup, pid, uid); no key is needed */
	char workload[128];        /* named at connect time (captured, UNIX socket) */
	char team[128];
	int h2;                    /* an HTTP/2 connection's stream (http2.c) */
};

struct http_proxy_config {
	size_t max_request_body; /* larger requests get 413 */
	size_t max_request_json_values; /* a JSON body with more gets 413, never a tree */
	unsigned first_byte_ms;  /* request sent -> first response byte */
	unsigned idle_ms;        /* no progress on a response in flight */
	unsigned client_idle_ms; /* a kept-alive client with no new request */
	const struct price_table *prices; /* for the cost in each record */
	const struct keys *keys;          /* the gateway's provider keys */
	unsigned retries;                 /* attempts after the first */
	const uint16_t *retry_statuses;   /* answers that are retried (before the app sees them) */
	size_t n_retry_statuses;
	unsigned backoff_ms, backoff_max_ms;
	struct route_table *routes; /* logical model names and breakers; exchanges take refs */
	struct policy *policy;	    /* the policy in force; exchanges take refs */
	struct govstate *state;	    /* limits and budgets (policy/govstate.h) */
	const atomic_int *audit_failing; /* audit_failing() of the daemon's log, or NULL */
	int durable_strict; /* audit.durability "strict": an answer's end waits for its record */
};

/* What the metrics count of a call (an exchange) that ended. Strings may be "", never NULL. */
struct http_call_end {
	const char *workload, *team;
	const char *provider; /* the provider that answered, or was last asked */
	const char *model;    /* the model the app asked for */
	const char *outcome;  /* the record's aigw.outcome: "ok", "denied", ... */
	const char *denied_by; /* outcome "denied": the policy stage that refused it */
	int fallback;	       /* served by a target after the first choice of its route */
	int usage_known;
	uint64_t input_tokens, output_tokens;
	int cost_known;
	int64_t cost_nano; /* nano-dollars, exact */
	double duration_s; /* request start to its end */
	double ttft_s;	   /* a stream: start to the first byte of its answer; < 0: none */
};

struct http_proxy_ops {
	/* Adds the attribution of INFO to REC and hands it to the audit log (takes REC).
	 * Returns the record's audit ticket (ledger/audit.h), 0 when it was not queued. */
	uint64_t (*record)(struct jsonw *rec, const struct http_conn_info *info, void *arg);
	/* The current address of provider host HOST (port PORT, host order): 0, or -ENOENT
	 * when it has none yet. Never blocks (names are resolved elsewhere). */
	int (*resolve)(const char *host, uint16_t port, struct aigw_addr *ret, void *arg);
	/* Hands a record that is no request's (a circuit opening, say) to the audit log
	 * (takes REC). */
	void (*event)(struct jsonw *rec, void *arg);
	/* A call ended, after its record (may be NULL). */
	void (*call_end)(const struct http_call_end *end, void *arg);
	/* The circuit breaker of PROVIDER/MODEL opened (may be NULL). */
	void (*breaker_opened)(const char *provider, const char *model, void *arg);
	void *arg;
};

/*
 * Serves CLIENT (a bufferevent_openssl in accepting state; owned from now on, freed when the
 * session ends) until the client goes or an error ends the connection. CFG, POOL and OPS
 * must outlive the session; INFO is copied.
 */
int http_session_start(struct event_base *base, struct bufferevent *client,
		       const struct http_conn_info *info, const struct http_proxy_config *cfg,
		       struct upstream_pool *pool, const struct http_proxy_ops *ops);

struct session;
struct pipe_conn_slot;

/*
 * One HTTP/2 stream's call (http2.c): serves BEV (an end of a bufferevent pair; owned from
 * now on) as a session for one request, like http_session_start() but with no record of its
 * own and counted in CONN, its h2 connection's place among the workload's connections.
 * ENDED(ARG) runs when the session is freed. Returns the session, or NULL (BEV freed).
 */
struct session *http_stream_session_start(struct event_base *base, struct bufferevent *bev,
					  const struct http_conn_info *info,
					  const struct http_proxy_config *cfg,
					  struct upstream_pool *pool,
					  const struct http_proxy_ops *ops,
					  struct pipe_conn_slot *conn, void (*ended)(void *arg),
					  void *arg);

/*
 * The stream S serves sent N more bytes of its answer in DATA frames; END: its last frame
 * (END_STREAM) went. The call's record waits for this (the stream holds part of the answer
 * until the client's window takes it): it says what the client was sent, and "ok" only when
 * the whole answer went.
 */
void http_stream_session_sent(struct session *s, size_t n, int end);

/* Whether the session S still reads the request the stream writes it: not once its call
 * ended (it lives on only for the call's record, and the rest of the request is dropped). */
int http_stream_session_reads(const struct session *s);

/*
 * Strict durability: the stream S serves holds back its answer's last frame (LAST bytes of
 * DATA) until the call's record is on disk. The call is recorded now as it will have ended
 * when that frame leaves ("ok", LAST counted), S is freed (ENDED runs) and *RET_TICKET is the
 * record's ticket (0: not queued). Returns 1, or 0 when S has no call waiting for its record.
 */
int http_stream_session_end_first(struct session *s, size_t last, uint64_t *ret_ticket);

/* The client left the stream S serves (RST_STREAM, its connection ended): its call ends as
 * a client gone mid-call (recorded with what it was sent), and the session is freed now
 * (ENDED runs); S must not be inside its own callbacks. */
void http_stream_session_abort(struct session *s);

/*
 * Strict durability (cfg->durable_strict): while a session's callbacks run, nothing it writes
 * to the client leaves (its write side is corked); when a call ends, the session keeps the
 * cork on until the call's record is settled, and reads no next request meanwhile. The
 * daemon calls this with audit_durable()'s marks after each batch the audit writer settles:
 * sessions whose record is on disk (ticket <= DURABLE, > LOST) let the answer's end go;
 * those whose record was lost close without it under audit.on_failure "block", and let it go
 * under "continue".
 */
void http_durable_release(uint64_t durable, uint64_t lost);

/* Ends every live session now (daemon shutdown): each in-flight request is recorded with
 * outcome "shutdown", each connection with its record, and everything is freed. */
void http_sessions_shutdown(void);

#endif
