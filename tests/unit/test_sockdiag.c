/*
 * test_sockdiag: sockdiag_destroy_matching() against real loopback TCP connections.
 *
 * Runs as root (SOCK_DESTROY needs CAP_NET_ADMIN). Each case opens a listener on an ephemeral
 * loopback port, connects a client and accepts it, then picks sockets by peer port and by the
 * test process's own cgroup v2 id, and checks what was destroyed and what the sockets see.
 */
#include "unit.h"
#include "capture/sockdiag.h"

#include <errno.h>
#include <mntent.h>
#include <stdint.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

/* A listener, one client connected to it and the server side of that connection. */
struct conn {
	int lfamily; /* the listener's family */
	int cfamily; /* the client's family */
	int lfd, cfd, sfd;
	uint16_t lport; /* the listener's port */
	uint16_t cport; /* the client's local port */
};

/* What the match and report callbacks saw. */
struct pick {
	struct conn *c;
	uint64_t cgid;
	int choose;	  /* what the match returns for a client of c's listener */
	int abort_client; /* close c->cfd with an RST when the match sees it */
	unsigned seen_client, seen_server, reported, report_ok;
	int report_err;		  /* last error reported */
	int client_err;		  /* error reported for c's client */
	struct sockdiag_sock got; /* last socket reported */
};

/* The cgroup2 mount point, from /proc/mounts; 0 or -errno. */
static int cgroup2_mount(char *buf, size_t size)
{
	struct mntent *m;
	FILE *f;
	int r = -ENOENT;

	f = setmntent("/proc/mounts", "re");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2"))
			continue;
		snprintf(buf, size, "%s", m->mnt_dir);
		r = 0;
		break;
	}
	endmntent(f);
	return r;
}

/* This process's cgroup v2 path, from the "0::/path" line of /proc/self/cgroup. */
static int self_cgroup_path(char *buf, size_t size)
{
	char line[4096];
	FILE *f;
	int r = -ENOENT;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		r = strlen(line + 3) < size ? 0 : -ENAMETOOLONG;
		if (!r)
			strcpy(buf, line + 3);
		break;
	}
	fclose(f);
	return r;
}

/* The cgroup id is the inode number of the cgroup's directory; 0 if not found. */
static uint64_t self_cgroup_id(void)
{
	char mnt[1024], path[2048], full[4096];
	struct stat st;

	if (cgroup2_mount(mnt, sizeof(mnt)) < 0 || self_cgroup_path(path, sizeof(path)) < 0)
		return 0;
	snprintf(full, sizeof(full), "%s%s", mnt, path);
	if (stat(full, &st) < 0)
		return 0;
	return st.st_ino;
}

static socklen_t make_addr(struct sockaddr_storage *ss, int family, const char *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, addr, &sin->sin_addr);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	inet_pton(AF_INET6, addr, &sin6->sin6_addr);
	return sizeof(*sin6);
}

/* The port @fd is bound to, or 0. */
static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Receive timeouts, so that a connection sockdiag failed to destroy fails the test, not hangs. */
static int set_timeout(int fd)
{
	struct timeval tv = {.tv_sec = 2};

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Connect a new client of @family to @addr:@port; its fd or -1. */
static int connect_client(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(&ss, family, addr, port);
	int fd;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 || set_timeout(fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int accept_server(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd >= 0 && set_timeout(fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void conn_close(struct conn *c)
{
	if (c->sfd >= 0)
		close(c->sfd);
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->lfd >= 0)
		close(c->lfd);
	c->lfd = c->cfd = c->sfd = -1;
}

/* Listen on @laddr (of @lfamily), connect a @cfamily client to @caddr; 0 or -errno. */
static int conn_open(struct conn *c, int lfamily, const char *laddr, int cfamily, const char *caddr)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(&ss, lfamily, laddr, 0);
	int r;

	*c = (struct conn){.lfamily = lfamily, .cfamily = cfamily, .lfd = -1, .cfd = -1, .sfd = -1};
	c->lfd = socket(lfamily, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&ss, len) < 0 || listen(c->lfd, 8) < 0)
		goto fail;
	c->lport = local_port(c->lfd);
	c->cfd = connect_client(cfamily, caddr, c->lport);
	if (c->cfd < 0)
		goto fail;
	c->sfd = accept_server(c->lfd);
	if (c->sfd < 0)
		goto fail;
	c->cport = local_port(c->cfd);
	return 0;
fail:
	r = errno ? -errno : -EIO;
	conn_close(c);
	return r;
}

/* Close @fd with an RST, so that its socket leaves the kernel's tables at once. */
static void abort_fd(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* Picks clients of the listener (dport) in our own cgroup, as aigw picks workloads'. */
static int pick_match(const struct sockdiag_sock *s, void *arg)
{
	struct pick *p = arg;
	struct conn *c = p->c;

	if (s->cgroup_id != p->cgid)
		return 0;
	if (s->sport == c->lport && s->dport == c->cport)
		p->seen_server++;
	if (s->dport != c->lport || s->family != c->cfamily)
		return 0;
	if (s->sport == c->cport) {
		p->seen_client++;
		if (p->abort_client) {
			abort_fd(c->cfd);
			c->cfd = -1;
		}
	}
	return p->choose;
}

static void pick_report(const struct sockdiag_sock *s, int err, void *arg)
{
	struct pick *p = arg;

	p->reported++;
	if (!err)
		p->report_ok++;
	p->report_err = err;
	p->got = *s;
	if (s->sport == p->c->cport)
		p->client_err = err;
}

/* The server side of a destroyed connection sees EOF or a reset, not a hang. */
static void check_peer_gone(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, 0);

	if (n < 0)
		ASSERT_EQ(errno, ECONNRESET);
	else
		ASSERT_EQ(n, 0);
}

/* 127.0.0.1 through sockdiag_dst_v4() (also when IPv4-mapped), or ::1. */
static void check_peer_addr(const struct sockdiag_sock *s, const struct conn *c)
{
	static const uint8_t lo4[4] = {127, 0, 0, 1};
	const uint8_t *d4 = sockdiag_dst_v4(s);

	ASSERT_EQ(sockdiag_v4mapped(s), c->lfamily == AF_INET && c->cfamily == AF_INET6);
	if (c->lfamily == AF_INET6) {
		ASSERT_TRUE(d4 == NULL);
		ASSERT_EQ(memcmp(s->dst, &in6addr_loopback, 16), 0);
		return;
	}
	ASSERT_TRUE(d4 != NULL);
	ASSERT_EQ(memcmp(d4, lo4, 4), 0);
}

static void check_reported(const struct pick *p, const struct conn *c)
{
	char line[SOCKDIAG_STR_MAX], want[64];
	struct stat st;

	ASSERT_EQ(p->got.family, c->cfamily);
	ASSERT_EQ(p->got.sport, c->cport);
	ASSERT_EQ(p->got.dport, c->lport);
	ASSERT_EQ(p->got.state, TCP_ESTABLISHED);
	ASSERT_EQ(p->got.cgroup_id, p->cgid);
	ASSERT_EQ(p->got.uid, getuid());
	ASSERT_TRUE(p->got.cookie[0] || p->got.cookie[1]);
	ASSERT_OK(fstat(c->cfd, &st));
	ASSERT_EQ(p->got.inode, st.st_ino);
	sockdiag_sock_str(&p->got, line, sizeof(line));
	snprintf(want, sizeof(want), ":%u -> ", c->cport);
	ASSERT_CONTAINS(line, want);
	ASSERT_CONTAINS(line, "ESTAB");
	check_peer_addr(&p->got, c);
}

static void check_destroyed(struct conn *c)
{
	struct pick p = {.c = c, .cgid = self_cgroup_id(), .choose = 1};
	unsigned destroyed = 99;
	char b;

	ASSERT_TRUE(p.cgid > 0);
	ASSERT_OK(sockdiag_destroy_matching(pick_match, pick_report, &p, &destroyed));
	ASSERT_EQ(p.seen_client, 1);
	ASSERT_EQ(p.seen_server, 1); /* dumped, but not picked */
	ASSERT_EQ(destroyed, 1);
	ASSERT_EQ(p.reported, 1);
	ASSERT_EQ(p.report_err, 0);
	check_reported(&p, c);
	if (unit_failed_current)
		return;
	ASSERT_EQ(recv(c->cfd, &b, 1, 0), -1);
	ASSERT_EQ(errno, ECONNABORTED);
	check_peer_gone(c->sfd);
}

static void run_destroy(int lfamily, const char *laddr, int cfamily, const char *caddr)
{
	struct conn c;
	int r = conn_open(&c, lfamily, laddr, cfamily, caddr);

	if (r < 0)
		UNIT_FAIL("connect %s -> %s: %s", caddr, laddr, strerror(-r));
	check_destroyed(&c);
	conn_close(&c);
}

static void test_destroys_ipv4_client(void)
{
	run_destroy(AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");
}

static void test_destroys_ipv6_client(void)
{
	run_destroy(AF_INET6, "::1", AF_INET6, "::1");
}

static void test_destroys_v4mapped_client(void)
{
	run_destroy(AF_INET, "127.0.0.1", AF_INET6, "::ffff:127.0.0.1");
}

static void check_echo(int from, int to)
{
	char b[8] = {0};

	ASSERT_EQ(send(from, "ping", 4, MSG_NOSIGNAL), 4);
	ASSERT_EQ(recv(to, b, sizeof(b), 0), 4);
	ASSERT_STREQ(b, "ping");
}

static void check_untouched(struct conn *c)
{
	struct pick p = {.c = c, .cgid = self_cgroup_id(), .choose = 0};
	unsigned destroyed = 99;

	ASSERT_TRUE(p.cgid > 0);
	ASSERT_OK(sockdiag_destroy_matching(pick_match, pick_report, &p, &destroyed));
	ASSERT_EQ(p.seen_client, 1);
	ASSERT_EQ(p.seen_server, 1);
	ASSERT_EQ(destroyed, 0);
	ASSERT_EQ(p.reported, 0);
	check_echo(c->cfd, c->sfd);
	if (unit_failed_current)
		return;
	check_echo(c->sfd, c->cfd);
}

static void test_no_match_destroys_nothing(void)
{
	struct conn c;
	int r = conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");

	if (r < 0)
		UNIT_FAIL("connect: %s", strerror(-r));
	check_untouched(&c);
	conn_close(&c);
}

/* Client 1 vanishes between dump and destroy: -ENOENT for it, client 2 still destroyed. */
static void check_vanished(struct conn *c, int c2fd)
{
	struct pick p = {.c = c, .cgid = self_cgroup_id(), .choose = 1, .abort_client = 1};
	unsigned destroyed = 99;
	char b;

	ASSERT_TRUE(p.cgid > 0);
	ASSERT_OK(sockdiag_destroy_matching(pick_match, pick_report, &p, &destroyed));
	ASSERT_EQ(p.seen_client, 1);
	ASSERT_EQ(p.reported, 2);
	ASSERT_EQ(p.client_err, -ENOENT);
	ASSERT_EQ(p.report_ok, 1);
	ASSERT_EQ(destroyed, 1);
	ASSERT_EQ(recv(c2fd, &b, 1, 0), -1);
	ASSERT_EQ(errno, ECONNABORTED);
}

static void test_vanished_socket_reports_error(void)
{
	struct conn c;
	int c2fd = -1, s2fd = -1;
	int r = conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");

	if (r < 0)
		UNIT_FAIL("connect: %s", strerror(-r));
	c2fd = connect_client(AF_INET, "127.0.0.1", c.lport);
	if (c2fd >= 0)
		s2fd = accept_server(c.lfd);
	if (s2fd >= 0)
		check_vanished(&c, c2fd);
	else
		UNIT_FAIL("second client: %s", strerror(errno));
	if (c2fd >= 0)
		close(c2fd);
	if (s2fd >= 0)
		close(s2fd);
	conn_close(&c);
}

static void test_null_match_is_einval(void)
{
	unsigned destroyed = 99;

	ASSERT_EQ(sockdiag_destroy_matching(NULL, NULL, NULL, &destroyed), -EINVAL);
	ASSERT_EQ(destroyed, 0);
}

static void test_v4_helpers(void)
{
	struct sockdiag_sock v4 = {.family = AF_INET, .dst = {127, 0, 0, 1}};
	struct sockdiag_sock mapped = {.family = AF_INET6,
				       .dst = {[10] = 0xff, [11] = 0xff, 10, 1, 2, 3}};
	struct sockdiag_sock v6 = {.family = AF_INET6, .dst = {[15] = 1}};
	const uint8_t *a;

	ASSERT_EQ(sockdiag_v4mapped(&v4), 0);
	ASSERT_EQ(sockdiag_v4mapped(&mapped), 1);
	ASSERT_EQ(sockdiag_v4mapped(&v6), 0);
	ASSERT_TRUE(sockdiag_dst_v4(&v4) == v4.dst);
	ASSERT_TRUE(sockdiag_dst_v4(&v6) == NULL);
	a = sockdiag_dst_v4(&mapped);
	ASSERT_TRUE(a != NULL);
	ASSERT_EQ(memcmp(a, (uint8_t[]){10, 1, 2, 3}, 4), 0);
}

/* What the accepting side knows of @c: the peer and its own address of c->sfd. */
struct accepted {
	struct sockaddr_storage peer, me;
};

static int accepted_addrs(const struct conn *c, struct accepted *ret)
{
	socklen_t plen = sizeof(ret->peer), mlen = sizeof(ret->me);

	if (getpeername(c->sfd, (struct sockaddr *)&ret->peer, &plen) < 0 ||
	    getsockname(c->sfd, (struct sockaddr *)&ret->me, &mlen) < 0)
		return -errno;
	return 0;
}

static uint64_t so_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
	return cookie;
}

/* Each kind of connection, twice over one sockdiag: the lookup names the client's socket
 * (never the server's), and a client gone is -ENOENT. */
static void test_cookie_of_accepted_peer(void)
{
	static const struct {
		int lfamily, cfamily;
		const char *laddr, *caddr;
	} kinds[] = {
	    {AF_INET6, AF_INET6, "::1", "::1"},
	    {AF_INET, AF_INET, "127.0.0.1", "127.0.0.1"},
	    {AF_INET, AF_INET6, "127.0.0.1", "::ffff:127.0.0.1"},
	};
	struct sockdiag *sd = NULL;
	struct accepted a;
	struct conn c;
	uint64_t cookie;

	ASSERT_OK(sockdiag_new(&sd));
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			ASSERT_OK(conn_open(&c, kinds[i].lfamily, kinds[i].laddr, kinds[i].cfamily,
					    kinds[i].caddr));
			ASSERT_OK(accepted_addrs(&c, &a));
			cookie = 0;
			ASSERT_OK(sockdiag_cookie_of(sd, (struct sockaddr *)&a.peer,
						     (struct sockaddr *)&a.me, &cookie));
			ASSERT_EQ(cookie, so_cookie(c.cfd));
			ASSERT_TRUE(cookie != so_cookie(c.sfd));
			abort_fd(c.cfd);
			c.cfd = -1;
			ASSERT_EQ(sockdiag_cookie_of(sd, (struct sockaddr *)&a.peer,
						     (struct sockaddr *)&a.me, &cookie),
				  -ENOENT);
			conn_close(&c);
		}
	}
	sockdiag_free(sd);
	sockdiag_free(NULL);
}

UNIT_MAIN(UNIT_CASE(test_destroys_ipv4_client), UNIT_CASE(test_destroys_ipv6_client),
	  UNIT_CASE(test_destroys_v4mapped_client), UNIT_CASE(test_no_match_destroys_nothing),
	  UNIT_CASE(test_vanished_socket_reports_error), UNIT_CASE(test_null_match_is_einval),
	  UNIT_CASE(test_v4_helpers), UNIT_CASE(test_cookie_of_accepted_peer))
