/*
 * test_tlsread.c: a TLS bufferevent with read-ahead (tlsread_batch) reads every record that
 * reached it at once, though the socket has nothing more to say: after a read, after reading
 * was disabled and resumed (tlsread_resume), and after a watermark suspension lifted by a
 * drain. libevent 2.1's OpenSSL bufferevent alone leaves such records inside OpenSSL.
 *
 * Each case: a server SSL and a client SSL over a socketpair, the handshake done by hand, the
 * server's side a bufferevent_openssl (state OPEN) on an event loop, the client's RECORDS
 * records written before the loop runs (one write each, all in the socket before the first
 * read). The loop runs until the server has every byte or a 5 s guard fires.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "proxy/tlsflush.h"
#include "proxy/tlsread.h"
#include "unit.h"

#define RECORDS 40
#define RECORD_MAX 1000

struct pair {
	struct event_base *base;
	struct bufferevent *bev; /* the server's side; owns its SSL and fd */
	SSL *server;		 /* until bev owns it */
	SSL *client;		 /* its fd closed by pair_close() */
	struct event *guard;	 /* 5 s: the loop gives up */
	struct event *later;	 /* a case's deferred step */
	size_t record;		 /* bytes in each of the client's RECORDS records */
	size_t got;		 /* bytes the server's input took in, drained or not */
	size_t high_before;	 /* a read high watermark set before read-ahead (0: none) */
	size_t most;		 /* the most bytes the server's input held at once */
	size_t high;		 /* run_case()'s watermark, whichever way it was set */
	int read_armed_over;	 /* on_drain() found the input at HIGH and the read event armed */
	int whole;		 /* run_case(): tlsread_batch_whole, not tlsread_batch */
	int timed_out;
	int step;		 /* what a case did so far */
};

static SSL_CTX *server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	if (!ctx || !key || !x)
		goto fail;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"tlsread.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	if (!X509_sign(x, key, EVP_sha256()) || !SSL_CTX_use_certificate(ctx, x) ||
	    !SSL_CTX_use_PrivateKey(ctx, key))
		goto fail;
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Both handshakes, in turns, on non-blocking sockets. */
static int handshake(SSL *server, SSL *client)
{
	int s = 0, c = 0;

	for (int i = 0; i < 1000 && !(s == 1 && c == 1); i++) {
		if (c != 1)
			c = SSL_do_handshake(client);
		if (s != 1)
			s = SSL_do_handshake(server);
		if ((c != 1 && SSL_get_error(client, c) != SSL_ERROR_WANT_READ) ||
		    (s != 1 && SSL_get_error(server, s) != SSL_ERROR_WANT_READ))
			return -EPROTO;
	}
	return s == 1 && c == 1 ? 0 : -ETIMEDOUT;
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct pair *p = arg;

	p->timed_out = 1;
	event_base_loopbreak(p->base);
}

static void count_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct pair *p = arg;

	p->got += info->n_added;
	if (evbuffer_get_length(buf) > p->most)
		p->most = evbuffer_get_length(buf);
	if (p->got == RECORDS * p->record)
		event_base_loopbreak(p->base);
}

/* The pair, handshake done, the server's bufferevent with read-ahead (BATCH), READCB on it. On
 * failure too, pair_close() frees what was made. */
static int pair_open(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx, bufferevent_data_cb readcb,
		     int (*batch)(struct bufferevent *))
{
	struct timeval five = {5, 0};
	int fd[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd))
		return -errno;
	p->server = SSL_new(sctx);
	p->client = SSL_new(cctx);
	if (!p->server || !p->client || !SSL_set_fd(p->server, fd[0]) ||
	    !SSL_set_fd(p->client, fd[1])) {
		close(fd[0]);
		close(fd[1]);
		return -ENOMEM;
	}
	SSL_set_accept_state(p->server);
	SSL_set_connect_state(p->client);
	err = handshake(p->server, p->client);
	p->base = event_base_new();
	if (err || !p->base)
		return err ? err : -ENOMEM;
	p->bev = bufferevent_openssl_socket_new(p->base, fd[0], p->server, BUFFEREVENT_SSL_OPEN,
						BEV_OPT_CLOSE_ON_FREE);
	p->server = NULL; /* libevent's now, or freed by it on failure */
	p->guard = evtimer_new(p->base, on_guard, p);
	if (p->bev && p->high_before)
		bufferevent_setwatermark(p->bev, EV_READ, 0, p->high_before);
	if (!p->bev || !p->guard || batch(p->bev))
		return -ENOMEM;
	evbuffer_add_cb(bufferevent_get_input(p->bev), count_added, p);
	bufferevent_setcb(p->bev, readcb, NULL, NULL, p);
	bufferevent_enable(p->bev, EV_READ);
	evtimer_add(p->guard, &five);
	return 0;
}

/* The client's records, all in the socket before the server reads any. */
static int send_records(struct pair *p)
{
	char rec[RECORD_MAX];

	memset(rec, 'r', sizeof(rec));
	for (int i = 0; i < RECORDS; i++)
		if (SSL_write(p->client, rec, (int)p->record) != (int)p->record)
			return -EIO;
	return 0;
}

static void pair_close(struct pair *p)
{
	int fd = p->client ? SSL_get_fd(p->client) : -1;

	if (p->server) {
		close(SSL_get_fd(p->server));
		SSL_free(p->server);
	}
	if (p->later)
		event_free(p->later);
	if (p->guard)
		event_free(p->guard);
	if (p->bev)
		bufferevent_free(p->bev);
	if (p->base) {
		event_base_loop(p->base, EVLOOP_NONBLOCK); /* the bufferevent's finalizers */
		event_base_free(p->base);
	}
	SSL_free(p->client);
	if (fd >= 0)
		close(fd);
}

/*
 * One case: the pair with READCB on the server's side, LATER as the step it may defer (NULL:
 * none) and HIGH as its read high watermark (0: none; set with tlsread_watermark() once
 * read-ahead is on, unless P->high_before set one before); records of RECORD bytes sent, the
 * loop run. The caller checks P and frees it with pair_close(), whatever this returns.
 */
static int run_case(struct pair *p, size_t record, bufferevent_data_cb readcb,
		    event_callback_fn later, size_t high)
{
	SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
	size_t high_before = p->high_before;
	int whole = p->whole, err;

	memset(p, 0, sizeof(*p));
	p->record = record;
	p->high_before = high_before;
	p->whole = whole;
	p->high = high ? high : high_before;
	err = sctx && cctx ? pair_open(p, sctx, cctx, readcb,
				       whole ? tlsread_batch_whole : tlsread_batch)
			   : -ENOMEM;

	SSL_CTX_free(sctx); /* each SSL holds its own reference */
	SSL_CTX_free(cctx);
	if (!err && later && !(p->later = evtimer_new(p->base, later, p)))
		err = -ENOMEM;
	if (!err && high)
		tlsread_watermark(p->bev, high);
	if (!err)
		err = send_records(p);
	if (!err)
		event_base_dispatch(p->base);
	return err;
}

static void drain_all(struct bufferevent *bev, void *arg)
{
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Every record, read as it came: libevent stops at SSL_pending() == 0. */
static void test_records_at_once_all_read(void)
{
	struct pair p = {0};
	int err = run_case(&p, 100, drain_all, NULL, 0);

	pair_close(&p);
	ASSERT_OK(err);
	ASSERT_EQ(p.timed_out, 0);
	ASSERT_EQ(p.got, RECORDS * p.record);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct pair *p = arg;

	tlsread_resume(p->bev);
}

/* The first read disables reading (backpressure); a later step resumes it. */
static void pause_once(struct bufferevent *bev, void *arg)
{
	struct pair *p = arg;

	drain_all(bev, arg);
	if (p->step++ == 0) {
		bufferevent_disable(bev, EV_READ);
		event_active(p->later, EV_TIMEOUT, 0);
	}
}

static void test_resumed_reading_reads_what_was_read_ahead(void)
{
	struct pair p = {0};
	int err = run_case(&p, 100, pause_once, on_resume, 0);

	pair_close(&p);
	ASSERT_OK(err);
	ASSERT_TRUE(p.step > 1); /* paused, then read again */
	ASSERT_EQ(p.timed_out, 0);
	ASSERT_EQ(p.got, RECORDS * p.record);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct pair *p = arg;

	/* Suspended reading has no read event: an armed one would fire, and read nothing, for as
	 * long as the socket holds bytes (a busy loop). */
	if (p->high && evbuffer_get_length(bufferevent_get_input(p->bev)) >= p->high &&
	    event_pending(&p->bev->ev_read, EV_READ, NULL))
		p->read_armed_over++;
	drain_all(p->bev, p);
}

/* Input past the high watermark suspends reading; a later step drains it. The watermark is
 * below a record's size: libevent leaves the rest of a record, decrypted, in OpenSSL too. */
static void drain_later(struct bufferevent *bev, void *arg)
{
	struct pair *p = arg;

	p->step++;
	event_active(p->later, EV_TIMEOUT, 0);
}

static void test_drain_under_watermark_reads_what_was_read_ahead(void)
{
	struct pair p = {0};
	int err = run_case(&p, RECORD_MAX, drain_later, on_drain, 100);

	pair_close(&p);
	ASSERT_OK(err);
	ASSERT_TRUE(p.step > 1);
	ASSERT_EQ(p.timed_out, 0);
	ASSERT_EQ(p.got, RECORDS * p.record);
}

/*
 * The watermark tlsread keeps (tlsread_watermark(), or one set before read-ahead and taken over
 * from libevent) bounds the input as libevent's did: reading stops once the input reaches it
 * (the read that crossed it may add up to a record), and resumes when a drain takes it under.
 * A hostile peer's 40 records sent at once wait in the socket and OpenSSL, not in the input.
 */
static void check_watermark_bounds_input(int whole, size_t high_before, size_t high)
{
	struct pair p = {.whole = whole, .high_before = high_before};
	int err = run_case(&p, RECORD_MAX, drain_later, on_drain, high);

	pair_close(&p);
	ASSERT_OK(err);
	ASSERT_EQ(p.timed_out, 0);
	ASSERT_EQ(p.got, RECORDS * p.record);
	ASSERT_TRUE(p.step >= RECORDS / 2); /* a few records at most between drains */
	ASSERT_TRUE(p.most <= 100 + RECORD_MAX);
	ASSERT_EQ(p.read_armed_over, 0);
}

static void test_watermark_bounds_input(void)
{
	for (int whole = 0; whole < 2; whole++) {
		check_watermark_bounds_input(whole, 0, 100);
		check_watermark_bounds_input(whole, 100, 0);
	}
}

/*
 * A provider's good record, then a forged one (or its close_notify) in the same read: the good
 * one reaches the input and the read callback first, then the event callback reports the rest
 * as before: a forgery as the error it is (BEV_EVENT_ERROR, though dirty shutdowns are allowed,
 * so that a body delimited by the close is not taken as complete), a close_notify as the EOF.
 * Reading the records read ahead at once (tlsread_batch_whole) must not change that, nor when
 * the read callback paused reading (backpressure) before the rest was met.
 */
struct tail {
	struct pair p;
	size_t read_before_event; /* input bytes the read callback saw before the event */
	int reads;		  /* read callbacks */
	int pause;		  /* the first read callback disables reading; later resumed */
	short what;		  /* the event callback's */
	unsigned long err;	  /* the bufferevent's first OpenSSL error */
	int enable;		  /* the event callback calls tlsread_enable(EV_READ) */
	int armed_before, armed_after; /* the read event, around that call */
	short enabled;		  /* bufferevent_get_enabled() before it */
};

static void tail_read(struct bufferevent *bev, void *arg)
{
	struct tail *t = arg;

	t->reads++;
	if (!t->what)
		t->read_before_event += evbuffer_get_length(bufferevent_get_input(bev));
	drain_all(bev, arg);
	if (t->pause && t->reads == 1) {
		bufferevent_disable(bev, EV_READ);
		event_active(t->p.later, EV_TIMEOUT, 0);
	}
}

static void tail_event(struct bufferevent *bev, short what, void *arg)
{
	struct tail *t = arg;

	t->what = what;
	t->err = bufferevent_get_openssl_error(bev);
	if (t->enable) {
		t->enabled = bufferevent_get_enabled(bev);
		t->armed_before = event_pending(&bev->ev_read, EV_READ, NULL);
		tlsread_enable(bev, EV_READ);
		t->armed_after = event_pending(&bev->ev_read, EV_READ, NULL);
	}
	event_base_loopbreak(t->p.base);
}

enum tail_kind { TAIL_FORGED, TAIL_CLOSE_NOTIFY, TAIL_NONE };

/* The client's 100-byte record and then its KIND of tail, all in the socket at once. */
static int send_tail(struct tail *t, enum tail_kind kind)
{
	/* application data, TLS 1.2 on the wire, 32 bytes that no key sealed */
	static const unsigned char forged[5 + 32] = {0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3};
	char rec[100];

	memset(rec, 'r', sizeof(rec));
	if (SSL_write(t->p.client, rec, sizeof(rec)) != sizeof(rec))
		return -EIO;
	if (kind == TAIL_FORGED &&
	    write(SSL_get_fd(t->p.client), forged, sizeof(forged)) != sizeof(forged))
		return -EIO;
	if (kind == TAIL_CLOSE_NOTIFY && SSL_shutdown(t->p.client) < 0)
		return -EIO;
	if (kind == TAIL_NONE && SSL_write(t->p.client, rec, sizeof(rec)) != sizeof(rec))
		return -EIO; /* a second record: a head, then a body */
	return 0;
}

/* The case, run: T's pair made with BATCH, KIND sent. The caller checks T. */
static int run_tail(struct tail *t, int (*batch)(struct bufferevent *), enum tail_kind kind)
{
	SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
	int err;

	t->p.record = 100;
	err = sctx && cctx ? pair_open(&t->p, sctx, cctx, tail_read, batch) : -ENOMEM;
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (!err && !(t->p.later = evtimer_new(t->p.base, on_resume, &t->p)))
		err = -ENOMEM;
	if (!err) {
		bufferevent_setcb(t->p.bev, tail_read, NULL, tail_event, t);
		bufferevent_openssl_set_allow_dirty_shutdown(t->p.bev, 1);
		err = send_tail(t, kind);
	}
	if (!err)
		event_base_dispatch(t->p.base);
	pair_close(&t->p);
	return err;
}

/* KIND after a record, with BATCH, the read callback pausing or not: what the event says. */
static void check_tail(int (*batch)(struct bufferevent *), enum tail_kind kind, int pause)
{
	struct tail t = {.pause = pause};
	int err = run_tail(&t, batch, kind);

	ASSERT_OK(err);
	ASSERT_EQ(t.p.timed_out, 0);
	ASSERT_EQ(t.read_before_event, t.p.record);
	if (kind == TAIL_CLOSE_NOTIFY) {
		ASSERT_EQ(t.what, BEV_EVENT_READING | BEV_EVENT_EOF);
		return;
	}
	ASSERT_EQ(t.what, BEV_EVENT_READING | BEV_EVENT_ERROR);
	if (batch == tlsread_batch) /* the whole kind's is libevent's retry's: see tlsread.h */
		ASSERT_EQ(ERR_GET_REASON(t.err), SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
}

static void test_forged_record_after_a_good_one_is_an_error(void)
{
	check_tail(tlsread_batch, TAIL_FORGED, 0);
	check_tail(tlsread_batch_whole, TAIL_FORGED, 0);
}

static void test_forged_record_met_while_paused_is_an_error_on_resume(void)
{
	check_tail(tlsread_batch_whole, TAIL_FORGED, 1);
	check_tail(tlsread_batch, TAIL_FORGED, 1);
}

static void test_close_notify_after_a_record_is_eof(void)
{
	check_tail(tlsread_batch, TAIL_CLOSE_NOTIFY, 0);
	check_tail(tlsread_batch_whole, TAIL_CLOSE_NOTIFY, 0);
	check_tail(tlsread_batch, TAIL_CLOSE_NOTIFY, 1);
	check_tail(tlsread_batch_whole, TAIL_CLOSE_NOTIFY, 1);
}

static void on_two_records(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct pair *p = arg;

	if (evbuffer_get_length(buf) == 2 * p->record)
		event_active(p->guard, EV_TIMEOUT, 0); /* stop once the callbacks ran */
}

/*
 * Records of several sizes read ahead together (a head, a body that fits behind it in the
 * input's chunk, one that does not and is taken in pieces, a last byte): every byte reaches the
 * input, in order, in the one read callback.
 */
struct pieces {
	struct pair p;
	unsigned char got[13000];
	size_t len;
	int reads;
};

static const size_t piece_sizes[] = {100, 3000, 9000, 1};

static void pieces_read(struct bufferevent *bev, void *arg)
{
	struct pieces *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	c->reads++;
	if (n > sizeof(c->got) - c->len)
		n = sizeof(c->got) - c->len;
	c->len += (size_t)evbuffer_remove(in, c->got + c->len, n);
	if (c->len == 100 + 3000 + 9000 + 1)
		event_base_loopbreak(c->p.base);
}

static void test_whole_reads_records_of_any_size_in_one_callback(void)
{
	SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
	static struct pieces c;
	unsigned char rec[9000];
	size_t at = 0;
	int err;

	memset(&c, 0, sizeof(c));
	c.p.record = RECORD_MAX; /* count_added() stops the loop at 40 of these: never */
	err = sctx && cctx ? pair_open(&c.p, sctx, cctx, NULL, tlsread_batch_whole) : -ENOMEM;
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (!err) {
		bufferevent_setcb(c.p.bev, pieces_read, NULL, NULL, &c);
		bufferevent_set_max_single_read(c.p.bev, 4096); /* as the provider's (exchange.c) */
		tlsread_watermark(c.p.bev, 256 * 1024);
	}
	for (size_t i = 0; !err && i < sizeof(piece_sizes) / sizeof(piece_sizes[0]); i++) {
		for (size_t j = 0; j < piece_sizes[i]; j++)
			rec[j] = (unsigned char)((at + j) * 7 + 1);
		at += piece_sizes[i];
		if (SSL_write(c.p.client, rec, (int)piece_sizes[i]) != (int)piece_sizes[i])
			err = -EIO;
	}
	if (!err)
		event_base_dispatch(c.p.base);
	pair_close(&c.p);
	ASSERT_OK(err);
	ASSERT_EQ(c.p.timed_out, 0);
	ASSERT_EQ(c.len, at);
	for (size_t j = 0; j < at; j++)
		if (c.got[j] != (unsigned char)(j * 7 + 1)) {
			ASSERT_EQ(c.got[j], (unsigned char)(j * 7 + 1));
			break;
		}
	ASSERT_EQ(c.reads, 1);
}

/*
 * tlsread_enable() skips what is enabled and armed, not what is enabled and stopped: after a
 * close_notify libevent has stopped reading but reading stays enabled; enabling it (as
 * bufferevent_enable() would) arms the read event again, which meets the close again and
 * reports it (a pooled connection the provider closed is dropped, not kept unwatched).
 */
static void test_enable_rearms_reading_stopped_by_a_close(void)
{
	struct tail t = {.enable = 1};
	int err = run_tail(&t, tlsread_batch_whole, TAIL_CLOSE_NOTIFY);

	ASSERT_OK(err);
	ASSERT_TRUE(t.what & BEV_EVENT_EOF);
	ASSERT_TRUE(t.enabled & EV_READ);
	ASSERT_EQ(t.armed_before, 0);
	ASSERT_TRUE(t.armed_after);
}

/*
 * An event that is active but not added is not armed: event_pending() reports it, yet once its
 * callback has run nothing waits for the socket. Reading enabled, its event stopped (as
 * libevent stops it on a close or an error), a read timeout set meanwhile (not pending: only
 * kept) and the event made active (as tlsread's kick does). Enabling adds it with its timeout:
 * libevent adds no I/O to an active event, but keeps the timeout, and re-adds both when the
 * callback has run. Skipped, the read event would wait for nothing, not even its timeout.
 */
static void test_enable_adds_an_event_only_active(void)
{
	struct event_base *base = event_base_new();
	struct timeval ten = {10, 0};
	struct bufferevent *bev = NULL;
	int fds[2] = {-1, -1}, err = -ENOMEM, waits = 0;

	if (base && !socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) &&
	    (bev = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE))) {
		fds[0] = -1;
		err = bufferevent_enable(bev, EV_READ);
	}
	if (!err) {
		event_del(&bev->ev_read);
		err = bufferevent_set_timeouts(bev, &ten, NULL);
	}
	if (!err) {
		event_active(&bev->ev_read, EV_READ, 1);
		tlsread_enable(bev, EV_READ);
		event_base_loop(base, EVLOOP_NONBLOCK); /* the active callback: nothing to read */
		waits = event_pending(&bev->ev_read, EV_READ | EV_TIMEOUT, NULL);
	}
	if (bev)
		bufferevent_free(bev);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (base)
		event_base_free(base);
	ASSERT_OK(err);
	ASSERT_EQ(waits, EV_READ | EV_TIMEOUT);
}

/* A head record and a body record in one read: one read callback for both (whole). */
static void test_whole_reads_head_and_body_in_one_callback(void)
{
	SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
	struct tail t = {0};
	int err;

	t.p.record = 100;
	err = sctx && cctx ? pair_open(&t.p, sctx, cctx, NULL, tlsread_batch_whole) : -ENOMEM;
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (!err) {
		bufferevent_setcb(t.p.bev, tail_read, NULL, tail_event, &t);
		bufferevent_setwatermark(t.p.bev, EV_READ, 0, 0);
		evbuffer_add_cb(bufferevent_get_input(t.p.bev), on_two_records, &t.p);
		err = send_tail(&t, TAIL_NONE);
	}
	if (!err)
		event_base_dispatch(t.p.base);
	pair_close(&t.p);
	ASSERT_OK(err);
	ASSERT_EQ(t.read_before_event, 2 * t.p.record);
	ASSERT_EQ(t.reads, 1);
	ASSERT_EQ(t.what, 0);
}

/*
 * tlsflush_now() (proxy/tlsflush.c) on the same pair, the other way: what the server's side
 * queued goes at once, and an error a caller left in the thread's OpenSSL queue is gone
 * before its SSL_write (it clears the queue only when something is in it), so that what a
 * failure leaves there is the failure's own.
 */
static void test_flush_clears_a_stale_error_and_sends(void)
{
	SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
	const char msg[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
	char got[sizeof(msg)] = {0};
	struct pair p = {0};
	int err = sctx && cctx ? pair_open(&p, sctx, cctx, drain_all, tlsread_batch) : -ENOMEM;
	unsigned long left = 1;
	size_t sent = 0;
	int n = -1;

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (!err) {
		evbuffer_add(bufferevent_get_output(p.bev), msg, sizeof(msg) - 1);
		ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH); /* stale, from elsewhere */
		sent = tlsflush_now(p.bev);
		left = ERR_peek_error();
		n = SSL_read(p.client, got, sizeof(got) - 1);
	}
	pair_close(&p);
	ASSERT_OK(err);
	ASSERT_EQ(sent, sizeof(msg) - 1);
	ASSERT_EQ(left, 0);
	ASSERT_EQ(n, sizeof(msg) - 1);
	ASSERT_STREQ(got, msg);
}

UNIT_MAIN(UNIT_CASE(test_records_at_once_all_read),
	  UNIT_CASE(test_resumed_reading_reads_what_was_read_ahead),
	  UNIT_CASE(test_drain_under_watermark_reads_what_was_read_ahead),
	  UNIT_CASE(test_watermark_bounds_input),
	  UNIT_CASE(test_flush_clears_a_stale_error_and_sends),
	  UNIT_CASE(test_forged_record_after_a_good_one_is_an_error),
	  UNIT_CASE(test_forged_record_met_while_paused_is_an_error_on_resume),
	  UNIT_CASE(test_close_notify_after_a_record_is_eof),
	  UNIT_CASE(test_whole_reads_head_and_body_in_one_callback),
	  UNIT_CASE(test_enable_rearms_reading_stopped_by_a_close),
	  UNIT_CASE(test_enable_adds_an_event_only_active),
	  UNIT_CASE(test_whole_reads_records_of_any_size_in_one_callback))
