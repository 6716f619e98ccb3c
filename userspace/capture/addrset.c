/*
 * addrset.c: resolution (getaddrinfo for the addresses, so /etc/hosts counts; a DNS query
 * through libresolv for the TTL) and the generation-stamped add-then-sweep update of the
 * LPM maps.
 *
 * Every prefix written in an update carries the update's generation; the sweep that follows
 * deletes whatever carries an older one. Nothing is ever deleted before its replacement is
 * in place, and the first sweep after a daemon restart is skipped when a host could not be
 * resolved, since the entries it had are then indistinguishable from stale ones.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "capture_decide.h"
#include "capture/addrset.h"
#include "util/bgthread.h"
#include "util/log.h"

#define ADDRSET_MAX_ADDRS 64 /* per host */

struct addrset_host {
	char *name;
	uint32_t provider_id;
	int n_addrs; /* last known; kept when a resolution fails */
	struct policy_cidr addrs[ADDRSET_MAX_ADDRS];
};

struct addrset {
	int prov4_fd, prov6_fd;
	pthread_t thread;
	int thread_started, stopping;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int reload_pending;

	/* Guarded by lock: the providers as of the last policy. */
	struct policy_cidr *cidrs;
	uint32_t *cidr_provider;
	size_t n_cidrs;
	struct addrset_host *hosts;
	size_t n_hosts;
	unsigned resolve_min_s, resolve_max_s;

	uint32_t generation;
	int swept_once;
	unsigned next_s; /* seconds from the last round to the next */
	unsigned epoch;	 /* bumped when the providers change: a round in flight is redone */
};

static void providers_clear(struct addrset *as)
{
	for (size_t i = 0; i < as->n_hosts; i++)
		free(as->hosts[i].name);
	free(as->hosts);
	free(as->cidrs);
	free(as->cidr_provider);
	as->hosts = NULL;
	as->cidrs = NULL;
	as->cidr_provider = NULL;
	as->n_hosts = as->n_cidrs = 0;
}

/* Copies what the set needs from P, keeping the last-known addresses of hosts that stay. */
static int providers_copy(struct addrset *as, const struct policy *p)
{
	size_t nh = 0, nc = 0;
	struct addrset_host *hosts;
	struct policy_cidr *cidrs;
	uint32_t *owner;

	for (size_t i = 0; i < p->n_providers; i++) {
		nh += p->providers[i].n_hosts;
		nc += p->providers[i].n_cidrs;
	}
	hosts = calloc(nh + 1, sizeof(*hosts));
	cidrs = calloc(nc + 1, sizeof(*cidrs));
	owner = calloc(nc + 1, sizeof(*owner));
	if (!hosts || !cidrs || !owner)
		goto nomem;
	nh = nc = 0;
	for (size_t i = 0; i < p->n_providers; i++) {
		const struct policy_provider *pv = &p->providers[i];

		for (size_t j = 0; j < pv->n_cidrs; j++) {
			cidrs[nc] = pv->cidrs[j];
			owner[nc++] = i;
		}
		for (size_t j = 0; j < pv->n_hosts; j++) {
			struct addrset_host *h = &hosts[nh++];

			h->name = strdup(pv->hosts[j]);
			if (!h->name)
				goto nomem_hosts;
			h->provider_id = i;
			for (size_t k = 0; k < as->n_hosts; k++) {
				if (strcasecmp(as->hosts[k].name, h->name))
					continue;
				h->n_addrs = as->hosts[k].n_addrs;
				memcpy(h->addrs, as->hosts[k].addrs, sizeof(h->addrs));
			}
		}
	}
	providers_clear(as);
	as->epoch++;
	as->hosts = hosts;
	as->n_hosts = nh;
	as->cidrs = cidrs;
	as->cidr_provider = owner;
	as->n_cidrs = nc;
	as->resolve_min_s = p->capture.resolve_min_s ? p->capture.resolve_min_s : 5;
	as->resolve_max_s = p->capture.resolve_max_s ? p->capture.resolve_max_s : 300;
	return 0;
nomem_hosts:
	for (size_t i = 0; i < nh; i++)
		free(hosts[i].name);
nomem:
	free(hosts);
	free(cidrs);
	free(owner);
	return -ENOMEM;
}

/* The smallest TTL of the A and AAAA answers for NAME, or 0 when DNS gave none (a name from
 * /etc/hosts, or no resolver). Bounded: one try, one second. */
static unsigned dns_ttl(const char *name)
{
	struct __res_state st;
	unsigned char answer[4096];
	static const int types[] = {ns_t_a, ns_t_aaaa};
	unsigned ttl = 0;

	memset(&st, 0, sizeof(st));
	if (res_ninit(&st))
		return 0;
	st.retrans = 1;
	st.retry = 1;
	for (size_t t = 0; t < 2; t++) {
		int len = res_nquery(&st, name, ns_c_in, types[t], answer, sizeof(answer));
		ns_msg msg;
		ns_rr rr;

		/* A longer answer was truncated into the buffer: its length is not what we hold. */
		if (len < 0 || len > (int)sizeof(answer) || ns_initparse(answer, len, &msg))
			continue;
		for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
			if (ns_parserr(&msg, ns_s_an, i, &rr))
				break;
			if (!ttl || ns_rr_ttl(rr) < ttl)
				ttl = ns_rr_ttl(rr);
		}
	}
	res_nclose(&st);
	return ttl;
}

static int addr_from_ai(const struct addrinfo *ai, struct policy_cidr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (ai->ai_family == AF_INET) {
		ret->family = AF_INET;
		ret->prefixlen = 32;
		memcpy(ret->addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		return 0;
	}
	if (ai->ai_family == AF_INET6) {
		const uint8_t *a = ((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		if (!memcmp(a, mapped, 12)) {
			ret->family = AF_INET;
			ret->prefixlen = 32;
			memcpy(ret->addr, a + 12, 4);
		} else {
			ret->family = AF_INET6;
			ret->prefixlen = 128;
			memcpy(ret->addr, a, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Resolves H; on failure keeps its last addresses. Returns the seconds until it is due. */
static unsigned host_resolve(struct addrset_host *h, unsigned min_s, unsigned max_s)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	unsigned ttl;
	int err, n = 0;

	err = getaddrinfo(h->name, NULL, &hints, &res);
	if (err) {
		log_warn("resolve %s: %s; keeping its %d known address(es), retrying in %us",
			 h->name, gai_strerror(err), h->n_addrs, min_s);
		return min_s;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (n == ADDRSET_MAX_ADDRS) {
			log_warn("resolve %s: more than %d addresses; the rest are not captured by "
				 "name (add them to the provider's addresses)",
				 h->name, ADDRSET_MAX_ADDRS);
			break;
		}
		if (!addr_from_ai(ai, &h->addrs[n]))
			n++;
	}
	freeaddrinfo(res);
	h->n_addrs = n;
	ttl = dns_ttl(h->name);
	if (!ttl || ttl > max_s)
		ttl = max_s;
	if (ttl < min_s)
		ttl = min_s;
	return ttl;
}

static int prefix_put(struct addrset *as, const struct policy_cidr *c, uint32_t provider_id)
{
	struct aigw_provider_val val = {.provider_id = provider_id, .generation = as->generation};

	if (c->family == AF_INET) {
		struct aigw_lpm4_key k = {.prefixlen = c->prefixlen};

		memcpy(k.addr, c->addr, 4);
		return bpf_map_update_elem(as->prov4_fd, &k, &val, BPF_ANY) ? -errno : 0;
	}
	struct aigw_lpm6_key k6 = {.prefixlen = c->prefixlen};

	memcpy(k6.addr, c->addr, 16);
	return bpf_map_update_elem(as->prov6_fd, &k6, &val, BPF_ANY) ? -errno : 0;
}

/* Deletes entries of FD whose generation is older than the current one. */
static void map_sweep(struct addrset *as, int fd, size_t key_size)
{
	uint8_t key[sizeof(struct aigw_lpm6_key)], next[sizeof(struct aigw_lpm6_key)];
	uint8_t(*stale)[sizeof(struct aigw_lpm6_key)] = NULL;
	struct aigw_provider_val val;
	size_t n = 0, cap = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		/* One round of grace: an address a workload resolved just before the name moved
		 * is still in its cache; it stays captured until the round after. */
		if (!bpf_map_lookup_elem(fd, next, &val) && val.generation + 1 < as->generation) {
			if (n == cap) {
				void *grown =
				    realloc(stale, (cap = cap ? cap * 2 : 16) * sizeof(*stale));

				if (!grown)
					break;
				stale = grown;
			}
			memcpy(stale[n++], next, key_size);
		}
		memcpy(key, next, key_size);
		prev = key;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, stale[i]);
	free(stale);
}

static uint32_t map_max_generation(int fd, size_t key_size)
{
	uint8_t key[sizeof(struct aigw_lpm6_key)], next[sizeof(struct aigw_lpm6_key)];
	struct aigw_provider_val val;
	uint32_t max = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (!bpf_map_lookup_elem(fd, next, &val) && val.generation > max)
			max = val.generation;
		memcpy(key, next, key_size);
		prev = key;
	}
	return max;
}

/*
 * Resolves a copy of the hosts with the lock released, so that a reload (or the daemon) never
 * waits on DNS. Called and returns with the lock held. Returns 0 when the providers changed
 * meanwhile (the results are dropped: the caller runs the round again), else 1.
 */
static int resolve_hosts(struct addrset *as, unsigned *ret_next, int *ret_all)
{
	unsigned epoch = as->epoch, min_s = as->resolve_min_s, max_s = as->resolve_max_s;
	size_t n = as->n_hosts;
	struct addrset_host *snap = calloc(n + 1, sizeof(*snap));

	*ret_next = max_s;
	*ret_all = 1;
	if (!snap)
		return 1; /* keep the addresses known: nothing is lost by skipping a round */
	for (size_t i = 0; i < n; i++) {
		snap[i] = as->hosts[i];
		snap[i].name = strdup(as->hosts[i].name);
	}
	pthread_mutex_unlock(&as->lock);
	for (size_t i = 0; i < n; i++) {
		unsigned due = snap[i].name ? host_resolve(&snap[i], min_s, max_s) : min_s;

		if (due < *ret_next)
			*ret_next = due;
		if (!snap[i].n_addrs)
			*ret_all = 0;
	}
	pthread_mutex_lock(&as->lock);
	for (size_t i = 0; i < n; i++) {
		if (as->epoch == epoch) {
			as->hosts[i].n_addrs = snap[i].n_addrs;
			memcpy(as->hosts[i].addrs, snap[i].addrs, sizeof(snap[i].addrs));
		}
		free(snap[i].name);
	}
	free(snap);
	return as->epoch == epoch;
}

/* One round: resolve every host, write every prefix, sweep. Called with the lock held.
 * Returns the seconds until the next round. */
static unsigned addrset_round(struct addrset *as)
{
	unsigned next;
	int all_resolved, err;

	while (!resolve_hosts(as, &next, &all_resolved))
		; /* the providers changed while we resolved: again, with the new ones */
	as->generation++;
	for (size_t i = 0; i < as->n_cidrs; i++) {
		err = prefix_put(as, &as->cidrs[i], as->cidr_provider[i]);
		if (err)
			log_error("provider address set: %s", strerror(-err));
	}
	for (size_t i = 0; i < as->n_hosts; i++) {
		for (int j = 0; j < as->hosts[i].n_addrs; j++) {
			err = prefix_put(as, &as->hosts[i].addrs[j], as->hosts[i].provider_id);
			if (err)
				log_error("provider address set: %s", strerror(-err));
		}
	}
	if (all_resolved || as->swept_once) {
		map_sweep(as, as->prov4_fd, sizeof(struct aigw_lpm4_key));
		map_sweep(as, as->prov6_fd, sizeof(struct aigw_lpm6_key));
		as->swept_once = 1;
	}
	as->next_s = next;
	return next;
}

int addrset_new(int prov4_fd, int prov6_fd, const struct policy *p, struct addrset **ret_set)
{
	struct addrset *as = calloc(1, sizeof(*as));
	uint32_t g4, g6;
	int err;

	if (!as)
		return -ENOMEM;
	as->prov4_fd = prov4_fd;
	as->prov6_fd = prov6_fd;
	pthread_mutex_init(&as->lock, NULL);
	pthread_cond_init(&as->wake, NULL);
	err = providers_copy(as, p);
	if (err) {
		addrset_free(as);
		return err;
	}
	/* Continue the generations of a previous daemon's entries so they read as older. */
	g4 = map_max_generation(prov4_fd, sizeof(struct aigw_lpm4_key));
	g6 = map_max_generation(prov6_fd, sizeof(struct aigw_lpm6_key));
	as->generation = g4 > g6 ? g4 : g6;
	pthread_mutex_lock(&as->lock);
	addrset_round(as);
	pthread_mutex_unlock(&as->lock);
	*ret_set = as;
	return 0;
}

static void *addrset_thread(void *arg)
{
	struct addrset *as = arg;
	unsigned wait_s;
	struct timespec deadline;

	bgthread_batch();
	pthread_mutex_lock(&as->lock);
	wait_s = as->next_s;
	while (!as->stopping) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += wait_s;
		while (!as->stopping && !as->reload_pending &&
		       pthread_cond_timedwait(&as->wake, &as->lock, &deadline) != ETIMEDOUT)
			;
		if (as->stopping)
			break;
		as->reload_pending = 0;
		wait_s = addrset_round(as);
	}
	pthread_mutex_unlock(&as->lock);
	return NULL;
}

int addrset_start(struct addrset *as)
{
	int err = pthread_create(&as->thread, NULL, addrset_thread, as);

	if (err)
		return -err;
	as->thread_started = 1;
	return 0;
}

int addrset_reload(struct addrset *as, const struct policy *p)
{
	int err;

	pthread_mutex_lock(&as->lock);
	err = providers_copy(as, p);
	if (!err && as->thread_started) {
		as->reload_pending = 1; /* resolved on the set's own thread, not the caller's */
		pthread_cond_signal(&as->wake);
	} else if (!err) {
		addrset_round(as);
	}
	pthread_mutex_unlock(&as->lock);
	return err;
}

int addrset_lookup(int prov4_fd, int prov6_fd, int family, const uint8_t *addr,
		   uint32_t *ret_provider_id)
{
	struct aigw_provider_val val;

	if (family == AF_INET) {
		struct aigw_lpm4_key k = {.prefixlen = 32};

		memcpy(k.addr, addr, 4);
		if (bpf_map_lookup_elem(prov4_fd, &k, &val))
			return -ENOENT;
	} else {
		struct aigw_lpm6_key k6 = {.prefixlen = 128};

		memcpy(k6.addr, addr, 16);
		if (bpf_map_lookup_elem(prov6_fd, &k6, &val))
			return -ENOENT;
	}
	if (ret_provider_id)
		*ret_provider_id = val.provider_id;
	return 0;
}

int addrset_lookup_addr(int prov4_fd, int prov6_fd, const struct aigw_addr *a,
			uint32_t *ret_provider_id)
{
	uint32_t w[4], v4;

	if (a->family == AIGW_AF_INET)
		return addrset_lookup(prov4_fd, prov6_fd, AF_INET, a->addr, ret_provider_id);
	if (!addrset_lookup(prov4_fd, prov6_fd, AF_INET6, a->addr, ret_provider_id))
		return 0;
	memcpy(w, a->addr, sizeof(w));
	if (aigw_v6_embedded_v4(w, &v4) == AIGW_V4_NONE)
		return -ENOENT;
	return addrset_lookup(prov4_fd, prov6_fd, AF_INET, (const uint8_t *)&v4, ret_provider_id);
}

int addrset_host_addr(struct addrset *as, const char *host, uint16_t port,
		      struct aigw_addr *ret)
{
	int err = -ENOENT;

	pthread_mutex_lock(&as->lock);
	for (size_t i = 0; i < as->n_hosts && err; i++) {
		const struct addrset_host *h = &as->hosts[i];
		const struct policy_cidr *a;

		if (strcasecmp(h->name, host) || !h->n_addrs)
			continue;
		/* Spread over the addresses a name has, as a resolver's answer order would. */
		a = &h->addrs[(unsigned)rand() % (unsigned)h->n_addrs];
		memset(ret, 0, sizeof(*ret));
		ret->family = a->family == AF_INET ? AIGW_AF_INET : AIGW_AF_INET6;
		ret->port = htons(port);
		memcpy(ret->addr, a->addr, a->family == AF_INET ? 4 : 16);
		err = 0;
	}
	pthread_mutex_unlock(&as->lock);
	return err;
}

void addrset_free(struct addrset *as)
{
	if (!as)
		return;
	if (as->thread_started) {
		pthread_mutex_lock(&as->lock);
		as->stopping = 1;
		pthread_cond_signal(&as->wake);
		pthread_mutex_unlock(&as->lock);
		pthread_join(as->thread, NULL);
	}
	providers_clear(as);
	pthread_mutex_destroy(&as->lock);
	pthread_cond_destroy(&as->wake);
	free(as);
}
