/*
 * headers_ref.h: how the header list answered before names had ids (the reference that
 * test_headers.c and fuzz_http_head hold headers.c to): lookups by strncasecmp scans, the
 * hop-by-hop fields by name, and the test's own list of the names with ids. Header-only, for
 * the tests and the fuzz harness; the daemon never calls it.
 */
#ifndef AIGW_TESTS_HEADERS_REF_H
#define AIGW_TESTS_HEADERS_REF_H

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "proxy/headers.h"

/* What headers_write() wrote before it kept lengths and told dropped names by length: every
 * field whose name is not one of these (any case) or a token of Connection, its value up to
 * its first NUL. */
static inline int ref_dropped(const char *name, const char *conn)
{
	static const char *const drop[] = {
	    "te",	      "expect",		 "trailer",	     "upgrade",
	    "connection",     "keep-alive",	 "content-length",   "http2-settings",
	    "proxy-connection", "transfer-encoding", "proxy-authenticate", "proxy-authorization"};
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (!strcasecmp(name, drop[i]))
			return 1;
	for (const char *t = conn; t && *t;) {
		while (*t == ' ' || *t == '\t' || *t == ',')
			t++;
		if (!strncasecmp(t, name, n) && (!t[n] || t[n] == ',' || t[n] == ' ' || t[n] == '\t'))
			return 1;
		t = strchr(t, ',');
	}
	return 0;
}

/* What the lookups answered before names had ids: scans with strncasecmp. */
static inline const char *ref_get(const struct headers *h, const char *name, unsigned *ret_count)
{
	size_t n = strlen(name);
	const char *first = NULL;

	*ret_count = 0;
	for (unsigned i = 0; i < h->n; i++) {
		const struct header *f = &h->v[i];

		if (f->name_len == n && !strncasecmp(h->arena + f->name, name, n)) {
			if (!first)
				first = f->value == UINT32_MAX ? "" : h->arena + f->value;
			++*ret_count;
		}
	}
	return first;
}

/* The names with an id, and their ids: the test's own list. */
static const struct {
	const char *name;
	enum header_id id;
} ids[] = {
    {"te", HDR_TE},
    {"host", HDR_HOST},
    {"expect", HDR_EXPECT},
    {"api-key", HDR_API_KEY},
    {"trailer", HDR_TRAILER},
    {"upgrade", HDR_UPGRADE},
    {"x-api-key", HDR_X_API_KEY},
    {"connection", HDR_CONNECTION},
    {"keep-alive", HDR_KEEP_ALIVE},
    {"request-id", HDR_REQUEST_ID},
    {"set-cookie", HDR_SET_COOKIE},
    {"retry-after", HDR_RETRY_AFTER},
    {"content-type", HDR_CONTENT_TYPE},
    {"x-request-id", HDR_X_REQUEST_ID},
    {"authorization", HDR_AUTHORIZATION},
    {"content-length", HDR_CONTENT_LENGTH},
    {"http2-settings", HDR_HTTP2_SETTINGS},
    {"openai-project", HDR_OPENAI_PROJECT},
    {"retry-after-ms", HDR_RETRY_AFTER_MS},
    {"x-goog-api-key", HDR_X_GOOG_API_KEY},
    {"accept-encoding", HDR_ACCEPT_ENCODING},
    {"content-encoding", HDR_CONTENT_ENCODING},
    {"proxy-connection", HDR_PROXY_CONNECTION},
    {"x-goog-fieldmask", HDR_X_GOOG_FIELDMASK},
    {"transfer-encoding", HDR_TRANSFER_ENCODING},
    {"x-goog-quota-user", HDR_X_GOOG_QUOTA_USER},
    {"proxy-authenticate", HDR_PROXY_AUTHENTICATE},
    {"openai-organization", HDR_OPENAI_ORGANIZATION},
    {"proxy-authorization", HDR_PROXY_AUTHORIZATION},
    {"x-goog-user-project", HDR_X_GOOG_USER_PROJECT},
    {"x-http-method-override", HDR_X_HTTP_METHOD_OVERRIDE},
    {"anthropic-organization-id", HDR_ANTHROPIC_ORGANIZATION_ID},
};
#define N_IDS (sizeof(ids) / sizeof(ids[0]))

#endif
