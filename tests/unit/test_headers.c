/* test_headers.c: how long a provider asks to be left alone (retry-after-ms, retry-after as
 * seconds or an HTTP date), and what is not a wish at all. */
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

UNIT_MAIN(UNIT_CASE(test_retry_after))
