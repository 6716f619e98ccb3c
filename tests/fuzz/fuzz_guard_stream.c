/*
 * fuzz_guard_stream: libFuzzer target for the per-call guardrails on streams and bodies
 * (userspace/guard/stream.c, guard.c, jsontext.c, with the real scanner).
 *
 * The first input byte seeds where the rest (a stream) is cut into slices of pseudo-random
 * lengths, about MAX_SLICES of them, so that an input costs a few feeds however long it is.
 * For each stream API, a call whose request tokenized an e-mail address and whose profile
 * redacts PII in the answer reads the stream whole and in slices, and beyond what ASan/UBSan
 * catch:
 *   - guard_stream_feed()/finish() return only 0, -EPERM or -EMSGSIZE;
 *   - the output is whole SSE events: an SSE parser reads it without error and every byte
 *     of it is part of a dispatched event (sse_committed() is its length);
 *   - the result and the output are the same however the input was cut (an SSE event
 *     cannot reach the parser's size limit at these lengths);
 *   - the held text never grows without bound (stream.c returns -EMSGSIZE if it would).
 * The same bytes also go through guard_request() and guard_response(): only 0, -EINVAL or
 * -EPERM, and a rewritten body is JSON again.
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

#define MAX_SLICES 24

static const char request[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"I am alice@example.org\"}]}";

static struct guard_profile *profile;

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

static struct guard_call *new_call(enum guard_api api)
{
	struct guard_call *gc = guard_call_new(profile, api);
	char *body = NULL;
	size_t len;

	CHECK(gc != NULL);
	CHECK(guard_request(gc, request, strlen(request), &body, &len) == 0);
	CHECK(body && strstr(body, "[EMAIL_1]"));
	free(body);
	return gc;
}

/* The stream S (N bytes) through a new call of API, cut where RNG says (0: whole). */
static int run(enum guard_api api, const uint8_t *s, size_t n, unsigned rng,
	       struct translate_buf *out)
{
	struct guard_call *gc = new_call(api);
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

static void check_bodies(const uint8_t *s, size_t n)
{
	struct guard_call *gc = new_call(GUARD_API_OPENAI_CHAT);
	char *out = NULL;
	size_t len = 0;
	int rc;

	rc = guard_request(gc, (const char *)s, n, &out, &len);
	CHECK(rc == 0 || rc == -EINVAL || rc == -EPERM);
	CHECK(!out || jsontext_walk(out, len, NULL, NULL, NULL, NULL) == 0);
	free(out);
	out = NULL;
	rc = guard_response(gc, (const char *)s, n, &out, &len);
	CHECK(rc == 0 || rc == -EINVAL || rc == -EPERM);
	CHECK(!out || jsontext_walk(out, len, NULL, NULL, NULL, NULL) == 0);
	free(out);
	guard_call_free(gc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum guard_api apis[] = {GUARD_API_OPENAI_CHAT, GUARD_API_ANTHROPIC_MESSAGES,
					      GUARD_API_OPENAI_RESPONSES};
	struct translate_buf whole = {0}, cut = {0};
	char err[256];

	if (!profile) {
		cJSON *o = cJSON_Parse("{\"request\":{\"pii\":\"tokenize\",\"secrets\":\"redact\"},"
				       "\"response\":{\"pii\":\"redact\",\"ip\":\"redact\"}}");

		CHECK(o && guard_profile_parse("fuzz", o, &profile, err, sizeof(err)) == 0);
		cJSON_Delete(o);
	}
	if (size < 1)
		return 0;
	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
		int a = run(apis[i], data + 1, size - 1, 0, &whole);
		int b = run(apis[i], data + 1, size - 1, data[0] | 1u, &cut);

		CHECK(a == b);
		CHECK(whole.len == cut.len &&
		      (!whole.len || !memcmp(whole.data, cut.data, whole.len)));
		whole.len = cut.len = 0;
	}
	translate_buf_free(&whole);
	translate_buf_free(&cut);
	check_bodies(data + 1, size - 1);
	return 0;
}
