/*
 * report: the audit log read back for people. `aigw report FILE...` prints the calls each
 * workload made (who, which process, which provider and model, status, latency, tokens,
 * cost), every provider-bound attempt capture refused, one line per call that fell back
 * (what failed, with its status or error, and who answered, translated or not), and the
 * totals per provider and model and per workload, as short tables. A cost the record does
 * not know is never summed as zero: totals are of the priced calls, marked when some are
 * left out, and the reasons are listed.
 *
 * `aigw report --ledger DB` reads the cost ledger instead: see report_ledger_print().
 */
#ifndef AIGW_LEDGER_REPORT_H
#define AIGW_LEDGER_REPORT_H

#include <stddef.h>
#include <stdio.h>

/* Prints the report of the audit files PATHS (oldest first) to OUT. 0, or -errno. */
int report_print(const char **paths, size_t n, FILE *out);

/*
 * `aigw report --ledger DB` (report_ledger.c): the spend of the cost ledger (ledger.h)
 * grouped by the keys of --by, a row per key with calls, errors (no answer, or a status
 * outside 200-399, or an outcome other than ok), tokens and cost summed exactly from
 * integer nano-dollars, then the total; and the shadow-AI connections (denied or passed
 * through) by workload, process, service and action. Names are printed escaped.
 */
enum report_key {
	REPORT_BY_TEAM,
	REPORT_BY_WORKLOAD,
	REPORT_BY_PROVIDER,
	REPORT_BY_MODEL, /* the model the app asked for */
	REPORT_BY_DAY,	 /* the UTC day the call started */
	REPORT_BY_MONTH,
	REPORT_BY_N
};

enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON };

struct report_query {
	enum report_key by[REPORT_BY_N]; /* each at most once */
	size_t n_by;
	char since[11]; /* "" or a UTC day "YYYY-MM-DD": calls from its start */
	char until[11]; /* "" or a UTC day: calls up to its end (the day is included) */
	enum report_format format;
};

/* --by LIST ("workload,model") into Q->by; --since/--until TEXT into RET; --format TEXT
 * into Q->format. 0, or -EINVAL with what is wrong and what to write on ERRS. */
int report_parse_by(const char *list, struct report_query *q, FILE *errs);
int report_parse_date(const char *text, const char *flag, char ret[11], FILE *errs);
int report_parse_format(const char *text, struct report_query *q, FILE *errs);

/* Prints the report Q asks of the ledger DB_PATH to OUT. 0, or -errno with the reason on
 * ERRS (a missing, unreadable or foreign file: not a ledger). */
int report_ledger_print(const char *db_path, const struct report_query *q, FILE *out, FILE *errs);

/* S with control characters (C0, DEL, C1) and bytes that are not UTF-8 written as escapes
 * (\n, \t, \r, \x1b; a backslash as \\), safe for a terminal; "-" for NULL. The caller
 * frees it; NULL when out of memory. */
char *report_escape(const char *s);

#endif
