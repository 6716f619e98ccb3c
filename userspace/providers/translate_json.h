/*
 * translate_json: JSON read and written as text, without a tree, for the stream translator
 * (translate_stream.c), which handles one small event per upstream chunk: building and
 * printing a cJSON tree for each cost it ~2 us an event.
 *
 * Reading: translate_json_scan() checks an event's data with cJSON's own grammar (what
 * translate_parse_object() accepts, quirks included: any byte up to 0x20 is whitespace, a
 * leading byte order mark is skipped, numbers are what strtod() makes of [0-9+-eE.], an
 * invalid \u escape is U+0000, lone surrogates are refused, nesting stops at
 * CJSON_NESTING_LIMIT) and picks out the members a table of fields names, the first of each
 * name as cJSON_GetObjectItemCaseSensitive() finds it. Strings stay as their text between
 * the quotes; they are decoded only when compared, copied or written.
 *
 * Writing: translate_json_put_*() append to a translate_buf exactly what cJSON_Print*()
 * writes for the same value: strings decoded as cJSON decodes them (cut at the first U+0000)
 * and escaped as cJSON escapes them (", \, \b \f \n \r \t, other control characters as
 * \u00xx, everything else, invalid UTF-8 and U+2028/2029 included, as it is); numbers as
 * cJSON prints them.
 *
 * A stream's events start alike: struct tj_prefix keeps what the last event's scan went
 * through before its first structured member, so the next scan starts after it.
 *
 * Allocations: translate_json_dup()'s string (the caller's), the output buffer's growth, a
 * prefix's text when it grows (struct tj_prefix's, freed with translate_json_prefix_free()),
 * and a number longer than 63 bytes while it is read.
 */
#ifndef AIGW_PROVIDERS_TRANSLATE_JSON_H
#define AIGW_PROVIDERS_TRANSLATE_JSON_H

#include <stddef.h>

#include "providers/translate.h"

enum tj_type { TJ_NONE, TJ_NULL, TJ_FALSE, TJ_TRUE, TJ_NUMBER, TJ_STRING, TJ_ARRAY, TJ_OBJECT };

/* One value of the scanned text. */
struct tj_val {
	unsigned char type;  /* enum tj_type; TJ_NONE: the member is absent */
	unsigned char plain; /* string: no escape and no control character (its text is it) */
	const char *p;	     /* string: its text between the quotes; array, object: its bracket */
	size_t len;	     /* bytes of that text (array, object: up to the closing bracket) */
	size_t count;	     /* array, object: elements or members */
	double num;	     /* number: cJSON's valuedouble */
};

/* A member to pick out of an object: KEY, the slot of VALS its value goes to, SUB the members
 * to pick out of that value when it is an object, and ELEM those to pick out of its first
 * element when it is an array whose first element is an object (NULL: none). Tables end with
 * a NULL key. */
struct tj_field {
	const char *key;
	int slot;
	const struct tj_field *sub;
	const struct tj_field *elem;
};

#define TJ_PREFIX_SLOTS 32 /* slots a prefix keeps; scans with more keep none */

/* What scanning one event of a stream leaves for the next: events of one stream start alike
 * (the "id", "object", "created" and "model" of every OpenAI chunk), and text already scanned
 * in the same state need not be scanned again. Zero it before use; the owner frees it with
 * translate_json_prefix_free(). */
struct tj_prefix {
	char *text; /* the last event's text before its first member with members to pick */
	size_t len, cap;
	int kept; /* this scan has kept its prefix (or found none worth keeping) */
	struct tj_val vals[TJ_PREFIX_SLOTS]; /* the slots filled by then */
	size_t off[TJ_PREFIX_SLOTS];	     /* their text's offsets in TEXT */
};

/*
 * Scans IN (LEN bytes), which must be one JSON object and nothing after it but spaces, tabs,
 * CRs and LFs, as translate_parse_object() would. Fills VALS (N slots, cleared first) with
 * the FIELDS found. Returns 0, or -EBADMSG when cJSON would not have accepted the text.
 * C (may be NULL): when IN starts with the text the last scan kept, the scan starts after it
 * with the slots that text filled (the scan is left to right and nothing in it looks past a
 * member, so it reaches that point in the same state); otherwise C keeps this text's prefix.
 */
int translate_json_scan(struct tj_prefix *c, const char *in, size_t len,
			const struct tj_field *fields, struct tj_val *vals, size_t n);
void translate_json_prefix_free(struct tj_prefix *c);

/* The children of an array or object value V (scanned already), one by one, as
 * cJSON_ArrayForEach() goes through them. */
struct tj_iter {
	const char *p, *end; /* the children not gone through yet; END is the closing bracket */
	int object;	     /* members (key: value), not elements */
};
void translate_json_iter(struct tj_iter *it, const struct tj_val *v);
/* The next child: 1, with VALS (N slots) cleared and filled from FIELDS when it is an object,
 * and *RET the child itself; 0 when there is none left. */
int translate_json_next(struct tj_iter *it, const struct tj_field *fields, struct tj_val *vals,
			size_t n, struct tj_val *ret);

/* Whether V is a string whose decoded value is S (translate_json_is(v, ""): an empty one). */
int translate_json_is(const struct tj_val *v, const char *s);
/* V's decoded value into BUF (CAP bytes, NUL-terminated), cut to fit; returns BUF, or NULL
 * when V is not a string. *RET_CUT (may be NULL): it was cut. */
const char *translate_json_copy(const struct tj_val *v, char *buf, size_t cap, int *ret_cut);
/* V's decoded value in a new string (the caller frees), or NULL when V is not a string or out
 * of memory (errno ENOMEM). */
char *translate_json_dup(const struct tj_val *v);
/* The same, whole: an escaped U+0000 is a NUL byte of it, not its end; *RET_LEN its bytes. For
 * what must reach the app whole (an upstream's error message). */
char *translate_json_dup_whole(const struct tj_val *v, size_t *ret_len);

/* Appends string V (a TJ_STRING), or the C string S, as a JSON string. */
int translate_json_put_str(struct translate_buf *b, const struct tj_val *v);
int translate_json_put_cstr(struct translate_buf *b, const char *s);
/* Appends the N bytes S as a JSON string, a NUL among them as \u0000. */
int translate_json_put_bytes(struct translate_buf *b, const char *s, size_t n);
/* Appends the number D as cJSON prints it. */
int translate_json_put_num(struct translate_buf *b, double d);

#endif
