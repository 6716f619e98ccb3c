/*
 * exchange.c: one request's way upstream. Where it goes: the route of a logical model name
 * (targets in order, breakers) or the app's own destination; the request made for the
 * target (model rewritten, usage asked for, or translated into the other API) and written
 * with the gateway's key; the retries on a target, the fallback to the next, and the one
 * place an exchange ends (exchange_finish).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <http_parser.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "guard/guard.h"
#include "proxy/body.h"
#include "proxy/http1_int.h"
#include "proxy/tlsflush.h"
#include "proxy/tlsread.h"
#include "providers/api_path.h"
#include "providers/gemini.h"
#include "providers/tool_ids.h"
#include "providers/vertex.h"
#include "policy/stages.h"
#include "ledger/cost.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/strcopy.h"

static void up_token_clear(struct exchange *ex)
{
	if (ex->up_token)
		OPENSSL_cleanse(ex->up_token, strlen(ex->up_token));
	free(ex->up_token);
	ex->up_token = NULL;
}

/*
 * A new exchange is 25 KB, most of it tables read only below their counts: the attempts
 * (n_tries), the policy's decisions (pr.n_decisions), the header fields (req.n, resp.n) and
 * their arenas' first bytes (req.len, resp.len); each entry is written whole when it is
 * counted. Zeroing only the rest, in the gaps between them
 * (listed in the order they lie), leaves the exchange as calloc() did for every read.
 */
#define EXCHANGE_TABLE(member) {offsetof(struct exchange, member), sizeof(((struct exchange *)0)->member)}

static const struct {
	size_t at, len;
} exchange_tables[] = {
    EXCHANGE_TABLE(pr.decisions),
    EXCHANGE_TABLE(tries),
    EXCHANGE_TABLE(req.v),
    EXCHANGE_TABLE(req.first),
    EXCHANGE_TABLE(resp.v),
    EXCHANGE_TABLE(resp.first),
};

_Static_assert(offsetof(struct exchange, pr.decisions) < offsetof(struct exchange, tries) &&
		   offsetof(struct exchange, tries) < offsetof(struct exchange, req.v) &&
		   offsetof(struct exchange, req.v) < offsetof(struct exchange, req.first) &&
		   offsetof(struct exchange, req.first) < offsetof(struct exchange, resp.v) &&
		   offsetof(struct exchange, resp.v) < offsetof(struct exchange, resp.first),
	       "exchange_tables[] lists the tables in the order they lie");

/* Sanitized builds (the unit and end-to-end tests) fill the tables with garbage instead: an
 * entry read past its count then points nowhere and trips AddressSanitizer. */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if __has_feature(address_sanitizer) || defined(__SANITIZE_ADDRESS__)
#define EXCHANGE_TABLE_FILL 0xa5
#endif

struct exchange *exchange_alloc(void)
{
	char *p = malloc(sizeof(struct exchange));
	size_t from = 0;

	if (!p)
		return NULL;
	for (size_t i = 0; i < sizeof(exchange_tables) / sizeof(exchange_tables[0]); i++) {
		memset(p + from, 0, exchange_tables[i].at - from);
		from = exchange_tables[i].at + exchange_tables[i].len;
#ifdef EXCHANGE_TABLE_FILL
		memset(p + exchange_tables[i].at, EXCHANGE_TABLE_FILL, exchange_tables[i].len);
#endif
	}
	memset(p + from, 0, sizeof(struct exchange) - from);
	return (struct exchange *)p;
}

/* An exchange's evbuffers outlive it on a kept-alive connection: draining one costs less than
 * a free and a new. Drained, it holds no chain (libevent frees every chain a drain empties),
 * so nothing of one request can be read in the next. */
struct evbuffer *session_evbuffer(struct session *s)
{
	struct evbuffer *buf;

	if (!s->n_spare)
		return evbuffer_new();
	buf = s->spare[--s->n_spare];
	s->spare[s->n_spare] = NULL;
	return buf;
}

void session_evbuffer_put(struct session *s, struct evbuffer *buf)
{
	if (!buf)
		return;
	if (s->n_spare == sizeof(s->spare) / sizeof(*s->spare) ||
	    evbuffer_drain(buf, evbuffer_get_length(buf)) || evbuffer_get_length(buf)) {
		evbuffer_free(buf);
		return;
	}
	s->spare[s->n_spare++] = buf;
}

void session_spares_free(struct session *s)
{
	while (s->n_spare)
		evbuffer_free(s->spare[--s->n_spare]);
}

const struct cJSON *exchange_req_json(struct exchange *ex)
{
	size_t len = evbuffer_get_length(ex->body);

	if (ex->req_json_later) {
		ex->req_json_later = 0;
		ex->req_json = usage_tree_parse((const char *)evbuffer_pullup(ex->body, -1), len,
						&ex->req_tree);
	}
	return ex->req_json;
}

const struct cJSON *exchange_req_json_get(void *ex)
{
	return exchange_req_json(ex);
}

/* 0 when the app's body's tree is read (built, or the body is no JSON object), -ENOMEM when it
 * is one and its tree could not be built: its readers must not go on without it. */
static int exchange_req_json_read(struct exchange *ex)
{
	return !exchange_req_json(ex) && ex->req_object ? -ENOMEM : 0;
}

void exchange_free(struct exchange *ex)
{
	gcp_token_cancel(&ex->tok_wait);
	up_token_clear(ex);
	policy_free(ex->policy);
	free(ex->url);
	free(ex->api_url);
	usage_tree_free(ex->req_json, ex->req_tree);
	session_evbuffer_put(ex->s, ex->body);
	session_evbuffer_put(ex->s, ex->reason);
	session_evbuffer_put(ex->s, ex->resp_buf);
	if (ex->held)
		evbuffer_free(ex->held);
	if (ex->retry_ev)
		event_free(ex->retry_ev);
	if (response_is_stream(ex))
		sse_free(&ex->sse);
	eventstream_free(ex);
	if (ex->up_body)
		evbuffer_free(ex->up_body);
	free(ex->up_path);
	translate_stream_free(ex->ts);
	translate_buf_free(&ex->ts_out);
	guard_stream_free(ex->gs);
	guard_call_free(ex->pr.guard);
	free(ex->pr.body_new);
	route_table_unref(ex->routes);
	headers_free(&ex->req);
	headers_free(&ex->resp);
	free(ex);
}

/*
 * The one place an exchange ends: its record, then the upstream connection goes back to the
 * pool (a complete response on a kept-alive connection) or is closed (anything else, which
 * is also how a request is cancelled when the client goes).
 */
static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void exchange_pipe_sync(struct exchange *ex)
{
	ex->pr.prices = ex->s->cfg->prices;
	ex->pr.routes = ex->routes;
	ex->pr.now_ns = realtime_ns();
}

/* The model the call was billed for: the one that answered, else the one asked of the
 * provider (never a logical name). */
static const char *billed_model(const struct exchange *ex)
{
	return ex->resp_model[0] ? ex->resp_model : ex->up_model[0] ? ex->up_model : ex->model;
}

/* A Vertex price in the table is the global endpoint's: a regional endpoint bills more for
 * some models (10% for Claude Sonnet 4.5 and later), which the table does not hold. */
static void vertex_regional_cost(struct exchange *ex)
{
	if (!ex->cost.known || !ex->vertex_location[0] || !strcmp(ex->vertex_location, "global"))
		return;
	ex->cost = (struct cost){0};
	snprintf(ex->cost.reason, sizeof(ex->cost.reason),
		 "Vertex regional endpoint %s: its price (above the global one for some models) "
		 "is not in the table",
		 ex->vertex_location);
}

/* What the call cost and used, computed once for the policy's settlement and the record. */
static void exchange_settle(struct exchange *ex)
{
	struct pipe_outcome o = {
	    .answered = ex->t_sent.tv_sec || ex->t_sent.tv_nsec, /* a request left for a provider */
	    .provider_error = ex->got_upstream_bytes && ex->status >= 400};

	ex->cost = (struct cost){0};
	if (ex->api >= 0 && ex->usage_found)
		cost_for_model(ex->s->cfg->prices, exchange_provider(ex), billed_model(ex),
			       &ex->usage, &ex->cost);
	vertex_regional_cost(ex);
	if (!ex->pr.stages_run)
		return;
	exchange_pipe_sync(ex);
	o.now_ns = ex->pr.now_ns;
	o.usage_known = ex->usage_found && ex->usage.known == USAGE_KNOWN_ALL;
	o.input_tokens = ex->usage.input;
	o.output_tokens = ex->usage.output;
	o.cost_known = ex->cost.known;
	o.cost_nano = cost_nano_usd(&ex->cost);
	pipeline_end(&ex->pr, &o);
}

/* An h2 stream's answer still has to cross the stream's buffer and the client's window: its
 * record waits until the stream says what left (exchange_delivery_end()), unless the client
 * is gone already. */
static int record_waits_delivery(const struct session *s, enum exchange_outcome outcome)
{
	return s->info.h2 && outcome != OUTCOME_CLIENT_GONE && outcome != OUTCOME_SHUTDOWN;
}

/* A call whose record waits for its h2 stream keeps what the record reads, no more: the
 * app's body (its size kept), its tree, the body sent upstream and the answer held whole go
 * now, so a stalled stream costs its record's fields, not up to a 32 MiB body. */
static void exchange_shed(struct exchange *ex)
{
	ex->body_size = ex->body ? evbuffer_get_length(ex->body) : 0;
	session_evbuffer_put(ex->s, ex->body);
	session_evbuffer_put(ex->s, ex->resp_buf);
	usage_tree_free(ex->req_json, ex->req_tree);
	if (ex->up_body)
		evbuffer_free(ex->up_body);
	free(ex->pr.body_new);
	ex->body = ex->resp_buf = ex->up_body = NULL;
	ex->req_json = NULL;
	ex->req_tree = NULL;
	ex->req_json_later = 0;
	ex->pr.body_new = NULL;
	ex->pr.body_new_len = 0;
}

void exchange_finish(struct exchange *ex, enum exchange_outcome outcome)
{
	struct session *s = ex->s;
	int reusable = outcome == OUTCOME_OK && ex->resp_complete && ex->up_keepalive;
	int waits = record_waits_delivery(s, outcome);

	clock_gettime(CLOCK_MONOTONIC, &ex->t_end);
	buffer_answer_hold(&ex->pr, 0); /* what is still queued for the client is the session's */
	buffer_hold_set(&s->queued, ex->pr.state, ex->policy, ex->pr.workload,
			evbuffer_get_length(bufferevent_get_output(s->client)));
	if (ex->probe && ex->target)
		route_target_abandon(ex->target);
	exchange_settle(ex);
	if (!waits)
		session_hold(s, exchange_record(ex, outcome));
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
	if (waits) {
		exchange_shed(ex);
		s->undelivered = ex;
		s->undelivered_outcome = outcome;
		return;
	}
	exchange_free(ex);
}

uint64_t exchange_delivery_end(struct session *s, int whole, enum exchange_outcome gone)
{
	struct exchange *ex = s->undelivered;
	enum exchange_outcome outcome = s->undelivered_outcome;
	uint64_t ticket;

	if (!ex)
		return 0;
	s->undelivered = NULL;
	/* only a call that ended well becomes a client gone: a refusal stays what it was */
	ticket = exchange_record(ex, whole || outcome != OUTCOME_OK ? outcome : gone);
	exchange_free(ex);
	return ticket;
}

int status_retried(const struct exchange *ex, int status)
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

int can_retry(const struct exchange *ex)
{
	if (ex->target && route_target_out(ex->target))
		return 0; /* its breaker just opened: the next target, not another try here */
	return !ex->head_sent && ex->target_attempts <= ex->s->cfg->retries &&
	       ex->n_tries < HTTP1_MAX_TRIES && retry_delay_ms(ex) >= 0;
}

/* Whether another target remains after the one in use (the app has seen nothing yet). */
static enum policy_api app_family(const struct exchange *ex);

/* Whether target T could take the call, as far as can be told without trying: its breaker
 * lets calls through, the gateway can dial it and has its key, and a call of another family
 * is one the translator reads. */
/* Whether T is where the app itself sent the call (its headers and key rules then apply). */
static int target_is_app_destination(const struct exchange *ex, const struct route_target *t)
{
	const struct http_conn_info *in = &ex->s->info;

	return !in->explicit_endpoint && !strcmp(t->provider, in->provider) && t->host &&
	       !strcasecmp(t->host, in->sni);
}

/*
 * Whether the gateway can reach T for this call: a host to dial, a key for it (unless the
 * app's own goes, at its own destination), an address. Fills *ADDR; -errno with WHY
 * (may be NULL) when not. The one check target_prepare() and can_fall_back() share.
 */
static int target_reachable(const struct exchange *ex, const struct route_target *t,
			    struct aigw_addr *addr, char *why, size_t whylen)
{
	const struct session *s = ex->s;
	int same_dest = target_is_app_destination(ex, t);
	char none[1];

	if (!why)
		why = none, whylen = sizeof(none);
	if (!t->host) {
		snprintf(why, whylen, "provider %s has no host the gateway can dial (base_url)",
			 t->provider);
		return -ENOENT;
	}
	if (!(same_dest && s->info.own_keys) && !keys_have(s->cfg->keys, t->provider)) {
		snprintf(why, whylen,
			 "no gateway key for provider %s (key_env, key_file, credentials_file or aws)",
			 t->provider);
		return -ENOKEY;
	}
	if (same_dest) {
		*addr = s->info.flow.orig_dst;
	} else if (!s->ops->resolve || s->ops->resolve(t->host, t->port, addr, s->ops->arg)) {
		snprintf(why, whylen, "no address known for %s yet", t->host);
		return -ENOENT;
	}
	return 0;
}

/* A Gemini app's streamGenerateContent with alt=sse (without it the answer is one JSON array,
 * which no translator writes), read by the one query parser the endpoint stage used. */
static int gemini_sse_call(const struct exchange *ex)
{
	const char *q = strchr(ex->url, '?');

	return ex->app->translate == TRANSLATE_GEMINI_GENERATE &&
	       ex->api == USAGE_API_GEMINI_STREAM && q &&
	       gemini_query_check(USAGE_API_GEMINI_STREAM, q, NULL, 0) == 1;
}

/* Whether the app's call is one the translator can make into a call of family UP's (for
 * Bedrock: an Anthropic Messages body, sent through its InvokeModel door, whose answer and
 * invoke-stream events are Anthropic's and translated back as Anthropic's own). */
static int translatable(const struct exchange *ex, const struct provider_api *up)
{
	return ex->app && ex->app->translate && up->translate &&
	       (up->chat_path || up->family == POLICY_API_GEMINI ||
		up->family == POLICY_API_BEDROCK) &&
	       (ex->api == (int)ex->app->chat_api || gemini_sse_call(ex));
}

/* The app's request made one for API TO asking for MODEL, into *TR (a Gemini app's path says
 * whether it streams). As translate_request_to(). */
static int request_translate(const struct exchange *ex, enum translate_api to, const char *model,
			     struct translate_req *tr)
{
	const char *body = (const char *)evbuffer_pullup(ex->body, -1);
	size_t len = evbuffer_get_length(ex->body);

	if (ex->app->translate == TRANSLATE_GEMINI_GENERATE)
		return translate_request_from_gemini(to, body, len, model,
						     ex->api == USAGE_API_GEMINI_STREAM, 0, tr);
	return translate_request_to(ex->app->translate, to, body, len, model, 0, tr);
}

static int target_usable(const struct exchange *ex, const struct route_target *t)
{
	struct translate_req tr;
	struct aigw_addr addr;
	int err;

	if (route_target_out(t) || target_reachable(ex, t, &addr, NULL, 0))
		return 0;
	if (provider_api_of_family(t->api)->family == app_family(ex) || bedrock_door_usable(ex, t))
		return 1;
	if (!translatable(ex, provider_api_of_family(t->api)))
		return 0;
	/* whether the translator takes this request: asked now, on this failure path only */
	err = request_translate(ex, provider_api_of_family(t->api)->translate,
				t->model ? t->model : ex->model, &tr);
	if (!err)
		translate_req_release(&tr);
	return !err;
}

/* Whether a target after the one in use could take the call (the app has seen nothing yet);
 * when none could, the answer in hand goes to the app rather than a gateway-made one. */
int can_fall_back(const struct exchange *ex)
{
	if (ex->head_sent || !ex->route || ex->n_tries >= HTTP1_MAX_TRIES)
		return 0;
	for (size_t i = ex->pos + 1; i < ex->n_order; i++)
		if (target_usable(ex, &ex->route->targets[ex->order[i]]))
			return 1;
	return 0;
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

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;

	session_enter(s);
	exchange_start_upstream(ex);
	session_leave(s);
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
	ex->tries[i].reused = strcmp(result, "skipped") ? ex->up_reused : -1;
	snprintf(ex->tries[i].provider, sizeof(ex->tries[i].provider), "%s", exchange_provider(ex));
	snprintf(ex->tries[i].model, sizeof(ex->tries[i].model), "%s", ex->up_model);
	snprintf(ex->tries[i].error, sizeof(ex->tries[i].error), "%s", why);
	ex->n_tries++;
}

/* A breaker that opened or closed is an event operators and auditors see: a record of its
 * own (routing.circuit_open / routing.circuit_closed, naming the call that tipped it) and a
 * line in the log. */
void target_breaker_note(struct exchange *ex, enum breaker_change change)
{
	const struct route_target *t = ex->target;
	int opened = change == BREAKER_BECAME_OPEN;
	char when[TIMEFMT_LEN];
	struct jsonw *rec;

	if (change == BREAKER_UNCHANGED)
		return;
	if (opened)
		log_warn("circuit open: %s/%s after %u failed attempts; probed again in %u ms",
			 t->provider, t->model, t->breaker->failures, ex->routes->breaker_open_ms);
	else
		log_info("circuit closed: %s/%s answered its probe", t->provider, t->model);
	if (opened && ex->s->ops->breaker_opened)
		ex->s->ops->breaker_opened(t->provider, t->model, ex->s->ops->arg);
	if (!ex->s->ops->event || !(rec = jsonw_new()))
		return;
	timefmt_now(when);
	jsonw_str(rec, "time", when);
	jsonw_str(rec, "event.name", opened ? "routing.circuit_open" : "routing.circuit_closed");
	jsonw_str(rec, "gen_ai.system", t->provider);
	jsonw_str(rec, "gen_ai.request.model", t->model);
	if (opened) {
		jsonw_num(rec, "aigw.breaker.failures", t->breaker->failures);
		jsonw_num(rec, "aigw.breaker.open_ms", ex->routes->breaker_open_ms);
	}
	jsonw_str(rec, "aigw.request_id", ex->id);
	ex->s->ops->event(rec, ex->s->ops->arg);
}

/* The target in use failed an attempt: its breaker counts it. */
void target_failed(struct exchange *ex)
{
	if (!ex->target || ex->counted_attempt == ex->attempts)
		return;
	ex->counted_attempt = ex->attempts;
	target_breaker_note(ex, route_target_done(ex->routes, ex->target, 0));
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
	if (ex->up && ex->resp_complete && ex->up_keepalive)
		upstream_put(ex->up); /* a retried answer read whole */
	else if (ex->up)
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
/* The next target that can take the call after the one in use failed with WHY: 1 when an
 * attempt there is scheduled, 0 when there is none (ex->error then says why). */
static int fall_back(struct exchange *ex, int status, const char *why)
{
	char skip[HTTP1_WHY_MAX] = "";

	if (!can_fall_back(ex))
		return 0;
	note_try(ex, status, "fell_back", why);
	ex->pos++;
	ex->target_attempts = 0;
	ex->fresh_conn = 0;
	if (target_next(ex, skip, sizeof(skip))) {
		snprintf(ex->error, sizeof(ex->error), "%s; %s", why, skip);
		return 0;
	}
	return attempt_schedule(ex, 0);
}

int exchange_retry(struct exchange *ex, int status, const char *why)
{
	int stale = stale_pooled_failure(ex);

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
	return fall_back(ex, status, why);
}

/*
 * The provider failed us. Before the client has the status line, it gets a clean error in
 * its provider's format; after, the only honest signal left is to end the connection
 * without finishing the body (a chunked body without its last chunk, a short
 * Content-Length), which every HTTP client reports as an error.
 */
void exchange_fail(struct exchange *ex, enum exchange_outcome outcome, int status, const char *msg)
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

void exchange_refuse(struct exchange *ex)
{
	struct session *s = ex->s;

	snprintf(ex->error, sizeof(ex->error), "%s", ex->pr.refusal.message);
	send_refusal(s, ex, &ex->pr.refusal);
	session_close(s, OUTCOME_DENIED, 1);
}

/* Every header any provider takes a credential in: the app's never goes along. Nor do
 * Google's system headers, which act on the credential's account: x-goog-user-project
 * bills another project, x-goog-quota-user spends another's quota, x-goog-fieldmask strips
 * usageMetadata from the answer, x-http-method-override changes the method. */
static void drop_app_credentials(struct exchange *ex)
{
	static const char *const names[] = {
	    "authorization",	   "x-api-key",		"x-goog-api-key",
	    "x-goog-user-project", "x-goog-quota-user", "x-goog-fieldmask",
	    "x-http-method-override", AZURE_KEY_HEADER,
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		headers_drop(&ex->req, names[i]);
}

/*
 * The credential: the gateway's key for the provider the call goes to replaces whatever the
 * app sent (its own key, or none), unless the call goes where the app sent it and the app's
 * workload keeps its own keys. Anthropic takes x-api-key, OpenAI and compatible servers a
 * bearer token, Azure api-key, Gemini x-goog-api-key, Vertex a minted bearer token.
 * Elsewhere than the app's destination a gateway key is required (checked when the target
 * was chosen).
 */
static const char *gateway_key(const struct exchange *ex)
{
	const struct session *s = ex->s;
	int own = ex->up_app_headers && s->info.own_keys;

	return own ? NULL : keys_get(s->cfg->keys, ex->up_provider);
}

static void write_credential(struct exchange *ex, struct head_buf *b, const char *key)
{
	const struct policy_provider *pv = policy_provider_by_name(ex->policy, ex->up_provider);
	const char *name = ex->up_adapter->key_header, *prefix = ex->up_adapter->key_prefix;

	if (ex->aws_signed) { /* a Bedrock target: signed with the gateway's credentials */
		drop_app_credentials(ex);
		head_flush(b); /* its fields follow what is written so far */
		aws_sign_write(ex, b->out);
		ex->credential = "gateway";
		return;
	}
	if (ex->up_token) { /* a Vertex target: the token minted for this attempt */
		drop_app_credentials(ex);
		head_field(b, "Authorization", "Bearer ", ex->up_token);
		ex->credential = "gateway";
		return;
	}
	if (!key) {
		ex->credential = headers_get(&ex->req, "authorization") ||
					 headers_get(&ex->req, "x-api-key") ||
					 headers_get(&ex->req, AZURE_KEY_HEADER) ||
					 headers_get(&ex->req, "x-goog-api-key") ||
					 gemini_query_has_key(ex->up_path ? ex->up_path : ex->url)
				     ? "app"
				     : "none";
		return;
	}
	drop_app_credentials(ex);
	if (pv && pv->azure)
		azure_credential_header(pv, &name, &prefix);
	head_field(b, name, prefix, key);
	ex->credential = "gateway";
}

static void copy_header(const struct exchange *ex, struct head_buf *b, const char *name,
			const char *fallback)
{
	const char *v = headers_get(&ex->req, name);

	if (v || fallback)
		head_field(b, name, NULL, v ? v : fallback);
}

/* Headers for a provider the app did not dial: ours, plus what both sides share. The
 * answer is asked for unencoded: the gateway reads (and may translate) it. */
static void write_target_headers(struct exchange *ex, struct head_buf *b)
{
	const struct provider_api *up = ex->up_adapter;

	char host[sizeof(ex->up_host) + 8];

	if (ex->up_port == 443) {
		head_field(b, "Host", NULL, ex->up_host);
	} else {
		snprintf(host, sizeof(host), "%s:%u", ex->up_host, ex->up_port);
		head_field(b, "Host", NULL, host);
	}
	head_put(b, "Content-Type: application/json\r\n", 32);
	copy_header(ex, b, "accept", ex->stream ? "text/event-stream" : "application/json");
	copy_header(ex, b, "user-agent", "aigw");
	if (!up->version_header)
		return;
	if (ex->xlate) { /* the app's headers are of the other API */
		head_field(b, up->version_header, NULL, up->version_default);
		return;
	}
	copy_header(ex, b, up->version_header, up->version_default);
	if (up->beta_header)
		copy_header(ex, b, up->beta_header, NULL);
}

/* "METHOD TARGET HTTP/1.1\r\n" in one append. */
static void add_request_line(struct head_buf *b, const char *method, const char *target)
{
	head_put(b, method, strlen(method));
	head_put(b, " ", 1);
	head_put(b, target, strlen(target));
	head_put(b, " HTTP/1.1\r\n", 11);
}

/* The request as the provider gets it. */
static void write_request(struct exchange *ex)
{
	struct evbuffer *out = bufferevent_get_output(ex->up->bev);
	struct evbuffer *body_buf = ex->up_body ? ex->up_body : ex->body;
	size_t body = evbuffer_get_length(body_buf);
	const char *target = ex->up_path ? ex->up_path : ex->url ? ex->url : "/";
	const char *key = gateway_key(ex);
	char *keyless = NULL;
	struct head_buf head;

	/* the app's key in the query ("?key=", Google's APIs) goes with its headers */
	if ((key || ex->up_token) && gemini_query_strip_key(target, &keyless) > 0)
		target = keyless;
	head_begin(&head, out);
	add_request_line(&head, ex->method, target);
	free(keyless);
	write_credential(ex, &head, key);
	if (ex->up_app_headers)
		head_fields(&head, &ex->req);
	else
		write_target_headers(ex, &head);
	if (body || !strcmp(ex->method, "POST") || !strcmp(ex->method, "PUT") ||
	    !strcmp(ex->method, "PATCH"))
		head_field_u64(&head, "Content-Length", body);
	head_put(&head, "\r\n", 2);
	head_flush(&head);
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
	/* one read at most this far ahead of the parser: what backpressure holds is bounded; and
	 * TLS read in OpenSSL's bufferevent's own steps (with a high watermark it reads 16 KiB at
	 * once: a stalled h2 stream's RSS grew 17 MiB more) */
	tlsread_watermark(c->bev, HTTP1_UP_READ_MAX);
	bufferevent_set_max_single_read(c->bev, HTTP1_UP_READ_STEP);
	bufferevent_set_timeouts(c->bev, &first, &first);
	write_request(ex);
	clock_gettime(CLOCK_MONOTONIC, &ex->t_sent);
	/* A pooled connection, or one just through its handshake, reads and writes already: its
	 * read event re-armed with FIRST above, its write event added with it by the request. */
	tlsread_enable(c->bev, EV_READ | EV_WRITE);
	tlsflush_now(c->bev); /* now, in one record: no write event, no wait for it */
	session_leave(s);
}

static void exchange_connect(struct exchange *ex)
{
	struct session *s = ex->s;
	int ready;

	/* A retry never takes another pooled connection: they may have gone stale together. */
	ex->up = upstream_get(s->pool, ex->up_host, &ex->up_addr, ex->target && ex->target->plain,
			      on_upstream_ready, ex, ex->fresh_conn, &ready);
	if (!ex->up)
		exchange_fail(ex, OUTCOME_UPSTREAM_CONNECT, 502, "out of memory");
	else if (ready)
		on_upstream_ready(ex->up, 0, NULL, ex);
}

/* No token for a Vertex target: retried and fallen back from as a provider that cannot be
 * reached, else the app gets a 503 saying why. */
static void exchange_token_failed(struct exchange *ex, const char *why)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "no access token for %s: %s", ex->up_provider, why);
	if (exchange_retry(ex, 0, msg))
		return;
	exchange_fail(ex, OUTCOME_UPSTREAM_CONNECT, 503, msg);
}

static void on_token(int err, const char *token, const char *why, void *arg)
{
	struct exchange *ex = arg;
	struct session *s = ex->s;

	session_enter(s);
	if (err)
		exchange_token_failed(ex, why);
	else if (!(ex->up_token = strdup(token)))
		exchange_fail(ex, OUTCOME_UPSTREAM_CONNECT, 502, "out of memory");
	else
		exchange_connect(ex);
	session_leave(s);
}

/* The token source of the provider the attempt goes to, when the gateway's credential for
 * it is a minted token (Vertex), else NULL. */
static struct gcp_token_source *attempt_tokens(const struct exchange *ex)
{
	const struct session *s = ex->s;

	if (ex->up_app_headers && s->info.own_keys)
		return NULL;
	return keys_tokens(s->cfg->keys, ex->up_provider);
}

/* The gateway cannot sign the request for the AWS target in use: nothing is sent there, and
 * no retry there can sign it either. The next target takes it, else the app gets a 502
 * saying why; the provider's breaker does not count it (it never heard of the call). */
static void exchange_unsignable(struct exchange *ex, const char *why)
{
	if (!fall_back(ex, 0, why))
		exchange_fail(ex, OUTCOME_NO_TARGET, 502, why);
}

void exchange_start_upstream(struct exchange *ex)
{
	struct gcp_token_source *tokens = attempt_tokens(ex);
	char *token = NULL;
	char why[600];
	int r;

	ex->attempts++;
	ex->target_attempts++;
	ex->up_reused = -1; /* until a connection is had */
	ex->retry_after_ms = -1;
	clock_gettime(CLOCK_MONOTONIC, &ex->t_attempt);
	up_token_clear(ex);
	if (aws_sign_attempt(ex, why, sizeof(why))) {
		exchange_unsignable(ex, why);
		return;
	}
	if (!tokens) {
		exchange_connect(ex);
		return;
	}
	r = gcp_token_get(tokens, ex->s->base, &ex->tok_wait, on_token, ex, &token, why,
			  sizeof(why));
	if (r < 0) {
		exchange_token_failed(ex, why);
	} else if (r == 0) {
		ex->up_token = token; /* a copy, the exchange's now */
		exchange_connect(ex);
	}
}

/* The body that goes upstream when it is not the app's: TEXT (LEN bytes, taken). */
int exchange_up_body_set(struct exchange *ex, char *text, size_t len)
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
 * *TEXT (*LEN bytes, a request of usage API API; *OWNED is NULL or *TEXT, ours to free) with
 * its tool call ids plain when the target is not Gemini (tool_ids.h: a conversation Gemini
 * served, its next turn elsewhere). After a cut, *TEXT and *OWNED are the new text and the
 * old one is freed, and ex->tool_ids_cut says the body sent differs from the app's. Returns 0
 * or -ENOMEM.
 */
static int body_ids_plain(struct exchange *ex, enum usage_api api, const char **text,
			  char **owned, size_t *len)
{
	char *plain;
	size_t n;
	int r;

	if (ex->up_adapter->family == POLICY_API_GEMINI)
		return 0;
	r = tool_ids_strip(api, *text, *len, &plain, &n);
	if (r <= 0)
		return r;
	if (r > ex->tool_ids_cut)
		ex->tool_ids_cut = r;
	free(*owned);
	*owned = plain;
	*text = plain;
	*len = n;
	return 0;
}

/*
 * The app's body for a target of its own API: MODEL in place of the app's (a logical name);
 * for an OpenAI chat stream that did not ask for its usage, the question asked (the answer's
 * extra chunk is then hidden from the app, whose SDK may index choices[0] on it); for a target
 * other than Gemini, tool call ids without a Gemini signature. All are edits of the text:
 * every other byte is the app's, as it came.
 */
static int body_for_target(struct exchange *ex, const char *model, int force_model)
{
	size_t len = evbuffer_get_length(ex->body), new_len;
	const char *text = (const char *)evbuffer_pullup(ex->body, -1);
	char *edited = NULL, *asked = NULL;
	int err = 0;

	if (ex->up_body)
		evbuffer_free(ex->up_body);
	ex->up_body = NULL;
	ex->suppress_usage = 0;
	if (force_model || strcmp(model, ex->model)) {
		err = request_set_model(text, len, model, &edited, &len);
		if (err)
			return err;
		text = edited;
	}
	if (ex->want_usage &&
	    usage_ask_usage(text, len, exchange_req_json(ex), &asked, &new_len) == 1) {
		ex->suppress_usage = 1;
		free(edited);
		text = edited = asked;
		len = new_len;
	}
	if (ex->req_object) /* JSON the text readers may walk */
		err = body_ids_plain(ex, ex->api, &text, &edited, &len);
	if (err) {
		free(edited);
		return err;
	}
	return edited ? exchange_up_body_set(ex, edited, len) : 0;
}

/* ---- where the call goes ---- */

/* The family the app speaks: its path's, or its provider's. */
static enum policy_api app_family(const struct exchange *ex)
{
	return ex->app ? ex->app->family : ex->s->info.family;
}

/* The app's own destination: where it dialled, its headers, its key rules. */
static int target_use_app_destination(struct exchange *ex)
{
	struct session *s = ex->s;

	ex->target = NULL;
	ex->up_app_headers = 1;
	ex->up_api = ex->api;
	ex->up_adapter = app_api(s, ex);
	ex->up_addr = s->info.flow.orig_dst;
	ex->up_port = ntohs(s->info.flow.orig_dst.port);
	str_copy(ex->up_host, sizeof(ex->up_host), s->info.sni);
	str_copy(ex->up_provider, sizeof(ex->up_provider), s->info.provider);
	str_copy(ex->up_model, sizeof(ex->up_model), ex->model);
	return body_for_target(ex, ex->model, 0);
}

/* A request in the app's API made into one for the target's (T), asking for MODEL. */
static int target_translate(struct exchange *ex, const struct route_target *t, const char *model,
			    char *why, size_t whylen)
{
	const struct provider_api *up = ex->up_adapter;
	struct translate_req tr;
	char path[512];
	const char *text;
	int err;

	if (!translatable(ex, up)) {
		snprintf(why, whylen, "%s speaks another API and %.*s cannot be translated",
			 t->provider, (int)strcspn(ex->url, "?"), ex->url);
		return -EOPNOTSUPP;
	}
	err = request_translate(ex, up->translate, model, &tr);
	if (err) {
		snprintf(why, whylen, "cannot be translated for %s: %s", t->provider, tr.error);
		return err;
	}
	ex->include_usage = tr.include_usage;
	ex->up_api = up->chat_api;
	if (up->family == POLICY_API_BEDROCK) /* bedrock_door_prepare() makes the path */
		goto body;
	if (up->chat_path)
		err = api_path_upstream(t->api_root, up->chat_path, path, sizeof(path));
	else /* Gemini: the model and whether it streams are the path's */
		err = gemini_call_path(t->api_root, model, tr.stream, path, sizeof(path));
	if (!up->chat_path && tr.stream)
		ex->up_api = USAGE_API_GEMINI_STREAM;
	if (err) {
		snprintf(why, whylen, "no %s path for %s's model %.64s", up->name, t->provider,
			 model);
		translate_req_release(&tr);
		return -EINVAL;
	}
body:
	text = tr.body;
	err = body_ids_plain(ex,
			     up->translate == TRANSLATE_OPENAI_CHAT ? USAGE_API_OPENAI_CHAT
								    : USAGE_API_ANTHROPIC_MESSAGES,
			     &text, &tr.body, &tr.len);
	if (!err)
		err = exchange_up_body_set(ex, tr.body, tr.len);
	tr.body = NULL;
	translate_req_release(&tr);
	if (up->family == POLICY_API_BEDROCK)
		return err;
	ex->up_path = strdup(path);
	return err ? err : ex->up_path ? 0 : -ENOMEM;
}

/*
 * The request for Vertex target T, made from the one for Anthropic's own API (the app's, or
 * translated): the path built from T's project and region and MODEL, the body without its
 * "model" and with Vertex's anthropic_version. A Gemini model's call on Vertex keeps its body
 * and method and query (the endpoint stage let only "alt=sse" and credentials through,
 * gemini_query_check(); write_request() drops the credentials); only the path's project,
 * region and model are T's.
 */
static int target_vertex(struct exchange *ex, const struct route_target *t, const char *model,
			 char *why, size_t whylen)
{
	const struct policy_provider *pv = policy_provider_by_name(ex->policy, t->provider);
	struct evbuffer *from = ex->up_body ? ex->up_body : ex->body;
	int gemini = vertex_kind_is_gemini(ex->vertex_app);
	const char *query = ex->url + strcspn(ex->url, "?");
	char path[1024], *body;
	size_t len;
	int err;

	if (!pv || !pv->project || !pv->region) {
		snprintf(why, whylen, "provider %s names no project and region for Vertex paths",
			 t->provider);
		return -ENOENT;
	}
	err = gemini ? vertex_gemini_path(pv->project, pv->region, model,
					  vertex_kind_method(ex->vertex_app), query, path,
					  sizeof(path))
		     : vertex_anthropic_path(pv->project, pv->region, model, ex->stream, path,
					     sizeof(path));
	if (err) {
		snprintf(why, whylen, "the Vertex path for %s is too long", t->provider);
		return -EINVAL;
	}
	snprintf(ex->vertex_location, sizeof(ex->vertex_location), "%s", pv->region);
	free(ex->up_path);
	if (gemini) /* the app's body as it came */
		return (ex->up_path = strdup(path)) ? 0 : -ENOMEM;
	err = vertex_anthropic_body((const char *)evbuffer_pullup(from, -1),
				    evbuffer_get_length(from), &body, &len);
	if (err) {
		snprintf(why, whylen, "the body cannot be made Vertex's for %s", t->provider);
		ex->up_path = NULL;
		return err;
	}
	err = exchange_up_body_set(ex, body, len);
	ex->up_path = err ? NULL : strdup(path);
	return err ? err : ex->up_path ? 0 : -ENOMEM;
}

static int target_same_api(struct exchange *ex, const struct route_target *t, const char *model,
			   int same_dest, char *why, size_t whylen);

/*
 * Makes T the target in use: its address, its key, the request in its API. Returns 0, or
 * -errno with WHY saying why T cannot take the call (no address, no key, untranslatable:
 * -EOPNOTSUPP / -EINVAL / -EBADMSG).
 */
static int target_prepare(struct exchange *ex, const struct route_target *t, char *why,
			  size_t whylen)
{
	const char *model = t->model ? t->model : ex->model;
	int same_dest = target_is_app_destination(ex, t);
	int err;

	free(ex->up_path);
	ex->up_path = NULL;
	if (!ex->vertex_app)
		ex->vertex_location[0] = 0;
	ex->target = t;
	/* Vertex serves a Gemini model's call in the Gemini API's format, Claude's in Anthropic's */
	ex->up_adapter = t->api == POLICY_API_VERTEX && vertex_kind_is_gemini(ex->vertex_app)
				 ? &provider_gemini
				 : provider_api_of_family(t->api);
	ex->bedrock_door = 0;
	ex->xlate = app_family(ex) != ex->up_adapter->family && !bedrock_door_usable(ex, t);
	if (ex->vertex_app && t->api != POLICY_API_VERTEX) {
		snprintf(why, whylen, "a Vertex call goes only to a Vertex provider, not %s",
			 t->provider);
		return -EOPNOTSUPP;
	}
	if (ex->xlate && ex->api < 0) { /* a path no adapter reads cannot be translated */
		snprintf(why, whylen, "%s speaks the other API and this path cannot be translated",
			 t->provider);
		return -EOPNOTSUPP;
	}
	ex->up_app_headers = same_dest && !ex->xlate;
	str_copy(ex->up_provider, sizeof(ex->up_provider), t->provider);
	str_copy(ex->up_model, sizeof(ex->up_model), model);
	err = target_reachable(ex, t, &ex->up_addr, why, whylen);
	if (err)
		return err;
	str_copy(ex->up_host, sizeof(ex->up_host), t->host);
	ex->up_port = t->port;
	if (!ex->xlate && bedrock_door_usable(ex, t)) {
		/* the app's body (not one an earlier target was sent), its tool call ids plain */
		err = body_for_target(ex, ex->model, 0);
		if (err) {
			snprintf(why, whylen, "the request cannot be made for %s: %s", t->provider,
				 strerror(-err));
			return err;
		}
		return bedrock_door_prepare(ex, model, why, whylen);
	}
	/* Azure: the deployment in "model" */
	err = ex->xlate ? target_translate(ex, t, t->deployment ? t->deployment : model, why, whylen)
			: target_same_api(ex, t, model, same_dest, why, whylen);
	if (!err && t->api == POLICY_API_VERTEX)
		err = target_vertex(ex, t, model, why, whylen);
	if (!err && ex->xlate && t->api == POLICY_API_BEDROCK) /* the translation, to Claude */
		err = bedrock_door_prepare(ex, model, why, whylen);
	return err;
}

/* The request for T when it speaks the app's API: its path and MODEL in the body. */
static int target_same_api(struct exchange *ex, const struct route_target *t, const char *model,
			   int same_dest, char *why, size_t whylen)
{
	int err;

	ex->up_api = ex->api;
	if (ex->vertex_app) { /* the path names the model; target_vertex() makes both */
		if (ex->up_body)
			evbuffer_free(ex->up_body);
		ex->up_body = NULL;
		return 0;
	}
	if (ex->up_adapter->path_model) { /* Gemini: the model is named in the path */
		err = gemini_retarget(exchange_api_url(ex), model, &ex->up_path);
		if (err)
			snprintf(why, whylen, "the model of %.*s cannot be replaced for %s",
				 (int)strcspn(ex->url, "?"), ex->url, t->provider);
		return err ? err : body_for_target(ex, ex->model, 0);
	}
	if (!same_dest || t->deployment) { /* Azure: the v1 path, whatever the app's was */
		char path[HTTP1_HOST_MAX + 8192];

		/* its own API root: the call as the gateway reads it, "/v1" made the root */
		if (api_path_upstream(t->api_root, exchange_api_url(ex), path, sizeof(path))) {
			snprintf(why, whylen, "the request target is too long for %s", t->provider);
			return -EINVAL;
		}
		if (!(ex->up_path = strdup(path)))
			return -ENOMEM;
	}
	/* Azure: the deployment goes in "model" (the one the app named may be another); an app
	 * that called a deployment has its name there, which no other target knows */
	err = body_for_target(ex, t->deployment ? t->deployment : model,
			      t->deployment || ex->deployment[0]);
	if (err)
		snprintf(why, whylen, "the request's \"model\" cannot be replaced for %s: %s",
			 t->provider, strerror(-err));
	return err;
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
		if (!route_target_admit(t, &ex->probe)) {
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
		exchange_pipe_sync(ex);
		err = pipeline_target(&ex->pr, t, why, whylen);
		if (err) {
			if (ex->probe)
				route_target_abandon(t);
			ex->probe = 0;
			snprintf(ex->up_provider, sizeof(ex->up_provider), "%s", t->provider);
			snprintf(ex->up_model, sizeof(ex->up_model), "%s",
				 t->model ? t->model : ex->model);
			note_try(ex, 0, "skipped", why);
			if (!ex->refuse_status || ex->refuse_status == 503)
				ex->refuse_status = 403;
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
	ex->target = NULL; /* what the skipped ones left is not the call's */
	ex->xlate = ex->bedrock_door = 0;
	return -ENOENT;
}

/* Chooses where the request goes (the route of a logical name, or where the app sent it)
 * and sends it; a request no target can take is answered here. */
void exchange_route(struct exchange *ex)
{
	struct session *s = ex->s;
	char why[HTTP1_WHY_MAX] = "", msg[HTTP1_WHY_MAX + 400];

	if (s->info.explicit_endpoint && explicit_admit(ex))
		return;
	ex->route = ex->pr.route;
	if (!ex->route) {
		if (target_use_app_destination(ex))
			exchange_fail(ex, OUTCOME_BAD_REQUEST, 400, "out of memory");
		else
			exchange_start_upstream(ex);
		return;
	}
	ex->n_order = route_order(ex->route, request_id_next(), ex->order);
	if (!ex->n_order) {
		snprintf(why, sizeof(why),
			 "no provider of this API has a host the gateway can dial");
		ex->refuse_status = 502;
	} else if (!target_next(ex, why, sizeof(why))) {
		exchange_start_upstream(ex);
		return;
	}
	snprintf(msg, sizeof(msg), "no target can take this call for %s: %s",
		 ex->route->name ? ex->route->name : ex->model, why);
	if (ex->refuse_status == 403) { /* every target was one the policy refuses */
		ex->pr.refusal = (struct pipe_refusal){.status = 403, .kind = "permission"};
		snprintf(ex->pr.refusal.message, sizeof(ex->pr.refusal.message), "aigw: %.*s",
			 (int)sizeof(ex->pr.refusal.message) - 8, msg);
		exchange_refuse(ex);
		return;
	}
	exchange_fail(ex, ex->refuse_status == 400 ? OUTCOME_BAD_REQUEST : OUTCOME_NO_TARGET,
		      ex->refuse_status ? ex->refuse_status : 502, msg);
}

/* The app's body with its top-level member KEY set to VALUE, every other byte as it was. */
static int exchange_set_body_int(struct exchange *ex, const char *key, int64_t value)
{
	size_t len = evbuffer_get_length(ex->body), new_len;
	char *text;
	int err = exchange_req_json_read(ex); /* the tree is the app's body's: built before
						  that is gone */

	if (!err)
		err = request_set_int((const char *)evbuffer_pullup(ex->body, -1), len, key, value,
				      &text, &new_len);
	if (err)
		return err;
	evbuffer_drain(ex->body, len);
	err = evbuffer_add(ex->body, text, new_len) ? -ENOMEM : 0;
	free(text);
	return err;
}

/* The app's body with its max tokens field set to what its budget pays for: 0, -EINVAL when
 * its API has no such field, -ENOMEM when its tree could not be read. */
static int exchange_cap_max_tokens(struct exchange *ex)
{
	const cJSON *json;
	const char *field;
	int64_t current;
	int err = pipe_max_tokens_field(&ex->pr, &field, &current);

	if (!err && !field)
		err = -EINVAL;
	if (!err)
		err = pipe_req_json(&ex->pr, &json);
	if (!err)
		err = exchange_set_body_int(ex, field, ex->pr.max_tokens_cap);
	/* an OpenAI chat body with both names: a server may read either, both are capped */
	if (!err && ex->pr.app_api == USAGE_API_OPENAI_CHAT && strcmp(field, "max_tokens") &&
	    cJSON_GetObjectItemCaseSensitive(json, "max_tokens"))
		err = exchange_set_body_int(ex, "max_tokens", ex->pr.max_tokens_cap);
	return err;
}

/* The body as the guardrails rewrote it (placeholders in place of values), if they did; an
 * answer they must read is asked for unencoded. */
static int exchange_take_guarded_body(struct exchange *ex)
{
	struct pipe_req *r = &ex->pr;
	int err = 0;

	if (r->guard && guard_call_reads_response(r->guard))
		headers_drop(&ex->req, "accept-encoding");
	if (!r->body_new)
		return 0;
	if (exchange_req_json_read(ex)) /* the tree is the app's body's: built before it is gone */
		return -ENOMEM;
	evbuffer_drain(ex->body, evbuffer_get_length(ex->body));
	if (evbuffer_add(ex->body, r->body_new, r->body_new_len))
		err = -ENOMEM;
	free(r->body_new);
	r->body_new = NULL;
	r->body = (const char *)evbuffer_pullup(ex->body, -1);
	r->body_len = evbuffer_get_length(ex->body);
	return err;
}

/* At an Azure resource the app names a deployment (in its path, or on the v1 path in
 * "model"); the call is read as the model the policy's map says it runs, "" when the map
 * does not name it: a deployment's name says nothing of what answers there. */
static void exchange_azure_model(struct exchange *ex)
{
	const struct session *s = ex->s;
	const struct policy_provider *pv =
	    s->info.explicit_endpoint ? NULL : policy_provider_by_name(ex->policy, s->info.provider);
	const char *model;

	if (!pv || !pv->azure || ex->outside_api || ex->api < 0)
		return;
	if (!ex->deployment[0] && !azure_deployment_name_problem(ex->model)) /* fits */
		memcpy(ex->deployment, ex->model, strlen(ex->model) + 1);
	model = ex->deployment[0] ? azure_deployment_model(pv, ex->deployment) : NULL;
	str_copy(ex->model, sizeof(ex->model), model ? model : "");
}

/* A whole request read: the policy stages decide whether it goes, and where. */
void exchange_admit(struct exchange *ex)
{
	struct session *s = ex->s;
	struct pipe_req *r = &ex->pr;
	int err;

	if (s->cfg->routes)
		ex->routes = route_table_ref(s->cfg->routes);
	exchange_pipe_sync(ex);
	r->body = (const char *)evbuffer_pullup(ex->body, -1);
	r->body_len = evbuffer_get_length(ex->body);
	r->json_object = ex->req_object;
	r->json_get = exchange_req_json_get;
	r->json_arg = ex;
	exchange_azure_model(ex);
	r->model = ex->model;
	r->deployment = ex->deployment[0] ? ex->deployment : NULL;
	r->stream = ex->stream;
	/* the usage question (body_for_target()) is asked of the body's tree: a stream that
	 * cannot be asked it would go unmetered */
	if (pipeline_request(r) == PIPE_STOP ||
	    (ex->want_usage && exchange_req_json_read(ex) &&
	     pipe_refuse_unread(r, "usage", "stream_options.include_usage") == PIPE_STOP)) {
		exchange_refuse(ex);
		return;
	}
	if (exchange_take_guarded_body(ex)) {
		exchange_fail(ex, OUTCOME_BAD_REQUEST, 503, "out of memory");
		return;
	}
	err = r->max_tokens_cap > 0 ? exchange_cap_max_tokens(ex) : 0;
	if (err) {
		exchange_fail(ex, OUTCOME_BAD_REQUEST, err == -ENOMEM ? 503 : 400,
			      err == -ENOMEM ? "out of memory reading the request body"
					     : "max tokens cannot be set in this body");
		return;
	}
	if (ex->stream)
		exchange_record_started(ex);
	exchange_route(ex);
}
