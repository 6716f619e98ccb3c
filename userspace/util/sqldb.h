/*
 * sqldb: opening one of aigw's own SQLite databases (the governance state, the cost ledger)
 * the same careful way: the file created 0600 in folders created 0700, a database that is
 * not ours, of a newer schema, or damaged refused and left untouched (never replaced), WAL
 * with synchronous=NORMAL (readers never block the writer; a power loss may lose the last
 * commits, never corrupt), and a writer thread that takes no signal.
 *
 * A database is ours when its meta table says app = SPEC->app; an empty file is made ours:
 * meta (app, schema_version) and SPEC->schema, in one transaction.
 */
#ifndef AIGW_UTIL_SQLDB_H
#define AIGW_UTIL_SQLDB_H

#include <pthread.h>
#include <stddef.h>
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

/* Starts FN(ARG) on a thread named NAME with every signal blocked (signals are the event
 * loop's business). Returns 0 or -errno. */
int sqldb_thread_start(pthread_t *ret, void *(*fn)(void *), void *arg, const char *name);

#endif
