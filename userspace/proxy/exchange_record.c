/*
 * exchange_record.c: the audit record of one exchange: who, where, what it asked and got,
 * every attempt, the tokens and the exact cost (or null with the reason); and, for a stream,
 * the record that it started, written when it is admitted so that a call cut off by a crash
 * still leaves a trace.
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

#include "guard/guard.h"
#include "proxy/body.h"
#include "proxy/http1_int.h"
#include "ledger/cost.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/timefmt.h"

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
    "denied",
};

/* ---- the exchange's record and end ---- */

#define URL_PATH_MAX 511 /* bytes of a path the record keeps */

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

const char *exchange_api_url(const struct exchange *ex)
{
	return ex->api_url ? ex->api_url : ex->url;
}

/* The provider that answered (or was last asked). */
const char *exchange_provider(const struct exchange *ex)
{
	return ex->up_provider[0] ? ex->up_provider : ex->s->info.provider;
}

/* Tokens and cost, as finance reads them: a cost is exact or it is null with the reason,
 * never a guess and never zero for what is unknown. */
static void exchange_record_usage(struct exchange *ex, struct jsonw *rec)
{
	const struct cost *cost = &ex->cost; /* computed at the exchange's end */

	if (ex->resp_model[0])
		jsonw_kstr(rec, "gen_ai.response.model", ex->resp_model);
	if (response_is_stream(ex) || ex->resp_mode == RESPONSE_EVENTSTREAM)
		jsonw_kstr(rec, "aigw.stream.end", usage_end_name(ex->us.end));
	if (ex->api < 0)
		return;
	if (!ex->usage_found) {
		jsonw_knull(rec, "gen_ai.usage.input_tokens");
		jsonw_knull(rec, "gen_ai.usage.output_tokens");
		jsonw_knull(rec, "cost_usd");
		jsonw_kstr(rec, "aigw.cost.reason",
			  ex->status / 100 == 2 ? "the provider's answer carried no usage"
						: "no usage: the call failed");
		return;
	}
	jsonw_ki64(rec, "gen_ai.usage.input_tokens", ex->usage.input);
	jsonw_ki64(rec, "gen_ai.usage.output_tokens", ex->usage.output);
	jsonw_ki64(rec, "aigw.usage.cached_input_tokens", ex->usage.cached_input);
	jsonw_ki64(rec, "aigw.usage.cache_write_tokens", ex->usage.cache_write);
	jsonw_ki64(rec, "aigw.usage.reasoning_tokens", ex->usage.reasoning);
	if (ex->usage.has_reported_cost) /* the provider's own figure (OpenRouter), not ours */
		jsonw_knum(rec, "aigw.provider.reported_cost", ex->usage.reported_cost);
	if (cost->known) {
		char usd[COST_USD_TEXT_MAX];

		cost_usd_text(cost->nano_usd, usd);
		jsonw_kraw(rec, "cost_usd", usd, strlen(usd));
		jsonw_ki64(rec, "aigw.cost.nano_usd", cost->nano_usd);
		if (cost->pico_usd % 1000) /* rounded up: the exact sum too */
			jsonw_ki64(rec, "aigw.cost.pico_usd", cost->pico_usd);
	} else {
		jsonw_knull(rec, "cost_usd");
		jsonw_kstr(rec, "aigw.cost.reason", cost->reason);
	}
}

/* What the policy stages decided, and what the call reserved and was settled to. */
static void exchange_record_policy(struct exchange *ex, struct jsonw *rec)
{
	const struct pipe_req *r = &ex->pr;
	const struct pipe_decision *d = pipe_decisive(r);
	struct evbuffer *arr;

	jsonw_kstr(rec, "aigw.policy.stage", d ? d->stage : "pipeline");
	jsonw_kstr(rec, "aigw.policy.rule", d ? d->rule : "none");
	jsonw_kstr(rec, "aigw.policy.action", d ? pipe_action_name(d->action) : "allow");
	if (r->reason)
		jsonw_kstr(rec, "aigw.reason", r->reason);
	if (r->n_decisions && (arr = evbuffer_new())) {
		for (size_t i = 0; i < r->n_decisions; i++) {
			struct jsonw *o = jsonw_new();
			size_t len;
			char *text;

			if (!o)
				break;
			jsonw_kstr(o, "stage", r->decisions[i].stage);
			jsonw_kstr(o, "rule", r->decisions[i].rule);
			jsonw_kstr(o, "action", pipe_action_name(r->decisions[i].action));
			if (r->decisions[i].reason[0])
				jsonw_kstr(o, "reason", r->decisions[i].reason);
			if (!(text = jsonw_finish(o, &len)))
				break;
			evbuffer_add_printf(arr, "%s%s", i ? "," : "[", text);
			free(text);
		}
		evbuffer_add(arr, "]", 1);
		jsonw_kraw(rec, "aigw.policy.decisions", (const char *)evbuffer_pullup(arr, -1),
			  evbuffer_get_length(arr));
		evbuffer_free(arr);
	}
	if (r->n_decisions_dropped)
		jsonw_ku64(rec, "aigw.policy.decisions_dropped", r->n_decisions_dropped);
	if (r->res.budget) {
		jsonw_knum(rec, "aigw.budget.reserved_usd", (double)r->res.nano / 1e9);
		jsonw_ki64(rec, "aigw.budget.reserved_nano", r->res.nano);
		if (r->res.nano_settled >= 0) {
			jsonw_knum(rec, "aigw.budget.settled_usd", (double)r->res.nano_settled / 1e9);
			jsonw_ki64(rec, "aigw.budget.settled_nano", r->res.nano_settled);
		}
	}
	if (r->res.tokens_reserved > 0) {
		jsonw_knum(rec, "aigw.limits.tokens_reserved", r->res.tokens_reserved);
		jsonw_knum(rec, "aigw.limits.tokens_settled", r->res.tokens_settled);
	}
	if (r->max_tokens_cap > 0)
		jsonw_ki64(rec, "aigw.budget.max_tokens_cap", r->max_tokens_cap);
	if (r->guard)
		guard_call_record(r->guard, rec);
}

/* MODEL as the record may show it: not the app's own "model" when the guardrails found a
 * value in it (a record never holds a matched value). */
static const char *model_shown(const struct exchange *ex, const char *model)
{
	if (ex->pr.guard && guard_call_model_matched(ex->pr.guard) && !strcmp(model, ex->model))
		return "[withheld]";
	return model;
}

static void attempt_json(const struct exchange *ex, struct evbuffer *arr, const struct attempt *a)
{
	struct jsonw *t = jsonw_new();
	size_t len;
	char *text;

	if (!t)
		return;
	jsonw_kstr(t, "gen_ai.system", a->provider);
	if (a->model[0])
		jsonw_kstr(t, "gen_ai.request.model", model_shown(ex, a->model));
	if (a->status)
		jsonw_ki64(t, "http.response.status_code", a->status);
	jsonw_knum(t, "aigw.latency_ms", a->ms);
	jsonw_kstr(t, "aigw.result", a->result);
	if (a->reused >= 0)
		jsonw_kbool(t, "aigw.upstream.reused", a->reused);
	if (a->error[0])
		jsonw_kstr(t, "error.type", a->error);
	text = jsonw_finish(t, &len);
	if (!text)
		return;
	if (evbuffer_get_length(arr) > 1)
		evbuffer_add(arr, ",", 1);
	evbuffer_add(arr, text, len);
	free(text);
}

/* Every attempt, oldest first: [{"gen_ai.system", "gen_ai.request.model", status, latency,
 * "aigw.result": retried | fell_back | skipped | ok | failed, "aigw.upstream.reused",
 * "error.type"}, ...]. Left out
 * for the common call that took one attempt at the app's own destination. */
static void exchange_record_tries(struct exchange *ex, struct jsonw *rec,
				  enum exchange_outcome outcome)
{
	struct evbuffer *arr;

	if ((!ex->n_tries && !ex->route) || !(arr = evbuffer_new()))
		return;
	evbuffer_add(arr, "[", 1);
	for (unsigned i = 0; i < ex->n_tries; i++)
		attempt_json(ex, arr, &ex->tries[i]);
	if (ex->t_attempt.tv_sec && ex->up_provider[0]) {
		struct attempt last = {
		    .status = ex->status,
		    .ms = ms_between(&ex->t_attempt, &ex->t_end),
		    .result = outcome == OUTCOME_OK && ex->status < 500 && ex->status != 429
				  ? "ok"
				  : "failed",
		    .reused = ex->up_reused,
		};

		snprintf(last.provider, sizeof(last.provider), "%s", ex->up_provider);
		snprintf(last.model, sizeof(last.model), "%s", ex->up_model);
		snprintf(last.error, sizeof(last.error), "%.*s", (int)sizeof(last.error) - 1,
			 ex->error); /* the whole of it is the record's error.type */
		attempt_json(ex, arr, &last);
	}
	evbuffer_add(arr, "]", 1);
	jsonw_kraw(rec, "aigw.attempts", (const char *)evbuffer_pullup(arr, -1),
		  evbuffer_get_length(arr));
	evbuffer_free(arr);
}

/* The workload and team of a call at the explicit endpoint named by its gateway key; a
 * captured call's come from its cgroup, added by the session's record callback. */
static void exchange_record_key_workload(struct exchange *ex, struct jsonw *rec)
{
	if (!ex->s->info.explicit_endpoint || ex->s->info.local_peer)
		return;
	if (ex->pr.workload[0])
		jsonw_kstr(rec, "aigw.workload", ex->pr.workload);
	if (ex->pr.team[0])
		jsonw_kstr(rec, "aigw.team", ex->pr.team);
}

/* Where the call went, when that is not simply where the app sent it. */
static void exchange_record_route(struct exchange *ex, struct jsonw *rec)
{
	if (ex->route && ex->route->name) /* a default route is no logical name */
		jsonw_kstr(rec, "aigw.route", ex->route->name);
	if (ex->up_model[0])
		jsonw_kstr(rec, "aigw.upstream.model", model_shown(ex, ex->up_model));
	/* Not the first choice: the first failed, or its breaker or the request kept it out. */
	jsonw_kbool(rec, "aigw.fallback", ex->route && ex->pos > 0 && ex->pos < ex->n_order);
	if (ex->xlate)
		jsonw_kbool(rec, "aigw.translated", 1);
	if (ex->tool_ids_cut) /* the body sent upstream is not the app's */
		jsonw_ki64(rec, "aigw.request.tool_call_ids_cut", ex->tool_ids_cut);
	if (ex->stream_error_sent)
		jsonw_kstr(rec, "aigw.stream.ended_by", "gateway_error_event");
	exchange_record_key_workload(ex, rec);
}

/* The call's end as the metrics count it. */
static void exchange_count(struct exchange *ex, enum exchange_outcome outcome)
{
	const struct pipe_decision *d = pipe_decisive(&ex->pr);
	struct http_call_end e = {
	    .workload = ex->pr.workload[0] ? ex->pr.workload : ex->s->info.workload,
	    .team = ex->pr.team[0] ? ex->pr.team : ex->s->info.team,
	    .provider = exchange_provider(ex),
	    .model = ex->model,
	    .outcome = outcome_names[outcome],
	    .denied_by = outcome == OUTCOME_DENIED && d ? d->stage : "",
	    .fallback = ex->route && ex->pos > 0 && ex->pos < ex->n_order,
	    .usage_known = ex->usage_found,
	    .input_tokens = ex->usage.input,
	    .output_tokens = ex->usage.output,
	    .cost_known = ex->usage_found && ex->cost.known,
	    .cost_nano = cost_nano_usd(&ex->cost),
	    .duration_s = ms_between(&ex->t_start, &ex->t_end) / 1e3,
	    .ttft_s = ex->stream && ex->t_first.tv_sec ? ms_between(&ex->t_start, &ex->t_first) / 1e3
						       : -1,
	};

	if (ex->s->ops->call_end)
		ex->s->ops->call_end(&e, ex->s->ops->arg);
}

uint64_t exchange_record(struct exchange *ex, enum exchange_outcome outcome)
{
	struct session *s = ex->s;
	char ip[NETADDR_STRLEN];
	const char *url = ex->url, *api_url = exchange_api_url(ex), *op;
	struct jsonw *rec = jsonw_new();
	uint64_t ticket;
	size_t n;

	if (!rec)
		return 0;
	n = url ? strcspn(url, "?") : 0; /* url.path: up to the query, at most 511 bytes */
	jsonw_kstr(rec, "time", ex->start_time);
	jsonw_kstr(rec, "event.name", "proxy.request");
	jsonw_kstr(rec, "aigw.request_id", ex->id);
	jsonw_ku64(rec, "aigw.connection_id", s->info.conn_id);
	if (exchange_provider(ex)[0]) /* none for a call refused before it had a target */
		jsonw_kstr(rec, "gen_ai.system", exchange_provider(ex));
	jsonw_kstr(rec, "aigw.client.kind", s->info.explicit_endpoint ? "explicit" : "captured");
	op = ex->outside_api || !api_url ? NULL : operation_of(api_url);
	if (op)
		jsonw_kstr(rec, "gen_ai.operation.name", op);
	if (ex->model[0])
		jsonw_kstr(rec, "gen_ai.request.model", model_shown(ex, ex->model));
	jsonw_kbool(rec, "aigw.stream", ex->stream);
	if (ex->up_host[0]) {
		jsonw_kstr(rec, "server.address", ex->up_host);
		jsonw_ku64(rec, "server.port", ex->up_port);
		jsonw_kstr(rec, "network.peer.address",
			  netaddr_format_ip(&ex->up_addr, ip, sizeof(ip)));
	}
	if (s->info.sni[0])
		jsonw_kstr(rec, "tls.client.server_name", s->info.sni);
	jsonw_kstr(rec, "http.request.method", ex->method);
	session_protocol_note(s, rec);
	jsonw_kstrn(rec, "url.path", url ? url : "", n < URL_PATH_MAX ? n : URL_PATH_MAX);
	if (ex->api_url) /* the provider's own root: the endpoint as the gateway reads it too */
		jsonw_kstrn(rec, "aigw.url.api_path", ex->api_url, strcspn(ex->api_url, "?"));
	if (ex->deployment[0]) /* the Azure deployment the app called */
		jsonw_kstr(rec, "aigw.azure.deployment", ex->deployment);
	if (ex->target && ex->target->deployment) /* the one a route sent the call to */
		jsonw_kstr(rec, "aigw.azure.target_deployment", ex->target->deployment);
	if (ex->status)
		jsonw_ki64(rec, "http.response.status_code", ex->status);
	else
		jsonw_knull(rec, "http.response.status_code");
	jsonw_ku64(rec, "http.request.body.size",
		   ex->body ? evbuffer_get_length(ex->body) : ex->body_size);
	jsonw_ku64(rec, "http.response.body.size", ex->resp_body_bytes);
	jsonw_ku64(rec, "aigw.bytes_from_client", ex->req_wire_bytes);
	/* an h2 stream: what its DATA frames carried, not what its session wrote into the stream */
	jsonw_ku64(rec, "aigw.bytes_to_client",
		   s->info.h2 ? s->sent_to_client : ex->resp_wire_bytes);
	jsonw_knum(rec, "aigw.latency_ms", ms_between(&ex->t_start, &ex->t_end));
	if (ex->t_first.tv_sec)
		jsonw_knum(rec, "aigw.ttfb_ms", ms_between(&ex->t_start, &ex->t_first));
	else
		jsonw_knull(rec, "aigw.ttfb_ms");
	jsonw_kstr(rec, "aigw.outcome", outcome_names[outcome]);
	if (ex->error[0])
		jsonw_kstr(rec, "error.type", ex->error);
	if (ex->provider_request_id[0])
		jsonw_kstr(rec, "aigw.provider_request_id", ex->provider_request_id);
	exchange_record_usage(ex, rec);
	exchange_record_policy(ex, rec);
	exchange_record_route(ex, rec);
	exchange_record_tries(ex, rec, outcome);
	jsonw_ki64(rec, "aigw.upstream.attempts", ex->attempts);
	if (ex->credential)
		jsonw_kstr(rec, "aigw.credential", ex->credential);
	jsonw_kbool(rec, "aigw.upstream.reused", ex->up_reused > 0);
	jsonw_kbool(rec, "aigw.upstream.tls_resumed", ex->up_tls_resumed);
	ticket = s->ops->record(rec, &s->info, s->ops->arg);
	exchange_count(ex, outcome);
	return ticket;
}

void exchange_record_started(struct exchange *ex)
{
	struct session *s = ex->s;
	struct jsonw *rec = jsonw_new();
	char now[TIMEFMT_LEN];

	if (!rec)
		return;
	timefmt_now(now);
	jsonw_kstr(rec, "time", now);
	jsonw_kstr(rec, "event.name", "proxy.request_started");
	jsonw_kstr(rec, "aigw.request_id", ex->id);
	jsonw_kstr(rec, "aigw.request.start_time", ex->start_time);
	jsonw_ku64(rec, "aigw.connection_id", s->info.conn_id);
	if (s->info.provider[0])
		jsonw_kstr(rec, "gen_ai.system", s->info.provider);
	jsonw_kstr(rec, "aigw.client.kind", s->info.explicit_endpoint ? "explicit" : "captured");
	if (ex->model[0])
		jsonw_kstr(rec, "gen_ai.request.model", ex->model);
	jsonw_kbool(rec, "aigw.stream", ex->stream);
	exchange_record_key_workload(ex, rec);
	s->ops->record(rec, &s->info, s->ops->arg);
}
