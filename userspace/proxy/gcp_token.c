/*
 * gcp_token.c: the service account (parsed and its key checked once), the JWT (jsonw for the
 * JSON, OpenSSL for base64 and RS256), and the token sources: a cached token, one exchange in
 * flight at most (libevent's HTTP client over a plain or TLS bufferevent), and the calls
 * waiting for it, each tagged with the exchange it waits for so that a call queued from a
 * waiter's callback waits for the next one.
 *
 * Threads: the registry and every source are under tokens_lock (recursive: a waiter's
 * callback may ask again). Exchanges run on one loop, the home (gcp_token_set_home(): the
 * daemon's worker 0, where it sends the calls of a provider with a token source), and so do
 * their waiters; another loop gets the cached token, or an error while none is cached. An
 * exchange's connection is the source's until freed: once answered it is spent, and freed by
 * the reap event on the home loop, after libevent's callbacks for it have returned (libevent's
 * own free on completion misses a connection that failed to connect, or was kept alive). What
 * leaves the lock is a copy (a refresh frees the token it replaces), and a waiter's callback
 * runs with the lock released, the waiter unlinked under it just before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "proxy/gcp_token.h"
#include "util/jsonw.h"
#include "util/log.h"

#define GCP_SA_FILE_MAX (64 * 1024)
#define GCP_JWT_LIFETIME_S 3600
#define GCP_TOKEN_TIMEOUT_S 10
#define GCP_TOKEN_MAX 8192

struct gcp_sa {
	char *client_email;
	char *token_uri;
	EVP_PKEY *key;
	unsigned char digest[32]; /* of the file: a changed file is a new source */
};

struct gcp_token_source {
	struct gcp_token_source *next; /* the registry */
	char *path, *token_url, *ca_file;
	struct gcp_sa *sa;
	struct evhttp_uri *uri;
	SSL_CTX *ctx; /* https endpoints, made on first use */
	char *token;  /* the cached token, or NULL */
	long long refresh_ms; /* monotonic: a new exchange is due from then */
	struct evhttp_connection *conn;	 /* the exchange in flight, or NULL */
	struct evhttp_connection *spent; /* an answered exchange's, until reap_ev frees it */
	struct event *reap_ev;		 /* on the home loop */
	unsigned gen;			/* exchanges started */
	struct gcp_token_wait *head, *tail;
};

static pthread_mutex_t tokens_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct gcp_token_source *registry;
static struct evdns_base *dns;
static struct event_base *dns_home; /* the loop dns runs on */
static struct event_base *home;	    /* where exchanges and waiters run; NULL: the first asking */

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the service account ---- */

void gcp_sa_free(struct gcp_sa *sa)
{
	if (!sa)
		return;
	free(sa->client_email);
	free(sa->token_uri);
	EVP_PKEY_free(sa->key);
	free(sa);
}

const char *gcp_sa_token_uri(const struct gcp_sa *sa)
{
	return sa->token_uri;
}

static char *read_small_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(GCP_SA_FILE_MAX + 1);
	n = buf ? fread(buf, 1, GCP_SA_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (buf && n > GCP_SA_FILE_MAX) {
		OPENSSL_cleanse(buf, n);
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	if (buf)
		buf[n] = 0;
	*ret_len = n;
	return buf;
}

static const char *sa_string(const cJSON *root, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, key));

	return s && *s ? s : NULL;
}

/* The RSA key of PEM, or NULL. */
static EVP_PKEY *sa_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (key && EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

static int sa_fill(struct gcp_sa *sa, const cJSON *root, char *why, size_t whylen)
{
	const char *email = sa_string(root, "client_email"), *pem = sa_string(root, "private_key");
	const char *uri = sa_string(root, "token_uri");

	if (!email || !pem || !uri) {
		snprintf(why, whylen, "not a service-account key: %s missing",
			 !email ? "\"client_email\"" : !pem ? "\"private_key\"" : "\"token_uri\"");
		return -EINVAL;
	}
	sa->key = sa_key(pem);
	if (!sa->key) {
		snprintf(why, whylen, "\"private_key\" is not an RSA private key in PEM");
		return -EINVAL;
	}
	sa->client_email = strdup(email);
	sa->token_uri = strdup(uri);
	return sa->client_email && sa->token_uri ? 0 : -ENOMEM;
}

int gcp_sa_load(const char *path, struct gcp_sa **ret, char *why, size_t whylen)
{
	struct gcp_sa *sa = NULL;
	cJSON *root = NULL;
	size_t len = 0;
	char *text = read_small_file(path, &len);
	int err;

	if (!text) {
		err = -errno;
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return err;
	}
	root = cJSON_ParseWithLength(text, len);
	sa = calloc(1, sizeof(*sa));
	if (!sa) {
		err = -ENOMEM;
		goto out;
	}
	EVP_Digest(text, len, sa->digest, NULL, EVP_sha256(), NULL);
	if (!cJSON_IsObject(root)) {
		snprintf(why, whylen, "%s is not a JSON object (a service-account key file)", path);
		err = -EINVAL;
		goto out;
	}
	err = sa_fill(sa, root, why, whylen);
out:
	if (root) { /* the PEM text is cleared before it is freed */
		cJSON *pk = cJSON_GetObjectItemCaseSensitive(root, "private_key");

		if (cJSON_IsString(pk))
			OPENSSL_cleanse(pk->valuestring, strlen(pk->valuestring));
	}
	cJSON_Delete(root);
	OPENSSL_cleanse(text, len);
	free(text);
	if (err) {
		gcp_sa_free(sa);
		return err;
	}
	*ret = sa;
	return 0;
}

/* ---- the JWT ---- */

/* LEN bytes of DATA in base64url without padding; new, or NULL. */
static char *base64url(const unsigned char *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	int n;

	if (!out)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = 0;
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return out;
}

static char *json_part(struct jsonw *w)
{
	size_t len;
	char *text = jsonw_finish(w, &len), *out;

	if (!text)
		return NULL;
	out = base64url((const unsigned char *)text, len);
	free(text);
	return out;
}

/* The RS256 signature of TEXT by KEY, base64url; new, or NULL. */
static char *rs256(EVP_PKEY *key, const char *text)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	char *out = NULL;

	if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)text, strlen(text)) == 1)
		out = base64url(sig, sig_len);
	EVP_MD_CTX_free(md);
	return out;
}

char *gcp_jwt_assertion(const struct gcp_sa *sa, const char *aud, long long now)
{
	struct jsonw *h = jsonw_new(), *c = jsonw_new();
	char *head, *claims, *signing = NULL, *sig = NULL, *out = NULL;

	if (h) {
		jsonw_str(h, "alg", "RS256");
		jsonw_str(h, "typ", "JWT");
	}
	if (c) {
		jsonw_str(c, "iss", sa->client_email);
		jsonw_str(c, "scope", GCP_TOKEN_SCOPE);
		jsonw_str(c, "aud", aud);
		jsonw_num(c, "iat", (double)now);
		jsonw_num(c, "exp", (double)(now + GCP_JWT_LIFETIME_S));
	}
	head = h ? json_part(h) : NULL;
	claims = c ? json_part(c) : NULL;
	if (head && claims && asprintf(&signing, "%s.%s", head, claims) < 0)
		signing = NULL;
	if (signing)
		sig = rs256(sa->key, signing);
	if (sig && asprintf(&out, "%s.%s", signing, sig) < 0)
		out = NULL;
	free(head);
	free(claims);
	free(signing);
	free(sig);
	return out;
}

/* ---- sources ---- */

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void token_free(char *token)
{
	if (!token)
		return;
	OPENSSL_cleanse(token, strlen(token));
	free(token);
}

/* With tokens_lock held, on the home loop or with none running: the source's connections
 * and its reap event. */
static void source_drop_conns(struct gcp_token_source *s)
{
	if (s->conn)
		evhttp_connection_free(s->conn);
	if (s->spent)
		evhttp_connection_free(s->spent);
	if (s->reap_ev)
		event_free(s->reap_ev);
	s->conn = s->spent = NULL;
	s->reap_ev = NULL;
}

static void source_free(struct gcp_token_source *s)
{
	source_drop_conns(s);
	gcp_sa_free(s->sa);
	if (s->uri)
		evhttp_uri_free(s->uri);
	SSL_CTX_free(s->ctx);
	token_free(s->token);
	free(s->path);
	free(s->token_url);
	free(s->ca_file);
	free(s);
}

/* The endpoint URL, checked: http or https, a host, a path. */
static int source_uri(struct gcp_token_source *s, char *why, size_t whylen)
{
	const char *scheme;

	s->uri = evhttp_uri_parse(s->token_url);
	scheme = s->uri ? evhttp_uri_get_scheme(s->uri) : NULL;
	if (!scheme || (strcasecmp(scheme, "https") && strcasecmp(scheme, "http")) ||
	    !evhttp_uri_get_host(s->uri) || !*evhttp_uri_get_host(s->uri)) {
		snprintf(why, whylen, "token endpoint \"%s\" is not an http(s)://HOST/PATH URL",
			 s->token_url);
		return -EINVAL;
	}
	return 0;
}

/* With tokens_lock held: the source of PATH, TOKEN_URL, CA_FILE and SA (taken). */
static int source_find_or_add(const char *path, const char *token_url, const char *ca_file,
			      struct gcp_sa *sa, struct gcp_token_source **ret, char *why,
			      size_t whylen)
{
	struct gcp_token_source *s;
	int err;

	for (s = registry; s; s = s->next) {
		if (!strcmp(s->path, path) && !strcmp(s->token_url, token_url) &&
		    same_str(s->ca_file, ca_file) && !memcmp(s->sa->digest, sa->digest, 32)) {
			gcp_sa_free(sa);
			*ret = s;
			return 0;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		gcp_sa_free(sa);
		return -ENOMEM;
	}
	s->sa = sa;
	s->path = strdup(path);
	s->token_url = strdup(token_url);
	s->ca_file = ca_file ? strdup(ca_file) : NULL;
	if (!s->path || !s->token_url || (ca_file && !s->ca_file))
		err = -ENOMEM;
	else
		err = source_uri(s, why, whylen);
	if (err) {
		source_free(s);
		return err;
	}
	s->next = registry;
	registry = s;
	*ret = s;
	return 0;
}

int gcp_token_source_get(const char *path, const char *token_url, const char *ca_file,
			 struct gcp_token_source **ret, char *why, size_t whylen)
{
	struct gcp_sa *sa;
	int err = gcp_sa_load(path, &sa, why, whylen);

	if (err)
		return err;
	if (!token_url)
		token_url = sa->token_uri;
	pthread_mutex_lock(&tokens_lock);
	err = source_find_or_add(path, token_url, ca_file, sa, ret, why, whylen);
	pthread_mutex_unlock(&tokens_lock);
	return err;
}

unsigned gcp_token_exchanges(const struct gcp_token_source *src)
{
	unsigned n;

	pthread_mutex_lock(&tokens_lock);
	n = src->gen;
	pthread_mutex_unlock(&tokens_lock);
	return n;
}

/* Whether a source before S in the registry (a newer one) has S's key file. */
static int source_superseded(const struct gcp_token_source *s)
{
	for (const struct gcp_token_source *n = registry; n != s; n = n->next)
		if (!strcmp(n->path, s->path))
			return 1;
	return 0;
}

void gcp_token_each(void (*fn)(const char *path, int cached, void *arg), void *arg)
{
	long long now = monotonic_ms();

	pthread_mutex_lock(&tokens_lock);
	for (const struct gcp_token_source *s = registry; s; s = s->next)
		if (!source_superseded(s))
			fn(s->path, s->token && now < s->refresh_ms, arg);
	pthread_mutex_unlock(&tokens_lock);
}

/* With tokens_lock held: W leaves its source's list. */
static void wait_unlink(struct gcp_token_wait *w)
{
	struct gcp_token_source *s = w->src;

	if (!s)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		s->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		s->tail = w->prev;
	w->src = NULL;
	w->prev = w->next = NULL;
}

void gcp_token_cancel(struct gcp_token_wait *w)
{
	pthread_mutex_lock(&tokens_lock);
	wait_unlink(w);
	pthread_mutex_unlock(&tokens_lock);
}

/* With tokens_lock held: the next call waiting for exchange GEN of S, unlinked, or NULL. */
static struct gcp_token_wait *source_next_waiter(struct gcp_token_source *s, unsigned gen)
{
	struct gcp_token_wait *w = s->head;

	if (!w || w->gen != gen)
		return NULL;
	wait_unlink(w);
	return w;
}

/*
 * Every call waiting for exchange GEN of S learns how it went: ERR, and TOKEN (a copy made
 * under the lock) or WHY. Called without tokens_lock: each callback runs unlocked (it may
 * ask again, or cancel a waiter still queued).
 */
static void source_notify(struct gcp_token_source *s, unsigned gen, int err, char *token,
			  const char *why)
{
	struct gcp_token_wait *w;

	if (!err && !token) {
		err = -ENOMEM;
		why = "out of memory";
	}
	for (;;) {
		pthread_mutex_lock(&tokens_lock);
		w = source_next_waiter(s, gen);
		pthread_mutex_unlock(&tokens_lock);
		if (!w)
			break;
		w->fn(err, err ? NULL : token, why, w->arg);
	}
	token_free(token);
}

/* The token endpoint's answer ROOT: the token kept (and its refresh time), or WHY. */
static int source_take_answer(struct gcp_token_source *s, const cJSON *root, char *why,
			      size_t whylen)
{
	const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "access_token"));
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
	long long ttl_ms, margin_ms;

	if (!tok || !*tok || strlen(tok) > GCP_TOKEN_MAX || strpbrk(tok, "\r\n") ||
	    !cJSON_IsNumber(exp) || exp->valuedouble <= 0 || exp->valuedouble > 86400) {
		snprintf(why, whylen, "token endpoint %s answered without a usable access_token "
			 "and expires_in", s->token_url);
		return -EBADMSG;
	}
	ttl_ms = (long long)(exp->valuedouble * 1000);
	/* refreshed shortly before it expires: a minute early, a fifth of a short life early */
	margin_ms = ttl_ms > 300000 ? 60000 : ttl_ms / 5;
	token_free(s->token);
	s->token = strdup(tok);
	s->refresh_ms = monotonic_ms() + ttl_ms - margin_ms;
	return s->token ? 0 : -ENOMEM;
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct gcp_token_source *s = arg;

	pthread_mutex_lock(&tokens_lock);
	if (s->spent)
		evhttp_connection_free(s->spent);
	s->spent = NULL;
	pthread_mutex_unlock(&tokens_lock);
}

/* With tokens_lock held, in the answer's callback: the exchange's connection is spent, freed
 * by on_reap once libevent is done with it. An earlier spent one not yet reaped is done with:
 * libevent touches no connection after the request's callback returns (without free on
 * completion), and that callback is past its answer: freed now. */
static void source_spend_conn(struct gcp_token_source *s)
{
	static const struct timeval now = {0, 0};

	if (s->spent)
		evhttp_connection_free(s->spent);
	s->spent = s->conn;
	s->conn = NULL;
	evtimer_add(s->reap_ev, &now);
}

static void on_token_answer(struct evhttp_request *req, void *arg)
{
	struct gcp_token_source *s = arg;
	int status = req ? evhttp_request_get_response_code(req) : 0, err = -ECONNREFUSED;
	char why[512], *token = NULL;
	cJSON *root = NULL;
	unsigned gen;

	pthread_mutex_lock(&tokens_lock);
	source_spend_conn(s);
	if (!status) {
		snprintf(why, sizeof(why), "token endpoint %s unreachable", s->token_url);
	} else if (status != 200) {
		snprintf(why, sizeof(why), "token endpoint %s answered HTTP %d", s->token_url,
			 status);
		err = -EACCES;
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);

		root = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1),
					     evbuffer_get_length(in));
		err = source_take_answer(s, root, why, sizeof(why));
	}
	cJSON_Delete(root);
	if (!err)
		token = strdup(s->token);
	gen = s->gen;
	pthread_mutex_unlock(&tokens_lock);
	if (err)
		log_warn("vertex: %s", why);
	source_notify(s, gen, err, token, err ? why : NULL);
}

static SSL_CTX *source_ctx(struct gcp_token_source *s)
{
	if (s->ctx)
		return s->ctx;
	s->ctx = SSL_CTX_new(TLS_client_method());
	if (!s->ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
	if (s->ca_file ? SSL_CTX_load_verify_file(s->ctx, s->ca_file) != 1
		       : SSL_CTX_set_default_verify_paths(s->ctx) != 1) {
		SSL_CTX_free(s->ctx);
		s->ctx = NULL;
	}
	return s->ctx;
}

/* A connection to the endpoint: TLS verified against its host name for https. */
static struct evhttp_connection *source_connect(struct gcp_token_source *s,
						struct event_base *base)
{
	const char *host = evhttp_uri_get_host(s->uri);
	int tls = !strcasecmp(evhttp_uri_get_scheme(s->uri), "https");
	int port = evhttp_uri_get_port(s->uri);
	struct bufferevent *bev;
	SSL *ssl = NULL;

	if (!dns) {
		dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
					       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		dns_home = base;
	}
	if (tls) {
		SSL_CTX *ctx = source_ctx(s);

		ssl = ctx ? SSL_new(ctx) : NULL;
		if (!ssl)
			return NULL;
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
						     BEV_OPT_CLOSE_ON_FREE);
		if (bev)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!bev)
		return NULL;
	return evhttp_connection_base_bufferevent_new(base, dns, bev, host,
						      port > 0 ? port : tls ? 443 : 80);
}

/* The form the endpoint takes: the grant type and the signed assertion. */
static int source_request(struct gcp_token_source *s, struct evhttp_request *req)
{
	const char *host = evhttp_uri_get_host(s->uri);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char *jwt = gcp_jwt_assertion(s->sa, s->token_url, (long long)time(NULL));
	int err;

	if (!jwt)
		return -ENOMEM;
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/x-www-form-urlencoded");
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "User-Agent", "aigw");
	/* one exchange an hour needs no kept-alive connection */
	evhttp_add_header(h, "Connection", "close");
	/* base64url needs no escaping in a form */
	err = evbuffer_add_printf(evhttp_request_get_output_buffer(req),
				  "grant_type=%s&assertion=%s",
				  "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", jwt) < 0;
	OPENSSL_cleanse(jwt, strlen(jwt));
	free(jwt);
	return err ? -ENOMEM : 0;
}

static int source_start(struct gcp_token_source *s, struct event_base *base, char *why,
			size_t whylen)
{
	const char *path = evhttp_uri_get_path(s->uri), *query = evhttp_uri_get_query(s->uri);
	struct evhttp_request *req;
	char target[1024];

	snprintf(target, sizeof(target), "%s%s%s", path && *path ? path : "/", query ? "?" : "",
		 query ? query : "");
	if (!s->reap_ev)
		s->reap_ev = evtimer_new(base, on_reap, s);
	s->conn = s->reap_ev ? source_connect(s, base) : NULL;
	req = s->conn ? evhttp_request_new(on_token_answer, s) : NULL;
	if (!req || source_request(s, req)) {
		if (req)
			evhttp_request_free(req);
		if (s->conn)
			evhttp_connection_free(s->conn);
		s->conn = NULL;
		snprintf(why, whylen, "cannot start a token exchange with %s", s->token_url);
		return -ENOMEM;
	}
	evhttp_connection_set_timeout(s->conn, GCP_TOKEN_TIMEOUT_S);
	evhttp_connection_set_retries(s->conn, 0);
	/* Counted before the request: libevent may answer inside evhttp_make_request (a connect
	 * that fails at once: socket() out of descriptors, the host's address in /etc/hosts),
	 * and that answer is this exchange's. */
	s->gen++;
	if (evhttp_make_request(s->conn, req, EVHTTP_REQ_POST, target)) { /* req is freed */
		if (s->conn)
			evhttp_connection_free(s->conn);
		s->conn = NULL;
		snprintf(why, whylen, "cannot send a token request to %s", s->token_url);
		return -EIO;
	}
	if (!s->conn) { /* answered already, and failed: nothing is in flight to wait for */
		snprintf(why, whylen, "token endpoint %s unreachable", s->token_url);
		return -ECONNREFUSED;
	}
	return 0;
}

/* With tokens_lock held: gcp_token_get() on SRC's home loop. */
static int token_get_home(struct gcp_token_source *src, struct event_base *base,
			  struct gcp_token_wait *w, gcp_token_fn fn, void *arg, char *why,
			  size_t whylen)
{
	int err;

	if (!src->conn && (err = source_start(src, base, why, whylen)))
		return err;
	w->src = src;
	w->gen = src->gen;
	w->fn = fn;
	w->arg = arg;
	w->next = NULL;
	w->prev = src->tail;
	if (src->tail)
		src->tail->next = w;
	else
		src->head = w;
	src->tail = w;
	return 1;
}

int gcp_token_get(struct gcp_token_source *src, struct event_base *base, struct gcp_token_wait *w,
		  gcp_token_fn fn, void *arg, char **ret_token, char *why, size_t whylen)
{
	int r = 0;

	pthread_mutex_lock(&tokens_lock);
	if (!home)
		home = base;
	if (src->token && monotonic_ms() < src->refresh_ms) {
		*ret_token = strdup(src->token); /* the caller's: a refresh frees this one */
		if (!*ret_token) {
			snprintf(why, whylen, "out of memory");
			r = -ENOMEM;
		}
	} else if (home == base) {
		r = token_get_home(src, base, w, fn, arg, why, whylen);
	} else {
		snprintf(why, whylen, "no token of %s yet on this worker: its exchanges run on "
			 "another", src->token_url);
		r = -EAGAIN;
	}
	pthread_mutex_unlock(&tokens_lock);
	return r;
}

void gcp_token_set_home(struct event_base *base)
{
	pthread_mutex_lock(&tokens_lock);
	home = base;
	pthread_mutex_unlock(&tokens_lock);
}

struct evdns_base *gcp_token_leave(struct event_base *base)
{
	struct evdns_base *left = NULL;

	pthread_mutex_lock(&tokens_lock);
	for (struct gcp_token_source *s = registry; home == base && s; s = s->next) {
		while (s->head)
			wait_unlink(s->head);
		source_drop_conns(s);
	}
	if (home == base)
		home = NULL;
	if (dns && dns_home == base) {
		left = dns;
		dns = NULL;
	}
	pthread_mutex_unlock(&tokens_lock);
	return left;
}

void gcp_token_dns_free(struct evdns_base *left)
{
	if (left)
		evdns_base_free(left, 0);
}

void gcp_token_shutdown(void)
{
	pthread_mutex_lock(&tokens_lock);
	while (registry) {
		struct gcp_token_source *s = registry;

		registry = s->next;
		while (s->head)
			wait_unlink(s->head);
		source_free(s);
	}
	if (dns)
		evdns_base_free(dns, 0);
	dns = NULL;
	home = NULL;
	pthread_mutex_unlock(&tokens_lock);
}
