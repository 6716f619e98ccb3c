/*
 * stage_buffer: a workload's limits.buffer_bytes, on a request's head, before its body is
 * read. The gateway holds a request body whole (it parses it, may rewrite or translate it,
 * and resends it on a retry), so a workload sending many large bodies at once, or holding
 * them open with slow uploads and slow providers, could make the gateway hold any amount of
 * memory for it. Each call reserves its body's bytes among its workload's ("buf:WORKLOAD" in
 * govstate) from its head until it ends: the announced Content-Length, or, for a body without
 * one (chunked), what is left of the workload's bytes, which becomes the most the proxy reads
 * of that body (proxy.max_request_body stays the ceiling). A body that would pass the cap is
 * refused with 429 in the app's format (aigw.reason buffer_limit) before a byte of it is read;
 * other workloads are not affected. "enforce": false serves it and records would_deny.
 */
#include <stdio.h>

#include "policy/govstate.h"
#include "policy/stages.h"

#define BUFFER "limits"

static void buffer_key(char *buf, size_t size, const struct pipe_req *r)
{
	snprintf(buf, size, "buf:%s", r->workload);
}

static enum pipe_verdict buffer_refuse(struct pipe_req *r, const struct policy_limits *l,
				       uint64_t held)
{
	char size[48] = "of unannounced length";

	if (r->content_length != UINT64_MAX)
		snprintf(size, sizeof(size), "of %llu bytes", (unsigned long long)r->content_length);
	r->reason = "buffer_limit";
	return pipe_refuse(r, BUFFER, "limits.buffer_bytes", l->enforce, 429, "rate_limit", 1,
			   "aigw: workload %s has %llu bytes of requests held in the gateway; a "
			   "body %s would pass its limit of %llu",
			   r->workload, (unsigned long long)held, size,
			   (unsigned long long)l->buffer_bytes);
}

/*
 * Whether the call's body fits in what is left of the workload's bytes, the bytes it holds
 * (*RET_NEED) and the total held before it (*RET_HELD), read and reserved as one step under
 * the state's lock: two workers never both take the last bytes. A body that does not fit is
 * reserved only when the cap is not enforced, at the size it is read without the cap.
 */
static int buffer_take(struct pipe_req *r, const struct policy_limits *l, const char *key,
		       uint64_t *ret_need, uint64_t *ret_held)
{
	int chunked = r->content_length == UINT64_MAX, fits;
	uint64_t held, left, need;

	govstate_lock(r->state);
	held = govstate_held(r->state, key);
	left = held < l->buffer_bytes ? l->buffer_bytes - held : 0;
	need = chunked ? (left < r->max_body ? left : r->max_body) : r->content_length;
	fits = chunked ? left > 0 : need <= left;
	if (!fits && chunked)
		need = r->max_body;
	if (fits || !l->enforce)
		govstate_held_add(r->state, key, need);
	govstate_unlock(r->state);
	*ret_need = need;
	*ret_held = held;
	return fits;
}

static enum pipe_verdict buffer_on_request(struct pipe_req *r)
{
	const struct policy_limits *l = r->wl ? &r->wl->limits : NULL;
	char key[GOVSTATE_KEY_MAX];
	uint64_t held, need;

	if (!l || !l->buffer_bytes)
		return PIPE_CONTINUE;
	buffer_key(key, sizeof(key), r);
	if (!buffer_take(r, l, key, &need, &held)) {
		if (buffer_refuse(r, l, held) == PIPE_STOP)
			return PIPE_STOP;
	} else {
		pipe_decide(r, BUFFER, PIPE_ALLOW, "limits.buffer_bytes");
	}
	if (r->content_length == UINT64_MAX) /* the proxy reads no more of it than it reserved */
		r->max_body = need;
	r->res.held_bytes = need;
	return PIPE_CONTINUE;
}

static void buffer_on_end(struct pipe_req *r, const struct pipe_outcome *o)
{
	char key[GOVSTATE_KEY_MAX];

	(void)o;
	if (!r->res.held_bytes)
		return;
	buffer_key(key, sizeof(key), r);
	govstate_held_sub(r->state, key, r->res.held_bytes);
	r->res.held_bytes = 0;
}

const struct stage stage_buffer = {
    .name = BUFFER,
    .head = 1,
    .on_request = buffer_on_request,
    .on_end = buffer_on_end,
};
