/*
 * ai_services.c: the AI service catalogue (see ai_services.h). The shipped JSON is generated
 * into build/ai_services_default.inc by the Makefile and validated by the policy's own schema
 * for "ai_services", so the file and the key can never disagree on what is valid.
 */
#include <stddef.h>

#include "policy/ai_services.h"

static const char ai_services_default_json[] = {
#include "ai_services_default.inc"
    0};

int ai_services_load_builtin(FILE *errs, struct policy **ret_catalogue)
{
	return policy_load_ai_catalogue("the built-in AI service catalogue",
					ai_services_default_json,
					sizeof(ai_services_default_json) - 1, errs, ret_catalogue);
}

static const char *match_in(const struct policy *p, const char *host)
{
	for (size_t i = 0; p && i < p->n_ai_services; i++) {
		const struct policy_ai_service *svc = &p->ai_services[i];

		if (policy_host_in_domains(host, svc->domains, svc->n_domains))
			return svc->name;
	}
	return NULL;
}

const char *ai_services_match(const struct policy *p, const struct policy *builtin,
			      const char *host)
{
	const char *name;

	if (!host || !*host)
		return NULL;
	name = match_in(p, host);
	return name ? name : match_in(builtin, host);
}
