/*
 * headers: an HTTP header list as http-parser hands it over (names and values in pieces),
 * kept in one arena per message: no allocation per header. Knows which fields are hop-by-hop
 * (RFC 9110 7.6.1, plus any the Connection field names) and writes the others on.
 *
 * Ownership: a struct headers is embedded in its message; headers_free() releases the arena.
 * Its first HEADERS_ARENA_FIRST bytes are in the struct itself (no allocation for the usual
 * header block), so a struct headers is never copied or moved once a piece is in it.
 */
#ifndef AIGW_PROXY_HEADERS_H
#define AIGW_PROXY_HEADERS_H

#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>

#define HEADERS_MAX 128               /* fields per message; more is refused */
#define HEADERS_ARENA_MAX (256 * 1024) /* bytes of names and values per message */
#define HEADERS_ARENA_FIRST 2048       /* of them held in the struct (a power of two) */

/*
 * The fields the gateway itself reads, drops or writes, told apart once, when a name is
 * stored: the lookups and the hop-by-hop rules then compare small integers, not strings.
 * In order of name length (headers.c's table follows it); HDR_OTHER is every other name.
 */
enum header_id {
	HDR_OTHER,
	HDR_TE,
	HDR_HOST,
	HDR_EXPECT,
	HDR_API_KEY,
	HDR_TRAILER,
	HDR_UPGRADE,
	HDR_X_API_KEY,
	HDR_CONNECTION,
	HDR_KEEP_ALIVE,
	HDR_REQUEST_ID,
	HDR_SET_COOKIE,
	HDR_RETRY_AFTER,
	HDR_CONTENT_TYPE,
	HDR_X_REQUEST_ID,
	HDR_AUTHORIZATION,
	HDR_CONTENT_LENGTH,
	HDR_HTTP2_SETTINGS,
	HDR_OPENAI_PROJECT,
	HDR_RETRY_AFTER_MS,
	HDR_X_GOOG_API_KEY,
	HDR_ACCEPT_ENCODING,
	HDR_CONTENT_ENCODING,
	HDR_PROXY_CONNECTION,
	HDR_X_GOOG_FIELDMASK,
	HDR_TRANSFER_ENCODING,
	HDR_X_GOOG_QUOTA_USER,
	HDR_PROXY_AUTHENTICATE,
	HDR_OPENAI_ORGANIZATION,
	HDR_PROXY_AUTHORIZATION,
	HDR_X_GOOG_USER_PROJECT,
	HDR_X_HTTP_METHOD_OVERRIDE,
	HDR_ANTHROPIC_ORGANIZATION_ID,
	HDR_COUNT /* at most 64: struct headers keeps a bit for each */
};

/* The id of the field named NAME (LEN bytes, any case). */
enum header_id header_id_of(const char *name, size_t len);

struct header {
	uint32_t name;  /* offset of the NUL-terminated name in the arena */
	uint32_t value; /* offset of the value, or UINT32_MAX for an empty one */
	uint16_t name_len;
	uint8_t dropped;    /* hop-by-hop, or framing we redo: never forwarded */
	uint8_t id;	    /* enum header_id, set when the name is closed */
	uint32_t value_len; /* strlen() of the value, set when it is closed */
};

struct headers {
	char *arena; /* NULL, first, or allocated (owned) once it outgrew first */
	size_t len, cap;
	struct header v[HEADERS_MAX];
	char first[HEADERS_ARENA_FIRST]; /* the arena's first bytes: never zeroed, never read
					    past len */
	unsigned n;
	uint64_t seen; /* bit 1 << id for every id among the closed names */
	int open;     /* 0: nothing open, 1: a name, 2: a value is being received */
	int complete; /* headers_complete() ran: dropped flags are set */
};

/* Appends a piece of a name (IS_VALUE 0) or of a value. -1 when over the limits. */
int headers_piece(struct headers *h, int is_value, const char *data, size_t len);

/* The end of the header block: closes the last string and marks the dropped fields. */
void headers_complete(struct headers *h);

/* The value of the first field named NAME (case-insensitive), "" when empty, or NULL. */
const char *headers_get(const struct headers *h, const char *name);

/* The value of the first field of id ID (not HDR_OTHER), "" when empty, or NULL. */
const char *headers_find(const struct headers *h, enum header_id id);

/* Whether VALUE holds WORD (lower-case ASCII, its first byte a letter) in any case: what
 * strcasestr() tells in the C locale the daemon runs in, without its set-up (which cost more
 * than the rest of an answer's head). */
int headers_value_has(const char *value, const char *word);

/* How many fields are named NAME. */
unsigned headers_count(const struct headers *h, const char *name);

/*
 * A message head built in one piece on the stack and added to its evbuffer at once: every
 * append to a bufferevent's output runs its callbacks, and a request's head was six appends.
 * The bytes are those of the same appends made one by one; a head larger than the buffer goes
 * out in order, a buffer at a time. Owned by the caller; head_flush() before anything else
 * writes to OUT, and at the end.
 */
#define HEAD_BUF_BYTES 4096

struct head_buf {
	struct evbuffer *out;
	size_t len; /* bytes of buf not yet added to out */
	char buf[HEAD_BUF_BYTES];
};

void head_begin(struct head_buf *b, struct evbuffer *out);
void head_put(struct head_buf *b, const char *data, size_t len);
void head_flush(struct head_buf *b);

/* "HTTP/1.1 STATUS REASON\r\n" into B, REASON being LEN bytes as the provider sent them (a
 * reason over 31 bytes, or of a negative status, up to its first NUL: what the line printed
 * with "%.*s" held). */
void head_status_line(struct head_buf *b, int status, const char *reason, size_t len);

/* "NAME: PREFIXVALUE\r\n" (PREFIX may be NULL), into B. */
void head_field(struct head_buf *b, const char *name, const char *prefix, const char *value);

/* "NAME: N\r\n", N in decimal, into B. */
void head_field_u64(struct head_buf *b, const char *name, unsigned long long n);

/* "Name: value\r\n" for every field of H that is not dropped, into B. */
void head_fields(struct head_buf *b, const struct headers *h);

/* Writes "Name: value\r\n" for every field that is not dropped. */
void headers_write(const struct headers *h, struct evbuffer *out);

/* "NAME: PREFIXVALUE\r\n" onto OUT, in one append, without a format string. */
void headers_add(struct evbuffer *out, const char *name, const char *prefix, const char *value);

/* "NAME: N\r\n", N in decimal. */
void headers_add_u64(struct evbuffer *out, const char *name, unsigned long long n);

/* Marks every field named NAME as not to be forwarded (after headers_complete()). */
void headers_drop(struct headers *h, const char *name);

/* Empties the list (an interim 1xx response is followed by the real one). */
void headers_reset(struct headers *h);

void headers_free(struct headers *h);

/* How long a provider's answer H asks to be left alone, in ms: OpenAI's retry-after-ms, else
 * retry-after as seconds or as an HTTP date, capped at a day; -1 when it asks nothing (or
 * nothing readable). */
long headers_retry_after_ms(const struct headers *h);

#endif
