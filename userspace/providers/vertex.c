/*
 * vertex.c: Vertex AI publisher-model paths read and built, and the Anthropic body made
 * Vertex's (see vertex.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "providers/vertex.h"

static const struct {
	const char *publisher, *method;
	enum vertex_kind kind;
} vertex_methods[] = {
    {"anthropic", "rawPredict", VERTEX_ANTHROPIC_RAW},
    {"anthropic", "streamRawPredict", VERTEX_ANTHROPIC_STREAM},
    {"google", "generateContent", VERTEX_GEMINI_GENERATE},
    {"google", "streamGenerateContent", VERTEX_GEMINI_STREAM},
    {"google", "countTokens", VERTEX_GEMINI_COUNT_TOKENS},
};

/* Copies the segment at *P (up to '/', ':' or END) into BUF when it is 1..SIZE-1 bytes of
 * names' characters; *P moves past it. */
static int segment(const char **p, const char *end, char *buf, size_t size, int model)
{
	size_t n = 0;

	for (const char *s = *p; s < end && *s != '/' && *s != ':'; s++, n++) {
		char c = *s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '-' || c == '_' || c == '.' || (model && c == '@');

		if (!ok || n + 1 >= size)
			return -ENOENT;
		buf[n] = c;
	}
	if (!n || (n == 1 && buf[0] == '.') || (n == 2 && !strncmp(buf, "..", 2)))
		return -ENOENT;
	buf[n] = 0;
	*p += n;
	return 0;
}

/* Consumes the literal LIT at *P. */
static int literal(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || strncmp(*p, lit, n))
		return -ENOENT;
	*p += n;
	return 0;
}

int vertex_path_parse(const char *url, struct vertex_call *ret)
{
	const char *p = url, *end = url + strcspn(url, "?");
	char publisher[32];

	if (literal(&p, end, "/v1/") && literal(&p, end, "/v1beta1/"))
		return -ENOENT;
	if (literal(&p, end, "projects/") ||
	    segment(&p, end, ret->project, sizeof(ret->project), 0) ||
	    literal(&p, end, "/locations/") ||
	    segment(&p, end, ret->location, sizeof(ret->location), 0) ||
	    literal(&p, end, "/publishers/") || segment(&p, end, publisher, sizeof(publisher), 0) ||
	    literal(&p, end, "/models/") || segment(&p, end, ret->model, sizeof(ret->model), 1) ||
	    literal(&p, end, ":") ||
	    segment(&p, end, ret->method, sizeof(ret->method), 0) || p != end)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(vertex_methods) / sizeof(vertex_methods[0]); i++) {
		if (!strcmp(publisher, vertex_methods[i].publisher) &&
		    !strcmp(ret->method, vertex_methods[i].method)) {
			ret->kind = vertex_methods[i].kind;
			return 0;
		}
	}
	return -ENOENT;
}

int vertex_anthropic_path(const char *project, const char *location, const char *model,
			  int stream, char *buf, size_t size)
{
	int n = snprintf(buf, size, "/v1/projects/%s/locations/%s/publishers/anthropic/models/%s:%s",
			 project, location, model, stream ? "streamRawPredict" : "rawPredict");

	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int vertex_kind_is_gemini(int kind)
{
	return kind == VERTEX_GEMINI_GENERATE || kind == VERTEX_GEMINI_STREAM ||
	       kind == VERTEX_GEMINI_COUNT_TOKENS;
}

const char *vertex_kind_method(int kind)
{
	for (size_t i = 0; i < sizeof(vertex_methods) / sizeof(vertex_methods[0]); i++)
		if ((int)vertex_methods[i].kind == kind)
			return vertex_methods[i].method;
	return NULL;
}

int vertex_gemini_path(const char *project, const char *location, const char *model,
		       const char *method, const char *query, char *buf, size_t size)
{
	int n = snprintf(buf, size, "/v1/projects/%s/locations/%s/publishers/google/models/%s:%s%s",
			 project, location, model, method, query);

	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int vertex_anthropic_body(const char *body, size_t len, char **ret, size_t *ret_len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	char *text;

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
	if (!cJSON_GetObjectItemCaseSensitive(root, "anthropic_version") &&
	    !cJSON_AddStringToObject(root, "anthropic_version", VERTEX_ANTHROPIC_VERSION)) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return -ENOMEM;
	*ret = text;
	*ret_len = strlen(text);
	return 0;
}
