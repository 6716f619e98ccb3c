/*
 * anthropic.c: the adapter for Anthropic's Messages API: its path, its x-api-key and
 * anthropic-version headers, its error format, and its usage (input_tokens leaves out both
 * cache counts; a stream's message_start and message_delta carry cumulative counts). See
 * usage.h for the shapes, api.h for the interface.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "providers/api.h"
#include "providers/sse.h"
#include "providers/usage_int.h"
#include "util/jsonw.h"

/* Anthropic's own counts, as kept in usage_stream.raw[]. */
enum { RAW_IN, RAW_CACHE_WRITE, RAW_CACHE_READ, RAW_CACHE_WRITE_1H, RAW_OUT, RAW_N };

static const char *const anthropic_standard_tiers[] = {"standard", NULL};

/* Reads the Anthropic counts U has into RAW, marking each one read in *GOT. */
static int anthropic_raw(const cJSON *u, int64_t raw[RAW_N], unsigned *got)
{
	static const char *const keys[RAW_N] = {"input_tokens", "cache_creation_input_tokens",
						"cache_read_input_tokens", NULL, "output_tokens"};
	int i, r;

	for (i = 0; i < RAW_N; i++) {
		if (i == RAW_CACHE_WRITE_1H)
			r = json_sub_count(u, "cache_creation", "ephemeral_1h_input_tokens",
					   &raw[i]);
		else
			r = json_count(u, keys[i], &raw[i]);
		if (r < 0)
			return r;
		if (r)
			*got |= 1u << i;
	}
	return 0;
}

/* Server tools billed per call: any positive count in usage.server_tool_use. */
static int tools_flag(const cJSON *u)
{
	const cJSON *t = json_item(u, "server_tool_use"), *it;

	if (!cJSON_IsObject(t))
		return 0;
	cJSON_ArrayForEach(it, t)
	{
		if (cJSON_IsNumber(it) && it->valuedouble > 0)
			return USAGE_UNPRICED_TOOLS;
	}
	return 0;
}

/* Fast mode (usage.speed "fast") and inference pinned to a region (usage.inference_geo "us",
 * 1.1x) are billed apart from the standard rates the table has: their cost is unknown. */
static const char *const standard_speeds[] = {"standard", NULL};
static const char *const standard_geos[] = {"global", "not_available", NULL};

static int mode_flags(const cJSON *u)
{
	const char *speed = json_str(u, "speed"), *geo = json_str(u, "inference_geo");

	return (speed && !name_is_one_of(speed, standard_speeds) ? USAGE_UNPRICED_SPEED : 0) |
	       (geo && !name_is_one_of(geo, standard_geos) ? USAGE_UNPRICED_GEO : 0);
}

/* struct usage from Anthropic's counts: input_tokens leaves out both cache counts. */
static int anthropic_derive(const int64_t raw[RAW_N], struct usage *x)
{
	x->input = raw[RAW_IN] + raw[RAW_CACHE_WRITE] + raw[RAW_CACHE_READ];
	x->cached_input = raw[RAW_CACHE_READ];
	x->cache_write = raw[RAW_CACHE_WRITE];
	x->cache_write_1h = raw[RAW_CACHE_WRITE_1H];
	x->output = raw[RAW_OUT];
	x->reasoning = 0;
	return x->cache_write_1h > x->cache_write ? -EBADMSG : 0;
}

/* *U from the counts RAW of a whole answer (GOT: which it had): its input and output
 * counts are required. */
static int anthropic_whole(const int64_t raw[RAW_N], unsigned got, struct usage *u)
{
	int err;

	if (!(got & (1u << RAW_IN)) || !(got & (1u << RAW_OUT)))
		return -EBADMSG;
	err = anthropic_derive(raw, u);
	if (!err)
		u->known = USAGE_KNOWN_ALL;
	return err;
}

static int anthropic_body(const cJSON *root, struct usage *u)
{
	const cJSON *uo = json_item(root, "usage");
	int64_t raw[RAW_N] = {0};
	unsigned got = 0;
	int err;

	if (!cJSON_IsObject(uo))
		return -ENOENT;
	err = anthropic_raw(uo, raw, &got);
	if (!err)
		err = anthropic_whole(raw, got, u);
	if (err)
		return err;
	u->unpriced = tier_flag(uo, anthropic_standard_tiers) | tools_flag(uo) | mode_flags(uo);
	return 0;
}

/* The members an answer's usage is read from as text (usage_int.h): usage_body_keys, then
 * its usage_text_shape. */
enum anthropic_text_member {
	AT_USAGE, AT_IN, AT_CACHE_WRITE, AT_CACHE_READ, AT_OUT, AT_CACHE_CREATION, AT_TOOLS,
	AT_TIER, AT_SPEED, AT_GEO, AT_CACHE_WRITE_1H
};

static const char *const anthropic_text_keys[] = {
    "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens",
    "cache_creation", "server_tool_use", "service_tier", "speed", "inference_geo",
    "ephemeral_1h_input_tokens"};
static const int anthropic_text_parents[] = {AT_USAGE, AT_USAGE, AT_USAGE, AT_USAGE,
					     AT_USAGE, AT_USAGE, AT_USAGE, AT_USAGE,
					     AT_USAGE, AT_CACHE_CREATION};
_Static_assert(sizeof(anthropic_text_keys) / sizeof(anthropic_text_keys[0]) ==
		   sizeof(anthropic_text_parents) / sizeof(anthropic_text_parents[0]),
	       "a parent for each key read from text");

/* anthropic_raw() from the text of the usage located at POS, or USAGE_TEXT_UNSURE. */
static int anthropic_raw_text(const char *t, const struct json_locate_pos *pos,
			      int64_t raw[RAW_N], unsigned *got)
{
	static const enum anthropic_text_member at[RAW_N] = {
	    [RAW_IN] = AT_IN, [RAW_CACHE_WRITE] = AT_CACHE_WRITE, [RAW_CACHE_READ] = AT_CACHE_READ,
	    [RAW_CACHE_WRITE_1H] = AT_CACHE_WRITE_1H, [RAW_OUT] = AT_OUT};

	for (int i = 0; i < RAW_N; i++) {
		int r = text_count(t, &pos[at[i]], &raw[i]);

		if (r < 0)
			return r; /* as anthropic_raw(): the first that is no count */
		if (r)
			*got |= 1u << i;
	}
	return 0;
}

/* tier_flag(), tools_flag() and mode_flags() of the usage located at POS, from its text, or
 * USAGE_TEXT_UNSURE. */
static int anthropic_flags_text(const char *t, const struct json_locate_pos *pos)
{
	int tier = text_str_flag(t, &pos[AT_TIER], anthropic_standard_tiers, USAGE_UNPRICED_TIER);
	int speed = text_str_flag(t, &pos[AT_SPEED], standard_speeds, USAGE_UNPRICED_SPEED);
	int geo = text_str_flag(t, &pos[AT_GEO], standard_geos, USAGE_UNPRICED_GEO);

	if (tier < 0 || speed < 0 || geo < 0 || text_is_object(t, &pos[AT_TOOLS]))
		return USAGE_TEXT_UNSURE; /* server tools: every member is read (tools_flag()) */
	return tier | speed | geo;
}

/* anthropic_body() from the answer's text, its members located at POS. */
static int anthropic_body_text(const char *t, const struct json_locate_pos *pos, struct usage *u)
{
	int64_t raw[RAW_N] = {0};
	unsigned got = 0;
	int err, flags;

	if (!text_is_object(t, &pos[AT_USAGE]))
		return -ENOENT;
	err = anthropic_raw_text(t, pos, raw, &got);
	if (!err)
		err = anthropic_whole(raw, got, u);
	if (err)
		return err;
	flags = anthropic_flags_text(t, pos);
	if (flags < 0)
		return flags;
	u->unpriced = flags;
	return 0;
}

static const char *const anthropic_events[] = {"message_start", "message_delta", "message_stop",
					       "error", NULL};
static const char *const anthropic_hints[] = {"message_start", "message_delta", "message_stop",
					      "\"error\"", NULL};

/* Takes the counts usage object U has; each replaces the one before (they are totals). */
static void anthropic_apply(struct usage_stream *s, const cJSON *u, int delta)
{
	int64_t raw[RAW_N];
	unsigned got = 0;
	struct usage x;

	if (!cJSON_IsObject(u))
		return;
	memcpy(raw, s->raw, sizeof(raw));
	if (anthropic_raw(u, raw, &got) || anthropic_derive(raw, &x)) {
		s->unparsed++;
		return;
	}
	x.known = s->usage.known;
	if (got & (1u << RAW_IN))
		x.known |= USAGE_KNOWN_INPUT;
	if (delta && (got & (1u << RAW_OUT)))
		x.known |= USAGE_KNOWN_OUTPUT;
	x.unpriced = s->usage.unpriced | tier_flag(u, anthropic_standard_tiers) | tools_flag(u) |
		     mode_flags(u);
	memcpy(s->raw, raw, sizeof(raw));
	s->raw_seen |= got;
	s->usage = x;
}

static int anthropic_event(struct usage_stream *s, const char *event, const char *data, size_t len)
{
	const char *type;
	const cJSON *msg;
	cJSON *root;

	if (event ? !name_is_one_of(event, anthropic_events)
		  : !text_has_any(data, len, anthropic_hints))
		return USAGE_EVENT_FORWARD;
	if (event && !strcmp(event, "message_stop")) {
		stream_set_end(s, USAGE_END_OK, NULL);
		return USAGE_EVENT_FORWARD;
	}
	root = json_parse(data, len);
	if (!cJSON_IsObject(root)) {
		s->unparsed++;
		goto out;
	}
	type = json_str(root, "type");
	if (!type)
		type = event ? event : "";
	if (!strcmp(type, "message_start")) {
		msg = json_item(root, "message");
		stream_take_model(s, msg);
		anthropic_apply(s, json_item(msg, "usage"), 0);
	} else if (!strcmp(type, "message_delta")) {
		anthropic_apply(s, json_item(root, "usage"), 1);
	} else if (!strcmp(type, "message_stop")) {
		stream_set_end(s, USAGE_END_OK, NULL);
	} else if (!strcmp(type, "error")) {
		stream_set_end(s, USAGE_END_ERROR, error_kind(json_item(root, "error"), "error"));
	}
out:
	cJSON_Delete(root);
	return USAGE_EVENT_FORWARD;
}

/* ---- the adapter ---- */

static int anthropic_path_api(const char *path, size_t n)
{
	return n == 12 && !strncmp(path, "/v1/messages", n) ? USAGE_API_ANTHROPIC_MESSAGES : -1;
}

static int anthropic_usage_body(enum usage_api api, const cJSON *root, struct usage *u)
{
	return api == USAGE_API_ANTHROPIC_MESSAGES ? anthropic_body(root, u) : -EINVAL;
}

static const struct usage_text_shape *anthropic_usage_text_shape(enum usage_api api)
{
	static const struct usage_text_shape shape = {
	    anthropic_text_keys, anthropic_text_parents,
	    sizeof(anthropic_text_parents) / sizeof(anthropic_text_parents[0])};

	return api == USAGE_API_ANTHROPIC_MESSAGES ? &shape : NULL;
}

static int anthropic_usage_text(enum usage_api api, const char *text,
				const struct json_locate_pos *pos, struct usage *u)
{
	return api == USAGE_API_ANTHROPIC_MESSAGES ? anthropic_body_text(text, pos, u) : -EINVAL;
}

static int anthropic_usage_event(struct usage_stream *s, const char *event, const char *data,
				 size_t len)
{
	return anthropic_event(s, event, data, len);
}

/* {"type": "error", "error": {"type", "message"}}, the type named as Anthropic names it. */
static char *anthropic_error_body(int status, const char *kind, const char *message,
				  size_t *ret_len)
{
	struct jsonw *e = jsonw_new(), *w;
	size_t len;
	char *inner;

	if (!e)
		return NULL;
	jsonw_str(e, "type",
		  status == 413	  ? "request_too_large"
		  : status == 400 ? "invalid_request_error"
		  : status == 401 ? "authentication_error"
		  : status == 403 ? "permission_error"
		  : status == 404 ? "not_found_error"
		  : status == 429 ? "rate_limit_error" /* Anthropic has no quota type */
		  : status == 504 ? "timeout_error"
				  : "api_error");
	(void)kind;
	jsonw_str(e, "message", message);
	inner = jsonw_finish(e, &len);
	if (!inner || !(w = jsonw_new())) {
		free(inner);
		return NULL;
	}
	jsonw_str(w, "type", "error");
	jsonw_raw(w, "error", inner, len);
	free(inner);
	return jsonw_finish(w, ret_len);
}

static char *anthropic_error_event(enum usage_api api, const char *message, size_t *ret_len)
{
	size_t len;
	char *body = anthropic_error_body(502, NULL, message, &len), *out;

	out = body ? sse_event_text("error", body, ret_len) : NULL;
	free(body);
	return out;
}

static const struct provider_path anthropic_inference[] = {
    {"POST", "/v1/messages", 1},
    {"POST", "/v1/messages/count_tokens", 1},
    {"GET", "/v1/models", 0},
    {"GET", "/v1/models/*", 0},
};

const struct provider_api provider_anthropic = {
    .family = POLICY_API_ANTHROPIC,
    .name = "anthropic",
    .chat_path = "/v1/messages",
    .chat_api = USAGE_API_ANTHROPIC_MESSAGES,
    .translate = TRANSLATE_ANTHROPIC_MESSAGES,
    .key_header = "x-api-key",
    .key_prefix = "",
    .version_header = "anthropic-version",
    .version_default = "2023-06-01",
    .beta_header = "anthropic-beta",
    .path_api = anthropic_path_api,
    .inference = anthropic_inference,
    .n_inference = sizeof(anthropic_inference) / sizeof(anthropic_inference[0]),
    .usage_body = anthropic_usage_body,
    .usage_body_keys = (const char *const[]){"usage", NULL},
    .usage_text_shape = anthropic_usage_text_shape,
    .usage_text = anthropic_usage_text,
    .usage_event = anthropic_usage_event,
    .error_body = anthropic_error_body,
    .error_event = anthropic_error_event,
};
