/*
 * tlsread: a TLS bufferevent's socket read once per batch of records, not twice per record.
 *
 * Without read-ahead OpenSSL reads a record's 5-byte header, then its body: two read(2) per
 * record, about six per proxied call (the client's request, the provider's answer, and the
 * EAGAIN that ends each batch). With read-ahead (SSL_set_read_ahead) one read(2) fills
 * OpenSSL's record buffer with whatever the socket holds.
 *
 * libevent 2.1.12's bufferevent_openssl was not written for it. Its consider_reading() keeps
 * calling SSL_read() only while SSL_pending() is non-zero, and SSL_pending() counts the
 * decrypted bytes of the current record only, never the records read ahead behind it; and
 * after a handshake, a watermark suspension or bufferevent_enable() it only re-adds the read
 * event, which waits for the socket. A record already read ahead would wait in OpenSSL until
 * the peer sent something else: a request never answered, an answer never delivered.
 *
 * So: read-ahead starts only after the handshake (the handshake reads what it needs and no
 * more: the app's first request, sent with its Finished, stays in the socket), and an input
 * callback on the bufferevent (run on every read and every drain) makes the read event active
 * when OpenSSL holds bytes libevent would leave there (SSL_has_pending(): processed or not);
 * so does tlsread_resume(). A needless activation costs at most one read(2) that says EAGAIN
 * (a partial record buffered), or nothing (reading disabled: consider_reading() reads nothing).
 *
 * Still, the kick is a second read callback: a provider's head and body come as two records, so
 * the answer was parsed in two passes. For the provider's connection (tlsread_batch_whole) the
 * records read ahead are taken in the read that reached them, SSL_read by SSL_read. A failure
 * met there (a forged record, a close_notify) is left to libevent's own SSL_read to meet again
 * and report as it would have; only its OpenSSL error list differs, which the app's side
 * reads (client_tls_error) and so keeps the kick.
 */
#include <errno.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proxy/tlsread.h"

/* Bytes per SSL_read of a record read ahead: a whole record's plaintext, at most. */
#define TLSREAD_RECORD_MAX 16384

/*
 * libevent's own read suspension (bufferevent-internal.h; exported by libevent 2.1.12): what
 * its watermark callback calls, with the watermark's flag.
 */
void bufferevent_suspend_read_(struct bufferevent *bufev, ev_uint16_t what);
void bufferevent_unsuspend_read_(struct bufferevent *bufev, ev_uint16_t what);
#define TLSREAD_SUSPEND_WM 0x01 /* BEV_SUSPEND_WM */

/*
 * BEV's read high watermark, kept by the input callback below instead of libevent's: reading
 * suspended when the input reaches it, resumed when a drain takes it back under. libevent's
 * callback resumes after every change under the mark too, and its resumption re-adds the read
 * event with its timeout: some 300 instructions a change, six changes a call, for nothing (the
 * read timeout starts again at every read as it is). ORIG: the input's length before.
 */
static void keep_watermark(struct bufferevent *bev, size_t orig, size_t now)
{
	size_t high = bev->wm_read.high;

	if (!high)
		return;
	if (now >= high)
		bufferevent_suspend_read_(bev, TLSREAD_SUSPEND_WM);
	else if (orig >= high)
		bufferevent_unsuspend_read_(bev, TLSREAD_SUSPEND_WM);
}

/* BEV's read event made active, to run libevent's reading once more. */
static void kick(struct bufferevent *bev)
{
	event_active(&bev->ev_read, EV_READ, 1);
}

/*
 * Bytes were added to BEV's input (a read) or taken from it (the parser). After a read,
 * consider_reading() goes on by itself while the current record has bytes left (SSL_pending);
 * only records read ahead behind it need the kick. After a drain, anything OpenSSL holds does:
 * the drain may have lifted a watermark suspension, which re-adds the read event only.
 */
static void kick_for_read_ahead(struct bufferevent *bev, SSL *ssl, const struct evbuffer_cb_info *info)
{
	if (!ssl || !SSL_has_pending(ssl))
		return;
	if (info->n_deleted || !SSL_pending(ssl))
		kick(bev);
}

static void on_input_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;

	keep_watermark(bev, info->orig_size, evbuffer_get_length(buf));
	kick_for_read_ahead(bev, bufferevent_openssl_get_ssl(bev), info);
}

/* Set while take_read_ahead() runs: its own additions to the input call back here. */
static _Thread_local int taking;

/*
 * libevent's own SSL_read meets the failure again and reports it to BEV's event callback
 * (OpenSSL stays failed). Its retry of a protocol error (a forged record: SSL_ERROR_SSL, -1)
 * finds an empty error queue and would pass for a dirty shutdown, an EOF where dirty
 * shutdowns are allowed: they are not for it, so that it stays the BEV_EVENT_ERROR it was.
 */
static void leave_failure(struct bufferevent *bev, SSL *ssl, int ret)
{
	if (ret < 0 && SSL_get_error(ssl, ret) == SSL_ERROR_SSL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 0);
	ERR_clear_error();
	kick(bev);
}

/*
 * The records OpenSSL read ahead, moved into BEV's input within the read that reached them, a
 * record per SSL_read as libevent's next read would, while BEV may read (enabled, input under
 * its high watermark). WANT_READ: part of a record, the rest still on its way; BEV's read
 * event waits for it. Any other failure is left for libevent to report (leave_failure).
 */
static void take_read_ahead(struct bufferevent *bev, SSL *ssl)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;
	int n;

	while (SSL_has_pending(ssl)) {
		if (!(bev->enabled & EV_READ) ||
		    (bev->wm_read.high && evbuffer_get_length(in) >= bev->wm_read.high))
			return; /* tlsread_resume() or the drain kicks it then */
		if (evbuffer_reserve_space(in, TLSREAD_RECORD_MAX, &v, 1) < 1) {
			kick(bev);
			return;
		}
		n = SSL_read(ssl, v.iov_base, (int)v.iov_len);
		if (n <= 0) {
			if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ)
				leave_failure(bev, ssl, n);
			return;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
	}
}

/*
 * As on_input_changed(), but after a read the records read ahead are taken at once: the read
 * callback then runs once for all of them (a provider's head and body are two records), not
 * once more from a kick.
 */
static void on_input_taken(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	keep_watermark(bev, info->orig_size, evbuffer_get_length(buf));
	if (taking || !ssl || !SSL_has_pending(ssl))
		return;
	if (info->n_deleted || SSL_pending(ssl)) {
		kick_for_read_ahead(bev, ssl, info);
		return;
	}
	taking = 1;
	take_read_ahead(bev, ssl);
	taking = 0;
}

/* Whether BEV's input callback is ours (batch() done): read-ahead is on for no other. */
static int batched(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl && SSL_get_read_ahead(ssl);
}

/* BEV's read high watermark kept by keep_watermark() from now on, not by libevent. */
static void take_watermark(struct bufferevent *bev, size_t high)
{
	size_t old = bev->wm_read.high;
	size_t len = evbuffer_get_length(bufferevent_get_input(bev));

	bev->wm_read.low = 0;
	bev->wm_read.high = high;
	if (high && len >= high)
		bufferevent_suspend_read_(bev, TLSREAD_SUSPEND_WM);
	else if (old && len >= old)
		bufferevent_unsuspend_read_(bev, TLSREAD_SUSPEND_WM);
}

static int batch(struct bufferevent *bev, evbuffer_cb_func on_input)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	size_t high = bev->wm_read.high;

	if (!ssl || SSL_get_read_ahead(ssl))
		return 0;
	if (!evbuffer_add_cb(bufferevent_get_input(bev), on_input, bev))
		return -ENOMEM;
	SSL_set_read_ahead(ssl, 1);
	if (high) {
		bufferevent_setwatermark(bev, EV_READ, 0, 0); /* off: libevent's callback */
		take_watermark(bev, high);
	}
	return 0;
}

int tlsread_batch(struct bufferevent *bev)
{
	return batch(bev, on_input_changed);
}

int tlsread_batch_whole(struct bufferevent *bev)
{
	return batch(bev, on_input_taken);
}

void tlsread_watermark(struct bufferevent *bev, size_t high)
{
	if (!batched(bev)) {
		bufferevent_setwatermark(bev, EV_READ, 0, high);
		return;
	}
	if (bev->wm_read.low || bev->wm_read.high != high)
		take_watermark(bev, high);
}

/* Whether EV is added (it waits for its fd). event_pending() says so of an event that is only
 * active too (made so by kick(), or by a callback that stopped it), which nothing re-adds. */
static int event_added(const struct event *ev)
{
	return ev->ev_evcallback.evcb_flags & EVLIST_INSERTED; /* event-internal.h: ev_flags */
}

void tlsread_enable(struct bufferevent *bev, short events)
{
	if ((bufferevent_get_enabled(bev) & events) == events &&
	    (!(events & EV_READ) || event_added(&bev->ev_read)) &&
	    (!(events & EV_WRITE) || event_added(&bev->ev_write)))
		return;
	bufferevent_enable(bev, events);
}

void tlsread_resume(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	bufferevent_enable(bev, EV_READ);
	/* A close (shutdown) or failure (in init again) that take_read_ahead() met while reading
	 * was paused is libevent's to meet and report now. */
	if (batched(bev) &&
	    (SSL_has_pending(ssl) || SSL_get_shutdown(ssl) || SSL_in_init(ssl)))
		kick(bev);
}

int tlsread_holds(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl && SSL_has_pending(ssl);
}
