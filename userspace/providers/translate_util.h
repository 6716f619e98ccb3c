/*
 * translate_util: what translate_req.c, translate_resp.c and translate_stream.c share: a
 * context that collects the first refusal and the notes, cJSON helpers that remember an
 * allocation failure instead of checking each call, the SSE writer, ids, and the stop reason,
 * usage and error-type tables. Internal to the translate files: other code includes
 * providers/translate.h only.
 */
#ifndef AIGW_PROVIDERS_TRANSLATE_UTIL_H
#define AIGW_PROVIDERS_TRANSLATE_UTIL_H

#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "providers/translate.h"

struct translate_ctx {
	char *err; /* the first failure's reason (ERRLEN bytes; may be NULL) */
	size_t errlen;
	char *notes; /* "; "-separated notes (NOTESLEN bytes; may be NULL) */
	size_t noteslen;
	int rc;	 /* the first failure: 0 or -errno */
	int oom; /* a cJSON allocation failed */
};

/* Records the first failure RC with a printf-style reason; returns RC. */
int translate_fail(struct translate_ctx *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds NOTE to the notes once. */
void translate_note(struct translate_ctx *c, const char *note);
/* The failure so far: c->rc, or -ENOMEM after an allocation failure. */
int translate_status(const struct translate_ctx *c);

/* Member KEY of object O; NULL when absent or JSON null. */
const cJSON *translate_get(const cJSON *o, const char *key);
/* Its string, or NULL when it is not a string. */
const char *translate_str(const cJSON *o, const char *key);

/* Add ITEM (may be NULL after a failed create) to object O under KEY / to array A; on failure
 * ITEM is freed and c->oom set. Return ITEM or NULL. */
cJSON *translate_add(struct translate_ctx *c, cJSON *o, const char *key, cJSON *item);
cJSON *translate_push(struct translate_ctx *c, cJSON *a, cJSON *item);
/* A copy of V, or NULL (c->oom set). */
cJSON *translate_dup(struct translate_ctx *c, const cJSON *v);
/* {"type": TYPE} */
cJSON *translate_typed(struct translate_ctx *c, const char *type);

/* Parses LEN bytes into a JSON object; NULL when they are not one (whitespace may follow). */
cJSON *translate_parse_object(const char *in, size_t len);
/* Prints V compactly into a new string (*RET_LEN bytes); NULL when out of memory. */
char *translate_print(const cJSON *v, size_t *ret_len);

/* Appends "event: EVENT\n" (when EVENT) and "data: " + DATA (printed compactly) + "\n\n". */
int translate_sse_json(struct translate_buf *b, const char *event, const cJSON *data);
/* Makes room in B for N more bytes and a NUL: 0 or -ENOMEM. */
int translate_buf_grow(struct translate_buf *b, size_t n);

/* Appends N raw bytes: 0 or -ENOMEM. Inline: the stream translator writes its events as many
 * short pieces, most of them literals. */
static inline int translate_buf_add(struct translate_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap && translate_buf_grow(b, n))
		return -ENOMEM;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Ends an event written into B from B->len OLD on: on ERR (an append failed) B is cut back
 * to OLD, so it never holds half an event, and -ENOMEM is returned; else 0. */
int translate_buf_cut(struct translate_buf *b, size_t old, int err);
/* Whether an SSE event's DATA (LEN bytes) is OpenAI's "[DONE]" (trailing blanks allowed). */
int translate_sse_done(const char *data, size_t len);
/* Writes PREFIX + N random base62 characters into OUT (CAP bytes). */
void translate_new_id(char *out, size_t cap, const char *prefix, size_t n);

/*
 * Gemini's thoughtSignature (Gemini 3 refuses a later turn whose functionCall part lacks the
 * one it issued) rides in the tool call id an OpenAI or Anthropic app gets, as those formats
 * have no place for it: a new call_<24> id, TRANSLATE_SIG_MARK (LiteLLM's), then the signature
 * in base64url without padding, so the id stays [A-Za-z0-9_-] as Anthropic requires of
 * tool_use ids. The app echoes the id in its next turn; the translation to Gemini puts the
 * signature back on the functionCall part. At most TRANSLATE_SIG_MAX characters of signature:
 * a longer one is not carried (from Gemini) or refused (from the app).
 */
#define TRANSLATE_SIG_MAX 16384

/* Appends to B a new call id carrying SIG (LEN bytes of Gemini's padded standard base64).
 * Returns 0; -EINVAL when SIG is empty, not that or longer than TRANSLATE_SIG_MAX (nothing
 * appended); -ENOMEM. */
int translate_sig_id_put(struct translate_buf *b, const char *sig, size_t len);
/* The signature tool call id ID carries, back in standard base64 with its padding: 0 with *RET
 * NULL when it carries none, or a new string (the caller frees); -EINVAL when what follows
 * the mark is not base64url of at most TRANSLATE_SIG_MAX characters; -ENOMEM. */
int translate_sig_from_id(const char *id, char **ret);

/* Anthropic stop_reason -> OpenAI finish_reason, and back. */
const char *translate_finish_reason(const char *stop_reason);
const char *translate_stop_reason(const char *finish_reason);

/* Gemini finishReason -> OpenAI finish_reason: STOP stop, MAX_TOKENS length, the content
 * filters' (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, LANGUAGE)
 * content_filter, anything else stop. */
const char *translate_finish_reason_gemini(const char *finish_reason);

/* Token counts in Anthropic's terms (input excludes both cache counts). */
struct translate_usage {
	double input, cache_write, cache_read, output;
};
/* Reads Anthropic's usage object U into *T (absent members are left as they were). */
void translate_usage_from_anthropic(const cJSON *u, struct translate_usage *t);
/* Reads OpenAI's usage object U into *T. */
void translate_usage_from_openai(const cJSON *u, struct translate_usage *t);
/* Sets *T's input and cache counts from OpenAI's PROMPT tokens (which count the CACHED ones);
 * a negative PROMPT (none came) changes nothing. */
void translate_usage_set_openai(struct translate_usage *t, double prompt, double cached);
/* Sets *T from Gemini's usage counts: PROMPT (cached included) + TOOL_PROMPT in, CACHED of
 * it, CANDIDATES + THOUGHTS out (thinking is billed as output), as gemini.h reads them. */
void translate_usage_set_gemini(struct translate_usage *t, double prompt, double tool_prompt,
				double cached, double candidates, double thoughts);
/* Reads Gemini's usageMetadata object U into *T. */
void translate_usage_from_gemini(const cJSON *u, struct translate_usage *t);
cJSON *translate_usage_openai(struct translate_ctx *c, const struct translate_usage *t);
cJSON *translate_usage_anthropic(struct translate_ctx *c, const struct translate_usage *t);

/* Anthropic's error type for an OpenAI error TYPE / CODE (either may be NULL) at STATUS (0
 * when unknown, as mid-stream), and the status it has at Anthropic. */
const char *translate_anthropic_error_type(int status, const char *type, const char *code,
					   int *ret_status);
/* OpenAI's error type and code for an Anthropic error TYPE (may be NULL) at STATUS (0 when
 * unknown), and the status it has at OpenAI. */
const char *translate_openai_error_type(int status, const char *type, const char **ret_code,
					int *ret_status);
/* The HTTP status of an error met mid-stream, TYPE and CODE (either may be NULL) of either
 * family's error object, for an app whose stream errors carry one (Google's): 429 for a rate
 * limit ("tokens", "requests", rate_limit_error) or spent quota, 503 overloaded, else as the
 * type says (500 when it says nothing known). */
int translate_stream_error_status(const char *type, const char *code);
/* The app's error object for the stream and the error bodies: OpenAI {"error":{...}} or
 * Anthropic {"type":"error","error":{...}}. */
cJSON *translate_error_object(struct translate_ctx *c, enum translate_api app, const char *type,
			      const char *code, const char *message);
/* The same with MESSAGE's LEN bytes whole: an upstream's message may hold a NUL (an escaped
 * U+0000), where a C string, and cJSON's, would end; the app must get all of it. */
cJSON *translate_error_object_whole(struct translate_ctx *c, enum translate_api app,
				    const char *type, const char *code, const char *message,
				    size_t len);
/* S (N bytes, S[N] a NUL) as a JSON string item, whole: one that holds a NUL is a raw item of
 * its escaped text (\u0000 for the NUL), printed as it is. NULL when out of memory. */
cJSON *translate_string_whole(const char *s, size_t n);

#endif
