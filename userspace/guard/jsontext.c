/*
 * guard/jsontext: a JSON tokenizer that hands every string of a text to a callback, decoded,
 * and splices in the strings it replaces. See jsontext.h.
 *
 * The grammar is RFC 8259's, checked strictly (whitespace is space, tab, LF, CR; numbers as
 * the RFC writes them; no control character raw in a string), by recursive descent whose
 * depth is bounded by the path it keeps. Bytes of strings are not checked for UTF-8.
 *
 * Output is built lazily: the first replacement copies the text up to that string, each
 * later one the bytes between, and the end the rest; a walk that replaces nothing copies
 * nothing. A string without a backslash is handed over where it lies in the text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guard/jsontext.h"
#include "providers/translate.h"
#include "providers/translate_util.h"

struct jsontext {
	const char *in;
	size_t len, pos;
	jsontext_fn *fn;
	void *arg;
	int writable;
	struct translate_buf out; /* the new text up to COPIED of IN */
	size_t copied;
	struct translate_buf scratch; /* the decoded string being handed over */
	const struct jsontext_string *cur;
	struct jsontext_step path[JSONTEXT_MAX_DEPTH];
	unsigned depth;
};

static int parse_value(struct jsontext *jt);

static void skip_ws(struct jsontext *jt)
{
	while (jt->pos < jt->len) {
		char c = jt->in[jt->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		jt->pos++;
	}
}

static int peek(const struct jsontext *jt)
{
	return jt->pos < jt->len ? (unsigned char)jt->in[jt->pos] : -1;
}

static int hex4(const char *p, unsigned *ret)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int put_utf8(struct translate_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return translate_buf_add(b, u, n);
}

/* "\uXXXX" at I (END: the closing quote); a high surrogate takes the low one after it.
 * Returns the bytes read, or -EINVAL. */
static int decode_u(struct jsontext *jt, size_t i, size_t end)
{
	const char *in = jt->in;
	unsigned cp, lo;
	int n = 6;

	if (end - i < 6 || hex4(in + i + 2, &cp))
		return -EINVAL;
	if (cp >= 0xd800 && cp <= 0xdbff && end - i >= 12 && in[i + 6] == '\\' &&
	    in[i + 7] == 'u' && !hex4(in + i + 8, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		n = 12;
	} else if (cp >= 0xd800 && cp <= 0xdfff) {
		cp = 0xfffd; /* a lone surrogate */
	}
	return put_utf8(&jt->scratch, cp) ? -ENOMEM : n;
}

/* Decodes the string body [I, END) (escapes present) into jt->scratch. */
static int decode(struct jsontext *jt, size_t i, size_t end)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *in = jt->in, *bs, *e;
	int n;

	jt->scratch.len = 0;
	while (i < end) {
		bs = memchr(in + i, '\\', end - i);
		if (!bs)
			return translate_buf_add(&jt->scratch, in + i, end - i);
		if (translate_buf_add(&jt->scratch, in + i, (size_t)(bs - (in + i))))
			return -ENOMEM;
		i = (size_t)(bs - in);
		if (in[i + 1] == 'u') {
			n = decode_u(jt, i, end);
			if (n < 0)
				return n;
			i += (size_t)n;
			continue;
		}
		e = memchr(from, in[i + 1], sizeof(from) - 1);
		if (!e || in[i + 1] == '\0')
			return -EINVAL;
		if (translate_buf_add(&jt->scratch, &to[e - from], 1))
			return -ENOMEM;
		i += 2;
	}
	return 0;
}

/* The string at jt->pos: checks and decodes it, calls back, moves past it. */
static int parse_string(struct jsontext *jt, int is_key)
{
	struct jsontext_string s = {.raw_start = jt->pos, .is_key = is_key, .path = jt->path};
	size_t i, body = jt->pos + 1;
	int escaped = 0, err;

	for (i = body; i < jt->len && jt->in[i] != '"'; i++) {
		if ((unsigned char)jt->in[i] < 0x20)
			return -EINVAL;
		if (jt->in[i] == '\\') {
			escaped = 1;
			i++;
		}
	}
	if (i >= jt->len)
		return -EINVAL;
	s.raw_end = i + 1;
	s.text = jt->in + body;
	s.len = i - body;
	if (escaped) {
		err = decode(jt, body, i);
		if (err)
			return err;
		s.text = jt->scratch.data ? jt->scratch.data : "";
		s.len = jt->scratch.len;
	}
	if (is_key) {
		struct jsontext_step *st = &jt->path[jt->depth - 1];

		st->key_len = s.len;
		memcpy(st->key, s.text, s.len < JSONTEXT_KEY_MAX ? s.len : JSONTEXT_KEY_MAX);
		st->key[s.len < JSONTEXT_KEY_MAX ? s.len : JSONTEXT_KEY_MAX] = '\0';
	}
	s.depth = jt->depth;
	jt->pos = s.raw_end;
	jt->cur = &s;
	err = jt->fn ? jt->fn(jt->arg, jt, &s) : 0;
	jt->cur = NULL;
	return err;
}

static int skip_digits(struct jsontext *jt)
{
	size_t start = jt->pos;

	while (jt->pos < jt->len && jt->in[jt->pos] >= '0' && jt->in[jt->pos] <= '9')
		jt->pos++;
	return jt->pos > start ? 0 : -EINVAL;
}

static int parse_number(struct jsontext *jt)
{
	if (peek(jt) == '-')
		jt->pos++;
	if (peek(jt) == '0')
		jt->pos++;
	else if (skip_digits(jt))
		return -EINVAL;
	if (peek(jt) == '.') {
		jt->pos++;
		if (skip_digits(jt))
			return -EINVAL;
	}
	if (peek(jt) == 'e' || peek(jt) == 'E') {
		jt->pos++;
		if (peek(jt) == '+' || peek(jt) == '-')
			jt->pos++;
		if (skip_digits(jt))
			return -EINVAL;
	}
	return 0;
}

static int parse_literal(struct jsontext *jt, const char *lit)
{
	size_t n = strlen(lit);

	if (jt->len - jt->pos < n || memcmp(jt->in + jt->pos, lit, n))
		return -EINVAL;
	jt->pos += n;
	return 0;
}

/* The members of the object whose '{' is at jt->pos, path step by step. */
static int parse_object(struct jsontext *jt)
{
	struct jsontext_step *st = &jt->path[jt->depth - 1];
	int err;

	jt->pos++;
	skip_ws(jt);
	if (peek(jt) == '}') {
		jt->pos++;
		return 0;
	}
	for (;;) {
		if (peek(jt) != '"')
			return -EINVAL;
		st->is_index = 0;
		err = parse_string(jt, 1);
		if (err)
			return err;
		skip_ws(jt);
		if (peek(jt) != ':')
			return -EINVAL;
		jt->pos++;
		err = parse_value(jt);
		if (err)
			return err;
		skip_ws(jt);
		if (peek(jt) == '}') {
			jt->pos++;
			return 0;
		}
		if (peek(jt) != ',')
			return -EINVAL;
		jt->pos++;
		skip_ws(jt);
	}
}

static int parse_array(struct jsontext *jt)
{
	struct jsontext_step *st = &jt->path[jt->depth - 1];
	int err;

	st->is_index = 1;
	st->index = 0;
	jt->pos++;
	skip_ws(jt);
	if (peek(jt) == ']') {
		jt->pos++;
		return 0;
	}
	for (;; st->index++) {
		err = parse_value(jt);
		if (err)
			return err;
		skip_ws(jt);
		if (peek(jt) == ']') {
			jt->pos++;
			return 0;
		}
		if (peek(jt) != ',')
			return -EINVAL;
		jt->pos++;
	}
}

static int parse_container(struct jsontext *jt, int object)
{
	struct jsontext_step *st;
	int err;

	if (jt->depth == JSONTEXT_MAX_DEPTH)
		return -EINVAL;
	st = &jt->path[jt->depth++];
	memset(st, 0, sizeof(*st));
	st->container = jt->pos;
	err = object ? parse_object(jt) : parse_array(jt);
	jt->depth--;
	return err;
}

static int parse_value(struct jsontext *jt)
{
	skip_ws(jt);
	switch (peek(jt)) {
	case '{':
		return parse_container(jt, 1);
	case '[':
		return parse_container(jt, 0);
	case '"':
		return parse_string(jt, 0);
	case 't':
		return parse_literal(jt, "true");
	case 'f':
		return parse_literal(jt, "false");
	case 'n':
		return parse_literal(jt, "null");
	default:
		return parse_number(jt);
	}
}

int jsontext_walk(const char *text, size_t len, jsontext_fn *fn, void *arg, char **ret,
		  size_t *ret_len)
{
	struct jsontext jt = {.in = text, .len = len, .fn = fn, .arg = arg, .writable = !!ret};
	int err;

	err = parse_value(&jt);
	if (!err) {
		skip_ws(&jt);
		if (jt.pos != jt.len)
			err = -EINVAL;
	}
	if (!err && jt.copied && translate_buf_add(&jt.out, text + jt.copied, len - jt.copied))
		err = -ENOMEM;
	translate_buf_free(&jt.scratch);
	if (err || !jt.copied) {
		translate_buf_free(&jt.out);
		if (ret)
			*ret = NULL;
		return err;
	}
	*ret = jt.out.data;
	*ret_len = jt.out.len;
	return 0;
}

int jsontext_replace(struct jsontext *jt, const char *text, size_t len)
{
	const struct jsontext_string *s = jt->cur;

	if (!jt->writable || !s || jt->copied > s->raw_start)
		return -EINVAL;
	if (translate_buf_add(&jt->out, jt->in + jt->copied, s->raw_start - jt->copied) ||
	    jsontext_encode(&jt->out, text, len))
		return -ENOMEM;
	jt->copied = s->raw_end;
	return 0;
}

int jsontext_encode(struct translate_buf *b, const char *text, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;
	int err = translate_buf_add(b, "\"", 1);

	for (size_t i = 0; i < len && !err; i++) {
		unsigned char c = (unsigned char)text[i];
		char esc[6] = {'\\', (char)c, '0', '0', hex[c >> 4], hex[c & 15]};

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		err = translate_buf_add(b, text + start, i - start);
		if (c == '\n' || c == '\t' || c == '\r') {
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			err |= translate_buf_add(b, esc, 2);
		} else if (c < 0x20) {
			esc[1] = 'u';
			err |= translate_buf_add(b, esc, 6);
		} else {
			err |= translate_buf_add(b, esc, 2);
		}
		start = i + 1;
	}
	if (!err)
		err = translate_buf_add(b, text + start, len - start);
	return err ? -ENOMEM : translate_buf_add(b, "\"", 1);
}

int jsontext_step_is(const struct jsontext_string *s, unsigned i, const char *key)
{
	const struct jsontext_step *st = &s->path[i];

	return i < s->depth && !st->is_index && st->key_len == strlen(key) &&
	       !memcmp(st->key, key, st->key_len);
}
