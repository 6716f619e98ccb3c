/*
 * stage_allow: the models, providers and regions a workload may use ("allow.models",
 * ".providers", ".regions"). The model is checked as the app asked for it (a logical name
 * too), and every target as it is routed: a fallback never goes to a model, provider or
 * region the workload may not use. A call that goes where the app sent it is checked
 * against that provider.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "policy/stages.h"
#include "providers/api.h"
#include "proxy/route.h"

int pipe_globs_match(const struct policy_globs *g, const char *s)
{
	if (!g->given)
		return 1;
	for (size_t i = 0; i < g->n; i++)
		if (fnmatch(g->globs[i], s, FNM_PATHNAME) == 0)
			return 1;
	return 0;
}

static const char *provider_region(const struct pipe_req *r, const char *provider)
{
	for (size_t i = 0; i < r->policy->n_providers; i++)
		if (!strcmp(r->policy->providers[i].name, provider))
			return r->policy->providers[i].region;
	return NULL;
}

/* Which rule of A refuses PROVIDER (in REGION) and MODEL, or NULL. */
static const char *allow_refuses(const struct policy_allow *a, const char *provider,
				 const char *region, const char *model)
{
	if (model && model[0] && !pipe_globs_match(&a->models, model))
		return "allow.models";
	if (!provider || !provider[0]) /* routed: each target is checked as it is tried */
		return NULL;
	if (!pipe_globs_match(&a->providers, provider))
		return "allow.providers";
	if (a->regions.given && (!region || !pipe_globs_match(&a->regions, region)))
		return "allow.regions";
	return NULL;
}

/* The call names no model the gateway reads: its path is none its family's adapter reads
 * (another family's, an unknown or malformed one), and not one of the family's calls whose
 * body's "model" was read (providers/api.h). A GET names none. */
static int model_unread(const struct pipe_req *r)
{
	const struct provider_path *p;

	if (r->app_api >= 0 || !strcmp(r->method, "GET"))
		return 0;
	p = provider_inference_call(r->family, r->method, r->api_url, r->api_path_len);
	return !p || !p->body_model || !r->model[0];
}

static enum pipe_verdict allow_on_request(struct pipe_req *r)
{
	const struct policy_allow *a = r->wl ? &r->wl->allow : NULL;
	const char *rule, *provider = NULL, *region = NULL;

	if (!a || r->model_listing)
		return PIPE_CONTINUE;
	/* The model must be where the gateway reads it: a body cJSON cannot parse (nested past
	 * its limit, say) that the provider would, or one whose model comes from elsewhere,
	 * would otherwise walk around the list. */
	if (a->models.given && r->app_api >= 0 && !r->json && r->body_len)
		return pipe_refuse(r, "allow", "allow.models", a->enforce, 400, "invalid", 0,
				   "aigw: the request body is not a JSON object the gateway can read, "
				   "so its model cannot be checked against allow.models");
	if (a->models.given && r->app_api >= 0 && !r->model[0] && r->deployment)
		return pipe_refuse(r, "allow", "allow.models", a->enforce, 403, "permission", 0,
				   "aigw: deployment %s is not in the deployments of provider %s, so "
				   "the model it runs cannot be checked against allow.models of "
				   "workload %s",
				   r->deployment, r->provider ? r->provider : "", r->workload);
	/* A call whose path the gateway cannot read (an escape, "..", a second colon, another
	 * family's shape, a path the provider may serve unknown to the gateway) could name any
	 * model, at every family. A body's model the list refuses is refused as such below. */
	if (a->models.given && model_unread(r) &&
	    (!r->model[0] || pipe_globs_match(&a->models, r->model)))
		return pipe_refuse(r, "allow", "allow.models", a->enforce, 400, "invalid", 0,
				   "aigw: %s %.*s names no model of provider %s the gateway can "
				   "read, so it cannot be checked against allow.models",
				   r->method, (int)(r->api_path_len > 200 ? 200 : r->api_path_len),
				   r->api_url, r->provider ? r->provider : "");
	if (a->models.given && r->app_api >= 0 && !r->model[0])
		return pipe_refuse(r, "allow", "allow.models", a->enforce, 403, "permission", 0,
				   "aigw: the request names no \"model\", so it cannot be checked "
				   "against allow.models of workload %s",
				   r->workload);
	if (!r->route) { /* where the app sent it */
		provider = r->provider;
		region = provider ? provider_region(r, provider) : NULL;
	}
	rule = allow_refuses(a, provider, region, r->model);
	if (!rule) {
		if (a->models.given || a->providers.given || a->regions.given)
			pipe_decide(r, "allow", PIPE_ALLOW, "allow");
		return PIPE_CONTINUE;
	}
	if (!strcmp(rule, "allow.models"))
		return pipe_refuse(r, "allow", rule, a->enforce, 403, "permission", 0,
				   "aigw: model %s is not in allow.models of workload %s",
				   r->model, r->workload);
	if (!strcmp(rule, "allow.providers"))
		return pipe_refuse(r, "allow", rule, a->enforce, 403, "permission", 0,
				   "aigw: provider %s is not in allow.providers of workload %s",
				   provider, r->workload);
	return pipe_refuse(r, "allow", rule, a->enforce, 403, "permission", 0,
			   "aigw: provider %s (region %s) is not in allow.regions of workload %s",
			   provider, region ? region : "not set", r->workload);
}

static int allow_on_target(struct pipe_req *r, const struct route_target *t, char *why,
			   size_t whylen)
{
	const struct policy_allow *a = r->wl ? &r->wl->allow : NULL;
	const char *model = t->model ? t->model : r->model, *rule;

	if (!a)
		return 0;
	rule = allow_refuses(a, t->provider, provider_region(r, t->provider), model);
	if (!rule)
		return 0;
	if (!a->enforce) {
		pipe_decide(r, "allow", PIPE_WOULD_DENY, rule);
		return 0;
	}
	snprintf(why, whylen, "%s/%s is outside %s of workload %s", t->provider, model, rule,
		 r->workload);
	return -EPERM;
}

const struct stage stage_allow = {
    .name = "allow",
    .on_request = allow_on_request,
    .on_target = allow_on_target,
};
