/* test_bedrock.c: the AWS event-stream framing (both CRCs checked, the same messages however
 * the bytes are cut, a bad CRC or an oversized frame a clear error), Bedrock's paths (the model
 * from the path, encoding tricks refused) and its usage, whole and streamed. */
#include <errno.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "providers/bedrock.h"
#include "providers/eventstream.h"
#include "unit.h"

static const char *const ev_names[] = {":message-type", ":event-type", ":content-type"};

static long frame(uint8_t *buf, size_t size, const char *event, const char *payload)
{
	const char *values[] = {"event", event, "application/json"};

	return evstream_write(buf, size, ev_names, values, 3, payload, strlen(payload));
}

/* A chunk event of InvokeModelWithResponseStream carrying JSON. */
static long chunk(uint8_t *buf, size_t size, const char *json)
{
	char b64[2048], payload[2200];

	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)json, (int)strlen(json));
	snprintf(payload, sizeof(payload), "{\"bytes\":\"%s\",\"p\":\"abc\"}", b64);
	return frame(buf, size, "chunk", payload);
}

struct seen {
	unsigned n;
	char last_event[64];
	size_t payload_bytes;
};

static int on_msg(void *arg, const struct evstream_msg *m)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last_event, sizeof(s->last_event), "%.*s", (int)m->event_type.len,
		 m->event_type.p);
	s->payload_bytes += m->payload_len;
	return 0;
}

static void test_frames_same_however_cut(void)
{
	uint8_t buf[4096];
	long n1 = frame(buf, sizeof(buf), "messageStart", "{\"role\":\"assistant\"}");
	long n2 = frame(buf + n1, sizeof(buf) - n1, "metadata", "{\"usage\":{}}");
	size_t total = (size_t)(n1 + n2);

	ASSERT_TRUE(n1 > 0 && n2 > 0);
	for (size_t step = 1; step <= total; step++) {
		struct evstream_parser p;
		struct seen s = {0};

		evstream_parser_init(&p, 0, on_msg, &s);
		for (size_t off = 0; off < total; off += step)
			ASSERT_OK(evstream_feed(&p, buf + off, off + step > total ? total - off : step));
		ASSERT_EQ(s.n, 2);
		ASSERT_STREQ(s.last_event, "metadata");
		ASSERT_EQ(s.payload_bytes, strlen("{\"role\":\"assistant\"}{\"usage\":{}}"));
		ASSERT_TRUE(!evstream_pending(&p));
		evstream_parser_free(&p);
	}
}

/* A message trickled a byte at a time (a hostile upstream's 1-byte TLS records) is checked
 * and parsed once it is whole, not once per byte: its CRCs cost one pass. */
static void test_trickled_frame_parsed_once(void)
{
	uint8_t buf[4096];
	long n = frame(buf, sizeof(buf), "contentBlockDelta", "{\"delta\":{\"text\":\"hello\"}}");
	struct evstream_parser p;
	struct seen s = {0};

	ASSERT_TRUE(n > 0);
	int err = 0;

	evstream_parser_init(&p, 0, on_msg, &s);
	for (long off = 0; off < n && !err; off++)
		err = evstream_feed(&p, buf + off, 1);
	evstream_parser_free(&p);
	fprintf(stderr, "  %ld bytes fed one at a time: %lu parses\n", n, p.parses);
	ASSERT_OK(err);
	ASSERT_EQ(s.n, 1);
	ASSERT_EQ(p.parses, 1);
}

/* A prelude whose header length does not fit its message is refused when the prelude is in,
 * a byte at a time as whole (the fuzzer's a.err == c.err). */
static void test_trickled_bad_header_length_refused_at_prelude(void)
{
	uint8_t buf[4096];
	long n = frame(buf, sizeof(buf), "contentBlockDelta", "{}");
	uint32_t c;
	struct evstream_parser p;
	int err = 0;
	long off;

	ASSERT_TRUE(n > 0);
	buf[4] = buf[5] = buf[6] = 0; /* headers longer than the message */
	buf[7] = (uint8_t)n;
	c = (uint32_t)crc32(0L, buf, 8);
	buf[8] = c >> 24, buf[9] = c >> 16, buf[10] = c >> 8, buf[11] = (uint8_t)c;
	ASSERT_EQ(evstream_parse(buf, (size_t)n, EVSTREAM_DEFAULT_MAX, &(struct evstream_msg){0}),
		  -EMSGSIZE);
	evstream_parser_init(&p, 0, NULL, NULL);
	for (off = 0; off < n && !err; off++)
		err = evstream_feed(&p, buf + off, 1);
	evstream_parser_free(&p);
	ASSERT_EQ(err, -EMSGSIZE);
	ASSERT_EQ(off, 12);
}

static void test_bad_crcs_refused(void)
{
	uint8_t buf[512];
	long n = frame(buf, sizeof(buf), "metadata", "{\"usage\":{}}");
	struct evstream_msg m;

	buf[n - 6] ^= 1; /* payload: the message CRC no longer matches */
	ASSERT_EQ(evstream_parse(buf, n, EVSTREAM_DEFAULT_MAX, &m), -EBADMSG);
	buf[n - 6] ^= 1;
	ASSERT_EQ(evstream_parse(buf, n, EVSTREAM_DEFAULT_MAX, &m), n);
	buf[3] ^= 1; /* the total length: the prelude CRC no longer matches */
	ASSERT_EQ(evstream_parse(buf, n, EVSTREAM_DEFAULT_MAX, &m), -EBADMSG);
}

static void test_oversized_frame_refused_before_buffered(void)
{
	uint8_t buf[512];
	long n = frame(buf, sizeof(buf), "chunk", "{}");
	struct evstream_parser p;

	evstream_parser_init(&p, 32, NULL, NULL); /* the frame is longer than 32 bytes */
	ASSERT_EQ(evstream_feed(&p, buf, 12), -EMSGSIZE);
	ASSERT_EQ(evstream_feed(&p, buf + 12, n - 12), -EMSGSIZE); /* it sticks */
	ASSERT_TRUE(p.cap <= 32);
	evstream_parser_free(&p);
}

static void test_path_model_and_tricks(void)
{
	struct bedrock_path b;
	const char *p;

	p = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream";
	ASSERT_OK(bedrock_parse_path(p, strlen(p), &b));
	ASSERT_EQ(b.op, BEDROCK_CONVERSE_STREAM);
	ASSERT_STREQ(b.model, "us.anthropic.claude-sonnet-4-20250514-v1:0");
	p = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-"
	    "haiku-20240307-v1%3A0/invoke";
	ASSERT_OK(bedrock_parse_path(p, strlen(p), &b));
	ASSERT_EQ(b.op, BEDROCK_INVOKE);
	ASSERT_STREQ(b.model, "anthropic.claude-3-haiku-20240307-v1:0");
	p = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fabc/invoke";
	ASSERT_OK(bedrock_parse_path(p, strlen(p), &b));
	ASSERT_STREQ(b.model, "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc");
	p = "/model/x/invoke-with-response-stream";
	ASSERT_OK(bedrock_parse_path(p, strlen(p), &b));
	ASSERT_EQ(b.op, BEDROCK_INVOKE_STREAM);
	/* tricks: a double-encoded or NUL byte, dot segments, an extra segment, no id */
	static const char *const bad[] = {"/model/a%252Fb/converse", "/model/a%00b/converse",
					  "/model/%2E%2E/converse", "/model/a%2F%2E%2E%2Fb/invoke",
					  "/model/a%2/converse", "/model//converse"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_EQ(bedrock_parse_path(bad[i], strlen(bad[i]), &b), -EINVAL);
	p = "/model/a/b/converse"; /* an unencoded '/': the id is "a/b", as the allow-list sees */
	ASSERT_OK(bedrock_parse_path(p, strlen(p), &b));
	ASSERT_STREQ(b.model, "a/b");
	p = "/model/a/b/../converse";
	ASSERT_EQ(bedrock_parse_path(p, strlen(p), &b), -EINVAL);
	ASSERT_STREQ(b.model, "");
	p = "/model/a/chat";
	ASSERT_EQ(bedrock_parse_path(p, strlen(p), &b), -ENOENT);
	p = "/v1/messages";
	ASSERT_EQ(bedrock_parse_path(p, strlen(p), &b), -ENOENT);
	ASSERT_TRUE(bedrock_host("bedrock-runtime.us-east-1.amazonaws.com"));
	ASSERT_TRUE(bedrock_host("bedrock-runtime-fips.us-west-2.amazonaws.com"));
	ASSERT_TRUE(!bedrock_host("bedrock-runtime.amazonaws.com"));
	ASSERT_TRUE(!bedrock_host("bedrock-runtime.us-east-1.amazonaws.com.evil.example"));
}

static void test_whole_usage(void)
{
	const char *c = "{\"output\":{},\"usage\":{\"inputTokens\":10,\"outputTokens\":5,"
			"\"totalTokens\":15,\"cacheReadInputTokens\":100,"
			"\"cacheWriteInputTokens\":7}}";
	const char *a = "{\"type\":\"message\",\"usage\":{\"input_tokens\":12,\"output_tokens\":3}}";
	struct usage u;

	ASSERT_OK(bedrock_converse_usage(c, strlen(c), &u));
	ASSERT_EQ(u.input, 117);
	ASSERT_EQ(u.cached_input, 100);
	ASSERT_EQ(u.cache_write, 7);
	ASSERT_EQ(u.output, 5);
	ASSERT_EQ(bedrock_converse_usage("{}", 2, &u), -ENOENT);
	ASSERT_OK(bedrock_invoke_usage(a, strlen(a), "99", "99", &u));
	ASSERT_EQ(u.input, 12); /* the body's, not the headers' */
	ASSERT_EQ(u.output, 3);
	ASSERT_OK(bedrock_invoke_usage("{\"x\":1}", 7, "21", "4", &u));
	ASSERT_EQ(u.input, 21);
	ASSERT_EQ(u.output, 4);
	ASSERT_EQ(bedrock_invoke_usage("{\"x\":1}", 7, "-1", "4", &u), -EBADMSG);
	ASSERT_EQ(bedrock_invoke_usage("{\"x\":1}", 7, NULL, NULL, &u), -ENOENT);
}

/* The other families' InvokeModel bodies, as AWS documents them: each one's own counts, the
 * count headers only when the body states none, an unknown family unknown. */
static void test_invoke_family_usage(void)
{
	static const struct {
		const char *body;
		int64_t in, out;
	} ok[] = {
	    {"{\"generation\":\"Hi.\",\"prompt_token_count\":11,\"generation_token_count\":2,"
	     "\"stop_reason\":\"stop\"}", 11, 2},
	    {"{\"inputTextTokenCount\":9,\"results\":[{\"tokenCount\":4,\"outputText\":\"a\","
	     "\"completionReason\":\"FINISHED\"},{\"tokenCount\":3}]}", 9, 7},
	    {"{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"x\"}]}},"
	     "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":6,\"outputTokens\":1,"
	     "\"totalTokens\":7}}", 6, 1},
	    /* Mistral: no counts in the body, the headers' */
	    {"{\"outputs\":[{\"text\":\"x\",\"stop_reason\":\"stop\"}]}", 30, 40},
	};
	static const char *const bad[] = {
	    "{\"prompt_token_count\":11}", /* half a Llama count */
	    "{\"prompt_token_count\":-1,\"generation_token_count\":2}",
	    "{\"inputTextTokenCount\":9,\"results\":[{\"outputText\":\"a\"}]}",
	    "{\"inputTextTokenCount\":9}",
	};
	const char *cohere = "{\"generations\":[{\"text\":\"x\"}]}";
	struct usage u;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ASSERT_OK(bedrock_invoke_usage(ok[i].body, strlen(ok[i].body), "30", "40", &u));
		ASSERT_EQ(u.input, ok[i].in);
		ASSERT_EQ(u.output, ok[i].out);
		ASSERT_EQ(u.known, USAGE_KNOWN_ALL);
		ASSERT_EQ(u.cached_input, 0);
	}
	/* a body's own broken counts are not read as another's: the headers then */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_OK(bedrock_invoke_usage(bad[i], strlen(bad[i]), "30", "40", &u));
		ASSERT_EQ(u.input, 30);
		ASSERT_EQ(u.output, 40);
		ASSERT_TRUE(bedrock_invoke_usage(bad[i], strlen(bad[i]), NULL, NULL, &u) < 0);
		ASSERT_EQ(u.known, 0);
	}
	/* Cohere's body states none either; without headers nothing is guessed */

	ASSERT_EQ(bedrock_invoke_usage(cohere, strlen(cohere), NULL, NULL, &u),
		  -ENOENT);
	ASSERT_EQ(u.known, 0);
}

static void test_converse_stream_usage(void)
{
	uint8_t buf[2048];
	long n = frame(buf, sizeof(buf), "contentBlockDelta", "{\"delta\":{\"text\":\"hi\"}}");
	struct bedrock_stream s;
	struct usage u;

	n += frame(buf + n, sizeof(buf) - n, "metadata",
		   "{\"usage\":{\"inputTokens\":3,\"outputTokens\":2,\"totalTokens\":5,"
		   "\"cacheReadInputTokens\":4},\"metrics\":{\"latencyMs\":9}}");
	bedrock_stream_init(&s, BEDROCK_CONVERSE_STREAM);
	ASSERT_OK(bedrock_stream_feed(&s, buf, n - 3));
	ASSERT_EQ(bedrock_stream_end(&s, &u), -EPIPE); /* cut short */
	ASSERT_OK(bedrock_stream_feed(&s, buf + n - 3, 3));
	ASSERT_OK(bedrock_stream_end(&s, &u));
	ASSERT_EQ(u.input, 7);
	ASSERT_EQ(u.cached_input, 4);
	ASSERT_EQ(u.output, 2);
	bedrock_stream_free(&s);
}

static void test_invoke_stream_usage(void)
{
	uint8_t buf[8192];
	long n = 0;
	struct bedrock_stream s;
	struct usage u;

	n += chunk(buf + n, sizeof(buf) - n,
		   "{\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":"
		   "{\"input_tokens\":11,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}");
	n += chunk(buf + n, sizeof(buf) - n,
		   "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":8}}");
	n += chunk(buf + n, sizeof(buf) - n,
		   "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":"
		   "{\"inputTokenCount\":11,\"outputTokenCount\":8}}");
	bedrock_stream_init(&s, BEDROCK_INVOKE_STREAM);
	ASSERT_OK(bedrock_stream_feed(&s, buf, n));
	ASSERT_OK(bedrock_stream_end(&s, &u));
	ASSERT_EQ(u.input, 16);
	ASSERT_EQ(u.cached_input, 5);
	ASSERT_EQ(u.output, 8);
	ASSERT_TRUE(s.metrics);
	bedrock_stream_free(&s);
}

static void test_stream_exception_and_bad_crc(void)
{
	static const char *const names[] = {":message-type", ":exception-type"};
	static const char *const values[] = {"exception", "throttlingException"};
	uint8_t buf[1024];
	long n = evstream_write(buf, sizeof(buf), names, values, 2, "{\"message\":\"slow\"}", 18);
	struct bedrock_stream s;
	struct usage u;

	bedrock_stream_init(&s, BEDROCK_CONVERSE_STREAM);
	ASSERT_OK(bedrock_stream_feed(&s, buf, n));
	ASSERT_EQ(bedrock_stream_end(&s, &u), -EPROTO);
	ASSERT_STREQ(s.error, "throttlingException");
	bedrock_stream_free(&s);
	buf[n - 1] ^= 0xff;
	bedrock_stream_init(&s, BEDROCK_CONVERSE_STREAM);
	ASSERT_EQ(bedrock_stream_feed(&s, buf, n), -EBADMSG);
	ASSERT_EQ(bedrock_stream_end(&s, &u), -EBADMSG);
	bedrock_stream_free(&s);
}

UNIT_MAIN(UNIT_CASE(test_frames_same_however_cut), UNIT_CASE(test_trickled_frame_parsed_once),
	  UNIT_CASE(test_trickled_bad_header_length_refused_at_prelude),
	  UNIT_CASE(test_bad_crcs_refused),
	  UNIT_CASE(test_oversized_frame_refused_before_buffered),
	  UNIT_CASE(test_path_model_and_tricks),
	  UNIT_CASE(test_whole_usage),
	  UNIT_CASE(test_invoke_family_usage), UNIT_CASE(test_converse_stream_usage),
	  UNIT_CASE(test_invoke_stream_usage),
	  UNIT_CASE(test_stream_exception_and_bad_crc))
