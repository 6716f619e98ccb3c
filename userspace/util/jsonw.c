/* jsonw.c: see jsonw.h. Escaping follows RFC 8259: quote, backslash, control characters. */
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/decimal.h"
#include "util/jsonw.h"

struct jsonw *jsonw_new(void)
{
	/* not calloc(), which glibc's per-thread cache of small chunks does not serve */
	struct jsonw *w = malloc(sizeof(*w));

	if (!w)
		return NULL;
	*w = (struct jsonw){.cap = 2048}; /* a call's record, without growing */
	w->buf = malloc(w->cap);
	if (!w->buf) {
		free(w);
		return NULL;
	}
	w->buf[w->len++] = '{';
	return w;
}

int jsonw_grow(struct jsonw *w, size_t more)
{
	size_t cap = w->cap;
	char *p;

	if (more > SIZE_MAX / 4 - w->len) {
		w->oom = 1;
		return -1;
	}
	while (cap < w->len + more + 2)
		cap *= 2;
	p = realloc(w->buf, cap);
	if (!p) {
		w->oom = 1;
		return -1;
	}
	w->buf = p;
	w->cap = cap;
	return 0;
}

/* 0 when there is room for MORE bytes (and the closing "}" and NUL); -1 when W is oom. */
static int reserve(struct jsonw *w, size_t more)
{
	if (w->oom)
		return -1;
	if (more <= w->cap - w->len - 2) /* len + 2 <= cap always holds */
		return 0;
	return jsonw_grow(w, more);
}

/* The bytes S (N of them) take escaped, quotes included. */
static size_t escaped_len(const char *s, size_t n)
{
	size_t len = n + 2;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			len += 1;
		else if (c < 0x20)
			len += 5;
	}
	return len;
}

/* Whether none of the eight bytes of X needs an escape (a quote, a backslash, below 0x20):
 * the "has a zero byte" test of each, which never misses one. */
static int word_is_plain(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
	uint64_t hit = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
		       ((x - ones * 0x20) & ~x);

	return !(hit & highs);
}

/* Whether none of the eight bytes at S needs an escape. */
static inline int plain8(const char *s)
{
	uint64_t word;

	memcpy(&word, s, 8);
	return word_is_plain(word);
}

/* Whether none of the N bytes at S (4 <= N <= 8) needs an escape: its first four and its
 * last four (which overlap below eight), tested as one word. */
static inline int plain4x2(const char *s, size_t n)
{
	uint32_t lo, hi;

	memcpy(&lo, s, 4);
	memcpy(&hi, s + n - 4, 4);
	return word_is_plain(lo | (uint64_t)hi << 32);
}

/* The same for sixteen bytes: one SSE2 test where there is SSE2 (every x86-64), else two. */
static inline int plain16(const char *s)
{
#ifdef __SSE2__
	__m128i x = _mm_loadu_si128((const __m128i *)s);
	__m128i control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x); /* <= 0x1f */
	__m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
	__m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));

	return !_mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash)));
#else
	return plain8(s) && plain8(s + 8);
#endif
}

/* Copies the eight bytes at S to OUT when none of them needs an escape; returns whether. */
static int copy8_if_plain(char *out, const char *s)
{
	if (!plain8(s))
		return 0;
	memcpy(out, s, 8);
	return 1;
}

/* The same for sixteen bytes. */
static int copy16_if_plain(char *out, const char *s)
{
	if (!plain16(s))
		return 0;
	memcpy(out, s, 16);
	return 1;
}

/* The escape of one byte C at OUT (one to six bytes); returns the end. */
static char *escape_byte(char *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c != '"' && c != '\\') {
		*out++ = (char)c;
	} else if (c == '"' || c == '\\') {
		*out++ = '\\';
		*out++ = (char)c;
	} else {
		memcpy(out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 15];
		out += 6;
	}
	return out;
}

/*
 * The bytes of S (N of them) escaped, between quotes, written at OUT, which has room for
 * 6 * N + 2 bytes or for escaped_len(); returns the end. This runs for every string that
 * escape_into() does not copy whole, so it goes sixteen (then eight) bytes at a time while none
 * needs an escape,
 * and ends a string of eight bytes or more with its last sixteen (or eight), read again: when
 * they are all plain, the ones already written were written as themselves, and are written
 * over with the same bytes. Only a block that holds a byte to escape, and a string shorter
 * than eight, go byte by byte.
 */
static char *escape_blocks(char *out, const char *s, size_t n)
{
	size_t i = 0, left, back;

	*out++ = '"';
	if (n < 8) { /* "ok", "POST", "1.1": a block of eight would read past them */
		for (; i < n; i++)
			out = escape_byte(out, (unsigned char)s[i]);
		*out++ = '"';
		return out;
	}
	while ((left = n - i)) {
		if (left >= 16) {
			if (copy16_if_plain(out, s + i)) {
				out += 16, i += 16;
				continue;
			}
		} else if (n >= 16) {
			back = 16 - left; /* bytes of the last sixteen already written */
			if (copy16_if_plain(out - back, s + n - 16)) {
				out += left;
				break;
			}
		} else if (left >= 8) {
			if (copy8_if_plain(out, s + i)) {
				out += 8, i += 8;
				continue;
			}
		} else if (n >= 8) {
			back = 8 - left;
			if (copy8_if_plain(out - back, s + n - 8)) {
				out += left;
				break;
			}
		}
		for (size_t end = left > 8 ? i + 8 : n; i < end; i++)
			out = escape_byte(out, (unsigned char)s[i]);
	}
	*out++ = '"';
	return out;
}

/* S (N bytes, BLOCK <= N <= 2 * BLOCK) between quotes at OUT, copied as its first and its last
 * BLOCK bytes, which overlap; returns the end. */
static inline __attribute__((always_inline)) char *quote_blocks(char *out, const char *s, size_t n,
								size_t block)
{
	out[0] = '"';
	memcpy(out + 1, s, block);
	memcpy(out + 1 + n - block, s + n - block, block);
	out[n + 1] = '"';
	return out + n + 2;
}

/*
 * escape_blocks(), with the strings of 4 to 32 bytes that need no escape (most keys and values
 * of a record) tested whole, as two blocks that overlap, and copied as two: inlined into the
 * writers, so that a member costs a few dozen instructions, not a loop's.
 */
static inline char *escape_into(char *out, const char *s, size_t n)
{
	if (n >= 16 && n <= 32) {
		if (plain16(s) && plain16(s + n - 16))
			return quote_blocks(out, s, n, 16);
	} else if (n >= 8 && n < 16) {
		if (plain8(s) && plain8(s + n - 8))
			return quote_blocks(out, s, n, 8);
	} else if (n >= 4 && n < 8) { /* "POST", "chat", "openai", "allow" */
		if (plain4x2(s, n))
			return quote_blocks(out, s, n, 4);
	}
	return escape_blocks(out, s, n);
}

/* The room escaping the N bytes of S may take, quotes included: short strings are given the
 * worst case (every byte as \u00XX); long ones (message text in translated bodies) are
 * measured first, so that they never reserve six times their size. */
size_t jsonw_escaped_room(const char *s, size_t n)
{
	if (n > SIZE_MAX / 8)
		return SIZE_MAX; /* reserve() says oom */
	return n <= 256 ? 6 * n + 2 : escaped_len(s, n);
}

/* An integer in decimal, without printf's float machinery. */
static int format_int(char *buf, long long v)
{
	char *p = buf;

	if (v < 0)
		*p++ = '-';
	p = decimal_put_u64(p, v < 0 ? -(unsigned long long)v : (unsigned long long)v);
	return (int)(p - buf);
}

/*
 * A non-integral VAL in [1e-4, 1e9) that is the double nearest a decimal of at most six places
 * (milliseconds to the nanosecond: every latency in a record), written as "%.15g" writes it:
 * such a decimal has at most 15 significant digits, and "%.15g" gives back exactly the decimal
 * a double came from when it has that few (DBL_DIG), with no exponent in this range. Returns
 * the length, or -1 for any other value (the caller uses snprintf).
 */
static int format_micro(char *buf, double val)
{
	double mag = fabs(val);
	long long units;
	int len = 0, frac, digits = 6;
	char f[6];

	if (!(mag >= 1e-4 && mag < 1e9))
		return -1;
	units = llround(mag * 1e6);
	if ((double)units / 1e6 != mag)
		return -1;
	frac = (int)(units % 1000000);
	if (val < 0)
		buf[len++] = '-';
	len += format_int(buf + len, units / 1000000);
	buf[len++] = '.';
	for (int i = 5; i >= 0; i--, frac /= 10)
		f[i] = (char)('0' + frac % 10);
	while (digits > 1 && f[digits - 1] == '0')
		digits--;
	memcpy(buf + len, f, digits);
	return len + digits;
}

/*
 * The separator, the escaped key K (KLEN bytes) and its colon, with room for VAL_ROOM bytes of
 * value after them, in one reserve(): a record has some fifty members. Returns where the value
 * goes (the caller writes it and moves w->len past it), or NULL when W is out of memory.
 */
static inline char *member(struct jsonw *w, const char *k, size_t klen, size_t val_room)
{
	size_t key_room = jsonw_escaped_room(k, klen);
	char *out;

	if (key_room > SIZE_MAX / 4 || val_room > SIZE_MAX / 4) {
		w->oom = 1;
		return NULL;
	}
	if (reserve(w, 1 + key_room + 1 + val_room)) /* the comma, the key, the colon, the value */
		return NULL;
	out = w->buf + w->len;
	if (w->len > 1)
		*out++ = ',';
	out = escape_into(out, k, klen);
	*out++ = ':';
	return out;
}

/* The value writers: the value at OUT (where member() put it; NULL: out of
 * memory, nothing written), W's length past it. */
static inline void put_lit(struct jsonw *w, char *out, const char *lit, size_t len)
{
	if (!out)
		return;
	memcpy(out, lit, len);
	w->len = (size_t)(out + len - w->buf);
}

static inline void put_str(struct jsonw *w, char *out, const char *val, size_t len)
{
	if (out)
		w->len = (size_t)(escape_into(out, val, len) - w->buf);
}

void jsonw_lit_kn(struct jsonw *w, const char *k, size_t klen, const char *lit, size_t len)
{
	put_lit(w, member(w, k, klen, len), lit, len);
}

void jsonw_str_kn(struct jsonw *w, const char *k, size_t klen, const char *val, size_t len)
{
	put_str(w, member(w, k, klen, jsonw_escaped_room(val, len)), val, len);
}

int jsonw_format_num(char *out, double val)
{
	int n;

	/* integral below 2^53 in magnitude: the cast is exact both ways (no call to floor()) */
	if (fabs(val) < 9007199254740992.0 && (double)(long long)val == val)
		n = format_int(out, (long long)val);
	else if ((n = format_micro(out, val)) < 0)
		n = snprintf(out, JSONW_NUM_MAX, "%.15g", val);
	return n;
}

static inline void put_num(struct jsonw *w, char *out, double val)
{
	if (out)
		w->len = (size_t)(out + jsonw_format_num(out, val) - w->buf);
}

void jsonw_num_kn(struct jsonw *w, const char *k, size_t klen, double val)
{
	if (isfinite(val))
		put_num(w, member(w, k, klen, JSONW_NUM_MAX), val);
	else
		jsonw_lit_kn(w, k, klen, "null", 4);
}

char *jsonw_escape_at(char *out, const char *s, size_t n)
{
	return escape_into(out, s, n);
}

void jsonw_members(struct jsonw *w, const char *members, size_t len)
{
	char *out;

	if (len > SIZE_MAX / 4)
		w->oom = 1;
	if (!len || reserve(w, len + 1))
		return;
	out = w->buf + w->len;
	if (w->len > 1)
		*out++ = ',';
	memcpy(out, members, len);
	w->len = (size_t)(out + len - w->buf);
}

void jsonw_memo_members(struct jsonw *w, struct jsonw_memo *m, const void *src, size_t src_len,
			void (*make)(struct jsonw *w, const void *src))
{
	struct jsonw *own;
	size_t len;
	char *text;

	if (m->len && m->src_len == src_len && !memcmp(m->src, src, src_len)) {
		jsonw_members(w, m->text, m->len);
		return;
	}
	m->len = 0;
	own = src_len <= sizeof(m->src) ? jsonw_new() : NULL;
	if (own)
		make(own, src);
	text = jsonw_finish(own, &len);
	if (!text || len - 2 > sizeof(m->text)) {
		free(text);
		make(w, src);
		return;
	}
	memcpy(m->text, text + 1, len - 2); /* without the braces */
	m->len = len - 2;
	memcpy(m->src, src, src_len);
	m->src_len = src_len;
	free(text);
	jsonw_members(w, m->text, m->len);
}

char *jsonw_finish(struct jsonw *w, size_t *ret_len)
{
	char *text = NULL;

	if (!w)
		return NULL;
	if (!w->oom) {
		/* reserve() always leaves room for these two. */
		w->buf[w->len++] = '}';
		w->buf[w->len] = 0;
		text = w->buf;
		*ret_len = w->len;
		w->buf = NULL;
	}
	jsonw_free(w);
	return text;
}

void jsonw_free(struct jsonw *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}
