/*
 * gemini.c: the adapter for Google's Gemini API: its paths (the model is in them), its
 * x-goog-api-key header and "key" query parameter, its error format
 * ({"error": {"code", "message", "status"}}), and its usage (usageMetadata; each streamed
 * chunk may carry one and the last is final). See gemini.h for the counts, api.h for the
 * interface.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "providers/api.h"
#include "providers/gemini.h"
#include "providers/sse.h"
#include "providers/usage_int.h"
#include "util/jsonw.h"

static const struct {
	const char *method;
	enum usage_api api;
} gemini_methods[] = {
    {"generateContent", USAGE_API_GEMINI_GENERATE},
    {"streamGenerateContent", USAGE_API_GEMINI_STREAM},
    {"countTokens", USAGE_API_GEMINI_COUNT_TOKENS},
    {"embedContent", USAGE_API_GEMINI_EMBED},
};

#define N_METHODS (sizeof(gemini_methods) / sizeof(gemini_methods[0]))

/* The roots of the Gemini API's calls: "/v1beta/models/" and "/v1/models/". */
static const char *const gemini_roots[] = {"/v1beta/models/", "/v1/models/", NULL};

int gemini_method_api(const char *method, size_t n)
{
	for (size_t i = 0; i < N_METHODS; i++)
		if (strlen(gemini_methods[i].method) == n && !strncmp(method, gemini_methods[i].method, n))
			return gemini_methods[i].api;
	return -1;
}

const char *gemini_api_method(enum usage_api api)
{
	for (size_t i = 0; i < N_METHODS; i++)
		if (gemini_methods[i].api == api)
			return gemini_methods[i].method;
	return NULL;
}

static int model_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

int gemini_call_parse(const char *call, size_t n, char *model, size_t size)
{
	size_t m = 0;

	while (m < n && model_char(call[m]))
		m++;
	if (!m || m >= n || call[m] != ':' || call[0] == '.' || m >= GEMINI_MODEL_MAX)
		return -1;
	if (model) {
		if (m >= size)
			return -1;
		memcpy(model, call, m);
		model[m] = '\0';
	}
	return gemini_method_api(call + m + 1, n - m - 1);
}

/* The length of the root of PATH ("/v1beta/models/"), or 0. */
static size_t gemini_root_len(const char *path, size_t n)
{
	for (size_t i = 0; gemini_roots[i]; i++) {
		size_t r = strlen(gemini_roots[i]);

		if (n > r && !strncmp(path, gemini_roots[i], r))
			return r;
	}
	return 0;
}

/* ---- usage ---- */

/* Audio in the prompt is priced apart from text (Gemini 2.5 Flash: $1.00 against $0.30). */
static int gemini_audio_flag(const cJSON *um)
{
	const cJSON *d = json_item(um, "promptTokensDetails"), *it;

	if (!cJSON_IsArray(d))
		return 0;
	cJSON_ArrayForEach(it, d)
	{
		const char *mod = json_str(it, "modality");
		const cJSON *n = json_item(it, "tokenCount");

		if (mod && !strcmp(mod, "AUDIO") && cJSON_IsNumber(n) && n->valuedouble > 0)
			return USAGE_UNPRICED_AUDIO;
	}
	return 0;
}

int gemini_usage_metadata(const cJSON *um, struct usage *u)
{
	static const char *const keys[] = {"promptTokenCount", "toolUsePromptTokenCount",
					   "cachedContentTokenCount", "candidatesTokenCount",
					   "thoughtsTokenCount"};
	int64_t v[5] = {0};

	for (size_t i = 0; i < 5; i++)
		if (json_count(um, keys[i], &v[i]) < 0)
			return -EBADMSG;
	if (v[2] > v[0])
		return -EBADMSG;
	memset(u, 0, sizeof(*u));
	u->input = v[0] + v[1];
	u->cached_input = v[2];
	u->output = v[3] + v[4];
	u->reasoning = v[4];
	u->known = USAGE_KNOWN_ALL;
	u->unpriced = gemini_audio_flag(um);
	return 0;
}

/* A whole answer: generateContent's and embedContent's usageMetadata; countTokens answers
 * with a count of what a call would take, no usage of its own. */
static int gemini_usage_body(enum usage_api api, const cJSON *root, struct usage *u)
{
	const cJSON *um = json_item(root, "usageMetadata");

	if (!gemini_api_method(api))
		return -EINVAL;
	if (api == USAGE_API_GEMINI_COUNT_TOKENS || !cJSON_IsObject(um))
		return -ENOENT;
	return gemini_usage_metadata(um, u);
}

/* The finish reason of the first candidate of chunk ROOT, or the reason its prompt was blocked
 * (promptFeedback.blockReason: no candidate comes then, and the chunk is the last), or NULL. */
static const char *gemini_finish_reason(const cJSON *root)
{
	const cJSON *c = json_item(root, "candidates");

	if (cJSON_IsArray(c))
		return json_str(cJSON_GetArrayItem(c, 0), "finishReason");
	return json_str(json_item(root, "promptFeedback"), "blockReason");
}

/*
 * One chunk of an alt=sse stream: unnamed events, each a GenerateContentResponse. A chunk's
 * usageMetadata replaces the one before (its counts are totals so far); the chunk with a
 * finish reason (or a blocked prompt's blockReason) is the last, and its usage final. An
 * {"error": {...}} chunk ends a stream badly.
 */
static int gemini_usage_event(struct usage_stream *s, const char *event, const char *data,
			      size_t len)
{
	const cJSON *um, *err;
	const char *finish;
	struct usage x;
	cJSON *root;

	(void)event;
	if (!text_has(data, len, "usageMetadata") && !text_has(data, len, "finishReason") &&
	    !text_has(data, len, "blockReason") && !text_has(data, len, "\"error\""))
		return USAGE_EVENT_FORWARD;
	root = json_parse(data, len);
	if (!cJSON_IsObject(root)) {
		s->unparsed++;
		goto out;
	}
	err = json_item(root, "error");
	if (cJSON_IsObject(err)) {
		const char *status = json_str(err, "status");

		stream_set_end(s, USAGE_END_ERROR, status ? status : "error");
		goto out;
	}
	um = json_item(root, "usageMetadata");
	if (cJSON_IsObject(um)) {
		if (gemini_usage_metadata(um, &x)) {
			s->unparsed++;
		} else {
			x.known = USAGE_KNOWN_INPUT;
			s->usage = x;
		}
	}
	finish = gemini_finish_reason(root);
	if (finish && *finish) {
		s->usage.known = USAGE_KNOWN_ALL;
		stream_set_end(s, USAGE_END_OK, NULL);
	}
out:
	cJSON_Delete(root);
	return USAGE_EVENT_FORWARD;
}

/* ---- the key in the query ---- */

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether query parameter name NAME (N bytes, as sent) reads as WANT (at most 15 bytes):
 * percent-decoded, '+' as a space, blanks around it dropped, in any case. */
static int query_name_is(const char *name, size_t n, const char *want)
{
	char out[16];
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)name[i];

		if (c == '%' && i + 2 < n && hex_val(name[i + 1]) >= 0 && hex_val(name[i + 2]) >= 0) {
			c = hex_val(name[i + 1]) << 4 | hex_val(name[i + 2]);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c <= ' ' && !o) /* blanks and control bytes before the name */
			continue;
		if (o == sizeof(out))
			return 0;
		out[o++] = (char)c;
	}
	while (o && (unsigned char)out[o - 1] <= ' ')
		o--;
	return o == strlen(want) && !strncasecmp(out, want, o);
}

/* The parameter of query Q that starts at I: where it ends (*END: '&' or the NUL) and how
 * long its name is. */
static size_t next_param(const char *q, size_t i, size_t *end, size_t *name_len)
{
	size_t e = i;

	while (q[e] && q[e] != '&')
		e++;
	*end = e;
	*name_len = strcspn(q + i, "=&");
	if (i + *name_len > e)
		*name_len = e - i;
	return e;
}

/* A credential of the app's: Google's APIs read "key" and "access_token" from the query. */
static int name_is_credential(const char *name, size_t n)
{
	return query_name_is(name, n, "key") || query_name_is(name, n, "access_token");
}

int gemini_query_has_key(const char *target)
{
	const char *q = strchr(target, '?');
	size_t i, end, nl;

	if (!q)
		return 0;
	for (i = 1; q[i - 1]; i = end + 1) {
		next_param(q, i, &end, &nl);
		if (name_is_credential(q + i, nl))
			return 1;
		if (!q[end])
			break;
	}
	return 0;
}

/* Whether the parameter P (N bytes, its name NL) stays in the query a filter writes. */
typedef int (*query_keep_fn)(const char *p, size_t n, size_t nl, void *arg);

/* TARGET with every parameter KEEP refuses dropped, every other byte as it was: 1 and *RET
 * (new, the caller frees) when one was dropped, 0 (*RET NULL) when none was, -ENOMEM. */
static int query_filter(const char *target, query_keep_fn keep, void *arg, char **ret)
{
	const char *q = strchr(target, '?');
	size_t path = q ? (size_t)(q - target) : 0, i, end, nl, o;
	char *out;
	int dropped = 0;

	*ret = NULL;
	if (!q)
		return 0;
	out = malloc(strlen(target) + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, target, path);
	o = path;
	for (i = 1; ; i = end + 1) {
		next_param(q, i, &end, &nl);
		if (!keep(q + i, end - i, nl, arg)) {
			dropped = 1;
		} else if (end > i) {
			out[o] = o == path ? '?' : '&';
			o++;
			memcpy(out + o, q + i, end - i);
			o += end - i;
		}
		if (!q[end])
			break;
	}
	out[o] = '\0';
	if (!dropped) {
		free(out);
		return 0;
	}
	*ret = out;
	return 1;
}

static int keep_not_credential(const char *p, size_t n, size_t nl, void *arg)
{
	(void)n;
	(void)arg;
	return !name_is_credential(p, nl);
}

int gemini_query_strip_key(const char *target, char **ret)
{
	*ret = NULL;
	if (!gemini_query_has_key(target))
		return 0;
	return query_filter(target, keep_not_credential, NULL, ret);
}

/* What gemini_query_check() lets through: a credential, and on a stream its first alt=sse
 * (*ARG: the API, and whether one was kept). */
struct keep_read {
	enum usage_api api;
	int sse;
};

static int keep_read(const char *p, size_t n, size_t nl, void *arg)
{
	struct keep_read *k = arg;

	if (!n) /* "&&": nothing to write, nothing dropped */
		return 1;
	if (memchr(p, '?', n))
		return 0;
	if (name_is_credential(p, nl))
		return 1;
	if (k->api == USAGE_API_GEMINI_STREAM && !k->sse && n == 7 && !strncmp(p, "alt=sse", 7))
		return k->sse = 1;
	return 0;
}

int gemini_query_keep_read(enum usage_api api, const char *target, char **ret)
{
	struct keep_read k = {api, 0};

	return query_filter(target, keep_read, &k, ret);
}

/* BAD (BADLEN bytes, or none) names query parameter NAME (N bytes): its printable bytes. */
static int query_refuse(const char *name, size_t n, char *bad, size_t badlen)
{
	size_t o = 0;

	if (!badlen)
		return -EINVAL;
	for (size_t i = 0; i < n && o + 1 < badlen; i++)
		bad[o++] = name[i] > ' ' && name[i] < 127 ? name[i] : '?';
	bad[o] = '\0';
	return -EINVAL;
}

int gemini_query_check(enum usage_api api, const char *query, char *bad, size_t badlen)
{
	const char *q = query[0] == '?' ? query + 1 : query;
	size_t i, end, nl;
	int sse = 0;

	for (i = 0; q[i]; i = q[end] ? end + 1 : end) {
		next_param(q, i, &end, &nl);
		if (end == i)
			continue;
		if (memchr(q + i, '?', end - i)) /* "?a?alt=json": read one way here, another there */
			return query_refuse(q + i, end - i, bad, badlen);
		if (name_is_credential(q + i, nl)) /* gemini_query_strip_key() drops it */
			continue;
		if (api == USAGE_API_GEMINI_STREAM && !sse && end - i == 7 &&
		    !strncmp(q + i, "alt=sse", 7)) {
			sse = 1;
			continue;
		}
		return query_refuse(q + i, nl ? nl : end - i, bad, badlen);
	}
	return sse;
}

/* ---- the adapter ---- */

static int gemini_path_api(const char *path, size_t n)
{
	size_t r = gemini_root_len(path, n);

	return r ? gemini_call_parse(path + r, n - r, NULL, 0) : -1;
}

static int gemini_path_model(const char *path, size_t n, char *model, size_t size)
{
	size_t r = gemini_root_len(path, n);

	return r && gemini_call_parse(path + r, n - r, model, size) >= 0 ? 1 : 0;
}

/* {"error": {"code", "message", "status"}}, as Google's APIs answer. */
static char *gemini_error_body(int status, const char *kind, const char *message,
			       size_t *ret_len)
{
	struct jsonw *e = jsonw_new(), *w;
	size_t len;
	char *inner;

	(void)kind;
	if (!e)
		return NULL;
	jsonw_num(e, "code", status);
	jsonw_str(e, "message", message);
	jsonw_str(e, "status", gemini_status_name(status));
	inner = jsonw_finish(e, &len);
	if (!inner || !(w = jsonw_new())) {
		free(inner);
		return NULL;
	}
	jsonw_raw(w, "error", inner, len);
	free(inner);
	return jsonw_finish(w, ret_len);
}

static char *gemini_error_event(enum usage_api api, const char *message, size_t *ret_len)
{
	size_t len;
	char *body = gemini_error_body(502, NULL, message, &len), *out;

	(void)api;
	out = body ? sse_event_text(NULL, body, ret_len) : NULL;
	free(body);
	return out;
}

static const struct provider_path gemini_inference[] = {
    /* the calls are read by path_api (models/{model}:{method}); these list models */
    {"GET", "/v1beta/models", 0},
    {"GET", "/v1beta/models/*", 0},
    {"GET", "/v1/models", 0},
    {"GET", "/v1/models/*", 0},
};

const struct provider_api provider_gemini = {
    .family = POLICY_API_GEMINI,
    .name = "gemini",
    .chat_path = NULL, /* the model is in the path: gemini_retarget() */
    .chat_api = USAGE_API_GEMINI_GENERATE,
    .translate = TRANSLATE_GEMINI_GENERATE, /* both ways: OpenAI and Anthropic apps, and theirs */
    .key_header = "x-goog-api-key",
    .key_prefix = "",
    .path_api = gemini_path_api,
    .inference = gemini_inference,
    .n_inference = sizeof(gemini_inference) / sizeof(gemini_inference[0]),
    .path_model = gemini_path_model,
    .query_check = gemini_query_check,
    .usage_body = gemini_usage_body,
    .usage_body_keys = (const char *const[]){"usageMetadata", NULL},
    .usage_event = gemini_usage_event,
    .error_body = gemini_error_body,
    .error_event = gemini_error_event,
};

int gemini_retarget(const char *url, const char *model, char **ret)
{
	size_t n = strcspn(url, "?"), r = gemini_root_len(url, n), m;

	*ret = NULL;
	if (!r || gemini_call_parse(url + r, n - r, NULL, 0) < 0)
		return -EINVAL;
	m = strcspn(url + r, ":");
	if (asprintf(ret, "%.*s%s%s", (int)r, url, model, url + r + m) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

int gemini_call_path(const char *root, const char *model, int stream, char *buf, size_t size)
{
	size_t r = strlen(root), n;
	int len;

	if (r >= 3 && !strcmp(root + r - 3, "/v1"))
		r -= 3; /* the gateway's "/v1" root stands for the host's root here */
	len = snprintf(buf, size, "%.*s/v1beta/models/%s:%s", (int)r, root, model,
		       stream ? "streamGenerateContent?alt=sse" : "generateContent");
	if (len < 0 || (size_t)len >= size)
		return -ENOSPC;
	n = strcspn(buf + r, "?");
	return gemini_path_api(buf + r, n) < 0 ? -EINVAL : 0;
}
