// SPDX-License-Identifier: MIT
/*
 * mockprov text helpers: hashing, ids, word counting, the deterministic reply text and JSON
 * string escaping.
 *
 * A "token" of the mock is a word: a maximal run of non-space bytes. The prompt's words are
 * counted over every text a request carries, and their bytes seed the reply, so the same prompt
 * always gets the same reply whether it is streamed or not. Reply word i is picked from a fixed
 * vocabulary by mixing the seed with i; the last word carries a full stop.
 */
#include <ctype.h>
#include <string.h>

#include "mock.h"

static const char *const vocab[64] = {
    "the",     "mock",	  "provider", "answers", "every",   "request", "with",	  "a",
    "stable",  "reply",	  "built",    "from",	 "its",	    "prompt",  "so",	  "tests",
    "can",     "compare", "bytes",    "while",	 "chunks",  "arrive",  "one",	  "by",
    "gateway", "counts",  "tokens",   "across",	 "runs",    "and",     "streams", "keep",
    "order",   "under",	  "load",     "when",	 "faults",  "are",     "off",	  "this",
    "text",    "has",	  "no",	      "meaning", "beyond",  "being",   "easy",	  "to",
    "check",   "quickly", "for",      "proxies", "caches",  "logs",    "clients", "servers",
    "sockets", "timers",  "buffers",  "frames",	 "records", "events",  "lines",	  "words",
};

uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	if (!h)
		h = 0xcbf29ce484222325ULL;
	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t rng_next(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return mix64(*state);
}

void gen_id(char *out, size_t cap, const char *prefix, int n, uint64_t *rng)
{
	static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	size_t len = strlen(prefix);
	int i;

	if (len + n + 1 > cap)
		n = cap - len - 1;
	memcpy(out, prefix, len);
	for (i = 0; i < n; i++)
		out[len + i] = b62[rng_next(rng) % 62];
	out[len + n] = '\0';
}

void gen_hex(char *out, size_t cap, const char *prefix, int n, uint64_t *rng)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(prefix);
	int i;

	if (len + n + 1 > cap)
		n = cap - len - 1;
	memcpy(out, prefix, len);
	for (i = 0; i < n; i++)
		out[len + i] = hex[rng_next(rng) & 15];
	out[len + n] = '\0';
}

/* Words in s; when seed is given, the text is folded into it. */
int count_words(const char *s, uint64_t *seed)
{
	int n = 0, in = 0;
	const char *p;

	for (p = s; *p; p++) {
		if (isspace((unsigned char)*p)) {
			in = 0;
		} else if (!in) {
			in = 1;
			n++;
		}
	}
	if (seed)
		*seed = fnv1a(*seed, s, p - s);
	return n;
}

/*
 * Words in a content value of either provider: a string, an array of strings (embeddings), an
 * array of blocks with "text" (and nested "content", as in tool results or Responses input items).
 */
int count_content_words(const cJSON *node, uint64_t *seed)
{
	const cJSON *it;
	int n = 0;

	if (!node)
		return 0;
	if (cJSON_IsString(node))
		return count_words(node->valuestring, seed);
	if (cJSON_IsNumber(node))
		return 1;
	if (cJSON_IsArray(node)) {
		for (it = node->child; it; it = it->next)
			n += count_content_words(it, seed);
		return n;
	}
	if (cJSON_IsObject(node)) {
		n += count_content_words(cJSON_GetObjectItemCaseSensitive(node, "text"), seed);
		n += count_content_words(cJSON_GetObjectItemCaseSensitive(node, "content"), seed);
	}
	return n;
}

const char *reply_word(uint64_t seed, int i)
{
	return vocab[mix64(seed + (uint64_t)i) & 63];
}

/* Word i of n as a stream delta: a space before all but the first, a full stop after the last. */
void word_append(struct evbuffer *b, uint64_t seed, int i, int n)
{
	evbuffer_add_printf(b, "%s%s%s", i ? " " : "", reply_word(seed, i), i == n - 1 ? "." : "");
}

void text_append(struct evbuffer *b, uint64_t seed, int n)
{
	int i;

	for (i = 0; i < n; i++)
		word_append(b, seed, i, n);
}

void json_str(struct evbuffer *b, const char *s)
{
	const char *p, *run = s;

	evbuffer_add(b, "\"", 1);
	for (p = s; *p; p++) {
		unsigned char ch = *p;

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		evbuffer_add(b, run, p - run);
		run = p + 1;
		switch (ch) {
		case '"':
			evbuffer_add(b, "\\\"", 2);
			break;
		case '\\':
			evbuffer_add(b, "\\\\", 2);
			break;
		case '\n':
			evbuffer_add(b, "\\n", 2);
			break;
		case '\r':
			evbuffer_add(b, "\\r", 2);
			break;
		case '\t':
			evbuffer_add(b, "\\t", 2);
			break;
		default:
			evbuffer_add_printf(b, "\\u%04x", ch);
		}
	}
	evbuffer_add(b, run, p - run);
	evbuffer_add(b, "\"", 1);
}

void json_str_or_null(struct evbuffer *b, const char *s)
{
	if (s)
		json_str(b, s);
	else
		evbuffer_add(b, "null", 4);
}

void base64_append(struct evbuffer *b, const unsigned char *data, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char quad[4];
	size_t i;

	for (i = 0; i < len; i += 3) {
		uint32_t v = data[i] << 16;

		if (i + 1 < len)
			v |= data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		quad[0] = tab[(v >> 18) & 63];
		quad[1] = tab[(v >> 12) & 63];
		quad[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		quad[3] = i + 2 < len ? tab[v & 63] : '=';
		evbuffer_add(b, quad, 4);
	}
}
