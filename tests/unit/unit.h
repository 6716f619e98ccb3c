/*
 * unit.h: the smallest test harness that prints what was expected and what came.
 *
 * A test file defines `static void test_foo(void)` functions and lists them in
 * UNIT_MAIN(test_foo, test_bar). Each ASSERT that fails marks the running test failed and
 * returns from it; the binary ends with "N passed, N failed" and exits non-zero on failure.
 */
#ifndef AIGW_TESTS_UNIT_H
#define AIGW_TESTS_UNIT_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

extern int unit_failed_current;

#define UNIT_FAIL(fmt, ...)                                                                        \
	do {                                                                                       \
		fprintf(stderr, "  %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__);          \
		unit_failed_current = 1;                                                           \
		return;                                                                            \
	} while (0)

#define ASSERT_TRUE(c)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			UNIT_FAIL("expected %s", #c);                                              \
	} while (0)

#define ASSERT_EQ(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b)                                                                      \
			UNIT_FAIL("%s == %s: got %lld, expected %lld", #a, #b, _a, _b);            \
	} while (0)

#define ASSERT_OK(e)                                                                               \
	do {                                                                                       \
		long long _e = (long long)(e);                                                     \
		if (_e < 0)                                                                        \
			UNIT_FAIL("%s: got error %lld (%s)", #e, _e, strerror((int)-_e));          \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                         \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0)                                             \
			UNIT_FAIL("%s == %s: got \"%s\", expected \"%s\"", #a, #b,                 \
				  _a ? _a : "(null)", _b ? _b : "(null)");                         \
	} while (0)

#define ASSERT_CONTAINS(hay, needle)                                                               \
	do {                                                                                       \
		const char *_h = (hay), *_n = (needle);                                            \
		if (!_h || !strstr(_h, _n))                                                        \
			UNIT_FAIL("%s contains \"%s\": got \"%s\"", #hay, _n, _h ? _h : "(null)"); \
	} while (0)

/* 0 .. N-1 from the xorshift generator whose state is *STATE (never 0): the same draws on every
 * run, so a random-input test is deterministic. */
static inline unsigned unit_rand(unsigned long long *state, unsigned n)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (unsigned)(*state % n);
}

struct unit_case {
	const char *name;
	void (*fn)(void);
};

int unit_run(const char *suite, const struct unit_case *cases, size_t n);

/* A fresh directory for one case: DIR (SIZE bytes) gets "/tmp/aigw-test-NAME-XXXXXX" made
 * 0700; unit_rm_tree() removes it and everything in it. */
int unit_mkdtemp(char *dir, size_t size, const char *name);
void unit_rm_tree(const char *dir);

#define UNIT_CASE(f)                                                                               \
	{                                                                                          \
#f, f                                                                              \
	}
#define UNIT_MAIN(...)                                                                             \
	int main(void)                                                                             \
	{                                                                                          \
		static const struct unit_case cases[] = {__VA_ARGS__};                             \
		return unit_run(__FILE__, cases, sizeof(cases) / sizeof(cases[0]));                \
	}

#endif
