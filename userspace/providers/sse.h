/*
 * sse: an incremental parser of server-sent events (text/event-stream), as the WHATWG HTML
 * standard's "Interpreting an event stream" reads them, for watching a provider's streamed
 * response go by.
 *
 * It only observes. The proxy forwards the provider's bytes itself; sse_feed() reads them
 * where they are (any slice, split anywhere: inside a line, between CR and LF, inside a
 * byte order mark) and keeps nothing of the stream but what the event being read is made
 * of: its name and its data (and the last event ID). Lines are parsed as their bytes come,
 * never buffered, so the bytes kept do not depend on where the slices were cut. An event's
 * name and data together may take MAX_EVENT bytes (data counting one '\n' per line), an
 * event ID as many; past that is an error (-EMSGSIZE), never unbounded growth.
 *
 * The format, as read here:
 *   - lines end with CRLF, LF or CR; one leading UTF-8 byte order mark is skipped;
 *   - "field: value" or "field:value" (one space after the colon is dropped) or "field"
 *     alone (the value is empty); a line starting with ':' is a comment;
 *   - "event" sets the event's name; "data" appends its value and a '\n' to the data;
 *     "id" sets the last event ID unless the value has a NUL; "retry" sets the reconnection
 *     time when the value is ASCII digits only; other fields are ignored;
 *   - a blank line dispatches the event: if no "data" line came, nothing is dispatched;
 *     otherwise the data's last '\n' is removed and the callback runs. Either way the
 *     name and data start again empty (the last event ID persists, as the standard says);
 *   - an event not yet ended by a blank line is never dispatched; at the end of a stream it
 *     is simply discarded (the caller stops feeding).
 * Bytes are not decoded: names and data are the stream's bytes (the providers send UTF-8
 * JSON), and data may hold any byte, NUL included (hence DATA_LEN).
 *
 * Stream offsets: every event carries [start, end), the bytes of the stream it was read
 * from (from the first byte of its first line to the end of the blank line that ended it),
 * and sse_committed() tells up to where the stream is made of whole events, comments and
 * blank lines. Together they let a caller hold back the event being read and drop a whole
 * event from what it forwards (see usage.h: the usage chunk the gateway asked for).
 * When the blank line ended with a lone CR, an LF right after it belongs to that line end
 * but is not in [start, end) (it may not have arrived); forwarded alone, it reads as one
 * more blank line, which dispatches nothing.
 *
 * Ownership: struct sse_parser is the caller's (embedded or on the stack); sse_init() fills
 * it, sse_free() releases the buffers it grew. The struct sse_event handed to the callback,
 * and the strings in it, belong to the parser and live until the callback returns.
 */
#ifndef AIGW_PROVIDERS_SSE_H
#define AIGW_PROVIDERS_SSE_H

#include <stddef.h>
#include <stdint.h>

#define SSE_MAX_EVENT_DEFAULT (8u << 20) /* 8 MiB: one event's name and data */

struct sse_event {
	const char *type; /* the "event" field, NUL-terminated; NULL when absent or "" */
	const char *data; /* the "data" lines joined by '\n'; data[data_len] is '\0' */
	size_t data_len;
	uint64_t start, end; /* the stream bytes [start, end) the event was read from */
};

/* Called once per dispatched event. Returns 0, or a negative errno that stops the parser:
 * sse_feed() returns it, then and on every later call. */
typedef int sse_event_fn(void *arg, const struct sse_event *ev);

/* A growing byte buffer; internal. */
struct sse_buf {
	char *p;
	size_t len, cap;
};

struct sse_parser {
	sse_event_fn *fn;
	void *arg;
	size_t max_event; /* bytes one event's name and data may take */
	int err;	  /* sticky: the first error, then every sse_feed() returns it */

	uint64_t offset;      /* stream bytes consumed */
	uint64_t block_start; /* offset of the first byte after the last blank line */
	unsigned bom;	      /* bytes of a leading byte order mark matched, 3 = settled */
	int cr;		      /* the last byte was a CR ending a line: skip one LF */
	int has_data;	      /* a "data" line came since the last blank line */

	/* The line being read, parsed as it comes. */
	size_t line_len;  /* bytes of it so far */
	int line_state;	  /* name, one optional space, value, or skipped (comment, unknown) */
	int line_field;	  /* which field the name is */
	char name[8];	  /* the name so far (field names are at most 5 bytes) */
	size_t name_len;  /* bytes of name seen, even past sizeof(name) */
	int value_bad;	  /* "id": a NUL; "retry": not a digit */
	int64_t retry;	  /* "retry": the digits so far */
	size_t value_len; /* bytes of value so far */

	struct sse_buf data;	/* the event's data, each line followed by '\n' */
	struct sse_buf type;	/* the event's name, NUL-terminated */
	struct sse_buf id;	/* an "id" value being read */
	struct sse_buf last_id; /* the last event ID, NUL-terminated ("" at first) */
	int64_t retry_ms;	/* the last "retry" value, -1 when none came */
};

/* Sets P up to call FN(ARG, event) per event; MAX_EVENT 0 means SSE_MAX_EVENT_DEFAULT. */
void sse_init(struct sse_parser *p, size_t max_event, sse_event_fn *fn, void *arg);

/*
 * Reads LEN bytes of the stream (the next ones after those already fed), calling the
 * callback for each event they complete. Returns 0, -EMSGSIZE (an event would exceed
 * max_event), -ENOMEM, or the callback's negative return. After an error, nothing more is
 * parsed and every call returns that error. Whatever the cuts, the same stream gives the
 * same events and the same result, though an error may come a slice earlier or later.
 */
int sse_feed(struct sse_parser *p, const void *buf, size_t len);

/* The stream offset up to which every byte belongs to a dispatched event, a discarded
 * block (comments, fields without data) or a blank line: where the event being read starts.
 * Bytes from there on may still turn out to be part of an event. */
uint64_t sse_committed(const struct sse_parser *p);

/* The last event ID ("" when none), NUL-terminated; valid until the next sse_feed(). */
const char *sse_last_id(const struct sse_parser *p);

/* Frees the buffers; P may be set up again with sse_init(). NULL is fine. */
void sse_free(struct sse_parser *p);

/* One event as a stream carries it: "event: EVENT\n" (left out when EVENT is NULL), then
 * "data: DATA\n\n" (DATA on one line). Returns it (NUL-terminated, *RET_LEN bytes; the
 * caller frees) or NULL when out of memory. */
char *sse_event_text(const char *event, const char *data, size_t *ret_len);

#endif
