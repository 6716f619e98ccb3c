/*
 * monotime: the arithmetic of CLOCK_MONOTONIC readings that the proxy's timers share (a
 * client's cumulative wait on its answer, http1.c and http2.c). Nothing here reads the clock
 * or allocates.
 */
#ifndef AIGW_UTIL_MONOTIME_H
#define AIGW_UTIL_MONOTIME_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* T in nanoseconds. */
static inline int64_t monotime_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Nanoseconds from A to B (negative when B is earlier). */
static inline int64_t monotime_ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* NS (>= 0) as a timer's timeval, rounded up to the microsecond: a timer set with it never
 * fires before NS have passed. */
static inline struct timeval monotime_tv(int64_t ns)
{
	int64_t us = (ns + 999) / 1000;

	return (struct timeval){(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
}

#endif
