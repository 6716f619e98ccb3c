/*
 * test_verifier.c: the work the kernel's verifier does to load the capture programs, which
 * every daemon start pays (~1 ms of kernel time per 1,000 instructions it walks, in a process
 * that is not yet serving). The count is the verifier's own, the same on every load on one
 * kernel: connect6 and sendmsg6 once walked 71,695 instructions each, ~50 ms of a start, as
 * api.listen's byte-by-byte comparison split each IPv6 path in two per byte. A program over
 * the bound here has regressed in that way. Loads the programs as the daemon does (its
 * read-only settings non-zero, so that no code is pruned as dead), but nothing is attached or
 * pinned. Needs root, as make test runs it: skipped otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "capture.skel.h"
#include "unit.h"

#define LOG_SIZE (1 << 16)
#define PROGS_MAX 16
#define NAME_MAX_LEN 64
/* Each program walks 2,000 to 6,400 instructions on kernel 6.18. */
#define PROCESSED_MAX 20000

/* The "processed N insns" of a verifier log at level 4 (statistics); -1 when absent. */
static long processed_insns(const char *log)
{
	const char *p = strstr(log, "processed ");

	return p ? strtol(p + strlen("processed "), NULL, 10) : -1;
}

/* Loads the capture programs unpinned; fills NAMES and COUNTS (up to PROGS_MAX) with each
 * program's processed instructions. Returns the number of programs, or negative errno. */
static int load_counting(char names[][NAME_MAX_LEN], long counts[])
{
	struct capture_bpf *skel = capture_bpf__open();
	struct bpf_program *prog;
	struct bpf_map *map;
	char *logs[PROGS_MAX] = {0};
	int n = 0, err;

	if (!skel)
		return -errno;
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL); /* no pins left behind in /sys/fs/bpf */
	/* as capture_open() sets them: left 0, the verifier would drop what reads them */
	skel->rodata->aigw_exempt_cgroup_id = 1;
	skel->rodata->aigw_capture_cgroup_id = 1;
	bpf_object__for_each_program(prog, skel->obj) {
		if (n == PROGS_MAX) {
			err = -E2BIG;
			goto out;
		}
		logs[n] = calloc(1, LOG_SIZE);
		if (!logs[n]) {
			err = -ENOMEM;
			goto out;
		}
		bpf_program__set_log_level(prog, 4);
		bpf_program__set_log_buf(prog, logs[n], LOG_SIZE);
		snprintf(names[n++], NAME_MAX_LEN, "%s", bpf_program__name(prog));
	}
	err = capture_bpf__load(skel);
	if (err)
		goto out;
	for (int i = 0; i < n; i++)
		counts[i] = processed_insns(logs[i]);
	err = n;
out:
	for (int i = 0; i < PROGS_MAX; i++)
		free(logs[i]);
	capture_bpf__destroy(skel);
	return err;
}

static void test_capture_programs_verify_within_bound(void)
{
	char names[PROGS_MAX][NAME_MAX_LEN];
	long counts[PROGS_MAX];
	int n, over = 0;

	if (geteuid() != 0) {
		printf("  skipped: loading BPF programs needs root\n");
		return;
	}
	n = load_counting(names, counts);
	ASSERT_OK(n);
	ASSERT_TRUE(n >= 4);
	for (int i = 0; i < n; i++) {
		if (counts[i] >= 0 && counts[i] <= PROCESSED_MAX)
			continue;
		fprintf(stderr, "  %s: %ld instructions processed (bound %d)\n", names[i], counts[i],
			PROCESSED_MAX);
		over++;
	}
	ASSERT_EQ(over, 0);
}

UNIT_MAIN(UNIT_CASE(test_capture_programs_verify_within_bound))
