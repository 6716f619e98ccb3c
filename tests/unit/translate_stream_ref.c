/*
 * translate_stream_ref: the stream translator as it was before it read and wrote JSON text
 * directly (a cJSON tree parsed and printed per event), kept unchanged as the reference that
 * tests/unit/test_translate_stream.c and tests/fuzz/fuzz_translate.c compare
 * userspace/providers/translate_stream.c with, output byte for byte. Test code only: its
 * public names carry the ref_ prefix (translate_stream_ref.h).
 */
#include "translate_stream_ref.h"

#define translate_stream ref_translate_stream
#define translate_stream_new ref_translate_stream_new
#define translate_stream_free ref_translate_stream_free
#define translate_stream_ended ref_translate_stream_ended
#define translate_stream_feed ref_translate_stream_feed
#define translate_stream_finish ref_translate_stream_finish

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/translate_util.h"

#define MAX_BLOCKS 128 /* Anthropic content blocks in one message */
#define MAX_TOOLS 128  /* OpenAI tool calls in one message */

enum block_kind { BLOCK_UNSEEN, BLOCK_TEXT, BLOCK_TOOL, BLOCK_HIDDEN, BLOCK_STOPPED };
enum tool_state { TOOL_UNSEEN, TOOL_OPEN, TOOL_CLOSED };

struct translate_stream {
	enum translate_api app;
	int include_usage;
	char *model;	 /* reported; the caller's, or the upstream's once known */
	int model_fixed; /* the caller chose it */
	char id[40];
	double created;
	int started;	  /* the app's first event was emitted */
	int ended;	  /* its terminator or an error event was emitted */
	int stopped;	  /* the stop reason is known */
	const char *stop; /* in the app's terms */
	struct translate_usage usage;
	/* Anthropic upstream: per block index, its kind and its OpenAI tool_calls index */
	unsigned char kind[MAX_BLOCKS];
	int tool_index[MAX_BLOCKS];
	int n_tools;
	/* OpenAI upstream: the open Anthropic block and the tool call it carries (-1: text) */
	int open, open_tool, n_blocks, refusal;
	unsigned char tool[MAX_TOOLS];
};

struct translate_stream *translate_stream_new(enum translate_api app, int include_usage,
					      const char *model)
{
	struct translate_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->app = app;
	s->include_usage = include_usage;
	s->open = -1;
	s->created = (double)time(NULL);
	if (model) {
		s->model = strdup(model);
		s->model_fixed = 1;
		if (!s->model) {
			free(s);
			return NULL;
		}
	}
	if (app == TRANSLATE_OPENAI_CHAT)
		translate_new_id(s->id, sizeof(s->id), "chatcmpl-", 29);
	else
		translate_new_id(s->id, sizeof(s->id), "msg_", 24);
	return s;
}

void translate_stream_free(struct translate_stream *s)
{
	if (!s)
		return;
	free(s->model);
	free(s);
}

int translate_stream_ended(const struct translate_stream *s)
{
	return s->ended;
}

static void set_model(struct translate_stream *s, const char *model)
{
	char *m;

	if (s->model_fixed || !model || (s->model && !strcmp(s->model, model)))
		return;
	m = strdup(model);
	if (!m)
		return; /* keep the old name (or "") rather than fail the stream */
	free(s->model);
	s->model = m;
}

/* Emits O (freed here) as one SSE event; C holds whether building it ran out of memory. */
static int emit(struct translate_buf *out, const char *event, cJSON *o, struct translate_ctx *c)
{
	int rc = (c->oom || !o) ? -ENOMEM : translate_sse_json(out, event, o);

	cJSON_Delete(o);
	return rc;
}

static int emit_error(struct translate_stream *s, struct translate_buf *out, const char *type,
		      const char *code, const char *message)
{
	struct translate_ctx c = {0};
	cJSON *o = translate_error_object(&c, s->app, type, code, message);
	int anthropic = s->app == TRANSLATE_ANTHROPIC_MESSAGES;

	s->ended = 1;
	return emit(out, anthropic ? "error" : NULL, o, &c);
}

/* The upstream broke its protocol: the app gets a server error; returns -EPROTO. */
static int broken(struct translate_stream *s, struct translate_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int broken(struct translate_stream *s, struct translate_buf *out, const char *fmt, ...)
{
	const char *type = s->app == TRANSLATE_OPENAI_CHAT ? "server_error" : "api_error";
	char msg[160];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "upstream stream broken: ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	return emit_error(s, out, type, NULL, msg) ?: -EPROTO;
}

static int block_index(const cJSON *d)
{
	const cJSON *i = translate_get(d, "index");

	if (!cJSON_IsNumber(i) || i->valuedouble < 0 || i->valuedouble >= MAX_BLOCKS ||
	    i->valuedouble != (int)i->valuedouble)
		return -1;
	return (int)i->valuedouble;
}

/* ---- Anthropic upstream, OpenAI app ---- */

/* A chat.completion.chunk with one choice carrying DELTA (owned) and FINISH (may be NULL). */
static int chunk(struct translate_stream *s, struct translate_buf *out, cJSON *delta,
		 const char *finish)
{
	struct translate_ctx c = {0};
	cJSON *o = cJSON_CreateObject(), *choices, *choice;

	translate_add(&c, o, "id", cJSON_CreateString(s->id));
	translate_add(&c, o, "object", cJSON_CreateString("chat.completion.chunk"));
	translate_add(&c, o, "created", cJSON_CreateNumber(s->created));
	translate_add(&c, o, "model", cJSON_CreateString(s->model ? s->model : ""));
	choices = translate_add(&c, o, "choices", cJSON_CreateArray());
	if (delta) {
		choice = translate_push(&c, choices, cJSON_CreateObject());
		translate_add(&c, choice, "index", cJSON_CreateNumber(0));
		translate_add(&c, choice, "delta", delta);
		translate_add(&c, choice, "logprobs", cJSON_CreateNull());
		translate_add(&c, choice, "finish_reason",
			      finish ? cJSON_CreateString(finish) : cJSON_CreateNull());
	}
	if (!delta) /* the usage chunk: no choices */
		translate_add(&c, o, "usage", translate_usage_openai(&c, &s->usage));
	else if (s->include_usage)
		translate_add(&c, o, "usage", cJSON_CreateNull());
	return emit(out, NULL, o, &c);
}

static int content_chunk(struct translate_stream *s, struct translate_buf *out, const char *text)
{
	cJSON *d = cJSON_CreateObject();

	if (d && !cJSON_AddStringToObject(d, "content", text)) {
		cJSON_Delete(d);
		d = NULL;
	}
	return d ? chunk(s, out, d, NULL) : -ENOMEM;
}

/* A tool_calls delta: the first one for a call has ID and NAME, later ones ARGS only. */
static int tool_chunk(struct translate_stream *s, struct translate_buf *out, int index,
		      const char *id, const char *name, const char *args)
{
	struct translate_ctx c = {0};
	cJSON *d = cJSON_CreateObject(), *calls, *call, *fn;

	calls = translate_add(&c, d, "tool_calls", cJSON_CreateArray());
	call = translate_push(&c, calls, cJSON_CreateObject());
	translate_add(&c, call, "index", cJSON_CreateNumber(index));
	if (id) {
		translate_add(&c, call, "id", cJSON_CreateString(id));
		translate_add(&c, call, "type", cJSON_CreateString("function"));
	}
	fn = translate_add(&c, call, "function", cJSON_CreateObject());
	if (name)
		translate_add(&c, fn, "name", cJSON_CreateString(name));
	translate_add(&c, fn, "arguments", cJSON_CreateString(args));
	if (c.oom) {
		cJSON_Delete(d);
		return -ENOMEM;
	}
	return chunk(s, out, d, NULL);
}

static int a_message_start(struct translate_stream *s, const cJSON *d, struct translate_buf *out)
{
	const cJSON *msg = translate_get(d, "message");
	struct translate_ctx c = {0};
	cJSON *delta;

	if (s->started)
		return broken(s, out, "a second message_start");
	s->started = 1;
	set_model(s, translate_str(msg, "model"));
	translate_usage_from_anthropic(translate_get(msg, "usage"), &s->usage);
	delta = cJSON_CreateObject();
	translate_add(&c, delta, "role", cJSON_CreateString("assistant"));
	translate_add(&c, delta, "content", cJSON_CreateString(""));
	if (c.oom || !delta) {
		cJSON_Delete(delta);
		return -ENOMEM;
	}
	return chunk(s, out, delta, NULL);
}

static int a_tool_start(struct translate_stream *s, int i, const cJSON *cb,
			struct translate_buf *out)
{
	const char *id = translate_str(cb, "id"), *name = translate_str(cb, "name");
	const cJSON *input = translate_get(cb, "input");
	char *args = NULL;
	int rc;

	if (!id || !name)
		return broken(s, out, "a tool_use block without id or name");
	if (cJSON_IsObject(input) && input->child) {
		args = cJSON_PrintUnformatted(input); /* input is {} until the deltas, normally */
		if (!args)
			return -ENOMEM;
	}
	s->kind[i] = BLOCK_TOOL;
	s->tool_index[i] = s->n_tools++;
	rc = tool_chunk(s, out, s->tool_index[i], id, name, args ? args : "");
	free(args);
	return rc;
}

static int a_block_start(struct translate_stream *s, const cJSON *d, struct translate_buf *out)
{
	const cJSON *cb = translate_get(d, "content_block");
	const char *type = translate_str(cb, "type"), *text;
	int i = block_index(d);

	if (i < 0 || s->kind[i] != BLOCK_UNSEEN)
		return broken(s, out, "content_block_start with a bad or reused index");
	if (type && !strcmp(type, "text")) {
		s->kind[i] = BLOCK_TEXT;
		text = translate_str(cb, "text");
		return text && *text ? content_chunk(s, out, text) : 0;
	}
	if (type && !strcmp(type, "tool_use"))
		return a_tool_start(s, i, cb, out);
	if (type && (!strcmp(type, "thinking") || !strcmp(type, "redacted_thinking"))) {
		s->kind[i] = BLOCK_HIDDEN; /* OpenAI does not show reasoning either */
		return 0;
	}
	return broken(s, out, "a %.40s block has no OpenAI counterpart", type ? type : "untyped");
}

static int a_block_delta(struct translate_stream *s, const cJSON *d, struct translate_buf *out)
{
	const cJSON *delta = translate_get(d, "delta");
	const char *type = translate_str(delta, "type"), *piece;
	int i = block_index(d);

	if (i < 0 || s->kind[i] == BLOCK_UNSEEN || s->kind[i] == BLOCK_STOPPED)
		return broken(s, out, "content_block_delta for a block that is not open");
	if (s->kind[i] == BLOCK_HIDDEN || !type)
		return 0;
	if (!strcmp(type, "text_delta") && s->kind[i] == BLOCK_TEXT) {
		piece = translate_str(delta, "text");
		return piece && *piece ? content_chunk(s, out, piece) : 0;
	}
	if (!strcmp(type, "input_json_delta") && s->kind[i] == BLOCK_TOOL) {
		piece = translate_str(delta, "partial_json");
		return piece && *piece ? tool_chunk(s, out, s->tool_index[i], NULL, NULL, piece)
				       : 0;
	}
	if (!strcmp(type, "text_delta") || !strcmp(type, "input_json_delta"))
		return broken(s, out, "a %s for a block of another kind", type);
	return 0; /* citations_delta, and kinds added later */
}

static int a_block_stop(struct translate_stream *s, const cJSON *d, struct translate_buf *out)
{
	int i = block_index(d);

	if (i < 0 || s->kind[i] == BLOCK_UNSEEN || s->kind[i] == BLOCK_STOPPED)
		return broken(s, out, "content_block_stop for a block that is not open");
	s->kind[i] = BLOCK_STOPPED;
	return 0;
}

static int a_message_delta(struct translate_stream *s, const cJSON *d, struct translate_buf *out)
{
	const char *reason = translate_str(translate_get(d, "delta"), "stop_reason");
	cJSON *delta;

	translate_usage_from_anthropic(translate_get(d, "usage"), &s->usage);
	if (!reason || s->stopped)
		return 0;
	s->stopped = 1;
	s->stop = translate_finish_reason(reason);
	delta = cJSON_CreateObject();
	return delta ? chunk(s, out, delta, s->stop) : -ENOMEM;
}

/* The usage chunk when asked for, then [DONE]. */
static int a_end(struct translate_stream *s, struct translate_buf *out)
{
	int rc = 0;

	cJSON *empty;

	if (!s->stopped) { /* message_stop without a stop reason: a natural end */
		s->stopped = 1;
		s->stop = "stop";
		empty = cJSON_CreateObject();
		rc = empty ? chunk(s, out, empty, s->stop) : -ENOMEM;
	}
	if (!rc && s->include_usage)
		rc = chunk(s, out, NULL, NULL);
	if (!rc)
		rc = translate_buf_add(out, "data: [DONE]\n\n", 14);
	s->ended = 1;
	return rc;
}

static int a_error(struct translate_stream *s, const cJSON *d, struct translate_buf *out)
{
	const cJSON *e = translate_get(d, "error");
	const char *msg = translate_str(e, "message"), *code, *type;
	int status;

	type = translate_openai_error_type(0, translate_str(e, "type"), &code, &status);
	return emit_error(s, out, type, code, msg ? msg : "upstream error");
}

static int a_feed(struct translate_stream *s, const char *type, const cJSON *d,
		  struct translate_buf *out)
{
	if (!strcmp(type, "ping"))
		return 0;
	if (!strcmp(type, "error"))
		return a_error(s, d, out);
	if (!strcmp(type, "message_start"))
		return a_message_start(s, d, out);
	if (!s->started)
		return broken(s, out, "%.40s before message_start", type);
	if (s->stopped && !strncmp(type, "content_block_", 14))
		return broken(s, out, "%.40s after the stop reason", type);
	if (!strcmp(type, "content_block_start"))
		return a_block_start(s, d, out);
	if (!strcmp(type, "content_block_delta"))
		return a_block_delta(s, d, out);
	if (!strcmp(type, "content_block_stop"))
		return a_block_stop(s, d, out);
	if (!strcmp(type, "message_delta"))
		return a_message_delta(s, d, out);
	if (!strcmp(type, "message_stop"))
		return a_end(s, out);
	return 0; /* "handle unknown event types gracefully" */
}

/* ---- OpenAI upstream, Anthropic app ---- */

static int event(struct translate_buf *out, const char *name, cJSON *o, struct translate_ctx *c)
{
	return emit(out, name, o, c);
}

static int o_message_start(struct translate_stream *s, struct translate_buf *out)
{
	struct translate_ctx c = {0};
	struct translate_usage none = {0};
	cJSON *o = translate_typed(&c, "message_start"), *m;

	s->started = 1;
	m = translate_add(&c, o, "message", cJSON_CreateObject());
	translate_add(&c, m, "id", cJSON_CreateString(s->id));
	translate_add(&c, m, "type", cJSON_CreateString("message"));
	translate_add(&c, m, "role", cJSON_CreateString("assistant"));
	translate_add(&c, m, "model", cJSON_CreateString(s->model ? s->model : ""));
	translate_add(&c, m, "content", cJSON_CreateArray());
	translate_add(&c, m, "stop_reason", cJSON_CreateNull());
	translate_add(&c, m, "stop_sequence", cJSON_CreateNull());
	translate_add(&c, m, "usage", translate_usage_anthropic(&c, &none)); /* known at the end */
	return event(out, "message_start", o, &c);
}

static int o_close(struct translate_stream *s, struct translate_buf *out)
{
	struct translate_ctx c = {0};
	cJSON *o;

	if (s->open < 0)
		return 0;
	o = translate_typed(&c, "content_block_stop");
	translate_add(&c, o, "index", cJSON_CreateNumber(s->open));
	if (s->open_tool >= 0)
		s->tool[s->open_tool] = TOOL_CLOSED;
	s->open = -1;
	return event(out, "content_block_stop", o, &c);
}

/* Closes the open block and starts block n_blocks with content BLOCK (owned). */
static int o_open(struct translate_stream *s, struct translate_buf *out, cJSON *block, int tool)
{
	struct translate_ctx c = {0};
	cJSON *o;
	int rc = o_close(s, out);

	if (rc) {
		cJSON_Delete(block);
		return rc;
	}
	if (s->n_blocks >= MAX_BLOCKS) {
		cJSON_Delete(block);
		return broken(s, out, "more than %d content blocks", MAX_BLOCKS);
	}
	o = translate_typed(&c, "content_block_start");
	translate_add(&c, o, "index", cJSON_CreateNumber(s->n_blocks));
	translate_add(&c, o, "content_block", block);
	s->open = s->n_blocks++;
	s->open_tool = tool;
	return event(out, "content_block_start", o, &c);
}

/* content_block_delta at the open block with DELTA {"type": TYPE, KEY: VALUE}. */
static int o_delta(struct translate_stream *s, struct translate_buf *out, const char *type,
		   const char *key, const char *value)
{
	struct translate_ctx c = {0};
	cJSON *o = translate_typed(&c, "content_block_delta"), *d;

	translate_add(&c, o, "index", cJSON_CreateNumber(s->open));
	d = translate_add(&c, o, "delta", translate_typed(&c, type));
	translate_add(&c, d, key, cJSON_CreateString(value));
	return event(out, "content_block_delta", o, &c);
}

static int o_text(struct translate_stream *s, struct translate_buf *out, const char *text)
{
	struct translate_ctx c = {0};
	cJSON *b;
	int rc;

	if (s->open < 0 || s->open_tool >= 0) {
		b = translate_typed(&c, "text");
		translate_add(&c, b, "text", cJSON_CreateString(""));
		rc = c.oom ? (cJSON_Delete(b), -ENOMEM) : o_open(s, out, b, -1);
		if (rc)
			return rc;
	}
	return o_delta(s, out, "text_delta", "text", text);
}

static int o_tool_start(struct translate_stream *s, struct translate_buf *out, int k,
			const cJSON *tc)
{
	const char *name = translate_str(translate_get(tc, "function"), "name");
	const char *id = translate_str(tc, "id");
	struct translate_ctx c = {0};
	char gen[32];
	cJSON *b;

	if (!name)
		return broken(s, out, "a tool call without a function name");
	if (!id) {
		translate_new_id(gen, sizeof(gen), "toolu_", 24);
		id = gen;
	}
	b = translate_typed(&c, "tool_use");
	translate_add(&c, b, "id", cJSON_CreateString(id));
	translate_add(&c, b, "name", cJSON_CreateString(name));
	translate_add(&c, b, "input", cJSON_CreateObject());
	if (c.oom) {
		cJSON_Delete(b);
		return -ENOMEM;
	}
	s->tool[k] = TOOL_OPEN;
	return o_open(s, out, b, k);
}

static int o_tool_delta(struct translate_stream *s, struct translate_buf *out, const cJSON *tc)
{
	const cJSON *idx = translate_get(tc, "index");
	const char *args = translate_str(translate_get(tc, "function"), "arguments");
	int k, rc = 0;

	if (!cJSON_IsNumber(idx) || idx->valuedouble < 0 || idx->valuedouble >= MAX_TOOLS)
		return broken(s, out, "a tool call with a bad index");
	k = (int)idx->valuedouble;
	if (s->tool[k] == TOOL_UNSEEN)
		rc = o_tool_start(s, out, k, tc);
	else if (s->tool[k] == TOOL_CLOSED || s->open_tool != k)
		return broken(s, out, "tool call %d resumed after another block started", k);
	if (rc || s->ended)
		return rc;
	return args && *args ? o_delta(s, out, "input_json_delta", "partial_json", args) : 0;
}

static int o_choice(struct translate_stream *s, const cJSON *ch, struct translate_buf *out)
{
	const cJSON *delta = translate_get(ch, "delta"),
		    *calls = translate_get(delta, "tool_calls");
	const cJSON *idx = translate_get(ch, "index"), *tc;
	const char *text = translate_str(delta, "content"),
		   *refusal = translate_str(delta, "refusal");
	const char *finish = translate_str(ch, "finish_reason");
	int rc = 0;

	if (idx && (!cJSON_IsNumber(idx) || idx->valuedouble != 0))
		return broken(s, out, "a choice other than 0");
	if (s->stopped && ((text && *text) || (refusal && *refusal) || cJSON_GetArraySize(calls)))
		return broken(s, out, "content after the finish_reason");
	if (text && *text)
		rc = o_text(s, out, text);
	if (!rc && !s->ended && refusal && *refusal) {
		s->refusal = 1;
		rc = o_text(s, out, refusal);
	}
	cJSON_ArrayForEach(tc, calls)
	{
		if (rc || s->ended)
			return rc;
		rc = o_tool_delta(s, out, tc);
	}
	if (rc || s->ended || !finish || s->stopped)
		return rc;
	s->stopped = 1;
	s->stop = s->refusal ? "refusal" : translate_stop_reason(finish);
	return o_close(s, out);
}

static int o_chunk(struct translate_stream *s, const cJSON *d, struct translate_buf *out)
{
	const cJSON *choices = translate_get(d, "choices"), *ch, *e = translate_get(d, "error");
	const char *msg, *type;
	int rc = 0, status;

	if (e) {
		msg = translate_str(e, "message");
		type = translate_anthropic_error_type(0, translate_str(e, "type"),
						      translate_str(e, "code"), &status);
		return emit_error(s, out, type, NULL, msg ? msg : "upstream error");
	}
	if (!s->started) {
		set_model(s, translate_str(d, "model"));
		rc = o_message_start(s, out);
	}
	cJSON_ArrayForEach(ch, choices)
	{
		if (rc || s->ended)
			return rc;
		rc = o_choice(s, ch, out);
	}
	if (!rc)
		translate_usage_from_openai(translate_get(d, "usage"), &s->usage);
	return rc;
}

/* [DONE]: message_delta (stop reason, the usage from the usage chunk) and message_stop. */
static int o_end(struct translate_stream *s, struct translate_buf *out)
{
	struct translate_ctx c = {0};
	cJSON *o, *d;
	int rc;

	if (!s->started || !s->stopped)
		return broken(s, out, "the stream ended without a finish_reason");
	rc = o_close(s, out);
	if (rc)
		return rc;
	o = translate_typed(&c, "message_delta");
	d = translate_add(&c, o, "delta", cJSON_CreateObject());
	translate_add(&c, d, "stop_reason", cJSON_CreateString(s->stop));
	translate_add(&c, d, "stop_sequence", cJSON_CreateNull());
	translate_add(&c, o, "usage", translate_usage_anthropic(&c, &s->usage));
	rc = event(out, "message_delta", o, &c);
	s->ended = 1;
	if (rc)
		return rc;
	o = translate_typed(&c, "message_stop");
	return event(out, "message_stop", o, &c);
}

static int is_done(const char *data, size_t len)
{
	while (len && (data[len - 1] == ' ' || data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	return len == 6 && !memcmp(data, "[DONE]", 6);
}

/* ---- entry points ---- */

int translate_stream_feed(struct translate_stream *s, const char *event, const char *data,
			  size_t len, struct translate_buf *out)
{
	const char *type;
	cJSON *d;
	int rc;

	if (s->ended)
		return 0;
	if (s->app == TRANSLATE_ANTHROPIC_MESSAGES && data && is_done(data, len))
		return o_end(s, out);
	d = translate_parse_object(data, len);
	if (!d)
		return broken(s, out, "an event whose data is not a JSON object");
	if (s->app == TRANSLATE_ANTHROPIC_MESSAGES) {
		rc = o_chunk(s, d, out);
	} else {
		type = translate_str(d, "type");
		if (!type)
			type = event && *event ? event : "";
		rc = *type ? a_feed(s, type, d, out) : broken(s, out, "an event without a type");
	}
	cJSON_Delete(d);
	return rc;
}

int translate_stream_finish(struct translate_stream *s, struct translate_buf *out)
{
	if (s->ended)
		return 0;
	if (s->stopped)
		return s->app == TRANSLATE_OPENAI_CHAT ? a_end(s, out) : o_end(s, out);
	return broken(s, out, "the upstream ended before its last event");
}

/* ---- comparing outputs ---- */

static size_t mask_run(char *p, size_t max, int digits_only)
{
	size_t n = 0;

	for (; n < max && p[n] &&
	       (digits_only ? isdigit((unsigned char)p[n]) : isalnum((unsigned char)p[n]));
	     n++)
		p[n] = 'X';
	return n;
}

void ref_translate_mask(char *text)
{
	static const struct {
		const char *prefix;
		size_t run;
		int digits;
	} ids[] = {
	    {"chatcmpl-", 29, 0}, {"msg_", 24, 0}, {"toolu_", 24, 0}, {"\"created\":", 20, 1},
	    {"\"responseId\":\"", 22, 0}};

	/* strpbrk() skips to the next byte an id can start with: a strncmp() per byte and id
	 * was most of the translate fuzzer's time (libFuzzer hooks every call). */
	for (char *p = text; p && (p = strpbrk(p, "cmt\"")); p++)
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
			if (*p == ids[i].prefix[0] &&
			    !strncmp(p, ids[i].prefix, strlen(ids[i].prefix))) {
				p += strlen(ids[i].prefix);
				p += mask_run(p, ids[i].run, ids[i].digits);
				p--;
				break;
			}
}

void ref_translate_cut_error_messages(struct translate_buf *b)
{
	static const char error[] = "\"error\":{", message[] = "\"message\":\"";
	char *p = b->data, *q, *nul;

	while (p && (p = strstr(p, error)) && (p = strstr(p, message))) {
		nul = NULL;
		for (q = p + sizeof(message) - 1; *q && *q != '"'; q += *q == '\\' && q[1] ? 2 : 1)
			if (!nul && !strncmp(q, "\\u0000", 6))
				nul = q;
		if (nul && *q == '"') {
			memmove(nul, q, b->len - (size_t)(q - b->data) + 1);
			b->len -= (size_t)(q - nul);
			q = nul;
		}
		p = q;
	}
}
