/*
 * usage: reads token counts from provider responses, whole or streamed, and asks OpenAI for
 * them in streamed chat requests (see usage.h).
 *
 * Owns the mapping from each provider's usage object to struct usage, the stream rules
 * (which events carry usage, which end a stream, which chunk the gateway suppresses) and
 * the byte-exact include_usage rewrite. JSON is read with cJSON; streamed events are parsed
 * only when they can matter (by event name, or a cheap look at the data), since most are
 * text deltas.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "providers/usage.h"

#define COUNT_MAX (1LL << 53) /* JSON numbers past this are not exact integers in cJSON */

/* Anthropic's own counts, as kept in usage_stream.raw[]. */
enum { RAW_IN, RAW_CACHE_WRITE, RAW_CACHE_READ, RAW_CACHE_WRITE_1H, RAW_OUT, RAW_N };

/* The names of one OpenAI usage shape. */
struct openai_names {
	const char *in, *out, *in_details, *out_details;
};

static const struct openai_names chat_names = {
    "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"};
static const struct openai_names responses_names = {
    "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"};

static const cJSON *item(const cJSON *obj, const char *key)
{
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(item(obj, key));
}

/* Copies SRC (NULL: "") into DST of SIZE bytes, cut to fit. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n;

	if (!dst || !size)
		return;
	n = src ? strlen(src) : 0;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* TEXT[0..LEN) as one JSON value and nothing but whitespace after it, or NULL. */
static cJSON *parse_json(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	if (!text || !len)
		return NULL;
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		return NULL;
	while (end < text + len && is_space(*end))
		end++;
	if (end != text + len) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* 1 and *V: KEY is a count; 0: absent or null; -EBADMSG: anything else. */
static int count(const cJSON *obj, const char *key, int64_t *v)
{
	const cJSON *it = item(obj, key);
	double d;

	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsNumber(it))
		return -EBADMSG;
	d = it->valuedouble;
	if (!(d >= 0 && d <= (double)COUNT_MAX) || (double)(int64_t)d != d)
		return -EBADMSG;
	*v = (int64_t)d;
	return 1;
}

/* The same for OBJ[DETAILS][KEY]; details that are not an object count as absent. */
static int sub_count(const cJSON *obj, const char *details, const char *key, int64_t *v)
{
	return count(item(obj, details), key, v);
}

static const char *const openai_standard_tiers[] = {"default", "auto", NULL};
static const char *const anthropic_standard_tiers[] = {"standard", NULL};

/* USAGE_UNPRICED_TIER when OBJ[KEY] names a tier not in STANDARD. */
static int tier_flag(const cJSON *obj, const char *const *standard)
{
	const char *t = str(obj, "service_tier");

	if (!t)
		return 0;
	for (; *standard; standard++)
		if (!strcmp(t, *standard))
			return 0;
	return USAGE_UNPRICED_TIER;
}

static int audio_flag(const cJSON *u, const struct openai_names *n)
{
	int64_t in = 0, out = 0;

	sub_count(u, n->in_details, "audio_tokens", &in);
	sub_count(u, n->out_details, "audio_tokens", &out);
	return in > 0 || out > 0 ? USAGE_UNPRICED_AUDIO : 0;
}

/* Reads an OpenAI usage object U into *OUT; the output count is required if WITH_OUTPUT. */
static int openai_usage(const cJSON *u, const struct openai_names *n, int with_output,
			struct usage *out)
{
	struct usage x = {0};
	int r;

	if (!cJSON_IsObject(u))
		return -ENOENT;
	r = count(u, n->in, &x.input);
	if (r <= 0)
		return -EBADMSG;
	r = count(u, n->out, &x.output);
	if (r < 0 || (with_output && !r))
		return -EBADMSG;
	if (sub_count(u, n->in_details, "cached_tokens", &x.cached_input) < 0 ||
	    sub_count(u, n->out_details, "reasoning_tokens", &x.reasoning) < 0)
		return -EBADMSG;
	if (x.cached_input > x.input || x.reasoning > x.output)
		return -EBADMSG;
	x.unpriced = audio_flag(u, n);
	x.known = USAGE_KNOWN_ALL;
	*out = x;
	return 0;
}

/* Reads the Anthropic counts U has into RAW, marking each one read in *GOT. */
static int anthropic_raw(const cJSON *u, int64_t raw[RAW_N], unsigned *got)
{
	static const char *const keys[RAW_N] = {"input_tokens", "cache_creation_input_tokens",
						"cache_read_input_tokens", NULL, "output_tokens"};
	int i, r;

	for (i = 0; i < RAW_N; i++) {
		if (i == RAW_CACHE_WRITE_1H)
			r = sub_count(u, "cache_creation", "ephemeral_1h_input_tokens", &raw[i]);
		else
			r = count(u, keys[i], &raw[i]);
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
	const cJSON *t = item(u, "server_tool_use"), *it;

	if (!cJSON_IsObject(t))
		return 0;
	cJSON_ArrayForEach(it, t)
	{
		if (cJSON_IsNumber(it) && it->valuedouble > 0)
			return USAGE_UNPRICED_TOOLS;
	}
	return 0;
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

static int anthropic_body(const cJSON *root, struct usage *u)
{
	const cJSON *uo = item(root, "usage");
	int64_t raw[RAW_N] = {0};
	unsigned got = 0;
	int err;

	if (!cJSON_IsObject(uo))
		return -ENOENT;
	err = anthropic_raw(uo, raw, &got);
	if (err)
		return err;
	if (!(got & (1u << RAW_IN)) || !(got & (1u << RAW_OUT)))
		return -EBADMSG;
	err = anthropic_derive(raw, u);
	if (err)
		return err;
	u->known = USAGE_KNOWN_ALL;
	u->unpriced = tier_flag(uo, anthropic_standard_tiers) | tools_flag(uo);
	return 0;
}

static int openai_body(const cJSON *root, const struct openai_names *n, int with_output,
		       struct usage *u)
{
	int err = openai_usage(item(root, "usage"), n, with_output, u);

	if (!err)
		u->unpriced |= tier_flag(root, openai_standard_tiers);
	return err;
}

int usage_from_body(enum usage_api api, const char *body, size_t len, struct usage *u, char *model,
		    size_t model_size)
{
	cJSON *root;
	int err;

	memset(u, 0, sizeof(*u));
	copy_str(model, model_size, NULL);
	root = parse_json(body, len);
	if (!cJSON_IsObject(root)) {
		err = -EBADMSG;
		goto out;
	}
	copy_str(model, model_size, str(root, "model"));
	switch (api) {
	case USAGE_API_OPENAI_CHAT:
		err = openai_body(root, &chat_names, 1, u);
		break;
	case USAGE_API_OPENAI_RESPONSES:
		err = openai_body(root, &responses_names, 1, u);
		break;
	case USAGE_API_OPENAI_EMBEDDINGS:
		err = openai_body(root, &chat_names, 0, u);
		break;
	case USAGE_API_ANTHROPIC_MESSAGES:
		err = anthropic_body(root, u);
		break;
	default:
		err = -EINVAL;
	}
out:
	cJSON_Delete(root);
	if (err)
		memset(u, 0, sizeof(*u));
	return err;
}

const char *usage_end_name(enum usage_end end)
{
	switch (end) {
	case USAGE_END_OK:
		return "ok";
	case USAGE_END_INCOMPLETE:
		return "incomplete";
	case USAGE_END_ERROR:
		return "error";
	default:
		return "none";
	}
}

/* ---- streams ---- */

void usage_stream_init(struct usage_stream *s, enum usage_api api, unsigned flags)
{
	memset(s, 0, sizeof(*s));
	s->api = api;
	s->flags = flags;
}

/* The first final event wins; WHY (NULL: "") says what kind of end, when not a good one. */
static void set_end(struct usage_stream *s, enum usage_end end, const char *why)
{
	if (s->end != USAGE_END_NONE)
		return;
	s->end = end;
	copy_str(s->error_type, sizeof(s->error_type), why);
}

static void take_model(struct usage_stream *s, const cJSON *obj)
{
	if (!s->model[0])
		copy_str(s->model, sizeof(s->model), str(obj, "model"));
}

static int has(const char *data, size_t len, const char *needle)
{
	return memmem(data, len, needle, strlen(needle)) != NULL;
}

static int has_any(const char *data, size_t len, const char *const *needles)
{
	for (; *needles; needles++)
		if (has(data, len, *needles))
			return 1;
	return 0;
}

static int is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

/* Whether DATA has a member "usage" whose value is an object (not the usual null). */
static int has_usage_object(const char *data, size_t len)
{
	const char *end = data + len, *p = data, *q;

	while ((q = memmem(p, end - p, "\"usage\"", 7))) {
		q += 7;
		while (q < end && is_space(*q))
			q++;
		if (q < end && *q == ':') {
			q++;
			while (q < end && is_space(*q))
				q++;
			if (q < end && *q == '{')
				return 1;
		}
		p = q;
	}
	return 0;
}

/* "error": {"type": ..., "code": ...} or {"type":"error","code":...}: the best name. */
static const char *error_kind(const cJSON *e, const char *fallback)
{
	const char *k = str(e, "type");

	if (!k || !strcmp(k, "error"))
		k = str(e, "code");
	return k && *k ? k : fallback;
}

static int chat_event(struct usage_stream *s, const char *data, size_t len)
{
	const cJSON *u, *e, *choices;
	struct usage x;
	cJSON *root;
	int drop = 0;

	if (len == 6 && !memcmp(data, "[DONE]", 6)) {
		set_end(s, USAGE_END_OK, NULL);
		return USAGE_EVENT_FORWARD;
	}
	if (s->model[0] && !has_usage_object(data, len) && !has(data, len, "\"error\""))
		return USAGE_EVENT_FORWARD;
	root = parse_json(data, len);
	if (!cJSON_IsObject(root)) {
		s->unparsed++;
		goto out;
	}
	take_model(s, root);
	e = item(root, "error");
	if (cJSON_IsObject(e)) {
		set_end(s, USAGE_END_ERROR, error_kind(e, "error"));
		goto out;
	}
	u = item(root, "usage");
	if (!cJSON_IsObject(u))
		goto out;
	if (openai_usage(u, &chat_names, 1, &x)) {
		s->unparsed++;
		goto out;
	}
	x.unpriced |= tier_flag(root, openai_standard_tiers);
	s->usage = x;
	choices = item(root, "choices");
	drop = (s->flags & USAGE_STREAM_SUPPRESS_USAGE_CHUNK) && cJSON_IsArray(choices) &&
	       !cJSON_GetArraySize(choices);
out:
	cJSON_Delete(root);
	if (drop)
		s->dropped++;
	return drop ? USAGE_EVENT_DROP : USAGE_EVENT_FORWARD;
}

static const char *const responses_events[] = {"response.created",
					       "response.in_progress",
					       "response.completed",
					       "response.incomplete",
					       "response.failed",
					       "error",
					       NULL};
static const char *const responses_hints[] = {"response.created",
					      "response.in_progress",
					      "response.completed",
					      "response.incomplete",
					      "response.failed",
					      "\"error\"",
					      NULL};

/* The usage in a Responses event's "response", when it has one. */
static void responses_usage(struct usage_stream *s, const cJSON *resp)
{
	const cJSON *u = item(resp, "usage");
	struct usage x;

	if (!cJSON_IsObject(u))
		return;
	if (openai_usage(u, &responses_names, 1, &x)) {
		s->unparsed++;
		return;
	}
	x.unpriced |= tier_flag(resp, openai_standard_tiers);
	s->usage = x;
}

static void responses_typed(struct usage_stream *s, const char *type, const cJSON *root)
{
	const cJSON *resp = item(root, "response");
	const char *why;

	take_model(s, resp);
	if (!strcmp(type, "response.completed")) {
		responses_usage(s, resp);
		set_end(s, USAGE_END_OK, NULL);
	} else if (!strcmp(type, "response.incomplete")) {
		responses_usage(s, resp);
		why = str(item(resp, "incomplete_details"), "reason");
		set_end(s, USAGE_END_INCOMPLETE, why ? why : "incomplete");
	} else if (!strcmp(type, "response.failed")) {
		responses_usage(s, resp);
		set_end(s, USAGE_END_ERROR, error_kind(item(resp, "error"), "response.failed"));
	} else if (!strcmp(type, "error")) {
		why = error_kind(root, NULL);
		set_end(s, USAGE_END_ERROR, why ? why : error_kind(item(root, "error"), "error"));
	}
}

static int responses_event(struct usage_stream *s, const char *event, const char *data, size_t len)
{
	const char *type;
	cJSON *root;

	if (event ? !is_one_of(event, responses_events) : !has_any(data, len, responses_hints))
		return USAGE_EVENT_FORWARD;
	root = parse_json(data, len);
	if (!cJSON_IsObject(root)) {
		s->unparsed++;
		goto out;
	}
	type = str(root, "type");
	if (!type)
		type = event;
	if (type)
		responses_typed(s, type, root);
out:
	cJSON_Delete(root);
	return USAGE_EVENT_FORWARD;
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
	x.unpriced = s->usage.unpriced | tier_flag(u, anthropic_standard_tiers) | tools_flag(u);
	memcpy(s->raw, raw, sizeof(raw));
	s->raw_seen |= got;
	s->usage = x;
}

static int anthropic_event(struct usage_stream *s, const char *event, const char *data, size_t len)
{
	const char *type;
	const cJSON *msg;
	cJSON *root;

	if (event ? !is_one_of(event, anthropic_events) : !has_any(data, len, anthropic_hints))
		return USAGE_EVENT_FORWARD;
	if (event && !strcmp(event, "message_stop")) {
		set_end(s, USAGE_END_OK, NULL);
		return USAGE_EVENT_FORWARD;
	}
	root = parse_json(data, len);
	if (!cJSON_IsObject(root)) {
		s->unparsed++;
		goto out;
	}
	type = str(root, "type");
	if (!type)
		type = event ? event : "";
	if (!strcmp(type, "message_start")) {
		msg = item(root, "message");
		take_model(s, msg);
		anthropic_apply(s, item(msg, "usage"), 0);
	} else if (!strcmp(type, "message_delta")) {
		anthropic_apply(s, item(root, "usage"), 1);
	} else if (!strcmp(type, "message_stop")) {
		set_end(s, USAGE_END_OK, NULL);
	} else if (!strcmp(type, "error")) {
		set_end(s, USAGE_END_ERROR, error_kind(item(root, "error"), "error"));
	}
out:
	cJSON_Delete(root);
	return USAGE_EVENT_FORWARD;
}

int usage_stream_event(struct usage_stream *s, const char *event, const char *data, size_t data_len)
{
	if (!s || !data)
		return USAGE_EVENT_FORWARD;
	s->events++;
	switch (s->api) {
	case USAGE_API_OPENAI_CHAT:
		return chat_event(s, data, data_len);
	case USAGE_API_OPENAI_RESPONSES:
		return responses_event(s, event, data, data_len);
	case USAGE_API_ANTHROPIC_MESSAGES:
		return anthropic_event(s, event, data, data_len);
	default:
		return USAGE_EVENT_FORWARD;
	}
}

/* ---- the include_usage rewrite ---- */

/* Where a member of an object is in the text: its key (quotes included) and its value. */
struct member {
	size_t key, key_end, value, value_end;
};

static size_t skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && is_space(s[i]))
		i++;
	return i;
}

/* From the opening quote at I to just past the closing one. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

/* From the value's first byte at I to just past its last. The text is valid JSON. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	if (i < len && s[i] == '"')
		return skip_string(s, len, i);
	if (i < len && s[i] != '{' && s[i] != '[') {
		while (i < len && !is_space(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
			i++;
		return i;
	}
	while (i < len) {
		if (s[i] == '"') {
			i = skip_string(s, len, i);
			continue;
		}
		if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return len;
}

/* Whether the JSON string RAW (N bytes, quotes included) is KEY once unescaped. */
static int key_is(const char *raw, size_t n, const char *key)
{
	cJSON *k;
	int eq;

	if (!memchr(raw, '\\', n))
		return n == strlen(key) + 2 && !memcmp(raw + 1, key, n - 2);
	k = cJSON_ParseWithLength(raw, n);
	eq = cJSON_IsString(k) && !strcmp(k->valuestring, key);
	cJSON_Delete(k);
	return eq;
}

/* Finds the first member KEY of the object whose '{' is at OBJ, as cJSON does. */
static int find_member(const char *s, size_t len, size_t obj, const char *key, struct member *m)
{
	size_t i = skip_ws(s, len, obj + 1);

	while (i < len && s[i] == '"') {
		m->key = i;
		m->key_end = skip_string(s, len, i);
		i = skip_ws(s, len, m->key_end);
		if (i >= len || s[i] != ':')
			return 0;
		m->value = skip_ws(s, len, i + 1);
		m->value_end = skip_value(s, len, m->value);
		if (key_is(s + m->key, m->key_end - m->key, key))
			return 1;
		i = skip_ws(s, len, m->value_end);
		if (i >= len || s[i] != ',')
			return 0;
		i = skip_ws(s, len, i + 1);
	}
	return 0;
}

/* *RET = BODY with [AT, CUT) replaced by INS. */
static int splice(const char *body, size_t len, size_t at, size_t cut, const char *ins, char **ret,
		  size_t *ret_len)
{
	size_t n = strlen(ins), total = at + n + (len - cut);
	char *out = malloc(total + 1);

	if (!out)
		return -ENOMEM;
	memcpy(out, body, at);
	memcpy(out + at, ins, n);
	memcpy(out + at + n, body + cut, len - cut);
	out[total] = '\0';
	*ret = out;
	*ret_len = total;
	return 1;
}

/* The rewrite, on text cJSON accepted as the object ROOT whose '{' is at OBJ. */
static int ask_usage(const char *body, size_t len, size_t obj, const cJSON *root, char **ret,
		     size_t *ret_len)
{
	const cJSON *opts = item(root, "stream_options");
	struct member so, iu;
	size_t in;

	if (!opts)
		return splice(body, len, obj + 1, obj + 1,
			      "\"stream_options\":{\"include_usage\":true},", ret, ret_len);
	if (!find_member(body, len, obj, "stream_options", &so))
		return 0;
	if (cJSON_IsNull(opts))
		return splice(body, len, so.value, so.value_end, "{\"include_usage\":true}", ret,
			      ret_len);
	if (!cJSON_IsObject(opts) || cJSON_IsTrue(item(opts, "include_usage")))
		return 0;
	if (find_member(body, len, so.value, "include_usage", &iu))
		return splice(body, len, iu.value, iu.value_end, "true", ret, ret_len);
	in = so.value + 1;
	obj = skip_ws(body, len, in);
	if (obj < len && body[obj] == '}')
		return splice(body, len, in, in, "\"include_usage\":true", ret, ret_len);
	return splice(body, len, in, in, "\"include_usage\":true,", ret, ret_len);
}

int usage_want_include_usage(const char *body, size_t len, char **ret, size_t *ret_len)
{
	cJSON *root;
	size_t obj;
	int r = 0;

	*ret = NULL;
	*ret_len = 0;
	root = parse_json(body, len);
	if (!cJSON_IsObject(root) || !cJSON_IsTrue(item(root, "stream")))
		goto out;
	obj = len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3) ? 3 : 0; /* cJSON skips a BOM */
	obj = skip_ws(body, len, obj);
	if (obj < len && body[obj] == '{')
		r = ask_usage(body, len, obj, root, ret, ret_len);
out:
	cJSON_Delete(root);
	return r;
}
