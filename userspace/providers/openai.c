/*
 * openai.c: the adapter for OpenAI and every OpenAI-compatible server (vLLM, Ollama, ...):
 * Chat Completions, Responses and Embeddings. Its paths, its bearer key, its error format,
 * its usage shapes (whole and streamed: the final usage chunk of a chat stream, which the
 * gateway asks for with stream_options.include_usage when the app did not, and the
 * response.completed / incomplete / failed events of a Responses stream) and the byte-exact
 * include_usage rewrite. See usage.h for the shapes, api.h for the interface.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "providers/api.h"
#include "providers/sse.h"
#include "providers/usage_int.h"
#include "util/jsonw.h"

/* The names of one OpenAI usage shape. */
struct openai_names {
	const char *in, *out, *in_details, *out_details;
};

static const struct openai_names chat_names = {
    "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"};
static const struct openai_names responses_names = {
    "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"};

static const char *const openai_standard_tiers[] = {"default", "auto", NULL};

/* The counts of one OpenAI usage object, as read from its tree or its text. */
enum openai_count { OC_IN, OC_OUT, OC_CACHED, OC_WRITE, OC_REASONING, OC_AUDIO_IN, OC_AUDIO_OUT, OC_N };

struct openai_counts {
	int rc[OC_N];	  /* json_count(): 1 (a count), 0 (absent or null), -EBADMSG */
	int64_t v[OC_N];  /* the counts (0 where rc[] is not 1) */
	int has_cost;	  /* "cost" is a number >= 0 ... */
	double cost;	  /* ... this one */
};

static void counts_of_tree(const cJSON *u, const struct openai_names *n, struct openai_counts *c)
{
	const cJSON *in = json_item(u, n->in_details), *out = json_item(u, n->out_details);
	const cJSON *cost = json_item(u, "cost");

	*c = (struct openai_counts){0};
	c->rc[OC_IN] = json_count(u, n->in, &c->v[OC_IN]);
	c->rc[OC_OUT] = json_count(u, n->out, &c->v[OC_OUT]);
	/* cache_write_tokens: prompt-cache writes, billed apart on the models that charge for
	 * them; read (a part of the input, as cached_tokens is) so they are priced or flagged,
	 * never billed as plain input. */
	c->rc[OC_CACHED] = json_count(in, "cached_tokens", &c->v[OC_CACHED]);
	c->rc[OC_WRITE] = json_count(in, "cache_write_tokens", &c->v[OC_WRITE]);
	c->rc[OC_AUDIO_IN] = json_count(in, "audio_tokens", &c->v[OC_AUDIO_IN]);
	c->rc[OC_REASONING] = json_count(out, "reasoning_tokens", &c->v[OC_REASONING]);
	c->rc[OC_AUDIO_OUT] = json_count(out, "audio_tokens", &c->v[OC_AUDIO_OUT]);
	if (cJSON_IsNumber(cost) && cost->valuedouble >= 0) {
		c->has_cost = 1;
		c->cost = cost->valuedouble;
	}
}

/* The members an answer's usage is read from as text (usage_int.h): usage_body_keys, then
 * its usage_text_shape. */
enum openai_text_member {
	OT_USAGE, OT_TIER, OT_IN, OT_OUT, OT_IN_DETAILS, OT_OUT_DETAILS, OT_COST,
	OT_CACHED, OT_WRITE, OT_AUDIO_IN, OT_REASONING, OT_AUDIO_OUT
};

static const int openai_text_parents[] = {OT_USAGE,	 OT_USAGE,	OT_USAGE,      OT_USAGE,
					  OT_USAGE,	 OT_IN_DETAILS, OT_IN_DETAILS, OT_IN_DETAILS,
					  OT_OUT_DETAILS, OT_OUT_DETAILS};

#define OPENAI_TEXT_KEYS(in, out)                                                                 \
	{in, out, in "_details", out "_details", "cost", "cached_tokens", "cache_write_tokens",   \
	 "audio_tokens", "reasoning_tokens", "audio_tokens"}

static const char *const chat_text_keys[] = OPENAI_TEXT_KEYS("prompt_tokens", "completion_tokens");
static const char *const responses_text_keys[] = OPENAI_TEXT_KEYS("input_tokens", "output_tokens");
#define OPENAI_TEXT_N (sizeof(openai_text_parents) / sizeof(openai_text_parents[0]))
_Static_assert(sizeof(chat_text_keys) / sizeof(chat_text_keys[0]) == OPENAI_TEXT_N,
	       "a parent for each key read from text");

/* The counts of the usage object located at POS[OT_USAGE] from its text, or USAGE_TEXT_UNSURE. */
static int counts_of_text(const char *t, const struct json_locate_pos *pos,
			  struct openai_counts *c)
{
	static const enum openai_text_member at[OC_N] = {
	    [OC_IN] = OT_IN,		 [OC_OUT] = OT_OUT,	      [OC_CACHED] = OT_CACHED,
	    [OC_WRITE] = OT_WRITE,	 [OC_REASONING] = OT_REASONING, [OC_AUDIO_IN] = OT_AUDIO_IN,
	    [OC_AUDIO_OUT] = OT_AUDIO_OUT};
	const struct json_locate_pos *cost = &pos[OT_COST];

	*c = (struct openai_counts){0};
	if (cost->value != JSON_LOCATE_NONE &&
	    (t[cost->value] == '-' || (t[cost->value] >= '0' && t[cost->value] <= '9')))
		return USAGE_TEXT_UNSURE; /* a reported cost: strtod()'s to read */
	for (int k = 0; k < OC_N; k++)
		if ((c->rc[k] = text_count(t, &pos[at[k]], &c->v[k])) == USAGE_TEXT_UNSURE)
			return USAGE_TEXT_UNSURE;
	return 0;
}

/* The usage C says into *OUT; the output count is required if WITH_OUTPUT. */
static int openai_usage_of(const struct openai_counts *c, int with_output, struct usage *out)
{
	const int64_t *v = c->v;
	struct usage x = {0};

	if (c->rc[OC_IN] <= 0 || c->rc[OC_OUT] < 0 || (with_output && !c->rc[OC_OUT]) ||
	    c->rc[OC_CACHED] < 0 || c->rc[OC_WRITE] < 0 || c->rc[OC_REASONING] < 0)
		return -EBADMSG;
	if (v[OC_CACHED] + v[OC_WRITE] > v[OC_IN] || v[OC_REASONING] > v[OC_OUT])
		return -EBADMSG;
	x.input = v[OC_IN];
	x.output = v[OC_OUT];
	x.cached_input = v[OC_CACHED];
	x.cache_write = v[OC_WRITE];
	x.reasoning = v[OC_REASONING];
	x.unpriced = v[OC_AUDIO_IN] > 0 || v[OC_AUDIO_OUT] > 0 ? USAGE_UNPRICED_AUDIO : 0;
	x.has_reported_cost = c->has_cost;
	x.reported_cost = c->cost;
	x.known = USAGE_KNOWN_ALL;
	*out = x;
	return 0;
}

/* Reads an OpenAI usage object U into *OUT; the output count is required if WITH_OUTPUT. */
static int openai_usage(const cJSON *u, const struct openai_names *n, int with_output,
			struct usage *out)
{
	struct openai_counts c;

	if (!cJSON_IsObject(u))
		return -ENOENT;
	counts_of_tree(u, n, &c);
	return openai_usage_of(&c, with_output, out);
}

static int openai_body(const cJSON *root, const struct openai_names *n, int with_output,
		       struct usage *u)
{
	int err = openai_usage(json_item(root, "usage"), n, with_output, u);

	if (!err)
		u->unpriced |= tier_flag(root, openai_standard_tiers);
	return err;
}

/* openai_body() from the answer's text, its members located at POS (enum openai_text_member). */
static int openai_body_text(const char *t, const struct json_locate_pos *pos, int with_output,
			    struct usage *u)
{
	struct openai_counts c;
	int err;

	if (!text_is_object(t, &pos[OT_USAGE]))
		return -ENOENT;
	if (counts_of_text(t, pos, &c))
		return USAGE_TEXT_UNSURE;
	err = openai_usage_of(&c, with_output, u);
	if (err)
		return err;
	err = text_str_flag(t, &pos[OT_TIER], openai_standard_tiers, USAGE_UNPRICED_TIER);
	if (err < 0)
		return err;
	u->unpriced |= err;
	return 0;
}

static int chat_event(struct usage_stream *s, const char *data, size_t len)
{
	const cJSON *u, *e, *choices;
	struct usage x;
	cJSON *root;
	int drop = 0;

	if (len == 6 && !memcmp(data, "[DONE]", 6)) {
		stream_set_end(s, USAGE_END_OK, NULL);
		return USAGE_EVENT_FORWARD;
	}
	if (s->model[0] && !text_has_usage_object(data, len) && !text_has(data, len, "\"error\""))
		return USAGE_EVENT_FORWARD;
	root = json_parse(data, len);
	if (!cJSON_IsObject(root)) {
		s->unparsed++;
		goto out;
	}
	stream_take_model(s, root);
	e = json_item(root, "error");
	if (cJSON_IsObject(e)) {
		stream_set_end(s, USAGE_END_ERROR, error_kind(e, "error"));
		goto out;
	}
	u = json_item(root, "usage");
	if (!cJSON_IsObject(u))
		goto out;
	if (openai_usage(u, &chat_names, 1, &x)) {
		s->unparsed++;
		goto out;
	}
	x.unpriced |= tier_flag(root, openai_standard_tiers);
	s->usage = x;
	choices = json_item(root, "choices");
	drop = (s->flags & USAGE_STREAM_SUPPRESS_USAGE_CHUNK) && cJSON_IsArray(choices) &&
	       !cJSON_GetArraySize(choices);
out:
	cJSON_Delete(root);
	if (drop)
		s->dropped++;
	return drop ? USAGE_EVENT_DROP : USAGE_EVENT_FORWARD;
}

static const char *const responses_events[] = {"response.created",
					       "response.in_progress",
					       "response.completed",
					       "response.incomplete",
					       "response.failed",
					       "error",
					       NULL};
static const char *const responses_hints[] = {"response.created",
					      "response.in_progress",
					      "response.completed",
					      "response.incomplete",
					      "response.failed",
					      "\"error\"",
					      NULL};

/* The usage in a Responses event's "response", when it has one. */
static void responses_usage(struct usage_stream *s, const cJSON *resp)
{
	const cJSON *u = json_item(resp, "usage");
	struct usage x;

	if (!cJSON_IsObject(u))
		return;
	if (openai_usage(u, &responses_names, 1, &x)) {
		s->unparsed++;
		return;
	}
	x.unpriced |= tier_flag(resp, openai_standard_tiers);
	s->usage = x;
}

static void responses_typed(struct usage_stream *s, const char *type, const cJSON *root)
{
	const cJSON *resp = json_item(root, "response");
	const char *why;

	stream_take_model(s, resp);
	if (!strcmp(type, "response.completed")) {
		responses_usage(s, resp);
		stream_set_end(s, USAGE_END_OK, NULL);
	} else if (!strcmp(type, "response.incomplete")) {
		responses_usage(s, resp);
		why = json_str(json_item(resp, "incomplete_details"), "reason");
		stream_set_end(s, USAGE_END_INCOMPLETE, why ? why : "incomplete");
	} else if (!strcmp(type, "response.failed")) {
		responses_usage(s, resp);
		stream_set_end(s, USAGE_END_ERROR,
			       error_kind(json_item(resp, "error"), "response.failed"));
	} else if (!strcmp(type, "error")) {
		why = error_kind(root, NULL);
		stream_set_end(s, USAGE_END_ERROR,
			       why ? why : error_kind(json_item(root, "error"), "error"));
	}
}

static int responses_event(struct usage_stream *s, const char *event, const char *data, size_t len)
{
	const char *type;
	cJSON *root;

	if (event ? !name_is_one_of(event, responses_events)
		  : !text_has_any(data, len, responses_hints))
		return USAGE_EVENT_FORWARD;
	root = json_parse(data, len);
	if (!cJSON_IsObject(root)) {
		s->unparsed++;
		goto out;
	}
	type = json_str(root, "type");
	if (!type)
		type = event;
	if (type)
		responses_typed(s, type, root);
out:
	cJSON_Delete(root);
	return USAGE_EVENT_FORWARD;
}

/* ---- the include_usage rewrite ---- */

/* The rewrite, on text cJSON accepted as the object ROOT whose '{' is at OBJ. */
static int ask_usage(const char *body, size_t len, size_t obj, const cJSON *root, char **ret,
		     size_t *ret_len)
{
	const cJSON *opts = json_item(root, "stream_options");
	struct member so, iu;
	size_t in;

	if (!opts)
		return usage_edit(body, len, obj + 1, obj + 1,
				  "\"stream_options\":{\"include_usage\":true},", ret, ret_len);
	if (!find_member(body, len, obj, "stream_options", &so))
		return 0;
	if (cJSON_IsNull(opts))
		return usage_edit(body, len, so.value, so.value_end, "{\"include_usage\":true}",
				  ret, ret_len);
	if (!cJSON_IsObject(opts) || cJSON_IsTrue(json_item(opts, "include_usage")))
		return 0;
	if (find_member(body, len, so.value, "include_usage", &iu))
		return usage_edit(body, len, iu.value, iu.value_end, "true", ret, ret_len);
	in = so.value + 1;
	obj = skip_ws(body, len, in);
	if (obj < len && body[obj] == '}')
		return usage_edit(body, len, in, in, "\"include_usage\":true", ret, ret_len);
	return usage_edit(body, len, in, in, "\"include_usage\":true,", ret, ret_len);
}

int usage_ask_usage(const char *body, size_t len, const cJSON *root, char **ret, size_t *ret_len)
{
	size_t obj;

	*ret = NULL;
	*ret_len = 0;
	if (!cJSON_IsObject(root) || !cJSON_IsTrue(json_item(root, "stream")))
		return 0;
	obj = len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3) ? 3 : 0; /* cJSON skips a BOM */
	obj = skip_ws(body, len, obj);
	return obj < len && body[obj] == '{' ? ask_usage(body, len, obj, root, ret, ret_len) : 0;
}

int usage_want_include_usage(const char *body, size_t len, char **ret, size_t *ret_len)
{
	cJSON *root = json_parse(body, len);
	int r = usage_ask_usage(body, len, root, ret, ret_len);

	cJSON_Delete(root);
	return r;
}

/* ---- the adapter ---- */

static int openai_path_api(const char *path, size_t n)
{
	if (n == 20 && !strncmp(path, "/v1/chat/completions", n))
		return USAGE_API_OPENAI_CHAT;
	if (n == 13 && !strncmp(path, "/v1/responses", n))
		return USAGE_API_OPENAI_RESPONSES;
	if (n == 14 && !strncmp(path, "/v1/embeddings", n))
		return USAGE_API_OPENAI_EMBEDDINGS;
	return -1;
}

static int openai_usage_body(enum usage_api api, const cJSON *root, struct usage *u)
{
	switch (api) {
	case USAGE_API_OPENAI_CHAT:
		return openai_body(root, &chat_names, 1, u);
	case USAGE_API_OPENAI_RESPONSES:
		return openai_body(root, &responses_names, 1, u);
	case USAGE_API_OPENAI_EMBEDDINGS:
		return openai_body(root, &chat_names, 0, u);
	default:
		return -EINVAL;
	}
}

static const struct usage_text_shape *openai_usage_text_shape(enum usage_api api)
{
	static const struct usage_text_shape chat = {chat_text_keys, openai_text_parents,
						     OPENAI_TEXT_N},
					     responses = {responses_text_keys, openai_text_parents,
							  OPENAI_TEXT_N};

	switch (api) {
	case USAGE_API_OPENAI_CHAT:
	case USAGE_API_OPENAI_EMBEDDINGS:
		return &chat;
	case USAGE_API_OPENAI_RESPONSES:
		return &responses;
	default:
		return NULL;
	}
}

static int openai_usage_text(enum usage_api api, const char *text,
			     const struct json_locate_pos *pos, struct usage *u)
{
	switch (api) {
	case USAGE_API_OPENAI_CHAT:
	case USAGE_API_OPENAI_RESPONSES:
		return openai_body_text(text, pos, 1, u);
	case USAGE_API_OPENAI_EMBEDDINGS:
		return openai_body_text(text, pos, 0, u);
	default:
		return -EINVAL;
	}
}

static int openai_usage_event(struct usage_stream *s, const char *event, const char *data,
			      size_t len)
{
	if (s->api == USAGE_API_OPENAI_CHAT)
		return chat_event(s, data, len);
	if (s->api == USAGE_API_OPENAI_RESPONSES)
		return responses_event(s, event, data, len);
	return USAGE_EVENT_FORWARD;
}

/* {"message", "type", "param", "code"}: the type says whose fault, the code what failed. */
/* OpenAI's own type and code for a refusal of KIND: its 429s say which of the two they are
 * ("requests" / rate_limit_exceeded is retried by SDKs; insufficient_quota is not). */
static int kind_type_code(const char *kind, const char **type, const char **code)
{
	static const char *const table[][3] = {
	    {"permission", "permission_error", "policy_denied"},
	    {"guardrail", "invalid_request_error", "content_policy_violation"},
	    {"rate_limit", "requests", "rate_limit_exceeded"},
	    {"quota", "insufficient_quota", "insufficient_quota"},
	    {"unavailable", "aigw_gateway_error", "gateway_unavailable"},
	};

	for (size_t i = 0; kind && i < sizeof(table) / sizeof(table[0]); i++) {
		if (!strcmp(kind, table[i][0])) {
			*type = table[i][1];
			*code = table[i][2];
			return 1;
		}
	}
	return 0;
}

static char *error_object(int status, const char *kind, const char *message, size_t *ret_len)
{
	struct jsonw *e = jsonw_new();
	const char *type = status < 500 ? "invalid_request_error" : "aigw_gateway_error";
	const char *code = status == 504   ? "upstream_timeout"
			   : status >= 500 ? "upstream_unavailable"
			   : status == 401 ? "invalid_api_key"
			   : status == 404 ? "not_found"
					   : "invalid_request";

	if (!e)
		return NULL;
	kind_type_code(kind, &type, &code);
	jsonw_str(e, "message", message);
	jsonw_str(e, "type", type);
	jsonw_null(e, "param");
	jsonw_str(e, "code", code);
	return jsonw_finish(e, ret_len);
}

static char *openai_error_body(int status, const char *kind, const char *message,
			       size_t *ret_len)
{
	size_t len;
	char *inner = error_object(status, kind, message, &len), *out = NULL;
	struct jsonw *w;

	if (inner && (w = jsonw_new())) {
		jsonw_raw(w, "error", inner, len);
		out = jsonw_finish(w, ret_len);
	}
	free(inner);
	return out;
}

/* A chat stream's error chunk is a data line {"error": {...}}; a Responses stream's is an
 * "error" event {"type": "error", "code", "message", "param"}. */
static char *openai_error_event(enum usage_api api, const char *message, size_t *ret_len)
{
	struct jsonw *e = NULL;
	size_t len;
	char *data, *out;

	if (api != USAGE_API_OPENAI_RESPONSES) {
		data = openai_error_body(502, NULL, message, &len);
	} else if ((e = jsonw_new())) {
		jsonw_str(e, "type", "error");
		jsonw_str(e, "code", "upstream_unavailable");
		jsonw_str(e, "message", message);
		jsonw_null(e, "param");
		data = jsonw_finish(e, &len);
	} else {
		return NULL;
	}
	out = data ? sse_event_text(e ? "error" : NULL, data, ret_len) : NULL;
	free(data);
	return out;
}

static const struct provider_path openai_inference[] = {
    {"POST", "/v1/chat/completions", 1}, {"POST", "/v1/responses", 1},
    {"POST", "/v1/embeddings", 1},	  {"POST", "/v1/completions", 1},
    {"GET", "/v1/models", 0},		  {"GET", "/v1/models/*", 0},
};

const struct provider_api provider_openai = {
    .family = POLICY_API_OPENAI,
    .name = "openai",
    .chat_path = "/v1/chat/completions",
    .chat_api = USAGE_API_OPENAI_CHAT,
    .translate = TRANSLATE_OPENAI_CHAT,
    .key_header = "Authorization",
    .key_prefix = "Bearer ",
    .path_api = openai_path_api,
    .inference = openai_inference,
    .n_inference = sizeof(openai_inference) / sizeof(openai_inference[0]),
    .usage_body = openai_usage_body,
    .usage_body_keys = (const char *const[]){"usage", "service_tier", NULL},
    .usage_text_shape = openai_usage_text_shape,
    .usage_text = openai_usage_text,
    .usage_event = openai_usage_event,
    .error_body = openai_error_body,
    .error_event = openai_error_event,
};
