/* test_tool_ids.c: a request for a target other than Gemini has its tool call ids cut at
 * __thought__, in the call and in its result alike, in each API's places for them; every
 * other byte stays the app's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "providers/tool_ids.h"
#include "unit.h"

/* tool_ids_strip() of IN for API: WANT, N ids cut, or (WANT NULL) nothing cut. */
static void check_strip(enum usage_api api, const char *in, const char *want, int n)
{
	char *out = (char *)"untouched";
	size_t len = 0;

	ASSERT_EQ(tool_ids_strip(api, in, strlen(in), &out, &len), want ? n : 0);
	if (!want) {
		ASSERT_TRUE(out == NULL);
		return;
	}
	ASSERT_STREQ(out, want);
	ASSERT_EQ(len, strlen(want));
	free(out);
}

static void test_openai(void)
{
	check_strip(
	    USAGE_API_OPENAI_CHAT,
	    "\xEF\xBB\xBF {\"messages\":[{\"role\":\"user\",\"content\":\"say __thought__\"},"
	    "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_a__thought__c2ln\","
	    "\"type\":\"function\"},{\"type\":\"function\",\"id\":\"call_b\"}]},"
	    "{\"tool_call_id\" : \"call_a__thought__c2ln\",\"role\":\"tool\"}],"
	    "\"seed\":12345678901234567890}",
	    "\xEF\xBB\xBF {\"messages\":[{\"role\":\"user\",\"content\":\"say __thought__\"},"
	    "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_a\","
	    "\"type\":\"function\"},{\"type\":\"function\",\"id\":\"call_b\"}]},"
	    "{\"tool_call_id\" : \"call_a\",\"role\":\"tool\"}],"
	    "\"seed\":12345678901234567890}",
	    2);
	/* the mark in text only, an escaped mark, another API's places: nothing */
	check_strip(USAGE_API_OPENAI_CHAT,
		    "{\"messages\":[{\"role\":\"user\",\"content\":\"x__thought__y\"}]}", NULL, 0);
	check_strip(USAGE_API_OPENAI_CHAT,
		    "{\"messages\":[{\"tool_call_id\":\"a__thought\\u005f_b\"}]}", NULL, 0);
	check_strip(USAGE_API_OPENAI_CHAT,
		    "{\"messages\":[{\"content\":[{\"tool_use_id\":\"a__thought__b\"}]}]}", NULL, 0);
	check_strip(USAGE_API_OPENAI_EMBEDDINGS, "{\"input\":\"a__thought__b\"}", NULL, 0);
}

static void test_anthropic_and_bedrock(void)
{
	static const char in[] =
	    "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
	    "\"id\":\"call_x__thought__QQ\",\"name\":\"f\",\"input\":{\"id\":\"k__thought__\"}}]},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
	    "\"tool_use_id\":\"call_x__thought__QQ\",\"content\":\"ok\"}]}]}";
	static const char want[] =
	    "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
	    "\"id\":\"call_x\",\"name\":\"f\",\"input\":{\"id\":\"k__thought__\"}}]},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
	    "\"tool_use_id\":\"call_x\",\"content\":\"ok\"}]}]}";

	check_strip(USAGE_API_ANTHROPIC_MESSAGES, in, want, 2);
	check_strip(USAGE_API_BEDROCK_INVOKE, in, want, 2);
	check_strip(
	    USAGE_API_BEDROCK_CONVERSE,
	    "{\"messages\":[{\"content\":[{\"toolUse\":{\"toolUseId\":\"t__thought__A\"}}]},"
	    "{\"content\":[{\"toolResult\":{\"toolUseId\":\"t__thought__A\"}}]}]}",
	    "{\"messages\":[{\"content\":[{\"toolUse\":{\"toolUseId\":\"t\"}}]},"
	    "{\"content\":[{\"toolResult\":{\"toolUseId\":\"t\"}}]}]}", 2);
}

/* A hostile body: many signed ids, messages of every shape; each cut once, nothing else. */
static void test_many(void)
{
	size_t n = 2000, cap = n * 80 + 64, o = 0;
	char *in = malloc(cap), *want = malloc(cap), *out = NULL;
	size_t len = 0;

	ASSERT_TRUE(in && want);
	o = (size_t)snprintf(in, cap, "{\"messages\":[");
	for (size_t i = 0; i < n; i++)
		o +=
		    (size_t)snprintf(in + o, cap - o, "%s{\"tool_call_id\":\"c%zu__thought__x\"},7",
				     i ? "," : "", i);
	snprintf(in + o, cap - o, "]}");
	o = (size_t)snprintf(want, cap, "{\"messages\":[");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(want + o, cap - o, "%s{\"tool_call_id\":\"c%zu\"},7",
				      i ? "," : "", i);
	snprintf(want + o, cap - o, "]}");
	ASSERT_EQ(tool_ids_strip(USAGE_API_OPENAI_CHAT, in, strlen(in), &out, &len), (int)n);
	ASSERT_STREQ(out, want);
	free(out);
	free(in);
	free(want);
}

UNIT_MAIN(UNIT_CASE(test_openai), UNIT_CASE(test_anthropic_and_bedrock), UNIT_CASE(test_many))
