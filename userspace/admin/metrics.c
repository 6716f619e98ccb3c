/*
 * metrics.c: the families, their series and the text they are written as.
 *
 * A series is one family's label set: its label text, escaped once when the series is made
 * ("a=\"x\",b=\"y\""), is the key of a chained hash table, and each family keeps its series
 * in a list so that /metrics writes a family's samples together, as the format asks.
 * Counters are integers (the cost in nano-dollars, printed as an exact decimal); a
 * histogram keeps a count per bucket, made cumulative when written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"

#define HASH_SLOTS 4096 /* a power of two; chains stay short up to METRICS_MAX_SERIES */
#define LABELS_MAX 1024 /* one series' label text; a longer one is dropped */

enum family_kind { KIND_COUNTER, KIND_NANO_COUNTER, KIND_HISTOGRAM };

struct family {
	const char *name; /* for a counter, with its _total */
	const char *help;
	enum family_kind kind;
	const double *bounds; /* a histogram's bucket upper bounds, increasing */
	size_t n_bounds;
};

/* The OpenTelemetry GenAI semantic conventions' advisory bucket boundaries. */
static const double token_bounds[] = {1,      4,       16,	64,	  256,	    1024,    4096,
				      16384,  65536,   262144,	1048576,  4194304,  16777216,
				      67108864};
static const double duration_bounds[] = {0.01, 0.02, 0.04, 0.08,  0.16,	 0.32,	0.64,
					 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
				     0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,	 10.0};

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum family_id {
	F_TOKENS,
	F_DURATION,
	F_TTFT,
	F_REQUESTS,
	F_COST,
	F_FALLBACKS,
	F_BREAKER_OPENINGS,
	F_DENIED,
	F_PASSTHROUGH,
	F_CAPTURED,
	F_DROPPED,
	F_COUNT
};

static const struct family families[F_COUNT] = {
    [F_TOKENS] = {"gen_ai_client_token_usage", "Tokens used per call, input and output.",
		  KIND_HISTOGRAM, token_bounds, N(token_bounds)},
    [F_DURATION] = {"gen_ai_client_operation_duration_seconds",
		    "Duration of a call through the gateway, from its request to its end.",
		    KIND_HISTOGRAM, duration_bounds, N(duration_bounds)},
    [F_TTFT] = {"gen_ai_server_time_to_first_token_seconds",
		"Time from a streamed call's request to the first byte of its answer.",
		KIND_HISTOGRAM, ttft_bounds, N(ttft_bounds)},
    [F_REQUESTS] = {"aigw_requests_total", "Calls that ended, by outcome.", KIND_COUNTER, NULL, 0},
    [F_COST] = {"aigw_cost_usd_total", "Cost of calls in US dollars, exact to the nano-dollar.",
		KIND_NANO_COUNTER, NULL, 0},
    [F_FALLBACKS] = {"aigw_fallbacks_total",
		     "Calls served by a target after the first choice of their route.",
		     KIND_COUNTER, NULL, 0},
    [F_BREAKER_OPENINGS] = {"aigw_breaker_openings_total",
			    "Times a target's circuit breaker opened.", KIND_COUNTER, NULL, 0},
    [F_DENIED] = {"aigw_denied_total", "Connections and calls refused, by reason.",
		  KIND_COUNTER, NULL, 0},
    [F_PASSTHROUGH] = {"aigw_passthrough_total",
		       "Captured connections spliced through untouched (not a provider).",
		       KIND_COUNTER, NULL, 0},
    [F_CAPTURED] = {"aigw_captured_connections_total",
		    "Connections capture redirected to the gateway.", KIND_COUNTER, NULL, 0},
    [F_DROPPED] = {"aigw_metrics_dropped_series_total",
		   "Updates not counted because the label sets kept reached their limit.",
		   KIND_COUNTER, NULL, 0},
};

struct series {
	struct series *hash_next;
	struct series *fam_next; /* the family's list, oldest first */
	uint32_t hash;
	enum family_id fam;
	char *labels; /* a="x",b="y" (escaped), or "" */
	uint64_t count; /* a counter's value; a histogram's observations */
	int64_t nano;	/* KIND_NANO_COUNTER */
	double sum;	/* KIND_HISTOGRAM */
	uint64_t buckets[]; /* KIND_HISTOGRAM: observations <= bounds[i], not cumulative;
			       the last one is +Inf's own */
};

struct metrics {
	struct series *slots[HASH_SLOTS];
	struct series *first[F_COUNT], *last[F_COUNT];
	size_t n_series, max_series;
	uint64_t dropped;
	struct metrics_totals totals;
};

int metrics_new(size_t max_series, struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->max_series = max_series;
	*ret = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < HASH_SLOTS; i++) {
		for (struct series *s = m->slots[i], *next; s; s = next) {
			next = s->hash_next;
			free(s->labels);
			free(s);
		}
	}
	free(m);
}

/* The length of the valid UTF-8 sequence at S (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
				 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	unsigned cp;

	if (n <= 1)
		return n;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and what is past U+10FFFF are not UTF-8 */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

size_t metrics_format_labels(char *buf, size_t size, const char *const *names,
			     const char *const *values, size_t n)
{
	size_t len = 0;

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (len + 1 < size)                                                                \
			buf[len] = (c);                                                            \
		len++;                                                                             \
	} while (0)
	for (size_t i = 0; i < n; i++) {
		const unsigned char *v = (const unsigned char *)(values[i] ? values[i] : "");

		if (i)
			PUT(',');
		for (const char *k = names[i]; *k; k++)
			PUT(*k);
		PUT('=');
		PUT('"');
		while (*v) {
			size_t seq = utf8_seq(v);

			if (*v == '\\' || *v == '"') {
				PUT('\\');
				PUT(*v);
			} else if (*v == '\n') {
				PUT('\\');
				PUT('n');
			} else if (!seq) {
				PUT('?'); /* not UTF-8, which the format requires */
				seq = 1;
			} else {
				for (size_t j = 0; j < seq; j++)
					PUT(v[j]);
			}
			v += seq ? seq : 1;
		}
		PUT('"');
	}
#undef PUT
	if (size)
		buf[len < size ? len : size - 1] = 0;
	return len;
}

static uint32_t series_hash(enum family_id fam, const char *labels)
{
	uint32_t h = 2166136261u ^ (uint32_t)fam;

	for (const unsigned char *p = (const unsigned char *)labels; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* The series of FAM with label text LABELS, made when new; NULL when it cannot be kept (the
 * limit, memory), counted as dropped. */
static struct series *series_get(struct metrics *m, enum family_id fam, const char *labels)
{
	uint32_t h = series_hash(fam, labels);
	struct series **slot = &m->slots[h & (HASH_SLOTS - 1)], *s;
	size_t nb = families[fam].kind == KIND_HISTOGRAM ? families[fam].n_bounds + 1 : 0;

	for (s = *slot; s; s = s->hash_next)
		if (s->hash == h && s->fam == fam && !strcmp(s->labels, labels))
			return s;
	if (m->n_series >= m->max_series || !(s = calloc(1, sizeof(*s) + nb * sizeof(uint64_t)))) {
		m->dropped++;
		return NULL;
	}
	s->labels = strdup(labels);
	if (!s->labels) {
		free(s);
		m->dropped++;
		return NULL;
	}
	s->hash = h;
	s->fam = fam;
	s->hash_next = *slot;
	*slot = s;
	if (m->last[fam])
		m->last[fam]->fam_next = s;
	else
		m->first[fam] = s;
	m->last[fam] = s;
	m->n_series++;
	return s;
}

/* The series of FAM labelled NAMES=VALUES (N of them). */
static struct series *series_of(struct metrics *m, enum family_id fam, const char *const *names,
				const char *const *values, size_t n)
{
	char labels[LABELS_MAX];

	if (metrics_format_labels(labels, sizeof(labels), names, values, n) >= sizeof(labels)) {
		m->dropped++;
		return NULL;
	}
	return series_get(m, fam, labels);
}

static void counter_add(struct metrics *m, enum family_id fam, const char *const *names,
			const char *const *values, size_t n, uint64_t by)
{
	struct series *s = series_of(m, fam, names, values, n);

	if (s)
		s->count += by;
}

static void histogram_observe(struct series *s, double v)
{
	const struct family *f = &families[s->fam];
	size_t i = 0;

	while (i < f->n_bounds && v > f->bounds[i])
		i++;
	s->buckets[i]++;
	s->count++;
	s->sum += v;
}

static void observe(struct metrics *m, enum family_id fam, const char *const *names,
		    const char *const *values, size_t n, double v)
{
	struct series *s = series_of(m, fam, names, values, n);

	if (s)
		histogram_observe(s, v);
}

void metrics_call_end(struct metrics *m, const struct http_call_end *c)
{
	static const char *const req_names[] = {"workload", "team", "provider", "model",
						"outcome"};
	static const char *const gen_names[] = {"gen_ai_system", "gen_ai_request_model",
						"aigw_workload", "aigw_team"};
	static const char *const tok_names[] = {"gen_ai_token_type", "gen_ai_system",
						"gen_ai_request_model", "aigw_workload",
						"aigw_team"};
	const char *req[] = {c->workload, c->team, c->provider, c->model, c->outcome};
	const char *gen[] = {c->provider, c->model, c->workload, c->team};
	const char *tok[] = {"input", c->provider, c->model, c->workload, c->team};

	counter_add(m, F_REQUESTS, req_names, req, N(req), 1);
	m->totals.calls++;
	if (strcmp(c->outcome, "ok"))
		m->totals.errors++;
	if (c->fallback) {
		counter_add(m, F_FALLBACKS, req_names, req, 4, 1);
		m->totals.fallbacks++;
	}
	if (c->cost_known) {
		struct series *s = series_of(m, F_COST, req_names, req, 4);

		if (s)
			s->nano += c->cost_nano;
		m->totals.cost_nano += c->cost_nano;
	}
	if (c->usage_known) {
		observe(m, F_TOKENS, tok_names, tok, N(tok), (double)c->input_tokens);
		tok[0] = "output";
		observe(m, F_TOKENS, tok_names, tok, N(tok), (double)c->output_tokens);
	}
	observe(m, F_DURATION, gen_names, gen, N(gen), c->duration_s);
	if (c->ttft_s >= 0)
		observe(m, F_TTFT, gen_names, gen, N(gen), c->ttft_s);
}

void metrics_denied(struct metrics *m, const char *reason)
{
	static const char *const names[] = {"reason"};

	counter_add(m, F_DENIED, names, &reason, 1, 1);
	m->totals.denied++;
}

void metrics_passthrough(struct metrics *m)
{
	counter_add(m, F_PASSTHROUGH, NULL, NULL, 0, 1);
	m->totals.passthrough++;
}

void metrics_captured(struct metrics *m)
{
	counter_add(m, F_CAPTURED, NULL, NULL, 0, 1);
	m->totals.captured++;
}

void metrics_breaker_opened(struct metrics *m, const char *provider, const char *model)
{
	static const char *const names[] = {"provider", "model"};
	const char *values[] = {provider, model};

	counter_add(m, F_BREAKER_OPENINGS, names, values, N(values), 1);
	m->totals.breaker_openings++;
}

void metrics_totals(const struct metrics *m, struct metrics_totals *ret)
{
	*ret = m->totals;
}

/* "{LABELS}", or nothing when there are none. */
static void write_labels(struct evbuffer *out, const char *labels)
{
	if (labels[0])
		evbuffer_add_printf(out, "{%s}", labels);
}

static void write_head(struct evbuffer *out, const char *name, const char *help,
		       const char *type)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_histogram(struct evbuffer *out, const struct family *f, const struct series *s)
{
	const char *sep = s->labels[0] ? "," : "";
	uint64_t cum = 0;

	for (size_t i = 0; i <= f->n_bounds; i++) {
		cum += s->buckets[i];
		if (i < f->n_bounds)
			evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%.15g\"} %llu\n", f->name,
					    s->labels, sep, f->bounds[i], (unsigned long long)cum);
		else
			evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name,
					    s->labels, sep, (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "%s_sum", f->name);
	write_labels(out, s->labels);
	evbuffer_add_printf(out, " %.17g\n%s_count", s->sum, f->name);
	write_labels(out, s->labels);
	evbuffer_add_printf(out, " %llu\n", (unsigned long long)s->count);
}

void metrics_write(const struct metrics *m, struct evbuffer *out)
{
	for (enum family_id id = 0; id < F_COUNT; id++) {
		const struct family *f = &families[id];

		write_head(out, f->name, f->help,
			   f->kind == KIND_HISTOGRAM ? "histogram" : "counter");
		if (id == F_DROPPED) {
			evbuffer_add_printf(out, "%s %llu\n", f->name,
					    (unsigned long long)m->dropped);
			continue;
		}
		if ((id == F_PASSTHROUGH || id == F_CAPTURED) && !m->first[id])
			evbuffer_add_printf(out, "%s 0\n", f->name); /* a zero is news too */
		for (const struct series *s = m->first[id]; s; s = s->fam_next) {
			if (f->kind == KIND_HISTOGRAM) {
				write_histogram(out, f, s);
				continue;
			}
			evbuffer_add(out, f->name, strlen(f->name));
			write_labels(out, s->labels);
			if (f->kind == KIND_NANO_COUNTER)
				evbuffer_add_printf(out, " %lld.%09lld\n",
						    (long long)(s->nano / 1000000000),
						    (long long)(s->nano % 1000000000));
			else
				evbuffer_add_printf(out, " %llu\n", (unsigned long long)s->count);
		}
	}
}

void metrics_write_gauge_head(struct evbuffer *out, const char *name, const char *help)
{
	write_head(out, name, help, "gauge");
}

void metrics_write_gauge(struct evbuffer *out, const char *name, const char *const *names,
			 const char *const *values, size_t n, double v)
{
	char labels[LABELS_MAX];

	if (metrics_format_labels(labels, sizeof(labels), names, values, n) >= sizeof(labels))
		return;
	evbuffer_add(out, name, strlen(name));
	write_labels(out, labels);
	evbuffer_add_printf(out, " %.17g\n", v);
}
