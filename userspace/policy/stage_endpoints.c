/*
 * stage_endpoints: which provider endpoints a workload may call ("allow.endpoints"), and only
 * by their canonical path.
 *
 * With the gateway's key the default is the inference endpoints alone, of the family the call
 * is read as (each adapter's table, providers/api.h, and every call it reads, such as
 * Gemini's "/v1beta/models/M:generateContent"): files, batches,
 * uploads, fine-tuning, assistants, vector stores and the admin and organisation APIs read
 * or spend the whole organisation's account, so they are refused unless the workload lists
 * them. A workload that keeps its own keys ("own_keys") calls them with its own key. A list
 * the workload gives replaces the default whoever's key goes.
 *
 * The path is matched as the provider will read it, so a path a server could read as another
 * (dot segments, empty segments, an encoded slash or dot, a backslash) is refused first:
 * "/v1/chat/completions/../files" must not pass as chat completions.
 *
 * Lists name canonical paths ("/v1/..."): at a provider that serves its API under a root of its
 * own (Groq's "/openai/v1", providers/api_path.h) the call is matched with that root made
 * "/v1", after the path as sent passed the check above. A path outside the provider's API
 * root is none of its API calls; the gateway cannot read or meter it, so its key never goes
 * with one.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/stages.h"
#include "providers/api.h"
#include "providers/gemini.h"
#include "util/hex.h"
#include "util/strcopy.h"

/* Why the percent-encoding at P (LEFT bytes from P) is not canonical, or NULL: RFC 3986
 * never encodes an unreserved character, and an encoded slash or backslash is a path a
 * server may read as another. */
static const char *escape_problem(const char *p, size_t left, int slash_ok)
{
	int c = hex_byte(p + 1, left - 1);

	if (c < 0)
		return "a malformed percent-encoding";
	if (slash_ok && c == '/')
		return NULL;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    strchr("-._~/\\", c))
		return "a percent-encoded character that needs no encoding";
	return NULL;
}

/* Why PATH (LEN bytes) is not canonical, or NULL. SLASH_OK: "%2F" is a '/' inside a segment
 * (Bedrock's model ids: an ARN is one segment), not one to decode. */
static const char *path_problem(const char *path, size_t len, int slash_ok)
{
	for (size_t i = 0; i < len; i++) {
		char c = path[i];

		if (c == '\\')
			return "a backslash";
		if (c == '%' && escape_problem(path + i, len - i, slash_ok))
			return escape_problem(path + i, len - i, slash_ok);
		if (c != '/')
			continue;
		if (i + 1 < len && path[i + 1] == '/')
			return "an empty segment";
		if (i + 1 < len && path[i + 1] == '.' &&
		    (i + 2 == len || path[i + 2] == '/' ||
		     (path[i + 2] == '.' && (i + 3 == len || path[i + 3] == '/'))))
			return "a dot segment";
	}
	return NULL;
}

static int endpoint_matches(const struct policy_endpoint *e, const char *method,
			    const char *path)
{
	if (strcmp(e->method, "*") && strcasecmp(e->method, method))
		return 0;
	return fnmatch(e->path_glob, path, FNM_PATHNAME) == 0;
}

static int endpoints_match(const struct policy_endpoint *list, size_t n, const char *method,
			   const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (endpoint_matches(&list[i], method, path))
			return 1;
	return 0;
}

/* A call of an API that reads its query (Gemini's, at whichever door) with a parameter the
 * gateway does not read: -EINVAL and its name in BAD (BADLEN bytes), else 0. Every Vertex
 * call is Google's and its query read as the Gemini API's: a Claude model's call
 * (rawPredict, streamRawPredict) reads none, so any parameter but a credential (dropped
 * when the request is written) is refused. */
static int query_check(const struct pipe_req *r, char *bad, size_t badlen)
{
	enum usage_api api = (enum usage_api)r->app_api;
	const struct provider_api *p = r->app_api >= 0 ? provider_api_of_usage(api) : NULL;
	const struct policy_provider *pv =
	    r->provider ? policy_provider_by_name(r->policy, r->provider) : NULL;
	int (*check)(enum usage_api, const char *, char *, size_t) = p ? p->query_check : NULL;

	if (p && pv && pv->api == POLICY_API_VERTEX)
		check = gemini_query_check;
	if (!check)
		return 0;
	return check(api, r->url + r->path_len, bad, badlen) < 0 ? -EINVAL : 0;
}

/* What the call's query may hold, for the refusal: Claude's calls on Vertex read none (they
 * stream by their method), a Gemini stream alt=sse, other Gemini calls nothing. */
static const char *query_allowed(const struct pipe_req *r)
{
	const struct provider_api *p =
	    r->app_api >= 0 ? provider_api_of_usage((enum usage_api)r->app_api) : NULL;

	if (p && p->family != POLICY_API_GEMINI)
		return "a Claude model's call (rawPredict, streamRawPredict) takes no query "
		       "parameter: send none (streamRawPredict streams without one)";
	if (r->app_api == USAGE_API_GEMINI_STREAM)
		return "streamGenerateContent takes only alt=sse";
	return "this call takes no query parameter (alt=sse goes only on "
	       "streamGenerateContent)";
}

/* The refusal of a query parameter BAD the gateway does not read, or its would-be refusal
 * (ENFORCE 0: recorded, the call goes on). */
static enum pipe_verdict query_refuse(struct pipe_req *r, int enforce, const char *bad)
{
	return pipe_refuse(r, "endpoints", "canonical_query", enforce, 400, "invalid", 0,
			   "aigw: the query parameter %s is not one the gateway sends to provider "
			   "%s; %s",
			   bad, r->provider ? r->provider : "", query_allowed(r));
}

/* LEN bytes of URL into PATH (PATHLEN bytes), or the refusal of a path longer than that. */
static enum pipe_verdict path_copy(struct pipe_req *r, const char *url, size_t len, char *path,
				   size_t pathlen)
{
	if (len >= pathlen)
		return pipe_refuse(r, "endpoints", "canonical_path", 1, 400, "invalid", 0,
				   "the request path is longer than the gateway reads");
	str_copy_n(path, pathlen, url, len);
	return PIPE_CONTINUE;
}

/* The path of R's call as sent into PATH, or its refusal. A path the provider could read as
 * another is malformed input, not a policy choice, so it is refused whatever "enforce" says:
 * under roll-out it would let a call pass as a listed endpoint and reach another, and the
 * record would name the endpoint it passed as. */
static enum pipe_verdict canonical_path(struct pipe_req *r, char *path, size_t pathlen)
{
	const char *why;

	if (path_copy(r, r->url, r->path_len, path, pathlen) == PIPE_STOP)
		return PIPE_STOP;
	why = path_problem(path, r->path_len, r->family == POLICY_API_BEDROCK);
	if (why)
		return pipe_refuse(r, "endpoints", "canonical_path", 1, 400, "invalid", 0,
				   "the request path has %s; send its canonical form", why);
	return PIPE_CONTINUE;
}

/* The list of endpoints R's workload (allow A, NULL: none) may call, for the call's canonical
 * PATH: its own allow.endpoints, else with the gateway's key the inference calls of the
 * family the call is read as (its path's, else its provider's), never another's:
 * /v1/messages is none of OpenAI's. */
static enum pipe_verdict endpoints_listed(struct pipe_req *r, const struct policy_allow *a,
					  const char *path)
{
	if (a && a->endpoints_given) {
		if (endpoints_match(a->endpoints, a->n_endpoints, r->method, path))
			return pipe_decide(r, "endpoints", PIPE_ALLOW, "allow.endpoints");
		return pipe_refuse(r, "endpoints", "allow.endpoints", a->enforce, 403,
				   "permission", 0,
				   "aigw: %s %s is not in allow.endpoints of workload %s", r->method,
				   path, r->workload);
	}
	if (!r->gateway_key)
		return PIPE_CONTINUE;
	if (r->app_api >= 0 || provider_inference_call(r->family, r->method, path, strlen(path)))
		return PIPE_CONTINUE;
	return pipe_refuse(r, "endpoints", "allow.endpoints (default: inference only)",
			   a ? a->enforce : 1, 403, "permission", 0,
			   "aigw: %s %s is not an inference endpoint; with the gateway's key a "
			   "workload may call it only when its allow.endpoints lists it",
			   r->method, path);
}

/*
 * Each check refuses at once when enforced. Under roll-out ("enforce": false) every check
 * still runs and each would-be refusal is noted, as the limits stage does: an operator who
 * turns enforcement on must not meet a refusal the record never announced. Only the
 * canonical path is checked whatever "enforce" says (canonical_path()).
 */
static enum pipe_verdict endpoints_on_request(struct pipe_req *r)
{
	const struct policy_allow *a = r->wl ? &r->wl->allow : NULL;
	int enforce = a ? a->enforce : 1;
	char path[1024], bad[64];

	if (canonical_path(r, path, sizeof(path)) == PIPE_STOP)
		return PIPE_STOP;
	if (query_check(r, bad, sizeof(bad))) {
		if (query_refuse(r, enforce, bad) == PIPE_STOP)
			return PIPE_STOP;
		r->query_unread = 1; /* roll-out: the proxy forwards only what the gateway reads */
	}
	if (r->outside_api && r->gateway_key &&
	    pipe_refuse(r, "endpoints", "api_root", enforce, 403, "permission", 0,
			"aigw: %s is outside provider %s's API (%s/...); the gateway's key goes "
			"only with calls to its API",
			path, r->provider ? r->provider : "",
			r->api_root ? r->api_root : "") == PIPE_STOP)
		return PIPE_STOP;
	if (path_copy(r, r->api_url, r->api_path_len, path, sizeof(path)) == PIPE_STOP)
		return PIPE_STOP;
	return endpoints_listed(r, a, path);
}

const struct stage stage_endpoints = {
    .name = "endpoints",
    .head = 1,
    .on_request = endpoints_on_request,
};
