/*
 * test_passthrough.c: the splice data path (userspace/proxy/passthrough.c) on real loopback
 * TCP connections, the event loop driven here: an "app" socket whose accepted end is handed to
 * passthrough_start(), and a "server" the passthrough connects to. What the app sent before
 * the start arrives first and once, each side can half-close first, a reset ends both, and
 * every end reaches the done callback with its bytes and why.
 */
#include "unit.h"
#include "proxy/passthrough.h"
#include "util/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 5000

struct world {
	struct event_base *base;
	int listen_fd; /* the destination's listener */
	struct aigw_addr dst;
	int app;	/* the app's end of its connection */
	int proxy_side; /* the end the passthrough gets (owned by it once started) */
	int server;	/* the destination's accepted connection, -1 until accepted */
	char got[256];	/* what the server received so far */
	size_t n_got;
	int server_eof;
	int done_calls;
	struct passthrough_result r;
	unsigned idle_ms; /* the passthrough's idle timeout (0: none) */
};

static int listen_any(struct sockaddr_in *ret)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(*ret);

	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)ret, sizeof(*ret)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)ret, &len))
		return -1;
	return fd;
}

/* The world up to the passthrough's start: a listening destination, a connected app. */
static int world_open(struct world *w)
{
	struct sockaddr_in sa;
	int l;

	memset(w, 0, sizeof(*w));
	w->server = -1;
	w->base = event_base_new();
	w->listen_fd = listen_any(&sa);
	if (!w->base || w->listen_fd < 0 || netaddr_from_sockaddr((struct sockaddr *)&sa, &w->dst))
		return -1;
	l = listen_any(&sa);
	w->app = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || w->app < 0 || connect(w->app, (struct sockaddr *)&sa, sizeof(sa)) ||
	    poll(&(struct pollfd){.fd = l, .events = POLLIN}, 1, WAIT_MS) != 1)
		return -1;
	w->proxy_side = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return w->proxy_side < 0 ? -1 : 0;
}

static void world_close(struct world *w)
{
	passthrough_shutdown_all();
	close(w->listen_fd);
	close(w->app);
	if (w->server >= 0)
		close(w->server);
	event_base_free(w->base);
}

static void on_done(const struct passthrough_result *r, void *arg)
{
	struct world *w = arg;

	w->done_calls++;
	w->r = *r;
}

static int world_start(struct world *w)
{
	return passthrough_start(w->base, w->proxy_side, &w->dst, 0, 5, w->idle_ms, on_done, w);
}

/* The destination's side, without blocking: accept, then read what came. */
static void server_poll(struct world *w)
{
	ssize_t n;

	if (w->server < 0)
		w->server = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (w->server < 0 || w->server_eof)
		return;
	n = recv(w->server, w->got + w->n_got, sizeof(w->got) - 1 - w->n_got, 0);
	if (n > 0)
		w->n_got += n;
	else if (n == 0)
		w->server_eof = 1;
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* Runs the loop until PRED holds (1) or WAIT_MS passed (0). */
static int run_until(struct world *w, int (*pred)(struct world *))
{
	long long deadline = now_ms() + WAIT_MS;

	while (now_ms() < deadline) {
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		server_poll(w);
		if (pred(w))
			return 1;
		poll(NULL, 0, 1);
	}
	return 0;
}

static int got_17(struct world *w)
{
	return w->n_got >= 17;
}

static int got_eof(struct world *w)
{
	return w->server_eof;
}

static int is_done(struct world *w)
{
	return w->done_calls > 0;
}

static int accepted(struct world *w)
{
	return w->server >= 0;
}

/* The world with a passthrough started after the app's "hi" (idle timeout IDLE_MS), the
 * destination accepted. */
static int world_connected_idle(struct world *w, unsigned idle_ms)
{
	if (world_open(w))
		return -1;
	w->idle_ms = idle_ms;
	if (send(w->app, "hi", 2, 0) != 2 || world_start(w))
		return -1;
	return run_until(w, accepted) ? 0 : -1;
}

static int world_connected(struct world *w)
{
	return world_connected_idle(w, 0);
}

/* What the app reads until EOF (or an error), the loop running meanwhile; its length. */
static ssize_t app_read_all(struct world *w, char *buf, size_t cap)
{
	long long deadline = now_ms() + WAIT_MS;
	size_t n = 0;

	while (now_ms() < deadline && n < cap) {
		ssize_t r = recv(w->app, buf + n, cap - n, MSG_DONTWAIT);

		if (r == 0)
			return n;
		if (r < 0 && errno != EAGAIN)
			return -errno;
		if (r > 0)
			n += r;
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
	return -ETIMEDOUT;
}

static void test_bytes_sent_before_start_arrive_first_and_once(void)
{
	struct world w;
	char buf[64];

	ASSERT_OK(world_open(&w));
	/* What the decision peeked and left in the socket, and what followed it. */
	ASSERT_EQ(send(w.app, "HELLO-", 6, 0), 6);
	ASSERT_EQ(send(w.app, "payload", 7, 0), 7);
	ASSERT_OK(world_start(&w));
	ASSERT_EQ(send(w.app, "more", 4, 0), 4);
	ASSERT_TRUE(run_until(&w, got_17));
	/* The client half-closes first: the destination sees EOF and can still answer. */
	ASSERT_OK(shutdown(w.app, SHUT_WR));
	ASSERT_TRUE(run_until(&w, got_eof));
	w.got[w.n_got] = 0;
	ASSERT_STREQ(w.got, "HELLO-payloadmore");
	ASSERT_EQ(w.done_calls, 0);
	ASSERT_EQ(send(w.server, "reply", 5, 0), 5);
	ASSERT_OK(shutdown(w.server, SHUT_WR));
	ASSERT_EQ(app_read_all(&w, buf, sizeof(buf)), 5);
	ASSERT_TRUE(!memcmp(buf, "reply", 5));
	ASSERT_TRUE(run_until(&w, is_done));
	ASSERT_EQ(w.done_calls, 1);
	ASSERT_EQ(w.r.end, PASSTHROUGH_END_CLOSED);
	ASSERT_EQ(w.r.bytes_up, 17);
	ASSERT_EQ(w.r.bytes_down, 5);
	ASSERT_EQ(w.r.error, 0);
	ASSERT_EQ(w.r.connect_error, 0);
	world_close(&w);
}

static void test_server_half_closes_first(void)
{
	struct world w;
	char buf[64];

	ASSERT_OK(world_connected(&w));
	ASSERT_EQ(send(w.server, "bye", 3, 0), 3);
	ASSERT_OK(shutdown(w.server, SHUT_WR));
	ASSERT_EQ(app_read_all(&w, buf, sizeof(buf)), 3);
	/* The app still talks after the destination's EOF, and is heard. */
	ASSERT_EQ(send(w.app, "late-words-here!!", 17, 0), 17);
	ASSERT_OK(shutdown(w.app, SHUT_WR));
	ASSERT_TRUE(run_until(&w, got_eof));
	w.got[w.n_got] = 0;
	ASSERT_STREQ(w.got, "hilate-words-here!!");
	ASSERT_TRUE(run_until(&w, is_done));
	ASSERT_EQ(w.r.end, PASSTHROUGH_END_CLOSED);
	ASSERT_EQ(w.r.bytes_up, 19);
	ASSERT_EQ(w.r.bytes_down, 3);
	world_close(&w);
}

static int got_7(struct world *w)
{
	return w->n_got >= 7;
}

/* TCP's splice stops at an urgent byte: a client sending one must not stall its passthrough
 * (nor spin the loop on a socket that stays readable). */
static void test_urgent_byte_passes_in_place(void)
{
	struct world w;

	ASSERT_OK(world_open(&w));
	ASSERT_OK(world_start(&w));
	ASSERT_TRUE(run_until(&w, accepted));
	ASSERT_EQ(send(w.app, "abc", 3, 0), 3);
	ASSERT_EQ(send(w.app, "!", 1, MSG_OOB), 1);
	ASSERT_EQ(send(w.app, "def", 3, 0), 3);
	ASSERT_TRUE(run_until(&w, got_7));
	ASSERT_EQ(w.done_calls, 0);
	/* And with the FIN in behind it (splice then says EOF before the mark). */
	ASSERT_EQ(send(w.app, "!", 1, MSG_OOB), 1);
	ASSERT_EQ(send(w.app, "ghi", 3, 0), 3);
	ASSERT_OK(shutdown(w.app, SHUT_WR));
	ASSERT_TRUE(run_until(&w, got_eof));
	w.got[w.n_got] = 0;
	ASSERT_STREQ(w.got, "abc!def!ghi");
	world_close(&w);
}

static void test_server_reset_ends_both_sides(void)
{
	struct linger rst = {.l_onoff = 1, .l_linger = 0};
	struct world w;
	char buf[64];

	ASSERT_OK(world_connected(&w));
	ASSERT_OK(setsockopt(w.server, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)));
	close(w.server);
	w.server = -1; /* (nothing else connects: the listener stays empty) */
	ASSERT_TRUE(run_until(&w, is_done));
	ASSERT_EQ(w.r.end, PASSTHROUGH_END_SERVER_ERROR);
	ASSERT_EQ(w.r.error, ECONNRESET);
	/* The app sees its connection end. */
	ASSERT_TRUE(app_read_all(&w, buf, sizeof(buf)) <= 0);
	world_close(&w);
}

static void test_refused_connect_is_reported(void)
{
	struct world w;
	char buf[8];

	ASSERT_OK(world_open(&w));
	close(w.listen_fd); /* nothing listens there any more */
	w.listen_fd = -1;
	ASSERT_OK(world_start(&w));
	ASSERT_TRUE(run_until(&w, is_done));
	ASSERT_EQ(w.r.end, PASSTHROUGH_END_CONNECT_FAILED);
	ASSERT_EQ(w.r.connect_error, ECONNREFUSED);
	ASSERT_TRUE(app_read_all(&w, buf, sizeof(buf)) <= 0);
	world_close(&w);
}

static void test_shutdown_ends_live_passthroughs(void)
{
	struct world w;
	char buf[8];

	ASSERT_OK(world_connected(&w));
	passthrough_shutdown_all();
	ASSERT_EQ(w.done_calls, 1);
	ASSERT_EQ(w.r.end, PASSTHROUGH_END_SHUTDOWN);
	ASSERT_EQ(app_read_all(&w, buf, sizeof(buf)), 0);
	world_close(&w);
}

/* A passthrough that moves bytes lives past its idle timeout; once silent both ways it is
 * ended, both sides closed, and says "idle". */
static void test_idle_passthrough_is_closed(void)
{
	struct world w;
	char buf[64];
	long long start;

	ASSERT_OK(world_connected_idle(&w, 300));
	start = now_ms();
	for (int i = 0; now_ms() - start < 900; i++) { /* a byte each 100 ms, each way */
		ASSERT_EQ(send(i % 2 ? w.server : w.app, "x", 1, 0), 1);
		for (long long t = now_ms(); now_ms() - t < 100;) {
			event_base_loop(w.base, EVLOOP_NONBLOCK);
			(void)recv(w.app, buf, sizeof(buf), MSG_DONTWAIT);
			server_poll(&w);
			poll(NULL, 0, 5);
		}
		ASSERT_EQ(w.done_calls, 0);
	}
	start = now_ms();
	ASSERT_TRUE(run_until(&w, is_done));
	ASSERT_TRUE(now_ms() - start >= 150); /* the silence counted from the last byte */
	ASSERT_EQ(w.r.end, PASSTHROUGH_END_IDLE);
	ASSERT_STREQ(passthrough_end_name(w.r.end), "idle");
	ASSERT_TRUE(app_read_all(&w, buf, sizeof(buf)) >= 0); /* EOF: closed */
	ASSERT_TRUE(run_until(&w, got_eof));		       /* and on the destination's side */
	world_close(&w);
}

UNIT_MAIN(UNIT_CASE(test_bytes_sent_before_start_arrive_first_and_once),
	  UNIT_CASE(test_idle_passthrough_is_closed),
	  UNIT_CASE(test_server_half_closes_first), UNIT_CASE(test_urgent_byte_passes_in_place),
	  UNIT_CASE(test_server_reset_ends_both_sides), UNIT_CASE(test_refused_connect_is_reported),
	  UNIT_CASE(test_shutdown_ends_live_passthroughs))
