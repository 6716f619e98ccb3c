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

/* The rules of allow a call and each target of its route must pass, in the order enforcement
 * meets them. */
enum allow_rule { ALLOW_MODELS, ALLOW_PROVIDERS, ALLOW_REGIONS, ALLOW_RULES };

static const char *const allow_rule_names[ALLOW_RULES] = {"allow.models", "allow.providers",
							  "allow.regions"};

/* Whether RULE of A refuses PROVIDER (in REGION) and MODEL. A call routed has no provider
 * yet: each target is checked as it is tried. */
static int allow_rule_refuses(const struct policy_allow *a, enum allow_rule rule,
			      const char *provider, const char *region, const char *model)
{
	if (rule == ALLOW_MODELS)
		return model && model[0] && !pipe_globs_match(&a->models, model);
	if (!provider || !provider[0])
		return 0;
	if (rule == ALLOW_PROVIDERS)
		return !pipe_globs_match(&a->providers, provider);
	return a->regions.given && (!region || !pipe_globs_match(&a->regions, region));
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

/* Refuses R's call (or notes the would-be refusal) when A's allow.models cannot check its
 * model: 1 when it did. */
static int allow_model_unchecked(struct pipe_req *r, const struct policy_allow *a)
{
	if (!a->models.given)
		return 0;
	/* The model must be where the gateway reads it: a body cJSON cannot parse (nested past
	 * its limit, say) that the provider would, or one whose model comes from elsewhere,
	 * would otherwise walk around the list. */
	if (r->app_api >= 0 && !pipe_req_json_object(r) && r->body_len) {
		pipe_refuse(r, "allow", "allow.models", a->enforce, 400, "invalid", 0,
			    "aigw: the request body is not a JSON object the gateway can read, "
			    "so its model cannot be checked against allow.models");
		return 1;
	}
	if (r->app_api >= 0 && !r->model[0] && r->deployment) {
		pipe_refuse(r, "allow", "allow.models", a->enforce, 403, "permission", 0,
			    "aigw: deployment %s is not in the deployments of provider %s, so "
			    "the model it runs cannot be checked against allow.models of "
			    "workload %s",
			    r->deployment, r->provider ? r->provider : "", r->workload);
		return 1;
	}
	/* A call whose path the gateway cannot read (an escape, "..", a second colon, another
	 * family's shape, a path the provider may serve unknown to the gateway) could name any
	 * model, at every family. A body's model the list refuses is refused as such. */
	if (model_unread(r) && (!r->model[0] || pipe_globs_match(&a->models, r->model))) {
		pipe_refuse(r, "allow", "allow.models", a->enforce, 400, "invalid", 0,
			    "aigw: %s %.*s names no model of provider %s the gateway can "
			    "read, so it cannot be checked against allow.models",
			    r->method, (int)(r->api_path_len > 200 ? 200 : r->api_path_len),
			    r->api_url, r->provider ? r->provider : "");
		return 1;
	}
	if (r->app_api >= 0 && !r->model[0]) {
		pipe_refuse(r, "allow", "allow.models", a->enforce, 403, "permission", 0,
			    "aigw: the request names no \"model\", so it cannot be checked "
			    "against allow.models of workload %s",
			    r->workload);
		return 1;
	}
	return 0;
}

/* Refuses R's call (or notes the would-be refusal) when RULE of A refuses it as the app sent
 * it (to PROVIDER in REGION; routed: none yet): 1 when it did. */
static int allow_call_refused(struct pipe_req *r, const struct policy_allow *a,
			      enum allow_rule rule, const char *provider, const char *region)
{
	const char *name = allow_rule_names[rule];

	if (rule == ALLOW_MODELS && allow_model_unchecked(r, a))
		return 1;
	if (!allow_rule_refuses(a, rule, provider, region, r->model))
		return 0;
	if (rule == ALLOW_MODELS)
		pipe_refuse(r, "allow", name, a->enforce, 403, "permission", 0,
			    "aigw: model %s is not in allow.models of workload %s", r->model,
			    r->workload);
	else if (rule == ALLOW_PROVIDERS)
		pipe_refuse(r, "allow", name, a->enforce, 403, "permission", 0,
			    "aigw: provider %s is not in allow.providers of workload %s", provider,
			    r->workload);
	else
		pipe_refuse(r, "allow", name, a->enforce, 403, "permission", 0,
			    "aigw: provider %s (region %s) is not in allow.regions of workload %s",
			    provider, region ? region : "not set", r->workload);
	return 1;
}

/*
 * Each rule refuses at once when enforced. Under roll-out ("enforce": false) every rule still
 * runs and each would-be refusal is noted, as the endpoints and limits stages do: an operator
 * who turns enforcement on must not meet a refusal the record never announced.
 */
static enum pipe_verdict allow_on_request(struct pipe_req *r)
{
	const struct policy_allow *a = r->wl ? &r->wl->allow : NULL;
	const char *provider = NULL, *region = NULL;
	int refused = 0;

	if (!a || r->model_listing)
		return PIPE_CONTINUE;
	if (!r->route) { /* where the app sent it */
		provider = r->provider;
		region = provider ? provider_region(r, provider) : NULL;
	}
	for (enum allow_rule rule = 0; rule < ALLOW_RULES; rule++) {
		if (!allow_call_refused(r, a, rule, provider, region))
			continue;
		if (a->enforce)
			return PIPE_STOP;
		refused = 1;
	}
	if (!refused && (a->models.given || a->providers.given || a->regions.given))
		pipe_decide(r, "allow", PIPE_ALLOW, "allow");
	return PIPE_CONTINUE;
}

/* May R's call go to target T? Enforced, the first rule that refuses it says why (-EPERM);
 * under roll-out each rule that would is noted and the target is tried. */
static int allow_on_target(struct pipe_req *r, const struct route_target *t, char *why,
			   size_t whylen)
{
	const struct policy_allow *a = r->wl ? &r->wl->allow : NULL;
	const char *model = t->model ? t->model : r->model, *region;

	if (!a)
		return 0;
	region = provider_region(r, t->provider);
	for (enum allow_rule rule = 0; rule < ALLOW_RULES; rule++) {
		if (!allow_rule_refuses(a, rule, t->provider, region, model))
			continue;
		if (a->enforce) {
			snprintf(why, whylen, "%s/%s is outside %s of workload %s", t->provider,
				 model, allow_rule_names[rule], r->workload);
			return -EPERM;
		}
		pipe_decide(r, "allow", PIPE_WOULD_DENY, allow_rule_names[rule]);
	}
	return 0;
}

const struct stage stage_allow = {
    .name = "allow",
    .on_request = allow_on_request,
    .on_target = allow_on_target,
};
