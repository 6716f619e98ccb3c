// SPDX-License-Identifier: MIT
/*
 * mockprov Anthropic: POST /v1/messages, plain and streaming ("event:"/"data:" pairs:
 * message_start with the input usage incl. cache_creation_input_tokens and
 * cache_read_input_tokens, content_block_start, ping, content_block_delta per word,
 * content_block_stop, message_delta with the cumulative output_tokens, message_stop), with
 * Anthropic's headers (request-id, anthropic-ratelimit-*) and error bodies
 * {"type":"error","error":{"type","message"},"request_id"}. The anthropic-version header and
 * max_tokens are required, as upstream. A forced tool call (tool_choice any or tool, or
 * x-mock-tool-call; toolcall.c): a tool_use block, streamed as its start and the input in
 * three input_json_delta pieces, stop_reason tool_use.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock.h"

#define ORG_ID "6a2f07e4-mock-4c1e-9d3b-000000000001"

static void reset_time(char *out, size_t cap)
{
	time_t t = g_cfg.deterministic ? (time_t)MOCK_DET_CREATED + 1 : time(NULL) + 1;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void limit_headers(struct evkeyvalq *h, const char *kind, int limit, int used, int limited,
			  const char *reset)
{
	char name[64], num[16];

	snprintf(name, sizeof(name), "anthropic-ratelimit-%s-limit", kind);
	snprintf(num, sizeof(num), "%d", limit);
	evhttp_add_header(h, name, num);
	snprintf(name, sizeof(name), "anthropic-ratelimit-%s-remaining", kind);
	snprintf(num, sizeof(num), "%d", limited ? 0 : limit - used);
	evhttp_add_header(h, name, num);
	snprintf(name, sizeof(name), "anthropic-ratelimit-%s-reset", kind);
	evhttp_add_header(h, name, reset);
}

void anthropic_headers(struct call *c, struct evkeyvalq *h)
{
	int limited = c->fault.mode == FAULT_RATELIMIT;
	char reset[32];

	reset_time(reset, sizeof(reset));
	evhttp_add_header(h, "request-id", c->request_id);
	evhttp_add_header(h, "anthropic-organization-id", ORG_ID);
	limit_headers(h, "requests", 4000, 1, limited, reset);
	limit_headers(h, "input-tokens", 400000, c->in_tokens, limited, reset);
	limit_headers(h, "output-tokens", 80000, c->out_words, limited, reset);
	limit_headers(h, "tokens", 480000, c->in_tokens + c->out_words, limited, reset);
}

void anthropic_error_body(struct call *c, struct evbuffer *b, const char *type, const char *msg)
{
	evbuffer_add_printf(b, "{\"type\":\"error\",\"error\":{\"type\":");
	json_str(b, type);
	evbuffer_add_printf(b, ",\"message\":");
	fault_message(c, b, msg);
	evbuffer_add_printf(b, "},\"request_id\":\"%s\"}\n", c->request_id);
}

static void bad_request(struct call *c, const char *msg)
{
	reply_error(c, 400, "invalid_request_error", msg, NULL, NULL);
}

/* Authentication (with --require-auth), anthropic-version and a JSON object body. */
int anthropic_check(struct call *c)
{
	const char *key = hdr(c, "x-api-key");
	const char *auth = hdr(c, "authorization");

	if (g_cfg.require_auth && (!key || !*key) && !auth) {
		reply_error(c, 401, "authentication_error", "x-api-key header is required", NULL,
			    NULL);
		return -1;
	}
	if (g_cfg.require_auth && strstr(key ? key : auth, "invalid")) {
		reply_error(c, 401, "authentication_error", "invalid x-api-key", NULL, NULL);
		return -1;
	}
	if (!hdr(c, "anthropic-version")) {
		bad_request(c, "anthropic-version: header is required");
		return -1;
	}
	if (!cJSON_IsObject(c->body)) {
		bad_request(c, "There was an error parsing the body of your request: the body must "
			       "be a valid JSON object.");
		return -1;
	}
	return 0;
}

static const cJSON *field(struct call *c, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(c->body, name);
}

static int validate(struct call *c)
{
	const cJSON *max = field(c, "max_tokens"), *msgs = field(c, "messages");

	if (!field(c, "model"))
		bad_request(c, "model: Field required");
	else if (!c->model)
		bad_request(c, "model: Input should be a valid string");
	else if (!max)
		bad_request(c, "max_tokens: Field required");
	else if (!cJSON_IsNumber(max) || max->valuedouble != (double)max->valueint)
		bad_request(c, "max_tokens: Input should be a valid integer");
	else if (max->valueint < 1)
		bad_request(c, "max_tokens: Input should be greater than or equal to 1");
	else if (!msgs)
		bad_request(c, "messages: Field required");
	else if (!cJSON_IsArray(msgs))
		bad_request(c, "messages: Input should be a valid list");
	else if (!cJSON_GetArraySize(msgs))
		bad_request(c, "messages: at least one message is required");
	else
		return 0;
	return -1;
}

static const char *stop_reason(struct call *c, const char *args)
{
	return args ? "tool_use" : c->truncated ? "max_tokens" : "end_turn";
}

static void usage(struct call *c, struct evbuffer *b, int out)
{
	evbuffer_add_printf(b,
			    "{\"input_tokens\":%d,\"cache_creation_input_tokens\":%d,"
			    "\"cache_read_input_tokens\":%d,\"cache_creation\":"
			    "{\"ephemeral_5m_input_tokens\":%d,\"ephemeral_1h_input_tokens\":0},"
			    "\"output_tokens\":%d,\"service_tier\":\"standard\"}",
			    c->in_tokens, c->cache_write, c->cache_read, c->cache_write, out);
}

/* A tool_use block calling the forced tool with ARGS (toolcall.c). */
static void tool_use(struct call *c, struct evbuffer *b, const char *args)
{
	char id[40];

	gen_id(id, sizeof(id), "toolu_01", 22, &c->rng);
	evbuffer_add_printf(b, "{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":", id);
	json_str(b, toolcall_name(c));
	evbuffer_add_printf(b, ",\"input\":%s}", args);
}

/* The message object; done: with content (a text block, or the call of ARGS), stop reason and
 * final usage. */
static void message(struct call *c, struct evbuffer *b, int done, const char *args)
{
	evbuffer_add_printf(b,
			    "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\","
			    "\"model\":",
			    c->id);
	json_str(b, c->model);
	evbuffer_add_printf(b, ",\"content\":[");
	if (done && args) {
		tool_use(c, b, args);
		evbuffer_add_printf(b, "],\"stop_reason\":\"%s\",", stop_reason(c, args));
	} else if (done) {
		evbuffer_add_printf(b, "{\"type\":\"text\",\"text\":\"");
		answer_text(c, b);
		evbuffer_add_printf(b, "\"}],\"stop_reason\":\"%s\",", stop_reason(c, args));
	} else {
		evbuffer_add_printf(b, "],\"stop_reason\":null,");
	}
	evbuffer_add_printf(b, "\"stop_sequence\":null,\"usage\":");
	usage(c, b, done ? c->out_words : 1);
	evbuffer_add(b, "}", 1);
}

static int plain(struct call *c, const char *args)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		reply_error(c, 500, "api_error", "out of memory", NULL, NULL);
		return CALL_DONE;
	}
	message(c, b, 1, args);
	evbuffer_add(b, "\n", 1);
	reply_send(c, 200, "OK", b, "application/json");
	evbuffer_free(b);
	return CALL_DONE;
}

/* message_delta usage: output_tokens only, or every count with x-mock-delta-usage: full. */
static void delta_usage(struct call *c, struct evbuffer *b)
{
	const char *mode = hdr(c, "x-mock-delta-usage");

	if (mode && !strcasecmp(mode, "full"))
		evbuffer_add_printf(b,
				    "{\"input_tokens\":%d,\"cache_creation_input_tokens\":%d,"
				    "\"cache_read_input_tokens\":%d,\"output_tokens\":%d}",
				    c->in_tokens, c->cache_write, c->cache_read, c->out_words);
	else
		evbuffer_add_printf(b, "{\"output_tokens\":%d}", c->out_words);
}

/* The call's block: its start with input {}, then ARGS in three input_json_delta pieces, as
 * Anthropic streams a tool_use's input. */
static int stream_tool_use(struct call *c, struct evbuffer *b, const char *args)
{
	size_t n = strlen(args), at = 0, piece;
	int err;

	evbuffer_add_printf(b, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":");
	tool_use(c, b, "{}");
	evbuffer_add(b, "}", 1);
	err = sse_event(c, "content_block_start", b);
	evbuffer_add_printf(b, "{\"type\": \"ping\"}");
	err |= sse_event(c, "ping", b);
	for (int i = 0; !err && i < 3; i++, at += piece) {
		piece = i < 2 ? n / 3 : n - at;
		evbuffer_add_printf(b, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
				       "{\"type\":\"input_json_delta\",\"partial_json\":\"");
		json_chars(b, args + at, piece);
		evbuffer_add_printf(b, "\"}}");
		err |= sse_event(c, "content_block_delta", b);
	}
	return err;
}

static int stream_text(struct call *c, struct evbuffer *b, int words)
{
	int i, err;

	evbuffer_add_printf(b, "{\"type\":\"content_block_start\",\"index\":0,"
			       "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
	err = sse_event(c, "content_block_start", b);
	evbuffer_add_printf(b, "{\"type\": \"ping\"}");
	err |= sse_event(c, "ping", b);
	for (i = 0; !err && i < words; i++) {
		evbuffer_add_printf(b, "{\"type\":\"content_block_delta\",\"index\":0,"
				       "\"delta\":{\"type\":\"text_delta\",\"text\":\"");
		answer_delta(c, b, i);
		evbuffer_add_printf(b, "\"}}");
		err |= sse_event(c, "content_block_delta", b);
	}
	return err;
}

static int stream_events(struct call *c, struct evbuffer *b, const char *args)
{
	int cut = c->fault.mode == FAULT_STREAM_OVERLOADED;
	int err = 0, words = cut && c->out_words > 1 ? 1 : c->out_words;

	evbuffer_add_printf(b, "{\"type\":\"message_start\",\"message\":");
	message(c, b, 0, args);
	evbuffer_add(b, "}", 1);
	err |= sse_event(c, "message_start", b);
	err |= args ? stream_tool_use(c, b, args) : stream_text(c, b, words);
	if (cut) { /* overloaded after the stream began, as Anthropic says it */
		evbuffer_add_printf(b, "{\"type\":\"error\",\"error\":{\"type\":"
				       "\"overloaded_error\",\"message\":\"Overloaded\"}}");
		return err | sse_event(c, "error", b);
	}
	evbuffer_add_printf(b, "{\"type\":\"content_block_stop\",\"index\":0}");
	err |= sse_event(c, "content_block_stop", b);
	evbuffer_add_printf(b,
			    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
			    "\"stop_sequence\":null},\"usage\":",
			    stop_reason(c, args));
	delta_usage(c, b);
	evbuffer_add(b, "}", 1);
	err |= sse_event(c, "message_delta", b);
	evbuffer_add_printf(b, "{\"type\":\"message_stop\"}");
	err |= sse_event(c, "message_stop", b);
	return err;
}

static int stream(struct call *c, const char *args)
{
	struct evbuffer *b = evbuffer_new();
	int err = !b || stream_events(c, b, args);

	if (b)
		evbuffer_free(b);
	if (err) {
		reply_error(c, 500, "api_error", "out of memory", NULL, NULL);
		return CALL_DONE;
	}
	return stream_start(c);
}

int anthropic_messages(struct call *c)
{
	uint64_t seed = 0;
	char *args = NULL;
	int words, rc;

	if (validate(c))
		return CALL_DONE;
	words = count_content_words(field(c, "system"), &seed);
	words += count_content_words(field(c, "messages"), &seed);
	if (call_plan(c, words, seed, field(c, "max_tokens"), field(c, "messages")))
		return CALL_DONE;
	gen_id(c->id, sizeof(c->id), "msg_01", 22, &c->rng);
	if (toolcall_name(c)) { /* a forced call: its tokens are the output (toolcall.c) */
		args = toolcall_args_text(c, &c->out_words);
		if (!args) {
			reply_error(c, 500, "api_error", "out of memory", NULL, NULL);
			return CALL_DONE;
		}
	}
	rc = c->stream ? stream(c, args) : plain(c, args);
	free(args);
	return rc;
}
