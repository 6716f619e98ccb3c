/*
 * translate: OpenAI Chat Completions <-> Anthropic Messages, and both -> Gemini's generateContent
 * (below), for falling back to another provider when one is down. A request the app wrote for one
 * API becomes a request for the other; the other's answer (whole, streamed, or an error) becomes
 * the answer the app's SDK expects, so the app never sees which provider answered. Text in, text
 * out: the proxy owns sockets, headers and SSE framing on the way in; this library never touches
 * them.
 *
 * Files: translate.h (this API and the mapping table); translate_req.[ch] (the request entry
 * points and what both directions share), translate_req_openai.c (OpenAI -> Anthropic),
 * translate_req_anthropic.c (Anthropic -> OpenAI), translate_req_gemini.c (OpenAI -> Gemini),
 * translate_req_from_gemini.c (a Gemini app's request -> OpenAI, and on to Anthropic);
 * translate_gemini_app.[ch] (answers, streams and errors for a Gemini app);
 * translate_resp.c (whole responses and error
 * bodies); translate_stream.c (the two streaming state machines); translate_json.[ch] (an
 * event's JSON read and written as text, with cJSON's grammar and printing, for the streams);
 * translate_util.[ch] (JSON, buffer, id, stop reason, usage and error-type helpers they all
 * share). Only this header is for other code.
 *
 * Faithful or refused: a field that has no counterpart in the other API makes the request fail
 * with -EOPNOTSUPP and a message naming the field; it is never dropped in silence. Fields that
 * change cost, latency or bookkeeping but not what the model is asked are dropped and listed in
 * the result's notes. Unknown fields are refused (a new API feature is never lost unnoticed).
 *
 * Requests, OpenAI chat -> Anthropic messages (-> the reverse is the same row read right to left)
 *
 *   OpenAI                              Anthropic                        how
 *   model                               model                            the caller's target
 *   system / developer messages         system (text blocks)             joined in order; one
 *                                                                        string message stays
 *                                                                        a string; a later one
 *                                                                        is moved up (noted)
 *   user content string / text parts    user content string / text       same shape kept
 *   image_url data:<type>;base64,...    image source base64              jpeg/png/gif/webp
 *   image_url http(s)://...             image source url
 *   image_url.detail                    -                                dropped, noted
 *                                                                        (resolution hint)
 *   assistant content / refusal         assistant text blocks
 *   assistant tool_calls[]              tool_use blocks                  arguments (JSON text)
 *                                                                        <-> input (object)
 *   role "tool" messages                user tool_result blocks          consecutive results
 *                                                                        merged in one turn
 *   tools[] function                    tools[] name/description/        parameters <->
 *                                       input_schema                     input_schema
 *   tool_choice auto/none/required      tool_choice auto/none/any
 *   tool_choice {function: name}        tool_choice {tool, name}
 *   parallel_tool_calls false           disable_parallel_tool_use true
 *   max_completion_tokens, max_tokens   max_tokens                       required by Anthropic:
 *                                                                        default 4096, noted;
 *                                       -> max_completion_tokens         (max_tokens is
 *                                                                        deprecated, refused
 *                                                                        by o-series/gpt-5)
 *   temperature 0..1 / top_p            temperature / top_p              OpenAI's >1 refused
 *   stop (string or array)              stop_sequences                   more than 4 refused
 *                                                                        going to OpenAI
 *   stream                              stream                           to OpenAI also
 *                                                                        stream_options.
 *                                                                        include_usage=true
 *   stream_options                      -                                kept for the reply
 *   user, safety_identifier             metadata.user_id                 -> user
 *   seed, prediction, service_tier,     -                                dropped, noted: they
 *   prompt_cache_key/_retention,                                         tune OpenAI's own
 *   metadata (stored-completion tags),                                   cache, storage, tier
 *   store:false, message annotations                                     or determinism, and
 *                                                                        the fallback is
 *                                                                        another model anyway
 *   -                                   cache_control                    dropped, noted: it
 *                                                                        changes cost, not
 *                                                                        meaning
 *   -                                   service_tier                     dropped, noted
 *
 * Refused (-EOPNOTSUPP), OpenAI side: n > 1, logprobs, top_logprobs, response_format other than
 * text (json_object/json_schema: Anthropic has no JSON mode), audio, modalities other than
 * text, input_audio and file parts, frequency/presence_penalty != 0, logit_bias, reasoning_
 * effort, verbosity, web_search_options, functions/function_call (legacy), store:true, tools
 * other than function or with strict:true (guaranteed schema adherence), tool_choice
 * allowed_tools, a message "name", temperature > 1, a final assistant message (Anthropic would
 * continue it as a prefill), the Responses API (/v1/responses: previous_response_id state lives
 * at OpenAI). Anthropic side: thinking (enabled), top_k, documents/PDF, search results,
 * server/MCP tools, container, mcp_servers, citations, tool_result is_error:true (OpenAI tool
 * messages have no error flag) or images inside tool_result (they carry text only), text after
 * a tool_use in one assistant turn (OpenAI cannot order them), a final assistant message
 * (prefill). thinking {"type":"disabled"} is accepted. Either way (and to and from Gemini): a
 * tool choice that forces a call (required, a named function; any, tool; mode ANY) in a
 * request without tools (none, or an empty list) is invalid (-EINVAL, naming it): every
 * provider refuses it; auto or none there asks nothing, and is dropped, noted.
 *
 * Responses (whole and streamed)
 *
 *   stop reasons   end_turn, stop_sequence, pause_turn -> stop; max_tokens,
 *                  model_context_window_exceeded -> length; tool_use -> tool_calls;
 *                  refusal -> content_filter.  Back: stop -> end_turn (OpenAI does not say
 *                  whether a stop sequence matched: stop_sequence is null), length ->
 *                  max_tokens, tool_calls/function_call -> tool_use, content_filter -> refusal.
 *   usage          OpenAI prompt_tokens counts cached input, Anthropic input_tokens does not:
 *                  prompt_tokens = input + cache_creation + cache_read, cached_tokens =
 *                  cache_read; back: input_tokens = prompt_tokens - cached_tokens,
 *                  cache_read_input_tokens = cached_tokens, cache_creation = 0. Output tokens
 *                  are output tokens (OpenAI's include reasoning).
 *   ids            new ids in the app's format: chatcmpl-<29>, msg_<24>; tool call ids are kept
 *                  as they are so the next request's tool results still match.
 *   model          the model that actually answered (as the providers themselves report a
 *                  snapshot, not the alias asked for), unless the caller passes one to report.
 *   thinking       thinking blocks in an Anthropic answer are not shown (OpenAI hides
 *                  reasoning too).
 *
 * Streams: the OpenAI app gets a first chunk with the role, content and tool_calls deltas
 * (index/id/name first, then argument pieces), a chunk with finish_reason, a usage chunk only
 * when it asked (stream_options.include_usage), then "data: [DONE]". The Anthropic app gets
 * message_start (input_tokens 0: OpenAI reports usage only at the end; the final message_delta
 * carries the real input and output counts, which the SDKs' accumulators take), text and
 * tool_use blocks with text_delta / input_json_delta, content_block_stop, message_delta
 * (stop_reason, cumulative usage), message_stop. An upstream error event becomes the app's
 * error event (OpenAI: a data line {"error":{...}}; Anthropic: event: error) and ends the
 * stream; nothing follows it, no [DONE] either, as the providers do.
 *
 * Errors: status and type mapped, message kept. Anthropic -> OpenAI: 400 invalid_request_error
 * -> 400 invalid_request_error; 401 -> 401 (code invalid_api_key); 402 billing_error -> 429
 * insufficient_quota; 403 -> 403; 404 -> 404; 413 -> 413; 429 rate_limit_error -> 429 type
 * requests, code rate_limit_exceeded; 500 api_error -> 500 server_error; 504 timeout_error ->
 * 504 server_error; 529 overloaded_error -> 503 server_error. OpenAI -> Anthropic: 400 ->
 * invalid_request_error; 401 -> authentication_error; 403 -> permission_error; 404 ->
 * not_found_error; 413 -> request_too_large; 429 insufficient_quota -> 402 billing_error;
 * 429 -> rate_limit_error; 503 -> 529 overloaded_error; 504 -> timeout_error; other 5xx ->
 * same status api_error; other 4xx -> same status invalid_request_error.
 *
 * Gemini as a target (an Anthropic app goes through OpenAI's form both ways, each refusal
 * naming Gemini). Only text is translated:
 *
 *   OpenAI                              Gemini generateContent           how
 *   model, stream                       the path: models/M:generate      the body has neither
 *                                       Content, :streamGenerateContent
 *                                       ?alt=sse
 *   system / developer messages         systemInstruction.parts[].text   in order
 *   user / assistant text               contents[] role user / model,    consecutive messages
 *                                       parts[].text                     of a role: one turn
 *   max_completion_tokens, max_tokens   generationConfig.maxOutputTokens none: Gemini's default
 *   temperature, top_p, stop, seed      generationConfig temperature,
 *                                       topP, stopSequences, seed
 *   Anthropic top_k                     generationConfig.topK            (carried through the
 *                                                                        OpenAI form; an
 *                                                                        OpenAI app has none)
 *   response_format json_object         responseMimeType application/json
 *   response_format json_schema.schema  + responseJsonSchema (as it is)  a keyword Gemini does
 *                                                                        not read (pattern,
 *                                                                        allOf, const, ...)
 *                                                                        refused, named;
 *                                                                        name dropped, noted;
 *                                                                        description refused
 *   user, safety_identifier, metadata,  -                                dropped, noted
 *   prediction, prompt_cache_*,
 *   service_tier
 *   tools[] function name, description, tools[0].functionDeclarations[]  parametersJsonSchema
 *   parameters                          name, description, parameters-   checked as response-
 *                                       JsonSchema                       JsonSchema is
 *   tool_choice none/auto/required,     toolConfig.functionCalling-
 *   {function: name}                    Config mode NONE/AUTO/ANY,
 *                                       allowedFunctionNames [name]
 *   parallel_tool_calls true            -                                Gemini's default
 *   assistant tool_calls[]              model functionCall parts         arguments (JSON text)
 *                                       {name, args}                     -> args (object); ids
 *                                                                        not sent
 *   role "tool" messages                user functionResponse parts      name: its call's;
 *                                       {name, response}                 response: the content
 *                                                                        if a JSON object,
 *                                                                        else {"output": text}
 * Refused: parallel_tool_calls false, strict:true functions, tool types other than function,
 * tool_choice allowed_tools/custom, images, audio and files, a final assistant message, and
 * all the OpenAI side refuses for Anthropic (n > 1, logprobs, penalties, ...).
 * Answers: the first candidate's text parts joined (thought parts not shown), its functionCall
 * parts tool_calls (Gemini's id or a new call_<24>, args printed as arguments; Anthropic:
 * tool_use blocks; a call's thoughtSignature, which Gemini 3 wants back on the call in the next
 * request, rides in a new id: call_<24>__thought__<the signature in base64url>, and comes back
 * out of it on the functionCall part; at most 16384 characters, a longer one is refused with
 * the id's path); any other part is a refusal, more
 * than one candidate too; STOP after a call -> tool_calls (tool_use); finishReason STOP -> stop,
 * MAX_TOKENS -> length,
 * SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, LANGUAGE ->
 * content_filter, others -> stop, no candidate (a blocked prompt, promptFeedback.blockReason;
 * streamed, its one chunk ends the stream) -> content_filter (Anthropic: refusal); usage
 * prompt_tokens = promptTokenCount + toolUsePromptTokenCount, cached_tokens =
 * cachedContentTokenCount, completion_tokens = candidatesTokenCount + thoughtsTokenCount;
 * model: modelVersion. Streams: each chunk's text a content delta, each functionCall part (Gemini
 * sends a call whole) one tool_calls delta with id, name and all arguments, its finishReason the
 * finish chunk, its usageMetadata (totals so far) the usage; the app's usage chunk and
 * [DONE] (or message_delta and message_stop) come when the upstream body ends, as Gemini's
 * stream has no terminator of its own. An {"error": ...} chunk is the app's error event.
 * Errors: Gemini's {"error": {"code", "message", "status"}} read by status, as above.
 *
 * A Gemini app (generateContent, streamGenerateContent?alt=sse) served by OpenAI, or by
 * Anthropic through OpenAI's form (request and answers both ways; refusals name the target):
 *
 *   Gemini                              OpenAI chat                      how
 *   the path's model, :stream...        model (the target's), stream     + stream_options.
 *                                                                        include_usage
 *   systemInstruction.parts[].text      a system message                 one part: a string,
 *   contents[] role user (or none) /    user / assistant messages        more: text parts
 *   model, parts[].text
 *   generationConfig maxOutputTokens,   max_completion_tokens,           (Anthropic: max_
 *   temperature, topP, seed, stop-      temperature, top_p, seed, stop,  tokens, default 4096,
 *   Sequences, presence/frequency-      presence/frequency_penalty       seed dropped, >1
 *   Penalty                                                              temperature refused)
 *   generationConfig.topK               - (Anthropic: top_k)             refused for OpenAI
 *   candidateCount 1, responseMime-     -                                accepted; other
 *   Type text/plain                                                      values refused
 *   safetySettings BLOCK_NONE / OFF     -                                dropped, noted: they
 *                                                                        only relax Gemini's
 *                                                                        own filters
 *   thoughtSignature on a history part  -                                dropped, noted
 *   tools[].functionDeclarations[]      tools[] function name,           parameters (Schema:
 *   name, description, parameters /     description, parameters          types lower-cased)
 *   parametersJsonSchema                                                 or the JSON Schema
 *   toolConfig.functionCallingConfig    tool_choice auto / none /
 *   mode AUTO / NONE / ANY (one         required ({function: name})
 *   allowedFunctionNames)
 *   model functionCall parts            assistant tool_calls             id: its own or
 *                                                                        call_<n>; args ->
 *                                                                        arguments (JSON text)
 *   user functionResponse parts         role "tool" messages             the earliest
 *                                                                        unanswered call of
 *                                                                        that name (or id);
 *                                                                        {"output": text}:
 *                                                                        the text, else JSON
 *   snake_case names (system_instruction, generation_config, max_output_tokens, ...) are read
 *   as Google's JSON reads them.
 * Refused: tools other than functionDeclarations (googleSearch, codeExecution, urlContext,
 * ...: they run at Google), a declaration's behavior / response schema, Schema keywords JSON
 * Schema lacks (nullable, propertyOrdering, ...), mode VALIDATED or more than one
 * allowedFunctionName, cachedContent (its state lives at Google), a blocking
 * safetySettings threshold (it would be lost in silence), inlineData, fileData,
 * executableCode and thought parts, responseSchema / responseJsonSchema /
 * a non-text responseMimeType, responseModalities, thinkingConfig, logprobs, more than 4
 * stopSequences for OpenAI, a final model turn (a prefill), any other member; a member given
 * twice (in either form: the second would be lost) is invalid.
 * Answers: a GenerateContentResponse of one candidate: the text (a refusal's text too) as one
 * part, role "model"; finish_reason stop -> STOP, length -> MAX_TOKENS, content_filter or a
 * refusal -> SAFETY, tool_calls -> STOP with a functionCall part {id, name, args} a call (a
 * streamed call's deltas gathered, its part sent when the choice finishes). usageMetadata
 * (none when the upstream told no usage, never made-up zeros): promptTokenCount =
 * prompt_tokens (cached included, as at Google), cachedContentTokenCount = cached_tokens,
 * candidatesTokenCount = completion_tokens - reasoning_tokens,
 * thoughtsTokenCount = reasoning_tokens, totalTokenCount = prompt + completion; modelVersion:
 * the model that answered; responseId: a new one. Streams: each text delta an event of its own
 * (a GenerateContentResponse with that text); the finishReason and usageMetadata come in one
 * last event at the upstream's end ([DONE]), after OpenAI's usage chunk; an upstream error
 * event becomes {"error": {"code", "message", "status"}} and ends the stream. Errors: the
 * status kept (Anthropic's 529 -> 503 UNAVAILABLE, 402 -> 429 RESOURCE_EXHAUSTED), the
 * message kept, Google's status name.
 *
 * Returns: 0, or -errno: -EBADMSG the input is not the JSON it should be, -EINVAL it is JSON
 * but not a valid request/response of its API, -EOPNOTSUPP it is valid but has no faithful
 * counterpart (refused), -EPROTO an upstream stream broke its protocol, -ENOMEM.
 */
#ifndef AIGW_PROVIDERS_TRANSLATE_H
#define AIGW_PROVIDERS_TRANSLATE_H

#include <stddef.h>

enum translate_api {
	TRANSLATE_OPENAI_CHAT = 1,    /* POST /v1/chat/completions */
	TRANSLATE_ANTHROPIC_MESSAGES, /* POST /v1/messages */
	TRANSLATE_GEMINI_GENERATE,    /* POST /v1beta/models/M:generateContent, and
					 :streamGenerateContent?alt=sse */
};

#define TRANSLATE_DEFAULT_MAX_TOKENS 4096 /* Anthropic's max_tokens when the app set none */
#define TRANSLATE_MSG_MAX 256
/* What precedes a Gemini thoughtSignature in a tool call id an OpenAI or Anthropic app was given
 * (translate_util.h); a request to any other target has it cut off (providers/tool_ids.h). */
#define TRANSLATE_SIG_MARK "__thought__"

/* The API a request PATH (query string allowed) speaks: 0 and *RET; -EOPNOTSUPP for
 * /v1/responses (its server-side state cannot move to another provider), -ENOENT for a path
 * that is not a chat request. ERR (ERRLEN bytes, may be NULL) says why. */
int translate_api_for_path(const char *path, enum translate_api *ret, char *err, size_t errlen);

/* The other provider's API (OpenAI <-> Anthropic). */
enum translate_api translate_api_other(enum translate_api api);

struct translate_req {
	char *body; /* the request in the other API: JSON, NUL-terminated; owned, see release */
	size_t len; /* strlen(body) */
	int stream; /* the app asked for a stream */
	int include_usage;	       /* an OpenAI app asked for the final usage chunk */
	char notes[TRANSLATE_MSG_MAX]; /* what was defaulted or dropped; "" when nothing */
	char error[TRANSLATE_MSG_MAX]; /* when refused or invalid: why, naming the field */
};

/*
 * Translates the request IN (LEN bytes) that an app wrote for APP into a request for the other
 * API, asking for MODEL there. MAX_TOKENS_DEFAULT is Anthropic's max_tokens when an OpenAI app
 * set none (0: TRANSLATE_DEFAULT_MAX_TOKENS). Fills *RET (zeroed first); on success the caller
 * releases it with translate_req_release(). On failure RET->error says why and nothing is held.
 */
int translate_request(enum translate_api app, const char *in, size_t len, const char *model,
		      unsigned int max_tokens_default, struct translate_req *ret);
/* The same for a target of API TO (translate_request() is TO = translate_api_other(APP)). A
 * Gemini request names its model in the path: MODEL is then not in the body. */
int translate_request_to(enum translate_api app, enum translate_api to, const char *in,
			 size_t len, const char *model, unsigned int max_tokens_default,
			 struct translate_req *ret);
/* A Gemini app's request (IN: a GenerateContentRequest) for a target of API TO (OpenAI or
 * Anthropic), asking for MODEL; STREAM: its path was :streamGenerateContent?alt=sse (the body
 * says neither). As translate_request_to(), which calls this with STREAM 0. */
int translate_request_from_gemini(enum translate_api to, const char *in, size_t len,
				  const char *model, int stream, unsigned int max_tokens_default,
				  struct translate_req *ret);
void translate_req_release(struct translate_req *r);

/*
 * Translates a successful whole response IN (LEN bytes) of the other API into APP's format.
 * MODEL is the model to report (NULL: the one that answered). Returns 0 and *RET (NUL-
 * terminated, *RET_LEN bytes, the caller frees); on failure ERR (may be NULL) says why.
 */
int translate_response(enum translate_api app, const char *in, size_t len, const char *model,
		       char **ret, size_t *ret_len, char *err, size_t errlen);
/* The same for a response of API FROM. */
int translate_response_from(enum translate_api app, enum translate_api from, const char *in,
			    size_t len, const char *model, char **ret, size_t *ret_len, char *err,
			    size_t errlen);

/*
 * Translates an error response of the other API (HTTP STATUS, body IN of LEN bytes, which may
 * be anything: a proxy's HTML page gets a generic message) into APP's status *RET_STATUS and
 * body *RET (NUL-terminated, *RET_LEN bytes; the caller frees). Returns 0 or -ENOMEM.
 */
int translate_error(enum translate_api app, int status, const char *in, size_t len, int *ret_status,
		    char **ret, size_t *ret_len);

/*
 * An error body in APP's format for an error the gateway itself reports with HTTP STATUS (e.g.
 * 400 for a refused translation, 502 for a broken upstream), with MESSAGE. Returns the body
 * (NUL-terminated, *RET_LEN bytes; the caller frees) or NULL when out of memory.
 */
char *translate_error_body(enum translate_api app, int status, const char *message,
			   size_t *ret_len);

/* A growing byte buffer the stream translator appends SSE bytes to. Zero-initialise it; the
 * caller owns data (free with translate_buf_free) and may consume and reset len at will. */
struct translate_buf {
	char *data; /* NUL-terminated while len > 0 */
	size_t len, cap;
};
void translate_buf_free(struct translate_buf *b);

struct translate_stream;

/*
 * A translator for one streamed response: the upstream speaks the other API, the app APP.
 * INCLUDE_USAGE: an OpenAI app asked for the usage chunk (translate_req.include_usage). MODEL
 * as for translate_response(). Returns NULL when out of memory; free with
 * translate_stream_free().
 */
struct translate_stream *translate_stream_new(enum translate_api app, int include_usage,
					      const char *model);
/* The same for an upstream of API FROM. */
struct translate_stream *translate_stream_new_from(enum translate_api app, enum translate_api from,
						   int include_usage, const char *model);

/*
 * Feeds one upstream SSE event: its EVENT name (NULL or "" when it had none) and its DATA text
 * (LEN bytes; multi-line data joined with '\n', as SSE parsers deliver it). Appends zero or
 * more complete SSE events in the app's format to OUT. Returns 0; -EPROTO when the upstream
 * broke its protocol (an error event for the app was appended and the stream has ended);
 * -ENOMEM. Events after the end are ignored.
 */
int translate_stream_feed(struct translate_stream *s, const char *event, const char *data,
			  size_t len, struct translate_buf *out);

/*
 * The upstream body ended. When its terminator had not come, appends the app's closing events:
 * a normal end when the stop reason had already arrived, else an error event (-EPROTO).
 * Returns 0, -EPROTO or -ENOMEM; nothing is appended when the stream had ended already.
 */
int translate_stream_finish(struct translate_stream *s, struct translate_buf *out);

/* Whether the app's stream has ended (its terminator or an error event was emitted). */
int translate_stream_ended(const struct translate_stream *s);
void translate_stream_free(struct translate_stream *s);

#endif
