/*
 * ledger.c: the cost ledger of ledger.h: the schema, the one function that turns an audit
 * record into a row (ledger_put()), the writer thread that applies it to the records the
 * daemon submits, and the rebuild that applies it to the audit log's lines.
 *
 * The writer: ledger_submit() appends a copy of the text to a list under l->lock; the
 * thread takes the whole list, lets records gather for LEDGER_FLUSH_MS after its last
 * commit (unless a sync or the close wants them now) and writes them in one transaction.
 * Parsing happens on the writer thread: the event loop only copies bytes.
 */
#include "ledger/ledger.h"
#include "ledger/audit.h"
#include "util/log.h"
#include "util/sqldb.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define LEDGER_APP "aigw-ledger"
#define LEDGER_SCHEMA_VERSION 1
#define NS_PER_S 1000000000L

static const struct sqldb_spec ledger_spec = {
    .who = "ledger",
    .path_key = "ledger.path",
    .what = "cost ledger",
    .app = LEDGER_APP,
    .schema_version = LEDGER_SCHEMA_VERSION,
    .schema =
	"CREATE TABLE calls(request_id TEXT PRIMARY KEY, time TEXT NOT NULL,"
	" workload TEXT, team TEXT, cgroup TEXT, process TEXT, pid INTEGER,"
	" provider TEXT, model TEXT, served_model TEXT,"
	" input_tokens INTEGER, output_tokens INTEGER, cached_tokens INTEGER,"
	" cache_write_tokens INTEGER, reasoning_tokens INTEGER,"
	" cost_nano INTEGER, cost_reason TEXT, attempts INTEGER, status INTEGER,"
	" outcome TEXT, latency_ms REAL, stream INTEGER, fallback INTEGER);"
	"CREATE INDEX calls_time ON calls(time);"
	"CREATE INDEX calls_team ON calls(team, time);"
	"CREATE INDEX calls_workload ON calls(workload, time);"
	"CREATE INDEX calls_provider ON calls(provider, time);"
	"CREATE INDEX calls_model ON calls(model, time);"
	"CREATE TABLE shadow(id INTEGER PRIMARY KEY, time TEXT NOT NULL, action TEXT NOT NULL,"
	" service TEXT NOT NULL, server_name TEXT, workload TEXT, team TEXT, cgroup TEXT,"
	" process TEXT, pid INTEGER, reason TEXT);"
	"CREATE INDEX shadow_time ON shadow(time);"
	"CREATE INDEX shadow_workload ON shadow(workload, time);",
    .damaged_hint = "rebuild it from the audit log with `aigw ledger rebuild`",
};

/* A connection with its two writes, prepared once. */
struct ledger_db {
	sqlite3 *db;
	sqlite3_stmt *put_call, *put_shadow;
};

/* A submitted record waiting for the writer. */
struct ledger_item {
	struct ledger_item *next;
	size_t len;
	char text[];
};

struct ledger {
	struct ledger_db ldb; /* the writer's once it runs */
	char *path;
	pthread_t thread;
	bool has_thread;

	pthread_mutex_t lock;
	pthread_cond_t wake;	/* writer waits: records, a sync, stop */
	pthread_cond_t done_cv; /* sync waits: n_done moved */
	struct ledger_item *head, **tail;
	size_t n_queued;
	uint64_t n_submitted, n_done, sync_want, n_dropped;
	int err; /* first write failure since the last sync */
	bool stop;

	struct timespec last_commit; /* writer thread only; CLOCK_MONOTONIC */
};

/* ---- a record to a row ------------------------------------------------------------------- */

static const char *rec_str(const cJSON *rec, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* A whole number (tokens, nano-dollars, a status) or NULL. */
static void bind_int(sqlite3_stmt *st, int i, const cJSON *rec, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	if (cJSON_IsNumber(v))
		sqlite3_bind_int64(st, i, (sqlite3_int64)v->valuedouble);
	else
		sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, const cJSON *rec, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	if (cJSON_IsNumber(v))
		sqlite3_bind_double(st, i, v->valuedouble);
	else
		sqlite3_bind_null(st, i);
}

static void bind_bool(sqlite3_stmt *st, int i, const cJSON *rec, const char *key)
{
	sqlite3_bind_int(st, i, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, key)));
}

/* Who made the call or the connection: columns I .. I+4 are workload, team, cgroup,
 * process, pid. */
static void bind_who(sqlite3_stmt *st, int i, const cJSON *rec)
{
	bind_str(st, i, rec_str(rec, "aigw.workload"));
	bind_str(st, i + 1, rec_str(rec, "aigw.team"));
	bind_str(st, i + 2, rec_str(rec, "aigw.cgroup.path"));
	bind_str(st, i + 3, rec_str(rec, "process.executable.name"));
	bind_int(st, i + 4, rec, "process.pid");
}

static int step(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r == SQLITE_DONE ? 1 : -EIO;
}

static int put_call(struct ledger_db *d, const cJSON *rec, const char *id, const char *time)
{
	sqlite3_stmt *st = d->put_call;
	const char *served = rec_str(rec, "gen_ai.response.model");

	if (!served)
		served = rec_str(rec, "aigw.upstream.model");
	bind_str(st, 1, id);
	bind_str(st, 2, time);
	bind_who(st, 3, rec);
	bind_str(st, 8, rec_str(rec, "gen_ai.system"));
	bind_str(st, 9, rec_str(rec, "gen_ai.request.model"));
	bind_str(st, 10, served);
	bind_int(st, 11, rec, "gen_ai.usage.input_tokens");
	bind_int(st, 12, rec, "gen_ai.usage.output_tokens");
	bind_int(st, 13, rec, "aigw.usage.cached_input_tokens");
	bind_int(st, 14, rec, "aigw.usage.cache_write_tokens");
	bind_int(st, 15, rec, "aigw.usage.reasoning_tokens");
	bind_int(st, 16, rec, "aigw.cost.nano_usd");
	bind_str(st, 17, rec_str(rec, "aigw.cost.reason"));
	bind_int(st, 18, rec, "aigw.upstream.attempts");
	bind_int(st, 19, rec, "http.response.status_code");
	bind_str(st, 20, rec_str(rec, "aigw.outcome"));
	bind_real(st, 21, rec, "aigw.latency_ms");
	bind_bool(st, 22, rec, "aigw.stream");
	bind_bool(st, 23, rec, "aigw.fallback");
	return step(st);
}

static int put_shadow(struct ledger_db *d, const cJSON *rec, const char *time, bool denied,
		      const char *service)
{
	sqlite3_stmt *st = d->put_shadow;

	bind_str(st, 1, time);
	bind_str(st, 2, denied ? "denied" : "passthrough");
	bind_str(st, 3, service);
	bind_str(st, 4, rec_str(rec, "tls.client.server_name"));
	bind_who(st, 5, rec);
	bind_str(st, 10, rec_str(rec, denied ? "aigw.reason" : "aigw.disposition"));
	return step(st);
}

/* The row of record REC, if the ledger keeps it: 1 written, 0 not kept, -EIO. */
static int ledger_put(struct ledger_db *d, const cJSON *rec)
{
	const char *ev = rec_str(rec, "event.name"), *time = rec_str(rec, "time");
	const char *id = rec_str(rec, "aigw.request_id"),
		   *service = rec_str(rec, "aigw.ai_service");

	if (!ev || !time)
		return 0;
	if (!strcmp(ev, "proxy.request"))
		return id ? put_call(d, rec, id, time) : 0;
	if (service && (!strcmp(ev, "proxy.connection") || !strcmp(ev, "proxy.refused")))
		return put_shadow(d, rec, time, !strcmp(ev, "proxy.refused"), service);
	return 0;
}

static int ledger_put_text(struct ledger_db *d, const char *text, size_t len)
{
	cJSON *rec = cJSON_ParseWithLength(text, len);
	int r;

	if (!rec)
		return 0; /* not a record: the audit log's verifier says so, not the ledger */
	r = ledger_put(d, rec);
	cJSON_Delete(rec);
	return r;
}

/* ---- the database ------------------------------------------------------------------------ */

static void ledger_db_close(struct ledger_db *d)
{
	sqlite3_finalize(d->put_call);
	sqlite3_finalize(d->put_shadow);
	sqlite3_close(d->db);
	*d = (struct ledger_db){0};
}

static int ledger_db_open(const char *path, FILE *errs, struct ledger_db *d)
{
	int r = sqldb_open(path, &ledger_spec, errs, &d->db);

	if (r)
		return r;
	if (sqlite3_prepare_v3(
		d->db,
		"INSERT OR REPLACE INTO calls VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		" ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		-1, SQLITE_PREPARE_PERSISTENT, &d->put_call, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(d->db,
			       "INSERT INTO shadow(time, action, service, server_name, workload,"
			       " team, cgroup, process, pid, reason)"
			       " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, SQLITE_PREPARE_PERSISTENT, &d->put_shadow, NULL) != SQLITE_OK) {
		if (errs)
			fprintf(errs, "ledger: %s: cannot prepare the writes: %s\n", path,
				sqlite3_errmsg(d->db));
		ledger_db_close(d);
		return -EIO;
	}
	return 0;
}

int ledger_open_readonly(const char *path, FILE *errs, sqlite3 **ret)
{
	sqlite3 *db = NULL;
	char app[64] = "";

	*ret = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqldb_value(db, "SELECT value FROM meta WHERE key = 'app'", app, sizeof(app)) < 0 ||
	    strcmp(app, LEDGER_APP)) {
		if (errs)
			fprintf(errs, "ledger: %s: not an aigw ledger (%s)\n", path,
				db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -EINVAL;
	}
	*ret = db;
	return 0;
}

/* ---- the writer -------------------------------------------------------------------------- */

/* Writes the records of LIST in one transaction. */
static int ledger_commit(struct ledger *l, const struct ledger_item *list)
{
	sqlite3 *db = l->ldb.db;
	int r = 0;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		r = -EIO;
	for (const struct ledger_item *it = list; it && r >= 0; it = it->next)
		r = ledger_put_text(&l->ldb, it->text, it->len);
	if (r >= 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	log_error("ledger: %s: rows not written (`aigw ledger rebuild` restores them): %s", l->path,
		  sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}

/* With l->lock held: sleeps until there are records and either LEDGER_FLUSH_MS have passed
 * since the last commit, or a sync or the close wants them now. */
static void ledger_wait_work(struct ledger *l)
{
	struct timespec due = l->last_commit;

	due.tv_nsec += LEDGER_FLUSH_MS * 1000000L;
	due.tv_sec += due.tv_nsec / NS_PER_S;
	due.tv_nsec %= NS_PER_S;
	while (!l->stop && !l->head)
		pthread_cond_wait(&l->wake, &l->lock);
	while (!l->stop && l->sync_want <= l->n_done)
		if (pthread_cond_timedwait(&l->wake, &l->lock, &due) == ETIMEDOUT)
			break;
}

static void *ledger_writer_main(void *arg)
{
	struct ledger *l = arg;
	struct ledger_item *list, *next;
	bool stopping = false;
	uint64_t taken;
	int r;

	pthread_mutex_lock(&l->lock);
	while (!stopping) {
		ledger_wait_work(l);
		list = l->head;
		l->head = NULL;
		l->tail = &l->head;
		l->n_queued = 0;
		taken = l->n_submitted;
		stopping = l->stop;
		pthread_mutex_unlock(&l->lock);

		clock_gettime(CLOCK_MONOTONIC, &l->last_commit);
		r = list ? ledger_commit(l, list) : 0;
		for (; list; list = next) {
			next = list->next;
			free(list);
		}

		pthread_mutex_lock(&l->lock);
		l->n_done = taken;
		if (r && !l->err)
			l->err = r;
		pthread_cond_broadcast(&l->done_cv);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void ledger_free(struct ledger *l)
{
	struct ledger_item *next;

	for (struct ledger_item *it = l->head; it; it = next) {
		next = it->next;
		free(it);
	}
	ledger_db_close(&l->ldb);
	pthread_cond_destroy(&l->done_cv);
	pthread_cond_destroy(&l->wake);
	pthread_mutex_destroy(&l->lock);
	free(l->path);
	free(l);
}

int ledger_open(const char *path, FILE *errs, struct ledger **ret)
{
	pthread_condattr_t ca;
	struct ledger *l;
	int r;

	if (!path || !*path || !ret)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, &ca);
	pthread_cond_init(&l->done_cv, NULL);
	pthread_condattr_destroy(&ca);
	l->tail = &l->head;
	l->path = strdup(path);
	r = l->path ? ledger_db_open(path, errs, &l->ldb) : -ENOMEM;
	if (!r) {
		clock_gettime(CLOCK_MONOTONIC, &l->last_commit);
		r = sqldb_thread_start(&l->thread, ledger_writer_main, l, "aigw-ledger");
	}
	if (r) {
		ledger_free(l);
		return r;
	}
	l->has_thread = true;
	*ret = l;
	return 0;
}

int ledger_submit(struct ledger *l, const char *text, size_t len)
{
	struct ledger_item *it;
	uint64_t dropped = 0;

	if (!l)
		return -EINVAL;
	it = malloc(sizeof(*it) + len + 1);
	if (!it)
		return -ENOMEM;
	memcpy(it->text, text, len);
	it->text[len] = '\0';
	it->len = len;
	it->next = NULL;
	pthread_mutex_lock(&l->lock);
	if (l->n_queued >= LEDGER_MAX_QUEUED) {
		dropped = ++l->n_dropped;
		pthread_mutex_unlock(&l->lock);
		free(it);
		if ((dropped & (dropped - 1)) == 0) /* 1, 2, 4, 8 ...: never a line per record */
			log_error(
			    "ledger: %s: the writer is behind: %llu records not in the ledger "
			    "(`aigw ledger rebuild` restores them)",
			    l->path, (unsigned long long)dropped);
		return -ENOBUFS;
	}
	*l->tail = it;
	l->tail = &it->next;
	if (!l->n_queued++)
		pthread_cond_signal(&l->wake);
	l->n_submitted++;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

int ledger_sync(struct ledger *l)
{
	int r;

	if (!l)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	if (l->sync_want < l->n_submitted)
		l->sync_want = l->n_submitted;
	pthread_cond_signal(&l->wake);
	while (l->n_done < l->sync_want)
		pthread_cond_wait(&l->done_cv, &l->lock);
	r = l->err;
	l->err = 0;
	pthread_mutex_unlock(&l->lock);
	return r;
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	if (l->has_thread) {
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_cond_signal(&l->wake);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
	}
	ledger_free(l);
}

/* ---- rebuild ----------------------------------------------------------------------------- */

/* Puts the rows of every line of the file PATH; counts lines read and rows written. */
static int rebuild_file(struct ledger_db *d, const char *path, unsigned long *ret_lines,
			unsigned long *ret_rows, FILE *errs)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = 0;

	if (!f) {
		r = -errno;
		if (errs)
			fprintf(errs, "ledger rebuild: %s: %s\n", path, strerror(errno));
		return r;
	}
	while (r >= 0 && (n = getline(&line, &cap, f)) > 0) {
		(*ret_lines)++;
		r = ledger_put_text(d, line, (size_t)n);
		if (r > 0)
			(*ret_rows)++;
	}
	if (r < 0 && errs)
		fprintf(errs, "ledger rebuild: %s: %s\n", path, sqlite3_errmsg(d->db));
	free(line);
	fclose(f);
	return r < 0 ? r : 0;
}

int ledger_rebuild(const char *audit_path, const char *db_path, FILE *out, FILE *errs)
{
	struct ledger_db d = {0};
	unsigned long lines = 0, rows = 0;
	unsigned *ks = NULL;
	size_t n = 0;
	char *name;
	int r;

	r = access(audit_path, R_OK) ? -errno : audit_rotated_siblings(audit_path, &ks, &n);
	if (r < 0) {
		if (errs)
			fprintf(errs, "ledger rebuild: %s: %s\n", audit_path, strerror(-r));
		return r;
	}
	r = ledger_db_open(db_path, errs, &d);
	if (r)
		goto out;
	if (sqlite3_exec(d.db, "BEGIN IMMEDIATE; DELETE FROM calls; DELETE FROM shadow;", NULL,
			 NULL, NULL) != SQLITE_OK) {
		if (errs)
			fprintf(errs, "ledger rebuild: %s: %s\n", db_path, sqlite3_errmsg(d.db));
		r = -EIO;
		goto out;
	}
	for (size_t i = 0; i <= n && !r; i++) {
		if (i == n) {
			r = rebuild_file(&d, audit_path, &lines, &rows, errs);
			break;
		}
		if (asprintf(&name, "%s.%u", audit_path, ks[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		r = rebuild_file(&d, name, &lines, &rows, errs);
		free(name);
	}
	if (!r && sqlite3_exec(d.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		if (errs)
			fprintf(errs, "ledger rebuild: %s: %s\n", db_path, sqlite3_errmsg(d.db));
		r = -EIO;
	}
	if (r)
		sqlite3_exec(d.db, "ROLLBACK", NULL, NULL, NULL);
	else if (out)
		fprintf(out, "%s: %lu rows from %lu records of %zu file%s\n", db_path, rows, lines,
			n + 1, n ? "s" : "");
out:
	ledger_db_close(&d);
	free(ks);
	return r;
}
