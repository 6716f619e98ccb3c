/* keys.c: loading (environment or file, trailing whitespace trimmed), an Entra ID token file
 * read again when it changes (a new file, or new bytes in it: an agent renews tokens by
 * replacing the file), and clearing. The proxy.workers read keys at once: a token file is read
 * again under tokens_lock, and the token it replaced is kept one renewal longer (another
 * worker may still be copying it into a request). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

#include "proxy/gcp_token.h"
#include "proxy/keys.h"
#include "util/log.h"

#define KEYS_MAX_LEN 4096

static pthread_mutex_t tokens_lock = PTHREAD_MUTEX_INITIALIZER;

struct key {
	char *provider;
	char *secret;			 /* NULL for a Vertex provider */
	char *prev_secret;		 /* a token file's token before the last renewal */
	char *token_file;		 /* a copy of the policy's, or NULL */
	struct stat token_stat;		 /* the token file as it was when read */
	struct gcp_token_source *tokens; /* a Vertex provider's (the registry's), or NULL */
	char *aws[3];			 /* "aws": access key id, secret, session token (or NULL) */
	struct sigv4_credentials creds;
};

struct keys {
	struct key *v;
	size_t n;
};

static char *read_key_file(const char *path)
{
	char buf[KEYS_MAX_LEN + 1];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, KEYS_MAX_LEN, f);
	fclose(f);
	buf[n] = 0;
	return strdup(buf);
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
}

/* Whether the file now at E's token_file is another than the one read (0: same; -errno). */
static int token_changed(struct key *e, struct stat *st)
{
	if (stat(e->token_file, st) < 0)
		return -errno;
	return st->st_ino != e->token_stat.st_ino || st->st_dev != e->token_stat.st_dev ||
	       st->st_size != e->token_stat.st_size ||
	       st->st_mtim.tv_sec != e->token_stat.st_mtim.tv_sec ||
	       st->st_mtim.tv_nsec != e->token_stat.st_mtim.tv_nsec;
}

static void secret_free(char *secret)
{
	if (secret)
		OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}

/* E's token, from its file: 0, or -ENOKEY (missing or empty; the old token stays). */
static int token_read(struct key *e)
{
	struct stat st;
	char *token;

	if (token_changed(e, &st) < 0)
		return -ENOKEY;
	token = read_key_file(e->token_file);
	if (token)
		trim(token);
	if (!token || !*token) {
		secret_free(token);
		return -ENOKEY;
	}
	secret_free(e->prev_secret);
	e->prev_secret = e->secret;
	e->secret = token;
	e->token_stat = st;
	return 0;
}

static int key_read(const struct policy_provider *pv, char **ret)
{
	const char *env = pv->key_env ? getenv(pv->key_env) : NULL;
	char *secret = NULL;

	if (pv->key_env && env && *env)
		secret = strdup(env);
	else if (pv->key_file)
		secret = read_key_file(pv->key_file);
	if (secret)
		trim(secret);
	if (!secret || !*secret) {
		if (secret)
			free(secret);
		log_error("provider %s: no key in %s%s%s%s", pv->name,
			  pv->key_env ? "environment variable " : "", pv->key_env ? pv->key_env : "",
			  pv->key_env && pv->key_file ? " or " : "",
			  pv->key_file ? pv->key_file : "");
		return -ENOKEY;
	}
	*ret = secret;
	return 0;
}

/* A Vertex provider's token source: its key file read and checked now. */
static int key_tokens(const struct policy *p, const struct policy_provider *pv,
		      struct gcp_token_source **ret)
{
	char why[400];
	int err = gcp_token_source_get(pv->credentials_file, pv->token_url, p->tls.upstream_ca,
				       ret, why, sizeof(why));

	if (err)
		log_error("provider %s: credentials_file: %s", pv->name, why);
	return err;
}

/* One "aws" variable NAME of provider PV into *RET; OPTIONAL: unset is fine. */
static int aws_read(const struct policy_provider *pv, const char *name, int optional, char **ret)
{
	const char *v = name ? getenv(name) : NULL;

	*ret = NULL;
	if (!name || (optional && !(v && *v)))
		return 0;
	*ret = v ? strdup(v) : NULL;
	if (v && !*ret)
		return -ENOMEM;
	if (*ret)
		trim(*ret);
	if (!*ret || !**ret) { /* unset, empty, or only blanks (a key read the same way) */
		secret_free(*ret);
		*ret = NULL;
		log_error("provider %s: no AWS credential in environment variable %s", pv->name,
			  name);
		return -ENOKEY;
	}
	return 0;
}

static int aws_load(const struct policy_provider *pv, struct key *e)
{
	int err = aws_read(pv, pv->aws.access_key_id_env, 0, &e->aws[0]);

	if (!err)
		err = aws_read(pv, pv->aws.secret_access_key_env, 0, &e->aws[1]);
	if (!err)
		err = aws_read(pv, pv->aws.session_token_env, 1, &e->aws[2]);
	e->creds = (struct sigv4_credentials){e->aws[0], e->aws[1], e->aws[2]};
	return err;
}

int keys_load(const struct policy *p, struct keys **ret_keys)
{
	struct keys *k = calloc(1, sizeof(*k));
	int err = 0;

	if (!k)
		return -ENOMEM;
	k->v = calloc(p->n_providers + 1, sizeof(*k->v));
	if (!k->v) {
		free(k);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_providers && !err; i++) {
		const struct policy_provider *pv = &p->providers[i];
		struct key *e = &k->v[k->n];

		if (pv->api == POLICY_API_VERTEX && pv->credentials_file) {
			k->n++; /* from here on keys_free() frees what it holds */
			e->provider = strdup(pv->name);
			err = e->provider ? key_tokens(p, pv, &e->tokens) : -ENOMEM;
			continue;
		}
		if (!pv->key_env && !pv->key_file && !pv->token_file && !pv->has_aws)
			continue;
		k->n++; /* from here on keys_free() frees what it holds */
		e->provider = strdup(pv->name);
		e->token_file = pv->token_file ? strdup(pv->token_file) : NULL;
		if (!e->provider || (pv->token_file && !e->token_file))
			err = -ENOMEM;
		else if (pv->has_aws)
			err = aws_load(pv, e);
		else if (pv->token_file && (err = token_read(e)))
			log_error("provider %s: no token in token_file %s", pv->name, pv->token_file);
		else if (!pv->token_file)
			err = key_read(pv, &e->secret);
	}
	if (err) {
		keys_free(k);
		return err;
	}
	*ret_keys = k;
	return 0;
}

const char *keys_get(const struct keys *k, const char *provider)
{
	struct stat st;

	const char *secret;

	for (size_t i = 0; k && i < k->n; i++) {
		struct key *e = &k->v[i];

		if (strcmp(e->provider, provider))
			continue;
		if (!e->token_file)
			return e->secret;
		pthread_mutex_lock(&tokens_lock);
		if (token_changed(e, &st) > 0 && token_read(e))
			log_warn("provider %s: token_file %s changed but holds no token; the "
				 "last one read is used", e->provider, e->token_file);
		secret = e->secret;
		pthread_mutex_unlock(&tokens_lock);
		return secret;
	}
	return NULL;
}

struct gcp_token_source *keys_tokens(const struct keys *k, const char *provider)
{
	for (size_t i = 0; k && i < k->n; i++)
		if (!strcmp(k->v[i].provider, provider))
			return k->v[i].tokens;
	return NULL;
}

int keys_have(const struct keys *k, const char *provider)
{
	return keys_get(k, provider) || keys_tokens(k, provider) || keys_aws(k, provider);
}

const struct sigv4_credentials *keys_aws(const struct keys *k, const char *provider)
{
	for (size_t i = 0; k && i < k->n; i++)
		if (!strcmp(k->v[i].provider, provider) && k->v[i].aws[0])
			return &k->v[i].creds;
	return NULL;
}

void keys_free(struct keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		secret_free(k->v[i].secret);
		secret_free(k->v[i].prev_secret);
		for (size_t j = 0; j < 3; j++)
			secret_free(k->v[i].aws[j]);
		free(k->v[i].provider);
		free(k->v[i].token_file);
	}
	free(k->v);
	free(k);
}
