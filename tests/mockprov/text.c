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

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF) that starts at p, of at most avail bytes; 0 if there is none.
 */
size_t utf8_len(const void *s, size_t avail)
{
	const unsigned char *p = s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (!avail)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		lo = p[0] == 0xe0 ? 0xa0 : lo;
		hi = p[0] == 0xed ? 0x9f : hi;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		lo = p[0] == 0xf0 ? 0x90 : lo;
		hi = p[0] == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

int utf8_valid(const char *s, size_t len)
{
	size_t i, n;

	for (i = 0; i < len; i += n) {
		n = utf8_len(s + i, len - i);
		if (!n)
			return 0;
	}
	return 1;
}

/*
 * The len bytes at s as the inside of a JSON string (no quotes). A byte that does not start a
 * well-formed UTF-8 sequence becomes U+FFFD, so the output is valid JSON whatever s holds.
 */
void json_chars(struct evbuffer *b, const char *s, size_t len)
{
	const char *p, *run = s, *end = s + len;

	for (p = s; p < end; p++) {
		unsigned char ch = *p;
		size_t n;

		if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\')
			continue;
		if (ch >= 0x80) {
			n = utf8_len(p, end - p);
			if (n) {
				p += n - 1;
				continue;
			}
		}
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
			evbuffer_add_printf(b, "\\u%04x", ch >= 0x80 ? 0xfffd : ch);
		}
	}
	evbuffer_add(b, run, p - run);
}

void json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	json_chars(b, s, strlen(s));
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

/*
 * Decodes base64 (standard or URL-safe alphabet, padding optional) of len characters into out,
 * which has room for len * 3 / 4 bytes. Returns the decoded length, or -1 if s is not base64.
 */
long base64_decode(const char *s, size_t len, unsigned char *out)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0, pad = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch = s[i];
		int v;

		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '+' || ch == '-')
			v = 62;
		else if (ch == '/' || ch == '_')
			v = 63;
		else
			return -1;
		acc = acc << 6 | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = acc >> bits & 0xff;
		}
	}
	if (bits >= 6 || pad > 2 || (pad && (len % 4)))
		return -1; /* a lone sextet, or padding that does not end a quad */
	return (long)o;
}
