/*
 * metrics: the gateway's counters and histograms, kept in memory on the event loop and written
 * in the Prometheus text exposition format (0.0.4) for /metrics.
 *
 * What a call, a connection or a breaker did is counted where it ends, by the daemon's hooks;
 * what is a state rather than an event (breakers open now, budget used, the audit queue) is a
 * gauge the caller writes at scrape time with metrics_write_gauge(). Names follow the
 * OpenTelemetry GenAI conventions where one exists (gen_ai_client_token_usage, ...), as the
 * OpenTelemetry Prometheus exporter spells them (units as suffixes: _seconds).
 *
 * Cardinality is bounded: label values come from requests (a model name is whatever an app
 * sent), so at most MAX_SERIES label sets are kept across all families; an update that would
 * create one more is counted in aigw_metrics_dropped_series_total and otherwise ignored.
 *
 * Ownership: metrics_new() returns a set the caller frees with metrics_free(). Label values
 * are copied. Every function runs on the event-loop thread only.
 */
#ifndef AIGW_ADMIN_METRICS_H
#define AIGW_ADMIN_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>

#include "proxy/http1.h"

#define METRICS_MAX_SERIES 10000

struct metrics;

/* A set that keeps at most MAX_SERIES label sets; 0 and *RET, or -ENOMEM. */
int metrics_new(size_t max_series, struct metrics **ret);
void metrics_free(struct metrics *m); /* NULL is fine */

/* A call ended: requests, cost, fallbacks, tokens, durations. */
void metrics_call_end(struct metrics *m, const struct http_call_end *c);
/* A connection or call refused, by REASON ("deny_udp_quic", "fronting", "policy_budget"). */
void metrics_denied(struct metrics *m, const char *reason);
/* A captured connection spliced through untouched (not a provider's SNI). */
void metrics_passthrough(struct metrics *m);
/* A connection capture redirected to the proxy, accepted. */
void metrics_captured(struct metrics *m);
/* The circuit breaker of PROVIDER/MODEL opened. */
void metrics_breaker_opened(struct metrics *m, const char *provider, const char *model);

/* Appends every family with its series to OUT. */
void metrics_write(const struct metrics *m, struct evbuffer *out);

/* Appends the HELP and TYPE lines of gauge NAME. */
void metrics_write_gauge_head(struct evbuffer *out, const char *name, const char *help);
/* Appends one sample of gauge NAME: N label NAMES with VALUES (escaped here), and V. */
void metrics_write_gauge(struct evbuffer *out, const char *name, const char *const *names,
			 const char *const *values, size_t n, double v);

/* The label set {NAMES[i]="VALUES[i]",...} into BUF[SIZE], values escaped as the format
 * asks (backslash, double quote, newline) and made valid UTF-8. Returns its length, or SIZE
 * or more when it did not fit (BUF then holds a cut, unusable text). */
size_t metrics_format_labels(char *buf, size_t size, const char *const *names,
			     const char *const *values, size_t n);

/* For the dashboard (/api/live): calls, errors (outcome not ok), fallbacks, breaker
 * openings, denials, passthroughs and captured connections since the daemon started. */
struct metrics_totals {
	uint64_t calls, errors, fallbacks, breaker_openings, denied, passthrough, captured;
	int64_t cost_nano;
};
void metrics_totals(const struct metrics *m, struct metrics_totals *ret);

#endif
