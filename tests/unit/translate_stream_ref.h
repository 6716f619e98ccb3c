/*
 * translate_stream_ref.h: the reference stream translator (translate_stream_ref.c), the same
 * API as translate_stream_*() in providers/translate.h under the ref_ prefix.
 */
#ifndef AIGW_TESTS_TRANSLATE_STREAM_REF_H
#define AIGW_TESTS_TRANSLATE_STREAM_REF_H

#include <stddef.h>

#include "providers/translate.h"

struct ref_translate_stream;

struct ref_translate_stream *ref_translate_stream_new(enum translate_api app, int include_usage,
						      const char *model);
int ref_translate_stream_feed(struct ref_translate_stream *s, const char *event, const char *data,
			      size_t len, struct translate_buf *out);
int ref_translate_stream_finish(struct ref_translate_stream *s, struct translate_buf *out);
int ref_translate_stream_ended(const struct ref_translate_stream *s);
void ref_translate_stream_free(struct ref_translate_stream *s);

/* Masks in TEXT what differs between two translations of the same stream: the ids made up
 * (chatcmpl-, msg_, toolu_ and the random characters after them, a Gemini responseId) and
 * "created" seconds. */
void ref_translate_mask(char *text);
/* Cuts in B each error event's message at its first escaped U+0000, as the reference writes
 * it (its cJSON strings end there); the translator gives the app the message whole. */
void ref_translate_cut_error_messages(struct translate_buf *b);

#endif
