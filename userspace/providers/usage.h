/*
 * usage: the token counts a provider reports for one request, read from its response.
 *
 * Owns the providers' usage shapes and how they map onto one struct usage:
 *   - OpenAI Chat Completions: "usage": {prompt_tokens, completion_tokens,
 *     prompt_tokens_details.cached_tokens, completion_tokens_details.reasoning_tokens};
 *     streamed, only when the request had stream_options.include_usage: one chunk with
 *     "choices": [] and the usage, before "data: [DONE]" (the other chunks say "usage": null).
 *   - OpenAI Responses: "usage": {input_tokens, output_tokens,
 *     input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens}; streamed,
 *     in the final response.completed (or response.incomplete / response.failed) event's
 *     "response". A stream ends with one of those three or an "error" event.
 *   - OpenAI Embeddings: "usage": {prompt_tokens}; no output tokens.
 *   - Anthropic Messages: "usage": {input_tokens, cache_creation_input_tokens,
 *     cache_read_input_tokens, output_tokens, cache_creation.ephemeral_1h_input_tokens};
 *     input_tokens EXCLUDES both cache counts. Streamed: message_start carries
 *     message.usage (input, cache, a first small output count); each message_delta carries
 *     usage.output_tokens as the CUMULATIVE count so far (and may repeat the input and cache
 *     counts, also cumulative): every count it has replaces the one before, never adds.
 *     message_stop ends the stream; an "error" event (e.g. overloaded_error) can end it
 *     after HTTP 200 and some content; "ping" events come anywhere and are ignored.
 *   - Gemini: "usageMetadata" (promptTokenCount includes cachedContentTokenCount;
 *     candidatesTokenCount excludes thoughtsTokenCount): see gemini.h.
 *
 * Normalisation: struct usage counts the way OpenAI does, for both providers. INPUT is every
 * input token the provider processed, cached ones included; CACHED_INPUT and CACHE_WRITE
 * are parts of it, OUTPUT includes REASONING. So for any provider
 *     uncached = input - cached_input - cache_write
 *     cost     = uncached * in + cached_input * cached + cache_write * write + output * out
 * (see ledger/cost.h), and nothing is counted twice: OpenAI's cached_tokens is already
 * inside prompt_tokens, and Anthropic's cache counts are added into INPUT here.
 *
 * Ownership: struct usage and struct usage_stream are the caller's; nothing here keeps a
 * pointer to what it is given. usage_want_include_usage() returns a buffer the caller frees.
 */
#ifndef AIGW_PROVIDERS_USAGE_H
#define AIGW_PROVIDERS_USAGE_H

#include <stddef.h>
#include <stdint.h>

enum usage_api {
	USAGE_API_OPENAI_CHAT,	     /* POST /v1/chat/completions */
	USAGE_API_OPENAI_RESPONSES,  /* POST /v1/responses */
	USAGE_API_OPENAI_EMBEDDINGS, /* POST /v1/embeddings */
	USAGE_API_ANTHROPIC_MESSAGES, /* POST /v1/messages */
	USAGE_API_GEMINI_GENERATE,     /* POST /v1beta/models/M:generateContent (gemini.h) */
	USAGE_API_GEMINI_STREAM,       /* ...:streamGenerateContent (alt=sse: events) */
	USAGE_API_GEMINI_COUNT_TOKENS, /* ...:countTokens (no usage of its own) */
	USAGE_API_GEMINI_EMBED,	       /* ...:embedContent */
	/* AWS Bedrock runtime (bedrock.h): POST /model/{modelId}/... */
	USAGE_API_BEDROCK_CONVERSE,	   /* .../converse */
	USAGE_API_BEDROCK_CONVERSE_STREAM, /* .../converse-stream (event-stream framing) */
	USAGE_API_BEDROCK_INVOKE,	   /* .../invoke (the family's own body) */
	USAGE_API_BEDROCK_INVOKE_STREAM,   /* .../invoke-with-response-stream */
};

/* usage.known: which counts are the provider's final word. */
#define USAGE_KNOWN_INPUT 1  /* input, cached_input, cache_write, cache_write_1h */
#define USAGE_KNOWN_OUTPUT 2 /* output, reasoning */
#define USAGE_KNOWN_ALL (USAGE_KNOWN_INPUT | USAGE_KNOWN_OUTPUT)

/* usage.unpriced: what the response says was used that a per-token text price cannot cover,
 * so that a cost computed from the counts alone would be wrong (ledger/cost.c refuses). */
#define USAGE_UNPRICED_TIER 1  /* a service tier other than the standard one (flex, priority) */
#define USAGE_UNPRICED_AUDIO 2 /* audio tokens, priced apart from text tokens */
#define USAGE_UNPRICED_TOOLS 4 /* server tools billed per call (Anthropic web search) */
#define USAGE_UNPRICED_SPEED 8 /* Anthropic fast mode (usage.speed other than "standard") */
#define USAGE_UNPRICED_GEO 16  /* inference pinned to a region (usage.inference_geo "us": 1.1x) */
#define USAGE_UNPRICED_ALL                                                                  \
	(USAGE_UNPRICED_TIER | USAGE_UNPRICED_AUDIO | USAGE_UNPRICED_TOOLS | USAGE_UNPRICED_SPEED | \
	 USAGE_UNPRICED_GEO)

struct usage {
	int64_t input;		/* every input token, cached_input and cache_write included */
	int64_t output;		/* every output token, reasoning included */
	int64_t cached_input;	/* of input: read from the prompt cache */
	int64_t cache_write;	/* of input: written to the prompt cache (Anthropic; else 0) */
	int64_t cache_write_1h; /* of cache_write: with the 1-hour lifetime (priced higher) */
	int64_t reasoning;	/* of output: reasoning tokens, when reported (else 0) */
	int known;		/* USAGE_KNOWN_* */
	int unpriced;		/* USAGE_UNPRICED_* */
	/* What the provider says the call cost, when its usage says so (OpenRouter's "cost", in
	 * its credits: USD): recorded beside the gateway's own cost, never instead of it. */
	int has_reported_cost;
	double reported_cost;
};

#define USAGE_MODEL_MAX 128 /* a model name longer than this is cut */
#define USAGE_ERROR_MAX 64  /* an error type longer than this is cut */

/*
 * Reads the usage from a whole (decoded) JSON response BODY of LEN bytes for API. On 0, *U
 * has the counts and known == USAGE_KNOWN_ALL (embeddings: output 0). MODEL, if not NULL,
 * gets the response's "model" ("" if none), cut to MODEL_SIZE - 1 bytes. Returns 0,
 * -ENOENT (no usage: an error body), -EBADMSG (not JSON, or a count that is not a
 * non-negative integer, or a part larger than its whole); *U is zeroed on error.
 */
int usage_from_body(enum usage_api api, const char *body, size_t len, struct usage *u, char *model,
		    size_t model_size);

enum usage_end {
	USAGE_END_NONE,	      /* no final event (yet); at the end of the body: cut short */
	USAGE_END_OK,	      /* "data: [DONE]", message_stop, response.completed */
	USAGE_END_INCOMPLETE, /* response.incomplete (e.g. max_output_tokens): ended, usage given */
	USAGE_END_ERROR,      /* an error event or chunk, response.failed */
};

/* "none", "ok", "incomplete", "error". */
const char *usage_end_name(enum usage_end end);

/* usage_stream_init() flags. */
#define USAGE_STREAM_SUPPRESS_USAGE_CHUNK 1 /* the gateway added include_usage: see below */

/* What usage_stream_event() tells the caller to do with the event it was shown. */
#define USAGE_EVENT_FORWARD 0
#define USAGE_EVENT_DROP 1

/*
 * The usage of a streamed response, fed its server-sent events one by one (from sse.h).
 * Read the fields; set them only through the functions.
 */
struct usage_stream {
	enum usage_api api;
	unsigned flags;
	struct usage usage;		  /* so far; usage.known says what is final */
	enum usage_end end;		  /* the first final event seen */
	char error_type[USAGE_ERROR_MAX]; /* USAGE_END_ERROR: "overloaded_error", ...;
					     USAGE_END_INCOMPLETE: the reason; else "" */
	char model[USAGE_MODEL_MAX];	  /* the model the provider says answered, or "" */
	unsigned long events;		  /* events seen */
	unsigned long unparsed;		  /* events it could not read (bad JSON or counts) */
	unsigned long dropped;		  /* events answered USAGE_EVENT_DROP */
	int64_t raw[5];			  /* Anthropic's own counts; internal */
	unsigned raw_seen;		  /* which of raw[] came; internal */
};

void usage_stream_init(struct usage_stream *s, enum usage_api api, unsigned flags);

/*
 * Shows S one event: EVENT is its name (NULL when it had none), DATA its DATA_LEN bytes.
 * Returns USAGE_EVENT_FORWARD, or USAGE_EVENT_DROP for the one event the client must not
 * see: the OpenAI chat usage chunk ("choices": [] and a usage object) when S was set up
 * with USAGE_STREAM_SUPPRESS_USAGE_CHUNK. Never fails: an event it cannot read is counted
 * in s->unparsed and forwarded.
 *
 * Suppressing the chunk the client did not ask for, in the proxy:
 *   1. the request: usage_want_include_usage(); if it returns 1, send the rewritten body
 *      (with its new Content-Length) and set the stream up with the flag;
 *   2. the response: feed each slice to an sse_parser whose callback passes each event
 *      here and, on USAGE_EVENT_DROP, notes the event's [start, end) stream offsets;
 *   3. after each sse_feed(), forward the stream's bytes up to sse_committed(p), leaving out
 *      the noted ranges, and hold the rest (the event being read) for the next slice;
 *   4. at the end of the body, forward whatever is held.
 * The other chunks still carry "usage": null, as every chunk does with include_usage; the
 * chunk types of OpenAI's SDKs declare that field optional and nullable.
 */
int usage_stream_event(struct usage_stream *s, const char *event, const char *data,
		       size_t data_len);

/*
 * For an OpenAI chat request body BODY (LEN bytes) with "stream": true whose
 * stream_options.include_usage is not true (absent, false, or no stream_options at all, or
 * null), makes a copy that asks for it, changing nothing else: every other byte is the
 * client's. Returns 1 and *RET (NUL-terminated, *RET_LEN bytes, the caller frees), or 0 and
 * *RET NULL when the body needs no change or is not ours to change (not a JSON object, not
 * streaming, include_usage already true, stream_options neither an object nor null), or
 * -ENOMEM.
 */
int usage_want_include_usage(const char *body, size_t len, char **ret, size_t *ret_len);

/* The same for a body the caller has parsed already as ROOT (the parse the proxy makes to
 * read the model serves here too; ROOT may come from an earlier text of BODY that differs only
 * in its "model" value). */
struct cJSON;
int usage_ask_usage(const char *body, size_t len, const struct cJSON *root, char **ret,
		    size_t *ret_len);

/*
 * cJSON_ParseWithLength(TEXT, LEN), the same tree or the same NULL, with its nodes and strings
 * in one block (*RET_TREE, NULL when the tree was made the usual way) rather than a malloc
 * each: for a tree kept and read while a call lasts. Nothing may be detached from it or
 * deleted but through usage_tree_free(ROOT, *RET_TREE), which frees both (NULLs allowed);
 * items added to it later are freed there too.
 */
struct usage_tree;
struct cJSON *usage_tree_parse(const char *text, size_t len, struct usage_tree **ret_tree);
void usage_tree_free(struct cJSON *root, struct usage_tree *tree);

#endif
