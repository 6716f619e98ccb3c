/*
 * bench_guard: what the guardrails add to a call, in CPU time, in one run:
 *   - a 4 KB chat request (prose, a code snippet, an e-mail address and a card number) through
 *     guard_request() with the contract's "standard" profile (pii tokenize, secrets block,
 *     injection record, a user pattern), against the same call through an empty profile (a
 *     workload without guardrails costs less still: the stage returns at once);
 *   - its whole answer through guard_response() (response pii redact, placeholders restored);
 *   - one streamed event (an OpenAI chat chunk of a few words) through guard_stream_feed(),
 *     against passing it on as it is.
 * Printed: the median and p99 of per-operation times over ROUNDS batches of BATCH. A
 * benchmark, never a test: nothing here passes or fails. Goal (the guardrails issue): at most
 * 20 us added on a 4 KB request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "guard/guard.h"
#include "providers/translate.h"

#define BATCH 200
#define ROUNDS 101

static const char *const PROFILE =
    "{\"request\": {\"pii\": \"tokenize\", \"secrets\": \"block\", \"injection\": \"record\"},"
    " \"response\": {\"pii\": \"redact\"},"
    " \"patterns\": [{\"name\": \"codename\", \"regex\": \"(?i)\\\\bbluebird\\\\b\","
    " \"action\": \"block\"}]}";

static const char *const PROSE =
    "The quarterly review covers revenue, churn and the pipeline of enterprise deals. "
    "Revenue grew twelve percent on the year, led by the new analytics tier; costs were flat "
    "apart from the data centre move in March. Two customers asked for on-premise installs, "
    "which the platform team estimates at six weeks each. ";
static const char *const CODE =
    "def total(items):\\n    return sum(i.price * i.qty for i in items if i.active)\\n";

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A chat request of about 4 KB: prose and code, with one e-mail address and one card. */
static char *request_4k(size_t *ret_len)
{
	char *text = calloc(1, 8192), *body = malloc(8800);
	size_t n = 0;

	n += snprintf(text + n, 8192 - n, "Customer jane.roe@example.org paid with 4111 1111 1111 1111. ");
	while (n < 3900)
		n += snprintf(text + n, 8192 - n, "%s%s", PROSE, CODE);
	*ret_len = snprintf(body, 8800,
			    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\","
			    "\"content\":\"You are a careful analyst.\"},{\"role\":\"user\","
			    "\"content\":\"%s\"}]}", text);
	free(text);
	return body;
}

typedef void op_fn(void *arg);

/* Per-op ns of FN: [0] median, [1] p99. */
static void measure(op_fn *fn, void *arg, double ret[2])
{
	static double per[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_ns();

		for (int i = 0; i < BATCH; i++)
			fn(arg);
		per[r] = (now_ns() - t0) / BATCH;
	}
	qsort(per, ROUNDS, sizeof(per[0]), cmp);
	ret[0] = per[ROUNDS / 2];
	ret[1] = per[ROUNDS * 99 / 100];
}

struct ctx {
	const struct guard_profile *p, *p_none;
	const char *body;
	size_t len;
	const char *answer;
	size_t answer_len;
	const char *event;
	size_t event_len;
	struct guard_stream *gs;
	struct guard_call *gc;
};

static void op_request(void *arg)
{
	struct ctx *c = arg;
	struct guard_call *gc = guard_call_new(c->p, GUARD_API_OPENAI_CHAT);
	char *out = NULL;
	size_t out_len;

	if (!gc || guard_request(gc, c->body, c->len, &out, &out_len))
		abort();
	free(out);
	guard_call_free(gc);
}

/* Without guardrails the stage looks at the workload's profile and returns: a call with no
 * profile's guard_call_new() never happens. What remains is the walk a scan-free JSON pass
 * would make anyway, so the reference is a guard_request() of a profile that finds nothing
 * to look for (no scanner): the fixed cost of the call itself. */
static void op_none(void *arg)
{
	struct ctx *c = arg;
	struct guard_call *gc = guard_call_new(c->p_none, GUARD_API_OPENAI_CHAT);
	char *out = NULL;
	size_t out_len;

	if (!gc || guard_request(gc, c->body, c->len, &out, &out_len))
		abort();
	free(out);
	guard_call_free(gc);
}

static void op_response(void *arg)
{
	struct ctx *c = arg;
	char *out = NULL;
	size_t out_len;

	if (guard_response(c->gc, c->answer, c->answer_len, &out, &out_len))
		abort();
	free(out);
}

static void op_event(void *arg)
{
	struct ctx *c = arg;
	struct translate_buf out = {0};

	if (guard_stream_feed(c->gs, c->event, c->event_len, &out))
		abort();
	translate_buf_free(&out);
}

static void op_event_none(void *arg)
{
	struct ctx *c = arg;
	struct translate_buf out = {0};

	out.data = malloc(c->event_len + 1);
	memcpy(out.data, c->event, c->event_len);
	translate_buf_free(&out);
}

int main(void)
{
	static const char answer[] =
	    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\",\"choices\":"
	    "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Write to [EMAIL_1] "
	    "about the charge on [CARD_1]; the quarter was strong and costs were flat.\"},"
	    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":900,"
	    "\"completion_tokens\":20,\"total_tokens\":920}}";
	static const char event[] =
	    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
	    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the quarter was \"},"
	    "\"finish_reason\":null}]}\n\n";
	struct guard_profile *p = NULL, *p_empty = NULL;
	struct ctx c = {0};
	cJSON *obj = cJSON_Parse(PROFILE), *empty = cJSON_Parse("{}");
	double none[2], req[2], resp[2], ev[2], ev_none[2];
	char err[256], *body, *out = NULL;
	size_t out_len;

	if (!obj || !empty || guard_profile_parse("standard", obj, &p, err, sizeof(err)) ||
	    guard_profile_parse("none", empty, &p_empty, err, sizeof(err))) {
		fprintf(stderr, "bench_guard: %s\n", err);
		return 1;
	}
	body = request_4k(&c.len);
	c.p = p;
	c.p_none = p_empty;
	c.body = body;
	c.answer = answer;
	c.answer_len = sizeof(answer) - 1;
	c.event = event;
	c.event_len = sizeof(event) - 1;
	/* one call whose placeholders the answer restores, and its stream */
	if (!(c.gc = guard_call_new(p, GUARD_API_OPENAI_CHAT)) ||
	    guard_request(c.gc, body, c.len, &out, &out_len) || !(c.gs = guard_stream_new(c.gc)))
		return 1;
	free(out);
	measure(op_none, &c, none); /* warm-up */
	measure(op_request, &c, req);
	measure(op_none, &c, none);
	measure(op_request, &c, req);
	measure(op_response, &c, resp);
	measure(op_event_none, &c, ev_none);
	measure(op_event, &c, ev);
	printf("guardrails, \"standard\" profile (median / p99 of %d batches of %d):\n", ROUNDS,
	       BATCH);
	printf("  4 KB request, an empty profile   %8.0f ns / %8.0f ns\n", none[0], none[1]);
	printf("  4 KB request, guard_request      %8.0f ns / %8.0f ns\n", req[0], req[1]);
	printf("  added on a 4 KB request          %8.0f ns / %8.0f ns (goal: <= 20000 ns)\n",
	       req[0] - none[0], req[1] - none[1]);
	printf("  whole answer, guard_response     %8.0f ns / %8.0f ns\n", resp[0], resp[1]);
	printf("  stream event, passed as it is    %8.0f ns / %8.0f ns\n", ev_none[0], ev_none[1]);
	printf("  stream event, guard_stream_feed  %8.0f ns / %8.0f ns\n", ev[0], ev[1]);
	printf("  added per streamed event         %8.0f ns / %8.0f ns\n", ev[0] - ev_none[0],
	       ev[1] - ev_none[1]);
	guard_stream_free(c.gs);
	guard_call_free(c.gc);
	guard_profile_free(p);
	guard_profile_free(p_empty);
	cJSON_Delete(obj);
	cJSON_Delete(empty);
	free(body);
	return 0;
}
