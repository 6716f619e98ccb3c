/*
 * translate_gemini_app.c: see translate_gemini_app.h. Whole answers go through cJSON (one a
 * call); stream events are scanned (translate_json.h) and written from fixed templates, with
 * the model and counts kept in the stream's fixed fields: no tree, no allocation per event.
 *
 * finish_reason stop -> STOP, length -> MAX_TOKENS, content_filter -> SAFETY (an OpenAI
 * refusal too, its text shown), tool_calls -> STOP with a functionCall part a call (id, name,
 * the arguments as args; streamed, a call's deltas are gathered and its part sent when the
 * choice finishes). Usage: promptTokenCount = prompt_tokens (cached included at
 * both), cachedContentTokenCount = cached_tokens, candidatesTokenCount = completion_tokens
 * less reasoning_tokens, thoughtsTokenCount = reasoning_tokens, totalTokenCount = prompt +
 * completion, as Google counts them (gemini.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/gemini.h"
#include "providers/translate_gemini_app.h"
#include "providers/translate_json.h"

#define PUT(b, lit) translate_buf_add((b), (lit), sizeof(lit) - 1)
#define GS_MODEL_MAX 128
#define GS_MAX_CALLS 16 /* tool calls a streamed answer may make */

static const char *finish_of(const char *finish_reason, int refusal)
{
	if (refusal || (finish_reason && !strcmp(finish_reason, "content_filter")))
		return "SAFETY";
	if (finish_reason && !strcmp(finish_reason, "length"))
		return "MAX_TOKENS";
	return "STOP";
}

/* Token counts as Google names them. */
struct gs_usage {
	double prompt, cached, completion, reasoning;
};

static cJSON *usage_metadata(struct translate_ctx *c, const struct gs_usage *u)
{
	cJSON *o = cJSON_CreateObject();

	translate_add(c, o, "promptTokenCount", cJSON_CreateNumber(u->prompt));
	translate_add(c, o, "candidatesTokenCount",
		      cJSON_CreateNumber(u->completion - u->reasoning));
	translate_add(c, o, "totalTokenCount", cJSON_CreateNumber(u->prompt + u->completion));
	if (u->cached > 0)
		translate_add(c, o, "cachedContentTokenCount", cJSON_CreateNumber(u->cached));
	if (u->reasoning > 0)
		translate_add(c, o, "thoughtsTokenCount", cJSON_CreateNumber(u->reasoning));
	return o;
}

static double count(const cJSON *o, const char *key)
{
	const cJSON *v = translate_get(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : 0;
}

static void usage_read(const cJSON *u, struct gs_usage *g)
{
	g->prompt = count(u, "prompt_tokens");
	g->completion = count(u, "completion_tokens");
	g->cached = count(translate_get(u, "prompt_tokens_details"), "cached_tokens");
	g->reasoning = count(translate_get(u, "completion_tokens_details"), "reasoning_tokens");
	if (g->cached > g->prompt)
		g->cached = g->prompt;
	if (g->reasoning > g->completion)
		g->reasoning = g->completion;
}

/* A functionCall part for OpenAI's tool call ID / NAME / ARGS (JSON text of an object): its
 * id kept (the app's functionResponse names it back), the arguments as the args object. */
static cJSON *function_call_part(struct translate_ctx *c, const char *id, const char *name,
				 const char *args)
{
	cJSON *obj = args ? translate_parse_object(args, strlen(args)) : NULL;
	cJSON *part, *fc;

	if (!name || !obj) {
		cJSON_Delete(obj);
		translate_fail(c, -EINVAL, "tool_calls: a call without a name or whose arguments "
					   "are not a JSON object");
		return NULL;
	}
	part = cJSON_CreateObject();
	fc = translate_add(c, part, "functionCall", cJSON_CreateObject());
	if (id)
		translate_add(c, fc, "id", cJSON_CreateString(id));
	translate_add(c, fc, "name", cJSON_CreateString(name));
	translate_add(c, fc, "args", obj);
	return part;
}

cJSON *translate_gemini_app_answer(struct translate_ctx *c, const cJSON *in, const char *model)
{
	const cJSON *choice = cJSON_GetArrayItem(translate_get(in, "choices"), 0);
	const cJSON *msg = translate_get(choice, "message");
	const char *text = translate_str(msg, "content"), *refusal = translate_str(msg, "refusal");
	cJSON *out = cJSON_CreateObject(), *cands, *cand, *content, *parts, *part;
	const cJSON *calls, *call;
	struct gs_usage u;
	char id[32];

	if (!cJSON_IsObject(msg) || cJSON_GetArraySize(translate_get(in, "choices")) != 1) {
		translate_fail(c, -EINVAL, "choices: expected one choice with a message");
		return out;
	}
	calls = translate_get(msg, "tool_calls");
	cands = translate_add(c, out, "candidates", cJSON_CreateArray());
	cand = translate_push(c, cands, cJSON_CreateObject());
	content = translate_add(c, cand, "content", cJSON_CreateObject());
	parts = translate_add(c, content, "parts", cJSON_CreateArray());
	if ((refusal && *refusal) || (text && *text) || !cJSON_GetArraySize(calls)) {
		part = translate_push(c, parts, cJSON_CreateObject());
		translate_add(c, part, "text", cJSON_CreateString(refusal && *refusal ? refusal
									: text ? text : ""));
	}
	cJSON_ArrayForEach(call, calls)
	{
		const cJSON *fn = translate_get(call, "function");

		translate_push(c, parts,
			       function_call_part(c, translate_str(call, "id"),
						  translate_str(fn, "name"),
						  translate_str(fn, "arguments")));
	}
	translate_add(c, content, "role", cJSON_CreateString("model"));
	translate_add(c, cand, "finishReason",
		      cJSON_CreateString(finish_of(translate_str(choice, "finish_reason"),
						   refusal && *refusal)));
	translate_add(c, cand, "index", cJSON_CreateNumber(0));
	if (cJSON_IsObject(translate_get(in, "usage"))) { /* none told: none made up */
		usage_read(translate_get(in, "usage"), &u);
		translate_add(c, out, "usageMetadata", usage_metadata(c, &u));
	}
	translate_add(c, out, "modelVersion",
		      cJSON_CreateString(model ? model : translate_str(in, "model") ?: ""));
	translate_new_id(id, sizeof(id), "", 22);
	translate_add(c, out, "responseId", cJSON_CreateString(id));
	return out;
}

/* The status a Gemini app is answered with for an upstream's STATUS. */
static int gemini_app_status(int status)
{
	if (status == 529)
		return 503; /* overloaded */
	if (status == 402)
		return 429; /* out of credit */
	return status < 400 || status > 599 ? 502 : status;
}

char *translate_gemini_app_error(int status, const char *message, size_t message_len,
				 int *ret_status, size_t *ret_len)
{
	struct translate_ctx c = {0};
	cJSON *o = cJSON_CreateObject(), *e;
	char *s;

	status = gemini_app_status(status);
	*ret_status = status;
	e = translate_add(&c, o, "error", cJSON_CreateObject());
	translate_add(&c, e, "code", cJSON_CreateNumber(status));
	translate_add(&c, e, "message", translate_string_whole(message, message_len));
	translate_add(&c, e, "status", cJSON_CreateString(gemini_status_name(status)));
	s = c.oom || !o ? NULL : translate_print(o, ret_len);
	cJSON_Delete(o);
	return s;
}

/* ---- streams: OpenAI chunks -> streamGenerateContent?alt=sse events ---- */

struct translate_gemini_stream {
	char model[GS_MODEL_MAX]; /* reported: the caller's, or the upstream's once known */
	int model_fixed;
	char id[32];		  /* responseId, one for the stream as Gemini's */
	struct tj_prefix prefix;  /* what the last event's scan keeps for the next one */
	const char *finish;	  /* Gemini's finishReason once known, else NULL */
	struct gs_usage usage;	  /* from the usage chunk */
	int have_usage;		  /* a usage chunk came: without one, no usageMetadata */
	int ended;		  /* the last event or an error event was emitted */
	/* tool calls, gathered from their deltas (by index) until the choice finishes */
	struct gs_call {
		char id[64], name[64];
		struct translate_buf args; /* the arguments' JSON text so far; owned */
	} calls[GS_MAX_CALLS];
	int n_calls;
};

enum gs_slot {
	S_ERROR,
	S_ERROR_MESSAGE,
	S_ERROR_TYPE,
	S_MODEL,
	S_CHOICES,
	S_DELTA,
	S_CONTENT,
	S_REFUSAL,
	S_CALLS,
	S_FINISH,
	S_USAGE,
	S_PROMPT,
	S_COMPLETION,
	S_PDETAILS,
	S_CACHED,
	S_CDETAILS,
	S_REASONING,
	S_SLOTS
};

static const struct tj_field s_delta[] = {{"content", S_CONTENT, NULL, NULL},
					  {"refusal", S_REFUSAL, NULL, NULL},
					  {"tool_calls", S_CALLS, NULL, NULL},
					  {NULL, 0, NULL, NULL}};
static const struct tj_field s_choice[] = {{"delta", S_DELTA, s_delta, NULL},
					   {"finish_reason", S_FINISH, NULL, NULL},
					   {NULL, 0, NULL, NULL}};
static const struct tj_field s_error[] = {{"message", S_ERROR_MESSAGE, NULL, NULL},
					  {"type", S_ERROR_TYPE, NULL, NULL},
					  {NULL, 0, NULL, NULL}};
static const struct tj_field s_pdetails[] = {{"cached_tokens", S_CACHED, NULL, NULL},
					     {NULL, 0, NULL, NULL}};
static const struct tj_field s_cdetails[] = {{"reasoning_tokens", S_REASONING, NULL, NULL},
					     {NULL, 0, NULL, NULL}};
static const struct tj_field s_usage[] = {
    {"prompt_tokens", S_PROMPT, NULL, NULL},
    {"completion_tokens", S_COMPLETION, NULL, NULL},
    {"prompt_tokens_details", S_PDETAILS, s_pdetails, NULL},
    {"completion_tokens_details", S_CDETAILS, s_cdetails, NULL},
    {NULL, 0, NULL, NULL}};
static const struct tj_field s_chunk[] = {{"error", S_ERROR, s_error, NULL},
					  {"model", S_MODEL, NULL, NULL},
					  {"choices", S_CHOICES, NULL, s_choice},
					  {"usage", S_USAGE, s_usage, NULL},
					  {NULL, 0, NULL, NULL}};

struct translate_gemini_stream *translate_gemini_stream_new(const char *model)
{
	struct translate_gemini_stream *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	if (model) {
		snprintf(g->model, sizeof(g->model), "%s", model);
		g->model_fixed = 1;
	}
	translate_new_id(g->id, sizeof(g->id), "", 22);
	return g;
}

void translate_gemini_stream_free(struct translate_gemini_stream *g)
{
	if (!g)
		return;
	translate_json_prefix_free(&g->prefix);
	for (int i = 0; i < g->n_calls; i++)
		translate_buf_free(&g->calls[i].args);
	free(g);
}

int translate_gemini_stream_ended(const struct translate_gemini_stream *g)
{
	return g->ended;
}

/* An error event; the stream ends. Returns RC (or -ENOMEM). */
/* The error event: as translate_gemini_app_error() prints it, MESSAGE (LEN bytes) whole, a NUL
 * in it escaped. */
static int gs_error(struct translate_gemini_stream *g, struct translate_buf *out, int status,
		    const char *message, size_t len, int rc)
{
	size_t old = out->len;
	int err;

	g->ended = 1;
	status = gemini_app_status(status);
	err = PUT(out, "data: {\"error\":{\"code\":");
	err |= translate_json_put_num(out, status);
	err |= PUT(out, ",\"message\":");
	err |= translate_json_put_bytes(out, message, len);
	err |= PUT(out, ",\"status\":");
	err |= translate_json_put_cstr(out, gemini_status_name(status));
	err |= PUT(out, "}}\n\n");
	return translate_buf_cut(out, old, err) ?: rc;
}

static int gs_broken(struct translate_gemini_stream *g, struct translate_buf *out,
		     const char *why)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "upstream stream broken: %s", why);
	return gs_error(g, out, 502, msg, strlen(msg), -EPROTO);
}

/* The upstream's error chunk: its message, a status from its type (Google's for it). */
static int gs_upstream_error(struct translate_gemini_stream *g, const struct tj_val *v,
			     struct translate_buf *out)
{
	char type[48];
	const char *t = translate_json_copy(&v[S_ERROR_TYPE], type, sizeof(type), NULL);

	return translate_gemini_stream_error(g, t, &v[S_ERROR_MESSAGE], out);
}

/* The end of every event: modelVersion, responseId. */
static int gs_tail(struct translate_gemini_stream *g, struct translate_buf *out)
{
	return PUT(out, ",\"modelVersion\":") || translate_json_put_cstr(out, g->model) ||
	       PUT(out, ",\"responseId\":\"") || translate_buf_add(out, g->id, strlen(g->id)) ||
	       PUT(out, "\"}\n\n");
}

static int gs_text(struct translate_gemini_stream *g, const struct tj_val *text,
		   struct translate_buf *out)
{
	size_t old = out->len;
	int err = PUT(out, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":") ||
		  translate_json_put_str(out, text) ||
		  PUT(out, "}],\"role\":\"model\"},\"index\":0}]") || gs_tail(g, out);

	return translate_buf_cut(out, old, err);
}

static int put_count(struct translate_buf *out, const char *key, size_t klen, double n)
{
	return translate_buf_add(out, key, klen) || translate_json_put_num(out, n);
}

#define PUT_COUNT(b, lit, n) put_count((b), (lit), sizeof(lit) - 1, (n))

/* ,"usageMetadata":{...} of the usage chunk's counts. */
static int gs_usage_metadata(const struct gs_usage *u, struct translate_buf *out)
{
	return PUT(out, ",\"usageMetadata\":{") ||
	       PUT_COUNT(out, "\"promptTokenCount\":", u->prompt) ||
	       PUT_COUNT(out, ",\"candidatesTokenCount\":", u->completion - u->reasoning) ||
	       PUT_COUNT(out, ",\"totalTokenCount\":", u->prompt + u->completion) ||
	       (u->cached > 0 && PUT_COUNT(out, ",\"cachedContentTokenCount\":", u->cached)) ||
	       (u->reasoning > 0 && PUT_COUNT(out, ",\"thoughtsTokenCount\":", u->reasoning)) ||
	       PUT(out, "}");
}

/* The last event: an empty text part with the finishReason, and the usage when the upstream
 * told it (never counts of 0 it did not say). */
static int gs_last(struct translate_gemini_stream *g, struct translate_buf *out)
{
	size_t old = out->len;
	int err = PUT(out, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],"
			   "\"role\":\"model\"},\"finishReason\":\"") ||
		  translate_buf_add(out, g->finish, strlen(g->finish)) ||
		  PUT(out, "\",\"index\":0}]") ||
		  (g->have_usage && gs_usage_metadata(&g->usage, out)) || gs_tail(g, out);

	g->ended = 1;
	return translate_buf_cut(out, old, err);
}

/* The upstream's end ([DONE]): the last event, once the finish_reason is known. */
static int gs_done(struct translate_gemini_stream *g, struct translate_buf *out)
{
	return g->finish ? gs_last(g, out) : gs_broken(g, out, "[DONE] before a finish_reason");
}

/* A text delta: an event of its own, unless the finish_reason came before it. */
static int gs_content(struct translate_gemini_stream *g, const struct tj_val *text,
		      struct translate_buf *out)
{
	return g->finish ? gs_broken(g, out, "text after the finish_reason") : gs_text(g, text, out);
}

static void gs_take(const struct tj_val *v, double *ret)
{
	if (v->type == TJ_NUMBER && v->num >= 0)
		*ret = v->num;
}

static void gs_usage(struct translate_gemini_stream *g, const struct tj_val *v)
{
	struct gs_usage *u = &g->usage;

	if (v[S_USAGE].type != TJ_OBJECT)
		return;
	g->have_usage = 1;
	gs_take(&v[S_PROMPT], &u->prompt);
	gs_take(&v[S_COMPLETION], &u->completion);
	gs_take(&v[S_CACHED], &u->cached);
	gs_take(&v[S_REASONING], &u->reasoning);
	if (u->cached > u->prompt)
		u->cached = u->prompt;
	if (u->reasoning > u->completion)
		u->reasoning = u->completion;
}

static int present(const struct tj_val *v)
{
	return v->type != TJ_NONE && v->type != TJ_NULL;
}

/* A tool_calls delta's element: index, id and name (first), an arguments piece. */
enum gs_call_slot { C_INDEX, C_ID, C_FN, C_NAME, C_ARGS, C_SLOTS };
static const struct tj_field c_fn[] = {{"name", C_NAME, NULL, NULL},
				       {"arguments", C_ARGS, NULL, NULL},
				       {NULL, 0, NULL, NULL}};
static const struct tj_field c_call[] = {{"index", C_INDEX, NULL, NULL},
					 {"id", C_ID, NULL, NULL},
					 {"function", C_FN, c_fn, NULL},
					 {NULL, 0, NULL, NULL}};

/* The call at INDEX: the next new one or one begun already; NULL when out of order or range. */
static struct gs_call *gs_call_at(struct translate_gemini_stream *g, double index)
{
	if (index < 0 || index >= GS_MAX_CALLS || index != (int)index || (int)index > g->n_calls)
		return NULL;
	if ((int)index == g->n_calls)
		g->n_calls++;
	return &g->calls[(int)index];
}

/* A piece of CALL's arguments: PIECE, a JSON string (nothing when absent or empty). */
static int gs_call_piece(struct gs_call *call, const struct tj_val *piece)
{
	char *text;
	int err;

	if (piece->type != TJ_STRING || translate_json_is(piece, ""))
		return 0;
	text = translate_json_dup(piece);
	err = !text || translate_buf_add(&call->args, text, strlen(text));
	free(text);
	return err ? -ENOMEM : 0;
}

/* CALL's id and name, where given as strings. */
static void gs_call_names(struct gs_call *call, const struct tj_val *id, const struct tj_val *name)
{
	if (id->type == TJ_STRING)
		translate_json_copy(id, call->id, sizeof(call->id), NULL);
	if (name->type == TJ_STRING)
		translate_json_copy(name, call->name, sizeof(call->name), NULL);
}

/* One element of a tool_calls delta, gathered into its call. */
static int gs_call_delta(struct translate_gemini_stream *g, const struct tj_val *c,
			 struct translate_buf *out)
{
	struct gs_call *call = c[C_INDEX].type == TJ_NUMBER ? gs_call_at(g, c[C_INDEX].num) : NULL;

	if (!call)
		return gs_broken(g, out, "a tool call index out of order or range");
	gs_call_names(call, &c[C_ID], &c[C_NAME]);
	return gs_call_piece(call, &c[C_ARGS]);
}

static int gs_call_deltas(struct translate_gemini_stream *g, const struct tj_val *calls,
			  struct translate_buf *out)
{
	struct tj_val c[C_SLOTS], el;
	struct tj_iter it;
	int rc = 0;

	if (calls->type != TJ_ARRAY)
		return gs_broken(g, out, "tool_calls that are not an array");
	translate_json_iter(&it, calls);
	while (!rc && translate_json_next(&it, c_call, c, C_SLOTS, &el))
		rc = el.type == TJ_OBJECT ? gs_call_delta(g, c, out)
					  : gs_broken(g, out, "a tool call that is not an object");
	return rc;
}

/* {"functionCall":{"id","name","args"}} of a gathered call; its arguments must be an object.
 * They are parsed and printed again, not passed on as they came: what cJSON reads is not all
 * JSON (control characters as whitespace, invalid \u escapes, "+1"), and the app must get JSON
 * (test_translate_from_gemini.c). Once per call, at its end: ~2.5 us for 100 bytes. */
static int gs_call_part(const struct gs_call *call, struct translate_buf *out)
{
	cJSON *args = call->args.len ? translate_parse_object(call->args.data, call->args.len)
				     : cJSON_CreateObject();
	char *text = args ? cJSON_PrintUnformatted(args) : NULL;
	int err = !args ? -EBADMSG : !text ? -ENOMEM : 0;

	cJSON_Delete(args);
	if (err)
		return err;
	err = PUT(out, "{\"functionCall\":{") ||
	      (call->id[0] && (PUT(out, "\"id\":") || translate_json_put_cstr(out, call->id) ||
			       PUT(out, ","))) ||
	      PUT(out, "\"name\":") || translate_json_put_cstr(out, call->name) ||
	      PUT(out, ",\"args\":") || translate_buf_add(out, text, strlen(text)) ||
	      PUT(out, "}}");
	free(text);
	return err ? -ENOMEM : 0;
}

/* The gathered calls, complete now that the choice finished: one event of functionCall parts. */
static int gs_calls(struct translate_gemini_stream *g, struct translate_buf *out)
{
	size_t old = out->len;
	int i, rc = PUT(out, "data: {\"candidates\":[{\"content\":{\"parts\":[") ? -ENOMEM : 0;

	for (i = 0; !rc && i < g->n_calls; i++) {
		if (!g->calls[i].name[0])
			rc = -EBADMSG;
		else
			rc = (i && PUT(out, ",")) ? -ENOMEM : gs_call_part(&g->calls[i], out);
	}
	if (!rc && (PUT(out, "],\"role\":\"model\"},\"index\":0}]") || gs_tail(g, out)))
		rc = -ENOMEM;
	if (rc == -EBADMSG) {
		out->len = old;
		return gs_broken(g, out, "a tool call without a name or object arguments");
	}
	return translate_buf_cut(out, old, rc);
}

/* The first (only) choice: its text, a refusal's text, its finish_reason. */
static int gs_choice(struct translate_gemini_stream *g, const struct tj_val *v,
		     struct translate_buf *out)
{
	char buf[32];
	const char *finish;
	int refusal = v[S_REFUSAL].type == TJ_STRING && !translate_json_is(&v[S_REFUSAL], "");
	int rc = 0;

	if (present(&v[S_CALLS]))
		rc = g->finish ? gs_broken(g, out, "a tool call after the finish_reason")
			       : gs_call_deltas(g, &v[S_CALLS], out);
	if (!rc && v[S_CONTENT].type == TJ_STRING && !translate_json_is(&v[S_CONTENT], ""))
		rc = g->finish ? gs_broken(g, out, "text after the finish_reason")
			       : gs_text(g, &v[S_CONTENT], out);
	if (!rc && refusal)
		rc = gs_text(g, &v[S_REFUSAL], out);
	if (rc || v[S_FINISH].type != TJ_STRING || g->finish)
		return rc;
	finish = translate_json_copy(&v[S_FINISH], buf, sizeof(buf), NULL);
	g->finish = finish_of(finish, refusal);
	return g->n_calls ? gs_calls(g, out) : 0;
}

int translate_gemini_stream_feed(struct translate_gemini_stream *g, const char *data, size_t len,
				 struct translate_buf *out)
{
	struct tj_val v[S_SLOTS];

	if (g->ended)
		return 0;
	if (data && translate_sse_done(data, len))
		return gs_done(g, out);
	if (!data || translate_json_scan(&g->prefix, data, len, s_chunk, v, S_SLOTS))
		return gs_broken(g, out, "an event whose data is not a JSON object");
	if (present(&v[S_ERROR]))
		return gs_upstream_error(g, v, out);
	if (!g->model_fixed && v[S_MODEL].type == TJ_STRING && !g->model[0])
		translate_json_copy(&v[S_MODEL], g->model, sizeof(g->model), NULL);
	gs_usage(g, v);
	if (!present(&v[S_CHOICES]))
		return 0;
	if (v[S_CHOICES].type != TJ_ARRAY || v[S_CHOICES].count > 1)
		return gs_broken(g, out, "choices other than one");
	return v[S_CHOICES].count ? gs_choice(g, v, out) : 0;
}

int translate_gemini_stream_finish(struct translate_gemini_stream *g, struct translate_buf *out)
{
	if (g->ended)
		return 0;
	if (g->finish) /* the finish came and the usage chunk, if any, too */
		return gs_last(g, out);
	return gs_broken(g, out, "the upstream ended before its last event");
}

/* ---- an Anthropic stream written straight to the Gemini app (translate_stream.c): each
 * call does what its OpenAI chunk did through translate_gemini_stream_feed() ---- */

void translate_gemini_stream_model(struct translate_gemini_stream *g, const char *model)
{
	if (!g->model_fixed && !g->model[0] && model)
		snprintf(g->model, sizeof(g->model), "%s", model);
}

int translate_gemini_stream_text(struct translate_gemini_stream *g, const struct tj_val *text,
				 struct translate_buf *out)
{
	return g->ended ? 0 : gs_content(g, text, out);
}

/* The call at INDEX for a one-stage writer, as gs_choice() takes it: none after the finish. */
static struct gs_call *gs_call_direct(struct translate_gemini_stream *g, int index,
				      struct translate_buf *out, int *rc)
{
	struct gs_call *call = NULL;

	if (g->finish)
		*rc = gs_broken(g, out, "a tool call after the finish_reason");
	else if (!(call = gs_call_at(g, index)))
		*rc = gs_broken(g, out, "a tool call index out of order or range");
	return call;
}

int translate_gemini_stream_call_start(struct translate_gemini_stream *g, int index,
				       const struct tj_val *id, const struct tj_val *name,
				       const char *args, struct translate_buf *out)
{
	struct gs_call *call;
	int rc = 0;

	if (g->ended || !(call = gs_call_direct(g, index, out, &rc)))
		return rc;
	gs_call_names(call, id, name);
	return *args && translate_buf_add(&call->args, args, strlen(args)) ? -ENOMEM : 0;
}

int translate_gemini_stream_call_args(struct translate_gemini_stream *g, int index,
				      const struct tj_val *args, struct translate_buf *out)
{
	struct gs_call *call;
	int rc = 0;

	if (g->ended || !(call = gs_call_direct(g, index, out, &rc)))
		return rc;
	return gs_call_piece(call, args);
}

int translate_gemini_stream_finish_reason(struct translate_gemini_stream *g,
					  const char *finish_reason, struct translate_buf *out)
{
	if (g->ended || g->finish)
		return 0;
	g->finish = finish_of(finish_reason, 0);
	return g->n_calls ? gs_calls(g, out) : 0;
}

/* A count as it reads back from the chunk it was printed in: a non-finite one prints as null,
 * which leaves the count as it was. */
static void gs_take_count(double n, double *ret)
{
	if (isfinite(n) && n >= 0)
		*ret = n;
}

void translate_gemini_stream_usage(struct translate_gemini_stream *g, double prompt,
				   double completion, double cached)
{
	struct gs_usage *u = &g->usage;

	if (g->ended)
		return;
	g->have_usage = 1;
	gs_take_count(prompt, &u->prompt);
	gs_take_count(completion, &u->completion);
	gs_take_count(cached, &u->cached);
	if (u->cached > u->prompt)
		u->cached = u->prompt;
}

int translate_gemini_stream_done(struct translate_gemini_stream *g, struct translate_buf *out)
{
	return g->ended ? 0 : gs_done(g, out);
}

int translate_gemini_stream_error(struct translate_gemini_stream *g, const char *type,
				  const struct tj_val *message, struct translate_buf *out)
{
	static const char none[] = "upstream error";
	size_t len = sizeof(none) - 1;
	char *msg;
	int rc;

	if (g->ended)
		return -EPROTO;
	msg = translate_json_dup_whole(message, &len);
	if (!msg && message->type == TJ_STRING)
		return -ENOMEM;
	rc = gs_error(g, out, translate_stream_error_status(type, NULL), msg ? msg : none, len,
		      -EPROTO);
	free(msg);
	return rc;
}

int translate_gemini_stream_broken(struct translate_gemini_stream *g, const char *type,
				   const char *message, struct translate_buf *out)
{
	if (g->ended)
		return -EPROTO;
	return gs_error(g, out, translate_stream_error_status(type, NULL), message, strlen(message),
			-EPROTO);
}
