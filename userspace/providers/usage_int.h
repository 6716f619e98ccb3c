/*
 * usage_int.h: what the usage readers of the provider adapters (openai.c, anthropic.c) share
 * with usage.c: small JSON readers and the stream bookkeeping. Internal to providers/.
 */
#ifndef AIGW_PROVIDERS_USAGE_INT_H
#define AIGW_PROVIDERS_USAGE_INT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "policy/json_locate.h"
#include "providers/usage.h"

/* OBJ[KEY] when OBJ is an object, else NULL; its string value, else NULL. */
const cJSON *json_item(const cJSON *obj, const char *key);
const char *json_str(const cJSON *obj, const char *key);

/* Copies SRC (NULL: "") into DST of SIZE bytes, cut to fit. */
void copy_str(char *dst, size_t size, const char *src);

int json_is_space(char c);

/* TEXT[0..LEN) as one JSON value and nothing but whitespace after it, or NULL. */
cJSON *json_parse(const char *text, size_t len);

/* 1 and *V: OBJ[KEY] is a count; 0: absent or null; -EBADMSG: anything else. The same for
 * OBJ[DETAILS][KEY]; details that are not an object count as absent. */
int json_count(const cJSON *obj, const char *key, int64_t *v);
int json_sub_count(const cJSON *obj, const char *details, const char *key, int64_t *v);

/* USAGE_UNPRICED_TIER when OBJ's "service_tier" names a tier not in STANDARD. */
int tier_flag(const cJSON *obj, const char *const *standard);

/* The first final event of a stream wins; WHY says what kind of end, when not a good one. */
void stream_set_end(struct usage_stream *s, enum usage_end end, const char *why);
/* The answering model, from the first event that names it. */
void stream_take_model(struct usage_stream *s, const cJSON *obj);

/* Cheap looks at an event's text before it is parsed. */
int text_has(const char *data, size_t len, const char *needle);
int text_has_any(const char *data, size_t len, const char *const *needles);
int text_has_usage_object(const char *data, size_t len); /* "usage": {...}, not null */
int name_is_one_of(const char *s, const char *const *list);

/* Where a member of an object is in the text: its key (quotes included) and its value. */
struct member {
	size_t key, key_end, value, value_end;
};

/* Text helpers on JSON the caller knows is valid: skip whitespace, a string (from its
 * opening quote), a value; whether raw string RAW (N bytes, quotes included) is KEY; the first
 * member KEY of the object whose '{' is at OBJ (1, as cJSON finds it); BODY with [AT, CUT)
 * replaced by INS into *RET (1, or -ENOMEM). */
size_t skip_ws(const char *s, size_t len, size_t i);
size_t skip_string(const char *s, size_t len, size_t i);
size_t skip_value(const char *s, size_t len, size_t i);
int key_is(const char *raw, size_t n, const char *key);
int find_member(const char *s, size_t len, size_t obj, const char *key, struct member *m);
int usage_edit(const char *body, size_t len, size_t at, size_t cut, const char *ins, char **ret,
	       size_t *ret_len);

/*
 * Reading an answer json_locate_accepted_in() accepted from its text, as its tree would be read
 * (the fast path of usage_from_body()). Each answers exactly what the tree's reader would, or
 * USAGE_TEXT_UNSURE (the caller then reads the tree): a string with an escape or a NUL byte, a
 * number other than a plain integer of at most 15 digits.
 *   text_count(): json_count() of the value located at POS: 1 and *V, 0, -EBADMSG or unsure;
 *   text_plain_str(): json_str(): 1 and its bytes *S, *N (not NUL-terminated), 0 (no string)
 *     or unsure;
 *   text_str_flag(): FLAG when the value at POS is a string not in STANDARD (as tier_flag()
 *     reads "service_tier"), 0 when it is in it or no string, or unsure.
 */
#define USAGE_TEXT_UNSURE (-EAGAIN)
int text_count(const char *t, const struct json_locate_pos *pos, int64_t *v);
int text_plain_str(const char *t, const struct json_locate_pos *pos, const char **s, size_t *n);
int text_str_flag(const char *t, const struct json_locate_pos *pos, const char *const *standard,
		  int flag);
static inline int text_is_object(const char *t, const struct json_locate_pos *pos)
{
	return pos->value != JSON_LOCATE_NONE && t[pos->value] == '{';
}

/* The members below the root an adapter's usage_text() reads: KEYS[k] (N of them) is a member
 * of the object located for entry PARENTS[k] (an earlier one) of usage_body_keys ++ KEYS. */
struct usage_text_shape {
	const char *const *keys;
	const int *parents;
	size_t n;
};

/* "error": {"type": ..., "code": ...} or {"type":"error","code":...}: the best name. */
const char *error_kind(const cJSON *e, const char *fallback);

#endif
