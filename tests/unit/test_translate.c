/*
 * test_translate.c: OpenAI chat <-> Anthropic messages translation. Requests both ways with
 * bodies shaped like the providers' documented examples, round trips, refusals that name the
 * field, whole responses, error bodies, and both streaming state machines fed real-looking
 * streams whose output must parse, concatenate to the right text and tool calls, and keep a
 * valid event order (message_start first, [DONE] / message_stop last).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>

#include "providers/translate.h"
#include "unit.h"

#define OPENAI TRANSLATE_OPENAI_CHAT
#define ANTHROPIC TRANSLATE_ANTHROPIC_MESSAGES

static const cJSON *at(const cJSON *o, const char *path)
{
	char key[64];
	const char *p = path, *end;
	size_t n;

	while (o && *p) {
		end = p + strcspn(p, ".");
		n = (size_t)(end - p) < sizeof(key) - 1 ? (size_t)(end - p) : sizeof(key) - 1;
		memcpy(key, p, n);
		key[n] = '\0';
		if (key[0] >= '0' && key[0] <= '9')
			o = cJSON_GetArrayItem(o, atoi(key));
		else
			o = cJSON_GetObjectItemCaseSensitive(o, key);
		p = *end ? end + 1 : end;
	}
	return o;
}

static const char *str_at(const cJSON *o, const char *path)
{
	return cJSON_GetStringValue(at(o, path));
}

static double num_at(const cJSON *o, const char *path)
{
	const cJSON *v = at(o, path);

	return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

/* Translates JSON written for APP; returns the parsed result (NULL on failure: R says why). */
static cJSON *translate(enum translate_api app, const char *json, struct translate_req *r)
{
	cJSON *v = NULL;

	if (translate_request(app, json, strlen(json),
			      app == OPENAI ? "claude-sonnet-4-5" : "gpt-4o", 0, r) == 0)
		v = cJSON_Parse(r->body);
	translate_req_release(r);
	return v;
}

static int refused(enum translate_api app, const char *json, const char *field)
{
	struct translate_req r;
	int rc = translate_request(app, json, strlen(json), "m", 0, &r);

	if (rc != -EOPNOTSUPP || !strstr(r.error, field)) {
		fprintf(stderr, "  refusal of %s: rc %d, error \"%s\"\n", field, rc, r.error);
		return 0;
	}
	return r.body == NULL;
}

/* ---- requests: OpenAI -> Anthropic ---- */

static void test_openai_request_basic(void)
{
	const char *in =
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"developer\",\"content\":\"You are a "
	    "helpful assistant.\"},{\"role\":\"user\",\"content\":\"Hello!\"}],\"temperature\":0.7,"
	    "\"top_p\":0.9,\"stop\":\"\\n\\n\",\"stream\":true,\"stream_options\":{\"include_"
	    "usage\""
	    ":true},\"user\":\"user-1234\",\"seed\":42}";
	struct translate_req r;
	cJSON *v = translate(OPENAI, in, &r);

	ASSERT_TRUE(v != NULL);
	ASSERT_STREQ(str_at(v, "model"), "claude-sonnet-4-5");
	ASSERT_STREQ(str_at(v, "system"), "You are a helpful assistant.");
	ASSERT_EQ(cJSON_GetArraySize(at(v, "messages")), 1);
	ASSERT_STREQ(str_at(v, "messages.0.role"), "user");
	ASSERT_STREQ(str_at(v, "messages.0.content"), "Hello!");
	ASSERT_EQ(num_at(v, "max_tokens"), TRANSLATE_DEFAULT_MAX_TOKENS);
	ASSERT_TRUE(num_at(v, "temperature") == 0.7);
	ASSERT_TRUE(num_at(v, "top_p") == 0.9);
	ASSERT_STREQ(str_at(v, "stop_sequences.0"), "\n\n");
	ASSERT_TRUE(cJSON_IsTrue(at(v, "stream")));
	ASSERT_TRUE(at(v, "stream_options") == NULL);
	ASSERT_STREQ(str_at(v, "metadata.user_id"), "user-1234");
	ASSERT_TRUE(at(v, "seed") == NULL);
	ASSERT_EQ(r.stream, 1);
	ASSERT_EQ(r.include_usage, 1);
	ASSERT_CONTAINS(r.notes, "max_tokens defaulted to 4096");
	ASSERT_CONTAINS(r.notes, "seed dropped");
	cJSON_Delete(v);
}

static void test_openai_request_system_joined(void)
{
	const char *in =
	    "{\"model\":\"gpt-4o\",\"max_completion_tokens\":300,\"max_tokens\":100,"
	    "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
	    "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use "
	    "metric units.\"}]},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"How far is Paris?\"}]},{\"role\":\"system\",\"content\":\"Late "
	    "rule.\"},{\"role\":\"user\",\"content\":\"From Lyon.\"}]}";
	struct translate_req r;
	cJSON *v = translate(OPENAI, in, &r);

	ASSERT_TRUE(v != NULL);
	ASSERT_EQ(num_at(v, "max_tokens"), 300);
	ASSERT_EQ(cJSON_GetArraySize(at(v, "system")), 3);
	ASSERT_STREQ(str_at(v, "system.0.text"), "Be brief.");
	ASSERT_STREQ(str_at(v, "system.1.text"), "Use metric units.");
	ASSERT_STREQ(str_at(v, "system.2.text"), "Late rule.");
	ASSERT_CONTAINS(r.notes, "moved to system");
	/* two user messages in a row: one turn */
	ASSERT_EQ(cJSON_GetArraySize(at(v, "messages")), 1);
	ASSERT_STREQ(str_at(v, "messages.0.content.0.text"), "How far is Paris?");
	ASSERT_STREQ(str_at(v, "messages.0.content.1.text"), "From Lyon.");
	cJSON_Delete(v);
}

static const char openai_tools_req[] =
    "{\"model\":\"gpt-4o\",\"max_completion_tokens\":1024,\"messages\":["
    "{\"role\":\"user\",\"content\":\"What's the weather like in Boston and Paris today?\"},"
    "{\"role\":\"assistant\",\"content\":null,\"refusal\":null,\"annotations\":[],"
    "\"tool_calls\":[{\"id\":\"call_abc123\",\"type\":\"function\",\"function\":{\"name\":"
    "\"get_current_weather\",\"arguments\":\"{\\\"location\\\":\\\"Boston, MA\\\"}\"}},"
    "{\"id\":\"call_def456\",\"type\":\"function\",\"function\":{\"name\":"
    "\"get_current_weather\",\"arguments\":\"{\\\"location\\\":\\\"Paris\\\",\\\"unit\\\":"
    "\\\"celsius\\\"}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_abc123\",\"content\":\"22 degrees, sunny\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_def456\",\"content\":[{\"type\":\"text\","
    "\"text\":\"18 degrees\"}]},"
    "{\"role\":\"user\",\"content\":\"Which one is warmer?\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_current_weather\","
    "\"description\":\"Get the current weather in a given location\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"location\":{\"type\":\"string\",\"description\":\"The city "
    "and state, e.g. San Francisco, CA\"},\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\","
    "\"fahrenheit\"]}},\"required\":[\"location\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}],"
    "\"tool_choice\":\"required\",\"parallel_tool_calls\":false}";

static void test_openai_request_tools(void)
{
	struct translate_req r;
	cJSON *v = translate(OPENAI, openai_tools_req, &r);
	const cJSON *m;

	ASSERT_TRUE(v != NULL);
	ASSERT_EQ(cJSON_GetArraySize(at(v, "messages")), 3);
	m = at(v, "messages.1");
	ASSERT_STREQ(str_at(m, "role"), "assistant");
	ASSERT_EQ(cJSON_GetArraySize(at(m, "content")), 2);
	ASSERT_STREQ(str_at(m, "content.0.type"), "tool_use");
	ASSERT_STREQ(str_at(m, "content.0.id"), "call_abc123");
	ASSERT_STREQ(str_at(m, "content.0.name"), "get_current_weather");
	ASSERT_STREQ(str_at(m, "content.0.input.location"), "Boston, MA");
	ASSERT_STREQ(str_at(m, "content.1.input.unit"), "celsius");
	/* both results and the next question: one user turn, results first */
	m = at(v, "messages.2");
	ASSERT_STREQ(str_at(m, "role"), "user");
	ASSERT_EQ(cJSON_GetArraySize(at(m, "content")), 3);
	ASSERT_STREQ(str_at(m, "content.0.type"), "tool_result");
	ASSERT_STREQ(str_at(m, "content.0.tool_use_id"), "call_abc123");
	ASSERT_STREQ(str_at(m, "content.0.content"), "22 degrees, sunny");
	ASSERT_STREQ(str_at(m, "content.1.tool_use_id"), "call_def456");
	ASSERT_STREQ(str_at(m, "content.1.content.0.text"), "18 degrees");
	ASSERT_STREQ(str_at(m, "content.2.text"), "Which one is warmer?");
	/* tools */
	ASSERT_STREQ(str_at(v, "tools.0.name"), "get_current_weather");
	ASSERT_STREQ(str_at(v, "tools.0.description"),
		     "Get the current weather in a given location");
	ASSERT_STREQ(str_at(v, "tools.0.input_schema.required.0"), "location");
	ASSERT_STREQ(str_at(v, "tools.1.input_schema.type"), "object");
	ASSERT_STREQ(str_at(v, "tool_choice.type"), "any");
	ASSERT_TRUE(cJSON_IsTrue(at(v, "tool_choice.disable_parallel_tool_use")));
	cJSON_Delete(v);
}

static void test_openai_request_tool_choice(void)
{
	static const struct {
		const char *choice, *type, *name;
	} cases[] = {
	    {"\"auto\"", "auto", NULL},
	    {"\"none\"", "none", NULL},
	    {"\"required\"", "any", NULL},
	    {"{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}", "tool", "get_time"},
	};
	char in[512];
	struct translate_req r;
	cJSON *v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in),
			 "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
			 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}],"
			 "\"tool_choice\":%s}",
			 cases[i].choice);
		v = translate(OPENAI, in, &r);
		ASSERT_TRUE(v != NULL);
		ASSERT_STREQ(str_at(v, "tool_choice.type"), cases[i].type);
		if (cases[i].name)
			ASSERT_STREQ(str_at(v, "tool_choice.name"), cases[i].name);
		cJSON_Delete(v);
	}
}

/* A tool choice that forces a call, in a request with no tools (none, or an empty list):
 * refused as invalid, naming it, as every provider refuses it; auto and none ask nothing the
 * request without them does not: dropped, noted, and no choice reaches the other API. */
static int invalid_without_tools(enum translate_api app, const char *json, const char *field)
{
	struct translate_req r;
	int rc = translate_request(app, json, strlen(json), "m", 0, &r);

	if (rc != -EINVAL || !strstr(r.error, field) || !strstr(r.error, "no tools") || r.body) {
		fprintf(stderr, "  %s: rc %d, error \"%s\"\n", json, rc, r.error);
		return 0;
	}
	return 1;
}

static void test_tool_choice_without_tools(void)
{
	static const char *const tools[] = {"", ",\"tools\":[]"};
	static const char *const openai_forced[] = {
	    "\"required\"", "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"};
	static const char *const anthropic_forced[] = {"{\"type\":\"any\"}",
						       "{\"type\":\"tool\",\"name\":\"f\"}"};
	static const char *const openai_free[] = {"\"auto\"", "\"none\""};
	static const char *const anthropic_free[] = {"{\"type\":\"auto\"}", "{\"type\":\"none\"}"};
	const char *o = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
	const char *a = "\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
	struct translate_req r;
	char in[512];
	cJSON *v;

	for (size_t t = 0; t < 2; t++) {
		for (size_t i = 0; i < 2; i++) {
			snprintf(in, sizeof(in), "{%s,\"tool_choice\":%s%s}", o, openai_forced[i], tools[t]);
			ASSERT_TRUE(invalid_without_tools(OPENAI, in, "tool_choice"));
			snprintf(in, sizeof(in), "{%s,\"tool_choice\":%s%s}", a, anthropic_forced[i], tools[t]);
			ASSERT_TRUE(invalid_without_tools(ANTHROPIC, in, "tool_choice"));
			snprintf(in, sizeof(in), "{%s,\"tool_choice\":%s%s}", o, openai_free[i], tools[t]);
			ASSERT_TRUE((v = translate(OPENAI, in, &r)) != NULL);
			ASSERT_TRUE(!at(v, "tool_choice") && !at(v, "tools"));
			ASSERT_CONTAINS(r.notes, "tool_choice without tools dropped");
			cJSON_Delete(v);
			snprintf(in, sizeof(in), "{%s,\"tool_choice\":%s%s}", a, anthropic_free[i], tools[t]);
			ASSERT_TRUE((v = translate(ANTHROPIC, in, &r)) != NULL);
			ASSERT_TRUE(!at(v, "tool_choice") && !at(v, "tools"));
			ASSERT_CONTAINS(r.notes, "tool_choice without tools dropped");
			cJSON_Delete(v);
		}
	}
	/* checked all the same: what it could not say is still refused */
	snprintf(in, sizeof(in), "{%s,\"tool_choice\":%s%s}", a, "{\"type\":\"auto\",\"x\":1}", "");
	ASSERT_EQ(translate_request(ANTHROPIC, in, strlen(in), "m", 0, &r), -EOPNOTSUPP);
}

static void test_openai_request_images(void)
{
	const char *in =
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"text\","
	    "\"text\":\"What's in these images?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
	    "\"data:image/jpeg;base64,/9j/4AAQSkZJRg==\"}},{\"type\":\"image_url\",\"image_url\":{"
	    "\"url\":\"https://upload.wikimedia.org/wikipedia/commons/a/a7/"
	    "Camponotus_flavomarginatus_"
	    "ant.jpg\",\"detail\":\"high\"}}]}]}";
	struct translate_req r;
	cJSON *v = translate(OPENAI, in, &r);

	ASSERT_TRUE(v != NULL);
	ASSERT_STREQ(str_at(v, "messages.0.content.1.type"), "image");
	ASSERT_STREQ(str_at(v, "messages.0.content.1.source.type"), "base64");
	ASSERT_STREQ(str_at(v, "messages.0.content.1.source.media_type"), "image/jpeg");
	ASSERT_STREQ(str_at(v, "messages.0.content.1.source.data"), "/9j/4AAQSkZJRg==");
	ASSERT_STREQ(str_at(v, "messages.0.content.2.source.type"), "url");
	ASSERT_CONTAINS(str_at(v, "messages.0.content.2.source.url"), "Camponotus");
	ASSERT_CONTAINS(r.notes, "detail dropped");
	cJSON_Delete(v);
	ASSERT_TRUE(
	    refused(OPENAI,
		    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		    "\"image_url\":{\"url\":\"data:image/bmp;base64,Qk0=\"}}]}]}",
		    "messages[0].content[0].image_url"));
}

static void test_openai_request_refusals(void)
{
#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"n\":2}", "n other than 1"));
	/* top_k rides in OpenAI's form only between Gemini and Anthropic, not from an OpenAI app */
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"top_k\":5}", "top_k has no Anthropic"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"logprobs\":true}", "logprobs"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"top_logprobs\":5}", "top_logprobs"));
	ASSERT_TRUE(refused(OPENAI,
			    "{" MSGS
			    ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\""
			    ":{\"name\":\"x\",\"schema\":{}}}}",
			    "response_format json_schema"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"response_format\":{\"type\":\"json_object\"}}",
			    "response_format json_object"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"audio\":{\"voice\":\"alloy\",\"format\":\"wav\"}}",
			    "audio"));
	ASSERT_TRUE(
	    refused(OPENAI, "{" MSGS ",\"reasoning_effort\":\"high\"}", "reasoning_effort"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"frequency_penalty\":0.5}", "frequency_penalty"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"logit_bias\":{\"50256\":-100}}", "logit_bias"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"temperature\":1.5}", "temperature"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"store\":true}", "store"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"some_new_field\":1}", "some_new_field"));
	ASSERT_TRUE(
	    refused(OPENAI,
		    "{\"messages\":[{\"role\":\"user\",\"name\":\"alice\",\"content\":\"hi\"}"
		    "]}",
		    "messages[0].name"));
	ASSERT_TRUE(
	    refused(OPENAI,
		    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\""
		    ",\"input_audio\":{\"data\":\"AAA\",\"format\":\"wav\"}}]}]}",
		    "messages[0].content[0]"));
	ASSERT_TRUE(refused(OPENAI,
			    "{" MSGS
			    ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
			    "\"strict\":true,\"parameters\":{\"type\":\"object\"}}}]}",
			    "tools[0].function.strict"));
	ASSERT_TRUE(refused(OPENAI,
			    "{\"messages\":[{\"role\":\"user\",\"content\":\"The answer is\"},{"
			    "\"role\":\"assistant\",\"content\":\"(\"}]}",
			    "messages[1]"));
	ASSERT_TRUE(refused(OPENAI, "{" MSGS ",\"functions\":[{\"name\":\"f\"}]}", "functions"));
#undef MSGS
}

static void test_openai_request_invalid(void)
{
	const char *bad_args =
	    "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
	    "\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\","
	    "\"arguments\":\"{oops\"}}]},{\"role\":\"user\",\"content\":\"x\"}]}";
	struct translate_req r;

	ASSERT_EQ(translate_request(OPENAI, "not json", 8, "m", 0, &r), -EBADMSG);
	ASSERT_TRUE(r.error[0] != '\0');
	ASSERT_EQ(translate_request(OPENAI, "{\"messages\":{}}", 15, "m", 0, &r), -EINVAL);
	ASSERT_CONTAINS(r.error, "messages");
	ASSERT_EQ(translate_request(OPENAI, bad_args, strlen(bad_args), "m", 0, &r), -EINVAL);
	ASSERT_CONTAINS(r.error, "arguments");
}

/* ---- requests: Anthropic -> OpenAI ---- */

static void test_anthropic_request_basic(void)
{
	const char *in =
	    "{\"model\":\"claude-sonnet-4-20250514\",\"max_tokens\":1024,\"system\":[{\"type\":"
	    "\"text\",\"text\":\"Today's date is 2024-06-01.\",\"cache_control\":{\"type\":"
	    "\"ephemeral\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"Hello, Claude\"},{"
	    "\"role\":\"assistant\",\"content\":\"Hi, I'm Claude. How can I help you?\"},{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Can you explain LLMs in plain "
	    "English?\"}]}],\"stop_sequences\":[\"\\n\\nHuman:\"],\"temperature\":0.5,\"stream\":"
	    "true,"
	    "\"metadata\":{\"user_id\":\"13803d75-b4b5-4c3e-b2a2-6f21399b021b\"}}";
	struct translate_req r;
	cJSON *v = translate(ANTHROPIC, in, &r);

	ASSERT_TRUE(v != NULL);
	ASSERT_STREQ(str_at(v, "model"), "gpt-4o");
	ASSERT_EQ(num_at(v, "max_completion_tokens"), 1024);
	ASSERT_TRUE(at(v, "max_tokens") == NULL);
	ASSERT_EQ(cJSON_GetArraySize(at(v, "messages")), 4);
	ASSERT_STREQ(str_at(v, "messages.0.role"), "system");
	ASSERT_STREQ(str_at(v, "messages.0.content.0.text"), "Today's date is 2024-06-01.");
	ASSERT_STREQ(str_at(v, "messages.1.content"), "Hello, Claude");
	ASSERT_STREQ(str_at(v, "messages.2.role"), "assistant");
	ASSERT_STREQ(str_at(v, "messages.3.content.0.type"), "text");
	ASSERT_STREQ(str_at(v, "stop.0"), "\n\nHuman:");
	ASSERT_TRUE(num_at(v, "temperature") == 0.5);
	ASSERT_TRUE(cJSON_IsTrue(at(v, "stream")));
	ASSERT_TRUE(cJSON_IsTrue(at(v, "stream_options.include_usage")));
	ASSERT_STREQ(str_at(v, "user"), "13803d75-b4b5-4c3e-b2a2-6f21399b021b");
	ASSERT_CONTAINS(r.notes, "cache_control dropped");
	ASSERT_EQ(r.stream, 1);
	cJSON_Delete(v);
}

static const char anthropic_tools_req[] =
    "{\"model\":\"claude-opus-4-1-20250805\",\"max_tokens\":1024,\"system\":\"You are a weather "
    "bot.\",\"tools\":[{\"name\":\"get_weather\",\"description\":\"Get the current weather in a "
    "given location\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"location\":{"
    "\"type\":\"string\",\"description\":\"The city and state, e.g. San Francisco, CA\"}},"
    "\"required\":[\"location\"]}}],\"tool_choice\":{\"type\":\"any\","
    "\"disable_parallel_tool_use\":true},\"messages\":["
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is the weather like in "
    "San Francisco?\"},{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
    "\"image/png\",\"data\":\"iVBORw0KGgo=\"}}]},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Let me check.\"},{"
    "\"type\":\"tool_use\",\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\","
    "\"input\":{\"location\":\"San Francisco, CA\"}}]},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
    "\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"content\":\"15 degrees\"},{\"type\":\"text\","
    "\"text\":\"And tomorrow?\"}]}]}";

static void test_anthropic_request_tools(void)
{
	struct translate_req r;
	cJSON *v = translate(ANTHROPIC, anthropic_tools_req, &r);
	const cJSON *m;

	ASSERT_TRUE(v != NULL);
	ASSERT_EQ(cJSON_GetArraySize(at(v, "messages")), 5);
	ASSERT_STREQ(str_at(v, "messages.0.content"), "You are a weather bot.");
	ASSERT_STREQ(str_at(v, "messages.1.content.1.type"), "image_url");
	ASSERT_STREQ(str_at(v, "messages.1.content.1.image_url.url"),
		     "data:image/png;base64,iVBORw0KGgo=");
	m = at(v, "messages.2");
	ASSERT_STREQ(str_at(m, "content"), "Let me check.");
	ASSERT_STREQ(str_at(m, "tool_calls.0.id"), "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
	ASSERT_STREQ(str_at(m, "tool_calls.0.type"), "function");
	ASSERT_STREQ(str_at(m, "tool_calls.0.function.name"), "get_weather");
	ASSERT_STREQ(str_at(m, "tool_calls.0.function.arguments"),
		     "{\"location\":\"San Francisco, CA\"}");
	ASSERT_STREQ(str_at(v, "messages.3.role"), "tool");
	ASSERT_STREQ(str_at(v, "messages.3.tool_call_id"), "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
	ASSERT_STREQ(str_at(v, "messages.3.content"), "15 degrees");
	ASSERT_STREQ(str_at(v, "messages.4.role"), "user");
	ASSERT_STREQ(str_at(v, "messages.4.content.0.text"), "And tomorrow?");
	ASSERT_STREQ(str_at(v, "tools.0.type"), "function");
	ASSERT_STREQ(str_at(v, "tools.0.function.name"), "get_weather");
	ASSERT_STREQ(str_at(v, "tools.0.function.parameters.required.0"), "location");
	ASSERT_STREQ(str_at(v, "tool_choice"), "required");
	ASSERT_TRUE(cJSON_IsFalse(at(v, "parallel_tool_calls")));
	cJSON_Delete(v);
}

static void test_anthropic_request_refusals(void)
{
#define HEAD "{\"model\":\"m\",\"max_tokens\":10,"
#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
	ASSERT_TRUE(refused(
	    ANTHROPIC, HEAD MSGS ",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}}",
	    "thinking"));
	ASSERT_TRUE(refused(ANTHROPIC, HEAD MSGS ",\"top_k\":5}", "top_k"));
	ASSERT_TRUE(refused(ANTHROPIC,
			    HEAD
			    "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\""
			    ",\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\","
			    "\"data\":\"JVBERi0=\"}}]}]}",
			    "messages[0].content[0]"));
	ASSERT_TRUE(refused(ANTHROPIC,
			    HEAD
			    "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
			    "\"tool_result\",\"tool_use_id\":\"t\",\"is_error\":true,\"content\""
			    ":\"boom\"}]}]}",
			    "messages[0].content[0].is_error"));
	ASSERT_TRUE(refused(ANTHROPIC,
			    HEAD MSGS ",\"tools\":[{\"type\":\"web_search_20250305\",\"name\":"
				      "\"web_search\"}]}",
			    "web_search_20250305"));
	ASSERT_TRUE(refused(ANTHROPIC,
			    HEAD MSGS ",\"stop_sequences\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
			    "stop_sequences"));
	ASSERT_TRUE(refused(ANTHROPIC,
			    HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"Greek name for "
				 "Sun? (A) Sol (B) Helios\"},{\"role\":\"assistant\",\"content\":"
				 "\"The best answer is (\"}]}",
			    "messages[1]"));
	ASSERT_TRUE(refused(ANTHROPIC,
			    HEAD
			    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":"
			    "\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\""
			    ",\"signature\":\"s\"},{\"type\":\"text\",\"text\":\"y\"}]},{\"role\":"
			    "\"user\",\"content\":\"z\"}]}",
			    "messages[1].content[0]"));
	ASSERT_TRUE(refused(ANTHROPIC, HEAD MSGS ",\"container\":\"c\"}", "container"));
#undef HEAD
#undef MSGS
}

/* ---- round trips ---- */

static void test_round_trip_openai(void)
{
	const char *in =
	    "{\"model\":\"gpt-4o\",\"max_completion_tokens\":500,\"messages\":["
	    "{\"role\":\"system\",\"content\":\"You are terse.\"},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather in Oslo?\"},{"
	    "\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0=\"}}]},"
	    "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":[{\"id\":\"call_1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":"
	    "\"{\\\"city\\\":\\\"Oslo\\\"}\"}},{\"id\":\"call_2\",\"type\":\"function\","
	    "\"function\""
	    ":{\"name\":\"time\",\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"-3C\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"09:00\"},"
	    "{\"role\":\"assistant\",\"content\":\"-3C at 09:00.\"},"
	    "{\"role\":\"user\",\"content\":\"Thanks\"}],"
	    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"weather\",\"description\":"
	    "\"Weather "
	    "now\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
	    "\"string\"}},\"required\":[\"city\"]}}}],"
	    "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"weather\"}},"
	    "\"stop\":[\"END\"],\"temperature\":0.2,\"user\":\"u-1\"}";
	struct translate_req r;
	cJSON *orig = cJSON_Parse(in), *mid, *back;
	char *mid_text;

	ASSERT_TRUE(translate_request(OPENAI, in, strlen(in), "claude", 0, &r) == 0);
	mid_text = strdup(r.body);
	translate_req_release(&r);
	mid = cJSON_Parse(mid_text);
	ASSERT_TRUE(translate_request(ANTHROPIC, mid_text, strlen(mid_text), "gpt-4o", 0, &r) == 0);
	back = cJSON_Parse(r.body);
	translate_req_release(&r);
	free(mid_text);
	ASSERT_TRUE(back != NULL && mid != NULL);
	ASSERT_TRUE(cJSON_Compare(at(orig, "messages"), at(back, "messages"), 1));
	ASSERT_TRUE(cJSON_Compare(at(orig, "tools"), at(back, "tools"), 1));
	ASSERT_TRUE(cJSON_Compare(at(orig, "tool_choice"), at(back, "tool_choice"), 1));
	ASSERT_TRUE(cJSON_Compare(at(orig, "stop"), at(back, "stop"), 1));
	ASSERT_EQ(num_at(back, "max_completion_tokens"), 500);
	ASSERT_STREQ(str_at(back, "user"), "u-1");
	cJSON_Delete(orig);
	cJSON_Delete(mid);
	cJSON_Delete(back);
}

static void test_round_trip_anthropic(void)
{
	struct translate_req r;
	cJSON *orig = cJSON_Parse(anthropic_tools_req), *back;
	char *mid;

	ASSERT_TRUE(translate_request(ANTHROPIC, anthropic_tools_req, strlen(anthropic_tools_req),
				      "gpt-4o", 0, &r) == 0);
	mid = strdup(r.body);
	translate_req_release(&r);
	ASSERT_TRUE(
	    translate_request(OPENAI, mid, strlen(mid), "claude-opus-4-1-20250805", 0, &r) == 0);
	free(mid);
	back = cJSON_Parse(r.body);
	translate_req_release(&r);
	ASSERT_TRUE(back != NULL);
	ASSERT_TRUE(cJSON_Compare(at(orig, "messages"), at(back, "messages"), 1));
	ASSERT_TRUE(cJSON_Compare(at(orig, "system"), at(back, "system"), 1));
	ASSERT_TRUE(cJSON_Compare(at(orig, "tools"), at(back, "tools"), 1));
	ASSERT_TRUE(cJSON_Compare(at(orig, "tool_choice"), at(back, "tool_choice"), 1));
	ASSERT_EQ(num_at(back, "max_tokens"), 1024);
	cJSON_Delete(orig);
	cJSON_Delete(back);
}

/* ---- whole responses ---- */

static cJSON *response(enum translate_api app, const char *in, const char *model)
{
	char *out = NULL, err[128];
	size_t len;
	cJSON *v;

	if (translate_response(app, in, strlen(in), model, &out, &len, err, sizeof(err))) {
		fprintf(stderr, "  translate_response: %s\n", err);
		return NULL;
	}
	v = cJSON_Parse(out);
	free(out);
	return v;
}

static void test_response_anthropic_to_openai(void)
{
	const char *in =
	    "{\"id\":\"msg_01Aq9w938a90dw8q\",\"type\":\"message\",\"role\":\"assistant\","
	    "\"model\":"
	    "\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"I'll check "
	    "\"},{\"type\":\"text\",\"text\":\"the weather.\"},{\"type\":\"tool_use\",\"id\":"
	    "\"toolu_01A09q90qw90lq917835lq9\",\"name\":\"get_weather\",\"input\":{\"location\":"
	    "\"San Francisco, CA\",\"unit\":\"celsius\"}}],\"stop_reason\":\"tool_use\","
	    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":2095,\"cache_creation_input_"
	    "tokens\":"
	    "100,\"cache_read_input_tokens\":2051,\"output_tokens\":503}}";
	cJSON *v = response(OPENAI, in, NULL), *args;

	ASSERT_TRUE(v != NULL);
	ASSERT_TRUE(!strncmp(str_at(v, "id"), "chatcmpl-", 9));
	ASSERT_EQ(strlen(str_at(v, "id")), 9 + 29);
	ASSERT_STREQ(str_at(v, "object"), "chat.completion");
	ASSERT_STREQ(str_at(v, "model"), "claude-sonnet-4-5-20250929");
	ASSERT_TRUE(num_at(v, "created") > 1700000000);
	ASSERT_STREQ(str_at(v, "choices.0.message.role"), "assistant");
	ASSERT_STREQ(str_at(v, "choices.0.message.content"), "I'll check the weather.");
	ASSERT_STREQ(str_at(v, "choices.0.message.tool_calls.0.id"),
		     "toolu_01A09q90qw90lq917835lq9");
	ASSERT_STREQ(str_at(v, "choices.0.message.tool_calls.0.function.name"), "get_weather");
	args = cJSON_Parse(str_at(v, "choices.0.message.tool_calls.0.function.arguments"));
	ASSERT_STREQ(str_at(args, "unit"), "celsius");
	cJSON_Delete(args);
	ASSERT_STREQ(str_at(v, "choices.0.finish_reason"), "tool_calls");
	ASSERT_EQ(num_at(v, "usage.prompt_tokens"), 2095 + 100 + 2051);
	ASSERT_EQ(num_at(v, "usage.prompt_tokens_details.cached_tokens"), 2051);
	ASSERT_EQ(num_at(v, "usage.completion_tokens"), 503);
	ASSERT_EQ(num_at(v, "usage.total_tokens"), 2095 + 100 + 2051 + 503);
	cJSON_Delete(v);
	v = response(OPENAI, in, "gpt-4o");
	ASSERT_STREQ(str_at(v, "model"), "gpt-4o");
	cJSON_Delete(v);
}

static void test_response_openai_to_anthropic(void)
{
	const char *in =
	    "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion\","
	    "\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,"
	    "\"message\":{\"role\":\"assistant\",\"content\":\"Let me look that up.\",\"refusal\":"
	    "null,\"tool_calls\":[{\"id\":\"call_abc123\",\"type\":\"function\",\"function\":{"
	    "\"name\":\"get_current_weather\",\"arguments\":\"{\\n\\\"location\\\": \\\"Boston, "
	    "MA\\\"\\n}\"}}],\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"tool_"
	    "calls\"}"
	    "],\"usage\":{\"prompt_tokens\":82,\"completion_tokens\":17,\"total_tokens\":99,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":64,\"audio_tokens\":0},"
	    "\"completion_tokens_details\":{\"reasoning_tokens\":0}},\"service_tier\":\"default\"}";
	cJSON *v = response(ANTHROPIC, in, NULL);

	ASSERT_TRUE(v != NULL);
	ASSERT_TRUE(!strncmp(str_at(v, "id"), "msg_", 4));
	ASSERT_STREQ(str_at(v, "type"), "message");
	ASSERT_STREQ(str_at(v, "role"), "assistant");
	ASSERT_STREQ(str_at(v, "model"), "gpt-4o-2024-08-06");
	ASSERT_STREQ(str_at(v, "content.0.type"), "text");
	ASSERT_STREQ(str_at(v, "content.0.text"), "Let me look that up.");
	ASSERT_STREQ(str_at(v, "content.1.type"), "tool_use");
	ASSERT_STREQ(str_at(v, "content.1.id"), "call_abc123");
	ASSERT_STREQ(str_at(v, "content.1.input.location"), "Boston, MA");
	ASSERT_STREQ(str_at(v, "stop_reason"), "tool_use");
	ASSERT_TRUE(cJSON_IsNull(at(v, "stop_sequence")));
	ASSERT_EQ(num_at(v, "usage.input_tokens"), 82 - 64);
	ASSERT_EQ(num_at(v, "usage.cache_read_input_tokens"), 64);
	ASSERT_EQ(num_at(v, "usage.cache_creation_input_tokens"), 0);
	ASSERT_EQ(num_at(v, "usage.output_tokens"), 17);
	cJSON_Delete(v);
}

static void test_response_refusal_and_length(void)
{
	cJSON *v = response(ANTHROPIC,
			    "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
			    "\"content\":null,\"refusal\":\"I can't help with that.\"},"
			    "\"finish_reason\":\"stop\"}],\"model\":\"gpt-4o\"}",
			    NULL);

	ASSERT_STREQ(str_at(v, "content.0.text"), "I can't help with that.");
	ASSERT_STREQ(str_at(v, "stop_reason"), "refusal");
	cJSON_Delete(v);
	/* arguments cut by the token limit: an empty input, and max_tokens says why */
	v = response(ANTHROPIC,
		     "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
		     "null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{"
		     "\"name\":\"f\",\"arguments\":\"{\\\"a\\\": \\\"tru\"}}]},\"finish_reason\":"
		     "\"length\"}],\"model\":\"gpt-4o\"}",
		     NULL);
	ASSERT_STREQ(str_at(v, "stop_reason"), "max_tokens");
	ASSERT_TRUE(cJSON_IsObject(at(v, "content.0.input")));
	cJSON_Delete(v);
	v = response(OPENAI,
		     "{\"content\":[{\"type\":\"text\",\"text\":\"The answer\"}],\"model\":\"c\","
		     "\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":5,"
		     "\"output_tokens\":3}}",
		     NULL);
	ASSERT_STREQ(str_at(v, "choices.0.finish_reason"), "length");
	ASSERT_EQ(num_at(v, "usage.prompt_tokens"), 5);
	cJSON_Delete(v);
}

/* A provider's count of -0 (valid JSON) reaches the app as 0, as the stream translator writes
 * it: cJSON printed "-0", which a strict decoder of a count refuses (serde_json reads it as a
 * float, not a u32). */
static void test_response_negative_zero_counts(void)
{
	static const char openai[] =
	    "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
	    "\"finish_reason\":\"stop\"}],\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":10,"
	    "\"completion_tokens\":-0,\"total_tokens\":10,\"prompt_tokens_details\":"
	    "{\"cached_tokens\":-0}}}";
	static const char anthropic[] =
	    "{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"model\":\"c\",\"stop_reason\":"
	    "\"end_turn\",\"usage\":{\"input_tokens\":-0,\"cache_creation_input_tokens\":-0,"
	    "\"cache_read_input_tokens\":-0,\"output_tokens\":-0}}";
	char *out = NULL, err[128];
	size_t len;

	ASSERT_OK(translate_response(ANTHROPIC, openai, strlen(openai), NULL, &out, &len, err,
				     sizeof(err)));
	ASSERT_CONTAINS(out, "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,"
			     "\"cache_read_input_tokens\":0,\"output_tokens\":0}");
	free(out);
	ASSERT_OK(translate_response(OPENAI, anthropic, strlen(anthropic), NULL, &out, &len, err,
				     sizeof(err)));
	ASSERT_CONTAINS(out, "\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,"
			     "\"total_tokens\":0,\"prompt_tokens_details\":{\"cached_tokens\":0}}");
	free(out);
}

static void test_stop_reasons(void)
{
	static const struct {
		const char *anthropic, *openai;
	} stops[] = {
	    {"end_turn", "stop"},
	    {"stop_sequence", "stop"},
	    {"max_tokens", "length"},
	    {"tool_use", "tool_calls"},
	    {"refusal", "content_filter"},
	    {"pause_turn", "stop"},
	    {"model_context_window_exceeded", "length"},
	};
	char in[256];
	cJSON *v;

	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		snprintf(in, sizeof(in),
			 "{\"content\":[{\"type\":\"text\",\"text\":\"x\"}],\"model\":\"c\","
			 "\"stop_reason\":\"%s\"}",
			 stops[i].anthropic);
		v = response(OPENAI, in, NULL);
		ASSERT_STREQ(str_at(v, "choices.0.finish_reason"), stops[i].openai);
		cJSON_Delete(v);
	}
	/* and back */
	static const char *const back[][2] = {{"stop", "end_turn"},
					      {"length", "max_tokens"},
					      {"tool_calls", "tool_use"},
					      {"content_filter", "refusal"},
					      {"function_call", "tool_use"}};
	for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
		snprintf(in, sizeof(in),
			 "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
			 "\"content\":\"x\"},\"finish_reason\":\"%s\"}]}",
			 back[i][0]);
		v = response(ANTHROPIC, in, "m");
		ASSERT_STREQ(str_at(v, "stop_reason"), back[i][1]);
		cJSON_Delete(v);
	}
}

/* ---- errors ---- */

static void check_error(enum translate_api app, int status, const char *body, int want_status,
			const char *want_type, const char *want_code, const char *want_msg)
{
	int st = 0;
	char *out = NULL;
	size_t len;
	cJSON *v;

	ASSERT_OK(translate_error(app, status, body, strlen(body), &st, &out, &len));
	v = cJSON_Parse(out);
	free(out);
	ASSERT_TRUE(v != NULL);
	ASSERT_EQ(st, want_status);
	ASSERT_STREQ(str_at(v, "error.type"), want_type);
	ASSERT_STREQ(str_at(v, "error.message"), want_msg);
	if (app == ANTHROPIC) {
		ASSERT_STREQ(str_at(v, "type"), "error");
	} else {
		ASSERT_TRUE(cJSON_IsNull(at(v, "error.param")));
		if (want_code)
			ASSERT_STREQ(str_at(v, "error.code"), want_code);
		else
			ASSERT_TRUE(cJSON_IsNull(at(v, "error.code")));
	}
	cJSON_Delete(v);
}

static void test_errors(void)
{
	const char *overloaded =
	    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
	    "\"message\":\"Overloaded\"},\"request_id\":\"req_011CSHoEeqs5C35K\"}";
	const char *limited = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
			      "\"message\":\"Number of requests has exceeded your rate limit\"}}";
	const char *bad = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
			  "\"message\":\"max_tokens: Field required\"}}";
	const char *o_limit =
	    "{\"error\":{\"message\":\"Rate limit reached for requests\",\"type\":"
	    "\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
	const char *o_quota = "{\"error\":{\"message\":\"You exceeded your current quota\","
			      "\"type\":\"insufficient_quota\",\"param\":null,\"code\":"
			      "\"insufficient_quota\"}}";
	const char *o_busy =
	    "{\"error\":{\"message\":\"The server is overloaded or not ready yet.\","
	    "\"type\":\"server_error\",\"param\":null,\"code\":null}}";
	const char *o_key =
	    "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":"
	    "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";

	check_error(OPENAI, 529, overloaded, 503, "server_error", NULL, "Overloaded");
	check_error(OPENAI, 429, limited, 429, "requests", "rate_limit_exceeded",
		    "Number of requests has exceeded your rate limit");
	check_error(OPENAI, 400, bad, 400, "invalid_request_error", NULL,
		    "max_tokens: Field required");
	check_error(OPENAI, 503,
		    "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
		    "\"message\":\"Service Unavailable\"}}",
		    503, "server_error", NULL, "Service Unavailable");
	check_error(OPENAI, 401,
		    "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
		    "\"message\":\"invalid x-api-key\"}}",
		    401, "invalid_request_error", "invalid_api_key", "invalid x-api-key");
	check_error(OPENAI, 502, "<html>Bad Gateway</html>", 502, "server_error", NULL,
		    "upstream error (HTTP 502)");
	check_error(ANTHROPIC, 503, o_busy, 529, "overloaded_error", NULL,
		    "The server is overloaded or not ready yet.");
	check_error(ANTHROPIC, 429, o_limit, 429, "rate_limit_error", NULL,
		    "Rate limit reached for requests");
	check_error(ANTHROPIC, 429, o_quota, 402, "billing_error", NULL,
		    "You exceeded your current quota");
	check_error(ANTHROPIC, 401, o_key, 401, "authentication_error", NULL,
		    "Incorrect API key provided");
	check_error(ANTHROPIC, 400, o_key, 400, "invalid_request_error", NULL,
		    "Incorrect API key provided");
	check_error(ANTHROPIC, 500, "", 500, "api_error", NULL, "upstream error (HTTP 500)");
}

static void test_error_body(void)
{
	size_t len;
	char *s = translate_error_body(ANTHROPIC, 400, "n other than 1 has no counterpart", &len);
	cJSON *v = cJSON_Parse(s);

	ASSERT_EQ(len, strlen(s));
	ASSERT_STREQ(str_at(v, "type"), "error");
	ASSERT_STREQ(str_at(v, "error.type"), "invalid_request_error");
	cJSON_Delete(v);
	free(s);
	s = translate_error_body(OPENAI, 502, "upstream broken", &len);
	v = cJSON_Parse(s);
	ASSERT_STREQ(str_at(v, "error.type"), "server_error");
	ASSERT_STREQ(str_at(v, "error.message"), "upstream broken");
	cJSON_Delete(v);
	free(s);
}

static void test_api_for_path(void)
{
	enum translate_api api = 0;
	char err[160];

	ASSERT_OK(translate_api_for_path("/v1/chat/completions", &api, err, sizeof(err)));
	ASSERT_EQ(api, OPENAI);
	ASSERT_OK(translate_api_for_path("/v1/messages?beta=true", &api, err, sizeof(err)));
	ASSERT_EQ(api, ANTHROPIC);
	ASSERT_EQ(translate_api_for_path("/v1/responses", &api, err, sizeof(err)), -EOPNOTSUPP);
	ASSERT_CONTAINS(err, "previous_response_id");
	ASSERT_EQ(translate_api_for_path("/v1/embeddings", &api, err, sizeof(err)), -ENOENT);
	ASSERT_EQ(translate_api_other(OPENAI), ANTHROPIC);
}

/* ---- streams ---- */

static void append(char **acc, const char *piece)
{
	size_t l = *acc ? strlen(*acc) : 0;

	*acc = realloc(*acc, l + strlen(piece) + 1);
	strcpy(*acc + l, piece);
}

struct sse {
	char event[48];
	char *data;
};

/* Splits OUT into events; every event must end with a blank line and have one data line. */
static int sse_split(const char *out, struct sse *ev, int max)
{
	const char *p = out, *end, *line;
	int n = 0;

	while (*p) {
		end = strstr(p, "\n\n");
		if (!end || n == max)
			return -1;
		ev[n].event[0] = '\0';
		ev[n].data = NULL;
		if (!strncmp(p, "event: ", 7)) {
			line = strchr(p, '\n');
			snprintf(ev[n].event, sizeof(ev[n].event), "%.*s", (int)(line - p - 7),
				 p + 7);
			p = line + 1;
		}
		if (strncmp(p, "data: ", 6) || memchr(p, '\n', end - p))
			return -1;
		ev[n].data = strndup(p + 6, end - p - 6);
		n++;
		p = end + 2;
	}
	return n;
}

static void sse_free(struct sse *ev, int n)
{
	for (int i = 0; i < n; i++)
		free(ev[i].data);
}

/* An OpenAI chat stream: chunks that parse, one id, the role first, [DONE] or an error last,
 * the usage chunk (choices []) only after the finish_reason. */
static int openai_stream_ok(struct sse *ev, int n)
{
	char id[64] = "";
	int finished = 0, ok = n > 0;
	cJSON *c;

	for (int i = 0; ok && i < n; i++) {
		if (ev[i].event[0])
			return 0;
		if (!strcmp(ev[i].data, "[DONE]"))
			return i == n - 1 && finished;
		c = cJSON_Parse(ev[i].data);
		if (!c)
			return 0;
		if (at(c, "error"))
			ok = i == n - 1;
		else if (i == 0)
			ok = str_at(c, "choices.0.delta.role") != NULL;
		if (ok && !at(c, "error")) {
			ok = !strcmp(str_at(c, "object"), "chat.completion.chunk") &&
			     (!id[0] || !strcmp(id, str_at(c, "id")));
			snprintf(id, sizeof(id), "%s", str_at(c, "id"));
			if (!cJSON_GetArraySize(at(c, "choices")))
				ok = ok && finished && cJSON_IsObject(at(c, "usage"));
			else if (str_at(c, "choices.0.finish_reason"))
				finished = 1;
		}
		cJSON_Delete(c);
	}
	return ok;
}

/* An Anthropic stream: message_start first; blocks started in order, deltas and stops only
 * for the open block; message_delta with no block open; message_stop or error last. */
static int anthropic_stream_ok(struct sse *ev, int n)
{
	int open = -1, next = 0, delta = 0;
	cJSON *c;
	int ok = n > 0, idx;

	for (int i = 0; ok && i < n; i++) {
		c = cJSON_Parse(ev[i].data);
		ok = c && !strcmp(ev[i].event, str_at(c, "type") ? str_at(c, "type") : "");
		idx = (int)num_at(c, "index");
		if (!ok)
			;
		else if (!strcmp(ev[i].event, "error"))
			ok = i == n - 1;
		else if (i == 0)
			ok = !strcmp(ev[i].event, "message_start");
		else if (!strcmp(ev[i].event, "content_block_start"))
			ok = open < 0 && idx == next++ && !delta, open = idx;
		else if (!strcmp(ev[i].event, "content_block_delta"))
			ok = open >= 0 && idx == open;
		else if (!strcmp(ev[i].event, "content_block_stop"))
			ok = open >= 0 && idx == open, open = -1;
		else if (!strcmp(ev[i].event, "message_delta"))
			ok = open < 0 && !delta, delta = 1;
		else if (!strcmp(ev[i].event, "message_stop"))
			ok = delta && i == n - 1;
		else
			ok = !strcmp(ev[i].event, "ping");
		cJSON_Delete(c);
	}
	return ok;
}

/* The tool-use stream from Anthropic's streaming documentation (abridged text deltas). */
static const char *const anthropic_tool_stream[][2] = {
    {"message_start",
     "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_014p7gG3wDgGV9EUtLvnow3U\",\"type\":"
     "\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-1-20250805\",\"stop_sequence\":"
     "null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2},\"content\":[],\"stop_reason\":"
     "null}}"},
    {"content_block_start",
     "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
     "\"text\":\"\"}}"},
    {"ping", "{\"type\": \"ping\"}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
			    "\"text_delta\",\"text\":\"Okay\"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
			    "\"text_delta\",\"text\":\", let's check\"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
			    "\"text_delta\",\"text\":\" the weather for San Francisco, CA:\"}}"},
    {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
    {"content_block_start",
     "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
     "\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			    "\"input_json_delta\",\"partial_json\":\"\"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			    "\"input_json_delta\",\"partial_json\":\"{\\\"location\\\":\"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			    "\"input_json_delta\",\"partial_json\":\" \\\"San Francisc\"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			    "\"input_json_delta\",\"partial_json\":\"o, CA\\\", \"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			    "\"input_json_delta\",\"partial_json\":\"\\\"unit\\\": \\\"fah\"}}"},
    {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
			    "\"input_json_delta\",\"partial_json\":\"renheit\\\"}\"}}"},
    {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"},
    {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
		      "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}"},
    {"message_stop", "{\"type\":\"message_stop\"}"},
};
#define N_ANTHROPIC_EVENTS (int)(sizeof(anthropic_tool_stream) / sizeof(anthropic_tool_stream[0]))

static struct translate_stream *feed_anthropic(int include_usage, int upto,
					       struct translate_buf *out)
{
	struct translate_stream *s = translate_stream_new(OPENAI, include_usage, NULL);

	for (int i = 0; s && i < upto; i++)
		if (translate_stream_feed(s, anthropic_tool_stream[i][0],
					  anthropic_tool_stream[i][1],
					  strlen(anthropic_tool_stream[i][1]), out))
			return s;
	return s;
}

static void test_stream_anthropic_to_openai(void)
{
	struct translate_buf out = {0};
	char *text = NULL, *args = NULL;
	struct sse ev[64];
	struct translate_stream *s = feed_anthropic(1, N_ANTHROPIC_EVENTS, &out);
	int n = sse_split(out.data, ev, 64);
	const char *piece;
	cJSON *c, *parsed;

	ASSERT_TRUE(translate_stream_ended(s));
	ASSERT_OK(translate_stream_finish(s, &out)); /* nothing more */
	translate_stream_free(s);
	ASSERT_TRUE(n > 4);
	ASSERT_TRUE(openai_stream_ok(ev, n));
	ASSERT_STREQ(ev[n - 1].data, "[DONE]");
	for (int i = 0; i < n - 1; i++) {
		c = cJSON_Parse(ev[i].data);
		ASSERT_STREQ(str_at(c, "model"), "claude-opus-4-1-20250805");
		piece = str_at(c, "choices.0.delta.content");
		if (piece)
			append(&text, piece);
		if (at(c, "choices.0.delta.tool_calls")) {
			ASSERT_EQ(num_at(c, "choices.0.delta.tool_calls.0.index"), 0);
			if (str_at(c, "choices.0.delta.tool_calls.0.id")) {
				ASSERT_STREQ(str_at(c, "choices.0.delta.tool_calls.0.id"),
					     "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
				ASSERT_STREQ(
				    str_at(c, "choices.0.delta.tool_calls.0.function.name"),
				    "get_weather");
				ASSERT_STREQ(str_at(c, "choices.0.delta.tool_calls.0.type"),
					     "function");
			}
			append(&args, str_at(c, "choices.0.delta.tool_calls.0.function.arguments"));
		}
		if (str_at(c, "choices.0.finish_reason"))
			ASSERT_STREQ(str_at(c, "choices.0.finish_reason"), "tool_calls");
		if (i == n - 2) { /* the usage chunk */
			ASSERT_EQ(cJSON_GetArraySize(at(c, "choices")), 0);
			ASSERT_EQ(num_at(c, "usage.prompt_tokens"), 472);
			ASSERT_EQ(num_at(c, "usage.completion_tokens"), 89);
			ASSERT_EQ(num_at(c, "usage.total_tokens"), 561);
		} else {
			ASSERT_TRUE(cJSON_IsNull(at(c, "usage")));
		}
		cJSON_Delete(c);
	}
	ASSERT_STREQ(text, "Okay, let's check the weather for San Francisco, CA:");
	parsed = cJSON_Parse(args);
	ASSERT_STREQ(str_at(parsed, "location"), "San Francisco, CA");
	ASSERT_STREQ(str_at(parsed, "unit"), "fahrenheit");
	cJSON_Delete(parsed);
	free(text);
	free(args);
	sse_free(ev, n);
	translate_buf_free(&out);
}

static void test_stream_anthropic_to_openai_no_usage(void)
{
	struct translate_buf out = {0};
	struct sse ev[64];
	struct translate_stream *s = feed_anthropic(0, N_ANTHROPIC_EVENTS, &out);
	int n = sse_split(out.data, ev, 64);

	translate_stream_free(s);
	ASSERT_TRUE(openai_stream_ok(ev, n));
	ASSERT_TRUE(strstr(out.data, "usage") == NULL);
	ASSERT_TRUE(strstr(ev[n - 2].data, "\"finish_reason\":\"tool_calls\"") != NULL);
	sse_free(ev, n);
	translate_buf_free(&out);
}

/* A streamed OpenAI answer: text, then two parallel tool calls, then the usage chunk. */
static const char *const openai_tool_stream[] = {
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Checking \"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"both.\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\",\"function\":{\"name\":"
    "\"get_weather\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}],"
    "\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"{\\\"location\\\":\"}}]},\"logprobs\":null,\"finish_reason\":"
    "null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\" \\\"Paris, France\\\"}\"}}]},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,"
    "\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":"
    "\"{\\\"tz\\\":\\\"CET\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"tool_calls\"}],\"usage\":null}",
    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":120,"
    "\"completion_tokens\":31,\"total_tokens\":151,\"prompt_tokens_details\":{\"cached_tokens\":"
    "100}}}",
    "[DONE]",
};
#define N_OPENAI_EVENTS (int)(sizeof(openai_tool_stream) / sizeof(openai_tool_stream[0]))

static void test_stream_openai_to_anthropic(void)
{
	struct translate_stream *s = translate_stream_new(ANTHROPIC, 0, NULL);
	struct translate_buf out = {0};
	char *text = NULL, *args[2] = {NULL, NULL};
	struct sse ev[64];
	int n, block_tool[8] = {0};
	cJSON *c, *p;

	for (int i = 0; i < N_OPENAI_EVENTS; i++)
		ASSERT_OK(translate_stream_feed(s, NULL, openai_tool_stream[i],
						strlen(openai_tool_stream[i]), &out));
	ASSERT_TRUE(translate_stream_ended(s));
	translate_stream_free(s);
	n = sse_split(out.data, ev, 64);
	ASSERT_TRUE(anthropic_stream_ok(ev, n));
	ASSERT_STREQ(ev[0].event, "message_start");
	ASSERT_STREQ(ev[n - 1].event, "message_stop");
	for (int i = 0; i < n; i++) {
		c = cJSON_Parse(ev[i].data);
		if (i == 0) {
			ASSERT_TRUE(!strncmp(str_at(c, "message.id"), "msg_", 4));
			ASSERT_STREQ(str_at(c, "message.model"), "gpt-4o-mini");
			ASSERT_STREQ(str_at(c, "message.role"), "assistant");
			ASSERT_EQ(cJSON_GetArraySize(at(c, "message.content")), 0);
		}
		if (!strcmp(ev[i].event, "content_block_start") &&
		    !strcmp(str_at(c, "content_block.type"), "tool_use")) {
			int k = (int)num_at(c, "index");

			block_tool[k] =
			    !strcmp(str_at(c, "content_block.name"), "get_time") ? 2 : 1;
			if (block_tool[k] == 1)
				ASSERT_STREQ(str_at(c, "content_block.id"),
					     "call_DdmO9pD3xa9XTPNJ32zg2hcA");
		}
		if (!strcmp(ev[i].event, "content_block_delta")) {
			if (!strcmp(str_at(c, "delta.type"), "text_delta"))
				append(&text, str_at(c, "delta.text"));
			else
				append(&args[block_tool[(int)num_at(c, "index")] - 1],
				       str_at(c, "delta.partial_json"));
		}
		if (!strcmp(ev[i].event, "message_delta")) {
			ASSERT_STREQ(str_at(c, "delta.stop_reason"), "tool_use");
			ASSERT_EQ(num_at(c, "usage.input_tokens"), 20);
			ASSERT_EQ(num_at(c, "usage.cache_read_input_tokens"), 100);
			ASSERT_EQ(num_at(c, "usage.output_tokens"), 31);
		}
		cJSON_Delete(c);
	}
	ASSERT_STREQ(text, "Checking both.");
	p = cJSON_Parse(args[0]);
	ASSERT_STREQ(str_at(p, "location"), "Paris, France");
	cJSON_Delete(p);
	p = cJSON_Parse(args[1]);
	ASSERT_STREQ(str_at(p, "tz"), "CET");
	cJSON_Delete(p);
	free(text);
	free(args[0]);
	free(args[1]);
	sse_free(ev, n);
	translate_buf_free(&out);
}

static void test_stream_upstream_errors(void)
{
	struct translate_buf out = {0};
	struct translate_stream *s = feed_anthropic(1, 5, &out);
	const char *err = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
			  "\"message\":\"Overloaded\"}}";
	struct sse ev[64];
	int n;
	cJSON *c;

	ASSERT_OK(translate_stream_feed(s, "error", err, strlen(err), &out));
	ASSERT_TRUE(translate_stream_ended(s));
	ASSERT_OK(
	    translate_stream_feed(s, "message_stop", "{\"type\":\"message_stop\"}", 23, &out));
	translate_stream_free(s);
	n = sse_split(out.data, ev, 64);
	ASSERT_TRUE(openai_stream_ok(ev, n));
	c = cJSON_Parse(ev[n - 1].data);
	ASSERT_STREQ(str_at(c, "error.type"), "server_error");
	ASSERT_STREQ(str_at(c, "error.message"), "Overloaded");
	cJSON_Delete(c);
	ASSERT_TRUE(strstr(out.data, "[DONE]") == NULL);
	sse_free(ev, n);
	translate_buf_free(&out);

	/* OpenAI error mid-stream -> event: error */
	s = translate_stream_new(ANTHROPIC, 0, "gpt-4o");
	ASSERT_OK(translate_stream_feed(s, NULL, openai_tool_stream[0],
					strlen(openai_tool_stream[0]), &out));
	ASSERT_OK(translate_stream_feed(s, NULL, openai_tool_stream[1],
					strlen(openai_tool_stream[1]), &out));
	err = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"param\":null,"
	      "\"code\":\"rate_limit_exceeded\"}}";
	ASSERT_OK(translate_stream_feed(s, NULL, err, strlen(err), &out));
	ASSERT_TRUE(translate_stream_ended(s));
	translate_stream_free(s);
	n = sse_split(out.data, ev, 64);
	ASSERT_TRUE(anthropic_stream_ok(ev, n));
	ASSERT_STREQ(ev[n - 1].event, "error");
	c = cJSON_Parse(ev[n - 1].data);
	ASSERT_STREQ(str_at(c, "error.type"), "rate_limit_error");
	cJSON_Delete(c);
	c = cJSON_Parse(ev[0].data);
	ASSERT_STREQ(str_at(c, "message.model"), "gpt-4o"); /* the caller's choice */
	cJSON_Delete(c);
	sse_free(ev, n);
	translate_buf_free(&out);
}

static void test_stream_truncated(void)
{
	struct translate_buf out = {0};
	struct translate_stream *s = feed_anthropic(0, 10, &out);
	struct sse ev[64];
	int n;

	/* the upstream died mid-tool-call: a clean error, not a dangling stream */
	ASSERT_EQ(translate_stream_finish(s, &out), -EPROTO);
	ASSERT_TRUE(translate_stream_ended(s));
	translate_stream_free(s);
	n = sse_split(out.data, ev, 64);
	ASSERT_TRUE(openai_stream_ok(ev, n));
	ASSERT_CONTAINS(ev[n - 1].data, "\"error\"");
	sse_free(ev, n);
	translate_buf_free(&out);

	/* stop reason delivered, message_stop lost: a normal end */
	s = feed_anthropic(1, N_ANTHROPIC_EVENTS - 1, &out);
	ASSERT_OK(translate_stream_finish(s, &out));
	translate_stream_free(s);
	n = sse_split(out.data, ev, 64);
	ASSERT_TRUE(openai_stream_ok(ev, n));
	ASSERT_STREQ(ev[n - 1].data, "[DONE]");
	sse_free(ev, n);
	translate_buf_free(&out);

	/* OpenAI upstream cut before any finish_reason: event: error */
	s = translate_stream_new(ANTHROPIC, 0, NULL);
	for (int i = 0; i < 5; i++)
		ASSERT_OK(translate_stream_feed(s, NULL, openai_tool_stream[i],
						strlen(openai_tool_stream[i]), &out));
	ASSERT_EQ(translate_stream_finish(s, &out), -EPROTO);
	translate_stream_free(s);
	n = sse_split(out.data, ev, 64);
	ASSERT_TRUE(anthropic_stream_ok(ev, n));
	ASSERT_STREQ(ev[n - 1].event, "error");
	sse_free(ev, n);
	translate_buf_free(&out);

	/* ... and cut after finish_reason and usage, before [DONE]: a normal end */
	s = translate_stream_new(ANTHROPIC, 0, NULL);
	for (int i = 0; i < N_OPENAI_EVENTS - 1; i++)
		ASSERT_OK(translate_stream_feed(s, NULL, openai_tool_stream[i],
						strlen(openai_tool_stream[i]), &out));
	ASSERT_OK(translate_stream_finish(s, &out));
	translate_stream_free(s);
	n = sse_split(out.data, ev, 64);
	ASSERT_TRUE(anthropic_stream_ok(ev, n));
	ASSERT_STREQ(ev[n - 1].event, "message_stop");
	sse_free(ev, n);
	translate_buf_free(&out);
}

static void test_stream_protocol_errors(void)
{
	struct translate_buf out = {0};
	struct translate_stream *s = translate_stream_new(OPENAI, 0, NULL);
	const char *delta = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
			    "\"text_delta\",\"text\":\"x\"}}";
	struct sse ev[32];
	int n;

	ASSERT_EQ(translate_stream_feed(s, "content_block_delta", delta, strlen(delta), &out),
		  -EPROTO);
	translate_stream_free(s);
	n = sse_split(out.data, ev, 32);
	ASSERT_EQ(n, 1);
	ASSERT_TRUE(openai_stream_ok(ev, n));
	sse_free(ev, n);
	translate_buf_free(&out);

	/* OpenAI: a tool call resumed after another started */
	s = translate_stream_new(ANTHROPIC, 0, NULL);
	for (int i = 0; i < 7; i++)
		ASSERT_OK(translate_stream_feed(s, NULL, openai_tool_stream[i],
						strlen(openai_tool_stream[i]), &out));
	ASSERT_EQ(translate_stream_feed(s, NULL, openai_tool_stream[5],
					strlen(openai_tool_stream[5]), &out),
		  -EPROTO);
	translate_stream_free(s);
	n = sse_split(out.data, ev, 32);
	ASSERT_TRUE(anthropic_stream_ok(ev, n));
	ASSERT_STREQ(ev[n - 1].event, "error");
	ASSERT_CONTAINS(ev[n - 1].data, "resumed");
	sse_free(ev, n);
	translate_buf_free(&out);
}

static void test_stream_text_only_anthropic_app(void)
{
	static const char *const chunks[] = {
	    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{"
	    "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":"
	    "null}]}",
	    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{"
	    "\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}",
	    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{"
	    "\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":null}]}",
	    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{"
	    "\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}",
	    "[DONE]",
	};
	struct translate_stream *s = translate_stream_new(ANTHROPIC, 0, NULL);
	struct translate_buf out = {0};
	struct sse ev[16];
	int n;

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		ASSERT_OK(translate_stream_feed(s, NULL, chunks[i], strlen(chunks[i]), &out));
	translate_stream_free(s);
	n = sse_split(out.data, ev, 16);
	ASSERT_EQ(n, 7);
	ASSERT_TRUE(anthropic_stream_ok(ev, n));
	ASSERT_STREQ(ev[1].event, "content_block_start");
	ASSERT_CONTAINS(ev[2].data, "\"text\":\"Hello\"");
	ASSERT_CONTAINS(ev[5].data, "\"stop_reason\":\"max_tokens\"");
	sse_free(ev, n);
	translate_buf_free(&out);
}

/* A provider's error message reaches the app whole, re-escaped, past an escaped U+0000 (where
 * cJSON's strings, and C's, end): "quota\u0000exceeded for X" must not come as "quota". */
#define WHOLE_MSG "quota\\u0000exceeded for \\\"X\\\""

static void check_error_whole(enum translate_api app, const char *body)
{
	int st = 0;
	char *out = NULL;
	size_t len;
	cJSON *v;

	ASSERT_OK(translate_error(app, 429, body, strlen(body), &st, &out, &len));
	ASSERT_EQ(len, strlen(out));
	ASSERT_CONTAINS(out, "\"message\":\"" WHOLE_MSG "\"");
	v = cJSON_Parse(out); /* valid JSON, for all that */
	ASSERT_TRUE(v != NULL);
	cJSON_Delete(v);
	free(out);
}

static void test_error_message_whole(void)
{
	static const char o_err[] = "{\"error\":{\"message\":\"" WHOLE_MSG "\","
				    "\"type\":\"insufficient_quota\",\"param\":null,"
				    "\"code\":\"insufficient_quota\"}}";
	static const char a_err[] = "{\"type\":\"error\",\"error\":{\"type\":"
				    "\"rate_limit_error\",\"message\":\"" WHOLE_MSG "\"}}";
	struct translate_buf out = {0};
	struct translate_stream *s;

	check_error_whole(ANTHROPIC, o_err);
	check_error_whole(OPENAI, a_err);
	check_error_whole(TRANSLATE_GEMINI_GENERATE, a_err);
	/* mid-stream: Anthropic's error event to an OpenAI app, OpenAI's to an Anthropic app */
	s = feed_anthropic(0, 5, &out);
	ASSERT_TRUE(s);
	ASSERT_OK(translate_stream_feed(s, "error", a_err, strlen(a_err), &out));
	ASSERT_CONTAINS(out.data, "{\"error\":{\"message\":\"" WHOLE_MSG "\",");
	translate_stream_free(s);
	translate_buf_free(&out);
	s = translate_stream_new(ANTHROPIC, 0, "gpt-4o");
	ASSERT_TRUE(s);
	ASSERT_OK(translate_stream_feed(s, NULL, o_err, strlen(o_err), &out));
	ASSERT_CONTAINS(out.data, "\"message\":\"" WHOLE_MSG "\"}}");
	translate_stream_free(s);
	translate_buf_free(&out);
}

UNIT_MAIN(UNIT_CASE(test_error_message_whole), UNIT_CASE(test_openai_request_basic), UNIT_CASE(test_openai_request_system_joined),
	  UNIT_CASE(test_tool_choice_without_tools),
	  UNIT_CASE(test_openai_request_tools), UNIT_CASE(test_openai_request_tool_choice),
	  UNIT_CASE(test_openai_request_images), UNIT_CASE(test_openai_request_refusals),
	  UNIT_CASE(test_openai_request_invalid), UNIT_CASE(test_anthropic_request_basic),
	  UNIT_CASE(test_anthropic_request_tools), UNIT_CASE(test_anthropic_request_refusals),
	  UNIT_CASE(test_round_trip_openai), UNIT_CASE(test_round_trip_anthropic),
	  UNIT_CASE(test_response_anthropic_to_openai),
	  UNIT_CASE(test_response_openai_to_anthropic), UNIT_CASE(test_response_refusal_and_length),
	  UNIT_CASE(test_response_negative_zero_counts),
	  UNIT_CASE(test_stop_reasons), UNIT_CASE(test_errors), UNIT_CASE(test_error_body),
	  UNIT_CASE(test_api_for_path), UNIT_CASE(test_stream_anthropic_to_openai),
	  UNIT_CASE(test_stream_anthropic_to_openai_no_usage),
	  UNIT_CASE(test_stream_openai_to_anthropic), UNIT_CASE(test_stream_upstream_errors),
	  UNIT_CASE(test_stream_truncated), UNIT_CASE(test_stream_protocol_errors),
	  UNIT_CASE(test_stream_text_only_anthropic_app))
