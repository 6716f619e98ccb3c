/*
 * strcopy: the one bounded string copy, what snprintf(DST, SIZE, "%s", SRC) writes (SRC cut
 * to SIZE - 1 bytes, always NUL-terminated) without running the formatter: the hot path
 * copies names, models and hosts into fixed fields several times a request. Nothing here
 * allocates; SRC must not be NULL (snprintf would write "(null)").
 */
#ifndef AIGW_UTIL_STRCOPY_H
#define AIGW_UTIL_STRCOPY_H

#include <stddef.h>
#include <string.h>

/* SRC into DST of SIZE (> 0) bytes, cut to fit: snprintf(DST, SIZE, "%s", SRC). */
static inline void str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* At most N bytes of SRC (fewer if it ends first) into DST, cut to fit:
 * snprintf(DST, SIZE, "%.*s", (int)N, SRC) for N <= INT_MAX. */
static inline void str_copy_n(char *dst, size_t size, const char *src, size_t n)
{
	size_t bound = n < size - 1 ? n : size - 1;
	const char *nul = memchr(src, '\0', bound);
	size_t m = nul ? (size_t)(nul - src) : bound;

	memcpy(dst, src, m);
	dst[m] = '\0';
}

#endif
