/*
 * json_locate: finds where a value sits in JSON text (cJSON keeps no positions), and turns
 * offsets into line:column. Owns nothing but this scanning; see json_locate.h.
 *
 * The scanner follows cJSON's own lexing: whitespace is any byte <= ' ', a string runs to the
 * first unescaped '"', a number or literal is a run of [A-Za-z0-9+-.]. Every read is bounded by
 * the length, so text that is not what cJSON accepted gives -EINVAL, never an overrun.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "policy/json_locate.h"

#define NONE JSON_LOCATE_NONE

static size_t skip_bom(const char *t, size_t len)
{
	return len >= 3 && memcmp(t, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (unsigned char)t[i] <= ' ')
		i++;
	return i;
}

/* From the opening quote at I to one past the closing one. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
	if (i >= len || t[i] != '"')
		return NONE;
	for (i++; i < len && t[i] != '"'; i++) {
		if (t[i] == '\\')
			i++;
	}
	return i < len ? i + 1 : NONE;
}

static bool is_scalar_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '+' || ch == '-' || ch == '.';
}

static size_t skip_container(const char *t, size_t len, size_t i)
{
	size_t depth = 0;

	while (i < len) {
		if (t[i] == '"') {
			i = skip_string(t, len, i);
			if (i == NONE)
				return NONE;
			continue;
		}
		if (t[i] == '{' || t[i] == '[') {
			depth++;
		} else if (t[i] == '}' || t[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return NONE;
}

static size_t skip_value(const char *t, size_t len, size_t i)
{
	size_t start = i;

	if (i >= len)
		return NONE;
	if (t[i] == '"')
		return skip_string(t, len, i);
	if (t[i] == '{' || t[i] == '[')
		return skip_container(t, len, i);
	while (i < len && is_scalar_char(t[i]))
		i++;
	return i > start ? i : NONE;
}

static int hex4(const char *t, size_t end, size_t i)
{
	int v = 0;

	if (i + 4 > end)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		char ch = t[k];
		int d = ch >= '0' && ch <= '9'	 ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
						 : -1;
		if (d < 0) /* as cJSON's parse_hex4(): a bad digit makes the whole \u code 0 */
			return 0;
		v = v * 16 + d;
	}
	return v;
}

static size_t utf8_encode(unsigned long cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | (cp >> 6);
		out[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = 0xe0 | (cp >> 12);
		out[1] = 0x80 | ((cp >> 6) & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	out[0] = 0xf0 | (cp >> 18);
	out[1] = 0x80 | ((cp >> 12) & 0x3f);
	out[2] = 0x80 | ((cp >> 6) & 0x3f);
	out[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* "\uXXXX" (and its low surrogate, if any) at *I into OUT; returns the byte count or 0. */
static size_t unescape_u(const char *t, size_t end, size_t *i, unsigned char *out)
{
	int hi = hex4(t, end, *i + 2), lo;
	unsigned long cp = hi;

	if (hi < 0)
		return 0;
	*i += 6;
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (*i + 1 >= end || t[*i] != '\\' || t[*i + 1] != 'u')
			return 0;
		lo = hex4(t, end, *i + 2);
		if (lo < 0xdc00 || lo > 0xdfff)
			return 0;
		cp = 0x10000 + (((unsigned long)hi - 0xd800) << 10) + ((unsigned long)lo - 0xdc00);
		*i += 6;
	}
	return utf8_encode(cp, out);
}

/* The escape at *I (a backslash) into OUT; advances *I; returns the byte count or 0. */
static size_t unescape(const char *t, size_t end, size_t *i, unsigned char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;

	if (*i + 1 >= end)
		return 0;
	if (t[*i + 1] == 'u')
		return unescape_u(t, end, i, out);
	p = memchr(from, t[*i + 1], sizeof(from) - 1);
	if (!p)
		return 0;
	out[0] = to[p - from];
	*i += 2;
	return 1;
}

/* Whether the raw string body T[I..END) decodes to KEY. A "\u0000" ends it, as in cJSON. */
static bool key_equals(const char *t, size_t i, size_t end, const char *key)
{
	const unsigned char *k = (const unsigned char *)key;
	unsigned char buf[4];
	size_t n;

	while (i < end) {
		if (t[i] == '\\') {
			n = unescape(t, end, &i, buf);
			if (!n)
				return false;
		} else {
			buf[0] = t[i++];
			n = 1;
		}
		for (size_t j = 0; j < n; j++, k++) {
			if (!buf[j])
				return !*k;
			if (*k != buf[j])
				return false;
		}
	}
	return !*k;
}

/* Reads a member's key and colon at *I; leaves *I at its value. When KEY is not NULL, whether
 * the member's key is KEY goes to *MATCH. */
static int read_key(const char *t, size_t len, size_t *i, const char *key, bool *match)
{
	size_t start = *i, j = skip_string(t, len, start);

	if (j == NONE)
		return -EINVAL;
	if (key)
		*match = key_equals(t, start + 1, j - 1, key);
	j = skip_ws(t, len, j);
	if (j >= len || t[j] != ':')
		return -EINVAL;
	*i = skip_ws(t, len, j + 1);
	return 0;
}

/* Moves *AT from a container to its member or element named by ST. */
static int step_into(const char *t, size_t len, const struct json_locate_step *st, size_t *at,
		     size_t *key_at)
{
	size_t i = *at, k = NONE;
	char close;
	bool match;
	int r;

	if (i >= len || (t[i] != '{' && t[i] != '['))
		return -ENOENT;
	close = t[i] == '{' ? '}' : ']';
	if (close == ']' && st->key)
		return -ENOENT;
	i = skip_ws(t, len, i + 1);
	for (size_t n = 0; i < len && t[i] != close; n++) {
		match = !st->key && n == st->index;
		if (close == '}') {
			k = i;
			r = read_key(t, len, &i, st->key, &match);
			if (r < 0)
				return r;
		}
		if (match) {
			*at = i;
			*key_at = k;
			return 0;
		}
		i = skip_ws(t, len, skip_value(t, len, i));
		if (i < len && t[i] == ',')
			i = skip_ws(t, len, i + 1);
		else if (i >= len || t[i] != close)
			return -EINVAL;
	}
	return i < len ? -ENOENT : -EINVAL;
}

int json_locate(const char *text, size_t len, const struct json_locate_step *path, size_t n_steps,
		struct json_locate_pos *pos)
{
	size_t i = skip_ws(text, len, skip_bom(text, len)), key = NONE, end;
	int r;

	for (size_t s = 0; s < n_steps; s++) {
		r = step_into(text, len, &path[s], &i, &key);
		if (r < 0)
			return r;
	}
	end = skip_value(text, len, i);
	if (end == NONE)
		return -EINVAL;
	pos->key = key;
	pos->value = i;
	pos->end = end;
	return 0;
}

void json_locate_line_col(const char *text, size_t len, size_t offset, unsigned *line,
			  unsigned *col)
{
	unsigned l = 1, c = 1;

	if (offset > len)
		offset = len;
	for (size_t i = skip_bom(text, offset); i < offset; i++) {
		if (text[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

/* cJSON reports a trailing comma in an object ("1,}") one past the '}'; point at the '}', as
 * it does itself for arrays. */
static size_t fix_error_offset(const char *t, size_t off)
{
	size_t i;

	if (off == 0 || t[off - 1] != '}')
		return off;
	for (i = off - 1; i > 0 && (unsigned char)t[i - 1] <= ' '; i--)
		;
	return i > 0 && t[i - 1] == ',' ? off - 1 : off;
}

cJSON *json_locate_parse(const char *text, size_t len, size_t *err_offset)
{
	const char *end = NULL;
	cJSON *root;

	/* Length includes the '\0' so that cJSON can check nothing follows the value. */
	root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (root)
		return root;
	if (!end || end < text || end > text + len)
		end = cJSON_GetErrorPtr();
	if (!end || end < text || end > text + len)
		*err_offset = len;
	else
		*err_offset = fix_error_offset(text, end - text);
	return NULL;
}

size_t json_locate_count_values(const char *text, size_t len, size_t max)
{
	size_t i = 0, n = 1;

	while (i < len && n <= max) {
		switch (text[i++]) {
		case '"': /* past the closing quote: what a string holds is not structure */
			while (i < len && text[i] != '"')
				i += text[i] == '\\' ? 2 : 1;
			i++;
			break;
		case '{':
		case '[':
		case ',':
			n++;
			break;
		}
	}
	return n;
}

/*
 * The acceptance check: cJSON 1.7.15's grammar (as Debian builds it, numbers of any length)
 * without the tree. Where cJSON is looser than JSON it is followed exactly: whitespace is any
 * byte <= ' ', a number is the longest run of [0-9+-.eE] from a '-' or a digit of which
 * strtod() reads a prefix ("01", "1.", "-.5" pass), a bad hex digit makes a \u code 0, strings
 * may hold raw control bytes and invalid UTF-8, and containers nest at most
 * JSON_LOCATE_DEPTH_MAX deep. tests/unit/test_json_accept.c holds it against cJSON.
 *
 * It runs on every whole answer and request body, so it is written for speed: each reader
 * takes the offset of its value and returns one past it (0: refused; no value ends at 0), a
 * string's bytes are looked through sixteen at a time for its quote or a backslash (SSE2,
 * which every x86-64 has), and a number made of digits alone is read in one loop.
 */
#define ACCEPT_KEYS_MEASURED 32 /* keys whose length is kept once measured */
#define ACCEPT_LEN_LONG 255	/* a key_len for a key too long to keep: measured each time */

struct accept_scan {
	const unsigned char *t;
	size_t len;
	unsigned depth;
	const char *const *keys; /* the members to find (first of each name) */
	const int *parent;	 /* of KEYS[k]: ACCEPT_ROOT or the index of its object's key */
	size_t n_keys;
	struct json_locate_pos *pos;
	bool odd; /* an object searched held an escaped key or a name asked for twice */
	unsigned char key_len[ACCEPT_KEYS_MEASURED]; /* 1 + strlen(KEYS[k]), once measured */
};

#define ACCEPT_ROOT (-1)  /* the root object, as a parent */
#define ACCEPT_OTHER (-2) /* a container whose members are not looked for */

static size_t accept_array(struct accept_scan *s, size_t i);
static size_t accept_object(struct accept_scan *s, size_t i, int id);

static size_t accept_ws(const unsigned char *t, size_t len, size_t i)
{
	while (i < len && t[i] <= ' ')
		i++;
	return i;
}

/* Whether the byte after the whitespace at *I is CH; *I moves to it. CH is looked for first:
 * compact JSON, what providers send, has no whitespace. */
static inline bool accept_at(const unsigned char *t, size_t len, size_t *i, unsigned char ch)
{
	if (*i < len && t[*i] == ch)
		return true;
	*i = accept_ws(t, len, *i);
	return *i < len && t[*i] == ch;
}

#ifdef __SSE2__
/* Bit k: byte k of the sixteen at P is '"' or '\\'. */
static inline unsigned quote_or_backslash16(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
	__m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(quote, backslash));
}
#endif

/* The first '"' or '\\' in T[I..LEN) (I <= LEN), or LEN. With SSE2, sixteen bytes at a time,
 * and what is left under sixteen as part of the text's last sixteen (read again); without it,
 * or in a text shorter than sixteen bytes, a byte at a time. */
static inline __attribute__((always_inline)) size_t find_quote_or_backslash(const unsigned char *t,
									    size_t len, size_t i)
{
#ifdef __SSE2__
	unsigned m;

	if (len >= 16) {
		for (; len - i > 16; i += 16) {
			m = quote_or_backslash16(t + i);
			if (m)
				return i + (size_t)__builtin_ctz(m);
		}
		if (i == len)
			return len;
		m = quote_or_backslash16(t + len - 16) >> (16 - (len - i)); /* bit k: byte I + k */
		return m ? i + (size_t)__builtin_ctz(m) : len;
	}
#endif
	while (i < len && t[i] != '"' && t[i] != '\\')
		i++;
	return i;
}

static unsigned accept_hex4(const unsigned char *p)
{
	int v = hex4((const char *)p, 4, 0);

	return (unsigned)v;
}

/* The length of the \u escape at P (6, or 12 with its low surrogate) before END, or 0. */
static size_t accept_utf16(const unsigned char *p, const unsigned char *end)
{
	unsigned hi, lo;

	if (end - p < 6)
		return 0;
	hi = accept_hex4(p + 2);
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return 0;
	if (hi < 0xd800 || hi > 0xdbff)
		return 6;
	if (end - (p + 6) < 6 || p[6] != '\\' || p[7] != 'u')
		return 0;
	lo = accept_hex4(p + 8);
	return lo >= 0xdc00 && lo <= 0xdfff ? 12 : 0;
}

/* Whether cJSON decodes the escapes of the string body T[I..END) (END: its closing quote).
 * A \u escape may take in bytes the search for the end took as escaped: cJSON reads it so. */
static bool accept_escapes(const unsigned char *t, size_t i, size_t end)
{
	size_t n;

	for (; i < end; i++) {
		if (t[i] != '\\')
			continue;
		if (t[i + 1] == 'u') {
			n = accept_utf16(t + i, t + end);
			if (!n)
				return false;
			i += n - 1;
		} else if (memchr("\"\\/bfnrt", t[i + 1], 8)) {
			i++;
		} else {
			return false;
		}
	}
	return true;
}

/* One past the string whose opening quote is at I, or 0. It ends at the first quote no
 * backslash escapes; *ESCAPED: a backslash came before it (its escapes are then checked). */
static inline __attribute__((always_inline)) size_t
accept_string(const unsigned char *t, size_t len, size_t i, bool *escaped)
{
	size_t end = i + 1;

	*escaped = false;
	for (;;) {
		end = find_quote_or_backslash(t, len, end);
		if (end >= len)
			return 0;
		if (t[end] == '"')
			break;
		*escaped = true;
		end += 2; /* past the escaped byte, whatever it is */
		if (end > len)
			return 0; /* a backslash last: cJSON refuses it */
	}
	if (*escaped && !accept_escapes(t, i + 1, end))
		return 0;
	return end + 1;
}

static bool is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_number_char(unsigned char ch)
{
	return is_digit(ch) || ch == '+' || ch == '-' || ch == '.' || ch == 'e' || ch == 'E';
}

/* How much of R (N bytes of [0-9+-.eE]) strtod() reads in the C locale; 0: nothing. */
static size_t strtod_prefix(const unsigned char *r, size_t n)
{
	size_t k = 0, digits = 0, e;

	if (k < n && (r[k] == '+' || r[k] == '-'))
		k++;
	for (; k < n && is_digit(r[k]); k++)
		digits++;
	if (k < n && r[k] == '.')
		for (k++; k < n && is_digit(r[k]); k++)
			digits++;
	if (!digits)
		return 0;
	if (k < n && (r[k] == 'e' || r[k] == 'E')) {
		e = k + 1;
		if (e < n && (r[e] == '+' || r[e] == '-'))
			e++;
		if (e < n && is_digit(r[e])) {
			while (e < n && is_digit(r[e]))
				e++;
			k = e;
		}
	}
	return k;
}

/* One past the number at I (a '-' or a digit), or 0. Digits after an optional '-' that no
 * other byte of [0-9+-.eE] follows are all of it; else strtod_prefix() reads the run. */
static size_t accept_number(const unsigned char *t, size_t len, size_t i)
{
	size_t digits = i + (t[i] == '-'), k = digits, n;

	while (k < len && is_digit(t[k]))
		k++;
	if (k > digits && (k == len || !is_number_char(t[k])))
		return k;
	while (k < len && is_number_char(t[k]))
		k++;
	n = strtod_prefix(t + i, k - i);
	return n ? i + n : 0;
}

static size_t accept_literal(const unsigned char *t, size_t len, size_t i, const char *word,
			     size_t n)
{
	return len - i >= n && !memcmp(t + i, word, n) ? i + n : 0;
}

/* strlen(KEYS[K]), measured once for the first ACCEPT_KEYS_MEASURED keys. */
static size_t accept_key_len(struct accept_scan *s, size_t k)
{
	size_t n;

	if (k < ACCEPT_KEYS_MEASURED && s->key_len[k] && s->key_len[k] != ACCEPT_LEN_LONG)
		return s->key_len[k] - 1u;
	n = strlen(s->keys[k]);
	if (k < ACCEPT_KEYS_MEASURED)
		s->key_len[k] = n + 1 < ACCEPT_LEN_LONG ? (unsigned char)(n + 1) : ACCEPT_LEN_LONG;
	return n;
}

/* Whether the raw key R (N bytes, no backslash) is KEY (KEY_LEN bytes) as cJSON holds it: its
 * bytes up to a NUL, if it has one. */
static bool plain_key_equals(const unsigned char *r, size_t n, const char *key, size_t key_len)
{
	return (n == key_len || (n > key_len && !r[key_len])) && !memcmp(r, key, key_len);
}

/* Which keys asked for are members of the object ID: KEYS[*LO..*HI) (they come together,
 * after the key of the object). */
static void accept_keys_of(const struct accept_scan *s, int id, size_t *lo, size_t *hi)
{
	const int *parent = s->parent;
	size_t n = s->n_keys, k = id == ACCEPT_ROOT ? 0 : (size_t)id + 1;

	if (!parent) { /* all of the root's */
		*lo = id == ACCEPT_ROOT ? 0 : n;
		*hi = n;
		return;
	}
	while (k < n && parent[k] != id)
		k++;
	*lo = k;
	while (k < n && parent[k] == id)
		k++;
	*hi = k;
}

/* Of KEYS[LO..HI), the one the member's key at KEY (ending before KEY_END, ESCAPED: it holds
 * a backslash) is, when it is the first of its name: its index, else ACCEPT_OTHER. A key with
 * no backslash is compared only with the keys of its first byte (as a NUL cuts it). */
static int accept_match(struct accept_scan *s, size_t lo, size_t hi, size_t key, size_t key_end,
			bool escaped)
{
	const unsigned char *r = s->t + key + 1;
	size_t n = key_end - key - 2, k;
	unsigned char first = n ? r[0] : '\0';

	if (escaped) {
		for (k = lo; k < hi; k++)
			if (key_equals((const char *)s->t, key + 1, key_end - 1, s->keys[k]))
				break;
	} else {
		for (k = lo; k < hi; k++)
			if ((unsigned char)s->keys[k][0] == first &&
			    plain_key_equals(r, n, s->keys[k], accept_key_len(s, k)))
				break;
	}
	if (k == hi)
		return ACCEPT_OTHER;
	if (s->pos[k].value == NONE)
		return (int)k;
	s->odd = true; /* a duplicate: the first stays located */
	return ACCEPT_OTHER;
}

/* One past the value at I, or 0; ID: which object it is when it is one (accept_object()). */
static inline __attribute__((always_inline)) size_t accept_value(struct accept_scan *s, size_t i,
								 int id)
{
	const unsigned char *t = s->t;
	size_t len = s->len;
	bool escaped;

	if (i >= len)
		return 0;
	switch (t[i]) {
	case '"':
		return accept_string(t, len, i, &escaped);
	case '{':
		return accept_object(s, i, id);
	case '[':
		return accept_array(s, i);
	case 'n':
		return accept_literal(t, len, i, "null", 4);
	case 'f':
		return accept_literal(t, len, i, "false", 5);
	case 't':
		return accept_literal(t, len, i, "true", 4);
	default:
		return t[i] == '-' || is_digit(t[i]) ? accept_number(t, len, i) : 0;
	}
}

/* A container is entered: false when it would nest deeper than cJSON lets it. */
static bool accept_enter(struct accept_scan *s)
{
	if (s->depth >= JSON_LOCATE_DEPTH_MAX)
		return false;
	s->depth++;
	return true;
}

/* One past the container's CLOSE, which must be at I (after its last member), or 0. */
static size_t accept_leave(struct accept_scan *s, size_t i, unsigned char close)
{
	if (i >= s->len || s->t[i] != close)
		return 0;
	s->depth--;
	return i + 1;
}

/* The elements of the array whose '[' is at I. */
static size_t accept_array(struct accept_scan *s, size_t i)
{
	const unsigned char *t = s->t;
	size_t len = s->len;

	if (!accept_enter(s))
		return 0;
	i = accept_ws(t, len, i + 1);
	if (i < len && t[i] == ']')
		return accept_leave(s, i, ']');
	for (;;) {
		i = accept_value(s, i, ACCEPT_OTHER);
		if (!i)
			return 0;
		if (!accept_at(t, len, &i, ','))
			break;
		i = accept_ws(t, len, i + 1);
	}
	return accept_leave(s, i, ']');
}

/* The members of the object whose '{' is at I; ID: which object it is, as a parent of keys
 * asked for (ACCEPT_OTHER: none is looked for in it). */
static size_t accept_object(struct accept_scan *s, size_t i, int id)
{
	const unsigned char *t = s->t;
	size_t len = s->len, key, value, lo = 0, hi = 0;
	bool search = id != ACCEPT_OTHER && s->n_keys, escaped;
	int k = ACCEPT_OTHER;

	if (!accept_enter(s))
		return 0;
	if (search)
		accept_keys_of(s, id, &lo, &hi);
	i = accept_ws(t, len, i + 1);
	if (i < len && t[i] == '}')
		return accept_leave(s, i, '}');
	for (;;) {
		if (i >= len || t[i] != '"')
			return 0;
		key = i;
		i = accept_string(t, len, i, &escaped);
		if (!i)
			return 0;
		s->odd |= search && escaped;
		if (lo < hi)
			k = accept_match(s, lo, hi, key, i, escaped);
		if (!accept_at(t, len, &i, ':'))
			return 0;
		value = accept_ws(t, len, i + 1);
		i = accept_value(s, value, k);
		if (!i)
			return 0;
		if (k != ACCEPT_OTHER)
			s->pos[k] = (struct json_locate_pos){key, value, i};
		if (!accept_at(t, len, &i, ','))
			break;
		i = accept_ws(t, len, i + 1);
	}
	return accept_leave(s, i, '}');
}

int json_locate_accepted_in(const char *text, size_t len, const char *const *keys,
			    const int *parent, size_t n_keys, struct json_locate_pos *pos,
			    size_t *ret_root, int *ret_odd)
{
	struct accept_scan s = {.t = (const unsigned char *)text,
				.len = len,
				.keys = keys,
				.parent = parent,
				.n_keys = n_keys,
				.pos = pos};
	size_t root, i;

	for (size_t k = 0; k < n_keys; k++)
		pos[k] = (struct json_locate_pos){NONE, NONE, NONE};
	if (!text || !len)
		return -EINVAL;
	/* cJSON skips a byte order mark only when a fifth byte follows it */
	root = accept_ws(s.t, len, len >= 5 && !memcmp(text, "\xef\xbb\xbf", 3) ? 3 : 0);
	i = accept_value(&s, root, ACCEPT_ROOT);
	if (!i)
		goto refused;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i != len)
		goto refused;
	*ret_root = root;
	if (ret_odd)
		*ret_odd = s.odd;
	return 0;
refused:
	for (size_t k = 0; k < n_keys; k++)
		pos[k] = (struct json_locate_pos){NONE, NONE, NONE};
	return -EINVAL;
}

int json_locate_accepted(const char *text, size_t len, const char *const *keys, size_t n_keys,
			 struct json_locate_pos *pos, size_t *ret_root)
{
	return json_locate_accepted_in(text, len, keys, NULL, n_keys, pos, ret_root, NULL);
}
