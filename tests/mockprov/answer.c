// SPDX-License-Identifier: MIT
/*
 * mockprov answer: what a reply says and how many tokens it counts.
 *
 * By default the text is generated from the prompt's hash (text.c): x-mock-reply-words words,
 * each word one stream delta and one output token. A test that must see what a gateway does to
 * an answer sets the text instead, by the first of these request headers it sends:
 *
 *   x-mock-reply-text-b64: BASE64   the UTF-8 text BASE64 decodes to
 *   x-mock-reply-text: TEXT         TEXT (UTF-8 as it is, any other byte read as latin-1)
 *   x-mock-reply-echo: 1            the text of the last user message of the request
 *   (no header)                     the same when that text starts with "mock-echo:" (for a
 *                                   gateway's explicit endpoint, which passes no app header)
 *
 * Such a text is cut into pieces: a word with the white space after it (white space before the
 * first word goes with it), or with x-mock-delta-bytes: N, N bytes each, a piece stretched to the
 * end of a UTF-8 character it would split. x-mock-delta-bytes alone cuts the generated text
 * the same way. A piece is one delta of a stream and one output token, streamed or not; max
 * tokens keep the first pieces. The text is held by the call with its cuts (c->text, c->cuts).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

/* A copy of TEXT: as it is if it is UTF-8, else each byte read as latin-1. */
static char *latin1_to_utf8(const char *s, size_t len, size_t *ret_len)
{
	char *out = malloc(2 * len + 1);
	size_t i, n = 0;

	if (!out)
		return NULL;
	if (utf8_valid(s, len)) {
		memcpy(out, s, len);
		n = len;
	} else {
		for (i = 0; i < len; i++) {
			unsigned char ch = s[i];

			if (ch < 0x80) {
				out[n++] = ch;
			} else {
				out[n++] = 0xc0 | ch >> 6;
				out[n++] = 0x80 | (ch & 0x3f);
			}
		}
	}
	*ret_len = n;
	return out;
}

static char *decode_b64(const char *s, size_t *ret_len)
{
	size_t len = strlen(s);
	char *out = malloc(len * 3 / 4 + 1);
	long n;

	if (!out)
		return NULL;
	n = base64_decode(s, len, (unsigned char *)out);
	if (n < 0 || !utf8_valid(out, n)) {
		free(out);
		errno = EINVAL;
		return NULL;
	}
	*ret_len = n;
	return out;
}

/* The bytes of b in a string the caller frees; b is freed. */
static char *buffer_take(struct evbuffer *b, size_t *ret_len)
{
	size_t len = evbuffer_get_length(b);
	char *out = malloc(len + 1);

	if (out) {
		evbuffer_remove(b, out, len);
		*ret_len = len;
	}
	evbuffer_free(b);
	return out;
}

/* The text of a content value: a string, or the "text" of each part of a list, joined. */
static void content_text(struct evbuffer *b, const cJSON *content)
{
	const cJSON *part;
	const char *text;

	if (cJSON_IsString(content)) {
		evbuffer_add(b, content->valuestring, strlen(content->valuestring));
		return;
	}
	cJSON_ArrayForEach(part, content)
	{
		text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "text"));
		if (text)
			evbuffer_add(b, text, strlen(text));
	}
}

/*
 * The text of the last user message of msgs: chat and Anthropic "messages", or Responses "input"
 * (a string, or items of which the last with role "user" counts). Empty when there is none.
 */
static char *echo_text(const cJSON *msgs, size_t *ret_len)
{
	struct evbuffer *b = evbuffer_new();
	const cJSON *it, *last = NULL;

	if (!b)
		return NULL;
	if (cJSON_IsString(msgs)) {
		content_text(b, msgs);
	} else {
		cJSON_ArrayForEach(it, msgs)
		{
			const char *role =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "role"));

			if (role && !strcmp(role, "user"))
				last = it;
		}
		if (last)
			content_text(b, cJSON_GetObjectItemCaseSensitive(last, "content"));
	}
	return buffer_take(b, ret_len);
}

/* The generated text of n words, for x-mock-delta-bytes alone. */
static char *generated_text(struct call *c, int n, size_t *ret_len)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return NULL;
	text_append(b, c->text_seed, n);
	return buffer_take(b, ret_len);
}

/*
 * Sets c->text from the headers. Returns 0 (c->text NULL when no header asks for a text),
 * -EINVAL for a bad x-mock-reply-text-b64, -ENOMEM.
 */
/* The last user message's text when it starts with "mock-echo:", as the reply. */
static int echo_marked(struct call *c, const cJSON *msgs)
{
	size_t len;
	char *text = echo_text(msgs, &len);

	if (!text)
		return 0;
	if (len < 10 || memcmp(text, "mock-echo:", 10)) {
		free(text);
		return 0;
	}
	c->text = text;
	c->text_len = len;
	return 0;
}

static int answer_set_text(struct call *c, const cJSON *msgs, int words)
{
	const char *b64 = hdr(c, "x-mock-reply-text-b64"), *text = hdr(c, "x-mock-reply-text");
	const char *echo = hdr(c, "x-mock-reply-echo");

	errno = ENOMEM;
	if (b64)
		c->text = decode_b64(b64, &c->text_len);
	else if (text)
		c->text = latin1_to_utf8(text, strlen(text), &c->text_len);
	else if (echo && strcmp(echo, "0"))
		c->text = echo_text(msgs, &c->text_len);
	else if (hdr(c, "x-mock-delta-bytes"))
		c->text = generated_text(c, words, &c->text_len);
	else
		return echo_marked(c, msgs);
	return c->text ? 0 : -errno;
}

static size_t piece_word(const char *s, size_t len, size_t p)
{
	while (p < len && isspace((unsigned char)s[p]))
		p++;
	while (p < len && !isspace((unsigned char)s[p]))
		p++;
	while (p < len && isspace((unsigned char)s[p]))
		p++;
	return p;
}

static size_t piece_bytes(const char *s, size_t len, size_t p, size_t n)
{
	p = len - p > n ? p + n : len;
	while (p < len && (s[p] & 0xc0) == 0x80)
		p++;
	return p;
}

/* Cuts c->text into pieces (c->cuts). Returns how many, or -ENOMEM. */
static int answer_cut(struct call *c)
{
	size_t bytes = hdr_int(c, "x-mock-delta-bytes", 0, 0, 1 << 30), p = 0;
	int n = 0;

	c->cuts = malloc((c->text_len + 1) * sizeof(*c->cuts));
	if (!c->cuts)
		return -ENOMEM;
	c->cuts[0] = 0;
	while (p < c->text_len) {
		p = bytes ? piece_bytes(c->text, c->text_len, p, bytes)
			  : piece_word(c->text, c->text_len, p);
		c->cuts[++n] = p;
	}
	return n;
}

/* The body's "mock_reply_words" (1..1000000), else DEF: for a call the gateway routes (its
 * explicit endpoint), which sends the provider its own headers, not the app's x-mock- ones. */
static int reply_words_of_body(const struct call *c, int def)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(c->body, "mock_reply_words");

	return cJSON_IsNumber(w) && w->valuedouble >= 1 && w->valuedouble <= 1000000
		   ? (int)w->valuedouble
		   : def;
}

/*
 * Sizes the answer: prompt tokens are the prompt's words plus a constant, or
 * x-mock-prompt-tokens: N (a long prompt's usage without sending one); the reply is the text
 * the headers set or x-mock-reply-words generated words (else the body's "mock_reply_words",
 * else 8 to 24, from the prompt's hash),
 * cut to the request's max tokens; cache tokens come from x-mock-cache-read /
 * x-mock-cache-write. msgs is what x-mock-reply-echo reads. Returns 0, or -1 when c was answered
 * with an error.
 */
int call_plan(struct call *c, int words, uint64_t seed, const cJSON *max, const cJSON *msgs)
{
	int err;

	c->in_tokens = hdr_int(c, "x-mock-prompt-tokens", words + MOCK_INPUT_TOKEN_BASE, 1,
			       1 << 30);
	c->text_seed = seed;
	c->out_words = hdr_int(c, "x-mock-reply-words", reply_words_of_body(c, 8 + (int)(seed % 17)),
			       1, 1000000);
	err = answer_set_text(c, msgs, c->out_words);
	if (!err && c->text) {
		err = answer_cut(c);
		c->out_words = err;
	}
	if (err == -EINVAL) {
		reply_error(c, 400, "invalid_request_error",
			    "x-mock-reply-text-b64: not base64 of UTF-8 text", NULL, NULL);
		return -1;
	}
	if (err < 0) {
		reply_error(c, 500, c->prov == PROV_ANTHROPIC ? "api_error" : "server_error",
			    "out of memory", NULL, NULL);
		return -1;
	}
	if (cJSON_IsNumber(max) && max->valuedouble >= 1 && max->valuedouble < c->out_words) {
		c->out_words = (int)max->valuedouble;
		c->truncated = 1;
		if (c->text)
			c->text_len = c->cuts[c->out_words];
	}
	c->cache_read = hdr_int(c, "x-mock-cache-read", 0, 0, 1 << 30);
	c->cache_write = hdr_int(c, "x-mock-cache-write", 0, 0, 1 << 30);
	return 0;
}

/* The whole reply text, JSON-escaped, without quotes. */
void answer_text(struct call *c, struct evbuffer *b)
{
	if (c->text)
		json_chars(b, c->text, c->text_len);
	else
		text_append(b, c->text_seed, c->out_words);
}

/* Delta i of a streamed reply, JSON-escaped, without quotes. */
void answer_delta(struct call *c, struct evbuffer *b, int i)
{
	if (c->text)
		json_chars(b, c->text + c->cuts[i], c->cuts[i + 1] - c->cuts[i]);
	else
		word_append(b, c->text_seed, i, c->out_words);
}
