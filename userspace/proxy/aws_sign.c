/*
 * aws_sign.c: the gateway's AWS credentials on a request that goes to Bedrock. The app's
 * signature headers (Authorization, X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256)
 * are dropped and the request is signed again with SigV4 (providers/sigv4.h) over the Host,
 * the target and the exact body the gateway sends, for the region of the provider's "aws".
 * Each attempt is signed before its connection is asked for: a request the gateway cannot
 * sign never leaves (exchange.c refuses it, or falls back), it is never sent unsigned.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>

#include "proxy/http1_int.h"
#include "proxy/keys.h"
#include "providers/sigv4.h"

static const char *const aws_auth_headers[] = {"authorization", "x-amz-date",
					       "x-amz-security-token", "x-amz-content-sha256",
					       "x-api-key"};

/* The Host the request carries upstream, into BUF. */
static const char *sent_host(const struct exchange *ex, char *buf, size_t size)
{
	const char *h = ex->up_app_headers ? headers_get(&ex->req, "host") : NULL;

	if (h)
		return h;
	if (ex->up_port == 443)
		snprintf(buf, size, "%s", ex->up_host);
	else
		snprintf(buf, size, "%s:%u", ex->up_host, ex->up_port);
	return buf;
}

/* The credentials the attempt is signed with: the gateway's for its provider, unless the
 * call goes where the app sent it and the app keeps its own keys; NULL when not AWS. */
static const struct sigv4_credentials *attempt_credentials(const struct exchange *ex)
{
	const struct session *s = ex->s;

	if (ex->up_app_headers && s->info.own_keys)
		return NULL;
	return keys_aws(s->cfg->keys, ex->up_provider);
}

/* Signs the attempt with C: the request as the gateway sends it. */
static int aws_sign_with(struct exchange *ex, const struct sigv4_credentials *c, char *why,
			 size_t whylen)
{
	const struct policy_provider *pv = policy_provider_by_name(ex->policy, ex->up_provider);
	struct evbuffer *body_buf = ex->up_body ? ex->up_body : ex->body;
	const char *target = ex->up_path ? ex->up_path : ex->url ? ex->url : "/";
	const char *q = strchr(target, '?');
	char host[HTTP1_HOST_MAX + 8];
	struct sigv4_request r = {
	    .method = ex->method,
	    .host = sent_host(ex, host, sizeof(host)),
	    .path = target,
	    .path_len = q ? (size_t)(q - target) : strlen(target),
	    .query = q ? q + 1 : NULL,
	    .query_len = q ? strlen(q + 1) : 0,
	    .body = evbuffer_pullup(body_buf, -1),
	    .body_len = evbuffer_get_length(body_buf),
	    .region = pv && pv->has_aws ? pv->aws.region : NULL,
	    .service = "bedrock",
	    .when = time(NULL),
	};
	int err = sigv4_sign(&r, c, &ex->aws_sig);

	if (err) {
		snprintf(why, whylen,
			 "the gateway cannot sign this request for %s with SigV4 (%s): its "
			 "credentials are empty, or the request target has a dot segment, a "
			 "malformed percent-escape or is too long",
			 ex->up_provider, strerror(-err));
		return err;
	}
	ex->aws_signed = 1;
	return 0;
}

/* Nothing is built for the request of a call that is not signed (not to Bedrock). */
int aws_sign_attempt(struct exchange *ex, char *why, size_t whylen)
{
	const struct sigv4_credentials *c = attempt_credentials(ex);

	ex->aws_signed = 0;
	return c ? aws_sign_with(ex, c, why, whylen) : 0;
}

void aws_sign_write(struct exchange *ex, struct evbuffer *out)
{
	const struct sigv4_credentials *c = attempt_credentials(ex);
	const struct sigv4_signed *s = &ex->aws_sig;

	for (size_t i = 0; i < sizeof(aws_auth_headers) / sizeof(aws_auth_headers[0]); i++)
		headers_drop(&ex->req, aws_auth_headers[i]);
	evbuffer_add_printf(out, "Authorization: %s\r\nX-Amz-Date: %s\r\nX-Amz-Content-Sha256: %s\r\n",
			    s->authorization, s->amz_date, s->content_sha256);
	if (c && c->session_token && c->session_token[0])
		evbuffer_add_printf(out, "X-Amz-Security-Token: %s\r\n", c->session_token);
}
