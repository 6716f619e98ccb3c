/*
 * bedrock: what the gateway reads of AWS Bedrock's runtime API (bedrock-runtime.REGION.
 * amazonaws.com): the operation and the model from a request path, and the usage of every
 * answer, whole or streamed in AWS event-stream framing (eventstream.h).
 *
 *   POST /model/{modelId}/converse                      usage: {inputTokens, outputTokens,
 *   POST /model/{modelId}/converse-stream                 cacheReadInputTokens,
 *                                                         cacheWriteInputTokens}; streamed in
 *                                                         the "metadata" event
 *   POST /model/{modelId}/invoke                        the model family's own body (Anthropic:
 *                                                         its usage), and the headers
 *                                                         X-Amzn-Bedrock-Input-Token-Count and
 *                                                         X-Amzn-Bedrock-Output-Token-Count
 *   POST /model/{modelId}/invoke-with-response-stream   "chunk" events {"bytes": base64 of the
 *                                                         family's own event}; the last carries
 *                                                         "amazon-bedrock-invocationMetrics"
 *
 * InvokeModel bodies are the model family's own (AWS's "Model inference parameters and
 * responses", docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-*.html):
 *   Anthropic      {"usage": {"input_tokens", "output_tokens", cache counts}} (usage.h)
 *   Amazon Nova    {"usage": {"inputTokens", "outputTokens", ...}}, Converse's names
 *   Meta Llama     {"prompt_token_count", "generation_token_count", ...}
 *   Amazon Titan   {"inputTextTokenCount", "results": [{"tokenCount", ...}]} (text models)
 *   Mistral, Cohere  no counts in the body: the X-Amzn-Bedrock-Input-Token-Count and
 *                  -Output-Token-Count response headers, which InvokeModel sends for every
 *                  family, are read when the body states none
 * A body and headers that state no usage (an unknown family): usage unknown, so the cost is
 * null with a reason (cost.h), never guessed. Streams of every family end with the
 * "amazon-bedrock-invocationMetrics" {inputTokenCount, outputTokenCount} in the last chunk.
 *
 * inputTokens leaves out both cache counts (as Anthropic's input_tokens does); struct usage
 * adds them in (usage.h). The model id is one path segment, percent-encoded by the SDKs
 * (":" as %3A, an ARN's "/" as %2F): it is decoded once, and an id with anything but
 * letters, digits and ".-_:/" after that, a dot segment, or an empty id is refused, so no
 * encoding trick names a model the allow-lists do not see. For an ARN of a foundation model
 * or an inference profile, the model is the resource id after the last '/'; any other ARN
 * (an application inference profile) stays whole, and is unpriced.
 *
 * Ownership: nothing here allocates what it returns; struct bedrock_stream owns its event-
 * stream parser (bedrock_stream_free()).
 */
#ifndef AIGW_PROVIDERS_BEDROCK_H
#define AIGW_PROVIDERS_BEDROCK_H

#include <stddef.h>

#include "providers/eventstream.h"
#include "providers/usage.h"

enum bedrock_op {
	BEDROCK_CONVERSE,
	BEDROCK_CONVERSE_STREAM,
	BEDROCK_INVOKE,
	BEDROCK_INVOKE_STREAM,
};

#define BEDROCK_MODEL_MAX 256

struct bedrock_path {
	enum bedrock_op op;
	char model_id[BEDROCK_MODEL_MAX]; /* decoded: "us.anthropic.claude-...-v1:0", an ARN */
	char model[BEDROCK_MODEL_MAX];	  /* what allow-lists and prices see */
};

/* Reads PATH[0..LEN) (no query): "/model/" ID "/" OP, ID everything between (an ARN's '/'
 * may come unencoded). 0, -ENOENT (not a Bedrock runtime path), -EINVAL (a model id refused,
 * see above: ret->op is set, the model ""). */
int bedrock_parse_path(const char *path, size_t len, struct bedrock_path *ret);

/* The usage API of an operation, and the operation of a usage API (-1: not Bedrock's). */
int bedrock_usage_api(enum bedrock_op op);
int bedrock_api_op(enum usage_api api);

/* Whether HOST is a Bedrock runtime host (bedrock-runtime[-fips].REGION.amazonaws.com). */
int bedrock_host(const char *host);

/* The usage of a whole Converse answer BODY (JSON): 0, -ENOENT, -EBADMSG. */
int bedrock_converse_usage(const char *body, size_t len, struct usage *u);

/* The usage of a whole InvokeModel answer: the body's (Anthropic, Nova, Llama, Titan; see
 * above), else the two count headers (IN and OUT, NULL when absent). 0, -ENOENT, -EBADMSG. */
int bedrock_invoke_usage(const char *body, size_t len, const char *in, const char *out,
			 struct usage *u);

/* The family's event that an invoke stream's "chunk" payload ({"bytes": base64}, LEN bytes)
 * carries, decoded into a new NUL-terminated buffer the caller frees, *RET_LEN its length;
 * NULL when the payload is not one. */
unsigned char *bedrock_chunk_event(const void *payload, size_t len, size_t *ret_len);

/* A streamed answer: fed the HTTP body as it comes. */
struct bedrock_stream {
	enum bedrock_op op;
	struct evstream_parser parser;
	struct usage_stream anthropic; /* invoke: the decoded Anthropic events */
	struct usage usage;
	int metrics;	   /* amazon-bedrock-invocationMetrics or a metadata event came */
	int exception;	   /* an exception message came */
	char error[USAGE_ERROR_MAX]; /* its :exception-type or :error-code */
	unsigned long unparsed;
	/* Each whole message, checked, as it was framed (NULL: none): what a proxy passes on,
	 * so that a corrupt frame never reaches the app. */
	void (*forward)(void *arg, const uint8_t *msg, size_t len);
	void *forward_arg;
};

void bedrock_stream_init(struct bedrock_stream *s, enum bedrock_op op);
void bedrock_stream_free(struct bedrock_stream *s);

/* 0, or the framing's error (-EBADMSG a CRC, -EMSGSIZE, -ENOMEM), which sticks. */
int bedrock_stream_feed(struct bedrock_stream *s, const void *data, size_t len);

/* At the end of the body: 0 when the usage is known, -ENOENT when it never came, -EPIPE
 * when a message was cut short, -EPROTO after an exception message. */
int bedrock_stream_end(struct bedrock_stream *s, struct usage *u);

#endif
