/*
 * report: the audit log read back for people. `aigw report FILE...` prints the calls each
 * workload made (who, which process, which provider and model, status, latency, tokens,
 * cost), every provider-bound attempt capture refused, one line per call that fell back
 * (what failed, with its status or error, and who answered, translated or not), and the
 * totals per provider and model and per workload, as short tables. A cost the record does
 * not know is never summed as zero: totals are of the priced calls, marked when some are
 * left out, and the reasons are listed.
 */
#ifndef AIGW_LEDGER_REPORT_H
#define AIGW_LEDGER_REPORT_H

#include <stdio.h>

/* Prints the report of the audit files PATHS (oldest first) to OUT. 0, or -errno. */
int report_print(const char **paths, size_t n, FILE *out);

#endif
