/*
 * gemini_two_stage.h: the two-stage translation of an Anthropic stream for a Gemini app that
 * providers/translate_stream.c made before it wrote the app's events in one stage: Anthropic
 * events -> OpenAI chunks (with the usage chunk) -> Gemini events, each stage the library's own
 * public translator. The reference tests/unit/test_translate_stream.c and
 * tests/fuzz/fuzz_translate.c compare the one-stage writer with, byte for byte (the made-up
 * responseId masked: ref_translate_mask()). Test code only.
 */
#ifndef AIGW_TESTS_GEMINI_TWO_STAGE_H
#define AIGW_TESTS_GEMINI_TWO_STAGE_H

#include <stddef.h>

#include "providers/translate.h"

struct gemini_two_stage;

/* MODEL as for translate_stream_new_from(); NULL when out of memory. */
struct gemini_two_stage *gemini_two_stage_new(const char *model);
/* As translate_stream_feed() / _finish() / _ended() of the one-stage translator. */
int gemini_two_stage_feed(struct gemini_two_stage *t, const char *event, const char *data,
			  size_t len, struct translate_buf *out);
int gemini_two_stage_finish(struct gemini_two_stage *t, struct translate_buf *out);
int gemini_two_stage_ended(const struct gemini_two_stage *t);
void gemini_two_stage_free(struct gemini_two_stage *t);
/* The last error event in B without its code and status, and its message cut at an escaped
 * U+0000: where the stages differ by design. The one-stage writer reads Anthropic's own error
 * type (overloaded_error: 503), which the OpenAI chunk between the stages loses
 * (test_translate_from_gemini.c holds the statuses), and gives the message whole, which the
 * OpenAI chunk cuts where cJSON's strings end (test_translate_gemini.c holds it). */
void gemini_two_stage_mask_error(struct translate_buf *b);

#endif
