/* prices_default: the shipped price table's JSON text (see prices_default.c). */
#ifndef AIGW_LEDGER_PRICES_DEFAULT_H
#define AIGW_LEDGER_PRICES_DEFAULT_H

#include <stddef.h>

extern const char prices_default_json[];
extern const size_t prices_default_json_len;

#endif
