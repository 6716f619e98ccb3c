/*
 * fuzz_guard_scan: libFuzzer target for the guardrails' scanner (userspace/guard/scan.c).
 *
 * Any bytes are scanned by a scanner with every category and two user patterns (one ASCII,
 * one in UTF-8 mode), and beyond what ASan/UBSan catch it checks the contract:
 *   - guard_scan() returns 0 (no engine failure, no allocation failure here);
 *   - the spans are ordered by start, do not overlap, are not empty, lie inside the text
 *     and name a detector the scanner knows that is not an injection signal;
 *   - the signals name injection detectors only and the score is their weights' sum;
 *   - with room for one match only, n is the same and the one kept is the first;
 *   - no span is wider than guard_scanner_max_width().
 *
 *   make build/fuzz/fuzz_guard_scan
 *   build/fuzz/fuzz_guard_scan -max_len=4096 tests/fuzz/corpus/guard_scan
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "guard/scan.h"

#define MAX_MATCHES 256

static struct guard_scanner *scanner(void)
{
	static struct guard_scanner *s;
	static const struct guard_user_pattern patterns[] = {
	    {"codename", "(?i)\\bbluebird\\b"},
	    {"ticket", "ticket-[0-9]{2,8}|café[a-zé]{0,20}"},
	};
	char err[256];

	if (!s && guard_scanner_new(0x1f, patterns, 2, &s, err, sizeof(err))) {
		fprintf(stderr, "fuzz_guard_scan: %s\n", err);
		abort();
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guard_match m[MAX_MATCHES], one[1];
	struct guard_scanner *s = scanner();
	struct guard_scan_result r = {.matches = m, .max = MAX_MATCHES};
	struct guard_scan_result r1 = {.matches = one, .max = 1};
	unsigned count = guard_detector_count(s), d;
	double score = 0;
	size_t i;

	CHECK(guard_scan(s, (const char *)data, size, &r) == 0);
	for (i = 0; i < r.n && i < r.max; i++) {
		CHECK(m[i].start < m[i].end && m[i].end <= size);
		CHECK(m[i].end - m[i].start <= guard_scanner_max_width(s));
		CHECK(m[i].detector < count);
		CHECK(guard_detector_category(s, m[i].detector) != GUARD_CAT_INJECTION);
		if (i)
			CHECK(m[i - 1].end <= m[i].start);
	}
	for (d = 0; d < 32; d++) {
		if (!(r.signals & (1u << d)))
			continue;
		CHECK(d < count && guard_detector_category(s, d) == GUARD_CAT_INJECTION);
		score += guard_detector_weight(s, d);
	}
	CHECK(fabs(score - r.injection_score) < 1e-9);
	CHECK(guard_scan(s, (const char *)data, size, &r1) == 0);
	CHECK(r1.n == r.n && r1.signals == r.signals);
	if (r.n)
		CHECK(one[0].start == m[0].start && one[0].end == m[0].end &&
		      one[0].detector == m[0].detector);
	return 0;
}
