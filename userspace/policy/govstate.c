/*
 * govstate.c: the governance counters of govstate.h: a hash of entries the proxy.workers share
 * under one lock, and a writer thread that commits changed rows to SQLite.
 *
 * How the pieces fit:
 *   gs_map           a chained hash keyed by (kind, key, period), used twice: g->map holds
 *                    the live counters (under g->lock) and g->pending the rows waiting
 *                    for the writer (under g->w.lock). A change to a persisted counter
 *                    upserts its new value into pending, so pending never holds more rows
 *                    than there are keys, however fast the loop changes them.
 *   gs_writer_ops    util/sqldb's writer thread: it waits for rows, lets them gather until
 *                    GOVSTATE_FLUSH_MS after its last commit, takes the whole of pending and
 *                    commits it in one transaction; a failed batch goes back to pending.
 *   gs_db_*          the file (opened by util/sqldb: modes, refusing what is not ours, WAL),
 *                    pruning and loading, all in govstate_open() before the writer starts;
 *                    after that the connection belongs to the writer.
 *
 * Locking: g->lock (recursive) guards map: every public function takes it for its own work,
 * so each call is atomic on its own, and a caller whose decision spans several calls holds it
 * across them (govstate.h). g->w.lock guards pending (and the writer's counters); it is taken
 * under g->lock (gs_queue), never the other way round. A NULL path runs without database or
 * thread.
 */
#include "policy/govstate.h"
#include "util/log.h"
#include "util/sqldb.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define GS_APP "aigw-govstate"
#define GS_SCHEMA_VERSION 1
#define GS_KEEP_DAYS 400    /* daily spend rows kept at open */
#define GS_KEEP_MONTHS 36   /* monthly spend rows kept at open */
#define GS_MAP_MIN_SLOTS 64 /* a power of two */
#define NS_PER_S 1000000000LL

enum gs_kind { GS_BUCKET, GS_SPEND, GS_INFLIGHT, GS_HELD };

struct gs_bucket {
	double level;
	double capacity, rate; /* as the last take gave them; unknown after a load */
	int64_t updated_ns;    /* NOW_NS the level was computed at; never moves back */
	bool has_params;       /* capacity and rate are known */
};

struct gs_spend {
	int64_t spent;	  /* settled, persisted */
	int64_t reserved; /* in flight, memory only */
};

struct gs_entry {
	struct gs_entry *next; /* in its slot's chain */
	uint64_t hash;
	enum gs_kind kind;
	unsigned pins;	    /* GS_HELD: holders keeping it in the map at 0 (govstate_held_pin) */
	const char *period; /* points into name, after the key's NUL; "" but for spend */
	union {
		struct gs_bucket b;
		struct gs_spend s;
		unsigned inflight;
		uint64_t held; /* GS_HELD: bytes */
	};
	char name[]; /* KEY NUL PERIOD NUL */
};

struct gs_map {
	struct gs_entry **slots; /* owned, with the entries chained from them */
	size_t nslots;		 /* 0 or a power of two */
	size_t count;
};

struct govstate {
	pthread_mutex_t lock; /* recursive: each public function's, and govstate_lock()'s */
	struct gs_map map; /* under lock */
	char *path;	   /* owned; NULL in memory-only mode */
	sqlite3 *db;	   /* the writer's once it runs */
	sqlite3_stmt *put_bucket, *put_spend;
	struct sqldb_writer w; /* its thread runs when there is a path */

	struct gs_map pending; /* under w.lock: rows not yet taken, newest value per key */

	/* writer thread only */
	struct gs_map batch; /* the rows it is committing */
	int last_reported;   /* last error printed, to print each failure once */
};

/* ---- the hash ---------------------------------------------------------------------------- */

/* FNV-1a: keys are short, built by the gateway from workload and team names. */
static uint64_t gs_hash(enum gs_kind kind, const char *key, const char *period)
{
	uint64_t h = 1469598103934665603ULL;

	h = (h ^ (unsigned)kind) * 1099511628211ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL; /* no byte of a string: "ab"+"c" != "a"+"bc" */
	for (const unsigned char *p = (const unsigned char *)period; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

static struct gs_entry *gs_map_find(const struct gs_map *m, enum gs_kind kind, const char *key,
				    const char *period, uint64_t h)
{
	if (!m->nslots)
		return NULL;
	for (struct gs_entry *e = m->slots[h & (m->nslots - 1)]; e; e = e->next)
		if (e->hash == h && e->kind == kind && !strcmp(e->name, key) &&
		    !strcmp(e->period, period))
			return e;
	return NULL;
}

static int gs_map_grow(struct gs_map *m)
{
	size_t n = m->nslots ? 2 * m->nslots : GS_MAP_MIN_SLOTS;
	struct gs_entry **slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->nslots; i++) {
		struct gs_entry *e = m->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = slots[e->hash & (n - 1)];
			slots[e->hash & (n - 1)] = e;
		}
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
	return 0;
}

/* The entry for (KIND, KEY, PERIOD), added zeroed when missing (*RET_NEW tells); NULL when
 * memory runs out. */
static struct gs_entry *gs_map_get(struct gs_map *m, enum gs_kind kind, const char *key,
				   const char *period, bool *ret_new)
{
	uint64_t h = gs_hash(kind, key, period);
	size_t klen = strlen(key), plen = strlen(period);
	struct gs_entry *e = gs_map_find(m, kind, key, period, h);

	*ret_new = false;
	if (e)
		return e;
	if (m->count >= m->nslots && gs_map_grow(m) < 0)
		return NULL;
	e = calloc(1, sizeof(*e) + klen + plen + 2);
	if (!e)
		return NULL;
	e->hash = h;
	e->kind = kind;
	memcpy(e->name, key, klen + 1);
	memcpy(e->name + klen + 1, period, plen + 1);
	e->period = e->name + klen + 1;
	e->next = m->slots[h & (m->nslots - 1)];
	m->slots[h & (m->nslots - 1)] = e;
	m->count++;
	*ret_new = true;
	return e;
}

static void gs_map_remove(struct gs_map *m, struct gs_entry *victim)
{
	struct gs_entry **pp = &m->slots[victim->hash & (m->nslots - 1)];

	while (*pp != victim)
		pp = &(*pp)->next;
	*pp = victim->next;
	m->count--;
	free(victim);
}

static void gs_map_clear(struct gs_map *m)
{
	for (size_t i = 0; i < m->nslots; i++) {
		struct gs_entry *e = m->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->slots);
	*m = (struct gs_map){0};
}

static struct gs_entry *gs_find(struct govstate *g, enum gs_kind kind, const char *key,
				const char *period)
{
	return gs_map_find(&g->map, kind, key, period, gs_hash(kind, key, period));
}

/* Like gs_map_get() on the live map; out of memory is logged here, once per call. */
static struct gs_entry *gs_get(struct govstate *g, enum gs_kind kind, const char *key,
			       const char *period, bool *ret_new)
{
	struct gs_entry *e = gs_map_get(&g->map, kind, key, period, ret_new);

	if (!e)
		log_error("govstate: out of memory; the counter for \"%s\" is not kept", key);
	return e;
}

/* ---- the queue to the writer ------------------------------------------------------------- */

/* Copies the persisted value of SRC (a bucket or a spend) into DST of the same key. */
static void gs_copy_value(struct gs_entry *dst, const struct gs_entry *src)
{
	if (src->kind == GS_BUCKET)
		dst->b = src->b;
	else
		dst->s = src->s;
}

/* Queues the persisted part of E (a bucket or a spend) for the writer. */
static void gs_queue(struct govstate *g, const struct gs_entry *e)
{
	struct gs_entry *p;
	bool added;

	if (!g->path)
		return;
	pthread_mutex_lock(&g->w.lock);
	p = gs_map_get(&g->pending, e->kind, e->name, e->period, &added);
	if (p) {
		gs_copy_value(p, e);
		sqldb_writer_queued_locked(&g->w, g->pending.count == 1 && added);
	} else {
		log_error("govstate: out of memory; the change of \"%s\" is not saved", e->name);
	}
	pthread_mutex_unlock(&g->w.lock);
}

/* ---- the writer thread ------------------------------------------------------------------- */

static void gs_report(struct govstate *g, int err, const char *what)
{
	if (err == g->last_reported)
		return;
	g->last_reported = err;
	if (err)
		log_error("govstate: %s: %s: %s", g->path, what, sqlite3_errmsg(g->db));
	else
		log_info("govstate: %s: saving again", g->path);
}

static int gs_put(struct govstate *g, const struct gs_entry *e)
{
	sqlite3_stmt *st = e->kind == GS_BUCKET ? g->put_bucket : g->put_spend;
	int r;

	sqlite3_bind_text(st, 1, e->name, -1, SQLITE_STATIC);
	if (e->kind == GS_BUCKET) {
		sqlite3_bind_double(st, 2, e->b.level);
		sqlite3_bind_int64(st, 3, e->b.updated_ns);
	} else {
		sqlite3_bind_text(st, 2, e->period, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, e->s.spent);
	}
	r = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r == SQLITE_DONE ? 0 : -EIO;
}

/* Writes the batch in one transaction: all of it or none. */
static int gs_commit(void *owner, void *batch_)
{
	struct govstate *g = owner;
	const struct gs_map *batch = batch_;
	int r = 0;

	if (sqlite3_exec(g->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		gs_report(g, -EIO, "cannot begin a transaction");
		return -EIO;
	}
	for (size_t i = 0; i < batch->nslots && !r; i++)
		for (const struct gs_entry *e = batch->slots[i]; e && !r; e = e->next)
			r = gs_put(g, e);
	if (!r && sqlite3_exec(g->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = -EIO;
	if (r) {
		gs_report(g, r, "cannot save the counters");
		sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	gs_report(g, 0, NULL);
	return 0;
}

/* With g->w.lock held: moves the rows of a failed BATCH back to pending, unless the loop
 * has queued a newer value for the key meanwhile. */
static void gs_requeue(struct govstate *g, struct gs_map *batch)
{
	for (size_t i = 0; i < batch->nslots; i++) {
		for (struct gs_entry *e = batch->slots[i]; e; e = e->next) {
			struct gs_entry *p;
			bool added;

			p = gs_map_get(&g->pending, e->kind, e->name, e->period, &added);
			if (p && added)
				gs_copy_value(p, e);
		}
	}
}

static int gs_has_work(void *owner)
{
	return ((struct govstate *)owner)->pending.count > 0;
}

static void *gs_take(void *owner)
{
	struct govstate *g = owner;

	g->batch = g->pending;
	g->pending = (struct gs_map){0};
	return &g->batch;
}

/* A failed batch is tried again at the next flush; at stop there is none. */
static void gs_finish(void *owner, void *batch, int r, int stopping)
{
	struct govstate *g = owner;

	if (r && !stopping)
		gs_requeue(g, batch);
	gs_map_clear(batch);
}

static const struct sqldb_writer_ops gs_writer_ops = {
    .has_work = gs_has_work,
    .take = gs_take,
    .commit = gs_commit,
    .finish = gs_finish,
};

/* ---- the database at open ---------------------------------------------------------------- */

static void gs_db_error(struct govstate *g, FILE *errs, const char *what)
{
	if (errs)
		fprintf(errs, "govstate: %s: %s: %s\n", g->path, what, sqlite3_errmsg(g->db));
}

/* Drops spend rows of days and months too old for any budget to look at again. The
 * periods are ISO dates, so they sort as strings. */
static int gs_db_prune(struct govstate *g, FILE *errs)
{
	time_t now = time(NULL), then;
	char day[11], month[8], sql[160];
	struct tm tm;

	then = now - (time_t)GS_KEEP_DAYS * 86400;
	gmtime_r(&then, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	gmtime_r(&now, &tm);
	tm.tm_mon -= GS_KEEP_MONTHS;
	tm.tm_mday = 1;
	then = timegm(&tm);
	gmtime_r(&then, &tm);
	strftime(month, sizeof(month), "%Y-%m", &tm);
	snprintf(sql, sizeof(sql),
		 "DELETE FROM spend WHERE (length(period) = 10 AND period < '%s')"
		 " OR (length(period) = 7 AND period < '%s')",
		 day, month);
	if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		gs_db_error(g, errs, "cannot prune old spend");
		return -EIO;
	}
	return 0;
}

/* Loads one row of SELECT key, level, updated_ns FROM buckets. The capacity and rate come
 * with the first take, so the level refills from updated_ns at the rate of that take. */
static int gs_load_bucket(struct govstate *g, sqlite3_stmt *st)
{
	const char *key = (const char *)sqlite3_column_text(st, 0);
	double level = sqlite3_column_double(st, 1);
	int64_t updated_ns = sqlite3_column_int64(st, 2);
	struct gs_entry *e;
	bool added;

	/* A row no aigw wrote would make the bucket's arithmetic meaningless: the bucket
	 * starts full instead. */
	if (!key || !isfinite(level) || updated_ns < 0)
		return 0;
	e = gs_map_get(&g->map, GS_BUCKET, key, "", &added);
	if (!e)
		return -ENOMEM;
	e->b = (struct gs_bucket){.level = level, .updated_ns = updated_ns};
	return 0;
}

static int gs_load_spend(struct govstate *g, sqlite3_stmt *st)
{
	const char *scope = (const char *)sqlite3_column_text(st, 0);
	const char *period = (const char *)sqlite3_column_text(st, 1);
	struct gs_entry *e;
	bool added;

	if (!scope || !period)
		return 0;
	e = gs_map_get(&g->map, GS_SPEND, scope, period, &added);
	if (!e)
		return -ENOMEM;
	e->s.spent = sqlite3_column_int64(st, 2);
	return 0;
}

static int gs_db_load(struct govstate *g, const char *sql,
		      int (*load)(struct govstate *, sqlite3_stmt *), FILE *errs)
{
	sqlite3_stmt *st;
	int r = 0, s;

	if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK) {
		gs_db_error(g, errs, "cannot read the counters");
		return -EIO;
	}
	while (!r && (s = sqlite3_step(st)) == SQLITE_ROW)
		r = load(g, st);
	if (!r && s != SQLITE_DONE) {
		r = -EIO;
		gs_db_error(g, errs, "cannot read the counters");
	}
	sqlite3_finalize(st);
	return r;
}

static int gs_db_prepare(struct govstate *g, FILE *errs)
{
	if (sqlite3_prepare_v3(g->db,
			       "INSERT OR REPLACE INTO buckets(key, level, updated_ns) "
			       "VALUES(?, ?, ?)",
			       -1, SQLITE_PREPARE_PERSISTENT, &g->put_bucket, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(g->db,
			       "INSERT OR REPLACE INTO spend(scope, period, spent_nano) "
			       "VALUES(?, ?, ?)",
			       -1, SQLITE_PREPARE_PERSISTENT, &g->put_spend, NULL) != SQLITE_OK) {
		gs_db_error(g, errs, "cannot prepare the writes");
		return -EIO;
	}
	return 0;
}

static const struct sqldb_spec gs_spec = {
    .who = "govstate",
    .path_key = "state.path",
    .what = "governance state",
    .app = GS_APP,
    .schema_version = GS_SCHEMA_VERSION,
    .schema = "CREATE TABLE buckets(key TEXT PRIMARY KEY, level REAL NOT NULL,"
	      " updated_ns INTEGER NOT NULL);"
	      "CREATE TABLE spend(scope TEXT NOT NULL, period TEXT NOT NULL,"
	      " spent_nano INTEGER NOT NULL, PRIMARY KEY(scope, period));",
    .damaged_hint = "aigw starts with fresh counters",
};

static int gs_db_open(struct govstate *g, FILE *errs)
{
	int r;

	r = sqldb_open(g->path, &gs_spec, errs, &g->db);
	if (!r)
		r = gs_db_prune(g, errs);
	if (!r)
		r = gs_db_load(g, "SELECT key, level, updated_ns FROM buckets", gs_load_bucket,
			       errs);
	if (!r)
		r = gs_db_load(g, "SELECT scope, period, spent_nano FROM spend", gs_load_spend,
			       errs);
	if (!r)
		r = gs_db_prepare(g, errs);
	return r;
}

/* ---- open, close, sync ------------------------------------------------------------------- */

static void gs_lock_init(struct govstate *g)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&g->lock, &a);
	pthread_mutexattr_destroy(&a);
}

void govstate_lock(struct govstate *g)
{
	if (g)
		pthread_mutex_lock(&g->lock);
}

void govstate_unlock(struct govstate *g)
{
	if (g)
		pthread_mutex_unlock(&g->lock);
}

static void gs_free(struct govstate *g)
{
	sqldb_writer_stop(&g->w);
	sqlite3_finalize(g->put_bucket);
	sqlite3_finalize(g->put_spend);
	sqlite3_close(g->db);
	gs_map_clear(&g->map);
	gs_map_clear(&g->pending);
	free(g->path);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

int govstate_open(const char *path, FILE *errs, struct govstate **ret)
{
	struct govstate *g;
	int r = 0;

	if (!ret || (path && !*path))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	gs_lock_init(g);
	sqldb_writer_init(&g->w);
	if (!path)
		goto out;
	g->path = strdup(path);
	if (!g->path) {
		r = -ENOMEM;
		goto out;
	}
	r = gs_db_open(g, errs);
	if (!r)
		r = sqldb_writer_start(&g->w, &gs_writer_ops, g, GOVSTATE_FLUSH_MS,
				       "aigw-govstate");
out:
	if (r) {
		gs_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

int govstate_sync(struct govstate *g)
{
	return g ? sqldb_writer_sync(&g->w) : -EINVAL;
}

void govstate_close(struct govstate *g)
{
	if (g)
		gs_free(g);
}

/* ---- buckets ----------------------------------------------------------------------------- */

/* The level of B at NOW_NS, refilled under its own capacity and rate (CAPACITY and RATE when
 * it has none yet, after a load), then clamped to CAPACITY. A clock that went back refills
 * nothing. */
static double gs_bucket_at(const struct gs_bucket *b, double capacity, double rate, int64_t now_ns)
{
	double cap = b->has_params ? b->capacity : capacity;
	double r = b->has_params ? b->rate : rate;
	double level = b->level;
	int64_t dt;

	if (now_ns > b->updated_ns && level < cap && r > 0) {
		if (__builtin_sub_overflow(now_ns, b->updated_ns, &dt))
			level = cap; /* centuries: full whatever the rate */
		else
			level += r * ((double)dt / (double)NS_PER_S);
		if (level > cap)
			level = cap;
	}
	return level < capacity ? level : capacity;
}

/* Brings B to NOW_NS under CAPACITY and RATE: the old ones apply up to now, the new from now. */
static void gs_bucket_advance(struct gs_bucket *b, double capacity, double rate, int64_t now_ns)
{
	b->level = gs_bucket_at(b, capacity, rate, now_ns);
	b->capacity = capacity;
	b->rate = rate;
	b->has_params = true;
	if (now_ns > b->updated_ns)
		b->updated_ns = now_ns;
}

/* Seconds until LEVEL reaches NEED at RATE, rounded up, at least 1; LONG_MAX for never. */
static long gs_bucket_wait(double level, double need, double rate)
{
	double s;

	if (!(rate > 0))
		return LONG_MAX;
	s = ceil((need - level) / rate);
	if (!(s < (double)LONG_MAX))
		return LONG_MAX;
	return s < 1 ? 1 : (long)s;
}

int govstate_bucket_take(struct govstate *g, const char *key, double capacity, double rate,
			 double need, double amount, int64_t now_ns, long *ret_wait_s)
{
	struct gs_entry *e;
	bool added;

	int r = 0;

	if (!g || !key)
		return -EINVAL;
	/* The check and the take are one step under the lock: N+1 callers on as many threads
	 * never all see room for N. */
	govstate_lock(g);
	e = gs_get(g, GS_BUCKET, key, "", &added);
	if (!e) {
		r = -ENOMEM;
		goto out;
	}
	if (added)
		e->b = (struct gs_bucket){.level = capacity, .updated_ns = now_ns};
	gs_bucket_advance(&e->b, capacity, rate, now_ns);
	/* A level never rises above the capacity, so a larger NEED asks for a full bucket. */
	if (need > capacity)
		need = capacity;
	/* The tolerance lets the level that the returned wait promises pass despite rounding
	 * in rate * elapsed. */
	if (e->b.level < need - 1e-9 * fmax(1.0, fabs(need))) {
		if (ret_wait_s)
			*ret_wait_s = gs_bucket_wait(e->b.level, need, rate);
		r = -EAGAIN;
		goto out;
	}
	e->b.level -= amount;
	if (e->b.level > capacity)
		e->b.level = capacity;
	gs_queue(g, e);
out:
	govstate_unlock(g);
	return r;
}

void govstate_bucket_give(struct govstate *g, const char *key, double amount, int64_t now_ns)
{
	struct gs_entry *e;

	if (!g || !key)
		return;
	govstate_lock(g);
	/* A bucket never taken from is full: there is nothing to put back. */
	e = gs_find(g, GS_BUCKET, key, "");
	if (e) {
		if (e->b.has_params)
			gs_bucket_advance(&e->b, e->b.capacity, e->b.rate, now_ns);
		e->b.level += amount;
		if (e->b.has_params && e->b.level > e->b.capacity)
			e->b.level = e->b.capacity;
		gs_queue(g, e);
	}
	govstate_unlock(g);
}

double govstate_bucket_level(struct govstate *g, const char *key, double capacity, double rate,
			     int64_t now_ns)
{
	const struct gs_entry *e;
	double level = capacity;

	if (!g || !key)
		return level;
	govstate_lock(g);
	e = gs_find(g, GS_BUCKET, key, "");
	if (e)
		level = gs_bucket_at(&e->b, capacity, rate, now_ns);
	govstate_unlock(g);
	return level;
}

/* ---- spend ------------------------------------------------------------------------------- */

static int64_t gs_add_sat(int64_t a, int64_t b)
{
	int64_t s;

	if (!__builtin_add_overflow(a, b, &s))
		return s;
	return b > 0 ? INT64_MAX : INT64_MIN;
}

static int64_t gs_sub_sat(int64_t a, int64_t b)
{
	int64_t s;

	if (!__builtin_sub_overflow(a, b, &s))
		return s;
	return b < 0 ? INT64_MAX : INT64_MIN;
}

void govstate_spend_get(struct govstate *g, const char *scope, const char *period,
			int64_t *ret_spent, int64_t *ret_reserved)
{
	struct gs_spend s = {0};
	const struct gs_entry *e;

	if (g && scope && period) {
		govstate_lock(g);
		e = gs_find(g, GS_SPEND, scope, period);
		if (e)
			s = e->s;
		govstate_unlock(g);
	}
	if (ret_spent)
		*ret_spent = s.spent;
	if (ret_reserved)
		*ret_reserved = s.reserved;
}

void govstate_spend_reserve(struct govstate *g, const char *scope, const char *period, int64_t nano)
{
	struct gs_entry *e;
	bool added;

	if (!g || !scope || !period)
		return;
	govstate_lock(g);
	e = gs_get(g, GS_SPEND, scope, period, &added);
	if (e)
		e->s.reserved = gs_add_sat(e->s.reserved, nano);
	govstate_unlock(g);
}

void govstate_spend_settle(struct govstate *g, const char *scope, const char *period,
			   int64_t reserved, int64_t actual)
{
	struct gs_entry *e;
	bool added;

	if (!g || !scope || !period)
		return;
	govstate_lock(g);
	e = gs_get(g, GS_SPEND, scope, period, &added);
	if (e) {
		e->s.reserved = gs_sub_sat(e->s.reserved, reserved);
		if (e->s.reserved < 0)
			e->s.reserved = 0;
		e->s.spent = gs_add_sat(e->s.spent, actual);
		gs_queue(g, e);
	}
	govstate_unlock(g);
}

/* ---- inflight and held ------------------------------------------------------------------ */

unsigned govstate_inflight_add(struct govstate *g, const char *key)
{
	struct gs_entry *e;
	unsigned n = 0;
	bool added;

	if (!g || !key)
		return 0;
	govstate_lock(g);
	e = gs_get(g, GS_INFLIGHT, key, "", &added);
	if (e) {
		if (e->inflight < UINT_MAX)
			e->inflight++;
		n = e->inflight;
	}
	govstate_unlock(g);
	return n;
}

unsigned govstate_inflight_sub(struct govstate *g, const char *key)
{
	struct gs_entry *e;
	unsigned n = 0;

	if (!g || !key)
		return 0;
	govstate_lock(g);
	e = gs_find(g, GS_INFLIGHT, key, "");
	if (e && e->inflight > 1)
		n = --e->inflight;
	else if (e) /* idle keys go, so the map holds only the workloads with calls in flight */
		gs_map_remove(&g->map, e);
	govstate_unlock(g);
	return n;
}

/* The count of KEY of KIND (GS_INFLIGHT, GS_HELD), 0 when it has none. */
static uint64_t gs_count(struct govstate *g, enum gs_kind kind, const char *key)
{
	const struct gs_entry *e;
	uint64_t n = 0;

	if (!g || !key)
		return 0;
	govstate_lock(g);
	e = gs_find(g, kind, key, "");
	if (e)
		n = kind == GS_HELD ? e->held : e->inflight;
	govstate_unlock(g);
	return n;
}

unsigned govstate_inflight(struct govstate *g, const char *key)
{
	return (unsigned)gs_count(g, GS_INFLIGHT, key);
}

/* + BYTES to held entry E, at most UINT64_MAX; the new total. */
static uint64_t held_give(struct gs_entry *e, uint64_t bytes)
{
	e->held = e->held > UINT64_MAX - bytes ? UINT64_MAX : e->held + bytes;
	return e->held;
}

/* - BYTES from held entry E, not below 0; the new total. At 0, as inflight, only what is held
 * stays in the map: E leaves it (G's) unless a holder pinned it (G NULL: one did). */
static uint64_t held_take(struct govstate *g, struct gs_entry *e, uint64_t bytes)
{
	if (e->held > bytes)
		return e->held -= bytes;
	e->held = 0;
	if (!e->pins && g)
		gs_map_remove(&g->map, e);
	return 0;
}

uint64_t govstate_held_add(struct govstate *g, const char *key, uint64_t bytes)
{
	struct gs_entry *e;
	uint64_t n = 0;
	bool added;

	if (!g || !key)
		return 0;
	govstate_lock(g);
	e = gs_get(g, GS_HELD, key, "", &added);
	if (e)
		n = held_give(e, bytes);
	govstate_unlock(g);
	return n;
}

uint64_t govstate_held_sub(struct govstate *g, const char *key, uint64_t bytes)
{
	struct gs_entry *e;
	uint64_t n = 0;

	if (!g || !key)
		return 0;
	govstate_lock(g);
	e = gs_find(g, GS_HELD, key, "");
	if (e)
		n = held_take(g, e, bytes);
	govstate_unlock(g);
	return n;
}

struct govstate_held *govstate_held_pin(struct govstate *g, const char *key)
{
	struct gs_entry *e;
	bool added;

	if (!g || !key)
		return NULL;
	govstate_lock(g);
	e = gs_get(g, GS_HELD, key, "", &added);
	if (e)
		e->pins++;
	govstate_unlock(g);
	return (struct govstate_held *)e;
}

uint64_t govstate_held_move(struct govstate_held *c, uint64_t old, uint64_t now)
{
	struct gs_entry *e = (struct gs_entry *)c;

	if (now >= old)
		return held_give(e, now - old);
	return held_take(NULL, e, old - now);
}

void govstate_held_unpin(struct govstate *g, struct govstate_held *c)
{
	struct gs_entry *e = (struct gs_entry *)c;

	if (!g || !e)
		return;
	govstate_lock(g);
	if (!--e->pins && !e->held)
		gs_map_remove(&g->map, e);
	govstate_unlock(g);
}

uint64_t govstate_held(struct govstate *g, const char *key)
{
	return gs_count(g, GS_HELD, key);
}

/* ---- periods ----------------------------------------------------------------------------- */

/* The periods of the day last asked about: every call of a day asks the same (the event
 * loop's thread; other threads compute their own). */
static __thread struct {
	time_t day_start, day_end, month_end;
	char day[11], month[8];
} periods_cache;

void govstate_periods(int64_t now_ns, char day[11], char month[8], long *ret_day_left_s,
		      long *ret_month_left_s)
{
	/* Floor, not truncation: a time before 1970 belongs to the second that began before it. */
	time_t s = (time_t)(now_ns / NS_PER_S - (now_ns % NS_PER_S < 0));
	struct tm tm, next;

	if (s >= periods_cache.day_start && s < periods_cache.day_end) {
		memcpy(day, periods_cache.day, 11);
		memcpy(month, periods_cache.month, 8);
		if (ret_day_left_s)
			*ret_day_left_s = (long)(periods_cache.day_end - s);
		if (ret_month_left_s)
			*ret_month_left_s = (long)(periods_cache.month_end - s);
		return;
	}

	gmtime_r(&s, &tm);
	if (!strftime(day, 11, "%Y-%m-%d", &tm))
		day[0] = '\0';
	if (!strftime(month, 8, "%Y-%m", &tm))
		month[0] = '\0';
	/* The end of a period is a whole second, so the seconds left from any moment within
	 * second S, rounded up, are END - S: at least 1. */
	next = (struct tm){.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday + 1};
	if (ret_day_left_s)
		*ret_day_left_s = (long)(timegm(&next) - s);
	next = (struct tm){.tm_year = tm.tm_year, .tm_mon = tm.tm_mon + 1, .tm_mday = 1};
	if (ret_month_left_s)
		*ret_month_left_s = (long)(timegm(&next) - s);
	next = (struct tm){.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday};
	periods_cache.day_start = timegm(&next);
	periods_cache.day_end = periods_cache.day_start + 86400;
	next = (struct tm){.tm_year = tm.tm_year, .tm_mon = tm.tm_mon + 1, .tm_mday = 1};
	periods_cache.month_end = timegm(&next);
	memcpy(periods_cache.day, day, 11);
	memcpy(periods_cache.month, month, 8);
}
