/* jsonw.c: see jsonw.h. Escaping follows RFC 8259: quote, backslash, control characters. */
#include <math.h>
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

static void put_escaped(struct jsonw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(w, s + start, i - start);
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};

			put(w, esc, 2);
		} else {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			put(w, esc, 6);
		}
		start = i + 1;
	}
	put(w, s + start, n - start);
	put(w, "\"", 1);
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

static void key(struct jsonw *w, const char *k)
{
	if (w->len > 1)
		put(w, ",", 1);
	put_escaped(w, k, strlen(k));
	put(w, ":", 1);
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
	else
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
