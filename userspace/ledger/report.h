/*
 * report: the audit log read back for people. `aigw report FILE...` prints the calls each
 * workload made (who, which process, which provider and model, status, latency) and every
 * provider-bound attempt capture refused, as short tables.
 */
#ifndef AIGW_LEDGER_REPORT_H
#define AIGW_LEDGER_REPORT_H

#include <stdio.h>

/* Prints the report of the audit files PATHS (oldest first) to OUT. 0, or -errno. */
int report_print(const char **paths, size_t n, FILE *out);

#endif
