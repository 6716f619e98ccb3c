/* unit.c: runs the cases a test file lists and prints the summary line. */
#include "unit.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

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

int unit_mkdtemp(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/aigw-test-%s-XXXXXX", name);
	return mkdtemp(dir) ? 0 : -1;
}

static int unit_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void unit_rm_tree(const char *dir)
{
	nftw(dir, unit_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
