/*
 * pipeline.c: the ordered list of policy stages and the four calls that walk it. The order
 * is the design's: admission (host, a working audit log, size, the explicit endpoint's
 * key), the endpoint allow-list, all on the request's head; then, on the whole request, the route of a logical
 * name, the model/provider/region allow-lists, rate limits and budgets (which reserve). Each
 * stage owns its rules; this file owns only the walk and the notes of what was decided.
 *
 * The proxy.workers walk it at once: the walk itself takes no lock. The stages that read and
 * change the shared governance state (buffer, limits, budget) take its lock themselves, for
 * exactly their check and take (policy/govstate.h); the others read only the policy snapshot
 * and the request, and run unlocked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/pipeline.h"
#include "policy/stages.h"
#include "util/strcopy.h"

static const struct stage *const stages[] = {
    &stage_host,  &stage_audit, &stage_attribution, &stage_body_limit, &stage_explicit_key,
    &stage_buffer, &stage_endpoints, &stage_explicit_paths, &stage_route, &stage_allow,
    &stage_guard, &stage_limits, &stage_budget,
};
#define N_STAGES (sizeof(stages) / sizeof(stages[0]))

/* The workload's and its team's rules, by the names fixed when the call was attributed: a
 * reload that changes a rule applies from the next call on. */
static void pipe_bind_rules(struct pipe_req *r)
{
	r->rules_bound = 1;
	r->wl = policy_workload_by_name(r->policy, r->workload);
	r->tm = NULL;
	if (r->wl && r->wl->team)
		r->tm = policy_team_by_name(r->policy, r->wl->team);
	else if (r->team[0])
		r->tm = policy_team_by_name(r->policy, r->team);
}

static enum pipe_verdict pipe_walk(struct pipe_req *r, int head)
{
	for (size_t i = 0; i < N_STAGES; i++) {
		const struct stage *st = stages[i];

		if (st->head != head || !st->on_request)
			continue;
		if (!r->rules_bound) /* first, or named anew by a stage (the explicit key) */
			pipe_bind_rules(r);
		r->stages_run |= 1u << i;
		if (st->on_request(r) == PIPE_STOP)
			return PIPE_STOP;
	}
	return PIPE_CONTINUE;
}

enum pipe_verdict pipeline_head(struct pipe_req *r)
{
	return pipe_walk(r, 1);
}

enum pipe_verdict pipeline_request(struct pipe_req *r)
{
	return pipe_walk(r, 0);
}

int pipeline_target(struct pipe_req *r, const struct route_target *t, char *why, size_t whylen)
{
	for (size_t i = 0; i < N_STAGES; i++) {
		int err;

		if (!stages[i]->on_target)
			continue;
		err = stages[i]->on_target(r, t, why, whylen);
		if (err)
			return err;
	}
	return 0;
}

void pipeline_end(struct pipe_req *r, const struct pipe_outcome *o)
{
	for (size_t i = N_STAGES; i-- > 0;)
		if ((r->stages_run & (1u << i)) && stages[i]->on_end)
			stages[i]->on_end(r, o);
	r->stages_run = 0;
}

/*
 * Notes a decision; the one noted, or NULL when the table is full (then counted as dropped).
 * A deny stops the call: with the table full it takes the last place (the decision there is
 * counted as dropped instead), so a call routed through many targets under roll-out cannot
 * push the refusal that stopped it out of its record.
 */
static struct pipe_decision *pipe_note(struct pipe_req *r, const char *stage,
				       enum pipe_action action, const char *rule)
{
	struct pipe_decision *d;

	if (r->n_decisions >= PIPE_DECISIONS_MAX) {
		r->n_decisions_dropped++;
		if (action != PIPE_DENY)
			return NULL;
		d = &r->decisions[PIPE_DECISIONS_MAX - 1];
	} else {
		d = &r->decisions[r->n_decisions++];
	}
	d->stage = stage;
	d->action = action;
	str_copy(d->rule, sizeof(d->rule), rule);
	d->reason[0] = 0;
	return d;
}

enum pipe_verdict pipe_decide(struct pipe_req *r, const char *stage, enum pipe_action action,
			      const char *rule)
{
	pipe_note(r, stage, action, rule);
	return action == PIPE_DENY ? PIPE_STOP : PIPE_CONTINUE;
}

enum pipe_verdict pipe_refuse(struct pipe_req *r, const char *stage, const char *rule,
			      int enforce, int status, const char *kind, long retry_after_s,
			      const char *fmt, ...)
{
	struct pipe_decision *d;
	va_list ap;

	if (!enforce) {
		if ((d = pipe_note(r, stage, PIPE_WOULD_DENY, rule))) {
			va_start(ap, fmt);
			vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
			va_end(ap);
		}
		return PIPE_CONTINUE;
	}
	r->refusal.status = status;
	r->refusal.kind = kind;
	r->refusal.retry_after_s = retry_after_s;
	va_start(ap, fmt);
	vsnprintf(r->refusal.message, sizeof(r->refusal.message), fmt, ap);
	va_end(ap);
	return pipe_decide(r, stage, PIPE_DENY, rule);
}

enum pipe_verdict pipe_refuse_unread(struct pipe_req *r, const char *stage, const char *rule)
{
	return pipe_refuse(r, stage, rule, 1, 503, "unavailable", 0,
			   "aigw: out of memory reading the request body");
}

const struct pipe_decision *pipe_decisive(const struct pipe_req *r)
{
	static const enum pipe_action rank[] = {PIPE_DENY, PIPE_WOULD_DENY, PIPE_CAPPED,
						PIPE_ALLOW};

	for (size_t k = 0; k < sizeof(rank) / sizeof(rank[0]); k++)
		for (size_t i = r->n_decisions; i-- > 0;)
			if (r->decisions[i].action == rank[k])
				return &r->decisions[i];
	return NULL;
}

const char *pipe_action_name(enum pipe_action a)
{
	switch (a) {
	case PIPE_ALLOW:
		return "allow";
	case PIPE_DENY:
		return "deny";
	case PIPE_WOULD_DENY:
		return "would_deny";
	case PIPE_CAPPED:
		return "capped";
	}
	return "allow";
}
