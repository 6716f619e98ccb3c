/*
 * test_workers.c: the worker threads (proxy/workers.c). START runs on each worker's thread
 * before workers_new() returns; a posted call runs on the worker it was posted to, in posting
 * order; STOP runs on the worker's own thread at workers_free(), after everything posted
 * before it; a START that fails fails the set.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "proxy/workers.h"
#include "unit.h"

#define N_CALLS 1000
#define N_MAX 3 /* workers in a test, at most */

struct seen {
	pthread_t thread[N_MAX];    /* each worker's, as START saw it */
	struct event_base *base[N_MAX];
	unsigned calls[N_MAX];	    /* posted calls that ran, by worker */
	unsigned last[N_MAX];	    /* the sequence number of the last one */
	int out_of_order, wrong_thread;
	atomic_int stopped;
	unsigned calls_at_stop[N_MAX];
	int fail_start;
};

struct call {
	struct seen *seen;
	unsigned idx, seq;
};

static int on_start(unsigned idx, struct event_base *base, void *arg)
{
	struct seen *s = arg;

	if (s->fail_start && idx == 1)
		return -EIO;
	s->thread[idx] = pthread_self();
	s->base[idx] = base;
	return 0;
}

static void on_stop(unsigned idx, void *arg)
{
	struct seen *s = arg;

	if (!pthread_equal(s->thread[idx], pthread_self()))
		s->wrong_thread = 1;
	s->calls_at_stop[idx] = s->calls[idx];
	atomic_fetch_add(&s->stopped, 1);
}

static void on_call(void *arg)
{
	struct call *c = arg;
	struct seen *s = c->seen;

	if (!pthread_equal(s->thread[c->idx], pthread_self()))
		s->wrong_thread = 1;
	if (c->seq != s->last[c->idx] + 1)
		s->out_of_order = 1;
	s->last[c->idx] = c->seq;
	s->calls[c->idx]++;
	free(c);
}

static void test_calls_run_on_their_worker_in_order(void)
{
	struct seen s = {0};
	struct workers *w;

	ASSERT_OK(workers_new(2, on_start, on_stop, &s, &w));
	ASSERT_EQ(workers_count(w), 2);
	ASSERT_TRUE(s.base[0] && s.base[1] && s.base[0] != s.base[1]);
	ASSERT_TRUE(!pthread_equal(s.thread[0], s.thread[1]));
	for (unsigned seq = 1; seq <= N_CALLS; seq++) {
		for (unsigned idx = 0; idx < 2; idx++) {
			struct call *c = malloc(sizeof(*c));

			ASSERT_TRUE(c);
			*c = (struct call){&s, idx, seq};
			ASSERT_OK(workers_post(w, idx, on_call, c));
		}
	}
	workers_free(w); /* joins: what ran is seen from here */
	ASSERT_EQ(atomic_load(&s.stopped), 2);
	ASSERT_EQ(s.calls_at_stop[0], N_CALLS); /* everything posted before the stop ran first */
	ASSERT_EQ(s.calls_at_stop[1], N_CALLS);
	ASSERT_EQ(s.out_of_order, 0);
	ASSERT_EQ(s.wrong_thread, 0);
}

static void test_round_robin(void)
{
	struct seen s = {0};
	struct workers *w;
	unsigned n[N_MAX] = {0};

	ASSERT_OK(workers_new(N_MAX, on_start, on_stop, &s, &w));
	for (int i = 0; i < 30; i++)
		n[workers_next(w)]++;
	workers_free(w);
	ASSERT_EQ(n[0], 10);
	ASSERT_EQ(n[1], 10);
	ASSERT_EQ(n[2], 10);
}

static void test_a_failed_start_fails_the_set(void)
{
	struct seen s = {.fail_start = 1};
	struct workers *w = NULL;

	ASSERT_EQ(workers_new(2, on_start, on_stop, &s, &w), -EIO);
	ASSERT_TRUE(!w);
	ASSERT_EQ(atomic_load(&s.stopped), 1); /* the one that started was stopped */
}

static void test_bounds(void)
{
	struct seen s = {0};
	struct workers *w = NULL;

	ASSERT_EQ(workers_new(0, on_start, on_stop, &s, &w), -EINVAL);
	ASSERT_EQ(workers_new(WORKERS_MAX + 1, on_start, on_stop, &s, &w), -EINVAL);
	ASSERT_TRUE(!w);
}

UNIT_MAIN(UNIT_CASE(test_calls_run_on_their_worker_in_order), UNIT_CASE(test_round_robin),
	  UNIT_CASE(test_a_failed_start_fails_the_set), UNIT_CASE(test_bounds))
