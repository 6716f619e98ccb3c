/*
 * hex.c: hexadecimal digits, both ways, and percent-encoding built on them (see hex.h).
 */
#include <errno.h>

#include "util/hex.h"

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_byte(const char *p, size_t left)
{
	int hi = left >= 2 ? hex_digit(p[0]) : -1, lo = left >= 2 ? hex_digit(p[1]) : -1;

	return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

void hex_u64(uint64_t v, char *out)
{
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = hex_lower[v & 15];
	out[16] = '\0';
}

void hex_encode(const void *d, size_t n, char *out)
{
	const unsigned char *b = d;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_lower[b[i] >> 4];
		out[2 * i + 1] = hex_lower[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void hex_percent(unsigned char c, char out[3])
{
	out[0] = '%';
	out[1] = hex_upper[c >> 4];
	out[2] = hex_upper[c & 15];
}

int hex_percent_decode(const char *s, size_t n, char *out, size_t *ret_len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int b;

		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		b = hex_byte(s + i + 1, n - i - 1);
		if (b < 0)
			return -EINVAL;
		out[o++] = (char)b;
		i += 2;
	}
	*ret_len = o;
	return 0;
}
