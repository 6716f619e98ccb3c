/* test_guard_work.c: the streaming guardrails (userspace/guard/stream.c) do work in proportion
 * to what a hostile stream sends. Each attack is one delta event that makes the re-framer look
 * something up in the event per string it holds; fed at two sizes, the work counted by
 * guard_stream_work() must grow as the input does, not as its square. A match split across
 * the attack's events is still found whole. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>

#include "guard/guard.h"
#include "providers/translate.h"
#include "providers/translate_util.h"
#include "unit.h"

/* What one attack is: the API it speaks, and one event's head, repeated body and tail. */
struct attack {
	const char *name;
	enum guard_api api;
	const char *head, *body, *tail;
};

static const struct attack attacks[] = {
    /* every string of an Anthropic delta event looked up "delta", the event's last member */
    {"anthropic members", GUARD_API_ANTHROPIC_MESSAGES,
     "data: {\"type\":\"content_block_delta\",\"index\":0", ",\"a\":\"x\"",
     ",\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"},
    /* every delta string of a responses event looked up the event's ids past all the others */
    {"responses duplicate deltas", GUARD_API_OPENAI_RESPONSES,
     "data: {\"type\":\"response.output_text.delta\"", ",\"delta\":\"\"", "}\n\n"},
    /* every content string of a chat chunk walked the choices to its own */
    {"chat choices", GUARD_API_OPENAI_CHAT, "data: {\"choices\":[{\"delta\":{}}",
     ",{\"index\":0,\"delta\":{\"content\":\"\"}}", "]}\n\n"},
    /* every content string of a chat choice looked for the choice's finish_reason */
    {"chat duplicate deltas", GUARD_API_OPENAI_CHAT, "data: {\"choices\":[{\"index\":0",
     ",\"delta\":{\"content\":\"\"}", "}]}\n\n"},
};

/* An e-mail address split across two delta events of the attack's API. */
static const char *split_match(enum guard_api api)
{
	switch (api) {
	case GUARD_API_ANTHROPIC_MESSAGES:
		return "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		       "\"text_delta\",\"text\":\" bob@exa\"}}\n\n"
		       "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		       "\"text_delta\",\"text\":\"mple.com \"}}\n\n";
	case GUARD_API_OPENAI_RESPONSES:
		return "data: {\"type\":\"response.output_text.delta\",\"delta\":\" bob@exa\"}\n\n"
		       "data: {\"type\":\"response.output_text.delta\",\"delta\":\"mple.com "
		       "\"}\n\n";
	default:
		return "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" "
		       "bob@exa\"}}]}\n\n"
		       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mple.com "
		       "\"}}]}\n\n";
	}
}

static struct guard_profile *profile(void)
{
	static const char json[] = "{\"response\":{\"pii\":\"redact\",\"secrets\":\"redact\"}}";
	struct guard_profile *p = NULL;
	cJSON *o = cJSON_Parse(json);
	char err[256];

	if (!o || guard_profile_parse("work", o, &p, err, sizeof(err)))
		p = NULL;
	cJSON_Delete(o);
	return p;
}

/* Streams attack A with N repeats (then a split match) and returns the work it cost, or 0
 * when the stream failed or let the split address through. */
static unsigned long long attack_work(const struct attack *a, size_t n)
{
	struct translate_buf in = {0}, out = {0};
	struct guard_profile *p = profile();
	struct guard_call *gc = p ? guard_call_new(p, a->api) : NULL;
	struct guard_stream *gs = gc ? guard_stream_new(gc) : NULL;
	unsigned long long work = 0;
	int rc = -ENOMEM;

	if (!gs)
		goto out;
	rc = translate_buf_add(&in, a->head, strlen(a->head));
	for (size_t i = 0; i < n && !rc; i++)
		rc = translate_buf_add(&in, a->body, strlen(a->body));
	rc = rc || translate_buf_add(&in, a->tail, strlen(a->tail)) ||
	     translate_buf_add(&in, split_match(a->api), strlen(split_match(a->api)));
	if (!rc)
		rc = guard_stream_feed(gs, in.data, in.len, &out);
	if (!rc)
		rc = guard_stream_finish(gs, &out);
	if (!rc)
		rc = translate_buf_add(&out, "", 0);
	if (rc || !strstr(out.data, "[EMAIL_1]") || strstr(out.data, "bob@"))
		fprintf(stderr, "  %s: rc %d, the split address %s\n", a->name, rc,
			rc ? "unknown" : "not redacted");
	else
		work = guard_stream_work(gs);
out:
	guard_stream_free(gs);
	guard_call_free(gc);
	guard_profile_free(p);
	translate_buf_free(&in);
	translate_buf_free(&out);
	return work;
}

/* Four times the input costs about four times the work (a square would be sixteen). */
static void test_work_grows_linearly(void)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		unsigned long long small = attack_work(&attacks[i], 2000);
		unsigned long long big = attack_work(&attacks[i], 8000);

		fprintf(stderr, "  %s: work %llu at 2000, %llu at 8000 (%.1fx for 4x the input)\n",
			attacks[i].name, small, big, small ? (double)big / (double)small : 0.0);
		bad += !small || !big || big > 5 * small;
	}
	ASSERT_EQ(bad, 0);
}

UNIT_MAIN(UNIT_CASE(test_work_grows_linearly))
