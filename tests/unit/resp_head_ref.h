/*
 * resp_head_ref.h: runs an answer through http_parser alone and through the proxy's way
 * (resp_head_execute() on the first read, http_parser for the rest: response.c's on_up_read),
 * each with callbacks that keep response.c's contract, and writes down everything the
 * callbacks saw, so that fuzz_resp_head and test_resp_head can compare the two. Header-only,
 * for the tests and the fuzz harness; the daemon never calls it.
 *
 * What is written down (struct rh_run): a log of events in order, each a type byte and its
 * bytes, where pieces of the same kind that follow each other are one event (http_parser
 * hands a value cut by a read boundary over in two pieces; response.c joins them): the
 * status reason (S), a name (F), a value (V), the head's end (H: status, version, flags,
 * Content-Length, upgrade, keep-alive as the parser has them), the body (B), the message's
 * end (M: keep-alive, flags, Content-Length, status); then the bytes consumed in all and the
 * parser's error. The callbacks act as response.c's: an interim (1xx) answer is skipped, a
 * HEAD's or 204/304's head ends its message (returns 1), each message's end pauses; and, as
 * knobs for the harness, the Nth callback may pause or fail and message ends may not pause.
 */
#ifndef AIGW_TESTS_RESP_HEAD_REF_H
#define AIGW_TESTS_RESP_HEAD_REF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <http_parser.h>

#include "proxy/resp_head.h"

#define RH_LOG_MAX (1u << 20)

struct rh_knobs {
	int head_request; /* the answer is to a HEAD */
	unsigned stop_at; /* the Nth callback (1-based; 0: none) pauses or fails */
	int stop_fails;	  /* ... fails (returns -1) rather than pauses */
	int keep_reading; /* message ends do not pause */
};

struct rh_run {
	const struct rh_knobs *k;
	unsigned calls;
	char *log; /* malloc'd, RH_LOG_MAX */
	size_t len;
	char last; /* type of the last event, for joining pieces */
	size_t consumed;
	int took_fast; /* resp_head_execute() took the first read */
	enum http_errno err;
};

static void rh_put(struct rh_run *r, char type, const void *at, size_t n)
{
	if (r->len + n + 2 > RH_LOG_MAX)
		abort();
	if (type != r->last || type == 'H' || type == 'M') {
		r->log[r->len++] = '|';
		r->log[r->len++] = type;
	}
	memcpy(r->log + r->len, at, n);
	r->len += n;
	r->last = type;
}

static void rh_state(struct rh_run *r, char type, const http_parser *p)
{
	unsigned long long st[8] = {p->status_code,
				    p->http_major,
				    p->http_minor,
				    p->flags,
				    p->content_length,
				    p->upgrade,
				    (unsigned long long)http_should_keep_alive(p),
				    0};

	rh_put(r, type, st, sizeof(st));
}

/* What the knobs make of the Nth callback: 0, or -1 when it fails (a pause is made here). */
static int rh_knob(http_parser *p)
{
	struct rh_run *r = p->data;

	if (++r->calls != r->k->stop_at)
		return 0;
	if (r->k->stop_fails)
		return -1;
	http_parser_pause(p, 1);
	return 0;
}

static int rh_on_begin(http_parser *p)
{
	return rh_knob(p);
}

static int rh_on_status(http_parser *p, const char *at, size_t n)
{
	rh_put(p->data, 'S', at, n);
	return rh_knob(p);
}

static int rh_on_field(http_parser *p, const char *at, size_t n)
{
	rh_put(p->data, 'F', at, n);
	return rh_knob(p);
}

static int rh_on_value(http_parser *p, const char *at, size_t n)
{
	rh_put(p->data, 'V', at, n);
	return rh_knob(p);
}

/* A head's or message's end written down (TYPE), then the knobs: 0 or -1. */
static int rh_on_end(http_parser *p, char type)
{
	rh_state(p->data, type, p);
	return rh_knob(p);
}

static int rh_on_headers_complete(http_parser *p)
{
	const struct rh_run *r = p->data;
	int rc = rh_on_end(p, 'H');

	if (rc || p->status_code / 100 == 1)
		return rc;
	return r->k->head_request || p->status_code == 204 || p->status_code == 304;
}

static int rh_on_body(http_parser *p, const char *at, size_t n)
{
	rh_put(p->data, 'B', at, n);
	return rh_knob(p);
}

static int rh_on_message_complete(http_parser *p)
{
	const struct rh_run *r = p->data;
	int rc = rh_on_end(p, 'M');

	if (!rc && p->status_code / 100 != 1 && !r->k->keep_reading &&
	    HTTP_PARSER_ERRNO(p) == HPE_OK)
		http_parser_pause(p, 1);
	return rc;
}

static const http_parser_settings rh_settings = {
    .on_message_begin = rh_on_begin,
    .on_status = rh_on_status,
    .on_header_field = rh_on_field,
    .on_header_value = rh_on_value,
    .on_headers_complete = rh_on_headers_complete,
    .on_body = rh_on_body,
    .on_message_complete = rh_on_message_complete,
};

/*
 * D (LEN bytes) read in pieces of at most STEP (the first piece FIRST bytes, when not 0), as
 * on_up_read reads: each piece parsed until it is used up or the parser stops, the fast path
 * tried on the first piece when FAST; then the end of the input (on_up_event's EOF).
 * R->log must be allocated; the rest of R is set here.
 */
static void rh_drive(struct rh_run *r, const struct rh_knobs *k, const char *d, size_t len,
		     size_t first, size_t step, int fast)
{
	http_parser p;
	size_t off = 0;
	int fresh = 1;

	r->k = k;
	r->calls = 0;
	r->len = 0;
	r->last = 0;
	r->consumed = 0;
	r->took_fast = 0;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = r;
	while (off < len && HTTP_PARSER_ERRNO(&p) == HPE_OK) {
		size_t piece = first && off == 0 ? first : step;
		size_t end = off + piece < len ? off + piece : len;

		while (off < end && HTTP_PARSER_ERRNO(&p) == HPE_OK) {
			size_t used;

			if (fast && fresh &&
			    resp_head_execute(&p, &rh_settings, d + off, end - off, k->head_request,
					      &used))
				r->took_fast = 1;
			else
				used = http_parser_execute(&p, &rh_settings, d + off, end - off);
			fresh = 0;
			off += used;
			r->consumed += used;
			if (!used)
				break;
		}
		if (off < end) /* stopped: what is left stays unread */
			break;
	}
	http_parser_execute(&p, &rh_settings, NULL, 0);
	r->err = HTTP_PARSER_ERRNO(&p);
}

/* Whether two runs saw the same. */
static int rh_same(const struct rh_run *a, const struct rh_run *b)
{
	return a->len == b->len && !memcmp(a->log, b->log, a->len) && a->consumed == b->consumed &&
	       a->err == b->err;
}

#endif
