/*
 * benchnet: what the socket benches (connect_bench, pass_bench) share: an address from its
 * text, a listener that says "ready" once it listens, and the sort of their samples. Header
 * only: each bench is one .c file built on its own (Makefile).
 */
#ifndef AIGW_TESTS_BENCHNET_H
#define AIGW_TESTS_BENCHNET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* IP (v4 or v6) and PORT into *SS; its length, or -1 if IP is no address. */
static inline int benchnet_addr(const char *ip, int port, struct sockaddr_storage *ss)
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

/* A listening socket on SS, "ready" printed once it listens; -1 (reported) on failure. */
static inline int benchnet_listen(const struct sockaddr_storage *ss, int len)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 4096)) {
		perror("serve");
		return -1;
	}
	printf("ready\n");
	fflush(stdout);
	return fd;
}

/* qsort() comparison of unsigned long long samples, ascending. */
static inline int benchnet_cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

#endif
