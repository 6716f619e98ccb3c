/*
 * test_request_tree.c: the proxy's readers of a request body's tree when it cannot be built
 * (out of memory: usage_tree_parse() fails on demand, by --wrap), and when the body cannot even
 * be made contiguous to be read (evbuffer_pullup() fails on demand, by --wrap). A streaming
 * OpenAI chat that did not ask for its usage is asked it by the gateway (the usage question
 * reads the tree): without the tree the call would go unasked and unmetered, so it is refused with 503 and a
 * decision in its record, as a stage refuses.
 *
 * The seam is fuzz_http_request's: a real http1 session over a bufferevent pair, its records
 * taken by the ops' record callback; the upstream is an address nothing listens on.
 */
#include <arpa/inet.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ledger/prices.h"
#include "ledger/prices_default.h"
#include "policy/govstate.h"
#include "providers/usage.h"
#include "proxy/http1.h"
#include "proxy/route.h"
#include "proxy/upstream.h"
#include "util/jsonw.h"
#include "unit.h"

static int tree_fails;
static int pullup_fails; /* the next evbuffer_pullup() of a whole buffer fails, once */

unsigned char *__real_evbuffer_pullup(struct evbuffer *buf, ev_ssize_t size);
unsigned char *__wrap_evbuffer_pullup(struct evbuffer *buf, ev_ssize_t size);

unsigned char *__wrap_evbuffer_pullup(struct evbuffer *buf, ev_ssize_t size)
{
	if (pullup_fails && size < 0 && evbuffer_get_length(buf)) {
		pullup_fails = 0;
		return NULL;
	}
	return __real_evbuffer_pullup(buf, size);
}

struct cJSON *__real_usage_tree_parse(const char *text, size_t len, struct usage_tree **ret);
struct cJSON *__wrap_usage_tree_parse(const char *text, size_t len, struct usage_tree **ret);

struct cJSON *__wrap_usage_tree_parse(const char *text, size_t len, struct usage_tree **ret)
{
	if (tree_fails) {
		*ret = NULL;
		return NULL;
	}
	return __real_usage_tree_parse(text, len, ret);
}

static const char *const POLICY =
    "{\"capture\": {\"cgroup\": \"/apps\"}, \"audit\": {\"path\": \"/dev/null\"},"
    " \"providers\": {\"openai\": {\"hosts\": [\"api.openai.com\"]}},"
    " \"workloads\": [{\"name\": \"app\", \"match\": {\"cgroup\": \"/x\"}}]}";

static const char BODY[] = "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
			   "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static char record[8192]; /* the first record of the connection */

static uint64_t keep_record(struct jsonw *rec, const struct http_conn_info *info, void *arg)
{
	size_t len;
	char *text = jsonw_finish(rec, &len);

	(void)info;
	(void)arg;
	if (!record[0]) /* the call's, not the connection's after it */
		snprintf(record, sizeof(record), "%s", text ? text : "");
	free(text);
	return 0;
}

/* The model named twice: refused 400 from the tree, which the text's walk leaves it to. */
static const char TWICE[] = "{\"model\":\"gpt-4o-mini\",\"model\":\"gpt-4o\","
			    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

/* Sends BODY with the tree failing (or not: FAILS), and waits for its record. */
static int body_recorded(const char *body, int fails, char *ret_answer, size_t answer_max)
{
	static const struct http_proxy_ops ops = {.record = keep_record};
	struct http_proxy_config cfg = {.max_request_body = 1 << 16,
					.max_request_json_values = 4096,
					.first_byte_ms = 2000,
					.idle_ms = 2000,
					.client_idle_ms = 2000};
	struct upstream_options uo = {.connect_ms = 2000, .handshake_ms = 2000, .max_idle = 4,
				      .idle_keep_ms = 2000};
	struct http_conn_info info = {.conn_id = 1};
	struct event_base *base = event_base_new();
	struct upstream_pool *pool = NULL;
	struct bufferevent *pair[2] = {NULL, NULL};
	uint32_t lo = htonl(0x7f000001);
	char head[256];
	int err = -ENOMEM;
	size_t n;

	record[0] = 0;
	if (!base || upstream_pool_new(base, &uo, &pool) ||
	    policy_load_string("p.json", POLICY, stderr, &cfg.policy) ||
	    govstate_open(NULL, stderr, &cfg.state) ||
	    prices_parse("prices", prices_default_json, prices_default_json_len, stderr,
			 (struct price_table **)&cfg.prices) ||
	    route_table_new(cfg.policy, NULL, &cfg.routes) ||
	    bufferevent_pair_new(base, 0, pair))
		goto out;
	info.flow.orig_dst.family = AIGW_AF_INET;
	info.flow.orig_dst.port = htons(9); /* discard: nothing listens */
	memcpy(info.flow.orig_dst.addr, &lo, 4);
	strcpy(info.sni, "api.openai.com");
	strcpy(info.provider, "openai");
	strcpy(info.workload, "app");
	bufferevent_enable(pair[0], EV_READ);
	http_session_start(base, pair[1], &info, &cfg, pool, &ops);
	snprintf(head, sizeof(head),
		 "POST /v1/chat/completions HTTP/1.1\r\nhost: api.openai.com\r\n"
		 "content-type: application/json\r\ncontent-length: %zu\r\n\r\n",
		 strlen(body));
	bufferevent_write(pair[0], head, strlen(head));
	bufferevent_write(pair[0], body, strlen(body));
	tree_fails = fails;
	while (!record[0] && event_base_loop(base, EVLOOP_ONCE) == 0)
		; /* the connect to port 9 fails at once, or the call is refused */
	tree_fails = 0;
	for (int i = 0; i < 8; i++) /* the answer, queued to the pair's other end */
		event_base_loop(base, EVLOOP_NONBLOCK);
	n = bufferevent_read(pair[0], ret_answer, answer_max - 1);
	ret_answer[n] = 0;
	err = record[0] ? 0 : -ETIMEDOUT;
	bufferevent_free(pair[0]);
	http_sessions_shutdown();
out:
	if (pool)
		upstream_pool_free(pool);
	route_table_unref(cfg.routes);
	prices_free((struct price_table *)cfg.prices);
	govstate_close(cfg.state);
	policy_free(cfg.policy);
	if (base)
		event_base_free(base);
	return err;
}

static int chat_recorded(int fails, char *ret_answer, size_t answer_max)
{
	return body_recorded(BODY, fails, ret_answer, answer_max);
}

static void test_usage_question_without_its_tree_refuses(void)
{
	char answer[4096];

	ASSERT_OK(chat_recorded(1, answer, sizeof(answer)));
	ASSERT_CONTAINS(answer, "HTTP/1.1 503");
	ASSERT_CONTAINS(answer, "out of memory reading the request body");
	ASSERT_CONTAINS(record, "\"http.response.status_code\":503");
	ASSERT_CONTAINS(record, "\"aigw.policy.stage\":\"usage\","
				"\"aigw.policy.rule\":\"stream_options.include_usage\","
				"\"aigw.policy.action\":\"deny\"");
}

/* The same call with its tree goes on to the provider (nothing listens there: 502). */
static void test_usage_question_with_its_tree_goes(void)
{
	char answer[4096];

	ASSERT_OK(chat_recorded(0, answer, sizeof(answer)));
	ASSERT_CONTAINS(answer, "HTTP/1.1 502");
	ASSERT_TRUE(strstr(record, "include_usage") == NULL);
}

/* A body named the model twice, whose tree cannot be built: refused 503, not passed on as no
 * JSON at all (its model unread by the allow-lists, the key named twice unseen). */
static void test_model_twice_without_its_tree_refuses(void)
{
	char answer[4096];

	ASSERT_OK(body_recorded(TWICE, 1, answer, sizeof(answer)));
	ASSERT_CONTAINS(answer, "HTTP/1.1 503");
	ASSERT_CONTAINS(answer, "out of memory reading the request body");
	ASSERT_CONTAINS(record, "\"http.response.status_code\":503");
}

/* With its tree, the same body is refused for what it is. */
static void test_model_twice_with_its_tree_is_refused_400(void)
{
	char answer[4096];

	ASSERT_OK(body_recorded(TWICE, 0, answer, sizeof(answer)));
	ASSERT_CONTAINS(answer, "HTTP/1.1 400");
	ASSERT_CONTAINS(answer, "\"model\\\" more than once");
}

/* A body that cannot be pulled up to be read (out of memory): refused 503 as when its tree
 * cannot be built, not passed on as no JSON (its model unread by the allow-lists). */
static void test_body_not_pulled_up_refuses(void)
{
	char answer[4096];

	pullup_fails = 1;
	ASSERT_OK(body_recorded(BODY, 0, answer, sizeof(answer)));
	pullup_fails = 0;
	ASSERT_CONTAINS(answer, "HTTP/1.1 503");
	ASSERT_CONTAINS(answer, "out of memory reading the request body");
	ASSERT_CONTAINS(record, "\"http.response.status_code\":503");
}

UNIT_MAIN(UNIT_CASE(test_usage_question_without_its_tree_refuses),
	  UNIT_CASE(test_usage_question_with_its_tree_goes),
	  UNIT_CASE(test_model_twice_without_its_tree_refuses),
	  UNIT_CASE(test_model_twice_with_its_tree_is_refused_400),
	  UNIT_CASE(test_body_not_pulled_up_refuses))
