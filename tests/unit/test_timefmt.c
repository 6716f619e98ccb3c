/* test_timefmt.c: timefmt_rfc3339() writes exactly what the snprintf format it replaced wrote,
 * at the edges (epoch, leap days, year 9999 and past it, the last microsecond of a second,
 * nanoseconds truncated, not rounded) and across a spread of instants, with the second last
 * written kept or not. */
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "util/timefmt.h"

static void reference(const struct timespec *ts, char buf[TIMEFMT_LEN])
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(buf, TIMEFMT_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
		 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
		 (int)((ts->tv_nsec / 1000) % 1000000));
}

static void check(time_t sec, long nsec)
{
	struct timespec ts = {.tv_sec = sec, .tv_nsec = nsec};
	char got[TIMEFMT_LEN], want[TIMEFMT_LEN];

	memset(got, 'x', sizeof(got));
	timefmt_rfc3339(&ts, got);
	reference(&ts, want);
	ASSERT_STREQ(got, want);
}

static void test_edges(void)
{
	char buf[TIMEFMT_LEN];
	struct timespec ts = {.tv_sec = 1795780800, .tv_nsec = 123456789};

	timefmt_rfc3339(&ts, buf);
	ASSERT_STREQ(buf, "2026-11-27T12:00:00.123456Z");
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 0};
	timefmt_rfc3339(&ts, buf);
	ASSERT_STREQ(buf, "1970-01-01T00:00:00.000000Z");
	ts = (struct timespec){.tv_sec = 951782400 + 86399, .tv_nsec = 999999999};
	timefmt_rfc3339(&ts, buf);
	ASSERT_STREQ(buf, "2000-02-29T23:59:59.999999Z");
	ts = (struct timespec){.tv_sec = 253402300799, .tv_nsec = 1000};
	timefmt_rfc3339(&ts, buf);
	ASSERT_STREQ(buf, "9999-12-31T23:59:59.000001Z");
	check(253402300800, 0);		/* year 10000: four digits, as before */
	check(-1, 999999999);		/* 1969 */
	check(-62167219200, 5000);	/* year 0 */
	check(-62167219200 - 1, 5000); /* year -1: the sign, as before */
}

static void test_spread(void)
{
	unsigned long long x = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		check((time_t)(x % 253402300800ULL), (long)((x >> 20) % 1000000000));
	}
}

/* The second last written is kept: instants drawn from a few seconds (each written again and
 * again, in turn with others; a negative year and nanoseconds printf writes among them) are
 * written as the format writes them, never with a second kept from another. */
static void test_a_kept_second_is_never_another_s(void)
{
	static const time_t secs[] = {1795780800, 1795780801, 0, 951782400 + 86399, 253402300800,
				      -62167219200 - 1, -1, 1795780800 + 86400};
	unsigned long long x = 0x2545f4914f6cdd1dULL;

	for (int i = 0; i < 100000 && !unit_failed_current; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		check(secs[x % (sizeof(secs) / sizeof(secs[0]))],
		      (x >> 8) % 16 ? (long)((x >> 20) % 1000000000) : -(long)((x >> 20) % 1000000000));
	}
}

UNIT_MAIN(UNIT_CASE(test_edges), UNIT_CASE(test_spread),
	  UNIT_CASE(test_a_kept_second_is_never_another_s))
