/*
 * eventstream: the AWS event-stream framing (application/vnd.amazon.eventstream) that Bedrock's
 * ConverseStream and InvokeModelWithResponseStream answer in. A message is
 *
 *   total length (4, big-endian) | headers length (4) | prelude CRC32 (4, of the first 8)
 *   headers: name length (1) | name | type (1) | value (by type)
 *   payload
 *   message CRC32 (4, of everything before it)
 *
 * Header value types: 0 true, 1 false, 2 byte, 3 short, 4 int, 5 long, 6 byte array and
 * 7 string (a 2-byte length first), 8 timestamp (8), 9 UUID (16). Both CRCs are checked
 * (zlib's crc32); a message longer than the parser's limit, shorter than 16 bytes, or whose
 * headers do not fit in it is refused before anything is buffered past the limit.
 *
 * Ownership: struct evstream_parser owns its buffer (evstream_parser_free()); a message handed
 * to the callback points into the parser's buffer or the caller's data and lives only for
 * the call.
 */
#ifndef AIGW_PROVIDERS_EVENTSTREAM_H
#define AIGW_PROVIDERS_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define EVSTREAM_PRELUDE 12
#define EVSTREAM_MIN 16			     /* prelude + message CRC */
#define EVSTREAM_DEFAULT_MAX (16u << 20) /* Bedrock sends far smaller messages */

/* A string header's value, not NUL-terminated; {NULL, 0} when absent. */
struct evstream_str {
	const char *p;
	size_t len;
};

struct evstream_msg {
	struct evstream_str message_type;   /* ":message-type": "event", "exception", "error" */
	struct evstream_str event_type;	    /* ":event-type": "chunk", "metadata", ... */
	struct evstream_str exception_type; /* ":exception-type" */
	struct evstream_str error_code;	    /* ":error-code" (message type "error") */
	struct evstream_str content_type;   /* ":content-type" */
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *raw; /* the whole message, as framed */
	size_t total_len;   /* its bytes */
};

/*
 * Reads one message from BUF[0..LEN) into *RET: its length (> 0), 0 when LEN does not hold
 * all of it yet, -EMSGSIZE (its total length is past MAX or below 16, or its headers do not
 * fit), -EBADMSG (a CRC does not match, or a header is malformed).
 */
long evstream_parse(const uint8_t *buf, size_t len, size_t max, struct evstream_msg *ret);

/* The callback's verdict: 0 on, negative to stop the feed with that error. */
typedef int (*evstream_fn)(void *arg, const struct evstream_msg *m);

struct evstream_parser {
	evstream_fn fn;
	void *arg;
	size_t max;	 /* the longest message accepted */
	uint8_t *buf;	 /* a message's first bytes, when it spans feeds; owned */
	size_t len, cap; /* held, allocated */
	unsigned long messages;
	unsigned long parses; /* evstream_parse() runs on held bytes (tests: once a message) */
	int err;	      /* the first error; every later feed returns it */
};

void evstream_parser_init(struct evstream_parser *p, size_t max, evstream_fn fn, void *arg);
void evstream_parser_free(struct evstream_parser *p); /* frees the buffer, not P */

/* Feeds DATA[0..LEN): calls fn for every whole message. 0, or the first error (the parser's,
 * as evstream_parse(), -ENOMEM, or the callback's), which sticks. */
int evstream_feed(struct evstream_parser *p, const void *data, size_t len);

/* Whether the parser holds part of a message (at the end of a body: cut short). */
int evstream_pending(const struct evstream_parser *p);

/* One message with string headers NAMES[i] = VALUES[i] (N of them) and PAYLOAD, framed, into
 * BUF[SIZE]: its length, or -ENOSPC. For tests, benchmarks and the translator. */
long evstream_write(uint8_t *buf, size_t size, const char *const *names,
		    const char *const *values, size_t n, const void *payload, size_t payload_len);

#endif
