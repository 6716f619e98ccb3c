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
 */
#include <errno.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "proxy/tlsread.h"

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
static void on_input_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	(void)buf;
	if (!ssl || !SSL_has_pending(ssl))
		return;
	if (info->n_deleted || !SSL_pending(ssl))
		kick(bev);
}

int tlsread_batch(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (!ssl || SSL_get_read_ahead(ssl))
		return 0;
	if (!evbuffer_add_cb(bufferevent_get_input(bev), on_input_changed, bev))
		return -ENOMEM;
	SSL_set_read_ahead(ssl, 1);
	return 0;
}

void tlsread_resume(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	bufferevent_enable(bev, EV_READ);
	if (ssl && SSL_get_read_ahead(ssl) && SSL_has_pending(ssl))
		kick(bev);
}

int tlsread_holds(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl && SSL_has_pending(ssl);
}
