/*
 * hex: the one hexadecimal encoder and decoder (SigV4's lower-case digests, the
 * percent-encodings of request paths, read and written). Nothing here allocates.
 */
#ifndef AIGW_UTIL_HEX_H
#define AIGW_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of the hex digit C (either case), or -1. */
int hex_digit(char c);

/* The byte the two hex digits P[0], P[1] spell, or -1 (either is not a hex digit, or LEFT,
 * the bytes readable from P, is under 2). */
int hex_byte(const char *p, size_t left);

/* D[0..N) as 2N lower-case hex digits and a NUL into OUT (2N + 1 bytes). */
void hex_encode(const void *d, size_t n, char *out);

/* V as 16 lower-case hex digits, zero-padded, and a NUL into OUT (17 bytes): what
 * snprintf(OUT, 17, "%016llx", V) writes. */
void hex_u64(uint64_t v, char *out);

/* C percent-encoded ("%2F": upper-case digits, RFC 3986's preference) into OUT[3]. */
void hex_percent(unsigned char c, char out[3]);

/* Percent-decodes S[0..N) into OUT (at least N bytes), *RET_LEN its length; every other
 * byte ('+' too) stays as it is. -EINVAL: a '%' not followed by two hex digits. */
int hex_percent_decode(const char *s, size_t n, char *out, size_t *ret_len);

#endif
