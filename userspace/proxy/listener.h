/*
 * listener: the proxy's listening sockets (IPv4 and IPv6), where captured connections land.
 * Accepts on the event loop and hands each connection, with its peer address, to the
 * callback, which owns the fd from then on.
 */
#ifndef AIGW_PROXY_LISTENER_H
#define AIGW_PROXY_LISTENER_H

#include <event2/event.h>
#include <sys/socket.h>

typedef void (*listener_accept_fn)(int fd, const struct sockaddr *peer, void *arg);

struct listener; /* freed by listener_free() */

int listener_new(struct event_base *base, const struct sockaddr *addr, socklen_t len,
		 listener_accept_fn fn, void *arg, struct listener **ret_listener);
void listener_free(struct listener *l);

/* The listening socket (owned by L): for getsockopt(SO_COOKIE) and the like. */
int listener_fd(const struct listener *l);

#endif
