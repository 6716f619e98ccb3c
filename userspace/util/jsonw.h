/*
 * jsonw: an audit record written straight into one growing buffer, key by key. Records are
 * flat objects of strings, numbers, booleans and nulls; building them as cJSON trees cost a
 * hundred allocations per request, freed on another thread.
 *
 * Ownership: jsonw_new() returns a writer the caller ends with jsonw_finish() (which hands
 * over the text) or jsonw_free(). Keys are the caller's constants; values are escaped.
 */
#ifndef AIGW_JSONW_H
#define AIGW_JSONW_H

#include <stddef.h>

struct jsonw {
	char *buf; /* "{" + members, no closing brace until jsonw_finish() */
	size_t len, cap;
	int oom; /* an allocation failed: jsonw_finish() returns NULL */
};

struct jsonw *jsonw_new(void);
void jsonw_str(struct jsonw *w, const char *key, const char *val); /* NULL: null */
void jsonw_strn(struct jsonw *w, const char *key, const char *val, size_t len);
void jsonw_num(struct jsonw *w, const char *key, double val); /* integral: no decimals */
void jsonw_bool(struct jsonw *w, const char *key, int val);
void jsonw_null(struct jsonw *w, const char *key);
/* RAW (LEN bytes) must be valid JSON text already: it is written as the value. */
void jsonw_raw(struct jsonw *w, const char *key, const char *raw, size_t len);

/* MEMBERS (LEN bytes) must be members of an object already ("k":v,...; from another writer's
 * text without its braces): they are written after W's, as they are. */
void jsonw_members(struct jsonw *w, const char *members, size_t len);

/* Closes the object and frees W; returns the text ("{...}", NUL-terminated, *RET_LEN bytes)
 * for the caller to free, or NULL when out of memory. */
char *jsonw_finish(struct jsonw *w, size_t *ret_len);
void jsonw_free(struct jsonw *w);

#endif
