/*
 * bench_bedrock: what Bedrock costs the gateway per call beyond passing bytes on, in isolation:
 * re-signing the request with SigV4 (userspace/providers/sigv4.c) and reading a streamed
 * answer's event-stream framing and usage (eventstream.c, bedrock.c). Part of `make bench`;
 * a measurement, never a test.
 *
 * Rows (median ns per call over RUNS rounds, fastest and slowest beside it):
 *   sigv4 sign            one sigv4_sign() of a 1 KB Converse body (SHA-256 of the body,
 *                         the canonical request, four HMACs), against a SHA-256 of the same
 *                         body alone (the reference: what any integrity check costs)
 *   converse-stream       a 40-event ConverseStream answer fed as it comes (one message per
 *                         feed) to bedrock_stream_feed(), its usage read at the end, against
 *                         a memcpy of the same bytes
 *   invoke-stream         the same for a 40-chunk InvokeModelWithResponseStream answer (base64
 *                         Anthropic events; the usage ones parsed)
 * Each call's result is checked before timing (signature made, usage found).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "benchclock.h"
#include "providers/bedrock.h"
#include "providers/sigv4.h"

#define RUNS 15
#define EVENTS 40

static uint8_t conv[64 * 1024], inv[64 * 1024], sink[64 * 1024];
static size_t conv_len, inv_len, offs_conv[EVENTS + 2], offs_inv[EVENTS + 2];
static char body[1024];
static volatile unsigned long keep;

static long ev(uint8_t *buf, const char *type, const char *payload)
{
	static const char *const names[] = {":message-type", ":event-type", ":content-type"};
	const char *values[] = {"event", type, "application/json"};

	return evstream_write(buf, 4096, names, values, 3, payload, strlen(payload));
}

static long chunk(uint8_t *buf, const char *json)
{
	char b64[1024], payload[1200];

	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)json, (int)strlen(json));
	snprintf(payload, sizeof(payload), "{\"bytes\":\"%s\",\"p\":\"abcdefgh\"}", b64);
	return ev(buf, "chunk", payload);
}

static void build_streams(void)
{
	size_t i;

	for (i = 0; i < EVENTS - 1; i++) {
		offs_conv[i] = conv_len;
		conv_len += ev(conv + conv_len, "contentBlockDelta",
			       "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello there, wor\"},"
			       "\"p\":\"abcdefghij\"}");
		offs_inv[i] = inv_len;
		inv_len += chunk(inv + inv_len, i ? "{\"type\":\"content_block_delta\",\"index\":0,"
						    "\"delta\":{\"type\":\"text_delta\","
						    "\"text\":\"Hello there, wor\"}}"
						  : "{\"type\":\"message_start\",\"message\":{"
						    "\"usage\":{\"input_tokens\":25,"
						    "\"output_tokens\":1}}}");
	}
	offs_conv[i] = conv_len;
	conv_len += ev(conv + conv_len, "metadata",
		       "{\"usage\":{\"inputTokens\":25,\"outputTokens\":39,\"totalTokens\":64},"
		       "\"metrics\":{\"latencyMs\":100}}");
	offs_inv[i] = inv_len;
	inv_len += chunk(inv + inv_len, "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":39},"
					"\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":25,"
					"\"outputTokenCount\":39}}");
	offs_conv[EVENTS] = conv_len;
	offs_inv[EVENTS] = inv_len;
}

static int do_sign(void)
{
	static const struct sigv4_credentials c = {"AKIDEXAMPLE", "secretsecretsecretsecret", NULL};
	struct sigv4_request r = {
	    .method = "POST",
	    .host = "bedrock-runtime.us-east-1.amazonaws.com",
	    .path = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse",
	    .body = body,
	    .body_len = sizeof(body),
	    .region = "us-east-1",
	    .service = "bedrock",
	    .when = 1764782520,
	};
	struct sigv4_signed s;

	r.path_len = strlen(r.path);
	if (sigv4_sign(&r, &c, &s))
		return -1;
	keep += (unsigned char)s.authorization[200];
	return 0;
}

static int do_sha(void)
{
	unsigned char md[32];

	SHA256((const unsigned char *)body, sizeof(body), md);
	keep += md[0];
	return 0;
}

static int do_stream(enum bedrock_op op, const uint8_t *d, const size_t *offs)
{
	struct bedrock_stream s;
	struct usage u;
	int err = 0;

	bedrock_stream_init(&s, op);
	for (size_t i = 0; i < EVENTS && !err; i++)
		err = bedrock_stream_feed(&s, d + offs[i], offs[i + 1] - offs[i]);
	if (!err)
		err = bedrock_stream_end(&s, &u);
	bedrock_stream_free(&s);
	keep += (unsigned long)u.output;
	return err || u.output != 39 ? -1 : 0;
}

static int do_conv(void)
{
	return do_stream(BEDROCK_CONVERSE_STREAM, conv, offs_conv);
}

static int do_inv(void)
{
	return do_stream(BEDROCK_INVOKE_STREAM, inv, offs_inv);
}

static int do_copy_conv(void)
{
	for (size_t i = 0; i < EVENTS; i++)
		memcpy(sink, conv + offs_conv[i], offs_conv[i + 1] - offs_conv[i]);
	keep += sink[0];
	return 0;
}

static int do_copy_inv(void)
{
	for (size_t i = 0; i < EVENTS; i++)
		memcpy(sink, inv + offs_inv[i], offs_inv[i + 1] - offs_inv[i]);
	keep += sink[0];
	return 0;
}

struct row {
	const char *name;
	int (*fn)(void);
	unsigned long iters;
	double ns[RUNS];
};

static struct row rows[] = {
    {"sigv4 sign (1 KB body)", do_sign, 0, {0}},
    {"  reference: SHA-256 of the body", do_sha, 0, {0}},
    {"converse-stream usage (40 events)", do_conv, 0, {0}},
    {"  reference: memcpy of the stream", do_copy_conv, 0, {0}},
    {"invoke-stream usage (40 chunks)", do_inv, 0, {0}},
    {"  reference: memcpy of the stream", do_copy_inv, 0, {0}},
};

static double time_row(struct row *r)
{
	double t0 = now_ns();

	for (unsigned long i = 0; i < r->iters; i++)
		r->fn();
	return (now_ns() - t0) / (double)r->iters;
}

int main(void)
{
	const size_t n = sizeof(rows) / sizeof(rows[0]);

	memset(body, 'x', sizeof(body));
	build_streams();
	for (size_t i = 0; i < n; i++) {
		double t0;

		if (rows[i].fn()) {
			fprintf(stderr, "bench_bedrock: %s failed\n", rows[i].name);
			return 1;
		}
		t0 = now_ns();
		for (rows[i].iters = 0; now_ns() - t0 < 5e6; rows[i].iters++)
			rows[i].fn();
	}
	for (int run = 0; run < RUNS; run++)
		for (size_t i = 0; i < n; i++)
			rows[i].ns[run] = time_row(&rows[i]);
	printf("%-38s %12s %12s %12s\n", "bedrock (per call)", "median ns", "min", "max");
	for (size_t i = 0; i < n; i++) {
		qsort(rows[i].ns, RUNS, sizeof(double), cmp_double);
		printf("%-38s %12.0f %12.0f %12.0f\n", rows[i].name, rows[i].ns[RUNS / 2],
		       rows[i].ns[0], rows[i].ns[RUNS - 1]);
	}
	return keep == 42 ? 2 : 0;
}
