/* test_gemini.c: the Gemini API as the gateway reads it: the model from the path (and every
 * path trick that must name no model), the app's key out of the query string however it is
 * spelled, usageMetadata normalised (cached content inside the prompt, thoughts output), a
 * streamed answer's final usage, and Google's error format. */
#include <errno.h>
#include <stdlib.h>

#include "providers/api.h"
#include "providers/gemini.h"
#include "unit.h"

static void test_path_names_the_model(void)
{
	const struct provider_api *p;
	char model[GEMINI_MODEL_MAX];

	ASSERT_EQ(provider_api_for_path("/v1beta/models/gemini-2.5-flash:generateContent", &p),
		  USAGE_API_GEMINI_GENERATE);
	ASSERT_TRUE(p == &provider_gemini);
	ASSERT_EQ(provider_api_for_path("/v1/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
					&p),
		  USAGE_API_GEMINI_STREAM);
	ASSERT_EQ(provider_api_for_path("/v1beta/models/gemini-embedding-001:embedContent", &p),
		  USAGE_API_GEMINI_EMBED);
	ASSERT_EQ(provider_api_for_path("/v1beta/models/gemini-2.5-flash:countTokens", &p),
		  USAGE_API_GEMINI_COUNT_TOKENS);
	ASSERT_EQ(p->path_model("/v1beta/models/gemini-2.5-flash-lite:generateContent", 52, model,
				sizeof(model)),
		  1);
	ASSERT_STREQ(model, "gemini-2.5-flash-lite");
}

/* Each of these could be decoded or resolved by someone into another model: none is read. */
static void test_path_tricks_name_no_model(void)
{
	static const char *const tricks[] = {
	    "/v1beta/models/gemini-2.5-pr%6f:generateContent",
	    "/v1beta/models/%67emini-2.5-pro:generateContent",
	    "/v1beta/models/../models/gemini-2.5-pro:generateContent",
	    "/v1beta/models/gemini-2.5-flash/../gemini-2.5-pro:generateContent",
	    "/v1beta/models/gemini-2.5-flash:generateContent:generateContent",
	    "/v1beta/models/gemini-2.5-flash:generateContent/../../models/x:generateContent",
	    "/v1beta/models/..:generateContent",
	    "/v1beta/models/.hidden:generateContent",
	    "/v1beta/models/:generateContent",
	    "/v1beta/models/gemini-2.5-flash%3agenerateContent",
	    "/v1beta/models/gemini-2.5-flash:generatecontent",
	    "//v1beta/models/gemini-2.5-flash:generateContent",
	    "/v1beta/tunedModels/x:generateContent",
	};
	const struct provider_api *p;

	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		if (provider_api_for_path(tricks[i], &p) != -1)
			UNIT_FAIL("%s was read as a call", tricks[i]);
	}
}

static void check_strip(const char *in, const char *want)
{
	char *out = NULL;
	int r = gemini_query_strip_key(in, &out);

	if (!want) {
		ASSERT_EQ(r, 0);
		ASSERT_TRUE(out == NULL);
		ASSERT_EQ(gemini_query_has_key(in), 0);
		return;
	}
	ASSERT_EQ(r, 1);
	ASSERT_STREQ(out, want);
	ASSERT_EQ(gemini_query_has_key(out), 0);
	free(out);
}

static void test_key_leaves_the_query(void)
{
	const char *m = "/v1beta/models/m:streamGenerateContent";
	char in[256], want[256];
	static const char *const forms[][2] = {
	    {"?key=APPKEY", ""},
	    {"?alt=sse&key=APPKEY", "?alt=sse"},
	    {"?key=APPKEY&alt=sse", "?alt=sse"},
	    {"?KEY=A&alt=sse&Key=B", "?alt=sse"},
	    {"?%6Bey=A&alt=sse", "?alt=sse"},
	    {"?%4b%45%59=A", ""},
	    {"?alt=sse&key", "?alt=sse"},
	    {"?+key+=A&alt=sse", "?alt=sse"},
	    {"?alt=sse&&key=A&x=%20y", "?alt=sse&x=%20y"},
	    {"?access_token=ya29&alt=sse", "?alt=sse"},
	    {"?alt=sse&Access_Token=ya29", "?alt=sse"},
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(in, sizeof(in), "%s%s", m, forms[i][0]);
		snprintf(want, sizeof(want), "%s%s", m, forms[i][1]);
		check_strip(in, want);
	}
	check_strip("/v1beta/models/m:generateContent?alt=sse&keys=1&monkey=2&akey=3", NULL);
	check_strip("/v1beta/models/m:generateContent", NULL);
}

/* One rule for a Gemini call's query at every door: alt=sse once on a stream, the app's
 * credentials (left for gemini_query_strip_key()), nothing else. */
static void test_query_holds_only_what_the_gateway_reads(void)
{
	const enum usage_api S = USAGE_API_GEMINI_STREAM, G = USAGE_API_GEMINI_GENERATE;
	static const struct {
		int stream;
		const char *query;
		int want;
		const char *bad; /* the name the refusal gives */
	} cases[] = {
	    {1, "", 0, ""},
	    {1, "?", 0, ""},
	    {1, "?alt=sse", 1, ""},
	    {1, "alt=sse", 1, ""},
	    {1, "?key=A&alt=sse&&%6Bey=B&access_token=C", 1, ""},
	    {0, "?key=A", 0, ""},
	    {1, "?alt=json", -EINVAL, "alt"},
	    {1, "?alt=sse&alt=sse", -EINVAL, "alt"},
	    {1, "?alt=sse&alt=json", -EINVAL, "alt"},
	    {1, "?ALT=sse", -EINVAL, "ALT"},
	    {1, "?alt=SSE", -EINVAL, "alt"},
	    {1, "?%61lt=sse", -EINVAL, "%61lt"},
	    {1, "?$alt=json", -EINVAL, "$alt"},
	    {1, "?alt=sse&fields=candidates", -EINVAL, "fields"},
	    {1, "?alt=sse&prettyPrint=false", -EINVAL, "prettyPrint"},
	    {1, "?alt=sse?alt=json", -EINVAL, "alt=sse?alt=json"},
	    {1, "?=sse", -EINVAL, "=sse"},
	    {1, "?al\x01t=x", -EINVAL, "al?t"},
	    {0, "?alt=sse", -EINVAL, "alt"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char bad[64] = "";
		int r = gemini_query_check(cases[i].stream ? S : G, cases[i].query, bad, sizeof(bad));

		if (r != cases[i].want || strcmp(bad, cases[i].bad))
			UNIT_FAIL("%s: %d naming \"%s\", want %d naming \"%s\"", cases[i].query, r,
				  bad, cases[i].want, cases[i].bad);
	}
	ASSERT_EQ(gemini_query_check(USAGE_API_GEMINI_COUNT_TOKENS, "?upload_protocol=raw", NULL,
				     0),
		  -EINVAL);
}

/* The endpoint stage's roll-out forwards a query with only what gemini_query_check() lets
 * through: whatever was dropped, the rest passes the check. */
static void test_query_keep_read_leaves_what_the_check_passes(void)
{
	const enum usage_api S = USAGE_API_GEMINI_STREAM, G = USAGE_API_GEMINI_GENERATE;
	const char *m = "/v1beta/models/m:x";
	static const struct {
		int stream;
		const char *query;
		const char *want; /* NULL: nothing dropped */
	} cases[] = {
	    {1, "?alt=sse", NULL},
	    {1, "?key=A&alt=sse&&access_token=C", NULL},
	    {1, "", NULL},
	    {1, "?alt=json", ""},
	    {1, "?alt=sse&fields=candidates&key=A", "?alt=sse&key=A"},
	    {1, "?fields=x&alt=sse&alt=sse", "?alt=sse"},
	    {1, "?%61lt=json&alt=sse", "?alt=sse"},
	    {1, "?alt=sse?alt=json&KEY=A", "?KEY=A"},
	    {1, "?=sse&prettyPrint=false", ""},
	    {0, "?alt=sse&key=A", "?key=A"},
	};
	char in[256], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum usage_api api = cases[i].stream ? S : G;
		char *out = NULL;
		int r;

		snprintf(in, sizeof(in), "%s%s", m, cases[i].query);
		r = gemini_query_keep_read(api, in, &out);
		if (!cases[i].want) {
			ASSERT_EQ(r, 0);
			ASSERT_TRUE(out == NULL);
			continue;
		}
		snprintf(want, sizeof(want), "%s%s", m, cases[i].want);
		ASSERT_EQ(r, 1);
		ASSERT_STREQ(out, want);
		ASSERT_TRUE(gemini_query_check(api, strchr(out, '?') ? strchr(out, '?') : "", NULL,
					       0) >= 0);
		free(out);
	}
}

static void test_retarget(void)
{
	char *out;

	ASSERT_OK(gemini_retarget("/v1beta/models/fast:streamGenerateContent?alt=sse",
				  "gemini-2.5-flash", &out));
	ASSERT_STREQ(out, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
	free(out);
	ASSERT_EQ(gemini_retarget("/v1/chat/completions", "x", &out), -EINVAL);
}

/* Shaped after Google's documented usageMetadata of a thinking model with a cache hit. */
static const char body[] =
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},"
    "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":1200,"
    "\"candidatesTokenCount\":40,\"totalTokenCount\":1550,\"cachedContentTokenCount\":1024,"
    "\"thoughtsTokenCount\":300,\"toolUsePromptTokenCount\":10,\"promptTokensDetails\":"
    "[{\"modality\":\"TEXT\",\"tokenCount\":1200}]},\"modelVersion\":\"gemini-2.5-flash\","
    "\"responseId\":\"abc\"}";

static int read_body(const char *text, struct usage *u)
{
	return usage_from_body(USAGE_API_GEMINI_GENERATE, text, strlen(text), u, NULL, 0);
}

static void test_usage_normalised(void)
{
	struct usage u;
	char model[64];

	ASSERT_OK(usage_from_body(USAGE_API_GEMINI_GENERATE, body, sizeof(body) - 1, &u, model,
				  sizeof(model)));
	ASSERT_EQ(u.input, 1210);	/* prompt (cached inside) + tool-use prompt */
	ASSERT_EQ(u.cached_input, 1024);
	ASSERT_EQ(u.output, 340);	/* candidates + thoughts */
	ASSERT_EQ(u.reasoning, 300);
	ASSERT_EQ(u.known, USAGE_KNOWN_ALL);
	ASSERT_EQ(u.unpriced, 0);
	ASSERT_EQ(usage_from_body(USAGE_API_GEMINI_COUNT_TOKENS, "{\"totalTokens\":31}", 18, &u,
				  NULL, 0),
		  -ENOENT);
	ASSERT_EQ(read_body("{\"usageMetadata\":{\"promptTokenCount\":5,"
			    "\"cachedContentTokenCount\":6}}",
			    &u),
		  -EBADMSG);
	ASSERT_OK(read_body("{\"usageMetadata\":{\"promptTokenCount\":5,\"promptTokensDetails\":"
			    "[{\"modality\":\"AUDIO\",\"tokenCount\":5}]}}",
			    &u));
	ASSERT_EQ(u.unpriced, USAGE_UNPRICED_AUDIO);
}

static void feed(struct usage_stream *s, const char *data)
{
	usage_stream_event(s, NULL, data, strlen(data));
}

static void test_stream_usage(void)
{
	struct usage_stream s;

	usage_stream_init(&s, USAGE_API_GEMINI_STREAM, 0);
	feed(&s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]}}],\"usageMetadata\":"
		 "{\"promptTokenCount\":9,\"candidatesTokenCount\":1,\"totalTokenCount\":10}}");
	ASSERT_EQ(s.usage.known, USAGE_KNOWN_INPUT);
	ASSERT_EQ(s.end, USAGE_END_NONE);
	feed(&s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"B\"}]},\"finishReason\":"
		 "\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":7,"
		 "\"thoughtsTokenCount\":20,\"totalTokenCount\":36}}");
	ASSERT_EQ(s.end, USAGE_END_OK);
	ASSERT_EQ(s.usage.known, USAGE_KNOWN_ALL);
	ASSERT_EQ(s.usage.input, 9);
	ASSERT_EQ(s.usage.output, 27);
	ASSERT_EQ(s.usage.reasoning, 20);

	usage_stream_init(&s, USAGE_API_GEMINI_STREAM, 0);
	feed(&s, "{\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}");
	ASSERT_EQ(s.end, USAGE_END_ERROR);
	ASSERT_STREQ(s.error_type, "UNAVAILABLE");
}

static void test_error_format(void)
{
	size_t len;
	char *b = provider_gemini.error_body(429, "rate_limit", "aigw: slow down", &len);

	ASSERT_STREQ(b, "{\"error\":{\"code\":429,\"message\":\"aigw: slow down\","
			"\"status\":\"RESOURCE_EXHAUSTED\"}}");
	free(b);
}

UNIT_MAIN(UNIT_CASE(test_path_names_the_model), UNIT_CASE(test_path_tricks_name_no_model),
	  UNIT_CASE(test_key_leaves_the_query),
	  UNIT_CASE(test_query_holds_only_what_the_gateway_reads),
	  UNIT_CASE(test_query_keep_read_leaves_what_the_check_passes), UNIT_CASE(test_retarget),
	  UNIT_CASE(test_usage_normalised), UNIT_CASE(test_stream_usage),
	  UNIT_CASE(test_error_format))
