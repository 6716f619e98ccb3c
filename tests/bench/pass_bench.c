/*
 * pass_bench: what a passed-through connection costs, as the app sees it (make bench, run by
 * tests/bench/pass_bench.sh from a captured and an uncaptured cgroup, in one run).
 *
 *   pass_bench serve ADDR PORT           the server: per connection, skip the ClientHello,
 *                                        then answer what the command byte asks, until EOF
 *   pass_bench latency ADDR PORT N       N times: connect, send the ClientHello and a 64-byte
 *                                        request in one write, read the 64-byte answer,
 *                                        close; JSON with p50 and p99 in ns
 *   pass_bench bulk ADDR PORT MIB        one connection that downloads MIB MiB; JSON with MB/s
 *
 * Every connection opens with a real ClientHello whose name is no provider's, so that aigw
 * decides on it (fronting, passthrough) exactly as on another site's HTTPS.
 */
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

#define REQ_LEN 64
#define BULK_BUF (1 << 20)

static const char SNI[] = "bench.example.test";

static size_t put16(uint8_t *p, size_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
	return 2;
}

/* A one-record ClientHello with only a server_name extension; its length. */
static size_t client_hello(uint8_t *out)
{
	size_t name = strlen(SNI), n = 0, body;

	n += 9; /* record header (5) and handshake header (4), written last */
	n += put16(out + n, 0x0303);
	memset(out + n, 0, 32 + 1); /* random, empty session id */
	n += 33;
	n += put16(out + n, 2);
	n += put16(out + n, 0x002f); /* one cipher suite */
	out[n++] = 1;
	out[n++] = 0;		       /* null compression */
	n += put16(out + n, name + 9); /* extensions */
	n += put16(out + n, 0);	       /* server_name */
	n += put16(out + n, name + 5);
	n += put16(out + n, name + 3);
	out[n++] = 0; /* host_name */
	n += put16(out + n, name);
	memcpy(out + n, SNI, name);
	n += name;
	body = n - 9;
	out[0] = 0x16;
	put16(out + 1, 0x0301);
	put16(out + 3, body + 4);
	out[5] = 1;
	out[6] = body >> 16;
	put16(out + 7, body & 0xffff);
	return n;
}

static int read_full(int fd, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r <= 0)
			return -1;
		done += r;
	}
	return 0;
}

/* One connection: the ClientHello, then 'p' + request (answered with as many bytes) or
 * 'b' + 8-byte size (that many bytes sent, then close). */
static void serve_one(int c, const char *blob)
{
	uint8_t hdr[5], cmd, req[REQ_LEN], skip[16384];
	uint64_t left;
	size_t len;

	if (read_full(c, hdr, 5) || (len = hdr[3] << 8 | hdr[4]) > sizeof(skip) ||
	    read_full(c, skip, len) || read_full(c, &cmd, 1))
		return;
	if (cmd == 'p') {
		if (!read_full(c, req, REQ_LEN))
			write_full(c, req, REQ_LEN);
		return;
	}
	if (cmd != 'b' || read_full(c, &left, sizeof(left)))
		return;
	while (left) {
		size_t n = left < BULK_BUF ? left : BULK_BUF;

		if (write_full(c, blob, n))
			return;
		left -= n;
	}
}

static int serve(struct sockaddr_storage *ss, int len)
{
	int one = 1, fd = benchnet_listen(ss, len);
	char *blob = calloc(1, BULK_BUF);

	if (fd < 0 || !blob)
		return 1;
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		serve_one(c, blob);
		close(c);
	}
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ull + t.tv_nsec;
}

/* Connect, ClientHello + request in one write, the answer; -1 on any failure. */
static int round_trip(const struct sockaddr_storage *ss, int sslen, const uint8_t *msg, size_t n)
{
	uint8_t answer[REQ_LEN];
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM, 0), r = -1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!connect(fd, (const struct sockaddr *)ss, sslen) && !write_full(fd, msg, n) &&
	    !read_full(fd, answer, REQ_LEN) && !memcmp(answer, msg + n - REQ_LEN, REQ_LEN))
		r = 0;
	close(fd);
	return r;
}

static int latency(const struct sockaddr_storage *ss, int sslen, int n)
{
	unsigned long long *ns = calloc(n, sizeof(*ns));
	uint8_t msg[512];
	size_t len = client_hello(msg);
	int failures = 0;

	msg[len++] = 'p';
	memset(msg + len, 'r', REQ_LEN);
	len += REQ_LEN;
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		failures += round_trip(ss, sslen, msg, len) < 0;
		ns[i] = now_ns() - t0;
	}
	qsort(ns, n, sizeof(*ns), benchnet_cmp_u64);
	printf("{\"n\": %d, \"failures\": %d, \"p50_ns\": %llu, \"p99_ns\": %llu}\n", n, failures,
	       (unsigned long long)ns[n / 2], (unsigned long long)ns[(n * 99) / 100]);
	free(ns);
	return failures ? 1 : 0;
}

static int bulk(const struct sockaddr_storage *ss, int sslen, uint64_t mib)
{
	uint64_t size = mib << 20, got = 0, t0 = now_ns(), t;
	uint8_t msg[512];
	size_t len = client_hello(msg);
	char *buf = malloc(BULK_BUF);
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	ssize_t r;

	msg[len++] = 'b';
	memcpy(msg + len, &size, sizeof(size));
	len += sizeof(size);
	if (!buf || connect(fd, (const struct sockaddr *)ss, sslen) || write_full(fd, msg, len)) {
		perror("bulk");
		return 1;
	}
	while ((r = read(fd, buf, BULK_BUF)) > 0)
		got += r;
	t = now_ns() - t0;
	close(fd);
	free(buf);
	printf("{\"bytes\": %llu, \"ns\": %llu, \"mb_per_s\": %.1f}\n", (unsigned long long)got,
	       (unsigned long long)t, got / (t / 1e9) / 1e6);
	return got == size ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	int len;

	if (argc < 4 || (len = benchnet_addr(argv[2], atoi(argv[3]), &ss)) < 0) {
		fprintf(stderr, "usage: pass_bench serve|latency|bulk ADDR PORT [N|MIB]\n");
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return serve(&ss, len);
	if (!strcmp(argv[1], "latency"))
		return latency(&ss, len, argc > 4 ? atoi(argv[4]) : 2000);
	if (!strcmp(argv[1], "bulk"))
		return bulk(&ss, len, argc > 4 ? strtoull(argv[4], NULL, 10) : 256);
	fprintf(stderr, "pass_bench: unknown command %s\n", argv[1]);
	return 2;
}
