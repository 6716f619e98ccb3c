/*
 * translate_gemini_app: answers for a Gemini app served by another family. An OpenAI chat
 * completion (an Anthropic answer is made one first, by the OpenAI-app translators) becomes a
 * GenerateContentResponse; an OpenAI stream's chunks (an Anthropic stream's events: what their
 * OpenAI chunks would say, told straight, below) become streamGenerateContent?alt=sse
 * events, each a GenerateContentResponse; errors become Google's {"error": {"code",
 * "message", "status"}}. Internal to the translate files (translate_resp.c and
 * translate_stream.c call it); translate.h has the mapping.
 */
#ifndef AIGW_PROVIDERS_TRANSLATE_GEMINI_APP_H
#define AIGW_PROVIDERS_TRANSLATE_GEMINI_APP_H

#include "providers/translate_json.h"
#include "providers/translate_util.h"

/* The GenerateContentResponse for chat.completion IN; MODEL (NULL: IN's) is reported. */
cJSON *translate_gemini_app_answer(struct translate_ctx *c, const cJSON *in, const char *model);

/* Google's error body for HTTP STATUS and MESSAGE (MESSAGE_LEN bytes, whole: a NUL in it
 * escaped); *RET_STATUS the status the app gets (an Anthropic 529 is a 503, a spent quota's
 * 402 a 429). New string, or NULL (out of memory). */
char *translate_gemini_app_error(int status, const char *message, size_t message_len,
				 int *ret_status, size_t *ret_len);

/* One stream's state: OpenAI chunks in, Gemini events out. No allocation per event but the
 * output's growth. Owned by the translate_stream that made it (translate_gemini_stream_free). */
struct translate_gemini_stream;
struct translate_gemini_stream *translate_gemini_stream_new(const char *model);
void translate_gemini_stream_free(struct translate_gemini_stream *g);
/* One OpenAI chunk's DATA (LEN bytes; "[DONE]" included): as translate_stream_feed(). */
int translate_gemini_stream_feed(struct translate_gemini_stream *g, const char *data, size_t len,
				 struct translate_buf *out);
/* The upstream body ended: as translate_stream_finish(). */
int translate_gemini_stream_finish(struct translate_gemini_stream *g, struct translate_buf *out);
int translate_gemini_stream_ended(const struct translate_gemini_stream *g);

/* An Anthropic stream written straight to a Gemini app (translate_stream.c), one call for each
 * OpenAI chunk the two-stage path made of it: the same events, byte for byte, without writing
 * and reading the chunks. After the end they do nothing. MODEL: the one the upstream named
 * (kept unless the caller fixed one, or one came already). */
void translate_gemini_stream_model(struct translate_gemini_stream *g, const char *model);
/* A text delta TEXT (not empty). */
int translate_gemini_stream_text(struct translate_gemini_stream *g, const struct tj_val *text,
				 struct translate_buf *out);
/* A tool call's start (OpenAI's tool INDEX, its ID, NAME and the ARGS printed so far) and a
 * later piece ARGS of its arguments: gathered, written as functionCall parts at the finish. */
int translate_gemini_stream_call_start(struct translate_gemini_stream *g, int index,
				       const struct tj_val *id, const struct tj_val *name,
				       const char *args, struct translate_buf *out);
int translate_gemini_stream_call_args(struct translate_gemini_stream *g, int index,
				      const struct tj_val *args, struct translate_buf *out);
/* OpenAI's FINISH_REASON (the first one counts; the gathered calls' event goes out with it)
 * and the usage in OpenAI's terms. */
int translate_gemini_stream_finish_reason(struct translate_gemini_stream *g,
					  const char *finish_reason, struct translate_buf *out);
void translate_gemini_stream_usage(struct translate_gemini_stream *g, double prompt,
				   double completion, double cached);
/* The upstream's end: the last event (a broken stream's error event without a finish). */
int translate_gemini_stream_done(struct translate_gemini_stream *g, struct translate_buf *out);
/* An upstream's error of TYPE (Anthropic's or OpenAI's) with MESSAGE (its JSON string as
 * scanned; not a string: "upstream error"): the app's error event, the message whole (an
 * escaped U+0000 too); the stream ends. -EPROTO (or -ENOMEM). */
int translate_gemini_stream_error(struct translate_gemini_stream *g, const char *type,
				  const struct tj_val *message, struct translate_buf *out);
/* The same for the gateway's own MESSAGE (a C string): the upstream broke its protocol. */
int translate_gemini_stream_broken(struct translate_gemini_stream *g, const char *type,
				   const char *message, struct translate_buf *out);

#endif
