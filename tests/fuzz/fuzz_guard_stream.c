/*
 * fuzz_guard_stream: libFuzzer target for the per-call guardrails on streams and bodies
 * (userspace/guard/stream.c, guard.c, jsontext.c, with the real scanner).
 *
 * The first input byte chooses what the rest is fed to (MODE_*): the app's API (the three
 * stream APIs and embeddings), one of PROFILES (tokens to restore or none; redact, block,
 * record, "enforce": false, the policy's own patterns, injection) and the entry points
 * (a stream; the request body and target; the answer body; all of them and the call's
 * record). The second seeds where a stream is cut into slices of pseudo-random lengths,
 * about MAX_SLICES of them, so that an input costs a few feeds however long it is.
 * A stream is read whole and in slices, and beyond what ASan/UBSan catch:
 *   - guard_stream_feed()/finish() return only 0, -EPERM or -EMSGSIZE;
 *   - the output is whole SSE events: an SSE parser reads it without error and every byte
 *     of it is part of a dispatched event (sse_committed() is its length);
 *   - the result and the output are the same however the input was cut (an SSE event
 *     cannot reach the parser's size limit at these lengths);
 *   - the held text never grows without bound (stream.c returns -EMSGSIZE if it would).
 * Bodies go through guard_request() and guard_response(): only 0, -EINVAL or -EPERM, and a
 * rewritten body is JSON again; guard_request_target() returns only 0 or -EPERM; the call's
 * record is JSON.
 *
 *   make build/fuzz/fuzz_guard_stream
 *   build/fuzz/fuzz_guard_stream -max_len=8192 tests/fuzz/corpus/guard_stream
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "guard/guard.h"
#include "guard/jsontext.h"
#include "providers/sse.h"
#include "providers/translate.h"
#include "util/jsonw.h"

#define MAX_SLICES 24

static const char request[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"I am alice@example.org\"}]}";

/* The profiles a mode picks from; TOKENIZES: the request above leaves a token to restore
 * ("enforce": false changes nothing). */
static const struct {
	const char *json;
	int tokenizes;
} profiles[] = {
    {"{\"request\":{\"pii\":\"tokenize\",\"secrets\":\"redact\"},"
     "\"response\":{\"pii\":\"redact\",\"ip\":\"redact\"}}",
     1},
    {"{\"response\":{\"pii\":\"redact\",\"secrets\":\"redact\"}}", 0},
    {"{\"request\":{\"pii\":\"tokenize\"},\"response\":{\"pii\":\"block\",\"secrets\":\"block\"}}",
     1},
    {"{\"request\":{\"pii\":\"tokenize\"},\"response\":{\"pii\":\"block\"},\"enforce\":false}", 0},
    {"{\"request\":{\"pii\":\"record\",\"injection\":\"record\"},"
     "\"response\":{\"pii\":\"record\",\"secrets\":\"record\",\"ip\":\"record\"}}",
     0},
    {"{\"request\":{\"pii\":\"tokenize\"},\"response\":{\"ip\":\"redact\"},"
     "\"patterns\":[{\"name\":\"ticket\",\"regex\":\"TICKET-[0-9]{4}\",\"action\":\"redact\"}]}",
     1},
    {"{\"request\":{\"injection\":\"block\",\"secrets\":\"block\"},\"injection_threshold\":0.5,"
     "\"response\":{\"secrets\":\"redact\"}}",
     0},
    {"{\"request\":{\"pii\":\"tokenize\"}}", 1},
};

#define N_PROFILES (sizeof(profiles) / sizeof(profiles[0]))

/* The mode byte: which API (bits 0-1), profile (bits 2-4) and entry points (bits 5-6). */
#define MODE_API(m) ((m) & 3u)
#define MODE_PROFILE(m) (((m) >> 2) & 7u)
#define MODE_ENTRY(m) (((m) >> 5) & 3u)
enum { ENTRY_STREAM, ENTRY_REQUEST, ENTRY_RESPONSE, ENTRY_ALL };

static const enum guard_api apis[] = {GUARD_API_OPENAI_CHAT, GUARD_API_ANTHROPIC_MESSAGES,
				      GUARD_API_OPENAI_RESPONSES, GUARD_API_OPENAI_EMBEDDINGS};

static struct guard_profile *parsed[N_PROFILES];

static int count_event(void *arg, const struct sse_event *ev)
{
	(*(size_t *)arg)++;
	CHECK(ev->data[ev->data_len] == '\0');
	return 0;
}

/* OUT is whole SSE events and nothing else. */
static void check_sse(const struct translate_buf *out)
{
	struct sse_parser p;
	size_t events = 0;

	if (!out->len)
		return;
	sse_init(&p, 0, count_event, &events);
	CHECK(sse_feed(&p, out->data, out->len) == 0);
	CHECK(sse_committed(&p) == out->len);
	CHECK(events > 0);
	sse_free(&p);
}

/* A call of profile P and API, its request (with an e-mail address) passed. */
static struct guard_call *new_call(unsigned p, enum guard_api api)
{
	struct guard_call *gc = guard_call_new(parsed[p], api);
	char *body = NULL;
	size_t len;

	CHECK(gc != NULL);
	CHECK(guard_request(gc, request, strlen(request), &body, &len) == 0);
	CHECK(!profiles[p].tokenizes || (body && strstr(body, "[EMAIL_1]")));
	free(body);
	return gc;
}

/* The stream S (N bytes) through a new call of profile P and API, cut where RNG says (0:
 * whole). */
static int run(unsigned p, enum guard_api api, const uint8_t *s, size_t n, unsigned rng,
	       struct translate_buf *out)
{
	struct guard_call *gc = new_call(p, api);
	struct guard_stream *gs = guard_stream_new(gc);
	size_t i = 0, k, gap = 2 * n / MAX_SLICES + 1;
	int rc = 0;

	CHECK(gs != NULL);
	while (i < n && !rc) {
		k = n - i;
		if (rng) {
			rng = rng * 1103515245u + 12345u;
			k = 1 + (rng >> 16) % gap;
		}
		k = k < n - i ? k : n - i;
		rc = guard_stream_feed(gs, (const char *)s + i, k, out);
		i += k;
	}
	if (!rc)
		rc = guard_stream_finish(gs, out);
	CHECK(rc == 0 || rc == -EPERM || rc == -EMSGSIZE);
	check_sse(out);
	guard_stream_free(gs);
	guard_call_free(gc);
	return rc;
}

/* The stream S read whole and in slices (RNG) gives the same result and bytes. */
static void check_stream(unsigned p, enum guard_api api, const uint8_t *s, size_t n, unsigned rng)
{
	struct translate_buf whole = {0}, cut = {0};
	int a = run(p, api, s, n, 0, &whole);
	int b = run(p, api, s, n, rng | 1u, &cut);

	CHECK(a == b);
	CHECK(whole.len == cut.len && (!whole.len || !memcmp(whole.data, cut.data, whole.len)));
	translate_buf_free(&whole);
	translate_buf_free(&cut);
}

/* A body rewritten by the guardrails is JSON again. */
static void check_rewritten(int rc, char *out, size_t len)
{
	CHECK(rc == 0 || rc == -EINVAL || rc == -EPERM);
	CHECK(!out || jsontext_walk(out, len, NULL, NULL, NULL, NULL) == 0);
	free(out);
}

/* S as the request body and the request target (ENTRY_REQUEST), the answer body
 * (ENTRY_RESPONSE), or all of them on one call, then its record (ENTRY_ALL). */
static void check_bodies(unsigned p, enum guard_api api, unsigned entry, const uint8_t *s, size_t n)
{
	struct guard_call *gc = new_call(p, api);
	struct jsonw *w;
	char *out = NULL, *rec;
	size_t len = 0;
	int rc;

	if (entry != ENTRY_RESPONSE) {
		rc = guard_request(gc, (const char *)s, n, &out, &len);
		check_rewritten(rc, out, len);
		out = NULL;
		rc = guard_request_target(gc, (const char *)s, n);
		CHECK(rc == 0 || rc == -EPERM);
	}
	if (entry != ENTRY_REQUEST) {
		rc = guard_response(gc, (const char *)s, n, &out, &len);
		check_rewritten(rc, out, len);
	}
	if (entry == ENTRY_ALL) {
		w = jsonw_new();
		CHECK(w != NULL);
		guard_call_record(gc, w);
		rec = jsonw_finish(w, &len);
		CHECK(rec && jsontext_walk(rec, len, NULL, NULL, NULL, NULL) == 0);
		free(rec);
	}
	guard_call_free(gc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode, p, entry;
	enum guard_api api;
	char err[256];

	if (!parsed[0]) {
		for (size_t i = 0; i < N_PROFILES; i++) {
			cJSON *o = cJSON_Parse(profiles[i].json);

			CHECK(o &&
			      guard_profile_parse("fuzz", o, &parsed[i], err, sizeof(err)) == 0);
			cJSON_Delete(o);
		}
	}
	if (size < 2)
		return 0;
	mode = data[0];
	p = MODE_PROFILE(mode);
	api = apis[MODE_API(mode)];
	entry = MODE_ENTRY(mode);
	if (entry == ENTRY_STREAM || entry == ENTRY_ALL)
		check_stream(p, api, data + 2, size - 2, data[1]);
	if (entry != ENTRY_STREAM)
		check_bodies(p, api, entry, data + 2, size - 2);
	return 0;
}
