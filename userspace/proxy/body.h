/*
 * body: a response body as the gateway reads it (never as it forwards it): decoded from its
 * Content-Encoding, and checked for the shape its Content-Type promises. The bytes the client
 * gets are always the provider's own.
 */
#ifndef AIGW_PROXY_BODY_H
#define AIGW_PROXY_BODY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes IN per ENCODING (NULL or "identity": a copy; "gzip", "x-gzip", "deflate") into a
 * new buffer of at most MAX bytes, NUL-terminated; the caller frees *RET. Returns 0,
 * -EOPNOTSUPP for an encoding we cannot read (br), -EBADMSG for corrupt data, -EFBIG past MAX.
 */
int body_decode(const char *encoding, const uint8_t *in, size_t len, size_t max, char **ret,
		size_t *ret_len);

/* Whether TEXT[0..LEN) is one JSON value (and nothing else but whitespace). */
int body_is_json(const char *text, size_t len);

/* Whether the first bytes of a text/event-stream body look like SSE (a field name, a comment
 * or a blank line); LEN may be short: it is judged on what there is. */
int body_looks_like_sse(const char *text, size_t len);

#endif
