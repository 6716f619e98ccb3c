/* listener.c: an evconnlistener per address; IPv6 listeners are v6-only (IPv4 has its own);
 * each socket's cookie, by which the capture programs know it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <event2/listener.h>

#include "proxy/listener.h"
#include "util/log.h"

struct listener {
	struct evconnlistener *evl;
	listener_accept_fn fn;
	void *arg;
};

static void listener_accepted(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *peer,
			      int len, void *arg)
{
	struct listener *l = arg;

	l->fn(fd, peer, l->arg);
}

static void listener_error(struct evconnlistener *evl, void *arg)
{
	/* EMFILE and friends: keep listening, the next accept may succeed. */
	log_warn("accept: %s", strerror(errno));
}

int listener_new(struct event_base *base, const struct sockaddr *addr, socklen_t len,
		 listener_accept_fn fn, void *arg, struct listener **ret_listener)
{
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	if (addr->sa_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	l->fn = fn;
	l->arg = arg;
	l->evl = evconnlistener_new_bind(base, listener_accepted, l, flags, 1024, addr, len);
	if (!l->evl) {
		int err = -errno;

		free(l);
		return err ? err : -EADDRNOTAVAIL;
	}
	evconnlistener_set_error_cb(l->evl, listener_error);
	*ret_listener = l;
	return 0;
}

int listener_cookie(const struct listener *l, uint64_t *ret_cookie)
{
	socklen_t len = sizeof(*ret_cookie);

	if (getsockopt(evconnlistener_get_fd(l->evl), SOL_SOCKET, SO_COOKIE, ret_cookie, &len))
		return -errno;
	return 0;
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	evconnlistener_free(l->evl);
	free(l);
}
