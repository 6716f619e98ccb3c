// SPDX-License-Identifier: MIT
/*
 * mockprov OpenAI: POST /v1/chat/completions (plain and SSE "data:" chunks ending with
 * "data: [DONE]", the usage chunk with "choices": [] only with stream_options.include_usage),
 * POST /v1/embeddings (float or base64) and POST /v1/responses (plain and typed SSE events from
 * response.created to response.completed), with OpenAI's headers and error bodies
 * {"error":{"message","type","param","code"}}.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock.h"

#define FINGERPRINT "fp_mock0001"
#define EMBED_DIM 1536
#define EMBED_MAX_DIM 4096
#define EMBED_MAX_INPUTS 2048

void openai_headers(struct call *c, struct evkeyvalq *h)
{
	int limited = c->fault.mode == FAULT_RATELIMIT;
	char num[32];

	evhttp_add_header(h, "openai-organization", "mock-org");
	snprintf(num, sizeof(num), "%d", 10 + c->out_words);
	evhttp_add_header(h, "openai-processing-ms", num);
	evhttp_add_header(h, "openai-project", "proj_mock");
	evhttp_add_header(h, "openai-version", "2020-10-01");
	evhttp_add_header(h, "x-request-id", c->request_id);
	evhttp_add_header(h, "x-ratelimit-limit-requests", "10000");
	evhttp_add_header(h, "x-ratelimit-limit-tokens", "30000000");
	evhttp_add_header(h, "x-ratelimit-remaining-requests", limited ? "0" : "9999");
	snprintf(num, sizeof(num), "%d", limited ? 0 : 30000000 - c->in_tokens);
	evhttp_add_header(h, "x-ratelimit-remaining-tokens", num);
	evhttp_add_header(h, "x-ratelimit-reset-requests", limited ? "1s" : "6ms");
	evhttp_add_header(h, "x-ratelimit-reset-tokens", limited ? "1s" : "0s");
}

void openai_error_body(struct call *c, struct evbuffer *b, const char *type, const char *msg,
		       const char *param, const char *code)
{
	evbuffer_add_printf(b, "{\"error\":{\"message\":");
	fault_message(c, b, msg);
	evbuffer_add_printf(b, ",\"type\":");
	json_str(b, type);
	evbuffer_add_printf(b, ",\"param\":");
	json_str_or_null(b, param);
	evbuffer_add_printf(b, ",\"code\":");
	json_str_or_null(b, code);
	evbuffer_add_printf(b, "}}\n");
}

static void bad_request(struct call *c, const char *msg, const char *param, const char *code)
{
	reply_error(c, 400, "invalid_request_error", msg, param, code);
}

/* Authentication (with --require-auth) and a JSON object body. Returns 0, or -1 if answered. */
int openai_check(struct call *c)
{
	const char *auth = hdr(c, "authorization");

	if (g_cfg.require_auth && (!auth || strncasecmp(auth, "Bearer ", 7) || !auth[7])) {
		reply_error(c, 401, "invalid_request_error",
			    "You didn't provide an API key. You need to provide your API key in an "
			    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
			    "YOUR_KEY).",
			    NULL, NULL);
		return -1;
	}
	if (g_cfg.require_auth && strstr(auth, "invalid")) {
		reply_error(c, 401, "invalid_request_error",
			    "Incorrect API key provided. You can find your API key at "
			    "https://platform.openai.com/account/api-keys.",
			    NULL, "invalid_api_key");
		return -1;
	}
	if (!cJSON_IsObject(c->body)) {
		bad_request(c,
			    "We could not parse the JSON body of your request. (HINT: This likely "
			    "means you aren't using your HTTP library correctly. The OpenAI API "
			    "expects a JSON payload, but what was sent was not valid JSON.)",
			    NULL, NULL);
		return -1;
	}
	return 0;
}

static const cJSON *field(struct call *c, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(c->body, name);
}

static int require_model(struct call *c)
{
	if (c->model && *c->model)
		return 0;
	bad_request(c, "you must provide a model parameter", NULL, NULL);
	return -1;
}

static void missing(struct call *c, const char *name)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "Missing required parameter: '%s'.", name);
	bad_request(c, msg, name, "missing_required_parameter");
}

static int send_body(struct call *c, struct evbuffer *b)
{
	reply_send(c, 200, "OK", b, "application/json");
	evbuffer_free(b);
	return CALL_DONE;
}

static int out_of_memory(struct call *c)
{
	reply_error(c, 500, "server_error", "out of memory", NULL, NULL);
	return CALL_DONE;
}

/* ---- chat completions ---- */

/* x-mock-usage-cost: NUMBER puts "cost": NUMBER in the usage, as OpenRouter reports it. */
static void chat_usage(struct call *c, struct evbuffer *b)
{
	const char *cost = hdr(c, "x-mock-usage-cost");

	evbuffer_add_printf(b,
			    "{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
			    "\"prompt_tokens_details\":{\"cached_tokens\":%d,\"audio_tokens\":0},"
			    "\"completion_tokens_details\":{\"reasoning_tokens\":0,"
			    "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
			    "\"rejected_prediction_tokens\":0}",
			    c->in_tokens, c->out_words, c->in_tokens + c->out_words, c->cache_read);
	if (cost && cost[0] && cost[0] != '-' && strspn(cost, "0123456789.e-") == strlen(cost))
		evbuffer_add_printf(b, ",\"cost\":%s", cost);
	evbuffer_add(b, "}", 1);
}

static const char *finish_reason(struct call *c)
{
	return c->truncated ? "length" : "stop";
}

static int chat_plain(struct call *c)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return out_of_memory(c);
	evbuffer_add_printf(b,
			    "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%lld,"
			    "\"model\":",
			    c->id, c->created);
	json_str(b, c->model);
	evbuffer_add_printf(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
			       "\"content\":\"");
	answer_text(c, b);
	evbuffer_add_printf(b,
			    "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
			    "\"finish_reason\":\"%s\"}],\"usage\":",
			    finish_reason(c));
	chat_usage(c, b);
	evbuffer_add_printf(b, ",\"service_tier\":\"default\",\"system_fingerprint\":\"%s\"}\n",
			    FINGERPRINT);
	return send_body(c, b);
}

static void chunk_head(struct call *c, struct evbuffer *b)
{
	evbuffer_add_printf(b,
			    "{\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%lld,"
			    "\"model\":",
			    c->id, c->created);
	json_str(b, c->model);
	evbuffer_add_printf(b,
			    ",\"service_tier\":\"default\",\"system_fingerprint\":\"%s\","
			    "\"choices\":",
			    FINGERPRINT);
}

/* Chunk i of a chat stream: -1 the role, 0..n-1 the words, n the finish reason. */
static int chat_chunk(struct call *c, struct evbuffer *b, int i)
{
	chunk_head(c, b);
	evbuffer_add_printf(b, "[{\"index\":0,\"delta\":{");
	if (i < 0) {
		evbuffer_add_printf(b, "\"role\":\"assistant\",\"content\":\"\",\"refusal\":null");
	} else if (i < c->out_words) {
		evbuffer_add_printf(b, "\"content\":\"");
		answer_delta(c, b, i);
		evbuffer_add(b, "\"", 1);
	}
	evbuffer_add_printf(b, "},\"logprobs\":null,\"finish_reason\":");
	if (i < c->out_words)
		evbuffer_add_printf(b, "null}]");
	else
		evbuffer_add_printf(b, "\"%s\"}]", finish_reason(c));
	evbuffer_add_printf(b, "%s}", c->include_usage ? ",\"usage\":null" : "");
	return sse_data(c, b);
}

/* Faults stream_tokens, stream_requests: a rate limit met mid-stream, as OpenAI sends it (an
 * error object for data, then the end: no [DONE]). */
static int chat_stream_error(struct call *c, struct evbuffer *b)
{
	const char *type = c->fault.mode == FAULT_STREAM_TOKENS ? "tokens" : "requests";

	evbuffer_add_printf(b,
			    "{\"error\":{\"message\":\"Rate limit reached for %s per min\","
			    "\"type\":\"%s\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
			    type, type);
	return sse_data(c, b);
}

/* A chat stream's end: the usage chunk when asked for, then [DONE]. */
static int chat_stream_end(struct call *c, struct evbuffer *b)
{
	int err = 0;

	if (c->include_usage) {
		chunk_head(c, b);
		evbuffer_add_printf(b, "[],\"usage\":");
		chat_usage(c, b);
		evbuffer_add(b, "}", 1);
		err = sse_data(c, b);
	}
	return err ? err : sse_raw(c, "data: [DONE]\n\n");
}

static int chat_stream(struct call *c)
{
	struct evbuffer *b = evbuffer_new();
	int cut = c->fault.mode == FAULT_STREAM_TOKENS || c->fault.mode == FAULT_STREAM_REQUESTS;
	int i, err = !b, last = cut ? 0 : c->out_words;

	for (i = -1; !err && i <= last; i++)
		err = chat_chunk(c, b, i);
	if (!err)
		err = cut ? chat_stream_error(c, b) : chat_stream_end(c, b);
	if (b)
		evbuffer_free(b);
	if (err)
		return out_of_memory(c);
	return stream_start(c);
}

/* A forced function call (toolcall.c), whole or streamed: the call's tokens are the output. */
static int chat_tool_call(struct call *c, int stream)
{
	struct evbuffer *b = evbuffer_new();
	char *args = toolcall_args_text(c, &c->out_words), id[40];
	size_t half = args ? strlen(args) / 2 : 0;
	int err = !b || !args;

	gen_id(id, sizeof(id), "call_", 24, &c->rng);
	if (!err && !stream) {
		evbuffer_add_printf(b, "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":"
				       "%lld,\"model\":", c->id, c->created);
		json_str(b, c->model);
		evbuffer_add_printf(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
				       "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"%s\","
				       "\"type\":\"function\",\"function\":{\"name\":", id);
		json_str(b, toolcall_name(c));
		evbuffer_add_printf(b, ",\"arguments\":");
		json_str(b, args);
		evbuffer_add_printf(b, "}}],\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
				       "\"finish_reason\":\"tool_calls\"}],\"usage\":");
		chat_usage(c, b);
		evbuffer_add_printf(b, ",\"system_fingerprint\":\"%s\"}\n", FINGERPRINT);
		free(args);
		return send_body(c, b);
	}
	for (int i = 0; !err && i < 4; i++) { /* role + call, two argument pieces, finish */
		chunk_head(c, b);
		evbuffer_add_printf(b, "[{\"index\":0,\"delta\":{");
		if (!i) {
			evbuffer_add_printf(b, "\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
					       "[{\"index\":0,\"id\":\"%s\",\"type\":\"function\","
					       "\"function\":{\"name\":", id);
			json_str(b, toolcall_name(c));
			evbuffer_add_printf(b, ",\"arguments\":\"\"}}]");
		} else if (i < 3) {
			evbuffer_add_printf(b, "\"tool_calls\":[{\"index\":0,\"function\":{"
					       "\"arguments\":\"");
			json_chars(b, i == 1 ? args : args + half, i == 1 ? half : strlen(args) - half);
			evbuffer_add_printf(b, "\"}}]");
		}
		evbuffer_add_printf(b, "},\"logprobs\":null,\"finish_reason\":%s}]%s}",
				    i == 3 ? "\"tool_calls\"" : "null",
				    c->include_usage ? ",\"usage\":null" : "");
		err = sse_data(c, b);
	}
	if (!err)
		err = chat_stream_end(c, b);
	free(args);
	if (b)
		evbuffer_free(b);
	return err ? out_of_memory(c) : stream_start(c);
}

/* OpenAI refuses a tool call id longer than 40 characters (its words, param and code): an id
 * another provider issued must be made to fit before it comes here. Returns 0, or -1 if
 * answered. */
static int tool_call_ids_fit(struct call *c, const cJSON *msgs)
{
	char msg[200], param[64];
	int i = 0, j;
	const cJSON *m, *tc;

	cJSON_ArrayForEach(m, msgs) {
		j = 0;
		cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls")) {
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tc, "id"));

			if (id && strlen(id) > 40) {
				snprintf(param, sizeof(param), "messages[%d].tool_calls[%d].id", i, j);
				snprintf(msg, sizeof(msg),
					 "Invalid '%s': string too long. Expected a string with maximum "
					 "length 40, but got a string with length %zu instead.",
					 param, strlen(id));
				bad_request(c, msg, param, "string_above_max_length");
				return -1;
			}
			j++;
		}
		i++;
	}
	return 0;
}

int openai_chat(struct call *c)
{
	const cJSON *msgs = field(c, "messages");
	const cJSON *max = field(c, "max_completion_tokens");
	uint64_t seed = 0;
	int words;

	if (require_model(c))
		return CALL_DONE;
	if (!cJSON_IsArray(msgs)) {
		missing(c, "messages");
		return CALL_DONE;
	}
	if (!cJSON_GetArraySize(msgs)) {
		bad_request(
		    c,
		    "Invalid 'messages': empty array. Expected an array with minimum length "
		    "1, but got an empty array instead.",
		    "messages", "empty_array");
		return CALL_DONE;
	}
	if (field(c, "stream_options") && !c->stream) {
		bad_request(c,
			    "The 'stream_options' parameter is only allowed when 'stream' is "
			    "enabled.",
			    "stream_options", NULL);
		return CALL_DONE;
	}
	if (tool_call_ids_fit(c, msgs))
		return CALL_DONE;
	words = count_content_words(msgs, &seed);
	if (call_plan(c, words, seed, max ? max : field(c, "max_tokens"), msgs))
		return CALL_DONE;
	gen_id(c->id, sizeof(c->id), "chatcmpl-", 29, &c->rng);
	if (toolcall_name(c))
		return chat_tool_call(c, c->stream);
	return c->stream ? chat_stream(c) : chat_plain(c);
}

/* ---- embeddings ---- */

static float embed_value(uint64_t seed, int j)
{
	return (float)((double)(mix64(seed + j) >> 11) / 9007199254740992.0 * 0.1 - 0.05);
}

static void embed_vector(struct evbuffer *b, uint64_t seed, int dim, int base64)
{
	float v[EMBED_MAX_DIM];
	int j;

	for (j = 0; j < dim; j++)
		v[j] = embed_value(seed, j);
	if (base64) {
		base64_append(b, (const unsigned char *)v, dim * sizeof(float));
		return;
	}
	for (j = 0; j < dim; j++)
		evbuffer_add_printf(b, "%s%.9f", j ? "," : "", v[j]);
}

static int embed_item(struct evbuffer *b, const cJSON *in, int index, int dim, int base64)
{
	uint64_t seed = 0;
	int words = count_content_words(in, &seed);

	evbuffer_add_printf(b, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":%s",
			    index ? "," : "", index, base64 ? "\"" : "[");
	embed_vector(b, seed ^ (uint64_t)index, dim, base64);
	evbuffer_add_printf(b, "%s}", base64 ? "\"" : "]");
	return words;
}

static int embed_inputs_ok(const cJSON *input)
{
	const cJSON *it;
	int n = 0;

	if (cJSON_IsString(input))
		return 1;
	if (!cJSON_IsArray(input) || !cJSON_GetArraySize(input))
		return 0;
	for (it = input->child; it; it = it->next) {
		if (!cJSON_IsString(it) && !cJSON_IsNumber(it) && !cJSON_IsArray(it))
			return 0;
		n++;
	}
	return n <= EMBED_MAX_INPUTS;
}

int openai_embeddings(struct call *c)
{
	const cJSON *input = field(c, "input"), *dims = field(c, "dimensions"), *it;
	const char *fmt = cJSON_GetStringValue(field(c, "encoding_format"));
	int dim = EMBED_DIM, base64 = fmt && !strcmp(fmt, "base64"), words = 0, i = 0;
	struct evbuffer *b;

	if (require_model(c))
		return CALL_DONE;
	if (!input) {
		missing(c, "input");
		return CALL_DONE;
	}
	if (!embed_inputs_ok(input)) {
		bad_request(c, "'$.input' is invalid. Please check the API reference.", "input",
			    NULL);
		return CALL_DONE;
	}
	if (cJSON_IsNumber(dims) && dims->valuedouble >= 1 && dims->valuedouble <= EMBED_MAX_DIM)
		dim = (int)dims->valuedouble;
	b = evbuffer_new();
	if (!b)
		return out_of_memory(c);
	evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[");
	if (cJSON_IsString(input) || cJSON_IsNumber(cJSON_GetArrayItem(input, 0))) {
		/* one text, or one list of token ids */
		words = embed_item(b, input, 0, dim, base64);
	} else {
		for (it = input->child; it; it = it->next)
			words += embed_item(b, it, i++, dim, base64);
	}
	evbuffer_add_printf(b, "],\"model\":");
	json_str(b, c->model);
	evbuffer_add_printf(b, ",\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}}\n", words,
			    words);
	c->in_tokens = words;
	return send_body(c, b);
}

/* ---- files: GET /v1/files, an empty list (an endpoint that is not inference) ---- */

int openai_files(struct call *c)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return out_of_memory(c);
	evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[],\"has_more\":false}\n");
	return send_body(c, b);
}

/* ---- responses ---- */

static const char *resp_status(struct call *c)
{
	return c->truncated ? "incomplete" : "completed";
}

static void resp_part(struct call *c, struct evbuffer *b, int with_text)
{
	evbuffer_add_printf(b, "{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],"
			       "\"text\":\"");
	if (with_text)
		answer_text(c, b);
	evbuffer_add_printf(b, "\"}");
}

static void resp_item(struct call *c, struct evbuffer *b, int done)
{
	evbuffer_add_printf(b,
			    "{\"id\":\"%s\",\"type\":\"message\",\"status\":\"%s\","
			    "\"content\":[",
			    c->item_id, done ? resp_status(c) : "in_progress");
	if (done)
		resp_part(c, b, 1);
	evbuffer_add_printf(b, "],\"role\":\"assistant\"}");
}

static void resp_usage(struct call *c, struct evbuffer *b)
{
	evbuffer_add_printf(
	    b,
	    "{\"input_tokens\":%d,\"input_tokens_details\":{\"cached_tokens\":%d},"
	    "\"output_tokens\":%d,\"output_tokens_details\":{\"reasoning_tokens\":0},"
	    "\"total_tokens\":%d}",
	    c->in_tokens, c->cache_read, c->out_words, c->in_tokens + c->out_words);
}

/* The response object; done: with output and usage, else as created (in progress). */
static void resp_object(struct call *c, struct evbuffer *b, int done)
{
	const cJSON *max = field(c, "max_output_tokens");

	evbuffer_add_printf(b,
			    "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":%lld,"
			    "\"status\":\"%s\",\"background\":false,\"error\":null,"
			    "\"incomplete_details\":%s,\"instructions\":",
			    c->id, c->created, done ? resp_status(c) : "in_progress",
			    done && c->truncated ? "{\"reason\":\"max_output_tokens\"}" : "null");
	json_str_or_null(b, cJSON_GetStringValue(field(c, "instructions")));
	if (cJSON_IsNumber(max))
		evbuffer_add_printf(b, ",\"max_output_tokens\":%d", max->valueint);
	else
		evbuffer_add_printf(b, ",\"max_output_tokens\":null");
	evbuffer_add_printf(b, ",\"model\":");
	json_str(b, c->model);
	evbuffer_add_printf(b, ",\"output\":[");
	if (done)
		resp_item(c, b, 1);
	evbuffer_add_printf(b, "],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
			       "\"reasoning\":{\"effort\":null,\"summary\":null},"
			       "\"service_tier\":\"default\",\"store\":true,\"temperature\":1.0,"
			       "\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\","
			       "\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\",\"usage\":");
	if (done)
		resp_usage(c, b);
	else
		evbuffer_add_printf(b, "null");
	evbuffer_add_printf(b, ",\"user\":null,\"metadata\":{}}");
}

static int resp_plain(struct call *c)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return out_of_memory(c);
	resp_object(c, b, 1);
	evbuffer_add(b, "\n", 1);
	return send_body(c, b);
}

/* Queues one typed event: {"type":NAME,"sequence_number":N, ...rest} */
static int resp_event(struct call *c, const char *name, int *seq, struct evbuffer *rest)
{
	struct evbuffer *d = evbuffer_new();
	int err;

	if (!d)
		return -1;
	evbuffer_add_printf(d, "{\"type\":\"%s\",\"sequence_number\":%d,", name, (*seq)++);
	evbuffer_add_buffer(d, rest);
	evbuffer_add(d, "}", 1);
	err = sse_event(c, name, d);
	evbuffer_free(d);
	return err;
}

static int resp_envelope(struct call *c, struct evbuffer *b, const char *name, int *seq, int done)
{
	evbuffer_add_printf(b, "\"response\":");
	resp_object(c, b, done);
	return resp_event(c, name, seq, b);
}

static void resp_where(struct call *c, struct evbuffer *b)
{
	evbuffer_add_printf(b, "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,",
			    c->item_id);
}

static int resp_stream_body(struct call *c, struct evbuffer *b, int *seq)
{
	int i, err = 0;

	evbuffer_add_printf(b, "\"output_index\":0,\"item\":");
	resp_item(c, b, 0);
	err |= resp_event(c, "response.output_item.added", seq, b);
	resp_where(c, b);
	evbuffer_add_printf(b, "\"part\":");
	resp_part(c, b, 0);
	err |= resp_event(c, "response.content_part.added", seq, b);
	for (i = 0; !err && i < c->out_words; i++) {
		resp_where(c, b);
		evbuffer_add_printf(b, "\"delta\":\"");
		answer_delta(c, b, i);
		evbuffer_add_printf(b, "\",\"logprobs\":[]");
		err |= resp_event(c, "response.output_text.delta", seq, b);
	}
	resp_where(c, b);
	evbuffer_add_printf(b, "\"text\":\"");
	answer_text(c, b);
	evbuffer_add_printf(b, "\",\"logprobs\":[]");
	err |= resp_event(c, "response.output_text.done", seq, b);
	resp_where(c, b);
	evbuffer_add_printf(b, "\"part\":");
	resp_part(c, b, 1);
	err |= resp_event(c, "response.content_part.done", seq, b);
	evbuffer_add_printf(b, "\"output_index\":0,\"item\":");
	resp_item(c, b, 1);
	err |= resp_event(c, "response.output_item.done", seq, b);
	return err;
}

static int resp_stream(struct call *c)
{
	struct evbuffer *b = evbuffer_new();
	int seq = 0, err = !b;

	if (!err)
		err |= resp_envelope(c, b, "response.created", &seq, 0);
	if (!err)
		err |= resp_envelope(c, b, "response.in_progress", &seq, 0);
	if (!err)
		err |= resp_stream_body(c, b, &seq);
	if (!err)
		err |= resp_envelope(
		    c, b, c->truncated ? "response.incomplete" : "response.completed", &seq, 1);
	if (b)
		evbuffer_free(b);
	if (err)
		return out_of_memory(c);
	return stream_start(c);
}

int openai_responses(struct call *c)
{
	uint64_t seed = 0;
	int words;

	if (!c->model || !*c->model) {
		missing(c, "model");
		return CALL_DONE;
	}
	words = count_content_words(field(c, "instructions"), &seed);
	words += count_content_words(field(c, "input"), &seed);
	if (call_plan(c, words, seed, field(c, "max_output_tokens"), field(c, "input")))
		return CALL_DONE;
	gen_hex(c->id, sizeof(c->id), "resp_", 50, &c->rng);
	gen_hex(c->item_id, sizeof(c->item_id), "msg_", 50, &c->rng);
	return c->stream ? resp_stream(c) : resp_plain(c);
}
