/*
 * test_translate_gemini.c: translation to Gemini's generateContent and back. OpenAI chat and
 * Anthropic messages requests become Gemini requests (contents, systemInstruction,
 * generationConfig); what has no exact translation is refused naming the field; Gemini
 * answers, whole and streamed (alt=sse chunks, each with the usage so far), become the app's:
 * text, finish reason, usage (cached and thinking tokens counted as Gemini bills them).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>

#include "providers/gemini.h"
#include "providers/translate.h"
#include "providers/translate_util.h"
#include "unit.h"

#define OPENAI TRANSLATE_OPENAI_CHAT
#define ANTHROPIC TRANSLATE_ANTHROPIC_MESSAGES
#define GEMINI TRANSLATE_GEMINI_GENERATE

/* The request APP wrote, translated for Gemini, as text ("" when refused: R says why). */
static char *to_gemini(enum translate_api app, const char *json, struct translate_req *r)
{
	char *out = NULL;

	if (!translate_request_to(app, GEMINI, json, strlen(json), "gemini-2.5-flash", 0, r))
		out = strdup(r->body);
	translate_req_release(r);
	return out ? out : strdup("");
}

static void test_openai_request(void)
{
	const char *in = "{\"model\":\"fast\",\"messages\":[{\"role\":\"system\",\"content\":\"Be "
			 "brief.\"},{\"role\":\"user\",\"content\":\"Hello\"},{\"role\":"
			 "\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]},{\"role\":"
			 "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Sum up\"}]},{\"role\":"
			 "\"user\",\"content\":\"please\"}],\"max_completion_tokens\":50,"
			 "\"temperature\":1.5,\"top_p\":0.5,\"stop\":\"END\",\"seed\":7,\"stream\":"
			 "true,\"stream_options\":{\"include_usage\":true},\"user\":\"u1\"}";
	struct translate_req r;
	char *out = to_gemini(OPENAI, in, &r);

	ASSERT_STREQ(out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"}]},"
			  "{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]},{\"role\":\"user\","
			  "\"parts\":[{\"text\":\"Sum up\"},{\"text\":\"please\"}]}],"
			  "\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"}]},"
			  "\"generationConfig\":{\"temperature\":1.5,\"topP\":0.5,\"stopSequences\":"
			  "[\"END\"],\"seed\":7,\"maxOutputTokens\":50}}");
	ASSERT_TRUE(r.stream && r.include_usage);
	ASSERT_CONTAINS(r.notes, "user dropped");
	free(out);
}

static int refused(enum translate_api app, const char *json, const char *field)
{
	struct translate_req r;
	int rc = translate_request_to(app, GEMINI, json, strlen(json), "m", 0, &r);

	if (rc != -EOPNOTSUPP || !strstr(r.error, field) || !strstr(r.error, "Gemini")) {
		fprintf(stderr, "  refusal of %s: rc %d, error \"%s\"\n", field, rc, r.error);
		return 0;
	}
	return r.body == NULL;
}

#define USER "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]"

/* A tool choice with no function to choose from (no tools, or an empty list): one that forces
 * a call (Gemini's mode ANY: Gemini refuses a function calling config without declarations) is
 * refused as invalid, naming it; auto and none are dropped, noted: no toolConfig is sent. */
static void test_tool_choice_without_tools(void)
{
	static const struct {
		enum translate_api app;
		const char *head, *choice;
		int forces;
	} cases[] = {
	    {OPENAI, USER, "\"required\"", 1},
	    {OPENAI, USER,
	     "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}", 1},
	    {OPENAI, USER, "\"auto\"", 0},
	    {OPENAI, USER, "\"none\"", 0},
	    {ANTHROPIC, "\"max_tokens\":9," USER, "{\"type\":\"any\"}", 1},
	    {ANTHROPIC, "\"max_tokens\":9," USER,
	     "{\"type\":\"tool\",\"name\":\"f\"}", 1},
	    {ANTHROPIC, "\"max_tokens\":9," USER, "{\"type\":\"auto\"}", 0},
	};
	static const char *const tools[] = {"", ",\"tools\":[]"};
	struct translate_req r;
	char in[512];
	int rc;

	for (size_t t = 0; t < 2; t++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			snprintf(in, sizeof(in), "{%s,\"tool_choice\":%s%s}", cases[i].head,
				 cases[i].choice, tools[t]);
			rc = translate_request_to(cases[i].app, GEMINI, in, strlen(in), "m", 0, &r);
			if (cases[i].forces) {
				ASSERT_EQ(rc, -EINVAL);
				ASSERT_CONTAINS(r.error, "tool_choice: a tool must be called");
				continue;
			}
			ASSERT_EQ(rc, 0);
			ASSERT_TRUE(!strstr(r.body, "toolConfig") && !strstr(r.body, "tools"));
			ASSERT_CONTAINS(r.notes, "tool_choice without tools dropped");
			translate_req_release(&r);
		}
	}
}

static void test_openai_refusals(void)
{
	struct translate_req r;

	ASSERT_TRUE(refused(OPENAI, "{" USER ",\"n\":2}", "n other than 1"));
	ASSERT_TRUE(refused(OPENAI, "{" USER ",\"logprobs\":true}", "logprobs"));
	ASSERT_TRUE(refused(OPENAI, "{" USER ",\"reasoning_effort\":\"low\"}", "reasoning_effort"));
	ASSERT_TRUE(refused(OPENAI, "{" USER ",\"top_k\":3}", "top_k")); /* OpenAI has none */
	ASSERT_TRUE(refused(OPENAI,
			    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
			    "\"image_url\":{\"url\":\"https://x/a.png\"}}]}]}",
			    "messages[0].content[0]"));
	ASSERT_TRUE(refused(OPENAI,
			    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":"
			    "\"assistant\",\"content\":\"Hel\"}]}",
			    "final assistant"));
	ASSERT_EQ(translate_request_to(GEMINI, GEMINI, "{}", 2, "m", 0, &r), -EOPNOTSUPP);
	ASSERT_CONTAINS(r.error, "Gemini requests are not translated to Gemini");
	ASSERT_TRUE(refused(OPENAI, "{\"messages\":[{\"role\":\"user\",\"name\":\"x\",\"content\":"
			    "\"Hi\"}]}",
			    "messages[0].name"));
}

static void test_anthropic_request(void)
{
	const char *in = "{\"model\":\"careful\",\"max_tokens\":300,\"system\":\"Be brief.\","
			 "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
			 "\"stop_sequences\":[\"END\"],\"stream\":true}";
	struct translate_req r;
	char *out = to_gemini(ANTHROPIC, in, &r);

	ASSERT_STREQ(out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"}]}],"
			  "\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"}]},"
			  "\"generationConfig\":{\"stopSequences\":[\"END\"],"
			  "\"maxOutputTokens\":300}}");
	ASSERT_TRUE(r.stream && !r.include_usage);
	free(out);
	out = to_gemini(ANTHROPIC,
			"{\"max_tokens\":5,\"top_k\":3,\"top_p\":0.5,\"messages\":[{\"role\":"
			"\"user\",\"content\":\"Hi\"}]}",
			&r);
	ASSERT_STREQ(out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
			  "\"generationConfig\":{\"topK\":3,\"topP\":0.5,\"maxOutputTokens\":5}}");
	free(out);
	out = to_gemini(ANTHROPIC,
			"{\"max_tokens\":5,\"top_k\":-1,\"messages\":[{\"role\":\"user\","
			"\"content\":\"Hi\"}]}",
			&r);
	ASSERT_STREQ(out, "");
	ASSERT_CONTAINS(r.error, "top_k: expected a non-negative integer");
	free(out);
}

/* JSON mode: json_object -> responseMimeType; json_schema -> and responseJsonSchema, the
 * schema as it came; what Gemini's schema would not hold is refused, naming it. */
static void test_openai_json_mode(void)
{
	struct translate_req r;
	char *out = to_gemini(OPENAI, "{" USER ",\"response_format\":{\"type\":\"json_object\"}}",
			      &r);

	ASSERT_STREQ(out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
			  "\"generationConfig\":{\"responseMimeType\":\"application/json\"}}");
	free(out);
	out = to_gemini(OPENAI,
			"{" USER ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
			"{\"name\":\"t\",\"strict\":true,\"schema\":{\"type\":\"object\","
			"\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]},\"b\":{\"anyOf\":"
			"[{\"$ref\":\"#/$defs/n\"}]}},\"required\":[\"a\",\"b\"],"
			"\"additionalProperties\":false,\"$defs\":{\"n\":{\"type\":\"integer\","
			"\"minimum\":0}}}}}}",
			&r);
	ASSERT_STREQ(out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
			  "\"generationConfig\":{\"responseMimeType\":\"application/json\","
			  "\"responseJsonSchema\":{\"type\":\"object\",\"properties\":{\"a\":{"
			  "\"type\":[\"string\",\"null\"]},\"b\":{\"anyOf\":[{\"$ref\":"
			  "\"#/$defs/n\"}]}},\"required\":[\"a\",\"b\"],\"additionalProperties\":"
			  "false,\"$defs\":{\"n\":{\"type\":\"integer\",\"minimum\":0}}}}}");
	ASSERT_CONTAINS(r.notes, "json_schema.name dropped");
	free(out);
	ASSERT_TRUE(refused(OPENAI,
			    "{" USER ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
			    "{\"name\":\"t\",\"schema\":{\"type\":\"object\",\"properties\":{"
			    "\"a\":{\"type\":\"string\",\"pattern\":\"^x\"}}}}}}",
			    "response_format.json_schema.schema.properties.a.pattern"));
	ASSERT_TRUE(refused(OPENAI,
			    "{" USER ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
			    "{\"name\":\"t\",\"schema\":{\"items\":{\"allOf\":[]}}}}}",
			    "response_format.json_schema.schema.items.allOf"));
	ASSERT_TRUE(refused(OPENAI,
			    "{" USER ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
			    "{\"name\":\"t\",\"description\":\"d\",\"schema\":{}}}}",
			    "response_format.json_schema.description"));
	out = to_gemini(OPENAI,
			"{" USER ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
			"{\"name\":\"t\"}}}",
			&r);
	ASSERT_STREQ(out, "");
	ASSERT_CONTAINS(r.error, "response_format.json_schema: expected an object with a schema");
	free(out);
	ASSERT_TRUE(refused(OPENAI, "{" USER ",\"response_format\":{\"type\":\"grammar\"}}",
			    "response_format"));
}

static cJSON *response(enum translate_api app, const char *in, int *rc, char *err)
{
	char *out = NULL;
	size_t len;
	cJSON *v;

	*rc = translate_response_from(app, GEMINI, in, strlen(in), NULL, &out, &len, err, 200);
	v = out ? cJSON_Parse(out) : NULL;
	free(out);
	return v;
}

static const char gemini_answer[] =
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"I weigh it.\",\"thought\":true},"
    "{\"text\":\"Spend rose \"},{\"text\":\"4%.\"}],\"role\":\"model\"},\"finishReason\":"
    "\"MAX_TOKENS\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":120,"
    "\"cachedContentTokenCount\":100,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":30,"
    "\"totalTokenCount\":154},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}";

/* A prompt Gemini's filters blocked: no candidate, the reason in promptFeedback. */
static const char blocked_prompt[] =
    "{\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":[{\"category\":"
    "\"HARM_CATEGORY_DANGEROUS_CONTENT\",\"probability\":\"HIGH\",\"blocked\":true}]},"
    "\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9},\"modelVersion\":"
    "\"gemini-2.5-flash\",\"responseId\":\"r2\"}";

static void test_response_to_openai(void)
{
	char err[200];
	int rc;
	cJSON *v = response(OPENAI, gemini_answer, &rc, err);
	const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "choices"), 0);
	const cJSON *u = cJSON_GetObjectItem(v, "usage");

	ASSERT_OK(rc);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(v, "object")), "chat.completion");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(v, "model")), "gemini-2.5-flash");
	ASSERT_STREQ(cJSON_GetStringValue(
			 cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "content")),
		     "Spend rose 4%.");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(ch, "finish_reason")), "length");
	ASSERT_EQ(cJSON_GetObjectItem(u, "prompt_tokens")->valuedouble, 120);
	ASSERT_EQ(cJSON_GetObjectItem(u, "completion_tokens")->valuedouble, 34);
	ASSERT_EQ(cJSON_GetObjectItem(u, "total_tokens")->valuedouble, 154);
	ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(u, "prompt_tokens_details"),
				      "cached_tokens")
		      ->valuedouble,
		  100);
	cJSON_Delete(v);
	v = response(OPENAI,
		     "{\"candidates\":[{\"content\":{\"parts\":[{\"executableCode\":{\"code\":"
		     "\"1\"}}]},\"finishReason\":\"STOP\"}]}",
		     &rc, err);
	ASSERT_EQ(rc, -EOPNOTSUPP);
	ASSERT_CONTAINS(err, "parts[0]");
	cJSON_Delete(v);
	v = response(OPENAI, "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}", &rc, err);
	ASSERT_OK(rc);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetArrayItem(cJSON_GetObjectItem(v, "choices"), 0), "finish_reason")),
		     "content_filter");
	cJSON_Delete(v);
}

static void test_response_to_anthropic(void)
{
	char err[200];
	int rc;
	cJSON *v = response(ANTHROPIC, gemini_answer, &rc, err);
	const cJSON *u = cJSON_GetObjectItem(v, "usage");

	ASSERT_OK(rc);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(v, "type")), "message");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(v, "stop_reason")), "max_tokens");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetArrayItem(cJSON_GetObjectItem(v, "content"), 0), "text")),
		     "Spend rose 4%.");
	ASSERT_EQ(cJSON_GetObjectItem(u, "input_tokens")->valuedouble, 20);
	ASSERT_EQ(cJSON_GetObjectItem(u, "cache_read_input_tokens")->valuedouble, 100);
	ASSERT_EQ(cJSON_GetObjectItem(u, "output_tokens")->valuedouble, 34);
	cJSON_Delete(v);
	v = response(ANTHROPIC, blocked_prompt, &rc, err);
	ASSERT_OK(rc);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(v, "stop_reason")), "refusal");
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(v, "content")), 0);
	ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "usage"), "input_tokens")->valuedouble,
		  9);
	cJSON_Delete(v);
}

static const char *const gemini_stream[] = {
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Spend \"}],\"role\":\"model\"},"
    "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":1},"
    "\"modelVersion\":\"gemini-2.5-flash\"}",
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"plan\",\"thought\":true},{\"text\":"
    "\"rose\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":"
    "{\"promptTokenCount\":12,\"candidatesTokenCount\":2,\"thoughtsTokenCount\":5},"
    "\"modelVersion\":\"gemini-2.5-flash\"}",
};

static void feed_all(struct translate_stream *s, struct translate_buf *out)
{
	for (size_t i = 0; i < sizeof(gemini_stream) / sizeof(gemini_stream[0]); i++)
		ASSERT_OK(translate_stream_feed(s, NULL, gemini_stream[i],
						strlen(gemini_stream[i]), out));
	ASSERT_OK(translate_stream_finish(s, out));
	ASSERT_TRUE(translate_stream_ended(s));
}

static void test_stream_to_openai(void)
{
	struct translate_stream *s = translate_stream_new_from(OPENAI, GEMINI, 1, NULL);
	struct translate_buf out = {0};
	const char *usage;

	feed_all(s, &out);
	ASSERT_CONTAINS(out.data, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}");
	ASSERT_CONTAINS(out.data, "\"delta\":{\"content\":\"Spend \"}");
	ASSERT_CONTAINS(out.data, "\"delta\":{\"content\":\"rose\"}");
	ASSERT_TRUE(!strstr(out.data, "plan"));
	ASSERT_CONTAINS(out.data, "\"model\":\"gemini-2.5-flash\"");
	ASSERT_CONTAINS(out.data, "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"");
	usage = strstr(out.data, "\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
				 "\"completion_tokens\":7,\"total_tokens\":19");
	ASSERT_TRUE(usage);
	ASSERT_TRUE(strlen(out.data) > 15 &&
		    !strcmp(out.data + strlen(out.data) - 14, "data: [DONE]\n\n"));
	translate_stream_free(s);
	translate_buf_free(&out);
}

static void test_stream_to_anthropic(void)
{
	struct translate_stream *s = translate_stream_new_from(ANTHROPIC, GEMINI, 0, NULL);
	struct translate_buf out = {0};
	const char *order[] = {"event: message_start", "event: content_block_start",
			       "\"text\":\"Spend \"", "\"text\":\"rose\"", "event: content_block_stop",
			       "\"stop_reason\":\"end_turn\"", "\"output_tokens\":7",
			       "event: message_stop"};
	const char *p;

	feed_all(s, &out);
	p = out.data;
	for (size_t i = 0; p && i < sizeof(order) / sizeof(order[0]); i++)
		p = strstr(p, order[i]);
	ASSERT_TRUE(p);
	ASSERT_CONTAINS(out.data, "\"input_tokens\":12");
	translate_stream_free(s);
	translate_buf_free(&out);
}

/* A blocked prompt's one chunk (no candidate) ends the stream as filtered content, with the
 * prompt's usage; an answer blocked (finishReason SAFETY, no content) the same way. */
static void test_stream_blocked(void)
{
	static const char filtered[] = "{\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0}],"
				       "\"usageMetadata\":{\"promptTokenCount\":9}}";
	struct translate_stream *s = translate_stream_new_from(OPENAI, GEMINI, 1, NULL);
	struct translate_buf out = {0};
	const char *order[] = {"event: message_start", "\"stop_reason\":\"refusal\"",
			       "\"input_tokens\":9", "event: message_stop"};
	const char *p;

	ASSERT_OK(translate_stream_feed(s, NULL, blocked_prompt, strlen(blocked_prompt), &out));
	ASSERT_OK(translate_stream_finish(s, &out));
	ASSERT_CONTAINS(out.data, "\"delta\":{},\"logprobs\":null,\"finish_reason\":"
				  "\"content_filter\"");
	ASSERT_CONTAINS(out.data, "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":0");
	ASSERT_TRUE(!strcmp(out.data + strlen(out.data) - 14, "data: [DONE]\n\n"));
	translate_stream_free(s);
	translate_buf_free(&out);

	s = translate_stream_new_from(ANTHROPIC, GEMINI, 0, NULL);
	ASSERT_OK(translate_stream_feed(s, NULL, blocked_prompt, strlen(blocked_prompt), &out));
	ASSERT_OK(translate_stream_finish(s, &out));
	p = out.data;
	for (size_t i = 0; p && i < sizeof(order) / sizeof(order[0]); i++)
		p = strstr(p, order[i]);
	ASSERT_TRUE(p);
	ASSERT_TRUE(!strstr(out.data, "event: error") && !strstr(out.data, "content_block_start"));
	translate_stream_free(s);
	translate_buf_free(&out);

	s = translate_stream_new_from(OPENAI, GEMINI, 0, NULL);
	ASSERT_OK(translate_stream_feed(s, NULL, filtered, strlen(filtered), &out));
	ASSERT_OK(translate_stream_finish(s, &out));
	ASSERT_CONTAINS(out.data, "\"finish_reason\":\"content_filter\"");
	translate_stream_free(s);
	translate_buf_free(&out);
}

static void test_stream_errors(void)
{
	struct translate_stream *s = translate_stream_new_from(OPENAI, GEMINI, 0, NULL);
	struct translate_buf out = {0};
	const char *err = "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":"
			  "\"RESOURCE_EXHAUSTED\"}}";

	ASSERT_OK(translate_stream_feed(s, NULL, gemini_stream[0], strlen(gemini_stream[0]),
					&out));
	ASSERT_OK(translate_stream_feed(s, NULL, err, strlen(err), &out));
	ASSERT_TRUE(translate_stream_ended(s));
	ASSERT_CONTAINS(out.data, "data: {\"error\":{\"message\":\"Quota exceeded\"");
	ASSERT_TRUE(!strstr(out.data, "[DONE]"));
	translate_stream_free(s);
	translate_buf_free(&out);

	s = translate_stream_new_from(OPENAI, GEMINI, 0, NULL);
	ASSERT_EQ(translate_stream_feed(s, NULL, "[1,2]", 5, &out), -EPROTO);
	ASSERT_CONTAINS(out.data, "server_error");
	translate_stream_free(s);
	translate_buf_free(&out);

	s = translate_stream_new_from(ANTHROPIC, GEMINI, 0, NULL);
	ASSERT_OK(translate_stream_feed(s, NULL, gemini_stream[0], strlen(gemini_stream[0]),
					&out));
	ASSERT_EQ(translate_stream_finish(s, &out), -EPROTO); /* no finishReason came */
	ASSERT_CONTAINS(out.data, "event: error");
	translate_stream_free(s);
	translate_buf_free(&out);
}

/* Where a translated call goes: the model in the path, the host's root for the "/v1" one. */
static void test_call_path(void)
{
	char buf[128];

	ASSERT_OK(gemini_call_path("/v1", "gemini-2.5-flash", 0, buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/v1beta/models/gemini-2.5-flash:generateContent");
	ASSERT_OK(gemini_call_path("/v1", "gemini-2.5-flash", 1, buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
	ASSERT_OK(gemini_call_path("/relay/v1", "gemini-2.5-pro", 0, buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/relay/v1beta/models/gemini-2.5-pro:generateContent");
	ASSERT_EQ(gemini_call_path("/v1", "../tunedModels/x", 0, buf, sizeof(buf)), -EINVAL);
	ASSERT_EQ(gemini_call_path("/v1", "m:countTokens", 0, buf, sizeof(buf)), -EINVAL);
	ASSERT_EQ(gemini_call_path("/v1", "a%2fb", 0, buf, sizeof(buf)), -EINVAL);
	ASSERT_EQ(gemini_call_path("/v1", "gemini-2.5-flash", 0, buf, 20), -ENOSPC);
}

/* ---- function calling ---- */

#define TOOLS                                                                                      \
	"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":" \
	"\"Weather of a city\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"        \
	"\"type\":\"string\"}},\"required\":[\"city\"],\"additionalProperties\":false}}}]"

/* tools, tool_choice, an assistant's tool calls and the tool's results reach Gemini as
 * functionDeclarations, toolConfig, functionCall and functionResponse parts. */
static void test_openai_tools_request(void)
{
	const char *in =
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},{\"role\":\"assistant\","
	    "\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
	    "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":"
	    "\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":"
	    "\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"temp\\\":"
	    "21}\"},{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"noon\"}]," TOOLS
	    ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
	    "\"parallel_tool_calls\":true}";
	struct translate_req r;
	char *out = to_gemini(OPENAI, in, &r);

	ASSERT_STREQ(out,
		     "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Weather?\"}]},{\"role\":"
		     "\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_weather\",\"args\":{"
		     "\"city\":\"Paris\"}}},{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}]},"
		     "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_weather\","
		     "\"response\":{\"temp\":21}}},{\"functionResponse\":{\"name\":\"get_time\","
		     "\"response\":{\"output\":\"noon\"}}}]}],\"tools\":[{\"functionDeclarations\":[{"
		     "\"name\":\"get_weather\",\"description\":\"Weather of a city\","
		     "\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
		     "\"string\"}},\"required\":[\"city\"],\"additionalProperties\":false}}]}],"
		     "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
		     "\"allowedFunctionNames\":[\"get_weather\"]}}}");
	free(out);
	out = to_gemini(OPENAI, "{" USER "," TOOLS ",\"tool_choice\":\"required\"}", &r);
	ASSERT_CONTAINS(out, "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\"}}");
	free(out);
	out = to_gemini(OPENAI, "{" USER "," TOOLS ",\"tool_choice\":\"none\"}", &r);
	ASSERT_CONTAINS(out, "\"functionCallingConfig\":{\"mode\":\"NONE\"}");
	free(out);
}

/* An Anthropic app's tools, tool_use and tool_result blocks, through OpenAI's form. */
static void test_anthropic_tools_request(void)
{
	const char *in =
	    "{\"max_tokens\":50,\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":"
	    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}],\"tool_choice\":{"
	    "\"type\":\"auto\"},\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},{\"role\":"
	    "\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":"
	    "\"get_weather\",\"input\":{\"city\":\"Oslo\"}}]},{\"role\":\"user\",\"content\":[{"
	    "\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"cold\"}]}]}";
	struct translate_req r;
	char *out = to_gemini(ANTHROPIC, in, &r);

	ASSERT_STREQ(out,
		     "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Weather?\"}]},{\"role\":"
		     "\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_weather\",\"args\":{"
		     "\"city\":\"Oslo\"}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{"
		     "\"name\":\"get_weather\",\"response\":{\"output\":\"cold\"}}}]}],\"tools\":[{"
		     "\"functionDeclarations\":[{\"name\":\"get_weather\",\"parametersJsonSchema\":{"
		     "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}]}],"
		     "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"AUTO\"}},"
		     "\"generationConfig\":{\"maxOutputTokens\":50}}");
	free(out);
}

/* What Gemini's function calling cannot say is refused, naming the member. */
static void test_tools_refusals(void)
{
	ASSERT_TRUE(refused(OPENAI, "{" USER "," TOOLS ",\"parallel_tool_calls\":false}",
			    "parallel_tool_calls"));
	ASSERT_TRUE(refused(OPENAI,
			    "{" USER ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
			    "\"f\",\"strict\":true}}]}",
			    "tools[0].function.strict"));
	ASSERT_TRUE(refused(OPENAI, "{" USER ",\"tools\":[{\"type\":\"custom\",\"custom\":{}}]}",
			    "tools[0]"));
	ASSERT_TRUE(refused(OPENAI,
			    "{" USER ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
			    "\"f\",\"parameters\":{\"type\":\"string\",\"pattern\":\"a+\"}}}]}",
			    "tools[0].function.parameters.pattern"));
	ASSERT_TRUE(refused(OPENAI,
			    "{" USER "," TOOLS ",\"tool_choice\":{\"type\":\"allowed_tools\","
			    "\"allowed_tools\":{}}}",
			    "tool_choice"));
	ASSERT_TRUE(refused(ANTHROPIC,
			    "{\"max_tokens\":5,\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
			    "\"tool_choice\":{\"type\":\"auto\",\"disable_parallel_tool_use\":true},"
			    "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
			    "parallel_tool_calls"));
}

static const char gemini_call_answer[] =
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Checking.\"},{\"functionCall\":{"
    "\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"c2ln\"},{"
    "\"functionCall\":{\"name\":\"get_time\"}}],\"role\":\"model\"},\"finishReason\":\"STOP\"}],"
    "\"usageMetadata\":{\"promptTokenCount\":30,\"candidatesTokenCount\":12},"
    "\"modelVersion\":\"gemini-2.5-flash\"}";

/* functionCall parts become OpenAI tool_calls (new ids, arguments as JSON text) and Anthropic
 * tool_use blocks; STOP after a call is tool_calls / tool_use. */
static void test_tool_call_answers(void)
{
	char err[200];
	int rc;
	cJSON *v = response(OPENAI, gemini_call_answer, &rc, err);
	const cJSON *msg = cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(v, "choices"), 0), "message");
	const cJSON *calls = cJSON_GetObjectItem(msg, "tool_calls"), *c0, *b;

	ASSERT_OK(rc);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content")), "Checking.");
	ASSERT_EQ(cJSON_GetArraySize(calls), 2);
	c0 = cJSON_GetArrayItem(calls, 0);
	ASSERT_TRUE(!strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "id")), "call_", 5));
	/* the call's thoughtSignature "c2ln" rides in its id (test_signature_round_trip) */
	ASSERT_EQ(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "id"))), 29 + 11 + 4);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "id")) + 29, "__thought__c2ln");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "type")), "function");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetObjectItem(c0, "function"), "arguments")),
		     "{\"city\":\"Paris\"}");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 1), "function"),
			 "arguments")),
		     "{}");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetArrayItem(cJSON_GetObjectItem(v, "choices"), 0), "finish_reason")),
		     "tool_calls");
	ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "usage"), "completion_tokens")
		      ->valuedouble,
		  12);
	cJSON_Delete(v);
	v = response(ANTHROPIC, gemini_call_answer, &rc, err);
	ASSERT_OK(rc);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(v, "stop_reason")), "tool_use");
	b = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "content"), 1);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(b, "type")), "tool_use");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(b, "name")), "get_weather");
	ASSERT_STREQ(cJSON_GetStringValue(
			 cJSON_GetObjectItem(cJSON_GetObjectItem(b, "input"), "city")),
		     "Paris");
	ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "usage"), "input_tokens")->valuedouble,
		  30);
	cJSON_Delete(v);
	v = response(OPENAI,
		     "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"args\":{}}}]},"
		     "\"finishReason\":\"STOP\"}]}",
		     &rc, err);
	ASSERT_EQ(rc, -EINVAL);
	ASSERT_CONTAINS(err, "parts[0].functionCall");
	cJSON_Delete(v);
}

static const char *const gemini_call_stream[] = {
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Checking.\"}],\"role\":\"model\"}}],"
    "\"usageMetadata\":{\"promptTokenCount\":30,\"candidatesTokenCount\":2},"
    "\"modelVersion\":\"gemini-2.5-flash\"}",
    "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"get_weather\","
    "\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"c2ln\"}],\"role\":\"model\"},"
    "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":30,"
    "\"candidatesTokenCount\":12},\"modelVersion\":\"gemini-2.5-flash\"}",
};

static void feed_calls(struct translate_stream *s, struct translate_buf *out)
{
	for (size_t i = 0; i < sizeof(gemini_call_stream) / sizeof(gemini_call_stream[0]); i++)
		ASSERT_OK(translate_stream_feed(s, NULL, gemini_call_stream[i],
						strlen(gemini_call_stream[i]), out));
	ASSERT_OK(translate_stream_finish(s, out));
	ASSERT_TRUE(translate_stream_ended(s));
}

/* Streamed, a functionCall part is one whole tool_calls delta (OpenAI) or a tool_use block
 * with its input (Anthropic); the finish is tool_calls / tool_use, the usage exact. */
static void test_tool_call_streams(void)
{
	struct translate_stream *s = translate_stream_new_from(OPENAI, GEMINI, 1, NULL);
	const char *order[] = {"event: message_start", "\"text\":\"Checking.\"",
			       "event: content_block_stop", "\"type\":\"tool_use\",\"id\":\"call_",
			       "\"name\":\"get_weather\"",
			       "\"partial_json\":\"{\\\"city\\\":\\\"Paris\\\"}\"",
			       "\"stop_reason\":\"tool_use\"", "\"output_tokens\":12",
			       "event: message_stop"};
	struct translate_buf out = {0};
	const char *p;

	feed_calls(s, &out);
	ASSERT_CONTAINS(out.data, "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_");
	ASSERT_CONTAINS(out.data, "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
				  "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}");
	ASSERT_CONTAINS(out.data, "\"finish_reason\":\"tool_calls\"");
	ASSERT_CONTAINS(out.data, "\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":12");
	translate_stream_free(s);
	translate_buf_free(&out);
	s = translate_stream_new_from(ANTHROPIC, GEMINI, 0, NULL);
	feed_calls(s, &out);
	p = out.data;
	for (size_t i = 0; p && i < sizeof(order) / sizeof(order[0]); i++)
		p = strstr(p, order[i]);
	if (!p)
		fprintf(stderr, "  stream: %s\n", out.data);
	ASSERT_TRUE(p);
	translate_stream_free(s);
	translate_buf_free(&out);
}

/* A hostile request with more tool calls in one message than a bound: refused before any
 * matching work (tool results are matched against that message's calls). */
static void test_tool_calls_bounded(void)
{
	static const char head[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":"
				   "\"assistant\",\"tool_calls\":[";
	static const char tail[] = "]},{\"role\":\"tool\",\"tool_call_id\":\"c0\",\"content\":"
				   "\"1\"}]}";
	char *b = calloc(1, 32768), call[96];
	struct translate_req r;

	ASSERT_TRUE(b);
	strcpy(b, head);
	for (int i = 0; i < 129; i++) {
		int n = snprintf(call, sizeof(call),
				 "%s{\"id\":\"c%d\",\"type\":\"function\",\"function\":{\"name\":"
				 "\"f\",\"arguments\":\"{}\"}}",
				 i ? "," : "", i);
		ASSERT_TRUE(n > 0);
		strcat(b, call);
	}
	strcat(b, tail);
	ASSERT_EQ(translate_request_to(OPENAI, GEMINI, b, strlen(b), "m", 0, &r), -EINVAL);
	ASSERT_CONTAINS(r.error, "at most 128");
	free(b);
}

/* A Gemini answer whose call carries signature SIG (JSON text, as Gemini writes it). */
static char *signed_answer(const char *sig)
{
	static const char fmt[] =
	    "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"get_weather\","
	    "\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"%s\"}],\"role\":\"model\"},"
	    "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,"
	    "\"candidatesTokenCount\":2},\"modelVersion\":\"gemini-3.1-pro-preview\"}";
	size_t n = sizeof(fmt) + strlen(sig);
	char *b = malloc(n);

	if (b)
		snprintf(b, n, fmt, sig);
	return b;
}

/* The OpenAI app's next turn, echoing the call ID it got, translated for Gemini: the model
 * turn's functionCall part as text ("" when refused: R.error says why). */
static char *openai_next_turn(const char *id, struct translate_req *r)
{
	static const char fmt[] =
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},"
	    "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\","
	    "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}"
	    "}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"sunny\"}]}";
	size_t n = sizeof(fmt) + 2 * strlen(id);
	char *b = malloc(n), *out;
	cJSON *v, *part;

	if (!b)
		return NULL;
	snprintf(b, n, fmt, id, id);
	out = to_gemini(OPENAI, b, r);
	free(b);
	v = cJSON_Parse(out);
	part = cJSON_GetArrayItem(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "contents"), 1), "parts"),
	    0);
	free(out);
	out = part ? cJSON_PrintUnformatted(part) : strdup("");
	cJSON_Delete(v);
	return out;
}

/* The id of the first tool call of OpenAI answer V, or NULL. */
static const char *first_call_id(const cJSON *v)
{
	const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "choices"), 0);
	const cJSON *calls =
	    cJSON_GetObjectItem(cJSON_GetObjectItem(choice, "message"), "tool_calls");

	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 0), "id"));
}

/* The signature of a call (standard base64, '+', '/' and padding included) reaches an OpenAI
 * app in the call's id, whole and streamed, and an Anthropic app in its tool_use id; the next
 * turn, echoing the id, gives Gemini the very signature back on the functionCall part. */
static void test_signature_round_trip(void)
{
	static const char sig[] = "++//bW9jay1zaWc+/w==";
	static const char part[] = "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":"
				   "\"Paris\"}},\"thoughtSignature\":\"++//bW9jay1zaWc+/w==\"}";
	char err[200], *answer = signed_answer(sig), *next, id[128];
	struct translate_stream *s = translate_stream_new_from(OPENAI, GEMINI, 1, NULL);
	struct translate_buf out = {0};
	struct translate_req r;
	const char *p;
	int rc;
	cJSON *v = response(OPENAI, answer, &rc, err);
	const char *got = first_call_id(v);

	ASSERT_OK(rc);
	ASSERT_TRUE(got && strlen(got) < sizeof(id));
	ASSERT_STREQ(got + 29, "__thought__--__bW9jay1zaWc-_w");
	snprintf(id, sizeof(id), "%s", got);
	cJSON_Delete(v);
	next = openai_next_turn(id, &r);
	ASSERT_STREQ(next, part);
	free(next);
	/* Anthropic: the tool_use block's id */
	v = response(ANTHROPIC, answer, &rc, err);
	ASSERT_OK(rc);
	got = cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "content"), 0), "id"));
	ASSERT_STREQ(got ? got + 29 : NULL, "__thought__--__bW9jay1zaWc-_w");
	cJSON_Delete(v);
	/* streamed: the tool_calls delta's id */
	ASSERT_OK(translate_stream_feed(s, NULL, answer, strlen(answer), &out));
	ASSERT_OK(translate_stream_finish(s, &out));
	p = strstr(out.data, "\"id\":\"call_");
	ASSERT_TRUE(p && !strncmp(p + 6 + 29, "__thought__--__bW9jay1zaWc-_w\"", 30));
	memcpy(id, p + 6, 29 + 29);
	id[58] = '\0';
	next = openai_next_turn(id, &r);
	ASSERT_STREQ(next, part);
	free(next);
	translate_stream_free(s);
	translate_buf_free(&out);
	free(answer);
}

/* A signature Gemini would not get back exactly (no padding) does not ride: a plain id. */
static void test_signature_not_canonical(void)
{
	char err[200], *answer = signed_answer("c2l");
	int rc;
	cJSON *v = response(OPENAI, answer, &rc, err);
	const char *got = first_call_id(v);

	ASSERT_OK(rc);
	ASSERT_TRUE(got && !strncmp(got, "call_", 5));
	ASSERT_EQ(strlen(got), 29);
	cJSON_Delete(v);
	free(answer);
}

/* A hostile app's id: a "signature" past the bound, or with characters base64url has not, is
 * refused naming the id; nothing goes upstream. One of the bound's length rides. */
static void test_signature_bounded(void)
{
	size_t n = 5 + 11 + TRANSLATE_SIG_MAX + 1;
	char *id = malloc(n + 1), *next;
	struct translate_req r;

	ASSERT_TRUE(id);
	memcpy(id, "call_" TRANSLATE_SIG_MARK, 16);
	memset(id + 16, 'A', n - 16);
	id[n] = '\0';
	next = openai_next_turn(id, &r);
	ASSERT_STREQ(next, "");
	ASSERT_CONTAINS(r.error, "messages[1].tool_calls[0].id");
	ASSERT_CONTAINS(r.error, "at most 16384 characters");
	free(next);
	id[n - 1] = '\0'; /* exactly the bound */
	next = openai_next_turn(id, &r);
	ASSERT_CONTAINS(next, "\"thoughtSignature\":\"AAAA");
	free(next);
	next = openai_next_turn("call_x__thought__ab+c", &r);
	ASSERT_STREQ(next, "");
	ASSERT_CONTAINS(r.error, "tool_calls[0].id");
	free(next);
	free(id);
}

/* A tool call with empty arguments ("" is {}) keeps its id and name: Gemini gets the named
 * call, Anthropic a tool_use with both (they were left unset, read uninitialised). */
static void test_tool_call_empty_arguments(void)
{
	static const char in[] =
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":"
	    "\"assistant\",\"tool_calls\":[{\"id\":\"call_e\",\"type\":\"function\",\"function\":"
	    "{\"name\":\"get_time\",\"arguments\":\"\"}}]},{\"role\":\"tool\",\"tool_call_id\":"
	    "\"call_e\",\"content\":\"noon\"}]}";
	struct translate_req r;
	char *out = to_gemini(OPENAI, in, &r);

	ASSERT_CONTAINS(out, "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
			     "\"get_time\",\"args\":{}}}]}");
	free(out);
	ASSERT_OK(translate_request_to(OPENAI, ANTHROPIC, in, strlen(in), "claude", 0, &r));
	ASSERT_CONTAINS(r.body, "{\"type\":\"tool_use\",\"id\":\"call_e\",\"name\":\"get_time\","
				"\"input\":{}}");
	translate_req_release(&r);
}

/* Set: every growth of a translation buffer fails (the Makefile links this test with
 * --wrap=translate_buf_grow), as when memory runs out. */
static int grow_fails;
int __real_translate_buf_grow(struct translate_buf *b, size_t n);
int __wrap_translate_buf_grow(struct translate_buf *b, size_t n);

int __wrap_translate_buf_grow(struct translate_buf *b, size_t n)
{
	return grow_fails ? -ENOMEM : __real_translate_buf_grow(b, n);
}

/* An Anthropic app's stream from Gemini runs out of memory on its first chunk, before the
 * inner translator wrote anything: -ENOMEM, and no arithmetic on the empty buffer's NULL
 * (UBSan, which this test is built with, aborts on it). */
static void test_stream_first_chunk_out_of_memory(void)
{
	struct translate_stream *s = translate_stream_new_from(ANTHROPIC, GEMINI, 0, NULL);
	struct translate_buf out = {0};
	int rc;

	ASSERT_TRUE(s);
	grow_fails = 1;
	rc = translate_stream_feed(s, NULL, gemini_call_stream[0], strlen(gemini_call_stream[0]),
				   &out);
	grow_fails = 0;
	ASSERT_EQ(rc, -ENOMEM);
	translate_stream_free(s);
	translate_buf_free(&out);
}

UNIT_MAIN(UNIT_CASE(test_call_path), UNIT_CASE(test_openai_request), UNIT_CASE(test_openai_refusals),
	  UNIT_CASE(test_tool_choice_without_tools),
	  UNIT_CASE(test_anthropic_request), UNIT_CASE(test_response_to_openai),
	  UNIT_CASE(test_response_to_anthropic), UNIT_CASE(test_stream_to_openai),
	  UNIT_CASE(test_stream_to_anthropic), UNIT_CASE(test_stream_errors),
	  UNIT_CASE(test_openai_json_mode), UNIT_CASE(test_stream_blocked),
	  UNIT_CASE(test_openai_tools_request), UNIT_CASE(test_anthropic_tools_request),
	  UNIT_CASE(test_tools_refusals), UNIT_CASE(test_tool_call_answers),
	  UNIT_CASE(test_tool_call_streams), UNIT_CASE(test_tool_calls_bounded),
	  UNIT_CASE(test_signature_round_trip), UNIT_CASE(test_signature_not_canonical),
	  UNIT_CASE(test_signature_bounded), UNIT_CASE(test_stream_first_chunk_out_of_memory),
	  UNIT_CASE(test_tool_call_empty_arguments))
