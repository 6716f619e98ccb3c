// SPDX-License-Identifier: MIT
/*
 * mockprov gzip: Content-Encoding negotiation and one-shot gzip of a whole response body, as
 * the providers' front ends do for non-streaming responses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "mock.h"

/* True when an Accept-Encoding value lists gzip (or *) with a non-zero q value. */
int accepts_gzip(const char *ae)
{
	const char *p = ae, *q;

	while (p && (p = strcasestr(p, "gzip")) != NULL) {
		p += 4;
		q = strchr(p, ',');
		q = q ? q : p + strlen(p);
		while (p < q && (*p == ' ' || *p == ';'))
			p++;
		if (p < q && !strncasecmp(p, "q=", 2))
			return strtod(p + 2, NULL) > 0;
		return 1;
	}
	return 0;
}

/* Compresses all of in into out (gzip framing). Returns 0 or a negative errno. */
int gzip_buffer(struct evbuffer *in, struct evbuffer *out)
{
	size_t len = evbuffer_get_length(in);
	unsigned char *src = evbuffer_pullup(in, -1);
	struct evbuffer_iovec iov;
	z_stream zs;
	uLong bound;
	int ret = -ENOMEM;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, len) + 32;
	if (evbuffer_reserve_space(out, bound, &iov, 1) < 1)
		goto out;
	zs.next_in = src;
	zs.avail_in = len;
	zs.next_out = iov.iov_base;
	zs.avail_out = iov.iov_len;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		ret = -EIO;
		goto out;
	}
	iov.iov_len = zs.total_out;
	if (evbuffer_commit_space(out, &iov, 1))
		goto out;
	ret = 0;
out:
	deflateEnd(&zs);
	return ret;
}
