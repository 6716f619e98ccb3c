/*
 * uring_connect: connects with io_uring's IORING_OP_CONNECT rather than connect(2), then
 * reads the greeting and prints one JSON line like netclient.py. Used to prove that this
 * connect path passes through the cgroup hooks as well.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	char buf[256] = "", ip[INET_ADDRSTRLEN];
	int fd, res;
	ssize_t n;

	if (argc != 3 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: uring_connect IPV4 PORT\n");
		return 2;
	}
	sa.sin_port = htons(atoi(argv[2]));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || io_uring_queue_init(4, &ring, 0)) {
		perror("setup");
		return 2;
	}
	io_uring_prep_connect(io_uring_get_sqe(&ring), fd, (struct sockaddr *)&sa, sizeof(sa));
	io_uring_submit(&ring);
	if (io_uring_wait_cqe(&ring, &cqe)) {
		perror("wait");
		return 2;
	}
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (res < 0) {
		printf("{\"ok\": false, \"stage\": \"connect\", \"errno\": %d, \"pid\": %d}\n",
		       -res, getpid());
		return 0;
	}
	if (write(fd, "ping\n", 5) != 5) /* the client speaks first, as TLS clients do */
		return 2;
	getpeername(fd, (struct sockaddr *)&peer, &plen);
	inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\"\\\n")] = 0;
	printf("{\"ok\": true, \"peer\": [\"%s\", %d], \"data\": \"%s\", \"pid\": %d}\n", ip,
	       ntohs(peer.sin_port), buf, getpid());
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
