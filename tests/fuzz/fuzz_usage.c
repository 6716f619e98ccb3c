/*
 * fuzz_usage: libFuzzer target for usage_from_body() (userspace/providers/usage.c): a whole
 * answer's usage read from its text in the acceptance walk (json_locate_accepted_in()) must
 * be what the adapters read from cJSON's whole tree of it (tests/unit/usage_ref.h), for every
 * API whose answers are read whole: the same result, the same struct usage byte for byte, the
 * same model. The input is the answer, as it came.
 *
 *   /tmp/fuzz_usage -max_len=4096 CORPUS tests/fuzz/corpus/sse
 */
#include "fuzz.h"
#include "usage_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = usage_ref_disagreement((const char *)data, size);

	if (*why)
		fprintf(stderr, "usage_from_body() and the tree differ: %s\n", why);
	CHECK(!*why);
	return 0;
}
