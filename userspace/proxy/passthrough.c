/*
 * passthrough.c: a passed-through connection's bytes moved by splice(2), in the kernel.
 *
 * Each direction is its source socket -> a pipe -> its destination socket. Splicing a socket
 * into a pipe and the pipe into a socket moves page references, so the proxy neither copies
 * nor holds in its heap what it passes through. A direction is pumped when its source is
 * readable or, with bytes in its pipe, when its destination is writable: fill the pipe, drain
 * it, until one of them would block. Backpressure is the pipe: while it holds bytes that the
 * destination will not take, the source is not read, so a slow reader costs at most a pipe
 * and the sockets' buffers, in the kernel.
 *
 * Nothing is consumed before the upstream is connected: the ClientHello the decision peeked
 * is still in the client's socket and is the first thing spliced, once. EOF from a source is
 * forwarded, when its pipe is empty, as shutdown(SHUT_WR) of the destination, and the other
 * direction goes on (half-close). An error on either socket (a reset) ends both at once:
 * closing the other socket is how its peer learns of it.
 *
 * A passthrough that moves no byte either way for its idle timeout is ended (both sockets
 * closed): one timer per passthrough, re-armed for the rest of the period when it finds bytes
 * moved since, so moving bytes costs a clock read (vDSO, no syscall) and no timer update.
 *
 * The struct owns both sockets, both pipes and every event; passthrough_finish() is the only
 * place a live passthrough ends: it closes them, runs the done callback, frees.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/passthrough.h"
#include "util/netaddr.h"

/*
 * The pipe of each direction: larger than the default 64 KiB for fewer splice calls per byte
 * of a bulk transfer; also what a stalled reader can leave in the kernel per direction, on
 * top of the sockets' buffers.
 */
#define PASSTHROUGH_PIPE_SIZE (256 * 1024)
/* Fill-and-drain rounds per wakeup: a bulk transfer yields the loop to other connections, and
 * the level-triggered events bring it back. */
#define PASSTHROUGH_ROUNDS 8
#define PASSTHROUGH_SPLICE (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

struct passthrough;

/* One direction: SRC -> pipe -> DST. */
struct pt_dir {
	struct passthrough *pt;
	int src, dst;				   /* the passthrough's sockets, not owned here */
	int pipe_rd, pipe_wr;			   /* owned; -1 when not open */
	size_t queued;				   /* bytes in the pipe */
	uint64_t *delivered;			   /* the result's count of this direction */
	enum passthrough_end src_fails, dst_fails; /* the end an error of each socket means */
	struct event *readable;			   /* SRC has bytes or EOF (owned) */
	struct event *writable;			   /* DST has room (owned) */
	int eof;				   /* SRC gave EOF */
	int done;				   /* EOF forwarded: DST shut down for writing */
};

struct passthrough {
	struct passthrough *prev, *next; /* all live passthroughs, for shutdown */
	int client_fd, upstream_fd;	 /* owned; upstream -1 until created */
	struct event *connecting;	 /* the upstream connect completes or times out (owned) */
	struct event *idle;		 /* the idle timeout's timer, once connected (owned) */
	unsigned idle_ms;		 /* the idle timeout, 0 for none */
	uint64_t active_ms;		 /* when a byte last moved (CLOCK_MONOTONIC, ms) */
	struct pt_dir up, down;		 /* client -> upstream, upstream -> client */
	struct passthrough_result result;
	passthrough_done_fn done;
	void *arg;
};

static struct passthrough *live_passthroughs;

const char *passthrough_end_name(enum passthrough_end end)
{
	switch (end) {
	case PASSTHROUGH_END_CLOSED:
		return "closed";
	case PASSTHROUGH_END_CONNECT_FAILED:
		return "connect_failed";
	case PASSTHROUGH_END_CLIENT_ERROR:
		return "client_error";
	case PASSTHROUGH_END_SERVER_ERROR:
		return "server_error";
	case PASSTHROUGH_END_SHUTDOWN:
		return "shutdown";
	case PASSTHROUGH_END_IDLE:
		return "idle";
	}
	return "unknown";
}

static void pt_link(struct passthrough *pt)
{
	pt->next = live_passthroughs;
	if (live_passthroughs)
		live_passthroughs->prev = pt;
	live_passthroughs = pt;
}

static void pt_unlink(struct passthrough *pt)
{
	if (pt->prev)
		pt->prev->next = pt->next;
	else if (live_passthroughs == pt)
		live_passthroughs = pt->next;
	if (pt->next)
		pt->next->prev = pt->prev;
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

static void free_event(struct event *ev)
{
	if (ev)
		event_free(ev);
}

static void pt_dir_release(struct pt_dir *d)
{
	free_event(d->readable);
	free_event(d->writable);
	close_fd(d->pipe_rd);
	close_fd(d->pipe_wr);
}

/* Everything the passthrough owns, closed; the struct itself stays for the caller to free. */
static void pt_release(struct passthrough *pt)
{
	pt_dir_release(&pt->up);
	pt_dir_release(&pt->down);
	free_event(pt->connecting);
	free_event(pt->idle);
	close_fd(pt->client_fd);
	close_fd(pt->upstream_fd);
}

/* ERR: the errno of an error end or of a failed connect, else 0. */
static void passthrough_finish(struct passthrough *pt, enum passthrough_end end, int err)
{
	pt_unlink(pt);
	pt_release(pt);
	pt->result.end = end;
	if (end == PASSTHROUGH_END_CONNECT_FAILED)
		pt->result.connect_error = err;
	else
		pt->result.error = err;
	pt->done(&pt->result, pt->arg);
	free(pt);
}

/*
 * TCP's splice stops at an urgent byte (MSG_OOB): it answers EAGAIN while the socket stays
 * readable, or 0 (EOF) once the peer's FIN is in, bytes still queued after the mark. A client
 * sending one would stall its passthrough and spin the loop, or have its last bytes dropped.
 * recv() steps over the mark (the byte inline, SO_OOBINLINE), so a splice that moved nothing
 * into an empty pipe is retried as a copy of at most PIPE_BUF bytes, which an empty pipe
 * takes whole, and only recv's 0 is taken for EOF. Usually the recv finds nothing: one
 * syscall per wakeup.
 */
static ssize_t pt_dir_copy(struct pt_dir *d)
{
	char buf[PIPE_BUF];
	ssize_t n = recv(d->src, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0 && write(d->pipe_wr, buf, n) != n) {
		errno = EIO; /* cannot happen: an empty pipe takes PIPE_BUF bytes whole */
		return -1;
	}
	return n;
}

/* The source into the pipe: 1 moved bytes or saw EOF, 0 would block (or the pipe is full),
 * or -errno of the source. */
static int pt_dir_fill(struct pt_dir *d)
{
	ssize_t n;

	if (d->eof)
		return 0;
	n = splice(d->src, NULL, d->pipe_wr, NULL, PASSTHROUGH_PIPE_SIZE, PASSTHROUGH_SPLICE);
	if (n == 0 || (n < 0 && errno == EAGAIN)) {
		if (d->queued)
			return 0; /* (the pipe drains first, then the copy looks) */
		n = pt_dir_copy(d);
	}
	if (n > 0)
		d->queued += n;
	else if (n == 0)
		d->eof = 1;
	else
		return errno == EAGAIN ? 0 : -errno;
	return 1;
}

/* The pipe into the destination: 1 moved bytes, 0 nothing queued or it would block, or
 * -errno of the destination. */
static int pt_dir_drain(struct pt_dir *d)
{
	ssize_t n;

	if (!d->queued)
		return 0;
	n = splice(d->pipe_rd, NULL, d->dst, NULL, d->queued, PASSTHROUGH_SPLICE);
	if (n > 0) {
		d->queued -= n;
		*d->delivered += n;
		return 1;
	}
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n < 0 ? -errno : -EPIPE; /* 0 with bytes queued: the pipe lost its writer */
}

static struct pt_dir *pt_other(struct pt_dir *d)
{
	return d == &d->pt->up ? &d->pt->down : &d->pt->up;
}

/*
 * What the direction waits for next: with bytes in its pipe, room at the destination (and its
 * source is not read meanwhile); else bytes at the source; nothing once done. Returns -1 when
 * both directions are done and the passthrough ended (freed), else 0.
 */
static int pt_dir_arm(struct pt_dir *d)
{
	if (d->done) {
		event_del(d->readable);
		event_del(d->writable);
		if (!pt_other(d)->done)
			return 0;
		passthrough_finish(d->pt, PASSTHROUGH_END_CLOSED, 0);
		return -1;
	}
	if (d->queued) {
		event_del(d->readable);
		event_add(d->writable, NULL);
	} else {
		event_del(d->writable);
		event_add(d->readable, NULL);
	}
	return 0;
}

/* Moves what can move now, forwards an EOF, re-arms. -1 when the passthrough ended (freed). */
static int pt_dir_pump(struct pt_dir *d)
{
	for (int round = 0; round < PASSTHROUGH_ROUNDS; round++) {
		int filled = pt_dir_fill(d), drained;

		if (filled < 0) {
			passthrough_finish(d->pt, d->src_fails, -filled);
			return -1;
		}
		drained = pt_dir_drain(d);
		if (drained < 0) {
			passthrough_finish(d->pt, d->dst_fails, -drained);
			return -1;
		}
		if (!filled && !drained)
			break;
	}
	if (d->eof && !d->queued && !d->done) {
		d->done = 1;
		shutdown(d->dst, SHUT_WR); /* a failure shows on the other direction's socket */
	}
	return pt_dir_arm(d);
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void on_dir_ready(evutil_socket_t fd, short what, void *arg)
{
	struct pt_dir *d = arg;

	d->pt->active_ms = now_ms(); /* (a wakeup is bytes or an EOF moving) */
	pt_dir_pump(d);
}

/* The idle timer: ends the passthrough if nothing moved for idle_ms, else waits the rest. */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct passthrough *pt = arg;
	uint64_t quiet = now_ms() - pt->active_ms, rest;
	struct timeval tv;

	if (quiet >= pt->idle_ms) {
		passthrough_finish(pt, PASSTHROUGH_END_IDLE, 0);
		return;
	}
	rest = pt->idle_ms - quiet;
	tv.tv_sec = (time_t)(rest / 1000);
	tv.tv_usec = (suseconds_t)(rest % 1000) * 1000;
	event_add(pt->idle, &tv);
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct passthrough *pt = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err) {
		passthrough_finish(pt, PASSTHROUGH_END_CONNECT_FAILED, err);
		return;
	}
	event_free(pt->connecting);
	pt->connecting = NULL;
	if (pt->idle) { /* the period starts now */
		pt->active_ms = now_ms();
		on_idle(-1, 0, pt);
	}
	if (pt_dir_pump(&pt->up) == 0)
		pt_dir_pump(&pt->down);
}

static int pt_dir_init(struct pt_dir *d, struct passthrough *pt, struct event_base *base, int src,
		       int dst, uint64_t *delivered, enum passthrough_end src_fails,
		       enum passthrough_end dst_fails)
{
	int p[2];

	d->pt = pt;
	d->src = src;
	d->dst = dst;
	d->delivered = delivered;
	d->src_fails = src_fails;
	d->dst_fails = dst_fails;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	d->pipe_rd = p[0];
	d->pipe_wr = p[1];
	/* Best effort: the default size works too, with more calls. */
	(void)fcntl(d->pipe_wr, F_SETPIPE_SZ, PASSTHROUGH_PIPE_SIZE);
	d->readable = event_new(base, src, EV_READ | EV_PERSIST, on_dir_ready, d);
	d->writable = event_new(base, dst, EV_WRITE | EV_PERSIST, on_dir_ready, d);
	return d->readable && d->writable ? 0 : -ENOMEM;
}

static int upstream_socket(const struct aigw_addr *dst, uint32_t mark)
{
	int fd = socket(dst->family == AIGW_AF_INET ? AF_INET : AF_INET6,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* The exempt mark: without it the hooks would send this connection back to us. */
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * Both sockets non-blocking (splice then never sleeps on them) and without Nagle: whatever
 * arrives leaves at once, so a client's small writes are not held back by the proxy.
 */
static void pt_socket_setup(int fd)
{
	int one = 1;

	evutil_make_socket_nonblocking(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* An urgent byte stays in the stream, in its place (see pt_dir_copy()). */
	setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
}

static struct passthrough *pt_new(int client_fd)
{
	struct passthrough *pt = calloc(1, sizeof(*pt));

	if (!pt)
		return NULL;
	pt->client_fd = client_fd;
	pt->upstream_fd = -1;
	pt->up.pipe_rd = pt->up.pipe_wr = -1;
	pt->down.pipe_rd = pt->down.pipe_wr = -1;
	return pt;
}

int passthrough_start(struct event_base *base, int client_fd, const struct aigw_addr *dst,
		      uint32_t mark, unsigned connect_timeout_s, unsigned idle_timeout_ms,
		      passthrough_done_fn done, void *arg)
{
	struct timeval tv = {.tv_sec = connect_timeout_s};
	struct passthrough *pt = pt_new(client_fd);
	struct sockaddr_storage ss;
	int len, err;

	if (!pt) {
		close(client_fd);
		return -ENOMEM;
	}
	len = netaddr_to_sockaddr(dst, &ss);
	err = len < 0 ? len : upstream_socket(dst, mark);
	if (err < 0)
		goto fail;
	pt->upstream_fd = err;
	pt_socket_setup(client_fd);
	pt_socket_setup(pt->upstream_fd);
	err = pt_dir_init(&pt->up, pt, base, client_fd, pt->upstream_fd, &pt->result.bytes_up,
			  PASSTHROUGH_END_CLIENT_ERROR, PASSTHROUGH_END_SERVER_ERROR);
	if (!err)
		err = pt_dir_init(&pt->down, pt, base, pt->upstream_fd, client_fd,
				  &pt->result.bytes_down, PASSTHROUGH_END_SERVER_ERROR,
				  PASSTHROUGH_END_CLIENT_ERROR);
	if (err)
		goto fail;
	/* Nothing is read from the client before the connect completes: its bytes wait in its
	 * socket, first of all the ClientHello the decision peeked. */
	pt->connecting = event_new(base, pt->upstream_fd, EV_WRITE, on_connected, pt);
	pt->idle_ms = idle_timeout_ms;
	pt->idle = idle_timeout_ms ? evtimer_new(base, on_idle, pt) : NULL;
	if (!pt->connecting || (idle_timeout_ms && !pt->idle)) {
		err = -ENOMEM;
		goto fail;
	}
	if (connect(pt->upstream_fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		err = -errno;
		goto fail;
	}
	if (event_add(pt->connecting, connect_timeout_s ? &tv : NULL)) {
		err = -ENOMEM;
		goto fail;
	}
	pt->done = done;
	pt->arg = arg;
	pt_link(pt);
	return 0;
fail:
	pt_release(pt);
	free(pt);
	return err;
}

void passthrough_shutdown_all(void)
{
	while (live_passthroughs)
		passthrough_finish(live_passthroughs, PASSTHROUGH_END_SHUTDOWN, 0);
}
