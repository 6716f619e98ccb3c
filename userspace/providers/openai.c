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

static int audio_flag(const cJSON *u, const struct openai_names *n)
{
	int64_t in = 0, out = 0;

	json_sub_count(u, n->in_details, "audio_tokens", &in);
	json_sub_count(u, n->out_details, "audio_tokens", &out);
	return in > 0 || out > 0 ? USAGE_UNPRICED_AUDIO : 0;
}

/* Reads an OpenAI usage object U into *OUT; the output count is required if WITH_OUTPUT. */
static int openai_usage(const cJSON *u, const struct openai_names *n, int with_output,
			struct usage *out)
{
	struct usage x = {0};
	const cJSON *cost;
	int r;

	if (!cJSON_IsObject(u))
		return -ENOENT;
	r = json_count(u, n->in, &x.input);
	if (r <= 0)
		return -EBADMSG;
	r = json_count(u, n->out, &x.output);
	if (r < 0 || (with_output && !r))
		return -EBADMSG;
	/* cache_write_tokens: prompt-cache writes, billed apart on the models that charge for
	 * them; read (a part of the input, as cached_tokens is) so they are priced or flagged,
	 * never billed as plain input. */
	if (json_sub_count(u, n->in_details, "cached_tokens", &x.cached_input) < 0 ||
	    json_sub_count(u, n->in_details, "cache_write_tokens", &x.cache_write) < 0 ||
	    json_sub_count(u, n->out_details, "reasoning_tokens", &x.reasoning) < 0)
		return -EBADMSG;
	if (x.cached_input + x.cache_write > x.input || x.reasoning > x.output)
		return -EBADMSG;
	x.unpriced = audio_flag(u, n);
	cost = json_item(u, "cost");
	if (cJSON_IsNumber(cost) && cost->valuedouble >= 0) {
		x.has_reported_cost = 1;
		x.reported_cost = cost->valuedouble;
	}
	x.known = USAGE_KNOWN_ALL;
	*out = x;
	return 0;
}

static int openai_body(const cJSON *root, const struct openai_names *n, int with_output,
		       struct usage *u)
{
	int err = openai_usage(json_item(root, "usage"), n, with_output, u);

	if (!err)
		u->unpriced |= tier_flag(root, openai_standard_tiers);
	return err;
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
    .usage_event = openai_usage_event,
    .error_body = openai_error_body,
    .error_event = openai_error_event,
};
