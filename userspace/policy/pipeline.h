/*
 * pipeline: the request path's policy, as nginx's phases: an ordered list of stages with one
 * signature. Each stage is one file (policy/stage_*.c) and knows nothing of sockets; the
 * proxy knows no stage by name. It fills a struct pipe_req, and asks:
 *
 *   pipeline_head()    on the request's head (before its body is read): admission
 *   pipeline_request() on the whole request: allow-lists, limits, budgets, routing
 *   pipeline_target()  before each target is tried: may this call go there?
 *   pipeline_end()     once, when the call ended (answered, failed or refused): settles
 *                      what was reserved, releases what was held
 *
 * A stage answers PIPE_CONTINUE or PIPE_STOP (r->refusal says with what status and why).
 * Every decision a stage makes is noted (r->decisions) for the record, with its stage, the
 * rule that decided and the action: allow, deny, would_deny (the rule has "enforce": false:
 * the call goes on, recorded), capped (max_tokens lowered to fit a budget).
 *
 * Adding a control is adding a stage: a file with a `const struct stage stage_NAME`, and its
 * name in the list in pipeline.c. See README.md "Adding a policy stage".
 *
 * Ownership: a pipe_req lives in the proxy's exchange; everything it points to is the
 * proxy's (request) or the policy snapshot's (a reference held for the call's life).
 */
#ifndef AIGW_POLICY_PIPELINE_H
#define AIGW_POLICY_PIPELINE_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

struct cJSON;
struct guard_call;
struct govstate;
struct govstate_held;
struct jsonw;
struct price_table;
struct route;
struct route_table;
struct route_target;

enum pipe_verdict {
	PIPE_CONTINUE = 0,
	PIPE_STOP = 1, /* r->refusal is set: the app gets it */
};

enum pipe_action {
	PIPE_ALLOW,
	PIPE_DENY,
	PIPE_WOULD_DENY,
	PIPE_CAPPED,
};

#define PIPE_RULE_MAX 160
#define PIPE_DECISIONS_MAX 16
#define PIPE_MSG_MAX 400
#define PIPE_REASON_MAX 256

struct pipe_decision {
	const char *stage; /* the stage's name (static) */
	char rule[PIPE_RULE_MAX];
	enum pipe_action action;
	char reason[PIPE_REASON_MAX]; /* a would_deny's: what the app would have been told; or "" */
};

/* What the app gets when a stage stops the call: in its provider's error format. */
struct pipe_refusal {
	int status;	       /* 400, 403, 404, 413, 421, 429, 401, 503 */
	const char *kind;      /* "permission", "rate_limit", "quota", "invalid", "guardrail", "auth",
				  "not_found", "too_large", "misdirected", "unavailable": each
				  adapter maps it to its family's error type and code */
	long retry_after_s;    /* > 0: a retry-after header */
	char message[PIPE_MSG_MAX];
};

/* What a call reserved, to be settled at its end. */
struct pipe_reservation {
	int rpm_taken;		  /* one request taken from the rpm bucket */
	double tokens;		  /* taken from the tpm bucket and not yet settled */
	double tokens_reserved;	  /* what was taken (0: no tokens_per_minute) */
	double tokens_settled;	  /* what the call was settled to */
	int inflight;		  /* counted in "concurrent" */
	int64_t nano;		  /* reserved of each budget below (worst-case cost) */
	int64_t nano_settled;	  /* what it was settled to; -1 until then */
	int budget;		  /* a budget applied: nano and nano_settled mean something */
	char day[11], month[8];	  /* the periods it was reserved in */
	int workload_budget;	  /* reserved of the workload's budget */
	int team_budget;	  /* reserved of the team's budget */
	int bounds_known;	  /* input_bound and output_bound are computed */
	int64_t input_bound;	  /* tokens: the bound the reservation was made from */
	int64_t output_bound;
	uint64_t held_bytes;	  /* of its workload's limits.buffer_bytes (stage_buffer) */
	uint64_t daemon_bytes;	  /* of proxy.limits.buffer_bytes, for its body */
	uint64_t answer_bytes;	  /* of its answer, held or queued (buffer_answer_hold) */
	uint64_t answer_credit;	  /* ... counted: answer_bytes rounded up to a credit step */
	int answer_over;	  /* the answer put a cap past its limit, enforced */
	int answer_noted;	  /* ... a cap with "enforce": false: would_deny noted once */
	const char *answer_rule;  /* the cap it passed ("limits.buffer_bytes") */
};

/*
 * A client connection's place among its workload's open connections (limits.connections).
 * The proxy's session owns it: taken when the connection's workload is known (captured and
 * UNIX-socket connections at their start, api.listen ones at their first request, by the key),
 * given back when the connection is freed.
 */
struct pipe_conn_slot {
	char workload[128]; /* whose place is held; "": none */
	int over;	    /* it made the count pass the limit: its requests are refused */
};

/*
 * Bytes the proxy holds for a connection outside any call (stage_buffer.c): an HTTP/1.1
 * answer still queued to its app after the call ended, an h2 connection's request bytes in
 * its streams' pipes and answers waiting for the client's window. They count in the daemon's
 * proxy.limits.buffer_bytes and their workload's limits.buffer_bytes as a call's do. The
 * connection owns it: buffer_hold_set() as the bytes change, buffer_hold_release() when it
 * is freed (and may be set again after).
 */
struct buffer_hold {
	struct govstate *state;	/* where it counts; NULL: nothing held */
	char workload[128];	/* whose "buf:NAME" it counts in, "": the daemon's total only */
	uint64_t bytes;		/* held now, as last told */
	uint64_t credit;	/* counted in govstate: bytes rounded up to a credit step */
	int over;		/* as buffer_hold_set() last said */
	/* the counters of "buf" and "buf:NAME" in state, pinned while it is set (NULL: out of
	 * memory, counted by name) */
	struct govstate_held *total, *mine;
};

struct pipe_req {
	/* ---- set by the proxy before pipeline_head() ---- */
	const struct policy *policy; /* the snapshot this call runs under */
	struct govstate *state;	     /* limits and budgets */
	const atomic_int *audit_failing; /* non-zero (-errno) while audit records are lost, or
					    NULL: ledger/audit.h audit_failing() */
	const struct price_table *prices;
	struct route_table *routes;
	int64_t now_ns;		     /* CLOCK_REALTIME */
	const char *method;	     /* "POST" */
	const char *url;	     /* the request target as sent (path and query) */
	size_t path_len;	     /* of url, up to '?' */
	const char *api_url;	     /* url with the provider's API root made "/v1", as the
					gateway reads it (providers/api_path.h); url when same */
	size_t api_path_len;	     /* of api_url, up to '?' */
	const char *api_root;	     /* captured: the provider's API root, else NULL */
	int outside_api;	     /* the path is outside api_root: none of its API calls */
	const char *host;	     /* the Host header (NULL: none, or more than one) */
	int host_count;
	const char *sni;	     /* the TLS server name; "" at the explicit endpoint */
	int explicit_endpoint;	     /* plain HTTP, the caller named by its gateway key */
	int local_peer;		     /* explicit, over the UNIX socket: named by its cgroup */
	const char *presented_key;   /* explicit: the gateway key presented, or NULL */
	uint64_t content_length;     /* UINT64_MAX: none announced */
	size_t max_body;	     /* most of the body the proxy reads (stage_buffer may lower it) */
	const char *provider;	     /* captured: the policy's name of the provider dialled */
	enum policy_api family;	     /* the API the app speaks (its path's, else its provider's) */
	int app_api;		     /* enum usage_api of the app's path, or -1 */
	int gateway_key;	     /* the gateway's key would go upstream (not the app's own) */
	/* Hands a record that is no request's (a budget's warning) to the audit log. */
	void (*event)(struct jsonw *rec, void *arg);
	void *event_arg;
	char workload[128];	     /* named at connect time, or by the gateway key */
	char team[128];
	struct pipe_conn_slot *conn; /* the connection's (the session's), or NULL */

	/* ---- set by the proxy before pipeline_request() ---- */
	const char *body;	     /* the whole request body, LEN bytes */
	size_t body_len;
	/* the body parsed: stages read it with pipe_req_json(), which asks json_get(json_arg)
	 * for a tree the proxy builds when first read (json_object: the body is one JSON
	 * object, whether or not its tree is built; json_get is asked only then) */
	int json_object;
	const struct cJSON *(*json_get)(void *arg);
	void *json_arg;
	const char *model;	     /* the model asked for ("" when none) */
	/* Azure OpenAI: the deployment called, or NULL; model is "" when the provider's
	 * deployments map does not name it (what runs there is unknown) */
	const char *deployment;
	int stream;

	/* ---- set by the stages ---- */
	int rules_bound;		  /* wl and tm are those of workload */
	const struct policy_workload *wl; /* the workload's rules, or NULL (none matched) */
	const struct policy_team *tm;	  /* its team's, or NULL */
	const struct route *route;	  /* the logical name's route, or NULL */
	int model_listing;		  /* GET /v1/models at the explicit endpoint */
	int64_t max_tokens_cap;		  /* > 0: the body's max tokens must be set to this */
	struct pipe_reservation res;
	/* guardrails (stage_guard): the call's findings and placeholders, owned here (the proxy
	 * frees it with the exchange: guard_call_free()), and the body as the provider may read
	 * it (malloc'd, NULL: unchanged), which the proxy takes over */
	struct guard_call *guard;
	char *body_new;
	size_t body_new_len;
	/* endpoints in roll-out: the query holds parameters the gateway does not read; the proxy
	 * forwards the call without them (providers/gemini.h gemini_query_keep_read()) */
	int query_unread;
	struct pipe_refusal refusal;
	const char *reason; /* a record's aigw.reason ("connection_limit"), or NULL */
	struct pipe_decision decisions[PIPE_DECISIONS_MAX];
	size_t n_decisions;
	size_t n_decisions_dropped; /* noted past the table: counted in the record; a deny always
				       takes the last place, so the record says why the call stopped */
	unsigned stages_run; /* bitmask of stages whose on_request ran (pipeline_end calls
				only those) */
};

/* How the call ended, for pipeline_end(). */
struct pipe_outcome {
	int64_t now_ns;	       /* CLOCK_REALTIME at the end */
	int answered;	       /* a request was sent to a provider (it may have been billed) */
	int provider_error;    /* the provider answered with an error (not billed) */
	int usage_known;       /* tokens below are the provider's final word */
	int64_t input_tokens;  /* every input token */
	int64_t output_tokens;
	int cost_known;	       /* cost_nano is the call's cost */
	int64_t cost_nano;
};

struct stage {
	const char *name;
	int head; /* 1: runs in pipeline_head(), else in pipeline_request() */
	enum pipe_verdict (*on_request)(struct pipe_req *r);
	/* May the call go to target T (provider, model, region)? 0, or -EPERM with WHY. */
	int (*on_target)(struct pipe_req *r, const struct route_target *t, char *why,
			 size_t whylen);
	/* The call ended: settle and release (only stages whose on_request ran). */
	void (*on_end)(struct pipe_req *r, const struct pipe_outcome *o);
};

/*
 * limits.connections (stage_limits.c): counts CONN among the open connections of workload WL,
 * once (nothing when WL has no such limit; a connection that changes workload moves); over
 * the limit CONN->over is set, and the limits stage refuses its requests. Release gives the
 * place back. Both accept a slot that holds nothing.
 */
void limits_conn_take(struct pipe_conn_slot *conn, struct govstate *g,
		      const struct policy_workload *wl);
void limits_conn_release(struct pipe_conn_slot *conn, struct govstate *g);

/*
 * The bytes the gateway holds for calls (stage_buffer.c), beyond a request's head. A chunked
 * body has grown to LEN bytes: 0, or -ENOBUFS when the daemon's proxy.limits.buffer_bytes
 * has no room for it (r->refusal is set: the proxy refuses it). The call's answer is BYTES
 * held (whole, or queued to a slow app) now: returns 1 when that puts its workload's
 * limits.buffer_bytes (enforced) or the daemon's past its limit: the proxy stops reading the
 * answer, and an answer that must be held whole is refused with buffer_answer_refuse() (which
 * fills r->refusal). 0 releases it (the proxy does at the call's end). The daemon's total,
 * for its metric.
 */
int buffer_body_grow(struct pipe_req *r, uint64_t len);
/* H holds BYTES now for WORKLOAD ("" or NULL: none) under policy P's caps: returns 1 when
 * that puts the daemon's or the workload's (enforced) buffer_bytes past its limit: the
 * proxy stops reading what fills it until it drains. */
int buffer_hold_set(struct buffer_hold *h, struct govstate *g, const struct policy *p,
		    const char *workload, uint64_t bytes);
void buffer_hold_release(struct buffer_hold *h);
int buffer_answer_hold(struct pipe_req *r, uint64_t bytes);
void buffer_answer_refuse(struct pipe_req *r);
uint64_t buffer_held_total(struct govstate *g);

enum pipe_verdict pipeline_head(struct pipe_req *r);
enum pipe_verdict pipeline_request(struct pipe_req *r);
int pipeline_target(struct pipe_req *r, const struct route_target *t, char *why, size_t whylen);
void pipeline_end(struct pipe_req *r, const struct pipe_outcome *o);

/* For stages: notes a decision; for a deny also fills the refusal, for a would_deny
 * (ENFORCE 0) keeps the message as the decision's reason, so that the record says which
 * refusal each would-deny is when one rule names several. Returns the verdict a stage should
 * answer: PIPE_STOP for a deny, else PIPE_CONTINUE. */
enum pipe_verdict pipe_decide(struct pipe_req *r, const char *stage, enum pipe_action action,
			      const char *rule);
enum pipe_verdict pipe_refuse(struct pipe_req *r, const char *stage, const char *rule,
			      int enforce, int status, const char *kind, long retry_after_s,
			      const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* For stages: refuses the call (503) whose body is one JSON object and whose tree they need
 * could not be built (out of memory), noting it under STAGE and RULE, enforced whatever the
 * rule's "enforce": a stage that cannot read the body cannot say what it would decide. */
enum pipe_verdict pipe_refuse_unread(struct pipe_req *r, const char *stage, const char *rule);

/* The decision that speaks for the call in its record (a deny, would_deny or capped before
 * an allow), or NULL when no stage decided anything. */
const struct pipe_decision *pipe_decisive(const struct pipe_req *r);
const char *pipe_action_name(enum pipe_action a);

/* R's body parsed into *RET_JSON, NULL when it is not a JSON object (built on the first call).
 * Returns 0, or -ENOMEM when it is one and its tree could not be built: the stage asking
 * refuses (pipe_refuse_unread()), never decides without it. */
static inline int pipe_req_json(const struct pipe_req *r, const struct cJSON **ret_json)
{
	const struct cJSON *json = r->json_object ? r->json_get(r->json_arg) : NULL;

	if (r->json_object && !json)
		return -ENOMEM;
	*ret_json = json;
	return 0;
}

/* Whether R's body is one JSON object, without building its tree. */
static inline int pipe_req_json_object(const struct pipe_req *r)
{
	return r->json_object;
}

#endif
