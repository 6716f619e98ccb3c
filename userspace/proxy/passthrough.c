/*
 * passthrough.c: two bufferevents and the backpressure of libevent's le-proxy sample.
 * When the peer's output passes PASSTHROUGH_HIGH_WATER, this side stops reading and resumes
 * from the peer's write callback once it drained. Each bufferevent owns its socket
 * (BEV_OPT_CLOSE_ON_FREE); the struct owns both and frees itself in passthrough_finish(),
 * the only place a passthrough ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "proxy/passthrough.h"
#include "util/netaddr.h"

#define PASSTHROUGH_HIGH_WATER (256 * 1024)

struct passthrough {
	struct passthrough *prev, *next; /* all live passthroughs, for shutdown */
	struct bufferevent *client, *upstream;
	struct passthrough_result result;
	passthrough_done_fn done;
	void *arg;
	int connected;
};

static struct passthrough *live_passthroughs;

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

static void passthrough_finish(struct passthrough *pt)
{
	pt_unlink(pt);
	pt->done(&pt->result, pt->arg);
	if (pt->client)
		bufferevent_free(pt->client);
	if (pt->upstream)
		bufferevent_free(pt->upstream);
	free(pt);
}

static struct bufferevent *peer_of(struct passthrough *pt, struct bufferevent *bev)
{
	return bev == pt->client ? pt->upstream : pt->client;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct passthrough *pt = arg;
	struct bufferevent *peer = peer_of(pt, bev);
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	if (!peer) {
		evbuffer_drain(in, n);
		return;
	}
	if (bev == pt->client)
		pt->result.bytes_up += n;
	else
		pt->result.bytes_down += n;
	evbuffer_add_buffer(bufferevent_get_output(peer), in);
	if (evbuffer_get_length(bufferevent_get_output(peer)) >= PASSTHROUGH_HIGH_WATER) {
		bufferevent_disable(bev, EV_READ);
		bufferevent_setwatermark(peer, EV_WRITE, PASSTHROUGH_HIGH_WATER / 2,
					 PASSTHROUGH_HIGH_WATER);
	}
}

static void on_drained(struct bufferevent *bev, void *arg)
{
	struct passthrough *pt = arg;
	struct bufferevent *peer = peer_of(pt, bev);

	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (peer)
		bufferevent_enable(peer, EV_READ);
}

/* The last bytes written, free this side; when it is the last side, finish. */
static void on_close_flushed(struct bufferevent *bev, void *arg)
{
	struct passthrough *pt = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)))
		return;
	if (bev == pt->client)
		pt->client = NULL;
	else
		pt->upstream = NULL;
	bufferevent_free(bev);
	if (!pt->client && !pt->upstream)
		passthrough_finish(pt);
}

static int socket_error(struct bufferevent *bev, short what)
{
	socklen_t len = sizeof(int);
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_TIMEOUT)
		return ETIMEDOUT;
	if (!err)
		getsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_ERROR, &err, &len);
	return err ? err : ECONNRESET;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct passthrough *pt = arg;
	struct bufferevent *peer;

	if (what & BEV_EVENT_CONNECTED) {
		pt->connected = 1;
		bufferevent_set_timeouts(pt->upstream, NULL, NULL);
		bufferevent_enable(pt->client, EV_READ | EV_WRITE);
		return;
	}
	if (bev == pt->upstream && !pt->connected) {
		pt->result.connect_error = socket_error(bev, what);
		passthrough_finish(pt);
		return;
	}
	/* EOF or error on one side: forward what is buffered, then close the other. */
	on_read(bev, pt);
	peer = peer_of(pt, bev);
	if (bev == pt->client)
		pt->client = NULL;
	else
		pt->upstream = NULL;
	bufferevent_free(bev);
	if (!peer) {
		passthrough_finish(pt);
		return;
	}
	bufferevent_setcb(peer, NULL, on_close_flushed, on_event, pt);
	bufferevent_disable(peer, EV_READ);
	on_close_flushed(peer, pt);
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

int passthrough_start(struct event_base *base, int client_fd, const struct aigw_addr *dst,
		      uint32_t mark, unsigned connect_timeout_s, passthrough_done_fn done,
		      void *arg)
{
	struct timeval tv = {.tv_sec = connect_timeout_s};
	struct sockaddr_storage ss;
	struct passthrough *pt;
	int ufd, len, err;

	len = netaddr_to_sockaddr(dst, &ss);
	ufd = len < 0 ? len : upstream_socket(dst, mark);
	if (ufd < 0) {
		close(client_fd);
		return ufd;
	}
	pt = calloc(1, sizeof(*pt));
	if (!pt) {
		close(client_fd);
		close(ufd);
		return -ENOMEM;
	}
	pt->done = done;
	pt->arg = arg;
	evutil_make_socket_nonblocking(client_fd);
	pt->client = bufferevent_socket_new(base, client_fd, BEV_OPT_CLOSE_ON_FREE);
	pt->upstream = bufferevent_socket_new(base, ufd, BEV_OPT_CLOSE_ON_FREE);
	if (!pt->client || !pt->upstream) {
		if (!pt->client)
			close(client_fd);
		if (!pt->upstream)
			close(ufd);
		err = -ENOMEM;
		goto fail;
	}
	bufferevent_setcb(pt->client, on_read, on_drained, on_event, pt);
	bufferevent_setcb(pt->upstream, on_read, on_drained, on_event, pt);
	bufferevent_set_timeouts(pt->upstream, NULL, connect_timeout_s ? &tv : NULL);
	bufferevent_enable(pt->upstream, EV_READ | EV_WRITE);
	pt_link(pt);
	if (bufferevent_socket_connect(pt->upstream, (struct sockaddr *)&ss, len)) {
		err = -(EVUTIL_SOCKET_ERROR() ? EVUTIL_SOCKET_ERROR() : ECONNREFUSED);
		pt_unlink(pt);
		goto fail;
	}
	return 0;
fail:
	if (pt->client)
		bufferevent_free(pt->client);
	if (pt->upstream)
		bufferevent_free(pt->upstream);
	free(pt);
	return err;
}

void passthrough_shutdown_all(void)
{
	while (live_passthroughs)
		passthrough_finish(live_passthroughs);
}
