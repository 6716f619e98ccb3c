/* timefmt.c: see timefmt.h. Every record's "time" is written here, so the digits are put in
 * place rather than through snprintf (what "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" writes, of
 * each field modulo its width, for the years 0..9999 gmtime_r() gives from 1970 on). */
#include <stdio.h>
#include <string.h>

#include "util/timefmt.h"

/* V (>= 0) modulo 10^WIDTH as WIDTH decimal digits at OUT; returns the end. */
static char *put_digits(char *out, long v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
	return out + width;
}

/* "YYYY-MM-DDTHH:MM:SS." of the second last written on this thread: every request's start is
 * written, and they come many a second; gmtime_r() is most of the cost. */
#define TIMEFMT_HEAD 20

static _Thread_local struct {
	time_t sec;
	int valid; /* head holds sec's */
	char head[TIMEFMT_HEAD];
} last;

void timefmt_rfc3339(const struct timespec *ts, char buf[TIMEFMT_LEN])
{
	struct tm tm;
	char *p = buf;

	if (last.valid && last.sec == ts->tv_sec && ts->tv_nsec >= 0) {
		memcpy(buf, last.head, TIMEFMT_HEAD);
		memcpy(put_digits(buf + TIMEFMT_HEAD, ts->tv_nsec / 1000, 6), "Z", 2);
		return;
	}
	gmtime_r(&ts->tv_sec, &tm);
	if (tm.tm_year < -1900 || ts->tv_nsec < 0) { /* a sign: leave it to printf */
		snprintf(buf, TIMEFMT_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
			 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
			 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
			 (int)((ts->tv_nsec / 1000) % 1000000));
		return;
	}
	p = put_digits(p, tm.tm_year + 1900, 4);
	*p++ = '-';
	p = put_digits(p, tm.tm_mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	*p++ = '.';
	memcpy(last.head, buf, TIMEFMT_HEAD);
	last.sec = ts->tv_sec;
	last.valid = 1;
	p = put_digits(p, ts->tv_nsec / 1000, 6);
	memcpy(p, "Z", 2);
}

void timefmt_now(char buf[TIMEFMT_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	timefmt_rfc3339(&ts, buf);
}
