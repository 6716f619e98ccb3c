/*
 * admin: the operators' HTTP endpoint (policy key admin.listen), served with libevent's evhttp
 * on the daemon's event loop:
 *
 *   GET /healthz          200 (or 503) and {"status", "policy_loaded", "audit_writable",
 *                         "capture_attached"}
 *   GET /metrics          the Prometheus text format 0.0.4 (admin/metrics.h, and gauges read
 *                         now: breakers open, budget used, the audit queue)
 *   GET /                 the dashboard (admin/dashboard.h), its script and chart library
 *   GET /api/...          the JSON the dashboard reads
 *
 * A peer off loopback must present "Authorization: Bearer TOKEN", TOKEN the content of
 * admin.token_file (compared in constant time); without a token file only loopback peers are
 * served. Loopback peers need no token: whoever runs there could read the files anyway.
 *
 * Ownership: admin_open() returns a server the caller frees with admin_close() before the
 * event base. The context's pointers are the daemon's and must outlive the server; the
 * pointed-to pointers may change (a reload) between two requests.
 */
#ifndef AIGW_ADMIN_ADMIN_H
#define AIGW_ADMIN_ADMIN_H

#include <stdint.h>
#include <sys/socket.h>
#include <event2/event.h>

struct metrics;
struct policy;
struct route_table;
struct govstate;
struct audit_log;
struct capture;

struct admin_context {
	struct metrics *metrics;
	struct policy *const *policy;	     /* the policy in force */
	struct route_table *const *routes;   /* its breakers */
	struct govstate *const *state;	     /* limits and budgets */
	struct audit_log *const *audit;
	struct capture *const *capture;	     /* non-NULL: attached */
	const char *ledger_path;	     /* the policy's ledger.path (restart to change);
						NULL: none */
};

struct admin;

/* Serves on the policy's admin.listen (reading its admin.token_file). 0 and *RET, or -errno
 * after saying why on the log. */
int admin_open(struct event_base *base, const struct admin_context *ctx, struct admin **ret);

/* The policy was reloaded: its token file is read again. 0, or -errno (the old token stays)
 * after saying why. */
int admin_reload(struct admin *a);

void admin_close(struct admin *a); /* NULL is fine */

/* One budget's use in the current UTC day or month. */
struct admin_budget_use {
	const char *scope;  /* "workload:NAME", "team:NAME" */
	const char *period; /* "day", "month" */
	int64_t spent_nano, budget_nano;
};

/* Calls FN for every budget of P (workloads', then teams'), with its spend in G now. */
void admin_budgets_each(const struct policy *p, struct govstate *g,
			void (*fn)(const struct admin_budget_use *u, void *arg), void *arg);

/* Whether SA (a connection's peer) is a loopback address: 127/8, ::1, or ::ffff:127/104. */
int admin_peer_is_loopback(const struct sockaddr *sa);

/* Whether the Authorization header value AUTH (may be NULL) carries TOKEN (LEN bytes, LEN > 0)
 * as "Bearer TOKEN"; compared in time independent of where they differ. */
int admin_bearer_ok(const char *auth, const char *token, size_t len);

#endif
