/*
 * translate_gemini_app: answers for a Gemini app served by another family. An OpenAI chat
 * completion (an Anthropic answer is made one first, by the OpenAI-app translators) becomes a
 * GenerateContentResponse; an OpenAI stream's chunks become streamGenerateContent?alt=sse
 * events, each a GenerateContentResponse; errors become Google's {"error": {"code",
 * "message", "status"}}. Internal to the translate files (translate_resp.c and
 * translate_stream.c call it); translate.h has the mapping.
 */
#ifndef AIGW_PROVIDERS_TRANSLATE_GEMINI_APP_H
#define AIGW_PROVIDERS_TRANSLATE_GEMINI_APP_H

#include "providers/translate_util.h"

/* The GenerateContentResponse for chat.completion IN; MODEL (NULL: IN's) is reported. */
cJSON *translate_gemini_app_answer(struct translate_ctx *c, const cJSON *in, const char *model);

/* Google's error body for HTTP STATUS and MESSAGE; *RET_STATUS the status the app gets (an
 * Anthropic 529 is a 503, a spent quota's 402 a 429). New string, or NULL (out of memory). */
char *translate_gemini_app_error(int status, const char *message, int *ret_status,
				 size_t *ret_len);

/* One stream's state: OpenAI chunks in, Gemini events out. No allocation per event but the
 * output's growth. Owned by the translate_stream that made it (translate_gemini_stream_free). */
struct translate_gemini_stream;
struct translate_gemini_stream *translate_gemini_stream_new(const char *model);
void translate_gemini_stream_free(struct translate_gemini_stream *g);
/* One OpenAI chunk's DATA (LEN bytes; "[DONE]" included): as translate_stream_feed(). */
int translate_gemini_stream_feed(struct translate_gemini_stream *g, const char *data, size_t len,
				 struct translate_buf *out);
/* Every whole "data: ...\n\n" event in MID (an inner translator's output), then MID emptied;
 * RC is the inner one's result, returned unless a relayed event fails worse. */
int translate_gemini_stream_relay(struct translate_gemini_stream *g, int rc,
				  struct translate_buf *mid, struct translate_buf *out);
/* The upstream body ended: as translate_stream_finish(). */
int translate_gemini_stream_finish(struct translate_gemini_stream *g, struct translate_buf *out);
int translate_gemini_stream_ended(const struct translate_gemini_stream *g);

#endif
