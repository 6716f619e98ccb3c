/*
 * translate_req: what the request translators (translate_req_openai.c: OpenAI chat ->
 * Anthropic messages, translate_req_anthropic.c: the reverse, translate_req_gemini.c: OpenAI
 * chat -> Gemini generateContent) share with translate_req.c, which
 * holds the entry points: the translation in progress, refusals naming the field, the table of
 * top-level fields. Internal to the translate files.
 */
#ifndef AIGW_PROVIDERS_TRANSLATE_REQ_H
#define AIGW_PROVIDERS_TRANSLATE_REQ_H

#include "providers/translate_util.h"

#define TRANSLATE_PATH_MAX 96 /* a field's path in a refusal: messages[3].content[1].image_url */

struct translate_rq {
	struct translate_ctx c;
	const cJSON *in;
	cJSON *out;
	struct translate_req *res;
	enum translate_api app; /* the API the request was written for */
	const char *other;	/* the other API's name, for refusals */
	const char *user;	/* OpenAI user / safety_identifier */
	unsigned int max_default;
	int via_openai; /* a request between Anthropic and Gemini (either way) through OpenAI's
			   form: what only those two share (top_k) goes along in the middle form */
};

typedef void (*translate_rq_fn)(struct translate_rq *r, const cJSON *v, const char *key);

struct translate_rq_field {
	const char *name;
	translate_rq_fn fn; /* NULL: handled outside the table */
};

/* Refuses PATH (-EOPNOTSUPP: no counterpart in the other API); returns the failure. */
int translate_rq_refuse(struct translate_rq *r, const char *path);
/* PATH is not what its API allows (-EINVAL): WHAT says what was expected. */
int translate_rq_invalid(struct translate_rq *r, const char *path, const char *what);
/* A tool choice (at PATH, as the app wrote it) in a request that offers no tools (none, or an
 * empty list): one that FORCES a call cannot be carried, and every provider refuses it, the
 * app's own too (-EINVAL); "auto" or "none" asks nothing the request without it does not,
 * and is dropped, noted (a target may refuse a choice without tools). */
void translate_rq_choice_without_tools(struct translate_rq *r, const char *path, int forces);
/* Whether OpenAI's tool_choice V forces a call: anything but "auto" and "none". */
int translate_rq_openai_choice_forces(const cJSON *v);
/* Refuses any non-null member of object O not in ALLOWED (NULL-terminated); a non-object
 * passes (the caller judges types). */
int translate_rq_keys(struct translate_rq *r, const cJSON *o, const char *const *allowed,
		      const char *path);
/* Runs TABLE over the request's top-level members; a member not in it is refused. */
void translate_rq_fields(struct translate_rq *r, const struct translate_rq_field *table);
/* Field handlers both directions use: a number copied, a member dropped with a note, stream. */
void translate_rq_number(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_drop(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_stream(struct translate_rq *r, const cJSON *v, const char *key);
/* top_k, which only Anthropic and Gemini have: on the way between them (r->via_openai) it goes
 * along in OpenAI's form, a non-negative integer; else refused. */
void translate_rq_top_k(struct translate_rq *r, const cJSON *v, const char *key);
/* Whether D is a whole number from 0 to INT_MAX (compared without converting one outside it,
 * which is undefined). */
int translate_rq_is_count(double d);
/* OpenAI fields both OpenAI directions read alike: stream_options (include_usage), user and
 * safety_identifier (r->user), and those refused unless they ask for nothing (store:true,
 * n != 1, logprobs, top_logprobs, a non-zero penalty, a logit_bias, modalities other than
 * text). */
void translate_rq_stream_options(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_user(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_store(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_n(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_logprobs(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_top_logprobs(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_zero(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_logit_bias(struct translate_rq *r, const cJSON *v, const char *key);
void translate_rq_modalities(struct translate_rq *r, const cJSON *v, const char *key);
/* The rows both OpenAI directions' field tables share: fields dropped with a note (they tune
 * OpenAI's own cache, storage, tier or determinism) and those refused unless they ask for
 * nothing. */
#define TRANSLATE_RQ_OPENAI_SHARED_FIELDS                                                          \
	{"stream_options", translate_rq_stream_options}, {"metadata", translate_rq_drop},          \
	    {"prediction", translate_rq_drop}, {"prompt_cache_key", translate_rq_drop},            \
	    {"prompt_cache_retention", translate_rq_drop}, {"service_tier", translate_rq_drop},    \
	    {"store", translate_rq_store}, {"n", translate_rq_n},                                  \
	    {"logprobs", translate_rq_logprobs}, {"top_logprobs", translate_rq_top_logprobs},      \
	    {"frequency_penalty", translate_rq_zero}, {"presence_penalty", translate_rq_zero},     \
	    {"logit_bias", translate_rq_logit_bias}, {"modalities", translate_rq_modalities}
/* OpenAI's stop V (a string or an array of strings) as a new array; NULL when invalid (or out
 * of memory: c.oom). */
cJSON *translate_rq_strings(struct translate_rq *r, const cJSON *v, const char *key);
/* An assistant message's tool call TC (at PATH): its arguments as a new object (the caller
 * owns it; "" is {}), *RET_ID and *RET_NAME (TC's); NULL when refused or invalid. */
cJSON *translate_rq_tool_call(struct translate_rq *r, const cJSON *tc, const char *path,
			      const char **ret_id, const char **ret_name);
/* Appends {"type":"text","text":TEXT} to BLOCKS. */
void translate_rq_text_block(struct translate_rq *r, cJSON *blocks, const char *text);
/* Writes BASE.NAME, BASE.NAME[I] (I >= 0) or BASE[I] (NAME NULL) into P
 * (TRANSLATE_PATH_MAX bytes), cut short when long; returns P. */
char *translate_rq_path(char *p, const char *base, const char *name, int i);

/* The second stage of a translation through OpenAI's form (Anthropic <-> Gemini): MID, the
 * OpenAI request the first stage made, for TO asking for MODEL, refusals naming OTHER, what only
 * the two ends share (top_k) carried; MID's notes first. As translate_request_to(). */
int translate_rq_from_middle(const struct translate_req *mid, enum translate_api to,
			     const char *other, const char *model, unsigned int max_default,
			     struct translate_req *ret);

/* The directions: fill r->out from r->in, asking for MODEL (Gemini: none, it is the path's). */
void translate_rq_from_openai(struct translate_rq *r, const char *model);
void translate_rq_from_anthropic(struct translate_rq *r, const char *model);
void translate_rq_openai_to_gemini(struct translate_rq *r);

#endif
