/*
 * test_session_evbuffer.c: a kept-alive session's spare evbuffers (proxy/exchange.c
 * session_evbuffer(), session_evbuffer_put()). An ended exchange's body, reason and answer
 * buffers are drained and kept for the session's next exchange, the same buffers handed out
 * again; one that does not drain empty is freed, never kept, so no byte of one request can be
 * read in the next; the session keeps at most as many as it has places for.
 *
 * The seam: a struct session zeroed by hand (these functions read nothing of it but its
 * spares), no event loop, no connection. A buffer that cannot drain is one whose start is
 * frozen (evbuffer_freeze(buf, 1): libevent refuses to drain it).
 */
#include <event2/buffer.h>

#include "proxy/http1_int.h"
#include "unit.h"

#define SPARES (sizeof(((struct session *)0)->spare) / sizeof(struct evbuffer *))

static const char SECRET[] = "{\"messages\":\"the previous call's body\"}";

/* A buffer of S's holding the previous request's bytes. */
static struct evbuffer *used_buffer(struct session *s)
{
	struct evbuffer *buf = session_evbuffer(s);

	if (buf && evbuffer_add(buf, SECRET, sizeof(SECRET) - 1)) {
		evbuffer_free(buf);
		return NULL;
	}
	return buf;
}

/* The spare is the same buffer handed out again, empty, and takes the next request's bytes. */
static void test_spare_is_reused_empty(void)
{
	static struct session s;
	struct evbuffer *buf = used_buffer(&s), *again;

	ASSERT_TRUE(buf != NULL);
	session_evbuffer_put(&s, buf);
	ASSERT_EQ(s.n_spare, 1);
	again = session_evbuffer(&s);
	ASSERT_TRUE(again == buf);
	ASSERT_EQ(s.n_spare, 0);
	ASSERT_EQ(evbuffer_get_length(again), 0);
	ASSERT_EQ(evbuffer_add(again, "{}", 2), 0);
	ASSERT_EQ(evbuffer_get_length(again), 2);
	session_evbuffer_put(&s, again);
	session_spares_free(&s);
	ASSERT_EQ(s.n_spare, 0);
}

/* A buffer that does not drain empty is freed, not kept: the next exchange gets another. */
static void test_buffer_that_does_not_drain_is_not_kept(void)
{
	static struct session s;
	struct evbuffer *buf = used_buffer(&s), *next;

	ASSERT_TRUE(buf != NULL);
	ASSERT_EQ(evbuffer_freeze(buf, 1), 0);
	session_evbuffer_put(&s, buf);
	ASSERT_EQ(s.n_spare, 0);
	next = session_evbuffer(&s);
	ASSERT_TRUE(next != NULL);
	ASSERT_EQ(evbuffer_get_length(next), 0);
	session_evbuffer_put(&s, next);
	session_spares_free(&s);
}

/* Past its places a session keeps nothing more (the rest are freed: LeakSanitizer says if
 * one is lost); NULL is no buffer. */
static void test_spares_are_bounded(void)
{
	static struct session s;
	struct evbuffer *bufs[SPARES + 2];

	for (size_t i = 0; i < SPARES + 2; i++)
		ASSERT_TRUE((bufs[i] = used_buffer(&s)) != NULL);
	for (size_t i = 0; i < SPARES + 2; i++)
		session_evbuffer_put(&s, bufs[i]);
	session_evbuffer_put(&s, NULL);
	ASSERT_EQ(s.n_spare, SPARES);
	for (size_t i = 0; i < SPARES; i++)
		ASSERT_EQ(evbuffer_get_length(s.spare[i]), 0);
	session_spares_free(&s);
	ASSERT_EQ(s.n_spare, 0);
}

UNIT_MAIN(UNIT_CASE(test_spare_is_reused_empty),
	  UNIT_CASE(test_buffer_that_does_not_drain_is_not_kept),
	  UNIT_CASE(test_spares_are_bounded))
