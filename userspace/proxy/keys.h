/*
 * keys: the provider keys the gateway holds, read from the environment variable or the file
 * the policy names for each provider (never from the policy itself). A captured app's own
 * key is replaced by the gateway's on the way out, unless its workload has own_keys. A Vertex
 * provider's credential is a service-account key file, from which tokens are minted.
 * Keys are never logged, recorded or shown; their memory is cleared when freed.
 *
 * Ownership: keys_load() returns a set the caller frees with keys_free().
 */
#ifndef AIGW_PROXY_KEYS_H
#define AIGW_PROXY_KEYS_H

#include "policy/policy.h"
#include "providers/sigv4.h"

struct keys;

struct gcp_token_source;

/* Reads every key P names (a Vertex provider's credentials_file: its token source). A key that cannot be read (variable unset or empty, file missing
 * or empty) is an error naming the provider and where it looked, never the key: -ENOKEY. */
int keys_load(const struct policy *p, struct keys **ret_keys);

/* The gateway's key for PROVIDER, or NULL when the policy names none. A token_file that
 * changed since it was read is read again first (valid until the next call). */
const char *keys_get(const struct keys *k, const char *provider);

/* A Vertex provider's token source (proxy/gcp_token.h; the registry owns it), or NULL. */
struct gcp_token_source *keys_tokens(const struct keys *k, const char *provider);

/* The gateway's AWS credentials for PROVIDER (its "aws" variables, read like keys: each one
 * named must be set and not empty), or NULL when it has no "aws". Owned by K. */
const struct sigv4_credentials *keys_aws(const struct keys *k, const char *provider);

/* Whether the gateway holds a credential for PROVIDER: a key, a token source or AWS
 * credentials. */
int keys_have(const struct keys *k, const char *provider);

void keys_free(struct keys *k);

#endif
