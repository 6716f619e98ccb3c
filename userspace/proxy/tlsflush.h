/*
 * tlsflush: sending what is queued on a client's bufferevent (OpenSSL, or a plain socket's) from
 * the callback that queued it, instead of on the event loop's next writable event. See
 * tlsflush.c.
 */
#ifndef AIGW_PROXY_TLSFLUSH_H
#define AIGW_PROXY_TLSFLUSH_H

#include <event2/bufferevent.h>

/* Max bytes per SSL_write: one full TLS record (and, on loopback, one segment). */
#define TLSFLUSH_RECORD_MAX 16384

/*
 * Writes BEV's queued output now, TLSFLUSH_RECORD_MAX bytes per SSL_write. Returns the bytes
 * sent (0: nothing could go, or BEV is no TLS bufferevent open for writing); what is left stays
 * queued for libevent to send as before. With everything sent, the write event libevent added
 * for it is withdrawn (writes stay enabled). Never frees or closes anything: an error shows
 * later, on libevent's own write, through the event callback as before.
 */
size_t tlsflush_now(struct bufferevent *bev);

/*
 * The same for a plain socket's bufferevent: writes BEV's queued output now, as libevent's
 * write callback would but without its 16 KiB a turn, until the socket refuses. Returns the
 * bytes sent (0: nothing could go, or BEV is TLS, a pair, or not open for writing). Never
 * frees or closes anything: an error shows on libevent's own write, as above.
 */
size_t plainflush_now(struct bufferevent *bev);

#endif
