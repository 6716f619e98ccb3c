/*
 * dashboard: the admin endpoint's web page and the JSON it reads.
 *
 * The page (web/dashboard.html, web/dashboard.js) and its chart library (chart.js, as
 * web/package-lock.json pins it, fetched by `npm ci` at build time) are built into the binary
 * and served from it: nothing is fetched from elsewhere at run time. The page's data:
 *
 *   /api/live     what the daemon counts in memory since it started (calls, errors,
 *                 fallbacks, breaker openings, denials), breakers open now, budget use
 *   /api/spend    ?by=team|model|workload|provider&days=N: spend and calls per UTC day and key
 *   /api/top      ?days=N: the workloads that spent most, with their calls and errors
 *   /api/calls    ?days=N: calls, errors and fallbacks per UTC day
 *   /api/shadow   ?days=N: connections to AI services that were not sanctioned, denied or
 *                 passed through, by service and workload
 *
 * The ledger (ledger.path) is read on its own read-only SQLite connection, on the event loop:
 * every query is bounded (an indexed time range, a row limit) and interrupted past
 * DASHBOARD_QUERY_MS, which answers 503 rather than hold the loop.
 *
 * Ownership: dashboard_new() returns one the caller frees with dashboard_free().
 */
#ifndef AIGW_ADMIN_DASHBOARD_H
#define AIGW_ADMIN_DASHBOARD_H

#include <event2/http.h>

#define DASHBOARD_QUERY_MS 250
#define DASHBOARD_DAYS_MAX 400

struct admin_context;
struct dashboard;

int dashboard_new(const struct admin_context *ctx, struct dashboard **ret);
void dashboard_free(struct dashboard *d); /* NULL is fine */

/* Answers REQ if PATH is one of the page's files ("/", "/dashboard.js", "/chart.umd.js"):
 * 1; else 0 and REQ is untouched. */
int dashboard_serve_file(struct evhttp_request *req, const char *path);

/* Answers REQ for /api/WHAT?QUERY (QUERY may be NULL). */
void dashboard_serve_api(struct dashboard *d, struct evhttp_request *req, const char *what,
			 const char *query);

#endif
