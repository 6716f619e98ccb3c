/*
 * ai_services: the catalogue of AI services (model APIs, hosted inference, assistants, AI
 * SaaS) that names the service a TLS server name belongs to, so that a connection the proxy
 * splices through can still say "this went to Mistral AI". The shipped catalogue,
 * policies/ai-services.json, is built into the binary; a policy's "ai_services" adds to it
 * and is looked at first. Names match by whole labels (policy_host_in_domains()).
 */
#ifndef AIGW_POLICY_AI_SERVICES_H
#define AIGW_POLICY_AI_SERVICES_H

#include <stdio.h>

#include "policy/policy.h"

/* Parses the built-in catalogue; problems (a build gone wrong) go to ERRS. The caller frees
 * *RET_CATALOGUE with policy_free(). */
int ai_services_load_builtin(FILE *errs, struct policy **ret_catalogue);

/*
 * The name of the AI service HOST belongs to: P's "ai_services" first, then BUILTIN's (either
 * may be NULL). NULL when none; the name is owned by P or BUILTIN.
 */
const char *ai_services_match(const struct policy *p, const struct policy *builtin,
			      const char *host);

#endif
