/* test_strcopy.c: str_copy() and str_copy_n() (util/strcopy.h) write exactly what the
 * snprintf() calls they replace wrote ("%s" and "%.*s"): every size from 1 up past the
 * string, empty strings, cuts at the last byte, and many random strings and bounds. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "util/strcopy.h"

static unsigned long long rng = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n)
{
	return unit_rand(&rng, n);
}

/* DST as snprintf leaves it, byte for byte up to SIZE, and what lies after it untouched. */
static int copy_same(const char *src, size_t size, long n)
{
	char got[80], want[80];

	memset(got, 'x', sizeof(got));
	memset(want, 'x', sizeof(want));
	if (n < 0) {
		str_copy(got, size, src);
		snprintf(want, size, "%s", src);
	} else {
		str_copy_n(got, size, src, (size_t)n);
		snprintf(want, size, "%.*s", (int)n, src);
	}
	return !memcmp(got, want, sizeof(got));
}

static void test_edges(void)
{
	static const char *const srcs[] = {"", "a", "ab", "abcdefghijklmnopqrstuvwxyz", "gpt-4o",
					   "\xc3\xa9t\xc3\xa9"};

	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		for (size_t size = 1; size <= 30; size++)
			for (long n = -1; n <= 30; n++)
				ASSERT_TRUE(copy_same(srcs[i], size, n));
}

static void test_random(void)
{
	char src[64];

	for (int i = 0; i < 500000; i++) {
		size_t len = rnd(sizeof(src));

		for (size_t k = 0; k < len; k++)
			src[k] = (char)(1 + rnd(255));
		src[len] = '\0';
		ASSERT_TRUE(copy_same(src, 1 + rnd(79), (long)rnd(90) - 1));
	}
}

UNIT_MAIN(UNIT_CASE(test_edges), UNIT_CASE(test_random))
