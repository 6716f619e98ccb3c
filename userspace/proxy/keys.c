/* keys.c: loading (environment or file, trailing whitespace trimmed) and clearing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "proxy/gcp_token.h"
#include "proxy/keys.h"
#include "util/log.h"

#define KEYS_MAX_LEN 4096

struct key {
	char *provider;
	char *secret;			 /* NULL for a Vertex provider */
	struct gcp_token_source *tokens; /* a Vertex provider's (the registry's), or NULL */
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

		if (pv->api == POLICY_API_VERTEX && pv->credentials_file)
			err = key_tokens(p, pv, &e->tokens);
		else if (!pv->key_env && !pv->key_file)
			continue;
		else
			err = key_read(pv, &e->secret);
		if (err)
			break;
		e->provider = strdup(pv->name);
		k->n++;
		if (!e->provider)
			err = -ENOMEM;
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
	for (size_t i = 0; k && i < k->n; i++)
		if (!strcmp(k->v[i].provider, provider))
			return k->v[i].secret;
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
	return keys_get(k, provider) || keys_tokens(k, provider);
}

void keys_free(struct keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		if (k->v[i].secret)
			OPENSSL_cleanse(k->v[i].secret, strlen(k->v[i].secret));
		free(k->v[i].secret);
		free(k->v[i].provider);
	}
	free(k->v);
	free(k);
}
