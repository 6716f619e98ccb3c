/*
 * fuzz_resp_head: libFuzzer target, differential, for the fast path of the provider's answer
 * head (userspace/proxy/resp_head.c) against plain http_parser, which it must match exactly:
 * resp_head_execute() on the first read and http_parser for the rest (as response.c's
 * on_up_read does) against http_parser alone, on the same bytes read the same way, with
 * recording callbacks that keep response.c's contract (tests/unit/resp_head_ref.h).
 *
 * Input: byte 0 the knobs (bit 0: the answer is to a HEAD; bit 1: the stopping callback
 * fails rather than pauses; bit 2: message ends do not pause), byte 1 which callback stops
 * (0: none), byte 2 where the first read ends; the rest is what the provider sent. It is read
 * whole, in two at that point, and a byte at a time. Aborts on any difference in accept or
 * refuse (the parser's error), status, the header list (names and values as delivered,
 * pieces joined), the head's end and the parser's state there (flags, Content-Length,
 * keep-alive), the body, the message's end, or the bytes consumed.
 *
 *   make build/fuzz/fuzz_resp_head && build/fuzz/fuzz_resp_head tests/fuzz/corpus/resp_head
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "resp_head_ref.h"

static struct rh_run ref, fast;

static void compare(const struct rh_knobs *k, const char *d, size_t len, size_t first, size_t step)
{
	rh_drive(&ref, k, d, len, first, step, 0);
	rh_drive(&fast, k, d, len, first, step, 1);
	if (!rh_same(&ref, &fast)) {
		fprintf(stderr,
			"differ (first %zu, step %zu, took fast %d): consumed %zu/%zu err %d/%d"
			" log %zu/%zu\n",
			first, step, fast.took_fast, ref.consumed, fast.consumed, ref.err, fast.err,
			ref.len, fast.len);
		CHECK(!"fast path and http_parser differ");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rh_knobs k;
	const char *d = (const char *)data + 3;
	size_t len, cut;

	if (size < 3)
		return 0;
	if (!ref.log && (!(ref.log = malloc(RH_LOG_MAX)) || !(fast.log = malloc(RH_LOG_MAX))))
		abort();
	k.head_request = data[0] & 1;
	k.stop_fails = !!(data[0] & 2);
	k.keep_reading = !!(data[0] & 4);
	k.stop_at = data[1];
	len = size - 3;
	cut = len ? (size_t)data[2] * len / 255 : 0;
	compare(&k, d, len, 0, len ? len : 1);
	if (cut && cut < len)
		compare(&k, d, len, cut, len);
	compare(&k, d, len, 0, 1);
	return 0;
}
