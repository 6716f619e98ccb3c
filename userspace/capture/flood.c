/*
 * flood.c: the per-second table of denied attempts (flood.h). One open-addressing hash table
 * holds the keys seen in the current second; when an attempt of a later second comes (or the
 * timer ticks past it), the keys that went over the rate are recorded as aggregates and the
 * table is emptied. A table that is full never drops an attempt: the attempt is recorded on
 * its own, as if there were no rate.
 */
#include "capture/flood.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/events.h"
#include "util/timefmt.h"

#define FLOOD_SLOTS 1024 /* keys per second; a power of two */
#define FLOOD_NAME 128

struct flood_slot {
	int used;
	char workload[FLOOD_NAME];
	char comm[32];
	char reason[48];
	uint64_t attempts; /* in this second */
};

struct flood {
	flood_record_fn fn;
	void *arg;
	uint64_t second; /* CLOCK_BOOTTIME second the table counts */
	unsigned n_used;
	struct flood_slot slots[FLOOD_SLOTS];
};

int flood_new(flood_record_fn fn, void *arg, struct flood **ret_flood)
{
	struct flood *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->fn = fn;
	f->arg = arg;
	*ret_flood = f;
	return 0;
}

static uint64_t flood_hash(const char *a, const char *b, const char *c)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	const char *parts[3] = {a, b, c};

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull; /* "ab"+"c" is not "a"+"bc" */
	}
	return h;
}

/* Records the keys of the table's second that went over the rate, and empties the table. */
static void flood_flush(struct flood *f)
{
	char when[TIMEFMT_LEN];

	if (!f->n_used)
		return;
	capture_boot_ns_to_rfc3339(f->second * 1000000000, when, sizeof(when));
	for (size_t i = 0; i < FLOOD_SLOTS; i++) {
		struct flood_slot *s = &f->slots[i];
		struct jsonw *rec;

		if (!s->used)
			continue;
		if (s->attempts > FLOOD_INDIVIDUAL_PER_S && (rec = jsonw_new())) {
			jsonw_str(rec, "time", when);
			jsonw_str(rec, "event.name", "capture.denied_aggregate");
			jsonw_str(rec, "aigw.reason", s->reason);
			if (s->workload[0])
				jsonw_str(rec, "aigw.workload", s->workload);
			if (s->comm[0])
				jsonw_str(rec, "process.executable.name", s->comm);
			jsonw_num(rec, "aigw.count", (double)(s->attempts - FLOOD_INDIVIDUAL_PER_S));
			jsonw_num(rec, "aigw.recorded_individually", FLOOD_INDIVIDUAL_PER_S);
			jsonw_num(rec, "aigw.window_s", 1);
			f->fn(rec, f->arg);
		}
		s->used = 0;
	}
	f->n_used = 0;
}

int flood_admit(struct flood *f, const char *workload, const char *comm, const char *reason,
		uint64_t boot_ns)
{
	uint64_t second = boot_ns / 1000000000, h;
	struct flood_slot *s;

	/* An attempt of an earlier second (the ring buffer and the proxy are two sources) is
	 * counted in the current one: never recorded twice, never lost. */
	if (second > f->second) {
		flood_flush(f);
		f->second = second;
	}
	h = flood_hash(workload, comm, reason);
	for (unsigned probe = 0; probe < FLOOD_SLOTS; probe++) {
		s = &f->slots[(h + probe) & (FLOOD_SLOTS - 1)];
		if (!s->used) {
			if (f->n_used >= FLOOD_SLOTS / 2)
				return 1; /* full enough: no rate for new keys this second */
			s->used = 1;
			f->n_used++;
			snprintf(s->workload, sizeof(s->workload), "%s", workload);
			snprintf(s->comm, sizeof(s->comm), "%s", comm);
			snprintf(s->reason, sizeof(s->reason), "%s", reason);
			s->attempts = 0;
		} else if (strncmp(s->workload, workload, sizeof(s->workload) - 1) ||
			   strncmp(s->comm, comm, sizeof(s->comm) - 1) ||
			   strncmp(s->reason, reason, sizeof(s->reason) - 1)) {
			continue;
		}
		return ++s->attempts <= FLOOD_INDIVIDUAL_PER_S;
	}
	return 1;
}

void flood_tick(struct flood *f, uint64_t now_ns)
{
	if (now_ns / 1000000000 > f->second)
		flood_flush(f);
}

void flood_free(struct flood *f)
{
	if (!f)
		return;
	flood_flush(f);
	free(f);
}
