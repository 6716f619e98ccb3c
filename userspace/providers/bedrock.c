/*
 * bedrock.c: Bedrock runtime paths and usage (see bedrock.h). Converse counts and the
 * invocation metrics are read here; an Anthropic body or event, whole or decoded from a
 * chunk's base64, goes to the Anthropic adapter's reader (usage.h), so both doors to the
 * same model count alike.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "providers/api.h"
#include "providers/bedrock.h"
#include "providers/usage_int.h"
#include "util/hex.h"
#include "util/jsonw.h"

static const struct {
	const char *name;
	enum bedrock_op op;
} bedrock_ops[] = {
    {"converse", BEDROCK_CONVERSE},
    {"converse-stream", BEDROCK_CONVERSE_STREAM},
    {"invoke", BEDROCK_INVOKE},
    {"invoke-with-response-stream", BEDROCK_INVOKE_STREAM},
};

static int model_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_' || c == ':' || c == '/';
}

/* Decodes the segment S[0..N) into OUT[BEDROCK_MODEL_MAX], checking every byte. */
static int decode_model_id(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int b = hex_byte(s + i + 1, n - i - 1);

			if (b < 0)
				return -EINVAL;
			c = (char)b;
			i += 2;
		}
		if (!model_char_ok(c) || o + 1 >= BEDROCK_MODEL_MAX)
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	for (const char *seg = out;; seg++) { /* no empty, "." or ".." segment */
		size_t len = strcspn(seg, "/");

		if (!len || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return -EINVAL;
		seg += len;
		if (!*seg)
			return 0;
	}
}

/* The model an id names: an ARN's resource id for a foundation model or inference profile. */
static void model_of_id(const char *id, char *model)
{
	const char *slash = strrchr(id, '/');

	if (!strncmp(id, "arn:", 4) && slash &&
	    (strstr(id, ":foundation-model/") || strstr(id, ":inference-profile/")))
		id = slash + 1;
	copy_str(model, BEDROCK_MODEL_MAX, id);
}

int bedrock_parse_path(const char *path, size_t len, struct bedrock_path *ret)
{
	const char *id = path + 7, *slash, *op;
	size_t op_len;

	if (len < 7 || memcmp(path, "/model/", 7))
		return -ENOENT;
	slash = memrchr(id, '/', len - 7);
	if (!slash)
		return -ENOENT;
	op = slash + 1;
	op_len = len - (size_t)(op - path);
	for (size_t i = 0; i < sizeof(bedrock_ops) / sizeof(bedrock_ops[0]); i++) {
		if (strlen(bedrock_ops[i].name) != op_len || memcmp(bedrock_ops[i].name, op, op_len))
			continue;
		ret->op = bedrock_ops[i].op;
		ret->model[0] = ret->model_id[0] = '\0';
		if (decode_model_id(id, (size_t)(slash - id), ret->model_id)) {
			ret->model_id[0] = '\0';
			return -EINVAL;
		}
		model_of_id(ret->model_id, ret->model);
		return 0;
	}
	return -ENOENT;
}

int bedrock_host(const char *host)
{
	static const char suffix[] = ".amazonaws.com";
	size_t n = host ? strlen(host) : 0, s = sizeof(suffix) - 1;
	const char *region;

	if (n <= s || strcasecmp(host + n - s, suffix))
		return 0;
	if (!strncasecmp(host, "bedrock-runtime.", 16))
		region = host + 16;
	else if (!strncasecmp(host, "bedrock-runtime-fips.", 21))
		region = host + 21;
	else
		return 0;
	if (region >= host + n - s)
		return 0;
	for (const char *p = region; p < host + n - s; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	return 1;
}

int bedrock_usage_api(enum bedrock_op op)
{
	switch (op) {
	case BEDROCK_CONVERSE:
		return USAGE_API_BEDROCK_CONVERSE;
	case BEDROCK_CONVERSE_STREAM:
		return USAGE_API_BEDROCK_CONVERSE_STREAM;
	case BEDROCK_INVOKE:
		return USAGE_API_BEDROCK_INVOKE;
	case BEDROCK_INVOKE_STREAM:
		return USAGE_API_BEDROCK_INVOKE_STREAM;
	}
	return -1;
}

int bedrock_api_op(enum usage_api api)
{
	switch (api) {
	case USAGE_API_BEDROCK_CONVERSE:
		return BEDROCK_CONVERSE;
	case USAGE_API_BEDROCK_CONVERSE_STREAM:
		return BEDROCK_CONVERSE_STREAM;
	case USAGE_API_BEDROCK_INVOKE:
		return BEDROCK_INVOKE;
	case USAGE_API_BEDROCK_INVOKE_STREAM:
		return BEDROCK_INVOKE_STREAM;
	default:
		return -1;
	}
}

/* ---- usage ---- */

/* Converse's TokenUsage (or the invocation metrics, with KEYS naming theirs) into *U. */
static int counts_usage(const cJSON *o, const char *const keys[4], struct usage *u)
{
	int64_t v[4] = {0};
	int r, got = 0;

	if (!cJSON_IsObject(o))
		return -ENOENT;
	for (int i = 0; i < 4; i++) {
		r = json_count(o, keys[i], &v[i]);
		if (r < 0)
			return r;
		got |= r << i;
	}
	if ((got & 3) != 3)
		return -EBADMSG;
	memset(u, 0, sizeof(*u));
	u->input = v[0] + v[2] + v[3];
	u->output = v[1];
	u->cached_input = v[2];
	u->cache_write = v[3];
	u->known = USAGE_KNOWN_ALL;
	return 0;
}

static const char *const converse_keys[4] = {"inputTokens", "outputTokens",
					     "cacheReadInputTokens", "cacheWriteInputTokens"};
static const char *const metrics_keys[4] = {"inputTokenCount", "outputTokenCount",
					    "cacheReadInputTokenCount",
					    "cacheWriteInputTokenCount"};

int bedrock_converse_usage(const char *body, size_t len, struct usage *u)
{
	cJSON *root = json_parse(body, len);
	int err = cJSON_IsObject(root) ? counts_usage(json_item(root, "usage"), converse_keys, u)
				       : -EBADMSG;

	cJSON_Delete(root);
	if (err)
		memset(u, 0, sizeof(*u));
	return err;
}

static int header_count(const char *s, int64_t *v)
{
	char *end;
	long long n;

	if (!s || !*s)
		return -ENOENT;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end || n < 0 || s[0] == '-' || s[0] == '+')
		return -EBADMSG;
	*v = n;
	return 0;
}

/* *U from two counts the body gave (IN, OUT; no cache counts in these families). */
static int two_counts(int64_t in, int64_t out, struct usage *u)
{
	memset(u, 0, sizeof(*u));
	u->input = in;
	u->output = out;
	u->known = USAGE_KNOWN_ALL;
	return 0;
}

/* Meta Llama: {"generation", "prompt_token_count", "generation_token_count", ...}. */
static int llama_usage(const cJSON *root, struct usage *u)
{
	int64_t in, out;
	int a = json_count(root, "prompt_token_count", &in);
	int b = json_count(root, "generation_token_count", &out);

	if (a < 0 || b < 0)
		return -EBADMSG;
	if (!a && !b)
		return -ENOENT;
	return a && b ? two_counts(in, out, u) : -EBADMSG;
}

/* Amazon Titan text: {"inputTextTokenCount", "results": [{"tokenCount", ...}, ...]}. */
static int titan_usage(const cJSON *root, struct usage *u)
{
	const cJSON *results = json_item(root, "results"), *r;
	int64_t in, out = 0, n;
	int a = json_count(root, "inputTextTokenCount", &in);

	if (a <= 0)
		return a < 0 ? -EBADMSG : -ENOENT;
	if (!cJSON_IsArray(results))
		return -EBADMSG;
	cJSON_ArrayForEach(r, results) {
		if (json_count(r, "tokenCount", &n) != 1)
			return -EBADMSG;
		out += n;
	}
	return two_counts(in, out, u);
}

/* The usage an InvokeModel body of a family other than Anthropic's states: Amazon Nova's
 * "usage" (Converse's names), Meta Llama's and Amazon Titan text's counts. Mistral's and
 * Cohere's bodies state none (the count headers do). */
static int family_usage(const cJSON *root, struct usage *u)
{
	int err = counts_usage(json_item(root, "usage"), converse_keys, u);

	if (err == -ENOENT || err == -EBADMSG)
		err = llama_usage(root, u);
	if (err == -ENOENT)
		err = titan_usage(root, u);
	return err;
}

int bedrock_invoke_usage(const char *body, size_t len, const char *in, const char *out,
			 struct usage *u)
{
	int64_t i, o;
	int err;

	err = usage_from_body(USAGE_API_BEDROCK_INVOKE, body, len, u, NULL, 0);
	if (err != -ENOENT && err != -EBADMSG)
		return err;
	memset(u, 0, sizeof(*u));
	err = header_count(in, &i);
	if (!err)
		err = header_count(out, &o);
	if (err)
		return err;
	u->input = i;
	u->output = o;
	u->known = USAGE_KNOWN_ALL;
	return 0;
}

/* ---- streams ---- */

static void stream_error(struct bedrock_stream *s, const struct evstream_str *why)
{
	size_t n = why->len < USAGE_ERROR_MAX - 1 ? why->len : USAGE_ERROR_MAX - 1;

	s->exception = 1;
	memcpy(s->error, why->p ? why->p : "", n);
	s->error[n] = '\0';
}

/* {"bytes": base64} of a chunk: the family's event, decoded into a new buffer. */
static unsigned char *chunk_bytes(const cJSON *root, size_t *ret_len)
{
	const char *b64 = json_str(root, "bytes");
	size_t n = b64 ? strlen(b64) : 0;
	unsigned char *out;
	int len;

	if (!n || n % 4 || n > (1u << 26))
		return NULL;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	if (len < 0) {
		free(out);
		return NULL;
	}
	len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
	out[len] = '\0';
	*ret_len = (size_t)len;
	return out;
}

unsigned char *bedrock_chunk_event(const void *payload, size_t len, size_t *ret_len)
{
	cJSON *root = json_parse(payload, len);
	unsigned char *bytes = cJSON_IsObject(root) ? chunk_bytes(root, ret_len) : NULL;

	cJSON_Delete(root);
	return bytes;
}

static void on_invoke_chunk(struct bedrock_stream *s, const struct evstream_msg *m)
{
	cJSON *ev = NULL;
	unsigned char *bytes = NULL;
	size_t n = 0;

	bytes = bedrock_chunk_event(m->payload, m->payload_len, &n);
	if (!bytes) {
		s->unparsed++;
		goto out;
	}
	usage_stream_event(&s->anthropic, NULL, (const char *)bytes, n);
	if (text_has((const char *)bytes, n, "amazon-bedrock-invocationMetrics")) {
		ev = json_parse((const char *)bytes, n);
		if (!counts_usage(json_item(ev, "amazon-bedrock-invocationMetrics"), metrics_keys,
				  &s->usage))
			s->metrics = 1;
	}
out:
	cJSON_Delete(ev);
	free(bytes);
}

static void on_converse_event(struct bedrock_stream *s, const struct evstream_msg *m)
{
	static const char metadata[] = "metadata";
	cJSON *root;

	if (m->event_type.len != sizeof(metadata) - 1 ||
	    memcmp(m->event_type.p, metadata, sizeof(metadata) - 1))
		return;
	root = json_parse((const char *)m->payload, m->payload_len);
	if (!counts_usage(json_item(root, "usage"), converse_keys, &s->usage))
		s->metrics = 1;
	else
		s->unparsed++;
	cJSON_Delete(root);
}

static int on_message(void *arg, const struct evstream_msg *m)
{
	struct bedrock_stream *s = arg;
	const struct evstream_str *t = &m->message_type;

	if (s->forward)
		s->forward(s->forward_arg, m->raw, m->total_len);
	if (t->len == 9 && !memcmp(t->p, "exception", 9)) {
		stream_error(s, &m->exception_type);
		return 0;
	}
	if (t->len == 5 && !memcmp(t->p, "error", 5)) {
		stream_error(s, &m->error_code);
		return 0;
	}
	if (s->op == BEDROCK_INVOKE_STREAM)
		on_invoke_chunk(s, m);
	else
		on_converse_event(s, m);
	return 0;
}

void bedrock_stream_init(struct bedrock_stream *s, enum bedrock_op op)
{
	memset(s, 0, sizeof(*s));
	s->op = op;
	evstream_parser_init(&s->parser, 0, on_message, s);
	usage_stream_init(&s->anthropic, USAGE_API_ANTHROPIC_MESSAGES, 0);
}

void bedrock_stream_free(struct bedrock_stream *s)
{
	if (s)
		evstream_parser_free(&s->parser);
}

int bedrock_stream_feed(struct bedrock_stream *s, const void *data, size_t len)
{
	return evstream_feed(&s->parser, data, len);
}

int bedrock_stream_end(struct bedrock_stream *s, struct usage *u)
{
	memset(u, 0, sizeof(*u));
	if (s->parser.err)
		return s->parser.err;
	if (evstream_pending(&s->parser))
		return -EPIPE;
	if (s->exception)
		return -EPROTO;
	if (s->op == BEDROCK_INVOKE_STREAM && s->anthropic.usage.known == USAGE_KNOWN_ALL) {
		*u = s->anthropic.usage;
		return 0;
	}
	if (!s->metrics)
		return -ENOENT;
	*u = s->usage;
	return 0;
}

/* ---- the adapter (api.h) ---- */

static int bedrock_path_api(const char *path, size_t len)
{
	struct bedrock_path b;

	int r = bedrock_parse_path(path, len, &b);

	/* a model id refused is still Bedrock's call: it names no model, which allow-lists
	 * refuse */
	return r == 0 || r == -EINVAL ? bedrock_usage_api(b.op) : -1;
}

static int bedrock_usage_body(enum usage_api api, const cJSON *root, struct usage *u)
{
	if (api == USAGE_API_BEDROCK_CONVERSE)
		return counts_usage(json_item(root, "usage"), converse_keys, u);
	if (api == USAGE_API_BEDROCK_INVOKE) {
		int err = provider_anthropic.usage_body(USAGE_API_ANTHROPIC_MESSAGES, root, u);

		return err == -ENOENT || err == -EBADMSG ? family_usage(root, u) : err;
	}
	return -EINVAL;
}

/* Streams are not server-sent events: bedrock_stream reads them. */
static int bedrock_usage_event(struct usage_stream *s, const char *event, const char *data,
			       size_t len)
{
	return USAGE_EVENT_FORWARD;
}

/* {"message": ...}, as Bedrock's errors are (the type goes in x-amzn-ErrorType). */
static char *bedrock_error_body(int status, const char *kind, const char *message,
				size_t *ret_len)
{
	struct jsonw *w = jsonw_new();

	if (!w)
		return NULL;
	jsonw_str(w, "message", message);
	return jsonw_finish(w, ret_len);
}

/* An exception message of the event-stream framing, ending the stream badly. */
static char *bedrock_error_event(enum usage_api api, const char *message, size_t *ret_len)
{
	static const char *const names[] = {":message-type", ":exception-type", ":content-type"};
	static const char *const values[] = {"exception", "internalServerException",
					     "application/json"};
	size_t len, size;
	char *body = bedrock_error_body(500, NULL, message, &len), *out;
	long n;

	if (!body)
		return NULL;
	size = len + 128;
	out = malloc(size);
	n = out ? evstream_write((uint8_t *)out, size, names, values, 3, body, len) : -1;
	free(body);
	if (n < 0) {
		free(out);
		return NULL;
	}
	*ret_len = (size_t)n;
	return out;
}

static const struct provider_path bedrock_inference[] = {
    /* the model id is one segment (an ARN's slashes encoded), read by path_api */
    {"POST", "/model/*/converse", 0},
    {"POST", "/model/*/converse-stream", 0},
    {"POST", "/model/*/invoke", 0},
    {"POST", "/model/*/invoke-with-response-stream", 0},
};

const struct provider_api provider_bedrock = {
    .family = POLICY_API_BEDROCK,
    .name = "bedrock",
    .chat_path = NULL, /* per model: /model/{modelId}/invoke(-with-response-stream) */
    .chat_api = USAGE_API_BEDROCK_CONVERSE,
    .translate = TRANSLATE_ANTHROPIC_MESSAGES,
    .key_header = NULL, /* SigV4 (sigv4.h), written by the proxy */
    .key_prefix = "",
    .path_api = bedrock_path_api,
    .inference = bedrock_inference,
    .n_inference = sizeof(bedrock_inference) / sizeof(bedrock_inference[0]),
    .usage_body = bedrock_usage_body,
    .usage_event = bedrock_usage_event,
    .error_body = bedrock_error_body,
    .error_event = bedrock_error_event,
};
