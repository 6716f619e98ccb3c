/*
 * stage_route: which route a call takes. A model asked for by a logical name (or a real
 * model given a fallback chain) takes that name's route; at the explicit endpoint any other
 * model goes to the first provider of the path's family. Otherwise the call goes where the
 * app sent it (no route). The proxy then tries the route's targets in order, each one first
 * put to pipeline_target().
 */
#include "policy/stages.h"
#include "proxy/route.h"

static enum pipe_verdict route_on_request(struct pipe_req *r)
{
	if (r->model_listing)
		return PIPE_CONTINUE;
	r->route = route_find(r->routes, r->model);
	if (!r->route && r->explicit_endpoint && r->routes)
		r->route = &r->routes->defaults[r->family];
	return PIPE_CONTINUE;
}

const struct stage stage_route = {
    .name = "route",
    .on_request = route_on_request,
};
