/*
 * stage_audit: audit.on_failure. While the audit log loses records (disk full, I/O error, or
 * its queue near full behind a slow disk: ledger/audit.h audit_failing()), "block" answers
 * new calls 503 in the provider's format, so that no call goes through unrecorded;
 * "continue" lets them go on. Either way the audit writer reports the failure once, and its
 * recovery. Nothing here waits for the disk: the writer thread clears the flag on its next
 * good write (a refused call's own record is one such attempt), or for a full queue once it
 * has caught up, and calls are admitted again from then on.
 */
#include <stdatomic.h>
#include <string.h>

#include "policy/stages.h"

static enum pipe_verdict audit_on_request(struct pipe_req *r)
{
	int err;

	if (!r->audit_failing || r->policy->audit.on_failure == POLICY_AUDIT_CONTINUE)
		return PIPE_CONTINUE;
	err = atomic_load_explicit(r->audit_failing, memory_order_relaxed);
	if (!err)
		return PIPE_CONTINUE;
	return pipe_refuse(r, "audit", "audit.on_failure", 1, 503, "unavailable", 0,
			   "the gateway cannot write its audit log (%s); calls are refused "
			   "until it can",
			   strerror(-err));
}

const struct stage stage_audit = {
    .name = "audit",
    .head = 1,
    .on_request = audit_on_request,
};
