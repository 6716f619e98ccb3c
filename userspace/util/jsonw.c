/* jsonw.c: see jsonw.h. Escaping follows RFC 8259: quote, backslash, control characters. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonw.h"

struct jsonw *jsonw_new(void)
{
	struct jsonw *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cap = 1024;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		free(w);
		return NULL;
	}
	w->buf[w->len++] = '{';
	return w;
}

static int reserve(struct jsonw *w, size_t more)
{
	char *p;
	size_t cap = w->cap;

	if (w->len + more + 2 <= w->cap) /* room for "}" and NUL at the end */
		return 0;
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

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (w->oom || reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
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

/* The bytes of S (N of them) escaped, between quotes, written at OUT, which has room for
 * 6 * N + 2 bytes or for escaped_len(); returns the end. Eight bytes at a time while none
 * needs an escape: this runs for every key and string of every record. */
static char *escape_into(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	*out++ = '"';
	while (i < n) {
		unsigned char c = s[i];
		uint64_t word;

		if (i + 8 <= n && (memcpy(&word, s + i, 8), word_is_plain(word))) {
			memcpy(out, &word, 8);
			out += 8;
			i += 8;
			continue;
		}
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
		i++;
	}
	*out++ = '"';
	return out;
}

/* Reserves the room escaping N bytes of S may take, and EXTRA more: short strings reserve for
 * the worst case (every byte as \u00XX); long ones (message text in translated bodies) are
 * measured first, so that they never reserve six times their size. 0, or -1 (W is oom). */
static int reserve_escaped(struct jsonw *w, const char *s, size_t n, size_t extra)
{
	if (w->oom)
		return -1;
	if (n > (SIZE_MAX - 8) / 6) {
		w->oom = 1;
		return -1;
	}
	return reserve(w, (n <= 256 ? 6 * n + 2 : escaped_len(s, n)) + extra);
}

static void put_escaped(struct jsonw *w, const char *s, size_t n)
{
	if (reserve_escaped(w, s, n, 0))
		return;
	w->len = (size_t)(escape_into(w->buf + w->len, s, n) - w->buf);
}

/* An integer in decimal, without printf's float machinery. */
static int format_int(char *buf, long long v)
{
	char tmp[24];
	unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
	int n = 0, len = 0;

	do {
		tmp[n++] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	return len;
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

/* The separator, the escaped key and its colon, in one reserve(): a record has some fifty. */
static void key(struct jsonw *w, const char *k)
{
	size_t n = strlen(k);
	char *out;

	if (reserve_escaped(w, k, n, 2))
		return;
	out = w->buf + w->len;
	if (w->len > 1)
		*out++ = ',';
	out = escape_into(out, k, n);
	*out++ = ':';
	w->len = (size_t)(out - w->buf);
}

void jsonw_strn(struct jsonw *w, const char *k, const char *val, size_t len)
{
	key(w, k);
	put_escaped(w, val, len);
}

void jsonw_str(struct jsonw *w, const char *k, const char *val)
{
	if (!val) {
		jsonw_null(w, k);
		return;
	}
	jsonw_strn(w, k, val, strlen(val));
}

void jsonw_num(struct jsonw *w, const char *k, double val)
{
	char buf[40];
	int n;

	if (!isfinite(val)) {
		jsonw_null(w, k);
		return;
	}
	if (val == floor(val) && fabs(val) < 9007199254740992.0)
		n = format_int(buf, (long long)val);
	else if ((n = format_micro(buf, val)) < 0)
		n = snprintf(buf, sizeof(buf), "%.15g", val);
	key(w, k);
	put(w, buf, n);
}

void jsonw_bool(struct jsonw *w, const char *k, int val)
{
	key(w, k);
	put(w, val ? "true" : "false", val ? 4 : 5);
}

void jsonw_null(struct jsonw *w, const char *k)
{
	key(w, k);
	put(w, "null", 4);
}

void jsonw_raw(struct jsonw *w, const char *k, const char *raw, size_t len)
{
	key(w, k);
	put(w, raw, len);
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
