/*
 * sqldb: opening one of aigw's own SQLite databases (the governance state, the cost ledger)
 * the same careful way: the file created 0600 in folders created 0700, a database that is
 * not ours, of a newer schema, or damaged refused and left untouched (never replaced), WAL
 * with synchronous=NORMAL (readers never block the writer; a power loss may lose the last
 * commits, never corrupt), and a writer thread (struct sqldb_writer) that batches the writes
 * off the event loop.
 *
 * A database is ours when its meta table says app = SPEC->app; an empty file is made ours:
 * meta (app, schema_version) and SPEC->schema, in one transaction.
 */
#ifndef AIGW_UTIL_SQLDB_H
#define AIGW_UTIL_SQLDB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>

#include <sqlite3.h>

struct sqldb_spec {
	const char *who;	  /* for messages: "govstate", "ledger" */
	const char *path_key;	  /* the policy key naming the file: "state.path" */
	const char *what;	  /* for messages: "governance state" */
	const char *app;	  /* meta.app of our databases: "aigw-govstate" */
	int schema_version;	  /* meta.schema_version */
	const char *schema;	  /* SQL creating the tables (no BEGIN/COMMIT) */
	const char *damaged_hint; /* what moving a damaged file away means, for its message */
};

/*
 * Opens PATH as SPEC describes (see above), creating it when missing. Returns 0 and *RET (the
 * caller closes it with sqlite3_close()), or -errno with the reason written to ERRS (may be
 * NULL): -EINVAL (not a SQLite database, or not ours), -EPROTONOSUPPORT (another schema
 * version), -EIO (unreadable or damaged), -ENOMEM.
 */
int sqldb_open(const char *path, const struct sqldb_spec *spec, FILE *errs, sqlite3 **ret);

/* Runs SQL, which returns at most one row of one column, into OUT (may be NULL). Returns 0,
 * 1 when there was no row, or -EIO (the message is sqlite3_errmsg()). */
int sqldb_value(sqlite3 *db, const char *sql, char *out, size_t size);

/*
 * A writer thread: the owner's event-loop side queues work under W->lock, the thread takes
 * all of it at once, lets more gather until FLUSH_MS after its last commit (unless a sync
 * or the stop wants it now) and commits it (one transaction, the owner's business) off the
 * loop. The queue itself is the owner's; the writer only counts, sleeps and wakes:
 *
 *   has_work(owner)                 W->lock held: is anything queued?
 *   take(owner)                     W->lock held: the queued work, now the thread's (may be
 *                                   NULL: nothing)
 *   commit(owner, batch)            W->lock not held: writes BATCH; 0 or -errno
 *   finish(owner, batch, r, stop)   W->lock held: BATCH written (R 0) or not (R < 0): frees
 *                                   it, or queues its rows again; STOP: the thread ends after
 *
 * The owner queues with W->lock held and then calls sqldb_writer_queued_locked(). Every
 * signal is blocked on the thread (signals are the event loop's business).
 */
struct sqldb_writer_ops {
	int (*has_work)(void *owner);
	void *(*take)(void *owner);
	int (*commit)(void *owner, void *batch);
	void (*finish)(void *owner, void *batch, int r, int stopping);
};

struct sqldb_writer {
	pthread_mutex_t lock;	/* guards the owner's queue and what follows */
	pthread_cond_t wake;	/* the thread waits: work, a sync, stop */
	pthread_cond_t done_cv; /* a sync waits: n_done moved */
	uint64_t n_queued;	/* changes ever queued */
	uint64_t n_done;	/* of those, committed (or failed, with err set) */
	uint64_t sync_want;	/* a sync waits for n_done >= this */
	int err;		/* first commit failure since the last sync */
	int stop;

	const struct sqldb_writer_ops *ops;
	void *owner;
	long flush_ms;
	pthread_t thread;
	int has_thread;
	struct timespec last_commit; /* the thread's; CLOCK_MONOTONIC */
};

/* Initialises W's lock and conditions (no thread yet: sync returns 0 at once). */
void sqldb_writer_init(struct sqldb_writer *w);

/* Starts the thread, named NAME, committing OWNER's work with OPS at most every FLUSH_MS.
 * Returns 0 or -errno. */
int sqldb_writer_start(struct sqldb_writer *w, const struct sqldb_writer_ops *ops, void *owner,
		       long flush_ms, const char *name);

/* With W->lock held, after the owner queued one change: counts it, and wakes the thread
 * when FIRST (the queue was empty; it gathers the rest on its own). */
void sqldb_writer_queued_locked(struct sqldb_writer *w, int first);

/* Blocks until every change queued so far is committed. 0, or the first commit error since
 * the last sync. */
int sqldb_writer_sync(struct sqldb_writer *w);

/* Commits what is queued, ends the thread (if it runs) and destroys the lock and conditions.
 * What is still queued after is the owner's to free. */
void sqldb_writer_stop(struct sqldb_writer *w);

#endif
