/*
 * upstream.c: connect (a plain non-blocking connect with its own timeout), then the TLS
 * handshake in a bufferevent_openssl (with its own timeout), then lease; and the idle pool.
 *
 * Sessions: the client SSL_CTX keeps no internal cache; new sessions (TLS 1.3 tickets arrive
 * after the handshake) are kept per host here and set on the next connection to that host,
 * whichever worker's pool makes it: the store is one for all pools, under its lock.
 * The idle pool is a short list searched linearly: it holds at most max_idle connections.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/tlsread.h"
#include "proxy/upstream.h"
#include "util/log.h"
#include "util/netaddr.h"

#define UPSTREAM_HOST_MAX 256
#define UPSTREAM_SESSIONS 64

struct upstream_session {
	char host[UPSTREAM_HOST_MAX];
	SSL_SESSION *sess;
};

/* The sessions of every pool (one per proxy worker); the last pool freed frees them. */
static struct {
	pthread_mutex_t lock;
	struct upstream_session slot[UPSTREAM_SESSIONS];
	unsigned next; /* round-robin replacement */
	unsigned pools;
} sessions = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct upstream_pool {
	struct event_base *base;
	struct upstream_options opt;
	SSL_CTX *ctx;
	struct uconn *idle;    /* most recent first */
	unsigned n_idle;
};

/* The public part first, so a struct upstream_conn * is a struct uconn *. */
struct uconn {
	struct upstream_conn pub;
	struct upstream_pool *pool;
	char host[UPSTREAM_HOST_MAX];
	struct aigw_addr addr;
	int plain;		  /* plain HTTP (a self-hosted server's http:// base URL) */
	int fd;			  /* until the bufferevent owns it */
	struct event *connect_ev; /* TCP connect, or the deferred ready of an idle lease */
	int start_err;		  /* connect() failed at once: reported from the loop */
	upstream_ready_fn ready;
	void *arg;
	struct uconn *next_idle;
};

static int uconn_ex_index = -1;
static pthread_once_t uconn_ex_once = PTHREAD_ONCE_INIT; /* each worker makes a pool */

static void uconn_ex_index_make(void)
{
	uconn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* With sessions.lock held: HOST's slot, or NULL. */
static struct upstream_session *session_slot(const char *host)
{
	for (unsigned i = 0; i < UPSTREAM_SESSIONS; i++)
		if (sessions.slot[i].sess && !strcasecmp(sessions.slot[i].host, host))
			return &sessions.slot[i];
	return NULL;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct uconn *c = SSL_get_ex_data(ssl, uconn_ex_index);
	struct upstream_session *slot;

	if (!c)
		return 0;
	pthread_mutex_lock(&sessions.lock);
	slot = session_slot(c->host);
	if (!slot) {
		slot = &sessions.slot[sessions.next++ % UPSTREAM_SESSIONS];
		snprintf(slot->host, sizeof(slot->host), "%s", c->host);
	}
	SSL_SESSION_free(slot->sess);
	slot->sess = sess;
	pthread_mutex_unlock(&sessions.lock);
	return 1; /* we keep the reference */
}

/* The session kept for C's host, if any, set on SSL (which takes its own reference). */
static void uconn_resume_tls_session(struct uconn *c, SSL *ssl)
{
	struct upstream_session *s;

	pthread_mutex_lock(&sessions.lock);
	s = session_slot(c->host);
	if (s)
		SSL_set_session(ssl, s->sess);
	pthread_mutex_unlock(&sessions.lock);
}

static SSL_CTX *client_ctx_new(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* a pooled connection holds none */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file ? SSL_CTX_load_verify_file(ctx, ca_file) != 1
		    : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		log_error("upstream trust store %s: %s", ca_file ? ca_file : "(system)",
			  ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	/* The provider speaks HTTP/1.1 to us whatever the client offered. */
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
	return ctx;
}

int upstream_pool_new(struct event_base *base, const struct upstream_options *o,
		      struct upstream_pool **ret_pool)
{
	struct upstream_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_once(&uconn_ex_once, uconn_ex_index_make);
	p->base = base;
	p->opt = *o;
	p->ctx = client_ctx_new(o->ca_file);
	if (!p->ctx) {
		free(p);
		return -EINVAL;
	}
	pthread_mutex_lock(&sessions.lock);
	sessions.pools++;
	pthread_mutex_unlock(&sessions.lock);
	*ret_pool = p;
	return 0;
}

static void uconn_free(struct uconn *c)
{
	if (c->pub.bev) {
		SSL *ssl = c->plain ? NULL : bufferevent_openssl_get_ssl(c->pub.bev);

		if (ssl)
			SSL_set_ex_data(ssl, uconn_ex_index, NULL);
		bufferevent_free(c->pub.bev);
	} else if (c->fd >= 0) {
		close(c->fd);
	}
	if (c->connect_ev)
		event_free(c->connect_ev);
	free(c);
}

void upstream_pool_free(struct upstream_pool *p)
{
	if (!p)
		return;
	while (p->idle) {
		struct uconn *c = p->idle;

		p->idle = c->next_idle;
		uconn_free(c);
	}
	pthread_mutex_lock(&sessions.lock);
	if (!--sessions.pools) {
		for (unsigned i = 0; i < UPSTREAM_SESSIONS; i++) {
			SSL_SESSION_free(sessions.slot[i].sess);
			sessions.slot[i].sess = NULL;
		}
	}
	pthread_mutex_unlock(&sessions.lock);
	SSL_CTX_free(p->ctx);
	free(p);
}

static void fail(struct uconn *c, int err, const char *msg)
{
	upstream_ready_fn ready = c->ready;
	void *arg = c->arg;

	uconn_free(c);
	ready(NULL, err, msg, arg);
}

/* What went wrong in a handshake, in words an operator can act on. */
static void tls_error_text(struct uconn *c, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->pub.bev);
	unsigned long e = bufferevent_get_openssl_error(c->pub.bev);
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (verify != X509_V_OK)
		snprintf(buf, len, "TLS to %s: certificate verification failed: %s", c->host,
			 X509_verify_cert_error_string(verify));
	else if (e)
		snprintf(buf, len, "TLS to %s: %s", c->host, ERR_reason_error_string(e));
	else
		snprintf(buf, len, "TLS to %s: connection closed during the handshake", c->host);
	while (bufferevent_get_openssl_error(c->pub.bev))
		;
}

static void on_handshake(struct bufferevent *bev, short what, void *arg)
{
	struct uconn *c = arg;
	char msg[600];

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		c->pub.tls_resumed = SSL_session_reused(bufferevent_openssl_get_ssl(bev));
		tlsread_batch_whole(bev); /* -ENOMEM: two reads a record, as before */
		c->ready(&c->pub, 0, NULL, c->arg);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(msg, sizeof(msg), "TLS to %s: handshake timed out", c->host);
		fail(c, -ETIMEDOUT, msg);
		return;
	}
	tls_error_text(c, msg, sizeof(msg));
	fail(c, -EPROTO, msg);
}

static int tls_start(struct uconn *c)
{
	struct upstream_pool *p = c->pool;
	struct timeval tv = {p->opt.handshake_ms / 1000, (p->opt.handshake_ms % 1000) * 1000};
	SSL *ssl = SSL_new(p->ctx);

	if (!ssl)
		return -ENOMEM;
	SSL_set_tlsext_host_name(ssl, c->host);
	SSL_set1_host(ssl, c->host);
	SSL_set_ex_data(ssl, uconn_ex_index, c);
	uconn_resume_tls_session(c, ssl);
	c->pub.bev = bufferevent_openssl_socket_new(p->base, c->fd, ssl, BUFFEREVENT_SSL_CONNECTING,
						    BEV_OPT_CLOSE_ON_FREE);
	if (!c->pub.bev) /* libevent freed SSL on this error (BEV_OPT_CLOSE_ON_FREE) */
		return -ENOMEM;
	c->fd = -1;
	bufferevent_openssl_set_allow_dirty_shutdown(c->pub.bev, 1);
	bufferevent_setcb(c->pub.bev, NULL, NULL, on_handshake, c);
	bufferevent_set_timeouts(c->pub.bev, &tv, &tv);
	bufferevent_enable(c->pub.bev, EV_READ | EV_WRITE);
	return 0;
}

/* Plain HTTP: the connection is ready once it is connected. */
static int plain_start(struct uconn *c)
{
	c->pub.bev = bufferevent_socket_new(c->pool->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->pub.bev)
		return -ENOMEM;
	c->fd = -1;
	c->ready(&c->pub, 0, NULL, c->arg);
	return 0;
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct uconn *c = arg;
	char msg[600], addr[NETADDR_STRLEN];
	socklen_t len = sizeof(int);
	int err = 0;

	netaddr_format(&c->addr, addr, sizeof(addr));
	if (c->start_err) {
		snprintf(msg, sizeof(msg), "connect to %s (%s): %s", c->host, addr,
			 strerror(-c->start_err));
		fail(c, c->start_err, msg);
		return;
	}
	if (what & EV_TIMEOUT) {
		snprintf(msg, sizeof(msg), "connect to %s (%s) timed out", c->host, addr);
		fail(c, -ETIMEDOUT, msg);
		return;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (!err)
		err = c->plain ? -plain_start(c) : -tls_start(c);
	if (err) {
		snprintf(msg, sizeof(msg), "connect to %s (%s): %s", c->host, addr, strerror(err));
		fail(c, -err, msg);
	}
}

static int tcp_start(struct uconn *c)
{
	struct upstream_pool *p = c->pool;
	struct timeval tv = {p->opt.connect_ms / 1000, (p->opt.connect_ms % 1000) * 1000};
	struct sockaddr_storage ss;
	int len = netaddr_to_sockaddr(&c->addr, &ss);

	if (len < 0)
		return len;
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	/* The exempt mark: without it capture would send this connection back to us. */
	if (p->opt.mark && setsockopt(c->fd, SOL_SOCKET, SO_MARK, &p->opt.mark, sizeof(uint32_t)))
		return -errno;
	/* Requests and answers are small writes that must not wait for a delayed ACK. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	if (connect(c->fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS)
		return -errno;
	c->connect_ev = event_new(p->base, c->fd, EV_WRITE, on_connected, c);
	if (!c->connect_ev || event_add(c->connect_ev, &tv))
		return -ENOMEM;
	return 0;
}

static struct uconn *idle_take(struct upstream_pool *p, const char *host,
			       const struct aigw_addr *addr, int plain)
{
	struct uconn **pp;

	for (pp = &p->idle; *pp; pp = &(*pp)->next_idle) {
		struct uconn *c = *pp;

		if (strcasecmp(c->host, host) || memcmp(&c->addr, addr, sizeof(*addr)) ||
		    c->plain != plain)
			continue;
		*pp = c->next_idle;
		p->n_idle--;
		c->next_idle = NULL;
		/* Its timeouts stay the pool's: the lessee arms its own before the loop runs
		 * again (upstream_conn.bev); clearing them first took the read event's timer
		 * off only for the lessee to put it back, some 250 instructions a call. */
		bufferevent_setcb(c->pub.bev, NULL, NULL, NULL, NULL);
		return c;
	}
	return NULL;
}

struct upstream_conn *upstream_get(struct upstream_pool *p, const char *host,
				   const struct aigw_addr *addr, int plain, upstream_ready_fn ready,
				   void *arg, int fresh, int *ret_ready)
{
	struct uconn *c = fresh ? NULL : idle_take(p, host, addr, plain);
	int err;

	*ret_ready = 0;
	if (c) {
		/* A pooled connection is ready now: no callback, no loop iteration. */
		c->pub.reused = 1;
		c->ready = ready;
		c->arg = arg;
		*ret_ready = 1;
		return &c->pub;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->pool = p;
	c->fd = -1;
	c->ready = ready;
	c->arg = arg;
	c->addr = *addr;
	c->plain = plain;
	snprintf(c->host, sizeof(c->host), "%s", host);
	err = tcp_start(c);
	if (err) {
		/* Reported from the loop like any other failure. */
		c->start_err = err;
		if (c->connect_ev)
			event_free(c->connect_ev);
		c->connect_ev = evtimer_new(p->base, on_connected, c);
		if (!c->connect_ev) {
			uconn_free(c);
			return NULL;
		}
		event_active(c->connect_ev, EV_TIMEOUT, 0);
	}
	return &c->pub;
}

void upstream_close(struct upstream_conn *pub)
{
	if (pub)
		uconn_free((struct uconn *)pub);
}

/* Anything from an idle connection (the provider closing it, stray bytes) ends it. */
static void on_idle_event(struct bufferevent *bev, short what, void *arg)
{
	struct uconn *c = arg, **pp;
	struct upstream_pool *p = c->pool;

	for (pp = &p->idle; *pp; pp = &(*pp)->next_idle) {
		if (*pp == c) {
			*pp = c->next_idle;
			p->n_idle--;
			break;
		}
	}
	uconn_free(c);
}

static void on_idle_read(struct bufferevent *bev, void *arg)
{
	on_idle_event(bev, BEV_EVENT_ERROR, arg);
}

void upstream_put(struct upstream_conn *pub)
{
	struct uconn *c = (struct uconn *)pub;
	struct upstream_pool *p = c->pool;
	struct timeval tv = {p->opt.idle_keep_ms / 1000, (p->opt.idle_keep_ms % 1000) * 1000};

	/* Kept only when nothing is left on it either way (an early answer may have come while
	 * the request was still being written; bytes after the answer may wait in OpenSSL). */
	if (p->n_idle >= p->opt.max_idle || evbuffer_get_length(bufferevent_get_input(pub->bev)) ||
	    tlsread_holds(pub->bev) ||
	    evbuffer_get_length(bufferevent_get_output(pub->bev))) {
		uconn_free(c);
		return;
	}
	if (c->connect_ev) {
		event_free(c->connect_ev);
		c->connect_ev = NULL;
	}
	bufferevent_setcb(pub->bev, on_idle_read, NULL, on_idle_event, c);
	bufferevent_set_timeouts(pub->bev, &tv, NULL);
	tlsread_enable(pub->bev, EV_READ); /* armed, it was re-armed with TV just now */
	c->next_idle = p->idle;
	p->idle = c;
	p->n_idle++;
}
