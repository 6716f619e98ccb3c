/*
 * admin.c: the admin endpoint's HTTP side: who may ask (loopback, or a bearer token), the
 * routes, /healthz, and /metrics with the gauges read at scrape time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "admin/admin.h"
#include "admin/dashboard.h"
#include "admin/metrics.h"
#include "ledger/audit.h"
#include "policy/govstate.h"
#include "policy/pipeline.h"
#include "policy/policy.h"
#include "proxy/acceptpause.h"
#include "proxy/gcp_token.h"
#include "proxy/route.h"
#include "util/log.h"

#define TOKEN_MAX 4096
#define REQUEST_TIMEOUT_S 10

struct admin {
	const struct admin_context *ctx;
	struct evhttp *http;
	char *token; /* admin.token_file's content; NULL: loopback peers only */
	size_t token_len;
	struct dashboard *dash;
	struct accept_pause *pause; /* the listener's, out of descriptors */
};

int admin_peer_is_loopback(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == IN_LOOPBACKNET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

int admin_bearer_ok(const char *auth, const char *token, size_t len)
{
	size_t n;

	if (!auth || strncasecmp(auth, "Bearer ", 7))
		return 0;
	auth += 7;
	while (*auth == ' ')
		auth++;
	n = strlen(auth);
	while (n && (auth[n - 1] == ' ' || auth[n - 1] == '\t'))
		n--;
	/* lengths are not secret; the bytes are compared whole whatever they hold */
	return len && n == len && CRYPTO_memcmp(auth, token, len) == 0;
}

/* The token in PATH: its content without trailing white space, not empty. */
static int token_read(const char *path, char **ret, size_t *ret_len)
{
	char *buf = malloc(TOKEN_MAX + 1);
	ssize_t n = -1;
	int fd, err;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, TOKEN_MAX + 1);
		err = n < 0 ? -errno : 0;
		close(fd);
	} else {
		err = -errno;
	}
	if (!err && n > TOKEN_MAX)
		err = -EFBIG;
	while (!err && n > 0 && strchr(" \t\r\n", buf[n - 1]))
		n--;
	if (!err && n == 0)
		err = -ENODATA;
	if (err) {
		log_error("admin.token_file %s: %s", path,
			  err == -ENODATA  ? "empty; write the token callers present in it"
			  : err == -EFBIG ? "longer than 4096 bytes"
					  : strerror(-err));
		free(buf);
		return err;
	}
	buf[n] = 0;
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

static void token_free(struct admin *a)
{
	if (a->token)
		OPENSSL_cleanse(a->token, a->token_len);
	free(a->token);
	a->token = NULL;
	a->token_len = 0;
}

int admin_reload(struct admin *a)
{
	const char *path = (*a->ctx->policy)->admin.token_file;
	char *token = NULL;
	size_t len = 0;
	int err;

	if (path && (err = token_read(path, &token, &len)))
		return err;
	token_free(a);
	a->token = token;
	a->token_len = len;
	return 0;
}

static void reply(struct evhttp_request *req, int code, const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, NULL, body);
}

static void reply_text(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b)
		evbuffer_add_printf(b, "%s\n", text);
	reply(req, code, "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

/* Whether REQ may be served; if not, it has been answered. */
static int admin_authorized(struct admin *a, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *peer = conn ? evhttp_connection_get_addr(conn) : NULL;
	const char *auth;

	if (admin_peer_is_loopback(peer))
		return 1;
	if (!a->token) {
		reply_text(req, 403,
			   "forbidden: only loopback peers are served without admin.token_file");
		return 0;
	}
	auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (admin_bearer_ok(auth, a->token, a->token_len))
		return 1;
	evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
			  "Bearer realm=\"aigw admin\"");
	reply_text(req, 401, "unauthorized: present Authorization: Bearer <admin token>");
	return 0;
}

static void serve_healthz(struct admin *a, struct evhttp_request *req)
{
	const struct admin_context *c = a->ctx;
	int policy = *c->policy != NULL;
	int audit = *c->audit && !atomic_load_explicit(audit_failing(*c->audit),
							memory_order_relaxed);
	int capture = *c->capture != NULL;
	int ok = policy && audit && capture;
	struct evbuffer *b = evbuffer_new();

	if (b)
		evbuffer_add_printf(b,
				    "{\"status\":\"%s\",\"policy_loaded\":%s,\"audit_writable\":%s,"
				    "\"capture_attached\":%s}\n",
				    ok ? "ok" : "failing", policy ? "true" : "false",
				    audit ? "true" : "false", capture ? "true" : "false");
	reply(req, ok ? HTTP_OK : HTTP_SERVUNAVAIL, "application/json", b);
	evbuffer_free(b);
}

static void gauge_breakers(const struct route_table *t, struct evbuffer *out)
{
	static const char *const names[] = {"provider", "model"};

	metrics_write_gauge_head(out, "aigw_breaker_open",
				 "1 while a target's circuit breaker keeps calls from it.");
	for (size_t i = 0; t && i < t->n_breakers; i++) {
		const struct breaker *b = &t->breakers[i];
		const char *slash = strchr(b->key, '/');
		char provider[128];
		const char *values[2] = {provider, slash ? slash + 1 : ""};

		snprintf(provider, sizeof(provider), "%.*s",
			 (int)(slash ? slash - b->key : (ptrdiff_t)strlen(b->key)), b->key);
		metrics_write_gauge(out, "aigw_breaker_open", names, values, 2,
				    route_breaker_out(b));
	}
}

void admin_budgets_each(const struct policy *p, struct govstate *g,
			void (*fn)(const struct admin_budget_use *u, void *arg), void *arg)
{
	static const char *const period[2] = {"day", "month"};
	struct timespec now;
	char day[11], month[8];
	const char *key[2] = {day, month};
	long left_d, left_m;

	if (!g)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	govstate_periods((int64_t)now.tv_sec * 1000000000 + now.tv_nsec, day, month, &left_d,
			 &left_m);
	for (size_t i = 0; i < p->n_workloads + p->n_teams; i++) {
		int team = i >= p->n_workloads;
		const char *name = team ? p->teams[i - p->n_workloads].name : p->workloads[i].name;
		const struct policy_budget *b =
		    team ? &p->teams[i - p->n_workloads].budget : &p->workloads[i].budget;
		int64_t limit[2] = {b->nano_per_day, b->nano_per_month};
		char scope[300];

		snprintf(scope, sizeof(scope), "%s:%s", team ? "team" : "workload", name);
		for (int k = 0; k < 2; k++) {
			struct admin_budget_use u = {scope, period[k], 0, limit[k]};
			int64_t reserved;

			if (limit[k] <= 0)
				continue;
			govstate_spend_get(g, scope, key[k], &u.spent_nano, &reserved);
			fn(&u, arg);
		}
	}
}

static void gauge_budget(const struct admin_budget_use *u, void *arg)
{
	static const char *const names[] = {"scope", "period"};
	const char *values[] = {u->scope, u->period};

	metrics_write_gauge(arg, "aigw_budget_used_ratio", names, values, 2,
			    (double)u->spent_nano / (double)u->budget_nano);
}

/* What the gateway holds of calls (request bodies, answers held or queued for slow apps),
 * and its bound (proxy.limits.buffer_bytes). */
static void gauge_buffers(const struct policy *p, struct govstate *g, struct evbuffer *out)
{
	metrics_write_gauge_head(out, "aigw_buffered_bytes",
				 "Bytes of requests and answers the gateway holds for calls.");
	metrics_write_gauge(out, "aigw_buffered_bytes", NULL, NULL, 0,
			    g ? (double)buffer_held_total(g) : 0);
	metrics_write_gauge_head(out, "aigw_buffered_bytes_limit",
				 "proxy.limits.buffer_bytes: the most the gateway holds at once.");
	metrics_write_gauge(out, "aigw_buffered_bytes_limit", NULL, NULL, 0,
			    p ? (double)p->proxy.buffer_bytes : 0);
}

static void gauge_gcp_token(const char *path, int cached, void *arg)
{
	static const char *const names[] = {"credentials_file"};

	metrics_write_gauge(arg, "aigw_gcp_token_cached", names, &path, 1, cached);
}

static void serve_metrics(struct admin *a, struct evhttp_request *req)
{
	const struct admin_context *c = a->ctx;
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		reply_text(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	metrics_write(c->metrics, b);
	gauge_breakers(*c->routes, b);
	metrics_write_gauge_head(b, "aigw_budget_used_ratio",
				 "Spend settled in the current UTC day or month over its budget.");
	admin_budgets_each(*c->policy, *c->state, gauge_budget, b);
	gauge_buffers(*c->policy, *c->state, b);
	metrics_write_gauge_head(b, "aigw_gcp_token_cached",
				 "1 while a Google token the gateway minted serves calls from its cache; "
				 "0 once its refresh time passed.");
	gcp_token_each(gauge_gcp_token, b);
	metrics_write_gauge_head(b, "aigw_audit_queue_depth",
				 "Audit records queued and not yet written.");
	metrics_write_gauge(b, "aigw_audit_queue_depth", NULL, NULL, 0,
			    *c->audit ? (double)audit_queue_depth(*c->audit) : 0);
	reply(req, HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (!admin_authorized(a, req))
		return;
	if (!path) {
		reply_text(req, HTTP_BADREQUEST, "bad request");
	} else if (!strcmp(path, "/healthz")) {
		serve_healthz(a, req);
	} else if (!strcmp(path, "/metrics")) {
		serve_metrics(a, req);
	} else if (!strncmp(path, "/api/", 5)) {
		dashboard_serve_api(a->dash, req, path + 5, uri ? evhttp_uri_get_query(uri) : NULL);
	} else if (!dashboard_serve_file(req, path)) {
		reply_text(req, HTTP_NOTFOUND, "not found");
	}
}

int admin_open(struct event_base *base, const struct admin_context *ctx, struct admin **ret)
{
	const struct policy *p = *ctx->policy;
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
	struct evconnlistener *evl;
	struct admin *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	err = admin_reload(a);
	if (!err)
		err = dashboard_new(ctx, &a->dash);
	if (err)
		goto fail;
	a->http = evhttp_new(base);
	if (!a->http) {
		err = -ENOMEM;
		goto fail;
	}
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(a->http, REQUEST_TIMEOUT_S);
	evhttp_set_max_headers_size(a->http, 16384);
	evhttp_set_max_body_size(a->http, 0);
	evhttp_set_gencb(a->http, on_request, a);
	if (p->admin.listen.ss_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	evl = evconnlistener_new_bind(base, NULL, NULL, flags, 128,
				      (const struct sockaddr *)&p->admin.listen,
				      p->admin.listen_len);
	if (!evl || !evhttp_bind_listener(a->http, evl)) {
		err = errno ? -errno : -EADDRNOTAVAIL;
		if (evl)
			evconnlistener_free(evl);
		log_error("listen on admin.listen: %s", strerror(-err));
		goto fail;
	}
	err = accept_pause_new(evl, &a->pause); /* the evhttp owns the listener */
	if (err)
		goto fail;
	*ret = a;
	return 0;
fail:
	admin_close(a);
	return err;
}

void admin_close(struct admin *a)
{
	if (!a)
		return;
	accept_pause_free(a->pause);
	if (a->http)
		evhttp_free(a->http);
	dashboard_free(a->dash);
	token_free(a);
	free(a);
}
