/*
 * translate_json.c: see translate_json.h. The scanner follows cJSON 1.7's parse_value(),
 * parse_string(), parse_number(), parse_array() and parse_object() step by step, so that the
 * texts it accepts and the values it reads are the ones cJSON would have built a tree of; the
 * differential tests (tests/unit/test_translate_stream.c, tests/fuzz/fuzz_translate.c) hold it
 * to that.
 */
#include <endian.h>
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "providers/translate_json.h"
#include "providers/translate_util.h"

struct scan {
	const unsigned char *p, *end;
	size_t depth; /* containers open, as cJSON counts them against CJSON_NESTING_LIMIT */
	struct tj_val *vals;
};

static int scan_value(struct scan *sc, const struct tj_field *fields, const struct tj_field *elem,
		      struct tj_val *v);

/* cJSON's whitespace: any byte up to the space, NUL included. */
static void skip_ws(struct scan *sc)
{
	while (sc->p < sc->end && *sc->p <= 32)
		sc->p++;
}

/* Four hex digits; 0 when one is not (cJSON's parse_hex4: "\uZZZZ" is U+0000). */
static unsigned hex4(const unsigned char *p)
{
	unsigned h = 0, d;

	for (int i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return 0;
		h = h << 4 | d;
	}
	return h;
}

static size_t utf8(unsigned long cp, unsigned char u[4])
{
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	u[0] = (unsigned char)(0xF0 | cp >> 18);
	u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	u[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The escape at P (P[0] is '\\', END the string's closing quote) as cJSON decodes it: its
 * bytes in U and *ULEN. Returns the text bytes it takes, 0 when cJSON refuses it. */
static size_t unescape(const unsigned char *p, const unsigned char *end, unsigned char u[4],
		       size_t *ulen)
{
	unsigned first, second;

	*ulen = 1;
	switch (p[1]) {
	case 'b':
		u[0] = '\b';
		return 2;
	case 'f':
		u[0] = '\f';
		return 2;
	case 'n':
		u[0] = '\n';
		return 2;
	case 'r':
		u[0] = '\r';
		return 2;
	case 't':
		u[0] = '\t';
		return 2;
	case '"':
	case '\\':
	case '/':
		u[0] = p[1];
		return 2;
	case 'u':
		break;
	default:
		return 0;
	}
	if (end - p < 6)
		return 0;
	first = hex4(p + 2);
	if (first >= 0xDC00 && first <= 0xDFFF)
		return 0; /* a low surrogate alone */
	if (first < 0xD800 || first > 0xDBFF) {
		*ulen = utf8(first, u);
		return 6;
	}
	if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
		return 0;
	second = hex4(p + 8);
	if (second < 0xDC00 || second > 0xDFFF)
		return 0;
	*ulen = utf8(0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF)), u);
	return 12;
}

/* Where the first quote, backslash or control character is among the 8 bytes at P; 8 when
 * there is none. The bit tricks of "Bit Twiddling Hacks" (a zero byte, a byte less than N)
 * flag every such byte, and the lowest flag is always a true one. */
static unsigned first_special(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t x, quote, backslash, flags;

	memcpy(&x, p, 8);
	x = le64toh(x); /* byte 0 lowest, whatever the machine */
	quote = x ^ (ones * '"');
	backslash = x ^ (ones * '\\');
	flags = (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
		 ((x - ones * 0x20) & ~x)) &
		highs;
	return flags ? (unsigned)__builtin_ctzll(flags) / 8 : 8;
}

/* A string from its opening quote; *V gets its text. Strings are most of what an event is
 * made of: ordinary bytes are skipped 8 at a time. */
static int scan_string(struct scan *sc, struct tj_val *v)
{
	const unsigned char *s = sc->p + 1, *q = s, *e;
	unsigned char plain = 1, u[4];
	unsigned skip;
	size_t n, ulen;

	for (;;) {
		if (q + 8 <= sc->end) {
			skip = first_special(q);
			q += skip;
			if (skip == 8)
				continue;
		} else if (q >= sc->end) {
			return -EBADMSG;
		} else if (*q >= 0x20 && *q != '"' && *q != '\\') {
			q++; /* the last bytes, one at a time */
			continue;
		}
		if (*q == '"')
			break;
		if (*q == '\\') {
			if (q + 1 >= sc->end)
				return -EBADMSG;
			q++;
		}
		plain = 0; /* an escape or a control character */
		q++;
	}
	for (e = s; !plain && e < q; e++) {
		if (*e != '\\')
			continue;
		n = unescape(e, q, u, &ulen);
		if (!n)
			return -EBADMSG;
		e += n - 1;
	}
	v->type = TJ_STRING;
	v->plain = plain;
	v->p = (const char *)s;
	v->len = (size_t)(q - s);
	sc->p = q + 1;
	return 0;
}

static int is_number_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

/* A number: what strtod() makes of the whole run of [0-9+-eE.] (with the locale's decimal
 * point for '.'), as cJSON reads it; a plain integer of up to 15 digits directly, which gives
 * the same double. */
static int scan_number(struct scan *sc, struct tj_val *v)
{
	const unsigned char *p = sc->p;
	size_t i, n, neg = *p == '-', left = (size_t)(sc->end - p);
	char stack[64], *buf = stack, *after;
	double d = 0;

	v->type = TJ_NUMBER;
	for (i = neg; i < left && i < neg + 15 && p[i] >= '0' && p[i] <= '9'; i++)
		d = d * 10 + (p[i] - '0');
	if (i > neg && (i == left || !is_number_char(p[i]))) {
		v->num = neg ? -d : d;
		sc->p += i;
		return 0;
	}
	for (n = 0; n < left && is_number_char(p[n]); n++)
		;
	if (n >= sizeof(stack) && !(buf = malloc(n + 1)))
		return -EBADMSG; /* cJSON fails the parse too */
	for (i = 0; i < n; i++)
		buf[i] = p[i] == '.' ? *localeconv()->decimal_point : (char)p[i];
	buf[n] = '\0';
	v->num = strtod(buf, &after);
	n = (size_t)(after - buf);
	if (buf != stack)
		free(buf);
	if (!n)
		return -EBADMSG;
	sc->p += n;
	return 0;
}

static int scan_literal(struct scan *sc, struct tj_val *v)
{
	static const struct {
		const char *text;
		size_t len;
		enum tj_type type;
	} lits[] = {{"null", 4, TJ_NULL}, {"false", 5, TJ_FALSE}, {"true", 4, TJ_TRUE}};
	size_t left = (size_t)(sc->end - sc->p);

	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		if (left >= lits[i].len && !memcmp(sc->p, lits[i].text, lits[i].len)) {
			v->type = lits[i].type;
			sc->p += lits[i].len;
			return 0;
		}
	}
	return -EBADMSG;
}

/* The field of FIELDS named KEY (a scanned string), or NULL. */
static const struct tj_field *field_named(const struct tj_field *f, const struct tj_val *key)
{
	for (; f->key; f++) {
		if (!key->plain) {
			if (translate_json_is(key, f->key))
				return f;
		} else if (key->len && f->key[0] == key->p[0] &&
			   !strncmp(f->key, key->p, key->len) && !f->key[key->len]) {
			return f;
		}
	}
	return NULL;
}

/* "key": value, with the whitespace around; the value goes to its slot the first time. */
static int scan_member(struct scan *sc, const struct tj_field *fields)
{
	struct tj_val key, other, *v = &other;
	const struct tj_field *f = NULL;
	int rc;

	skip_ws(sc);
	if (sc->p >= sc->end || *sc->p != '"')
		return -EBADMSG;
	rc = scan_string(sc, &key);
	if (rc)
		return rc;
	skip_ws(sc);
	if (sc->p >= sc->end || *sc->p != ':')
		return -EBADMSG;
	sc->p++;
	skip_ws(sc);
	if (fields)
		f = field_named(fields, &key);
	if (f && sc->vals[f->slot].type == TJ_NONE)
		v = &sc->vals[f->slot];
	else
		f = NULL;
	rc = scan_value(sc, f ? f->sub : NULL, f ? f->elem : NULL, v);
	skip_ws(sc);
	return rc;
}

/* An array element, with the whitespace around; FIELDS are picked out of it when it is an
 * object. */
static int scan_element(struct scan *sc, const struct tj_field *fields)
{
	struct tj_val elem;
	int rc;

	skip_ws(sc);
	if (sc->p >= sc->end || *sc->p != '{')
		fields = NULL;
	rc = scan_value(sc, fields, NULL, &elem);
	skip_ws(sc);
	return rc;
}

/* An array (CLOSE ']') or object (CLOSE '}') from its opening bracket; FIELDS are picked
 * out of the object, or out of the array's first element when that is an object. No closing
 * bracket before a first child unless it is empty, nor after a ','. */
static int scan_container(struct scan *sc, const struct tj_field *fields, struct tj_val *v,
			  unsigned char close)
{
	int rc;

	if (sc->depth >= CJSON_NESTING_LIMIT)
		return -EBADMSG;
	sc->depth++;
	v->type = close == '}' ? TJ_OBJECT : TJ_ARRAY;
	v->p = (const char *)sc->p++;
	v->count = 0;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == close)
		goto out;
	for (;;) {
		if (close == '}')
			rc = scan_member(sc, fields);
		else
			rc = scan_element(sc, v->count ? NULL : fields);
		if (rc)
			return rc;
		v->count++;
		if (sc->p >= sc->end || *sc->p != ',')
			break;
		sc->p++;
	}
	if (sc->p >= sc->end || *sc->p != close)
		return -EBADMSG;
out:
	sc->p++;
	sc->depth--;
	v->len = (size_t)((const char *)sc->p - v->p);
	return 0;
}

/* A value into *V: FIELDS are picked out of it when it is an object, ELEM out of its first
 * element when it is an array whose first element is an object. */
static int scan_value(struct scan *sc, const struct tj_field *fields, const struct tj_field *elem,
		      struct tj_val *v)
{
	if (sc->p >= sc->end)
		return -EBADMSG;
	switch (*sc->p) {
	case '"':
		return scan_string(sc, v);
	case '[':
		return scan_container(sc, elem, v, ']');
	case '{':
		return scan_container(sc, fields, v, '}');
	case '-':
	case '0' ... '9':
		return scan_number(sc, v);
	default:
		return scan_literal(sc, v);
	}
}

/* Keeps in C the text before the member SC is at and the slots filled so far, when that member
 * is the first with members of its own to pick (OpenAI's "choices", Anthropic's "delta"):
 * what comes before it is, in a stream, the same event after event. */
static void prefix_keep(struct tj_prefix *c, const struct scan *sc, const char *in,
			const struct tj_field *fields, size_t n)
{
	struct scan peek = *sc;
	const struct tj_field *f;
	size_t len = (size_t)((const char *)sc->p - in);
	struct tj_val key;
	char *text;

	skip_ws(&peek);
	if (peek.p >= peek.end || *peek.p != '"' || scan_string(&peek, &key))
		return;
	f = field_named(fields, &key);
	if (!f || (!f->sub && !f->elem))
		return;
	c->kept = 1;
	if (n > TJ_PREFIX_SLOTS)
		return;
	if (len > c->cap) {
		text = realloc(c->text, len);
		if (!text)
			return;
		c->text = text;
		c->cap = len;
	}
	memcpy(c->text, in, len);
	memcpy(c->vals, sc->vals, n * sizeof(*c->vals));
	for (size_t i = 0; i < n; i++) /* where the text will be next time */
		c->off[i] = c->vals[i].p ? (size_t)(c->vals[i].p - in) : 0;
	c->len = len;
}

/* The top-level object's members from the one SC is at on, and its closing brace. */
static int scan_top(struct scan *sc, const struct tj_field *fields, struct tj_prefix *c,
		    const char *in, size_t n)
{
	int rc;

	for (;;) {
		rc = scan_member(sc, fields);
		if (rc)
			return rc;
		if (sc->p >= sc->end || *sc->p != ',')
			break;
		sc->p++;
		if (c && !c->kept) /* after a ',' only: after the '{', a '}' would be no error */
			prefix_keep(c, sc, in, fields, n);
	}
	if (sc->p >= sc->end || *sc->p != '}')
		return -EBADMSG;
	sc->p++;
	return 0;
}

/* Whether IN (LEN bytes) starts with C's text: then SC resumes after it, with its slots. */
static int prefix_resume(struct tj_prefix *c, struct scan *sc, const char *in, size_t len, size_t n)
{
	if (!c || !c->len || len < c->len || memcmp(in, c->text, c->len))
		return 0;
	memcpy(sc->vals, c->vals, n * sizeof(*sc->vals));
	for (size_t i = 0; i < n; i++)
		if (sc->vals[i].p)
			sc->vals[i].p = in + c->off[i];
	sc->p += c->len;
	return 1;
}

/* From the start of the text to the top-level object's first member (or its end, when it is
 * empty): 1 when there are members to scan, 0 when it was empty, or -EBADMSG. */
static int scan_open(struct scan *sc, size_t len)
{
	if (len > 4 && !memcmp(sc->p, "\xEF\xBB\xBF", 3)) /* cJSON skips a byte order mark */
		sc->p += 3;
	skip_ws(sc);
	if (sc->p >= sc->end || *sc->p != '{')
		return -EBADMSG;
	sc->p++;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == '}') {
		sc->p++;
		return 0;
	}
	return 1;
}

int translate_json_scan(struct tj_prefix *c, const char *in, size_t len,
			const struct tj_field *fields, struct tj_val *vals, size_t n)
{
	struct scan sc = {(const unsigned char *)in, (const unsigned char *)in + len, 1, vals};
	int rc;

	if (!in || !len) {
		memset(vals, 0, n * sizeof(*vals));
		return -EBADMSG;
	}
	if (prefix_resume(c, &sc, in, len, n)) {
		rc = scan_top(&sc, fields, NULL, in, n);
	} else {
		memset(vals, 0, n * sizeof(*vals));
		if (c)
			c->len = c->kept = 0;
		rc = scan_open(&sc, len);
		if (rc > 0)
			rc = scan_top(&sc, fields, c, in, n);
	}
	if (rc)
		return rc;
	while (sc.p < sc.end && (*sc.p == ' ' || *sc.p == '\n' || *sc.p == '\r' || *sc.p == '\t'))
		sc.p++;
	return sc.p == sc.end ? 0 : -EBADMSG;
}

void translate_json_prefix_free(struct tj_prefix *c)
{
	free(c->text);
	memset(c, 0, sizeof(*c));
}

void translate_json_iter(struct tj_iter *it, const struct tj_val *v)
{
	int container = v->type == TJ_ARRAY || v->type == TJ_OBJECT;

	it->p = container ? v->p + 1 : NULL;
	it->end = container ? v->p + v->len - 1 : NULL;
	it->object = v->type == TJ_OBJECT;
}

int translate_json_next(struct tj_iter *it, const struct tj_field *fields, struct tj_val *vals,
			size_t n, struct tj_val *ret)
{
	struct scan sc = {(const unsigned char *)it->p, (const unsigned char *)it->end, 0, vals};
	struct tj_val key;

	memset(vals, 0, n * sizeof(*vals));
	memset(ret, 0, sizeof(*ret));
	skip_ws(&sc);
	if (sc.p >= sc.end)
		return 0;
	if (it->object) { /* the text was scanned whole already: "key" ws ':' ws */
		scan_string(&sc, &key);
		skip_ws(&sc);
		sc.p++;
		skip_ws(&sc);
	}
	if (scan_value(&sc, fields, NULL, ret))
		return 0;
	skip_ws(&sc);
	if (sc.p < sc.end && *sc.p == ',')
		sc.p++;
	it->p = (const char *)sc.p;
	return 1;
}

/* ---- decoded strings ---- */

/* The decoded bytes of a scanned string, piece by piece. */
struct pieces {
	const unsigned char *p, *end;
	unsigned char u[4];
	int whole; /* past an escaped U+0000 too */
};

static void pieces_init(struct pieces *it, const struct tj_val *v, int whole)
{
	it->p = (const unsigned char *)v->p;
	it->end = it->p + v->len;
	it->whole = whole;
}

/* The next piece (*RET, *RET_LEN): a run of the text as it is, or what one escape stands for.
 * 0 at the end, or at a U+0000, where cJSON's C string ends (unless whole: an escaped one is a
 * piece). */
static int pieces_next(struct pieces *it, const unsigned char **ret, size_t *ret_len)
{
	const unsigned char *q = it->p;
	size_t n;

	if (q >= it->end || !*q)
		return 0;
	if (*q == '\\') {
		n = unescape(q, it->end, it->u, ret_len);
		if (!n || (!it->u[0] && !it->whole)) /* !n: not on scanned text */
			return 0;
		it->p += n;
		*ret = it->u;
		return 1;
	}
	while (q < it->end && *q && *q != '\\')
		q++;
	*ret = it->p;
	*ret_len = (size_t)(q - it->p);
	it->p = q;
	return 1;
}

int translate_json_is(const struct tj_val *v, const char *s)
{
	size_t len = strlen(s), at = 0, n;
	const unsigned char *piece;
	struct pieces it;

	if (v->type != TJ_STRING)
		return 0;
	if (v->plain)
		return v->len == len && !memcmp(v->p, s, len);
	pieces_init(&it, v, 0);
	while (pieces_next(&it, &piece, &n)) {
		if (n > len - at || memcmp(s + at, piece, n))
			return 0;
		at += n;
	}
	return at == len;
}

/* Decodes V (WHOLE: past an escaped U+0000) into BUF (CAP bytes, may be 0); returns the
 * decoded length. */
static size_t decode(const struct tj_val *v, char *buf, size_t cap, int whole)
{
	const unsigned char *piece;
	size_t len = 0, n;
	struct pieces it;

	pieces_init(&it, v, whole);
	while (pieces_next(&it, &piece, &n)) {
		if (len < cap)
			memcpy(buf + len, piece, n < cap - len ? n : cap - len);
		len += n;
	}
	if (cap)
		buf[len < cap ? len : cap - 1] = '\0';
	return len;
}

const char *translate_json_copy(const struct tj_val *v, char *buf, size_t cap, int *ret_cut)
{
	size_t len;

	if (v->type != TJ_STRING || !cap)
		return NULL;
	len = decode(v, buf, cap, 0);
	if (ret_cut)
		*ret_cut = len >= cap;
	return buf;
}

/* V decoded (WHOLE: past an escaped U+0000) into a new string of *RET_LEN bytes. */
static char *dup_decoded(const struct tj_val *v, int whole, size_t *ret_len)
{
	size_t len;
	char *s;

	if (v->type != TJ_STRING)
		return NULL;
	len = decode(v, NULL, 0, whole);
	s = malloc(len + 1);
	if (s) {
		decode(v, s, len + 1, whole);
		*ret_len = len;
	}
	return s;
}

char *translate_json_dup(const struct tj_val *v)
{
	size_t len;

	return dup_decoded(v, 0, &len);
}

char *translate_json_dup_whole(const struct tj_val *v, size_t *ret_len)
{
	return dup_decoded(v, 1, ret_len);
}

/* ---- writing ---- */

/* Appends decoded bytes S (N) escaped as cJSON's print_string_ptr() does (a NUL, which ends
 * its strings, as \u0000). */
static int put_escaped(struct translate_buf *b, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = {'\\', 'u', '0', '0'};
	size_t i, run = 0, elen;
	int err = 0;

	for (i = 0; i < n; i++) {
		if (s[i] > 31 && s[i] != '"' && s[i] != '\\')
			continue;
		err |= translate_buf_add(b, (const char *)s + run, i - run);
		run = i + 1;
		elen = 2;
		switch (s[i]) {
		case '"':
		case '\\':
			e[1] = (char)s[i];
			break;
		case '\b':
			e[1] = 'b';
			break;
		case '\f':
			e[1] = 'f';
			break;
		case '\n':
			e[1] = 'n';
			break;
		case '\r':
			e[1] = 'r';
			break;
		case '\t':
			e[1] = 't';
			break;
		default:
			e[1] = 'u';
			e[4] = hex[s[i] >> 4];
			e[5] = hex[s[i] & 15];
			elen = 6;
		}
		err |= translate_buf_add(b, e, elen);
	}
	return err | translate_buf_add(b, (const char *)s + run, n - run);
}

/* Whether the text at P (before END) stands in the output as it is: a byte that needs no
 * escape, or an escape that cJSON decodes to a byte it escapes back the same way (\" \\ \b
 * \f \n \r \t). */
static int same_out(const char *p, const char *end)
{
	if (*p != '\\')
		return (unsigned char)*p >= 0x20;
	return p + 1 < end && p[1] != '/' && p[1] != 'u';
}

/* Appends the escaped text of a string that is not plain: what stays as it is is copied in
 * runs; the rest (\/, \u escapes, control characters) is decoded and escaped again, up to a
 * U+0000, where cJSON's string ends. */
static int put_unplain(struct translate_buf *b, const struct tj_val *v)
{
	const char *p = v->p, *end = v->p + v->len, *run = p;
	unsigned char u[4];
	size_t n, ulen;
	int err = 0;

	while (p < end) {
		if (same_out(p, end)) {
			p += *p == '\\' ? 2 : 1;
			continue;
		}
		err |= translate_buf_add(b, run, (size_t)(p - run));
		if (*p == '\\') {
			n = unescape((const unsigned char *)p, (const unsigned char *)end, u,
				     &ulen);
		} else {
			u[0] = (unsigned char)*p;
			n = ulen = 1;
		}
		if (!n || !u[0]) /* !n: not on scanned text */
			return err;
		err |= put_escaped(b, u, ulen);
		p += n;
		run = p;
	}
	return err | translate_buf_add(b, run, (size_t)(p - run));
}

int translate_json_put_str(struct translate_buf *b, const struct tj_val *v)
{
	int err = translate_buf_add(b, "\"", 1);

	if (v->plain)
		err |= translate_buf_add(b, v->p, v->len);
	else
		err |= put_unplain(b, v);
	return err | translate_buf_add(b, "\"", 1);
}

int translate_json_put_bytes(struct translate_buf *b, const char *s, size_t n)
{
	int err = translate_buf_add(b, "\"", 1);

	err |= put_escaped(b, (const unsigned char *)s, n);
	return err | translate_buf_add(b, "\"", 1);
}

int translate_json_put_cstr(struct translate_buf *b, const char *s)
{
	return translate_json_put_bytes(b, s, strlen(s));
}

/* Whole numbers in int's range as "%d" prints them, a negative zero as 0 (cJSON prints "-0",
 * a count no strict decoder takes); the rest by cJSON itself. */
int translate_json_put_num(struct translate_buf *b, double d)
{
	char buf[64], *p = buf + sizeof(buf);
	cJSON item = {.type = cJSON_Number};
	long long i;

	if (d >= -2147483648.0 && d <= 2147483647.0 && d == (double)(long long)d) {
		i = (long long)d;
		for (unsigned long long u = i < 0 ? -(unsigned long long)i : (unsigned long long)i;
		     p == buf + sizeof(buf) || u; u /= 10)
			*--p = (char)('0' + u % 10);
		if (i < 0)
			*--p = '-';
		return translate_buf_add(b, p, (size_t)(buf + sizeof(buf) - p));
	}
	cJSON_SetNumberHelper(&item, d);
	if (!cJSON_PrintPreallocated(&item, buf, sizeof(buf), 0))
		return -ENOMEM;
	return translate_buf_add(b, buf, strlen(buf));
}
