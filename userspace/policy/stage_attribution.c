/*
 * stage_attribution: a captured call (or one on the explicit endpoint's UNIX socket) must be
 * someone's. Its workload is named from the cgroup that made the connection (also one removed
 * since: capture/cgroups.h); when that cgroup cannot be named (removed, and its record evicted
 * by a flood of new cgroups), the call would escape every rule kept by workload name
 * (allow-lists, limits, budgets) while still getting the gateway's key: it is refused.
 */
#include "policy/stages.h"

static enum pipe_verdict attribution_on_request(struct pipe_req *r)
{
	if ((r->explicit_endpoint && !r->local_peer) || r->workload[0])
		return PIPE_CONTINUE; /* over TCP the explicit endpoint names it by its key */
	return pipe_refuse(r, "attribution", "workload", 1, 403, "permission", 0,
			   "aigw: the connection's cgroup is gone, so the call cannot be "
			   "attributed to a workload");
}

const struct stage stage_attribution = {
    .name = "attribution",
    .head = 1,
    .on_request = attribution_on_request,
};
