/*
 * test_report_ledger.c: `aigw report --ledger` over a ledger seeded here with rows of known
 * values: for every combination of --by keys, each group's sums are the sums of the rows of
 * that group, the groups cover every row, and the total is the sum of all; --since/--until
 * take whole UTC days (--until's included); more than 64 keys all get their row; names with
 * control characters come out escaped in table and CSV and as JSON escapes; flags and files
 * that are wrong are refused with a reason.
 */
#include "unit.h"
#include "ledger/ledger.h"
#include "ledger/report.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#define N_ROWS 400
#define N_WORKLOADS 80 /* more than the 64 the audit report once kept */

struct seed_row {
	char time[32], workload[32], team[16], provider[16], model[32];
	bool has_team, has_cost, failed;
	long long in, out, cached, reasoning, cost;
};

static struct seed_row seed[N_ROWS];
static char db_path[] = "/tmp/aigw-test-report-ledger-XXXXXX";

/* PATH and the WAL files SQLite keeps beside it. */
static void unlink_db(const char *path)
{
	char side[sizeof(db_path) + 8];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* The value of KEY for row S; NULL when the row has none. */
static const char *key_of(const struct seed_row *s, enum report_key k, char buf[16])
{
	switch (k) {
	case REPORT_BY_TEAM:
		return s->has_team ? s->team : NULL;
	case REPORT_BY_WORKLOAD:
		return s->workload;
	case REPORT_BY_PROVIDER:
		return s->provider;
	case REPORT_BY_MODEL:
		return s->model;
	case REPORT_BY_DAY:
		snprintf(buf, 16, "%.10s", s->time);
		return buf;
	default:
		snprintf(buf, 16, "%.7s", s->time);
		return buf;
	}
}

/* A ledger of N_ROWS calls over two months, made by ledger_open() and filled by SQL. */
static int seed_ledger(void)
{
	static const char *const providers[] = {"openai", "anthropic", "mistral"};
	static const char *const models[] = {"gpt-4o-mini", "gpt-5-nano", "claude-3-5-haiku",
					     "mistral-small", "gpt-4o"};
	struct ledger *l = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int fd = mkstemp(db_path), r = -EIO;

	if (fd < 0)
		return -errno;
	close(fd);
	unlink(db_path);
	if (ledger_open(db_path, stderr, &l))
		return -EIO;
	ledger_close(l);
	if (sqlite3_open(db_path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		db,
		"INSERT INTO calls(request_id, time, workload, team, provider, model,"
		" input_tokens, output_tokens, cached_tokens, reasoning_tokens,"
		" cost_nano, status, outcome) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
		-1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int i = 0; i < N_ROWS; i++) {
		struct seed_row *s = &seed[i];
		char id[16];

		/* 2026-11-20 .. 2026-12-09, and one at the last millisecond of a day */
		snprintf(s->time, sizeof(s->time), "2026-%s-%02uT%02u:%02u:00.000Z",
			 i % 2 ? "11" : "12", i % 2 ? 20 + rnd(11) : 1 + rnd(9), rnd(24), rnd(60));
		if (i == 7)
			snprintf(s->time, sizeof(s->time), "2026-12-03T23:59:59.999Z");
		snprintf(s->workload, sizeof(s->workload), "wl-%02u",
			 i < N_WORKLOADS ? i : rnd(N_WORKLOADS));
		s->has_team = rnd(5) != 0;
		snprintf(s->team, sizeof(s->team), "team-%u", rnd(4));
		snprintf(s->provider, sizeof(s->provider), "%s", providers[rnd(3)]);
		snprintf(s->model, sizeof(s->model), "%s", models[rnd(5)]);
		s->in = rnd(5000);
		s->out = rnd(3000);
		s->cached = rnd(3) ? 0 : rnd(1000);
		s->reasoning = rnd(4) ? 0 : rnd(500);
		s->has_cost = rnd(6) != 0;
		s->cost =
		    (long long)rnd(1000000) * 1000 + rnd(1000); /* nano-dollars, to the last */
		s->failed = rnd(7) == 0;
		snprintf(id, sizeof(id), "r%d", i);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, s->time, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, s->workload, -1, SQLITE_STATIC);
		if (s->has_team)
			sqlite3_bind_text(st, 4, s->team, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, s->provider, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, s->model, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, s->in);
		sqlite3_bind_int64(st, 8, s->out);
		sqlite3_bind_int64(st, 9, s->cached);
		sqlite3_bind_int64(st, 10, s->reasoning);
		if (s->has_cost)
			sqlite3_bind_int64(st, 11, s->cost);
		sqlite3_bind_int(st, 12, s->failed ? 503 : 200);
		sqlite3_bind_text(st, 13, s->failed ? "upstream_error" : "ok", -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	if (sqlite3_exec(db,
			 "INSERT INTO shadow(time, action, service, workload, process) VALUES"
			 "('2026-12-01T00:00:00Z', 'denied', 'Mistral AI', 'wl-01', 'curl'),"
			 "('2026-12-01T00:00:01Z', 'denied', 'Mistral AI', 'wl-01', 'curl'),"
			 "('2026-12-02T00:00:00Z', 'passthrough', 'Shadow LLM', 'wl-02', 'node'),"
			 "('2026-11-02T00:00:00Z', 'denied', 'Shadow LLM', 'wl-02', 'node');"
			 "COMMIT",
			 NULL, NULL, NULL) == SQLITE_OK)
		r = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

/* The report Q asks, as text; NULL on failure (the errors go to stderr). */
static char *report_text(const struct report_query *q)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int r;

	if (!out)
		return NULL;
	r = report_ledger_print(db_path, q, out, stderr);
	fclose(out);
	if (r) {
		free(text);
		return NULL;
	}
	return text;
}

static long long num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

struct sums {
	long long calls, errors, in, out, cached, reasoning, cost, unpriced;
};

static void add_row(struct sums *t, const struct seed_row *s)
{
	t->calls++;
	t->errors += s->failed;
	t->in += s->in;
	t->out += s->out;
	t->cached += s->cached;
	t->reasoning += s->reasoning;
	t->cost += s->has_cost ? s->cost : 0;
	t->unpriced += !s->has_cost;
}

/* Whether the JSON object O holds the sums T; says which differs. */
static bool sums_match(const cJSON *o, const struct sums *t)
{
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(o, "cost_nano");
	long long got_cost = cJSON_IsNull(cost) ? 0 : num(o, "cost_nano");

	if (num(o, "calls") != t->calls || num(o, "errors") != t->errors ||
	    num(o, "input_tokens") != t->in || num(o, "output_tokens") != t->out ||
	    num(o, "cached_tokens") != t->cached || num(o, "reasoning_tokens") != t->reasoning ||
	    got_cost != t->cost || num(o, "unpriced_calls") != t->unpriced ||
	    (cJSON_IsNull(cost) != (t->unpriced == t->calls))) {
		char *text = cJSON_PrintUnformatted(o);

		fprintf(stderr,
			"  got %s\n  expected calls %lld errors %lld in %lld out %lld cached %lld "
			"reasoning %lld cost %lld unpriced %lld\n",
			text, t->calls, t->errors, t->in, t->out, t->cached, t->reasoning, t->cost,
			t->unpriced);
		free(text);
		return false;
	}
	return true;
}

/* Checks the JSON report of Q against the seeded rows in [SINCE, UNTIL] ("" open). */
static bool check_query(const struct report_query *q)
{
	char *text = report_text(q), buf[16];
	cJSON *doc = text ? cJSON_Parse(text) : NULL, *g;
	const cJSON *groups = cJSON_GetObjectItemCaseSensitive(doc, "groups");
	struct sums total = {0}, in_groups = {0};
	bool ok = cJSON_IsArray(groups);

	for (int i = 0; i < N_ROWS; i++) {
		const struct seed_row *s = &seed[i];

		if ((*q->since && strncmp(s->time, q->since, 10) < 0) ||
		    (*q->until && strncmp(s->time, q->until, 10) > 0))
			continue;
		add_row(&total, s);
	}
	cJSON_ArrayForEach(g, groups)
	{
		struct sums t = {0};

		for (int i = 0; ok && i < N_ROWS; i++) {
			const struct seed_row *s = &seed[i];
			bool match = true;

			if ((*q->since && strncmp(s->time, q->since, 10) < 0) ||
			    (*q->until && strncmp(s->time, q->until, 10) > 0))
				continue;
			for (size_t k = 0; k < q->n_by && match; k++) {
				static const char *const names[] = {"team",  "workload", "provider",
								    "model", "day",	 "month"};
				const cJSON *v =
				    cJSON_GetObjectItemCaseSensitive(g, names[q->by[k]]);
				const char *want = key_of(s, q->by[k], buf);

				match = want ? cJSON_IsString(v) && !strcmp(v->valuestring, want)
					     : cJSON_IsNull(v);
			}
			if (match)
				add_row(&t, s);
		}
		ok = ok && t.calls > 0 && sums_match(g, &t);
		in_groups.calls += t.calls;
	}
	/* every row in one group: the groups' rows add up to all the rows */
	ok = ok && in_groups.calls == total.calls &&
	     sums_match(cJSON_GetObjectItemCaseSensitive(doc, "total"), &total);
	cJSON_Delete(doc);
	free(text);
	return ok;
}

static void test_every_by_combination_sums_its_rows(void)
{
	ASSERT_OK(seed_ledger());
	for (unsigned mask = 1; mask < (1u << REPORT_BY_N); mask++) {
		struct report_query q = {.format = REPORT_JSON};

		for (unsigned k = 0; k < REPORT_BY_N; k++)
			if (mask & (1u << k))
				q.by[q.n_by++] = (enum report_key)k;
		if (!check_query(&q))
			UNIT_FAIL("--by mask %#x: the groups are not the sums of their rows", mask);
		/* the same keys the other way round */
		for (size_t i = 0; i < q.n_by / 2; i++) {
			enum report_key t = q.by[i];

			q.by[i] = q.by[q.n_by - 1 - i];
			q.by[q.n_by - 1 - i] = t;
		}
		if (!check_query(&q))
			UNIT_FAIL("--by mask %#x reversed: the groups are not the sums", mask);
	}
}

static void test_since_until_are_whole_utc_days_until_included(void)
{
	struct report_query q = {.format = REPORT_JSON, .n_by = 1, .by = {REPORT_BY_DAY}};
	char *text;
	cJSON *doc;

	ASSERT_OK(report_parse_date("2026-11-25", "--since", q.since, stderr));
	ASSERT_OK(report_parse_date("2026-12-03", "--until", q.until, stderr));
	ASSERT_TRUE(check_query(&q));
	text = report_text(&q);
	ASSERT_TRUE(text);
	ASSERT_CONTAINS(text, "\"day\":\"2026-12-03\""); /* 23:59:59.999 of the last day too */
	ASSERT_TRUE(!strstr(text, "\"day\":\"2026-12-04\""));
	ASSERT_TRUE(!strstr(text, "\"day\":\"2026-11-24\""));
	doc = cJSON_Parse(text);
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "shadow")), 2);
	cJSON_Delete(doc);
	free(text);
	q.since[0] = 0;
	ASSERT_TRUE(check_query(&q));
	strcpy(q.since, "2026-12-04");
	q.until[0] = 0;
	ASSERT_TRUE(check_query(&q));
	strcpy(q.until, "2026-12-03"); /* since after until */
	ASSERT_TRUE(!report_text(&q));
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_more_than_64_keys_all_get_their_row(void)
{
	struct report_query q = {.n_by = 1, .by = {REPORT_BY_WORKLOAD}, .format = REPORT_JSON};
	char *text = report_text(&q), *table;
	cJSON *doc = text ? cJSON_Parse(text) : NULL;

	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "groups")), N_WORKLOADS);
	cJSON_Delete(doc);
	free(text);
	q.format = REPORT_CSV;
	text = report_text(&q);
	/* header, 80 rows; blank; header, 3 shadow rows */
	ASSERT_EQ(count_lines(text), 1 + N_WORKLOADS + 1 + 1 + 3);
	free(text);
	q.format = REPORT_TABLE;
	table = report_text(&q);
	ASSERT_CONTAINS(table, "\nwl-79 ");
	ASSERT_CONTAINS(table, "\ntotal ");
	free(table);
}

static void test_names_with_control_characters_are_escaped(void)
{
	static const char name[] = "ev\x1b[2Jil\n\tx\\y\x7f\xc2\x9bz\xff,\"q\"\xc3\xa9";
	struct report_query q = {.n_by = 2, .by = {REPORT_BY_WORKLOAD, REPORT_BY_TEAM}};
	char *e = report_escape(name), *text;
	sqlite3 *db;
	cJSON *doc;

	ASSERT_STREQ(e, "ev\\x1b[2Jil\\n\\tx\\\\y\\x7f\\xc2\\x9bz\\xff,\"q\"\xc3\xa9");
	free(e);
	e = report_escape(NULL);
	ASSERT_STREQ(e, "-");
	free(e);
	ASSERT_TRUE(sqlite3_open(db_path, &db) == SQLITE_OK);
	ASSERT_TRUE(
	    sqlite3_exec(db,
			 "INSERT INTO calls(request_id, time, workload, team) VALUES"
			 "('evil', '2030-01-01T00:00:00Z', CAST(X'"
			 "65761b5b324a696c0a09785c797fc29b7aff2c227122c3a9' AS TEXT), 'red');"
			 "INSERT INTO shadow(time, action, service, workload, process) VALUES"
			 "('2030-01-01T00:00:00Z', 'denied', 'x', 'w', CAST(X'611b62' AS TEXT))",
			 NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	strcpy(q.since, "2030-01-01");
	for (int f = REPORT_TABLE; f <= REPORT_JSON; f++) {
		q.format = (enum report_format)f;
		text = report_text(&q);
		ASSERT_TRUE(text);
		for (const unsigned char *p = (const unsigned char *)text; *p; p++)
			if ((*p < 0x20 && *p != '\n') || *p == 0x7f || *p == 0xff ||
			    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
				UNIT_FAIL("format %d: a raw control byte %#x at %td", f, *p,
					  (const char *)p - text);
		if (f == REPORT_TABLE) {
			ASSERT_CONTAINS(text, "ev\\x1b[2Jil\\n\\tx\\\\y\\x7f\\xc2\\x9bz\\xff");
			ASSERT_CONTAINS(text, "a\\x1bb");
		} else if (f == REPORT_CSV) {
			ASSERT_CONTAINS(text, "\"ev\\x1b[2Jil\\n\\tx\\\\y\\x7f\\xc2\\x9bz\\xff,"
					      "\"\"q\"\"\xc3\xa9\",red,");
		} else {
			const cJSON *g, *w;

			doc = cJSON_Parse(text);
			g = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "groups"), 0);
			w = cJSON_GetObjectItem(g, "workload");
			/* JSON gives the name back, but for the byte that is not UTF-8 */
			ASSERT_TRUE(cJSON_IsString(w));
			ASSERT_STREQ(w->valuestring,
				     "ev\x1b[2Jil\n\tx\\y\x7f\xc2\x9bz\xef\xbf\xbd,\"q\"\xc3\xa9");
			w = cJSON_GetObjectItem(
			    cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "shadow"), 0), "process");
			ASSERT_STREQ(w->valuestring, "a\x1b"
						     "b");
			cJSON_Delete(doc);
		}
		free(text);
	}
}

static void test_bad_flags_and_files_are_refused(void)
{
	struct report_query q = {0};
	char day[11], other[] = "/tmp/aigw-test-report-other-XXXXXX";
	FILE *errs = fopen("/dev/null", "w");
	sqlite3 *db;
	int fd;

	ASSERT_OK(report_parse_by("team,workload,provider,model,day,month", &q, errs));
	ASSERT_EQ(q.n_by, 6);
	ASSERT_EQ(report_parse_by("team,bogus", &q, errs), -EINVAL);
	ASSERT_EQ(report_parse_by("team,team", &q, errs), -EINVAL);
	ASSERT_EQ(report_parse_by("", &q, errs), -EINVAL);
	ASSERT_EQ(report_parse_by("team,", &q, errs), -EINVAL);
	ASSERT_EQ(report_parse_by(",team", &q, errs), -EINVAL);
	ASSERT_OK(report_parse_date("2028-02-29", "--since", day, errs));
	ASSERT_EQ(report_parse_date("2026-02-29", "--since", day, errs), -EINVAL);
	ASSERT_EQ(report_parse_date("2026-1-01", "--since", day, errs), -EINVAL);
	ASSERT_EQ(report_parse_date("2026-01-01T00", "--since", day, errs), -EINVAL);
	ASSERT_EQ(report_parse_date("yesterday", "--since", day, errs), -EINVAL);
	ASSERT_EQ(report_parse_format("xml", &q, errs), -EINVAL);
	ASSERT_OK(report_parse_format("csv", &q, errs));
	ASSERT_EQ(q.format, REPORT_CSV);

	q = (struct report_query){.n_by = 1};
	ASSERT_EQ(report_ledger_print("/nonexistent/ledger.db", &q, errs, errs), -ENOENT);
	ASSERT_EQ(report_ledger_print("/tmp", &q, errs, errs), -EISDIR);
	fd = mkstemp(other);
	ASSERT_TRUE(fd >= 0 && write(fd, "not a database at all, no", 25) == 25);
	close(fd);
	ASSERT_EQ(report_ledger_print(other, &q, errs, errs), -EINVAL);
	unlink(other);
	ASSERT_TRUE(sqlite3_open(other, &db) == SQLITE_OK);
	sqlite3_exec(db, "CREATE TABLE meta(key, value); INSERT INTO meta VALUES('app', 'x')", NULL,
		     NULL, NULL);
	sqlite3_close(db);
	ASSERT_EQ(report_ledger_print(other, &q, errs, errs), -EINVAL);
	unlink(other);
	fclose(errs);
	unlink_db(db_path);
}

UNIT_MAIN(UNIT_CASE(test_every_by_combination_sums_its_rows),
	  UNIT_CASE(test_since_until_are_whole_utc_days_until_included),
	  UNIT_CASE(test_more_than_64_keys_all_get_their_row),
	  UNIT_CASE(test_names_with_control_characters_are_escaped),
	  UNIT_CASE(test_bad_flags_and_files_are_refused))
