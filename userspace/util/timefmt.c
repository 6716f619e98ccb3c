/* timefmt.c: see timefmt.h. */
#include <stdio.h>

#include "util/timefmt.h"

void timefmt_rfc3339(const struct timespec *ts, char buf[TIMEFMT_LEN])
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(buf, TIMEFMT_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
		 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
		 (int)((ts->tv_nsec / 1000) % 1000000));
}

void timefmt_now(char buf[TIMEFMT_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	timefmt_rfc3339(&ts, buf);
}
