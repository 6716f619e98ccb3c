/*
 * fuzz_sse: libFuzzer target for the server-sent events parser (userspace/providers/sse.c)
 * and the usage stream extractor (userspace/providers/usage.c), for each provider API.
 *
 * The first input byte picks where the rest (the stream) is cut in two, and seeds where it
 * is cut in pieces: right after each CR and colon (a CRLF or a field split across slices)
 * and at a few pseudo-random offsets (inside a name, a value, the byte order mark), at most
 * MAX_CUTS cuts, so that an input costs a few feeds rather than one per byte. The stream is
 * parsed whole, cut in two, and in pieces; each event is shown to a usage extractor per API
 * (OpenAI chat with and without the suppressed usage chunk, OpenAI Responses, Anthropic): the
 * parser does not depend on the API, so each way is parsed once (a parse per API was three
 * quarters of this harness's time). Beyond what ASan/UBSan catch it checks the contract:
 *   - sse_feed() returns only 0 or -EMSGSIZE (the callback never fails here);
 *   - the three ways give the same events (name, data, stream offsets), the same result and
 *     the same usage_stream, field for field;
 *   - every event lies inside the stream, after the one before, with data[data_len] == '\0';
 *     sse_committed() never goes back nor past the bytes fed;
 *   - the usage is sane: counts >= 0, parts within their wholes, known and unpriced only
 *     their documented bits, an end in the enum, strings NUL-terminated, drops only for a
 *     chat stream with the suppress flag;
 *   - what a proxy would forward (the stream without the dropped events' bytes) parses to
 *     the same events minus the dropped ones: the client sees nothing else change.
 *
 *   clang -D_GNU_SOURCE -Iuserspace -g -O1 -fsanitize=fuzzer,address,undefined \
 *	tests/fuzz/fuzz_sse.c userspace/providers/sse.c userspace/providers/usage.c -lcjson \
 *	-o /tmp/fuzz_sse
 *   /tmp/fuzz_sse -max_len=8192 tests/fuzz/corpus/sse
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "providers/sse.h"
#include "providers/usage.h"
#include "usage_ref.h"

#define MAX_EVENT 1024 /* small, so that the size limit is reached too */
#define MAX_EVENTS 4096
#define MAX_DROPS 64
#define MAX_CUTS 32

static const struct {
	enum usage_api api;
	unsigned flags;
} configs[] = {
    {USAGE_API_OPENAI_CHAT, USAGE_STREAM_SUPPRESS_USAGE_CHUNK},
    {USAGE_API_OPENAI_CHAT, 0},
    {USAGE_API_OPENAI_RESPONSES, 0},
    {USAGE_API_ANTHROPIC_MESSAGES, 0},
};
#define N_CONFIGS (sizeof(configs) / sizeof(configs[0]))

struct ev {
	uint64_t type_hash, data_hash, start, end;
	size_t data_len;
	int has_type;
	unsigned dropped; /* bit C: configs[C]'s extractor dropped it */
};

struct run;
static const struct run *answers_run; /* its events' data are also read as whole answers */

struct run {
	struct usage_stream us[N_CONFIGS];
	size_t n_us; /* the extractors shown the events: the first N_US configs */
	size_t n;
	uint64_t fed, committed;
	int err;
	struct ev ev[MAX_EVENTS]; /* last: a run clears only what is before it */
};

static uint64_t hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ *s++) * 1099511628211ull;
	return h;
}

static int on_event(void *arg, const struct sse_event *e)
{
	struct run *r = arg;
	struct ev *v;
	unsigned dropped = 0;
	size_t c;
	int verdict;

	CHECK(e->data != NULL && e->data[e->data_len] == '\0');
	CHECK(e->start < e->end && e->end <= r->fed);
	CHECK(!r->n || e->start >= r->ev[r->n - 1].end);
	CHECK(!e->type || *e->type);
	if (r == answers_run)
		CHECK(!*usage_ref_disagreement(e->data, e->data_len));
	for (c = 0; c < r->n_us; c++) {
		verdict = usage_stream_event(&r->us[c], e->type, e->data, e->data_len);
		CHECK(verdict == USAGE_EVENT_FORWARD || verdict == USAGE_EVENT_DROP);
		if (verdict == USAGE_EVENT_DROP)
			dropped |= 1u << c;
	}
	if (r->n == MAX_EVENTS)
		return 0;
	v = &r->ev[r->n++];
	v->type_hash = e->type ? hash(e->type, strlen(e->type)) : 0;
	v->has_type = e->type != NULL;
	v->data_hash = hash(e->data, e->data_len);
	v->data_len = e->data_len;
	v->start = e->start;
	v->end = e->end;
	v->dropped = dropped;
	return 0;
}

static void feed(struct sse_parser *p, struct run *r, const uint8_t *s, size_t n)
{
	int err;
	uint64_t c;

	if (r->err)
		return;
	r->fed += n;
	err = sse_feed(p, s, n);
	CHECK(err == 0 || err == -EMSGSIZE);
	r->err = err;
	if (err)
		return;
	c = sse_committed(p);
	CHECK(c >= r->committed && c <= r->fed);
	r->committed = c;
}

/* The stream fed in the slices that AT[0..N_AT) (increasing offsets) cut it into, its events
 * shown to the extractors of the first N_US configs. */
static void run(struct run *r, size_t n_us, const uint8_t *s, size_t n, const size_t *at,
		size_t n_at)
{
	struct sse_parser p;
	size_t i, from = 0;

	memset(r, 0, offsetof(struct run, ev));
	r->n_us = n_us;
	for (i = 0; i < n_us; i++)
		usage_stream_init(&r->us[i], configs[i].api, configs[i].flags);
	sse_init(&p, MAX_EVENT, on_event, r);
	for (i = 0; i < n_at; i++) {
		feed(&p, r, s + from, at[i] - from);
		from = at[i];
	}
	feed(&p, r, s + from, n - from);
	sse_free(&p);
}

/* Where to cut S (N bytes) in pieces: after a CR or a colon, and every few bytes as SEED
 * says; at most MAX_CUTS increasing offsets in AT. Returns how many. */
static size_t pick_cuts(const uint8_t *s, size_t n, unsigned seed, size_t *at)
{
	size_t i, k = 0, next, gap = n / 8 + 1;

	seed = seed * 1103515245u + 12345u;
	next = 1 + (seed >> 16) % gap;
	for (i = 1; i < n && k < MAX_CUTS; i++) {
		if (i == next) {
			seed = seed * 1103515245u + 12345u;
			next = i + 1 + (seed >> 16) % gap;
		} else if (s[i - 1] != '\r' && s[i - 1] != ':') {
			continue;
		}
		at[k++] = i;
	}
	return k;
}

static int strnul(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_usage(const struct usage_stream *s, unsigned flags, size_t n_events)
{
	const struct usage *u = &s->usage;

	CHECK(u->input >= 0 && u->output >= 0 && u->cached_input >= 0 && u->cache_write >= 0 &&
	      u->cache_write_1h >= 0 && u->reasoning >= 0);
	CHECK(u->cached_input + u->cache_write <= u->input);
	CHECK(u->cache_write_1h <= u->cache_write);
	CHECK(u->reasoning <= u->output);
	CHECK((u->known & ~USAGE_KNOWN_ALL) == 0);
	CHECK((u->unpriced & ~USAGE_UNPRICED_ALL) == 0);
	CHECK(s->end >= USAGE_END_NONE && s->end <= USAGE_END_ERROR);
	CHECK(strnul(s->error_type, sizeof(s->error_type)) && strnul(s->model, sizeof(s->model)));
	CHECK(s->end == USAGE_END_ERROR || s->end == USAGE_END_INCOMPLETE || !s->error_type[0]);
	CHECK(s->dropped <= s->events && s->unparsed <= s->events);
	CHECK(s->events >= n_events || n_events == MAX_EVENTS);
	if (s->api != USAGE_API_OPENAI_CHAT || !(flags & USAGE_STREAM_SUPPRESS_USAGE_CHUNK))
		CHECK(s->dropped == 0);
	if (s->dropped)
		CHECK(u->known == USAGE_KNOWN_ALL);
}

static int same_events(const struct run *a, const struct run *b)
{
	return a->n == b->n && !memcmp(a->ev, b->ev, a->n * sizeof(a->ev[0]));
}

static int same_usage(const struct run *a, const struct run *b)
{
	return a->n_us == b->n_us && !memcmp(a->us, b->us, a->n_us * sizeof(a->us[0]));
}

/* The stream as a proxy forwards it: without the bytes of the events config C dropped, a
 * blank line in place of a dropped event that begins the stream (response.c, held_forward). */
static size_t forwarded(const struct run *r, size_t c, const uint8_t *s, size_t n, uint8_t *out)
{
	size_t i, j = 0, e = 0;

	if (r->n && r->ev[0].start == 0 && (r->ev[0].dropped >> c & 1))
		out[j++] = '\n';
	for (i = 0; i < n; i++) {
		while (e < r->n && (!(r->ev[e].dropped >> c & 1) || r->ev[e].end <= i))
			e++;
		if (e < r->n && i >= r->ev[e].start && i < r->ev[e].end)
			continue;
		out[j++] = s[i];
	}
	return j;
}

/* The client of config C parses what was forwarded: the same events, less the dropped ones. */
static void check_forwarded(const struct run *r, size_t c, const uint8_t *s, size_t n)
{
	static struct run client;
	static uint8_t out[1 << 16];
	size_t m, i, j = 0;

	if (!r->us[c].dropped || r->err || r->n == MAX_EVENTS || n > sizeof(out))
		return;
	m = forwarded(r, c, s, n, out);
	run(&client, N_CONFIGS, out, m, NULL, 0);
	CHECK(client.err == 0);
	for (i = 0; i < r->n; i++) {
		if (r->ev[i].dropped >> c & 1)
			continue;
		CHECK(j < client.n);
		CHECK(client.ev[j].type_hash == r->ev[i].type_hash);
		CHECK(client.ev[j].has_type == r->ev[i].has_type);
		CHECK(client.ev[j].data_hash == r->ev[i].data_hash);
		CHECK(client.ev[j].data_len == r->ev[i].data_len);
		j++;
	}
	CHECK(j == client.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, cut, pieces;
	const uint8_t *s = data + 1;
	size_t n, at, i, cuts[MAX_CUTS], n_cuts;

	if (size < 1)
		return 0;
	n = size - 1;
	at = (size_t)data[0] * (n + 1) / 256; /* 0 .. n */
	n_cuts = pick_cuts(s, n, data[0], cuts);
	CHECK(!*usage_ref_disagreement((const char *)s, n)); /* the stream as a whole answer */
	answers_run = &whole;
	run(&whole, N_CONFIGS, s, n, NULL, 0);
	answers_run = NULL;
	run(&cut, N_CONFIGS, s, n, &at, 1);
	CHECK(whole.err == cut.err);
	CHECK(same_events(&whole, &cut));
	CHECK(same_usage(&whole, &cut));
	run(&pieces, N_CONFIGS, s, n, cuts, n_cuts);
	CHECK(whole.err == pieces.err);
	CHECK(same_events(&whole, &pieces));
	CHECK(same_usage(&whole, &pieces));
	for (i = 0; i < N_CONFIGS; i++) {
		check_usage(&whole.us[i], configs[i].flags, whole.n);
		check_forwarded(&whole, i, s, n);
	}
	return 0;
}
