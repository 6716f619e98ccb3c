/*
 * connect_bench: the cost of connect() as a workload sees it.
 *
 *   connect_bench serve ADDR PORT          accept and close, forever (the "provider")
 *   connect_bench connect ADDR PORT N      N blocking connect()+close(), prints JSON with
 *                                          the median and mean nanoseconds per connect()
 *
 * Run from a captured and an uncaptured cgroup by tests/bench/run.sh, in one run.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int addr_of(const char *ip, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return sizeof(*in);
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return sizeof(*in6);
	}
	return -1;
}

static int serve(struct sockaddr_storage *ss, int len)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)ss, len) || listen(fd, 4096)) {
		perror("serve");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c >= 0)
			close(c);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
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
	qsort(ns, n, sizeof(*ns), cmp_u64);
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

	if (argc < 4 || (len = addr_of(argv[2], atoi(argv[3]), &ss)) < 0) {
		fprintf(stderr, "usage: connect_bench serve|connect ADDR PORT [N]\n");
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return serve(&ss, len);
	return measure(&ss, len, argc > 4 ? atoi(argv[4]) : 2000);
}
