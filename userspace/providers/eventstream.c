/*
 * eventstream.c: the AWS event-stream framing (see eventstream.h). A message that arrives whole
 * in one feed is read where it lies; only one that spans feeds is copied into the parser's
 * buffer, which grows to the largest such message and no further than the limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "providers/eventstream.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(0L, p, (uInt)n);
}

static void take_string(struct evstream_msg *m, const uint8_t *name, size_t name_len,
			const uint8_t *v, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} known[] = {
	    {":message-type", offsetof(struct evstream_msg, message_type)},
	    {":event-type", offsetof(struct evstream_msg, event_type)},
	    {":exception-type", offsetof(struct evstream_msg, exception_type)},
	    {":error-code", offsetof(struct evstream_msg, error_code)},
	    {":content-type", offsetof(struct evstream_msg, content_type)},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strlen(known[i].name) == name_len && !memcmp(known[i].name, name, name_len)) {
			struct evstream_str *s = (void *)((char *)m + known[i].off);

			s->p = (const char *)v;
			s->len = len;
		}
	}
}

/* The size of a header value of TYPE at P (END past the headers), or -1. */
static long value_size(uint8_t type, const uint8_t *p, const uint8_t *end)
{
	static const signed char fixed[10] = {0, 0, 1, 2, 4, 8, -2, -2, 8, 16};

	if (type > 9)
		return -1;
	if (fixed[type] >= 0)
		return fixed[type];
	if (end - p < 2)
		return -1;
	return 2 + (long)(p[0] << 8 | p[1]);
}

static int parse_headers(const uint8_t *p, const uint8_t *end, struct evstream_msg *m)
{
	while (p < end) {
		size_t name_len = p[0];
		const uint8_t *name = p + 1;
		long vs;

		if (!name_len || (size_t)(end - name) < name_len + 1)
			return -EBADMSG;
		p = name + name_len;
		vs = value_size(p[0], p + 1, end);
		if (vs < 0 || end - (p + 1) < vs)
			return -EBADMSG;
		if (p[0] == 7)
			take_string(m, name, name_len, p + 3, (size_t)vs - 2);
		p += 1 + vs;
	}
	return 0;
}

/* A message's prelude (EVSTREAM_PRELUDE bytes at BUF): 0, or why its message is refused. */
static int prelude_check(const uint8_t *buf, size_t max)
{
	uint32_t total = be32(buf), hlen = be32(buf + 4);

	if (be32(buf + 8) != crc(buf, 8))
		return -EBADMSG; /* the lengths themselves cannot be trusted */
	if (total < EVSTREAM_MIN || total > max || hlen > total - EVSTREAM_MIN)
		return -EMSGSIZE;
	return 0;
}

long evstream_parse(const uint8_t *buf, size_t len, size_t max, struct evstream_msg *ret)
{
	uint32_t total, hlen;
	int err;

	if (len < EVSTREAM_PRELUDE)
		return 0;
	err = prelude_check(buf, max);
	if (err)
		return err;
	total = be32(buf);
	hlen = be32(buf + 4);
	if (len < total)
		return 0;
	if (be32(buf + total - 4) != crc(buf, total - 4))
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	if (parse_headers(buf + EVSTREAM_PRELUDE, buf + EVSTREAM_PRELUDE + hlen, ret))
		return -EBADMSG;
	ret->payload = buf + EVSTREAM_PRELUDE + hlen;
	ret->payload_len = total - EVSTREAM_MIN - hlen;
	ret->raw = buf;
	ret->total_len = total;
	return (long)total;
}

void evstream_parser_init(struct evstream_parser *p, size_t max, evstream_fn fn, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->max = max ? max : EVSTREAM_DEFAULT_MAX;
	p->fn = fn;
	p->arg = arg;
}

void evstream_parser_free(struct evstream_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

int evstream_pending(const struct evstream_parser *p)
{
	return p->len > 0;
}

/* Reads every whole message of BUF[0..LEN); *USED: the bytes they took. */
static int feed_messages(struct evstream_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	struct evstream_msg m;
	size_t off = 0;
	long n;
	int err;

	while ((n = evstream_parse(buf + off, len - off, p->max, &m)) > 0) {
		off += (size_t)n;
		p->messages++;
		err = p->fn ? p->fn(p->arg, &m) : 0;
		if (err) {
			*used = off;
			return err;
		}
	}
	*used = off;
	return (int)n;
}

static int hold(struct evstream_parser *p, const uint8_t *d, size_t n)
{
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : 1024;
		uint8_t *b;

		while (cap < p->len + n)
			cap *= 2;
		if (cap > p->max)
			cap = p->max;
		b = realloc(p->buf, cap);
		if (!b)
			return -ENOMEM;
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, d, n);
	p->len += n;
	return 0;
}

/* With a message begun in the buffer: adds what it still needs from DATA, reads it once it
 * is whole. Its prelude is checked once, when the prelude is in (a buffer already past it was
 * checked before it was held): a message trickled a byte at a time costs no CRC per byte.
 * *TOOK: the bytes of DATA used. */
static int finish_held(struct evstream_parser *p, const uint8_t *data, size_t len, size_t *took)
{
	size_t want, used;
	int err;

	*took = 0;
	if (p->len < EVSTREAM_PRELUDE) {
		want = EVSTREAM_PRELUDE - p->len;
		want = want < len ? want : len;
		*took = want;
		err = hold(p, data, want);
		if (err || p->len < EVSTREAM_PRELUDE)
			return err;
		data += want;
		len -= want;
		err = prelude_check(p->buf, p->max);
		if (err)
			return err;
	}
	want = be32(p->buf) - p->len;
	want = want < len ? want : len;
	err = hold(p, data, want);
	*took += want;
	if (err || p->len < be32(p->buf))
		return err;
	p->parses++;
	err = feed_messages(p, p->buf, p->len, &used);
	if (used)
		p->len = 0;
	return err;
}

int evstream_feed(struct evstream_parser *p, const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t took, used;
	int err;

	if (p->err)
		return p->err;
	if (p->len) {
		err = finish_held(p, d, len, &took);
		if (err)
			return p->err = err;
		d += took;
		len -= took;
		if (p->len) /* still not whole: DATA is all taken */
			return 0;
	}
	err = feed_messages(p, d, len, &used);
	if (err)
		return p->err = err;
	if (used < len) {
		err = hold(p, d + used, len - used);
		if (err)
			return p->err = err;
	}
	return 0;
}

long evstream_write(uint8_t *buf, size_t size, const char *const *names,
		    const char *const *values, size_t n, const void *payload, size_t payload_len)
{
	size_t hlen = 0, total, off;

	for (size_t i = 0; i < n; i++)
		hlen += 1 + strlen(names[i]) + 1 + 2 + strlen(values[i]);
	total = EVSTREAM_MIN + hlen + payload_len;
	if (total > size || total > UINT32_MAX)
		return -ENOSPC;
	put_be32(buf, (uint32_t)total);
	put_be32(buf + 4, (uint32_t)hlen);
	put_be32(buf + 8, crc(buf, 8));
	off = EVSTREAM_PRELUDE;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]), vl = strlen(values[i]);

		buf[off++] = (uint8_t)nl;
		memcpy(buf + off, names[i], nl);
		off += nl;
		buf[off++] = 7;
		buf[off++] = (uint8_t)(vl >> 8);
		buf[off++] = (uint8_t)vl;
		memcpy(buf + off, values[i], vl);
		off += vl;
	}
	if (payload_len)
		memcpy(buf + off, payload, payload_len);
	off += payload_len;
	put_be32(buf + off, crc(buf, off));
	return (long)total;
}
