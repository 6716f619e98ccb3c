/*
 * api: the provider adapters. Each API family the gateway speaks is one module behind this
 * one small interface:
 *
 *   openai.c     OpenAI and every OpenAI-compatible server (vLLM, Ollama, ...):
 *                /v1/chat/completions, /v1/responses, /v1/embeddings
 *   anthropic.c  Anthropic: /v1/messages
 *   gemini.c     Google's Gemini API: /v1beta/models/{model}:generateContent, ... (gemini.h)
 *   bedrock.c    AWS Bedrock runtime: /model/{modelId}/converse[-stream], /invoke[-with-...]
 *
 * An adapter knows which request paths are its, how a caller hands it a key, what every
 * request the gateway makes to it must carry, its error format (as an answer and as a
 * stream event), and how usage is read from its answers, whole or streamed (usage.h is the
 * entry point for that; translate.h converts between the two families).
 *
 * The tables are constant; nothing here allocates but the error texts, which the caller
 * frees.
 */
#ifndef AIGW_PROVIDERS_API_H
#define AIGW_PROVIDERS_API_H

#include <stddef.h>

#include "policy/policy.h"
#include "providers/translate.h"
#include "providers/usage.h"

struct cJSON;
struct json_locate_pos;
struct usage_text_shape;

/* One call of a family known by its method and path alone (GLOB: fnmatch with FNM_PATHNAME,
 * on the canonical path without its query). BODY_MODEL: its body's "model" is the model it
 * runs, so the gateway reads the model although it reads no usage there. */
struct provider_path {
	const char *method, *glob;
	int body_model;
};

struct provider_api {
	enum policy_api family;
	const char *name;	      /* "openai", "anthropic" */
	const char *chat_path;	      /* where its chat calls go: "/v1/chat/completions"; NULL
					 when the path names the model (Gemini) */
	enum usage_api chat_api;      /* what they are */
	enum translate_api translate; /* what the translator calls its chat API; 0: none */
	const char *key_header;	      /* how it takes a key: "Authorization", "x-api-key" */
	const char *key_prefix;	      /* before the key: "Bearer ", "" */
	/* A header every call carries ("anthropic-version") and its value when the caller set
	 * none, or NULL; and a header of the caller's that goes along when the call stays in the
	 * family (its betas), or NULL. */
	const char *version_header, *version_default, *beta_header;

	/* The usage API of request path PATH (its first LEN bytes, no query), or -1 when it is
	 * not one of this family's. */
	int (*path_api)(const char *path, size_t len);

	/* The family's inference calls by method and path (N_INFERENCE), those path_api() does
	 * not read among them (a model list, a legacy completion); a call path_api() reads is
	 * one too. Any other path is none of this family's inference calls, whichever other
	 * family's it is: the gateway's key goes with none. */
	const struct provider_path *inference;
	size_t n_inference;

	/* For a family whose calls read parameters from the query (Gemini), else NULL: whether
	 * QUERY (from its '?', or "") of a call of usage API API holds only parameters the
	 * gateway reads, as gemini_query_check(). The endpoint stage asks it at every door. */
	int (*query_check)(enum usage_api api, const char *query, char *bad, size_t badlen);

	/* For a family whose calls name their model in the path (Gemini), else NULL: 1 and the
	 * model of request path PATH (LEN bytes, no query) into MODEL (SIZE bytes), or 0 when
	 * PATH is none of its calls. A body's "model" then counts for nothing. */
	int (*path_model)(const char *path, size_t len, char *model, size_t size);

	/* The usage of a whole answer ROOT (a JSON object) of usage API API into *U: 0,
	 * -ENOENT when it has none, -EBADMSG when it is not what the provider sends. */
	int (*usage_body)(enum usage_api api, const struct cJSON *root, struct usage *u);
	/* The only members of ROOT usage_body reads (NULL-terminated), so that usage_from_body()
	 * builds no tree of the rest; NULL: it reads anything, ROOT is the whole answer. */
	const char *const *usage_body_keys;
	/* The fast path (usage_int.h), NULL when none: the members below the root it reads for
	 * usage API API (NULL: none, the tree is read), and the usage read from the answer's TEXT
	 * once json_locate_accepted_in() accepted it as an object and POS[k] located entry k of
	 * usage_body_keys ++ those members: what usage_body() would return, or
	 * USAGE_TEXT_UNSURE to have it asked. */
	const struct usage_text_shape *(*usage_text_shape)(enum usage_api api);
	int (*usage_text)(enum usage_api api, const char *text, const struct json_locate_pos *pos,
			  struct usage *u);

	/* One stream event for S (see usage_stream_event()). */
	int (*usage_event)(struct usage_stream *s, const char *event, const char *data, size_t len);

	/* The body of an error the gateway itself answers with HTTP STATUS, in this family's
	 * format (NUL-terminated, *RET_LEN bytes; the caller frees), or NULL (out of memory).
	 * KIND (NULL: from the status) is a policy refusal's: "permission", "rate_limit",
	 * "quota" (a spent budget), "invalid", ...: the family's own type and code for it. */
	char *(*error_body)(int status, const char *kind, const char *message, size_t *ret_len);

	/* The same as the last event of a stream of usage API API, framed ("event: ...\n" when
	 * the family names its events, "data: ...\n\n"); the caller frees. */
	char *(*error_event)(enum usage_api api, const char *message, size_t *ret_len);
};

extern const struct provider_api provider_openai;
extern const struct provider_api provider_anthropic;
extern const struct provider_api provider_gemini;
extern const struct provider_api provider_bedrock;

/*
 * A request body BODY (LEN bytes, a JSON object) asking for MODEL instead: only the value of
 * its "model" member is replaced, every other byte is the caller's (a number cJSON would
 * round stays exact). Returns 0 and *RET (NUL-terminated, *RET_LEN bytes; the caller frees),
 * -ENOENT when BODY has no "model" member, or -ENOMEM.
 */
int request_set_model(const char *body, size_t len, const char *model, char **ret, size_t *ret_len);

/* BODY (a JSON object) with its top-level member KEY set to the integer VALUE: the value
 * replaced where KEY is, else the member added first; every other byte as it was. *RET is
 * new (caller frees). 0, -EINVAL (not an object), -ENOMEM. */
int request_set_int(const char *body, size_t len, const char *key, int64_t value, char **ret,
		    size_t *ret_len);

/* The inference call of FAMILY (its adapter's table; Vertex: none but the publisher-model
 * calls vertex.h reads) that METHOD PATH (LEN bytes, no query) is, or NULL. */
const struct provider_path *provider_inference_call(enum policy_api family, const char *method,
						    const char *path, size_t len);

/* The adapter of a family, and of a usage API. */
const struct provider_api *provider_api_of_family(enum policy_api family);
const struct provider_api *provider_api_of_usage(enum usage_api api);

/* The usage API of request target URL (a query string is ignored) and *RET its family's
 * adapter, or -1 (and *RET NULL) when no adapter serves that path. */
int provider_api_for_path(const char *url, const struct provider_api **ret);

/* The same, but only as a provider of FAMILY reads it: the adapter of FAMILY (Vertex: of
 * Anthropic or Gemini, whose calls Vertex serves), or -1 when that adapter does not read the
 * path. A captured call is read so: a Gemini- or Bedrock-shaped path sent to OpenAI is an
 * OpenAI path OpenAI does not serve, never a Gemini or Bedrock call with another's key. */
int provider_api_for_family_path(enum policy_api family, const char *url,
				 const struct provider_api **ret);

#endif
