/*
 * fuzz.h: what every libFuzzer target here shares — the entry point's prototype and CHECK,
 * an invariant whose violation aborts with its text (libFuzzer keeps the input).
 */
#ifndef AIGW_FUZZ_H
#define AIGW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__);         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
