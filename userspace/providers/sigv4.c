/*
 * sigv4.c: AWS Signature Version 4 (see sigv4.h): the canonical request, the string to sign,
 * the signing key derived from the secret, the date, the region and the service, and the
 * Authorization header. Built in stack buffers; a request too large for them is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "providers/sigv4.h"
#include "util/hex.h"

#define SIGV4_CANON_MAX 8192
#define SIGV4_QUERY_PARAMS 32

/* A text under construction in a fixed buffer; OVER once something did not fit. */
struct text {
	char *buf;
	size_t size, len;
	int over;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->over || t->len + n >= t->size) {
		t->over = 1;
		return;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* S[0..N) URI-encoded as SigV4 wants (upper-case hex); '/' kept when KEEP_SLASH. */
static void text_uri_encode(struct text *t, const char *s, size_t n, int keep_slash)
{
	char esc[3];

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			text_add(t, (const char *)&s[i], 1);
			continue;
		}
		hex_percent(c, esc);
		text_add(t, esc, 3);
	}
}

/* Whether PATH has a "." or ".." segment (which AWS would normalise and we refuse). */
static int has_dot_segment(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && p[j] != '/')
			j++;
		if ((j - i == 1 && p[i] == '.') || (j - i == 2 && p[i] == '.' && p[i + 1] == '.'))
			return 1;
		i = j + 1;
	}
	return 0;
}

struct param {
	char enc[1024]; /* "name=value", both encoded */
	size_t name_len;
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->enc, y->enc, n);

	if (c)
		return c;
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return strcmp(x->enc + x->name_len, y->enc + y->name_len);
}

/* One "name[=value]" of the query, decoded and encoded again into P. */
static int param_fill(struct param *p, const char *s, size_t n)
{
	struct text t = {p->enc, sizeof(p->enc), 0, 0};
	const char *eq = memchr(s, '=', n);
	size_t name_n = eq ? (size_t)(eq - s) : n, len;
	char dec[1024];

	if (n >= sizeof(dec) || hex_percent_decode(s, name_n, dec, &len))
		return -EINVAL;
	text_uri_encode(&t, dec, len, 0);
	p->name_len = t.len;
	text_add(&t, "=", 1);
	if (eq) {
		if (hex_percent_decode(eq + 1, n - name_n - 1, dec, &len))
			return -EINVAL;
		text_uri_encode(&t, dec, len, 0);
	}
	return t.over ? -EINVAL : 0;
}

static int text_canonical_query(struct text *t, const char *q, size_t n)
{
	struct param *params;
	size_t count = 0, i = 0;
	int err = 0;

	if (!q || !n)
		return 0;
	params = calloc(SIGV4_QUERY_PARAMS, sizeof(*params));
	if (!params)
		return -ENOMEM;
	while (i <= n && !err) {
		const char *amp = memchr(q + i, '&', n - i);
		size_t j = amp ? (size_t)(amp - q) : n;

		if (j > i) {
			if (count == SIGV4_QUERY_PARAMS)
				err = -EINVAL;
			else
				err = param_fill(&params[count++], q + i, j - i);
		}
		i = j + 1;
	}
	if (!err) {
		qsort(params, count, sizeof(*params), param_cmp);
		for (i = 0; i < count; i++) {
			if (i)
				text_add(t, "&", 1);
			text_str(t, params[i].enc);
		}
	}
	free(params);
	return err;
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(d, n, md);
	hex_encode(md, sizeof(md), out);
}

int sigv4_canonical_request(const struct sigv4_request *r, const struct sigv4_credentials *c,
			    const char *amz_date, const char *payload_hash, char *buf, size_t size)
{
	struct text t = {buf, size, 0, 0};
	int token = c->session_token && c->session_token[0], err;

	if (!r->path_len || r->path[0] != '/' || has_dot_segment(r->path, r->path_len))
		return -EINVAL;
	buf[0] = '\0';
	text_str(&t, r->method);
	text_add(&t, "\n", 1);
	text_uri_encode(&t, r->path, r->path_len, 1);
	text_add(&t, "\n", 1);
	err = text_canonical_query(&t, r->query, r->query_len);
	if (err)
		return err;
	text_str(&t, "\nhost:");
	text_str(&t, r->host);
	text_str(&t, "\nx-amz-content-sha256:");
	text_str(&t, payload_hash);
	text_str(&t, "\nx-amz-date:");
	text_str(&t, amz_date);
	if (token) {
		text_str(&t, "\nx-amz-security-token:");
		text_str(&t, c->session_token);
	}
	text_str(&t, token ? "\n\nhost;x-amz-content-sha256;x-amz-date;x-amz-security-token\n"
			   : "\n\nhost;x-amz-content-sha256;x-amz-date\n");
	text_str(&t, payload_hash);
	return t.over ? -ENOSPC : 0;
}

static int hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;

	return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
		    &n)
		       ? 0
		       : -ENOMEM;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
static int signing_key(const struct sigv4_credentials *c, const char *date, const char *region,
		       const char *service, unsigned char key[32])
{
	char k0[256];
	int n = snprintf(k0, sizeof(k0), "AWS4%s", c->secret_access_key);
	int err;

	if (n < 0 || (size_t)n >= sizeof(k0))
		return -EINVAL;
	err = hmac(k0, (size_t)n, date, key);
	if (!err)
		err = hmac(key, 32, region, key);
	if (!err)
		err = hmac(key, 32, service, key);
	if (!err)
		err = hmac(key, 32, "aws4_request", key);
	OPENSSL_cleanse(k0, sizeof(k0));
	return err;
}

int sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *c,
	       struct sigv4_signed *ret)
{
	char canon[SIGV4_CANON_MAX], canon_hash[65], sts[512], date[9], sig[65];
	unsigned char key[32], mac[32];
	struct tm tm;
	int err, n;

	if (!r->method || !r->host || !r->path || !r->region || !r->service ||
	    !c->access_key_id || !c->secret_access_key || !c->access_key_id[0] ||
	    !c->secret_access_key[0] || !gmtime_r(&r->when, &tm))
		return -EINVAL;
	strftime(ret->amz_date, sizeof(ret->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	memcpy(date, ret->amz_date, 8);
	date[8] = '\0';
	sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, ret->content_sha256);
	err = sigv4_canonical_request(r, c, ret->amz_date, ret->content_sha256, canon,
				      sizeof(canon));
	if (err)
		return err == -ENOSPC ? -EINVAL : err;
	sha256_hex(canon, strlen(canon), canon_hash);
	n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
		     ret->amz_date, date, r->region, r->service, canon_hash);
	if (n < 0 || (size_t)n >= sizeof(sts))
		return -EINVAL;
	err = signing_key(c, date, r->region, r->service, key);
	if (!err)
		err = hmac(key, sizeof(key), sts, mac);
	OPENSSL_cleanse(key, sizeof(key));
	if (err)
		return err;
	hex_encode(mac, sizeof(mac), sig);
	n = snprintf(ret->authorization, sizeof(ret->authorization),
		     "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
		     "Signature=%s",
		     c->access_key_id, date, r->region, r->service,
		     c->session_token && c->session_token[0]
			 ? "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
			 : "host;x-amz-content-sha256;x-amz-date",
		     sig);
	return n < 0 || (size_t)n >= sizeof(ret->authorization) ? -EINVAL : 0;
}
