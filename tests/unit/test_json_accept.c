/* test_json_accept.c: json_locate_accepted() against cJSON itself (usage's json_parse(), the
 * reference it replaces for whole answers): the same texts accepted, on cJSON's own quirks
 * and on many random texts made from JSON's pieces and then damaged; and the root members it
 * locates are the ones cJSON_GetObjectItemCaseSensitive() returns, with the same values. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "policy/json_locate.h"
#include "providers/usage_int.h"
#include "unit.h"

static const char *const keys[] = {"model", "usage", "service_tier", "usageMetadata"};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* cJSON_Compare() calls objects with duplicate names different from themselves: their texts
 * as cJSON prints them are compared instead. */
static int same_tree(const cJSON *a, const cJSON *b)
{
	char *ta = a ? cJSON_PrintUnformatted(a) : NULL, *tb = b ? cJSON_PrintUnformatted(b) : NULL;
	int same = ta && tb && !strcmp(ta, tb);

	free(ta);
	free(tb);
	return same;
}

/* Empty when json_locate_accepted() agrees with cJSON on TEXT (LEN bytes), else what differs. */
static const char *disagreement(const char *text, size_t len)
{
	struct json_locate_pos pos[N_KEYS];
	size_t root = 0;
	int r = json_locate_accepted(text, len, keys, N_KEYS, pos, &root);
	cJSON *tree = json_parse(text, len), *item, *span;
	const char *why = "";

	if (!tree != (r != 0)) {
		why = tree ? "cJSON accepts it, json_locate_accepted() not"
			   : "json_locate_accepted() accepts it, cJSON not";
		goto out;
	}
	if (!tree)
		goto out;
	if ((text[root] == '{') != cJSON_IsObject(tree)) {
		why = "root";
		goto out;
	}
	for (size_t k = 0; k < N_KEYS; k++) {
		item = cJSON_IsObject(tree) ? cJSON_GetObjectItemCaseSensitive(tree, keys[k]) : NULL;
		if (!item != (pos[k].value == JSON_LOCATE_NONE)) {
			why = item ? "a member cJSON finds was not located" : "a member located cJSON lacks";
			goto out;
		}
		if (!item)
			continue;
		span = cJSON_ParseWithLength(text + pos[k].value, pos[k].end - pos[k].value);
		if (!same_tree(item, span) || text[pos[k].key] != '"')
			why = "a located member's value is not cJSON's";
		cJSON_Delete(span);
		if (*why)
			goto out;
	}
out:
	cJSON_Delete(tree);
	return why;
}

/* TEXT (LEN bytes) printable, its other bytes as \xHH, into OUT (SIZE bytes). */
static const char *shown(const char *text, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		o += (size_t)snprintf(out + o, size - o, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
	}
	out[o] = 0;
	return out;
}

#define AGREES(text, len)                                                                          \
	do {                                                                                       \
		const char *_w = disagreement(text, len);                                           \
		char _s[8192];                                                                     \
		if (*_w)                                                                           \
			UNIT_FAIL("%s: %s", _w, shown(text, len, _s, sizeof(_s)));                 \
	} while (0)

#define AGREES_LIT(lit) AGREES(lit, sizeof(lit) - 1)

static void test_quirks(void)
{
	static const char *const texts[] = {
	    "{}", "[]", "1", "-1", "01", "-.5", "1.", "1.e5", ".5", "-", "--1", "+1", "1e", "1e+",
	    "1E-2", "1.2.3", "1e5e5", "-0", "0x10", "1e99999", "\"\"", "\"a\\\"\"", "\"\\uZZZZ\"",
	    "\"\\uDC00\"", "\"\\uD800\"", "\"\\uD800\\uDC00\"", "\"\\uD800\\uZZZZ\"", "\"\\u12\"",
	    "\"\\x\"", "\"a\\\"", "\"\x01\x1f\xff\"", "null", "nul", "nulll", "true", "false",
	    "True", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{1:2}", "{\"a\":1}x",
	    "{\"a\":1} \t\r\n", "{\"a\":1}\x01", "\x01{\"a\":1}", " \x00 [1]", "[\x00 1 \x01]",
	    "\xef\xbb\xbf{}", "\xef\xbb\xbf" "1", "\xef\xbb\xbf" "12", "   ", "[", "{", "{\"a\"",
	    "{\"model\":\"m\",\"model\":\"n\",\"usage\":{\"a\":1},\"usage\":null}",
	    "{\"usage\\u0000x\":{\"a\":1},\"usage\":2}", "{\"us\\u0061ge\":1}",
	    "{\"usage\\uZZZZ\":1}", "{\"x\":\"\\\"usage\\\":{\\\"a\\\":1}\",\"usage\":3}",
	    "{\"model\":[{\"usage\":1}],\"usage\":{\"model\":2}}", "[{\"usage\":1}]",
	    "{\"usage\":1.5e308,\"model\":-0.0}", "{\"usage\":12345678901234567890123456789012345678901234567890123456789012345678901}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		AGREES(texts[i], strlen(texts[i]));
	/* keys with a raw NUL: cJSON's key is cut there */
	AGREES_LIT("{\"usage\x00x\":{\"a\":1},\"usage\":2}");
	AGREES_LIT("{\"model\x00\":\"m\",\"mode\":1,\"modelx\":2,\"model\":3}");
	AGREES_LIT("{\"mo\x00del\":1,\"model\":2}");
	AGREES(" \x00 [1]", 6);
	AGREES("[\x00 1 \x01]", 7);
}

/* Nesting: cJSON refuses the 1001st level; a deep text does not overrun the stack either. */
static void test_depth(void)
{
	static char t[200000];

	for (size_t depth = 999; depth <= 1001; depth++) {
		size_t o = (size_t)sprintf(t, "{\"usage\":");

		for (size_t i = 1; i < depth; i++)
			t[o++] = '[';
		for (size_t i = 1; i < depth; i++)
			t[o++] = ']';
		if (depth == 1)
			t[o++] = '0';
		t[o++] = '}';
		AGREES(t, o);
	}
	memset(t, '[', sizeof(t));
	AGREES(t, sizeof(t));
}

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	return unit_rand(&rng, n);
}

struct text {
	char buf[4096];
	size_t len;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->len + n < sizeof(t->buf)) {
		memcpy(t->buf + t->len, s, n);
		t->len += n;
	}
}

static void put_pick(struct text *t, const char *const *from, size_t n)
{
	const char *s = from[rnd((unsigned)n)];

	put(t, s, strlen(s));
}

#define PICK(t, arr) put_pick(t, arr, sizeof(arr) / sizeof(arr[0]))

static void put_ws(struct text *t)
{
	static const char ws[] = {' ', '\t', '\n', '\r', '\x01', '\0', '\x1f'};

	while (rnd(3) == 0)
		put(t, &ws[rnd(sizeof(ws))], 1);
}

static void gen_value(struct text *t, unsigned depth)
{
	static const char *const scalars[] = {
	    "null", "true", "false", "0", "1", "-1", "01", "-.5", "1.", "1e5", "1E+2", "1e", "-",
	    "2.5e-3", "9007199254740993", "1e400", "-0", "3.0", "1.2.3", "123456789012"};
	static const char *const strings[] = {
	    "\"\"", "\"gpt-4o\"", "\"a\\nb\"", "\"\\u00e9\"", "\"\\uD83D\\uDE00\"", "\"\\uZZZZ\"",
	    "\"\\uDC00\"", "\"\\uD800x\"", "\"\x01\"", "\"\\\"usage\\\":{}\"", "\"\\/\"",
	    "\"\\q\"", "\"\xc3\xa9\xff\""};
	static const char *const names[] = {
	    "\"model\"", "\"usage\"", "\"service_tier\"", "\"usageMetadata\"", "\"a\"",
	    "\"usage\\u0000x\"", "\"us\\u0061ge\"", "\"model\\uZZZZ\"", "\"\"", "\"prompt_tokens\"",
	    "\"mode\"", "\"modelx\"", "\"usage\\\\\""};
	unsigned kind = depth > 4 ? rnd(2) : rnd(4);
	unsigned n = rnd(5);

	put_ws(t);
	if (kind == 0) {
		PICK(t, scalars);
	} else if (kind == 1) {
		PICK(t, strings);
	} else {
		put(t, kind == 2 ? "[" : "{", 1);
		for (unsigned i = 0; i < n; i++) {
			if (i)
				put(t, ",", 1);
			put_ws(t);
			if (kind == 3) {
				PICK(t, names);
				put_ws(t);
				put(t, ":", 1);
			}
			gen_value(t, depth + 1);
			put_ws(t);
		}
		put(t, kind == 2 ? "]" : "}", 1);
	}
	put_ws(t);
}

/* A few bytes changed, dropped or put in, from JSON's own alphabet mostly. */
static void damage(struct text *t)
{
	static const char bytes[] = "{}[],:\"\\u0123456789eE.-+ntfalsr \t\x01\xef\xbb\xbf";
	unsigned n = 1 + rnd(3);

	for (unsigned i = 0; i < n && t->len; i++) {
		size_t at = rnd((unsigned)t->len);
		char b = rnd(8) ? bytes[rnd(sizeof(bytes) - 1)] : (char)rnd(256);

		switch (rnd(3)) {
		case 0:
			t->buf[at] = b;
			break;
		case 1:
			memmove(t->buf + at, t->buf + at + 1, t->len - at - 1);
			t->len--;
			break;
		default:
			if (t->len + 1 < sizeof(t->buf)) {
				memmove(t->buf + at + 1, t->buf + at, t->len - at);
				t->buf[at] = b;
				t->len++;
			}
		}
	}
}

static void test_random_texts(void)
{
	struct text t;
	unsigned accepted = 0;
	cJSON *tree;

	for (int i = 0; i < 300000; i++) {
		t.len = 0;
		if (rnd(4) == 0)
			put(&t, "\xef\xbb\xbf", 3);
		gen_value(&t, 0);
		if (rnd(2))
			damage(&t);
		if (!t.len)
			continue;
		AGREES(t.buf, t.len);
		tree = json_parse(t.buf, t.len);
		accepted += tree != NULL;
		cJSON_Delete(tree);
	}
	/* the generator must reach both answers often, or the comparison says little */
	ASSERT_TRUE(accepted > 30000 && accepted < 270000);
}

/* An object whose one member is 8 MiB of escapes ("\n\n..."): accepted in one pass. The
 * closing quote was searched for again from every backslash, once per escape (minutes for
 * this; a hostile app's request body is walked so): the alarm ends that. */
static void test_string_of_escapes_in_one_pass(void)
{
	static const char head[] = "{\"content\":\"", tail[] = "\"}";
	size_t n = 8u << 20, len = sizeof(head) - 1 + n + sizeof(tail) - 1;
	char *s = malloc(len);
	const char *const wanted[] = {"content"};
	struct json_locate_pos pos[1];
	size_t root;

	ASSERT_TRUE(s != NULL);
	memcpy(s, head, sizeof(head) - 1);
	for (size_t k = 0; k < n; k += 2)
		memcpy(s + sizeof(head) - 1 + k, "\\n", 2);
	memcpy(s + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	alarm(20);
	ASSERT_EQ(json_locate_accepted(s, len, wanted, 1, pos, &root), 0);
	alarm(0);
	ASSERT_EQ(root, 0);
	ASSERT_TRUE(pos[0].value != JSON_LOCATE_NONE);
	free(s);
}

/*
 * A string is searched sixteen bytes at a time for its quote or a backslash, and what is left
 * under sixteen as part of the text's last sixteen bytes: a quote (closing it early), an
 * escaped quote, a backslash, an escape or a control byte at every place of a block, strings
 * ending at every place of one, at the text's end or up to 20 bytes before it (blanks after
 * the object), and every prefix of those texts (a string the text ends inside, a backslash
 * last). Acceptance and the span located (to the byte) must be cJSON's.
 */
static void test_string_scan_block_edges(void)
{
	static const char *const specials[] = {"\"",   "\\\"", "\\\\", "\\n", "\\u00e9",
					       "\x01", "\\",   "\x7f", "\xff"};
	static const char head[] = "{\"model\":\"";
	char t[128];

	for (size_t n = 0; n <= 40 && !unit_failed_current; n++) {
		for (size_t at = 0; at <= n; at++) {
			for (size_t sp = 0; sp < sizeof(specials) / sizeof(*specials); sp++) {
				for (size_t tail = 0; tail <= 20; tail++) {
					size_t len = sizeof(head) - 1, m = strlen(specials[sp]);

					memcpy(t, head, len);
					memset(t + len, 'a', n);
					if (at < n) /* at == n: a plain string */
						memcpy(t + len + at, specials[sp], m);
					len += n + (at < n ? m : 0);
					len += (size_t)sprintf(t + len, "\"}");
					memset(t + len, ' ', tail);
					len += tail;
					AGREES(t, len);
					for (size_t cut = 1; tail == 0 && cut < len; cut++)
						AGREES(t, cut);
				}
			}
		}
	}
}

/* The sixteen-byte search in a text that is shorter than sixteen bytes, or just as long. */
static void test_string_scan_short_texts(void)
{
	static const char *const texts[] = {
	    "\"\"",
	    "\"a\"",
	    "\"\\\"\"",
	    "\"abcdefghijklm\"",
	    "\"abcdefghijklmn\"",
	    "\"abcdefghijklmno\"",
	    "\"abcdefghijklmnop\"",
	    "\"abcdefghijkl\\\"\"",
	    "\"abcdefghijklm\\",
	    "\"abcdefghijklmn\\",
	    "\"abcdefghijklmnop",
	    "{\"model\":\"abc\"}",
	    "{\"model\":\"ab\\\"\"}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++)
		AGREES(texts[i], strlen(texts[i]));
}

/* Numbers: a run of digits is read in one loop unless one of "+-.eE" follows it; what follows
 * a number at every place, as the root and inside an object and an array. */
static void test_number_edges(void)
{
	static const char *const nums[] = {"0", "7", "-", "-0", "12", "-34", "123456789012345678"};
	static const char *const after[] = {"",	  "+", "-", ".", "e", "E", "e5",  "E-2",
					    ".5", "x", "0", " ", "/", ":", "\x01"};
	char t[64];

	for (size_t a = 0; a < sizeof(nums) / sizeof(*nums); a++) {
		for (size_t b = 0; b < sizeof(after) / sizeof(*after); b++) {
			int n = snprintf(t, sizeof(t), "%s%s", nums[a], after[b]);

			AGREES(t, (size_t)n);
			n = snprintf(t, sizeof(t), "{\"usage\":%s%s}", nums[a], after[b]);
			AGREES(t, (size_t)n);
			n = snprintf(t, sizeof(t), "[%s%s,1]", nums[a], after[b]);
			AGREES(t, (size_t)n);
		}
	}
}

/* Over 32 keys asked for (their lengths are kept for 32) and a key too long to keep its
 * length: each located where cJSON finds it, raw NULs in the names cutting them as cJSON. */
static void test_many_and_long_keys(void)
{
	static char names[40][300], text[40 * 320 + 64];
	const char *wanted[40];
	struct json_locate_pos pos[40];
	size_t at = 0, root;
	cJSON *tree;

	for (int k = 0; k < 40; k++) {
		size_t n = k == 30 || k == 37 ? 280 : 1 + (size_t)k % 7;

		memset(names[k], 'a' + k % 26, n);
		names[k][n] = (char)('A' + k / 26); /* distinct names of the same first byte */
		names[k][n + 1] = '\0';
		wanted[k] = names[k];
	}
	text[at++] = '{';
	for (int k = 39; k >= 0; k--) { /* every other one twice; a raw NUL cuts one name */
		at += (size_t)sprintf(text + at, "\"%s\":%d,", names[k], k);
		if (k % 2)
			at += (size_t)sprintf(text + at, "\"%s\":%d,", names[k], 100 + k);
	}
	memcpy(text + at, "\"", 1);
	at += 1;
	memcpy(text + at, names[3], strlen(names[3]));
	at += strlen(names[3]);
	memcpy(text + at, "\0x\":7}", 6); /* a third "names[3]", cut by a raw NUL */
	at += 6;
	ASSERT_OK(json_locate_accepted(text, at, wanted, 40, pos, &root));
	tree = cJSON_ParseWithLength(text, at);
	ASSERT_TRUE(tree != NULL);
	for (int k = 0; k < 40 && !unit_failed_current; k++) {
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(tree, names[k]);

		ASSERT_TRUE(item != NULL && pos[k].value != JSON_LOCATE_NONE);
		ASSERT_EQ(strtol(text + pos[k].value, NULL, 10), item->valueint);
		ASSERT_EQ(text[pos[k].key], '"');
	}
	cJSON_Delete(tree);
	AGREES(text, at);
}

UNIT_MAIN(UNIT_CASE(test_quirks), UNIT_CASE(test_depth), UNIT_CASE(test_random_texts),
	  UNIT_CASE(test_string_of_escapes_in_one_pass), UNIT_CASE(test_string_scan_block_edges),
	  UNIT_CASE(test_string_scan_short_texts), UNIT_CASE(test_number_edges),
	  UNIT_CASE(test_many_and_long_keys))
