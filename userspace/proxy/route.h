/*
 * route: where a call goes. The policy's logical model names ("models") become routes, each
 * an ordered list of targets (provider + model); a circuit breaker per target (shared by
 * every route naming the same provider and model) keeps calls away from one that keeps
 * failing and lets one call probe it once its open time is over.
 *
 * Ownership: a route table is built from a policy and reference-counted: the proxy holds one
 * reference, each exchange in flight another, so a reload never frees a table an exchange
 * still reads. Breaker state moves from the old table to the new one at a reload (by
 * provider and model). Tables are shared by the proxy.workers: references are atomic, and
 * breaker state changes only under one lock (route_breaker_state() for readers of it).
 */
#ifndef AIGW_PROXY_ROUTE_H
#define AIGW_PROXY_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy/policy.h"

#define ROUTE_MAX_TARGETS 16

enum breaker_state {
	BREAKER_CLOSED = 0, /* calls go */
	BREAKER_OPEN,	    /* no calls until open_until */
	BREAKER_HALF_OPEN,  /* one call (the probe) is in flight; the others skip it */
};

struct breaker {
	char *key; /* "provider/model", owned */
	enum breaker_state state;
	unsigned failures; /* consecutive failed attempts */
	struct timespec open_until;
};

struct route_target {
	char *provider; /* owned copies: a table outlives its policy */
	char *model;	/* NULL in a default route: the model the app asked for */
	unsigned weight;
	enum policy_api api;
	char *host; /* where the gateway sends it (base_url), or NULL: nowhere it can dial */
	uint16_t port;
	int plain;		 /* http:// (no TLS) */
	char *api_root;		 /* the provider's API root (providers/api_path.h) */
	/* Azure OpenAI: the deployment the call goes to (sent as the body's "model" on the v1
	 * path), model then being the model it runs (providers/azure.h); else NULL */
	char *deployment;
	struct breaker *breaker; /* NULL in a default route */
};

struct route {
	char *name; /* the logical name; NULL for a default route */
	struct route_target *targets;
	size_t n_targets;
};

struct route_table {
	int refs; /* atomic */
	struct route *routes;
	size_t n_routes;
	/* per enum policy_api: an unlisted model at the explicit endpoint goes to the first
	 * provider of that family */
	struct route defaults[POLICY_API_N];
	struct breaker *breakers;
	size_t n_breakers;
	unsigned breaker_failures, breaker_open_ms;
};

/* Builds the table for P, taking the breakers' state from OLD (may be NULL). */
int route_table_new(const struct policy *p, const struct route_table *old,
		    struct route_table **ret_table);
struct route_table *route_table_ref(struct route_table *t);
void route_table_unref(struct route_table *t); /* NULL is fine */

/* The route for model NAME, or NULL when it is not a logical name. */
const struct route *route_find(const struct route_table *t, const char *name);

/*
 * The order to try R's targets in: the list's order, except that when targets carry weights
 * the first is drawn among the weighted ones in proportion (RND: a random number). Writes
 * the target indices to ORDER (ROUTE_MAX_TARGETS) and returns how many.
 */
size_t route_order(const struct route *r, uint64_t rnd, unsigned *order); /* 0: no targets */

/*
 * Whether a call may go to T now. A closed breaker says yes; an open one no until its time
 * is over, and then yes once, for the probe (*RET_PROBE set; the breaker is half-open until
 * route_target_done() reports how the probe went).
 */
int route_target_admit(const struct route_target *t, int *ret_probe);

enum breaker_change {
	BREAKER_UNCHANGED = 0,
	BREAKER_BECAME_OPEN,   /* this failure opened it (or a failed probe opened it again) */
	BREAKER_BECAME_CLOSED, /* a good answer closed it after it had been open */
};

/* Whether T's breaker has it out of rotation right now (open, its time not over). */
int route_target_out(const struct route_target *t);

/* How an attempt on T ended: OK or not; and what that did to its breaker. */
enum breaker_change route_target_done(struct route_table *tab, const struct route_target *t,
				      int ok);

/* A probe that ended without a verdict (the app went away): the next call probes again. */
void route_target_abandon(const struct route_target *t);

/* B's state now (admin, dashboard: read under the breakers' lock). */
enum breaker_state route_breaker_state(const struct breaker *b);
/* Whether B keeps calls from its target right now: open and its open_ms not over, or its probe
 * in flight. An open breaker whose time is over admits the next call as its probe. */
int route_breaker_out(const struct breaker *b);

#endif
