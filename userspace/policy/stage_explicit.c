/*
 * stage_explicit: admission at the explicit endpoint, on the request's head (before a 100
 * Continue, before its body is held). Over TCP the caller must present a gateway key the
 * policy issued to a workload; the key names the workload and never goes further. Over the
 * UNIX socket the caller was named by its cgroup. Only the paths the gateway serves there
 * are admitted.
 */
#include <string.h>

#include "policy/stages.h"

static int is_model_list(const struct pipe_req *r)
{
	return !strcmp(r->method, "GET") && r->path_len == 10 &&
	       !strncmp(r->url, "/v1/models", 10);
}

static enum pipe_verdict explicit_key_on_request(struct pipe_req *r)
{
	const struct policy_workload *w;

	if (!r->explicit_endpoint)
		return PIPE_CONTINUE;
	if (!r->local_peer) {
		w = r->presented_key ? policy_workload_by_api_key(r->policy, r->presented_key)
				     : NULL;
		if (!w)
			return pipe_refuse(
			    r, "explicit", "workloads.api_keys", 1, 401, "auth", 0, "%s",
			    r->presented_key
				? "aigw: the gateway key presented is not one the policy issued"
				: "aigw: a gateway key is required (Authorization: Bearer KEY)");
		snprintf(r->workload, sizeof(r->workload), "%s", w->name);
		snprintf(r->team, sizeof(r->team), "%s", w->team ? w->team : "");
		r->rules_bound = 0; /* its rules are bound by this name before the next stage */
	}
	return PIPE_CONTINUE;
}

/* After the endpoint allow-list has had its say (a call the policy refuses is refused as
 * such, 403, wherever it comes from): what the explicit endpoint serves. */
static enum pipe_verdict explicit_paths_on_request(struct pipe_req *r)
{
	if (!r->explicit_endpoint)
		return PIPE_CONTINUE;
	if (is_model_list(r)) {
		r->model_listing = 1;
		return PIPE_CONTINUE;
	}
	if (r->app_api >= 0 && !strcmp(r->method, "POST"))
		return PIPE_CONTINUE;
	return pipe_refuse(r, "explicit", "api.paths", 1, 404, "not_found", 0,
			   "aigw: the gateway serves POST /v1/chat/completions, /v1/responses, "
			   "/v1/embeddings and /v1/messages, and GET /v1/models");
}

const struct stage stage_explicit_key = {
    .name = "explicit",
    .head = 1,
    .on_request = explicit_key_on_request,
};

const struct stage stage_explicit_paths = {
    .name = "explicit",
    .head = 1,
    .on_request = explicit_paths_on_request,
};
