/*
 * test_govstate.c: govstate's token buckets (take, refill, debt, wait, clamps, a clock that
 * goes back), spend reservations, in-flight counts, UTC periods, and the SQLite file
 * (survives a reopen, mode 0600 in a 0700 folder, refuses what is not ours, commits within
 * the flush window, pruning, many changes against the writer thread), and threads taking
 * from the same counters at once (the proxy.workers).
 *
 * Time is passed in, so every case sets its own clock. Cases with a file work in their own
 * mkdtemp directory, removed at the end; the file is also read with SQLite directly, not
 * only through govstate.
 */
#include "unit.h"
#include "policy/govstate.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define S 1000000000LL
/* 2026-12-03T10:00:00Z */
#define T0 (1796292000LL * S)

#define ASSERT_NEAR(a, b)                                                                          \
	do {                                                                                       \
		double _a = (a), _b = (b);                                                         \
		if (!(fabs(_a - _b) <= 1e-6 * fmax(1.0, fabs(_b))))                                \
			UNIT_FAIL("%s == %s: got %.9g, expected %.9g", #a, #b, _a, _b);            \
	} while (0)

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool make_dir(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/aigw-test-govstate-XXXXXX");
	return mkdtemp(dir) != NULL;
}

static int64_t utc_ns(int year, int mon, int mday, int h, int m, int s)
{
	struct tm tm = {.tm_year = year - 1900,
			.tm_mon = mon - 1,
			.tm_mday = mday,
			.tm_hour = h,
			.tm_min = m,
			.tm_sec = s};

	return (int64_t)timegm(&tm) * S;
}

/* Runs SQL on PATH through its own connection; with OUT, the first column of the first row. */
static int sql_run(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int r = -EIO;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
		goto out;
	if (!out) {
		r = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
		goto out;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
		r = 0;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

/* govstate_open() on PATH, expected to fail; *RET_MSG (caller frees) holds what it said. */
static int open_fails(const char *path, char **ret_msg)
{
	struct govstate *g = NULL;
	size_t size;
	FILE *f = open_memstream(ret_msg, &size);
	int r = govstate_open(path, f, &g);

	fclose(f);
	govstate_close(g);
	return r;
}

/* ---- buckets ---------------------------------------------------------------------------- */

static void test_bucket_new_key_full_and_refills(void)
{
	struct govstate *g;
	long wait = -1;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0), 10);
	ASSERT_OK(govstate_bucket_take(g, "rpm:a", 10, 1, 1, 1, T0, &wait));
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0), 9);
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0 + S / 2), 9.5);
	/* 9.5 < 10: nothing taken, and half a token at 1/s is rounded up to a second. */
	ASSERT_EQ(govstate_bucket_take(g, "rpm:a", 10, 1, 10, 10, T0 + S / 2, &wait), -EAGAIN);
	ASSERT_EQ(wait, 1);
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0 + S / 2), 9.5);
	ASSERT_OK(govstate_bucket_take(g, "rpm:a", 10, 1, 10, 10, T0 + S, NULL));
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0 + S), 0);
	/* Refill stops at the capacity. */
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0 + 3600 * S), 10);
	/* Other keys are other buckets. */
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:b", 10, 1, T0 + S), 10);
	govstate_close(g);
}

static void test_bucket_debt_and_wait(void)
{
	struct govstate *g;
	long wait = -1;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	/* An upper bound of 25 with a capacity of 10 goes when full and leaves a debt. */
	ASSERT_OK(govstate_bucket_take(g, "tpm:a", 10, 2, 10, 25, T0, &wait));
	ASSERT_NEAR(govstate_bucket_level(g, "tpm:a", 10, 2, T0), -15);
	ASSERT_NEAR(govstate_bucket_level(g, "tpm:a", 10, 2, T0 + 5 * S), -5);
	ASSERT_EQ(govstate_bucket_take(g, "tpm:a", 10, 2, 1, 1, T0 + 5 * S, &wait), -EAGAIN);
	ASSERT_EQ(wait, 3); /* (1 - -5) / 2 */
	ASSERT_EQ(govstate_bucket_take(g, "tpm:a", 10, 2, 1, 1, T0 + 8 * S - 1, &wait), -EAGAIN);
	ASSERT_EQ(wait, 1);
	ASSERT_OK(govstate_bucket_take(g, "tpm:a", 10, 2, 1, 1, T0 + 8 * S, &wait));
	ASSERT_NEAR(govstate_bucket_level(g, "tpm:a", 10, 2, T0 + 8 * S), 0);
	/* A NEED above the capacity asks for a full bucket, not for the impossible. */
	ASSERT_EQ(govstate_bucket_take(g, "tpm:a", 10, 2, 50, 50, T0 + 9 * S, &wait), -EAGAIN);
	ASSERT_EQ(wait, 4); /* (10 - 2) / 2 */
	ASSERT_OK(govstate_bucket_take(g, "tpm:a", 10, 2, 50, 50, T0 + 13 * S, &wait));
	ASSERT_NEAR(govstate_bucket_level(g, "tpm:a", 10, 2, T0 + 13 * S), -40);
	govstate_close(g);
}

/* Waiting the seconds a refusal names is always enough, whatever rounding the rate brings. */
static void test_bucket_wait_is_enough(void)
{
	static const double rates[] = {0.1, 1.0 / 60, 1000.0 / 60, 3, 7.0 / 3, 1e-3, 123456.789};
	struct govstate *g;
	char key[32];

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		double cap = 100, need = 37.3;
		int64_t now = T0 + (int64_t)i * 7 * S + 123456789;
		long wait = 0;

		snprintf(key, sizeof(key), "k%zu", i);
		ASSERT_OK(govstate_bucket_take(g, key, cap, rates[i], 1, 90.7, now, NULL));
		ASSERT_EQ(govstate_bucket_take(g, key, cap, rates[i], need, 1, now, &wait),
			  -EAGAIN);
		ASSERT_TRUE(wait >= 1);
		ASSERT_EQ(govstate_bucket_take(g, key, cap, rates[i], need, 1, now + (wait - 1) * S,
					       NULL),
			  -EAGAIN);
		ASSERT_OK(
		    govstate_bucket_take(g, key, cap, rates[i], need, 1, now + wait * S, NULL));
	}
	govstate_close(g);
}

static void test_bucket_zero_rate_never(void)
{
	struct govstate *g;
	long wait = 0;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	ASSERT_OK(govstate_bucket_take(g, "z", 5, 0, 5, 5, T0, &wait));
	ASSERT_EQ(govstate_bucket_take(g, "z", 5, 0, 1, 1, T0 + 1000 * S, &wait), -EAGAIN);
	ASSERT_EQ(wait, LONG_MAX);
	govstate_close(g);
}

static void test_bucket_reload_applies_from_now(void)
{
	struct govstate *g;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	ASSERT_OK(govstate_bucket_take(g, "r", 100, 1, 100, 100, T0, NULL));
	/* Ten seconds at the old rate, then ten times faster. */
	ASSERT_OK(govstate_bucket_take(g, "r", 100, 10, 0, 0, T0 + 10 * S, NULL));
	ASSERT_NEAR(govstate_bucket_level(g, "r", 100, 10, T0 + 10 * S), 10);
	ASSERT_NEAR(govstate_bucket_level(g, "r", 100, 10, T0 + 11 * S), 20);
	/* A smaller capacity clamps the level at once... */
	ASSERT_OK(govstate_bucket_take(g, "r", 15, 10, 0, 0, T0 + 20 * S, NULL));
	ASSERT_NEAR(govstate_bucket_level(g, "r", 15, 10, T0 + 20 * S), 15);
	/* ...and a larger one lets it refill beyond the old. */
	ASSERT_OK(govstate_bucket_take(g, "r", 50, 10, 0, 0, T0 + 20 * S, NULL));
	ASSERT_NEAR(govstate_bucket_level(g, "r", 50, 10, T0 + 30 * S), 50);
	/* The level asked with a smaller capacity than the bucket's is clamped to it. */
	ASSERT_NEAR(govstate_bucket_level(g, "r", 7, 10, T0 + 30 * S), 7);
	govstate_close(g);
}

static void test_bucket_give(void)
{
	struct govstate *g;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	ASSERT_OK(govstate_bucket_take(g, "g", 10, 1, 5, 5, T0, NULL));
	govstate_bucket_give(g, "g", 3, T0);
	ASSERT_NEAR(govstate_bucket_level(g, "g", 10, 1, T0), 8);
	govstate_bucket_give(g, "g", 10, T0);
	ASSERT_NEAR(govstate_bucket_level(g, "g", 10, 1, T0), 10);
	govstate_bucket_give(g, "g", -20, T0 + S); /* a call that used more than it took */
	ASSERT_NEAR(govstate_bucket_level(g, "g", 10, 1, T0 + S), -10);
	ASSERT_NEAR(govstate_bucket_level(g, "g", 10, 1, T0 + 3 * S), -8);
	/* A bucket never taken from is full: a give leaves it be. */
	govstate_bucket_give(g, "never", -5, T0);
	ASSERT_NEAR(govstate_bucket_level(g, "never", 10, 1, T0), 10);
	govstate_close(g);
}

static void test_bucket_clock_goes_back(void)
{
	struct govstate *g;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	ASSERT_OK(govstate_bucket_take(g, "c", 10, 1, 10, 10, T0, NULL));
	/* Five seconds back: no refill (it would be negative), and the take still counts. */
	ASSERT_NEAR(govstate_bucket_level(g, "c", 10, 1, T0 - 5 * S), 0);
	ASSERT_OK(govstate_bucket_take(g, "c", 10, 1, 0, 2, T0 - 5 * S, NULL));
	ASSERT_NEAR(govstate_bucket_level(g, "c", 10, 1, T0 - 5 * S), -2);
	/* The bucket's time stayed at T0: one second after it refills one second. */
	ASSERT_NEAR(govstate_bucket_level(g, "c", 10, 1, T0 + S), -1);
	govstate_close(g);
}

/* ---- spend and inflight ------------------------------------------------------------------ */

static void test_spend_reserve_settle(void)
{
	struct govstate *g;
	int64_t spent = -1, reserved = -1;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	govstate_spend_get(g, "workload:a", "2026-12-03", &spent, &reserved);
	ASSERT_EQ(spent, 0);
	ASSERT_EQ(reserved, 0);
	govstate_spend_reserve(g, "workload:a", "2026-12-03", 100);
	govstate_spend_reserve(g, "workload:a", "2026-12-03", 50);
	govstate_spend_get(g, "workload:a", "2026-12-03", &spent, &reserved);
	ASSERT_EQ(spent, 0);
	ASSERT_EQ(reserved, 150);
	govstate_spend_settle(g, "workload:a", "2026-12-03", 100, 80);
	govstate_spend_get(g, "workload:a", "2026-12-03", &spent, &reserved);
	ASSERT_EQ(spent, 80);
	ASSERT_EQ(reserved, 50);
	/* Releasing more than is reserved stops at zero. */
	govstate_spend_settle(g, "workload:a", "2026-12-03", 500, 10);
	govstate_spend_get(g, "workload:a", "2026-12-03", &spent, &reserved);
	ASSERT_EQ(spent, 90);
	ASSERT_EQ(reserved, 0);
	/* Scope and period are both the key: no concatenation can collide. */
	govstate_spend_reserve(g, "workload:a2026", "-12-03", 7);
	govstate_spend_get(g, "workload:a", "2026-12", &spent, &reserved);
	ASSERT_EQ(spent, 0);
	govstate_spend_get(g, "workload:a2026", "-12-03", &spent, &reserved);
	ASSERT_EQ(reserved, 7);
	govstate_close(g);
}

static void test_inflight(void)
{
	struct govstate *g;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	ASSERT_EQ(govstate_inflight(g, "conc:a"), 0);
	ASSERT_EQ(govstate_inflight_add(g, "conc:a"), 1);
	ASSERT_EQ(govstate_inflight_add(g, "conc:a"), 2);
	ASSERT_EQ(govstate_inflight_add(g, "conc:b"), 1);
	ASSERT_EQ(govstate_inflight(g, "conc:a"), 2);
	ASSERT_EQ(govstate_inflight_sub(g, "conc:a"), 1);
	ASSERT_EQ(govstate_inflight_sub(g, "conc:a"), 0);
	ASSERT_EQ(govstate_inflight_sub(g, "conc:a"), 0);
	ASSERT_EQ(govstate_inflight(g, "conc:a"), 0);
	ASSERT_EQ(govstate_inflight_add(g, "conc:a"), 1);
	ASSERT_EQ(govstate_inflight(g, "conc:b"), 1);
	govstate_close(g);
}

/* Enough keys to grow the hash several times; every counter still answers. */
static void test_many_keys(void)
{
	struct govstate *g;
	char key[32];

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "conc:w%d", i);
		for (int j = 0; j <= i % 3; j++)
			govstate_inflight_add(g, key);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "conc:w%d", i);
		ASSERT_EQ(govstate_inflight(g, key), i % 3 + 1);
	}
	govstate_close(g);
}

/* ---- periods ----------------------------------------------------------------------------- */

static void test_periods(void)
{
	char day[11], month[8];
	long d = 0, m = 0;

	govstate_periods(T0, day, month, &d, &m);
	ASSERT_STREQ(day, "2026-12-03");
	ASSERT_STREQ(month, "2026-12");
	ASSERT_EQ(d, 14 * 3600);
	ASSERT_EQ(m, 28 * 86400 + 14 * 3600);

	/* Half a second before the new year: both end within a second, rounded up to 1. */
	govstate_periods(utc_ns(2026, 12, 31, 23, 59, 59) + S / 2, day, month, &d, &m);
	ASSERT_STREQ(day, "2026-12-31");
	ASSERT_STREQ(month, "2026-12");
	ASSERT_EQ(d, 1);
	ASSERT_EQ(m, 1);
	govstate_periods(utc_ns(2027, 1, 1, 0, 0, 0), day, month, &d, &m);
	ASSERT_STREQ(day, "2027-01-01");
	ASSERT_STREQ(month, "2027-01");
	ASSERT_EQ(d, 86400);
	ASSERT_EQ(m, 31 * 86400);

	/* 2028 is a leap year: February has a 29th, and March starts after it. */
	govstate_periods(utc_ns(2028, 2, 28, 0, 0, 0), day, month, &d, &m);
	ASSERT_STREQ(day, "2028-02-28");
	ASSERT_EQ(m, 2 * 86400);
	govstate_periods(utc_ns(2028, 2, 29, 12, 0, 0), day, month, &d, &m);
	ASSERT_STREQ(day, "2028-02-29");
	ASSERT_STREQ(month, "2028-02");
	ASSERT_EQ(d, 12 * 3600);
	ASSERT_EQ(m, 12 * 3600);
	govstate_periods(utc_ns(2027, 2, 28, 0, 0, 0), day, month, &d, &m);
	ASSERT_EQ(m, 86400);

	/* The last nanosecond of a day still belongs to it. */
	govstate_periods(utc_ns(2026, 12, 4, 0, 0, 0) - 1, day, month, &d, &m);
	ASSERT_STREQ(day, "2026-12-03");
	ASSERT_EQ(d, 1);
}

/* ---- the file ---------------------------------------------------------------------------- */

static void test_memory_only(void)
{
	struct govstate *g;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	govstate_spend_settle(g, "team:x", "2026-12", 0, 5);
	ASSERT_OK(govstate_sync(g));
	govstate_close(g);
	govstate_close(NULL);
}

static void test_persists_across_reopen(void)
{
	char dir[64], sub[128], path[160];
	int64_t spent = -1, reserved = -1;
	struct govstate *g;
	struct stat st;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(sub, sizeof(sub), "%s/var/lib/aigw", dir);
	snprintf(path, sizeof(path), "%s/state.db", sub);

	ASSERT_OK(govstate_open(path, NULL, &g));
	ASSERT_OK(govstate_bucket_take(g, "rpm:a", 10, 1, 6, 6, T0, NULL));
	govstate_spend_reserve(g, "workload:a", "2026-12-03", 1000);
	govstate_spend_settle(g, "workload:a", "2026-12-03", 600, 550);
	govstate_spend_settle(g, "team:t", "2026-12", 0, 7);
	govstate_inflight_add(g, "conc:a");
	ASSERT_OK(govstate_sync(g));
	govstate_close(g);

	ASSERT_OK(stat(path, &st));
	ASSERT_EQ(st.st_mode & 07777, 0600);
	ASSERT_OK(stat(sub, &st));
	ASSERT_EQ(st.st_mode & 07777, 0700);

	ASSERT_OK(govstate_open(path, NULL, &g));
	/* Three seconds after the take at 1/s: 4 + 3. */
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0 + 3 * S), 7);
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0 + 60 * S), 10);
	ASSERT_EQ(govstate_bucket_take(g, "rpm:a", 10, 1, 8, 8, T0 + 3 * S, NULL), -EAGAIN);
	ASSERT_OK(govstate_bucket_take(g, "rpm:a", 10, 1, 7, 7, T0 + 3 * S, NULL));
	govstate_spend_get(g, "workload:a", "2026-12-03", &spent, &reserved);
	ASSERT_EQ(spent, 550);
	ASSERT_EQ(reserved, 0); /* reservations end with the process */
	govstate_spend_get(g, "team:t", "2026-12", &spent, &reserved);
	ASSERT_EQ(spent, 7);
	ASSERT_EQ(govstate_inflight(g, "conc:a"), 0);
	govstate_close(g);

	ASSERT_OK(govstate_open(path, NULL, &g));
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:a", 10, 1, T0 + 3 * S), 0);
	govstate_close(g);
	rm_tree(dir);
}

/* Without a sync, a change reaches the file within the flush window. */
static void test_commits_within_flush_window(void)
{
	char dir[64], path[96], v[32] = "";
	struct govstate *g;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	ASSERT_OK(govstate_open(path, NULL, &g));
	govstate_spend_settle(g, "workload:a", "2026-12", 0, 42);
	for (int i = 0; i < 100 && strcmp(v, "42"); i++) {
		usleep(20 * 1000);
		sql_run(path, "SELECT spent_nano FROM spend WHERE scope = 'workload:a'", v,
			sizeof(v));
	}
	ASSERT_STREQ(v, "42");
	ASSERT_OK(sql_run(path, "PRAGMA journal_mode", v, sizeof(v)));
	ASSERT_STREQ(v, "wal");
	govstate_close(g);
	rm_tree(dir);
}

static void test_refuses_a_file_not_a_database(void)
{
	static const char junk[] = "this is someone's notes, not a database\n";
	char dir[64], path[96], back[128] = "", *msg = NULL;
	FILE *f;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	f = fopen(path, "w");
	ASSERT_TRUE(f);
	for (int i = 0; i < 200; i++)
		fputs(junk, f);
	fclose(f);

	ASSERT_TRUE(open_fails(path, &msg) < 0);
	ASSERT_CONTAINS(msg, path);
	ASSERT_CONTAINS(msg, "left untouched");
	free(msg);
	f = fopen(path, "r");
	ASSERT_TRUE(f);
	ASSERT_TRUE(fgets(back, sizeof(back), f));
	fclose(f);
	ASSERT_STREQ(back, junk);
	ASSERT_TRUE(access(path, F_OK) == 0);
	rm_tree(dir);
}

static void test_refuses_another_database(void)
{
	char dir[64], path[96], v[32] = "", *msg = NULL;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/other.db", dir);
	ASSERT_OK(sql_run(path, "CREATE TABLE notes(x); INSERT INTO notes VALUES(1)", NULL, 0));
	ASSERT_EQ(open_fails(path, &msg), -EINVAL);
	ASSERT_CONTAINS(msg, "not aigw's");
	free(msg);
	ASSERT_OK(sql_run(path, "SELECT count(*) FROM notes", v, sizeof(v)));
	ASSERT_STREQ(v, "1");

	/* A meta table that names another application is not ours either. */
	ASSERT_OK(sql_run(path,
			  "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
			  "INSERT INTO meta VALUES('app', 'something-else')",
			  NULL, 0));
	ASSERT_EQ(open_fails(path, &msg), -EINVAL);
	ASSERT_CONTAINS(msg, "not aigw's");
	free(msg);
	rm_tree(dir);
}

static void test_refuses_a_newer_schema(void)
{
	char dir[64], path[96], *msg = NULL;
	struct govstate *g;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	ASSERT_OK(govstate_open(path, NULL, &g));
	govstate_close(g);
	ASSERT_OK(
	    sql_run(path, "UPDATE meta SET value = '2' WHERE key = 'schema_version'", NULL, 0));
	ASSERT_EQ(open_fails(path, &msg), -EPROTONOSUPPORT);
	ASSERT_CONTAINS(msg, "schema version \"2\"");
	free(msg);
	rm_tree(dir);
}

static void test_prunes_old_spend(void)
{
	char dir[64], path[96], day[11], month[8], sql[256];
	int64_t spent = -1, now = (int64_t)time(NULL) * S;
	struct govstate *g;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	ASSERT_OK(govstate_open(path, NULL, &g));
	govstate_close(g);
	govstate_periods(now, day, month, NULL, NULL);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO spend VALUES('w', '2001-01-01', 1), ('w', '2001-01', 2),"
		 " ('w', '%s', 3), ('w', '%s', 4)",
		 day, month);
	ASSERT_OK(sql_run(path, sql, NULL, 0));
	ASSERT_OK(govstate_open(path, NULL, &g));
	govstate_spend_get(g, "w", "2001-01-01", &spent, NULL);
	ASSERT_EQ(spent, 0);
	govstate_spend_get(g, "w", "2001-01", &spent, NULL);
	ASSERT_EQ(spent, 0);
	govstate_spend_get(g, "w", day, &spent, NULL);
	ASSERT_EQ(spent, 3);
	govstate_spend_get(g, "w", month, &spent, NULL);
	ASSERT_EQ(spent, 4);
	govstate_close(g);
	rm_tree(dir);
}

/* Many changes while the writer commits behind them: what a reopen finds is what memory had
 * at the last sync, and again at close. */
static void test_many_changes_against_the_writer(void)
{
	enum { SCOPES = 40, BUCKETS = 8, ROUNDS = 20000 };
	char dir[64], path[96], scope[32];
	int64_t want[SCOPES] = {0}, spent, reserved;
	double level[BUCKETS];
	struct govstate *g;

	ASSERT_TRUE(make_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	ASSERT_OK(govstate_open(path, NULL, &g));
	for (int i = 0; i < ROUNDS; i++) {
		int s = (i * 7) % SCOPES;
		int64_t now = T0 + (int64_t)i * 1000000;

		snprintf(scope, sizeof(scope), "workload:w%d", s);
		govstate_spend_reserve(g, scope, "2026-12-03", 100);
		govstate_spend_settle(g, scope, "2026-12-03", 100, i % 97);
		want[s] += i % 97;
		snprintf(scope, sizeof(scope), "tpm:w%d", i % BUCKETS);
		govstate_bucket_take(g, scope, 1000, 50, 0, i % 13, now, NULL);
		if (i % 5000 == 0)
			ASSERT_OK(govstate_sync(g));
		if (i % 1000 == 0)
			usleep(1000); /* let commits overlap the changes */
	}
	for (int b = 0; b < BUCKETS; b++) {
		snprintf(scope, sizeof(scope), "tpm:w%d", b);
		level[b] = govstate_bucket_level(g, scope, 1000, 50, T0 + ROUNDS * 1000000LL);
	}
	ASSERT_OK(govstate_sync(g));
	govstate_close(g);

	ASSERT_OK(govstate_open(path, NULL, &g));
	for (int s = 0; s < SCOPES; s++) {
		snprintf(scope, sizeof(scope), "workload:w%d", s);
		govstate_spend_get(g, scope, "2026-12-03", &spent, &reserved);
		ASSERT_EQ(spent, want[s]);
		ASSERT_EQ(reserved, 0);
	}
	for (int b = 0; b < BUCKETS; b++) {
		snprintf(scope, sizeof(scope), "tpm:w%d", b);
		ASSERT_NEAR(govstate_bucket_level(g, scope, 1000, 50, T0 + ROUNDS * 1000000LL),
			    level[b]);
	}
	govstate_close(g);
	rm_tree(dir);
}

/*
 * The proxy.workers share one state: threads taking from the same counters at once never
 * take more than the cap together, and lose no change. Each thread takes one at a time from
 * bucket "rpm:shared" (capacity CAP, no refill) until refused, and from "tpm:shared" (which
 * never refuses) once per turn; adds and takes back held bytes and calls in flight; and adds
 * keys of its own (the map grows under the others). Without govstate's lock two takes read
 * the same level, and more than CAP go.
 */
enum { HAMMER_THREADS = 4, HAMMER_CAP = 60000, HAMMER_TURNS = 30000 };

struct hammer {
	struct govstate *g;
	pthread_barrier_t *start;
	int idx;
	long taken; /* from rpm:shared */
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	char key[32];

	pthread_barrier_wait(h->start);
	for (int i = 0; i < HAMMER_TURNS; i++) {
		if (!govstate_bucket_take(h->g, "rpm:shared", HAMMER_CAP, 0, 1, 1, T0, NULL))
			h->taken++;
		govstate_bucket_take(h->g, "tpm:shared", 1e12, 0, 0, 1, T0, NULL);
		govstate_held_add(h->g, "buf:shared", 7);
		govstate_inflight_add(h->g, "conc:shared");
		govstate_spend_reserve(h->g, "workload:shared", "2026-12-03", 3);
		govstate_spend_settle(h->g, "workload:shared", "2026-12-03", 3, 2);
		govstate_inflight_sub(h->g, "conc:shared");
		govstate_held_sub(h->g, "buf:shared", 7);
		if (i % 64 == 0) {
			snprintf(key, sizeof(key), "conc:t%d-%d", h->idx, i);
			govstate_inflight_add(h->g, key);
		}
	}
	return NULL;
}

static void test_threads_never_take_past_the_cap(void)
{
	struct hammer h[HAMMER_THREADS];
	pthread_t th[HAMMER_THREADS];
	pthread_barrier_t start;
	struct govstate *g;
	int64_t spent, reserved;
	long taken = 0;

	ASSERT_OK(govstate_open(NULL, NULL, &g));
	pthread_barrier_init(&start, NULL, HAMMER_THREADS);
	for (int t = 0; t < HAMMER_THREADS; t++) {
		h[t] = (struct hammer){.g = g, .start = &start, .idx = t};
		ASSERT_EQ(pthread_create(&th[t], NULL, hammer_main, &h[t]), 0);
	}
	for (int t = 0; t < HAMMER_THREADS; t++) {
		pthread_join(th[t], NULL);
		taken += h[t].taken;
	}
	pthread_barrier_destroy(&start);
	ASSERT_EQ(taken, HAMMER_CAP);
	ASSERT_NEAR(govstate_bucket_level(g, "rpm:shared", HAMMER_CAP, 0, T0), 0);
	ASSERT_NEAR(govstate_bucket_level(g, "tpm:shared", 1e12, 0, T0),
		    1e12 - (double)HAMMER_THREADS * HAMMER_TURNS);
	ASSERT_EQ(govstate_held(g, "buf:shared"), 0);
	ASSERT_EQ(govstate_inflight(g, "conc:shared"), 0);
	govstate_spend_get(g, "workload:shared", "2026-12-03", &spent, &reserved);
	ASSERT_EQ(spent, 2LL * HAMMER_THREADS * HAMMER_TURNS);
	ASSERT_EQ(reserved, 0);
	for (int t = 0; t < HAMMER_THREADS; t++) { /* each thread's last key is there */
		char key[32];
		int last = HAMMER_TURNS - 1 - (HAMMER_TURNS - 1) % 64;

		snprintf(key, sizeof(key), "conc:t%d-%d", t, last);
		ASSERT_EQ(govstate_inflight(g, key), 1);
	}
	govstate_close(g);
}

UNIT_MAIN(UNIT_CASE(test_bucket_new_key_full_and_refills), UNIT_CASE(test_bucket_debt_and_wait),
	  UNIT_CASE(test_bucket_wait_is_enough), UNIT_CASE(test_bucket_zero_rate_never),
	  UNIT_CASE(test_bucket_reload_applies_from_now), UNIT_CASE(test_bucket_give),
	  UNIT_CASE(test_bucket_clock_goes_back), UNIT_CASE(test_spend_reserve_settle),
	  UNIT_CASE(test_inflight), UNIT_CASE(test_many_keys), UNIT_CASE(test_periods),
	  UNIT_CASE(test_memory_only), UNIT_CASE(test_persists_across_reopen),
	  UNIT_CASE(test_commits_within_flush_window),
	  UNIT_CASE(test_refuses_a_file_not_a_database), UNIT_CASE(test_refuses_another_database),
	  UNIT_CASE(test_refuses_a_newer_schema), UNIT_CASE(test_prunes_old_spend),
	  UNIT_CASE(test_many_changes_against_the_writer),
	  UNIT_CASE(test_threads_never_take_past_the_cap))
