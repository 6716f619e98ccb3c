/* headers.c: the arena, lookups and the hop-by-hop rules (see headers.h). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include "proxy/headers.h"
#include "util/decimal.h"

/* The arena grown to hold NEED bytes: the struct's first bytes when they do, else an
 * allocation (the first bytes copied in, or a larger one). 0 or -1. */
static int arena_grow(struct headers *h, size_t need)
{
	size_t cap = h->cap ? h->cap : sizeof(h->first);
	char *p;

	while (cap < need)
		cap *= 2;
	if (cap > HEADERS_ARENA_MAX)
		return -1;
	if (cap == sizeof(h->first))
		p = h->first;
	else if (h->cap && h->arena != h->first)
		p = realloc(h->arena, cap);
	else if ((p = malloc(cap)) && h->cap)
		memcpy(p, h->first, h->len);
	if (!p)
		return -1;
	h->arena = p;
	h->cap = cap;
	return 0;
}

/* Appends LEN bytes, always leaving room for one more: the NUL close_open() writes. */
static int arena_add(struct headers *h, const char *data, size_t len)
{
	if (h->len + len + 1 > h->cap && arena_grow(h, h->len + len + 1))
		return -1;
	memcpy(h->arena + h->len, data, len);
	h->len += len;
	return 0;
}

/* Ends the open name or value with its NUL, in the byte arena_add() kept for it: never fails,
 * even with the arena at its limit (a value left unterminated would be read past its end). */
static void close_open(struct headers *h)
{
	int open = h->open;
	struct header *f;

	if (!open)
		return;
	h->open = 0;
	if (h->len >= h->cap) { /* the field's first piece found no arena (its error stopped the
				   parser): the field goes, as if never begun */
		h->n--;
		return;
	}
	h->arena[h->len++] = '\0';
	f = &h->v[h->n - 1];
	if (open == 2) { /* as the value is read from here on: up to its first NUL */
		f->value_len = (uint32_t)strlen(h->arena + f->value);
		return;
	}
	f->id = (uint8_t)header_id_of(h->arena + f->name, f->name_len);
	h->seen |= 1ull << f->id;
}

/* The names of enum header_id, HDR_TE onwards, by length; those of length L are
 * known[by_len[L]] up to known[by_len[L + 1]]. Each is padded with NULs to 32 bytes, so
 * that same_name() reads it 8 bytes at a time anywhere. Each starts with a letter, which a
 * name's first byte ORed with 0x20 equals only in either case: header_id_of() compares the
 * whole name only to the one (names of a length differ in their first letter) that it may be. */
static const char known[HDR_COUNT - 1][32] = {
    "te",
    "host",
    "expect",
    "api-key",
    "trailer",
    "upgrade",
    "x-api-key",
    "connection",
    "keep-alive",
    "request-id",
    "set-cookie",
    "retry-after",
    "content-type",
    "x-request-id",
    "authorization",
    "content-length",
    "http2-settings",
    "openai-project",
    "retry-after-ms",
    "x-goog-api-key",
    "accept-encoding",
    "content-encoding",
    "proxy-connection",
    "x-goog-fieldmask",
    "transfer-encoding",
    "x-goog-quota-user",
    "proxy-authenticate",
    "openai-organization",
    "proxy-authorization",
    "x-goog-user-project",
    "x-http-method-override",
    "anthropic-organization-id",
};
static const uint8_t by_len[] = {0,  0,	 0,  1,	 1,  2,	 2,  3,	 6,  6,	 7,  11, 12, 14,
				 15, 20, 21, 24, 26, 27, 30, 30, 30, 31, 31, 31, 32};
_Static_assert(sizeof(by_len) == sizeof("anthropic-organization-id") + 1, "a length per name");
_Static_assert(HDR_COUNT <= 64, "a bit per id in struct headers");

static inline uint64_t load64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Whether the 8 bytes of a name are LOW's, in any case. The known names are lower-case
 * letters, '-' and digits: the letters alone have bit 0x40, so (LOW & 0x40..) >> 1 is 0x20
 * where LOW has a letter. A name's byte ORed with that equals a letter only when it is that
 * letter in either case, and is compared as it is where LOW has no letter.
 */
static inline int word_is(uint64_t name, uint64_t low)
{
	return (name | ((low & 0x4040404040404040ull) >> 1)) == low;
}

/* Whether NAME (LEN bytes) is LOW (LEN lower-case bytes, padded to 32) in any case, as
 * strncasecmp() tells: 8 bytes at a time, the last 8 overlapping those before. */
static int same_name(const char *name, const char *low, size_t len)
{
	size_t i;

	if (len < 8) {
		for (i = 0; i < len; i++)
			if ((name[i] | ((low[i] & 0x40) >> 1)) != low[i])
				return 0;
		return 1;
	}
	for (i = 0; i + 8 < len; i += 8)
		if (!word_is(load64(name + i), load64(low + i)))
			return 0;
	return word_is(load64(name + len - 8), load64(low + len - 8));
}

enum header_id header_id_of(const char *name, size_t len)
{
	if (len + 1 >= sizeof(by_len))
		return HDR_OTHER;
	for (unsigned i = by_len[len]; i < by_len[len + 1]; i++)
		if ((name[0] | 0x20) == known[i][0] && same_name(name, known[i], len))
			return (enum header_id)(i + 1);
	return HDR_OTHER;
}

int headers_piece(struct headers *h, int is_value, const char *data, size_t len)
{
	struct header *f;

	/* Trailers of a chunked body come through the same callbacks after the header block
	 * ended: they are never forwarded, and never join the fields already checked. */
	if (h->complete)
		return 0;
	if (h->open != (is_value ? 2 : 1)) {
		close_open(h);
		if (!is_value) {
			if (h->n == HEADERS_MAX)
				return -1;
			f = &h->v[h->n++];
			f->name = h->len;
			f->value = UINT32_MAX;
			f->name_len = 0;
			f->dropped = 0;
			f->id = HDR_OTHER;
			f->value_len = 0;
		} else if (h->n) {
			h->v[h->n - 1].value = h->len;
		} else {
			return -1; /* a value before any name: the parser never does this */
		}
		h->open = is_value ? 2 : 1;
	}
	if (!is_value) {
		f = &h->v[h->n - 1];
		if (f->name_len + len > UINT16_MAX)
			return -1;
		f->name_len += len;
	}
	return arena_add(h, data, len);
}

static const char *value_of(const struct headers *h, const struct header *f)
{
	return f->value == UINT32_MAX ? "" : h->arena + f->value;
}

const char *headers_find(const struct headers *h, enum header_id id)
{
	if (!(h->seen & (1ull << id)))
		return NULL;
	for (unsigned i = 0; i < h->n; i++)
		if (h->v[i].id == id)
			return value_of(h, &h->v[i]);
	return NULL;
}

/* Whether field F is named NAME (LEN bytes, of id ID): a known name by its id, any other by
 * its bytes, any case. */
static int named(const struct headers *h, const struct header *f, enum header_id id,
		 const char *name, size_t len)
{
	if (id != HDR_OTHER)
		return f->id == id;
	return f->id == HDR_OTHER && f->name_len == len &&
	       !strncasecmp(h->arena + f->name, name, len);
}

const char *headers_get(const struct headers *h, const char *name)
{
	size_t n = strlen(name);
	enum header_id id = header_id_of(name, n);

	if (id != HDR_OTHER)
		return headers_find(h, id);
	for (unsigned i = 0; i < h->n; i++)
		if (named(h, &h->v[i], id, name, n))
			return value_of(h, &h->v[i]);
	return NULL;
}

/* Tried where a byte is the word's first letter: a try stops at its first wrong byte, and our
 * words are short. */
int headers_value_has(const char *value, const char *word)
{
	for (; *value; value++) {
		size_t i = 1;

		if ((*value | 0x20) != word[0]) /* a letter: either case, nothing else */
			continue;
		while (word[i] &&
		       (value[i] >= 'A' && value[i] <= 'Z' ? value[i] + 32 : value[i]) == word[i])
			i++;
		if (!word[i])
			return 1;
	}
	return 0;
}

/* Whether NAME (LEN bytes) appears as a token of the comma-separated LIST. */
static int token_in_list(const char *list, const char *name, size_t len)
{
	while (list && *list) {
		while (*list == ' ' || *list == '\t' || *list == ',')
			list++;
		if (!strncasecmp(list, name, len) &&
		    (list[len] == 0 || list[len] == ',' || list[len] == ' ' || list[len] == '\t'))
			return 1;
		list = strchr(list, ',');
	}
	return 0;
}

/* RFC 9110 7.6.1's hop-by-hop fields, and the framing and expectations we answer ourselves. */
#define BIT(id) (1ull << (id))
static const uint64_t always_dropped =
    BIT(HDR_TE) | BIT(HDR_EXPECT) | BIT(HDR_TRAILER) | BIT(HDR_UPGRADE) | BIT(HDR_CONNECTION) |
    BIT(HDR_KEEP_ALIVE) | BIT(HDR_CONTENT_LENGTH) | BIT(HDR_HTTP2_SETTINGS) |
    BIT(HDR_PROXY_CONNECTION) | BIT(HDR_TRANSFER_ENCODING) | BIT(HDR_PROXY_AUTHENTICATE) |
    BIT(HDR_PROXY_AUTHORIZATION);

void headers_complete(struct headers *h)
{
	const char *conn;

	close_open(h);
	conn = headers_find(h, HDR_CONNECTION);
	for (unsigned i = 0; i < h->n; i++) {
		struct header *f = &h->v[i];

		f->dropped = (always_dropped >> f->id) & 1 ||
			     (conn && token_in_list(conn, h->arena + f->name, f->name_len));
	}
	h->complete = 1;
}

/* The bytes headers_write() writes: "name: value\r\n" for each field not dropped. */
static size_t written_len(const struct headers *h)
{
	size_t total = 0;

	for (unsigned i = 0; i < h->n; i++) {
		const struct header *f = &h->v[i];

		if (!f->dropped)
			total += f->name_len + f->value_len + 4;
	}
	return total;
}

/* "NAME: PREFIXVALUE\r\n" of the lengths given at P; returns its end. */
static inline char *field_into(char *p, const char *name, size_t nn, const char *prefix, size_t np,
			       const char *value, size_t nv)
{
	memcpy(p, name, nn);
	memcpy(p + nn, ": ", 2);
	p += nn + 2;
	if (np)
		memcpy(p, prefix, np);
	memcpy(p + np, value, nv);
	memcpy(p + np + nv, "\r\n", 2);
	return p + np + nv + 2;
}

/* Every field not dropped at P (written_len() bytes). */
static void fields_into(const struct headers *h, char *p)
{
	for (unsigned i = 0; i < h->n; i++) {
		const struct header *f = &h->v[i];

		if (!f->dropped)
			p = field_into(p, h->arena + f->name, f->name_len, NULL, 0, value_of(h, f),
				       f->value_len);
	}
}

/* Every field at once into space reserved in OUT: one append, not four per field. */
void headers_write(const struct headers *h, struct evbuffer *out)
{
	size_t total = written_len(h);
	struct evbuffer_iovec v;

	if (!total || evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) < 1)
		return;
	fields_into(h, v.iov_base);
	v.iov_len = total;
	evbuffer_commit_space(out, &v, 1);
}

static void field_add(struct evbuffer *out, const char *name, size_t nn, const char *prefix,
		      size_t np, const char *value, size_t nv)
{
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(out, (ev_ssize_t)(nn + np + nv + 4), &v, 1) < 1)
		return;
	field_into(v.iov_base, name, nn, prefix, np, value, nv);
	v.iov_len = nn + np + nv + 4;
	evbuffer_commit_space(out, &v, 1);
}

void headers_add(struct evbuffer *out, const char *name, const char *prefix, const char *value)
{
	prefix = prefix ? prefix : "";
	field_add(out, name, strlen(name), prefix, strlen(prefix), value, strlen(value));
}

void headers_add_u64(struct evbuffer *out, const char *name, unsigned long long n)
{
	char digits[DECIMAL_U64_MAX + 1];

	*decimal_put_u64(digits, n) = '\0';
	headers_add(out, name, "", digits);
}

void head_begin(struct head_buf *b, struct evbuffer *out)
{
	b->out = out;
	b->len = 0;
}

void head_flush(struct head_buf *b)
{
	if (b->len)
		evbuffer_add(b->out, b->buf, b->len);
	b->len = 0;
}

/* Room for LEN more bytes in B's buffer, what it held flushed first when they do not fit
 * after it; NULL (all of it flushed) when they cannot fit at all. */
static char *head_room(struct head_buf *b, size_t len)
{
	if (len > sizeof(b->buf) - b->len) {
		head_flush(b);
		if (len > sizeof(b->buf))
			return NULL;
	}
	return b->buf + b->len;
}

void head_put(struct head_buf *b, const char *data, size_t len)
{
	char *p = head_room(b, len);

	if (!p) { /* past the buffer: as it comes, after what it held */
		evbuffer_add(b->out, data, len);
		return;
	}
	memcpy(p, data, len);
	b->len += len;
}

void head_status_line(struct head_buf *b, int status, const char *reason, size_t len)
{
	char num[24];
	size_t n;

	if (status >= 0)
		n = (size_t)(decimal_put_u64(num, (uint64_t)status) - num);
	else
		n = (size_t)snprintf(num, sizeof(num), "%d", status);
	if (status < 0 || len > 31) /* as "%.*s" printed it: up to a NUL (a short reason of a
				       status was copied whole) */
		len = strnlen(reason, len);
	head_put(b, "HTTP/1.1 ", 9);
	head_put(b, num, n);
	head_put(b, " ", 1);
	head_put(b, reason, len);
	head_put(b, "\r\n", 2);
}

void head_field(struct head_buf *b, const char *name, const char *prefix, const char *value)
{
	size_t nn = strlen(name), np = prefix ? strlen(prefix) : 0, nv = strlen(value);
	char *p = head_room(b, nn + np + nv + 4);

	if (!p) {
		field_add(b->out, name, nn, prefix, np, value, nv);
		return;
	}
	field_into(p, name, nn, prefix, np, value, nv);
	b->len += nn + np + nv + 4;
}

void head_field_u64(struct head_buf *b, const char *name, unsigned long long n)
{
	char digits[DECIMAL_U64_MAX + 1];

	*decimal_put_u64(digits, n) = '\0';
	head_field(b, name, NULL, digits);
}

void head_fields(struct head_buf *b, const struct headers *h)
{
	size_t total = written_len(h);
	char *p = head_room(b, total);

	if (!p) {
		headers_write(h, b->out);
		return;
	}
	fields_into(h, p);
	b->len += total;
}

void headers_reset(struct headers *h)
{
	h->len = 0;
	h->n = 0;
	h->seen = 0;
	h->open = 0;
	h->complete = 0;
}

void headers_free(struct headers *h)
{
	if (h->arena != h->first)
		free(h->arena);
	h->arena = NULL;
	h->cap = 0;
	headers_reset(h);
}

void headers_drop(struct headers *h, const char *name)
{
	size_t n = strlen(name);
	enum header_id id = header_id_of(name, n);

	if (!(h->seen & BIT(id)))
		return;
	for (unsigned i = 0; i < h->n; i++)
		if (named(h, &h->v[i], id, name, n))
			h->v[i].dropped = 1;
}

unsigned headers_count(const struct headers *h, const char *name)
{
	size_t n = strlen(name);
	enum header_id id = header_id_of(name, n);
	unsigned count = 0;

	if (!(h->seen & BIT(id)))
		return 0;
	for (unsigned i = 0; i < h->n; i++)
		count += named(h, &h->v[i], id, name, n);
	return count;
}

/* How long the provider asks to be left alone, in ms, or -1: OpenAI's retry-after-ms, else
 * retry-after as seconds or as an HTTP date (a day at most: longer than any backoff allows,
 * so not waited for); anything else is -1 (no wish). */
long headers_retry_after_ms(const struct headers *h)
{
	const char *ms = headers_find(h, HDR_RETRY_AFTER_MS),
		   *after = headers_find(h, HDR_RETRY_AFTER);
	char *end;
	struct tm tm = {0};
	double v;

	if (ms && (v = strtod(ms, &end)) >= 0 && end != ms && !*end)
		return (long)(v <= 86400e3 ? v : 86400e3);
	if (!after)
		return -1;
	v = strtod(after, &end);
	if (end != after && !*end) /* past a day: a wait longer than any backoff allows */
		return v >= 0 ? (long)((v <= 86400 ? v : 86400) * 1000) : -1;
	end = strptime(after, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	v = difftime(timegm(&tm), time(NULL));
	return v <= 0 ? 0 : (long)((v <= 86400 ? v : 86400) * 1000);
}
