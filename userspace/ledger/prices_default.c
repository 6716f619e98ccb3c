/*
 * prices_default.c: the shipped price table (policies/prices.json), built into the binary so
 * that a daemon always has one; the policy's "prices" key replaces it. The bytes are
 * generated into build/prices_default.inc by the Makefile.
 */
#include <stddef.h>

#include "ledger/prices_default.h"

const char prices_default_json[] = {
#include "prices_default.inc"
    0};

const size_t prices_default_json_len = sizeof(prices_default_json) - 1;
