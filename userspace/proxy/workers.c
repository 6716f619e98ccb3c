/*
 * workers.c: the worker threads. Each has an event loop and a queue of posted calls that an
 * eventfd wakes; the queue is the only thing another thread touches (under the worker's
 * lock). A worker starts by running START on its thread and tells the creator how it went;
 * it ends when its queue brings the stop call, after STOP has run. Everything a worker needs
 * to stop (its stop call) is allocated at start, so workers_free() cannot fail to stop one.
 * Every step of workers_new() leaves a state workers_free() undoes exactly: a worker's lock
 * and condition exist once `inited`, its thread once `started`.
 *
 * Built with WORKERS_FAULTS (the unit test's build only), workers_fault_at = K makes the
 * K-th failable step of workers_new() fail, to check every partial state.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "proxy/workers.h"
#include "util/log.h"

struct workers_call {
	struct workers_call *next;
	void (*fn)(void *arg);
	void *arg;
};

struct worker {
	struct workers *set;
	unsigned idx;
	pthread_t thread;
	int inited;  /* lock and ready_cv were initialised (destroyed at the end) */
	int started; /* the thread was created (joined at the end) */
	struct event_base *base;
	struct event *wake;
	int efd;
	pthread_mutex_t lock; /* guards head, tail */
	struct workers_call *head, *tail;
	int start_err; /* START's answer, before ready is posted */
	int ready;
	pthread_cond_t ready_cv;
	struct workers_call *stop_call; /* owned here until workers_free() posts it */
};

struct workers {
	unsigned n;
	atomic_uint next;
	workers_start_fn start;
	workers_stop_fn stop;
	workers_stop_fn last; /* NULL: none */
	void *arg;
	struct worker w[];
};

#ifdef WORKERS_FAULTS
int workers_fault_at = -1;

static int workers_fault(void)
{
	return workers_fault_at >= 0 && workers_fault_at-- == 0;
}
#else
static inline int workers_fault(void)
{
	return 0;
}
#endif

static void worker_run_queue(evutil_socket_t fd, short what, void *arg)
{
	struct worker *wk = arg;
	struct workers_call *c;
	uint64_t n;

	if (read(wk->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("worker %u: wake: %m", wk->idx);
	pthread_mutex_lock(&wk->lock);
	c = wk->head;
	wk->head = wk->tail = NULL;
	pthread_mutex_unlock(&wk->lock);
	while (c) {
		struct workers_call *next = c->next;

		c->fn(c->arg);
		free(c);
		c = next;
	}
}

static void worker_set_ready(struct worker *wk, int err)
{
	pthread_mutex_lock(&wk->lock);
	wk->start_err = err;
	wk->ready = 1;
	pthread_cond_signal(&wk->ready_cv);
	pthread_mutex_unlock(&wk->lock);
}

/*
 * After the stop call's loopbreak: the callbacks libevent deferred in that pass, or while STOP
 * freed, have not run, and event_base_free() cancels them unrun. A bufferevent's deferred
 * callback holds a reference to it (libevent defers the write callback after each write of an
 * OpenSSL bufferevent), so a bufferevent STOP freed in such a pass was never finalized: it
 * leaked with its SSL and socket. So the loop runs on without waiting until nothing is active.
 * STOP has freed what was served: what runs is libevent's own, the deferred callbacks of what
 * STOP freed (their user callbacks gone) and evdns's replies queued by then (their evdns base
 * still there until LAST).
 */
static void worker_run_deferred(struct worker *wk)
{
	event_base_loop(wk->base, EVLOOP_NONBLOCK);
	if (wk->set->last)
		wk->set->last(wk->idx, wk->set->arg);
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct workers *set = wk->set;
	int err = set->start(wk->idx, wk->base, set->arg);

	worker_set_ready(wk, err);
	if (!err) {
		event_base_dispatch(wk->base);
		worker_run_deferred(wk);
	}
	return NULL;
}

/* The last call a worker runs: STOP, then its loop ends. */
static void worker_stop_call(void *arg)
{
	struct worker *wk = arg;

	wk->set->stop(wk->idx, wk->set->arg);
	event_base_loopbreak(wk->base);
}

static int worker_init(struct workers *set, unsigned idx)
{
	struct worker *wk = &set->w[idx];
	struct event_config *cfg;

	wk->set = set;
	wk->idx = idx;
	if (workers_fault() || pthread_mutex_init(&wk->lock, NULL))
		return -ENOMEM;
	if (workers_fault() || pthread_cond_init(&wk->ready_cv, NULL)) {
		pthread_mutex_destroy(&wk->lock);
		return -ENOMEM;
	}
	wk->inited = 1;
	wk->stop_call = workers_fault() ? NULL : malloc(sizeof(*wk->stop_call));
	cfg = workers_fault() ? NULL : event_config_new();
	if (!wk->stop_call || !cfg)
		goto nomem;
	/* One thread per loop: no locks. The changelist coalesces the epoll_ctl calls made
	 * between two waits: bufferevents add and remove their write events around every
	 * response, and most of those pairs cancel out. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	wk->base = workers_fault() ? NULL : event_base_new_with_config(cfg);
	wk->efd = workers_fault() ? -1 : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!wk->base || wk->efd < 0)
		goto nomem;
	wk->wake = workers_fault() ? NULL
				   : event_new(wk->base, wk->efd, EV_READ | EV_PERSIST,
					       worker_run_queue, wk);
	if (!wk->wake || event_add(wk->wake, NULL))
		goto nomem;
	event_config_free(cfg);
	return 0;
nomem:
	if (cfg)
		event_config_free(cfg);
	return -ENOMEM;
}

/* Starts worker IDX's thread with every signal blocked (the main loop takes them) and waits
 * for its START. */
static int worker_spawn(struct workers *set, unsigned idx)
{
	struct worker *wk = &set->w[idx];
	sigset_t all, old;
	char name[16];
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = workers_fault() ? -EAGAIN : -pthread_create(&wk->thread, NULL, worker_main, wk);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return err;
	wk->started = 1;
	snprintf(name, sizeof(name), "aigw-worker%u", idx);
	pthread_setname_np(wk->thread, name);
	pthread_mutex_lock(&wk->lock);
	while (!wk->ready)
		pthread_cond_wait(&wk->ready_cv, &wk->lock);
	err = wk->start_err;
	pthread_mutex_unlock(&wk->lock);
	if (err) {
		pthread_join(wk->thread, NULL);
		wk->started = 0;
	}
	return err;
}

int workers_new(unsigned n, workers_start_fn start, workers_stop_fn stop, workers_stop_fn last,
		void *arg, struct workers **ret)
{
	struct workers *set;
	int err = 0;

	if (!n || n > WORKERS_MAX)
		return -EINVAL;
	set = workers_fault() ? NULL : calloc(1, sizeof(*set) + n * sizeof(set->w[0]));
	if (!set)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		set->w[i].efd = -1; /* workers_free() closes only what worker_init() opened */
	set->n = n;
	set->start = start;
	set->stop = stop;
	set->last = last;
	set->arg = arg;
	for (unsigned i = 0; i < n && !err; i++)
		err = worker_init(set, i);
	for (unsigned i = 0; i < n && !err; i++)
		err = worker_spawn(set, i);
	if (err) {
		workers_free(set);
		return err;
	}
	*ret = set;
	return 0;
}

unsigned workers_count(const struct workers *w)
{
	return w->n;
}

unsigned workers_next(struct workers *w)
{
	return atomic_fetch_add_explicit(&w->next, 1, memory_order_relaxed) % w->n;
}

/* Appends C to worker IDX's queue and wakes it. */
static void worker_enqueue(struct worker *wk, struct workers_call *c)
{
	c->next = NULL;
	pthread_mutex_lock(&wk->lock);
	if (wk->tail)
		wk->tail->next = c;
	else
		wk->head = c;
	wk->tail = c;
	pthread_mutex_unlock(&wk->lock);
	if (write(wk->efd, &(uint64_t){1}, sizeof(uint64_t)) < 0 && errno != EAGAIN)
		log_error("worker %u: wake: %m", wk->idx);
}

int workers_post(struct workers *w, unsigned idx, void (*fn)(void *arg), void *arg)
{
	struct workers_call *c = workers_fault() ? NULL : malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->arg = arg;
	worker_enqueue(&w->w[idx], c);
	return 0;
}

/* Worker WK's stop call goes last in its queue; it was allocated at start. */
static void worker_post_stop(struct worker *wk)
{
	struct workers_call *c = wk->stop_call;

	wk->stop_call = NULL;
	c->fn = worker_stop_call;
	c->arg = wk;
	worker_enqueue(wk, c);
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < w->n; i++)
		if (w->w[i].started)
			worker_post_stop(&w->w[i]);
	for (unsigned i = 0; i < w->n; i++) {
		struct worker *wk = &w->w[i];

		if (wk->started)
			pthread_join(wk->thread, NULL);
		free(wk->stop_call); /* a worker that never started */
		if (wk->wake)
			event_free(wk->wake);
		if (wk->base)
			event_base_free(wk->base);
		if (wk->efd >= 0)
			close(wk->efd);
		if (wk->inited) {
			pthread_mutex_destroy(&wk->lock);
			pthread_cond_destroy(&wk->ready_cv);
		}
	}
	free(w);
}
