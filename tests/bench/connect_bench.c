/*
 * connect_bench: the cost of connect() as a workload sees it.
 *
 *   connect_bench serve ADDR PORT          accept and close, forever (the "provider")
 *   connect_bench connect ADDR PORT N      N blocking connect()+close(), prints JSON with
 *                                          the median and mean nanoseconds per connect()
 *
 * Run from a captured and an uncaptured cgroup by tests/bench/run.sh, in one run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

static int serve(struct sockaddr_storage *ss, int len)
{
	int fd = benchnet_listen(ss, len);

	if (fd < 0)
		return 1;
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c >= 0)
			close(c);
	}
}

static int measure(struct sockaddr_storage *ss, int len, int n)
{
	unsigned long long *ns = calloc(n, sizeof(*ns)), sum = 0;
	int failures = 0;

	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		int fd = socket(ss->ss_family, SOCK_STREAM, 0);

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (connect(fd, (struct sockaddr *)ss, len))
			failures++;
		clock_gettime(CLOCK_MONOTONIC, &b);
		close(fd);
		ns[i] = (b.tv_sec - a.tv_sec) * 1000000000ull + (b.tv_nsec - a.tv_nsec);
		sum += ns[i];
	}
	qsort(ns, n, sizeof(*ns), benchnet_cmp_u64);
	printf("{\"n\": %d, \"failures\": %d, \"median_ns\": %llu, \"mean_ns\": %llu, "
	       "\"p99_ns\": %llu}\n",
	       n, failures, ns[n / 2], sum / n, ns[(n * 99) / 100]);
	free(ns);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	int len;

	if (argc < 4 || (len = benchnet_addr(argv[2], atoi(argv[3]), &ss)) < 0) {
		fprintf(stderr, "usage: connect_bench serve|connect ADDR PORT [N]\n");
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return serve(&ss, len);
	return measure(&ss, len, argc > 4 ? atoi(argv[4]) : 2000);
}
