/*
 * test_workers.c: the worker threads (proxy/workers.c). START runs on each worker's thread
 * before workers_new() returns; a posted call runs on the worker it was posted to, in posting
 * order; STOP runs on the worker's own thread at workers_free(), after everything posted
 * before it; a START that fails fails the set. Built with WORKERS_FAULTS: every step of
 * workers_new() that can fail is made to fail in turn, and workers_free() must stop exactly the
 * workers that started, close only what was opened (never fd 0) and leak nothing (LeakSanitizer
 * checks at exit); stopping allocates nothing, so an allocation failure cannot hang the join.
 */
#include <errno.h>
#include <pthread.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent.h>

#include "proxy/workers.h"
#include "unit.h"

#define N_CALLS 1000
#define N_MAX 3 /* workers in a test, at most */

extern int workers_fault_at; /* proxy/workers.c, WORKERS_FAULTS only */

struct seen {
	pthread_t thread[N_MAX];    /* each worker's, as START saw it */
	struct event_base *base[N_MAX];
	unsigned calls[N_MAX];	    /* posted calls that ran, by worker */
	unsigned last[N_MAX];	    /* the sequence number of the last one */
	int out_of_order, wrong_thread;
	atomic_int started, stopped, lasted;
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
	atomic_fetch_add(&s->started, 1);
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

static void on_last(unsigned idx, void *arg)
{
	struct seen *s = arg;

	if (!pthread_equal(s->thread[idx], pthread_self()))
		s->wrong_thread = 1;
	atomic_fetch_add(&s->lasted, 1);
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

	ASSERT_OK(workers_new(2, on_start, on_stop, on_last, &s, &w));
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
	ASSERT_EQ(atomic_load(&s.lasted), 2);
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

	ASSERT_OK(workers_new(N_MAX, on_start, on_stop, NULL, &s, &w));
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

	ASSERT_EQ(workers_new(2, on_start, on_stop, on_last, &s, &w), -EIO);
	ASSERT_TRUE(!w);
	ASSERT_EQ(atomic_load(&s.stopped), 1); /* the one that started was stopped */
	ASSERT_EQ(atomic_load(&s.lasted), 1);  /* and only it ran LAST */
}

static void test_bounds(void)
{
	struct seen s = {0};
	struct workers *w = NULL;

	ASSERT_EQ(workers_new(0, on_start, on_stop, NULL, &s, &w), -EINVAL);
	ASSERT_EQ(workers_new(WORKERS_MAX + 1, on_start, on_stop, NULL, &s, &w), -EINVAL);
	ASSERT_TRUE(!w);
}

/* Open file descriptors of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Each failable step of workers_new() fails in turn (the K-th one for K = 0, 1, ...) until a
 * set is made: every failure is an error and no set, every worker whose START ran is stopped,
 * no descriptor is left open or closed that was not the set's (fd 0 is a file of ours). */
static void test_a_failure_at_any_step_undoes_exactly_what_was_done(void)
{
	struct stat st0, st1;
	int fd = open("/dev/null", O_RDONLY), fds, made = 0, steps = 0;

	ASSERT_TRUE(fd >= 0);
	if (fd != 0) { /* fd 0 is ours to watch */
		ASSERT_TRUE(dup2(fd, 0) == 0);
		close(fd);
	}
	ASSERT_OK(fstat(0, &st0));
	fds = count_fds();
	for (int k = 0; !made && k < 200; k++) {
		struct seen s = {0};
		struct workers *w = NULL;
		int err;

		workers_fault_at = k;
		err = workers_new(N_MAX, on_start, on_stop, on_last, &s, &w);
		made = workers_fault_at >= 0; /* no step was left to fail */
		workers_fault_at = -1;
		if (made) {
			ASSERT_OK(err);
			ASSERT_EQ(atomic_load(&s.started), N_MAX);
			workers_free(w);
		} else {
			steps++;
			ASSERT_TRUE(err < 0);
			ASSERT_TRUE(!w);
		}
		ASSERT_EQ(atomic_load(&s.stopped), atomic_load(&s.started));
		ASSERT_EQ(atomic_load(&s.lasted), atomic_load(&s.started));
		ASSERT_EQ(count_fds(), fds);
		ASSERT_OK(fstat(0, &st1));
		ASSERT_TRUE(st1.st_ino == st0.st_ino && st1.st_dev == st0.st_dev);
	}
	ASSERT_TRUE(made);
	ASSERT_TRUE(steps >= 4 * N_MAX); /* the hook reached every worker's steps */
}

/* Stopping needs no memory: with every allocation failing from here on, workers_free() still
 * runs each STOP and joins each thread (it hung when the stop call was allocated at stop). */
static void test_stopping_allocates_nothing(void)
{
	struct seen s = {0};
	struct workers *w;

	ASSERT_OK(workers_new(2, on_start, on_stop, NULL, &s, &w));
	workers_fault_at = 0;
	ASSERT_EQ(workers_post(w, 0, on_call, NULL), -ENOMEM); /* the hook is armed */
	workers_fault_at = 0;
	workers_free(w);
	workers_fault_at = -1;
	ASSERT_EQ(atomic_load(&s.stopped), 2);
}

/* STOP frees a bufferevent whose deferred callback is pending, as one does whose last write
 * libevent sent in the pass that brought the stop call. */
struct deferred_at_stop {
	struct event_base *base;
	int peer;	   /* the socket pair's other end, read by the test */
	int eof_at_last; /* LAST found the bufferevent's socket closed */
};

static int deferred_start(unsigned idx, struct event_base *base, void *arg)
{
	((struct deferred_at_stop *)arg)->base = base;
	return 0;
}

static void deferred_write(struct bufferevent *bev, void *arg)
{
}

static void deferred_stop(unsigned idx, void *arg)
{
	struct deferred_at_stop *t = arg;
	struct bufferevent *bev;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	t->peer = sv[1];
	bev = bufferevent_socket_new(t->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(sv[0]);
		return;
	}
	bufferevent_setcb(bev, NULL, deferred_write, NULL, NULL);
	/* the write callback deferred: until it runs, it holds a reference to BEV */
	bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
	bufferevent_free(bev);
}

static void deferred_last(unsigned idx, void *arg)
{
	struct deferred_at_stop *t = arg;
	char c;

	t->eof_at_last = t->peer >= 0 && recv(t->peer, &c, 1, MSG_DONTWAIT) == 0;
}

/* A bufferevent STOP frees is freed whole, its socket closed: a deferred callback left unrun
 * by the stop call's loopbreak held its last reference, and event_base_free() cancels such a
 * callback without running it (the proxy's TLS connections leaked with their SSL so, seen by
 * LeakSanitizer at the sanitized daemon's exit when SIGTERM met a connection's last write).
 * LAST runs after that callback: what it frees (an evdns base) such callbacks may still use. */
static void test_a_bufferevent_freed_at_stop_is_freed_whole(void)
{
	struct deferred_at_stop t = {.peer = -1};
	struct workers *w;
	char c;

	ASSERT_OK(workers_new(1, deferred_start, deferred_stop, deferred_last, &t, &w));
	workers_free(w);
	ASSERT_TRUE(t.peer >= 0);
	ASSERT_EQ(t.eof_at_last, 1);
	/* the bufferevent's end closed (BEV_OPT_CLOSE_ON_FREE): its peer reads EOF */
	ASSERT_EQ(recv(t.peer, &c, 1, MSG_DONTWAIT), 0);
	close(t.peer);
}

UNIT_MAIN(UNIT_CASE(test_calls_run_on_their_worker_in_order), UNIT_CASE(test_round_robin),
	  UNIT_CASE(test_a_failed_start_fails_the_set), UNIT_CASE(test_bounds),
	  UNIT_CASE(test_a_failure_at_any_step_undoes_exactly_what_was_done),
	  UNIT_CASE(test_stopping_allocates_nothing),
	  UNIT_CASE(test_a_bufferevent_freed_at_stop_is_freed_whole))
