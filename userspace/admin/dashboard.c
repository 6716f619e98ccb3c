/*
 * dashboard.c: the page's files, built in, and the /api answers: the ledger's, each a fixed
 * query whose rows become a JSON array of objects (column name: value), and the live one from
 * the daemon's memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <sqlite3.h>

#include "admin/admin.h"
#include "admin/dashboard.h"
#include "admin/metrics.h"
#include "ledger/ledger.h"
#include "policy/govstate.h"
#include "policy/policy.h"
#include "proxy/route.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/timefmt.h"

#define ROWS_MAX 5000 /* of one answer; the queries' LIMITs keep them below */

static const char dashboard_html[] = {
#include "dashboard_html.inc"
    0};
static const char dashboard_js[] = {
#include "dashboard_js.inc"
    0};
static const char chart_js[] = {
#include "chart_js.inc"
    0};

struct dashboard {
	const struct admin_context *ctx;
	char *ledger_path; /* NULL: the policy keeps no ledger */
	sqlite3 *db;	   /* opened read-only at the first question */
	struct timespec deadline;
};

/* A question the ledger answers: SQL with ?1 the first time of the range (RFC 3339). */
struct api_query {
	const char *name;
	const char *sql;
};

/* Exact dollars from nano-dollars, as text: finance reads these. */
#define USD(col) "printf('%d.%09d', " col " / 1000000000, " col " % 1000000000)"
#define SPEND_BY(key)                                                                              \
	"SELECT substr(time, 1, 10) AS day, COALESCE(" key ", '') AS key, COUNT(*) AS calls,"     \
	" COALESCE(SUM(cost_nano), 0) AS cost_nano, " USD("COALESCE(SUM(cost_nano), 0)")         \
	" AS cost_usd FROM calls WHERE time >= ?1 GROUP BY day, key ORDER BY day, key LIMIT 5000"

static const struct api_query spend_queries[] = {
    {"team", SPEND_BY("team")},
    {"model", SPEND_BY("model")},
    {"workload", SPEND_BY("workload")},
    {"provider", SPEND_BY("provider")},
};

static const struct api_query api_queries[] = {
    {"top",
     "SELECT COALESCE(workload, '') AS workload, COALESCE(team, '') AS team, COUNT(*) AS calls,"
     " SUM(outcome IS NOT 'ok') AS errors, COALESCE(SUM(cost_nano), 0) AS cost_nano, "
     USD("COALESCE(SUM(cost_nano), 0)") " AS cost_usd FROM calls WHERE time >= ?1"
     " GROUP BY 1, 2 ORDER BY cost_nano DESC, calls DESC LIMIT 20"},
    {"calls",
     "SELECT substr(time, 1, 10) AS day, COUNT(*) AS calls, SUM(outcome IS NOT 'ok') AS errors,"
     " SUM(fallback) AS fallbacks FROM calls WHERE time >= ?1 GROUP BY day ORDER BY day"
     " LIMIT 1000"},
    {"totals",
     "SELECT COUNT(*) AS calls, SUM(outcome IS NOT 'ok') AS errors,"
     " COALESCE(SUM(cost_nano), 0) AS cost_nano, " USD("COALESCE(SUM(cost_nano), 0)")
     " AS cost_usd FROM calls WHERE time >= ?1"},
    {"shadow",
     "SELECT service, action, COALESCE(workload, '') AS workload, COUNT(*) AS attempts"
     " FROM shadow WHERE time >= ?1 GROUP BY 1, 2, 3 ORDER BY attempts DESC LIMIT 100"},
};

int dashboard_new(const struct admin_context *ctx, struct dashboard **ret)
{
	struct dashboard *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	if (ctx->ledger_path && !(d->ledger_path = strdup(ctx->ledger_path))) {
		free(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

void dashboard_free(struct dashboard *d)
{
	if (!d)
		return;
	sqlite3_close(d->db);
	free(d->ledger_path);
	free(d);
}

static void reply(struct evhttp_request *req, int code, const char *type, const void *data,
		  size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* the page runs only its own scripts: data shown is never markup */
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'none'; script-src 'self'; connect-src 'self'; "
			  "style-src 'self' 'unsafe-inline'; img-src 'self' data:");
	if (b)
		evbuffer_add(b, data, len);
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
}

int dashboard_serve_file(struct evhttp_request *req, const char *path)
{
	if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
		reply(req, HTTP_OK, "text/html; charset=utf-8", dashboard_html,
		      sizeof(dashboard_html) - 1);
	else if (!strcmp(path, "/dashboard.js"))
		reply(req, HTTP_OK, "text/javascript; charset=utf-8", dashboard_js,
		      sizeof(dashboard_js) - 1);
	else if (!strcmp(path, "/chart.umd.js"))
		reply(req, HTTP_OK, "text/javascript; charset=utf-8", chart_js,
		      sizeof(chart_js) - 1);
	else
		return 0;
	return 1;
}

static void reply_json(struct evhttp_request *req, int code, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, NULL, body);
}

static void reply_error(struct evhttp_request *req, int code, const char *why)
{
	struct evbuffer *b = evbuffer_new();
	struct jsonw *w = jsonw_new();
	size_t len;
	char *text;

	if (w)
		jsonw_str(w, "error", why);
	text = w ? jsonw_finish(w, &len) : NULL;
	if (b && text)
		evbuffer_add(b, text, len);
	free(text);
	reply_json(req, code, b);
	evbuffer_free(b);
}

/* Interrupts a ledger query past its deadline (SQLite calls this every 1000 steps). */
static int query_overdue(void *arg)
{
	struct dashboard *d = arg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->deadline.tv_sec ||
	       (now.tv_sec == d->deadline.tv_sec && now.tv_nsec > d->deadline.tv_nsec);
}

static int ledger_ready(struct dashboard *d, const char **why)
{
	if (d->db)
		return 0;
	*why = "no ledger: set ledger.path in the policy";
	if (!d->ledger_path)
		return -ENOENT;
	if (ledger_open_readonly(d->ledger_path, NULL, &d->db)) {
		log_warn("dashboard: ledger %s: not an aigw ledger, or it cannot be read",
			 d->ledger_path);
		*why = "the ledger cannot be opened (see the daemon's log)";
		return -EIO;
	}
	sqlite3_progress_handler(d->db, 1000, query_overdue, d);
	return 0;
}

/* "days=N" from QUERY (1..DASHBOARD_DAYS_MAX; 30 when absent), and "by". */
static int api_params(const char *query, long *ret_days, char *by, size_t by_size)
{
	struct evkeyvalq q;
	const char *v;
	char *end;
	long days = 30;

	by[0] = 0;
	if (!query)
		goto out;
	if (evhttp_parse_query_str(query, &q))
		return -EINVAL;
	if ((v = evhttp_find_header(&q, "days"))) {
		days = strtol(v, &end, 10);
		if (*end || days < 1 || days > DASHBOARD_DAYS_MAX)
			days = -1;
	}
	if ((v = evhttp_find_header(&q, "by")))
		snprintf(by, by_size, "%s", v);
	evhttp_clear_headers(&q);
	if (days < 0)
		return -EINVAL;
out:
	*ret_days = days;
	return 0;
}

/* The rows of STMT as a JSON array of objects into OUT. SQLITE_DONE, or the error. */
static int rows_to_json(sqlite3_stmt *stmt, struct evbuffer *out)
{
	int rc, n = 0;

	evbuffer_add(out, "[", 1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < ROWS_MAX) {
		struct jsonw *w = jsonw_new();
		size_t len;
		char *text;

		if (!w)
			return SQLITE_NOMEM;
		for (int i = 0; i < sqlite3_column_count(stmt); i++) {
			const char *name = sqlite3_column_name(stmt, i);

			switch (sqlite3_column_type(stmt, i)) {
			case SQLITE_INTEGER:
			case SQLITE_FLOAT:
				jsonw_num(w, name, sqlite3_column_double(stmt, i));
				break;
			case SQLITE_NULL:
				jsonw_null(w, name);
				break;
			default:
				jsonw_strn(w, name, (const char *)sqlite3_column_text(stmt, i),
					   (size_t)sqlite3_column_bytes(stmt, i));
			}
		}
		if (!(text = jsonw_finish(w, &len)))
			return SQLITE_NOMEM;
		if (n++)
			evbuffer_add(out, ",", 1);
		evbuffer_add(out, text, len);
		free(text);
	}
	evbuffer_add(out, "]\n", 2);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static void serve_ledger(struct dashboard *d, struct evhttp_request *req, const char *sql,
			 long days)
{
	struct timespec since = {.tv_sec = time(NULL) - days * 86400};
	char from[TIMEFMT_LEN];
	const char *why;
	sqlite3_stmt *stmt = NULL;
	struct evbuffer *b;
	int rc;

	if (ledger_ready(d, &why)) {
		reply_error(req, HTTP_SERVUNAVAIL, why);
		return;
	}
	timefmt_rfc3339(&since, from);
	clock_gettime(CLOCK_MONOTONIC, &d->deadline);
	d->deadline.tv_nsec += DASHBOARD_QUERY_MS * 1000000L;
	d->deadline.tv_sec += d->deadline.tv_nsec / 1000000000;
	d->deadline.tv_nsec %= 1000000000;
	rc = sqlite3_prepare_v2(d->db, sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 1, from, -1, SQLITE_STATIC);
	b = evbuffer_new();
	if (rc == SQLITE_OK && b)
		rc = rows_to_json(stmt, b);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE && b) {
		reply_json(req, HTTP_OK, b);
	} else if (rc == SQLITE_INTERRUPT) {
		reply_error(req, HTTP_SERVUNAVAIL, "the ledger query took too long");
	} else {
		log_warn("dashboard: ledger query: %s", sqlite3_errmsg(d->db));
		reply_error(req, HTTP_SERVUNAVAIL, "the ledger cannot answer (see the daemon's log)");
	}
	evbuffer_free(b);
}

/* "," between the elements of the array OUT ends in, "" after its "[". */
static const char *json_sep(struct evbuffer *out)
{
	size_t n = evbuffer_get_length(out);
	struct evbuffer_ptr at;
	char last = '[';

	if (n && !evbuffer_ptr_set(out, &at, n - 1, EVBUFFER_PTR_SET))
		evbuffer_copyout_from(out, &at, &last, 1);
	return last == '[' ? "" : ",";
}

/* One budget's use now: {"scope", "period", "used_usd", "budget_usd", "ratio"}. */
static void live_budget(const struct admin_budget_use *u, void *arg)
{
	struct evbuffer *out = arg;
	struct jsonw *w = jsonw_new();
	size_t len;
	char *text;

	if (!w)
		return;
	jsonw_str(w, "scope", u->scope);
	jsonw_str(w, "period", u->period);
	jsonw_num(w, "used_usd", (double)u->spent_nano / 1e9);
	jsonw_num(w, "budget_usd", (double)u->budget_nano / 1e9);
	jsonw_num(w, "ratio", (double)u->spent_nano / (double)u->budget_nano);
	if (!(text = jsonw_finish(w, &len)))
		return;
	evbuffer_add_printf(out, "%s%s", json_sep(out), text);
	free(text);
}

static void serve_live(struct dashboard *d, struct evhttp_request *req)
{
	const struct admin_context *c = d->ctx;
	const struct route_table *t = *c->routes;
	struct metrics_totals tot;
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		reply_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	metrics_totals(c->metrics, &tot);
	evbuffer_add_printf(b,
			    "{\"calls\":%llu,\"errors\":%llu,\"fallbacks\":%llu,"
			    "\"breaker_openings\":%llu,\"denied\":%llu,\"passthrough\":%llu,"
			    "\"captured\":%llu,\"cost_usd\":\"%lld.%09lld\",\"breakers_open\":[",
			    (unsigned long long)tot.calls, (unsigned long long)tot.errors,
			    (unsigned long long)tot.fallbacks,
			    (unsigned long long)tot.breaker_openings, (unsigned long long)tot.denied,
			    (unsigned long long)tot.passthrough, (unsigned long long)tot.captured,
			    (long long)(tot.cost_nano / 1000000000),
			    (long long)(tot.cost_nano % 1000000000));
	for (size_t i = 0; t && i < t->n_breakers; i++) {
		struct jsonw *w;
		size_t len;
		char *text;

		if (route_breaker_state(&t->breakers[i]) == BREAKER_CLOSED || !(w = jsonw_new()))
			continue;
		jsonw_str(w, "target", t->breakers[i].key);
		if (!(text = jsonw_finish(w, &len)))
			continue;
		evbuffer_add_printf(b, "%s%s", json_sep(b), text);
		free(text);
	}
	evbuffer_add_printf(b, "],\"budgets\":[");
	admin_budgets_each(*c->policy, *c->state, live_budget, b);
	evbuffer_add(b, "]}\n", 3);
	reply_json(req, HTTP_OK, b);
	evbuffer_free(b);
}

void dashboard_serve_api(struct dashboard *d, struct evhttp_request *req, const char *what,
			 const char *query)
{
	char by[32];
	long days;

	if (api_params(query, &days, by, sizeof(by))) {
		reply_error(req, HTTP_BADREQUEST, "days must be an integer 1..400");
		return;
	}
	if (!strcmp(what, "live")) {
		serve_live(d, req);
		return;
	}
	if (!strcmp(what, "spend")) {
		for (size_t i = 0; i < sizeof(spend_queries) / sizeof(spend_queries[0]); i++) {
			if (!strcmp(spend_queries[i].name, by[0] ? by : "team")) {
				serve_ledger(d, req, spend_queries[i].sql, days);
				return;
			}
		}
		reply_error(req, HTTP_BADREQUEST, "by must be team, model, workload or provider");
		return;
	}
	for (size_t i = 0; i < sizeof(api_queries) / sizeof(api_queries[0]); i++) {
		if (!strcmp(api_queries[i].name, what)) {
			serve_ledger(d, req, api_queries[i].sql, days);
			return;
		}
	}
	reply_error(req, HTTP_NOTFOUND, "no such question; see /api/live, spend, top, calls, "
					"totals, shadow");
}
