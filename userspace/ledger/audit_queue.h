/*
 * audit_queue: the audit log's records on their way from audit_write*() to its writer thread,
 * and the blocks that hold them.
 *
 * A serialized record is copied into the queue's blocks when it is pushed, so the caller
 * frees its own buffer at once, in its own thread. A backlog in the writer then costs blocks
 * that leave the process (munmap) once written, beyond the few a pool keeps. Before, each
 * queued record stayed a malloc in the calling worker's heap until the writer freed it, and
 * after a backlog glibc kept that heap's high-water mark: a lasting step in the daemon's RSS
 * (make soak).
 *
 * Blocks are mmap'd, AUDIT_QBLOCK_BYTES each (more for a record that needs more). The pool
 * keeps up to AUDIT_QPOOL_KEEP of the standard size for reuse, so a steady load, whose queue
 * and batch in writing fit in them (a 5 ms batch at 13,000 calls/s is ~100 KB), faults no
 * fresh page in (12-16 us a page on the VMs we measure on). Past that each new block costs
 * its 32 pages' faults, in mmap, without the log's lock held. Mapping and unmapping are
 * system calls the audit log makes without its lock held: audit_queue_push() never maps (it
 * asks for a block with -EAGAIN, audit_qblock_map() makes one, audit_qpool_add() offers it),
 * and audit_queue_release() hands back what the pool does not keep, for
 * audit_qblocks_unmap().
 *
 * Ownership: a queue owns its blocks until audit_queue_release() gives them to a pool, which
 * owns what it keeps until audit_qpool_free(), or to the caller's list. A cJSON record pushed
 * stays the pusher's business to free (the writer does, once written). Not thread-safe: the
 * audit log guards its queue and pool with its lock, and its writer reads a queue it took out
 * without it.
 */
#ifndef AIGW_LEDGER_AUDIT_QUEUE_H
#define AIGW_LEDGER_AUDIT_QUEUE_H

#include <stddef.h>
#include <time.h>
#include <cjson/cJSON.h>

#define AUDIT_QBLOCK_BYTES (128u << 10)
#define AUDIT_QPOOL_KEEP 4u

/* One queued record: a cJSON object, or its serialized text in the queue's block. */
struct audit_entry {
	cJSON *rec;	      /* NULL for a serialized record */
	const char *text;     /* the record's bytes, in the block; NULL for a cJSON one */
	size_t text_len;
	struct timespec when; /* CLOCK_REALTIME at audit_write(): a cJSON record's default time */
};

struct audit_qblock; /* audit_queue.c */

struct audit_queue {
	struct audit_qblock *head, *tail; /* owned; records in the order pushed */
	size_t n;			  /* records */
	size_t bytes;			  /* bytes the records take in their blocks */
};

struct audit_qpool {
	struct audit_qblock *free; /* owned: blocks kept for reuse */
	unsigned n;
};

/* Where audit_queue_next() is in a queue. */
struct audit_qcursor {
	struct audit_qblock *b;
	size_t off;
};

/*
 * Appends a record to Q: REC (TEXT NULL), or a copy of the LEN bytes at TEXT (REC NULL), with
 * WHEN. Takes a block from POOL when Q's last is full. Returns 0, or -EAGAIN when POOL has no
 * block with room for it (nothing done: map one, add it to POOL, push again).
 */
int audit_queue_push(struct audit_queue *q, struct audit_qpool *pool, cJSON *rec,
		     const char *text, size_t len, const struct timespec *when);

/* A new block with room for a record of LEN bytes, its pages already faulted in, or NULL
 * (out of memory). Any thread, no lock: the caller owns it until audit_qpool_add(). */
struct audit_qblock *audit_qblock_map(size_t len);

/* POOL takes block B (kept even past AUDIT_QPOOL_KEEP: a push is about to take it). */
void audit_qpool_add(struct audit_qpool *pool, struct audit_qblock *b);

/* Points C at Q's first record. */
void audit_queue_first(const struct audit_queue *q, struct audit_qcursor *c);

/* The record at C, moving C past it, or NULL after the last. The entry and its text live
 * until the queue is released. */
struct audit_entry *audit_queue_next(struct audit_qcursor *c);

/* Empties Q: its blocks go to POOL while it keeps fewer than AUDIT_QPOOL_KEEP, the rest to
 * *EXCESS (a list the caller then unmaps). Frees no cJSON record. */
void audit_queue_release(struct audit_queue *q, struct audit_qpool *pool,
			 struct audit_qblock **excess);

/* Unmaps the blocks of list B. */
void audit_qblocks_unmap(struct audit_qblock *b);

/* Unmaps every block POOL keeps. */
void audit_qpool_free(struct audit_qpool *pool);

#endif
