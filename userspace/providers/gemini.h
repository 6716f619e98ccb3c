/*
 * gemini: Google's Gemini API (generativelanguage.googleapis.com) as the gateway reads it, in
 * pieces that do not depend on where the call was made, so that Vertex AI's Gemini models
 * (publishers/google/models/M:generateContent) reuse them:
 *
 *   - a call is "models/{model}:{method}" under "/v1beta/" or "/v1/": the model is in the
 *     path, not the body. The methods: generateContent, streamGenerateContent (server-sent
 *     events with ?alt=sse; without it, one JSON array streamed), countTokens, embedContent.
 *   - the key comes in the x-goog-api-key header or the "key" query parameter.
 *   - usage is the answer's "usageMetadata" (each streamed chunk may carry one; the last is
 *     the final word). Google's documentation of its counts:
 *       promptTokenCount         every prompt token; "when cachedContent is set, this is still
 *                                the total effective prompt size", cached tokens INCLUDED
 *       cachedContentTokenCount  of the prompt, the part read from the (implicit or explicit)
 *                                cache
 *       toolUsePromptTokenCount  tokens of the tool-use prompt(s), NOT in promptTokenCount
 *       candidatesTokenCount     tokens of the generated candidates, thoughts NOT included
 *       thoughtsTokenCount       tokens of a thinking model's thoughts, billed as output
 *       totalTokenCount          prompt + tool-use prompt + candidates + thoughts
 *     So, normalised as usage.h says: input = prompt + tool-use prompt, cached_input =
 *     cached content, output = candidates + thoughts, reasoning = thoughts.
 *
 * Nothing here allocates but the strings it says it returns (the caller frees).
 */
#ifndef AIGW_PROVIDERS_GEMINI_H
#define AIGW_PROVIDERS_GEMINI_H

#include <stddef.h>

#include "providers/usage.h"

struct cJSON;

#define GEMINI_MODEL_MAX 128 /* a model name longer than this is no model the gateway reads */

/* Google's status name of HTTP STATUS, as its APIs' error bodies say it (the gateway's own
 * refusals and a Gemini app's translated errors). */
static inline const char *gemini_status_name(int status)
{
	switch (status) {
	case 400:
	case 413:
		return "INVALID_ARGUMENT";
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 502:
	case 503:
		return "UNAVAILABLE";
	case 504:
		return "DEADLINE_EXCEEDED";
	}
	return "INTERNAL";
}

/* The usage API of Gemini method METHOD (its N bytes: "generateContent", ...), or -1. */
int gemini_method_api(const char *method, size_t n);

/* The method name of usage API API ("generateContent"), or NULL when it is not Gemini's. */
const char *gemini_api_method(enum usage_api api);

/*
 * "{model}:{method}" (the N bytes of CALL, the path after ".../models/"): the usage API of the
 * method and the model into MODEL (SIZE bytes). A model is letters, digits, '.', '-' and
 * '_', and does not start with '.'; one colon, a known method, nothing after it. Anything
 * else (an escape, a '/', a second colon, "..") is -1: the gateway cannot say which model
 * such a path names, and must not guess what the provider would decode it to.
 */
int gemini_call_parse(const char *call, size_t n, char *model, size_t size);

/* The usage in usageMetadata object UM into *U (known: all). 0, or -EBADMSG (a count that
 * is not a non-negative integer, or cached content larger than the prompt). */
int gemini_usage_metadata(const struct cJSON *um, struct usage *u);

/*
 * Request target TARGET (path and query) without the app's credentials in its query: every
 * parameter whose name, percent-decoded ('+' as a space) and with blanks around it dropped,
 * is "key" or "access_token" in any case, wherever and however often it comes; every other
 * byte as it was. Returns 1 and *RET (new, the caller frees) when one was dropped, 0 (*RET
 * NULL) when there was none, -ENOMEM.
 */
int gemini_query_strip_key(const char *target, char **ret);

/*
 * Request target TARGET of a call of usage API API with only the query parameters
 * gemini_query_check() lets through (the app's credentials, for gemini_query_strip_key();
 * the first alt=sse of a stream), every byte of those as it was: what the endpoint stage's
 * roll-out mode forwards, so that a parameter the gateway does not read never changes the
 * answer it meters. Returns 1 and *RET (new, the caller frees) when one was dropped, 0 (*RET
 * NULL) when there was none, -ENOMEM.
 */
int gemini_query_keep_read(enum usage_api api, const char *target, char **ret);

/* TARGET's query has a credential (as gemini_query_strip_key() reads names). */
int gemini_query_has_key(const char *target);

/*
 * The query of a Gemini model's call of usage API API, at any door (the Gemini API, Vertex,
 * the explicit endpoint): QUERY from its '?', or "". Returns 1 when it asks for server-sent
 * events (alt=sse, once, on streamGenerateContent), else 0; the app's credentials ("key",
 * "access_token") pass here, for gemini_query_strip_key() to drop when the gateway's goes.
 * Every other parameter is -EINVAL with its name (printable bytes only) in BAD (BADLEN bytes;
 * 0: none): alt=json on a stream (the answer would not be the events usage is read from), alt
 * twice, alt on another call, "$alt", an encoded "alt", "fields" (strips usageMetadata),
 * "prettyPrint", a second '?'. A parameter the gateway does not read may change the answer it
 * reads, and dropping it would change the app's call behind its back.
 */
int gemini_query_check(enum usage_api api, const char *query, char *bad, size_t badlen);

/* Request target URL (a Gemini call: "/v1beta/models/M:method?query") asking for MODEL
 * instead of M, every other byte as it was: 0 and *RET (new, the caller frees), -EINVAL (URL
 * is no Gemini call), -ENOMEM. */
int gemini_retarget(const char *url, const char *model, char **ret);

/* The path of a call the gateway makes itself (a translated one) to MODEL at a provider whose
 * API root is ROOT (api_path.h; its "/v1" is the host's root): ".../v1beta/models/MODEL:
 * generateContent", or with STREAM ":streamGenerateContent?alt=sse". Into BUF (SIZE bytes):
 * 0, -ENOSPC, or -EINVAL when MODEL is no model name such a path can carry. */
int gemini_call_path(const char *root, const char *model, int stream, char *buf, size_t size);

#endif
