/*
 * bgthread: what a background thread (the audit writer, the state databases' writers, the
 * address refresher) asks of the scheduler: SCHED_BATCH, so that its wake-ups never preempt a
 * proxy worker that is serving a request. The thread keeps its share of the CPU (same nice
 * value, same weight); it only waits for the worker's slice to end or for an idle core
 * instead of cutting in, which is what a writer that gathers records for milliseconds can
 * afford and a request in flight cannot. Nothing here allocates.
 */
#ifndef AIGW_UTIL_BGTHREAD_H
#define AIGW_UTIL_BGTHREAD_H

#include <pthread.h>
#include <sched.h>

/* The calling thread to SCHED_BATCH; 0 or a positive errno (the thread then runs as it was:
 * only latency, never correctness, depends on it). */
static inline int bgthread_batch(void)
{
	struct sched_param p = { .sched_priority = 0 };

	return pthread_setschedparam(pthread_self(), SCHED_BATCH, &p);
}

#endif
