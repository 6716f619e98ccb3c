/* translate_util.c: see translate_util.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "providers/translate_json.h"
#include "providers/translate_util.h"

int translate_fail(struct translate_ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->rc)
		return c->rc;
	c->rc = rc;
	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void translate_note(struct translate_ctx *c, const char *note)
{
	size_t len;

	if (!c->notes || !c->noteslen || strstr(c->notes, note))
		return;
	len = strlen(c->notes);
	snprintf(c->notes + len, c->noteslen - len, "%s%s", len ? "; " : "", note);
}

int translate_status(const struct translate_ctx *c)
{
	if (c->rc)
		return c->rc;
	return c->oom ? -ENOMEM : 0;
}

const cJSON *translate_get(const cJSON *o, const char *key)
{
	const cJSON *v;

	if (!cJSON_IsObject(o))
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNull(v) ? NULL : v;
}

const char *translate_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(translate_get(o, key));
}

cJSON *translate_add(struct translate_ctx *c, cJSON *o, const char *key, cJSON *item)
{
	if (item && o && cJSON_AddItemToObject(o, key, item))
		return item;
	cJSON_Delete(item);
	c->oom = 1;
	return NULL;
}

cJSON *translate_push(struct translate_ctx *c, cJSON *a, cJSON *item)
{
	if (item && a && cJSON_AddItemToArray(a, item))
		return item;
	cJSON_Delete(item);
	c->oom = 1;
	return NULL;
}

cJSON *translate_dup(struct translate_ctx *c, const cJSON *v)
{
	cJSON *d = cJSON_Duplicate(v, 1);

	if (!d)
		c->oom = 1;
	return d;
}

cJSON *translate_typed(struct translate_ctx *c, const char *type)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "type", type)) {
		cJSON_Delete(o);
		c->oom = 1;
		return NULL;
	}
	return o;
}

cJSON *translate_parse_object(const char *in, size_t len)
{
	const char *end = NULL;
	cJSON *v;

	if (!in || !len)
		return NULL;
	v = cJSON_ParseWithLengthOpts(in, len, &end, 0);
	for (; v && end < in + len; end++)
		if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t')
			break;
	if (!cJSON_IsObject(v) || end < in + len) { /* not an object, or more after it */
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

char *translate_print(const cJSON *v, size_t *ret_len)
{
	char *s = cJSON_PrintUnformatted(v);

	if (s && ret_len)
		*ret_len = strlen(s);
	return s;
}

int translate_buf_grow(struct translate_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

void translate_buf_free(struct translate_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int translate_sse_json(struct translate_buf *b, const char *event, const cJSON *data)
{
	char *text = cJSON_PrintUnformatted(data);
	size_t old = b->len;
	int err = 0;

	if (!text)
		return -ENOMEM;
	if (event) {
		err |= translate_buf_add(b, "event: ", 7);
		err |= translate_buf_add(b, event, strlen(event));
		err |= translate_buf_add(b, "\n", 1);
	}
	err |= translate_buf_add(b, "data: ", 6);
	err |= translate_buf_add(b, text, strlen(text));
	err |= translate_buf_add(b, "\n\n", 2);
	free(text);
	if (err) {
		b->len = old; /* never half an event */
		return -ENOMEM;
	}
	return 0;
}

static unsigned long long fallback_random(void)
{
	static __thread unsigned long long x; /* each worker's own */

	if (!x)
		x = (unsigned long long)time(NULL) * 6364136223846793005ULL ^ (unsigned)getpid();
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

void translate_new_id(char *out, size_t cap, const char *prefix, size_t n)
{
	static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[64];
	size_t plen = strlen(prefix), i;

	if (n > sizeof(rnd))
		n = sizeof(rnd);
	if (plen + n + 1 > cap)
		n = cap > plen + 1 ? cap - plen - 1 : 0;
	if (getrandom(rnd, n, GRND_NONBLOCK) != (ssize_t)n)
		for (i = 0; i < n; i++)
			rnd[i] = (unsigned char)fallback_random();
	snprintf(out, cap, "%s", prefix);
	for (i = 0; i < n && plen + i + 1 < cap; i++)
		out[plen + i] = b62[rnd[i] % 62];
	if (plen + i < cap)
		out[plen + i] = '\0';
}

/* The base64url character standing for standard base64's C, or 0 when C is none of its
 * alphabet; and back (0 when C is not base64url's). */
static char sig_url_char(char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return c;
	return c == '+' ? '-' : c == '/' ? '_' : 0;
}

static char sig_std_char(char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return c;
	return c == '-' ? '+' : c == '_' ? '/' : 0;
}

int translate_sig_id_put(struct translate_buf *b, const char *sig, size_t len)
{
	size_t n = len, old = b->len, i;
	char id[32];
	int err;

	while (n && len - n < 2 && sig[n - 1] == '=')
		n--;
	if (!n || len % 4 || n > TRANSLATE_SIG_MAX)
		return -EINVAL; /* only padded base64 comes back exactly as it went */
	for (i = 0; i < n; i++)
		if (!sig_url_char(sig[i]))
			return -EINVAL;
	translate_new_id(id, sizeof(id), "call_", 24);
	err = translate_buf_add(b, id, strlen(id));
	err |= translate_buf_add(b, TRANSLATE_SIG_MARK, sizeof(TRANSLATE_SIG_MARK) - 1);
	err |= translate_buf_grow(b, n);
	if (err)
		return translate_buf_cut(b, old, err);
	for (i = 0; i < n; i++)
		b->data[b->len++] = sig_url_char(sig[i]);
	b->data[b->len] = '\0';
	return 0;
}

int translate_sig_from_id(const char *id, char **ret)
{
	const char *mark = strstr(id, TRANSLATE_SIG_MARK), *sig;
	size_t n, i;
	char *out;

	*ret = NULL;
	if (!mark)
		return 0;
	sig = mark + sizeof(TRANSLATE_SIG_MARK) - 1;
	n = strnlen(sig, TRANSLATE_SIG_MAX + 1);
	if (!n || n > TRANSLATE_SIG_MAX || n % 4 == 1)
		return -EINVAL;
	out = malloc(n + 3);
	if (!out)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (!(out[i] = sig_std_char(sig[i]))) {
			free(out);
			return -EINVAL;
		}
	for (; i % 4; i++)
		out[i] = '=';
	out[i] = '\0';
	*ret = out;
	return 0;
}

struct reason {
	const char *anthropic, *openai;
};

/* Anthropic -> OpenAI; the first row with an OpenAI reason is the way back. */
static const struct reason reasons[] = {
    {"end_turn", "stop"},
    {"max_tokens", "length"},
    {"tool_use", "tool_calls"},
    {"refusal", "content_filter"},
    {"stop_sequence", "stop"},
    {"pause_turn", "stop"},
    {"model_context_window_exceeded", "length"},
    {"tool_use", "function_call"},
};

const char *translate_finish_reason(const char *stop_reason)
{
	for (size_t i = 0; stop_reason && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(reasons[i].anthropic, stop_reason))
			return reasons[i].openai;
	return "stop";
}

const char *translate_stop_reason(const char *finish_reason)
{
	for (size_t i = 0; finish_reason && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(reasons[i].openai, finish_reason))
			return reasons[i].anthropic;
	return "end_turn";
}

const char *translate_finish_reason_gemini(const char *finish_reason)
{
	static const char *const filtered[] = {"SAFETY",	     "RECITATION", "BLOCKLIST",
					       "PROHIBITED_CONTENT", "SPII",	   "IMAGE_SAFETY",
					       "LANGUAGE",	     NULL};

	if (!finish_reason)
		return "stop";
	if (!strcmp(finish_reason, "MAX_TOKENS"))
		return "length";
	for (size_t i = 0; filtered[i]; i++)
		if (!strcmp(filtered[i], finish_reason))
			return "content_filter";
	return "stop";
}

/* A count from U's KEY into *V when it is one: a number not below zero. A negative zero reads
 * as 0: cJSON prints it "-0", which a strict decoder of a count refuses (serde_json reads it
 * as a float), and the stream translator writes 0 for it. */
static void take(const cJSON *u, const char *key, double *v)
{
	const cJSON *n = translate_get(u, key);

	if (cJSON_IsNumber(n) && n->valuedouble >= 0)
		*v = n->valuedouble > 0 ? n->valuedouble : 0;
}

void translate_usage_from_anthropic(const cJSON *u, struct translate_usage *t)
{
	take(u, "input_tokens", &t->input);
	take(u, "cache_creation_input_tokens", &t->cache_write);
	take(u, "cache_read_input_tokens", &t->cache_read);
	take(u, "output_tokens", &t->output);
}

void translate_usage_set_openai(struct translate_usage *t, double prompt, double cached)
{
	if (prompt < 0)
		return;
	if (cached > prompt)
		cached = prompt;
	t->input = prompt - cached;
	t->cache_read = cached;
	t->cache_write = 0;
}

void translate_usage_from_openai(const cJSON *u, struct translate_usage *t)
{
	double prompt = -1, cached = 0;

	take(u, "prompt_tokens", &prompt);
	take(translate_get(u, "prompt_tokens_details"), "cached_tokens", &cached);
	take(u, "completion_tokens", &t->output);
	translate_usage_set_openai(t, prompt, cached);
}

void translate_usage_set_gemini(struct translate_usage *t, double prompt, double tool_prompt,
				double cached, double candidates, double thoughts)
{
	translate_usage_set_openai(t, prompt + tool_prompt, cached);
	t->output = candidates + thoughts;
}

void translate_usage_from_gemini(const cJSON *u, struct translate_usage *t)
{
	double v[5] = {0};

	take(u, "promptTokenCount", &v[0]);
	take(u, "toolUsePromptTokenCount", &v[1]);
	take(u, "cachedContentTokenCount", &v[2]);
	take(u, "candidatesTokenCount", &v[3]);
	take(u, "thoughtsTokenCount", &v[4]);
	translate_usage_set_gemini(t, v[0], v[1], v[2], v[3], v[4]);
}

cJSON *translate_usage_openai(struct translate_ctx *c, const struct translate_usage *t)
{
	double prompt = t->input + t->cache_write + t->cache_read;
	cJSON *u = cJSON_CreateObject(), *d;

	translate_add(c, u, "prompt_tokens", cJSON_CreateNumber(prompt));
	translate_add(c, u, "completion_tokens", cJSON_CreateNumber(t->output));
	translate_add(c, u, "total_tokens", cJSON_CreateNumber(prompt + t->output));
	d = translate_add(c, u, "prompt_tokens_details", cJSON_CreateObject());
	translate_add(c, d, "cached_tokens", cJSON_CreateNumber(t->cache_read));
	if (!u)
		c->oom = 1;
	return u;
}

cJSON *translate_usage_anthropic(struct translate_ctx *c, const struct translate_usage *t)
{
	cJSON *u = cJSON_CreateObject();

	translate_add(c, u, "input_tokens", cJSON_CreateNumber(t->input));
	translate_add(c, u, "cache_creation_input_tokens", cJSON_CreateNumber(t->cache_write));
	translate_add(c, u, "cache_read_input_tokens", cJSON_CreateNumber(t->cache_read));
	translate_add(c, u, "output_tokens", cJSON_CreateNumber(t->output));
	if (!u)
		c->oom = 1;
	return u;
}

struct err_row {
	const char *anthropic;
	int a_status;
	const char *openai, *code;
	int o_status;
};

static const struct err_row err_rows[] = {
    {"invalid_request_error", 400, "invalid_request_error", NULL, 400},
    {"authentication_error", 401, "invalid_request_error", "invalid_api_key", 401},
    {"permission_error", 403, "invalid_request_error", NULL, 403},
    {"not_found_error", 404, "invalid_request_error", NULL, 404},
    {"request_too_large", 413, "invalid_request_error", NULL, 413},
    {"rate_limit_error", 429, "requests", "rate_limit_exceeded", 429},
    {"billing_error", 402, "insufficient_quota", "insufficient_quota", 429}, /* after 429 */
    {"api_error", 500, "server_error", NULL, 500},
    {"timeout_error", 504, "server_error", NULL, 504},
    {"overloaded_error", 529, "server_error", NULL, 503},
};
#define N_ERR_ROWS (sizeof(err_rows) / sizeof(err_rows[0]))

static const struct err_row *row_by_anthropic(const char *type)
{
	for (size_t i = 0; type && i < N_ERR_ROWS; i++)
		if (!strcmp(err_rows[i].anthropic, type))
			return &err_rows[i];
	return NULL;
}

static const struct err_row *row_by_status(int status, int anthropic)
{
	for (size_t i = 0; i < N_ERR_ROWS; i++)
		if ((anthropic ? err_rows[i].a_status : err_rows[i].o_status) == status)
			return &err_rows[i];
	if (status >= 400 && status < 500)
		return &err_rows[0];
	return row_by_anthropic("api_error");
}

const char *translate_openai_error_type(int status, const char *type, const char **ret_code,
					int *ret_status)
{
	const struct err_row *r = row_by_anthropic(type);

	if (!r)
		r = row_by_status(status, 1);
	*ret_code = r->code;
	if (!status || status == 529 || status == 402)
		*ret_status = r->o_status;
	else
		*ret_status = status; /* e.g. 503 api_error stays 503 */
	return r->openai;
}

static int eq(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* Mid-stream OpenAI errors have no status: judge by type and code. */
static const struct err_row *row_by_openai_type(const char *type, const char *code)
{
	if (eq(type, "insufficient_quota") || eq(code, "insufficient_quota"))
		return row_by_anthropic("billing_error");
	if (eq(code, "invalid_api_key"))
		return row_by_anthropic("authentication_error");
	if (eq(code, "rate_limit_exceeded") || eq(type, "requests") || eq(type, "tokens"))
		return row_by_anthropic("rate_limit_error");
	if (eq(type, "invalid_request_error"))
		return row_by_anthropic("invalid_request_error");
	return row_by_anthropic("api_error");
}

int translate_stream_error_status(const char *type, const char *code)
{
	const struct err_row *r = row_by_anthropic(type);

	return (r ? r : row_by_openai_type(type, code))->o_status;
}

const char *translate_anthropic_error_type(int status, const char *type, const char *code,
					   int *ret_status)
{
	const struct err_row *r;

	if (!status || eq(type, "insufficient_quota") || eq(code, "insufficient_quota"))
		r = row_by_openai_type(type, code);
	else
		r = row_by_status(status, 0);
	if (!status || status == 503 || r == row_by_anthropic("billing_error"))
		*ret_status = r->a_status;
	else
		*ret_status = status;
	return r->anthropic;
}

cJSON *translate_string_whole(const char *s, size_t n)
{
	struct translate_buf b = {0};
	cJSON *v;

	if (!memchr(s, '\0', n))
		return cJSON_CreateString(s);
	v = translate_json_put_bytes(&b, s, n) ? NULL : cJSON_CreateRaw(b.data);
	translate_buf_free(&b);
	return v;
}

cJSON *translate_error_object(struct translate_ctx *c, enum translate_api app, const char *type,
			      const char *code, const char *message)
{
	return translate_error_object_whole(c, app, type, code, message, strlen(message));
}

cJSON *translate_error_object_whole(struct translate_ctx *c, enum translate_api app,
				    const char *type, const char *code, const char *message,
				    size_t len)
{
	cJSON *o = cJSON_CreateObject(), *e;

	if (app == TRANSLATE_ANTHROPIC_MESSAGES) {
		translate_add(c, o, "type", cJSON_CreateString("error"));
		e = translate_add(c, o, "error", cJSON_CreateObject());
		translate_add(c, e, "type", cJSON_CreateString(type));
		translate_add(c, e, "message", translate_string_whole(message, len));
	} else {
		e = translate_add(c, o, "error", cJSON_CreateObject());
		translate_add(c, e, "message", translate_string_whole(message, len));
		translate_add(c, e, "type", cJSON_CreateString(type));
		translate_add(c, e, "param", cJSON_CreateNull());
		translate_add(c, e, "code", code ? cJSON_CreateString(code) : cJSON_CreateNull());
	}
	if (!o)
		c->oom = 1;
	return o;
}

int translate_buf_cut(struct translate_buf *b, size_t old, int err)
{
	if (!err)
		return 0;
	b->len = old;
	if (b->data)
		b->data[old] = '\0';
	return -ENOMEM;
}

int translate_sse_done(const char *data, size_t len)
{
	while (len && (data[len - 1] == ' ' || data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	return len == 6 && !memcmp(data, "[DONE]", 6);
}
