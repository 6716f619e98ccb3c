/*
 * metrics.c: the families, their series and the text they are written as.
 *
 * A series is one family's label set: its label text, escaped once when the series is made
 * ("a=\"x\",b=\"y\""), is the key of a chained hash table, and each family keeps its series
 * in a list so that /metrics writes a family's samples together, as the format asks.
 * Counters are integers (the cost in nano-dollars, printed as an exact decimal); a
 * histogram keeps a count per bucket, made cumulative when written.
 *
 * Writing /metrics runs on the event loop, and the text is megabytes (every bucket line
 * carries its series' label text), so it is not printf'd line by line: each piece that does
 * not change is made once (a series' label text and its length when the series is made, a
 * family's `le="..."} ` strings in metrics_new()) and copied with memcpy; integers are
 * formatted by hand, and so are the sums (%.17g, rounded exactly as printf rounds; snprintf
 * only for values outside the range done by hand). The text is written into one buffer,
 * sized for it in advance and handed to the evbuffer by reference; when the reply has been
 * sent the buffer comes back for the next scrape, whose pages are then already mapped
 * (fresh megabytes cost more in page faults than the writing itself).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "util/decimal.h"

#define HASH_SLOTS 4096 /* a power of two; chains stay short up to METRICS_MAX_SERIES */
#define LABELS_MAX 1024 /* one series' label text; a longer one is dropped */
#define BOUNDS_MAX 16	/* a histogram's bucket bounds, at most */
#define LE_MAX 32	/* a bucket's `le="%.15g"} ` */

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

_Static_assert(N(token_bounds) <= BOUNDS_MAX && N(duration_bounds) <= BOUNDS_MAX &&
		   N(ttft_bounds) <= BOUNDS_MAX,
	       "BOUNDS_MAX too small");

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
	size_t labels_len;
	uint64_t count; /* a counter's value; a histogram's observations */
	int64_t nano;	/* KIND_NANO_COUNTER */
	double sum;	/* KIND_HISTOGRAM */
	uint64_t buckets[]; /* KIND_HISTOGRAM: observations <= bounds[i], not cumulative;
			       the last one is +Inf's own */
};

/*
 * A buffer /metrics is written into, lent to the reply's evbuffer (text_release() gives it
 * back), and the pool it returns to. The pool is shared by the metrics and the buffers out
 * on loan, and freed by the last of them: metrics_free() may come first, at shutdown.
 */
struct text_buf {
	struct text_pool *pool;
	size_t cap;
	char data[];
};

struct text_pool {
	size_t refs;		/* the metrics, while it lives, and each buffer on loan */
	bool closed;		/* metrics_free() came: keep nothing */
	struct text_buf *spare; /* the last buffer back, for the next scrape */
};

#define MEMO_WAYS 2 /* a token family's input and output series alternate in every call */

/* A series recently found, by the label values that found it: a call's series are mostly
 * the last call's, and comparing the values costs far less than writing and hashing the
 * label text. The text is a function of NAMES (static, compared by address), N and the
 * values alone, and a series lives as long as the metrics: a match is that series. */
struct series_memo {
	struct series *s; /* NULL: empty */
	const char *const *names;
	size_t n;
	char values[LABELS_MAX]; /* each value NUL-ended, NULL as "" (the text is the same) */
};

/* The series a call counts in (metrics_call_end), one per use. */
enum call_series {
	CS_REQUESTS,
	CS_FALLBACKS,
	CS_COST,
	CS_TOKENS_IN,
	CS_TOKENS_OUT,
	CS_DURATION,
	CS_TTFT,
	CS_COUNT
};

/* The last call's series, by its five label values (workload, team, provider, model, outcome),
 * which every one of them is a function of: the next call mostly repeats them, and one
 * comparison then finds all its series. A NULL one is looked up again when used (and counted
 * as dropped again when it cannot be kept), as without the memo. */
struct call_memo {
	char values[LABELS_MAX]; /* each NUL-ended, NULL as "" */
	int kept;		 /* values are set: s[] are theirs */
	struct series *s[CS_COUNT];
};

struct metrics {
	struct series *slots[HASH_SLOTS];
	struct series_memo memo[F_COUNT][MEMO_WAYS];
	struct call_memo call;
	uint8_t memo_next[F_COUNT]; /* the way a new series replaces */
	struct series *first[F_COUNT], *last[F_COUNT];
	size_t n_series, max_series;
	uint64_t dropped;
	struct metrics_totals totals;
	/* a histogram family's bucket labels as written, `le="0.01"} ` ... `le="+Inf"} ` */
	char le[F_COUNT][BOUNDS_MAX + 1][LE_MAX];
	uint8_t le_len[F_COUNT][BOUNDS_MAX + 1];
	struct text_pool *pool;
	/* The workers count calls while admin writes: every function below holds it, briefly
	 * (mutable: writing is no change to the metrics). */
	pthread_mutex_t lock;
};

int metrics_new(size_t max_series, struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->pool = calloc(1, sizeof(*m->pool));
	if (!m->pool) {
		free(m);
		return -ENOMEM;
	}
	m->pool->refs = 1;
	m->max_series = max_series;
	pthread_mutex_init(&m->lock, NULL);
	for (enum family_id id = 0; id < F_COUNT; id++) {
		const struct family *f = &families[id];

		for (size_t i = 0; f->kind == KIND_HISTOGRAM && i <= f->n_bounds; i++) {
			int n = i < f->n_bounds
				    ? snprintf(m->le[id][i], LE_MAX, "le=\"%.15g\"} ", f->bounds[i])
				    : snprintf(m->le[id][i], LE_MAX, "le=\"+Inf\"} ");

			m->le_len[id][i] = (uint8_t)n; /* %.15g is 22 characters at most */
		}
	}
	*ret = m;
	return 0;
}

static void text_pool_unref(struct text_pool *pool)
{
	if (--pool->refs)
		return;
	free(pool->spare);
	free(pool);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	m->pool->closed = true;
	free(m->pool->spare);
	m->pool->spare = NULL;
	text_pool_unref(m->pool);
	for (size_t i = 0; i < HASH_SLOTS; i++) {
		for (struct series *s = m->slots[i], *next; s; s = next) {
			next = s->hash_next;
			free(s->labels);
			free(s);
		}
	}
	pthread_mutex_destroy(&m->lock);
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
			size_t seq;

			/* most label bytes are plain ASCII: no UTF-8 decoding for them */
			if (*v < 0x80 && *v != '\\' && *v != '"' && *v != '\n') {
				PUT(*v);
				v++;
				continue;
			}
			seq = utf8_seq(v);

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
	s->labels_len = strlen(labels);
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

/* Whether KEPT (values each NUL-ended, as values_keep() wrote them) holds VALUES (N). */
static int values_match(const char *kept, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = values[i] ? values[i] : "";

		while (*kept && *kept == *v)
			kept++, v++;
		if (*kept != *v)
			return 0;
		kept++;
	}
	return 1;
}

/* VALUES (N, NULL as "") each NUL-ended into KEPT (SIZE bytes); 0 when they do not fit. */
static int values_keep(char *kept, size_t size, const char *const *values, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *v = values[i] ? values[i] : "";
		size_t vlen = strlen(v);

		if (len + vlen + 1 > size)
			return 0;
		memcpy(kept + len, v, vlen + 1);
		len += vlen + 1;
	}
	return 1;
}

static int memo_matches(const struct series_memo *mm, const char *const *names,
			const char *const *values, size_t n)
{
	if (!mm->s || mm->names != names || mm->n != n)
		return 0;
	return values_match(mm->values, values, n);
}

static void memo_keep(struct series_memo *mm, struct series *s, const char *const *names,
		      const char *const *values, size_t n)
{
	mm->s = NULL;
	if (!values_keep(mm->values, sizeof(mm->values), values, n))
		return;
	mm->s = s;
	mm->names = names;
	mm->n = n;
}

/* The series of FAM labelled NAMES=VALUES (N of them). */
static struct series *series_of(struct metrics *m, enum family_id fam, const char *const *names,
				const char *const *values, size_t n)
{
	struct series_memo *memo = m->memo[fam];
	char labels[LABELS_MAX];
	struct series *s;

	for (size_t i = 0; i < MEMO_WAYS; i++)
		if (memo_matches(&memo[i], names, values, n))
			return memo[i].s;
	if (metrics_format_labels(labels, sizeof(labels), names, values, n) >= sizeof(labels)) {
		m->dropped++;
		return NULL;
	}
	s = series_get(m, fam, labels);
	if (s)
		memo_keep(&memo[m->memo_next[fam]++ % MEMO_WAYS], s, names, values, n);
	return s;
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

/* The series CS of FAM labelled NAMES=VALUES (N of them) for the call m->call was set for. */
static struct series *call_series(struct metrics *m, enum call_series cs, enum family_id fam,
				  const char *const *names, const char *const *values, size_t n)
{
	if (!m->call.s[cs])
		m->call.s[cs] = series_of(m, fam, names, values, n);
	return m->call.s[cs];
}

/* Sets m->call for a call labelled VALUES (N): kept when the last call's were the same. */
static void call_memo_set(struct metrics *m, const char *const *values, size_t n)
{
	struct call_memo *cm = &m->call;

	if (cm->kept && values_match(cm->values, values, n))
		return;
	memset(cm->s, 0, sizeof(cm->s));
	cm->kept = values_keep(cm->values, sizeof(cm->values), values, n);
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
	struct series *s;

	pthread_mutex_lock(&m->lock);
	call_memo_set(m, req, N(req));
	if ((s = call_series(m, CS_REQUESTS, F_REQUESTS, req_names, req, N(req))))
		s->count++;
	m->totals.calls++;
	if (strcmp(c->outcome, "ok"))
		m->totals.errors++;
	if (c->fallback) {
		if ((s = call_series(m, CS_FALLBACKS, F_FALLBACKS, req_names, req, 4)))
			s->count++;
		m->totals.fallbacks++;
	}
	if (c->cost_known) {
		if ((s = call_series(m, CS_COST, F_COST, req_names, req, 4)))
			s->nano += c->cost_nano;
		m->totals.cost_nano += c->cost_nano;
	}
	if (c->usage_known) {
		if ((s = call_series(m, CS_TOKENS_IN, F_TOKENS, tok_names, tok, N(tok))))
			histogram_observe(s, (double)c->input_tokens);
		tok[0] = "output";
		if ((s = call_series(m, CS_TOKENS_OUT, F_TOKENS, tok_names, tok, N(tok))))
			histogram_observe(s, (double)c->output_tokens);
	}
	if ((s = call_series(m, CS_DURATION, F_DURATION, gen_names, gen, N(gen))))
		histogram_observe(s, c->duration_s);
	if (c->ttft_s >= 0 && (s = call_series(m, CS_TTFT, F_TTFT, gen_names, gen, N(gen))))
		histogram_observe(s, c->ttft_s);
	pthread_mutex_unlock(&m->lock);
}

void metrics_denied(struct metrics *m, const char *reason)
{
	static const char *const names[] = {"reason"};

	pthread_mutex_lock(&m->lock);
	counter_add(m, F_DENIED, names, &reason, 1, 1);
	m->totals.denied++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_passthrough(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	counter_add(m, F_PASSTHROUGH, NULL, NULL, 0, 1);
	m->totals.passthrough++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_captured(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	counter_add(m, F_CAPTURED, NULL, NULL, 0, 1);
	m->totals.captured++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_breaker_opened(struct metrics *m, const char *provider, const char *model)
{
	static const char *const names[] = {"provider", "model"};
	const char *values[] = {provider, model};

	pthread_mutex_lock(&m->lock);
	counter_add(m, F_BREAKER_OPENINGS, names, values, N(values), 1);
	m->totals.breaker_openings++;
	pthread_mutex_unlock(&m->lock);
}

/* The lock of a const M: taking it is no change to the metrics. */
static pthread_mutex_t *metrics_lock(const struct metrics *m)
{
	return (pthread_mutex_t *)&m->lock;
}

void metrics_totals(const struct metrics *m, struct metrics_totals *ret)
{
	pthread_mutex_lock(metrics_lock(m));
	*ret = m->totals;
	pthread_mutex_unlock(metrics_lock(m));
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

#define NUM_MAX 32 /* a number as written: %.17g is 24 characters at most, and its NUL */

/* A buffer of CAP bytes or more from POOL, lent out until text_release(); NULL when out of
 * memory. */
static struct text_buf *text_take(struct text_pool *pool, size_t cap)
{
	struct text_buf *b = pool->spare;

	pool->spare = NULL;
	if (!b || b->cap < cap) {
		free(b);
		cap += cap / 8; /* room to grow before the next allocation */
		if (!(b = malloc(sizeof(*b) + cap)))
			return NULL;
		b->cap = cap;
		b->pool = pool;
	}
	pool->refs++;
	return b;
}

/* The evbuffer is done with a buffer's text (sent, or freed): back to the pool, or freed. */
static void text_release(const void *data, size_t len, void *arg)
{
	struct text_buf *b = arg;
	struct text_pool *pool = b->pool;

	if (!pool->closed && !pool->spare)
		pool->spare = b;
	else
		free(b);
	text_pool_unref(pool);
}

static char *put(char *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}


/* V as %.17g writes it, for a V that is not a whole number, from 1e-6 to 2^53 (the sums
 * of durations in seconds); NULL for any other. The digits are those of V's exact value,
 * m * 2^e with e < 0, times 10^k (k = 16 - V's decimal exponent, at most 22, so that the
 * product fits in 128 bits), shifted right by -e and rounded half to even, as glibc
 * rounds; then %g's layout: fixed when the exponent is from -4 to 16, trailing zeros
 * dropped. */
static char *put_g17_fraction(char *p, double v)
{
	static const uint64_t tens[20] = {
	    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
	    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
	    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
	    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};
	unsigned __int128 prod, rem, half;
	uint64_t bits, m, q;
	int shift, exp10, last;
	char d[17];

	if (!(v >= 1e-6 && v < 9007199254740992.0))
		return NULL;
	memcpy(&bits, &v, sizeof(bits));
	m = (bits & ((1ULL << 52) - 1)) | 1ULL << 52; /* v >= 1e-6 is never subnormal */
	shift = 1075 - (int)(bits >> 52);	      /* v = m / 2^shift */
	if (shift <= 0)
		return NULL; /* a whole number */
	exp10 = (int)floor(log10(v));
	for (;;) {
		int k = 16 - exp10;

		if (k < 0 || k > 22)
			return NULL;
		prod = (unsigned __int128)m * tens[k < 19 ? k : 19] *
		       (k < 19 ? 1 : tens[k - 19]);
		q = (uint64_t)(prod >> shift); /* < 10^17 + 10^16: fits */
		if (q >= tens[17])
			exp10++;
		else if (q < tens[16])
			exp10--;
		else
			break;
	}
	rem = prod & (((unsigned __int128)1 << shift) - 1);
	half = (unsigned __int128)1 << (shift - 1);
	if (rem > half || (rem == half && (q & 1)))
		q++;
	if (q == tens[17]) { /* 9.99...95 up to 10: one digit fewer after the point */
		q = tens[16];
		exp10++;
	}
	for (int i = 16; i >= 0; i--) {
		d[i] = (char)('0' + q % 10);
		q /= 10;
	}
	for (last = 16; last > 0 && d[last] == '0'; last--)
		;
	if (exp10 < -4) { /* d.ddde-0X: exp10 is -5 or -6 here */
		*p++ = d[0];
		if (last > 0) {
			*p++ = '.';
			p = put(p, d + 1, (size_t)last);
		}
		p = put(p, "e-0", 3);
		*p++ = (char)('0' - exp10);
	} else if (exp10 < 0) { /* 0.000ddd */
		p = put(p, "0.", 2);
		memset(p, '0', (size_t)(-exp10 - 1));
		p += -exp10 - 1;
		p = put(p, d, (size_t)last + 1);
	} else { /* ddd.ddd */
		p = put(p, d, (size_t)exp10 + 1);
		if (last > exp10) {
			*p++ = '.';
			p = put(p, d + exp10 + 1, (size_t)(last - exp10));
		}
	}
	return p;
}

/* V as %.17g writes it. A whole number below 1e17 is all its digits, with no exponent and no
 * point, which decimal_put_u64() writes; most others put_g17_fraction(); what is left (exponents,
 * -0, negatives) snprintf. */
static char *put_g17(char *p, double v)
{
	char *end;

	if (v >= 0 && v < 1e17 && v == (double)(uint64_t)v && !signbit(v))
		return decimal_put_u64(p, (uint64_t)v);
	if ((end = put_g17_fraction(p, v)))
		return end;
	return p + snprintf(p, NUM_MAX, "%.17g", v);
}

/* Nano-dollars N as dollars, "%lld.%09lld" of its quotient and remainder by 1e9. */
static char *put_nano(char *p, int64_t n)
{
	uint64_t frac;

	if (n < 0) /* never a cost, but written as it always was */
		return p + snprintf(p, NUM_MAX, "%lld.%09lld", (long long)(n / 1000000000),
				    (long long)(n % 1000000000));
	p = decimal_put_u64(p, (uint64_t)n / 1000000000);
	*p++ = '.';
	frac = (uint64_t)n % 1000000000;
	for (int i = 8; i >= 0; i--) {
		p[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	return p + 9;
}

/* NAME, then "{LABELS}" when there are labels. */
static char *put_name_labels(char *p, const char *name, size_t name_len,
			     const struct series *s)
{
	p = put(p, name, name_len);
	if (s->labels_len) {
		*p++ = '{';
		p = put(p, s->labels, s->labels_len);
		*p++ = '}';
	}
	return p;
}

/* A line of NAME_LEN, LABELS_LEN and a number, with room for what goes around them
 * ("_bucket{" and ",", or "_count{} ", and "\n"). */
#define LINE_MAX(name_len, labels_len) ((name_len) + (labels_len) + 16 + NUM_MAX)

static const char *type_of(const struct family *f)
{
	return f->kind == KIND_HISTOGRAM ? "histogram" : "counter";
}

/*
 * What metrics_write() renders, copied under the lock so that the text is made outside it:
 * how many series each family had then (a family's list only grows at its end, and a series'
 * labels never change, so its first N[id] series can be read without the lock) and their
 * values, in family order.
 */
struct snap_vals {
	uint64_t count;
	int64_t nano;
	double sum;
	uint64_t buckets[BOUNDS_MAX + 1];
};

struct snapshot {
	size_t n[F_COUNT];
	uint64_t dropped;
	struct snap_vals *v; /* [sum of n], owned */
};

/* The series of family ID after S, the I-th of N: the last one's link is never read (a call
 * ending may be setting it). */
static const struct series *snap_next(const struct series *s, size_t i, size_t n)
{
	return i + 1 < n ? s->fam_next : NULL;
}

static int metrics_snapshot(const struct metrics *m, struct snapshot *snap)
{
	size_t k = 0;
	int err = 0;

	pthread_mutex_lock(metrics_lock(m));
	snap->dropped = m->dropped;
	snap->v = malloc((m->n_series ? m->n_series : 1) * sizeof(*snap->v));
	if (!snap->v) {
		err = -ENOMEM;
		goto out;
	}
	for (enum family_id id = 0; id < F_COUNT; id++) {
		size_t nb = families[id].kind == KIND_HISTOGRAM ? families[id].n_bounds + 1 : 0;

		snap->n[id] = 0;
		for (const struct series *s = m->first[id]; s; s = s->fam_next, k++) {
			struct snap_vals *v = &snap->v[k];

			v->count = s->count;
			v->nano = s->nano;
			v->sum = s->sum;
			memcpy(v->buckets, s->buckets, nb * sizeof(uint64_t));
			snap->n[id]++;
		}
	}
out:
	pthread_mutex_unlock(metrics_lock(m));
	return err;
}

/* Bytes that metrics_write() writes at most for SNAP. */
static size_t text_max(const struct metrics *m, const struct snapshot *snap)
{
	size_t max = 0;

	for (enum family_id id = 0; id < F_COUNT; id++) {
		const struct family *f = &families[id];
		size_t name_len = strlen(f->name), i = 0;

		max += 2 * name_len + strlen(f->help) + strlen(type_of(f)) + 20;
		max += LINE_MAX(name_len, 0); /* an unlabelled sample */
		for (const struct series *s = snap->n[id] ? m->first[id] : NULL; s;
		     s = snap_next(s, i++, snap->n[id])) {
			size_t line = LINE_MAX(name_len, s->labels_len);

			/* a histogram: its buckets, with their le, then _sum and _count */
			max += f->kind == KIND_HISTOGRAM ? (f->n_bounds + 3) * (line + LE_MAX) : line;
		}
	}
	return max;
}

static char *put_head(char *p, const struct family *f, size_t name_len)
{
	p = put(p, "# HELP ", 7);
	p = put(p, f->name, name_len);
	*p++ = ' ';
	p = put(p, f->help, strlen(f->help));
	p = put(p, "\n# TYPE ", 8);
	p = put(p, f->name, name_len);
	*p++ = ' ';
	p = put(p, type_of(f), strlen(type_of(f)));
	*p++ = '\n';
	return p;
}

static char *put_histogram(char *p, const struct metrics *m, enum family_id id,
			   size_t name_len, const struct series *s, const struct snap_vals *v)
{
	const struct family *f = &families[id];
	uint64_t cum = 0;

	for (size_t i = 0; i <= f->n_bounds; i++) {
		cum += v->buckets[i];
		p = put(p, f->name, name_len);
		p = put(p, "_bucket{", 8);
		p = put(p, s->labels, s->labels_len);
		if (s->labels_len)
			*p++ = ',';
		p = put(p, m->le[id][i], m->le_len[id][i]);
		p = decimal_put_u64(p, cum);
		*p++ = '\n';
	}
	p = put(p, f->name, name_len);
	p = put_name_labels(p, "_sum", 4, s);
	*p++ = ' ';
	p = put_g17(p, v->sum);
	*p++ = '\n';
	p = put(p, f->name, name_len);
	p = put_name_labels(p, "_count", 6, s);
	*p++ = ' ';
	p = decimal_put_u64(p, v->count);
	*p++ = '\n';
	return p;
}

static char *put_counter(char *p, const struct family *f, size_t name_len,
			 const struct series *s, const struct snap_vals *v)
{
	p = put_name_labels(p, f->name, name_len, s);
	*p++ = ' ';
	p = f->kind == KIND_NANO_COUNTER ? put_nano(p, v->nano) : decimal_put_u64(p, v->count);
	*p++ = '\n';
	return p;
}

/* A sample of F with no labels: "NAME V". */
static char *put_unlabelled(char *p, const struct family *f, size_t name_len, uint64_t v)
{
	p = put(p, f->name, name_len);
	*p++ = ' ';
	p = decimal_put_u64(p, v);
	*p++ = '\n';
	return p;
}

/* SNAP's text into P, which has text_max() bytes; the end of the text. */
static char *put_snapshot(char *p, const struct metrics *m, const struct snapshot *snap)
{
	const struct snap_vals *v = snap->v;

	for (enum family_id id = 0; id < F_COUNT; id++) {
		const struct family *f = &families[id];
		size_t name_len = strlen(f->name), i = 0;

		p = put_head(p, f, name_len);
		if (id == F_DROPPED) {
			p = put_unlabelled(p, f, name_len, snap->dropped);
			continue;
		}
		if ((id == F_PASSTHROUGH || id == F_CAPTURED) && !snap->n[id])
			p = put_unlabelled(p, f, name_len, 0); /* a zero is news too */
		for (const struct series *s = snap->n[id] ? m->first[id] : NULL; s;
		     s = snap_next(s, i++, snap->n[id]), v++)
			p = f->kind == KIND_HISTOGRAM ? put_histogram(p, m, id, name_len, s, v)
						      : put_counter(p, f, name_len, s, v);
	}
	return p;
}

/* The values are copied under the lock (metrics_snapshot()), the text made outside it: a
 * scrape does not hold up the calls ending meanwhile. The pool is reached through a const M
 * (only the admin thread takes and returns its buffers): lending them out is not a change to
 * the metrics. */
void metrics_write(const struct metrics *m, struct evbuffer *out)
{
	struct snapshot snap;
	struct text_buf *b;
	char *p;

	if (metrics_snapshot(m, &snap))
		return;
	b = text_take(m->pool, text_max(m, &snap));
	if (!b)
		goto out;
	p = put_snapshot(b->data, m, &snap);
	if (evbuffer_add_reference(out, b->data, (size_t)(p - b->data), text_release, b))
		text_release(b->data, 0, b);
out:
	free(snap.v);
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
