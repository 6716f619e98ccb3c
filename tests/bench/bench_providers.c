/*
 * bench_providers: the CPU cost, in isolation, of what the gateway does to an answer beyond
 * passing its bytes on: reading the usage (userspace/providers/usage.h, sse.h) and translating
 * between OpenAI chat completions and Anthropic messages (translate.h). Part of `make bench`
 * (tests/bench/gateway_bench.sh); a measurement, never a test.
 *
 *   bench_providers run DIR [--json]
 *   bench_providers translate-request openai|anthropic MODEL FILE   (the app's API; to stdout)
 *   bench_providers events DIR   (translate_stream_feed per event: median, p90, p99)
 *
 * DIR holds real answers, captured by gateway_bench.sh from build/mockprov (the providers'
 * formats, byte for byte): openai.json (a chat completion), anthropic.json (a message),
 * openai.sse (a chat completion stream with the usage chunk, as the gateway asks for it),
 * anthropic.sse (a messages stream), request.json (an OpenAI chat request), request_stream.json
 * (the same, streaming) and request_anthropic.json (request.json translated).
 *
 * Each row calls the code the proxy calls (userspace/proxy/response.c), the way it calls it: a
 * whole answer is read once by usage_from_body(); a stream goes through an sse_parser one event
 * slice at a time (the mock sends one event per HTTP chunk) whose callback shows each event to
 * usage_stream_event() and, when translating, to translate_stream_feed() with a fresh output
 * buffer per event. Every row is timed next to a reference that does no parsing at all (memcpy
 * of the same bytes) and one that only parses (the JSON check the proxy makes of every whole
 * answer anyway, or SSE framing with a callback that does nothing), so the figure per call is
 * the overhead and not the machine.
 *
 * Timing: each row is calibrated to about 5 ms a run; then RUNS rounds time every row once each
 * (interleaved, so that drift hits all rows alike); the figure is the median ns per call over
 * the runs, with the fastest and slowest run. Before timing, each call's result is checked
 * (usage found, translation succeeded, stream ended): a benchmark of errors is worthless.
 * Built -O2 against the same objects as build/aigw (see the Makefile).
 *
 * events: each event of DIR/anthropic.sse (for an OpenAI app), DIR/openai.sse (for an
 * Anthropic app) and DIR/openai_text.sse, anthropic_text.sse (for a Gemini app) fed to
 * translate_stream_feed() and timed on its own, the stream translated
 * EV_STREAMS times over, into one output buffer emptied after each event as the proxy does;
 * the distribution of those times (text deltas, tool-call argument deltas, the other events,
 * all), less the clock's own cost. `make bench-xlate` runs it on the streams
 * tests/bench/xlate_streams.py writes (text deltas of 5-40 bytes, a tool call's argument
 * pieces, the opening and closing events); the streams gateway_bench.sh captures from the
 * mock do as well.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/sse.h"
#include "providers/translate.h"
#include "providers/usage.h"
#include "proxy/body.h"

#define RUNS 21
#define RUN_NS 5000000.0 /* about 5 ms a run */
#define MAX_SLICES 4096

struct text {
	char *p;
	size_t len;
};

struct stream {
	struct text t;
	size_t slice_off[MAX_SLICES + 1]; /* slice i is [off[i], off[i + 1]) */
	size_t slices;
	unsigned long events; /* SSE events in it (the sse parser's count) */
};

static struct text openai_json, anthropic_json, request, request_stream, request_anthropic;
static struct stream openai_sse, anthropic_sse;
static char *scratch; /* memcpy's destination */

/* Keeps the compiler from dropping what was computed into P. */
static inline void keep(const void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static void die(const char *what)
{
	fprintf(stderr, "bench_providers: %s\n", what);
	exit(1);
}

static struct text slurp(const char *dir, const char *name)
{
	char path[4096];
	struct text t = {0};
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "bench_providers: cannot read %s\n", path);
		exit(1);
	}
	t.p = malloc((size_t)n + 1);
	if (!t.p || fread(t.p, 1, (size_t)n, f) != (size_t)n)
		die("read failed");
	t.p[n] = '\0';
	t.len = (size_t)n;
	fclose(f);
	return t;
}

static int count_event(void *arg, const struct sse_event *ev)
{
	(*(unsigned long *)arg)++;
	return 0;
}

/* A stream cut where the mock cuts it: after each blank line (one event per HTTP chunk). */
static void stream_load(struct stream *s, const char *dir, const char *name)
{
	struct sse_parser p;
	size_t i;

	s->t = slurp(dir, name);
	s->slices = 0;
	s->slice_off[0] = 0;
	for (i = 0; i + 1 < s->t.len; i++) {
		if (s->t.p[i] == '\n' && s->t.p[i + 1] == '\n') {
			if (s->slices == MAX_SLICES)
				die("too many events");
			s->slice_off[++s->slices] = i + 2;
			i++;
		}
	}
	if (s->slice_off[s->slices] != s->t.len) {
		if (s->slices == MAX_SLICES)
			die("too many events");
		s->slice_off[++s->slices] = s->t.len;
	}
	s->events = 0;
	sse_init(&p, 0, count_event, &s->events);
	if (sse_feed(&p, s->t.p, s->t.len))
		die("a stream does not parse as SSE");
	sse_free(&p);
}

/* ---- the rows ---------------------------------------------------------------------------- */

struct row {
	const char *id;	   /* stable name, for the report */
	const char *group; /* answer, stream, request */
	const char *label;
	const char *ref; /* the id of the row it is compared with, or NULL for a reference */
	void (*fn)(void);
	const struct text *in;	 /* its input (whole bodies, requests) */
	const struct stream *st; /* its input (streams) */
	size_t bytes;		 /* input bytes per call */
	unsigned long events;	 /* SSE events per call (streams) */
	double med, min, max;	 /* ns per call */
	long iters;
};

static void memcpy_text(const struct text *t)
{
	memcpy(scratch, t->p, t->len);
	keep(scratch);
}

static void r_memcpy_openai(void)
{
	memcpy_text(&openai_json);
}
static void r_check_openai(void)
{
	if (!body_is_json(openai_json.p, openai_json.len))
		die("openai.json is not JSON");
}
static void r_usage_openai(void)
{
	struct usage u;
	char model[USAGE_MODEL_MAX];

	if (usage_from_body(USAGE_API_OPENAI_CHAT, openai_json.p, openai_json.len, &u, model,
			    sizeof(model)) ||
	    u.known != USAGE_KNOWN_ALL || u.output <= 0)
		die("no usage in openai.json");
	keep(&u);
}
static void r_memcpy_anthropic(void)
{
	memcpy_text(&anthropic_json);
}
static void r_check_anthropic(void)
{
	if (!body_is_json(anthropic_json.p, anthropic_json.len))
		die("anthropic.json is not JSON");
}
static void r_usage_anthropic(void)
{
	struct usage u;
	char model[USAGE_MODEL_MAX];

	if (usage_from_body(USAGE_API_ANTHROPIC_MESSAGES, anthropic_json.p, anthropic_json.len, &u,
			    model, sizeof(model)) ||
	    u.known != USAGE_KNOWN_ALL || u.output <= 0)
		die("no usage in anthropic.json");
	keep(&u);
}
static void xlate_resp(enum translate_api app, const struct text *in)
{
	char *out = NULL, err[TRANSLATE_MSG_MAX];
	size_t out_len;

	if (translate_response(app, in->p, in->len, NULL, &out, &out_len, err, sizeof(err))) {
		fprintf(stderr, "bench_providers: translate_response: %s\n", err);
		exit(1);
	}
	keep(out);
	free(out);
}
static void r_xlate_resp_a2o(void)
{
	xlate_resp(TRANSLATE_OPENAI_CHAT, &anthropic_json);
}
static void r_xlate_resp_o2a(void)
{
	xlate_resp(TRANSLATE_ANTHROPIC_MESSAGES, &openai_json);
}
/* The proxy's whole translated answer (fallback to Anthropic for an OpenAI app): the usage read
 * from Anthropic's answer, then the answer translated. */
static void r_path_translated(void)
{
	r_usage_anthropic();
	r_xlate_resp_a2o();
}

/* Streams. */
struct feed {
	struct usage_stream us;
	struct translate_stream *ts; /* NULL: no translation */
	int xlate_err;
};

static int on_nothing(void *arg, const struct sse_event *ev)
{
	keep(ev);
	return 0;
}

static int on_event(void *arg, const struct sse_event *ev)
{
	struct feed *f = arg;
	struct translate_buf out = {0};
	int err;

	usage_stream_event(&f->us, ev->type, ev->data, ev->data_len);
	if (!f->ts)
		return 0;
	err = translate_stream_feed(f->ts, ev->type, ev->data, ev->data_len, &out);
	keep(out.data);
	translate_buf_free(&out);
	if (err)
		f->xlate_err = err;
	return err == -ENOMEM ? err : 0;
}

static void feed_slices(const struct stream *s, struct sse_parser *p)
{
	for (size_t i = 0; i < s->slices; i++)
		if (sse_feed(p, s->t.p + s->slice_off[i], s->slice_off[i + 1] - s->slice_off[i]))
			die("sse_feed failed");
}

static void memcpy_stream(const struct stream *s)
{
	for (size_t i = 0; i < s->slices; i++)
		memcpy(scratch + s->slice_off[i], s->t.p + s->slice_off[i],
		       s->slice_off[i + 1] - s->slice_off[i]);
	keep(scratch);
}

static void sse_only(const struct stream *s)
{
	struct sse_parser p;

	sse_init(&p, 0, on_nothing, NULL);
	feed_slices(s, &p);
	sse_free(&p);
}

/* usage_stream_event() for every event; with APP != 0, each event translated for APP too. */
static void stream_path(const struct stream *s, enum usage_api api, unsigned flags,
			enum translate_api app)
{
	struct sse_parser p;
	struct feed f = {.ts = NULL};
	struct translate_buf out = {0};

	usage_stream_init(&f.us, api, flags);
	if (app) {
		f.ts = translate_stream_new(app, 0, NULL);
		if (!f.ts)
			die("out of memory");
	}
	sse_init(&p, 0, on_event, &f);
	feed_slices(s, &p);
	sse_free(&p);
	if (f.us.end != USAGE_END_OK || f.us.usage.known != USAGE_KNOWN_ALL ||
	    f.us.usage.output <= 0 || f.us.unparsed)
		die("a stream's usage was not read whole");
	if ((flags & USAGE_STREAM_SUPPRESS_USAGE_CHUNK) && f.us.dropped != 1)
		die("the OpenAI stream has no usage chunk");
	if (f.ts) {
		if (translate_stream_finish(f.ts, &out) || f.xlate_err ||
		    !translate_stream_ended(f.ts))
			die("a stream did not translate cleanly");
		translate_buf_free(&out);
		translate_stream_free(f.ts);
	}
	keep(&f);
}

static void r_memcpy_sse_openai(void)
{
	memcpy_stream(&openai_sse);
}
static void r_sse_openai(void)
{
	sse_only(&openai_sse);
}
static void r_usage_sse_openai(void)
{
	stream_path(&openai_sse, USAGE_API_OPENAI_CHAT, USAGE_STREAM_SUPPRESS_USAGE_CHUNK, 0);
}
static void r_xlate_sse_o2a(void)
{
	stream_path(&openai_sse, USAGE_API_OPENAI_CHAT, 0, TRANSLATE_ANTHROPIC_MESSAGES);
}
static void r_memcpy_sse_anthropic(void)
{
	memcpy_stream(&anthropic_sse);
}
static void r_sse_anthropic(void)
{
	sse_only(&anthropic_sse);
}
static void r_usage_sse_anthropic(void)
{
	stream_path(&anthropic_sse, USAGE_API_ANTHROPIC_MESSAGES, 0, 0);
}
static void r_xlate_sse_a2o(void)
{
	stream_path(&anthropic_sse, USAGE_API_ANTHROPIC_MESSAGES, 0, TRANSLATE_OPENAI_CHAT);
}

/* Requests. */
static void r_memcpy_request(void)
{
	memcpy_text(&request);
}
static void r_check_request(void)
{
	if (!body_is_json(request.p, request.len))
		die("request.json is not JSON");
}
static void r_include_usage(void)
{
	char *out = NULL;
	size_t out_len;

	if (usage_want_include_usage(request_stream.p, request_stream.len, &out, &out_len) != 1)
		die("request_stream.json: usage_want_include_usage did not rewrite it");
	keep(out);
	free(out);
}
static void xlate_req(enum translate_api app, const struct text *in, const char *model)
{
	struct translate_req r;

	if (translate_request(app, in->p, in->len, model, 0, &r)) {
		fprintf(stderr, "bench_providers: translate_request: %s\n", r.error);
		exit(1);
	}
	keep(r.body);
	translate_req_release(&r);
}
static void r_xlate_req_o2a(void)
{
	xlate_req(TRANSLATE_OPENAI_CHAT, &request, "claude-3-5-haiku-latest");
}
static void r_memcpy_request_anthropic(void)
{
	memcpy_text(&request_anthropic);
}
static void r_xlate_req_a2o(void)
{
	xlate_req(TRANSLATE_ANTHROPIC_MESSAGES, &request_anthropic, "gpt-4o-mini");
}

/* A row timing FN on a whole text IN, or on a stream ST. */
#define TROW(id_, group_, label_, ref_, fn_, in_)                                                  \
	{                                                                                          \
		.id = id_, .group = group_, .label = label_, .ref = ref_, .fn = fn_, .in = in_     \
	}
#define SROW(id_, group_, label_, ref_, fn_, st_)                                                  \
	{                                                                                          \
		.id = id_, .group = group_, .label = label_, .ref = ref_, .fn = fn_, .st = st_     \
	}

/* clang-format off */
static struct row rows[] = {
	TROW("answer_memcpy", "answer", "memcpy of the OpenAI answer", NULL,
	     r_memcpy_openai, &openai_json),
	TROW("answer_check", "answer", "JSON check only (body_is_json)", "answer_memcpy",
	     r_check_openai, &openai_json),
	TROW("answer_usage", "answer", "usage_from_body, OpenAI chat", "answer_memcpy",
	     r_usage_openai, &openai_json),
	TROW("answer_xlate_o2a", "answer", "translate_response, OpenAI -> Anthropic app",
	     "answer_memcpy", r_xlate_resp_o2a, &openai_json),
	TROW("answer_memcpy_a", "answer", "memcpy of the Anthropic answer", NULL,
	     r_memcpy_anthropic, &anthropic_json),
	TROW("answer_check_a", "answer", "JSON check only (body_is_json)", "answer_memcpy_a",
	     r_check_anthropic, &anthropic_json),
	TROW("answer_usage_a", "answer", "usage_from_body, Anthropic", "answer_memcpy_a",
	     r_usage_anthropic, &anthropic_json),
	TROW("answer_xlate_a2o", "answer", "translate_response, Anthropic -> OpenAI app",
	     "answer_memcpy_a", r_xlate_resp_a2o, &anthropic_json),
	TROW("answer_path_xlate", "answer", "usage_from_body + translate_response (fallback)",
	     "answer_memcpy_a", r_path_translated, &anthropic_json),
	SROW("stream_memcpy", "stream", "memcpy of the OpenAI stream, slice by slice", NULL,
	     r_memcpy_sse_openai, &openai_sse),
	SROW("stream_sse", "stream", "SSE framing only (sse_feed, empty callback)",
	     "stream_memcpy", r_sse_openai, &openai_sse),
	SROW("stream_usage", "stream", "sse + usage_stream_event, OpenAI (usage chunk dropped)",
	     "stream_memcpy", r_usage_sse_openai, &openai_sse),
	SROW("stream_xlate_o2a", "stream", "sse + usage + translate_stream_feed -> Anthropic app",
	     "stream_memcpy", r_xlate_sse_o2a, &openai_sse),
	SROW("stream_memcpy_a", "stream", "memcpy of the Anthropic stream, slice by slice", NULL,
	     r_memcpy_sse_anthropic, &anthropic_sse),
	SROW("stream_sse_a", "stream", "SSE framing only (sse_feed, empty callback)",
	     "stream_memcpy_a", r_sse_anthropic, &anthropic_sse),
	SROW("stream_usage_a", "stream", "sse + usage_stream_event, Anthropic",
	     "stream_memcpy_a", r_usage_sse_anthropic, &anthropic_sse),
	SROW("stream_xlate_a2o", "stream", "sse + usage + translate_stream_feed -> OpenAI app (fallback)",
	     "stream_memcpy_a", r_xlate_sse_a2o, &anthropic_sse),
	TROW("request_memcpy", "request", "memcpy of the OpenAI request", NULL,
	     r_memcpy_request, &request),
	TROW("request_check", "request", "JSON check only (body_is_json)", "request_memcpy",
	     r_check_request, &request),
	TROW("request_include_usage", "request", "usage_want_include_usage (streaming request)",
	     "request_memcpy", r_include_usage, &request_stream),
	TROW("request_xlate_o2a", "request", "translate_request, OpenAI app -> Anthropic (fallback)",
	     "request_memcpy", r_xlate_req_o2a, &request),
	TROW("request_memcpy_a", "request", "memcpy of the Anthropic request", NULL,
	     r_memcpy_request_anthropic, &request_anthropic),
	TROW("request_xlate_a2o", "request", "translate_request, Anthropic app -> OpenAI",
	     "request_memcpy_a", r_xlate_req_a2o, &request_anthropic),
};
/* clang-format on */
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double run(void (*fn)(void), long iters)
{
	double t0 = now_ns();

	for (long i = 0; i < iters; i++)
		fn();
	return now_ns() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sizes R's runs to about RUN_NS, warm. */
static void calibrate(struct row *r)
{
	double t;
	long iters = 1;

	r->fn(); /* checked, warm */
	while ((t = run(r->fn, iters)) < RUN_NS / 4)
		iters *= 2;
	r->iters = (long)((double)iters * RUN_NS / t) + 1;
	run(r->fn, r->iters / 4 + 1);
}

/* RUNS rounds, each timing every row once: a machine that speeds up or slows down while this
 * runs (frequency, a neighbour) shifts every row alike, never only the ones timed last. */
static void time_rows(void)
{
	static double ns[sizeof(rows) / sizeof(rows[0])][RUNS];

	for (size_t i = 0; i < NROWS; i++)
		calibrate(&rows[i]);
	for (int k = 0; k < RUNS; k++)
		for (size_t i = 0; i < NROWS; i++)
			ns[i][k] = run(rows[i].fn, rows[i].iters) / (double)rows[i].iters;
	for (size_t i = 0; i < NROWS; i++) {
		qsort(ns[i], RUNS, sizeof(ns[i][0]), cmp_double);
		rows[i].med = ns[i][RUNS / 2];
		rows[i].min = ns[i][0];
		rows[i].max = ns[i][RUNS - 1];
	}
}

static double mean_of(const double *v, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return sum / (double)n;
}

static const struct row *row_by_id(const char *id)
{
	for (size_t i = 0; i < NROWS; i++)
		if (!strcmp(rows[i].id, id))
			return &rows[i];
	return NULL;
}

static void set_input(struct row *r)
{
	r->bytes = r->st ? r->st->t.len : r->in->len;
	r->events = r->st ? r->st->events : 0;
}

static int cmd_run(const char *dir, int json)
{
	size_t max;

	openai_json = slurp(dir, "openai.json");
	anthropic_json = slurp(dir, "anthropic.json");
	request = slurp(dir, "request.json");
	request_stream = slurp(dir, "request_stream.json");
	request_anthropic = slurp(dir, "request_anthropic.json");
	stream_load(&openai_sse, dir, "openai.sse");
	stream_load(&anthropic_sse, dir, "anthropic.sse");
	max = openai_sse.t.len > anthropic_sse.t.len ? openai_sse.t.len : anthropic_sse.t.len;
	scratch = malloc(max + openai_json.len + anthropic_json.len + request.len +
			 request_anthropic.len + 64);
	if (!scratch)
		die("out of memory");

	for (size_t i = 0; i < NROWS; i++)
		set_input(&rows[i]);
	time_rows();
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i], *ref = r->ref ? row_by_id(r->ref) : NULL;

		if (json) {
			printf("{\"id\":\"%s\",\"group\":\"%s\",\"label\":\"%s\",\"ref\":%s%s%s,"
			       "\"bytes\":%zu,\"events\":%lu,\"ns\":%.1f,\"ns_min\":%.1f,"
			       "\"ns_max\":%.1f,\"iters\":%ld,\"runs\":%d}\n",
			       r->id, r->group, r->label, ref ? "\"" : "", ref ? ref->id : "null",
			       ref ? "\"" : "", r->bytes, r->events, r->med, r->min, r->max,
			       r->iters, RUNS);
			continue;
		}
		if (i == 0 || strcmp(rows[i - 1].group, r->group))
			printf("%s:\n", r->group);
		printf("  %-66s %6zu B %10.0f ns (%.0f..%.0f)", r->label, r->bytes, r->med, r->min,
		       r->max);
		if (ref)
			printf("  +%.0f ns, x%.1f", r->med - ref->med, r->med / ref->med);
		if (r->events)
			printf("  %.0f ns/event", r->med / (double)r->events);
		printf("\n");
	}
	return 0;
}

static int cmd_translate_request(const char *app_name, const char *model, const char *file)
{
	enum translate_api app;
	struct translate_req r;
	struct text in;
	char dir[4096], *slash;

	if (!strcmp(app_name, "openai"))
		app = TRANSLATE_OPENAI_CHAT;
	else if (!strcmp(app_name, "anthropic"))
		app = TRANSLATE_ANTHROPIC_MESSAGES;
	else
		die("the app's API is openai or anthropic");
	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	in = slurp(slash ? dir : ".", slash ? slash + 1 : file);
	if (translate_request(app, in.p, in.len, model, 0, &r)) {
		fprintf(stderr, "bench_providers: translate_request: %s\n", r.error);
		return 1;
	}
	fwrite(r.body, 1, r.len, stdout);
	translate_req_release(&r);
	free(in.p);
	return 0;
}

/* ---- events: translate_stream_feed timed event by event ---------------------------------- */

#define EV_STREAMS 2000 /* each stream translated this many times */

struct ev_copy {
	char *type; /* NULL when the event had no name */
	char *data;
	size_t len;
};

struct ev_list {
	struct ev_copy ev[MAX_SLICES];
	size_t n;
};

static int keep_event(void *arg, const struct sse_event *ev)
{
	struct ev_list *l = arg;
	struct ev_copy *c = &l->ev[l->n];

	if (l->n == MAX_SLICES)
		die("too many events");
	c->type = ev->type ? strdup(ev->type) : NULL;
	c->data = malloc(ev->data_len + 1);
	if (!c->data || (ev->type && !c->type))
		die("out of memory");
	memcpy(c->data, ev->data, ev->data_len + 1);
	c->len = ev->data_len;
	l->n++;
	return 0;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)(p * (double)(n - 1))];
}

/* One translation of L (an upstream of API FROM) for APP, each feed timed into NS (L->n
 * samples). */
static void time_feeds(const struct ev_list *l, enum translate_api app, enum translate_api from,
		       double *ns, struct translate_buf *out)
{
	struct translate_stream *s = translate_stream_new_from(app, from, 1, NULL);
	double t0;

	if (!s)
		die("out of memory");
	for (size_t i = 0; i < l->n; i++) {
		out->len = 0; /* the proxy hands each event's output on, then starts again */
		t0 = now_ns();
		if (translate_stream_feed(s, l->ev[i].type, l->ev[i].data, l->ev[i].len, out))
			die("an event did not translate");
		ns[i] = now_ns() - t0;
		keep(out->data);
	}
	if (!translate_stream_ended(s))
		die("a stream did not end");
	translate_stream_free(s);
}

enum { EV_TEXT, EV_ARGS, EV_OTHER, EV_KINDS };

/* What an upstream event is: a text delta, a piece of a tool call's arguments, or one of the
 * others (the opening and closing events, pings, the usage chunk, [DONE]). */
static int event_kind(const struct ev_copy *e)
{
	if (strstr(e->data, "\"text_delta\"") || strstr(e->data, "\"delta\":{\"content\":"))
		return EV_TEXT;
	if (strstr(e->data, "\"input_json_delta\"") ||
	    (strstr(e->data, "\"arguments\":\"") && !strstr(e->data, "\"name\":")))
		return EV_ARGS;
	return EV_OTHER;
}

/* The distribution of the times in ALL (EV_STREAMS rounds of L's events) of the events of
 * KIND (-1: all of them). */
static void report_kind(const struct ev_list *l, const double *all, int kind)
{
	static const char *const names[] = {"text deltas", "tool-call argument deltas",
					    "opening, closing, other"};
	double *v = malloc(sizeof(*v) * l->n * EV_STREAMS);
	int of_kind[MAX_SLICES];
	size_t n = 0;

	if (!v)
		die("out of memory");
	for (size_t i = 0; i < l->n; i++)
		of_kind[i] = kind < 0 || event_kind(&l->ev[i]) == kind;
	for (size_t i = 0; i < l->n * EV_STREAMS; i++)
		if (of_kind[i % l->n])
			v[n++] = all[i];
	if (n)
		printf("    %-26s %3zu events: median %6.0f ns, p90 %6.0f ns, p99 %6.0f ns, "
		       "mean %6.0f ns\n",
		       kind < 0 ? "all" : names[kind], n / EV_STREAMS, pct(v, n, 0.5),
		       pct(v, n, 0.9), pct(v, n, 0.99), mean_of(v, n));
	free(v);
}

/* Per-event cost of translating DIR/NAME (an upstream of API FROM) for APP: median and p99 over
 * EV_STREAMS runs, less the clock's own cost (CLOCK_NS, measured the same way around nothing). */
static void bench_events(const char *dir, const char *name, enum translate_api app,
			 enum translate_api from, double clock_ns)
{
	static const char *const apps[] = {"", "OpenAI", "Anthropic", "Gemini"};
	struct ev_list *l = calloc(1, sizeof(*l));
	struct translate_buf out = {0};
	struct stream st;
	struct sse_parser p;
	double *all, *one;

	if (!l)
		die("out of memory");
	stream_load(&st, dir, name);
	sse_init(&p, 0, keep_event, l);
	if (sse_feed(&p, st.t.p, st.t.len))
		die("a stream does not parse as SSE");
	sse_free(&p);
	all = malloc(sizeof(*all) * l->n * EV_STREAMS);
	one = malloc(sizeof(*one) * l->n);
	if (!all || !one)
		die("out of memory");
	for (int k = 0; k < 50; k++) /* warm */
		time_feeds(l, app, from, one, &out);
	for (int k = 0; k < EV_STREAMS; k++) {
		time_feeds(l, app, from, one, &out);
		for (size_t i = 0; i < l->n; i++)
			all[(size_t)k * l->n + i] = one[i] - clock_ns;
	}
	printf("  %s -> %s app:\n", name, apps[app]);
	for (int kind = 0; kind < EV_KINDS; kind++)
		report_kind(l, all, kind);
	report_kind(l, all, -1);
	for (size_t i = 0; i < l->n; i++) {
		free(l->ev[i].type);
		free(l->ev[i].data);
	}
	translate_buf_free(&out);
	free(all);
	free(one);
	free(l);
	free(st.t.p);
}

static int cmd_events(const char *dir)
{
	double c[1001];

	for (int i = 0; i < 1001; i++) {
		double t0 = now_ns();

		c[i] = now_ns() - t0;
	}
	printf("translate_stream_feed per event (clock cost %.0f ns taken off):\n",
	       pct(c, 1001, 0.5));
	bench_events(dir, "anthropic.sse", TRANSLATE_OPENAI_CHAT, TRANSLATE_ANTHROPIC_MESSAGES,
		     pct(c, 1001, 0.5));
	bench_events(dir, "openai.sse", TRANSLATE_ANTHROPIC_MESSAGES, TRANSLATE_OPENAI_CHAT,
		     pct(c, 1001, 0.5));
	bench_events(dir, "openai_text.sse", TRANSLATE_GEMINI_GENERATE, TRANSLATE_OPENAI_CHAT,
		     pct(c, 1001, 0.5));
	bench_events(dir, "anthropic_text.sse", TRANSLATE_GEMINI_GENERATE,
		     TRANSLATE_ANTHROPIC_MESSAGES, pct(c, 1001, 0.5));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "run"))
		return cmd_run(argv[2], argc > 3 && !strcmp(argv[3], "--json"));
	if (argc == 3 && !strcmp(argv[1], "events"))
		return cmd_events(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "translate-request"))
		return cmd_translate_request(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: bench_providers run DIR [--json]\n"
			"       bench_providers translate-request openai|anthropic MODEL FILE\n"
			"       bench_providers events DIR\n");
	return 2;
}
