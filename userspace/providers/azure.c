/*
 * azure: Azure OpenAI's deployments, paths and credential header (see azure.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/azure.h"

#define DEPLOYMENTS_PREFIX "/openai/deployments/"
#define FOUNDRY_PREFIX "/models/" /* Azure AI Foundry's model inference API */

/* The calls of the model inference API the gateway reads: OpenAI's, under another root. */
static const char *const foundry_calls[] = {"chat/completions", "embeddings", NULL};

const char *azure_deployment_name_problem(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	if (!*s)
		return "an empty name";
	if (s[n])
		return "a character other than letters, digits, '-', '_' and '.'";
	if (n > AZURE_DEPLOYMENT_MAX)
		return "a name longer than 64 characters";
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return "a dot segment";
	return NULL;
}

const char *azure_deployment_model(const struct policy_provider *pr, const char *deployment)
{
	for (size_t i = 0; pr && deployment && i < pr->n_deployments; i++)
		if (!strcmp(pr->deployment_names[i], deployment))
			return pr->deployment_models[i];
	return NULL;
}

const char *azure_target_deployment(const struct policy_provider *pr, const char *name)
{
	if (!pr || !name)
		return NULL;
	if (azure_deployment_model(pr, name))
		return name;
	for (size_t i = 0; i < pr->n_deployments; i++)
		if (!strcmp(pr->deployment_models[i], name))
			return pr->deployment_names[i];
	return NULL;
}

/* "/models/CALL?QUERY" as "/v1/CALL" (1), -EINVAL for any other call under /models/. */
static int foundry_canonical(const char *url, char **ret)
{
	const char *call = url + strlen(FOUNDRY_PREFIX);
	size_t n = strcspn(call, "?");

	for (int i = 0; foundry_calls[i]; i++) {
		if (n != strlen(foundry_calls[i]) || strncmp(call, foundry_calls[i], n))
			continue;
		if (asprintf(ret, "/v1/%s", foundry_calls[i]) < 0) {
			*ret = NULL;
			return -ENOMEM;
		}
		return 1;
	}
	return -EINVAL;
}

int azure_canonical(const char *url, char **ret, char *deployment)
{
	const char *d = url + strlen(DEPLOYMENTS_PREFIX), *rest;
	size_t n, path_len;

	*ret = NULL;
	deployment[0] = '\0';
	if (!strncmp(url, FOUNDRY_PREFIX, strlen(FOUNDRY_PREFIX)))
		return foundry_canonical(url, ret);
	if (strncmp(url, DEPLOYMENTS_PREFIX, strlen(DEPLOYMENTS_PREFIX)))
		return 0;
	n = strcspn(d, "/?");
	rest = d + n;
	if (!n || n > AZURE_DEPLOYMENT_MAX || *rest != '/' || !rest[1] || rest[1] == '?')
		return -EINVAL;
	memcpy(deployment, d, n);
	deployment[n] = '\0';
	if (azure_deployment_name_problem(deployment)) {
		deployment[0] = '\0';
		return -EINVAL;
	}
	path_len = strcspn(rest, "?");
	if (asprintf(ret, "/v1%.*s", (int)path_len, rest) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 1;
}

void azure_credential_header(const struct policy_provider *pr, const char **ret_name,
			     const char **ret_prefix)
{
	*ret_name = pr->token_file ? "Authorization" : AZURE_KEY_HEADER;
	*ret_prefix = pr->token_file ? "Bearer " : "";
}
