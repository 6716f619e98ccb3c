/*
 * fuzz_translate: the provider translation library on untrusted text. The first byte picks
 * what the rest is ('0'..'9', or any other byte mod 10):
 *   0, 1  a request an OpenAI / Anthropic app wrote; a translation is run back the other way
 *   2, 3  a whole response (and the same bytes as an error body) of the other provider
 *   4, 5  an upstream stream for an OpenAI / Anthropic app: the second byte's low bit is
 *         include_usage, then one event per line ("name<TAB>data" or just data)
 *   6, 7  a request an OpenAI / Anthropic app wrote, translated for Gemini
 *   8     a whole Gemini response for an OpenAI app (second byte even) or an Anthropic one
 *   9     a Gemini stream (alt=sse chunks, one per line) for an OpenAI app (second byte's bit
 *         1 clear; its bit 0 is include_usage) or an Anthropic one
 *   a     a request a Gemini app wrote, for OpenAI (second byte's bit 0 clear) or Anthropic,
 *         streamed when its bit 1 is set
 *   b     a whole OpenAI (second byte even) or Anthropic response for a Gemini app
 *   c     an OpenAI (second byte even) or Anthropic stream for a Gemini app, one event a line
 *   (any other byte picks one of 0..9 by its value mod 10)
 * Invariants (a violation traps): a translation is a JSON object or a refusal that says why;
 * an error body is always made and is JSON; the app's stream is well-formed from its first
 * event (OpenAI: data-only chunks, the role first, [DONE] or an error last; Anthropic: named
 * events matching their type, message_start first, blocks opened in order, deltas of the
 * open block's kind, message_delta then message_stop or an error last), and it has ended once
 * the upstream is finished (Gemini streams too, which have no reference); a Gemini app's
 * stream is data-only GenerateContentResponse events, the finishReason and usageMetadata in
 * the last one only, or an error event last. A translated request never carries an empty
 * tools list, nor a tool choice (tool_choice, toolConfig) without a tool to choose: every
 * provider refuses one, and "auto" or "none" says nothing without tools. Streams are also
 * translated by the implementation the translator replaced (tests/unit/translate_stream_ref.c,
 * a cJSON tree per event): every event's result, the end, and the app's bytes (made-up ids
 * masked) must be the same.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "providers/translate.h"
#include "gemini_two_stage.h"
#include "translate_stream_ref.h"

static void check_refusal(int rc, const struct translate_req *r)
{
	CHECK(rc == -EBADMSG || rc == -EINVAL || rc == -EOPNOTSUPP || rc == -ENOMEM);
	CHECK(r->error[0] && !r->body);
}

static void check_object(const char *text, size_t len)
{
	cJSON *v;

	CHECK(text && strlen(text) == len);
	v = cJSON_Parse(text);
	CHECK(cJSON_IsObject(v));
	cJSON_Delete(v);
}

/* TEXT, a translated request, has no empty tools list and no CHOICE member without tools. */
static void check_tools(const char *text, const char *choice)
{
	cJSON *v = cJSON_Parse(text);
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(v, "tools");

	CHECK(!tools || cJSON_GetArraySize(tools) > 0);
	CHECK(!cJSON_GetObjectItemCaseSensitive(v, choice) || cJSON_GetArraySize(tools) > 0);
	cJSON_Delete(v);
}

static void fuzz_request(enum translate_api app, const char *in, size_t len)
{
	struct translate_req r, back;
	int rc = translate_request(app, in, len, "target-model", 0, &r);

	if (rc) {
		check_refusal(rc, &r);
		return;
	}
	check_object(r.body, r.len);
	check_tools(r.body, "tool_choice");
	rc = translate_request(translate_api_other(app), r.body, r.len, "m", 0, &back);
	if (rc) {
		check_refusal(rc, &back);
	} else {
		check_object(back.body, back.len);
		check_tools(back.body, "tool_choice");
	}
	translate_req_release(&back);
	translate_req_release(&r);
}

static void fuzz_response(enum translate_api app, const char *in, size_t len)
{
	char *out = NULL, err[128];
	size_t out_len = 0;
	int rc = translate_response(app, in, len, len & 1 ? "m" : NULL, &out, &out_len, err,
				    sizeof(err));
	int status = 0;

	if (rc) {
		CHECK(!out && err[0]);
	} else {
		check_object(out, out_len);
		free(out);
	}
	CHECK(translate_error(app, 400 + (int)(len % 200), in, len, &status, &out, &out_len) == 0);
	check_object(out, out_len);
	CHECK(status >= 400 && status < 600);
	free(out);
}

static void fuzz_request_gemini(enum translate_api app, const char *in, size_t len)
{
	struct translate_req r;
	int rc = translate_request_to(app, TRANSLATE_GEMINI_GENERATE, in, len, "m", 0, &r);
	cJSON *v, *it;

	if (rc) {
		check_refusal(rc, &r);
		return;
	}
	check_object(r.body, r.len);
	v = cJSON_Parse(r.body); /* the model and stream are the path's; only Gemini's own keys */
	cJSON_ArrayForEach(it, v)
	{
		CHECK(!strcmp(it->string, "contents") || !strcmp(it->string, "systemInstruction") ||
		      !strcmp(it->string, "generationConfig") || !strcmp(it->string, "tools") ||
		      !strcmp(it->string, "toolConfig"));
	}
	it = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "tools"), 0); /* one Tool: the functions */
	CHECK(!it || cJSON_GetArraySize(cJSON_GetObjectItem(it, "functionDeclarations")) > 0);
	cJSON_Delete(v);
	check_tools(r.body, "toolConfig");
	translate_req_release(&r);
}

static void fuzz_response_gemini(const char *in, size_t len)
{
	enum translate_api app = len && (in[0] & 1) ? TRANSLATE_ANTHROPIC_MESSAGES
						     : TRANSLATE_OPENAI_CHAT;
	char *out = NULL, err[128];
	size_t out_len = 0;
	int rc = translate_response_from(app, TRANSLATE_GEMINI_GENERATE, in + !!len, len - !!len,
					 NULL, &out, &out_len, err, sizeof(err));

	if (rc) {
		CHECK(!out && err[0]);
		return;
	}
	check_object(out, out_len);
	free(out);
}

/* A Gemini app's request: an OpenAI or Anthropic body that asks for the caller's model. */
static void fuzz_request_gemini_app(const char *in, size_t len)
{
	int flags = len ? in[0] : 0;
	enum translate_api to = flags & 1 ? TRANSLATE_ANTHROPIC_MESSAGES : TRANSLATE_OPENAI_CHAT;
	struct translate_req r;
	int rc = translate_request_from_gemini(to, in + !!len, len - !!len, "m", flags & 2, 0, &r);
	cJSON *v;

	if (rc) {
		check_refusal(rc, &r);
		return;
	}
	check_object(r.body, r.len);
	check_tools(r.body, "tool_choice");
	v = cJSON_Parse(r.body);
	CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(v, "model")), "m"));
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(v, "messages")));
	CHECK(!!cJSON_IsTrue(cJSON_GetObjectItem(v, "stream")) == !!(flags & 2));
	cJSON_Delete(v);
	translate_req_release(&r);
}

static void fuzz_response_gemini_app(const char *in, size_t len)
{
	enum translate_api from = len && (in[0] & 1) ? TRANSLATE_ANTHROPIC_MESSAGES
						      : TRANSLATE_OPENAI_CHAT;
	char *out = NULL, err[128];
	size_t out_len = 0;
	int status, rc = translate_response_from(TRANSLATE_GEMINI_GENERATE, from, in + !!len,
						 len - !!len, NULL, &out, &out_len, err,
						 sizeof(err));

	if (rc) {
		CHECK(!out && err[0]);
	} else {
		check_object(out, out_len);
		free(out);
	}
	CHECK(!translate_error(TRANSLATE_GEMINI_GENERATE, 500, in, len, &status, &out, &out_len));
	check_object(out, out_len);
	CHECK(status >= 400 && status <= 599);
	free(out);
}

/* ---- the app's stream ---- */

struct event {
	char name[32];
	cJSON *data; /* NULL for [DONE] */
};

/* Cuts the next "event: X\ndata: Y\n\n" (event line optional) from *P. */
static int next_event(const char **p, struct event *ev)
{
	const char *s = *p, *end = strstr(s, "\n\n"), *nl;

	CHECK(end);
	ev->name[0] = '\0';
	if (!strncmp(s, "event: ", 7)) {
		nl = strchr(s, '\n');
		CHECK(nl - s - 7 < (long)sizeof(ev->name));
		memcpy(ev->name, s + 7, nl - s - 7);
		ev->name[nl - s - 7] = '\0';
		s = nl + 1;
	}
	CHECK(!strncmp(s, "data: ", 6) && !memchr(s, '\n', end - s));
	if (end - s == 12 && !strncmp(s + 6, "[DONE]", 6))
		ev->data = NULL;
	else
		CHECK(cJSON_IsObject(ev->data = cJSON_ParseWithLength(s + 6, end - s - 6)));
	*p = end + 2;
	return 1;
}

/* OBJ's "index" as an int; -1 when it is missing or no whole number 0..INT_MAX (converting
 * such a double, NaN included, is undefined). */
static int index_of(const cJSON *obj)
{
	double v = cJSON_GetNumberValue(cJSON_GetObjectItem(obj, "index"));

	return v >= 0 && v <= INT_MAX && v == (double)(int)v ? (int)v : -1;
}

struct openai_state {
	char id[64];
	int n, finished, usage_seen, tools, include_usage;
};

static void openai_tool_delta(struct openai_state *st, const cJSON *tc)
{
	int k = index_of(tc);
	const cJSON *fn = cJSON_GetObjectItem(tc, "function");

	CHECK(k >= 0 && k <= st->tools);
	if (k == st->tools) { /* a new call: id, type and name first */
		CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(tc, "id")));
		CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(fn, "name")));
		st->tools++;
	}
	CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(fn, "arguments")));
}

static void openai_chunk(struct openai_state *st, const cJSON *c)
{
	const cJSON *choices = cJSON_GetObjectItem(c, "choices"), *ch, *delta, *tc, *usage;
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(c, "id"));
	const char *object = cJSON_GetStringValue(cJSON_GetObjectItem(c, "object"));

	CHECK(id && object && !strcmp(object, "chat.completion.chunk"));
	if (!st->n)
		snprintf(st->id, sizeof(st->id), "%s", id);
	CHECK(!strcmp(st->id, id));
	usage = cJSON_GetObjectItem(c, "usage");
	CHECK(st->include_usage ? usage != NULL : usage == NULL);
	if (!cJSON_GetArraySize(choices)) { /* the usage chunk */
		CHECK(st->finished && st->include_usage && !st->usage_seen &&
		      cJSON_IsObject(usage));
		st->usage_seen = 1;
		return;
	}
	CHECK(cJSON_GetArraySize(choices) == 1 && !st->finished &&
	      cJSON_IsNull(usage) == !!st->include_usage);
	ch = cJSON_GetArrayItem(choices, 0);
	delta = cJSON_GetObjectItem(ch, "delta");
	CHECK(cJSON_IsObject(delta));
	if (!st->n)
		CHECK(
		    cJSON_GetStringValue(cJSON_GetObjectItem(delta, "role")) &&
		    !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(delta, "role")), "assistant"));
	cJSON_ArrayForEach(tc, cJSON_GetObjectItem(delta, "tool_calls"))
	{
		openai_tool_delta(st, tc);
	}
	if (cJSON_GetStringValue(cJSON_GetObjectItem(ch, "finish_reason")))
		st->finished = 1;
}

static void check_openai_stream(const char *out, int include_usage, int ended)
{
	struct openai_state st = {.include_usage = include_usage};
	const char *p = out ? out : "";
	struct event ev;
	int last = 0; /* [DONE] or an error came */

	while (*p && next_event(&p, &ev)) {
		CHECK(!last && !ev.name[0]);
		if (!ev.data) {
			CHECK(st.finished && st.usage_seen == include_usage);
			last = 1;
		} else if (cJSON_GetObjectItem(ev.data, "error")) {
			CHECK(cJSON_GetStringValue(
			    cJSON_GetObjectItem(cJSON_GetObjectItem(ev.data, "error"), "message")));
			last = 1;
		} else {
			openai_chunk(&st, ev.data);
			st.n++;
		}
		cJSON_Delete(ev.data);
	}
	CHECK(!ended || last);
}

struct anthropic_state {
	int n, open, kind, next, delta, last;
};

static void anthropic_event(struct anthropic_state *st, const char *name, const cJSON *d)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(d, "type"));
	int idx = index_of(d);
	const char *kind;

	CHECK(type && !strcmp(type, name) && !st->last);
	if (!strcmp(name, "error")) {
		st->last = 1;
		return;
	}
	CHECK(st->n || !strcmp(name, "message_start"));
	if (!strcmp(name, "message_start")) {
		CHECK(!st->n);
	} else if (!strcmp(name, "content_block_start")) {
		CHECK(st->open < 0 && !st->delta && idx == st->next);
		kind = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(d, "content_block"), "type"));
		CHECK(kind && (!strcmp(kind, "text") || !strcmp(kind, "tool_use")));
		st->kind = !strcmp(kind, "text");
		st->open = st->next++;
	} else if (!strcmp(name, "content_block_delta")) {
		kind = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(d, "delta"), "type"));
		CHECK(st->open >= 0 && idx == st->open && kind);
		CHECK(!strcmp(kind, st->kind ? "text_delta" : "input_json_delta"));
	} else if (!strcmp(name, "content_block_stop")) {
		CHECK(st->open >= 0 && idx == st->open);
		st->open = -1;
	} else if (!strcmp(name, "message_delta")) {
		CHECK(st->open < 0 && !st->delta);
		st->delta = 1;
	} else {
		CHECK(!strcmp(name, "message_stop") && st->delta);
		st->last = 1;
	}
}

static void check_anthropic_stream(const char *out, int ended)
{
	struct anthropic_state st = {.open = -1};
	const char *p = out ? out : "";
	struct event ev;

	while (*p && next_event(&p, &ev)) {
		CHECK(ev.data && ev.name[0]);
		anthropic_event(&st, ev.name, ev.data);
		st.n++;
		cJSON_Delete(ev.data);
	}
	CHECK(!ended || st.last);
}

/* The same event fed to the translator (into OUT) and to the reference (into REF_OUT). */
static int feed_both(struct translate_stream *s, struct ref_translate_stream *ref, const char *name,
		     const char *data, size_t len, struct translate_buf *out,
		     struct translate_buf *ref_out)
{
	int rc = translate_stream_feed(s, name, data, len, out);

	CHECK(rc == ref_translate_stream_feed(ref, name, data, len, ref_out));
	return rc;
}

/* Both translations of a stream, the same but for the ids they made up. */
static void check_same(struct translate_buf *out, struct translate_buf *ref_out)
{
	if (out->len)
		ref_translate_cut_error_messages(out);
	CHECK(out->len == ref_out->len);
	if (!out->len)
		return;
	ref_translate_mask(out->data);
	ref_translate_mask(ref_out->data);
	CHECK(!memcmp(out->data, ref_out->data, out->len));
}

static void fuzz_stream(enum translate_api app, const char *in, size_t len)
{
	int include_usage = len && (in[0] & 1);
	struct translate_stream *s = translate_stream_new(app, include_usage, NULL);
	struct ref_translate_stream *ref = ref_translate_stream_new(app, include_usage, NULL);
	struct translate_buf out = {0}, ref_out = {0};
	const char *p = in + (len ? 1 : 0), *end = in + len, *nl, *tab;
	int rc;

	CHECK(s && ref);
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		tab = memchr(p, '\t', nl - p);
		if (tab && app == TRANSLATE_OPENAI_CHAT) {
			char name[32];

			snprintf(name, sizeof(name), "%.*s", (int)(tab - p), p);
			rc = feed_both(s, ref, name, tab + 1, nl - tab - 1, &out, &ref_out);
		} else {
			rc = feed_both(s, ref, NULL, p, nl - p, &out, &ref_out);
		}
		CHECK(rc == 0 || rc == -EPROTO);
		CHECK(rc == 0 || translate_stream_ended(s));
		p = nl + 1;
	}
	rc = translate_stream_finish(s, &out);
	CHECK(rc == ref_translate_stream_finish(ref, &ref_out));
	CHECK((rc == 0 || rc == -EPROTO) && translate_stream_ended(s));
	CHECK(ref_translate_stream_ended(ref));
	if (app == TRANSLATE_OPENAI_CHAT)
		check_openai_stream(out.data, include_usage, 1);
	else
		check_anthropic_stream(out.data, 1);
	check_same(&out, &ref_out);
	translate_stream_free(s);
	ref_translate_stream_free(ref);
	translate_buf_free(&out);
	translate_buf_free(&ref_out);
}

/* A Gemini app's stream OUT: data-only events, each a GenerateContentResponse with one
 * candidate, or an error; the finishReason and usage (when the upstream told one) come in the
 * last one only; ENDED. */
static void check_gemini_app_stream(const char *out, int ended)
{
	const char *p = out ? out : "";
	struct event ev;
	int last = 0;

	while (*p && next_event(&p, &ev)) {
		const cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItem(ev.data, "candidates"), 0);

		CHECK(!last && !ev.name[0] && ev.data);
		if (cJSON_GetObjectItem(ev.data, "error")) {
			last = 1;
		} else {
			CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(ev.data, "candidates")) == 1);
			CHECK(cJSON_IsString(cJSON_GetObjectItem(ev.data, "modelVersion")));
			last = !!cJSON_GetObjectItem(cand, "finishReason");
			CHECK(last || !cJSON_GetObjectItem(ev.data, "usageMetadata"));
		}
		cJSON_Delete(ev.data);
	}
	CHECK(last == ended);
}

static void fuzz_stream_gemini_app(const char *in, size_t len)
{
	enum translate_api from = len && (in[0] & 1) ? TRANSLATE_ANTHROPIC_MESSAGES
						      : TRANSLATE_OPENAI_CHAT;
	struct translate_stream *s =
	    translate_stream_new_from(TRANSLATE_GEMINI_GENERATE, from, 0, NULL);
	/* an Anthropic upstream: the two stages the one-stage writer replaced, compared */
	struct gemini_two_stage *two =
	    from == TRANSLATE_ANTHROPIC_MESSAGES ? gemini_two_stage_new(NULL) : NULL;
	struct translate_buf out = {0}, two_out = {0};
	const char *p = in + !!len, *end = in + len, *nl, *tab;
	char name[32];
	int rc;

	CHECK(s && (two || from != TRANSLATE_ANTHROPIC_MESSAGES));
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		tab = memchr(p, '\t', nl - p);
		name[0] = '\0';
		if (tab && tab - p < (long)sizeof(name)) {
			memcpy(name, p, tab - p);
			name[tab - p] = '\0';
			p = tab + 1;
		}
		rc = translate_stream_feed(s, name, p, nl - p, &out);
		CHECK(!two || rc == gemini_two_stage_feed(two, name, p, nl - p, &two_out));
		CHECK(rc == 0 || rc == -EPROTO);
		CHECK(rc == 0 || translate_stream_ended(s));
		p = nl + 1;
	}
	rc = translate_stream_finish(s, &out);
	CHECK(!two || rc == gemini_two_stage_finish(two, &two_out));
	CHECK((rc == 0 || rc == -EPROTO) && translate_stream_ended(s));
	check_gemini_app_stream(out.data, 1);
	if (two) {
		gemini_two_stage_mask_error(&out);
		gemini_two_stage_mask_error(&two_out);
		check_same(&out, &two_out);
	}
	gemini_two_stage_free(two);
	translate_stream_free(s);
	translate_buf_free(&out);
	translate_buf_free(&two_out);
}

/* A Gemini stream: no reference translator, the app's stream's invariants only. */
static void fuzz_stream_gemini(const char *in, size_t len)
{
	int flags = len ? in[0] : 0, include_usage = flags & 1;
	enum translate_api app = flags & 2 ? TRANSLATE_ANTHROPIC_MESSAGES : TRANSLATE_OPENAI_CHAT;
	struct translate_stream *s =
	    translate_stream_new_from(app, TRANSLATE_GEMINI_GENERATE, include_usage, NULL);
	struct translate_buf out = {0};
	const char *p = in + (len ? 1 : 0), *end = in + len, *nl;
	int rc;

	CHECK(s);
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		rc = translate_stream_feed(s, NULL, p, nl - p, &out);
		CHECK(rc == 0 || rc == -EPROTO);
		CHECK(rc == 0 || translate_stream_ended(s));
		p = nl + 1;
	}
	rc = translate_stream_finish(s, &out);
	CHECK((rc == 0 || rc == -EPROTO) && translate_stream_ended(s));
	if (app == TRANSLATE_OPENAI_CHAT)
		check_openai_stream(out.data, include_usage, 1);
	else
		check_anthropic_stream(out.data, 1);
	translate_stream_free(s);
	translate_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;

	if (!size)
		return 0;
	/* '0'..'9', 'a'..'c' name the case (the seeds are written so); any other byte picks one
	 * of 0..9 */
	switch (data[0] >= '0' && data[0] <= '9'   ? data[0] - '0'
		: data[0] >= 'a' && data[0] <= 'c' ? 10 + data[0] - 'a'
						   : data[0] % 10) {
	case 10:
		fuzz_request_gemini_app(in, len);
		break;
	case 11:
		fuzz_response_gemini_app(in, len);
		break;
	case 12:
		fuzz_stream_gemini_app(in, len);
		break;
	case 0:
		fuzz_request(TRANSLATE_OPENAI_CHAT, in, len);
		break;
	case 1:
		fuzz_request(TRANSLATE_ANTHROPIC_MESSAGES, in, len);
		break;
	case 2:
		fuzz_response(TRANSLATE_OPENAI_CHAT, in, len);
		break;
	case 3:
		fuzz_response(TRANSLATE_ANTHROPIC_MESSAGES, in, len);
		break;
	case 4:
		fuzz_stream(TRANSLATE_OPENAI_CHAT, in, len);
		break;
	case 5:
		fuzz_stream(TRANSLATE_ANTHROPIC_MESSAGES, in, len);
		break;
	case 6:
		fuzz_request_gemini(TRANSLATE_OPENAI_CHAT, in, len);
		break;
	case 7:
		fuzz_request_gemini(TRANSLATE_ANTHROPIC_MESSAGES, in, len);
		break;
	case 8:
		fuzz_response_gemini(in, len);
		break;
	default:
		fuzz_stream_gemini(in, len);
	}
	return 0;
}
