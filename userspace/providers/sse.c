/*
 * sse: the server-sent events parser (see sse.h).
 *
 * Owns the line splitting and the field rules. A line is parsed as its bytes come, whether
 * all in one slice or across many: its field name (at most 5 bytes matter) is collected,
 * then its value goes straight where the field keeps it (the data, the name, an id being
 * read, the retry digits) or nowhere (comments, unknown fields). So the bytes kept are the
 * same however the stream was cut, and every one held for the event counts against
 * max_event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/sse.h"

#define BUF_MIN 256

enum { LS_NAME, LS_SPACE, LS_VALUE, LS_SKIP };	 /* where in a line */
enum { F_NONE, F_DATA, F_EVENT, F_ID, F_RETRY }; /* the fields */

static const unsigned char bom_bytes[3] = {0xEF, 0xBB, 0xBF};

/* Makes room for N more bytes plus a NUL in B, never past MAX + 1 bytes in all. */
static int buf_reserve(struct sse_buf *b, size_t n, size_t max)
{
	size_t need, cap;
	char *np;

	if (n > max || b->len > max - n)
		return -EMSGSIZE;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN;
	while (cap < need)
		cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
	np = realloc(b->p, cap);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

static int buf_append(struct sse_buf *b, const void *s, size_t n, size_t max)
{
	int err = buf_reserve(b, n, max);

	if (err)
		return err;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void buf_clear(struct sse_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

/* The room left for the event's name and data. */
static size_t room(const struct sse_parser *p)
{
	size_t held = p->data.len + p->type.len;

	return held >= p->max_event ? 0 : p->max_event - held;
}

void sse_init(struct sse_parser *p, size_t max_event, sse_event_fn *fn, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->fn = fn;
	p->arg = arg;
	p->max_event = max_event ? max_event : SSE_MAX_EVENT_DEFAULT;
	p->retry_ms = -1;
}

void sse_free(struct sse_parser *p)
{
	if (!p)
		return;
	free(p->data.p);
	free(p->type.p);
	free(p->id.p);
	free(p->last_id.p);
	memset(&p->data, 0, sizeof(p->data));
	memset(&p->type, 0, sizeof(p->type));
	memset(&p->id, 0, sizeof(p->id));
	memset(&p->last_id, 0, sizeof(p->last_id));
}

uint64_t sse_committed(const struct sse_parser *p)
{
	return p->block_start;
}

const char *sse_last_id(const struct sse_parser *p)
{
	return p->last_id.p ? p->last_id.p : "";
}

/* A blank line: dispatches the event when a "data" line came, and starts the next. */
static int dispatch(struct sse_parser *p)
{
	struct sse_event ev;
	int r = 0;

	ev.start = p->block_start;
	ev.end = p->offset;
	p->block_start = p->offset;
	if (p->has_data) {
		p->data.len--; /* the last '\n' */
		p->data.p[p->data.len] = '\0';
		ev.type = p->type.len && p->type.p[0] ? p->type.p : NULL;
		ev.data = p->data.p;
		ev.data_len = p->data.len;
		r = p->fn ? p->fn(p->arg, &ev) : 0;
	}
	buf_clear(&p->data);
	buf_clear(&p->type);
	p->has_data = 0;
	return r < 0 ? r : 0;
}

static int field_of(const char *name, size_t n)
{
	if (n == 4 && !memcmp(name, "data", 4))
		return F_DATA;
	if (n == 5 && !memcmp(name, "event", 5))
		return F_EVENT;
	if (n == 2 && !memcmp(name, "id", 2))
		return F_ID;
	if (n == 5 && !memcmp(name, "retry", 5))
		return F_RETRY;
	return F_NONE;
}

/* Keeps what fits of the name; past that only its length counts (such a name is no field). */
static void name_bytes(struct sse_parser *p, const char *s, size_t n)
{
	size_t k;

	if (p->name_len < sizeof(p->name)) {
		k = sizeof(p->name) - p->name_len;
		memcpy(p->name + p->name_len, s, n < k ? n : k);
	}
	p->name_len += n;
}

/* The name is whole (a colon, or the end of the line came): its value follows. */
static void value_start(struct sse_parser *p)
{
	p->line_field = p->name_len <= sizeof(p->name) ? field_of(p->name, p->name_len) : F_NONE;
	p->value_bad = 0;
	p->value_len = 0;
	p->retry = 0;
	if (p->line_field == F_EVENT)
		buf_clear(&p->type); /* the new name replaces the old */
	if (p->line_field == F_ID)
		buf_clear(&p->id);
	p->line_state = p->line_field == F_NONE ? LS_SKIP : LS_SPACE;
}

static void retry_bytes(struct sse_parser *p, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && !p->value_bad; i++) {
		if (s[i] < '0' || s[i] > '9')
			p->value_bad = 1;
		else if (p->retry > (INT64_MAX - 9) / 10)
			p->retry = INT64_MAX; /* saturate: nobody waits that long anyway */
		else
			p->retry = p->retry * 10 + (s[i] - '0');
	}
}

/* N bytes of the value of the line's field. */
static int value_bytes(struct sse_parser *p, const char *s, size_t n)
{
	p->value_len += n;
	switch (p->line_field) {
	case F_DATA:
		return n > room(p) ? -EMSGSIZE : buf_append(&p->data, s, n, p->max_event);
	case F_EVENT:
		return n > room(p) ? -EMSGSIZE : buf_append(&p->type, s, n, p->max_event);
	case F_ID:
		/* An id with a NUL, or longer than an event may be, is ignored: keep none of it.
		 * Never an error: whether a NUL comes before the id outgrows the limit must not
		 * depend on how the stream was cut into reads. */
		if (p->value_bad || memchr(s, '\0', n) ||
		    buf_append(&p->id, s, n, p->max_event) == -EMSGSIZE)
			p->value_bad = 1;
		return 0;
	case F_RETRY:
		retry_bytes(p, s, n);
		return 0;
	}
	return 0;
}

/* N more bytes of the line being read, none of them a line end. */
static int line_bytes(struct sse_parser *p, const char *s, size_t n)
{
	const char *colon;
	size_t i = 0;

	if (!n)
		return 0;
	if (!p->line_len) {
		p->line_state = s[0] == ':' ? LS_SKIP : LS_NAME;
		p->name_len = 0;
	}
	p->line_len += n;
	if (p->line_state == LS_NAME) {
		colon = memchr(s, ':', n);
		i = colon ? (size_t)(colon - s) : n;
		name_bytes(p, s, i);
		if (!colon)
			return 0;
		value_start(p);
		i++;
	}
	if (p->line_state == LS_SPACE && i < n) {
		if (s[i] == ' ')
			i++; /* one space after the colon is not part of the value */
		p->line_state = LS_VALUE;
	}
	if (p->line_state == LS_VALUE && i < n)
		return value_bytes(p, s + i, n - i);
	return 0;
}

/* The line's end: a blank line dispatches, a field takes effect. */
static int line_end(struct sse_parser *p)
{
	struct sse_buf tmp;
	int err = 0;

	if (!p->line_len)
		return dispatch(p);
	p->line_len = 0;
	if (p->line_state == LS_NAME)
		value_start(p); /* a name alone: its value is empty */
	switch (p->line_state == LS_SKIP ? F_NONE : p->line_field) {
	case F_DATA:
		err = room(p) < 1 ? -EMSGSIZE : buf_append(&p->data, "\n", 1, p->max_event);
		p->has_data = 1;
		break;
	case F_ID:
		if (!p->value_bad) {
			tmp = p->last_id;
			p->last_id = p->id;
			p->id = tmp;
			buf_clear(&p->id);
		}
		break;
	case F_RETRY:
		if (!p->value_bad && p->value_len)
			p->retry_ms = p->retry;
		break;
	}
	return err;
}

/* Where the first CR or LF of S[0..N) is, or N. */
static size_t find_eol(const char *s, size_t n)
{
	const char *lf = memchr(s, '\n', n);
	const char *cr = memchr(s, '\r', lf ? (size_t)(lf - s) : n);

	if (cr)
		return cr - s;
	return lf ? (size_t)(lf - s) : n;
}

/* Skips a leading byte order mark, however it is split. Returns bytes consumed. */
static size_t skip_bom(struct sse_parser *p, const char *s, size_t n, int *err)
{
	size_t i = 0;
	unsigned k;

	while (p->bom < 3 && i < n) {
		if ((unsigned char)s[i] == bom_bytes[p->bom]) {
			p->bom++;
			i++;
			p->offset++;
			if (p->bom == 3)
				p->block_start = p->offset;
			continue;
		}
		k = p->bom; /* the bytes matched so far were the start of a line */
		p->bom = 3;
		*err = line_bytes(p, (const char *)bom_bytes, k);
	}
	return i;
}

int sse_feed(struct sse_parser *p, const void *buf, size_t len)
{
	const char *s = buf;
	size_t i = 0, n;
	int err = 0;

	if (p->err)
		return p->err;
	if (p->bom < 3)
		i = skip_bom(p, s, len, &err);
	while (!err && i < len) {
		if (p->cr) {
			p->cr = 0;
			if (s[i] == '\n') {
				if (p->block_start == p->offset)
					p->block_start++;
				p->offset++;
				i++;
				continue;
			}
		}
		n = find_eol(s + i, len - i);
		err = line_bytes(p, s + i, n);
		p->offset += n;
		if (err || i + n == len)
			break;
		p->cr = s[i + n] == '\r';
		p->offset++;
		err = line_end(p);
		i += n + 1;
	}
	if (err)
		p->err = err;
	return err;
}

char *sse_event_text(const char *event, const char *data, size_t *ret_len)
{
	size_t n = (event ? strlen(event) + 8 : 0) + strlen(data) + 8;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	*ret_len = (size_t)snprintf(out, n + 1, "%s%s%sdata: %s\n\n", event ? "event: " : "",
				    event ? event : "", event ? "\n" : "", data);
	return out;
}
