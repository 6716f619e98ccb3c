/*
 * bench_pipeline: what the policy pipeline costs a request, in CPU time, with every control
 * on (endpoint allow-list, model/provider/region allow-lists, requests and tokens per
 * minute, concurrency, a workload budget and a team budget) against the same request with no
 * control (the admission stages alone), in one run, on the -O2 objects build/aigw is made of.
 *
 * The counters are kept as the daemon keeps them, in a SQLite file (every change is queued
 * to the writer thread, which commits them off this thread).
 *
 * One iteration is a whole call as the proxy makes it: pipeline_head(), pipeline_request(),
 * pipeline_target() for the target it goes to, pipeline_end() with its usage and cost. The
 * request body is parsed before (the proxy parses it once for its own reasons). Printed: the
 * median and p99 of per-call times over ROUNDS rounds of BATCH calls each, for both, and the
 * difference. A benchmark, never a test: nothing here passes or fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "ledger/prices.h"
#include "ledger/prices_default.h"
#include "policy/govstate.h"
#include "policy/pipeline.h"
#include "providers/api.h"
#include "proxy/route.h"

#include "benchclock.h"

#define BATCH 1000
#define ROUNDS 301

static const char *const POLICY =
    "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/tmp/a.log\"},"
    " \"providers\": {\"openai\": {\"hosts\": [\"api.openai.com\"], \"region\": \"us\"},"
    "                 \"anthropic\": {\"hosts\": [\"api.anthropic.com\"], \"region\": \"eu\"}},"
    " \"models\": {\"fast\": [{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"},"
    "                         {\"provider\": \"anthropic\", \"model\": \"claude-3-5-haiku\"}]},"
    " \"teams\": {\"fin\": {\"budget\": {\"usd_per_day\": 1000000, \"usd_per_month\": 1e7}}},"
    " \"workloads\": ["
    "  {\"name\": \"none\", \"match\": {\"cgroup\": \"/apps/none\"}},"
    "  {\"name\": \"all\", \"team\": \"fin\", \"match\": {\"cgroup\": \"/apps/all\"},"
    "   \"allow\": {\"models\": [\"gpt-4o*\", \"fast\", \"claude-*\"],"
    "              \"providers\": [\"openai\", \"anthropic\"], \"regions\": [\"us\", \"eu\"],"
    "              \"endpoints\": [\"POST /v1/chat/completions\", \"POST /v1/messages\"]},"
    "   \"limits\": {\"requests_per_minute\": 10000000, \"tokens_per_minute\": 1000000000000,"
    "              \"concurrent\": 1000, \"buffer_bytes\": 1073741824},"
    "   \"budget\": {\"usd_per_day\": 1000000, \"usd_per_month\": 1e7, \"warn_at\": 0.9}}"
    " ]}";

static const char *const BODY =
    "{\"model\":\"fast\",\"max_tokens\":256,\"messages\":[{\"role\":\"system\",\"content\":"
    "\"You are a concise assistant for the finance team.\"},{\"role\":\"user\",\"content\":"
    "\"Summarise the quarter in three bullet points: revenue up 12%, costs flat, two new "
    "enterprise customers signed, churn down to 1.8%.\"}]}";

struct world {
	struct policy *pol;
	struct govstate *gs;
	struct price_table *prices;
	struct route_table *routes;
	cJSON *json;
};

/* The body's tree, as the proxy's json_get hands it to the stages. */
static const struct cJSON *tree_of(void *json)
{
	return json;
}

static void one_call(struct world *w, const char *workload, int64_t clock)
{
	const struct provider_api *app;
	struct pipe_req r;
	struct pipe_outcome o = {.answered = 1, .usage_known = 1, .input_tokens = 60,
				 .output_tokens = 40, .cost_known = 1, .cost_nano = 33000};
	char why[256];

	memset(&r, 0, sizeof(r));
	r.policy = w->pol;
	r.state = w->gs;
	r.prices = w->prices;
	r.routes = w->routes;
	r.now_ns = clock;
	r.method = "POST";
	r.url = "/v1/chat/completions";
	r.path_len = 20;
	r.api_url = r.url; /* as the proxy reads it: no API root of its own */
	r.api_path_len = r.path_len;
	r.host = r.sni = "api.openai.com";
	r.host_count = 1;
	r.content_length = strlen(BODY);
	r.max_body = 1 << 25;
	r.provider = "openai";
	r.app_api = provider_api_for_path(r.url, &app);
	r.gateway_key = 1;
	snprintf(r.workload, sizeof(r.workload), "%s", workload);
	if (pipeline_head(&r) != PIPE_CONTINUE)
		abort();
	r.body = BODY;
	r.body_len = strlen(BODY);
	r.json_object = 1;
	r.json_get = tree_of;
	r.json_arg = w->json;
	r.model = "fast";
	if (pipeline_request(&r) != PIPE_CONTINUE || !r.route ||
	    pipeline_target(&r, &r.route->targets[0], why, sizeof(why)))
		abort();
	o.now_ns = clock;
	pipeline_end(&r, &o);
}

/* Per-call ns: [0] median, [1] p99, over ROUNDS batches. */
static void measure(struct world *w, const char *workload, double ret[2])
{
	static double per_call[ROUNDS];
	int64_t clock = 1796256000LL * 1000000000LL;

	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now_ns();

		for (int i = 0; i < BATCH; i++)
			one_call(w, workload, clock += 1000000);
		per_call[round] = (now_ns() - t0) / BATCH;
	}
	qsort(per_call, ROUNDS, sizeof(per_call[0]), cmp_double);
	ret[0] = per_call[ROUNDS / 2];
	ret[1] = per_call[ROUNDS * 99 / 100];
}

/* An answer of 1 MiB told to the buffer stage a provider read (4 KiB) at a time, as the
 * proxy does (buffer_answer_hold): ns per read, the median of ROUNDS answers. */
static double measure_answer_hold(struct world *w, const char *workload)
{
	static double per_read[ROUNDS];
	struct pipe_req r;

	for (int round = 0; round < ROUNDS; round++) {
		double t0;

		memset(&r, 0, sizeof(r));
		r.policy = w->pol;
		r.state = w->gs;
		r.wl = policy_workload_by_name(w->pol, workload);
		snprintf(r.workload, sizeof(r.workload), "%s", workload);
		t0 = now_ns();
		for (uint64_t held = 4096; held <= 1u << 20; held += 4096)
			buffer_answer_hold(&r, held);
		per_read[round] = (now_ns() - t0) / 256;
		buffer_answer_hold(&r, 0);
	}
	qsort(per_read, ROUNDS, sizeof(per_read[0]), cmp_double);
	return per_read[ROUNDS / 2];
}

int main(void)
{
	struct world w = {0};
	double none[2], all[2];

	char dir[] = "/tmp/aigw-bench-pipeline.XXXXXX", db[64];

	/* the counters persisted as the daemon keeps them: every change queued to the writer */
	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof(db), "%s/state.db", dir);
	if (policy_load_string("bench", POLICY, stderr, &w.pol) ||
	    govstate_open(db, stderr, &w.gs) ||
	    prices_parse("prices", prices_default_json, prices_default_json_len, stderr,
			 &w.prices) ||
	    route_table_new(w.pol, NULL, &w.routes) || !(w.json = cJSON_Parse(BODY)))
		return 1;
	measure(&w, "none", none); /* warm-up */
	measure(&w, "all", all);
	measure(&w, "none", none);
	measure(&w, "all", all);
	printf("policy pipeline, per call (median / p99 of %d batches of %d):\n", ROUNDS, BATCH);
	printf("  no control (admission, routing)  %7.0f ns / %7.0f ns\n", none[0], none[1]);
	printf("  every control on                 %7.0f ns / %7.0f ns\n", all[0], all[1]);
	printf("  added by the controls            %7.0f ns / %7.0f ns (goal: <= 5000 ns)\n",
	       all[0] - none[0], all[1] - none[1]);
	measure_answer_hold(&w, "all"); /* warm-up */
	printf("  an answer's bytes held, per 4 KiB provider read  %5.1f ns\n",
	       measure_answer_hold(&w, "all"));
	cJSON_Delete(w.json);
	route_table_unref(w.routes);
	prices_free(w.prices);
	govstate_close(w.gs);
	policy_free(w.pol);
	unlink(db);
	snprintf(db, sizeof(db), "%s/state.db-wal", dir);
	unlink(db);
	snprintf(db, sizeof(db), "%s/state.db-shm", dir);
	unlink(db);
	rmdir(dir);
	return 0;
}
