/*
 * stage_budget: what a workload and its team may spend ("budget": usd_per_day,
 * usd_per_month, UTC periods). Before a call is admitted its worst-case cost (the token
 * bounds of policy/estimate.c at the dearest rates of every target it may take) is reserved
 * on each budget; when it ends the reservation is settled to the real cost (or kept whole
 * when the cost cannot be known). Admission and reservation are one step under the
 * governance state's lock (policy/govstate.h), so concurrent calls, on any of the
 * proxy.workers, can never spend past a budget together.
 *
 * Exhausted: 429 with the provider's quota error and retry-after at the period's end; with
 * "cap_max_tokens" the call's max tokens are lowered (or set) to fit what is left instead.
 * A budget whose spend crosses "warn_at" writes a budget.warn record. A target without a
 * price cannot be held to a budget: it is skipped, or, when no budget of the call is
 * enforced, tried and noted as would_deny naming it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ledger/prices.h"
#include "policy/govstate.h"
#include "policy/stages.h"
#include "proxy/route.h"
#include "util/jsonw.h"

#define BUDGET "budget"

struct scope {
	const char *kind; /* "workload", "team" */
	const char *name;
	const struct policy_budget *b;
	char key[GOVSTATE_KEY_MAX]; /* "workload:NAME" */
};

/* Rates per token in pico-dollars: the dearest input rate (a cache write costs more than
 * plain input) and the output rate. */
struct rates {
	int64_t input, output;
};

/* Raises K to B's dearest input rate and its output rate. */
static void rates_raise(struct rates *k, const struct price_rates *b)
{
	const int64_t in[3] = {b->input, b->cache_write, b->cache_write_1h};

	for (int i = 0; i < 3; i++)
		k->input = in[i] > k->input ? in[i] : k->input;
	k->output = b->output > k->output ? b->output : k->output;
}

/* The dearest rates a call to PROVIDER/MODEL with a prompt of at most IN tokens may be billed
 * at: a prompt that may pass the model's long_context_above may be billed, every token, at its
 * long-context rates (price_band()). */
static int rates_of(const struct pipe_req *r, const char *provider, const char *model,
		    int64_t in, struct rates *ret)
{
	const struct price *p = prices_lookup(r->prices, provider, model, NULL);
	struct price_rates b;

	if (!p || p->input < 0)
		return -ENOENT;
	*ret = (struct rates){0};
	price_band(p, 0, &b);
	rates_raise(ret, &b);
	if (price_band(p, in, &b) == PRICE_BAND_LONG)
		rates_raise(ret, &b);
	return 0;
}

/* The dearest rates among the places the call may go, for a prompt of at most IN tokens;
 * -ENOENT when none has a price. */
static int call_rates(const struct pipe_req *r, int64_t in, struct rates *ret)
{
	struct rates x;
	int found = 0;

	*ret = (struct rates){0};
	if (!r->route)
		return rates_of(r, r->provider ? r->provider : "", r->model, in, ret);
	for (size_t i = 0; i < r->route->n_targets; i++) {
		const struct route_target *t = &r->route->targets[i];

		if (rates_of(r, t->provider, t->model ? t->model : r->model, in, &x))
			continue;
		found = 1;
		ret->input = x.input > ret->input ? x.input : ret->input;
		ret->output = x.output > ret->output ? x.output : ret->output;
	}
	return found ? 0 : -ENOENT;
}

/* Tokens x rates (pico-dollars) in nano-dollars, rounded up; saturates. */
static int64_t worst_nano(int64_t in, int64_t out, const struct rates *k)
{
	__int128 pico = (__int128)in * k->input + (__int128)out * k->output;
	__int128 nano = (pico + 999) / 1000;

	return nano > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)nano;
}

static size_t scopes_of(struct pipe_req *r, struct scope s[2])
{
	size_t n = 0;

	if (r->wl && r->wl->budget.given) {
		s[n] = (struct scope){"workload", r->wl->name, &r->wl->budget, ""};
		snprintf(s[n].key, sizeof(s[n].key), "workload:%s", r->wl->name);
		n++;
	}
	if (r->tm && r->tm->budget.given) {
		s[n] = (struct scope){"team", r->tm->name, &r->tm->budget, ""};
		snprintf(s[n].key, sizeof(s[n].key), "team:%s", r->tm->name);
		n++;
	}
	return n;
}

/* The least that is left of any budget of S[0..N), and which one. */
struct tightest {
	int64_t left;
	const struct scope *s;
	const char *period; /* "day", "month" */
	long period_left_s;
	int64_t limit;
};

/* Among the budgets of S[0..N) whose "enforce" is ENFORCED (a roll-out budget's overspend
 * must never hide an enforced one: it grows without bound). */
static void tightest_of(struct pipe_req *r, const struct scope *s, size_t n, int enforced,
			struct tightest *t)
{
	long day_left, month_left;

	govstate_periods(r->now_ns, r->res.day, r->res.month, &day_left, &month_left);
	t->left = INT64_MAX;
	t->s = NULL;
	for (size_t i = 0; i < n; i++) {
		const int64_t limits[2] = {s[i].b->nano_per_day, s[i].b->nano_per_month};
		const char *periods[2] = {r->res.day, r->res.month};

		for (int k = 0; k < 2; k++) {
			int64_t spent, reserved, left;

			if (!limits[k] || !s[i].b->enforce != !enforced)
				continue;
			govstate_spend_get(r->state, s[i].key, periods[k], &spent, &reserved);
			left = limits[k] - spent - reserved;
			if (left < t->left) {
				*t = (struct tightest){left, &s[i], k ? "month" : "day",
						       k ? month_left : day_left, limits[k]};
			}
		}
	}
}

/* Lowers the call's output to what LEFT pays for: 1 when it now fits, 0 when it cannot, or
 * -ENOMEM when the body's tree could not be read. */
static int budget_cap(struct pipe_req *r, int64_t in, int64_t *out, const struct rates *k,
		      int64_t left)
{
	__int128 room = (__int128)left * 1000 - (__int128)in * k->input;
	const char *field;
	const cJSON *json, *n;
	int64_t cap;

	if (pipe_req_json(r, &json) || pipe_max_tokens_field(r, &field, &(int64_t){0}))
		return -ENOMEM;
	n = cJSON_GetObjectItemCaseSensitive(json, "n");
	if ((cJSON_IsNumber(n) && n->valuedouble > 1) || k->output <= 0 || room <= 0 || !field)
		return 0;
	cap = (int64_t)(room / k->output);
	while (cap > 0 && worst_nano(in, cap, k) > left) /* nano rounds up */
		cap--;
	if (cap < 1)
		return 0;
	*out = cap;
	r->max_tokens_cap = cap;
	return 1;
}

static void budget_reserve(struct pipe_req *r, const struct scope *s, size_t n, int64_t nano)
{
	for (size_t i = 0; i < n; i++) {
		govstate_spend_reserve(r->state, s[i].key, r->res.day, nano);
		govstate_spend_reserve(r->state, s[i].key, r->res.month, nano);
		if (!strcmp(s[i].kind, "workload"))
			r->res.workload_budget = 1;
		else
			r->res.team_budget = 1;
	}
	r->res.nano = nano;
	r->res.nano_settled = -1;
	r->res.budget = 1;
}

static int cap_allowed(const struct scope *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].b->cap_max_tokens)
			return 1;
	return 0;
}

/* The call, whose worst case is WORST, does not fit T: capped (1), or refused or noted as
 * would-be refused (0; PIPE_STOP in *V when enforced). */
static int budget_exceeded(struct pipe_req *r, const struct scope *s, size_t n, int64_t in,
			   int64_t *out, const struct rates *k, const struct tightest *t,
			   enum pipe_verdict *v)
{
	int64_t worst = worst_nano(in, *out, k);
	char rule[PIPE_RULE_MAX];
	int capped;

	snprintf(rule, sizeof(rule), "%ss[%s].budget.usd_per_%s", t->s->kind, t->s->name,
		 t->period);
	capped = t->s->b->enforce && cap_allowed(s, n) ? budget_cap(r, in, out, k, t->left) : 0;
	if (capped > 0) {
		pipe_decide(r, BUDGET, PIPE_CAPPED, rule);
		return 1;
	}
	if (capped < 0) {
		*v = pipe_refuse_unread(r, BUDGET, rule);
		return 0;
	}
	*v = pipe_refuse(r, BUDGET, rule, t->s->b->enforce, 429, "quota", t->period_left_s,
			 "aigw: the %s budget of %s %s has $%.6f left of $%.6f; this call may "
			 "cost up to $%.6f",
			 t->period, t->s->kind, t->s->name,
			 (double)(t->left > 0 ? t->left : 0) / 1e9, (double)t->limit / 1e9,
			 (double)worst / 1e9);
	return 0;
}

/*
 * What is left of the budgets S[0..N) decides, and the call's worst case IN, OUT tokens at
 * rates K is reserved on them: the caller holds the state's lock across both. The tightest
 * enforced budget decides (refused, or capped to fit it); then the tightest roll-out budget
 * the call still does not fit is noted as would_deny.
 */
static enum pipe_verdict budget_admit_locked(struct pipe_req *r, const struct scope *s, size_t n,
					     int64_t in, int64_t out, const struct rates *k)
{
	enum pipe_verdict v = PIPE_CONTINUE;
	struct tightest hard, soft;
	int decided = 0;

	tightest_of(r, s, n, 1, &hard);
	if (hard.s && worst_nano(in, out, k) > hard.left) {
		decided = 1;
		if (!budget_exceeded(r, s, n, in, &out, k, &hard, &v) && v == PIPE_STOP)
			return PIPE_STOP;
	}
	tightest_of(r, s, n, 0, &soft);
	if (soft.s && worst_nano(in, out, k) > soft.left) {
		decided = 1;
		budget_exceeded(r, s, n, in, &out, k, &soft, &v);
	}
	if (!decided)
		pipe_decide(r, BUDGET, PIPE_ALLOW, "budget");
	budget_reserve(r, s, n, worst_nano(in, out, k));
	return PIPE_CONTINUE;
}

/* The first budget of S[0..N) that is enforced, else NULL. */
static const struct scope *first_enforced(const struct scope *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].b->enforce)
			return &s[i];
	return NULL;
}

/* A call with no price: no budget can hold it; refused when any of them is enforced. */
static enum pipe_verdict budget_unpriced(struct pipe_req *r, const struct scope *s, size_t n)
{
	const struct scope *e = first_enforced(s, n);

	if (!e)
		e = &s[0];
	return pipe_refuse(r, BUDGET, "budget.price", e->b->enforce, 403, "permission", 0,
			   "aigw: %s has no price, so the budget of %s %s cannot hold it",
			   r->model, e->kind, e->name);
}

static enum pipe_verdict budget_on_request(struct pipe_req *r)
{
	struct scope s[2];
	size_t n = scopes_of(r, s);
	struct rates k;
	int64_t in, out;
	enum pipe_verdict v;

	if (!n || r->app_api < 0 || r->model_listing)
		return PIPE_CONTINUE;
	if (pipe_token_bounds(r, &in, &out)) /* reads the body: before the lock */
		return pipe_refuse_unread(r, BUDGET, "budget");
	if (call_rates(r, in, &k))
		return budget_unpriced(r, s, n);
	govstate_lock(r->state);
	v = budget_admit_locked(r, s, n, in, out, &k);
	govstate_unlock(r->state);
	return v;
}

/* May the call go to target T? One without a price is passed over (-EPERM) when a budget of
 * the call is enforced; when none is, it is tried and noted as would_deny, naming it. */
static int budget_on_target(struct pipe_req *r, const struct route_target *t, char *why,
			    size_t whylen)
{
	struct rates k;
	const char *model = t->model ? t->model : r->model;
	struct scope s[2];
	size_t n = scopes_of(r, s);
	const struct scope *e = first_enforced(s, n);

	if (!r->res.budget || !n || !rates_of(r, t->provider, model, 0, &k))
		return 0;
	if (!e) {
		pipe_refuse(r, BUDGET, "budget.price", 0, 403, "permission", 0,
			    "aigw: %s/%s has no price, so the budget of %s %s cannot hold it",
			    t->provider, model, s[0].kind, s[0].name);
		return 0;
	}
	snprintf(why, whylen, "%s/%s has no price, so the budget of %s %s cannot hold it",
		 t->provider, model, e->kind, e->name);
	return -EPERM;
}

static void budget_warn(struct pipe_req *r, const struct scope *s, const char *period,
			const char *period_key, int64_t limit, int64_t before, int64_t after)
{
	struct jsonw *rec;
	int64_t mark = (int64_t)(s->b->warn_at * (double)limit);

	if (!s->b->warn_at || !limit || before >= mark || after < mark || !r->event)
		return;
	if (!(rec = jsonw_new()))
		return;
	jsonw_str(rec, "event.name", "budget.warn");
	jsonw_str(rec, "aigw.budget.scope", s->key);
	jsonw_str(rec, "aigw.budget.period", period);
	jsonw_str(rec, "aigw.budget.period_key", period_key);
	jsonw_num(rec, "aigw.budget.used_usd", (double)after / 1e9);
	jsonw_num(rec, "aigw.budget.limit_usd", (double)limit / 1e9);
	jsonw_num(rec, "aigw.budget.warn_at", s->b->warn_at);
	r->event(rec, r->event_arg);
}

/* Settles the reservation of each budget the call reserved on to ACTUAL; *RET_BEFORE and
 * *RET_AFTER get each one's spend around its own settlement ([scope][day, month]), read with
 * it as one step under the state's lock, so exactly one call sees a warn mark crossed. */
static void budget_settle(struct pipe_req *r, const struct scope *s, size_t n, int64_t actual,
			  int64_t ret_before[2][2], int64_t ret_after[2][2])
{
	const char *keys[2] = {r->res.day, r->res.month};
	int64_t reserved;

	govstate_lock(r->state);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(s[i].kind, "workload") ? !r->res.workload_budget : !r->res.team_budget)
			continue;
		for (int k = 0; k < 2; k++) {
			const char *key = s[i].key;

			govstate_spend_get(r->state, key, keys[k], &ret_before[i][k], &reserved);
			govstate_spend_settle(r->state, key, keys[k], r->res.nano, actual);
			govstate_spend_get(r->state, key, keys[k], &ret_after[i][k], &reserved);
		}
	}
	govstate_unlock(r->state);
}

static void budget_on_end(struct pipe_req *r, const struct pipe_outcome *o)
{
	int64_t before[2][2] = {{0}}, after[2][2] = {{0}}, actual;
	struct scope s[2];
	size_t n;

	if (!r->res.budget || r->res.nano_settled >= 0)
		return;
	/* Unknown, and possibly billed (a stream cut short, an answer without usage): the
	 * whole reservation counts. Never sent, or refused by the provider: nothing. */
	actual = o->cost_known			     ? o->cost_nano
		 : !o->answered || o->provider_error ? 0
						     : r->res.nano;
	n = scopes_of(r, s);
	budget_settle(r, s, n, actual, before, after);
	for (size_t i = 0; i < n; i++) {
		const char *keys[2] = {r->res.day, r->res.month};
		const int64_t limits[2] = {s[i].b->nano_per_day, s[i].b->nano_per_month};

		for (int k = 0; k < 2; k++) /* unsettled: before == after, no mark crossed */
			budget_warn(r, &s[i], k ? "month" : "day", keys[k], limits[k], before[i][k],
				    after[i][k]);
	}
	r->res.nano_settled = actual;
}

const struct stage stage_budget = {
    .name = BUDGET,
    .on_request = budget_on_request,
    .on_target = budget_on_target,
    .on_end = budget_on_end,
};
