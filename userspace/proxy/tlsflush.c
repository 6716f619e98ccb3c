/*
 * tlsflush: sending a client bufferevent's queued output at once: TLS in whole records, a plain
 * socket's in as few writes as it takes.
 *
 * libevent's bufferevent_openssl (2.1) never writes from the callback that queued data: when
 * the output goes from empty to not empty it adds its write event, and writes when epoll says
 * the socket is writable, one SSL_write (one TLS record, one write(2)) per evbuffer chain. Per
 * response and per request that is an epoll_ctl to add, a pass through epoll_wait, a write per
 * chain and an epoll_ctl to remove. A socket's send buffer nearly always has room, so
 * tlsflush_now() writes it at once, a full record at a time, and withdraws the write event in
 * the same loop iteration: the daemon's event base keeps a changelist
 * (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST, daemon.c), where an add and a delete between two
 * waits cancel out, so no epoll_ctl is made at all.
 *
 * What SSL_write cannot send now (WANT_WRITE: the send buffer is full) stays queued and
 * libevent sends it as before. OpenSSL then needs the retry to offer at least the bytes of
 * the refused call: the first chain holds them contiguously (pulled up) and libevent offers
 * the whole chain, so it does; libevent sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
 *
 * A plain socket's bufferevent (the explicit endpoint's api.socket and api.listen) is no
 * better off: libevent writes it on the writable event too, and at most 16 KiB a turn of the
 * loop (its max_single_write), so a large answer leaves over many turns with bytes held all
 * the while. plainflush_now() writes it at once with evbuffer_write_atmost(), as libevent's
 * own write callback does, until the socket refuses (EAGAIN) or everything went.
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proxy/tlsflush.h"

/*
 * The thread's OpenSSL error queue emptied before an SSL_write, so that what is found in it
 * after a failure is that failure's. ERR_clear_error() costs some 800 instructions even on an
 * empty queue (it frees all 16 slots' strings, 32 CRYPTO_free calls): twice per call, when the
 * queue is nearly always empty already. Looking first costs a few dozen.
 */
static void queue_clear(void)
{
	if (ERR_peek_error())
		ERR_clear_error();
}

/*
 * All of BEV's output sent: withdraw the write event (disabling deletes it, cancelling the add
 * in the changelist), and mark writes enabled again without re-adding it: the next data queued
 * adds it again, and libevent writes only while EV_WRITE is enabled.
 */
static void write_event_withdraw(struct bufferevent *bev)
{
	bufferevent_disable(bev, EV_WRITE);
	bev->enabled |= EV_WRITE;
}

size_t tlsflush_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	size_t len, sent = 0;
	int n;

	/* Not TLS (a bufferevent pair, plain TCP), corked, or still in the handshake. */
	if (!ssl || !(bufferevent_get_enabled(bev) & EV_WRITE) || !SSL_is_init_finished(ssl))
		return 0;
	while ((len = evbuffer_get_length(out)) > 0) {
		if (len > TLSFLUSH_RECORD_MAX)
			len = TLSFLUSH_RECORD_MAX;
		queue_clear();
		n = SSL_write(ssl, evbuffer_pullup(out, (ssize_t)len), (int)len);
		if (n <= 0) { /* libevent retries it on the writable event, and reports errors */
			ERR_clear_error();
			return sent;
		}
		evbuffer_drain(out, (size_t)n);
		sent += (size_t)n;
	}
	if (!sent)
		return 0;
	write_event_withdraw(bev);
	return sent;
}

size_t plainflush_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);
	size_t sent = 0;
	int n;

	/* A bufferevent pair (no socket), TLS, or corked. */
	if (fd < 0 || bufferevent_openssl_get_ssl(bev) || !(bufferevent_get_enabled(bev) & EV_WRITE))
		return 0;
	/* the socket bufferevent keeps its output's start frozen but while it writes */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0) {
		n = evbuffer_write_atmost(out, fd, -1);
		if (n <= 0) /* EAGAIN: libevent writes the rest when writable, and reports errors */
			break;
		sent += (size_t)n;
	}
	evbuffer_freeze(out, 1);
	if (sent && !evbuffer_get_length(out))
		write_event_withdraw(bev);
	return sent;
}
