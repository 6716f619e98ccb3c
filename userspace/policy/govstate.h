/*
 * govstate: the counters behind the governance controls, kept in memory on the event loop
 * and persisted to SQLite (WAL) by a thread of their own, so they survive a restart and a
 * policy reload and the loop never waits for a disk.
 *
 *   buckets  token buckets keyed by a string ("rpm:WORKLOAD", "tpm:WORKLOAD"): a level that
 *            refills at a rate up to a capacity. A take may leave the level negative (a debt
 *            that later refills), so a call whose upper bound is larger than the capacity
 *            can still go when the bucket is full, and settles to its real use after.
 *   spend    nano-dollars per scope ("workload:NAME", "team:NAME") and period ("2026-12-03"
 *            for a UTC day, "2026-12" for a UTC month): what is spent (settled, persisted)
 *            and what is reserved by calls in flight (memory only: a restart ends them).
 *   inflight calls in flight per key ("conc:WORKLOAD"), memory only.
 *   held     bytes held per key ("buf:WORKLOAD"), memory only.
 *
 * Time is always the caller's (NOW_NS: CLOCK_REALTIME nanoseconds), so tests control it.
 * The proxy.workers share one state. Each function below takes the state's lock for its own
 * work, so every call is atomic on its own (a bucket's check and take are one call); a caller
 * whose decision reads and then changes in several calls (a budget's left, then its
 * reservation) holds govstate_lock() across them, as stdio's flockfile() does: the lock is
 * recursive, held briefly, never across I/O or a scan of a body. Nothing else in a request's
 * pipeline takes it. The writer thread sees only its own queue.
 * Persisted: buckets (level, time) and spend; a write is queued on each change and committed
 * within GOVSTATE_FLUSH_MS (a crash loses at most that window).
 *
 * Ownership: govstate_open() returns a state the caller frees with govstate_close(), which
 * commits what is queued first. Keys and periods are copied.
 */
#ifndef AIGW_POLICY_GOVSTATE_H
#define AIGW_POLICY_GOVSTATE_H

#include <stdint.h>
#include <stdio.h>

#define GOVSTATE_FLUSH_MS 100
#define GOVSTATE_KEY_MAX 256

struct govstate;

/*
 * Opens (creating it 0600, and its folder 0700, when missing) the SQLite database at PATH and
 * loads what it holds; NULL PATH keeps everything in memory (tests). Returns 0 and *RET, or
 * -errno with the reason written to ERRS (which may be NULL): a database that cannot be
 * opened, is not ours, or is corrupt is refused, never silently replaced (-EINVAL: not a
 * SQLite database, or not aigw's; -EPROTONOSUPPORT: a newer schema; -EIO: unreadable or
 * damaged). Spend rows of days older than 400 days and months older than 36 are dropped.
 */
int govstate_open(const char *path, FILE *errs, struct govstate **ret);

/* Commits what is queued, stops the writer and frees; NULL is fine. */
void govstate_close(struct govstate *g);

/* Blocks until every change made so far is committed (tests, shutdown). 0, or -EIO when a
 * commit failed since the last sync (the writer logged why and tries those rows again). */
int govstate_sync(struct govstate *g);

/* The state's lock (recursive; NULL G is fine), for a decision made of several calls. */
void govstate_lock(struct govstate *g);
void govstate_unlock(struct govstate *g);

/*
 * Bucket KEY with CAPACITY, refilled at RATE per second (a new key starts full). If its level
 * at NOW_NS is at least NEED, takes AMOUNT (the level may go below zero) and returns 0;
 * otherwise takes nothing, returns -EAGAIN and, if RET_WAIT_S is not NULL, the seconds until
 * the level reaches NEED (rounded up, at least 1; LONG_MAX when RATE is 0). A NEED above
 * CAPACITY counts as CAPACITY: a full bucket lets any call go. A changed CAPACITY or RATE (a
 * reload) applies from now; the level is clamped to the new capacity. Only the level and its
 * time are persisted: after a restart the first call's CAPACITY and RATE refill the bucket for
 * the time it was closed. -ENOMEM when memory runs out (nothing taken, *RET_WAIT_S unset).
 */
int govstate_bucket_take(struct govstate *g, const char *key, double capacity, double rate,
			 double need, double amount, int64_t now_ns, long *ret_wait_s);

/* Puts AMOUNT back in bucket KEY (negative: takes more), clamped to its capacity. A KEY no
 * take has made is full and left alone. */
void govstate_bucket_give(struct govstate *g, const char *key, double amount, int64_t now_ns);

/* The level of bucket KEY at NOW_NS (clamped to CAPACITY), or CAPACITY when it has none (for
 * records and tests). Changes nothing. */
double govstate_bucket_level(struct govstate *g, const char *key, double capacity, double rate,
			     int64_t now_ns);

/* Spend of SCOPE in PERIOD: *RET_SPENT settled, *RET_RESERVED in flight (nano-dollars). */
void govstate_spend_get(struct govstate *g, const char *scope, const char *period,
			int64_t *ret_spent, int64_t *ret_reserved);

/* Reserves NANO for a call in flight. */
void govstate_spend_reserve(struct govstate *g, const char *scope, const char *period,
			    int64_t nano);

/* The call that reserved RESERVED ended having cost ACTUAL: the reservation is released and
 * ACTUAL added to the spend (persisted). */
void govstate_spend_settle(struct govstate *g, const char *scope, const char *period,
			   int64_t reserved, int64_t actual);

/* Calls in flight for KEY: +1 and the new count; -1 and the new count (0 stays 0). */
unsigned govstate_inflight_add(struct govstate *g, const char *key);
unsigned govstate_inflight_sub(struct govstate *g, const char *key);
unsigned govstate_inflight(struct govstate *g, const char *key);

/* Bytes held for KEY ("buf:WORKLOAD"), memory only: + BYTES and the new total; - BYTES (not
 * below 0) and the new total; the total. */
uint64_t govstate_held_add(struct govstate *g, const char *key, uint64_t bytes);
uint64_t govstate_held_sub(struct govstate *g, const char *key, uint64_t bytes);
uint64_t govstate_held(struct govstate *g, const char *key);

/*
 * KEY's held bytes, pinned for a holder that moves them often (a connection's buffer_hold):
 * the counter stays in the map, at 0 too, while pinned, so the holder reaches it without a
 * lookup. govstate_held_pin() returns it (NULL: out of memory, or no G); each pin is undone by
 * one govstate_held_unpin(), after which the holder forgets the pointer. Pointers, not names:
 * a pinned counter is the one govstate_held_add/sub(KEY) count in, and it lives as long as G.
 */
struct govstate_held;
struct govstate_held *govstate_held_pin(struct govstate *g, const char *key);
void govstate_held_unpin(struct govstate *g, struct govstate_held *c);
/* Under govstate_lock(): moves C from OLD to NOW of its holder's bytes, as
 * govstate_held_add(NOW - OLD) or govstate_held_sub(OLD - NOW) would; the new total. */
uint64_t govstate_held_move(struct govstate_held *c, uint64_t old, uint64_t now);

/* The UTC day ("YYYY-MM-DD") and month ("YYYY-MM") of NOW_NS, and the seconds from NOW_NS
 * to the end of each (at least 1). */
void govstate_periods(int64_t now_ns, char day[11], char month[8], long *ret_day_left_s,
		      long *ret_month_left_s);

#endif
