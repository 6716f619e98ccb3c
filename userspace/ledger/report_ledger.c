/*
 * report_ledger.c: `aigw report --ledger DB`: the spend in the cost ledger (ledger.h) summed
 * by SQL, grouped by the keys the user asks for, and the shadow-AI connections, printed as a
 * table, CSV or JSON.
 *
 * One query per section: the calls GROUP BY the keys (sums of tokens and cost_nano, calls,
 * errors, calls of unknown cost), and the shadow rows GROUP BY workload, process, service
 * and action. The rows are read into memory, then printed: a table needs the widths of its
 * columns first. The grand total is summed here from the groups, so it is the sum of what
 * is printed. Costs are integers of nano-dollars, printed with cost_usd_text(): never
 * through a double.
 *
 * Names come from workloads' processes and policies: a process can be called anything. In
 * a table and in CSV a control character (C0, DEL, C1) or a byte that is not UTF-8 is
 * written as an escape (\n, \t, \r, \x1b, and \\ for a backslash); in JSON as JSON escapes
 * (\u001b), with U+FFFD for bytes that are not UTF-8. Nothing reaches a terminal raw.
 */
#include "ledger/report.h"
#include "ledger/cost.h"
#include "ledger/ledger.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static const char *const key_names[REPORT_BY_N] = {
    [REPORT_BY_TEAM] = "team",	       [REPORT_BY_WORKLOAD] = "workload",
    [REPORT_BY_PROVIDER] = "provider", [REPORT_BY_MODEL] = "model",
    [REPORT_BY_DAY] = "day",	       [REPORT_BY_MONTH] = "month",
};

/* The column or expression of each key; time is RFC 3339 UTC, so its prefixes are the day
 * and the month. */
static const char *const key_sql[REPORT_BY_N] = {
    [REPORT_BY_TEAM] = "team",
    [REPORT_BY_WORKLOAD] = "workload",
    [REPORT_BY_PROVIDER] = "provider",
    [REPORT_BY_MODEL] = "model",
    [REPORT_BY_DAY] = "substr(time, 1, 10)",
    [REPORT_BY_MONTH] = "substr(time, 1, 7)",
};

/* The sums of one group (or of all of them). */
struct spend_sums {
	int64_t calls, errors, unpriced;
	int64_t input, output, cached, reasoning;
	int64_t cost_nano; /* of the priced calls */
};

struct spend_row {
	char *key[REPORT_BY_N]; /* NULL: the calls have no value (no team, say) */
	struct spend_sums s;
};

struct shadow_row {
	char *workload, *process, *service, *action;
	int64_t connections;
};

struct spend_report {
	const struct report_query *q;
	struct spend_row *rows;
	size_t n_rows;
	struct spend_sums total;
	struct shadow_row *shadow;
	size_t n_shadow;
	char since[32], until[32]; /* the bounds as compared with time: "" when open */
};

/* ---- the flags -------------------------------------------------------------------------- */

int report_parse_by(const char *list, struct report_query *q, FILE *errs)
{
	const char *p = list;

	q->n_by = 0;
	while (p && *p) {
		size_t len = strcspn(p, ","), k;

		for (k = 0; k < REPORT_BY_N; k++)
			if (strlen(key_names[k]) == len && !strncmp(p, key_names[k], len))
				break;
		if (k == REPORT_BY_N) {
			fprintf(errs,
				"aigw report: --by %s: unknown key \"%.*s\"; keys are team, "
				"workload, provider, model, day and month, separated by commas\n",
				list, (int)len, p);
			return -EINVAL;
		}
		for (size_t i = 0; i < q->n_by; i++)
			if (q->by[i] == (enum report_key)k) {
				fprintf(errs, "aigw report: --by %s: \"%s\" twice\n", list,
					key_names[k]);
				return -EINVAL;
			}
		q->by[q->n_by++] = (enum report_key)k;
		p += len;
		if (*p == ',' && !*++p)
			break; /* a trailing comma: refused below */
	}
	if (!q->n_by || (p && p > list && p[-1] == ',')) {
		fprintf(errs,
			"aigw report: --by \"%s\": give one or more of team, workload, "
			"provider, model, day, month, separated by commas\n",
			list ? list : "");
		return -EINVAL;
	}
	return 0;
}

int report_parse_date(const char *text, const char *flag, char ret[11], FILE *errs)
{
	struct tm tm = {0};
	char back[11];
	time_t t;
	int ok = strlen(text) == 10 && text[4] == '-' && text[7] == '-';

	for (int i = 0; ok && i < 10; i++)
		ok = i == 4 || i == 7 || (text[i] >= '0' && text[i] <= '9');
	if (ok) {
		tm.tm_year = atoi(text) - 1900;
		tm.tm_mon = atoi(text + 5) - 1;
		tm.tm_mday = atoi(text + 8);
		t = timegm(&tm);
		ok = gmtime_r(&t, &tm) && strftime(back, sizeof(back), "%Y-%m-%d", &tm) == 10 &&
		     !strcmp(back, text); /* 2026-02-30 came back as 2026-03-02 */
	}
	if (!ok) {
		fprintf(errs, "aigw report: %s %s: not a date; write YYYY-MM-DD (a UTC day)\n",
			flag, text);
		return -EINVAL;
	}
	memcpy(ret, text, 11);
	return 0;
}

int report_parse_format(const char *text, struct report_query *q, FILE *errs)
{
	static const char *const names[] = {"table", "csv", "json"};

	for (size_t i = 0; i < 3; i++)
		if (!strcmp(text, names[i])) {
			q->format = (enum report_format)i;
			return 0;
		}
	fprintf(errs, "aigw report: --format %s: use table, csv or json\n", text);
	return -EINVAL;
}

/* ---- names made safe to print ----------------------------------------------------------- */

/* The length of the UTF-8 sequence at P (at most N bytes), or 0 when it is not one: a
 * stray continuation byte, a cut or overlong sequence, a surrogate, past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0x80		    ? 1
		     : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
		     : p[0] >= 0xe0 && p[0] <= 0xef ? 3
		     : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
						    : 0;

	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

/* Whether the valid sequence at P of LEN bytes is a C1 control (U+0080 .. U+009F): some
 * terminals take U+009B as CSI. */
static bool utf8_c1(const unsigned char *p, size_t len)
{
	return len == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

/* S with its control characters and bytes that are not UTF-8 as escapes; "-" for NULL. The
 * caller frees it. */
char *report_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");
	size_t n = strlen((const char *)p), o = 0;
	char *out = malloc(4 * n + 1); /* \xNN is the longest: 4 bytes for 1 */

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_len(p + i, n - i);

		if (len > 1 && !utf8_c1(p + i, len)) {
			memcpy(out + o, p + i, len);
			o += len;
			i += len;
			continue;
		}
		if (len == 2) { /* C1: both bytes escaped */
			o += (size_t)sprintf(out + o, "\\x%02x\\x%02x", p[i], p[i + 1]);
			i += 2;
			continue;
		}
		if (p[i] == '\\')
			o += (size_t)sprintf(out + o, "\\\\");
		else if (p[i] == '\n')
			o += (size_t)sprintf(out + o, "\\n");
		else if (p[i] == '\t')
			o += (size_t)sprintf(out + o, "\\t");
		else if (p[i] == '\r')
			o += (size_t)sprintf(out + o, "\\r");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
		else
			out[o++] = (char)p[i];
		i++;
	}
	out[o] = '\0';
	return out;
}

/* S as a JSON string (null for NULL): RFC 8259 escapes, and DEL and C1 controls escaped
 * too; a byte that is not UTF-8 becomes U+FFFD. */
static void json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	if (!s) {
		fputs("null", out);
		return;
	}
	n = strlen(s);
	fputc('"', out);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_len(p + i, n - i);

		if (!len) {
			fputs("\\ufffd", out);
			i++;
		} else if (utf8_c1(p + i, len)) {
			fprintf(out, "\\u00%02x", p[i + 1]);
			i += 2;
		} else if (len > 1) {
			fwrite(p + i, 1, len, out);
			i += len;
		} else {
			unsigned char c = p[i++];

			if (c == '"' || c == '\\')
				fprintf(out, "\\%c", c);
			else if (c == '\n')
				fputs("\\n", out);
			else if (c == '\t')
				fputs("\\t", out);
			else if (c == '\r')
				fputs("\\r", out);
			else if (c < 0x20 || c == 0x7f)
				fprintf(out, "\\u%04x", c);
			else
				fputc(c, out);
		}
	}
	fputc('"', out);
}

/* A CSV field (RFC 4180): escaped as for a table, then quoted when it holds a comma or a
 * quote. */
static void csv_field(FILE *out, const char *s, bool last)
{
	char *e = s ? report_escape(s) : NULL;

	if (e && strpbrk(e, ",\"")) {
		fputc('"', out);
		for (const char *c = e; *c; c++) {
			if (*c == '"')
				fputc('"', out);
			fputc(*c, out);
		}
		fputc('"', out);
	} else if (e) {
		fputs(e, out);
	}
	fputc(last ? '\n' : ',', out);
	free(e);
}

/* ---- reading the ledger ----------------------------------------------------------------- */

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v ? strdup((const char *)v) : NULL;
}

/* WHERE time falls between the bounds, for a table. */
static void where_time(const struct spend_report *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", *r->since ? " AND time >= :since" : "",
		 *r->until ? " AND time < :until" : "");
}

static void bind_bounds(const struct spend_report *r, sqlite3_stmt *st)
{
	int i;

	if ((i = sqlite3_bind_parameter_index(st, ":since")))
		sqlite3_bind_text(st, i, r->since, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":until")))
		sqlite3_bind_text(st, i, r->until, -1, SQLITE_STATIC);
}

static int sums_add(struct spend_sums *t, const struct spend_sums *s)
{
	int64_t *a = (int64_t *)t;
	const int64_t *b = (const int64_t *)s;

	for (size_t i = 0; i < sizeof(*t) / sizeof(int64_t); i++)
		if (__builtin_add_overflow(a[i], b[i], &a[i]))
			return -EOVERFLOW;
	return 0;
}

static int read_spend(struct spend_report *r, sqlite3 *db, FILE *errs)
{
	const struct report_query *q = r->q;
	char keys[160] = "", where[64], *sql;
	size_t n = q->n_by, cap = 0;
	sqlite3_stmt *st = NULL;
	int rc, err = 0;

	for (size_t i = 0; i < n; i++)
		snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", i ? ", " : "",
			 key_sql[q->by[i]]);
	where_time(r, where, sizeof(where));
	sql = sqlite3_mprintf(
	    "SELECT %s, count(*),"
	    " sum(outcome IS NOT 'ok' OR status IS NULL OR status < 200 OR status >= 400),"
	    " count(*) - count(cost_nano),"
	    " coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),"
	    " coalesce(sum(cached_tokens), 0), coalesce(sum(reasoning_tokens), 0),"
	    " coalesce(sum(cost_nano), 0)"
	    " FROM calls WHERE 1%s GROUP BY %s ORDER BY %s",
	    keys, where, keys, keys);
	if (!sql)
		return -ENOMEM;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		err = -EIO;
		goto out;
	}
	bind_bounds(r, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct spend_row *row;

		if (r->n_rows == cap) {
			void *v = realloc(r->rows, (cap = cap ? 2 * cap : 64) * sizeof(*row));

			if (!v) {
				err = -ENOMEM;
				goto out;
			}
			r->rows = v;
		}
		row = &r->rows[r->n_rows++];
		*row = (struct spend_row){0};
		for (size_t i = 0; i < n; i++)
			row->key[i] = column_dup(st, (int)i);
		row->s = (struct spend_sums){
		    .calls = sqlite3_column_int64(st, (int)n),
		    .errors = sqlite3_column_int64(st, (int)n + 1),
		    .unpriced = sqlite3_column_int64(st, (int)n + 2),
		    .input = sqlite3_column_int64(st, (int)n + 3),
		    .output = sqlite3_column_int64(st, (int)n + 4),
		    .cached = sqlite3_column_int64(st, (int)n + 5),
		    .reasoning = sqlite3_column_int64(st, (int)n + 6),
		    .cost_nano = sqlite3_column_int64(st, (int)n + 7),
		};
		if (sums_add(&r->total, &row->s)) {
			fprintf(errs, "aigw report: the total does not fit in 64 bits\n");
			err = -EOVERFLOW;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		err = -EIO;
out:
	if (err == -EIO)
		fprintf(errs, "aigw report: cannot read the calls: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return err;
}

static int read_shadow(struct spend_report *r, sqlite3 *db, FILE *errs)
{
	char where[64], sql[320];
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc, err = 0;

	where_time(r, where, sizeof(where));
	snprintf(sql, sizeof(sql),
		 "SELECT workload, process, service, action, count(*) FROM shadow WHERE 1%s"
		 " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
		 where);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		err = -EIO;
		goto out;
	}
	bind_bounds(r, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct shadow_row *row;

		if (r->n_shadow == cap) {
			void *v = realloc(r->shadow, (cap = cap ? 2 * cap : 16) * sizeof(*row));

			if (!v) {
				err = -ENOMEM;
				goto out;
			}
			r->shadow = v;
		}
		row = &r->shadow[r->n_shadow++];
		row->workload = column_dup(st, 0);
		row->process = column_dup(st, 1);
		row->service = column_dup(st, 2);
		row->action = column_dup(st, 3);
		row->connections = sqlite3_column_int64(st, 4);
	}
	if (rc != SQLITE_DONE)
		err = -EIO;
out:
	if (err == -EIO)
		fprintf(errs, "aigw report: cannot read the shadow-AI connections: %s\n",
			sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return err;
}

static void spend_report_free(struct spend_report *r)
{
	for (size_t i = 0; i < r->n_rows; i++)
		for (size_t k = 0; k < REPORT_BY_N; k++)
			free(r->rows[i].key[k]);
	for (size_t i = 0; i < r->n_shadow; i++) {
		free(r->shadow[i].workload);
		free(r->shadow[i].process);
		free(r->shadow[i].service);
		free(r->shadow[i].action);
	}
	free(r->rows);
	free(r->shadow);
}

/* ---- printing --------------------------------------------------------------------------- */

/* The cost of S: the sum of its priced calls, "*" when some are not; "unknown" when none
 * is. */
static const char *cost_text(const struct spend_sums *s, char buf[COST_USD_TEXT_MAX + 1])
{
	char usd[COST_USD_TEXT_MAX];

	if (s->calls && s->unpriced == s->calls)
		return "unknown";
	snprintf(buf, COST_USD_TEXT_MAX + 1, "%s%s", cost_usd_text(s->cost_nano, usd),
		 s->unpriced ? "*" : "");
	return buf;
}

#define SUM_COLS 8
static const char *const sum_heads[SUM_COLS] = {
    "calls", "errors", "in tok", "out tok", "cached tok", "reasoning tok", "cost USD", "unpriced",
};

/* The cells of S, numbers right-aligned, in CELLS (each at most 32 bytes). */
static void sum_cells(const struct spend_sums *s, char cells[SUM_COLS][COST_USD_TEXT_MAX + 2])
{
	const int64_t v[] = {s->calls, s->errors, s->input, s->output, s->cached, s->reasoning};

	for (size_t i = 0; i < 6; i++)
		snprintf(cells[i], sizeof(cells[i]), "%lld", (long long)v[i]);
	snprintf(cells[6], sizeof(cells[6]), "%s", cost_text(s, cells[7]));
	snprintf(cells[7], sizeof(cells[7]), "%lld", (long long)s->unpriced);
}

/* Display columns of the escaped text S: its code points (escapes are ASCII). */
static int text_width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void put_padded(FILE *out, const char *s, int width, bool right, bool last)
{
	int pad = width - text_width(s);

	if (right)
		fprintf(out, "%*s%s", pad > 0 ? pad : 0, "", s);
	else if (last)
		fputs(s, out);
	else
		fprintf(out, "%s%*s", s, pad > 0 ? pad : 0, "");
	fputs(last ? "\n" : "  ", out);
}

/* A table of N_ROWS rows of N_COLS escaped cells (row-major), under HEADS; RIGHT[i]: the
 * column holds numbers. */
static void table_print(FILE *out, const char *const *heads, char **cells, size_t n_rows,
			size_t n_cols, const bool *right)
{
	int w[REPORT_BY_N + SUM_COLS] = {0};

	for (size_t c = 0; c < n_cols; c++) {
		w[c] = text_width(heads[c]);
		for (size_t i = 0; i < n_rows; i++)
			if (text_width(cells[i * n_cols + c]) > w[c])
				w[c] = text_width(cells[i * n_cols + c]);
	}
	for (size_t c = 0; c < n_cols; c++)
		put_padded(out, heads[c], w[c], right[c], c == n_cols - 1);
	for (size_t i = 0; i < n_rows; i++)
		for (size_t c = 0; c < n_cols; c++)
			put_padded(out, cells[i * n_cols + c], w[c], right[c], c == n_cols - 1);
}

static void period_text(const struct spend_report *r, char *buf, size_t len)
{
	const struct report_query *q = r->q;

	if (*q->since && *q->until)
		snprintf(buf, len, "from %s to %s included, UTC", q->since, q->until);
	else if (*q->since)
		snprintf(buf, len, "from %s, UTC", q->since);
	else if (*q->until)
		snprintf(buf, len, "up to %s included, UTC", q->until);
	else
		snprintf(buf, len, "all the ledger holds");
}

static int print_table(const struct spend_report *r, FILE *out)
{
	const struct report_query *q = r->q;
	size_t n_cols = q->n_by + SUM_COLS, n_rows = r->n_rows + 1;
	const char *heads[REPORT_BY_N + SUM_COLS];
	bool right[REPORT_BY_N + SUM_COLS] = {0};
	char sums[SUM_COLS][COST_USD_TEXT_MAX + 2], period[80], by[64] = "";
	char **cells = calloc(n_rows * n_cols, sizeof(*cells));
	int err = 0;

	if (!cells)
		return -ENOMEM;
	for (size_t k = 0; k < q->n_by; k++) {
		heads[k] = key_names[q->by[k]];
		snprintf(by + strlen(by), sizeof(by) - strlen(by), "%s%s", k ? ", " : "", heads[k]);
	}
	for (size_t c = 0; c < SUM_COLS; c++) {
		heads[q->n_by + c] = sum_heads[c];
		right[q->n_by + c] = true;
	}
	for (size_t i = 0; i < n_rows; i++) {
		const struct spend_row *row = i < r->n_rows ? &r->rows[i] : NULL;

		sum_cells(row ? &row->s : &r->total, sums);
		for (size_t k = 0; k < q->n_by; k++)
			cells[i * n_cols + k] =
			    row ? report_escape(row->key[k]) : strdup(k ? "" : "total");
		for (size_t c = 0; c < SUM_COLS; c++)
			cells[i * n_cols + q->n_by + c] = strdup(sums[c]);
		for (size_t c = 0; c < n_cols; c++)
			if (!cells[i * n_cols + c])
				err = -ENOMEM;
	}
	if (err)
		goto out;
	period_text(r, period, sizeof(period));
	fprintf(out, "Spend by %s (%s)\n", by, period);
	table_print(out, heads, cells, n_rows, n_cols, right);
	if (r->total.unpriced)
		fprintf(out,
			"* cost USD sums the priced calls only: %lld call%s of unknown cost "
			"(\"unpriced\") left out, never counted as zero\n",
			(long long)r->total.unpriced, r->total.unpriced == 1 ? "" : "s");
	fprintf(out, "\nShadow AI: connections to AI services that did not go through the "
		     "gateway (denied or passed through)\n");
	if (!r->n_shadow) {
		fprintf(out, "none\n");
		goto out;
	}
	{
		static const char *const sh[] = {"workload", "process", "service", "action",
						 "connections"};
		static const bool sr[] = {false, false, false, false, true};
		char **sc = calloc(r->n_shadow * 5, sizeof(*sc));

		if (!sc) {
			err = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < r->n_shadow && !err; i++) {
			const struct shadow_row *s = &r->shadow[i];
			char n[24];

			snprintf(n, sizeof(n), "%lld", (long long)s->connections);
			sc[i * 5] = report_escape(s->workload);
			sc[i * 5 + 1] = report_escape(s->process);
			sc[i * 5 + 2] = report_escape(s->service);
			sc[i * 5 + 3] = report_escape(s->action);
			sc[i * 5 + 4] = strdup(n);
			for (size_t c = 0; c < 5; c++)
				if (!sc[i * 5 + c])
					err = -ENOMEM;
		}
		if (!err)
			table_print(out, sh, sc, r->n_shadow, 5, sr);
		for (size_t i = 0; i < r->n_shadow * 5; i++)
			free(sc[i]);
		free(sc);
	}
out:
	for (size_t i = 0; i < n_rows * n_cols; i++)
		free(cells[i]);
	free(cells);
	return err;
}

/* Two CSV tables, each under its header, a blank line between: the spend, a row per group
 * (no total row: a spreadsheet sums), then the shadow-AI connections. */
static void print_csv(const struct spend_report *r, FILE *out)
{
	const struct report_query *q = r->q;
	char usd[COST_USD_TEXT_MAX];

	for (size_t k = 0; k < q->n_by; k++)
		fprintf(out, "%s,", key_names[q->by[k]]);
	fprintf(out, "calls,errors,input_tokens,output_tokens,cached_tokens,reasoning_tokens,"
		     "cost_usd,cost_nano,unpriced_calls\n");
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct spend_row *row = &r->rows[i];
		const struct spend_sums *s = &row->s;

		for (size_t k = 0; k < q->n_by; k++)
			csv_field(out, row->key[k], false);
		fprintf(out, "%lld,%lld,%lld,%lld,%lld,%lld,", (long long)s->calls,
			(long long)s->errors, (long long)s->input, (long long)s->output,
			(long long)s->cached, (long long)s->reasoning);
		if (s->unpriced == s->calls)
			fprintf(out, ",,%lld\n", (long long)s->unpriced);
		else
			fprintf(out, "%s,%lld,%lld\n", cost_usd_text(s->cost_nano, usd),
				(long long)s->cost_nano, (long long)s->unpriced);
	}
	fprintf(out, "\nworkload,process,service,action,connections\n");
	for (size_t i = 0; i < r->n_shadow; i++) {
		const struct shadow_row *s = &r->shadow[i];

		csv_field(out, s->workload, false);
		csv_field(out, s->process, false);
		csv_field(out, s->service, false);
		csv_field(out, s->action, false);
		fprintf(out, "%lld\n", (long long)s->connections);
	}
}

static void json_sums(FILE *out, const struct spend_sums *s)
{
	char usd[COST_USD_TEXT_MAX];

	fprintf(out,
		"\"calls\":%lld,\"errors\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,"
		"\"cached_tokens\":%lld,\"reasoning_tokens\":%lld,",
		(long long)s->calls, (long long)s->errors, (long long)s->input,
		(long long)s->output, (long long)s->cached, (long long)s->reasoning);
	if (s->calls && s->unpriced == s->calls)
		fprintf(out, "\"cost_nano\":null,\"cost_usd\":null,");
	else
		fprintf(out, "\"cost_nano\":%lld,\"cost_usd\":\"%s\",", (long long)s->cost_nano,
			cost_usd_text(s->cost_nano, usd));
	fprintf(out, "\"unpriced_calls\":%lld", (long long)s->unpriced);
}

static void print_json(const struct spend_report *r, FILE *out)
{
	const struct report_query *q = r->q;

	fputs("{\"by\":[", out);
	for (size_t k = 0; k < q->n_by; k++)
		fprintf(out, "%s\"%s\"", k ? "," : "", key_names[q->by[k]]);
	fputs("],\"since\":", out);
	json_string(out, *q->since ? q->since : NULL);
	fputs(",\"until\":", out);
	json_string(out, *q->until ? q->until : NULL);
	fputs(",\"groups\":[", out);
	for (size_t i = 0; i < r->n_rows; i++) {
		fputs(i ? ",\n{" : "\n{", out);
		for (size_t k = 0; k < q->n_by; k++) {
			fprintf(out, "\"%s\":", key_names[q->by[k]]);
			json_string(out, r->rows[i].key[k]);
			fputc(',', out);
		}
		json_sums(out, &r->rows[i].s);
		fputc('}', out);
	}
	fputs("],\n\"total\":{", out);
	json_sums(out, &r->total);
	fputs("},\n\"shadow\":[", out);
	for (size_t i = 0; i < r->n_shadow; i++) {
		const struct shadow_row *s = &r->shadow[i];

		fputs(i ? ",\n{\"workload\":" : "\n{\"workload\":", out);
		json_string(out, s->workload);
		fputs(",\"process\":", out);
		json_string(out, s->process);
		fputs(",\"service\":", out);
		json_string(out, s->service);
		fputs(",\"action\":", out);
		json_string(out, s->action);
		fprintf(out, ",\"connections\":%lld}", (long long)s->connections);
	}
	fputs("]}\n", out);
}

/* The first moment after the UTC day DATE ("YYYY-MM-DD", valid), as compared with time. */
static void day_after(const char *date, char ret[11])
{
	struct tm tm = {.tm_year = atoi(date) - 1900,
			.tm_mon = atoi(date + 5) - 1,
			.tm_mday = atoi(date + 8) + 1};
	time_t t = timegm(&tm);

	gmtime_r(&t, &tm);
	strftime(ret, 11, "%Y-%m-%d", &tm);
}

int report_ledger_print(const char *db_path, const struct report_query *q, FILE *out, FILE *errs)
{
	struct spend_report r = {.q = q};
	sqlite3 *db = NULL;
	int err;

	if (!q->n_by)
		return -EINVAL;
	if (*q->since && *q->until && strcmp(q->since, q->until) > 0) {
		fprintf(errs, "aigw report: --since %s is after --until %s\n", q->since, q->until);
		return -EINVAL;
	}
	snprintf(r.since, sizeof(r.since), "%s", q->since);
	if (*q->until)
		day_after(q->until, r.until);
	err = ledger_open_readonly(db_path, errs, &db);
	if (!err)
		err = read_spend(&r, db, errs);
	if (!err)
		err = read_shadow(&r, db, errs);
	if (!err) {
		if (q->format == REPORT_TABLE)
			err = print_table(&r, out);
		else if (q->format == REPORT_CSV)
			print_csv(&r, out);
		else
			print_json(&r, out);
		if (err)
			fprintf(errs, "aigw report: %s\n", strerror(-err));
	}
	sqlite3_close(db);
	spend_report_free(&r);
	return err;
}
