/* test_headers.c: how long a provider asks to be left alone (retry-after-ms, retry-after as
 * seconds or an HTTP date), and what is not a wish at all; the fields as they are written on. */
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "headers_ref.h"
#include "proxy/headers.h"
#include "unit.h"

/* The retry wait of an answer carrying the one field NAME: VALUE. */
static long wait_of(const char *name, const char *value)
{
	struct headers h = {0};
	long ms;

	headers_piece(&h, 0, name, strlen(name));
	headers_piece(&h, 1, value, strlen(value));
	headers_complete(&h);
	ms = headers_retry_after_ms(&h);
	headers_free(&h);
	return ms;
}

static void test_retry_after(void)
{
	char date[64];
	time_t later = time(NULL) + 120;
	struct tm tm;

	ASSERT_EQ(wait_of("Retry-After", "1"), 1000);
	ASSERT_EQ(wait_of("retry-after", "2.5"), 2500);
	ASSERT_EQ(wait_of("retry-after-ms", "250"), 250);
	ASSERT_EQ(wait_of("retry-after", "999999999"), 86400000); /* capped, still a wish */
	ASSERT_EQ(wait_of("retry-after", "inf"), 86400000);
	ASSERT_EQ(wait_of("retry-after", "-3"), -1);
	ASSERT_EQ(wait_of("retry-after", "nan"), -1);
	ASSERT_EQ(wait_of("retry-after", "soon"), -1);
	ASSERT_EQ(wait_of("x-other", "5"), -1);
	gmtime_r(&later, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ASSERT_TRUE(wait_of("retry-after", date) > 110000 &&
		    wait_of("retry-after", date) <= 120000);
	later = time(NULL) - 60; /* a date past is a wish for no wait */
	gmtime_r(&later, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ASSERT_EQ(wait_of("retry-after", date), 0);
}

/* OUT's bytes as a string (the test's buffers are small). */
static const char *text_of(struct evbuffer *out, char *buf, size_t size)
{
	size_t n = evbuffer_get_length(out);

	n = n < size - 1 ? n : size - 1;
	evbuffer_copyout(out, buf, n);
	buf[n] = 0;
	return buf;
}

/* Every field not dropped, in order, with its value as it came (an empty one included),
 * appended after what OUT already holds; the hop-by-hop ones and those Connection names go. */
static void test_write(void)
{
	static const char *const f[][2] = {
	    {"Host", "api.openai.com"}, {"Connection", "keep-alive, x-hop"}, {"X-Empty", ""},
	    {"x-hop", "1"},	       {"Content-Type", "application/json"},
	};
	struct evbuffer *out = evbuffer_new();
	struct headers h = {0};
	char buf[512];

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		headers_piece(&h, 0, f[i][0], strlen(f[i][0]));
		headers_piece(&h, 1, f[i][1], strlen(f[i][1]));
	}
	headers_complete(&h);
	evbuffer_add(out, "GET / HTTP/1.1\r\n", 16);
	headers_write(&h, out);
	ASSERT_STREQ(text_of(out, buf, sizeof(buf)),
		     "GET / HTTP/1.1\r\nHost: api.openai.com\r\nX-Empty: \r\n"
		     "Content-Type: application/json\r\n");
	evbuffer_drain(out, evbuffer_get_length(out));
	headers_add(out, "Authorization", "Bearer ", "sk-1");
	headers_add(out, "x-api-key", NULL, "k");
	headers_add_u64(out, "Content-Length", 0);
	headers_add_u64(out, "Content-Length", ULLONG_MAX);
	ASSERT_STREQ(text_of(out, buf, sizeof(buf)),
		     "Authorization: Bearer sk-1\r\nx-api-key: k\r\nContent-Length: 0\r\n"
		     "Content-Length: 18446744073709551615\r\n");
	headers_free(&h);
	evbuffer_free(out);
}

/* Fields that are hop-by-hop in another case, near misses of the same length, values with a
 * raw NUL and empty ones, each name and value fed in pieces cut at AT: written as before. */
static void test_write_as_before(void)
{
	static const struct {
		const char *name;
		size_t name_len;
		const char *value;
		size_t value_len;
	} f[] = {
	    {"TE", 2, "trailers", 8},
	    {"tf", 2, "x", 1},
	    {"Expect", 6, "100-continue", 12},
	    {"Expecs", 6, "1", 1},
	    {"UPGRADE", 7, "h2c", 3},
	    {"Trailes", 7, "2", 1},
	    {"Connection", 10, "close, X-Hop ,x-other", 21},
	    {"Keep-Alive", 10, "timeout=5", 9},
	    {"keep-alivf", 10, "3", 1},
	    {"Content-Length", 14, "12", 2},
	    {"HTTP2-Settings", 14, "AAMA", 4},
	    {"content-lengtx", 14, "4", 1},
	    {"Proxy-Connection", 16, "", 0},
	    {"Transfer-Encoding", 17, "chunked", 7},
	    {"Proxy-Authenticate", 18, "Basic", 5},
	    {"Proxy-Authorization", 19, "Basic eA==", 10},
	    {"proxy-authorizatioN", 19, "again", 5},
	    {"x-hop", 5, "dropped by Connection", 21},
	    {"X-Nul", 5, "before\0after", 12},
	    {"x-empty", 7, "", 0},
	    {"x-long-enough-to-be-none-of-them", 32, "v", 1},
	};
	size_t nf = sizeof(f) / sizeof(f[0]);

	for (size_t at = 1; at < 8; at++) {
		struct evbuffer *out = evbuffer_new();
		struct headers h = {0};
		char got[2048], want[2048];
		size_t w = 0;

		for (size_t i = 0; i < nf; i++) {
			for (size_t k = 0; k < f[i].name_len; k += at)
				headers_piece(&h, 0, f[i].name + k,
					      f[i].name_len - k < at ? f[i].name_len - k : at);
			if (!f[i].value_len) /* as http_parser reports an empty value */
				headers_piece(&h, 1, "", 0);
			for (size_t k = 0; k < f[i].value_len; k += at)
				headers_piece(&h, 1, f[i].value + k,
					      f[i].value_len - k < at ? f[i].value_len - k : at);
		}
		headers_complete(&h);
		headers_write(&h, out);
		for (size_t i = 0; i < nf; i++)
			if (!ref_dropped(f[i].name, f[6].value))
				w += (size_t)snprintf(want + w, sizeof(want) - w, "%s: %s\r\n",
						      f[i].name, f[i].value_len ? f[i].value : "");
		ASSERT_STREQ(text_of(out, got, sizeof(got)), want);
		headers_free(&h);
		evbuffer_free(out);
	}
}

/* A value that fills the arena to its limit but for its NUL's byte: it still ends there, and
 * reads as the bytes it has (its NUL once failed to fit, and a lookup read on past the arena). */
static void test_value_up_to_the_arena_limit(void)
{
	size_t len = HEADERS_ARENA_MAX - 3; /* "x", its NUL, the value, the value's NUL */
	char *value = malloc(len);
	struct headers h = {0};
	const char *got;

	ASSERT_TRUE(value != NULL);
	memset(value, 'v', len);
	ASSERT_EQ(headers_piece(&h, 0, "x", 1), 0);
	ASSERT_EQ(headers_piece(&h, 1, value, len), 0);
	headers_complete(&h);
	ASSERT_EQ(h.len, (size_t)HEADERS_ARENA_MAX);
	got = headers_get(&h, "x");
	ASSERT_TRUE(got != NULL);
	ASSERT_EQ(h.arena[h.len - 1], '\0');
	ASSERT_EQ(strlen(got), len);
	ASSERT_EQ(headers_piece(&h, 0, "y", 1), 0); /* trailers: ignored once complete */
	headers_free(&h);
	free(value);
}

/* Fields NF of them, each "x-field-I: " and a value of I % 97 + 1 bytes of I's letter, fed in
 * pieces of AT bytes into H; then each is read back and the whole written as it was fed. */
static void fill_and_read(struct headers *h, int nf, size_t at)
{
	char name[32], value[128], want[64 * 1024];
	struct evbuffer *out = evbuffer_new();
	char *got = malloc(sizeof(want));
	size_t w = 0;

	ASSERT_TRUE(out && got);
	for (int i = 0; i < nf; i++) {
		size_t nl = (size_t)snprintf(name, sizeof(name), "x-field-%d", i), vl = i % 97 + 1;

		memset(value, 'a' + i % 26, vl);
		for (size_t k = 0; k < nl; k += at)
			ASSERT_EQ(headers_piece(h, 0, name + k, nl - k < at ? nl - k : at), 0);
		for (size_t k = 0; k < vl; k += at)
			ASSERT_EQ(headers_piece(h, 1, value + k, vl - k < at ? vl - k : at), 0);
		w += (size_t)snprintf(want + w, sizeof(want) - w, "%s: %.*s\r\n", name, (int)vl,
				      value);
	}
	headers_complete(h);
	for (int i = 0; i < nf; i++) {
		const char *v;

		snprintf(name, sizeof(name), "X-Field-%d", i);
		v = headers_get(h, name);
		ASSERT_TRUE(v != NULL);
		ASSERT_EQ(strlen(v), i % 97 + 1);
		ASSERT_EQ(v[0], 'a' + i % 26);
		ASSERT_EQ(v[i % 97], 'a' + i % 26);
	}
	headers_write(h, out);
	ASSERT_STREQ(text_of(out, got, sizeof(want)), want);
	evbuffer_free(out);
	free(got);
}

/* The arena's first bytes are in the struct: blocks that fit there, that outgrow it mid-name or
 * mid-value, read again after a reset (the allocation kept) and after a free (the struct's bytes
 * again), every field reads as it was fed. */
static void test_an_arena_outgrowing_its_first_bytes_keeps_every_field(void)
{
	static const int counts[] = {1, 20, 60, 61, 62, 100, 127};
	struct headers h = {0};

	for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++)
		for (size_t at = 1; at <= 41; at += 8) {
			fill_and_read(&h, counts[c], at);
			headers_reset(&h);
			fill_and_read(&h, counts[(c + 3) % 7], at);
			headers_free(&h);
			ASSERT_TRUE(h.arena == NULL);
			if (unit_failed_current)
				return;
		}
}

/* The bytes of OUT, compared with those of WANT. */
static int same_bytes(struct evbuffer *out, struct evbuffer *want)
{
	size_t n = evbuffer_get_length(out);

	return n == evbuffer_get_length(want) &&
	       !memcmp(evbuffer_pullup(out, -1), evbuffer_pullup(want, -1), n);
}

/* "NAME: PREFIXVALUE\r\n" appended piece by piece: what the writers wrote one append each. */
static void ref_field(struct evbuffer *out, const char *name, const char *prefix, const char *value,
		      size_t value_len)
{
	evbuffer_add(out, name, strlen(name));
	evbuffer_add(out, ": ", 2);
	evbuffer_add(out, prefix, strlen(prefix));
	evbuffer_add(out, value, value_len);
	evbuffer_add(out, "\r\n", 2);
}

/* A head built in one piece is the bytes of the same appends made one by one: request lines
 * and fields of random lengths (past the buffer, one byte short of it, exactly it), dropped
 * fields, a write straight to the evbuffer between two parts (the AWS signature's), in order;
 * and the one-append writers (headers_write(), headers_add(), headers_add_u64()) the same. */
static void test_a_head_built_at_once_is_the_appends_one_by_one(void)
{
	static char big[3 * HEAD_BUF_BYTES];
	unsigned long long seed = 11;

	memset(big, 'b', sizeof(big) - 1);
	for (int round = 0; round < 400 && !unit_failed_current; round++) {
		struct evbuffer *want = evbuffer_new(), *got = evbuffer_new(), *one = evbuffer_new();
		struct headers h = {0};
		struct head_buf b;
		int nf = (int)unit_rand(&seed, 40);
		size_t cut = (size_t)unit_rand(&seed, sizeof(big) - 1), vl[40];
		char name[32];

		ASSERT_TRUE(want && got && one);
		evbuffer_add(want, "POST /v1/x HTTP/1.1\r\n", 22);
		big[cut] = '\0';
		ref_field(want, "Authorization", "Bearer ", big, cut);
		big[cut] = 'b';
		evbuffer_add(want, "x-direct: 1\r\n", 14);
		for (int i = 0; i < nf; i++) {
			vl[i] = unit_rand(&seed, 4) ? unit_rand(&seed, 300)
						    : HEAD_BUF_BYTES - 2 + unit_rand(&seed, 5);
			snprintf(name, sizeof(name), i % 7 ? "x-f%d" : "Connection", i);
			headers_piece(&h, 0, name, strlen(name));
			headers_piece(&h, 1, big, vl[i]);
			if (i % 7) /* Connection: hop-by-hop, dropped */
				ref_field(want, name, "", big, vl[i]);
		}
		headers_complete(&h);
		ref_field(want, "x-none", "", "", 0);
		ref_field(want, "Content-Length", "", "18446744073709551615", 20);
		evbuffer_add(want, "\r\n", 2);

		big[cut] = '\0';
		head_begin(&b, got);
		head_put(&b, "POST /v1/x HTTP/1.1\r\n", 22);
		head_field(&b, "Authorization", "Bearer ", big);
		head_flush(&b);
		evbuffer_add(got, "x-direct: 1\r\n", 14);
		head_fields(&b, &h);
		head_field(&b, "x-none", NULL, "");
		head_field_u64(&b, "Content-Length", 18446744073709551615ull);
		head_put(&b, "\r\n", 2);
		head_flush(&b);

		evbuffer_add(one, "POST /v1/x HTTP/1.1\r\n", 22);
		headers_add(one, "Authorization", "Bearer ", big);
		evbuffer_add(one, "x-direct: 1\r\n", 14);
		headers_write(&h, one);
		headers_add(one, "x-none", NULL, "");
		headers_add_u64(one, "Content-Length", 18446744073709551615ull);
		evbuffer_add(one, "\r\n", 2);
		big[cut] = 'b';
		if (!same_bytes(got, want) || !same_bytes(one, want))
			UNIT_FAIL("round %d: %zu and %zu bytes, one by one %zu", round,
				  evbuffer_get_length(got), evbuffer_get_length(one),
				  evbuffer_get_length(want));
		headers_free(&h);
		evbuffer_free(want);
		evbuffer_free(got);
		evbuffer_free(one);
	}
}

/* Each id is its name's, in any case, and no other name's (one byte changed). */
static void test_each_id_is_its_name(void)
{
	ASSERT_EQ(N_IDS, HDR_COUNT - 1);
	for (size_t i = 0; i < N_IDS; i++) {
		size_t n = strlen(ids[i].name);
		char up[32];

		for (size_t k = 0; k <= n; k++)
			up[k] = (char)(ids[i].name[k] >= 'a' && ids[i].name[k] <= 'z'
					   ? ids[i].name[k] - 32
					   : ids[i].name[k]);
		ASSERT_EQ(header_id_of(ids[i].name, n), ids[i].id);
		ASSERT_EQ(header_id_of(up, n), ids[i].id);
		for (size_t k = 0; k < n; k++) {
			char c = up[k];

			/* another byte, or the same letter in the other case */
			up[k] = (char)(c ^ 0x20);
			if ((c | 0x20) < 'a' || (c | 0x20) > 'z')
				ASSERT_EQ(header_id_of(up, n), HDR_OTHER);
			up[k] = (char)(c + 1);
			ASSERT_EQ(header_id_of(up, n), HDR_OTHER);
			up[k] = c;
		}
		ASSERT_EQ(header_id_of(ids[i].name, n - 1), HDR_OTHER);
	}
}

/* Names the gateway asks for that have no id, besides those of ids[]. */
static const char *const asked[] = {
    "accept",
    "user-agent",
    "anthropic-version",
    "anthropic-beta",
    "x-amzn-bedrock-input-token-count",
    "close",
    "x-hop",
};
#define N_ASKED (sizeof(asked) / sizeof(asked[0]))

/* A name near one the gateway asks for (or it), in any case (one byte changed, one short or
 * long, a space, a high byte...), made from R. */
static void near_name(char *out, size_t size, unsigned r)
{
	unsigned pick = r % (N_IDS + N_ASKED);
	const char *base = pick < N_IDS ? ids[pick].name : asked[pick - N_IDS];
	size_t n = strlen(base);

	memcpy(out, base, n + 1);
	for (size_t k = 0; k < n; k++) /* any case */
		if ((r >> (k % 16)) & 1 && out[k] >= 'a' && out[k] <= 'z')
			out[k] -= 32;
	switch ((r >> 20) % 8) {
	case 0: /* one byte changed: to a neighbour, to what is next to the letters, to a control
		 * byte that is a letter or a digit but for bit 0x20, or to a high one */
		out[(r >> 8) % n] = "@[`{\xc1 -_\r\x12"[(r >> 12) % 10] + ((r >> 26) & 1);
		break;
	case 1: /* one short */
		out[n - 1] = 0;
		break;
	case 2: /* one long */
		if (n + 2 < size) {
			out[n] = "sx-"[(r >> 12) % 3];
			out[n + 1] = 0;
		}
		break;
	default: /* the name itself */
		break;
	}
}

/* Random heads of near names, a Connection field listing some of them: the fields dropped,
 * the values found, the counts and headers_drop() are those of the string comparisons. */
static void test_ids_answer_as_the_names_did(void)
{
	unsigned seed = 12345;

	for (int round = 0; round < 20000; round++) {
		struct headers h = {0};
		char names[12][48], conn[200] = "", probe[48];
		int nf = 1 + (int)(rand_r(&seed) % 12), with_conn = rand_r(&seed) % 2;
		const char *first_conn; /* the list that counts: the first Connection field's */
		unsigned count;

		for (int i = 0; i < nf; i++) {
			near_name(names[i], sizeof(names[i]), (unsigned)rand_r(&seed));
			if (i < 4 && with_conn) { /* a list as apps write them */
				strcat(conn, i ? (rand_r(&seed) % 2 ? ", " : ",\t") : "");
				near_name(conn + strlen(conn), 48, (unsigned)rand_r(&seed));
			}
			headers_piece(&h, 0, names[i], strlen(names[i]));
			headers_piece(&h, 1, names[i], strlen(names[i]) / 2);
		}
		if (with_conn) {
			headers_piece(&h, 0, "Connection", 10);
			headers_piece(&h, 1, conn, strlen(conn));
		}
		headers_complete(&h);
		first_conn = ref_get(&h, "connection", &count);
		for (int i = 0; i < nf; i++)
			if (h.v[i].dropped != ref_dropped(names[i], first_conn))
				UNIT_FAIL("round %d: \"%s\" dropped %d, Connection \"%s\"", round,
					  names[i], h.v[i].dropped, first_conn);
		for (int k = 0; k < 40; k++) {
			unsigned r = (unsigned)rand_r(&seed);
			const char *want;

			if (k < nf)
				strcpy(probe, names[k]);
			else
				near_name(probe, sizeof(probe), r);
			want = ref_get(&h, probe, &count);
			if (headers_get(&h, probe) != want || headers_count(&h, probe) != count)
				UNIT_FAIL("round %d: \"%s\" found %p (%u), expected %p (%u)", round,
					  probe, (const void *)headers_get(&h, probe),
					  headers_count(&h, probe), (const void *)want, count);
			if (header_id_of(probe, strlen(probe)) != HDR_OTHER &&
			    headers_find(&h, header_id_of(probe, strlen(probe))) != want)
				UNIT_FAIL("round %d: \"%s\" by id differs", round, probe);
		}
		near_name(probe, sizeof(probe), (unsigned)rand_r(&seed));
		headers_drop(&h, probe);
		for (int i = 0; i < nf; i++)
			if (!strcasecmp(names[i], probe) && !h.v[i].dropped)
				UNIT_FAIL("round %d: \"%s\" not dropped as \"%s\"", round, names[i],
					  probe);
		headers_free(&h);
	}
}

/* The status line as response.c added it before heads were built at once. */
static void ref_status_line(struct evbuffer *out, int status, const char *reason, size_t len)
{
	char line[64];
	size_t n = 9;

	if (status < 0 || len > sizeof(line) - 9 - 21 - 3) {
		evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", status, (int)len, reason);
		return;
	}
	memcpy(line, "HTTP/1.1 ", 9);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%d", status);
	line[n++] = ' ';
	memcpy(line + n, reason, len);
	n += len;
	memcpy(line + n, "\r\n", 2);
	evbuffer_add(out, line, n + 2);
}

/* Statuses of every width and a negative one, reasons empty, with a NUL, of 30 to 33 bytes
 * (the old line's two ways) and past the head's buffer: the same bytes as before. */
static void test_status_line_as_before(void)
{
	static const int statuses[] = {200, 0, 99, 1000, 65535, -1, 2147483647};
	static const size_t lens[] = {0, 2, 5, 30, 31, 32, 33, 200, 5000};
	char *reason = malloc(5000);

	for (size_t i = 0; i < 5000; i++)
		reason[i] = (char)('A' + i % 26);
	for (size_t si = 0; si < sizeof(statuses) / sizeof(statuses[0]); si++)
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
			for (int nul = 0; nul < 2; nul++) {
				struct evbuffer *got = evbuffer_new(), *want = evbuffer_new();
				struct head_buf b;
				size_t len = lens[li];

				if (nul && len > 1)
					reason[len / 2] = '\0';
				head_begin(&b, got);
				head_put(&b, "x", 1);
				head_status_line(&b, statuses[si], reason, len);
				head_flush(&b);
				evbuffer_add(want, "x", 1);
				ref_status_line(want, statuses[si], reason, len);
				reason[len / 2] = (char)('A' + len / 2 % 26);
				if (!same_bytes(got, want))
					UNIT_FAIL("status %d, reason of %zu bytes%s: %zu bytes, "
						  "expected %zu",
						  statuses[si], len, nul ? " with a NUL" : "",
						  evbuffer_get_length(got),
						  evbuffer_get_length(want));
				evbuffer_free(got);
				evbuffer_free(want);
			}
	free(reason);
}

/* headers_value_has() answers as strcasestr() did (C locale), for the words response.c asks
 * about, in values made of their letters in both cases, the bytes next to them in ASCII
 * ('@', '[', '`', '{'), those a case fold by one bit would confuse with them (0x0f, 0x0d for
 * '/', '-'), and bytes past ASCII; half the time the word is in, with a byte of it so changed. */
static void test_value_has_is_strcasestr(void)
{
	static const char *const words[] = {"json", "text/event-stream",
					    "application/vnd.amazon.eventstream"};
	static const char pick[] = "jsonJSONtexTEX/-evntrmapliAPLI.zZ@[`{ \x0f\x0d\xca\xea";
	unsigned long long x = 0x9e3779b97f4a7c15ULL;
	char value[64];
	int hits = 0;

	for (int round = 0; round < 300000; round++) {
		const char *word = words[round % 3];
		size_t len = (size_t)(round / 3 % 48), wlen = strlen(word);

		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			value[i] = pick[(x >> 33) % (sizeof(pick) - 1)];
		}
		value[len] = 0;
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if (len >= wlen && (x >> 40) % 4 == 0) { /* the word in, in mixed case */
			size_t at = (size_t)(x >> 20) % (len - wlen + 1);

			for (size_t i = 0; i < wlen; i++) {
				int up = ((x >> (i % 32)) & 1) && word[i] >= 'a' && word[i] <= 'z';

				value[at + i] = (char)(up ? word[i] - 32 : word[i]);
			}
			if ((x >> 50) % 2) { /* one byte of it a near miss, or a case */
				size_t k = (size_t)(x >> 8) % wlen;

				value[at + k] = (char)(word[k] ^ ((x >> 52) % 2 ? 0x20 : 0x80));
			}
		}
		ASSERT_EQ(headers_value_has(value, word), strcasestr(value, word) != NULL);
		hits += strcasestr(value, word) != NULL;
	}
	ASSERT_TRUE(hits > 1000);
}

UNIT_MAIN(UNIT_CASE(test_retry_after), UNIT_CASE(test_each_id_is_its_name),
	  UNIT_CASE(test_ids_answer_as_the_names_did), UNIT_CASE(test_status_line_as_before),
	  UNIT_CASE(test_write), UNIT_CASE(test_write_as_before),
	  UNIT_CASE(test_value_up_to_the_arena_limit),
	  UNIT_CASE(test_an_arena_outgrowing_its_first_bytes_keeps_every_field),
	  UNIT_CASE(test_a_head_built_at_once_is_the_appends_one_by_one),
	  UNIT_CASE(test_value_has_is_strcasestr))
