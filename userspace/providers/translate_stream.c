/*
 * translate_stream.c: streamed responses, one upstream SSE event in, zero or more SSE events
 * in the app's format out, so the app's stream is well-formed from its first byte.
 *
 * Anthropic upstream, OpenAI app: message_start -> the role chunk; text_delta -> content;
 * tool_use start -> a tool_calls delta with index, id, name and empty arguments, then each
 * input_json_delta -> an arguments piece; message_delta's stop_reason -> the finish_reason
 * chunk; message_stop -> the usage chunk (only when the app asked) and data: [DONE].
 *
 * OpenAI upstream, Anthropic app: the first chunk -> message_start; content -> a text block;
 * each tool call (by its index) -> a tool_use block whose argument pieces are input_json_delta;
 * a new kind of content closes the open block; finish_reason and the usage chunk are kept
 * until [DONE], which becomes content_block_stop, message_delta and message_stop.
 *
 * Anthropic upstream, Gemini app: read as for an OpenAI app, but what would be its chunks goes
 * straight to translate_gemini_app.c's writer (the role chunk's model, each text delta, the
 * finish_reason, the usage, [DONE]): one stage, byte for byte what the two stages through
 * OpenAI's chunks wrote (tests/unit/gemini_two_stage.c keeps those, for the comparison).
 *
 * An upstream error event becomes the app's error event and ends the stream; so does an
 * upstream that breaks its protocol (-EPROTO). Blocks and tool calls are tracked in fixed
 * tables: an index past them is a protocol error too.
 *
 * No tree per event: each event's text is scanned once for the members its direction reads
 * (the field tables below; translate_json.h), and the app's events are written from fixed
 * templates with the strings escaped straight into the output, byte for byte what building
 * and printing them with cJSON gave (tests/unit/test_translate_stream.c compares the two).
 * Only the rare events still go through cJSON: error events, and a tool_use block that
 * starts with a non-empty input.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/translate_gemini_app.h"
#include "providers/translate_json.h"
#include "providers/translate_util.h"

#define MAX_BLOCKS 128 /* Anthropic content blocks in one message */
#define MAX_TOOLS 128  /* OpenAI tool calls in one message */

/* Appends the string literal LIT. */
#define PUT(b, lit) translate_buf_add((b), (lit), sizeof(lit) - 1)

enum block_kind { BLOCK_UNSEEN, BLOCK_TEXT, BLOCK_TOOL, BLOCK_HIDDEN, BLOCK_STOPPED };
enum tool_state { TOOL_UNSEEN, TOOL_OPEN, TOOL_CLOSED };

struct translate_stream {
	enum translate_api app;
	enum translate_api from; /* the upstream's API */
	/* Gemini upstream, Anthropic app: Gemini -> OpenAI here, then its OpenAI chunks (MID)
	 * -> Anthropic in this one */
	struct translate_stream *inner;
	struct translate_buf mid;
	/* Gemini app: the upstream's OpenAI chunks -> its events; an Anthropic upstream's events
	 * are read as for an OpenAI app, and what would be its chunks written straight to GAPP */
	struct translate_gemini_stream *gapp;
	int include_usage;
	char *model;	 /* reported; the caller's, or the upstream's once known */
	int model_fixed; /* the caller chose it */
	char id[40];
	double created;
	struct translate_buf head; /* OpenAI app: every chunk's start up to "choices":[ */
	struct tj_prefix prefix;   /* what the last event's scan keeps for the next one */
	int started;		   /* the app's first event was emitted */
	int ended;		   /* its terminator or an error event was emitted */
	int stopped;		   /* the stop reason is known */
	const char *stop;	   /* in the app's terms */
	struct translate_usage usage;
	/* Anthropic upstream: per block index, its kind and its OpenAI tool_calls index */
	unsigned char kind[MAX_BLOCKS];
	int tool_index[MAX_BLOCKS];
	int n_tools;
	/* OpenAI upstream: the open Anthropic block and the tool call it carries (-1: text) */
	int open, open_tool, n_blocks, refusal;
	unsigned char tool[MAX_TOOLS];
};

static struct translate_stream *stream_new(enum translate_api app, enum translate_api from,
					   int include_usage, const char *model)
{
	struct translate_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->app = app;
	s->from = from;
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

static struct translate_stream *gemini_app_new(enum translate_api from, const char *model)
{
	struct translate_stream *s = stream_new(TRANSLATE_GEMINI_GENERATE, from, 0, model);

	if (!s)
		return NULL;
	if (!(s->gapp = translate_gemini_stream_new(model))) {
		translate_stream_free(s);
		return NULL;
	}
	return s;
}

struct translate_stream *translate_stream_new_from(enum translate_api app, enum translate_api from,
						   int include_usage, const char *model)
{
	struct translate_stream *s;

	if (app == from) {
		errno = EINVAL;
		return NULL;
	}
	if (app == TRANSLATE_GEMINI_GENERATE)
		return gemini_app_new(from, model);
	if (from != TRANSLATE_GEMINI_GENERATE || app == TRANSLATE_OPENAI_CHAT)
		return stream_new(app, from, include_usage, model);
	s = stream_new(app, TRANSLATE_OPENAI_CHAT, 0, model);
	if (s && !(s->inner = stream_new(TRANSLATE_OPENAI_CHAT, from, 1, model))) {
		translate_stream_free(s);
		return NULL;
	}
	return s;
}

struct translate_stream *translate_stream_new(enum translate_api app, int include_usage,
					      const char *model)
{
	return translate_stream_new_from(app, translate_api_other(app), include_usage, model);
}

void translate_stream_free(struct translate_stream *s)
{
	if (!s)
		return;
	translate_stream_free(s->inner);
	translate_gemini_stream_free(s->gapp);
	translate_buf_free(&s->mid);
	translate_buf_free(&s->head);
	translate_json_prefix_free(&s->prefix);
	free(s->model);
	free(s);
}

int translate_stream_ended(const struct translate_stream *s)
{
	return s->ended;
}

static void set_model(struct translate_stream *s, const struct tj_val *model)
{
	char *m;

	if (s->model_fixed || model->type != TJ_STRING ||
	    (s->model && translate_json_is(model, s->model)))
		return;
	m = translate_json_dup(model);
	if (!m)
		return; /* keep the old name (or "") rather than fail the stream */
	free(s->model);
	s->model = m;
	s->head.len = 0;
}

/* Emits O (freed here) as one SSE event; C holds whether building it ran out of memory. */
static int emit(struct translate_buf *out, const char *event, cJSON *o, struct translate_ctx *c)
{
	int rc = (c->oom || !o) ? -ENOMEM : translate_sse_json(out, event, o);

	cJSON_Delete(o);
	return rc;
}

static int emit_error(struct translate_stream *s, struct translate_buf *out, const char *type,
		      const char *code, const char *message, size_t len)
{
	struct translate_ctx c = {0};
	cJSON *o;
	int anthropic = s->app == TRANSLATE_ANTHROPIC_MESSAGES;

	s->ended = 1;
	if (s->gapp)
		return translate_gemini_stream_broken(s->gapp, type, message, out);
	o = translate_error_object_whole(&c, s->app, type, code, message, len);
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
	return emit_error(s, out, type, NULL, msg, strlen(msg)) ?: -EPROTO;
}

/* An upstream error event: its message (decoded, whole: past an escaped U+0000; "upstream
 * error" when it has none) as the app's error event of TYPE / CODE. */
static int upstream_error(struct translate_stream *s, struct translate_buf *out,
			  const struct tj_val *message, const char *type, const char *code)
{
	static const char none[] = "upstream error";
	size_t len = sizeof(none) - 1;
	char *msg;
	int rc;

	if (s->gapp) {
		s->ended = 1;
		return translate_gemini_stream_error(s->gapp, type, message, out);
	}
	msg = translate_json_dup_whole(message, &len);

	if (!msg && message->type == TJ_STRING)
		return -ENOMEM;
	rc = emit_error(s, out, type, code, msg ? msg : none, len);
	free(msg);
	return rc;
}

/* V's decoded text in BUF (CAP bytes), for a table lookup: NULL when V is not a string, ""
 * when it is longer than any name looked up (it matches none of them either way). */
static const char *name_of(const struct tj_val *v, char *buf, size_t cap)
{
	int cut;
	const char *name = translate_json_copy(v, buf, cap, &cut);

	return name && cut ? "" : name;
}

/* A string that is there and not empty. */
static int has_text(const struct tj_val *v)
{
	return v->type == TJ_STRING && !translate_json_is(v, "");
}

static int present(const struct tj_val *v)
{
	return v->type != TJ_NONE && v->type != TJ_NULL;
}

static int block_index(const struct tj_val *i)
{
	if (i->type != TJ_NUMBER || i->num < 0 || i->num >= MAX_BLOCKS || i->num != (int)i->num)
		return -1;
	return (int)i->num;
}

/* Takes a token count: a number, not negative. */
static void take(const struct tj_val *v, double *ret)
{
	if (v->type == TJ_NUMBER && v->num >= 0)
		*ret = v->num;
}

static int put_int(struct translate_buf *b, int i)
{
	return translate_json_put_num(b, i);
}

/* ---- Anthropic upstream, OpenAI app ---- */

enum a_slot {
	A_TYPE,
	A_INDEX,
	A_ERROR,
	A_ERROR_TYPE,
	A_ERROR_MESSAGE,
	A_MESSAGE,
	A_MODEL,
	A_MESSAGE_USAGE,
	A_MSG_INPUT,
	A_MSG_CACHE_WRITE,
	A_MSG_CACHE_READ,
	A_MSG_OUTPUT,
	A_BLOCK,
	A_BLOCK_TYPE,
	A_BLOCK_TEXT,
	A_BLOCK_ID,
	A_BLOCK_NAME,
	A_BLOCK_INPUT,
	A_DELTA,
	A_DELTA_TYPE,
	A_DELTA_TEXT,
	A_DELTA_JSON,
	A_STOP_REASON,
	A_USAGE,
	A_INPUT,
	A_CACHE_WRITE,
	A_CACHE_READ,
	A_OUTPUT,
	A_SLOTS
};

/* The usage slots in order: input, cache write, cache read, output. */
#define A_USAGE_FIELDS(first)                                                                      \
	{"input_tokens", first, NULL, NULL},                                                       \
	    {"cache_creation_input_tokens", first + 1, NULL, NULL},                                \
	    {"cache_read_input_tokens", first + 2, NULL, NULL},                                    \
	    {"output_tokens", first + 3, NULL, NULL},                                              \
	{                                                                                          \
		NULL, 0, NULL, NULL                                                                \
	}

static const struct tj_field a_message_usage[] = {A_USAGE_FIELDS(A_MSG_INPUT)};
static const struct tj_field a_usage[] = {A_USAGE_FIELDS(A_INPUT)};
static const struct tj_field a_message[] = {{"model", A_MODEL, NULL, NULL},
					    {"usage", A_MESSAGE_USAGE, a_message_usage, NULL},
					    {NULL, 0, NULL, NULL}};
static const struct tj_field a_block[] = {
    {"type", A_BLOCK_TYPE, NULL, NULL},	  {"text", A_BLOCK_TEXT, NULL, NULL},
    {"id", A_BLOCK_ID, NULL, NULL},	  {"name", A_BLOCK_NAME, NULL, NULL},
    {"input", A_BLOCK_INPUT, NULL, NULL}, {NULL, 0, NULL, NULL}};
static const struct tj_field a_delta[] = {{"type", A_DELTA_TYPE, NULL, NULL},
					  {"text", A_DELTA_TEXT, NULL, NULL},
					  {"partial_json", A_DELTA_JSON, NULL, NULL},
					  {"stop_reason", A_STOP_REASON, NULL, NULL},
					  {NULL, 0, NULL, NULL}};
static const struct tj_field a_error_fields[] = {{"type", A_ERROR_TYPE, NULL, NULL},
						 {"message", A_ERROR_MESSAGE, NULL, NULL},
						 {NULL, 0, NULL, NULL}};
static const struct tj_field a_event[] = {{"type", A_TYPE, NULL, NULL},
					  {"index", A_INDEX, NULL, NULL},
					  {"message", A_MESSAGE, a_message, NULL},
					  {"content_block", A_BLOCK, a_block, NULL},
					  {"delta", A_DELTA, a_delta, NULL},
					  {"usage", A_USAGE, a_usage, NULL},
					  {"error", A_ERROR, a_error_fields, NULL},
					  {NULL, 0, NULL, NULL}};

/* Anthropic's usage (its four slots from U on) into *T; absent members stay as they were. */
static void usage_from_anthropic(const struct tj_val *u, struct translate_usage *t)
{
	take(&u[0], &t->input);
	take(&u[1], &t->cache_write);
	take(&u[2], &t->cache_read);
	take(&u[3], &t->output);
}

/* "data: " and a chat.completion.chunk up to its choices' '[' (kept: it changes only with the
 * model). */
static int chunk_head(struct translate_stream *s, struct translate_buf *out)
{
	struct translate_buf *h = &s->head;
	int err = 0;

	if (!h->len) {
		err |= PUT(h, "data: {\"id\":");
		err |= translate_json_put_cstr(h, s->id);
		err |= PUT(h, ",\"object\":\"chat.completion.chunk\",\"created\":");
		err |= translate_json_put_num(h, s->created);
		err |= PUT(h, ",\"model\":");
		err |= translate_json_put_cstr(h, s->model ? s->model : "");
		err |= PUT(h, ",\"choices\":[");
		if (err) {
			h->len = 0;
			return -ENOMEM;
		}
	}
	return translate_buf_add(out, h->data, h->len);
}

/* A chunk's start up to its one choice's delta, which the caller writes. */
static int chunk_open(struct translate_stream *s, struct translate_buf *out)
{
	return chunk_head(s, out) | PUT(out, "{\"index\":0,\"delta\":");
}

/* The rest of a chunk after its delta, with FINISH (NULL: null). */
static int chunk_close(struct translate_stream *s, struct translate_buf *out, const char *finish)
{
	int err = PUT(out, ",\"logprobs\":null,\"finish_reason\":");

	err |= finish ? translate_json_put_cstr(out, finish) : PUT(out, "null");
	err |= PUT(out, "}]");
	if (s->include_usage)
		err |= PUT(out, ",\"usage\":null");
	return err | PUT(out, "}\n\n");
}

/* A chunk whose delta is DELTA, a literal, with FINISH. */
static int chunk_fixed(struct translate_stream *s, struct translate_buf *out, const char *delta,
		       const char *finish)
{
	size_t old = out->len;
	int err;

	if (s->gapp) { /* the role chunk names the model; the finish chunk has no text */
		if (finish)
			return translate_gemini_stream_finish_reason(s->gapp, finish, out);
		translate_gemini_stream_model(s->gapp, s->model ? s->model : "");
		return 0;
	}
	err = chunk_open(s, out);
	err |= translate_buf_add(out, delta, strlen(delta));
	err |= chunk_close(s, out, finish);
	return translate_buf_cut(out, old, err);
}

static int content_chunk(struct translate_stream *s, struct translate_buf *out,
			 const struct tj_val *text)
{
	size_t old = out->len;
	int err;

	if (s->gapp)
		return translate_gemini_stream_text(s->gapp, text, out);
	err = chunk_open(s, out);
	err |= PUT(out, "{\"content\":");
	err |= translate_json_put_str(out, text);
	err |= PUT(out, "}");
	err |= chunk_close(s, out, NULL);
	return translate_buf_cut(out, old, err);
}

/* The first tool_calls delta of a call: index, ID, NAME and ARGS (the input printed). */
static int tool_start_chunk(struct translate_stream *s, struct translate_buf *out, int index,
			    const struct tj_val *id, const struct tj_val *name, const char *args)
{
	size_t old = out->len;
	int err;

	if (s->gapp)
		return translate_gemini_stream_call_start(s->gapp, index, id, name, args, out);
	err = chunk_open(s, out);
	err |= PUT(out, "{\"tool_calls\":[{\"index\":");
	err |= put_int(out, index);
	err |= PUT(out, ",\"id\":");
	err |= translate_json_put_str(out, id);
	err |= PUT(out, ",\"type\":\"function\",\"function\":{\"name\":");
	err |= translate_json_put_str(out, name);
	err |= PUT(out, ",\"arguments\":");
	err |= translate_json_put_cstr(out, args);
	err |= PUT(out, "}}]}");
	err |= chunk_close(s, out, NULL);
	return translate_buf_cut(out, old, err);
}

/* A later tool_calls delta: a piece ARGS of the call's arguments. */
static int tool_args_chunk(struct translate_stream *s, struct translate_buf *out, int index,
			   const struct tj_val *args)
{
	size_t old = out->len;
	int err;

	if (s->gapp)
		return translate_gemini_stream_call_args(s->gapp, index, args, out);
	err = chunk_open(s, out);
	err |= PUT(out, "{\"tool_calls\":[{\"index\":");
	err |= put_int(out, index);
	err |= PUT(out, ",\"function\":{\"arguments\":");
	err |= translate_json_put_str(out, args);
	err |= PUT(out, "}}]}");
	err |= chunk_close(s, out, NULL);
	return translate_buf_cut(out, old, err);
}

/* The usage chunk: no choices, the usage in OpenAI's terms. */
static int usage_chunk(struct translate_stream *s, struct translate_buf *out)
{
	const struct translate_usage *u = &s->usage;
	double prompt = u->input + u->cache_write + u->cache_read;
	size_t old = out->len;
	int err;

	if (s->gapp) {
		translate_gemini_stream_usage(s->gapp, prompt, u->output, u->cache_read);
		return 0;
	}
	err = chunk_head(s, out);
	err |= PUT(out, "],\"usage\":{\"prompt_tokens\":");
	err |= translate_json_put_num(out, prompt);
	err |= PUT(out, ",\"completion_tokens\":");
	err |= translate_json_put_num(out, u->output);
	err |= PUT(out, ",\"total_tokens\":");
	err |= translate_json_put_num(out, prompt + u->output);
	err |= PUT(out, ",\"prompt_tokens_details\":{\"cached_tokens\":");
	err |= translate_json_put_num(out, u->cache_read);
	err |= PUT(out, "}}}\n\n");
	return translate_buf_cut(out, old, err);
}

static int a_message_start(struct translate_stream *s, const struct tj_val *v,
			   struct translate_buf *out)
{
	if (s->started)
		return broken(s, out, "a second message_start");
	s->started = 1;
	set_model(s, &v[A_MODEL]);
	usage_from_anthropic(&v[A_MSG_INPUT], &s->usage);
	return chunk_fixed(s, out, "{\"role\":\"assistant\",\"content\":\"\"}", NULL);
}

/* The tool_use block's input when it is not {}, printed compactly as cJSON prints it. */
static int print_input(const struct tj_val *input, char **ret)
{
	cJSON *tree;

	*ret = NULL;
	if (input->type != TJ_OBJECT || !input->count)
		return 0; /* input is {} until the deltas, normally */
	tree = cJSON_ParseWithLength(input->p, input->len);
	*ret = tree ? cJSON_PrintUnformatted(tree) : NULL;
	cJSON_Delete(tree);
	return *ret ? 0 : -ENOMEM;
}

static int a_tool_start(struct translate_stream *s, int i, const struct tj_val *v,
			struct translate_buf *out)
{
	char *args;
	int rc;

	if (v[A_BLOCK_ID].type != TJ_STRING || v[A_BLOCK_NAME].type != TJ_STRING)
		return broken(s, out, "a tool_use block without id or name");
	rc = print_input(&v[A_BLOCK_INPUT], &args);
	if (rc)
		return rc;
	s->kind[i] = BLOCK_TOOL;
	s->tool_index[i] = s->n_tools++;
	rc = tool_start_chunk(s, out, s->tool_index[i], &v[A_BLOCK_ID], &v[A_BLOCK_NAME],
			      args ? args : "");
	free(args);
	return rc;
}

static int a_block_start(struct translate_stream *s, const struct tj_val *v,
			 struct translate_buf *out)
{
	const struct tj_val *type = &v[A_BLOCK_TYPE];
	char name[48];
	int i = block_index(&v[A_INDEX]);

	if (i < 0 || s->kind[i] != BLOCK_UNSEEN)
		return broken(s, out, "content_block_start with a bad or reused index");
	if (translate_json_is(type, "text")) {
		s->kind[i] = BLOCK_TEXT;
		return has_text(&v[A_BLOCK_TEXT]) ? content_chunk(s, out, &v[A_BLOCK_TEXT]) : 0;
	}
	if (translate_json_is(type, "tool_use"))
		return a_tool_start(s, i, v, out);
	if (translate_json_is(type, "thinking") || translate_json_is(type, "redacted_thinking")) {
		s->kind[i] = BLOCK_HIDDEN; /* OpenAI does not show reasoning either */
		return 0;
	}
	return broken(s, out, "a %.40s block has no OpenAI counterpart",
		      translate_json_copy(type, name, sizeof(name), NULL) ?: "untyped");
}

static int a_block_delta(struct translate_stream *s, const struct tj_val *v,
			 struct translate_buf *out)
{
	const struct tj_val *type = &v[A_DELTA_TYPE];
	int i = block_index(&v[A_INDEX]), text, json;

	if (i < 0 || s->kind[i] == BLOCK_UNSEEN || s->kind[i] == BLOCK_STOPPED)
		return broken(s, out, "content_block_delta for a block that is not open");
	if (s->kind[i] == BLOCK_HIDDEN || type->type != TJ_STRING)
		return 0;
	text = translate_json_is(type, "text_delta");
	json = !text && translate_json_is(type, "input_json_delta");
	if (text && s->kind[i] == BLOCK_TEXT)
		return has_text(&v[A_DELTA_TEXT]) ? content_chunk(s, out, &v[A_DELTA_TEXT]) : 0;
	if (json && s->kind[i] == BLOCK_TOOL)
		return has_text(&v[A_DELTA_JSON])
			   ? tool_args_chunk(s, out, s->tool_index[i], &v[A_DELTA_JSON])
			   : 0;
	if (text || json)
		return broken(s, out, "a %s for a block of another kind",
			      text ? "text_delta" : "input_json_delta");
	return 0; /* citations_delta, and kinds added later */
}

static int a_block_stop(struct translate_stream *s, const struct tj_val *v,
			struct translate_buf *out)
{
	int i = block_index(&v[A_INDEX]);

	if (i < 0 || s->kind[i] == BLOCK_UNSEEN || s->kind[i] == BLOCK_STOPPED)
		return broken(s, out, "content_block_stop for a block that is not open");
	s->kind[i] = BLOCK_STOPPED;
	return 0;
}

static int a_message_delta(struct translate_stream *s, const struct tj_val *v,
			   struct translate_buf *out)
{
	char buf[40];
	const char *reason = name_of(&v[A_STOP_REASON], buf, sizeof(buf));

	usage_from_anthropic(&v[A_INPUT], &s->usage);
	if (!reason || s->stopped)
		return 0;
	s->stopped = 1;
	s->stop = translate_finish_reason(reason);
	return chunk_fixed(s, out, "{}", s->stop);
}

/* The usage chunk when asked for, then [DONE]. */
static int a_end(struct translate_stream *s, struct translate_buf *out)
{
	int rc = 0;

	if (!s->stopped) { /* message_stop without a stop reason: a natural end */
		s->stopped = 1;
		s->stop = "stop";
		rc = chunk_fixed(s, out, "{}", s->stop);
	}
	if (!rc && (s->include_usage || s->gapp))
		rc = usage_chunk(s, out);
	if (!rc)
		rc = s->gapp ? translate_gemini_stream_done(s->gapp, out)
			     : PUT(out, "data: [DONE]\n\n");
	s->ended = 1;
	return rc;
}

static int a_error(struct translate_stream *s, const struct tj_val *v, struct translate_buf *out)
{
	char buf[40];
	const char *code = NULL, *type = name_of(&v[A_ERROR_TYPE], buf, sizeof(buf));
	int status;

	/* A Gemini app's status is read from Anthropic's own type (overloaded: 503), not from
	 * the OpenAI type it would become, which has lost it. */
	if (!s->gapp)
		type = translate_openai_error_type(0, type, &code, &status);
	return upstream_error(s, out, &v[A_ERROR_MESSAGE], type, code);
}

/* An event of TYPE (its "type", else the SSE event name). */
static int a_event_of(struct translate_stream *s, const char *type, const struct tj_val *v,
		      struct translate_buf *out)
{
	if (!strcmp(type, "ping"))
		return 0;
	if (!strcmp(type, "error"))
		return a_error(s, v, out);
	if (!strcmp(type, "message_start"))
		return a_message_start(s, v, out);
	if (!s->started)
		return broken(s, out, "%.40s before message_start", type);
	if (s->stopped && !strncmp(type, "content_block_", 14))
		return broken(s, out, "%.40s after the stop reason", type);
	if (!strcmp(type, "content_block_start"))
		return a_block_start(s, v, out);
	if (!strcmp(type, "content_block_delta"))
		return a_block_delta(s, v, out);
	if (!strcmp(type, "content_block_stop"))
		return a_block_stop(s, v, out);
	if (!strcmp(type, "message_delta"))
		return a_message_delta(s, v, out);
	if (!strcmp(type, "message_stop"))
		return a_end(s, out);
	return 0; /* "handle unknown event types gracefully" */
}

static int a_feed(struct translate_stream *s, const char *event, const char *data, size_t len,
		  struct translate_buf *out)
{
	struct tj_val v[A_SLOTS];
	char buf[48]; /* longer than any type handled, and than the 40 bytes an error shows */
	const char *type;

	if (translate_json_scan(&s->prefix, data, len, a_event, v, A_SLOTS))
		return broken(s, out, "an event whose data is not a JSON object");
	type = translate_json_copy(&v[A_TYPE], buf, sizeof(buf), NULL);
	if (!type)
		type = event && *event ? event : "";
	return *type ? a_event_of(s, type, v, out) : broken(s, out, "an event without a type");
}

/* ---- OpenAI upstream, Anthropic app ---- */

/* One table of slots for a chunk, its first choice and that choice's first tool call: a chunk
 * normally carries one choice with at most one tool call, read in the one scan. When there
 * are more (or they come as an object's members, which cJSON goes through as well), each is
 * scanned again into a table of its own, with the same slot numbers. */
enum o_slot {
	O_ERROR,
	O_ERROR_MESSAGE,
	O_ERROR_TYPE,
	O_ERROR_CODE,
	O_MODEL,
	O_CHOICES,
	O_USAGE,
	O_PROMPT,
	O_DETAILS,
	O_CACHED,
	O_COMPLETION,
	C_INDEX,
	C_DELTA,
	C_CONTENT,
	C_REFUSAL,
	C_CALLS,
	C_FINISH,
	T_INDEX,
	T_ID,
	T_FUNCTION,
	T_NAME,
	T_ARGS,
	O_SLOTS
};

static const struct tj_field t_function[] = {
    {"name", T_NAME, NULL, NULL}, {"arguments", T_ARGS, NULL, NULL}, {NULL, 0, NULL, NULL}};
static const struct tj_field t_call[] = {{"index", T_INDEX, NULL, NULL},
					 {"id", T_ID, NULL, NULL},
					 {"function", T_FUNCTION, t_function, NULL},
					 {NULL, 0, NULL, NULL}};
static const struct tj_field c_delta[] = {{"content", C_CONTENT, NULL, NULL},
					  {"refusal", C_REFUSAL, NULL, NULL},
					  {"tool_calls", C_CALLS, NULL, t_call},
					  {NULL, 0, NULL, NULL}};
static const struct tj_field c_choice[] = {{"index", C_INDEX, NULL, NULL},
					   {"delta", C_DELTA, c_delta, NULL},
					   {"finish_reason", C_FINISH, NULL, NULL},
					   {NULL, 0, NULL, NULL}};
static const struct tj_field o_error[] = {{"message", O_ERROR_MESSAGE, NULL, NULL},
					  {"type", O_ERROR_TYPE, NULL, NULL},
					  {"code", O_ERROR_CODE, NULL, NULL},
					  {NULL, 0, NULL, NULL}};
static const struct tj_field o_details[] = {{"cached_tokens", O_CACHED, NULL, NULL},
					    {NULL, 0, NULL, NULL}};
static const struct tj_field o_usage[] = {{"prompt_tokens", O_PROMPT, NULL, NULL},
					  {"prompt_tokens_details", O_DETAILS, o_details, NULL},
					  {"completion_tokens", O_COMPLETION, NULL, NULL},
					  {NULL, 0, NULL, NULL}};
static const struct tj_field o_chunk_fields[] = {{"error", O_ERROR, o_error, NULL},
						 {"model", O_MODEL, NULL, NULL},
						 {"choices", O_CHOICES, NULL, c_choice},
						 {"usage", O_USAGE, o_usage, NULL},
						 {NULL, 0, NULL, NULL}};

/* Whether V is an array of one element, whose slots the scan filled already. */
static int only_one(const struct tj_val *v)
{
	return v->type == TJ_ARRAY && v->count == 1;
}

/* OpenAI's usage into *T in Anthropic's terms (prompt_tokens counts the cached ones). */
static void usage_from_openai(const struct tj_val *v, struct translate_usage *t)
{
	double prompt = -1, cached = 0;

	take(&v[O_PROMPT], &prompt);
	take(&v[O_CACHED], &cached);
	take(&v[O_COMPLETION], &t->output);
	translate_usage_set_openai(t, prompt, cached);
}

/* "event: NAME\ndata: {"type":"NAME"" — an Anthropic event up to its other members. */
#define EVENT_OPEN(name) "event: " name "\ndata: {\"type\":\"" name "\""

static int put_usage_anthropic(struct translate_buf *out, const struct translate_usage *u)
{
	int err = PUT(out, "{\"input_tokens\":");

	err |= translate_json_put_num(out, u->input);
	err |= PUT(out, ",\"cache_creation_input_tokens\":");
	err |= translate_json_put_num(out, u->cache_write);
	err |= PUT(out, ",\"cache_read_input_tokens\":");
	err |= translate_json_put_num(out, u->cache_read);
	err |= PUT(out, ",\"output_tokens\":");
	err |= translate_json_put_num(out, u->output);
	return err | PUT(out, "}");
}

static int o_message_start(struct translate_stream *s, struct translate_buf *out)
{
	struct translate_usage none = {0}; /* known at the end */
	size_t old = out->len;
	int err;

	s->started = 1;
	err = PUT(out, EVENT_OPEN("message_start") ",\"message\":{\"id\":");
	err |= translate_json_put_cstr(out, s->id);
	err |= PUT(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
	err |= translate_json_put_cstr(out, s->model ? s->model : "");
	err |= PUT(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
	err |= put_usage_anthropic(out, &none);
	err |= PUT(out, "}}\n\n");
	return translate_buf_cut(out, old, err);
}

static int o_close(struct translate_stream *s, struct translate_buf *out)
{
	size_t old = out->len;
	int err;

	if (s->open < 0)
		return 0;
	err = PUT(out, EVENT_OPEN("content_block_stop") ",\"index\":");
	err |= put_int(out, s->open);
	err |= PUT(out, "}\n\n");
	if (s->open_tool >= 0)
		s->tool[s->open_tool] = TOOL_CLOSED;
	s->open = -1;
	return translate_buf_cut(out, old, err);
}

/* Closes the open block and makes block n_blocks the open one, carrying tool call TOOL (-1:
 * text). The caller writes its content_block_start. */
static int o_open(struct translate_stream *s, struct translate_buf *out, int tool)
{
	int rc = o_close(s, out);

	if (rc)
		return rc;
	if (s->n_blocks >= MAX_BLOCKS)
		return broken(s, out, "more than %d content blocks", MAX_BLOCKS);
	s->open = s->n_blocks++;
	s->open_tool = tool;
	return 0;
}

/* content_block_start of the open block, up to its content block, which the caller writes. */
static int o_block_start(struct translate_stream *s, struct translate_buf *out)
{
	int err = PUT(out, EVENT_OPEN("content_block_start") ",\"index\":");

	err |= put_int(out, s->open);
	return err | PUT(out, ",\"content_block\":");
}

/* content_block_delta at the open block: {"type": TYPE, KEY: VALUE}, TYPE and KEY written
 * as they are. */
static int o_delta(struct translate_stream *s, struct translate_buf *out, const char *type,
		   const char *key, const struct tj_val *value)
{
	size_t old = out->len;
	int err = PUT(out, EVENT_OPEN("content_block_delta") ",\"index\":");

	err |= put_int(out, s->open);
	err |= PUT(out, ",\"delta\":{\"type\":\"");
	err |= translate_buf_add(out, type, strlen(type));
	err |= PUT(out, "\",\"");
	err |= translate_buf_add(out, key, strlen(key));
	err |= PUT(out, "\":");
	err |= translate_json_put_str(out, value);
	err |= PUT(out, "}}\n\n");
	return translate_buf_cut(out, old, err);
}

static int o_text(struct translate_stream *s, struct translate_buf *out, const struct tj_val *text)
{
	size_t old;
	int rc;

	if (s->open < 0 || s->open_tool >= 0) {
		rc = o_open(s, out, -1);
		if (rc)
			return rc;
		old = out->len;
		rc = translate_buf_cut(out, old,
			       o_block_start(s, out) |
				   PUT(out, "{\"type\":\"text\",\"text\":\"\"}}\n\n"));
		if (rc)
			return rc;
	}
	return o_delta(s, out, "text_delta", "text", text);
}

static int o_tool_start(struct translate_stream *s, struct translate_buf *out, int k,
			const struct tj_val *tc)
{
	char gen[32];
	size_t old;
	int rc, err;

	if (tc[T_NAME].type != TJ_STRING)
		return broken(s, out, "a tool call without a function name");
	if (tc[T_ID].type != TJ_STRING)
		translate_new_id(gen, sizeof(gen), "toolu_", 24);
	s->tool[k] = TOOL_OPEN;
	rc = o_open(s, out, k);
	if (rc)
		return rc;
	old = out->len;
	err = o_block_start(s, out);
	err |= PUT(out, "{\"type\":\"tool_use\",\"id\":");
	err |= tc[T_ID].type == TJ_STRING ? translate_json_put_str(out, &tc[T_ID])
					  : translate_json_put_cstr(out, gen);
	err |= PUT(out, ",\"name\":");
	err |= translate_json_put_str(out, &tc[T_NAME]);
	err |= PUT(out, ",\"input\":{}}}\n\n");
	return translate_buf_cut(out, old, err);
}

static int o_tool_delta(struct translate_stream *s, struct translate_buf *out,
			const struct tj_val *tc)
{
	const struct tj_val *idx = &tc[T_INDEX];
	int k, rc = 0;

	if (idx->type != TJ_NUMBER || idx->num < 0 || idx->num >= MAX_TOOLS)
		return broken(s, out, "a tool call with a bad index");
	k = (int)idx->num;
	if (s->tool[k] == TOOL_UNSEEN)
		rc = o_tool_start(s, out, k, tc);
	else if (s->tool[k] == TOOL_CLOSED || s->open_tool != k)
		return broken(s, out, "tool call %d resumed after another block started", k);
	if (rc || s->ended)
		return rc;
	return has_text(&tc[T_ARGS])
		   ? o_delta(s, out, "input_json_delta", "partial_json", &tc[T_ARGS])
		   : 0;
}

static int o_tool_calls(struct translate_stream *s, const struct tj_val *ch,
			struct translate_buf *out)
{
	struct tj_val tc[O_SLOTS], call;
	struct tj_iter it;
	int rc = 0;

	if (only_one(&ch[C_CALLS]))
		return o_tool_delta(s, out, ch);
	translate_json_iter(&it, &ch[C_CALLS]);
	while (!rc && !s->ended && translate_json_next(&it, t_call, tc, O_SLOTS, &call))
		rc = o_tool_delta(s, out, tc);
	return rc;
}

static int o_choice(struct translate_stream *s, const struct tj_val *ch, struct translate_buf *out)
{
	const struct tj_val *idx = &ch[C_INDEX], *calls = &ch[C_CALLS];
	int text = has_text(&ch[C_CONTENT]), refusal = has_text(&ch[C_REFUSAL]), rc = 0;
	size_t n_calls = calls->type == TJ_ARRAY || calls->type == TJ_OBJECT ? calls->count : 0;
	char buf[40];

	if (present(idx) && (idx->type != TJ_NUMBER || idx->num != 0))
		return broken(s, out, "a choice other than 0");
	if (s->stopped && (text || refusal || n_calls))
		return broken(s, out, "content after the finish_reason");
	if (text)
		rc = o_text(s, out, &ch[C_CONTENT]);
	if (!rc && !s->ended && refusal) {
		s->refusal = 1;
		rc = o_text(s, out, &ch[C_REFUSAL]);
	}
	if (!rc && !s->ended && n_calls)
		rc = o_tool_calls(s, ch, out);
	if (rc || s->ended || ch[C_FINISH].type != TJ_STRING || s->stopped)
		return rc;
	s->stopped = 1;
	s->stop = s->refusal ? "refusal"
			     : translate_stop_reason(name_of(&ch[C_FINISH], buf, sizeof(buf)));
	return o_close(s, out);
}

/* Each choice of chunk V in turn, until one fails (a choice that ends the stream fails). */
static int o_choices(struct translate_stream *s, const struct tj_val *v, struct translate_buf *out)
{
	struct tj_val ch[O_SLOTS], choice;
	struct tj_iter it;
	int rc = 0;

	if (only_one(&v[O_CHOICES]))
		return o_choice(s, v, out);
	translate_json_iter(&it, &v[O_CHOICES]);
	while (!rc && !s->ended && translate_json_next(&it, c_choice, ch, O_SLOTS, &choice))
		rc = o_choice(s, ch, out);
	return rc;
}

static int o_error_event(struct translate_stream *s, const struct tj_val *v,
			 struct translate_buf *out)
{
	char type_buf[40], code_buf[40];
	const char *type;
	int status;

	type = translate_anthropic_error_type(0, name_of(&v[O_ERROR_TYPE], type_buf, 40),
					      name_of(&v[O_ERROR_CODE], code_buf, 40), &status);
	return upstream_error(s, out, &v[O_ERROR_MESSAGE], type, NULL);
}

static int o_chunk(struct translate_stream *s, const char *data, size_t len,
		   struct translate_buf *out)
{
	struct tj_val v[O_SLOTS];
	int rc = 0;

	if (translate_json_scan(&s->prefix, data, len, o_chunk_fields, v, O_SLOTS))
		return broken(s, out, "an event whose data is not a JSON object");
	if (present(&v[O_ERROR]))
		return o_error_event(s, v, out);
	if (!s->started) {
		set_model(s, &v[O_MODEL]);
		rc = o_message_start(s, out);
	}
	if (!rc)
		rc = o_choices(s, v, out);
	if (!rc)
		usage_from_openai(v, &s->usage);
	return rc;
}

/* [DONE]: message_delta (stop reason, the usage from the usage chunk) and message_stop. */
static int o_end(struct translate_stream *s, struct translate_buf *out)
{
	size_t old;
	int rc, err;

	if (!s->started || !s->stopped)
		return broken(s, out, "the stream ended without a finish_reason");
	rc = o_close(s, out);
	if (rc)
		return rc;
	old = out->len;
	err = PUT(out, EVENT_OPEN("message_delta") ",\"delta\":{\"stop_reason\":");
	err |= translate_json_put_cstr(out, s->stop);
	err |= PUT(out, ",\"stop_sequence\":null},\"usage\":");
	err |= put_usage_anthropic(out, &s->usage);
	err |= PUT(out, "}\n\n");
	rc = translate_buf_cut(out, old, err);
	s->ended = 1;
	if (rc)
		return rc;
	return PUT(out, EVENT_OPEN("message_stop") "}\n\n");
}

/* ---- Gemini upstream, OpenAI app ---- */

/* One table of slots for a GenerateContentResponse, its first candidate and that one's first
 * part; parts past the first are scanned again, each into a table of its own. */
enum g_slot {
	G_ERROR,
	G_ERROR_CODE,
	G_ERROR_MESSAGE,
	G_ERROR_STATUS,
	G_MODEL,
	G_CANDIDATES,
	G_CONTENT,
	G_PARTS,
	G_FINISH,
	G_TEXT,
	G_THOUGHT,
	G_SIGNATURE,
	G_CALL,
	G_CALL_NAME,
	G_CALL_ARGS,
	G_CALL_ID,
	G_USAGE,
	G_PROMPT,
	G_TOOL_PROMPT,
	G_CACHED,
	G_OUTPUT,
	G_THOUGHTS,
	G_FEEDBACK,
	G_BLOCK,
	G_SLOTS
};

static const struct tj_field g_call[] = {{"name", G_CALL_NAME, NULL, NULL},
					 {"args", G_CALL_ARGS, NULL, NULL},
					 {"id", G_CALL_ID, NULL, NULL},
					 {NULL, 0, NULL, NULL}};
static const struct tj_field g_part[] = {{"text", G_TEXT, NULL, NULL},
					 {"thought", G_THOUGHT, NULL, NULL},
					 {"thoughtSignature", G_SIGNATURE, NULL, NULL},
					 {"functionCall", G_CALL, g_call, NULL},
					 {NULL, 0, NULL, NULL}};
static const struct tj_field g_content[] = {{"parts", G_PARTS, NULL, g_part},
					    {NULL, 0, NULL, NULL}};
static const struct tj_field g_candidate[] = {{"content", G_CONTENT, g_content, NULL},
					      {"finishReason", G_FINISH, NULL, NULL},
					      {NULL, 0, NULL, NULL}};
static const struct tj_field g_usage[] = {{"promptTokenCount", G_PROMPT, NULL, NULL},
					  {"toolUsePromptTokenCount", G_TOOL_PROMPT, NULL, NULL},
					  {"cachedContentTokenCount", G_CACHED, NULL, NULL},
					  {"candidatesTokenCount", G_OUTPUT, NULL, NULL},
					  {"thoughtsTokenCount", G_THOUGHTS, NULL, NULL},
					  {NULL, 0, NULL, NULL}};
static const struct tj_field g_error_fields[] = {{"code", G_ERROR_CODE, NULL, NULL},
						 {"message", G_ERROR_MESSAGE, NULL, NULL},
						 {"status", G_ERROR_STATUS, NULL, NULL},
						 {NULL, 0, NULL, NULL}};
static const struct tj_field g_feedback[] = {{"blockReason", G_BLOCK, NULL, NULL},
					     {NULL, 0, NULL, NULL}};
static const struct tj_field g_event[] = {{"error", G_ERROR, g_error_fields, NULL},
					  {"promptFeedback", G_FEEDBACK, g_feedback, NULL},
					  {"modelVersion", G_MODEL, NULL, NULL},
					  {"candidates", G_CANDIDATES, NULL, g_candidate},
					  {"usageMetadata", G_USAGE, g_usage, NULL},
					  {NULL, 0, NULL, NULL}};

/* Each chunk's usageMetadata holds the totals so far: the last one stands. */
static void g_take_usage(struct translate_stream *s, const struct tj_val *v)
{
	double n[5] = {0};

	if (v[G_USAGE].type != TJ_OBJECT)
		return;
	take(&v[G_PROMPT], &n[0]);
	take(&v[G_TOOL_PROMPT], &n[1]);
	take(&v[G_CACHED], &n[2]);
	take(&v[G_OUTPUT], &n[3]);
	take(&v[G_THOUGHTS], &n[4]);
	translate_usage_set_gemini(&s->usage, n[0], n[1], n[2], n[3], n[4]);
}

/* The id of the call in part P, in NEW_ID (its text in BUF): a new one carrying the part's
 * thoughtSignature (translate_util.h), else Gemini's, else a new call_ one. */
static int g_call_id(const struct tj_val *p, struct translate_buf *buf, struct tj_val *new_id,
		     const struct tj_val **ret)
{
	char *sig = NULL;
	int rc = -EINVAL;

	if (p[G_SIGNATURE].type == TJ_STRING) {
		sig = p[G_SIGNATURE].plain ? NULL : translate_json_dup(&p[G_SIGNATURE]);
		if (!p[G_SIGNATURE].plain && !sig)
			return -ENOMEM;
		rc = sig ? translate_sig_id_put(buf, sig, strlen(sig))
			 : translate_sig_id_put(buf, p[G_SIGNATURE].p, p[G_SIGNATURE].len);
		free(sig);
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc && p[G_CALL_ID].type == TJ_STRING) {
		*ret = &p[G_CALL_ID];
		return 0;
	}
	if (rc) {
		rc = translate_buf_grow(buf, 32);
		if (rc)
			return rc;
		translate_new_id(buf->data, 32, "call_", 24);
		buf->len = strlen(buf->data);
	}
	new_id->p = buf->data;
	new_id->len = buf->len;
	*ret = new_id;
	return 0;
}

/* A functionCall part: one tool_calls delta with the whole call (Gemini sends each call
 * whole), its id as g_call_id() says, its args printed as the arguments. */
static int g_call_out(struct translate_stream *s, const struct tj_val *p, struct translate_buf *out)
{
	struct tj_val new_id = {.type = TJ_STRING, .plain = 1};
	struct translate_buf id = {0};
	const struct tj_val *idv;
	char *args = NULL;
	int rc;

	if (p[G_CALL].type != TJ_OBJECT || p[G_CALL_NAME].type != TJ_STRING ||
	    (present(&p[G_CALL_ARGS]) && p[G_CALL_ARGS].type != TJ_OBJECT))
		return broken(s, out, "a functionCall without a name, or args not an object");
	if (s->stopped)
		return broken(s, out, "a functionCall after the finishReason");
	rc = g_call_id(p, &id, &new_id, &idv);
	if (!rc)
		rc = print_input(&p[G_CALL_ARGS], &args);
	if (!rc)
		rc = tool_start_chunk(s, out, s->n_tools++, idv, &p[G_CALL_NAME],
				      args ? args : "{}");
	free(args);
	translate_buf_free(&id);
	return rc;
}

/* One part: its text as a content chunk, a function call as a tool call; a thought is not
 * shown (OpenAI hides reasoning), a signature on a part without a call carries nothing to show
 * (a call's rides in its id); any other part was never asked for. */
static int g_part_out(struct translate_stream *s, const struct tj_val *p, struct translate_buf *out)
{
	if (present(&p[G_CALL]))
		return g_call_out(s, p, out);
	if (p[G_TEXT].type != TJ_STRING)
		return p[G_SIGNATURE].type == TJ_STRING
			   ? 0
			   : broken(s, out, "a part that is not text has no OpenAI counterpart");
	if (p[G_THOUGHT].type == TJ_TRUE || !has_text(&p[G_TEXT]))
		return 0;
	if (s->stopped)
		return broken(s, out, "text after the finishReason");
	return content_chunk(s, out, &p[G_TEXT]);
}

static int g_parts(struct translate_stream *s, const struct tj_val *v, struct translate_buf *out)
{
	struct tj_val p[G_SLOTS], part;
	struct tj_iter it;
	int rc = 0;

	if (!present(&v[G_PARTS]))
		return 0;
	if (v[G_PARTS].type != TJ_ARRAY)
		return broken(s, out, "parts that are not an array");
	if (only_one(&v[G_PARTS]))
		return g_part_out(s, v, out);
	translate_json_iter(&it, &v[G_PARTS]);
	while (!rc && !s->ended && translate_json_next(&it, g_part, p, G_SLOTS, &part))
		rc = part.type == TJ_OBJECT ? g_part_out(s, p, out)
					    : broken(s, out, "a part that is not an object");
	return rc;
}

static int g_candidate_out(struct translate_stream *s, const struct tj_val *v,
			   struct translate_buf *out)
{
	char buf[40];
	int rc;

	if (!present(&v[G_CANDIDATES]))
		return 0;
	if (v[G_CANDIDATES].type != TJ_ARRAY || v[G_CANDIDATES].count > 1)
		return broken(s, out, "candidates other than one");
	if (!v[G_CANDIDATES].count)
		return 0;
	rc = g_parts(s, v, out);
	if (rc || s->ended || v[G_FINISH].type != TJ_STRING || s->stopped)
		return rc;
	s->stopped = 1;
	s->stop = translate_finish_reason_gemini(name_of(&v[G_FINISH], buf, sizeof(buf)));
	if (s->n_tools && !strcmp(s->stop, "stop")) /* Gemini says STOP after a call */
		s->stop = "tool_calls";
	return chunk_fixed(s, out, "{}", s->stop);
}

static int g_error(struct translate_stream *s, const struct tj_val *v, struct translate_buf *out)
{
	const struct tj_val *code = &v[G_ERROR_CODE];
	int status = code->type == TJ_NUMBER && code->num >= 400 && code->num < 600
			 ? (int)code->num
			 : 500;
	const char *type, *ocode;

	type = translate_openai_error_type(status, NULL, &ocode, &status);
	return upstream_error(s, out, &v[G_ERROR_MESSAGE], type, ocode);
}

/* One chunk of streamGenerateContent?alt=sse; the stream's end is the body's (finish()). */
static int g_feed(struct translate_stream *s, const char *data, size_t len,
		  struct translate_buf *out)
{
	struct tj_val v[G_SLOTS];
	int rc = 0;

	if (translate_json_scan(&s->prefix, data, len, g_event, v, G_SLOTS))
		return broken(s, out, "an event whose data is not a JSON object");
	if (present(&v[G_ERROR]))
		return g_error(s, v, out);
	if (!s->started) {
		s->started = 1;
		set_model(s, &v[G_MODEL]);
		rc = chunk_fixed(s, out, "{\"role\":\"assistant\",\"content\":\"\"}", NULL);
	}
	if (!rc)
		rc = g_candidate_out(s, v, out);
	if (!rc && !s->stopped && v[G_BLOCK].type == TJ_STRING) {
		/* the prompt was blocked: no candidate comes, the answer is filtered */
		s->stopped = 1;
		s->stop = "content_filter";
		rc = chunk_fixed(s, out, "{}", s->stop);
	}
	if (!rc)
		g_take_usage(s, v);
	return rc;
}

/* ---- Gemini upstream, Anthropic app: the inner translator's OpenAI chunks, relayed ---- */

/* Feeds the events in s->mid (whole "data: ...\n\n" events) to this OpenAI -> Anthropic
 * translator; RC is the inner one's result, returned unless a relayed event fails worse.
 * s->mid.data is NULL until the inner one first writes (it may fail before it does). */
static int relay(struct translate_stream *s, int rc, struct translate_buf *out)
{
	const char *p = s->mid.data, *end = p ? p + s->mid.len : NULL, *stop;
	int r = 0;

	while (!s->ended && p && p < end && (stop = strstr(p, "\n\n"))) {
		size_t n = (size_t)(stop - p) - 6; /* past "data: " */

		r = translate_sse_done(p + 6, n) ? o_end(s, out) : o_chunk(s, p + 6, n, out);
		if (r == -ENOMEM)
			break;
		p = stop + 2;
	}
	s->mid.len = 0;
	return r == -ENOMEM ? r : rc ? rc : r;
}

/* ---- a Gemini app: translate_gemini_app.c writes its events ---- */

/* An Anthropic error event goes to the Gemini writer as it is (it reads its "error" object
 * as OpenAI's): through OpenAI's format overloaded_error would become server_error, as
 * api_error does, and a Gemini app could not tell UNAVAILABLE from INTERNAL. */
static int gemini_app_feed(struct translate_stream *s, const char *event, const char *data,
			   size_t len, struct translate_buf *out)
{
	struct translate_gemini_stream *g = s->gapp;
	int rc = s->from == TRANSLATE_ANTHROPIC_MESSAGES ? a_feed(s, event, data, len, out)
							 : translate_gemini_stream_feed(g, data, len, out);

	s->ended = translate_gemini_stream_ended(g);
	return rc;
}

static int gemini_app_finish(struct translate_stream *s, struct translate_buf *out)
{
	struct translate_gemini_stream *g = s->gapp;
	int rc = 0;

	if (s->from == TRANSLATE_ANTHROPIC_MESSAGES) /* as the two-stage path's OpenAI end */
		rc = s->stopped ? a_end(s, out)
				: broken(s, out, "the upstream ended before its last event");
	if (rc != -ENOMEM && !translate_gemini_stream_ended(g))
		rc = translate_gemini_stream_finish(g, out);
	s->ended = translate_gemini_stream_ended(g);
	return rc;
}

/* ---- entry points ---- */

int translate_stream_feed(struct translate_stream *s, const char *event, const char *data,
			  size_t len, struct translate_buf *out)
{
	if (s->ended)
		return 0;
	if (s->gapp)
		return gemini_app_feed(s, event, data, len, out);
	if (s->inner)
		return relay(s, translate_stream_feed(s->inner, event, data, len, &s->mid), out);
	if (s->from == TRANSLATE_GEMINI_GENERATE)
		return g_feed(s, data, len, out);
	if (s->app == TRANSLATE_OPENAI_CHAT)
		return a_feed(s, event, data, len, out);
	if (data && translate_sse_done(data, len))
		return o_end(s, out);
	return o_chunk(s, data, len, out);
}

int translate_stream_finish(struct translate_stream *s, struct translate_buf *out)
{
	if (s->ended)
		return 0;
	if (s->gapp)
		return gemini_app_finish(s, out);
	if (s->inner) {
		int rc = relay(s, translate_stream_finish(s->inner, &s->mid), out);

		return s->ended || rc == -ENOMEM ? rc : broken(s, out, "the upstream ended early");
	}
	if (s->stopped)
		return s->app == TRANSLATE_OPENAI_CHAT ? a_end(s, out) : o_end(s, out);
	return broken(s, out, "the upstream ended before its last event");
}
