/*
 * stage_buffer: the bytes the gateway holds for calls, bounded per workload
 * (limits.buffer_bytes, "buf:WORKLOAD" in govstate) and for the whole daemon
 * (proxy.limits.buffer_bytes, "buf"), so that one workload cannot starve another and no
 * workload can make the daemon swell.
 *
 * Requests: the gateway holds a request body whole (it parses it, may rewrite or translate it,
 * and resends it on a retry), so a workload sending many large bodies at once, or holding
 * them open with slow uploads and slow providers, could make the gateway hold any amount of
 * memory for it. Each call reserves its body's bytes among its workload's from its head until
 * it ends: the announced Content-Length, or, for a body without one (chunked), what is left of
 * the workload's bytes, which becomes the most the proxy reads of that body
 * (proxy.max_request_body stays the ceiling). A body that would pass the cap is refused with
 * 429 in the app's format (aigw.reason buffer_limit) before a byte of it is read; other
 * workloads are not affected. "enforce": false serves it and records would_deny. The daemon's
 * bound counts the announced length at the head and a chunked body as it is read
 * (buffer_body_grow); past it, 503.
 *
 * Answers: what the gateway holds of a call's answer (held whole to be checked, guarded or
 * translated; queued for an app that reads slowly or not at all) counts as well, as the proxy
 * tells it (buffer_answer_hold): past either cap the proxy stops reading from the provider
 * until the app drains, and an answer that must be held whole ends with buffer_limit.
 *
 * Connections: what the proxy holds outside any call (an answer still queued to an HTTP/1.1
 * app after its call ended; an h2 connection's request bytes in its streams' pipes and
 * answers waiting for the client's window) counts the same way, in a struct buffer_hold the
 * connection owns, until it is written or the connection is freed.
 *
 * Credit: answers and holds change by a provider read at a time, and each change under
 * govstate's lock costs more than the read's own work. So they are counted ahead in steps of
 * BUFFER_CREDIT_STEP: only a change that crosses a step takes the lock. A call's own credit
 * ahead of its bytes is not held against itself, so the daemon's count passes a cap by at
 * most one step a call, and what is really held never passes it. A connection's hold below a
 * step counts its bytes exactly (hold_credit()): it is what an ended call leaves queued, and
 * it changes as the app drains it, not at every read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/govstate.h"
#include "policy/stages.h"
#include "util/strcopy.h"

#define BUFFER "limits"
#define BUFFER_TOTAL_KEY "buf" /* the daemon's: workload keys are "buf:NAME" */
#define BUFFER_BODY_STEP (256u * 1024) /* a chunked body's daemon share grows by this */
#define BUFFER_CREDIT_STEP (64u * 1024) /* answers and holds are counted in steps of this */

/* "buf:WORKLOAD" into BUF (SIZE > 4: a GOVSTATE_KEY_MAX key), cut to fit: what
 * snprintf(BUF, SIZE, "buf:%s", WORKLOAD) writes, without the formatter (a hold takes it twice
 * a call). */
static void buffer_key(char *buf, size_t size, const char *workload)
{
	memcpy(buf, "buf:", 4);
	str_copy(buf + 4, size - 4, workload);
}

/* The workload's limits when it has a buffer_bytes, else NULL. */
static const struct policy_limits *buffer_limits(const struct pipe_req *r)
{
	const struct policy_limits *l = r->wl ? &r->wl->limits : NULL;

	return l && l->buffer_bytes ? l : NULL;
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

/* The daemon holds its proxy.limits.buffer_bytes: a memory bound, always enforced. */
static enum pipe_verdict buffer_refuse_daemon(struct pipe_req *r, uint64_t held)
{
	r->reason = "buffer_limit";
	return pipe_refuse(r, BUFFER, "proxy.limits.buffer_bytes", 1, 503, "unavailable", 1,
			   "aigw: the gateway holds %llu bytes of calls, near its limit of %llu "
			   "(proxy.limits.buffer_bytes); try again shortly",
			   (unsigned long long)held,
			   (unsigned long long)r->policy->proxy.buffer_bytes);
}

/* The daemon's share of an announced body, taken at its head. */
static enum pipe_verdict buffer_daemon_take(struct pipe_req *r)
{
	uint64_t need = r->content_length == UINT64_MAX ? 0 : r->content_length;
	uint64_t held = govstate_held(r->state, BUFFER_TOTAL_KEY);

	if (held + need > r->policy->proxy.buffer_bytes ||
	    (!need && held >= r->policy->proxy.buffer_bytes))
		return buffer_refuse_daemon(r, held);
	r->res.daemon_bytes = need;
	govstate_held_add(r->state, BUFFER_TOTAL_KEY, need);
	return PIPE_CONTINUE;
}

static enum pipe_verdict buffer_request_locked(struct pipe_req *r)
{
	const struct policy_limits *l = buffer_limits(r);
	int chunked = r->content_length == UINT64_MAX;
	char key[GOVSTATE_KEY_MAX];
	uint64_t held, left, need;

	if (buffer_daemon_take(r) == PIPE_STOP)
		return PIPE_STOP;
	if (!l)
		return PIPE_CONTINUE;
	buffer_key(key, sizeof(key), r->workload);
	held = govstate_held(r->state, key);
	left = held < l->buffer_bytes ? l->buffer_bytes - held : 0;
	need = chunked ? (left < r->max_body ? left : r->max_body) : r->content_length;
	if (chunked ? !left : need > left) {
		if (buffer_refuse(r, l, held) == PIPE_STOP)
			return PIPE_STOP;
		if (chunked) /* would_deny: read as it would be without the cap */
			need = r->max_body;
	} else {
		pipe_decide(r, BUFFER, PIPE_ALLOW, "limits.buffer_bytes");
	}
	if (chunked) /* the proxy reads no more of it than it reserved */
		r->max_body = need;
	r->res.held_bytes = need;
	govstate_held_add(r->state, key, need);
	return PIPE_CONTINUE;
}

/* The workers share the counts: the proxy's calls below hold govstate's lock across a check
 * and its take, so they are one step across workers. */
static int body_grow_locked(struct pipe_req *r, uint64_t len)
{
	uint64_t held, step;

	held = govstate_held(r->state, BUFFER_TOTAL_KEY);
	step = len - r->res.daemon_bytes;
	if (step < BUFFER_BODY_STEP)
		step = BUFFER_BODY_STEP;
	if (held + step > r->policy->proxy.buffer_bytes) /* at least what it has now */
		step = len - r->res.daemon_bytes;
	if (held + step > r->policy->proxy.buffer_bytes) {
		buffer_refuse_daemon(r, held);
		return -ENOBUFS;
	}
	r->res.daemon_bytes += step;
	govstate_held_add(r->state, BUFFER_TOTAL_KEY, step);
	return 0;
}

int buffer_body_grow(struct pipe_req *r, uint64_t len)
{
	int err;

	if (!r->state || !r->policy || len <= r->res.daemon_bytes)
		return 0;
	govstate_lock(r->state);
	err = body_grow_locked(r, len);
	govstate_unlock(r->state);
	return err;
}

/* Moves KEY's count from OLD to NOW bytes; returns its new total. */
static uint64_t buffer_move(struct govstate *g, const char *key, uint64_t old, uint64_t now)
{
	if (now >= old)
		return govstate_held_add(g, key, now - old);
	return govstate_held_sub(g, key, old - now);
}

/* BYTES rounded up to a credit step: what is counted for them. */
static uint64_t buffer_credit(uint64_t bytes)
{
	return (bytes + BUFFER_CREDIT_STEP - 1) / BUFFER_CREDIT_STEP * BUFFER_CREDIT_STEP;
}

/* Whether a count of TOTAL, CREDIT of it taken ahead for BYTES, is past CAP. */
static int buffer_past(uint64_t total, uint64_t credit, uint64_t bytes, uint64_t cap)
{
	return total - credit + bytes > cap;
}

static void answer_hold_locked(struct pipe_req *r, uint64_t bytes)
{
	const struct policy_limits *l = buffer_limits(r);
	char key[GOVSTATE_KEY_MAX];
	uint64_t old = r->res.answer_credit, credit = buffer_credit(bytes), total, mine = 0;

	r->res.answer_bytes = bytes;
	r->res.answer_credit = credit;
	total = buffer_move(r->state, BUFFER_TOTAL_KEY, old, credit);
	if (l) {
		buffer_key(key, sizeof(key), r->workload);
		mine = buffer_move(r->state, key, old, credit);
	}
	r->res.answer_over = 0;
	if (buffer_past(total, credit, bytes, r->policy->proxy.buffer_bytes)) {
		r->res.answer_over = 1;
		r->res.answer_rule = "proxy.limits.buffer_bytes";
	} else if (l && buffer_past(mine, credit, bytes, l->buffer_bytes)) {
		r->res.answer_rule = "limits.buffer_bytes";
		if (!l->enforce && !r->res.answer_noted) { /* served; the record says so */
			r->res.answer_noted = 1;
			r->reason = "buffer_limit";
			pipe_decide(r, BUFFER, PIPE_WOULD_DENY, "limits.buffer_bytes");
		}
		r->res.answer_over = l->enforce;
	}
}

/* Within its credit step the answer's count stands, and so does what it last decided. */
int buffer_answer_hold(struct pipe_req *r, uint64_t bytes)
{
	if (!r->state || !r->policy || buffer_credit(bytes) == r->res.answer_credit) {
		r->res.answer_bytes = bytes;
		return bytes && r->res.answer_over;
	}
	govstate_lock(r->state);
	answer_hold_locked(r, bytes);
	govstate_unlock(r->state);
	return r->res.answer_over;
}

/*
 * What a connection's hold counts for BYTES: below a step, the bytes themselves. A hold
 * changes when a call ends and as the app drains it, not at every provider read; and an
 * ended call's small answer still queued (an error, say) counted as a whole step would
 * refuse the workload's next call under a cap of a step or two until it was written.
 */
static uint64_t hold_credit(uint64_t bytes)
{
	return bytes < BUFFER_CREDIT_STEP ? bytes : buffer_credit(bytes);
}

/* Moves H's count in the counter C pinned for KEY (by KEY when C is NULL) from OLD to NOW
 * bytes; returns its new total. Under govstate_lock(). */
static uint64_t hold_move(struct buffer_hold *h, struct govstate_held *c, const char *key,
			  uint64_t old, uint64_t now)
{
	return c ? govstate_held_move(c, old, now) : buffer_move(h->state, key, old, now);
}

/* H starts counting in G for WORKLOAD: its counters pinned. Under govstate_lock(G). */
static void hold_attach(struct buffer_hold *h, struct govstate *g, const char *workload)
{
	char key[GOVSTATE_KEY_MAX];

	h->state = g;
	str_copy(h->workload, sizeof(h->workload), workload);
	h->total = govstate_held_pin(g, BUFFER_TOTAL_KEY);
	if (h->workload[0]) {
		buffer_key(key, sizeof(key), h->workload);
		h->mine = govstate_held_pin(g, key);
	}
}

static void hold_set_locked(struct buffer_hold *h, const struct policy *p, uint64_t bytes)
{
	const struct policy_workload *wl =
	    h->workload[0] ? policy_workload_by_name(p, h->workload) : NULL;
	uint64_t old = h->credit, credit = hold_credit(bytes), total, mine = 0;
	char key[GOVSTATE_KEY_MAX] = "";

	h->bytes = bytes;
	h->credit = credit;
	total = hold_move(h, h->total, BUFFER_TOTAL_KEY, old, credit);
	if (h->workload[0]) {
		if (!h->mine)
			buffer_key(key, sizeof(key), h->workload);
		mine = hold_move(h, h->mine, key, old, credit);
	}
	h->over = buffer_past(total, credit, bytes, p->proxy.buffer_bytes) ||
		  (wl && wl->limits.buffer_bytes && wl->limits.enforce &&
		   buffer_past(mine, credit, bytes, wl->limits.buffer_bytes));
}

int buffer_hold_set(struct buffer_hold *h, struct govstate *g, const struct policy *p,
		    const char *workload, uint64_t bytes)
{
	if (!workload)
		workload = "";
	if (!h->state && !bytes)
		return 0;
	if (h->state && (h->state != g || strcmp(h->workload, workload)))
		buffer_hold_release(h); /* counted elsewhere before */
	if (!g || !p || (h->state && hold_credit(bytes) == h->credit)) {
		h->bytes = bytes;
		return g && p && bytes && h->over;
	}
	govstate_lock(g);
	if (!h->state)
		hold_attach(h, g, workload);
	hold_set_locked(h, p, bytes);
	govstate_unlock(g);
	return h->over;
}

void buffer_hold_release(struct buffer_hold *h)
{
	char key[GOVSTATE_KEY_MAX] = "";

	if (!h->state)
		return;
	govstate_lock(h->state);
	hold_move(h, h->total, BUFFER_TOTAL_KEY, h->credit, 0);
	if (h->workload[0]) {
		if (!h->mine)
			buffer_key(key, sizeof(key), h->workload);
		hold_move(h, h->mine, key, h->credit, 0);
	}
	govstate_held_unpin(h->state, h->total);
	govstate_held_unpin(h->state, h->mine);
	govstate_unlock(h->state);
	*h = (struct buffer_hold){0};
}

void buffer_answer_refuse(struct pipe_req *r)
{
	const struct policy_limits *l = buffer_limits(r);
	int daemon = !l || !strcmp(r->res.answer_rule, "proxy.limits.buffer_bytes");
	uint64_t cap = daemon ? r->policy->proxy.buffer_bytes : l->buffer_bytes;

	r->reason = "buffer_limit";
	pipe_refuse(r, BUFFER, r->res.answer_rule, 1, daemon ? 503 : 413,
		    daemon ? "unavailable" : "too_large", 0,
		    "aigw: the answer must be held whole before it is released and is larger "
		    "than %s may have held in the gateway (%s %llu bytes); it was not delivered",
		    daemon ? "the gateway" : r->workload, r->res.answer_rule,
		    (unsigned long long)cap);
}

uint64_t buffer_held_total(struct govstate *g)
{
	return govstate_held(g, BUFFER_TOTAL_KEY);
}

/* Each count goes back in its own call: nothing here decides on what it reads. */
static void buffer_on_end(struct pipe_req *r, const struct pipe_outcome *o)
{
	char key[GOVSTATE_KEY_MAX];

	(void)o;
	buffer_answer_hold(r, 0);
	govstate_held_sub(r->state, BUFFER_TOTAL_KEY, r->res.daemon_bytes);
	r->res.daemon_bytes = 0;
	if (!r->res.held_bytes)
		return;
	buffer_key(key, sizeof(key), r->workload);
	govstate_held_sub(r->state, key, r->res.held_bytes);
	r->res.held_bytes = 0;
}

/* The counts' checks and takes are one step under govstate's lock (the workers share them). */
static enum pipe_verdict buffer_on_request(struct pipe_req *r)
{
	enum pipe_verdict v;

	govstate_lock(r->state);
	v = buffer_request_locked(r);
	govstate_unlock(r->state);
	return v;
}

const struct stage stage_buffer = {
    .name = BUFFER,
    .head = 1,
    .on_request = buffer_on_request,
    .on_end = buffer_on_end,
};
