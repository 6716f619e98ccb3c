/*
 * route.c: route tables built from the policy's "models", target order, circuit breakers.
 * The proxy.workers share the breakers: their state changes under breakers_lock (one for all
 * tables: a reload copies the old table's into the new one under it too).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/api_path.h"
#include "providers/azure.h"
#include "proxy/route.h"

static pthread_mutex_t breakers_lock = PTHREAD_MUTEX_INITIALIZER;

static void target_clear(struct route_target *t)
{
	free(t->provider);
	free(t->model);
	free(t->host);
	free(t->api_root);
	free(t->deployment);
}

static void route_clear(struct route *r)
{
	for (size_t i = 0; i < r->n_targets; i++)
		target_clear(&r->targets[i]);
	free(r->targets);
	free(r->name);
}

static void table_free(struct route_table *t)
{
	for (size_t i = 0; i < t->n_routes; i++)
		route_clear(&t->routes[i]);
	free(t->routes);
	for (size_t i = 0; i < POLICY_API_N; i++)
		route_clear(&t->defaults[i]);
	for (size_t i = 0; i < t->n_breakers; i++)
		free(t->breakers[i].key);
	free(t->breakers);
	free(t);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The breaker for KEY: an existing one, or a new one carrying OLD's state. */
static struct breaker *breaker_for(struct route_table *t, const struct route_table *old,
				   const char *key)
{
	struct breaker *b;

	for (size_t i = 0; i < t->n_breakers; i++)
		if (!strcmp(t->breakers[i].key, key))
			return &t->breakers[i];
	b = &t->breakers[t->n_breakers];
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; old && i < old->n_breakers; i++)
		if (!strcmp(old->breakers[i].key, key))
			*b = old->breakers[i];
	b->key = strdup(key);
	if (!b->key)
		return NULL;
	if (b->state == BREAKER_HALF_OPEN) /* its probe belongs to the old table's calls */
		b->state = BREAKER_OPEN;
	t->n_breakers++;
	return b;
}

static int target_fill(struct route_target *t, const struct policy_provider *pv, const char *model)
{
	const char *deployment = pv->azure ? azure_target_deployment(pv, model) : NULL;

	if (deployment) /* the policy's check saw that MODEL names one */
		model = azure_deployment_model(pv, deployment);
	t->deployment = dup_or_null(deployment);
	t->provider = strdup(pv->name);
	t->model = dup_or_null(model);
	t->host = dup_or_null(pv->base_host);
	t->api_root = strdup(pv->api_root ? pv->api_root : API_PATH_ROOT);
	t->port = pv->base_port ? pv->base_port : 443;
	t->plain = pv->base_plain;
	t->api = pv->api;
	if (!t->provider || (model && !t->model) || (pv->base_host && !t->host) || !t->api_root ||
	    (deployment && !t->deployment))
		return -ENOMEM;
	return 0;
}

static int route_fill(struct route_table *t, const struct route_table *old, const struct policy *p,
		      const struct policy_model *m, struct route *r)
{
	char key[512];

	r->name = strdup(m->name);
	r->targets = calloc(m->n_targets, sizeof(*r->targets));
	if (!r->name || !r->targets)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_targets; i++) {
		const struct policy_target *pt = &m->targets[i];
		struct route_target *rt = &r->targets[r->n_targets++];

		if (target_fill(rt, &p->providers[pt->provider_idx], pt->model))
			return -ENOMEM;
		rt->weight = pt->weight;
		snprintf(key, sizeof(key), "%s/%s", pt->provider, pt->model);
		rt->breaker = breaker_for(t, old, key);
		if (!rt->breaker)
			return -ENOMEM;
	}
	return 0;
}

/* An unlisted model at the explicit endpoint: the first provider of the family that the
 * gateway can dial. */
static int default_fill(const struct policy *p, enum policy_api api, struct route *r)
{
	for (size_t i = 0; i < p->n_providers; i++) {
		/* an Azure resource serves only the deployments it names: no model of any name */
		if (p->providers[i].api != api || !p->providers[i].base_host ||
		    p->providers[i].azure)
			continue;
		r->targets = calloc(1, sizeof(*r->targets));
		if (!r->targets)
			return -ENOMEM;
		r->n_targets = 1;
		return target_fill(r->targets, &p->providers[i], NULL);
	}
	return 0;
}

int route_table_new(const struct policy *p, const struct route_table *old,
		    struct route_table **ret_table)
{
	struct route_table *t = calloc(1, sizeof(*t));
	size_t n_targets = 0;
	int err = -ENOMEM;

	if (!t)
		return -ENOMEM;
	t->refs = 1;
	t->breaker_failures = p->routing.breaker_failures ? p->routing.breaker_failures : 5;
	t->breaker_open_ms = p->routing.breaker_open_ms ? p->routing.breaker_open_ms : 30000;
	for (size_t i = 0; i < p->n_models; i++)
		n_targets += p->models[i].n_targets;
	t->routes = calloc(p->n_models + 1, sizeof(*t->routes));
	t->breakers = calloc(n_targets + 1, sizeof(*t->breakers));
	if (!t->routes || !t->breakers)
		goto fail;
	for (; t->n_routes < p->n_models; t->n_routes++) {
		pthread_mutex_lock(&breakers_lock); /* OLD's breakers may be changing */
		err = route_fill(t, old, p, &p->models[t->n_routes], &t->routes[t->n_routes]);
		pthread_mutex_unlock(&breakers_lock);
		if (err) {
			t->n_routes++; /* what it filled is freed with the rest */
			goto fail;
		}
	}
	err = 0;
	for (int api = 0; api < POLICY_API_N && !err; api++)
		err = default_fill(p, api, &t->defaults[api]);
	if (err)
		goto fail;
	*ret_table = t;
	return 0;
fail:
	table_free(t);
	return err;
}

struct route_table *route_table_ref(struct route_table *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void route_table_unref(struct route_table *t)
{
	if (t && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
		table_free(t);
}

enum breaker_state route_breaker_state(const struct breaker *b)
{
	enum breaker_state st;

	pthread_mutex_lock(&breakers_lock);
	st = b->state;
	pthread_mutex_unlock(&breakers_lock);
	return st;
}

const struct route *route_find(const struct route_table *t, const char *name)
{
	if (!t || !name || !name[0])
		return NULL;
	for (size_t i = 0; i < t->n_routes; i++)
		if (!strcmp(t->routes[i].name, name))
			return &t->routes[i];
	return NULL;
}

size_t route_order(const struct route *r, uint64_t rnd, unsigned *order)
{
	unsigned total = 0, first = 0;
	size_t n = 0;

	if (!r->n_targets)
		return 0;
	for (size_t i = 0; i < r->n_targets; i++)
		total += r->targets[i].weight;
	if (total) {
		uint64_t pick = rnd % total;

		for (size_t i = 0; i < r->n_targets; i++) {
			if (pick < r->targets[i].weight) {
				first = i;
				break;
			}
			pick -= r->targets[i].weight;
		}
	}
	order[n++] = first;
	for (size_t i = 0; i < r->n_targets && n < ROUTE_MAX_TARGETS; i++)
		if (i != first)
			order[n++] = i;
	return n;
}

static int time_reached(const struct timespec *now, const struct timespec *t)
{
	return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

static int breaker_out_locked(const struct breaker *b)
{
	struct timespec now;

	if (!b || b->state == BREAKER_CLOSED)
		return 0;
	if (b->state == BREAKER_HALF_OPEN)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return !time_reached(&now, &b->open_until);
}

int route_breaker_out(const struct breaker *b)
{
	int r;

	pthread_mutex_lock(&breakers_lock);
	r = breaker_out_locked(b);
	pthread_mutex_unlock(&breakers_lock);
	return r;
}

static int route_target_admit_locked(const struct route_target *t, int *ret_probe)
{
	struct breaker *b = t->breaker;
	struct timespec now;

	*ret_probe = 0;
	if (!b || b->state == BREAKER_CLOSED)
		return 1;
	if (b->state == BREAKER_HALF_OPEN)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!time_reached(&now, &b->open_until))
		return 0;
	b->state = BREAKER_HALF_OPEN;
	*ret_probe = 1;
	return 1;
}

static enum breaker_change route_target_done_locked(struct route_table *tab,
						    const struct route_target *t, int ok)
{
	struct breaker *b = t->breaker;
	struct timespec now;
	int was_open;

	if (!b)
		return BREAKER_UNCHANGED;
	if (ok) {
		was_open = b->state != BREAKER_CLOSED;
		b->state = BREAKER_CLOSED;
		b->failures = 0;
		return was_open ? BREAKER_BECAME_CLOSED : BREAKER_UNCHANGED;
	}
	b->failures++;
	if (b->state == BREAKER_OPEN) /* already out of rotation: its time is not pushed back */
		return BREAKER_UNCHANGED;
	if (b->state != BREAKER_HALF_OPEN && b->failures < tab->breaker_failures)
		return BREAKER_UNCHANGED;
	clock_gettime(CLOCK_MONOTONIC, &now);
	b->open_until.tv_sec = now.tv_sec + tab->breaker_open_ms / 1000;
	b->open_until.tv_nsec = now.tv_nsec + (long)(tab->breaker_open_ms % 1000) * 1000000;
	if (b->open_until.tv_nsec >= 1000000000) {
		b->open_until.tv_sec++;
		b->open_until.tv_nsec -= 1000000000;
	}
	b->state = BREAKER_OPEN;
	return BREAKER_BECAME_OPEN;
}

static void route_target_abandon_locked(const struct route_target *t)
{
	if (t->breaker && t->breaker->state == BREAKER_HALF_OPEN)
		t->breaker->state = BREAKER_OPEN; /* open_until has passed already */
}

int route_target_out(const struct route_target *t)
{
	return route_breaker_out(t->breaker);
}

int route_target_admit(const struct route_target *t, int *ret_probe)
{
	int r;

	pthread_mutex_lock(&breakers_lock);
	r = route_target_admit_locked(t, ret_probe);
	pthread_mutex_unlock(&breakers_lock);
	return r;
}

enum breaker_change route_target_done(struct route_table *tab, const struct route_target *t,
				      int ok)
{
	enum breaker_change r;

	pthread_mutex_lock(&breakers_lock);
	r = route_target_done_locked(tab, t, ok);
	pthread_mutex_unlock(&breakers_lock);
	return r;
}

void route_target_abandon(const struct route_target *t)
{
	pthread_mutex_lock(&breakers_lock);
	route_target_abandon_locked(t);
	pthread_mutex_unlock(&breakers_lock);
}
