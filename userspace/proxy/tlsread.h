/*
 * tlsread: reading a TLS bufferevent a socket read at a time instead of two per record
 * (OpenSSL's read-ahead), with the wake-up libevent 2.1 lacks for it. See tlsread.c.
 */
#ifndef AIGW_PROXY_TLSREAD_H
#define AIGW_PROXY_TLSREAD_H

#include <event2/bufferevent.h>

/*
 * Turns read-ahead on for BEV, an OpenSSL bufferevent whose handshake is done (call it from
 * BEV_EVENT_CONNECTED; nothing happens for any other bufferevent). From then on, whenever
 * BEV's input changes while OpenSSL holds bytes it read ahead, BEV's read event is made active
 * so that libevent reads them. Returns 0, or -ENOMEM (BEV then reads as before).
 */
int tlsread_batch(struct bufferevent *bev);

/*
 * As tlsread_batch(), and the records OpenSSL read ahead go into BEV's input in the read that
 * reached them, so that BEV's read callback runs once for them all. Failures are reported as
 * before, through BEV's event callback, but bufferevent_get_openssl_error() then holds libevent's
 * retry's error, not the first one: for bufferevents whose OpenSSL errors after the handshake
 * are not read (the provider's; the app's client_tls_error() reads them).
 */
int tlsread_batch_whole(struct bufferevent *bev);

/*
 * BEV's read high watermark (bufferevent_setwatermark(BEV, EV_READ, 0, HIGH)). On a bufferevent
 * given read-ahead above, tlsread's input callback keeps it, as it keeps one set before: reading
 * is suspended when the input reaches HIGH and resumed when a drain takes it back under, and
 * not resumed again at every change under it as libevent's callback does (each resumption
 * re-adds the read event with its timeout). A call that changes nothing does nothing.
 */
void tlsread_watermark(struct bufferevent *bev, size_t high);

/*
 * bufferevent_enable(BEV, EVENTS), unless EVENTS are enabled and their events added already
 * (any bufferevent): enabling again would only re-add them, some 250 instructions each. An
 * enabled event not added (reading suspended, or stopped by a close or an error libevent met),
 * though it may be active, is enabled as before.
 */
void tlsread_enable(struct bufferevent *bev, short events);

/*
 * Enables reading on BEV (bufferevent_enable(BEV, EV_READ)) and, when OpenSSL holds bytes read
 * ahead, makes the read event active: libevent's OpenSSL bufferevent only waits for the
 * socket when reading is re-enabled, and the socket has nothing more to say.
 */
void tlsread_resume(struct bufferevent *bev);

/* Whether OpenSSL holds bytes of BEV's peer not yet in BEV's input (0 for plain TCP). */
int tlsread_holds(struct bufferevent *bev);

#endif
