/* keys.c: loading (environment or file, trailing whitespace trimmed) and clearing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "proxy/keys.h"
#include "util/log.h"

#define KEYS_MAX_LEN 4096

struct key {
	char *provider;
	char *secret; /* NULL for a provider with "aws" */
	char *aws[3]; /* access key id, secret access key, session token (or NULL) */
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

/* One "aws" variable NAME of provider PV into *RET; OPTIONAL: unset is fine. */
static int aws_read(const struct policy_provider *pv, const char *name, int optional, char **ret)
{
	const char *v = name ? getenv(name) : NULL;

	*ret = NULL;
	if (!name || (optional && !(v && *v)))
		return 0;
	if (!v || !*v) {
		log_error("provider %s: no AWS credential in environment variable %s", pv->name,
			  name);
		return -ENOKEY;
	}
	*ret = strdup(v);
	if (*ret)
		trim(*ret);
	return *ret ? 0 : -ENOMEM;
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

		if (!pv->key_env && !pv->key_file && !pv->has_aws)
			continue;
		k->n++; /* what it holds is freed with the rest */
		err = pv->has_aws ? aws_load(pv, e) : key_read(pv, &e->secret);
		if (err)
			break;
		e->provider = strdup(pv->name);
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

const struct sigv4_credentials *keys_aws(const struct keys *k, const char *provider)
{
	for (size_t i = 0; k && i < k->n; i++)
		if (!strcmp(k->v[i].provider, provider) && k->v[i].aws[0])
			return &k->v[i].creds;
	return NULL;
}

static void secret_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void keys_free(struct keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		secret_free(k->v[i].secret);
		for (size_t j = 0; j < 3; j++)
			secret_free(k->v[i].aws[j]);
		free(k->v[i].provider);
	}
	free(k->v);
	free(k);
}
