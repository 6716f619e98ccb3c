/* test_sse.c: the server-sent events parser reads events as the WHATWG standard does, the
 * same however the stream is cut into slices, and refuses an event past its size limit. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "providers/sse.h"
#include "unit.h"

/* Every event as text: "[start,end) type|data\n", with bytes below ' ' as \xNN. */
struct log {
	char buf[16384];
	size_t len;
	unsigned n;
	int fail_after; /* the callback fails on this event (1-based); 0: never */
};

static void log_add(struct log *l, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && l->len + 5 < sizeof(l->buf); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < ' ' || c == '|' || c == '\\')
			l->len += snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "\\x%02x", c);
		else
			l->buf[l->len++] = (char)c;
	}
	l->buf[l->len] = '\0';
}

static int on_event(void *arg, const struct sse_event *ev)
{
	struct log *l = arg;
	char span[64];

	l->n++;
	snprintf(span, sizeof(span), "[%llu,%llu) ", (unsigned long long)ev->start,
		 (unsigned long long)ev->end);
	log_add(l, span, strlen(span));
	if (ev->type)
		log_add(l, ev->type, strlen(ev->type));
	else
		log_add(l, "(none)", 6);
	log_add(l, "=", 1);
	log_add(l, ev->data, ev->data_len);
	if (l->len + 1 < sizeof(l->buf)) {
		l->buf[l->len++] = '\n';
		l->buf[l->len] = '\0';
	}
	if (ev->data[ev->data_len] != '\0')
		return -EPROTO;
	return l->fail_after && l->n == (unsigned)l->fail_after ? -ECANCELED : 0;
}

/* Parses S (N bytes) fed in slices of STEP bytes (0: all at once) into L. */
static int parse(const char *s, size_t n, size_t step, size_t max, struct log *l)
{
	struct sse_parser p;
	size_t i, k;
	int err = 0;

	memset(l, 0, sizeof(*l));
	sse_init(&p, max, on_event, l);
	for (i = 0; i < n && !err; i += k) {
		k = step && step < n - i ? step : n - i;
		err = sse_feed(&p, s + i, k);
	}
	sse_free(&p);
	return err;
}

/* Parses S cut in two at CUT. */
static int parse_cut(const char *s, size_t n, size_t cut, size_t max, struct log *l)
{
	struct sse_parser p;
	int err;

	memset(l, 0, sizeof(*l));
	sse_init(&p, max, on_event, l);
	err = sse_feed(&p, s, cut);
	if (!err)
		err = sse_feed(&p, s + cut, n - cut);
	sse_free(&p);
	return err;
}

#define PARSE(s, l) parse(s, sizeof(s) - 1, 0, 0, l)

static void test_one_event(void)
{
	struct log l;

	ASSERT_OK(PARSE("data: hello\n\n", &l));
	ASSERT_EQ(l.n, 1);
	ASSERT_STREQ(l.buf, "[0,13) (none)=hello\n");
}

static void test_named_multiline(void)
{
	struct log l;

	ASSERT_OK(PARSE("event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\n"
			"data: first\ndata: second\ndata:\ndata: fourth\n\n",
			&l));
	ASSERT_EQ(l.n, 3);
	ASSERT_STREQ(l.buf, "[0,27) add=73857293\n"
			    "[27,53) remove=2153\n"
			    "[53,98) (none)=first\\x0asecond\\x0a\\x0afourth\n");
}

/* The same stream with LF, CRLF and CR line ends, and mixed. */
static void test_line_ends(void)
{
	static const char lf[] = "event: a\ndata: 1\ndata: 2\n\n: c\ndata: 3\n\n";
	static const char crlf[] = "event: a\r\ndata: 1\r\ndata: 2\r\n\r\n: c\r\ndata: 3\r\n\r\n";
	static const char cr[] = "event: a\rdata: 1\rdata: 2\r\r: c\rdata: 3\r\r";
	static const char mixed[] = "event: a\r\ndata: 1\rdata: 2\n\r\n: c\rdata: 3\n\r";
	struct log a, b;

	ASSERT_OK(PARSE(lf, &a));
	ASSERT_EQ(a.n, 2);
	ASSERT_CONTAINS(a.buf, " a=1\\x0a2\n");
	ASSERT_CONTAINS(a.buf, " (none)=3\n");
	ASSERT_OK(PARSE(crlf, &b));
	ASSERT_EQ(b.n, 2);
	ASSERT_CONTAINS(b.buf, " a=1\\x0a2\n");
	ASSERT_CONTAINS(b.buf, "[30,");
	ASSERT_OK(PARSE(cr, &b));
	ASSERT_EQ(b.n, 2);
	ASSERT_STREQ(b.buf, a.buf);
	ASSERT_OK(PARSE(mixed, &b));
	ASSERT_EQ(b.n, 2);
	ASSERT_CONTAINS(b.buf, " a=1\\x0a2\n");
	ASSERT_CONTAINS(b.buf, " (none)=3\n");
}

static void test_comments_and_fields(void)
{
	struct log l;

	/* comments anywhere; a field without colon has an empty value; one space is dropped;
	 * unknown fields are ignored; no data means no event, and the name does not stay */
	ASSERT_OK(PARSE(": hello\n\n:\ndata:x\n: mid-event comment\ndata:  two spaces\nfoo: bar\n\n"
			"event: lost\n\n"
			"data\n\n"
			"data:\n\n"
			"data: after\n\n",
			&l));
	ASSERT_EQ(l.n, 4);
	ASSERT_STREQ(l.buf, "[9,66) (none)=x\\x0a two spaces\n"
			    "[79,85) (none)=\n"
			    "[85,92) (none)=\n"
			    "[92,105) (none)=after\n");
}

static void test_id_retry(void)
{
	struct sse_parser p;
	struct log l = {0};
	static const char s[] = "id: 7\nretry: 3000\ndata: x\n\nretry: 12a\nid\0z: 1\nid: a\0b\n\n";

	sse_init(&p, 0, on_event, &l);
	ASSERT_OK(sse_feed(&p, s, sizeof(s) - 1));
	ASSERT_EQ(l.n, 1);
	ASSERT_STREQ(sse_last_id(&p), "7"); /* "id" with a NUL is ignored */
	ASSERT_EQ(p.retry_ms, 3000);	    /* "12a" is not digits */
	ASSERT_OK(sse_feed(&p, "id\ndata: y\n\n", 12));
	ASSERT_STREQ(sse_last_id(&p), ""); /* an empty id resets it */
	sse_free(&p);
}

static void test_partial_event_not_dispatched(void)
{
	struct log l;

	ASSERT_OK(PARSE("data: a\n\ndata: b\n", &l));
	ASSERT_EQ(l.n, 1);
	ASSERT_OK(PARSE("data: a\n\ndata: b", &l));
	ASSERT_EQ(l.n, 1);
	ASSERT_OK(PARSE("data: a\n\ndata: b\r", &l));
	ASSERT_EQ(l.n, 1);
	ASSERT_OK(PARSE("data: a\n\ndata: b\r\n\r", &l)); /* the CR is a blank line */
	ASSERT_EQ(l.n, 2);
}

static void test_bom(void)
{
	struct log a, b;
	static const char s[] = "\xEF\xBB\xBF"
				"data: x\n\n\xEF\xBB\xBF"
				"data: y\n\n";
	size_t cut;

	ASSERT_OK(PARSE(s, &a));
	ASSERT_EQ(a.n, 1);
	/* only the leading one is skipped; the second is part of a field name */
	ASSERT_STREQ(a.buf, "[3,12) (none)=x\n");
	for (cut = 0; cut <= sizeof(s) - 1; cut++) {
		ASSERT_OK(parse_cut(s, sizeof(s) - 1, cut, 0, &b));
		ASSERT_STREQ(b.buf, a.buf);
	}
	/* the first bytes of a mark, then something else: they are content */
	ASSERT_OK(PARSE("\xEF\xBB:x\ndata: z\n\n", &b));
	ASSERT_EQ(b.n, 1);
	ASSERT_STREQ(b.buf, "[0,14) (none)=z\n");
}

/* The streams below give the same events however they are cut: in two at every byte, and
 * one byte at a time. */
static const char *const streams[] = {
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9}}\n\n"
    "data: [DONE]\n\n",
    "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n"
    "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
    ": keepalive\r\n\r\n"
    "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n",
    "event: a\rdata: 1\r\rdata: 2\rdata: 3\r\r\r\n\r\ndata: 4\n\r\n\r",
    "\xEF\xBB\xBFid: 1\nretry: 10\ndata\n\n:\n\nevent:\ndata:\n\ndata: last",
};

static void test_split_everywhere(void)
{
	struct log whole, cut;
	size_t i, n, k;

	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		n = strlen(streams[i]);
		ASSERT_OK(parse(streams[i], n, 0, 0, &whole));
		ASSERT_TRUE(whole.n >= 2);
		for (k = 0; k <= n; k++) {
			ASSERT_OK(parse_cut(streams[i], n, k, 0, &cut));
			if (strcmp(cut.buf, whole.buf))
				UNIT_FAIL("stream %zu cut at %zu:\n%s\nexpected:\n%s", i, k,
					  cut.buf, whole.buf);
		}
		for (k = 1; k <= 7; k++) {
			ASSERT_OK(parse(streams[i], n, k, 0, &cut));
			ASSERT_STREQ(cut.buf, whole.buf);
		}
	}
}

/* A field name longer than the eight bytes the parser keeps of it (a provider may send any
 * name) is an unknown field, whether it comes whole or a byte at a time. */
static void test_long_field_name(void)
{
	static const char s[] = "datadatadata: x\nevent_type_long: y\n"
				"data: kept\n0123456789abcdef\n\n";
	struct log whole, cut;
	size_t n = sizeof(s) - 1, k;

	ASSERT_OK(parse(s, n, 0, 0, &whole));
	ASSERT_STREQ(whole.buf, "[0,64) (none)=kept\n");
	for (k = 1; k <= 9; k++) {
		ASSERT_OK(parse(s, n, k, 0, &cut));
		ASSERT_STREQ(cut.buf, whole.buf);
	}
	for (k = 0; k <= n; k++) {
		ASSERT_OK(parse_cut(s, n, k, 0, &cut));
		ASSERT_STREQ(cut.buf, whole.buf);
	}
}

static void test_committed(void)
{
	struct sse_parser p;
	struct log l = {0};

	sse_init(&p, 0, on_event, &l);
	ASSERT_OK(sse_feed(&p, "data: a\n\ndata: b", 16));
	ASSERT_EQ(sse_committed(&p), 9); /* the second event is still being read */
	ASSERT_OK(sse_feed(&p, "\n", 1));
	ASSERT_EQ(sse_committed(&p), 9);
	ASSERT_OK(sse_feed(&p, "\r", 1)); /* a blank line: the event is done */
	ASSERT_EQ(l.n, 2);
	ASSERT_EQ(sse_committed(&p), 18);
	ASSERT_OK(sse_feed(&p, "\n", 1)); /* the LF of that CRLF belongs to nothing new */
	ASSERT_EQ(sse_committed(&p), 19);
	ASSERT_OK(sse_feed(&p, ": c\n", 4));
	ASSERT_EQ(sse_committed(&p), 19);
	ASSERT_OK(sse_feed(&p, "\n", 1));
	ASSERT_EQ(sse_committed(&p), 24);
	sse_free(&p);
}

static void test_oversized(void)
{
	char big[200];
	struct sse_parser p;
	struct log l = {0};
	size_t k;

	/* 64 bytes hold an event of up to 64 bytes of data + name */
	memset(big, 'x', sizeof(big));
	memcpy(big, "data: ", 6);
	memcpy(big + 6 + 63, "\n\n", 2); /* 63 bytes of data and its '\n' */
	ASSERT_OK(parse(big, 6 + 63 + 2, 0, 64, &l));
	ASSERT_EQ(l.n, 1);
	big[6 + 63] = 'x';
	memcpy(big + 6 + 64, "\n\n", 2);
	ASSERT_EQ(parse(big, 6 + 64 + 2, 0, 64, &l), -EMSGSIZE);
	ASSERT_EQ(l.n, 0);
	for (k = 1; k < 6 + 64 + 2; k++) {
		ASSERT_EQ(parse_cut(big, 6 + 64 + 2, k, 64, &l), -EMSGSIZE);
		ASSERT_EQ(l.n, 0);
	}
	/* many small lines add up; a data line counts before it ends */
	ASSERT_EQ(parse("data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n", 51, 0, 32, &l),
		  -EMSGSIZE);
	memset(big + 6, 'x', sizeof(big) - 6); /* no line end at all */
	ASSERT_EQ(parse(big, sizeof(big), 7, 64, &l), -EMSGSIZE);
	/* a long comment or unknown field is not kept, so it is no problem */
	memset(big, 'c', sizeof(big));
	big[0] = ':';
	big[sizeof(big) - 1] = '\n';
	ASSERT_OK(parse(big, sizeof(big), 7, 64, &l));
	memcpy(big, "foo: ", 5);
	ASSERT_OK(parse(big, sizeof(big), 0, 64, &l));
	/* the error stays */
	sse_init(&p, 16, on_event, &l);
	ASSERT_EQ(sse_feed(&p, "data: 0123456789abcdef\n\n", 24), -EMSGSIZE);
	ASSERT_EQ(sse_feed(&p, "data: a\n\n", 9), -EMSGSIZE);
	sse_free(&p);
}

/* An id longer than an event may be is ignored, never an error: before, whether the stream
 * failed with -EMSGSIZE depended on whether a NUL later in the id arrived in the same read
 * (the fuzzer found the two ways parse differently). */
static void test_long_id_ignored_however_cut(void)
{
	char s[200];
	struct log l = {0};
	size_t n, k;

	memset(s, 'i', sizeof(s));
	memcpy(s, "id: ", 4);
	s[100] = '\0'; /* past the 64-byte limit, a NUL */
	n = 150;
	memcpy(s + n, "\ndata: x\n\n", 10);
	n += 10;
	for (k = 0; k <= n; k++) {
		ASSERT_OK(k ? parse_cut(s, n, k, 64, &l) : parse(s, n, 1, 64, &l));
		ASSERT_EQ(l.n, 1);
	}
	s[100] = 'i'; /* no NUL: too long all the same, ignored */
	ASSERT_OK(parse(s, n, 0, 64, &l));
	ASSERT_EQ(l.n, 1);
}

static void test_callback_error_stops(void)
{
	struct sse_parser p;
	struct log l = {0};

	l.fail_after = 1;
	sse_init(&p, 0, on_event, &l);
	ASSERT_EQ(sse_feed(&p, "data: a\n\ndata: b\n\n", 18), -ECANCELED);
	ASSERT_EQ(l.n, 1);
	ASSERT_EQ(sse_feed(&p, "data: c\n\n", 9), -ECANCELED);
	ASSERT_EQ(l.n, 1);
	sse_free(&p);
}

UNIT_MAIN(UNIT_CASE(test_one_event), UNIT_CASE(test_named_multiline), UNIT_CASE(test_line_ends),
	  UNIT_CASE(test_comments_and_fields), UNIT_CASE(test_id_retry),
	  UNIT_CASE(test_partial_event_not_dispatched), UNIT_CASE(test_bom),
	  UNIT_CASE(test_split_everywhere), UNIT_CASE(test_committed), UNIT_CASE(test_oversized),
	  UNIT_CASE(test_callback_error_stops), UNIT_CASE(test_long_field_name),
	  UNIT_CASE(test_long_id_ignored_however_cut))
