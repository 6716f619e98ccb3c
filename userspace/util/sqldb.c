/*
 * sqldb.c: opens aigw's SQLite databases (see sqldb.h): folders and file with our modes,
 * the check that the database is ours, its creation, WAL and an integrity check.
 */
#include "util/sqldb.h"

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

int sqldb_thread_start(pthread_t *ret, void *(*fn)(void *), void *arg, const char *name)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(ret, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!r)
		pthread_setname_np(*ret, name);
	return r;
}
