/*
 * resp_head.c: the fast path for a provider's answer when it is simple and already whole in
 * the first bytes read (resp_head.h says what it promises). Most answers are: one
 * "HTTP/1.1 200 OK" line, a dozen "name: value" lines, one Content-Length, a small JSON body
 * that came in the same read. http_parser walks such an answer a byte at a time through its
 * state machine; here one scan checks it and notes where each piece lies, and a second pass
 * hands the pieces to the same callbacks.
 *
 * "Simple" is narrower than what http_parser accepts, never wider: HTTP/1.0 or 1.1; a
 * three-digit status from 200 to 599 but 204 and 304, after one space; lines ended by CRLF
 * (no bare CR or LF anywhere); names of token characters straight before their colon; values
 * without the control bytes http_parser refuses; no folded line; exactly one Content-Length of
 * digits alone; Connection only "keep-alive" or "close"; no Transfer-Encoding (nor a name
 * that starts with it), Upgrade or Proxy-Connection; not the answer to a HEAD; head and body
 * both within DATA. Whatever is not all of that is declined before anything is called, and
 * http_parser reads it as before (tests/fuzz/fuzz_resp_head.c runs both on the same bytes
 * and compares what they report).
 */
#include <limits.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <string.h>
#include <strings.h>

#include "proxy/resp_head.h"

#define RESP_HEAD_FIELDS_MAX 64 /* more lines than this: declined */
/* A longer head is declined: http_parser refuses one over HTTP_MAX_HEADER_SIZE (80 KiB), which
 * this path must never take (a read's first chunk is rarely over 32 KiB anyway). */
#define RESP_HEAD_BYTES_MAX (32 * 1024)
_Static_assert(RESP_HEAD_BYTES_MAX < HTTP_MAX_HEADER_SIZE, "never wider than http_parser");
#define RESP_HEAD_CL_DIGITS 18	/* within http_parser's overflow limit */

/* Where each piece of a simple head lies in DATA, found by resp_head_scan(). */
struct resp_head_field {
	uint32_t name, name_len;
	uint32_t value, value_len; /* an empty value lies at the next line's start */
};

struct resp_head_scan {
	unsigned status;
	unsigned minor;
	uint32_t reason_len; /* the reason starts at RESP_HEAD_REASON */
	uint32_t head_len;   /* through the blank line */
	unsigned n;
	unsigned flags; /* F_CONTENTLENGTH and F_CONNECTION_* as http_parser would set them */
	uint64_t content_length;
	struct resp_head_field f[RESP_HEAD_FIELDS_MAX];
};

#define RESP_HEAD_REASON 13 /* "HTTP/1.1 200 " */

/* Bytes of a name: http_parser's tokens without its space. */
static const unsigned char name_char[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* A byte of a value http_parser takes as it is: not CR, LF, another control byte but tab,
 * or DEL. */
static int value_byte(unsigned char c)
{
	return (c > 31 && c != 127) || c == '\t';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int name_is(const char *name, uint32_t len, const char *want)
{
	return len == strlen(want) && (name[0] | 0x20) == want[0] && !strncasecmp(name, want, len);
}

/* The status line: its end (after CRLF), or 0. */
static size_t scan_status_line(const char *d, size_t len, struct resp_head_scan *h)
{
	const char *cr;
	size_t i;

	if (len < RESP_HEAD_REASON + 2 || memcmp(d, "HTTP/1.", 7) || (d[7] != '0' && d[7] != '1') ||
	    d[8] != ' ' || !is_digit(d[9]) || !is_digit(d[10]) || !is_digit(d[11]) || d[12] != ' ')
		return 0;
	h->minor = (unsigned)(d[7] - '0');
	h->status =
	    (unsigned)(d[9] - '0') * 100 + (unsigned)(d[10] - '0') * 10 + (unsigned)(d[11] - '0');
	if (h->status < 200 || h->status > 599 || h->status == 204 || h->status == 304)
		return 0;
	cr = memchr(d + RESP_HEAD_REASON, '\r', len - RESP_HEAD_REASON);
	if (!cr || (size_t)(cr - d) + 1 >= len || cr[1] != '\n' ||
	    memchr(d + RESP_HEAD_REASON, '\n', (size_t)(cr - d) - RESP_HEAD_REASON))
		return 0;
	i = (size_t)(cr - d);
	h->reason_len = (uint32_t)(i - RESP_HEAD_REASON);
	return i + 2;
}

/* Content-Length: digits alone, once. */
static int note_content_length(struct resp_head_scan *h, const char *v, uint32_t len)
{
	uint64_t n = 0;

	if ((h->flags & F_CONTENTLENGTH) || !len || len > RESP_HEAD_CL_DIGITS)
		return -1;
	for (uint32_t i = 0; i < len; i++) {
		if (!is_digit(v[i]))
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	h->flags |= F_CONTENTLENGTH;
	h->content_length = n;
	return 0;
}

/* The fields http_parser reads for framing: the simple forms noted, the others declined. */
static int note_field(struct resp_head_scan *h, const char *d, const struct resp_head_field *f)
{
	const char *name = d + f->name, *v = d + f->value;

	/* http_parser takes a name that only starts with it for a Transfer-Encoding (and then
	 * refuses a Content-Length beside it) */
	if (f->name_len >= 17 && (name[0] | 0x20) == 't' &&
	    !strncasecmp(name, "transfer-encoding", 17))
		return -1;
	switch (f->name_len) {
	case 7:
		return name_is(name, f->name_len, "upgrade") ? -1 : 0;
	case 10:
		if (!name_is(name, f->name_len, "connection"))
			return 0;
		if (name_is(v, f->value_len, "keep-alive"))
			h->flags |= F_CONNECTION_KEEP_ALIVE;
		else if (name_is(v, f->value_len, "close"))
			h->flags |= F_CONNECTION_CLOSE;
		else
			return -1;
		return 0;
	case 14:
		return name_is(name, f->name_len, "content-length")
			   ? note_content_length(h, v, f->value_len)
			   : 0;
	case 16:
		return name_is(name, f->name_len, "proxy-connection") ? -1 : 0;
	}
	return 0;
}

/*
 * The first byte from I on that a value may not hold (a control byte but tab, or DEL), or LEN
 * when there is none: sixteen bytes at a time where there is SSE2 (every x86-64). A line is
 * simple when this is its CR: the name's bytes, its colon and the spaces after it are no such
 * byte either, so one scan finds the line's end and checks its value.
 */
static size_t line_end(const char *d, size_t len, size_t i)
{
#ifdef __SSE2__
	const __m128i max_ctl = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'),
		      del = _mm_set1_epi8(0x7f);

	for (; len - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(d + i));
		__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, max_ctl), x); /* <= 0x1f */
		__m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(x, tab), ctl),
					   _mm_cmpeq_epi8(x, del));
		unsigned mask = (unsigned)_mm_movemask_epi8(bad);

		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	while (i < len && value_byte((unsigned char)d[i]))
		i++;
	return i;
}

/* One "name: value" line from I: its end (after CRLF), or 0. */
static size_t scan_field(const char *d, size_t len, size_t i, struct resp_head_field *f)
{
	size_t e = line_end(d, len, i), start = i;

	/* CRLF, and the next line not a folded continuation */
	if (e + 2 >= len || d[e] != '\r' || d[e + 1] != '\n' || d[e + 2] == ' ' || d[e + 2] == '\t')
		return 0;
	/* to the CR at most: a zero ends each && before any byte past it is read */
	while (name_char[(unsigned char)d[i]] && name_char[(unsigned char)d[i + 1]] &&
	       name_char[(unsigned char)d[i + 2]] && name_char[(unsigned char)d[i + 3]])
		i += 4;
	while (name_char[(unsigned char)d[i]])
		i++;
	if (i == start || d[i] != ':')
		return 0;
	f->name = (uint32_t)start;
	f->name_len = (uint32_t)(i - start);
	for (i++; d[i] == ' ' || d[i] == '\t'; i++)
		;
	/* the value, I to E, holds no byte line_end() stops at */
	f->value = (uint32_t)(i == e ? e + 2 : i);
	f->value_len = (uint32_t)(e - i);
	return e + 2;
}

/* Whether DATA starts with a simple answer, whole; H says where its pieces lie. */
static int resp_head_scan(const char *d, size_t len, int head_request, struct resp_head_scan *h)
{
	size_t i;

	if (head_request || len > UINT32_MAX || !(i = scan_status_line(d, len, h)))
		return 0;
	h->n = 0;
	h->content_length = 0;
	h->flags = 0;
	while (!(i + 1 < len && d[i] == '\r' && d[i + 1] == '\n')) {
		struct resp_head_field *f = &h->f[h->n];

		if (h->n == RESP_HEAD_FIELDS_MAX || !(i = scan_field(d, len, i, f)) ||
		    note_field(h, d, f))
			return 0;
		h->n++;
	}
	h->head_len = (uint32_t)(i + 2);
	return h->head_len <= RESP_HEAD_BYTES_MAX && (h->flags & F_CONTENTLENGTH) &&
	       h->content_length <= len - h->head_len;
}

/* After a callback: its failure becomes ERR, as in http_parser; whether to stop. */
static int stopped(http_parser *rp, int rc, enum http_errno err)
{
	if (rc)
		rp->http_errno = err;
	return HTTP_PARSER_ERRNO(rp) != HPE_OK;
}

#define CB_NOTIFY(rp, s, cb) ((s)->cb ? (s)->cb(rp) : 0)
#define CB_DATA(rp, s, cb, at, n) ((s)->cb ? (s)->cb(rp, at, n) : 0)

/* The head's callbacks up to its last value. Returns 0, or where http_parser stops (+1:
 * its count of bytes consumed + 1) when a callback paused or failed. */
static size_t deliver_fields(http_parser *rp, const http_parser_settings *s, const char *d,
			     const struct resp_head_scan *h)
{
	if (stopped(rp, CB_NOTIFY(rp, s, on_message_begin), HPE_CB_message_begin))
		return 1 + 1;
	if (stopped(rp, CB_DATA(rp, s, on_status, d + RESP_HEAD_REASON, h->reason_len),
		    HPE_CB_status))
		return RESP_HEAD_REASON + h->reason_len + 1 + 1; /* through its CR */
	for (unsigned k = 0; k < h->n; k++) {
		const struct resp_head_field *f = &h->f[k];

		if (stopped(rp, CB_DATA(rp, s, on_header_field, d + f->name, f->name_len),
			    HPE_CB_header_field))
			return f->name + f->name_len + 1 + 1; /* through the colon */
		if (stopped(rp, CB_DATA(rp, s, on_header_value, d + f->value, f->value_len),
			    HPE_CB_header_value))
			/* a value through its CR; an empty one up to the next line */
			return (f->value_len ? f->value + f->value_len + 1 : f->value) + 1;
	}
	return 0;
}

/* The end of the head and the body, as http_parser's s_headers_almost_done, s_headers_done,
 * s_body_identity and s_message_done take them: what it consumes. */
static size_t deliver_body(http_parser *rp, const http_parser_settings *s, const char *d,
			   const struct resp_head_scan *h)
{
	size_t end = h->head_len + h->content_length;
	int rc;

	rp->flags = h->flags;
	rp->content_length = h->content_length;
	rp->upgrade = 0;
	rc = CB_NOTIFY(rp, s, on_headers_complete);
	if (rc == 2)
		rp->upgrade = 1;
	if (rc == 1 || rc == 2)
		rp->flags |= F_SKIPBODY;
	else if (stopped(rp, rc, HPE_CB_headers_complete))
		return h->head_len - 1; /* the head's last LF is read on the next call */
	if (HTTP_PARSER_ERRNO(rp) != HPE_OK)
		return h->head_len - 1;
	if ((rp->flags & F_SKIPBODY) || !h->content_length) {
		stopped(rp, CB_NOTIFY(rp, s, on_message_complete), HPE_CB_message_complete);
		return h->head_len;
	}
	rp->content_length = 0;
	if (stopped(rp, CB_DATA(rp, s, on_body, d + h->head_len, h->content_length), HPE_CB_body))
		return end - 1; /* the body's last byte is seen again for its end */
	stopped(rp, CB_NOTIFY(rp, s, on_message_complete), HPE_CB_message_complete);
	return end;
}

/* Whether RP is as http_parser_init() left it for a response. */
static int rp_fresh(const http_parser *rp)
{
	return rp->type == HTTP_RESPONSE && HTTP_PARSER_ERRNO(rp) == HPE_OK && !rp->nread &&
	       !rp->status_code && !rp->flags && !rp->content_length && !rp->lenient_http_headers;
}

int resp_head_execute(http_parser *rp, const http_parser_settings *settings, const char *data,
		      size_t len, int head_request, size_t *ret_used)
{
	struct resp_head_scan h;
	size_t stop;

	if (!rp_fresh(rp) || !resp_head_scan(data, len, head_request, &h))
		return 0;
	rp->flags = 0;
	rp->content_length = ULLONG_MAX;
	rp->http_major = 1;
	rp->http_minor = (unsigned short)h.minor;
	rp->status_code = h.status & 0xffff;
	stop = deliver_fields(rp, settings, data, &h);
	*ret_used = stop ? stop - 1 : deliver_body(rp, settings, data, &h);
	return 1;
}
