/*
 * test_translate_stream.c: the stream translator (providers/translate_stream.c, which reads
 * and writes JSON text directly) against the one it replaced (translate_stream_ref.c, a cJSON
 * tree parsed and printed per event): the same upstream events in, byte-identical app events
 * out (the made-up ids and "created" masked), the same result for every event, the same end.
 *
 * Streams of both directions: realistic ones; each edge of JSON as cJSON reads and writes it
 * (escapes, U+0000, bad \u escapes, surrogates, control characters, invalid UTF-8, U+2028/2029,
 * escaped and duplicate keys, nulls and wrong types, odd numbers and whitespace, a byte order
 * mark, nesting) put in the middle of a stream; protocol breaks; and thousands of random
 * mutations of them all.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "gemini_two_stage.h"
#include "providers/translate.h"
#include "translate_stream_ref.h"
#include "unit.h"

#define OPENAI TRANSLATE_OPENAI_CHAT
#define ANTHROPIC TRANSLATE_ANTHROPIC_MESSAGES
#define MAX_EVENTS 64

/* One upstream event: its SSE name (NULL: none) and data (LEN bytes). */
struct ev {
	const char *name;
	const char *data;
	size_t len;
};

struct result {
	int rc[MAX_EVENTS + 1]; /* each feed, then finish */
	int ended;
	struct translate_buf out;
};

static void run_new(enum translate_api app, int usage, const char *model, const struct ev *ev,
		    int n, struct result *r)
{
	struct translate_stream *s = translate_stream_new(app, usage, model);

	for (int i = 0; i < n; i++)
		r->rc[i] = translate_stream_feed(s, ev[i].name, ev[i].data, ev[i].len, &r->out);
	r->rc[n] = translate_stream_finish(s, &r->out);
	r->ended = translate_stream_ended(s);
	translate_stream_free(s);
}

static void run_ref(enum translate_api app, int usage, const char *model, const struct ev *ev,
		    int n, struct result *r)
{
	struct ref_translate_stream *s = ref_translate_stream_new(app, usage, model);

	for (int i = 0; i < n; i++)
		r->rc[i] = ref_translate_stream_feed(s, ev[i].name, ev[i].data, ev[i].len, &r->out);
	r->rc[n] = ref_translate_stream_finish(s, &r->out);
	r->ended = ref_translate_stream_ended(s);
	ref_translate_stream_free(s);
}

static int compared, differed;

/* Whether A and B (of EV, N events) agree, the made-up ids masked: the same result for each
 * event and the end, the same output. The first differences are reported, headed by WHAT.
 * Frees both outputs. */
static int agree(struct result *a, struct result *b, const struct ev *ev, int n,
		 const char *what)
{
	const char *x, *y;
	int ok = 1;

	if (a->out.data)
		ref_translate_cut_error_messages(&a->out);
	ref_translate_mask(a->out.data);
	ref_translate_mask(b->out.data);
	x = a->out.data ? a->out.data : "";
	y = b->out.data ? b->out.data : "";
	for (int i = 0; i <= n; i++)
		ok &= a->rc[i] == b->rc[i];
	ok &= a->ended == b->ended && a->out.len == b->out.len && !strcmp(x, y);
	compared++;
	if (!ok && differed++ < 5) {
		fprintf(stderr, "  differs (%s):\n", what);
		for (int i = 0; i < n; i++)
			fprintf(stderr, "    in  %s | %.*s  -> %d / %d\n",
				ev[i].name ? ev[i].name : "-", (int)ev[i].len, ev[i].data, a->rc[i],
				b->rc[i]);
		fprintf(stderr, "    new: %s\n    ref: %s\n", x, y);
	}
	translate_buf_free(&a->out);
	translate_buf_free(&b->out);
	return ok;
}

/* An Anthropic stream EV (N events) for a Gemini app, written in one stage, against the two
 * stages it replaced (gemini_two_stage.c), every model: as same(). */
static int same_gemini(const struct ev *ev, int n)
{
	static const char *const models[] = {NULL, "my-\"model\"\n"};

	for (int k = 0; k < 2; k++) {
		struct translate_stream *s = translate_stream_new_from(
		    TRANSLATE_GEMINI_GENERATE, ANTHROPIC, 0, models[k]);
		struct gemini_two_stage *t = gemini_two_stage_new(models[k]);
		struct result a = {0}, b = {0};

		for (int i = 0; i < n; i++) {
			a.rc[i] = translate_stream_feed(s, ev[i].name, ev[i].data, ev[i].len, &a.out);
			b.rc[i] = gemini_two_stage_feed(t, ev[i].name, ev[i].data, ev[i].len, &b.out);
		}
		a.rc[n] = translate_stream_finish(s, &a.out);
		b.rc[n] = gemini_two_stage_finish(t, &b.out);
		a.ended = translate_stream_ended(s);
		b.ended = gemini_two_stage_ended(t);
		translate_stream_free(s);
		gemini_two_stage_free(t);
		gemini_two_stage_mask_error(&a.out);
		gemini_two_stage_mask_error(&b.out);
		if (!agree(&a, &b, ev, n, models[k] ? "Gemini app, model set" : "Gemini app"))
			return 0;
	}
	return 1;
}

/* Runs EV (N events) through both translators, every include_usage and model; reports the
 * first difference. Returns 1 when they agree. */
static int same(enum translate_api app, const struct ev *ev, int n)
{
	static const char *const models[] = {NULL, "my-\"model\"\n"};
	char what[64];

	if (app == OPENAI && !same_gemini(ev, n)) /* an Anthropic upstream */
		return 0;
	for (int k = 0; k < 4; k++) {
		struct result a = {0}, b = {0};

		run_new(app, k & 1, models[k >> 1], ev, n, &a);
		run_ref(app, k & 1, models[k >> 1], ev, n, &b);
		snprintf(what, sizeof(what), "app %d, usage %d, model %s", app, k & 1,
			 models[k >> 1] ? "set" : "none");
		if (!agree(&a, &b, ev, n, what))
			return 0;
	}
	return 1;
}

/* ---- the streams ---- */

#define A(name, data)                                                                              \
	{                                                                                          \
		name, data, sizeof(data) - 1                                                       \
	}
#define O(data)                                                                                    \
	{                                                                                          \
		NULL, data, sizeof(data) - 1                                                       \
	}

static const struct ev anthropic_stream[] = {
    A("message_start",
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
      "\"assistant\",\"model\":\"claude-3-5-haiku-20241022\",\"content\":[],\"stop_reason\":null,"
      "\"usage\":{\"input_tokens\":472,\"cache_creation_input_tokens\":10,"
      "\"cache_read_input_tokens\":20,\"output_tokens\":2}}}"),
    A("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
			     "{\"type\":\"text\",\"text\":\"\"}}"),
    A("ping", "{\"type\": \"ping\"}"),
    A("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
			     "\"text_delta\",\"text\":\"Hello, \\\"world\\\"\\n\"}}"),
    A("content_block_delta",
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
      "\"text_delta\",\"text\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \xe2\x80\xa8"
      "\\u2029\"}}"),
    A("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"),
    A("content_block_start",
      "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
      "\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}"),
    A("content_block_delta",
      "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
      "\"input_json_delta\",\"partial_json\":\"{\\\"location\\\": \\\"San\"}}"),
    A("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			     "\"input_json_delta\",\"partial_json\":\" Francisco\\\"}\"}}"),
    A("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"),
    A("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
		       "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}"),
    A("message_stop", "{\"type\":\"message_stop\"}"),
};
#define N_ANTHROPIC (int)(sizeof(anthropic_stream) / sizeof(anthropic_stream[0]))

static const struct ev openai_stream[] = {
    O("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
      "\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
      "\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],"
      "\"usage\":null}"),
    O("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello, \\\"world\\\"\\n"
      "\"},\"finish_reason\":null}],\"usage\":null}"),
    O("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xc3\xa9 \\u00e9 "
      "\\ud83d\\ude00 \xe2\x80\xa8\\u2029\\t\\u0001\"},\"finish_reason\":null}]}"),
    O("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
      "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
      "\"\"}}]},\"finish_reason\":null}]}"),
    O("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
      "\"function\":{\"arguments\":\"{\\\"location\\\":\"}}]},\"finish_reason\":null}]}"),
    O("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,"
      "\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}"),
    O("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}"),
    O("{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":472,\"completion_tokens\":89,"
      "\"total_tokens\":561,\"prompt_tokens_details\":{\"cached_tokens\":100}}}"),
    O("[DONE]"),
};
#define N_OPENAI (int)(sizeof(openai_stream) / sizeof(openai_stream[0]))

/* Anthropic events, each tried in place of the first text delta (index 3). */
static const char *const anthropic_edges[] = {
    /* strings */
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"a\\u0000b\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\u0000\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"x\\uZZZZy\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\ud800\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\udc00\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\ud800\\u0041\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\uDBFF\\uDFFF\\u00\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\b\\f\\n\\r\\t\\/\\\\\\\"\\u001f\\u007f\\u0080\\u0008\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"raw \x01\x1f\x7f\x80\xff\xc3 \t tab\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\x\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\\u12\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "\"\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
    "7}}",
    /* keys and duplicates */
    "{\"typ\\u0065\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"escaped key\"}}",
    "{\"type\\u0000x\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"key cut at U+0000\"}}",
    "{\"type\":\"content_block_delta\",\"type\":\"ping\",\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"first\",\"text\":\"second\"},\"delta\":{}}",
    "{\"type\":null,\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"null type\"}}",
    "{\"type\":\"content_block_delta\",\"index\":null,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"x\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":[{\"type\":\"text_delta\"}]}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_delta\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":[{\"type\":\"text_delta\","
    "\"text\":\"a delta in an array\"}]}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\\u0000\","
    "\"text\":\"type cut\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delt\\u0061\","
    "\"text\":\"type escaped\"}}",
    /* numbers */
    "{\"type\":\"content_block_delta\",\"index\":0.0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"0.0\"}}",
    "{\"type\":\"content_block_delta\",\"index\":-0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"-0\"}}",
    "{\"type\":\"content_block_delta\",\"index\":00,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"00\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0e5,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"0e5\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0.,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"0.\"}}",
    "{\"type\":\"content_block_delta\",\"index\":-,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":0.5,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":1e999,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":0+1,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":"
    "0000000000000000000000000000000000000000000000000000000000000000000000,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":"
    "0.00000000000000000000000000000000000000000000000000000000000000000001,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":128,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":\"0\",\"delta\":{}}",
    /* whitespace, framing, literals */
    "\xEF\xBB\xBF{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"bom\"}}",
    "\x01 \x1f{\"type\"\x01:\x02\"content_block_delta\"\x03,\"index\":0,\"delta\":{\"type\":"
    "\"text_delta\",\"text\":\"control whitespace\"}}\n\r\t ",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"x\"}}\x01",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"x\"}} {}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"x\",}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"x\"},\"a\":[1,],\"b\":[]}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"x\":[true,false,null,{},[],\"s\",-1.5e-3],"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"literals\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"x\":nul,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"x\":True,\"delta\":{}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"unterminated}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"x\"}",
    "[\"type\",\"content_block_delta\"]",
    "\"content_block_delta\"",
    "",
    "   ",
    "{}",
    "{\"type\":\"\"}",
    "{\"type\":\"unknown_event\"}",
    "{\"type\":\"message_start\",\"message\":{}}",
    "{\"type\":\"message_stop\"}",
    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Over\\u0000loaded "
    "\\\"now\\\"\"}}",
    "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"}}",
    "{\"type\":\"error\",\"error\":\"flat\"}",
    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_9\",\"name\":\"f\\u00e9\",\"input\":{\"a\":[1,2.5,\"\\u0000x\",{\"b\":null}],"
    "\"a\":1e999,\"c\":\"\\u2028\"}}}",
    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_9\",\"input\":{}}}",
    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"thinking\"}}",
    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"image\\n\"}}",
    "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\","
    "\"text\":\"started with text \\u2028\"}}",
    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":"
    "{\"input_tokens\":1.5,\"cache_creation_input_tokens\":3000000000,"
    "\"cache_read_input_tokens\":-4,\"output_tokens\":1e300}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\\u0000x\"},\"usage\":"
    "{\"output_tokens\":0.1}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":7},\"usage\":{\"output_tokens\":"
    "123456789012345678}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"a_stop_reason_longer_than_"
    "forty_bytes_of_text\"},\"usage\":{\"output_tokens\":-0}}",
    "{\"type\":\"a_type_name_longer_than_forty_eight_bytes_0123456789abcdef\"}",
    "{\"type\":\"content_block_a_type_name_longer_than_forty_eight_bytes_0123456789\"}",
};

/* OpenAI chunks, each tried in place of the first content chunk (index 1). */
static const char *const openai_edges[] = {
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\u0000b\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\uZZZZ\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"raw \x01\x7f\xff \\u001b\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud800\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\",\"content\":\"y\"},\"delta\":{}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can\\u2019t\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"both\",\"refusal\":\"no\"},"
    "\"finish_reason\":\"stop\"}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one\"}},{\"index\":0,\"delta\":"
    "{\"content\":\"two\"}}]}",
    "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"one\"}}]}",
    "{\"choices\":[{\"index\":\"0\",\"delta\":{\"content\":\"one\"}}]}",
    "{\"choices\":[{\"index\":null,\"delta\":{\"content\":\"null index\"}}]}",
    "{\"choices\":[{\"index\":-0,\"delta\":{\"content\":\"-0\"}}]}",
    "{\"choices\":{\"a\":{\"index\":0,\"delta\":{\"content\":\"choices as an object\"}}}}",
    "{\"choices\":\"text\"}",
    "{\"choices\":[[{\"delta\":{\"content\":\"a choice in an array\"}}]]}",
    "{\"choices\":[[{\"delta\":{\"content\":\"a choice in an array\"}}],{}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[[{\"index\":0,\"function\":{\"name\":"
    "\"f\"}}]]}}]}",
    "{\"choices\":[{\"delta\":[{\"content\":\"a delta in an array\"}]}]}",
    "{\"choices\":[1,\"x\",null,{\"delta\":{\"content\":\"after junk\"}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":"
    "{\"name\":\"f\",\"arguments\":\"{\"}},{\"index\":1,\"function\":{\"name\":\"g\"}}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":{\"x\":{\"index\":0,\"function\":{\"name\":"
    "\"f\"}}}}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
    "\"x\"}}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1.5,\"id\":\"a\\u0000b\","
    "\"function\":{\"name\":\"f\\\"\"}}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":128,\"function\":{\"name\":\"f\"}}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1,\"function\":{\"name\":\"f\"}}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":[]}]}}]}",
    "{\"choices\":[{\"delta\":{\"tool_calls\":[]},\"finish_reason\":\"length\"}]}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":\"weird\\u0000\"}]}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":7}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2.5,"
    "\"prompt_tokens_details\":{\"cached_tokens\":20}}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1e999,\"completion_tokens\":-1,"
    "\"prompt_tokens_details\":null}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":3000000000,\"prompt_tokens_details\":"
    "{\"cached_tokens\":0.25}}}",
    "{\"error\":{\"message\":\"Rate \\\"limit\\\"\",\"type\":\"requests\",\"code\":"
    "\"rate_limit_exceeded\"}}",
    "{\"error\":{\"type\":\"insufficient_quota\"}}",
    "{\"error\":\"flat\"}",
    "{\"error\":null,\"choices\":[{\"delta\":{\"content\":\"null error\"}}]}",
    "{\"model\":\"m\\u00e9\\n\",\"choices\":[]}",
    "\xEF\xBB\xBF {\"choices\":[]}",
    "{\"choices\":[]}x",
    "{\"choices\":[],}",
    "{\"choices\":[{\"delta\":{\"content\":\"deep\"},\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]"
    "}]}",
    "[DONE] \r\n",
    "[DONE]x",
    "",
};

/* OpenAI's envelope before "choices", the same chunk after chunk (the scan resumes after it)
 * but where it changes: another model, another member, a '}' where a member was. */
#define ENVELOPE(model)                                                                            \
	"{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1741569952,\"model\":\"" model "\",\"system_fingerprint\":\"fp_0673\","
static const struct ev enveloped_stream[] = {
    O(ENVELOPE("gpt-4o") "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}"),
    O(ENVELOPE("gpt-4o") "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one \"}}]}"),
    O(ENVELOPE("gpt-4o") "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"two \"}}]}"),
    O(ENVELOPE("gpt-4o-x") "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"three\"}}]}"),
    O(ENVELOPE("gpt-4o-x") "\"model\":\"dup\",\"choices\":[{\"delta\":{\"content\":\"4\"}}]}"),
    O(ENVELOPE("gpt-4o-x") "}"),
    O(ENVELOPE("gpt-4o-x") " \"choices\":[{\"delta\":{\"content\":\"five\"}}]} \n"),
    O(ENVELOPE("gpt-4o-x")),
    O(ENVELOPE("gpt-4o-x") "\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}"),
    O(ENVELOPE("gpt-4o-x") "\"choices\":[],\"usage\":{\"prompt_tokens\":9}}"),
    O("[DONE]"),
};

static void test_real_streams(void)
{
	ASSERT_TRUE(same(OPENAI, anthropic_stream, N_ANTHROPIC));
	ASSERT_TRUE(same(ANTHROPIC, openai_stream, N_OPENAI));
	ASSERT_TRUE(same(ANTHROPIC, enveloped_stream,
			 (int)(sizeof(enveloped_stream) / sizeof(enveloped_stream[0]))));
}

/* A provider's counts of -0 (valid JSON) in the usage that reaches the app: both translators
 * write 0 (the reference's cJSON printed "-0" where the translator wrote 0: fuzz_translate's
 * finding, the seed stream_openai_usage_negative_zero). */
static void test_negative_zero_counts(void)
{
	struct ev o[N_OPENAI], a[N_ANTHROPIC];
	struct result r = {0};

	memcpy(o, openai_stream, sizeof(o));
	o[N_OPENAI - 2] = (struct ev)O("{\"choices\":[],\"usage\":{\"prompt_tokens\":060,"
				       "\"completion_tokens\":-0,\"prompt_tokens_details\":"
				       "{\"cached_tokens\":-00}}}");
	ASSERT_TRUE(same(ANTHROPIC, o, N_OPENAI));
	memcpy(a, anthropic_stream, sizeof(a));
	a[0] = (struct ev)A("message_start",
			    "{\"type\":\"message_start\",\"message\":{\"model\":\"c\",\"usage\":{"
			    "\"input_tokens\":-0,\"cache_creation_input_tokens\":-0,"
			    "\"cache_read_input_tokens\":-0}}}");
	a[N_ANTHROPIC - 2] = (struct ev)A("message_delta", "{\"type\":\"message_delta\",\"delta\":"
					  "{\"stop_reason\":\"end_turn\"},\"usage\":"
					  "{\"output_tokens\":-0}}");
	ASSERT_TRUE(same(OPENAI, a, N_ANTHROPIC));
	run_new(OPENAI, 1, NULL, a, N_ANTHROPIC, &r);
	ASSERT_CONTAINS(r.out.data, "\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,"
				    "\"total_tokens\":0,\"prompt_tokens_details\":"
				    "{\"cached_tokens\":0}}");
	translate_buf_free(&r.out);
}

/* Each edge case in place of event AT of BASE (N events), and added after it. */
static int edges_in(enum translate_api app, const struct ev *base, int n, int at,
		    const char *const *edges, size_t n_edges)
{
	struct ev ev[MAX_EVENTS];
	int ok = 1;

	for (size_t e = 0; e < n_edges; e++) {
		for (int add = 0; add < 2; add++) {
			memcpy(ev, base, sizeof(*ev) * n);
			if (add)
				memmove(&ev[at + 1], &ev[at], sizeof(*ev) * (n - at));
			ev[at].data = edges[e];
			ev[at].len = strlen(edges[e]);
			ok &= same(app, ev, n + add);
			ev[at].name = NULL; /* the name unknown: read from "type" */
			ok &= same(app, ev, n + add);
		}
	}
	return ok;
}

static void test_edges(void)
{
	ASSERT_TRUE(edges_in(OPENAI, anthropic_stream, N_ANTHROPIC, 3, anthropic_edges,
			     sizeof(anthropic_edges) / sizeof(anthropic_edges[0])));
	ASSERT_TRUE(edges_in(OPENAI, anthropic_stream, N_ANTHROPIC, 7, anthropic_edges,
			     sizeof(anthropic_edges) / sizeof(anthropic_edges[0])));
	ASSERT_TRUE(edges_in(ANTHROPIC, openai_stream, N_OPENAI, 1, openai_edges,
			     sizeof(openai_edges) / sizeof(openai_edges[0])));
	ASSERT_TRUE(edges_in(ANTHROPIC, openai_stream, N_OPENAI, 4, openai_edges,
			     sizeof(openai_edges) / sizeof(openai_edges[0])));
	ASSERT_TRUE(edges_in(ANTHROPIC, openai_stream, N_OPENAI, 0, openai_edges,
			     sizeof(openai_edges) / sizeof(openai_edges[0])));
}

/* Nesting around cJSON's limit (CJSON_NESTING_LIMIT): accepted up to it, refused past it. */
static void test_nesting_limit(void)
{
	static char deep[4200];
	struct ev ev[N_OPENAI];
	size_t n = 0;

	for (int depth = 997; depth <= 1001; depth++) {
		n = (size_t)snprintf(deep, sizeof(deep), "{\"choices\":[],\"x\":");
		for (int i = 0; i < depth; i++)
			deep[n++] = '[';
		for (int i = 0; i < depth; i++)
			deep[n++] = ']';
		deep[n++] = '}';
		memcpy(ev, openai_stream, sizeof(ev));
		ev[1].data = deep;
		ev[1].len = n;
		ASSERT_TRUE(same(ANTHROPIC, ev, N_OPENAI));
	}
}

/* ---- random mutations ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Mutates TEXT (LEN bytes, room for CAP) in place: a byte set, a snippet put in, bytes cut. */
static size_t mutate(char *text, size_t len, size_t cap)
{
	static const char bytes[] = "\"\\{}[],: \t\n\x01\x1f\x7f\x80\xff"
				    "u0-e.n1x";
	static const char *const snippets[] = {"\\u0000",
					       "\\ud800",
					       "\\udc00\\u0041",
					       "\\ud83d\\ude00",
					       "\\u2028",
					       "\\uZZZZ",
					       "\\n",
					       "\\\"",
					       "\xe2\x80\xa8",
					       "\xff\xfe",
					       "1e999",
					       "-0",
					       "null",
					       ",\"type\":\"ping\"",
					       "\xEF\xBB\xBF",
					       "\\u00",
					       "0.5",
					       "\x00",
					       "[]",
					       "{\"a\":{}}",
					       ",\"index\":1",
					       "\"text\":\"dup\","};
	size_t at = len ? rnd((unsigned)len) : 0, n;
	const char *snip;

	switch (rnd(3)) {
	case 0:
		if (len)
			text[at] = rnd(4) ? bytes[rnd(sizeof(bytes) - 1)] : (char)rnd(256);
		return len;
	case 1:
		snip = snippets[rnd(sizeof(snippets) / sizeof(snippets[0]))];
		n = *snip ? strlen(snip) : 1;
		if (len + n > cap)
			return len;
		memmove(text + at + n, text + at, len - at);
		memcpy(text + at, snip, n);
		return len + n;
	default:
		n = len - at ? 1 + rnd((unsigned)(len - at < 8 ? len - at : 8)) : 0;
		memmove(text + at, text + at + n, len - at - n);
		return len - n;
	}
}

static int mutated(enum translate_api app, const struct ev *base, int n, int rounds)
{
	static char buf[MAX_EVENTS][1024];
	struct ev ev[MAX_EVENTS];
	int ok = 1;

	for (int r = 0; r < rounds && ok; r++) {
		memcpy(ev, base, sizeof(*ev) * n);
		for (int k = 1 + (int)rnd(3); k > 0; k--) {
			int i = (int)rnd((unsigned)n);

			if (ev[i].data != buf[i]) {
				memcpy(buf[i], ev[i].data, ev[i].len);
				ev[i].data = buf[i];
			}
			ev[i].len = mutate(buf[i], ev[i].len, sizeof(buf[i]));
		}
		ok = same(app, ev, n);
	}
	return ok;
}

static void test_mutations(void)
{
	ASSERT_TRUE(mutated(OPENAI, anthropic_stream, N_ANTHROPIC, 3000));
	ASSERT_TRUE(mutated(ANTHROPIC, openai_stream, N_OPENAI, 3000));
	ASSERT_TRUE(mutated(ANTHROPIC, enveloped_stream,
			    (int)(sizeof(enveloped_stream) / sizeof(enveloped_stream[0])), 2000));
	fprintf(stderr, "  %d translations compared\n", compared);
}

/* ---- an Anthropic stream for a Gemini app: one stage against two ---- */

/* What a Gemini app is served: text only (a tool call breaks its stream), a hidden thinking
 * block, cache counts, a stop reason other than end_turn, a model name to escape. */
static const struct ev anthropic_text_stream[] = {
    A("ping", "{\"type\":\"ping\"}"),
    A("message_start",
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
      "\"assistant\",\"model\":\"claude-\\\"x\\u00e9\",\"content\":[],\"usage\":{"
      "\"input_tokens\":472,\"cache_creation_input_tokens\":10,\"cache_read_input_tokens\":20,"
      "\"output_tokens\":2}}}"),
    A("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
			     "{\"type\":\"thinking\",\"thinking\":\"\"}}"),
    A("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
			     "\"thinking_delta\",\"thinking\":\"hm\"}}"),
    A("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"),
    A("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
			     "{\"type\":\"text\",\"text\":\"Spend \"}}"),
    A("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			     "\"text_delta\",\"text\":\"rose \\\"9%\\\"\\n caf\xc3\xa9\"}}"),
    A("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"),
    A("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
		       "\"usage\":{\"output_tokens\":89}}"),
    A("message_stop", "{\"type\":\"message_stop\"}"),
};
#define N_TEXT (int)(sizeof(anthropic_text_stream) / sizeof(anthropic_text_stream[0]))

/* Put in place of (and before) an event of the text stream: what ends or breaks it. */
static const char *const gemini_app_edges[] = {
    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
    "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}",
    "{\"type\":\"error\",\"error\":{\"type\":\"api_error\"}}",
    "{\"type\":\"content_block_start\",\"index\":5,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"},\"usage\":{"
    "\"output_tokens\":1e400}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{"
    "\"input_tokens\":1.5e308,\"cache_read_input_tokens\":1.5e308,\"output_tokens\":-1}}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\"}}",
    "{\"type\":\"message_stop\"}",
    "{\"type\":\"message_start\",\"message\":{\"model\":\"an-other\"}}",
    "{\"type\":\"message_start\",\"message\":{\"model\":\"claude-a-very-long-model-name-that-"
    "goes-on-and-on-past-the-one-hundred-and-twenty-seven-bytes-a-gemini-stream-keeps-of-it-"
    "for-its-modelVersion\"}}",
    "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"late\"}}",
    "not json",
};

static void test_gemini_app_one_stage(void)
{
	size_t n_edges = sizeof(gemini_app_edges) / sizeof(gemini_app_edges[0]);

	ASSERT_TRUE(same_gemini(anthropic_text_stream, N_TEXT));
	for (int end = 0; end < N_TEXT; end++) /* the upstream ends early */
		ASSERT_TRUE(same_gemini(anthropic_text_stream, end));
	for (int at = 0; at < N_TEXT; at++)
		ASSERT_TRUE(edges_in(OPENAI, anthropic_text_stream, N_TEXT, at, gemini_app_edges,
				     n_edges));
	ASSERT_TRUE(edges_in(OPENAI, anthropic_text_stream, N_TEXT, 6, anthropic_edges,
			     sizeof(anthropic_edges) / sizeof(anthropic_edges[0])));
	ASSERT_TRUE(mutated(OPENAI, anthropic_text_stream, N_TEXT, 3000));
}

UNIT_MAIN(UNIT_CASE(test_real_streams), UNIT_CASE(test_negative_zero_counts), UNIT_CASE(test_edges),
	  UNIT_CASE(test_nesting_limit), UNIT_CASE(test_mutations),
	  UNIT_CASE(test_gemini_app_one_stage))
