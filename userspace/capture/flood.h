/*
 * flood: denied attempts aggregated once past a rate, so a flood of them cannot rotate the
 * evidence away. Per (workload, process name, reason) and per second of the attempts' own
 * clock, the first FLOOD_INDIVIDUAL_PER_S attempts are recorded one by one; the rest are only
 * counted, and once their second is over a single capture.denied_aggregate record carries
 * the count. The individual records and the aggregates' counts add up to the attempts made.
 *
 * Ownership: flood_new() returns a table the caller ends with flood_free(). Not thread-safe:
 * the daemon's event loop owns it.
 */
#ifndef AIGW_CAPTURE_FLOOD_H
#define AIGW_CAPTURE_FLOOD_H

#include <stdint.h>

#include "util/jsonw.h"

#define FLOOD_INDIVIDUAL_PER_S 10

struct flood;

/* The record of one (workload, process, reason) whose attempts passed the rate in a second;
 * the callback takes REC. */
typedef void (*flood_record_fn)(struct jsonw *rec, void *arg);

int flood_new(flood_record_fn fn, void *arg, struct flood **ret_flood);
void flood_free(struct flood *f); /* NULL is fine; counts not yet recorded are recorded */

/*
 * An attempt by WORKLOAD's process COMM (either may be "" when unknown) denied for REASON at
 * BOOT_NS (CLOCK_BOOTTIME). Returns 1 when it is to be recorded on its own, 0 when it is only
 * counted. Records the aggregates of seconds that are over first.
 */
int flood_admit(struct flood *f, const char *workload, const char *comm, const char *reason,
		uint64_t boot_ns);

/* Records the aggregates of every second before NOW_NS (CLOCK_BOOTTIME): from a timer, so a
 * flood's last second is recorded even when nothing follows it. */
void flood_tick(struct flood *f, uint64_t now_ns);

#endif
