/*
 * stage_guard: a workload's "guardrails" on what its call carries out. The request body is
 * scanned (guard/guard.h) and, as its profile says, passed, rewritten (placeholders in place
 * of values; r->body_new) or refused in the app's error format, naming the detector, never
 * the value. The call's guard_call stays in r->guard: the answer is read through it (its
 * placeholders restored, response detectors applied) and the record says what was found.
 *
 * The request target (path and query) is scanned too, never rewritten: a value in it to
 * redact, tokenize or block refuses the call. A body the guardrails cannot read (not JSON) is refused: what cannot be scanned must not
 * leave unscanned. With "enforce": false nothing is changed or refused; every check runs and
 * the record says each refusal that would have been, with its reason (they share one rule).
 */
#include <errno.h>
#include <string.h>

#include "guard/guard.h"
#include "policy/stages.h"
#include "providers/usage.h"

#define STAGE "guardrails"

static enum guard_api guard_api_of(const struct pipe_req *r)
{
	switch (r->app_api) {
	case USAGE_API_OPENAI_RESPONSES:
		return GUARD_API_OPENAI_RESPONSES;
	case USAGE_API_OPENAI_EMBEDDINGS:
		return GUARD_API_OPENAI_EMBEDDINGS;
	case USAGE_API_ANTHROPIC_MESSAGES:
		return GUARD_API_ANTHROPIC_MESSAGES;
	default:
		return r->family == POLICY_API_ANTHROPIC ? GUARD_API_ANTHROPIC_MESSAGES
							  : GUARD_API_OPENAI_CHAT;
	}
}

/* Whether the app's call is answered as a Bedrock event stream (binary frames), which the
 * response guardrails do not read: what they cannot read must not reach the app unread. */
static int answer_is_eventstream(const struct pipe_req *r)
{
	return r->app_api == USAGE_API_BEDROCK_CONVERSE_STREAM ||
	       r->app_api == USAGE_API_BEDROCK_INVOKE_STREAM;
}

/* The refusal of content a detector blocks, or (ENFORCE 0) its note. */
static enum pipe_verdict guard_blocked(struct pipe_req *r, const char *rule, int enforce)
{
	const char *by = guard_call_blocked_by(r->guard);

	return pipe_refuse(r, STAGE, rule, enforce, 400, "guardrail", 0,
			   "aigw: request blocked by guardrail \"%s\" (profile %s)", by ? by : "?",
			   guard_profile_name(r->wl->guard));
}

/* The refusal for guard_request()'s error RC. */
static enum pipe_verdict guard_refuse(struct pipe_req *r, const char *rule, int rc)
{
	switch (rc) {
	case -EPERM:
		return guard_blocked(r, rule, 1);
	case -EINVAL:
		return pipe_refuse(r, STAGE, rule, 1, 400, "invalid", 0,
				   "aigw: this workload's requests are scanned by guardrails, and "
				   "this body is not JSON they can read");
	default:
		return pipe_refuse(r, STAGE, rule, 1, 503, "unavailable", 0,
				   "aigw: guardrails could not scan this request (%s)",
				   rc == -ENOMEM ? "out of memory" : "scanner failed");
	}
}

static enum pipe_verdict guard_on_request(struct pipe_req *r)
{
	const struct guard_profile *p = r->wl ? r->wl->guard : NULL;
	char rule[PIPE_RULE_MAX];
	int rc;

	if (!p)
		return PIPE_CONTINUE;
	snprintf(rule, sizeof(rule), "guardrails.%s", guard_profile_name(p));
	if (!r->guard && !(r->guard = guard_call_new(p, guard_api_of(r))))
		return guard_refuse(r, rule, -ENOMEM);
	rc = r->url ? guard_request_target(r->guard, r->url, strlen(r->url)) : 0;
	if (!rc && !r->body_len && !guard_call_found(r->guard)) {
		/* nothing to scan but a clean target: the answer is left as it comes (a file's
		 * content, say), as before there were guardrails */
		guard_call_free(r->guard);
		r->guard = NULL;
		return PIPE_CONTINUE;
	}
	if (!rc && r->body_len)
		rc = guard_request(r->guard, r->body, r->body_len, &r->body_new, &r->body_new_len);
	if (rc)
		return guard_refuse(r, rule, rc);
	/* the tree is the app's body's: read before the proxy puts the rewritten one in its
	 * place, for the readers that come after (the usage question, a max tokens cap) */
	if (r->body_new && pipe_req_json(r, &(const struct cJSON *){NULL}))
		return pipe_refuse_unread(r, STAGE, rule);
	if (guard_call_blocked_by(r->guard)) /* "enforce": false: noted, and the checks go on */
		guard_blocked(r, rule, 0);
	if (guard_call_reads_response(r->guard) && answer_is_eventstream(r))
		return pipe_refuse(r, STAGE, rule, guard_profile_enforced(p), 400, "guardrail", 0,
				   "aigw: this workload's answers are read by guardrails (profile "
				   "%s), which cannot read a Bedrock event stream: call converse or "
				   "invoke instead", guard_profile_name(p));
	return PIPE_CONTINUE;
}

const struct stage stage_guard = {
    .name = STAGE,
    .on_request = guard_on_request,
};
