/*
 * ledger: the cost ledger, a SQLite database (WAL, policy key ledger.path) with a row per
 * call and a row per shadow-AI connection, for the spend reports (ledger/report.h).
 *
 * Fed from the audit records themselves: the daemon hands ledger_submit() the text of each
 * record it hands the audit log; a writer thread parses it and, for the records the ledger
 * keeps, writes a row, batched in one transaction per wake (at most LEDGER_FLUSH_MS after
 * the last). The same function turns a record into a row live and in ledger_rebuild(), so
 * a ledger rebuilt from the audit log holds the same rows.
 *
 *   calls   one row per "proxy.request" record (keyed by aigw.request_id): time (the call's
 *           start, RFC 3339 UTC), workload, team, cgroup, process and pid, provider, model
 *           asked and served, input, output, cached, cache-write and reasoning tokens (NULL:
 *           not reported), cost_nano (NULL: unknown, with cost_reason), attempts, status
 *           (NULL: no answer), outcome, latency_ms, stream, fallback.
 *   shadow  one row per connection to a known AI service that was not intercepted:
 *           "proxy.connection" (passed through) and "proxy.refused" (denied) records with
 *           aigw.ai_service: time, action (passthrough | denied), service, server name,
 *           workload, team, cgroup, process, pid, reason.
 * Indexed by time, and by team, workload, provider and model with time.
 *
 * Ownership: ledger_open() returns a ledger the caller ends with ledger_close(), which
 * writes what is queued first. ledger_submit() copies the text.
 * Threads: ledger_submit() and ledger_sync() from any thread; close once, after the last.
 */
#ifndef AIGW_LEDGER_LEDGER_H
#define AIGW_LEDGER_LEDGER_H

#include <stddef.h>
#include <stdio.h>

#include <sqlite3.h>

#define LEDGER_FLUSH_MS 200
#define LEDGER_MAX_QUEUED 100000 /* records not yet written; past it they are dropped */

struct ledger;

/* Opens (creating it 0600, its folders 0700) the ledger at PATH and starts its writer.
 * Returns 0 and *RET, or -errno with the reason on ERRS (see util/sqldb.h). */
int ledger_open(const char *path, FILE *errs, struct ledger **ret);

/* Writes what is queued, stops the writer and frees; NULL is fine. */
void ledger_close(struct ledger *l);

/* Queues a copy of the record TEXT (LEN bytes, one JSON object). Never touches the disk.
 * Returns 0, -ENOBUFS (LEDGER_MAX_QUEUED records wait: dropped, and counted in the log) or
 * -ENOMEM. */
int ledger_submit(struct ledger *l, const char *text, size_t len);

/* Blocks until every record submitted so far is written. 0, or -EIO when a write failed
 * since the last sync (its rows are lost; `aigw ledger rebuild` restores them). */
int ledger_sync(struct ledger *l);

/*
 * `aigw ledger rebuild`: the rows of every record of the audit log AUDIT_PATH and its rotated
 * siblings (oldest first) written to the ledger at DB_PATH (created when missing), in place
 * of the rows it held, in one transaction. Reports to OUT what it read and wrote. Returns 0
 * or -errno (reported on ERRS).
 */
int ledger_rebuild(const char *audit_path, const char *db_path, FILE *out, FILE *errs);

/* The ledger at PATH opened for reading only (reports): 0 and *RET, or -errno on ERRS. */
int ledger_open_readonly(const char *path, FILE *errs, sqlite3 **ret);

#endif
