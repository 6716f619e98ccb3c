/*
 * sigv4: AWS Signature Version 4 for the requests the gateway sends to AWS (Bedrock), with the
 * gateway's own credentials. The app's Authorization, X-Amz-Date, X-Amz-Security-Token and
 * X-Amz-Content-Sha256 never go on: the caller drops them and writes the ones made here.
 *
 * What is signed (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
 *   canonical URI    the path as sent, URI-encoded once more (for every service but S3 each
 *                    segment is encoded twice: "claude:0" is sent "claude%3A0" and signed
 *                    "claude%253A0"); dot segments are refused, not normalised
 *   canonical query  each name=value decoded and re-encoded (RFC 3986 unreserved kept),
 *                    sorted by name then value
 *   signed headers   host, x-amz-content-sha256, x-amz-date, x-amz-security-token (when the
 *                    credentials have a session token): exactly the headers the caller sends
 *   payload hash     SHA-256 of the exact body sent (after any rewrite)
 * HMAC-SHA256 and SHA-256 are OpenSSL's.
 *
 * Ownership: nothing here allocates; the caller owns every buffer.
 */
#ifndef AIGW_PROVIDERS_SIGV4_H
#define AIGW_PROVIDERS_SIGV4_H

#include <stddef.h>
#include <time.h>

struct sigv4_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL or "": long-term keys */
};

struct sigv4_request {
	const char *method; /* "POST" */
	const char *host;   /* the Host header sent: "bedrock-runtime.us-east-1.amazonaws.com" */
	const char *path;   /* the request target's path as sent (percent-encoded once) */
	size_t path_len;
	const char *query; /* after '?', or NULL */
	size_t query_len;
	const void *body;
	size_t body_len;
	const char *region;  /* "us-east-1" */
	const char *service; /* "bedrock" */
	time_t when;	     /* the signing time (UTC) */
};

#define SIGV4_AUTH_MAX 512

/* The headers to send, NUL-terminated. */
struct sigv4_signed {
	char amz_date[17];		 /* X-Amz-Date: "20261203T172200Z" */
	char content_sha256[65];	 /* X-Amz-Content-Sha256: hex */
	char authorization[SIGV4_AUTH_MAX]; /* Authorization: "AWS4-HMAC-SHA256 Credential=..." */
};

/* Signs R with C into *RET. 0; -EINVAL (a dot segment, a bad escape, a missing field, an
 * empty key id or secret, or a value too long for the Authorization header); -ENOMEM. */
int sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *c,
	       struct sigv4_signed *ret);

/* The canonical request of R as sigv4_sign() builds it (for tests): 0 and the text in
 * BUF[SIZE] (NUL-terminated), -ENOSPC, -EINVAL. */
int sigv4_canonical_request(const struct sigv4_request *r, const struct sigv4_credentials *c,
			    const char *amz_date, const char *payload_hash, char *buf,
			    size_t size);

#endif
