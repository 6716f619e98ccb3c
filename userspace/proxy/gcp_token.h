/*
 * gcp_token: OAuth access tokens for Google Cloud (Vertex AI), minted by the gateway from a
 * service-account key file: a JWT (RS256, signed with the account's private key: iss, scope
 * cloud-platform, aud, iat, exp one hour on) exchanged at the token endpoint
 * (grant_type urn:ietf:params:oauth:grant-type:jwt-bearer) for a bearer token, which is cached
 * until shortly before it expires.
 *
 * The exchange runs on the event loop (libevent's HTTP client, evdns for names): a call that
 * needs a token waits for it without blocking anything, and every call that needs one while
 * an exchange is in flight waits for that same exchange (single flight). A failed exchange
 * fails its waiters; the next call starts a new one.
 *
 * Ownership: sources live in one registry for the daemon's life (a reload that names the same
 * key file, endpoint and key keeps the cached token); gcp_token_source_get() returns one the
 * caller never frees; gcp_token_shutdown() frees them all. A waiter is the caller's memory;
 * it is unlinked when its callback runs or by gcp_token_cancel(). Event-loop thread only.
 */
#ifndef AIGW_PROXY_GCP_TOKEN_H
#define AIGW_PROXY_GCP_TOKEN_H

#include <stddef.h>
#include <event2/event.h>

#define GCP_TOKEN_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define GCP_JWT_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"

struct gcp_sa; /* a loaded service account: freed by gcp_sa_free() */
struct gcp_token_source;
struct evdns_base;

/*
 * Loads the service-account key file PATH (JSON: client_email, private_key as PEM,
 * token_uri). 0 and *RET, or -errno with WHY saying what is wrong with it (never any of the
 * key's bytes).
 */
int gcp_sa_load(const char *path, struct gcp_sa **ret, char *why, size_t whylen);
void gcp_sa_free(struct gcp_sa *sa); /* NULL is fine */
const char *gcp_sa_token_uri(const struct gcp_sa *sa);

/*
 * The signed JWT assertion of SA for audience AUD, issued at NOW (seconds since the epoch):
 * "header.claims.signature", base64url. New (the caller frees), or NULL.
 */
char *gcp_jwt_assertion(const struct gcp_sa *sa, const char *aud, long long now);

/*
 * The source for key file PATH and token endpoint TOKEN_URL (NULL: the file's token_uri),
 * with CA_FILE (NULL: the system store) to verify an https endpoint. Loaded once; a file
 * whose contents changed makes a new source. 0 and *RET, or -errno with WHY.
 */
int gcp_token_source_get(const char *path, const char *token_url, const char *ca_file,
			 struct gcp_token_source **ret, char *why, size_t whylen);

/* ERR 0: TOKEN is the bearer token (valid for this call only: copy it). Else -errno and WHY. */
typedef void (*gcp_token_fn)(int err, const char *token, const char *why, void *arg);

struct gcp_token_wait {
	struct gcp_token_wait *prev, *next;
	struct gcp_token_source *src; /* non-NULL while waiting */
	unsigned gen;		      /* the exchange it waits for */
	gcp_token_fn fn;
	void *arg;
};

/*
 * A token of SRC. Returns 0 with *RET_TOKEN (a copy of the cached one: the caller frees it),
 * 1 when W waits (FN runs from the loop, never before this returns), -errno when no exchange
 * can be started (WHY filled in).
 */
int gcp_token_get(struct gcp_token_source *src, struct event_base *base, struct gcp_token_wait *w,
		  gcp_token_fn fn, void *arg, char **ret_token, char *why, size_t whylen);

/* W stops waiting (its callback never runs). A W not waiting is fine. */
void gcp_token_cancel(struct gcp_token_wait *w);

/* How many exchanges SRC started, for tests and metrics. */
unsigned gcp_token_exchanges(const struct gcp_token_source *src);

/* FN for each key file's source (its newest): CACHED 1 while its token serves calls from the
 * cache, 0 when none is cached or its refresh time has passed (the next call exchanges a new
 * one). FN runs under the sources' lock: it must not ask for a token. For metrics. */
void gcp_token_each(void (*fn)(const char *path, int cached, void *arg), void *arg);

/* Token exchanges (and the calls waiting for them) run on BASE's loop from now on; a call on
 * another loop gets the cached token, or -EAGAIN while there is none. Unset, the first loop
 * to ask is the home. */
void gcp_token_set_home(struct event_base *base);

/* The loop BASE ends (a worker stops): the exchanges and waiters it runs end with it. The DNS
 * base BASE ran, if any, is taken out of use and returned (else NULL): the caller frees it with
 * gcp_token_dns_free() on BASE's thread once BASE's deferred callbacks have run (an evdns reply
 * queued by then uses it). A loop that asks meanwhile makes its own. A lookup still running
 * is not cancelled by freeing its connection (libevent 2.1's socket and OpenSSL bufferevents
 * refuse), and freeing the DNS base drops it without a callback: at exit, that connection
 * leaks. */
struct evdns_base *gcp_token_leave(struct event_base *base);
void gcp_token_dns_free(struct evdns_base *dns); /* NULL is fine */

void gcp_token_shutdown(void);

#endif
