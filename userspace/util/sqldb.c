/*
 * sqldb.c: opens aigw's SQLite databases (see sqldb.h): folders and file with our modes,
 * the check that the database is ours, its creation, WAL and an integrity check; and the
 * writer thread both use to commit off the event loop.
 */
#include "util/sqldb.h"
#include "util/bgthread.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SQLDB_BUSY_MS 5000 /* another process holding the database: wait this long */

/* Creates the folders of PATH that are missing, 0700: the data is nobody else's. */
static int sqldb_make_parents(const char *path, const struct sqldb_spec *spec, FILE *errs)
{
	char *dir = strdup(path);
	int r = 0;

	if (!dir)
		return -ENOMEM;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST) {
			r = -errno;
			if (errs)
				fprintf(errs, "%s: cannot create the folder %s: %s\n", spec->who,
					dir, strerror(errno));
			goto out;
		}
		*p = '/';
	}
out:
	free(dir);
	return r;
}

/* Creates PATH empty and 0600 when it is missing (SQLite would follow the umask, and gives
 * the -wal and -shm files the mode of the database). An existing file is left as it is. */
static int sqldb_create_file(const char *path, const struct sqldb_spec *spec, FILE *errs)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		if (errs)
			fprintf(errs, "%s: cannot create %s: %s\n", spec->who, path,
				strerror(errno));
		return -errno;
	}
	/* Whatever the umask took away, the owner must read and write it. */
	if (fchmod(fd, 0600) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

static void sqldb_error(sqlite3 *db, const char *path, const struct sqldb_spec *spec, FILE *errs,
			const char *what)
{
	if (errs)
		fprintf(errs, "%s: %s: %s: %s\n", spec->who, path, what, sqlite3_errmsg(db));
}

int sqldb_value(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW && out) {
		const unsigned char *v = sqlite3_column_text(st, 0);

		snprintf(out, size, "%s", v ? (const char *)v : "");
	}
	r = r == SQLITE_ROW ? 0 : r == SQLITE_DONE ? 1 : -EIO;
	sqlite3_finalize(st); /* after a failed step, keeps its message for sqlite3_errmsg() */
	return r;
}

static int sqldb_create(sqlite3 *db, const char *path, const struct sqldb_spec *spec, FILE *errs)
{
	char *sql = sqlite3_mprintf("BEGIN IMMEDIATE;"
				    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
				    "INSERT INTO meta VALUES('app', %Q);"
				    "INSERT INTO meta VALUES('schema_version', '%d');"
				    "%s"
				    "COMMIT;",
				    spec->app, spec->schema_version, spec->schema);
	int r;

	if (!sql)
		return -ENOMEM;
	r = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	if (r == SQLITE_OK)
		return 0;
	sqldb_error(db, path, spec, errs, "cannot create the tables");
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}

/* Checks that the database is ours (or empty, and then makes it ours). Reading first means
 * a file that is not a database is refused before anything is written to it. */
static int sqldb_check(sqlite3 *db, const char *path, const struct sqldb_spec *spec, FILE *errs)
{
	char tables[32], app[64] = "", version[32] = "";
	int r;

	r = sqldb_value(db, "SELECT count(*) FROM sqlite_master", tables, sizeof(tables));
	if (r < 0 && sqlite3_errcode(db) == SQLITE_NOTADB) {
		if (errs)
			fprintf(errs,
				"%s: %s: not a SQLite database; it is left untouched: move it "
				"away or set %s to another file\n",
				spec->who, path, spec->path_key);
		return -EINVAL;
	}
	if (r < 0) {
		sqldb_error(db, path, spec, errs, "cannot read it");
		return -EIO;
	}
	if (!strcmp(tables, "0"))
		return sqldb_create(db, path, spec, errs);
	r = sqldb_value(db,
			"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
			"name = 'meta'",
			tables, sizeof(tables));
	if (!r && strcmp(tables, "0")) {
		r = sqldb_value(db, "SELECT value FROM meta WHERE key = 'app'", app, sizeof(app));
		if (!r)
			r = sqldb_value(db, "SELECT value FROM meta WHERE key = 'schema_version'",
					version, sizeof(version));
	}
	if (r < 0) {
		sqldb_error(db, path, spec, errs, "cannot read its meta table");
		return -EIO;
	}
	if (strcmp(app, spec->app)) {
		if (errs)
			fprintf(errs,
				"%s: %s: a SQLite database, but not aigw's %s; it is left "
				"untouched: set %s to another file\n",
				spec->who, path, spec->what, spec->path_key);
		return -EINVAL;
	}
	if (atoi(version) != spec->schema_version) {
		if (errs)
			fprintf(
			    errs,
			    "%s: %s: schema version \"%s\", this aigw knows %d; it is left "
			    "untouched: run the aigw that wrote it, or set %s to another file\n",
			    spec->who, path, version, spec->schema_version, spec->path_key);
		return -EPROTONOSUPPORT;
	}
	return 0;
}

static int sqldb_tune(sqlite3 *db, const char *path, const struct sqldb_spec *spec, FILE *errs)
{
	char mode[16] = "";
	char ok[16] = "";

	if (sqldb_value(db, "PRAGMA journal_mode=WAL", mode, sizeof(mode)) || strcmp(mode, "wal")) {
		sqldb_error(db, path, spec, errs, "cannot switch to WAL");
		return -EIO;
	}
	if (sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		sqldb_error(db, path, spec, errs, "cannot set synchronous=NORMAL");
		return -EIO;
	}
	if (sqldb_value(db, "PRAGMA quick_check", ok, sizeof(ok)) || strcmp(ok, "ok")) {
		if (errs)
			fprintf(errs,
				"%s: %s: the database is damaged (quick_check: %s); it is left "
				"untouched: move it away and %s\n",
				spec->who, path, *ok ? ok : sqlite3_errmsg(db), spec->damaged_hint);
		return -EIO;
	}
	return 0;
}

int sqldb_open(const char *path, const struct sqldb_spec *spec, FILE *errs, sqlite3 **ret)
{
	sqlite3 *db = NULL;
	int r;

	*ret = NULL;
	r = sqldb_make_parents(path, spec, errs);
	if (!r)
		r = sqldb_create_file(path, spec, errs);
	if (r)
		return r;
	/* No SQLITE_OPEN_CREATE: the file exists now, and a vanished one is an error. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		if (errs)
			fprintf(errs, "%s: %s: cannot open: %s\n", spec->who, path,
				db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, SQLDB_BUSY_MS);
	r = sqldb_check(db, path, spec, errs);
	if (!r)
		r = sqldb_tune(db, path, spec, errs);
	if (r) {
		sqlite3_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

/* ---- the writer thread ------------------------------------------------------------------- */

#define NS_PER_S 1000000000L

/* With w->lock held: sleeps until there is work and either flush_ms have passed since the
 * last commit, or a sync or the stop wants it now. */
static void sqldb_writer_wait(struct sqldb_writer *w)
{
	struct timespec due = w->last_commit;

	due.tv_nsec += w->flush_ms * 1000000L;
	due.tv_sec += due.tv_nsec / NS_PER_S;
	due.tv_nsec %= NS_PER_S;
	while (!w->stop && !w->ops->has_work(w->owner))
		pthread_cond_wait(&w->wake, &w->lock);
	while (!w->stop && w->sync_want <= w->n_done)
		if (pthread_cond_timedwait(&w->wake, &w->lock, &due) == ETIMEDOUT)
			break;
}

static void *sqldb_writer_main(void *arg)
{
	struct sqldb_writer *w = arg;
	int stopping = 0, r;
	uint64_t taken;
	void *batch;

	bgthread_batch();
	pthread_mutex_lock(&w->lock);
	while (!stopping) {
		sqldb_writer_wait(w);
		batch = w->ops->take(w->owner);
		taken = w->n_queued;
		stopping = w->stop;
		pthread_mutex_unlock(&w->lock);

		clock_gettime(CLOCK_MONOTONIC, &w->last_commit);
		r = batch ? w->ops->commit(w->owner, batch) : 0;

		pthread_mutex_lock(&w->lock);
		if (batch)
			w->ops->finish(w->owner, batch, r, stopping);
		w->n_done = taken;
		if (r && !w->err)
			w->err = r;
		pthread_cond_broadcast(&w->done_cv);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void sqldb_writer_init(struct sqldb_writer *w)
{
	pthread_condattr_t ca;

	*w = (struct sqldb_writer){0};
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->done_cv, NULL);
	pthread_condattr_destroy(&ca);
}

int sqldb_writer_start(struct sqldb_writer *w, const struct sqldb_writer_ops *ops, void *owner,
		       long flush_ms, const char *name)
{
	sigset_t all, old;
	int r;

	w->ops = ops;
	w->owner = owner;
	w->flush_ms = flush_ms;
	clock_gettime(CLOCK_MONOTONIC, &w->last_commit);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&w->thread, NULL, sqldb_writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return r;
	pthread_setname_np(w->thread, name);
	w->has_thread = 1;
	return 0;
}

void sqldb_writer_queued_locked(struct sqldb_writer *w, int first)
{
	w->n_queued++;
	if (first)
		pthread_cond_signal(&w->wake);
}

int sqldb_writer_sync(struct sqldb_writer *w)
{
	int r;

	if (!w->has_thread)
		return 0;
	pthread_mutex_lock(&w->lock);
	if (w->sync_want < w->n_queued)
		w->sync_want = w->n_queued;
	pthread_cond_signal(&w->wake);
	while (w->n_done < w->sync_want)
		pthread_cond_wait(&w->done_cv, &w->lock);
	r = w->err;
	w->err = 0;
	pthread_mutex_unlock(&w->lock);
	return r;
}

void sqldb_writer_stop(struct sqldb_writer *w)
{
	if (w->has_thread) {
		pthread_mutex_lock(&w->lock);
		w->stop = 1;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->has_thread = 0;
	}
	pthread_cond_destroy(&w->done_cv);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
}
