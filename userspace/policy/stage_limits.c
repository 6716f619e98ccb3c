/*
 * stage_limits: a workload's rate limits ("limits"): requests_per_minute and
 * tokens_per_minute as token buckets (capacity the per-minute figure, refilled evenly over
 * the minute), and concurrent calls in flight. Tokens are reserved from the call's upper
 * bound (policy/estimate.c) and settled to its real usage when it ends; a bound larger than
 * the whole minute's capacity is admitted only into a full bucket, which it leaves in debt.
 * Over a limit: 429 with retry-after, in the app's provider format. The counters live in
 * govstate, so a restart or a reload keeps them; a reload's new figures apply from the next
 * call.
 *
 * Open client connections ("connections") are counted per connection, not per call: the
 * proxy's session holds its place (struct pipe_conn_slot) for as long as the connection is
 * open, and each request of a connection that came over the limit gets a 429 and closes it.
 *
 * The workers share the counters: a bucket's check and take are one govstate call; the
 * concurrent count's check and take hold the state's lock across both.
 */
#include <stdio.h>
#include <string.h>

#include "policy/govstate.h"
#include "policy/stages.h"

#define LIMITS "limits"

static void limit_key(char *buf, size_t size, const char *kind, const struct pipe_req *r)
{
	snprintf(buf, size, "%s:%s", kind, r->workload);
}

/* The count and the place taken are one step under the state's lock: two workers never both
 * take the last place. */
static enum pipe_verdict limits_concurrent(struct pipe_req *r, const struct policy_limits *l)
{
	char key[GOVSTATE_KEY_MAX];
	int full;

	limit_key(key, sizeof(key), "conc", r);
	govstate_lock(r->state);
	full = govstate_inflight(r->state, key) >= l->concurrent;
	if (!full || !l->enforce)
		govstate_inflight_add(r->state, key);
	govstate_unlock(r->state);
	if (full && pipe_refuse(r, LIMITS, "limits.concurrent", l->enforce, 429, "rate_limit", 1,
				"aigw: workload %s has %u calls in flight, its limit",
				r->workload, l->concurrent) == PIPE_STOP)
		return PIPE_STOP;
	r->res.inflight = 1;
	return PIPE_CONTINUE;
}

void limits_conn_take(struct pipe_conn_slot *conn, struct govstate *g,
		      const struct policy_workload *wl)
{
	char key[GOVSTATE_KEY_MAX];

	if (!conn || !wl || !strcmp(conn->workload, wl->name))
		return;
	limits_conn_release(conn, g);
	if (!wl->limits.connections)
		return;
	snprintf(key, sizeof(key), "conn:%s", wl->name);
	conn->over = govstate_inflight_add(g, key) > wl->limits.connections;
	snprintf(conn->workload, sizeof(conn->workload), "%s", wl->name);
}

void limits_conn_release(struct pipe_conn_slot *conn, struct govstate *g)
{
	char key[GOVSTATE_KEY_MAX];

	if (!conn || !conn->workload[0])
		return;
	snprintf(key, sizeof(key), "conn:%s", conn->workload);
	govstate_inflight_sub(g, key);
	conn->workload[0] = 0;
	conn->over = 0;
}

static enum pipe_verdict limits_connections(struct pipe_req *r, const struct policy_limits *l)
{
	limits_conn_take(r->conn, r->state, r->wl);
	if (!r->conn || !r->conn->over)
		return PIPE_CONTINUE;
	r->reason = "connection_limit";
	return pipe_refuse(r, LIMITS, "limits.connections", l->enforce, 429, "rate_limit", 1,
			   "aigw: workload %s has more than %u connections open, its limit",
			   r->workload, l->connections);
}

static enum pipe_verdict limits_rpm(struct pipe_req *r, const struct policy_limits *l)
{
	double cap = l->requests_per_minute;
	char key[GOVSTATE_KEY_MAX];
	long wait = 0;

	limit_key(key, sizeof(key), "rpm", r);
	if (govstate_bucket_take(r->state, key, cap, cap / 60.0, 1, 1, r->now_ns, &wait)) {
		if (pipe_refuse(r, LIMITS, "limits.requests_per_minute", l->enforce, 429,
				"rate_limit", wait,
				"aigw: workload %s is over its %u requests per minute", r->workload,
				l->requests_per_minute) == PIPE_STOP)
			return PIPE_STOP;
		govstate_bucket_give(r->state, key, -1, r->now_ns); /* counted all the same */
	}
	r->res.rpm_taken = 1;
	return PIPE_CONTINUE;
}

static enum pipe_verdict limits_tpm(struct pipe_req *r, const struct policy_limits *l)
{
	double cap = (double)l->tokens_per_minute, need;
	char key[GOVSTATE_KEY_MAX];
	int64_t in, out;
	long wait = 0;

	if (r->app_api < 0) /* not an inference call: no tokens */
		return PIPE_CONTINUE;
	if (pipe_token_bounds(r, &in, &out))
		return pipe_refuse_unread(r, LIMITS, "limits.tokens_per_minute");
	need = (double)(in + out) < cap ? (double)(in + out) : cap;
	limit_key(key, sizeof(key), "tpm", r);
	if (govstate_bucket_take(r->state, key, cap, cap / 60.0, need, (double)(in + out),
				 r->now_ns, &wait)) {
		if (pipe_refuse(r, LIMITS, "limits.tokens_per_minute", l->enforce, 429,
				"rate_limit", wait,
				"aigw: workload %s is over its %llu tokens per minute (this call "
				"may use up to %lld)",
				r->workload, (unsigned long long)l->tokens_per_minute,
				(long long)(in + out)) == PIPE_STOP)
			return PIPE_STOP;
		govstate_bucket_give(r->state, key, -(double)(in + out), r->now_ns);
	}
	r->res.tokens = r->res.tokens_reserved = (double)(in + out);
	return PIPE_CONTINUE;
}

static enum pipe_verdict limits_on_request(struct pipe_req *r)
{
	const struct policy_limits *l = r->wl ? &r->wl->limits : NULL;

	if (!l)
		return PIPE_CONTINUE;
	if (l->connections && limits_connections(r, l) == PIPE_STOP)
		return PIPE_STOP;
	if (r->model_listing)
		return PIPE_CONTINUE;
	if (l->concurrent && limits_concurrent(r, l) == PIPE_STOP)
		return PIPE_STOP;
	if (l->requests_per_minute && limits_rpm(r, l) == PIPE_STOP)
		return PIPE_STOP;
	if (l->tokens_per_minute && limits_tpm(r, l) == PIPE_STOP)
		return PIPE_STOP;
	if (l->concurrent || l->requests_per_minute || l->tokens_per_minute || l->connections)
		pipe_decide(r, LIMITS, PIPE_ALLOW, "limits");
	return PIPE_CONTINUE;
}

/* Settles the tokens to what the call used (its bound stays taken when the usage is not
 * known: the provider may have billed it), and ends its place among those in flight. */
static void limits_on_end(struct pipe_req *r, const struct pipe_outcome *o)
{
	char key[GOVSTATE_KEY_MAX];

	if (r->res.rpm_taken && r->refusal.status) { /* refused by the gateway: not a call */
		limit_key(key, sizeof(key), "rpm", r);
		govstate_bucket_give(r->state, key, 1, o->now_ns);
		r->res.rpm_taken = 0;
	}
	if (r->res.inflight) {
		limit_key(key, sizeof(key), "conc", r);
		govstate_inflight_sub(r->state, key);
		r->res.inflight = 0;
	}
	if (r->res.tokens > 0) {
		double used = o->usage_known ? (double)(o->input_tokens + o->output_tokens)
			      : !o->answered || o->provider_error ? 0
								  : r->res.tokens;

		limit_key(key, sizeof(key), "tpm", r);
		govstate_bucket_give(r->state, key, r->res.tokens - used, o->now_ns);
		r->res.tokens_settled = used;
		r->res.tokens = 0;
	}
}

const struct stage stage_limits = {
    .name = LIMITS,
    .on_request = limits_on_request,
    .on_end = limits_on_end,
};
