/* test_prices.c: the shipped price table loads; a bad one is refused with the entry and field
 * named; model names find their price by the documented rule only; costs are exact integer
 * nano-dollars (hand-computed below), rounded once per call (up), and unknown rather than zero. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "ledger/cost.h"
#include "ledger/prices.h"
#include "providers/usage.h"
#include "unit.h"

/* policies/prices.json from the repository root, or from this file's place in it. */
static int load_shipped(struct price_table **t)
{
	char path[4096];
	const char *slash;
	int err = prices_load("policies/prices.json", NULL, t);

	if (err != -ENOENT)
		return err;
	slash = strrchr(__FILE__, '/');
	snprintf(path, sizeof(path), "%.*s/../../policies/prices.json",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	return prices_load(path, stderr, t);
}

/* Parses TEXT, expecting ERR; the messages go to *MSGS (the caller frees). */
static int parse_msgs(const char *text, char **msgs)
{
	struct price_table *t = NULL;
	size_t len = 0;
	FILE *f = open_memstream(msgs, &len);
	int err = prices_parse("t.json", text, strlen(text), f, &t);

	fclose(f);
	prices_free(t);
	return err;
}

#define ENTRY(extra)                                                                               \
	"{\"openai/m\":{\"input\":1,\"output\":2,\"cached_input\":null,\"cache_write\":null,"      \
	"\"valid_from\":\"2025-01-01\"" extra "}}"

static void expect_problem(const char *text, int err, const char *what)
{
	char *msgs = NULL;
	int r = parse_msgs(text, &msgs);

	if (r != err || !msgs || !strstr(msgs, what)) {
		fprintf(stderr, "  for %s\n  got %d: %s\n", text, r, msgs ? msgs : "");
		free(msgs);
		UNIT_FAIL("expected %d and \"%s\"", err, what);
	}
	free(msgs);
}

static void test_shipped_table(void)
{
	struct price_table *t;
	const struct price *p;

	ASSERT_OK(load_shipped(&t));
	ASSERT_TRUE(prices_count(t) >= 20);
	p = prices_lookup(t, "openai", "gpt-4o-mini", NULL);
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(p->input, 150000); /* $0.15 per million tokens, in pico-dollars per token */
	ASSERT_EQ(p->cached_input, 75000);
	ASSERT_EQ(p->output, 600000);
	ASSERT_EQ(p->cache_write, PRICE_NONE);
	ASSERT_STREQ(p->valid_from, "2024-07-18");
	p = prices_lookup(t, "anthropic", "claude-3-5-haiku", NULL);
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(p->cache_write, 1000000); /* 1.25 x input */
	ASSERT_EQ(p->cached_input, 80000);  /* 0.1 x input */
	p = prices_lookup(t, "anthropic", "claude-sonnet-4-5", NULL);
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(p->cache_write * 4, p->input * 5);
	ASSERT_EQ(p->cached_input * 10, p->input);
	ASSERT_EQ(p->cache_write_1h, p->input * 2);
	ASSERT_EQ(p->long_context_above, 200000);
	/* a hosted model's name keeps its '/'s */
	p = prices_lookup(t, "fireworks", "accounts/fireworks/models/gpt-oss-120b", NULL);
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(p->cached_input, 15000); /* $0.015 */
	p = prices_lookup(t, "perplexity", "sonar", NULL);
	ASSERT_TRUE(p != NULL && p->request_fee_unpriced);
	/* a long-context band: Gemini 2.5 Pro above 200k prompt tokens ($2.50 / $15) */
	p = prices_lookup(t, "gemini", "gemini-2.5-pro", NULL);
	ASSERT_TRUE(p != NULL && p->has_long_context && p->long_context_above == 200000);
	ASSERT_TRUE(p->long_context.input == 2500000 && p->long_context.output == 15000000);
	ASSERT_EQ(p->long_context.cached_input, PRICE_NONE);
	prices_free(t);
}

/* The clouds' rows (issue 12): keyed by the policy's provider name and the model as the app
 * sends it, publisher prefix and all; embeddings priced by input alone. */
static void test_shipped_cloud_rows(void)
{
	struct price_table *t;
	const struct price *p;

	ASSERT_OK(load_shipped(&t));
	p = prices_lookup(t, "groq", "openai/gpt-oss-120b", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "groq/openai/gpt-oss-120b");
	ASSERT_EQ(p->input, 150000);
	ASSERT_EQ(p->cached_input, 75000);
	ASSERT_EQ(p->output, 600000);
	ASSERT_TRUE(prices_lookup(t, "groq", "gpt-oss-120b", NULL) == NULL); /* not Groq's id */
	p = prices_lookup(t, "groq", "llama-3.1-8b-instant", NULL);
	ASSERT_TRUE(p != NULL && p->input == 50000 && p->output == 80000);
	ASSERT_EQ(p->cached_input, PRICE_NONE);
	p = prices_lookup(t, "groq", "meta-llama/llama-4-scout-17b-16e-instruct", NULL);
	ASSERT_TRUE(p != NULL && p->input == 110000 && p->output == 340000);
	p = prices_lookup(t, "openrouter", "openai/gpt-4o-mini", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "openrouter/openai/gpt-4o-mini");
	ASSERT_TRUE(p->input == 150000 && p->output == 600000 && p->cached_input == PRICE_NONE);
	ASSERT_STREQ(p->valid_from, "2024-07-18");
	/* OpenRouter's price for one model is no price for its others, nor OpenAI's for it */
	ASSERT_TRUE(prices_lookup(t, "openrouter", "openai/o3", NULL) == NULL);
	p = prices_lookup(t, "openrouter", "openai/gpt-4o-2024-08-06", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "openrouter/openai/gpt-4o");
	ASSERT_TRUE(p->input == 2500000 && p->output == 10000000 && p->cached_input == PRICE_NONE);
	ASSERT_TRUE(prices_lookup(t, "openrouter", "gpt-4o-mini", NULL) == NULL);
	p = prices_lookup(t, "azure", "text-embedding-3-small", NULL);
	ASSERT_TRUE(p != NULL && p->input == 20000 && p->output == PRICE_NONE);
	p = prices_lookup(t, "azure", "text-embedding-3-large", NULL);
	ASSERT_TRUE(p != NULL && p->input == 130000 && p->output == PRICE_NONE);
	p = prices_lookup(t, "azure", "text-embedding-ada-002", NULL);
	ASSERT_TRUE(p != NULL && p->input == 100000 && p->cached_input == PRICE_NONE);
	/* Bedrock: the model id as billed, its US inference profile the same price */
	p = prices_lookup(t, "bedrock", "us.amazon.nova-micro-v1:0", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "bedrock/amazon.nova-micro-v1:0");
	ASSERT_TRUE(p->input == 35000 && p->output == 140000 && p->cached_input == PRICE_NONE);
	p = prices_lookup(t, "bedrock", "amazon.nova-pro-v1:0", NULL);
	ASSERT_TRUE(p != NULL && p->input == 800000 && p->output == 3200000);
	ASSERT_TRUE(prices_lookup(t, "bedrock", "eu.amazon.nova-pro-v1:0", NULL) == NULL);
	/* Claude before 4.5 on Bedrock: one price per id (no global/regional split); an EU
	 * profile is billed at an EU region's price, which the table does not hold */
	p = prices_lookup(t, "bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "bedrock/anthropic.claude-sonnet-4-20250514-v1:0");
	ASSERT_TRUE(p->input == 3000000 && p->output == 15000000 && p->cached_input == PRICE_NONE);
	ASSERT_EQ(p->long_context_above, 200000);
	ASSERT_TRUE(!p->has_long_context);
	p = prices_lookup(t, "bedrock", "anthropic.claude-opus-4-20250514-v1:0", NULL);
	ASSERT_TRUE(p != NULL && p->input == 15000000 && p->output == 75000000);
	ASSERT_TRUE(prices_lookup(t, "bedrock", "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
				  NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0",
				  NULL) == NULL);
	prices_free(t);
}

/* Claude on Vertex (global endpoint) and on Bedrock's global inference profiles (issue 12):
 * keyed by the model as Vertex names it (the "@YYYYMMDD" snapshot taken off) and by the
 * global profile id; the regional Bedrock ids of Claude 4.5 and later, billed 10 % above
 * global, have no price, nor does the 1-hour cache write (one source only). */
static void test_shipped_vertex_and_global_profiles(void)
{
	struct price_table *t;
	const struct price *p;
	enum price_match how;

	ASSERT_OK(load_shipped(&t));
	p = prices_lookup(t, "vertex", "claude-sonnet-4-5@20250929", &how);
	ASSERT_STREQ(p ? p->key : NULL, "vertex/claude-sonnet-4-5");
	ASSERT_EQ(how, PRICE_MATCH_SNAPSHOT);
	ASSERT_TRUE(p->input == 3000000 && p->output == 15000000);
	ASSERT_TRUE(p->cached_input == 300000 && p->cache_write == 3750000);
	ASSERT_EQ(p->cache_write_1h, PRICE_NONE);
	ASSERT_TRUE(p->has_long_context && p->long_context_above == 200000);
	ASSERT_TRUE(p->long_context.input == 6000000 && p->long_context.output == 22500000);
	ASSERT_EQ(p->long_context.cached_input, PRICE_NONE);
	p = prices_lookup(t, "vertex", "claude-opus-4-6", NULL);
	ASSERT_TRUE(p != NULL && p->input == 5000000 && p->output == 25000000);
	ASSERT_TRUE(p->long_context_above == 200000 && !p->has_long_context);
	p = prices_lookup(t, "vertex", "claude-opus-4-1@20250805", NULL);
	ASSERT_TRUE(p != NULL && p->input == 15000000 && p->cached_input == 1500000);
	/* not priced on Vertex: the tables disagree (3.5 Haiku) or one alone gives it */
	ASSERT_TRUE(prices_lookup(t, "vertex", "claude-3-5-haiku@20241022", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "vertex", "claude-haiku-4-5@20251001", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "vertex", "claude-sonnet-5", NULL) == NULL);

	p = prices_lookup(t, "bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", NULL);
	ASSERT_TRUE(p != NULL && p->input == 3000000 && p->output == 15000000);
	ASSERT_TRUE(p->cached_input == 300000 && p->cache_write == 3750000);
	ASSERT_TRUE(p->long_context_above == 200000 && !p->has_long_context);
	p = prices_lookup(t, "bedrock", "global.anthropic.claude-opus-4-6-v1", NULL);
	ASSERT_TRUE(p != NULL && p->input == 5000000 && p->output == 25000000);
	ASSERT_TRUE(prices_lookup(t, "bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0",
				  NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
				  NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "bedrock", "anthropic.claude-opus-4-6-v1", NULL) == NULL);
	/* Opus 4.1, before 4.5: one price per id, the US profile an alias */
	p = prices_lookup(t, "bedrock", "us.anthropic.claude-opus-4-1-20250805-v1:0", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "bedrock/anthropic.claude-opus-4-1-20250805-v1:0");
	ASSERT_TRUE(p->input == 15000000 && p->output == 75000000);
	prices_free(t);
}

static void test_lookup_rules(void)
{
	struct price_table *t;
	enum price_match how;
	const struct price *p;

	ASSERT_OK(load_shipped(&t));
	/* exact */
	p = prices_lookup(t, "openai", "gpt-4o", &how);
	ASSERT_STREQ(p ? p->key : NULL, "openai/gpt-4o");
	ASSERT_EQ(how, PRICE_MATCH_EXACT);
	/* dated snapshots, both date styles, and -latest */
	p = prices_lookup(t, "openai", "gpt-4o-mini-2024-07-18", &how);
	ASSERT_STREQ(p ? p->key : NULL, "openai/gpt-4o-mini");
	ASSERT_EQ(how, PRICE_MATCH_SNAPSHOT);
	p = prices_lookup(t, "anthropic", "claude-3-5-haiku-20241022", &how);
	ASSERT_STREQ(p ? p->key : NULL, "anthropic/claude-3-5-haiku");
	ASSERT_EQ(how, PRICE_MATCH_SNAPSHOT);
	p = prices_lookup(t, "anthropic", "claude-3-5-haiku-latest", &how);
	ASSERT_STREQ(p ? p->key : NULL, "anthropic/claude-3-5-haiku");
	p = prices_lookup(t, "anthropic", "claude-sonnet-4-5-20250929", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "anthropic/claude-sonnet-4-5");
	p = prices_lookup(t, "anthropic", "claude-sonnet-4-20250514", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "anthropic/claude-sonnet-4");
	p = prices_lookup(t, "openai", "o3-mini-2025-01-31", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "openai/o3-mini");
	/* an alias */
	p = prices_lookup(t, "anthropic", "claude-opus-4-0", &how);
	ASSERT_STREQ(p ? p->key : NULL, "anthropic/claude-opus-4");
	ASSERT_EQ(how, PRICE_MATCH_EXACT);
	/* a snapshot priced apart wins over its base name */
	p = prices_lookup(t, "openai", "gpt-4o-2024-05-13", &how);
	ASSERT_STREQ(p ? p->key : NULL, "openai/gpt-4o-2024-05-13");
	ASSERT_EQ(how, PRICE_MATCH_EXACT);
	ASSERT_EQ(p->input, 5000000);
	p = prices_lookup(t, "openai", "gpt-4o-2024-11-20", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "openai/gpt-4o");
	/* nothing else matches */
	ASSERT_TRUE(prices_lookup(t, "openai", "gpt-4o-mini-audio-preview", &how) == NULL);
	ASSERT_EQ(how, PRICE_MATCH_NONE);
	ASSERT_TRUE(prices_lookup(t, "openai", "gpt-4o-mini-2024-07", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "openai", "GPT-4O-MINI", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "openai", "gpt-4", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "anthropic", "gpt-4o", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "openai", "o1-preview-2024-09-12", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "anthropic", "claude-sonnet-4-5-2025", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "openai", "", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "openai", NULL, NULL) == NULL);
	/* the suffix rule alone */
	ASSERT_EQ(prices_base_len("gpt-4o-mini-2024-07-18"), 11);
	ASSERT_EQ(prices_base_len("claude-3-5-haiku-20241022"), 16);
	ASSERT_EQ(prices_base_len("claude-3-7-sonnet-latest"), 17);
	ASSERT_EQ(prices_base_len("claude-sonnet-4-5"), 17);
	ASSERT_EQ(prices_base_len("o1"), 2);
	ASSERT_EQ(prices_base_len("-latest"), 7);
	ASSERT_EQ(prices_base_len("x-2024-7-18"), 11);
	prices_free(t);
}

/* Clouds that host others' models name them with a '/': the provider is the key's first part,
 * the rest the model as billed; no part of it stands for the whole. */
static void test_model_names_with_slashes(void)
{
	static const char text[] =
	    "{\"together/meta-llama/Llama-3.3-70B-Instruct-Turbo\":{\"input\":1,\"output\":2,"
	    "\"cached_input\":null,\"cache_write\":null,\"valid_from\":\"2025-01-01\","
	    "\"aliases\":[\"meta-llama/Meta-Llama-3.3-70B-Instruct-Turbo\"]}}";
	struct price_table *t = NULL;
	const struct price *p;

	ASSERT_OK(prices_parse("t.json", text, sizeof(text) - 1, stderr, &t));
	p = prices_lookup(t, "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", NULL);
	ASSERT_STREQ(p ? p->key : NULL, "together/meta-llama/Llama-3.3-70B-Instruct-Turbo");
	p = prices_lookup(t, "together", "meta-llama/Meta-Llama-3.3-70B-Instruct-Turbo", NULL);
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(prices_lookup(t, "together", "Llama-3.3-70B-Instruct-Turbo", NULL) == NULL);
	ASSERT_TRUE(prices_lookup(t, "together/meta-llama", "Llama-3.3-70B-Instruct-Turbo", NULL) ==
		    NULL);
	ASSERT_TRUE(prices_lookup(t, "meta-llama", "Llama-3.3-70B-Instruct-Turbo", NULL) == NULL);
	prices_free(t);
}

static void test_validation(void)
{
	struct price_table *t;
	char *msgs = NULL;

	ASSERT_OK(parse_msgs(ENTRY(""), &msgs));
	ASSERT_STREQ(msgs, "");
	free(msgs);
	expect_problem(ENTRY(",\"inptu\":1"), -EINVAL,
		       "t.json: \"openai/m\": inptu: unknown field");
	expect_problem("{\"openai/m\":{\"input\":-0.5,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "\"openai/m\": input: negative price -0.5");
	expect_problem("{\"openai/m\":{\"input\":null,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "\"openai/m\": input: not a number");
	expect_problem("{\"openai/m\":{\"input\":1,\"output\":\"2\",\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "\"openai/m\": output: not a number");
	expect_problem("{\"openai/m\":{\"input\":0.0000001,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "input: 1e-07 is not a price");
	expect_problem("{\"openai/m\":{\"input\":1,\"output\":2,\"cached_input\":null,"
		       "\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "\"openai/m\": cache_write: missing");
	expect_problem(ENTRY(",\"input\":3"), -EINVAL, "\"openai/m\": input: given twice");
	expect_problem("{\"openai/m\":{\"input\":1,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-13-01\"}}",
		       -EINVAL, "valid_from: expected a date");
	expect_problem(ENTRY(",\"long_context_above\":0"), -EINVAL, "long_context_above");
	expect_problem(ENTRY(",\"long_context\":{\"input\":2,\"output\":3}"), -EINVAL,
		       "\"openai/m\": long_context: needs long_context_above");
	expect_problem(ENTRY(",\"long_context_above\":9,\"long_context\":{\"input\":-2,"
			     "\"output\":3}"),
		       -EINVAL, "\"openai/m\": long_context.input: negative price -2");
	expect_problem(ENTRY(",\"long_context_above\":9,\"long_context\":{\"input\":2}"),
		       -EINVAL, "\"openai/m\": long_context: output: missing");
	expect_problem(ENTRY(",\"long_context_above\":9,\"long_context\":{\"input\":2,"
			     "\"output\":3,\"audio\":1}"),
		       -EINVAL, "\"openai/m\": long_context.audio: unknown field");
	/* a band's price given twice is refused, as a top-level one is: never the last one */
	expect_problem(ENTRY(",\"long_context_above\":9,\"long_context\":{\"input\":2,"
			     "\"output\":3,\"input\":0.01}"),
		       -EINVAL, "\"openai/m\": long_context.input: given twice");
	expect_problem(ENTRY(",\"long_context_above\":9,\"long_context\":[2,3]"), -EINVAL,
		       "\"openai/m\": long_context: expected an object");
	expect_problem(ENTRY(",\"long_context_above\":9,\"long_context\":{\"input\":1e999,"
			     "\"output\":3}"),
		       -EINVAL, "\"openai/m\": long_context.input: inf is not a price");
	expect_problem(ENTRY(",\"request_fee_unpriced\":1"), -EINVAL,
		       "\"openai/m\": request_fee_unpriced: expected true or false");
	expect_problem(ENTRY(",\"aliases\":[\"a b\"]"), -EINVAL, "\"openai/m\": aliases");
	expect_problem(ENTRY(",\"aliases\":[\"a//b\"]"), -EINVAL, "\"openai/m\": aliases");
	expect_problem(ENTRY(",\"aliases\":[\"a/\"]"), -EINVAL, "\"openai/m\": aliases");
	expect_problem("{\"gpt-4o\":{\"input\":1,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "\"gpt-4o\": expected a key \"provider/model\"");
	expect_problem("{\"openai/m\":{\"input\":1,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"},"
		       "\"openai/m\":{\"input\":1,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "\"openai/m\": names two entries");
	expect_problem("{\"openai/m\":{\"input\":1,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\",\"aliases\":[\"n\"]},"
		       "\"openai/n\":{\"input\":1,\"output\":2,\"cached_input\":null,"
		       "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}",
		       -EINVAL, "\"openai/n\": names two entries (openai/m and openai/n)");
	expect_problem("{\"openai/m\":[]}", -EINVAL, "\"openai/m\": expected an object");
	expect_problem("[]", -EINVAL, "expected an object");
	expect_problem("{\n\"openai/m\": {,}\n}", -EBADMSG, "not valid JSON (line 2");
	/* every problem is reported, not just the first */
	ASSERT_EQ(parse_msgs("{\"openai/m\":{\"input\":-1,\"output\":-2,\"x\":1}}", &msgs),
		  -EINVAL);
	ASSERT_CONTAINS(msgs, "input: negative");
	ASSERT_CONTAINS(msgs, "output: negative");
	ASSERT_CONTAINS(msgs, "x: unknown field");
	ASSERT_CONTAINS(msgs, "valid_from: missing");
	free(msgs);
	ASSERT_EQ(prices_load("/nonexistent/prices.json", NULL, &t), -ENOENT);
	ASSERT_TRUE(t == NULL);
}

static struct usage known(int64_t in, int64_t cached, int64_t write, int64_t write_1h, int64_t out)
{
	struct usage u = {.input = in,
			  .cached_input = cached,
			  .cache_write = write,
			  .cache_write_1h = write_1h,
			  .output = out,
			  .known = USAGE_KNOWN_ALL};
	return u;
}

static void test_cost_exact(void)
{
	char usd[COST_USD_TEXT_MAX];
	struct price_table *t;
	struct usage u;
	struct cost c;

	ASSERT_OK(load_shipped(&t));

	/* gpt-4o-mini ($0.15 in, $0.075 cached, $0.60 out), 1,000,000 input of which 200,000
	 * cached, 500,000 output:
	 *   800,000 x   150,000 = 120,000,000,000
	 *   200,000 x    75,000 =  15,000,000,000
	 *   500,000 x   600,000 = 300,000,000,000
	 *                  sum  = 435,000,000,000 pico = 435,000,000 nano = $0.435 */
	u = known(1000000, 200000, 0, 0, 500000);
	ASSERT_OK(cost_for_model(t, "openai", "gpt-4o-mini-2024-07-18", &u, &c));
	ASSERT_EQ(c.known, 1);
	ASSERT_EQ(c.pico_usd, 435000000000LL);
	ASSERT_EQ(c.nano_usd, 435000000);
	ASSERT_EQ(c.match, PRICE_MATCH_SNAPSHOT);
	ASSERT_STREQ(c.price->key, "openai/gpt-4o-mini");

	/* claude-sonnet-4-5 ($3 in, $0.30 read, $3.75 5m write, $6 1h write, $15 out), the
	 * Anthropic body of test_usage.c: input_tokens 100, cache write 2,000 (500 of it 1h),
	 * cache read 10,000, output 300; usage.input = 12,100:
	 *      100 x  3,000,000 =    300,000,000
	 *   10,000 x    300,000 =  3,000,000,000
	 *    1,500 x  3,750,000 =  5,625,000,000
	 *      500 x  6,000,000 =  3,000,000,000
	 *      300 x 15,000,000 =  4,500,000,000
	 *                  sum  = 16,425,000,000 pico = 16,425,000 nano = $0.016425 */
	u = known(12100, 10000, 2000, 500, 300);
	ASSERT_OK(cost_for_model(t, "anthropic", "claude-sonnet-4-5-20250929", &u, &c));
	ASSERT_EQ(c.pico_usd, 16425000000LL);
	ASSERT_EQ(c.nano_usd, 16425000);

	/* small calls are exact: gpt-4.1-nano ($0.10 in, $0.025 cached, $0.40 out), 6 input
	 * of which 3 cached, 1 output:
	 *   3 x 100,000 = 300,000; 3 x 25,000 = 75,000; 1 x 400,000 = 400,000
	 *   sum 775,000 pico = 775 nano */
	u = known(6, 3, 0, 0, 1);
	ASSERT_OK(cost_for_model(t, "openai", "gpt-4.1-nano", &u, &c));
	ASSERT_EQ(c.pico_usd, 775000);
	ASSERT_EQ(c.nano_usd, 775);

	/* gpt-5-nano ($0.05 in, $0.005 cached, $0.40 out): 10 tokens = 500,000 pico = 500 nano
	 * = $0.000000500 (it was 0.5 micro, rounded to 1: +100 %); 9 tokens = 450 nano; 7 input
	 * of which 3 cached and 3 output = 4 x 50,000 + 3 x 5,000 + 3 x 400,000 = 1,415 nano */
	u = known(10, 0, 0, 0, 0);
	ASSERT_OK(cost_for_model(t, "openai", "gpt-5-nano", &u, &c));
	ASSERT_EQ(c.nano_usd, 500);
	ASSERT_STREQ(cost_usd_text(c.nano_usd, usd), "0.000000500");
	u = known(9, 0, 0, 0, 0);
	ASSERT_OK(cost_for_model(t, "openai", "gpt-5-nano", &u, &c));
	ASSERT_EQ(c.nano_usd, 450);
	ASSERT_EQ(c.known, 1);
	u = known(7, 3, 0, 0, 3);
	ASSERT_OK(cost_for_model(t, "openai", "gpt-5-nano", &u, &c));
	ASSERT_EQ(c.nano_usd, 1415);

	/* embeddings: text-embedding-3-small ($0.02), 1,234 tokens, no output price needed:
	 *   1,234 x 20,000 = 24,680,000 pico = 24,680 nano */
	u = known(1234, 0, 0, 0, 0);
	ASSERT_OK(cost_for_model(t, "openai", "text-embedding-3-small", &u, &c));
	ASSERT_EQ(c.nano_usd, 24680);

	/* o1 ($15 in, $7.50 cached, $60 out): 2,006 input, 1,920 cached, 300 output:
	 *   86 x 15,000,000 = 1,290,000,000; 1,920 x 7,500,000 = 14,400,000,000;
	 *   300 x 60,000,000 = 18,000,000,000; sum 33,690,000,000 pico = 33,690,000 nano */
	u = known(2006, 1920, 0, 0, 300);
	ASSERT_OK(cost_for_model(t, "openai", "o1-2024-12-17", &u, &c));
	ASSERT_EQ(c.nano_usd, 33690000);
	ASSERT_STREQ(cost_usd_text(c.nano_usd, usd), "0.033690000");
	prices_free(t);
}

static void test_cost_unknown(void)
{
	struct price_table *t;
	struct usage u;
	struct cost c;

	ASSERT_OK(load_shipped(&t));
	u = known(100, 0, 0, 0, 10);
	ASSERT_EQ(cost_for_model(t, "openai", "gpt-9-turbo", &u, &c), -ENOENT);
	ASSERT_EQ(c.known, 0);
	ASSERT_EQ(c.nano_usd, 0);
	ASSERT_STREQ(c.reason, "no price for openai/gpt-9-turbo");
	ASSERT_EQ(cost_for_model(t, "openai", "", &u, &c), -ENOENT);
	ASSERT_CONTAINS(c.reason, "(no model)");
	ASSERT_EQ(cost_compute(&u, NULL, &c), -ENOENT);

	/* usage not final */
	u.known = USAGE_KNOWN_INPUT;
	ASSERT_EQ(cost_for_model(t, "anthropic", "claude-opus-4-1", &u, &c), -ENODATA);
	ASSERT_CONTAINS(c.reason, "output tokens not final");
	u.known = 0;
	ASSERT_EQ(cost_for_model(t, "anthropic", "claude-opus-4-1", &u, &c), -ENODATA);
	ASSERT_STREQ(c.reason, "no usage reported");

	/* cached tokens on a model with no cached price: not free, not full price: unknown */
	u = known(100, 50, 0, 0, 10);
	ASSERT_EQ(cost_for_model(t, "openai", "gpt-4o-2024-05-13", &u, &c), -EDOM);
	ASSERT_CONTAINS(c.reason, "50 cached_input tokens but openai/gpt-4o-2024-05-13 has no");
	/* output tokens on an embeddings model */
	u = known(100, 0, 0, 0, 1);
	ASSERT_EQ(cost_for_model(t, "openai", "text-embedding-3-large", &u, &c), -EDOM);

	/* past the long-context threshold */
	u = known(200001, 0, 0, 0, 10);
	ASSERT_EQ(cost_for_model(t, "anthropic", "claude-sonnet-4-20250514", &u, &c), -EDOM);
	ASSERT_CONTAINS(c.reason, "above 200000");
	u.input = 200000;
	ASSERT_OK(cost_for_model(t, "anthropic", "claude-sonnet-4-20250514", &u, &c));

	/* a per-request fee the table does not hold: the tokens are counted, the cost unknown */
	u = known(100, 0, 0, 0, 10);
	ASSERT_EQ(cost_for_model(t, "perplexity", "sonar", &u, &c), -EDOM);
	ASSERT_EQ(c.known, 0);
	ASSERT_STREQ(c.reason, "perplexity/sonar also charges a fee per request (e.g. for web "
			       "search) that the table does not hold");

	/* what a per-token text price does not cover */
	u = known(100, 0, 0, 0, 10);
	u.unpriced = USAGE_UNPRICED_TIER;
	ASSERT_EQ(cost_for_model(t, "openai", "o3", &u, &c), -EDOM);
	ASSERT_CONTAINS(c.reason, "service tier");

	/* contradictions and overflow */
	u = known(100, 80, 30, 0, 10);
	ASSERT_EQ(cost_for_model(t, "anthropic", "claude-haiku-4-5", &u, &c), -EBADMSG);
	u = known(100, 0, 10, 11, 10);
	ASSERT_EQ(cost_for_model(t, "anthropic", "claude-haiku-4-5", &u, &c), -EBADMSG);
	u = known(1LL << 53, 0, 0, 0, 1LL << 53);
	ASSERT_EQ(cost_for_model(t, "anthropic", "claude-opus-4", &u, &c), -EOVERFLOW);
	ASSERT_EQ(c.known, 0);
	prices_free(t);
}

/* From a provider's body to nano-dollars. */
static void test_body_to_cost(void)
{
	static const char body[] =
	    "{\"id\":\"msg_01\",\"type\":\"message\",\"model\":\"claude-3-5-haiku-20241022\","
	    "\"usage\":{\"input_tokens\":2095,\"cache_creation_input_tokens\":0,"
	    "\"cache_read_input_tokens\":0,\"output_tokens\":503}}";
	char model[USAGE_MODEL_MAX];
	struct price_table *t;
	struct usage u;
	struct cost c;

	ASSERT_OK(load_shipped(&t));
	ASSERT_OK(usage_from_body(USAGE_API_ANTHROPIC_MESSAGES, body, sizeof(body) - 1, &u, model,
				  sizeof(model)));
	/* 2,095 x 800,000 = 1,676,000,000; 503 x 4,000,000 = 2,012,000,000;
	 * sum 3,688,000,000 pico = 3,688,000 nano */
	ASSERT_OK(cost_for_model(t, "anthropic", model, &u, &c));
	ASSERT_EQ(c.nano_usd, 3688000);
	prices_free(t);
}

/* A price with more than 3 decimals is not a whole number of nano-dollars per token: the
 * sum is exact in pico-dollars and rounded up once, for the call, never per kind. */
static void test_cost_sub_nano_rounded_once(void)
{
	static const char table[] =
	    "{\"openai/m\":{\"input\":0.0015,\"output\":0.0025,\"cached_input\":null,"
	    "\"cache_write\":null,\"valid_from\":\"2025-01-01\"}}";
	char usd[COST_USD_TEXT_MAX];
	struct price_table *t;
	struct usage u;
	struct cost c;

	ASSERT_OK(prices_parse("t.json", table, sizeof(table) - 1, stderr, &t));
	/* 1 x 1,500 + 1 x 2,500 = 4,000 pico = 4 nano: per kind rounded up it would be 2 + 3 */
	u = known(1, 0, 0, 0, 1);
	ASSERT_OK(cost_for_model(t, "openai", "m", &u, &c));
	ASSERT_EQ(c.pico_usd, 4000);
	ASSERT_EQ(c.nano_usd, 4);
	/* 1 x 1,500 = 1,500 pico -> 2 nano, and the pico sum kept */
	u = known(1, 0, 0, 0, 0);
	ASSERT_OK(cost_for_model(t, "openai", "m", &u, &c));
	ASSERT_EQ(c.pico_usd, 1500);
	ASSERT_EQ(c.nano_usd, 2);
	prices_free(t);
	ASSERT_STREQ(cost_usd_text(0, usd), "0.000000000");
	ASSERT_STREQ(cost_usd_text(1234567890123LL, usd), "1234.567890123");
	ASSERT_STREQ(cost_usd_text(-5, usd), "-0.000000005");
	ASSERT_STREQ(cost_usd_text(999999999, usd), "0.999999999");
	ASSERT_STREQ(cost_usd_text(1000000000, usd), "1.000000000");
	ASSERT_STREQ(cost_usd_text(-1000000000, usd), "-1.000000000");
	ASSERT_STREQ(cost_usd_text(14700, usd), "0.000014700");
	ASSERT_STREQ(cost_usd_text(INT64_MAX, usd), "9223372036.854775807");
	ASSERT_STREQ(cost_usd_text(INT64_MIN, usd), "-9223372036.854775808");
}

/* The cost of INPUT and OUTPUT tokens of gemini/m in T is NANO nano-dollars. */
static void expect_gemini_m(const struct price_table *t, int64_t input, int64_t output,
			    int64_t nano)
{
	struct usage u = known(input, 0, 0, 0, output);
	struct cost c;

	ASSERT_OK(cost_for_model(t, "gemini", "m", &u, &c));
	ASSERT_EQ(c.nano_usd, nano);
}

/* A price that changes above a prompt size ("long_context"): the whole request at the higher
 * rates past long_context_above, the lower ones up to it; a kind of token the higher band has
 * no price for makes the cost unknown, never the lower band's price. */
static void test_cost_long_context(void)
{
	static const char table[] =
	    "{\"gemini/m\":{\"input\":1.25,\"output\":10,\"cached_input\":0.125,"
	    "\"cache_write\":null,\"long_context_above\":200000,"
	    "\"long_context\":{\"input\":2.50,\"output\":15},\"valid_from\":\"2025-01-01\"}}";
	struct price_table *t;
	struct usage u;
	struct cost c;

	ASSERT_OK(prices_parse("t.json", table, sizeof(table) - 1, stderr, &t));
	/* at the limit: 200,000 x 1,250,000 + 100 x 10,000,000 = 251,000,000,000 pico */
	expect_gemini_m(t, 200000, 100, 251000000);
	/* one token past it, every token at the higher rates:
	 * 200,001 x 2,500,000 + 100 x 15,000,000 = 501,502,500,000 pico */
	expect_gemini_m(t, 200001, 100, 501502500);
	/* cached tokens: priced below the limit, no long-context price above it */
	u = known(300000, 1000, 0, 0, 100);
	ASSERT_EQ(cost_for_model(t, "gemini", "m", &u, &c), -EDOM);
	ASSERT_STREQ(c.reason, "1000 cached_input tokens but gemini/m has no long-context "
			       "cached_input price");
	prices_free(t);
}

/* The threshold is on the whole prompt, cached tokens included, as Gemini (promptTokenCount)
 * and xAI count it: 199,999 fresh and 2 cached tokens are 200,001, past 200,000. */
static void test_cost_long_context_counts_cached(void)
{
	static const char table[] =
	    "{\"xai/m\":{\"input\":1.25,\"output\":10,\"cached_input\":0.20,"
	    "\"cache_write\":null,\"long_context_above\":200000,\"long_context\":"
	    "{\"input\":2.50,\"output\":15,\"cached_input\":0.40},\"valid_from\":\"2026-03-09\"}}";
	struct price_table *t;
	struct usage u = known(200001, 2, 0, 0, 100);
	struct cost c;

	ASSERT_OK(prices_parse("t.json", table, sizeof(table) - 1, stderr, &t));
	ASSERT_OK(cost_for_model(t, "xai", "m", &u, &c));
	/* 199,999 x 2,500,000 + 2 x 400,000 + 100 x 15,000,000 = 501,498,300,000 pico */
	ASSERT_EQ(c.pico_usd, 501498300000LL);
	prices_free(t);
}

UNIT_MAIN(UNIT_CASE(test_shipped_table), UNIT_CASE(test_shipped_cloud_rows),
	  UNIT_CASE(test_shipped_vertex_and_global_profiles),
	  UNIT_CASE(test_lookup_rules), UNIT_CASE(test_validation),
	  UNIT_CASE(test_model_names_with_slashes),
	  UNIT_CASE(test_cost_exact), UNIT_CASE(test_cost_sub_nano_rounded_once),
	  UNIT_CASE(test_cost_unknown), UNIT_CASE(test_body_to_cost),
	  UNIT_CASE(test_cost_long_context),
	  UNIT_CASE(test_cost_long_context_counts_cached))
