/*
 * test_pipeline: each policy stage alone, through the pipeline's own calls, with a clock the
 * test sets: admission (host, attribution, body limit, explicit key), endpoints and their
 * canonical paths, allow-lists as asked and as routed, rate limits, budgets (reserve, settle,
 * cap, periods, teams, warnings), and the token bounds they reserve from; and threads
 * walking the pipeline at once (the proxy.workers) against the same limits.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "providers/api_path.h"
#include "unit.h"
#include "guard/guard.h"
#include "ledger/prices.h"
#include "ledger/prices_default.h"
#include "policy/govstate.h"
#include "policy/pipeline.h"
#include "policy/stages.h"
#include "providers/api.h"
#include "providers/usage.h"
#include "proxy/route.h"
#include "util/jsonw.h"

#define NS 1000000000LL
#define T0 (1796256000LL * NS) /* 2026-12-03T00:00:00Z */
#define T10 (T0 + 10 * 86400 * NS) /* ten days on: fresh buckets */

static const char *const POLICY =
    "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/tmp/a.log\"},"
    " \"providers\": {\"openai\": {\"hosts\": [\"api.openai.com\"], \"region\": \"us\"},"
    "                 \"anthropic\": {\"hosts\": [\"api.anthropic.com\"], \"region\": \"eu\"}},"
    " \"models\": {\"fast\": [{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"},"
    "                         {\"provider\": \"anthropic\", \"model\": \"claude-3-5-haiku\"}],"
    "            \"unpriced-first\": [{\"provider\": \"openai\", \"model\": \"gpt-9-unreleased\"},"
    "                                 {\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"}]},"
    " \"teams\": {\"fin\": {\"budget\": {\"usd_per_day\": 0.001}},"
    "            \"soft-team\": {\"budget\": {\"usd_per_day\": 0.01, \"enforce\": false}}},"
    " \"guardrails\": {\"std\": {\"request\": {\"pii\": \"tokenize\", \"secrets\": \"block\"},"
    "                                \"response\": {\"pii\": \"redact\"}},"
    "                  \"soft\": {\"request\": {\"secrets\": \"block\"}, \"enforce\": false},"
    "                  \"soft-reader\": {\"request\": {\"secrets\": \"block\"},"
    "                                  \"response\": {\"pii\": \"redact\"}, \"enforce\": false}},"
    " \"workloads\": ["
    "  {\"name\": \"open\", \"match\": {\"cgroup\": \"/apps/open\"},"
    "   \"api_keys\": [\"gwk-open-0123456789abcdef\"]},"
    "  {\"name\": \"strict\", \"match\": {\"cgroup\": \"/apps/strict\"},"
    "   \"api_keys\": [\"sha256:5b3f0eef5ae1e1bc28c5ca4a5e3c0a1eb2bd6b3bbf35a7bb8b4d75e1d1d1f4b5\"],"
    "   \"allow\": {\"models\": [\"gpt-4o*\", \"fast\", \"ft/*\"], \"providers\": [\"openai\"],"
    "              \"endpoints\": [\"POST /v1/chat/completions\", \"POST /v1/messages\", \"GET /v1/files\"]}},"
    "  {\"name\": \"eu\", \"match\": {\"cgroup\": \"/apps/eu\"},"
    "   \"allow\": {\"regions\": [\"eu\"]}},"
    "  {\"name\": \"soft\", \"match\": {\"cgroup\": \"/apps/soft\"},"
    "   \"allow\": {\"models\": [\"none\"], \"endpoints\": [], \"enforce\": false}},"
    "  {\"name\": \"soft-all\", \"match\": {\"cgroup\": \"/apps/soft-all\"},"
    "   \"allow\": {\"models\": [\"none\"], \"providers\": [\"anthropic\"],"
    "              \"regions\": [\"eu\"], \"enforce\": false}},"
    "  {\"name\": \"rate\", \"match\": {\"cgroup\": \"/apps/rate\"},"
    "   \"limits\": {\"requests_per_minute\": 2, \"concurrent\": 3}},"
    "  {\"name\": \"conc\", \"match\": {\"cgroup\": \"/apps/conc\"},"
    "   \"limits\": {\"concurrent\": 1}},"
    "  {\"name\": \"tpm\", \"match\": {\"cgroup\": \"/apps/tpm\"},"
    "   \"limits\": {\"tokens_per_minute\": 1000}},"
    "  {\"name\": \"spend\", \"match\": {\"cgroup\": \"/apps/spend\"},"
    "   \"budget\": {\"usd_per_day\": 0.01, \"warn_at\": 0.5}},"
    "  {\"name\": \"spend-soft\", \"team\": \"soft-team\", \"match\": {\"cgroup\": \"/apps/ss\"},"
    "   \"budget\": {\"usd_per_day\": 0.01, \"enforce\": false}},"
    "  {\"name\": \"capped\", \"match\": {\"cgroup\": \"/apps/capped\"},"
    "   \"budget\": {\"usd_per_day\": 0.0001, \"cap_max_tokens\": true}},"
    "  {\"name\": \"fin-a\", \"team\": \"fin\", \"match\": {\"cgroup\": \"/apps/fa\"}},"
    "  {\"name\": \"fin-b\", \"team\": \"fin\", \"match\": {\"cgroup\": \"/apps/fb\"}},"
    "  {\"name\": \"fin-soft\", \"team\": \"fin\", \"match\": {\"cgroup\": \"/apps/fs\"},"
    "   \"budget\": {\"usd_per_day\": 0.0000001, \"enforce\": false}},"
    "  {\"name\": \"guarded\", \"match\": {\"cgroup\": \"/apps/g\"}, \"guardrails\": \"std\"},"
    "  {\"name\": \"guarded-soft\", \"match\": {\"cgroup\": \"/apps/gs\"},"
    "   \"guardrails\": \"soft\"},"
    "  {\"name\": \"guarded-soft-reader\", \"match\": {\"cgroup\": \"/apps/gsr\"},"
    "   \"guardrails\": \"soft-reader\"}"
    " ]}";

static struct policy *pol;
static struct govstate *gs;
static struct price_table *prices;
static struct route_table *routes;
static int warnings;

static void on_event(struct jsonw *rec, void *arg)
{
	size_t len;
	char *text = jsonw_finish(rec, &len);

	if (text && strstr(text, "\"budget.warn\""))
		warnings++;
	free(text);
}

static int world(void)
{
	if (pol)
		return 0;
	if (policy_load_string("p.json", POLICY, stderr, &pol))
		return -1;
	if (govstate_open(NULL, stderr, &gs) ||
	    prices_parse("prices", prices_default_json, prices_default_json_len, stderr, &prices) ||
	    route_table_new(pol, NULL, &routes))
		return -1;
	return 0;
}

/* The tree a pipe_req's json_get hands its stages: the one built with the call. */
static const struct cJSON *tree_of(void *json)
{
	return json;
}

/* A captured chat call of WORKLOAD, made at NOW_NS, with BODY. */
struct call {
	struct pipe_req r;
	cJSON *json;
};

static void call_init(struct call *c, const char *workload, const char *method, const char *url,
		      const char *body, int64_t now_ns)
{
	const struct provider_api *app;
	const cJSON *model;

	memset(c, 0, sizeof(*c));
	c->r.policy = pol;
	c->r.state = gs;
	c->r.prices = prices;
	c->r.routes = routes;
	c->r.now_ns = now_ns;
	c->r.method = method;
	c->r.url = url;
	c->r.path_len = strcspn(url, "?");
	c->r.api_url = url;
	c->r.api_path_len = c->r.path_len;
	c->r.host = "api.openai.com";
	c->r.host_count = 1;
	c->r.sni = "api.openai.com";
	c->r.content_length = body ? strlen(body) : 0;
	c->r.max_body = 1 << 20;
	c->r.provider = "openai";
	c->r.app_api = provider_api_for_path(url, &app);
	c->r.family = POLICY_API_OPENAI;
	c->r.gateway_key = 1;
	c->r.event = on_event;
	snprintf(c->r.workload, sizeof(c->r.workload), "%s", workload);
	c->r.body = body ? body : "";
	c->r.body_len = body ? strlen(body) : 0;
	c->json = body ? cJSON_Parse(body) : NULL;
	c->r.json_object = cJSON_IsObject(c->json);
	c->r.json_get = tree_of;
	c->r.json_arg = c->json;
	model = cJSON_GetObjectItemCaseSensitive(c->json, "model");
	c->r.model = cJSON_IsString(model) ? model->valuestring : "";
}

/* Head and body stages; PIPE_STOP with the refusal's status, else 0. */
static int call_run(struct call *c)
{
	if (pipeline_head(&c->r) == PIPE_STOP || pipeline_request(&c->r) == PIPE_STOP)
		return c->r.refusal.status;
	return 0;
}

static void call_end(struct call *c, int answered, int64_t in, int64_t out, int64_t cost_nano,
		     int64_t now_ns)
{
	struct pipe_outcome o = {.now_ns = now_ns,
				 .answered = answered,
				 .usage_known = answered,
				 .input_tokens = in,
				 .output_tokens = out,
				 .cost_known = answered,
				 .cost_nano = cost_nano};

	pipeline_end(&c->r, &o);
	cJSON_Delete(c->json);
	c->json = NULL;
}

static const char *CHAT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100,"
			  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void test_host_must_match_sni(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.host = "api.anthropic.com";
	ASSERT_EQ(call_run(&c), 421);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.host = "api.openai.com:443";
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.host_count = 2;
	ASSERT_EQ(call_run(&c), 421);
	call_end(&c, 0, 0, 0, 0, T0);
}

/* audit.on_failure "block" (the test policy's default): 503 while the log fails, by itself
 * no more once it writes again; "continue" lets calls on. */
static void test_audit_failure_blocks_calls(void)
{
	atomic_int failing = 0;
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.audit_failing = &failing;
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);

	atomic_store(&failing, -ENOSPC);
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.audit_failing = &failing;
	ASSERT_EQ(call_run(&c), 503);
	ASSERT_STREQ(c.r.refusal.kind, "unavailable");
	ASSERT_CONTAINS(c.r.refusal.message, "No space left on device");
	ASSERT_STREQ(pipe_decisive(&c.r)->stage, "audit");
	ASSERT_STREQ(pipe_decisive(&c.r)->rule, "audit.on_failure");
	call_end(&c, 0, 0, 0, 0, T0);

	pol->audit.on_failure = POLICY_AUDIT_CONTINUE;
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.audit_failing = &failing;
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
	pol->audit.on_failure = POLICY_AUDIT_BLOCK;

	atomic_store(&failing, 0);
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.audit_failing = &failing;
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_unattributed_captured_call_refused(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_STREQ(c.r.decisions[0].stage, "attribution");
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_body_limit_on_announced_length(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "open", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.content_length = (2 << 20);
	ASSERT_EQ(call_run(&c), 413);
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_explicit_key_names_workload(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.explicit_endpoint = 1;
	ASSERT_EQ(call_run(&c), 401); /* no key */
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.explicit_endpoint = 1;
	c.r.presented_key = "gwk-open-0123456789abcdeX";
	ASSERT_EQ(call_run(&c), 401);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "", "POST", "/v1/chat/completions", CHAT, T0);
	c.r.explicit_endpoint = 1;
	c.r.presented_key = "gwk-open-0123456789abcdef";
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_STREQ(c.r.workload, "open");
	ASSERT_TRUE(c.r.route != NULL); /* the family's default route */
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "", "GET", "/v1/models?limit=5", NULL, T0);
	c.r.explicit_endpoint = 1;
	c.r.presented_key = "gwk-open-0123456789abcdef";
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.model_listing);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "", "GET", "/v1/files", NULL, T0); /* the policy speaks first */
	c.r.explicit_endpoint = 1;
	c.r.presented_key = "gwk-open-0123456789abcdef";
	ASSERT_EQ(call_run(&c), 403);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "", "GET", "/v1/models/gpt-4o", NULL, T0); /* allowed, not served here */
	c.r.explicit_endpoint = 1;
	c.r.presented_key = "gwk-open-0123456789abcdef";
	ASSERT_EQ(call_run(&c), 404);
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_endpoints_default_is_inference_only(void)
{
	static const char *const refused[] = {"/v1/files", "/v1/batches", "/v1/fine_tuning/jobs",
					      "/v1/organization/users", "/v1/vector_stores",
					      "/v1/assistants"};
	struct call c;

	ASSERT_OK(world());
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		call_init(&c, "open", "GET", refused[i], NULL, T0);
		ASSERT_EQ(call_run(&c), 403);
		ASSERT_CONTAINS(c.r.refusal.message, refused[i]);
		call_end(&c, 0, 0, 0, 0, T0);
	}
	call_init(&c, "open", "GET", "/v1/models/gpt-4o-mini", NULL, T0);
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
	/* with the app's own key (own_keys): its business */
	call_init(&c, "open", "GET", "/v1/files", NULL, T0);
	c.r.gateway_key = 0;
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
	/* listed */
	call_init(&c, "strict", "GET", "/v1/files", NULL, T0);
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
	/* a list replaces the default, whoever's key goes */
	call_init(&c, "strict", "POST", "/v1/embeddings", "{\"model\":\"gpt-4o\"}", T0);
	c.r.gateway_key = 0;
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_STREQ(pipe_decisive(&c.r)->rule, "allow.endpoints");
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_endpoints_refuse_non_canonical_paths(void)
{
	static const char *const tricks[] = {
	    "/v1/chat/completions/../../v1/files", "//v1/files", "/v1/%66iles",
	    "/v1/chat%2fcompletions", "/v1/./files", "/v1\\files", "/v1/chat/completions/..",
	    "/v1/%2e%2e/files", "/v1/files%"};
	struct call c;

	ASSERT_OK(world());
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		call_init(&c, "strict", "POST", tricks[i], CHAT, T0);
		ASSERT_EQ(call_run(&c), 400);
		ASSERT_STREQ(c.r.decisions[0].rule, "canonical_path");
		call_end(&c, 0, 0, 0, 0, T0);
	}
	call_init(&c, "open", "POST", "/v1/chat/completions?x=%2F", CHAT, T0); /* a query */
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
}

/* A Gemini model's call, read at whichever door (here: as the explicit endpoint reads paths),
 * holds only the query the gateway reads (gemini_query_check()); other APIs' queries are
 * theirs. */
static void test_endpoints_refuse_unread_gemini_query(void)
{
	static const char *const refused[] = {"?alt=json", "?alt=sse&fields=candidates",
					      "?alt=sse&%61lt=json", "?alt=sse?x"};
	const char *stream = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
	char url[256];
	struct call c;

	ASSERT_OK(world());
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(url, sizeof(url), "%s%s", stream, refused[i]);
		call_init(&c, "open", "POST", url, "{}", T0);
		ASSERT_EQ(call_run(&c), 400);
		ASSERT_STREQ(c.r.decisions[0].rule, "canonical_query");
		ASSERT_CONTAINS(c.r.refusal.message, "query parameter ");
		call_end(&c, 0, 0, 0, 0, T0);
	}
	snprintf(url, sizeof(url), "%s?key=A&alt=sse", stream);
	call_init(&c, "open", "POST", url, "{}", T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_EQ(c.r.query_unread, 0);
	call_end(&c, 0, 0, 0, 0, T0);
	/* roll-out ("enforce": false): recorded, and the call goes on without what is unread */
	snprintf(url, sizeof(url), "%s?alt=sse&fields=candidates", stream);
	call_init(&c, "soft", "POST", url, "{}", T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_STREQ(c.r.decisions[0].rule, "canonical_query");
	ASSERT_EQ(c.r.decisions[0].action, PIPE_WOULD_DENY);
	ASSERT_EQ(c.r.query_unread, 1);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "open", "POST", "/v1/messages?beta=true", "{\"model\":\"claude-3-5-haiku\"}",
		  T0);
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
}

/* C's request sent to a provider whose API root is ROOT, read as the proxy reads it; *CANON
 * holds the canonical target (the caller frees). */
static void call_at_root(struct call *c, const char *root, char **canon)
{
	const struct provider_api *app;
	int rc = api_path_canonical(root, c->r.url, canon);

	c->r.api_root = root;
	c->r.outside_api = rc == -ENOENT;
	c->r.api_url = *canon ? *canon : c->r.url;
	c->r.api_path_len = strcspn(c->r.api_url, "?");
	c->r.app_api = c->r.outside_api ? -1 : provider_api_for_path(c->r.api_url, &app);
}

/* At Groq's root ("/openai/v1") an allow-list of canonical paths names the prefixed calls; a
 * path that is canonical only once resolved, or outside the root, passes nothing. */
static void test_endpoints_under_a_provider_root(void)
{
	static const char *const tricks[] = {
	    "/openai/v1/chat/completions/../../v1/files", "/openai/v1/./files",
	    "/openai/v1/chat%2fcompletions", "/openai/v1/%66iles", "/openai/v1//chat/completions",
	    "/openai/./v1/chat/completions", "/x/../openai/v1/chat/completions"};
	struct call c;
	char *canon = NULL;

	ASSERT_OK(world());
	call_init(&c, "strict", "POST", "/openai/v1/chat/completions", CHAT, T0);
	call_at_root(&c, "/openai/v1", &canon);
	ASSERT_EQ(c.r.app_api, USAGE_API_OPENAI_CHAT);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_STREQ(c.r.decisions[0].rule, "allow.endpoints");
	call_end(&c, 0, 0, 0, 0, T0);
	free(canon);
	/* a listed endpoint's neighbour is refused, as sent and named canonically */
	call_init(&c, "strict", "POST", "/openai/v1/embeddings", "{\"model\":\"gpt-4o\"}", T0);
	call_at_root(&c, "/openai/v1", &canon);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_STREQ(pipe_decisive(&c.r)->rule, "allow.endpoints");
	ASSERT_CONTAINS(c.r.refusal.message, "POST /v1/embeddings is not in allow.endpoints");
	call_end(&c, 0, 0, 0, 0, T0);
	free(canon);
	/* the default (inference only) reads the canonical path too */
	call_init(&c, "open", "GET", "/openai/v1/files", NULL, T0);
	call_at_root(&c, "/openai/v1", &canon);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_CONTAINS(c.r.refusal.message, "GET /v1/files is not an inference endpoint");
	call_end(&c, 0, 0, 0, 0, T0);
	free(canon);
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		call_init(&c, "strict", "POST", tricks[i], CHAT, T0);
		call_at_root(&c, "/openai/v1", &canon);
		ASSERT_EQ(call_run(&c), 400);
		ASSERT_STREQ(c.r.decisions[0].rule, "canonical_path");
		call_end(&c, 0, 0, 0, 0, T0);
		free(canon);
	}
	/* the canonical path itself is outside Groq's API: not a chat call, and the gateway's
	 * key never goes with it, whatever the list says */
	call_init(&c, "strict", "POST", "/v1/chat/completions", CHAT, T0);
	call_at_root(&c, "/openai/v1", &canon);
	ASSERT_EQ(c.r.app_api, -1);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_STREQ(c.r.decisions[0].rule, "api_root");
	call_end(&c, 0, 0, 0, 0, T0);
	free(canon);
}

/* Roll-out ("enforce": false): a call two checks of the endpoints stage would refuse is let
 * through with both would-be refusals noted, in the order enforcement meets them; a
 * non-canonical path is refused all the same (malformed input, not a policy choice). */
static void test_endpoints_rollout_notes_every_refusal(void)
{
	struct call c;
	char *canon = NULL;

	ASSERT_OK(world());
	call_init(&c, "soft", "POST", "/v1/chat/completions", CHAT, T0);
	call_at_root(&c, "/openai/v1", &canon);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.n_decisions >= 2);
	ASSERT_STREQ(c.r.decisions[0].rule, "api_root");
	ASSERT_EQ(c.r.decisions[0].action, PIPE_WOULD_DENY);
	ASSERT_STREQ(c.r.decisions[1].rule, "allow.endpoints");
	ASSERT_EQ(c.r.decisions[1].action, PIPE_WOULD_DENY);
	call_end(&c, 0, 0, 0, 0, T0);
	free(canon);
	canon = NULL;
	/* enforced, the first refusal stops the call */
	call_init(&c, "strict", "POST", "/v1/files", CHAT, T0);
	call_at_root(&c, "/openai/v1", &canon);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_EQ(c.r.n_decisions, 1);
	ASSERT_STREQ(c.r.decisions[0].rule, "api_root");
	call_end(&c, 0, 0, 0, 0, T0);
	free(canon);
	canon = NULL;
	call_init(&c, "soft", "POST", "/openai/v1/chat/completions/../embeddings", CHAT, T0);
	call_at_root(&c, "/openai/v1", &canon);
	ASSERT_EQ(call_run(&c), 400);
	ASSERT_STREQ(pipe_decisive(&c.r)->rule, "canonical_path");
	ASSERT_STREQ(pipe_action_name(pipe_decisive(&c.r)->action), "deny");
	call_end(&c, 0, 0, 0, 0, T0);
	free(canon);
}

/* C, made to api.anthropic.com. */
static void call_at_anthropic(struct call *c)
{
	c->r.provider = "anthropic";
	c->r.host = c->r.sni = "api.anthropic.com";
}

static void test_allow_models_as_asked(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "strict", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "strict", "POST", "/v1/chat/completions",
		  "{\"model\":\"o3\",\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_STREQ(c.r.refusal.kind, "permission");
	ASSERT_CONTAINS(c.r.refusal.message, "allow.models");
	ASSERT_STREQ(pipe_action_name(pipe_decisive(&c.r)->action), "deny");
	call_end(&c, 0, 0, 0, 0, T0);
	/* "*" does not cross "/" */
	call_init(&c, "strict", "POST", "/v1/chat/completions",
		  "{\"model\":\"ft/a/b\",\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 403);
	call_end(&c, 0, 0, 0, 0, T0);
	/* the provider dialled */
	call_init(&c, "strict", "POST", "/v1/messages",
		  "{\"model\":\"gpt-4o\",\"max_tokens\":5,\"messages\":[]}", T0);
	call_at_anthropic(&c);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_CONTAINS(c.r.refusal.message, "allow.providers");
	call_end(&c, 0, 0, 0, 0, T0);
}

/* A model the gateway cannot read is no way around the list. */
static void test_allow_models_needs_a_readable_model(void)
{
	struct call c;

	ASSERT_OK(world());
	/* a body cJSON does not parse (here: cut short; in the wild: nested past its limit) */
	call_init(&c, "strict", "POST", "/v1/chat/completions", "{\"model\":\"o3\",\"x\":[[[", T0);
	ASSERT_TRUE(!pipe_req_json_object(&c.r));
	ASSERT_EQ(call_run(&c), 400);
	ASSERT_STREQ(pipe_decisive(&c.r)->rule, "allow.models");
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "strict", "POST", "/v1/chat/completions", "{\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 403);
	call_end(&c, 0, 0, 0, 0, T0);
	call_init(&c, "open", "POST", "/v1/chat/completions", "{\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 0); /* no list: the provider says what it thinks of it */
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_allow_targets_as_routed(void)
{
	struct call c;
	char why[256];

	ASSERT_OK(world());
	call_init(&c, "strict", "POST", "/v1/chat/completions",
		  "{\"model\":\"fast\",\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.route != NULL && c.r.route->n_targets == 2);
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[0], why, sizeof(why)), 0);
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[1], why, sizeof(why)), -EPERM);
	ASSERT_CONTAINS(why, "allow.models"); /* claude-3-5-haiku is not in its list */
	call_end(&c, 0, 0, 0, 0, T0);
	/* regions: only the eu provider */
	call_init(&c, "eu", "POST", "/v1/chat/completions",
		  "{\"model\":\"fast\",\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[0], why, sizeof(why)), -EPERM);
	ASSERT_CONTAINS(why, "allow.regions");
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[1], why, sizeof(why)), 0);
	call_end(&c, 0, 0, 0, 0, T0);
	/* and where the app sent it */
	call_init(&c, "eu", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_CONTAINS(c.r.refusal.message, "region us");
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_enforce_false_records_would_deny(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "soft", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_STREQ(pipe_action_name(pipe_decisive(&c.r)->action), "would_deny");
	ASSERT_EQ(c.r.n_decisions, 2); /* endpoints (empty list) and models */
	call_end(&c, 0, 0, 0, 0, T0);
}

/* Roll-out ("enforce": false): a call allow.models, .providers and .regions would each refuse
 * is let through with every would-be refusal noted, in the order enforcement meets them, as
 * the app sent it and for each target of a route; enforced, the first refusal stops. */
static void test_allow_rollout_notes_every_refusal(void)
{
	static const char *const all[] = {"allow.models", "allow.providers", "allow.regions"};
	struct call c;
	char why[256];

	ASSERT_OK(world());
	call_init(&c, "soft-all", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_EQ(c.r.n_decisions, 3);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_STREQ(c.r.decisions[i].stage, "allow");
		ASSERT_STREQ(c.r.decisions[i].rule, all[i]);
		ASSERT_EQ(c.r.decisions[i].action, PIPE_WOULD_DENY);
	}
	ASSERT_STREQ(pipe_action_name(pipe_decisive(&c.r)->action), "would_deny");
	call_end(&c, 0, 0, 0, 0, T0);
	/* a model the gateway cannot read is one refusal of three */
	call_init(&c, "soft-all", "POST", "/v1/chat/completions", "{\"model\":\"o3\",\"x\":[[[", T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_EQ(c.r.n_decisions, 3);
	for (size_t i = 0; i < 3; i++)
		ASSERT_STREQ(c.r.decisions[i].rule, all[i]);
	call_end(&c, 0, 0, 0, 0, T0);
	/* routed: the logical name as asked, then every rule each target breaks */
	call_init(&c, "soft-all", "POST", "/v1/chat/completions",
		  "{\"model\":\"fast\",\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.route != NULL && c.r.route->n_targets == 2);
	ASSERT_EQ(c.r.n_decisions, 1);
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[0], why, sizeof(why)), 0);
	ASSERT_EQ(c.r.n_decisions, 4);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_STREQ(c.r.decisions[1 + i].rule, all[i]);
		ASSERT_EQ(c.r.decisions[1 + i].action, PIPE_WOULD_DENY);
	}
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[1], why, sizeof(why)), 0);
	ASSERT_EQ(c.r.n_decisions, 5); /* anthropic, eu: only its model */
	ASSERT_STREQ(c.r.decisions[4].rule, "allow.models");
	call_end(&c, 0, 0, 0, 0, T0);
	/* enforced, the first refusal stops the call (a target's: test_allow_targets_as_routed) */
	call_init(&c, "strict", "POST", "/v1/messages",
		  "{\"model\":\"o3\",\"max_tokens\":5,\"messages\":[]}", T0);
	call_at_anthropic(&c);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_EQ(c.r.n_decisions, 2); /* endpoints' allow, then models' deny */
	ASSERT_STREQ(c.r.decisions[1].rule, "allow.models");
	ASSERT_EQ(c.r.decisions[1].action, PIPE_DENY);
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_requests_per_minute(void)
{
	struct call c[3];

	ASSERT_OK(world());
	for (int i = 0; i < 2; i++) {
		call_init(&c[i], "rate", "POST", "/v1/chat/completions", CHAT, T0 + i);
		ASSERT_EQ(call_run(&c[i]), 0);
	}
	call_init(&c[2], "rate", "POST", "/v1/chat/completions", CHAT, T0 + 2);
	ASSERT_EQ(call_run(&c[2]), 429);
	ASSERT_STREQ(c[2].r.refusal.kind, "rate_limit");
	ASSERT_EQ(c[2].r.refusal.retry_after_s, 30); /* one request refills in 30 s */
	call_end(&c[2], 0, 0, 0, 0, T0 + 2);
	for (int i = 0; i < 2; i++)
		call_end(&c[i], 1, 10, 10, 0, T0 + 3);
	/* a refusal did not count; 30 s later one more fits, not two */
	call_init(&c[0], "rate", "POST", "/v1/chat/completions", CHAT, T0 + 30 * NS + 3);
	ASSERT_EQ(call_run(&c[0]), 0);
	call_init(&c[1], "rate", "POST", "/v1/chat/completions", CHAT, T0 + 30 * NS + 4);
	ASSERT_EQ(call_run(&c[1]), 429);
	call_end(&c[0], 1, 1, 1, 0, T0 + 31 * NS);
	call_end(&c[1], 0, 0, 0, 0, T0 + 31 * NS);
}

static void test_concurrent_calls(void)
{
	struct call a, b;

	ASSERT_OK(world());
	call_init(&a, "conc", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&a), 0);
	call_init(&b, "conc", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&b), 429);
	call_end(&b, 0, 0, 0, 0, T0);
	call_end(&a, 1, 1, 1, 0, T0);
	call_init(&b, "conc", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&b), 0);
	call_end(&b, 1, 1, 1, 0, T0);
}

static void test_tokens_per_minute_reserve_and_settle(void)
{
	struct call a, b;
	const char *big = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":5000,\"messages\":[]}";

	ASSERT_OK(world());
	/* bound = body bytes + 100 output tokens; reserved, settled to 30 */
	call_init(&a, "tpm", "POST", "/v1/chat/completions", CHAT, T10);
	ASSERT_EQ(call_run(&a), 0);
	ASSERT_EQ((int64_t)a.r.res.tokens_reserved, (int64_t)strlen(CHAT) + 100);
	call_end(&a, 1, 20, 10, 0, T10);
	ASSERT_EQ((int64_t)a.r.res.tokens_settled, 30);
	/* a bound over the whole minute goes only into a full bucket: not now */
	call_init(&b, "tpm", "POST", "/v1/chat/completions", big, T10);
	ASSERT_EQ(call_run(&b), 429);
	call_end(&b, 0, 0, 0, 0, T10);
	/* a minute later the bucket is full: it goes, and leaves a debt */
	call_init(&b, "tpm", "POST", "/v1/chat/completions", big, T10 + 60 * NS);
	ASSERT_EQ(call_run(&b), 0);
	call_init(&a, "tpm", "POST", "/v1/chat/completions", CHAT, T10 + 60 * NS);
	ASSERT_EQ(call_run(&a), 429);
	ASSERT_TRUE(a.r.refusal.retry_after_s > 60);
	call_end(&a, 0, 0, 0, 0, T10 + 60 * NS);
	call_end(&b, 1, 50, 50, 0, T10 + 60 * NS); /* settled: the debt is gone */
	call_init(&a, "tpm", "POST", "/v1/chat/completions", CHAT, T10 + 60 * NS);
	ASSERT_EQ(call_run(&a), 0);
	call_end(&a, 1, 1, 1, 0, T10 + 60 * NS);
}

static void test_token_bounds(void)
{
	struct call c;
	int64_t in, out;

	ASSERT_OK(world());
	call_init(&c, "open", "POST", "/v1/chat/completions",
		  "{\"model\":\"m\",\"n\":3,\"max_completion_tokens\":10,\"messages\":[{\"role\":"
		  "\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
		  T0);
	ASSERT_OK(pipe_token_bounds(&c.r, &in, &out));
	ASSERT_EQ(in, (int64_t)c.r.body_len + PIPE_IMAGE_TOKENS);
	ASSERT_EQ(out, 30);
	cJSON_Delete(c.json);
	call_init(&c, "open", "POST", "/v1/responses",
		  "{\"model\":\"m\",\"previous_response_id\":\"r\",\"input\":\"hi\"}", T0);
	ASSERT_OK(pipe_token_bounds(&c.r, &in, &out));
	ASSERT_TRUE(in >= 1000000); /* the state it names has no bound in the body */
	ASSERT_EQ(out, PIPE_OUTPUT_CEILING);
	cJSON_Delete(c.json);
	/* both names given: a server may read either, the larger bounds it */
	call_init(&c, "open", "POST", "/v1/chat/completions",
		  "{\"model\":\"m\",\"max_completion_tokens\":1,\"max_tokens\":5000}", T0);
	ASSERT_OK(pipe_token_bounds(&c.r, &in, &out));
	ASSERT_EQ(out, 5000);
	cJSON_Delete(c.json);
	call_init(&c, "open", "POST", "/v1/embeddings", "{\"model\":\"m\",\"input\":\"x\"}", T0);
	ASSERT_OK(pipe_token_bounds(&c.r, &in, &out));
	ASSERT_EQ(out, 0);
	cJSON_Delete(c.json);
}

/* gpt-4o-mini: $0.15 / $0.60 per million: a call's worst case is known exactly. */
static int64_t worst_of(const char *body, int64_t max_out)
{
	__int128 pico = (__int128)strlen(body) * 150000 + (__int128)max_out * 600000;

	return (int64_t)((pico + 999) / 1000);
}

static void test_budget_admits_exactly_what_fits(void)
{
	static struct call c[200];
	int64_t worst = worst_of(CHAT, 100), spent, reserved;
	int admitted = 0, n;

	ASSERT_OK(world());
	for (n = 0; n < 200; n++) {
		call_init(&c[n], "spend", "POST", "/v1/chat/completions", CHAT, T0 + n);
		if (call_run(&c[n]) == 0)
			admitted++;
		else
			ASSERT_EQ(c[n].r.refusal.status, 429);
	}
	ASSERT_EQ(admitted, 10000000 / worst); /* $0.01 in nano-dollars */
	ASSERT_EQ(c[199].r.refusal.retry_after_s, 86400);
	ASSERT_STREQ(c[199].r.refusal.kind, "quota");
	ASSERT_EQ(c[0].r.res.nano, worst);
	for (int i = 0; i < n; i++)
		call_end(&c[i], i < admitted, 10, 10, 100, T0 + 100);
	govstate_spend_get(gs, "workload:spend", "2026-12-03", &spent, &reserved);
	ASSERT_EQ(spent, 100LL * admitted);
	ASSERT_EQ(reserved, 0);
	ASSERT_EQ(c[0].r.res.nano_settled, 100);
}

static void test_budget_warns_once_and_rolls_over(void)
{
	struct call c;
	int before = warnings;

	ASSERT_OK(world());
	govstate_spend_settle(gs, "workload:spend", "2026-12-04", 0, 4000000); /* 40 % */
	call_init(&c, "spend", "POST", "/v1/chat/completions", CHAT, T0 + 86400 * NS);
	ASSERT_EQ(call_run(&c), 0); /* a new day: yesterday's spend does not count */
	call_end(&c, 1, 10, 10, 2000000, T0 + 86400 * NS); /* to 60 %: crosses 50 % */
	ASSERT_EQ(warnings, before + 1);
	call_init(&c, "spend", "POST", "/v1/chat/completions", CHAT, T0 + 86400 * NS);
	ASSERT_EQ(call_run(&c), 0);
	call_end(&c, 1, 10, 10, 1000, T0 + 86400 * NS);
	ASSERT_EQ(warnings, before + 1);
}

static void test_budget_caps_max_tokens(void)
{
	struct call c;
	const char *body = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100000,\"messages\":[]}";

	ASSERT_OK(world());
	call_init(&c, "capped", "POST", "/v1/chat/completions", body, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.max_tokens_cap > 0 && c.r.max_tokens_cap < 100000);
	ASSERT_STREQ(pipe_action_name(pipe_decisive(&c.r)->action), "capped");
	ASSERT_TRUE(c.r.res.nano <= 100000);			/* $0.0001 */
	ASSERT_TRUE(worst_of(body, c.r.max_tokens_cap + 1) > 100000); /* the most that fits */
	call_end(&c, 1, 10, 10, 100000, T0);
	call_init(&c, "capped", "POST", "/v1/chat/completions", body, T0);
	ASSERT_EQ(call_run(&c), 429); /* nothing left to cap to */
	call_end(&c, 0, 0, 0, 0, T0);
}

static void test_team_budget_shared(void)
{
	struct call a, b;

	ASSERT_OK(world());
	call_init(&a, "fin-a", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&a), 0);
	call_end(&a, 1, 10, 10, 1000000, T0); /* the team's whole $0.001 */
	call_init(&b, "fin-b", "POST", "/v1/chat/completions", CHAT, T0);
	ASSERT_EQ(call_run(&b), 429);
	ASSERT_CONTAINS(b.r.refusal.message, "team fin");
	call_end(&b, 0, 0, 0, 0, T0);
}

/* fin-soft's own budget is in roll-out and overspent at once: always the tightest, it decided
 * alone, and every call went on past the team's enforced budget. The enforced one decides. */
static void test_team_budget_enforced_past_a_rollout_budget(void)
{
	struct call a, b, c;

	ASSERT_OK(world());
	call_init(&a, "fin-soft", "POST", "/v1/chat/completions", CHAT, T10);
	ASSERT_EQ(call_run(&a), 0);
	ASSERT_STREQ(pipe_decisive(&a.r)->rule, "workloads[fin-soft].budget.usd_per_day");
	call_end(&a, 1, 10, 10, 1000000, T10); /* the team's whole $0.001 (T10: fin's day unspent) */
	call_init(&b, "fin-soft", "POST", "/v1/chat/completions", CHAT, T10);
	ASSERT_EQ(call_run(&b), 429);
	ASSERT_CONTAINS(b.r.refusal.message, "team fin");
	call_end(&b, 0, 0, 0, 0, T10);
	call_init(&c, "fin-soft", "POST", "/v1/chat/completions",
		  "{\"model\":\"gpt-9-unreleased\",\"messages\":[]}", T10);
	ASSERT_EQ(call_run(&c), 403); /* no price: the team's budget cannot hold it */
	ASSERT_CONTAINS(c.r.refusal.message, "team fin");
	call_end(&c, 0, 0, 0, 0, T10);
}

/* What a call is settled to when its cost is not known: the whole reservation if the request
 * left (a cut stream may have been billed), nothing if it never left or the provider refused. */
static void test_budget_settles_unknown_cost_to_the_reservation(void)
{
	static const struct {
		int answered, provider_error;
		int whole;
	} cases[] = {{1, 0, 1}, {1, 1, 0}, {0, 0, 0}};
	int64_t spent0, spent1, reserved;

	ASSERT_OK(world());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct call c;
		struct pipe_outcome o = {.now_ns = T10, .answered = cases[i].answered,
					 .provider_error = cases[i].provider_error};

		govstate_spend_get(gs, "workload:spend", "2026-12-13", &spent0, &reserved);
		call_init(&c, "spend", "POST", "/v1/chat/completions", CHAT, T10);
		ASSERT_EQ(call_run(&c), 0);
		pipeline_end(&c.r, &o);
		cJSON_Delete(c.json);
		govstate_spend_get(gs, "workload:spend", "2026-12-13", &spent1, &reserved);
		ASSERT_EQ(spent1 - spent0, cases[i].whole ? c.r.res.nano : 0);
		ASSERT_EQ(reserved, 0);
	}
}

static void test_budget_refuses_unpriced(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "spend", "POST", "/v1/chat/completions",
		  "{\"model\":\"gpt-9-unreleased\",\"messages\":[]}", T0);
	ASSERT_EQ(call_run(&c), 403);
	ASSERT_CONTAINS(c.r.refusal.message, "no price");
	call_end(&c, 0, 0, 0, 0, T0);
}

/* A logical name whose first target has no price: with every budget of the call in roll-out
 * the target is tried (routing is unchanged) and noted as would_deny, its reason naming it;
 * with one enforced it is passed over, naming the target and that budget. */
static void test_budget_unpriced_target(void)
{
	const char *body = "{\"model\":\"unpriced-first\",\"max_tokens\":10,\"messages\":[]}";
	const struct pipe_decision *d;
	char why[256] = "";
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "spend-soft", "POST", "/v1/chat/completions", body, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.route != NULL && c.r.route->n_targets == 2);
	ASSERT_TRUE(c.r.res.budget); /* reserved at the priced target's rates */
	ASSERT_EQ(c.r.n_decisions, 1);
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[0], why, sizeof(why)), 0);
	ASSERT_EQ(c.r.n_decisions, 2);
	d = &c.r.decisions[1];
	ASSERT_STREQ(d->stage, "budget");
	ASSERT_STREQ(d->rule, "budget.price");
	ASSERT_EQ(d->action, PIPE_WOULD_DENY);
	ASSERT_CONTAINS(d->reason, "openai/gpt-9-unreleased has no price");
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[1], why, sizeof(why)), 0);
	ASSERT_EQ(c.r.n_decisions, 2); /* priced: nothing to note */
	call_end(&c, 1, 10, 10, 100, T0);

	call_init(&c, "spend", "POST", "/v1/chat/completions", body, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[0], why, sizeof(why)), -EPERM);
	ASSERT_CONTAINS(why, "openai/gpt-9-unreleased has no price");
	ASSERT_CONTAINS(why, "workload spend");
	ASSERT_EQ(pipeline_target(&c.r, &c.r.route->targets[1], why, sizeof(why)), 0);
	call_end(&c, 1, 10, 10, 100, T0);
}

/* The guardrails stage: the body the provider gets, or the refusal; the call's guard_call. */
static void guard_call_end(struct call *c)
{
	call_end(c, 0, 0, 0, 0, T0);
	guard_call_free(c->r.guard);
	free(c->r.body_new);
}

static const char *PII_CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
			      "\"content\":\"mail jane.roe@example.org today\"}]}";
static const char *SECRET_CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
				 "\"content\":\"key AKIAIOSFODNN7EXAMPLE\"}]}";

static void test_guard_rewrites_what_the_provider_reads(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "guarded", "POST", "/v1/chat/completions", PII_CHAT, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.guard != NULL && c.r.body_new != NULL);
	ASSERT_TRUE(memmem(c.r.body_new, c.r.body_new_len, "[EMAIL_1]", 9) != NULL);
	ASSERT_TRUE(memmem(c.r.body_new, c.r.body_new_len, "jane.roe", 8) == NULL);
	ASSERT_TRUE(guard_call_reads_response(c.r.guard)); /* a placeholder to restore */
	guard_call_end(&c);
}

static void test_guard_blocks_naming_the_detector_not_the_value(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "guarded", "POST", "/v1/chat/completions", SECRET_CHAT, T0);
	ASSERT_EQ(call_run(&c), 400);
	ASSERT_STREQ(c.r.refusal.kind, "guardrail");
	ASSERT_CONTAINS(c.r.refusal.message, "aws_access_key");
	ASSERT_TRUE(strstr(c.r.refusal.message, "AKIA") == NULL);
	ASSERT_STREQ(pipe_decisive(&c.r)->stage, "guardrails");
	ASSERT_STREQ(pipe_action_name(pipe_decisive(&c.r)->action), "deny");
	ASSERT_TRUE(c.r.body_new == NULL);
	guard_call_end(&c);
}

/* The provider reads the request target too: a secret in the query (escaped or not) refuses
 * the call (in the path, the endpoints stage refuses it first); a clean target on a call without a body leaves no guard_call. */
static void test_guard_scans_the_request_target(void)
{
	static const char *const urls[] = {
	    "/v1/chat/completions?note=AKIAIOSFODNN7EXAMPLE",
	    "/v1/chat/completions?note=%41KIAIOSFODNN7EXAMPLE",
	};
	struct call c;

	ASSERT_OK(world());
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		call_init(&c, "guarded", "POST", urls[i], PII_CHAT, T0);
		ASSERT_EQ(call_run(&c), 400);
		ASSERT_CONTAINS(c.r.refusal.message, "aws_access_key");
		guard_call_end(&c);
	}
	call_init(&c, "guarded", "GET", "/v1/models", NULL, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.guard == NULL);
	guard_call_end(&c);
}

static void test_guard_enforce_false_changes_nothing(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "guarded-soft", "POST", "/v1/chat/completions", SECRET_CHAT, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.body_new == NULL);
	ASSERT_STREQ(pipe_action_name(pipe_decisive(&c.r)->action), "would_deny");
	guard_call_end(&c);
}

/* The guardrails' decisions of C's call: how many, and whether one's reason holds TEXT. */
static size_t guard_decisions(const struct call *c, enum pipe_action action, const char *text)
{
	size_t n = 0;

	for (size_t i = 0; i < c->r.n_decisions; i++) {
		const struct pipe_decision *d = &c->r.decisions[i];

		if (!strcmp(d->stage, "guardrails") && d->action == action &&
		    (!text || strstr(d->reason, text)))
			n++;
	}
	return n;
}

/* Under roll-out a Bedrock stream (answers the guardrails cannot read) carrying content they
 * block breaks two rules of one name: each is noted with its reason, and the call goes on.
 * Enforced, the first refusal stops the call. */
static void test_guard_rollout_notes_every_refusal(void)
{
	const char *blocked = "request blocked by guardrail \"aws_access_key\"";
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "guarded-soft-reader", "POST", "/v1/chat/completions", SECRET_CHAT, T0);
	c.r.app_api = USAGE_API_BEDROCK_CONVERSE_STREAM;
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.body_new == NULL);
	ASSERT_EQ(guard_decisions(&c, PIPE_WOULD_DENY, NULL), 2);
	ASSERT_EQ(guard_decisions(&c, PIPE_WOULD_DENY, blocked), 1);
	ASSERT_EQ(guard_decisions(&c, PIPE_WOULD_DENY, "cannot read a Bedrock event stream"), 1);
	ASSERT_STREQ(pipe_decisive(&c.r)->rule, "guardrails.soft-reader");
	guard_call_end(&c);
	/* not a stream: only the blocked content */
	call_init(&c, "guarded-soft-reader", "POST", "/v1/chat/completions", SECRET_CHAT, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_EQ(guard_decisions(&c, PIPE_WOULD_DENY, NULL), 1);
	ASSERT_EQ(guard_decisions(&c, PIPE_WOULD_DENY, blocked), 1);
	guard_call_end(&c);
	/* enforced: the blocked content refuses the call before the stream is looked at */
	call_init(&c, "guarded", "POST", "/v1/chat/completions", SECRET_CHAT, T0);
	c.r.app_api = USAGE_API_BEDROCK_CONVERSE_STREAM;
	ASSERT_EQ(call_run(&c), 400);
	ASSERT_CONTAINS(c.r.refusal.message, blocked);
	ASSERT_EQ(guard_decisions(&c, PIPE_DENY, NULL), 1);
	ASSERT_EQ(c.r.n_decisions, 1);
	guard_call_end(&c);
}

static void test_guard_refuses_a_body_it_cannot_read(void)
{
	struct call c;

	ASSERT_OK(world());
	call_init(&c, "guarded", "POST", "/v1/chat/completions", "prompt=jane.roe@example.org",
		  T0);
	ASSERT_EQ(call_run(&c), 400);
	guard_call_end(&c);
	/* a workload without guardrails is not scanned */
	call_init(&c, "open", "POST", "/v1/chat/completions", PII_CHAT, T0);
	ASSERT_EQ(call_run(&c), 0);
	ASSERT_TRUE(c.r.guard == NULL && c.r.body_new == NULL);
	guard_call_end(&c);
}

/*
 * The proxy.workers walk the pipeline at once: calls of one workload made by several threads
 * at the same moment never hold more than its limit lets through together. For each limit
 * that lets exactly one call in flight (1 concurrent call, 1.5 bodies' bytes held, a day's
 * budget of 1.5 calls' worst case), RACE_THREADS threads make calls as fast as they can, each
 * ending its call (unanswered: nothing spent, its place given back) right after; the test
 * counts the calls admitted and not yet ended, which must never pass 1, and checks that the
 * limit did refuse calls (the threads met). A stage whose check and take are not one step
 * under the state's lock lets two through when two threads check at once.
 */
enum { RACE_THREADS = 4, RACE_CALLS = 4000 };

/*
 * The stages' reads of a counter, wrapped (the Makefile links this test with --wrap): while
 * the race runs each read yields before it returns, so another thread runs between a stage's
 * check and its take unless the stage holds the state's lock across both.
 */
static atomic_int race_running;

unsigned __real_govstate_inflight(struct govstate *g, const char *key);
uint64_t __real_govstate_held(struct govstate *g, const char *key);
void __real_govstate_spend_get(struct govstate *g, const char *scope, const char *period,
			       int64_t *ret_spent, int64_t *ret_reserved);

unsigned __wrap_govstate_inflight(struct govstate *g, const char *key)
{
	unsigned n = __real_govstate_inflight(g, key);

	if (atomic_load(&race_running))
		sched_yield();
	return n;
}

uint64_t __wrap_govstate_held(struct govstate *g, const char *key)
{
	uint64_t n = __real_govstate_held(g, key);

	if (atomic_load(&race_running))
		sched_yield();
	return n;
}

void __wrap_govstate_spend_get(struct govstate *g, const char *scope, const char *period,
			       int64_t *ret_spent, int64_t *ret_reserved)
{
	__real_govstate_spend_get(g, scope, period, ret_spent, ret_reserved);
	if (atomic_load(&race_running))
		sched_yield();
}

static const char *const race_workloads[] = {"race-conc", "race-buf", "race-spend"};
#define RACE_KINDS (sizeof(race_workloads) / sizeof(race_workloads[0]))

struct race {
	struct policy *pol;
	struct govstate *gs;
	char body[900]; /* a chat call of 700+ bytes: 1.5 of it is more than buffer_bytes' least */
	pthread_barrier_t start;
	atomic_int holding[RACE_KINDS]; /* admitted and not yet ended */
	atomic_int over[RACE_KINDS];	/* admitted while another was held */
	atomic_int refused[RACE_KINDS];
};

static void *race_main(void *arg)
{
	struct race *x = arg;
	struct call c;

	for (size_t k = 0; k < RACE_KINDS; k++) {
		pthread_barrier_wait(&x->start);
		for (int i = 0; i < RACE_CALLS; i++) {
			call_init(&c, race_workloads[k], "POST", "/v1/chat/completions", x->body,
				  T0 + i);
			c.r.policy = x->pol;
			c.r.state = x->gs;
			if (call_run(&c) == 0) {
				if (atomic_fetch_add(&x->holding[k], 1) > 0)
					atomic_fetch_add(&x->over[k], 1);
				sched_yield(); /* held a while: another admitted with it shows */
				atomic_fetch_sub(&x->holding[k], 1);
			} else {
				atomic_fetch_add(&x->refused[k], 1);
			}
			call_end(&c, 0, 0, 0, 0, T0 + i);
		}
	}
	return NULL;
}

static void test_workers_never_pass_a_limit_together(void)
{
	static struct race x;
	pthread_t th[RACE_THREADS];
	char policy[2048];
	int started = 0;

	ASSERT_OK(world());
	snprintf(x.body, sizeof(x.body),
		 "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100,"
		 "\"messages\":[{\"role\":\"user\",\"content\":\"%0700d\"}]}", 0);
	snprintf(policy, sizeof(policy),
		 "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/tmp/a.log\"},"
		 " \"providers\": {\"openai\": {\"hosts\": [\"api.openai.com\"]}},"
		 " \"workloads\": ["
		 "  {\"name\": \"race-conc\", \"match\": {\"cgroup\": \"/apps/c\"},"
		 "   \"limits\": {\"concurrent\": 1}},"
		 "  {\"name\": \"race-buf\", \"match\": {\"cgroup\": \"/apps/b\"},"
		 "   \"limits\": {\"buffer_bytes\": %zu}},"
		 "  {\"name\": \"race-spend\", \"match\": {\"cgroup\": \"/apps/s\"},"
		 "   \"budget\": {\"usd_per_day\": %.12f}}]}",
		 strlen(x.body) * 3 / 2, (double)worst_of(x.body, 100) * 1.5 / 1e9);
	ASSERT_OK(policy_load_string("race.json", policy, stderr, &x.pol));
	ASSERT_OK(govstate_open(NULL, stderr, &x.gs));
	pthread_barrier_init(&x.start, NULL, RACE_THREADS);
	atomic_store(&race_running, 1);
	for (; started < RACE_THREADS; started++)
		if (pthread_create(&th[started], NULL, race_main, &x))
			break;
	ASSERT_EQ(started, RACE_THREADS); /* (the barrier would wait for the missing) */
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);
	atomic_store(&race_running, 0);
	pthread_barrier_destroy(&x.start);
	for (size_t k = 0; k < RACE_KINDS; k++)
		fprintf(stderr, "  %s: %d refused, %d admitted while another was held\n",
			race_workloads[k], atomic_load(&x.refused[k]), atomic_load(&x.over[k]));
	for (size_t k = 0; k < RACE_KINDS; k++) {
		ASSERT_EQ(atomic_load(&x.over[k]), 0);
		ASSERT_TRUE(atomic_load(&x.refused[k]) > 0);
		ASSERT_EQ(govstate_inflight(x.gs, "conc:race-conc"), 0);
		ASSERT_EQ(govstate_held(x.gs, "buf:race-buf"), 0);
	}
	govstate_close(x.gs);
	policy_free(x.pol);
}

/* The proxy could not build the tree of a body it scanned as one JSON object (out of memory). */
static const struct cJSON *no_tree(void *arg)
{
	(void)arg;
	return NULL;
}

static void tree_fails(struct call *c)
{
	c->r.json_object = 1;
	c->r.json_get = no_tree;
}

/* The call was refused by STAGE's RULE for the body it could not read, not decided without it. */
static void assert_refused_unread(struct call *c, const char *stage, const char *rule)
{
	const struct pipe_decision *d;

	ASSERT_EQ(call_run(c), 503);
	d = pipe_decisive(&c->r);
	ASSERT_TRUE(d != NULL);
	ASSERT_EQ(d->action, PIPE_DENY);
	ASSERT_STREQ(d->stage, stage);
	ASSERT_STREQ(d->rule, rule);
	ASSERT_STREQ(c->r.refusal.kind, "unavailable");
	ASSERT_CONTAINS(c->r.refusal.message, "out of memory reading the request body");
	ASSERT_EQ(c->r.max_tokens_cap, 0);
}

/* Each stage that reads the body's tree refuses when it cannot have it: a call whose tokens
 * per minute, budget or max tokens cap went unread would pass what its policy holds it to. */
static void test_stage_without_its_tree_refuses(void)
{
	const char *capped = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100000,\"messages\":[]}";
	int64_t in, out;
	struct call c;

	ASSERT_OK(world());
	/* the token bounds: limits.tokens_per_minute, a budget (enforced or in roll-out) */
	call_init(&c, "tpm", "POST", "/v1/chat/completions", CHAT, T10 + 1000 * NS);
	tree_fails(&c);
	assert_refused_unread(&c, "limits", "limits.tokens_per_minute");
	call_end(&c, 0, 0, 0, 0, T10 + 1000 * NS);
	call_init(&c, "spend", "POST", "/v1/chat/completions", CHAT, T10);
	tree_fails(&c);
	assert_refused_unread(&c, "budget", "budget");
	call_end(&c, 0, 0, 0, 0, T10);
	call_init(&c, "spend-soft", "POST", "/v1/chat/completions", CHAT, T10);
	tree_fails(&c);
	assert_refused_unread(&c, "budget", "budget");
	call_end(&c, 0, 0, 0, 0, T10);
	/* the max tokens cap ("n", the field): the bounds known, the tree asked for again */
	call_init(&c, "capped", "POST", "/v1/chat/completions", capped, T10 + 2 * 86400 * NS);
	ASSERT_OK(pipe_token_bounds(&c.r, &in, &out));
	tree_fails(&c);
	assert_refused_unread(&c, "budget", "workloads[capped].budget.usd_per_day");
	call_end(&c, 0, 0, 0, 0, T10 + 2 * 86400 * NS);
	/* guardrails that rewrite the body: the tree is the app's body's, read before it goes */
	call_init(&c, "guarded", "POST", "/v1/chat/completions", PII_CHAT, T0);
	tree_fails(&c);
	assert_refused_unread(&c, "guardrails", "guardrails.std");
	guard_call_end(&c);
}

/* More decisions than the table holds (a roll-out call through many targets): the rest are
 * counted, and the enforced refusal that stops the call is still its record's decision. */
static void test_a_deny_past_a_full_table_is_kept(void)
{
	static struct pipe_req r;
	const struct pipe_decision *d;

	for (int i = 0; i < PIPE_DECISIONS_MAX + 2; i++)
		ASSERT_EQ(pipe_refuse(&r, "allow", "allow.models", 0, 403, "permission", 0,
				      "target %d not allowed", i),
			  PIPE_CONTINUE);
	ASSERT_EQ(r.n_decisions, PIPE_DECISIONS_MAX);
	ASSERT_EQ(r.n_decisions_dropped, 2);
	ASSERT_EQ(pipe_refuse(&r, "limits", "limits.requests_per_minute", 1, 429, "rate_limit",
			      1, "too many"),
		  PIPE_STOP);
	ASSERT_EQ(r.n_decisions, PIPE_DECISIONS_MAX);
	ASSERT_EQ(r.n_decisions_dropped, 3);
	d = pipe_decisive(&r);
	ASSERT_TRUE(d != NULL);
	ASSERT_EQ(d->action, PIPE_DENY);
	ASSERT_STREQ(d->rule, "limits.requests_per_minute");
	ASSERT_EQ(r.refusal.status, 429);
}

UNIT_MAIN(UNIT_CASE(test_host_must_match_sni), UNIT_CASE(test_a_deny_past_a_full_table_is_kept), UNIT_CASE(test_audit_failure_blocks_calls),
	  UNIT_CASE(test_unattributed_captured_call_refused),
	  UNIT_CASE(test_body_limit_on_announced_length),
	  UNIT_CASE(test_explicit_key_names_workload),
	  UNIT_CASE(test_endpoints_default_is_inference_only),
	  UNIT_CASE(test_endpoints_refuse_non_canonical_paths),
	  UNIT_CASE(test_endpoints_refuse_unread_gemini_query),
	  UNIT_CASE(test_endpoints_under_a_provider_root),
	  UNIT_CASE(test_endpoints_rollout_notes_every_refusal),
	  UNIT_CASE(test_allow_models_as_asked),
	  UNIT_CASE(test_allow_models_needs_a_readable_model),
	  UNIT_CASE(test_allow_targets_as_routed),
	  UNIT_CASE(test_enforce_false_records_would_deny),
	  UNIT_CASE(test_allow_rollout_notes_every_refusal),
	  UNIT_CASE(test_requests_per_minute),
	  UNIT_CASE(test_concurrent_calls),
	  UNIT_CASE(test_workers_never_pass_a_limit_together),
	  UNIT_CASE(test_tokens_per_minute_reserve_and_settle),
	  UNIT_CASE(test_token_bounds),
	  UNIT_CASE(test_budget_admits_exactly_what_fits),
	  UNIT_CASE(test_budget_warns_once_and_rolls_over),
	  UNIT_CASE(test_budget_caps_max_tokens),
	  UNIT_CASE(test_team_budget_shared),
	  UNIT_CASE(test_team_budget_enforced_past_a_rollout_budget),
	  UNIT_CASE(test_budget_refuses_unpriced),
	  UNIT_CASE(test_budget_unpriced_target),
	  UNIT_CASE(test_budget_settles_unknown_cost_to_the_reservation),
	  UNIT_CASE(test_guard_rewrites_what_the_provider_reads),
	  UNIT_CASE(test_guard_blocks_naming_the_detector_not_the_value),
	  UNIT_CASE(test_guard_enforce_false_changes_nothing),
	  UNIT_CASE(test_guard_rollout_notes_every_refusal),
	  UNIT_CASE(test_guard_scans_the_request_target),
	  UNIT_CASE(test_guard_refuses_a_body_it_cannot_read),
	  UNIT_CASE(test_stage_without_its_tree_refuses))
