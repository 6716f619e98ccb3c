/*
 * daemon.c: start-up order, the accept path, reload and shutdown.
 *
 * Start-up order matters for the fail-closed promise: the listeners are bound before the
 * programs are attached or taken over, so the window in which a redirected connection is
 * refused is as short as it can be, and nothing is ever let through. Their cookies are in the
 * programs' configuration before its generation is published: a connect reaches only these
 * sockets (capture.listen, listen6, api.listen), never another process's on the same port.
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <strings.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "admin/admin.h"
#include "admin/metrics.h"
#include "capture/addrset.h"
#include "capture/cgroups.h"
#include "capture/events.h"
#include "capture/flood.h"
#include "capture/loader.h"
#include "capture/netns.h"
#include "capture/sockdiag.h"
#include "daemon.h"
#include "ledger/audit.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"
#include "ledger/prices.h"
#include "ledger/prices_default.h"
#include "policy/ai_services.h"
#include "policy/policy.h"
#include "proxy/certs.h"
#include "proxy/classify.h"
#include "proxy/http1.h"
#include "proxy/gcp_token.h"
#include "proxy/keys.h"
#include "proxy/listener.h"
#include "proxy/passthrough.h"
#include "policy/govstate.h"
#include "policy/pipeline.h"
#include "proxy/route.h"
#include "proxy/upstream.h"
#include "proxy/workers.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/timefmt.h"

struct daemon {
	const struct daemon_options *opt;
	struct event_base *base;
	struct policy *policy;
	char cgroup_mount[PATH_MAX];
	char cgroup_path[PATH_MAX];
	struct cgroups *cgroups;
	struct audit_log *audit;
	struct event *audit_durable; /* strict durability: the writer settled a batch */
	struct flood *flood;	     /* denied attempts past the rate, counted */
	struct event *tick;	     /* each second: flood aggregates, lost capture events */
	uint64_t events_lost;	     /* AIGW_STAT_EVENT_DROPPED as last recorded */
	struct capture *capture;
	struct addrset *addrset;
	struct capture_events *events;
	struct listener *listen4, *listen6;
	struct netns_set *netns; /* the listeners in the captured tree's other namespaces */
	struct listener *api_listen; /* the explicit endpoint, when the policy has "api" */
	/* Their cookies: capture lets connects reach these sockets and no others. */
	uint64_t listen4_cookie, listen6_cookie, api_cookie;
	struct listener *api_unix;   /* the same on a UNIX socket: callers named by cgroup */
	struct event *sig_hup, *sig_term, *sig_int;
	struct certs *certs;
	struct upstream_options upstream_opt; /* each worker's pool is made with these */
	struct http_proxy_config http_cfg;    /* the workers' copies are made from this one */
	struct price_table *prices;  /* the policy's "prices", or the shipped table */
	struct policy *ai_catalogue; /* the shipped AI services; the policy's come first */
	struct keys *keys;	     /* the gateway-held provider keys */
	struct route_table *routes;  /* logical model names; one reference here */
	struct govstate *state;	     /* limits and budgets, persisted (state.path) */
	struct ledger *ledger;	     /* the cost ledger (ledger.path), or NULL */
	uint64_t next_conn_id;
	/* proxy.workers: intercepted connections are served there; this loop keeps the
	 * listeners, the capture events, passthroughs, admin, reloads and the timers */
	struct workers *workers;
	struct daemon_worker *wk; /* [n_workers] */
	unsigned n_workers;
	/* Connections that must go to worker 0, where the token exchanges run: set from the
	 * policy in force at load and reload (daemon_set_pins()). */
	int pin_any;	  /* a provider has a token source: without one, none is pinned */
	int pin_all;	  /* a route reaches a target with a token source: any call may */
	int pin_explicit; /* the explicit endpoint's calls may reach one */
	struct metrics *metrics;	 /* counted on this loop, served by admin */
	struct admin *admin;		 /* admin.listen, or NULL */
	struct admin_context admin_ctx;	 /* what admin reads: pointers into this struct */
};

/* What a worker owns: its loop's upstream pool and cgroup cache, and its copy of the proxy
 * configuration, swapped on its own thread at a reload (holding a reference to the policy and
 * the route table it points to). */
struct daemon_worker {
	struct daemon *d;
	unsigned idx;
	struct event_base *base;
	struct upstream_pool *pool;
	struct cgroups *cgroups;
	struct http_proxy_config cfg;
	struct http_proxy_ops ops;
	struct jsonw_memo client; /* the last call record's "client.address" and "client.port" */
	struct evdns_base *dns_left; /* gcp_token's, from STOP until LAST frees it */
};

/* One captured connection, from accept until it is classified, and for a passthrough until
 * its record. */
struct daemon_conn {
	struct daemon *d;
	uint64_t id;
	struct aigw_flow flow;
	struct aigw_addr client;
	struct timespec start;
	char start_time[TIMEFMT_LEN];
	const char *disposition; /* "passthrough", "passthrough_not_tls" */
	int has_flow;		 /* capture recorded this connection (else: no attribution) */
	char sni[256];
	/* What the ClientHello showed on a connection that is not intercepted, for its record:
	 * the AI service its SNI belongs to ("" if none; a copy, a reload may free the policy),
	 * and why it counts as fronting ("no_sni", "ech", "sni"; NULL if it does not). */
	char ai_service[128];
	const char *fronting;
	/* A passthrough's place among its workload's connections (limits.connections), given
	 * back by conn_free(); over_would_deny: it is over a cap that does not enforce. */
	struct pipe_conn_slot slot;
	int over_would_deny;
};

/* The capture programs' configuration: policy P's, with this daemon's listeners. */
static void config_from_policy(const struct daemon *d, const struct policy *p,
			       struct aigw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen4_cookie = d->listen4_cookie;
	c->listen6_cookie = d->listen6_cookie;
	if (d->api_listen) {
		netaddr_from_sockaddr((const struct sockaddr *)&p->api.listen, &c->api);
		c->api_cookie = d->api_cookie;
	}
	c->mode = p->capture.mode == POLICY_CAPTURE_OBSERVE ? AIGW_MODE_OBSERVE : AIGW_MODE_ENFORCE;
	c->exempt_mark = p->capture.exempt_mark;
	c->tls_port = htons(p->capture.tls_port);
	c->listen4_addr = p->capture.listen4.sin_addr.s_addr;
	c->listen4_port = p->capture.listen4.sin_port;
	memcpy(c->listen6_addr, &p->capture.listen6.sin6_addr, 16);
	c->listen6_port = p->capture.listen6.sin6_port;
	c->scope =
	    p->capture.scope == POLICY_SCOPE_PROVIDERS ? AIGW_SCOPE_PROVIDERS : AIGW_SCOPE_TLS;
	_Static_assert(POLICY_TLS_PORTS_MAX == AIGW_TLS_PORTS_MAX, "one bound");
	for (size_t i = 0; i < p->capture.n_tls_ports; i++)
		c->tls_ports[i] = htons(p->capture.tls_ports[i]);
}

static void http_config_from_policy(const struct policy *p, struct http_proxy_config *c)
{
	c->max_request_body = p->proxy.max_request_body;
	c->max_request_json_values = p->proxy.max_request_json_values;
	c->first_byte_ms = p->proxy.first_byte_timeout_ms;
	c->idle_ms = p->proxy.idle_timeout_ms;
	c->client_idle_ms = p->proxy.client_idle_timeout_ms;
	c->retries = p->routing.retries;
	c->retry_statuses = p->routing.retry_statuses;
	c->n_retry_statuses = p->routing.n_retry_statuses;
	c->backoff_ms = p->routing.backoff_ms;
	c->backoff_max_ms = p->routing.backoff_max_ms;
}

/* The policy's price table, or the one built in; problems go to stderr. */
static int prices_for(const struct policy *p, struct price_table **ret)
{
	if (p->prices)
		return prices_load(p->prices, stderr, ret);
	return prices_parse("the built-in price table", prices_default_json,
			    prices_default_json_len, stderr, ret);
}

/* Finishes REC and hands it to the audit log; with TO_LEDGER, a copy to the ledger too.
 * Returns the record's audit ticket, 0 when it was not queued. */
static uint64_t audit_record_to(struct daemon *d, struct jsonw *rec, int to_ledger)
{
	uint64_t ticket = 0;
	size_t len;
	char *text = jsonw_finish(rec, &len);
	int err;

	if (!text) {
		log_error("audit: out of memory building a record");
		return 0;
	}
	if (to_ledger && d->ledger)
		ledger_submit(d->ledger, text, len); /* it says itself when it drops */
	err = audit_write_text_ticket(d->audit, text, len, &ticket);
	if (err && err != -ENOBUFS) /* a full queue: the writer counts what it refused */
		log_error("audit: record not written: %s", strerror(-err));
	return err ? 0 : ticket;
}

/* The audit writer's marks, posted to each worker: its sessions' answers may go. */
struct durable_marks {
	uint64_t durable, lost;
};

static void durable_release_run(void *arg)
{
	struct durable_marks *m = arg;

	http_durable_release(m->durable, m->lost);
	free(m);
}

/* Strict durability: the audit writer settled a batch; answers whose record it holds go. */
static void on_audit_durable(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t n, durable, lost;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("audit: durability signal: %s", strerror(errno));
	audit_durable(d->audit, &durable, &lost);
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct durable_marks *m = malloc(sizeof(*m));

		if (m) {
			m->durable = durable;
			m->lost = lost;
		}
		if (!m || workers_post(d->workers, i, durable_release_run, m)) {
			log_error("audit: out of memory telling worker %u its records are durable", i);
			free(m);
		}
	}
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* Whether a denied attempt by A (NULL: nobody known) for REASON at BOOT_NS is recorded on its
 * own, or only counted into its second's capture.denied_aggregate (capture/flood.h). */
static int denial_admit(struct daemon *d, const struct aigw_attr *a, const char *reason,
			uint64_t boot_ns)
{
	struct cgroups_workload wl = {0};
	char comm[AIGW_COMM_LEN + 1] = "";

	if (a) {
		cgroups_workload(d->policy, cgroups_path(d->cgroups, a->sock_cgroup_id), &wl);
		memcpy(comm, a->comm, AIGW_COMM_LEN);
	}
	return flood_admit(d->flood, wl.name ? wl.name : "", comm, reason, boot_ns);
}

static uint64_t audit_record(struct daemon *d, struct jsonw *rec)
{
	return audit_record_to(d, rec, 0);
}

static void on_capture_event(const struct aigw_event *ev, void *arg)
{
	struct daemon *d = arg;

	/* A connect from a namespace where we do not listen yet: denied, and now served. */
	if (ev->reason == AIGW_REASON_NETNS_NO_LISTENER && d->netns &&
	    d->policy->capture.netns_listeners)
		netns_serve(d->netns, ev->attr.pid, ev->attr.netns_cookie);
	if (ev->action == AIGW_ACTION_DENY) {
		metrics_denied(d->metrics, capture_reason_name(ev->reason));
		if (!denial_admit(d, &ev->attr, capture_reason_name(ev->reason), ev->boot_ns))
			return;
	}
	audit_record(d, capture_event_to_json(ev, d->cgroups, d->policy));
}

static void on_flood_record(struct jsonw *rec, void *arg)
{
	audit_record(arg, rec);
}

/* Capture events the ring buffer had no room for: the verdicts stood, their records are
 * missing; this record says how many. */
static void record_events_lost(struct daemon *d)
{
	uint64_t counts[AIGW_STAT_MAX];
	char when[TIMEFMT_LEN];
	struct jsonw *rec;

	if (!d->capture || capture_stats(d->capture, counts) ||
	    counts[AIGW_STAT_EVENT_DROPPED] <= d->events_lost)
		return;
	rec = jsonw_new();
	if (rec) {
		timefmt_now(when);
		jsonw_str(rec, "time", when);
		jsonw_str(rec, "event.name", "capture.events_lost");
		jsonw_num(rec, "aigw.count", (double)(counts[AIGW_STAT_EVENT_DROPPED] - d->events_lost));
	}
	audit_record(d, rec);
	d->events_lost = counts[AIGW_STAT_EVENT_DROPPED];
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	capture_events_drain(d->events); /* what the ring holds counts in its own second */
	flood_tick(d->flood, boottime_ns());
	record_events_lost(d);
}

/* The aggregation of denied attempts and the count of lost capture events, once a second.
 * Drops counted before this daemon started are not recorded again (a restarted daemon would
 * count them twice): the baseline is what the counter says now. */
static int denials_open(struct daemon *d)
{
	uint64_t counts[AIGW_STAT_MAX];
	int err = flood_new(on_flood_record, d, &d->flood);

	if (err)
		return err;
	if (!capture_stats(d->capture, counts))
		d->events_lost = counts[AIGW_STAT_EVENT_DROPPED];
	d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	if (!d->tick || event_add(d->tick, &(struct timeval){1, 0}))
		return -ENOMEM;
	return 0;
}

static void add_addr(struct jsonw *rec, const char *addr_key, const char *port_key,
		     const struct aigw_addr *a)
{
	char buf[NETADDR_STRLEN];

	jsonw_str(rec, addr_key, netaddr_format_ip(a, buf, sizeof(buf)));
	jsonw_num(rec, port_key, ntohs(a->port));
}

/* What the ClientHello of a connection that was not intercepted showed: an AI service, a
 * fronting attempt. */
static void add_hello_findings(struct jsonw *rec, const struct daemon_conn *conn)
{
	if (conn->ai_service[0])
		jsonw_str(rec, "aigw.ai_service", conn->ai_service);
	if (conn->fronting) {
		jsonw_bool(rec, "aigw.fronting", 1);
		jsonw_str(rec, "aigw.fronting_kind", conn->fronting);
	}
}

/* The only way a daemon_conn is freed: its connection's place goes back with it. */
static void conn_free(struct daemon_conn *conn)
{
	limits_conn_release(&conn->slot, conn->d->state);
	free(conn);
}

static void on_passthrough_done(const struct passthrough_result *r, void *arg)
{
	struct daemon_conn *conn = arg;
	struct daemon *d = conn->d;
	const struct policy *p = d->policy;
	struct timespec end;
	struct jsonw *rec = jsonw_new();

	clock_gettime(CLOCK_MONOTONIC, &end);
	metrics_passthrough(d->metrics);
	if (rec) {
		jsonw_str(rec, "time", conn->start_time);
		jsonw_str(rec, "event.name", "proxy.connection");
		jsonw_num(rec, "aigw.connection_id", (double)conn->id);
		jsonw_str(rec, "aigw.disposition", conn->disposition);
		if (conn->sni[0])
			jsonw_str(rec, "tls.client.server_name", conn->sni);
		add_hello_findings(rec, conn);
		add_addr(rec, "server.address", "server.port", &conn->flow.orig_dst);
		add_addr(rec, "client.address", "client.port", &conn->client);
		if (conn->flow.provider_id < p->n_providers)
			jsonw_str(rec, "gen_ai.system", p->providers[conn->flow.provider_id].name);
		cgroups_attr_to_json(d->cgroups, p, &conn->flow.attr, rec);
		jsonw_num(rec, "aigw.bytes_sent", (double)r->bytes_up);
		jsonw_num(rec, "aigw.bytes_received", (double)r->bytes_down);
		jsonw_num(rec, "aigw.duration_ms",
			  (end.tv_sec - conn->start.tv_sec) * 1e3 +
			      (end.tv_nsec - conn->start.tv_nsec) / 1e6);
		jsonw_str(rec, "aigw.passthrough.end", passthrough_end_name(r->end));
		if (r->connect_error || r->error)
			jsonw_str(rec, "error.type",
				  strerror(r->connect_error ? r->connect_error : r->error));
		if (conn->over_would_deny) {
			jsonw_str(rec, "aigw.reason", "connection_limit");
			jsonw_str(rec, "aigw.policy.rule", "limits.connections");
			jsonw_str(rec, "aigw.policy.action", "would_deny");
		}
	}
	audit_record_to(d, rec, conn->ai_service[0] != 0); /* shadow AI */
	conn_free(conn);
}

static void conn_refuse(struct daemon_conn *conn, int fd, const char *reason, const char *detail)
{
	struct daemon *d = conn->d;
	struct jsonw *rec;

	close(fd);
	metrics_denied(d->metrics, reason);
	if (!denial_admit(d, conn->has_flow ? &conn->flow.attr : NULL, reason, boottime_ns())) {
		conn_free(conn);
		return;
	}
	rec = jsonw_new();
	if (rec) {
		jsonw_str(rec, "time", conn->start_time);
		jsonw_str(rec, "event.name", "proxy.refused");
		jsonw_num(rec, "aigw.connection_id", (double)conn->id);
		jsonw_str(rec, "aigw.reason", reason);
		if (detail)
			jsonw_str(rec, "error.type", detail);
		if (conn->sni[0])
			jsonw_str(rec, "tls.client.server_name", conn->sni);
		add_hello_findings(rec, conn);
		add_addr(rec, "client.address", "client.port", &conn->client);
		if (conn->has_flow) {
			add_addr(rec, "server.address", "server.port", &conn->flow.orig_dst);
			cgroups_attr_to_json(d->cgroups, d->policy, &conn->flow.attr, rec);
		}
	}
	audit_record_to(d, rec, conn->ai_service[0] != 0); /* shadow AI */
	conn_free(conn);
}

/*
 * A passthrough holds a place among its workload's connections (limits.connections) as an
 * intercepted connection does: a workload at its cap cannot open more by talking to other
 * sites. Returns the refusal's detail when the cap enforces and this one is over it, else
 * NULL (and marks an over that does not enforce, for the record).
 */
static const char *conn_take_place(struct daemon_conn *conn, char *buf, size_t size)
{
	struct daemon *d = conn->d;
	struct cgroups_workload cw;
	const struct policy_workload *wl;

	if (!conn->has_flow)
		return NULL;
	cgroups_workload(d->policy, cgroups_path(d->cgroups, conn->flow.attr.sock_cgroup_id), &cw);
	wl = cw.name ? policy_workload_by_name(d->policy, cw.name) : NULL;
	limits_conn_take(&conn->slot, d->state, wl);
	if (!conn->slot.over)
		return NULL;
	if (!wl->limits.enforce) {
		conn->over_would_deny = 1;
		return NULL;
	}
	snprintf(buf, size, "workload %s has more than %u connections open, its limit", wl->name,
		 wl->limits.connections);
	return buf;
}

static void conn_passthrough(struct daemon_conn *conn, int fd, const char *disposition)
{
	struct daemon *d = conn->d;
	int err;

	char why[200];
	const char *over = conn_take_place(conn, why, sizeof(why));

	if (over) {
		conn_refuse(conn, fd, "connection_limit", over);
		return;
	}
	conn->disposition = disposition;
	err = passthrough_start(d->base, fd, &conn->flow.orig_dst, d->policy->capture.exempt_mark,
				d->policy->proxy.connect_timeout_ms / 1000 + 1,
				d->policy->proxy.passthrough_idle_timeout_ms, on_passthrough_done,
				conn);
	if (err) {
		struct passthrough_result r = {.connect_error = -err,
					       .end = PASSTHROUGH_END_CONNECT_FAILED};

		on_passthrough_done(&r, conn);
	}
}

/* The http_proxy_ops of worker ARG: they run on its thread. */
/* The client address at SRC (a struct aigw_addr), as a call's record names it. */
static void add_client(struct jsonw *rec, const void *src)
{
	add_addr(rec, "client.address", "client.port", src);
}

static uint64_t on_http_record(struct jsonw *rec, const struct http_conn_info *info, void *arg)
{
	struct daemon_worker *wk = arg;

	jsonw_memo_members(rec, &wk->client, &info->client, sizeof(info->client), add_client);
	if (!info->explicit_endpoint || info->local_peer) /* else the key's workload */
		cgroups_attr_to_json(wk->cgroups, wk->cfg.policy, &info->flow.attr, rec);
	jsonw_ku64(rec, "aigw.worker", wk->idx);
	return audit_record_to(wk->d, rec, 1); /* calls: the ledger keeps them */
}

static void on_http_event(struct jsonw *rec, void *arg)
{
	struct daemon_worker *wk = arg;

	audit_record(wk->d, rec);
}

static void on_http_call_end(const struct http_call_end *e, void *arg)
{
	struct daemon *d = ((struct daemon_worker *)arg)->d;
	char reason[80];

	metrics_call_end(d->metrics, e);
	if (e->denied_by[0]) {
		snprintf(reason, sizeof(reason), "policy_%s", e->denied_by);
		metrics_denied(d->metrics, reason);
	}
}

static void on_breaker_opened(const char *provider, const char *model, void *arg)
{
	struct daemon *d = ((struct daemon_worker *)arg)->d;

	metrics_breaker_opened(d->metrics, provider, model);
}

static int on_http_resolve(const char *host, uint16_t port, struct aigw_addr *ret, void *arg)
{
	struct daemon *d = ((struct daemon_worker *)arg)->d;

	return d->addrset ? addrset_host_addr(d->addrset, host, port, ret) : -ENOENT;
}

/* --- handing connections to the workers --- */

/* A connection on its way to a worker: its socket, its TLS (NULL: plain HTTP) and what is
 * known of it. Owned by the post until handoff_run() takes it. */
struct daemon_handoff {
	struct daemon_worker *wk;
	int fd;
	SSL *ssl;
	struct http_conn_info info;
};

/* On the worker: the connection's bufferevent on its loop, and its session. */
static void handoff_run(void *arg)
{
	struct daemon_handoff *h = arg;
	struct daemon_worker *wk = h->wk;
	struct bufferevent *bev;

	if (h->ssl) /* libevent frees SSL when this fails (BEV_OPT_CLOSE_ON_FREE) */
		bev = bufferevent_openssl_socket_new(wk->base, h->fd, h->ssl,
						     BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	else
		bev = bufferevent_socket_new(wk->base, h->fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		log_error("worker %u: connection %llu: out of memory", wk->idx,
			  (unsigned long long)h->info.conn_id);
		close(h->fd);
	} else {
		http_session_start(wk->base, bev, &h->info, &wk->cfg, wk->pool, &wk->ops);
	}
	free(h);
}

/* Whether a target of R gets its key by a token exchange. */
static int route_has_tokens(const struct keys *keys, const struct route *r)
{
	for (size_t i = 0; i < r->n_targets; i++)
		if (keys_tokens(keys, r->targets[i].provider))
			return 1;
	return 0;
}

/* Which connections may carry calls to a target with a token source (Vertex AI), for KEYS
 * and ROUTES: every one when a route (a logical name, a fallback chain) reaches one, since any
 * app may ask for that model; else the explicit endpoint when the default route of a family
 * does. Once per policy, not per accept. */
static void daemon_set_pins(struct daemon *d, const struct policy *p, const struct keys *keys,
			    const struct route_table *routes)
{
	d->pin_any = 0;
	d->pin_all = 0;
	d->pin_explicit = 0;
	for (size_t i = 0; i < p->n_providers && !d->pin_any; i++)
		d->pin_any = keys_tokens(keys, p->providers[i].name) != NULL;
	for (size_t i = 0; i < routes->n_routes && !d->pin_all; i++)
		d->pin_all = route_has_tokens(keys, &routes->routes[i]);
	/* no adapter reads a call as of the Vertex family (its paths are read as Anthropic's or
	 * Gemini's): the explicit endpoint never takes that family's default */
	for (size_t i = 0; i < POLICY_API_N && !d->pin_explicit; i++)
		d->pin_explicit = i != POLICY_API_VERTEX &&
				  route_has_tokens(keys, &routes->defaults[i]);
	d->pin_explicit |= d->pin_all;
}

/*
 * The worker a connection goes to: round robin, but a call that can reach a target whose key
 * is minted by a token exchange (Vertex AI) is served by worker 0, where its token source
 * runs (one exchange for all the calls waiting, proxy/gcp_token.h): a connection to such a
 * provider, and those daemon_set_pins() found can be routed to one. PROVIDER NULL: the
 * explicit endpoint.
 */
static unsigned daemon_pick_worker(struct daemon *d, const char *provider)
{
	if (!d->pin_any)
		return workers_next(d->workers);
	if (provider ? d->pin_all || keys_tokens(d->keys, provider) : d->pin_explicit)
		return 0;
	return workers_next(d->workers);
}

/* Hands FD (and SSL, NULL for plain HTTP) to a worker; INFO is copied. 0, or -ENOMEM (the
 * caller still owns FD and SSL). */
static int daemon_handoff(struct daemon *d, int fd, SSL *ssl, const struct http_conn_info *info)
{
	struct daemon_handoff *h = malloc(sizeof(*h));
	unsigned idx = daemon_pick_worker(d, info->explicit_endpoint ? NULL : info->provider);

	if (!h)
		return -ENOMEM;
	h->wk = &d->wk[idx];
	h->fd = fd;
	h->ssl = ssl;
	h->info = *info;
	if (workers_post(d->workers, idx, handoff_run, h)) {
		free(h);
		return -ENOMEM;
	}
	return 0;
}

/* A plain connection (the explicit endpoint) to a worker, or closed. */
static void daemon_handoff_plain(struct daemon *d, int fd, const struct http_conn_info *info)
{
	if (daemon_handoff(d, fd, NULL, info))
		close(fd);
}

/* A configured app at the explicit endpoint: plain HTTP, named by its gateway key. */
static void on_api_accept(int fd, const struct sockaddr *peer, void *arg)
{
	struct daemon *d = arg;
	struct http_conn_info info = {.conn_id = ++d->next_conn_id, .explicit_endpoint = 1};

	netaddr_from_sockaddr(peer, &info.client);
	evutil_make_socket_nonblocking(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	daemon_handoff_plain(d, fd, &info);
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/* The cgroup v2 path of process PID ("/apps/billing.service") into BUF. */
static int proc_cgroup(pid_t pid, char *buf, size_t size)
{
	char path[64], line[PATH_MAX];
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (!(f = fopen(path, "r")))
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(buf, size, "%s", line + 3);
		err = 0;
	}
	fclose(f);
	return err;
}

static void proc_comm(pid_t pid, char *buf, size_t size)
{
	char path[64], line[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (!(f = fopen(path, "r")))
		return;
	if (fgets(line, sizeof(line), f))
		snprintf(buf, size, "%.*s", (int)strcspn(line, "\n"), line);
	fclose(f);
}

/* Whether cgroup PATH is the captured cgroup or below it. */
static int in_captured_tree(const struct daemon *d, const char *path)
{
	const char *root = d->policy->capture.cgroup;
	size_t n = strlen(root);

	if (!strcmp(root, "/"))
		return 1;
	return !strncmp(path, root, n) && (path[n] == 0 || path[n] == '/');
}

/*
 * Who is at the other end of a UNIX socket: the kernel's word (SO_PEERCRED) for the pid, uid
 * and gid; /proc for that process's cgroup and name, read while the kernel's pidfd for the
 * peer (SO_PEERPIDFD) shows the process is still the one that connected, not a reused pid.
 * Only callers inside the captured cgroup are named this way: elsewhere a user may create
 * cgroups of any name. Returns 0, or -errno with WHY saying why the caller is refused.
 */
static int unix_peer_attr(struct daemon *d, int fd, struct aigw_attr *a, char *cgroup,
			  size_t cgroup_size, const char **why)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char full[2 * PATH_MAX];
	struct stat st;
	int pidfd = -1, err;

	*why = "caller_unknown";
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	a->pid = a->tid = cred.pid;
	a->uid = cred.uid;
	a->gid = cred.gid;
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len)) {
		if (errno != ENOPROTOOPT) { /* the peer has gone: its pid may be another's */
			*why = "caller_gone";
			return -errno;
		}
		pidfd = -1; /* a kernel before 6.5: the pid alone */
	}
	proc_comm(cred.pid, a->comm, sizeof(a->comm));
	err = proc_cgroup(cred.pid, cgroup, cgroup_size);
	if (!err && pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0))
		err = -ESRCH; /* gone: the pid may name another process by now */
	if (pidfd >= 0)
		close(pidfd);
	snprintf(full, sizeof(full), "%s%s", d->cgroup_mount, cgroup);
	if (!err && stat(full, &st))
		err = -errno;
	if (err)
		return err;
	a->sock_cgroup_id = a->task_cgroup_id = st.st_ino; /* cgroup2: the inode is the id */
	*why = "outside_captured_cgroup";
	return in_captured_tree(d, cgroup) ? 0 : -EACCES;
}

static void api_unix_refused(struct daemon *d, const struct aigw_attr *a, const char *cgroup,
			     const char *why, int err)
{
	struct jsonw *rec = jsonw_new();
	char when[TIMEFMT_LEN];

	log_warn("api.socket: a caller refused (%s): pid %d, cgroup %s", why, (int)a->pid,
		 cgroup[0] ? cgroup : "?");
	metrics_denied(d->metrics, why);
	if (!rec)
		return;
	timefmt_now(when);
	jsonw_str(rec, "time", when);
	jsonw_str(rec, "event.name", "proxy.refused");
	jsonw_str(rec, "aigw.reason", why);
	jsonw_str(rec, "error.type", strerror(-err));
	if (cgroup[0])
		jsonw_str(rec, "aigw.cgroup.path", cgroup);
	jsonw_num(rec, "process.pid", a->pid);
	jsonw_num(rec, "process.user.id", a->uid);
	audit_record(d, rec);
}

/* The workload of cgroup PATH, fixed for the connection's life (its rules are looked up by
 * this name for each call, so a cgroup removed later still names it). */
static void info_name_workload(struct daemon *d, struct http_conn_info *info, const char *path)
{
	struct cgroups_workload wl;

	cgroups_workload(d->policy, path, &wl);
	snprintf(info->workload, sizeof(info->workload), "%s", wl.name ? wl.name : "");
	snprintf(info->team, sizeof(info->team), "%s", wl.team ? wl.team : "");
	info->own_keys = wl.own_keys;
}

/* A configured app on the explicit endpoint's UNIX socket: named by its cgroup. */
static void on_api_unix_accept(int fd, const struct sockaddr *peer, void *arg)
{
	struct daemon *d = arg;
	struct http_conn_info info = {
	    .conn_id = ++d->next_conn_id, .explicit_endpoint = 1, .local_peer = 1};
	char cgroup[PATH_MAX] = "";
	const char *why;
	int err = unix_peer_attr(d, fd, &info.flow.attr, cgroup, sizeof(cgroup), &why);

	if (err) {
		api_unix_refused(d, &info.flow.attr, cgroup, why, err);
		close(fd);
		return;
	}
	info_name_workload(d, &info, cgroup);
	info.own_keys = 0; /* the explicit endpoint always goes with the gateway's keys */
	evutil_make_socket_nonblocking(fd);
	daemon_handoff_plain(d, fd, &info);
}

/* Whether a daemon serves PATH already (a socket there that accepts a connection). */
static int socket_live(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), live;

	if (fd < 0)
		return 0;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* never waits: a full backlog (EAGAIN) is a live daemon too */
	live = !connect(fd, (struct sockaddr *)&sun, sizeof(sun)) || errno == EAGAIN;
	close(fd);
	return live;
}

/* The UNIX socket: a stale one from an earlier run is replaced, a live one (another daemon's)
 * or anything else at that path is not. Created with its mode (0666: any local process may
 * connect; only those in the captured cgroup are served), never chmod'ed after. */
static int api_unix_open(struct daemon *d, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old_mask;
	int err;

	if (!lstat(path, &st) && (!S_ISSOCK(st.st_mode) || socket_live(path))) {
		log_error("api.socket %s exists and is %s; refusing to replace it", path,
			  S_ISSOCK(st.st_mode) ? "served by another process" : "not a socket");
		return -EEXIST;
	}
	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	old_mask = umask(0111); /* the socket is made 0666: no chmod on a path after the fact */
	err = listener_new(d->base, (const struct sockaddr *)&sun, sizeof(sun), on_api_unix_accept,
			   d, &d->api_unix);
	umask(old_mask);
	if (err)
		log_error("listen on api.socket %s: %s", path, strerror(-err));
	return err;
}

/* A provider host: terminate TLS with a minted leaf and serve HTTP. */
static void conn_intercept(struct daemon_conn *conn, int fd, const struct policy_provider *pv,
			   const char *sni)
{
	struct daemon *d = conn->d;
	struct http_conn_info info = {
	    .conn_id = conn->id, .flow = conn->flow, .client = conn->client};
	SSL_CTX *ctx = certs_server_ctx(d->certs, sni);
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;

	if (!ssl) {
		conn_refuse(conn, fd, "tls_setup_failed", strerror(errno ? errno : ENOMEM));
		return;
	}
	snprintf(info.sni, sizeof(info.sni), "%s", sni);
	snprintf(info.provider, sizeof(info.provider), "%s", pv->name);
	info.family = pv->api;
	info_name_workload(d, &info, cgroups_path(d->cgroups, conn->flow.attr.sock_cgroup_id));
	if (daemon_handoff(d, fd, ssl, &info)) {
		SSL_free(ssl);
		conn_refuse(conn, fd, "tls_setup_failed", "out of memory");
		return;
	}
	conn_free(conn);
}

/*
 * Why a ClientHello that names no provider host (or one we do not intercept) is fronting, or
 * NULL: it goes to a provider's address, so a call to the provider could ride inside it with
 * "Host: api.openai.com" that we would never see. No SNI, an ECH (the real name is encrypted),
 * or another name.
 */
static const char *hello_fronting(const struct daemon *d, const struct daemon_conn *conn,
				  const struct clienthello *h)
{
	if (h->has_sni && h->ech == CLIENTHELLO_ECH_NONE &&
	    policy_provider_by_host(d->policy, h->sni))
		return NULL; /* a provider's own name, left alone only without a CA (observe) */
	if (addrset_lookup_addr(capture_map_fd(d->capture, CAPTURE_MAP_PROV4),
				capture_map_fd(d->capture, CAPTURE_MAP_PROV6), &conn->flow.orig_dst,
				NULL))
		return NULL;
	return !h->has_sni ? "no_sni" : h->ech != CLIENTHELLO_ECH_NONE ? "ech" : "sni";
}

/*
 * The ClientHello decides: a provider host is intercepted; fronting to a provider address and
 * an AI service outside the providers are refused or spliced as the policy says; anything else
 * is another site on a shared address, spliced untouched (its bytes are not ours to read).
 */
static void conn_decide_tls(struct daemon_conn *conn, int fd, const struct clienthello *h)
{
	struct daemon *d = conn->d;
	const struct policy *p = d->policy;
	const struct policy_provider *pv;
	const char *ai;

	snprintf(conn->sni, sizeof(conn->sni), "%s", h->sni);
	pv = h->has_sni && d->certs ? policy_provider_by_host(p, h->sni) : NULL;
	if (pv) {
		conn_intercept(conn, fd, pv, h->sni);
		return;
	}
	conn->fronting = hello_fronting(d, conn, h);
	ai = ai_services_match(p, d->ai_catalogue, h->sni);
	if (ai)
		snprintf(conn->ai_service, sizeof(conn->ai_service), "%s", ai);
	if (conn->fronting && p->capture.fronting == POLICY_FRONTING_DENY)
		conn_refuse(conn, fd, "fronting", NULL);
	else if (ai && p->capture.unsanctioned_ai == POLICY_UNSANCTIONED_AI_DENY)
		conn_refuse(conn, fd, "unsanctioned_ai", NULL);
	else
		conn_passthrough(conn, fd, "passthrough");
}

static void on_classified(int fd, const struct classify_result *r, void *arg)
{
	struct daemon_conn *conn = arg;
	struct daemon *d = conn->d;

	switch (r->kind) {
	case CLASSIFY_TLS:
		conn_decide_tls(conn, fd, &r->hello);
		return;
	case CLASSIFY_NOT_TLS:
		if (d->policy->proxy.non_tls == POLICY_NON_TLS_PASSTHROUGH)
			conn_passthrough(conn, fd, "passthrough_not_tls");
		else
			conn_refuse(conn, fd, "not_tls", NULL);
		return;
	case CLASSIFY_FAILED:
		conn_refuse(conn, fd,
			    r->err == -ETIMEDOUT    ? "client_silent"
			    : r->err == -ECONNRESET ? "client_closed"
			    : r->err == -ESHUTDOWN  ? "shutdown"
						    : "bad_client_hello",
			    strerror(-r->err));
		return;
	}
}

/* A connection on a capture listener of the namespace NETNS_COOKIE; SD asks for its sockets
 * there (NULL: the daemon's own). */
static void on_netns_accept(int fd, const struct sockaddr *peer, struct sockdiag *sd,
			    uint64_t netns_cookie, void *arg)
{
	struct daemon *d = arg;
	struct daemon_conn *conn = calloc(1, sizeof(*conn));
	struct sockaddr_storage local;
	int err;

	if (!conn) {
		close(fd);
		return;
	}
	conn->d = d;
	conn->id = ++d->next_conn_id;
	netaddr_from_sockaddr(peer, &conn->client);
	clock_gettime(CLOCK_MONOTONIC, &conn->start);
	timefmt_now(conn->start_time);
	/* A connection capture did not redirect (someone dialled the listener directly, or the
	 * flow record was lost) is refused and recorded, never forwarded; so is one that presents
	 * a record another socket made (it bound that socket's address:port). */
	if (getsockname(fd, (struct sockaddr *)&local, &(socklen_t){sizeof(local)}))
		err = -errno;
	else
		err = capture_flow_take(d->capture, sd, netns_cookie, peer,
					(struct sockaddr *)&local, &conn->flow);
	conn->has_flow = !err;
	if (err == -ENOENT) {
		conn_refuse(conn, fd, "no_capture_record", NULL);
		return;
	}
	if (err) {
		conn_refuse(conn, fd, "stale_flow_record", err == -ESTALE ? NULL : strerror(-err));
		return;
	}
	metrics_captured(d->metrics);
	evutil_make_socket_nonblocking(fd);
	/* Answers are written in pieces (head, events): none may wait for a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	if (classify_start(d->base, fd, d->policy->proxy.tls_handshake_timeout_ms, on_classified,
			   conn))
		conn_refuse(conn, fd, "out_of_memory", NULL);
}

static void on_accept(int fd, const struct sockaddr *peer, void *arg)
{
	struct daemon *d = arg;

	on_netns_accept(fd, peer, NULL, netns_home_cookie(d->netns), d);
}

static void on_netns_record(struct jsonw *rec, void *arg)
{
	audit_record(arg, rec);
}

/* After capture is loaded: the aigw_netns map names this namespace's listeners. */
static int netns_open(struct daemon *d)
{
	struct netns_config cfg = {
	    .map_fd = capture_map_fd(d->capture, CAPTURE_MAP_NETNS),
	    .cgroup_path = d->cgroup_path,
	    .listen4 = d->policy->capture.listen4,
	    .listen6 = d->policy->capture.listen6,
	    .home4 = d->listen4,
	    .home6 = d->listen6,
	    .max = d->policy->capture.netns_max,
	    .accept = on_netns_accept,
	    .record = on_netns_record,
	    .arg = d,
	};

	return netns_set_new(d->base, &cfg, &d->netns);
}

static int listeners_open(struct daemon *d)
{
	const struct policy *p = d->policy;
	int err;

	err = listener_new(d->base, (const struct sockaddr *)&p->capture.listen4,
			   sizeof(p->capture.listen4), on_accept, d, &d->listen4);
	if (!err)
		err = listener_cookie(d->listen4, &d->listen4_cookie);
	if (err) {
		log_error("listen on capture.listen: %s", strerror(-err));
		return err;
	}
	err = listener_new(d->base, (const struct sockaddr *)&p->capture.listen6,
			   sizeof(p->capture.listen6), on_accept, d, &d->listen6);
	if (!err)
		err = listener_cookie(d->listen6, &d->listen6_cookie);
	if (err) {
		log_error("listen on capture.listen6: %s (IPv6 destinations would be refused)",
			  strerror(-err));
		return err;
	}
	return 0;
}

/* --- connections that predate the capture --- */

static int cgroup_in_capture(struct daemon *d, uint64_t id)
{
	const char *path = cgroups_path(d->cgroups, id);
	const char *root = d->policy->capture.cgroup;
	size_t n = strlen(root);

	if (!path)
		return 0;
	if (!strcmp(root, "/"))
		return 1;
	return !strncmp(path, root, n) && (path[n] == 0 || path[n] == '/');
}

static int preexisting_match(const struct sockdiag_sock *s, void *arg)
{
	struct daemon *d = arg;
	const uint8_t *v4 = sockdiag_dst_v4(s);
	int fd4 = capture_map_fd(d->capture, CAPTURE_MAP_PROV4);
	int fd6 = capture_map_fd(d->capture, CAPTURE_MAP_PROV6);

	if (!cgroup_in_capture(d, s->cgroup_id))
		return 0;
	if (v4)
		return addrset_lookup(fd4, fd6, AF_INET, v4, NULL) == 0;
	return addrset_lookup(fd4, fd6, AF_INET6, s->dst, NULL) == 0;
}

static void preexisting_report(const struct sockdiag_sock *s, int err, void *arg)
{
	struct daemon *d = arg;
	struct aigw_addr dst = {.port = htons(s->dport)}, src = {.port = htons(s->sport)};
	const uint8_t *v4 = sockdiag_dst_v4(s);
	struct cgroups_workload wl;
	const char *path = cgroups_path(d->cgroups, s->cgroup_id);
	char when[TIMEFMT_LEN], sbuf[NETADDR_STRLEN], dbuf[NETADDR_STRLEN];
	struct jsonw *rec = jsonw_new();

	if (!rec)
		return;
	dst.family = v4 ? AIGW_AF_INET : AIGW_AF_INET6;
	memcpy(dst.addr, v4 ? v4 : s->dst, v4 ? 4 : 16);
	src.family = s->family == AF_INET ? AIGW_AF_INET : AIGW_AF_INET6;
	memcpy(src.addr, s->src, 16);
	timefmt_now(when);
	cgroups_workload(d->policy, path, &wl);
	jsonw_str(rec, "time", when);
	jsonw_str(rec, "event.name", "capture.destroy_preexisting");
	jsonw_str(rec, "aigw.action", err ? "destroy_failed" : "destroyed");
	add_addr(rec, "server.address", "server.port", &dst);
	add_addr(rec, "client.address", "client.port", &src);
	jsonw_str(rec, "aigw.workload", wl.name ? wl.name : "");
	if (wl.team)
		jsonw_str(rec, "aigw.team", wl.team);
	if (path)
		jsonw_str(rec, "aigw.cgroup.path", path);
	jsonw_num(rec, "aigw.cgroup.id", (double)s->cgroup_id);
	jsonw_num(rec, "process.user.id", s->uid);
	jsonw_num(rec, "aigw.socket_inode", (double)s->inode);
	if (err)
		jsonw_str(rec, "error.type", strerror(-err));
	log_info("%s pre-existing connection %s -> %s from %s (workload %s)",
		 err ? "could not destroy" : "destroyed", netaddr_format(&src, sbuf, sizeof(sbuf)),
		 netaddr_format(&dst, dbuf, sizeof(dbuf)), path ? path : "?",
		 wl.name ? wl.name : "?");
	audit_record(d, rec);
}

static void destroy_preexisting(struct daemon *d)
{
	unsigned n = 0;
	int err;

	if (!d->policy->capture.destroy_preexisting)
		return;
	err = sockdiag_destroy_matching(preexisting_match, preexisting_report, d, &n);
	if (err)
		log_error("finding connections that predate capture: %s", strerror(-err));
	else if (n)
		log_info("destroyed %u connection(s) that predate capture", n);
}

/* --- reload and signals --- */

/* What a reload cannot change without a restart, with the reason. */
/* Whether an optional listen address differs between two policies. */
static int listen_changed(int had, const struct sockaddr_storage *old, socklen_t old_len, int has,
			  const struct sockaddr_storage *new, socklen_t new_len)
{
	return had != has || (had && (old_len != new_len || memcmp(old, new, old_len)));
}

/* --- the workers' configuration --- */

/*
 * What a reload replaced and the workers may still read: freed by the last worker to take
 * the new configuration (left counts those still to), never while one could read it.
 */
struct daemon_retired {
	struct price_table *prices;
	struct keys *keys;
	atomic_uint left;
};

/* A worker's new configuration, with its own references to the policy and route table. */
struct daemon_config_post {
	struct daemon_worker *wk;
	struct http_proxy_config cfg;
	struct daemon_retired *retired;
};

/* A worker's reference to CFG's policy and route table (its copy of the proxy's). */
static void worker_config_take(struct http_proxy_config *cfg, const struct http_proxy_config *from)
{
	*cfg = *from;
	policy_ref(cfg->policy);
	route_table_ref(cfg->routes);
}

static void worker_config_drop(struct http_proxy_config *cfg)
{
	policy_free(cfg->policy);
	route_table_unref(cfg->routes);
}

static void retired_put(struct daemon_retired *r)
{
	if (!r || atomic_fetch_sub(&r->left, 1) != 1)
		return;
	prices_free(r->prices);
	keys_free(r->keys);
	free(r);
}

/* On the worker, between its callbacks: the sessions it serves read the new one from now. */
static void config_post_run(void *arg)
{
	struct daemon_config_post *c = arg;

	worker_config_drop(&c->wk->cfg);
	c->wk->cfg = c->cfg;
	retired_put(c->retired);
	free(c);
}

/* Every worker gets the proxy configuration now in force (d->http_cfg); OLD_PRICES and
 * OLD_KEYS, which it replaced, are freed when all have it. */
static void workers_post_config(struct daemon *d, struct price_table *old_prices,
				struct keys *old_keys)
{
	struct daemon_retired *r = calloc(1, sizeof(*r));

	if (r) {
		r->prices = old_prices;
		r->keys = old_keys;
		atomic_init(&r->left, d->n_workers);
	} else { /* kept until exit rather than freed while a worker may read them */
		log_error("policy reload: out of memory; the old price table and keys are kept");
	}
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct daemon_config_post *c = malloc(sizeof(*c));

		if (c) {
			c->wk = &d->wk[i];
			c->retired = r;
			worker_config_take(&c->cfg, &d->http_cfg);
		}
		if (!c || workers_post(d->workers, i, config_post_run, c)) {
			/* R never reaches 0 then: leaked, never freed while in use */
			log_error("policy reload: worker %u keeps the old policy (out of memory)", i);
			if (c)
				worker_config_drop(&c->cfg);
			free(c);
		}
	}
}

static const char *reload_immutable(const struct policy *old, const struct policy *new)
{
	if (strcmp(old->capture.cgroup, new->capture.cgroup))
		return "capture.cgroup";
	if (memcmp(&old->capture.listen4, &new->capture.listen4, sizeof(old->capture.listen4)))
		return "capture.listen";
	if (memcmp(&old->capture.listen6, &new->capture.listen6, sizeof(old->capture.listen6)))
		return "capture.listen6";
	if (strcmp(old->audit.path, new->audit.path) ||
	    old->audit.rotate_bytes != new->audit.rotate_bytes ||
	    old->audit.keep != new->audit.keep || old->audit.durability != new->audit.durability)
		return "audit.path, rotate_bytes, keep or durability";
	if (strcmp(old->audit.checkpoint.key, new->audit.checkpoint.key) ||
	    strcmp(old->audit.checkpoint.path, new->audit.checkpoint.path) ||
	    old->audit.checkpoint.every_records != new->audit.checkpoint.every_records ||
	    old->audit.checkpoint.every_s != new->audit.checkpoint.every_s)
		return "audit.checkpoint";
	if (strcmp(old->ca.dir, new->ca.dir))
		return "ca.dir";
	if (old->proxy.workers != new->proxy.workers)
		return "proxy.workers"; /* the running loops keep serving */
	if (old->capture.netns_listeners != new->capture.netns_listeners ||
	    old->capture.netns_max != new->capture.netns_max)
		return "capture.netns_listeners or netns_max"; /* served ones would stay served */
	if (old->capture.exempt_mark != new->capture.exempt_mark)
		return "capture.exempt_mark"; /* the pool's sockets carry the running one */
	if ((old->api.socket == NULL) != (new->api.socket == NULL) ||
	    (old->api.socket && strcmp(old->api.socket, new->api.socket)))
		return "api.socket";
	if (listen_changed(old->api.has_listen, &old->api.listen, old->api.listen_len,
			   new->api.has_listen, &new->api.listen, new->api.listen_len))
		return "api.listen";
	if ((old->state.path == NULL) != (new->state.path == NULL) ||
	    (old->state.path && strcmp(old->state.path, new->state.path)))
		return "state.path";
	if ((old->ledger.path == NULL) != (new->ledger.path == NULL) ||
	    (old->ledger.path && strcmp(old->ledger.path, new->ledger.path)))
		return "ledger.path";
	if (listen_changed(old->admin.has_listen, &old->admin.listen, old->admin.listen_len,
			   new->admin.has_listen, &new->admin.listen, new->admin.listen_len))
		return "admin.listen";
	if ((old->tls.upstream_ca == NULL) != (new->tls.upstream_ca == NULL) ||
	    (old->tls.upstream_ca && strcmp(old->tls.upstream_ca, new->tls.upstream_ca)))
		return "tls.upstream_ca";
	return NULL;
}

static void policy_event(struct daemon *d, const char *name, const char *detail)
{
	char when[TIMEFMT_LEN];
	struct jsonw *rec = jsonw_new();

	if (!rec)
		return;
	timefmt_now(when);
	jsonw_str(rec, "time", when);
	jsonw_str(rec, "event.name", name);
	jsonw_str(rec, "aigw.policy.path", d->opt->policy_path);
	jsonw_str(rec, "aigw.capture.mode",
		  d->policy->capture.mode == POLICY_CAPTURE_OBSERVE ? "observe" : "enforce");
	if (detail)
		jsonw_str(rec, "aigw.reason", detail);
	audit_record(d, rec);
}

static void daemon_reload(struct daemon *d)
{
	struct aigw_config cfg;
	struct policy *np = NULL;
	struct price_table *new_prices = NULL, *old_prices;
	struct keys *new_keys = NULL, *old_keys;
	struct route_table *new_routes = NULL;
	const char *field;
	int err;

	err = policy_load(d->opt->policy_path, stderr, &np);
	if (err) {
		log_error("policy reload refused: %s has errors (above); the running policy stays",
			  d->opt->policy_path);
		policy_event(d, "policy.reload_refused", "invalid policy");
		return;
	}
	if (policy_check_secret_files(np, stderr)) {
		log_error("policy reload refused: a file holding a secret is not private (above); "
			  "the running policy stays");
		policy_event(d, "policy.reload_refused", "secret file permissions");
		policy_free(np);
		return;
	}
	field = reload_immutable(d->policy, np);
	if (field) {
		log_error("policy reload refused: %s changed, which needs a restart; the running "
			  "policy stays",
			  field);
		policy_event(d, "policy.reload_refused", field);
		policy_free(np);
		return;
	}
	for (size_t i = 0; i < np->n_providers; i++) {
		for (size_t j = 0; j < np->providers[i].n_hosts; j++) {
			char msg[512] =
			    "no gateway CA is loaded (the running policy had no provider "
			    "host names); restart aigw";

			if (d->certs && !certs_check_host(d->certs, np->providers[i].hosts[j], msg,
							  sizeof(msg)))
				continue;
			log_error("policy reload refused: provider %s: %s", np->providers[i].name,
				  msg);
			policy_event(d, "policy.reload_refused",
				     "provider outside the CA's domains");
			policy_free(np);
			return;
		}
	}
	if (prices_for(np, &new_prices)) {
		log_error("policy reload refused: its price table has errors (above)");
		policy_event(d, "policy.reload_refused", "price table");
		policy_free(np);
		return;
	}
	if (keys_load(np, &new_keys)) {
		log_error("policy reload refused: a provider key cannot be read (above)");
		policy_event(d, "policy.reload_refused", "provider key");
		prices_free(new_prices);
		policy_free(np);
		return;
	}
	policy_warn(np, stderr);
	if (route_table_new(np, d->routes, &new_routes)) {
		log_error("policy reload refused: out of memory building its routes");
		prices_free(new_prices);
		keys_free(new_keys);
		policy_free(np);
		return;
	}
	/* Addresses first (adding before removing), then the mode: nothing goes unrecorded. */
	err = addrset_reload(d->addrset, np);
	config_from_policy(d, np, &cfg);
	if (!err)
		err = capture_configure(d->capture, &cfg);
	if (err) {
		log_error("policy reload failed applying it: %s", strerror(-err));
		route_table_unref(new_routes);
		prices_free(new_prices);
		keys_free(new_keys);
		policy_free(np);
		return;
	}
	policy_free(d->policy);
	d->policy = np;
	if (d->admin && admin_reload(d->admin))
		log_error("admin.token_file: not read again (above); the old token stays");
	old_prices = d->prices;
	old_keys = d->keys;
	d->prices = new_prices;
	d->keys = new_keys;
	http_config_from_policy(np, &d->http_cfg);
	route_table_unref(d->routes);
	d->routes = new_routes;
	daemon_set_pins(d, d->policy, d->keys, d->routes);
	d->http_cfg.prices = d->prices;
	d->http_cfg.keys = d->keys;
	d->http_cfg.routes = d->routes;
	d->http_cfg.policy = d->policy;
	d->http_cfg.state = d->state;
	workers_post_config(d, old_prices, old_keys);
	log_info("policy reloaded from %s (mode %s)", d->opt->policy_path,
		 np->capture.mode == POLICY_CAPTURE_OBSERVE ? "observe" : "enforce");
	policy_event(d, "policy.reload", NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (sig == SIGHUP) {
		daemon_reload(d);
		return;
	}
	log_info("stopping on signal %d; capture stays attached and fails closed", (int)sig);
	event_base_loopbreak(d->base);
}

static int signals_open(struct daemon *d)
{
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	if (!d->sig_hup || !d->sig_term || !d->sig_int || evsignal_add(d->sig_hup, NULL) ||
	    evsignal_add(d->sig_term, NULL) || evsignal_add(d->sig_int, NULL))
		return -ENOMEM;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* --- start and stop --- */

/* The CA's permitted domains: the policy's, or one per provider host's domain. */
static int ca_domains(const struct policy *p, char ***ret, size_t *ret_n)
{
	size_t n = 0, cap = 0;
	char **v = NULL, dom[256];

	for (size_t i = 0; i < p->n_providers; i++) {
		for (size_t j = 0; j < p->providers[i].n_hosts; j++) {
			size_t k;

			if (certs_domain_of_host(p->providers[i].hosts[j], dom, sizeof(dom)))
				continue;
			for (k = 0; k < n && strcasecmp(v[k], dom); k++)
				;
			if (k < n)
				continue;
			if (n == cap) {
				char **grown = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));

				if (!grown)
					goto nomem;
				v = grown;
			}
			v[n] = strdup(dom);
			if (!v[n])
				goto nomem;
			n++;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
nomem:
	for (size_t k = 0; k < n; k++)
		free(v[k]);
	free(v);
	return -ENOMEM;
}

static int ca_ensure(const struct policy *p)
{
	char path[PATH_MAX], **derived = NULL;
	size_t n = 0;
	int err;

	snprintf(path, sizeof(path), "%s/ca.pem", p->ca.dir);
	if (!access(path, F_OK))
		return 0;
	if (p->ca.n_domains) {
		err = certs_ca_init(p->ca.dir, (const char *const *)p->ca.domains, p->ca.n_domains);
	} else {
		err = ca_domains(p, &derived, &n);
		if (!err && !n) {
			log_error("no provider host names to constrain the gateway CA to; set "
				  "ca.domains");
			err = -EINVAL;
		} else if (!err) {
			err = certs_ca_init(p->ca.dir, (const char *const *)derived, n);
		}
		for (size_t i = 0; i < n; i++)
			free(derived[i]);
		free(derived);
	}
	if (!err)
		log_info("created the gateway CA in %s; trust %s/ca.pem in the workloads "
			 "(deploy/trust-ca.sh)",
			 p->ca.dir, p->ca.dir);
	return err;
}

/* Every provider host must be inside the CA's name constraints, or its clients would see a
 * certificate no verifier accepts: refuse to start, and say what to do. */
static int ca_covers_providers(struct daemon *d)
{
	char msg[512];

	for (size_t i = 0; i < d->policy->n_providers; i++) {
		const struct policy_provider *pv = &d->policy->providers[i];

		for (size_t j = 0; j < pv->n_hosts; j++) {
			if (!certs_check_host(d->certs, pv->hosts[j], msg, sizeof(msg)))
				continue;
			log_error("provider %s: %s", pv->name, msg);
			return -EPERM;
		}
	}
	return 0;
}

static int daemon_open_proxy(struct daemon *d)
{
	const struct policy *p = d->policy;
	struct upstream_options uo = {
	    .ca_file = p->tls.upstream_ca,
	    .connect_ms = p->proxy.connect_timeout_ms,
	    .handshake_ms = p->proxy.tls_handshake_timeout_ms,
	    .mark = p->capture.exempt_mark,
	    .max_idle = 256,
	    .idle_keep_ms = 60000,
	};
	size_t n_hosts = 0;

	d->upstream_opt = uo;
	int err;

	for (size_t i = 0; i < p->n_providers; i++)
		n_hosts += p->providers[i].n_hosts;
	if (!n_hosts && !p->ca.n_domains) {
		/* Providers by address only: no SNI can name one, nothing is intercepted, every
		 * captured connection is spliced through (and recorded); no CA is needed. */
		log_info("no provider host names: captured connections pass through, none is "
			 "intercepted");
		goto prices;
	}
	err = ca_ensure(p);
	if (!err)
		err = certs_open(p->ca.dir, &d->certs);
	if (err) {
		log_error("gateway CA in %s: %s", p->ca.dir, strerror(-err));
		return err;
	}
	err = ca_covers_providers(d);
	if (err)
		return err;
prices:
	err = prices_for(p, &d->prices);
	if (err) {
		log_error("price table: refused (above)");
		return err;
	}
	err = ai_services_load_builtin(stderr, &d->ai_catalogue);
	if (err) {
		log_error("the built-in AI service catalogue: refused (above)");
		return err;
	}
	err = keys_load(p, &d->keys);
	if (!err)
		err = route_table_new(p, NULL, &d->routes);
	if (!err)
		policy_warn(p, stderr);
	if (err)
		return err;
	daemon_set_pins(d, d->policy, d->keys, d->routes);
	err = govstate_open(p->state.path, stderr, &d->state);
	if (err) {
		log_error("state.path %s: refused (above)", p->state.path);
		return err;
	}
	if (p->ledger.path && (err = ledger_open(p->ledger.path, stderr, &d->ledger))) {
		log_error("ledger.path %s: refused (above)", p->ledger.path);
		return err;
	}
	http_config_from_policy(p, &d->http_cfg);
	d->http_cfg.prices = d->prices;
	d->http_cfg.keys = d->keys;
	d->http_cfg.routes = d->routes;
	d->http_cfg.policy = d->policy;
	d->http_cfg.state = d->state;
	d->http_cfg.audit_failing = audit_failing(d->audit);
	d->http_cfg.durable_strict = audit_durable_fd(d->audit) >= 0;
	if (d->http_cfg.durable_strict) {
		d->audit_durable = event_new(d->base, audit_durable_fd(d->audit),
					     EV_READ | EV_PERSIST, on_audit_durable, d);
		if (!d->audit_durable || event_add(d->audit_durable, NULL))
			return -ENOMEM;
	}
	if (p->api.socket && (err = api_unix_open(d, p->api.socket)))
		return err;
	if (!p->api.has_listen)
		return 0;
	err = listener_new(d->base, (const struct sockaddr *)&p->api.listen, p->api.listen_len,
			   on_api_accept, d, &d->api_listen);
	if (!err)
		err = listener_cookie(d->api_listen, &d->api_cookie);
	if (err)
		log_error("listen on api.listen: %s", strerror(-err));
	return err;
}

static int daemon_open_capture(struct daemon *d)
{
	struct aigw_config cfg;
	int err, took_over = 0;
	uint64_t self_cgroup;
	struct stat st;

	snprintf(d->cgroup_path, sizeof(d->cgroup_path), "%s%s", d->cgroup_mount,
		 strcmp(d->policy->capture.cgroup, "/") ? d->policy->capture.cgroup : "");
	if (stat(d->cgroup_path, &st) || !S_ISDIR(st.st_mode)) {
		log_error("capture.cgroup %s: %s does not exist (cgroup2 is mounted at %s); create "
			  "it and place the workloads under it",
			  d->policy->capture.cgroup, d->cgroup_path, d->cgroup_mount);
		return -ENOENT;
	}
	/* Only the daemon's own cgroup may use the exempt mark: find it before loading. */
	err = cgroups_self_id(d->cgroup_mount, &self_cgroup);
	if (err) {
		log_error("find aigw's own cgroup in /proc/self/cgroup under %s: %s",
			  d->cgroup_mount, strerror(-err));
		return err;
	}
	if (self_cgroup == (uint64_t)st.st_ino)
		log_warn("aigw runs in capture.cgroup %s itself: a workload there holding "
			 "CAP_NET_RAW can set the exempt mark; run aigw in a cgroup of its own",
			 d->policy->capture.cgroup);
	config_from_policy(d, d->policy, &cfg);
	err = capture_open(d->opt->pin_dir, d->cgroup_path, &cfg, self_cgroup, &d->capture,
			   &took_over);
	if (err)
		return err;
	log_info("capture %s %s (pinned under %s)", took_over ? "taken over on" : "attached to",
		 d->cgroup_path, d->opt->pin_dir);
	/* After the programs that record new cgroups are attached: none is missed. */
	err = cgroups_use_names(d->cgroups, capture_map_fd(d->capture, CAPTURE_MAP_CGROUP_NAMES),
				d->cgroup_path);
	if (err)
		log_warn("recording the cgroups under %s: %s (a cgroup removed after a connect "
			 "may go unnamed, and its calls refused)",
			 d->cgroup_path, strerror(-err));
	return addrset_new(capture_map_fd(d->capture, CAPTURE_MAP_PROV4),
			   capture_map_fd(d->capture, CAPTURE_MAP_PROV6), d->policy, &d->addrset);
}

/*
 * The main loop's: no epoll changelist here. A connection it hands to a worker had its
 * classify event removed on this loop; with a changelist that removal would reach epoll only
 * at the next wait, after the worker may have closed the descriptor and it was reused. The
 * workers' loops, which serve the responses, keep the changelist (proxy/workers.c).
 */
static struct event_base *daemon_event_base(void)
{
	return event_base_new();
}

/* --- the workers' lives --- */

/* On worker IDX's thread: its pool, its cgroup cache, its copy of the configuration. */
static int worker_start(unsigned idx, struct event_base *base, void *arg)
{
	struct daemon *d = arg;
	struct daemon_worker *wk = &d->wk[idx];
	int err;

	wk->d = d;
	wk->idx = idx;
	wk->base = base;
	wk->ops = (struct http_proxy_ops){
	    .record = on_http_record,
	    .resolve = on_http_resolve,
	    .event = on_http_event,
	    .call_end = on_http_call_end,
	    .breaker_opened = on_breaker_opened,
	    .arg = wk,
	};
	err = upstream_pool_new(base, &d->upstream_opt, &wk->pool);
	if (err)
		return err;
	err = cgroups_new(d->cgroup_mount, &wk->cgroups);
	if (err) {
		upstream_pool_free(wk->pool); /* STOP does not run for a failed START */
		wk->pool = NULL;
		return err;
	}
	if (d->capture)
		cgroups_read_names(wk->cgroups, capture_map_fd(d->capture, CAPTURE_MAP_CGROUP_NAMES));
	worker_config_take(&wk->cfg, &d->http_cfg);
	if (idx == 0)
		gcp_token_set_home(base); /* see daemon_pick_worker() */
	return 0;
}

/* On worker IDX's thread, at shutdown: what it serves is recorded as ended, then freed. */
static void worker_stop(unsigned idx, void *arg)
{
	struct daemon_worker *wk = &((struct daemon *)arg)->wk[idx];

	http_sessions_shutdown();
	wk->dns_left = gcp_token_leave(wk->base);
	upstream_pool_free(wk->pool);
	wk->pool = NULL;
	cgroups_free(wk->cgroups);
	wk->cgroups = NULL;
	worker_config_drop(&wk->cfg);
}

/* On worker IDX's thread, after STOP and the callbacks libevent deferred (workers.h). */
static void worker_last(unsigned idx, void *arg)
{
	struct daemon_worker *wk = &((struct daemon *)arg)->wk[idx];

	gcp_token_dns_free(wk->dns_left);
	wk->dns_left = NULL;
}

/* proxy.workers, or one per online CPU. */
static unsigned workers_wanted(const struct policy *p)
{
	long n = p->proxy.workers ? (long)p->proxy.workers : sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

static int daemon_open_workers(struct daemon *d)
{
	int err;

	d->n_workers = workers_wanted(d->policy);
	d->wk = calloc(d->n_workers, sizeof(*d->wk));
	if (!d->wk)
		return -ENOMEM;
	err = workers_new(d->n_workers, worker_start, worker_stop, worker_last, d, &d->workers);
	if (err) {
		log_error("starting %u proxy workers: %s", d->n_workers, strerror(-err));
		return err;
	}
	log_info("%u proxy worker%s", d->n_workers, d->n_workers == 1 ? "" : "s");
	return 0;
}

/* admin.listen: metrics, health and the dashboard, reading the daemon's own state. */
static int daemon_open_admin(struct daemon *d)
{
	d->admin_ctx = (struct admin_context){
	    .metrics = d->metrics,
	    .policy = &d->policy,
	    .routes = &d->routes,
	    .state = &d->state,
	    .audit = &d->audit,
	    .capture = &d->capture,
	    .ledger_path = d->policy->ledger.path,
	};
	if (!d->policy->admin.has_listen)
		return 0;
	return admin_open(d->base, &d->admin_ctx, &d->admin);
}

/*
 * Every connection costs the proxy one or two descriptors (client, upstream): the soft limit
 * (often 1024) would refuse connections long before memory runs short, so take the hard one.
 */
static void daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)rl.rlim_max,
			 strerror(errno));
	else
		log_info("descriptors: RLIMIT_NOFILE %llu", (unsigned long long)rl.rlim_cur);
}

/*
 * The audit queue's bound: records waiting for a writer that is behind (a slow or stalled
 * disk), some 40,000 calls' worth. Past it records are refused and audit_failing() says so,
 * so that audit.on_failure "block" refuses new calls; without a bound a stalled disk would
 * queue records until the process ran out of memory.
 */
#define AUDIT_QUEUE_BYTES (64u << 20)

static int daemon_start(struct daemon *d)
{
	struct audit_options aopt = {0};
	int err;

	daemon_raise_nofile();
	err = policy_load(d->opt->policy_path, stderr, &d->policy);
	if (!err)
		err = policy_check_secret_files(d->policy, stderr);
	if (err)
		return err;
	err = cgroups_mount_path(d->cgroup_mount, sizeof(d->cgroup_mount));
	if (err) {
		log_error("no cgroup2 mount in /proc/mounts: capture needs cgroup v2");
		return err;
	}
	aopt.max_queued_bytes = AUDIT_QUEUE_BYTES;
	aopt.rotate_bytes = d->policy->audit.rotate_bytes;
	aopt.keep = d->policy->audit.keep;
	aopt.checkpoint_path = d->policy->audit.checkpoint.path;
	aopt.checkpoint_every_records = d->policy->audit.checkpoint.every_records;
	aopt.checkpoint_every_s = d->policy->audit.checkpoint.every_s;
	aopt.strict = d->policy->audit.durability == POLICY_AUDIT_STRICT;
	err = cgroups_new(d->cgroup_mount, &d->cgroups);
	if (err) {
		log_error("cgroups under %s: %s", d->cgroup_mount, strerror(-err));
		return err;
	}
	err = checkpoint_key_open(d->policy->audit.checkpoint.key, &aopt.checkpoint_key);
	if (err)
		return err; /* logged, with the key's path */
	err = audit_open(d->policy->audit.path, &aopt, &d->audit);
	EVP_PKEY_free(aopt.checkpoint_key); /* the log holds its own reference */
	if (err) {
		log_error("audit log %s: %s", d->policy->audit.path, strerror(-err));
		return err;
	}
	d->base = daemon_event_base();
	if (!d->base || metrics_new(METRICS_MAX_SERIES, &d->metrics))
		return -ENOMEM;
	err = signals_open(d);
	if (!err)
		err = daemon_open_proxy(d);
	if (!err)
		err = listeners_open(d);
	if (!err)
		err = daemon_open_capture(d);
	if (!err)
		err = netns_open(d);
	if (!err)
		err = daemon_open_workers(d);
	if (!err)
		err = denials_open(d);
	if (!err)
		err = capture_events_start(d->base, capture_map_fd(d->capture, CAPTURE_MAP_EVENTS),
					   on_capture_event, d, &d->events);
	if (!err)
		err = addrset_start(d->addrset);
	if (!err)
		err = daemon_open_admin(d);
	if (err)
		return err;
	destroy_preexisting(d);
	policy_event(d, "policy.load", NULL);
	return 0;
}

static void daemon_stop(struct daemon *d)
{
	/* Requests in flight are recorded as ended by the shutdown; nothing goes unrecorded. */
	classify_shutdown_all();
	workers_free(d->workers); /* each records what it serves as ended first */
	free(d->wk);
	passthrough_shutdown_all();
	admin_close(d->admin);
	certs_free(d->certs);
	prices_free(d->prices);
	keys_free(d->keys);
	gcp_token_shutdown();
	route_table_unref(d->routes);
	listener_free(d->api_listen);
	if (d->api_unix) {
		listener_free(d->api_unix);
		unlink(d->policy->api.socket);
	}
	capture_events_drain(d->events);
	capture_events_stop(d->events);
	if (d->tick)
		event_free(d->tick);
	flood_free(d->flood); /* the last second's aggregates */
	if (d->capture)
		record_events_lost(d);
	netns_set_free(d->netns);
	listener_free(d->listen4);
	listener_free(d->listen6);
	addrset_free(d->addrset);
	capture_close(d->capture);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->audit_durable)
		event_free(d->audit_durable);
	if (d->base)
		event_base_free(d->base);
	audit_close(d->audit);
	ledger_close(d->ledger);
	metrics_free(d->metrics);
	cgroups_free(d->cgroups);
	govstate_close(d->state);
	policy_free(d->ai_catalogue);
	policy_free(d->policy);
}

int daemon_run(const struct daemon_options *opt)
{
	struct daemon d = {.opt = opt};
	int err;

	err = daemon_start(&d);
	if (!err) {
		log_info("ready: policy %s, capture.cgroup %s, mode %s", opt->policy_path,
			 d.policy->capture.cgroup,
			 d.policy->capture.mode == POLICY_CAPTURE_OBSERVE ? "observe" : "enforce");
		event_base_dispatch(d.base);
	}
	daemon_stop(&d);
	return err ? 1 : 0;
}
