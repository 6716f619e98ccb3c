/*
 * stage_body_limit: proxy.max_request_body, on the length a request announces (the proxy
 * holds a body without one to the same limit as it arrives).
 */
#include "policy/stages.h"

static enum pipe_verdict body_limit_on_request(struct pipe_req *r)
{
	if (r->content_length == UINT64_MAX || r->content_length <= r->max_body)
		return PIPE_CONTINUE;
	return pipe_refuse(r, "body_limit", "proxy.max_request_body", 1, 413, "too_large", 0,
			   "request body larger than the gateway allows");
}

const struct stage stage_body_limit = {
    .name = "body_limit",
    .head = 1,
    .on_request = body_limit_on_request,
};
