/*
 * estimate.c: the most tokens a call can use, the bound limits and budgets reserve before
 * the call is admitted (and settle to its real usage after).
 *
 * Input: every token stands for at least one byte of text, and the body holds that text (in
 * JSON, escapes only make it longer), so the body's length bounds it; an image costs tokens
 * its bytes do not show (a URL), at most PIPE_IMAGE_TOKENS each. Content named by reference
 * (a file, a document by URL, a previous response's state) has no bound in the body: the
 * model's context window is then the bound (PIPE_CONTEXT_CEILING).
 * Output: the request's own max tokens field, times its number of choices (n, best_of);
 * without one, the largest output a priced model allows. Embeddings produce none.
 */
#include <string.h>
#include <cjson/cJSON.h>

#include "policy/stages.h"
#include "providers/usage.h"

#define PIPE_CONTEXT_CEILING 2000000 /* no provider's context window is larger */
#define PIPE_WALK_DEPTH 64

struct walk {
	int64_t images;
	int unbounded;
};

static void walk_parts(const cJSON *v, unsigned depth, struct walk *w)
{
	static const char *const images[] = {"image_url", "image", "input_image"};
	static const char *const refs[] = {"document", "file", "input_file", "container_upload"};
	const cJSON *type;

	if (depth > PIPE_WALK_DEPTH) {
		w->unbounded = 1;
		return;
	}
	if (cJSON_IsObject(v) && cJSON_IsString(type = cJSON_GetObjectItemCaseSensitive(v, "type"))) {
		for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++)
			w->images += !strcmp(type->valuestring, images[i]);
		for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
			w->unbounded |= !strcmp(type->valuestring, refs[i]);
	}
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		for (const cJSON *c = v->child; c; c = c->next)
			walk_parts(c, depth + 1, w);
}

static int64_t member_int(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 1)
		return 0;
	return v->valuedouble > 1e12 ? (int64_t)1e12 : (int64_t)v->valuedouble;
}

/* The max tokens field of API in JSON, and its value (0: absent); NULL for an API without. */
static const char *max_tokens_field(const cJSON *json, int api, int64_t *ret_value)
{
	const char *field;

	switch (api) {
	case USAGE_API_OPENAI_RESPONSES:
		field = "max_output_tokens";
		break;
	case USAGE_API_ANTHROPIC_MESSAGES:
		field = "max_tokens";
		break;
	case USAGE_API_OPENAI_CHAT:
		/* the current name; the older one still counts when it is the one given */
		field = member_int(json, "max_tokens") && !member_int(json, "max_completion_tokens")
			    ? "max_tokens"
			    : "max_completion_tokens";
		break;
	default:
		*ret_value = 0;
		return NULL;
	}
	*ret_value = member_int(json, field);
	return field;
}

int pipe_max_tokens_field(const struct pipe_req *r, const char **ret_field, int64_t *ret_value)
{
	const cJSON *json;
	int err = pipe_req_json(r, &json);

	if (err)
		return err;
	*ret_field = max_tokens_field(json, r->app_api, ret_value);
	return 0;
}

static int token_bounds(const struct pipe_req *r, int64_t *ret_input, int64_t *ret_output)
{
	const cJSON *json;
	struct walk w = {0};
	int64_t out, choices;
	int err = pipe_req_json(r, &json);

	if (err)
		return err;
	walk_parts(json, 0, &w);
	if (cJSON_GetObjectItemCaseSensitive(json, "previous_response_id") ||
	    cJSON_GetObjectItemCaseSensitive(json, "conversation") || !json)
		w.unbounded = 1;
	*ret_input = w.unbounded ? PIPE_CONTEXT_CEILING
				 : (int64_t)r->body_len + w.images * PIPE_IMAGE_TOKENS;
	if (*ret_input > PIPE_CONTEXT_CEILING)
		*ret_input = PIPE_CONTEXT_CEILING;
	if (r->app_api == USAGE_API_OPENAI_EMBEDDINGS) {
		*ret_output = 0;
		return 0;
	}
	max_tokens_field(json, r->app_api, &out);
	if (r->app_api == USAGE_API_OPENAI_CHAT && member_int(json, "max_tokens") > out)
		out = member_int(json, "max_tokens"); /* both given: a server may read either */
	if (!out || out > PIPE_OUTPUT_CEILING)
		out = PIPE_OUTPUT_CEILING;
	choices = member_int(json, "n");
	if (member_int(json, "best_of") > choices) /* legacy completions: each is billed */
		choices = member_int(json, "best_of");
	*ret_output = out * (choices > 1 ? (choices > 128 ? 128 : choices) : 1);
	return 0;
}

int pipe_token_bounds(struct pipe_req *r, int64_t *ret_input, int64_t *ret_output)
{
	int err;

	if (r->res.bounds_known) { /* limits and budgets both ask */
		*ret_input = r->res.input_bound;
		*ret_output = r->res.output_bound;
		return 0;
	}
	err = token_bounds(r, ret_input, ret_output);
	if (err)
		return err;
	r->res.input_bound = *ret_input;
	r->res.output_bound = *ret_output;
	r->res.bounds_known = 1;
	return 0;
}
