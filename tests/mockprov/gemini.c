// SPDX-License-Identifier: MIT
/*
 * mockprov Gemini: Google's Gemini API under /v1beta/models/{model}:{method} (and /v1/):
 * generateContent, streamGenerateContent (with ?alt=sse server-sent events "data: {...}\r\n\r\n",
 * one chunk per word, each with the usageMetadata so far and the last with finishReason;
 * without it, one JSON array streamed), countTokens and embedContent. The model is the
 * path's; the key comes in x-goog-api-key or ?key=. Errors are
 * {"error":{"code","message","status"}}. usageMetadata: promptTokenCount includes
 * cachedContentTokenCount (x-mock-cache-read); thoughtsTokenCount (x-mock-thoughts: N) is
 * apart from candidatesTokenCount, as Google counts them. Fault "blocked": the prompt is blocked
 * by the safety filters (promptFeedback.blockReason, no candidates); "filtered": the answer is
 * (one candidate with finishReason SAFETY and no content); both 200s, whole or one chunk.
 * A forced function call (toolConfig mode ANY, or x-mock-tool-call; toolcall.c): the answer is
 * that functionCall part with its thoughtSignature, whole or one chunk. As Gemini 3 does, a
 * gemini-3* model refuses (400 INVALID_ARGUMENT) a request whose current turn has a model step
 * whose first functionCall part lacks the signature the mock issued with it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock.h"

static const char *const methods[] = {"generateContent", "streamGenerateContent", "countTokens",
				      "embedContent", NULL};

int gemini_route(struct call *c, const char *path)
{
	static const char *const roots[] = {"/v1beta/models/", "/v1/models/", NULL};
	const char *colon;
	size_t r = 0, m;

	for (int i = 0; roots[i] && !r; i++)
		if (!strncmp(path, roots[i], strlen(roots[i])))
			r = strlen(roots[i]);
	if (!r || !(colon = strchr(path + r, ':')))
		return 0;
	m = (size_t)(colon - path - r);
	if (!m || m >= sizeof(c->path_model))
		return 0;
	for (int i = 0; methods[i]; i++) {
		if (strcmp(colon + 1, methods[i]))
			continue;
		memcpy(c->path_model, path + r, m);
		c->path_model[m] = '\0';
		c->gemini_method = i;
		c->prov = PROV_GEMINI;
		return 1;
	}
	return 0;
}

static const char *status_name(int status)
{
	switch (status) {
	case 400:
		return "INVALID_ARGUMENT";
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 503:
		return "UNAVAILABLE";
	}
	return "INTERNAL";
}

void gemini_error_body(struct evbuffer *b, int status, const char *msg)
{
	evbuffer_add_printf(b, "{\n  \"error\": {\n    \"code\": %d,\n    \"message\": ", status);
	json_str(b, msg);
	evbuffer_add_printf(b, ",\n    \"status\": \"%s\"\n  }\n}\n", status_name(status));
}

void gemini_headers(struct call *c, struct evkeyvalq *h)
{
	evhttp_add_header(h, "Server", "scaffolding on HTTPServer2");
	evhttp_add_header(h, "Vary", "Origin");
}

/* The app's key: x-goog-api-key, or a "key" query parameter. */
static int has_key(struct call *c)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));
	const char *k = hdr(c, "x-goog-api-key");

	if (k && *k)
		return 1;
	for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : "")
		if (!strncmp(p, "key=", 4))
			return 1;
	return 0;
}

static const cJSON *field(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* Words of every text part of contents[] (and the system instruction). */
static int prompt_words(struct call *c, uint64_t *seed)
{
	const cJSON *contents = field(c->body, "contents"), *it;
	int n = count_content_words(field(field(c->body, "systemInstruction"), "parts"), seed);

	if (cJSON_IsString(contents))
		return n + count_words(contents->valuestring, seed);
	cJSON_ArrayForEach(it, contents)
	{
		n += count_content_words(field(it, "parts"), seed);
	}
	return n;
}

static int alt_sse(struct call *c)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));

	return q && strstr(q, "alt=sse");
}

/* usageMetadata after OUT reply words (thoughts come with the last chunk). */
static void usage(struct call *c, struct evbuffer *b, int out, int last)
{
	int thoughts = last ? hdr_int(c, "x-mock-thoughts", 0, 0, 1 << 30) : 0;
	int prompt = c->in_tokens + c->cache_read;

	evbuffer_add_printf(b, "\"usageMetadata\": {\"promptTokenCount\": %d, "
			       "\"candidatesTokenCount\": %d, \"totalTokenCount\": %d",
			    prompt, out, prompt + out + thoughts);
	if (c->cache_read)
		evbuffer_add_printf(b, ", \"cachedContentTokenCount\": %d", c->cache_read);
	if (thoughts)
		evbuffer_add_printf(b, ", \"thoughtsTokenCount\": %d", thoughts);
	evbuffer_add_printf(b, ", \"promptTokensDetails\": [{\"modality\": \"TEXT\", "
			       "\"tokenCount\": %d}]}",
			    prompt);
}

/* One GenerateContentResponse: the text (all of it, or word I), and from the last on its
 * finish reason. */
static void response(struct call *c, struct evbuffer *b, int i, int last)
{
	int out = i < 0 ? c->out_words : i + 1;

	evbuffer_add_printf(b, "{\"candidates\": [{\"content\": {\"parts\": [");
	if (toolcall_name(c)) {
		out = toolcall_gemini_part(c, b);
	} else {
		evbuffer_add_printf(b, "{\"text\": \"");
		if (i < 0)
			answer_text(c, b);
		else
			answer_delta(c, b, i);
		evbuffer_add_printf(b, "\"}");
	}
	evbuffer_add_printf(b, "], \"role\": \"model\"}");
	if (last)
		evbuffer_add_printf(b, ", \"finishReason\": \"%s\"",
				    c->truncated ? "MAX_TOKENS" : "STOP");
	evbuffer_add_printf(b, ", \"index\": 0}], ");
	usage(c, b, out, last);
	evbuffer_add_printf(b, ", \"modelVersion\": ");
	json_str(b, c->path_model);
	evbuffer_add_printf(b, ", \"responseId\": \"%s\"}", c->id);
}

/* A blocked answer (faults "blocked", "filtered"), as Google sends one: no text, the prompt's
 * usage only, the safety rating that blocked it. */
static void blocked(struct call *c, struct evbuffer *b)
{
	static const char rating[] = "\"safetyRatings\": [{\"category\": "
				     "\"HARM_CATEGORY_DANGEROUS_CONTENT\", \"probability\": \"HIGH\", "
				     "\"blocked\": true}]";
	int prompt = c->in_tokens + c->cache_read;

	if (c->fault.mode == FAULT_BLOCKED)
		evbuffer_add_printf(b, "{\"promptFeedback\": {\"blockReason\": \"SAFETY\", %s}, ",
				    rating);
	else
		evbuffer_add_printf(b, "{\"candidates\": [{\"finishReason\": \"SAFETY\", \"index\": 0, "
				       "%s}], ",
				    rating);
	evbuffer_add_printf(b, "\"usageMetadata\": {\"promptTokenCount\": %d, \"totalTokenCount\": %d}"
			       ", \"modelVersion\": ",
			    prompt, prompt);
	json_str(b, c->path_model);
	evbuffer_add_printf(b, ", \"responseId\": \"%s\"}", c->id);
}

static int is_blocked(const struct call *c)
{
	return c->fault.mode == FAULT_BLOCKED || c->fault.mode == FAULT_FILTERED;
}

/* One chunk a word, or a blocked answer's one chunk. */
static int stream(struct call *c)
{
	struct evbuffer *b = evbuffer_new();
	int sse = alt_sse(c), err = !b;
	int chunks = is_blocked(c) || toolcall_name(c) ? 1 : c->out_words;

	for (int i = 0; !err && i < chunks; i++) {
		int last = i == chunks - 1;
		char *text;
		size_t n;

		evbuffer_add_printf(b, sse ? "data: " : i ? ",\r\n" : "[");
		if (is_blocked(c))
			blocked(c, b);
		else
			response(c, b, toolcall_name(c) ? -1 : i, last); /* a call comes whole */
		evbuffer_add_printf(b, sse ? "\r\n\r\n" : last ? "]" : "");
		n = evbuffer_get_length(b);
		text = malloc(n + 1);
		if (!text) {
			err = 1;
			break;
		}
		evbuffer_remove(b, text, n);
		text[n] = '\0';
		err = sse_raw(c, text) < 0;
		free(text);
	}
	if (b)
		evbuffer_free(b);
	if (err) {
		reply_error(c, 500, "INTERNAL", "out of memory", NULL, NULL);
		return CALL_DONE;
	}
	c->stream_ctype = sse ? "text/event-stream" : "application/json; charset=UTF-8";
	return stream_start(c);
}

static int whole(struct call *c, void (*write)(struct call *, struct evbuffer *))
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		reply_error(c, 500, "INTERNAL", "out of memory", NULL, NULL);
		return CALL_DONE;
	}
	write(c, b);
	evbuffer_add(b, "\n", 1);
	reply_send(c, 200, "OK", b, "application/json; charset=UTF-8");
	evbuffer_free(b);
	return CALL_DONE;
}

static void write_generate(struct call *c, struct evbuffer *b)
{
	response(c, b, -1, 1);
}

static void write_count(struct call *c, struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"totalTokens\": %d, \"promptTokensDetails\": [{\"modality\": "
			       "\"TEXT\", \"tokenCount\": %d}]}",
			    c->in_tokens, c->in_tokens);
}

static void write_embedding(struct call *c, struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"embedding\": {\"values\": [0.013, -0.008, 0.021, 0.004]}}");
}

int gemini_call(struct call *c)
{
	if (g_cfg.require_auth && !has_key(c)) {
		reply_error(c, 403, "PERMISSION_DENIED",
			    "Method doesn't allow unregistered callers (callers without established "
			    "identity). Please use API Key or other form of API consumer identity to "
			    "call this API.",
			    NULL, NULL);
		return CALL_DONE;
	}
	return gemini_answer(c);
}

/* Whether functionCall part P of a model turn carries the signature the mock issued with it. */
static int signature_ok(const cJSON *p)
{
	const char *name = cJSON_GetStringValue(field(field(p, "functionCall"), "name"));
	const char *sig = cJSON_GetStringValue(field(p, "thoughtSignature"));
	struct evbuffer *b = evbuffer_new();
	int ok = 0;

	if (b && name && sig) {
		toolcall_gemini_signature(b, name);
		ok = evbuffer_get_length(b) == strlen(sig) &&
		     !memcmp(evbuffer_pullup(b, -1), sig, strlen(sig));
	}
	if (b)
		evbuffer_free(b);
	return ok;
}

/* The first functionCall part of TURN, or NULL. */
static const cJSON *first_call(const cJSON *turn)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, field(turn, "parts"))
	{
		if (field(p, "functionCall"))
			return p;
	}
	return NULL;
}

/* Gemini 3 (a model gemini-3*): in the current turn (since the user's last text), the first
 * functionCall part of each model step must carry the thoughtSignature it came with; else a
 * 400, as Google words it. Returns 1 when it refused. */
static int signatures_refused(struct call *c)
{
	const cJSON *contents = field(c->body, "contents"), *turn, *current = NULL, *p, *q;
	char msg[320];

	if (strncmp(c->path_model, "gemini-3", 8) || !cJSON_IsArray(contents))
		return 0;
	cJSON_ArrayForEach(turn, contents)
	{
		const char *role = cJSON_GetStringValue(field(turn, "role"));

		cJSON_ArrayForEach(p, field(turn, "parts"))
		{
			if (role && !strcmp(role, "user") && field(p, "text"))
				current = turn;
		}
	}
	for (turn = current ? current->next : contents->child; turn; turn = turn->next) {
		if (!(p = first_call(turn)) || signature_ok(p))
			continue;
		q = field(p, "thoughtSignature");
		snprintf(msg, sizeof(msg),
			 q ? "Corrupted thought signature."
			   : "Function call is missing a thought_signature in functionCall parts. "
			     "This is required for tools to work correctly, and missing "
			     "thought_signature may lead to degraded model performance. Additional "
			     "data, function call `default_api:%.60s` , position %d.",
			 cJSON_GetStringValue(field(field(p, "functionCall"), "name")) ?: "",
			 cJSON_GetArraySize(contents));
		reply_error(c, 400, "INVALID_ARGUMENT", msg, NULL, NULL);
		return 1;
	}
	return 0;
}

int gemini_answer(struct call *c)
{
	const cJSON *cfg;
	uint64_t seed = 0;
	int words;

	if (!cJSON_IsObject(c->body)) {
		reply_error(c, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.", NULL,
			    NULL);
		return CALL_DONE;
	}
	if (signatures_refused(c))
		return CALL_DONE;
	words = c->gemini_method == 3 ? count_content_words(field(field(c->body, "content"),
								   "parts"),
							     &seed)
				      : prompt_words(c, &seed);
	cfg = field(c->body, "generationConfig");
	if (call_plan(c, words, seed, field(cfg, "maxOutputTokens"), NULL))
		return CALL_DONE;
	gen_id(c->id, sizeof(c->id), "", 22, &c->rng);
	if (is_blocked(c) && c->gemini_method == 0)
		return whole(c, blocked);
	switch (c->gemini_method) {
	case 1:
		return stream(c);
	case 2:
		return whole(c, write_count);
	case 3:
		return whole(c, write_embedding);
	}
	return whole(c, write_generate);
}
