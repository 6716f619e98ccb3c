/* test_guard_work.c: the streaming guardrails (userspace/guard/stream.c) do work in proportion
 * to what a hostile stream sends. Each attack is one delta event that makes the re-framer look
 * something up in the event per string it holds; fed at two sizes, the work counted by
 * guard_stream_work() must grow as the input does, not as its square. A match split across
 * the attack's events is still found whole. The memory it holds is
 * bounded by one event, not one event per channel: a hostile upstream opens many channels
 * (chat choices, Anthropic content blocks, responses items), each with a big event: big text
 * in the delta (what a prompt-injected model can be made to emit) or a big member beside it (a
 * compromised upstream). Fed with 4 and with 64 channels, guard_stream_held() must not grow
 * with the channels; a stream whose templates would pass the bound fails with -EMSGSIZE (the
 * proxy's "too large to scan" error event and record). */
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

#define BIG (256u * 1024) /* the big string of each event */
#define FEW 4
#define MANY 64 /* the most channels a stream may have */
#define CHANNEL_OWN 4096

/* One attack: the API, and the event of channel K with its big string: HEAD, K, MID, the
 * big string, TAIL. */
struct mem_attack {
	const char *name;
	enum guard_api api;
	const char *head, *mid, *tail;
	int big_text; /* the big string is the delta's text: the stream must succeed */
};

static const struct mem_attack mem_attacks[] = {
    {"anthropic big text", GUARD_API_ANTHROPIC_MESSAGES,
     "data: {\"type\":\"content_block_delta\",\"index\":",
     ",\"delta\":{\"type\":\"text_delta\",\"text\":\"", "\"}}\n\n", 1},
    {"responses big text", GUARD_API_OPENAI_RESPONSES,
     "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_", "\",\"delta\":\"",
     "\"}\n\n", 1},
    {"chat big text", GUARD_API_OPENAI_CHAT,
     "data: {\"id\":\"c\",\"choices\":[{\"index\":", ",\"delta\":{\"content\":\"", "\"}}]}\n\n", 1},
    {"anthropic big member", GUARD_API_ANTHROPIC_MESSAGES,
     "data: {\"type\":\"content_block_delta\",\"index\":", ",\"pad\":\"",
     "\",\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n", 0},
    {"responses big member", GUARD_API_OPENAI_RESPONSES,
     "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_", "\",\"pad\":\"",
     "\",\"delta\":\"hi\"}\n\n", 0},
    {"chat big member", GUARD_API_OPENAI_CHAT, "data: {\"id\":\"c\",\"choices\":[{\"index\":",
     ",\"delta\":{\"content\":\"hi\"}}],\"pad\":\"", "\"}\n\n", 0},
};

/* Attack A on N channels, one event each: the most bytes the guard held after an event
 * (0 when the stream failed otherwise than as *RET_RC says), its result in *RET_RC. */
static size_t attack_held(const struct mem_attack *a, unsigned n, const char *big, int *ret_rc)
{
	struct translate_buf out = {0};
	struct guard_profile *p = profile();
	struct guard_call *gc = p ? guard_call_new(p, a->api) : NULL;
	struct guard_stream *gs = gc ? guard_stream_new(gc) : NULL;
	size_t held = 0, len = strlen(a->head) + strlen(a->mid) + strlen(a->tail) + BIG + 16;
	char *ev = malloc(len);
	int rc = -ENOMEM;

	if (!gs || !ev)
		goto out;
	*ret_rc = 0;
	for (unsigned k = 0; k < n && !*ret_rc; k++) {
		snprintf(ev, len, "%s%u%s%s%s", a->head, k, a->mid, big, a->tail);
		*ret_rc = guard_stream_feed(gs, ev, strlen(ev), &out);
		held = guard_stream_held(gs) > held ? guard_stream_held(gs) : held;
	}
	if (!*ret_rc)
		*ret_rc = guard_stream_finish(gs, &out);
	if (!*ret_rc && a->big_text && out.len < (size_t)n * BIG)
		fprintf(stderr, "  %s: %zu bytes out for %u events of %u\n", a->name, out.len, n,
			BIG);
	rc = 0;
out:
	if (rc)
		*ret_rc = rc;
	free(ev);
	guard_stream_free(gs);
	guard_call_free(gc);
	guard_profile_free(p);
	translate_buf_free(&out);
	return held;
}

/* 64 channels hold no more than 4 do, but for CHANNEL_OWN bytes a channel (its held text, at
 * most the scanner's widest match and a placeholder, and its small template). Big text
 * goes through whole; a big member beside it may fail the stream, but only with -EMSGSIZE. */
static void test_held_does_not_grow_with_channels(void)
{
	char *big = malloc(BIG + 1);
	int bad = 0;

	ASSERT_TRUE(big != NULL);
	memset(big, 'a', BIG);
	big[BIG] = 0;
	for (size_t i = 0; i < sizeof(mem_attacks) / sizeof(mem_attacks[0]); i++) {
		const struct mem_attack *a = &mem_attacks[i];
		int rc_few = -1, rc_many = -1;
		size_t few = attack_held(a, FEW, big, &rc_few);
		size_t many = attack_held(a, MANY, big, &rc_many);

		fprintf(stderr,
			"  %s: held %zu bytes with %u channels (rc %d), %zu with %u (rc %d)\n",
			a->name, few, FEW, rc_few, many, MANY, rc_many);
		bad += many > few + (MANY - FEW) * CHANNEL_OWN;
		bad += a->big_text
			   ? rc_few || rc_many
			   : (rc_few && rc_few != -EMSGSIZE) || (rc_many && rc_many != -EMSGSIZE);
	}
	free(big);
	ASSERT_EQ(bad, 0);
}

/* A stream of one channel holds what one channel needs: channels are not all allocated (and
 * zeroed) when the stream starts. */
static void test_one_channel_holds_little(void)
{
	static const char ev[] = "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
				 "{\"type\":\"text_delta\",\"text\":\"hello\"}}\n\n";
	struct translate_buf out = {0};
	struct guard_profile *p = profile();
	struct guard_call *gc = p ? guard_call_new(p, GUARD_API_ANTHROPIC_MESSAGES) : NULL;
	struct guard_stream *gs = gc ? guard_stream_new(gc) : NULL;
	size_t held = 0;
	int rc = gs ? guard_stream_feed(gs, ev, strlen(ev), &out) : -ENOMEM;

	if (!rc) {
		held = guard_stream_held(gs);
		rc = guard_stream_finish(gs, &out);
	}
	guard_stream_free(gs);
	guard_call_free(gc);
	guard_profile_free(p);
	translate_buf_free(&out);
	fprintf(stderr, "  one channel: held %zu bytes\n", held);
	ASSERT_OK(rc);
	ASSERT_TRUE(held < 2 * CHANNEL_OWN);
}

UNIT_MAIN(UNIT_CASE(test_work_grows_linearly), UNIT_CASE(test_held_does_not_grow_with_channels),
	  UNIT_CASE(test_one_channel_holds_little))
