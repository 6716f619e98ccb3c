/*
 * listener: the proxy's listening sockets (IPv4 and IPv6), where captured connections land.
 * Accepts on the event loop and hands each connection, with its peer address, to the
 * callback, which owns the fd from then on.
 */
#ifndef AIGW_PROXY_LISTENER_H
#define AIGW_PROXY_LISTENER_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/socket.h>

typedef void (*listener_accept_fn)(int fd, const struct sockaddr *peer, void *arg);

struct listener; /* freed by listener_free() */

int listener_new(struct event_base *base, const struct sockaddr *addr, socklen_t len,
		 listener_accept_fn fn, void *arg, struct listener **ret_listener);
void listener_free(struct listener *l);

/* The listening socket's cookie (SO_COOKIE) in *RET_COOKIE: what the capture programs compare
 * with the socket a connect would reach (asking for it is what gives the socket one). */
int listener_cookie(const struct listener *l, uint64_t *ret_cookie);

#endif
