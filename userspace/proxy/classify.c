/*
 * classify.c: the peek loop. A peeked socket stays readable while too few bytes are there,
 * so waiting on EV_READ alone would spin; SO_RCVLOWAT is raised to the size the TLS record
 * header announces, and the kernel wakes us only when that much has arrived.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "proxy/classify.h"

#define CLASSIFY_PEEK_MAX (CLIENTHELLO_MAX_PEEK + 5)

struct classify {
	struct classify *prev, *next; /* every pending classification, for shutdown */
	struct event *ev;
	int fd;
	int lowat; /* the SO_RCVLOWAT set, 1 when untouched */
	classify_fn fn;
	void *arg;
};

static struct classify *pending;

static void classify_done(struct classify *c, struct classify_result *r)
{
	int one = 1;

	if (c->prev)
		c->prev->next = c->next;
	else
		pending = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->lowat != 1)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	event_free(c->ev);
	c->fn(c->fd, r, c->arg);
	free(c);
}

/* How many bytes to wait for when N bytes were not enough. */
static int bytes_wanted(const uint8_t *buf, ssize_t n)
{
	int want;

	if (n < 5)
		return 5;
	want = 5 + (buf[3] << 8 | buf[4]);
	if (want <= n) /* the hello spans records: take one more byte at a time */
		want = n + 1;
	return want > CLASSIFY_PEEK_MAX ? CLASSIFY_PEEK_MAX : want;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct classify *c = arg;
	struct classify_result r = {.kind = CLASSIFY_FAILED};
	uint8_t buf[CLASSIFY_PEEK_MAX];
	ssize_t n;
	int rc;

	if (what & EV_TIMEOUT) {
		r.err = -ETIMEDOUT;
		classify_done(c, &r);
		return;
	}
	n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		r.err = n == 0 ? -ECONNRESET : -errno;
		classify_done(c, &r);
		return;
	}
	rc = clienthello_parse(buf, n, &r.hello);
	if (rc == -EAGAIN && n < CLASSIFY_PEEK_MAX) {
		int want = bytes_wanted(buf, n);

		if (want != c->lowat &&
		    !setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)))
			c->lowat = want;
		return;
	}
	if (rc == 0)
		r.kind = CLASSIFY_TLS;
	else if (rc == -EPROTO)
		r.kind = CLASSIFY_NOT_TLS;
	else
		r.err = rc == -EAGAIN ? -EMSGSIZE : rc;
	classify_done(c, &r);
}

int classify_start(struct event_base *base, int fd, unsigned timeout_ms, classify_fn fn,
		   void *arg)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct classify *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->fn = fn;
	c->arg = arg;
	c->lowat = 1;
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, c);
	if (!c->ev || event_add(c->ev, timeout_ms ? &tv : NULL)) {
		if (c->ev)
			event_free(c->ev);
		free(c);
		return -ENOMEM;
	}
	c->next = pending;
	if (pending)
		pending->prev = c;
	pending = c;
	return 0;
}

void classify_shutdown_all(void)
{
	struct classify_result r = {.kind = CLASSIFY_FAILED, .err = -ESHUTDOWN};

	while (pending)
		classify_done(pending, &r);
}
