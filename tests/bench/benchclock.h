/*
 * benchclock: what the micro-benchmarks time with and how they sort their samples. Header
 * only: each bench is one .c file built on its own (Makefile).
 */
#ifndef AIGW_TESTS_BENCHCLOCK_H
#define AIGW_TESTS_BENCHCLOCK_H

#include <time.h>

/* The monotonic clock in ns, as a double (a batch's time is divided by its calls). */
static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* qsort() comparison of doubles, ascending. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
