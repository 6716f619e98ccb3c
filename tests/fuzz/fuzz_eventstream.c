/*
 * fuzz_eventstream: libFuzzer target for the AWS event-stream parser
 * (userspace/providers/eventstream.c) and Bedrock's stream usage (bedrock.c).
 *
 * The first input byte picks where the rest is cut in two and which stream kind reads it
 * (ConverseStream or InvokeModelWithResponseStream). The bytes are fed whole, cut in two there,
 * and one byte at a time; beyond what ASan/UBSan catch it checks that
 *   - feeds return only 0, -EBADMSG, -EMSGSIZE (or -ENOMEM), and an error sticks;
 *   - the three ways see the same messages (count, payload bytes) and the same result;
 *   - the parser never holds more than its limit;
 *   - the usage at the end is sane: counts >= 0, parts within the input.
 *
 *   /tmp/fuzz_eventstream -max_len=8192 tests/fuzz/corpus/eventstream
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "providers/bedrock.h"

#define MAX_FRAME 2048 /* small, so that the size limit is reached too */

struct run {
	struct bedrock_stream s;
	int err, end;
	struct usage u;
};

static void run(struct run *r, const uint8_t *d, size_t n, size_t cut, enum bedrock_op op)
{
	size_t off = 0;

	bedrock_stream_init(&r->s, op);
	r->s.parser.max = MAX_FRAME;
	r->err = 0;
	while (off < n) {
		size_t k = cut ? (off < cut ? cut - off : n - off) : 1;
		int e = bedrock_stream_feed(&r->s, d + off, k);

		CHECK(e == 0 || e == -EBADMSG || e == -EMSGSIZE || e == -ENOMEM);
		CHECK(!r->err || e == r->err);
		CHECK(r->s.parser.cap <= MAX_FRAME);
		if (!r->err)
			r->err = e;
		off += k;
	}
	r->end = bedrock_stream_end(&r->s, &r->u);
	CHECK(r->u.input >= 0 && r->u.output >= 0 && r->u.cached_input >= 0);
	CHECK(r->u.cached_input + r->u.cache_write <= r->u.input);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run a, b, c;
	enum bedrock_op op;
	size_t cut;

	if (size < 1)
		return 0;
	op = data[0] & 1 ? BEDROCK_INVOKE_STREAM : BEDROCK_CONVERSE_STREAM;
	data++;
	size--;
	cut = size ? (size_t)data[-1] * size / 256 : 0;
	run(&a, data, size, size ? size : 0, op);
	run(&b, data, size, cut ? cut : (size ? size : 0), op);
	run(&c, data, size, 0, op);
	CHECK(a.err == b.err && b.err == c.err);
	CHECK(a.end == b.end && b.end == c.end);
	CHECK(a.s.parser.messages == b.s.parser.messages &&
	      b.s.parser.messages == c.s.parser.messages);
	CHECK(a.u.input == c.u.input && a.u.output == c.u.output);
	bedrock_stream_free(&a.s);
	bedrock_stream_free(&b.s);
	bedrock_stream_free(&c.s);
	return 0;
}
