/*
 * azure: Azure OpenAI, OpenAI's wire format behind other doors. A resource
 * (NAME.openai.azure.com, NAME.cognitiveservices.azure.com, NAME.services.ai.azure.com) serves
 *
 *   /openai/deployments/{deployment}/chat/completions|completions|embeddings?api-version=...
 *   /openai/v1/chat/completions|responses|embeddings   (the deployment is the body's "model")
 *   /models/chat/completions|embeddings?api-version=... (Azure AI Foundry's model inference
 *                      API, OpenAI's calls; the deployment is the body's "model")
 *
 * and takes a key in "api-key" or an Entra ID token as a bearer token. A deployment is a name
 * the resource's owner chose; what it runs is the policy's "deployments" map, and the gateway
 * reads every call by that model (routes, allow-lists, prices), never by the name: a name is
 * no evidence of what answers. The gateway sends the calls it routes to Azure on the v1 path,
 * the deployment in "model".
 *
 * Pure lookups and string work on the policy's provider; nothing here allocates but *RET of
 * azure_canonical().
 */
#ifndef AIGW_PROVIDERS_AZURE_H
#define AIGW_PROVIDERS_AZURE_H

#include <stddef.h>

#include "policy/policy.h"

#define AZURE_API_ROOT "/openai/v1"   /* an azure_openai provider's default api_root */
#define AZURE_DEPLOYMENT_MAX 64	      /* the longest deployment name (Azure's limit) */
#define AZURE_KEY_HEADER "api-key"    /* where Azure takes a key */

/* What is wrong with S as a deployment name (1..64 of [A-Za-z0-9._-]), or NULL. */
const char *azure_deployment_name_problem(const char *s);

/* The model deployment DEPLOYMENT of PR runs, or NULL when PR's map does not name it. */
const char *azure_deployment_model(const struct policy_provider *pr, const char *deployment);

/* The deployment a route target naming NAME on PR goes to: the deployment called NAME, else
 * the first (in the policy's order) that runs model NAME; NULL when neither. */
const char *azure_target_deployment(const struct policy_provider *pr, const char *name);

/*
 * The canonical form of a deployments call URL: "/openai/deployments/D/REST?QUERY" is read as
 * "/v1/REST" (the query is Azure's api-version, no part of the call) with D into
 * DEPLOYMENT[AZURE_DEPLOYMENT_MAX + 1]; a Foundry call "/models/CALL?QUERY" (CALL
 * chat/completions or embeddings) as "/v1/CALL", DEPLOYMENT "" (the body names it). Returns 1
 * and *RET (new; the caller frees); 0 when URL is under neither prefix (*RET NULL); -EINVAL
 * when its deployment segment is no deployment name or nothing follows it, or it is another
 * call under /models/ (no call the gateway reads: outside the API); -ENOMEM.
 */
int azure_canonical(const char *url, char **ret, char *deployment);

/* The header and the text before the credential for PR: "api-key" and "" for a key, or
 * "Authorization" and "Bearer " for token_file's Entra ID token. */
void azure_credential_header(const struct policy_provider *pr, const char **ret_name,
			     const char **ret_prefix);

#endif
