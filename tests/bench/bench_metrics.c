/*
 * bench_metrics: what the metrics cost a call, in CPU time on the event loop, against none,
 * on the -O2 object build/aigw links (admin/metrics.o).
 *
 * When a call ends the proxy fills a struct http_call_end and calls the http_proxy_ops
 * call_end hook (proxy/exchange_record.c); the daemon's hook (daemon.c) counts it with
 * metrics_call_end(), and a refused call once more with metrics_denied(). Here the same
 * hook, through a function pointer, against a hook that does nothing (the daemon without
 * metrics: its call_end would be NULL, and the struct would not even be filled).
 *
 * The calls are realistic in cardinality: 20 workloads in 4 teams, 2 providers with 5 models
 * each, a random mix of outcomes (mostly ok; some upstream errors, some refused by limits or
 * budget), streams and not, fallbacks, token counts and durations, drawn with a fixed seed
 * before anything is timed. Every label set has been seen once before the timing starts (a
 * daemon that has run a while), so a call finds its series and creates none.
 *
 * Printed: the median and p99 of per-call times over ROUNDS rounds of BATCH calls each, for
 * both, and the difference; then the time metrics_write() takes to render /metrics with the
 * series those calls made (median and p99 of RENDERS renders), and its size.
 * A benchmark, never a test: nothing here passes or fails.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "admin/metrics.h"

#include "benchclock.h"

#define BATCH 1000
#define ROUNDS 301
#define CALLS 4096 /* the drawn calls, cycled through; a power of two */
#define RENDERS 101

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const providers[] = {"openai", "anthropic"};
static const char *const models[N(providers)][5] = {
    {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini"},
    {"claude-sonnet-4", "claude-3-5-haiku", "claude-opus-4", "claude-3-7-sonnet",
     "claude-3-5-sonnet"},
};
static const char *const teams[] = {"finance", "search", "support", "platform"};

/* A small xorshift, so that the calls are the same from run to run and machine to machine. */
static uint64_t draw(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* A number in [lo, hi), spread over its orders of magnitude as latencies and tokens are. */
static double draw_log(uint64_t *state, double lo, double hi)
{
	double u = (double)(draw(state) >> 11) / (double)(1ULL << 53);

	return lo * pow(hi / lo, u);
}

/* CALLS calls' ends; names points into WORKLOADS. */
static void draw_calls(struct http_call_end *calls, char (*workloads)[16])
{
	uint64_t st = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 20; i++)
		snprintf(workloads[i], 16, "app-%02d", i);
	for (int i = 0; i < CALLS; i++) {
		struct http_call_end *c = &calls[i];
		int w = (int)(draw(&st) % 20), p = (int)(draw(&st) % N(providers));
		int fate = (int)(draw(&st) % 100);

		memset(c, 0, sizeof(*c));
		c->workload = workloads[w];
		c->team = teams[w % N(teams)];
		c->provider = providers[p];
		c->model = models[p][draw(&st) % N(models[p])];
		c->outcome = fate < 92	 ? "ok"
			     : fate < 94 ? "upstream_timeout"
			     : fate < 96 ? "upstream_bad_response"
					 : "denied";
		c->denied_by = fate < 96 ? "" : fate < 98 ? "limits" : "budget";
		c->fallback = fate < 92 && draw(&st) % 100 < 3;
		c->usage_known = c->cost_known = fate < 92;
		c->input_tokens = c->usage_known ? (uint64_t)draw_log(&st, 20, 20000) : 0;
		c->output_tokens = c->usage_known ? (uint64_t)draw_log(&st, 5, 4000) : 0;
		c->cost_nano = (int64_t)(c->input_tokens * 150 + c->output_tokens * 600);
		c->duration_s = fate < 96 ? draw_log(&st, 0.1, 30) : 0.0005;
		c->ttft_s =
		    fate < 92 && draw(&st) % 2 ? c->duration_s * draw_log(&st, 0.05, 0.5) : -1;
	}
}

typedef void call_end_fn(const struct http_call_end *e, void *arg);

static void end_none(const struct http_call_end *e, void *arg)
{
}

/* What the daemon's call_end hook does (daemon.c on_http_call_end). */
static void end_metrics(const struct http_call_end *e, void *arg)
{
	struct metrics *m = arg;
	char reason[80];

	metrics_call_end(m, e);
	if (e->denied_by[0]) {
		snprintf(reason, sizeof(reason), "policy_%s", e->denied_by);
		metrics_denied(m, reason);
	}
}

/* Per-call ns: [0] median, [1] p99, over ROUNDS batches. The hook is called through a
 * volatile pointer, as the proxy calls it through its ops: neither is inlined away. */
static void measure(call_end_fn *fn, void *arg, const struct http_call_end *calls, double ret[2])
{
	static double per_call[ROUNDS];
	call_end_fn *volatile hook = fn;
	unsigned next = 0;

	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now_ns();

		for (int i = 0; i < BATCH; i++)
			hook(&calls[next++ & (CALLS - 1)], arg);
		per_call[round] = (now_ns() - t0) / BATCH;
	}
	qsort(per_call, ROUNDS, sizeof(per_call[0]), cmp_double);
	ret[0] = per_call[ROUNDS / 2];
	ret[1] = per_call[ROUNDS * 99 / 100];
}

/* The label sets in a /metrics text: its labelled counter samples and histogram counts. */
static size_t count_series(struct evbuffer *text)
{
	size_t n = 0, len = evbuffer_get_length(text);
	const char *p = (const char *)evbuffer_pullup(text, -1), *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *brace;

		nl = nl ? nl : end;
		brace = memchr(p, '{', (size_t)(nl - p));
		if (*p != '#' && brace && !memmem(p, (size_t)(brace - p), "_bucket", 7) &&
		    !memmem(p, (size_t)(brace - p), "_sum", 4))
			n++;
		p = nl + 1;
	}
	return n;
}

int main(void)
{
	static struct http_call_end calls[CALLS];
	static char workloads[20][16];
	static double render_us[RENDERS];
	struct evbuffer *text = NULL;
	struct metrics *m;
	double none[2], with[2];
	size_t bytes = 0;

	draw_calls(calls, workloads);
	if (metrics_new(METRICS_MAX_SERIES, &m))
		return 1;
	for (int i = 0; i < CALLS; i++) /* every series made: the steady state */
		end_metrics(&calls[i], m);

	measure(end_none, NULL, calls, none); /* warm-up */
	measure(end_metrics, m, calls, with);
	measure(end_none, NULL, calls, none);
	measure(end_metrics, m, calls, with);

	for (int i = 0; i < RENDERS; i++) {
		double t0;

		if (text)
			evbuffer_free(text); /* which takes no NULL */
		if (!(text = evbuffer_new()))
			return 1;
		t0 = now_ns();
		metrics_write(m, text);
		render_us[i] = (now_ns() - t0) / 1e3;
	}
	bytes = evbuffer_get_length(text);
	qsort(render_us, RENDERS, sizeof(render_us[0]), cmp_double);

	printf("metrics, per call end (median / p99 of %d batches of %d; 20 workloads x 2 "
	       "providers x 5 models, random):\n",
	       ROUNDS, BATCH);
	printf("  no metrics (an empty hook)        %7.0f ns / %7.0f ns\n", none[0], none[1]);
	printf("  metrics_call_end (daemon's hook)  %7.0f ns / %7.0f ns\n", with[0], with[1]);
	printf("  added by the metrics              %7.0f ns / %7.0f ns\n", with[0] - none[0],
	       with[1] - none[1]);
	printf("  rendering /metrics once           %7.0f us / %7.0f us (median / p99 of %d; "
	       "%zu label sets, %zu KB)\n",
	       render_us[RENDERS / 2], render_us[RENDERS * 99 / 100], RENDERS, count_series(text),
	       bytes / 1024);
	evbuffer_free(text);
	metrics_free(m);
	return 0;
}
