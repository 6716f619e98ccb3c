/* unit.c: runs the cases a test file lists and prints the summary line. */
#include "unit.h"

int unit_failed_current;

int unit_run(const char *suite, const struct unit_case *cases, size_t n)
{
	size_t passed = 0, failed = 0;

	for (size_t i = 0; i < n; i++) {
		unit_failed_current = 0;
		cases[i].fn();
		if (unit_failed_current) {
			failed++;
			printf("FAIL %s: %s\n", suite, cases[i].name);
		} else {
			passed++;
			printf("ok   %s: %s\n", suite, cases[i].name);
		}
		fflush(stdout);
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	return failed ? 1 : 0;
}
