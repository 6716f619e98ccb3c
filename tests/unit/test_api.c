/* test_api.c: the provider adapters: which paths are whose, how each takes a key, and the
 * errors the gateway answers in each family's own format, as an answer and as the last
 * event of a stream (what the official SDKs parse). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "providers/api.h"
#include "unit.h"

static void test_paths(void)
{
	const struct provider_api *p;

	ASSERT_EQ(provider_api_for_path("/v1/chat/completions", &p), USAGE_API_OPENAI_CHAT);
	ASSERT_TRUE(p == &provider_openai);
	ASSERT_EQ(provider_api_for_path("/v1/responses?x=1", &p), USAGE_API_OPENAI_RESPONSES);
	ASSERT_EQ(provider_api_for_path("/v1/embeddings", &p), USAGE_API_OPENAI_EMBEDDINGS);
	ASSERT_EQ(provider_api_for_path("/v1/messages", &p), USAGE_API_ANTHROPIC_MESSAGES);
	ASSERT_TRUE(p == &provider_anthropic);
	ASSERT_EQ(provider_api_for_path("/v1/messages/count_tokens", &p), -1);
	ASSERT_TRUE(p == NULL);
	ASSERT_EQ(provider_api_for_path("/v1/chat/completionsX", &p), -1);
	ASSERT_EQ(provider_api_for_path(NULL, &p), -1);
	ASSERT_TRUE(provider_api_of_usage(USAGE_API_OPENAI_EMBEDDINGS) == &provider_openai);
	ASSERT_TRUE(provider_api_of_family(POLICY_API_ANTHROPIC) == &provider_anthropic);
	ASSERT_EQ(provider_anthropic.chat_api, USAGE_API_ANTHROPIC_MESSAGES);
	ASSERT_STREQ(provider_openai.key_header, "Authorization");
	ASSERT_STREQ(provider_anthropic.version_header, "anthropic-version");
}

/* A provider reads only its own family's paths: another family's shape is none of its calls
 * (Vertex reads the Anthropic and Gemini forms vertex_canonicalise() makes of its paths). */
static void test_paths_by_family(void)
{
	const char *gemini = "/v1beta/models/gpt-4o-mini:generateContent";
	const char *bedrock = "/model/gpt-4o-mini/converse";
	const struct provider_api *p;

	ASSERT_EQ(provider_api_for_family_path(POLICY_API_OPENAI, gemini, &p), -1);
	ASSERT_TRUE(p == NULL);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_OPENAI, bedrock, &p), -1);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_OPENAI, "/v1/messages", &p), -1);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_OPENAI, "/v1/chat/completions", &p),
		  USAGE_API_OPENAI_CHAT);
	ASSERT_TRUE(p == &provider_openai);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_GEMINI, "/v1/chat/completions", &p), -1);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_GEMINI, gemini, &p),
		  USAGE_API_GEMINI_GENERATE);
	ASSERT_TRUE(p == &provider_gemini);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_BEDROCK, gemini, &p), -1);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_ANTHROPIC, bedrock, &p), -1);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_VERTEX, "/v1/messages", &p),
		  USAGE_API_ANTHROPIC_MESSAGES);
	ASSERT_TRUE(p == &provider_anthropic);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_VERTEX, gemini, &p),
		  USAGE_API_GEMINI_GENERATE);
	ASSERT_TRUE(p == &provider_gemini);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_VERTEX, "/v1/chat/completions", &p), -1);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_VERTEX, bedrock, &p), -1);
	ASSERT_EQ(provider_api_for_family_path(POLICY_API_OPENAI, NULL, &p), -1);
}

/* Each family's inference calls (the endpoint stage's default with the gateway's key, and
 * where allow.models reads a body's "model"), never another family's: Bedrock's four
 * operations with a plain, encoded or ARN model id (an ARN's slashes encoded: one segment),
 * Vertex's none (its publisher paths are read by vertex_path_parse()), an Azure call judged
 * on the OpenAI path azure_canonical() makes of it. */
static void test_inference_tables(void)
{
	static const struct {
		enum policy_api family;
		const char *method, *path;
		int want; /* -1: none of the family's; else its body_model */
	} cases[] = {
	    {POLICY_API_OPENAI, "POST", "/v1/chat/completions", 1},
	    {POLICY_API_OPENAI, "post", "/v1/completions", 1},
	    {POLICY_API_OPENAI, "GET", "/v1/models/gpt-4o", 0},
	    {POLICY_API_OPENAI, "GET", "/v1/chat/completions", -1},
	    {POLICY_API_OPENAI, "POST", "/v1/messages", -1},
	    {POLICY_API_OPENAI, "POST", "/v1/messages/count_tokens", -1},
	    {POLICY_API_OPENAI, "POST", "/model/m/converse", -1},
	    {POLICY_API_OPENAI, "POST", "/v1/files", -1},
	    {POLICY_API_OPENAI, "GET", "/v1/models/a/b", -1},
	    {POLICY_API_ANTHROPIC, "POST", "/v1/messages/count_tokens", 1},
	    {POLICY_API_ANTHROPIC, "POST", "/v1/messages/batches", -1},
	    {POLICY_API_ANTHROPIC, "POST", "/v1/chat/completions", -1},
	    {POLICY_API_GEMINI, "GET", "/v1beta/models", 0},
	    {POLICY_API_GEMINI, "POST", "/v1beta/models", -1},
	    {POLICY_API_GEMINI, "POST", "/v1/chat/completions", -1},
	    {POLICY_API_BEDROCK, "POST", "/model/anthropic.claude-3-haiku-20240307-v1:0/converse", 0},
	    {POLICY_API_BEDROCK, "POST", "/model/m/converse-stream", 0},
	    {POLICY_API_BEDROCK, "POST", "/model/m/invoke", 0},
	    {POLICY_API_BEDROCK, "POST", "/model/m/invoke-with-response-stream", 0},
	    {POLICY_API_BEDROCK, "POST",
	     "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream", 0},
	    {POLICY_API_BEDROCK, "POST",
	     "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fabc/"
	     "invoke",
	     0},
	    {POLICY_API_BEDROCK, "POST", "/model/arn:aws:bedrock:us-east-1:1:x/abc/invoke", -1},
	    {POLICY_API_BEDROCK, "GET", "/model/m/converse", -1},
	    {POLICY_API_BEDROCK, "POST", "/model/m/converse/x", -1},
	    {POLICY_API_BEDROCK, "POST", "/v1/chat/completions", -1},
	    {POLICY_API_VERTEX, "POST", "/v1/messages", -1},
	    {POLICY_API_VERTEX, "POST",
	     "/v1/projects/p/locations/global/publishers/google/models/m:generateContent", -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct provider_path *p = provider_inference_call(
		    cases[i].family, cases[i].method, cases[i].path, strlen(cases[i].path));
		int got = p ? p->body_model : -1;

		if (got != cases[i].want)
			UNIT_FAIL("family %d %s %s: %d, want %d", (int)cases[i].family,
				  cases[i].method, cases[i].path, got, cases[i].want);
	}
	/* the length given, not the query after it */
	ASSERT_TRUE(provider_inference_call(POLICY_API_OPENAI, "POST", "/v1/embeddings?x=1", 14));
}

/* BODY parsed, and its error object's STRING member KEY, or NULL. */
static const char *error_member(cJSON **root, const char *body, const char *key)
{
	*root = cJSON_Parse(body);
	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(*root, "error"), key));
}

static void test_error_bodies(void)
{
	size_t len;
	char *o = provider_openai.error_body(401, NULL, "bad \"key\"", &len);
	char *a = provider_anthropic.error_body(504, NULL, "slow", &len);
	cJSON *ro, *ra;

	ASSERT_EQ(len, strlen(a));
	ASSERT_STREQ(error_member(&ro, o, "message"), "bad \"key\"");
	ASSERT_STREQ(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ro, "error"), "code")),
	    "invalid_api_key");
	ASSERT_STREQ(error_member(&ra, a, "type"), "timeout_error");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(ra, "type")), "error");
	cJSON_Delete(ro);
	cJSON_Delete(ra);
	free(o);
	free(a);
}

static void test_error_events(void)
{
	size_t len;
	char *chat = provider_openai.error_event(USAGE_API_OPENAI_CHAT, "cut", &len);
	char *resp = provider_openai.error_event(USAGE_API_OPENAI_RESPONSES, "cut", &len);
	char *msgs = provider_anthropic.error_event(USAGE_API_ANTHROPIC_MESSAGES, "cut", &len);
	cJSON *root;

	ASSERT_EQ(len, strlen(msgs));
	/* A chat stream's error is a data line with an "error" object, no event name. */
	ASSERT_TRUE(!strncmp(chat, "data: {\"error\":", 15));
	ASSERT_TRUE(!strcmp(chat + strlen(chat) - 2, "\n\n"));
	ASSERT_STREQ(error_member(&root, chat + 6, "message"), "cut");
	cJSON_Delete(root);
	ASSERT_TRUE(!strncmp(resp, "event: error\ndata: {\"type\":\"error\",", 35));
	ASSERT_TRUE(!strncmp(msgs, "event: error\ndata: {\"type\":\"error\",\"error\":{", 44));
	ASSERT_TRUE(!strcmp(msgs + strlen(msgs) - 2, "\n\n"));
	free(chat);
	free(resp);
	free(msgs);
}

/* A logical name replaced by the target's model: that value alone changes. */
static void test_request_set_model(void)
{
	static const char body[] = " {\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
				   "\"seed\": 12345678901234567890 ,\"model\" : \"fast-summary\","
				   "\"temperature\":0.70}";
	static const char want[] = " {\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
				   "\"seed\": 12345678901234567890 ,\"model\" : \"gpt-4o-mini\","
				   "\"temperature\":0.70}";
	char *out = NULL;
	size_t len = 0;

	ASSERT_OK(request_set_model(body, sizeof(body) - 1, "gpt-4o-mini", &out, &len));
	ASSERT_STREQ(out, want);
	ASSERT_EQ(len, sizeof(want) - 1);
	free(out);
	ASSERT_OK(request_set_model("{\"model\":\"a\"}", 13, "q\"uote", &out, &len));
	ASSERT_STREQ(out, "{\"model\":\"q\\\"uote\"}");
	free(out);
	ASSERT_EQ(request_set_model("{\"x\":1}", 7, "m", &out, &len), -ENOENT);
	ASSERT_TRUE(out == NULL);
}

UNIT_MAIN(UNIT_CASE(test_paths), UNIT_CASE(test_paths_by_family),
	  UNIT_CASE(test_inference_tables), UNIT_CASE(test_error_bodies), UNIT_CASE(test_error_events),
	  UNIT_CASE(test_request_set_model))
