/* body.c: zlib inflation (gzip and deflate by auto-detected header) and shape checks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <cjson/cJSON.h>

#include "proxy/body.h"

static int inflate_all(const uint8_t *in, size_t len, size_t max, int window_bits, char **ret,
		       size_t *ret_len)
{
	z_stream z = {0};
	size_t cap = len * 4 + 256, used = 0;
	char *out = NULL;
	int rc;

	if (inflateInit2(&z, window_bits) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = len;
	do {
		if (cap > max + 1)
			cap = max + 1;
		char *grown = realloc(out, cap + 1);

		if (!grown) {
			rc = Z_MEM_ERROR;
			break;
		}
		out = grown;
		z.next_out = (Bytef *)out + used;
		z.avail_out = cap - used;
		rc = inflate(&z, Z_NO_FLUSH);
		used = cap - z.avail_out;
		if (used > max) {
			rc = Z_BUF_ERROR;
			break;
		}
		cap *= 2;
	} while (rc == Z_OK && (z.avail_in || !z.avail_out));
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		return used > max ? -EFBIG : rc == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
	}
	out[used] = 0;
	*ret = out;
	*ret_len = used;
	return 0;
}

int body_decode(const char *encoding, const uint8_t *in, size_t len, size_t max, char **ret,
		size_t *ret_len)
{
	char *copy;

	if (!encoding || !*encoding || !strcasecmp(encoding, "identity")) {
		if (len > max)
			return -EFBIG;
		copy = malloc(len + 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, in, len);
		copy[len] = 0;
		*ret = copy;
		*ret_len = len;
		return 0;
	}
	/* 15 + 32: zlib or gzip, told apart by the header; "deflate" is zlib-wrapped (RFC 9110). */
	if (!strcasecmp(encoding, "gzip") || !strcasecmp(encoding, "x-gzip") ||
	    !strcasecmp(encoding, "deflate"))
		return inflate_all(in, len, max, 15 + 32, ret, ret_len);
	return -EOPNOTSUPP;
}

int body_is_json(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	int ok = v != NULL;

	if (ok)
		for (; end < text + len; end++)
			if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t' && *end)
				ok = 0;
	cJSON_Delete(v);
	return ok;
}

int body_looks_like_sse(const char *text, size_t len)
{
	static const char *const fields[] = {"data", "event", "id", "retry"};
	size_t n = 0;

	if (!len || text[0] == ':' || text[0] == '\n' || text[0] == '\r')
		return 1;
	while (n < len && n < 16 && text[n] != ':' && text[n] != '\n' && text[n] != '\r')
		n++;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t f = strlen(fields[i]);

		if (n >= len && !strncmp(text, fields[i], n < f ? n : f))
			return 1; /* a prefix of a field name: too short to judge */
		if (n == f && !strncmp(text, fields[i], f))
			return 1;
	}
	return 0;
}
