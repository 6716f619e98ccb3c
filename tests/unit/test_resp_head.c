/* test_resp_head.c: the answer head's fast path (proxy/resp_head.c) on the heads where it must
 * step aside, and on the simple ones it takes: each run both ways (tests/unit/resp_head_ref.h)
 * and required to give what http_parser alone gives, whole, cut at every point, and a byte at
 * a time; with every callback in turn pausing or failing. */
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "resp_head_ref.h"

static struct rh_run ref, fast;

#define BODY "{\"id\":\"chatcmpl-1\",\"usage\":{\"prompt_tokens\":3}}"

/* An OpenAI-like answer: status line, fields, one Content-Length, a JSON body. */
static const char simple[] = "HTTP/1.1 200 OK\r\n"
			     "Content-Type: application/json\r\n"
			     "x-request-id: req_1\r\n"
			     "X-Empty:\r\n"
			     "X-Ws: \t \r\n"
			     "X-Tab:\tv \t\r\n"
			     "X-High: caf\xc3\xa9\r\n"
			     "Content-Length: 47\r\n"
			     "\r\n" BODY;

/* Whether LEN bytes of D give the same both ways, however they are read and stopped; *TOOK:
 * whether the fast path took the whole read. */
static int same_every_way(const char *d, size_t len, int head_request, int *took)
{
	struct rh_knobs k = {.head_request = head_request};

	rh_drive(&ref, &k, d, len, 0, len, 0);
	rh_drive(&fast, &k, d, len, 0, len, 1);
	*took = fast.took_fast;
	if (!rh_same(&ref, &fast))
		return 0;
	for (size_t cut = 1; cut < len; cut++) {
		rh_drive(&ref, &k, d, len, cut, len, 0);
		rh_drive(&fast, &k, d, len, cut, len, 1);
		if (!rh_same(&ref, &fast))
			return 0;
	}
	for (k.stop_at = 1; k.stop_at < 16; k.stop_at++)
		for (k.stop_fails = 0; k.stop_fails < 2; k.stop_fails++)
			for (k.keep_reading = 0; k.keep_reading < 2; k.keep_reading++) {
				rh_drive(&ref, &k, d, len, 0, len, 0);
				rh_drive(&fast, &k, d, len, 0, len, 1);
				if (!rh_same(&ref, &fast))
					return 0;
			}
	return 1;
}

static void expect(const char *d, size_t len, int head_request, int taken)
{
	int took = -1;

	ASSERT_TRUE(same_every_way(d, len, head_request, &took));
	ASSERT_EQ(took, taken);
}

#define EXPECT(lit, taken) expect(lit, sizeof(lit) - 1, 0, taken)

static void test_simple_taken(void)
{
	struct rh_knobs k = {0};
	char two[1024];
	int n;

	EXPECT(simple, 1);
	rh_drive(&fast, &k, simple, sizeof(simple) - 1, 0, sizeof(simple), 1);
	ASSERT_TRUE(fast.took_fast);
	ASSERT_EQ(fast.consumed, sizeof(simple) - 1);
	ASSERT_EQ(fast.err, HPE_PAUSED);
	ASSERT_TRUE(memmem(fast.log, fast.len, "|BOK", 4) == NULL);
	ASSERT_TRUE(memmem(fast.log, fast.len, "|B" BODY, strlen(BODY) + 2) != NULL);
	ASSERT_TRUE(memmem(fast.log, fast.len, "|Fx-request-id|Vreq_1", 21) != NULL);
	/* whatever follows the body (a second answer, garbage) is left unread */
	n = snprintf(two, sizeof(two), "%sHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", simple);
	expect(two, (size_t)n, 0, 1);
	rh_drive(&fast, &k, two, (size_t)n, 0, (size_t)n, 1);
	ASSERT_EQ(fast.consumed, sizeof(simple) - 1);
	n = snprintf(two, sizeof(two), "%sgarbage", simple);
	expect(two, (size_t)n, 0, 1);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\n{}", 1);
	EXPECT("HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\n{}", 1);
	EXPECT("HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\nContent-Length: 2\r\n\r\n{}",
	       1);
	EXPECT("HTTP/1.1 500 x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 1);
	EXPECT("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", 1);
	EXPECT("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n{}", 1);
}

/* The keep-alive word of the state the log holds at M (rh_state()). */
static unsigned long long keepalive_at(const char *m)
{
	unsigned long long v;

	memcpy(&v, m + 2 + 6 * sizeof(v), sizeof(v));
	return v;
}

/* Keep-alive as http_parser has it at the message's end (the pool reads it). */
static void test_keepalive(void)
{
	static const char close_[] =
	    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
	static const char old[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	struct rh_knobs k = {0};
	const char *m;

	rh_drive(&fast, &k, close_, sizeof(close_) - 1, 0, sizeof(close_), 1);
	ASSERT_TRUE(fast.took_fast);
	m = memmem(fast.log, fast.len, "|M", 2);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(keepalive_at(m), 0);
	rh_drive(&fast, &k, old, sizeof(old) - 1, 0, sizeof(old), 1);
	m = memmem(fast.log, fast.len, "|M", 2);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(keepalive_at(m), 0);
	rh_drive(&fast, &k, simple, sizeof(simple) - 1, 0, sizeof(simple), 1);
	m = memmem(fast.log, fast.len, "|M", 2);
	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(keepalive_at(m), 1);
}

/* What a hostile or broken provider sends to have the proxy frame the answer otherwise than
 * http_parser does: all left to http_parser, which frames or refuses them as before. */
static void test_smuggling_declined(void)
{
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 12\r\n\r\n{}HTTP/1.1 200",
	       0);
	EXPECT(
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    0);
	EXPECT(
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
	    0);
	EXPECT("HTTP/1.1 200 OK\r\nTransfer-Encodingx: y\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n{}0123456789", 0);
	EXPECT("HTTP/1.1 200 OK\r\nX-A: one\r\n\ttwo\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nX-A: a\rContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 2 \r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nX-A: a\x01"
	       "b\r\nContent-Length: 2\r\n\r\n{}",
	       0);
	EXPECT("HTTP/1.1 200 OK\r\nX-A: a\x7f"
	       "b\r\nContent-Length: 2\r\n\r\n{}",
	       0);
	EXPECT("HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT(
	    "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: upgrade\r\nContent-Length: 2\r\n\r\n{}",
	    0);
	EXPECT("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n{}",
	       0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 200 OK\r\n\x80x: 1\r\nContent-Length: 2\r\n\r\n{}", 0);
}

/* A value's bytes are checked sixteen at a time with its line's end: a byte http_parser
 * refuses (or a bare CR or LF) at every offset of values of every length up to 40, after
 * names of three lengths (so at every offset of a block of sixteen, and last before the CR),
 * is declined and read by http_parser as before; a byte it takes there leaves the answer
 * taken. */
static void test_every_byte_of_a_value(void)
{
	static const unsigned char refused[] = {0x00, 0x01, 0x08, '\n', '\r', 0x1f, 0x7f};
	static const unsigned char taken[] = {'\t', ' ', 0x80, 0xff, '~', ':'};
	static const char *const names[] = {"X", "X-Long-Name", "X-Name-Of-Twenty-Six-Bytes"};
	char d[200];

	for (size_t k = 0; k < 3; k++)
		for (size_t vlen = 1; vlen <= 40; vlen++)
			for (size_t at = 0; at < vlen; at++)
				for (size_t b = 0; b < sizeof(refused) + sizeof(taken); b++) {
					int bad = b < sizeof(refused), n, took;
					size_t pos;

					n = snprintf(d, sizeof(d),
						     "HTTP/1.1 200 OK\r\n%s: ", names[k]);
					pos = (size_t)n;
					memset(d + pos, 'v', vlen);
					d[pos + at] =
					    (char)(bad ? refused[b] : taken[b - sizeof(refused)]);
					if (!bad && at == 0 && (d[pos] == ' ' || d[pos] == '\t'))
						d[pos] =
						    'v'; /* would be the space after the colon */
					if (!bad && at == vlen - 1 &&
					    (d[pos + at] == ' ' || d[pos + at] == '\t'))
						d[pos + at] =
						    'v'; /* trailing: http_parser keeps it */
					n = (int)(pos + vlen);
					n += snprintf(d + n, sizeof(d) - (size_t)n,
						      "\r\nContent-Length: 2\r\n\r\n{}");
					rh_drive(&ref, &(struct rh_knobs){0}, d, (size_t)n, 0,
						 (size_t)n, 0);
					rh_drive(&fast, &(struct rh_knobs){0}, d, (size_t)n, 0,
						 (size_t)n, 1);
					took = fast.took_fast;
					ASSERT_TRUE(rh_same(&ref, &fast));
					ASSERT_EQ(took, !bad);
				}
}

/* Answers without a body whatever they declare, and interim ones: http_parser's. */
static void test_bodyless_declined(void)
{
	EXPECT("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0);
	EXPECT("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello", 0);
	EXPECT("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0);
	EXPECT("HTTP/1.1 103 Early Hints\r\nContent-Length: 2\r\n\r\n{}", 0);
	expect(simple, sizeof(simple) - 1, 1, 0); /* to a HEAD */
}

/* A head of 60 fields of 1.5 KB (90 KB, over http_parser's 80 KiB HTTP_MAX_HEADER_SIZE):
 * http_parser refuses it (HPE_HEADER_OVERFLOW), so the fast path must decline it. Only the
 * whole read: cut at every byte it would take minutes. */
static void test_long_head_declined(void)
{
	static char d[96 * 1024];
	struct rh_knobs k = {0};
	size_t len = (size_t)snprintf(d, sizeof(d), "HTTP/1.1 200 OK\r\n");

	for (int f = 0; f < 60; f++) {
		len += (size_t)snprintf(d + len, sizeof(d) - len, "X-F%d: ", f);
		memset(d + len, 'v', 1500);
		len += 1500;
		len += (size_t)snprintf(d + len, sizeof(d) - len, "\r\n");
	}
	len += (size_t)snprintf(d + len, sizeof(d) - len, "Content-Length: 2\r\n\r\n{}");
	rh_drive(&ref, &k, d, len, 0, len, 0);
	rh_drive(&fast, &k, d, len, 0, len, 1);
	ASSERT_TRUE(rh_same(&ref, &fast));
	ASSERT_EQ(fast.took_fast, 0);
}

/* The fast path only ever starts an answer: a parser that has read anything is left alone. */
static void test_only_fresh(void)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct rh_run r = {.log = ref.log};
	struct rh_knobs k = {0};
	http_parser p;
	size_t used = 0;

	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &r;
	r.k = &k;
	ASSERT_EQ(http_parser_execute(&p, &rh_settings, cont, sizeof(cont) - 1), sizeof(cont) - 1);
	ASSERT_EQ(resp_head_execute(&p, &rh_settings, simple, sizeof(simple) - 1, 0, &used), 0);
	http_parser_init(&p, HTTP_RESPONSE);
	ASSERT_EQ(http_parser_execute(&p, &rh_settings, "HTTP/1.1 2", 10), 10);
	ASSERT_EQ(resp_head_execute(&p, &rh_settings, simple, sizeof(simple) - 1, 0, &used), 0);
}

/* The logs both runs write (freed at exit). */
static void test_setup(void)
{
	ASSERT_TRUE((ref.log = malloc(RH_LOG_MAX)) && (fast.log = malloc(RH_LOG_MAX)));
}

UNIT_MAIN(UNIT_CASE(test_setup), UNIT_CASE(test_simple_taken), UNIT_CASE(test_keepalive),
	  UNIT_CASE(test_smuggling_declined), UNIT_CASE(test_every_byte_of_a_value),
	  UNIT_CASE(test_bodyless_declined), UNIT_CASE(test_only_fresh),
	  UNIT_CASE(test_long_head_declined))
