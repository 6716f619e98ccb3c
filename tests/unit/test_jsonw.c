/* test_jsonw.c: records written with jsonw are the JSON cJSON reads back, escapes included,
 * and audit_write_text() chains them like any record. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "ledger/audit.h"
#include "unit.h"
#include "util/jsonw.h"

static void test_round_trip(void)
{
	struct jsonw *w = jsonw_new();
	char *text;
	size_t len;
	cJSON *v;

	jsonw_str(w, "s", "quote\" backslash\\ newline\n tab\t bell\x07 é");
	jsonw_num(w, "i", 42);
	jsonw_num(w, "neg", -7);
	jsonw_num(w, "zero", 0);
	jsonw_num(w, "big", 9007199254740991.0);
	jsonw_num(w, "f", 3.25);
	jsonw_bool(w, "t", 1);
	jsonw_bool(w, "no", 0);
	jsonw_null(w, "n");
	jsonw_str(w, "nullstr", NULL);
	jsonw_strn(w, "cut", "abcdef", 3);
	text = jsonw_finish(w, &len);
	ASSERT_TRUE(text != NULL);
	ASSERT_EQ(len, strlen(text));
	ASSERT_CONTAINS(text, "\"i\":42,");
	ASSERT_CONTAINS(text, "\"zero\":0,");
	ASSERT_CONTAINS(text, "\"neg\":-7,");
	v = cJSON_Parse(text);
	ASSERT_TRUE(v != NULL);
	ASSERT_STREQ(cJSON_GetObjectItem(v, "s")->valuestring,
		     "quote\" backslash\\ newline\n tab\t bell\x07 é");
	ASSERT_EQ(cJSON_GetObjectItem(v, "big")->valuedouble, 9007199254740991.0);
	ASSERT_EQ(cJSON_GetObjectItem(v, "neg")->valueint, -7);
	ASSERT_EQ(cJSON_GetObjectItem(v, "i")->valueint, 42);
	ASSERT_TRUE(cJSON_GetObjectItem(v, "f")->valuedouble == 3.25);
	ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(v, "t")));
	ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(v, "no")));
	ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(v, "n")));
	ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(v, "nullstr")));
	ASSERT_STREQ(cJSON_GetObjectItem(v, "cut")->valuestring, "abc");
	cJSON_Delete(v);
	free(text);
}

static void test_empty_and_growth(void)
{
	struct jsonw *w = jsonw_new();
	char key[16], *text;
	size_t len;
	cJSON *v;

	text = jsonw_finish(jsonw_new(), &len);
	ASSERT_STREQ(text, "{}");
	free(text);
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		jsonw_str(w, key, "a value long enough to make the buffer grow several times");
	}
	text = jsonw_finish(w, &len);
	v = cJSON_Parse(text);
	ASSERT_TRUE(v != NULL);
	ASSERT_EQ(cJSON_GetArraySize(v), 500);
	cJSON_Delete(v);
	free(text);
}

static void test_audit_write_text_chains(void)
{
	char dir[] = "/tmp/aigw-jsonw-XXXXXX", path[64], *text, *line = NULL;
	const char *paths[1] = {path};
	struct audit_log *log;
	struct jsonw *w;
	size_t len, cap = 0;
	FILE *f, *devnull;
	int n = 0;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a.jsonl", dir);
	ASSERT_OK(audit_open(path, NULL, &log));
	for (int i = 0; i < 3; i++) {
		w = jsonw_new();
		jsonw_str(w, "time", "2026-11-27T12:00:00.000000Z");
		jsonw_num(w, "i", i);
		text = jsonw_finish(w, &len);
		ASSERT_OK(audit_write_text(log, text, len));
	}
	ASSERT_EQ(audit_write_text(log, strdup("not json"), 8), -EINVAL);
	ASSERT_OK(audit_flush(log));
	audit_close(log);
	f = fopen(path, "r");
	ASSERT_TRUE(f != NULL);
	while (getline(&line, &cap, f) > 0) {
		cJSON *v = cJSON_Parse(line);

		ASSERT_TRUE(v != NULL);
		ASSERT_EQ(cJSON_GetObjectItem(v, "i")->valueint, n);
		ASSERT_EQ(cJSON_GetObjectItem(v, "audit.seq")->valueint, n + 1);
		ASSERT_TRUE(cJSON_GetObjectItem(v, "audit.prev_sha256") != NULL);
		ASSERT_EQ(cJSON_GetObjectItem(v, "audit.chain_start") != NULL, n == 0);
		cJSON_Delete(v);
		n++;
	}
	free(line);
	fclose(f);
	ASSERT_EQ(n, 3);
	devnull = fopen("/dev/null", "w");
	ASSERT_EQ(audit_verify(paths, 1, NULL, devnull), 0);
	fclose(devnull);
	unlink(path);
	rmdir(dir);
}

/* VAL as jsonw_num() writes it: the text between "v": and the closing brace. */
static void num_text(double val, char *out, size_t size)
{
	struct jsonw *w = jsonw_new();
	size_t len;
	char *text;

	jsonw_num(w, "v", val);
	text = jsonw_finish(w, &len);
	ASSERT_TRUE(text != NULL && len >= 6);
	snprintf(out, size, "%.*s", (int)(len - 6), text + 5);
	free(text);
}

/* Non-integral numbers are exactly what "%.15g" writes, on the fast path for latencies
 * (milliseconds to the nanosecond) and outside it: edges, rounding, signs, exponents. */
static void test_num_exact(void)
{
	static const double fixed[] = {
	    0.5, -0.5, 3.25, 0.1, 0.2, 0.3, 1e-4, -1e-4, 0.000123, 9.99e-5, 0.0001000001,
	    0.175361, 123456.000001, 999999999.999999, -999999999.999999, 1e9 + 0.5, 1e9 - 0.5,
	    1234.5678905, 0.1234567, 2.0000005, 1.999999, 1e15 + 0.5, 1e-300, 1.7976931348623157e308,
	    -2.5e-7, 5e-324, 0.30000000000000004, 86400000.123456};
	char got[64], want[64];
	unsigned long long x = 88172645463325252ULL;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		num_text(fixed[i], got, sizeof(got));
		snprintf(want, sizeof(want), "%.15g", fixed[i]);
		ASSERT_STREQ(got, want);
	}
	for (int i = 0; i < 200000; i++) { /* xorshift: latencies of every magnitude */
		long long ns;
		double ms;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		ns = (long long)(x % 1000000000000000ULL) >> (x % 50);
		ms = (i & 1 ? (double)ns / 1e6 : (ns / 1000000000) * 1e3 + (ns % 1000000000) / 1e6);
		if (i % 7 == 0)
			ms = -ms;
		if (ms == floor(ms))
			continue;
		num_text(ms, got, sizeof(got));
		snprintf(want, sizeof(want), "%.15g", ms);
		ASSERT_STREQ(got, want);
	}
	num_text(NAN, got, sizeof(got));
	ASSERT_STREQ(got, "null");
	num_text(-INFINITY, got, sizeof(got));
	ASSERT_STREQ(got, "null");
	num_text(9007199254740991.0, got, sizeof(got));
	ASSERT_STREQ(got, "9007199254740991");
	num_text(-9007199254740991.0, got, sizeof(got));
	ASSERT_STREQ(got, "-9007199254740991");
}

/* Integral numbers are "%lld" below 2^53 in magnitude and "%.15g" from there (as jsonw_num()
 * wrote them with a digit loop of its own): every power of ten and its neighbours, both
 * signs, zero and minus zero, the edges of 2^53 and of int64, and random magnitudes. */
static void test_num_integers(void)
{
	unsigned long long x = 0x853c49e6748fea9bULL;
	char got[64], want[64];

	for (int round = 0; round < 100000; round++) {
		double v;

		if (round < 200) { /* 10^k - 1, 10^k, 10^k + 1, both signs */
			double p = pow(10, round / 6 % 19);

			v = (round % 3 == 0 ? p - 1 : round % 3 == 1 ? p : p + 1) *
			    (round / 3 % 2 ? -1 : 1);
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			v = (double)(long long)(x >> (x % 64)) * (x & 1 ? -1 : 1);
		}
		num_text(v, got, sizeof(got));
		if (fabs(v) < 9007199254740992.0)
			snprintf(want, sizeof(want), "%lld", (long long)v);
		else
			snprintf(want, sizeof(want), "%.15g", v);
		ASSERT_STREQ(got, want);
	}
	static const struct {
		double v;
		const char *text;
	} edges[] = {
	    {0, "0"},
	    {-0.0, "0"},
	    {1, "1"},
	    {-1, "-1"},
	    {9007199254740991.0, "9007199254740991"},
	    {-9007199254740991.0, "-9007199254740991"},
	    {9007199254740992.0, "9.00719925474099e+15"},
	    {-9007199254740992.0, "-9.00719925474099e+15"},
	    {9223372036854775807.0, "9.22337203685478e+18"},
	    {-9223372036854775807.0 - 1, "-9.22337203685478e+18"},
	    {18446744073709551615.0, "1.84467440737096e+19"},
	};
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		num_text(edges[i].v, got, sizeof(got));
		ASSERT_STREQ(got, edges[i].text);
	}
}

/* S (N bytes) escaped byte by byte, between quotes, at OUT; returns the bytes written. */
static size_t ref_escape(char *out, const char *s, size_t n)
{
	size_t len = 0;

	out[len++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			len += (size_t)sprintf(out + len, "\\%c", s[i]);
		else if ((unsigned char)s[i] < 0x20)
			len += (size_t)sprintf(out + len, "\\u%04x", (unsigned char)s[i]);
		else
			out[len++] = s[i];
	}
	out[len++] = '"';
	return len;
}

/* IN (SIZE bytes) as jsonw_strn() writes it under the key k\", against an escape written
 * byte by byte here. */
static void expect_escaped(const char *in, size_t size)
{
	static char want[8000];
	struct jsonw *w = jsonw_new();
	size_t len, n = 0;
	char *text;

	memcpy(want + n, "{\"k\\\\\\\"\":", 9); /* {"k\\\"": */
	n += 9;
	n += ref_escape(want + n, in, size);
	memcpy(want + n, "}", 2);
	jsonw_strn(w, "k\\\"", in, size);
	text = jsonw_finish(w, &len);
	ASSERT_STREQ(text, want);
	ASSERT_EQ(len, n + 1);
	free(text);
}

/* Escapes are exact: every control character, quote and backslash, at every offset in a word
 * of eight, among UTF-8 and DEL, in short strings and in long ones (measured before they are
 * written); keys are escaped the same way. */
static void test_escape_exact(void)
{
	char in[1200];
	unsigned long long x = 0x2545f4914f6cdd1dULL;

	for (size_t size = 0; size <= 600; size += 299) {
		for (size_t i = 0; i < size; i++)
			in[i] = (char)(i % 3 ? 'a' + i % 26 : i % 64 == 0 ? '"' : i % 96);
		expect_escaped(in, size);
	}
	for (int round = 0; round < 20000; round++) {
		size_t size = (size_t)(round % 40 == 0 ? 1000 : round % 37);

		for (size_t i = 0; i < size; i++) {
			static const char pick[] = {'a', 'Z', ' ', '~', 0x7f, '"', '\\', 0, '\n',
						    0x1f, 0x20, 0x21, 0x5b, 0x5d, (char)0x80,
						    (char)0xc3, (char)0xa9, (char)0xff};

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			in[i] = x % 4 ? 'a' + (char)(x % 26) : pick[(x >> 8) % sizeof(pick)];
		}
		expect_escaped(in, size);
	}
}

/* The blocks of sixteen and eight bytes and the last ones read again: every length up to 80,
 * with no special byte, with one at each offset, and with two at each pair of offsets, of each
 * kind (a byte at the edge of each class: 0x1f, 0x20, quote, backslash, DEL, 0x80, 0xff). */
static void test_escape_blocks(void)
{
	static const char specials[] = {0x01, 0x1f, '"', '\\', '\n', 0x20, 0x7f, (char)0x80,
					(char)0xe2, (char)0xff};
	char in[80];

	for (size_t size = 0; size <= sizeof(in); size++) {
		memset(in, 'x', size);
		expect_escaped(in, size);
		for (size_t k = 0; k < sizeof(specials); k++) {
			for (size_t at = 0; at < size; at++) {
				memset(in, 'x', size);
				in[at] = specials[k];
				expect_escaped(in, size);
				for (size_t at2 = at + 1; at2 < size && size <= 40; at2++) {
					in[at2] = specials[(k + at2) % sizeof(specials)];
					expect_escaped(in, size);
					in[at2] = 'x';
				}
			}
		}
	}
}

/* Keys are written with their separator and colon in one go: records of one to nine members
 * whose keys (of every length up to 300, specials at every offset of a word) and values are
 * random are byte for byte what a writer that escapes byte by byte writes. */
static void test_keys_exact(void)
{
	static const char pick[] = {'a', '.', '_', '"', '\\', 0, '\n', 0x1f, 0x7f, (char)0xc3};
	static char keys[9][320], want[40000];
	unsigned long long x = 0x9e3779b97f4a7c15ULL;
	struct jsonw *w;
	size_t len, n;
	char *text;

	for (int round = 0; round < 5000; round++) {
		int members = 1 + round % 9;

		w = jsonw_new();
		want[0] = '{';
		n = 1;
		for (int m = 0; m < members; m++) {
			size_t klen = round % 50 == 0 ? 300 : (size_t)((round + m) % 41);

			for (size_t i = 0; i < klen; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				keys[m][i] = x % 5 ? 'a' + (char)(x % 26) : pick[(x >> 8) % sizeof(pick)];
				if (!keys[m][i]) /* keys are C strings */
					keys[m][i] = '0';
			}
			keys[m][klen] = 0;
			if (m)
				want[n++] = ',';
			n += ref_escape(want + n, keys[m], klen);
			want[n++] = ':';
			switch (m % 4) {
			case 0:
				jsonw_str(w, keys[m], keys[(m + 1) % members]);
				n += ref_escape(want + n, keys[(m + 1) % members],
						strlen(keys[(m + 1) % members]));
				break;
			case 1:
				jsonw_num(w, keys[m], round);
				n += (size_t)sprintf(want + n, "%d", round);
				break;
			case 2:
				jsonw_null(w, keys[m]);
				n += (size_t)sprintf(want + n, "null");
				break;
			default:
				jsonw_bool(w, keys[m], round & 1);
				n += (size_t)sprintf(want + n, round & 1 ? "true" : "false");
			}
		}
		memcpy(want + n, "}", 2);
		n++;
		text = jsonw_finish(w, &len);
		ASSERT_STREQ(text, want);
		ASSERT_EQ(len, n);
		free(text);
	}
}

/* Members whose key is reserved exactly (over 256 bytes, or empty) after every length of a
 * first member: the comma before each is room too. Once it was not: at one length the
 * writer's buffer was left one byte short of its closing brace and NUL, and the next member
 * was written past its end (AddressSanitizer). */
static void test_exact_keys_at_every_fill(void)
{
	static char key[301], pad[2300], want[4096];
	struct jsonw *w;
	size_t len;
	char *text;

	memset(key, 'k', 300);
	for (size_t p = 0; p < sizeof(pad) - 1; p++) {
		memset(pad, 'p', p);
		pad[p] = 0;
		w = jsonw_new();
		ASSERT_TRUE(w != NULL);
		jsonw_str(w, "a", pad);
		jsonw_num(w, key, 7);
		jsonw_str(w, "", "e");
		jsonw_bool(w, key, 1);
		text = jsonw_finish(w, &len);
		ASSERT_TRUE(text != NULL);
		snprintf(want, sizeof(want), "{\"a\":\"%s\",\"%s\":7,\"\":\"e\",\"%s\":true}", pad, key,
			 key);
		ASSERT_STREQ(text, want);
		ASSERT_EQ(len, strlen(want));
		free(text);
	}
}

/* A memo's source: what its members are made from. */
struct memo_src {
	unsigned id;
	unsigned long_text; /* members longer than a memo keeps: written anew each time */
	char name[8];
};

static void memo_make(struct jsonw *w, const void *src)
{
	const struct memo_src *m = src;
	char text[700];

	jsonw_num(w, "id", m->id);
	jsonw_strn(w, "name", m->name, strnlen(m->name, sizeof(m->name)));
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	if (m->long_text)
		jsonw_str(w, "long", text);
}

/* A record of a member before and SRC's members, through MEMO or (MEMO NULL) made afresh. */
static char *memo_record(struct jsonw_memo *memo, const struct memo_src *src)
{
	struct jsonw *w = jsonw_new();
	size_t len;

	jsonw_str(w, "before", "x");
	if (memo)
		jsonw_memo_members(w, memo, src, sizeof(*src), memo_make);
	else
		memo_make(w, src);
	jsonw_num(w, "after", 1);
	return jsonw_finish(w, &len);
}

/* Members copied from a memo are byte for byte the ones made afresh, for a source repeated and
 * for one that differs from the last in any one byte (never the last one's members), and for
 * members too long to keep. */
static void test_memo_members_exact(void)
{
	struct jsonw_memo memo = {0};
	struct memo_src src = {.id = 7, .name = "curl"};
	unsigned long long x = 0x2545f4914f6cdd1dULL;

	for (int round = 0; round < 20000; round++) {
		char *got, *want;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (x % 3) { /* else the same source again */
			unsigned char *byte = (unsigned char *)&src + x / 3 % sizeof(src);

			*byte ^= (unsigned char)(1 + (x >> 20) % 255);
		}
		src.long_text &= 1;
		got = memo_record(&memo, &src);
		want = memo_record(NULL, &src);
		ASSERT_TRUE(got && want);
		ASSERT_STREQ(got, want);
		free(got);
		free(want);
	}
}

/* Writes into W, the old way (key measured and escaped, integers through a double) when OLD,
 * else with the writers of a key quoted at compile time: a record's members of every kind. */
static void quoted_members(struct jsonw *w, int old, int64_t i, uint64_t u, double d,
			   const char *str)
{
	if (old) {
		jsonw_str(w, "gen_ai.system", str);
		jsonw_num(w, "aigw.cost.pico_usd", (double)i);
		jsonw_num(w, "http.response.body.size", (double)u);
		jsonw_num(w, "aigw.latency_ms", d);
		jsonw_strn(w, "url.path", str ? str : "", str ? strlen(str) / 2 : 0);
		jsonw_null(w, "cost_usd");
		jsonw_bool(w, "aigw.stream", (int)(u & 1));
		jsonw_raw(w, "aigw.attempts", "[1,2]", 5);
		jsonw_num(w, "t", (double)i);
	} else {
		jsonw_kstr(w, "gen_ai.system", str);
		jsonw_ki64(w, "aigw.cost.pico_usd", i);
		jsonw_ku64(w, "http.response.body.size", u);
		jsonw_knum(w, "aigw.latency_ms", d);
		jsonw_kstrn(w, "url.path", str ? str : "", str ? strlen(str) / 2 : 0);
		jsonw_knull(w, "cost_usd");
		jsonw_kbool(w, "aigw.stream", (int)(u & 1));
		jsonw_kraw(w, "aigw.attempts", "[1,2]", 5);
		jsonw_ki64(w, "t", i);
	}
}

static char *quoted_record(int old, int first, int64_t i, uint64_t u, double d, const char *str)
{
	struct jsonw *w = jsonw_new();
	size_t len;

	if (!first)
		jsonw_str(w, "before", "x");
	quoted_members(w, old, i, u, d, str);
	return jsonw_finish(w, &len);
}

/* The writers of a quoted key write the bytes the others write, for integers of every size
 * (past 2^53 the double rounds, and they must round the same), negatives, fractions, escapes,
 * NULL strings, first member or not. */
static void test_quoted_keys_exact(void)
{
	static const int64_t ints[] = {
	    0, 1, -1, 7, -7, 999, 1000000, 9007199254740991LL, -9007199254740991LL,
	    9007199254740992LL, -9007199254740992LL, 9007199254740993LL, -9007199254740993LL,
	    123456789012345678LL, -123456789012345678LL, INT64_MAX, INT64_MIN, INT64_MIN + 1};
	static const uint64_t uints[] = {0, 1, 443, 9007199254740991ULL, 9007199254740992ULL,
					 9007199254740993ULL, 18446744073709551557ULL, UINT64_MAX,
					 (uint64_t)INT64_MAX + 1};
	static const double doubles[] = {0, -0.0, 0.25, -3.5, 12.345678, 1e-5, 1e300, -1e300,
					 123456789.123, 0.1, NAN, INFINITY};
	static const char *const strs[] = {"openai", "quote\" back\\ nl\n nul-free \x01\x1f",
					   "é and a string long enough to take blocks of sixteen",
					   "", NULL};
	size_t n_i = sizeof(ints) / sizeof(ints[0]), n_u = sizeof(uints) / sizeof(uints[0]);
	size_t n_d = sizeof(doubles) / sizeof(doubles[0]), n_s = sizeof(strs) / sizeof(strs[0]);

	for (size_t k = 0; k < n_i * n_u; k++) {
		int64_t i = ints[k % n_i];
		uint64_t u = uints[k / n_i];
		double d = doubles[k % n_d];
		const char *str = strs[k % n_s];

		for (int first = 0; first < 2; first++) {
			char *want = quoted_record(1, first, i, u, d, str);
			char *got = quoted_record(0, first, i, u, d, str);

			ASSERT_TRUE(want && got);
			ASSERT_STREQ(got, want);
			free(want);
			free(got);
		}
	}
}

/* The writers of a quoted key make their room inline: around a member of every length (so
 * that each of them meets the end of the buffer, and grows it, at every offset), they
 * write the bytes the others write, and leave room for the closing brace and NUL. */
static void test_quoted_keys_at_every_fill(void)
{
	static char pad[2300], long_text[301];

	memset(long_text, 'q', sizeof(long_text) - 1);
	for (size_t p = 0; p < sizeof(pad) - 1; p++) {
		struct jsonw *old = jsonw_new(), *got = jsonw_new();
		char *want_text, *got_text;
		size_t want_len, got_len;

		ASSERT_TRUE(old && got);
		memset(pad, 'p', p);
		pad[p] = 0;
		jsonw_str(old, "a", pad);
		jsonw_str(got, "a", pad);
		quoted_members(old, 1, -123456789, 443, 12.345678, "long enough for blocks");
		quoted_members(got, 0, -123456789, 443, 12.345678, "long enough for blocks");
		/* past 256 bytes: given its room (almost) exactly */
		jsonw_str(old, "b", long_text);
		jsonw_str(got, "b", long_text);
		jsonw_raw(old, "z", "[]", 2); /* last, given its room exactly, at every fill */
		jsonw_kraw(got, "z", "[]", 2);
		want_text = jsonw_finish(old, &want_len);
		got_text = jsonw_finish(got, &got_len);
		ASSERT_TRUE(want_text && got_text);
		ASSERT_STREQ(got_text, want_text);
		ASSERT_EQ(got_len, want_len);
		free(want_text);
		free(got_text);
	}
}

UNIT_MAIN(UNIT_CASE(test_round_trip), UNIT_CASE(test_empty_and_growth),
	  UNIT_CASE(test_exact_keys_at_every_fill),
	  UNIT_CASE(test_audit_write_text_chains), UNIT_CASE(test_num_exact),
	  UNIT_CASE(test_num_integers), UNIT_CASE(test_escape_exact), UNIT_CASE(test_escape_blocks),
	  UNIT_CASE(test_keys_exact), UNIT_CASE(test_memo_members_exact),
	  UNIT_CASE(test_quoted_keys_exact), UNIT_CASE(test_quoted_keys_at_every_fill))
