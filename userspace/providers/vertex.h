/*
 * vertex: Google Cloud Vertex AI's publisher-model paths, as the gateway reads and makes them.
 *
 *   /v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}
 *
 * (v1beta1 too). Anthropic's models (publisher "anthropic") take the Messages API body with
 * "anthropic_version": "vertex-2023-10-16" and no "model" (the path names it) at :rawPredict,
 * and stream at :streamRawPredict; their answers are Anthropic's. Google's (publisher
 * "google", Gemini) take :generateContent, :streamGenerateContent and :countTokens.
 *
 * The path is read strictly: exact segments, a model of [A-Za-z0-9._@-] only, no escapes and
 * nothing after the method, so the model the gateway allows and prices is the one Vertex
 * serves. Pure string work; nothing here allocates but the bodies it returns.
 */
#ifndef AIGW_PROVIDERS_VERTEX_H
#define AIGW_PROVIDERS_VERTEX_H

#include <stddef.h>

#define VERTEX_ANTHROPIC_VERSION "vertex-2023-10-16"

enum vertex_kind {
	VERTEX_ANTHROPIC_RAW = 1,    /* :rawPredict */
	VERTEX_ANTHROPIC_STREAM,     /* :streamRawPredict */
	VERTEX_GEMINI_GENERATE,      /* :generateContent */
	VERTEX_GEMINI_STREAM,	     /* :streamGenerateContent */
	VERTEX_GEMINI_COUNT_TOKENS,  /* :countTokens */
};

struct vertex_call {
	enum vertex_kind kind;
	char project[128];
	char location[64];
	char model[128];
	char method[32]; /* "generateContent", ... as the path has it */
};

/* Where the Gemini API serves the call Vertex serves for a Gemini model: its canonical form,
 * as the gateway reads it ("/v1beta/models/{model}:{method}", gemini.h). */
#define VERTEX_GEMINI_API_MODELS "/v1beta/models/"

/* Reads request target URL (its query ignored). 0 and *RET; -ENOENT when it is no publisher
 * model call Vertex serves as the gateway knows them (a malformed or escaped one included). */
int vertex_path_parse(const char *url, struct vertex_call *ret);

/* The path of Anthropic model MODEL in PROJECT at LOCATION ("global" or a region), streamed
 * or not, into BUF (SIZE bytes): 0 or -ENOSPC. */
int vertex_anthropic_path(const char *project, const char *location, const char *model,
			  int stream, char *buf, size_t size);

/* Whether KIND is a Gemini model's call (Google's publisher), and its method's name. */
int vertex_kind_is_gemini(int kind);
const char *vertex_kind_method(int kind);

/* The path of Gemini model MODEL's METHOD in PROJECT at LOCATION, QUERY (the app's, from its
 * '?', or "") after it, into BUF (SIZE bytes): 0 or -ENOSPC. */
int vertex_gemini_path(const char *project, const char *location, const char *model,
		       const char *method, const char *query, char *buf, size_t size);

/* An Anthropic Messages body BODY (LEN bytes) as Vertex takes it: "model" gone,
 * "anthropic_version" set when absent. *RET is new (NUL-terminated, *RET_LEN; the caller
 * frees). 0, -EINVAL (not a JSON object), -ENOMEM. */
int vertex_anthropic_body(const char *body, size_t len, char **ret, size_t *ret_len);

#endif
