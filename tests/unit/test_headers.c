/* test_headers.c: how long a provider asks to be left alone (retry-after-ms, retry-after as
 * seconds or an HTTP date), and what is not a wish at all; the fields as they are written on. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

UNIT_MAIN(UNIT_CASE(test_retry_after), UNIT_CASE(test_write))
