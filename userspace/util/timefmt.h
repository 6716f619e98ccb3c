/* timefmt: RFC 3339 UTC timestamps with microseconds, as every record carries them. */
#ifndef AIGW_TIMEFMT_H
#define AIGW_TIMEFMT_H

#include <stddef.h>
#include <time.h>

#define TIMEFMT_LEN 40 /* "2026-11-27T12:00:00.123456Z" + NUL, with room */

void timefmt_rfc3339(const struct timespec *ts, char buf[TIMEFMT_LEN]);
void timefmt_now(char buf[TIMEFMT_LEN]);

#endif
